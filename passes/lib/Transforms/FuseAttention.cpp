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
#include "xf/Analysis/AttentionGather.h"
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
      // read from its table at run time. A group whose part is gathered
      // counts the tiles of both of its phases.
      int64_t visited = 0, masked = 0, allowedPairs = 0, gathered = 0,
              pairs = 0;
      bool anyGathered = false;
      SmallVector<Attribute> strategies;
      std::string patternName;
      if (AttentionPatternAttr pattern = op.getPatternAttr()) {
        PatternGroups groups = pattern.getGroups();
        for (const std::vector<PatternPart> &parts : groups) {
          AttentionPattern group(parts, sq, sk);
          std::optional<GatherPlan> plan;
          if (gather)
            plan = planGather(parts, sq, sk);
          if (plan && !gatherPays(group, *plan, bq, bk))
            plan.reset();
          KernelWork work = plan ? gatheredWork(group, *plan, bq, bk)
                                 : directWork(group, bq, bk);
          visited += work.visited;
          masked += work.masked;
          gathered += work.gathered;
          pairs += work.pairs;
          allowedPairs += group.allowedPairs();
          anyGathered |= plan.has_value();
          strategies.push_back(
              Builder(op.getContext())
                  .getStringAttr(plan ? plan->describe() : "none"));
        }
        int64_t n = static_cast<int64_t>(groups.size());
        auto mean = [&](int64_t total) { return (total + n / 2) / n; };
        visited = mean(visited);
        masked = mean(masked);
        gathered = mean(gathered);
        pairs = mean(pairs);
        allowedPairs = mean(allowedPairs);
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
      // Only where a part is gathered: the tiles then differ in size, and
      // visited_blocks alone no longer measures the work.
      if (anyGathered) {
        fields.push_back(b.getNamedAttr("gather", b.getArrayAttr(strategies)));
        fields.push_back(
            b.getNamedAttr("gathered_blocks", b.getI64IntegerAttr(gathered)));
        fields.push_back(
            b.getNamedAttr("executed_pairs", b.getI64IntegerAttr(pairs)));
      }
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
  // The strategy of each head group: "none" or "residue(classes = C)",
  // which must be the plan the analysis makes for the group (the choice is
  // the pass's; the plan itself is a function of the pattern).
  if (Attribute rawGather = dict.get("gather")) {
    auto list = dyn_cast<ArrayAttr>(rawGather);
    AttentionPatternAttr pattern = op.getPatternAttr();
    size_t numGroups = pattern ? pattern.getGroups().size() : 0;
    if (!list || !pattern || list.size() != numGroups) {
      op.emitError() << kAttentionKernelAttrName
                     << ": gather must be an array of one strategy per head "
                        "group of the pattern ("
                     << numGroups << "), found " << rawGather;
      return failure();
    }
    PatternGroups groups = pattern.getGroups();
    for (auto [g, entry] : llvm::enumerate(list)) {
      auto name = dyn_cast<StringAttr>(entry);
      std::optional<GatherPlan> plan = planGather(groups[g], sq, sk);
      std::string expected = plan ? plan->describe() : "";
      if (name && name.getValue() == "none") {
        config.gather.push_back(false);
        continue;
      }
      if (!name || name.getValue() != expected) {
        op.emitError() << kAttentionKernelAttrName << ": head group " << g
                       << " cannot be gathered as " << entry << " (expected "
                       << (plan ? "\"none\" or \"" + expected + "\""
                                : std::string("\"none\""))
                       << ")";
        return failure();
      }
      config.gather.push_back(true);
    }
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
