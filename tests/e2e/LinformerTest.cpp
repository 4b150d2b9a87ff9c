//===- LinformerTest.cpp - Linformer attention against goldens -*- C++ -*-===//
//
// Part of xfc. End-to-end numerics of Linformer (docs/attention-patterns.md)
// against tests/e2e/golden/attention_families, made by
// make_linformer_goldens.py from the formula in float64:
//
//   - attention level: `xf.linformer_projection` of the keys by E and of the
//     values by F (E for key_value sharing), then a plain `xf.attention`
//     over the k projected rows, compiled with compileModule three ways
//     (the fused kernel with its tiles, unfused, fused with 5 x 3 tiles);
//     seq 1, 7 and 77, k below and above n, head_dim 80, every sharing form
//     of one layer, key lengths (an item of length 0 included);
//   - spec level: small encoders compiled from their spec by compileModel,
//     one with trained E and F in its weights file (headwise, none and
//     key_value layers) and one forced to layerwise Linformer with
//     --attention, whose E is generated from the seed (the script
//     reimplements the generator);
//   - the comparisons can fail: E and F swapped, and padding not zeroed
//     before the projection, both miss the goldens.
//
// Tolerance: the case's (1e-4 at the attention level, 2e-4 for the whole
// encoder), absolute; README.md beside the script says why.
//
//===----------------------------------------------------------------------===//
#include "e2e/GoldenCase.h"
#include "e2e/ScratchDir.h"
#include "xf/Dialect/XF/XFOps.h"
#include "xf/Transforms/Passes.h"
#include "xfc/Compiler/Compiler.h"
#include "xfc/Compiler/Pipelines.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Frontend/Weights.h"
#include "xfc/Support/Npy.h"
#include "xfc/Support/Safetensors.h"
#include "xfc/runtime.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>

namespace xfc::test {
namespace {

using mlir::Value;

std::string familyDir() { return goldenRoot() + "/attention_families"; }

/// A folder name for the current test.
std::string testFolder() {
  const ::testing::TestInfo *info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name =
      std::string("linformer_") + info->test_suite_name() + "_" + info->name();
  for (char &c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return name;
}

/// Runs the artifact in `dir` on `inputs` (f32 or i32 buffers, in input
/// order) into `out`; false with a test failure on any runtime error.
bool runArtifact(const std::string &dir, std::vector<xfc_buffer> inputs,
                 std::vector<float> &out) {
  xfc_model *model = nullptr;
  xfc_status status = xfc_model_open(dir.c_str(), nullptr, &model);
  if (status) {
    ADD_FAILURE() << "xfc_model_open: " << xfc_status_get_message(status);
    xfc_status_free(status);
    return false;
  }
  xfc_buffer outBuffer{out.data(), out.size() * sizeof(float)};
  status = xfc_model_run(model, inputs.data(), inputs.size(), &outBuffer, 1);
  xfc_model_destroy(model);
  if (status) {
    ADD_FAILURE() << "xfc_model_run: " << xfc_status_get_message(status);
    xfc_status_free(status);
    return false;
  }
  return true;
}

/// max |out - golden|, infinite if any output is not finite.
double maxError(const std::vector<float> &out,
                const std::vector<float> &golden) {
  if (out.size() != golden.size())
    return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i]))
      return INFINITY;
    worst = std::max(worst, std::fabs(double(out[i]) - double(golden[i])));
  }
  return worst;
}

//===----------------------------------------------------------------------===//
// Attention level
//===----------------------------------------------------------------------===//

struct OpCase {
  std::string name, sharing, pattern, file;
  int64_t batch = 0, heads = 0, headDim = 0, n = 0, k = 0;
  std::vector<int32_t> keyLengths;
  double tolerance = 0;
};
/// gtest prints a parameter by its name, not its bytes.
[[maybe_unused]] void PrintTo(const OpCase &c, std::ostream *os) { *os << c.name; }

std::vector<OpCase> loadOpCases() {
  std::vector<OpCase> cases;
  std::ifstream in(familyDir() + "/linformer/cases.json");
  nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  if (!json.is_array())
    return cases;
  for (const nlohmann::json &c : json) {
    OpCase oc;
    oc.name = c.value("name", "");
    oc.sharing = c.value("sharing", "");
    oc.pattern = c.value("pattern", "");
    oc.file = c.value("file", "");
    oc.batch = c.value("batch", 0);
    oc.heads = c.value("heads", 0);
    oc.headDim = c.value("head_dim", 0);
    oc.n = c.value("n", 0);
    oc.k = c.value("k", 0);
    if (c.contains("key_lengths") && c["key_lengths"].is_array())
      oc.keyLengths = c["key_lengths"].get<std::vector<int32_t>>();
    oc.tolerance = c.value("tolerance", 0.0);
    cases.push_back(oc);
  }
  return cases;
}

