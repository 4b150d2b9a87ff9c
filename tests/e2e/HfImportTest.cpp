//===- HfImportTest.cpp - Imported HF checkpoints against transformers ----===//
//
// Part of xfc. Each checkpoint folder under tests/e2e/golden/hf (made by
// make_hf_goldens.py with transformers' save_pretrained) is imported,
// compiled with the real compiler, run through the runtime C API and
// compared with the outputs transformers computed (float64) on every row,
// padded positions included (BertModel computes them from the unpadded
// keys, as xfc does). Two routes are covered: the F32 checkpoints go through
// the written spec and weights file (`xfc import-hf`, then `xfc compile
// SPEC.json`), the F16/BF16 ones through `xfc compile DIR` (imported in
// memory). Tolerance 1e-4 absolute, as in EndToEndTest.cpp.
//
//===----------------------------------------------------------------------===//
#include "e2e/GoldenCase.h"
#include "e2e/ScratchDir.h"

#include "xfc/Compiler/Compiler.h"
#include "xfc/Frontend/HfImport.h"
#include "xfc/runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace xfc::test {
namespace {

constexpr double kTolerance = 1e-4;

/// One checkpoint folder and one of its shapes.
struct HfCase {
  std::string name; ///< Folder name, e.g. "gpt2_tiny".
  std::string dir;
  GoldenShape shape;
  std::string testName() const { return name + "_" + shape.name; }
};

std::vector<HfCase> listHfCases() {
  namespace fs = std::filesystem;
  std::vector<HfCase> cases;
  const std::string root = goldenRoot() + "/hf";
  std::error_code ec;
  for (const fs::directory_entry &entry : fs::directory_iterator(root, ec)) {
    if (!entry.is_directory() ||
        !fs::is_regular_file(entry.path() / "config.json"))
      continue;
    for (const fs::directory_entry &sub :
         fs::directory_iterator(entry.path(), ec)) {
      HfCase c;
      if (!sub.is_directory() ||
          !parseGoldenShapeName(sub.path().filename().string(), c.shape))
        continue;
      c.name = entry.path().filename().string();
      c.dir = entry.path().string();
      c.shape.dir = sub.path().string();
      cases.push_back(c);
    }
  }
  std::sort(cases.begin(), cases.end(), [](const HfCase &a, const HfCase &b) {
    return a.testName() < b.testName();
  });
  return cases;
}

/// Opens `artifact`, runs it on `inputs` and returns its single output.
std::vector<float> runArtifact(const std::string &artifact,
                               std::vector<std::vector<int32_t>> inputs) {
  xfc_model *model = nullptr;
  xfc_status status = xfc_model_open(artifact.c_str(), nullptr, &model);
  EXPECT_EQ(status, nullptr) << xfc_status_get_message(status);
  if (status) {
    xfc_status_free(status);
    return {};
  }
  std::vector<xfc_buffer> in;
  for (std::vector<int32_t> &v : inputs)
    in.push_back({v.data(), v.size() * sizeof(int32_t)});
  xfc_tensor_info info;
  EXPECT_EQ(xfc_model_output_info(model, 0, &info), nullptr);
  int64_t n = 1;
  for (int32_t d = 0; d < info.rank; ++d)
    n *= info.dims[d];
  std::vector<float> out(n, std::nanf(""));
  xfc_buffer outBuffer{out.data(), out.size() * sizeof(float)};
  status = xfc_model_run(model, in.data(), in.size(), &outBuffer, 1);
  EXPECT_EQ(status, nullptr) << xfc_status_get_message(status);
  xfc_status_free(status);
  xfc_model_destroy(model);
  return out;
}

} // namespace

void PrintTo(const HfCase &c, std::ostream *os) { *os << c.testName(); }

namespace {

class HfImportGoldenTest : public ::testing::TestWithParam<HfCase> {};

TEST_P(HfImportGoldenTest, MatchesTransformers) {
  const HfCase &c = GetParam();
  ScratchDir scratch("hf_" + c.testName());
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(c.dir, "", "", imported, error)) << error;

  // F32 checkpoints: the written spec; F16/BF16: the folder itself.
  const bool viaSpec = c.name.find("_f16") == std::string::npos &&
                       c.name.find("_bf16") == std::string::npos;
  CompileRequest request;
  if (viaSpec) {
    request.specPath = scratch.path() + "/" + c.name + ".json";
    ASSERT_TRUE(writeHfImport(imported, request.specPath, false, error))
        << error;
  } else {
    request.specPath = c.dir;
  }

  GoldenData data;
  ASSERT_TRUE(loadGoldenData(imported.spec, c.shape, data, error)) << error;
  request.shapes = data.shapes;
  request.outputDir = scratch.path() + "/artifact";
  CompileReport report;
  ASSERT_TRUE(compileModel(request, report, error)) << error;
  std::vector<float> out = runArtifact(request.outputDir, data.inputValues);

  ASSERT_EQ(out.size(), data.expected.size());
  double worst = 0;
  size_t worstIndex = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    double err = std::fabs(double(out[i]) - double(data.expected[i]));
    if (std::isnan(err))
      err = INFINITY;
    if (err > worst) {
      worst = err;
      worstIndex = i;
    }
  }
  EXPECT_LE(worst, kTolerance) << "worst flat index " << worstIndex;
  ::testing::Test::RecordProperty("max_abs_error_vs_transformers",
                                  std::to_string(worst));
  std::printf("[  error   ] %s (%s): max |xfc - transformers| = %.3g over "
              "%zu values\n",
              c.testName().c_str(), viaSpec ? "import-hf + spec" : "folder",
              worst, out.size());
}

INSTANTIATE_TEST_SUITE_P(HfGoldens, HfImportGoldenTest,
                         ::testing::ValuesIn(listHfCases()),
                         [](const ::testing::TestParamInfo<HfCase> &info) {
                           return info.param.testName();
                         });

/// A model that is wrong must fail the comparison: the GPT-2 checkpoint
/// with its Conv1D weights left in [in, out] (the c_proj of layer 0 is
/// square, so only the values, not the shapes, are wrong).
TEST(HfImportMutation, UntransposedConv1DIsCaught) {
  HfCase c;
  for (const HfCase &candidate : listHfCases())
    if (candidate.testName() == "gpt2_tiny_s7")
      c = candidate;
  ASSERT_FALSE(c.dir.empty());
  ScratchDir scratch("hf_mutation");
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(c.dir, "", "", imported, error)) << error;
  const std::string name = "decoder.layers.0.self_attn.out.weight";
  HostTensor w = *imported.weights.find(name);
  HostTensor t = w;
  for (int64_t r = 0; r < 64; ++r)
    for (int64_t k = 0; k < 64; ++k)
      t.data[r * 64 + k] = w.data[k * 64 + r];
  imported.weights.insert(name, t);
  CompileRequest request;
  request.specPath = scratch.path() + "/m.json";
  ASSERT_TRUE(writeHfImport(imported, request.specPath, false, error)) << error;
  GoldenData data;
  ASSERT_TRUE(loadGoldenData(imported.spec, c.shape, data, error)) << error;
  request.shapes = data.shapes;
  request.outputDir = scratch.path() + "/artifact";
  CompileReport report;
  ASSERT_TRUE(compileModel(request, report, error)) << error;
  std::vector<float> out = runArtifact(request.outputDir, data.inputValues);
  double worst = 0;
  for (size_t i = 0; i < out.size(); ++i)
    worst = std::max(worst, std::fabs(double(out[i]) - data.expected[i]));
  EXPECT_GT(worst, 100 * kTolerance);
}

} // namespace
} // namespace xfc::test
