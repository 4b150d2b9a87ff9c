//===- AttentionPattern.h - Which keys each query may attend to -*- C++ -*-===//
//
// Part of xfc. The mask patterns of the efficient-attention family, exactly
// as docs/attention-patterns.md defines them (after Longformer, BigBird and
// the Sparse Transformer): an element predicate `allows(i, j)` that the
// reference implementation, the verifier and the tests share, and the
// block map the fused attention kernel is driven by. A pattern is a union
// of parts (Longformer = sliding window + global tokens; a Sparse
// Transformer head that uses both of its sets = strided A1 + A2).
//
// Plain C++ (no MLIR), like BlockMap: the CPU and GPU code generators and
// the `--explain` tooling read the same maps.
//
//===----------------------------------------------------------------------===//
#ifndef XF_ANALYSIS_ATTENTIONPATTERN_H
#define XF_ANALYSIS_ATTENTIONPATTERN_H

#include "xf/Analysis/BlockMap.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::xf {

/// One mask pattern. Queries i and keys j are 0-based positions.
struct PatternPart {
  enum class Kind : uint8_t {
    /// Every key.
    Dense,
    /// j <= i.
    Causal,
    /// Symmetric: |i - j| <= w/2 (w even); causal: 0 <= i - j <= w.
    SlidingWindow,
    /// |i - j| <= (w/2) d and (i - j) mod d = 0 (symmetric only).
    DilatedSlidingWindow,
    /// Listed positions attend to every key and every query attends to
    /// them.
    GlobalTokens,
    /// BigBird: blocks of b; query block I sees its window blocks
    /// (|I - J| <= windowBlocks / 2), the global blocks (which also see
    /// every block) and `randomBlocks` seeded random other blocks.
    BigBird,
    /// Sparse Transformer, strided A1: i - l <= j <= i.
    StridedLocal,
    /// Sparse Transformer, strided A2: j <= i and (i - j) mod l = 0.
    StridedSummary,
    /// Sparse Transformer, fixed A1: floor(j/l) = floor(i/l), j <= i.
    FixedLocal,
    /// Sparse Transformer, fixed A2: j mod l >= l - c, j <= i.
    FixedSummary,
    /// An explicit ceil(Sq/b) x ceil(Sk/b) block matrix, row-major.
    BlockSparse,

    // The families that are not masks: they compute a different function
    // than softmax attention, so each is the whole pattern of its op (no
    // union, no head groups) and has its own lowering and reference.

    /// Kernelized linear attention, phi(x) = elu(x) + 1 (Katharopoulos et
    /// al.); `causal` uses prefix sums of phi(k) v^T.
    Linear,
    /// Performer FAVOR+: `features` positive orthogonal random features
    /// drawn from `seed`; `causal` as in Linear.
    Performer,
    /// Linformer: keys and values projected to `projection` rows by E and
    /// F (k x Sk), shared as `sharing` says. Not causal.
    Linformer,
    /// Reformer LSH attention: `hashes` rounds of `buckets` buckets,
    /// chunks of `chunk` sorted positions, queries as keys, `seed`.
    Lsh,
  };
  /// Linformer: which projections are shared (docs/attention-patterns.md).
  enum class Sharing : uint8_t {
    /// E and F per head.
    None,
    /// One E and one F for every head of a layer.
    Headwise,
    /// One matrix, E = F, for every head of a layer.
    KeyValue,
    /// One matrix, E = F, for every head of every layer.
    Layerwise,
  };
  Kind kind = Kind::Dense;
  /// Window width w (sliding windows); stride or block length l (Sparse
  /// Transformer); block size b (BigBird, block-sparse).
  int64_t width = 0;
  /// Sliding window: the causal form.
  bool causal = false;
  /// Dilation d; summary width c (fixed A2).
  int64_t dilation = 1, summary = 0;
  /// Global positions (GlobalTokens) or global block indices (BigBird).
  std::vector<int64_t> global;
  /// BigBird: window blocks (odd: 3 means I-1, I, I+1) and random blocks
  /// per block row, drawn with `seed`.
  int64_t windowBlocks = 3, randomBlocks = 0;
  uint64_t seed = 0;
  /// BlockSparse: the layout, and its number of block columns.
  std::vector<uint8_t> layout;
  int64_t layoutColumns = 0;
  /// Performer: random features m. Linformer: projection length k.
  int64_t features = 0, projection = 0;
  Sharing sharing = Sharing::Headwise;
  /// LSH: buckets per round (even), rounds, chunk length.
  int64_t buckets = 0, hashes = 1, chunk = 0;

  /// The part in the text syntax (docs/attention-patterns.md), e.g.
  /// "sliding_window(w = 8, causal)"; parsePatternText reads it back.
  std::string describe() const;
  /// Does the part allow only keys at or before the query (j <= i), so it
  /// may stand in for a causal mask?
  bool isCausal() const;
  /// Is the part a mask over softmax attention (exact), as opposed to one
  /// of the families that compute something else (Linear and after)?
  bool isMask() const { return kind < Kind::Linear; }
  /// The kind's name in the text syntax, e.g. "sliding_window".
  const char *name() const;
};


