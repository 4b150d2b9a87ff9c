//===- GpuKernels.cpp - Device kernels for NVIDIA GPUs --------------------===//
//
// Part of xfc. See GpuKernels.h. This file implements the generators of the
// first device kernels: a GEMM with a fused epilogue, residual + LayerNorm
// and fused (flash) attention.
//
// Each kernel is written as MLIR text filled with its static shapes and
// parsed, rather than built op by op: the text reads like the kernel it is,
// so its structure can be reviewed line by line against the launch
// contract, and the text gpuKernelSource returns can be run through the
// lowering passes by hand (mlir-opt or xfc-opt). The text uses the gpu,
// nvgpu (ldmatrix, cp.async), nvvm (mma.sync), arith, vector, memref, scf
// and func dialects; GpuCodegen.cpp lowers it to PTX.
//
// Tiles reach shared memory by cp.async where the source is already in the
// input type, so copies overlap the tensor cores: a ring of stages in the
// GEMM, K and V taking turns in attention. The GEMM takes N and K in whole
// tiles (M may be ragged, and so may attention's sequence length); outputs
// are f32 (attention's may also be in its input type).
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/GpuKernels.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/raw_ostream.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <set>

namespace xfc {
namespace {

//===----------------------------------------------------------------------===//
// Tiles and text helpers
//===----------------------------------------------------------------------===//

/// Every kernel runs 4 warps a block: enough warps for the GEMM's 2x2 warp
/// tiling and a block small enough that a LayerNorm of few rows still
/// spreads over many multiprocessors.
constexpr int64_t kThreads = 128;
/// The GEMM's block tile: 64x64 of C per block, so 4 warps of 32x32 each.
constexpr int64_t kTileM = 64, kTileN = 64;
/// The K step staged in shared memory: two m16n8k16 steps on tensor cores
/// (64-byte rows, four 16-byte ldmatrix rows), 16 FMA steps in f32.
constexpr int64_t kTileKMma = 32, kTileKF32 = 16;
/// Shared memory rows of the tensor-core tiles are padded by 8 elements
/// (16 bytes), so that the 8 row addresses of one ldmatrix fall in
/// different banks while every row stays 16-byte aligned.
constexpr int64_t kPad = 8;
/// The largest grid y (and z) the CUDA driver accepts.
constexpr int64_t kMaxGridY = 65535;
/// The device function the GELU epilogue calls.
constexpr const char *kGeluFunction = "xfc_gelu_tanh";
constexpr const char *kGeluErfFunction = "xfc_gelu_erf";

/// `value` as an MLIR f32 literal of its exact bits.
std::string f32Literal(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  char text[16];
  std::snprintf(text, sizeof text, "0x%08X", bits);
  return text;
}

std::string str(int64_t value) { return std::to_string(value); }

/// The text of one kernel, with the index constants it uses declared once
/// at its top.
class KernelText {
public:
  /// `%cN`, declared on first use.
  std::string c(int64_t value) {
    constants.insert(value);
    return "%c" + str(value);
  }
  /// Appends one line of the body, indented by `depth` levels.
  void line(int depth, const std::string &text) {
    body += std::string(6 + 2 * depth, ' ') + text + "\n";
  }
  /// The constants and the body.
  std::string finish() const {
    std::string out;
    for (int64_t value : constants)
      out += "      %c" + str(value) + " = arith.constant " + str(value) +
             " : index\n";
    return out + body;
  }

private:
  std::set<int64_t> constants;
  std::string body;
};

/// GELU with the tanh approximation on one f32:
///   0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)) = x / (1 + 2^(-2 log2(e) u))
/// with u = sqrt(2/pi) (x + 0.044715 x^3). ex2.approx.f32 (relative error
/// about 2^-22) gives the power of two without libdevice; its +inf for a
/// very negative x gives x / inf = -0, the limit.
std::string geluFunctionText() {
  return std::string(
             R"mlir(    func.func private @xfc_gelu_tanh(%x: f32) -> f32 {
      %one = arith.constant 1.0 : f32
      %c3 = arith.constant )mlir") +
         f32Literal(0.044715f) + R"mlir( : f32
      %sqrt2pi = arith.constant )mlir" +
         f32Literal(0.7978845608f) + R"mlir( : f32
      %m2log2e = arith.constant )mlir" +
         f32Literal(-2.0f * 1.4426950409f) + R"mlir( : f32
      %x2 = arith.mulf %x, %x : f32
      %x3 = arith.mulf %x2, %x : f32
      %t = arith.mulf %x3, %c3 : f32
      %s = arith.addf %x, %t : f32
      %u = arith.mulf %s, %sqrt2pi : f32
      %e = arith.mulf %u, %m2log2e : f32
      %p = llvm.inline_asm "ex2.approx.f32 $0, $1;", "=f,f" %e : (f32) -> f32
      %d = arith.addf %p, %one : f32
      %y = arith.divf %x, %d : f32
      return %y : f32
    }
)mlir";
}

std::string geluErfFunctionText() {
  return std::string(
             R"mlir(    func.func private @xfc_gelu_erf(%x: f32) -> f32 {
      %one = arith.constant 1.0 : f32
      %half = arith.constant 0.5 : f32
      %rsqrt2 = arith.constant )mlir") +
         f32Literal(0.70710678118654752f) + R"mlir( : f32
      %s = arith.mulf %x, %rsqrt2 : f32
      %e = math.erf %s : f32
      %o = arith.addf %e, %one : f32
      %h = arith.mulf %x, %half : f32
      %y = arith.mulf %h, %o : f32
      return %y : f32
    }
)mlir";
}

/// The tensor-core GEMMs' block and warp tiling (GpuGemmTile).
struct MmaTiling {
  int64_t tileM, tileN;   ///< C per block.
  int64_t warpsM, warpsN; ///< The block's warps, as a grid over its tile.
  /// Stages of the K loop in shared memory: while the warps multiply one,
  /// cp.async fills the next. The f16/bf16 kernel only; 48 KiB of static
  /// shared memory bound it (a Large stage takes 18.5 KiB).
  int64_t stages;
  int64_t warpM() const { return tileM / warpsM; }
  int64_t warpN() const { return tileN / warpsN; }
  int64_t fragsM() const { return warpM() / 16; } ///< m16 tiles a warp.
  int64_t fragsN() const { return warpN() / 8; }  ///< n8 tiles a warp.
  int64_t threads() const { return 32 * warpsM * warpsN; }
};
constexpr MmaTiling kSmallTiling{kTileM, kTileN, 2, 2, 3};
constexpr MmaTiling kLargeTiling{128, 128, 2, 4, 2};
static_assert(kLargeTiling.tileM == 128 && kLargeTiling.tileN == 128,
              "preferredGemmTile (GpuKernels.h) assumes the Large tile");
/// The warpgroup MMA tiles: each warpgroup owns 64 rows of C (its warp w
/// rows 16 w .. 16 w + 15 of them) and all 128 columns. Their stages are
/// in dynamic shared memory (kWgmmaTileK deep).
constexpr MmaTiling kWgmma64Tiling{64, 128, 4, 1, 4};
constexpr MmaTiling kWgmma128Tiling{128, 128, 8, 1, 4};
constexpr int64_t kWgmmaTileK = 64;

const MmaTiling &tilingOf(const GpuGemmSpec &spec) {
  switch (spec.tile) {
  case GpuGemmTile::Small:
    return kSmallTiling;
  case GpuGemmTile::Large:
    return kLargeTiling;
  case GpuGemmTile::Wgmma64x128:
    return kWgmma64Tiling;
  case GpuGemmTile::Wgmma128x128:
    return kWgmma128Tiling;
  }
  return kSmallTiling;
}

/// Whether the GEMM's M is ragged: its last block row is partly outside C,
/// so the rows past M are read as zeros and not stored.
bool raggedM(const GpuGemmSpec &spec) {
  return spec.m % tilingOf(spec).tileM != 0;
}

/// `result = load`, a row `row` of A; when M is ragged, zeros for a row
/// past M instead.
void emitRowLoad(KernelText &text, int depth, const GpuGemmSpec &spec,
                 const std::string &result, const std::string &row,
                 const std::string &load, const std::string &type) {
  if (!raggedM(spec)) {
    text.line(depth, result + " = " + load);
    return;
  }
  text.line(depth, result + "_in = arith.cmpi ult, " + row + ", " +
                       text.c(spec.m) + " : index");
  text.line(depth, result + " = scf.if " + result + "_in -> (" + type + ") {");
  text.line(depth + 1, result + "_l = " + load);
  text.line(depth + 1, "scf.yield " + result + "_l : " + type);
  text.line(depth, "} else {");
  text.line(depth + 1, result + "_z = arith.constant dense<0.0> : " + type);
  text.line(depth + 1, "scf.yield " + result + "_z : " + type);
  text.line(depth, "}");
}

/// Applies `activation` to `value` (a vector<widthxf32>), adds the
/// residual row `residualAt` when there is one and stores the result at
/// `outAt` of %C, rounded to the input type when C is in it. `name`
/// makes the SSA names of this store unique.
void emitEpilogueStore(KernelText &text, int depth, const GpuGemmSpec &spec,
                       const std::string &name, const std::string &value,
                       int64_t width, const std::string &row,
                       const std::string &col) {
  std::string vec = "vector<" + str(width) + "xf32>";
  std::string mat = "memref<" + str(spec.m) + "x" + str(spec.n) + "xf32>";
  std::string v = value;
  bool guarded = raggedM(spec);
  if (guarded) {
    text.line(depth, "%" + name + "_in = arith.cmpi ult, " + row + ", " +
                         text.c(spec.m) + " : index");
    text.line(depth++, "scf.if %" + name + "_in {");
  }
  if (spec.activation == GpuActivation::Relu) {
    text.line(depth, "%" + name + "_zero = arith.constant dense<0.0> : " + vec);
    text.line(depth, "%" + name + "_relu = arith.maximumf " + v + ", %" + name +
                         "_zero : " + vec);
    v = "%" + name + "_relu";
  } else if (spec.activation == GpuActivation::GeluTanh ||
             spec.activation == GpuActivation::GeluErf) {
    const char *function = spec.activation == GpuActivation::GeluTanh
                               ? kGeluFunction
                               : kGeluErfFunction;
    std::string elements;
    for (int64_t e = 0; e < width; ++e) {
      std::string x = "%" + name + "_x" + str(e);
      text.line(depth, x + " = vector.extract " + v + "[" + str(e) +
                           "] : f32 from " + vec);
      text.line(depth, "%" + name + "_g" + str(e) + " = func.call @" +
                           function + "(" + x + ") : (f32) -> f32");
      elements += (e ? ", %" : "%") + name + "_g" + str(e);
    }
    text.line(depth, "%" + name + "_gelu = vector.from_elements " + elements +
                         " : " + vec);
    v = "%" + name + "_gelu";
  }
  if (spec.residual) {
    text.line(depth, "%" + name + "_res = vector.load %residual[" + row + ", " +
                         col + "] : " + mat + ", " + vec);
    text.line(depth, "%" + name + "_sum = arith.addf " + v + ", %" + name +
                         "_res : " + vec);
    v = "%" + name + "_sum";
  }
  if (spec.cInInputType) {
    std::string half = spec.input == GpuGemmInput::BF16 ? "bf16" : "f16";
    std::string halfVec = "vector<" + str(width) + "x" + half + ">";
    text.line(depth, "%" + name + "_h = arith.truncf " + v + " : " + vec +
                         " to " + halfVec);
    // Each thread's columns start at an even one: whole 32-bit words (the
    // store is split into 16-bit ones unless told).
    text.line(depth, "vector.store %" + name + "_h, %C[" + row + ", " + col +
                         "] {alignment = " + str(2 * width) + "} : memref<" +
                         str(spec.m) + "x" + str(spec.n) + "x" + half + ">, " +
                         halfVec);
  } else {
    text.line(depth, "vector.store " + v + ", %C[" + row + ", " + col +
                         "] : " + mat + ", " + vec);
  }
  if (guarded)
    text.line(--depth, "}");
}

/// The gpu.func header of a GEMM: its arguments (also recorded in
/// `launch`) and the shared memory tiles.
std::string gemmHeader(const GpuGemmSpec &spec, const std::string &inType,
                       const std::string &aTile, const std::string &bTile,
                       GpuKernelLaunch &launch) {
  auto matrix = [](int64_t rows, int64_t cols, const std::string &type) {
    return "memref<" + str(rows) + "x" + str(cols) + "x" + type + ">";
  };
  launch.arguments = {
      {"A", matrix(spec.m, spec.k, spec.aInF32 ? "f32" : inType)},
      {"B", matrix(spec.k, spec.n, inType)},
      {"bias", "memref<" + str(spec.n) + "xf32>"}};
  if (spec.residual)
    launch.arguments.push_back({"residual", matrix(spec.m, spec.n, "f32")});
  launch.arguments.push_back(
      {"C", matrix(spec.m, spec.n, spec.cInInputType ? inType : "f32")});
  std::string header = "    gpu.func @" + spec.name + "(";
  for (size_t i = 0; i < launch.arguments.size(); ++i)
    header += (i ? ", %" : "%") + launch.arguments[i].name + ": " +
              launch.arguments[i].type;
  // 16-byte vector copies and ldmatrix need 16-byte aligned tiles; the
  // lowering aligns a workgroup buffer to its element type otherwise.
  // No tiles: the kernel's are views of its dynamic shared memory.
  if (aTile.empty())
    return header + ")\n        kernel {\n";
  header += ")\n        workgroup(%As: " + aTile +
            " {llvm.align = 16 : i64}, %Bs: " + bTile +
            " {llvm.align = 16 : i64})\n        kernel {\n";
  return header;
}

/// The 4 registers of ldmatrix.x4 result `x` (vector<4x2xT>, T = `t`,
/// f16 or bf16) as mma.sync operands: vector<2xf16> each, or the 2 bf16
/// packed in an i32.
std::vector<std::string> emitFragmentRegisters(KernelText &k, int depth,
                                               const std::string &x,
                                               const std::string &t) {
  std::vector<std::string> regs;
  for (int r = 0; r < 4; ++r) {
    std::string reg = x + "r" + str(r);
    k.line(depth, reg + " = vector.extract " + x + "[" + str(r) +
                      "] : vector<2x" + t + "> from vector<4x2x" + t + ">");
    if (t == "bf16") {
      k.line(depth,
             reg + "i = llvm.bitcast " + reg + " : vector<2xbf16> to i32");
      reg += "i";
    }
    regs.push_back(reg);
  }
  return regs;
}

/// The GEMMs' common prologue: %tid, and the first row (%row0) and column
/// (%col0) of the block's tile of C (the grid's y and x).
void emitTileOrigin(KernelText &k, const MmaTiling &tiling) {
  k.line(0, "%tid = gpu.thread_id x");
  k.line(0, "%bx = gpu.block_id x");
  k.line(0, "%by = gpu.block_id y");
  k.line(0, "%row0 = arith.muli %by, " + k.c(tiling.tileM) + " : index");
  k.line(0, "%col0 = arith.muli %bx, " + k.c(tiling.tileN) + " : index");
}

//===----------------------------------------------------------------------===//
// GEMM on tensor cores: f16 or bf16 in, f32 accumulate
//===----------------------------------------------------------------------===//

void emitMmaEpilogue(KernelText &k, const GpuGemmSpec &spec,
                     const MmaTiling &tiling);

/// The tensor-core GEMMs' warp tiling: %warp and %lane, and the origin
/// (%wrow, %wcol) of warp w's warpM x warpN tile, at (warpM (w / warpsN),
/// warpN (w % warpsN)) of the block's.
void emitWarpTile(KernelText &k, const MmaTiling &tiling) {
  k.line(0, "%warp = arith.divui %tid, " + k.c(32) + " : index");
  k.line(0, "%lane = arith.remui %tid, " + k.c(32) + " : index");
  k.line(0, "%wm = arith.divui %warp, " + k.c(tiling.warpsN) + " : index");
  k.line(0, "%wn = arith.remui %warp, " + k.c(tiling.warpsN) + " : index");
  k.line(0, "%wrow = arith.muli %wm, " + k.c(tiling.warpM()) + " : index");
  k.line(0, "%wcol = arith.muli %wn, " + k.c(tiling.warpN()) + " : index");
}

/// The f32 accumulator of one m16n8 mma.sync tile.
constexpr const char *kMmaAccumulator = "!llvm.struct<(f32, f32, f32, f32)>";

/// A warp's accumulators, by m16 and n8 tile: SSA names.
using AccumulatorNames = std::vector<std::vector<std::string>>;

/// Opens the tensor-core GEMMs' K loop `header` (an scf.for up to its
/// iter_args) over the warp's fragsM x fragsN accumulators %acc<mi>_<ni>,
/// all starting at %zero; its results are %accs#0 .. (row-major). Returns
/// the accumulators' names inside the loop.
AccumulatorNames emitAccumulatorLoop(KernelText &k, const MmaTiling &tiling,
                                     const std::string &header) {
  AccumulatorNames names(tiling.fragsM());
  std::string iterArgs, types;
  for (int64_t mi = 0; mi < tiling.fragsM(); ++mi)
    for (int64_t ni = 0; ni < tiling.fragsN(); ++ni) {
      names[mi].push_back("%acc" + str(mi) + "_" + str(ni));
      iterArgs +=
          (iterArgs.empty() ? "" : ", ") + names[mi].back() + " = %zero";
      types += std::string(types.empty() ? "" : ", ") + kMmaAccumulator;
    }
  k.line(0, "%accs:" + str(tiling.fragsM() * tiling.fragsN()) + " = " + header +
                " iter_args(" + iterArgs + ") -> (" + types + ") {");
  return names;
}

/// Closes that loop, yielding the accumulators `current`; first a barrier
/// when `barrier` (the next K step overwrites the tiles every warp reads).
void emitAccumulatorYield(KernelText &k, const AccumulatorNames &current,
                          bool barrier) {
  if (barrier) {
    k.line(1, "// The next K step overwrites the tiles every warp reads.");
    k.line(1, "gpu.barrier");
  }
  std::string yields, yieldTypes;
  for (const std::vector<std::string> &row : current)
    for (const std::string &value : row) {
      yields += (yields.empty() ? "" : ", ") + value;
      yieldTypes +=
          std::string(yieldTypes.empty() ? "" : ", ") + kMmaAccumulator;
    }
  k.line(1, "scf.yield " + yields + " : " + yieldTypes);
  k.line(0, "}");
}

/// The staging of a tensor-core GEMM's K tiles in a ring of shared-memory
/// stages, as the mma.sync and wgmma kernels share it; they differ only in
/// where each 16-byte copy lands (`aSlot`, `bSlot`: the indices after the
/// stage). Copy i of A reads row %gar<i> (clamped to %gcl<i>, %gsz<i>
/// elements, when M is ragged) at column %ac<i> of the tile; copy i of B
/// row %br<i> at column %gbc<i>.
struct KTileStaging {
  KernelText &k;
  const GpuGemmSpec &spec;
  int64_t tileK, aCopies, bCopies;
  std::string aType, bType, aTile, bTile;
  std::function<std::string(int64_t)> aSlot, bSlot;

