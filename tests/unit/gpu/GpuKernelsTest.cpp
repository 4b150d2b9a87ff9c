//===- GpuKernelsTest.cpp - Device kernels generated and assembled -------===//
//
// Part of xfc. The kernels of compiler/lib/GpuKernels.cpp (GEMM with fused
// epilogue, f16/bf16 on tensor cores and f32 with FMAs; residual +
// LayerNorm; fused attention) for the Transformer shapes and a few others:
// generated, lowered to PTX for sm_80 and sm_90, and assembled by ptxas.
// Each kernel's PTX must hold the instructions that do its work (mma.sync,
// ldmatrix, fma, shfl, ex2), so an empty or wrongly lowered kernel cannot
// pass; the attention kernels must also assemble without spills (ptxas -v).
// Without ptxas the assembly is skipped with the reason printed, unless
// XFC_REQUIRE_PTXAS is set. Numerics need a GPU (or the emulator of
// GpuKernelsEmulationTest.cpp) and are not checked here.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/GpuKernels.h"
#include "Ptxas.h"
#include "xfc/Compiler/GpuCodegen.h"
#include "xfc/Compiler/Pipelines.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

namespace {

using xfc::GpuActivation;
using xfc::GpuAttentionSpec;
using xfc::GpuGemmInput;
using xfc::GpuGemmSpec;
using xfc::GpuKernelLaunch;
using xfc::GpuKernelSet;
using xfc::GpuLayerNormSpec;

/// The M x N x K shapes every GEMM variant is generated for: a BERT-base
/// layer's projections (128 tokens, d_model 768, FFN 3072), the smallest
/// whole tile, and a ragged M (77 tokens: the last block row is partly
/// outside C).
struct Shape {
  int64_t m, n, k;
};
const Shape kGemmShapes[] = {{128, 768, 768},
                             {128, 3072, 768},
                             {128, 768, 3072},
                             {64, 64, 32},
                             {77, 768, 768}};

/// The text of PTX entry `name`: from its `.entry` to the next one.
std::string entryBody(const std::string &ptx, const std::string &name) {
  size_t begin = ptx.find(".visible .entry " + name + "(");
  if (begin == std::string::npos)
    return "";
  size_t end = ptx.find(".visible .entry ", begin + 1);
  return ptx.substr(begin, end == std::string::npos ? end : end - begin);
}

size_t count(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1))
    ++n;
  return n;
}

/// The message for `set`, which must be refused.
std::string refusal(const GpuKernelSet &set) {
  std::string source, error;
  std::vector<GpuKernelLaunch> launches;
  EXPECT_FALSE(xfc::gpuKernelSource(set, source, launches, error));
  return error;
}

class GpuKernels : public ::testing::Test {
protected:
  void SetUp() override {
    xfc::registerXFCDialects(registry);
    xfc::registerXFCPassesAndPipelines();
  }

  /// The PTX of `set` for `chip`, assembled by ptxas when there is one;
  /// "" after a failure.
  std::string compile(const GpuKernelSet &set, const std::string &chip,
                      std::vector<GpuKernelLaunch> &launches) {
    mlir::MLIRContext context(registry);
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
    std::string error;
    EXPECT_TRUE(xfc::buildGpuKernels(*module, set, launches, error)) << error;
    if (!error.empty())
      return "";
    xfc::GpuTarget target;
    EXPECT_TRUE(xfc::selectGpuTarget(chip, target, error)) << error;
    std::vector<xfc::PtxModule> ptx;
    EXPECT_TRUE(xfc::emitPtx(*module, target, ptx, error)) << error;
    EXPECT_EQ(ptx.size(), 1u);
    if (ptx.size() != 1)
      return "";
    EXPECT_EQ(ptx[0].name, set.moduleName);
    if (!ptxas.empty()) {
      xfc::test::expectAssembles(ptxas, ptx[0].ptx, chip, ptx[0].name);
    }
    return ptx[0].ptx;
  }

  /// Every GEMM shape for `input`, with the activations and the residual
  /// taking turns, for sm_80 and sm_90; each kernel's PTX must hold each
  /// instruction of `expected` at least as often as it says.
  void checkGemms(GpuGemmInput input,
                  const std::vector<std::pair<std::string, size_t>> &expected,
                  bool aInF32 = false,
                  xfc::GpuGemmTile tile = xfc::GpuGemmTile::Small,
                  std::vector<const char *> chips = {"sm_80", "sm_90"}) {
    ptxas = xfc::test::ptxasOrSkipReason();
    GpuKernelSet set;
    const GpuActivation activations[] = {
        GpuActivation::None, GpuActivation::Relu, GpuActivation::GeluTanh};
    int variant = 0;
    bool wgmma = xfc::isWgmmaTile(tile);
    int64_t tileM = tile == xfc::GpuGemmTile::Large ||
                            tile == xfc::GpuGemmTile::Wgmma128x128
                        ? 128
                        : 64;
    int64_t tileN = wgmma ? 128 : tileM;
    for (const Shape &shape : kGemmShapes)
      for (GpuActivation activation : activations) {
        if (shape.n % tileN != 0 || (wgmma && shape.k % 64 != 0))
          continue;
        GpuGemmSpec gemm;
        gemm.name = "gemm_" + std::to_string(shape.m) + "x" +
                    std::to_string(shape.n) + "x" + std::to_string(shape.k) +
                    "_" + std::to_string(int(activation));
        gemm.m = shape.m;
        gemm.n = shape.n;
        gemm.k = shape.k;
        gemm.input = input;
        gemm.activation = activation;
        gemm.residual = variant++ % 2 == 0;
        gemm.aInF32 = aInF32;
        gemm.tile = tile;
        set.gemms.push_back(gemm);
      }
    for (const char *chip : chips) {
      SCOPED_TRACE(chip);
      std::vector<GpuKernelLaunch> launches;
      std::string ptx = compile(set, chip, launches);
      ASSERT_FALSE(ptx.empty());
      ASSERT_EQ(launches.size(), set.gemms.size());
      for (size_t i = 0; i < set.gemms.size(); ++i) {
        const GpuGemmSpec &gemm = set.gemms[i];
        SCOPED_TRACE(gemm.name);
        std::string body = entryBody(ptx, gemm.name);
        ASSERT_FALSE(body.empty()) << ptx;
        for (const auto &[instruction, times] : expected)
          EXPECT_GE(count(body, instruction), times) << instruction;
        // The epilogue: the activation, and C (and the residual) stored.
        if (gemm.activation == GpuActivation::GeluTanh)
          EXPECT_NE(body.find("ex2.approx.f32"), std::string::npos);
        if (gemm.activation == GpuActivation::Relu)
          EXPECT_NE(body.find("max.NaN.f32"), std::string::npos);
        EXPECT_NE(body.find("st.global"), std::string::npos);
        EXPECT_EQ(launches[i].kernel, gemm.name);
        EXPECT_EQ(launches[i].grid[0], gemm.n / tileN);
        EXPECT_EQ(launches[i].grid[1], (gemm.m + tileM - 1) / tileM);
        EXPECT_EQ(launches[i].block[0], tileM == 128 ? 256 : 128);
        EXPECT_EQ(launches[i].arguments.size(), gemm.residual ? 5u : 4u);
      }
    }
  }

