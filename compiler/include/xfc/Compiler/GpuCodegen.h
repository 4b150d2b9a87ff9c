//===- GpuCodegen.h - gpu.module to PTX, and PTX to ptxas --------*- C++ -*-===//
//
// Part of xfc. The device half of code generation for NVIDIA GPUs: every
// gpu.module of a module is lowered to the NVVM dialect and translated to
// PTX in process by LLVM's NVPTX backend (no nvcc, NVRTC or Triton), and,
// when the CUDA toolkit's ptxas is found, assembled for the chosen chip so
// a PTX error surfaces at compile time rather than when the driver loads
// it.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_COMPILER_GPUCODEGEN_H
#define XFC_COMPILER_GPUCODEGEN_H

#include "xfc/Compiler/GpuKernels.h"

#include <string>
#include <vector>

namespace mlir {
class DialectRegistry;
class ModuleOp;
} // namespace mlir

namespace xfc {

/// The GPU the device code is generated for.
struct GpuTarget {
  std::string chip;        ///< e.g. "sm_90", "sm_90a", "sm_80".
  std::string ptxFeatures; ///< LLVM NVPTX features, e.g. "+ptx80".
  int ptxVersion = 0;      ///< The PTX ISA version times ten, e.g. 80.
};

/// The target for `gpuArch` ("sm_80", "sm_90" or "sm_90a"); false with
/// `error` for any other.
bool selectGpuTarget(const std::string &gpuArch, GpuTarget &out,
                     std::string &error);

/// What the device code generation adds to a dialect registry: the NVVM
/// target's serialization and the NVVM and GPU dialects' translations.
void registerGpuCodegen(mlir::DialectRegistry &registry);

/// One gpu.module as PTX text.
struct PtxModule {
  std::string name; ///< The gpu.module's symbol.
  std::string ptx;
};

/// Lowers every gpu.module of `module` to PTX for `target` (its ops to
/// NVVM, then LLVM's NVPTX backend at O3) and appends them to `out`. The
/// gpu.modules become gpu.binary ops holding the PTX. False with `error`
/// (the diagnostics) when a step fails.
bool emitPtx(mlir::ModuleOp module, const GpuTarget &target,
             std::vector<PtxModule> &out, std::string &error);

/// The first half of mapModelToGpu: bufferization with identity layouts,
/// the result as an out-parameter, and xf-plan-memory's arena (an
/// argument of the model function the runtime allocates on the device).
bool bufferizeModelForGpu(mlir::ModuleOp module, std::string &error);
/// The second half: whole-buffer copies as linalg.copy, linalg ops as
/// parallel loops, each outermost loop a kernel (parallel loops nested in
/// it sequential in the thread; its innermost dimension in blocks of up to
/// 128 threads, the other dimensions the grid), the host code's views
/// moved into the kernels, outlined, and all kernels gathered in one
/// gpu.module. Refuses to leave host code that touches device memory.
bool mapLoopsToGpu(mlir::ModuleOp module, std::string &error);
/// The kernels of the fusion plan that a tuned device kernel computes
/// (GpuKernels.h: GEMMs with their epilogue, N a multiple of 64 and K of
/// 16 (f32) or 32 (f16, bf16); residual + LayerNorm), taken out of the
/// generic mapping (GpuKernelPlan.cpp). After the model stage,
/// outlineTunedKernels moves each such xf op into a private function of
/// its own, called where it was; with `dtype` f16 or bf16, a weight that
/// only such GEMMs read becomes an argument of that type (the artifact
/// stores it so) and those GEMMs run on tensor cores, and attention (self-
/// or cross-, with a mask pattern per head group at most) runs on the
/// flash attention kernel; with `halfQkv`, the GEMMs whose output only
/// that kernel reads write it in the half type, with `halfFfn` those
/// whose output only other half GEMMs read (as A), and with `halfNorm`
/// the LayerNorms whose output only half GEMMs read (as A). After
/// bufferizeModelForGpu, launchTunedKernels turns
/// each call into a launch of the tuned kernel and drops the functions,
/// listing in `described` the fusion plan's kernel number and a line on
/// the device kernel that computes it (describeGpuKernel). With
/// `allowTf32`, the f32 GEMMs whose K is a multiple of 32 run on tensor
/// cores in TF32. With `warpgroupMma` (sm_90a), the f16 and bf16 GEMMs
/// whose N is a multiple of 128 and K of 64 run on warpgroup MMA
/// (preferredWgmmaTile). `attentionQueryTile` is the flash attention
/// kernels' query rows a block (GpuAttentionSpec::queryTile): 64 or 128,
/// or 0 for preferredAttentionQueryTile's choice; a block-sparse layout
/// keeps 64.
bool outlineTunedKernels(mlir::ModuleOp module, GpuGemmInput dtype,
                         bool halfQkv, bool halfFfn, bool halfNorm,
                         bool allowTf32, std::string &error);
bool launchTunedKernels(
    mlir::ModuleOp module, bool warpgroupMma, int64_t attentionQueryTile,
    std::vector<std::pair<std::string, std::string>> &described,
    std::string &error);
/// Maps a model's linalg-stage module (xf-linalg-stage without CPU tiling:
/// linalg ops and the fused attention's loops, on tensors) to the GPU with
/// the generic mapping of docs/gpu.md ("Every kernel to PTX"): bufferized,
/// each op's parallel loops to blocks and threads, each launch outlined
/// into a gpu.module. False with `error` (the diagnostics) on failure.
bool mapModelToGpu(mlir::ModuleOp module, std::string &error);

/// The device code of a whole model: `module` as the frontend builds it
/// (xf ops) through the model stage, the linalg stage without CPU tiling,
/// mapModelToGpu and emitPtx. Appends one PtxModule per kernel.
bool emitModelPtx(mlir::ModuleOp module, const GpuTarget &target,
                  std::vector<PtxModule> &out, std::string &error);

/// A model's device code, as the GPU artifact embeds it.
struct GpuModelCode {
  std::string ptx;   ///< Every kernel, one PTX module.
  std::string cubin; ///< ptxas's output for the chip; empty without ptxas.
  std::string ptxas; ///< The ptxas that made the cubin; empty without.
  /// The kernels' names by the host code's launch indices.
  std::vector<std::string> kernels;
};
/// The back half of a GPU compile, after mapLoopsToGpu: exports the
/// signature (inputs, weights, outputs, arena), lowers the device code to
/// PTX (and to a cubin when ptxas is found, which also checks it), adds
/// the run context as the model function's last argument, turns the
/// launches into runtime calls (xf-gpu-launch-to-runtime), lowers the
/// host code to the LLVM dialect with the entry point `xfc_entry` and
/// embeds the device code as globals (xfc_gpu_ptx, xfc_gpu_cubin,
/// xfc_gpu_kernel_names and their _size; docs/gpu.md, "Artifact").
bool lowerModelForGpu(mlir::ModuleOp module, const GpuTarget &target,
                      GpuModelCode &out, std::string &error);
/// The CUDA toolkit whose libdevice the kernels' math functions link: the
/// folder XFC_CUDA_PATH names when it is set, else the one CUDA_ROOT,
/// CUDA_HOME or CUDA_PATH names, else /usr/local/cuda,
/// else the one holding findPtxas()'s ptxas; "" when none has
/// nvvm/libdevice/libdevice.10.bc.
std::string findCudaToolkit();
/// The ptxas to assemble with: the file the environment variable XFC_PTXAS
/// names, else /usr/local/cuda/bin/ptxas, else `ptxas` on PATH; "" when
/// there is none.
std::string findPtxas();

/// Assembles `ptx` with `ptxas` for `chip` into `cubinPath`. False with
/// `error` holding ptxas's own messages when it rejects the PTX.
bool assemblePtx(const std::string &ptxas, const std::string &ptx,
                 const std::string &chip, const std::string &cubinPath,
                 std::string &error);

} // namespace xfc

#endif // XFC_COMPILER_GPUCODEGEN_H
