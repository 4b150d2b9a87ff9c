//===- GpuLaunch.cpp - Kernel launches from generated host code -*- C++ -*-===//
//
// Part of xfc. Implements the launch function of GpuLaunch.h.
//
//===----------------------------------------------------------------------===//
#include "GpuLaunch.h"

#include <climits>
#include <cstddef>
#include <type_traits>

namespace xfc {
namespace {

static_assert(std::is_standard_layout_v<GpuRun> &&
                  offsetof(GpuRun, launch) == 0,
              "generated code loads the launch function from offset 0");

constexpr int32_t kInvalidLaunch = -1;

int fail(GpuRun &run, int32_t result, std::string message) {
  run.failedResult = result;
  run.failure = std::move(message);
  return result;
}

int32_t launchKernel(GpuRun *run, int32_t kernel, int64_t gridX, int64_t gridY,
                     int64_t gridZ, int64_t blockX, int64_t blockY,
                     int64_t blockZ, int32_t sharedBytes, void **params) {
  if (run->failedResult)
    return run->failedResult; // Skipped: the run reports the first failure.
  if (kernel < 0 || size_t(kernel) >= run->functions.size())
    return fail(*run, kInvalidLaunch,
                "launch of kernel " + std::to_string(kernel) +
                    ": the model has " + std::to_string(run->functions.size()) +
                    " kernels");
  const std::string &name = run->kernelNames[kernel];
  for (int64_t dim : {gridX, gridY, gridZ, blockX, blockY, blockZ})
    if (dim < 1 || dim > int64_t(UINT_MAX))
      return fail(*run, kInvalidLaunch,
                  "kernel '" + name + "': grid (" + std::to_string(gridX) +
                      ", " + std::to_string(gridY) + ", " +
                      std::to_string(gridZ) + ") or block (" +
                      std::to_string(blockX) + ", " + std::to_string(blockY) +
                      ", " + std::to_string(blockZ) +
                      ") has a dimension outside [1, 2^32)");
  if (sharedBytes < 0)
    return fail(*run, kInvalidLaunch,
                "kernel '" + name + "': negative dynamic shared memory (" +
                    std::to_string(sharedBytes) + " bytes)");
  // Past 48 KiB a kernel must be allowed its dynamic shared memory first;
  // the driver refuses more than the device has a block
  // (MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: 227 KiB on an H100).
  constexpr int32_t kSharedBytesWithoutOptIn = 48 * 1024;
  if (sharedBytes > kSharedBytesWithoutOptIn &&
      sharedBytes > run->sharedBytesAllowed[kernel]) {
    cuda::CUresult result = run->driver->cuFuncSetAttribute(
        run->functions[kernel], cuda::MaxDynamicSharedSizeBytes, sharedBytes);
    if (result != cuda::CUDA_SUCCESS)
      return fail(
          *run, result,
          "kernel '" + name + "': " +
              cuda::describeFailure(run->driver, "cuFuncSetAttribute", result) +
              " (allowing it " + std::to_string(sharedBytes) +
              " bytes of dynamic shared memory)");
    run->sharedBytesAllowed[kernel] = sharedBytes;
  }
  // Profiling: the launch between two events of its own.
  const bool timed = !run->events.empty();
  const uint64_t launch = run->launches;
  if (timed && 2 * launch + 1 >= run->events.size())
    return fail(*run, kInvalidLaunch,
                "kernel '" + name + "': launch " + std::to_string(launch + 1) +
                    " of a profiled run, which has events for " +
                    std::to_string(run->events.size() / 2));
  auto recordEvent = [&](uint64_t index) -> int32_t {
    cuda::CUresult result =
        run->driver->cuEventRecord(run->events[index], run->stream);
    if (result == cuda::CUDA_SUCCESS)
      return 0;
    return fail(
        *run, result,
        "kernel '" + name + "': " +
            cuda::describeFailure(run->driver, "cuEventRecord", result));
  };
  if (timed)
    if (int32_t failed = recordEvent(2 * launch))
      return failed;
  cuda::CUresult result = run->driver->cuLaunchKernel(
      run->functions[kernel], unsigned(gridX), unsigned(gridY), unsigned(gridZ),
      unsigned(blockX), unsigned(blockY), unsigned(blockZ),
      unsigned(sharedBytes), run->stream, params, nullptr);
  if (result != cuda::CUDA_SUCCESS)
    return fail(
        *run, result,
        "kernel '" + name + "': " +
            cuda::describeFailure(run->driver, "cuLaunchKernel", result));
  if (timed) {
    if (int32_t failed = recordEvent(2 * launch + 1))
      return failed;
    run->launchedKernels[launch] = kernel;
  }
  ++run->launches;
  return 0;
}

} // namespace

void initGpuRun(GpuRun &run, const cuda::Driver *driver, cuda::CUstream stream,
                std::vector<cuda::CUfunction> functions,
                std::vector<std::string> names) {
  run.launch = launchKernel;
  run.driver = driver;
  run.stream = stream;
  run.functions = std::move(functions);
  run.kernelNames = std::move(names);
  run.kernelNames.resize(run.functions.size());
  run.sharedBytesAllowed.assign(run.functions.size(), 0);
  resetGpuRun(run);
}

void resetGpuRun(GpuRun &run) {
  run.failedResult = 0;
  run.failure.clear();
  run.launches = 0;
}

} // namespace xfc
