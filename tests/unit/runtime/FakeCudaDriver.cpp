//===- FakeCudaDriver.cpp - A libcuda stand-in for the runtime's tests ----===//
//
// Part of xfc. A shared library with the CUDA driver entry points the
// runtime resolves (runtime/src/CudaDriver.cpp), loaded in its place through
// XFC_LIBCUDA, so the driver paths (device queries, every failure's
// message) are tested on machines without a GPU. It reports
// XFC_FAKE_CUDA_DEVICES devices (default 1) and makes the call named by
// XFC_FAKE_CUDA_FAIL=call:code return that code (call:code:n: its n-th
// call only). Built with
// XFC_FAKE_CUDA_OLD it lacks cuLaunchKernel, as a too-old driver would;
// with XFC_FAKE_CUDA_NO_GRAPHS the graph entry points (before CUDA 11.4).
// XFC_FAKE_CUDA_CC ("8.6") and XFC_FAKE_CUDA_VERSION (12040) set the
// device's compute capability and the driver's version. Nothing here runs
// kernels: modules "load" any image and name each function they are asked
// for (xfc_fake_cuda_function_name), reading each kernel's parameter sizes
// from the image (PTX or cubin), device memory is host memory (so a test
// reads what was uploaded), copies happen at once, and cuLaunchKernel
// hands each launch to the hook a test installs
// (xfc_fake_cuda_set_launch_hook), or answers CUDA_ERROR_NOT_SUPPORTED
// without one. Stream capture records launches (with copies of their
// parameters) into a graph, and cuGraphLaunch hands them to the hook in
// order, as cuLaunchKernel would. xfc_fake_cuda_live_allocations,
// xfc_fake_cuda_live_streams and xfc_fake_cuda_live_graphs tell a test
// what is still held.
// For benchmarks of single kernels (bench/gpu/): events measure a fixed
// XFC_FAKE_CUDA_EVENT_MS milliseconds (default 1) between any two,
// cuMemsetD8 fills host memory, and with XFC_FAKE_CUDA_LAUNCH_LOG=FILE a
// launch without a hook succeeds (running nothing) and appends a line to
// FILE: the kernel, grid, block, dynamic shared bytes and, when the module
// gave the kernel's parameters, the size of the allocation each pointer
// parameter points into.
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
                   kNotFound = 500, kNotSupported = 801, kIllegalState = 401,
                   kCaptureUnsupported = 900, kCaptureInvalidated = 901;

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
// The size in bytes of each parameter of each function, read from its
// module (the PTX's .entry, or the cubin's parameter table); absent when
// the image said nothing of it. Launches recorded into a graph copy their
// parameters with these sizes, as the driver does.
static std::map<const std::string *, std::vector<size_t>> functionParameters;

/// The bytes of the PTX parameter declaration `decl` (".param .u64 x",
/// ".param .align 8 .b8 x[24]"), or 0.
static size_t ptxParameterBytes(const std::string &decl) {
  size_t bracket = decl.find('[');
  if (bracket != std::string::npos)
    return size_t(std::atoll(decl.c_str() + bracket + 1)) *
           (decl.find(".b16") != std::string::npos   ? 2
            : decl.find(".b32") != std::string::npos ? 4
            : decl.find(".b64") != std::string::npos ? 8
                                                     : 1);
  for (const char *type : {"8 ", "16 ", "32 ", "64 "}) {
    for (const char *kind : {".u", ".s", ".b", ".f"}) {
      std::string token = std::string(kind) + type;
      if (decl.find(token) != std::string::npos)
        return size_t(std::atoi(type)) / 8;
    }
  }
  return 0;
}

/// The parameters of `.entry name(...)` in the PTX `text`.
static bool ptxEntryParameters(const char *text, const std::string &name,
                               std::vector<size_t> &sizes) {
  std::string ptx(text);
  size_t entry = ptx.find(".entry " + name + "(");
  if (entry == std::string::npos)
    return false;
  size_t end = ptx.find(')', entry);
  for (size_t at = ptx.find(".param", entry); at < end;) {
    size_t next = std::min(ptx.find(".param", at + 1), end);
    size_t bytes = ptxParameterBytes(ptx.substr(at, next - at) + " ");
    if (!bytes)
      return false;
    sizes.push_back(bytes);
    at = next;
  }
  return true;
}

