//===- GpuGoldenTest.cpp - GPU artifacts, device code run on the CPU ------===//
//
// Part of xfc. A model compiled with --target=cuda is a host schedule that
// launches kernels through the run context, device code embedded in the
// library, and a manifest; the runtime opens it on a GPU through the CUDA
// driver. Without a GPU, everything but the NVPTX lowering of the kernels
// is checked here against the PyTorch goldens:
//
//   - the artifact is compiled as a user would (compileModel, sm_80), and
//     opened and run through the runtime's C API over the stand-in libcuda
//     (tests/unit/runtime/FakeCudaDriver.cpp), whose device memory is host
//     memory: weights upload, the device block of a context, input and
//     output copies, launches with their grids and arguments;
//   - each launch is executed by the same kernel compiled for this CPU:
//     the kernels' gpu.funcs as the compiler mapped and outlined them
//     (the IR dump 4-gpu-kernels.mlir) become functions that read their
//     block and thread indices from an argument, lowered by LLVM for the
//     host, and run for every thread of the launch's grid, one after the
//     other. That is sound for these kernels: the generic mapping gives
//     each thread its own outputs and uses no shared memory or barriers
//     (the conversion refuses any other gpu op).
//
// So the host schedule, the memory plan on the device, the grid and block
// mapping (ragged last blocks included), the views moved into kernels and
// the argument passing are checked numerically; what is left to a real GPU
// is LLVM's NVPTX lowering of the same kernels (ptxas assembles all of them
// in GpuModelKernelsTest).
//
// Tolerance: 1e-4 absolute, as the CPU end-to-end tests.
//
//===----------------------------------------------------------------------===//
#include "e2e/GoldenCase.h"
#include "e2e/ScratchDir.h"

#include "FakeCudaDriver.h"
#include "unit/gpu/KernelEmulator.h"

#include "xfc/Compiler/Codegen.h"
#include "xfc/Compiler/Compiler.h"
#include "xfc/Compiler/Pipelines.h"
#include "xfc/Frontend/SpecParser.h"
#include "xfc/runtime.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

// Short names for test parameters (ctest lists them in every test name).
namespace xfc::test {
void PrintTo(const GoldenCaseShape &c, std::ostream *os) {
  *os << c.testName();
}
} // namespace xfc::test

namespace {

using namespace xfc;
using namespace xfc::test;
using xfc::test::Buffer;
using xfc::test::Emulator;

constexpr double kTolerance = 1e-4;

/// The stand-in libcuda's test interface, from the very library the
/// runtime loads (the same path, so dlopen hands back the same one).
struct FakeDriver {
  FakeSetLaunchHook setLaunchHook = nullptr;
  const char *(*functionName)(cuda::CUfunction) = nullptr;
  int (*liveAllocations)() = nullptr;
  int (*liveStreams)() = nullptr;
  int (*retainedContexts)() = nullptr;
  int (*liveGraphs)() = nullptr;

  static const FakeDriver &get() {
    static FakeDriver fake = [] {
      setenv("XFC_LIBCUDA", XFC_FAKE_CUDA_PATH, 1);
      FakeDriver f;
      void *library = dlopen(XFC_FAKE_CUDA_PATH, RTLD_NOW | RTLD_LOCAL);
      if (!library)
        return f;
      f.setLaunchHook = reinterpret_cast<FakeSetLaunchHook>(
          dlsym(library, "xfc_fake_cuda_set_launch_hook"));
      f.functionName = reinterpret_cast<const char *(*)(cuda::CUfunction)>(
          dlsym(library, "xfc_fake_cuda_function_name"));
      f.liveAllocations = reinterpret_cast<int (*)()>(
          dlsym(library, "xfc_fake_cuda_live_allocations"));
      f.liveStreams = reinterpret_cast<int (*)()>(
          dlsym(library, "xfc_fake_cuda_live_streams"));
      f.retainedContexts = reinterpret_cast<int (*)()>(
          dlsym(library, "xfc_fake_cuda_retained_contexts"));
      f.liveGraphs = reinterpret_cast<int (*)()>(
          dlsym(library, "xfc_fake_cuda_live_graphs"));
      return f;
    }();
    return fake;
  }
  bool complete() const {
    return setLaunchHook && functionName && liveAllocations && liveStreams &&
           retainedContexts && liveGraphs;
  }
};

//===----------------------------------------------------------------------===//
// The device code on the CPU
//===----------------------------------------------------------------------===//

/// A kernel compiled for the host: `entry(args)` with the kernel's buffer
/// addresses, then a pointer to 12 indices (block id x y z, thread id x y
/// z, grid size x y z, block size x y z), runs one thread.
struct CpuKernel {
  void (*entry)(void **) = nullptr;
  size_t numBuffers = 0;
};

/// What the launch hook runs: the kernels by name, and the first problem.
struct CpuDevice {
  std::map<std::string, CpuKernel> kernels;
  /// The tuned kernels (shared memory, barriers, warp-wide ops) run in the
  /// kernel emulator (tests/unit/gpu/KernelEmulator.h) on the parsed IR.
  std::unique_ptr<mlir::MLIRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> parsed;
  mlir::gpu::GPUModuleOp gpuModule;
  std::set<std::string> emulated;
  std::string failure;
  uint64_t launches = 0, threads = 0, emulatedLaunches = 0;
};
CpuDevice *activeDevice = nullptr;

/// An f16 or bf16 element (`type`) of device memory, and back (rounded
/// to nearest, ties to even).
const llvm::fltSemantics &halfSemantics(mlir::Type type) {
  return type.isBF16() ? llvm::APFloat::BFloat() : llvm::APFloat::IEEEhalf();
}
double halfToDouble(uint16_t bits, mlir::Type type) {
  llvm::APFloat value(halfSemantics(type), llvm::APInt(16, bits));
  bool lost;
  value.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
                &lost);
  return value.convertToDouble();
}
uint16_t doubleToHalf(double x, mlir::Type type) {
  llvm::APFloat value(x);
  bool lost;
  value.convert(halfSemantics(type), llvm::APFloat::rmNearestTiesToEven, &lost);
  return uint16_t(value.bitcastToAPInt().getZExtValue());
}

