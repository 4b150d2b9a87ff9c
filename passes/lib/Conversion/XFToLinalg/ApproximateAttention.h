//===- ApproximateAttention.h - Attention that is not a mask ----*- C++ -*-===//
//
// Part of xfc. Private to convert-xf-to-linalg: the lowerings of the
// attention families that compute something other than softmax attention
// under a mask (linear attention, Performer, Linformer, LSH attention;
// docs/attention-patterns.md). Each family has its own file; this header
// is the one entry point the attention pattern dispatches to.
//
//===----------------------------------------------------------------------===//
#ifndef XF_CONVERSION_XFTOLINALG_APPROXIMATEATTENTION_H
#define XF_CONVERSION_XFTOLINALG_APPROXIMATEATTENTION_H

#include "mlir/Support/LLVM.h"

namespace mlir {
class PatternRewriter;
class Value;
namespace xf {
class AttentionOp;
struct PatternPart;

/// Builds `op` computed as the family `part` says and returns its result,
/// `[B, Sq, H*Dv]`; fails with an error on the op when the family cannot
/// compute this op.
FailureOr<Value> buildApproximateAttention(PatternRewriter &rewriter,
                                           AttentionOp op,
                                           const PatternPart &part);

} // namespace xf
} // namespace mlir

#endif // XF_CONVERSION_XFTOLINALG_APPROXIMATEATTENTION_H
