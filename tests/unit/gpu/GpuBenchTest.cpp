//===- GpuBenchTest.cpp - The GPU benchmarks' run and check ---------------===//
//
// Part of xfc. Runs bench/gpu/GpuBench.cpp's cases through the stand-in
// libcuda with a launch hook that computes each kernel's result on the
// host (device memory is host memory there), so the benchmark's argument
// passing, poisoning, host reference and tolerances are checked without a
// GPU: a right result passes, and a result that forgets the causal mask,
// the bias or the scale, or leaves a row unwritten, fails with what went
// wrong.
//
//===----------------------------------------------------------------------===//
#include "GpuBench.h"

#include "FakeCudaDriver.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <vector>

using namespace xfc;
using namespace xfc::gpubench;

namespace {

/// What the hook gets wrong on purpose.
enum class Mistake { None, NoCausalMask, NoBias, NoScale, SkipLastRow };

/// The case the hook computes, and how.
const BenchCase *currentCase = nullptr;
Mistake mistake = Mistake::None;
int hookLaunches = 0;

template <typename T> T *deviceArray(void **parameters, int index) {
  uintptr_t address = *static_cast<uintptr_t *>(parameters[index]);
  return reinterpret_cast<T *>(address);
}

float load16(const uint16_t *data, size_t index, GpuGemmInput type) {
  return type == GpuGemmInput::BF16 ? bf16ToFloat(data[index])
                                    : halfToFloat(data[index]);
}

void computeAttention(const GpuAttentionSpec &spec, void **parameters) {
  const auto *q = deviceArray<uint16_t>(parameters, 0);
  const auto *k = deviceArray<uint16_t>(parameters, 1);
  const auto *v = deviceArray<uint16_t>(parameters, 2);
  auto *o = deviceArray<uint16_t>(parameters, 3);
  const int64_t length = spec.seqLen, dim = spec.headDim;
  const float scale =
      mistake == Mistake::NoScale ? 1.0f : 1.0f / std::sqrt(float(dim));
  std::vector<float> scores(static_cast<size_t>(length));
  std::vector<float> row(static_cast<size_t>(dim));
  for (int64_t pair = 0; pair < spec.batch * spec.heads; ++pair) {
    size_t base = size_t(pair * length * dim);
    for (int64_t i = 0; i < length; ++i) {
      if (mistake == Mistake::SkipLastRow && i == length - 1)
        continue;
      bool causal = spec.causal && mistake != Mistake::NoCausalMask;
      int64_t limit = causal ? i + 1 : length;
      float maximum = -INFINITY;
      for (int64_t j = 0; j < limit; ++j) {
        float dot = 0;
        for (int64_t d = 0; d < dim; ++d)
          dot += load16(q, base + size_t(i * dim + d), spec.input) *
                 load16(k, base + size_t(j * dim + d), spec.input);
        scores[size_t(j)] = dot * scale;
        maximum = std::max(maximum, scores[size_t(j)]);
      }
      float sum = 0;
      std::fill(row.begin(), row.end(), 0.0f);
      for (int64_t j = 0; j < limit; ++j) {
        float p = std::exp(scores[size_t(j)] - maximum);
        sum += p;
        for (int64_t d = 0; d < dim; ++d)
          row[size_t(d)] +=
              p * load16(v, base + size_t(j * dim + d), spec.input);
      }
      for (int64_t d = 0; d < dim; ++d) {
        float value = row[size_t(d)] / sum;
        o[base + size_t(i * dim + d)] = spec.input == GpuGemmInput::BF16
                                            ? floatToBf16(value)
                                            : floatToHalf(value);
      }
    }
  }
}

void computeGemm(const GpuGemmSpec &spec, void **parameters) {
  const auto *a = deviceArray<uint16_t>(parameters, 0);
  const auto *b = deviceArray<uint16_t>(parameters, 1);
  const auto *bias = deviceArray<float>(parameters, 2);
  auto *c = deviceArray<float>(parameters, 3);
  for (int64_t i = 0; i < spec.m; ++i) {
    if (mistake == Mistake::SkipLastRow && i == spec.m - 1)
      continue;
    for (int64_t j = 0; j < spec.n; ++j) {
      float sum = mistake == Mistake::NoBias ? 0.0f : bias[j];
      for (int64_t kk = 0; kk < spec.k; ++kk)
        sum += load16(a, size_t(i * spec.k + kk), spec.input) *
               load16(b, size_t(kk * spec.n + j), spec.input);
      c[i * spec.n + j] = sum;
    }
  }
}

void hostKernel(const FakeLaunch *launch) {
  ++hookLaunches;
  if (currentCase->kind == BenchCase::Attention)
    computeAttention(currentCase->kernels.attentions[0], launch->parameters);
  else
    computeGemm(currentCase->kernels.gemms[0], launch->parameters);
}

class GpuBench : public ::testing::Test {
protected:
  void SetUp() override {
    setenv("XFC_LIBCUDA", XFC_FAKE_CUDA_PATH, 1);
    unsetenv("XFC_FAKE_CUDA_FAIL");
    unsetenv("XFC_FAKE_CUDA_LAUNCH_LOG");
    void *fake = dlopen(XFC_FAKE_CUDA_PATH, RTLD_NOW);
    ASSERT_NE(fake, nullptr) << dlerror();
    auto setHook = reinterpret_cast<FakeSetLaunchHook>(
        dlsym(fake, "xfc_fake_cuda_set_launch_hook"));
    ASSERT_NE(setHook, nullptr);
    setHook(hostKernel);
    std::string error;
    ASSERT_TRUE(device.open(0, error)) << error;
    mistake = Mistake::None;
  }

