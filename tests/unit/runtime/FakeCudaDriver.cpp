//===- FakeCudaDriver.cpp - A libcuda stand-in for the runtime's tests ----===//
//
// Part of xfc. A shared library with the CUDA driver entry points the
// runtime resolves (runtime/src/CudaDriver.cpp), loaded in its place through
// XFC_LIBCUDA, so the driver paths (device queries, every failure's
// message) are tested on machines without a GPU. It reports
// XFC_FAKE_CUDA_DEVICES devices (default 1) and makes the call named by
// XFC_FAKE_CUDA_FAIL=call:code return that code (call:code:n: its n-th
// call only). Built with
// XFC_FAKE_CUDA_OLD it lacks cuLaunchKernel, as a too-old driver would.
// XFC_FAKE_CUDA_CC ("8.6") and XFC_FAKE_CUDA_VERSION (12040) set the
// device's compute capability and the driver's version. Nothing here runs
// kernels: modules "load" any image and name each function they are asked
// for (xfc_fake_cuda_function_name), device memory is host memory (so a
// test reads what was uploaded), streams are tokens and copies happen at
// once, and cuLaunchKernel hands each launch to the hook a test installs
// (xfc_fake_cuda_set_launch_hook), or answers CUDA_ERROR_NOT_SUPPORTED
// without one. xfc_fake_cuda_live_allocations and
// xfc_fake_cuda_live_streams tell a test what is still held.
// For benchmarks of single kernels (bench/gpu/): events measure a fixed
// XFC_FAKE_CUDA_EVENT_MS milliseconds (default 1) between any two,
// cuMemsetD8 fills host memory, and with XFC_FAKE_CUDA_LAUNCH_LOG=FILE a
// launch without a hook succeeds (running nothing) and appends a line to
// FILE: the kernel, grid, block, dynamic shared bytes and, when the module
// was PTX, the size of the allocation each pointer parameter points into
// (the parameters counted from the kernel's .entry).
//
//===----------------------------------------------------------------------===//
#include "FakeCudaDriver.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace {

using CUresult = int;
constexpr CUresult kSuccess = 0, kInvalidValue = 1, kInvalidDevice = 101,
                   kNotFound = 500, kNotSupported = 801;

