//===- FakeCudaDriver.cpp - A libcuda stand-in for the runtime's tests ----===//
//
// Part of xfc. A shared library with the CUDA driver entry points the
// runtime resolves (runtime/src/CudaDriver.cpp), loaded in its place through
// XFC_LIBCUDA, so the driver paths (device queries, every failure's
// message) are tested on machines without a GPU. It reports
// XFC_FAKE_CUDA_DEVICES devices (default 1) and makes the call named by
// XFC_FAKE_CUDA_FAIL=call:code return that code. Built with
// XFC_FAKE_CUDA_OLD it lacks cuLaunchKernel, as a too-old driver would.
// XFC_FAKE_CUDA_CC ("8.6") and XFC_FAKE_CUDA_VERSION (12040) set the
// device's compute capability and the driver's version. Nothing here runs
// kernels: modules "load" any image, the memory calls answer
// CUDA_ERROR_NOT_SUPPORTED, and cuLaunchKernel hands each launch to the
// hook a test installs (xfc_fake_cuda_set_launch_hook), or answers
// CUDA_ERROR_NOT_SUPPORTED without one.
//
//===----------------------------------------------------------------------===//
#include "FakeCudaDriver.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using CUresult = int;
constexpr CUresult kSuccess = 0, kInvalidValue = 1, kInvalidDevice = 101,
                   kNotFound = 500, kNotSupported = 801;

/// The code XFC_FAKE_CUDA_FAIL assigns to `call`, or kSuccess.
CUresult injected(const char *call) {
  const char *spec = std::getenv("XFC_FAKE_CUDA_FAIL");
  if (!spec)
    return kSuccess;
  const char *colon = std::strchr(spec, ':');
  if (!colon || std::string(spec, colon) != call)
    return kSuccess;
  return std::atoi(colon + 1);
}

/// XFC_FAKE_CUDA_CC ("8.6"), times ten; 9.0 by default.
int computeCapability() {
  const char *text = std::getenv("XFC_FAKE_CUDA_CC");
  if (!text || !std::strchr(text, '.'))
    return 90;
  return std::atoi(text) * 10 + std::atoi(std::strchr(text, '.') + 1);
}

int deviceCount() {
  const char *count = std::getenv("XFC_FAKE_CUDA_DEVICES");
  return count ? std::atoi(count) : 1;
}

} // namespace

