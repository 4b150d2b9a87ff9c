//===- BucketTest.cpp - Artifacts compiled for several shapes ---*- C++ -*-===//
//
// Part of xfc. Compiles the golden BERT-like encoder (key padding mask) and
// GPT-like decoder (causal, no lengths input) once with shape buckets
// (`xfc compile --buckets`) and once per length for exactly that length,
// runs both on the golden inputs of lengths 1, 7 and 77, and checks that
// the bucketed artifact, which pads the inputs to the smallest bucket that
// holds them, gives the outputs of the artifact compiled at that length.
//
// Tolerance: padding must not change the valid outputs at all in exact
// arithmetic; in float32 the padded keys add exact zeros to the softmax
// sums, but the kernels tile and group their sums differently for another
// sequence length, so the results differ by rounding accumulated over the
// two layers. Measured: at most 1.7e-6 for the encoder's hidden states and
// 3.7e-6 for the decoder's logits (|x| up to ~5; relative where |x| > 1);
// the test allows 1e-5, far below what a padded key that leaked into the
// valid rows causes (checked below: above 1e-3). Also checked against the
// PyTorch goldens (1e-4, as tests/e2e/EndToEndTest.cpp), and the errors of
// shaped runs.
//
//===----------------------------------------------------------------------===//
#include "e2e/ScratchDir.h"

#include "xfc/Compiler/Buckets.h"
#include "xfc/Compiler/Compiler.h"
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

constexpr double kBucketTolerance = 1e-5;
constexpr double kGoldenTolerance = 1e-4;

std::string goldenDir(const std::string &model) {
  return std::string(XFC_SOURCE_DIR) + "/tests/e2e/golden/" + model;
}

NpyArray load(const std::string &path) {
  NpyArray array;
  std::string error;
  EXPECT_TRUE(readNpy(path, array, error)) << error;
  return array;
}

std::string message(xfc_status status) {
  std::string text = status ? xfc_status_get_message(status) : "";
  xfc_status_free(status);
  return text;
}

/// Compiles `model`'s golden spec into `out`, for `buckets` if given, else
/// for exactly `shapes`.
void compile(const std::string &model, const std::string &out,
             const ShapeOptions &shapes,
             const std::vector<ShapeOptions> &buckets = {}) {
  CompileRequest request;
  request.specPath = goldenDir(model) + "/spec.json";
  request.shapes = shapes;
  request.buckets = buckets;
  request.outputDir = out;
  request.force = true;
  CompileReport report;
  std::string error;
  ASSERT_TRUE(compileModel(request, report, error)) << error;
}

struct OpenModel {
  xfc_model *model = nullptr;
  ~OpenModel() { xfc_model_destroy(model); }
};

/// The golden inputs of `model` at `shapeCase` ("s7"), in input order.
std::vector<NpyArray> goldenInputs(const std::string &model,
                                   const std::string &shapeCase) {
  std::string dir = goldenDir(model) + "/" + shapeCase;
  std::vector<NpyArray> inputs{load(dir + "/input_ids.npy")};
  if (model == "bert_like") {
    inputs.push_back(load(dir + "/token_type_ids.npy"));
    inputs.push_back(load(dir + "/lengths.npy"));
  }
  return inputs;
}

/// Runs `model` on `inputs` of shape (batch, seqLen), shaped when asked,
/// into one output of `outputElements` floats.
std::vector<float> run(xfc_model *model, std::vector<NpyArray> &inputs,
                       int64_t batch, int64_t seqLen, size_t outputElements,
                       bool shaped, std::string *error = nullptr) {
  std::vector<xfc_buffer> buffers;
  for (NpyArray &input : inputs)
    buffers.push_back({input.bytes.data(), input.bytes.size()});
  std::vector<float> output(outputElements, NAN);
  xfc_buffer out{output.data(), output.size() * sizeof(float)};
  xfc_run_shape shape{batch, seqLen, 0};
  std::string text = message(
      shaped ? xfc_model_run_shaped(model, &shape, buffers.data(),
                                    buffers.size(), &out, 1)
             : xfc_model_run(model, buffers.data(), buffers.size(), &out, 1));
  if (error)
    *error = text;
  else
    EXPECT_EQ(text, "");
  return output;
}

