//===- AttentionBench.cpp - One attention layer, dense and sparse -*- C++ -*-=//
//
// Part of xfc. One benchmark program for `make bench` (bench/run.py drives
// it): one `xf.attention` op over [1, L, heads * head_dim] queries, keys and
// values, dense or under a mask pattern (docs/attention-patterns.md),
// compiled with the default CPU pipeline by xfc::compileModule and run
// through the runtime C API. Two steps, in two processes, so the resident
// high-water mark of the run step is the run's alone (inputs, outputs, the
// arena, the runtime), not the compiler's:
//
//   xfc-attention-bench compile --seq L [--pattern TEXT] [--gather 0|1]
//       --work DIR
//     compiles DIR/artifact and writes DIR/compile.json: the pattern's
//     allowed pairs, the FLOPs the fused kernel executes (visited tiles)
//     and the dense FLOPs, the compile time;
//   xfc-attention-run run --work DIR [--threads T] [--runs N]
//     times N runs after one warm-up (median, min) and writes
//     DIR/run.json with every sample and the peak RSS (VmHWM). This is the same source built without
//     the compiler (XFC_ATTENTION_BENCH_RUN_ONLY), linking the runtime
//     alone, so its high-water mark holds no compiler pages either.
//
//===----------------------------------------------------------------------===//
#include "xfc/runtime.h"

#ifndef XFC_ATTENTION_BENCH_RUN_ONLY
#include "xf/Analysis/AttentionPattern.h"
#include "xf/Dialect/XF/XFOps.h"
#include "xfc/Compiler/Compiler.h"
#include "xfc/Compiler/Pipelines.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Frontend/Weights.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#endif

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "xfc-attention-bench: error: %s\n", message.c_str());
  std::exit(1);
}

struct Options {
  std::string step, pattern, workDir;
  int64_t seq = 0, heads = 12, headDim = 64;
  int threads = 0, runs = 3;
  /// xf-fuse-attention{gather}: 0 measures the kernel without gathered
  /// parts (every tile over the original positions).
  bool gather = true;
};

Options parseOptions(int argc, char **argv) {
  Options opts;
  if (argc < 2)
    fail("usage: xfc-attention-bench compile|run --work DIR [--seq L] "
         "[--pattern TEXT] [--heads H] [--head-dim D] [--threads T] "
         "[--runs N] [--gather 0|1]");
  opts.step = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc)
      fail("option " + a + " expects a value");
    std::string v = argv[++i];
    try {
      if (a == "--work")
        opts.workDir = v;
      else if (a == "--pattern")
        opts.pattern = v;
      else if (a == "--seq")
        opts.seq = std::stoll(v);
      else if (a == "--heads")
        opts.heads = std::stoll(v);
      else if (a == "--head-dim")
        opts.headDim = std::stoll(v);
      else if (a == "--threads")
        opts.threads = std::stoi(v);
      else if (a == "--runs")
        opts.runs = std::max(1, std::stoi(v));
      else if (a == "--gather")
        opts.gather = std::stoi(v) != 0;
      else
        fail("unknown option " + a);
    } catch (const std::logic_error &) {
      fail("option " + a + ": expected a number, found '" + v + "'");
    }
  }
  if (opts.workDir.empty())
    fail("--work is required");
  return opts;
}

void writeJson(const std::string &path, const nlohmann::json &doc) {
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  if (!out)
    fail("cannot write " + path);
}