/// The parameters of kernel `name` in the cubin `image` (an ELF file):
/// the EIATTR_KPARAM_INFO records of its .nv.info.NAME section, each with
/// the parameter's ordinal and, in bits 18 and up of its last word, its
/// size.
static bool cubinEntryParameters(const unsigned char *image,
                                 const std::string &name,
                                 std::vector<size_t> &sizes) {
  auto u16 = [&](size_t at) {
    uint16_t v;
    std::memcpy(&v, image + at, 2);
    return size_t(v);
  };
  auto u32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, image + at, 4);
    return size_t(v);
  };
  auto u64 = [&](size_t at) {
    uint64_t v;
    std::memcpy(&v, image + at, 8);
    return size_t(v);
  };
  if (image[4] != 2) // ELFCLASS64
    return false;
  size_t sectionTable = u64(0x28), entrySize = u16(0x3a), sections = u16(0x3c),
         namesIndex = u16(0x3e);
  size_t namesAt = u64(sectionTable + namesIndex * entrySize + 0x18);
  std::string wanted = ".nv.info." + name;
  for (size_t i = 0; i < sections; ++i) {
    size_t header = sectionTable + i * entrySize;
    const char *sectionName =
        reinterpret_cast<const char *>(image + namesAt + u32(header));
    if (wanted != sectionName)
      continue;
    size_t at = u64(header + 0x18), end = at + u64(header + 0x20);
    std::map<size_t, size_t> byOrdinal;
    while (at + 4 <= end) {
      unsigned format = image[at], attribute = image[at + 1];
      if (format != 4) { // Not a sized value: two bytes of value follow.
        at += 4;
        continue;
      }
      size_t bytes = u16(at + 2);
      if (attribute == 0x17 && bytes >= 12) // EIATTR_KPARAM_INFO
        byOrdinal[u16(at + 8)] = u32(at + 12) >> 18;
      at += 4 + bytes;
    }
    for (size_t ordinal = 0; ordinal < byOrdinal.size(); ++ordinal) {
      if (!byOrdinal.count(ordinal))
        return false;
      sizes.push_back(byOrdinal[ordinal]);
    }
    return true;
  }
  return false;
}

/// The parameter sizes of kernel `name` of the module `image` (PTX or a
/// cubin); false when the image does not say.
static bool entryParameters(const void *image, const std::string &name,
                            std::vector<size_t> &sizes) {
  if (!image)
    return false;
  const char *text = static_cast<const char *>(image);
  if (std::strncmp(text, "\177ELF", 4) == 0)
    return cubinEntryParameters(static_cast<const unsigned char *>(image), name,
                                sizes);
  // Only text that declares a PTX version is PTX.
  return std::strstr(text, ".version") && ptxEntryParameters(text, name, sizes);
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
  std::vector<size_t> sizes;
  if (entryParameters(loadedImage, name, sizes))
    functionParameters[found] = sizes;
  else
    functionParameters.erase(found);
  *function = reinterpret_cast<CUfunction>(const_cast<std::string *>(found));
  return kSuccess;
}
__attribute__((visibility("default"))) const char *
xfc_fake_cuda_function_name(CUfunction function) {
  return reinterpret_cast<const std::string *>(function)->c_str();
}