struct BucketCase {
  const char *model;
  int64_t batch;
  int64_t width; ///< d_model (hidden states) or vocab (logits).
  std::vector<int64_t> buckets;
};

class BucketTest : public ::testing::TestWithParam<BucketCase> {
protected:
  // The scratch folder (and the artifacts compiled into it) lives until
  // the program ends, so the suites below share the bucketed artifacts.
  void SetUp() override {
    if (!scratch)
      scratch =
          std::make_unique<ScratchDir>("buckets-" + std::to_string(getpid()));
    const BucketCase &c = GetParam();
    bucketed = scratch->path() + "/" + c.model + "-buckets";
    if (std::filesystem::exists(bucketed + "/manifest.json"))
      return;
    std::vector<ShapeOptions> buckets;
    for (int64_t s : c.buckets)
      buckets.push_back(ShapeOptions{c.batch, s, 0});
    compile(c.model, bucketed, ShapeOptions{1, 0, 0}, buckets);
  }

  static std::unique_ptr<ScratchDir> scratch;
  std::string bucketed;
};
std::unique_ptr<ScratchDir> BucketTest::scratch;

TEST_P(BucketTest, PaddedRunsMatchTheArtifactOfThatLength) {
  const BucketCase &c = GetParam();
  OpenModel buckets;
  ASSERT_EQ(message(xfc_model_open(bucketed.c_str(), nullptr, &buckets.model)),
            "");
  ASSERT_EQ(xfc_model_num_buckets(buckets.model), c.buckets.size());
  for (int64_t length : {1, 7, 77}) {
    SCOPED_TRACE("seq_len " + std::to_string(length));
    std::string shapeCase = "s" + std::to_string(length);
    std::string single = scratch->path() + "/" + c.model + "-" + shapeCase;
    compile(c.model, single, ShapeOptions{c.batch, length, 0});
    OpenModel exact;
    ASSERT_EQ(message(xfc_model_open(single.c_str(), nullptr, &exact.model)),
              "");
    std::vector<NpyArray> inputs = goldenInputs(c.model, shapeCase);
    ASSERT_EQ(inputs[0].shape, (std::vector<int64_t>{c.batch, length}));
    size_t elements = c.batch * length * c.width;
    std::vector<float> expected =
        run(exact.model, inputs, c.batch, length, elements, false);
    std::vector<float> padded =
        run(buckets.model, inputs, c.batch, length, elements, true);
    // Relative to the value where it exceeds 1 (logits reach ~10).
    double worst = 0, largest = 0;
    for (size_t i = 0; i < elements; ++i) {
      ASSERT_TRUE(std::isfinite(padded[i])) << "element " << i;
      double scale = std::max(1.0, std::fabs(double(expected[i])));
      worst =
          std::max(worst, std::fabs(double(padded[i]) - expected[i]) / scale);
      largest = std::max(largest, std::fabs(double(expected[i])));
    }
    EXPECT_LE(worst, kBucketTolerance);
    std::printf("%s seq_len %lld: largest difference to the artifact of "
                "that length %.3g (relative where |x| > 1; |x| up to %.3g)\n",
                c.model, (long long)length, worst, largest);

    // The comparison sees a leak: the same padded run with the padded key
    // unmasked (lengths 8 in the bucket of 8) moves the valid rows.
    if (inputs.size() == 3 && length == 7) {
      std::vector<NpyArray> leaky = inputs;
      for (size_t k : {0, 1}) {
        std::vector<uint8_t> &bytes = leaky[k].bytes;
        std::vector<uint8_t> grown;
        for (int64_t b = 0; b < c.batch; ++b) {
          grown.insert(grown.end(), bytes.begin() + b * 7 * 4,
                       bytes.begin() + (b + 1) * 7 * 4);
          grown.insert(grown.end(), 4, 0);
        }
        bytes = grown;
        leaky[k].shape[1] = 8;
      }
      std::vector<int32_t> all(c.batch, 8);
      std::memcpy(leaky[2].bytes.data(), all.data(), c.batch * 4);
      std::vector<float> wide =
          run(buckets.model, leaky, c.batch, 8, c.batch * 8 * c.width, true);
      double moved = 0;
      for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t row = 0; row < 7; ++row)
          for (int64_t k = 0; k < c.width; ++k)
            moved = std::max(
                moved, std::fabs(double(wide[(b * 8 + row) * c.width + k]) -
                                 expected[(b * 7 + row) * c.width + k]));
      EXPECT_GT(moved, 1e-3) << "an unmasked padded key changes nothing?";
    }

    // And the PyTorch golden, on the rows of the valid positions.
    NpyArray golden =
        load(goldenDir(c.model) + "/" + shapeCase + "/expected.npy");
    ASSERT_EQ(golden.bytes.size(), elements * sizeof(float));
    std::vector<float> reference(elements);
    std::memcpy(reference.data(), golden.bytes.data(), golden.bytes.size());
    std::vector<int32_t> lengths(c.batch, static_cast<int32_t>(length));
    if (inputs.size() == 3)
      std::memcpy(lengths.data(), inputs[2].bytes.data(),
                  lengths.size() * sizeof(int32_t));
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t row = 0; row < lengths[b]; ++row)
        for (int64_t k = 0; k < c.width; ++k) {
          size_t i = (b * length + row) * c.width + k;
          ASSERT_NEAR(padded[i], reference[i], kGoldenTolerance)
              << "batch " << b << " row " << row << " column " << k;
        }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, BucketTest,
    ::testing::Values(BucketCase{"bert_like", 2, 128, {8, 32, 128}},
                      BucketCase{"gpt_like", 2, 96, {8, 32, 96}}),
    [](const ::testing::TestParamInfo<BucketCase> &info) {
      return std::string(info.param.model);
    });

