//===- MemoryPlanTest.cpp - Tests of the memory planner -------------------===//
//
// Part of xfc. Small hand-made instances with exact expected offsets, and
// random instances checked for the planner's guarantees: no two buffers
// alive together share a byte, offsets are aligned, the arena is at least
// the lower bound and at most the (aligned) naive sum.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/MemoryPlan.h"

#include <gtest/gtest.h>

#include <random>

namespace xfc {
namespace {

PlanBuffer buffer(const char *name, uint64_t size, int64_t first, int64_t last,
                  uint64_t alignment = 1, int64_t inPlaceOf = -1) {
  PlanBuffer b;
  b.name = name;
  b.size = size;
  b.alignment = alignment;
  b.firstUse = first;
  b.lastUse = last;
  b.inPlaceOf = inPlaceOf;
  return b;
}

TEST(MemoryPlanTest, Empty) {
  MemoryPlan plan = planMemory({});
  EXPECT_EQ(plan.arenaBytes, 0u);
  EXPECT_EQ(plan.naiveBytes, 0u);
  EXPECT_EQ(plan.lowerBoundBytes, 0u);
  EXPECT_EQ(verifyMemoryPlan(plan), "");
}

TEST(MemoryPlanTest, DisjointLifetimesShareOffsetZero) {
  MemoryPlan plan =
      planMemory({buffer("a", 100, 0, 1), buffer("b", 100, 2, 3)});
  EXPECT_EQ(plan.offsets, (std::vector<uint64_t>{0, 0}));
  EXPECT_EQ(plan.arenaBytes, 100u);
  EXPECT_EQ(plan.naiveBytes, 200u);
  EXPECT_EQ(plan.lowerBoundBytes, 100u);
}

TEST(MemoryPlanTest, AllAliveStackUp) {
  MemoryPlan plan = planMemory(
      {buffer("a", 100, 0, 5), buffer("b", 200, 1, 5), buffer("c", 300, 2, 5)});
  // Largest first: c at 0, b above it, a on top.
  EXPECT_EQ(plan.offsets, (std::vector<uint64_t>{500, 300, 0}));
  EXPECT_EQ(plan.arenaBytes, 600u);
  EXPECT_EQ(plan.lowerBoundBytes, 600u);
  EXPECT_EQ(plan.peakPosition, 2);
}

TEST(MemoryPlanTest, AlignmentRoundsOffsetsUp) {
  MemoryPlan plan =
      planMemory({buffer("a", 10, 0, 1, 64), buffer("b", 10, 0, 1, 64)});
  EXPECT_EQ(plan.offsets, (std::vector<uint64_t>{0, 64}));
  EXPECT_EQ(plan.arenaBytes, 74u);
  EXPECT_EQ(plan.lowerBoundBytes, 20u);
  EXPECT_EQ(verifyMemoryPlan(plan), "");
}

TEST(MemoryPlanTest, ReusesBytesOfDeadBuffers) {
  // a dies before c is born, so c takes a's place; b lives across both.
  MemoryPlan plan = planMemory(
      {buffer("a", 100, 0, 1), buffer("b", 50, 0, 3), buffer("c", 100, 2, 3)});
  EXPECT_EQ(plan.offsets, (std::vector<uint64_t>{0, 100, 0}));
  EXPECT_EQ(plan.arenaBytes, 150u);
  EXPECT_EQ(plan.lowerBoundBytes, 150u);
}

TEST(MemoryPlanTest, BestFitTakesTheSmallestGap) {
  // At position 5 only `long` [400, 700) and `t` [900, 1000) are alive: `s`
  // (placed last, being the smallest) fits in [0, 400) and in [700, 900);
  // best fit takes the tighter one.
  MemoryPlan plan = planMemory({buffer("big", 400, 0, 0),
                                buffer("long", 300, 0, 9),
                                buffer("mid", 200, 0, 0), buffer("t", 100, 0, 9),
                                buffer("s", 80, 5, 5)});
  EXPECT_EQ(plan.offsets, (std::vector<uint64_t>{0, 400, 700, 900, 700}));
  EXPECT_EQ(plan.arenaBytes, 1000u);
  EXPECT_EQ(plan.lowerBoundBytes, 1000u);
  EXPECT_EQ(verifyMemoryPlan(plan), "");
}

TEST(MemoryPlanTest, InPlaceSharesTheDyingInput) {
  // b is written by the op that reads a for the last time (position 2).
  MemoryPlan plan =
      planMemory({buffer("a", 256, 0, 2), buffer("b", 256, 2, 4, 1, 0)});
  EXPECT_EQ(plan.offsets, (std::vector<uint64_t>{0, 0}));
  EXPECT_EQ(plan.placedInPlace, (std::vector<bool>{false, true}));
  EXPECT_EQ(plan.arenaBytes, 256u);
  EXPECT_EQ(plan.lowerBoundBytes, 256u);
  EXPECT_EQ(verifyMemoryPlan(plan), "");

  // Without the hint they overlap at position 2.
  MemoryPlan apart =
      planMemory({buffer("a", 256, 0, 2), buffer("b", 256, 2, 4)});
  EXPECT_EQ(apart.arenaBytes, 512u);
  EXPECT_EQ(apart.lowerBoundBytes, 512u);
}

TEST(MemoryPlanTest, InPlaceHintIgnoredWhenLifetimesDoNotTouch) {
  // a is still read after b's first write: sharing would be wrong.
  MemoryPlan plan =
      planMemory({buffer("a", 256, 0, 3), buffer("b", 256, 2, 4, 1, 0)});
  EXPECT_EQ(plan.arenaBytes, 512u);
  EXPECT_EQ(plan.placedInPlace, (std::vector<bool>{false, false}));
  EXPECT_EQ(verifyMemoryPlan(plan), "");
}

TEST(MemoryPlanTest, InPlaceLendsToOneBufferOnly) {
  MemoryPlan plan =
      planMemory({buffer("a", 64, 0, 2), buffer("b", 64, 2, 4, 1, 0),
                  buffer("c", 64, 2, 4, 1, 0)});
  EXPECT_EQ(plan.arenaBytes, 128u);
  EXPECT_EQ(plan.lowerBoundBytes, 128u);
  EXPECT_EQ(verifyMemoryPlan(plan), "");
}

TEST(MemoryPlanTest, VerifierCatchesOverlap) {
  MemoryPlan plan =
      planMemory({buffer("a", 100, 0, 1), buffer("b", 100, 1, 2)});
  plan.offsets = {0, 50};
  plan.arenaBytes = 150;
  EXPECT_NE(verifyMemoryPlan(plan).find("share bytes"), std::string::npos);
}

TEST(MemoryPlanTest, RandomInstancesAreValid) {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 300; ++trial) {
    size_t n = 1 + rng() % 60;
    std::vector<PlanBuffer> buffers;
    uint64_t alignedSum = 0;
    for (size_t i = 0; i < n; ++i) {
      int64_t first = rng() % 40, length = rng() % 12;
      uint64_t alignment = uint64_t(1) << (rng() % 7);
      uint64_t size = rng() % 5 == 0 ? rng() % 16 : rng() % 5000;
      int64_t inPlaceOf = -1;
      // Some hints that can be honoured, some that cannot.
      if (i > 0 && rng() % 4 == 0) {
        inPlaceOf = rng() % i;
        if (rng() % 2)
          first = buffers[inPlaceOf].lastUse;
      }
      buffers.push_back(buffer("r", size, first, first + length, alignment,
                               inPlaceOf));
      alignedSum += size + alignment - 1;
    }
    MemoryPlan plan = planMemory(buffers);
    ASSERT_EQ(verifyMemoryPlan(plan), "") << "trial " << trial;
    EXPECT_GE(plan.arenaBytes, plan.lowerBoundBytes);
    EXPECT_LE(plan.arenaBytes, alignedSum);
    EXPECT_LE(plan.lowerBoundBytes, plan.naiveBytes);
  }
}

TEST(MemoryPlanTest, JsonAndSvgDescribeEveryBuffer) {
  MemoryPlan plan = planMemory({buffer("a\"<x>", 100, 0, 1),
                                buffer("b", 50, 0, 3), buffer("c", 100, 2, 3)});
  std::string json = memoryPlanToJson(plan);
  EXPECT_NE(json.find("\"arena_bytes\": 150"), std::string::npos) << json;
  EXPECT_NE(json.find("\"naive_bytes\": 250"), std::string::npos) << json;
  EXPECT_NE(json.find("\"lower_bound_bytes\": 150"), std::string::npos);
  EXPECT_NE(json.find("\"name\": \"a\\\"<x>\""), std::string::npos) << json;
  std::string svg = memoryPlanToSvg(plan);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  size_t rects = 0;
  for (size_t at = svg.find("<rect x="); at != std::string::npos;
       at = svg.find("<rect x=", at + 1))
    ++rects;
  EXPECT_EQ(rects, 3u);
  EXPECT_NE(svg.find("a&quot;&lt;x&gt;"), std::string::npos);
}

} // namespace
} // namespace xfc