  /// Issues the copies of K tile `kt` into stage `stage`: cp.async for B
  /// (and for A in the input type); an f32 A is loaded into %<prefix>a<i>
  /// instead, for storeA.
  void copies(int depth, const std::string &prefix, const std::string &kt,
              const std::string &stage) const {
    k.line(depth,
           prefix + "k0 = arith.muli " + kt + ", " + k.c(tileK) + " : index");
    for (int64_t i = 0; i < aCopies; ++i) {
      std::string s = str(i), p = prefix + "a" + s;
      k.line(depth,
             p + "k = arith.addi " + prefix + "k0, %ac" + s + " : index");
      if (spec.aInF32) {
        emitRowLoad(k, depth, spec, p, "%gar" + s,
                    "vector.load %A[%gar" + s + ", " + p +
                        "k] {alignment = 16} : " + aType + ", vector<8xf32>",
                    "vector<8xf32>");
        continue;
      }
      std::string row = raggedM(spec) ? "%gcl" + s : "%gar" + s;
      std::string size = raggedM(spec) ? ", %gsz" + s : "";
      k.line(depth, p + " = nvgpu.device_async_copy %A[" + row + ", " + p +
                        "k], %As[" + stage + ", " + aSlot(i) + "], 8" + size +
                        " {bypassL1} : " + aType + " to " + aTile);
    }
    for (int64_t i = 0; i < bCopies; ++i) {
      std::string s = str(i), p = prefix + "b" + s;
      k.line(depth,
             p + "k = arith.addi " + prefix + "k0, %br" + s + " : index");
      k.line(depth, p + " = nvgpu.device_async_copy %B[" + p + "k, %gbc" + s +
                        "], %Bs[" + stage + ", " + bSlot(i) +
                        "], 8 {bypassL1} : " + bType + " to " + bTile);
    }
  }

  /// Rounds the f32 A rows `rows` (one vector<8xf32> a copy) and stores
  /// them in `stage`; `name` makes the SSA names unique.
  void storeA(int depth, const std::vector<std::string> &rows,
              const std::string &name, const std::string &stage) const {
    std::string vec8 =
        "vector<8x" +
        std::string(spec.input == GpuGemmInput::BF16 ? "bf16" : "f16") + ">";
    for (int64_t i = 0; i < aCopies; ++i) {
      std::string h = name + str(i);
      k.line(depth,
             h + " = arith.truncf " + rows[i] + " : vector<8xf32> to " + vec8);
      k.line(depth, "vector.store " + h + ", %As[" + stage + ", " + aSlot(i) +
                        "] {alignment = 16} : " + aTile + ", " + vec8);
    }
  }

  /// The prologue: tiles 0 .. `tiles` - 1 into their stages, a group each.
  void prologue(int64_t tiles, int64_t kTiles) const {
    k.line(0, "// Prologue: tiles 0 .. " + str(tiles - 1) +
                  " into their stages, a group each (empty");
    k.line(0, "// past the last tile, so that wait_group counts steps).");
    for (int64_t s = 0; s < tiles; ++s) {
      std::string p = "%p" + str(s) + "_";
      if (s < kTiles) {
        copies(0, p, k.c(s), k.c(s));
        if (spec.aInF32) {
          std::vector<std::string> rows;
          for (int64_t i = 0; i < aCopies; ++i)
            rows.push_back(p + "a" + str(i));
          storeA(0, rows, p + "h", k.c(s));
        }
      }
      k.line(0, p + "g = nvgpu.device_async_create_group {}");
    }
  }

  /// In the K loop: the copies of tile %next into %nextStage when %fetch,
  /// one group. An f32 A comes out of the scf.if as %nA#<i>, for
  /// storeFetchedA after the multiplies.
  void fetch() const {
    if (spec.aInF32) {
      std::string types, yields, zeros;
      for (int64_t i = 0; i < aCopies; ++i) {
        types += std::string(i ? ", " : "") + "vector<8xf32>";
        yields += std::string(i ? ", " : "") + "%n_a" + str(i);
        zeros += std::string(i ? ", " : "") + "%nz";
      }
      k.line(1,
             "%nA:" + str(aCopies) + " = scf.if %fetch -> (" + types + ") {");
      copies(2, "%n_", "%next", "%nextStage");
      k.line(2, "scf.yield " + yields + " : " + types);
      k.line(1, "} else {");
      k.line(2, "%nz = arith.constant dense<0.0> : vector<8xf32>");
      k.line(2, "scf.yield " + zeros + " : " + types);
      k.line(1, "}");
    } else {
      k.line(1, "scf.if %fetch {");
      copies(2, "%n_", "%next", "%nextStage");
      k.line(1, "}");
    }
    k.line(1, "%ng = nvgpu.device_async_create_group {}");
  }

  /// After the multiplies: the fetched f32 A rows, rounded into their
  /// stage.
  void storeFetchedA() const {
    if (!spec.aInF32)
      return;
    k.line(1, "// The next tile's f32 A rows, rounded into their stage.");
    k.line(1, "scf.if %fetch {");
    std::vector<std::string> rows;
    for (int64_t i = 0; i < aCopies; ++i)
      rows.push_back("%nA#" + str(i));
    storeA(2, rows, "%n_h", "%nextStage");
    k.line(1, "}");
  }
};

/// Block (bx, by) computes the tileM x tileN of C at (tileM by, tileN bx);
/// warp w owns its warpM x warpN as fragsM x fragsN m16n8 accumulators,
/// each the 4 f32 registers of mma.sync's C fragment.
///
/// The K loop runs over tiles of 32 in a ring of `stages` shared-memory
/// stages. At step kt every thread waits for its copies of tile kt
/// (cp.async.wait_group stages - 2), a barrier makes them everyone's and
/// also tells that stage kt - 1 is read by all, so the copies of tile
/// kt + stages - 1 go into it (cp.async, 16 bytes a copy) before the
/// warps multiply tile kt: each k16 step takes ldmatrix.x4 per m16 A
/// fragment and ldmatrix.x4.trans per two n8 B fragments (B is row-major,
/// K x N, and mma.sync wants its columns). One barrier a K step.
///
/// An f32 A (aInF32) cannot be copied by cp.async, which does not convert:
/// its rows of tile kt + stages - 1 are loaded into registers before the
/// multiplies and rounded into their stage after them, so the loads'
/// latency hides behind the tensor cores too.
std::string gemmMmaText(const GpuGemmSpec &spec, GpuKernelLaunch &launch) {
  const MmaTiling &tiling = tilingOf(spec);
  bool bf16 = spec.input == GpuGemmInput::BF16;
  std::string t = bf16 ? "bf16" : "f16";
  int64_t stages = tiling.stages, kTiles = spec.k / kTileKMma;
  std::string aTile = "memref<" + str(stages) + "x" + str(tiling.tileM) + "x" +
                      str(kTileKMma + kPad) + "x" + t +
                      ", #gpu.address_space<workgroup>>";
  std::string bTile = "memref<" + str(stages) + "x" + str(kTileKMma) + "x" +
                      str(tiling.tileN + kPad) + "x" + t +
                      ", #gpu.address_space<workgroup>>";
  // A's element type in memory: the input type, or f32 rounded to it
  // while staging.
  std::string aElement = spec.aInF32 ? "f32" : t;
  std::string aType =
      "memref<" + str(spec.m) + "x" + str(spec.k) + "x" + aElement + ">";
  std::string bType =
      "memref<" + str(spec.k) + "x" + str(spec.n) + "x" + t + ">";
  std::string header = gemmHeader(spec, t, aTile, bTile, launch);
  launch.grid[0] = spec.n / tiling.tileN;
  launch.grid[1] = (spec.m + tiling.tileM - 1) / tiling.tileM;
  launch.block[0] = tiling.threads();
  launch.staticSharedBytes =
      stages *
      (tiling.tileM * (kTileKMma + kPad) + kTileKMma * (tiling.tileN + kPad)) *
      2;

  // The mma.sync operands: 2 f16 as vector<2xf16>, 2 bf16 as an i32.
  std::string operandType = bf16 ? "i32" : "vector<2xf16>";
  std::string acc = kMmaAccumulator;
  // 16-byte copies of a K tile: A's tileM rows of 4, B's 32 rows of
  // tileN / 8; each thread makes the same number.
  int64_t bChunks = tiling.tileN / 8;
  int64_t aCopies = tiling.tileM * 4 / tiling.threads();
  int64_t bCopies = kTileKMma * bChunks / tiling.threads();
  KernelText k;
  emitTileOrigin(k, tiling);
  emitWarpTile(k, tiling);
  k.line(0, "// Staging: copy q = tid + " + str(tiling.threads()) +
                " i moves 8 elements: A row q / 4, column");
  k.line(0, "// 8 (q % 4); B row q / " + str(bChunks) + ", column 8 (q % " +
                str(bChunks) + ").");
  for (int64_t i = 0; i < std::max(aCopies, bCopies); ++i) {
    std::string s = str(i);
    k.line(0, "%q" + s + " = arith.addi %tid, " + k.c(tiling.threads() * i) +
                  " : index");
    if (i < aCopies) {
      k.line(0,
             "%ar" + s + " = arith.divui %q" + s + ", " + k.c(4) + " : index");
      k.line(0,
             "%aq" + s + " = arith.remui %q" + s + ", " + k.c(4) + " : index");
      k.line(0,
             "%ac" + s + " = arith.muli %aq" + s + ", " + k.c(8) + " : index");
      k.line(0, "%gar" + s + " = arith.addi %row0, %ar" + s + " : index");
      if (raggedM(spec) && !spec.aInF32) {
        k.line(0, "// A row past M: a copy of 0 bytes (zeros) from row M - 1.");
        k.line(0, "%gin" + s + " = arith.cmpi ult, %gar" + s + ", " +
                      k.c(spec.m) + " : index");
        k.line(0, "%gcl" + s + " = arith.minsi %gar" + s + ", " +
                      k.c(spec.m - 1) + " : index");
        k.line(0, "%gsz" + s + " = arith.select %gin" + s + ", " + k.c(8) +
                      ", " + k.c(0) + " : index");
      }
    }
    if (i < bCopies) {
      k.line(0, "%br" + s + " = arith.divui %q" + s + ", " + k.c(bChunks) +
                    " : index");
      k.line(0, "%bq" + s + " = arith.remui %q" + s + ", " + k.c(bChunks) +
                    " : index");
      k.line(0,
             "%bc" + s + " = arith.muli %bq" + s + ", " + k.c(8) + " : index");
      k.line(0, "%gbc" + s + " = arith.addi %col0, %bc" + s + " : index");
    }
  }

  KTileStaging staging{
      k,
      spec,
      kTileKMma,
      aCopies,
      bCopies,
      aType,
      bType,
      aTile,
      bTile,
      [](int64_t i) { return "%ar" + str(i) + ", %ac" + str(i); },
      [](int64_t i) { return "%br" + str(i) + ", %bc" + str(i); }};
  // The fragments' ldmatrix rows: lane l gives row l % 16 at column
  // 8 (l / 16) of a 16x16 (A), and of two 16x8 n8 tiles side by side (B,
  // transposed).
  k.line(0, "%l16 = arith.remui %lane, " + k.c(16) + " : index");
  k.line(0, "%lhalf = arith.divui %lane, " + k.c(16) + " : index");
  k.line(0, "%lk = arith.muli %lhalf, " + k.c(8) + " : index");
  for (int64_t mi = 0; mi < tiling.fragsM(); ++mi) {
    std::string s = str(mi);
    k.line(0, "%am" + s + " = arith.addi %wrow, " + k.c(16 * mi) + " : index");
    k.line(0, "%arow" + s + " = arith.addi %am" + s + ", %l16 : index");
  }
  k.line(0, "%bcolw = arith.addi %wcol, %lk : index");
  for (int64_t pair = 0; pair < tiling.fragsN() / 2; ++pair)
    k.line(0, "%bcol" + str(pair) + " = arith.addi %bcolw, " + k.c(16 * pair) +
                  " : index");
  k.line(0, "%zero = llvm.mlir.zero : " + acc);

  staging.prologue(stages - 1, kTiles);
  AccumulatorNames current = emitAccumulatorLoop(
      k, tiling,
      "scf.for %kt = " + k.c(0) + " to " + k.c(kTiles) + " step " + k.c(1));
  k.line(1, "// Tile kt has landed for every thread, and stage kt - 1 is");
  k.line(1, "// read by all.");
  k.line(1, "nvgpu.device_async_wait %p0_g {numGroups = " + str(stages - 2) +
                " : i32}");
  k.line(1, "gpu.barrier");
  k.line(1, "%stage = arith.remui %kt, " + k.c(stages) + " : index");
  k.line(1, "%next = arith.addi %kt, " + k.c(stages - 1) + " : index");
  k.line(1, "%nextStage = arith.remui %next, " + k.c(stages) + " : index");
  k.line(1, "%fetch = arith.cmpi ult, %next, " + k.c(kTiles) + " : index");
  staging.fetch();

  for (int64_t kk = 0; kk < kTileKMma; kk += 16) {
    std::string s = "k" + str(kk);
    k.line(1, "// k16 step " + str(kk / 16) + " of the staged tiles.");
    k.line(1, "%acol_" + s + " = arith.addi %lk, " + k.c(kk) + " : index");
    k.line(1, "%brow_" + s + " = arith.addi %l16, " + k.c(kk) + " : index");
    std::vector<std::vector<std::string>> a, b;
    for (int64_t mi = 0; mi < tiling.fragsM(); ++mi) {
      std::string x = "%a" + str(mi) + "_" + s;
      k.line(1, x + " = nvgpu.ldmatrix %As[%stage, %arow" + str(mi) +
                    ", %acol_" + s +
                    "] {numTiles = 4 : i32, transpose = "
                    "false} : " +
                    aTile + " -> vector<4x2x" + t + ">");
      a.push_back(emitFragmentRegisters(k, 1, x, t));
    }
    for (int64_t pair = 0; pair < tiling.fragsN() / 2; ++pair) {
      std::string x = "%b" + str(pair) + "_" + s;
      k.line(1, x + " = nvgpu.ldmatrix %Bs[%stage, %brow_" + s + ", %bcol" +
                    str(pair) + "] {numTiles = 4 : i32, transpose = true} : " +
                    bTile + " -> vector<4x2x" + t + ">");
      std::vector<std::string> regs = emitFragmentRegisters(k, 1, x, t);
      b.push_back({regs[0], regs[1]});
      b.push_back({regs[2], regs[3]});
    }
    for (int64_t mi = 0; mi < tiling.fragsM(); ++mi)
      for (int64_t ni = 0; ni < tiling.fragsN(); ++ni) {
        std::string d = "%d" + str(mi) + "_" + str(ni) + "_" + s;
        std::string cs;
        for (int j = 0; j < 4; ++j) {
          std::string cj = d + "c" + str(j);
          k.line(1, cj + " = llvm.extractvalue " + current[mi][ni] + "[" +
                        str(j) + "] : " + acc);
          cs += (j ? ", " : "") + cj;
        }
        k.line(1, d + " = nvvm.mma.sync A[" + a[mi][0] + ", " + a[mi][1] +
                      ", " + a[mi][2] + ", " + a[mi][3] + "] B[" + b[ni][0] +
                      ", " + b[ni][1] + "] C[" + cs +
                      "] {layoutA = #nvvm.mma_layout<row>, layoutB = "
                      "#nvvm.mma_layout<col>, multiplicandAPtxType = "
                      "#nvvm.mma_type<" +
                      t + ">, multiplicandBPtxType = #nvvm.mma_type<" + t +
                      ">, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (" +
                      operandType + ", " + operandType + ", f32) -> " + acc);
        current[mi][ni] = d;
      }
  }
  staging.storeFetchedA();
  emitAccumulatorYield(k, current, /*barrier=*/false);

  emitMmaEpilogue(k, spec, tiling);
  k.line(0, "gpu.return");
  return header + k.finish() + "    }\n";
}

/// The tensor-core GEMMs' epilogue: bias, activation, residual and the
/// store of each warp's fragsM x fragsN m16n8 accumulators (%accs#..,
/// warp tile origin %wrow, %wcol). C fragment register 2h + e of lane l
/// holds row l / 4 + 8 h, column 2 (l % 4) + e of its m16n8 tile.
void emitMmaEpilogue(KernelText &k, const GpuGemmSpec &spec,
                     const MmaTiling &tiling) {
  std::string acc = kMmaAccumulator;
  k.line(0, "%erow = arith.divui %lane, " + k.c(4) + " : index");
  k.line(0, "%ecq = arith.remui %lane, " + k.c(4) + " : index");
  k.line(0, "%ecol = arith.muli %ecq, " + k.c(2) + " : index");
  k.line(0, "%erow0 = arith.addi %row0, %wrow : index");
  k.line(0, "%erow1 = arith.addi %erow0, %erow : index");
  k.line(0, "%ecol0 = arith.addi %col0, %wcol : index");
  k.line(0, "%ecol1 = arith.addi %ecol0, %ecol : index");
  for (int64_t mi = 0; mi < tiling.fragsM(); ++mi)
    for (int h = 0; h < 2; ++h)
      k.line(0, "%row_" + str(mi) + "_" + str(h) + " = arith.addi %erow1, " +
                    k.c(16 * mi + 8 * h) + " : index");
  for (int64_t ni = 0; ni < tiling.fragsN(); ++ni) {
    std::string col = "%col_" + str(ni);
    k.line(0, col + " = arith.addi %ecol1, " + k.c(8 * ni) + " : index");
    k.line(0, "%bias_" + str(ni) + " = vector.load %bias[" + col +
                  "] : memref<" + str(spec.n) + "xf32>, vector<2xf32>");
  }
  for (int64_t mi = 0; mi < tiling.fragsM(); ++mi)
    for (int64_t ni = 0; ni < tiling.fragsN(); ++ni)
      for (int h = 0; h < 2; ++h) {
        std::string e = "e" + str(mi) + "_" + str(ni) + "_" + str(h);
        std::string accValue = "%accs#" + str(mi * tiling.fragsN() + ni);
        k.line(0, "%" + e + "_0 = llvm.extractvalue " + accValue + "[" +
                      str(2 * h) + "] : " + acc);
        k.line(0, "%" + e + "_1 = llvm.extractvalue " + accValue + "[" +
                      str(2 * h + 1) + "] : " + acc);
        k.line(0, "%" + e + "_v = vector.from_elements %" + e + "_0, %" + e +
                      "_1 : vector<2xf32>");
        k.line(0, "%" + e + "_b = arith.addf %" + e + "_v, %bias_" + str(ni) +
                      " : vector<2xf32>");
        emitEpilogueStore(k, 0, spec, e, "%" + e + "_b", 2,
                          "%row_" + str(mi) + "_" + str(h), "%col_" + str(ni));
      }
}

//===----------------------------------------------------------------------===//
// GEMM on Hopper's warpgroup MMA (sm_90a): f16 or bf16 in, f32 accumulate
//===----------------------------------------------------------------------===//

