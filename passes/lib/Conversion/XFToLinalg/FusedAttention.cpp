//===- FusedAttention.cpp - Tiled FlashAttention on tensors ----*- C++ -*-===//
//
// Part of xfc. Lowers an `xf.attention` op marked by xf-fuse-attention into
// one tiled kernel that never materializes the Sq x Sk scores: the online
// softmax of FlashAttention (arXiv 2205.14135, 2307.08691), described in
// docs/compiler.md ("Fused attention"):
//
//   scf.forall (b, h, qb) in (B, H, ceil(Sq/Bq)) shared_outs(out)
//     Q = scale * q[b, rows of qb, head h]              [Bq, D]
//     m = -inf, l = 0, o = 0                            [Bq], [Bq], [Bq, Dv]
//     scf.for kb in visited key blocks of qb (block map), bounded at run
//         time by ceil(key_lengths[b] / Bk)
//       S = Q K_kbᵀ                                      [Bq, Bk]
//       if the block needs a mask: S = -inf where not allowed
//       m' = max(m, rowmax S); m̂ = (m' == -inf ? 0 : m')
//       P = exp(S - m̂); a = exp(m - m̂)
//       l = l a + rowsum P; o = o a + P V_kb; m = m'
//     out[b, rows of qb, head h] = l > 0 ? o / l : 0
//
// A pattern part that is sparse inside every tile (a dilated window, the
// strided A2) may be gathered (xf/Analysis/AttentionGather.h): it then runs
// first, as a forall over (b, h, residue class, qb) on strided tiles in
// compressed indices, and, when it is one part of a union, leaves its
// (m, l, o) state for the forall of the other parts to continue from. The
// fixed A2 is gathered by key only: its summary keys are copied into a
// compact K and V first, and a forall over (b, h, qb) with contiguous
// queries visits the compact key tiles, masking j > i on original
// positions.
//
// Every tile shape is static, so later tiling and vectorization passes see
// fixed-size linalg ops. Where Sq or Sk is not a multiple of the block size
// the last block is shifted back to end at the sequence end instead of
// being padded: it overlaps the block before it, the overlapping keys are
// masked (they were already counted) and the overlapping query rows are
// not written. This reads K and V in place, without a padded copy per
// iteration, at the same wasted work as padding.
//
// Which key blocks are visited, and which need a mask, comes from the
// block map (xf/Analysis/BlockMap.h). Dense and causal maps have closed
// forms, emitted here as loop bounds and index comparisons; any map can be
// read from its CSR table instead (driver = "table", the path patterns
// without a closed form take). Key padding is dynamic and is added to both
// at run time.
//
// The loop carries m, l, o and three scratch tiles (scores, row maximum,
// rescaling factors), every op updating them in place, so one-shot
// bufferization gives each one buffer for the whole loop: a key-block step
// allocates and copies nothing.
//
//===----------------------------------------------------------------------===//
#include "FusedAttention.h"
#include "AttentionMask.h"

#include "xf/Analysis/AttentionGather.h"
#include "xf/Analysis/BlockMap.h"
#include "xf/Dialect/XF/XFOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

using namespace mlir;
using namespace mlir::xf;

namespace {

using utils::IteratorType;

//===----------------------------------------------------------------------===//
// Small builders
//===----------------------------------------------------------------------===//

/// Index and f32 arithmetic on one builder and location, so the kernel
/// below reads like the algorithm.
struct Emitter {
  OpBuilder &b;
  Location loc;

  Value idx(int64_t v) const {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  Value f32(double v) const {
    return arith::ConstantOp::create(b, loc, b.getF32Type(),
                                     b.getF32FloatAttr(v));
  }
  Value negInf() const { return f32(-std::numeric_limits<double>::infinity()); }
  Value add(Value x, Value y) const {
    return arith::AddIOp::create(b, loc, x, y);
  }
  Value sub(Value x, Value y) const {
    return arith::SubIOp::create(b, loc, x, y);
  }
  Value mul(Value x, Value y) const {
    return arith::MulIOp::create(b, loc, x, y);
  }
  Value min(Value x, Value y) const {
    return arith::MinSIOp::create(b, loc, x, y);
  }
  Value max(Value x, Value y) const {
    return arith::MaxSIOp::create(b, loc, x, y);
  }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) const {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value orI(Value x, Value y) const {
    if (!x)
      return y;
    return arith::OrIOp::create(b, loc, x, y);
  }
  Value empty(ArrayRef<int64_t> shape) const {
    return tensor::EmptyOp::create(b, loc, shape, b.getF32Type());
  }
  Value filled(ArrayRef<int64_t> shape, double v) const {
    return linalg::FillOp::create(b, loc, f32(v), empty(shape)).getResult(0);
  }
  /// A static [rows, cols] tile of the [B, S, H*D] tensor `x` at (batch,
  /// row, column), dropping the unit batch dimension; its rows are
  /// `rowStride` apart (a residue class of a gathered part).
  Value tile(Value x, Value batch, Value row, Value col, int64_t rows,
             int64_t cols, int64_t rowStride = 1) const {
    auto type = RankedTensorType::get({rows, cols}, b.getF32Type());
    SmallVector<OpFoldResult> offsets{batch, row, col};
    SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(rows),
                                    b.getIndexAttr(cols)};
    SmallVector<OpFoldResult> strides{b.getIndexAttr(1),
                                      b.getIndexAttr(rowStride),
                                      b.getIndexAttr(1)};
    return tensor::ExtractSliceOp::create(b, loc, type, x, offsets, sizes,
                                          strides);
  }
  /// A linalg.generic with the given results' inits.
  ValueRange
  generic(ValueRange inputs, ValueRange inits, ArrayRef<AffineMap> maps,
          ArrayRef<IteratorType> iterators,
          function_ref<void(OpBuilder &, Location, ValueRange)> body) const {
    return linalg::GenericOp::create(b, loc, TypeRange(inits), inputs, inits,
                                     maps, iterators, body)
        .getResults();
  }
};

/// m̂ = (m == -inf) ? 0 : m: the shift used in the exponentials, so a row
/// whose visited keys are all masked gives e^(-inf - 0) = 0, never
/// e^(-inf + inf) = NaN.
Value safeMax(OpBuilder &b, Location loc, Value m) {
  Emitter e{b, loc};
  Value isNegInf =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, m, e.negInf());
  return arith::SelectOp::create(b, loc, isNegInf, e.f32(0.0), m);
}

