//===- GpuKernels.h - Device kernels for NVIDIA GPUs -------------*- C++
//-*-===//
//
// Part of xfc. Generates the first device kernels of the GPU backend as
// `gpu.func ... kernel`s in a `gpu.module`, for static shapes:
//
//   - a GEMM with a fused epilogue, C = act(A * B + bias) (+ residual), on
//     tensor cores (mma.sync m16n8k16, f16 or bf16 in, f32 accumulate) or
//     with plain f32 FMAs;
//   - residual + LayerNorm, y = LN(x + r) * gamma + beta, one warp per row;
//   - fused attention, O = softmax(Q K^T * scale + mask) V, in the
//     FlashAttention-2 structure (online softmax over key tiles), with
//     causal, key padding and block-sparse masks (with bit masks inside
//     the tiles a sparsity pattern only partly allows).
//
// Each kernel comes with its launch contract (grid, block, shared memory,
// arguments) so that a host can launch it through the CUDA driver.
// docs/gpu.md ("In place") describes the kernels.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_COMPILER_GPUKERNELS_H
#define XFC_COMPILER_GPUKERNELS_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace xfc {

/// The element type of a GEMM's A and B operands.
enum class GpuGemmInput {
  F32,  ///< f32 FMAs, no tensor cores (and no TF32).
  F16,  ///< Tensor cores, f32 accumulation.
  BF16, ///< Tensor cores, f32 accumulation.
  /// f32 in memory on tensor cores (mma.sync m16n8k8 .tf32): A and B are
  /// rounded to TF32 (10 mantissa bits, cvt.rna) as they are staged, f32
  /// accumulation. GEMMs only (--allow-tf32).
  TF32,
};

/// The activation a GEMM's epilogue applies after the bias.
enum class GpuActivation {
  None,
  Relu,
  /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the tanh
  /// approximation of GELU, computed as x / (1 + 2^(-2 log2(e) u)) with
  /// PTX's ex2.approx.f32.
  GeluTanh,
  /// 0.5 x (1 + erf(x / sqrt(2))), the exact GELU (BERT's), with math.erf
  /// (libdevice's erff).
  GeluErf,
};

/// The block tile of a tensor-core GEMM (f16 or bf16 input).
enum class GpuGemmTile {
  /// 64x64 of C a block, 4 warps of 32x32, 3 stages of K in shared
  /// memory: many blocks for the GEMMs of short sequences.
  Small,
  /// 128x128 of C a block, 8 warps of 64x32, 2 stages: twice the
  /// multiply-adds per byte staged, for GEMMs with blocks to spare. N must
  /// be a multiple of 128.
  Large,
  /// sm_90a only: warpgroup MMA (wgmma.mma_async m64n128k16), its A and B
  /// read by the tensor cores straight from shared memory, 4 stages of K
  /// by 64 in dynamic shared memory. 64x128 of C a block, one warpgroup
  /// (4 warps); N a multiple of 128, K of 64.
  Wgmma64x128,
  /// sm_90a only: as Wgmma64x128 with two warpgroups, 128x128 of C a
  /// block (128 KiB of shared memory), for GEMMs with blocks to spare.
  Wgmma128x128,
};

/// Whether `tile` is a warpgroup MMA tile, which only sm_90a runs.
inline bool isWgmmaTile(GpuGemmTile tile) {
  return tile == GpuGemmTile::Wgmma64x128 || tile == GpuGemmTile::Wgmma128x128;
}

/// C[M,N] = act(A[M,K] * B[K,N] + bias[N]) (+ residual[M,N]).
/// A and B are row-major in the input type (f32 for TF32); bias, residual
/// and C are f32.
/// The residual is added after the activation.
struct GpuGemmSpec {
  std::string name; ///< The kernel's symbol.
  int64_t m = 0, n = 0, k = 0;
  GpuGemmInput input = GpuGemmInput::F16;
  GpuActivation activation = GpuActivation::None;
  bool residual = false;
  /// Tensor cores only: A is f32, rounded to the input type (to nearest,
  /// ties to even) as it is staged in shared memory; B stays in the input
  /// type. A model compiled with --dtype=f16 or bf16 keeps its activations
  /// in f32 and its weights in the half type, so each GEMM reads both
  /// straight from where they are, with no conversion kernel between.
  bool aInF32 = false;
  /// Tensor cores only: C in the input type, rounded (to nearest, ties to
  /// even) once the epilogue is applied in f32. For a GEMM whose only
  /// reader rounds its output to the input type anyway (the QKV
  /// projection before the flash attention kernel): the same numbers,
  /// half the bytes written and read.
  bool cInInputType = false;
  /// f16 and bf16 only; the f32 and TF32 GEMMs tile 64x64.
  GpuGemmTile tile = GpuGemmTile::Small;
};

