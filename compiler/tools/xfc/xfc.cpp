//===- xfc.cpp - The xfc command-line tool ----------------------*- C++ -*-===//
//
// Part of xfc. `xfc compile` turns a model spec into an artifact folder;
// `xfc run` loads an artifact through the runtime C API and runs it on .npy
// inputs (or random ones), printing an output summary and the timing;
// `xfc inspect` prints what an artifact contains; `xfc verify` checks its
// integrity (docs/artifact.md); `xfc import-hf` turns a Hugging Face
// checkpoint folder into a spec and a weights file (docs/hf-import.md).
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/Buckets.h"
#include "xfc/Compiler/Compiler.h"
#include "xfc/Compiler/MemoryPlanReport.h"
#include "xfc/Frontend/HfImport.h"
#include "xfc/Support/Npy.h"
#include "xfc/runtime.h"

#include "TextRun.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace {

const char *kUsage = R"(usage:
  xfc compile SPEC.json|HF_DIR -o OUT [options]
                             (HF_DIR: a Hugging Face checkpoint folder,
                             imported in memory as by import-hf)
      --batch N              batch size (default 1)
      --seq-len N            sequence length (source length)
                             (default: 128, or max_seq_len if smaller)
      --tgt-len N            target length of an encoder_decoder (default: seq-len)
      --buckets=LIST         one entry point per shape in one artifact, e.g.
                             8,32,128 (sequence lengths, batch --batch) or
                             1x8,4x128 (BxS; BxSxT for an encoder_decoder);
                             runs take any length up to the largest, padded
                             to the smallest bucket that holds it
      --cpu CPU              native (default), x86-64, x86-64-v2, x86-64-v3, x86-64-v4
                             (with --target=cuda: the host code's CPU)
      --target=cpu|cuda      what the model runs on (default cpu); cuda
                             compiles its kernels to PTX (docs/gpu.md)
      --gpu-arch=ARCH        with --target=cuda: sm_90 (default), sm_80, or
                             sm_90a
      --gpu-kernels=tuned|generic
                             with --target=cuda: the tuned device kernels
                             where they fit (default), or the generic
                             mapping for every kernel
      --dtype=f32|f16|bf16   with --target=cuda: the GEMMs' operand type;
                             f16 and bf16 run them on tensor cores (f32
                             accumulation) and store their weights in that
                             type (default f32: FFMA)
      --allow-tf32           with --target=cuda: the GEMMs that stay f32 run
                             on tensor cores in TF32 (10 mantissa bits, f32
                             accumulation) where K is a multiple of 32
      --gpu-half-qkv=on|off  with --dtype=f16|bf16: the Q, K, V projections
                             that only flash attention reads write that
                             type, as the kernel rounds them (default on;
                             off keeps them f32)
      --gpu-half-ffn=on|off  with --dtype=f16|bf16: a GEMM whose output only
                             other GEMMs read (the FFN's hidden layer)
                             writes that type, as they round it (default
                             on; off keeps it f32)
      --gpu-half-norm=on|off with --dtype=f16|bf16: a LayerNorm whose
                             output only GEMMs read (a pre-LN stack's)
                             writes that type, as they round it (default
                             on; off keeps it f32)
      --gpu-attention-rows=auto|64|128
                             with --target=cuda: the flash attention
                             kernels' query rows a block; 128 gives each
                             warp two m16 tiles, half the shared-memory
                             reads a FLOP (default auto: 128 for head dims
                             up to 64 when the grid still fills an H100)
      --no-transpose-weights keep linear weights in [out, in] layout
      --fusion=all|none|LIST graph fusions to run (default all); LIST is
                             comma-separated from qkv, epilogue,
                             residual-layernorm, attention
      --ffn-chunk=N          run feed-forward blocks N rows at a time (0 = off)
      --attention=PATTERN    mask pattern of every self-attention layer,
                             replacing the spec's (docs/attention-patterns.md),
                             e.g. 'sliding_window(w = 256)' 
      --dump-ir DIR          write the IR after every stage into DIR
      --fusion-plan FILE     take the fusions from a plan (JSON, as written
                             by --explain-dir) instead of --fusion
      --explain              print how the model was compiled: kernels
                             (spec nodes, FLOPs, bytes), fusions applied and
                             not (with the reason), memory plan
      --explain-dir DIR      also write fusion-plan.json and
                             memory-plan.json/.svg into DIR
      --debug-poison-buffers fill each intermediate buffer with NaN once
                             it is dead (checks the memory plan)
      --generate[=CAPACITY]  also compile the generation steps of a decoder
                             or an encoder-decoder (OUT/prefill,
                             OUT/decode) over a key/value cache of CAPACITY
                             positions (default max_seq_len); prompts take
                             up to --seq-len tokens (an encoder-decoder's:
                             sources --seq-len, target prompts --tgt-len)
      --force                replace OUT if it exists
  xfc run OUT [options]
      --input FILE | --input NAME=FILE   an input as .npy (in manifest order, or by name)
      --random-input         random values for every input not given
      --seed N               seed of --random-input (default 0)
      --output FILE | --output NAME=FILE  write an output as .npy
      --batch N, --seq-len N, --tgt-len N
                             the run's shape for a bucketed artifact (default:
                             the given inputs', else the largest bucket's);
                             inputs may have any shape up to the largest bucket
      --repeat N             timed runs (default 1); --warmup N untimed runs first
      --threads N            threads per run (default 0: one per core)
      --profile              time every kernel of the timed runs and print
                             a table, slowest first
      --gpu-graph=on|off     a GPU artifact's kernel launches recorded once
                             into a CUDA graph that each run replays (on,
                             the default), or launched one by one (off)
      --force                replace existing --output files
      --text TEXT            a sentence to tokenize and run (repeatable),
                             with the artifact's tokenizer (compiled from a
                             Hugging Face folder with vocab.txt)
      --text-file FILE       sentences to run, one a line; they are run in
                             batches of the compiled batch size, and
                             --output writes the sentence embedding (or
                             NAME=FILE an output) with one row per sentence
  xfc generate OUT --prompt-ids IDS --max-new-tokens N [options]
  xfc generate OUT --src-ids IDS --max-new-tokens N [options]
                             decoding with the key/value cache of an
                             artifact compiled with --generate: greedy, or
                             beam search with --beams (an encoder-decoder
                             always searches; --beams 1 is greedy); prints
                             the new token ids
      --prompt-ids IDS       a decoder's prompt: comma-separated token ids
                             (every batch item gets the same prompt)
      --src-ids IDS          an encoder-decoder's source; once per source
                             (batch / beams of them) or once for all
      --max-new-tokens N     tokens to generate (>= 1)
      --beams K              beam search with K beams per source (K must
                             divide the compiled batch)
      --start-id N           the decoder start token (default 0)
      --eos-id N             the end-of-sequence token (default: none)
      --length-penalty X     finished hypotheses score sum(log p) / len^X
                             (default 1)
      --early-stopping       a source is done once K hypotheses finished
      --scores               print each hypothesis' score after its ids
      --threads N            threads per step (default 0: one per core)
      --timing               print the prefill time and decode tokens/s
                             to stderr
  xfc import-hf HF_DIR -o SPEC.json [--name NAME] [--force]
                             write the spec of a BERT or GPT-2 checkpoint
                             (config.json + model.safetensors) and its
                             weights as SPEC.weights.safetensors
  xfc inspect OUT
  xfc verify OUT             check every file of the artifact against the
                             sizes and checksums its manifest records
  xfc devices                list the GPUs the CUDA driver reports (or why
                             there are none: no driver, a stub library)
)";

int usageError(const std::string &message) {
  std::fprintf(stderr, "xfc: %s\n\n%s", message.c_str(), kUsage);
  return 2;
}

