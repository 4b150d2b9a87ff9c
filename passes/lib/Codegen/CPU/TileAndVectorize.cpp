//===- TileAndVectorize.cpp - CPU tiling and vectorization ------*- C++ -*-===//
//
// Part of xfc. Implements xf-cpu-tile-and-vectorize: the loop structure of
// every matmul-like contraction on the CPU (see Passes.td for the nest).
//
// The kernel is the classic outer-product register tile: for each k, one
// row of B (nr floats, nr / width vector loads) is multiplied by mr
// broadcast scalars of A and accumulated into mr x nr / width vector
// registers. Everything is done on tensors, before bufferization, because
// hoisting the accumulator out of the k loop is only provably legal there
// (after bufferization the reads of A and B might alias C).
//
//===----------------------------------------------------------------------===//
#include "xf/Codegen/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFCPUTILEANDVECTORIZE
#include "xf/Codegen/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;

namespace {

/// Marks the register-tile contractions this pass created, so that the
/// vectorization step finds exactly them.
constexpr llvm::StringLiteral kMicroTileMarker = "xf.micro_tile";
/// Marks an epilogue tile (one row of one vector) to vectorize, and the
/// loop nest around it.
constexpr llvm::StringLiteral kEpilogueTileMarker = "xf.epilogue_tile";
constexpr llvm::StringLiteral kEpilogueRowsMarker = "xf.epilogue_rows";

/// The loops of a contraction `C[b.., m, n] += A[b.., m, k] * B[b.., k, n]`
/// (any loop order), by position in the linalg op's iteration space. With
/// a pre-packed B (`B[no, k, n]`, panels of n columns stored contiguously)
/// the panel index `no` is an outer n loop of its own.
struct ContractionLoops {
  SmallVector<unsigned> batch;
  std::optional<unsigned> nOuter;
  unsigned m, n, k;
};

/// Tile sizes, in elements. Chosen for 16 (AVX2) or 32 (AVX-512) vector
/// registers and a 32 KiB L1 data cache; see tileSizesFor.
struct TileSizes {
  int64_t mc, nc, kc, mr, nr;
};

TileSizes tileSizesFor(int64_t vectorWidth) {
  TileSizes t;
  // Register tile: mr x nr accumulators with nr = 3 vectors. AVX2: 4 x 24
  // = 12 of 16 ymm (SSE the same with xmm), AVX-512: 8 x 48 = 24 of 32
  // zmm; the rest hold the row of B and the broadcast of A. 768, 2304 and 3072 (BERT, GPT-2) are
  // multiples of 24 and 48, so whole layers run in full tiles.
  t.nr = 3 * vectorWidth;
  t.mr = vectorWidth == 16 ? 8 : 4;
  // kc rows of an nr-wide panel of B: 256 * 24 * 4 B = 24 KiB stays in L1
  // while the m loop sweeps mc rows of A past it.
  t.kc = vectorWidth == 16 ? 128 : 256;
  // Thread tiles: enough of them for two to eight cores on M = 128 rows,
  // and an A panel (mc x kc) that stays in L2.
  t.mc = 64;
  t.nc = 8 * t.nr;
  return t;
}

/// Returns the loops of `op` if it is a single-output multiply-accumulate
/// contraction on static tensors whose B operand and output are contiguous
/// along n (so a row of B and a row of the accumulator are vectors).
std::optional<ContractionLoops> matchOuterProductContraction(
    linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op) ||
      op.hasDynamicShape())
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.empty() ||
      dims->n.size() > 2 || dims->k.size() != 1)
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  auto innermostIs = [](AffineMap map, unsigned dim) {
    return map.getNumResults() > 0 &&
           map.getResults().back() == getAffineDimExpr(dim, map.getContext());
  };
  ContractionLoops loops;
  loops.batch.assign(dims->batch.begin(), dims->batch.end());
  loops.m = dims->m[0];
  loops.k = dims->k[0];
  // The vectorized n is the one innermost in the output.
  loops.n = dims->n[0];
  if (dims->n.size() == 2) {
    loops.n = innermostIs(maps[2], dims->n[0]) ? dims->n[0] : dims->n[1];
    loops.nOuter = loops.n == dims->n[0] ? dims->n[1] : dims->n[0];
  }
  // Which input is A (has m) and which is B (has n).
  AffineExpr nExpr = getAffineDimExpr(loops.n, op.getContext());
  unsigned bIndex = llvm::is_contained(maps[0].getResults(), nExpr) ? 0 : 1;
  if (!innermostIs(maps[bIndex], loops.n) || !innermostIs(maps[2], loops.n))
    return std::nullopt;
  return loops;
}

