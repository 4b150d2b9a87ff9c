//===- GpuLaunchTest.cpp - Host code launches through the runtime --------===//
//
// Part of xfc. The launch ABI end to end, without a GPU: a host function
// with three gpu.launch_func ops goes through xf-gpu-launch-to-runtime and
// the LLVM lowering into a shared library (compiler/lib/Codegen.cpp), which
// is loaded and called with a run context (runtime/src/GpuLaunch.h) whose
// driver is the stand-in libcuda of tests/unit/runtime (XFC_LIBCUDA). The
// stand-in hands every cuLaunchKernel to a hook: the kernels, grids,
// blocks, shared memory, stream and each argument's value must be those
// the host code launched with. Then a failing launch: its message names
// the kernel, the call and the error, and the launches after it are
// skipped. Last, the same launches recorded by stream capture into a CUDA
// graph: replaying it must launch them again with the values they were
// recorded with.
//
//===----------------------------------------------------------------------===//
#include "GpuLaunch.h"
#include "FakeCudaDriver.h"

#include "xfc/Compiler/Codegen.h"
#include "xfc/Compiler/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <dlfcn.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

/// The host code: scale(x) twice (x then y), then add(x, y), with a
/// dynamic shared memory size on the first launch. The kernels' bodies do
/// not matter here (nothing runs them); their launches do.
constexpr const char *kHost = R"mlir(
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scale(%x: memref<256xf32>, %n: index, %a: f32) kernel {
      gpu.return
    }
    gpu.func @add(%x: memref<256xf32>, %y: memref<256xf32>) kernel {
      gpu.return
    }
  }
  func.func @host(%run: !llvm.ptr {xf.gpu_run}, %x: memref<256xf32>,
                  %y: memref<256xf32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c128 = arith.constant 128 : index
    %c256 = arith.constant 256 : index
    %a = arith.constant 2.5 : f32
    %b = arith.constant -1.0 : f32
    %smem = arith.constant 4096 : i32
    gpu.launch_func @kernels::@scale blocks in (%c2, %c1, %c1)
        threads in (%c128, %c1, %c1) dynamic_shared_memory_size %smem
        args(%x : memref<256xf32>, %c256 : index, %a : f32)
    gpu.launch_func @kernels::@scale blocks in (%c2, %c3, %c1)
        threads in (%c128, %c1, %c1)
        args(%y : memref<256xf32>, %c128 : index, %b : f32)
    gpu.launch_func @kernels::@add blocks in (%c1, %c1, %c1)
        threads in (%c256, %c1, %c1)
        args(%x : memref<256xf32>, %y : memref<256xf32>)
    return
  }
}
)mlir";

/// A launch as recorded during the call, with the arguments' values read
/// in the types the host code passed.
struct Recorded {
  void *function;
  unsigned grid[3], block[3], sharedBytes;
  void *stream;
  void *pointer;   ///< Argument 0 (a memref: its address).
  int64_t integer; ///< Argument 1 of scale (n).
  float scalar;    ///< Argument 2 of scale (a).
  void *second;    ///< Argument 1 of add (y's address).
};
std::vector<Recorded> recorded;
void *scaleFunction = reinterpret_cast<void *>(0x1000);
void *addFunction = reinterpret_cast<void *>(0x2000);

void recordLaunch(const FakeLaunch *launch) {
  Recorded r{};
  r.function = reinterpret_cast<void *>(launch->function);
  for (int d = 0; d < 3; ++d) {
    r.grid[d] = launch->grid[d];
    r.block[d] = launch->block[d];
  }
  r.sharedBytes = launch->sharedBytes;
  r.stream = reinterpret_cast<void *>(launch->stream);
  r.pointer = *static_cast<void **>(launch->parameters[0]);
  if (r.function == scaleFunction) {
    r.integer = *static_cast<int64_t *>(launch->parameters[1]);
    r.scalar = *static_cast<float *>(launch->parameters[2]);
  } else {
    r.second = *static_cast<void **>(launch->parameters[1]);
  }
  recorded.push_back(r);
}

