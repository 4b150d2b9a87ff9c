//===- LinearAttention.cpp - Linear attention and Performer -----*- C++ -*-===//
//
// Part of xfc. Lowers an `xf.attention` whose pattern is `linear` or
// `performer` (docs/attention-patterns.md, "Linear attention and
// Performer") into one kernel whose memory and work grow linearly with the
// sequence: kernelized attention out_i = phi(q_i)^T S / phi(q_i)^T z with
// S = sum_j phi(k_j) v_j^T (F x Dv per head) and z = sum_j phi(k_j), never
// an Sq x Sk score matrix and never a state per position.
//
//   scf.forall (b, h) in (B, H) shared_outs(out, state)
//     [performer] M = max over valid keys j, features r of
//                     w_r^T k_j - |k_j|^2 / 2          (one pass over K)
//     not causal:
//       scf.for key chunk c:   S += phi(K_c)^T V_c; z += colsum phi(K_c)
//       scf.for query chunk c: out_c = phi(Q_c) S / phi(Q_c) z
//     causal (chunked prefix sums), scf.for chunk c:
//       A = phi(Q_c) phi(K_c)^T, 0 above the diagonal        [C, C]
//       out_c = (A V_c + phi(Q_c) S) / (rowsum A + phi(Q_c) z)
//       S += phi(K_c)^T V_c; z += colsum phi(K_c)
//
// phi is elu + 1 for `linear` (F = D). For `performer` (F = m),
// phi(x)_r = exp(w_r^T x - |x|^2/2 - stabilizer) / sqrt(m) on x scaled by
// sqrt(scale) (d^-1/4 for the default scale), with W the constant drawn by
// performerFeatureMatrix. The stabilizer of a query is the row's own
// maximum exponent and that of every key the single maximum M above; both,
// like 1/sqrt(m) and a query's |q|^2/2, cancel between numerator and
// denominator, so the code leaves out the constant factors that cancel
// (a query's features are exp(w_r^T q - max_r' w_r'^T q)).
//
// Chunks have C = 64 positions (fewer when m > 256, so that a feature tile
// stays within the 64 KiB stack budget of a per-thread temporary; the whole
// sequence when it is shorter). When the length is not a multiple of C the
// last chunk is shifted back to end at the sequence end, as in the fused
// softmax kernel: its keys before the chunk's own first position were
// already summed and get zero features, and its query rows before that
// position keep the output the previous chunk wrote.
//
// Every contraction is a plain matmul on static tiles whose right-hand side
// is contiguous along its output columns (phi(K)^T is built transposed, W
// is stored as W^T), so xf-cpu-tile-and-vectorize gives each one its
// register-tiled vector form. The scratch tiles are carried through the
// chunk loops and updated in place, so bufferization gives each one buffer
// for the whole loop; the state S lives in a [B, H, F, Dv] buffer of the
// forall (linear in neither sequence length, and too large for the stack
// when m is large).
//
//===----------------------------------------------------------------------===//
#include "LinearAttention.h"

#include "xf/Analysis/AttentionPattern.h"
#include "xf/Analysis/RandomFeatures.h"
#include "xf/Dialect/XF/XFOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::xf;

namespace {

using utils::IteratorType;

/// The largest feature tile (C x F floats) a chunk may use: the stack limit
/// of xf-plan-memory's per-thread temporaries. The chunk itself
/// (kernelizedAttentionChunk) is 64 positions where that fits: a 64 x 64
/// intra-chunk score tile is 16 KiB, and 64 rows make whole register tiles.
constexpr int64_t kMaxTileFloats = 16384;

//===----------------------------------------------------------------------===//
// Small builders
//===----------------------------------------------------------------------===//

/// Index and f32 arithmetic and linalg ops on one builder and location.
struct Emitter {
  OpBuilder &b;
  Location loc;