/// Tile sizes for the loops of `op`, all zero except the given ones.
SmallVector<OpFoldResult> sizes(OpBuilder &b, unsigned numLoops,
                                ArrayRef<std::pair<unsigned, int64_t>> set) {
  SmallVector<OpFoldResult> result(numLoops, b.getIndexAttr(0));
  for (auto [loop, size] : set)
    result[loop] = b.getIndexAttr(size);
  return result;
}

/// math.fma as a contractable multiply and add. The polynomial
/// approximations are chains of math.fma, which convert-math-to-libm would
/// turn into a scalar `fmaf` call per lane; as `contract` arithmetic LLVM
/// emits one vector FMA instruction.
struct FmaToContractedArith : public OpRewritePattern<math::FmaOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::FmaOp op,
                                PatternRewriter &rewriter) const override {
    auto contract = arith::FastMathFlagsAttr::get(
        getContext(), arith::FastMathFlags::contract);
    Value product = arith::MulFOp::create(rewriter, op.getLoc(), op.getA(),
                                          op.getB(), contract);
    rewriter.replaceOpWithNewOp<arith::AddFOp>(op, product, op.getC(),
                                               contract);
    return success();
  }
};

/// Tiles `op` with `options` and replaces it; returns the tiled op and the
/// loops.
FailureOr<std::pair<linalg::LinalgOp, SmallVector<LoopLikeOpInterface>>>
tileAndReplace(RewriterBase &rewriter, linalg::LinalgOp op,
               const scf::SCFTilingOptions &options) {
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
      rewriter, cast<TilingInterface>(op.getOperation()), options);
  if (failed(tiled) || tiled->tiledOps.size() != 1)
    return failure();
  rewriter.replaceOp(op, tiled->replacements);
  return std::make_pair(cast<linalg::LinalgOp>(tiled->tiledOps.front()),
                        tiled->loops);
}

/// The single all-parallel elementwise linalg op consuming `value` with an
/// identity indexing map, if any: the epilogue to compute on the same tile.
linalg::GenericOp elementwiseConsumer(Value value) {
  if (!value.hasOneUse())
    return nullptr;
  auto consumer = dyn_cast<linalg::GenericOp>(*value.getUsers().begin());
  if (!consumer || !consumer.hasPureTensorSemantics() ||
      consumer.getNumDpsInits() != 1 ||
      consumer.getNumReductionLoops() != 0 || consumer.hasDynamicShape())
    return nullptr;
  // Only what linalg::vectorize accepts: every operand indexed by a
  // projected permutation and no gathers (Transformer-XL's shifted reads).
  if (!llvm::all_of(consumer.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isProjectedPermutation(); }) ||
      consumer.getBody()
          ->walk([](tensor::ExtractOp) { return WalkResult::interrupt(); })
          .wasInterrupted())
    return nullptr;
  OpOperand &use = *value.getUses().begin();
  if (!consumer.getMatchingIndexingMap(&use).isIdentity() ||
      !consumer.getIndexingMapMatchingResult(consumer->getResult(0))
           .isIdentity())
    return nullptr;
  return consumer;
}