  mlir::DialectRegistry registry;
  std::string ptxas;
};

TEST_F(GpuKernels, GemmF16OnTensorCoresAssembles) {
  // Per K step of 32, each warp issues 2 x 8 mma.sync, and fragments come
  // from shared memory through ldmatrix (A 2 x 2, B 2 x 2 transposed);
  // the tiles arrive by cp.async (A and B 2 each a thread, in the loop and
  // in the 2 steps of the prologue), 3 stages deep.
  std::vector<std::pair<std::string, size_t>> expected{
      {"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32", 16},
      {"ldmatrix.sync.aligned.m8n8.x4.shared.b16", 4},
      {"ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16", 4},
      {"cp.async.cg.shared.global", 4},
      {"cp.async.commit_group", 3},
      {"cp.async.wait_group \t1;", 1}};
  checkGemms(GpuGemmInput::F16, expected);
  // The 128x128 tile: warps of 64x32 issue 2 x 16 mma.sync a K step, and
  // 2 stages wait for all but none.
  expected[0].second = 32;
  expected[4].second = 2;
  expected[5].first = "cp.async.wait_group \t0;";
  checkGemms(GpuGemmInput::F16, expected, /*aInF32=*/false,
             xfc::GpuGemmTile::Large);
}

TEST_F(GpuKernels, GemmBf16OnTensorCoresAssembles) {
  std::vector<std::pair<std::string, size_t>> expected{
      {"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", 16},
      {"ldmatrix.sync.aligned.m8n8.x4.shared.b16", 4},
      {"ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16", 4},
      {"cp.async.cg.shared.global", 4}};
  checkGemms(GpuGemmInput::BF16, expected);
  expected[0].second = 32;
  checkGemms(GpuGemmInput::BF16, expected, /*aInF32=*/false,
             xfc::GpuGemmTile::Large);
}

// The GEMMs of a model compiled with --dtype=f16 or bf16: A is read as f32
// (two 16-byte loads per 8 elements, for each of a thread's 2 copies) and
// converted (cvt.rn) on its way to shared memory; B still comes by
// cp.async.
TEST_F(GpuKernels, GemmWithF32AOnTensorCoresAssembles) {
  checkGemms(GpuGemmInput::F16,
             {{"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32", 16},
              {"cvt.rn.f16", 1},
              {"ld.global.v4.b32", 4}},
             /*aInF32=*/true);
  checkGemms(GpuGemmInput::BF16,
             {{"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", 16},
              {"cvt.rn.bf16", 1},
              {"ld.global.v4.b32", 4},
              {"cp.async.cg.shared.global", 2}},
             /*aInF32=*/true);
  checkGemms(GpuGemmInput::F16,
             {{"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32", 32},
              {"cvt.rn.f16", 1},
              {"ld.global.v4.b32", 4}},
             /*aInF32=*/true, xfc::GpuGemmTile::Large);
}

// sm_90a: per K step of 64, each warpgroup issues 4 wgmma.mma_async
// m64n128k16 reading A (K-major) and B (N-major, imm-trans-b 1) from
// shared memory, with one batch in flight; the stages (4 of them, by
// cp.async) are fenced for the tensor cores' proxy and live in dynamic
// shared memory, declared as CUDA C++'s `extern __shared__`.
TEST_F(GpuKernels, GemmOnWarpgroupMmaAssembles) {
  struct Variant {
    xfc::GpuGemmTile tile;
    GpuGemmInput input;
    bool aInF32;
  };
  for (auto [tile, input, aInF32] :
       {Variant{xfc::GpuGemmTile::Wgmma64x128, GpuGemmInput::F16, false},
        Variant{xfc::GpuGemmTile::Wgmma64x128, GpuGemmInput::BF16, true},
        Variant{xfc::GpuGemmTile::Wgmma128x128, GpuGemmInput::F16, true},
        Variant{xfc::GpuGemmTile::Wgmma128x128, GpuGemmInput::BF16, false}}) {
    std::string t = input == GpuGemmInput::BF16 ? "bf16" : "f16";
    SCOPED_TRACE(
        t + (aInF32 ? ", A in f32" : "") +
        (tile == xfc::GpuGemmTile::Wgmma64x128 ? ", 64x128" : ", 128x128"));
    std::vector<std::pair<std::string, size_t>> expected{
        {"wgmma.mma_async.sync.aligned.m64n128k16.f32." + t + "." + t, 4},
        {"wgmma.fence.sync.aligned;", 1},
        {"wgmma.commit_group.sync.aligned;", 1},
        {"wgmma.wait_group.sync.aligned \t1;", 1},
        {"wgmma.wait_group.sync.aligned \t0;", 1},
        {"fence.proxy.async.shared::cta;", 1},
        {"cp.async.cg.shared.global", aInF32 ? 4u : 8u},
        {"cp.async.wait_group \t1;", 1}};
    if (aInF32)
      expected.push_back({"cvt.rn." + t, 1});
    checkGemms(input, expected, aInF32, tile, {"sm_90a"});
  }
  // The immediates: scale-d from a predicate, A and B scaled by 1, A not
  // transposed (K-major), B transposed (N-major).
  GpuKernelSet set;
  GpuGemmSpec gemm;
  gemm.name = "wgmma";
  gemm.m = 128, gemm.n = 128, gemm.k = 64;
  gemm.tile = xfc::GpuGemmTile::Wgmma64x128;
  set.gemms.push_back(gemm);
  std::vector<GpuKernelLaunch> launches;
  std::string ptx = compile(set, "sm_90a", launches);
  EXPECT_NE(ptx.find(", p, 1,  1, 0,  1;"), std::string::npos) << ptx;
  EXPECT_NE(ptx.find(".extern .shared .align 16 .b8 __dynamic_shmem__"),
            std::string::npos);
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].staticSharedBytes, 0);
  EXPECT_EQ(launches[0].dynamicSharedBytes, 4 * (64 * 64 + 64 * 128) * 2);
  // No spills, and no static shared memory besides the dynamic.
  if (!ptxas.empty())
    for (const auto &[kernel, used] :
         xfc::test::ptxasResources(ptxas, ptx, "sm_90a", "wgmma")) {
      EXPECT_EQ(used.spillStoreBytes, 0) << kernel;
      EXPECT_EQ(used.sharedBytes, 0) << kernel;
      EXPECT_LE(used.registers, 168) << kernel;
      std::printf("%s: %d registers\n", kernel.c_str(), used.registers);
    }
}