/// The tile a tensor-core GEMM of `m` x `n` runs best with, as far as its
/// shape tells: Large when N allows it and its 128x128 tiles still give
/// at least 128 blocks (about one per multiprocessor of an A100 or H100),
/// else Small. Inline: xfc-gpu-bench-run, which links no compiler, picks
/// its cases' tiles the same way.
inline GpuGemmTile preferredGemmTile(int64_t m, int64_t n) {
  constexpr int64_t tile = 128, enoughBlocks = 128;
  if (n % tile != 0)
    return GpuGemmTile::Small;
  int64_t blocks = (m + tile - 1) / tile * (n / tile);
  return blocks >= enoughBlocks ? GpuGemmTile::Large : GpuGemmTile::Small;
}

/// The warpgroup MMA tile (sm_90a) for a tensor-core GEMM of `m` x `n` x
/// `k`: Wgmma128x128 when its blocks still number at least 132 (an H100
/// SXM's multiprocessors), else Wgmma64x128; none when N is not a multiple
/// of 128 or K of 64 (the mma.sync tiles take those).
inline std::optional<GpuGemmTile> preferredWgmmaTile(int64_t m, int64_t n,
                                                     int64_t k) {
  constexpr int64_t tileN = 128, tileK = 64, multiprocessors = 132;
  if (n % tileN != 0 || k % tileK != 0)
    return std::nullopt;
  int64_t blocks = (m + 127) / 128 * (n / tileN);
  return blocks >= multiprocessors ? GpuGemmTile::Wgmma128x128
                                   : GpuGemmTile::Wgmma64x128;
}

/// y[R,D] = (s - mean(s)) / sqrt(var(s) + epsilon) * gamma[D] + beta[D]
/// with s = x + r, over the last dimension, all f32. The variance is the
/// biased one (divided by D), as in PyTorch's LayerNorm. The arguments are
/// (x, [r], gamma, beta, y, [s]).
struct GpuLayerNormSpec {
  std::string name; ///< The kernel's symbol.
  int64_t rows = 0, dim = 0;
  float epsilon = 1e-5f;
  /// False: no r, s = x (a plain LayerNorm, such as a pre-LN stack's
  /// first).
  bool residual = true;
  /// With the residual: s itself is written too, to an argument after y
  /// (the residual stream of a pre-LN stack, which goes on past the norm).
  bool sumOutput = false;
  /// y's element type: F32, or F16 or BF16 (rounded to nearest even),
  /// for a y that only tensor-core GEMMs read as their A and would round
  /// so anyway (a pre-LN stack's norms).
  GpuGemmInput yType = GpuGemmInput::F32;
};

/// The query and key tile of the attention kernel: keys are visited 64 at
/// a time, and a block computes 64 query rows (or 128,
/// GpuAttentionSpec::queryTile). A block-sparse layout is a matrix of
/// these 64 x 64 tiles.
constexpr int64_t kGpuAttentionTile = 64;
/// The 32-bit words of one tile mask (GpuAttentionSpec::tileMasks): a bit
/// per query row and key of a 64 x 64 tile.
constexpr int64_t kGpuAttentionTileMaskWords =
    kGpuAttentionTile * kGpuAttentionTile / 32;