/// The encoder's buckets: which one a shape takes, a smaller batch, the
/// unshaped run, and the errors of shaped runs.
class BucketRunTest : public BucketTest {};

TEST_P(BucketRunTest, SelectionBatchPaddingAndErrors) {
  OpenModel m;
  ASSERT_EQ(message(xfc_model_open(bucketed.c_str(), nullptr, &m.model)), "");
  xfc_run_shape shape{2, 128, 0};
  ASSERT_EQ(message(xfc_model_bucket(m.model, 2, &shape)), "");
  EXPECT_EQ(shape.batch, 2);
  EXPECT_EQ(shape.seq_len, 128);
  EXPECT_EQ(shape.tgt_len, 128);
  xfc_dim dims[XFC_MAX_RANK];
  ASSERT_EQ(message(xfc_model_input_dims(m.model, 0, dims)), "");
  EXPECT_EQ(dims[0], XFC_DIM_BATCH);
  EXPECT_EQ(dims[1], XFC_DIM_SEQ_LEN);
  ASSERT_EQ(message(xfc_model_output_dims(m.model, 0, dims)), "");
  EXPECT_EQ(dims[2], XFC_DIM_FIXED);
  struct Pick {
    int64_t batch, seqLen;
    size_t bucket;
  } picks[] = {{2, 1, 0},  {1, 8, 0},  {2, 9, 1},
               {1, 32, 1}, {2, 33, 2}, {1, 128, 2}};
  for (const Pick &p : picks) {
    xfc_run_shape s{p.batch, p.seqLen, 0};
    size_t index = 99;
    EXPECT_EQ(message(xfc_model_select_bucket(m.model, &s, &index)), "");
    EXPECT_EQ(index, p.bucket) << p.batch << "x" << p.seqLen;
  }
  xfc_run_shape tooLong{2, 129, 0};
  size_t index = 0;
  EXPECT_EQ(message(xfc_model_select_bucket(m.model, &tooLong, &index)),
            "xfc_model_select_bucket: no bucket of model 'bert_like' holds "
            "batch 2, seq_len 129; its buckets (BxS) are 2x8, 2x32, 2x128; "
            "recompile with a larger bucket or split the input");
  xfc_run_shape tooWide{3, 7, 0};
  EXPECT_NE(message(xfc_model_select_bucket(m.model, &tooWide, &index)), "");
  xfc_run_shape empty{1, 0, 0};
  EXPECT_EQ(message(xfc_model_select_bucket(m.model, &empty, &index)),
            "xfc_model_select_bucket: expected a shape with batch >= 1, "
            "seq_len >= 1 and tgt_len >= 0 (0: seq_len), found batch 1, "
            "seq_len 0, tgt_len 0");

  // Batch 1 of the golden's batch-2 inputs: the first item alone, padded
  // to the bucket's batch, gives the first item's outputs.
  std::vector<NpyArray> inputs = goldenInputs("bert_like", "s7");
  std::vector<float> both = run(m.model, inputs, 2, 7, 2 * 7 * 128, true);
  std::vector<NpyArray> first = inputs;
  for (NpyArray &input : first) {
    input.bytes.resize(input.bytes.size() / 2);
    input.shape[0] = 1;
  }
  std::vector<float> one = run(m.model, first, 1, 7, 7 * 128, true);
  for (size_t i = 0; i < one.size(); ++i)
    ASSERT_EQ(one[i], both[i]) << "element " << i;

  // A length beyond the run's is refused although the bucket would allow
  // it: the keys past the run are padding.
  std::vector<NpyArray> bad = inputs;
  int32_t eight = 8;
  std::memcpy(bad[2].bytes.data(), &eight, sizeof(eight));
  std::string error;
  run(m.model, bad, 2, 7, 2 * 7 * 128, true, &error);
  EXPECT_EQ(error, "xfc_model_run_shaped: input 'lengths' element 0 (flat "
                   "index) is 8, outside the allowed range [0, 7]");
  // Buffers sized for the bucket instead of the run.
  run(m.model, inputs, 2, 7, 2 * 8 * 128, true, &error);
  EXPECT_EQ(error, "xfc_model_run_shaped: output 0 ('hidden_states', f32 "
                   "[2, 7, 128]): expected size_bytes 7168, found 8192");
  // The unshaped run is the largest bucket's, as for any artifact.
  std::vector<NpyArray> full = goldenInputs("bert_like", "s128");
  std::vector<float> plain =
      run(m.model, full, 2, 128, 2 * 128 * 128, /*shaped=*/false);
  std::vector<float> shaped =
      run(m.model, full, 2, 128, 2 * 128 * 128, /*shaped=*/true);
  EXPECT_EQ(plain, shaped);
}

