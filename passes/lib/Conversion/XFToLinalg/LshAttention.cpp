//===- LshAttention.cpp - Reformer LSH attention ----------------*- C++ -*-===//
//
// Part of xfc. Lowers an `xf.attention` whose pattern is `lsh(...)` to LSH
// attention (Reformer, arXiv 2001.04451) as docs/attention-patterns.md
// defines it ("LSH attention"): shared QK (the keys are the normalized
// queries; the op's key operand is not read), `hashes` rounds of angular
// LSH with random rotations R_r (d x buckets/2) drawn at compile time,
// a stable sort of the positions by (bucket, position), chunks of `chunk`
// sorted positions attending to themselves and the chunk before, only to
// keys of the query's bucket, rounds merged by log-sum-exp with log N_ij
// subtracted for a key attended in N_ij rounds. Two kernels and a pass
// over the output:
//
//   scf.forall (b, h) in (B, H) shared_outs(ints, floats)      (hashing)
//     q = query[b, :, head h]                        [L, d] (a view)
//     inv[i] = 1 / |q_i|            (keys k_j = q_j inv[j]; 0 for q_j = 0)
//     m = -inf, l = 0                                [L], [L]
//     for row blocks of the queries:                 (blocks of <= 64 rows)
//       p = q_blk R                                  [rows, rounds * nb/2]
//       bucket[r, i] = argmax([p_r ; -p_r])          (lowest index on a tie)
//     for r in rounds:                               (counting sort, O(L))
//       histogram of bucket[r]; exclusive prefix sum; scatter i in order:
//       perm[r, slot] = i, slot[r, i] = its slot
//   scf.forall (b, h) in (B, H) shared_outs(out, floats)     (attention)
//     o = 0                                          [L, dv] (in out)
//     for r in rounds, for chunk k:
//       queries: slots [k c, k c + c); keys: slots [k c - c, k c + c)
//       S[t, u] = scale q_i . q_j inv[j] - log N_ij where j may be seen,
//                 -inf elsewhere
//       online softmax (FlashAttention) into m, l, o at the queries'
//       original positions (gathered, updated, scattered back)
//   out = l > 0 ? o / l : v_i (self, when nothing else)  (whole output)
//
// Merging round after round into the same (m, l, o) is the log-sum-exp
// combination of the rounds: each round's partial sums are weighted by
// e^(its log-sum-exp - the total's). The O(L) state per (b, h) (buckets,
// permutations, slots, inverse norms, m and l) lives in shared outputs of
// the foralls allocated outside them (planned in the arena), o in the
// output itself; every shared output's result is used by what follows, so
// canonicalization keeps them (an unused one would be folded into a tensor
// read inside the body, which bufferization then copies per thread).
// Inside a thread only chunk-sized tiles (at most c x max(2c, 2d) floats)
// are allocated, so memory is O(L (d + rounds)) per head, never L x L.
//
//===----------------------------------------------------------------------===//
#include "LshAttention.h"

#include "xf/Analysis/AttentionPattern.h"
#include "xf/Dialect/XF/XFOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::xf;

