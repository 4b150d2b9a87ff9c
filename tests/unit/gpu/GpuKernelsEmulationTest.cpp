//===- GpuKernelsEmulationTest.cpp - The device kernels run on the CPU ----===//
//
// Part of xfc. Checks the numerics of compiler/lib/GpuKernels.cpp without a
// GPU: a small emulator runs the generated kernels' MLIR (the very ops that
// are lowered to PTX) for every block of the grid, the 128 threads of a
// block in lockstep, and the results are compared with a plain CPU
// reference.
//
// The emulator (KernelEmulator.h) follows the PTX ISA's fragment layouts;
// every memory access is bounds-checked, shared memory starts as NaN and
// missing barriers and divergent warp-wide ops are errors.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/GpuKernels.h"
#include "xfc/Compiler/Pipelines.h"

#include "KernelEmulator.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Parser/Parser.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/DenseMap.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace {

using xfc::test::Buffer;
using xfc::test::Emulator;
using xfc::GpuActivation;
using xfc::GpuAttentionSpec;
using xfc::GpuGemmInput;
using xfc::GpuGemmSpec;
using xfc::GpuKernelLaunch;
using xfc::GpuKernelSet;
using xfc::GpuLayerNormSpec;

/// A matrix of values k / 16 * range, |k| <= 16, range a power of two:
/// exact in f16 and bf16, so the inputs mean the same in every element
/// type.
Buffer randomBuffer(std::vector<int64_t> shape, std::mt19937 &random,
                    double range = 1.0) {
  Buffer buffer;
  buffer.shape = std::move(shape);
  int64_t size = 1;
  for (int64_t extent : buffer.shape)
    size *= extent;
  std::uniform_int_distribution<int> value(-16, 16);
  for (int64_t i = 0; i < size; ++i)
    buffer.data.push_back(value(random) / 16.0 * range);
  return buffer;
}

/// An i32 argument.
Buffer indexBuffer(const std::vector<int> &values) {
  Buffer buffer;
  buffer.shape = {int64_t(values.size())};
  buffer.data.assign(values.begin(), values.end());
  return buffer;
}

/// The masks of an attention test beyond the spec's causal flag: key
/// lengths per batch item, and a block-sparse layout in CSR form.
struct AttentionMasks {
  std::vector<int> lengths;
  std::vector<int> tileOffsets, tileIndices;
  /// Compiled layouts only: per entry -1 (a whole tile) or its mask in
  /// tileMasks (GpuAttentionSpec::tileMasks).
  std::vector<int32_t> tileMaskIndex, tileMasks;
  /// Head groups with layouts of their own, one block of tileOffsets
  /// rows (a row per query tile) each.
  int64_t groups = 1;
};

class GpuKernelsEmulation : public ::testing::Test {
protected:
  void SetUp() override { xfc::registerXFCDialects(registry); }

  /// Generates `set` (one kernel), runs it in the emulator with `args` and
  /// returns false with the reason when it fails.
  bool emulate(const GpuKernelSet &set, std::vector<Buffer *> args,
               std::string &error) {
    mlir::MLIRContext context(registry);
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
    std::vector<GpuKernelLaunch> launches;
    if (!xfc::buildGpuKernels(*module, set, launches, error))
      return false;
    auto gpuModule = *module->getOps<mlir::gpu::GPUModuleOp>().begin();
    Emulator emulator(gpuModule);
    return emulator.run(launches.at(0), args, error);
  }

  /// Emulates `gemm` on random inputs and compares C with a plain f64
  /// reference.
  void checkGemm(const GpuGemmSpec &gemm) {
    SCOPED_TRACE(gemm.name);
    std::mt19937 random(7);
    Buffer a = randomBuffer({gemm.m, gemm.k}, random);
    // An f32 A is rounded by the kernel: values between the half type's
    // make the rounding show (the reference rounds them the same way).
    std::vector<double> aRounded = a.data;
    if (gemm.aInF32) {
      const llvm::fltSemantics &half = gemm.input == GpuGemmInput::BF16
                                           ? llvm::APFloat::BFloat()
                                           : llvm::APFloat::IEEEhalf();
      for (size_t i = 0; i < a.data.size(); ++i) {
        a.data[i] = float(a.data[i] + (double(i % 7) - 3) / 3 * 0x1p-9);
        llvm::APFloat value(float(a.data[i]));
        bool lost;
        value.convert(half, llvm::APFloat::rmNearestTiesToEven, &lost);
        aRounded[i] = double(value.convertToFloat());
      }
    }
    Buffer b = randomBuffer({gemm.k, gemm.n}, random);
    // TF32 rounds A and B: values between TF32's, rounded alike here.
    std::vector<double> bRounded = b.data;
    if (gemm.input == GpuGemmInput::TF32) {
      auto roundTf32 = [](float x) {
        uint32_t bits;
        std::memcpy(&bits, &x, sizeof bits);
        bits = (bits + 0x1000u) & ~0x1FFFu; // To nearest, ties away.
        std::memcpy(&x, &bits, sizeof bits);
        return double(x);
      };
      for (size_t i = 0; i < a.data.size(); ++i) {
        a.data[i] = float(a.data[i] + (double(i % 7) - 3) / 3 * 0x1p-12);
        aRounded[i] = roundTf32(float(a.data[i]));
      }
      for (size_t i = 0; i < b.data.size(); ++i) {
        b.data[i] = float(b.data[i] + (double(i % 5) - 2) / 3 * 0x1p-12);
        bRounded[i] = roundTf32(float(b.data[i]));
      }
    }
    Buffer bias = randomBuffer({gemm.n}, random);
    Buffer residual = randomBuffer({gemm.m, gemm.n}, random);
    Buffer c;
    c.shape = {gemm.m, gemm.n};
    c.data.assign(gemm.m * gemm.n, NAN);
    std::vector<Buffer *> args{&a, &b, &bias};
    if (gemm.residual)
      args.push_back(&residual);
    args.push_back(&c);
    GpuKernelSet set;
    set.gemms.push_back(gemm);
    std::string error;
    ASSERT_TRUE(emulate(set, args, error)) << error;
    double worst = 0;
    for (int64_t i = 0; i < gemm.m; ++i)
      for (int64_t j = 0; j < gemm.n; ++j) {
        double x = bias.data[j];
        for (int64_t k = 0; k < gemm.k; ++k)
          x += aRounded[i * gemm.k + k] * bRounded[k * gemm.n + j];
        if (gemm.activation == GpuActivation::Relu)
          x = std::max(x, 0.0);
        if (gemm.activation == GpuActivation::GeluErf)
          x = 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
        if (gemm.activation == GpuActivation::GeluTanh)
          x = 0.5 * x *
              (1 + std::tanh(std::sqrt(2 / 3.14159265358979323846) *
                             (x + 0.044715 * x * x * x)));
        if (gemm.residual)
          x += residual.data[i * gemm.n + j];
        double got = c.data[i * gemm.n + j];
        ASSERT_FALSE(std::isnan(got)) << "C[" << i << ", " << j << "]";
        if (gemm.cInInputType) {
          // Stored in the half type: a value of it.
          llvm::APFloat value(got);
          bool lost;
          value.convert(gemm.input == GpuGemmInput::BF16
                            ? llvm::APFloat::BFloat()
                            : llvm::APFloat::IEEEhalf(),
                        llvm::APFloat::rmNearestTiesToEven, &lost);
          ASSERT_FALSE(lost) << "C[" << i << ", " << j << "] = " << got;
        }
        worst = std::max(worst, std::abs(got - x) / (1 + std::abs(x)));
      }
    // Products of the inputs are exact; only the f32 sums round, and C
    // once more when it is in the half type (its unit roundoff).
    double bound = 1e-5;
    if (gemm.cInInputType)
      bound += gemm.input == GpuGemmInput::BF16 ? 0x1p-8 : 0x1p-11;
    EXPECT_LT(worst, bound);
    std::printf("  %s: max relative error %.3g\n", gemm.name.c_str(), worst);
  }

