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
#include "xfc/Compiler/Codegen.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Frontend/SpecParser.h"
#include "xfc/Frontend/Weights.h"

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

bool writeText(const std::string &path, const std::string &text,
               std::string &error) {
  std::ofstream out(path);
  out << text;
  if (!out) {
    error = "cannot write " + path;
    return false;
  }
  return true;
}

std::string printModule(mlir::ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os);
  return text;
}

/// Runs `build`'s passes on `module`; MLIR diagnostics land in `error`.
template <typename BuildFn>
bool runStage(mlir::ModuleOp module, const char *name, BuildFn build,
              const CpuPipelineOptions &opts, std::string &error) {
  mlir::PassManager pm(module.getContext());
  build(pm, opts);
  if (mlir::failed(pm.run(module))) {
    error = std::string("stage ") + name + " failed" +
            (error.empty() ? "" : ":\n" + error);
    return false;
  }
  return true;
}

} // namespace

bool compileModel(const CompileRequest &request, CompileReport &report,
                  std::string &error) {
  Clock::time_point start = Clock::now();
  Clock::time_point step = start;
  auto lap = [&](const char *name) {
    report.steps.emplace_back(name, secondsSince(step));
    step = Clock::now();
  };

  // 1. Spec, shapes and weights.
  ModelSpec spec;
  SpecError specError;
  if (!parseModelSpecFile(request.specPath, spec, specError)) {
    error = specError.message(request.specPath);
    return false;
  }
  ShapeOptions shapes = request.shapes;
  if (shapes.seqLen == 0)
    shapes.seqLen = std::min<int64_t>(128, spec.maxSeqLen);
  if (!validateShapeOptions(spec, shapes, specError)) {
    error = specError.message();
    return false;
  }
  if (shapes.tgtLen == 0)
    shapes.tgtLen = shapes.seqLen;
  std::string specText;
  {
    std::ifstream in(request.specPath);
    std::stringstream buffer;
    buffer << in.rdbuf();
    specText = buffer.str();
  }
  TargetDescription target;
  if (!selectTarget(request.cpu, target, error))
    return false;

  // Never replace an existing output unless asked to.
  if (request.outputDir.empty()) {
    error = "no output folder given (-o OUT)";
    return false;
  }
  bool outputExists = llvm::sys::fs::exists(request.outputDir);
  if (outputExists && !request.force) {
    error = request.outputDir +
            " already exists; pass --force to replace it (nothing was "
            "written)";
    return false;
  }
  WeightStore weights;
  if (!loadWeights(spec, weights, error))
    return false;
  lap("parse spec and load weights");

  // 2. IR.
  mlir::DialectRegistry registry;
  registerXFCDialects(registry);
  registerXFCPassesAndPipelines();
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &diag) {
    llvm::raw_string_ostream os(diagnostics);
    os << diag.getLocation() << ": " << diag << "\n";
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> module =
      buildModelModule(context, spec, shapes);
  if (mlir::failed(mlir::verify(*module))) {
    error = "the IR built for the spec does not verify (a bug in xfc):\n" +
            diagnostics;
    return false;
  }
  if (!request.dumpIRDir.empty()) {
    if (std::error_code ec =
            llvm::sys::fs::create_directories(request.dumpIRDir)) {
      error = "cannot create " + request.dumpIRDir + ": " + ec.message();
      return false;
    }
  }
  auto dump = [&](const char *file) {
    if (request.dumpIRDir.empty())
      return true;
    return writeText(request.dumpIRDir + "/" + file, printModule(*module),
                     error);
  };
  if (!dump("0-xf.mlir"))
    return false;
  lap("build xf IR");

  // 3. Pipeline stages; the interface is read after the xf-level stage.
  const CpuPipelineOptions &opts = request.pipeline;
  if (!runStage(*module, "xf-model-stage", buildModelStage, opts,
                diagnostics) ||
      !dump("1-model-stage.mlir")) {
    error = error.empty() ? diagnostics : error;
    return false;
  }
  ArtifactInterface interface;
  if (!collectArtifactInterface(*module, listInputs(spec, shapes), interface,
                                error))
    return false;
  lap("xf-model-stage");
  if (!runStage(*module, "xf-linalg-stage", buildLinalgStage, opts,
                diagnostics) ||
      !dump("2-linalg-stage.mlir")) {
    error = error.empty() ? diagnostics : error;
    return false;
  }
  lap("xf-linalg-stage");
  if (!runStage(*module, "xf-buffer-stage", buildBufferStage, opts,
                diagnostics) ||
      !dump("3-buffer-stage.mlir")) {
    error = error.empty() ? diagnostics : error;
    return false;
  }
  lap("xf-buffer-stage");
  if (!runStage(*module, "xf-llvm-stage", buildLLVMStage, opts,
                diagnostics) ||
      !dump("4-llvm-stage.mlir")) {
    error = error.empty() ? diagnostics : error;
    return false;
  }
  lap("xf-llvm-stage");

  // 4. Native code and the artifact, in a temporary sibling folder.
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
      request.dumpIRDir.empty() ? "" : request.dumpIRDir + "/5-optimized.ll";
  if (!emitSharedLibrary(*module, target, temp + "/model.o",
                         temp + "/" + info.libraryFile, llvmIRPath, error))
    return fail();
  llvm::sys::fs::remove(temp + "/model.o");
  lap("LLVM codegen and link");

  if (!writeArtifactWeights(temp + "/" + info.weightsFile, weights, interface,
                            error))
    return fail();
  for (const ArtifactWeight &w : interface.weights)
    report.weightBytes += w.sizeBytes;
  info.modelName = spec.name;
  info.target = target;
  info.shapes = shapes;
  info.pipeline = describeCpuPipeline(opts);
  info.specJson = specText;
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
  report.totalSeconds = secondsSince(start);
  report.artifactDir = request.outputDir;
  return true;
}

} // namespace xfc