/// The flags of the contraction bodies: Q Kᵀ reduces over the innermost
/// loop, which LLVM may split into vector partial sums (`reassoc
/// contract`, as the unfused contractions); P V keeps the sequential sum
/// because its innermost loop is the parallel value dimension.
arith::FastMathFlagsAttr contractFlags(OpBuilder &b, bool reassociate) {
  return arith::FastMathFlagsAttr::get(
      b.getContext(), reassociate ? arith::FastMathFlags::reassoc |
                                        arith::FastMathFlags::contract
                                  : arith::FastMathFlags::none);
}

void multiplyAccumulate(OpBuilder &b, Location l, ValueRange args,
                        bool reassociate) {
  auto flags = contractFlags(b, reassociate);
  Value mul = arith::MulFOp::create(b, l, args[0], args[1], flags);
  linalg::YieldOp::create(
      b, l, arith::AddFOp::create(b, l, args[2], mul, flags).getResult());
}

//===----------------------------------------------------------------------===//
// The kernel
//===----------------------------------------------------------------------===//

/// Everything the kernel body needs about the problem, fixed at compile
/// time.
struct Problem {
  /// `heads` are the heads of this kernel: one head group of a pattern,
  /// starting at `headOffset` of `totalHeads`.
  int64_t batch, heads, headOffset, totalHeads, sq, sk, d, dv;
  int64_t bq, bk, numQueryBlocks, numKeyBlocks;
  double scale;
  bool causal;
  /// Test faults: mask j > i + 1 instead of j > i; write head h to H-1-h.
  bool causalOffByOne, permuteHeads;
  Value q, k, v, keyLengths;
  /// Visit the blocks listed in the block map's CSR table (constant
  /// tensors) instead of the closed-form bounds.
  const BlockMap *table = nullptr;
  /// The element predicate of a pattern (always table-driven), or null.
  /// In a gathered phase it is the part inside the class, on compressed
  /// indices.
  const PatternMask *patternMask = nullptr;

  /// A gathered phase (AttentionGather.h): rows and keys are compressed
  /// indices x of residue class r, original position r + stride x, with
  /// `stride` classes; the forall runs over classes [classFirst,
  /// classFirst + classCount), and `classBase` is r inside its body. The
  /// direct phase has stride 1 and no class.
  int64_t stride = 1, classFirst = 0, classCount = 1;
  Value classBase;
  /// The pairs the rest of the union computes, excluded from a gathered
  /// phase so none is counted twice (original positions), or null.
  const PatternMask *excludeMask = nullptr;
  /// A summary-key phase: K and V hold the fixed A2's summary keys (l, c)
  /// compacted, key y at original position keyPosition(y), and the phase
  /// refuses a key after the query (`summaryCausal`, off under the
  /// drop-mask fault). Queries are contiguous (stride 1).
  int64_t summaryPeriod = 0, summaryWidth = 0;
  bool summaryCausal = false;
  /// The online-softmax state [B, Sq, H*Dv] (o, not normalized) and
  /// [B, H, Sq] (m, l) a direct phase continues from, or null to start
  /// from m = -inf, l = 0, o = 0.
  Value oIn, mIn, lIn;
  /// A gathered phase followed by a direct one: write the state (into the
  /// forall's three shared outputs o, m, l) instead of the output.
  bool writeState = false;

  /// The row stride of a tile of `rows` rows: a one-row tile gets 1 (its
  /// stride is meaningless, and a unit dimension with a stride gets a
  /// different memref layout from bufferization than the one the
  /// rank-reduced slice expects).
  int64_t rowStride(int64_t rows) const { return rows == 1 ? 1 : stride; }

  /// The original position of compressed index `x`.
  Value position(Emitter &e, Value x) const {
    if (stride == 1)
      return x;
    return e.add(classBase, e.mul(x, e.idx(stride)));
  }

  /// The original position of key `y`: a summary key's, or position(y).
  Value keyPosition(Emitter &e, Value y) const {
    if (!summaryPeriod)
      return position(e, y);
    Value c = e.idx(summaryWidth);
    Value period = arith::DivUIOp::create(e.b, e.loc, y, c);
    Value offset = arith::RemUIOp::create(e.b, e.loc, y, c);
    return e.add(e.mul(period, e.idx(summaryPeriod)),
                 e.add(offset, e.idx(summaryPeriod - summaryWidth)));
  }

  /// Are keys at their original positions (no class, no compaction)?
  bool keysInPlace() const { return stride == 1 && !summaryPeriod; }
};

