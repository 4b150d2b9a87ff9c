//===- GpuCodegen.cpp - gpu.module to PTX, and PTX to ptxas ---------------===//
//
// Part of xfc. See GpuCodegen.h. The lowering is MLIR's own: the NVVM
// target attribute on each gpu.module, the GPU-to-NVVM conversion, and
// gpu-module-to-binary in its "isa" format, which runs LLVM's NVPTX backend
// in process and keeps the PTX text. nvgpu ops (GpuKernels.cpp uses
// ldmatrix) are lowered to NVVM first.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/GpuCodegen.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Utils/GPUUtils.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

namespace xfc {

bool selectGpuTarget(const std::string &gpuArch, GpuTarget &out,
                     std::string &error) {
  // The oldest PTX ISA each chip accepts, so the oldest driver that knows
  // the chip can load the code (PTX 7.0: CUDA 11.0; 7.8: 11.8; 8.0: 12.0).
  struct Known {
    const char *chip;
    int ptxVersion;
  };
  static const Known known[] = {{"sm_80", 70}, {"sm_90", 78}, {"sm_90a", 80}};
  for (const Known &k : known) {
    if (gpuArch != k.chip)
      continue;
    out.chip = k.chip;
    out.ptxVersion = k.ptxVersion;
    out.ptxFeatures = "+ptx" + std::to_string(k.ptxVersion);
    return true;
  }
  error = "--gpu-arch is '" + gpuArch + "'; expected sm_80, sm_90 or sm_90a";
  return false;
}

void registerGpuCodegen(mlir::DialectRegistry &registry) {
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  mlir::registerNVVMDialectTranslation(registry);
  mlir::registerGPUDialectTranslation(registry);
}

namespace {

/// Runs the textual pipeline `text` (nested in builtin.module) on
/// `module`, collecting its diagnostics into `error`.
bool runPipeline(mlir::ModuleOp module, const std::string &text,
                 const std::string &what, std::string &error) {
  std::string diagnostics;
  llvm::raw_string_ostream diagnosticStream(diagnostics);
  mlir::ScopedDiagnosticHandler handler(
      module.getContext(), [&](mlir::Diagnostic &diagnostic) {
        diagnosticStream << diagnostic.getLocation() << ": " << diagnostic
                         << "\n";
        return mlir::success();
      });
  mlir::PassManager pm(module.getContext(), mlir::ModuleOp::getOperationName());
  if (mlir::failed(mlir::parsePassPipeline(text, pm, diagnosticStream))) {
    error = what + ": the pipeline does not parse: " + diagnostics;
    return false;
  }
  if (mlir::failed(pm.run(module))) {
    error = what + " failed: " + diagnostics;
    return false;
  }
  return true;
}

} // namespace

bool emitPtx(mlir::ModuleOp module, const GpuTarget &target,
             std::vector<PtxModule> &out, std::string &error) {
  // convert-gpu-to-nvvm does not lower the nvgpu dialect (ldmatrix,
  // mma.sync on vectors), so convert-nvgpu-to-nvvm runs first; it leaves
  // modules without nvgpu ops as they are.
  std::string pipeline =
      "nvvm-attach-target{chip=" + target.chip +
      " features=" + target.ptxFeatures +
      " O=3},gpu.module(expand-strided-metadata,lower-affine,"
      "convert-nvgpu-to-nvvm,convert-scf-to-cf,"
      // A memref parameter is one pointer: what the runtime's launch passes
      // (xf-gpu-launch-to-runtime).
      "convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=true}),"
      "reconcile-unrealized-casts,gpu-module-to-binary{format=isa}";
  if (!runPipeline(module, pipeline, "PTX generation for " + target.chip,
                   error))
    return false;
  // Every gpu.module must have become a gpu.binary with its PTX.
  size_t before = out.size();
  for (auto binary : module.getOps<mlir::gpu::BinaryOp>()) {
    for (mlir::Attribute attr : binary.getObjectsAttr()) {
      auto object = llvm::dyn_cast<mlir::gpu::ObjectAttr>(attr);
      if (!object ||
          object.getFormat() != mlir::gpu::CompilationTarget::Assembly)
        continue;
      out.push_back({binary.getSymName().str(), object.getObject().str()});
    }
  }
  if (!module.getOps<mlir::gpu::GPUModuleOp>().empty() ||
      out.size() - before !=
          size_t(llvm::range_size(module.getOps<mlir::gpu::BinaryOp>()))) {
    error =
        "PTX generation for " + target.chip + " left a gpu.module without PTX";
    return false;
  }
  return true;
}

bool mapModelToGpu(mlir::ModuleOp module, std::string &error) {
  // Function boundaries bufferize to identity layouts (kernels take bare
  // pointers); linalg ops become parallel loops over their parallel
  // dimensions with their reductions inside, the attention kernel's
  // foralls parallel loops too; gpu-map-parallel-loops gives the outermost
  // loop of each nest the grid and the next one the threads of a block
  // (deeper ones stay sequential in the thread), and each mapped nest
  // becomes a gpu.launch, outlined into its own gpu.module.
  if (!runPipeline(
          module,
          "one-shot-bufferize{bufferize-function-boundaries "
          "function-boundary-type-conversion=identity-layout-map},"
          "buffer-results-to-out-params{hoist-static-allocs},canonicalize,"
          "convert-linalg-to-parallel-loops,scf-forall-to-parallel,"
          "func.func(gpu-map-parallel-loops),convert-parallel-loops-to-gpu,"
          "canonicalize",
          "the GPU mapping", error))
    return false;
  // A kernel takes whole buffers (bare pointers: identity layouts only):
  // the views the host code made of them (subviews, reshapes) move into
  // the kernels that use them, with the constants and index computations
  // gpu-kernel-outlining would move anyway.
  auto sinkable = [](mlir::Operation *op) {
    return llvm::isa<mlir::ViewLikeOpInterface>(op) ||
           op->hasTrait<mlir::OpTrait::ConstantLike>() ||
           llvm::isa<mlir::memref::DimOp, mlir::arith::IndexCastOp>(op);
  };
  bool sunk = true;
  module.walk([&](mlir::gpu::LaunchOp launch) {
    if (mlir::failed(mlir::sinkOperationsIntoLaunchOp(launch, sinkable)))
      sunk = false;
  });
  if (!sunk) {
    error = "the GPU mapping failed: cannot move the host "
            "code's views into a kernel";
    return false;
  }
  return runPipeline(module, "gpu-kernel-outlining", "the kernel outlining",
                     error);
}

bool emitModelPtx(mlir::ModuleOp module, const GpuTarget &target,
                  std::vector<PtxModule> &out, std::string &error) {
  // The CPU's stages without what is only for the CPU: no weight panels
  // for its register tiles, no cache and register tiling, no OpenMP.
  if (!runPipeline(module,
                   "xf-model-stage{pack-linear-weights=false},"
                   "xf-linalg-stage{tile-and-vectorize=false threads=false}",
                   "the lowering to linalg", error) ||
      !mapModelToGpu(module, error))
    return false;
  return emitPtx(module, target, out, error);
}

std::string findPtxas() {
  if (const char *named = std::getenv("XFC_PTXAS"); named && *named)
    return llvm::sys::fs::can_execute(named) ? std::string(named) : "";
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  if (llvm::ErrorOr<std::string> onPath = llvm::sys::findProgramByName("ptxas"))
    return *onPath;
  return "";
}

bool assemblePtx(const std::string &ptxas, const std::string &ptx,
                 const std::string &chip, const std::string &cubinPath,
                 std::string &error) {
  llvm::SmallString<128> ptxPath, logPath;
  if (llvm::sys::fs::createTemporaryFile("xfc-kernels", "ptx", ptxPath) ||
      llvm::sys::fs::createTemporaryFile("xfc-ptxas", "log", logPath)) {
    error = "cannot create a temporary file for ptxas";
    return false;
  }
  // The temporary files go whatever happens.
  struct Remove {
    llvm::SmallString<128> &a, &b;
    ~Remove() {
      llvm::sys::fs::remove(a);
      llvm::sys::fs::remove(b);
    }
  } remove{ptxPath, logPath};
  {
    std::error_code ec;
    llvm::raw_fd_ostream file(ptxPath, ec);
    if (ec) {
      error = "cannot write " + ptxPath.str().str() + ": " + ec.message();
      return false;
    }
    file << ptx;
  }
  std::string arch = "-arch=" + chip;
  llvm::SmallVector<llvm::StringRef> args{ptxas, arch, "-o", cubinPath,
                                          ptxPath};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, logPath.str(),
                                                logPath.str()};
  std::string launchError;
  int status = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, redirects,
                                         /*SecondsToWait=*/300,
                                         /*MemoryLimit=*/0, &launchError);
  if (status == 0)
    return true;
  std::string log;
  if (auto buffer = llvm::MemoryBuffer::getFile(logPath))
    log = (*buffer)->getBuffer().str();
  while (!log.empty() && (log.back() == '\n' || log.back() == ' '))
    log.pop_back();
  error = ptxas + " " + arch + " rejected the PTX" +
          (status < 0 ? " (" + launchError + ")"
                      : " (exit code " + std::to_string(status) + ")") +
          (log.empty() ? "" : ":\n" + log);
  return false;
}

} // namespace xfc
