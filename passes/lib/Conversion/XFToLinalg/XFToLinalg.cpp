//===- XFToLinalg.cpp - Lower xf ops to linalg on tensors -------*- C++ -*-===//
//
// Part of xfc. Implements convert-xf-to-linalg: every fine-grained `xf` op
// becomes linalg named or generic ops on tensors (plus tensor reshapes and
// scalar arith/math in the bodies). The lowering is deliberately plain, one
// linalg op per mathematical step, so that tiling, fusion and vectorization
// passes see ordinary linalg and can do their work later in the pipeline.
//
// Numerics follow docs/spec.md: LayerNorm uses the two-pass biased
// variance; softmax subtracts the row maximum; a masked key contributes a
// true -inf logit; a query row whose keys are all masked outputs 0.
//
//===----------------------------------------------------------------------===//
#include "ApproximateAttention.h"
#include "AttentionMask.h"
#include "FusedAttention.h"
#include "LinformerProjection.h"
#include "xf/Conversion/Passes.h"
#include "xf/Dialect/XF/XFOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>
#include <functional>
#include <limits>

namespace mlir::xf {
#define GEN_PASS_DEF_CONVERTXFTOLINALG
#include "xf/Conversion/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;
using namespace mlir::xf;

namespace {

using utils::IteratorType;
using BodyBuilder = function_ref<void(OpBuilder &, Location, ValueRange)>;

//===----------------------------------------------------------------------===//
// Small builders
//===----------------------------------------------------------------------===//

Value createEmpty(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                  Type elementType) {
  return tensor::EmptyOp::create(b, loc, shape, elementType);
}

Value createFilled(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                   double value) {
  Type f32 = b.getF32Type();
  Value init = createEmpty(b, loc, shape, f32);
  Value scalar =
      arith::ConstantOp::create(b, loc, f32, b.getFloatAttr(f32, value));
  return linalg::FillOp::create(b, loc, scalar, init).getResult(0);
}

Value f32Const(OpBuilder &b, Location loc, double value) {
  return arith::ConstantOp::create(b, loc, b.getF32Type(),
                                   b.getF32FloatAttr(value));
}

Value negInf(OpBuilder &b, Location loc) {
  return f32Const(b, loc, -std::numeric_limits<double>::infinity());
}

/// One linalg.generic with a single result initialized by `init`.
Value buildGeneric(OpBuilder &b, Location loc, ValueRange inputs, Value init,
                   ArrayRef<AffineMap> maps, ArrayRef<IteratorType> iterators,
                   BodyBuilder body) {
  auto generic = linalg::GenericOp::create(b, loc, init.getType(), inputs, init,
                                           maps, iterators, body);
  return generic.getResult(0);
}

SmallVector<IteratorType> parallelIterators(unsigned n) {
  return SmallVector<IteratorType>(n, IteratorType::parallel);
}

/// Maps of an element-wise op over rank-`rank` tensors.
SmallVector<AffineMap> identityMaps(MLIRContext *ctx, unsigned rank,
                                    unsigned count) {
  return SmallVector<AffineMap>(count,
                                AffineMap::getMultiDimIdentityMap(rank, ctx));
}

/// The map (d0 .. d{rank-1}) -> (d0 .. d{rank-2}): a row of the last dim.
AffineMap dropLastDimMap(MLIRContext *ctx, unsigned rank) {
  SmallVector<AffineExpr> exprs;
  for (unsigned i = 0; i + 1 < rank; ++i)
    exprs.push_back(getAffineDimExpr(i, ctx));
  return AffineMap::get(rank, 0, exprs, ctx);
}

/// The map (d0 .. d{rank-1}) -> (d{rank-1}): a per-feature vector.
AffineMap lastDimMap(MLIRContext *ctx, unsigned rank) {
  return AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx), ctx);
}

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// Sum (or max) over the last dimension of `input`, into a tensor of the
/// leading dimensions. `combine(acc, x)` gives the new accumulator; `pre`
/// maps each element first (it may read the extra `rowInputs`, which are
/// indexed like the result).
Value reduceLastDim(
    OpBuilder &b, Location loc, Value input, ValueRange rowInputs,
    double initValue,
    function_ref<Value(OpBuilder &, Location, Value, ValueRange)> pre,
    function_ref<Value(OpBuilder &, Location, Value, Value)> combine) {
  MLIRContext *ctx = b.getContext();
  ArrayRef<int64_t> shape = shapeOf(input);
  unsigned rank = shape.size();
  Value init = createFilled(b, loc, shape.drop_back(), initValue);
  SmallVector<AffineMap> maps{AffineMap::getMultiDimIdentityMap(rank, ctx)};
  for (size_t i = 0; i < rowInputs.size(); ++i)
    maps.push_back(dropLastDimMap(ctx, rank));
  maps.push_back(dropLastDimMap(ctx, rank));
  SmallVector<IteratorType> iterators = parallelIterators(rank);
  iterators.back() = IteratorType::reduction;
  SmallVector<Value> inputs{input};
  llvm::append_range(inputs, rowInputs);
  return buildGeneric(
      b, loc, inputs, init, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value x = pre(nb, nloc, args[0], args.slice(1, rowInputs.size()));
        linalg::YieldOp::create(nb, nloc, combine(nb, nloc, args.back(), x));
      });
}

/// Reshapes the input of a linear to a matrix: [d0, ..., K] -> [M, K]
/// (all leading dimensions collapsed), and a vector [K] -> [1, K].
Value reshapeToMatrix(OpBuilder &b, Location loc, Value input) {
  ArrayRef<int64_t> shape = shapeOf(input);
  if (shape.size() == 2)
    return input;
  if (shape.size() == 1) {
    auto type = RankedTensorType::get({1, shape[0]}, b.getF32Type());
    return tensor::ExpandShapeOp::create(
        b, loc, type, input, SmallVector<ReassociationIndices>{{0, 1}});
  }
  ReassociationIndices leading;
  for (unsigned i = 0; i + 1 < shape.size(); ++i)
    leading.push_back(i);
  SmallVector<ReassociationIndices> groups{leading,
                                           {(int64_t)shape.size() - 1}};
  return tensor::CollapseShapeOp::create(b, loc, input, groups);
}

/// The inverse of reshapeToMatrix: [M, N] back to `type` ([d0, ..., N]
/// with M = d0 * ..., or [N] for M = 1).
Value reshapeFromMatrix(OpBuilder &b, Location loc, Value matrix,
                        RankedTensorType type) {
  if (type.getRank() == 2)
    return matrix;
  if (type.getRank() == 1)
    return tensor::CollapseShapeOp::create(
        b, loc, type, matrix, SmallVector<ReassociationIndices>{{0, 1}});
  ReassociationIndices leading;
  for (int64_t i = 0; i + 1 < type.getRank(); ++i)
    leading.push_back(i);
  SmallVector<ReassociationIndices> groups{leading, {type.getRank() - 1}};
  return tensor::ExpandShapeOp::create(b, loc, type, matrix, groups);
}

/// The body of a contraction, `acc + a * b`. With `reassociate`, the
/// multiply and add carry `reassoc contract`: used where the reduction is
/// the innermost loop, so LLVM may split the sum into vector partial sums
/// (and fuse FMAs), the reordering every BLAS does; the result then differs
/// from the sequential sum by rounding only.
std::function<void(OpBuilder &, Location, ValueRange)>
multiplyAccumulate(bool reassociate) {
  return [reassociate](OpBuilder &b, Location l, ValueRange args) {
    auto flags = arith::FastMathFlagsAttr::get(
        b.getContext(), reassociate ? arith::FastMathFlags::reassoc |
                                          arith::FastMathFlags::contract
                                    : arith::FastMathFlags::none);
    Value mul = arith::MulFOp::create(b, l, args[0], args[1], flags);
    linalg::YieldOp::create(
        b, l, arith::AddFOp::create(b, l, args[2], mul, flags).getResult());
  };
}

//===----------------------------------------------------------------------===//
// Sinusoidal encodings
//===----------------------------------------------------------------------===//

/// The divisor 10000^(2k / width) of frequency `twoK` (= 2k, i64) of a
/// sinusoidal encoding `width` wide, in f64. Apart from buildSinusoid so a
/// table of divisors can be computed once per frequency rather than once
/// per element (pow is the costly part).
Value buildSinusoidDivisor(OpBuilder &b, Location l, Value twoK,
                           double width) {
  // One op created per statement: the IR order must not depend on the
  // compiler's order of evaluating call arguments.
  Type f64 = b.getF64Type();
  Value twoKf = arith::SIToFPOp::create(b, l, f64, twoK);
  Value widthf = arith::ConstantOp::create(b, l, f64, b.getF64FloatAttr(width));
  Value exponent = arith::DivFOp::create(b, l, twoKf, widthf);
  Value base = arith::ConstantOp::create(b, l, f64, b.getF64FloatAttr(10000.0));
  return math::PowFOp::create(b, l, base, exponent);
}

/// sin (or, where `useCos`, cos) of position / divisor, computed in f64 and
/// rounded once to f32, so every entry matches the formula to f32 rounding
/// at every position (the absolute encoding and Transformer-XL's R). With
/// a constant `useCos` the select folds and the unused function is dead.
Value buildSinusoid(OpBuilder &b, Location l, Value position, Value divisor,
                    Value useCos) {
  Type f64 = b.getF64Type();
  Value angle = arith::DivFOp::create(
      b, l, arith::SIToFPOp::create(b, l, f64, position), divisor);
  // Sine first: operands in a fixed order (argument evaluation order is
  // unspecified, and compilers differ).
  Value sine = math::SinOp::create(b, l, angle);
  Value cosine = math::CosOp::create(b, l, angle);
  Value pe = arith::SelectOp::create(b, l, useCos, cosine, sine);
  return arith::TruncFOp::create(b, l, b.getF32Type(), pe);
}