#ifndef XFC_ATTENTION_BENCH_RUN_ONLY
int compileStep(const Options &opts) {
  if (opts.seq < 1)
    fail("compile: --seq must be positive");
  mlir::xf::PatternGroups groups;
  std::string error;
  if (!opts.pattern.empty() &&
      !mlir::xf::parsePatternText(opts.pattern, groups, error))
    fail("--pattern: " + error);

  // Linformer: keys and values projected by E and F (random N(0, 1/k):
  // the timing does not depend on their values), then dense attention
  // over the k projected rows.
  const mlir::xf::PatternPart *family = mlir::xf::approximationOf(groups);
  mlir::xf::PatternPart linformer;
  if (family && family->kind == mlir::xf::PatternPart::Kind::Linformer)
    linformer = *family;
  bool isLinformer = linformer.kind == mlir::xf::PatternPart::Kind::Linformer;

  mlir::DialectRegistry registry;
  xfc::registerXFCDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  mlir::OpBuilder b(&context);
  mlir::Location loc = b.getUnknownLoc();
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);
  module->setName("attention");
  int64_t width = opts.heads * opts.headDim;
  auto type = mlir::RankedTensorType::get({1, opts.seq, width}, b.getF32Type());
  b.setInsertionPointToEnd(module->getBody());
  std::vector<int64_t> projectionShape = {linformer.projection, opts.seq};
  if (linformer.sharing == mlir::xf::PatternPart::Sharing::None)
    projectionShape.insert(projectionShape.begin(), opts.heads);
  auto projectionType =
      mlir::RankedTensorType::get(projectionShape, b.getF32Type());
  llvm::SmallVector<mlir::Type> argTypes = {type, type, type};
  if (isLinformer)
    argTypes.append({projectionType, projectionType});
  auto func =
      mlir::func::FuncOp::create(b, loc, xfc::kModelFunctionName,
                                 b.getFunctionType(argTypes, {type}));
  llvm::StringRef writable =
      mlir::bufferization::BufferizationDialect::kWritableAttrName;
  const char *names[] = {"query", "key", "value", "linformer_e",
                         "linformer_f"};
  for (unsigned i = 0; i < argTypes.size(); ++i) {
    func.setArgAttr(i, i < 3 ? xfc::kInputAttrName : xfc::kWeightAttrName,
                    b.getStringAttr(names[i]));
    func.setArgAttr(i, writable, b.getBoolAttr(false));
  }
  func.setResultAttr(0, xfc::kOutputAttrName, b.getStringAttr("output"));
  mlir::Block *body = func.addEntryBlock();
  b.setInsertionPointToStart(body);
  mlir::Value key = body->getArgument(1), value = body->getArgument(2);
  auto patternAttr =
      groups.empty() ? mlir::xf::AttentionPatternAttr()
                     : mlir::xf::AttentionPatternAttr::get(&context, groups);
  if (isLinformer) {
    auto projected = mlir::RankedTensorType::get(
        {1, linformer.projection, width}, b.getF32Type());
    key = mlir::xf::LinformerProjectionOp::create(
        b, loc, projected, key, body->getArgument(3), mlir::Value(),
        b.getI64IntegerAttr(opts.heads), patternAttr);
    value = mlir::xf::LinformerProjectionOp::create(
        b, loc, projected, value, body->getArgument(4), mlir::Value(),
        b.getI64IntegerAttr(opts.heads), patternAttr);
    patternAttr = mlir::xf::AttentionPatternAttr();
  }
  auto op = mlir::xf::AttentionOp::create(
      b, loc, type, body->getArgument(0), key, value, mlir::Value(),
      b.getI64IntegerAttr(opts.heads),
      b.getF64FloatAttr(1.0 / std::sqrt(double(opts.headDim))),
      mlir::UnitAttr(), patternAttr);
  mlir::func::ReturnOp::create(b, loc, op.getResult());

  xfc::WeightStore weights;
  if (isLinformer) {
    std::mt19937 rng(7);
    std::normal_distribution<double> normal(
        0.0, 1.0 / std::sqrt(double(linformer.projection)));
    for (const char *name : {"linformer_e", "linformer_f"}) {
      xfc::HostTensor tensor;
      tensor.shape = projectionShape;
      tensor.data.resize(size_t(tensor.numElements()));
      for (float &x : tensor.data)
        x = float(normal(rng));
      weights.insert(name, std::move(tensor));
    }
  }
  xfc::ModuleInfo info;
  info.modelName = "attention";
  xfc::CompileRequest request;
  request.outputDir = opts.workDir + "/artifact";
  request.force = true;
  request.pipeline.fusion.attentionGather = opts.gather;
  xfc::CompileReport report;
  Clock::time_point start = Clock::now();
  if (!xfc::compileModule(*module, weights, info, request, report, error))
    fail("compile: " + error);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // FLOPs: the fused kernel's (visited tiles), and dense attention's.
  const xfc::KernelSummary *kernel = nullptr;
  for (const xfc::KernelSummary &k : report.fusion.kernels)
    if (k.kind.rfind("attention", 0) == 0)
      kernel = &k;
  if (!kernel)
    fail("compile: no attention kernel in the report");
  int64_t denseFlops =
      kernel->pattern.empty() ? kernel->flops : kernel->denseFlops;
  // Allowed pairs per head, averaged over head groups (Linformer: every
  // query against the k projected rows). A family that is not a mask
  // (linear, Performer, LSH) has no fixed set of pairs: 0, and the records
  // leave out the ideal speedup.
  double allowed = double(opts.seq) * double(opts.seq);
  if (isLinformer) {
    allowed = double(opts.seq) * double(linformer.projection);
  } else if (mlir::xf::approximationOf(groups)) {
    allowed = 0;
  } else if (!groups.empty()) {
    allowed = 0;
    for (const auto &parts : groups)
      allowed += double(
          mlir::xf::AttentionPattern(parts, opts.seq, opts.seq).allowedPairs());
    allowed /= double(groups.size());
  }
  nlohmann::json doc = {
      {"seq", opts.seq},
      {"heads", opts.heads},
      {"head_dim", opts.headDim},
      {"pattern", opts.pattern.empty() ? "dense" : opts.pattern},
      {"kernel_kind", kernel->kind},
      {"gather", opts.gather},
      {"allowed_pairs", allowed},
      {"executed_flops", kernel->flops + kernel->projectionFlops},
      {"dense_flops", denseFlops},
      {"compile_seconds", seconds},
  };
  writeJson(opts.workDir + "/compile.json", doc);
  return 0;
}
#endif