struct OpData {
  std::vector<float> query, key, value, e, f, output;
};

bool readOpData(const OpCase &c, OpData &data, std::string &error) {
  std::ifstream in(familyDir() + "/linformer/" + c.file, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  SafetensorsHeader header;
  if (!parseSafetensors(bytes.data(), bytes.size(), header, error))
    return false;
  auto read = [&](const char *name, std::vector<int64_t> shape,
                  std::vector<float> &out) {
    const SafetensorsEntry *entry = header.find(name);
    if (!entry || entry->dtype != "F32" || entry->shape != shape) {
      error = std::string("tensor ") + name + " is missing or mis-shaped";
      return false;
    }
    out.resize((entry->end - entry->begin) / sizeof(float));
    std::memcpy(out.data(), bytes.data() + entry->begin,
                out.size() * sizeof(float));
    return true;
  };
  int64_t width = c.heads * c.headDim;
  std::vector<int64_t> pShape = {c.k, c.n};
  if (c.sharing == "none")
    pShape.insert(pShape.begin(), c.heads);
  bool ok = read("query", {c.batch, c.n, width}, data.query) &&
            read("key", {c.batch, c.n, width}, data.key) &&
            read("value", {c.batch, c.n, width}, data.value) &&
            read("e", pShape, data.e) &&
            read("output", {c.batch, c.n, width}, data.output);
  if (!ok)
    return false;
  if (c.sharing == "key_value") {
    data.f = data.e;
    return true;
  }
  return read("f", pShape, data.f);
}

enum class Lowering { Fused, Unfused, SmallTiles };
/// Deliberate mistakes the comparison must notice.
enum class Mistake { None, SwapEF, KeepPadding };

/// Compiles the case's projections and attention and returns max |error|.
double runOpCase(const OpCase &c, Lowering lowering,
                 Mistake mistake = Mistake::None) {
  OpData data;
  std::string error;
  if (!readOpData(c, data, error)) {
    ADD_FAILURE() << c.file << ": " << error;
    return INFINITY;
  }
  int64_t width = c.heads * c.headDim;
  std::vector<int64_t> xShape = {c.batch, c.n, width};
  std::vector<int64_t> pShape = {c.k, c.n};
  if (c.sharing == "none")
    pShape.insert(pShape.begin(), c.heads);
  bool hasLengths = !c.keyLengths.empty();

  mlir::DialectRegistry registry;
  registerXFCDialects(registry);
  registerXFCPassesAndPipelines();
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  mlir::OpBuilder b(&context);
  mlir::Location loc = b.getUnknownLoc();
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);
  module->setName("linformer_test");
  auto f32 = [&](llvm::ArrayRef<int64_t> shape) {
    return mlir::RankedTensorType::get(shape, b.getF32Type());
  };
  // query, key, value, [key_lengths], e, f.
  llvm::SmallVector<mlir::Type> argTypes = {f32(xShape), f32(xShape),
                                            f32(xShape)};
  llvm::SmallVector<std::string> argNames = {"query", "key", "value"};
  if (hasLengths) {
    argTypes.push_back(mlir::RankedTensorType::get({c.batch}, b.getI32Type()));
    argNames.push_back("key_lengths");
  }
  argTypes.push_back(f32(pShape));
  argTypes.push_back(f32(pShape));
  b.setInsertionPointToEnd(module->getBody());
  auto func = mlir::func::FuncOp::create(
      b, loc, kModelFunctionName, b.getFunctionType(argTypes, {f32(xShape)}));
  llvm::StringRef writable =
      mlir::bufferization::BufferizationDialect::kWritableAttrName;
  for (unsigned i = 0; i < argTypes.size(); ++i) {
    bool isWeight = i >= argNames.size();
    std::string name = isWeight ? (i == argNames.size() ? "e" : "f")
                                : argNames[i];
    func.setArgAttr(i, isWeight ? kWeightAttrName : kInputAttrName,
                    b.getStringAttr(name));
    func.setArgAttr(i, writable, b.getBoolAttr(false));
  }
  func.setResultAttr(0, kOutputAttrName, b.getStringAttr("output"));
  mlir::Block *body = func.addEntryBlock();
  b.setInsertionPointToStart(body);
  Value q = body->getArgument(0), k = body->getArgument(1),
        v = body->getArgument(2);
  Value lengths = hasLengths ? body->getArgument(3) : Value();
  Value e = body->getArgument(argNames.size()),
        f = body->getArgument(argNames.size() + 1);
  if (mistake == Mistake::SwapEF)
    std::swap(e, f);
  Value projLengths = mistake == Mistake::KeepPadding ? Value() : lengths;
  auto pattern = mlir::xf::AttentionPatternAttr::get(&context, c.pattern);
  auto projected = f32({c.batch, c.k, width});
  Value kp = mlir::xf::LinformerProjectionOp::create(
      b, loc, projected, k, e, projLengths, b.getI64IntegerAttr(c.heads),
      pattern);
  Value vp = mlir::xf::LinformerProjectionOp::create(
      b, loc, projected, v, f, projLengths, b.getI64IntegerAttr(c.heads),
      pattern);
  auto attention = mlir::xf::AttentionOp::create(
      b, loc, f32(xShape), q, kp, vp, Value(), b.getI64IntegerAttr(c.heads),
      b.getF64FloatAttr(1.0 / std::sqrt(double(c.headDim))), mlir::UnitAttr(),
      mlir::xf::AttentionPatternAttr());
  if (lowering == Lowering::SmallTiles)
    attention->setAttr(
        mlir::xf::kAttentionKernelAttrName,
        b.getDictionaryAttr(
            {b.getNamedAttr("kind", b.getStringAttr("flash")),
             b.getNamedAttr("block_q",
                            b.getI64IntegerAttr(std::min<int64_t>(5, c.n))),
             b.getNamedAttr("block_k",
                            b.getI64IntegerAttr(std::min<int64_t>(3, c.k)))}));
  mlir::func::ReturnOp::create(b, loc, attention.getResult());

  WeightStore weights;
  HostTensor et, ft;
  et.shape = ft.shape = pShape;
  et.data = data.e;
  ft.data = data.f;
  weights.insert("e", std::move(et));
  weights.insert("f", std::move(ft));
  ModuleInfo info;
  info.modelName = "linformer_test";
  if (hasLengths) {
    TensorDecl decl;
    decl.name = "key_lengths";
    decl.dtype = "i32";
    decl.shape = {c.batch};
    decl.hasRange = true;
    decl.minValue = 0;
    decl.maxValue = c.n;
    info.inputRanges.push_back(decl);
  }
  ScratchDir dir(testFolder());
  CompileRequest request;
  request.outputDir = dir.path() + "/artifact";
  request.force = true;
  request.pipeline.fusion.attention = lowering != Lowering::Unfused;
  CompileReport report;
  if (!compileModule(*module, weights, info, request, report, error)) {
    ADD_FAILURE() << "compileModule failed: " << error;
    return INFINITY;
  }
  std::vector<int32_t> lengthsCopy = c.keyLengths;
  std::vector<xfc_buffer> inputs = {
      {data.query.data(), data.query.size() * sizeof(float)},
      {data.key.data(), data.key.size() * sizeof(float)},
      {data.value.data(), data.value.size() * sizeof(float)}};
  if (hasLengths)
    inputs.push_back(
        {lengthsCopy.data(), lengthsCopy.size() * sizeof(int32_t)});
  std::vector<float> out(data.output.size(), std::nanf(""));
  if (!runArtifact(request.outputDir, inputs, out))
    return INFINITY;
  return maxError(out, data.output);
}

