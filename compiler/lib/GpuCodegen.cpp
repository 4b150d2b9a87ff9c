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

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
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

bool emitPtx(mlir::ModuleOp module, const GpuTarget &target,
             std::vector<PtxModule> &out, std::string &error) {
  std::string diagnostics;
  llvm::raw_string_ostream diagnosticStream(diagnostics);
  mlir::ScopedDiagnosticHandler handler(
      module.getContext(), [&](mlir::Diagnostic &diagnostic) {
        diagnosticStream << diagnostic.getLocation() << ": " << diagnostic
                         << "\n";
        return mlir::success();
      });
  // convert-gpu-to-nvvm does not lower the nvgpu dialect (ldmatrix,
  // mma.sync on vectors), so convert-nvgpu-to-nvvm runs first; it leaves
  // modules without nvgpu ops as they are.
  std::string pipeline =
      "nvvm-attach-target{chip=" + target.chip +
      " features=" + target.ptxFeatures +
      " O=3},gpu.module(convert-nvgpu-to-nvvm,convert-scf-to-cf,"
      "convert-gpu-to-nvvm),"
      "reconcile-unrealized-casts,gpu-module-to-binary{format=isa}";
  mlir::PassManager pm(module.getContext(),
                       mlir::ModuleOp::getOperationName());
  if (mlir::failed(mlir::parsePassPipeline(pipeline, pm, diagnosticStream))) {
    error = "the GPU pipeline does not parse: " + diagnostics;
    return false;
  }
  if (mlir::failed(pm.run(module))) {
    error = "PTX generation for " + target.chip + " failed: " + diagnostics;
    return false;
  }
  // Every gpu.module must have become a gpu.binary with its PTX.
  size_t before = out.size();
  for (auto binary : module.getOps<mlir::gpu::BinaryOp>()) {
    for (mlir::Attribute attr : binary.getObjectsAttr()) {
      auto object = llvm::dyn_cast<mlir::gpu::ObjectAttr>(attr);
      if (!object || object.getFormat() != mlir::gpu::CompilationTarget::Assembly)
        continue;
      out.push_back({binary.getSymName().str(), object.getObject().str()});
    }
  }
  if (!module.getOps<mlir::gpu::GPUModuleOp>().empty() ||
      out.size() - before !=
          size_t(llvm::range_size(module.getOps<mlir::gpu::BinaryOp>()))) {
    error = "PTX generation for " + target.chip +
            " left a gpu.module without PTX";
    return false;
  }
  return true;
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