// --allow-tf32: per K step of 32, each warp issues 4 x 8 mma.sync k8 and
// each thread rounds 32 staged elements to TF32.
TEST_F(GpuKernels, GemmTf32OnTensorCoresAssembles) {
  checkGemms(GpuGemmInput::TF32,
             {{"mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", 32},
              {"cvt.rna.tf32.f32", 32}});
}

TEST_F(GpuKernels, GemmF32WithFmaAssembles) {
  // Each thread's 4x8 accumulators take 32 FMAs a k; no tensor cores.
  checkGemms(GpuGemmInput::F32, {{"fma.rn.f32", 32}, {"ld.shared.v4", 1}});
}

TEST_F(GpuKernels, GemmF32UsesNoTensorCores) {
  GpuKernelSet set;
  set.gemms.push_back(
      {"gemm", 128, 768, 768, GpuGemmInput::F32, GpuActivation::None, false});
  std::vector<GpuKernelLaunch> launches;
  std::string ptx = compile(set, "sm_90", launches);
  EXPECT_EQ(ptx.find("mma"), std::string::npos);
  EXPECT_NE(ptx.find("fma.rn.f32"), std::string::npos);
}

TEST_F(GpuKernels, LayerNormAssembles) {
  ptxas = xfc::test::ptxasOrSkipReason();
  GpuKernelSet set;
  // D = 768 (BERT-base) and 2048 (rows in registers), 80 (not a multiple
  // of the warp), 4096, 1; rows that do and do not fill the last block.
  const int64_t shapes[][2] = {
      {128, 768}, {128, 80}, {7, 4096}, {1, 1}, {5, 2048}};
  for (auto &shape : shapes)
    set.layerNorms.push_back(
        {"ln_" + std::to_string(shape[0]) + "x" + std::to_string(shape[1]),
         shape[0], shape[1], 1e-5f});
  // y in the half type, with the row in registers and without.
  set.layerNorms.push_back({"ln_f16_y", 128, 768, 1e-5f});
  set.layerNorms.back().yType = GpuGemmInput::F16;
  set.layerNorms.push_back({"ln_bf16_y", 128, 80, 1e-5f});
  set.layerNorms.back().yType = GpuGemmInput::BF16;
  for (const char *chip : {"sm_80", "sm_90"}) {
    SCOPED_TRACE(chip);
    std::vector<GpuKernelLaunch> launches;
    std::string ptx = compile(set, chip, launches);
    ASSERT_FALSE(ptx.empty());
    ASSERT_EQ(launches.size(), set.layerNorms.size());
    for (size_t i = 0; i < set.layerNorms.size(); ++i) {
      const GpuLayerNormSpec &norm = set.layerNorms[i];
      SCOPED_TRACE(norm.name);
      std::string body = entryBody(ptx, norm.name);
      ASSERT_FALSE(body.empty()) << ptx;
      // Two butterflies of 5 shuffles: the sum, then the squares.
      EXPECT_EQ(count(body, "shfl.sync.bfly.b32"), 10u);
      EXPECT_NE(body.find("sqrt.rn.f32"), std::string::npos);
      EXPECT_NE(body.find("fma.rn.f32"), std::string::npos);
      // A row held in registers is read and written by 16-byte accesses,
      // x and r once: D / 128 of each a lane, and of gamma and beta.
      size_t vectors =
          norm.dim % 128 == 0 && norm.dim <= 2048 ? size_t(norm.dim / 128) : 0;
      EXPECT_EQ(count(body, "ld.global.v4."), 4 * vectors);
      // (A half y is stored 8 bytes a chunk.)
      EXPECT_EQ(count(body, "st.global.v4."),
                norm.yType == GpuGemmInput::F32 ? vectors : 0);
      if (norm.yType != GpuGemmInput::F32)
        EXPECT_NE(body.find(norm.yType == GpuGemmInput::F16 ? "cvt.rn.f16"
                                                            : "cvt.rn.bf16"),
                  std::string::npos);
      EXPECT_EQ(launches[i].grid[0], (norm.rows + 3) / 4);
      EXPECT_EQ(launches[i].block[0], 128);
      EXPECT_EQ(launches[i].staticSharedBytes, 0);
    }
  }
}

