//===- LinformerProjection.cpp - Linformer's E K and F V --------*- C++ -*-===//
//
// Part of xfc. Lowers `xf.linformer_projection` (Linformer, 2006.04768:
// `K' = E K`, `V' = F V` along the sequence) to linalg on tensors:
//
//   1. with key lengths, one element-wise select that zeroes the padded rows
//      of the input (a select, not a multiply by 0, so whatever a padded row
//      holds, NaN included, never reaches the projection);
//   2. per batch item, one contraction over the n positions:
//      `out[r, c] = sum_j P[r, j] x[j, c]` for a matrix shared by the heads
//      (a plain matmul over all H*D columns, with x packed into column
//      panels first when H*D allows), or
//      `out[r, h, e] = sum_j P[h, r, j] x[j, h, e]` with one matrix per head
//      (a matmul batched over h).
//
// Both contractions have the output's and x's columns innermost, so
// xf-cpu-tile-and-vectorize gives them the register-tiled GEMM kernel. The
// batch items are separate ops (B is small and static) so each contraction
// has exactly one m, n and k loop, the form that kernel matches.
//
//===----------------------------------------------------------------------===//
#include "LinformerProjection.h"

#include "xf/Dialect/XF/XFOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::xf;

namespace {

using utils::IteratorType;

/// Width of the column panels a shared projection packs its input into:
/// the register tile's nr with AVX2 (3 vectors of 8), which divides the
/// usual model widths (768, 1024, ...); other widths run unpacked.
constexpr int64_t kPanel = 24;

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// A zero-filled f32 tensor of `shape`.
Value zeros(OpBuilder &b, Location loc, ArrayRef<int64_t> shape) {
  Type f32 = b.getF32Type();
  Value init = tensor::EmptyOp::create(b, loc, shape, f32);
  Value zero = arith::ConstantOp::create(b, loc, f32, b.getF32FloatAttr(0.0));
  return linalg::FillOp::create(b, loc, zero, init).getResult(0);
}

/// `x[b, j, c]`, or 0 where `j >= lengths[b]`.
Value zeroPaddedRows(OpBuilder &b, Location loc, Value x, Value lengths) {
  MLIRContext *ctx = b.getContext();
  ArrayRef<int64_t> shape = shapeOf(x);
  SmallVector<AffineMap> maps{
      AffineMap::getMultiDimIdentityMap(3, ctx),
      AffineMap::get(3, 0, getAffineDimExpr(0, ctx), ctx),
      AffineMap::getMultiDimIdentityMap(3, ctx)};
  Value init = tensor::EmptyOp::create(b, loc, shape, b.getF32Type());
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{x, lengths}, init, maps,
             SmallVector<IteratorType>(3, IteratorType::parallel),
             [](OpBuilder &nb, Location l, ValueRange args) {
               Value j = linalg::IndexOp::create(nb, l, 1);
               Value length = arith::IndexCastOp::create(
                   nb, l, nb.getIndexType(), args[1]);
               Value inside = arith::CmpIOp::create(
                   nb, l, arith::CmpIPredicate::ult, j, length);
               Value zero = arith::ConstantOp::create(
                   nb, l, nb.getF32Type(), nb.getF32FloatAttr(0.0));
               linalg::YieldOp::create(
                   nb, l,
                   arith::SelectOp::create(nb, l, inside, args[0], zero)
                       .getResult());
             })
      .getResult(0);
}

