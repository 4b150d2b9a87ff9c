//===- AttentionGather.cpp - Dense tiles for strided patterns -------------===//
//
// Part of xfc. See AttentionGather.h.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/AttentionGather.h"

#include <algorithm>

namespace mlir::xf {

using Kind = PatternPart::Kind;
using GatherKind = GatherPlan::Kind;

std::string GatherPlan::describe() const {
  if (kind == Kind::SummaryKeys)
    return "summary_keys(l = " + std::to_string(period) +
           ", c = " + std::to_string(summaryWidth) + ")";
  return "residue(classes = " + std::to_string(classes) + ")";
}

int64_t GatherPlan::summaryKeyCount(int64_t seqLen) const {
  // c per whole period, and the tail's keys at or past l - c.
  int64_t tail = seqLen % period - (period - summaryWidth);
  return seqLen / period * summaryWidth + std::max<int64_t>(tail, 0);
}

std::optional<GatherPlan> planGather(const std::vector<PatternPart> &parts,
                                     int64_t queryLen, int64_t keyLen) {
  // Queries and keys must share their classes: query i and key i are the
  // same position, which only self-attention guarantees.
  if (queryLen != keyLen || queryLen < 1)
    return std::nullopt;
  for (size_t p = 0; p < parts.size(); ++p) {
    const PatternPart &part = parts[p];
    GatherPlan plan;
    plan.part = p;
    if (part.kind == Kind::DilatedSlidingWindow && part.dilation > 1) {
      // |i - j| <= (w/2) d with i = j (mod d): |i' - j'| <= w/2.
      plan.classes = part.dilation;
      plan.inClass.kind = Kind::SlidingWindow;
      plan.inClass.width = part.width;
    } else if (part.kind == Kind::StridedSummary && part.width > 1) {
      // j <= i with i = j (mod l): j' <= i'.
      plan.classes = part.width;
      plan.inClass.kind = Kind::Causal;
    } else if (part.kind == Kind::FixedSummary && part.summary < part.width) {
      // With c = l every key is a summary key: the part is causal, whose
      // tiles are dense already.
      plan.kind = GatherKind::SummaryKeys;
      plan.period = part.width;
      plan.summaryWidth = part.summary;
      plan.inClass.kind = Kind::Causal;
      if (plan.summaryKeyCount(keyLen) == 0)
        continue;
    } else {
      continue;
    }
    for (size_t other = 0; other < parts.size(); ++other)
      if (other != p)
        plan.rest.push_back(parts[other]);
    return plan;
  }
  return std::nullopt;
}

std::vector<ClassGroup> classGroups(const GatherPlan &plan, int64_t seqLen) {
  int64_t c = plan.classes;
  int64_t quotient = seqLen / c, remainder = seqLen % c;
  std::vector<ClassGroup> groups;
  if (remainder > 0)
    groups.push_back({0, remainder, quotient + 1});
  if (quotient > 0)
    groups.push_back({remainder, c - remainder, quotient});
  return groups;
}

BlockMap gatheredBlockMap(const GatherPlan &plan, const AttentionPattern *rest,
                          const ClassGroup &group, int64_t blockQ,
                          int64_t blockK) {
  int64_t n = group.length, c = plan.classes;
  AttentionPattern inClass({plan.inClass}, n, n);
  int64_t seqLen = rest ? rest->queryLen() : 0;
  // The original positions that compressed indices [x0, x1) take over the
  // group's classes: [first + C x0, first + count - 1 + C (x1 - 1)].
  auto span = [&](int64_t x0, int64_t x1) {
    int64_t lo = group.first + c * x0;
    int64_t hi = group.first + group.count - 1 + c * (x1 - 1);
    return std::make_pair(lo, std::min(hi, seqLen - 1) + 1);
  };
  return BlockMap::fromTiles(
      n, n, blockQ, blockK,
      [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
        BlockKind k = inClass.classifyTile(i0, i1, j0, j1);
        if (k == BlockKind::Empty || !rest)
          return k;
        auto [rowLo, rowHi] = span(i0, i1);
        auto [keyLo, keyHi] = span(j0, j1);
        switch (rest->classifyTile(rowLo, rowHi, keyLo, keyHi)) {
        case BlockKind::Empty:
          return k;
        case BlockKind::Full:
          // The rest computes every pair of the tile.
          return BlockKind::Empty;
        case BlockKind::Partial:
          return BlockKind::Partial;
        }
        return BlockKind::Partial;
      });
}

BlockMap summaryBlockMap(const GatherPlan &plan, const AttentionPattern *rest,
                         int64_t seqLen, int64_t blockQ, int64_t blockK) {
  int64_t keys = plan.summaryKeyCount(seqLen);
  return BlockMap::fromTiles(
      seqLen, keys, blockQ, std::min(blockK, keys),
      [&](int64_t i0, int64_t i1, int64_t y0, int64_t y1) {
        int64_t first = plan.summaryKeyPosition(y0);
        int64_t last = plan.summaryKeyPosition(y1 - 1);
        // j <= i: no pair when the first key follows the last row, every
        // pair when the last key precedes the first row.
        if (first > i1 - 1)
          return BlockKind::Empty;
        BlockKind k = last <= i0 ? BlockKind::Full : BlockKind::Partial;
        if (!rest)
          return k;
        // The keys' positions span [first, last]; the rest is classified
        // over all of them, summary keys or not, so it errs towards
        // Partial.
        switch (rest->classifyTile(i0, i1, first, last + 1)) {
        case BlockKind::Empty:
          return k;
        case BlockKind::Full:
          return BlockKind::Empty;
        case BlockKind::Partial:
          return BlockKind::Partial;
        }
        return BlockKind::Partial;
      });
}

KernelWork directWork(const AttentionPattern &pattern, int64_t blockQ,
                      int64_t blockK) {
  BlockMap map = pattern.blockMap(blockQ, blockK);
  KernelWork work;
  work.visited = map.numVisited();
  work.masked = map.numMasked();
  work.pairs = work.visited * blockQ * blockK;
  return work;
}

KernelWork gatheredWork(const AttentionPattern &pattern,
                        const GatherPlan &plan, int64_t blockQ,
                        int64_t blockK) {
  KernelWork work;
  std::optional<AttentionPattern> rest;
  if (!plan.rest.empty()) {
    rest.emplace(plan.rest, pattern.queryLen(), pattern.keyLen());
    work = directWork(*rest, blockQ, blockK);
  }
  if (plan.kind == GatherKind::SummaryKeys) {
    int64_t seqLen = pattern.queryLen();
    int64_t bk = std::min(blockK, plan.summaryKeyCount(seqLen));
    BlockMap map = summaryBlockMap(plan, rest ? &*rest : nullptr, seqLen,
                                   blockQ, blockK);
    work.visited += map.numVisited();
    work.masked += map.numMasked();
    work.gathered += map.numVisited();
    work.pairs += map.numVisited() * blockQ * bk;
    return work;
  }
  for (const ClassGroup &group : classGroups(plan, pattern.queryLen())) {
    int64_t bq = gatheredBlock(blockQ, group);
    int64_t bk = gatheredBlock(blockK, group);
    BlockMap map =
        gatheredBlockMap(plan, rest ? &*rest : nullptr, group, bq, bk);
    work.visited += group.count * map.numVisited();
    work.masked += group.count * map.numMasked();
    work.gathered += group.count * map.numVisited();
    work.pairs += group.count * map.numVisited() * bq * bk;
  }
  return work;
}

bool gatherPays(const AttentionPattern &pattern, const GatherPlan &plan,
                int64_t blockQ, int64_t blockK) {
  KernelWork direct = directWork(pattern, blockQ, blockK);
  KernelWork gathered = gatheredWork(pattern, plan, blockQ, blockK);
  return 4 * gathered.pairs <= 3 * direct.pairs;
}

} // namespace mlir::xf