/// The code XFC_FAKE_CUDA_FAIL ("call:code", or "call:code:n" for the
/// n-th call only, counting from 1) assigns to this call of `call`, or
/// kSuccess.
CUresult injected(const char *call) {
  static std::mutex countsMutex;
  static std::map<std::string, int> counts;
  int nth = 0;
  {
    std::lock_guard<std::mutex> lock(countsMutex);
    nth = ++counts[call];
  }
  const char *spec = std::getenv("XFC_FAKE_CUDA_FAIL");
  if (!spec)
    return kSuccess;
  const char *colon = std::strchr(spec, ':');
  if (!colon || std::string(spec, colon) != call)
    return kSuccess;
  const char *second = std::strchr(colon + 1, ':');
  if (second && std::atoi(second + 1) != nth)
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
  case 38: // L2 cache bytes (an H100's)
    *value = 50 << 20;
    return kSuccess;
  case 97: // shared memory per block, opted in
    *value = 227 << 10;
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

// The primary context is a token; retains and releases are counted.
static char contextToken;
static int retainedContexts = 0;
__attribute__((visibility("default"))) int xfc_fake_cuda_retained_contexts() {
  return retainedContexts;
}
__attribute__((visibility("default"))) CUresult
cuDevicePrimaryCtxRetain(xfc::cuda::CUcontext *context, int device) {
  XFC_FAKE_CALL(cuDevicePrimaryCtxRetain);
  if (device < 0 || device >= deviceCount())
    return kInvalidDevice;
  *context = reinterpret_cast<xfc::cuda::CUcontext>(&contextToken);
  ++retainedContexts;
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuDevicePrimaryCtxRelease_v2(int) {
  XFC_FAKE_CALL(cuDevicePrimaryCtxRelease);
  --retainedContexts;
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuCtxSetCurrent(xfc::cuda::CUcontext context) {
  XFC_FAKE_CALL(cuCtxSetCurrent);
  return context ? kSuccess : kInvalidValue;
}

// Modules: loading keeps the image's address (the test compares it with
// the PTX's or the cubin's) and counts the modules loaded and not
// unloaded; a function named "missing" is not found, any other is its
// name.
static const void *loadedImage = nullptr;
static int loadedModules = 0;
static char moduleToken;
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

// Functions are their names, kept for the process.
static std::mutex fakeMutex;
static std::deque<std::string> functionNames;
// The number of parameters of each function whose module was PTX text
// (counted from its .entry); -1 when unknown (a cubin).
static std::map<const std::string *, int> functionParameters;

/// The parameters of `.entry name(...)` in the PTX `image`, or -1.
static int ptxEntryParameters(const void *image, const std::string &name) {
  if (!image)
    return -1;
  const char *text = static_cast<const char *>(image);
  // A cubin is an ELF file; only text that declares a PTX version is PTX.
  if (std::strncmp(text, "\177ELF", 4) == 0 ||
      !std::strstr(text, ".version"))
    return -1;
  std::string ptx(text);
  size_t entry = ptx.find(".entry " + name + "(");
  if (entry == std::string::npos)
    return -1;
  size_t end = ptx.find(')', entry);
  int count = 0;
  for (size_t at = ptx.find(".param", entry); at < end;
       at = ptx.find(".param", at + 1))
    ++count;
  return count;
}

__attribute__((visibility("default"))) CUresult
cuModuleGetFunction(CUfunction *function, CUmodule, const char *name) {
  XFC_FAKE_CALL(cuModuleGetFunction);
  if (std::string(name) == "missing")
    return kNotFound;
  std::lock_guard<std::mutex> lock(fakeMutex);
  const std::string *found = nullptr;
  for (std::string &known : functionNames)
    if (known == name)
      found = &known;
  if (!found) {
    functionNames.emplace_back(name);
    found = &functionNames.back();
  }
  functionParameters[found] = ptxEntryParameters(loadedImage, name);
  *function = reinterpret_cast<CUfunction>(const_cast<std::string *>(found));
  return kSuccess;
}
__attribute__((visibility("default"))) const char *
xfc_fake_cuda_function_name(CUfunction function) {
  return reinterpret_cast<const std::string *>(function)->c_str();
}

// Device memory is host memory; allocations and streams are counted.
static std::map<void *, size_t> allocations;
static int liveStreams = 0;
__attribute__((visibility("default"))) int xfc_fake_cuda_live_allocations() {
  std::lock_guard<std::mutex> lock(fakeMutex);
  return int(allocations.size());
}
__attribute__((visibility("default"))) int xfc_fake_cuda_live_streams() {
  return liveStreams;
}
__attribute__((visibility("default"))) CUresult
cuMemAlloc_v2(xfc::cuda::CUdeviceptr *pointer, size_t bytes) {
  XFC_FAKE_CALL(cuMemAlloc);
  if (bytes == 0)
    return kInvalidValue;
  // cuMemAlloc's alignment.
  void *memory = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!memory)
    return 2; // CUDA_ERROR_OUT_OF_MEMORY
  std::lock_guard<std::mutex> lock(fakeMutex);
  allocations[memory] = bytes;
  *pointer = reinterpret_cast<uintptr_t>(memory);
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuMemFree_v2(xfc::cuda::CUdeviceptr pointer) {
  XFC_FAKE_CALL(cuMemFree);
  void *memory = reinterpret_cast<void *>(uintptr_t(pointer));
  std::lock_guard<std::mutex> lock(fakeMutex);
  if (!allocations.erase(memory))
    return kInvalidValue;
  std::free(memory);
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuMemcpyHtoDAsync_v2(xfc::cuda::CUdeviceptr destination, const void *source,
                     size_t bytes, xfc::cuda::CUstream) {
  XFC_FAKE_CALL(cuMemcpyHtoDAsync);
  std::memcpy(reinterpret_cast<void *>(uintptr_t(destination)), source, bytes);
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuMemcpyDtoHAsync_v2(void *destination, xfc::cuda::CUdeviceptr source,
                     size_t bytes, xfc::cuda::CUstream) {
  XFC_FAKE_CALL(cuMemcpyDtoHAsync);
  std::memcpy(destination, reinterpret_cast<void *>(uintptr_t(source)), bytes);
  return kSuccess;
}
static char streamToken;
__attribute__((visibility("default"))) CUresult
cuStreamCreate(xfc::cuda::CUstream *stream, unsigned) {
  XFC_FAKE_CALL(cuStreamCreate);
  *stream = reinterpret_cast<xfc::cuda::CUstream>(&streamToken);
  ++liveStreams;
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuStreamSynchronize(xfc::cuda::CUstream) {
  XFC_FAKE_CALL(cuStreamSynchronize);
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuStreamDestroy_v2(xfc::cuda::CUstream) {
  XFC_FAKE_CALL(cuStreamDestroy);
  --liveStreams;
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuMemsetD8_v2(xfc::cuda::CUdeviceptr destination, unsigned char value,
              size_t bytes) {
  XFC_FAKE_CALL(cuMemsetD8);
  std::memset(reinterpret_cast<void *>(uintptr_t(destination)), value, bytes);
  return kSuccess;
}

// Events are counted tokens; any two are XFC_FAKE_CUDA_EVENT_MS apart.
static int liveEvents = 0;
static char eventToken;
__attribute__((visibility("default"))) int xfc_fake_cuda_live_events() {
  return liveEvents;
}
__attribute__((visibility("default"))) CUresult
cuEventCreate(xfc::cuda::CUevent *event, unsigned) {
  XFC_FAKE_CALL(cuEventCreate);
  *event = reinterpret_cast<xfc::cuda::CUevent>(&eventToken);
  ++liveEvents;
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuEventRecord(xfc::cuda::CUevent event, xfc::cuda::CUstream) {
  XFC_FAKE_CALL(cuEventRecord);
  return event ? kSuccess : kInvalidValue;
}
__attribute__((visibility("default"))) CUresult
cuEventSynchronize(xfc::cuda::CUevent event) {
  XFC_FAKE_CALL(cuEventSynchronize);
  return event ? kSuccess : kInvalidValue;
}
__attribute__((visibility("default"))) CUresult
cuEventElapsedTime(float *milliseconds, xfc::cuda::CUevent start,
                   xfc::cuda::CUevent end) {
  XFC_FAKE_CALL(cuEventElapsedTime);
  if (!start || !end)
    return kInvalidValue;
  const char *fixed = std::getenv("XFC_FAKE_CUDA_EVENT_MS");
  *milliseconds = fixed ? float(std::atof(fixed)) : 1.0f;
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuEventDestroy_v2(xfc::cuda::CUevent) {
  XFC_FAKE_CALL(cuEventDestroy);
  --liveEvents;
  return kSuccess;
}

// Kernel attributes: 64 registers; every attribute may be set.
__attribute__((visibility("default"))) CUresult
cuFuncGetAttribute(int *value, int attribute, CUfunction) {
  XFC_FAKE_CALL(cuFuncGetAttribute);
  if (attribute != 4) // CU_FUNC_ATTRIBUTE_NUM_REGS
    return kInvalidValue;
  *value = 64;
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuFuncSetAttribute(CUfunction, int, int) {
  XFC_FAKE_CALL(cuFuncSetAttribute);
  return kSuccess;
}

/// With XFC_FAKE_CUDA_LAUNCH_LOG set, one line per launch (see the file
/// comment); false when it is not set.
static bool logLaunch(CUfunction function, const unsigned grid[3],
                      const unsigned block[3], unsigned sharedBytes,
                      void **parameters) {
  const char *path = std::getenv("XFC_FAKE_CUDA_LAUNCH_LOG");
  if (!path || !*path)
    return false;
  std::lock_guard<std::mutex> lock(fakeMutex);
  const auto *name = reinterpret_cast<const std::string *>(function);
  std::string line = "launch " + *name + " grid=" + std::to_string(grid[0]) +
                     "," + std::to_string(grid[1]) + "," +
                     std::to_string(grid[2]) +
                     " block=" + std::to_string(block[0]) + "," +
                     std::to_string(block[1]) + "," +
                     std::to_string(block[2]) +
                     " shared=" + std::to_string(sharedBytes) + " args=";
  auto known = functionParameters.find(name);
  int count = known == functionParameters.end() ? -1 : known->second;
  if (count < 0)
    line += "?";
  for (int i = 0; i < count; ++i) {
    // Each parameter is a bare pointer (the launch ABI): name the size of
    // the allocation it points into, or "stray" for any other address.
    uintptr_t address = *static_cast<uintptr_t *>(parameters[i]);
    std::string size = "stray";
    for (const auto &[memory, bytes] : allocations) {
      uintptr_t base = reinterpret_cast<uintptr_t>(memory);
      if (address >= base && address < base + bytes)
        size = std::to_string(bytes) +
               (address == base ? "" : "+" + std::to_string(address - base));
    }
    line += (i ? "," : "") + size;
  }
  if (FILE *file = std::fopen(path, "a")) {
    std::fprintf(file, "%s\n", line.c_str());
    std::fclose(file);
  }
  return true;
}

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
  if (!launchHook && !extra) {
    const unsigned grid[3] = {gridX, gridY, gridZ};
    const unsigned block[3] = {blockX, blockY, blockZ};
    if (logLaunch(function, grid, block, sharedBytes, parameters))
      return kSuccess;
  }
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
