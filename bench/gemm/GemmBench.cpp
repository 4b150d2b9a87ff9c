//===- GemmBench.cpp - xfc's linear against OpenBLAS sgemm -----*- C++ -*-===//
//
// Part of xfc. One benchmark program for `make bench`: for each GEMM shape
// (M rows of activations, N output features, K input features) and thread
// count it times
//  - xfc: a module holding one `xf.linear` (no bias) compiled with the
//    default CPU pipeline by xfc::compileModule into an artifact, opened and
//    run through the runtime C API. The weight is an artifact weight laid out
//    at compile time (the manifest records its transform): no per-call
//    work on it is timed because none happens. Where that layout is more
//    than a transpose (packed panels), the figure is a pre-packed one and
//    bench/run.py names its record so.
//  - openblas: cblas_sgemm, row-major A [M,K], with B given as [N,K]
//    (CblasTrans: the layout of a PyTorch Linear weight) and as [K,N]
//    (CblasNoTrans). Any packing OpenBLAS does happens inside each call and
//    is timed.
// Both compute the same product of the same data; the largest difference is
// reported, and one above kMaxAbsDiff is an error, so a fast wrong kernel
// cannot make a figure.
//
// Each timing is the median of at least --min-runs runs and at least
// --min-seconds of runs, taken in --rounds rounds that interleave xfc and
// both OpenBLAS calls, each round after warm-up runs.
// GFLOPS = 2*M*N*K / median. The result is one JSON document on --json (or
// stdout).
//
//===----------------------------------------------------------------------===//
#include "xf/Dialect/XF/XFOps.h"
#include "xfc/Compiler/Compiler.h"
#include "xfc/Compiler/Pipelines.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Frontend/Weights.h"
#include "xfc/runtime.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include <nlohmann/json.hpp>

#include <cblas.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

/// Largest accepted |xfc - OpenBLAS| of one output element. The outputs are
/// O(1) (weights N(0, 1/K)) and the fp32 sums differ only in order: ~1e-5
/// at K = 3072.
constexpr double kMaxAbsDiff = 1e-3;

struct Options {
  std::vector<std::array<int64_t, 3>> shapes; ///< {M, N, K}
  std::vector<int> threads;
  std::string workDir = "build/bench/gemm";
  std::string jsonPath;
  int warmup = 3;
  int minRuns = 20;
  double minSeconds = 0.5;
  int rounds = 4;
};

struct Timing {
  double medianMs = 0, minMs = 0;
  int runs = 0;
};

/// One round of samples of `fn`: `warmup` untimed runs, then at least
/// 1/rounds of `minRuns` runs and of `minSeconds`; appends the times (ms).
void sampleRound(const std::function<void()> &fn, const Options &opts,
                 std::vector<double> &ms) {
  for (int i = 0; i < opts.warmup; ++i)
    fn();
  int runs = (opts.minRuns + opts.rounds - 1) / opts.rounds;
  double seconds = opts.minSeconds / opts.rounds;
  Clock::time_point start = Clock::now();
  for (int done = 0;
       done < runs ||
       std::chrono::duration<double>(Clock::now() - start).count() < seconds;
       ++done) {
    Clock::time_point t = Clock::now();
    fn();
    ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
}

Timing summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), static_cast<int>(ms.size())};
}

/// Times the functions of `fns` in interleaved rounds (all of round 1, then
/// all of round 2, ...), so a burst of load from another process on a
/// shared machine falls on every side alike; each median is over the
/// samples of all rounds.
std::vector<Timing>
timeInterleaved(const std::vector<std::function<void()>> &fns,
                const Options &opts) {
  std::vector<std::vector<double>> samples(fns.size());
  for (int r = 0; r < opts.rounds; ++r)
    for (size_t i = 0; i < fns.size(); ++i)
      sampleRound(fns[i], opts, samples[i]);
  std::vector<Timing> out;
  for (const std::vector<double> &ms : samples)
    out.push_back(summarize(ms));
  return out;
}

double gflops(int64_t m, int64_t n, int64_t k, double ms) {
  return 2.0 * double(m) * double(n) * double(k) / (ms * 1e6);
}

std::vector<float> normal(size_t n, uint32_t seed, double stddev) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist(0.0, stddev);
  std::vector<float> v(n);
  for (float &x : v)
    x = static_cast<float>(dist(rng));
  return v;
}

