//===- LinearAttention.h - Linear attention and Performer -------*- C++ -*-===//
//
// Part of xfc. Private to convert-xf-to-linalg: the lowering of the
// kernelized attention families `linear` and `performer`
// (LinearAttention.cpp), called from ApproximateAttention.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef XF_CONVERSION_XFTOLINALG_LINEARATTENTION_H
#define XF_CONVERSION_XFTOLINALG_LINEARATTENTION_H

#include "mlir/Support/LLVM.h"

namespace mlir {
class PatternRewriter;
class Value;
namespace xf {
class AttentionOp;
struct PatternPart;

/// Builds `op` as linear attention (phi = elu + 1) or Performer FAVOR+,
/// as `part` says, with chunked prefix sums when it is causal; returns the
/// `[B, Sq, H*Dv]` result, or fails with an error on the op.
FailureOr<Value> buildLinearAttention(PatternRewriter &rewriter, AttentionOp op,
                                      const PatternPart &part);

} // namespace xf
} // namespace mlir

#endif // XF_CONVERSION_XFTOLINALG_LINEARATTENTION_H
