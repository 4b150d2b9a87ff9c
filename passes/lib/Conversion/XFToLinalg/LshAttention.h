//===- LshAttention.h - Reformer LSH attention ------------------*- C++ -*-===//
//
// Part of xfc. Private to convert-xf-to-linalg: the lowering of the `lsh`
// attention family (Reformer, arXiv 2001.04451; docs/attention-patterns.md,
// "LSH attention").
//
//===----------------------------------------------------------------------===//
#ifndef XF_CONVERSION_XFTOLINALG_LSHATTENTION_H
#define XF_CONVERSION_XFTOLINALG_LSHATTENTION_H

#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <vector>

namespace mlir {
class PatternRewriter;
class Value;
namespace xf {
class AttentionOp;
struct PatternPart;

/// Builds `op` as LSH attention with the parameters of `part` (kind Lsh):
/// the queries hashed, sorted by (bucket, position) and chunked in the
/// generated code, `[B, Sq, H*Dv]`. The key operand is not read (shared QK:
/// the keys are the normalized queries). Fails with an error on the op when
/// the op cannot be computed this way (keys and queries of different
/// lengths, chunk tiles too large for a thread's stack).
FailureOr<Value> buildLshAttention(PatternRewriter &rewriter, AttentionOp op,
                                   const PatternPart &part);

/// The random rotations of LSH attention with `buckets` buckets, `rounds`
/// rounds and head dimension `headDim`, drawn from `seed` (SplitMix64 and
/// Box-Muller, docs/attention-patterns.md): `rounds * buckets/2` rows of
/// `headDim` floats, row `r * buckets/2 + m` being column m of round r's
/// matrix R (d x buckets/2).
std::vector<float> lshRotations(uint64_t seed, int64_t rounds, int64_t buckets,
                                int64_t headDim);

} // namespace xf
} // namespace mlir

#endif // XF_CONVERSION_XFTOLINALG_LSHATTENTION_H
