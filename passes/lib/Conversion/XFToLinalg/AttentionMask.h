//===- AttentionMask.h - Pattern masks as generated code --------*- C++ -*-===//
//
// Part of xfc. Private to convert-xf-to-linalg: the element predicate of an
// attention pattern (xf/Analysis/AttentionPattern.h) as arith ops, shared
// by the fused kernel's in-block mask and the unfused lowering's score
// mask, so both compute exactly the definitions of
// docs/attention-patterns.md.
//
//===----------------------------------------------------------------------===//
#ifndef XF_CONVERSION_XFTOLINALG_ATTENTIONMASK_H
#define XF_CONVERSION_XFTOLINALG_ATTENTIONMASK_H

#include "xf/Analysis/AttentionPattern.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

#include <vector>

namespace mlir::xf {

/// One head group's pattern, ready to be evaluated in generated code. The
/// constructor emits the lookup tables some parts need (BigBird's and the
/// block-sparse block matrices, long global-token lists) as constants at
/// the builder's position, which must dominate every later `allows` call.
class PatternMask {
public:
  PatternMask(OpBuilder &b, Location loc, const AttentionPattern &pattern);

  /// i1: may query `i` attend to key `j` (index values)? Emitted at `b`'s
  /// position, e.g. inside a linalg.generic body.
  Value allows(OpBuilder &b, Location loc, Value i, Value j) const;

private:
  /// The table a part reads, or null where it is pure arithmetic.
  std::vector<Value> tables;
  const AttentionPattern &pattern;
};

} // namespace mlir::xf

#endif // XF_CONVERSION_XFTOLINALG_ATTENTIONMASK_H
