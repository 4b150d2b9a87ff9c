//===- AttentionPattern.cpp - Which keys each query may attend to -*- C++ -*-=//
//
// Part of xfc. See AttentionPattern.h.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/AttentionPattern.h"
#include "xf/Analysis/RandomFeatures.h"

#include <algorithm>
#include <cmath>
#include <limits>
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
  case Kind::Linear:
    return causal ? "linear(causal)" : "linear";
  case Kind::Performer:
    return "performer(m = " + num(features) + ", seed = " +
           std::to_string(seed) + (causal ? ", causal)" : ")");
  case Kind::Linformer: {
    static const char *sharings[] = {"none", "headwise", "key_value",
                                     "layerwise"};
    return "linformer(k = " + num(projection) +
           ", sharing = " + sharings[static_cast<int>(sharing)] +
           ", seed = " + std::to_string(seed) + ")";
  }
  case Kind::Lsh:
    return "lsh(buckets = " + num(buckets) + ", hashes = " + num(hashes) +
           ", chunk = " + num(chunk) + ", seed = " + std::to_string(seed) +
           (causal ? ", causal)" : ")");
  }
  return "";
}

const char *PatternPart::name() const {
  switch (kind) {
  case Kind::Dense:
    return "dense";
  case Kind::Causal:
    return "causal";
  case Kind::SlidingWindow:
    return "sliding_window";
  case Kind::DilatedSlidingWindow:
    return "dilated_sliding_window";
  case Kind::GlobalTokens:
    return "global";
  case Kind::BigBird:
    return "bigbird";
  case Kind::StridedLocal:
    return "strided_local";
  case Kind::StridedSummary:
    return "strided_summary";
  case Kind::FixedLocal:
    return "fixed_local";
  case Kind::FixedSummary:
    return "fixed_summary";
  case Kind::BlockSparse:
    return "block_sparse";
  case Kind::Linear:
    return "linear";
  case Kind::Performer:
    return "performer";
  case Kind::Linformer:
    return "linformer";
  case Kind::Lsh:
    return "lsh";
  }
  return "unknown";
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
  case Kind::Linear:
  case Kind::Performer:
  case Kind::Lsh:
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
  case Kind::Linear:
    return "";
  case Kind::Performer:
    return positive(part.features, "the number of random features m");
  case Kind::Linformer:
    return positive(part.projection, "the projection length k");
  case Kind::Lsh:
    if (part.buckets < 2 || part.buckets % 2 != 0)
      return "the number of buckets must be even and >= 2, found " +
             std::to_string(part.buckets);
    if (std::string p = positive(part.hashes, "the number of hash rounds");
        !p.empty())
      return p;
    return positive(part.chunk, "the chunk length");
  }
  return "unknown pattern";
}

const PatternPart *approximationOf(const PatternGroups &groups) {
  for (const std::vector<PatternPart> &group : groups)
    for (const PatternPart &part : group)
      if (!part.isMask())
        return &part;
  return nullptr;
}

std::string numericsNote(const PatternPart &part) {
  switch (part.kind) {
  case Kind::Linear:
    return "changes the numerics: linear attention replaces "
           "softmax(q k^T / sqrt(d)) by phi(q) phi(k)^T with phi = elu + 1, "
           "normalized per query";
  case Kind::Performer:
    return "changes the numerics: Performer approximates softmax attention "
           "with " +
           std::to_string(part.features) +
           " positive random features (error about 1/sqrt(m))";
  case Kind::Linformer:
    return "changes the numerics: Linformer attends to " +
           std::to_string(part.projection) +
           " projections of the keys and values (E K, F V) instead of the "
           "keys and values";
  case Kind::Lsh:
    return "changes the numerics: LSH attention lets each query see only "
           "the keys hashed to its bucket in its chunk and the previous "
           "one, in " +
           std::to_string(part.hashes) +
           " rounds, with the normalized queries as keys (shared QK: the "
           "query projection serves as the keys, the key projection is not "
           "used)";
  default:
    return "exact: the same result as dense attention under the pattern's "
           "mask";
  }
}