#define XFC_FAKE_CALL(name)                                                  \
  if (CUresult result = injected(#name))                                     \
  return result

extern "C" {

__attribute__((visibility("default"))) CUresult cuInit(unsigned) {
  XFC_FAKE_CALL(cuInit);
  return kSuccess;
}

__attribute__((visibility("default"))) CUresult cuDriverGetVersion(int *v) {
  XFC_FAKE_CALL(cuDriverGetVersion);
  const char *version = std::getenv("XFC_FAKE_CUDA_VERSION");
  *v = version ? std::atoi(version) : 12040;
  return kSuccess;
}

// Names only the codes the real driver's list has for these tests; any
// other is CUDA_ERROR_INVALID_VALUE, as from a driver that does not know
// the code (the runtime then names it from cuda.h's list).
__attribute__((visibility("default"))) CUresult
cuGetErrorName(CUresult error, const char **name) {
  switch (error) {
  case kInvalidDevice:
    *name = "CUDA_ERROR_INVALID_DEVICE";
    return kSuccess;
  case 2:
    *name = "CUDA_ERROR_OUT_OF_MEMORY";
    return kSuccess;
  default:
    *name = nullptr;
    return kInvalidValue;
  }
}

__attribute__((visibility("default"))) CUresult
cuGetErrorString(CUresult error, const char **text) {
  switch (error) {
  case kInvalidDevice:
    *text = "invalid device ordinal";
    return kSuccess;
  case 2:
    *text = "out of memory";
    return kSuccess;
  default:
    *text = nullptr;
    return kInvalidValue;
  }
}

__attribute__((visibility("default"))) CUresult cuDeviceGetCount(int *count) {
  XFC_FAKE_CALL(cuDeviceGetCount);
  *count = deviceCount();
  return kSuccess;
}

__attribute__((visibility("default"))) CUresult cuDeviceGet(int *device,
                                                            int ordinal) {
  XFC_FAKE_CALL(cuDeviceGet);
  if (ordinal < 0 || ordinal >= deviceCount())
    return kInvalidDevice;
  *device = ordinal;
  return kSuccess;
}

__attribute__((visibility("default"))) CUresult
cuDeviceGetName(char *name, int length, int device) {
  XFC_FAKE_CALL(cuDeviceGetName);
  std::snprintf(name, static_cast<size_t>(length), "Fake GPU %d", device);
  return kSuccess;
}

__attribute__((visibility("default"))) CUresult
cuDeviceGetAttribute(int *value, int attribute, int) {
  XFC_FAKE_CALL(cuDeviceGetAttribute);
  switch (attribute) {
  case 16: // multiprocessors
    *value = 132;
    return kSuccess;
  case 75: // compute capability major
    *value = computeCapability() / 10;
    return kSuccess;
  case 76: // compute capability minor
    *value = computeCapability() % 10;
    return kSuccess;
  default:
    return kInvalidValue;
  }
}

__attribute__((visibility("default"))) CUresult
cuDeviceTotalMem_v2(size_t *bytes, int) {
  XFC_FAKE_CALL(cuDeviceTotalMem);
  *bytes = size_t(80) << 30;
  return kSuccess;
}

#define XFC_FAKE_UNSUPPORTED(name)                                           \
  __attribute__((visibility("default"))) CUresult name() {                   \
    return kNotSupported;                                                    \
  }
XFC_FAKE_UNSUPPORTED(cuDevicePrimaryCtxRetain)
XFC_FAKE_UNSUPPORTED(cuDevicePrimaryCtxRelease_v2)
XFC_FAKE_UNSUPPORTED(cuCtxSetCurrent)

// Modules: loading keeps the image's address (the test compares it with
// the PTX's or the cubin's) and counts the modules loaded and not
// unloaded; a function named "missing" is not found.
static const void *loadedImage = nullptr;
static int loadedModules = 0;
static char moduleToken, functionToken;
using xfc::cuda::CUfunction;
using xfc::cuda::CUmodule;

__attribute__((visibility("default"))) const void *
xfc_fake_cuda_loaded_image() {
  return loadedImage;
}
__attribute__((visibility("default"))) int xfc_fake_cuda_loaded_modules() {
  return loadedModules;
}

__attribute__((visibility("default"))) CUresult
cuModuleLoadData(CUmodule *module, const void *image) {
  XFC_FAKE_CALL(cuModuleLoadData);
  loadedImage = image;
  ++loadedModules;
  *module = reinterpret_cast<CUmodule>(&moduleToken);
  return kSuccess;
}

__attribute__((visibility("default"))) CUresult cuModuleUnload(CUmodule) {
  XFC_FAKE_CALL(cuModuleUnload);
  --loadedModules;
  return kSuccess;
}

__attribute__((visibility("default"))) CUresult
cuModuleGetFunction(CUfunction *function, CUmodule, const char *name) {
  XFC_FAKE_CALL(cuModuleGetFunction);
  if (std::string(name) == "missing")
    return kNotFound;
  *function = reinterpret_cast<CUfunction>(&functionToken);
  return kSuccess;
}
XFC_FAKE_UNSUPPORTED(cuMemAlloc_v2)
XFC_FAKE_UNSUPPORTED(cuMemFree_v2)
XFC_FAKE_UNSUPPORTED(cuMemcpyHtoDAsync_v2)
XFC_FAKE_UNSUPPORTED(cuMemcpyDtoHAsync_v2)
XFC_FAKE_UNSUPPORTED(cuStreamCreate)
XFC_FAKE_UNSUPPORTED(cuStreamSynchronize)
XFC_FAKE_UNSUPPORTED(cuStreamDestroy_v2)
#ifndef XFC_FAKE_CUDA_OLD
static FakeLaunchHook launchHook = nullptr;
static int launchAttempts = 0;

/// Tests of the launch path (tests/unit/gpu/GpuLaunchTest.cpp) see every
/// successful launch through this hook, and count the attempts.
__attribute__((visibility("default"))) void
xfc_fake_cuda_set_launch_hook(FakeLaunchHook hook) {
  launchHook = hook;
  launchAttempts = 0;
}
__attribute__((visibility("default"))) int xfc_fake_cuda_launch_attempts() {
  return launchAttempts;
}

__attribute__((visibility("default"))) CUresult
cuLaunchKernel(xfc::cuda::CUfunction function, unsigned gridX, unsigned gridY,
               unsigned gridZ, unsigned blockX, unsigned blockY,
               unsigned blockZ, unsigned sharedBytes,
               xfc::cuda::CUstream stream, void **parameters, void **extra) {
  ++launchAttempts;
  XFC_FAKE_CALL(cuLaunchKernel);
  if (!launchHook || extra)
    return kNotSupported;
  FakeLaunch launch{function,
                    {gridX, gridY, gridZ},
                    {blockX, blockY, blockZ},
                    sharedBytes,
                    stream,
                    parameters};
  launchHook(&launch);
  return kSuccess;
}
#endif

} // extern "C"