/// The number of threads xfc's generated code runs with when `requested`
/// are asked for: the run context takes the count as an option and reports
/// what it will use (0 = one per core).
int xfcThreadsFor(const xfc_context *context) {
  return xfc_context_num_threads(context);
}

/// Compiles `@xf_model(x: [M,K] input, w: [N,K] weight) -> [M,N]` holding
/// one xf.linear into `dir`. Returns false with `error` set on failure.
bool compileLinear(int64_t m, int64_t n, int64_t k,
                   const std::vector<float> &weight, const std::string &dir,
                   std::string &error) {
  mlir::DialectRegistry registry;
  xfc::registerXFCDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  mlir::OpBuilder b(&context);
  mlir::Location loc = b.getUnknownLoc();
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);
  module->setName("gemm");
  auto xType = mlir::RankedTensorType::get({m, k}, b.getF32Type());
  auto wType = mlir::RankedTensorType::get({n, k}, b.getF32Type());
  auto yType = mlir::RankedTensorType::get({m, n}, b.getF32Type());
  b.setInsertionPointToEnd(module->getBody());
  auto func =
      mlir::func::FuncOp::create(b, loc, xfc::kModelFunctionName,
                                 b.getFunctionType({xType, wType}, {yType}));
  llvm::StringRef writable =
      mlir::bufferization::BufferizationDialect::kWritableAttrName;
  func.setArgAttr(0, xfc::kInputAttrName, b.getStringAttr("x"));
  func.setArgAttr(1, xfc::kWeightAttrName, b.getStringAttr("w"));
  func.setArgAttr(0, writable, b.getBoolAttr(false));
  func.setArgAttr(1, writable, b.getBoolAttr(false));
  func.setResultAttr(0, xfc::kOutputAttrName, b.getStringAttr("y"));
  mlir::Block *body = func.addEntryBlock();
  b.setInsertionPointToStart(body);
  mlir::Value y = mlir::xf::LinearOp::create(
      b, loc, yType, body->getArgument(0), body->getArgument(1), mlir::Value(),
      /*transpose_weight=*/false);
  mlir::func::ReturnOp::create(b, loc, y);

  xfc::WeightStore weights;
  xfc::HostTensor w;
  w.shape = {n, k};
  w.data = weight;
  weights.insert("w", std::move(w));
  xfc::ModuleInfo info;
  info.modelName = "gemm";
  xfc::CompileRequest request;
  request.outputDir = dir;
  request.force = true;
  xfc::CompileReport report;
  return xfc::compileModule(*module, weights, info, request, report, error);
}

/// Returns the message of `status` (and frees it), or "" for success.
std::string takeError(xfc_status status) {
  if (!status)
    return "";
  std::string message = xfc_status_get_message(status);
  xfc_status_free(status);
  return message.empty() ? "unknown error" : message;
}

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "xfc-gemm-bench: error: %s\n", message.c_str());
  std::exit(1);
}

bool parseShape(const std::string &text, std::array<int64_t, 3> &shape) {
  char x1 = 0, x2 = 0;
  std::istringstream in(text);
  in >> shape[0] >> x1 >> shape[1] >> x2 >> shape[2];
  return in && in.eof() && x1 == 'x' && x2 == 'x' && shape[0] > 0 &&
         shape[1] > 0 && shape[2] > 0;
}

std::vector<std::string> splitComma(const std::string &text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ','))
    parts.push_back(part);
  return parts;
}

const char *kUsage =
    "usage: xfc-gemm-bench [--shapes MxNxK,...] [--threads T,...]\n"
    "                      [--work DIR] [--json FILE] [--warmup N]\n"
    "                      [--min-runs N] [--min-seconds S] [--rounds R]\n"
    "T = 0 means all cores. Defaults: the BERT-base linear shapes, threads "
    "1,0.\n";

