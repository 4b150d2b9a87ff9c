//===- ThreadingTest.cpp - Threaded runs are exact and independent --------===//
//
// Part of xfc. The generated kernels run on LLVM's OpenMP runtime with a
// static partition of each parallel loop, and every output element is
// computed by the same code whichever thread runs it. So:
//  - a run with 1, 2 or 3 threads gives bit-identical outputs;
//  - contexts with different thread counts, run at the same time from
//    different threads, each give that same output;
//  - it all still holds when another OpenMP runtime (GCC's libgomp, which
//    PyTorch loads) was loaded into the process first, globally.
// The libgomp case runs in its own test process (ctest runs every test
// alone), so it cannot disturb the others.
//
//===----------------------------------------------------------------------===//
#include "ExampleModel.h"
#include "ScratchDir.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace xfc::test {
namespace {

class ThreadingTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = std::make_unique<ScratchDir>(
        std::string("threading_") +
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ShapeOptions shapes;
    shapes.batch = 2;
    shapes.seqLen = 77; // Ragged thread and register tiles.
    CompileReport report;
    std::string error;
    model = compileAndOpenExample(dir->path(), shapes, report, error);
    ASSERT_NE(model, nullptr) << error;
    // Varied token ids (within the vocabulary) and full lengths.
    inputs = exampleInputs(model, 77, [](size_t j, const xfc_tensor_info &info) {
      return info.has_range
                 ? static_cast<int32_t>((j * 7919) % (info.max_value + 1))
                 : 0;
    });
    ASSERT_FALSE(inputs.empty());
  }
  void TearDown() override { xfc_model_destroy(model); }

  /// The output of one run with `threads` threads.
  std::vector<float> runWith(int threads) {
    xfc_context_options options;
    xfc_context_options_initialize(&options);
    options.num_threads = threads;
    xfc_context *context = nullptr;
    xfc_status status = xfc_context_create(model, &options, &context);
    EXPECT_EQ(status, nullptr) << xfc_status_get_message(status);
    if (status)
      return {};
    EXPECT_EQ(xfc_context_num_threads(context), threads);
    xfc_tensor_info out;
    EXPECT_EQ(xfc_model_output_info(model, 0, &out), nullptr);
    std::vector<float> output(numElements(out));
    std::vector<xfc_buffer> in;
    for (std::vector<int32_t> &v : inputs)
      in.push_back({v.data(), v.size() * sizeof(int32_t)});
    xfc_buffer outBuffer{output.data(), output.size() * sizeof(float)};
    // Twice: the second run reuses the arena the first one left dirty.
    for (int i = 0; i < 2; ++i) {
      status = xfc_context_run(context, in.data(), in.size(), &outBuffer, 1);
      EXPECT_EQ(status, nullptr) << xfc_status_get_message(status);
    }
    xfc_context_destroy(context);
    return output;
  }

  void expectIdenticalAcrossThreadCounts() {
    std::vector<float> one = runWith(1);
    ASSERT_FALSE(one.empty());
    for (int threads : {2, 3}) {
      std::vector<float> many = runWith(threads);
      ASSERT_EQ(many.size(), one.size());
      EXPECT_EQ(std::memcmp(many.data(), one.data(),
                            one.size() * sizeof(float)),
                0)
          << threads << " threads differ from 1";
    }
  }

  std::unique_ptr<ScratchDir> dir;
  xfc_model *model = nullptr;
  std::vector<std::vector<int32_t>> inputs;
};

TEST_F(ThreadingTest, OutputIsBitIdenticalAtEveryThreadCount) {
  expectIdenticalAcrossThreadCounts();
}

TEST_F(ThreadingTest, ConcurrentContextsWithDifferentThreadCounts) {
  std::vector<float> reference = runWith(1);
  ASSERT_FALSE(reference.empty());
  std::vector<std::vector<float>> results(4);
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&, t] { results[t] = runWith(1 + t % 2); });
  for (std::thread &w : workers)
    w.join();
  for (const std::vector<float> &r : results) {
    ASSERT_EQ(r.size(), reference.size());
    EXPECT_EQ(std::memcmp(r.data(), reference.data(),
                          r.size() * sizeof(float)),
              0);
  }
}

TEST_F(ThreadingTest, WorksAfterAnotherOpenMPRuntimeWasLoaded) {
  // GCC's OpenMP runtime, loaded globally the way `import torch` does,
  // with its own thread pool started.
  void *gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_GLOBAL);
  if (!gomp)
    GTEST_SKIP() << "libgomp.so.1 is not installed: " << dlerror();
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(
          dlsym(gomp, "omp_set_num_threads")))
    set(1);
  expectIdenticalAcrossThreadCounts();
}

} // namespace
} // namespace xfc::test
