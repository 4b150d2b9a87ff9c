//===- OpTest.cpp - Every xf op alone, against the reference --*- C++ -*-===//
//
// Part of xfc. Op-level end-to-end numerics: each test builds a module
// holding a single `xf` op in `func.func @xf_model` (activations as
// `xf.input` arguments, f32 or i32; parameters as `xf.weight` arguments in a
// WeightStore), compiles it with the real compiler (xfc::compileModule, the
// default CPU pipeline unless the case says otherwise), opens the artifact
// with the runtime C API, runs it and compares the output with the naive
// double-precision reference ops of tests/reference (xfc::reference). Ops
// the reference has no function for (add, softmax) are computed in double
// here, in a few obvious lines.
//
// Tolerance: 1e-4 absolute, as in EndToEndTest.cpp: the compiled code works
// in fp32 and differs from the float64 oracle only by fp32 rounding. Where
// the outputs are large (activations at |x| up to 1e4, adds of values
// ~1e4) the fp32 spacing of the output itself exceeds 1e-4 (ulp(1e4) is
// ~1e-3), so the bound is max(1e-4, 1e-5 * max|ref| + 1e-5): relative 1e-5
// of the largest reference magnitude, which is equal to 1e-4 for every
// output of magnitude <= ~9 (all cases but those two).
//
// Every comparison also requires every output element to be finite (no NaN,
// no inf), and attention with a key_lengths item of 0 must give exactly 0
// (xf.attention) or exactly the output bias (xf.multi_head_attention) on
// every row of that item.
//
// xf.attention cases run four ways: the fused kernel with the default
// tiles, the unfused lowering (fusion off), and the fused kernel with small
// odd tiles read from closed-form bounds and from the block map's table.
//
// Random data comes from fixed-seed normal generators. Attention inputs are
// scaled so the scores have a standard deviation of ~4: the softmax is far
// from uniform, so a wrong mask, scale or head split shows.
//
//===----------------------------------------------------------------------===//
#include "ReferenceModel.h"
#include "e2e/GoldenCase.h"
#include "e2e/ScratchDir.h"
#include "xf/Analysis/AttentionGather.h"
#include "xf/Analysis/RandomFeatures.h"
#include "xf/Dialect/XF/XFOps.h"
#include "xf/Transforms/Passes.h"
#include "xfc/Compiler/Compiler.h"
#include "xfc/Compiler/Pipelines.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Frontend/Weights.h"
#include "xfc/Support/Safetensors.h"
#include "xfc/runtime.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <random>

namespace xfc::test {
namespace {

using mlir::Value;
using reference::Matrix;

constexpr double kAbsTolerance = 1e-4;
constexpr double kRelTolerance = 1e-5;

//===----------------------------------------------------------------------===//
// Harness
//===----------------------------------------------------------------------===//

/// The current test's full name, usable as a folder name.
std::string currentTestFolder() {
  const ::testing::TestInfo *info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name =
      std::string("op_") + info->test_suite_name() + "_" + info->name();
  for (char &c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return name;
}

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// `n` fixed-seed normal values N(mean, stddev^2).
std::vector<float> normal(int64_t n, uint32_t seed, double stddev = 1.0,
                          double mean = 0.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist(mean, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (float &x : v)
    x = static_cast<float>(dist(rng));
  return v;
}

/// One argument of @xf_model.
struct Arg {
  bool isWeight = false;
  std::string name;
  std::vector<int64_t> shape;
  bool isI32 = false;
  std::vector<float> f32;
  std::vector<int32_t> i32;
  int64_t minValue = 0, maxValue = 0; ///< Range of an i32 input.
};

Arg f32Input(std::string name, std::vector<int64_t> shape,
             std::vector<float> data) {
  Arg a;
  a.name = std::move(name);
  a.shape = std::move(shape);
  a.f32 = std::move(data);
  return a;
}

Arg f32Weight(std::string name, std::vector<int64_t> shape,
              std::vector<float> data) {
  Arg a = f32Input(std::move(name), std::move(shape), std::move(data));
  a.isWeight = true;
  return a;
}

Arg i32Input(std::string name, std::vector<int64_t> shape,
             std::vector<int32_t> data, int64_t minValue, int64_t maxValue) {
  Arg a;
  a.name = std::move(name);
  a.shape = std::move(shape);
  a.isI32 = true;
  a.i32 = std::move(data);
  a.minValue = minValue;
  a.maxValue = maxValue;
  return a;
}

/// Emits the op under test from the function's arguments (in `args` order).
using BuildFn = std::function<Value(mlir::OpBuilder &, mlir::Location,
                                    llvm::ArrayRef<Value>)>;

/// Builds `@xf_model(args...) -> tensor<resultShape x f32>` whose body is
/// `build`, compiles it with compileModule, runs it through the runtime C
/// API and returns the output (empty, with a test failure, on any error).
/// `manifest`, if given, receives the artifact's manifest.json.
std::vector<float> compileAndRun(const std::vector<Arg> &args,
                                 const std::vector<int64_t> &resultShape,
                                 const BuildFn &build,
                                 const CpuPipelineOptions &pipeline = {},
                                 std::string *manifest = nullptr) {
  for (const Arg &a : args) {
    size_t size = a.isI32 ? a.i32.size() : a.f32.size();
    if (static_cast<int64_t>(size) != numElements(a.shape)) {
      ADD_FAILURE() << "test bug: argument " << a.name << " has " << size
                    << " values for its shape";
      return {};
    }
  }
  mlir::DialectRegistry registry;
  registerXFCDialects(registry);
  registerXFCPassesAndPipelines();
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();

  mlir::OpBuilder b(&context);
  mlir::Location loc = b.getUnknownLoc();
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);
  module->setName("op_test");
  llvm::SmallVector<mlir::Type> argTypes;
  for (const Arg &a : args)
    argTypes.push_back(mlir::RankedTensorType::get(
        a.shape,
        a.isI32 ? mlir::Type(b.getI32Type()) : mlir::Type(b.getF32Type())));
  mlir::Type resultType =
      mlir::RankedTensorType::get(resultShape, b.getF32Type());
  b.setInsertionPointToEnd(module->getBody());
  auto func = mlir::func::FuncOp::create(
      b, loc, kModelFunctionName, b.getFunctionType(argTypes, {resultType}));
  llvm::StringRef writable =
      mlir::bufferization::BufferizationDialect::kWritableAttrName;
  for (auto [i, a] : llvm::enumerate(args)) {
    func.setArgAttr(i, a.isWeight ? kWeightAttrName : kInputAttrName,
                    b.getStringAttr(a.name));
    func.setArgAttr(i, writable, b.getBoolAttr(false));
  }
  func.setResultAttr(0, kOutputAttrName, b.getStringAttr("output"));
  mlir::Block *body = func.addEntryBlock();
  b.setInsertionPointToStart(body);
  llvm::SmallVector<Value> values(body->getArguments().begin(),
                                  body->getArguments().end());
  Value result = build(b, loc, values);
  mlir::func::ReturnOp::create(b, loc, result);

  WeightStore weights;
  ModuleInfo info;
  info.modelName = "op_test";
  for (const Arg &a : args) {
    if (a.isWeight) {
      HostTensor t;
      t.shape = a.shape;
      t.data = a.f32;
      weights.insert(a.name, std::move(t));
    } else if (a.isI32) {
      TensorDecl decl;
      decl.name = a.name;
      decl.dtype = "i32";
      decl.shape = a.shape;
      decl.hasRange = true;
      decl.minValue = a.minValue;
      decl.maxValue = a.maxValue;
      info.inputRanges.push_back(decl);
    }
  }

  ScratchDir dir(currentTestFolder());
  CompileRequest request;
  request.outputDir = dir.path() + "/artifact";
  request.force = true;
  request.pipeline = pipeline;
  CompileReport report;
  std::string error;
  if (!compileModule(*module, weights, info, request, report, error)) {
    ADD_FAILURE() << "compileModule failed: " << error;
    return {};
  }
  if (manifest) {
    std::ifstream in(request.outputDir + "/manifest.json");
    manifest->assign(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
  }

  xfc_model *model = nullptr;
  xfc_status status =
      xfc_model_open(request.outputDir.c_str(), nullptr, &model);
  if (status) {
    ADD_FAILURE() << "xfc_model_open: " << xfc_status_get_message(status);
    xfc_status_free(status);
    return {};
  }
  std::vector<xfc_buffer> inputs;
  std::vector<std::vector<float>> f32Copies;
  std::vector<std::vector<int32_t>> i32Copies;
  f32Copies.reserve(args.size());
  i32Copies.reserve(args.size());
  for (const Arg &a : args) {
    if (a.isWeight)
      continue;
    xfc_tensor_info inInfo;
    size_t index = inputs.size();
    EXPECT_EQ(xfc_model_input_info(model, index, &inInfo), nullptr);
    EXPECT_STREQ(inInfo.name, a.name.c_str());
    EXPECT_EQ(inInfo.dtype, a.isI32 ? XFC_DTYPE_I32 : XFC_DTYPE_F32);
    if (a.isI32) {
      i32Copies.push_back(a.i32);
      inputs.push_back(
          {i32Copies.back().data(), i32Copies.back().size() * sizeof(int32_t)});
    } else {
      f32Copies.push_back(a.f32);
      inputs.push_back(
          {f32Copies.back().data(), f32Copies.back().size() * sizeof(float)});
    }
  }
  EXPECT_EQ(xfc_model_num_inputs(model), inputs.size());
  EXPECT_EQ(xfc_model_num_outputs(model), 1u);
  xfc_tensor_info outInfo;
  EXPECT_EQ(xfc_model_output_info(model, 0, &outInfo), nullptr);
  EXPECT_EQ(outInfo.dtype, XFC_DTYPE_F32);
  EXPECT_EQ(std::vector<int64_t>(outInfo.dims, outInfo.dims + outInfo.rank),
            resultShape);
  std::vector<float> out(static_cast<size_t>(numElements(resultShape)),
                         std::nanf(""));
  xfc_buffer outBuffer{out.data(), out.size() * sizeof(float)};
  status = xfc_model_run(model, inputs.data(), inputs.size(), &outBuffer, 1);
  xfc_model_destroy(model);
  if (status) {
    ADD_FAILURE() << "xfc_model_run: " << xfc_status_get_message(status);
    xfc_status_free(status);
    return {};
  }
  return out;
}

/// The bound of the file banner: max(1e-4, 1e-5 * max|ref| + 1e-5).
double toleranceFor(const std::vector<double> &ref) {
  double maxRef = 0;
  for (double r : ref)
    maxRef = std::max(maxRef, std::fabs(r));
  return std::max(kAbsTolerance, kRelTolerance * maxRef + kRelTolerance);
}

/// max |out - ref|; infinite if a value is not finite or sizes differ.
double maxAbsError(const std::vector<float> &out,
                   const std::vector<double> &ref) {
  if (out.size() != ref.size())
    return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i]))
      return INFINITY;
    worst = std::max(worst, std::fabs(double(out[i]) - ref[i]));
  }
  return worst;
}

/// Checks `out` against `ref`: same size, every value finite, and
/// max |out - ref| within toleranceFor(ref).
void expectMatches(const std::vector<float> &out,
                   const std::vector<double> &ref) {
  ASSERT_EQ(out.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_TRUE(std::isfinite(ref[i])) << "reference value " << i;
  double tolerance = toleranceFor(ref);
  size_t nonFinite = 0, firstNonFinite = 0, worstIndex = 0;
  double worst = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) {
      if (nonFinite++ == 0)
        firstNonFinite = i;
      continue;
    }
    double d = std::fabs(static_cast<double>(out[i]) - ref[i]);
    if (d > worst) {
      worst = d;
      worstIndex = i;
    }
  }
  EXPECT_EQ(nonFinite, 0u) << "NaN or inf in the compiled output, first at "
                           << "flat index " << firstNonFinite << " ("
                           << out[firstNonFinite] << ")";
  EXPECT_LE(worst, tolerance)
      << "worst at flat index " << worstIndex << ": compiled "
      << out[worstIndex] << ", reference " << ref[worstIndex];
  ::testing::Test::RecordProperty("max_abs_error", std::to_string(worst));
}

Matrix toMatrix(const std::vector<float> &data, int64_t cols) {
  Matrix m(static_cast<int64_t>(data.size()) / cols, cols);
  for (size_t i = 0; i < data.size(); ++i)
    m.data[i] = data[i];
  return m;
}

HostTensor hostTensor(std::vector<int64_t> shape, std::vector<float> data) {
  HostTensor t;
  t.shape = std::move(shape);
  t.data = std::move(data);
  return t;
}