int64_t approximationFlops(const PatternPart &part, int64_t batch,
                           int64_t heads, int64_t sq, int64_t sk,
                           int64_t headDim) {
  double bh = double(batch) * double(heads), d = double(headDim);
  double q = double(sq), k = double(sk);
  double flops = 0;
  switch (part.kind) {
  case Kind::Linear:
  case Kind::Performer: {
    // What LinearAttention.cpp computes, per (batch, head), with F features
    // (D, or m), chunks of C positions and a shifted tail chunk that redoes
    // part of its predecessor (so Sq, Sk count whole chunks). phi: 2 per
    // element for elu + 1; Performer projects (2 D F per row, keys twice:
    // the stabilizer pass and the main pass), takes row maxima or |k|^2
    // and exponentials. State: S += phi(K)^T V (2 F D per key), z (F per
    // key). Queries: phi(q) S, phi(q) z, a divide per output.
    double f = part.kind == Kind::Performer ? double(part.features) : d;
    double chunk = double(kernelizedAttentionChunk(int64_t(f)));
    double cq = std::min(chunk, q), ck = std::min(chunk, k);
    if (part.causal)
      cq = ck = std::min(chunk, q);
    double pq = std::ceil(q / cq) * cq, pk = std::ceil(k / ck) * ck;
    double queryPhi = part.kind == Kind::Performer ? 2 * d * f + 2 * f : 2 * f;
    double keyPhi = part.kind == Kind::Performer
                        ? 2 * (2 * d * f + 2 * d) + 2 * f
                        : 2 * f;
    flops = pq * queryPhi + pk * keyPhi + pk * (2 * f * d + f) +
            pq * (2 * f * d + 2 * f + d);
    // Causal: each chunk's own quadratic form A = phi(Q_c) phi(K_c)^T
    // (2 F per pair), its mask, A V_c (2 D per pair) and rowsum A.
    if (part.causal)
      flops += pq * cq * (2 * f + 1 + 2 * d + 1);
    break;
  }
  case Kind::Linformer: {
    // As the code computes it (xf.linformer_projection twice, then the
    // fused kernel over p keys): E K and F V, a multiply-add per p x n x d
    // per head, then dense attention over the p projected keys. The
    // padding select of key lengths is not counted here (the kernel report
    // does count it, see linformerProjectionFlops).
    double p = double(part.projection);
    flops = 2 * (2 * p * k * d) + q * p * (4 * d + 5);
    break;
  }
  case Kind::Lsh: {
    // As LshAttention.cpp computes it (shared QK: Sq = Sk): the query
    // norms; the projections on rounds x buckets/2 rotations; per round
    // ceil(L/c) chunks of c queries by 2c keys (the last chunk and the
    // first chunk's missing predecessor are computed masked), each score
    // a q.k and a p v product plus scale, mask, max, exp and sum; o / l.
    double rounds = double(part.hashes);
    int64_t chunk = std::max<int64_t>(1, std::min(part.chunk, sq));
    double c = double(chunk);
    double padded = double((sq + chunk - 1) / chunk) * c;
    flops = 2 * q * d + 2 * q * d * rounds * double(part.buckets / 2) +
            rounds * padded * 2 * c * (4 * d + 5) + q * d;
    break;
  }
  default:
    flops = q * k * (4 * d + 5);
    break;
  }
  return static_cast<int64_t>(bh * flops);
}

int64_t linformerProjectionFlops(int64_t batch, int64_t n, int64_t k,
                                 int64_t channels, bool keyLengths) {
  return batch * (2 * k * n * channels + (keyLengths ? n * channels : 0));
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
  // Block matrices of the parts defined by blocks, read by classifyTile.
  blockTables.resize(ps.size());
  for (size_t p = 0; p < ps.size(); ++p) {
    const PatternPart &part = ps[p];
    if (part.kind != Kind::BigBird && part.kind != Kind::BlockSparse)
      continue;
    int64_t numQ = ceilDiv(sq, part.width), numK = ceilDiv(sk, part.width);
    std::vector<uint8_t> &table = blockTables[p];
    table.assign(numQ * numK, 0);
    for (int64_t qb = 0; qb < numQ; ++qb)
      for (int64_t kb = 0; kb < numK; ++kb)
        table[qb * numK + kb] =
            partAllows(p, qb * part.width, kb * part.width) ? 1 : 0;
  }
}

