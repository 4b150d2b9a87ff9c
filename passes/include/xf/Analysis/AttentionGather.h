//===- AttentionGather.h - Dense tiles for strided patterns -----*- C++ -*-===//
//
// Part of xfc. Some mask patterns are sparse inside every tile: the dilated
// sliding window (d > 1) lets a query see one key in d, the Sparse
// Transformer's strided summary set A2 one key in l. A block map over the
// original positions visits every tile that holds a few allowed keys and
// masks the rest, so the kernel computes d (or up to Bk) times the work the
// pattern needs. Both patterns only pair positions of the same residue
// class: query i and key j meet only when i = j (mod C). Inside one class
// r, with compressed indices i' = (i - r) / C, the part is a plain pattern
// again (a sliding window of width w, or causal), whose tiles are dense.
// The fused kernel then runs per class on strided views of Q, K and V.
//
// The fixed pattern's summary set A2 (j mod l >= l - c) allows the same key
// columns to every query, c of every l. It is gathered by key only: the
// summary keys are copied once into a compact K and V (position order), the
// queries stay contiguous, and the condition j <= i is applied on original
// positions, which grow with the compact index, so the compact map is a
// staircase of dense tiles.
//
// A part of a union (strided_local + strided_summary, a dilated window with
// global tokens) is gathered with the pairs of the other parts excluded, so
// no pair is counted twice; the other parts ("the rest") run directly over
// the original positions and continue the gathered part's online-softmax
// state. docs/attention-patterns.md ("Gathered parts") describes it.
//
// Plain C++ (no MLIR), like AttentionPattern: the pass that chooses the
// kernel, the lowering and the unit tests read the same plan.
//
//===----------------------------------------------------------------------===//
#ifndef XF_ANALYSIS_ATTENTIONGATHER_H
#define XF_ANALYSIS_ATTENTIONGATHER_H

#include "xf/Analysis/AttentionPattern.h"
#include "xf/Analysis/BlockMap.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::xf {

/// How one head group's pattern is split between a gathered part, computed
/// per residue class, and the rest, computed over the original positions.
struct GatherPlan {
  /// Residue: query and key classes (dilated window, strided A2).
  /// SummaryKeys: the fixed A2's summary keys, compacted.
  enum class Kind { Residue, SummaryKeys };
  Kind kind = Kind::Residue;
  /// The gathered part's index in the group's parts.
  size_t part = 0;
  /// C: the number of residue classes (the dilation d, or the stride l).
  int64_t classes = 1;
  /// SummaryKeys: the fixed A2's l and c (the keys j with j mod l >= l - c).
  int64_t period = 0, summaryWidth = 0;
  /// The gathered part inside one class, in compressed indices:
  /// sliding_window(w) for a dilated window, causal for strided A2.
  PatternPart inClass;
  /// The other parts of the union, in their order (may be empty).
  std::vector<PatternPart> rest;

  /// "residue(classes = C)" or "summary_keys(l = L, c = C)", the
  /// strategy's name in the xf.attention_kernel dictionary.
  std::string describe() const;

  /// SummaryKeys: how many summary keys lie in [0, seqLen).
  int64_t summaryKeyCount(int64_t seqLen) const;
  /// SummaryKeys: the original position of compact key y: (y / c) l +
  /// l - c + y mod c.
  int64_t summaryKeyPosition(int64_t y) const {
    return (y / summaryWidth) * period + period - summaryWidth +
           y % summaryWidth;
  }
};

/// A run of residue classes [first, first + count) of the same length:
/// class r holds positions r, r + C, ..., ceil((S - r) / C) of them, so
/// the classes below S mod C are one longer than the others.
struct ClassGroup {
  int64_t first = 0, count = 0, length = 0;
};

/// The gathered form of `parts` for a Sq x Sk problem, or std::nullopt when
/// no part can be gathered: the first dilated window with d > 1, strided
/// summary set with l > 1, or fixed summary set with c < l and at least one
/// summary key, of a self-attention problem (Sq == Sk). Says nothing about
/// whether gathering pays (gatherPays).
std::optional<GatherPlan> planGather(const std::vector<PatternPart> &parts,
                                     int64_t queryLen, int64_t keyLen);

/// The non-empty class groups of `plan` for sequence length `seqLen`, the
/// longer classes first.
std::vector<ClassGroup> classGroups(const GatherPlan &plan, int64_t seqLen);

/// The tile sizes of a class group: the kernel's, clamped to its length.
inline int64_t gatheredBlock(int64_t block, const ClassGroup &group) {
  return block < group.length ? block : group.length;
}

/// The block map of class group `group`, shared by its classes, in
/// compressed indices at Bq x Bk tiles (gatheredBlock). A tile is Empty or
/// Full only when it is so for every class of the group, after excluding
/// the pairs `rest` allows (null when there is no rest): rest is classified
/// on the original positions the tile's rows and keys span over the whole
/// group, so a tile near a pair of the rest is Partial and masked.
BlockMap gatheredBlockMap(const GatherPlan &plan, const AttentionPattern *rest,
                          const ClassGroup &group, int64_t blockQ,
                          int64_t blockK);

/// The block map of a SummaryKeys plan: Sq rows x summaryKeyCount(Sk)
/// compact keys at Bq x Bk tiles (Bk clamped to the key count). A tile is
/// classified by the original positions of its first and last key (j <= i
/// on positions that grow with the compact index), then, as in
/// gatheredBlockMap, against `rest` over the positions its keys span.
BlockMap summaryBlockMap(const GatherPlan &plan, const AttentionPattern *rest,
                         int64_t seqLen, int64_t blockQ, int64_t blockK);

/// What one head group's kernel executes per (batch item, head), over all
/// its phases: visited tiles, masked tiles, and the (query, key) pairs of
/// the visited tiles (each at its full Bq x Bk area), so the statistics of
/// a gathered kernel are comparable with those of a direct one.
struct KernelWork {
  int64_t visited = 0, masked = 0, gathered = 0, pairs = 0;
};

/// The work of computing `pattern` directly, at Bq x Bk tiles.
KernelWork directWork(const AttentionPattern &pattern, int64_t blockQ,
                      int64_t blockK);
/// The work of computing `pattern` with `plan`: the gathered part per class
/// group plus the rest directly.
KernelWork gatheredWork(const AttentionPattern &pattern,
                        const GatherPlan &plan, int64_t blockQ,
                        int64_t blockK);

/// Does gathering execute fewer pairs than the direct kernel? Per-class
/// tiles are smaller and more numerous, so it must save at least a quarter
/// of the pairs to be chosen.
bool gatherPays(const AttentionPattern &pattern, const GatherPlan &plan,
                int64_t blockQ, int64_t blockK);

} // namespace mlir::xf

#endif // XF_ANALYSIS_ATTENTIONGATHER_H