/// Runs a tuned kernel's launch in the emulator: its buffers are read
/// into the emulator's, run, and written back (inputs round-trip exactly).
void emulateLaunch(CpuDevice &device, const std::string &name,
                   const FakeLaunch *launch) {
  ++device.emulatedLaunches;
  auto kernel = device.gpuModule.lookupSymbol<mlir::gpu::GPUFuncOp>(name);
  std::vector<Buffer> buffers(kernel.getNumArguments());
  std::vector<Buffer *> args;
  std::vector<std::pair<void *, mlir::MemRefType>> memory;
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i) {
    auto type = llvm::cast<mlir::MemRefType>(kernel.getArgumentTypes()[i]);
    void *data = *static_cast<void **>(launch->parameters[i]);
    Buffer &buffer = buffers[i];
    buffer.shape.assign(type.getShape().begin(), type.getShape().end());
    mlir::Type element = type.getElementType();
    for (int64_t e = 0; e < type.getNumElements(); ++e)
      buffer.data.push_back(
          element.isF32() ? double(static_cast<const float *>(data)[e])
          : element.isInteger(32)
              ? double(static_cast<const int32_t *>(data)[e])
              : halfToDouble(static_cast<const uint16_t *>(data)[e], element));
    args.push_back(&buffer);
    memory.emplace_back(data, type);
  }
  GpuKernelLaunch contract;
  contract.kernel = name;
  contract.dynamicSharedBytes = launch->sharedBytes;
  for (int d = 0; d < 3; ++d) {
    contract.grid[d] = launch->grid[d];
    contract.block[d] = launch->block[d];
  }
  Emulator emulator(device.gpuModule);
  std::string error;
  if (!emulator.run(contract, args, error)) {
    if (device.failure.empty())
      device.failure = "kernel '" + name + "': " + error;
    return;
  }
  for (size_t i = 0; i < memory.size(); ++i) {
    auto [data, type] = memory[i];
    mlir::Type element = type.getElementType();
    for (int64_t e = 0; e < type.getNumElements(); ++e) {
      if (element.isF32())
        static_cast<float *>(data)[e] = float(buffers[i].data[e]);
      else if (element.isInteger(32))
        static_cast<int32_t *>(data)[e] = int32_t(buffers[i].data[e]);
      else
        static_cast<uint16_t *>(data)[e] =
            doubleToHalf(buffers[i].data[e], element);
    }
  }
  device.threads += uint64_t(launch->grid[0]) * launch->grid[1] *
                    launch->grid[2] * launch->block[0];
}

void runLaunchOnCpu(const FakeLaunch *launch) {
  CpuDevice &device = *activeDevice;
  ++device.launches;
  std::string name = FakeDriver::get().functionName(launch->function);
  if (device.emulated.count(name)) {
    emulateLaunch(device, name, launch);
    return;
  }
  auto it = device.kernels.find(name);
  if (it == device.kernels.end()) {
    if (device.failure.empty())
      device.failure = "launch of unknown kernel '" + name + "'";
    return;
  }
  const CpuKernel &kernel = it->second;
  std::vector<void *> args(kernel.numBuffers + 1);
  for (size_t i = 0; i < kernel.numBuffers; ++i)
    args[i] = *static_cast<void **>(launch->parameters[i]);
  int64_t ids[12] = {0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     launch->grid[0],
                     launch->grid[1],
                     launch->grid[2],
                     launch->block[0],
                     launch->block[1],
                     launch->block[2]};
  args.back() = ids;
  for (ids[2] = 0; ids[2] < ids[8]; ++ids[2])
    for (ids[1] = 0; ids[1] < ids[7]; ++ids[1])
      for (ids[0] = 0; ids[0] < ids[6]; ++ids[0])
        for (ids[5] = 0; ids[5] < ids[11]; ++ids[5])
          for (ids[4] = 0; ids[4] < ids[10]; ++ids[4])
            for (ids[3] = 0; ids[3] < ids[9]; ++ids[3]) {
              kernel.entry(args.data());
              ++device.threads;
            }
}