/// [rows, cols] -> [cols, rows].
std::vector<float> transposed(const std::vector<float> &w, int64_t rows,
                              int64_t cols) {
  std::vector<float> t(w.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      t[c * rows + r] = w[r * cols + c];
  return t;
}

mlir::RankedTensorType f32Type(mlir::OpBuilder &b,
                               const std::vector<int64_t> &shape) {
  return mlir::RankedTensorType::get(shape, b.getF32Type());
}

template <typename Case>
std::string caseName(const ::testing::TestParamInfo<Case> &info) {
  return info.param.name;
}

#define XFC_PRINT_CASE(Type)                                                   \
  [[maybe_unused]] void PrintTo(const Type &c, std::ostream *os) {             \
    *os << c.name;                                                             \
  }

//===----------------------------------------------------------------------===//
// xf.embedding
//===----------------------------------------------------------------------===//

struct EmbeddingCase {
  std::string name;
  int64_t batch, seq, vocab, dim;
  double scale;
};
XFC_PRINT_CASE(EmbeddingCase)

class EmbeddingOpTest : public ::testing::TestWithParam<EmbeddingCase> {};

TEST_P(EmbeddingOpTest, MatchesReference) {
  const EmbeddingCase &c = GetParam();
  std::vector<float> table = normal(c.vocab * c.dim, 11);
  std::vector<int32_t> ids(static_cast<size_t>(c.batch * c.seq));
  std::mt19937 rng(5);
  for (int32_t &id : ids)
    id = static_cast<int32_t>(rng() % c.vocab);
  // Both ends of the table, at both ends of the ids.
  ids.front() = 0;
  ids.back() = static_cast<int32_t>(c.vocab - 1);
  if (ids.size() > 2) {
    ids[1] = static_cast<int32_t>(c.vocab - 1);
    ids[ids.size() - 2] = 0;
  }
  std::vector<Arg> args = {
      i32Input("ids", {c.batch, c.seq}, ids, 0, c.vocab - 1),
      f32Weight("table", {c.vocab, c.dim}, table)};
  std::vector<int64_t> resultShape = {c.batch, c.seq, c.dim};
  std::vector<float> out = compileAndRun(
      args, resultShape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> v) {
        return mlir::xf::EmbeddingOp::create(b, loc, f32Type(b, resultShape),
                                             v[0], v[1],
                                             b.getF64FloatAttr(c.scale));
      });
  Matrix ref = reference::embeddingLookup(hostTensor({c.vocab, c.dim}, table),
                                          ids, c.scale);
  expectMatches(out, ref.data);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, EmbeddingOpTest,
    ::testing::Values(EmbeddingCase{"v50_d32_scale1", 3, 7, 50, 32, 1.0},
                      EmbeddingCase{"v50_d32_scale2_5", 3, 7, 50, 32, 2.5},
                      EmbeddingCase{"v7_d21_s1_scale2_5", 2, 1, 7, 21, 2.5},
                      EmbeddingCase{"v1000_d64_s77_scale1", 2, 77, 1000, 64,
                                    1.0}),
    caseName<EmbeddingCase>);

//===----------------------------------------------------------------------===//
// xf.positional_encoding
//===----------------------------------------------------------------------===//

struct PositionalCase {
  std::string name;
  bool learned;
  int64_t batch, seq, dModel;
  int64_t tableLen; ///< learned only
};
XFC_PRINT_CASE(PositionalCase)

class PositionalEncodingOpTest
    : public ::testing::TestWithParam<PositionalCase> {};

TEST_P(PositionalEncodingOpTest, MatchesReference) {
  const PositionalCase &c = GetParam();
  std::vector<int64_t> shape = {c.batch, c.seq, c.dModel};
  std::vector<float> x = normal(numElements(shape), 21);
  std::vector<Arg> args = {f32Input("x", shape, x)};
  std::vector<float> table;
  if (c.learned) {
    table = normal(c.tableLen * c.dModel, 22);
    args.push_back(f32Weight("positions", {c.tableLen, c.dModel}, table));
  }
  std::vector<float> out = compileAndRun(
      args, shape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> v) {
        auto kind = mlir::xf::PositionalKindAttr::get(
            b.getContext(), c.learned ? mlir::xf::PositionalKind::learned
                                      : mlir::xf::PositionalKind::sinusoidal);
        return mlir::xf::PositionalEncodingOp::create(
            b, loc, f32Type(b, shape), kind, v[0], c.learned ? v[1] : Value(),
            /*positions=*/Value());
      });
  Matrix ref = toMatrix(x, c.dModel);
  if (c.learned)
    reference::addLearnedPositions(ref, c.seq,
                                   hostTensor({c.tableLen, c.dModel}, table));
  else
    reference::addSinusoidalPositions(ref, c.seq);
  expectMatches(out, ref.data);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, PositionalEncodingOpTest,
    ::testing::Values(
        PositionalCase{"sinusoidal_s1_d64", false, 2, 1, 64, 0},
        PositionalCase{"sinusoidal_s7_d64", false, 2, 7, 64, 0},
        PositionalCase{"sinusoidal_s77_d64", false, 2, 77, 64, 0},
        PositionalCase{"sinusoidal_s1_d21", false, 3, 1, 21, 0},
        PositionalCase{"sinusoidal_s7_d21", false, 3, 7, 21, 0},
        PositionalCase{"sinusoidal_s77_d21", false, 2, 77, 21, 0},
        PositionalCase{"learned_s7_table16_d32", true, 2, 7, 32, 16},
        PositionalCase{"learned_s1_table5_d21", true, 3, 1, 21, 5},
        PositionalCase{"learned_s77_table128_d21", true, 2, 77, 21, 128},
        PositionalCase{"learned_s16_table16_d32", true, 2, 16, 32, 16}),
    caseName<PositionalCase>);

//===----------------------------------------------------------------------===//
// xf.layer_norm
//===----------------------------------------------------------------------===//

struct LayerNormCase {
  std::string name;
  std::vector<int64_t> shape;
  double epsilon;
};
XFC_PRINT_CASE(LayerNormCase)

class LayerNormOpTest : public ::testing::TestWithParam<LayerNormCase> {};

TEST_P(LayerNormOpTest, MatchesReference) {
  const LayerNormCase &c = GetParam();
  int64_t width = c.shape.back();
  int64_t rows = numElements(c.shape) / width;
  // Rows with different means (-5..5) and spreads (0.1..3), so the mean
  // subtraction and the variance both matter.
  std::vector<float> x(static_cast<size_t>(rows * width));
  for (int64_t r = 0; r < rows; ++r) {
    double mean = -5.0 + 10.0 * r / std::max<int64_t>(1, rows - 1);
    double stddev = 0.1 + 2.9 * ((r * 7) % rows) / std::max<int64_t>(1, rows);
    std::vector<float> row = normal(width, 31 + r, stddev, mean);
    std::copy(row.begin(), row.end(), x.begin() + r * width);
  }
  std::vector<float> gamma = normal(width, 32, 0.2, 1.0);
  std::vector<float> beta = normal(width, 33, 0.2);
  std::vector<Arg> args = {f32Input("x", c.shape, x),
                           f32Weight("norm.weight", {width}, gamma),
                           f32Weight("norm.bias", {width}, beta)};
  std::vector<float> out = compileAndRun(
      args, c.shape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> v) {
        return mlir::xf::LayerNormOp::create(b, loc, f32Type(b, c.shape), v[0],
                                             v[1], v[2],
                                             b.getF64FloatAttr(c.epsilon))
            .getResult();
      });
  Matrix ref =
      reference::layerNorm(toMatrix(x, width), hostTensor({width}, gamma),
                           hostTensor({width}, beta), c.epsilon);
  expectMatches(out, ref.data);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, LayerNormOpTest,
    ::testing::Values(LayerNormCase{"w80_eps1e_12", {2, 5, 80}, 1e-12},
                      LayerNormCase{"w80_eps1e_5", {2, 5, 80}, 1e-5},
                      LayerNormCase{"w768_eps1e_12", {2, 5, 768}, 1e-12},
                      LayerNormCase{"w768_eps1e_5", {2, 5, 768}, 1e-5},
                      LayerNormCase{"rank2_w80_eps1e_5", {6, 80}, 1e-5},
                      LayerNormCase{"rank1_w768_eps1e_12", {768}, 1e-12}),
    caseName<LayerNormCase>);

//===----------------------------------------------------------------------===//
// xf.linear
//===----------------------------------------------------------------------===//

enum class WeightLayout {
  /// [out, in] argument, default pipeline: xf-weight-layout packs it in
  /// register-tile panels (or transposes it when the panels do not tile
  /// the output features).
  LayoutPass,
  /// The layout pass with packing off: [in, out].
  LayoutPassNoPacking,
  /// [out, in] argument, the pass switched off: stays [out, in].
  NoLayoutPass,
  /// [in, out] argument with transpose_weight set by hand (default
  /// pipeline; the pass leaves such linears alone).
  ManualInOut,
};

struct LinearCase {
  std::string name;
  std::vector<int64_t> inputShape;
  int64_t outFeatures;
  bool bias;
  WeightLayout layout;
};
XFC_PRINT_CASE(LinearCase)

class LinearOpTest : public ::testing::TestWithParam<LinearCase> {};

TEST_P(LinearOpTest, MatchesReference) {
  const LinearCase &c = GetParam();
  int64_t in = c.inputShape.back(), outF = c.outFeatures;
  std::vector<float> x = normal(numElements(c.inputShape), 41);
  // Weights ~ N(0, 1/in): outputs O(1) whatever the width.
  std::vector<float> w = normal(outF * in, 42, 1.0 / std::sqrt(double(in)));
  std::vector<float> bias = normal(outF, 43);
  bool manual = c.layout == WeightLayout::ManualInOut;
  std::vector<Arg> args = {f32Input("x", c.inputShape, x)};
  if (manual)
    args.push_back(f32Weight("fc.weight", {in, outF}, transposed(w, outF, in)));
  else
    args.push_back(f32Weight("fc.weight", {outF, in}, w));
  if (c.bias)
    args.push_back(f32Weight("fc.bias", {outF}, bias));
  std::vector<int64_t> resultShape = c.inputShape;
  resultShape.back() = outF;
  CpuPipelineOptions pipeline;
  pipeline.transposeLinearWeights = c.layout != WeightLayout::NoLayoutPass;
  pipeline.packLinearWeights = c.layout == WeightLayout::LayoutPass;
  std::string manifest;
  std::vector<float> out = compileAndRun(
      args, resultShape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> v) {
        return mlir::xf::LinearOp::create(b, loc, f32Type(b, resultShape), v[0],
                                          v[1], c.bias ? v[2] : Value(),
                                          manual);
      },
      pipeline, &manifest);
  // The case really exercises its layout: only the pass records a
  // transformed weight in the artifact, packed when the panel width of this
  // machine's register tile (24 or 48 floats) divides the output features.
  bool packed = manifest.find("\"pack24\"") != std::string::npos ||
                manifest.find("\"pack48\"") != std::string::npos ||
                manifest.find("\"pack12\"") != std::string::npos;
  bool transposed = manifest.find("\"transpose\"") != std::string::npos;
  switch (c.layout) {
  case WeightLayout::LayoutPass:
    EXPECT_TRUE(packed != transposed) << manifest;
    if (outF % 48 == 0)
      EXPECT_TRUE(packed) << manifest;
    break;
  case WeightLayout::LayoutPassNoPacking:
    EXPECT_TRUE(transposed && !packed) << manifest;
    break;
  default:
    EXPECT_TRUE(!transposed && !packed) << manifest;
  }
  HostTensor wRef = hostTensor({outF, in}, w);
  HostTensor bRef = hostTensor({outF}, bias);
  Matrix ref =
      reference::linear(toMatrix(x, in), wRef, c.bias ? &bRef : nullptr);
  expectMatches(out, ref.data);
}

std::vector<LinearCase> linearCases() {
  struct Shape {
    const char *name;
    std::vector<int64_t> shape;
    int64_t out;
  } shapes[] = {{"rank1_k48_n24", {48}, 24},
                {"rank2_k48_n24", {5, 48}, 24},
                {"rank3_k48_n24", {2, 7, 48}, 24},
                {"rank3_k768_n80", {2, 3, 768}, 80},
                // Odd sizes for the tiled kernel: m not a multiple of the
                // register or thread tile, k past one kc slice and ragged,
                // n two and a half thread tiles.
                {"rank2_m77_k300_n96", {77, 300}, 96},
                {"rank3_m130_k64_n480", {2, 65, 64}, 480},
                // 190 outputs: the last panel padded with zero columns
                // (192 for panels of 12, 24 or 48), as for a vocabulary.
                {"rank3_m7_k64_n190_padded_panel", {1, 7, 64}, 190}};
  struct Layout {
    const char *name;
    WeightLayout layout;
  } layouts[] = {{"layout_pass", WeightLayout::LayoutPass},
                 {"layout_pass_no_packing", WeightLayout::LayoutPassNoPacking},
                 {"out_in_no_layout_pass", WeightLayout::NoLayoutPass},
                 {"in_out_manual_transpose", WeightLayout::ManualInOut}};
  std::vector<LinearCase> cases;
  for (const Shape &s : shapes)
    for (const Layout &l : layouts)
      for (bool bias : {true, false})
        cases.push_back(
            {std::string(s.name) + "_" + l.name + (bias ? "_bias" : "_nobias"),
             s.shape, s.out, bias, l.layout});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Ops, LinearOpTest, ::testing::ValuesIn(linearCases()),
                         caseName<LinearCase>);

//===----------------------------------------------------------------------===//
// xf.activation
//===----------------------------------------------------------------------===//

