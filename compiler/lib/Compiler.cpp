//===- Compiler.cpp - Spec to artifact --------------------------*- C++ -*-===//
//
// Part of xfc. Implements compileModel. The artifact is assembled in a
// temporary sibling folder and renamed into place only when every step
// succeeded, so a failed compile never leaves a partial artifact and never
// touches an existing one.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/Compiler.h"

#include "xfc/Compiler/Artifact.h"
#include "xfc/Compiler/Buckets.h"
#include "xfc/Compiler/Codegen.h"
#include "xfc/Compiler/GpuCodegen.h"
#include "xfc/Compiler/MemoryPlanReport.h"
#include "xfc/Frontend/HfImport.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Frontend/SpecParser.h"
#include "xfc/Frontend/Weights.h"
#include "xfc/Support/Checksum.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <fstream>
#include <sstream>

namespace xfc {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Removes a folder tree, ignoring errors (used for temporaries only).
void removeTree(const std::string &path) {
  if (!path.empty())
    llvm::sys::fs::remove_directories(path, /*IgnoreErrors=*/true);
}

/// The module with its locations: they carry the spec node names and the
/// kernel tags, so a stage replayed with xfc-opt from a dump sees the same
/// names and outlines the same kernels.
std::string printModule(mlir::ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os, mlir::OpPrintingFlags().enableDebugInfo());
  return text;
}

/// Creates `path` and its parents if missing.
bool createFolder(const std::string &path, std::string &error) {
  if (std::error_code ec = llvm::sys::fs::create_directories(path)) {
    error = "cannot create " + path + ": " + ec.message();
    return false;
  }
  return true;
}

/// Checks the output folder before any work: it must be named, and an
/// existing one is replaced only with --force.
bool checkOutputDir(const CompileRequest &request, std::string &error) {
  if (request.outputDir.empty()) {
    error = "no output folder given (-o OUT)";
    return false;
  }
  if (llvm::sys::fs::exists(request.outputDir) && !request.force) {
    error = request.outputDir +
            " already exists; pass --force to replace it (nothing was "
            "written)";
    return false;
  }
  // The IR dumps overwrite files by name, so a folder that already holds
  // something is used only when asked to.
  if (!request.dumpIRDir.empty() && !request.force) {
    std::error_code ec;
    llvm::sys::fs::directory_iterator it(request.dumpIRDir, ec);
    if (!ec && it != llvm::sys::fs::directory_iterator()) {
      error = request.dumpIRDir +
              " is not empty; pass --force to write the IR dumps into it";
      return false;
    }
  }
  return true;
}

/// Collects MLIR diagnostics of one compilation into a string.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(mlir::MLIRContext &context)
      : handler(&context, [this](mlir::Diagnostic &diag) {
          llvm::raw_string_ostream os(text);
          os << diag.getLocation() << ": " << diag << "\n";
          return mlir::success();
        }) {}
  std::string text;

private:
  mlir::ScopedDiagnosticHandler handler;
};

/// Compiles the generation steps (docs/generation.md) of `spec` into
/// `request.outputDir`/prefill and /decode, each an artifact of its own;
/// a weights file identical to the model's becomes a hard link to it.
bool compileGenerateSteps(const CompileRequest &request, const ModelSpec &spec,
                          const ShapeOptions &shapes,
                          const WeightStore &weights, const ModuleInfo &info,
                          CompileReport &report, std::string &error) {
  mlir::DialectRegistry registry;
  registerXFCDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  struct Step {
    GenerateStep step;
    const char *name;
  } steps[] = {{GenerateStep::Prefill, "prefill"},
               {GenerateStep::Decode, "decode"}};
  // Weights files already written (path, size, checksum): the model's,
  // then each step's.
  struct Written {
    std::string path;
    uint64_t size = 0, sum = 0;
  };
  std::vector<Written> written(1);
  written[0].path = request.outputDir + "/weights.safetensors";
  if (!checksumFile(written[0].path, written[0].size, written[0].sum, error))
    return false;
  for (const Step &step : steps) {
    Clock::time_point start = Clock::now();
    ShapeOptions stepShapes = shapes;
    stepShapes.step = step.step;
    mlir::OwningOpRef<mlir::ModuleOp> module =
        buildModelModule(context, spec, stepShapes);
    ModuleInfo stepInfo = info;
    stepInfo.shapes = stepShapes;
    stepInfo.inputRanges = listInputs(spec, stepShapes);
    CompileRequest stepRequest = request;
    stepRequest.outputDir = request.outputDir + "/" + step.name;
    stepRequest.force = false;
    // A fusion plan names the nodes of the whole-sequence model; the steps
    // take the switches' fusions.
    stepRequest.fusionPlanPath.clear();
    if (!request.dumpIRDir.empty())
      stepRequest.dumpIRDir = request.dumpIRDir + "/" + step.name;
    if (!request.explainDir.empty())
      stepRequest.explainDir = request.explainDir + "/" + step.name;
    CompileReport stepReport;
    if (!compileModule(*module, weights, stepInfo, stepRequest, stepReport,
                       error)) {
      error = std::string("generation step '") + step.name + "': " + error;
      return false;
    }
    Written stepWeights{stepRequest.outputDir + "/weights.safetensors"};
    if (!checksumFile(stepWeights.path, stepWeights.size, stepWeights.sum,
                      error))
      return false;
    // Same bytes as a file already written (the two steps read the weights
    // in the same layouts; the model too unless it fused the projections):
    // one file on disk.
    for (const Written &other : written) {
      if (other.size != stepWeights.size || other.sum != stepWeights.sum ||
          llvm::sys::fs::remove(stepWeights.path))
        continue;
      if (std::error_code ec =
              llvm::sys::fs::create_hard_link(other.path, stepWeights.path)) {
        error = "cannot link " + stepWeights.path + " to " + other.path + ": " +
                ec.message();
        return false;
      }
      break;
    }
    written.push_back(stepWeights);
    report.steps.emplace_back(std::string("generation step ") + step.name,
                              secondsSince(start));
  }
  return true;
}

} // namespace

