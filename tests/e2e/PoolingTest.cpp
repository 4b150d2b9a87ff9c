//===- PoolingTest.cpp - Sentence embeddings against goldens ----*- C++ -*-===//
//
// Part of xfc. Compiles the pooling goldens (tests/e2e/golden/pooling, made
// by make_pooling_goldens.py from PyTorch modules pooled the way
// sentence-transformers pools) and checks both outputs of each shape: the
// hidden states on the valid rows and the sentence embedding of every item
// (full and padded rows, seq 1, 7 and 77), against the float64 PyTorch
// model and against the double-precision reference model. An empty item
// (length 0), which the goldens cannot hold (PyTorch's encoder gives NaN
// there), is checked against the reference: zeros.
//
// Tolerances: the hidden states are O(1..4) and the compiled code differs
// from float64 by float32 rounding (measured below 1e-5); the normalized
// embedding is O(0.3) and the unnormalized mean O(3). A pooling that read a
// padded position or divided by S instead of the length moves the
// embedding by more than 1e-2 (the padded rows of the goldens differ in
// length by 3 and 6 positions).
//
//===----------------------------------------------------------------------===//
#include "e2e/ScratchDir.h"
#include "reference/ReferenceModel.h"

#include "xfc/Compiler/Compiler.h"
#include "xfc/Frontend/SpecParser.h"
#include "xfc/Frontend/Weights.h"
#include "xfc/Support/Npy.h"
#include "xfc/runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace xfc::test {
namespace {

constexpr double kHiddenTolerance = 1e-4;
constexpr double kEmbeddingTolerance = 2e-5;

std::string goldenDir() {
  return std::string(XFC_SOURCE_DIR) + "/tests/e2e/golden/pooling";
}

NpyArray load(const std::string &path) {
  NpyArray array;
  std::string error;
  EXPECT_TRUE(readNpy(path, array, error)) << error;
  return array;
}

template <typename T> std::vector<T> values(const NpyArray &array) {
  std::vector<T> out(array.bytes.size() / sizeof(T));
  std::memcpy(out.data(), array.bytes.data(), out.size() * sizeof(T));
  return out;
}

std::string message(xfc_status status) {
  std::string text = status ? xfc_status_get_message(status) : "";
  xfc_status_free(status);
  return text;
}

struct PoolingCase {
  const char *name;
  int64_t seqLen;
};

std::string caseName(const ::testing::TestParamInfo<PoolingCase> &info) {
  return std::string(info.param.name) + "_s" +
         std::to_string(info.param.seqLen);
}

class PoolingTest : public ::testing::TestWithParam<PoolingCase> {
protected:
  static void TearDownTestSuite() { scratch.reset(); }

  void SetUp() override {
    caseDir = goldenDir() + "/" + GetParam().name;
    shapeDir = caseDir + "/s" + std::to_string(GetParam().seqLen);
    if (!scratch)
      scratch = std::make_unique<ScratchDir>("pooling-" +
                                             std::to_string(getpid()));
    ids = load(shapeDir + "/input_ids.npy");
    ASSERT_EQ(ids.shape.size(), 2u);
    shapes.batch = ids.shape[0];
    shapes.seqLen = ids.shape[1];
    std::string artifact = scratch->path() + "/" + GetParam().name + "_s" +
                           std::to_string(shapes.seqLen);
    CompileRequest request;
    request.specPath = caseDir + "/spec.json";
    request.shapes = shapes;
    request.outputDir = artifact;
    request.force = true;
    CompileReport report;
    std::string error;
    // Compiled once per case and shape for all the tests of the suite.
    if (!std::filesystem::exists(artifact + "/manifest.json"))
      ASSERT_TRUE(compileModel(request, report, error)) << error;
    ASSERT_EQ(message(xfc_model_open(artifact.c_str(), nullptr, &model)), "");
    SpecError specError;
    ASSERT_TRUE(parseModelSpecFile(request.specPath, spec, specError))
        << specError.message();
    ASSERT_TRUE(loadWeights(spec, weights, error)) << error;
  }

  void TearDown() override { xfc_model_destroy(model); }

  /// Runs the artifact on the golden inputs with `lengths` replaced;
  /// fills both outputs.
  void run(const std::vector<int32_t> &lengths, std::vector<float> &hidden,
           std::vector<float> &embedding) {
    NpyArray types = load(shapeDir + "/token_type_ids.npy");
    hidden.assign(shapes.batch * shapes.seqLen * spec.dModel, NAN);
    embedding.assign(shapes.batch * spec.dModel, NAN);
    xfc_buffer inputs[] = {
        {ids.bytes.data(), ids.bytes.size()},
        {types.bytes.data(), types.bytes.size()},
        {const_cast<int32_t *>(lengths.data()),
         lengths.size() * sizeof(int32_t)}};
    xfc_buffer outputs[] = {{hidden.data(), hidden.size() * sizeof(float)},
                            {embedding.data(),
                             embedding.size() * sizeof(float)}};
    ASSERT_EQ(message(xfc_model_run(model, inputs, 3, outputs, 2)), "");
  }

  /// The reference model's hidden states and embedding for `lengths`.
  void reference(const std::vector<int32_t> &lengths,
                 std::vector<float> &hidden, std::vector<float> &embedding) {
    NpyArray types = load(shapeDir + "/token_type_ids.npy");
    std::string error;
    ASSERT_TRUE(reference::runReferenceModel(
        spec, weights, shapes,
        {values<int32_t>(ids), values<int32_t>(types), lengths}, hidden, error,
        &embedding))
        << error;
  }

