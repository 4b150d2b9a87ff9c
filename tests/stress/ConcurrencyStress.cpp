//===- ConcurrencyStress.cpp - One model, many threads, exact results -----===//
//
// Part of xfc. Checks the threading contract of xfc/runtime.h on a real
// compiled artifact: one xfc_model, shared by every thread (the mapped
// weights, the loaded code), each thread with its own xfc_context, all
// running at once. Every output of every concurrent run must be bit for bit
// the output of the same inputs run serially, alone, with the same intra-op
// thread count. The threads cycle through several different input sets, so
// a run that read another context's arena or wrote another's output would
// show up as a mismatch, not as the same wrong value everywhere.
//
// While they run, one more thread keeps calling what the contract says may
// be shared: the query functions, xfc_model_verify and xfc_model_run (which
// makes a temporary context per call, with one intra-op thread per core;
// --no-model-run leaves it out, for ThreadSanitizer, which reports false
// races inside the uninstrumented OpenMP runtime once it starts workers).
//
// Links only the runtime (no LLVM/MLIR), so the ThreadSanitizer build
// (scripts/test-tsan.sh) instruments it and the runtime and nothing else.
// The artifact is compiled beforehand by the ordinary build's `xfc`.
//
//   xfc-concurrency-stress ARTIFACT [--threads N] [--runs N]
//                          [--intra-op N] [--input-sets N] [--no-model-run]
//
// Exit status: 0 when every result matched, 1 on a mismatch or an error,
// 2 on a usage error.
//
//===----------------------------------------------------------------------===//
#include "xfc/runtime.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

/// One input set, or the outputs of one run: one byte buffer per tensor.
using Buffers = std::vector<std::vector<uint8_t>>;

struct Options {
  std::string artifact;
  int threads = 8;
  int runs = 25;
  int intraOp = 1;
  int inputSets = 4;
  /// Whether the shared-model thread also calls xfc_model_run, whose
  /// temporary context uses one intra-op thread per core.
  bool modelRun = true;
};

/// Prints `what` and the status message; true when there was an error.
bool failed(xfc_status status, const char *what) {
  if (!status)
    return false;
  std::fprintf(stderr, "xfc-concurrency-stress: %s: %s\n", what,
               xfc_status_get_message(status));
  xfc_status_free(status);
  return true;
}

size_t tensorBytes(const xfc_tensor_info &info) {
  size_t bytes = xfc_dtype_size(info.dtype);
  for (int32_t d = 0; d < info.rank; ++d)
    bytes *= static_cast<size_t>(info.dims[d]);
  return bytes;
}

/// Input set `set`: integers spread over their allowed range (token ids,
/// lengths), floats in [-1, 1); different for each set, the same on every
/// call.
bool makeInputs(const xfc_model *model, int set, Buffers &out) {
  out.clear();
  uint64_t state = 0x9e3779b97f4a7c15ull * uint64_t(set + 1);
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (size_t i = 0; i < xfc_model_num_inputs(model); ++i) {
    xfc_tensor_info info;
    if (failed(xfc_model_input_info(model, i, &info), "input info"))
      return false;
    std::vector<uint8_t> &bytes = out.emplace_back(tensorBytes(info));
    size_t count = bytes.size() / 4;
    for (size_t k = 0; k < count; ++k) {
      if (info.dtype == XFC_DTYPE_I32) {
        int64_t lo = info.has_range ? info.min_value : 0;
        int64_t hi = info.has_range ? info.max_value : 1000;
        int32_t v = static_cast<int32_t>(
            lo + static_cast<int64_t>(next() % uint64_t(hi - lo + 1)));
        std::memcpy(&bytes[4 * k], &v, 4);
      } else {
        float v = float(next() % 2000) / 1000.0f - 1.0f;
        std::memcpy(&bytes[4 * k], &v, 4);
      }
    }
  }
  return true;
}

