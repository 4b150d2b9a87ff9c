//===- Pipelines.cpp - The xfc compilation pipelines ------------*- C++ -*-===//
//
// Part of xfc. Implements the CPU pipeline stages (see Pipelines.h). Each
// stage is written as the textual pipeline it is, so the manifest records
// exactly what ran and `xfc-opt --pass-pipeline=` replays it; the comments
// say why each pass stands where it does.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/Pipelines.h"
#include "xfc/Compiler/GpuCodegen.h"

#include "xf/Codegen/Passes.h"
#include "xf/Conversion/Passes.h"
#include "xf/Dialect/XF/XFDialect.h"
#include "xf/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace xfc {
namespace {

std::string modelStage(const CpuPipelineOptions &opts) {
  // Whole-op rewrites (attention and FFN fusion, sparse attention) must run
  // before decomposition; the weight layout runs after it because it looks
  // at xf.linear users of each weight argument.
  // FFN chunking needs the whole xf.feed_forward, so it precedes the
  // decomposition. The graph fusions work on the decomposed ops: QKV
  // before the weight layout (it concatenates weights in their [out, in]
  // source layout; the layout pass then transposes the fused weight);
  // residual+LayerNorm before the epilogue, so an add followed by a norm
  // goes to the norm, which reads the row once, rather than to the linear
  // producing it, after which the norm would read the sum three times.
  const CpuPipelineOptions::FusionOptions &fusion = opts.fusion;
  std::string text;
  if (fusion.ffnChunk > 0)
    text +=
        "xf-chunk-feed-forward{chunk-size=" + std::to_string(fusion.ffnChunk) +
        "},";
  text += "xf-decompose-model-ops,";
  // The attention kernel is chosen on the xf.attention ops that
  // decomposition produces; it only marks them, the linalg stage lowers.
  if (fusion.attention)
    text += fusion.attentionGather ? "xf-fuse-attention,"
                                   : "xf-fuse-attention{gather=false},";
  if (fusion.qkv)
    text += "xf-fuse-qkv,";
  if (fusion.residualLayerNorm)
    text += "xf-fuse-residual-layernorm,";
  if (fusion.epilogue)
    text += "xf-fuse-epilogue,";
  std::string layout = opts.transposeLinearWeights ? "true" : "false";
  // Panels are as wide as the register tile of xf-cpu-tile-and-vectorize.
  int64_t panel = opts.packLinearWeights && opts.transposeLinearWeights
                      ? 3 * opts.vectorWidth
                      : 0;
  return text + "xf-weight-layout{transpose-linear-weights=" + layout +
         " pack-panel-width=" + std::to_string(panel) +
         "},canonicalize,cse,"
         // Last on xf IR: what is left is the list of kernels.
         "xf-form-kernels";
}

std::string linalgStage(const CpuPipelineOptions &opts) {
  std::string lowering = "convert-xf-to-linalg";
  if (!opts.testFault.empty())
    lowering += "{test-fault=" + opts.testFault + "}";
  lowering += ",canonicalize,cse";
  // Tiling works on tensors, where the tile loops carry their results as
  // values: that is what makes hoisting the register accumulators out of
  // the k loop legal (see TileAndVectorize.cpp).
  if (opts.tileAndVectorize)
    lowering += ",func.func(xf-cpu-tile-and-vectorize{vector-width=" +
                std::to_string(opts.vectorWidth) + " parallel=" +
                (opts.threads ? "true" : "false") +
                "}),canonicalize,cse,func.func(xf-fold-fill-reads),"
                "canonicalize";
  return lowering;
}

std::string bufferStage(const CpuPipelineOptions &opts) {
  // Function boundaries bufferize to identity-layout memrefs so the
  // bare-pointer calling convention applies. The returned buffer becomes an
  // out-parameter written in place (hoist-static-allocs). Then, instead of
  // freeing each intermediate, xf-plan-memory places every one in a single
  // arena passed in by the runtime, so a run allocates nothing.
  std::string poison = opts.poisonDeadBuffers ? "true" : "false";
  return "one-shot-bufferize{bufferize-function-boundaries "
         "function-boundary-type-conversion=identity-layout-map},"
         "buffer-results-to-out-params{hoist-static-allocs "
         "modify-public-functions},"
         // CSE merges the identical subviews bufferization creates for a
         // tile's read and write-back, so canonicalization can drop the
         // then self-copies (which would otherwise call memrefCopy).
         "canonicalize,cse,canonicalize,"
         "xf-plan-memory{poison-dead-buffers=" +
         poison +
         "},"
         "convert-bufferization-to-memref";
}

std::string llvmStage(const CpuPipelineOptions &opts) {
  // The signature is exported while argument types are still memrefs.
  // linalg -> scalar loops (LLVM's own loop vectorizer takes it from
  // there); affine is lowered again after expand-strided-metadata, which
  // introduces affine.apply. erf has no LLVM intrinsic, so math goes to
  // libm calls first. Functions take bare pointers (static shapes), which
  // xf-emit-entry-point wraps into `void xfc_entry(void **)`.
  // Thread tiles (scf.forall) become OpenMP parallel regions, each thread
  // taking a fixed block of the iterations (xf-cpu-forall-to-openmp). Vector
  // transfers are lowered to 1-D loads/stores first, contractions to
  // outer products (FMAs of a broadcast A by a row of B) with the LLVM
  // conversion.
  // Tile temporaries on the stack move out of the loops first (once per
  // thread, not once per iteration).
  std::string threads =
      opts.threads ? "xf-cpu-forall-to-openmp,xf-hoist-static-allocas,"
                     "canonicalize,"
                   : "scf-forall-to-for,xf-hoist-static-allocas,";
  // Kernels are outlined first, on memrefs: the profile buffer they add is
  // an argument xf-export-signature must count, and OpenMP outlining then
  // names each parallel region after its kernel function.
  return "xf-outline-kernels{profile=true},xf-export-signature," + threads +
         "xf-lower-strided-copies,convert-linalg-to-loops," +
         (opts.runtimeVerification ? "generate-runtime-verification,"
                                   : "") +
         "convert-vector-to-scf{full-unroll},lower-affine,"
         "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
         "convert-math-to-libm,"
         "convert-vector-to-llvm{vector-contract-lowering=outerproduct},"
         "finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,"
         "convert-index-to-llvm,"
         "convert-func-to-llvm{use-bare-ptr-memref-call-conv},"
         "convert-openmp-to-llvm,"
         "convert-cf-to-llvm,convert-ub-to-llvm,reconcile-unrealized-casts,"
         "xf-emit-entry-point,canonicalize";
}

void addPipeline(OpPassManager &pm, const std::string &text) {
  std::string error;
  llvm::raw_string_ostream os(error);
  if (failed(parsePassPipeline(text, pm, os)))
    llvm::report_fatal_error(llvm::Twine("xfc: internal pipeline '") + text +
                             "' does not parse: " + error);
}

/// Options of the registered stage pipelines (xfc-opt).
struct CpuPipelineCLOptions : public PassPipelineOptions<CpuPipelineCLOptions> {
  Option<bool> transposeLinearWeights{
      *this, "transpose-linear-weights",
      llvm::cl::desc("Store linear weights [in, out]"), llvm::cl::init(true)};
  Option<bool> poisonDeadBuffers{
      *this, "poison-dead-buffers",
      llvm::cl::desc("Fill each planned buffer with NaN after its last use"),
      llvm::cl::init(false)};