/// A warpgroup's m64n128 f32 accumulator: 64 registers a thread.
std::string wgmmaAccumulatorType() {
  std::string type = "!llvm.struct<(";
  for (int i = 0; i < 64; ++i)
    type += i ? ", f32" : "f32";
  return type + ")>";
}

/// Block (bx, by) computes the tileM x 128 of C at (tileM by, 128 bx);
/// warpgroup g of the block its rows 64 g .. 64 g + 63, as the 64
/// registers a thread of wgmma.mma_async m64n128k16's f32 accumulator.
///
/// The tensor cores read A and B from shared memory through matrix
/// descriptors (PTX ISA, "Matrix Descriptor Format"), in the layouts
/// without swizzling, whose unit is the core matrix: 8 rows of 16 bytes,
/// 128 contiguous bytes. A stage holds
///   - A (tileM x 64) K-major: element (r, k) at
///     512 (r / 8) + 64 (k / 8) + 8 (r % 8) + k % 8, so the core matrices
///     next in K are 128 bytes apart (the leading byte offset, LBO) and
///     those next in M 1024 (the stride byte offset, SBO);
///   - B (64 x 128) N-major (B is row-major, K x N; imm-trans-b = 1):
///     element (k, n) at 1024 (k / 8) + 64 (n / 8) + 8 (k % 8) + n % 8, so
///     the core matrices next in N are 128 bytes apart (SBO) and those
///     next in K 2048 (LBO).
/// In both, 16-byte copy q of a stage lands at element 8 q: the copies of
/// a warp fill 512 contiguous bytes (no bank conflicts) and read 64-byte
/// runs of 8 rows from global memory.
///
/// The K loop runs over tiles of 64 in a ring of 4 stages, and keeps one
/// batch of wgmma in flight: at step kt every thread waits for its copies
/// of tile kt, fences them for the tensor cores' (async) proxy, and a
/// barrier makes them everyone's. That barrier also tells that every
/// warpgroup has waited for its batch of step kt - 2 (each waits for all
/// but its last batch), so the copies of tile kt + 2 go into that stage
/// before the warpgroups issue tile kt's four k16 steps as one batch.
///
/// An f32 A (aInF32) is loaded into registers for tile kt + 2 before the
/// batch is issued and rounded into its stage after (st.shared, fenced at
/// the next step), so the loads' latency hides behind the tensor cores.
std::string gemmWgmmaText(const GpuGemmSpec &spec, GpuKernelLaunch &launch) {
  const MmaTiling &tiling = tilingOf(spec);
  const int64_t tileK = kWgmmaTileK, stages = tiling.stages;
  const int64_t kTiles = spec.k / tileK, threads = tiling.threads();
  bool bf16 = spec.input == GpuGemmInput::BF16;
  std::string t = bf16 ? "bf16" : "f16";
  const std::string space = "#gpu.address_space<workgroup>";
  // Elements of one stage of A and B, and their bytes.
  const int64_t aStage = tiling.tileM * tileK, bStage = tileK * tiling.tileN;
  std::string aTile = "memref<" + str(stages) + "x" + str(aStage) + "x" + t +
                      ", " + space + ">";
  std::string bTile = "memref<" + str(stages) + "x" + str(bStage) + "x" + t +
                      ", " + space + ">";
  std::string aElement = spec.aInF32 ? "f32" : t;
  std::string aType =
      "memref<" + str(spec.m) + "x" + str(spec.k) + "x" + aElement + ">";
  std::string bType =
      "memref<" + str(spec.k) + "x" + str(spec.n) + "x" + t + ">";
  std::string header = gemmHeader(spec, t, "", "", launch);
  launch.grid[0] = spec.n / tiling.tileN;
  launch.grid[1] = (spec.m + tiling.tileM - 1) / tiling.tileM;
  launch.block[0] = threads;
  launch.staticSharedBytes = 0;
  launch.dynamicSharedBytes = stages * (aStage + bStage) * 2;

  std::string acc = wgmmaAccumulatorType();
  // 16-byte copies of a stage: A's copy q holds row 8 (q / 64) + q % 8 at
  // column 8 ((q / 8) % 8); B's, row 8 (q / 128) + q % 8 at column
  // 8 ((q / 8) % 16).
  int64_t aCopies = aStage / 8 / threads, bCopies = bStage / 8 / threads;
  KernelText k;
  emitTileOrigin(k, tiling);
  k.line(0, "%dyn = gpu.dynamic_shared_memory : memref<?xi8, " + space + ">");
  k.line(0, "%As = memref.view %dyn[" + k.c(0) + "][] : memref<?xi8, " + space +
                "> to " + aTile);
  k.line(0, "%Bs = memref.view %dyn[" + k.c(stages * aStage * 2) +
                "][] : memref<?xi8, " + space + "> to " + bTile);
  k.line(0, "// Staging: copy q = tid + " + str(threads) +
                " i lands at element 8 q of its stage.");
  for (int64_t i = 0; i < std::max(aCopies, bCopies); ++i) {
    std::string s = str(i);
    k.line(0,
           "%q" + s + " = arith.addi %tid, " + k.c(threads * i) + " : index");
    k.line(0, "%dst" + s + " = arith.muli %q" + s + ", " + k.c(8) + " : index");
    k.line(0,
           "%q8_" + s + " = arith.remui %q" + s + ", " + k.c(8) + " : index");
    k.line(0,
           "%qd8_" + s + " = arith.divui %q" + s + ", " + k.c(8) + " : index");
    if (i < aCopies) {
      k.line(0, "%aq" + s + " = arith.remui %qd8_" + s + ", " + k.c(8) +
                    " : index");
      k.line(0,
             "%ac" + s + " = arith.muli %aq" + s + ", " + k.c(8) + " : index");
      k.line(0, "%arg" + s + " = arith.divui %q" + s + ", " + k.c(64) +
                    " : index");
      k.line(0, "%arb" + s + " = arith.muli %arg" + s + ", " + k.c(8) +
                    " : index");
      k.line(0,
             "%ar" + s + " = arith.addi %arb" + s + ", %q8_" + s + " : index");
      k.line(0, "%gar" + s + " = arith.addi %row0, %ar" + s + " : index");
      if (raggedM(spec) && !spec.aInF32) {
        k.line(0, "// A row past M: a copy of 0 bytes (zeros) from row M - 1.");
        k.line(0, "%gin" + s + " = arith.cmpi ult, %gar" + s + ", " +
                      k.c(spec.m) + " : index");
        k.line(0, "%gcl" + s + " = arith.minsi %gar" + s + ", " +
                      k.c(spec.m - 1) + " : index");
        k.line(0, "%gsz" + s + " = arith.select %gin" + s + ", " + k.c(8) +
                      ", " + k.c(0) + " : index");
      }
    }
    if (i < bCopies) {
      k.line(0, "%bq" + s + " = arith.remui %qd8_" + s + ", " + k.c(16) +
                    " : index");
      k.line(0,
             "%bc" + s + " = arith.muli %bq" + s + ", " + k.c(8) + " : index");
      k.line(0, "%gbc" + s + " = arith.addi %col0, %bc" + s + " : index");
      k.line(0, "%brg" + s + " = arith.divui %q" + s + ", " + k.c(128) +
                    " : index");
      k.line(0, "%brb" + s + " = arith.muli %brg" + s + ", " + k.c(8) +
                    " : index");
      k.line(0,
             "%br" + s + " = arith.addi %brb" + s + ", %q8_" + s + " : index");
    }
  }

  KTileStaging staging{k,
                       spec,
                       tileK,
                       aCopies,
                       bCopies,
                       aType,
                       bType,
                       aTile,
                       bTile,
                       [](int64_t i) { return "%dst" + str(i); },
                       [](int64_t i) { return "%dst" + str(i); }};

  // The matrix descriptors of stage 0, k16 step 0 (this warpgroup's rows
  // of A): the start address (its shared-memory offset, bits 4..17) in
  // bits 0..13, LBO >> 4 in bits 16..29 and SBO >> 4 in bits 32..45; no
  // swizzling (bits 62..63 zero). Steps add (bytes >> 4) to them.
  auto descriptorBits = [](int64_t leading, int64_t stride) {
    return str(((leading >> 4) << 16) | ((stride >> 4) << 32));
  };
  k.line(0, "%addrMask = arith.constant " + str(0x3FFFF) + " : i64");
  k.line(0, "%four = arith.constant 4 : i64");
  k.line(0,
         "%aLayout = arith.constant " + descriptorBits(128, 1024) + " : i64");
  k.line(0,
         "%bLayout = arith.constant " + descriptorBits(2048, 128) + " : i64");
  for (const char *m : {"a", "b"}) {
    std::string tile = std::string(m) == "a" ? "%As" : "%Bs";
    std::string type = std::string(m) == "a" ? aTile : bTile;
    std::string v = std::string("%") + m;
    k.line(0, v + "Ptr = memref.extract_aligned_pointer_as_index " + tile +
                  " : " + type + " -> index");
    k.line(0, v + "Ptr64 = arith.index_cast " + v + "Ptr : index to i64");
    k.line(0, v + "Addr = arith.andi " + v + "Ptr64, %addrMask : i64");
    k.line(0, v + "Enc = arith.shrui " + v + "Addr, %four : i64");
    k.line(0, v + "DescBase = arith.ori " + v + "Enc, " + v + "Layout : i64");
  }
  // Warpgroup g's rows of A start 64 g rows (8192 bytes) in.
  k.line(0, "%wg = arith.divui %tid, " + k.c(128) + " : index");
  k.line(0, "%wgA = arith.muli %wg, " + k.c(8192 >> 4) + " : index");
  k.line(0, "%wgA64 = arith.index_cast %wgA : index to i64");
  k.line(0, "%aDescWg = arith.addi %aDescBase, %wgA64 : i64");
  k.line(0, "%zero = llvm.mlir.zero : " + acc);

  staging.prologue(stages - 2, kTiles);
  k.line(0, "%accs = scf.for %kt = " + k.c(0) + " to " + k.c(kTiles) +
                " step " + k.c(1) + " iter_args(%acc = %zero) -> (" + acc +
                ") {");
  k.line(1, "// Tile kt has landed for every thread, is visible to the");
  k.line(1, "// tensor cores, and stage kt - 2 is read by all.");
  k.line(1, "nvgpu.device_async_wait %p0_g {numGroups = " + str(stages - 3) +
                " : i32}");
  k.line(1, "nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, "
            "space = #nvvm.shared_space<cta>}");
  k.line(1, "gpu.barrier");
  k.line(1, "%stage = arith.remui %kt, " + k.c(stages) + " : index");
  k.line(1, "%next = arith.addi %kt, " + k.c(stages - 2) + " : index");
  k.line(1, "%nextStage = arith.remui %next, " + k.c(stages) + " : index");
  k.line(1, "%fetch = arith.cmpi ult, %next, " + k.c(kTiles) + " : index");
  staging.fetch();
  k.line(1, "// Tile kt's four k16 steps, one batch.");
  k.line(1, "%stage64 = arith.index_cast %stage : index to i64");
  k.line(1, "%aStageEnc = arith.constant " + str(aStage * 2 >> 4) + " : i64");
  k.line(1, "%bStageEnc = arith.constant " + str(bStage * 2 >> 4) + " : i64");
  k.line(1, "%aOff = arith.muli %stage64, %aStageEnc : i64");
  k.line(1, "%bOff = arith.muli %stage64, %bStageEnc : i64");
  k.line(1, "%aDescS = arith.addi %aDescWg, %aOff : i64");
  k.line(1, "%bDescS = arith.addi %bDescBase, %bOff : i64");
  k.line(1, "nvvm.wgmma.fence.aligned");
  std::string current = "%acc";
  for (int64_t step = 0; step < tileK / 16; ++step) {
    std::string s = str(step);
    // A's k16 step is 2 core matrices (256 bytes) on in K, B's 16 rows
    // (4096 bytes).
    k.line(1, "%aStep" + s + " = arith.constant " + str(256 * step >> 4) +
                  " : i64");
    k.line(1, "%bStep" + s + " = arith.constant " + str(4096 * step >> 4) +
                  " : i64");
    k.line(1, "%aDesc" + s + " = arith.addi %aDescS, %aStep" + s + " : i64");
    k.line(1, "%bDesc" + s + " = arith.addi %bDescS, %bStep" + s + " : i64");
    std::string d = "%d" + s;
    k.line(1, d + " = nvvm.wgmma.mma_async %aDesc" + s + ", %bDesc" + s + ", " +
                  current +
                  ", #nvvm.shape<m = 64, n = 128, k = 16>, D [<f32>, "
                  "#nvvm.wgmma_scale_out<one>], A [<" +
                  t + ">, #nvvm.wgmma_scale_in<one>, <row>], B [<" + t +
                  ">, #nvvm.wgmma_scale_in<one>, <row>] : " + acc + " -> " +
                  acc);
    current = d;
  }
  k.line(1, "nvvm.wgmma.commit.group.sync.aligned");
  k.line(1, "// All but this batch done: step kt - 1's stage is free at the");
  k.line(1, "// next barrier.");
  k.line(1, "nvvm.wgmma.wait.group.sync.aligned 1");
  staging.storeFetchedA();
  k.line(1, "scf.yield " + current + " : " + acc);
  k.line(0, "}");
  k.line(0, "nvvm.wgmma.wait.group.sync.aligned 0");

  // Epilogue: register 4 i + 2 h + e of lane l of warp w holds row
  // 16 w + l / 4 + 8 h, column 8 i + 2 (l % 4) + e of the block's tile.
  k.line(0, "%warp = arith.divui %tid, " + k.c(32) + " : index");
  k.line(0, "%lane = arith.remui %tid, " + k.c(32) + " : index");
  k.line(0, "%wrow = arith.muli %warp, " + k.c(16) + " : index");
  k.line(0, "%erow = arith.divui %lane, " + k.c(4) + " : index");
  k.line(0, "%ecq = arith.remui %lane, " + k.c(4) + " : index");
  k.line(0, "%ecol = arith.muli %ecq, " + k.c(2) + " : index");
  k.line(0, "%erow0 = arith.addi %row0, %wrow : index");
  k.line(0, "%erow1 = arith.addi %erow0, %erow : index");
  k.line(0, "%ecol1 = arith.addi %col0, %ecol : index");
  for (int h = 0; h < 2; ++h)
    k.line(0, "%row_" + str(h) + " = arith.addi %erow1, " + k.c(8 * h) +
                  " : index");
  for (int64_t i = 0; i < tiling.tileN / 8; ++i) {
    std::string col = "%col_" + str(i);
    k.line(0, col + " = arith.addi %ecol1, " + k.c(8 * i) + " : index");
    k.line(0, "%bias_" + str(i) + " = vector.load %bias[" + col +
                  "] : memref<" + str(spec.n) + "xf32>, vector<2xf32>");
    for (int h = 0; h < 2; ++h) {
      std::string e = "e" + str(i) + "_" + str(h);
      for (int x = 0; x < 2; ++x)
        k.line(0, "%" + e + "_" + str(x) + " = llvm.extractvalue %accs[" +
                      str(4 * i + 2 * h + x) + "] : " + acc);
      k.line(0, "%" + e + "_v = vector.from_elements %" + e + "_0, %" + e +
                    "_1 : vector<2xf32>");
      k.line(0, "%" + e + "_b = arith.addf %" + e + "_v, %bias_" + str(i) +
                    " : vector<2xf32>");
      emitEpilogueStore(k, 0, spec, e, "%" + e + "_b", 2, "%row_" + str(h),
                        col);
    }
  }
  k.line(0, "gpu.return");
  return header + k.finish() + "    }\n";
}

//===----------------------------------------------------------------------===//
// GEMM on tensor cores in TF32: f32 in, rounded to TF32, f32 accumulate
//===----------------------------------------------------------------------===//

/// The TF32 GEMM's shared tiles hold TF32 values (f32 bits rounded by
/// cvt.rna.tf32.f32) as i32, their rows padded so that the fragment loads
/// of a warp hit 32 different banks: lane (g, t) = (l / 4, l % 4) reads A
/// at row g, column t (bank 4 g + t with rows of 32 + 4) and B at row t,
/// column g (bank 8 t + g with rows of 64 + 8).
constexpr int64_t kTf32PadA = 4, kTf32PadB = 8;

