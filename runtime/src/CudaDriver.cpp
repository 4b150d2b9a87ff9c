//===- CudaDriver.cpp - The CUDA driver API, loaded at run time -----------===//
//
// Part of xfc. See CudaDriver.h.
//
//===----------------------------------------------------------------------===//
#include "CudaDriver.h"

#include <cstdlib>
#include <dlfcn.h>

namespace xfc::cuda {
namespace {

/// cuda.h's names of the errors a runtime is likely to meet, for when the
/// driver cannot name them itself (the toolkit's stub libcuda answers
/// CUDA_ERROR_STUB_LIBRARY to everything, cuGetErrorName included).
struct ErrorName {
  CUresult code;
  const char *name;
};
constexpr ErrorName kErrorNames[] = {
    {0, "CUDA_SUCCESS"},
    {1, "CUDA_ERROR_INVALID_VALUE"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY"},
    {3, "CUDA_ERROR_NOT_INITIALIZED"},
    {4, "CUDA_ERROR_DEINITIALIZED"},
    {34, "CUDA_ERROR_STUB_LIBRARY"},
    {35, "CUDA_ERROR_INSUFFICIENT_DRIVER"},
    {36, "CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER"},
    {46, "CUDA_ERROR_DEVICE_UNAVAILABLE"},
    {100, "CUDA_ERROR_NO_DEVICE"},
    {101, "CUDA_ERROR_INVALID_DEVICE"},
    {102, "CUDA_ERROR_DEVICE_NOT_LICENSED"},
    {200, "CUDA_ERROR_INVALID_IMAGE"},
    {201, "CUDA_ERROR_INVALID_CONTEXT"},
    {209, "CUDA_ERROR_NO_BINARY_FOR_GPU"},
    {218, "CUDA_ERROR_INVALID_PTX"},
    {221, "CUDA_ERROR_JIT_COMPILER_NOT_FOUND"},
    {222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"},
    {223, "CUDA_ERROR_JIT_COMPILATION_DISABLED"},
    {300, "CUDA_ERROR_INVALID_SOURCE"},
    {301, "CUDA_ERROR_FILE_NOT_FOUND"},
    {304, "CUDA_ERROR_OPERATING_SYSTEM"},
    {400, "CUDA_ERROR_INVALID_HANDLE"},
    {401, "CUDA_ERROR_ILLEGAL_STATE"},
    {500, "CUDA_ERROR_NOT_FOUND"},
    {600, "CUDA_ERROR_NOT_READY"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"},
    {702, "CUDA_ERROR_LAUNCH_TIMEOUT"},
    {715, "CUDA_ERROR_ILLEGAL_INSTRUCTION"},
    {716, "CUDA_ERROR_MISALIGNED_ADDRESS"},
    {719, "CUDA_ERROR_LAUNCH_FAILED"},
    {720, "CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE"},
    {800, "CUDA_ERROR_NOT_PERMITTED"},
    {801, "CUDA_ERROR_NOT_SUPPORTED"},
    {802, "CUDA_ERROR_SYSTEM_NOT_READY"},
    {803, "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH"},
    {804, "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE"},
    {909, "CUDA_ERROR_TIMEOUT"},
    {900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"},
    {901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"},
    {902, "CUDA_ERROR_STREAM_CAPTURE_MERGE"},
    {903, "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED"},
    {904, "CUDA_ERROR_STREAM_CAPTURE_UNJOINED"},
    {905, "CUDA_ERROR_STREAM_CAPTURE_ISOLATION"},
    {906, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT"},
    {907, "CUDA_ERROR_CAPTURED_EVENT"},
    {908, "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD"},
    {912, "CUDA_ERROR_INVALID_CLUSTER_SIZE"},
    {999, "CUDA_ERROR_UNKNOWN"},
};

const char *knownErrorName(CUresult code) {
  for (const ErrorName &entry : kErrorNames)
    if (entry.code == code)
      return entry.name;
  return nullptr;
}

/// One entry point: the member it fills and the exported symbol (the
/// versioned names are those cuda.h's macros select for the plain ones).
struct Symbol {
  void **slot;
  const char *name;
};

/// The process's driver and how loading it went; filled once.
struct Loaded {
  Driver driver{};
  std::string error;
  bool ok = false;
};

Loaded load() {
  Loaded out;
  const char *override = std::getenv("XFC_LIBCUDA");
  std::string path =
      override && *override ? std::string(override) : "libcuda.so.1";
  // RTLD_LOCAL: libcuda's symbols must not satisfy anyone else's lookups.
  // The handle is never closed: the driver stays for the process's life,
  // as CUDA expects.
  void *library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char *why = dlerror();
    out.error = "no CUDA driver: cannot load " + path + " (" +
                (why ? why : "unknown dlopen error") +
                "); running on a GPU needs the NVIDIA driver" +
                (override && *override ? "" :
                 " (or XFC_LIBCUDA naming its libcuda.so)");
    return out;
  }
  Driver &d = out.driver;
  const Symbol symbols[] = {
      {reinterpret_cast<void **>(&d.cuInit), "cuInit"},
      {reinterpret_cast<void **>(&d.cuDriverGetVersion), "cuDriverGetVersion"},
      {reinterpret_cast<void **>(&d.cuGetErrorName), "cuGetErrorName"},
      {reinterpret_cast<void **>(&d.cuGetErrorString), "cuGetErrorString"},
      {reinterpret_cast<void **>(&d.cuDeviceGetCount), "cuDeviceGetCount"},
      {reinterpret_cast<void **>(&d.cuDeviceGet), "cuDeviceGet"},
      {reinterpret_cast<void **>(&d.cuDeviceGetName), "cuDeviceGetName"},
      {reinterpret_cast<void **>(&d.cuDeviceGetAttribute),
       "cuDeviceGetAttribute"},
      {reinterpret_cast<void **>(&d.cuDeviceTotalMem), "cuDeviceTotalMem_v2"},
      {reinterpret_cast<void **>(&d.cuDevicePrimaryCtxRetain),
       "cuDevicePrimaryCtxRetain"},
      {reinterpret_cast<void **>(&d.cuDevicePrimaryCtxRelease),
       "cuDevicePrimaryCtxRelease_v2"},
      {reinterpret_cast<void **>(&d.cuCtxSetCurrent), "cuCtxSetCurrent"},
      {reinterpret_cast<void **>(&d.cuModuleLoadData), "cuModuleLoadData"},
      {reinterpret_cast<void **>(&d.cuModuleUnload), "cuModuleUnload"},
      {reinterpret_cast<void **>(&d.cuModuleGetFunction),
       "cuModuleGetFunction"},
      {reinterpret_cast<void **>(&d.cuMemAlloc), "cuMemAlloc_v2"},
      {reinterpret_cast<void **>(&d.cuMemFree), "cuMemFree_v2"},
      {reinterpret_cast<void **>(&d.cuMemcpyHtoDAsync), "cuMemcpyHtoDAsync_v2"},
      {reinterpret_cast<void **>(&d.cuMemcpyDtoHAsync), "cuMemcpyDtoHAsync_v2"},
      {reinterpret_cast<void **>(&d.cuStreamCreate), "cuStreamCreate"},
      {reinterpret_cast<void **>(&d.cuStreamSynchronize),
       "cuStreamSynchronize"},
      {reinterpret_cast<void **>(&d.cuStreamDestroy), "cuStreamDestroy_v2"},
      {reinterpret_cast<void **>(&d.cuLaunchKernel), "cuLaunchKernel"},
      {reinterpret_cast<void **>(&d.cuEventCreate), "cuEventCreate"},
      {reinterpret_cast<void **>(&d.cuEventRecord), "cuEventRecord"},
      {reinterpret_cast<void **>(&d.cuEventSynchronize), "cuEventSynchronize"},
      // The unversioned name: every driver since CUDA 4 exports it, while
      // cuda.h 12.8+ maps the macro to a _v2 that older drivers lack.
      {reinterpret_cast<void **>(&d.cuEventElapsedTime), "cuEventElapsedTime"},
      {reinterpret_cast<void **>(&d.cuEventDestroy), "cuEventDestroy_v2"},
      {reinterpret_cast<void **>(&d.cuMemsetD8), "cuMemsetD8_v2"},
      {reinterpret_cast<void **>(&d.cuFuncGetAttribute), "cuFuncGetAttribute"},
      {reinterpret_cast<void **>(&d.cuFuncSetAttribute), "cuFuncSetAttribute"},
  };
  for (const Symbol &symbol : symbols) {
    *symbol.slot = dlsym(library, symbol.name);
    if (!*symbol.slot) {
      out.error = "the CUDA driver " + path + " lacks " + symbol.name +
                  " (expected a CUDA 11 or later driver)";
      return out;
    }
  }
  // Graphs (CUDA 11.4): a context records its launches with them, and a
  // profiling context counts its launches so; a driver without them still
  // runs kernel by kernel.
  const Symbol graphSymbols[] = {
      {reinterpret_cast<void **>(&d.cuStreamBeginCapture),
       "cuStreamBeginCapture_v2"},
      {reinterpret_cast<void **>(&d.cuStreamEndCapture), "cuStreamEndCapture"},
      {reinterpret_cast<void **>(&d.cuGraphInstantiateWithFlags),
       "cuGraphInstantiateWithFlags"},
      {reinterpret_cast<void **>(&d.cuGraphLaunch), "cuGraphLaunch"},
      {reinterpret_cast<void **>(&d.cuGraphExecDestroy), "cuGraphExecDestroy"},
      {reinterpret_cast<void **>(&d.cuGraphDestroy), "cuGraphDestroy"},
  };
  d.graphs = true;
  for (const Symbol &symbol : graphSymbols) {
    *symbol.slot = dlsym(library, symbol.name);
    d.graphs = d.graphs && *symbol.slot;
  }
  CUresult result = d.cuInit(0);
  if (result == CUDA_ERROR_NO_DEVICE) {
    d.noDevice = true;
  } else if (result != CUDA_SUCCESS) {
    out.error = "the CUDA driver " + path + " cannot start: " +
                describeFailure(&d, "cuInit", result);
    return out;
  }
  result = d.cuDriverGetVersion(&d.version);
  if (result != CUDA_SUCCESS) {
    out.error = describeFailure(&d, "cuDriverGetVersion", result);
    return out;
  }
  out.ok = true;
  return out;
}

} // namespace

const Driver *driver(std::string &error) {
  static const Loaded loaded = load();
  if (!loaded.ok) {
    error = loaded.error;
    return nullptr;
  }
  return &loaded.driver;
}

std::string describeFailure(const Driver *driver, const char *call,
                            CUresult result) {
  const char *name = nullptr;
  const char *text = nullptr;
  if (driver && driver->cuGetErrorName(result, &name) != CUDA_SUCCESS)
    name = nullptr;
  if (driver && driver->cuGetErrorString(result, &text) != CUDA_SUCCESS)
    text = nullptr;
  if (!name)
    name = knownErrorName(result);
  std::string message = std::string(call) + " failed: ";
  message += name ? name : "CUresult " + std::to_string(result);
  if (text && *text)
    message += std::string(" (") + text + ")";
  else if (name)
    message += " (error " + std::to_string(result) + ")";
  return message;
}

} // namespace xfc::cuda
