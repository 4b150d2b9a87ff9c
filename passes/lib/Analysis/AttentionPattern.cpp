//===- AttentionPattern.cpp - Which keys each query may attend to -*- C++ -*-=//
//
// Part of xfc. See AttentionPattern.h.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/AttentionPattern.h"

#include <algorithm>
#include <numeric>

namespace mlir::xf {
namespace {

using Kind = PatternPart::Kind;

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// SplitMix64: a small, fully specified generator, so BigBird's random
/// blocks are the same on every platform and standard library.
uint64_t splitMix64(uint64_t &state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

bool contains(const std::vector<int64_t> &v, int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

} // namespace

std::string PatternPart::describe() const {
  auto num = [](int64_t v) { return std::to_string(v); };
  auto list = [&](const std::vector<int64_t> &values) {
    std::string text = "[";
    for (size_t i = 0; i < values.size(); ++i)
      text += (i ? ", " : "") + num(values[i]);
    return text + "]";
  };
  switch (kind) {
  case Kind::Dense:
    return "dense";
  case Kind::Causal:
    return "causal";
  case Kind::SlidingWindow:
    return "sliding_window(w = " + num(width) + (causal ? ", causal)" : ")");
  case Kind::DilatedSlidingWindow:
    return "dilated_sliding_window(w = " + num(width) +
           ", d = " + num(dilation) + ")";
  case Kind::GlobalTokens:
    return "global(positions = " + list(global) + ")";
  case Kind::BigBird:
    return "bigbird(b = " + num(width) + ", window = " + num(windowBlocks) +
           ", global = " + list(global) + ", random = " + num(randomBlocks) +
           ", seed = " + std::to_string(seed) + ")";
  case Kind::StridedLocal:
    return "strided_local(l = " + num(width) + ")";
  case Kind::StridedSummary:
    return "strided_summary(l = " + num(width) + ")";
  case Kind::FixedLocal:
    return "fixed_local(l = " + num(width) + ")";
  case Kind::FixedSummary:
    return "fixed_summary(l = " + num(width) + ", c = " + num(summary) + ")";
  case Kind::BlockSparse: {
    std::string rows;
    for (size_t r = 0; layoutColumns > 0 && r * layoutColumns < layout.size();
         ++r) {
      std::vector<int64_t> row(layout.begin() + r * layoutColumns,
                               layout.begin() + (r + 1) * layoutColumns);
      rows += (r ? ", " : "") + list(row);
    }
    return "block_sparse(b = " + num(width) + ", layout = [" + rows + "])";
  }
  }
  return "";
}

bool PatternPart::isCausal() const {
  switch (kind) {
  case Kind::Causal:
  case Kind::StridedLocal:
  case Kind::StridedSummary:
  case Kind::FixedLocal:
  case Kind::FixedSummary:
    return true;
  case Kind::SlidingWindow:
    return causal;
  default:
    return false;
  }
}

std::string checkPatternPart(const PatternPart &part) {
  auto positive = [](int64_t v, const char *what) -> std::string {
    return v >= 1 ? ""
                  : std::string(what) + " must be >= 1, found " +
                        std::to_string(v);
  };
  switch (part.kind) {
  case Kind::Dense:
  case Kind::Causal:
    return "";
  case Kind::SlidingWindow:
  case Kind::DilatedSlidingWindow:
    if (part.width < 2 || part.width % 2 != 0)
      return "the window width w must be even and >= 2, found " +
             std::to_string(part.width);
    if (part.kind == Kind::DilatedSlidingWindow) {
      if (part.causal)
        return "the dilated sliding window is symmetric only";
      return positive(part.dilation, "the dilation d");
    }
    return "";
  case Kind::GlobalTokens:
    if (part.global.empty())
      return "no global positions listed";
    for (int64_t g : part.global)
      if (g < 0)
        return "global position " + std::to_string(g) + " is negative";
    return "";
  case Kind::BigBird:
    if (std::string p = positive(part.width, "the block size b"); !p.empty())
      return p;
    if (part.windowBlocks < 1 || part.windowBlocks % 2 != 1)
      return "the window must be an odd number of blocks, found " +
             std::to_string(part.windowBlocks);
    if (part.randomBlocks < 0)
      return "the number of random blocks must be >= 0, found " +
             std::to_string(part.randomBlocks);
    for (int64_t g : part.global)
      if (g < 0)
        return "global block " + std::to_string(g) + " is negative";
    return "";
  case Kind::StridedLocal:
  case Kind::StridedSummary:
  case Kind::FixedLocal:
    return positive(part.width, "the stride l");
  case Kind::FixedSummary:
    if (std::string p = positive(part.width, "the block length l"); !p.empty())
      return p;
    if (part.summary < 1 || part.summary > part.width)
      return "the summary width c must be in [1, l = " +
             std::to_string(part.width) + "], found " +
             std::to_string(part.summary);
    return "";
  case Kind::BlockSparse:
    if (std::string p = positive(part.width, "the block size b"); !p.empty())
      return p;
    if (part.layoutColumns < 1 ||
        part.layout.size() % static_cast<size_t>(part.layoutColumns) != 0)
      return "the layout must be a non-empty matrix with rows of equal length";
    for (uint8_t v : part.layout)
      if (v > 1)
        return "layout entries must be 0 or 1, found " + std::to_string(v);
    return "";
  }
  return "unknown pattern";
}

AttentionPattern::AttentionPattern(std::vector<PatternPart> parts,
                                   int64_t queryLen, int64_t keyLen)
    : ps(std::move(parts)), sq(queryLen), sk(keyLen) {
  if (sq < 1 || sk < 1)
    err = "attention needs at least one query and one key, found " +
          std::to_string(sq) + " x " + std::to_string(sk);
  if (ps.empty() && err.empty())
    err = "a pattern needs at least one part";
  for (size_t p = 0; p < ps.size() && err.empty(); ++p) {
    std::string problem = check(ps[p]);
    if (!problem.empty())
      err = ps[p].describe() + ": " + problem;
  }
  random.resize(ps.size());
  if (!err.empty())
    return;
  // BigBird's random blocks: for each query block, `randomBlocks` distinct
  // key blocks drawn from those neither in its window nor global, by a
  // partial Fisher-Yates shuffle seeded with (seed, query block). Short
  // sequences with fewer candidates take all of them.
  for (size_t p = 0; p < ps.size(); ++p) {
    const PatternPart &part = ps[p];
    if (part.kind != Kind::BigBird)
      continue;
    int64_t numQ = ceilDiv(sq, part.width), numK = ceilDiv(sk, part.width);
    int64_t half = part.windowBlocks / 2;
    random[p].resize(numQ);
    for (int64_t qb = 0; qb < numQ; ++qb) {
      std::vector<int64_t> candidates;
      for (int64_t kb = 0; kb < numK; ++kb)
        if (std::abs(qb - kb) > half && !contains(part.global, kb) &&
            !contains(part.global, qb))
          candidates.push_back(kb);
      uint64_t state = part.seed ^ (0xD1B54A32D192ED03ull * uint64_t(qb + 1));
      int64_t take = std::min<int64_t>(part.randomBlocks, candidates.size());
      for (int64_t t = 0; t < take; ++t) {
        int64_t pick =
            t + int64_t(splitMix64(state) % uint64_t(candidates.size() - t));
        std::swap(candidates[t], candidates[pick]);
      }
      candidates.resize(take);
      std::sort(candidates.begin(), candidates.end());
      random[p][qb] = std::move(candidates);
    }
  }
}

std::string AttentionPattern::check(const PatternPart &part) const {
  if (std::string problem = checkPatternPart(part); !problem.empty())
    return problem;
  switch (part.kind) {
  case Kind::GlobalTokens:
    for (int64_t g : part.global)
      if (g >= std::max(sq, sk))
        return "global position " + std::to_string(g) +
               " is outside the sequence [0, " +
               std::to_string(std::max(sq, sk)) + ")";
    return "";
  case Kind::BigBird: {
    int64_t blocks = std::max(ceilDiv(sq, part.width), ceilDiv(sk, part.width));
    for (int64_t g : part.global)
      if (g >= blocks)
        return "global block " + std::to_string(g) + " is outside [0, " +
               std::to_string(blocks) + ")";
    return "";
  }
  case Kind::BlockSparse: {
    int64_t rows = ceilDiv(sq, part.width), cols = ceilDiv(sk, part.width);
    int64_t foundRows =
        static_cast<int64_t>(part.layout.size()) / part.layoutColumns;
    if (part.layoutColumns != cols || foundRows != rows)
      return "the layout must be " + std::to_string(rows) + " x " +
             std::to_string(cols) + " blocks (ceil(" + std::to_string(sq) +
             "/" + std::to_string(part.width) + ") x ceil(" +
             std::to_string(sk) + "/" + std::to_string(part.width) +
             ")), found " + std::to_string(foundRows) + " x " +
             std::to_string(part.layoutColumns);
    return "";
  }
  default:
    return "";
  }
}

bool AttentionPattern::partAllows(size_t index, int64_t i, int64_t j) const {
  const PatternPart &part = ps[index];
  int64_t diff = i - j;
  switch (part.kind) {
  case Kind::Dense:
    return true;
  case Kind::Causal:
    return j <= i;
  case Kind::SlidingWindow:
    return part.causal ? diff >= 0 && diff <= part.width
                       : std::abs(diff) <= part.width / 2;
  case Kind::DilatedSlidingWindow:
    return std::abs(diff) <= (part.width / 2) * part.dilation &&
           std::abs(diff) % part.dilation == 0;
  case Kind::GlobalTokens:
    return contains(part.global, i) || contains(part.global, j);
  case Kind::BigBird: {
    int64_t qb = i / part.width, kb = j / part.width;
    return std::abs(qb - kb) <= part.windowBlocks / 2 ||
           contains(part.global, qb) || contains(part.global, kb) ||
           contains(random[index][qb], kb);
  }
  case Kind::StridedLocal:
    return diff >= 0 && diff <= part.width;
  case Kind::StridedSummary:
    return diff >= 0 && diff % part.width == 0;
  case Kind::FixedLocal:
    return j <= i && j / part.width == i / part.width;
  case Kind::FixedSummary:
    return j <= i && j % part.width >= part.width - part.summary;
  case Kind::BlockSparse:
    return part.layout[(i / part.width) * part.layoutColumns +
                       j / part.width] != 0;
  }
  return false;
}

bool AttentionPattern::allows(int64_t i, int64_t j) const {
  for (size_t p = 0; p < ps.size(); ++p)
    if (partAllows(p, i, j))
      return true;
  return false;
}

BlockMap AttentionPattern::blockMap(int64_t blockQ, int64_t blockK) const {
  if (ps.size() == 1 && ps.front().kind == Kind::Dense)
    return BlockMap::dense(sq, sk, blockQ, blockK);
  if (ps.size() == 1 && ps.front().kind == Kind::Causal)
    return BlockMap::causal(sq, sk, blockQ, blockK);
  return BlockMap::fromPredicate(
      sq, sk, blockQ, blockK,
      [this](int64_t i, int64_t j) { return allows(i, j); });
}

double AttentionPattern::density() const {
  int64_t count = 0;
  for (int64_t i = 0; i < sq; ++i)
    for (int64_t j = 0; j < sk; ++j)
      count += allows(i, j) ? 1 : 0;
  return double(count) / double(sq * sk);
}

std::string AttentionPattern::describe() const {
  std::string text;
  for (const PatternPart &part : ps)
    text += (text.empty() ? "" : " + ") + part.describe();
  return text;
}

} // namespace mlir::xf
