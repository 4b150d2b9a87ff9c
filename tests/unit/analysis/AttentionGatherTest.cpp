//===- AttentionGatherTest.cpp - Gathered pattern parts -------------------===//
//
// Part of xfc. Checks the residue-class plans of AttentionGather.h element
// by element: every pair a pattern allows is computed exactly once, by the
// gathered part (inside its class, at a visited tile) or by the rest
// (directly), and a tile the gathered map calls full holds no pair the
// rest also computes; plus the class groups, the cost choice and which
// parts are gathered at all.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/AttentionGather.h"

#include <gtest/gtest.h>

namespace mlir::xf {
namespace {

using Kind = PatternPart::Kind;

std::vector<PatternPart> parse(const std::string &text) {
  PatternGroups groups;
  std::string error;
  EXPECT_TRUE(parsePatternText(text, groups, error)) << error;
  return groups.empty() ? std::vector<PatternPart>() : groups.front();
}

/// Every allowed pair counted once, at any tile size.
void expectExactCover(const std::string &text, int64_t seq, int64_t blockQ,
                      int64_t blockK) {
  SCOPED_TRACE(text + " at S = " + std::to_string(seq) + ", tiles " +
               std::to_string(blockQ) + " x " + std::to_string(blockK));
  std::vector<PatternPart> parts = parse(text);
  AttentionPattern pattern(parts, seq, seq);
  ASSERT_EQ(pattern.error(), "");
  std::optional<GatherPlan> plan = planGather(parts, seq, seq);
  ASSERT_TRUE(plan.has_value());
  ASSERT_EQ(plan->kind, GatherPlan::Kind::Residue);
  std::optional<AttentionPattern> rest;
  if (!plan->rest.empty())
    rest.emplace(plan->rest, seq, seq);
  std::optional<BlockMap> restMap;
  if (rest)
    restMap.emplace(rest->blockMap(blockQ, blockK));
  std::vector<int> counted(seq * seq, 0);
  // The rest: its allowed pairs at its visited tiles.
  for (int64_t i = 0; rest && i < seq; ++i)
    for (int64_t j = 0; j < seq; ++j)
      if (rest->allows(i, j) &&
          restMap->kind(i / blockQ, j / blockK) != BlockKind::Empty)
        ++counted[i * seq + j];
  int64_t classesSeen = 0;
  for (const ClassGroup &group : classGroups(*plan, seq)) {
    int64_t bq = gatheredBlock(blockQ, group);
    int64_t bk = gatheredBlock(blockK, group);
    BlockMap map =
        gatheredBlockMap(*plan, rest ? &*rest : nullptr, group, bq, bk);
    AttentionPattern inClass({plan->inClass}, group.length, group.length);
    for (int64_t r = group.first; r < group.first + group.count; ++r) {
      ++classesSeen;
      for (int64_t x = 0; x < group.length; ++x)
        for (int64_t y = 0; y < group.length; ++y) {
          int64_t i = r + plan->classes * x, j = r + plan->classes * y;
          ASSERT_LT(i, seq);
          BlockKind kind = map.kind(x / bq, y / bk);
          bool excluded = rest && rest->allows(i, j);
          bool computed = inClass.allows(x, y) && !excluded;
          if (kind == BlockKind::Full) {
            EXPECT_TRUE(computed) << "full gathered tile with a masked pair ("
                                  << i << ", " << j << ")";
          }
          if (computed && kind != BlockKind::Empty)
            ++counted[i * seq + j];
        }
    }
  }
  EXPECT_EQ(classesSeen, std::min(plan->classes, seq));
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t j = 0; j < seq; ++j)
      ASSERT_EQ(counted[i * seq + j], pattern.allows(i, j) ? 1 : 0)
          << "pair (" << i << ", " << j << ")";
}

/// The same for a summary-key plan (the fixed A2): every query row over
/// the compact summary keys, j <= i on original positions.
void expectSummaryExactCover(const std::string &text, int64_t seq,
                             int64_t blockQ, int64_t blockK) {
  SCOPED_TRACE(text + " at S = " + std::to_string(seq) + ", tiles " +
               std::to_string(blockQ) + " x " + std::to_string(blockK));
  std::vector<PatternPart> parts = parse(text);
  AttentionPattern pattern(parts, seq, seq);
  ASSERT_EQ(pattern.error(), "");
  std::optional<GatherPlan> plan = planGather(parts, seq, seq);
  ASSERT_TRUE(plan.has_value());
  ASSERT_EQ(plan->kind, GatherPlan::Kind::SummaryKeys);
  blockQ = std::min(blockQ, seq);
  blockK = std::min(blockK, seq);
  std::optional<AttentionPattern> rest;
  if (!plan->rest.empty())
    rest.emplace(plan->rest, seq, seq);
  std::vector<int> counted(seq * seq, 0);
  for (int64_t i = 0; rest && i < seq; ++i)
    for (int64_t j = 0; j < seq; ++j)
      if (rest->allows(i, j) &&
          rest->blockMap(blockQ, blockK).kind(i / blockQ, j / blockK) !=
              BlockKind::Empty)
        ++counted[i * seq + j];
  int64_t keys = plan->summaryKeyCount(seq);
  // The compact keys are exactly the summary positions, in order.
  std::vector<int64_t> expected;
  for (int64_t j = 0; j < seq; ++j)
    if (j % plan->period >= plan->period - plan->summaryWidth)
      expected.push_back(j);
  ASSERT_EQ(keys, static_cast<int64_t>(expected.size()));
  for (int64_t y = 0; y < keys; ++y)
    ASSERT_EQ(plan->summaryKeyPosition(y), expected[y]);
  int64_t bk = std::min(blockK, keys);
  BlockMap map =
      summaryBlockMap(*plan, rest ? &*rest : nullptr, seq, blockQ, blockK);
  EXPECT_EQ(map.numKeyBlocks(), (keys + bk - 1) / bk);
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t y = 0; y < keys; ++y) {
      int64_t j = plan->summaryKeyPosition(y);
      BlockKind kind = map.kind(i / blockQ, y / bk);
      bool computed = j <= i && !(rest && rest->allows(i, j));
      if (kind == BlockKind::Full) {
        EXPECT_TRUE(computed) << "full summary tile with a masked pair ("
                              << i << ", " << j << ")";
      }
      if (computed && kind != BlockKind::Empty)
        ++counted[i * seq + j];
    }
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t j = 0; j < seq; ++j)
      ASSERT_EQ(counted[i * seq + j], pattern.allows(i, j) ? 1 : 0)
          << "pair (" << i << ", " << j << ")";
}