Options parseOptions(int argc, char **argv) {
  Options opts;
  std::string shapes = "128x768x768,128x2304x768,128x3072x768,128x768x3072,"
                       "512x768x768,512x3072x768";
  std::string threads = "1,0";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc)
      fail("option " + a + " expects a value\n" + kUsage);
    std::string v = argv[++i];
    try {
      if (a == "--shapes")
        shapes = v;
      else if (a == "--threads")
        threads = v;
      else if (a == "--work")
        opts.workDir = v;
      else if (a == "--json")
        opts.jsonPath = v;
      else if (a == "--warmup")
        opts.warmup = std::stoi(v);
      else if (a == "--min-runs")
        opts.minRuns = std::max(1, std::stoi(v));
      else if (a == "--min-seconds")
        opts.minSeconds = std::stod(v);
      else if (a == "--rounds")
        opts.rounds = std::max(1, std::stoi(v));
      else
        fail("unknown option " + a + "\n" + kUsage);
    } catch (const std::logic_error &) {
      fail("option " + a + ": expected a number, found '" + v + "'");
    }
  }
  for (const std::string &s : splitComma(shapes)) {
    std::array<int64_t, 3> shape;
    if (!parseShape(s, shape))
      fail("--shapes: expected MxNxK with positive sizes, found '" + s + "'");
    opts.shapes.push_back(shape);
  }
  int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (const std::string &t : splitComma(threads)) {
    int n = -1;
    try {
      n = std::stoi(t);
    } catch (const std::logic_error &) {
    }
    if (n < 0)
      fail("--threads: expected a count >= 0, found '" + t + "'");
    n = n == 0 ? all : n;
    if (std::find(opts.threads.begin(), opts.threads.end(), n) ==
        opts.threads.end())
      opts.threads.push_back(n);
  }
  return opts;
}

double maxAbsDiff(const std::vector<float> &a, const std::vector<float> &b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(double(a[i]) - double(b[i]));
    if (!std::isfinite(d))
      return INFINITY;
    worst = std::max(worst, d);
  }
  return worst;
}

} // namespace