/// O[b,h] = softmax(Q[b,h] K[b,h]^T * scale + M) V[b,h] for every batch
/// item b and head h, with Q, K, V and O row-major [batch, heads, seqLen,
/// headDim], with the online softmax of docs/compiler.md ("Fused
/// attention"). The mask M is 0 or -inf: key j of query i is
/// allowed when j < seqLen, and j <= i when causal, and j < lengths[b] with
/// key padding, and, with a block-sparse layout, when key tile j / 64 is
/// listed for query tile i / 64 (and that entry's tile mask, if any, allows
/// it). A row with no allowed key is 0.
struct GpuAttentionSpec {
  std::string name; ///< The kernel's symbol.
  /// seqLen is the number of queries (rows of Q and O).
  int64_t batch = 1, heads = 1, seqLen = 0;
  /// The number of keys (rows of K and V) when it differs from seqLen:
  /// cross-attention, whose queries come from the decoder and keys from
  /// the encoder. 0: as many keys as queries. The causal mask is j <= i
  /// from the first query and key on, as xf.attention's.
  int64_t keyLen = 0;
  int64_t keyLength() const { return keyLen > 0 ? keyLen : seqLen; }
  /// A multiple of 16 from 16 to 128 (64 and 128 are the common ones).
  int64_t headDim = 64;
  /// Q, K and V: f16 or bf16 (tensor cores, f32 accumulation).
  GpuGemmInput input = GpuGemmInput::F16;
  /// O in the input type rather than f32.
  bool outputInInputType = false;
  /// The factor of Q K^T; 1 / sqrt(headDim) when not given.
  std::optional<float> scale;
  bool causal = false;
  /// An i32 argument `lengths` [batch]: keys j >= lengths[b] are masked
  /// (a length past the keys counts as all of them, a negative one as 0).
  bool keyPadding = false;
  /// Two i32 arguments, in CSR form over the 64 x 64 tiles: `tileOffsets`
  /// [ceil(seqLen / 64) + 1] and `tileIndices` [blockSparseEntries]; query
  /// tile q visits the key tiles tileIndices[tileOffsets[q] ..
  /// tileOffsets[q + 1]) in that order. Entries outside [0, ceil(keys /
  /// 64)), or wholly past the batch item's key length, are skipped; the
  /// causal mask applies inside the listed tiles (a listed tile above the
  /// diagonal is visited and fully masked, so a layout should leave those
  /// out). The layout is the same for every batch item and, unless
  /// layoutGroups > 1, every head.
  bool blockSparse = false;
  /// Head groups with layouts of their own: G groups split the heads
  /// evenly (group g has heads [g H/G, (g+1) H/G), as an attention
  /// pattern's), and `tileOffsets` has G ceil(seqLen / 64) + 1 entries,
  /// group g's query tile q at row g ceil(seqLen / 64) + q; all groups'
  /// entries in one `tileIndices`.
  int64_t layoutGroups = 1;
  int64_t blockSparseEntries = 0;
  /// A block-sparse layout known at compile time: the CSR arrays above,
  /// compiled into the kernel's module as constants instead of the two
  /// arguments (blockSparse set, blockSparseEntries = tileIndices.size()).
  std::vector<int32_t> tileOffsets, tileIndices;
  /// With a compiled layout, the keys allowed inside tiles that are only
  /// partly allowed (a sliding window's edge, a block of 16 of BigBird):
  /// tileMaskIndex[e], one per entry of tileIndices, is -1 for a tile
  /// wholly allowed (besides causality and key padding), else the mask m
  /// whose bit c of tileMasks[128 m + 2 r + w] (as a uint32) allows key
  /// 32 w + c of the tile to row r of it. Entries whose tiles have the
  /// same bits share a mask. Empty: every listed tile is whole.
  std::vector<int32_t> tileMaskIndex, tileMasks;
  /// Q, K and V in f32 in the model's layout, instead of the input type in
  /// [B, H, L, d]: Q is an f32 [batch, seqLen, rowWidth] buffer and K and
  /// V f32 [batch, keys, keyValueRowWidth] ones, in which head h's columns
  /// start at columnOffsets[i] + h * headDim (i: Q, K, V). So the three
  /// may be one fused QKV projection's output, passed three times, or K
  /// and V one fused KV projection's (cross-attention). The kernel rounds
  /// them to the input type as it stages them. O is then f32 [batch,
  /// seqLen, heads * headDim], heads side by side, as xf.attention's
  /// result. A model compiled with --dtype=f16 or bf16 runs its attention
  /// so, with no transposes or conversions around.
  bool modelLayout = false;
  /// In the model layout, Q, K and V rows in the input type rather than
  /// f32 (GpuGemmSpec::cInInputType wrote them): staged by cp.async as
  /// the [B, H, L, d] layout is, nothing left to round.
  bool rowsInInputType = false;
  int64_t rowWidth = 0;
  /// K's and V's row width; 0: rowWidth.
  int64_t keyValueRowWidth = 0;
  int64_t keyValueWidth() const {
    return keyValueRowWidth > 0 ? keyValueRowWidth : rowWidth;
  }
  int64_t columnOffsets[3] = {0, 0, 0};
  /// The query rows of a block: 64 (each of its 4 warps takes one m16
  /// tile of 16 rows) or 128 (two m16 tiles a warp, rows 16 w .. 16 w + 15
  /// and 64 + 16 w .. 64 + 16 w + 15, so each K and V fragment read from
  /// shared memory feeds two MMAs: half the shared-memory traffic a FLOP,
  /// and half the blocks). 128 is dense attention's only: a block-sparse
  /// layout's tiles are 64 x 64.
  int64_t queryTile = kGpuAttentionTile;
};