/// Block (bx, by) computes C[64 by .. +64, 64 bx .. +64] with the warp
/// tiling of gemmMmaText (2x4 m16n8 accumulators a warp). Per K step of
/// 32, the block copies A[64x32] and B[32x64] (16-byte loads, 4 of each
/// a thread), rounds every element to TF32 and stores it in shared memory;
/// then each warp runs four k8 steps of mma.sync m16n8k8 .tf32, its
/// fragments read from shared memory 4 bytes at a time (ldmatrix moves
/// 16-bit elements, and B is wanted column by column).
std::string gemmTf32Text(const GpuGemmSpec &spec, GpuKernelLaunch &launch) {
  std::string aTile = "memref<" + str(kTileM) + "x" +
                      str(kTileKMma + kTf32PadA) +
                      "xi32, #gpu.address_space<workgroup>>";
  std::string bTile = "memref<" + str(kTileKMma) + "x" +
                      str(kTileN + kTf32PadB) +
                      "xi32, #gpu.address_space<workgroup>>";
  std::string aType = "memref<" + str(spec.m) + "x" + str(spec.k) + "xf32>";
  std::string bType = "memref<" + str(spec.k) + "x" + str(spec.n) + "xf32>";
  std::string header = gemmHeader(spec, "f32", aTile, bTile, launch);
  launch.grid[0] = spec.n / kTileN;
  launch.grid[1] = (spec.m + kTileM - 1) / kTileM;
  launch.block[0] = kThreads;
  launch.staticSharedBytes =
      (kTileM * (kTileKMma + kTf32PadA) + kTileKMma * (kTileN + kTf32PadB)) * 4;
  std::string acc = "!llvm.struct<(f32, f32, f32, f32)>";
  const MmaTiling &tiling = kSmallTiling;
  KernelText k;
  emitTileOrigin(k, tiling);
  emitWarpTile(k, tiling);
  k.line(0, "// Staging: copy q = tid + 128 i moves 4 elements: A row q / 8,");
  k.line(0, "// column 4 (q % 8); B row q / 16, column 4 (q % 16).");
  constexpr int kCopies = 4;
  for (int i = 0; i < kCopies; ++i) {
    std::string s = str(i);
    k.line(0,
           "%q" + s + " = arith.addi %tid, " + k.c(kThreads * i) + " : index");
    k.line(0, "%ar" + s + " = arith.divui %q" + s + ", " + k.c(8) + " : index");
    k.line(0, "%aq" + s + " = arith.remui %q" + s + ", " + k.c(8) + " : index");
    k.line(0, "%ac" + s + " = arith.muli %aq" + s + ", " + k.c(4) + " : index");
    k.line(0, "%gar" + s + " = arith.addi %row0, %ar" + s + " : index");
    k.line(0,
           "%br" + s + " = arith.divui %q" + s + ", " + k.c(16) + " : index");
    k.line(0,
           "%bq" + s + " = arith.remui %q" + s + ", " + k.c(16) + " : index");
    k.line(0, "%bc" + s + " = arith.muli %bq" + s + ", " + k.c(4) + " : index");
    k.line(0, "%gbc" + s + " = arith.addi %col0, %bc" + s + " : index");
  }
  k.line(0, "// Fragments (PTX ISA, mma.m16n8k8 .tf32): lane (g, t) holds A");
  k.line(0, "// (g, t), (g + 8, t), (g, t + 4), (g + 8, t + 4) and B (t, g),");
  k.line(0, "// (t + 4, g) of its m16 and n8 tiles.");
  k.line(0, "%g = arith.divui %lane, " + k.c(4) + " : index");
  k.line(0, "%t = arith.remui %lane, " + k.c(4) + " : index");
  for (int64_t mi = 0; mi < tiling.fragsM(); ++mi)
    for (int h = 0; h < 2; ++h) {
      std::string r = "%fr" + str(mi) + str(h);
      k.line(0,
             r + "_0 = arith.addi %wrow, " + k.c(16 * mi + 8 * h) + " : index");
      k.line(0, r + " = arith.addi " + r + "_0, %g : index");
    }
  for (int64_t ni = 0; ni < tiling.fragsN(); ++ni) {
    std::string c = "%fc" + str(ni);
    k.line(0, c + "_0 = arith.addi %wcol, " + k.c(8 * ni) + " : index");
    k.line(0, c + " = arith.addi " + c + "_0, %g : index");
  }
  k.line(0, "%zero = llvm.mlir.zero : " + acc);
  AccumulatorNames current =
      emitAccumulatorLoop(k, tiling,
                          "scf.for %k0 = " + k.c(0) + " to " + k.c(spec.k) +
                              " step " + k.c(kTileKMma));
  // Rounds the 4 f32 of `value` to TF32 and stores them at `at` of `tile`.
  auto storeTf32 = [&](const std::string &name, const std::string &value,
                       const std::string &tile, const std::string &tileType,
                       const std::string &at) {
    std::string elements;
    for (int e = 0; e < 4; ++e) {
      std::string x = name + "_x" + str(e), r = name + "_r" + str(e);
      k.line(1, x + " = vector.extract " + value + "[" + str(e) +
                    "] : f32 from vector<4xf32>");
      k.line(1, r + " = nvvm.convert.float.to.tf32 " + x +
                    " {rnd = #nvvm.fp_rnd_mode<rna>}");
      elements += (e ? ", " : "") + r;
    }
    k.line(1,
           name + "_v = vector.from_elements " + elements + " : vector<4xi32>");
    k.line(1, "vector.store " + name + "_v, " + tile + "[" + at +
                  "] {alignment = 16} : " + tileType + ", vector<4xi32>");
  };
  for (int i = 0; i < kCopies; ++i) {
    std::string s = str(i);
    k.line(1, "%gak" + s + " = arith.addi %k0, %ac" + s + " : index");
    emitRowLoad(k, 1, spec, "%va" + s, "%gar" + s,
                "vector.load %A[%gar" + s + ", %gak" + s +
                    "] {alignment = 16} : " + aType + ", vector<4xf32>",
                "vector<4xf32>");
    storeTf32("%ta" + s, "%va" + s, "%As", aTile, "%ar" + s + ", %ac" + s);
    k.line(1, "%gbk" + s + " = arith.addi %k0, %br" + s + " : index");
    k.line(1, "%vb" + s + " = vector.load %B[%gbk" + s + ", %gbc" + s +
                  "] {alignment = 16} : " + bType + ", vector<4xf32>");
    storeTf32("%tb" + s, "%vb" + s, "%Bs", bTile, "%br" + s + ", %bc" + s);
  }
  k.line(1, "gpu.barrier");
  for (int kk = 0; kk < kTileKMma; kk += 8) {
    std::string s = "k" + str(kk);
    k.line(1, "// k8 step " + str(kk / 8) + " of the staged tiles.");
    k.line(1, "%ka_" + s + " = arith.addi %t, " + k.c(kk) + " : index");
    k.line(1, "%kb_" + s + " = arith.addi %t, " + k.c(kk + 4) + " : index");
    std::vector<std::vector<std::string>> a(tiling.fragsM()),
        b(tiling.fragsN());
    for (int64_t mi = 0; mi < tiling.fragsM(); ++mi)
      for (int j = 0; j < 4; ++j) {
        std::string reg = "%a" + str(mi) + str(j) + "_" + s;
        std::string row = "%fr" + str(mi) + str(j % 2);
        std::string col = j < 2 ? "%ka_" + s : "%kb_" + s;
        k.line(1,
               reg + " = memref.load %As[" + row + ", " + col + "] : " + aTile);
        a[mi].push_back(reg);
      }
    for (int64_t ni = 0; ni < tiling.fragsN(); ++ni)
      for (int j = 0; j < 2; ++j) {
        std::string reg = "%b" + str(ni) + str(j) + "_" + s;
        std::string row = j == 0 ? "%ka_" + s : "%kb_" + s;
        k.line(1, reg + " = memref.load %Bs[" + row + ", %fc" + str(ni) +
                      "] : " + bTile);
        b[ni].push_back(reg);
      }
    for (int64_t mi = 0; mi < tiling.fragsM(); ++mi)
      for (int64_t ni = 0; ni < tiling.fragsN(); ++ni) {
        std::string d = "%d" + str(mi) + str(ni) + "_" + s;
        std::string cs;
        for (int j = 0; j < 4; ++j) {
          std::string cj = d + "c" + str(j);
          k.line(1, cj + " = llvm.extractvalue " + current[mi][ni] + "[" +
                        str(j) + "] : " + acc);
          cs += (j ? ", " : "") + cj;
        }
        k.line(1, d + " = nvvm.mma.sync A[" + a[mi][0] + ", " + a[mi][1] +
                      ", " + a[mi][2] + ", " + a[mi][3] + "] B[" + b[ni][0] +
                      ", " + b[ni][1] + "] C[" + cs +
                      "] {layoutA = #nvvm.mma_layout<row>, layoutB = "
                      "#nvvm.mma_layout<col>, multiplicandAPtxType = "
                      "#nvvm.mma_type<tf32>, multiplicandBPtxType = "
                      "#nvvm.mma_type<tf32>, shape = #nvvm.shape<m = 16, n = "
                      "8, k = 8>} : (i32, i32, f32) -> " +
                      acc);
        current[mi][ni] = d;
      }
  }
  emitAccumulatorYield(k, current, /*barrier=*/true);
  emitMmaEpilogue(k, spec, tiling);
  k.line(0, "gpu.return");
  return header + k.finish() + "    }\n";
}

//===----------------------------------------------------------------------===//
// GEMM with f32 FMAs
//===----------------------------------------------------------------------===//

/// Block (bx, by) computes C[64 by .. +64, 64 bx .. +64]; thread t owns the
/// 4x8 at rows 4 (t / 8), columns 8 (t % 8) of it, as 4 vector<8xf32>
/// accumulators. Per K step of 16 the block copies A[64x16] transposed
/// (As[k][m], so a thread reads its 4 rows' values as one vector) and
/// B[16x64] to shared memory, then each thread does 16 x 4 vector FMAs.
std::string gemmF32Text(const GpuGemmSpec &spec, GpuKernelLaunch &launch) {
  std::string aTile = "memref<" + str(kTileKF32) + "x" + str(kTileM) +
                      "xf32, #gpu.address_space<workgroup>>";
  std::string bTile = "memref<" + str(kTileKF32) + "x" + str(kTileN) +
                      "xf32, #gpu.address_space<workgroup>>";
  std::string aType = "memref<" + str(spec.m) + "x" + str(spec.k) + "xf32>";
  std::string bType = "memref<" + str(spec.k) + "x" + str(spec.n) + "xf32>";
  std::string header = gemmHeader(spec, "f32", aTile, bTile, launch);
  launch.grid[0] = spec.n / kTileN;
  launch.grid[1] = (spec.m + kTileM - 1) / kTileM;
  launch.block[0] = kThreads;
  launch.staticSharedBytes = (kTileKF32 * kTileM + kTileKF32 * kTileN) * 4;

  KernelText k;
  emitTileOrigin(k, kSmallTiling);
  k.line(0, "%tr = arith.divui %tid, " + k.c(8) + " : index");
  k.line(0, "%tc = arith.remui %tid, " + k.c(8) + " : index");
  k.line(0, "%trow = arith.muli %tr, " + k.c(4) + " : index");
  k.line(0, "%tcol = arith.muli %tc, " + k.c(8) + " : index");
  k.line(0, "// Staging: copy q = tid + 128 i moves 4 floats: A row q / 4,");
  k.line(0, "// column 4 (q % 4); B row q / 16, column 4 (q % 16).");
  for (int i = 0; i < 2; ++i) {
    std::string s = str(i);
    k.line(0,
           "%q" + s + " = arith.addi %tid, " + k.c(kThreads * i) + " : index");
    k.line(0, "%ar" + s + " = arith.divui %q" + s + ", " + k.c(4) + " : index");
    k.line(0, "%aq" + s + " = arith.remui %q" + s + ", " + k.c(4) + " : index");
    k.line(0, "%ac" + s + " = arith.muli %aq" + s + ", " + k.c(4) + " : index");
    k.line(0, "%gar" + s + " = arith.addi %row0, %ar" + s + " : index");
    for (int e = 0; e < 4; ++e)
      k.line(0, "%ac" + s + "_" + str(e) + " = arith.addi %ac" + s + ", " +
                    k.c(e) + " : index");
    k.line(0,
           "%br" + s + " = arith.divui %q" + s + ", " + k.c(16) + " : index");
    k.line(0,
           "%bq" + s + " = arith.remui %q" + s + ", " + k.c(16) + " : index");
    k.line(0, "%bc" + s + " = arith.muli %bq" + s + ", " + k.c(4) + " : index");
    k.line(0, "%gbc" + s + " = arith.addi %col0, %bc" + s + " : index");
  }
  k.line(0, "%zero = arith.constant dense<0.0> : vector<8xf32>");
  k.line(0, "%accs:4 = scf.for %k0 = " + k.c(0) + " to " + k.c(spec.k) +
                " step " + k.c(kTileKF32) +
                " iter_args(%acc0 = %zero, %acc1 = %zero, %acc2 = %zero, "
                "%acc3 = %zero) -> (vector<8xf32>, vector<8xf32>, "
                "vector<8xf32>, vector<8xf32>) {");
  for (int i = 0; i < 2; ++i) {
    std::string s = str(i);
    k.line(1, "%gak" + s + " = arith.addi %k0, %ac" + s + " : index");
    emitRowLoad(k, 1, spec, "%va" + s, "%gar" + s,
                "vector.load %A[%gar" + s + ", %gak" + s +
                    "] {alignment = 16} : " + aType + ", vector<4xf32>",
                "vector<4xf32>");
    for (int e = 0; e < 4; ++e) {
      std::string x = "%va" + s + "_" + str(e);
      k.line(1, x + " = vector.extract %va" + s + "[" + str(e) +
                    "] : f32 from vector<4xf32>");
      k.line(1, "memref.store " + x + ", %As[%ac" + s + "_" + str(e) + ", %ar" +
                    s + "] : " + aTile);
    }
    k.line(1, "%gbk" + s + " = arith.addi %k0, %br" + s + " : index");
    k.line(1, "%vb" + s + " = vector.load %B[%gbk" + s + ", %gbc" + s +
                  "] {alignment = 16} : " + bType + ", vector<4xf32>");
    k.line(1, "vector.store %vb" + s + ", %Bs[%br" + s + ", %bc" + s +
                  "] {alignment = 16} : " + bTile + ", vector<4xf32>");
  }
  k.line(1, "gpu.barrier");
  k.line(1, "%sums:4 = scf.for %kk = " + k.c(0) + " to " + k.c(kTileKF32) +
                " step " + k.c(1) +
                " iter_args(%s0 = %acc0, %s1 = %acc1, %s2 = %acc2, %s3 = "
                "%acc3) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, "
                "vector<8xf32>) {");
  k.line(2, "%av = vector.load %As[%kk, %trow] {alignment = 16} : " + aTile +
                ", vector<4xf32>");
  k.line(2, "%bv = vector.load %Bs[%kk, %tcol] {alignment = 16} : " + bTile +
                ", vector<8xf32>");
  for (int i = 0; i < 4; ++i) {
    std::string s = str(i);
    k.line(2, "%a" + s + " = vector.extract %av[" + s +
                  "] : f32 from vector<4xf32>");
    k.line(2, "%as" + s + " = vector.broadcast %a" + s +
                  " : f32 to vector<8xf32>");
    k.line(2, "%n" + s + " = vector.fma %as" + s + ", %bv, %s" + s +
                  " : vector<8xf32>");
  }
  k.line(2, "scf.yield %n0, %n1, %n2, %n3 : vector<8xf32>, vector<8xf32>, "
            "vector<8xf32>, vector<8xf32>");
  k.line(1, "}");
  k.line(1, "// The next K step overwrites the tiles every thread reads.");
  k.line(1, "gpu.barrier");
  k.line(1, "scf.yield %sums#0, %sums#1, %sums#2, %sums#3 : vector<8xf32>, "
            "vector<8xf32>, vector<8xf32>, vector<8xf32>");
  k.line(0, "}");
  k.line(0, "%ecol = arith.addi %col0, %tcol : index");
  k.line(0, "%erow = arith.addi %row0, %trow : index");
  k.line(0, "%bias8 = vector.load %bias[%ecol] : memref<" + str(spec.n) +
                "xf32>, vector<8xf32>");
  for (int i = 0; i < 4; ++i) {
    std::string e = "e" + str(i);
    k.line(0, "%" + e + "_row = arith.addi %erow, " + k.c(i) + " : index");
    k.line(0, "%" + e + "_b = arith.addf %accs#" + str(i) +
                  ", %bias8 : vector<8xf32>");
    emitEpilogueStore(k, 0, spec, e, "%" + e + "_b", 8, "%" + e + "_row",
                      "%ecol");
  }
  k.line(0, "gpu.return");
  return header + k.finish() + "    }\n";
}

//===----------------------------------------------------------------------===//
// Residual + LayerNorm
//===----------------------------------------------------------------------===//

/// %rstd = 1 / sqrt(`squares` / D + eps), in the LayerNorm kernel's
/// scf.if over the warp's row.
void emitInverseStd(KernelText &k, const std::string &squares) {
  k.line(1, "%var = arith.divf " + squares + ", %dim : f32");
  k.line(1, "%vareps = arith.addf %var, %eps : f32");
  k.line(1, "// sqrt.rn.f32 is IEEE-rounded, as on the CPU; no libdevice.");
  k.line(1, "%std = llvm.inline_asm \"sqrt.rn.f32 $0, $1;\", \"=f,f\" %vareps "
            ": (f32) -> f32");
  k.line(1, "%rstd = arith.divf %f1, %std : f32");
}

/// The body of the LayerNorm kernel when a lane holds its part of the row
/// in registers (layerNormText): chunk c of lane l is columns 4 l + 128 c
/// .. + 3, a vector<4xf32>. `butterfly`(depth, partial, name) sums a
/// value over the warp.
/// y's element type in the kernel text: f32, f16 or bf16.
std::string layerNormYElement(const GpuLayerNormSpec &spec) {
  return spec.yType == GpuGemmInput::F16    ? "f16"
         : spec.yType == GpuGemmInput::BF16 ? "bf16"
                                            : "f32";
}

template <typename Butterfly>
void emitLayerNormRowInRegisters(KernelText &k, const GpuLayerNormSpec &spec,
                                 Butterfly butterfly) {
  std::string mat = "memref<" + str(spec.rows) + "x" + str(spec.dim) + "xf32>";
  std::string yElement = layerNormYElement(spec);
  std::string yMat =
      "memref<" + str(spec.rows) + "x" + str(spec.dim) + "x" + yElement + ">";
  std::string vec = "memref<" + str(spec.dim) + "xf32>";
  const std::string v4 = "vector<4xf32>";
  int64_t chunks = spec.dim / 128;
  // The sum of a lane's chunks `name`_c, over its 4 elements: a scalar.
  auto laneSum = [&](const std::string &name, const std::string &out) {
    std::string acc = name + "_0";
    for (int64_t c = 1; c < chunks; ++c) {
      std::string next = out + "_acc" + str(c);
      k.line(1, next + " = arith.addf " + acc + ", " + name + "_" + str(c) +
                    " : " + v4);
      acc = next;
    }
    std::string total;
    for (int e = 0; e < 4; ++e) {
      std::string x = out + "_e" + str(e);
      k.line(1, x + " = vector.extract " + acc + "[" + str(e) +
                    "] : f32 from " + v4);
      if (e == 0) {
        total = x;
        continue;
      }
      k.line(1, out + "_p" + str(e) + " = arith.addf " + total + ", " + x +
                    " : f32");
      total = out + "_p" + str(e);
    }
    return total;
  };
  k.line(1, "%l4 = arith.muli %lane, " + k.c(4) + " : index");
  for (int64_t c = 0; c < chunks; ++c) {
    std::string C = str(c);
    k.line(1, "%col_" + C + " = arith.addi %l4, " + k.c(128 * c) + " : index");
    std::string at =
        "[%row, %col_" + C + "] {alignment = 16} : " + mat + ", " + v4;
    if (!spec.residual) {
      k.line(1, "%s_" + C + " = vector.load %x" + at);
      continue;
    }
    k.line(1, "%x_" + C + " = vector.load %x" + at);
    k.line(1, "%r_" + C + " = vector.load %r" + at);
    k.line(1, "%s_" + C + " = arith.addf %x_" + C + ", %r_" + C + " : " + v4);
  }
  std::string total = butterfly(1, laneSum("%s", "%sum"), "%total");
  k.line(1, "%mean = arith.divf " + total + ", %dim : f32");
  k.line(1, "%meanv = vector.broadcast %mean : f32 to " + v4);
  for (int64_t c = 0; c < chunks; ++c) {
    std::string C = str(c);
    k.line(1, "%d_" + C + " = arith.subf %s_" + C + ", %meanv : " + v4);
    k.line(1, "%q_" + C + " = arith.mulf %d_" + C + ", %d_" + C + " : " + v4);
  }
  std::string squares = butterfly(1, laneSum("%q", "%sq"), "%squares");
  emitInverseStd(k, squares);
  k.line(1, "%rstdv = vector.broadcast %rstd : f32 to " + v4);
  for (int64_t c = 0; c < chunks; ++c) {
    std::string C = str(c);
    k.line(1, "%n_" + C + " = arith.mulf %d_" + C + ", %rstdv : " + v4);
    k.line(1, "%g_" + C + " = vector.load %gamma[%col_" + C +
                  "] {alignment = 16} : " + vec + ", " + v4);
    k.line(1, "%b_" + C + " = vector.load %beta[%col_" + C +
                  "] {alignment = 16} : " + vec + ", " + v4);
    k.line(1, "%y_" + C + " = vector.fma %n_" + C + ", %g_" + C + ", %b_" + C +
                  " : " + v4);
    std::string at =
        "[%row, %col_" + C + "] {alignment = 16} : " + mat + ", " + v4;
    if (yElement == "f32") {
      k.line(1, "vector.store %y_" + C + ", %y" + at);
    } else {
      std::string half = "vector<4x" + yElement + ">";
      k.line(1, "%yh_" + C + " = arith.truncf %y_" + C + " : " + v4 + " to " +
                    half);
      k.line(1, "vector.store %yh_" + C + ", %y[%row, %col_" + C +
                    "] {alignment = 8} : " + yMat + ", " + half);
    }
    if (spec.sumOutput)
      k.line(1, "vector.store %s_" + C + ", %s" + at);
  }
}