struct ActivationCase {
  std::string name;
  mlir::xf::ActivationKind kind;
  Activation refKind;
  std::vector<int64_t> shape;
};
XFC_PRINT_CASE(ActivationCase)

class ActivationOpTest : public ::testing::TestWithParam<ActivationCase> {};

TEST_P(ActivationOpTest, MatchesReference) {
  const ActivationCase &c = GetParam();
  std::vector<float> x = normal(numElements(c.shape), 51, 3.0);
  // Zero (both signs), tiny, the erf/tanh knees and large |x|.
  const float specials[] = {0.0f,  -0.0f,  1e-6f, -1e-6f, 0.5f,   -0.5f, 3.0f,
                            -3.0f, 5.0f,   -5.0f, 10.0f,  -10.0f, 30.0f, -30.0f,
                            100.f, -100.f, 1e3f,  -1e3f,  1e4f,   -1e4f};
  for (size_t i = 0; i < std::size(specials) && i < x.size(); ++i)
    x[i] = specials[i];
  std::vector<Arg> args = {f32Input("x", c.shape, x)};
  std::vector<float> out = compileAndRun(
      args, c.shape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> v) {
        return mlir::xf::ActivationOp::create(
            b, loc, f32Type(b, c.shape),
            mlir::xf::ActivationKindAttr::get(b.getContext(), c.kind), v[0]);
      });
  std::vector<double> ref(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    ref[i] = reference::activate(c.refKind, x[i]);
  expectMatches(out, ref);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, ActivationOpTest,
    ::testing::Values(ActivationCase{"relu_rank2_specials",
                                     mlir::xf::ActivationKind::relu,
                                     Activation::Relu,
                                     {4, 33}},
                      ActivationCase{"gelu_rank2_specials",
                                     mlir::xf::ActivationKind::gelu,
                                     Activation::Gelu,
                                     {4, 33}},
                      ActivationCase{"gelu_tanh_rank2_specials",
                                     mlir::xf::ActivationKind::gelu_tanh,
                                     Activation::GeluTanh,
                                     {4, 33}},
                      ActivationCase{"relu_rank3",
                                     mlir::xf::ActivationKind::relu,
                                     Activation::Relu,
                                     {2, 7, 64}},
                      ActivationCase{"gelu_rank3",
                                     mlir::xf::ActivationKind::gelu,
                                     Activation::Gelu,
                                     {2, 7, 64}},
                      ActivationCase{"gelu_tanh_rank1",
                                     mlir::xf::ActivationKind::gelu_tanh,
                                     Activation::GeluTanh,
                                     {37}}),
    caseName<ActivationCase>);

//===----------------------------------------------------------------------===//
// xf.add
//===----------------------------------------------------------------------===//

struct AddCase {
  std::string name;
  std::vector<int64_t> shape;
  enum { TwoInputs, SameOperand, InputPlusWeight } operands;
  double magnitude;
};
XFC_PRINT_CASE(AddCase)

class AddOpTest : public ::testing::TestWithParam<AddCase> {};

TEST_P(AddOpTest, MatchesReference) {
  const AddCase &c = GetParam();
  std::vector<float> lhs = normal(numElements(c.shape), 61, c.magnitude);
  std::vector<float> rhs = normal(numElements(c.shape), 62, c.magnitude);
  std::vector<Arg> args = {f32Input("lhs", c.shape, lhs)};
  if (c.operands == AddCase::TwoInputs)
    args.push_back(f32Input("rhs", c.shape, rhs));
  else if (c.operands == AddCase::InputPlusWeight)
    args.push_back(f32Weight("rhs", c.shape, rhs));
  else
    rhs = lhs;
  std::vector<float> out = compileAndRun(
      args, c.shape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> v) {
        Value r = c.operands == AddCase::SameOperand ? v[0] : v[1];
        return mlir::xf::AddOp::create(b, loc, f32Type(b, c.shape), v[0], r);
      });
  std::vector<double> ref(lhs.size());
  for (size_t i = 0; i < lhs.size(); ++i)
    ref[i] = double(lhs[i]) + double(rhs[i]);
  expectMatches(out, ref);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, AddOpTest,
    ::testing::Values(
        AddCase{"rank3_inputs", {2, 7, 33}, AddCase::TwoInputs, 1.0},
        AddCase{"rank1_inputs", {5}, AddCase::TwoInputs, 1.0},
        AddCase{"rank3_same_operand", {2, 7, 33}, AddCase::SameOperand, 1.0},
        AddCase{
            "rank2_input_plus_weight", {9, 16}, AddCase::InputPlusWeight, 1.0},
        AddCase{"rank3_large_values", {2, 3, 40}, AddCase::TwoInputs, 1e4}),
    caseName<AddCase>);

//===----------------------------------------------------------------------===//
// xf.softmax
//===----------------------------------------------------------------------===//

struct SoftmaxCase {
  std::string name;
  std::vector<int64_t> shape;
  bool largeRows;
};
XFC_PRINT_CASE(SoftmaxCase)

class SoftmaxOpTest : public ::testing::TestWithParam<SoftmaxCase> {};

TEST_P(SoftmaxOpTest, MatchesReference) {
  const SoftmaxCase &c = GetParam();
  int64_t width = c.shape.back();
  int64_t rows = numElements(c.shape) / width;
  std::vector<float> x = normal(numElements(c.shape), 71, 3.0);
  if (c.largeRows) {
    // Row r: a large offset, a dominant element beyond exp's f32 range, or
    // all-equal large values. A naive exp(x)/sum overflows on each.
    const double offsets[] = {1e3, 1e4, -1e4, 0.0, 3e4, 88.0, -200.0, 0.0};
    for (int64_t r = 0; r < rows; ++r) {
      float *row = x.data() + r * width;
      switch (r % 8) {
      case 3:
        row[width / 2] = 100.0f; // exp(100) overflows f32.
        break;
      case 4:
        std::fill(row, row + width, 3e4f);
        break;
      case 7:
        row[0] = 1e4f;
        row[width - 1] = 1e4f; // Two tied maxima, half each.
        break;
      default:
        for (int64_t i = 0; i < width; ++i)
          row[i] = static_cast<float>(row[i] + offsets[r % 8]);
      }
    }
  }
  std::vector<Arg> args = {f32Input("x", c.shape, x)};
  std::vector<float> out = compileAndRun(
      args, c.shape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> v) {
        return mlir::xf::SoftmaxOp::create(b, loc, f32Type(b, c.shape), v[0]);
      });
  std::vector<double> ref(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double maxV = -std::numeric_limits<double>::infinity(), sum = 0;
    for (int64_t i = 0; i < width; ++i)
      maxV = std::max(maxV, double(x[r * width + i]));
    for (int64_t i = 0; i < width; ++i)
      sum += ref[r * width + i] = std::exp(double(x[r * width + i]) - maxV);
    for (int64_t i = 0; i < width; ++i)
      ref[r * width + i] /= sum;
  }
  expectMatches(out, ref);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, SoftmaxOpTest,
    ::testing::Values(SoftmaxCase{"rank2_row40", {5, 40}, false},
                      SoftmaxCase{"rank3_row77", {2, 3, 77}, false},
                      SoftmaxCase{"rank2_large_values", {8, 16}, true},
                      SoftmaxCase{"rank3_large_values_row77", {2, 8, 77}, true},
                      SoftmaxCase{"row1", {3, 1}, false},
                      SoftmaxCase{"rank1_row13", {13}, false}),
    caseName<SoftmaxCase>);

//===----------------------------------------------------------------------===//
// xf.attention
//===----------------------------------------------------------------------===//

struct AttentionCase {
  std::string name;
  int64_t batch, heads, headDim, sq, sk;
  bool separateKeyValue; ///< Else query, key and value are one value.
  bool causal;
  std::vector<int32_t> keyLengths; ///< One per batch item, or empty.
  double scale;                    ///< 0: 1/sqrt(head_dim).
};
XFC_PRINT_CASE(AttentionCase)

/// Fused-kernel tiles chosen by the test instead of xf-fuse-attention
/// (which keeps an existing choice): clamped to the sequence lengths.
struct KernelPin {
  int64_t blockQ, blockK;
  bool table; ///< Read the block map's table instead of its closed form.
};

/// Compiles and runs case `c` with `pipeline` (and `pin`'s tiles if given);
/// `out` gets the compiled output, `ref` the reference.
void runAttentionCase(const AttentionCase &c,
                      const CpuPipelineOptions &pipeline,
                      std::vector<float> &out, std::vector<double> &ref,
                      std::string *manifest = nullptr,
                      const KernelPin *pin = nullptr) {
  ASSERT_TRUE(c.keyLengths.empty() ||
              static_cast<int64_t>(c.keyLengths.size()) == c.batch);
  int64_t width = c.heads * c.headDim;
  double defaultScale = 1.0 / std::sqrt(double(c.headDim));
  double scale = c.scale > 0 ? c.scale : defaultScale;
  std::vector<int64_t> qShape = {c.batch, c.sq, width};
  std::vector<int64_t> kShape = {c.batch, c.sk, width};
  // Q, K ~ N(0, 4): scores q.k/sqrt(Dh) have a standard deviation of 4.
  std::vector<float> q = normal(numElements(qShape), 81, 2.0);
  std::vector<float> k = normal(numElements(kShape), 82, 2.0);
  std::vector<float> v = normal(numElements(kShape), 83);
  if (!c.separateKeyValue)
    k = v = q;
  std::vector<Arg> args = {f32Input("query", qShape, q)};
  if (c.separateKeyValue) {
    args.push_back(f32Input("key", kShape, k));
    args.push_back(f32Input("value", kShape, v));
  }
  if (!c.keyLengths.empty())
    args.push_back(i32Input("key_lengths", {c.batch}, c.keyLengths, 0, c.sk));
  out = compileAndRun(
      args, qShape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> a) {
        Value query = a[0];
        Value key = c.separateKeyValue ? a[1] : a[0];
        Value value = c.separateKeyValue ? a[2] : a[0];
        Value lengths = c.keyLengths.empty() ? Value() : a.back();
        auto op = mlir::xf::AttentionOp::create(
            b, loc, f32Type(b, qShape), query, key, value, lengths,
            b.getI64IntegerAttr(c.heads), b.getF64FloatAttr(scale),
            c.causal ? b.getUnitAttr() : mlir::UnitAttr(),
            mlir::xf::AttentionPatternAttr());
        if (pin) {
          llvm::SmallVector<mlir::NamedAttribute> kernel = {
              b.getNamedAttr("kind", b.getStringAttr("flash")),
              b.getNamedAttr("block_q",
                             b.getI64IntegerAttr(std::min(pin->blockQ, c.sq))),
              b.getNamedAttr("block_k",
                             b.getI64IntegerAttr(std::min(pin->blockK, c.sk)))};
          if (pin->table)
            kernel.push_back(
                b.getNamedAttr("driver", b.getStringAttr("table")));
          op->setAttr(mlir::xf::kAttentionKernelAttrName,
                      b.getDictionaryAttr(kernel));
        }
        return op;
      },
      pipeline, manifest);
  // The reference scales by 1/sqrt(Dh); fold any other scale into Q.
  Matrix qRef = toMatrix(q, width);
  for (double &x : qRef.data)
    x *= scale / defaultScale;
  reference::AttentionMask mask;
  mask.causal = c.causal;
  mask.keyLengths = c.keyLengths.empty() ? nullptr : &c.keyLengths;
  ref = reference::scaledDotProductAttention(qRef, toMatrix(k, width),
                                             toMatrix(v, width), c.batch, c.sq,
                                             c.sk, c.heads, mask)
            .data;
}

/// Runs case `c` with the fused attention kernel on or off and checks it
/// against the reference; the manifest's pipeline proves which lowering
/// ran.
void checkAttentionCase(const AttentionCase &c, bool fused,
                        const KernelPin *pin = nullptr) {
  CpuPipelineOptions pipeline;
  pipeline.fusion.attention = fused;
  std::vector<float> out;
  std::vector<double> ref;
  std::string manifest;
  ASSERT_NO_FATAL_FAILURE(
      runAttentionCase(c, pipeline, out, ref, &manifest, pin));
  EXPECT_EQ(manifest.find("xf-fuse-attention") != std::string::npos, fused)
      << manifest;
  expectMatches(out, ref);
  // A fully masked item: exactly 0, not merely close.
  if (out.size() != ref.size())
    return;
  int64_t width = c.heads * c.headDim;
  for (int64_t b = 0; b < static_cast<int64_t>(c.keyLengths.size()); ++b) {
    if (c.keyLengths[b] != 0)
      continue;
    for (int64_t i = b * c.sq * width; i < (b + 1) * c.sq * width; ++i)
      ASSERT_EQ(out[i], 0.0f)
          << "batch item " << b << " has no key, flat index " << i;
  }
}

class AttentionOpTest : public ::testing::TestWithParam<AttentionCase> {};

/// The default pipeline: the fused (FlashAttention) kernel.
TEST_P(AttentionOpTest, MatchesReference) {
  checkAttentionCase(GetParam(), /*fused=*/true);
}