  MLIRContext *ctx() const { return b.getContext(); }
  AffineExpr dim(unsigned i) const { return getAffineDimExpr(i, ctx()); }
  AffineMap map(unsigned numDims, ArrayRef<AffineExpr> results) const {
    return AffineMap::get(numDims, 0, results, ctx());
  }
  AffineMap identity(unsigned numDims) const {
    return AffineMap::getMultiDimIdentityMap(numDims, ctx());
  }
  Value idx(int64_t v) const {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  Value f32(double v) const {
    return arith::ConstantOp::create(b, loc, b.getF32Type(),
                                     b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) const {
    return arith::AddIOp::create(b, loc, x, y);
  }
  Value mul(Value x, Value y) const {
    return arith::MulIOp::create(b, loc, x, y);
  }
  Value min(Value x, Value y) const {
    return arith::MinSIOp::create(b, loc, x, y);
  }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) const {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  /// A fresh uninitialized tile. Not tensor.empty: CSE merges equal empty
  /// tensors, and the scratch tiles of a loop initialized with one value
  /// would then share one buffer (alloc_tensor is never merged).
  Value empty(ArrayRef<int64_t> shape) const {
    auto type = RankedTensorType::get(shape, b.getF32Type());
    return bufferization::AllocTensorOp::create(b, loc, type, ValueRange{});
  }
  Value fill(Value dest, double v) const {
    return linalg::FillOp::create(b, loc, f32(v), dest).getResult(0);
  }
  /// A static [rows, cols] tile of the [B, S, H*D] tensor `x` at (batch,
  /// row, column), without the unit batch dimension.
  Value tile(Value x, Value batch, Value row, Value col, int64_t rows,
             int64_t cols) const {
    auto type = RankedTensorType::get({rows, cols}, b.getF32Type());
    SmallVector<OpFoldResult> offsets{batch, row, col};
    SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(rows),
                                    b.getIndexAttr(cols)};
    SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(b, loc, type, x, offsets, sizes,
                                          strides);
  }
  Value
  generic(ValueRange inputs, Value init, ArrayRef<AffineMap> maps,
          ArrayRef<IteratorType> iterators,
          function_ref<void(OpBuilder &, Location, ValueRange)> body) const {
    return linalg::GenericOp::create(b, loc, TypeRange{init.getType()}, inputs,
                                     ValueRange{init}, maps, iterators, body)
        .getResult(0);
  }
  /// C[i, n] += A[i, k] B[k, n] into `acc` (which holds the start value):
  /// the matmul form xf-cpu-tile-and-vectorize register-tiles, B and C
  /// contiguous along n.
  Value matmulAccumulate(Value a, Value bMat, Value acc) const {
    return generic(
        {a, bMat}, acc,
        {map(3, {dim(0), dim(2)}), map(3, {dim(2), dim(1)}),
         map(3, {dim(0), dim(1)})},
        {IteratorType::parallel, IteratorType::parallel,
         IteratorType::reduction},
        [](OpBuilder &nb, Location l, ValueRange args) {
          // The sequential sum (no reassociation), as the fused kernel's
          // P V: the vectorized form runs over n, not k.
          Value product = arith::MulFOp::create(nb, l, args[0], args[1]);
          linalg::YieldOp::create(
              nb, l,
              arith::AddFOp::create(nb, l, args[2], product).getResult());
        });
  }
  /// `reassoc contract`: a row reduction over the innermost, contiguous
  /// loop, which LLVM may then split into vector partial sums (as the fused
  /// kernel's Q K^T). Sequential, each one is a chain of dependent scalar
  /// adds; the denominators phi(Q_c) z (m = 256 terms per row) then cost
  /// as much as the whole phi(Q_c) S product.
  static arith::FastMathFlagsAttr reductionFlags(OpBuilder &nb) {
    return arith::FastMathFlagsAttr::get(
        nb.getContext(),
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
  }
  /// acc[i] += sum_f a[i, f] x[f] (x null: sum_f a[i, f]), reassociable.
  Value rowDotAccumulate(Value a, Value x, Value acc) const {
    SmallVector<Value> inputs{a};
    SmallVector<AffineMap> maps{identity(2)};
    if (x) {
      inputs.push_back(x);
      maps.push_back(map(2, {dim(1)}));
    }
    maps.push_back(map(2, {dim(0)}));
    bool withX = static_cast<bool>(x);
    return generic(
        inputs, acc, maps, {IteratorType::parallel, IteratorType::reduction},
        [withX](OpBuilder &nb, Location l, ValueRange args) {
          auto flags = reductionFlags(nb);
          Value term = args[0];
          if (withX)
            term = arith::MulFOp::create(nb, l, args[0], args[1], flags);
          linalg::YieldOp::create(
              nb, l,
              arith::AddFOp::create(nb, l, args.back(), term, flags)
                  .getResult());
        });
  }
};

//===----------------------------------------------------------------------===//
// The problem
//===----------------------------------------------------------------------===//

/// Everything the kernel needs, fixed at compile time.
struct Problem {
  bool performer, causal;
  int64_t batch, heads, sq, sk, d, dv;
  /// Features per position: D (linear) or m (Performer).
  int64_t f;
  /// Query and key chunk lengths (min(C, S)).
  int64_t cq, ck;
  /// Performer: the inputs' scale factor sqrt(scale) folded into W^T, and
  /// scale / 2 for the squared norm of an unscaled key.
  double halfScale = 0;
  Value q, k, v, keyLengths;
  /// Performer: W^T scaled by sqrt(scale), [D, m].
  Value wT;
};

/// Per (batch, head): the values every chunk step reads.
struct Head {
  Value batch, qCol, kCol, vCol;
  /// Valid keys end here (key_lengths[b], clamped), or null.
  Value len;
  /// Performer: the key stabilizer M (scalar f32).
  Value keyMax;
};

/// The first position of chunk `c` of length `chunk` over `length`
/// positions, shifted back to `length - chunk` for a ragged tail; and the
/// first position it owns (c * chunk).
std::pair<Value, Value> chunkStart(const Emitter &e, Value c, int64_t chunk,
                                   int64_t length) {
  Value first = e.mul(c, e.idx(chunk));
  if (length % chunk == 0)
    return {first, first};
  return {e.min(first, e.idx(length - chunk)), first};
}

/// Is key `j` (absolute) one to sum: at or after the chunk's own first
/// position and before the key length? Null when every key is.
Value validKey(const Emitter &e, const Problem &p, const Head &h, Value j,
               Value kFirst, bool ragged) {
  Value valid;
  if (ragged)
    valid = e.cmp(arith::CmpIPredicate::sge, j, kFirst);
  if (h.len) {
    Value inside = e.cmp(arith::CmpIPredicate::slt, j, h.len);
    valid = valid ? arith::AndIOp::create(e.b, e.loc, valid, inside).getResult()
                  : inside;
  }
  return valid;
}

/// e^x for f32 as plain arithmetic (Cephes' expf: x = n ln 2 + r with
/// |r| <= ln 2 / 2, a degree-6 polynomial for e^r, 2^n from the exponent
/// bits; about 1 ulp), instead of math.exp. The feature maps take one
/// exponential per feature per position (m of them per Performer
/// position), and math.exp becomes a call to libm's scalar expf, which
/// keeps LLVM from vectorizing those loops: at m = 256 the calls took a
/// quarter of the kernel's time. This form is vectorized like any other
/// arithmetic. x is clamped to [-104, 88.72]: below, expf is 0 in f32
/// (the result underflows to 0 here too); above, it overflows. NaN stays
/// NaN. 2^n is applied as two factors 2^(n - h) 2^h (h = n / 2), each a
/// normal float for every n in range, so results below 2^-126 become
/// denormals (or 0) by the final rounding, as expf's.
Value expF32(OpBuilder &b, Location l, Value x) {
  Emitter e{b, l};
  Type i32 = b.getI32Type();
  auto i32c = [&](int32_t v) {
    return arith::ConstantOp::create(b, l, i32, b.getI32IntegerAttr(v));
  };
  auto mulf = [&](Value u, Value v) {
    return arith::MulFOp::create(b, l, u, v).getResult();
  };
  auto addf = [&](Value u, Value v) {
    return arith::AddFOp::create(b, l, u, v).getResult();
  };
  x = arith::MaximumFOp::create(b, l, x, e.f32(-104.0));
  x = arith::MinimumFOp::create(b, l, x, e.f32(88.72));
  // n = round(x / ln 2): adding 1.5 * 2^23 rounds to an integer in the
  // low mantissa bits (no fast-math flags here, so this is not folded).
  const double magic = 12582912.0;
  Value t = addf(mulf(x, e.f32(1.44269504088896341)), e.f32(magic));
  Value nf = arith::SubFOp::create(b, l, t, e.f32(magic));
  Value n = arith::SubIOp::create(b, l,
                                  arith::BitcastOp::create(b, l, i32, t),
                                  i32c(0x4B400000));
  // r = x - n ln 2, ln 2 in two parts so n ln2_hi is exact.
  Value r = arith::SubFOp::create(b, l, x, mulf(nf, e.f32(0.693359375)));
  r = arith::SubFOp::create(b, l, r, mulf(nf, e.f32(-2.12194440e-4)));
  Value p = e.f32(1.9875691500e-4);
  for (double c : {1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                   1.6666665459e-1, 5.0000001201e-1})
    p = addf(mulf(p, r), e.f32(c));
  p = addf(addf(mulf(mulf(p, r), r), r), e.f32(1.0));
  auto pow2 = [&](Value k) {
    Value bits = arith::ShLIOp::create(b, l, arith::AddIOp::create(
                                                 b, l, k, i32c(127)),
                                       i32c(23));
    return arith::BitcastOp::create(b, l, b.getF32Type(), bits).getResult();
  };
  Value h = arith::ShRSIOp::create(b, l, n, i32c(1));
  Value rest = arith::SubIOp::create(b, l, n, h);
  return mulf(mulf(p, pow2(rest)), pow2(h));
}

/// elu(x) + 1: x + 1 above 0, e^x at or below.
Value eluPlusOne(OpBuilder &b, Location l, Value x) {
  Emitter e{b, l};
  Value positive =
      arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, x, e.f32(0.0));
  return arith::SelectOp::create(b, l, positive,
                                 arith::AddFOp::create(b, l, x, e.f32(1.0)),
                                 expF32(b, l, x));
}

//===----------------------------------------------------------------------===//
// Features
//===----------------------------------------------------------------------===//

/// Scratch tiles of one chunk loop, carried through it (see the banner).
/// Unused entries are null.
struct Scratch {
  /// Performer projections X W^T, [C, m].
  Value proj;
  /// Per-row statistics: a query row's maximum, a key's |k|^2 scale / 2.
  Value rowStat;
  /// phi(Q_c) [Cq, F]; phi(K_c)^T [F, Ck].
  Value phiQ, phiKT;
};

/// Performer: U = X W^T for the [C, D] tile `x`, into `proj`.
Value project(const Emitter &e, const Problem &p, Value x, Value proj) {
  return e.matmulAccumulate(x, p.wT, e.fill(proj, 0.0));
}

/// |x_i|^2 scale / 2 per row of the [C, D] tile `x`, into `stat`.
Value halfSquaredNorms(const Emitter &e, const Problem &p, Value x,
                       Value stat) {
  double halfScale = p.halfScale;
  return e.generic(
      {x}, e.fill(stat, 0.0), {e.identity(2), e.map(2, {e.dim(0)})},
      {IteratorType::parallel, IteratorType::reduction},
      [halfScale](OpBuilder &nb, Location l, ValueRange args) {
        Emitter ne{nb, l};
        auto flags = Emitter::reductionFlags(nb);
        Value sq = arith::MulFOp::create(nb, l, args[0], args[0], flags);
        Value scaled =
            arith::MulFOp::create(nb, l, sq, ne.f32(halfScale), flags);
        linalg::YieldOp::create(
            nb, l,
            arith::AddFOp::create(nb, l, args[1], scaled, flags).getResult());
      });
}

/// Row maxima of the [C, F] tile `u`, into `stat`.
Value rowMax(const Emitter &e, Value u, Value stat) {
  return e.generic(
      {u}, e.fill(stat, -std::numeric_limits<double>::infinity()),
      {e.identity(2), e.map(2, {e.dim(0)})},
      {IteratorType::parallel, IteratorType::reduction},
      [](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(
            nb, l,
            arith::MaximumFOp::create(nb, l, args[1], args[0]).getResult());
      });
}

/// phi(Q_c) for the query tile `x` [Cq, D], into s.phiQ; updates `s`.
Value queryFeatures(const Emitter &e, const Problem &p, Value x, Scratch &s) {
  if (!p.performer)
    return e.generic({x}, s.phiQ, {e.identity(2), e.identity(2)},
                     {IteratorType::parallel, IteratorType::parallel},
                     [](OpBuilder &nb, Location l, ValueRange args) {
                       linalg::YieldOp::create(nb, l,
                                               eluPlusOne(nb, l, args[0]));
                     });
  // exp(u_r - max_r u): the row's own stabilizer; |q|^2/2 and 1/sqrt(m)
  // are constant over the row and cancel in the ratio.
  s.proj = project(e, p, x, s.proj);
  s.rowStat = rowMax(e, s.proj, s.rowStat);
  return e.generic(
      {s.proj, s.rowStat}, s.phiQ,
      {e.identity(2), e.map(2, {e.dim(0)}), e.identity(2)},
      {IteratorType::parallel, IteratorType::parallel},
      [](OpBuilder &nb, Location l, ValueRange args) {
        Value shifted = arith::SubFOp::create(nb, l, args[0], args[1]);
        linalg::YieldOp::create(
            nb, l, expF32(nb, l, shifted));
      });
}

/// phi(K_c)^T [F, Ck] for the key tile `x` [Ck, D] starting at absolute
/// position `kStart` (owning from `kFirst`), zero for keys not to sum, into
/// s.phiKT; updates `s`.
Value keyFeaturesT(const Emitter &e, const Problem &p, const Head &h, Value x,
                   Value kStart, Value kFirst, Scratch &s) {
  bool ragged = p.sk % p.ck != 0;
  bool masked = ragged || h.len;
  auto valid = [&](OpBuilder &nb, Location l) -> Value {
    Emitter ne{nb, l};
    Value j = ne.add(kStart, linalg::IndexOp::create(nb, l, 1));
    return validKey(ne, p, h, j, kFirst, ragged);
  };
  // Written transposed: (f, j) reads x[j, f].
  AffineMap transposed = e.map(2, {e.dim(1), e.dim(0)});
  if (!p.performer)
    return e.generic({x}, s.phiKT, {transposed, e.identity(2)},
                     {IteratorType::parallel, IteratorType::parallel},
                     [&](OpBuilder &nb, Location l, ValueRange args) {
                       Value phi = eluPlusOne(nb, l, args[0]);
                       if (masked)
                         phi = arith::SelectOp::create(nb, l, valid(nb, l), phi,
                                                       Emitter{nb, l}.f32(0.0));
                       linalg::YieldOp::create(nb, l, phi);
                     });
  // exp(u_r - |k|^2/2 - M): one stabilizer for every key and feature.
  s.proj = project(e, p, x, s.proj);
  s.rowStat = halfSquaredNorms(e, p, x, s.rowStat);
  Value keyMax = h.keyMax;
  return e.generic({s.proj, s.rowStat}, s.phiKT,
                   {transposed, e.map(2, {e.dim(1)}), e.identity(2)},
                   {IteratorType::parallel, IteratorType::parallel},
                   [&](OpBuilder &nb, Location l, ValueRange args) {
                     Value exponent = arith::SubFOp::create(
                         nb, l, arith::SubFOp::create(nb, l, args[0], args[1]),
                         keyMax);
                     Value phi = expF32(nb, l, exponent);
                     if (masked)
                       phi = arith::SelectOp::create(nb, l, valid(nb, l), phi,
                                                     Emitter{nb, l}.f32(0.0));
                     linalg::YieldOp::create(nb, l, phi);
                   });
}

/// Performer: M = max over valid keys j and features r of
/// w_r^T k_j - |k_j|^2/2 (0 when there is no valid key), one pass over K.
Value keyStabilizer(OpBuilder &b, Location loc, const Problem &p,
                    const Head &h) {
  Emitter e{b, loc};
  bool ragged = p.sk % p.ck != 0;
  int64_t numChunks = (p.sk + p.ck - 1) / p.ck;
  auto scalarType = RankedTensorType::get({}, b.getF32Type());
  Value m0 = e.fill(
      bufferization::AllocTensorOp::create(b, loc, scalarType, ValueRange{}),
      -std::numeric_limits<double>::infinity());
  Value proj0 = e.empty({p.ck, p.f});
  Value max0 = e.empty({p.ck}), norm0 = e.empty({p.ck});
  auto loop = scf::ForOp::create(
      b, loc, e.idx(0), e.idx(numChunks), e.idx(1),
      ValueRange{m0, proj0, max0, norm0},
      [&](OpBuilder &nb, Location nl, Value c, ValueRange carried) {
        Emitter ne{nb, nl};
        auto [kStart, kFirst] = chunkStart(ne, c, p.ck, p.sk);
        Value x = ne.tile(p.k, h.batch, kStart, h.kCol, p.ck, p.d);
        Value proj = project(ne, p, x, carried[1]);
        Value maxes = rowMax(ne, proj, carried[2]);
        Value norms = halfSquaredNorms(ne, p, x, carried[3]);
        Value m = ne.generic(
            {maxes, norms}, carried[0],
            {ne.identity(1), ne.identity(1), ne.map(1, {})},
            {IteratorType::reduction},
            [&](OpBuilder &bb, Location l, ValueRange args) {
              Emitter be{bb, l};
              Value top = arith::SubFOp::create(bb, l, args[0], args[1]);
              Value j = be.add(kStart, linalg::IndexOp::create(bb, l, 0));
              if (Value valid = validKey(be, p, h, j, kFirst, ragged))
                top = arith::SelectOp::create(
                    bb, l, valid, top,
                    be.f32(-std::numeric_limits<double>::infinity()));
              linalg::YieldOp::create(
                  bb, l,
                  arith::MaximumFOp::create(bb, l, args[2], top).getResult());
            });
        scf::YieldOp::create(nb, nl, ValueRange{m, proj, maxes, norms});
      });
  Value m = tensor::ExtractOp::create(b, loc, loop.getResult(0), ValueRange{});
  // No valid key: every feature is 0 anyway; keep the exponent finite.
  Value isNegInf =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, m,
                            e.f32(-std::numeric_limits<double>::infinity()));
  return arith::SelectOp::create(b, loc, isNegInf, e.f32(0.0), m);
}

//===----------------------------------------------------------------------===//
// Chunk steps
//===----------------------------------------------------------------------===//

/// S += phi(K_c)^T V_c and z += colsum phi(K_c) (rowsum of the transposed
/// tile); returns the new (S, z).
std::pair<Value, Value> accumulateState(const Emitter &e, Value phiKT,
                                        Value vTile, Value state, Value z) {
  return {e.matmulAccumulate(phiKT, vTile, state),
          e.rowDotAccumulate(phiKT, Value(), z)};
}

/// Writes rows [qFirst, qStart + Cq) of out = num / den (0 where den is 0)
/// into the [Sq, Dv] slab `out`; rows before qFirst (a shifted tail chunk)
/// keep their value.
Value writeRows(const Emitter &e, const Problem &p, Value out, Value num,
                Value den, Value qStart, Value qFirst) {
  OpBuilder &b = e.b;
  SmallVector<OpFoldResult> offsets{qStart, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(p.cq), b.getIndexAttr(p.dv)};
  SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
  auto type = RankedTensorType::get({p.cq, p.dv}, b.getF32Type());
  Value rows = tensor::ExtractSliceOp::create(b, e.loc, type, out, offsets,
                                              sizes, strides);
  bool ragged = p.sq % p.cq != 0;
  Value result = e.generic(
      {num, den}, rows, {e.identity(2), e.map(2, {e.dim(0)}), e.identity(2)},
      {IteratorType::parallel, IteratorType::parallel},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Emitter ne{nb, l};
        Value div = arith::DivFOp::create(nb, l, args[0], args[1]);
        Value positive = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT,
                                               args[1], ne.f32(0.0));
        Value value =
            arith::SelectOp::create(nb, l, positive, div, ne.f32(0.0));
        if (ragged) {
          Value i = ne.add(qStart, linalg::IndexOp::create(nb, l, 0));
          Value owned = ne.cmp(arith::CmpIPredicate::sge, i, qFirst);
          value = arith::SelectOp::create(nb, l, owned, value, args[2]);
        }
        linalg::YieldOp::create(nb, l, value);
      });
  return tensor::InsertSliceOp::create(b, e.loc, result, out, offsets, sizes,
                                       strides);
}