  Option<bool> runtimeVerification{
      *this, "runtime-verification",
      llvm::cl::desc("Check every memref access at run time (aborts with "
                     "the op's location)"),
      llvm::cl::init(false)};

  Option<bool> packLinearWeights{
      *this, "pack-linear-weights",
      llvm::cl::desc("Store linear weights in register-tile panels"),
      llvm::cl::init(true)};
  Option<bool> tileAndVectorize{
      *this, "tile-and-vectorize",
      llvm::cl::desc("Tile and vectorize contractions"), llvm::cl::init(true)};
  Option<int64_t> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("Floats per vector register (4, 8 or 16)"),
      llvm::cl::init(8)};
  Option<bool> threads{*this, "threads",
                       llvm::cl::desc("OpenMP parallel thread tiles"),
                       llvm::cl::init(true)};
  Option<bool> fuseAttention{
      *this, "fuse-attention",
      llvm::cl::desc("Lower attention as the fused FlashAttention kernel"),
      llvm::cl::init(true)};
  Option<bool> attentionGather{
      *this, "attention-gather",
      llvm::cl::desc("xf-fuse-attention{gather}: strided and dilated "
                     "pattern parts per residue class on dense tiles"),
      llvm::cl::init(true)};

  Option<bool> fuseQKV{*this, "fuse-qkv",
                       llvm::cl::desc("xf-fuse-qkv: one GEMM for the "
                                      "projections of one input"),
                       llvm::cl::init(true)};
  Option<bool> fuseEpilogue{
      *this, "fuse-epilogue",
      llvm::cl::desc("xf-fuse-epilogue: activations and residual adds in "
                     "the GEMM's output loop"),
      llvm::cl::init(true)};
  Option<bool> fuseResidualLayerNorm{
      *this, "fuse-residual-layernorm",
      llvm::cl::desc("xf-fuse-residual-layernorm: residual add and "
                     "LayerNorm in one pass"),
      llvm::cl::init(true)};
  Option<int64_t> ffnChunk{
      *this, "ffn-chunk",
      llvm::cl::desc("xf-chunk-feed-forward: rows per feed-forward chunk "
                     "(0 = off)"),
      llvm::cl::init(0)};