/// The query tile (GpuAttentionSpec::queryTile) attention over `queries`
/// queries of `heads` heads of `headDim` and `batch` items runs best with,
/// as far as its shape tells: 128 when its blocks still number at least
/// 132 (an H100 SXM's multiprocessors) and the head dim is at most 64,
/// else 64, and 64 for a block-sparse layout. Past d = 64 the 128-row
/// kernel keeps Q in shared memory and, causal, spills a little at 255
/// registers, so it is there for measuring, not the default. Inline:
/// xfc-gpu-bench-run, which links no compiler, picks its cases' tiles the
/// same way.
inline int64_t preferredAttentionQueryTile(int64_t batch, int64_t heads,
                                           int64_t queries, int64_t headDim,
                                           bool blockSparse) {
  constexpr int64_t large = 2 * kGpuAttentionTile, multiprocessors = 132;
  if (blockSparse || headDim > 64)
    return kGpuAttentionTile;
  int64_t blocks = (queries + large - 1) / large * heads * batch;
  return blocks >= multiprocessors ? large : kGpuAttentionTile;
}

/// One line on what a kernel computes and how (shape, element types,
/// tile, pipeline, masks), for `xfc compile --explain`.
std::string describeGpuKernel(const GpuGemmSpec &spec);
std::string describeGpuKernel(const GpuLayerNormSpec &spec);
std::string describeGpuKernel(const GpuAttentionSpec &spec);

/// One kernel argument as the gpu.func declares it.
struct GpuKernelArgument {
  std::string name; ///< e.g. "A".
  std::string type; ///< The MLIR type, e.g. "memref<128x768xf16>".
};

/// How the host launches a kernel. Every memref argument is one kernel
/// parameter, the buffer's address (emitPtx lowers with bare pointers, the
/// launch ABI of xf-gpu-launch-to-runtime); the shapes are static and the
/// layout the identity (row-major, contiguous).
struct GpuKernelLaunch {
  std::string kernel;                       ///< The gpu.func's symbol.
  int64_t grid[3] = {1, 1, 1};              ///< Blocks in x, y, z.
  int64_t block[3] = {1, 1, 1};             ///< Threads in x, y, z.
  int64_t staticSharedBytes = 0;            ///< Declared by the kernel.
  int64_t dynamicSharedBytes = 0;           ///< To pass to cuLaunchKernel.
  std::vector<GpuKernelArgument> arguments; ///< In parameter order.
};

/// The kernels of one gpu.module.
struct GpuKernelSet {
  std::string moduleName = "kernels"; ///< The gpu.module's symbol.
  std::vector<GpuGemmSpec> gemms;
  std::vector<GpuLayerNormSpec> layerNorms;
  std::vector<GpuAttentionSpec> attentions;
};

/// The MLIR text of `set` as a module holding one gpu.module, and each
/// kernel's launch contract (GEMMs first, then LayerNorms, then attentions,
/// in the order of `set`). False with `error` when a shape or name is not
/// supported.
bool gpuKernelSource(const GpuKernelSet &set, std::string &source,
                     std::vector<GpuKernelLaunch> &launches,
                     std::string &error);

/// Adds the gpu.module of `set` to `module` (and marks it
/// gpu.container_module), with each kernel's launch contract. The context
/// of `module` must have the gpu, nvgpu, nvvm, llvm, arith, vector,
/// memref, scf and func dialects registered (registerXFCDialects does).
/// False with `error` when a shape or name is not supported.
bool buildGpuKernels(mlir::ModuleOp module, const GpuKernelSet &set,
                     std::vector<GpuKernelLaunch> &launches,
                     std::string &error);

} // namespace xfc

#endif // XFC_COMPILER_GPUKERNELS_H
