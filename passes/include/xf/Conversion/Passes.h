//===- Passes.h - Conversions out of the xf dialect -------------*- C++ -*-===//
//
// Part of xfc. Declares the conversion passes (Passes.td) and the pattern
// populators behind them.
//
//===----------------------------------------------------------------------===//
#ifndef XF_CONVERSION_PASSES_H
#define XF_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace xf {

#define GEN_PASS_DECL
#include "xf/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "xf/Conversion/Passes.h.inc"

/// Deliberate miscompilations of attention, used only by the mutation
/// tests that prove the end-to-end suites can fail.
enum class AttentionTestFault { None, DropMask, CausalOffByOne, PermuteHeads };

/// Patterns lowering every fine-grained `xf` op to linalg/tensor/arith/math.
void populateXFToLinalgPatterns(
    RewritePatternSet &patterns,
    AttentionTestFault fault = AttentionTestFault::None);

} // namespace xf
} // namespace mlir

#endif // XF_CONVERSION_PASSES_H
