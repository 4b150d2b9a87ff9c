//===- AttentionMask.cpp - Pattern masks as generated code ------*- C++ -*-===//
//
// Part of xfc. See AttentionMask.h. Parts with a closed form (windows,
// strides, the fixed pattern) become a few index comparisons; parts defined
// by a list (global tokens) or by a block matrix (BigBird, block-sparse)
// read a constant i8 table, one entry per position or per block pair.
//
//===----------------------------------------------------------------------===//
#include "AttentionMask.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::xf;

namespace {

using Kind = PatternPart::Kind;

/// Global-token lists up to this length are compared position by position;
/// longer ones read a per-position table.
constexpr size_t kMaxComparedGlobals = 8;

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

Value constantI8Table(OpBuilder &b, Location loc,
                      const std::vector<int8_t> &values) {
  auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                    b.getI8Type());
  return arith::ConstantOp::create(
      b, loc, type, DenseElementsAttr::get(type, ArrayRef<int8_t>(values)));
}

/// Index arithmetic at one builder and location.
struct IndexOps {
  OpBuilder &b;
  Location loc;
  Value c(int64_t v) const { return arith::ConstantIndexOp::create(b, loc, v); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) const {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value andI(Value x, Value y) const {
    return arith::AndIOp::create(b, loc, x, y);
  }
  Value orI(Value x, Value y) const {
    return x ? arith::OrIOp::create(b, loc, x, y).getResult() : y;
  }
  Value sub(Value x, Value y) const {
    return arith::SubIOp::create(b, loc, x, y);
  }
  Value add(Value x, Value y) const {
    return arith::AddIOp::create(b, loc, x, y);
  }
  Value mul(Value x, Value y) const {
    return arith::MulIOp::create(b, loc, x, y);
  }
  /// Quotient and remainder of non-negative values.
  Value div(Value x, int64_t y) const {
    return arith::DivUIOp::create(b, loc, x, c(y));
  }
  Value rem(Value x, int64_t y) const {
    return arith::RemUIOp::create(b, loc, x, c(y));
  }
  Value isTrue() const {
    return arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
  }
  /// table[index] != 0.
  Value lookup(Value table, Value index) const {
    Value entry = tensor::ExtractOp::create(b, loc, table, index);
    Value zero = arith::ConstantIntOp::create(b, loc, b.getI8Type(), 0);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, entry, zero);
  }
};

} // namespace

PatternMask::PatternMask(OpBuilder &b, Location loc,
                         const AttentionPattern &pattern)
    : pattern(pattern) {
  const std::vector<PatternPart> &parts = pattern.parts();
  tables.resize(parts.size());
  int64_t sq = pattern.queryLen(), sk = pattern.keyLen();
  for (size_t p = 0; p < parts.size(); ++p) {
    const PatternPart &part = parts[p];
    switch (part.kind) {
    case Kind::GlobalTokens: {
      if (part.global.size() <= kMaxComparedGlobals)
        break;
      std::vector<int8_t> isGlobal(std::max(sq, sk), 0);
      for (int64_t g : part.global)
        isGlobal[g] = 1;
      tables[p] = constantI8Table(b, loc, isGlobal);
      break;
    }
    case Kind::BigBird:
    case Kind::BlockSparse: {
      // Both are constant on b x b blocks: the pattern of this part alone,
      // sampled at each block's first element, is the block matrix
      // (BigBird's random blocks included).
      AttentionPattern alone({part}, sq, sk);
      int64_t rows = ceilDiv(sq, part.width), cols = ceilDiv(sk, part.width);
      std::vector<int8_t> blocks(rows * cols, 0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
          blocks[r * cols + c] =
              alone.allows(r * part.width, c * part.width) ? 1 : 0;
      tables[p] = constantI8Table(b, loc, blocks);
      break;
    }
    default:
      break;
    }
  }
}

Value PatternMask::allows(OpBuilder &b, Location loc, Value i, Value j) const {
  IndexOps x{b, loc};
  using P = arith::CmpIPredicate;
  Value any;
  for (auto [p, part] : llvm::enumerate(pattern.parts())) {
    // i - j, and j <= i, the building blocks of most parts.
    Value diff = x.sub(i, j);
    Value notAfter = x.cmp(P::sle, j, i);
    Value allowed;
    switch (part.kind) {
    case Kind::Dense:
      return x.isTrue();
    case Kind::Causal:
      allowed = notAfter;
      break;
    case Kind::SlidingWindow:
      if (part.causal)
        allowed = x.andI(notAfter, x.cmp(P::sle, diff, x.c(part.width)));
      else
        allowed = x.andI(x.cmp(P::sle, diff, x.c(part.width / 2)),
                         x.cmp(P::sge, diff, x.c(-part.width / 2)));
      break;
    case Kind::DilatedSlidingWindow: {
      int64_t reach = (part.width / 2) * part.dilation;
      // |i - j| mod d == 0 is (i mod d) == (j mod d) for i, j >= 0.
      allowed = x.andI(
          x.andI(x.cmp(P::sle, diff, x.c(reach)),
                 x.cmp(P::sge, diff, x.c(-reach))),
          x.cmp(P::eq, x.rem(i, part.dilation), x.rem(j, part.dilation)));
      break;
    }
    case Kind::GlobalTokens:
      if (tables[p]) {
        allowed = x.orI(x.lookup(tables[p], i), x.lookup(tables[p], j));
        break;
      }
      for (int64_t g : part.global)
        allowed = x.orI(
            allowed, x.orI(x.cmp(P::eq, i, x.c(g)), x.cmp(P::eq, j, x.c(g))));
      break;
    case Kind::BigBird:
    case Kind::BlockSparse: {
      int64_t cols = ceilDiv(pattern.keyLen(), part.width);
      Value entry =
          x.add(x.mul(x.div(i, part.width), x.c(cols)), x.div(j, part.width));
      allowed = x.lookup(tables[p], entry);
      break;
    }
    case Kind::StridedLocal:
      allowed = x.andI(notAfter, x.cmp(P::sle, diff, x.c(part.width)));
      break;
    case Kind::StridedSummary:
      allowed = x.andI(
          notAfter, x.cmp(P::eq, x.rem(i, part.width), x.rem(j, part.width)));
      break;
    case Kind::FixedLocal:
      allowed = x.andI(
          notAfter, x.cmp(P::eq, x.div(i, part.width), x.div(j, part.width)));
      break;
    case Kind::FixedSummary:
      allowed = x.andI(notAfter, x.cmp(P::sge, x.rem(j, part.width),
                                       x.c(part.width - part.summary)));
      break;
    }
    any = x.orI(any, allowed);
  }
  return any;
}
