//===- GpuLaunch.h - Kernel launches from generated host code ---*- C++ -*-===//
//
// Part of xfc. The launch half of the GPU run context (docs/gpu.md, "Launch
// ABI"): generated host code (xf-gpu-launch-to-runtime) receives a pointer
// to a GpuRun and launches each kernel through the function in its first
// field, with the kernel's index in the model's kernel list, the grid, the
// block, the dynamic shared memory and cuLaunchKernel's array of pointers
// to the arguments. The launch goes to the context's stream; the first
// failure is kept (with the kernel's name and the driver's message) and
// the launches after it are skipped, so the schedule runs to its end and
// the run reports that failure. A profiling run context records an event
// on the stream before and after each launch. A kernel that asks for more
// than 48 KiB of dynamic shared memory (the warpgroup MMA GEMM's stages)
// is allowed it by cuFuncSetAttribute before its first such launch.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_RUNTIME_GPULAUNCH_H
#define XFC_RUNTIME_GPULAUNCH_H

#include "CudaDriver.h"

#include <cstdint>
#include <string>
#include <vector>

namespace xfc {

struct GpuRun;

/// The signature generated code calls (xf-gpu-launch-to-runtime's
/// `launch` field): 0, or the failure's code (a CUresult, or -1 for an
/// invalid launch).
using GpuLaunchFunction = int32_t (*)(GpuRun *run, int32_t kernel,
                                      int64_t gridX, int64_t gridY,
                                      int64_t gridZ, int64_t blockX,
                                      int64_t blockY, int64_t blockZ,
                                      int32_t sharedBytes, void **params);

struct GpuRun {
  /// First, at offset 0: generated code loads it from the pointer it gets.
  GpuLaunchFunction launch = nullptr;
  const cuda::Driver *driver = nullptr;
  cuda::CUstream stream = nullptr;
  /// The model's kernels, by the indices of the host code's launches.
  std::vector<cuda::CUfunction> functions;
  std::vector<std::string> kernelNames;
  /// Per kernel: the dynamic shared memory it has been allowed beyond the
  /// 48 KiB every kernel may have (cuFuncSetAttribute's
  /// MAX_DYNAMIC_SHARED_SIZE_BYTES), set at its first launch that asks for
  /// more.
  std::vector<int32_t> sharedBytesAllowed;
  /// The first failed launch (0 and "" while none failed).
  int32_t failedResult = 0;
  std::string failure;
  /// Launches the driver accepted.
  uint64_t launches = 0;
  /// Profiling (both empty otherwise): launch l of a run is recorded on
  /// the stream between events[2l] and events[2l + 1], and
  /// launchedKernels[l] is its kernel. Sized when the context is created,
  /// for as many launches as a run makes.
  std::vector<cuda::CUevent> events;
  std::vector<int32_t> launchedKernels;
};

/// A run context that launches `functions` (named `names`) on `stream`.
void initGpuRun(GpuRun &run, const cuda::Driver *driver, cuda::CUstream stream,
                std::vector<cuda::CUfunction> functions,
                std::vector<std::string> names);

/// Clears the kept failure before a run.
void resetGpuRun(GpuRun &run);

} // namespace xfc

#endif // XFC_RUNTIME_GPULAUNCH_H