/// Parses a positive integer option value; false on garbage or overflow.
bool parseInt(const std::string &text, int64_t &out) {
  if (text.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0')
    return false;
  out = v;
  return true;
}

//===----------------------------------------------------------------------===//
// compile
//===----------------------------------------------------------------------===//

int runCompile(const std::vector<std::string> &args) {
  xfc::CompileRequest request;
  bool explain = false;
  bool fusionGiven = false;
  request.shapes.seqLen = 0; // The spec-dependent default.
  std::string bucketText;
  std::string targetText = "cpu", gpuArch, gpuKernels, dtype;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    // `--name=value` for the options that document that form.
    std::string inlineValue;
    bool hasInlineValue = false;
    if (a.rfind("--generate=", 0) == 0) {
      int64_t capacity = 0;
      std::string text = a.substr(11);
      if (!parseInt(text, capacity) || capacity < 1) {
        std::fprintf(stderr,
                     "xfc: error: --generate= expects a positive cache "
                     "capacity, found '%s'\n",
                     text.c_str());
        return 2;
      }
      request.generateCapacity = capacity;
      continue;
    }
    if (a.rfind("--fusion=", 0) == 0 || a.rfind("--ffn-chunk=", 0) == 0 ||
        a.rfind("--attention=", 0) == 0 || a.rfind("--buckets=", 0) == 0 ||
        a.rfind("--target=", 0) == 0 || a.rfind("--gpu-arch=", 0) == 0 ||
        a.rfind("--gpu-kernels=", 0) == 0 || a.rfind("--dtype=", 0) == 0 ||
        a.rfind("--gpu-half-qkv=", 0) == 0 ||
        a.rfind("--gpu-half-ffn=", 0) == 0 ||
        a.rfind("--gpu-half-norm=", 0) == 0 ||
        a.rfind("--gpu-attention-rows=", 0) == 0) {
      size_t eq = a.find('=');
      inlineValue = a.substr(eq + 1);
      a = a.substr(0, eq);
      hasInlineValue = true;
    }
    auto value = [&](std::string &out) {
      if (hasInlineValue) {
        out = inlineValue;
        return true;
      }
      if (i + 1 >= args.size())
        return false;
      out = args[++i];
      return true;
    };
    // Sizes are positive; 0 stands for "not given" inside the request, so
    // an explicit 0 must be refused here rather than mean the default.
    auto intValue = [&](int64_t &out) {
      std::string text;
      if (!value(text) || !parseInt(text, out) || out < 1) {
        std::fprintf(stderr,
                     "xfc: error: %s expects a positive integer, found '%s'\n",
                     a.c_str(), text.c_str());
        return false;
      }
      return true;
    };
    if (a == "-o" || a == "--output") {
      if (!value(request.outputDir))
        return usageError(a + " expects a folder");
    } else if (a == "--batch") {
      if (!intValue(request.shapes.batch))
        return 2;
    } else if (a == "--seq-len") {
      if (!intValue(request.shapes.seqLen))
        return 2;
    } else if (a == "--tgt-len") {
      if (!intValue(request.shapes.tgtLen))
        return 2;
    } else if (a == "--buckets") {
      if (!value(bucketText) || bucketText.empty())
        return usageError("--buckets expects a list of shapes, e.g. 8,32,128");
    } else if (a == "--cpu") {
      if (!value(request.cpu))
        return usageError("--cpu expects a CPU name");
    } else if (a == "--target") {
      if (!value(targetText) || (targetText != "cpu" && targetText != "cuda"))
        return usageError("--target expects cpu or cuda, found '" + targetText +
                          "'");
    } else if (a == "--gpu-kernels") {
      if (!value(gpuKernels) ||
          (gpuKernels != "tuned" && gpuKernels != "generic"))
        return usageError("--gpu-kernels expects tuned or generic, found '" +
                          gpuKernels + "'");
    } else if (a == "--allow-tf32") {
      request.gpuAllowTf32 = true;
    } else if (a == "--gpu-half-qkv") {
      std::string halfQkv;
      if (!value(halfQkv) || (halfQkv != "on" && halfQkv != "off"))
        return usageError("--gpu-half-qkv expects on or off, found '" +
                          halfQkv + "'");
      request.gpuHalfQkv = halfQkv == "on";
    } else if (a == "--gpu-half-ffn") {
      std::string halfFfn;
      if (!value(halfFfn) || (halfFfn != "on" && halfFfn != "off"))
        return usageError("--gpu-half-ffn expects on or off, found '" +
                          halfFfn + "'");
      request.gpuHalfFfn = halfFfn == "on";
    } else if (a == "--gpu-half-norm") {
      std::string halfNorm;
      if (!value(halfNorm) || (halfNorm != "on" && halfNorm != "off"))
        return usageError("--gpu-half-norm expects on or off, found '" +
                          halfNorm + "'");
      request.gpuHalfNorm = halfNorm == "on";
    } else if (a == "--gpu-attention-rows") {
      std::string rows;
      if (!value(rows) || (rows != "auto" && rows != "64" && rows != "128"))
        return usageError(
            "--gpu-attention-rows expects auto, 64 or 128, found '" + rows +
            "'");
      request.gpuAttentionQueryTile = rows == "auto" ? 0 : std::stoll(rows);
    } else if (a == "--dtype") {
      if (!value(dtype) ||
          (dtype != "f32" && dtype != "f16" && dtype != "bf16"))
        return usageError("--dtype expects f32, f16 or bf16, found '" + dtype +
                          "'");
    } else if (a == "--gpu-arch") {
      if (!value(gpuArch) || gpuArch.empty())
        return usageError("--gpu-arch expects sm_80, sm_90 or sm_90a");
    } else if (a == "--dump-ir") {
      if (!value(request.dumpIRDir))
        return usageError("--dump-ir expects a folder");
    } else if (a == "--explain") {
      explain = true;
    } else if (a == "--explain-dir") {
      if (!value(request.explainDir))
        return usageError("--explain-dir expects a folder");
      explain = true;
    } else if (a == "--debug-poison-buffers") {
      request.pipeline.poisonDeadBuffers = true;
    } else if (a == "--no-transpose-weights") {
      request.pipeline.transposeLinearWeights = false;
    } else if (a == "--fusion-plan") {
      if (!value(request.fusionPlanPath))
        return usageError("--fusion-plan expects a plan file");
    } else if (a == "--fusion") {
      fusionGiven = true;
      std::string text, error;
      if (!value(text))
        return usageError("--fusion expects all, none or a list of fusions");
      if (!xfc::parseFusionList(text, request.pipeline.fusion, error)) {
        std::fprintf(stderr, "xfc: error: %s\n", error.c_str());
        return 2;
      }
    } else if (a == "--attention") {
      if (!value(request.attentionPattern) || request.attentionPattern.empty())
        return usageError("--attention expects a pattern, e.g. "
                          "'sliding_window(w = 256)'");
    } else if (a == "--ffn-chunk") {
      std::string text;
      int64_t rows = 0;
      if (!value(text) || !parseInt(text, rows) || rows < 0) {
        std::fprintf(stderr,
                     "xfc: error: --ffn-chunk expects a number of rows >= 0 "
                     "(0 = off), found '%s'\n",
                     text.c_str());
        return 2;
      }
      request.pipeline.fusion.ffnChunk = rows;
    } else if (a == "--force") {
      request.force = true;
    } else if (a == "--generate") {
      request.generateCapacity = 0;
    } else if (!a.empty() && a[0] == '-') {
      return usageError("unknown option '" + a + "'");
    } else if (request.specPath.empty()) {
      request.specPath = a;
    } else {
      return usageError("unexpected argument '" + a + "'");
    }
  }
  if (request.specPath.empty())
    return usageError("compile: no SPEC.json given");
  if (request.outputDir.empty())
    return usageError("compile: no output folder given (-o OUT)");
  if (fusionGiven && !request.fusionPlanPath.empty())
    return usageError("--fusion and --fusion-plan both choose the fusions; "
                      "give one of them");
  if (targetText == "cuda") {
    request.gpuArch = gpuArch.empty() ? "sm_90" : gpuArch;
    request.gpuTunedKernels = gpuKernels != "generic";
  } else if (!gpuArch.empty() || !gpuKernels.empty()) {
    return usageError(
        std::string(gpuArch.empty() ? "--gpu-kernels" : "--gpu-arch") +
        " needs --target=cuda");
  }
  request.gpuDtype = dtype == "f16"    ? xfc::GpuGemmInput::F16
                     : dtype == "bf16" ? xfc::GpuGemmInput::BF16
                                       : xfc::GpuGemmInput::F32;

  if (!bucketText.empty()) {
    if (request.shapes.seqLen != 0 || request.shapes.tgtLen != 0)
      return usageError("--buckets gives the sequence lengths; drop "
                        "--seq-len and --tgt-len");
    std::string error;
    if (!xfc::parseBucketList(bucketText, request.shapes.batch, request.buckets,
                              error)) {
      std::fprintf(stderr, "xfc: error: %s\n", error.c_str());
      return 2;
    }
  }

  xfc::CompileReport report;
  std::string error;
  if (!xfc::compileModel(request, report, error)) {
    std::fprintf(stderr, "xfc: error: %s\n", error.c_str());
    return 1;
  }
  std::printf("compiled %s -> %s (%.2f s, weights %.1f MiB)\n",
              request.specPath.c_str(), report.artifactDir.c_str(),
              report.totalSeconds, report.weightBytes / 1048576.0);
  for (const auto &[name, seconds] : report.steps)
    std::printf("  %-30s %8.3f s\n", name.c_str(), seconds);
  // --explain: one section per topic, so other reports can join.
  if (explain) {
    std::printf("\n%s", xfc::describeKernels(report.fusion).c_str());
    if (std::string attention = xfc::describeAttention(report.fusion);
        !attention.empty())
      std::printf("\n%s", attention.c_str());
    std::printf("\n%s", xfc::describeFusions(report.fusion).c_str());
    if (!request.gpuArch.empty()) {
      std::printf("\n== GPU kernels ==\n  %zu kernels on tuned device "
                  "kernels (docs/gpu.md), the others mapped generically\n",
                  report.gpuKernels.size());
      for (const auto &[kernel, what] : report.gpuKernels)
        std::printf("  %6s  %s\n", kernel.c_str(), what.c_str());
    }
    if (!request.explainDir.empty())
      std::printf("  wrote %s/fusion-plan.json (edit it and pass it back "
                  "with --fusion-plan)\n",
                  request.explainDir.c_str());
    std::printf("\n%s", xfc::describeMemoryPlan(report.memoryPlan).c_str());
    if (!report.buckets.empty())
      std::printf("\n%s", xfc::describeBuckets(report.buckets).c_str());
    if (!request.explainDir.empty())
      std::printf("  wrote %s/memory-plan.json and memory-plan.svg\n",
                  request.explainDir.c_str());
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// run and inspect
//===----------------------------------------------------------------------===//

/// Owns an xfc_status; prints and converts it to an exit code.
bool check(xfc_status status, const char *what) {
  if (!status)
    return true;
  std::fprintf(stderr, "xfc: %s: %s\n", what, xfc_status_get_message(status));
  xfc_status_free(status);
  return false;
}

std::string shapeString(const xfc_tensor_info &info) {
  std::string s = "[";
  for (int32_t d = 0; d < info.rank; ++d)
    s += (d ? ", " : "") + std::to_string(info.dims[d]);
  return s + "]";
}

int64_t numElements(const xfc_tensor_info &info) {
  int64_t n = 1;
  for (int32_t d = 0; d < info.rank; ++d)
    n *= info.dims[d];
  return n;
}

const char *dtypeName(xfc_dtype dtype) {
  return dtype == XFC_DTYPE_I32 ? "i32" : "f32";
}

/// The --profile table: one row per kernel, slowest first, then the sum
/// of the kernels against the measured time per run.
bool printProfile(xfc_model *model, xfc_context *context) {
  size_t count = xfc_model_num_kernels(model);
  std::vector<xfc_kernel_profile> kernels(count);
  xfc_profile totals;
  if (!check(xfc_context_get_profile(context, &totals, kernels.data(), count),
             "read profile"))
    return false;
  if (totals.runs == 0)
    return true;
  double runs = double(totals.runs);
  double wallMs = totals.wall_ns / 1e6 / runs;
  std::vector<size_t> order(count);
  for (size_t k = 0; k < count; ++k)
    order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return kernels[a].total_ns > kernels[b].total_ns;
  });
  int nameWidth = 6, kindWidth = 4;
  for (const xfc_kernel_profile &k : kernels) {
    nameWidth = std::max<int>(nameWidth, std::strlen(k.kernel.name));
    kindWidth = std::max<int>(kindWidth, std::strlen(k.kernel.kind));
  }
  std::printf("\nprofile: %llu run(s), %.3f ms per run\n",
              (unsigned long long)totals.runs, wallMs);
  std::printf("%4s  %-*s  %-*s  %6s  %10s  %9s  %6s  %8s  %8s\n", "id",
              nameWidth, "kernel", kindWidth, "kind", "calls", "total ms",
              "ms/run", "% run", "GFLOP/s", "GB/s");
  for (size_t k : order) {
    const xfc_kernel_profile &p = kernels[k];
    double seconds = p.total_ns / 1e9;
    // The manifest's flops and bytes are per run.
    double gflops =
        seconds > 0 ? double(p.kernel.flops) * runs / seconds / 1e9 : 0.0;
    double gbytes =
        seconds > 0 ? double(p.kernel.bytes) * runs / seconds / 1e9 : 0.0;
    double msPerRun = p.total_ns / 1e6 / runs;
    std::printf("%4zu  %-*s  %-*s  %6llu  %10.3f  %9.3f  %5.1f%%  %8.2f  "
                "%8.2f\n",
                k, nameWidth, p.kernel.name, kindWidth, p.kernel.kind,
                (unsigned long long)p.calls, p.total_ns / 1e6, msPerRun,
                wallMs > 0 ? 100.0 * msPerRun / wallMs : 0.0, gflops, gbytes);
  }
  double kernelMs = totals.kernel_ns / 1e6 / runs;
  // A GPU model's kernels are timed on the device (CUDA events); the rest
  // of a run is the host's copies, launches and waits.
  bool gpu = std::strncmp(xfc_model_device(model), "cuda", 4) == 0;
  std::printf("kernels: %.3f ms per run of %.3f ms measured (%.1f%%); "
              "%s: %.3f ms\n",
              kernelMs, wallMs, wallMs > 0 ? 100.0 * kernelMs / wallMs : 0.0,
              gpu ? "copies, launches and waits around the device's kernels"
                  : "serial glue between kernels",
              wallMs - kernelMs);
  return true;
}