  /// Runs `benchCase` (its launch contract from gpuKernelSource; the
  /// stand-in loads any image) and returns the record.
  std::string run(const BenchCase &benchCase, bool &passed) {
    std::string source, error;
    std::vector<GpuKernelLaunch> launches;
    EXPECT_TRUE(gpuKernelSource(benchCase.kernels, source, launches, error))
        << error;
    GpuImage image;
    image.chip = "sm_90";
    image.ptxVersion = 78;
    image.ptx = "// stand-in";
    image.kernels = {launches.at(0).kernel};
    RunOptions options;
    options.warmup = 1;
    options.repeat = 2;
    currentCase = &benchCase;
    hookLaunches = 0;
    std::string record;
    EXPECT_TRUE(runCase(device, benchCase, image, launches.at(0), options,
                        record, passed, error))
        << error;
    return record;
  }

  BenchCase smokeCase(const std::string &name) {
    Selection selection;
    selection.smoke = true;
    selection.gemmDtypes = {"fp16", "bf16"};
    selection.filter = name;
    std::vector<BenchCase> cases = benchCases(selection);
    EXPECT_EQ(cases.size(), 1u) << name;
    return cases.at(0);
  }

  Device device;
};

TEST_F(GpuBench, RightResultsPass) {
  Selection selection;
  selection.smoke = true;
  for (const BenchCase &benchCase : benchCases(selection)) {
    bool passed = false;
    std::string record = run(benchCase, passed);
    EXPECT_TRUE(passed) << record;
    EXPECT_NE(record.find("\"check\": \"ok\""), std::string::npos) << record;
    // The checked launch, one warm-up and two timed ones.
    EXPECT_EQ(hookLaunches, 4) << benchCase.name;
  }
}

TEST_F(GpuBench, WrongResultsFail) {
  struct Wrong {
    const char *caseName;
    Mistake mistake;
    const char *message;
  } wrongs[] = {
      {"d=64/L=128/causal", Mistake::NoCausalMask, "exceeds the tolerance"},
      {"d=128/L=77/dense", Mistake::NoScale, "exceeds the tolerance"},
      {"d=64/L=128/dense", Mistake::SkipLastRow,
       "128 of 16384 outputs not written"},
      {"fp16/M=77,N=128", Mistake::NoBias, "exceeds the tolerance"},
      {"bf16/M=64,N=64", Mistake::SkipLastRow,
       "64 of 4096 outputs not written"},
  };
  for (const Wrong &wrong : wrongs) {
    BenchCase benchCase = smokeCase(wrong.caseName);
    mistake = wrong.mistake;
    bool passed = true;
    std::string record = run(benchCase, passed);
    EXPECT_FALSE(passed) << record;
    EXPECT_NE(record.find(wrong.message), std::string::npos) << record;
  }
}

TEST_F(GpuBench, ElementConversions) {
  EXPECT_EQ(floatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(floatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(1e6f), 0x7c00);
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(floatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00); // Ties even.
  EXPECT_EQ(halfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(halfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isnan(halfToFloat(0xffff)));
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80); // Ties even.
  EXPECT_EQ(bf16ToFloat(0xc040), -3.0f);
  EXPECT_TRUE(std::isnan(bf16ToFloat(0xffff)));
  for (float value : {0.5f, -1.75f, 0.0009765625f, 1.9990234375f})
    EXPECT_EQ(halfToFloat(floatToHalf(value)), value);
}

} // namespace