  /// Emulates `spec` on random inputs and compares O with softmax attention
  /// in f64 under the same mask (a row with no allowed key is 0); returns
  /// the largest absolute error (the outputs are weighted means of V, whose
  /// values lie in [-1, 1]).
  double checkAttention(GpuAttentionSpec spec, const AttentionMasks &masks = {},
                        bool compiledLayout = false) {
    SCOPED_TRACE(spec.name);
    spec.keyPadding = !masks.lengths.empty();
    spec.blockSparse = !masks.tileOffsets.empty();
    spec.blockSparseEntries = int64_t(masks.tileIndices.size());
    spec.layoutGroups = masks.groups;
    // The layout compiled into the kernel rather than passed.
    if (compiledLayout) {
      spec.tileOffsets.assign(masks.tileOffsets.begin(),
                              masks.tileOffsets.end());
      spec.tileIndices.assign(masks.tileIndices.begin(),
                              masks.tileIndices.end());
      spec.tileMaskIndex = masks.tileMaskIndex;
      spec.tileMasks = masks.tileMasks;
    }
    int64_t batch = spec.batch, heads = spec.heads, len = spec.seqLen,
            keyLen = spec.keyLength(), d = spec.headDim;
    std::mt19937 random(5);
    // Scores of a few units: the softmax is neither flat nor one-hot, and
    // the running max moves from tile to tile.
    Buffer q = randomBuffer({batch, heads, len, d}, random, 2.0);
    Buffer k = randomBuffer({batch, heads, keyLen, d}, random, 2.0);
    Buffer v = randomBuffer({batch, heads, keyLen, d}, random);
    Buffer lengths = indexBuffer(masks.lengths);
    Buffer offsets = indexBuffer(masks.tileOffsets);
    Buffer indices = indexBuffer(masks.tileIndices);
    Buffer o;
    o.shape = {batch, heads, len, d};
    o.data.assign(batch * heads * len * d, NAN);
    std::vector<Buffer *> args{&q, &k, &v};
    // The model layout: Q as f32 rows [batch, len, rowWidth], K and V
    // [batch, keyLen, keyValueWidth]; the three parts of one fused buffer
    // when their offsets all differ and so do neither the lengths nor the
    // widths (self-attention), K and V parts of one when their offsets
    // differ, else one buffer each (NaN in the columns none of them has,
    // so reading one shows); O [batch, len, heads * d].
    Buffer model[3];
    if (spec.modelLayout) {
      const int64_t *offsets = spec.columnOffsets;
      bool fusedKv = offsets[1] != offsets[2];
      bool fusedQkv = fusedKv && offsets[0] != offsets[1] &&
                      offsets[0] != offsets[2] && keyLen == len &&
                      spec.rowWidth == spec.keyValueWidth();
      int which[3] = {0, fusedQkv ? 0 : 1, fusedQkv ? 0 : fusedKv ? 1 : 2};
      int64_t widths[3] = {spec.rowWidth, spec.keyValueWidth(),
                           spec.keyValueWidth()};
      int64_t rows[3] = {len, keyLen, keyLen};
      const Buffer *parts[3] = {&q, &k, &v};
      for (int part = 0; part < 3; ++part) {
        Buffer &to = model[which[part]];
        int64_t width = widths[part], n = rows[part];
        if (to.data.empty()) {
          to.shape = {batch, n, width};
          to.data.assign(batch * n * width, NAN);
        }
        for (int64_t b = 0; b < batch; ++b)
          for (int64_t h = 0; h < heads; ++h)
            for (int64_t r = 0; r < n; ++r)
              for (int64_t c = 0; c < d; ++c)
                to.data[(b * n + r) * width + offsets[part] + h * d + c] =
                    parts[part]->data[((b * heads + h) * n + r) * d + c];
      }
      o.shape = {batch, len, heads * d};
      args = {&model[which[0]], &model[which[1]], &model[which[2]]};
    }
    if (spec.keyPadding)
      args.push_back(&lengths);
    if (spec.blockSparse && !compiledLayout) {
      args.push_back(&offsets);
      args.push_back(&indices);
    }
    args.push_back(&o);
    GpuKernelSet set;
    set.attentions.push_back(spec);
    std::string error;
    EXPECT_TRUE(emulate(set, args, error)) << error;
    if (!error.empty())
      return INFINITY;

    const int64_t tile = xfc::kGpuAttentionTile;
    int64_t keyTiles = (keyLen + tile - 1) / tile;
    double scale = spec.scale ? *spec.scale : 1.0 / std::sqrt(double(d));
    double worst = 0;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < len; ++i) {
          // Row r of head h of batch item b of a [B, H, rows, d] buffer.
          auto row = [&](const Buffer &x, int64_t r) {
            return x.data.data() + ((b * heads + h) * x.shape[2] + r) * d;
          };
          std::vector<bool> allowed(keyLen, true);
          if (spec.blockSparse) {
            std::vector<bool> listed(keyTiles, false);
            std::vector<int> maskOf(keyTiles, -1);
            int64_t queryTiles = (len + tile - 1) / tile;
            int64_t layoutRow =
                h / (heads / spec.layoutGroups) * queryTiles + i / tile;
            for (int e = masks.tileOffsets[layoutRow];
                 e < masks.tileOffsets[layoutRow + 1]; ++e)
              if (masks.tileIndices[e] >= 0 &&
                  masks.tileIndices[e] < keyTiles) {
                listed[masks.tileIndices[e]] = true;
                if (!masks.tileMaskIndex.empty())
                  maskOf[masks.tileIndices[e]] = masks.tileMaskIndex[e];
              }
            for (int64_t j = 0; j < keyLen; ++j) {
              allowed[j] = listed[j / tile];
              int m = maskOf[j / tile];
              if (m >= 0) {
                uint32_t word = uint32_t(
                    masks
                        .tileMasks[128 * m + 2 * (i % tile) + (j % tile) / 32]);
                allowed[j] = allowed[j] && ((word >> (j % 32)) & 1);
              }
            }
          }
          for (int64_t j = 0; j < keyLen; ++j) {
            if (spec.causal && j > i)
              allowed[j] = false;
            if (spec.keyPadding && j >= masks.lengths[b])
              allowed[j] = false;
          }
          std::vector<double> score(keyLen, -INFINITY);
          double max = -INFINITY;
          for (int64_t j = 0; j < keyLen; ++j) {
            if (!allowed[j])
              continue;
            double dot = 0;
            for (int64_t c = 0; c < d; ++c)
              dot += row(q, i)[c] * row(k, j)[c];
            score[j] = dot * scale;
            max = std::max(max, score[j]);
          }
          double sum = 0;
          std::vector<double> expected(d, 0.0);
          for (int64_t j = 0; j < keyLen; ++j) {
            if (!allowed[j])
              continue;
            double p = std::exp(score[j] - max);
            sum += p;
            for (int64_t c = 0; c < d; ++c)
              expected[c] += p * row(v, j)[c];
          }
          for (int64_t c = 0; c < d; ++c) {
            double want = sum > 0 ? expected[c] / sum : 0.0;
            double got = spec.modelLayout
                             ? o.data[(b * len + i) * heads * d + h * d + c]
                             : row(o, i)[c];
            EXPECT_FALSE(std::isnan(got))
                << "O[" << b << ", " << h << ", " << i << ", " << c << "]";
            if (sum == 0) // A row with no allowed key is exactly 0.
              EXPECT_EQ(got, 0.0)
                  << "O[" << b << ", " << h << ", " << i << ", " << c << "]";
            worst = std::max(worst, std::abs(got - want));
          }
        }
    std::printf("  %s: max |O - reference| = %.3g\n", spec.name.c_str(), worst);
    return worst;
  }

  mlir::DialectRegistry registry;
};