INSTANTIATE_TEST_SUITE_P(Encoder, BucketRunTest,
                         ::testing::Values(BucketCase{
                             "bert_like", 2, 128, {8, 32, 128}}),
                         [](const ::testing::TestParamInfo<BucketCase> &) {
                           return std::string("bert_like");
                         });

/// An encoder_decoder pads its source (masked by src_lengths) and its
/// target (causal) separately: source 7 and target 5 in the bucket 8x8.
TEST(BucketEncoderDecoder, PaddedSourceAndTarget) {
  ScratchDir scratch("buckets-encdec-" + std::to_string(getpid()));
  std::string bucketed = scratch.path() + "/buckets";
  std::string single = scratch.path() + "/s7_t5";
  compile("transformer_aiayn", bucketed, ShapeOptions{1, 0, 0},
          {ShapeOptions{2, 8, 8}, ShapeOptions{2, 16, 16}});
  compile("transformer_aiayn", single, ShapeOptions{2, 7, 5});
  OpenModel buckets, exact;
  ASSERT_EQ(message(xfc_model_open(bucketed.c_str(), nullptr, &buckets.model)),
            "");
  ASSERT_EQ(message(xfc_model_open(single.c_str(), nullptr, &exact.model)),
            "");
  std::string dir = goldenDir("transformer_aiayn") + "/s7_t5";
  std::vector<NpyArray> inputs{load(dir + "/src_ids.npy"),
                               load(dir + "/tgt_ids.npy"),
                               load(dir + "/src_lengths.npy")};
  std::vector<xfc_buffer> in;
  for (NpyArray &input : inputs)
    in.push_back({input.bytes.data(), input.bytes.size()});
  const size_t elements = 2 * 5 * 64;
  std::vector<float> padded(elements, NAN), expected(elements, NAN);
  xfc_buffer outPadded{padded.data(), elements * sizeof(float)};
  xfc_buffer outExpected{expected.data(), elements * sizeof(float)};
  xfc_run_shape shape{2, 7, 5};
  size_t index = 9;
  ASSERT_EQ(message(xfc_model_select_bucket(buckets.model, &shape, &index)),
            "");
  EXPECT_EQ(index, 0u);
  ASSERT_EQ(message(xfc_model_run_shaped(buckets.model, &shape, in.data(), 3,
                                         &outPadded, 1)),
            "");
  ASSERT_EQ(
      message(xfc_model_run(exact.model, in.data(), 3, &outExpected, 1)), "");
  NpyArray golden = load(dir + "/expected.npy");
  ASSERT_EQ(golden.bytes.size(), elements * sizeof(float));
  const float *reference = reinterpret_cast<const float *>(golden.bytes.data());
  for (size_t i = 0; i < elements; ++i) {
    double scale = std::max(1.0, std::fabs(double(expected[i])));
    ASSERT_LE(std::fabs(double(padded[i]) - expected[i]) / scale,
              kBucketTolerance)
        << "element " << i;
    ASSERT_NEAR(padded[i], reference[i], kGoldenTolerance) << "element " << i;
  }
  // A target longer than every bucket's.
  xfc_run_shape tooLong{2, 7, 17};
  EXPECT_EQ(message(xfc_model_select_bucket(buckets.model, &tooLong, &index)),
            "xfc_model_select_bucket: no bucket of model 'transformer_aiayn' "
            "holds batch 2, seq_len 7, tgt_len 17; its buckets (BxSxT) are "
            "2x8x8, 2x16x16; recompile with a larger bucket or split the "
            "input");
}

