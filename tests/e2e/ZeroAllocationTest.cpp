//===- ZeroAllocationTest.cpp - A run through a context allocates nothing -===//
//
// Part of xfc. Compiles a small model, opens it, creates a run context and
// counts heap allocations during repeated xfc_context_run calls: there must
// be none, neither in the runtime nor in the generated code (whose
// intermediates live in the context's arena, placed by xf-plan-memory).
//
// The counting replaces malloc and friends (and operator new) in this
// executable, forwarding to glibc's __libc_* entry points. The executable
// exports them (ENABLE_EXPORTS), so libraries loaded later with dlopen, the
// compiled model included, bind to them too; a sanity test checks that an
// allocation inside libxfc_runtime.so is seen.
//
//===----------------------------------------------------------------------===//
#include "ExampleModel.h"
#include "ScratchDir.h"

#include "xfc/Compiler/Compiler.h"
#include "xfc/runtime.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

extern "C" {
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *pointer, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
void __libc_free(void *pointer);
}

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void count() {
  if (counting.load(std::memory_order_relaxed))
    allocations.fetch_add(1, std::memory_order_relaxed);
}
} // namespace

extern "C" {
void *malloc(size_t size) {
  count();
  return __libc_malloc(size);
}
void *calloc(size_t n, size_t size) {
  count();
  return __libc_calloc(n, size);
}
void *realloc(void *pointer, size_t size) {
  count();
  return __libc_realloc(pointer, size);
}
void *memalign(size_t alignment, size_t size) {
  count();
  return __libc_memalign(alignment, size);
}
void *aligned_alloc(size_t alignment, size_t size) {
  count();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void **out, size_t alignment, size_t size) {
  count();
  void *pointer = __libc_memalign(alignment, size);
  if (!pointer)
    return ENOMEM;
  *out = pointer;
  return 0;
}
void free(void *pointer) { __libc_free(pointer); }
}

void *operator new(size_t size) {
  count();
  if (void *pointer = __libc_malloc(size ? size : 1))
    return pointer;
  throw std::bad_alloc();
}
void *operator new[](size_t size) { return operator new(size); }
void operator delete(void *pointer) noexcept { __libc_free(pointer); }
void operator delete[](void *pointer) noexcept { __libc_free(pointer); }
void operator delete(void *pointer, size_t) noexcept { __libc_free(pointer); }
void operator delete[](void *pointer, size_t) noexcept {
  __libc_free(pointer);
}