struct XFCPUTileAndVectorizePass
    : public xf::impl::XFCPUTileAndVectorizeBase<XFCPUTileAndVectorizePass> {
  using Base::Base;

  void runOnOperation() override {
    if (vectorWidth != 4 && vectorWidth != 8 && vectorWidth != 16) {
      getOperation()->emitError()
          << "xf-cpu-tile-and-vectorize: vector-width must be 4, 8 or 16, got "
          << static_cast<int64_t>(vectorWidth);
      return signalPassFailure();
    }
    TileSizes tiles = tileSizesFor(vectorWidth);

    SmallVector<linalg::LinalgOp> roots;
    getOperation()->walk([&](linalg::LinalgOp op) {
      if (matchOuterProductContraction(op))
        roots.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : roots) {
      linalg::LinalgOp ordered = putNInnermost(rewriter, op);
      for (linalg::LinalgOp piece :
           splitForStaticThreadTiles(rewriter, ordered, tiles))
        if (failed(tileContraction(rewriter, piece, tiles)))
          return signalPassFailure();
    }

    if (failed(cleanUp()) || failed(vectorizeMicroTiles()))
      return signalPassFailure();
  }

  /// Makes n the innermost loop of `op`'s iteration space, keeping the
  /// order of the others ((m, n, k) becomes (m, k, n)). The vectorizer
  /// reads every operand as a vector in loop order and the unrolling below
  /// splits the innermost dimension into `width`-wide pieces: with k
  /// innermost (size 1 in a micro tile) every operand would be read and
  /// multiplied one scalar at a time. Each output element still sums its
  /// k terms in the same order.
  /// (Left as it is when that fails: it is then only slower.)
  linalg::LinalgOp putNInnermost(RewriterBase &rewriter, linalg::LinalgOp op) {
    ContractionLoops loops = *matchOuterProductContraction(op);
    unsigned numLoops = op.getNumLoops();
    if (loops.n == numLoops - 1)
      return op;
    rewriter.setInsertionPoint(op);
    auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
    if (!generic) {
      FailureOr<linalg::GenericOp> generalized =
          linalg::generalizeNamedOp(rewriter, op);
      if (failed(generalized))
        return op;
      generic = *generalized;
    }
    SmallVector<unsigned> order;
    for (unsigned d = 0; d < numLoops; ++d)
      if (d != loops.n)
        order.push_back(d);
    order.push_back(loops.n);
    FailureOr<linalg::GenericOp> interchanged =
        linalg::interchangeGenericOp(rewriter, generic, order);
    if (failed(interchanged))
      return cast<linalg::LinalgOp>(generic.getOperation());
    return cast<linalg::LinalgOp>(interchanged->getOperation());
  }

  /// A contraction inside an scf.forall (a kernel's own thread loop, such
  /// as attention's (batch, head) forall) gets no team of its own: its
  /// thread tiles run one after the other on the enclosing thread
  /// (xf-cpu-forall-to-openmp). The last thread tile of a dimension that
  /// the tile size does not divide would have the dynamic extent
  /// min(size, extent - offset), and so would every register tile in it,
  /// which then stays scalar (a 256-wide Performer projection: 192 vector
  /// columns and 64 scalar ones). Such a contraction is split first, along
  /// m and n, into a part the thread tiles divide and a tail narrower than
  /// one tile (a single static thread tile): every piece then has static
  /// tiles. Top-level contractions keep one parallel loop; so do those
  /// with a fused epilogue, which consumes the whole result.
  SmallVector<linalg::LinalgOp>
  splitForStaticThreadTiles(RewriterBase &rewriter, linalg::LinalgOp op,
                            const TileSizes &t) {
    ContractionLoops loops = *matchOuterProductContraction(op);
    if (!op->getParentOfType<scf::ForallOp>() || loops.nOuter ||
        elementwiseConsumer(op->getResult(0)))
      return {op};
    SmallVector<linalg::LinalgOp> pieces = {op};
    for (auto [dim, size] : {std::make_pair(loops.m, t.mc),
                             std::make_pair(loops.n, t.nc)}) {
      SmallVector<linalg::LinalgOp> next;
      for (linalg::LinalgOp piece : pieces) {
        int64_t extent = piece.getStaticLoopRanges()[dim];
        if (extent <= size || extent % size == 0) {
          next.push_back(piece);
          continue;
        }
        rewriter.setInsertionPoint(piece);
        auto [head, tail] = linalg::splitOp(
            rewriter, cast<TilingInterface>(piece.getOperation()), dim,
            rewriter.getIndexAttr(extent / size * size));
        if (!head || !tail) {
          next.push_back(piece);
          continue;
        }
        next.push_back(cast<linalg::LinalgOp>(head.getOperation()));
        next.push_back(cast<linalg::LinalgOp>(tail.getOperation()));
      }
      pieces = std::move(next);
    }
    return pieces;
  }

  /// Builds the loop nest of Passes.td around one contraction.
  LogicalResult tileContraction(RewriterBase &rewriter, linalg::LinalgOp op,
                                const TileSizes &t) {
    ContractionLoops loops = *matchOuterProductContraction(op);
    unsigned numLoops = op.getNumLoops();
    // Step 1 erases `op` once its tiled copy replaces it: read what later
    // steps need from it now.
    int64_t kSize = op.getStaticLoopRanges()[loops.k];
    Location loc = op.getLoc();

    // 1. Thread tiles over (batch, m, n), rooted at the epilogue if there is
    //    one so that it runs on the tile while it is in cache. The
    //    accumulator's fill/broadcast is recomputed per tile (it is cheap and
    //    saves a pass over C); other producers are never fused, they are
    //    real kernels of their own.
    Operation *contraction = op.getOperation();
    linalg::GenericOp epilogue = elementwiseConsumer(op->getResult(0));
    Operation *root = epilogue ? epilogue.getOperation() : contraction;
    SmallVector<OpFoldResult> threadSizes;
    {
      // Nested in a forall (see splitForStaticThreadTiles), a thread tile
      // at least as large as its dimension is the whole dimension: with
      // the larger size the tile's extent would be a min(size, extent -
      // offset) that only folds after this pass, so its register-tile
      // remainders would have dynamic shapes and stay scalar (a 64-wide
      // tile: 2 x 24 vector columns and 16 scalar). Top-level
      // contractions keep their tiles as they were.
      SmallVector<int64_t> ranges = op.getStaticLoopRanges();
      bool nested = static_cast<bool>(op->getParentOfType<scf::ForallOp>());
      auto clamp = [&](unsigned loop, int64_t size) {
        return std::make_pair(loop,
                              nested ? std::min(size, ranges[loop]) : size);
      };
      SmallVector<std::pair<unsigned, int64_t>> set = {clamp(loops.m, t.mc)};
      if (loops.nOuter)
        set.push_back(clamp(*loops.nOuter, t.nc / t.nr));
      else
        set.push_back(clamp(loops.n, t.nc));
      for (unsigned b : loops.batch)
        set.push_back({b, 1});
      if (epilogue) {
        // The epilogue's loops are the output's dims: map m, n, batch
        // through the contraction's output indexing map.
        AffineMap outMap = op.getIndexingMapsArray().back();
        SmallVector<std::pair<unsigned, int64_t>> rootSet;
        for (auto [pos, expr] : llvm::enumerate(outMap.getResults())) {
          unsigned dim = cast<AffineDimExpr>(expr).getPosition();
          for (auto [loop, size] : set)
            if (loop == dim)
              rootSet.push_back({static_cast<unsigned>(pos), size});
        }
        threadSizes = sizes(rewriter, outMap.getNumResults(), rootSet);
      } else {
        threadSizes = sizes(rewriter, numLoops, set);
      }
    }
    scf::SCFTilingOptions threadOptions;
    threadOptions.setTileSizes(threadSizes);
    threadOptions.setLoopType(parallel ? scf::SCFTilingOptions::LoopType::ForallOp
                                       : scf::SCFTilingOptions::LoopType::ForOp);
    scf::SCFTileAndFuseOptions fuseOptions;
    fuseOptions.setTilingOptions(threadOptions);
    fuseOptions.setFusionControlFn(
        [&](tensor::ExtractSliceOp, OpResult producer,
            bool) -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
          Operation *def = producer.getOwner();
          if (def == contraction || isa<linalg::FillOp, linalg::BroadcastOp>(def))
            return scf::SCFTileAndFuseOptions::ControlFnResult{};
          return std::nullopt;
        });
    rewriter.setInsertionPoint(root);
    FailureOr<scf::SCFTileAndFuseResult> fused =
        scf::tileConsumerAndFuseProducersUsingSCF(
            rewriter, cast<TilingInterface>(root), fuseOptions);
    if (failed(fused))
      return root->emitError("xf-cpu-tile-and-vectorize: thread tiling failed");
    for (OpResult result : root->getResults())
      if (Value replacement = fused->replacements.lookup(result))
        rewriter.replaceAllUsesWith(result, replacement);
    linalg::LinalgOp tiled;
    linalg::GenericOp tiledEpilogue;
    for (Operation *tiledOp : fused->tiledAndFusedOps)
      if (auto linalgOp = dyn_cast<linalg::LinalgOp>(tiledOp)) {
        if (linalg::isaContractionOpInterface(linalgOp))
          tiled = linalgOp;
        else if (epilogue && linalgOp.getNumReductionLoops() == 0 &&
                 isa<linalg::GenericOp>(tiledOp))
          tiledEpilogue = cast<linalg::GenericOp>(tiledOp);
      }
    if (!tiled)
      return root->emitError(
          "xf-cpu-tile-and-vectorize: contraction was not fused into its tile");
    if (root->use_empty())
      rewriter.eraseOp(root);
    if (epilogue && contraction->use_empty())
      rewriter.eraseOp(contraction);

    // 2. kc-deep slices of the reduction, so a kc x nr panel of B stays in
    //    L1 across the m loop.
    if (kSize > t.kc) {
      scf::SCFTilingOptions kOptions;
      kOptions.setTileSizes(sizes(rewriter, numLoops, {{loops.k, t.kc}}));
      auto kTiled = tileAndReplace(rewriter, tiled, kOptions);
      if (failed(kTiled))
        return emitError(loc, "xf-cpu-tile-and-vectorize: k tiling failed");
      tiled = kTiled->first;
    }

    // 3. Register tiles: n outside m, so one panel of B is reused by every
    //    row block of A. Peeled so that all but the last tiles are static.
    SmallVector<int64_t> interchange;
    for (unsigned b : loops.batch)
      interchange.push_back(b);
    if (loops.nOuter)
      interchange.push_back(*loops.nOuter);
    interchange.append({loops.n, loops.m, loops.k});
    scf::SCFTilingOptions regOptions;
    SmallVector<std::pair<unsigned, int64_t>> regSet = {{loops.m, t.mr},
                                                        {loops.n, t.nr}};
    if (loops.nOuter)
      regSet.push_back({*loops.nOuter, 1});
    for (unsigned b : loops.batch)
      regSet.push_back({b, 1});
    regOptions.setTileSizes(sizes(rewriter, numLoops, regSet));
    regOptions.setInterchange(interchange);
    auto regTiled = tileAndReplace(rewriter, tiled, regOptions);
    if (failed(regTiled))
      return emitError(loc, "xf-cpu-tile-and-vectorize: register tiling failed");
    tiled = regTiled->first;

    // 4. One k per iteration: the vectorized body is one outer product.
    scf::SCFTilingOptions unitK;
    unitK.setTileSizes(sizes(rewriter, numLoops, {{loops.k, 1}}));
    auto kLoop = tileAndReplace(rewriter, tiled, unitK);
    if (failed(kLoop))
      return emitError(loc, "xf-cpu-tile-and-vectorize: unit-k tiling failed");
    kLoop->first->setAttr(kMicroTileMarker, rewriter.getUnitAttr());

    // Peel the m loop, then the n loop: the main iterations get static tile
    // sizes, the remainders keep dynamic ones (and stay scalar).
    for (LoopLikeOpInterface loop : llvm::reverse(regTiled->second)) {
      auto forOp = dyn_cast<scf::ForOp>(loop.getOperation());
      scf::ForOp remainder;
      if (forOp && failed(scf::peelForLoopAndSimplifyBounds(rewriter, forOp,
                                                             remainder)))
        continue; // Nothing to peel: the step divides the range.
    }

    // The epilogue (activation, residual) on the thread tile, one vector at
    // a time: rows of `width` contiguous outputs, vectorized below, so
    // erf/tanh become polynomial vector code instead of a libm call per
    // element. Needs the innermost dim to be a multiple of the width (it
    // is for packed panels); otherwise the epilogue stays scalar.
    if (tiledEpilogue && !tiledEpilogue.hasDynamicShape()) {
      SmallVector<int64_t> ranges = tiledEpilogue.getStaticLoopRanges();
      if (!ranges.empty() && ranges.back() % vectorWidth == 0) {
        SmallVector<std::pair<unsigned, int64_t>> rowSet;
        for (unsigned d = 0; d + 1 < ranges.size(); ++d)
          rowSet.push_back({d, 1});
        rowSet.push_back({static_cast<unsigned>(ranges.size() - 1),
                          static_cast<int64_t>(vectorWidth)});
        scf::SCFTilingOptions rowOptions;
        rowOptions.setTileSizes(sizes(rewriter, ranges.size(), rowSet));
        auto rows = tileAndReplace(rewriter, tiledEpilogue, rowOptions);
        if (succeeded(rows)) {
          rows->first->setAttr(kEpilogueTileMarker, rewriter.getUnitAttr());
          if (!rows->second.empty())
            rows->second.front()->setAttr(kEpilogueRowsMarker,
                                          rewriter.getUnitAttr());
        }
      }
    }
    return success();
  }

  /// Folds the affine.min of peeled loops and the casts they leave, so
  /// full tiles get static types.
  LogicalResult cleanUp() {
    RewritePatternSet patterns(&getContext());
    linalg::populateLinalgTilingCanonicalizationPatterns(patterns);
    tensor::populateFoldTensorEmptyPatterns(patterns);
    scf::ForOp::getCanonicalizationPatterns(patterns, &getContext());
    return applyPatternsGreedily(getOperation(), std::move(patterns));
  }

  /// Vectorizes the marked micro tiles that have static shapes, and keeps
  /// their accumulators in registers across the k loop.
  LogicalResult vectorizeMicroTiles() {
    IRRewriter rewriter(&getContext());
    SmallVector<linalg::LinalgOp> tiles;
    getOperation()->walk([&](linalg::LinalgOp op) {
      for (StringRef marker : {kMicroTileMarker, kEpilogueTileMarker})
        if (op->hasAttr(marker)) {
          op->removeAttr(marker);
          if (!op.hasDynamicShape())
            tiles.push_back(op);
        }
    });
    for (linalg::LinalgOp op : tiles) {
      rewriter.setInsertionPoint(op);
      FailureOr<linalg::VectorizationResult> result =
          linalg::vectorize(rewriter, op, /*inputVectorSizes=*/{},
                            /*inputScalableVecDims=*/{},
                            /*vectorizeNDExtract=*/false,
                            /*flatten1DDepthwiseConv=*/false,
                            /*assumeDynamicDimsMatchVecSizes=*/false,
                            /*createNamedContraction=*/true);
      if (failed(result))
        return op.emitError("xf-cpu-tile-and-vectorize: vectorization failed");
      rewriter.replaceOp(op, result->replacements);
    }

    // Split every vector into native registers (1 x width): LLVM keeps
    // <width x float> values in registers across the k loop, where wider
    // or 2-D values get shuffled through the stack.
    {
      RewritePatternSet patterns(&getContext());
      vector::populateVectorReductionToContractPatterns(patterns);
      vector::UnrollVectorOptions unroll;
      int64_t width = vectorWidth;
      unroll.setNativeShapeFn(
          [width](Operation *op) -> std::optional<SmallVector<int64_t>> {
            if (auto contract = dyn_cast<vector::ContractionOp>(op)) {
              // The accumulator's innermost dim is n: `width` wide, every
              // other iterator 1.
              AffineMap accMap = contract.getIndexingMapsArray().back();
              unsigned nDim =
                  cast<AffineDimExpr>(accMap.getResults().back()).getPosition();
              SmallVector<int64_t> shape(contract.getIteratorTypes().size(), 1);
              shape[nDim] = width;
              return shape;
            }
            VectorType type;
            if (auto read = dyn_cast<vector::TransferReadOp>(op))
              type = read.getVectorType();
            else if (auto write = dyn_cast<vector::TransferWriteOp>(op))
              type = write.getVectorType();
            if (!type || type.getRank() == 0)
              return std::nullopt;
            SmallVector<int64_t> shape(type.getRank(), 1);
            shape.back() = std::min<int64_t>(width, type.getShape().back());
            return shape;
          });
      vector::populateVectorUnrollPatterns(patterns, unroll);
      vector::populateVectorToVectorCanonicalizationPatterns(patterns);
      if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
        return failure();
    }

    RewritePatternSet patterns(&getContext());
    vector::populateVectorReductionToContractPatterns(patterns);
    vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);

    vector::TransferReadOp::getCanonicalizationPatterns(patterns,
                                                        &getContext());
    vector::TransferWriteOp::getCanonicalizationPatterns(patterns,
                                                         &getContext());
    tensor::populateFoldTensorSubsetIntoVectorTransferPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return failure();

    // Vectorized epilogues: 1-D vectors (the leading unit dims dropped, so
    // every op lowers to one LLVM vector op), and erf and tanh (GELU) as
    // polynomials: libm has no vector forms, and the LLVM lowering would
    // otherwise call the scalar function once per lane.
    SmallVector<Operation *> epilogueRows;
    getOperation()->walk([&](Operation *op) {
      if (op->hasAttr(kEpilogueRowsMarker)) {
        op->removeAttr(kEpilogueRowsMarker);
        epilogueRows.push_back(op);
      }
    });
    for (Operation *rows : epilogueRows) {
      RewritePatternSet epiloguePatterns(&getContext());
      vector::populateCastAwayVectorLeadingOneDimPatterns(epiloguePatterns);
      populatePolynomialApproximateErfPattern(epiloguePatterns);
      populatePolynomialApproximateTanhPattern(epiloguePatterns);
      epiloguePatterns.add<FmaToContractedArith>(&getContext());
      vector::populateVectorTransferPermutationMapLoweringPatterns(
          epiloguePatterns);
      if (failed(applyPatternsGreedily(rows, std::move(epiloguePatterns))))
        return failure();
    }

    // The accumulator's transfer_read/transfer_write pair on the k loop's
    // iter_arg becomes a loop-carried vector.
    getOperation()->walk([&](scf::ForOp loop) {
      hoistLoopInvariantSubsets(rewriter,
                                cast<LoopLikeOpInterface>(loop.getOperation()));
    });
    return success();
  }
};

} // namespace