/// Output buffers of the right sizes.
bool makeOutputs(const xfc_model *model, Buffers &out) {
  out.clear();
  for (size_t i = 0; i < xfc_model_num_outputs(model); ++i) {
    xfc_tensor_info info;
    if (failed(xfc_model_output_info(model, i, &info), "output info"))
      return false;
    out.emplace_back(tensorBytes(info), 0xAB);
  }
  return true;
}

std::vector<xfc_buffer> views(Buffers &buffers) {
  std::vector<xfc_buffer> out;
  for (std::vector<uint8_t> &b : buffers)
    out.push_back({b.data(), b.size()});
  return out;
}

/// Runs `inputs` through `context` into `outputs`.
xfc_status runOnce(xfc_context *context, Buffers &inputs, Buffers &outputs) {
  std::vector<xfc_buffer> in = views(inputs), out = views(outputs);
  return xfc_context_run(context, in.data(), in.size(), out.data(), out.size());
}

xfc_context *createContext(const xfc_model *model, int intraOp) {
  xfc_context_options options;
  xfc_context_options_initialize(&options);
  options.num_threads = intraOp;
  xfc_context *context = nullptr;
  if (failed(xfc_context_create(model, &options, &context), "context"))
    return nullptr;
  return context;
}

/// The first byte where `a` and `b` differ, as a message.
std::string describeMismatch(const Buffers &a, const Buffers &b) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i])
      continue;
    size_t at = 0;
    while (at < a[i].size() && a[i][at] == b[i][at])
      ++at;
    size_t element = at / 4;
    float x, y;
    std::memcpy(&x, &a[i][element * 4], 4);
    std::memcpy(&y, &b[i][element * 4], 4);
    return "output " + std::to_string(i) + " element " +
           std::to_string(element) + ": " + std::to_string(x) +
           " (serial) vs " + std::to_string(y);
  }
  return "";
}

bool parseArgs(int argc, char **argv, Options &options) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto number = [&](int &out, int min) {
      if (i + 1 >= argc)
        return false;
      char *end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < min || v > 100000)
        return false;
      out = static_cast<int>(v);
      return true;
    };
    bool ok = true;
    if (a == "--threads")
      ok = number(options.threads, 1);
    else if (a == "--runs")
      ok = number(options.runs, 1);
    else if (a == "--intra-op")
      ok = number(options.intraOp, 1);
    else if (a == "--input-sets")
      ok = number(options.inputSets, 1);
    else if (a == "--no-model-run")
      options.modelRun = false;
    else if (options.artifact.empty() && a[0] != '-')
      options.artifact = a;
    else
      ok = false;
    if (!ok) {
      std::fprintf(stderr, "xfc-concurrency-stress: bad argument '%s'\n",
                   a.c_str());
      return false;
    }
  }
  return !options.artifact.empty();
}

} // namespace

