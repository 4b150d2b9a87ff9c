//===- TransformerXLTest.cpp - Segment recurrence against goldens -*- C++
//-*-===//
//
// Part of xfc. Compiles the Transformer-XL goldens
// (tests/e2e/golden/transformer_xl, made by make_transformer_xl_goldens.py
// after the authors' code) and runs their three segments one after another
// through one run context: each segment's logits and every layer's memory
// after it (xfc_context_get_memory) must match the float64 PyTorch model.
// Then the memory API: reset_memory reproduces segment 1, set_memory with
// a saved state reproduces a later segment, a fresh context (no memory)
// gives the different logits of a model without memory, and bad calls get
// clear errors. The goldens also pass with every memory access of the
// generated code bounds-checked, and deliberately wrong lowerings (masks
// dropped, causal limit off by one, shift reversed) fail them.
//
// Tolerance: 2e-4 absolute on logits of magnitude up to ~40 and 1e-4 on the
// memories (O(1..5)); the compiled code differs from the float64 oracle by
// fp32 rounding only (measured at most 5.7e-5). A wrong shift, mask or memory
// alignment moves the outputs by far more (the script checks that dropping
// the memory alone changes the last segment's logits by > 6).
//
//===----------------------------------------------------------------------===//
#include "e2e/ScratchDir.h"

#include "xfc/Compiler/Compiler.h"
#include "xfc/Support/Npy.h"
#include "xfc/runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace xfc::test {
namespace {

constexpr double kLogitTolerance = 2e-4;
constexpr double kMemoryTolerance = 1e-4;
constexpr int kSegments = 3;

std::string caseDir(const std::string &name) {
  return std::string(XFC_SOURCE_DIR) + "/tests/e2e/golden/transformer_xl/" +
         name;
}

NpyArray load(const std::string &path) {
  NpyArray array;
  std::string error;
  EXPECT_TRUE(readNpy(path, array, error)) << error;
  return array;
}

std::vector<float> floats(const NpyArray &array) {
  std::vector<float> out(array.bytes.size() / sizeof(float));
  std::memcpy(out.data(), array.bytes.data(), out.size() * sizeof(float));
  return out;
}

double maxAbsDiff(const std::vector<float> &a, const std::vector<float> &b) {
  if (a.size() != b.size())
    return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(double(a[i]) - double(b[i]));
    if (std::isnan(d))
      return INFINITY;
    worst = std::max(worst, d);
  }
  return worst;
}

/// Takes and frees a status: "" for success, else its message.
std::string message(xfc_status status) {
  std::string text = status ? xfc_status_get_message(status) : "";
  xfc_status_free(status);
  return text;
}

/// One golden case compiled and opened, with a context.
class TransformerXLTest : public ::testing::TestWithParam<const char *> {
protected:
  /// Each case is compiled once for all the tests of the suite.
  static void TearDownTestSuite() { scratch.reset(); }

  void SetUp() override {
    dir = caseDir(GetParam());
    // One folder per process: ctest runs each test in a process of its
    // own, in parallel, and a ScratchDir empties its folder.
    if (!scratch)
      scratch = std::make_unique<ScratchDir>("transformer-xl-" +
                                             std::to_string(getpid()));
    std::string artifact = scratch->path() + "/" + GetParam();
    if (!std::filesystem::exists(artifact + "/manifest.json")) {
      NpyArray ids = load(dir + "/segment1_input_ids.npy");
      ASSERT_EQ(ids.shape.size(), 2u);
      CompileRequest request;
      request.specPath = dir + "/model.json";
      request.shapes.batch = ids.shape[0];
      request.shapes.seqLen = ids.shape[1];
      request.outputDir = artifact;
      request.force = true;
      CompileReport report;
      std::string error;
      ASSERT_TRUE(compileModel(request, report, error)) << error;
    }
    ASSERT_EQ(message(xfc_model_open(artifact.c_str(), nullptr, &model)), "");
    ASSERT_EQ(message(xfc_context_create(model, nullptr, &context)), "");
    ASSERT_EQ(message(xfc_model_memory_info(model, &memory)), "");
  }

  void TearDown() override {
    xfc_context_destroy(context);
    xfc_model_destroy(model);
  }

  /// Runs segment `s` (1-based) in the context; returns its logits.
  std::vector<float> runSegment(int s, xfc_context *in = nullptr) {
    NpyArray ids =
        load(dir + "/segment" + std::to_string(s) + "_input_ids.npy");
    xfc_tensor_info info;
    EXPECT_EQ(message(xfc_model_output_info(model, 0, &info)), "");
    size_t n = 1;
    for (int32_t d = 0; d < info.rank; ++d)
      n *= info.dims[d];
    std::vector<float> logits(n, std::nanf(""));
    xfc_buffer input{ids.bytes.data(), ids.bytes.size()};
    xfc_buffer output{logits.data(), logits.size() * sizeof(float)};
    EXPECT_EQ(
        message(xfc_context_run(in ? in : context, &input, 1, &output, 1)), "");
    return logits;
  }

