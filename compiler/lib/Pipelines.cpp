//===- Pipelines.cpp - The xfc compilation pipelines ------------*- C++ -*-===//
//
// Part of xfc. Implements the CPU pipeline stages (see Pipelines.h). Each
// stage is written as the textual pipeline it is, so the manifest records
// exactly what ran and `xfc-opt --pass-pipeline=` replays it; the comments
// say why each pass stands where it does.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/Pipelines.h"

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
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace xfc {
namespace {

std::string modelStage(const CpuPipelineOptions &opts) {
  // Whole-op rewrites (attention and FFN fusion, sparse attention) must run
  // before decomposition; the weight layout runs after it because it looks
  // at xf.linear users of each weight argument.
  std::string layout = opts.transposeLinearWeights ? "true" : "false";
  std::string text = "xf-decompose-model-ops,";
  // The attention kernel is chosen on the xf.attention ops that
  // decomposition produces; it only marks them, the linalg stage lowers.
  if (opts.fusion.attention)
    text += "xf-fuse-attention,";
  return text + "xf-weight-layout{transpose-linear-weights=" + layout +
         "},canonicalize,cse";
}

std::string linalgStage(const CpuPipelineOptions &opts) {
  std::string lowering = "convert-xf-to-linalg";
  if (!opts.testFault.empty())
    lowering += "{test-fault=" + opts.testFault + "}";
  return lowering + ",canonicalize,cse";
}

std::string bufferStage(const CpuPipelineOptions &) {
  // Function boundaries bufferize to identity-layout memrefs so the
  // bare-pointer calling convention applies. The returned buffer becomes an
  // out-parameter written in place (hoist-static-allocs), then ownership-
  // based deallocation frees every intermediate buffer before returning.
  return "one-shot-bufferize{bufferize-function-boundaries "
         "function-boundary-type-conversion=identity-layout-map},"
         "buffer-results-to-out-params{hoist-static-allocs "
         "modify-public-functions},"
         "canonicalize,"
         "buffer-deallocation-pipeline,"
         "convert-bufferization-to-memref";
}

std::string llvmStage(const CpuPipelineOptions &) {
  // The signature is exported while argument types are still memrefs.
  // linalg -> scalar loops (LLVM's own loop vectorizer takes it from
  // there); affine is lowered again after expand-strided-metadata, which
  // introduces affine.apply. erf has no LLVM intrinsic, so math goes to
  // libm calls first. Functions take bare pointers (static shapes), which
  // xf-emit-entry-point wraps into `void xfc_entry(void **)`.
  //
  // scf.forall (the fused attention's (batch, head, query block) loop)
  // becomes a sequential scf.for until the threading stage turns it into
  // OpenMP; convert-scf-to-cf does not lower scf.forall.
  return "xf-export-signature,scf-forall-to-for,"
         "convert-linalg-to-loops,lower-affine,expand-strided-metadata,"
         "lower-affine,convert-scf-to-cf,convert-math-to-libm,"
         "finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,"
         "convert-index-to-llvm,"
         "convert-func-to-llvm{use-bare-ptr-memref-call-conv},"
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
  Option<bool> fuseAttention{
      *this, "fuse-attention",
      llvm::cl::desc("Lower attention as the fused FlashAttention kernel"),
      llvm::cl::init(true)};

  CpuPipelineOptions get() const {
    CpuPipelineOptions opts;
    opts.transposeLinearWeights = transposeLinearWeights;
    opts.fusion.attention = fuseAttention;
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

void registerXFCPassesAndPipelines() {
  static bool registered = [] {
    registerAllPasses();
    xf::registerXFTransformsPasses();
    xf::registerXFConversionPasses();
    auto reg = [](const char *name, const char *summary,
                  void (*build)(OpPassManager &, const CpuPipelineOptions &)) {
      PassPipelineRegistration<CpuPipelineCLOptions>(
          name, summary,
          [build](OpPassManager &pm, const CpuPipelineCLOptions &cl) {
            build(pm, cl.get());
          });
    };
    reg("xf-model-stage", "xf to xf: decompose model ops, weight layouts",
        buildModelStage);
    reg("xf-linalg-stage", "xf to linalg on tensors", buildLinalgStage);
    reg("xf-buffer-stage", "Bufferize, out-parameters, deallocation",
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
}

} // namespace xfc