/// Fusion off: the unfused lowering (materialized scores).
TEST_P(AttentionOpTest, UnfusedMatchesReference) {
  checkAttentionCase(GetParam(), /*fused=*/false);
}

/// The fused kernel with small odd tiles (5 x 3): many blocks even for
/// short sequences, ragged tails everywhere, the online softmax rescaling
/// many times per row, key padding ending inside and between blocks;
/// closed-form loop bounds.
TEST_P(AttentionOpTest, SmallTilesMatchReference) {
  KernelPin pin{5, 3, /*table=*/false};
  checkAttentionCase(GetParam(), /*fused=*/true, &pin);
}

/// The same tiles, with the visited blocks read from the block map's CSR
/// table at run time (the path sparse patterns take).
TEST_P(AttentionOpTest, TableDrivenMatchesReference) {
  KernelPin pin{5, 3, /*table=*/true};
  checkAttentionCase(GetParam(), /*fused=*/true, &pin);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, AttentionOpTest,
    ::testing::Values(
        // Self (Sk == Sq), distinct Q/K/V.
        AttentionCase{"h1_hd64_s1_self", 2, 1, 64, 1, 1, true, false, {}, 0},
        AttentionCase{"h2_hd64_s7_self", 2, 2, 64, 7, 7, true, false, {}, 0},
        AttentionCase{"h1_hd80_s7_self", 2, 1, 80, 7, 7, true, false, {}, 0},
        AttentionCase{"h3_hd80_s77_self", 2, 3, 80, 77, 77, true, false, {}, 0},
        // Q, K and V one value.
        AttentionCase{
            "h2_hd64_s7_shared_qkv", 2, 2, 64, 7, 7, false, false, {}, 0},
        // Cross (Sk != Sq).
        AttentionCase{
            "h2_hd64_q7_k77_cross", 2, 2, 64, 7, 77, true, false, {}, 0},
        AttentionCase{
            "h3_hd80_q77_k7_cross", 2, 3, 80, 77, 7, true, false, {}, 0},
        AttentionCase{
            "h1_hd64_q1_k7_cross", 2, 1, 64, 1, 7, true, false, {}, 0},
        // Causal.
        AttentionCase{"h2_hd64_s7_causal", 2, 2, 64, 7, 7, true, true, {}, 0},
        AttentionCase{
            "h3_hd80_s77_causal", 2, 3, 80, 77, 77, true, true, {}, 0},
        AttentionCase{"h1_hd64_s1_causal", 2, 1, 64, 1, 1, true, true, {}, 0},
        AttentionCase{
            "h2_hd80_q7_k5_causal_cross", 2, 2, 80, 7, 5, true, true, {}, 0},
        AttentionCase{
            "h2_hd64_q5_k9_causal_cross", 2, 2, 64, 5, 9, true, true, {}, 0},
        // Key lengths, with an empty item.
        AttentionCase{"h2_hd64_s7_keylengths",
                      4,
                      2,
                      64,
                      7,
                      7,
                      true,
                      false,
                      {7, 0, 1, 4},
                      0},
        AttentionCase{
            "h1_hd64_s1_keylengths", 2, 1, 64, 1, 1, true, false, {0, 1}, 0},
        AttentionCase{"h3_hd80_q7_k77_cross_keylengths",
                      4,
                      3,
                      80,
                      7,
                      77,
                      true,
                      false,
                      {77, 0, 1, 40},
                      0},
        AttentionCase{"h2_hd80_s77_keylengths",
                      3,
                      2,
                      80,
                      77,
                      77,
                      true,
                      false,
                      {0, 77, 33},
                      0},
        // Causal + key lengths.
        AttentionCase{"h2_hd64_s7_causal_keylengths",
                      4,
                      2,
                      64,
                      7,
                      7,
                      true,
                      true,
                      {7, 0, 1, 3},
                      0},
        AttentionCase{"h3_hd80_s77_causal_keylengths",
                      3,
                      3,
                      80,
                      77,
                      77,
                      true,
                      true,
                      {77, 0, 30},
                      0},
        AttentionCase{"h1_hd80_q9_k4_causal_cross_keylengths",
                      3,
                      1,
                      80,
                      9,
                      4,
                      true,
                      true,
                      {4, 2, 0},
                      0},
        // Non-default scale.
        AttentionCase{
            "h2_hd64_s7_scale0_05", 2, 2, 64, 7, 7, true, false, {}, 0.05},
        // Very large logits (standard deviation ~640, far past exp's fp32
        // range of 88): the running maximum keeps every exponent <= 0, so
        // the result stays finite and matches the float64 reference.
        AttentionCase{"h2_hd64_s77_large_logits_scale20",
                      2,
                      2,
                      64,
                      77,
                      77,
                      true,
                      false,
                      {},
                      20.0},
        AttentionCase{"h2_hd64_s77_causal_keylengths_large_logits_scale20",
                      3,
                      2,
                      64,
                      77,
                      77,
                      true,
                      true,
                      {77, 0, 30},
                      20.0},
        AttentionCase{"h3_hd80_q7_k13_cross_keylengths_scale0_3",
                      3,
                      3,
                      80,
                      7,
                      13,
                      true,
                      false,
                      {13, 0, 6},
                      0.3},
        AttentionCase{
            "h2_hd64_s7_causal_scale1", 2, 2, 64, 7, 7, true, true, {}, 1.0},
        // Several query and key tiles of the fused kernel's default 32 x 64
        // blocks, with ragged tails (130 = 4 x 32 + 2 = 2 x 64 + 2): the
        // online softmax across blocks, causal block skipping, the masked
        // diagonal, the shifted tail tiles and key-block loop bounds.
        AttentionCase{
            "h2_hd64_s130_self", 1, 2, 64, 130, 130, true, false, {}, 0},
        AttentionCase{
            "h1_hd80_s130_causal", 1, 1, 80, 130, 130, true, true, {}, 0},
        AttentionCase{"h2_hd64_s130_causal_keylengths",
                      3,
                      2,
                      64,
                      130,
                      130,
                      true,
                      true,
                      {130, 0, 65},
                      0},
        AttentionCase{"h1_hd80_q77_k130_cross_keylengths",
                      3,
                      1,
                      80,
                      77,
                      130,
                      true,
                      false,
                      {64, 129, 0},
                      0},
        AttentionCase{"h2_hd64_q130_k7_causal_cross",
                      1,
                      2,
                      64,
                      130,
                      7,
                      true,
                      true,
                      {},
                      0}),
    caseName<AttentionCase>);

/// The comparison can fail: compiled with a deliberately wrong attention
/// lowering (CpuPipelineOptions::testFault), the output must miss the
/// reference by far more than the tolerance.
struct AttentionFaultCase {
  std::string name;
  std::string fault;
  AttentionCase attention;
};
XFC_PRINT_CASE(AttentionFaultCase)

class AttentionFaultTest : public ::testing::TestWithParam<AttentionFaultCase> {
};

void checkFaultIsNoticed(const AttentionFaultCase &c, bool fused) {
  CpuPipelineOptions pipeline;
  pipeline.testFault = c.fault;
  pipeline.fusion.attention = fused;
  std::vector<float> out;
  std::vector<double> ref;
  ASSERT_NO_FATAL_FAILURE(runAttentionCase(c.attention, pipeline, out, ref));
  ASSERT_EQ(out.size(), ref.size());
  EXPECT_GT(maxAbsError(out, ref), 100 * toleranceFor(ref))
      << "the op test did not notice " << c.fault;
}

/// The fused kernel (default pipeline) with the fault.
TEST_P(AttentionFaultTest, ComparisonFails) {
  checkFaultIsNoticed(GetParam(), /*fused=*/true);
}

/// The unfused lowering with the fault.
TEST_P(AttentionFaultTest, UnfusedComparisonFails) {
  checkFaultIsNoticed(GetParam(), /*fused=*/false);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, AttentionFaultTest,
    ::testing::Values(
        AttentionFaultCase{"drop_mask_keylengths",
                           "drop-mask",
                           {"", 4, 2, 64, 7, 7, true, false, {7, 0, 1, 4}, 0}},
        AttentionFaultCase{"drop_mask_causal",
                           "drop-mask",
                           {"", 2, 2, 64, 7, 7, true, true, {}, 0}},
        AttentionFaultCase{"causal_off_by_one",
                           "causal-off-by-one",
                           {"", 2, 2, 64, 7, 7, true, true, {}, 0}},
        AttentionFaultCase{"permute_heads",
                           "permute-heads",
                           {"", 2, 3, 80, 7, 7, true, false, {}, 0}}),
    caseName<AttentionFaultCase>);

//===----------------------------------------------------------------------===//
// xf.attention with mask patterns, against PyTorch goldens
//===----------------------------------------------------------------------===//

/// One case of tests/e2e/golden/attention_patterns (cases.json), made by
/// make_pattern_goldens.py: the masks built element by element in Python
/// from the definitions, attention in float64 by PyTorch.
struct PatternGoldenCase {
  std::string name, pattern, file;
  int64_t batch = 0, heads = 0, headDim = 0, sq = 0, sk = 0;
  std::vector<int32_t> keyLengths;
  double tolerance = 0;
  int64_t emptyRows = 0;
  /// The folder of `file`: attention_patterns unless set.
  std::string dir;
};
XFC_PRINT_CASE(PatternGoldenCase)

std::string patternGoldenDir() { return goldenRoot() + "/attention_patterns"; }

/// Every case of cases.json; a missing or malformed file gives no cases
/// and the test below (PatternGoldenFilesExist) fails.
std::vector<PatternGoldenCase>
loadPatternGoldenCases(const std::string &dir = patternGoldenDir(),
                       const std::string &list = "cases.json") {
  std::vector<PatternGoldenCase> cases;
  std::ifstream in(dir + "/" + list);
  nlohmann::json json = nlohmann::json::parse(in, nullptr,
                                              /*allow_exceptions=*/false);
  if (!json.is_array())
    return cases;
  for (const nlohmann::json &c : json) {
    PatternGoldenCase pc;
    pc.name = c.value("name", "");
    pc.pattern = c.value("pattern", "");
    pc.file = c.value("file", "");
    pc.batch = c.value("batch", 0);
    pc.heads = c.value("heads", 0);
    pc.headDim = c.value("head_dim", 0);
    pc.sq = c.value("sq", 0);
    pc.sk = c.value("sk", 0);
    if (c.contains("key_lengths") && c["key_lengths"].is_array())
      pc.keyLengths = c["key_lengths"].get<std::vector<int32_t>>();
    pc.tolerance = c.value("tolerance", 0.0);
    pc.emptyRows = c.value("empty_rows", 0);
    pc.dir = dir;
    cases.push_back(pc);
  }
  return cases;
}

/// The tensors of one case's safetensors file.
struct PatternGoldenData {
  std::vector<float> query, key, value, output;
};

bool readPatternGolden(const PatternGoldenCase &c, PatternGoldenData &data,
                       std::string &error) {
  std::ifstream in((c.dir.empty() ? patternGoldenDir() : c.dir) + "/" + c.file,
                   std::ios::binary);
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
  return read("query", {c.batch, c.sq, width}, data.query) &&
         read("key", {c.batch, c.sk, width}, data.key) &&
         read("value", {c.batch, c.sk, width}, data.value) &&
         read("output", {c.batch, c.sq, width}, data.output);
}

/// How a case is compiled: fused with xf-fuse-attention's tiles (gathering
/// where it pays, or never), unfused, fused with small odd tiles (many
/// partial blocks, ragged tails), fused with every part that can be
/// gathered gathered, at xf-fuse-attention's tiles or small ones, or the
/// default pipeline with MLIR's runtime verification (bounds checks on
/// every memref access).
enum class PatternLowering {
  Fused,
  FusedNoGather,
  Unfused,
  SmallTiles,
  Gathered,
  SmallTilesGathered,
  BoundsChecked
};