namespace {

using utils::IteratorType;

/// The largest tile a thread allocates, in bytes: xf-plan-memory puts
/// per-thread temporaries on the stack and refuses larger ones (its
/// max-alloca-bytes default).
constexpr int64_t kMaxTileBytes = 65536;
/// Query rows hashed per step: the projection tile is rows x rounds nb/2.
constexpr int64_t kHashRows = 64;

/// SplitMix64 (as BigBird's random blocks in AttentionPattern.cpp): fully
/// specified, so the Python goldens draw the same rotations.
uint64_t splitMix64(uint64_t &state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Index, i32 and f32 arithmetic on one builder and location, so the
/// kernel below reads like the algorithm.
struct Emitter {
  OpBuilder &b;
  Location loc;

  Value idx(int64_t v) const {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  Value i32(int64_t v) const {
    return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
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
  Value divs(Value x, Value y) const {
    return arith::DivSIOp::create(b, loc, x, y);
  }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) const {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value andI(Value x, Value y) const {
    return arith::AndIOp::create(b, loc, x, y);
  }
  Value orI(Value x, Value y) const {
    return arith::OrIOp::create(b, loc, x, y);
  }
  Value select(Value c, Value x, Value y) const {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value fadd(Value x, Value y) const {
    return arith::AddFOp::create(b, loc, x, y);
  }
  Value fmul(Value x, Value y) const {
    return arith::MulFOp::create(b, loc, x, y);
  }
  Value fsub(Value x, Value y) const {
    return arith::SubFOp::create(b, loc, x, y);
  }
  Value fcmp(arith::CmpFPredicate p, Value x, Value y) const {
    return arith::CmpFOp::create(b, loc, p, x, y);
  }
  Value toIndex(Value v) const {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
  }
  Value toI32(Value v) const {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(), v);
  }
  Value extract(Value t, ValueRange indices) const {
    return tensor::ExtractOp::create(b, loc, t, indices);
  }
  Value insert(Value scalar, Value t, ValueRange indices) const {
    return tensor::InsertOp::create(b, loc, scalar, t, indices);
  }
  Value empty(ArrayRef<int64_t> shape, Type type) const {
    return tensor::EmptyOp::create(b, loc, shape, type);
  }
  Value fill(Value dest, Value v) const {
    return linalg::FillOp::create(b, loc, v, dest).getResult(0);
  }
  /// A static slice of `x` at `offsets` with `sizes`, dropping the unit
  /// dimensions listed in `shape` (the result's shape).
  Value slice(Value x, ArrayRef<OpFoldResult> offsets,
              ArrayRef<OpFoldResult> sizes, ArrayRef<int64_t> shape,
              Type element) const {
    SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
    auto type = RankedTensorType::get(shape, element);
    return tensor::ExtractSliceOp::create(b, loc, type, x, offsets, sizes,
                                          strides);
  }
  Value insertSlice(Value src, Value dest, ArrayRef<OpFoldResult> offsets,
                    ArrayRef<OpFoldResult> sizes) const {
    SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
    return tensor::InsertSliceOp::create(b, loc, src, dest, offsets, sizes,
                                         strides);
  }
  ValueRange
  generic(ValueRange inputs, ValueRange inits, ArrayRef<AffineMap> maps,
          ArrayRef<IteratorType> iterators,
          function_ref<void(OpBuilder &, Location, ValueRange)> body) const {
    return linalg::GenericOp::create(b, loc, TypeRange(inits), inputs, inits,
                                     maps, iterators, body)
        .getResults();
  }
  Value loopIndex(unsigned dim) const {
    return linalg::IndexOp::create(b, loc, dim);
  }
};

/// m̂ = (m == -inf) ? 0 : m, the shift of the exponentials (as in the
/// fused kernel): a row with no key gives e^(-inf) = 0, never NaN.
Value safeMax(const Emitter &e, Value m) {
  return e.select(e.fcmp(arith::CmpFPredicate::OEQ, m, e.negInf()), e.f32(0.0),
                  m);
}

/// Everything the kernel needs, fixed at compile time.
struct Problem {
  int64_t batch, heads, len, d, dv;
  int64_t buckets, rounds, chunk, numChunks, hashRows;
  double scale;
  bool causal;
  Value q, v, keyLengths, rotations;
};

/// Rows of the per-(b, h) integer state: bucket, perm and slot of each
/// round, `rounds` rows each.
enum IntRow : int64_t { kBucket = 0, kPerm = 1, kSlot = 2 };
/// Rows of the per-(b, h) float state.
enum FloatRow : int64_t { kMax = 0, kSum = 1, kInvNorm = 2 };

/// The bodies of the two kernels for one (b, h), and their steps.
class HeadBuilder {
public:
  HeadBuilder(OpBuilder &b, Location loc, const Problem &p)
      : b(b), loc(loc), e{b, loc}, p(p), ctx(b.getContext()) {}

  void buildHashing(scf::ForallOp forall);
  void buildAttention(scf::ForallOp forall, Value allInts);

private:
  AffineExpr dim(unsigned i) const { return getAffineDimExpr(i, ctx); }
  AffineMap map(unsigned n, ArrayRef<unsigned> dims) const {
    SmallVector<AffineExpr> exprs;
    for (unsigned d : dims)
      exprs.push_back(dim(d));
    return AffineMap::get(n, 0, exprs, ctx);
  }
  OpFoldResult attr(int64_t v) const { return b.getIndexAttr(v); }
  /// Row `row` of the [rows, L] state `t` as an [L] tensor, and back.
  Value row(Value t, int64_t row, Type element) const {
    return e.slice(t, {attr(row), attr(0)}, {attr(1), attr(p.len)}, {p.len},
                   element);
  }
  Value setRow(Value t, int64_t row, Value value) const {
    return e.insertSlice(value, t, {attr(row), attr(0)},
                         {attr(1), attr(p.len)});
  }
  /// ints[kind rounds + r, i] as an index.
  Value intAt(const Emitter &x, Value ints, IntRow kind, Value r,
              Value i) const {
    Value rowIndex = x.add(x.idx(int64_t(kind) * p.rounds), r);
    return x.toIndex(x.extract(ints, {rowIndex, i}));
  }

  Value initFloats(Value floats, Value qh);
  Value hash(Value ints, Value qh);
  Value sortRound(Value ints, Value r);
  SmallVector<Value> chunkStep(Value r, Value k, Value qh, Value vh, Value len,
                               Value ints, Value floats, Value o);

  OpBuilder &b;
  Location loc;
  Emitter e;
  const Problem &p;
  MLIRContext *ctx;
};

/// m = -inf, l = 0, and the inverse norms of the queries.
Value HeadBuilder::initFloats(Value floats, Value qh) {
  Type f32 = b.getF32Type();
  floats = setRow(floats, kMax, e.fill(row(floats, kMax, f32), e.negInf()));
  floats = setRow(floats, kSum, e.fill(row(floats, kSum, f32), e.f32(0.0)));
  Value sums = e.fill(row(floats, kInvNorm, f32), e.f32(0.0));
  sums = e.generic({qh}, sums, {map(2, {0, 1}), map(2, {0})},
                   {IteratorType::parallel, IteratorType::reduction},
                   [](OpBuilder &nb, Location l, ValueRange args) {
                     Emitter ne{nb, l};
                     linalg::YieldOp::create(
                         nb, l, ne.fadd(args[1], ne.fmul(args[0], args[0])));
                   })[0];
  // 1/|q| (a zero query is a zero key: it scores 0 against everything).
  Value inv = e.generic(
      {}, sums, {map(1, {0})}, {IteratorType::parallel},
      [](OpBuilder &nb, Location l, ValueRange args) {
        Emitter ne{nb, l};
        Value root = math::SqrtOp::create(nb, l, args[0]);
        Value recip = arith::DivFOp::create(nb, l, ne.f32(1.0), root);
        Value positive =
            ne.fcmp(arith::CmpFPredicate::OGT, args[0], ne.f32(0.0));
        linalg::YieldOp::create(nb, l, ne.select(positive, recip, ne.f32(0.0)));
      })[0];
  return setRow(floats, kInvNorm, inv);
}

/// bucket[r, i] for every round, a block of rows at a time: the projection
/// q R of `hashRows` rows, then the argmax over [q R_r ; -q R_r]. The last
/// block is shifted back to end at L (its overlap is hashed twice, to the
/// same buckets).
Value HeadBuilder::hash(Value ints, Value qh) {
  int64_t half = p.buckets / 2, width = p.rounds * half, rows = p.hashRows;
  int64_t numBlocks = (p.len + rows - 1) / rows;
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  auto loop = scf::ForOp::create(
      b, loc, e.idx(0), e.idx(numBlocks), e.idx(1), ValueRange{ints},
      [&](OpBuilder &nb, Location nl, Value blk, ValueRange carried) {
        Emitter ne{nb, nl};
        Value start = ne.min(ne.mul(blk, ne.idx(rows)), ne.idx(p.len - rows));
        Value qBlock = ne.slice(qh, {start, nb.getIndexAttr(0)},
                                {nb.getIndexAttr(rows), nb.getIndexAttr(p.d)},
                                {rows, p.d}, f32);
        // proj[i, n] = sum_e q[i, e] rot[n, e]: the reduction innermost in
        // both operands, summed in order of e.
        Value proj = ne.fill(ne.empty({rows, width}, f32), ne.f32(0.0));
        proj = ne.generic({qBlock, p.rotations}, proj,
                          {map(3, {0, 2}), map(3, {1, 2}), map(3, {0, 1})},
                          {IteratorType::parallel, IteratorType::parallel,
                           IteratorType::reduction},
                          [](OpBuilder &bb, Location l, ValueRange args) {
                            Emitter be{bb, l};
                            linalg::YieldOp::create(
                                bb, l,
                                be.fadd(args[2], be.fmul(args[0], args[1])));
                          })[0];
        auto proj3Type = RankedTensorType::get({rows, p.rounds, half}, f32);
        Value proj3 = tensor::ExpandShapeOp::create(
            nb, nl, proj3Type, proj,
            SmallVector<ReassociationIndices>{{0}, {1, 2}});
        // Over (r, i, m): the best of (p, m) and (-p, m + nb/2), ties to the
        // lower bucket, so the result does not depend on the visiting
        // order.
        Value best = ne.fill(ne.empty({p.rounds, rows}, f32), ne.negInf());
        Value bestIndex = ne.fill(ne.empty({p.rounds, rows}, i32), ne.i32(0));
        ValueRange argmax = ne.generic(
            {proj3}, {best, bestIndex},
            {map(3, {1, 0, 2}), map(3, {0, 1}), map(3, {0, 1})},
            {IteratorType::parallel, IteratorType::parallel,
             IteratorType::reduction},
            [&](OpBuilder &bb, Location l, ValueRange args) {
              Emitter be{bb, l};
              Value m = be.toI32(be.loopIndex(2));
              Value value = args[1], index = args[2];
              auto consider = [&](Value candidate, Value candidateIndex) {
                Value better =
                    be.orI(be.fcmp(arith::CmpFPredicate::OGT, candidate, value),
                           be.andI(be.fcmp(arith::CmpFPredicate::OEQ, candidate,
                                           value),
                                   be.cmp(arith::CmpIPredicate::slt,
                                          candidateIndex, index)));
                value = be.select(better, candidate, value);
                index = be.select(better, candidateIndex, index);
              };
              consider(args[0], m);
              consider(arith::NegFOp::create(bb, l, args[0]),
                       be.add(m, be.i32(half)));
              linalg::YieldOp::create(bb, l, ValueRange{value, index});
            });
        Value updated = ne.insertSlice(
            argmax[1], carried[0],
            {nb.getIndexAttr(int64_t(kBucket) * p.rounds), start},
            {nb.getIndexAttr(p.rounds), nb.getIndexAttr(rows)});
        scf::YieldOp::create(nb, nl, updated);
      });
  return loop.getResult(0);
}

/// The stable sort of round r by (bucket, position): a counting sort
/// (histogram, exclusive prefix sum, scatter in position order), O(L +
/// buckets) and deterministic.
Value HeadBuilder::sortRound(Value ints, Value r) {
  Type i32 = b.getI32Type();
  Value counts = e.fill(e.empty({p.buckets}, i32), e.i32(0));
  counts =
      scf::ForOp::create(
          b, loc, e.idx(0), e.idx(p.len), e.idx(1), ValueRange{counts},
          [&](OpBuilder &nb, Location nl, Value i, ValueRange carried) {
            Emitter ne{nb, nl};
            Value bucket = intAt(ne, ints, kBucket, r, i);
            Value n = ne.extract(carried[0], {bucket});
            scf::YieldOp::create(
                nb, nl, ne.insert(ne.add(n, ne.i32(1)), carried[0], {bucket}));
          })
          .getResult(0);
  // counts -> the first slot of each bucket.
  counts = scf::ForOp::create(
               b, loc, e.idx(0), e.idx(p.buckets), e.idx(1),
               ValueRange{counts, e.i32(0)},
               [&](OpBuilder &nb, Location nl, Value m, ValueRange carried) {
                 Emitter ne{nb, nl};
                 Value n = ne.extract(carried[0], {m});
                 Value starts = ne.insert(carried[1], carried[0], {m});
                 scf::YieldOp::create(
                     nb, nl, ValueRange{starts, ne.add(carried[1], n)});
               })
               .getResult(0);
  return scf::ForOp::create(
             b, loc, e.idx(0), e.idx(p.len), e.idx(1), ValueRange{ints, counts},
             [&](OpBuilder &nb, Location nl, Value i, ValueRange carried) {
               Emitter ne{nb, nl};
               Value state = carried[0], next = carried[1];
               Value bucket = intAt(ne, state, kBucket, r, i);
               Value slot = ne.extract(next, {bucket});
               Value permRow = ne.add(ne.idx(int64_t(kPerm) * p.rounds), r);
               Value slotRow = ne.add(ne.idx(int64_t(kSlot) * p.rounds), r);
               state =
                   ne.insert(ne.toI32(i), state, {permRow, ne.toIndex(slot)});
               state = ne.insert(slot, state, {slotRow, i});
               next = ne.insert(ne.add(slot, ne.i32(1)), next, {bucket});
               scf::YieldOp::create(nb, nl, ValueRange{state, next});
             })
      .getResult(0);
}

/// Round r, chunk k: the queries at slots [k c, k c + c) against the keys
/// at slots [k c - c, k c + c), merged into (m, l, o) at the queries'
/// positions. Returns the new floats and o.
SmallVector<Value> HeadBuilder::chunkStep(Value r, Value k, Value qh, Value vh,
                                          Value len, Value ints, Value floats,
                                          Value o) {
  int64_t c = p.chunk, keys = 2 * c;
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  Value qBase = e.mul(k, e.idx(c));
  Value kBase = e.sub(qBase, e.idx(c));

  // Positions of the chunk's queries and keys, -1 for a slot outside
  // [0, L) (before the first chunk, after the last).
  auto positions = [&](int64_t count, Value base) {
    return e.generic(
        {}, e.empty({count}, i32), {map(1, {0})}, {IteratorType::parallel},
        [&](OpBuilder &nb, Location l, ValueRange) {
          Emitter ne{nb, l};
          Value slot = ne.add(base, ne.loopIndex(0));
          Value inside =
              ne.andI(ne.cmp(arith::CmpIPredicate::sge, slot, ne.idx(0)),
                      ne.cmp(arith::CmpIPredicate::slt, slot, ne.idx(p.len)));
          Value clamped = ne.max(ne.min(slot, ne.idx(p.len - 1)), ne.idx(0));
          Value permRow = ne.add(ne.idx(int64_t(kPerm) * p.rounds), r);
          Value pos = ne.extract(ints, {permRow, clamped});
          linalg::YieldOp::create(nb, l, ne.select(inside, pos, ne.i32(-1)));
        })[0];
  };
  Value posQ = positions(c, qBase), posK = positions(keys, kBase);
  auto clampedIndex = [](const Emitter &x, Value pos) {
    return x.toIndex(x.max(pos, x.i32(0)));
  };

  // The chunk's query rows, key rows (of q) and value rows, gathered into
  // contiguous tiles, so the two products below are plain contractions
  // (vectorized like the fused kernel's).
  auto gather = [&](Value pos, Value source, int64_t rows, int64_t cols) {
    return e.generic(
        {pos}, e.empty({rows, cols}, f32), {map(2, {0}), map(2, {0, 1})},
        {IteratorType::parallel, IteratorType::parallel},
        [&](OpBuilder &nb, Location l, ValueRange args) {
          Emitter ne{nb, l};
          linalg::YieldOp::create(
              nb, l,
              ne.extract(source, {clampedIndex(ne, args[0]), ne.loopIndex(1)}));
        })[0];
  };
  Value queryRows = gather(posQ, qh, c, p.d);
  Value keyRows = gather(posK, qh, keys, p.d);
  Value valueRows = gather(posK, vh, keys, p.dv);
  // S[t, u] = q_i . q_j, the reduction innermost and contiguous in both
  // tiles (reassociable, as the fused kernel's Q K^T).
  auto flags = [&](bool reassociate) {
    return arith::FastMathFlagsAttr::get(
        ctx, reassociate ? arith::FastMathFlags::reassoc |
                               arith::FastMathFlags::contract
                         : arith::FastMathFlags::none);
  };
  Value s = e.fill(e.empty({c, keys}, f32), e.f32(0.0));
  s = e.generic(
      {queryRows, keyRows}, s, {map(3, {0, 2}), map(3, {1, 2}), map(3, {0, 1})},
      {IteratorType::parallel, IteratorType::parallel, IteratorType::reduction},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value mul = arith::MulFOp::create(nb, l, args[0], args[1], flags(true));
        linalg::YieldOp::create(
            nb, l,
            arith::AddFOp::create(nb, l, args[2], mul, flags(true))
                .getResult());
      })[0];

  // Which keys the query sees, and the logits: scale q_i . k_j with
  // k_j = q_j / |q_j|, less log N_ij (the rounds in which i sees j).
  s = e.generic(
      {posQ, posK}, s, {map(2, {0}), map(2, {1}), map(2, {0, 1})},
      {IteratorType::parallel, IteratorType::parallel},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Emitter ne{nb, l};
        Value pi = args[0], pj = args[1];
        Value i = clampedIndex(ne, pi), j = clampedIndex(ne, pj);
        // Both slots inside, not the query itself (it is its own key only
        // when nothing else is allowed: see finish()), the same bucket.
        Value ok =
            ne.andI(ne.andI(ne.cmp(arith::CmpIPredicate::sge, pi, ne.i32(0)),
                            ne.cmp(arith::CmpIPredicate::sge, pj, ne.i32(0))),
                    ne.cmp(arith::CmpIPredicate::ne, pi, pj));
        ok = ne.andI(ok, ne.cmp(arith::CmpIPredicate::eq,
                                intAt(ne, ints, kBucket, r, i),
                                intAt(ne, ints, kBucket, r, j)));
        if (p.causal)
          ok = ne.andI(ok, ne.cmp(arith::CmpIPredicate::sle, pj, pi));
        if (len)
          ok = ne.andI(ok, ne.cmp(arith::CmpIPredicate::slt, j, len));
        Value inv = ne.extract(floats, {ne.idx(kInvNorm), j});
        Value logit = ne.fmul(args[2], ne.fmul(ne.f32(p.scale), inv));
        if (p.rounds > 1) {
          // N_ij: the rounds in which j is in i's bucket and in i's chunk
          // or the one before (the other conditions do not depend on the
          // round). Round r counts itself, so N >= 1 where ok.
          Value count = ne.f32(0.0);
          for (int64_t other = 0; other < p.rounds; ++other) {
            Value ro = ne.idx(other);
            Value same = ne.cmp(arith::CmpIPredicate::eq,
                                intAt(ne, ints, kBucket, ro, i),
                                intAt(ne, ints, kBucket, ro, j));
            Value ci = ne.divs(intAt(ne, ints, kSlot, ro, i), ne.idx(c));
            Value cj = ne.divs(intAt(ne, ints, kSlot, ro, j), ne.idx(c));
            Value near = ne.orI(
                ne.cmp(arith::CmpIPredicate::eq, ci, cj),
                ne.cmp(arith::CmpIPredicate::eq, ci, ne.add(cj, ne.idx(1))));
            count = ne.fadd(count, ne.select(ne.andI(same, near), ne.f32(1.0),
                                             ne.f32(0.0)));
          }
          logit = ne.fsub(logit, math::LogOp::create(nb, l, count));
        }
        linalg::YieldOp::create(nb, l, ne.select(ok, logit, ne.negInf()));
      })[0];

  AffineMap full = map(2, {0, 1}), rowMap = map(2, {0}), row1 = map(1, {0});
  SmallVector<IteratorType> rowReduction{IteratorType::parallel,
                                         IteratorType::reduction};
  SmallVector<IteratorType> parallel2(2, IteratorType::parallel);

  Value rowMax = e.generic(
      {s}, e.fill(e.empty({c}, f32), e.negInf()), {full, rowMap}, rowReduction,
      [](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(
            nb, l,
            arith::MaximumFOp::create(nb, l, args[1], args[0]).getResult());
      })[0];
  // The queries' running (m, l), gathered; then m' = max(m, rowmax S),
  // a = e^(m - m̂'), l a.
  ValueRange update = e.generic(
      {posQ, rowMax}, {e.empty({c}, f32), e.empty({c}, f32), e.empty({c}, f32)},
      {row1, row1, row1, row1, row1}, {IteratorType::parallel},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Emitter ne{nb, l};
        Value i = clampedIndex(ne, args[0]);
        Value oldMax = ne.extract(floats, {ne.idx(kMax), i});
        Value oldSum = ne.extract(floats, {ne.idx(kSum), i});
        Value newMax = arith::MaximumFOp::create(nb, l, oldMax, args[1]);
        Value alpha =
            math::ExpOp::create(nb, l, ne.fsub(oldMax, safeMax(ne, newMax)));
        linalg::YieldOp::create(
            nb, l, ValueRange{newMax, alpha, ne.fmul(oldSum, alpha)});
      });
  Value mNew = update[0], alpha = update[1];
  Value probs =
      e.generic({mNew}, s, {rowMap, full}, parallel2,
                [](OpBuilder &nb, Location l, ValueRange args) {
                  Emitter ne{nb, l};
                  Value shifted = ne.fsub(args[1], safeMax(ne, args[0]));
                  linalg::YieldOp::create(
                      nb, l, math::ExpOp::create(nb, l, shifted).getResult());
                })[0];
  Value lNew =
      e.generic({probs}, update[2], {full, rowMap}, rowReduction,
                [](OpBuilder &nb, Location l, ValueRange args) {
                  Emitter ne{nb, l};
                  linalg::YieldOp::create(nb, l, ne.fadd(args[1], args[0]));
                })[0];
  // o' = o a + P V, o gathered from the queries' rows, V the gathered
  // value rows.
  Value oScaled = e.generic(
      {posQ, alpha}, e.empty({c, p.dv}, f32), {rowMap, rowMap, full}, parallel2,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Emitter ne{nb, l};
        Value old = ne.extract(o, {clampedIndex(ne, args[0]), ne.loopIndex(1)});
        linalg::YieldOp::create(nb, l, ne.fmul(old, args[1]));
      })[0];
  Value oNew = e.generic(
      {probs, valueRows}, oScaled,
      {map(3, {0, 1}), map(3, {1, 2}), map(3, {0, 2})},
      {IteratorType::parallel, IteratorType::reduction, IteratorType::parallel},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Emitter ne{nb, l};
        linalg::YieldOp::create(nb, l,
                                ne.fadd(args[2], ne.fmul(args[0], args[1])));
      })[0];

  // Scatter the chunk's rows back to their positions (the last chunk may
  // hold fewer than c queries).
  Value count = e.min(e.idx(c), e.sub(e.idx(p.len), qBase));
  auto scatter = scf::ForOp::create(
      b, loc, e.idx(0), count, e.idx(1), ValueRange{floats, o},
      [&](OpBuilder &nb, Location nl, Value t, ValueRange carried) {
        Emitter ne{nb, nl};
        Value i = ne.toIndex(ne.extract(posQ, {t}));
        Value fl =
            ne.insert(ne.extract(mNew, {t}), carried[0], {ne.idx(kMax), i});
        fl = ne.insert(ne.extract(lNew, {t}), fl, {ne.idx(kSum), i});
        Value rowTile = ne.slice(oNew, {t, nb.getIndexAttr(0)},
                                 {nb.getIndexAttr(1), nb.getIndexAttr(p.dv)},
                                 {1, p.dv}, nb.getF32Type());
        Value out = ne.insertSlice(rowTile, carried[1], {i, nb.getIndexAttr(0)},
                                   {nb.getIndexAttr(1), nb.getIndexAttr(p.dv)});
        scf::YieldOp::create(nb, nl, ValueRange{fl, out});
      });
  return {scatter.getResult(0), scatter.getResult(1)};
}

