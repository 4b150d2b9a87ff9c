//===- FuseEpilogue.cpp - Activations and residuals into linears -*- C++
//-*-===//
//
// Part of xfc. Implements xf-fuse-epilogue. After decomposition a linear is
// often followed by an activation (the first linear of a feed-forward
// block) or by a residual add (the output projections). Computed as
// separate ops, each reads and writes the whole [rows, N] output again;
// folded into the linear, the lowering applies them in one element-wise
// step right after the contraction, which the tiling pass fuses into the
// GEMM's output loop. The rewrite keeps the order of operations
// (`act(x W^T + b) + r`), so the numbers do not change.
//
//===----------------------------------------------------------------------===//
#include "xf/Dialect/XF/NodeNames.h"
#include "xf/Dialect/XF/XFOps.h"
#include "xf/Transforms/FusionCandidates.h"
#include "xf/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFFUSEEPILOGUE
#include "xf/Transforms/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;
using namespace mlir::xf;

namespace {

/// The linear producing `value` if `value` is its only use's operand: the
/// linear's result can then be replaced by the fused one.
LinearOp singleUseLinear(Value value) {
  auto linear = value.getDefiningOp<LinearOp>();
  if (!linear || !linear.getResult().hasOneUse())
    return nullptr;
  return linear;
}

/// A copy of `linear` at the rewriter's insertion point with the epilogue
/// given. The fused op is created at the position of the op it absorbs, so
/// a residual defined between the linear and the add still dominates it
/// (the linear's own operands dominate that position too).
LinearOp cloneWithEpilogue(PatternRewriter &rewriter, LinearOp linear,
                           Operation *absorbed, Value residual,
                           ActivationKindAttr activation) {
  Location loc = fusedNodeLoc(rewriter.getContext(),
                              {linear.getLoc(), absorbed->getLoc()});
  return LinearOp::create(
      rewriter, loc, linear.getResult().getType(), linear.getInput(),
      linear.getWeight(), linear.getBias(), residual,
      linear.getTransposeWeightAttr(), activation, linear.getWeightPanelAttr());
}

/// activation(linear(x)) -> linear(x) {activation}.
struct FoldActivation : public OpRewritePattern<ActivationOp> {
  FoldActivation(MLIRContext *context, const FusionPlanFilter &plan)
      : OpRewritePattern(context), plan(plan) {}
  const FusionPlanFilter &plan;
  LogicalResult matchAndRewrite(ActivationOp op,
                                PatternRewriter &rewriter) const override {
    LinearOp linear = singleUseLinear(op.getInput());
    // An activation after a residual would be act(y + r), which the
    // epilogue (act first, then + r) does not express.
    if (!linear || linear.getActivation() || linear.getResidual())
      return rewriter.notifyMatchFailure(op, "input is not a plain linear");
    if (!plan.allows(FusionKind::Epilogue, {linear.getLoc(), op.getLoc()}))
      return rewriter.notifyMatchFailure(op, "the fusion plan keeps it apart");
    LinearOp fused =
        cloneWithEpilogue(rewriter, linear, op, Value(), op.getKindAttr());
    rewriter.replaceOp(op, fused.getResult());
    rewriter.eraseOp(linear);
    return success();
  }
};

/// add(linear(x), r) -> linear(x) residual(r), either operand order.
struct FoldResidual : public OpRewritePattern<AddOp> {
  FoldResidual(MLIRContext *context, const FusionPlanFilter &plan)
      : OpRewritePattern(context), plan(plan) {}
  const FusionPlanFilter &plan;
  LogicalResult matchAndRewrite(AddOp op,
                                PatternRewriter &rewriter) const override {
    for (auto [mine, other] : {std::pair{op.getLhs(), op.getRhs()},
                               std::pair{op.getRhs(), op.getLhs()}}) {
      LinearOp linear = singleUseLinear(mine);
      if (!linear || linear.getResidual() || other == mine ||
          !plan.allows(FusionKind::Epilogue, {linear.getLoc(), op.getLoc()}))
        continue;
      LinearOp fused = cloneWithEpilogue(rewriter, linear, op, other,
                                         linear.getActivationAttr());
      rewriter.replaceOp(op, fused.getResult());
      rewriter.eraseOp(linear);
      return success();
    }
    return rewriter.notifyMatchFailure(op, "no single-use linear operand");
  }
};

struct XFFuseEpiloguePass
    : public xf::impl::XFFuseEpilogueBase<XFFuseEpiloguePass> {
  void runOnOperation() override {
    // In linear -> activation -> add both fold, in either visiting order:
    // the add matches only once its operand is a linear, i.e. after the
    // activation was folded.
    RewritePatternSet patterns(&getContext());
    // The module's fusion plan, read once for every match.
    FusionPlanFilter plan(getOperation());
    patterns.add<FoldActivation, FoldResidual>(&getContext(), plan);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
