//===- Pipelines.h - The xfc compilation pipelines --------------*- C++ -*-===//
//
// Part of xfc. The CPU compilation is a sequence of named stages, each a
// pass pipeline registered with xfc-opt under its own name, so any
// compilation can be replayed (and any stage inspected) pass by pass:
//
//   xf-model-stage     xf -> xf: decompose model ops, fuse, choose layouts
//   xf-linalg-stage    xf -> linalg on tensors
//   xf-buffer-stage    tensors -> memrefs, outputs as out-parameters, and
//                      every intermediate placed in one arena
//   xf-llvm-stage      memrefs/loops -> LLVM dialect + entry point
//
// and `xf-cpu-pipeline` runs all four. Later optimizations (fusion, tiling,
// vectorization) plug in as options and stages here.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_COMPILER_PIPELINES_H
#define XFC_COMPILER_PIPELINES_H

#include <cstdint>
#include <string>

namespace mlir {
class OpPassManager;
class DialectRegistry;
} // namespace mlir

namespace xfc {

/// Switches of the CPU pipeline. Every optimization is switchable so a user
/// can see what it does; defaults are what `xfc compile` uses.
struct CpuPipelineOptions {
  /// xf-weight-layout: store linear weights [in, out].
  bool transposeLinearWeights = true;
  /// xf-weight-layout: store linear weights in column panels as wide as
  /// the register tile (3 vectors), read contiguously by the GEMM kernel.
  bool packLinearWeights = true;
  /// xf-cpu-tile-and-vectorize: tile contractions for caches and registers
  /// and vectorize them. Off: plain loops, left to LLVM's loop vectorizer.
  bool tileAndVectorize = true;
  /// Floats per vector register for the register tiles: 4 (SSE), 8 (AVX2),
  /// 16 (AVX-512). compileModule derives it from the target's features.
  int64_t vectorWidth = 8;
  /// Thread tiles become OpenMP parallel loops; the number of threads is a
  /// run option (xfc_context_options). Off: one thread, no OpenMP at all.
  bool threads = true;
  /// Graph-level fusions of the model stage, each its own pass.
  struct FusionOptions {
    bool qkv = true;               ///< xf-fuse-qkv
    bool epilogue = true;          ///< xf-fuse-epilogue
    bool residualLayerNorm = true; ///< xf-fuse-residual-layernorm
    /// xf-fuse-attention: lower xf.attention as the tiled FlashAttention
    /// kernel instead of materializing the scores.
    bool attention = true;
    /// xf-fuse-attention{gather}: compute parts that are sparse inside
    /// every tile (dilated windows, strided summary sets) per residue
    /// class on dense gathered tiles, where that executes fewer pairs.
    bool attentionGather = true;
    /// xf-chunk-feed-forward: rows per feed-forward chunk; 0 = off.
    int64_t ffnChunk = 0;
  } fusion;
  /// Test only (mutation tests): a deliberate attention miscompilation,
  /// "drop-mask", "causal-off-by-one" or "permute-heads"; empty for none.
  std::string testFault;
  /// xf-plan-memory: fill every intermediate buffer with NaN when its
  /// lifetime ends (debug mode; results must not change).
  bool poisonDeadBuffers = false;
  /// MLIR's generate-runtime-verification on the loops of the LLVM stage:
  /// every memref access, subview and reshape checks its bounds and
  /// aborts with the op's location when it would leave its buffer (debug
  /// mode; the generated code gets slower).
  bool runtimeVerification = false;
};

void buildModelStage(mlir::OpPassManager &pm, const CpuPipelineOptions &opts);
void buildLinalgStage(mlir::OpPassManager &pm, const CpuPipelineOptions &opts);
void buildBufferStage(mlir::OpPassManager &pm, const CpuPipelineOptions &opts);
void buildLLVMStage(mlir::OpPassManager &pm, const CpuPipelineOptions &opts);

/// All four stages.
void buildCpuPipeline(mlir::OpPassManager &pm, const CpuPipelineOptions &opts);

/// The textual form of the full pipeline (recorded in the manifest; feed it
/// to `xfc-opt --pass-pipeline=...` to replay a compilation).
std::string describeCpuPipeline(const CpuPipelineOptions &opts);

/// The model and linalg stages alone, as a GPU compile runs them (its
/// later steps are GpuCodegen.h's, recorded by name in the manifest).
std::string describeGpuFrontStages(const CpuPipelineOptions &opts);

/// Sets the boolean fusion switches of `fusion` from `--fusion=` text:
/// "all", "none", or a comma-separated list of fusion names (the listed
/// ones on, the others off). False with `error` naming the valid names if
/// a name is unknown. `ffnChunk` is left alone.
bool parseFusionList(const std::string &text,
                     CpuPipelineOptions::FusionOptions &fusion,
                     std::string &error);

/// Registers the xf passes, the upstream passes the stages use, and the
/// stage pipelines (with their options) for xfc-opt and pipeline parsing.
void registerXFCPassesAndPipelines();

/// Adds every dialect xfc's pipelines produce or consume to `registry`,
/// with the interfaces (bufferization, LLVM translation) they need.
void registerXFCDialects(mlir::DialectRegistry &registry);

} // namespace xfc

#endif // XFC_COMPILER_PIPELINES_H