/// The per-head views of the operands and state, for (b, h).
struct HeadViews {
  Value len, qh, vh;
  SmallVector<OpFoldResult> stateOffsets, intSizes, floatSizes;
};

HeadViews headViews(const Emitter &e, const Problem &p, Value batch,
                    Value head) {
  OpBuilder &b = e.b;
  HeadViews h;
  Type f32 = b.getF32Type();
  if (p.keyLengths) {
    Value raw = e.extract(p.keyLengths, {batch});
    h.len = e.min(e.max(e.toIndex(raw), e.idx(0)), e.idx(p.len));
  }
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1),
               length = b.getIndexAttr(p.len);
  h.qh = e.slice(p.q, {batch, zero, e.mul(head, e.idx(p.d))},
                 {one, length, b.getIndexAttr(p.d)}, {p.len, p.d}, f32);
  h.vh = e.slice(p.v, {batch, zero, e.mul(head, e.idx(p.dv))},
                 {one, length, b.getIndexAttr(p.dv)}, {p.len, p.dv}, f32);
  h.stateOffsets = {batch, head, zero, zero};
  h.intSizes = {one, one, b.getIndexAttr(3 * p.rounds), length};
  h.floatSizes = {one, one, b.getIndexAttr(3), length};
  return h;
}

/// Kernel 1, for (b, h): m = -inf, l = 0, the inverse norms, the buckets
/// and the sorted order of every round.
void HeadBuilder::buildHashing(scf::ForallOp forall) {
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  SmallVector<Value> ivs = forall.getInductionVars();
  ValueRange shared = forall.getRegionIterArgs();
  Value intsOut = shared[0], floatsOut = shared[1];
  HeadViews h = headViews(e, p, ivs[0], ivs[1]);
  Value ints =
      e.slice(intsOut, h.stateOffsets, h.intSizes, {3 * p.rounds, p.len}, i32);
  Value floats =
      e.slice(floatsOut, h.stateOffsets, h.floatSizes, {3, p.len}, f32);
  floats = initFloats(floats, h.qh);
  ints = hash(ints, h.qh);
  ints = scf::ForOp::create(
             b, loc, e.idx(0), e.idx(p.rounds), e.idx(1), ValueRange{ints},
             [&](OpBuilder &nb, Location nl, Value r, ValueRange carried) {
               HeadBuilder inner(nb, nl, p);
               scf::YieldOp::create(nb, nl, inner.sortRound(carried[0], r));
             })
             .getResult(0);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  SmallVector<OpFoldResult> ones4(4, attr(1));
  tensor::ParallelInsertSliceOp::create(b, loc, ints, intsOut, h.stateOffsets,
                                        h.intSizes, ones4);
  tensor::ParallelInsertSliceOp::create(b, loc, floats, floatsOut,
                                        h.stateOffsets, h.floatSizes, ones4);
}