TEST_F(GpuKernelsEmulation, GemmTensorCores) {
  checkGemm({"f16_plain", 128, 128, 64, GpuGemmInput::F16, GpuActivation::None,
             false});
  checkGemm({"bf16_gelu_residual", 64, 192, 96, GpuGemmInput::BF16,
             GpuActivation::GeluTanh, true});
  checkGemm({"f16_relu_ragged", 77, 64, 32, GpuGemmInput::F16,
             GpuActivation::Relu, true});
  // More K steps than the 3 stages: the ring wraps.
  checkGemm({"f16_long_k", 64, 64, 256, GpuGemmInput::F16, GpuActivation::None,
             false});
}

// The 128x128 tile (8 warps of 64x32, 2 stages): a ragged M, K over more
// steps than stages, and an f32 A rounded in the kernel.
TEST_F(GpuKernelsEmulation, GemmTensorCoresLargeTile) {
  GpuGemmSpec f16{"f16_large_ragged",  130, 128, 96, GpuGemmInput::F16,
                  GpuActivation::Relu, true};
  f16.tile = xfc::GpuGemmTile::Large;
  checkGemm(f16);
  GpuGemmSpec bf16{"bf16_large_a_f32",      77,   256, 64, GpuGemmInput::BF16,
                   GpuActivation::GeluTanh, false};
  bf16.tile = xfc::GpuGemmTile::Large;
  bf16.aInF32 = true;
  checkGemm(bf16);
}

// A model compiled with --dtype=f16 or bf16: A in f32, rounded in the
// kernel; the tolerance is the same, as the reference rounds A alike.
TEST_F(GpuKernelsEmulation, GemmTensorCoresRoundF32A) {
  GpuGemmSpec f16{
      "f16_a_f32", 77, 128, 64, GpuGemmInput::F16, GpuActivation::GeluErf,
      true};
  f16.aInF32 = true;
  checkGemm(f16);
  GpuGemmSpec bf16{"bf16_a_f32",        64,   64, 96, GpuGemmInput::BF16,
                   GpuActivation::None, false};
  bf16.aInF32 = true;
  checkGemm(bf16);
}

// C in the half type (a GEMM whose only reader is the flash attention
// kernel): each output rounded once, after the epilogue; both tiles.
TEST_F(GpuKernelsEmulation, GemmTensorCoresHalfOutput) {
  GpuGemmSpec f16{"f16_c_f16_ragged",  77,   128, 64, GpuGemmInput::F16,
                  GpuActivation::None, false};
  f16.aInF32 = true;
  f16.cInInputType = true;
  checkGemm(f16);
  GpuGemmSpec bf16{"bf16_c_bf16_large",     130, 128, 96, GpuGemmInput::BF16,
                   GpuActivation::GeluTanh, true};
  bf16.aInF32 = true;
  bf16.cInInputType = true;
  bf16.tile = xfc::GpuGemmTile::Large;
  checkGemm(bf16);
}

// sm_90a's warpgroup MMA: both tiles, K over more tiles than the 4 stages
// (the ring wraps) and fewer than the prologue fills, ragged M, an f32 A
// rounded in the kernel, C in the half type. The tensor cores read A and B
// through matrix descriptors, which the emulator decodes by the PTX ISA's
// canonical layouts: a stage laid out otherwise, or read before its copies
// are fenced for the async proxy, fails here.
TEST_F(GpuKernelsEmulation, GemmWarpgroupMma) {
  GpuGemmSpec f16{"wgmma_f16_long_k",  128,  128, 384, GpuGemmInput::F16,
                  GpuActivation::None, false};
  f16.tile = xfc::GpuGemmTile::Wgmma64x128;
  checkGemm(f16);
  GpuGemmSpec bf16{
      "wgmma_bf16_gelu_residual_ragged", 77,  256, 128, GpuGemmInput::BF16,
      GpuActivation::GeluTanh,           true};
  bf16.tile = xfc::GpuGemmTile::Wgmma64x128;
  checkGemm(bf16);
  GpuGemmSpec large{"wgmma_f16_large_a_f32_ragged",
                    130,
                    128,
                    320,
                    GpuGemmInput::F16,
                    GpuActivation::Relu,
                    true};
  large.tile = xfc::GpuGemmTile::Wgmma128x128;
  large.aInF32 = true;
  checkGemm(large);
  GpuGemmSpec half{"wgmma_bf16_large_c_bf16_one_tile",
                   64,
                   128,
                   64,
                   GpuGemmInput::BF16,
                   GpuActivation::GeluErf,
                   false};
  half.tile = xfc::GpuGemmTile::Wgmma128x128;
  half.aInF32 = true;
  half.cInInputType = true;
  checkGemm(half);
}

