//===- DecomposeModelOps.cpp - Model ops to fine-grained ops ----*- C++ -*-===//
//
// Part of xfc. Implements xf-decompose-model-ops: multi-head attention and
// feed-forward blocks become linears around an attention core or an
// activation. The rewrite is exact (same math, same order of operations),
// so it never changes numerics.
//
//===----------------------------------------------------------------------===//
#include "xf/Dialect/XF/NodeNames.h"
#include "xf/Dialect/XF/XFOps.h"
#include "xf/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFDECOMPOSEMODELOPS
#include "xf/Transforms/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;
using namespace mlir::xf;

namespace {

/// Builds `input W^T + b` as an xf.linear whose result has `input`'s shape
/// with the last dimension replaced by the weight's output features.
Value buildLinear(PatternRewriter &rewriter, Location loc, Value input,
                  Value weight, Value bias) {
  auto inputType = cast<RankedTensorType>(input.getType());
  auto weightType = cast<RankedTensorType>(weight.getType());
  SmallVector<int64_t> shape(inputType.getShape());
  shape.back() = weightType.getShape()[0];
  auto resultType = RankedTensorType::get(shape, inputType.getElementType());
  return LinearOp::create(rewriter, loc, resultType, input, weight, bias,
                          /*transpose_weight=*/false);
}

struct DecomposeMultiHeadAttention
    : public OpRewritePattern<MultiHeadAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MultiHeadAttentionOp op,
                                PatternRewriter &rewriter) const override {
    // Each part is a spec node of its own ("<attn>.q", ...), named like
    // its weights, so it can be fused, reported and profiled by name.
    Location loc = op.getLoc();
    Value q = buildLinear(rewriter, childNodeLoc(loc, "q"), op.getQuery(),
                          op.getQWeight(), op.getQBias());
    Value k = buildLinear(rewriter, childNodeLoc(loc, "k"), op.getKeyValue(),
                          op.getKWeight(), op.getKBias());
    Value v = buildLinear(rewriter, childNodeLoc(loc, "v"), op.getKeyValue(),
                          op.getVWeight(), op.getVBias());
    Value attended =
        AttentionOp::create(rewriter, childNodeLoc(loc, "core"), q.getType(), q,
                            k, v, op.getKeyLengths(), op.getNumHeadsAttr(),
                            rewriter.getF64FloatAttr(op.getEffectiveScale()),
                            op.getCausalAttr(), op.getPatternAttr());
    rewriter.replaceOp(op,
                       buildLinear(rewriter, childNodeLoc(loc, "out"), attended,
                                   op.getOutWeight(), op.getOutBias()));
    return success();
  }
};

struct DecomposeFeedForward : public OpRewritePattern<FeedForwardOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(FeedForwardOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value hidden =
        buildLinear(rewriter, childNodeLoc(loc, "fc1"), op.getInput(),
                    op.getFc1Weight(), op.getFc1Bias());
    Value activated =
        ActivationOp::create(rewriter, childNodeLoc(loc, "act"),
                             hidden.getType(), op.getActivationAttr(), hidden);
    rewriter.replaceOp(op, buildLinear(rewriter, childNodeLoc(loc, "fc2"),
                                       activated, op.getFc2Weight(),
                                       op.getFc2Bias()));
    return success();
  }
};

struct XFDecomposeModelOpsPass
    : public xf::impl::XFDecomposeModelOpsBase<XFDecomposeModelOpsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeMultiHeadAttention, DecomposeFeedForward>(
        &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