class LinformerAttentionTest : public ::testing::TestWithParam<OpCase> {};

TEST(LinformerAttention, FilesExist) {
  EXPECT_GE(loadOpCases().size(), 9u)
      << "tests/e2e/golden/attention_families/linformer/cases.json is "
         "missing or malformed";
}

TEST_P(LinformerAttentionTest, FusedMatchesPyTorch) {
  double error = runOpCase(GetParam(), Lowering::Fused);
  EXPECT_LE(error, GetParam().tolerance);
  ::testing::Test::RecordProperty("max_abs_error", std::to_string(error));
}

TEST_P(LinformerAttentionTest, UnfusedMatchesPyTorch) {
  EXPECT_LE(runOpCase(GetParam(), Lowering::Unfused), GetParam().tolerance);
}

TEST_P(LinformerAttentionTest, SmallTilesMatchPyTorch) {
  EXPECT_LE(runOpCase(GetParam(), Lowering::SmallTiles),
            GetParam().tolerance);
}

INSTANTIATE_TEST_SUITE_P(Cases, LinformerAttentionTest,
                         ::testing::ValuesIn(loadOpCases()),
                         [](const ::testing::TestParamInfo<OpCase> &info) {
                           return info.param.name;
                         });

/// The comparison can fail: with E and F swapped, or with the padded keys
/// projected as they are, the output misses the goldens by far.
TEST(LinformerAttention, MistakesAreNoticed) {
  for (const OpCase &c : loadOpCases()) {
    if (c.name == "headwise_n77_k16" || c.name == "none_n7_k12") {
      SCOPED_TRACE(c.name);
      EXPECT_GT(runOpCase(c, Lowering::Fused, Mistake::SwapEF),
                100 * c.tolerance);
    }
    if (c.name == "headwise_keylen_n77_k16") {
      SCOPED_TRACE(c.name);
      EXPECT_GT(runOpCase(c, Lowering::Fused, Mistake::KeepPadding),
                100 * c.tolerance);
    }
  }
}