// What the warpgroup MMA GEMM's pipeline needs, each taken out of the
// generated kernel in turn: the proxy fence after the copies land, the
// wait that frees a stage before it is refilled, and the final wait
// before the epilogue reads the accumulators.
TEST_F(GpuKernelsEmulation, EmulatorCatchesWgmmaHazards) {
  GpuGemmSpec gemm{
      "wgmma", 64, 128, 384, GpuGemmInput::F16, GpuActivation::None, false};
  gemm.tile = xfc::GpuGemmTile::Wgmma64x128;
  GpuKernelSet set;
  set.gemms.push_back(gemm);
  std::string source, error;
  std::vector<GpuKernelLaunch> launches;
  ASSERT_TRUE(xfc::gpuKernelSource(set, source, launches, error)) << error;
  struct Mutation {
    std::string from, to, expected;
  } mutations[] = {
      {"nvvm.fence.proxy", "// no fence",
       "that its writer has not fenced for the async proxy"},
      {"nvvm.wgmma.wait.group.sync.aligned 1",
       "nvvm.wgmma.wait.group.sync.aligned 2",
       "which a wgmma.mma_async in flight reads"},
      {"nvvm.wgmma.wait.group.sync.aligned 0", "// no final wait",
       "reads a wgmma accumulator before its warpgroup waits"},
      {"nvvm.wgmma.fence.aligned", "// no wgmma.fence",
       "without a wgmma.fence first"},
  };
  std::mt19937 random(5);
  Buffer a = randomBuffer({gemm.m, gemm.k}, random);
  Buffer b = randomBuffer({gemm.k, gemm.n}, random);
  Buffer bias = randomBuffer({gemm.n}, random);
  for (const Mutation &mutation : mutations) {
    SCOPED_TRACE(mutation.from);
    std::string mutated = source;
    size_t at = mutated.find(mutation.from);
    ASSERT_NE(at, std::string::npos);
    mutated.replace(at, mutation.from.size(), mutation.to);
    mlir::MLIRContext context(registry);
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(mutated, &context);
    ASSERT_TRUE(module);
    Emulator emulator(*module->getOps<mlir::gpu::GPUModuleOp>().begin());
    Buffer c;
    c.shape = {gemm.m, gemm.n};
    c.data.assign(gemm.m * gemm.n, NAN);
    EXPECT_FALSE(emulator.run(launches.at(0), {&a, &b, &bias, &c}, error));
    EXPECT_NE(error.find(mutation.expected), std::string::npos) << error;
  }
}

// --allow-tf32: f32 A and B rounded to TF32 in the kernel; the reference
// rounds them alike, so only the f32 sums differ.
TEST_F(GpuKernelsEmulation, GemmTf32) {
  checkGemm({"tf32_plain", 128, 128, 64, GpuGemmInput::TF32,
             GpuActivation::None, false});
  checkGemm({"tf32_gelu_erf_residual_ragged", 77, 64, 96, GpuGemmInput::TF32,
             GpuActivation::GeluErf, true});
}

TEST_F(GpuKernelsEmulation, GemmF32) {
  checkGemm({"f32_plain", 128, 128, 48, GpuGemmInput::F32, GpuActivation::None,
             false});
  checkGemm({"f32_gelu_residual_ragged", 70, 64, 32, GpuGemmInput::F32,
             GpuActivation::GeluTanh, true});
  checkGemm(
      {"f32_relu", 64, 64, 16, GpuGemmInput::F32, GpuActivation::Relu, false});
  checkGemm({"f32_gelu_erf_ragged", 77, 128, 64, GpuGemmInput::F32,
             GpuActivation::GeluErf, false});
}

// Residual + LayerNorm, a plain LayerNorm (no residual: s = x), and
// residual + LayerNorm that also writes the sum s (a pre-LN stack's
// residual stream), at odd sizes.
/// LayerNorm of s = x + r over the rows of x ([rows, D]) in f64, the
/// biased variance as PyTorch's: y row by row.
std::vector<double> layerNormReference(const Buffer &x, const Buffer &r,
                                       const Buffer &gamma, const Buffer &beta,
                                       double epsilon) {
  int64_t rows = x.shape[0], dim = x.shape[1];
  std::vector<double> y(rows * dim);
  for (int64_t i = 0; i < rows; ++i) {
    auto s = [&](int64_t j) {
      return x.data[i * dim + j] + r.data[i * dim + j];
    };
    double mean = 0, var = 0;
    for (int64_t j = 0; j < dim; ++j)
      mean += s(j);
    mean /= dim;
    for (int64_t j = 0; j < dim; ++j)
      var += (s(j) - mean) * (s(j) - mean);
    var /= dim;
    for (int64_t j = 0; j < dim; ++j)
      y[i * dim + j] =
          (s(j) - mean) / std::sqrt(var + epsilon) * gamma.data[j] +
          beta.data[j];
  }
  return y;
}

TEST_F(GpuKernelsEmulation, LayerNorm) {
  struct Variant {
    bool residual, sumOutput;
  };
  for (auto [residual, sumOutput] :
       {Variant{true, false}, Variant{false, false}, Variant{true, true}})
    // Rows in registers (multiples of 128 up to 2048: 1, 6 and 16 chunks
    // of 4 a lane) and visited column by column (80, 7, 2176).
    for (auto [rows, dim] : {std::pair<int64_t, int64_t>{6, 80},
                             {4, 768},
                             {5, 7},
                             {3, 128},
                             {2, 2048},
                             {2, 2176}}) {
      SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(dim) +
                   (residual ? " + residual" : "") +
                   (sumOutput ? ", sum" : ""));
      std::mt19937 random(11);
      Buffer x = randomBuffer({rows, dim}, random);
      Buffer r = randomBuffer({rows, dim}, random);
      Buffer gamma = randomBuffer({dim}, random);
      Buffer beta = randomBuffer({dim}, random);
      Buffer y, sum;
      y.shape = sum.shape = {rows, dim};
      y.data.assign(rows * dim, NAN);
      sum.data.assign(rows * dim, NAN);
      if (!residual)
        std::fill(r.data.begin(), r.data.end(), 0.0);
      GpuKernelSet set;
      set.layerNorms.push_back({"ln", rows, dim, 1e-5f});
      set.layerNorms[0].residual = residual;
      set.layerNorms[0].sumOutput = sumOutput;
      std::vector<Buffer *> args{&x};
      if (residual)
        args.push_back(&r);
      args.insert(args.end(), {&gamma, &beta, &y});
      if (sumOutput)
        args.push_back(&sum);
      std::string error;
      ASSERT_TRUE(emulate(set, args, error)) << error;
      for (int64_t i = 0; i < rows * dim && sumOutput; ++i)
        ASSERT_EQ(sum.data[i], double(float(x.data[i] + r.data[i])))
            << "s[" << i << "]";
      std::vector<double> reference =
          layerNormReference(x, r, gamma, beta, 1e-5);
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < dim; ++j) {
          double expected = reference[i * dim + j];
          double got = y.data[i * dim + j];
          ASSERT_FALSE(std::isnan(got)) << "y[" << i << ", " << j << "]";
          EXPECT_NEAR(got, expected, 1e-5 * (1 + std::abs(expected)))
              << "y[" << i << ", " << j << "]";
        }
      }
    }
}