  std::vector<float> expectedLogits(int s) {
    return floats(load(dir + "/segment" + std::to_string(s) + "_logits.npy"));
  }

  std::vector<float> expectedMemory(int s, size_t layer) {
    return floats(load(dir + "/segment" + std::to_string(s) + "_memory" +
                       std::to_string(layer) + ".npy"));
  }

  std::vector<float> contextMemory(size_t layer) {
    std::vector<float> out(memory.layer.dims[0] * memory.layer.dims[1] *
                           memory.layer.dims[2]);
    xfc_buffer buffer{out.data(), out.size() * sizeof(float)};
    EXPECT_EQ(message(xfc_context_get_memory(context, layer, &buffer)), "");
    return out;
  }

  void resetMemoryReproducesTheFirstSegment();
  void memoryMattersAndSetMemoryRestoresIt();
  void memoryCallsCheckTheirArguments();

  static std::unique_ptr<ScratchDir> scratch;
  std::string dir;
  xfc_model *model = nullptr;
  xfc_context *context = nullptr;
  xfc_memory_info memory{};
};

std::unique_ptr<ScratchDir> TransformerXLTest::scratch;

TEST_P(TransformerXLTest, SegmentsInSequenceMatchTheReference) {
  // The caller sees only the token ids and the logits.
  EXPECT_EQ(xfc_model_num_inputs(model), 1u);
  EXPECT_EQ(xfc_model_num_outputs(model), 1u);
  ASSERT_EQ(memory.num_layers, 2u);
  NpyArray mem1 = load(dir + "/segment1_memory0.npy");
  EXPECT_EQ(memory.memory_length, mem1.shape[1]);
  int64_t m = memory.memory_length, len = memory.segment_length;
  int64_t filled = -1;
  ASSERT_EQ(message(xfc_context_memory_filled(context, &filled)), "");
  EXPECT_EQ(filled, 0);
  for (int s = 1; s <= kSegments; ++s) {
    SCOPED_TRACE("segment " + std::to_string(s));
    double diff = maxAbsDiff(runSegment(s), expectedLogits(s));
    EXPECT_LE(diff, kLogitTolerance);
    std::printf("[ measured ] %s segment %d: max |logit - golden| = %.3g\n",
                GetParam(), s, diff);
    ASSERT_EQ(message(xfc_context_memory_filled(context, &filled)), "");
    EXPECT_EQ(filled, std::min<int64_t>(m, s * len));
    for (size_t layer = 0; layer < memory.num_layers; ++layer)
      EXPECT_LE(maxAbsDiff(contextMemory(layer), expectedMemory(s, layer)),
                kMemoryTolerance)
          << "layer " << layer;
  }
}

// The memory API, in one test so that ctest, which runs every test in a
// process of its own, compiles each case only twice.
TEST_P(TransformerXLTest, MemoryApi) {
  SCOPED_TRACE("reset");
  resetMemoryReproducesTheFirstSegment();
  SCOPED_TRACE("set");
  memoryMattersAndSetMemoryRestoresIt();
  SCOPED_TRACE("errors");
  memoryCallsCheckTheirArguments();
}

void TransformerXLTest::resetMemoryReproducesTheFirstSegment() {
  std::vector<float> first = runSegment(1);
  runSegment(2);
  ASSERT_EQ(message(xfc_context_reset_memory(context)), "");
  int64_t filled = -1;
  ASSERT_EQ(message(xfc_context_memory_filled(context, &filled)), "");
  EXPECT_EQ(filled, 0);
  std::vector<float> again = runSegment(1);
  // The same code on the same (empty) memory: bit for bit.
  EXPECT_EQ(maxAbsDiff(first, again), 0.0);
  EXPECT_LE(maxAbsDiff(runSegment(2), expectedLogits(2)), kLogitTolerance);
}

void TransformerXLTest::memoryMattersAndSetMemoryRestoresIt() {
  // Segment 3 with no memory (a fresh context) is a different answer.
  xfc_context *fresh = nullptr;
  ASSERT_EQ(message(xfc_context_create(model, nullptr, &fresh)), "");
  EXPECT_GT(maxAbsDiff(runSegment(3, fresh), expectedLogits(3)), 1.0);
  // Segment 3 after setting the memory segment 2 left: the golden.
  std::vector<std::vector<float>> saved;
  std::vector<xfc_buffer> buffers;
  for (size_t layer = 0; layer < memory.num_layers; ++layer)
    saved.push_back(expectedMemory(2, layer));
  for (std::vector<float> &layer : saved)
    buffers.push_back({layer.data(), layer.size() * sizeof(float)});
  int64_t filled = std::min(memory.memory_length, 2 * memory.segment_length);
  ASSERT_EQ(message(xfc_context_set_memory(fresh, buffers.data(),
                                           buffers.size(), filled)),
            "");
  EXPECT_LE(maxAbsDiff(runSegment(3, fresh), expectedLogits(3)),
            kLogitTolerance);
  xfc_context_destroy(fresh);
}