void checkPatternGolden(const PatternGoldenCase &c, PatternLowering lowering,
                        const std::string &fault = "") {
  PatternGoldenData data;
  std::string error;
  ASSERT_TRUE(readPatternGolden(c, data, error)) << c.file << ": " << error;
  int64_t width = c.heads * c.headDim;
  std::vector<int64_t> qShape = {c.batch, c.sq, width};
  std::vector<int64_t> kShape = {c.batch, c.sk, width};
  std::vector<Arg> args = {f32Input("query", qShape, data.query),
                           f32Input("key", kShape, data.key),
                           f32Input("value", kShape, data.value)};
  if (!c.keyLengths.empty())
    args.push_back(i32Input("key_lengths", {c.batch}, c.keyLengths, 0, c.sk));
  CpuPipelineOptions pipeline;
  pipeline.fusion.attention = lowering != PatternLowering::Unfused;
  pipeline.fusion.attentionGather = lowering != PatternLowering::FusedNoGather;
  bool small = lowering == PatternLowering::SmallTiles ||
               lowering == PatternLowering::SmallTilesGathered;
  bool gathered = lowering == PatternLowering::Gathered ||
                  lowering == PatternLowering::SmallTilesGathered;
  pipeline.testFault = fault;
  pipeline.runtimeVerification = lowering == PatternLowering::BoundsChecked;
  std::vector<float> out = compileAndRun(
      args, qShape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> a) {
        mlir::xf::PatternGroups groups;
        std::string parseError;
        EXPECT_TRUE(mlir::xf::parsePatternText(c.pattern, groups, parseError))
            << parseError;
        auto op = mlir::xf::AttentionOp::create(
            b, loc, f32Type(b, qShape), a[0], a[1], a[2],
            c.keyLengths.empty() ? Value() : a[3], b.getI64IntegerAttr(c.heads),
            b.getF64FloatAttr(1.0 / std::sqrt(double(c.headDim))),
            mlir::UnitAttr(),
            mlir::xf::AttentionPatternAttr::get(b.getContext(), groups));
        if (!small && !gathered)
          return op;
        // A kernel chosen by hand: 5 x 3 tiles or xf-fuse-attention's
        // defaults, and every head group that can be gathered gathered
        // (whether or not that pays).
        std::vector<mlir::NamedAttribute> fields = {
            b.getNamedAttr("kind", b.getStringAttr("flash")),
            b.getNamedAttr("block_q", b.getI64IntegerAttr(std::min<int64_t>(
                                          small ? 5 : 32, c.sq))),
            b.getNamedAttr("block_k", b.getI64IntegerAttr(std::min<int64_t>(
                                          small ? 3 : 64, c.sk)))};
        if (gathered) {
          std::vector<mlir::Attribute> strategies;
          bool any = false;
          for (const auto &parts : groups) {
            auto plan = mlir::xf::planGather(parts, c.sq, c.sk);
            any |= plan.has_value();
            strategies.push_back(
                b.getStringAttr(plan ? plan->describe() : "none"));
          }
          if (!any)
            ADD_FAILURE() << "nothing to gather in " << c.pattern;
          fields.push_back(
              b.getNamedAttr("gather", b.getArrayAttr(strategies)));
        }
        op->setAttr(mlir::xf::kAttentionKernelAttrName,
                    b.getDictionaryAttr(fields));
        return op;
      },
      pipeline);
  ASSERT_EQ(out.size(), data.output.size());
  double worst = 0;
  size_t worstIndex = 0, nonFinite = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) {
      ++nonFinite;
      continue;
    }
    double d = std::fabs(double(out[i]) - double(data.output[i]));
    if (d > worst) {
      worst = d;
      worstIndex = i;
    }
  }
  if (!fault.empty()) {
    EXPECT_TRUE(nonFinite > 0 || worst > 100 * c.tolerance)
        << "the pattern golden test did not notice " << fault;
    return;
  }
  EXPECT_EQ(nonFinite, 0u) << "NaN or inf in the compiled output";
  EXPECT_LE(worst, c.tolerance)
      << "worst at flat index " << worstIndex << ": compiled "
      << out[worstIndex] << ", golden " << data.output[worstIndex];
  ::testing::Test::RecordProperty("max_abs_error", std::to_string(worst));

  // Rows with nothing to attend to are exactly 0 in the goldens, and so
  // must they be here (not merely close); their count is the case's.
  int64_t emptyRows = 0;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.sq; ++i)
      for (int64_t h = 0; h < c.heads; ++h) {
        size_t base = size_t((b * c.sq + i) * width + h * c.headDim);
        bool goldenZero = true;
        for (int64_t e = 0; e < c.headDim; ++e)
          goldenZero &= data.output[base + e] == 0.0f;
        if (!goldenZero)
          continue;
        ++emptyRows;
        for (int64_t e = 0; e < c.headDim; ++e)
          ASSERT_EQ(out[base + e], 0.0f)
              << "row (b " << b << ", i " << i << ", head " << h
              << ") has no allowed key and must be exactly 0";
      }
  EXPECT_EQ(emptyRows, c.emptyRows);
}

class AttentionPatternGoldenTest
    : public ::testing::TestWithParam<PatternGoldenCase> {};

/// Does some head group of the case have a part that can be gathered?
bool canGather(const PatternGoldenCase &c) {
  mlir::xf::PatternGroups groups;
  std::string error;
  if (!mlir::xf::parsePatternText(c.pattern, groups, error))
    return false;
  for (const auto &parts : groups)
    if (mlir::xf::planGather(parts, c.sq, c.sk))
      return true;
  return false;
}

TEST(AttentionPatternGolden, FilesExist) {
  EXPECT_GE(loadPatternGoldenCases().size(), 20u)
      << "tests/e2e/golden/attention_patterns/cases.json is missing or "
         "malformed";
}

/// The default pipeline: the fused kernel with its block map's table and
/// the pattern's in-block mask.
TEST_P(AttentionPatternGoldenTest, FusedMatchesPyTorch) {
  checkPatternGolden(GetParam(), PatternLowering::Fused);
}

/// Gathering switched off (xf-fuse-attention{gather=false}): every part
/// over the original positions.
TEST_P(AttentionPatternGoldenTest, FusedNoGatherMatchesPyTorch) {
  checkPatternGolden(GetParam(), PatternLowering::FusedNoGather);
}

/// Every part that can be gathered is (AttentionGather.h), at the default
/// tiles and at 5 x 3 tiles (ragged class tails, masked class tiles, the
/// rest of a union excluded and continued).
TEST_P(AttentionPatternGoldenTest, GatheredMatchesPyTorch) {
  if (!canGather(GetParam()))
    GTEST_SKIP() << "no part of " << GetParam().pattern << " gathers";
  checkPatternGolden(GetParam(), PatternLowering::Gathered);
  checkPatternGolden(GetParam(), PatternLowering::SmallTilesGathered);
}

/// The unfused lowering: materialized scores under the element mask.
TEST_P(AttentionPatternGoldenTest, UnfusedMatchesPyTorch) {
  checkPatternGolden(GetParam(), PatternLowering::Unfused);
}

/// 5 x 3 tiles: most blocks partial, ragged tails, empty blocks skipped.
TEST_P(AttentionPatternGoldenTest, SmallTilesMatchPyTorch) {
  checkPatternGolden(GetParam(), PatternLowering::SmallTiles);
}

INSTANTIATE_TEST_SUITE_P(Patterns, AttentionPatternGoldenTest,
                         ::testing::ValuesIn(loadPatternGoldenCases()),
                         caseName<PatternGoldenCase>);

/// The comparison can fail: without the pattern's element mask (the block
/// map alone still skips empty blocks) the output misses the goldens.
TEST(AttentionPatternGolden, DroppedMaskIsNoticed) {
  for (const PatternGoldenCase &c : loadPatternGoldenCases()) {
    if (c.name != "sliding_window_w8_s77" && c.name != "strided_heads_h4_s77" &&
        c.name != "fixed_union_l16_c3_s130")
      continue;
    SCOPED_TRACE(c.name);
    checkPatternGolden(c, PatternLowering::SmallTiles, "drop-mask");
    checkPatternGolden(c, PatternLowering::Unfused, "drop-mask");
    if (canGather(c))
      checkPatternGolden(c, PatternLowering::SmallTilesGathered, "drop-mask");
  }
}

/// The compact copy of the fixed A2's summary keys and the phase over it
/// stay inside their buffers: a case the default pipeline gathers (key
/// padding, batch 2, a ragged key tail), with bounds checks on every
/// access.
TEST(AttentionPatternGolden, SummaryKeysBoundsChecked) {
  for (const PatternGoldenCase &c : loadPatternGoldenCases()) {
    if (c.name != "fixed_summary_l8_c3_keylen_s77")
      continue;
    SCOPED_TRACE(c.name);
    checkPatternGolden(c, PatternLowering::BoundsChecked);
  }
}

//===----------------------------------------------------------------------===//
// xf.attention with linear attention and Performer, against PyTorch goldens
//===----------------------------------------------------------------------===//

/// One case of tests/e2e/golden/attention_families (cases.json), made by
/// make_linear_goldens.py: the family's formula in float64, the causal form
/// as each query's own sum over j <= i (not in chunks). Tolerance 5e-5
/// absolute (the script's float32 form of the formulas stays below a
/// quarter of it).
struct LinearGoldenCase {
  std::string name, pattern, file;
  int64_t batch = 0, heads = 0, headDim = 0, sq = 0, sk = 0;
  std::vector<int32_t> keyLengths;
  double tolerance = 0;
  int64_t emptyRows = 0;
  /// Has the exact softmax output (tensor "softmax") beside its own.
  bool softmax = false;
};
XFC_PRINT_CASE(LinearGoldenCase)

std::string linearGoldenDir() { return goldenRoot() + "/attention_families"; }