/// Not causal: the key loop (S, z), then the query loop (outputs). Returns
/// the output slab and the final state.
std::pair<Value, Value> buildNonCausal(OpBuilder &b, Location loc,
                                       const Problem &p, const Head &h,
                                       Value state, Value z, Value out) {
  Emitter e{b, loc};
  // Keys: only chunks starting before the key length contribute.
  Value numKeyChunks = e.idx((p.sk + p.ck - 1) / p.ck);
  if (h.len)
    numKeyChunks = e.min(
        numKeyChunks, arith::CeilDivSIOp::create(b, loc, h.len, e.idx(p.ck)));
  SmallVector<Value> keyInit{state, z, e.empty({p.f, p.ck})};
  if (p.performer)
    keyInit.append({e.empty({p.ck, p.f}), e.empty({p.ck})});
  auto keys = scf::ForOp::create(
      b, loc, e.idx(0), numKeyChunks, e.idx(1), keyInit,
      [&](OpBuilder &nb, Location nl, Value c, ValueRange carried) {
        Emitter ne{nb, nl};
        auto [kStart, kFirst] = chunkStart(ne, c, p.ck, p.sk);
        Scratch s;
        s.phiKT = carried[2];
        if (p.performer) {
          s.proj = carried[3];
          s.rowStat = carried[4];
        }
        Value kTile = ne.tile(p.k, h.batch, kStart, h.kCol, p.ck, p.d);
        Value vTile = ne.tile(p.v, h.batch, kStart, h.vCol, p.ck, p.dv);
        s.phiKT = keyFeaturesT(ne, p, h, kTile, kStart, kFirst, s);
        auto [newState, newZ] =
            accumulateState(ne, s.phiKT, vTile, carried[0], carried[1]);
        SmallVector<Value> next{newState, newZ, s.phiKT};
        if (p.performer)
          next.append({s.proj, s.rowStat});
        scf::YieldOp::create(nb, nl, next);
      });
  state = keys.getResult(0);
  z = keys.getResult(1);

  int64_t numQueryChunks = (p.sq + p.cq - 1) / p.cq;
  SmallVector<Value> queryInit{out, e.empty({p.cq, p.f}), e.empty({p.cq, p.dv}),
                               e.empty({p.cq})};
  if (p.performer)
    queryInit.append({e.empty({p.cq, p.f}), e.empty({p.cq})});
  auto queries = scf::ForOp::create(
      b, loc, e.idx(0), e.idx(numQueryChunks), e.idx(1), queryInit,
      [&](OpBuilder &nb, Location nl, Value c, ValueRange carried) {
        Emitter ne{nb, nl};
        auto [qStart, qFirst] = chunkStart(ne, c, p.cq, p.sq);
        Scratch s;
        s.phiQ = carried[1];
        if (p.performer) {
          s.proj = carried[4];
          s.rowStat = carried[5];
        }
        Value qTile = ne.tile(p.q, h.batch, qStart, h.qCol, p.cq, p.d);
        s.phiQ = queryFeatures(ne, p, qTile, s);
        Value num = ne.matmulAccumulate(s.phiQ, state, ne.fill(carried[2], 0));
        Value den = ne.rowDotAccumulate(s.phiQ, z, ne.fill(carried[3], 0));
        Value written = writeRows(ne, p, carried[0], num, den, qStart, qFirst);
        SmallVector<Value> next{written, s.phiQ, num, den};
        if (p.performer)
          next.append({s.proj, s.rowStat});
        scf::YieldOp::create(nb, nl, next);
      });
  return {queries.getResult(0), state};
}

