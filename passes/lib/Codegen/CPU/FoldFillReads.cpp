//===- FoldFillReads.cpp - Reads of filled tensors as broadcasts *- C++ -*-===//
//
// Part of xfc. Implements xf-fold-fill-reads (see Passes.td).
//
//===----------------------------------------------------------------------===//
#include "xf/Codegen/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFFOLDFILLREADS
#include "xf/Codegen/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;

namespace {

/// transfer_read(fill(v)) or transfer_read(extract_slice(fill(v))), in
/// bounds and unmasked: every element read is v.
struct FoldReadOfFill : public OpRewritePattern<vector::TransferReadOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(vector::TransferReadOp read,
                                PatternRewriter &rewriter) const override {
    if (read.getMask() || !isa<RankedTensorType>(read.getBase().getType()) ||
        llvm::is_contained(read.getInBoundsValues(), false))
      return failure();
    Value source = read.getBase();
    while (auto slice = source.getDefiningOp<tensor::ExtractSliceOp>())
      source = slice.getSource();
    auto fill = source.getDefiningOp<linalg::FillOp>();
    if (!fill)
      return failure();
    Value value = fill.getInputs().front();
    if (value.getType() != read.getVectorType().getElementType())
      return failure();
    rewriter.replaceOpWithNewOp<vector::BroadcastOp>(read, read.getVectorType(),
                                                     value);
    return success();
  }
};

struct XFFoldFillReadsPass
    : public xf::impl::XFFoldFillReadsBase<XFFoldFillReadsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FoldReadOfFill>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