// y in the half type (a pre-LN stack's norms, read only by tensor-core
// GEMMs): every value one of that type, within its rounding of the f32
// result; the sum stays f32.
TEST_F(GpuKernelsEmulation, LayerNormHalfOutput) {
  for (GpuGemmInput type : {GpuGemmInput::F16, GpuGemmInput::BF16})
    for (int64_t dim : {768, 80}) {
      bool bf16 = type == GpuGemmInput::BF16;
      SCOPED_TRACE(std::string(bf16 ? "bf16" : "f16") +
                   " D = " + std::to_string(dim));
      const int64_t rows = 3;
      std::mt19937 random(12);
      Buffer x = randomBuffer({rows, dim}, random);
      Buffer r = randomBuffer({rows, dim}, random);
      Buffer gamma = randomBuffer({dim}, random);
      Buffer beta = randomBuffer({dim}, random);
      Buffer y, sum;
      y.shape = sum.shape = {rows, dim};
      y.data.assign(rows * dim, NAN);
      sum.data.assign(rows * dim, NAN);
      GpuKernelSet set;
      set.layerNorms.push_back({"ln_half", rows, dim, 1e-5f});
      set.layerNorms[0].sumOutput = true;
      set.layerNorms[0].yType = type;
      std::vector<Buffer *> args{&x, &r, &gamma, &beta, &y, &sum};
      std::string error;
      ASSERT_TRUE(emulate(set, args, error)) << error;
      // The unit roundoff of the type, and of f32 for the arithmetic.
      double unit = bf16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);
      std::vector<double> reference =
          layerNormReference(x, r, gamma, beta, 1e-5);
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < dim; ++j) {
          double s = x.data[i * dim + j] + r.data[i * dim + j];
          ASSERT_EQ(sum.data[i * dim + j], double(float(s)));
          double expected = reference[i * dim + j];
          double got = y.data[i * dim + j];
          ASSERT_FALSE(std::isnan(got)) << "y[" << i << ", " << j << "]";
          EXPECT_NEAR(got, expected, (unit + 1e-5) * (1 + std::abs(expected)))
              << "y[" << i << ", " << j << "]";
          // A value of the half type: its mantissa fits 11 (f16) or 8
          // (bf16) bits.
          int exponent = 0;
          double mantissa = std::frexp(got, &exponent);
          double scaled = std::ldexp(mantissa, bf16 ? 8 : 11);
          EXPECT_EQ(scaled, std::round(scaled))
              << "y[" << i << ", " << j << "] = " << got;
        }
      }
    }
}

/// An attention spec for the emulator tests.
GpuAttentionSpec attention(const std::string &name, int64_t batch,
                           int64_t heads, int64_t len, int64_t headDim,
                           GpuGemmInput input, bool causal) {
  GpuAttentionSpec spec;
  spec.name = name;
  spec.batch = batch;
  spec.heads = heads;
  spec.seqLen = len;
  spec.headDim = headDim;
  spec.input = input;
  spec.causal = causal;
  return spec;
}

// The tolerances: Q, K and V are exact in the input type, S and the sums
// are f32, and P is rounded to the input type for the P V product
// (relative 2^-11 in f16, 2^-8 in bf16), so an output, a mean of V in
// [-1, 1], is off by at most about that much.
constexpr double kF16Tolerance = 5e-4, kBf16Tolerance = 4e-3;

TEST_F(GpuKernelsEmulation, AttentionDense) {
  EXPECT_LT(checkAttention(
                attention("f16_d64", 1, 2, 77, 64, GpuGemmInput::F16, false)),
            kF16Tolerance);
  EXPECT_LT(checkAttention(attention("bf16_d128", 1, 2, 77, 128,
                                     GpuGemmInput::BF16, false)),
            kBf16Tolerance);
  // Whole tiles only (no row past L to zero-fill), over enough key tiles
  // that the copies of K and V take turns with the multiplies twice.
  EXPECT_LT(checkAttention(attention("f16_whole_tiles", 1, 1, 192, 64,
                                     GpuGemmInput::F16, true)),
            kF16Tolerance);
  // One and seven tokens: a single ragged tile of queries and keys.
  for (int64_t len : {1, 7}) {
    EXPECT_LT(checkAttention(attention("f16_len" + std::to_string(len), 1, 2,
                                       len, 64, GpuGemmInput::F16, false)),
              kF16Tolerance);
    EXPECT_LT(
        checkAttention(attention("f16_causal_len" + std::to_string(len), 1, 1,
                                 len, 128, GpuGemmInput::F16, true)),
        kF16Tolerance);
  }
  // A head dim of 80 and O in the input type (rounded once more).
  GpuAttentionSpec d80 =
      attention("bf16_d80_out_bf16", 1, 1, 77, 80, GpuGemmInput::BF16, false);
  d80.outputInInputType = true;
  EXPECT_LT(checkAttention(d80), 2 * kBf16Tolerance);
  // The smallest head dim and one between 64 and 128.
  EXPECT_LT(checkAttention(
                attention("f16_d16", 1, 1, 70, 16, GpuGemmInput::F16, true)),
            kF16Tolerance);
  EXPECT_LT(checkAttention(
                attention("f16_d96", 1, 1, 70, 96, GpuGemmInput::F16, false)),
            kF16Tolerance);
  // An explicit scale.
  GpuAttentionSpec scaled =
      attention("f16_scale", 1, 1, 40, 64, GpuGemmInput::F16, false);
  scaled.scale = 0.5f;
  EXPECT_LT(checkAttention(scaled), kF16Tolerance);
}