/// One step of the key-block loop: the new (m, l, o) from the old ones and
/// key block `kb`. `qStart` is the first row the tile computes, `qFirst`
/// the first row it owns (they differ in a shifted tail block), `len` the
/// clamped key length of this batch item (or null). `mapMask` is the block
/// map's "needs mask" flag of this block (i1) when the map is read from its
/// table; null for the closed form.
SmallVector<Value> buildKeyBlockStep(OpBuilder &b, Location loc,
                                     const Problem &p, Value batch, Value head,
                                     Value qTile, Value qStart, Value qFirst,
                                     Value len, Value kb, Value mapMask,
                                     ValueRange carried) {
  Emitter e{b, loc};
  MLIRContext *ctx = b.getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  Value m = carried[0], l = carried[1], o = carried[2];
  // Scratch tiles carried through the loop (see buildQueryBlock).
  Value sScratch = carried[3], maxScratch = carried[4],
        alphaScratch = carried[5];

  // The tile's first key: kb Bk, or Sk - Bk for a shifted tail block.
  Value kFirst = e.mul(kb, e.idx(p.bk));
  bool ragged = p.sk % p.bk != 0;
  Value kStart = ragged ? e.min(kFirst, e.idx(p.sk - p.bk)) : kFirst;
  Value kRow = p.position(e, kStart);
  Value kTile =
      e.tile(p.k, batch, kRow, e.mul(head, e.idx(p.d)), p.bk, p.d,
             p.rowStride(p.bk));
  Value vTile = e.tile(p.v, batch, kRow, e.mul(head, e.idx(p.dv)), p.bk,
                       p.dv, p.rowStride(p.bk));

  // S = Q Kᵀ over (i, j, c), the reduction innermost and contiguous in
  // both tiles.
  auto fill = [&](Value dest, double v) {
    return linalg::FillOp::create(b, loc, e.f32(v), dest).getResult(0);
  };
  Value s = e.generic(
      {qTile, kTile}, fill(sScratch, 0.0),
      {AffineMap::get(3, 0, {d(0), d(2)}, ctx),
       AffineMap::get(3, 0, {d(1), d(2)}, ctx),
       AffineMap::get(3, 0, {d(0), d(1)}, ctx)},
      {IteratorType::parallel, IteratorType::parallel, IteratorType::reduction},
      [](OpBuilder &nb, Location l, ValueRange args) {
        multiplyAccumulate(nb, l, args, /*reassociate=*/true);
      })[0];

  // Does this block need the in-block mask? The block map's closed form
  // (the shifted tail; causal blocks the diagonal crosses: their last key
  // is after the first owned row) or key padding (the block reaches past
  // key_lengths[b]).
  Value kEndStatic = e.add(kFirst, e.idx(p.bk));
  Value needsMask = mapMask;
  if (!mapMask && ragged)
    needsMask = e.cmp(arith::CmpIPredicate::sgt, kEndStatic, e.idx(p.sk));
  if (!mapMask && p.causal)
    needsMask = e.orI(needsMask, e.cmp(arith::CmpIPredicate::sgt,
                                       e.sub(kEndStatic, e.idx(1)), qFirst));
  // Key padding: the block's last key (at its original position) is at or
  // past key_lengths[b].
  if (len && p.keysInPlace())
    needsMask =
        e.orI(needsMask, e.cmp(arith::CmpIPredicate::sgt, kEndStatic, len));
  else if (len)
    needsMask = e.orI(
        needsMask, e.cmp(arith::CmpIPredicate::sge,
                         p.keyPosition(e, e.sub(kEndStatic, e.idx(1))), len));
  // Without an element condition there is nothing to mask (a table flag
  // can only be set where one of the conditions below applies).
  if (!ragged && !p.causal && !len && !p.patternMask && !p.excludeMask &&
      !p.summaryCausal)
    needsMask = Value();
  if (needsMask) {
    auto ifOp = scf::IfOp::create(b, loc, TypeRange{s.getType()}, needsMask,
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    // In place on S: -inf where key j may not be seen by query i.
    Value masked = e.generic(
        {}, s, AffineMap::getMultiDimIdentityMap(2, ctx),
        {IteratorType::parallel, IteratorType::parallel},
        [&](OpBuilder &nb, Location l, ValueRange args) {
          Emitter ne{nb, l};
          Value i = ne.add(qStart, linalg::IndexOp::create(nb, l, 0));
          Value j = ne.add(kStart, linalg::IndexOp::create(nb, l, 1));
          Value bad;
          if (ragged) // Counted already by the block before.
            bad = ne.cmp(arith::CmpIPredicate::slt, j, kFirst);
          if (p.causal) {
            Value last = p.causalOffByOne ? ne.add(i, ne.idx(1)) : i;
            bad = ne.orI(bad, ne.cmp(arith::CmpIPredicate::sgt, j, last));
          }
          // Key padding and the rest of a union read original
          // positions; the pattern mask reads i and j as they are
          // (compressed in a gathered phase).
          Value jPos = len || p.excludeMask || p.summaryCausal
                           ? p.keyPosition(ne, j)
                           : Value();
          if (len)
            bad = ne.orI(bad, ne.cmp(arith::CmpIPredicate::sge, jPos, len));
          if (p.patternMask) {
            Value allowed = p.patternMask->allows(nb, l, i, j);
            Value isTrue =
                arith::ConstantIntOp::create(nb, l, nb.getI1Type(), 1);
            bad = ne.orI(bad, arith::XOrIOp::create(nb, l, allowed, isTrue));
          }
          Value iPos =
              p.excludeMask || p.summaryCausal ? p.position(ne, i) : Value();
          if (p.summaryCausal)
            bad = ne.orI(bad, ne.cmp(arith::CmpIPredicate::sgt, jPos, iPos));
          if (p.excludeMask)
            bad = ne.orI(bad, p.excludeMask->allows(nb, l, iPos, jPos));
          linalg::YieldOp::create(
              nb, l,
              arith::SelectOp::create(nb, l, bad, ne.negInf(), args[0])
                  .getResult());
        })[0];
    scf::YieldOp::create(b, loc, masked);
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, loc, s);
    s = ifOp.getResult(0);
  }

  AffineMap full = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap row = AffineMap::get(2, 0, {d(0)}, ctx);
  AffineMap row1 = AffineMap::getMultiDimIdentityMap(1, ctx);
  SmallVector<IteratorType> rowReduction{IteratorType::parallel,
                                         IteratorType::reduction};
  SmallVector<IteratorType> parallel2(2, IteratorType::parallel);

  // rowmax S, then in one pass over the rows, in place on m and l (so the
  // loop-carried buffers stay the same across iterations):
  // m' = max(m, rowmax S); a = e^(m - m̂) rescales what was accumulated
  // under the old maximum; l·a starts the new row sum.
  Value rowMax = e.generic(
      {s}, fill(maxScratch, -std::numeric_limits<double>::infinity()),
      {full, row}, rowReduction,
      [](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(
            nb, l,
            arith::MaximumFOp::create(nb, l, args[1], args[0]).getResult());
      })[0];
  ValueRange rowUpdate = e.generic(
      {rowMax}, {alphaScratch, m, l}, {row1, row1, row1, row1},
      {IteratorType::parallel}, [](OpBuilder &nb, Location l, ValueRange args) {
        Value oldMax = args[2];
        Value newMax = arith::MaximumFOp::create(nb, l, oldMax, args[0]);
        Value alpha = math::ExpOp::create(
            nb, l,
            arith::SubFOp::create(nb, l, oldMax, safeMax(nb, l, newMax)));
        Value scaled = arith::MulFOp::create(nb, l, args[3], alpha);
        linalg::YieldOp::create(nb, l, ValueRange{alpha, newMax, scaled});
      });
  Value alpha = rowUpdate[0], mNew = rowUpdate[1];
  // P = e^(S - m̂), in place on S.
  Value probs =
      e.generic({mNew}, s, {row, full}, parallel2,
                [](OpBuilder &nb, Location l, ValueRange args) {
                  Value shifted = arith::SubFOp::create(
                      nb, l, args[1], safeMax(nb, l, args[0]));
                  linalg::YieldOp::create(
                      nb, l, math::ExpOp::create(nb, l, shifted).getResult());
                })[0];
  // l' = l·a + rowsum P.
  Value lNew = e.generic(
      {probs}, rowUpdate[2], {full, row}, rowReduction,
      [](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(
            nb, l, arith::AddFOp::create(nb, l, args[1], args[0]).getResult());
      })[0];
  // o' = o·a + P V over (i, j, c): c innermost, contiguous in V and o.
  Value oScaled = e.generic(
      {alpha}, o, {row, full}, parallel2,
      [](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(
            nb, l, arith::MulFOp::create(nb, l, args[1], args[0]).getResult());
      })[0];
  Value oNew = e.generic(
      {probs, vTile}, oScaled,
      {AffineMap::get(3, 0, {d(0), d(1)}, ctx),
       AffineMap::get(3, 0, {d(1), d(2)}, ctx),
       AffineMap::get(3, 0, {d(0), d(2)}, ctx)},
      {IteratorType::parallel, IteratorType::reduction, IteratorType::parallel},
      [](OpBuilder &nb, Location l, ValueRange args) {
        multiplyAccumulate(nb, l, args,
                           /*reassociate=*/false);
      })[0];
  return {mNew, lNew, oNew, probs, rowMax, alpha};
}