nlohmann::json linearGoldenIndex() {
  std::ifstream in(linearGoldenDir() + "/cases.json");
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

std::vector<LinearGoldenCase> loadLinearGoldenCases() {
  std::vector<LinearGoldenCase> cases;
  nlohmann::json json = linearGoldenIndex();
  if (!json.is_object() || !json["cases"].is_array())
    return cases;
  for (const nlohmann::json &c : json["cases"]) {
    LinearGoldenCase lc;
    lc.name = c.value("name", "");
    lc.pattern = c.value("pattern", "");
    lc.file = c.value("file", "");
    lc.batch = c.value("batch", 0);
    lc.heads = c.value("heads", 0);
    lc.headDim = c.value("head_dim", 0);
    lc.sq = c.value("sq", 0);
    lc.sk = c.value("sk", 0);
    if (c.contains("key_lengths") && c["key_lengths"].is_array())
      lc.keyLengths = c["key_lengths"].get<std::vector<int32_t>>();
    lc.tolerance = c.value("tolerance", 0.0);
    lc.emptyRows = c.value("empty_rows", 0);
    lc.softmax = c.contains("softmax_rms_error");
    cases.push_back(lc);
  }
  return cases;
}

/// The F32 tensor `name` of a safetensors file in the families folder.
bool readFamilyTensor(const std::string &file, const char *name,
                      const std::vector<int64_t> &shape,
                      std::vector<float> &out, std::string &error) {
  std::ifstream in(linearGoldenDir() + "/" + file, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  SafetensorsHeader header;
  if (!parseSafetensors(bytes.data(), bytes.size(), header, error))
    return false;
  const SafetensorsEntry *entry = header.find(name);
  if (!entry || entry->dtype != "F32" || entry->shape != shape) {
    error = file + ": tensor " + name + " is missing or mis-shaped";
    return false;
  }
  out.resize((entry->end - entry->begin) / sizeof(float));
  std::memcpy(out.data(), bytes.data() + entry->begin,
              out.size() * sizeof(float));
  return true;
}

/// Compiles case `c` (the default pipeline) and returns its output.
std::vector<float> runLinearGolden(const LinearGoldenCase &c,
                                   const std::string &fault = "") {
  int64_t width = c.heads * c.headDim;
  std::vector<int64_t> qShape = {c.batch, c.sq, width};
  std::vector<int64_t> kShape = {c.batch, c.sk, width};
  std::vector<float> q, k, v;
  std::string error;
  bool ok = readFamilyTensor(c.file, "query", qShape, q, error) &&
            readFamilyTensor(c.file, "key", kShape, k, error) &&
            readFamilyTensor(c.file, "value", kShape, v, error);
  if (!ok) {
    ADD_FAILURE() << error;
    return {};
  }
  std::vector<Arg> args = {f32Input("query", qShape, q),
                           f32Input("key", kShape, k),
                           f32Input("value", kShape, v)};
  if (!c.keyLengths.empty())
    args.push_back(i32Input("key_lengths", {c.batch}, c.keyLengths, 0, c.sk));
  CpuPipelineOptions pipeline;
  pipeline.testFault = fault;
  return compileAndRun(
      args, qShape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> a) {
        mlir::xf::PatternGroups groups;
        std::string parseError;
        EXPECT_TRUE(mlir::xf::parsePatternText(c.pattern, groups, parseError))
            << parseError;
        return mlir::xf::AttentionOp::create(
            b, loc, f32Type(b, qShape), a[0], a[1], a[2],
            c.keyLengths.empty() ? Value() : a[3], b.getI64IntegerAttr(c.heads),
            b.getF64FloatAttr(1.0 / std::sqrt(double(c.headDim))),
            mlir::UnitAttr(),
            mlir::xf::AttentionPatternAttr::get(b.getContext(), groups));
      },
      pipeline);
}

/// max |out - ref| (infinite for a non-finite output), and its index.
std::pair<double, size_t> worstError(const std::vector<float> &out,
                                     const std::vector<float> &ref) {
  double worst = out.size() == ref.size() ? 0 : INFINITY;
  size_t at = 0;
  for (size_t i = 0; i < out.size() && i < ref.size(); ++i) {
    double d = std::isfinite(out[i]) ? std::fabs(double(out[i]) - ref[i])
                                     : INFINITY;
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  return {worst, at};
}

class LinearAttentionGoldenTest
    : public ::testing::TestWithParam<LinearGoldenCase> {};

TEST(LinearAttentionGolden, FilesExist) {
  EXPECT_GE(loadLinearGoldenCases().size(), 20u)
      << "tests/e2e/golden/attention_families/cases.json is missing or "
         "malformed";
}

/// The default pipeline (the chunked kernel, tiled and vectorized).
TEST_P(LinearAttentionGoldenTest, MatchesPyTorch) {
  const LinearGoldenCase &c = GetParam();
  std::vector<float> golden;
  std::string error;
  ASSERT_TRUE(readFamilyTensor(c.file, "output",
                               {c.batch, c.sq, c.heads * c.headDim}, golden,
                               error))
      << error;
  std::vector<float> out = runLinearGolden(c);
  ASSERT_EQ(out.size(), golden.size());
  auto [worst, at] = worstError(out, golden);
  EXPECT_LE(worst, c.tolerance) << "worst at flat index " << at
                                << ": compiled " << out[at] << ", golden "
                                << golden[at];
  ::testing::Test::RecordProperty("max_abs_error", std::to_string(worst));
  // A batch item without keys: exactly 0 (the denominator is 0).
  int64_t rowWidth = c.heads * c.headDim, zeroRows = 0;
  for (size_t b = 0; b < c.keyLengths.size(); ++b) {
    if (c.keyLengths[b] != 0)
      continue;
    for (int64_t i = b * c.sq * rowWidth; i < (b + 1) * c.sq * rowWidth; ++i)
      ASSERT_EQ(out[i], 0.0f) << "item " << b << " has no key";
    zeroRows += c.sq * c.heads;
  }
  EXPECT_EQ(zeroRows, c.emptyRows);
}

INSTANTIATE_TEST_SUITE_P(Families, LinearAttentionGoldenTest,
                         ::testing::ValuesIn(loadLinearGoldenCases()),
                         caseName<LinearGoldenCase>);

/// Performer approximates softmax attention better with more features: with
/// the same seed and inputs, the compiled output's RMS error against exact
/// softmax attention falls from m = 16 to 64 to 256 to 1024, and at m = 1024
/// is below half of that at m = 64 (measured by the script: 0.052, 0.021,
/// 0.015, 0.008).
TEST(LinearAttentionGolden, PerformerErrorFallsWithFeatures) {
  std::map<int64_t, double> errors;
  for (const LinearGoldenCase &c : loadLinearGoldenCases()) {
    if (!c.softmax)
      continue;
    SCOPED_TRACE(c.name);
    std::vector<float> exact;
    std::string error;
    ASSERT_TRUE(readFamilyTensor(c.file, "softmax",
                                 {c.batch, c.sq, c.heads * c.headDim}, exact,
                                 error))
        << error;
    std::vector<float> out = runLinearGolden(c);
    ASSERT_EQ(out.size(), exact.size());
    double sum = 0;
    for (size_t i = 0; i < out.size(); ++i)
      sum += (double(out[i]) - exact[i]) * (double(out[i]) - exact[i]);
    mlir::xf::PatternGroups groups;
    std::string parseError;
    ASSERT_TRUE(mlir::xf::parsePatternText(c.pattern, groups, parseError));
    errors[groups[0][0].features] = std::sqrt(sum / double(out.size()));
  }
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_LT(errors[1024], errors[256]);
  EXPECT_LT(errors[256], errors[64]);
  EXPECT_LT(errors[64], errors[16]);
  EXPECT_LT(errors[1024], 0.5 * errors[64]);
}

/// xfc's generator of W draws the same matrix, bit for bit, as the
/// script's transcription of docs/attention-patterns.md.
TEST(LinearAttentionGolden, PerformerMatrixMatchesScript) {
  nlohmann::json json = linearGoldenIndex();
  ASSERT_TRUE(json.is_object() && json["feature_matrices"].is_array());
  ASSERT_GE(json["feature_matrices"].size(), 2u);
  for (const nlohmann::json &entry : json["feature_matrices"]) {
    int64_t m = entry.value("m", 0), d = entry.value("head_dim", 0);
    uint64_t seed = entry.value("seed", uint64_t(0));
    SCOPED_TRACE(entry.value("name", ""));
    std::vector<float> expected;
    std::string error;
    ASSERT_TRUE(readFamilyTensor(entry.value("file", ""), "w", {m, d},
                                 expected, error))
        << error;
    std::vector<float> w = mlir::xf::performerFeatureMatrix(m, d, seed);
    ASSERT_EQ(w.size(), expected.size());
    for (size_t i = 0; i < w.size(); ++i)
      ASSERT_EQ(w[i], expected[i]) << "entry " << i;
  }
}

//===----------------------------------------------------------------------===//
// xf.attention with the LSH family, against PyTorch goldens
//===----------------------------------------------------------------------===//

/// The cases of tests/e2e/golden/attention_families/lsh_cases.json, made
/// by make_lsh_goldens.py from the definition in float64: random rotations
/// from the seed, an explicit stable sort per round, chunks, log N, the
/// self rule, rounds combined by log-sum-exp. The buckets are the same in
/// float32 (the script asserts that no hash value is within float32
/// rounding of a tie), so the tolerance is that of the softmax alone.
std::vector<PatternGoldenCase> loadLshGoldenCases() {
  return loadPatternGoldenCases(goldenRoot() + "/attention_families",
                                "lsh_cases.json");
}

class LshAttentionGoldenTest
    : public ::testing::TestWithParam<PatternGoldenCase> {};

TEST(LshAttentionGolden, FilesExist) {
  EXPECT_GE(loadLshGoldenCases().size(), 10u)
      << "tests/e2e/golden/attention_families/lsh_cases.json is missing or "
         "malformed";
}

/// The default pipeline (threads, OpenMP): the LSH kernel of
/// LshAttention.cpp.
TEST_P(LshAttentionGoldenTest, MatchesPyTorch) {
  checkPatternGolden(GetParam(), PatternLowering::Fused);
}

/// The gathers and scatters by sorted position stay inside their buffers:
/// three cases (ragged chunks, causal, key lengths, batch 2) with bounds
/// checks on every access.
TEST(LshAttentionGolden, BoundsChecked) {
  for (const PatternGoldenCase &c : loadLshGoldenCases()) {
    if (c.name != "lsh_b8_r2_c4_causal_s7" &&
        c.name != "lsh_b4_r2_c8_keylen_s77" &&
        c.name != "lsh_b4_r2_c16_s130_batch2")
      continue;
    SCOPED_TRACE(c.name);
    checkPatternGolden(c, PatternLowering::BoundsChecked);
  }
}

INSTANTIATE_TEST_SUITE_P(Lsh, LshAttentionGoldenTest,
                         ::testing::ValuesIn(loadLshGoldenCases()),
                         caseName<PatternGoldenCase>);

/// The comparison can fail: the same case compiled with another seed (other
/// rotations, other buckets) misses the goldens by far more than the
/// tolerance.
TEST(LshAttentionGolden, OtherSeedIsNoticed) {
  for (PatternGoldenCase c : loadLshGoldenCases()) {
    if (c.name != "lsh_b8_r2_c8_s77")
      continue;
    size_t at = c.pattern.find("seed = 1");
    ASSERT_NE(at, std::string::npos) << c.pattern;
    c.pattern.replace(at, 8, "seed = 9");
    EXPECT_NONFATAL_FAILURE(checkPatternGolden(c, PatternLowering::Fused),
                            "worst at flat index");
  }
}

//===----------------------------------------------------------------------===//
// Fused op forms: linear with an epilogue, layer_norm with a residual, split
//===----------------------------------------------------------------------===//

struct LinearEpilogueCase {
  std::string name;
  std::vector<int64_t> inputShape;
  int64_t outFeatures;
  std::optional<mlir::xf::ActivationKind> kind;
  Activation refKind;
  bool bias, residual;
  bool layoutPass = true;
};
XFC_PRINT_CASE(LinearEpilogueCase)

class LinearEpilogueOpTest
    : public ::testing::TestWithParam<LinearEpilogueCase> {};

/// `act(x W^T + b) + r` against the reference linear, activation and add.
TEST_P(LinearEpilogueOpTest, MatchesReference) {
  const LinearEpilogueCase &c = GetParam();
  int64_t in = c.inputShape.back(), outF = c.outFeatures;
  std::vector<int64_t> resultShape = c.inputShape;
  resultShape.back() = outF;
  std::vector<float> x = normal(numElements(c.inputShape), 141);
  std::vector<float> w = normal(outF * in, 142, 1.0 / std::sqrt(double(in)));
  std::vector<float> bias = normal(outF, 143);
  std::vector<float> residual = normal(numElements(resultShape), 144, 2.0);
  std::vector<Arg> args = {f32Input("x", c.inputShape, x)};
  if (c.residual)
    args.push_back(f32Input("r", resultShape, residual));
  args.push_back(f32Weight("fc.weight", {outF, in}, w));
  if (c.bias)
    args.push_back(f32Weight("fc.bias", {outF}, bias));
  CpuPipelineOptions pipeline;
  pipeline.transposeLinearWeights = c.layoutPass;
  std::vector<float> out = compileAndRun(
      args, resultShape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> v) {
        size_t i = 1;
        Value r = c.residual ? v[i++] : Value();
        Value weight = v[i++];
        Value bias = c.bias ? v[i++] : Value();
        mlir::xf::ActivationKindAttr kind;
        if (c.kind)
          kind = mlir::xf::ActivationKindAttr::get(b.getContext(), *c.kind);
        return mlir::xf::LinearOp::create(b, loc, f32Type(b, resultShape), v[0],
                                          weight, bias, r,
                                          /*transpose_weight=*/false, kind,
                                          /*weight_panel=*/nullptr);
      },
      pipeline);
  HostTensor wRef = hostTensor({outF, in}, w);
  HostTensor bRef = hostTensor({outF}, bias);
  Matrix ref =
      reference::linear(toMatrix(x, in), wRef, c.bias ? &bRef : nullptr);
  for (size_t i = 0; i < ref.data.size(); ++i) {
    if (c.kind)
      ref.data[i] = reference::activate(c.refKind, ref.data[i]);
    if (c.residual)
      ref.data[i] += residual[i];
  }
  expectMatches(out, ref.data);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, LinearEpilogueOpTest,
    ::testing::Values(
        LinearEpilogueCase{"rank3_k77_n80_gelu_bias_residual",
                           {2, 7, 77},
                           80,
                           mlir::xf::ActivationKind::gelu,
                           Activation::Gelu,
                           true,
                           true},
        LinearEpilogueCase{"rank3_k48_n21_relu_nobias_residual",
                           {3, 7, 48},
                           21,
                           mlir::xf::ActivationKind::relu,
                           Activation::Relu,
                           false,
                           true},
        // Packed panels: the epilogue is vectorized on
        // the thread tile (polynomial erf and tanh).
        LinearEpilogueCase{"rank3_k64_n96_packed_gelu_bias",
                           {2, 33, 64},
                           96,
                           mlir::xf::ActivationKind::gelu,
                           Activation::Gelu,
                           true,
                           false},
        LinearEpilogueCase{"rank3_k64_n96_packed_gelu_tanh_residual",
                           {2, 33, 64},
                           96,
                           mlir::xf::ActivationKind::gelu_tanh,
                           Activation::GeluTanh,
                           true,
                           true},
        // A padded last panel: bias and activation are
        // applied when the real columns are copied out.
        LinearEpilogueCase{"rank3_k64_n190_padded_gelu_bias",
                           {2, 7, 64},
                           190,
                           mlir::xf::ActivationKind::gelu,
                           Activation::Gelu,
                           true,
                           false},
        LinearEpilogueCase{"rank2_k33_n13_gelu_tanh_bias",
                           {5, 33},
                           13,
                           mlir::xf::ActivationKind::gelu_tanh,
                           Activation::GeluTanh,
                           true,
                           false},
        LinearEpilogueCase{"rank3_s1_k21_n21_residual_only",
                           {3, 1, 21},
                           21,
                           std::nullopt,
                           Activation::Gelu,
                           true,
                           true},
        LinearEpilogueCase{"rank1_k48_n24_gelu_residual",
                           {48},
                           24,
                           mlir::xf::ActivationKind::gelu,
                           Activation::Gelu,
                           true,
                           true},
        LinearEpilogueCase{"rank3_k80_n77_relu_residual_no_layout_pass",
                           {2, 7, 80},
                           77,
                           mlir::xf::ActivationKind::relu,
                           Activation::Relu,
                           true,
                           true,
                           false}),
    caseName<LinearEpilogueCase>);

struct ResidualLayerNormCase {
  std::string name;
  std::vector<int64_t> shape;
  double epsilon;
  /// Return the sum (second result) instead of the normalized tensor; the
  /// op then has both results, as in a pre-LN stack.
  bool returnSum;
  /// Give the op its second result even when returning the normalized
  /// tensor (the lowering that writes the sum separately).
  bool withSum;
};
XFC_PRINT_CASE(ResidualLayerNormCase)

class ResidualLayerNormOpTest
    : public ::testing::TestWithParam<ResidualLayerNormCase> {};

TEST_P(ResidualLayerNormOpTest, MatchesReference) {
  const ResidualLayerNormCase &c = GetParam();
  int64_t width = c.shape.back();
  int64_t n = numElements(c.shape);
  // Means of the summed rows well away from 0, so the mean subtraction
  // matters.
  std::vector<float> x = normal(n, 151, 1.5, 3.0);
  std::vector<float> r = normal(n, 152, 0.5, -1.0);
  std::vector<float> gamma = normal(width, 153, 0.2, 1.0);
  std::vector<float> beta = normal(width, 154, 0.2);
  std::vector<Arg> args = {f32Input("x", c.shape, x), f32Input("r", c.shape, r),
                           f32Weight("norm.weight", {width}, gamma),
                           f32Weight("norm.bias", {width}, beta)};
  std::vector<float> out = compileAndRun(
      args, c.shape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> v) {
        mlir::Type type = f32Type(b, c.shape);
        auto op = mlir::xf::LayerNormOp::create(
            b, loc, type, c.withSum ? type : mlir::Type(), v[0], v[2], v[3],
            v[1], b.getF64FloatAttr(c.epsilon));
        return c.returnSum ? op.getSum() : op.getResult();
      });
  Matrix sum = toMatrix(x, width);
  for (size_t i = 0; i < sum.data.size(); ++i)
    sum.data[i] += double(r[i]);
  if (c.returnSum) {
    expectMatches(out, sum.data);
    return;
  }
  Matrix ref = reference::layerNorm(sum, hostTensor({width}, gamma),
                                    hostTensor({width}, beta), c.epsilon);
  expectMatches(out, ref.data);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, ResidualLayerNormOpTest,
    ::testing::Values(
        ResidualLayerNormCase{"rank3_w80", {2, 7, 80}, 1e-5, false, false},
        ResidualLayerNormCase{
            "rank3_w768_eps1e_12", {2, 5, 768}, 1e-12, false, false},
        ResidualLayerNormCase{"rank3_s1_w21", {3, 1, 21}, 1e-5, false, false},
        ResidualLayerNormCase{"rank1_w77", {77}, 1e-5, false, false},
        ResidualLayerNormCase{"rank2_w33_with_sum", {7, 33}, 1e-5, false, true},
        ResidualLayerNormCase{
            "rank3_w80_sum_result", {2, 7, 80}, 1e-5, true, true}),
    caseName<ResidualLayerNormCase>);