/// Kernel 2, for (b, h): every round, chunk by chunk, into the unnormalized
/// o (in the output) and (m, l).
void HeadBuilder::buildAttention(scf::ForallOp forall, Value allInts) {
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  SmallVector<Value> ivs = forall.getInductionVars();
  Value batch = ivs[0], head = ivs[1];
  ValueRange shared = forall.getRegionIterArgs();
  Value out = shared[0], floatsOut = shared[1];
  HeadViews h = headViews(e, p, batch, head);
  OpFoldResult zero = attr(0), one = attr(1), length = attr(p.len);
  SmallVector<OpFoldResult> outOffsets{batch, zero, e.mul(head, e.idx(p.dv))};
  SmallVector<OpFoldResult> outSizes{one, length, attr(p.dv)};
  Value o = e.fill(e.slice(out, outOffsets, outSizes, {p.len, p.dv}, f32),
                   e.f32(0.0));
  Value ints =
      e.slice(allInts, h.stateOffsets, h.intSizes, {3 * p.rounds, p.len}, i32);
  Value floats =
      e.slice(floatsOut, h.stateOffsets, h.floatSizes, {3, p.len}, f32);
  auto rounds = scf::ForOp::create(
      b, loc, e.idx(0), e.idx(p.rounds), e.idx(1), ValueRange{floats, o},
      [&](OpBuilder &nb, Location nl, Value r, ValueRange perRound) {
        Emitter ne{nb, nl};
        auto chunks = scf::ForOp::create(
            nb, nl, ne.idx(0), ne.idx(p.numChunks), ne.idx(1), perRound,
            [&](OpBuilder &cb, Location cl, Value k, ValueRange perChunk) {
              HeadBuilder inner(cb, cl, p);
              scf::YieldOp::create(cb, cl,
                                   inner.chunkStep(r, k, h.qh, h.vh, h.len,
                                                   ints, perChunk[0],
                                                   perChunk[1]));
            });
        scf::YieldOp::create(nb, nl, chunks.getResults());
      });
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  SmallVector<OpFoldResult> ones4(4, attr(1)), ones3(3, attr(1));
  tensor::ParallelInsertSliceOp::create(b, loc, rounds.getResult(1), out,
                                        outOffsets, outSizes, ones3);
  tensor::ParallelInsertSliceOp::create(b, loc, rounds.getResult(0), floatsOut,
                                        h.stateOffsets, h.floatSizes, ones4);
}

