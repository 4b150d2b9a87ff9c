//===- xfc-gpu-bench.cpp - Benchmarks of xfc's GPU kernels ----------------===//
//
// Part of xfc. Times the tuned device kernels of compiler/lib/GpuKernels.cpp
// (flash attention, tensor-core GEMMs) on an NVIDIA GPU and checks their
// results (bench/gpu/README.md). Each case's kernel is generated in process
// for the GPU's chip (buildGpuKernels, emitPtx, and ptxas when the toolkit
// is there), then run by GpuBench.cpp.
//
// With --emit-kernels DIR it only generates, for a chip named on the
// command line, and writes the kernels for xfc-gpu-bench-run, which runs
// them on a machine with a GPU but without LLVM.
//
// Built twice: with XFC_GPU_BENCH_RUN_ONLY it is xfc-gpu-bench-run, which
// links no compiler and reads the kernels from --prepared DIR.
//
//===----------------------------------------------------------------------===//
#include "GpuBench.h"

#ifndef XFC_GPU_BENCH_RUN_ONLY
#include "xfc/Compiler/GpuCodegen.h"
#include "xfc/Compiler/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#endif

#include <cstdio>

using namespace xfc;
using namespace xfc::gpubench;

namespace {

#ifdef XFC_GPU_BENCH_RUN_ONLY
constexpr bool kWithCompiler = false;
#else
constexpr bool kWithCompiler = true;

/// The kernel of `benchCase` for `chip`: MLIR, PTX, and a cubin when
/// ptxas is found (unless --no-cubin), with its launch contract.
bool generateKernel(const CommandLine &options, const BenchCase &benchCase,
                    const std::string &chip, GpuImage &image,
                    GpuKernelLaunch &launch, std::string &error) {
  static mlir::DialectRegistry *registry = [] {
    auto *r = new mlir::DialectRegistry();
    registerXFCDialects(*r);
    registerXFCPassesAndPipelines();
    return r;
  }();
  mlir::MLIRContext context(*registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  std::vector<GpuKernelLaunch> launches;
  if (!buildGpuKernels(*module, benchCase.kernels, launches, error))
    return false;
  GpuTarget target;
  if (!selectGpuTarget(chip, target, error))
    return false;
  std::vector<PtxModule> ptx;
  if (!emitPtx(*module, target, ptx, error))
    return false;
  if (ptx.size() != 1 || launches.size() != 1) {
    error = "expected one kernel in one module";
    return false;
  }
  image = GpuImage();
  image.chip = chip;
  image.ptxVersion = target.ptxVersion;
  image.ptx = ptx[0].ptx;
  image.kernels = {launches[0].kernel};
  launch = launches[0];
  std::string ptxas = options.noCubin ? "" : findPtxas();
  if (!ptxas.empty()) {
    llvm::SmallString<128> cubin;
    if (llvm::sys::fs::createTemporaryFile("xfc-gpu-bench", "cubin", cubin)) {
      error = "cannot create a temporary file for ptxas's output";
      return false;
    }
    std::string path = cubin.str().str();
    bool assembled = assemblePtx(ptxas, image.ptx, chip, path, error);
    if (assembled) {
      auto buffer = llvm::MemoryBuffer::getFile(path);
      if (buffer)
        image.cubin = (*buffer)->getBuffer().str();
    }
    llvm::sys::fs::remove(path);
    if (!assembled)
      return false;
  }
  return true;
}

/// --emit-kernels DIR: every selected case's kernel into DIR.
int emitKernels(const CommandLine &options) {
  std::string chip = options.gpuArch.empty() ? "sm_90" : options.gpuArch;
  if (std::error_code ec = llvm::sys::fs::create_directories(options.emit)) {
    std::fprintf(stderr, "xfc-gpu-bench: cannot create %s: %s\n",
                 options.emit.c_str(), ec.message().c_str());
    return 2;
  }
  std::vector<BenchCase> cases = benchCases(options.selection);
  if (options.selection.wgmma && chip != "sm_90a") {
    std::fprintf(stderr, "xfc-gpu-bench: --wgmma needs --gpu-arch=sm_90a "
                         "(warpgroup MMA is sm_90a's alone)\n");
    return 2;
  }
  int cubins = 0;
  for (const BenchCase &c : cases) {
    GpuImage image;
    GpuKernelLaunch launch;
    std::string error;
    if (!generateKernel(options, c, chip, image, launch, error) ||
        !writePreparedKernel(options.emit, c, image, launch, error)) {
      std::fprintf(stderr, "xfc-gpu-bench: %s: %s\n", c.name.c_str(),
                   error.c_str());
      return 2;
    }
    cubins += !image.cubin.empty();
  }
  std::fprintf(stderr,
               "xfc-gpu-bench: %zu kernels for %s in %s (%d with a "
               "cubin)\n",
               cases.size(), chip.c_str(), options.emit.c_str(), cubins);
  return 0;
}
#endif

/// The kernel of a case: read from --prepared DIR when given, else (in
/// xfc-gpu-bench) generated for the GPU's chip.
bool kernelFor(const CommandLine &options, const BenchCase &benchCase,
               const std::string &chip, GpuImage &image,
               GpuKernelLaunch &launch, std::string &error) {
  if (!options.prepared.empty())
    return readPreparedKernel(options.prepared, benchCase, image, launch,
                              error);
#ifndef XFC_GPU_BENCH_RUN_ONLY
  return generateKernel(options, benchCase, chip, image, launch, error);
#else
  (void)chip;
  error = "no --prepared folder";
  return false;
#endif
}

} // namespace

int main(int argc, char **argv) {
  CommandLine options;
  std::string error;
  if (!parseCommandLine(argc, argv, kWithCompiler, options, error)) {
    if (!error.empty())
      std::fprintf(stderr, "%s: %s\n", argv[0], error.c_str());
    std::fprintf(stderr, "%s", usage(kWithCompiler).c_str());
    return error.empty() ? 0 : 2;
  }
#ifndef XFC_GPU_BENCH_RUN_ONLY
  if (!options.emit.empty())
    return emitKernels(options);
#endif
  return benchMain(options, kernelFor);
}