TEST_F(GpuKernels, AttentionAssembles) {
  ptxas = xfc::test::ptxasOrSkipReason();
  // Every option for d = 64 and 128 (and 80) at L = 1024, f16 and bf16,
  // and ragged lengths.
  GpuKernelSet set;
  struct Variant {
    int64_t len, headDim;
    GpuGemmInput input;
    bool causal, keyPadding, blockSparse, outputInInputType;
    int64_t keyLen = 0; // Cross-attention's keys; 0: len.
    int64_t queryTile = 64;
  };
  const Variant variants[] = {
      {1024, 64, GpuGemmInput::F16, false, false, false, false},
      {1024, 64, GpuGemmInput::F16, true, false, false, false},
      {1024, 128, GpuGemmInput::F16, false, false, false, false},
      {1024, 128, GpuGemmInput::F16, true, false, false, false},
      {1024, 64, GpuGemmInput::BF16, false, false, false, false},
      {1024, 128, GpuGemmInput::BF16, true, false, false, false},
      {1024, 64, GpuGemmInput::F16, false, false, true, false},
      {1024, 128, GpuGemmInput::BF16, true, true, true, false},
      {1024, 128, GpuGemmInput::F16, false, true, false, true},
      {77, 64, GpuGemmInput::F16, true, true, false, false},
      {1, 128, GpuGemmInput::BF16, false, false, false, true},
      {200, 80, GpuGemmInput::F16, true, false, true, false},
      // Cross-attention: fewer and more keys than queries.
      {77, 64, GpuGemmInput::F16, false, true, false, false, 1024},
      {1024, 128, GpuGemmInput::BF16, true, false, false, false, 77},
      // 128 query rows a block: Q in registers (d <= 96) or read from
      // shared memory (d = 128, in dynamic shared memory).
      {1024, 64, GpuGemmInput::F16, false, false, false, false, 0, 128},
      {1024, 64, GpuGemmInput::BF16, true, false, false, false, 0, 128},
      {1024, 128, GpuGemmInput::F16, false, false, false, false, 0, 128},
      {1024, 128, GpuGemmInput::F16, true, false, false, false, 0, 128},
      {1024, 128, GpuGemmInput::BF16, true, true, false, true, 0, 128},
      {77, 80, GpuGemmInput::F16, true, true, false, false, 0, 128},
      {1024, 128, GpuGemmInput::BF16, true, false, false, false, 77, 128}};
  for (const Variant &variant : variants) {
    GpuAttentionSpec spec;
    spec.name =
        "attention_" + std::to_string(set.attentions.size()) + "_" +
        (variant.input == GpuGemmInput::BF16 ? "bf16" : "f16") + "_d" +
        std::to_string(variant.headDim) + "_l" + std::to_string(variant.len) +
        (variant.causal ? "_causal" : "") +
        (variant.keyPadding ? "_padding" : "") +
        (variant.blockSparse ? "_sparse" : "") +
        (variant.keyLen ? "_keys" + std::to_string(variant.keyLen) : "") +
        (variant.queryTile != 64 ? "_q" + std::to_string(variant.queryTile)
                                 : "");
    spec.batch = 2;
    spec.heads = 12;
    spec.seqLen = variant.len;
    spec.headDim = variant.headDim;
    spec.input = variant.input;
    spec.causal = variant.causal;
    spec.keyPadding = variant.keyPadding;
    spec.blockSparse = variant.blockSparse;
    spec.blockSparseEntries = 40;
    spec.outputInInputType = variant.outputInInputType;
    spec.keyLen = variant.keyLen;
    spec.queryTile = variant.queryTile;
    set.attentions.push_back(spec);
  }
  for (const char *chip : {"sm_80", "sm_90"}) {
    SCOPED_TRACE(chip);
    std::vector<GpuKernelLaunch> launches;
    std::string ptx = compile(set, chip, launches);
    ASSERT_FALSE(ptx.empty());
    ASSERT_EQ(launches.size(), set.attentions.size());
    std::map<std::string, xfc::test::KernelResources> resources;
    if (!ptxas.empty())
      resources = xfc::test::ptxasResources(ptxas, ptx, chip, "attention");
    for (size_t i = 0; i < set.attentions.size(); ++i) {
      const GpuAttentionSpec &spec = set.attentions[i];
      SCOPED_TRACE(spec.name);
      std::string body = entryBody(ptx, spec.name);
      ASSERT_FALSE(body.empty()) << ptx;
      std::string type = spec.input == GpuGemmInput::BF16 ? "bf16" : "f16";
      // Per key tile and m16 tile of the warp: d / 16 x 8 mma.sync for S,
      // 4 x d / 8 for P V; K and Q fragments by ldmatrix.x4 (K's shared by
      // the m16 tiles; Q's once, or per key tile from shared memory), V's
      // by ldmatrix.x4.trans (shared); exp2 of 2 x 16 scores and 2 rescale
      // factors a thread; the row max over the quad twice a tile and the
      // row sum once at the end (2 rows, 2 shuffles each). With a single
      // key (L = 1) LLVM folds away what the constant masks decide, so
      // only the kinds are checked there.
      size_t mTiles = size_t(spec.queryTile / 64);
      bool qInRegisters = mTiles == 1 || spec.headDim <= 64;
      std::string mma =
          "mma.sync.aligned.m16n8k16.row.col.f32." + type + "." + type + ".f32";
      std::string ldmatrix = "ldmatrix.sync.aligned.m8n8.x4.shared.b16";
      std::string ldmatrixTrans =
          "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16";
      if (spec.keyLength() >= 64) {
        EXPECT_EQ(count(body, mma), mTiles * size_t(spec.headDim / 16 * 8 +
                                                    4 * spec.headDim / 8));
        EXPECT_EQ(count(body, ldmatrix),
                  size_t(spec.headDim / 16) * (4 + mTiles));
        EXPECT_EQ(count(body, ldmatrixTrans), size_t(spec.headDim / 16 * 4));
        EXPECT_EQ(count(body, "ex2.approx.f32"), 34u * mTiles);
      }
      for (const std::string &instruction :
           {mma, ldmatrix, ldmatrixTrans, std::string("ex2.approx.f32")})
        EXPECT_GT(count(body, instruction), 0u) << instruction;
      EXPECT_EQ(count(body, "shfl.sync.bfly.b32"), 8u * mTiles);
      EXPECT_GE(count(body, "bar.sync"), 3u);
      // Q, K and V tiles by cp.async, 16 bytes a copy (d / 16 copies a
      // thread and tile: Q, the first K, V and the next K, which a single
      // key tile does without), each tile its own group, all of it waited
      // for before use.
      EXPECT_GE(count(body, "cp.async.cg.shared.global"),
                size_t(spec.headDim / 16 * (spec.keyLength() > 64 ? 4 : 3)));
      EXPECT_GE(count(body, "cp.async.commit_group"), 4u);
      EXPECT_EQ(count(body, "cp.async.wait_group"),
                count(body, "cp.async.wait_group \t0;"));
      EXPECT_EQ(launches[i].grid[0],
                (spec.seqLen + spec.queryTile - 1) / spec.queryTile);
      EXPECT_EQ(launches[i].arguments[1].type,
                "memref<2x12x" + std::to_string(spec.keyLength()) + "x" +
                    std::to_string(spec.headDim) + "x" + type + ">");
      EXPECT_EQ(launches[i].grid[1], 12);
      EXPECT_EQ(launches[i].grid[2], 2);
      EXPECT_EQ(launches[i].block[0], 128);
      // A K and a V tile, and Q's with Q in shared memory: then all in
      // dynamic shared memory.
      int64_t tileBytes = 64 * (spec.headDim + 8) * 2;
      EXPECT_EQ(launches[i].staticSharedBytes,
                qInRegisters ? 2 * tileBytes : 0);
      EXPECT_EQ(launches[i].dynamicSharedBytes,
                qInRegisters ? 0 : (2 + int64_t(mTiles)) * tileBytes);
      if (resources.empty())
        continue;
      const xfc::test::KernelResources &used = resources[spec.name];
      std::printf("  %s %s: %d registers, %d bytes stack, %d/%d bytes "
                  "spilled (stores/loads), %d bytes shared\n",
                  chip, spec.name.c_str(), used.registers, used.stackBytes,
                  used.spillStoreBytes, used.spillLoadBytes, used.sharedBytes);
      EXPECT_GT(used.registers, 0);
      EXPECT_EQ(used.sharedBytes, launches[i].staticSharedBytes);
      // What the plan picks assembles without spills. The 128-row kernel
      // past d = 64, there to be measured (--gpu-attention-rows=128),
      // holds d accumulators of O and 64 of S a thread in 255 registers
      // and, causal, spills a little; more than that would be a
      // regression.
      if (mTiles == 1 || spec.headDim <= 64) {
        EXPECT_EQ(used.stackBytes, 0);
        EXPECT_EQ(used.spillStoreBytes, 0);
        EXPECT_EQ(used.spillLoadBytes, 0);
      } else {
        EXPECT_LE(used.spillStoreBytes, 192);
        EXPECT_LE(used.spillLoadBytes, 192);
      }
    }
  }
}

