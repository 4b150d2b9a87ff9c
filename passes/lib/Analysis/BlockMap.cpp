//===- BlockMap.cpp - Which (query, key) blocks attention visits ----------===//
//
// Part of xfc. Implements the block map constructors (see BlockMap.h). The
// closed-form constructors classify each tile with a few comparisons; the
// predicate constructor scans the tile's elements, which is what the
// closed forms are unit-tested against.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/BlockMap.h"

#include <algorithm>
#include <cassert>

using namespace mlir::xf;

BlockMap::BlockMap(int64_t sq, int64_t sk, int64_t bq, int64_t bk,
                   BlockPattern pat)
    : sq(sq), sk(sk), bq(bq), bk(bk), pat(pat) {
  assert(sq > 0 && sk > 0 && bq > 0 && bk > 0 && "sizes must be positive");
}

void BlockMap::append(int64_t kb, BlockKind k) {
  if (k == BlockKind::Empty)
    return;
  cols.push_back(kb);
  masks.push_back(k == BlockKind::Partial ? 1 : 0);
}

BlockMap BlockMap::dense(int64_t queryLen, int64_t keyLen, int64_t blockQ,
                         int64_t blockK) {
  BlockMap map(queryLen, keyLen, blockQ, blockK, BlockPattern::Dense);
  for (int64_t qb = 0, nq = map.numQueryBlocks(); qb < nq; ++qb) {
    for (int64_t kb = 0, nk = map.numKeyBlocks(); kb < nk; ++kb) {
      // Only the tail block holds keys past Sk, which must be masked.
      bool tail = (kb + 1) * blockK > keyLen;
      map.append(kb, tail ? BlockKind::Partial : BlockKind::Full);
    }
    map.rows.push_back(static_cast<int64_t>(map.cols.size()));
  }
  return map;
}

BlockMap BlockMap::causal(int64_t queryLen, int64_t keyLen, int64_t blockQ,
                          int64_t blockK) {
  BlockMap map(queryLen, keyLen, blockQ, blockK, BlockPattern::Causal);
  for (int64_t qb = 0, nq = map.numQueryBlocks(); qb < nq; ++qb) {
    int64_t firstRow = qb * blockQ;
    int64_t lastRow = std::min(firstRow + blockQ, queryLen) - 1;
    for (int64_t kb = 0, nk = map.numKeyBlocks(); kb < nk; ++kb) {
      int64_t firstKey = kb * blockK;
      int64_t lastKey = firstKey + blockK - 1; // of the static tile
      if (firstKey > lastRow) {
        // Above the diagonal for every row, and so is every later block.
        break;
      }
      bool full = lastKey <= firstRow && lastKey < keyLen;
      map.append(kb, full ? BlockKind::Full : BlockKind::Partial);
    }
    map.rows.push_back(static_cast<int64_t>(map.cols.size()));
  }
  return map;
}

BlockMap BlockMap::fromPredicate(int64_t queryLen, int64_t keyLen,
                                 int64_t blockQ, int64_t blockK,
                                 const Predicate &allowed) {
  BlockMap map(queryLen, keyLen, blockQ, blockK, BlockPattern::Custom);
  for (int64_t qb = 0, nq = map.numQueryBlocks(); qb < nq; ++qb) {
    int64_t rowEnd = std::min((qb + 1) * blockQ, queryLen);
    for (int64_t kb = 0, nk = map.numKeyBlocks(); kb < nk; ++kb) {
      int64_t keyEnd = std::min((kb + 1) * blockK, keyLen);
      int64_t count = 0;
      for (int64_t i = qb * blockQ; i < rowEnd; ++i)
        for (int64_t j = kb * blockK; j < keyEnd; ++j)
          count += allowed(i, j) ? 1 : 0;
      int64_t existing = (rowEnd - qb * blockQ) * (keyEnd - kb * blockK);
      // A tile with keys past Sk is never full: those keys need the mask.
      bool complete = keyEnd == (kb + 1) * blockK;
      BlockKind k = count == 0                        ? BlockKind::Empty
                    : (count == existing && complete) ? BlockKind::Full
                                                      : BlockKind::Partial;
      map.append(kb, k);
    }
    map.rows.push_back(static_cast<int64_t>(map.cols.size()));
  }
  return map;
}

BlockMap BlockMap::fromTiles(int64_t queryLen, int64_t keyLen, int64_t blockQ,
                             int64_t blockK, const TileClassifier &classify) {
  BlockMap map(queryLen, keyLen, blockQ, blockK, BlockPattern::Custom);
  for (int64_t qb = 0, nq = map.numQueryBlocks(); qb < nq; ++qb) {
    int64_t rowEnd = std::min((qb + 1) * blockQ, queryLen);
    for (int64_t kb = 0, nk = map.numKeyBlocks(); kb < nk; ++kb) {
      int64_t keyEnd = std::min((kb + 1) * blockK, keyLen);
      BlockKind k = classify(qb * blockQ, rowEnd, kb * blockK, keyEnd);
      // A tile with keys past Sk is never full: those keys need the mask.
      if (k == BlockKind::Full && keyEnd != (kb + 1) * blockK)
        k = BlockKind::Partial;
      map.append(kb, k);
    }
    map.rows.push_back(static_cast<int64_t>(map.cols.size()));
  }
  return map;
}

std::string BlockMap::patternName() const {
  switch (pat) {
  case BlockPattern::Dense:
    return "dense";
  case BlockPattern::Causal:
    return "causal";
  case BlockPattern::Custom:
    return "custom";
  }
  return "custom";
}

int64_t BlockMap::numMasked() const {
  return std::count(masks.begin(), masks.end(), uint8_t(1));
}

BlockKind BlockMap::kind(int64_t qb, int64_t kb) const {
  assert(qb >= 0 && qb < numQueryBlocks() && kb >= 0 && kb < numKeyBlocks());
  auto begin = cols.begin() + rows[qb], end = cols.begin() + rows[qb + 1];
  auto it = std::lower_bound(begin, end, kb);
  if (it == end || *it != kb)
    return BlockKind::Empty;
  return masks[it - cols.begin()] ? BlockKind::Partial : BlockKind::Full;
}