std::string AttentionPattern::check(const PatternPart &part) const {
  if (!part.isMask())
    return std::string(part.name()) +
           " is not a mask: it has its own lowering, not a block map";
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
  default:
    // Not a mask; the constructor refused it.
    return false;
  }
  return false;
}

bool AttentionPattern::allows(int64_t i, int64_t j) const {
  for (size_t p = 0; p < ps.size(); ++p)
    if (partAllows(p, i, j))
      return true;
  return false;
}

BlockKind AttentionPattern::classifyPart(size_t index, int64_t i0, int64_t i1,
                                         int64_t j0, int64_t j1) const {
  const PatternPart &part = ps[index];
  int64_t iLast = i1 - 1, jLast = j1 - 1;
  // The tile's range of i - j.
  int64_t diffMin = i0 - jLast, diffMax = iLast - j0;
  // i - j in [lo, hi] for every pair, for none, or for some.
  auto band = [&](int64_t lo, int64_t hi) {
    if (diffMax < lo || diffMin > hi)
      return BlockKind::Empty;
    return diffMin >= lo && diffMax <= hi ? BlockKind::Full
                                          : BlockKind::Partial;
  };
  constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max() / 4;
  switch (part.kind) {
  case Kind::Dense:
    return BlockKind::Full;
  case Kind::Causal:
    return band(0, kUnbounded);
  case Kind::SlidingWindow:
    return part.causal ? band(0, part.width)
                       : band(-part.width / 2, part.width / 2);
  case Kind::StridedLocal:
    return band(0, part.width);
  case Kind::DilatedSlidingWindow: {
    int64_t reach = (part.width / 2) * part.dilation;
    BlockKind k = band(-reach, reach);
    if (part.dilation == 1 || k == BlockKind::Empty)
      return k;
    // Some i - j within the reach must be a multiple of d; a tile of more
    // than one pair then also has holes.
    int64_t lo = std::max(diffMin, -reach), hi = std::min(diffMax, reach);
    int64_t firstMultiple = lo >= 0 ? ceilDiv(lo, part.dilation) * part.dilation
                                    : -((-lo) / part.dilation) * part.dilation;
    if (firstMultiple > hi)
      return BlockKind::Empty;
    return (i1 - i0) * (j1 - j0) == 1 ? BlockKind::Full : BlockKind::Partial;
  }
  case Kind::StridedSummary: {
    if (diffMax < 0)
      return BlockKind::Empty;
    if (part.width == 1)
      return band(0, kUnbounded);
    // Some i - j in [max(diffMin, 0), diffMax] must be a multiple of l.
    int64_t lo = std::max<int64_t>(diffMin, 0);
    int64_t firstMultiple = ceilDiv(lo, part.width) * part.width;
    return firstMultiple > diffMax ? BlockKind::Empty : BlockKind::Partial;
  }
  case Kind::FixedLocal: {
    if (diffMax < 0)
      return BlockKind::Empty;
    int64_t rowFirst = i0 / part.width, rowLast = iLast / part.width;
    int64_t colFirst = j0 / part.width, colLast = jLast / part.width;
    if (rowLast < colFirst || colLast < rowFirst)
      return BlockKind::Empty;
    if (rowFirst == rowLast && colFirst == colLast && diffMin >= 0)
      return BlockKind::Full;
    return BlockKind::Partial;
  }
  case Kind::FixedSummary: {
    if (diffMax < 0)
      return BlockKind::Empty;
    int64_t threshold = part.width - part.summary;
    int64_t r = j0 % part.width;
    int64_t firstSummary = r >= threshold ? j0 : j0 + (threshold - r);
    if (firstSummary > jLast)
      return BlockKind::Empty;
    // Every key a summary key (one run of them) and before every query.
    bool allSummary = r >= threshold && j0 + (part.width - 1 - r) >= jLast;
    return allSummary && diffMin >= 0 ? BlockKind::Full : BlockKind::Partial;
  }
  case Kind::GlobalTokens: {
    int64_t rows = 0, cols = 0;
    for (int64_t g : part.global) {
      rows += g >= i0 && g <= iLast ? 1 : 0;
      cols += g >= j0 && g <= jLast ? 1 : 0;
    }
    if (rows == 0 && cols == 0)
      return BlockKind::Empty;
    // Distinct positions: every row (or every key) of the tile is global.
    std::vector<int64_t> distinct(part.global);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()),
                   distinct.end());
    rows = cols = 0;
    for (int64_t g : distinct) {
      rows += g >= i0 && g <= iLast ? 1 : 0;
      cols += g >= j0 && g <= jLast ? 1 : 0;
    }
    return rows == i1 - i0 || cols == j1 - j0 ? BlockKind::Full
                                              : BlockKind::Partial;
  }
  case Kind::BigBird:
  case Kind::BlockSparse: {
    // The part's own blocks the tile covers: all allowed, none, or some.
    int64_t numK = ceilDiv(sk, part.width);
    const std::vector<uint8_t> &table = blockTables[index];
    bool any = false, all = true;
    for (int64_t qb = i0 / part.width; qb <= iLast / part.width; ++qb)
      for (int64_t kb = j0 / part.width; kb <= jLast / part.width; ++kb) {
        bool allowed = table[qb * numK + kb] != 0;
        any |= allowed;
        all &= allowed;
      }
    return all ? BlockKind::Full : any ? BlockKind::Partial : BlockKind::Empty;
  }
  default:
    // Not a mask; the constructor refused it.
    return BlockKind::Partial;
  }
  return BlockKind::Partial;
}

