//===- AttentionPatternTest.cpp - Attention mask patterns -----------------===//
//
// Part of xfc. Checks every pattern of docs/attention-patterns.md against
// allowed sets written out by hand on small sequences, the unions of parts,
// BigBird's seeded random blocks, the error of every malformed pattern,
// and the block maps the fused kernel would read.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/AttentionPattern.h"

#include <gtest/gtest.h>

namespace mlir::xf {
namespace {

using Kind = PatternPart::Kind;

/// The keys query `i` may attend to.
std::vector<int64_t> keysOf(const AttentionPattern &p, int64_t i,
                            int64_t keyLen) {
  std::vector<int64_t> keys;
  for (int64_t j = 0; j < keyLen; ++j)
    if (p.allows(i, j))
      keys.push_back(j);
  return keys;
}

PatternPart part(Kind kind, int64_t width = 0) {
  PatternPart p;
  p.kind = kind;
  p.width = width;
  return p;
}

using Keys = std::vector<int64_t>;

TEST(AttentionPattern, SlidingWindowSymmetricAndCausal) {
  AttentionPattern symmetric({part(Kind::SlidingWindow, 4)}, 10, 10);
  ASSERT_EQ(symmetric.error(), "");
  EXPECT_EQ(keysOf(symmetric, 0, 10), (Keys{0, 1, 2}));
  EXPECT_EQ(keysOf(symmetric, 5, 10), (Keys{3, 4, 5, 6, 7}));
  EXPECT_EQ(keysOf(symmetric, 9, 10), (Keys{7, 8, 9}));

  PatternPart causal = part(Kind::SlidingWindow, 4);
  causal.causal = true;
  AttentionPattern c({causal}, 10, 10);
  EXPECT_EQ(keysOf(c, 2, 10), (Keys{0, 1, 2}));
  EXPECT_EQ(keysOf(c, 7, 10), (Keys{3, 4, 5, 6, 7}));
  EXPECT_EQ(c.describe(), "sliding_window(w = 4, causal)");
}

TEST(AttentionPattern, DilatedSlidingWindow) {
  PatternPart dilated = part(Kind::DilatedSlidingWindow, 4);
  dilated.dilation = 3;
  AttentionPattern p({dilated}, 16, 16);
  ASSERT_EQ(p.error(), "");
  // |i - j| <= 2 * 3 and a multiple of 3.
  EXPECT_EQ(keysOf(p, 8, 16), (Keys{2, 5, 8, 11, 14}));
  EXPECT_EQ(keysOf(p, 1, 16), (Keys{1, 4, 7}));
}

TEST(AttentionPattern, LongformerIsWindowPlusGlobal) {
  PatternPart global = part(Kind::GlobalTokens);
  global.global = {0};
  AttentionPattern p({part(Kind::SlidingWindow, 2), global}, 8, 8);
  ASSERT_EQ(p.error(), "");
  EXPECT_EQ(keysOf(p, 0, 8), (Keys{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(keysOf(p, 5, 8), (Keys{0, 4, 5, 6}));
  EXPECT_EQ(p.describe(), "sliding_window(w = 2) + global(positions = [0])");
}

TEST(AttentionPattern, SparseTransformerStridedAndFixed) {
  AttentionPattern local({part(Kind::StridedLocal, 3)}, 12, 12);
  EXPECT_EQ(keysOf(local, 7, 12), (Keys{4, 5, 6, 7}));
  AttentionPattern summary({part(Kind::StridedSummary, 3)}, 12, 12);
  EXPECT_EQ(keysOf(summary, 7, 12), (Keys{1, 4, 7}));
  AttentionPattern both(
      {part(Kind::StridedLocal, 3), part(Kind::StridedSummary, 3)}, 12, 12);
  EXPECT_EQ(keysOf(both, 7, 12), (Keys{1, 4, 5, 6, 7}));

  AttentionPattern fixedLocal({part(Kind::FixedLocal, 4)}, 12, 12);
  EXPECT_EQ(keysOf(fixedLocal, 6, 12), (Keys{4, 5, 6}));
  PatternPart fixedSummary = part(Kind::FixedSummary, 4);
  fixedSummary.summary = 1;
  AttentionPattern fs({fixedSummary}, 12, 12);
  // j mod 4 == 3 and j <= i.
  EXPECT_EQ(keysOf(fs, 10, 12), (Keys{3, 7}));
}

TEST(AttentionPattern, BlockSparseLayout) {
  PatternPart layout = part(Kind::BlockSparse, 4);
  layout.layout = {1, 0, 0, 1, 1, 0, 0, 0, 1};
  layout.layoutColumns = 3;
  AttentionPattern p({layout}, 10, 10); // 3 x 3 blocks, the last partial.
  ASSERT_EQ(p.error(), "");
  EXPECT_EQ(keysOf(p, 1, 10), (Keys{0, 1, 2, 3}));
  EXPECT_EQ(keysOf(p, 5, 10), (Keys{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(keysOf(p, 9, 10), (Keys{8, 9}));
  BlockMap map = p.blockMap(4, 4);
  EXPECT_EQ(map.rowPointers(), (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(map.columns(), (std::vector<int64_t>{0, 0, 1, 2}));
  // The tail key block (keys 8, 9 of 8..11) needs its mask.
  EXPECT_EQ(map.needsMask(), (std::vector<uint8_t>{0, 0, 0, 1}));
}

TEST(AttentionPattern, BigBirdWindowGlobalAndSeededRandomBlocks) {
  PatternPart bird = part(Kind::BigBird, 4);
  bird.windowBlocks = 3;
  bird.global = {0};
  bird.randomBlocks = 2;
  bird.seed = 7;
  AttentionPattern p({bird}, 64, 64); // 16 blocks of 4.
  ASSERT_EQ(p.error(), "");
  for (int64_t qb = 0; qb < 16; ++qb) {
    const std::vector<int64_t> &random = p.randomBlocks(0, qb);
    if (qb == 0) {
      EXPECT_TRUE(random.empty()) << "a global block sees everything";
      continue;
    }
    ASSERT_EQ(random.size(), 2u) << "query block " << qb;
    for (int64_t kb : random) {
      EXPECT_GT(std::abs(kb - qb), 1) << "random block in the window";
      EXPECT_NE(kb, 0) << "random block is global";
    }
    // Every key of a random block is allowed, and nothing of a block that
    // is neither window, global nor random.
    for (int64_t kb = 0; kb < 16; ++kb) {
      bool expected = std::abs(kb - qb) <= 1 || kb == 0 ||
                      std::count(random.begin(), random.end(), kb);
      for (int64_t i = qb * 4; i < qb * 4 + 4; ++i)
        for (int64_t j = kb * 4; j < kb * 4 + 4; ++j)
          ASSERT_EQ(p.allows(i, j), expected) << i << ", " << j;
    }
  }
  // Query block 0 is global: every key.
  EXPECT_EQ(keysOf(p, 2, 64).size(), 64u);

  // Same seed, same blocks; another seed, other blocks somewhere.
  AttentionPattern again({bird}, 64, 64);
  bird.seed = 8;
  AttentionPattern other({bird}, 64, 64);
  bool differs = false;
  for (int64_t qb = 1; qb < 16; ++qb) {
    EXPECT_EQ(p.randomBlocks(0, qb), again.randomBlocks(0, qb));
    differs |= p.randomBlocks(0, qb) != other.randomBlocks(0, qb);
  }
  EXPECT_TRUE(differs);

  // BigBird at its own block size: whole blocks, no in-block masks; each
  // non-global query block visits 3 window (2 at the ends) + 1 global +
  // 2 random blocks, the global one all 16.
  BlockMap map = p.blockMap(4, 4);
  EXPECT_EQ(map.numMasked(), 0);
  EXPECT_EQ(map.numVisited(0), 16);
  EXPECT_EQ(map.numVisited(1), 2 + 0 + 2 + 1); // 0 is both window and global
  EXPECT_EQ(map.numVisited(8), 3 + 1 + 2);
}

TEST(AttentionPattern, ShortSequenceTakesEveryCandidate) {
  PatternPart bird = part(Kind::BigBird, 4);
  bird.randomBlocks = 5;
  AttentionPattern p({bird}, 16, 16); // 4 blocks: block 0 has 2 candidates.
  ASSERT_EQ(p.error(), "");
  EXPECT_EQ(p.randomBlocks(0, 0), (std::vector<int64_t>{2, 3}));
  EXPECT_DOUBLE_EQ(p.density(), 1.0);
}

TEST(AttentionPattern, SlidingWindowBlockMapSkipsAndMasks) {
  // w = 8 (|i - j| <= 4) over 64 tokens in 8 x 8 tiles: each query block
  // visits its diagonal tile and two neighbours, all of them masked (even
  // in the diagonal tile |i - j| reaches 7); everything else is skipped.
  AttentionPattern p({part(Kind::SlidingWindow, 8)}, 64, 64);
  BlockMap map = p.blockMap(8, 8);
  EXPECT_EQ(map.numVisited(), 8 + 2 * 7);
  EXPECT_EQ(map.numMasked(), 8 + 2 * 7);
  EXPECT_EQ(map.kind(3, 3), BlockKind::Partial);
  EXPECT_EQ(map.kind(3, 2), BlockKind::Partial);
  EXPECT_EQ(map.kind(3, 5), BlockKind::Empty);
  // With w = 32 the diagonal 8 x 8 tile is full.
  AttentionPattern wide({part(Kind::SlidingWindow, 32)}, 64, 64);
  EXPECT_EQ(wide.blockMap(8, 8).kind(3, 3), BlockKind::Full);
  // 9 keys for inner queries, fewer at the ends: (64*9 - 2*(4+3+2+1))/64^2.
  EXPECT_DOUBLE_EQ(p.density(), (64.0 * 9 - 20) / (64.0 * 64));
}

TEST(AttentionPattern, DenseAndCausalUseTheClosedForms) {
  EXPECT_EQ(AttentionPattern({part(Kind::Dense)}, 7, 77)
                .blockMap(7, 32)
                .patternName(),
            "dense");
  AttentionPattern causal({part(Kind::Causal)}, 77, 77);
  BlockMap closed = causal.blockMap(32, 64);
  BlockMap scanned =
      BlockMap::fromPredicate(77, 77, 32, 64, [&](int64_t i, int64_t j) {
        return causal.allows(i, j);
      });
  EXPECT_EQ(closed.patternName(), "causal");
  EXPECT_EQ(closed.columns(), scanned.columns());
  EXPECT_EQ(closed.needsMask(), scanned.needsMask());
}

TEST(AttentionPattern, MalformedPatternsSayWhy) {
  auto errorOf = [](PatternPart p, int64_t n = 16) {
    return AttentionPattern({p}, n, n).error();
  };
  EXPECT_EQ(errorOf(part(Kind::SlidingWindow, 3)),
            "sliding_window(w = 3): the window width w must be even and "
            ">= 2, found 3");
  PatternPart dilated = part(Kind::DilatedSlidingWindow, 4);
  dilated.dilation = 0;
  EXPECT_EQ(errorOf(dilated), "dilated_sliding_window(w = 4, d = 0): "
                              "the dilation d must be >= 1, found 0");
  PatternPart global = part(Kind::GlobalTokens);
  global.global = {16};
  EXPECT_EQ(errorOf(global), "global(positions = [16]): global position 16 "
                             "is outside the sequence [0, 16)");
  EXPECT_EQ(errorOf(part(Kind::GlobalTokens)),
            "global(positions = []): no global positions listed");
  PatternPart bird = part(Kind::BigBird, 4);
  bird.windowBlocks = 2;
  EXPECT_EQ(errorOf(bird),
            "bigbird(b = 4, window = 2, global = [], random = 0, seed = 0): "
            "the window must be an odd number of blocks, found 2");
  EXPECT_EQ(errorOf(part(Kind::StridedLocal, 0)),
            "strided_local(l = 0): the stride l must be >= 1, found 0");
  PatternPart fixed = part(Kind::FixedSummary, 4);
  fixed.summary = 5;
  EXPECT_EQ(errorOf(fixed), "fixed_summary(l = 4, c = 5): the summary "
                            "width c must be in [1, l = 4], found 5");
  PatternPart layout = part(Kind::BlockSparse, 4);
  layout.layout = {1, 1};
  layout.layoutColumns = 2;
  EXPECT_EQ(errorOf(layout),
            "block_sparse(b = 4, layout = [[1, 1]]): the layout must be 4 x 4 "
            "blocks (ceil(16/4) x ceil(16/4)), found 1 x 2");
  PatternPart causalDilated = part(Kind::DilatedSlidingWindow, 4);
  causalDilated.causal = true;
  EXPECT_EQ(errorOf(causalDilated),
            "dilated_sliding_window(w = 4, d = 1): the dilated sliding "
            "window is symmetric only");
  PatternPart randomBird = part(Kind::BigBird, 4);
  randomBird.windowBlocks = 3;
  randomBird.randomBlocks = -1;
  EXPECT_EQ(errorOf(randomBird),
            "bigbird(b = 4, window = 3, global = [], random = -1, seed = 0): "
            "the number of random blocks must be >= 0, found -1");
  PatternPart noLayout = part(Kind::BlockSparse, 4);
  EXPECT_EQ(errorOf(noLayout),
            "block_sparse(b = 4, layout = []): the layout must be a "
            "non-empty matrix with rows of equal length");
  EXPECT_EQ(AttentionPattern({}, 4, 4).error(),
            "a pattern needs at least one part");
  EXPECT_EQ(AttentionPattern({part(Kind::Dense)}, 0, 4).error(),
            "attention needs at least one query and one key, found 0 x 4");
}

//===----------------------------------------------------------------------===//
// The text syntax
//===----------------------------------------------------------------------===//

/// Every part kind, unions and head groups read back to the same text, and
/// to the fields the definitions use.
TEST(AttentionPatternText, RoundTripsEveryKind) {
  const char *texts[] = {
      "dense",
      "causal",
      "sliding_window(w = 8)",
      "sliding_window(w = 8, causal)",
      "dilated_sliding_window(w = 8, d = 2)",
      "global(positions = [0, 7])",
      "bigbird(b = 64, window = 3, global = [0, 1], random = 3, seed = 7)",
      "strided_local(l = 4) | strided_summary(l = 4)",
      "fixed_local(l = 4) + fixed_summary(l = 4, c = 1)",
      "block_sparse(b = 16, layout = [[1, 0], [1, 1]])",
      "sliding_window(w = 512) + global(positions = [0]) | causal",
  };
  for (const char *text : texts) {
    PatternGroups groups;
    std::string error;
    ASSERT_TRUE(parsePatternText(text, groups, error)) << text << ": " << error;
    EXPECT_EQ(printPatternText(groups), text);
  }
  PatternGroups groups;
  std::string error;
  ASSERT_TRUE(parsePatternText(
      " bigbird ( b=8,seed=18446744073709551615 )+global(positions=[3]) | "
      "dense",
      groups, error))
      << error;
  ASSERT_EQ(groups.size(), 2u);
  ASSERT_EQ(groups[0].size(), 2u);
  EXPECT_EQ(groups[0][0].kind, Kind::BigBird);
  EXPECT_EQ(groups[0][0].width, 8);
  EXPECT_EQ(groups[0][0].windowBlocks, 3); // The default.
  EXPECT_EQ(groups[0][0].seed, 18446744073709551615ull);
  EXPECT_EQ(groups[0][1].global, std::vector<int64_t>{3});
  EXPECT_EQ(groups[1][0].kind, Kind::Dense);
  ASSERT_TRUE(parsePatternText("block_sparse(b = 2, layout = [[1, 0, 1]])",
                               groups, error));
  EXPECT_EQ(groups[0][0].layoutColumns, 3);
  EXPECT_EQ(groups[0][0].layout, (std::vector<uint8_t>{1, 0, 1}));
}

/// Each error names the column, what was expected and what was found.
TEST(AttentionPatternText, ErrorsSayWhereAndWhat) {
  auto errorOf = [](const char *text) {
    PatternGroups groups;
    std::string error;
    EXPECT_FALSE(parsePatternText(text, groups, error)) << text;
    EXPECT_TRUE(groups.empty());
    return error;
  };
  EXPECT_EQ(errorOf(""),
            "column 1: expected a pattern part (dense, causal, "
            "sliding_window, dilated_sliding_window, global, bigbird, "
            "strided_local, strided_summary, fixed_local, fixed_summary, "
            "block_sparse, linear, performer, linformer, lsh), found the end");
  EXPECT_EQ(errorOf("sliding(w = 8)").substr(0, 45),
            "column 1: expected a pattern part (dense, cau");
  EXPECT_EQ(errorOf("sliding_window(w = 8"),
            "column 21: expected ')', found the end");
  EXPECT_EQ(errorOf("sliding_window(w = 7)"),
            "column 1: sliding_window: the window width w must be even and "
            ">= 2, found 7");
  EXPECT_EQ(errorOf("sliding_window(width = 8)"),
            "column 16: sliding_window has no parameter 'width' "
            "(parameters: w, causal)");
  EXPECT_EQ(errorOf("sliding_window()"),
            "column 1: sliding_window needs parameter 'w'");
  EXPECT_EQ(errorOf("global(positions = 3)"),
            "column 20: global parameter 'positions' takes a list of "
            "integers, found an integer");
  EXPECT_EQ(errorOf("strided_local(l = 4, l = 5)"),
            "column 22: parameter 'l' given twice");
  EXPECT_EQ(errorOf("dense dense"),
            "column 7: expected '+' (union), '|' (next head group) or the "
            "end, found 'dense'");
  EXPECT_EQ(errorOf("strided_local(l = -1)"),
            "column 19: expected a non-negative integer, found '-'");
  EXPECT_EQ(errorOf("strided_local(l = 99999999999999999999999)"),
            "column 19: integer out of range");
  EXPECT_EQ(errorOf("global(positions = [2000000000000])"),
            "column 21: integer 2000000000000 is too large (at most 2^40)");
  EXPECT_EQ(errorOf("strided_local(= 4)"),
            "column 15: expected a parameter name, found '='");
  EXPECT_EQ(errorOf("block_sparse(b = 4, layout = [[1, 0], [1]])"),
            "column 30: block_sparse layout rows must have equal length, "
            "found 1 after 2");
  EXPECT_EQ(errorOf("block_sparse(b = 4, layout = [[1, 2]])"),
            "column 1: block_sparse: layout entries must be 0 or 1, found 2");
  EXPECT_EQ(errorOf("causal |"),
            "column 9: expected a pattern part (dense, causal, "
            "sliding_window, dilated_sliding_window, global, bigbird, "
            "strided_local, strided_summary, fixed_local, fixed_summary, "
            "block_sparse, linear, performer, linformer, lsh), found the end");
}

/// The families that are not masks: their parameters, defaults and the
/// rule that each is the whole pattern.
TEST(AttentionPatternText, FamiliesThatAreNotMasks) {
  const char *texts[] = {
      "linear",
      "linear(causal)",
      "performer(m = 256, seed = 3)",
      "performer(m = 16, seed = 0, causal)",
      "linformer(k = 128, sharing = headwise, seed = 0)",
      "linformer(k = 8, sharing = key_value, seed = 5)",
      "lsh(buckets = 32, hashes = 2, chunk = 64, seed = 1, causal)",
  };
  for (const char *text : texts) {
    PatternGroups groups;
    std::string error;
    ASSERT_TRUE(parsePatternText(text, groups, error)) << text << ": " << error;
    EXPECT_EQ(printPatternText(groups), text);
    const PatternPart *family = approximationOf(groups);
    ASSERT_NE(family, nullptr) << text;
    EXPECT_FALSE(family->isMask());
    EXPECT_EQ(numericsNote(*family).rfind("changes the numerics: ", 0), 0u);
    // No block map: the pattern class refuses it, saying why.
    AttentionPattern pattern(groups.front(), 16, 16);
    EXPECT_NE(pattern.error().find("is not a mask"), std::string::npos);
  }
  PatternGroups groups;
  std::string error;
  ASSERT_TRUE(parsePatternText("linformer(k = 4)", groups, error)) << error;
  EXPECT_EQ(groups[0][0].sharing, PatternPart::Sharing::Headwise);
  EXPECT_FALSE(groups[0][0].isCausal());
  ASSERT_TRUE(parsePatternText("lsh(buckets = 4, chunk = 8)", groups, error));
  EXPECT_EQ(groups[0][0].hashes, 1);
  EXPECT_FALSE(groups[0][0].isCausal());
  // LSH FLOPs as LshAttention.cpp computes them, L = 10, d = 16, 2 rounds
  // of 4 buckets, chunks of 8 (2 chunks: 16 padded rows by 16 keys):
  // norms 2 L d, hashing 2 L d R nb/2, chunks R 16 (2c) (4d + 5), o / l.
  ASSERT_TRUE(parsePatternText("lsh(buckets = 4, hashes = 2, chunk = 8)",
                               groups, error));
  EXPECT_EQ(approximationFlops(groups[0][0], 1, 1, 10, 10, 16),
            320 + 1280 + 2 * 16 * 16 * 69 + 160);
  // Two heads of batch 2: four times as much; a chunk longer than L is one
  // chunk of L.
  EXPECT_EQ(approximationFlops(groups[0][0], 2, 2, 10, 10, 16),
            4 * (320 + 1280 + 2 * 16 * 16 * 69 + 160));
  ASSERT_TRUE(parsePatternText("lsh(buckets = 4, chunk = 64)", groups, error));
  EXPECT_EQ(approximationFlops(groups[0][0], 1, 1, 10, 10, 16),
            320 + 640 + 10 * 20 * 69 + 160);
  ASSERT_TRUE(parsePatternText("performer(m = 4, causal)", groups, error));
  EXPECT_TRUE(groups[0][0].isCausal());
  EXPECT_EQ(approximationOf({{PatternPart()}}), nullptr);

  auto errorOf = [](const char *text) {
    PatternGroups groups;
    std::string error;
    EXPECT_FALSE(parsePatternText(text, groups, error)) << text;
    return error;
  };
  EXPECT_EQ(errorOf("linear + global(positions = [0])"),
            "column 1: linear is not a mask: it must be the whole pattern "
            "(no '+' union, no '|' head groups)");
  EXPECT_EQ(errorOf("causal | performer(m = 4)"),
            "column 10: performer is not a mask: it must be the whole "
            "pattern (no '+' union, no '|' head groups)");
  EXPECT_EQ(errorOf("linformer(k = 4, sharing = all)"),
            "column 28: linformer sharing must be none, headwise, "
            "key_value or layerwise, found 'all'");
  EXPECT_EQ(errorOf("linformer(k = 4, seed = one)"),
            "column 25: linformer parameter 'seed' takes an integer, found "
            "a name");
  EXPECT_EQ(errorOf("lsh(buckets = 3, chunk = 8)"),
            "column 1: lsh: the number of buckets must be even and >= 2, "
            "found 3");
  EXPECT_EQ(errorOf("performer(m = 0)"),
            "column 1: performer: the number of random features m must be "
            ">= 1, found 0");
  EXPECT_EQ(errorOf("lsh(buckets = 4)"),
            "column 1: lsh needs parameter 'chunk'");
}

} // namespace
} // namespace mlir::xf

//===----------------------------------------------------------------------===//
// Tile classification against the element predicate
//===----------------------------------------------------------------------===//

namespace mlir::xf {
namespace {

/// blockMap's closed forms against BlockMap::fromPredicate (every pair
/// tested): a tile called Empty or Full must be exactly that; where `exact`
/// the two maps must be identical.
void expectClassifiesLikePredicate(const std::string &text, int64_t sq,
                                   int64_t sk, bool exact) {
  PatternGroups groups;
  std::string error;
  ASSERT_TRUE(parsePatternText(text, groups, error)) << text << ": " << error;
  AttentionPattern pattern(groups.front(), sq, sk);
  ASSERT_EQ(pattern.error(), "") << text;
  int64_t allowed = 0;
  for (int64_t i = 0; i < sq; ++i)
    for (int64_t j = 0; j < sk; ++j)
      allowed += pattern.allows(i, j) ? 1 : 0;
  EXPECT_EQ(pattern.allowedPairs(), allowed) << text;
  for (auto [bq, bk] :
       {std::pair<int64_t, int64_t>{5, 3}, {8, 8}, {16, 32}, {1, 1}, {7, 13}}) {
    BlockMap fast = pattern.blockMap(bq, bk);
    BlockMap slow =
        BlockMap::fromPredicate(sq, sk, bq, bk, [&](int64_t i, int64_t j) {
          return pattern.allows(i, j);
        });
    for (int64_t qb = 0; qb < fast.numQueryBlocks(); ++qb)
      for (int64_t kb = 0; kb < fast.numKeyBlocks(); ++kb) {
        BlockKind f = fast.kind(qb, kb), s = slow.kind(qb, kb);
        SCOPED_TRACE(text + " tiles " + std::to_string(bq) + "x" +
                     std::to_string(bk) + " at (" + std::to_string(qb) + ", " +
                     std::to_string(kb) + ")");
        if (f != BlockKind::Partial || exact)
          ASSERT_EQ(int(f), int(s));
      }
  }
}

TEST(AttentionPatternTiles, ClosedFormsMatchThePredicate) {
  for (auto [sq, sk] :
       {std::pair<int64_t, int64_t>{77, 77}, {33, 77}, {64, 64}, {1, 9}}) {
    SCOPED_TRACE(std::to_string(sq) + " x " + std::to_string(sk));
    expectClassifiesLikePredicate("dense", sq, sk, true);
    expectClassifiesLikePredicate("causal", sq, sk, true);
    expectClassifiesLikePredicate("sliding_window(w = 8)", sq, sk, true);
    expectClassifiesLikePredicate("sliding_window(w = 6, causal)", sq, sk,
                                  true);
    expectClassifiesLikePredicate("strided_local(l = 5)", sq, sk, true);
    expectClassifiesLikePredicate("dilated_sliding_window(w = 8, d = 3)", sq,
                                  sk, false);
    expectClassifiesLikePredicate("dilated_sliding_window(w = 4, d = 1)", sq,
                                  sk, true);
    expectClassifiesLikePredicate("strided_summary(l = 6)", sq, sk, false);
    expectClassifiesLikePredicate("strided_summary(l = 1)", sq, sk, true);
    expectClassifiesLikePredicate("fixed_local(l = 8)", sq, sk, false);
    expectClassifiesLikePredicate("fixed_summary(l = 8, c = 3)", sq, sk, false);
    expectClassifiesLikePredicate("global(positions = [0, 4, 4])", sq, sk,
                                  false);
    expectClassifiesLikePredicate(
        "bigbird(b = 8, window = 3, global = [1], random = 2, seed = 5)", sq,
        sk, true);
    expectClassifiesLikePredicate(
        "sliding_window(w = 4) + global(positions = [0]) + causal", sq, sk,
        false);
  }
  expectClassifiesLikePredicate(
      "block_sparse(b = 16, layout = [[1, 0, 1], [0, 0, 1], [1, 1, 1]])", 40,
      40, true);
}

/// A 16K-token pattern maps fast (closed forms, no pass over every pair)
/// and counts its pairs from the map.
TEST(AttentionPatternTiles, LongSequencesMapInTileTime) {
  PatternGroups groups;
  std::string error;
  ASSERT_TRUE(parsePatternText(
      "bigbird(b = 64, window = 3, global = [0, 1], random = 3, seed = 1)",
      groups, error));
  AttentionPattern bird(groups.front(), 16384, 16384);
  BlockMap map = bird.blockMap(64, 64);
  // 256 block rows: 3 window + 2 global + 3 random blocks each (fewer at
  // the edges), and the 2 global rows see all 256.
  EXPECT_EQ(map.numMasked(), 0);
  EXPECT_EQ(map.numVisited(0), 256);
  EXPECT_EQ(map.numVisited(100), 8);
  EXPECT_EQ(bird.allowedPairs(), map.numVisited() * 64 * 64);
  ASSERT_TRUE(parsePatternText("sliding_window(w = 512)", groups, error));
  AttentionPattern window(groups.front(), 16384, 16384);
  // Row i sees [i - 256, i + 256] clipped: 513 keys, minus the clipped
  // triangles at both ends.
  EXPECT_EQ(window.allowedPairs(), 16384 * 513 - 2 * (256 * 257 / 2));
}

/// Linformer's count is what the code runs: the two projections
/// (linformerProjectionFlops, as xf-form-kernels counts each
/// xf.linformer_projection) plus dense attention over the k projected rows.
TEST(AttentionPattern, LinformerFlopsAreProjectionsPlusAttention) {
  PatternGroups groups;
  std::string error;
  ASSERT_TRUE(parsePatternText("linformer(k = 256)", groups, error)) << error;
  const PatternPart *part = approximationOf(groups);
  ASSERT_NE(part, nullptr);
  int64_t batch = 2, heads = 12, n = 4096, d = 64;
  int64_t projection = linformerProjectionFlops(batch, n, 256, heads * d,
                                                /*keyLengths=*/false);
  EXPECT_EQ(projection, batch * 2 * 256 * n * heads * d);
  int64_t attention = batch * heads * n * 256 * (4 * d + 5);
  EXPECT_EQ(approximationFlops(*part, batch, heads, n, n, d),
            2 * projection + attention);
  // Key lengths add one select per input element.
  EXPECT_EQ(linformerProjectionFlops(batch, n, 256, heads * d, true),
            projection + batch * n * heads * d);
}

} // namespace
} // namespace mlir::xf