/// Compiles the gpu.funcs of `kernelsIR` (a module holding one gpu.module)
/// for this CPU into `libraryPath` and loads them into `device`. False
/// with `error` for an op the conversion does not run on the CPU.
bool buildCpuDevice(const std::string &kernelsIR,
                    const std::string &libraryPath, CpuDevice &device,
                    void *&library, std::string &error) {
  mlir::DialectRegistry registry;
  registerXFCDialects(registry);
  registerXFCPassesAndPipelines();
  device.context = std::make_unique<mlir::MLIRContext>(registry);
  mlir::MLIRContext &context = *device.context;
  context.loadAllAvailableDialects();
  device.parsed = mlir::parseSourceFile<mlir::ModuleOp>(kernelsIR, &context);
  mlir::OwningOpRef<mlir::ModuleOp> &parsed = device.parsed;
  if (!parsed) {
    error = "cannot parse " + kernelsIR;
    return false;
  }
  mlir::OpBuilder builder(&context);
  mlir::OwningOpRef<mlir::ModuleOp> host =
      mlir::ModuleOp::create(builder.getUnknownLoc());
  builder.setInsertionPointToEnd(host->getBody());
  auto idsType = mlir::MemRefType::get({12}, builder.getIndexType());
  std::vector<std::pair<std::string, size_t>> names;
  std::string entries;
  for (auto gpuModule : parsed->getOps<mlir::gpu::GPUModuleOp>()) {
    for (auto kernel : gpuModule.getOps<mlir::gpu::GPUFuncOp>()) {
      device.gpuModule = gpuModule;
      // Kernels with shared memory, barriers, warp-wide or NVVM ops (the
      // tuned ones) are emulated; the rest become CPU functions.
      bool needsEmulator = kernel.getNumWorkgroupAttributions() ||
                           kernel.getNumPrivateAttributions();
      kernel.walk([&](mlir::Operation *op) {
        llvm::StringRef dialect = op->getDialect()
                                      ? op->getDialect()->getNamespace()
                                      : llvm::StringRef();
        if (dialect == "nvgpu" || dialect == "nvvm" || dialect == "llvm" ||
            llvm::isa<mlir::func::CallOp, mlir::gpu::BarrierOp,
                      mlir::gpu::ShuffleOp>(op))
          needsEmulator = true;
      });
      if (needsEmulator) {
        device.emulated.insert(kernel.getName().str());
        continue;
      }
      llvm::SmallVector<mlir::Type> types(kernel.getArgumentTypes());
      for (mlir::Type type : types)
        if (!llvm::isa<mlir::MemRefType>(type)) {
          error =
              "kernel " + kernel.getName().str() + " takes a scalar argument";
          return false;
        }
      size_t numBuffers = types.size();
      types.push_back(idsType);
      auto function =
          mlir::func::FuncOp::create(builder, kernel.getLoc(), kernel.getName(),
                                     builder.getFunctionType(types, {}));
      mlir::IRMapping mapping;
      kernel.getBody().cloneInto(&function.getBody(), mapping);
      mlir::Value ids =
          function.getBody().front().addArgument(idsType, kernel.getLoc());
      bool unsupported = false;
      function.walk([&](mlir::Operation *op) {
        mlir::OpBuilder b(op);
        auto index = [&](int64_t base, mlir::gpu::Dimension dim) {
          mlir::Value at = mlir::arith::ConstantIndexOp::create(
              b, op->getLoc(), base + int64_t(dim));
          op->getResult(0).replaceAllUsesWith(mlir::memref::LoadOp::create(
              b, op->getLoc(), ids, mlir::ValueRange{at}));
          op->erase();
        };
        if (auto id = llvm::dyn_cast<mlir::gpu::BlockIdOp>(op))
          index(0, id.getDimension());
        else if (auto id = llvm::dyn_cast<mlir::gpu::ThreadIdOp>(op))
          index(3, id.getDimension());
        else if (auto dim = llvm::dyn_cast<mlir::gpu::GridDimOp>(op))
          index(6, dim.getDimension());
        else if (auto dim = llvm::dyn_cast<mlir::gpu::BlockDimOp>(op))
          index(9, dim.getDimension());
        else if (llvm::isa<mlir::gpu::ReturnOp>(op)) {
          mlir::func::ReturnOp::create(b, op->getLoc());
          op->erase();
        } else if (op->getDialect() &&
                   op->getDialect()->getNamespace() == "gpu") {
          error = "kernel op " + op->getName().getStringRef().str() +
                  " has no CPU form here";
          unsupported = true;
        }
      });
      if (unsupported)
        return false;
      names.emplace_back(kernel.getName().str(), numBuffers);
      entries +=
          ",xf-emit-entry-point{model-function=" + kernel.getName().str() +
          " entry-name=" + kernel.getName().str() + "_cpu}";
    }
  }
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
  std::string pipeline =
      "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
      "convert-math-to-libm,finalize-memref-to-llvm,convert-math-to-llvm,"
      "convert-arith-to-llvm,convert-index-to-llvm,"
      "convert-func-to-llvm{use-bare-ptr-memref-call-conv},"
      "convert-cf-to-llvm,convert-ub-to-llvm,reconcile-unrealized-casts" +
      entries;
  if (mlir::failed(mlir::parsePassPipeline(pipeline, pm, os)) ||
      mlir::failed(pm.run(*host))) {
    error = "lowering the kernels for the CPU failed: " + diagnostics;
    return false;
  }
  TargetDescription target;
  if (!selectTarget("native", target, error) ||
      !emitSharedLibrary(*host, target, libraryPath + ".o", libraryPath, "",
                         error))
    return false;
  library = dlopen(libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    error = std::string("dlopen: ") + dlerror();
    return false;
  }
  for (const auto &[name, numBuffers] : names) {
    auto entry = reinterpret_cast<void (*)(void **)>(
        dlsym(library, (name + "_cpu").c_str()));
    if (!entry) {
      error = "no " + name + "_cpu in the CPU kernels";
      return false;
    }
    device.kernels[name] = {entry, numBuffers};
  }
  return true;
}

/// How a model is compiled for the GPU: CompileRequest's GPU fields, at
/// their defaults but for sm_80.
struct GpuCompileOptions {
  bool tunedKernels = true;
  GpuGemmInput dtype = GpuGemmInput::F32;
  bool allowTf32 = false, halfQkv = true, halfFfn = true, halfNorm = true;
  std::string arch = "sm_80";
  int64_t attentionQueryTile = 0;
};