/// The key-block loop of a dense or causal map, from its closed form:
/// blocks [0, kEnd), where causal stops at the block holding the last owned
/// row (every later block is above the diagonal) and key padding stops at
/// the first block starting at or after key_lengths[b].
scf::ForOp buildClosedFormLoop(OpBuilder &b, Location loc, const Problem &p,
                               Value batch, Value head, Value qTile,
                               Value qStart, Value qFirst, Value len,
                               ValueRange init) {
  Emitter e{b, loc};
  Value kEnd = e.idx(p.numKeyBlocks);
  if (p.causal) {
    Value lastRow =
        e.sub(e.min(e.add(qFirst, e.idx(p.bq)), e.idx(p.sq)), e.idx(1));
    Value lastBlock = arith::DivUIOp::create(b, loc, lastRow, e.idx(p.bk));
    kEnd = e.min(kEnd, e.add(lastBlock, e.idx(1)));
  }
  if (len) {
    Value lenBlocks = arith::DivUIOp::create(
        b, loc, e.add(len, e.idx(p.bk - 1)), e.idx(p.bk));
    kEnd = e.min(kEnd, lenBlocks);
  }
  return scf::ForOp::create(
      b, loc, e.idx(0), kEnd, e.idx(1), init,
      [&](OpBuilder &nb, Location nl, Value kb, ValueRange carried) {
        SmallVector<Value> next =
            buildKeyBlockStep(nb, nl, p, batch, head, qTile, qStart, qFirst,
                              len, kb, /*mapMask=*/Value(), carried);
        scf::YieldOp::create(nb, nl, next);
      });
}

