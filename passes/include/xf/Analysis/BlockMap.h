//===- BlockMap.h - Which (query, key) blocks attention visits --*- C++ -*-===//
//
// Part of xfc. The block map of the fused attention kernel: the L x L score
// matrix is cut into Bq x Bk tiles, and for each query block the map lists
// the key blocks the kernel visits and whether each needs an in-block mask.
// Dense attention visits every block unmasked; causal attention skips every
// block above the diagonal and masks the blocks that the diagonal crosses.
// Sparse patterns (sliding window, BigBird, explicit block layouts) are
// further constructors: the code generator only reads the table.
//
// The map is target-neutral (no MLIR): the CPU lowering reads it, the GPU
// backend and the `--explain` tooling can read the same table.
//
//===----------------------------------------------------------------------===//
#ifndef XF_ANALYSIS_BLOCKMAP_H
#define XF_ANALYSIS_BLOCKMAP_H

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mlir::xf {

/// How much of a Bq x Bk tile attention may use.
enum class BlockKind : uint8_t {
  /// No (query, key) pair of the tile is allowed: the block is skipped.
  Empty,
  /// Some pairs are not allowed: the kernel applies an in-block -inf mask.
  Partial,
  /// Every pair is allowed: the kernel visits the block without a mask.
  Full,
};

/// The static mask pattern a map was built from. Patterns with a closed form
/// (dense, causal) let a code generator emit loop bounds and mask conditions
/// as arithmetic instead of reading the table at run time.
enum class BlockPattern : uint8_t { Dense, Causal, Custom };

/// The block map of one attention problem, as a CSR table: query block `qb`
/// visits the key blocks `columns()[rowPointers()[qb] .. rowPointers()[qb+1])`
/// in ascending order, and entry `e` needs an in-block mask when
/// `needsMask()[e]` is set. Empty blocks have no entry.
///
/// Tiles are static: query block `qb` is rows `[qb Bq, qb Bq + Bq)` and key
/// block `kb` is keys `[kb Bk, kb Bk + Bk)`. Keys at or past `Sk` do not
/// exist, so a tail key block (when `Sk % Bk != 0`) is always partial; rows
/// at or past `Sq` do not exist and are ignored (their results are never
/// written). Key padding (`key_lengths`) is dynamic and not part of the map:
/// code generators bound the key loop and add the padding mask at run time.
class BlockMap {
public:
  /// `allowed(i, j)`: may query `i` attend to key `j` (0 <= i < Sq,
  /// 0 <= j < Sk)?
  using Predicate = std::function<bool(int64_t i, int64_t j)>;

  /// Every key for every query.
  static BlockMap dense(int64_t queryLen, int64_t keyLen, int64_t blockQ,
                        int64_t blockK);
  /// Query `i` sees keys `j <= i` (top-left aligned when Sq != Sk, as
  /// xf.attention defines causal).
  static BlockMap causal(int64_t queryLen, int64_t keyLen, int64_t blockQ,
                         int64_t blockK);
  /// Any static element mask, classified tile by tile (O(Sq Sk) calls of
  /// `allowed` at compile time). New mask patterns can start here and get a
  /// closed-form constructor when the scan gets too slow.
  static BlockMap fromPredicate(int64_t queryLen, int64_t keyLen,
                                int64_t blockQ, int64_t blockK,
                                const Predicate &allowed);

  /// Any static mask, classified tile by tile by `classify(i0, i1, j0, j1)`
  /// on the tile's existing rows [i0, i1) and keys [j0, j1): it may answer
  /// Partial for a tile that is in fact empty or full (visiting or masking
  /// more than needed), never Empty or Full wrongly. O(tiles) calls.
  using TileClassifier =
      std::function<BlockKind(int64_t i0, int64_t i1, int64_t j0, int64_t j1)>;
  static BlockMap fromTiles(int64_t queryLen, int64_t keyLen, int64_t blockQ,
                            int64_t blockK, const TileClassifier &classify);

  int64_t queryLen() const { return sq; }
  int64_t keyLen() const { return sk; }
  int64_t blockQ() const { return bq; }
  int64_t blockK() const { return bk; }
  BlockPattern pattern() const { return pat; }
  /// "dense", "causal" or "custom".
  std::string patternName() const;

  /// ceil(Sq / Bq) and ceil(Sk / Bk).
  int64_t numQueryBlocks() const { return (sq + bq - 1) / bq; }
  int64_t numKeyBlocks() const { return (sk + bk - 1) / bk; }
  /// Visited (non-empty) blocks, over all query blocks.
  int64_t numVisited() const { return static_cast<int64_t>(cols.size()); }
  /// Visited blocks that need an in-block mask.
  int64_t numMasked() const;

  /// CSR storage: numQueryBlocks() + 1 row pointers.
  const std::vector<int64_t> &rowPointers() const { return rows; }
  /// Key-block index of each visited block, ascending within a row.
  const std::vector<int64_t> &columns() const { return cols; }
  /// One flag per visited block: 1 when it needs an in-block mask.
  const std::vector<uint8_t> &needsMask() const { return masks; }

  /// The kind of tile (qb, kb), for any qb < numQueryBlocks(),
  /// kb < numKeyBlocks().
  BlockKind kind(int64_t qb, int64_t kb) const;
  /// Key blocks visited by query block `qb`: the row's entry count.
  int64_t numVisited(int64_t qb) const { return rows[qb + 1] - rows[qb]; }

private:
  BlockMap(int64_t sq, int64_t sk, int64_t bq, int64_t bk, BlockPattern pat);
  /// Appends the classification of tile (qb, kb) to the table.
  void append(int64_t kb, BlockKind k);

  int64_t sq, sk, bq, bk;
  BlockPattern pat;
  std::vector<int64_t> rows{0};
  std::vector<int64_t> cols;
  std::vector<uint8_t> masks;
};

} // namespace mlir::xf

#endif // XF_ANALYSIS_BLOCKMAP_H