/// Causal: one loop over chunks of C = Cq = Ck positions, the chunked
/// prefix sums of the banner. Returns the output slab and the final state.
std::pair<Value, Value> buildCausal(OpBuilder &b, Location loc,
                                    const Problem &p, const Head &h,
                                    Value state, Value z, Value out) {
  Emitter e{b, loc};
  int64_t c = p.cq;
  int64_t numChunks = (p.sq + c - 1) / c;
  SmallVector<Value> init{state,
                          z,
                          out,
                          e.empty({c, p.f}),
                          e.empty({p.f, c}),
                          e.empty({c, c}),
                          e.empty({c, p.dv}),
                          e.empty({c})};
  if (p.performer)
    init.append({e.empty({c, p.f}), e.empty({c})});
  auto loop = scf::ForOp::create(
      b, loc, e.idx(0), e.idx(numChunks), e.idx(1), init,
      [&](OpBuilder &nb, Location nl, Value chunk, ValueRange carried) {
        Emitter ne{nb, nl};
        auto [start, first] = chunkStart(ne, chunk, c, p.sq);
        Scratch s;
        s.phiQ = carried[3];
        s.phiKT = carried[4];
        if (p.performer) {
          s.proj = carried[8];
          s.rowStat = carried[9];
        }
        Value qTile = ne.tile(p.q, h.batch, start, h.qCol, c, p.d);
        Value kTile = ne.tile(p.k, h.batch, start, h.kCol, c, p.d);
        Value vTile = ne.tile(p.v, h.batch, start, h.vCol, c, p.dv);
        s.phiQ = queryFeatures(ne, p, qTile, s);
        s.phiKT = keyFeaturesT(ne, p, h, kTile, start, first, s);
        // A = phi(Q_c) phi(K_c)^T, then 0 where j > i (in place).
        Value scores =
            ne.matmulAccumulate(s.phiQ, s.phiKT, ne.fill(carried[5], 0.0));
        scores = ne.generic(
            {}, scores, {ne.identity(2)},
            {IteratorType::parallel, IteratorType::parallel},
            [](OpBuilder &bb, Location l, ValueRange args) {
              Emitter be{bb, l};
              Value above = be.cmp(arith::CmpIPredicate::sgt,
                                   linalg::IndexOp::create(bb, l, 1),
                                   linalg::IndexOp::create(bb, l, 0));
              linalg::YieldOp::create(
                  bb, l,
                  arith::SelectOp::create(bb, l, above, be.f32(0.0), args[0])
                      .getResult());
            });
        // Earlier chunks through the state, this one through A.
        Value num =
            ne.matmulAccumulate(s.phiQ, carried[0], ne.fill(carried[6], 0.0));
        num = ne.matmulAccumulate(scores, vTile, num);
        Value den =
            ne.rowDotAccumulate(s.phiQ, carried[1], ne.fill(carried[7], 0.0));
        den = ne.rowDotAccumulate(scores, Value(), den);
        Value written = writeRows(ne, p, carried[2], num, den, start, first);
        auto [newState, newZ] =
            accumulateState(ne, s.phiKT, vTile, carried[0], carried[1]);
        SmallVector<Value> next{newState, newZ,   written, s.phiQ,
                                s.phiKT,  scores, num,     den};
        if (p.performer)
          next.append({s.proj, s.rowStat});
        scf::YieldOp::create(nb, nl, next);
      });
  return {loop.getResult(2), loop.getResult(0)};
}

