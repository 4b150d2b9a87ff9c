//===- GpuTest.cpp - The runtime's GPU queries on a stand-in driver -------===//
//
// Part of xfc. xfc_gpu_count and xfc_gpu_get_info on FakeCudaDriver.cpp's
// two GPUs: the argument checks and what the driver reports. The driver is
// loaded once per process, so every test here uses the same one, named
// before any test runs. The failure paths of the driver calls are in
// tests/CLI/devices.test, one process each.
//
//===----------------------------------------------------------------------===//
#include "xfc/runtime.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace {

/// Names the stand-in driver before the first GPU call of the process.
class FakeDriverEnvironment : public ::testing::Environment {
public:
  void SetUp() override {
    setenv("XFC_LIBCUDA", XFC_FAKE_CUDA_PATH, 1);
    setenv("XFC_FAKE_CUDA_DEVICES", "2", 1);
  }
};
const auto *const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new FakeDriverEnvironment);

/// The status's code and message, the status released.
std::pair<xfc_status_code, std::string> take(xfc_status status) {
  std::pair<xfc_status_code, std::string> out{xfc_status_get_code(status),
                                              xfc_status_get_message(status)};
  xfc_status_free(status);
  return out;
}

TEST(Gpu, CountAndDriverVersion) {
  int32_t count = -1, version = -1;
  ASSERT_EQ(take(xfc_gpu_count(&count, &version)).first, XFC_OK);
  EXPECT_EQ(count, 2);
  EXPECT_EQ(version, 12040);
  // The version is optional.
  ASSERT_EQ(take(xfc_gpu_count(&count, nullptr)).first, XFC_OK);
  EXPECT_EQ(count, 2);
}

TEST(Gpu, Info) {
  xfc_gpu_info info;
  ASSERT_EQ(take(xfc_gpu_get_info(1, &info)).first, XFC_OK);
  EXPECT_STREQ(info.name, "Fake GPU 1");
  EXPECT_EQ(info.compute_capability_major, 9);
  EXPECT_EQ(info.compute_capability_minor, 0);
  EXPECT_EQ(info.multiprocessor_count, 132);
  EXPECT_EQ(info.total_memory_bytes, uint64_t(80) << 30);
}

TEST(Gpu, ArgumentErrors) {
  auto [code, message] = take(xfc_gpu_count(nullptr, nullptr));
  EXPECT_EQ(code, XFC_INVALID_ARGUMENT);
  EXPECT_EQ(message, "xfc_gpu_count: out_count is NULL");

  std::tie(code, message) = take(xfc_gpu_get_info(0, nullptr));
  EXPECT_EQ(code, XFC_INVALID_ARGUMENT);
  EXPECT_EQ(message, "xfc_gpu_get_info: out_info is NULL");

  xfc_gpu_info info;
  for (int32_t index : {-1, 2}) {
    std::tie(code, message) = take(xfc_gpu_get_info(index, &info));
    EXPECT_EQ(code, XFC_INVALID_ARGUMENT);
    EXPECT_EQ(message, "xfc_gpu_get_info: index is " + std::to_string(index) +
                           "; expected 0 to 1 (2 GPUs)");
  }
}

} // namespace
