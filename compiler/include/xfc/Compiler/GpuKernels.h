//===- GpuKernels.h - Device kernels for NVIDIA GPUs -------------*- C++
//-*-===//
//
// Part of xfc. Generates the first device kernels of the GPU backend as
// `gpu.func ... kernel`s in a `gpu.module`, for static shapes:
//
//   - a GEMM with a fused epilogue, C = act(A * B + bias) (+ residual), on
//     tensor cores (mma.sync m16n8k16, f16 or bf16 in, f32 accumulate) or
//     with plain f32 FMAs;
//   - residual + LayerNorm, y = LN(x + r) * gamma + beta, one warp per row.
//
// Each kernel comes with its launch contract (grid, block, shared memory,
// arguments) so that a host can launch it through the CUDA driver.
// docs/gpu.md ("In place") describes the kernels.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_COMPILER_GPUKERNELS_H
#define XFC_COMPILER_GPUKERNELS_H

#include <cstdint>
#include <string>
#include <vector>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace xfc {

/// The element type of a GEMM's A and B operands.
enum class GpuGemmInput {
  F32,  ///< f32 FMAs, no tensor cores (and no TF32).
  F16,  ///< Tensor cores, f32 accumulation.
  BF16, ///< Tensor cores, f32 accumulation.
};

/// The activation a GEMM's epilogue applies after the bias.
enum class GpuActivation {
  None,
  Relu,
  /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the tanh
  /// approximation of GELU, computed as x / (1 + 2^(-2 log2(e) u)) with
  /// PTX's ex2.approx.f32.
  GeluTanh,
};

/// C[M,N] = act(A[M,K] * B[K,N] + bias[N]) (+ residual[M,N]).
/// A and B are row-major in the input type; bias, residual and C are f32.
/// The residual is added after the activation.
struct GpuGemmSpec {
  std::string name; ///< The kernel's symbol.
  int64_t m = 0, n = 0, k = 0;
  GpuGemmInput input = GpuGemmInput::F16;
  GpuActivation activation = GpuActivation::None;
  bool residual = false;
};

/// y[R,D] = (s - mean(s)) / sqrt(var(s) + epsilon) * gamma[D] + beta[D]
/// with s = x + r, over the last dimension, all f32. The variance is the
/// biased one (divided by D), as in PyTorch's LayerNorm.
struct GpuLayerNormSpec {
  std::string name; ///< The kernel's symbol.
  int64_t rows = 0, dim = 0;
  float epsilon = 1e-5f;
};

/// One kernel argument as the gpu.func declares it.
struct GpuKernelArgument {
  std::string name; ///< e.g. "A".
  std::string type; ///< The MLIR type, e.g. "memref<128x768xf16>".
};

/// How the host launches a kernel. Every memref argument is one kernel
/// parameter, the buffer's address (emitPtx lowers with bare pointers, the
/// launch ABI of xf-gpu-launch-to-runtime); the shapes are static and the
/// layout the identity (row-major, contiguous).
struct GpuKernelLaunch {
  std::string kernel;                       ///< The gpu.func's symbol.
  int64_t grid[3] = {1, 1, 1};              ///< Blocks in x, y, z.
  int64_t block[3] = {1, 1, 1};             ///< Threads in x, y, z.
  int64_t staticSharedBytes = 0;            ///< Declared by the kernel.
  int64_t dynamicSharedBytes = 0;           ///< To pass to cuLaunchKernel.
  std::vector<GpuKernelArgument> arguments; ///< In parameter order.
};

/// The kernels of one gpu.module.
struct GpuKernelSet {
  std::string moduleName = "kernels"; ///< The gpu.module's symbol.
  std::vector<GpuGemmSpec> gemms;
  std::vector<GpuLayerNormSpec> layerNorms;
};

/// The MLIR text of `set` as a module holding one gpu.module, and each
/// kernel's launch contract (GEMMs first, then LayerNorms, in the order of
/// `set`). False with `error` when a shape or name is not supported.
bool gpuKernelSource(const GpuKernelSet &set, std::string &source,
                     std::vector<GpuKernelLaunch> &launches,
                     std::string &error);

/// Adds the gpu.module of `set` to `module` (and marks it
/// gpu.container_module), with each kernel's launch contract. The context
/// of `module` must have the gpu, nvgpu, nvvm, llvm, arith, vector,
/// memref, scf and func dialects registered (registerXFCDialects does).
/// False with `error` when a shape or name is not supported.
bool buildGpuKernels(mlir::ModuleOp module, const GpuKernelSet &set,
                     std::vector<GpuKernelLaunch> &launches,
                     std::string &error);

} // namespace xfc

#endif // XFC_COMPILER_GPUKERNELS_H
