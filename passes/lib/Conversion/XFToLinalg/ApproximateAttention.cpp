//===- ApproximateAttention.cpp - Attention that is not a mask -*- C++ -*-===//
//
// Part of xfc. See ApproximateAttention.h: the dispatch from a non-mask
// pattern to its family's lowering.
//
//===----------------------------------------------------------------------===//
#include "ApproximateAttention.h"
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
  case PatternPart::Kind::Lsh:
    return buildLshAttention(rewriter, op, part);
  case PatternPart::Kind::Linear:
  case PatternPart::Kind::Performer:
  case PatternPart::Kind::Linformer:
  default:
    return op.emitOpError()
           << "has attention family '" << part.name()
           << "', which this build of xfc cannot lower";
  }
}