/// Compiles `specPath` at `shapes` with `options` into `dir`/artifact,
/// with the IR dumps in `dir`/ir.
bool compileForGpu(const std::string &specPath, const ShapeOptions &shapes,
                   const std::string &dir, std::string &error,
                   const GpuCompileOptions &options = GpuCompileOptions()) {
  CompileRequest request;
  request.specPath = specPath;
  request.shapes = shapes;
  request.outputDir = dir + "/artifact";
  request.dumpIRDir = dir + "/ir";
  request.gpuArch = options.arch;
  request.gpuTunedKernels = options.tunedKernels;
  request.gpuDtype = options.dtype;
  request.gpuAllowTf32 = options.allowTf32;
  request.gpuHalfQkv = options.halfQkv;
  request.gpuHalfFfn = options.halfFfn;
  request.gpuHalfNorm = options.halfNorm;
  request.gpuAttentionQueryTile = options.attentionQueryTile;
  request.force = true;
  CompileReport report;
  return compileModel(request, report, error);
}

std::string statusText(xfc_status status) {
  std::string text = status ? xfc_status_get_message(status) : "";
  xfc_status_free(status);
  return text;
}

const char *dtypeName(GpuGemmInput dtype) {
  return dtype == GpuGemmInput::F16    ? "f16"
         : dtype == GpuGemmInput::BF16 ? "bf16"
                                       : "f32";
}

/// How runGpuArtifact's context runs: replaying a CUDA graph (the
/// default), launching kernel by kernel, or profiling (kernel by kernel,
/// each launch between two events).
enum class GpuRunMode { Graph, KernelByKernel, Profiled };

void runGpuArtifact(const std::string &dir, GoldenData &data,
                    std::vector<float> &out, CpuDevice &device,
                    GpuRunMode mode = GpuRunMode::Graph);

/// The golden case named `name` (e.g. "bert_like_s77"), or null.
const GoldenCaseShape *findGoldenCase(const std::string &name) {
  static const std::vector<GoldenCaseShape> cases = listGoldenCaseShapes();
  for (const GoldenCaseShape &c : cases)
    if (c.testName() == name)
      return &c;
  return nullptr;
}

/// Reads `param`'s spec and its golden inputs and expected outputs into
/// `data` (a fatal failure when either cannot be read).
void loadGoldenCase(const GoldenCaseShape &param, GoldenData &data) {
  ModelSpec spec;
  SpecError specError;
  ASSERT_TRUE(parseModelSpecFile(param.goldenCase.specPath, spec, specError))
      << specError.message();
  std::string error;
  ASSERT_TRUE(loadGoldenData(spec, param.shape, data, error)) << error;
}

/// Compiles `param` for the GPU (tuned kernels or the generic mapping
/// only; the GEMMs in `dtype`), runs it over the stand-in driver with the
/// device code on the CPU and compares with PyTorch (in f32) within
/// `tolerance`.
void checkGpuGolden(const GoldenCaseShape &param,
                    const GpuCompileOptions &options,
                    double tolerance = kTolerance) {
  const FakeDriver &fake = FakeDriver::get();
  ASSERT_TRUE(fake.complete()) << "cannot load " << XFC_FAKE_CUDA_PATH;
  const bool tunedKernels = options.tunedKernels, allowTf32 = options.allowTf32;
  const GpuGemmInput dtype = options.dtype;
  const std::string &arch = options.arch;

  GoldenData data;
  ASSERT_NO_FATAL_FAILURE(loadGoldenCase(param, data));
  std::string error;
  ScratchDir dir(std::string(tunedKernels ? "gpu_tuned_" : "gpu_generic_") +
                 dtypeName(dtype) + (allowTf32 ? "_tf32_" : "_") + arch + "_" +
                 (options.attentionQueryTile
                      ? "q" + std::to_string(options.attentionQueryTile) + "_"
                      : "") +
                 param.testName());
  ASSERT_TRUE(compileForGpu(param.goldenCase.specPath, data.shapes, dir.path(),
                            error, options))
      << error;
  if (allowTf32) {
    std::ifstream ptx(dir.path() + "/ir/kernels.ptx");
    std::string code((std::istreambuf_iterator<char>(ptx)),
                     std::istreambuf_iterator<char>());
    EXPECT_NE(code.find("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32"),
              std::string::npos);
  }
  if (dtype != GpuGemmInput::F32) {
    // The GEMMs' weights are stored in the half type, and the GEMMs run on
    // tensor cores.
    std::ifstream manifest(dir.path() + "/artifact/manifest.json");
    std::string text((std::istreambuf_iterator<char>(manifest)),
                     std::istreambuf_iterator<char>());
    EXPECT_NE(text.find(std::string("\"dtype\": \"") + dtypeName(dtype) + "\""),
              std::string::npos);
    std::ifstream ptx(dir.path() + "/ir/kernels.ptx");
    std::string code((std::istreambuf_iterator<char>(ptx)),
                     std::istreambuf_iterator<char>());
    // sm_90a's GEMMs on warpgroup MMA (the model's N are multiples of 128
    // and its K of 64); attention keeps mma.sync.
    if (arch == "sm_90a")
      EXPECT_NE(code.find(std::string("wgmma.mma_async.sync.aligned.m64n128k16."
                                      "f32.") +
                          dtypeName(dtype)),
                std::string::npos);
    EXPECT_NE(code.find(std::string("mma.sync.aligned.m16n8k16.row.col.f32.") +
                        dtypeName(dtype)),
              std::string::npos);
  }

  // The generic mapping's artifacts launch kernel by kernel, bf16's are
  // profiled, the others replay a CUDA graph: every way of running meets
  // the goldens.
  CpuDevice device;
  std::vector<float> out;
  runGpuArtifact(dir.path(), data, out, device,
                 !tunedKernels                 ? GpuRunMode::KernelByKernel
                 : dtype == GpuGemmInput::BF16 ? GpuRunMode::Profiled
                                               : GpuRunMode::Graph);
  if (::testing::Test::HasFatalFailure())
    return;

  GoldenComparison golden = compareValidRows(data, out.data(), out.size());
  ASSERT_TRUE(golden.sizeMatches);
  EXPECT_GT(golden.comparedRows, 0);
  EXPECT_LE(golden.maxAbsError, tolerance)
      << "vs PyTorch, worst flat index " << golden.worstIndex;
  std::printf("[  error   ] %s (%s kernels, %s): max |xfc GPU artifact - "
              "PyTorch| = %.3g over %lld rows; %llu launches (%llu emulated), "
              "%llu threads\n",
              param.testName().c_str(), tunedKernels ? "tuned" : "generic",
              allowTf32 ? "f32, TF32 allowed" : dtypeName(dtype),
              golden.maxAbsError, (long long)golden.comparedRows,
              (unsigned long long)device.launches,
              (unsigned long long)device.emulatedLaunches,
              (unsigned long long)device.threads);
}