  static std::unique_ptr<ScratchDir> scratch;
  std::string caseDir, shapeDir;
  ShapeOptions shapes;
  ModelSpec spec;
  WeightStore weights;
  NpyArray ids;
  xfc_model *model = nullptr;
};

std::unique_ptr<ScratchDir> PoolingTest::scratch;

double maxAbsDiff(const std::vector<float> &a, const std::vector<float> &b) {
  if (a.size() != b.size())
    return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(double(a[i]) - double(b[i]));
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  return worst;
}

/// The lowest cosine similarity between matching rows of width `d`.
double minCosine(const std::vector<float> &a, const std::vector<float> &b,
                 int64_t d) {
  double worst = 1;
  for (size_t r = 0; r * d < a.size(); ++r) {
    double dot = 0, na = 0, nb = 0;
    for (int64_t c = 0; c < d; ++c) {
      double x = a[r * d + c], y = b[r * d + c];
      dot += x * y, na += x * x, nb += y * y;
    }
    worst = std::min(worst, dot / std::sqrt(na * nb));
  }
  return worst;
}

TEST_P(PoolingTest, MatchesPyTorchAndReference) {
  std::vector<int32_t> lengths =
      values<int32_t>(load(shapeDir + "/lengths.npy"));
  std::vector<float> hidden, embedding;
  run(lengths, hidden, embedding);
  std::vector<float> expectedHidden =
      values<float>(load(shapeDir + "/hidden_states.npy"));
  std::vector<float> expected =
      values<float>(load(shapeDir + "/sentence_embedding.npy"));
  ASSERT_EQ(hidden.size(), expectedHidden.size());
  ASSERT_EQ(embedding.size(), expected.size());

  // Hidden states: valid rows only.
  double hiddenDiff = 0;
  for (int64_t b = 0; b < shapes.batch; ++b)
    for (int64_t j = 0; j < lengths[b]; ++j)
      for (int64_t c = 0; c < spec.dModel; ++c) {
        size_t i = (b * shapes.seqLen + j) * spec.dModel + c;
        hiddenDiff = std::max(
            hiddenDiff, std::fabs(double(hidden[i]) - expectedHidden[i]));
      }
  EXPECT_LE(hiddenDiff, kHiddenTolerance);
  double diff = maxAbsDiff(embedding, expected);
  EXPECT_LE(diff, kEmbeddingTolerance);
  EXPECT_GE(minCosine(embedding, expected, spec.dModel), 0.99999);

  std::vector<float> refHidden, refEmbedding;
  reference(lengths, refHidden, refEmbedding);
  EXPECT_LE(maxAbsDiff(refEmbedding, expected), kEmbeddingTolerance);
  EXPECT_LE(maxAbsDiff(embedding, refEmbedding), kEmbeddingTolerance);
  if (spec.pooling.normalize)
    for (int64_t b = 0; b < shapes.batch; ++b) {
      double norm = 0;
      for (int64_t c = 0; c < spec.dModel; ++c)
        norm += double(embedding[b * spec.dModel + c]) *
                embedding[b * spec.dModel + c];
      EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5) << "item " << b;
    }
  std::printf("%s s%lld: hidden max |diff| %.3g, embedding max |diff| %.3g\n",
              GetParam().name, static_cast<long long>(shapes.seqLen),
              hiddenDiff, diff);
}

/// The goldens must tell a correct pooling from a wrong one: pooling the
/// golden hidden states over all S positions (ignoring lengths) must miss
/// them (a mean over padded rows) whenever an item is padded.
TEST_P(PoolingTest, GoldensRejectPoolingOverPaddedPositions) {
  if (spec.pooling.mode != PoolingMode::Mean || shapes.seqLen < 2)
    GTEST_SKIP() << "no padded position to pool over";
  std::vector<float> expected =
      values<float>(load(shapeDir + "/sentence_embedding.npy"));
  std::vector<int32_t> full(shapes.batch, int32_t(shapes.seqLen));
  std::vector<float> hidden, unmasked;
  run(full, hidden, unmasked);
  EXPECT_GT(maxAbsDiff(unmasked, expected), 1e-2);
}

/// An empty item pools to zeros (sentence-transformers' clamped division;
/// normalize keeps a zero vector zero), never NaN; the other items are
/// unaffected.
TEST_P(PoolingTest, EmptyItemGivesZeros) {
  if (spec.pooling.mode != PoolingMode::Mean)
    GTEST_SKIP() << "cls pools position 0 whatever the length";
  std::vector<int32_t> lengths(shapes.batch, int32_t(shapes.seqLen));
  lengths[1] = 0;
  std::vector<float> hidden, embedding, refHidden, refEmbedding;
  run(lengths, hidden, embedding);
  reference(lengths, refHidden, refEmbedding);
  EXPECT_LE(maxAbsDiff(embedding, refEmbedding), kEmbeddingTolerance);
  for (int64_t c = 0; c < spec.dModel; ++c)
    ASSERT_EQ(embedding[spec.dModel + c], 0.0f) << "column " << c;
}

INSTANTIATE_TEST_SUITE_P(Goldens, PoolingTest,
                         ::testing::Values(PoolingCase{"mean_normalize", 1},
                                           PoolingCase{"mean_normalize", 7},
                                           PoolingCase{"mean_normalize", 77},
                                           PoolingCase{"mean", 7},
                                           PoolingCase{"cls_normalize", 7}),
                         caseName);

} // namespace
} // namespace xfc::test