/// A constant i32 tensor holding `values`.
template <typename T>
Value constantTable(OpBuilder &b, Location loc, const std::vector<T> &values) {
  SmallVector<int32_t> data(values.begin(), values.end());
  auto type = RankedTensorType::get({static_cast<int64_t>(data.size())},
                                    b.getI32Type());
  return arith::ConstantOp::create(
      b, loc, type, DenseElementsAttr::get(type, ArrayRef<int32_t>(data)));
}

/// Element `i` of a constant i32 table, as an index.
Value tableEntry(OpBuilder &b, Location loc, Value table, Value i) {
  Value raw = tensor::ExtractOp::create(b, loc, table, i);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
}

/// The key-block loop of any map, from its CSR table: entries
/// [rowPointers[qb], rowPointers[qb+1]), key block columns[e], masked when
/// needsMask[e] (or when the block reaches past the key length). Blocks
/// starting at or after key_lengths[b] are skipped (the columns of a row
/// ascend, but a skip keeps this independent of the order).
scf::ForOp buildTableLoop(OpBuilder &b, Location loc, const Problem &p,
                          Value batch, Value head, Value qb, Value qTile,
                          Value qStart, Value qFirst, Value len,
                          ValueRange init) {
  Emitter e{b, loc};
  Value rows = constantTable(b, loc, p.table->rowPointers());
  Value cols = constantTable(b, loc, p.table->columns());
  Value masks = constantTable(b, loc, p.table->needsMask());
  Value begin = tableEntry(b, loc, rows, qb);
  Value end = tableEntry(b, loc, rows, e.add(qb, e.idx(1)));
  return scf::ForOp::create(
      b, loc, begin, end, e.idx(1), init,
      [&](OpBuilder &nb, Location nl, Value entry, ValueRange carried) {
        Emitter ne{nb, nl};
        Value kb = tableEntry(nb, nl, cols, entry);
        Value flag = ne.cmp(arith::CmpIPredicate::ne,
                            tableEntry(nb, nl, masks, entry), ne.idx(0));
        auto step = [&](OpBuilder &sb, Location sl) {
          scf::YieldOp::create(sb, sl,
                               buildKeyBlockStep(sb, sl, p, batch, head, qTile,
                                                 qStart, qFirst, len, kb, flag,
                                                 carried));
        };
        if (!len) {
          step(nb, nl);
          return;
        }
        Value firstKey = p.keyPosition(ne, ne.mul(kb, ne.idx(p.bk)));
        Value visit = ne.cmp(arith::CmpIPredicate::slt, firstKey, len);
        auto ifOp = scf::IfOp::create(nb, nl, visit, step,
                                      [&](OpBuilder &sb, Location sl) {
                                        scf::YieldOp::create(sb, sl, carried);
                                      });
        scf::YieldOp::create(nb, nl, ifOp.getResults());
      });
}