/// The widest row the LayerNorm kernel holds in registers: 16 floats of s
/// a lane.
constexpr int64_t kLayerNormRegisterRow = 2048;

/// Warp w of block b normalizes row 4 b + w (rows past the last return).
/// When D is a multiple of 128 up to kLayerNormRegisterRow, lane l reads
/// its columns 4 l + 128 c .. + 3 of x (and r) once, by 16-byte loads, and
/// keeps s = x + r in registers for the three steps: the sum of s, the sum
/// of (s - mean)^2 (two passes, so the variance does not lose digits to
/// cancellation), then the output, by 16-byte stores. Otherwise lane l
/// visits the columns l, l + 32, ... three times, reading x and r each
/// time. Each sum is reduced over the warp by a butterfly of shuffles,
/// which leaves it in every lane.
std::string layerNormText(const GpuLayerNormSpec &spec,
                          GpuKernelLaunch &launch) {
  std::string mat = "memref<" + str(spec.rows) + "x" + str(spec.dim) + "xf32>";
  std::string vec = "memref<" + str(spec.dim) + "xf32>";
  std::string yElement = layerNormYElement(spec);
  std::string yMat =
      "memref<" + str(spec.rows) + "x" + str(spec.dim) + "x" + yElement + ">";
  launch.arguments = {{"x", mat}};
  if (spec.residual)
    launch.arguments.push_back({"r", mat});
  launch.arguments.insert(launch.arguments.end(),
                          {{"gamma", vec}, {"beta", vec}, {"y", yMat}});
  if (spec.sumOutput)
    launch.arguments.push_back({"s", mat});
  int64_t rowsPerBlock = kThreads / 32;
  launch.grid[0] = (spec.rows + rowsPerBlock - 1) / rowsPerBlock;
  launch.block[0] = kThreads;
  std::string header = "    gpu.func @" + spec.name + "(";
  for (size_t i = 0; i < launch.arguments.size(); ++i)
    header += (i ? ", %" : "%") + launch.arguments[i].name + ": " +
              launch.arguments[i].type;
  header += ") kernel {\n";

  KernelText k;
  auto butterfly = [&](int depth, const std::string &in,
                       const std::string &out) {
    std::string v = in;
    for (int offset = 16; offset >= 1; offset /= 2) {
      std::string s = out + "_" + str(offset);
      k.line(depth, s + "_o = arith.constant " + str(offset) + " : i32");
      k.line(depth, s + "_sh, " + s + "_ok = gpu.shuffle xor " + v + ", " + s +
                        "_o, %width : f32");
      k.line(depth, s + " = arith.addf " + v + ", " + s + "_sh : f32");
      v = s;
    }
    return v;
  };
  // %sv = s[row, j]: x + r, or x alone.
  auto emitSum = [&](int depth) {
    if (!spec.residual) {
      k.line(depth, "%sv = memref.load %x[%row, %j] : " + mat);
      return;
    }
    k.line(depth, "%xv = memref.load %x[%row, %j] : " + mat);
    k.line(depth, "%rv = memref.load %r[%row, %j] : " + mat);
    k.line(depth, "%sv = arith.addf %xv, %rv : f32");
  };
  k.line(0, "%tid = gpu.thread_id x");
  k.line(0, "%bid = gpu.block_id x");
  k.line(0, "%warp = arith.divui %tid, " + k.c(32) + " : index");
  k.line(0, "%lane = arith.remui %tid, " + k.c(32) + " : index");
  k.line(0, "%rowBase = arith.muli %bid, " + k.c(rowsPerBlock) + " : index");
  k.line(0, "%row = arith.addi %rowBase, %warp : index");
  k.line(0, "%width = arith.constant 32 : i32");
  k.line(0, "%f0 = arith.constant 0.0 : f32");
  k.line(0, "%f1 = arith.constant 1.0 : f32");
  k.line(0, "%dim = arith.constant " + f32Literal(float(spec.dim)) + " : f32");
  k.line(0, "%eps = arith.constant " + f32Literal(spec.epsilon) + " : f32");
  k.line(0, "// The whole warp takes the same branch: the shuffles inside");
  k.line(0, "// need all 32 lanes.");
  k.line(0, "%inside = arith.cmpi ult, %row, " + k.c(spec.rows) + " : index");
  k.line(0, "scf.if %inside {");
  if (spec.dim % 128 == 0 && spec.dim <= kLayerNormRegisterRow) {
    emitLayerNormRowInRegisters(k, spec, butterfly);
    k.line(0, "}");
    k.line(0, "gpu.return");
    return header + k.finish() + "    }\n";
  }
  k.line(1, "%sum = scf.for %j = %lane to " + k.c(spec.dim) + " step " +
                k.c(32) + " iter_args(%acc = %f0) -> (f32) {");
  emitSum(2);
  k.line(2, "%next = arith.addf %acc, %sv : f32");
  k.line(2, "scf.yield %next : f32");
  k.line(1, "}");
  std::string total = butterfly(1, "%sum", "%total");
  k.line(1, "%mean = arith.divf " + total + ", %dim : f32");
  k.line(1, "%sq = scf.for %j = %lane to " + k.c(spec.dim) + " step " +
                k.c(32) + " iter_args(%acc = %f0) -> (f32) {");
  emitSum(2);
  k.line(2, "%dv = arith.subf %sv, %mean : f32");
  k.line(2, "%next = math.fma %dv, %dv, %acc : f32");
  k.line(2, "scf.yield %next : f32");
  k.line(1, "}");
  std::string squares = butterfly(1, "%sq", "%squares");
  emitInverseStd(k, squares);
  k.line(1,
         "scf.for %j = %lane to " + k.c(spec.dim) + " step " + k.c(32) + " {");
  emitSum(2);
  k.line(2, "%dv = arith.subf %sv, %mean : f32");
  k.line(2, "%nv = arith.mulf %dv, %rstd : f32");
  k.line(2, "%gv = memref.load %gamma[%j] : " + vec);
  k.line(2, "%bv = memref.load %beta[%j] : " + vec);
  k.line(2, "%yv = math.fma %nv, %gv, %bv : f32");
  std::string y = "%yv";
  if (yElement != "f32") {
    k.line(2, "%yh = arith.truncf %yv : f32 to " + yElement);
    y = "%yh";
  }
  k.line(2, "memref.store " + y + ", %y[%row, %j] : " + yMat);
  if (spec.sumOutput)
    k.line(2, "memref.store %sv, %s[%row, %j] : " + mat);
  k.line(1, "}");
  k.line(0, "}");
  k.line(0, "gpu.return");
  return header + k.finish() + "    }\n";
}

//===----------------------------------------------------------------------===//
// Fused attention (FlashAttention-2 forward)
//===----------------------------------------------------------------------===//

/// A tile's rows and columns: a block visits the keys kAttnTile at a time,
/// and has kAttnTile query rows (4 warps of 16, one m16 tile each) or
/// twice as many (two m16 tiles a warp, GpuAttentionSpec::queryTile).
constexpr int64_t kAttnTile = kGpuAttentionTile;
/// log2(e): the kernel computes e^x as 2^(x log2(e)) with ex2.approx.f32,
/// and folds log2(e) into the scale of the scores.
constexpr double kLog2e = 1.4426950408889634;

/// The ex2.approx.f32 of `x` as `result`: 2^-inf = +0, as the masked
/// scores need.
void emitExp2(KernelText &k, int depth, const std::string &result,
              const std::string &x) {
  k.line(depth, result +
                    " = llvm.inline_asm \"ex2.approx.f32 $0, $1;\", "
                    "\"=f,f\" " +
                    x + " : (f32) -> f32");
}

/// `result` = op over the 4 lanes of a quad (the lanes that hold one row of
/// an mma.sync accumulator), left in all 4: a butterfly over lane ^ 1 and
/// lane ^ 2.
void emitQuadReduce(KernelText &k, int depth, const std::string &result,
                    const std::string &value, const std::string &op) {
  std::string v = value;
  for (int offset : {1, 2}) {
    std::string s = result + "_x" + str(offset);
    k.line(depth, s + "_sh, " + s + "_ok = gpu.shuffle xor " + v + ", %sh" +
                      str(offset) + ", %width : f32");
    k.line(depth, (offset == 2 ? result : s) + " = " + op + " " + v + ", " + s +
                      "_sh : f32");
    v = s;
  }
}

