//===- Passes.td - Conversions out of the xf dialect --------*- tablegen -*-===//
//
// Part of xfc. Passes that lower `xf` to upstream dialects, and the final
// touches on the LLVM dialect module.
//
//===----------------------------------------------------------------------===//
#ifndef XF_CONVERSION_PASSES_TD
#define XF_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// XFToLinalg
//===----------------------------------------------------------------------===//

def ConvertXFToLinalg : Pass<"convert-xf-to-linalg"> {
  let summary = "Lower xf ops to linalg, tensor, arith and math on tensors";
  let description = [{
    Lowers the fine-grained `xf` ops (run `xf-decompose-model-ops` first) to
    `linalg` named and generic ops on tensors. Attention is lowered
    unfused: scores `[B, H, Sq, Sk]`, the mask applied as -inf, a
    numerically stable softmax that yields 0 for fully masked rows, then
    the weighted sum of values. The fused flash-style kernel replaces this
    later in the pipeline.
  }];
  let options = [
    Option<"testFault", "test-fault", "std::string", /*default=*/"\"\"",
           "Test only: lower attention WRONGLY to prove the end-to-end tests "
           "catch it: drop-mask, causal-off-by-one or permute-heads">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect"
  ];
}

//===----------------------------------------------------------------------===//
// Entry point
//===----------------------------------------------------------------------===//

def XFEmitEntryPoint : Pass<"xf-emit-entry-point", "::mlir::ModuleOp"> {
  let summary = "Add the artifact's entry point `void xfc_entry(void **args)`";
  let description = [{
    Runs on the LLVM dialect, after `func` lowered to `llvm` with the bare
    pointer calling convention. Emits a function that loads one pointer per
    argument of the model function from the array it receives and calls it,
    so the runtime can call any model through one fixed signature
    (docs/artifact.md).
  }];
  let options = [
    Option<"modelFunction", "model-function", "std::string",
           /*default=*/"\"xf_model\"", "Name of the function to wrap">,
    Option<"entryName", "entry-name", "std::string",
           /*default=*/"\"xfc_entry\"", "Name of the emitted entry point">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // XF_CONVERSION_PASSES_TD
