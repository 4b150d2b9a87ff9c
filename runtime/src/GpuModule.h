//===- GpuModule.h - A model's device code, checked and loaded --*- C++ -*-===//
//
// Part of xfc. The device half of a GPU artifact (docs/gpu.md, "Loading
// device code"): the PTX of the model's kernels, compiled for one chip
// with one PTX ISA version, and the cubin ptxas made of it when it was
// found at compile time. Opening a model picks what the device can run
// (the cubin when its chip's binary code runs on the device, else the PTX
// for the driver to compile), checks the PTX ISA against the driver's
// version, loads it with cuModuleLoadData and resolves every kernel the
// host code launches, so a model that cannot run says why when it is
// opened, not at its first launch.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_RUNTIME_GPUMODULE_H
#define XFC_RUNTIME_GPUMODULE_H

#include "CudaDriver.h"

#include <string>
#include <vector>

namespace xfc {

/// A model's device code as the artifact holds it.
struct GpuImage {
  std::string chip;   ///< "sm_80", "sm_90" or "sm_90a".
  int ptxVersion = 0; ///< The PTX ISA version times ten (70, 78, 80).
  std::string ptx;    ///< The PTX text.
  std::string cubin;  ///< ptxas's output for `chip`; empty when none.
  std::vector<std::string> kernels; ///< In the host code's launch order.
};

/// A loaded module and its kernels, in the image's order.
struct LoadedGpuModule {
  cuda::CUmodule module = nullptr;
  std::vector<cuda::CUfunction> functions;
  bool fromCubin = false; ///< The cubin was loaded, not the PTX.
};

/// The oldest driver (cuDriverGetVersion's number, e.g. 12000) that
/// compiles PTX ISA `ptxVersion`; 0 for a version this runtime does not
/// know.
int minimumDriverForPtx(int ptxVersion);

/// Checks `image` without a driver: its chip is sm_XY or sm_XYa, its PTX
/// declares the PTX ISA version and the chip and has an entry point for
/// every kernel, and its cubin (when there is one) is a 64-bit CUDA ELF
/// file for the chip. False with `error` saying what does not match.
bool checkGpuImage(const GpuImage &image, std::string &error);

/// Loads `image` on `device` (the current context's): false with `error`
/// saying what does not fit (the chip and the device's compute
/// capability, the PTX ISA and the driver's version) or which driver call
/// failed and how. Nothing stays loaded on failure.
bool loadGpuModule(const cuda::Driver *driver, cuda::CUdevice device,
                   const GpuImage &image, LoadedGpuModule &out,
                   std::string &error);

void unloadGpuModule(const cuda::Driver *driver, LoadedGpuModule &module);

} // namespace xfc

#endif // XFC_RUNTIME_GPUMODULE_H