// Device memory is host memory; allocations and streams are counted.
static std::map<void *, size_t> allocations;
static bool capturing(xfc::cuda::CUstream stream);
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
                     size_t bytes, xfc::cuda::CUstream stream) {
  XFC_FAKE_CALL(cuMemcpyHtoDAsync);
  if (capturing(stream))
    return kCaptureUnsupported; // Pageable host memory cannot be captured.
  std::memcpy(reinterpret_cast<void *>(uintptr_t(destination)), source, bytes);
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuMemcpyDtoHAsync_v2(void *destination, xfc::cuda::CUdeviceptr source,
                     size_t bytes, xfc::cuda::CUstream stream) {
  XFC_FAKE_CALL(cuMemcpyDtoHAsync);
  if (capturing(stream))
    return kCaptureUnsupported;
  std::memcpy(destination, reinterpret_cast<void *>(uintptr_t(source)), bytes);
  return kSuccess;
}
// Streams are objects of their own, so that a capture belongs to one.
// While a stream captures, its launches are recorded (with copies of their
// parameters) instead of run, and copies or waits on it fail as the
// driver's would (CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED).
struct RecordedLaunch {
  CUfunction function;
  unsigned grid[3], block[3], sharedBytes;
  std::vector<std::vector<unsigned char>> parameters;
};
struct FakeStream {
  bool capturing = false;
  bool invalidated = false;
  std::vector<RecordedLaunch> recorded;
};
struct FakeGraph {
  std::vector<RecordedLaunch> launches;
};
static int liveGraphs = 0, liveGraphExecs = 0;
__attribute__((visibility("default"))) int xfc_fake_cuda_live_graphs() {
  return liveGraphs + liveGraphExecs;
}

static FakeStream *fakeStream(xfc::cuda::CUstream stream) {
  return reinterpret_cast<FakeStream *>(stream);
}
static bool capturing(xfc::cuda::CUstream stream) {
  return stream && fakeStream(stream)->capturing;
}

__attribute__((visibility("default"))) CUresult
cuStreamCreate(xfc::cuda::CUstream *stream, unsigned) {
  XFC_FAKE_CALL(cuStreamCreate);
  *stream = reinterpret_cast<xfc::cuda::CUstream>(new FakeStream);
  ++liveStreams;
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuStreamSynchronize(xfc::cuda::CUstream stream) {
  XFC_FAKE_CALL(cuStreamSynchronize);
  return capturing(stream) ? kCaptureUnsupported : kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuStreamDestroy_v2(xfc::cuda::CUstream stream) {
  XFC_FAKE_CALL(cuStreamDestroy);
  delete fakeStream(stream);
  --liveStreams;
  return kSuccess;
}

#ifndef XFC_FAKE_CUDA_NO_GRAPHS
__attribute__((visibility("default"))) CUresult
cuStreamBeginCapture_v2(xfc::cuda::CUstream stream, int mode) {
  XFC_FAKE_CALL(cuStreamBeginCapture);
  // The legacy default stream cannot capture; the modes are 0 to 2.
  if (!stream || mode < 0 || mode > 2)
    return kCaptureUnsupported;
  FakeStream &s = *fakeStream(stream);
  if (s.capturing)
    return kIllegalState;
  s = FakeStream();
  s.capturing = true;
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuStreamEndCapture(xfc::cuda::CUstream stream, xfc::cuda::CUgraph *graph) {
  *graph = nullptr;
  if (!capturing(stream))
    return kIllegalState;
  FakeStream &s = *fakeStream(stream);
  s.capturing = false;
  if (CUresult result = injected("cuStreamEndCapture"))
    return result;
  if (s.invalidated)
    return kCaptureInvalidated;
  auto *recorded = new FakeGraph{std::move(s.recorded)};
  ++liveGraphs;
  *graph = reinterpret_cast<xfc::cuda::CUgraph>(recorded);
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuGraphInstantiateWithFlags(xfc::cuda::CUgraphExec *exec,
                            xfc::cuda::CUgraph graph, unsigned long long) {
  XFC_FAKE_CALL(cuGraphInstantiateWithFlags);
  if (!graph)
    return kInvalidValue;
  // An executable graph is a copy: the graph may be destroyed first.
  auto *copy = new FakeGraph(*reinterpret_cast<FakeGraph *>(graph));
  ++liveGraphExecs;
  *exec = reinterpret_cast<xfc::cuda::CUgraphExec>(copy);
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuGraphDestroy(xfc::cuda::CUgraph graph) {
  XFC_FAKE_CALL(cuGraphDestroy);
  if (!graph)
    return kInvalidValue;
  delete reinterpret_cast<FakeGraph *>(graph);
  --liveGraphs;
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuGraphExecDestroy(xfc::cuda::CUgraphExec exec) {
  XFC_FAKE_CALL(cuGraphExecDestroy);
  if (!exec)
    return kInvalidValue;
  delete reinterpret_cast<FakeGraph *>(exec);
  --liveGraphExecs;
  return kSuccess;
}
#endif

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

// Kernel attributes: 64 registers. A kernel's dynamic shared memory past
// 48 KiB must be allowed first (MAX_DYNAMIC_SHARED_SIZE_BYTES), up to the
// 227 KiB of an H100's block, as the driver's; other attributes may be set.
static std::map<const std::string *, int> dynamicSharedAllowed;
constexpr int kFakeSharedOptInLimit = 227 * 1024;
__attribute__((visibility("default"))) CUresult
cuFuncGetAttribute(int *value, int attribute, CUfunction) {
  XFC_FAKE_CALL(cuFuncGetAttribute);
  if (attribute != 4) // CU_FUNC_ATTRIBUTE_NUM_REGS
    return kInvalidValue;
  *value = 64;
  return kSuccess;
}
__attribute__((visibility("default"))) CUresult
cuFuncSetAttribute(CUfunction function, int attribute, int value) {
  XFC_FAKE_CALL(cuFuncSetAttribute);
  if (attribute == 8) { // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    if (value < 0 || value > kFakeSharedOptInLimit)
      return kInvalidValue;
    std::lock_guard<std::mutex> lock(fakeMutex);
    dynamicSharedAllowed[reinterpret_cast<const std::string *>(function)] =
        value;
  }
  return kSuccess;
}
/// Whether `function` may launch with `sharedBytes` of dynamic shared
/// memory.
[[maybe_unused]] static bool sharedBytesAllowed(CUfunction function,
                                                unsigned sharedBytes) {
  if (sharedBytes <= 48 * 1024)
    return true;
  std::lock_guard<std::mutex> lock(fakeMutex);
  auto found = dynamicSharedAllowed.find(
      reinterpret_cast<const std::string *>(function));
  return found != dynamicSharedAllowed.end() &&
         unsigned(found->second) >= sharedBytes;
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
  if (known == functionParameters.end())
    line += "?";
  else
    for (size_t i = 0; i < known->second.size(); ++i) {
      // A pointer parameter is named by the size of the allocation it
      // points into, or "stray" for any other address; a smaller one is a
      // scalar.
      std::string size = "scalar";
      if (known->second[i] == sizeof(uintptr_t)) {
        uintptr_t address = *static_cast<uintptr_t *>(parameters[i]);
        size = "stray";
        for (const auto &[memory, bytes] : allocations) {
          uintptr_t base = reinterpret_cast<uintptr_t>(memory);
          if (address >= base && address < base + bytes)
            size =
                std::to_string(bytes) +
                (address == base ? "" : "+" + std::to_string(address - base));
        }
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

/// Runs one launch, of cuLaunchKernel or of a graph: through the test's
/// hook, else into the launch log; CUDA_ERROR_NOT_SUPPORTED with neither.
static CUresult runLaunch(CUfunction function, const unsigned grid[3],
                          const unsigned block[3], unsigned sharedBytes,
                          xfc::cuda::CUstream stream, void **parameters) {
  if (!launchHook)
    return logLaunch(function, grid, block, sharedBytes, parameters)
               ? kSuccess
               : kNotSupported;
  FakeLaunch launch{function,
                    {grid[0], grid[1], grid[2]},
                    {block[0], block[1], block[2]},
                    sharedBytes,
                    stream,
                    parameters};
  launchHook(&launch);
  return kSuccess;
}

__attribute__((visibility("default"))) CUresult
cuLaunchKernel(xfc::cuda::CUfunction function, unsigned gridX, unsigned gridY,
               unsigned gridZ, unsigned blockX, unsigned blockY,
               unsigned blockZ, unsigned sharedBytes,
               xfc::cuda::CUstream stream, void **parameters, void **extra) {
  ++launchAttempts;
  if (CUresult result = injected("cuLaunchKernel")) {
    // A launch that fails while its stream captures invalidates the
    // capture, as the driver's does.
    if (capturing(stream))
      fakeStream(stream)->invalidated = true;
    return result;
  }
  const unsigned grid[3] = {gridX, gridY, gridZ};
  const unsigned block[3] = {blockX, blockY, blockZ};
  if (!sharedBytesAllowed(function, sharedBytes)) {
    if (capturing(stream))
      fakeStream(stream)->invalidated = true;
    return kInvalidValue;
  }
  if (capturing(stream)) {
    // Recorded with a copy of each parameter, sized by the module; a
    // launch that cannot be recorded invalidates the capture.
    FakeStream &s = *fakeStream(stream);
    std::lock_guard<std::mutex> lock(fakeMutex);
    auto known = functionParameters.find(
        reinterpret_cast<const std::string *>(function));
    if (extra || known == functionParameters.end()) {
      s.invalidated = true;
      return kNotSupported;
    }
    RecordedLaunch recorded{function,
                            {gridX, gridY, gridZ},
                            {blockX, blockY, blockZ},
                            sharedBytes,
                            {}};
    for (size_t i = 0; i < known->second.size(); ++i) {
      const auto *bytes = static_cast<const unsigned char *>(parameters[i]);
      recorded.parameters.emplace_back(bytes, bytes + known->second[i]);
    }
    s.recorded.push_back(std::move(recorded));
    return kSuccess;
  }
  if (extra)
    return kNotSupported;
  return runLaunch(function, grid, block, sharedBytes, stream, parameters);
}

#ifndef XFC_FAKE_CUDA_NO_GRAPHS
/// Runs the graph's launches in order, each as cuLaunchKernel would; the
/// first that fails ends the replay with its error.
__attribute__((visibility("default"))) CUresult
cuGraphLaunch(xfc::cuda::CUgraphExec exec, xfc::cuda::CUstream stream) {
  XFC_FAKE_CALL(cuGraphLaunch);
  if (!exec)
    return kInvalidValue;
  if (capturing(stream))
    return kCaptureUnsupported;
  for (RecordedLaunch &launch : reinterpret_cast<FakeGraph *>(exec)->launches) {
    std::vector<void *> parameters;
    for (std::vector<unsigned char> &bytes : launch.parameters)
      parameters.push_back(bytes.data());
    if (CUresult result =
            runLaunch(launch.function, launch.grid, launch.block,
                      launch.sharedBytes, stream, parameters.data()))
      return result;
  }
  return kSuccess;
}
#endif
#endif

} // extern "C"
