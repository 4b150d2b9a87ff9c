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

def XFGpuLaunchToRuntime : Pass<"xf-gpu-launch-to-runtime",
                                 "::mlir::ModuleOp"> {
  let summary = "Kernel launches become calls into the xfc runtime";
  let description = [{
    MLIR's own host lowering of the gpu dialect (`gpu-to-llvm` and the
    `gpu.binary` translation) loads every module in a global constructor
    when the library is opened, creates and destroys a stream around each
    launch and drops the driver's errors. xfc's runtime owns the modules
    (loaded when a model is opened, after checking the chip and the PTX
    ISA against the driver) and one stream per run context, so the host
    code only asks it to launch:

    - every `gpu.launch_func` becomes a call through the launch function
      of the run context, the function argument marked `xf.gpu_run`
      (`!llvm.ptr` to `struct xfc_gpu_run`, whose first field is
      `int32_t (*launch)(xfc_gpu_run *run, int32_t kernel, int64_t
      grid_x, grid_y, grid_z, block_x, block_y, block_z, int32_t
      shared_bytes, void **params)`): `kernel` is the index of the kernel
      in the module attribute `xf.gpu_kernels` (the kernels' symbols in
      order of first launch, which the manifest lists for the runtime to
      resolve), `params` the array of pointers to each argument's value
      (`cuLaunchKernel`'s form), in which a memref is its aligned base
      pointer (kernels take memrefs as bare pointers). The call returns
      0 or the status of the failed launch; the runtime keeps the first
      failure and skips the launches after it, so the schedule runs to
      its end and the run reports that failure;
    - the device code (`gpu.module`, `gpu.binary`) leaves the host module:
      the artifact carries it (PTX, cubin) apart, and nothing remains to
      become a global constructor.

    Launches with async dependencies, clusters or non-static memrefs are
    refused with an error naming the launch.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif // XF_CONVERSION_PASSES_TD