/// The forall body for (batch, head): the [Sq, Dv] output slab and the
/// state, inserted into the forall's shared outputs.
void buildHead(OpBuilder &b, Location loc, const Problem &p,
               scf::ForallOp forall) {
  Emitter e{b, loc};
  SmallVector<Value> ivs = forall.getInductionVars();
  Head h;
  h.batch = ivs[0];
  Value head = ivs[1];
  h.qCol = h.kCol = e.mul(head, e.idx(p.d));
  h.vCol = e.mul(head, e.idx(p.dv));
  if (p.keyLengths) {
    Value raw = tensor::ExtractOp::create(b, loc, p.keyLengths, h.batch);
    Value len = arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
    h.len = arith::MaxSIOp::create(b, loc, e.min(len, e.idx(p.sk)), e.idx(0));
  }
  if (p.performer)
    h.keyMax = keyStabilizer(b, loc, p, h);

  Value outArg = forall.getRegionIterArgs()[0];
  Value stateArg = forall.getRegionIterArgs()[1];
  SmallVector<OpFoldResult> outOffsets{h.batch, b.getIndexAttr(0), h.vCol};
  SmallVector<OpFoldResult> outSizes{b.getIndexAttr(1), b.getIndexAttr(p.sq),
                                     b.getIndexAttr(p.dv)};
  SmallVector<OpFoldResult> strides3(3, b.getIndexAttr(1));
  auto slabType = RankedTensorType::get({p.sq, p.dv}, b.getF32Type());
  Value slab = tensor::ExtractSliceOp::create(b, loc, slabType, outArg,
                                              outOffsets, outSizes, strides3);
  SmallVector<OpFoldResult> stateOffsets{h.batch, head, b.getIndexAttr(0),
                                         b.getIndexAttr(0)};
  SmallVector<OpFoldResult> stateSizes{b.getIndexAttr(1), b.getIndexAttr(1),
                                       b.getIndexAttr(p.f),
                                       b.getIndexAttr(p.dv)};
  SmallVector<OpFoldResult> strides4(4, b.getIndexAttr(1));
  auto stateType = RankedTensorType::get({p.f, p.dv}, b.getF32Type());
  Value state =
      e.fill(tensor::ExtractSliceOp::create(b, loc, stateType, stateArg,
                                            stateOffsets, stateSizes, strides4),
             0.0);
  Value z = e.fill(e.empty({p.f}), 0.0);

  auto [result, finalState] =
      p.causal ? buildCausal(b, loc, p, h, state, z, slab)
               : buildNonCausal(b, loc, p, h, state, z, slab);
  // The state is inserted back only so that its buffer is the forall's (one
  // per (batch, head), written in place by every chunk); nothing reads it.
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(b, loc, result, outArg, outOffsets,
                                        outSizes, strides3);
  tensor::ParallelInsertSliceOp::create(b, loc, finalState, stateArg,
                                        stateOffsets, stateSizes, strides4);
}

} // namespace

