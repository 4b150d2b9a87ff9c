//===- FuseAttention.cpp - Choose the fused attention kernel ---*- C++ -*-===//
//
// Part of xfc. Implements xf-fuse-attention: each `xf.attention` op gets an
// `xf.attention_kernel` attribute that tells convert-xf-to-linalg to lower
// it as the fused, tiled FlashAttention kernel, with its tile sizes and the
// block-map statistics. The decision is made here, on `xf` IR, so it is
// visible (and testable) before any lowering, and can later depend on more
// than the shapes (a cost model, a target) without touching the lowering.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/AttentionPattern.h"
#include "xf/Analysis/BlockMap.h"
#include "xf/Dialect/XF/XFOps.h"
#include "xf/Transforms/FusionCandidates.h"
#include "xf/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <algorithm>

namespace mlir::xf {
#define GEN_PASS_DEF_XFFUSEATTENTION
#include "xf/Transforms/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;
using namespace mlir::xf;

namespace {

int64_t seqLen(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape()[1];
}

struct FuseAttentionPass
    : public xf::impl::XFFuseAttentionBase<FuseAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    FusionPlanFilter plan(getOperation());
    WalkResult result = getOperation()->walk([&](AttentionOp op) {
      if (!plan.allows(FusionKind::Attention, {op.getLoc()}))
        return WalkResult::advance();
      // A kernel chosen before (by hand, by a frontend or a test) stays. An
      // empty sequence has no tile at all; the unfused lowering handles it
      // (there is nothing to fuse).
      int64_t sq = seqLen(op.getQuery()), sk = seqLen(op.getKey());
      if (op->hasAttr(kAttentionKernelAttrName) || sq == 0 || sk == 0)
        return WalkResult::advance();
      // The families that are not masks have kernels of their own.
      if (AttentionPatternAttr pattern = op.getPatternAttr();
          pattern && approximationOf(pattern.getGroups()))
        return WalkResult::advance();
      int64_t optQ = blockQ, optK = blockK;
      if (optQ < 1 || optK < 1) {
        op.emitError() << "xf-fuse-attention: block sizes must be positive, "
                          "found block-q="
                       << optQ << " block-k=" << optK;
        return WalkResult::interrupt();
      }
      // Tiles never exceed the sequences: a short sequence gets one exact
      // tile instead of a mostly padded one.
      int64_t bq = std::min(optQ, sq);
      int64_t bk = std::min(optK, sk);
      // Block statistics over every head: a pattern's head groups each have
      // their own map. Dense and causal have closed forms; any pattern is
      // read from its table at run time.
      int64_t visited = 0, masked = 0, allowedPairs = 0;
      std::string patternName;
      if (AttentionPatternAttr pattern = op.getPatternAttr()) {
        PatternGroups groups = pattern.getGroups();
        for (const std::vector<PatternPart> &parts : groups) {
          AttentionPattern group(parts, sq, sk);
          BlockMap map = group.blockMap(bq, bk);
          visited += map.numVisited();
          masked += map.numMasked();
          allowedPairs += group.allowedPairs();
        }
        int64_t n = static_cast<int64_t>(groups.size());
        visited = (visited + n / 2) / n;
        masked = (masked + n / 2) / n;
        allowedPairs = (allowedPairs + n / 2) / n;
        patternName = pattern.getText().str();
      } else {
        BlockMap map = op.getCausal() ? BlockMap::causal(sq, sk, bq, bk)
                                      : BlockMap::dense(sq, sk, bq, bk);
        visited = map.numVisited();
        masked = map.numMasked();
        patternName = map.patternName();
        // Causal: query i sees keys [0, min(i + 1, Sk)).
        allowedPairs = 0;
        for (int64_t i = 0; i < sq; ++i)
          allowedPairs += op.getCausal() ? std::min(i + 1, sk) : sk;
      }
      Builder b(op.getContext());
      SmallVector<NamedAttribute> fields = {
          b.getNamedAttr("kind", b.getStringAttr("flash")),
          b.getNamedAttr("block_q", b.getI64IntegerAttr(bq)),
          b.getNamedAttr("block_k", b.getI64IntegerAttr(bk)),
          b.getNamedAttr("pattern", b.getStringAttr(patternName)),
          b.getNamedAttr("visited_blocks", b.getI64IntegerAttr(visited)),
          b.getNamedAttr("masked_blocks", b.getI64IntegerAttr(masked)),
          b.getNamedAttr("allowed_pairs", b.getI64IntegerAttr(allowedPairs)),
      };
      if (blockTable)
        fields.push_back(b.getNamedAttr("driver", b.getStringAttr("table")));
      op->setAttr(kAttentionKernelAttrName, b.getDictionaryAttr(fields));
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

FailureOr<std::optional<AttentionKernelConfig>>
mlir::xf::getAttentionKernel(AttentionOp op) {
  Attribute raw = op->getAttr(kAttentionKernelAttrName);
  if (!raw)
    return std::optional<AttentionKernelConfig>();
  auto dict = dyn_cast<DictionaryAttr>(raw);
  auto kind = dict ? dict.getAs<StringAttr>("kind") : StringAttr();
  auto bq = dict ? dict.getAs<IntegerAttr>("block_q") : IntegerAttr();
  auto bk = dict ? dict.getAs<IntegerAttr>("block_k") : IntegerAttr();
  if (!kind || !bq || !bk) {
    op.emitError() << kAttentionKernelAttrName
                   << " must be a dictionary with kind, block_q and block_k, "
                      "found "
                   << raw;
    return failure();
  }
  if (kind.getValue() != "flash") {
    op.emitError() << kAttentionKernelAttrName << ": unknown kernel kind "
                   << kind << " (expected \"flash\")";
    return failure();
  }
  int64_t sq = seqLen(op.getQuery()), sk = seqLen(op.getKey());
  AttentionKernelConfig config{bq.getInt(), bk.getInt()};
  if (auto driver = dict.getAs<StringAttr>("driver")) {
    if (driver.getValue() != "table") {
      op.emitError() << kAttentionKernelAttrName << ": unknown driver "
                     << driver << " (expected \"table\" or none)";
      return failure();
    }
    config.tableDriven = true;
  }
  if (config.blockQ < 1 || config.blockQ > sq || config.blockK < 1 ||
      config.blockK > sk) {
    op.emitError() << kAttentionKernelAttrName
                   << ": expected 1 <= block_q <= " << sq
                   << " and 1 <= block_k <= " << sk << ", found block_q "
                   << config.blockQ << " and block_k " << config.blockK;
    return failure();
  }
  return std::optional<AttentionKernelConfig>(config);
}