/// An artifact of one shape runs shaped only at that shape.
TEST(BucketSingleShape, ShapedRunsNeedBuckets) {
  ScratchDir scratch("buckets-single-" + std::to_string(getpid()));
  std::string out = scratch.path() + "/s7";
  compile("bert_like", out, ShapeOptions{2, 7, 0});
  OpenModel m;
  ASSERT_EQ(message(xfc_model_open(out.c_str(), nullptr, &m.model)), "");
  EXPECT_EQ(xfc_model_num_buckets(m.model), 0u);
  std::vector<NpyArray> inputs = goldenInputs("bert_like", "s7");
  std::vector<float> plain = run(m.model, inputs, 2, 7, 2 * 7 * 128, false);
  std::vector<float> shaped = run(m.model, inputs, 2, 7, 2 * 7 * 128, true);
  EXPECT_EQ(plain, shaped);
  std::string error;
  run(m.model, inputs, 2, 5, 2 * 5 * 128, true, &error);
  EXPECT_EQ(error, "xfc_model_run_shaped: model 'bert_like' was compiled for "
                   "one shape (batch 2, seq_len 7) and has no buckets; "
                   "compile it with `xfc compile --buckets=...` to run "
                   "other shapes");
}

/// The compiler refuses what it cannot bucket, before any work.
TEST(BucketCompile, ParsesAndRefuses) {
  std::vector<ShapeOptions> buckets;
  std::string error;
  ASSERT_TRUE(parseBucketList("8, 2x32,1x4x6", 3, buckets, error)) << error;
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0].batch, 3);
  EXPECT_EQ(buckets[0].seqLen, 8);
  EXPECT_EQ(buckets[1].batch, 2);
  EXPECT_EQ(buckets[2].tgtLen, 6);
  EXPECT_FALSE(parseBucketList("8,,16", 1, buckets, error));
  EXPECT_EQ(error, "--buckets: expected a comma-separated list of S, BxS or "
                   "BxSxT (positive integers: batch, sequence length, target "
                   "length), found '' in '8,,16'");
  EXPECT_FALSE(parseBucketList("8,1x8", 1, buckets, error));
  EXPECT_EQ(error, "--buckets: bucket 1x8x8 is given twice in '8,1x8'");
}

} // namespace
} // namespace xfc::test