/// Runs the GPU artifact `dir`/artifact (its IR dumps in `dir`/ir) on
/// `data`'s inputs over the stand-in driver, with the device code on the
/// CPU, into `out`: twice on one context, as a second run starts from a
/// used arena, and the second must give the first's output bit for bit.
/// In `mode` Graph the context records its launches into a CUDA graph
/// when it is created (running none) and both runs replay it; Profiled
/// runs must count one call and the stand-in's event time (1 ms) per run
/// for every kernel of the plan. `device` counts the launches.
void runGpuArtifact(const std::string &dir, GoldenData &data,
                    std::vector<float> &out, CpuDevice &device,
                    GpuRunMode mode) {
  const bool gpuGraph = mode == GpuRunMode::Graph;
  const FakeDriver &fake = FakeDriver::get();
  std::string error;
  void *library = nullptr;
  ASSERT_TRUE(buildCpuDevice(dir + "/ir/4-gpu-kernels.mlir",
                             dir + "/cpu-kernels.so", device, library, error))
      << error;
  activeDevice = &device;
  fake.setLaunchHook(runLaunchOnCpu);

  xfc_model *model = nullptr;
  std::string artifact = dir + "/artifact";
  ASSERT_EQ(statusText(xfc_model_open(artifact.c_str(), nullptr, &model)), "");
  EXPECT_STREQ(xfc_model_device(model), "cuda:0");
  std::vector<xfc_buffer> inputs;
  for (std::vector<int32_t> &values : data.inputValues)
    inputs.push_back({values.data(), values.size() * sizeof(int32_t)});
  out.assign(data.expected.size(), std::nanf(""));
  xfc_buffer output{out.data(), out.size() * sizeof(float)};
  xfc_context_options options;
  xfc_context_options_initialize(&options);
  EXPECT_EQ(options.gpu_graph, 1);
  options.gpu_graph = gpuGraph ? 1 : 0;
  options.enable_profiling = mode == GpuRunMode::Profiled ? 1 : 0;
  xfc_context *context = nullptr;
  ASSERT_EQ(statusText(xfc_context_create(model, &options, &context)), "");
  const uint64_t recorded = xfc_context_gpu_graph_launches(context);
  EXPECT_EQ(device.launches, 0u) << "recording a graph ran a kernel";
  std::vector<float> first;
  for (int run = 0; run < 2; ++run) {
    std::fill(out.begin(), out.end(), std::nanf(""));
    EXPECT_EQ(statusText(xfc_context_run(context, inputs.data(), inputs.size(),
                                         &output, 1)),
              "");
    if (run == 0)
      first = out;
  }
  EXPECT_EQ(std::memcmp(first.data(), out.data(), out.size() * sizeof(float)),
            0)
      << "the second run's output differs from the first's";
  if (gpuGraph) {
    EXPECT_GT(recorded, 0u);
    EXPECT_EQ(device.launches, 2 * recorded)
        << "each run replays the recorded launches";
  } else {
    EXPECT_EQ(recorded, 0u);
  }
  if (mode == GpuRunMode::Profiled) {
    size_t count = xfc_model_num_kernels(model);
    std::vector<xfc_kernel_profile> kernels(count);
    xfc_profile totals;
    EXPECT_EQ(statusText(xfc_context_get_profile(context, &totals,
                                                 kernels.data(), count)),
              "");
    EXPECT_EQ(totals.runs, 2u);
    EXPECT_EQ(totals.ns_per_tick, 1.0);
    for (const xfc_kernel_profile &kernel : kernels) {
      EXPECT_EQ(kernel.calls, 2u) << kernel.kernel.name;
      // At least 1 ms a run: a plan kernel may launch several kernels.
      EXPECT_GE(kernel.total_ns, 2e6) << kernel.kernel.name;
    }
    EXPECT_GE(totals.kernel_ns, 2e6 * double(count));
  }
  xfc_context_destroy(context);
  xfc_model_destroy(model);
  fake.setLaunchHook(nullptr);
  activeDevice = nullptr;
  dlclose(library);
  EXPECT_EQ(device.failure, "");
  // Everything the runtime took from the driver is given back.
  EXPECT_EQ(fake.liveAllocations(), 0);
  EXPECT_EQ(fake.liveStreams(), 0);
  EXPECT_EQ(fake.liveGraphs(), 0);
  EXPECT_EQ(fake.retainedContexts(), 0);
}

