//===- Compiler.h - Spec to artifact ----------------------------*- C++ -*-===//
//
// Part of xfc. The compiler driver behind `xfc compile`: parse and validate
// the spec, load the weights, build the xf IR, run the pipeline stages,
// generate native code and write the artifact folder atomically.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_COMPILER_COMPILER_H
#define XFC_COMPILER_COMPILER_H

#include "xf/Analysis/MemoryPlan.h"
#include "xfc/Compiler/Artifact.h"
#include "xfc/Compiler/FusionReport.h"
#include "xfc/Compiler/GpuKernels.h"
#include "xfc/Compiler/Pipelines.h"
#include "xfc/Frontend/ModelSpec.h"
#include "xfc/Frontend/Weights.h"

#include <string>
#include <utility>
#include <vector>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace xfc {

/// What to compile and how.
struct CompileRequest {
  std::string specPath;
  /// seqLen 0 means the default: min(128, max_seq_len) of the spec.
  ShapeOptions shapes;
  std::string outputDir;
  /// Replace an existing output folder (never done silently).
  bool force = false;
  /// "native" or an x86-64 level; see selectTarget.
  std::string cpu = "native";
  CpuPipelineOptions pipeline;
  /// If set, the IR after each stage and the optimized LLVM IR are written
  /// into this folder (created if needed) for inspection.
  std::string dumpIRDir;
  /// If set, fusion-plan.json, memory-plan.json and memory-plan.svg are
  /// written into this folder (created if needed).
  std::string explainDir;
  /// If set, the fusions come from this plan (FusionReport.h) instead of
  /// the switches in `pipeline.fusion`; FFN chunking still comes from
  /// `pipeline.fusion.ffnChunk`.
  std::string fusionPlanPath;
  /// If set, every self-attention of the first stack uses this mask
  /// pattern (docs/attention-patterns.md) instead of the spec's.
  std::string attentionPattern;
  /// If non-empty, one entry point per shape in one artifact (`--buckets`,
  /// Buckets.h); `shapes` is then ignored.
  std::vector<ShapeOptions> buckets;
  /// >= 0: also compile the generation steps of a decoder into
  /// OUT/prefill and OUT/decode, over a key/value cache of this many
  /// positions (0: the spec's max_seq_len); docs/generation.md.
  int64_t generateCapacity = -1;
  /// Non-empty: compile for an NVIDIA GPU of this architecture ("sm_80",
  /// "sm_90", "sm_90a"; `xfc compile --target=cuda --gpu-arch`) instead of
  /// the CPU (docs/gpu.md, "Artifact"). `cpu` still chooses the host code's
  /// target.
  std::string gpuArch;
  /// With gpuArch: the fusion plan's kernels that a tuned device kernel
  /// computes use it (`--gpu-kernels=tuned`, the default); false maps
  /// every kernel generically (`--gpu-kernels=generic`).
  bool gpuTunedKernels = true;
  /// With gpuArch: the element type of the tuned GEMMs' operands
  /// (`--dtype`). F32 runs them with f32 FMAs; F16 and BF16 on tensor
  /// cores with f32 accumulation, their weights stored in that type and
  /// their f32 activations rounded to it as the kernel reads them
  /// (docs/gpu.md, "Precision").
  GpuGemmInput gpuDtype = GpuGemmInput::F32;
  /// With gpuArch: the tuned GEMMs that stay f32 run on tensor cores in
  /// TF32 (`--allow-tf32`: A and B rounded to 10 mantissa bits, f32
  /// accumulation) where K is a multiple of 32, rather than with f32 FMAs.
  bool gpuAllowTf32 = false;
  /// With gpuDtype f16 or bf16: a projection that only the flash attention
  /// kernel reads (Q, K, V, fused or not) writes its output in that type,
  /// since the kernel rounds it so anyway: the same numbers, half the
  /// bytes, and the kernel copies them by cp.async (`--gpu-half-qkv=on`,
  /// the default). False keeps them f32.
  bool gpuHalfQkv = true;
  /// With gpuDtype f16 or bf16: a GEMM whose output only other tuned GEMMs
  /// read, as their A (the FFN's hidden layer), writes it in that type,
  /// since those GEMMs round their A so anyway: the same numbers, half the
  /// bytes, and the readers copy it by cp.async (`--gpu-half-ffn=on`, the
  /// default). False keeps it f32.
  bool gpuHalfFfn = true;
  /// With gpuDtype f16 or bf16: a LayerNorm whose output only tuned GEMMs
  /// read, as their A (a pre-LN stack's norms), writes it in that type,
  /// since those GEMMs round their A so anyway: the same numbers, half the
  /// bytes (`--gpu-half-norm=on`, the default). False keeps it f32.
  bool gpuHalfNorm = true;
  /// The flash attention kernels' query rows a block
  /// (GpuAttentionSpec::queryTile): 64 or 128 (two m16 tiles a warp, half
  /// the shared-memory reads a FLOP), or 0 to let the shape decide
  /// (preferredAttentionQueryTile); `--gpu-attention-rows=auto|64|128`.
  /// A block-sparse layout keeps 64.
  int64_t gpuAttentionQueryTile = 0;
};

/// Where the compile time went, in seconds per step, in order.
struct CompileReport {
  std::vector<std::pair<std::string, double>> steps;
  double totalSeconds = 0;
  uint64_t weightBytes = 0;
  std::string artifactDir;
  /// Where xf-plan-memory put the intermediate buffers.
  MemoryPlan memoryPlan;
  /// The kernels formed and the fusions applied or not.
  FusionReport fusion;
  /// The buckets of a `--buckets` artifact, smallest first (the fusion
  /// and memory reports above are the largest bucket's).
  std::vector<ArtifactBucket> buckets;
  /// --target=cuda: the fusion plan's kernels that tuned device kernels
  /// compute, as (kernel number, what the device kernel does); the others
  /// are mapped generically.
  std::vector<std::pair<std::string, std::string>> gpuKernels;
};

/// Compiles `request.specPath` into `request.outputDir`. On failure returns
/// false with a message in `error` and leaves no output folder behind (an
/// existing one is untouched).
bool compileModel(const CompileRequest &request, CompileReport &report,
                  std::string &error);

/// What the manifest records about a module compiled by compileModule.
struct ModuleInfo {
  std::string modelName;
  ShapeOptions shapes;  ///< Recorded as compile options.
  std::string specJson; ///< The spec as given, if any (provenance).
  /// Value ranges of integer inputs, matched by name (may be empty).
  std::vector<TensorDecl> inputRanges;
  /// The text tokenizer, if any: the manifest's "tokenizer" object (JSON
  /// text, from wordPieceOptionsJson) and the vocabulary file's bytes.
  std::string tokenizerJson, tokenizerVocab;
};

/// The back half of compileModel, for IR that did not come from a spec
/// (tests, other frontends): `module` holds `func.func @xf_model` whose
/// arguments are named by `xf.input` / `xf.weight` attributes and whose
/// results by `xf.output`; `weights` holds every `xf.weight` tensor in its
/// argument's shape. Runs the pipeline on `module` in place and writes the
/// artifact to `request.outputDir` (request.specPath and shapes are
/// ignored). Same guarantees as compileModel.
bool compileModule(mlir::ModuleOp module, const WeightStore &weights,
                   const ModuleInfo &info, const CompileRequest &request,
                   CompileReport &report, std::string &error);

} // namespace xfc

#endif // XFC_COMPILER_COMPILER_H