TEST(AttentionGather, ExactCover) {
  for (auto [bq, bk] : {std::pair<int64_t, int64_t>{5, 3}, {32, 64}, {4, 4}}) {
    expectExactCover("dilated_sliding_window(w = 8, d = 2)", 77, bq, bk);
    expectExactCover("dilated_sliding_window(w = 6, d = 5)", 77, bq, bk);
    expectExactCover("dilated_sliding_window(w = 4, d = 3)", 1, bq, bk);
    expectExactCover("strided_summary(l = 4)", 7, bq, bk);
    expectExactCover("strided_summary(l = 100)", 77, bq, bk);
    expectExactCover("strided_local(l = 3) + strided_summary(l = 3)", 77, bq,
                     bk);
    expectExactCover("strided_local(l = 8) + strided_summary(l = 8)", 130, bq,
                     bk);
    expectExactCover("dilated_sliding_window(w = 8, d = 3) + "
                     "global(positions = [0, 40])",
                     77, bq, bk);
    expectExactCover("strided_summary(l = 4) + causal + global(positions = "
                     "[5])",
                     77, bq, bk);
    expectSummaryExactCover("fixed_summary(l = 8, c = 2)", 77, bq, bk);
    expectSummaryExactCover("fixed_summary(l = 4, c = 1)", 7, bq, bk);
    expectSummaryExactCover("fixed_local(l = 8) + fixed_summary(l = 8, c = 2)",
                            77, bq, bk);
    expectSummaryExactCover(
        "fixed_local(l = 16) + fixed_summary(l = 16, c = 3)", 130, bq, bk);
    expectSummaryExactCover(
        "fixed_local(l = 128) + fixed_summary(l = 128, c = 16)", 200, bq, bk);
    expectSummaryExactCover("fixed_summary(l = 16, c = 3) + "
                            "global(positions = [5])",
                            77, bq, bk);
  }
}

TEST(AttentionGather, ClassGroups) {
  GatherPlan plan;
  plan.classes = 5;
  // 77 = 15 * 5 + 2: classes 0 and 1 hold 16 positions, 2..4 hold 15.
  std::vector<ClassGroup> groups = classGroups(plan, 77);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].first, 0);
  EXPECT_EQ(groups[0].count, 2);
  EXPECT_EQ(groups[0].length, 16);
  EXPECT_EQ(groups[1].first, 2);
  EXPECT_EQ(groups[1].count, 3);
  EXPECT_EQ(groups[1].length, 15);
  // Divisible: one group; more classes than positions: one of length 1.
  EXPECT_EQ(classGroups(plan, 10).size(), 1u);
  groups = classGroups(plan, 3);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].count, 3);
  EXPECT_EQ(groups[0].length, 1);
}