class GpuGoldenTest : public ::testing::TestWithParam<GoldenCaseShape> {};

TEST_P(GpuGoldenTest, DeviceCodeOnCpuMatchesPyTorch) {
  checkGpuGolden(GetParam(), GpuCompileOptions());
}

TEST_P(GpuGoldenTest, GenericKernelsMatchPyTorch) {
  if (GetParam().shape.seqLen != 7)
    GTEST_SKIP() << "the generic mapping is checked at one shape per model";
  GpuCompileOptions generic;
  generic.tunedKernels = false;
  checkGpuGolden(GetParam(), generic);
}

// --dtype=f16 and bf16: the GEMMs round their operands to the half type
// (weights stored so, activations as the kernel stages them), the flash
// attention kernel rounds Q, K, V and the probabilities P, and both
// accumulate in f32. Against PyTorch in f32, the tolerance is that of the
// rounding (unit roundoff 2^-11 for f16, 2^-8 for bf16) through every
// layer of these models, on outputs of up to 5.2 in magnitude: 2e-2 for
// f16 and 8e-2 for bf16, absolute (measured: at most 1.1e-2 and 3.2e-2).
constexpr double kF16Tolerance = 2e-2, kBF16Tolerance = 8e-2;

TEST_P(GpuGoldenTest, F16MatchesPyTorch) {
  GpuCompileOptions f16;
  f16.dtype = GpuGemmInput::F16;
  checkGpuGolden(GetParam(), f16, kF16Tolerance);
}

// --allow-tf32: the f32 GEMMs round A and B to TF32 (10 mantissa bits,
// as f16) and the attention stays f32, so the error is at most f16's;
// measured at most 5.0e-3.
constexpr double kTf32Tolerance = 1e-2;

TEST_P(GpuGoldenTest, Tf32MatchesPyTorch) {
  if (GetParam().shape.seqLen == 1)
    GTEST_SKIP() << "TF32 is checked at 7 and 77 tokens";
  GpuCompileOptions tf32;
  tf32.allowTf32 = true;
  checkGpuGolden(GetParam(), tf32, kTf32Tolerance);
}

TEST_P(GpuGoldenTest, BF16MatchesPyTorch) {
  if (GetParam().shape.seqLen != 7)
    GTEST_SKIP() << "bf16 is checked at one shape per model";
  GpuCompileOptions bf16;
  bf16.dtype = GpuGemmInput::BF16;
  checkGpuGolden(GetParam(), bf16, kBF16Tolerance);
}

// --gpu-arch=sm_90a: the f16 and bf16 GEMMs run on warpgroup MMA (A and
// B read by the tensor cores from shared memory, 4 stages in dynamic
// shared memory, each launch allowed its 96 or 128 KiB first); the same
// tolerances, as the rounding is the same.
TEST_P(GpuGoldenTest, WarpgroupMmaMatchesPyTorch) {
  if (GetParam().shape.seqLen == 1)
    GTEST_SKIP() << "warpgroup MMA is checked at 7 and 77 tokens";
  if (GetParam().testName().rfind("gpt_like", 0) == 0)
    GTEST_SKIP() << "gpt_like's widths (heads of 80) are no multiples of 128, "
                    "so its GEMMs stay on mma.sync";
  bool bf16 = GetParam().shape.seqLen == 7;
  GpuCompileOptions sm90a;
  sm90a.dtype = bf16 ? GpuGemmInput::BF16 : GpuGemmInput::F16;
  sm90a.arch = "sm_90a";
  checkGpuGolden(GetParam(), sm90a, bf16 ? kBF16Tolerance : kF16Tolerance);
}

// --gpu-attention-rows=128: each warp of the flash attention kernel takes
// two m16 tiles of query rows (Q in registers up to d = 64, read from
// shared memory past it, as gpt_like's heads of 80 are); the same
// tolerances, as the rounding is the same.
TEST_P(GpuGoldenTest, AttentionQueryTile128MatchesPyTorch) {
  if (GetParam().shape.seqLen == 1)
    GTEST_SKIP() << "128 query rows a block are checked at 7 and 77 tokens";
  bool bf16 = GetParam().shape.seqLen == 7;
  GpuCompileOptions rows128;
  rows128.dtype = bf16 ? GpuGemmInput::BF16 : GpuGemmInput::F16;
  rows128.attentionQueryTile = 128;
  checkGpuGolden(GetParam(), rows128, bf16 ? kBF16Tolerance : kF16Tolerance);
}