/// Block (qt, h, b) computes the rows 64 qt .. 64 qt + 63 of O[b, h]; warp
/// w owns the 16 rows from 16 w, so each thread holds two rows, g = lane /
/// 4 and g + 8 (as mma.sync's accumulator fragment lays them out), and the
/// 4 lanes of a quad share them. With a query tile of 128, block qt has
/// the rows from 128 qt, and warp w also the 16 from 64 + 16 w: a second
/// m16 tile that every K and V fragment below also feeds, and everything
/// per row below is done for four rows a thread.
///
/// The Q tile goes through shared memory once, into registers as the
/// mma.sync A fragments of every k16 step of the head dimension. Then per
/// visited key tile of 64, with K's tile already in shared memory: the
/// block starts copying V's tile (16-byte cp.async, rows padded by 16
/// bytes; rows past the keys are zeros), each warp computes S = Q K^T for its
/// 16 x 64 as 8 m16n8 accumulators (K fragments by ldmatrix.x4 without
/// transpose: K is [keys, d] row-major and mma.sync's B operand wants K^T
/// column by column, which is K row by row), scales S by scale * log2(e), masks
/// it with -inf, and updates the online softmax: m' = max(m, rowmax S), m^ =
/// (m' == -inf ? 0 : m'), alpha = 2^(m - m^), P = 2^(S - m^), l = l alpha +
/// rowsum P (each thread sums its own 16 columns; the quad's partial sums are
/// added once at the end), O = O alpha + P V. P is rounded to the input type in
/// registers: the S accumulators of two n8 tiles are exactly the A fragment of
/// one k16 step of P V. Once V has landed and every warp is done with K (a
/// barrier), the copies of the next tile's K start, and O = O alpha + P V
/// runs meanwhile: V fragments come by ldmatrix.x4.trans (V is [keys, d]
/// and mma.sync's B wants it column by column). A second barrier, once
/// that K has landed, ends the step. So each copy overlaps the other
/// half's tensor-core work with one K and one V tile of shared memory
/// (two of each would not fit 48 KiB at d = 128). An f32 source (the
/// model layout), which cp.async cannot round, is loaded into registers
/// (rounded) where the copy would start and stored where it would be
/// waited for, when d <= 64; at larger d, where the registers are taken,
/// loaded and stored in one go.
/// Finally O / l, or 0 where l = 0 (a row with no allowed key).
///
/// Every mask is a prefix of the keys: key j of row i is allowed when
/// j < limit(i) = min(keys, lengths[b], i + 1 when causal). So each
/// thread compares each column with its two rows' limits, and the dense
/// loop stops at the last tile that any row of the block can see.
std::string attentionText(const GpuAttentionSpec &spec,
                          GpuKernelLaunch &launch) {
  bool bf16 = spec.input == GpuGemmInput::BF16;
  std::string t = bf16 ? "bf16" : "f16";
  // len queries (rows of Q and O), keyLen keys (rows of K and V).
  int64_t d = spec.headDim, len = spec.seqLen, keyLen = spec.keyLength();
  // Each warp takes mTiles m16 tiles of query rows: tile mt holds the
  // block's rows 64 mt + 16 w .. + 15, and 2 mTiles rows a thread.
  int64_t queryTile = spec.queryTile, mTiles = queryTile / kAttnTile;
  int64_t threadRows = 2 * mTiles;
  int64_t queryTiles = (len + queryTile - 1) / queryTile;
  // Q's A fragments stay in registers for the whole key loop, unless two
  // m16 tiles' of them would not fit next to S and O (d > 96: 1.5 d + 64
  // registers): then Q stays in shared memory and each k16 step's
  // fragments are read again per key tile, past 48 KiB (dynamic shared
  // memory).
  bool qInRegisters = mTiles == 1 || d <= 64;
  auto headsShape = [&](int64_t rows) {
    return str(spec.batch) + "x" + str(spec.heads) + "x" + str(rows) + "x" +
           str(d) + "x";
  };
  std::string inQ = "memref<" + headsShape(len) + t + ">";
  std::string inKV = "memref<" + headsShape(keyLen) + t + ">";
  std::string outElement = spec.outputInInputType ? t : "f32";
  std::string out = "memref<" + headsShape(len) + outElement + ">";
  if (spec.modelLayout) {
    std::string rowElement = spec.rowsInInputType ? t : "f32";
    inQ = "memref<" + str(spec.batch) + "x" + str(len) + "x" +
          str(spec.rowWidth) + "x" + rowElement + ">";
    inKV = "memref<" + str(spec.batch) + "x" + str(keyLen) + "x" +
           str(spec.keyValueWidth()) + "x" + rowElement + ">";
    out = "memref<" + str(spec.batch) + "x" + str(len) + "x" +
          str(spec.heads * d) + "xf32>";
  }
  // The type and the number of rows of a staged source: Q, or K and V.
  auto typeOf = [&](const std::string &source) {
    return source == "%Q" ? inQ : inKV;
  };
  auto rowsOf = [&](const std::string &source) {
    return source == "%Q" ? len : keyLen;
  };
  std::string tile = "memref<" + str(kAttnTile) + "x" + str(d + kPad) + "x" +
                     t + ", #gpu.address_space<workgroup>>";
  std::string offsetsType =
      "memref<" + str(spec.layoutGroups * queryTiles + 1) + "xi32>";
  std::string indicesType = "memref<" + str(spec.blockSparseEntries) + "xi32>";
  std::string lengthsType = "memref<" + str(spec.batch) + "xi32>";
  launch.arguments = {{"Q", inQ}, {"K", inKV}, {"V", inKV}};
  if (spec.keyPadding)
    launch.arguments.push_back({"lengths", lengthsType});
  // A layout known at compile time is two constant arrays of the module,
  // else two arguments.
  bool staticLayout = spec.blockSparse && !spec.tileOffsets.empty();
  // Bits of the keys allowed inside partly allowed tiles.
  bool tileMasks = staticLayout && !spec.tileMasks.empty();
  std::string masksType =
      "memref<" + str(int64_t(spec.tileMasks.size())) + "xi32>";
  std::string globals;
  if (staticLayout) {
    auto constants = [&](const char *what, const std::string &type,
                         const std::vector<int32_t> &values) {
      std::string list;
      for (int32_t v : values)
        list += (list.empty() ? "" : ", ") + str(v);
      globals += "    memref.global \"private\" constant @" + spec.name + "_" +
                 what + " : " + type + " = dense<[" + list + "]>\n";
    };
    constants("tile_offsets", offsetsType, spec.tileOffsets);
    constants("tile_indices", indicesType, spec.tileIndices);
    if (tileMasks) {
      constants("tile_mask_index", indicesType, spec.tileMaskIndex);
      constants("tile_masks", masksType, spec.tileMasks);
    }
  } else if (spec.blockSparse) {
    launch.arguments.push_back({"tileOffsets", offsetsType});
    launch.arguments.push_back({"tileIndices", indicesType});
  }
  launch.arguments.push_back({"O", out});
  launch.grid[0] = queryTiles;
  launch.grid[1] = spec.heads;
  launch.grid[2] = spec.batch;
  launch.block[0] = kThreads;
  // One K and one V tile, and with Q kept in shared memory its mTiles
  // tiles next to them, all in dynamic shared memory.
  int64_t tileBytes = kAttnTile * (d + kPad) * 2;
  std::string header = "    gpu.func @" + spec.name + "(";
  for (size_t i = 0; i < launch.arguments.size(); ++i)
    header += (i ? ", %" : "%") + launch.arguments[i].name + ": " +
              launch.arguments[i].type;
  if (qInRegisters) {
    launch.staticSharedBytes = 2 * tileBytes;
    header += ")\n        workgroup(%Ks: " + tile +
              " {llvm.align = 16 : i64}, %Vs: " + tile +
              " {llvm.align = 16 : i64})\n        kernel {\n";
  } else {
    launch.staticSharedBytes = 0;
    launch.dynamicSharedBytes = (2 + mTiles) * tileBytes;
    header += ")\n        kernel {\n";
  }

  std::string operandType = bf16 ? "i32" : "vector<2xf16>";
  std::string acc = "!llvm.struct<(f32, f32, f32, f32)>";
  std::string vec8 = "vector<8x" + t + ">";
  int64_t kSteps = d / 16;          // k16 steps of Q K^T over the head dim.
  int64_t dTiles = d / 8;           // n8 tiles of O.
  int64_t keyTiles = kAttnTile / 8; // n8 tiles of S.
  int64_t copies = kAttnTile * d / 8 / kThreads; // 16-byte copies a thread.
  // K and V tiles come by cp.async, overlapping the tensor cores, unless
  // they are f32 (the model layout) to be rounded on the way: then each
  // tile is loaded into registers before the multiplies it overlaps and
  // stored after them, where its rows (d / 16 vectors of 8 halves) fit the
  // registers, d <= 64; else loaded and stored in one go.
  bool asyncCopies = !spec.modelLayout || spec.rowsInInputType;
  bool prefetch = !asyncCopies && d <= 64;
  float scaleLog2 = float(double(*spec.scale) * kLog2e);

  KernelText k;
  // One mma.sync m16n8k16 with A and B fragment registers `a` (4) and `b`
  // (2) and the f32 accumulator `c` (4 scalars), as `result`.
  auto mma = [&](int depth, const std::string &result,
                 const std::vector<std::string> &a,
                 const std::vector<std::string> &b,
                 const std::vector<std::string> &c) {
    k.line(depth, result + " = nvvm.mma.sync A[" + a[0] + ", " + a[1] + ", " +
                      a[2] + ", " + a[3] + "] B[" + b[0] + ", " + b[1] +
                      "] C[" + c[0] + ", " + c[1] + ", " + c[2] + ", " + c[3] +
                      "] {layoutA = #nvvm.mma_layout<row>, layoutB = "
                      "#nvvm.mma_layout<col>, multiplicandAPtxType = "
                      "#nvvm.mma_type<" +
                      t + ">, multiplicandBPtxType = #nvvm.mma_type<" + t +
                      ">, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (" +
                      operandType + ", " + operandType + ", f32) -> " + acc);
  };
  // The 4 scalars of accumulator `value`, named `name`0..3.
  auto scalars = [&](int depth, const std::string &name,
                     const std::string &value) {
    std::vector<std::string> out;
    for (int j = 0; j < 4; ++j) {
      out.push_back(name + str(j));
      k.line(depth, out.back() + " = llvm.extractvalue " + value + "[" +
                        str(j) + "] : " + acc);
    }
    return out;
  };
  // cp.async of rows `row0` .. + 63 of `source`[b, h] to `tileName`; a
  // row past the source's rows is a copy of 0 bytes (zeros) from its last.
  auto stageAsync = [&](int depth, const std::string &name,
                        const std::string &source, const std::string &tileName,
                        const std::string &row0) {
    int64_t rows = rowsOf(source);
    bool ragged = rows % kAttnTile != 0;
    for (int64_t i = 0; i < copies; ++i) {
      std::string s = name + str(i), row = s + "_row", size;
      k.line(depth,
             s + "_row = arith.addi " + row0 + ", %sr" + str(i) + " : index");
      if (ragged) {
        k.line(depth, s + "_in = arith.cmpi ult, " + s + "_row, " + k.c(rows) +
                          " : index");
        k.line(depth, s + "_cl = arith.minsi " + s + "_row, " + k.c(rows - 1) +
                          " : index");
        k.line(depth, s + "_sz = arith.select " + s + "_in, " + k.c(8) + ", " +
                          k.c(0) + " : index");
        row = s + "_cl";
        size = ", " + s + "_sz";
      }
      // [b, h, row, column], or in the model layout [b, row, head h's
      // first column (%col<source>) + column].
      std::string at = "[%b, %h, " + row + ", %sc" + str(i) + "]";
      if (spec.modelLayout) {
        k.line(depth, s + "_c = arith.addi %col" + source.substr(1) + ", %sc" +
                          str(i) + " : index");
        at = "[%b, " + row + ", " + s + "_c]";
      }
      k.line(depth, s + " = nvgpu.device_async_copy " + source + at + ", " +
                        tileName + "[%sr" + str(i) + ", %sc" + str(i) + "], 8" +
                        size + " {bypassL1} : " + typeOf(source) + " to " +
                        tile);
    }
  };
  // Loads rows `row0` .. + 63 of head h of `source` (f32 rows, the model
  // layout, its columns from %col<source>) into registers, rounded to the
  // input type, as `name`<i>: zeros for rows past the source's rows.
  auto loadRows = [&](int depth, const std::string &name,
                      const std::string &source, const std::string &row0) {
    for (int64_t i = 0; i < copies; ++i) {
      std::string s = name + str(i);
      k.line(depth,
             s + "_row = arith.addi " + row0 + ", %sr" + str(i) + " : index");
      k.line(depth, s + "_in = arith.cmpi ult, " + s + "_row, " +
                        k.c(rowsOf(source)) + " : index");
      k.line(depth, s + " = scf.if " + s + "_in -> (" + vec8 + ") {");
      k.line(depth + 1, s + "_c = arith.addi %col" + source.substr(1) +
                            ", %sc" + str(i) + " : index");
      k.line(depth + 1, s + "_f = vector.load " + source + "[%b, " + s +
                            "_row, " + s + "_c] {alignment = 16} : " +
                            typeOf(source) + ", vector<8xf32>");
      k.line(depth + 1,
             s + "_l = arith.truncf " + s + "_f : vector<8xf32> to " + vec8);
      k.line(depth + 1, "scf.yield " + s + "_l : " + vec8);
      k.line(depth, "} else {");
      k.line(depth + 1, s + "_z = arith.constant dense<0.0> : " + vec8);
      k.line(depth + 1, "scf.yield " + s + "_z : " + vec8);
      k.line(depth, "}");
    }
  };
  auto rowNames = [&](const std::string &name) {
    std::vector<std::string> names;
    for (int64_t i = 0; i < copies; ++i)
      names.push_back(name + str(i));
    return names;
  };
  // Stores rows loadRows loaded (`rows`) into `tileName`.
  auto storeRows = [&](int depth, const std::vector<std::string> &rows,
                       const std::string &tileName) {
    for (int64_t i = 0; i < copies; ++i)
      k.line(depth, "vector.store " + rows[i] + ", " + tileName + "[%sr" +
                        str(i) + ", %sc" + str(i) +
                        "] {alignment = 16} : " + tile + ", " + vec8);
  };
  // Copies rows `row0` .. + 63 of `source`[b, h] to `tileName`: by
  // cp.async, or (f32 rows) loaded, rounded and stored.
  auto stage = [&](int depth, const std::string &name,
                   const std::string &source, const std::string &tileName,
                   const std::string &row0) {
    if (asyncCopies)
      return stageAsync(depth, name, source, tileName, row0);
    loadRows(depth, name, source, row0);
    storeRows(depth, rowNames(name), tileName);
  };

  k.line(0, "%tid = gpu.thread_id x");
  if (spec.causal) {
    // Causal query tiles visit 1, 2, ... key tiles: the grid's first
    // blocks take the last query tiles, so the longest run first and the
    // short ones fill in behind them instead of trailing alone.
    k.line(0, "%bx = gpu.block_id x");
    k.line(0, "%qt = arith.subi " + k.c(queryTiles - 1) + ", %bx : index");
  } else {
    k.line(0, "%qt = gpu.block_id x");
  }
  k.line(0, "%h = gpu.block_id y");
  k.line(0, "%b = gpu.block_id z");
  k.line(0, "%warp = arith.divui %tid, " + k.c(32) + " : index");
  k.line(0, "%lane = arith.remui %tid, " + k.c(32) + " : index");
  k.line(0, "%q0 = arith.muli %qt, " + k.c(queryTile) + " : index");
  if (!qInRegisters) {
    std::string bytes = "memref<?xi8, #gpu.address_space<workgroup>>";
    k.line(0, "%dyn = gpu.dynamic_shared_memory : " + bytes);
    const char *views[4] = {"%Ks", "%Vs", "%Qs0", "%Qs1"};
    for (int64_t i = 0; i < 2 + mTiles; ++i)
      k.line(0, std::string(views[i]) + " = memref.view %dyn[" +
                    k.c(i * tileBytes) + "][] : " + bytes + " to " + tile);
  }
  if (spec.modelLayout) {
    k.line(0, "// Head h's first column in Q, K, V and O.");
    k.line(0, "%colO = arith.muli %h, " + k.c(d) + " : index");
    const char *names[3] = {"%colQ", "%colK", "%colV"};
    for (int i = 0; i < 3; ++i)
      k.line(0, std::string(names[i]) + " = arith.addi %colO, " +
                    k.c(spec.columnOffsets[i]) + " : index");
  }
  k.line(0, "%wrow = arith.muli %warp, " + k.c(16) + " : index");
  k.line(0, "%g = arith.divui %lane, " + k.c(4) + " : index");
  k.line(0, "%quad = arith.remui %lane, " + k.c(4) + " : index");
  k.line(0, "%c2q = arith.muli %quad, " + k.c(2) + " : index");
  k.line(0, "%width = arith.constant 32 : i32");
  k.line(0, "%sh1 = arith.constant 1 : i32");
  k.line(0, "%sh2 = arith.constant 2 : i32");
  k.line(0, "%f0 = arith.constant 0.0 : f32");
  k.line(0, "%f1 = arith.constant 1.0 : f32");
  k.line(0, "%ninf = arith.constant 0xFF800000 : f32");
  k.line(0, "%scale = arith.constant " + f32Literal(scaleLog2) + " : f32");
  k.line(0, "%zero = llvm.mlir.zero : " + acc);
  k.line(0, "// The rows of the two halves of each accumulator: g and g + 8");
  k.line(0, "// of the warp's 16 (of each of its m16 tiles).");
  k.line(0, "%wq0 = arith.addi %q0, %wrow : index");
  k.line(0, "%row0 = arith.addi %wq0, %g : index");
  for (int64_t ri = 1; ri < threadRows; ++ri)
    k.line(0, "%row" + str(ri) + " = arith.addi %row0, " +
                  k.c(64 * (ri / 2) + 8 * (ri % 2)) + " : index");
  k.line(0, "// Staging: copy q = tid + 128 i moves 8 elements, row");
  k.line(0, "// q / " + str(d / 8) + ", column 8 (q % " + str(d / 8) +
                ") of a 64-row tile.");
  // When a row's copies divide the block's, copy i is copy 0 moved down
  // 128 i / (d / 8) rows: written so, its addresses are copy 0's plus a
  // constant, which the loads take as an immediate offset instead of
  // keeping an address a copy live across the key loop.
  bool rowStride = kThreads % (d / 8) == 0;
  for (int64_t i = 0; i < copies; ++i) {
    std::string s = str(i);
    if (rowStride && i > 0) {
      k.line(0, "%sr" + s + " = arith.addi %sr0, " +
                    k.c(kThreads / (d / 8) * i) + " : index");
      k.line(0, "%sc" + s + " = arith.addi %sc0, " + k.c(0) + " : index");
      continue;
    }
    k.line(0,
           "%sq" + s + " = arith.addi %tid, " + k.c(kThreads * i) + " : index");
    k.line(0, "%sr" + s + " = arith.divui %sq" + s + ", " + k.c(d / 8) +
                  " : index");
    k.line(0, "%scq" + s + " = arith.remui %sq" + s + ", " + k.c(d / 8) +
                  " : index");
    k.line(0,
           "%sc" + s + " = arith.muli %scq" + s + ", " + k.c(8) + " : index");
  }
  k.line(0, "// ldmatrix row addresses. Q (A operand) and V (.trans): lane l");
  k.line(0, "// gives row l % 16 at column 8 (l / 16) of a 16x16. K: row");
  k.line(0, "// l % 8 + 8 (l / 16) at column 8 ((l / 8) % 2), so that the");
  k.line(0, "// 4 matrices are (keys 0-7, d 0-7), (keys 0-7, d 8-15),");
  k.line(0, "// (keys 8-15, d 0-7), (keys 8-15, d 8-15): the b0, b1 of two");
  k.line(0, "// n8 tiles of keys.");
  k.line(0, "%l16 = arith.remui %lane, " + k.c(16) + " : index");
  k.line(0, "%lhalf = arith.divui %lane, " + k.c(16) + " : index");
  k.line(0, "%lcol = arith.muli %lhalf, " + k.c(8) + " : index");
  k.line(0, "%l8 = arith.remui %lane, " + k.c(8) + " : index");
  k.line(0, "%krow = arith.addi %l8, %lcol : index");
  k.line(0, "%lm = arith.divui %lane, " + k.c(8) + " : index");
  k.line(0, "%lm2 = arith.remui %lm, " + k.c(2) + " : index");
  k.line(0, "%kcol = arith.muli %lm2, " + k.c(8) + " : index");
  k.line(0, "%qrow = arith.addi %wrow, %l16 : index");

  // Q: 64 rows a buffer, m16 tile mt of every warp in buffer mt (%Ks and
  // %Vs when they go on into registers, else %Qs<mt>).
  auto qBuffer = [&](int64_t mt) {
    return qInRegisters ? std::string(mt ? "%Vs" : "%Ks") : "%Qs" + str(mt);
  };
  // Q's A fragments of k16 step kk of m16 tile mt, as `name`.
  auto loadQFragments = [&](int depth, const std::string &name, int64_t mt,
                            int64_t kk) {
    std::string col = name + "_col";
    k.line(depth, col + " = arith.addi %lcol, " + k.c(16 * kk) + " : index");
    k.line(depth, name + " = nvgpu.ldmatrix " + qBuffer(mt) + "[%qrow, " + col +
                      "] {numTiles = 4 : i32, transpose = false} : " + tile +
                      " -> vector<4x2x" + t + ">");
    return emitFragmentRegisters(k, depth, name, t);
  };
  k.line(0, "// Q's tile through shared memory" +
                std::string(qInRegisters ? " into registers." : "."));
  for (int64_t mt = 0; mt < mTiles; ++mt) {
    std::string row0 = "%q0";
    if (mt) {
      row0 = "%qHalf" + str(mt);
      k.line(0,
             row0 + " = arith.addi %q0, " + k.c(kAttnTile * mt) + " : index");
    }
    stage(0, "%vq" + std::string(mt ? str(mt) + "_" : ""), "%Q", qBuffer(mt),
          row0);
  }
  if (asyncCopies) {
    k.line(0, "%qGroup = nvgpu.device_async_create_group {}");
    k.line(0, "nvgpu.device_async_wait %qGroup {numGroups = 0 : i32}");
  }
  k.line(0, "gpu.barrier");
  // qFragments[mt][kk], when Q stays in registers.
  std::vector<std::vector<std::vector<std::string>>> qFragments(mTiles);
  if (qInRegisters) {
    for (int64_t mt = 0; mt < mTiles; ++mt)
      for (int64_t kk = 0; kk < kSteps; ++kk)
        qFragments[mt].push_back(loadQFragments(
            0, "%qa" + std::string(mt ? str(mt) + "_" : "") + str(kk), mt, kk));
    k.line(0, "// The first K tile overwrites what every warp read.");
    k.line(0, "gpu.barrier");
  }

  // The key limits.
  k.line(0, "// Keys allowed for the block's rows, and for each of the");
  k.line(0, "// thread's rows: a prefix of the keys.");
  std::string keyEnd = k.c(keyLen);
  if (spec.keyPadding) {
    k.line(0, "%len32 = memref.load %lengths[%b] : " + lengthsType);
    k.line(0, "%lenRaw = arith.index_cast %len32 : i32 to index");
    k.line(0, "%lenPos = arith.maxsi %lenRaw, " + k.c(0) + " : index");
    k.line(0, "%keyEnd = arith.minsi %lenPos, " + k.c(keyLen) + " : index");
    keyEnd = "%keyEnd";
  }
  std::string blockEnd = keyEnd;
  std::vector<std::string> limit(threadRows, keyEnd);
  if (spec.causal) {
    k.line(0, "%qEnd = arith.addi %q0, " + k.c(queryTile) + " : index");
    k.line(0, "%blockEnd = arith.minsi " + keyEnd + ", %qEnd : index");
    blockEnd = "%blockEnd";
    for (int64_t r = 0; r < threadRows; ++r) {
      std::string s = str(r);
      k.line(0, "%rowNext" + s + " = arith.addi %row" + s + ", " + k.c(1) +
                    " : index");
      k.line(0, "%limit" + s + " = arith.minsi " + keyEnd + ", %rowNext" + s +
                    " : index");
      limit[r] = "%limit" + s;
    }
  }

  // The loop state: m of the thread's rows, then l, then the O
  // accumulators of each m16 tile.
  std::vector<std::string> stateTypes, stateInit, state;
  for (const char *name : {"%m", "%l"})
    for (int64_t r = 0; r < threadRows; ++r) {
      stateTypes.push_back("f32");
      stateInit.push_back(name[1] == 'm' ? "%ninf" : "%f0");
      state.push_back(name + str(r));
    }
  // The name of m16 tile mt's O accumulator n (and of what derives from
  // it): `base` n, or `base` mt _ n with two m16 tiles.
  auto mTileName = [&](const std::string &base, int64_t mt, int64_t n) {
    return base + (mTiles > 1 ? str(mt) + "_" : "") + str(n);
  };
  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t n = 0; n < dTiles; ++n) {
      stateTypes.push_back(acc);
      stateInit.push_back("%zero");
      state.push_back(mTileName("%o", mt, n));
    }
  auto join = [](const std::vector<std::string> &items) {
    std::string out;
    for (const std::string &item : items)
      out += (out.empty() ? "" : ", ") + item;
    return out;
  };
  std::string iterArgs;
  for (size_t i = 0; i < state.size(); ++i)
    iterArgs += (i ? ", " : "") + state[i] + " = " + stateInit[i];
  std::string types = join(stateTypes);
  std::string count = str(state.size());

  if (staticLayout) {
    k.line(0, "%tileOffsets = memref.get_global @" + spec.name +
                  "_tile_offsets : " + offsetsType);
    k.line(0, "%tileIndices = memref.get_global @" + spec.name +
                  "_tile_indices : " + indicesType);
  }
  if (tileMasks) {
    k.line(0, "%tileMaskIndex = memref.get_global @" + spec.name +
                  "_tile_mask_index : " + indicesType);
    k.line(0, "%tileMasks = memref.get_global @" + spec.name +
                  "_tile_masks : " + masksType);
    k.line(0, "// A tile mask's words of the thread's two rows, shifted by");
    k.line(0, "// its first column 2 (lane % 4): bit 8 n + e (mod 32) of");
    k.line(0, "// word n / 4 then allows column 8 n + 2 (lane % 4) + e.");
    k.line(0, "%maskShift = arith.index_cast %c2q : index to i32");
    k.line(0, "%allKeys = arith.constant -1 : i32");
    k.line(0, "%noKey = arith.constant 0 : i32");
    k.line(0, "%tileRow0 = arith.addi %wrow, %g : index");
    k.line(0, "%tileRow1 = arith.addi %tileRow0, " + k.c(8) + " : index");
    for (int r = 0; r < 2; ++r)
      k.line(0, "%maskRow" + str(r) + " = arith.muli %tileRow" + str(r) + ", " +
                    k.c(2) + " : index");
  }
  // The copies of the tiles in flight form one group each; with
  // synchronous copies the barriers alone order them.
  auto commit = [&](int depth, const std::string &name) {
    if (asyncCopies)
      k.line(depth, name + " = nvgpu.device_async_create_group {}");
  };
  auto waitAll = [&](int depth, const std::string &group) {
    if (asyncCopies)
      k.line(depth,
             "nvgpu.device_async_wait " + group + " {numGroups = 0 : i32}");
  };
  // The first key row `name`k0 of entry `entry` of a block-sparse layout,
  // and whether the entry is visited (`name`visit): one outside the keys
  // is not, and reads tile 0 instead, fully masked.
  auto sparseTile = [&](int depth, const std::string &name,
                        const std::string &entry) {
    k.line(depth, name + "kt32 = memref.load %tileIndices[" + entry +
                      "] : " + indicesType);
    k.line(depth,
           name + "kt = arith.index_cast " + name + "kt32 : i32 to index");
    k.line(depth, name + "k0raw = arith.muli " + name + "kt, " +
                      k.c(kAttnTile) + " : index");
    k.line(depth, name + "visit = arith.cmpi ult, " + name + "k0raw, " +
                      keyEnd + " : index");
    k.line(depth, name + "k0 = arith.select " + name + "visit, " + name +
                      "k0raw, " + k.c(0) + " : index");
  };
  std::string loopOpen, hasNext, nextK0Setup;
  if (spec.blockSparse) {
    k.line(0, "// The listed key tiles of this query tile; an entry outside");
    k.line(0, "// the keys adds nothing.");
    std::string layoutRow = "%qt";
    if (spec.layoutGroups > 1) {
      k.line(0, "// Head h's group has its own rows of the layout.");
      k.line(0, "%group = arith.divui %h, " +
                    k.c(spec.heads / spec.layoutGroups) + " : index");
      k.line(0,
             "%groupRow = arith.muli %group, " + k.c(queryTiles) + " : index");
      k.line(0, "%layoutRow = arith.addi %groupRow, %qt : index");
      layoutRow = "%layoutRow";
    }
    k.line(0, "%qt1 = arith.addi " + layoutRow + ", " + k.c(1) + " : index");
    k.line(0, "%first32 = memref.load %tileOffsets[" + layoutRow +
                  "] : " + offsetsType);
    k.line(0, "%last32 = memref.load %tileOffsets[%qt1] : " + offsetsType);
    k.line(0, "%firstRaw = arith.index_cast %first32 : i32 to index");
    k.line(0, "%lastRaw = arith.index_cast %last32 : i32 to index");
    k.line(0, "%first = arith.maxsi %firstRaw, " + k.c(0) + " : index");
    k.line(0, "%last = arith.minsi %lastRaw, " + k.c(spec.blockSparseEntries) +
                  " : index");
    k.line(0, "%any = arith.cmpi slt, %first, %last : index");
    k.line(0, "scf.if %any {");
    sparseTile(1, "%f_", "%first");
    stage(1, "%fk", "%K", "%Ks", "%f_k0");
    k.line(0, "}");
    loopOpen = "scf.for %e = %first to %last step " + k.c(1);
  } else {
    k.line(0, "%blockEnd63 = arith.addi " + blockEnd + ", " +
                  k.c(kAttnTile - 1) + " : index");
    k.line(0,
           "%tiles = arith.divui %blockEnd63, " + k.c(kAttnTile) + " : index");
    k.line(0, "%any = arith.cmpi ult, " + k.c(0) + ", %tiles : index");
    k.line(0, "scf.if %any {");
    stage(1, "%fk", "%K", "%Ks", k.c(0));
    k.line(0, "}");
    loopOpen = "scf.for %kt = " + k.c(0) + " to %tiles step " + k.c(1);
  }
  commit(0, "%firstGroup");
  waitAll(0, "%firstGroup");
  k.line(0, "gpu.barrier");
  k.line(0, "%final:" + count + " = " + loopOpen + " iter_args(" + iterArgs +
                ") -> (" + types + ") {");
  const int D = 1;
  if (spec.blockSparse) {
    sparseTile(D, "%", "%e");
    k.line(D, "%e1 = arith.addi %e, " + k.c(1) + " : index");
    k.line(D, "%hasNext = arith.cmpi slt, %e1, %last : index");
    // An entry not visited masks every key.
    for (int64_t r = 0; r < threadRows; ++r) {
      std::string lim = "%lim" + str(r);
      k.line(D, lim + " = arith.select %visit, " + limit[r] + ", " + k.c(0) +
                    " : index");
      limit[r] = lim;
    }
    if (tileMasks) {
      k.line(D, "// The entry's mask, or every key for a whole tile.");
      k.line(D, "%mi32 = memref.load %tileMaskIndex[%e] : " + indicesType);
      k.line(D, "%mi = arith.index_cast %mi32 : i32 to index");
      k.line(D, "%whole = arith.cmpi slt, %mi, " + k.c(0) + " : index");
      k.line(D, "%mIdx = arith.maxsi %mi, " + k.c(0) + " : index");
      k.line(D, "%mBase = arith.muli %mIdx, " +
                    k.c(kGpuAttentionTileMaskWords) + " : index");
      for (int r = 0; r < 2; ++r)
        for (int w = 0; w < 2; ++w) {
          std::string x = "%mw" + str(r) + str(w);
          k.line(D,
                 x + "_a0 = arith.addi %mBase, %maskRow" + str(r) + " : index");
          k.line(D, x + "_a = arith.addi " + x + "_a0, " + k.c(w) + " : index");
          k.line(D, x + "_raw = memref.load %tileMasks[" + x +
                        "_a] : " + masksType);
          k.line(D, x + "_sel = arith.select %whole, %allKeys, " + x +
                        "_raw : i32");
          k.line(D, x + " = arith.shrui " + x + "_sel, %maskShift : i32");
        }
    }
  } else {
    k.line(D, "%k0 = arith.muli %kt, " + k.c(kAttnTile) + " : index");
    k.line(D, "%kt1 = arith.addi %kt, " + k.c(1) + " : index");
    k.line(D, "%hasNext = arith.cmpi ult, %kt1, %tiles : index");
  }
  k.line(D, "// K of this tile is in %Ks; V comes while S is computed.");
  if (prefetch)
    loadRows(D, "%vv", "%V", "%k0");
  else
    stage(D, "%vv", "%V", "%Vs", "%k0");
  commit(D, "%vGroup");

  // S = Q K^T: 8 n8 tiles of keys, in pairs per ldmatrix.x4; each K
  // fragment feeds every m16 tile of the warp.
  k.line(D, "// S = Q K^T, " + str(16 * mTiles) + " x 64 a warp.");
  std::vector<std::vector<std::string>> s(mTiles,
                                          std::vector<std::string>(keyTiles));
  for (int64_t pair = 0; pair < keyTiles / 2; ++pair)
    k.line(D, "%kr" + str(pair) + " = arith.addi %krow, " + k.c(16 * pair) +
                  " : index");
  for (int64_t kk = 0; kk < kSteps; ++kk) {
    std::vector<std::vector<std::string>> a(mTiles);
    for (int64_t mt = 0; mt < mTiles; ++mt)
      a[mt] = qInRegisters
                  ? qFragments[mt][kk]
                  : loadQFragments(D, "%qa" + str(mt) + "_" + str(kk), mt, kk);
    std::string col = "%kc" + str(kk);
    k.line(D, col + " = arith.addi %kcol, " + k.c(16 * kk) + " : index");
    for (int64_t pair = 0; pair < keyTiles / 2; ++pair) {
      std::string x = "%kb" + str(pair) + "_" + str(kk);
      k.line(D, x + " = nvgpu.ldmatrix %Ks[%kr" + str(pair) + ", " + col +
                    "] {numTiles = 4 : i32, transpose = false} : " + tile +
                    " -> vector<4x2x" + t + ">");
      std::vector<std::string> b = emitFragmentRegisters(k, D, x, t);
      for (int64_t mt = 0; mt < mTiles; ++mt)
        for (int half = 0; half < 2; ++half) {
          int64_t n = 2 * pair + half;
          std::string result = mTileName("%s", mt, n) + "_" + str(kk);
          std::vector<std::string> c = kk == 0
                                           ? std::vector<std::string>(4, "%f0")
                                           : scalars(D, result + "c", s[mt][n]);
          mma(D, result, a[mt], {b[2 * half], b[2 * half + 1]}, c);
          s[mt][n] = result;
        }
    }
  }

  // The online softmax, per row r of the thread: half r % 2 (accumulator
  // registers 2 (r % 2), + 1) of m16 tile r / 2.
  k.line(D, "// Scale to log2 units, mask, and the online softmax.");
  k.line(D, "%colBase = arith.addi %k0, %c2q : index");
  // p[r][2 n + e]
  std::vector<std::vector<std::string>> p(threadRows);
  std::vector<std::string> alpha(threadRows), mNew(threadRows),
      lNew(threadRows);
  for (int64_t r = 0; r < threadRows; ++r) {
    std::string R = str(r);
    std::vector<std::string> masked;
    // Column 8 n + e of the thread's is key %colBase + 8 n + e: allowed
    // when 8 n + e < limit - %colBase, one i32 a row against constants
    // (rather than a 64-bit index per column held across the tile).
    k.line(D, "%rel" + R + " = arith.subi " + limit[r] + ", %colBase : index");
    k.line(D,
           "%rel32_" + R + " = arith.index_cast %rel" + R + " : index to i32");
    for (int64_t n = 0; n < keyTiles; ++n)
      for (int e = 0; e < 2; ++e) {
        std::string x = "%x" + R + "_" + str(n) + str(e);
        k.line(D, x + "_c = arith.constant " + str(8 * n + e) + " : i32");
        k.line(D, x + "_s = llvm.extractvalue " + s[r / 2][n] + "[" +
                      str(2 * (r % 2) + e) + "] : " + acc);
        k.line(D, x + "_l = arith.mulf " + x + "_s, %scale : f32");
        std::string ok = x + "_ok";
        if (tileMasks) {
          ok = x + "_lim";
          int64_t bit = (8 * n + e) % 32;
          // The bit as an i32 literal (bit 31 is the sign).
          int32_t value = int32_t(uint32_t(1) << bit);
          k.line(D, x + "_bit = arith.constant " + str(value) + " : i32");
          k.line(D, x + "_word = arith.andi %mw" + R + str(n / 4) + ", " + x +
                        "_bit : i32");
          k.line(D, x + "_key = arith.cmpi ne, " + x + "_word, %noKey : i32");
        }
        k.line(D,
               ok + " = arith.cmpi sgt, %rel32_" + R + ", " + x + "_c : i32");
        if (tileMasks)
          k.line(D, x + "_ok = arith.andi " + ok + ", " + x + "_key : i1");
        k.line(D, x + " = arith.select " + x + "_ok, " + x + "_l, %ninf : f32");
        masked.push_back(x);
      }
    std::string v = masked[0];
    for (size_t i = 1; i < masked.size(); ++i) {
      std::string next = "%max" + R + "_" + str(i);
      k.line(D, next + " = arith.maximumf " + v + ", " + masked[i] + " : f32");
      v = next;
    }
    emitQuadReduce(k, D, "%rowMax" + R, v, "arith.maximumf");
    mNew[r] = "%mNew" + R;
    k.line(D,
           mNew[r] + " = arith.maximumf %m" + R + ", %rowMax" + R + " : f32");
    k.line(D, "// m^ = 0 while the row has seen no allowed key, so that");
    k.line(D, "// 2^(-inf - m^) is 0 and never 2^(-inf + inf) = NaN.");
    k.line(D, "%none" + R + " = arith.cmpf oeq, " + mNew[r] + ", %ninf : f32");
    k.line(D, "%mHat" + R + " = arith.select %none" + R + ", %f0, " + mNew[r] +
                  " : f32");
    k.line(D, "%mOld" + R + " = arith.subf %m" + R + ", %mHat" + R + " : f32");
    alpha[r] = "%alpha" + R;
    emitExp2(k, D, alpha[r], "%mOld" + R);
    std::string sum;
    for (size_t i = 0; i < masked.size(); ++i) {
      std::string x = masked[i];
      k.line(D, x + "_d = arith.subf " + x + ", %mHat" + R + " : f32");
      emitExp2(k, D, x + "_p", x + "_d");
      p[r].push_back(x + "_p");
      if (i == 0) {
        sum = x + "_p";
      } else {
        k.line(D, x + "_sum = arith.addf " + sum + ", " + x + "_p : f32");
        sum = x + "_sum";
      }
    }
    lNew[r] = "%lNew" + R;
    k.line(D, lNew[r] + " = math.fma %l" + R + ", " + alpha[r] + ", " + sum +
                  " : f32");
  }

  // P in the input type: the A fragments of the 4 k16 steps of P V, per
  // m16 tile.
  k.line(D, "// P as mma.sync A fragments: the S tiles 2 kk and 2 kk + 1.");
  // pFragments[mt][kk]
  std::vector<std::vector<std::vector<std::string>>> pFragments(mTiles);
  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t kk = 0; kk < keyTiles / 2; ++kk) {
      std::vector<std::string> regs;
      // a0 = (g, 2c), a1 = (g + 8, 2c), a2 = (g, 2c + 8), a3 = (g + 8,
      // 2c + 8): tile 2 kk rows g, g + 8, then tile 2 kk + 1.
      for (int64_t n : {2 * kk, 2 * kk + 1})
        for (int64_t r = 2 * mt; r < 2 * mt + 2; ++r) {
          std::string x = "%pa" + str(n) + "_" + str(r);
          k.line(D, x + "_v = vector.from_elements " + p[r][2 * n] + ", " +
                        p[r][2 * n + 1] + " : vector<2xf32>");
          k.line(D, x + " = arith.truncf " + x +
                        "_v : vector<2xf32> to vector<2x" + t + ">");
          if (bf16) {
            k.line(D, x + "i = llvm.bitcast " + x + " : vector<2xbf16> to i32");
            regs.push_back(x + "i");
          } else {
            regs.push_back(x);
          }
        }
      pFragments[mt].push_back(regs);
    }

  if (prefetch)
    storeRows(D, rowNames("%vv"), "%Vs");
  k.line(D, "// V has landed, and every warp is done with K: the next");
  k.line(D, "// tile's K comes while P V is computed.");
  waitAll(D, "%vGroup");
  k.line(D, "gpu.barrier");
  std::string vecs, zeros;
  for (int64_t i = 0; i < copies; ++i) {
    vecs += std::string(i ? ", " : "") + vec8;
    zeros += std::string(i ? ", " : "") + "%nkz";
  }
  if (prefetch)
    k.line(D, "%nk:" + str(copies) + " = scf.if %hasNext -> (" + vecs + ") {");
  else
    k.line(D, "scf.if %hasNext {");
  if (spec.blockSparse)
    sparseTile(D + 1, "%n_", "%e1");
  else
    k.line(D + 1, "%n_k0 = arith.muli %kt1, " + k.c(kAttnTile) + " : index");
  if (prefetch) {
    loadRows(D + 1, "%nkl", "%K", "%n_k0");
    std::string rows;
    for (const std::string &row : rowNames("%nkl"))
      rows += (rows.empty() ? "" : ", ") + row;
    k.line(D + 1, "scf.yield " + rows + " : " + vecs);
    k.line(D, "} else {");
    k.line(D + 1, "%nkz = arith.constant dense<0.0> : " + vec8);
    k.line(D + 1, "scf.yield " + zeros + " : " + vecs);
  } else {
    stage(D + 1, "%nk", "%K", "%Ks", "%n_k0");
  }
  k.line(D, "}");
  commit(D, "%kGroup");

  // O = O alpha + P V; each V fragment feeds every m16 tile of the warp.
  k.line(D, "// O = O alpha + P V.");
  // o[mt][n], oScaled[mt][n]
  std::vector<std::vector<std::string>> o(mTiles,
                                          std::vector<std::string>(dTiles));
  std::vector<std::vector<std::vector<std::string>>> oScaled(
      mTiles, std::vector<std::vector<std::string>>(dTiles));
  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t n = 0; n < dTiles; ++n) {
      std::vector<std::string> c =
          scalars(D, mTileName("%oc", mt, n) + "_", mTileName("%o", mt, n));
      for (int j = 0; j < 4; ++j) {
        std::string x = mTileName("%os", mt, n) + "_" + str(j);
        k.line(D, x + " = arith.mulf " + c[j] + ", " + alpha[2 * mt + j / 2] +
                      " : f32");
        oScaled[mt][n].push_back(x);
      }
    }
  for (int64_t kk = 0; kk < keyTiles / 2; ++kk) {
    std::string K = str(kk);
    k.line(D, "%vrow" + K + " = arith.addi %l16, " + k.c(16 * kk) + " : index");
    for (int64_t pair = 0; pair < dTiles / 2; ++pair) {
      std::string x = "%vb" + K + "_" + str(pair);
      k.line(D, x + "_col = arith.addi %lcol, " + k.c(16 * pair) + " : index");
      k.line(D, x + " = nvgpu.ldmatrix %Vs[%vrow" + K + ", " + x +
                    "_col] {numTiles = 4 : i32, transpose = true} : " + tile +
                    " -> vector<4x2x" + t + ">");
      std::vector<std::string> b = emitFragmentRegisters(k, D, x, t);
      for (int64_t mt = 0; mt < mTiles; ++mt)
        for (int half = 0; half < 2; ++half) {
          int64_t n = 2 * pair + half;
          std::string result = mTileName("%pv", mt, n) + "_" + K;
          std::vector<std::string> c =
              kk == 0 ? oScaled[mt][n] : scalars(D, result + "c", o[mt][n]);
          mma(D, result, pFragments[mt][kk], {b[2 * half], b[2 * half + 1]}, c);
          o[mt][n] = result;
        }
    }
  }
  if (prefetch) {
    k.line(D, "scf.if %hasNext {");
    std::vector<std::string> rows;
    for (int64_t i = 0; i < copies; ++i)
      rows.push_back("%nk#" + str(i));
    storeRows(D + 1, rows, "%Ks");
    k.line(D, "}");
  }
  k.line(D, "// The next K has landed, and every warp is done with V.");
  waitAll(D, "%kGroup");
  k.line(D, "gpu.barrier");
  std::vector<std::string> yields = mNew;
  yields.insert(yields.end(), lNew.begin(), lNew.end());
  for (const std::vector<std::string> &tileO : o)
    yields.insert(yields.end(), tileO.begin(), tileO.end());
  k.line(D, "scf.yield " + join(yields) + " : " + types);
  k.line(0, "}");

  // O / l, or 0 for a row that saw no allowed key.
  k.line(0, "// The quad's partial row sums; O / l, or 0 where l = 0.");
  k.line(0, "%ecol = arith.muli %quad, " + k.c(2) + " : index");
  for (int64_t r = 0; r < threadRows; ++r) {
    std::string R = str(r);
    emitQuadReduce(k, 0, "%lSum" + R, "%final#" + str(threadRows + r),
                   "arith.addf");
    k.line(0, "%seen" + R + " = arith.cmpf ogt, %lSum" + R + ", %f0 : f32");
    k.line(0, "%lInv" + R + " = arith.divf %f1, %lSum" + R + " : f32");
    k.line(0, "%norm" + R + " = arith.select %seen" + R + ", %lInv" + R +
                  ", %f0 : f32");
  }
  for (int64_t r = 0; r < threadRows; ++r) {
    std::string R = str(r);
    int64_t mt = r / 2, half = r % 2;
    k.line(0, "%store" + R + " = arith.cmpi ult, %row" + R + ", " + k.c(len) +
                  " : index");
    k.line(0, "scf.if %store" + R + " {");
    for (int64_t n = 0; n < dTiles; ++n) {
      std::string x = "%out" + R + "_" + str(n);
      std::vector<std::string> c = scalars(
          1, x + "c", "%final#" + str(2 * threadRows + mt * dTiles + n));
      k.line(1, x + "_v = vector.from_elements " + c[2 * half] + ", " +
                    c[2 * half + 1] + " : vector<2xf32>");
      k.line(1,
             x + "_n = vector.broadcast %norm" + R + " : f32 to vector<2xf32>");
      k.line(1, x + " = arith.mulf " + x + "_v, " + x + "_n : vector<2xf32>");
      std::string value = x;
      if (spec.outputInInputType) {
        k.line(1, x + "_t = arith.truncf " + x +
                      " : vector<2xf32> to vector<2x" + t + ">");
        value = x + "_t";
      }
      k.line(1, x + "_col = arith.addi %ecol, " + k.c(8 * n) + " : index");
      if (spec.modelLayout) {
        k.line(1, x + "_mcol = arith.addi %colO, " + x + "_col : index");
        k.line(1, "vector.store " + value + ", %O[%b, %row" + R + ", " + x +
                      "_mcol] : " + out + ", vector<2xf32>");
      } else {
        k.line(1, "vector.store " + value + ", %O[%b, %h, %row" + R + ", " + x +
                      "_col] : " + out + ", vector<2x" + outElement + ">");
      }
    }
    k.line(0, "}");
  }
  k.line(0, "gpu.return");
  return globals + header + k.finish() + "    }\n";
}