namespace xfc::test {
namespace {

/// Allocations made while running `body`.
template <typename Body> long allocationsDuring(Body body) {
  allocations = 0;
  counting = true;
  body();
  counting = false;
  return allocations.load();
}

class ZeroAllocationTest : public ::testing::Test {
protected:
  void SetUp() override {
    // ctest runs each test in its own process, possibly at the same time:
    // one scratch folder per test.
    dir = std::make_unique<ScratchDir>(
        std::string("zero_allocation_") +
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ShapeOptions shapes;
    shapes.seqLen = 16;
    CompileReport report;
    std::string error;
    model = compileAndOpenExample(dir->path(), shapes, report, error);
    ASSERT_NE(model, nullptr) << error;
    ASSERT_GT(report.memoryPlan.arenaBytes, 0u);

    // Valid token ids (0) and token types, full lengths where asked.
    inputs = exampleInputs(model, 16,
                           [](size_t, const xfc_tensor_info &) { return 0; });
    ASSERT_FALSE(inputs.empty());
    xfc_tensor_info out;
    ASSERT_EQ(xfc_model_output_info(model, 0, &out), nullptr);
    output.assign(numElements(out), 0.0f);
    for (std::vector<int32_t> &v : inputs)
      inBuffers.push_back({v.data(), v.size() * sizeof(int32_t)});
    outBuffers.push_back({output.data(), output.size() * sizeof(float)});
  }
  void TearDown() override { xfc_model_destroy(model); }

  std::unique_ptr<ScratchDir> dir;
  xfc_model *model = nullptr;
  std::vector<std::vector<int32_t>> inputs;
  std::vector<float> output;
  std::vector<xfc_buffer> inBuffers, outBuffers;
};

TEST_F(ZeroAllocationTest, RepeatedContextRunsAllocateNothing) {
  xfc_context *context = nullptr;
  xfc_status status = xfc_context_create(model, nullptr, &context);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  // Warm-up: lazy binding of libm and the like happens on first calls.
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(xfc_context_run(context, inBuffers.data(), inBuffers.size(),
                              outBuffers.data(), outBuffers.size()),
              nullptr);
  std::vector<float> first = output;
  int failures = 0;
  long during = allocationsDuring([&] {
    for (int i = 0; i < 20; ++i) {
      xfc_status s = xfc_context_run(context, inBuffers.data(),
                                     inBuffers.size(), outBuffers.data(),
                                     outBuffers.size());
      if (s) {
        ++failures;
        xfc_status_free(s);
      }
    }
  });
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(during, 0) << "heap allocations during 20 xfc_context_run calls";
  // Same inputs, same arena reused: bit-identical outputs.
  EXPECT_EQ(std::memcmp(first.data(), output.data(),
                        output.size() * sizeof(float)),
            0);
  xfc_context_destroy(context);
}

// A Transformer-XL context carries its memory from run to run by swapping
// buffers it allocated at creation: runs, reset, get and set of the memory
// allocate nothing either.
TEST(ZeroAllocationTransformerXL, SegmentRunsAndMemoryCallsAllocateNothing) {
  ScratchDir dir("zero_allocation_transformer_xl");
  CompileRequest request;
  request.specPath = std::string(XFC_SOURCE_DIR) +
                     "/tests/e2e/golden/transformer_xl/post_m8_l7/model.json";
  request.shapes.seqLen = 7;
  request.outputDir = dir.path() + "/artifact";
  CompileReport report;
  std::string error;
  ASSERT_TRUE(compileModel(request, report, error)) << error;
  xfc_model *model = nullptr;
  ASSERT_EQ(xfc_model_open(request.outputDir.c_str(), nullptr, &model),
            nullptr);
  xfc_context *context = nullptr;
  ASSERT_EQ(xfc_context_create(model, nullptr, &context), nullptr);
  xfc_memory_info memory;
  ASSERT_EQ(xfc_model_memory_info(model, &memory), nullptr);
  std::vector<int32_t> ids(7, 3);
  std::vector<float> logits(7 * 50);
  std::vector<float> layer(numElements(memory.layer));
  xfc_buffer in{ids.data(), ids.size() * sizeof(int32_t)};
  xfc_buffer out{logits.data(), logits.size() * sizeof(float)};
  xfc_buffer state{layer.data(), layer.size() * sizeof(float)};
  ASSERT_EQ(xfc_context_run(context, &in, 1, &out, 1), nullptr); // Warm-up.
  int failures = 0;
  long during = allocationsDuring([&] {
    for (int i = 0; i < 5; ++i)
      failures += xfc_context_run(context, &in, 1, &out, 1) != nullptr;
    failures += xfc_context_get_memory(context, 0, &state) != nullptr;
    failures += xfc_context_reset_memory(context) != nullptr;
    xfc_buffer both[2] = {state, state};
    failures += xfc_context_set_memory(context, both, 2, 3) != nullptr;
    failures += xfc_context_run(context, &in, 1, &out, 1) != nullptr;
  });
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(during, 0) << "heap allocations during Transformer-XL runs";
  xfc_context_destroy(context);
  xfc_model_destroy(model);
}

// A bucketed artifact pads shaped runs in buffers its context allocated at
// creation: padded runs (a shorter sequence, a smaller batch) and exact
// ones allocate nothing either.
TEST(ZeroAllocationBuckets, ShapedRunsAllocateNothing) {
  ScratchDir dir("zero_allocation_buckets");
  CompileRequest request;
  request.specPath =
      std::string(XFC_SOURCE_DIR) + "/tests/CLI/Inputs/tiny.json";
  request.buckets = {ShapeOptions{2, 4, 0}, ShapeOptions{2, 8, 0}};
  request.outputDir = dir.path() + "/artifact";
  CompileReport report;
  std::string error;
  ASSERT_TRUE(compileModel(request, report, error)) << error;
  xfc_model *model = nullptr;
  ASSERT_EQ(xfc_model_open(request.outputDir.c_str(), nullptr, &model),
            nullptr);
  xfc_context *context = nullptr;
  ASSERT_EQ(xfc_context_create(model, nullptr, &context), nullptr);
  std::vector<int32_t> ids(2 * 8, 3), lengths(2, 3);
  std::vector<float> hidden(2 * 8 * 16);
  auto runAt = [&](int64_t batch, int64_t seqLen) {
    xfc_run_shape shape{batch, seqLen, 0};
    xfc_buffer in[2] = {{ids.data(), size_t(batch * seqLen) * sizeof(int32_t)},
                        {lengths.data(), size_t(batch) * sizeof(int32_t)}};
    xfc_buffer out{hidden.data(), size_t(batch * seqLen * 16) * sizeof(float)};
    xfc_status status = xfc_context_run_shaped(context, &shape, in, 2, &out, 1);
    bool ok = status == nullptr;
    xfc_status_free(status);
    return ok;
  };
  ASSERT_TRUE(runAt(1, 3)); // Warm-up.
  int failures = 0;
  long during = allocationsDuring([&] {
    failures += !runAt(1, 3);
    failures += !runAt(2, 7);
    failures += !runAt(2, 8);
  });
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(during, 0) << "heap allocations during shaped runs";
  xfc_context_destroy(context);
  xfc_model_destroy(model);
}

// Profiling counters are allocated with the context; runs only count, and
// reading the profile into caller storage allocates nothing either.
TEST_F(ZeroAllocationTest, ProfiledRunsAllocateNothing) {
  xfc_context_options options;
  xfc_context_options_initialize(&options);
  options.enable_profiling = 1;
  xfc_context *context = nullptr;
  xfc_status status = xfc_context_create(model, &options, &context);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(xfc_context_run(context, inBuffers.data(), inBuffers.size(),
                              outBuffers.data(), outBuffers.size()),
              nullptr);
  std::vector<xfc_kernel_profile> kernels(xfc_model_num_kernels(model));
  ASSERT_FALSE(kernels.empty());
  xfc_profile profile;
  int failures = 0;
  long during = allocationsDuring([&] {
    for (int i = 0; i < 20; ++i) {
      xfc_status s =
          xfc_context_run(context, inBuffers.data(), inBuffers.size(),
                          outBuffers.data(), outBuffers.size());
      if (s) {
        ++failures;
        xfc_status_free(s);
      }
    }
    if (xfc_status s = xfc_context_get_profile(
            context, &profile, kernels.data(), kernels.size())) {
      ++failures;
      xfc_status_free(s);
    }
  });
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(during, 0) << "heap allocations during 20 profiled runs";
  EXPECT_EQ(profile.runs, 22u);
  EXPECT_EQ(kernels[0].calls, 22u);
  xfc_context_destroy(context);
}

TEST_F(ZeroAllocationTest, CounterSeesRuntimeAllocations) {
  // xfc_model_run creates a temporary context inside libxfc_runtime.so:
  // the counter must see its arena, or the test above proves nothing.
  long during = allocationsDuring([&] {
    xfc_status s = xfc_model_run(model, inBuffers.data(), inBuffers.size(),
                                 outBuffers.data(), outBuffers.size());
    xfc_status_free(s);
  });
  EXPECT_GE(during, 2) << "the context and its arena";
}

} // namespace
} // namespace xfc::test