using HostFunction = void (*)(void *run, float *x, float *y);

class GpuLaunch : public ::testing::Test {
protected:
  void SetUp() override {
    setenv("XFC_LIBCUDA", XFC_FAKE_CUDA_PATH, 1);
    unsetenv("XFC_FAKE_CUDA_FAIL");
    std::string error;
    driver = xfc::cuda::driver(error);
    ASSERT_NE(driver, nullptr) << error;
    fake = dlopen(XFC_FAKE_CUDA_PATH, RTLD_NOW);
    ASSERT_NE(fake, nullptr) << dlerror();
    setHook = reinterpret_cast<FakeSetLaunchHook>(
        dlsym(fake, "xfc_fake_cuda_set_launch_hook"));
    attempts = reinterpret_cast<int (*)()>(
        dlsym(fake, "xfc_fake_cuda_launch_attempts"));
    ASSERT_TRUE(setHook && attempts);
    setHook(recordLaunch);
    recorded.clear();
    ASSERT_NO_FATAL_FAILURE(buildHost());
  }
  void TearDown() override {
    if (setHook)
      setHook(nullptr);
    if (library)
      dlclose(library);
    if (fake)
      dlclose(fake);
    llvm::sys::fs::remove_directories(dir);
  }

  /// kHost through the launch lowering and the LLVM lowering into a
  /// shared library; `host` its function.
  void buildHost() {
    mlir::DialectRegistry registry;
    xfc::registerXFCDialects(registry);
    xfc::registerXFCPassesAndPipelines();
    mlir::MLIRContext context(registry);
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(kHost, &context);
    ASSERT_TRUE(module);
    mlir::PassManager pm(&context);
    std::string diagnostics;
    llvm::raw_string_ostream os(diagnostics);
    ASSERT_TRUE(mlir::succeeded(mlir::parsePassPipeline(
        "xf-gpu-launch-to-runtime,finalize-memref-to-llvm,"
        "convert-arith-to-llvm,"
        "convert-func-to-llvm{use-bare-ptr-memref-call-conv},"
        "reconcile-unrealized-casts",
        pm, os)))
        << diagnostics;
    ASSERT_TRUE(mlir::succeeded(pm.run(*module)));
    dir = std::string(XFC_BINARY_DIR) + "/tests/gpu-launch-" +
          std::to_string(getpid());
    llvm::sys::fs::create_directories(dir);
    xfc::TargetDescription target;
    std::string error;
    ASSERT_TRUE(xfc::selectTarget("native", target, error)) << error;
    ASSERT_TRUE(xfc::emitSharedLibrary(*module, target, dir + "/host.o",
                                       dir + "/host.so", "", error))
        << error;
    library = dlopen((dir + "/host.so").c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(library, nullptr) << dlerror();
    host = reinterpret_cast<HostFunction>(dlsym(library, "host"));
    ASSERT_NE(host, nullptr) << dlerror();
  }

  const xfc::cuda::Driver *driver = nullptr;
  void *fake = nullptr, *library = nullptr;
  FakeSetLaunchHook setHook = nullptr;
  int (*attempts)() = nullptr;
  std::string dir;
  HostFunction host = nullptr;
};

/// The three launches of kHost, from recorded[at]: on `stream`, with x
/// and y.
void expectTheHostLaunches(size_t at, void *stream, const float *x,
                           const float *y) {
  ASSERT_GE(recorded.size(), at + 3);
  const Recorded &first = recorded[at], &second = recorded[at + 1],
                 &third = recorded[at + 2];
  EXPECT_EQ(first.function, scaleFunction);
  EXPECT_EQ(first.grid[0], 2u);
  EXPECT_EQ(first.block[0], 128u);
  EXPECT_EQ(first.sharedBytes, 4096u);
  EXPECT_EQ(first.stream, stream);
  EXPECT_EQ(first.pointer, x);
  EXPECT_EQ(first.integer, 256);
  EXPECT_EQ(first.scalar, 2.5f);

  EXPECT_EQ(second.function, scaleFunction);
  EXPECT_EQ(second.grid[1], 3u);
  EXPECT_EQ(second.sharedBytes, 0u);
  EXPECT_EQ(second.pointer, y);
  EXPECT_EQ(second.integer, 128);
  EXPECT_EQ(second.scalar, -1.0f);

  EXPECT_EQ(third.function, addFunction);
  EXPECT_EQ(third.block[0], 256u);
  EXPECT_EQ(third.pointer, x);
  EXPECT_EQ(third.second, y);
}

TEST_F(GpuLaunch, HostCodeLaunchesThroughTheRunContext) {
  xfc::GpuRun run;
  xfc::cuda::CUstream stream = nullptr;
  ASSERT_EQ(driver->cuStreamCreate(&stream, 1), xfc::cuda::CUDA_SUCCESS);
  xfc::initGpuRun(run, driver, stream,
                  {reinterpret_cast<xfc::cuda::CUfunction>(scaleFunction),
                   reinterpret_cast<xfc::cuda::CUfunction>(addFunction)},
                  {"scale", "add"});
  std::vector<float> x(256), y(256);
  host(&run, x.data(), y.data());
  EXPECT_EQ(run.failure, "");
  EXPECT_EQ(run.launches, 3u);
  ASSERT_EQ(recorded.size(), 3u);
  expectTheHostLaunches(0, stream, x.data(), y.data());
  EXPECT_EQ(driver->cuStreamDestroy(stream), xfc::cuda::CUDA_SUCCESS);
}

/// kHost's kernels as PTX, so that the driver knows their parameters (a
/// graph keeps a copy of each launch's).
constexpr const char *kKernelsPtx = R"ptx(
.version 7.8
.target sm_80
.address_size 64
.visible .entry scale(.param .u64 x, .param .u64 n, .param .f32 a) { ret; }
.visible .entry add(.param .u64 x, .param .u64 y) { ret; }
)ptx";