//===----------------------------------------------------------------------===//
// Element-wise ops
//===----------------------------------------------------------------------===//

struct LowerAdd : public OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AddOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ArrayRef<int64_t> shape = shapeOf(op.getResult());
    Value init = createEmpty(rewriter, loc, shape, rewriter.getF32Type());
    Value sum = buildGeneric(
        rewriter, loc, {op.getLhs(), op.getRhs()}, init,
        identityMaps(getContext(), shape.size(), 3),
        parallelIterators(shape.size()),
        [](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(
              b, l, arith::AddFOp::create(b, l, args[0], args[1]).getResult());
        });
    rewriter.replaceOp(op, sum);
    return success();
  }
};

/// The scalar activation, shared by xf.activation and future fused
/// epilogues.
Value buildActivation(OpBuilder &b, Location loc, ActivationKind kind,
                      Value x) {
  switch (kind) {
  case ActivationKind::relu:
    return arith::MaximumFOp::create(b, loc, x, f32Const(b, loc, 0.0));
  case ActivationKind::gelu: {
    // 0.5 x (1 + erf(x / sqrt 2)).
    Value scaled =
        arith::MulFOp::create(b, loc, x, f32Const(b, loc, M_SQRT1_2));
    Value erf = math::ErfOp::create(b, loc, scaled);
    Value onePlus = arith::AddFOp::create(b, loc, erf, f32Const(b, loc, 1.0));
    Value half = arith::MulFOp::create(b, loc, x, f32Const(b, loc, 0.5));
    return arith::MulFOp::create(b, loc, half, onePlus);
  }
  case ActivationKind::gelu_tanh: {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    Value x3 =
        arith::MulFOp::create(b, loc, arith::MulFOp::create(b, loc, x, x), x);
    Value inner = arith::AddFOp::create(
        b, loc, x,
        arith::MulFOp::create(b, loc, x3, f32Const(b, loc, 0.044715)));
    Value arg = arith::MulFOp::create(b, loc, inner,
                                      f32Const(b, loc, std::sqrt(2.0 / M_PI)));
    Value t = math::TanhOp::create(b, loc, arg);
    Value onePlus = arith::AddFOp::create(b, loc, t, f32Const(b, loc, 1.0));
    Value half = arith::MulFOp::create(b, loc, x, f32Const(b, loc, 0.5));
    return arith::MulFOp::create(b, loc, half, onePlus);
  }
  }
  llvm_unreachable("unknown activation");
}

struct LowerActivation : public OpRewritePattern<ActivationOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ActivationOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ArrayRef<int64_t> shape = shapeOf(op.getResult());
    Value init = createEmpty(rewriter, loc, shape, rewriter.getF32Type());
    ActivationKind kind = op.getKind();
    Value result = buildGeneric(
        rewriter, loc, op.getInput(), init,
        identityMaps(getContext(), shape.size(), 2),
        parallelIterators(shape.size()),
        [&](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(b, l, buildActivation(b, l, kind, args[0]));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Softmax (also used by attention)
//===----------------------------------------------------------------------===//

/// m̂ = (max == -inf) ? 0 : max: the shift of the exponentials, so a row
/// whose keys are all masked gives e^(-inf - 0) = 0, never NaN.
Value safeMax(OpBuilder &b, Location l, Value max) {
  Value isNegInf = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, max,
                                         negInf(b, l));
  return arith::SelectOp::create(b, l, isNegInf, f32Const(b, l, 0.0), max);
}

/// Softmax over the last dimension of `logits`, where entries may be -inf.
/// A row whose entries are all -inf yields zeros (not NaN): its maximum is
/// replaced by 0 before subtracting, every exponential is then 0, and the
/// division is skipped when the sum is 0.
Value buildMaskedSoftmax(OpBuilder &b, Location loc, Value logits) {
  MLIRContext *ctx = b.getContext();
  ArrayRef<int64_t> shape = shapeOf(logits);
  unsigned rank = shape.size();

  auto identity = [](OpBuilder &, Location, Value x, ValueRange) { return x; };
  Value rowMax = reduceLastDim(
      b, loc, logits, {}, -std::numeric_limits<double>::infinity(), identity,
      [](OpBuilder &nb, Location l, Value acc, Value x) -> Value {
        return arith::MaximumFOp::create(nb, l, acc, x);
      });

  Value rowSum = reduceLastDim(
      b, loc, logits, rowMax, 0.0,
      [&](OpBuilder &nb, Location l, Value x, ValueRange rows) -> Value {
        Value shifted =
            arith::SubFOp::create(nb, l, x, safeMax(nb, l, rows[0]));
        return math::ExpOp::create(nb, l, shifted);
      },
      [](OpBuilder &nb, Location l, Value acc, Value x) -> Value {
        return arith::AddFOp::create(nb, l, acc, x);
      });

  Value init = createEmpty(b, loc, shape, b.getF32Type());
  AffineMap full = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap row = dropLastDimMap(ctx, rank);
  return buildGeneric(
      b, loc, {logits, rowMax, rowSum}, init, {full, row, row, full},
      parallelIterators(rank), [&](OpBuilder &nb, Location l, ValueRange args) {
        Value shifted =
            arith::SubFOp::create(nb, l, args[0], safeMax(nb, l, args[1]));
        Value e = math::ExpOp::create(nb, l, shifted);
        Value p = arith::DivFOp::create(nb, l, e, args[2]);
        Value positive = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT,
                                               args[2], f32Const(nb, l, 0.0));
        linalg::YieldOp::create(
            nb, l,
            arith::SelectOp::create(nb, l, positive, p, f32Const(nb, l, 0.0))
                .getResult());
      });
}

/// The masked softmax of buildMaskedSoftmax, bit for bit, with one
/// exponential per element instead of two: e^(x - m̂) is written over
/// `logits` (which must be dead afterwards), summed, and divided in place.
/// One more pass over memory, half the exp calls (libm, per element).
Value buildMaskedSoftmaxInPlace(OpBuilder &b, Location loc, Value logits) {
  MLIRContext *ctx = b.getContext();
  unsigned rank = shapeOf(logits).size();
  AffineMap full = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap row = dropLastDimMap(ctx, rank);
  auto identity = [](OpBuilder &, Location, Value x, ValueRange) { return x; };
  Value rowMax = reduceLastDim(
      b, loc, logits, {}, -std::numeric_limits<double>::infinity(), identity,
      [](OpBuilder &nb, Location l, Value acc, Value x) -> Value {
        return arith::MaximumFOp::create(nb, l, acc, x);
      });
  Value exps = buildGeneric(
      b, loc, rowMax, logits, {row, full}, parallelIterators(rank),
      [](OpBuilder &nb, Location l, ValueRange args) {
        Value shifted =
            arith::SubFOp::create(nb, l, args[1], safeMax(nb, l, args[0]));
        linalg::YieldOp::create(
            nb, l, math::ExpOp::create(nb, l, shifted).getResult());
      });
  Value rowSum = reduceLastDim(
      b, loc, exps, {}, 0.0, identity,
      [](OpBuilder &nb, Location l, Value acc, Value x) -> Value {
        return arith::AddFOp::create(nb, l, acc, x);
      });
  return buildGeneric(
      b, loc, rowSum, exps, {row, full}, parallelIterators(rank),
      [](OpBuilder &nb, Location l, ValueRange args) {
        Value p = arith::DivFOp::create(nb, l, args[1], args[0]);
        Value positive = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT,
                                               args[0], f32Const(nb, l, 0.0));
        linalg::YieldOp::create(
            nb, l,
            arith::SelectOp::create(nb, l, positive, p, f32Const(nb, l, 0.0))
                .getResult());
      });
}