void TransformerXLTest::memoryCallsCheckTheirArguments() {
  std::vector<float> small(3);
  xfc_buffer buffer{small.data(), small.size() * sizeof(float)};
  EXPECT_NE(message(xfc_context_get_memory(context, 0, &buffer))
                .find("expected size_bytes"),
            std::string::npos);
  EXPECT_NE(message(xfc_context_get_memory(context, 2, &buffer))
                .find("layer 2 is out of range (2 layers)"),
            std::string::npos);
  EXPECT_NE(message(xfc_context_set_memory(context, &buffer, 1, 0))
                .find("expected 2 layer buffers, found 1"),
            std::string::npos);
  std::vector<float> full(memory.layer.dims[0] * memory.layer.dims[1] *
                          memory.layer.dims[2]);
  xfc_buffer two[2] = {{full.data(), full.size() * sizeof(float)},
                       {full.data(), full.size() * sizeof(float)}};
  EXPECT_NE(
      message(xfc_context_set_memory(context, two, 2, memory.memory_length + 1))
          .find("expected 0 to " + std::to_string(memory.memory_length)),
      std::string::npos);
  EXPECT_NE(message(xfc_context_reset_memory(nullptr)).find("NULL"),
            std::string::npos);
  EXPECT_EQ(message(xfc_context_get_memory(context, 0, nullptr)),
            "xfc_context_get_memory: the buffer is NULL");
  EXPECT_NE(message(xfc_context_set_memory(context, nullptr, 2, 0))
                .find("expected 2 layer buffers, found 2 (NULL array)"),
            std::string::npos);
}

/// Compiles case `name` with `pipeline` into `dir` and returns the largest
/// logit error over the three segments run in one context.
double worstSegmentError(const std::string &name, const std::string &dir,
                         const CpuPipelineOptions &pipeline) {
  std::string golden = caseDir(name);
  NpyArray ids = load(golden + "/segment1_input_ids.npy");
  CompileRequest request;
  request.specPath = golden + "/model.json";
  request.shapes.batch = ids.shape[0];
  request.shapes.seqLen = ids.shape[1];
  request.outputDir = dir;
  request.force = true;
  request.pipeline = pipeline;
  CompileReport report;
  std::string error;
  EXPECT_TRUE(compileModel(request, report, error)) << error;
  xfc_model *model = nullptr;
  xfc_context *context = nullptr;
  EXPECT_EQ(message(xfc_model_open(dir.c_str(), nullptr, &model)), "");
  EXPECT_EQ(message(xfc_context_create(model, nullptr, &context)), "");
  double worst = 0;
  for (int s = 1; s <= kSegments && model && context; ++s) {
    std::string prefix = golden + "/segment" + std::to_string(s);
    NpyArray in = load(prefix + "_input_ids.npy");
    std::vector<float> expected = floats(load(prefix + "_logits.npy"));
    std::vector<float> logits(expected.size(), std::nanf(""));
    xfc_buffer input{in.bytes.data(), in.bytes.size()};
    xfc_buffer output{logits.data(), logits.size() * sizeof(float)};
    EXPECT_EQ(message(xfc_context_run(context, &input, 1, &output, 1)), "");
    worst = std::max(worst, maxAbsDiff(logits, expected));
  }
  xfc_context_destroy(context);
  xfc_model_destroy(model);
  return worst;
}

// Every memory read of the generated code bounds-checked (MLIR's runtime
// verification): the clamped shift and concatenation indices stay inside
// their tensors on every segment.
TEST(TransformerXLChecks, GoldensPassWithRuntimeVerification) {
  ScratchDir scratch("transformer-xl-verified");
  CpuPipelineOptions pipeline;
  pipeline.runtimeVerification = true;
  for (const char *name : {"post_m8_l7", "pre_m5_l7"})
    EXPECT_LE(worstSegmentError(name, scratch.path() + "/" + name, pipeline),
              kLogitTolerance)
        << name;
}

// The comparison catches the plausible bugs: no masks (the unfilled memory
// and future keys attended to), the causal limit one key too far, and the
// shift read the wrong way round (row L - 1 + i - j).
TEST(TransformerXLChecks, MutatedLoweringsFailTheComparison) {
  ScratchDir scratch("transformer-xl-faults");
  for (const char *fault :
       {"drop-mask", "causal-off-by-one", "permute-heads"}) {
    CpuPipelineOptions pipeline;
    pipeline.testFault = fault;
    EXPECT_GT(
        worstSegmentError("post_m8_l7", scratch.path() + "/" + fault, pipeline),
        100 * kLogitTolerance)
        << fault;
  }
}

INSTANTIATE_TEST_SUITE_P(Goldens, TransformerXLTest,
                         ::testing::Values("post_m8_l7", "pre_m5_l7"));

} // namespace
} // namespace xfc::test