struct OpenModel {
  xfc_model *model = nullptr;
  ~OpenModel() { xfc_model_destroy(model); }
};

void printInterface(xfc_model *model) {
  std::printf("model %s\n", xfc_model_name(model));
  for (size_t i = 0; i < xfc_model_num_inputs(model); ++i) {
    xfc_tensor_info info;
    if (check(xfc_model_input_info(model, i, &info), "input info"))
      std::printf("  input  %-16s %s %s\n", info.name, dtypeName(info.dtype),
                  shapeString(info).c_str());
  }
  for (size_t i = 0; i < xfc_model_num_outputs(model); ++i) {
    xfc_tensor_info info;
    if (check(xfc_model_output_info(model, i, &info), "output info"))
      std::printf("  output %-16s %s %s\n", info.name, dtypeName(info.dtype),
                  shapeString(info).c_str());
  }
}

int runInspect(const std::vector<std::string> &args) {
  if (args.size() != 1)
    return usageError("inspect expects one artifact folder");
  // Opening validates the whole artifact; the manifest is then read again
  // for what the C API does not expose (target, options, weight layouts).
  OpenModel m;
  if (!check(xfc_model_open(args[0].c_str(), nullptr, &m.model), "open"))
    return 1;
  printInterface(m.model);
  std::ifstream in(args[0] + "/manifest.json");
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
  if (manifest.is_discarded())
    return 0;
  const nlohmann::json &target = manifest["target"];
  std::printf("target %s, cpu %s (tuned for %s), %zu features:",
              target.value("triple", "?").c_str(),
              target.value("cpu", "?").c_str(),
              target.value("tune_cpu", "?").c_str(), target["features"].size());
  for (const auto &f : target["features"])
    std::printf(" %s", f.get<std::string>().c_str());
  std::printf("\n");
  const nlohmann::json &options = manifest["compile_options"];
  if (options.is_object())
    std::printf("compiled by xfc %s: batch %lld, seq_len %lld, tgt_len %lld\n"
                "pipeline %s\n",
                options.value("xfc_version", "?").c_str(),
                (long long)options.value("batch", 0),
                (long long)options.value("seq_len", 0),
                (long long)options.value("tgt_len", 0),
                options.value("pipeline", "?").c_str());
  uint64_t bytes = 0;
  size_t transposed = 0, packed = 0;
  for (const auto &w : manifest["weights"]) {
    bytes += w.value("size_bytes", uint64_t(0));
    std::string transform = w.value("transform", "none");
    transposed += transform == "transpose";
    packed += transform.compare(0, 4, "pack") == 0;
  }
  std::printf("weights: %zu tensors, %.1f MiB in %s, %zu stored transposed "
              "([in, out]), %zu packed in panels ([out/p, in, p])\n",
              manifest["weights"].size(), bytes / 1048576.0,
              manifest.value("weights_file", "?").c_str(), transposed, packed);
  const nlohmann::json &plan = manifest["memory_plan"];
  if (plan.is_object())
    std::printf("memory plan: arena %.2f MiB for %llu buffers (naive sum "
                "%.2f MiB, lower bound %.2f MiB)\n",
                plan.value("arena_bytes", uint64_t(0)) / 1048576.0,
                (unsigned long long)plan.value("buffers", uint64_t(0)),
                plan.value("naive_bytes", uint64_t(0)) / 1048576.0,
                plan.value("lower_bound_bytes", uint64_t(0)) / 1048576.0);
  // Buckets (format 6): the shapes an input may be padded to.
  if (size_t buckets = xfc_model_num_buckets(m.model); buckets > 0) {
    std::printf("buckets: %zu (a run takes the first that holds its input, "
                "padded; one arena of the largest)\n",
                buckets);
    for (const auto &b : manifest["buckets"])
      std::printf("  batch %-4lld seq_len %-6lld tgt_len %-6lld arena %.2f "
                  "MiB  %s\n",
                  (long long)b.value("batch", 0),
                  (long long)b.value("seq_len", 0),
                  (long long)b.value("tgt_len", 0),
                  b.value("arena_bytes", uint64_t(0)) / 1048576.0,
                  b.value("entry_symbol", "?").c_str());
  }
  // The kernels through the C API (validated at open), in run order.
  size_t kernels = xfc_model_num_kernels(m.model);
  std::printf("kernels: %zu (functions of the library, `xfc run --profile` "
              "times them)\n",
              kernels);
  for (size_t k = 0; k < kernels; ++k) {
    xfc_kernel_info info;
    if (check(xfc_model_kernel_info(m.model, k, &info), "kernel info"))
      std::printf("  %4zu  %-24s %s -> %s\n", k, info.kind, info.name,
                  info.symbol);
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// verify
//===----------------------------------------------------------------------===//

/// Checks everything that can be checked without running the model: what
/// opening checks (manifest, sizes and checksums of the library and of the
/// weights' header, the weights' layout, the library's signature), then
/// every byte of the weights (xfc_model_verify). The CPU check is reported
/// apart: an artifact for another CPU is intact, just not runnable here.
int runVerify(const std::vector<std::string> &args) {
  if (args.size() != 1)
    return usageError("verify expects one artifact folder");
  const std::string &folder = args[0];
  // A GPU model is checked without its GPU (skip_device): its device code
  // against the manifest, but no driver; whether a GPU here runs it is
  // reported apart, as the CPU check.
  xfc_model_options options;
  xfc_model_options_initialize(&options);
  options.skip_cpu_check = 1;
  options.skip_device = 1;
  OpenModel m;
  if (!check(xfc_model_open(folder.c_str(), &options, &m.model), "verify") ||
      !check(xfc_model_verify(m.model), "verify"))
    return 1;
  auto problemOpening = [&](bool skipCpuCheck, bool skipDevice) {
    xfc_model_options o;
    xfc_model_options_initialize(&o);
    o.skip_cpu_check = skipCpuCheck ? 1 : 0;
    o.skip_device = skipDevice ? 1 : 0;
    OpenModel opened;
    xfc_status status = xfc_model_open(folder.c_str(), &o, &opened.model);
    std::string problem = status ? xfc_status_get_message(status) : "";
    xfc_status_free(status);
    return problem;
  };
  std::string cpuProblem = problemOpening(false, true);
  // The manifest is valid (opening checked it); read it for the values.
  std::ifstream in(folder + "/manifest.json");
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
  if (manifest.is_discarded()) {
    std::fprintf(stderr, "xfc: verify: cannot read %s/manifest.json again\n",
                 folder.c_str());
    return 1;
  }
  auto text = [&](const char *key) { return manifest.value(key, "?"); };
  auto number = [&](const char *key) {
    return (unsigned long long)manifest.value(key, uint64_t(0));
  };
  std::printf("verified %s (model %s, format_version %llu)\n", folder.c_str(),
              xfc_model_name(m.model), number("format_version"));
  std::printf("  manifest.json: well-formed; %zu inputs, %zu outputs, %zu "
              "weights, %zu kernels\n",
              xfc_model_num_inputs(m.model), xfc_model_num_outputs(m.model),
              manifest["weights"].size(), xfc_model_num_kernels(m.model));
  std::printf("  %s: %llu bytes, fnv1a64 %s: match; entry point %s and "
              "its signature match the manifest\n",
              text("library").c_str(), number("library_size_bytes"),
              text("library_fnv1a64").c_str(), text("entry_symbol").c_str());
  std::printf("  %s: %llu bytes, header fnv1a64 %s: match; every tensor's "
              "dtype, shape, offset and alignment match the header\n",
              text("weights_file").c_str(), number("weights_size_bytes"),
              text("weights_header_fnv1a64").c_str());
  std::printf("  %s: fnv1a64 of each of the %zu tensors: match; of the whole "
              "file %s: match\n",
              text("weights_file").c_str(), manifest["weights"].size(),
              text("weights_fnv1a64").c_str());
  if (cpuProblem.empty())
    std::printf("  cpu: this CPU has every feature the code was compiled "
                "for\n");
  else
    std::printf("  cpu: %s\n", cpuProblem.c_str());
  if (manifest.contains("gpu") && manifest["gpu"].is_object()) {
    const nlohmann::json &gpu = manifest["gpu"];
    uint64_t cubin = gpu.value("cubin_bytes", uint64_t(0));
    std::printf("  device code: PTX ISA %s for %s, %llu bytes, with an "
                "entry point for each of the %zu kernels: match; %s\n",
                gpu.value("ptx_version", "?").c_str(),
                gpu.value("chip", "?").c_str(),
                (unsigned long long)gpu.value("ptx_bytes", uint64_t(0)),
                gpu.value("kernels", nlohmann::json::array()).size(),
                cubin ? ("cubin " + std::to_string(cubin) +
                         " bytes, a CUDA ELF file for the chip: match")
                            .c_str()
                      : "no cubin (the driver compiles the PTX)");
    std::string gpuProblem = problemOpening(true, false);
    if (gpuProblem.empty())
      std::printf("  gpu: the model opens on GPU 0\n");
    else
      std::printf("  gpu: %s\n", gpuProblem.c_str());
  }
  std::printf("OK\n");
  return 0;
}

/// "NAME=FILE" -> (NAME, FILE); "FILE" -> ("", FILE).
std::pair<std::string, std::string> splitNamed(const std::string &arg) {
  size_t eq = arg.find('=');
  if (eq == std::string::npos)
    return {"", arg};
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

int runRun(const std::vector<std::string> &args) {
  std::string artifact;
  std::vector<std::pair<std::string, std::string>> inputFiles, outputFiles;
  bool randomInput = false, force = false, profile = false, gpuGraph = true;
  int64_t seed = 0, repeat = 1, warmup = 0, threads = 0;
  // The run's shape (0: not given), for artifacts with buckets.
  xfc_run_shape runShape{0, 0, 0};
  bool shapeGiven = false;
  xfc::TextRunOptions text;
  bool timingOptions = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    auto next = [&](std::string &out) {
      if (i + 1 >= args.size())
        return false;
      out = args[++i];
      return true;
    };
    std::string v;
    if (a == "--input") {
      if (!next(v))
        return usageError("--input expects a file");
      inputFiles.push_back(splitNamed(v));
    } else if (a == "--output") {
      if (!next(v))
        return usageError("--output expects a file");
      outputFiles.push_back(splitNamed(v));
    } else if (a == "--text" || a == "--text-file") {
      if (!next(v))
        return usageError(a + " expects " +
                          (a == "--text" ? "a sentence" : "a file"));
      (a == "--text" ? text.texts : text.textFiles).push_back(v);
    } else if (a == "--random-input") {
      randomInput = true;
    } else if (a == "--force") {
      force = true;
    } else if (a == "--profile") {
      profile = true;
    } else if (a.rfind("--gpu-graph=", 0) == 0) {
      std::string value = a.substr(std::strlen("--gpu-graph="));
      if (value != "on" && value != "off")
        return usageError("--gpu-graph expects on or off, found '" + value +
                          "'");
      gpuGraph = value == "on";
    } else if (a == "--threads") {
      std::string text = i + 1 < args.size() ? args[++i] : "";
      if (!parseInt(text, threads) || threads < 0 || threads > INT32_MAX) {
        std::fprintf(stderr,
                     "xfc: error: --threads expects a non-negative integer, "
                     "found '%s'\n",
                     text.c_str());
        return 2;
      }
    } else if (a == "--batch" || a == "--seq-len" || a == "--tgt-len") {
      int64_t n;
      if (!next(v) || !parseInt(v, n) || n < 1)
        return usageError(a + " expects an integer >= 1, found '" + v + "'");
      (a == "--batch"     ? runShape.batch
       : a == "--seq-len" ? runShape.seq_len
                          : runShape.tgt_len) = n;
      shapeGiven = true;
    } else if (a == "--seed" || a == "--repeat" || a == "--warmup") {
      int64_t n;
      int64_t least = a == "--repeat" ? 1 : 0;
      if (!next(v) || !parseInt(v, n) || n < least)
        return usageError(a + " expects an integer >= " +
                          std::to_string(least) + ", found '" + v + "'");
      (a == "--seed" ? seed : a == "--repeat" ? repeat : warmup) = n;
      timingOptions = timingOptions || a != "--seed";
    } else if (!a.empty() && a[0] == '-') {
      return usageError("unknown option '" + a + "'");
    } else if (artifact.empty()) {
      artifact = a;
    } else {
      return usageError("unexpected argument '" + a + "'");
    }
  }
  if (artifact.empty())
    return usageError("run: no artifact folder given");
  if (!text.texts.empty() || !text.textFiles.empty()) {
    if (!inputFiles.empty() || randomInput || profile || timingOptions)
      return usageError("--text and --text-file give every input; they do "
                        "not combine with --input, --random-input, --repeat, "
                        "--warmup or --profile");
    text.artifact = artifact;
    text.outputs = outputFiles;
    text.threads = threads;
    text.force = force;
    return xfc::runTextInputs(text);
  }
  OpenModel m;
  if (!check(xfc_model_open(artifact.c_str(), nullptr, &m.model), "open"))
    return 1;
  size_t numInputs = xfc_model_num_inputs(m.model);
  size_t numOutputs = xfc_model_num_outputs(m.model);
  std::vector<xfc_tensor_info> inInfo(numInputs), outInfo(numOutputs);
  for (size_t i = 0; i < numInputs; ++i)
    if (!check(xfc_model_input_info(m.model, i, &inInfo[i]), "input info"))
      return 1;
  for (size_t i = 0; i < numOutputs; ++i)
    if (!check(xfc_model_output_info(m.model, i, &outInfo[i]), "output info"))
      return 1;

  // Inputs: by name, else in order; the rest random if asked.
  // Outputs are resolved and checked before running, so a long run never
  // ends in an unknown name, an unwritable folder or a clobbered file.
  std::vector<size_t> outputIndex;
  for (const auto &[name, file] : outputFiles) {
    size_t index = 0;
    if (!name.empty()) {
      index = numOutputs;
      for (size_t i = 0; i < numOutputs; ++i)
        if (name == outInfo[i].name)
          index = i;
      if (index == numOutputs) {
        std::fprintf(stderr, "xfc: the model has no output named '%s'\n",
                     name.c_str());
        return 1;
      }
    }
    outputIndex.push_back(index);
    struct stat info;
    if (!force && lstat(file.c_str(), &info) == 0) {
      std::fprintf(stderr,
                   "xfc: %s already exists; pass --force to replace it\n",
                   file.c_str());
      return 1;
    }
    std::string folder = file.find('/') == std::string::npos
                             ? "."
                             : file.substr(0, file.rfind('/') + 1);
    if (access(folder.c_str(), W_OK) != 0) {
      std::fprintf(stderr,
                   "xfc: cannot write %s: folder %s is not writable "
                   "or does not exist\n",
                   file.c_str(), folder.c_str());
      return 1;
    }
  }

  std::vector<xfc::NpyArray> inputs(numInputs);
  std::vector<bool> given(numInputs, false);
  std::vector<std::string> inputFile(numInputs);
  size_t nextPositional = 0;
  for (const auto &[name, file] : inputFiles) {
    size_t index = numInputs;
    if (name.empty()) {
      index = nextPositional++;
    } else {
      for (size_t i = 0; i < numInputs; ++i)
        if (name == inInfo[i].name)
          index = i;
      if (index == numInputs) {
        std::fprintf(stderr, "xfc: the model has no input named '%s'\n",
                     name.c_str());
        return 1;
      }
    }
    if (index >= numInputs) {
      std::fprintf(stderr, "xfc: more --input files than the %zu inputs\n",
                   numInputs);
      return 1;
    }
    std::string error;
    if (!xfc::readNpy(file, inputs[index], error)) {
      std::fprintf(stderr, "xfc: %s\n", error.c_str());
      return 1;
    }
    given[index] = true;
    inputFile[index] = file;
  }
  // A bucketed artifact runs the shape of the inputs given (or of
  // --batch/--seq-len/--tgt-len): the infos are rewritten to it, so the
  // checks, the random inputs and the outputs below follow it.
  size_t numBuckets = xfc_model_num_buckets(m.model);
  if (numBuckets > 0) {
    auto dimsOf = [&](bool input, size_t i, xfc_dim *dims) {
      return check(input ? xfc_model_input_dims(m.model, i, dims)
                         : xfc_model_output_dims(m.model, i, dims),
                   "dims");
    };
    auto field = [&](xfc_dim dim) -> int64_t * {
      return dim == XFC_DIM_BATCH     ? &runShape.batch
             : dim == XFC_DIM_SEQ_LEN ? &runShape.seq_len
             : dim == XFC_DIM_TGT_LEN ? &runShape.tgt_len
                                      : nullptr;
    };
    xfc_dim dims[XFC_MAX_RANK];
    for (size_t i = 0; i < numInputs; ++i) {
      if (!given[i])
        continue;
      if (!dimsOf(true, i, dims))
        return 1;
      for (size_t d = 0; d < inputs[i].shape.size() &&
                         d < static_cast<size_t>(inInfo[i].rank);
           ++d)
        if (int64_t *size = field(dims[d]); size && *size == 0)
          *size = inputs[i].shape[d];
    }
    xfc_run_shape largest;
    if (!check(xfc_model_bucket(m.model, numBuckets - 1, &largest), "bucket"))
      return 1;
    // Sizes no input gave: the largest bucket's; the target length is
    // the sequence length's, as when compiling.
    if (runShape.batch == 0)
      runShape.batch = largest.batch;
    if (runShape.seq_len == 0)
      runShape.seq_len = largest.seq_len;
    if (runShape.tgt_len == 0)
      runShape.tgt_len = runShape.seq_len;
    size_t bucket = 0;
    if (!check(xfc_model_select_bucket(m.model, &runShape, &bucket), "run"))
      return 1;
    xfc_run_shape chosen;
    if (!check(xfc_model_bucket(m.model, bucket, &chosen), "bucket"))
      return 1;
    std::printf("bucket %zu of %zu (batch %lld, seq_len %lld, tgt_len %lld) "
                "for batch %lld, seq_len %lld, tgt_len %lld\n",
                bucket, numBuckets, (long long)chosen.batch,
                (long long)chosen.seq_len, (long long)chosen.tgt_len,
                (long long)runShape.batch, (long long)runShape.seq_len,
                (long long)runShape.tgt_len);
    for (bool input : {true, false}) {
      std::vector<xfc_tensor_info> &infos = input ? inInfo : outInfo;
      for (size_t i = 0; i < infos.size(); ++i) {
        if (!dimsOf(input, i, dims))
          return 1;
        for (int32_t d = 0; d < infos[i].rank; ++d)
          if (int64_t *size = field(dims[d]))
            infos[i].dims[d] = *size;
      }
    }
    // A lengths input counts positions of the run, not of the bucket.
    for (xfc_tensor_info &info : inInfo)
      if (info.has_range &&
          std::string(info.name).find("lengths") != std::string::npos)
        info.max_value = std::min<int64_t>(info.max_value, runShape.seq_len);
    shapeGiven = true;
  } else if (shapeGiven && numInputs > 0 && inInfo[0].rank >= 2) {
    // One shape: the sizes not given are the compiled ones, and the run
    // then fails unless they all are.
    if (runShape.batch == 0)
      runShape.batch = inInfo[0].dims[0];
    if (runShape.seq_len == 0)
      runShape.seq_len = inInfo[0].dims[1];
  }
  for (size_t index = 0; index < numInputs; ++index) {
    if (!given[index])
      continue;
    const std::string &file = inputFile[index];
    const xfc_tensor_info &info = inInfo[index];
    std::vector<int64_t> expected(info.dims, info.dims + info.rank);
    if (inputs[index].shape != expected ||
        inputs[index].dtype != dtypeName(info.dtype)) {
      std::string found = "[";
      for (size_t d = 0; d < inputs[index].shape.size(); ++d)
        found += (d ? ", " : "") + std::to_string(inputs[index].shape[d]);
      found += "]";
      std::fprintf(stderr, "xfc: %s: input '%s' expects %s %s, found %s %s\n",
                   file.c_str(), info.name, dtypeName(info.dtype),
                   shapeString(info).c_str(), inputs[index].dtype.c_str(),
                   found.c_str());
      return 1;
    }
  }
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < numInputs; ++i) {
    if (given[i])
      continue;
    if (!randomInput) {
      std::fprintf(
          stderr, "xfc: input '%s' not given (use --input or --random-input)\n",
          inInfo[i].name);
      return 1;
    }
    const xfc_tensor_info &info = inInfo[i];
    xfc::NpyArray &array = inputs[i];
    array.dtype = dtypeName(info.dtype);
    array.shape.assign(info.dims, info.dims + info.rank);
    int64_t n = numElements(info);
    array.bytes.resize(n * 4);
    std::string name = info.name;
    if (info.dtype == XFC_DTYPE_F32) {
      std::normal_distribution<float> dist(0.0f, 1.0f);
      for (int64_t e = 0; e < n; ++e) {
        float f = dist(rng);
        std::memcpy(&array.bytes[e * 4], &f, 4);
      }
      continue;
    }
    // Integer inputs: uniform in the manifest's range, except lengths,
    // which are full (no padding) so every position is meaningful.
    int64_t lo = info.has_range ? info.min_value : 0;
    int64_t hi = info.has_range ? info.max_value : 0;
    bool isLengths = name.find("lengths") != std::string::npos;
    for (int64_t e = 0; e < n; ++e) {
      // Unsigned arithmetic: the span of an arbitrary range can exceed
      // int64 (the runtime bounds ranges to int32, this never divides by 0).
      uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
      uint64_t offset = span == UINT64_MAX ? rng() : rng() % (span + 1);
      int64_t v =
          isLengths ? hi
                    : static_cast<int64_t>(static_cast<uint64_t>(lo) + offset);
      int32_t v32 = static_cast<int32_t>(v);
      std::memcpy(&array.bytes[e * 4], &v32, 4);
    }
  }

  std::vector<std::vector<uint8_t>> outputs(numOutputs);
  std::vector<xfc_buffer> inBuffers(numInputs), outBuffers(numOutputs);
  for (size_t i = 0; i < numInputs; ++i)
    inBuffers[i] = {inputs[i].bytes.data(), inputs[i].bytes.size()};
  for (size_t i = 0; i < numOutputs; ++i) {
    outputs[i].resize(numElements(outInfo[i]) *
                      xfc_dtype_size(outInfo[i].dtype));
    outBuffers[i] = {outputs[i].data(), outputs[i].size()};
  }

  // One context for every run: the arena is allocated once, so the timed
  // runs measure the model, not the allocator.
  xfc_context_options contextOptions;
  xfc_context_options_initialize(&contextOptions);
  contextOptions.num_threads = static_cast<int32_t>(threads);
  contextOptions.enable_profiling = profile ? 1 : 0;
  contextOptions.gpu_graph = gpuGraph ? 1 : 0;
  xfc_context *context = nullptr;
  if (!check(xfc_context_create(m.model, &contextOptions, &context),
             "create context"))
    return 1;
  std::unique_ptr<xfc_context, void (*)(xfc_context *)> contextOwner(
      context, xfc_context_destroy);
  // Shaped runs pad to the smallest bucket that holds the inputs.
  auto runOnce = [&] {
    return shapeGiven ? xfc_context_run_shaped(context, &runShape,
                                               inBuffers.data(), numInputs,
                                               outBuffers.data(), numOutputs)
                      : xfc_context_run(context, inBuffers.data(), numInputs,
                                        outBuffers.data(), numOutputs);
  };
  for (int64_t w = 0; w < warmup; ++w)
    if (!check(runOnce(), "run"))
      return 1;
  // The profile covers the timed runs only.
  if (profile && !check(xfc_context_reset_profile(context), "reset profile"))
    return 1;
  std::vector<double> times;
  for (int64_t r = 0; r < repeat; ++r) {
    auto start = std::chrono::steady_clock::now();
    if (!check(runOnce(), "run"))
      return 1;
    times.push_back(std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count());
  }
  std::sort(times.begin(), times.end());

  for (size_t i = 0; i < numOutputs; ++i) {
    const xfc_tensor_info &info = outInfo[i];
    int64_t n = numElements(info);
    if (info.dtype == XFC_DTYPE_F32) {
      const float *data = reinterpret_cast<const float *>(outputs[i].data());
      double sum = 0, sumSq = 0, lo = INFINITY, hi = -INFINITY;
      int64_t nonFinite = 0;
      for (int64_t e = 0; e < n; ++e) {
        double v = data[e];
        if (!std::isfinite(v)) {
          ++nonFinite;
          continue;
        }
        sum += v;
        sumSq += v * v;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      double mean = sum / n;
      std::printf("output %s f32 %s: mean %.6f std %.6f min %.6f max %.6f "
                  "non-finite %lld\n  first values:",
                  info.name, shapeString(info).c_str(), mean,
                  std::sqrt(std::max(0.0, sumSq / n - mean * mean)), lo, hi,
                  (long long)nonFinite);
      for (int64_t e = 0; e < std::min<int64_t>(n, 6); ++e)
        std::printf(" %.6f", data[e]);
      std::printf("\n");
    }
  }
  std::printf("time: %lld run(s), median %.3f ms, min %.3f ms\n",
              (long long)repeat, times[times.size() / 2], times.front());
  if (uint64_t launches = xfc_context_gpu_graph_launches(context))
    std::printf("gpu: each run replays %llu kernel launches as one CUDA "
                "graph\n",
                (unsigned long long)launches);
  if (profile && !printProfile(m.model, context))
    return 1;

  for (size_t o = 0; o < outputFiles.size(); ++o) {
    const std::string &file = outputFiles[o].second;
    size_t index = outputIndex[o];
    xfc::NpyArray array;
    array.dtype = dtypeName(outInfo[index].dtype);
    array.shape.assign(outInfo[index].dims,
                       outInfo[index].dims + outInfo[index].rank);
    array.bytes = outputs[index];
    std::string error;
    if (!xfc::writeNpy(file, array, error)) {
      std::fprintf(stderr, "xfc: %s\n", error.c_str());
      return 1;
    }
    std::printf("wrote %s\n", file.c_str());
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// import-hf
//===----------------------------------------------------------------------===//

int runImportHf(const std::vector<std::string> &args) {
  std::string dir, specPath, name;
  bool force = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    if (a == "-o" || a == "--output") {
      if (i + 1 >= args.size())
        return usageError(a + " expects a spec file path");
      specPath = args[++i];
    } else if (a == "--name") {
      if (i + 1 >= args.size() || args[i + 1].empty())
        return usageError("--name expects a model name");
      name = args[++i];
    } else if (a == "--force") {
      force = true;
    } else if (!a.empty() && a[0] == '-') {
      return usageError("unknown option '" + a + "'");
    } else if (dir.empty()) {
      dir = a;
    } else {
      return usageError("unexpected argument '" + a + "'");
    }
  }
  if (dir.empty())
    return usageError("import-hf: no checkpoint folder given");
  if (specPath.empty())
    return usageError("import-hf: no output spec given (-o SPEC.json)");

  // The spec names its weights relative to itself.
  const std::string weightsPath = xfc::hfWeightsPathFor(specPath);
  const size_t slash = weightsPath.find_last_of('/');
  const std::string weightsFile =
      slash == std::string::npos ? weightsPath : weightsPath.substr(slash + 1);
  xfc::HfImport imported;
  std::string error;
  if (!xfc::importHfCheckpoint(dir, name, weightsFile, imported, error) ||
      !xfc::writeHfImport(imported, specPath, force, error)) {
    std::fprintf(stderr, "xfc: error: %s\n", error.c_str());
    return 1;
  }
  for (const std::string &note : imported.notes)
    std::printf("note: %s\n", note.c_str());
  std::printf("imported %s -> %s, %s (%s, %zu tensors)\n", dir.c_str(),
              specPath.c_str(), weightsPath.c_str(),
              xfc::toString(imported.spec.kind),
              imported.weights.tensors().size());
  return 0;
}


//===----------------------------------------------------------------------===//
// devices
//===----------------------------------------------------------------------===//

/// The GPUs as the runtime sees them (runtime.h, "GPUs"). No driver, or one
/// that cannot start, is an answer ("none", and why), not a failure; a
/// driver call failing on a GPU it reported is.
int runDevices(const std::vector<std::string> &args) {
  if (!args.empty())
    return usageError("devices takes no arguments");
  int32_t count = 0, driverVersion = 0;
  xfc_status status = xfc_gpu_count(&count, &driverVersion);
  if (status) {
    std::printf("gpus: none (%s)\n", xfc_status_get_message(status));
    xfc_status_free(status);
    return 0;
  }
  std::printf("gpus: %d (CUDA driver %d.%d)\n", count, driverVersion / 1000,
              driverVersion % 1000 / 10);
  for (int32_t i = 0; i < count; ++i) {
    xfc_gpu_info info;
    if (!check(xfc_gpu_get_info(i, &info), "devices"))
      return 1;
    std::printf("  %d  %s, sm_%d%d, %d multiprocessors, %.1f GiB\n", i,
                info.name, info.compute_capability_major,
                info.compute_capability_minor, info.multiprocessor_count,
                info.total_memory_bytes / 1073741824.0);
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// generate
//===----------------------------------------------------------------------===//

/// Parses comma-separated token ids of option `option` into `out`.
bool parseIds(const char *option, const std::string &text,
              std::vector<int32_t> &out) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    int64_t id = 0;
    if (!parseInt(item, id) || id < 0 || id > INT32_MAX) {
      std::fprintf(stderr,
                   "xfc: error: %s expects comma-separated token ids "
                   "(integers >= 0), found '%s'\n",
                   option, item.c_str());
      return false;
    }
    out.push_back(static_cast<int32_t>(id));
  }
  return true;
}

/// Decoding through the generation steps (docs/generation.md): greedy for
/// a decoder, beam search with --beams (always, for an encoder-decoder,
/// where --beams 1 is greedy).
int runGenerate(const std::vector<std::string> &args) {
  std::string artifact, idsText;
  std::vector<std::string> sourceTexts;
  int64_t maxNew = 0, threads = 0, beams = 0, startId = 0, eosId = -1;
  double lengthPenalty = 1.0;
  bool timing = false, earlyStopping = false, printScores = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    if (a == "--prompt-ids" || a == "--src-ids") {
      if (i + 1 >= args.size())
        return usageError(a + " expects comma-separated token ids");
      (a == "--prompt-ids" ? idsText : sourceTexts.emplace_back()) = args[++i];
    } else if (a == "--max-new-tokens" || a == "--threads" || a == "--beams" ||
               a == "--start-id" || a == "--eos-id") {
      int64_t n = 0;
      int64_t least = a == "--max-new-tokens" || a == "--beams" ? 1 : 0;
      if (i + 1 >= args.size() || !parseInt(args[i + 1], n) || n < least ||
          n > INT32_MAX) {
        std::fprintf(stderr,
                     "xfc: error: %s expects an integer >= %lld, "
                     "found '%s'\n",
                     a.c_str(), static_cast<long long>(least),
                     i + 1 < args.size() ? args[i + 1].c_str() : "");
        return 2;
      }
      ++i;
      (a == "--threads"    ? threads
       : a == "--beams"    ? beams
       : a == "--start-id" ? startId
       : a == "--eos-id"   ? eosId
                           : maxNew) = n;
    } else if (a == "--length-penalty") {
      char *end = nullptr;
      const char *text = i + 1 < args.size() ? args[i + 1].c_str() : "";
      lengthPenalty = std::strtod(text, &end);
      if (!*text || *end || !std::isfinite(lengthPenalty)) {
        std::fprintf(stderr,
                     "xfc: error: --length-penalty expects a number, found "
                     "'%s'\n",
                     text);
        return 2;
      }
      ++i;
    } else if (a == "--early-stopping") {
      earlyStopping = true;
    } else if (a == "--scores") {
      printScores = true;
    } else if (a == "--timing") {
      timing = true;
    } else if (!a.empty() && a[0] == '-') {
      return usageError("unknown option '" + a + "'");
    } else if (artifact.empty()) {
      artifact = a;
    } else {
      return usageError("unexpected argument '" + a + "'");
    }
  }
  if (artifact.empty())
    return usageError("generate: no artifact folder given");
  if (maxNew < 1)
    return usageError("generate: no --max-new-tokens given");
  auto fail = [](xfc_status status) {
    std::fprintf(stderr, "xfc: error: %s\n", xfc_status_get_message(status));
    xfc_status_free(status);
    return 1;
  };
  xfc_context_options options;
  xfc_context_options_initialize(&options);
  options.num_threads = static_cast<int32_t>(threads);
  xfc_generator *raw = nullptr;
  if (xfc_status status = xfc_generator_open(artifact.c_str(), &options, &raw))
    return fail(status);
  std::unique_ptr<xfc_generator, void (*)(xfc_generator *)> generator(
      raw, xfc_generator_destroy);
  xfc_generator_info info;
  xfc_status_free(xfc_generator_get_info(generator.get(), &info));
  int64_t sourceLength = 0;
  xfc_status_free(xfc_generator_source_length(generator.get(), &sourceLength));
  const bool encoderDecoder = sourceLength > 0;
  if (encoderDecoder ? !idsText.empty() : !sourceTexts.empty())
    return usageError(encoderDecoder
                          ? "generate: --prompt-ids is for a decoder; an "
                            "encoder-decoder takes --src-ids (its target "
                            "starts with --start-id)"
                          : "generate: --src-ids is for an encoder-decoder; "
                            "a decoder takes --prompt-ids");
  if (encoderDecoder ? sourceTexts.empty() : idsText.empty())
    return usageError(encoderDecoder
                          ? "generate: no --src-ids given (the artifact is "
                            "an encoder-decoder)"
                          : "generate: no --prompt-ids given");

  using Clock = std::chrono::steady_clock;
  if (encoderDecoder || beams > 0) {
    xfc_beam_options beam;
    xfc_beam_options_initialize(&beam);
    beam.num_beams = beams > 0 ? beams : 1;
    beam.max_new_tokens = maxNew;
    beam.start_id = static_cast<int32_t>(startId);
    beam.eos_id = static_cast<int32_t>(eosId);
    beam.length_penalty = lengthPenalty;
    beam.early_stopping = earlyStopping ? 1 : 0;
    if (info.batch % beam.num_beams != 0) {
      std::fprintf(stderr,
                   "xfc: error: --beams %lld does not divide the artifact's "
                   "batch %lld (the batch holds --beams rows per source; "
                   "compile with --batch a multiple of it)\n",
                   static_cast<long long>(beam.num_beams),
                   static_cast<long long>(info.batch));
      return 1;
    }
    const size_t sources = size_t(info.batch / beam.num_beams);
    // One input per source: --src-ids once per source, or once for all
    // (the prompt, for a decoder).
    std::vector<std::vector<int32_t>> inputs;
    for (const std::string &text :
         encoderDecoder ? sourceTexts : std::vector<std::string>{idsText}) {
      if (!parseIds(encoderDecoder ? "--src-ids" : "--prompt-ids", text,
                    inputs.emplace_back()))
        return 2;
    }
    if (inputs.size() != 1 && inputs.size() != sources) {
      std::fprintf(stderr,
                   "xfc: error: %zu --src-ids given; expected 1 or one per "
                   "source (%zu: batch %lld / %lld beams)\n",
                   inputs.size(), sources, static_cast<long long>(info.batch),
                   static_cast<long long>(beam.num_beams));
      return 1;
    }
    while (inputs.size() < sources)
      inputs.push_back(inputs.front());
    // Sources of different lengths are padded to the longest.
    size_t longest = 0;
    for (const std::vector<int32_t> &input : inputs)
      longest = std::max(longest, input.size());
    std::vector<int32_t> ids(sources * longest, 0), lengths(sources);
    for (size_t n = 0; n < sources; ++n) {
      std::copy(inputs[n].begin(), inputs[n].end(), ids.begin() + n * longest);
      lengths[n] = static_cast<int32_t>(inputs[n].size());
    }
    std::vector<int32_t> out(sources * maxNew);
    std::vector<int64_t> outLengths(sources);
    std::vector<float> scores(sources);
    Clock::time_point start = Clock::now();
    if (xfc_status status = xfc_generator_beam_search(
            generator.get(), ids.data(), longest,
            encoderDecoder ? lengths.data() : nullptr, &beam, out.data(),
            out.size(), outLengths.data(), scores.data()))
      return fail(status);
    double ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    for (size_t n = 0; n < sources; ++n) {
      for (int64_t i = 0; i < outLengths[n]; ++i)
        std::printf("%s%d", i ? " " : "", out[n * maxNew + i]);
      if (printScores)
        std::printf("\tscore %.6f", scores[n]);
      std::printf("\n");
    }
    if (timing)
      std::fprintf(stderr,
                   "beam search: %zu sources x %lld beams, %lld tokens at "
                   "most, in %.3f ms\n",
                   sources, static_cast<long long>(beam.num_beams),
                   static_cast<long long>(maxNew), ms);
    return 0;
  }

  std::vector<int32_t> prompt;
  if (!parseIds("--prompt-ids", idsText, prompt))
    return 2;
  // The last new token is never fed back, so the cache needs
  // prompt + max_new - 1 positions.
  int64_t needed = static_cast<int64_t>(prompt.size()) + maxNew - 1;
  if (needed > info.capacity) {
    std::fprintf(stderr,
                 "xfc: error: a prompt of %zu tokens and %lld new ones need "
                 "%lld cache positions; the artifact's cache has %lld "
                 "(compile with --generate=CAPACITY)\n",
                 prompt.size(), static_cast<long long>(maxNew),
                 static_cast<long long>(needed),
                 static_cast<long long>(info.capacity));
    return 1;
  }
  size_t batch = static_cast<size_t>(info.batch);
  std::vector<int32_t> ids;
  for (size_t b = 0; b < batch; ++b)
    ids.insert(ids.end(), prompt.begin(), prompt.end());
  std::vector<float> logits(batch * info.vocab_size);
  auto argmax = [&](size_t b) {
    const float *row = logits.data() + b * info.vocab_size;
    return static_cast<int32_t>(std::max_element(row, row + info.vocab_size) -
                                row);
  };
  Clock::time_point start = Clock::now();
  if (xfc_status status =
          xfc_generator_prefill(generator.get(), ids.data(), prompt.size(),
                                logits.data(), logits.size()))
    return fail(status);
  double prefillMs =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::vector<std::vector<int32_t>> generated(batch);
  std::vector<int32_t> next(batch);
  Clock::time_point decodeStart = Clock::now();
  for (int64_t step = 0; step < maxNew; ++step) {
    for (size_t b = 0; b < batch; ++b)
      generated[b].push_back(next[b] = argmax(b));
    if (step + 1 == maxNew)
      break;
    if (xfc_status status =
            xfc_generator_decode(generator.get(), next.data(), next.size(),
                                 logits.data(), logits.size()))
      return fail(status);
  }
  double decodeMs =
      std::chrono::duration<double, std::milli>(Clock::now() - decodeStart)
          .count();
  for (size_t b = 0; b < batch; ++b) {
    for (size_t i = 0; i < generated[b].size(); ++i)
      std::printf("%s%d", i ? " " : "", generated[b][i]);
    std::printf("\n");
  }
  if (timing) {
    int64_t steps = maxNew - 1;
    std::fprintf(stderr,
                 "prefill: %zu tokens in %.3f ms; decode: %lld steps in "
                 "%.3f ms (%.1f tokens/s per item)\n",
                 prompt.size(), prefillMs, static_cast<long long>(steps),
                 decodeMs, steps > 0 ? steps * 1000.0 / decodeMs : 0.0);
  }
  return 0;
}

} // namespace

int dispatch(const std::string &command, const std::vector<std::string> &args) {
  if (command == "compile")
    return runCompile(args);
  if (command == "run")
    return runRun(args);
  if (command == "inspect")
    return runInspect(args);
  if (command == "verify")
    return runVerify(args);
  if (command == "import-hf")
    return runImportHf(args);
  if (command == "devices")
    return runDevices(args);
  if (command == "generate")
    return runGenerate(args);
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return usageError("no command given");
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  // Buffers are sized from the manifest and the spec: a huge (valid or
  // hostile) shape must end in a message, not in std::terminate.
  try {
    int rc = dispatch(command, args);
    if (rc >= 0)
      return rc;
  } catch (const std::bad_alloc &) {
    std::fprintf(stderr, "xfc: error: out of memory (the tensors of this "
                         "model do not fit in this machine's memory)\n");
    return 1;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "xfc: error: %s\n", e.what());
    return 1;
  }
  if (command == "--help" || command == "-h" || command == "help") {
    std::printf("%s", kUsage);
    return 0;
  }
  return usageError("unknown command '" + command + "'");
}
