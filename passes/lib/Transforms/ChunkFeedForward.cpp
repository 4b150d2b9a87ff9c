//===- ChunkFeedForward.cpp - Feed-forward blocks in row chunks -*- C++ -*-===//
//
// Part of xfc. Implements xf-chunk-feed-forward, Reformer's chunked
// feed-forward: the block is position-wise, so it can run on a few rows at
// a time, and the [rows, d_ff] intermediate between its two linears (4x
// the activations for the usual d_ff = 4 D) shrinks to [chunk, d_ff],
// which stays in cache and bounds the peak memory at long sequences.
//
// Every shape in the pipeline is static, so the rows are split into
// `rows / chunk` full chunks, run by an scf.for, and one static remainder
// chunk after the loop when `chunk` does not divide `rows`. Each chunk is
// an xf.feed_forward on a slice, which the later passes decompose, fuse
// and lower as usual.
//
//===----------------------------------------------------------------------===//
#include "xf/Dialect/XF/XFOps.h"
#include "xf/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFCHUNKFEEDFORWARD
#include "xf/Transforms/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;
using namespace mlir::xf;

namespace {

struct XFChunkFeedForwardPass
    : public xf::impl::XFChunkFeedForwardBase<XFChunkFeedForwardPass> {
  using Base::Base;

  void runOnOperation() override {
    if (chunkSize < 0) {
      getOperation()->emitError()
          << "xf-chunk-feed-forward: chunk-size must be >= 0 (0 = off), found "
          << static_cast<int64_t>(chunkSize);
      return signalPassFailure();
    }
    if (chunkSize == 0)
      return;
    // Collected first: the chunks are feed-forward ops themselves (with
    // at most chunk-size rows, so they would not be chunked again anyway).
    SmallVector<FeedForwardOp> blocks;
    getOperation()->walk([&](FeedForwardOp op) {
      ArrayRef<int64_t> shape = op.getInput().getType().getShape();
      if (shape.size() >= 2 && numRows(shape) > chunkSize)
        blocks.push_back(op);
    });
    for (FeedForwardOp op : blocks)
      chunk(op);
  }

  static int64_t numRows(ArrayRef<int64_t> shape) {
    int64_t rows = 1;
    for (int64_t d : shape.drop_back())
      rows *= d;
    return rows;
  }

  /// The block applied to rows [offset, offset + size) of `matrix`,
  /// inserted into `into`.
  Value chunkAt(OpBuilder &b, Location loc, FeedForwardOp op, Value matrix,
                Value into, OpFoldResult offset, int64_t size) {
    int64_t width = op.getInput().getType().getShape().back();
    SmallVector<OpFoldResult> offsets{offset, b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{b.getIndexAttr(size),
                                    b.getIndexAttr(width)};
    SmallVector<OpFoldResult> strides{b.getIndexAttr(1), b.getIndexAttr(1)};
    auto type = RankedTensorType::get({size, width}, b.getF32Type());
    Value rows = tensor::ExtractSliceOp::create(b, loc, type, matrix, offsets,
                                                sizes, strides);
    Value result = FeedForwardOp::create(
        b, loc, type, op.getActivationAttr(), rows, op.getFc1Weight(),
        op.getFc1Bias(), op.getFc2Weight(), op.getFc2Bias());
    return tensor::InsertSliceOp::create(b, loc, result, into, offsets, sizes,
                                         strides);
  }

  void chunk(FeedForwardOp op) {
    OpBuilder b(op);
    Location loc = op.getLoc();
    RankedTensorType type = op.getInput().getType();
    ArrayRef<int64_t> shape = type.getShape();
    int64_t rows = numRows(shape), width = shape.back();
    auto matrixType = RankedTensorType::get({rows, width}, b.getF32Type());

    // [d0, ..., D] -> [rows, D]: the block does not care which leading
    // dimension a row came from.
    ReassociationIndices leading;
    for (int64_t i = 0; i + 1 < type.getRank(); ++i)
      leading.push_back(i);
    SmallVector<ReassociationIndices> groups{leading, {type.getRank() - 1}};
    Value matrix = op.getInput();
    if (type.getRank() != 2)
      matrix = tensor::CollapseShapeOp::create(b, loc, matrix, groups);

    Value out =
        tensor::EmptyOp::create(b, loc, matrixType.getShape(), b.getF32Type());
    int64_t full = rows / chunkSize, rest = rows % chunkSize;
    Value lb = arith::ConstantIndexOp::create(b, loc, 0);
    Value ub = arith::ConstantIndexOp::create(b, loc, full * chunkSize);
    Value step = arith::ConstantIndexOp::create(b, loc, chunkSize);
    auto loop = scf::ForOp::create(
        b, loc, lb, ub, step, ValueRange{out},
        [&](OpBuilder &nb, Location nloc, Value iv, ValueRange iterArgs) {
          Value next =
              chunkAt(nb, nloc, op, matrix, iterArgs[0], iv, chunkSize);
          scf::YieldOp::create(nb, nloc, next);
        });
    out = loop.getResult(0);
    if (rest > 0)
      out = chunkAt(b, loc, op, matrix, out, b.getIndexAttr(full * chunkSize),
                    rest);
    if (type.getRank() != 2)
      out = tensor::ExpandShapeOp::create(b, loc, type, out, groups);
    op.getResult().replaceAllUsesWith(out);
    op.erase();
  }
};

} // namespace
