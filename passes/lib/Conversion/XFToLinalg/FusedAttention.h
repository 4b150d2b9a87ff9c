//===- FusedAttention.h - The fused attention lowering ----------*- C++ -*-===//
//
// Part of xfc. Private to convert-xf-to-linalg: the lowering of an
// `xf.attention` op marked by xf-fuse-attention into the tiled
// FlashAttention kernel (FusedAttention.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef XF_CONVERSION_XFTOLINALG_FUSEDATTENTION_H
#define XF_CONVERSION_XFTOLINALG_FUSEDATTENTION_H

#include "xf/Conversion/Passes.h"
#include "xf/Transforms/Passes.h"

namespace mlir {
class PatternRewriter;
class Value;
namespace xf {
class AttentionOp;

/// Builds the fused kernel computing `op` with the tiles of `config` and
/// returns its result, `[B, Sq, H*Dv]`. `fault` injects the same deliberate
/// mistakes as the unfused lowering (mutation tests).
Value buildFusedAttention(PatternRewriter &rewriter, AttentionOp op,
                          const AttentionKernelConfig &config,
                          AttentionTestFault fault);

} // namespace xf
} // namespace mlir

#endif // XF_CONVERSION_XFTOLINALG_FUSEDATTENTION_H
