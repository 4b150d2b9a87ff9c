//===- EndToEndTest.cpp - Compiled models against the oracles ---*- C++ -*-===//
//
// Part of xfc. Every test here compiles a model spec to an artifact with
// the real compiler, opens it with the runtime C API, runs it and compares
// the output with two oracles:
//  - the PyTorch goldens (tests/e2e/golden, made by make_goldens.py), on the
//    rows the goldens define;
//  - the naive C++ reference model (tests/reference), on every row,
//    including padded positions and configurations PyTorch was not run on.
// Tolerance: 1e-4 absolute in fp32 (outputs are O(1..5); the compiled code
// differs from the float64 oracles only by fp32 rounding, measured ~2e-5 at
// worst).
//
// The mutation tests compile the goldens with a deliberately wrong attention
// lowering (mask dropped, causal bound off by one, heads permuted) and check
// that the comparison then fails: the suites can catch these bugs.
//
//===----------------------------------------------------------------------===//
#include "e2e/GoldenCase.h"
#include "e2e/ScratchDir.h"

#include "ReferenceModel.h"
#include "xfc/Compiler/Compiler.h"
#include "xfc/Frontend/SpecParser.h"
#include "xfc/Frontend/Weights.h"
#include "xfc/runtime.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

namespace xfc::test {
namespace {

constexpr double kTolerance = 1e-4;

/// Compiles `specPath` at `shapes` into `dir`/artifact; returns its path.
std::string compileOrFail(const std::string &specPath,
                          const ShapeOptions &shapes, const std::string &dir,
                          const CpuPipelineOptions &pipeline = {},
                          const std::string &cpu = "native",
                          const std::string &fusionPlan = "",
                          const std::string &explainDir = "") {
  CompileRequest request;
  request.specPath = specPath;
  request.shapes = shapes;
  request.outputDir = dir + "/artifact";
  request.fusionPlanPath = fusionPlan;
  request.explainDir = explainDir;
  request.force = true;
  request.pipeline = pipeline;
  request.cpu = cpu;
  CompileReport report;
  std::string error;
  EXPECT_TRUE(compileModel(request, report, error)) << error;
  return request.outputDir;
}

/// Opens `artifact`, runs it on `inputs` (listInputs order, int32) and
/// returns the single f32 output.
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
  EXPECT_EQ(xfc_model_num_outputs(model), 1u);
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

/// Largest |a - b| (NaN counts as infinite).
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

std::vector<float>
referenceOutput(const ModelSpec &spec, const ShapeOptions &shapes,
                const std::vector<std::vector<int32_t>> &in) {
  WeightStore weights;
  std::string error;
  EXPECT_TRUE(loadWeights(spec, weights, error)) << error;
  std::vector<float> out;
  EXPECT_TRUE(
      reference::runReferenceModel(spec, weights, shapes, in, out, error))
      << error;
  return out;
}

//===----------------------------------------------------------------------===//
// Goldens
//===----------------------------------------------------------------------===//

} // namespace

// Short names for test parameters (ctest lists them in every test name).
void PrintTo(const GoldenCaseShape &c, std::ostream *os) {
  *os << c.testName();
}

namespace {

/// Compiles a golden case with `pipeline`, runs it, and checks it against
/// PyTorch (valid rows) and the reference model (every row).
void checkGolden(const GoldenCaseShape &param, const std::string &testName,
                 const CpuPipelineOptions &pipeline,
                 const std::string &fusionPlan = "") {
  ModelSpec spec;
  SpecError specError;
  ASSERT_TRUE(parseModelSpecFile(param.goldenCase.specPath, spec, specError))
      << specError.message();
  GoldenData data;
  std::string error;
  ASSERT_TRUE(loadGoldenData(spec, param.shape, data, error)) << error;

  ScratchDir dir("golden_" + testName);
  std::string artifact =
      compileOrFail(param.goldenCase.specPath, data.shapes, dir.path(),
                    pipeline, "native", fusionPlan);
  std::vector<float> out = runArtifact(artifact, data.inputValues);

  GoldenComparison golden = compareValidRows(data, out.data(), out.size());
  ASSERT_TRUE(golden.sizeMatches);
  EXPECT_GT(golden.comparedRows, 0);
  EXPECT_LE(golden.maxAbsError, kTolerance)
      << "vs PyTorch, worst flat index " << golden.worstIndex;

  std::vector<float> ref = referenceOutput(spec, data.shapes, data.inputValues);
  EXPECT_LE(maxAbsDiff(out, ref), kTolerance) << "vs the reference model";
  ::testing::Test::RecordProperty("max_abs_error_vs_pytorch",
                                  std::to_string(golden.maxAbsError));
  std::printf("[  error   ] %s: max |xfc - PyTorch| = %.3g over %lld rows\n",
              testName.c_str(), golden.maxAbsError,
              (long long)golden.comparedRows);
}

/// ctest names for golden parameters: the case and shape ("bert_like_s7").
std::string
goldenTestName(const ::testing::TestParamInfo<GoldenCaseShape> &info) {
  return info.param.testName();
}

class GoldenTest : public ::testing::TestWithParam<GoldenCaseShape> {};

/// The default pipeline: every fusion on.
TEST_P(GoldenTest, MatchesPyTorchAndReference) {
  checkGolden(GetParam(), GetParam().testName(), CpuPipelineOptions());
}

INSTANTIATE_TEST_SUITE_P(
    Goldens, GoldenTest, ::testing::ValuesIn(listGoldenCaseShapes()),
    goldenTestName);

// Debug mode of the memory plan: every buffer is filled with NaN when its
// lifetime ends, so a buffer reused while still needed turns the output
// into NaN. The goldens must still pass.
class PoisonedGoldenTest : public ::testing::TestWithParam<GoldenCaseShape> {};

/// Compiles `param`'s model with `pipeline` (a debug mode) into a scratch
/// folder named after `folderPrefix` and checks it against PyTorch.
void checkGoldenAgainstPyTorch(const GoldenCaseShape &param,
                               const std::string &folderPrefix,
                               const CpuPipelineOptions &pipeline) {
  ModelSpec spec;
  SpecError specError;
  ASSERT_TRUE(parseModelSpecFile(param.goldenCase.specPath, spec, specError))
      << specError.message();
  GoldenData data;
  std::string error;
  ASSERT_TRUE(loadGoldenData(spec, param.shape, data, error)) << error;

  ScratchDir dir(folderPrefix + param.testName());
  std::string artifact = compileOrFail(param.goldenCase.specPath, data.shapes,
                                       dir.path(), pipeline);
  std::vector<float> out = runArtifact(artifact, data.inputValues);
  GoldenComparison golden = compareValidRows(data, out.data(), out.size());
  ASSERT_TRUE(golden.sizeMatches);
  EXPECT_GT(golden.comparedRows, 0);
  EXPECT_LE(golden.maxAbsError, kTolerance)
      << "vs PyTorch, worst flat index " << golden.worstIndex;
}

TEST_P(PoisonedGoldenTest, MatchesPyTorchWithDeadBuffersPoisoned) {
  CpuPipelineOptions pipeline;
  pipeline.poisonDeadBuffers = true;
  checkGoldenAgainstPyTorch(GetParam(), "poisoned_", pipeline);
}

INSTANTIATE_TEST_SUITE_P(
    Goldens, PoisonedGoldenTest, ::testing::ValuesIn(listGoldenCaseShapes()),
    goldenTestName);

/// The generated code checked by MLIR's runtime verification: every
/// memref load, store, subview and reshape tests its bounds and aborts the
/// process (failing the test) if it would leave its buffer; the output must
/// still match.
class RuntimeVerifiedGoldenTest
    : public ::testing::TestWithParam<GoldenCaseShape> {};

TEST_P(RuntimeVerifiedGoldenTest, MatchesPyTorchWithBoundsChecks) {
  CpuPipelineOptions pipeline;
  pipeline.runtimeVerification = true;
  checkGoldenAgainstPyTorch(GetParam(), "verified_", pipeline);
}

INSTANTIATE_TEST_SUITE_P(Goldens, RuntimeVerifiedGoldenTest,
                         ::testing::ValuesIn(listGoldenCaseShapes()),
                         goldenTestName);

//===----------------------------------------------------------------------===//
// Goldens under every fusion configuration
//===----------------------------------------------------------------------===//

/// One fusion configuration of the pipeline.
struct FusionConfig {
  std::string name;
  CpuPipelineOptions pipeline;
};

/// All off, each fusion pass alone, and all on with chunked feed-forward
/// (5 rows: it divides none of the golden row counts, so the remainder
/// chunk runs too). All on alone is GoldenTest.
std::vector<FusionConfig> fusionConfigs() {
  CpuPipelineOptions off;
  off.fusion.qkv = off.fusion.epilogue = off.fusion.residualLayerNorm =
      off.fusion.attention = false;
  CpuPipelineOptions qkv = off, epilogue = off, residualLayerNorm = off,
                     attention = off, chunked;
  qkv.fusion.qkv = true;
  attention.fusion.attention = true;
  epilogue.fusion.epilogue = true;
  residualLayerNorm.fusion.residualLayerNorm = true;
  chunked.fusion.ffnChunk = 5;
  return {{"all_off", off},
          {"qkv", qkv},
          {"epilogue", epilogue},
          {"residual_layernorm", residualLayerNorm},
          {"attention", attention},
          {"all_on_ffn_chunk5", chunked}};
}

struct FusionGoldenCase {
  GoldenCaseShape golden;
  FusionConfig config;
  std::string testName() const { return golden.testName() + "_" + config.name; }
};

void PrintTo(const FusionGoldenCase &c, std::ostream *os) {
  *os << c.testName();
}

/// Every golden shape with every fusion off; the seq-7 shapes (each model
/// kind: post-LN encoder with token types, pre-LN decoder, encoder-decoder
/// with cross-attention) under every configuration. The other shapes
/// under every configuration would triple the suite's time for sizes the
/// seq-7 runs and GoldenTest already cover.
std::vector<FusionGoldenCase> fusionGoldenCases() {
  std::vector<FusionGoldenCase> cases;
  for (const GoldenCaseShape &golden : listGoldenCaseShapes())
    for (const FusionConfig &config : fusionConfigs())
      if (config.name == "all_off" || golden.shape.seqLen == 7)
        cases.push_back({golden, config});
  return cases;
}

class FusionGoldenTest : public ::testing::TestWithParam<FusionGoldenCase> {};

TEST_P(FusionGoldenTest, MatchesPyTorchAndReference) {
  checkGolden(GetParam().golden, GetParam().testName(),
              GetParam().config.pipeline);
}

INSTANTIATE_TEST_SUITE_P(
    Fusions, FusionGoldenTest, ::testing::ValuesIn(fusionGoldenCases()),
    [](const ::testing::TestParamInfo<FusionGoldenCase> &info) {
      return info.param.testName();
    });

//===----------------------------------------------------------------------===//
// Goldens under a user-edited fusion plan
//===----------------------------------------------------------------------===//

/// Edits the plan `--explain-dir` wrote into one no --fusion switch gives:
/// each residual add the norm claimed goes into the epilogue of the GEMM
/// producing it instead (the norm alone), and the first attention block
/// runs unfused (separate Q, K, V GEMMs; the scores materialized).
nlohmann::json editPlan(const nlohmann::json &plan) {
  std::map<std::string, std::vector<std::string>> swapOfLinear;
  std::set<std::string> swappedAdds;
  for (const nlohmann::json &g : plan["not_fused"]) {
    std::string reason = g["reason"];
    if (g["fusion"] == "epilogue" && g["nodes"].size() == 2 &&
        reason.find("residual-layernorm kernel") != std::string::npos) {
      swapOfLinear[g["nodes"][0]] = g["nodes"];
      swappedAdds.insert(g["nodes"][1].get<std::string>());
    }
  }
  nlohmann::json kernels = nlohmann::json::array();
  bool splitQKV = false, unfusedAttention = false;
  for (nlohmann::json kernel : plan["kernels"]) {
    std::vector<std::string> nodes = kernel["nodes"];
    std::string fusion = kernel["fusion"];
    if (nodes.size() == 1 && swapOfLinear.count(nodes[0])) {
      kernels.push_back(
          {{"fusion", "epilogue"}, {"nodes", swapOfLinear[nodes[0]]}});
    } else if (fusion == "residual-layernorm" && swappedAdds.count(nodes[0])) {
      kernels.push_back({{"nodes", {nodes[1]}}});
    } else if (fusion == "qkv" && !splitQKV) {
      splitQKV = true;
      for (const std::string &node : nodes)
        kernels.push_back({{"nodes", {node}}});
    } else if (fusion == "attention" && !unfusedAttention) {
      unfusedAttention = true;
      kernels.push_back({{"fusion", "none"}, {"nodes", nodes}});
    } else {
      kernels.push_back(kernel);
    }
  }
  EXPECT_FALSE(swapOfLinear.empty());
  EXPECT_TRUE(splitQKV && unfusedAttention);
  nlohmann::json edited = plan;
  edited["kernels"] = kernels;
  edited.erase("not_fused");
  return edited;
}

class PlannedFusionGoldenTest
    : public ::testing::TestWithParam<GoldenCaseShape> {};

/// The seq-7 goldens of each model kind compiled with an edited plan: the
/// plan is applied as written and the numbers stay right.
TEST_P(PlannedFusionGoldenTest, MatchesPyTorchAndReference) {
  const GoldenCaseShape &param = GetParam();
  ModelSpec spec;
  SpecError specError;
  ASSERT_TRUE(parseModelSpecFile(param.goldenCase.specPath, spec, specError));
  GoldenData data;
  std::string error;
  ASSERT_TRUE(loadGoldenData(spec, param.shape, data, error)) << error;
  ScratchDir dir("planned_" + param.testName());
  compileOrFail(param.goldenCase.specPath, data.shapes, dir.path() + "/base",
                {}, "native", "", dir.path() + "/explain");
  std::ifstream planFile(dir.path() + "/explain/fusion-plan.json");
  nlohmann::json edited = editPlan(nlohmann::json::parse(planFile));
  std::string planPath = dir.path() + "/edited-plan.json";
  std::ofstream(planPath) << edited.dump(2);
  checkGolden(param, param.testName() + "_planned", CpuPipelineOptions(),
              planPath);
}

std::vector<GoldenCaseShape> seq7GoldenShapes() {
  std::vector<GoldenCaseShape> shapes;
  for (const GoldenCaseShape &golden : listGoldenCaseShapes())
    if (golden.shape.seqLen == 7)
      shapes.push_back(golden);
  return shapes;
}

INSTANTIATE_TEST_SUITE_P(
    Plans, PlannedFusionGoldenTest, ::testing::ValuesIn(seq7GoldenShapes()),
    goldenTestName);

//===----------------------------------------------------------------------===//
// Mutation tests: the goldens catch wrong attention
//===----------------------------------------------------------------------===//

struct Mutation {
  std::string fault;
  std::string caseName;
  std::string shapeName;
};

void PrintTo(const Mutation &m, std::ostream *os) {
  *os << m.fault << "/" << m.caseName << "/" << m.shapeName;
}

class MutationTest : public ::testing::TestWithParam<Mutation> {};

TEST_P(MutationTest, GoldenComparisonFails) {
  const Mutation &m = GetParam();
  GoldenCaseShape target;
  bool found = false;
  for (const GoldenCaseShape &c : listGoldenCaseShapes())
    if (c.goldenCase.name == m.caseName && c.shape.name == m.shapeName) {
      target = c;
      found = true;
    }
  ASSERT_TRUE(found) << m.caseName << "/" << m.shapeName;
  ModelSpec spec;
  SpecError specError;
  ASSERT_TRUE(parseModelSpecFile(target.goldenCase.specPath, spec, specError));
  GoldenData data;
  std::string error;
  ASSERT_TRUE(loadGoldenData(spec, target.shape, data, error)) << error;

  // With one query and one key per sequence no mask can change anything,
  // and an encoder has no causal bound to get wrong.
  bool singlePosition = target.shape.seqLen == 1 && target.shape.tgtLen <= 1;
  if (m.fault != "permute-heads" && singlePosition)
    GTEST_SKIP() << "sequence length 1: no mask to drop or shift";
  if (m.fault == "causal-off-by-one" && spec.kind == ModelKind::Encoder)
    GTEST_SKIP() << "an encoder has no causal mask";

  CpuPipelineOptions pipeline;
  pipeline.testFault = m.fault;
  ScratchDir dir("mutation_" + m.fault + "_" + target.testName());
  std::string artifact = compileOrFail(target.goldenCase.specPath, data.shapes,
                                       dir.path(), pipeline);
  std::vector<float> out = runArtifact(artifact, data.inputValues);
  GoldenComparison golden = compareValidRows(data, out.data(), out.size());
  ASSERT_TRUE(golden.sizeMatches);
  EXPECT_GT(golden.maxAbsError, 100 * kTolerance)
      << "the goldens did not notice " << m.fault;
  std::printf("[ mutation ] %s on %s: max |xfc - PyTorch| = %.3g "
              "(tolerance %.0e)\n",
              m.fault.c_str(), target.testName().c_str(), golden.maxAbsError,
              kTolerance);
}

/// Every fault on every golden shape; the test skips (saying why) the
/// pairs where the fault cannot change the result.
std::vector<Mutation> mutations() {
  std::vector<Mutation> all;
  for (const char *fault : {"drop-mask", "causal-off-by-one", "permute-heads"})
    for (const GoldenCaseShape &c : listGoldenCaseShapes())
      all.push_back({fault, c.goldenCase.name, c.shape.name});
  return all;
}

INSTANTIATE_TEST_SUITE_P(Faults, MutationTest, ::testing::ValuesIn(mutations()),
                         [](const ::testing::TestParamInfo<Mutation> &info) {
                           std::string name = info.param.fault + "_" +
                                              info.param.caseName + "_" +
                                              info.param.shapeName;
                           for (char &c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           return name;
                         });

//===----------------------------------------------------------------------===//
// Configurations beyond the goldens, against the reference model
//===----------------------------------------------------------------------===//

struct Config {
  std::string name;
  std::string specJson; ///< Without "weights": random weights are added.
  ShapeOptions shapes;
};

/// Random inputs in range; lengths include 1 and the full length, and 0
/// when `allowEmpty` (a fully padded item: attention must output 0).
std::vector<std::vector<int32_t>> randomInputs(const ModelSpec &spec,
                                               const ShapeOptions &shapes,
                                               bool allowEmpty) {
  std::mt19937 rng(1234);
  std::vector<std::vector<int32_t>> out;
  for (const TensorDecl &d : listInputs(spec, shapes)) {
    int64_t n = 1;
    for (int64_t s : d.shape)
      n *= s;
    std::vector<int32_t> v(n);
    for (int64_t i = 0; i < n; ++i) {
      if (d.name.find("lengths") != std::string::npos) {
        int64_t choices[] = {d.maxValue, 1, allowEmpty ? 0 : d.maxValue,
                             std::max<int64_t>(1, d.maxValue / 2)};
        v[i] = static_cast<int32_t>(choices[i % 4]);
      } else {
        v[i] = static_cast<int32_t>(d.minValue +
                                    rng() % (d.maxValue - d.minValue + 1));
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

void PrintTo(const Config &c, std::ostream *os) { *os << c.name; }

class ConfigTest : public ::testing::TestWithParam<Config> {};

TEST_P(ConfigTest, MatchesReference) {
  const Config &config = GetParam();
  ScratchDir dir("config_" + config.name);
  std::string specPath = dir.path() + "/spec.json";
  {
    std::ofstream f(specPath);
    f << config.specJson;
  }
  ModelSpec spec;
  SpecError specError;
  ASSERT_TRUE(parseModelSpecFile(specPath, spec, specError))
      << specError.message(specPath);
  ShapeOptions shapes = config.shapes;
  std::vector<std::vector<int32_t>> inputs =
      randomInputs(spec, shapes, /*allowEmpty=*/true);
  std::string artifact = compileOrFail(specPath, shapes, dir.path());
  std::vector<float> out = runArtifact(artifact, inputs);
  std::vector<float> ref = referenceOutput(spec, shapes, inputs);
  ASSERT_EQ(out.size(), ref.size());
  EXPECT_LE(maxAbsDiff(out, ref), kTolerance);
}

std::string specJson(const std::string &fields) {
  return "{\"xfc_spec_version\": 1, \"name\": \"cfg\", " + fields +
         ", \"weights\": {\"source\": \"random\", \"seed\": 7, \"std\": "
         "0.2}}";
}

std::vector<Config> configs() {
  auto shapes = [](int64_t batch, int64_t seq, int64_t tgt = 0) {
    ShapeOptions s;
    s.batch = batch;
    s.seqLen = seq;
    s.tgtLen = tgt;
    return s;
  };
  return {
      // head_dim 80, sequence 77, pre-LN, no biases, ReLU, padded with an
      // empty item (lengths 0).
      {"encoder_hd80_s77_nobias",
       specJson("\"kind\": \"encoder\", \"vocab_size\": 50, \"d_model\": "
                "160, \"num_heads\": 2, \"d_ff\": 96, \"num_layers\": 1, "
                "\"norm_placement\": \"pre\", \"bias\": false, "
                "\"activation\": \"relu\", \"key_padding_mask\": true, "
                "\"final_norm\": true, \"max_seq_len\": 128"),
       shapes(4, 77)},
      // Sequence 1, odd sizes, no positional encoding, LM head with bias.
      {"decoder_s1_odd",
       specJson("\"kind\": \"decoder\", \"vocab_size\": 37, \"d_model\": 21, "
                "\"num_heads\": 3, \"d_ff\": 13, \"num_layers\": 2, "
                "\"positional_encoding\": \"none\", \"activation\": "
                "\"gelu_tanh\", \"bias\": {\"lm_head\": true}, "
                "\"key_padding_mask\": true"),
       shapes(3, 1)},
      // Sequence 7, causal + padding, learned positions, tied embedding.
      {"decoder_s7_tied",
       specJson("\"kind\": \"decoder\", \"vocab_size\": 40, \"d_model\": 64, "
                "\"num_heads\": 4, \"d_ff\": 80, \"num_layers\": 2, "
                "\"norm_placement\": \"pre\", \"final_norm\": true, "
                "\"positional_encoding\": \"learned\", \"max_seq_len\": 16, "
                "\"tied_output_embedding\": true, \"key_padding_mask\": true"),
       shapes(4, 7)},
      // Encoder-decoder, separate embeddings, source shorter than target.
      {"encdec_s5_t9",
       specJson("\"kind\": \"encoder_decoder\", \"vocab_size\": 30, "
                "\"d_model\": 48, \"num_heads\": 2, \"d_ff\": 64, "
                "\"num_layers\": 1, \"num_decoder_layers\": 2, "
                "\"shared_embeddings\": false, \"key_padding_mask\": true, "
                "\"embedding_scale\": \"sqrt_d_model\", \"activation\": "
                "\"gelu\""),
       shapes(4, 5, 9)},
      // BERT-style embeddings with a language-model head on an encoder.
      {"encoder_token_types_lm",
       specJson("\"kind\": \"encoder\", \"vocab_size\": 33, \"d_model\": 32, "
                "\"num_heads\": 2, \"d_ff\": 64, \"num_layers\": 2, "
                "\"token_type_vocab_size\": 3, \"embedding_layer_norm\": "
                "true, \"layer_norm_epsilon\": 1e-12, \"lm_head\": true, "
                "\"positional_encoding\": \"learned\", \"max_seq_len\": 8"),
       shapes(2, 8)},
  };
}

INSTANTIATE_TEST_SUITE_P(Configs, ConfigTest, ::testing::ValuesIn(configs()),
                         [](const ::testing::TestParamInfo<Config> &info) {
                           return info.param.name;
                         });

//===----------------------------------------------------------------------===//
// Compile options do not change the numbers
//===----------------------------------------------------------------------===//

TEST(CompileOptionsTest, WeightLayoutAndBaselineCpuGiveTheSameResult) {
  GoldenCaseShape target;
  for (const GoldenCaseShape &c : listGoldenCaseShapes())
    if (c.goldenCase.name == "gpt_like" && c.shape.name == "s7")
      target = c;
  ASSERT_FALSE(target.goldenCase.specPath.empty());
  ModelSpec spec;
  SpecError specError;
  ASSERT_TRUE(parseModelSpecFile(target.goldenCase.specPath, spec, specError));
  GoldenData data;
  std::string error;
  ASSERT_TRUE(loadGoldenData(spec, target.shape, data, error)) << error;

  ScratchDir a("options_layout"), b("options_baseline");
  CpuPipelineOptions noTranspose;
  noTranspose.transposeLinearWeights = false;
  std::vector<float> untransposed =
      runArtifact(compileOrFail(target.goldenCase.specPath, data.shapes,
                                a.path(), noTranspose),
                  data.inputValues);
  std::vector<float> baseline =
      runArtifact(compileOrFail(target.goldenCase.specPath, data.shapes,
                                b.path(), {}, "x86-64"),
                  data.inputValues);
  for (const std::vector<float> *out : {&untransposed, &baseline}) {
    GoldenComparison golden = compareValidRows(data, out->data(), out->size());
    ASSERT_TRUE(golden.sizeMatches);
    EXPECT_LE(golden.maxAbsError, kTolerance);
  }
}

/// The golden cases run with the fused attention kernel (the default); the
/// unfused lowering (fusion off) must still match a golden that exercises
/// both masks: causal GPT-like at 77 tokens, key-padded BERT-like at 77.
TEST(CompileOptionsTest, UnfusedAttentionMatchesTheGoldens) {
  for (const GoldenCaseShape &c : listGoldenCaseShapes()) {
    if (c.shape.name != "s77" ||
        (c.goldenCase.name != "gpt_like" && c.goldenCase.name != "bert_like"))
      continue;
    SCOPED_TRACE(c.goldenCase.name + "/" + c.shape.name);
    ModelSpec spec;
    SpecError specError;
    ASSERT_TRUE(parseModelSpecFile(c.goldenCase.specPath, spec, specError));
    GoldenData data;
    std::string error;
    ASSERT_TRUE(loadGoldenData(spec, c.shape, data, error)) << error;
    ScratchDir dir("options_unfused_" + c.goldenCase.name);
    CpuPipelineOptions unfused;
    unfused.fusion.attention = false;
    std::vector<float> out = runArtifact(
        compileOrFail(c.goldenCase.specPath, data.shapes, dir.path(), unfused),
        data.inputValues);
    GoldenComparison golden = compareValidRows(data, out.data(), out.size());
    ASSERT_TRUE(golden.sizeMatches);
    EXPECT_LE(golden.maxAbsError, kTolerance);
  }
}

//===----------------------------------------------------------------------===//
// A compilation can be replayed pass by pass
//===----------------------------------------------------------------------===//

/// The manifest records the pipeline that ran; running that textual
/// pipeline on the dumped xf IR (what `xfc-opt --pass-pipeline=...` does)
/// must reproduce the dumped LLVM-dialect IR exactly.
TEST(PipelineReplayTest, ManifestPipelineReproducesTheDumpedIR) {
  ScratchDir dir("replay");
  CompileRequest request;
  request.specPath =
      std::string(XFC_SOURCE_DIR) + "/models/example-tiny-bert.json";
  request.shapes.seqLen = 8;
  request.outputDir = dir.path() + "/artifact";
  request.dumpIRDir = dir.path() + "/ir";
  CompileReport report;
  std::string error;
  ASSERT_TRUE(compileModel(request, report, error)) << error;

  std::ifstream manifestFile(request.outputDir + "/manifest.json");
  nlohmann::json manifest = nlohmann::json::parse(manifestFile);
  std::string pipeline = manifest["compile_options"]["pipeline"];

  mlir::DialectRegistry registry;
  registerXFCDialects(registry);
  registerXFCPassesAndPipelines();
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(request.dumpIRDir + "/0-xf.mlir",
                                            &context);
  ASSERT_TRUE(module);
  // The recorded string is anchored ("builtin.module(...)"), as
  // --pass-pipeline expects.
  std::string parseErrors;
  llvm::raw_string_ostream errors(parseErrors);
  mlir::FailureOr<mlir::OpPassManager> parsed =
      mlir::parsePassPipeline(pipeline, errors);
  ASSERT_TRUE(mlir::succeeded(parsed)) << parseErrors;
  mlir::PassManager pm(&context);
  static_cast<mlir::OpPassManager &>(pm) = *parsed;
  ASSERT_TRUE(mlir::succeeded(pm.run(*module)));

  // Dumps carry locations (spec nodes and kernel tags): the replay is
  // printed the same way, so it must also outline the same kernels.
  std::string replayed;
  llvm::raw_string_ostream os(replayed);
  module->print(os, mlir::OpPrintingFlags().enableDebugInfo());
  std::ifstream dumped(request.dumpIRDir + "/4-llvm-stage.mlir");
  std::stringstream expected;
  expected << dumped.rdbuf();
  EXPECT_EQ(replayed, expected.str());
  EXPECT_NE(replayed.find("llvm.func @xfc_entry"), std::string::npos);
  EXPECT_NE(replayed.find("llvm.func internal @xf_k0_encoder_embed_tokens"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// The classic model sizes in models/ compile and run
//===----------------------------------------------------------------------===//

class ClassicModelTest : public ::testing::TestWithParam<std::string> {};

/// Compiles a full-size model (random weights from its spec) at a short
/// sequence and checks it against the reference model. Short, because the
/// reference is a naive double-precision loop nest; compile time, the
/// weights file and the IR do not depend on the sequence length.
TEST_P(ClassicModelTest, CompilesRunsAndMatchesReference) {
  std::string specPath =
      std::string(XFC_SOURCE_DIR) + "/models/" + GetParam() + ".json";
  ModelSpec spec;
  SpecError specError;
  ASSERT_TRUE(parseModelSpecFile(specPath, spec, specError))
      << specError.message(specPath);
  ShapeOptions shapes;
  shapes.batch = 1;
  shapes.seqLen = 9;
  if (spec.kind == ModelKind::EncoderDecoder)
    shapes.tgtLen = 5;
  std::vector<std::vector<int32_t>> inputs =
      randomInputs(spec, shapes, /*allowEmpty=*/false);
  ScratchDir dir("classic_" + GetParam());
  std::string artifact = compileOrFail(specPath, shapes, dir.path());
  std::vector<float> out = runArtifact(artifact, inputs);
  std::vector<float> ref = referenceOutput(spec, shapes, inputs);
  ASSERT_EQ(out.size(), ref.size());
  EXPECT_LE(maxAbsDiff(out, ref), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Models, ClassicModelTest,
                         ::testing::Values("bert-base-uncased", "gpt2-small",
                                           "transformer-base-aiayn"));

} // namespace
} // namespace xfc::test