/// o / l, or for a query that saw no key in any round its own value (the
/// self-attention rule), or 0 when it is itself a padded key. Over the
/// whole [B, L, H, dv] output, reading l from the state: the state is a
/// result of the attention kernel that is used (an unused shared output
/// of a forall would be folded away by canonicalization and then copied
/// per thread by bufferization).
Value buildFinish(OpBuilder &b, Location loc, const Problem &p, Value out,
                  Value floats) {
  Emitter e{b, loc};
  MLIRContext *ctx = b.getContext();
  SmallVector<ReassociationIndices> split{{0}, {1}, {2, 3}};
  auto type4 =
      RankedTensorType::get({p.batch, p.len, p.heads, p.dv}, b.getF32Type());
  Value out4 = tensor::ExpandShapeOp::create(b, loc, type4, out, split);
  Value v4 = tensor::ExpandShapeOp::create(b, loc, type4, p.v, split);
  AffineMap id4 = AffineMap::getMultiDimIdentityMap(4, ctx);
  Value done = e.generic(
      {v4}, out4, {id4, id4},
      SmallVector<IteratorType>(4, IteratorType::parallel),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Emitter ne{nb, l};
        Value bi = ne.loopIndex(0), i = ne.loopIndex(1), h = ne.loopIndex(2);
        Value sum = ne.extract(floats, {bi, h, ne.idx(kSum), i});
        Value self = args[0];
        if (p.keyLengths) {
          Value len = ne.toIndex(ne.extract(p.keyLengths, {bi}));
          self = ne.select(ne.cmp(arith::CmpIPredicate::slt, i, len), self,
                           ne.f32(0.0));
        }
        Value div = arith::DivFOp::create(nb, l, args[1], sum);
        Value positive = ne.fcmp(arith::CmpFPredicate::OGT, sum, ne.f32(0.0));
        linalg::YieldOp::create(nb, l, ne.select(positive, div, self));
      })[0];
  return tensor::CollapseShapeOp::create(b, loc, out.getType(), done, split);
}

} // namespace

