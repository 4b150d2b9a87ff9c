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
      // Both are constant on b x b blocks: the pattern's own block matrix
      // (BigBird's random blocks included).
      const std::vector<uint8_t> &blocks = pattern.blockTable(p);
      tables[p] = constantI8Table(
          b, loc, std::vector<int8_t>(blocks.begin(), blocks.end()));
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
  // Each operand is created in its own statement: C++ leaves the order of
  // evaluation of call arguments open, and the IR must not depend on the
  // host compiler.
  auto between = [&](Value v, int64_t lo, int64_t hi) {
    Value aboveLo = x.cmp(P::sge, v, x.c(lo));
    Value belowHi = x.cmp(P::sle, v, x.c(hi));
    return x.andI(aboveLo, belowHi);
  };
  auto sameRemainder = [&](int64_t m) {
    Value ri = x.rem(i, m);
    Value rj = x.rem(j, m);
    return x.cmp(P::eq, ri, rj);
  };
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
      allowed = part.causal ? between(diff, 0, part.width)
                            : between(diff, -part.width / 2, part.width / 2);
      break;
    case Kind::DilatedSlidingWindow: {
      int64_t reach = (part.width / 2) * part.dilation;
      // |i - j| mod d == 0 is (i mod d) == (j mod d) for i, j >= 0.
      Value inReach = between(diff, -reach, reach);
      allowed = x.andI(inReach, sameRemainder(part.dilation));
      break;
    }
    case Kind::GlobalTokens:
      if (tables[p]) {
        Value rowGlobal = x.lookup(tables[p], i);
        Value colGlobal = x.lookup(tables[p], j);
        allowed = x.orI(rowGlobal, colGlobal);
        break;
      }
      for (int64_t g : part.global) {
        Value rowIs = x.cmp(P::eq, i, x.c(g));
        Value colIs = x.cmp(P::eq, j, x.c(g));
        allowed = x.orI(allowed, x.orI(rowIs, colIs));
      }
      break;
    case Kind::BigBird:
    case Kind::BlockSparse: {
      int64_t cols = ceilDiv(pattern.keyLen(), part.width);
      Value row = x.div(i, part.width);
      Value rowStart = x.mul(row, x.c(cols));
      Value col = x.div(j, part.width);
      allowed = x.lookup(tables[p], x.add(rowStart, col));
      break;
    }
    case Kind::StridedLocal:
      allowed = between(diff, 0, part.width);
      break;
    case Kind::StridedSummary:
      allowed = x.andI(notAfter, sameRemainder(part.width));
      break;
    case Kind::FixedLocal: {
      Value qBlock = x.div(i, part.width);
      Value kBlock = x.div(j, part.width);
      allowed = x.andI(notAfter, x.cmp(P::eq, qBlock, kBlock));
      break;
    }
    case Kind::FixedSummary: {
      Value offset = x.rem(j, part.width);
      Value threshold = x.c(part.width - part.summary);
      allowed = x.andI(notAfter, x.cmp(P::sge, offset, threshold));
      break;
    }
    }
    any = x.orI(any, allowed);
  }
  return any;
}