struct SplitCase {
  std::string name;
  std::vector<int64_t> shape;  ///< Of the input.
  std::vector<int64_t> pieces; ///< Last-dimension sizes.
  size_t returned;             ///< Which piece is the output.
};
XFC_PRINT_CASE(SplitCase)

class SplitOpTest : public ::testing::TestWithParam<SplitCase> {};

TEST_P(SplitOpTest, MatchesReference) {
  const SplitCase &c = GetParam();
  int64_t width = c.shape.back(), rows = numElements(c.shape) / width;
  std::vector<float> x = normal(numElements(c.shape), 161);
  std::vector<int64_t> resultShape = c.shape;
  resultShape.back() = c.pieces[c.returned];
  int64_t offset = 0;
  for (size_t i = 0; i < c.returned; ++i)
    offset += c.pieces[i];
  std::vector<float> out = compileAndRun(
      {f32Input("x", c.shape, x)}, resultShape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> v) {
        llvm::SmallVector<mlir::Type> types;
        for (int64_t piece : c.pieces) {
          std::vector<int64_t> shape = c.shape;
          shape.back() = piece;
          types.push_back(f32Type(b, shape));
        }
        auto split = mlir::xf::SplitOp::create(b, loc, types, v[0]);
        return split.getResult(c.returned);
      });
  std::vector<double> ref;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < c.pieces[c.returned]; ++j)
      ref.push_back(x[r * width + offset + j]);
  expectMatches(out, ref);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, SplitOpTest,
    ::testing::Values(
        SplitCase{"rank3_qkv_middle", {2, 7, 240}, {80, 80, 80}, 1},
        SplitCase{"rank3_odd_last", {3, 1, 33}, {21, 5, 7}, 2},
        SplitCase{"rank2_odd_first", {7, 33}, {21, 12}, 0},
        SplitCase{"rank1_single", {13}, {13}, 0}),
    caseName<SplitCase>);

//===----------------------------------------------------------------------===//
// xf.feed_forward
//===----------------------------------------------------------------------===//

struct FeedForwardCase {
  std::string name;
  mlir::xf::ActivationKind kind;
  Activation refKind;
  bool fc1Bias, fc2Bias;
  bool layoutPass = true;
  int64_t ffnChunk = 0; ///< xf-chunk-feed-forward's chunk size; 0: off.
};
XFC_PRINT_CASE(FeedForwardCase)

class FeedForwardOpTest : public ::testing::TestWithParam<FeedForwardCase> {};

TEST_P(FeedForwardOpTest, MatchesReference) {
  const FeedForwardCase &c = GetParam();
  const int64_t d = 32, dff = 80;
  std::vector<int64_t> shape = {2, 7, d};
  std::vector<float> x = normal(numElements(shape), 91);
  std::vector<float> w1 = normal(dff * d, 92, 0.3);
  std::vector<float> b1 = normal(dff, 93, 0.5);
  std::vector<float> w2 = normal(d * dff, 94, 0.2);
  std::vector<float> b2 = normal(d, 95, 0.5);
  std::vector<Arg> args = {f32Input("x", shape, x),
                           f32Weight("ffn.fc1.weight", {dff, d}, w1)};
  if (c.fc1Bias)
    args.push_back(f32Weight("ffn.fc1.bias", {dff}, b1));
  args.push_back(f32Weight("ffn.fc2.weight", {d, dff}, w2));
  if (c.fc2Bias)
    args.push_back(f32Weight("ffn.fc2.bias", {d}, b2));
  CpuPipelineOptions pipeline;
  pipeline.transposeLinearWeights = c.layoutPass;
  pipeline.fusion.ffnChunk = c.ffnChunk;
  std::vector<float> out = compileAndRun(
      args, shape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> v) {
        size_t i = 1;
        Value fc1W = v[i++];
        Value fc1B = c.fc1Bias ? v[i++] : Value();
        Value fc2W = v[i++];
        Value fc2B = c.fc2Bias ? v[i++] : Value();
        return mlir::xf::FeedForwardOp::create(
            b, loc, f32Type(b, shape),
            mlir::xf::ActivationKindAttr::get(b.getContext(), c.kind), v[0],
            fc1W, fc1B, fc2W, fc2B);
      },
      pipeline);
  HostTensor w1Ref = hostTensor({dff, d}, w1), b1Ref = hostTensor({dff}, b1);
  HostTensor w2Ref = hostTensor({d, dff}, w2), b2Ref = hostTensor({d}, b2);
  Matrix ref = reference::feedForward(toMatrix(x, d), w1Ref,
                                      c.fc1Bias ? &b1Ref : nullptr, w2Ref,
                                      c.fc2Bias ? &b2Ref : nullptr, c.refKind);
  expectMatches(out, ref.data);
}

std::vector<FeedForwardCase> feedForwardCases() {
  struct Act {
    const char *name;
    mlir::xf::ActivationKind kind;
    Activation ref;
  } acts[] = {
      {"relu", mlir::xf::ActivationKind::relu, Activation::Relu},
      {"gelu", mlir::xf::ActivationKind::gelu, Activation::Gelu},
      {"gelu_tanh", mlir::xf::ActivationKind::gelu_tanh, Activation::GeluTanh}};
  std::vector<FeedForwardCase> cases;
  for (const Act &a : acts)
    for (auto [b1, b2] : {std::pair{true, true}, std::pair{false, false},
                          std::pair{true, false}, std::pair{false, true}}) {
      std::string bias = b1 && b2     ? "_biases"
                         : !b1 && !b2 ? "_nobias"
                         : b1         ? "_fc1bias_only"
                                      : "_fc2bias_only";
      cases.push_back({a.name + bias, a.kind, a.ref, b1, b2});
    }
  cases.push_back({"gelu_biases_no_layout_pass", mlir::xf::ActivationKind::gelu,
                   Activation::Gelu, true, true, false});
  // Chunked (14 rows): chunks dividing the rows, leaving a remainder, of
  // one row, and as large as all rows (left unchunked).
  for (int64_t chunk : {7, 5, 1, 14})
    cases.push_back({"gelu_biases_chunk" + std::to_string(chunk),
                     mlir::xf::ActivationKind::gelu, Activation::Gelu, true,
                     true, true, chunk});
  cases.push_back({"relu_nobias_chunk3_no_layout_pass",
                   mlir::xf::ActivationKind::relu, Activation::Relu, false,
                   false, false, 3});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Ops, FeedForwardOpTest,
                         ::testing::ValuesIn(feedForwardCases()),
                         caseName<FeedForwardCase>);

//===----------------------------------------------------------------------===//
// xf.multi_head_attention
//===----------------------------------------------------------------------===//

struct MhaCase {
  std::string name;
  int64_t batch, sq, sk, width, kvWidth, heads;
  bool cross; ///< Else query and key_value are one value (sk == sq).
  bool bias;
  bool causal;
  std::vector<int32_t> keyLengths;
  double scale = 0; ///< 0: no attribute (1/sqrt(head_dim)).
  bool layoutPass = true;
};
XFC_PRINT_CASE(MhaCase)

class MultiHeadAttentionOpTest : public ::testing::TestWithParam<MhaCase> {};

TEST_P(MultiHeadAttentionOpTest, MatchesReference) {
  const MhaCase &c = GetParam();
  ASSERT_TRUE(c.keyLengths.empty() ||
              static_cast<int64_t>(c.keyLengths.size()) == c.batch);
  ASSERT_TRUE(c.cross || (c.sk == c.sq && c.kvWidth == c.width));
  int64_t d = c.width, kvd = c.kvWidth;
  std::vector<int64_t> qShape = {c.batch, c.sq, d};
  std::vector<int64_t> kvShape = {c.batch, c.sk, kvd};
  std::vector<float> x = normal(numElements(qShape), 101);
  std::vector<float> mem = normal(numElements(kvShape), 102);
  if (!c.cross)
    mem = x;
  // Wq, Wk ~ N(0, 4/in): scores of standard deviation ~4 (not uniform).
  std::vector<float> wq = normal(d * d, 103, 2.0 / std::sqrt(double(d)));
  std::vector<float> wk = normal(d * kvd, 104, 2.0 / std::sqrt(double(kvd)));
  std::vector<float> wv = normal(d * kvd, 105, 1.0 / std::sqrt(double(kvd)));
  std::vector<float> wo = normal(d * d, 106, 1.0 / std::sqrt(double(d)));
  std::vector<float> bq = normal(d, 107, 0.3), bk = normal(d, 108, 0.3),
                     bv = normal(d, 109, 0.3), bo = normal(d, 110, 0.3);
  std::vector<Arg> args = {f32Input("x", qShape, x)};
  if (c.cross)
    args.push_back(f32Input("memory", kvShape, mem));
  if (!c.keyLengths.empty())
    args.push_back(i32Input("key_lengths", {c.batch}, c.keyLengths, 0, c.sk));
  size_t firstWeight = args.size();
  struct Proj {
    const char *name;
    std::vector<float> *w, *b;
    int64_t in;
  } projs[] = {{"q", &wq, &bq, d},
               {"k", &wk, &bk, kvd},
               {"v", &wv, &bv, kvd},
               {"out", &wo, &bo, d}};
  for (const Proj &p : projs) {
    args.push_back(
        f32Weight(std::string("attn.") + p.name + ".weight", {d, p.in}, *p.w));
    if (c.bias)
      args.push_back(
          f32Weight(std::string("attn.") + p.name + ".bias", {d}, *p.b));
  }
  CpuPipelineOptions pipeline;
  pipeline.transposeLinearWeights = c.layoutPass;
  std::vector<float> out = compileAndRun(
      args, qShape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> a) {
        Value query = a[0];
        Value keyValue = c.cross ? a[1] : a[0];
        Value lengths = c.keyLengths.empty() ? Value() : a[c.cross ? 2 : 1];
        Value w[4], bias[4];
        size_t i = firstWeight;
        for (int p = 0; p < 4; ++p) {
          w[p] = a[i++];
          bias[p] = c.bias ? a[i++] : Value();
        }
        return mlir::xf::MultiHeadAttentionOp::create(
            b, loc, f32Type(b, qShape), query, keyValue, w[0], bias[0], w[1],
            bias[1], w[2], bias[2], w[3], bias[3], lengths,
            b.getI64IntegerAttr(c.heads),
            c.causal ? b.getUnitAttr() : mlir::UnitAttr(),
            c.scale > 0 ? b.getF64FloatAttr(c.scale) : mlir::FloatAttr(),
            mlir::xf::AttentionPatternAttr());
      },
      pipeline);
  // The reference scales by 1/sqrt(Dh); fold any other scale into Wq, bq.
  double qFactor = c.scale > 0 ? c.scale * std::sqrt(double(d / c.heads)) : 1.0;
  std::vector<float> wqRef = wq, bqRef = bq;
  for (float &f : wqRef)
    f = static_cast<float>(f * qFactor);
  for (float &f : bqRef)
    f = static_cast<float>(f * qFactor);
  // (A scale that is not a power of two makes wqRef a rounding of the exact
  // product; the difference, ~6e-8 relative, is far below the tolerance.)
  HostTensor tq = hostTensor({d, d}, wqRef), tbq = hostTensor({d}, bqRef);
  HostTensor tk = hostTensor({d, kvd}, wk), tbk = hostTensor({d}, bk);
  HostTensor tv = hostTensor({d, kvd}, wv), tbv = hostTensor({d}, bv);
  HostTensor to = hostTensor({d, d}, wo), tbo = hostTensor({d}, bo);
  reference::AttentionWeights weights;
  weights.q = &tq;
  weights.k = &tk;
  weights.v = &tv;
  weights.out = &to;
  if (c.bias) {
    weights.qBias = &tbq;
    weights.kBias = &tbk;
    weights.vBias = &tbv;
    weights.outBias = &tbo;
  }
  reference::AttentionMask mask;
  mask.causal = c.causal;
  mask.keyLengths = c.keyLengths.empty() ? nullptr : &c.keyLengths;
  Matrix ref =
      reference::multiHeadAttention(toMatrix(x, d), toMatrix(mem, kvd), c.batch,
                                    c.sq, c.sk, c.heads, weights, mask);
  expectMatches(out, ref.data);
  // A fully masked item: 0 before the output projection, so exactly the
  // output bias (or 0) after it.
  if (out.size() != ref.data.size())
    return;
  for (int64_t b = 0; b < static_cast<int64_t>(c.keyLengths.size()); ++b) {
    if (c.keyLengths[b] != 0)
      continue;
    for (int64_t i = 0; i < c.sq; ++i)
      for (int64_t j = 0; j < d; ++j) {
        float want = c.bias ? bo[j] : 0.0f;
        ASSERT_EQ(out[(b * c.sq + i) * d + j], want)
            << "batch item " << b << " has no key, row " << i << " col " << j;
      }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ops, MultiHeadAttentionOpTest,
    ::testing::Values(
        MhaCase{
            "self_bias_h2_d64_s7", 2, 7, 7, 64, 64, 2, false, true, false, {}},
        MhaCase{"self_nobias_h3_d48_s7",
                2,
                7,
                7,
                48,
                48,
                3,
                false,
                false,
                false,
                {}},
        MhaCase{"self_bias_h2_d160_s77",
                2,
                77,
                77,
                160,
                160,
                2,
                false,
                true,
                false,
                {}},
        MhaCase{"self_bias_keylengths_h2_d64_s7",
                4,
                7,
                7,
                64,
                64,
                2,
                false,
                true,
                false,
                {7, 0, 1, 4}},
        MhaCase{"self_nobias_keylengths_h2_d64_s7",
                4,
                7,
                7,
                64,
                64,
                2,
                false,
                false,
                false,
                {7, 0, 1, 4}},
        MhaCase{"self_bias_causal_keylengths_h2_d64_s7",
                4,
                7,
                7,
                64,
                64,
                2,
                false,
                true,
                true,
                {7, 0, 1, 4}},
        MhaCase{"cross_bias_h2_d64_q7_k11_kv40",
                2,
                7,
                11,
                64,
                40,
                2,
                true,
                true,
                false,
                {}},
        MhaCase{"cross_nobias_h2_d64_q7_k11",
                2,
                7,
                11,
                64,
                64,
                2,
                true,
                false,
                false,
                {}},
        MhaCase{"cross_nobias_keylengths_h2_d64_q5_k9_kv24",
                4,
                5,
                9,
                64,
                24,
                2,
                true,
                false,
                false,
                {9, 0, 1, 5}},
        MhaCase{"cross_bias_keylengths_h1_d80_q7_k77",
                3,
                7,
                77,
                80,
                80,
                1,
                true,
                true,
                false,
                {77, 0, 20}},
        MhaCase{"self_bias_scale0_3_h2_d64_s7",
                2,
                7,
                7,
                64,
                64,
                2,
                false,
                true,
                false,
                {},
                0.3},
        MhaCase{"self_bias_keylengths_no_layout_pass_h2_d64_s7",
                4,
                7,
                7,
                64,
                64,
                2,
                false,
                true,
                false,
                {7, 0, 1, 4},
                0,
                false}),
    caseName<MhaCase>);

