//===- CudaDriver.h - The CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// Part of xfc. The runtime reaches NVIDIA GPUs through the CUDA driver API
// (libcuda), which it loads with dlopen on first use instead of linking it:
// libxfc_runtime.so then builds, links and runs on machines without a GPU
// or a driver, and only a GPU request reports that the driver is missing.
//
// The declarations below are the subset of cuda.h the runtime calls, with
// the same ABI (handles are opaque pointers, CUdevice an int, CUresult an
// int), so no CUDA header is needed to build. Every failed call becomes a
// message naming the call, the error's name and the driver's description.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_RUNTIME_CUDADRIVER_H
#define XFC_RUNTIME_CUDADRIVER_H

#include <cstddef>
#include <string>

namespace xfc::cuda {

using CUresult = int;
using CUdevice = int;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphExec = struct CUgraphExec_st *;
using CUdeviceptr = unsigned long long;

/// The CUresult values the runtime tells apart (cuda.h's values).
enum : CUresult {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_NO_DEVICE = 100,
};

/// cuStreamBeginCapture's mode that confines the capture's restrictions
/// to the capturing thread (CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), so runs
/// of other contexts on other threads go on while one context captures.
constexpr int kStreamCaptureThreadLocal = 1;

/// cuDeviceGetAttribute's attributes that the runtime reads.
enum DeviceAttribute : int {
  MultiprocessorCount = 16,
  ComputeCapabilityMajor = 75,
  ComputeCapabilityMinor = 76,
  L2CacheSize = 38,
  MaxSharedMemoryPerBlockOptin = 97,
};

/// cuFuncGetAttribute's and cuFuncSetAttribute's attributes that xfc uses.
enum FunctionAttribute : int {
  NumRegisters = 4,
  MaxDynamicSharedSizeBytes = 8,
};

/// The driver's entry points, resolved once per process. A member is never
/// null in a Driver returned by `driver()`, but for the graph entry points
/// (`graphs`).
struct Driver {
  CUresult (*cuInit)(unsigned flags);
  CUresult (*cuDriverGetVersion)(int *version);
  CUresult (*cuGetErrorName)(CUresult error, const char **name);
  CUresult (*cuGetErrorString)(CUresult error, const char **text);
  CUresult (*cuDeviceGetCount)(int *count);
  CUresult (*cuDeviceGet)(CUdevice *device, int ordinal);
  CUresult (*cuDeviceGetName)(char *name, int length, CUdevice device);
  CUresult (*cuDeviceGetAttribute)(int *value, int attribute,
                                   CUdevice device);
  CUresult (*cuDeviceTotalMem)(size_t *bytes, CUdevice device);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *context, CUdevice device);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice device);
  CUresult (*cuCtxSetCurrent)(CUcontext context);
  CUresult (*cuModuleLoadData)(CUmodule *module, const void *image);
  CUresult (*cuModuleUnload)(CUmodule module);
  CUresult (*cuModuleGetFunction)(CUfunction *function, CUmodule module,
                                  const char *name);
  CUresult (*cuMemAlloc)(CUdeviceptr *pointer, size_t bytes);
  CUresult (*cuMemFree)(CUdeviceptr pointer);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr destination, const void *source,
                                size_t bytes, CUstream stream);
  CUresult (*cuMemcpyDtoHAsync)(void *destination, CUdeviceptr source,
                                size_t bytes, CUstream stream);
  CUresult (*cuStreamCreate)(CUstream *stream, unsigned flags);
  CUresult (*cuStreamSynchronize)(CUstream stream);
  CUresult (*cuStreamDestroy)(CUstream stream);
  CUresult (*cuLaunchKernel)(CUfunction function, unsigned gridX,
                             unsigned gridY, unsigned gridZ, unsigned blockX,
                             unsigned blockY, unsigned blockZ,
                             unsigned sharedMemBytes, CUstream stream,
                             void **parameters, void **extra);
  // Graphs: a context records its schedule's launches once (stream
  // capture) and each run replays them with one cuGraphLaunch. Null, with
  // `graphs` false, from a driver older than CUDA 11.4.
  CUresult (*cuStreamBeginCapture)(CUstream stream, int mode);
  CUresult (*cuStreamEndCapture)(CUstream stream, CUgraph *graph);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *exec, CUgraph graph,
                                          unsigned long long flags);
  CUresult (*cuGraphLaunch)(CUgraphExec exec, CUstream stream);
  CUresult (*cuGraphExecDestroy)(CUgraphExec exec);
  CUresult (*cuGraphDestroy)(CUgraph graph);
  // Timing, memory fills and kernel attributes: what a benchmark of
  // single kernels needs (bench/gpu/), beside the runtime's own calls.
  CUresult (*cuEventCreate)(CUevent *event, unsigned flags);
  CUresult (*cuEventRecord)(CUevent event, CUstream stream);
  CUresult (*cuEventSynchronize)(CUevent event);
  CUresult (*cuEventElapsedTime)(float *milliseconds, CUevent start,
                                 CUevent end);
  CUresult (*cuEventDestroy)(CUevent event);
  CUresult (*cuMemsetD8)(CUdeviceptr destination, unsigned char value,
                         size_t bytes);
  CUresult (*cuFuncGetAttribute)(int *value, int attribute,
                                 CUfunction function);
  CUresult (*cuFuncSetAttribute)(CUfunction function, int attribute,
                                 int value);
  /// The driver's version as cuDriverGetVersion gives it (e.g. 12040).
  int version = 0;
  /// The graph entry points above were all found.
  bool graphs = false;
  /// cuInit answered CUDA_ERROR_NO_DEVICE: the driver works and has no
  /// device (every other call would fail with "not initialized").
  bool noDevice = false;
};

/// The process's driver: loaded, resolved and initialized (cuInit) on the
/// first call, from the file named by the environment variable XFC_LIBCUDA
/// when it is set, else libcuda.so.1. Returns null and sets `error` when
/// the library cannot be loaded, lacks an entry point or fails cuInit; the
/// outcome is kept, so later calls answer the same. Thread-safe.
/// CUDA_ERROR_NO_DEVICE from cuInit is not a failure: the driver is there
/// and has no device (`noDevice`).
const Driver *driver(std::string &error);

/// "`call` failed: NAME (description)" for a failed driver call, the name
/// and description from the driver, or from cuda.h's list when the driver
/// cannot give them (a stub library, an unknown code).
std::string describeFailure(const Driver *driver, const char *call,
                            CUresult result);

} // namespace xfc::cuda

#endif // XFC_RUNTIME_CUDADRIVER_H
