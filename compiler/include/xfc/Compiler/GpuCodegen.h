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