int main(int argc, char **argv) {
  Options opts = parseOptions(argc, argv);
  xfc::registerXFCPassesAndPipelines();
  std::filesystem::create_directories(opts.workDir);
  int allThreads =
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  nlohmann::json results = nlohmann::json::array();
  for (const auto &shape : opts.shapes) {
    int64_t m = shape[0], n = shape[1], k = shape[2];
    std::vector<float> a = normal(size_t(m * k), 1, 1.0);
    // N(0, 1/K): outputs of order 1 whatever K.
    std::vector<float> bNK = normal(size_t(n * k), 2, 1.0 / std::sqrt(k));
    std::vector<float> bKN(bNK.size());
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c)
        bKN[size_t(c * n + r)] = bNK[size_t(r * k + c)];

    std::string dir = opts.workDir + "/" + std::to_string(m) + "x" +
                      std::to_string(n) + "x" + std::to_string(k);
    std::string error;
    Clock::time_point compileStart = Clock::now();
    if (!compileLinear(m, n, k, bNK, dir, error))
      fail("compiling the " + std::to_string(m) + "x" + std::to_string(n) +
           "x" + std::to_string(k) + " linear: " + error);
    double compileSeconds =
        std::chrono::duration<double>(Clock::now() - compileStart).count();
    // How the compiler stored the weight (the manifest's transform):
    // "none" and "transpose" keep a plain row-major matrix, anything else
    // (a packed layout) makes the figure a pre-packed one.
    std::string transform = "unknown";
    {
      std::ifstream in(dir + "/manifest.json");
      nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
      if (!manifest.is_discarded() && manifest.contains("weights") &&
          manifest["weights"].is_array() && !manifest["weights"].empty() &&
          manifest["weights"][0].is_object())
        transform = manifest["weights"][0].value("transform", "none");
    }
    std::string weightLayout = transform == "none" ? "[N,K] as given"
                               : transform == "transpose"
                                   ? "[K,N], transposed at compile time"
                                   : "stored as '" + transform + "'";

    xfc_model *model = nullptr;
    error = takeError(xfc_model_open(dir.c_str(), nullptr, &model));
    if (!error.empty())
      fail("opening " + dir + ": " + error);
    std::vector<float> yXfc(size_t(m * n)), yBlas(size_t(m * n));
    xfc_buffer in{a.data(), a.size() * sizeof(float)};
    xfc_buffer out{yXfc.data(), yXfc.size() * sizeof(float)};
    // One run context per thread count, created before timing: a run
    // through a context allocates nothing.
    xfc_context *context = nullptr;
    auto useThreads = [&](int threads) {
      xfc_context_destroy(context);
      context = nullptr;
      xfc_context_options options;
      xfc_context_options_initialize(&options);
      options.num_threads = threads;
      std::string e =
          takeError(xfc_context_create(model, &options, &context));
      if (!e.empty())
        fail("xfc_context_create: " + e);
    };
    auto runXfc = [&] {
      std::string e = takeError(xfc_context_run(context, &in, 1, &out, 1));
      if (!e.empty())
        fail("xfc_context_run: " + e);
    };
    auto blasNT = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(n),
                  int(k), 1.0f, a.data(), int(k), bNK.data(), int(k), 0.0f,
                  yBlas.data(), int(n));
    };
    auto blasNN = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(n),
                  int(k), 1.0f, a.data(), int(k), bKN.data(), int(n), 0.0f,
                  yBlas.data(), int(n));
    };

    for (int threads : opts.threads) {
      openblas_set_num_threads(threads);
      useThreads(threads);
      int xfcThreads = xfcThreadsFor(context);
      std::vector<Timing> t = timeInterleaved({runXfc, blasNT, blasNN}, opts);
      const Timing &tx = t[0], &tnt = t[1], &tnn = t[2];
      blasNT();
      double diffNT = maxAbsDiff(yXfc, yBlas);
      blasNN();
      double diffNN = maxAbsDiff(yXfc, yBlas);
      // The same product, so the results agree to fp32 rounding (outputs
      // are O(1)); a larger difference means one side computes something
      // else, and its speed means nothing.
      if (!(std::max(diffNT, diffNN) <= kMaxAbsDiff))
        fail("xfc and OpenBLAS disagree on " + std::to_string(m) + "x" +
             std::to_string(n) + "x" + std::to_string(k) + ": max |diff| " +
             std::to_string(std::max(diffNT, diffNN)));
      nlohmann::json r;
      r["m"] = m;
      r["n"] = n;
      r["k"] = k;
      r["threads"] = threads;
      r["all_threads"] = threads == allThreads;
      r["xfc"] = {{"gflops", gflops(m, n, k, tx.medianMs)},
                  {"median_ms", tx.medianMs},
                  {"min_ms", tx.minMs},
                  {"runs", tx.runs},
                  {"threads", xfcThreads},
                  {"weight_layout", weightLayout},
                  {"weight_transform", transform},
                  {"compile_seconds", compileSeconds}};
      r["openblas_b_nk"] = {{"gflops", gflops(m, n, k, tnt.medianMs)},
                            {"median_ms", tnt.medianMs},
                            {"min_ms", tnt.minMs},
                            {"runs", tnt.runs},
                            {"threads", threads},
                            {"max_abs_diff_vs_xfc", diffNT}};
      r["openblas_b_kn"] = {{"gflops", gflops(m, n, k, tnn.medianMs)},
                            {"median_ms", tnn.medianMs},
                            {"min_ms", tnn.minMs},
                            {"runs", tnn.runs},
                            {"threads", threads},
                            {"max_abs_diff_vs_xfc", diffNN}};
      std::fprintf(stderr,
                   "gemm M=%lld N=%lld K=%lld threads %d: xfc %.1f GFLOPS "
                   "(%d thr), openblas B[N,K] %.1f, B[K,N] %.1f GFLOPS, "
                   "max |diff| %.2g\n",
                   (long long)m, (long long)n, (long long)k, threads,
                   gflops(m, n, k, tx.medianMs), xfcThreads,
                   gflops(m, n, k, tnt.medianMs), gflops(m, n, k, tnn.medianMs),
                   std::max(diffNT, diffNN));
      results.push_back(r);
    }
    xfc_context_destroy(context);
    xfc_model_destroy(model);
  }

  nlohmann::json doc;
  doc["openblas_config"] = openblas_get_config();
  doc["openblas_corename"] = openblas_get_corename();
  doc["all_threads"] = allThreads;
  doc["results"] = results;
  std::string text = doc.dump(2) + "\n";
  if (opts.jsonPath.empty()) {
    std::fputs(text.c_str(), stdout);
  } else {
    std::ofstream file(opts.jsonPath);
    file << text;
    if (!file)
      fail("cannot write " + opts.jsonPath);
  }
  return 0;
}