//===----------------------------------------------------------------------===//
// Spec level
//===----------------------------------------------------------------------===//

/// Compiles golden folder `name` (spec, weights, inputs, expected output;
/// case.json gives the sequence length, the --attention override and the
/// projections the compiler must generate) and compares.
void checkEncoder(const std::string &name) {
  std::string folder = familyDir() + "/" + name;
  std::ifstream in(folder + "/case.json");
  nlohmann::json info = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(info.is_object()) << folder << "/case.json";
  NpyArray ids, lengths, expected;
  std::string error;
  ASSERT_TRUE(readNpy(folder + "/input_ids.npy", ids, error)) << error;
  ASSERT_TRUE(readNpy(folder + "/lengths.npy", lengths, error)) << error;
  ASSERT_TRUE(readNpy(folder + "/expected.npy", expected, error)) << error;
  ASSERT_EQ(ids.shape.size(), 2u);

  ScratchDir dir(testFolder());
  CompileRequest request;
  request.specPath = folder + "/spec.json";
  request.outputDir = dir.path() + "/artifact";
  request.force = true;
  request.shapes.batch = ids.shape[0];
  request.shapes.seqLen = info.value("seq_len", 0);
  if (info["override"].is_string())
    request.attentionPattern = info["override"].get<std::string>();
  CompileReport report;
  ASSERT_TRUE(compileModel(request, report, error)) << error;

  // The projections the weights file lacks, and only those, were generated
  // (and --explain says so).
  std::vector<std::string> generated;
  for (const std::string &name : info["generated"])
    generated.push_back(name + ": generated from the pattern's seed, N(0, "
                               "1/k) (the weights have no such tensor)");
  EXPECT_EQ(report.fusion.attentionNotes, generated);
  // Every self-attention is a Linformer kernel.
  int linformerKernels = 0;
  for (const KernelSummary &k : report.fusion.kernels)
    linformerKernels += k.kind == "attention(linformer)";
  EXPECT_EQ(linformerKernels, 3);

  std::vector<float> expectedValues(expected.numElements());
  std::memcpy(expectedValues.data(), expected.bytes.data(),
              expected.bytes.size());
  std::vector<float> out(expectedValues.size(), std::nanf(""));
  std::vector<xfc_buffer> inputs = {{ids.bytes.data(), ids.bytes.size()},
                                    {lengths.bytes.data(),
                                     lengths.bytes.size()}};
  ASSERT_TRUE(runArtifact(request.outputDir, inputs, out));
  double worst = maxError(out, expectedValues);
  EXPECT_LE(worst, info.value("tolerance", 0.0));
  ::testing::Test::RecordProperty("max_abs_error", std::to_string(worst));
}

/// E and F trained (in the weights file): headwise, per head, E = F.
TEST(LinformerEncoder, TrainedProjectionsMatchPyTorch) {
  checkEncoder("linformer_encoder");
}

/// A dense model forced to layerwise Linformer: E generated from the seed.
TEST(LinformerEncoder, GeneratedProjectionsMatchPyTorch) {
  checkEncoder("linformer_encoder_forced");
}

} // namespace
} // namespace xfc::test