TEST(AttentionGather, WhichPartsGather) {
  auto classes = [](const std::string &text, int64_t sq, int64_t sk) {
    std::optional<GatherPlan> plan = planGather(parse(text), sq, sk);
    return plan ? plan->classes : 0;
  };
  EXPECT_EQ(classes("dilated_sliding_window(w = 8, d = 2)", 64, 64), 2);
  EXPECT_EQ(classes("dilated_sliding_window(w = 8, d = 1)", 64, 64), 0);
  EXPECT_EQ(classes("strided_summary(l = 1)", 64, 64), 0);
  EXPECT_EQ(classes("sliding_window(w = 8)", 64, 64), 0);
  // The fixed A2 is gathered by key, not by class; with c = l it is
  // causal, and with no summary key in the sequence there is nothing to
  // gather.
  std::optional<GatherPlan> fixed = planGather(
      parse("fixed_local(l = 16) + fixed_summary(l = 16, c = 2)"), 64, 64);
  ASSERT_TRUE(fixed.has_value());
  EXPECT_EQ(fixed->kind, GatherPlan::Kind::SummaryKeys);
  EXPECT_EQ(fixed->part, 1u);
  EXPECT_EQ(fixed->describe(), "summary_keys(l = 16, c = 2)");
  EXPECT_EQ(fixed->summaryKeyCount(64), 8);
  EXPECT_EQ(fixed->summaryKeyCount(77), 8);
  EXPECT_EQ(fixed->summaryKeyCount(79), 9);
  EXPECT_EQ(fixed->summaryKeyPosition(3), 31);
  EXPECT_FALSE(planGather(parse("fixed_summary(l = 4, c = 4)"), 64, 64));
  EXPECT_FALSE(planGather(parse("fixed_summary(l = 16, c = 2)"), 14, 14));
  EXPECT_TRUE(planGather(parse("fixed_summary(l = 16, c = 2)"), 15, 15));
  // Cross attention: queries and keys do not share positions.
  EXPECT_EQ(classes("dilated_sliding_window(w = 8, d = 2)", 7, 64), 0);
  // The rest keeps the other parts in order.
  std::optional<GatherPlan> plan =
      planGather(parse("strided_local(l = 8) + strided_summary(l = 8) + "
                       "global(positions = [1])"),
                 64, 64);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->part, 1u);
  EXPECT_EQ(plan->describe(), "residue(classes = 8)");
  ASSERT_EQ(plan->rest.size(), 2u);
  EXPECT_EQ(plan->rest[0].kind, Kind::StridedLocal);
  EXPECT_EQ(plan->rest[1].kind, Kind::GlobalTokens);
  EXPECT_EQ(plan->inClass.kind, Kind::Causal);
}

TEST(AttentionGather, PaysOnlyWhereTilesAreSparse) {
  auto pays = [](const std::string &text, int64_t seq) {
    std::vector<PatternPart> parts = parse(text);
    AttentionPattern pattern(parts, seq, seq);
    std::optional<GatherPlan> plan = planGather(parts, seq, seq);
    return plan && gatherPays(pattern, *plan, 32, 64);
  };
  // The benchmark's patterns at 4K: a wide window and a long stride.
  EXPECT_TRUE(pays("dilated_sliding_window(w = 512, d = 2)", 4096));
  EXPECT_TRUE(pays("strided_local(l = 128) + strided_summary(l = 128)", 4096));
  // A window about a tile wide gains less than a quarter.
  EXPECT_FALSE(pays("dilated_sliding_window(w = 8, d = 2)", 256));
  // The fixed pattern: a small c of a long l, and an l below the tile.
  EXPECT_TRUE(pays("fixed_local(l = 128) + fixed_summary(l = 128, c = 16)",
                   4096));
  EXPECT_TRUE(pays("fixed_summary(l = 8, c = 2)", 4096));

  // At 16K the dilated window executes about half the direct pairs, the
  // strided union far fewer.
  std::vector<PatternPart> parts =
      parse("dilated_sliding_window(w = 512, d = 2)");
  AttentionPattern dilated(parts, 16384, 16384);
  KernelWork direct = directWork(dilated, 32, 64);
  KernelWork gathered = gatheredWork(dilated, *planGather(parts, 16384, 16384),
                                     32, 64);
  EXPECT_LT(double(gathered.pairs), 0.6 * double(direct.pairs));
  EXPECT_EQ(gathered.gathered, gathered.visited);
}

} // namespace
} // namespace mlir::xf