/// `acc + a * b`, reassociable: the reduction over j may be split into
/// vector partial sums like any BLAS dot product.
void multiplyAdd(OpBuilder &b, Location l, ValueRange args) {
  auto flags = arith::FastMathFlagsAttr::get(
      b.getContext(),
      arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
  Value mul = arith::MulFOp::create(b, l, args[0], args[1], flags);
  linalg::YieldOp::create(
      b, l, arith::AddFOp::create(b, l, args[2], mul, flags).getResult());
}

struct LowerLinformerProjection
    : public OpRewritePattern<LinformerProjectionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinformerProjectionOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    Value x = op.getInput();
    Value projection = op.getProjection();
    ArrayRef<int64_t> xShape = shapeOf(x);
    ArrayRef<int64_t> pShape = shapeOf(projection);
    int64_t batch = xShape[0], n = xShape[1], width = xShape[2];
    int64_t k = pShape[pShape.size() - 2];
    int64_t heads = op.getNumHeads(), headDim = width / heads;
    bool perHead = pShape.size() == 3;
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };

    if (Value lengths = op.getKeyLengths())
      x = zeroPaddedRows(rewriter, loc, x, lengths);

    Value result = tensor::EmptyOp::create(rewriter, loc,
                                           ArrayRef<int64_t>{batch, k, width},
                                           rewriter.getF32Type());
    SmallVector<OpFoldResult> strides(3, rewriter.getIndexAttr(1));
    for (int64_t b = 0; b < batch; ++b) {
      // x[b] as [n, H*D] (rank-reduced slice).
      SmallVector<OpFoldResult> offsets{rewriter.getIndexAttr(b),
                                        rewriter.getIndexAttr(0),
                                        rewriter.getIndexAttr(0)};
      SmallVector<OpFoldResult> inSizes{rewriter.getIndexAttr(1),
                                        rewriter.getIndexAttr(n),
                                        rewriter.getIndexAttr(width)};
      auto rowsType = RankedTensorType::get({n, width}, rewriter.getF32Type());
      Value rows = tensor::ExtractSliceOp::create(rewriter, loc, rowsType, x,
                                                  offsets, inSizes, strides);
      Value projected;
      if (!perHead && width % kPanel == 0) {
        // x[b] packed into column panels [C/p, n, p] (one copy of n x C,
        // against 2 k n C FLOPs): the register tile then reads p
        // contiguous floats per position, as from a packed weight, instead
        // of a row n apart each step (measured 5x slower at n = 1024, C =
        // 768). out[r, jo, ji] = sum_j P[r, j] xp[jo, j, ji] over
        // (r, jo, j, ji), as lowerPacked does for xf.linear.
        int64_t panels = width / kPanel;
        Value split = tensor::ExpandShapeOp::create(
            rewriter, loc,
            RankedTensorType::get({n, panels, kPanel}, rewriter.getF32Type()),
            rows, SmallVector<ReassociationIndices>{{0}, {1, 2}});
        Value packed =
            linalg::TransposeOp::create(
                rewriter, loc, split,
                tensor::EmptyOp::create(rewriter, loc,
                                        ArrayRef<int64_t>{panels, n, kPanel},
                                        rewriter.getF32Type()),
                ArrayRef<int64_t>{1, 0, 2})
                .getResult()[0];
        Value panelOut =
            linalg::GenericOp::create(
                rewriter, loc,
                RankedTensorType::get({k, panels, kPanel},
                                      rewriter.getF32Type()),
                ValueRange{projection, packed},
                zeros(rewriter, loc, {k, panels, kPanel}),
                {AffineMap::get(4, 0, {d(0), d(2)}, ctx),
                 AffineMap::get(4, 0, {d(1), d(2), d(3)}, ctx),
                 AffineMap::get(4, 0, {d(0), d(1), d(3)}, ctx)},
                {IteratorType::parallel, IteratorType::parallel,
                 IteratorType::reduction, IteratorType::parallel},
                multiplyAdd)
                .getResult(0);
        projected = tensor::CollapseShapeOp::create(
            rewriter, loc, panelOut,
            SmallVector<ReassociationIndices>{{0}, {1, 2}});
      } else if (!perHead) {
        // out[r, c] = sum_j P[r, j] x[j, c] over (r, c, j).
        projected =
            linalg::GenericOp::create(
                rewriter, loc, RankedTensorType::get({k, width},
                                                     rewriter.getF32Type()),
                ValueRange{projection, rows}, zeros(rewriter, loc, {k, width}),
                {AffineMap::get(3, 0, {d(0), d(2)}, ctx),
                 AffineMap::get(3, 0, {d(2), d(1)}, ctx),
                 AffineMap::get(3, 0, {d(0), d(1)}, ctx)},
                {IteratorType::parallel, IteratorType::parallel,
                 IteratorType::reduction},
                multiplyAdd)
                .getResult(0);
      } else {
        // out[r, h, e] = sum_j P[h, r, j] x[j, h, e] over (h, r, e, j).
        auto headsType = RankedTensorType::get({n, heads, headDim},
                                               rewriter.getF32Type());
        Value split = tensor::ExpandShapeOp::create(
            rewriter, loc, headsType, rows,
            SmallVector<ReassociationIndices>{{0}, {1, 2}});
        Value perHeadOut =
            linalg::GenericOp::create(
                rewriter, loc,
                RankedTensorType::get({k, heads, headDim},
                                      rewriter.getF32Type()),
                ValueRange{projection, split},
                zeros(rewriter, loc, {k, heads, headDim}),
                {AffineMap::get(4, 0, {d(0), d(1), d(3)}, ctx),
                 AffineMap::get(4, 0, {d(3), d(0), d(2)}, ctx),
                 AffineMap::get(4, 0, {d(1), d(0), d(2)}, ctx)},
                {IteratorType::parallel, IteratorType::parallel,
                 IteratorType::parallel, IteratorType::reduction},
                multiplyAdd)
                .getResult(0);
        projected = tensor::CollapseShapeOp::create(
            rewriter, loc, perHeadOut,
            SmallVector<ReassociationIndices>{{0}, {1, 2}});
      }
      SmallVector<OpFoldResult> outSizes{rewriter.getIndexAttr(1),
                                         rewriter.getIndexAttr(k),
                                         rewriter.getIndexAttr(width)};
      result = tensor::InsertSliceOp::create(rewriter, loc, projected, result,
                                             offsets, outSizes, strides);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::xf::populateLinformerProjectionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerLinformerProjection>(patterns.getContext());
}