  CpuPipelineOptions get() const {
    CpuPipelineOptions opts;
    opts.transposeLinearWeights = transposeLinearWeights;
    opts.packLinearWeights = packLinearWeights;
    opts.tileAndVectorize = tileAndVectorize;
    opts.vectorWidth = vectorWidth;
    opts.threads = threads;
    opts.poisonDeadBuffers = poisonDeadBuffers;
    opts.runtimeVerification = runtimeVerification;
    opts.fusion.qkv = fuseQKV;
    opts.fusion.epilogue = fuseEpilogue;
    opts.fusion.residualLayerNorm = fuseResidualLayerNorm;
    opts.fusion.attention = fuseAttention;
    opts.fusion.attentionGather = attentionGather;
    opts.fusion.ffnChunk = ffnChunk;
    return opts;
  }
};

} // namespace

void buildModelStage(OpPassManager &pm, const CpuPipelineOptions &opts) {
  addPipeline(pm, modelStage(opts));
}
void buildLinalgStage(OpPassManager &pm, const CpuPipelineOptions &opts) {
  addPipeline(pm, linalgStage(opts));
}
void buildBufferStage(OpPassManager &pm, const CpuPipelineOptions &opts) {
  addPipeline(pm, bufferStage(opts));
}
void buildLLVMStage(OpPassManager &pm, const CpuPipelineOptions &opts) {
  addPipeline(pm, llvmStage(opts));
}

void buildCpuPipeline(OpPassManager &pm, const CpuPipelineOptions &opts) {
  buildModelStage(pm, opts);
  buildLinalgStage(pm, opts);
  buildBufferStage(pm, opts);
  buildLLVMStage(pm, opts);
}

std::string describeCpuPipeline(const CpuPipelineOptions &opts) {
  return "builtin.module(" + modelStage(opts) + "," + linalgStage(opts) + "," +
         bufferStage(opts) + "," + llvmStage(opts) + ")";
}

std::string describeGpuFrontStages(const CpuPipelineOptions &opts) {
  return "builtin.module(" + modelStage(opts) + "," + linalgStage(opts) + ")";
}

bool parseFusionList(const std::string &text,
                     CpuPipelineOptions::FusionOptions &fusion,
                     std::string &error) {
  struct Switch {
    const char *name;
    bool CpuPipelineOptions::FusionOptions::*flag;
  } switches[] = {{"qkv", &CpuPipelineOptions::FusionOptions::qkv},
                  {"epilogue", &CpuPipelineOptions::FusionOptions::epilogue},
                  {"residual-layernorm",
                   &CpuPipelineOptions::FusionOptions::residualLayerNorm},
                  {"attention", &CpuPipelineOptions::FusionOptions::attention}};
  bool all = text == "all";
  if (all || text == "none") {
    for (const Switch &s : switches)
      fusion.*s.flag = all;
    return true;
  }
  CpuPipelineOptions::FusionOptions parsed = fusion;
  for (const Switch &s : switches)
    parsed.*s.flag = false;
  llvm::SmallVector<llvm::StringRef> names;
  llvm::StringRef(text).split(names, ',');
  for (llvm::StringRef name : names) {
    const Switch *found = llvm::find_if(
        switches, [&](const Switch &s) { return name == s.name; });
    if (found == std::end(switches)) {
      error = "unknown fusion '" + name.str() +
              "' in --fusion (expected all, none, or a comma-separated list "
              "of qkv, epilogue, residual-layernorm, attention)";
      return false;
    }
    parsed.*found->flag = true;
  }
  fusion = parsed;
  return true;
}

void registerXFCPassesAndPipelines() {
  static bool registered = [] {
    registerAllPasses();
    xf::registerXFTransformsPasses();
    xf::registerXFConversionPasses();
    xf::registerXFCodegenPasses();
    auto reg = [](const char *name, const char *summary,
                  void (*build)(OpPassManager &, const CpuPipelineOptions &)) {
      PassPipelineRegistration<CpuPipelineCLOptions>(
          name, summary,
          [build](OpPassManager &pm, const CpuPipelineCLOptions &cl) {
            build(pm, cl.get());
          });
    };
    reg("xf-model-stage",
        "xf to xf: decompose model ops, graph fusions, weight layouts",
        buildModelStage);
    reg("xf-linalg-stage", "xf to linalg on tensors", buildLinalgStage);
    reg("xf-buffer-stage", "Bufferize, out-parameters, memory planning",
        buildBufferStage);
    reg("xf-llvm-stage", "Loops and memrefs to the LLVM dialect",
        buildLLVMStage);
    reg("xf-cpu-pipeline", "The whole CPU pipeline: xf to LLVM dialect",
        buildCpuPipeline);
    return true;
  }();
  (void)registered;
}

void registerXFCDialects(DialectRegistry &registry) {
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registry.insert<xf::XFDialect>();
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  registerGpuCodegen(registry);
}

} // namespace xfc