TEST_F(GpuLaunch, CapturedGraphReplaysTheRecordedLaunches) {
  using namespace xfc::cuda;
  CUmodule module = nullptr;
  CUfunction scale = nullptr, add = nullptr;
  ASSERT_EQ(driver->cuModuleLoadData(&module, kKernelsPtx), CUDA_SUCCESS);
  ASSERT_EQ(driver->cuModuleGetFunction(&scale, module, "scale"), CUDA_SUCCESS);
  ASSERT_EQ(driver->cuModuleGetFunction(&add, module, "add"), CUDA_SUCCESS);
  scaleFunction = scale;
  addFunction = add;
  CUstream stream = nullptr;
  ASSERT_EQ(driver->cuStreamCreate(&stream, 1), CUDA_SUCCESS);
  xfc::GpuRun run;
  xfc::initGpuRun(run, driver, stream, {scale, add}, {"scale", "add"});
  std::vector<float> x(256), y(256);

  // Recording runs nothing.
  ASSERT_EQ(driver->cuStreamBeginCapture(stream, kStreamCaptureThreadLocal),
            CUDA_SUCCESS);
  host(&run, x.data(), y.data());
  EXPECT_EQ(run.failure, "");
  EXPECT_EQ(attempts(), 3);
  EXPECT_TRUE(recorded.empty());
  CUgraph graph = nullptr;
  ASSERT_EQ(driver->cuStreamEndCapture(stream, &graph), CUDA_SUCCESS);
  CUgraphExec exec = nullptr;
  ASSERT_EQ(driver->cuGraphInstantiateWithFlags(&exec, graph, 0), CUDA_SUCCESS);
  EXPECT_EQ(driver->cuGraphDestroy(graph), CUDA_SUCCESS);

  // Each replay launches the three kernels with the recorded values,
  // though the host code's argument slots are long gone.
  for (int replay = 0; replay < 2; ++replay)
    EXPECT_EQ(driver->cuGraphLaunch(exec, stream), CUDA_SUCCESS);
  EXPECT_EQ(attempts(), 3) << "a replay is not a cuLaunchKernel";
  ASSERT_EQ(recorded.size(), 6u);
  expectTheHostLaunches(0, stream, x.data(), y.data());
  expectTheHostLaunches(3, stream, x.data(), y.data());
  EXPECT_EQ(driver->cuGraphExecDestroy(exec), CUDA_SUCCESS);

  // A launch the driver refuses while recording invalidates the capture.
  recorded.clear();
  ASSERT_EQ(driver->cuStreamBeginCapture(stream, kStreamCaptureThreadLocal),
            CUDA_SUCCESS);
  xfc::resetGpuRun(run);
  setenv("XFC_FAKE_CUDA_FAIL", "cuLaunchKernel:2", 1);
  host(&run, x.data(), y.data());
  unsetenv("XFC_FAKE_CUDA_FAIL");
  EXPECT_EQ(run.failure, "kernel 'scale': cuLaunchKernel failed: "
                         "CUDA_ERROR_OUT_OF_MEMORY (out of memory)");
  EXPECT_EQ(driver->cuStreamEndCapture(stream, &graph), 901)
      << "expected CUDA_ERROR_STREAM_CAPTURE_INVALIDATED";
  EXPECT_EQ(graph, nullptr);
  EXPECT_EQ(driver->cuStreamDestroy(stream), CUDA_SUCCESS);
  EXPECT_EQ(driver->cuModuleUnload(module), CUDA_SUCCESS);
  scaleFunction = reinterpret_cast<void *>(0x1000);
  addFunction = reinterpret_cast<void *>(0x2000);
}