// A block-sparse layout compiled into the module (constant arrays the
// kernel reads, not arguments), with Q, K and V in the model's layout.
TEST_F(GpuKernels, AttentionWithCompiledLayoutAssembles) {
  ptxas = xfc::test::ptxasOrSkipReason();
  GpuAttentionSpec spec;
  spec.name = "sparse_compiled";
  spec.batch = 2;
  spec.heads = 12;
  spec.seqLen = 256;
  spec.headDim = 64;
  spec.causal = true;
  spec.blockSparse = true;
  spec.tileOffsets = {0, 1, 3, 5, 7};
  spec.tileIndices = {0, 0, 1, 1, 2, 2, 3};
  spec.blockSparseEntries = 7;
  spec.modelLayout = true;
  spec.rowWidth = 3 * 768;
  spec.columnOffsets[1] = 768;
  spec.columnOffsets[2] = 1536;
  GpuKernelSet set;
  set.attentions.push_back(spec);
  // The same with masks inside the diagonal tiles (a sliding window's
  // edge): 2 masks, in the f16 layout.
  spec.name = "window_compiled";
  spec.modelLayout = false;
  spec.tileMaskIndex = {0, 1, 0, 1, 0, 1, 0};
  for (int m = 0; m < 2; ++m)
    for (int word = 0; word < xfc::kGpuAttentionTileMaskWords; ++word)
      spec.tileMasks.push_back(m ? int32_t(0x80000001u) : 0x0F0F0F0F);
  set.attentions.push_back(spec);
  // Two head groups of 6 heads with layouts of their own: the second
  // group's 4 rows follow the first's.
  GpuAttentionSpec groups = spec;
  groups.name = "groups_compiled";
  groups.layoutGroups = 2;
  groups.tileOffsets = {0, 1, 3, 5, 7, 8, 9, 10, 11};
  groups.tileIndices = {0, 0, 1, 1, 2, 2, 3, 0, 1, 2, 3};
  groups.blockSparseEntries = 11;
  groups.tileMaskIndex = {0, 1, 0, 1, 0, 1, 0, -1, 0, 0, 0};
  groups.tileMasks[0] = 0x7; // (else LLVM merges them with the window's)
  set.attentions.push_back(groups);
  for (const char *chip : {"sm_80", "sm_90"}) {
    SCOPED_TRACE(chip);
    std::vector<GpuKernelLaunch> launches;
    std::string ptx = compile(set, chip, launches);
    ASSERT_FALSE(ptx.empty());
    ASSERT_EQ(launches.size(), 3u);
    // Q, K, V and O: no layout arguments.
    EXPECT_EQ(launches[0].arguments.size(), 4u);
    EXPECT_EQ(launches[1].arguments.size(), 4u);
    EXPECT_EQ(launches[2].arguments.size(), 4u);
    EXPECT_NE(ptx.find("groups_compiled_tile_offsets"), std::string::npos);
    // (LLVM merges the two kernels' equal layouts into one constant.)
    EXPECT_NE(ptx.find("_compiled_tile_offsets"), std::string::npos);
    EXPECT_NE(ptx.find("_compiled_tile_indices"), std::string::npos);
    EXPECT_NE(ptx.find("window_compiled_tile_mask_index"), std::string::npos);
    EXPECT_NE(ptx.find("window_compiled_tile_masks"), std::string::npos);
    // Each thread tests its 32 scores' bits.
    EXPECT_GE(count(entryBody(ptx, "window_compiled"), "and.b32"), 32u);
    if (!ptxas.empty()) {
      auto resources =
          xfc::test::ptxasResources(ptxas, ptx, chip, "compiled_layout");
      for (const auto &[name, used] : resources) {
        EXPECT_EQ(used.spillStoreBytes, 0) << name;
        std::printf("  %s %s: %d registers\n", chip, name.c_str(),
                    used.registers);
      }
    }
  }
  // A group layout of one group's rows is refused.
  set.attentions.back().tileOffsets.resize(5);
  EXPECT_NE(refusal(set).find("a compiled-in block-sparse layout needs 9 "
                              "ascending tile offsets"),
            std::string::npos);
  set.attentions.pop_back();
  set.attentions.pop_back();
  // A mask index past the masks is refused.
  spec.tileMaskIndex[3] = 2;
  set.attentions.push_back(spec);
  EXPECT_NE(refusal(set).find("tile masks need a compiled-in layout, one mask "
                              "index (-1 or a mask) per entry"),
            std::string::npos);
  set.attentions.pop_back();
  // A layout of the wrong length is refused.
  set.attentions[0].tileOffsets.pop_back();
  EXPECT_NE(refusal(set).find("a compiled-in block-sparse layout needs 5 "
                              "ascending tile offsets"),
            std::string::npos);
}

// Cross-attention in the model's layout: Q the decoder's f32 rows, K and
// V the two halves of the encoder's fused KV projection (what an
// encoder-decoder model compiled with --dtype=f16 runs).
TEST_F(GpuKernels, CrossAttentionInTheModelLayoutAssembles) {
  ptxas = xfc::test::ptxasOrSkipReason();
  GpuKernelSet set;
  for (int64_t headDim : {64, 128}) {
    GpuAttentionSpec spec;
    spec.name = "cross_d" + std::to_string(headDim);
    spec.batch = 2;
    spec.heads = 8;
    spec.seqLen = 13;
    spec.keyLen = 77;
    spec.headDim = headDim;
    spec.keyPadding = true;
    spec.modelLayout = true;
    spec.rowWidth = 8 * headDim;
    spec.keyValueRowWidth = 2 * 8 * headDim;
    spec.columnOffsets[2] = 8 * headDim;
    set.attentions.push_back(spec);
  }
  for (const char *chip : {"sm_80", "sm_90"}) {
    SCOPED_TRACE(chip);
    std::vector<GpuKernelLaunch> launches;
    std::string ptx = compile(set, chip, launches);
    ASSERT_FALSE(ptx.empty());
    ASSERT_EQ(launches.size(), 2u);
    const std::vector<xfc::GpuKernelArgument> &arguments =
        launches[0].arguments;
    ASSERT_EQ(arguments.size(), 5u);
    EXPECT_EQ(arguments[0].type, "memref<2x13x512xf32>");
    EXPECT_EQ(arguments[1].type, "memref<2x77x1024xf32>");
    EXPECT_EQ(arguments[2].type, "memref<2x77x1024xf32>");
    EXPECT_EQ(arguments[3].type, "memref<2xi32>");
    EXPECT_EQ(arguments[4].type, "memref<2x13x512xf32>");
    EXPECT_EQ(launches[0].grid[0], 1);
    EXPECT_EQ(launches[1].arguments[1].type, "memref<2x77x2048xf32>");
    if (!ptxas.empty()) {
      auto resources = xfc::test::ptxasResources(ptxas, ptx, chip, "cross");
      ASSERT_EQ(resources.size(), 2u);
      for (const auto &[name, used] : resources) {
        EXPECT_EQ(used.stackBytes, 0) << name;
        EXPECT_EQ(used.spillStoreBytes, 0) << name;
        EXPECT_EQ(used.spillLoadBytes, 0) << name;
        std::printf("  %s %s: %d registers\n", chip, name.c_str(),
                    used.registers);
      }
    }
  }
}