BlockKind AttentionPattern::classifyTile(int64_t i0, int64_t i1, int64_t j0,
                                         int64_t j1) const {
  bool allEmpty = true;
  for (size_t p = 0; p < ps.size(); ++p) {
    BlockKind k = classifyPart(p, i0, i1, j0, j1);
    if (k == BlockKind::Full)
      return BlockKind::Full;
    allEmpty &= k == BlockKind::Empty;
  }
  return allEmpty ? BlockKind::Empty : BlockKind::Partial;
}

BlockMap AttentionPattern::blockMap(int64_t blockQ, int64_t blockK) const {
  if (ps.size() == 1 && ps.front().kind == Kind::Dense)
    return BlockMap::dense(sq, sk, blockQ, blockK);
  if (ps.size() == 1 && ps.front().kind == Kind::Causal)
    return BlockMap::causal(sq, sk, blockQ, blockK);
  return BlockMap::fromTiles(
      sq, sk, blockQ, blockK,
      [this](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
        return classifyTile(i0, i1, j0, j1);
      });
}

int64_t AttentionPattern::allowedPairs() const {
  constexpr int64_t kTile = 64;
  int64_t count = 0;
  for (int64_t i0 = 0; i0 < sq; i0 += kTile) {
    int64_t i1 = std::min(i0 + kTile, sq);
    for (int64_t j0 = 0; j0 < sk; j0 += kTile) {
      int64_t j1 = std::min(j0 + kTile, sk);
      switch (classifyTile(i0, i1, j0, j1)) {
      case BlockKind::Empty:
        break;
      case BlockKind::Full:
        count += (i1 - i0) * (j1 - j0);
        break;
      case BlockKind::Partial:
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j)
            count += allows(i, j) ? 1 : 0;
        break;
      }
    }
  }
  return count;
}

double AttentionPattern::density() const {
  return double(allowedPairs()) / double(sq * sk);
}

std::string AttentionPattern::describe() const {
  std::string text;
  for (const PatternPart &part : ps)
    text += (text.empty() ? "" : " + ") + part.describe();
  return text;
}

} // namespace mlir::xf