/// Opening on a GPU the machine does not have, and what is held after a
/// failed open: nothing. Opened without its GPU (skip_device), a model
/// holds nothing of the driver's and refuses to run.
TEST(GpuArtifact, Refusals) {
  const FakeDriver &fake = FakeDriver::get();
  ASSERT_TRUE(fake.complete()) << "cannot load " << XFC_FAKE_CUDA_PATH;
  ScratchDir dir("gpu_artifact_refusals");
  std::string error;
  ASSERT_TRUE(compileForGpu(std::string(XFC_SOURCE_DIR) +
                                "/models/example-tiny-bert.json",
                            ShapeOptions{1, 8, 0}, dir.path(), error))
      << error;
  std::string artifact = dir.path() + "/artifact";
  xfc_model_options options;
  xfc_model_options_initialize(&options);
  EXPECT_EQ(options.gpu_device, 0);
  options.gpu_device = 3;
  xfc_model *model = nullptr;
  std::string message =
      statusText(xfc_model_open(artifact.c_str(), &options, &model));
  EXPECT_NE(message.find("cannot open the model on GPU 3: GPU 3 does not "
                         "exist (this machine has 1)"),
            std::string::npos)
      << message;
  EXPECT_EQ(model, nullptr);
  EXPECT_EQ(fake.liveAllocations(), 0);
  EXPECT_EQ(fake.retainedContexts(), 0);

  options.gpu_device = 0;
  ASSERT_EQ(statusText(xfc_model_open(artifact.c_str(), &options, &model)), "");
  EXPECT_STREQ(xfc_model_device(model), "cuda:0");
  // The weights are on the device once, whatever the contexts.
  EXPECT_EQ(fake.liveAllocations(), 1);
  xfc_model_destroy(model);
  EXPECT_EQ(fake.liveAllocations(), 0);

  EXPECT_EQ(options.skip_device, 0);
  options.skip_device = 1;
  ASSERT_EQ(statusText(xfc_model_open(artifact.c_str(), &options, &model)), "");
  EXPECT_STREQ(xfc_model_device(model), "cuda (not opened: skip_device)");
  EXPECT_EQ(fake.liveAllocations(), 0);
  EXPECT_EQ(fake.retainedContexts(), 0);
  EXPECT_EQ(statusText(xfc_model_verify(model)), "");
  xfc_context *context = nullptr;
  message = statusText(xfc_context_create(model, nullptr, &context));
  EXPECT_NE(message.find("xfc_context_create: the model was opened without "
                         "its GPU (xfc_model_options.skip_device)"),
            std::string::npos)
      << message;
  EXPECT_EQ(context, nullptr);
  xfc_model_destroy(model);
}

/// A sparsity pattern whose 64 x 64 tiles are each wholly allowed or not
/// runs on the flash attention kernel's block-sparse form, its layout
/// compiled into the module: the GPU artifact (f16) against the CPU
/// artifact of the same spec and pattern (f32; the CPU's pattern attention
/// is checked against PyTorch by the attention-pattern goldens), within
/// the f16 tolerance.
/// Compiles bert_like at 77 tokens with the sparsity pattern `pattern` for
/// the CPU and for the GPU (f16), checks that the device code holds
/// `symbol` (the layout the flash attention kernel reads), runs both (the
/// GPU artifact's kernels in the emulator) and compares them. `name` names
/// the scratch folder.
void checkPatternOnTheGpu(const std::string &name, const char *pattern,
                          const char *symbol) {
  SCOPED_TRACE(pattern);
  const FakeDriver &fake = FakeDriver::get();
  ASSERT_TRUE(fake.complete()) << "cannot load " << XFC_FAKE_CUDA_PATH;
  const GoldenCaseShape *param = findGoldenCase("bert_like_s77");
  ASSERT_NE(param, nullptr);
  GoldenData data;
  ASSERT_NO_FATAL_FAILURE(loadGoldenCase(*param, data));
  std::string error;
  ScratchDir dir("gpu_pattern_" + name);
  CompileRequest request;
  request.specPath = param->goldenCase.specPath;
  request.shapes = data.shapes;
  request.attentionPattern = pattern;
  request.outputDir = dir.path() + "/cpu";
  request.force = true;
  CompileReport report;
  ASSERT_TRUE(compileModel(request, report, error)) << error;
  request.outputDir = dir.path() + "/artifact";
  request.dumpIRDir = dir.path() + "/ir";
  request.gpuArch = "sm_80";
  request.gpuDtype = GpuGemmInput::F16;
  CompileReport gpuReport;
  ASSERT_TRUE(compileModel(request, gpuReport, error)) << error;
  std::ifstream ptx(dir.path() + "/ir/kernels.ptx");
  std::string code((std::istreambuf_iterator<char>(ptx)),
                   std::istreambuf_iterator<char>());
  EXPECT_NE(code.find(symbol), std::string::npos)
      << "the pattern's layout is not in the device code";

  std::vector<xfc_buffer> inputs;
  for (std::vector<int32_t> &values : data.inputValues)
    inputs.push_back({values.data(), values.size() * sizeof(int32_t)});
  std::vector<float> cpu(data.expected.size(), std::nanf(""));
  xfc_buffer output{cpu.data(), cpu.size() * sizeof(float)};
  xfc_model *model = nullptr;
  std::string cpuArtifact = dir.path() + "/cpu";
  ASSERT_EQ(statusText(xfc_model_open(cpuArtifact.c_str(), nullptr, &model)),
            "");
  EXPECT_EQ(statusText(
                xfc_model_run(model, inputs.data(), inputs.size(), &output, 1)),
            "");
  xfc_model_destroy(model);

  CpuDevice device;
  std::vector<float> gpu;
  runGpuArtifact(dir.path(), data, gpu, device);
  if (::testing::Test::HasFatalFailure())
    return;
  EXPECT_EQ(device.failure, "");
  // The CPU artifact's output in the golden's place: the comparison is on
  // the rows the goldens define.
  data.expected.assign(cpu.begin(), cpu.end());
  GoldenComparison comparison = compareValidRows(data, gpu.data(), gpu.size());
  ASSERT_TRUE(comparison.sizeMatches);
  EXPECT_LE(comparison.maxAbsError, kF16Tolerance)
      << "vs the CPU artifact, worst flat index " << comparison.worstIndex;
  std::printf("[  error   ] %s with %s (f16): max |xfc GPU artifact - xfc CPU "
              "artifact| = %.3g\n",
              param->testName().c_str(), pattern, comparison.maxAbsError);
}

