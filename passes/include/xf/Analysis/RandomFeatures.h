//===- RandomFeatures.h - Performer's random projection ---------*- C++ -*-===//
//
// Part of xfc. The random feature matrix W of Performer FAVOR+ (arXiv
// 2009.14794), drawn at compile time from the pattern's seed by the fully
// specified generator of docs/attention-patterns.md ("Performer's random
// features"): SplitMix64, Box-Muller, blocks orthogonalized by modified
// Gram-Schmidt, row norms redrawn from chi(d). Everything is computed in
// double with a fixed operation order and rounded to float at the end, so
// tests/e2e/golden/attention_families/make_linear_goldens.py reproduces the
// matrix bit for bit.
//
// Plain C++ (no MLIR), like AttentionPattern.
//
//===----------------------------------------------------------------------===//
#ifndef XF_ANALYSIS_RANDOMFEATURES_H
#define XF_ANALYSIS_RANDOMFEATURES_H

#include <cstdint>
#include <vector>

namespace mlir::xf {

/// W, `features` x `headDim`, row-major: row r is the projection w_r of
/// feature r. Rows come in blocks of `headDim` mutually orthogonal rows
/// (the last block has `features mod headDim` rows when that is not 0);
/// each row's norm is an independent chi(headDim) draw.
std::vector<float> performerFeatureMatrix(int64_t features, int64_t headDim,
                                          uint64_t seed);

/// The chunk length of the kernelized attention kernel (linear attention
/// and Performer) for `features` features per position, before clamping to
/// the sequence length: 64, halved while a chunk's feature tile (chunk x
/// features floats) exceeds 64 KiB, the stack budget of a per-thread
/// temporary; at least 8. Shared by the lowering and its FLOP count.
int64_t kernelizedAttentionChunk(int64_t features);

} // namespace mlir::xf

#endif // XF_ANALYSIS_RANDOMFEATURES_H