TEST_F(GpuKernels, LaunchContract) {
  GpuKernelSet set;
  set.gemms.push_back({"proj", 128, 3072, 768, GpuGemmInput::BF16,
                       GpuActivation::GeluTanh, true});
  set.gemms.push_back(
      {"proj32", 128, 768, 768, GpuGemmInput::F32, GpuActivation::None, false});
  set.layerNorms.push_back({"norm", 130, 768, 1e-12f});
  std::string source, error;
  std::vector<GpuKernelLaunch> launches;
  ASSERT_TRUE(xfc::gpuKernelSource(set, source, launches, error)) << error;
  ASSERT_EQ(launches.size(), 3u);

  const GpuKernelLaunch &proj = launches[0];
  EXPECT_EQ(proj.kernel, "proj");
  EXPECT_EQ(proj.grid[0], 48);
  EXPECT_EQ(proj.grid[1], 2);
  EXPECT_EQ(proj.grid[2], 1);
  EXPECT_EQ(proj.block[0], 128);
  EXPECT_EQ(proj.block[1], 1);
  // 3 stages of a 64x(32+8) and a 32x(64+8) tile of 2-byte elements.
  EXPECT_EQ(proj.staticSharedBytes, 3 * 9728);
  EXPECT_EQ(proj.dynamicSharedBytes, 0);
  ASSERT_EQ(proj.arguments.size(), 5u);
  const char *names[] = {"A", "B", "bias", "residual", "C"};
  const char *types[] = {"memref<128x768xbf16>", "memref<768x3072xbf16>",
                         "memref<3072xf32>", "memref<128x3072xf32>",
                         "memref<128x3072xf32>"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(proj.arguments[i].name, names[i]);
    EXPECT_EQ(proj.arguments[i].type, types[i]);
  }
  EXPECT_EQ(launches[1].staticSharedBytes, 8192);
  EXPECT_EQ(launches[1].arguments.size(), 4u);

  const GpuKernelLaunch &norm = launches[2];
  EXPECT_EQ(norm.grid[0], 33);
  EXPECT_EQ(norm.block[0], 128);
  ASSERT_EQ(norm.arguments.size(), 5u);
  EXPECT_EQ(norm.arguments[0].type, "memref<130x768xf32>");
  EXPECT_EQ(norm.arguments[2].name, "gamma");
  EXPECT_EQ(norm.arguments[2].type, "memref<768xf32>");

  // The source declares the same arguments and the GELU helper once.
  EXPECT_NE(source.find("gpu.func @proj(%A: memref<128x768xbf16>, %B: "
                        "memref<768x3072xbf16>, %bias: memref<3072xf32>, "
                        "%residual: memref<128x3072xf32>, %C: "
                        "memref<128x3072xf32>)"),
            std::string::npos)
      << source;
  EXPECT_EQ(count(source, "func.func private @xfc_gelu_tanh"), 1u);
  EXPECT_NE(source.find("nvgpu.ldmatrix"), std::string::npos);
  EXPECT_NE(source.find("nvvm.mma.sync"), std::string::npos);
  EXPECT_NE(source.find("gpu.shuffle xor"), std::string::npos);
  // epsilon = 1e-12 as its exact f32 bits.
  EXPECT_NE(source.find("arith.constant 0x2B8CBCCC : f32"), std::string::npos);
}

TEST_F(GpuKernels, BuildAddsOneGpuModule) {
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  GpuKernelSet set;
  set.moduleName = "layer0";
  set.layerNorms.push_back({"norm", 4, 8, 1e-5f});
  std::vector<GpuKernelLaunch> launches;
  std::string error;
  ASSERT_TRUE(xfc::buildGpuKernels(*module, set, launches, error)) << error;
  EXPECT_TRUE((*module)->hasAttr("gpu.container_module"));
  std::string text;
  llvm::raw_string_ostream stream(text);
  module->print(stream);
  EXPECT_NE(text.find("gpu.module @layer0"), std::string::npos) << text;
  EXPECT_NE(text.find("gpu.func @norm("), std::string::npos) << text;
}