std::vector<float> mlir::xf::lshRotations(uint64_t seed, int64_t rounds,
                                          int64_t buckets, int64_t headDim) {
  int64_t half = buckets / 2;
  std::vector<float> rows(size_t(rounds * half * headDim));
  uint64_t state = seed;
  const double twoPi = 6.283185307179586476925286766559;
  // R_r[e][m] in the order r, e, m; stored transposed (row r nb/2 + m).
  for (int64_t r = 0; r < rounds; ++r)
    for (int64_t e = 0; e < headDim; ++e)
      for (int64_t m = 0; m < half; ++m) {
        // Box-Muller from two 53-bit uniforms, u1 in (0, 1], u2 in [0, 1).
        double u1 = double((splitMix64(state) >> 11) + 1) * 0x1.0p-53;
        double u2 = double(splitMix64(state) >> 11) * 0x1.0p-53;
        double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(twoPi * u2);
        rows[size_t((r * half + m) * headDim + e)] = static_cast<float>(z);
      }
  return rows;
}

FailureOr<Value> mlir::xf::buildLshAttention(PatternRewriter &rewriter,
                                             AttentionOp op,
                                             const PatternPart &part) {
  Location loc = op.getLoc();
  auto shape = [](Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  };
  Problem p;
  p.heads = op.getNumHeads();
  p.batch = shape(op.getQuery())[0];
  p.len = shape(op.getQuery())[1];
  int64_t keyLen = shape(op.getKey())[1];
  p.d = shape(op.getQuery())[2] / p.heads;
  p.dv = shape(op.getValue())[2] / p.heads;
  if (keyLen != p.len)
    return op.emitOpError()
           << "has attention family 'lsh', which is self-attention with "
              "shared queries and keys: expected as many keys as queries, "
              "found "
           << p.len << " queries and " << keyLen << " keys";
  // Nothing to compute for an empty sequence or batch.
  if (p.len == 0 || p.batch == 0)
    return tensor::EmptyOp::create(rewriter, loc, shape(op.getResult()),
                                   rewriter.getF32Type())
        .getResult();
  p.buckets = part.buckets;
  p.rounds = part.hashes;
  // A chunk longer than the sequence is one chunk of the whole sequence
  // either way.
  p.chunk = std::min(part.chunk, p.len);
  p.numChunks = (p.len + p.chunk - 1) / p.chunk;
  int64_t width = p.rounds * (p.buckets / 2);
  p.hashRows = std::min(
      p.len,
      std::max<int64_t>(1, std::min(kHashRows, kMaxTileBytes / (4 * width))));
  // The largest tiles of a chunk step: the scores (c x 2c), the keys
  // (2c x d) and o (c x dv).
  int64_t tileBytes = 4 * p.chunk * std::max({2 * p.chunk, 2 * p.d, p.dv});
  if (tileBytes > kMaxTileBytes)
    return op.emitOpError()
           << "has attention family 'lsh' with chunk " << part.chunk
           << ": expected chunk tiles (chunk x 2 max(chunk, head_dim) "
              "floats) "
              "of at most "
           << kMaxTileBytes << " bytes for a thread's stack, found "
           << tileBytes << " (use a smaller chunk)";
  p.scale = op.getScale().convertToDouble();
  p.causal = part.causal;
  p.q = op.getQuery();
  p.v = op.getValue();
  p.keyLengths = op.getKeyLengths();

  std::vector<float> rotations =
      lshRotations(part.seed, p.rounds, p.buckets, p.d);
  auto rotationType =
      RankedTensorType::get({width, p.d}, rewriter.getF32Type());
  p.rotations = arith::ConstantOp::create(
      rewriter, loc, rotationType,
      DenseElementsAttr::get(rotationType, ArrayRef<float>(rotations)));

  Value result = tensor::EmptyOp::create(rewriter, loc, shape(op.getResult()),
                                         rewriter.getF32Type());
  Value ints = tensor::EmptyOp::create(
      rewriter, loc, ArrayRef<int64_t>{p.batch, p.heads, 3 * p.rounds, p.len},
      rewriter.getI32Type());
  Value floats = tensor::EmptyOp::create(
      rewriter, loc, ArrayRef<int64_t>{p.batch, p.heads, 3, p.len},
      rewriter.getF32Type());
  SmallVector<OpFoldResult> ubs{rewriter.getIndexAttr(p.batch),
                                rewriter.getIndexAttr(p.heads)};
  auto hashing =
      scf::ForallOp::create(rewriter, loc, ubs, ValueRange{ints, floats},
                            /*mapping=*/std::nullopt);
  {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(hashing.getBody());
    HeadBuilder(rewriter, loc, p).buildHashing(hashing);
  }
  auto attention = scf::ForallOp::create(
      rewriter, loc, ubs, ValueRange{result, hashing.getResult(1)},
      /*mapping=*/std::nullopt);
  {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(attention.getBody());
    HeadBuilder(rewriter, loc, p)
        .buildAttention(attention, hashing.getResult(0));
  }
  return buildFinish(rewriter, loc, p, attention.getResult(0),
                     attention.getResult(1));
}
