//===- Gpu.cpp - The GPU queries of the runtime C API ---------------------===//
//
// Part of xfc. xfc_gpu_count and xfc_gpu_get_info: what the CUDA driver
// (CudaDriver.h, loaded on first use) reports about the machine's GPUs.
//
//===----------------------------------------------------------------------===//
#include "xfc/runtime.h"

#include "CudaDriver.h"
#include "Status.h"

#include <cstring>
#include <string>

using xfc::guarded;
using xfc::makeStatus;
namespace cuda = xfc::cuda;

namespace {

/// The driver, or a status saying why there is none.
const cuda::Driver *loadDriver(const char *function, xfc_status &status) {
  std::string error;
  const cuda::Driver *driver = cuda::driver(error);
  if (!driver)
    status = makeStatus(XFC_UNSUPPORTED, std::string(function) + ": " + error);
  return driver;
}

/// A failed driver call as a status of `function`.
xfc_status driverFailure(const char *function, const cuda::Driver *driver,
                         const char *call, cuda::CUresult result) {
  return makeStatus(XFC_UNSUPPORTED,
                    std::string(function) + ": " +
                        cuda::describeFailure(driver, call, result));
}

/// The driver's device count (0 when cuInit found no device).
xfc_status deviceCount(const char *function, const cuda::Driver *driver,
                       int32_t &count) {
  count = 0;
  if (driver->noDevice)
    return nullptr;
  int value = 0;
  if (cuda::CUresult result = driver->cuDeviceGetCount(&value))
    return driverFailure(function, driver, "cuDeviceGetCount", result);
  count = value;
  return nullptr;
}

} // namespace

extern "C" {

xfc_status xfc_gpu_count(int32_t *out_count, int32_t *out_driver_version) {
  return guarded("xfc_gpu_count", [&]() -> xfc_status {
    const char *function = "xfc_gpu_count";
    if (!out_count)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        std::string(function) + ": out_count is NULL");
    *out_count = 0;
    xfc_status status = nullptr;
    const cuda::Driver *driver = loadDriver(function, status);
    if (!driver)
      return status;
    if (out_driver_version)
      *out_driver_version = driver->version;
    return deviceCount(function, driver, *out_count);
  });
}

xfc_status xfc_gpu_get_info(int32_t index, xfc_gpu_info *out_info) {
  return guarded("xfc_gpu_get_info", [&]() -> xfc_status {
    const char *function = "xfc_gpu_get_info";
    if (!out_info)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        std::string(function) + ": out_info is NULL");
    std::memset(out_info, 0, sizeof(*out_info));
    xfc_status status = nullptr;
    const cuda::Driver *driver = loadDriver(function, status);
    if (!driver)
      return status;
    int32_t count = 0;
    if ((status = deviceCount(function, driver, count)))
      return status;
    if (index < 0 || index >= count)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        std::string(function) + ": index is " +
                            std::to_string(index) + "; expected 0 to " +
                            std::to_string(count - 1) + " (" +
                            std::to_string(count) + " GPUs)");
    cuda::CUdevice device = 0;
    if (cuda::CUresult result = driver->cuDeviceGet(&device, index))
      return driverFailure(function, driver, "cuDeviceGet", result);
    if (cuda::CUresult result = driver->cuDeviceGetName(
            out_info->name, sizeof(out_info->name), device))
      return driverFailure(function, driver, "cuDeviceGetName", result);
    out_info->name[sizeof(out_info->name) - 1] = '\0';
    const struct {
      int attribute;
      int32_t *into;
    } attributes[] = {
        {cuda::ComputeCapabilityMajor,
         &out_info->compute_capability_major},
        {cuda::ComputeCapabilityMinor,
         &out_info->compute_capability_minor},
        {cuda::MultiprocessorCount, &out_info->multiprocessor_count},
    };
    for (const auto &entry : attributes) {
      int value = 0;
      if (cuda::CUresult result =
              driver->cuDeviceGetAttribute(&value, entry.attribute, device))
        return driverFailure(function, driver, "cuDeviceGetAttribute", result);
      *entry.into = value;
    }
    size_t bytes = 0;
    if (cuda::CUresult result = driver->cuDeviceTotalMem(&bytes, device))
      return driverFailure(function, driver, "cuDeviceTotalMem", result);
    out_info->total_memory_bytes = bytes;
    return nullptr;
  });
}

} // extern "C"