/// The body of the forall: one (batch item, head, query block) tile of the
/// output, inserted into `out` in the forall's terminator.
void buildQueryBlock(OpBuilder &b, Location loc, const Problem &problem,
                     scf::ForallOp forall) {
  Emitter e{b, loc};
  MLIRContext *ctx = b.getContext();
  SmallVector<Value> ivs = forall.getInductionVars();
  Value batch = ivs[0], head = e.add(ivs[1], e.idx(problem.headOffset));
  Value qb = ivs.back();
  // A gathered phase iterates over classes too: (b, h, class, qb).
  Problem p = problem;
  if (p.stride > 1)
    p.classBase = e.add(ivs[2], e.idx(p.classFirst));
  Value out = forall.getRegionIterArgs()[0];

  // The rows this tile owns are [qFirst, min(qFirst + Bq, Sq)); a shifted
  // tail tile computes [Sq - Bq, Sq) and owns only its last rows.
  Value qFirst = e.mul(qb, e.idx(p.bq));
  bool ragged = p.sq % p.bq != 0;
  Value qStart = ragged ? e.min(qFirst, e.idx(p.sq - p.bq)) : qFirst;

  // Q, pre-scaled once per tile instead of scaling every score block.
  Value qTile = e.tile(p.q, batch, p.position(e, qStart),
                       e.mul(head, e.idx(p.d)), p.bq, p.d, p.rowStride(p.bq));
  AffineMap id2 = AffineMap::getMultiDimIdentityMap(2, ctx);
  double scale = p.scale;
  qTile = e.generic(
      {qTile}, e.empty({p.bq, p.d}), {id2, id2},
      {IteratorType::parallel, IteratorType::parallel},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Emitter ne{nb, l};
        linalg::YieldOp::create(
            nb, l,
            arith::MulFOp::create(nb, l, args[0], ne.f32(scale)).getResult());
      })[0];

  Value len;
  if (p.keyLengths) {
    Value raw = tensor::ExtractOp::create(b, loc, p.keyLengths, batch);
    len = e.max(arith::IndexCastOp::create(b, loc, b.getIndexType(), raw),
                e.idx(0));
  }
  Value m0, l0, o0;
  if (p.oIn) {
    // Continue the gathered phase's state of these rows (copied: the loop
    // updates its state in place).
    auto copy = [&](Value x, SmallVector<OpFoldResult> offsets,
                    SmallVector<OpFoldResult> sizes,
                    ArrayRef<int64_t> shape) -> Value {
      SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
      auto type = RankedTensorType::get(shape, b.getF32Type());
      Value slice = tensor::ExtractSliceOp::create(b, loc, type, x, offsets,
                                                   sizes, strides);
      return linalg::CopyOp::create(b, loc, slice, e.empty(shape))
          .getResult(0);
    };
    OpFoldResult one = b.getIndexAttr(1), rowsAttr = b.getIndexAttr(p.bq);
    m0 = copy(p.mIn, {batch, head, qStart}, {one, one, rowsAttr}, {p.bq});
    l0 = copy(p.lIn, {batch, head, qStart}, {one, one, rowsAttr}, {p.bq});
    o0 = copy(p.oIn, {batch, qStart, e.mul(head, e.idx(p.dv))},
              {one, rowsAttr, b.getIndexAttr(p.dv)}, {p.bq, p.dv});
  } else {
    m0 = e.filled({p.bq}, -std::numeric_limits<double>::infinity());
    l0 = e.filled({p.bq}, 0.0);
    o0 = e.filled({p.bq, p.dv}, 0.0);
  }
  // The scores, their row maximum and the rescaling factors are rewritten
  // by every step. Carried
  // through the loop (updated in place, yielded back), they bufferize to
  // one buffer each for the whole loop; as fresh tensors per step they
  // would be allocated per step, or copied from a zero tile that CSE
  // shares with the accumulator's.
  Value sInit = e.empty({p.bq, p.bk});
  Value maxInit = e.empty({p.bq}), alphaInit = e.empty({p.bq});
  scf::ForOp loop =
      p.table
          ? buildTableLoop(b, loc, p, batch, head, qb, qTile, qStart, qFirst,
                           len, {m0, l0, o0, sInit, maxInit, alphaInit})
          : buildClosedFormLoop(b, loc, p, batch, head, qTile, qStart, qFirst,
                                len, {m0, l0, o0, sInit, maxInit, alphaInit});
  Value m = loop.getResult(0), l = loop.getResult(1), o = loop.getResult(2);

  // The rows this tile owns: all Bq of them, or the last Sq - qFirst rows
  // of a shifted tail tile.
  OpFoldResult rows = b.getIndexAttr(p.bq);
  int64_t staticRows = p.bq;
  if (ragged) {
    Value count = e.min(e.idx(p.bq), e.sub(e.idx(p.sq), qFirst));
    Value skip = e.sub(qFirst, qStart);
    auto slice = [&](Value x, ArrayRef<int64_t> shape) -> Value {
      SmallVector<OpFoldResult> offsets{skip}, sizes{count};
      SmallVector<OpFoldResult> strides(shape.size(), b.getIndexAttr(1));
      SmallVector<int64_t> sliceShape{ShapedType::kDynamic};
      for (int64_t dim : shape.drop_front()) {
        offsets.push_back(b.getIndexAttr(0));
        sizes.push_back(b.getIndexAttr(dim));
        sliceShape.push_back(dim);
      }
      auto type = RankedTensorType::get(sliceShape, b.getF32Type());
      return tensor::ExtractSliceOp::create(b, loc, type, x, offsets, sizes,
                                            strides);
    };
    m = slice(m, {p.bq});
    l = slice(l, {p.bq});
    o = slice(o, {p.bq, p.dv});
    rows = count;
    staticRows = ShapedType::kDynamic;
  }

  Value rowPos = p.position(e, qFirst);
  if (p.writeState) {
    // The state of the owned rows, at their original positions, for the
    // direct phase to continue: o as it is, m and l per (b, h, row).
    Value oState = forall.getRegionIterArgs()[0];
    Value mState = forall.getRegionIterArgs()[1];
    Value lState = forall.getRegionIterArgs()[2];
    OpFoldResult one = b.getIndexAttr(1),
                 stride = b.getIndexAttr(p.rowStride(p.bq));
    Value oCol = e.mul(head, e.idx(p.dv));
    // The terminator holds only the insertions.
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(
        b, loc, o, oState, SmallVector<OpFoldResult>{batch, rowPos, oCol},
        SmallVector<OpFoldResult>{one, rows, b.getIndexAttr(p.dv)},
        SmallVector<OpFoldResult>{one, stride, one});
    for (auto [value, state] : {std::pair(m, mState), std::pair(l, lState)})
      tensor::ParallelInsertSliceOp::create(
          b, loc, value, state,
          SmallVector<OpFoldResult>{batch, head, rowPos},
          SmallVector<OpFoldResult>{one, one, rows},
          SmallVector<OpFoldResult>{one, one, stride});
    return;
  }

  // o / l, and 0 for a row that saw no allowed key (l == 0), written
  // straight into the output tile (destination passing: the insertion below
  // then bufferizes in place, without a copy of the tile).
  Value outHead = p.permuteHeads ? e.sub(e.idx(p.totalHeads - 1), head) : head;
  Value outCol = e.mul(outHead, e.idx(p.dv));
  SmallVector<OpFoldResult> offsets{batch, rowPos, outCol};
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), rows,
                                  b.getIndexAttr(p.dv)};
  SmallVector<OpFoldResult> strides{b.getIndexAttr(1),
                                    b.getIndexAttr(p.rowStride(p.bq)),
                                    b.getIndexAttr(1)};
  auto tileType = RankedTensorType::get({staticRows, p.dv}, b.getF32Type());
  Value outTile = tensor::ExtractSliceOp::create(b, loc, tileType, out, offsets,
                                                 sizes, strides);
  AffineMap row = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  Value result = e.generic(
      {l, o}, outTile, {row, id2, id2},
      {IteratorType::parallel, IteratorType::parallel},
      [](OpBuilder &nb, Location nl, ValueRange args) {
        Emitter ne{nb, nl};
        Value div = arith::DivFOp::create(nb, nl, args[1], args[0]);
        Value positive = arith::CmpFOp::create(
            nb, nl, arith::CmpFPredicate::OGT, args[0], ne.f32(0.0));
        linalg::YieldOp::create(
            nb, nl,
            arith::SelectOp::create(nb, nl, positive, div, ne.f32(0.0))
                .getResult());
      })[0];

  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(b, loc, result, out, offsets, sizes,
                                        strides);
}

