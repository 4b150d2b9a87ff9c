//===- GpuCodegenTest.cpp - PTX from gpu.modules, assembled by ptxas ------===//
//
// Part of xfc. A gpu.module through compiler/lib/GpuCodegen.cpp to PTX for
// every supported chip, each assembled by the CUDA toolkit's ptxas. Without
// ptxas the assembly is skipped with the reason printed, unless
// XFC_REQUIRE_PTXAS is set (.ci/run sets it: CI machines have the
// toolkit), which turns the skip into a failure.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/GpuCodegen.h"
#include "Ptxas.h"
#include "xfc/Compiler/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace {

/// y[i] = a * x[i] for i < n: one thread per element.
constexpr const char *kScaleKernel = R"mlir(
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scale(%x: memref<4096xf32>, %y: memref<4096xf32>, %n: index,
                    %a: f32) kernel {
      %bid = gpu.block_id x
      %bdim = gpu.block_dim x
      %tid = gpu.thread_id x
      %t = arith.muli %bid, %bdim : index
      %i = arith.addi %t, %tid : index
      %in = arith.cmpi ult, %i, %n : index
      scf.if %in {
        %v = memref.load %x[%i] : memref<4096xf32>
        %r = arith.mulf %v, %a : f32
        memref.store %r, %y[%i] : memref<4096xf32>
      }
      gpu.return
    }
  }
}
)mlir";

class GpuCodegen : public ::testing::Test {
protected:
  void SetUp() override {
    xfc::registerXFCDialects(registry);
    xfc::registerXFCPassesAndPipelines();
  }

  /// The PTX of kScaleKernel for `chip`.
  std::string ptxFor(const std::string &chip) {
    mlir::MLIRContext context(registry);
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(kScaleKernel, &context);
    EXPECT_TRUE(module);
    if (!module)
      return "";
    xfc::GpuTarget target;
    std::string error;
    EXPECT_TRUE(xfc::selectGpuTarget(chip, target, error)) << error;
    std::vector<xfc::PtxModule> ptx;
    EXPECT_TRUE(xfc::emitPtx(*module, target, ptx, error)) << error;
    EXPECT_EQ(ptx.size(), 1u);
    if (ptx.size() != 1)
      return "";
    EXPECT_EQ(ptx[0].name, "kernels");
    return ptx[0].ptx;
  }

  mlir::DialectRegistry registry;
};

TEST_F(GpuCodegen, SelectTarget) {
  xfc::GpuTarget target;
  std::string error;
  ASSERT_TRUE(xfc::selectGpuTarget("sm_90", target, error));
  EXPECT_EQ(target.ptxFeatures, "+ptx78");
  ASSERT_TRUE(xfc::selectGpuTarget("sm_80", target, error));
  EXPECT_EQ(target.ptxFeatures, "+ptx70");
  ASSERT_TRUE(xfc::selectGpuTarget("sm_90a", target, error));
  EXPECT_EQ(target.ptxFeatures, "+ptx80");
  EXPECT_FALSE(xfc::selectGpuTarget("sm_75", target, error));
  EXPECT_EQ(error, "--gpu-arch is 'sm_75'; expected sm_80, sm_90 or sm_90a");
}

TEST_F(GpuCodegen, PtxForEveryChipAssembles) {
  std::string ptxas = xfc::test::ptxasOrSkipReason();
  for (const char *chip : {"sm_80", "sm_90", "sm_90a"}) {
    SCOPED_TRACE(chip);
    std::string ptx = ptxFor(chip);
    EXPECT_NE(ptx.find(std::string(".target ") + chip), std::string::npos)
        << ptx;
    EXPECT_NE(ptx.find(".visible .entry scale("), std::string::npos) << ptx;
    // Bare pointers: one parameter per argument (x, y, n, a), as the
    // runtime's launch passes them, not a memref descriptor's five.
    EXPECT_NE(ptx.find("scale_param_3"), std::string::npos) << ptx;
    EXPECT_EQ(ptx.find("scale_param_4"), std::string::npos) << ptx;
    // The element loop is the thread index, bounds-checked.
    EXPECT_NE(ptx.find("%tid.x"), std::string::npos);
    EXPECT_NE(ptx.find("mul.rn.f32"), std::string::npos);
    if (ptxas.empty())
      continue;
    xfc::test::expectAssembles(ptxas, ptx, chip, "the scale kernel");
  }
}

TEST_F(GpuCodegen, PtxasErrorsAreReported) {
  std::string ptxas = xfc::test::ptxasOrSkipReason();
  if (ptxas.empty())
    GTEST_SKIP() << "no ptxas";
  std::string ptx = ptxFor("sm_90");
  // An instruction ptxas does not know.
  size_t at = ptx.find("mul.rn.f32");
  ASSERT_NE(at, std::string::npos);
  ptx.replace(at, 10, "mul.xx.f32");
  std::string error;
  EXPECT_FALSE(xfc::assemblePtx(ptxas, ptx, "sm_90", "/dev/null", error));
  EXPECT_NE(error.find("-arch=sm_90 rejected the PTX (exit code"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("Unknown modifier '.xx'"), std::string::npos) << error;
}

TEST_F(GpuCodegen, LoweringErrorsAreReported) {
  // A tensor op inside a kernel: nothing lowers it to NVVM.
  constexpr const char *kUnlowerable = R"mlir(
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @bad(%y: memref<4xf32>) kernel {
      %c0 = arith.constant 0 : index
      %t = tensor.empty() : tensor<4xf32>
      %v = tensor.extract %t[%c0] : tensor<4xf32>
      memref.store %v, %y[%c0] : memref<4xf32>
      gpu.return
    }
  }
}
)mlir";
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kUnlowerable, &context);
  ASSERT_TRUE(module);
  xfc::GpuTarget target;
  std::string error;
  ASSERT_TRUE(xfc::selectGpuTarget("sm_90", target, error));
  std::vector<xfc::PtxModule> ptx;
  EXPECT_FALSE(xfc::emitPtx(*module, target, ptx, error));
  EXPECT_NE(error.find("PTX generation for sm_90 failed: "), std::string::npos)
      << error;
  // The diagnostics say where and what.
  EXPECT_NE(error.find("loc(\"-\":5:13): LLVM Translation failed"),
            std::string::npos)
      << error;
  EXPECT_TRUE(ptx.empty());
}

} // namespace
