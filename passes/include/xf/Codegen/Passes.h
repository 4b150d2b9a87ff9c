//===- Passes.h - Target code generation passes -----------------*- C++ -*-===//
//
// Part of xfc. Declares the code generation passes (Passes.td).
//
//===----------------------------------------------------------------------===//
#ifndef XF_CODEGEN_PASSES_H
#define XF_CODEGEN_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace xf {

#define GEN_PASS_DECL
#include "xf/Codegen/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "xf/Codegen/Passes.h.inc"

} // namespace xf
} // namespace mlir

#endif // XF_CODEGEN_PASSES_H
