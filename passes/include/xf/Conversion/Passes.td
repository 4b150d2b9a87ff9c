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
    `linalg` named and generic ops on tensors. An `xf.attention` marked by
    `xf-fuse-attention` (attribute `xf.attention_kernel`) becomes the fused
    kernel: an `scf.forall` over (batch, head, query block) whose body runs
    an online softmax in an `scf.for` over the visited key blocks, on
    static tiles, never materializing the scores. Unmarked attention is
    lowered unfused: scores `[B, H, Sq, Sk]`, the mask applied as -inf, a
    numerically stable softmax that yields 0 for fully masked rows, then
    the weighted sum of values.
  }];
  let options = [
    Option<"testFault", "test-fault", "std::string", /*default=*/"\"\"",
           "Test only: lower attention WRONGLY to prove the end-to-end tests "
           "catch it: drop-mask, causal-off-by-one or permute-heads">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    // The state buffer of linear attention (LinearAttention.cpp).
    "::mlir::bufferization::BufferizationDialect"
  ];
}

//===----------------------------------------------------------------------===//
// Entry point
//===----------------------------------------------------------------------===//

def XFExportSignature : Pass<"xf-export-signature", "::mlir::ModuleOp"> {
  let summary = "Export the model function's argument sizes as a constant";
  let description = [{
    Runs on memrefs, before lowering to LLVM, while the argument types are
    still known. Adds the public constant
    `xfc_signature = [N, bytes_0, ..., bytes_(N-1)]` (i64): the number of
    pointers the entry point reads and the byte size of each tensor. The
    runtime compares it with the manifest before the first call, so an
    artifact whose manifest does not match its library is refused instead
    of reading or writing out of bounds.
  }];
  let options = [
    Option<"modelFunction", "model-function", "std::string",
           /*default=*/"\"xf_model\"", "Name of the model function">
  ];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

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
