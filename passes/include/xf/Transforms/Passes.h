//===- Passes.h - Transformations of the xf dialect -------------*- C++ -*-===//
//
// Part of xfc. Declares the `xf` transformation passes (Passes.td).
//
//===----------------------------------------------------------------------===//
#ifndef XF_TRANSFORMS_PASSES_H
#define XF_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace func {
class FuncOp;
} // namespace func
namespace xf {

#define GEN_PASS_DECL
#include "xf/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "xf/Transforms/Passes.h.inc"

} // namespace xf
} // namespace mlir

#endif // XF_TRANSFORMS_PASSES_H