/// The resident high-water mark of this process image: VmHWM, which
/// execve resets (ru_maxrss does not: a child forked from a large parent
/// would report the parent's size).
[[maybe_unused]] int64_t peakResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stoll(line.substr(6)) * 1024;
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return int64_t(usage.ru_maxrss) * 1024;
}

[[maybe_unused]] std::string takeError(xfc_status status) {
  if (!status)
    return "";
  std::string message = xfc_status_get_message(status);
  xfc_status_free(status);
  return message.empty() ? "unknown error" : message;
}

[[maybe_unused]] int runStep(const Options &opts) {
  std::string artifact = opts.workDir + "/artifact";
  xfc_model *model = nullptr;
  if (std::string e =
          takeError(xfc_model_open(artifact.c_str(), nullptr, &model));
      !e.empty())
    fail("open: " + e);
  xfc_context_options contextOptions;
  xfc_context_options_initialize(&contextOptions);
  contextOptions.num_threads = opts.threads;
  xfc_context *ctx = nullptr;
  if (std::string e =
          takeError(xfc_context_create(model, &contextOptions, &ctx));
      !e.empty())
    fail("context: " + e);

  std::vector<std::vector<float>> data;
  std::vector<xfc_buffer> inputs;
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (size_t i = 0; i < 3; ++i) {
    xfc_tensor_info in;
    if (std::string e = takeError(xfc_model_input_info(model, i, &in));
        !e.empty())
      fail("input info: " + e);
    size_t n = 1;
    for (int32_t d = 0; d < in.rank; ++d)
      n *= size_t(in.dims[d]);
    data.emplace_back(n);
    for (float &x : data.back())
      x = dist(rng);
  }
  for (std::vector<float> &d : data)
    inputs.push_back({d.data(), d.size() * sizeof(float)});
  xfc_tensor_info outInfo;
  if (std::string e = takeError(xfc_model_output_info(model, 0, &outInfo));
      !e.empty())
    fail("output info: " + e);
  std::vector<float> out(data[0].size());
  xfc_buffer output = {out.data(), out.size() * sizeof(float)};
  auto run = [&] {
    if (std::string e = takeError(
            xfc_context_run(ctx, inputs.data(), inputs.size(), &output, 1));
        !e.empty())
      fail("run: " + e);
  };
  run(); // Warm-up: page in the code, the arena and the inputs.
  std::vector<double> ms;
  for (int r = 0; r < opts.runs; ++r) {
    Clock::time_point t = Clock::now();
    run();
    ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
  std::sort(ms.begin(), ms.end());
  for (float x : out)
    if (!std::isfinite(x))
      fail("run: non-finite output");
  nlohmann::json doc = {
      {"median_ms", ms[ms.size() / 2]},
      {"min_ms", ms.front()},
      {"samples_ms", ms},
      {"runs", opts.runs},
      {"threads", xfc_context_num_threads(ctx)},
      {"peak_rss_bytes", peakResidentBytes()},
  };
  xfc_context_destroy(ctx);
  xfc_model_destroy(model);
  writeJson(opts.workDir + "/run.json", doc);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options opts = parseOptions(argc, argv);
  std::filesystem::create_directories(opts.workDir);
#ifdef XFC_ATTENTION_BENCH_RUN_ONLY
  if (opts.step == "run")
    return runStep(opts);
  fail("unknown step '" + opts.step + "' (expected run)");
#else
  if (opts.step == "compile") {
    xfc::registerXFCPassesAndPipelines();
    return compileStep(opts);
  }
  fail("unknown step '" + opts.step +
       "' (expected compile; xfc-attention-run runs)");
#endif
}