//===----------------------------------------------------------------------===//
// Checks
//===----------------------------------------------------------------------===//

/// A symbol the kernel text can use as is, and a PTX entry name.
bool isIdentifier(const std::string &name) {
  if (name.empty() || !(std::isalpha((unsigned char)name[0]) || name[0] == '_'))
    return false;
  for (char ch : name)
    if (!std::isalnum((unsigned char)ch) && ch != '_')
      return false;
  return true;
}

const char *inputName(GpuGemmInput input) {
  switch (input) {
  case GpuGemmInput::F32:
    return "f32";
  case GpuGemmInput::F16:
    return "f16";
  case GpuGemmInput::BF16:
    return "bf16";
  case GpuGemmInput::TF32:
    return "tf32";
  }
  return "?";
}

/// The tile sizes the GEMM kernels are written for: N and K must be
/// multiples of them (no ragged columns or K steps yet); M may be ragged.
bool checkGemm(const GpuGemmSpec &spec, std::string &error) {
  std::string what = "GEMM '" + spec.name + "' (" + inputName(spec.input) +
                     ", M = " + str(spec.m) + ", N = " + str(spec.n) +
                     ", K = " + str(spec.k) + ")";
  if (spec.m <= 0 || spec.n <= 0 || spec.k <= 0) {
    error = what + ": M, N and K must be positive";
    return false;
  }
  if (spec.cInInputType &&
      (spec.input == GpuGemmInput::F32 || spec.input == GpuGemmInput::TF32)) {
    error = what + ": C in the input type is for the tensor-core GEMMs "
                   "(f16 or bf16 input); an f32 GEMM writes f32";
    return false;
  }
  if (spec.aInF32 &&
      (spec.input == GpuGemmInput::F32 || spec.input == GpuGemmInput::TF32)) {
    error = what +
            ": an f32 A rounded while staging is for the tensor-core "
            "GEMMs (f16 or bf16 input); an f32 GEMM reads f32 A as it is";
    return false;
  }
  bool tensorCores =
      spec.input == GpuGemmInput::F16 || spec.input == GpuGemmInput::BF16;
  if ((spec.tile == GpuGemmTile::Large || isWgmmaTile(spec.tile)) &&
      !tensorCores) {
    error = what + ": the 128x128 and warpgroup MMA tiles are for the f16 "
                   "and bf16 GEMMs; the f32 and TF32 GEMMs tile 64x64";
    return false;
  }
  const MmaTiling &tiling = tilingOf(spec);
  int64_t tileK = spec.input == GpuGemmInput::F32 ? kTileKF32
                  : isWgmmaTile(spec.tile)        ? kWgmmaTileK
                                                  : kTileKMma;
  struct Dim {
    const char *name;
    int64_t value, tile;
  } dims[] = {{"N", spec.n, tiling.tileN}, {"K", spec.k, tileK}};
  for (const Dim &dim : dims) {
    if (dim.value % dim.tile == 0)
      continue;
    error = what + ": " + dim.name + " is not a multiple of " + str(dim.tile) +
            "; the GPU GEMM takes N in whole tiles of " + str(tiling.tileN) +
            " and K in steps of " + str(tileK) + " (only M may be ragged)";
    return false;
  }
  int64_t blockRows = (spec.m + tiling.tileM - 1) / tiling.tileM;
  if (blockRows > kMaxGridY) {
    error = what + ": ceil(M / " + str(tiling.tileM) + ") = " + str(blockRows) +
            " blocks in grid y, more than the " + str(kMaxGridY) +
            " CUDA allows";
    return false;
  }
  return true;
}