// Head groups with layouts of their own (an attention pattern with '|'):
// 4 heads in 2 groups over 150 tokens (3 tiles). Group 0 sees the
// diagonal tiles, group 1 the first key tile and the tile before the
// diagonal, one of its query tiles nothing; with masks, the groups share
// them.
TEST_F(GpuKernelsEmulation, AttentionBlockSparseHeadGroups) {
  AttentionMasks masks;
  masks.groups = 2;
  masks.tileOffsets = {0, 1, 2, 3, /*group 1:*/ 4, 4, 6};
  masks.tileIndices = {0, 1, 2, 0, 0, 1};
  EXPECT_LT(checkAttention(attention("f16_head_groups", 2, 4, 150, 64,
                                     GpuGemmInput::F16, false),
                           masks),
            kF16Tolerance);
  masks.tileMaskIndex = {0, 0, -1, 1, 1, -1};
  for (int m = 0; m < 2; ++m)
    for (int r = 0; r < xfc::kGpuAttentionTile; ++r)
      for (int w = 0; w < 2; ++w)
        masks.tileMasks.push_back(m ? int32_t(0x0000FFFFu << (r % 16))
                                    : int32_t(0x55555555u));
  masks.lengths = {150, 100};
  EXPECT_LT(checkAttention(attention("bf16_head_groups_masks", 2, 4, 150, 64,
                                     GpuGemmInput::BF16, true),
                           masks, /*compiledLayout=*/true),
            kBf16Tolerance);
}

// Q, K and V as a fused QKV projection's f32 output, O in xf.attention's
// layout (--dtype=f16 and bf16 models): the values are exact in the
// input type, so the tolerances are the same.
TEST_F(GpuKernelsEmulation, AttentionModelLayout) {
  GpuAttentionSpec f16 =
      attention("f16_fused_qkv", 2, 2, 77, 64, GpuGemmInput::F16, true);
  f16.modelLayout = true;
  f16.rowWidth = 3 * 2 * 64 + 8;
  f16.columnOffsets[0] = 0;
  f16.columnOffsets[1] = 2 * 64;
  f16.columnOffsets[2] = 2 * 2 * 64 + 8;
  EXPECT_LT(checkAttention(f16, {{77, 30}, {}, {}}), kF16Tolerance);
  // The GPT-like golden model's attention: head dim 80, causal, fused.
  GpuAttentionSpec d80 =
      attention("f16_d80_fused_causal", 2, 2, 77, 80, GpuGemmInput::F16, true);
  d80.modelLayout = true;
  d80.rowWidth = 3 * 2 * 80;
  for (int i = 0; i < 3; ++i)
    d80.columnOffsets[i] = i * 2 * 80;
  EXPECT_LT(checkAttention(d80), kF16Tolerance);
  // Separate Q, K and V buffers of one head each, head dim 80.
  GpuAttentionSpec bf16 =
      attention("bf16_d80_separate", 1, 1, 7, 80, GpuGemmInput::BF16, false);
  bf16.modelLayout = true;
  bf16.rowWidth = 80;
  EXPECT_LT(checkAttention(bf16), kBf16Tolerance);
  // Rows in the input type (the QKV GEMM wrote them so), by cp.async:
  // head dims that prefetch through registers in f32 and that do not.
  for (int64_t d : {64, 128}) {
    GpuAttentionSpec half =
        attention("f16_fused_qkv_f16_rows_d" + std::to_string(d), 2, 2, 77, d,
                  GpuGemmInput::F16, true);
    half.modelLayout = true;
    half.rowsInInputType = true;
    half.rowWidth = 3 * 2 * d;
    for (int i = 0; i < 3; ++i)
      half.columnOffsets[i] = i * 2 * d;
    EXPECT_LT(checkAttention(half, {{77, 50}, {}, {}}), kF16Tolerance);
  }
}

TEST_F(GpuKernelsEmulation, AttentionCausal) {
  EXPECT_LT(checkAttention(attention("f16_causal_d64", 1, 2, 77, 64,
                                     GpuGemmInput::F16, true)),
            kF16Tolerance);
  EXPECT_LT(checkAttention(attention("f16_causal_d128", 1, 2, 77, 128,
                                     GpuGemmInput::F16, true)),
            kF16Tolerance);
  EXPECT_LT(checkAttention(attention("bf16_causal_d64", 1, 1, 130, 64,
                                     GpuGemmInput::BF16, true)),
            kBf16Tolerance);
}

// Cross-attention: queries and keys of different lengths (a decoder's
// tokens over an encoder's), in both layouts. The causal mask is j <= i
// from the first query and key on, as xf.attention's.
TEST_F(GpuKernelsEmulation, AttentionCross) {
  // Fewer queries than keys: one query tile over two key tiles.
  GpuAttentionSpec few =
      attention("f16_cross_7x77", 2, 2, 7, 64, GpuGemmInput::F16, false);
  few.keyLen = 77;
  EXPECT_LT(checkAttention(few), kF16Tolerance);
  // More key tiles than query tiles, causal: the keys past the last query
  // are never visible, and the loop stops before their tiles.
  GpuAttentionSpec causal = attention("f16_cross_causal_77x150", 1, 2, 77, 128,
                                      GpuGemmInput::F16, true);
  causal.keyLen = 150;
  EXPECT_LT(checkAttention(causal), kF16Tolerance);
  // More queries than keys, with key padding.
  GpuAttentionSpec many =
      attention("bf16_cross_130x20", 2, 1, 130, 64, GpuGemmInput::BF16, false);
  many.keyLen = 20;
  EXPECT_LT(checkAttention(many, {{20, 9}, {}, {}}), kBf16Tolerance);
  // One query (a decoding step) over 77 keys.
  GpuAttentionSpec one =
      attention("f16_cross_1x77", 1, 2, 1, 64, GpuGemmInput::F16, false);
  one.keyLen = 77;
  EXPECT_LT(checkAttention(one), kF16Tolerance);
}

// The model layout of cross-attention: Q its projection's f32 rows, K and
// V the two halves of the fused KV projection's rows over the encoder's
// output, padded keys masked (an encoder-decoder model's decoder).
TEST_F(GpuKernelsEmulation, AttentionCrossModelLayout) {
  GpuAttentionSpec f16 =
      attention("f16_cross_fused_kv", 2, 2, 13, 64, GpuGemmInput::F16, false);
  f16.keyLen = 77;
  f16.modelLayout = true;
  f16.rowWidth = 2 * 64;
  f16.keyValueRowWidth = 2 * 2 * 64;
  f16.columnOffsets[2] = 2 * 64;
  EXPECT_LT(checkAttention(f16, {{77, 40}, {}, {}}), kF16Tolerance);
  // Head dim 80 (at most 64 prefetches through registers; more stages in
  // one go), more queries than keys, Q in a wider buffer at an offset.
  GpuAttentionSpec d80 = attention("bf16_cross_fused_kv_d80", 1, 2, 77, 80,
                                   GpuGemmInput::BF16, false);
  d80.keyLen = 5;
  d80.modelLayout = true;
  d80.rowWidth = 2 * 80 + 16;
  d80.columnOffsets[0] = 16;
  d80.keyValueRowWidth = 2 * 2 * 80;
  d80.columnOffsets[2] = 2 * 80;
  EXPECT_LT(checkAttention(d80), kBf16Tolerance);
  // The same in bf16 rows, by cp.async.
  d80.name = "bf16_cross_fused_kv_d80_bf16_rows";
  d80.rowsInInputType = true;
  EXPECT_LT(checkAttention(d80), kBf16Tolerance);
}