TEST_F(GpuKernels, UnsupportedShapesAndNamesAreRefused) {
  GpuKernelSet set;
  EXPECT_EQ(refusal(set), "the GPU kernel set 'kernels' has no kernels");

  set.gemms.push_back(
      {"g", 100, 100, 768, GpuGemmInput::F16, GpuActivation::None, false});
  EXPECT_EQ(refusal(set),
            "GEMM 'g' (f16, M = 100, N = 100, K = 768): N is not a multiple "
            "of 64; the GPU GEMM takes N in whole tiles of 64 and K in steps "
            "of 32 (only M may be ragged)");
  set.gemms[0] = {"g",  128, 768, 48, GpuGemmInput::BF16, GpuActivation::None,
                  false};
  EXPECT_EQ(refusal(set),
            "GEMM 'g' (bf16, M = 128, N = 768, K = 48): K is not a multiple "
            "of 32; the GPU GEMM takes N in whole tiles of 64 and K in steps "
            "of 32 (only M may be ragged)");
  // f32 steps K by 16.
  set.gemms[0].input = GpuGemmInput::F32;
  set.gemms[0].k = 40;
  EXPECT_EQ(refusal(set),
            "GEMM 'g' (f32, M = 128, N = 768, K = 40): K is not a multiple of "
            "16; the GPU GEMM takes N in whole tiles of 64 and K in steps of "
            "16 (only M may be ragged)");
  set.gemms[0] = {"g",  0, 64, 32, GpuGemmInput::F16, GpuActivation::None,
                  false};
  EXPECT_EQ(refusal(set), "GEMM 'g' (f16, M = 0, N = 64, K = 32): M, N and K "
                          "must be positive");
  set.gemms[0].m = 64 * 65535 + 1;
  EXPECT_EQ(refusal(set),
            "GEMM 'g' (f16, M = 4194241, N = 64, K = 32): ceil(M / 64) = "
            "65536 blocks in grid y, more than the 65535 CUDA allows");

  set.gemms[0].m = 64;
  set.gemms[0].input = GpuGemmInput::F32;
  set.gemms[0].aInF32 = true;
  EXPECT_EQ(refusal(set),
            "GEMM 'g' (f32, M = 64, N = 64, K = 32): an f32 A rounded while "
            "staging is for the tensor-core GEMMs (f16 or bf16 input); an f32 "
            "GEMM reads f32 A as it is");
  set.gemms[0].aInF32 = false;
  set.gemms[0].cInInputType = true;
  EXPECT_EQ(refusal(set),
            "GEMM 'g' (f32, M = 64, N = 64, K = 32): C in the input type is "
            "for the tensor-core GEMMs (f16 or bf16 input); an f32 GEMM "
            "writes f32");
  set.gemms[0].cInInputType = false;
  // The 128x128 tile: tensor cores only, and N in its tiles.
  set.gemms[0].input = GpuGemmInput::TF32;
  set.gemms[0].tile = xfc::GpuGemmTile::Large;
  EXPECT_EQ(refusal(set),
            "GEMM 'g' (tf32, M = 64, N = 64, K = 32): the 128x128 and "
            "warpgroup MMA tiles are for the f16 and bf16 GEMMs; the f32 and "
            "TF32 GEMMs tile 64x64");
  set.gemms[0].tile = xfc::GpuGemmTile::Wgmma64x128;
  EXPECT_EQ(refusal(set),
            "GEMM 'g' (tf32, M = 64, N = 64, K = 32): the 128x128 and "
            "warpgroup MMA tiles are for the f16 and bf16 GEMMs; the f32 and "
            "TF32 GEMMs tile 64x64");
  // Warpgroup MMA: N in tiles of 128, K in steps of 64.
  set.gemms[0].input = GpuGemmInput::F16;
  set.gemms[0].n = 128;
  EXPECT_EQ(refusal(set),
            "GEMM 'g' (f16, M = 64, N = 128, K = 32): K is not a multiple of "
            "64; the GPU GEMM takes N in whole tiles of 128 and K in steps "
            "of 64 (only M may be ragged)");
  set.gemms[0].tile = xfc::GpuGemmTile::Large;
  set.gemms[0].n = 192;
  EXPECT_EQ(refusal(set),
            "GEMM 'g' (f16, M = 64, N = 192, K = 32): N is not a multiple of "
            "128; the GPU GEMM takes N in whole tiles of 128 and K in steps "
            "of 32 (only M may be ragged)");
  set.gemms[0].n = 64;
  set.gemms[0].tile = xfc::GpuGemmTile::Small;
  set.gemms[0].aInF32 = true;
  set.gemms[0].input = GpuGemmInput::F16;
  set.layerNorms.push_back({"n", 4, 0, 1e-5f});
  EXPECT_EQ(refusal(set), "LayerNorm 'n' (rows = 4, D = 0): rows, D and "
                          "epsilon must be positive");
  set.layerNorms[0] = {"n", 4, 8, 0.0f};
  EXPECT_EQ(refusal(set), "LayerNorm 'n' (rows = 4, D = 8): rows, D and "
                          "epsilon must be positive");

  set.layerNorms[0] = {"n", 4, 8, 1e-5f};
  set.layerNorms[0].residual = false;
  set.layerNorms[0].sumOutput = true;
  EXPECT_EQ(refusal(set), "LayerNorm 'n' (rows = 4, D = 8): the sum it writes "
                          "is input + residual; without a residual there is "
                          "none");

  set.layerNorms[0] = {"g", 4, 8, 1e-5f};
  EXPECT_EQ(refusal(set), "the GPU kernel name 'g' is used twice");
  set.layerNorms[0].name = "xfc_gelu_tanh";
  EXPECT_EQ(refusal(set), "the GPU kernel name 'xfc_gelu_tanh' is used twice "
                          "(xfc's GELU device function has it)");
  set.layerNorms[0].name = "1st";
  EXPECT_EQ(refusal(set), "'1st' is not a valid GPU kernel name (letters, "
                          "digits and '_', not starting with a digit)");
  set.layerNorms[0].name = "n";
  set.moduleName = "my module";
  EXPECT_EQ(refusal(set), "'my module' is not a valid GPU module name "
                          "(letters, digits and '_', not starting with a "
                          "digit)");

  // buildGpuKernels passes the refusal on and leaves the module alone.
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  std::vector<GpuKernelLaunch> launches;
  std::string error;
  EXPECT_FALSE(xfc::buildGpuKernels(*module, set, launches, error));
  EXPECT_NE(error.find("is not a valid GPU module name"), std::string::npos);
  EXPECT_TRUE(module->getBody()->empty());
}

TEST_F(GpuKernels, AttentionLaunchContract) {
  GpuKernelSet set;
  GpuAttentionSpec spec;
  spec.name = "attn";
  spec.batch = 2;
  spec.heads = 12;
  spec.seqLen = 77;
  spec.headDim = 64;
  spec.input = GpuGemmInput::BF16;
  spec.causal = true;
  spec.keyPadding = true;
  spec.blockSparse = true;
  spec.blockSparseEntries = 3;
  spec.outputInInputType = true;
  set.attentions.push_back(spec);
  std::string source, error;
  std::vector<GpuKernelLaunch> launches;
  ASSERT_TRUE(xfc::gpuKernelSource(set, source, launches, error)) << error;
  ASSERT_EQ(launches.size(), 1u);
  const GpuKernelLaunch &launch = launches[0];
  EXPECT_EQ(launch.kernel, "attn");
  // Query tiles, heads, batch items.
  EXPECT_EQ(launch.grid[0], 2);
  EXPECT_EQ(launch.grid[1], 12);
  EXPECT_EQ(launch.grid[2], 2);
  EXPECT_EQ(launch.block[0], 128);
  // K and V tiles of 64 x (64 + 8) 2-byte elements.
  EXPECT_EQ(launch.staticSharedBytes, 18432);
  EXPECT_EQ(launch.dynamicSharedBytes, 0);
  ASSERT_EQ(launch.arguments.size(), 7u);
  const char *names[] = {"Q",           "K",           "V", "lengths",
                         "tileOffsets", "tileIndices", "O"};
  const char *types[] = {"memref<2x12x77x64xbf16>", "memref<2x12x77x64xbf16>",
                         "memref<2x12x77x64xbf16>", "memref<2xi32>",
                         "memref<3xi32>",           "memref<3xi32>",
                         "memref<2x12x77x64xbf16>"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(launch.arguments[i].name, names[i]);
    EXPECT_EQ(launch.arguments[i].type, types[i]);
  }
  // scale * log2(e) = log2(e) / 8 as its exact f32 bits.
  EXPECT_NE(source.find("%scale = arith.constant 0x3E38AA3B : f32"),
            std::string::npos)
      << source;
  // Without options: Q, K, V and an f32 O.
  set.attentions[0] = GpuAttentionSpec();
  set.attentions[0].name = "plain";
  set.attentions[0].seqLen = 128;
  set.attentions[0].headDim = 128;
  set.attentions[0].scale = 0.25f;
  ASSERT_TRUE(xfc::gpuKernelSource(set, source, launches, error)) << error;
  ASSERT_EQ(launches[0].arguments.size(), 4u);
  EXPECT_EQ(launches[0].arguments[3].type, "memref<1x1x128x128xf32>");
  EXPECT_EQ(launches[0].staticSharedBytes, 34816);
  EXPECT_NE(source.find("%scale = arith.constant 0x3EB8AA3B : f32"),
            std::string::npos);
  // A layout without entries (every row of O is 0) still parses.
  set.attentions[0].blockSparse = true;
  set.attentions[0].blockSparseEntries = 0;
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  ASSERT_TRUE(xfc::buildGpuKernels(*module, set, launches, error)) << error;
  EXPECT_EQ(launches[0].arguments[4].type, "memref<0xi32>");
}