/// The attention kernel's limits: tensor-core inputs, a head dim the
/// staging and the ldmatrix pairs divide (16 | d) and the registers hold
/// (d <= 128: O alone takes d / 2 registers a thread), and a grid CUDA
/// launches.
bool checkAttention(const GpuAttentionSpec &spec, std::string &error) {
  std::string what = "attention '" + spec.name + "' (" + inputName(spec.input) +
                     ", B = " + str(spec.batch) + ", H = " + str(spec.heads) +
                     ", L = " + str(spec.seqLen) +
                     (spec.keyLen ? ", keys = " + str(spec.keyLen) : "") +
                     ", d = " + str(spec.headDim) + ")";
  if (spec.batch <= 0 || spec.heads <= 0 || spec.seqLen <= 0) {
    error = what + ": B, H and L must be positive";
    return false;
  }
  if (spec.keyLen < 0) {
    error = what + ": a negative number of keys (0: as many as queries)";
    return false;
  }
  if (spec.input != GpuGemmInput::F16 && spec.input != GpuGemmInput::BF16) {
    error = what + ": Q, K and V must be f16 or bf16; the GPU attention "
                   "kernel runs on tensor cores and has no f32 variant";
    return false;
  }
  if (spec.headDim % 16 != 0 || spec.headDim < 16 || spec.headDim > 128) {
    error = what + ": the GPU attention kernel takes a head dim that is a "
                   "multiple of 16 from 16 to 128";
    return false;
  }
  if (spec.batch > kMaxGridY || spec.heads > kMaxGridY) {
    error = what + ": H and B are grid y and z, at most " + str(kMaxGridY) +
            " each";
    return false;
  }
  if (spec.scale && !(std::isfinite(*spec.scale) && *spec.scale > 0.0f)) {
    error = what + ": the scale must be positive and finite";
    return false;
  }
  if (spec.queryTile != kGpuAttentionTile &&
      (spec.queryTile != 2 * kGpuAttentionTile || spec.blockSparse)) {
    error = what + ": a query tile of " + str(spec.queryTile) +
            " rows; the kernel takes 64, or 128 without a block-sparse "
            "layout (whose tiles are 64 x 64)";
    return false;
  }
  if (spec.blockSparse && spec.blockSparseEntries < 0) {
    error = what + ": a negative number of block-sparse entries";
    return false;
  }
  if (spec.layoutGroups < 1 || spec.heads % spec.layoutGroups != 0 ||
      (spec.layoutGroups > 1 && !spec.blockSparse)) {
    error = what + ": " + str(spec.layoutGroups) +
            " layout groups; a block-sparse layout has 1, or a number of "
            "head groups that divides H";
    return false;
  }
  if (!spec.tileOffsets.empty() || !spec.tileIndices.empty()) {
    int64_t rows = spec.layoutGroups *
                   ((spec.seqLen + kGpuAttentionTile - 1) / kGpuAttentionTile);
    bool csr = spec.blockSparse && !spec.tileIndices.empty() &&
               int64_t(spec.tileOffsets.size()) == rows + 1 &&
               spec.blockSparseEntries == int64_t(spec.tileIndices.size()) &&
               spec.tileOffsets.front() == 0 &&
               spec.tileOffsets.back() == spec.blockSparseEntries;
    for (size_t i = 1; csr && i < spec.tileOffsets.size(); ++i)
      csr = spec.tileOffsets[i - 1] <= spec.tileOffsets[i];
    if (!csr) {
      error = what + ": a compiled-in block-sparse layout needs " +
              str(rows + 1) +
              " ascending tile offsets from 0 to its number of entries "
              "(at least 1), with blockSparse set";
      return false;
    }
  }
  if (!spec.tileMaskIndex.empty() || !spec.tileMasks.empty()) {
    int64_t masks = int64_t(spec.tileMasks.size()) / kGpuAttentionTileMaskWords;
    bool fits =
        !spec.tileIndices.empty() &&
        spec.tileMaskIndex.size() == spec.tileIndices.size() && masks > 0 &&
        int64_t(spec.tileMasks.size()) == masks * kGpuAttentionTileMaskWords;
    for (int32_t index : spec.tileMaskIndex)
      fits = fits && index >= -1 && index < masks;
    if (!fits) {
      error = what +
              ": tile masks need a compiled-in layout, one mask "
              "index (-1 or a mask) per entry, and whole masks of " +
              str(kGpuAttentionTileMaskWords) + " words";
      return false;
    }
  }
  if (spec.rowsInInputType && !spec.modelLayout) {
    error = what + ": rows in the input type are the model layout's";
    return false;
  }
  if (spec.modelLayout) {
    // 8-element loads (f32) or 16-byte copies (halves), aligned: rows and
    // heads' columns start at multiples of 8 elements (d is one of 16).
    int64_t widths[3] = {spec.rowWidth, spec.keyValueWidth(),
                         spec.keyValueWidth()};
    bool fits = !spec.outputInInputType && spec.keyValueRowWidth >= 0;
    for (int i = 0; i < 3; ++i)
      fits = fits && widths[i] % 8 == 0 && spec.columnOffsets[i] >= 0 &&
             spec.columnOffsets[i] % 8 == 0 &&
             spec.columnOffsets[i] + spec.heads * spec.headDim <= widths[i];
    if (!fits) {
      std::string rows = spec.keyValueWidth() == spec.rowWidth
                             ? str(spec.rowWidth) + " columns, a multiple of 8,"
                             : str(spec.rowWidth) + " (Q) and " +
                                   str(spec.keyValueWidth()) +
                                   " (K, V) columns, multiples of 8,";
      error = what + ": in the model layout, Q, K and V are " +
              (spec.rowsInInputType ? inputName(spec.input) : "f32") +
              " rows of " + rows +
              " holding H d = " + str(spec.heads * spec.headDim) +
              " columns from each column offset (multiples of 8), and O is "
              "f32";
      return false;
    }
  }
  return true;
}

} // namespace

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

std::string describeGpuKernel(const GpuGemmSpec &spec) {
  bool tensorCores =
      spec.input == GpuGemmInput::F16 || spec.input == GpuGemmInput::BF16;
  std::string out = std::string("gemm ") + inputName(spec.input);
  if (spec.aInF32)
    out += " (A f32, rounded while staged)";
  out += ": M " + str(spec.m) + ", N " + str(spec.n) + ", K " + str(spec.k);
  const MmaTiling &tiling = tilingOf(spec);
  out += "; tile " + str(tiling.tileM) + "x" + str(tiling.tileN) + ", " +
         str(tiling.threads() / 32) + " warps";
  if (isWgmmaTile(spec.tile))
    out += " (" + str(tiling.threads() / 128) + " warpgroup" +
           (tiling.threads() > 128 ? "s" : "") + "), " + str(tiling.stages) +
           " stages of K by " + str(kWgmmaTileK) +
           " in dynamic shared memory by cp.async" +
           (spec.aInF32 ? " (B; A through registers)" : "") +
           ", wgmma.mma_async m64n128k16 from shared memory";
  else if (tensorCores)
    out += ", " + str(tiling.stages) + " stages of K by cp.async" +
           (spec.aInF32 ? " (B; A through registers)" : "") +
           ", mma.sync m16n8k16";
  else if (spec.input == GpuGemmInput::TF32)
    out += ", mma.sync m16n8k8 tf32";
  else
    out += ", f32 FMA";
  const char *activation =
      spec.activation == GpuActivation::Relu       ? "relu"
      : spec.activation == GpuActivation::GeluTanh ? "gelu (tanh)"
      : spec.activation == GpuActivation::GeluErf  ? "gelu (erf)"
                                                   : "";
  out += "; epilogue: bias";
  if (*activation)
    out += std::string(", ") + activation;
  if (spec.residual)
    out += ", residual";
  if (spec.cInInputType)
    out += std::string("; C in ") + inputName(spec.input);
  return out;
}

std::string describeGpuKernel(const GpuLayerNormSpec &spec) {
  return std::string(spec.residual ? "residual + layer_norm f32"
                                   : "layer_norm f32") +
         ": " + str(spec.rows) + " rows of " + str(spec.dim) +
         ", a warp a row" +
         (spec.dim % 128 == 0 && spec.dim <= kLayerNormRegisterRow
              ? " held in registers"
              : "") +
         (spec.yType != GpuGemmInput::F32
              ? std::string("; y in ") + inputName(spec.yType)
              : "") +
         (spec.sumOutput ? "; the sum written too" : "");
}

std::string describeGpuKernel(const GpuAttentionSpec &spec) {
  std::string out = std::string("flash attention ") + inputName(spec.input) +
                    ": B " + str(spec.batch) + ", H " + str(spec.heads) +
                    ", L " + str(spec.seqLen);
  if (spec.keyLen)
    out += " (queries) x " + str(spec.keyLen) + " (keys)";
  out += ", d " + str(spec.headDim);
  if (spec.causal)
    out += ", causal";
  if (spec.keyPadding)
    out += ", key padding";
  if (spec.blockSparse) {
    out += ", block-sparse";
    if (!spec.tileIndices.empty()) {
      int64_t queryTiles = (spec.seqLen + kAttnTile - 1) / kAttnTile;
      int64_t keyTiles = (spec.keyLength() + kAttnTile - 1) / kAttnTile;
      out += " (" + str(int64_t(spec.tileIndices.size())) + " of " +
             str(spec.layoutGroups * queryTiles * keyTiles) + " tiles";
      if (spec.layoutGroups > 1)
        out += " in " + str(spec.layoutGroups) + " head groups";
      if (!spec.tileMasks.empty()) {
        int64_t partial = 0;
        for (int32_t index : spec.tileMaskIndex)
          partial += index >= 0;
        out +=
            ", " + str(partial) + " partly allowed, " +
            str(int64_t(spec.tileMasks.size()) / kGpuAttentionTileMaskWords) +
            " distinct masks";
      }
      out += ")";
    }
  }
  if (spec.queryTile != kAttnTile)
    out += "; " + str(spec.queryTile) + " query rows a block (" +
           str(spec.queryTile / 4) + " a warp" +
           (spec.headDim > 96 ? ", Q read from shared memory" : "") + ")";
  out += !spec.modelLayout ? "; K and V by cp.async"
         : spec.rowsInInputType
             ? std::string("; Q, K, V ") + inputName(spec.input) +
                   " in the model's layout, by cp.async"
             : "; Q, K, V f32 in the model's layout, "
               "rounded while staged";
  return out;
}

bool gpuKernelSource(const GpuKernelSet &set, std::string &source,
                     std::vector<GpuKernelLaunch> &launches,
                     std::string &error) {
  if (set.gemms.empty() && set.layerNorms.empty() && set.attentions.empty()) {
    error = "the GPU kernel set '" + set.moduleName + "' has no kernels";
    return false;
  }
  std::set<std::string> names{kGeluFunction, kGeluErfFunction};
  std::vector<std::string> all{set.moduleName};
  for (const GpuGemmSpec &gemm : set.gemms)
    all.push_back(gemm.name);
  for (const GpuLayerNormSpec &norm : set.layerNorms)
    all.push_back(norm.name);
  for (const GpuAttentionSpec &attention : set.attentions)
    all.push_back(attention.name);
  for (size_t i = 0; i < all.size(); ++i) {
    if (!isIdentifier(all[i])) {
      error = "'" + all[i] + "' is not a valid GPU " +
              (i ? "kernel" : "module") +
              " name (letters, digits and '_', not starting with a digit)";
      return false;
    }
    if (i && !names.insert(all[i]).second) {
      error = "the GPU kernel name '" + all[i] + "' is used twice" +
              (all[i] == kGeluFunction ? " (xfc's GELU device function has it)"
                                       : "");
      return false;
    }
  }
  for (const GpuGemmSpec &gemm : set.gemms)
    if (!checkGemm(gemm, error))
      return false;
  for (const GpuLayerNormSpec &norm : set.layerNorms) {
    std::string what = "LayerNorm '" + norm.name +
                       "' (rows = " + str(norm.rows) +
                       ", D = " + str(norm.dim) + ")";
    if (norm.rows <= 0 || norm.dim <= 0 || !(norm.epsilon > 0.0f)) {
      error = what + ": rows, D and epsilon must be positive";
      return false;
    }
    if (norm.sumOutput && !norm.residual) {
      error = what + ": the sum it writes is input + residual; without a "
                     "residual there is none";
      return false;
    }
    if (norm.yType == GpuGemmInput::TF32) {
      error = what + ": y is f32, f16 or bf16";
      return false;
    }
  }
  for (const GpuAttentionSpec &attention : set.attentions)
    if (!checkAttention(attention, error))
      return false;

  bool gelu = false, geluErf = false;
  for (const GpuGemmSpec &gemm : set.gemms) {
    gelu |= gemm.activation == GpuActivation::GeluTanh;
    geluErf |= gemm.activation == GpuActivation::GeluErf;
  }
  source = "module attributes {gpu.container_module} {\n  gpu.module @" +
           set.moduleName + " {\n";
  if (gelu)
    source += geluFunctionText();
  if (geluErf)
    source += geluErfFunctionText();
  launches.clear();
  for (const GpuGemmSpec &gemm : set.gemms) {
    GpuKernelLaunch launch;
    launch.kernel = gemm.name;
    source += gemm.input == GpuGemmInput::F32    ? gemmF32Text(gemm, launch)
              : gemm.input == GpuGemmInput::TF32 ? gemmTf32Text(gemm, launch)
              : isWgmmaTile(gemm.tile)           ? gemmWgmmaText(gemm, launch)
                                                 : gemmMmaText(gemm, launch);
    launches.push_back(std::move(launch));
  }
  for (const GpuLayerNormSpec &norm : set.layerNorms) {
    GpuKernelLaunch launch;
    launch.kernel = norm.name;
    source += layerNormText(norm, launch);
    launches.push_back(std::move(launch));
  }
  for (GpuAttentionSpec attention : set.attentions) {
    if (!attention.scale)
      attention.scale = float(1.0 / std::sqrt(double(attention.headDim)));
    GpuKernelLaunch launch;
    launch.kernel = attention.name;
    source += attentionText(attention, launch);
    launches.push_back(std::move(launch));
  }
  source += "  }\n}\n";
  return true;
}

bool buildGpuKernels(mlir::ModuleOp module, const GpuKernelSet &set,
                     std::vector<GpuKernelLaunch> &launches,
                     std::string &error) {
  std::string source;
  if (!gpuKernelSource(set, source, launches, error))
    return false;
  mlir::MLIRContext *context = module.getContext();
  std::string diagnostics;
  llvm::raw_string_ostream diagnosticStream(diagnostics);
  mlir::ScopedDiagnosticHandler handler(context, [&](mlir::Diagnostic &d) {
    diagnosticStream << d.getLocation() << ": " << d << "\n";
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> parsed =
      mlir::parseSourceString<mlir::ModuleOp>(source, context,
                                              "xfc-gpu-kernels");
  if (!parsed) {
    error = "the generated GPU kernels of '" + set.moduleName +
            "' do not parse: " + diagnostics;
    return false;
  }
  module->setAttr(mlir::gpu::GPUDialect::getContainerModuleAttrName(),
                  mlir::UnitAttr::get(context));
  mlir::Block *body = module.getBody();
  for (mlir::Operation &op : llvm::make_early_inc_range(*parsed->getBody()))
    op.moveBefore(body, body->end());
  return true;
}

} // namespace xfc