TEST_F(GpuLaunch, FirstFailureIsKeptAndLaterLaunchesSkipped) {
  xfc::GpuRun run;
  xfc::initGpuRun(run, driver, nullptr,
                  {reinterpret_cast<xfc::cuda::CUfunction>(scaleFunction),
                   reinterpret_cast<xfc::cuda::CUfunction>(addFunction)},
                  {"scale", "add"});
  std::vector<float> x(256), y(256);
  setenv("XFC_FAKE_CUDA_FAIL", "cuLaunchKernel:700", 1);
  host(&run, x.data(), y.data());
  unsetenv("XFC_FAKE_CUDA_FAIL");
  EXPECT_EQ(run.failedResult, 700);
  // The stand-in driver cannot describe 700: the name is cuda.h's.
  EXPECT_EQ(run.failure, "kernel 'scale': cuLaunchKernel failed: "
                         "CUDA_ERROR_ILLEGAL_ADDRESS (error 700)");
  // The second and third launches never reached the driver.
  EXPECT_EQ(attempts(), 1);
  EXPECT_TRUE(recorded.empty());

  // After a reset the next run launches again.
  xfc::resetGpuRun(run);
  host(&run, x.data(), y.data());
  EXPECT_EQ(run.failure, "");
  EXPECT_EQ(recorded.size(), 3u);
}

TEST_F(GpuLaunch, InvalidLaunchesAreRefusedBeforeTheDriver) {
  xfc::GpuRun run;
  // A model of one kernel: the host's launch of kernel 1 is refused.
  xfc::initGpuRun(run, driver, nullptr,
                  {reinterpret_cast<xfc::cuda::CUfunction>(scaleFunction)},
                  {"scale"});
  std::vector<float> x(256), y(256);
  host(&run, x.data(), y.data());
  EXPECT_EQ(run.failedResult, -1);
  EXPECT_EQ(run.failure, "launch of kernel 1: the model has 1 kernels");
  EXPECT_EQ(recorded.size(), 2u);

  xfc::resetGpuRun(run);
  void *params[1] = {nullptr};
  EXPECT_EQ(run.launch(&run, 0, 0, 1, 1, 32, 1, 1, 0, params), -1);
  EXPECT_EQ(run.failure, "kernel 'scale': grid (0, 1, 1) or block (32, 1, "
                         "1) has a dimension outside [1, 2^32)");
  xfc::resetGpuRun(run);
  EXPECT_EQ(run.launch(&run, 0, 1, 1, 1, 32, 1, 1, -4, params), -1);
  EXPECT_EQ(run.failure,
            "kernel 'scale': negative dynamic shared memory (-4 bytes)");
}

} // namespace