TEST_F(GpuKernels, UnsupportedAttentionsAreRefused) {
  GpuKernelSet set;
  GpuAttentionSpec spec;
  spec.name = "a";
  spec.batch = 0;
  spec.heads = 12;
  spec.seqLen = 128;
  set.attentions.push_back(spec);
  EXPECT_EQ(refusal(set), "attention 'a' (f16, B = 0, H = 12, L = 128, d = "
                          "64): B, H and L must be positive");
  set.attentions[0].batch = 1;
  set.attentions[0].input = GpuGemmInput::F32;
  EXPECT_EQ(refusal(set),
            "attention 'a' (f32, B = 1, H = 12, L = 128, d = 64): Q, K and V "
            "must be f16 or bf16; the GPU attention kernel runs on tensor "
            "cores and has no f32 variant");
  set.attentions[0].input = GpuGemmInput::F16;
  for (int64_t headDim : {72, 256, 0}) {
    set.attentions[0].headDim = headDim;
    EXPECT_EQ(refusal(set), "attention 'a' (f16, B = 1, H = 12, L = 128, d = " +
                                std::to_string(headDim) +
                                "): the GPU attention kernel takes a head dim "
                                "that is a multiple of 16 from 16 to 128");
  }
  set.attentions[0].headDim = 64;
  set.attentions[0].heads = 65536;
  EXPECT_EQ(refusal(set), "attention 'a' (f16, B = 1, H = 65536, L = 128, d = "
                          "64): H and B are grid y and z, at most 65535 each");
  set.attentions[0].heads = 12;
  for (float scale : {0.0f, -1.0f, NAN, INFINITY}) {
    set.attentions[0].scale = scale;
    EXPECT_EQ(refusal(set), "attention 'a' (f16, B = 1, H = 12, L = 128, d = "
                            "64): the scale must be positive and finite");
  }
  set.attentions[0].scale.reset();
  set.attentions[0].blockSparse = true;
  set.attentions[0].blockSparseEntries = -1;
  EXPECT_EQ(refusal(set), "attention 'a' (f16, B = 1, H = 12, L = 128, d = "
                          "64): a negative number of block-sparse entries");
  set.attentions[0].blockSparseEntries = 0;
  set.attentions[0].rowsInInputType = true;
  EXPECT_EQ(refusal(set), "attention 'a' (f16, B = 1, H = 12, L = 128, d = "
                          "64): rows in the input type are the model layout's");
  set.attentions[0].rowsInInputType = false;
  // Head groups must split the heads evenly.
  set.attentions[0].layoutGroups = 5;
  EXPECT_EQ(refusal(set), "attention 'a' (f16, B = 1, H = 12, L = 128, d = "
                          "64): 5 layout groups; a block-sparse layout has 1, "
                          "or a number of head groups that divides H");
  set.attentions[0].layoutGroups = 1;
  // 64 or 128 query rows a block, and 64 with a block-sparse layout.
  for (auto [rows, blockSparse] : {std::pair<int64_t, bool>{96, false},
                                   std::pair<int64_t, bool>{128, true}}) {
    set.attentions[0].queryTile = rows;
    set.attentions[0].blockSparse = blockSparse;
    EXPECT_EQ(refusal(set),
              "attention 'a' (f16, B = 1, H = 12, L = 128, d = "
              "64): a query tile of " +
                  std::to_string(rows) +
                  " rows; the kernel takes 64, or 128 without a "
                  "block-sparse layout (whose tiles are 64 x 64)");
  }
  set.attentions[0].queryTile = 64;
  set.attentions[0].blockSparse = false;
  // The model layout: rows too narrow for the heads from an offset.
  set.attentions[0].modelLayout = true;
  set.attentions[0].rowWidth = 3 * 768;
  set.attentions[0].columnOffsets[2] = 1600;
  EXPECT_EQ(refusal(set),
            "attention 'a' (f16, B = 1, H = 12, L = 128, d = 64): in the model "
            "layout, Q, K and V are f32 rows of 2304 columns, a multiple of 8, "
            "holding H d = 768 columns from each column offset (multiples of "
            "8), and O is f32");
  set.attentions[0].columnOffsets[2] = 1536;
  set.attentions[0].outputInInputType = true;
  EXPECT_NE(refusal(set).find("and O is f32"), std::string::npos);
  set.attentions[0].outputInInputType = false;
  // Cross-attention: K and V rows (a fused KV projection's) too narrow.
  set.attentions[0].keyLen = 77;
  set.attentions[0].rowWidth = 768;
  set.attentions[0].keyValueRowWidth = 1536;
  set.attentions[0].columnOffsets[2] = 800;
  EXPECT_EQ(refusal(set),
            "attention 'a' (f16, B = 1, H = 12, L = 128, keys = 77, d = 64): "
            "in the model layout, Q, K and V are f32 rows of 768 (Q) and 1536 "
            "(K, V) columns, multiples of 8, holding H d = 768 columns from "
            "each column offset (multiples of 8), and O is f32");
  set.attentions[0].columnOffsets[2] = 768;
  set.attentions[0].keyLen = -1;
  EXPECT_EQ(refusal(set),
            "attention 'a' (f16, B = 1, H = 12, L = 128, keys = -1, d = 64): "
            "a negative number of keys (0: as many as queries)");
  set.attentions[0].keyLen = 0;
  set.layerNorms.push_back({"a", 4, 8, 1e-5f});
  EXPECT_EQ(refusal(set), "the GPU kernel name 'a' is used twice");
}

} // namespace