int main(int argc, char **argv) {
  Options options;
  if (!parseArgs(argc, argv, options)) {
    std::fprintf(stderr, "usage: xfc-concurrency-stress ARTIFACT [--threads N] "
                         "[--runs N] [--intra-op N] [--input-sets N] "
                         "[--no-model-run]\n");
    return 2;
  }
  xfc_model *model = nullptr;
  if (failed(xfc_model_open(options.artifact.c_str(), nullptr, &model), "open"))
    return 1;

  // The serial references: each input set run alone, twice through one
  // context (the second run finds the arena the first left dirty).
  std::vector<Buffers> inputs(options.inputSets), expected(options.inputSets);
  xfc_context *serial = createContext(model, options.intraOp);
  if (!serial)
    return 1;
  for (int s = 0; s < options.inputSets; ++s) {
    Buffers again;
    if (!makeInputs(model, s, inputs[s]) || !makeOutputs(model, expected[s]) ||
        !makeOutputs(model, again) ||
        failed(runOnce(serial, inputs[s], expected[s]), "serial run") ||
        failed(runOnce(serial, inputs[s], again), "serial run"))
      return 1;
    if (again != expected[s]) {
      std::fprintf(stderr,
                   "xfc-concurrency-stress: two serial runs of input set %d "
                   "differ: %s\n",
                   s, describeMismatch(expected[s], again).c_str());
      return 1;
    }
  }
  xfc_context_destroy(serial);

  // The concurrent runs, all threads released at once.
  std::atomic<int> ready{0};
  std::atomic<bool> go{false}, workersDone{false};
  std::atomic<long> mismatches{0}, errors{0}, sharedCalls{0};
  std::mutex firstMutex;
  std::string first;
  auto report = [&](const std::string &message) {
    std::lock_guard<std::mutex> lock(firstMutex);
    if (first.empty())
      first = message;
  };
  auto worker = [&](int t) {
    xfc_context *context = createContext(model, options.intraOp);
    Buffers outputs;
    bool ok = context && makeOutputs(model, outputs);
    ready.fetch_add(1);
    while (!go.load())
      std::this_thread::yield();
    for (int r = 0; ok && r < options.runs; ++r) {
      int s = (t + r) % options.inputSets;
      if (failed(runOnce(context, inputs[s], outputs), "concurrent run")) {
        errors.fetch_add(1);
        break;
      }
      if (outputs != expected[s]) {
        mismatches.fetch_add(1);
        report("thread " + std::to_string(t) + " run " + std::to_string(r) +
               " (input set " + std::to_string(s) +
               "): " + describeMismatch(expected[s], outputs));
      }
    }
    if (!ok)
      errors.fetch_add(1);
    xfc_context_destroy(context);
  };
  // What the contract says may be shared, called while the workers run.
  auto sharedUser = [&] {
    ready.fetch_add(1);
    while (!go.load())
      std::this_thread::yield();
    Buffers outputs;
    if (!makeOutputs(model, outputs)) {
      errors.fetch_add(1);
      return;
    }
    for (long n = 0; !workersDone.load() || n == 0; ++n) {
      xfc_tensor_info info;
      if (failed(xfc_model_input_info(model, 0, &info), "input info") ||
          failed(xfc_model_verify(model), "verify")) {
        errors.fetch_add(1);
        return;
      }
      sharedCalls.fetch_add(1);
      if (!options.modelRun)
        continue;
      int s = static_cast<int>(n % options.inputSets);
      std::vector<xfc_buffer> in = views(inputs[s]), out = views(outputs);
      if (failed(xfc_model_run(model, in.data(), in.size(), out.data(),
                               out.size()),
                 "xfc_model_run")) {
        errors.fetch_add(1);
        return;
      }
      if (outputs != expected[s]) {
        mismatches.fetch_add(1);
        report("xfc_model_run (input set " + std::to_string(s) +
               "): " + describeMismatch(expected[s], outputs));
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < options.threads; ++t)
    threads.emplace_back(worker, t);
  std::thread shared(sharedUser);
  while (ready.load() < options.threads + 1)
    std::this_thread::yield();
  go.store(true);
  for (std::thread &t : threads)
    t.join();
  workersDone.store(true);
  shared.join();
  xfc_model_destroy(model);

  long total = long(options.threads) * options.runs;
  if (mismatches.load() || errors.load()) {
    std::fprintf(stderr,
                 "xfc-concurrency-stress: FAILED: %ld of %ld concurrent "
                 "results differ from the serial runs, %ld errors; first: "
                 "%s\n",
                 mismatches.load(), total, errors.load(), first.c_str());
    return 1;
  }
  std::printf("%ld concurrent runs (%d threads x %d, %d intra-op thread(s) "
              "each, %d input sets) and %ld shared-model calls: every output "
              "bit-identical to the serial runs\n",
              total, options.threads, options.runs, options.intraOp,
              options.inputSets, sharedCalls.load());
  return 0;
}