// A block-sparse layout over queries and keys of different lengths: 2
// query tiles (70 queries) over 3 key tiles (150 keys), an entry past the
// keys skipped.
TEST_F(GpuKernelsEmulation, AttentionCrossBlockSparse) {
  GpuAttentionSpec spec = attention("f16_cross_block_sparse", 1, 2, 70, 64,
                                    GpuGemmInput::F16, false);
  spec.keyLen = 150;
  AttentionMasks masks;
  masks.tileOffsets = {0, 2, 4};
  masks.tileIndices = {2, 0, 1, 3};
  EXPECT_LT(checkAttention(spec, masks), kF16Tolerance);
  masks.lengths = {140};
  EXPECT_LT(checkAttention(spec, masks, /*compiledLayout=*/true),
            kF16Tolerance);
}

TEST_F(GpuKernelsEmulation, AttentionKeyPadding) {
  // Lengths past L (clamped), inside the first tile, 0 (every row 0) and
  // negative (as 0).
  AttentionMasks masks;
  masks.lengths = {100, 30, 0, -3};
  EXPECT_LT(checkAttention(attention("f16_padding", 4, 1, 77, 64,
                                     GpuGemmInput::F16, false),
                           masks),
            kF16Tolerance);
  masks.lengths = {70, 5};
  EXPECT_LT(checkAttention(attention("f16_padding_causal", 2, 1, 77, 64,
                                     GpuGemmInput::F16, true),
                           masks),
            kF16Tolerance);
}

// 128 query rows a block, two m16 tiles a warp (rows 16 w .. + 15 and
// 64 + 16 w .. + 15): Q in registers up to d = 96, read from shared
// memory per key tile past it (dynamic shared memory), in every layout.
TEST_F(GpuKernelsEmulation, AttentionQueryTile128) {
  auto tile128 = [](GpuAttentionSpec spec) {
    spec.queryTile = 128;
    return spec;
  };
  // One block of rows, most past L; and two, causal, over 3 key tiles.
  EXPECT_LT(checkAttention(tile128(attention("f16_q128_d64", 1, 2, 77, 64,
                                             GpuGemmInput::F16, false))),
            kF16Tolerance);
  EXPECT_LT(checkAttention(tile128(attention("bf16_q128_causal_d128", 1, 1, 150,
                                             128, GpuGemmInput::BF16, true))),
            kBf16Tolerance);
  // Whole tiles: both m16 tiles of every warp full, 4 key tiles.
  EXPECT_LT(checkAttention(tile128(attention("f16_q128_whole_causal", 1, 1, 256,
                                             64, GpuGemmInput::F16, true))),
            kF16Tolerance);
  // One and seven tokens; head dims 80 and 96 (Q still in registers).
  EXPECT_LT(checkAttention(tile128(attention("f16_q128_len1_d80", 1, 2, 1, 80,
                                             GpuGemmInput::F16, false))),
            kF16Tolerance);
  EXPECT_LT(checkAttention(tile128(attention("f16_q128_causal_len7_d128", 1, 1,
                                             7, 128, GpuGemmInput::F16, true))),
            kF16Tolerance);
  AttentionMasks padding;
  padding.lengths = {200, 65};
  EXPECT_LT(checkAttention(tile128(attention("f16_q128_d96_padding", 2, 1, 200,
                                             96, GpuGemmInput::F16, false)),
                           padding),
            kF16Tolerance);
  // Cross-attention with key padding, and O in the input type.
  GpuAttentionSpec cross = tile128(attention(
      "bf16_q128_cross_130x20", 2, 1, 130, 128, GpuGemmInput::BF16, false));
  cross.keyLen = 20;
  cross.outputInInputType = true;
  EXPECT_LT(checkAttention(cross, {{20, 9}, {}, {}}), 2 * kBf16Tolerance);
  // The model layout: f32 rows (prefetched through registers at d = 64,
  // staged in one go at d = 128) and f16 rows by cp.async.
  for (int64_t d : {64, 128})
    for (bool halfRows : {false, true}) {
      GpuAttentionSpec fused =
          tile128(attention("f16_q128_fused_qkv_d" + std::to_string(d) +
                                (halfRows ? "_f16_rows" : "_f32_rows"),
                            2, 2, 150, d, GpuGemmInput::F16, true));
      fused.modelLayout = true;
      fused.rowsInInputType = halfRows;
      fused.rowWidth = 3 * 2 * d;
      for (int i = 0; i < 3; ++i)
        fused.columnOffsets[i] = i * 2 * d;
      EXPECT_LT(checkAttention(fused, {{150, 100}, {}, {}}), kF16Tolerance);
    }
}

