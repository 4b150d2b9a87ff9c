//===- ApproximateAttention.cpp - Attention that is not a mask -*- C++ -*-===//
//
// Part of xfc. See ApproximateAttention.h: the dispatch from a non-mask
// pattern to its family's lowering.
//
//===----------------------------------------------------------------------===//
#include "ApproximateAttention.h"
#include "LinearAttention.h"
#include "LshAttention.h"

#include "xf/Analysis/AttentionPattern.h"
#include "xf/Dialect/XF/XFOps.h"

#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::xf;

FailureOr<Value> mlir::xf::buildApproximateAttention(PatternRewriter &rewriter,
                                                     AttentionOp op,
                                                     const PatternPart &part) {
  (void)rewriter;
  switch (part.kind) {
  case PatternPart::Kind::Linformer:
    // Linformer's E and F are weights: the frontend (or whoever builds the
    // IR) projects the keys and values with xf.linformer_projection and
    // attends densely over the k projected rows, so the projection is a
    // kernel the compiler plans and the attention is the ordinary fused one.
    return op.emitOpError()
           << "has the linformer pattern \"" << part.describe()
           << "\": xf.attention cannot apply it itself (it has no E and F); "
              "project the keys and values with xf.linformer_projection and "
              "attend over the projections without the pattern, as the "
              "model builder does";
  case PatternPart::Kind::Linear:
  case PatternPart::Kind::Performer:
    return buildLinearAttention(rewriter, op, part);
  case PatternPart::Kind::Lsh:
    return buildLshAttention(rewriter, op, part);
  default:
    return op.emitOpError()
           << "has attention family '" << part.name()
           << "', which this build of xfc cannot lower";
  }
}
