//===- GpuModelKernelsTest.cpp - Every kernel of the models to ptxas ------===//
//
// Part of xfc. The device code of whole models (compiler/lib/GpuCodegen.cpp,
// emitModelPtx: the model and linalg stages, the generic GPU mapping, the
// NVPTX backend) for sm_80 and sm_90, every kernel assembled by the CUDA
// toolkit's ptxas: the end-to-end golden models (a BERT-like encoder with a
// padding mask, a GPT-like decoder with head_dim 80, the encoder-decoder of
// "Attention Is All You Need", Transformer-XL) and an encoder whose
// attention is block-sparse. A ptxas error fails the test; without ptxas
// the assembly is skipped with the reason printed, unless
// XFC_REQUIRE_PTXAS is set (.ci/run sets it).
//
//===----------------------------------------------------------------------===//
#include "Ptxas.h"
#include "xfc/Compiler/GpuCodegen.h"
#include "xfc/Compiler/Pipelines.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Frontend/SpecParser.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct ModelCase {
  const char *name;
  const char *spec; ///< Under tests/.
  int64_t seqLen, tgtLen;
  const char *attention; ///< A pattern for every layer, or "".
};

const ModelCase kModels[] = {
    {"bert_like", "e2e/golden/bert_like/spec.json", 7, 0, ""},
    {"gpt_like", "e2e/golden/gpt_like/spec.json", 7, 0, ""},
    {"transformer_aiayn", "e2e/golden/transformer_aiayn/spec.json", 7, 5, ""},
    {"transformer_xl", "CLI/Inputs/transformer-xl.json", 7, 0, ""},
    {"bert_like_block_sparse", "e2e/golden/bert_like/spec.json", 64, 0,
     "block_sparse(b = 16, layout = [[1, 0, 0, 0], [1, 1, 0, 0], "
     "[0, 1, 1, 0], [1, 0, 1, 1]])"},
};

class GpuModelKernels : public ::testing::TestWithParam<ModelCase> {
protected:
  void SetUp() override {
    xfc::registerXFCDialects(registry);
    xfc::registerXFCPassesAndPipelines();
  }
  mlir::DialectRegistry registry;
};

TEST_P(GpuModelKernels, EveryKernelAssembles) {
  const ModelCase &c = GetParam();
  xfc::ModelSpec spec;
  xfc::SpecError specError;
  std::string path = std::string(XFC_SOURCE_DIR) + "/tests/" + c.spec;
  ASSERT_TRUE(xfc::parseModelSpecFile(path, spec, specError))
      << specError.message(path);
  if (*c.attention)
    ASSERT_TRUE(xfc::overrideAttentionPattern(spec, c.attention, specError))
        << specError.message();
  xfc::ShapeOptions shapes;
  shapes.batch = 2;
  shapes.seqLen = c.seqLen;
  shapes.tgtLen = c.tgtLen;
  ASSERT_TRUE(xfc::validateShapeOptions(spec, shapes, specError))
      << specError.message();

  std::string ptxas = xfc::test::ptxasOrSkipReason();
  for (const char *chip : {"sm_80", "sm_90"}) {
    SCOPED_TRACE(chip);
    mlir::MLIRContext context(registry);
    context.loadAllAvailableDialects();
    mlir::OwningOpRef<mlir::ModuleOp> module =
        xfc::buildModelModule(context, spec, shapes);
    ASSERT_TRUE(module);
    xfc::GpuTarget target;
    std::string error;
    ASSERT_TRUE(xfc::selectGpuTarget(chip, target, error)) << error;
    std::vector<xfc::PtxModule> modules;
    ASSERT_TRUE(xfc::emitModelPtx(*module, target, modules, error)) << error;
    // One device module holds every kernel; every op of the model is at
    // least one kernel.
    ASSERT_EQ(modules.size(), 1u);
    const std::string &ptx = modules.front().ptx;
    size_t entries = 0;
    for (size_t at = ptx.find(".visible .entry"); at != std::string::npos;
         at = ptx.find(".visible .entry", at + 1))
      ++entries;
    EXPECT_GE(entries, 10u);
    std::printf("%s %s: %zu kernels\n", c.name, chip, entries);
    if (!ptxas.empty())
      xfc::test::expectAssembles(ptxas, ptx, chip, modules.front().name);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, GpuModelKernels, ::testing::ValuesIn(kModels),
                         [](const ::testing::TestParamInfo<ModelCase> &info) {
                           return std::string(info.param.name);
                         });

} // namespace