FailureOr<Value> mlir::xf::buildLinearAttention(PatternRewriter &rewriter,
                                                AttentionOp op,
                                                const PatternPart &part) {
  Location loc = op.getLoc();
  auto shape = [](Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  };
  Problem p;
  p.performer = part.kind == PatternPart::Kind::Performer;
  p.causal = part.causal;
  p.heads = op.getNumHeads();
  p.batch = shape(op.getQuery())[0];
  p.sq = shape(op.getQuery())[1];
  p.sk = shape(op.getKey())[1];
  p.d = shape(op.getQuery())[2] / p.heads;
  p.dv = shape(op.getValue())[2] / p.heads;
  p.q = op.getQuery();
  p.k = op.getKey();
  p.v = op.getValue();
  p.keyLengths = op.getKeyLengths();
  if (p.sq == 0 || p.sk == 0)
    return op.emitOpError() << "has attention family '" << part.name()
                            << "', which needs at least one query and one "
                               "key, found "
                            << p.sq << " queries and " << p.sk << " keys";
  if (p.causal && p.sq != p.sk)
    return op.emitOpError()
           << "has causal attention family '" << part.name()
           << "', which needs as many queries as keys (prefix sums over "
              "the same positions), found "
           << p.sq << " queries and " << p.sk << " keys";
  p.f = p.performer ? part.features : p.d;
  // A chunk's feature tile (C x F floats) must fit the per-thread stack
  // budget: C = 64 up to F = 256, then halved as F doubles.
  int64_t chunk = kernelizedAttentionChunk(p.f);
  if (chunk * p.f > kMaxTileFloats || p.f * p.d > 4 * kMaxTileFloats)
    return op.emitOpError()
           << "has attention family '" << part.describe() << "' with " << p.f
           << " features per position, more than this lowering "
           << "supports (at most " << kMaxTileFloats / 8
           << " features, and features x head_dim at most "
           << 4 * kMaxTileFloats << ")";
  p.cq = std::min(chunk, p.sq);
  p.ck = std::min(chunk, p.sk);
  if (p.causal)
    p.cq = p.ck = std::min(chunk, p.sq);

  if (p.performer) {
    // W^T with the input scale sqrt(scale) folded in: (s x) . w =
    // x . (s w). For the default scale 1/sqrt(D) that is Performer's
    // d^-1/4; any other scale is the softmax(scale q.k) it approximates.
    double scale = op.getScale().convertToDouble();
    double root = std::sqrt(scale);
    p.halfScale = scale / 2;
    std::vector<float> w = performerFeatureMatrix(p.f, p.d, part.seed);
    SmallVector<float> wT(size_t(p.d * p.f));
    for (int64_t r = 0; r < p.f; ++r)
      for (int64_t c = 0; c < p.d; ++c)
        wT[size_t(c * p.f + r)] =
            static_cast<float>(root * double(w[size_t(r * p.d + c)]));
    auto type = RankedTensorType::get({p.d, p.f}, rewriter.getF32Type());
    p.wT = arith::ConstantOp::create(
        rewriter, loc, type, DenseElementsAttr::get(type, ArrayRef<float>(wT)));
  }

  Value out = tensor::EmptyOp::create(rewriter, loc, shape(op.getResult()),
                                      rewriter.getF32Type());
  Value state = tensor::EmptyOp::create(
      rewriter, loc, ArrayRef<int64_t>{p.batch, p.heads, p.f, p.dv},
      rewriter.getF32Type());
  SmallVector<OpFoldResult> ubs{rewriter.getIndexAttr(p.batch),
                                rewriter.getIndexAttr(p.heads)};
  auto forall =
      scf::ForallOp::create(rewriter, loc, ubs, ValueRange{out, state},
                            /*mapping=*/std::nullopt);
  {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(forall.getBody());
    buildHead(rewriter, loc, p, forall);
  }
  // The state's buffer is freed here: a use of the forall's second result,
  // without which canonicalization would drop that shared output and leave
  // a per-thread copy of S on the stack (too large for big m).
  bufferization::DeallocTensorOp::create(rewriter, loc, forall.getResult(1));
  return forall.getResult(0);
}