bool compileModule(mlir::ModuleOp module, const WeightStore &weights,
                   const ModuleInfo &moduleInfo, const CompileRequest &request,
                   CompileReport &report, std::string &error) {
  Clock::time_point start = Clock::now();
  Clock::time_point step = start;
  auto lap = [&](const char *name) {
    report.steps.emplace_back(name, secondsSince(step));
    step = Clock::now();
  };
  TargetDescription target;
  if (!selectTarget(request.cpu, target, error) ||
      !checkOutputDir(request, error))
    return false;
  const bool gpu = !request.gpuArch.empty();
  GpuTarget gpuTarget;
  if (gpu && !selectGpuTarget(request.gpuArch, gpuTarget, error))
    return false;
  bool outputExists = llvm::sys::fs::exists(request.outputDir);

  DiagnosticCollector diagnostics(*module.getContext());
  if (mlir::failed(mlir::verify(module))) {
    error = "the input IR does not verify:\n" + diagnostics.text;
    return false;
  }
  if (!request.dumpIRDir.empty() && !createFolder(request.dumpIRDir, error))
    return false;
  // The fusion plan is attached to the IR before the first dump, so
  // replaying the recorded pipeline on 0-xf.mlir gives the same result.
  CpuPipelineOptions opts = request.pipeline;
  opts.vectorWidth = vectorWidthFor(target);
  if (gpu) {
    // What only the CPU's code wants: weight panels for its register
    // tiles, cache and register tiling, OpenMP thread tiles.
    opts.packLinearWeights = false;
    opts.tileAndVectorize = false;
    opts.threads = false;
  }
  if (!planFusions(module, opts, request.fusionPlanPath, report.fusion, error))
    return false;
  auto dump = [&](const char *file) {
    if (request.dumpIRDir.empty())
      return true;
    return writeTextFile(request.dumpIRDir + "/" + file, printModule(module),
                         error);
  };
  if (!dump("0-xf.mlir"))
    return false;

  // Pipeline stages; the interface is read after the xf-level stage, once
  // weight layouts are decided and the argument names are still there.
  struct Stage {
    const char *name;
    void (*build)(mlir::OpPassManager &, const CpuPipelineOptions &);
    const char *dumpFile;
  } stages[] = {{"xf-model-stage", buildModelStage, "1-model-stage.mlir"},
                {"xf-linalg-stage", buildLinalgStage, "2-linalg-stage.mlir"},
                {"xf-buffer-stage", buildBufferStage, "3-buffer-stage.mlir"},
                {"xf-llvm-stage", buildLLVMStage, "4-llvm-stage.mlir"}};
  ArtifactInterface interface;
  // A GPU compile runs the first two stages, then its own (below).
  size_t numStages = gpu ? 2 : std::size(stages);
  for (const Stage &stage : llvm::ArrayRef(stages).take_front(numStages)) {
    mlir::PassManager pm(module.getContext());
    stage.build(pm, opts);
    if (mlir::failed(pm.run(module))) {
      error =
          std::string("stage ") + stage.name + " failed:\n" + diagnostics.text;
      return false;
    }
    if (!dump(stage.dumpFile))
      return false;
    if (stage.build == buildModelStage) {
      // The tuned kernels are outlined first: with --dtype=f16 or bf16
      // they decide which weights the artifact stores in the half type.
      if (!checkFormedKernels(module, report.fusion, error) ||
          (gpu && request.gpuTunedKernels &&
           !outlineTunedKernels(module, request.gpuDtype, request.gpuHalfQkv,
                                request.gpuHalfFfn, request.gpuHalfNorm,
                                request.gpuAllowTf32, error)) ||
          !collectArtifactInterface(module, moduleInfo.inputRanges, interface,
                                    error))
        return false;
      if (!request.explainDir.empty()) {
        if (!createFolder(request.explainDir, error) ||
            !writeTextFile(request.explainDir + "/fusion-plan.json",
                           fusionPlanJson(report.fusion, moduleInfo.modelName),
                           error))
          return false;
      }
    }
    if (stage.build == buildBufferStage) {
      if (!readMemoryPlan(module, report.memoryPlan, error))
        return false;
      if (!request.explainDir.empty() &&
          !writeMemoryPlanFiles(report.memoryPlan, request.explainDir, error))
        return false;
    }
    lap(stage.name);
  }
  GpuModelCode gpuCode;
  if (gpu) {
    if (interface.segmentMemory.memoryLength > 0) {
      error = "--target=cuda does not compile segment memory "
              "(Transformer-XL) yet; compile it for the CPU";
      return false;
    }
    auto failed = [&](const char *what) {
      error = std::string(what) + ": " + error +
              (diagnostics.text.empty() ? "" : "\n" + diagnostics.text);
      return false;
    };
    if (!bufferizeModelForGpu(module, error))
      return failed("GPU buffer stage");
    if (!dump("3-gpu-buffer-stage.mlir") ||
        !readMemoryPlan(module, report.memoryPlan, error))
      return false;
    if (!request.explainDir.empty() &&
        !writeMemoryPlanFiles(report.memoryPlan, request.explainDir, error))
      return false;
    lap("GPU buffer stage");
    // wgmma is sm_90a's alone: code for sm_90 also runs on later chips.
    if (!launchTunedKernels(module, request.gpuArch == "sm_90a",
                            request.gpuAttentionQueryTile, report.gpuKernels,
                            error) ||
        !mapLoopsToGpu(module, error))
      return failed("GPU mapping");
    if (!dump("4-gpu-kernels.mlir"))
      return false;
    lap("GPU mapping");
    if (!lowerModelForGpu(module, gpuTarget, gpuCode, error))
      return failed("GPU code generation");
    if (!dump("5-gpu-host.mlir") ||
        (!request.dumpIRDir.empty() &&
         !writeTextFile(request.dumpIRDir + "/kernels.ptx", gpuCode.ptx,
                        error)))
      return false;
    lap(gpuCode.cubin.empty() ? "PTX (NVPTX)" : "PTX (NVPTX) and ptxas");
  }

  // Native code and the artifact, in a temporary sibling folder.
  llvm::SmallString<256> tempDir(request.outputDir);
  llvm::sys::path::remove_dots(tempDir, /*remove_dot_dot=*/true);
  std::string tempPrefix = tempDir.str().str() + ".tmp-%%%%%%";
  llvm::SmallString<256> tempPath;
  llvm::sys::fs::createUniquePath(tempPrefix, tempPath, /*MakeAbsolute=*/false);
  if (std::error_code ec = llvm::sys::fs::create_directories(tempPath)) {
    error = "cannot create " + tempPath.str().str() + ": " + ec.message();
    return false;
  }
  std::string temp = tempPath.str().str();
  ManifestInfo info;
  auto fail = [&]() {
    removeTree(temp);
    return false;
  };
  std::string llvmIRPath =
      request.dumpIRDir.empty()
          ? ""
          : request.dumpIRDir +
                (gpu ? "/6-host-optimized.ll" : "/5-optimized.ll");
  if (!emitSharedLibrary(module, target, temp + "/model.o",
                         temp + "/" + info.libraryFile, llvmIRPath, error))
    return fail();
  llvm::sys::fs::remove(temp + "/model.o");
  if (!checksumFile(temp + "/" + info.libraryFile, info.librarySizeBytes,
                    info.libraryChecksum, error))
    return fail();
  lap("LLVM codegen and link");

  if (!writeArtifactWeights(temp + "/" + info.weightsFile, weights, interface,
                            error))
    return fail();
  for (const ArtifactWeight &w : interface.weights)
    report.weightBytes += w.sizeBytes;
  info.modelName = moduleInfo.modelName;
  info.target = target;
  info.shapes = moduleInfo.shapes;
  info.pipeline = describeCpuPipeline(opts);
  if (gpu) {
    info.pipeline =
        describeGpuFrontStages(opts) + " then the GPU lowering " +
        "(docs/gpu.md) for " + gpuTarget.chip + ", " +
        (request.gpuTunedKernels ? "tuned" : "generic") + " kernels" +
        (request.gpuDtype == GpuGemmInput::F16    ? ", dtype f16"
         : request.gpuDtype == GpuGemmInput::BF16 ? ", dtype bf16"
                                                  : "") +
        (request.gpuAllowTf32 ? ", TF32 allowed" : "") +
        (request.gpuDtype != GpuGemmInput::F32 && !request.gpuHalfQkv
             ? ", Q, K, V in f32"
             : "") +
        (request.gpuDtype != GpuGemmInput::F32 && !request.gpuHalfFfn
             ? ", FFN hidden in f32"
             : "") +
        (request.gpuDtype != GpuGemmInput::F32 && !request.gpuHalfNorm
             ? ", norms' outputs in f32"
             : "") +
        (request.gpuAttentionQueryTile
             ? ", attention " + std::to_string(request.gpuAttentionQueryTile) +
                   " query rows a block"
             : "");
    info.gpu.chip = gpuTarget.chip;
    info.gpu.ptxVersion = gpuTarget.ptxVersion;
    info.gpu.ptxBytes = gpuCode.ptx.size();
    info.gpu.cubinBytes = gpuCode.cubin.size();
    info.gpu.kernels = gpuCode.kernels;
  }
  info.specJson = moduleInfo.specJson;
  info.arenaBytes = report.memoryPlan.arenaBytes;
  info.naiveBytes = report.memoryPlan.naiveBytes;
  info.lowerBoundBytes = report.memoryPlan.lowerBoundBytes;
  info.numPlannedBuffers = report.memoryPlan.buffers.size();
  if (!collectArtifactKernels(module, info.kernels, error))
    return fail();
  // The tokenizer's vocabulary travels with the artifact (xfc run --text).
  if (!moduleInfo.tokenizerJson.empty()) {
    info.tokenizerJson = moduleInfo.tokenizerJson;
    const std::string &vocab = moduleInfo.tokenizerVocab;
    info.vocabSizeBytes = vocab.size();
    info.vocabChecksum = fnv1a64(vocab.data(), vocab.size());
    if (!writeTextFile(temp + "/" + info.vocabFile, vocab, error))
      return fail();
  }
  if (!writeManifest(temp + "/manifest.json", info, interface, error))
    return fail();

  // Swap into place. With --force the old folder is moved aside first and
  // only deleted once the new one is in place.
  std::string backup;
  if (outputExists) {
    backup = temp + ".old";
    if (std::error_code ec = llvm::sys::fs::rename(request.outputDir, backup)) {
      error = "cannot move the existing " + request.outputDir +
              " aside: " + ec.message();
      return fail();
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(temp, request.outputDir)) {
    if (!backup.empty())
      llvm::sys::fs::rename(backup, request.outputDir);
    error = "cannot create " + request.outputDir + ": " + ec.message();
    return fail();
  }
  removeTree(backup);
  lap("write artifact");
  report.totalSeconds += secondsSince(start);
  report.artifactDir = request.outputDir;
  return true;
}

bool compileModel(const CompileRequest &request, CompileReport &report,
                  std::string &error) {
  Clock::time_point start = Clock::now();
  // A report of an earlier compile would mix its fusions into this one's.
  report = CompileReport();

  // Spec, shapes and weights; the output folder is checked before the
  // (possibly long) weight loading.
  ModelSpec spec;
  SpecError specError;
  // A Hugging Face checkpoint folder is imported in memory
  // (docs/hf-import.md); nothing is written beside it.
  HfImport imported;
  const bool checkpoint = isHfCheckpointDir(request.specPath);
  if (checkpoint) {
    if (!importHfCheckpoint(request.specPath, "", "", imported, error))
      return false;
    spec = imported.spec;
  } else if (!parseModelSpecFile(request.specPath, spec, specError)) {
    error = specError.message(request.specPath);
    return false;
  }
  if (!request.attentionPattern.empty() &&
      !overrideAttentionPattern(spec, request.attentionPattern, specError)) {
    error = specError.message();
    return false;
  }
  if (!request.gpuArch.empty() &&
      (!request.buckets.empty() || request.generateCapacity >= 0)) {
    error = std::string("--target=cuda does not compile ") +
            (request.buckets.empty() ? "generation steps (--generate)"
                                     : "shape buckets (--buckets)") +
            " yet; compile them for the CPU";
    return false;
  }
  if (request.gpuAllowTf32 &&
      (request.gpuArch.empty() || !request.gpuTunedKernels)) {
    error = request.gpuArch.empty()
                ? "--allow-tf32 is for --target=cuda (tensor cores); the CPU "
                  "computes in f32"
                : "--allow-tf32 runs the GEMMs on the tuned tensor-core "
                  "kernels; drop --gpu-kernels=generic";
    return false;
  }
  if (request.gpuDtype != GpuGemmInput::F32 &&
      (request.gpuArch.empty() || !request.gpuTunedKernels)) {
    error = request.gpuArch.empty()
                ? "--dtype=f16 and bf16 are for --target=cuda (tensor "
                  "cores); the CPU computes in f32"
                : "--dtype=f16 and bf16 run the GEMMs on the tuned "
                  "tensor-core kernels; drop --gpu-kernels=generic";
    return false;
  }
  // Buckets are checked before the (possibly long) weight loading.
  if (!request.buckets.empty() &&
      !checkBucketable(spec, request.buckets, error))
    return false;
  ShapeOptions shapes = request.shapes;
  if (!request.buckets.empty())
    shapes = ShapeOptions{1, 0, 0}; // Each bucket was checked instead.
  if (shapes.seqLen == 0)
    shapes.seqLen = std::min<int64_t>(128, spec.maxSeqLen);
  if (!validateShapeOptions(spec, shapes, specError)) {
    error = specError.message();
    return false;
  }
  if (shapes.tgtLen == 0)
    shapes.tgtLen = shapes.seqLen;
  if (request.generateCapacity >= 0) {
    shapes.cacheCapacity = request.generateCapacity > 0
                               ? request.generateCapacity
                               : spec.maxSeqLen;
    if (!validateGenerateOptions(spec, shapes, specError)) {
      error = specError.message();
      return false;
    }
  }
  TargetDescription target;
  if (!selectTarget(request.cpu, target, error) ||
      !checkOutputDir(request, error))
    return false;
  WeightStore weights;
  std::vector<std::string> generated;
  if (checkpoint) {
    weights = std::move(imported.weights);
    if (!addLinformerWeights(spec, shapes.seqLen, weights, error, &generated))
      return false;
  } else if (!loadWeights(spec, shapes.seqLen, weights, error, &generated)) {
    return false;
  }
  report.steps.emplace_back("parse spec and load weights", secondsSince(start));
  if (!request.buckets.empty()) {
    std::string specJson = imported.specJson;
    if (!checkpoint) {
      std::ifstream in(request.specPath);
      std::stringstream buffer;
      buffer << in.rdbuf();
      specJson = buffer.str();
    }
    report.totalSeconds = secondsSince(start);
    return compileBucketedModel(spec, weights, specJson, request, report,
                                error);
  }

  Clock::time_point buildStart = Clock::now();
  mlir::DialectRegistry registry;
  registerXFCDialects(registry);
  registerXFCPassesAndPipelines();
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      buildModelModule(context, spec, shapes);
  report.steps.emplace_back("build xf IR", secondsSince(buildStart));

  ModuleInfo info;
  info.modelName = spec.name;
  info.shapes = shapes;
  info.inputRanges = listInputs(spec, shapes);
  if (checkpoint) {
    info.specJson = imported.specJson;
    if (imported.hasTokenizer) {
      info.tokenizerJson = wordPieceOptionsJson(imported.tokenizer.options);
      info.tokenizerVocab = imported.tokenizer.vocabText;
    }
  } else {
    std::ifstream in(request.specPath);
    std::stringstream buffer;
    buffer << in.rdbuf();
    info.specJson = buffer.str();
  }
  report.totalSeconds = secondsSince(start);
  if (!compileModule(*module, weights, info, request, report, error))
    return false;
  // The steps go into the finished artifact; if one fails, so does the
  // whole compile, and the artifact is removed.
  if (request.generateCapacity >= 0 &&
      !compileGenerateSteps(request, spec, shapes, weights, info, report,
                            error)) {
    removeTree(request.outputDir);
    return false;
  }
  for (const std::string &name : generated)
    report.fusion.attentionNotes.push_back(
        name + ": generated from the pattern's seed, N(0, 1/k) (the weights "
               "have no such tensor)");
  return true;
}

} // namespace xfc