TEST_F(GpuKernelsEmulation, AttentionBlockSparse) {
  // 150 tokens, 3 tiles of 64 (the last of 22). Query tile 0 visits key
  // tile 1 first, which causality masks entirely for its rows, then tile
  // 0; query tile 1 lists nothing (its rows are 0); query tile 2 lists
  // tile 2, entries outside the keys (skipped) and tile 0.
  AttentionMasks masks;
  masks.tileOffsets = {0, 2, 2, 6};
  masks.tileIndices = {1, 0, 2, 7, 0, -1};
  EXPECT_LT(checkAttention(attention("f16_sparse_causal", 1, 2, 150, 64,
                                     GpuGemmInput::F16, true),
                           masks),
            kF16Tolerance);
  EXPECT_LT(checkAttention(attention("bf16_sparse", 1, 1, 150, 128,
                                     GpuGemmInput::BF16, false),
                           masks),
            kBf16Tolerance);
  // With key padding: batch item 1 has 40 keys, so tile 2 is skipped and
  // tile 1 is fully masked for it.
  masks.lengths = {150, 40};
  EXPECT_LT(checkAttention(attention("f16_sparse_causal_padding", 2, 1, 150, 64,
                                     GpuGemmInput::F16, true),
                           masks),
            kF16Tolerance);
  // Masks inside tiles, compiled in: a band |i - j| <= 20 (a sliding
  // window through the tiles' corners), and random bits; query tile 2's
  // entry 7 (outside the keys) carries a mask too.
  AttentionMasks partial;
  partial.tileOffsets = {0, 2, 4, 7};
  partial.tileIndices = {0, 1, 0, 1, 2, 7, 1};
  partial.tileMaskIndex = {0, 1, 2, -1, 0, 1, 1};
  std::mt19937 bits(9);
  for (int m = 0; m < 3; ++m)
    for (int r = 0; r < 64; ++r)
      for (int w = 0; w < 2; ++w) {
        uint32_t word = 0;
        for (int c = 0; c < 32; ++c) {
          int j = 32 * w + c;
          // Mask 0: the band on a diagonal tile; 1: its corner above;
          // 2: its corner below; all with random holes.
          int offset = m == 0 ? 0 : m == 1 ? 64 : -64;
          bool band = std::abs(r - (j + offset)) <= 20;
          if (band && bits() % 8 != 0)
            word |= uint32_t(1) << c;
        }
        partial.tileMasks.push_back(int32_t(word));
      }
  EXPECT_LT(checkAttention(attention("f16_tile_masks", 1, 2, 150, 64,
                                     GpuGemmInput::F16, false),
                           partial, /*compiledLayout=*/true),
            kF16Tolerance);
  partial.lengths = {150, 100};
  EXPECT_LT(checkAttention(attention("bf16_tile_masks_causal_padding", 2, 1,
                                     150, 128, GpuGemmInput::BF16, true),
                           partial, /*compiledLayout=*/true),
            kBf16Tolerance);

  // The same layout compiled into the kernel (constant arrays of the
  // module), with Q, K and V in the model's layout.
  GpuAttentionSpec compiled =
      attention("f16_sparse_compiled", 2, 2, 150, 64, GpuGemmInput::F16, true);
  compiled.modelLayout = true;
  compiled.rowWidth = 3 * 2 * 64;
  for (int i = 0; i < 3; ++i)
    compiled.columnOffsets[i] = i * 2 * 64;
  EXPECT_LT(checkAttention(compiled, masks, /*compiledLayout=*/true),
            kF16Tolerance);
}

TEST_F(GpuKernelsEmulation, EmulatorCatchesOutOfBoundsAccess) {
  // The emulator's own check: a C too small for the grid is an error, not
  // a silent write.
  GpuGemmSpec gemm{"g",  64, 64, 32, GpuGemmInput::F16, GpuActivation::None,
                   false};
  std::mt19937 random(1);
  Buffer a = randomBuffer({64, 32}, random);
  Buffer b = randomBuffer({32, 64}, random);
  Buffer bias = randomBuffer({64}, random);
  Buffer c = randomBuffer({32, 64}, random);
  GpuKernelSet set;
  set.gemms.push_back(gemm);
  std::string error;
  EXPECT_FALSE(emulate(set, {&a, &b, &bias, &c}, error));
  EXPECT_NE(error.find("of dimension 0 of size 32"), std::string::npos)
      << error;
}

TEST_F(GpuKernelsEmulation, EmulatorCatchesRaces) {
  // Thread t writes s[t] and reads s[(t + 1) % 128]: racy without the
  // barrier.
  auto kernel = [](bool barrier) {
    return std::string(R"mlir(
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%out: memref<128xf32>)
        workgroup(%s: memref<128xf32, #gpu.address_space<workgroup>>) kernel {
      %c1 = arith.constant 1 : index
      %tid = gpu.thread_id x
      %v = memref.load %out[%tid] : memref<128xf32>
      memref.store %v, %s[%tid] : memref<128xf32, #gpu.address_space<workgroup>>
      )mlir") +
           (barrier ? "gpu.barrier" : "") + R"mlir(
      %c128 = arith.constant 128 : index
      %next = arith.addi %tid, %c1 : index
      %other = arith.remui %next, %c128 : index
      %w = memref.load %s[%other] : memref<128xf32, #gpu.address_space<workgroup>>
      gpu.return
    }
  }
}
)mlir";
  };
  for (bool barrier : {true, false}) {
    mlir::MLIRContext context(registry);
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(kernel(barrier), &context);
    ASSERT_TRUE(module);
    Emulator emulator(*module->getOps<mlir::gpu::GPUModuleOp>().begin());
    GpuKernelLaunch launch;
    launch.kernel = "k";
    launch.block[0] = 128;
    Buffer out;
    out.shape = {128};
    out.data.assign(128, 1.0);
    std::string error;
    EXPECT_EQ(emulator.run(launch, {&out}, error), barrier) << error;
    if (!barrier)
      EXPECT_NE(error.find("race on shared memory: thread 0 reads element 1 "
                           "written by another thread"),
                std::string::npos)
          << error;
  }
}

TEST_F(GpuKernelsEmulation, EmulatorCatchesEarlyReadsOfAsyncCopies) {
  // Each thread copies 8 elements into s by cp.async and reads them back:
  // wrong before its group is waited for, right after.
  auto kernel = [](bool wait) {
    return std::string(R"mlir(
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%in: memref<128x8xf16>, %out: memref<128x8xf16>)
        workgroup(%s: memref<128x8xf16, #gpu.address_space<workgroup>>) kernel {
      %c0 = arith.constant 0 : index
      %tid = gpu.thread_id x
      %t = nvgpu.device_async_copy %in[%tid, %c0], %s[%tid, %c0], 8 {bypassL1} : memref<128x8xf16> to memref<128x8xf16, #gpu.address_space<workgroup>>
      %g = nvgpu.device_async_create_group {}
      )mlir") +
           (wait ? "nvgpu.device_async_wait %g {numGroups = 0 : i32}" : "") +
           R"mlir(
      %v = vector.load %s[%tid, %c0] : memref<128x8xf16, #gpu.address_space<workgroup>>, vector<8xf16>
      vector.store %v, %out[%tid, %c0] : memref<128x8xf16>, vector<8xf16>
      gpu.return
    }
  }
}
)mlir";
  };
  for (bool wait : {true, false}) {
    mlir::MLIRContext context(registry);
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(kernel(wait), &context);
    ASSERT_TRUE(module);
    Emulator emulator(*module->getOps<mlir::gpu::GPUModuleOp>().begin());
    GpuKernelLaunch launch;
    launch.kernel = "k";
    launch.block[0] = 128;
    std::mt19937 random(3);
    Buffer in = randomBuffer({128, 8}, random);
    Buffer out;
    out.shape = {128, 8};
    out.data.assign(128 * 8, NAN);
    std::string error;
    EXPECT_EQ(emulator.run(launch, {&in, &out}, error), wait) << error;
    if (wait)
      EXPECT_EQ(out.data, in.data);
    else
      EXPECT_NE(error.find("thread 0 reads element 0 of shared memory before "
                           "the cp.async that writes it is waited for"),
                std::string::npos)
          << error;
  }
}

} // namespace