/// The summary keys of `x` [B, S, W] (K or V) in position order, [B, n, W]
/// with n = plan.summaryKeyCount(S): key class t < c (positions l - c + t
/// + l m) goes to rows t + c m, one strided copy per class. Every column
/// is copied (all head groups'): the copy is c / l of the tensor.
Value compactSummaryKeys(OpBuilder &b, Location loc, Value x,
                         const GatherPlan &plan) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t batch = type.getDimSize(0), seqLen = type.getDimSize(1),
          width = type.getDimSize(2);
  int64_t l = plan.period, c = plan.summaryWidth;
  int64_t keys = plan.summaryKeyCount(seqLen);
  Value compact = tensor::EmptyOp::create(b, loc, {batch, keys, width},
                                          type.getElementType());
  for (int64_t t = 0; t < c; ++t) {
    int64_t first = l - c + t;
    int64_t count = first < seqLen ? (seqLen - first + l - 1) / l : 0;
    if (count == 0)
      continue;
    // A single row gets stride 1 (see Problem::rowStride).
    int64_t from = count == 1 ? 1 : l, to = count == 1 ? 1 : c;
    SmallVector<OpFoldResult> sizes{b.getIndexAttr(batch),
                                    b.getIndexAttr(count),
                                    b.getIndexAttr(width)};
    auto sliceType =
        RankedTensorType::get({batch, count, width}, type.getElementType());
    Value rows = tensor::ExtractSliceOp::create(
        b, loc, sliceType, x,
        SmallVector<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(first),
                                  b.getIndexAttr(0)},
        sizes,
        SmallVector<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(from),
                                  b.getIndexAttr(1)});
    compact = tensor::InsertSliceOp::create(
        b, loc, rows, compact,
        SmallVector<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(t),
                                  b.getIndexAttr(0)},
        sizes,
        SmallVector<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(to),
                                  b.getIndexAttr(1)});
  }
  return compact;
}

} // namespace

