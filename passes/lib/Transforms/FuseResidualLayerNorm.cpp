//===- FuseResidualLayerNorm.cpp - Residual adds into LayerNorm -*- C++ -*-===//
//
// Part of xfc. Implements xf-fuse-residual-layernorm. A residual connection
// is an add followed by a LayerNorm (post-LN: `LN(x + f(x))`; pre-LN: the
// sum also continues as the residual stream, `s = x + f(x)`, `LN(s)` feeds
// the next sub-layer and `s` the next add). Unfused, the sum is written to
// memory and read back twice (mean, then variance) before it is
// normalized; the fused op computes it row by row and normalizes the row
// while it is in cache. In the pre-LN case the fused op also returns the
// sum, which replaces the add for its other users.
//
//===----------------------------------------------------------------------===//
#include "xf/Dialect/XF/NodeNames.h"
#include "xf/Dialect/XF/XFOps.h"
#include "xf/Transforms/FusionCandidates.h"
#include "xf/Transforms/Passes.h"

#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFFUSERESIDUALLAYERNORM
#include "xf/Transforms/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;
using namespace mlir::xf;

namespace {

struct XFFuseResidualLayerNormPass
    : public xf::impl::XFFuseResidualLayerNormBase<
          XFFuseResidualLayerNormPass> {
  void runOnOperation() override {
    SmallVector<LayerNormOp> norms;
    getOperation()->walk([&](LayerNormOp op) {
      if (!op.getResidual() && op.getInput().getDefiningOp<AddOp>())
        norms.push_back(op);
    });
    DominanceInfo dominance(getOperation());
    FusionPlanFilter plan(getOperation());
    IRRewriter rewriter(&getContext());
    for (LayerNormOp norm : norms)
      fuse(rewriter, dominance, plan, norm);
  }

  /// Replaces `norm` (whose input is an xf.add) by a layer_norm with a
  /// residual, returning the sum too when the add has other users.
  void fuse(IRRewriter &rewriter, DominanceInfo &dominance,
            const FusionPlanFilter &plan, LayerNormOp norm) {
    auto add = norm.getInput().getDefiningOp<AddOp>();
    SmallVector<OpOperand *> otherUses;
    for (OpOperand &use : add.getResult().getUses())
      if (use.getOwner() != norm.getOperation())
        otherUses.push_back(&use);

    Operation *insertionPoint =
        residualLayerNormInsertionPoint(norm, add, dominance);
    if (!insertionPoint || !plan.allows(FusionKind::ResidualLayerNorm,
                                        {add.getLoc(), norm.getLoc()}))
      return;

    rewriter.setInsertionPoint(insertionPoint);
    Type sumType = otherUses.empty() ? Type() : add.getResult().getType();
    auto fused = LayerNormOp::create(
        rewriter,
        fusedNodeLoc(rewriter.getContext(), {add.getLoc(), norm.getLoc()}),
        norm.getResult().getType(), sumType, add.getLhs(), norm.getGamma(),
        norm.getBeta(), add.getRhs(), norm.getEpsilonAttr());
    rewriter.replaceAllUsesWith(norm.getResult(), fused.getResult());
    rewriter.eraseOp(norm);
    if (otherUses.empty())
      rewriter.eraseOp(add);
    else
      rewriter.replaceOp(add, fused.getSum());
  }
};

} // namespace