struct LowerSoftmax : public OpRewritePattern<SoftmaxOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SoftmaxOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOp(
        op, buildMaskedSoftmax(rewriter, op.getLoc(), op.getInput()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// LayerNorm
//===----------------------------------------------------------------------===//

/// 1 / sqrt(variance + epsilon).
Value inverseStdDev(OpBuilder &b, Location l, Value variance, double epsilon) {
  // 1 / sqrt rather than math.rsqrt: libm has no rsqrtf, and the division
  // is exact to rounding, like PyTorch's.
  Value root = math::SqrtOp::create(
      b, l, arith::AddFOp::create(b, l, variance, f32Const(b, l, epsilon)));
  return arith::DivFOp::create(b, l, f32Const(b, l, 1.0), root);
}

/// centered * inv * gamma + beta: the last step of LayerNorm, shared by
/// both lowerings.
Value normalizeValue(OpBuilder &b, Location l, Value centered, Value inv,
                     Value gamma, Value beta) {
  Value normalized = arith::MulFOp::create(b, l, centered, inv);
  Value scaled = arith::MulFOp::create(b, l, normalized, gamma);
  return arith::AddFOp::create(b, l, scaled, beta);
}

/// LayerNorm of `input + residual`, one row at a time: an scf.forall over
/// the rows (independent, so the threading pass may split them) whose body
/// adds the row, reduces it twice (sum, then squares of the centered
/// values: the same two-pass numerics, in the same order, as the unfused
/// lowering) and normalizes it, while the row is in L1. Results: the
/// normalized tensor and, if `withSum`, the sum. Without it the sum is
/// written into the output row and normalized in place. The two row
/// reductions are scalar loops carrying the accumulator in a register: a
/// linalg reduction would need a 1-element tensor per row, which
/// bufferizes to a heap allocation inside the loop.
SmallVector<Value> buildResidualLayerNorm(OpBuilder &b, Location loc,
                                          LayerNormOp op, bool withSum) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(op.getResult().getType());
  Value x = reshapeToMatrix(b, loc, op.getInput());
  Value r = reshapeToMatrix(b, loc, op.getResidual());
  int64_t rows = shapeOf(x)[0], width = shapeOf(x)[1];
  double epsilon = op.getEpsilon().convertToDouble();
  Type f32 = b.getF32Type();

  SmallVector<Value> outs{createEmpty(b, loc, {rows, width}, f32)};
  if (withSum)
    outs.push_back(createEmpty(b, loc, {rows, width}, f32));
  auto forall =
      scf::ForallOp::create(b, loc, {b.getIndexAttr(rows)}, outs, std::nullopt);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(forall.getTerminator());
  Value i = forall.getInductionVar(0);
  Value resultOut = forall.getRegionIterArgs()[0];
  Value sumOut = withSum ? forall.getRegionIterArgs()[1] : Value();

  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> offsets{i, zero}, sizes{one, b.getIndexAttr(width)},
      strides{one, one};
  auto rowType = RankedTensorType::get({1, width}, f32);
  auto row = [&](Value source) -> Value {
    return tensor::ExtractSliceOp::create(b, loc, rowType, source, offsets,
                                          sizes, strides);
  };

  AffineMap full = AffineMap::getMultiDimIdentityMap(2, ctx);
  Value resultRow = row(resultOut);
  Value sum = buildGeneric(
      b, loc, {row(x), row(r)}, withSum ? row(sumOut) : resultRow,
      {full, full, full}, parallelIterators(2),
      [](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(
            nb, l, arith::AddFOp::create(nb, l, args[0], args[1]).getResult());
      });

  // sum_j f(sum[0, j]), in order of j.
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value cWidth = arith::ConstantIndexOp::create(b, loc, width);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  auto reduceRow = [&](function_ref<Value(OpBuilder &, Location, Value)> f) {
    auto loop = scf::ForOp::create(
        b, loc, c0, cWidth, c1, ValueRange{f32Const(b, loc, 0.0)},
        [&](OpBuilder &nb, Location l, Value j, ValueRange acc) {
          Value v = tensor::ExtractOp::create(nb, l, sum, ValueRange{c0, j});
          scf::YieldOp::create(
              nb, l,
              arith::AddFOp::create(nb, l, acc[0], f(nb, l, v)).getResult());
        });
    return loop.getResult(0);
  };
  Value widthF = f32Const(b, loc, double(width));
  Value total =
      reduceRow([](OpBuilder &, Location, Value v) -> Value { return v; });
  Value mean = arith::DivFOp::create(b, loc, total, widthF);
  Value squares = reduceRow([&](OpBuilder &nb, Location l, Value v) -> Value {
    Value c = arith::SubFOp::create(nb, l, v, mean);
    return arith::MulFOp::create(nb, l, c, c);
  });
  Value variance = arith::DivFOp::create(b, loc, squares, widthF);
  Value inv = inverseStdDev(b, loc, variance, epsilon);

  AffineMap feature = lastDimMap(ctx, 2);
  auto normalize = [&](OpBuilder &nb, Location l, Value v, Value gamma,
                       Value beta) {
    Value c = arith::SubFOp::create(nb, l, v, mean);
    linalg::YieldOp::create(nb, l, normalizeValue(nb, l, c, inv, gamma, beta));
  };
  Value normalized;
  if (withSum) {
    normalized =
        buildGeneric(b, loc, {sum, op.getGamma(), op.getBeta()}, resultRow,
                     {full, feature, feature, full}, parallelIterators(2),
                     [&](OpBuilder &nb, Location l, ValueRange args) {
                       normalize(nb, l, args[0], args[1], args[2]);
                     });
  } else {
    // The sum lives in the output row: normalize it in place.
    normalized = buildGeneric(b, loc, {op.getGamma(), op.getBeta()}, sum,
                              {feature, feature, full}, parallelIterators(2),
                              [&](OpBuilder &nb, Location l, ValueRange args) {
                                normalize(nb, l, args[2], args[0], args[1]);
                              });
  }

  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(b, loc, normalized, resultOut, offsets,
                                        sizes, strides);
  if (withSum)
    tensor::ParallelInsertSliceOp::create(b, loc, sum, sumOut, offsets, sizes,
                                          strides);

  b.setInsertionPointAfter(forall);
  SmallVector<Value> results{
      reshapeFromMatrix(b, loc, forall.getResult(0), type)};
  if (withSum)
    results.push_back(reshapeFromMatrix(b, loc, forall.getResult(1), type));
  return results;
}

struct LowerLayerNorm : public OpRewritePattern<LayerNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LayerNormOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getResidual()) {
      rewriter.replaceOp(op, buildResidualLayerNorm(
                                 rewriter, op.getLoc(), op,
                                 /*withSum=*/static_cast<bool>(op.getSum())));
      return success();
    }
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    Value input = op.getInput();
    ArrayRef<int64_t> shape = shapeOf(input);
    unsigned rank = shape.size();
    double width = static_cast<double>(shape.back());
    double epsilon = op.getEpsilon().convertToDouble();

    auto add = [](OpBuilder &b, Location l, Value acc, Value x) -> Value {
      return arith::AddFOp::create(b, l, acc, x);
    };
    Value sum = reduceLastDim(
        rewriter, loc, input, {}, 0.0,
        [](OpBuilder &, Location, Value x, ValueRange) { return x; }, add);
    // Two-pass variance, as PyTorch computes it: sum((x - mean)^2) / N.
    auto centered = [width](OpBuilder &b, Location l, Value x,
                            Value rowSum) -> Value {
      Value mean = arith::DivFOp::create(b, l, rowSum, f32Const(b, l, width));
      return arith::SubFOp::create(b, l, x, mean);
    };
    Value squares = reduceLastDim(
        rewriter, loc, input, sum, 0.0,
        [&](OpBuilder &b, Location l, Value x, ValueRange rows) -> Value {
          Value c = centered(b, l, x, rows[0]);
          return arith::MulFOp::create(b, l, c, c);
        },
        add);

    Value init = createEmpty(rewriter, loc, shape, rewriter.getF32Type());
    AffineMap full = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap row = dropLastDimMap(ctx, rank);
    AffineMap feature = lastDimMap(ctx, rank);
    Value result = buildGeneric(
        rewriter, loc, {input, sum, squares, op.getGamma(), op.getBeta()}, init,
        {full, row, row, feature, feature, full}, parallelIterators(rank),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value c = centered(b, l, args[0], args[1]);
          Value variance =
              arith::DivFOp::create(b, l, args[2], f32Const(b, l, width));
          linalg::YieldOp::create(
              b, l,
              normalizeValue(b, l, c, inverseStdDev(b, l, variance, epsilon),
                             args[3], args[4]));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Linear
//===----------------------------------------------------------------------===//

struct LowerLinear : public OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;

  /// A packed weight `[N/p, K, p]`: the contraction runs in the panel
  /// space `C[m, j, i] += A[m, k] W[j, k, i]` over an output viewed as
  /// `[M, N/p, p]` (a reshape, no copy), loop order (m, j, k, i) so the
  /// innermost loop walks contiguous floats of the panel and the output.
  /// The bias is broadcast and the epilogue applied in the same space, so
  /// tiling can fuse both.
  static Value lowerPacked(PatternRewriter &rewriter, Location loc,
                           LinearOp op, Value matrix, int64_t m, int64_t n,
                           int64_t panel) {
    MLIRContext *ctx = rewriter.getContext();
    // A last panel padded with zero columns (n not a multiple of p) is
    // computed like the others, into a padded result whose extra columns
    // are dropped at the end.
    int64_t panels = (n + panel - 1) / panel;
    int64_t padded = panels * panel;
    Value acc;
    Value bias = op.getBias();
    if (bias && padded == n) {
      Value panelBias = tensor::ExpandShapeOp::create(
          rewriter, loc,
          RankedTensorType::get({panels, panel}, rewriter.getF32Type()), bias,
          SmallVector<ReassociationIndices>{{0, 1}});
      Value init =
          createEmpty(rewriter, loc, {m, panels, panel}, rewriter.getF32Type());
      acc = linalg::BroadcastOp::create(rewriter, loc, panelBias, init,
                                        ArrayRef<int64_t>{0})
                .getResult()[0];
    } else {
      acc = createFilled(rewriter, loc, {m, panels, panel}, 0.0);
    }
    AffineExpr dm = getAffineDimExpr(0, ctx), dj = getAffineDimExpr(1, ctx),
               dk = getAffineDimExpr(2, ctx), di = getAffineDimExpr(3, ctx);
    SmallVector<AffineMap> maps{AffineMap::get(4, 0, {dm, dk}, ctx),
                                AffineMap::get(4, 0, {dj, dk, di}, ctx),
                                AffineMap::get(4, 0, {dm, dj, di}, ctx)};
    Value product = buildGeneric(
        rewriter, loc, {matrix, op.getWeight()}, acc, maps,
        {IteratorType::parallel, IteratorType::parallel,
         IteratorType::reduction, IteratorType::parallel},
        multiplyAccumulate(/*reassociate=*/false));
    if (padded == n)
      product = applyEpilogue(rewriter, loc, op, product);
    Value matrixResult = tensor::CollapseShapeOp::create(
        rewriter, loc,
        RankedTensorType::get({m, padded}, rewriter.getF32Type()), product,
        SmallVector<ReassociationIndices>{{0}, {1, 2}});
    if (padded == n)
      return matrixResult;
    // The real columns, copied out by the element-wise op that adds the
    // bias and applies the activation (in that order, as unpadded): a
    // plain copy of the strided slice would lower to a library call, and a
    // padded bias would be one. (The verifier rules out a residual here.)
    Value real = tensor::ExtractSliceOp::create(
        rewriter, loc, RankedTensorType::get({m, n}, rewriter.getF32Type()),
        matrixResult,
        ArrayRef<OpFoldResult>{rewriter.getIndexAttr(0),
                               rewriter.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{rewriter.getIndexAttr(m),
                               rewriter.getIndexAttr(n)},
        ArrayRef<OpFoldResult>{rewriter.getIndexAttr(1),
                               rewriter.getIndexAttr(1)});
    Value init = createEmpty(rewriter, loc, {m, n}, rewriter.getF32Type());
    SmallVector<Value> inputs{real};
    SmallVector<AffineMap> copyMaps{AffineMap::getMultiDimIdentityMap(2, ctx)};
    if (bias) {
      inputs.push_back(bias);
      copyMaps.push_back(AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx));
    }
    copyMaps.push_back(AffineMap::getMultiDimIdentityMap(2, ctx));
    std::optional<ActivationKind> activation = op.getActivation();
    return buildGeneric(rewriter, loc, inputs, init, copyMaps,
                        parallelIterators(2),
                        [&](OpBuilder &b, Location l, ValueRange args) {
                          Value v = args[0];
                          if (bias)
                            v = arith::AddFOp::create(b, l, v, args[1]);
                          if (activation)
                            v = buildActivation(b, l, *activation, v);
                          linalg::YieldOp::create(b, l, v);
                        });
  }

  /// The epilogue: one element-wise op on the contraction's result,
  /// act(acc) + residual, that the tiling pass fuses into the GEMM's
  /// thread tiles. The bias is already in the accumulator. `product` is
  /// [M, N], or [M, N/p, p] for a packed weight (the residual is reshaped
  /// to match, so the epilogue runs in the same space as the contraction).
  static Value applyEpilogue(PatternRewriter &rewriter, Location loc,
                             LinearOp op, Value product) {
    std::optional<ActivationKind> activation = op.getActivation();
    Value residual = op.getResidual();
    if (!activation && !residual)
      return product;
    auto type = cast<RankedTensorType>(product.getType());
    SmallVector<Value> inputs;
    if (residual) {
      Value matrix = reshapeToMatrix(rewriter, loc, residual);
      if (type.getRank() == 3)
        matrix = tensor::ExpandShapeOp::create(
            rewriter, loc, type, matrix,
            SmallVector<ReassociationIndices>{{0}, {1, 2}});
      inputs.push_back(matrix);
    }
    // In place: the product is the epilogue's init (read and overwritten),
    // so tiling fuses the contraction through its destination and every
    // thread tile is computed and finished in the output, with no
    // temporary for the raw product.
    unsigned rank = type.getRank();
    return buildGeneric(
        rewriter, loc, inputs, product,
        identityMaps(rewriter.getContext(), rank, inputs.size() + 1),
        parallelIterators(rank),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value v = args.back();
          if (activation)
            v = buildActivation(b, l, *activation, v);
          if (residual)
            v = arith::AddFOp::create(b, l, v, args[0]);
          linalg::YieldOp::create(b, l, v);
        });
  }

  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    Value matrix = reshapeToMatrix(rewriter, loc, op.getInput());
    int64_t m = shapeOf(matrix)[0];
    int64_t n = op.getOutFeatures();

    if (std::optional<uint64_t> panel = op.getWeightPanel()) {
      Value product = lowerPacked(rewriter, loc, op, matrix, m, n, *panel);
      rewriter.replaceOp(op,
                         reshapeFromMatrix(rewriter, loc, product, resultType));
      return success();
    }

    // The accumulator starts as the broadcast bias (or zero), which saves a
    // separate pass adding the bias afterwards.
    Value acc;
    AffineMap mn = AffineMap::get(
        3, 0, {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx)}, ctx);
    if (Value bias = op.getBias()) {
      Value init = createEmpty(rewriter, loc, {m, n}, rewriter.getF32Type());
      acc = linalg::BroadcastOp::create(rewriter, loc, bias, init,
                                        ArrayRef<int64_t>{0})
                .getResult()[0];
    } else {
      acc = createFilled(rewriter, loc, {m, n}, 0.0);
    }

    // Both layouts are generic contractions whose loop order is chosen for
    // the scalar-loop lowering: with a [K, N] weight the order (m, k, n)
    // makes the innermost loop run along contiguous rows of the weight and
    // the output, which LLVM vectorizes without reassociating the sum; an
    // [N, K] weight keeps (m, n, k), contiguous along k for both operands.
    AffineExpr dm = getAffineDimExpr(0, ctx);
    Value product;
    if (op.getTransposeWeight()) {
      AffineExpr dk = getAffineDimExpr(1, ctx), dn = getAffineDimExpr(2, ctx);
      SmallVector<AffineMap> maps{AffineMap::get(3, 0, {dm, dk}, ctx),
                                  AffineMap::get(3, 0, {dk, dn}, ctx),
                                  AffineMap::get(3, 0, {dm, dn}, ctx)};
      product = buildGeneric(
          rewriter, loc, {matrix, op.getWeight()}, acc, maps,
          {IteratorType::parallel, IteratorType::reduction,
           IteratorType::parallel},
          multiplyAccumulate(/*reassociate=*/false));
    } else {
      AffineExpr dn = getAffineDimExpr(1, ctx), dk = getAffineDimExpr(2, ctx);
      SmallVector<AffineMap> maps{AffineMap::get(3, 0, {dm, dk}, ctx),
                                  AffineMap::get(3, 0, {dn, dk}, ctx), mn};
      product = buildGeneric(
          rewriter, loc, {matrix, op.getWeight()}, acc, maps,
          {IteratorType::parallel, IteratorType::parallel,
           IteratorType::reduction},
          multiplyAccumulate(/*reassociate=*/true));
    }
    product = applyEpilogue(rewriter, loc, op, product);
    rewriter.replaceOp(op,
                       reshapeFromMatrix(rewriter, loc, product, resultType));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Split
