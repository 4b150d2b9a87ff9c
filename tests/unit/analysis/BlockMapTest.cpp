//===- BlockMapTest.cpp - The attention block map -------------------------===//
//
// Part of xfc. Checks the block map of fused attention: small maps written
// out by hand, and the closed-form dense and causal constructors against
// the element-by-element classification (fromPredicate) over many sizes,
// including sizes that are not multiples of the block sizes and Sq != Sk.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/BlockMap.h"

#include <gtest/gtest.h>

namespace mlir::xf {
namespace {

/// Every field of two maps equal.
void expectSameTable(const BlockMap &a, const BlockMap &b) {
  EXPECT_EQ(a.rowPointers(), b.rowPointers());
  EXPECT_EQ(a.columns(), b.columns());
  EXPECT_EQ(a.needsMask(), b.needsMask());
}

TEST(BlockMap, DenseDivisible) {
  BlockMap map = BlockMap::dense(128, 256, 64, 128);
  EXPECT_EQ(map.numQueryBlocks(), 2);
  EXPECT_EQ(map.numKeyBlocks(), 2);
  EXPECT_EQ(map.rowPointers(), (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(map.columns(), (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_EQ(map.needsMask(), (std::vector<uint8_t>{0, 0, 0, 0}));
  EXPECT_EQ(map.numMasked(), 0);
  EXPECT_EQ(map.patternName(), "dense");
}

TEST(BlockMap, DenseTailKeyBlockIsPartial) {
  // 77 keys in blocks of 32: the third block holds keys 64..95, of which
  // 77..95 do not exist.
  BlockMap map = BlockMap::dense(7, 77, 7, 32);
  EXPECT_EQ(map.numQueryBlocks(), 1);
  EXPECT_EQ(map.columns(), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(map.needsMask(), (std::vector<uint8_t>{0, 0, 1}));
  EXPECT_EQ(map.kind(0, 2), BlockKind::Partial);
  EXPECT_EQ(map.kind(0, 1), BlockKind::Full);
}

TEST(BlockMap, CausalSkipsBlocksAboveTheDiagonal) {
  // 4 x 4 blocks of 32: lower triangle visited, the diagonal masked.
  BlockMap map = BlockMap::causal(128, 128, 32, 32);
  EXPECT_EQ(map.rowPointers(), (std::vector<int64_t>{0, 1, 3, 6, 10}));
  EXPECT_EQ(map.columns(),
            (std::vector<int64_t>{0, 0, 1, 0, 1, 2, 0, 1, 2, 3}));
  EXPECT_EQ(map.needsMask(),
            (std::vector<uint8_t>{1, 0, 1, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(map.numVisited(), 10);
  EXPECT_EQ(map.numMasked(), 4);
  EXPECT_EQ(map.kind(0, 1), BlockKind::Empty);
  EXPECT_EQ(map.kind(3, 3), BlockKind::Partial);
  EXPECT_EQ(map.kind(3, 0), BlockKind::Full);
}

TEST(BlockMap, CausalRectangularBlocks) {
  // Bq = 32, Bk = 64 over 128 x 128: query block 0 (rows 0..31) sees only
  // key block 0, masked; block 1 (rows 32..63) too; blocks 2 and 3 see key
  // block 0 in full and key block 1 masked.
  BlockMap map = BlockMap::causal(128, 128, 32, 64);
  EXPECT_EQ(map.rowPointers(), (std::vector<int64_t>{0, 1, 2, 4, 6}));
  EXPECT_EQ(map.columns(), (std::vector<int64_t>{0, 0, 0, 1, 0, 1}));
  EXPECT_EQ(map.needsMask(), (std::vector<uint8_t>{1, 1, 0, 1, 0, 1}));
}

TEST(BlockMap, CausalCrossAttentionMoreQueriesThanKeys) {
  // Rows past the last key see every key: all blocks of the late query
  // blocks are visited and, apart from the key tail, full.
  BlockMap map = BlockMap::causal(9, 4, 2, 2);
  EXPECT_EQ(map.numQueryBlocks(), 5);
  EXPECT_EQ(map.rowPointers(), (std::vector<int64_t>{0, 1, 3, 5, 7, 9}));
  EXPECT_EQ(map.kind(0, 0), BlockKind::Partial);
  EXPECT_EQ(map.kind(0, 1), BlockKind::Empty);
  EXPECT_EQ(map.kind(1, 1), BlockKind::Partial);
  EXPECT_EQ(map.kind(2, 1), BlockKind::Full);
  EXPECT_EQ(map.kind(4, 1), BlockKind::Full);
}

TEST(BlockMap, SingleElement) {
  for (BlockMap map :
       {BlockMap::dense(1, 1, 1, 1), BlockMap::causal(1, 1, 1, 1)}) {
    EXPECT_EQ(map.numVisited(), 1);
    EXPECT_EQ(map.numMasked(), 0);
  }
}

TEST(BlockMap, PredicateFindsEmptyBlocks) {
  // Only key 5 allowed, blocks of 4: key block 0 is empty everywhere.
  BlockMap map = BlockMap::fromPredicate(
      8, 8, 4, 4, [](int64_t, int64_t j) { return j == 5; });
  EXPECT_EQ(map.rowPointers(), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(map.columns(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(map.needsMask(), (std::vector<uint8_t>{1, 1}));
  EXPECT_EQ(map.patternName(), "custom");
}

TEST(BlockMap, ClosedFormsMatchTheElementMasks) {
  const int64_t lens[] = {1, 2, 7, 31, 32, 33, 64, 77, 130};
  const int64_t blocks[] = {1, 3, 16, 32, 64};
  for (int64_t sq : lens)
    for (int64_t sk : lens)
      for (int64_t bq : blocks)
        for (int64_t bk : blocks) {
          SCOPED_TRACE(testing::Message() << "Sq " << sq << " Sk " << sk
                                          << " Bq " << bq << " Bk " << bk);
          expectSameTable(
              BlockMap::dense(sq, sk, bq, bk),
              BlockMap::fromPredicate(sq, sk, bq, bk,
                                      [](int64_t, int64_t) { return true; }));
          expectSameTable(
              BlockMap::causal(sq, sk, bq, bk),
              BlockMap::fromPredicate(
                  sq, sk, bq, bk, [](int64_t i, int64_t j) { return j <= i; }));
        }
}

} // namespace
} // namespace mlir::xf