//===----------------------------------------------------------------------===//
// Derived weights (xf.weight_concat), as the artifact writer builds them
//===----------------------------------------------------------------------===//

/// A module whose only weight is derived: `kv` concatenates `k` [3, 5]
/// and `v` [4, 5] along the rows. `parts` is the xf.weight_concat list.
std::string derivedWeightModule(const std::string &parts) {
  return R"(func.func @xf_model(
    %x: tensor<2x5xf32> {xf.input = "x", bufferization.writable = false},
    %w: tensor<7x5xf32> {xf.weight = "kv", xf.weight_concat = )" +
         parts + R"(, bufferization.writable = false})
    -> (tensor<2x7xf32> {xf.output = "y"}) {
  %y = xf.linear %x, %w : (tensor<2x5xf32>, tensor<7x5xf32>) -> tensor<2x7xf32>
  return %y : tensor<2x7xf32>
})";
}

/// Compiles `text` with `weights`; the compile error, or "" on success
/// (then `artifact` is the artifact folder).
std::string compileText(const std::string &text, const WeightStore &weights,
                        const std::string &dir, std::string &artifact) {
  mlir::DialectRegistry registry;
  registerXFCDialects(registry);
  registerXFCPassesAndPipelines();
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  if (!module)
    return "test bug: the module does not parse";
  ModuleInfo info;
  info.modelName = "derived";
  CompileRequest request;
  request.outputDir = dir + "/artifact";
  request.force = true;
  CompileReport report;
  std::string error;
  artifact = request.outputDir;
  compileModule(*module, weights, info, request, report, error);
  return error;
}

/// The weight file holds the concatenation, transposed by the layout pass
/// ([5, 7]); the sources, not arguments of the model, are not stored.
TEST(DerivedWeightTest, ConcatenatedThenTransposed) {
  std::vector<float> k = normal(15, 171), v = normal(20, 172);
  std::vector<float> x = normal(10, 173);
  WeightStore weights;
  weights.insert("k", hostTensor({3, 5}, k));
  weights.insert("v", hostTensor({4, 5}, v));
  ScratchDir dir(currentTestFolder());
  std::string artifact;
  ASSERT_EQ(compileText(derivedWeightModule(R"(["k", "v"])"), weights,
                        dir.path(), artifact),
            "");
  std::ifstream manifestFile(artifact + "/manifest.json");
  std::string manifest((std::istreambuf_iterator<char>(manifestFile)),
                       std::istreambuf_iterator<char>());
  EXPECT_NE(manifest.find("\"concat\": [\n        \"k\",\n        \"v\"\n"),
            std::string::npos)
      << manifest;
  EXPECT_NE(manifest.find("\"transform\": \"transpose\""), std::string::npos)
      << manifest;
  EXPECT_EQ(manifest.find("\"name\": \"k\""), std::string::npos) << manifest;

  xfc_model *model = nullptr;
  xfc_status status = xfc_model_open(artifact.c_str(), nullptr, &model);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  std::vector<float> out(14, std::nanf(""));
  xfc_buffer in{x.data(), x.size() * sizeof(float)};
  xfc_buffer outBuffer{out.data(), out.size() * sizeof(float)};
  status = xfc_model_run(model, &in, 1, &outBuffer, 1);
  xfc_model_destroy(model);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  std::vector<float> kv = k;
  kv.insert(kv.end(), v.begin(), v.end());
  Matrix ref =
      reference::linear(toMatrix(x, 5), hostTensor({7, 5}, kv), nullptr);
  expectMatches(out, ref.data);
}

TEST(DerivedWeightTest, MissingOrMisshapenPartsAreErrors) {
  WeightStore weights;
  weights.insert("k", hostTensor({3, 5}, normal(15, 1)));
  weights.insert("v", hostTensor({4, 5}, normal(20, 2)));
  weights.insert("wide", hostTensor({4, 6}, normal(24, 3)));
  ScratchDir dir(currentTestFolder());
  std::string artifact;
  EXPECT_EQ(compileText(derivedWeightModule(R"(["k", "q"])"), weights,
                        dir.path(), artifact),
            "weight q (part of kv) is missing from the weight store");
  EXPECT_EQ(compileText(derivedWeightModule(R"(["k", "wide"])"), weights,
                        dir.path(), artifact),
            "weight wide (part of kv) has an unexpected shape");
  EXPECT_EQ(compileText(derivedWeightModule(R"(["k", "k"])"), weights,
                        dir.path(), artifact),
            "weight kv: its parts have 6 rows, the model expects 7");
  EXPECT_EQ(
      compileText(derivedWeightModule("[]"), weights, dir.path(), artifact),
      "weight kv: xf.weight_concat must be a non-empty array of weight "
      "names");
  EXPECT_FALSE(std::filesystem::exists(artifact));
}

//===----------------------------------------------------------------------===//
// xf.relative_attention (Transformer-XL)
//===----------------------------------------------------------------------===//

struct RelativeAttentionCase {
  std::string name;
  int64_t batch, heads, headDim, sq, memory, positionWidth;
  /// Filled memory positions per batch item, or empty for no
  /// memory_lengths operand (every memory position valid).
  std::vector<int32_t> memoryLengths;
};
XFC_PRINT_CASE(RelativeAttentionCase)

class RelativeAttentionOpTest
    : public ::testing::TestWithParam<RelativeAttentionCase> {};

/// The op alone (unfused, as it always is) against the reference's
/// per-(i, j) formula: odd sizes, head_dim 80, a position encoding wider
/// than the heads, memory filled differently per batch item (0, part,
/// all), no memory at all (Sk = Sq), and one query.
TEST_P(RelativeAttentionOpTest, MatchesReference) {
  const RelativeAttentionCase &c = GetParam();
  int64_t width = c.heads * c.headDim, sk = c.memory + c.sq;
  std::vector<int64_t> qShape = {c.batch, c.sq, width};
  std::vector<int64_t> kShape = {c.batch, sk, width};
  std::vector<int64_t> wShape = {width, c.positionWidth};
  std::vector<int64_t> biasShape = {c.heads, c.headDim};
  // Scores of standard deviation ~4 from both terms: q, k ~ N(0, 2^2),
  // W_kR r ~ N(0, 2^2) (r has Dp/2 unit sin^2 + cos^2 pairs).
  std::vector<float> q = normal(numElements(qShape), 91, 2.0);
  std::vector<float> k = normal(numElements(kShape), 92, 2.0);
  std::vector<float> v = normal(numElements(kShape), 93);
  std::vector<float> w = normal(numElements(wShape), 94,
                                2.0 / std::sqrt(double(c.positionWidth) / 2));
  std::vector<float> u = normal(numElements(biasShape), 95);
  std::vector<float> vBias = normal(numElements(biasShape), 96);
  // Inputs before weights, as the entry point orders them.
  std::vector<Arg> args = {f32Input("query", qShape, q),
                           f32Input("key", kShape, k),
                           f32Input("value", kShape, v)};
  bool lengths = !c.memoryLengths.empty();
  if (lengths)
    args.push_back(
        i32Input("memory_lengths", {c.batch}, c.memoryLengths, 0, c.memory));
  args.push_back(f32Weight("position_weight", wShape, w));
  args.push_back(f32Weight("content_bias", biasShape, u));
  args.push_back(f32Weight("position_bias", biasShape, vBias));
  double scale = 1.0 / std::sqrt(double(c.headDim));
  std::vector<float> out = compileAndRun(
      args, qShape,
      [&](mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<Value> a) {
        size_t w0 = lengths ? 4 : 3;
        return mlir::xf::RelativeAttentionOp::create(
            b, loc, f32Type(b, qShape), a[0], a[1], a[2], a[w0], a[w0 + 1],
            a[w0 + 2], lengths ? a[3] : Value(), b.getI64IntegerAttr(c.heads),
            b.getF64FloatAttr(scale));
      });
  auto tensor = [](std::vector<int64_t> shape, const std::vector<float> &data) {
    HostTensor t;
    t.shape = std::move(shape);
    t.data = data;
    return t;
  };
  std::vector<double> ref =
      reference::relativeAttention(
          toMatrix(q, width), toMatrix(k, width), toMatrix(v, width),
          tensor(wShape, w), tensor(biasShape, u), tensor(biasShape, vBias),
          c.batch, c.sq, sk, c.heads, scale,
          c.memoryLengths.empty() ? nullptr : &c.memoryLengths)
          .data;
  expectMatches(out, ref);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, RelativeAttentionOpTest,
    ::testing::Values(
        RelativeAttentionCase{"h4_hd16_l7_m8", 3, 4, 16, 7, 8, 64, {0, 5, 8}},
        RelativeAttentionCase{
            "h2_hd80_l77_m13", 2, 2, 80, 77, 13, 160, {13, 6}},
        RelativeAttentionCase{"h3_hd16_l1_m5", 2, 3, 16, 1, 5, 32, {5, 0}},
        RelativeAttentionCase{"h2_hd16_l7_m0", 1, 2, 16, 7, 0, 32, {}},
        RelativeAttentionCase{
            "h1_hd8_l5_m3_all_memory", 1, 1, 8, 5, 3, 12, {}}));

} // namespace
} // namespace xfc::test