/// The size-independent rules of a part (an even window, a positive stride,
/// a rectangular layout, ...): why it is malformed, or "".
std::string checkPatternPart(const PatternPart &part);

/// A pattern per head group: G groups split the heads evenly, group g
/// covering heads [g H/G, (g+1) H/G); each group is a union of parts.
using PatternGroups = std::vector<std::vector<PatternPart>>;

/// The one part of a pattern that is not a mask, or null when every part
/// is a mask (the parser allows such a part only as the whole pattern).
const PatternPart *approximationOf(const PatternGroups &groups);

/// For --explain: how a non-mask family changes what attention computes,
/// one sentence (e.g. "linear attention replaces softmax(q k^T) by
/// phi(q) phi(k)^T with phi = elu + 1").
std::string numericsNote(const PatternPart &part);

/// Work of a non-mask family for one attention of `batch` x `heads` heads
/// of `headDim`, Sq queries by Sk keys, in floating-point operations (the
/// count the fused-attention statistics use: 2 per multiply-add).
int64_t approximationFlops(const PatternPart &part, int64_t batch,
                           int64_t heads, int64_t sq, int64_t sk,
                           int64_t headDim);

/// Work of one xf.linformer_projection: `batch` items of n rows of
/// `channels` (H*D) columns projected to k rows (a multiply-add per k x n x
/// channels), plus, with key lengths, one select per input element that
/// zeroes the padding.
int64_t linformerProjectionFlops(int64_t batch, int64_t n, int64_t k,
                                 int64_t channels, bool keyLengths);

/// Parses the text syntax of docs/attention-patterns.md:
///   pattern := group ('|' group)*,  group := part ('+' part)*,
///   part := kind ['(' arg (',' arg)* ')'].
/// Returns false with `error` naming the column, what was expected and what
/// was found; a parsed part also passes checkPatternPart.
bool parsePatternText(const std::string &text, PatternGroups &groups,
                      std::string &error);

/// The canonical text of `groups` (parsePatternText(print(g)) == g).
std::string printPatternText(const PatternGroups &groups);

/// A union of parts for one problem size, Sq queries by Sk keys: query i
/// may attend to key j if any part allows it. BigBird's random blocks are
/// drawn once, when the pattern is made, from the seed alone: the same spec
/// gives the same blocks on every machine.
class AttentionPattern {
public:
  AttentionPattern(std::vector<PatternPart> parts, int64_t queryLen,
                   int64_t keyLen);

  /// Why the pattern is malformed for this size (an odd window, a zero
  /// stride, a global position out of range, a layout of the wrong size,
  /// more random blocks than there are candidates, ...), or "".
  const std::string &error() const { return err; }

  /// May query i attend to key j? (0 <= i < Sq, 0 <= j < Sk, error()
  /// empty.)
  bool allows(int64_t i, int64_t j) const;

  /// The block map of the fused kernel for Bq x Bk tiles. Dense and
  /// causal alone use their closed forms; other patterns classify each
  /// tile from each part's closed form (classifyTile), in O(tiles), so a
  /// 16K x 16K pattern maps in milliseconds.
  BlockMap blockMap(int64_t blockQ, int64_t blockK) const;

  /// Rows [i0, i1) x keys [j0, j1): Empty or Full only when every pair is
  /// refused or allowed (the union: Full if a part is full, Empty if every
  /// part is empty), Partial otherwise, including where a part's closed
  /// form cannot tell (e.g. a dilated window's tiles near its reach).
  BlockKind classifyTile(int64_t i0, int64_t i1, int64_t j0, int64_t j1) const;

  /// The number of allowed (query, key) pairs: full tiles by their area,
  /// partial tiles element by element.
  int64_t allowedPairs() const;
  /// allowedPairs() / (Sq * Sk).
  double density() const;

  /// BigBird part `part`'s random key blocks of query block `qb`.
  const std::vector<int64_t> &randomBlocks(size_t part, int64_t qb) const {
    return random[part][qb];
  }

  /// BigBird or BlockSparse part `part`'s block matrix at its own block
  /// size b: ceil(Sq/b) x ceil(Sk/b) entries, row-major, 1 where allowed.
  const std::vector<uint8_t> &blockTable(size_t part) const {
    return blockTables[part];
  }

  const std::vector<PatternPart> &parts() const { return ps; }
  int64_t queryLen() const { return sq; }
  int64_t keyLen() const { return sk; }
  /// The parts' names joined with " + ".
  std::string describe() const;

private:
  std::string check(const PatternPart &part) const;
  bool partAllows(size_t index, int64_t i, int64_t j) const;
  BlockKind classifyPart(size_t index, int64_t i0, int64_t i1, int64_t j0,
                         int64_t j1) const;

  std::vector<PatternPart> ps;
  int64_t sq, sk;
  std::string err;
  /// Per part (empty unless BigBird), per query block: random key blocks.
  std::vector<std::vector<std::vector<int64_t>>> random;
  /// Per part (empty unless BigBird or BlockSparse): the block matrix at
  /// the part's own block size, ceil(Sq/b) x ceil(Sk/b), row-major.
  std::vector<std::vector<uint8_t>> blockTables;
};

} // namespace mlir::xf

#endif // XF_ANALYSIS_ATTENTIONPATTERN_H