TEST(GpuArtifact, TileAlignedPatternMatchesTheCpu) {
  // 77 tokens are two tiles: query tile 0 sees key tile 0 only.
  checkPatternOnTheGpu("tiles",
                       "block_sparse(b = 64, layout = [[1, 0], [1, "
                       "1]])",
                       "_tile_offsets");
}

// Patterns that cut through the kernel's 64 x 64 tiles: the bits of their
// partly allowed tiles go into the device code with the layout.
TEST(GpuArtifact, PatternsThroughTilesMatchTheCpu) {
  checkPatternOnTheGpu("window", "sliding_window(w = 16)", "_tile_masks");
  checkPatternOnTheGpu("strided",
                       "strided_local(l = 8) + strided_summary(l = 8)",
                       "_tile_masks");
  checkPatternOnTheGpu("bigbird",
                       "bigbird(b = 16, window = 3, global = [0], random = 1, "
                       "seed = 1)",
                       "_tile_masks");
}

// A pattern per head group ('|'): bert_like's 2 heads, each its own
// group, each group its own rows of the one layout.
TEST(GpuArtifact, HeadGroupPatternsMatchTheCpu) {
  checkPatternOnTheGpu(
      "groups", "sliding_window(w = 16) | dilated_sliding_window(w = 8, d = 2)",
      "_tile_masks");
}

/// Every golden model and shape but the longest (s128 repeats s77's
/// checks at four times the threads).
std::vector<GoldenCaseShape> gpuGoldenCases() {
  std::vector<GoldenCaseShape> cases;
  for (const GoldenCaseShape &c : listGoldenCaseShapes())
    if (c.shape.seqLen <= 77)
      cases.push_back(c);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    Goldens, GpuGoldenTest, ::testing::ValuesIn(gpuGoldenCases()),
    [](const ::testing::TestParamInfo<GoldenCaseShape> &info) {
      return info.param.testName();
    });

// Q, K, V, the FFN's hidden layer and a pre-LN stack's norms' outputs in
// the half type between kernels (--gpu-half-qkv, --gpu-half-ffn,
// --gpu-half-norm): their readers round them so anyway, so the outputs
// must be the same bit for bit, with the same launches; and the first two
// switches, alone, too (BERT-like). AIAYN (self- and cross-attention, FFNs
// with ReLU), BERT-like (GELU, 77 tokens: a ragged M) and GPT-like (pre-LN,
// head dim 80).
TEST(GpuArtifact, HalfActivationsChangeNoOutput) {
  const FakeDriver &fake = FakeDriver::get();
  ASSERT_TRUE(fake.complete()) << "cannot load " << XFC_FAKE_CUDA_PATH;
  for (const char *name :
       {"transformer_aiayn_s77_t13", "bert_like_s77", "gpt_like_s7"}) {
    SCOPED_TRACE(name);
    const GoldenCaseShape *param = findGoldenCase(name);
    ASSERT_NE(param, nullptr);
    GoldenData data;
    ASSERT_NO_FATAL_FAILURE(loadGoldenCase(*param, data));
    std::string error;
    struct Way {
      bool halfQkv, halfFfn, halfNorm;
      const char *name;
    };
    const Way ways[] = {{true, true, true, "all"},
                        {false, false, false, "none"},
                        {true, false, false, "qkv"},
                        {false, true, false, "ffn"}};
    // Each switch alone only for BERT-like, to keep the test short.
    const int count = std::string(name) == "bert_like_s77" ? 4 : 2;
    std::vector<float> outputs[4];
    uint64_t launches[4] = {0, 0, 0, 0};
    for (int w = 0; w < count; ++w) {
      const Way &way = ways[w];
      ScratchDir dir(std::string("gpu_half_") + way.name + "_" + name);
      GpuCompileOptions options;
      options.dtype = GpuGemmInput::F16;
      options.halfQkv = way.halfQkv;
      options.halfFfn = way.halfFfn;
      options.halfNorm = way.halfNorm;
      ASSERT_TRUE(compileForGpu(param->goldenCase.specPath, data.shapes,
                                dir.path(), error, options))
          << error;
      std::ifstream manifest(dir.path() + "/artifact/manifest.json");
      std::string text((std::istreambuf_iterator<char>(manifest)),
                       std::istreambuf_iterator<char>());
      EXPECT_EQ(text.find("Q, K, V in f32") == std::string::npos, way.halfQkv);
      EXPECT_EQ(text.find("FFN hidden in f32") == std::string::npos,
                way.halfFfn);
      EXPECT_EQ(text.find("norms' outputs in f32") == std::string::npos,
                way.halfNorm);
      CpuDevice device;
      runGpuArtifact(dir.path(), data, outputs[w], device);
      if (::testing::Test::HasFatalFailure())
        return;
      EXPECT_EQ(device.failure, "");
      launches[w] = device.launches;
    }
    for (int w = 1; w < count; ++w) {
      SCOPED_TRACE(ways[w].name);
      ASSERT_EQ(outputs[0].size(), outputs[w].size());
      EXPECT_EQ(std::memcmp(outputs[0].data(), outputs[w].data(),
                            outputs[0].size() * sizeof(float)),
                0)
          << "the half activations changed the output";
      EXPECT_EQ(launches[0], launches[w]);
    }
  }
}

} // namespace