//===----------------------------------------------------------------------===//

/// Each piece is a slice of the last dimension; bufferization turns it into
/// a strided view, so nothing is copied (unless the piece is returned).
struct LowerSplit : public OpRewritePattern<SplitOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SplitOp op,
                                PatternRewriter &rewriter) const override {
    ArrayRef<int64_t> shape = shapeOf(op.getInput());
    SmallVector<Value> pieces;
    int64_t offset = 0;
    for (Value result : op.getResults()) {
      auto type = cast<RankedTensorType>(result.getType());
      SmallVector<OpFoldResult> offsets(shape.size(), rewriter.getIndexAttr(0));
      offsets.back() = rewriter.getIndexAttr(offset);
      SmallVector<OpFoldResult> sizes,
          strides(shape.size(), rewriter.getIndexAttr(1));
      for (int64_t d : type.getShape())
        sizes.push_back(rewriter.getIndexAttr(d));
      Value piece = tensor::ExtractSliceOp::create(
          rewriter, op.getLoc(), type, op.getInput(), offsets, sizes, strides);
      // A returned piece is copied by the caller-visible out-parameter
      // copy, which for a strided view needs a runtime library the
      // artifact does not link; a contiguous copy here avoids it.
      // (linalg.copy: canonicalization would erase an identity generic.)
      if (llvm::any_of(result.getUsers(), llvm::IsaPred<func::ReturnOp>))
        piece = linalg::CopyOp::create(rewriter, op.getLoc(), piece,
                                       createEmpty(rewriter, op.getLoc(),
                                                   type.getShape(),
                                                   rewriter.getF32Type()))
                    .getResult(0);
      pieces.push_back(piece);
      offset += type.getShape().back();
    }
    rewriter.replaceOp(op, pieces);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Embedding and positions
//===----------------------------------------------------------------------===//

struct LowerEmbedding : public OpRewritePattern<EmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(EmbeddingOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    ArrayRef<int64_t> shape = shapeOf(op.getResult());
    int64_t rows = shapeOf(op.getTable())[0];
    double scale = op.getScale().convertToDouble();
    Value table = op.getTable();
    Value init = createEmpty(rewriter, loc, shape, rewriter.getF32Type());
    AffineMap idsMap = AffineMap::get(
        3, 0, {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx)}, ctx);
    Value result = buildGeneric(
        rewriter, loc, op.getIds(), init,
        {idsMap, AffineMap::getMultiDimIdentityMap(3, ctx)},
        parallelIterators(3), [&](OpBuilder &b, Location l, ValueRange args) {
          // Clamp the id so generated code never reads outside the table,
          // even when called without the runtime's input checks.
          Value id =
              arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value zero = arith::ConstantIndexOp::create(b, l, 0);
          Value last = arith::ConstantIndexOp::create(b, l, rows - 1);
          id = arith::MaxSIOp::create(b, l, id, zero);
          id = arith::MinSIOp::create(b, l, id, last);
          Value feature = linalg::IndexOp::create(b, l, 2);
          Value v =
              tensor::ExtractOp::create(b, l, table, ValueRange{id, feature});
          if (scale != 1.0)
            v = arith::MulFOp::create(b, l, v, f32Const(b, l, scale));
          linalg::YieldOp::create(b, l, v);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct LowerPositionalEncoding : public OpRewritePattern<PositionalEncodingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(PositionalEncodingOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    ArrayRef<int64_t> shape = shapeOf(op.getInput());
    Value init = createEmpty(rewriter, loc, shape, rewriter.getF32Type());
    AffineMap full = AffineMap::getMultiDimIdentityMap(3, ctx);

    if (op.getKind() == PositionalKind::learned) {
      // Rows [0, seq) of the table, broadcast over the batch.
      SmallVector<OpFoldResult> offsets{rewriter.getIndexAttr(0),
                                        rewriter.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes{rewriter.getIndexAttr(shape[1]),
                                      rewriter.getIndexAttr(shape[2])};
      SmallVector<OpFoldResult> strides{rewriter.getIndexAttr(1),
                                        rewriter.getIndexAttr(1)};
      Value rows = tensor::ExtractSliceOp::create(rewriter, loc, op.getTable(),
                                                  offsets, sizes, strides);
      AffineMap rowMap = AffineMap::get(
          3, 0, {getAffineDimExpr(1, ctx), getAffineDimExpr(2, ctx)}, ctx);
      Value result = buildGeneric(
          rewriter, loc, {op.getInput(), rows}, init, {full, rowMap, full},
          parallelIterators(3), [](OpBuilder &b, Location l, ValueRange args) {
            linalg::YieldOp::create(
                b, l,
                arith::AddFOp::create(b, l, args[0], args[1]).getResult());
          });
      rewriter.replaceOp(op, result);
      return success();
    }

    // Sinusoidal: dimension 2k holds sin(p / 10000^(2k / D)), 2k + 1 the
    // cosine of the same angle (interleaved). p is the sequence index, or
    // the `positions` element of the row.
    double width = static_cast<double>(shape[2]);
    Value positions = op.getPositions();
    SmallVector<Value> ins{op.getInput()};
    SmallVector<AffineMap> maps{full};
    if (positions) {
      ins.push_back(positions);
      maps.push_back(AffineMap::get(
          3, 0, {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx)}, ctx));
    }
    maps.push_back(full);
    Value result = buildGeneric(
        rewriter, loc, ins, init, maps, parallelIterators(3),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Type i64 = b.getI64Type();
          Value pos =
              positions ? arith::ExtSIOp::create(b, l, i64, args[1]).getResult()
                        : arith::IndexCastOp::create(
                              b, l, i64, linalg::IndexOp::create(b, l, 1))
                              .getResult();
          Value dim = arith::IndexCastOp::create(
              b, l, i64, linalg::IndexOp::create(b, l, 2));
          Value one =
              arith::ConstantOp::create(b, l, i64, b.getI64IntegerAttr(1));
          Value parity = arith::AndIOp::create(b, l, dim, one);
          Value even = arith::SubIOp::create(b, l, dim, parity); // 2k
          Value isOdd = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::ne, parity,
              arith::ConstantOp::create(b, l, i64, b.getI64IntegerAttr(0)));
          Value divisor = buildSinusoidDivisor(b, l, even, width);
          Value pe = buildSinusoid(b, l, pos, divisor, isOdd);
          linalg::YieldOp::create(
              b, l, arith::AddFOp::create(b, l, args[0], pe).getResult());
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// [B, S, H*D] -> [B, S, H, D].
Value splitHeads(OpBuilder &b, Location loc, Value x, int64_t heads) {
  ArrayRef<int64_t> shape = shapeOf(x);
  auto type = RankedTensorType::get(
      {shape[0], shape[1], heads, shape[2] / heads}, b.getF32Type());
  return tensor::ExpandShapeOp::create(
      b, loc, type, x, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
}

struct LowerAttention : public OpRewritePattern<AttentionOp> {
  LowerAttention(MLIRContext *ctx, AttentionTestFault fault)
      : OpRewritePattern(ctx), fault(fault) {}
  AttentionTestFault fault;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    // An op marked by xf-fuse-attention becomes the tiled kernel
    // (FusedAttention.cpp); the rest of this pattern is the unfused form.
    FailureOr<std::optional<AttentionKernelConfig>> kernel =
        getAttentionKernel(op);
    if (failed(kernel))
      return failure();
    if (*kernel) {
      rewriter.replaceOp(op,
                         buildFusedAttention(rewriter, op, **kernel, fault));
      return success();
    }
    // The families that are not masks (linear, Performer, Linformer, LSH)
    // have lowerings of their own.
    if (AttentionPatternAttr pattern = op.getPatternAttr()) {
      PatternGroups groups = pattern.getGroups();
      if (const PatternPart *family = approximationOf(groups)) {
        FailureOr<Value> result =
            buildApproximateAttention(rewriter, op, *family);
        if (failed(result))
          return failure();
        rewriter.replaceOp(op, *result);
        return success();
      }
    }

    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    int64_t heads = op.getNumHeads();
    Value q = splitHeads(rewriter, loc, op.getQuery(), heads);
    Value k = splitHeads(rewriter, loc, op.getKey(), heads);
    Value v = splitHeads(rewriter, loc, op.getValue(), heads);
    ArrayRef<int64_t> qShape = shapeOf(q), kShape = shapeOf(k),
                      vShape = shapeOf(v);
    int64_t batch = qShape[0], sq = qShape[1], sk = kShape[1];
    int64_t dv = vShape[3];
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };

    // scores[b, h, i, j] = sum_e q[b, i, h, e] * k[b, j, h, e], over
    // (b, h, i, j, e).
    Value scores = createFilled(rewriter, loc, {batch, heads, sq, sk}, 0.0);
    scores = buildGeneric(
        rewriter, loc, {q, k}, scores,
        {AffineMap::get(5, 0, {d(0), d(2), d(1), d(4)}, ctx),
         AffineMap::get(5, 0, {d(0), d(3), d(1), d(4)}, ctx),
         AffineMap::get(5, 0, {d(0), d(1), d(2), d(3)}, ctx)},
        {IteratorType::parallel, IteratorType::parallel, IteratorType::parallel,
         IteratorType::parallel, IteratorType::reduction},
        multiplyAccumulate(/*reassociate=*/true));

    // Scale, then mask with -inf: causal (j > i) and key padding
    // (j >= key_lengths[b]).
    double scale = op.getScale().convertToDouble();
    bool causal = op.getCausal();
    Value keyLengths = op.getKeyLengths();
    if (fault == AttentionTestFault::DropMask) {
      causal = false;
      keyLengths = Value();
    }
    bool causalOffByOne = fault == AttentionTestFault::CausalOffByOne;
    SmallVector<Value> maskInputs{scores};
    SmallVector<AffineMap> maskMaps{AffineMap::getMultiDimIdentityMap(4, ctx)};
    if (keyLengths) {
      maskInputs.push_back(keyLengths);
      maskMaps.push_back(AffineMap::get(4, 0, {d(0)}, ctx));
    }
    maskMaps.push_back(AffineMap::getMultiDimIdentityMap(4, ctx));
    // A pattern's element predicate per head group (its tables are
    // constants created here, outside the generic).
    PatternGroups groups;
    if (AttentionPatternAttr pattern = op.getPatternAttr();
        pattern && fault != AttentionTestFault::DropMask)
      groups = pattern.getGroups();
    std::vector<AttentionPattern> patterns;
    std::vector<PatternMask> patternMasks;
    patterns.reserve(groups.size());
    for (const std::vector<PatternPart> &parts : groups)
      patterns.emplace_back(parts, sq, sk);
    for (const AttentionPattern &pattern : patterns)
      patternMasks.emplace_back(rewriter, loc, pattern);
    int64_t groupHeads = heads / std::max<int64_t>(1, groups.size());
    Value logitsInit = createEmpty(rewriter, loc, {batch, heads, sq, sk},
                                   rewriter.getF32Type());
    Value logits = buildGeneric(
        rewriter, loc, maskInputs, logitsInit, maskMaps, parallelIterators(4),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value x = arith::MulFOp::create(b, l, args[0], f32Const(b, l, scale));
          Value j = linalg::IndexOp::create(b, l, 3);
          Value masked;
          if (causal) {
            Value i = linalg::IndexOp::create(b, l, 2);
            if (causalOffByOne)
              i = arith::AddIOp::create(
                  b, l, i, arith::ConstantIndexOp::create(b, l, 1));
            masked =
                arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, j, i);
          }
          if (keyLengths) {
            Value len =
                arith::IndexCastOp::create(b, l, b.getIndexType(), args[1]);
            Value padded =
                arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, j, len);
            masked =
                masked ? arith::OrIOp::create(b, l, masked, padded) : padded;
          }
          if (!patternMasks.empty()) {
            // Head h follows the pattern of its group, h / (H / G).
            Value i = linalg::IndexOp::create(b, l, 2);
            Value allowed;
            Value group;
            if (patternMasks.size() > 1)
              group = arith::DivUIOp::create(
                  b, l, linalg::IndexOp::create(b, l, 1),
                  arith::ConstantIndexOp::create(b, l, groupHeads));
            for (auto [g, mask] : llvm::enumerate(patternMasks)) {
              Value inGroup = mask.allows(b, l, i, j);
              if (group)
                inGroup = arith::AndIOp::create(
                    b, l, inGroup,
                    arith::CmpIOp::create(
                        b, l, arith::CmpIPredicate::eq, group,
                        arith::ConstantIndexOp::create(b, l, g)));
              allowed =
                  allowed
                      ? arith::OrIOp::create(b, l, allowed, inGroup).getResult()
                      : inGroup;
            }
            Value notAllowed = arith::XOrIOp::create(
                b, l, allowed,
                arith::ConstantIntOp::create(b, l, b.getI1Type(), 1));
            masked =
                masked
                    ? arith::OrIOp::create(b, l, masked, notAllowed).getResult()
                    : notAllowed;
          }
          if (masked)
            x = arith::SelectOp::create(b, l, masked, negInf(b, l), x);
          linalg::YieldOp::create(b, l, x);
        });

    Value probs = buildMaskedSoftmax(rewriter, loc, logits);

    // out[b, i, h, e] = sum_j p[b, h, i, j] * v[b, j, h, e], over
    // (b, i, h, j, e): e innermost runs along contiguous rows of v and out.
    Value out = createFilled(rewriter, loc, {batch, sq, heads, dv}, 0.0);
    AffineExpr outHead = d(2);
    if (fault == AttentionTestFault::PermuteHeads)
      outHead = getAffineConstantExpr(heads - 1, ctx) - d(2);
    out = buildGeneric(
        rewriter, loc, {probs, v}, out,
        {AffineMap::get(5, 0, {d(0), d(2), d(1), d(3)}, ctx),
         AffineMap::get(5, 0, {d(0), d(3), d(2), d(4)}, ctx),
         AffineMap::get(5, 0, {d(0), d(1), outHead, d(4)}, ctx)},
        {IteratorType::parallel, IteratorType::parallel, IteratorType::parallel,
         IteratorType::reduction, IteratorType::parallel},
        multiplyAccumulate(/*reassociate=*/false));
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(
        op, op.getResult().getType(), out,
        SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Segment recurrence (Transformer-XL)
//===----------------------------------------------------------------------===//

struct LowerSequenceConcat : public OpRewritePattern<SequenceConcatOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SequenceConcatOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ArrayRef<int64_t> shape = shapeOf(op.getResult());
    int64_t firstLen = shapeOf(op.getFirst())[1];
    int64_t secondLen = shapeOf(op.getSecond())[1];
    Value first = op.getFirst(), second = op.getSecond();
    Value init = createEmpty(rewriter, loc, shape, rewriter.getF32Type());
    // One pass over the result, reading whichever input holds position j.
    // Both reads use clamped indices so that neither can leave its tensor;
    // the select keeps the right one. (An empty input is never read.)
    Value result = buildGeneric(
        rewriter, loc, ValueRange(), init,
        {AffineMap::getMultiDimIdentityMap(3, getContext())},
        parallelIterators(3), [&](OpBuilder &b, Location l, ValueRange) {
          Value batch = linalg::IndexOp::create(b, l, 0);
          Value j = linalg::IndexOp::create(b, l, 1);
          Value feature = linalg::IndexOp::create(b, l, 2);
          Value split = arith::ConstantIndexOp::create(b, l, firstLen);
          if (secondLen == 0) {
            linalg::YieldOp::create(
                b, l,
                tensor::ExtractOp::create(b, l, first,
                                          ValueRange{batch, j, feature})
                    .getResult());
            return;
          }
          Value jSecond = arith::MaxSIOp::create(
              b, l, arith::SubIOp::create(b, l, j, split),
              arith::ConstantIndexOp::create(b, l, 0));
          Value fromSecond = tensor::ExtractOp::create(
              b, l, second, ValueRange{batch, jSecond, feature});
          if (firstLen == 0) {
            linalg::YieldOp::create(b, l, fromSecond);
            return;
          }
          Value jFirst = arith::MinSIOp::create(
              b, l, j, arith::ConstantIndexOp::create(b, l, firstLen - 1));
          Value fromFirst = tensor::ExtractOp::create(
              b, l, first, ValueRange{batch, jFirst, feature});
          Value inFirst =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, j, split);
          linalg::YieldOp::create(
              b, l,
              arith::SelectOp::create(b, l, inFirst, fromFirst, fromSecond)
                  .getResult());
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct LowerSequenceSlice : public OpRewritePattern<SequenceSliceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SequenceSliceOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    ArrayRef<int64_t> shape = shapeOf(op.getResult());
    Value init = createEmpty(rewriter, loc, shape, rewriter.getF32Type());
    // A materialized copy rather than a view: the result is usually a
    // function result (the next memory), written into the caller's buffer.
    AffineMap shifted = AffineMap::get(
        3, 0,
        {getAffineDimExpr(0, ctx),
         getAffineDimExpr(1, ctx) +
             getAffineConstantExpr(static_cast<int64_t>(op.getOffset()), ctx),
         getAffineDimExpr(2, ctx)},
        ctx);
    Value result = buildGeneric(
        rewriter, loc, op.getInput(), init,
        {shifted, AffineMap::getMultiDimIdentityMap(3, ctx)},
        parallelIterators(3), [](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(b, l, args[0]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Key/value cache
//===----------------------------------------------------------------------===//

/// xf.cache_write as one tensor.insert_slice at a dynamic row: it
/// bufferizes in place into the cache (a writable function argument), so
/// the write moves the T new rows only, never the whole cache.
struct LowerCacheWrite : public OpRewritePattern<CacheWriteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CacheWriteOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ArrayRef<int64_t> cache = shapeOf(op.getCache());
    ArrayRef<int64_t> update = shapeOf(op.getUpdate());
    if (update == cache) {
      // The update fills the cache (a prompt as long as the capacity): an
      // insert_slice of the whole tensor folds away to the update, and the
      // write with it. Materializing into the cache keeps the write.
      rewriter.replaceOpWithNewOp<bufferization::MaterializeInDestinationOp>(
          op, op.getUpdate(), op.getCache());
      return success();
    }
    OpFoldResult row = rewriter.getIndexAttr(0);
    if (Value position = op.getPosition()) {
      // Clamped into [0, C - T]: a bad position must not write outside
      // the cache (the runtime refuses such positions before running).
      Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
      Value raw = tensor::ExtractOp::create(rewriter, loc, position, zero);
      Value index = arith::IndexCastOp::create(rewriter, loc,
                                               rewriter.getIndexType(), raw);
      Value last =
          arith::ConstantIndexOp::create(rewriter, loc, cache[1] - update[1]);
      row = arith::MinSIOp::create(
                rewriter, loc,
                arith::MaxSIOp::create(rewriter, loc, index, zero), last)
                .getResult();
    }
    SmallVector<OpFoldResult> offsets{rewriter.getIndexAttr(0), row,
                                      rewriter.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{rewriter.getIndexAttr(update[0]),
                                    rewriter.getIndexAttr(update[1]),
                                    rewriter.getIndexAttr(update[2])};
    SmallVector<OpFoldResult> strides(3, rewriter.getIndexAttr(1));
    rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(
        op, op.getUpdate(), op.getCache(), offsets, sizes, strides);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Sentence pooling
//===----------------------------------------------------------------------===//

/// xf.sentence_pool as plain linalg: a masked sum over the positions (a
/// reduction over s with the position taken from linalg.index, so padded
/// positions are skipped without materializing a mask), a division by the
/// clamped count, and for `normalize` a sum of squares per item and a
/// division by max(norm, epsilon). Sums run in position order, as
/// PyTorch's CPU reduction over a small axis does.
struct LowerSentencePool : public OpRewritePattern<SentencePoolOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SentencePoolOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    Value input = op.getInput();
    Value lengths = op.getLengths();
    ArrayRef<int64_t> shape = shapeOf(input);
    int64_t batch = shape[0], seq = shape[1], width = shape[2];
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
    AffineExpr b = getAffineDimExpr(0, ctx), d = getAffineDimExpr(1, ctx);
    AffineMap bd2 = AffineMap::get(2, 0, {b, d}, ctx);
    AffineMap item2 = AffineMap::get(2, 0, {b}, ctx);

    // The count of valid positions of item `b`, clamped to [0, S] so a bad
    // length can never select positions that do not exist.
    auto validCount = [&](OpBuilder &nb, Location l, Value length) -> Value {
      Value zero = arith::ConstantIntOp::create(nb, l, i32, 0);
      Value full = arith::ConstantIntOp::create(nb, l, i32, seq);
      Value n = arith::MaxSIOp::create(nb, l, length, zero);
      return arith::MinSIOp::create(nb, l, n, full);
    };

    Value pooled;
    if (op.getMode() == PoolingKind::cls) {
      AffineMap first = AffineMap::get(
          2, 0, {b, getAffineConstantExpr(0, ctx), d}, ctx);
      pooled = buildGeneric(
          rewriter, loc, input, createEmpty(rewriter, loc, {batch, width}, f32),
          {first, bd2}, parallelIterators(2),
          [](OpBuilder &nb, Location l, ValueRange args) {
            linalg::YieldOp::create(nb, l, args[0]);
          });
    } else {
      // sum[b, d] = sum_{s < n_b} input[b, s, d]; iteration space (b, d, s).
      AffineExpr s3 = getAffineDimExpr(2, ctx);
      AffineExpr b3 = getAffineDimExpr(0, ctx), d3 = getAffineDimExpr(1, ctx);
      SmallVector<Value> ins{input};
      SmallVector<AffineMap> maps{AffineMap::get(3, 0, {b3, s3, d3}, ctx)};
      if (lengths) {
        ins.push_back(lengths);
        maps.push_back(AffineMap::get(3, 0, {b3}, ctx));
      }
      maps.push_back(AffineMap::get(3, 0, {b3, d3}, ctx));
      Value sum = buildGeneric(
          rewriter, loc, ins, createFilled(rewriter, loc, {batch, width}, 0.0),
          maps,
          {IteratorType::parallel, IteratorType::parallel,
           IteratorType::reduction},
          [&](OpBuilder &nb, Location l, ValueRange args) {
            Value x = args[0];
            if (lengths) {
              Value pos = arith::IndexCastOp::create(
                  nb, l, i32, linalg::IndexOp::create(nb, l, 2));
              Value valid = arith::CmpIOp::create(
                  nb, l, arith::CmpIPredicate::slt, pos,
                  validCount(nb, l, args[1]));
              x = arith::SelectOp::create(nb, l, valid, x, f32Const(nb, l, 0.0));
            }
            linalg::YieldOp::create(
                nb, l, arith::AddFOp::create(nb, l, args.back(), x).getResult());
          });
      // Divide by max(n_b, 1): an empty item stays zero.
      SmallVector<Value> meanIns{sum};
      SmallVector<AffineMap> meanMaps{bd2};
      if (lengths) {
        meanIns.push_back(lengths);
        meanMaps.push_back(item2);
      }
      meanMaps.push_back(bd2);
      pooled = buildGeneric(
          rewriter, loc, meanIns,
          createEmpty(rewriter, loc, {batch, width}, f32), meanMaps,
          parallelIterators(2), [&](OpBuilder &nb, Location l, ValueRange args) {
            Value count = f32Const(nb, l, double(seq));
            if (lengths) {
              Value one = arith::ConstantIntOp::create(nb, l, i32, 1);
              Value n = arith::MaxSIOp::create(nb, l, validCount(nb, l, args[1]),
                                               one);
              count = arith::SIToFPOp::create(nb, l, f32, n);
            }
            linalg::YieldOp::create(
                nb, l, arith::DivFOp::create(nb, l, args[0], count).getResult());
          });
    }

    if (op.getNormalize()) {
      Value squares = buildGeneric(
          rewriter, loc, pooled, createFilled(rewriter, loc, {batch}, 0.0),
          {bd2, item2}, {IteratorType::parallel, IteratorType::reduction},
          [](OpBuilder &nb, Location l, ValueRange args) {
            Value sq = arith::MulFOp::create(nb, l, args[0], args[0]);
            linalg::YieldOp::create(
                nb, l, arith::AddFOp::create(nb, l, args[1], sq).getResult());
          });
      double epsilon = op.getEpsilon().convertToDouble();
      pooled = buildGeneric(
          rewriter, loc, {pooled, squares},
          createEmpty(rewriter, loc, {batch, width}, f32), {bd2, item2, bd2},
          parallelIterators(2), [&](OpBuilder &nb, Location l, ValueRange args) {
            Value norm = math::SqrtOp::create(nb, l, args[1]);
            Value denom =
                arith::MaximumFOp::create(nb, l, norm, f32Const(nb, l, epsilon));
            linalg::YieldOp::create(
                nb, l, arith::DivFOp::create(nb, l, args[0], denom).getResult());
          });
    }
    rewriter.replaceOp(op, pooled);
    return success();
  }
};

/// Transformer-XL's attention as batched contractions that
/// xf-cpu-tile-and-vectorize turns into register-tiled vector code
/// (docs/transformer-xl.md, "Kernel structure"):
///
///   Rᵀ[c, p]          sinusoid of distance Sk - 1 - p (sine rows, then
///                     cosine rows), shared by every layer of the same size
///   Pᵀ[n, p]        = W_kR Rᵀ                            (GEMM)
///   QU, QV          = q + u, q + v, heads leading         [B, H, Sq, Dh]
///   Kᵀ              = k with heads leading, keys last     [B, H, Dh, Sk]
///   content[b,h,i,j] = QU Kᵀ                              (batched GEMM)
///   pos[h, b Sq + i, p] = QV Pᵀ over Np = Sk + Sq - 1 rows of Pᵀ, the rows
///                     past Sk zero                         (batched GEMM)
///   logits[b,h,i,j] = scale (content[b,h,i,j] + pos[h, b Sq + i, Sq-1-i+j])
///                     masked, written over content
///   masked softmax, P V
///
/// The relative shift is the affine index map of pos in the combining
/// step: row Sq - 1 - i + j of Pᵀ is the distance M + i - j. It leaves Sk
/// only where j > M + i, i.e. where the causal mask discards the logit, so
/// the zero rows past Sk make every read in bounds without a clamp. The
/// contractions' key dimensions are padded to whole register tiles (the
/// tiler leaves a ragged rest to scalar code), with zero keys and zero
/// rows that the combining step never reads.
struct LowerRelativeAttention : public OpRewritePattern<RelativeAttentionOp> {
  LowerRelativeAttention(MLIRContext *ctx, AttentionTestFault fault)
      : OpRewritePattern(ctx), fault(fault) {}
  /// drop-mask drops both masks; causal-off-by-one lets query i see one
  /// key past M + i; permute-heads reverses the shift (row L - 1 + i - j),
  /// a plausible misreading of the relative shift.
  AttentionTestFault fault;

  /// Register tiles are 3 vectors wide (24 floats with AVX2, 48 with
  /// AVX-512, 12 with SSE): padding the n dimensions to a multiple of 48
  /// makes every tile a full one for all three.
  static constexpr int64_t kTileMultiple = 48;
  static int64_t padToTiles(int64_t n) {
    return (n + kTileMultiple - 1) / kTileMultiple * kTileMultiple;
  }

  LogicalResult matchAndRewrite(RelativeAttentionOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    Type f32 = rewriter.getF32Type();
    int64_t heads = op.getNumHeads();
    Value q = splitHeads(rewriter, loc, op.getQuery(), heads);
    Value k = splitHeads(rewriter, loc, op.getKey(), heads);
    Value v = splitHeads(rewriter, loc, op.getValue(), heads);
    ArrayRef<int64_t> qShape = shapeOf(q), kShape = shapeOf(k),
                      vShape = shapeOf(v);
    int64_t batch = qShape[0], sq = qShape[1], sk = kShape[1];
    int64_t headDim = qShape[3], dv = vShape[3];
    int64_t memory = sk - sq;
    ArrayRef<int64_t> wShape = shapeOf(op.getPositionWeight());
    int64_t width = wShape[1], half = width / 2;
    // Keys of the content contraction, and rows of Pᵀ the shifted reads
    // reach (Sq - 1 - i + j <= Sq + Sk - 2), each padded to whole tiles.
    int64_t skPad = padToTiles(sk), npPad = padToTiles(sk + sq - 1);
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    auto map = [&](unsigned dims, ArrayRef<AffineExpr> exprs) {
      return AffineMap::get(dims, 0, exprs, ctx);
    };
    using IT = IteratorType;
    auto index = [&](OpBuilder &b, Location l, int64_t x) -> Value {
      return arith::ConstantIndexOp::create(b, l, x);
    };
    SmallVector<OpFoldResult> unitStrides2(2, rewriter.getIndexAttr(1));
    auto attr = [&](int64_t x) -> OpFoldResult {
      return rewriter.getIndexAttr(x);
    };

    // Rᵀ[c, p] = sin / cos(distance / 10000^(2k / Dp)), distance
    // Sk - 1 - p, k = c mod Dp/2: the divisors once per frequency, then the
    // sine rows and the cosine rows (one function per element each).
    Value divisors = buildGeneric(
        rewriter, loc, ValueRange(),
        createEmpty(rewriter, loc, {half}, rewriter.getF64Type()),
        {AffineMap::getMultiDimIdentityMap(1, ctx)}, parallelIterators(1),
        [&](OpBuilder &b, Location l, ValueRange) {
          Value k = linalg::IndexOp::create(b, l, 0);
          Value two = index(b, l, 2);
          Value twoK = arith::IndexCastOp::create(
              b, l, b.getI64Type(), arith::MulIOp::create(b, l, k, two));
          linalg::YieldOp::create(
              b, l,
              buildSinusoidDivisor(b, l, twoK, static_cast<double>(width)));
        });
    Value rT = createEmpty(rewriter, loc, {width, sk}, f32);
    for (bool cosine : {false, true}) {
      SmallVector<OpFoldResult> offsets{attr(cosine ? half : 0), attr(0)};
      SmallVector<OpFoldResult> sizes{attr(half), attr(sk)};
      Value rows = tensor::ExtractSliceOp::create(rewriter, loc, rT, offsets,
                                                  sizes, unitStrides2);
      rows = buildGeneric(
          rewriter, loc, divisors, rows,
          {map(2, {d(0)}), AffineMap::getMultiDimIdentityMap(2, ctx)},
          parallelIterators(2), [&](OpBuilder &b, Location l, ValueRange args) {
            Value p = linalg::IndexOp::create(b, l, 1);
            Value distance = arith::IndexCastOp::create(
                b, l, b.getI64Type(),
                arith::SubIOp::create(b, l, index(b, l, sk - 1), p));
            Value useCos =
                arith::ConstantIntOp::create(b, l, b.getI1Type(), cosine);
            linalg::YieldOp::create(
                b, l, buildSinusoid(b, l, distance, args[0], useCos));
          });
      rT = tensor::InsertSliceOp::create(rewriter, loc, rows, rT, offsets,
                                         sizes, unitStrides2);
    }

    // Pᵀ[n, p] = sum_c W_kR[n, c] Rᵀ[c, p], then into the zero-padded
    // [H, Dh, Np] the shifted reads index.
    Value posT = createFilled(rewriter, loc, {heads * headDim, sk}, 0.0);
    // Loops (n, c, p): the reduction outside the contiguous output
    // dimension, the form xf-cpu-tile-and-vectorize turns into outer
    // products (as the [K, N] linear); likewise below.
    posT = buildGeneric(rewriter, loc, {op.getPositionWeight(), rT}, posT,
                        {map(3, {d(0), d(1)}), map(3, {d(1), d(2)}),
                         map(3, {d(0), d(2)})},
                        {IT::parallel, IT::reduction, IT::parallel},
                        multiplyAccumulate(/*reassociate=*/false));
    Value posPad = createFilled(rewriter, loc, {heads * headDim, npPad}, 0.0);
    posPad = tensor::InsertSliceOp::create(
        rewriter, loc, posT, posPad, SmallVector<OpFoldResult>{attr(0), attr(0)},
        SmallVector<OpFoldResult>{attr(heads * headDim), attr(sk)},
        unitStrides2);
    Value posHeads = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get({heads, headDim, npPad}, f32),
        posPad, SmallVector<ReassociationIndices>{{0, 1}, {2}});

    // (q + bias), heads leading: [B, H, Sq, Dh], or [H, B, Sq, Dh] when
    // `headsFirst` (so B and Sq collapse into the m dimension of the
    // position contraction, whose Pᵀ has no batch).
    auto biasedQuery = [&](Value bias, bool headsFirst) {
      SmallVector<int64_t> shape =
          headsFirst ? SmallVector<int64_t>{heads, batch, sq, headDim}
                     : SmallVector<int64_t>{batch, heads, sq, headDim};
      // Loops (b, h, i, e) or (h, b, i, e).
      unsigned bDim = headsFirst ? 1 : 0, hDim = headsFirst ? 0 : 1;
      return buildGeneric(
          rewriter, loc, {q, bias}, createEmpty(rewriter, loc, shape, f32),
          {map(4, {d(bDim), d(2), d(hDim), d(3)}), map(4, {d(hDim), d(3)}),
           AffineMap::getMultiDimIdentityMap(4, ctx)},
          parallelIterators(4), [](OpBuilder &b, Location l, ValueRange args) {
            linalg::YieldOp::create(
                b, l, arith::AddFOp::create(b, l, args[0], args[1]).getResult());
          });
    };
    Value qu = biasedQuery(op.getContentBias(), /*headsFirst=*/false);
    Value qv = biasedQuery(op.getPositionBias(), /*headsFirst=*/true);
    qv = tensor::CollapseShapeOp::create(
        rewriter, loc, qv, SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}});

    // Kᵀ[b, h, e, j], keys past Sk zero.
    Value kT = createFilled(rewriter, loc, {batch, heads, headDim, skPad}, 0.0);
    {
      SmallVector<OpFoldResult> offsets(4, attr(0));
      SmallVector<OpFoldResult> sizes{attr(batch), attr(heads), attr(headDim),
                                      attr(sk)};
      SmallVector<OpFoldResult> strides(4, attr(1));
      Value keys = tensor::ExtractSliceOp::create(rewriter, loc, kT, offsets,
                                                  sizes, strides);
      keys = buildGeneric(
          rewriter, loc, k, keys,
          {map(4, {d(0), d(3), d(1), d(2)}),
           AffineMap::getMultiDimIdentityMap(4, ctx)},
          parallelIterators(4), [](OpBuilder &b, Location l, ValueRange args) {
            linalg::YieldOp::create(b, l, args[0]);
          });
      kT = tensor::InsertSliceOp::create(rewriter, loc, keys, kT, offsets,
                                         sizes, strides);
    }

    // content[b, h, i, j] = sum_e QU[b, h, i, e] Kᵀ[b, h, e, j].
    Value content =
        createFilled(rewriter, loc, {batch, heads, sq, skPad}, 0.0);
    // Loops (b, h, i, e, j).
    content = buildGeneric(
        rewriter, loc, {qu, kT}, content,
        {map(5, {d(0), d(1), d(2), d(3)}), map(5, {d(0), d(1), d(3), d(4)}),
         map(5, {d(0), d(1), d(2), d(4)})},
        {IT::parallel, IT::parallel, IT::parallel, IT::reduction,
         IT::parallel},
        multiplyAccumulate(/*reassociate=*/false));
    // pos[h, m, p] = sum_e QV[h, m, e] Pᵀ[h, e, p], m = b Sq + i.
    Value position =
        createFilled(rewriter, loc, {heads, batch * sq, npPad}, 0.0);
    // Loops (h, m, e, p).
    position = buildGeneric(
        rewriter, loc, {qv, posHeads}, position,
        {map(4, {d(0), d(1), d(2)}), map(4, {d(0), d(2), d(3)}),
         map(4, {d(0), d(1), d(3)})},
        {IT::parallel, IT::parallel, IT::reduction, IT::parallel},
        multiplyAccumulate(/*reassociate=*/false));

    // logits = scale * (content + shifted position), masked: causal over
    // the extended context (j > Mk + i) and unfilled memory
    // (j < Mk - memory_lengths[b]); over the first Sk keys of content.
    SmallVector<OpFoldResult> offsets(4, attr(0));
    SmallVector<OpFoldResult> sizes{attr(batch), attr(heads), attr(sq),
                                    attr(sk)};
    SmallVector<OpFoldResult> strides(4, attr(1));
    Value logits = tensor::ExtractSliceOp::create(rewriter, loc, content,
                                                  offsets, sizes, strides);
    bool reversed = fault == AttentionTestFault::PermuteHeads;
    double scale = op.getScale().convertToDouble();
    Value lengths = op.getMemoryLengths();
    SmallVector<Value> inputs;
    SmallVector<AffineMap> maps;
    if (!reversed) {
      // The relative shift: row Sq - 1 - i + j of b's query i.
      inputs.push_back(position);
      maps.push_back(map(4, {d(1), d(0) * sq + d(2), d(3) - d(2) + (sq - 1)}));
    }
    if (lengths) {
      inputs.push_back(lengths);
      maps.push_back(map(4, {d(0)}));
    }
    maps.push_back(AffineMap::getMultiDimIdentityMap(4, ctx));
    logits = buildGeneric(
        rewriter, loc, inputs, logits, maps, parallelIterators(4),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value bIdx = linalg::IndexOp::create(b, l, 0);
          Value i = linalg::IndexOp::create(b, l, 2);
          Value j = linalg::IndexOp::create(b, l, 3);
          Value shifted = reversed ? Value() : args[0];
          if (reversed) {
            // The fault: row Sq - 1 + i - j, clamped into the tensor.
            Value h = linalg::IndexOp::create(b, l, 1);
            Value row = arith::SubIOp::create(
                b, l, arith::AddIOp::create(b, l, index(b, l, sq - 1), i), j);
            row = arith::MaxSIOp::create(b, l, row, index(b, l, 0));
            Value m = arith::AddIOp::create(
                b, l, arith::MulIOp::create(b, l, bIdx, index(b, l, sq)), i);
            shifted = tensor::ExtractOp::create(b, l, position,
                                                ValueRange{h, m, row});
          }
          Value sum = arith::AddFOp::create(b, l, args.back(), shifted);
          Value x = arith::MulFOp::create(b, l, sum, f32Const(b, l, scale));
          int64_t limit =
              memory + (fault == AttentionTestFault::CausalOffByOne ? 1 : 0);
          Value masked = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::sgt, j,
              arith::AddIOp::create(b, l, i, index(b, l, limit)));
          if (fault == AttentionTestFault::DropMask)
            masked = arith::ConstantIntOp::create(b, l, b.getI1Type(), 0);
          else if (lengths) {
            Value filled = arith::IndexCastOp::create(b, l, b.getIndexType(),
                                                      args[args.size() - 2]);
            Value first =
                arith::SubIOp::create(b, l, index(b, l, memory), filled);
            masked = arith::OrIOp::create(
                b, l, masked,
                arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, j,
                                      first));
          }
          linalg::YieldOp::create(
              b, l,
              arith::SelectOp::create(b, l, masked, negInf(b, l), x)
                  .getResult());
        });

    Value probs = buildMaskedSoftmaxInPlace(rewriter, loc, logits);

    // out[b, i, h, e] = sum_j p[b, h, i, j] * v[b, j, h, e].
    Value out = createFilled(rewriter, loc, {batch, sq, heads, dv}, 0.0);
    out = buildGeneric(
        rewriter, loc, {probs, v}, out,
        {map(5, {d(0), d(2), d(1), d(3)}), map(5, {d(0), d(3), d(2), d(4)}),
         map(5, {d(0), d(1), d(2), d(4)})},
        {IT::parallel, IT::parallel, IT::parallel, IT::reduction, IT::parallel},
        multiplyAccumulate(/*reassociate=*/false));
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(
        op, op.getResult().getType(), out,
        SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

struct ConvertXFToLinalgPass
    : public xf::impl::ConvertXFToLinalgBase<ConvertXFToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    AttentionTestFault fault = AttentionTestFault::None;
    if (testFault == "drop-mask")
      fault = AttentionTestFault::DropMask;
    else if (testFault == "causal-off-by-one")
      fault = AttentionTestFault::CausalOffByOne;
    else if (testFault == "permute-heads")
      fault = AttentionTestFault::PermuteHeads;
    else if (!testFault.empty()) {
      getOperation()->emitError()
          << "convert-xf-to-linalg: unknown test-fault '" << testFault
          << "' (expected drop-mask, causal-off-by-one or permute-heads)";
      return signalPassFailure();
    }
    // A malformed kernel choice is reported once, here, rather than as a
    // failure to legalize.
    WalkResult checked = getOperation()->walk([](AttentionOp op) {
      return failed(getAttentionKernel(op)) ? WalkResult::interrupt()
                                            : WalkResult::advance();
    });
    if (checked.wasInterrupted())
      return signalPassFailure();
    ConversionTarget target(getContext());
    target.addIllegalDialect<XFDialect>();
    target.addLegalDialect<linalg::LinalgDialect, tensor::TensorDialect,
                           arith::ArithDialect, math::MathDialect,
                           scf::SCFDialect, func::FuncDialect>();
    // Linear attention's scratch tiles and state (LinearAttention.cpp).
    target.addLegalDialect<bufferization::BufferizationDialect>();
    RewritePatternSet patterns(&getContext());
    populateXFToLinalgPatterns(patterns, fault);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::xf::populateXFToLinalgPatterns(RewritePatternSet &patterns,
                                          AttentionTestFault fault) {
  patterns.add<LowerAdd, LowerActivation, LowerSoftmax, LowerLayerNorm,
               LowerLinear, LowerSplit, LowerEmbedding, LowerPositionalEncoding,
               LowerSequenceConcat, LowerSequenceSlice, LowerSentencePool,
               LowerCacheWrite>(patterns.getContext());
  patterns.add<LowerAttention, LowerRelativeAttention>(patterns.getContext(),
                                                       fault);
  populateLinformerProjectionPatterns(patterns);
}