Value mlir::xf::buildFusedAttention(PatternRewriter &rewriter, AttentionOp op,
                                    const AttentionKernelConfig &config,
                                    AttentionTestFault fault) {
  Location loc = op.getLoc();
  auto shape = [](Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  };
  Problem p;
  p.totalHeads = p.heads = op.getNumHeads();
  p.headOffset = 0;
  p.batch = shape(op.getQuery())[0];
  p.sq = shape(op.getQuery())[1];
  p.sk = shape(op.getKey())[1];
  p.d = shape(op.getQuery())[2] / p.heads;
  p.dv = shape(op.getValue())[2] / p.heads;
  p.bq = config.blockQ;
  p.bk = config.blockK;
  p.scale = op.getScale().convertToDouble();
  p.causal = op.getCausal();
  p.keyLengths = op.getKeyLengths();
  bool dropMask = fault == AttentionTestFault::DropMask;
  if (dropMask) {
    p.causal = false;
    p.keyLengths = Value();
  }
  p.causalOffByOne = fault == AttentionTestFault::CausalOffByOne;
  p.permuteHeads = fault == AttentionTestFault::PermuteHeads;
  p.q = op.getQuery();
  p.k = op.getKey();
  p.v = op.getValue();

  // One kernel (scf.forall) per head group, each writing its heads'
  // columns of the same output. Without a pattern there is one group, whose
  // block map is dense or causal: read from its table, or emitted as
  // closed-form bounds. A pattern's map is always read from its table, and
  // its partial blocks are masked element by element. A group whose part is
  // gathered first runs one forall per class group (AttentionGather.h), or
  // one over the compact summary keys (the fixed A2); the rest of its
  // union, if any, then continues their state directly.
  PatternGroups groups;
  if (AttentionPatternAttr pattern = op.getPatternAttr())
    groups = pattern.getGroups();
  int64_t numGroups = std::max<size_t>(groups.size(), 1);
  int64_t groupHeads = p.totalHeads / numGroups;
  auto empty = [&](ArrayRef<int64_t> shape) -> Value {
    return tensor::EmptyOp::create(rewriter, loc, shape,
                                   rewriter.getF32Type());
  };
  Value result = empty(shape(op.getResult()));
  // One forall over (b, h[, class], qb) computing `phase`, its shared
  // outputs updated in place.
  auto emitPhase = [&](const Problem &phase, SmallVectorImpl<Value> &outs) {
    SmallVector<OpFoldResult> ubs{rewriter.getIndexAttr(phase.batch),
                                  rewriter.getIndexAttr(phase.heads)};
    if (phase.stride > 1)
      ubs.push_back(rewriter.getIndexAttr(phase.classCount));
    ubs.push_back(rewriter.getIndexAttr(phase.numQueryBlocks));
    auto forall = scf::ForallOp::create(rewriter, loc, ubs, ValueRange(outs),
                                        /*mapping=*/std::nullopt);
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(forall.getBody());
      buildQueryBlock(rewriter, loc, phase, forall);
    }
    for (auto [i, r] : llvm::enumerate(forall.getResults()))
      outs[i] = r;
  };
  for (int64_t g = 0; g < numGroups; ++g) {
    p.heads = groupHeads;
    p.headOffset = g * groupHeads;
    std::optional<AttentionPattern> pattern;
    if (!groups.empty())
      pattern.emplace(groups[g], p.sq, p.sk);
    std::optional<GatherPlan> plan;
    if (pattern && g < static_cast<int64_t>(config.gather.size()) &&
        config.gather[g])
      plan = planGather(groups[g], p.sq, p.sk);

    // What the direct phase computes: the whole pattern, or the rest of a
    // gathered one (nothing when the gathered part is all of it).
    const AttentionPattern *direct = pattern ? &*pattern : nullptr;
    std::optional<AttentionPattern> rest;
    std::optional<PatternMask> restMask;
    Problem directPhase = p;
    if (plan) {
      direct = nullptr;
      if (!plan->rest.empty()) {
        rest.emplace(plan->rest, p.sq, p.sk);
        direct = &*rest;
        if (!dropMask)
          restMask.emplace(rewriter, loc, *rest);
        // The state the gathered phases leave for the direct one.
        SmallVector<Value> state{
            empty(shape(op.getResult())),
            empty({p.batch, p.totalHeads, p.sq}),
            empty({p.batch, p.totalHeads, p.sq}),
        };
        directPhase.oIn = state[0];
        directPhase.mIn = state[1];
        directPhase.lIn = state[2];
      }
      // A gathered phase writes the output, or, before the rest, the state.
      auto emitGathered = [&](Problem &phase) {
        phase.excludeMask = restMask ? &*restMask : nullptr;
        if (rest) {
          phase.writeState = true;
          SmallVector<Value> outs{directPhase.oIn, directPhase.mIn,
                                  directPhase.lIn};
          emitPhase(phase, outs);
          directPhase.oIn = outs[0];
          directPhase.mIn = outs[1];
          directPhase.lIn = outs[2];
        } else {
          SmallVector<Value> outs{result};
          emitPhase(phase, outs);
          result = outs[0];
        }
      };
      if (plan->kind == GatherPlan::Kind::SummaryKeys) {
        // All query rows over the compact summary keys: j <= i is checked
        // on original positions (summaryCausal), which also covers a causal
        // op, so the closed-form causal mask (on compact indices) is off.
        Problem phase = p;
        phase.sk = plan->summaryKeyCount(p.sk);
        phase.bk = std::min(p.bk, phase.sk);
        phase.k = compactSummaryKeys(rewriter, loc, p.k, *plan);
        phase.v = compactSummaryKeys(rewriter, loc, p.v, *plan);
        phase.summaryPeriod = plan->period;
        phase.summaryWidth = plan->summaryWidth;
        phase.summaryCausal = !dropMask;
        phase.causal = false;
        BlockMap map = summaryBlockMap(*plan, rest ? &*rest : nullptr, p.sq,
                                       phase.bq, phase.bk);
        phase.numQueryBlocks = map.numQueryBlocks();
        phase.numKeyBlocks = map.numKeyBlocks();
        phase.table = &map;
        emitGathered(phase);
      }
      for (const ClassGroup &classes :
           plan->kind == GatherPlan::Kind::Residue
               ? classGroups(*plan, p.sq)
               : std::vector<ClassGroup>()) {
        Problem phase = p;
        phase.sq = phase.sk = classes.length;
        phase.bq = gatheredBlock(p.bq, classes);
        phase.bk = gatheredBlock(p.bk, classes);
        phase.stride = plan->classes;
        phase.classFirst = classes.first;
        phase.classCount = classes.count;
        AttentionPattern inClass({plan->inClass}, classes.length,
                                 classes.length);
        std::optional<PatternMask> inClassMask;
        if (!dropMask)
          inClassMask.emplace(rewriter, loc, inClass);
        BlockMap map = gatheredBlockMap(*plan, rest ? &*rest : nullptr,
                                        classes, phase.bq, phase.bk);
        phase.numQueryBlocks = map.numQueryBlocks();
        phase.numKeyBlocks = map.numKeyBlocks();
        phase.table = &map;
        phase.patternMask = inClassMask ? &*inClassMask : nullptr;
        emitGathered(phase);
      }
      if (!direct)
        continue;
    }

    std::optional<PatternMask> mask;
    if (direct && !dropMask && !restMask)
      mask.emplace(rewriter, loc, *direct);
    BlockMap map = direct     ? direct->blockMap(p.bq, p.bk)
                   : p.causal ? BlockMap::causal(p.sq, p.sk, p.bq, p.bk)
                              : BlockMap::dense(p.sq, p.sk, p.bq, p.bk);
    directPhase.numQueryBlocks = map.numQueryBlocks();
    directPhase.numKeyBlocks = map.numKeyBlocks();
    directPhase.table = config.tableDriven || direct ? &map : nullptr;
    directPhase.patternMask = restMask ? &*restMask : mask ? &*mask : nullptr;
    SmallVector<Value> outs{result};
    emitPhase(directPhase, outs);
    result = outs[0];
  }
  return result;
}
