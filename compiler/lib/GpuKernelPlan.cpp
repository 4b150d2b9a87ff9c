//===- GpuKernelPlan.cpp - The fusion plan's kernels as tuned kernels -----===//
//
// Part of xfc. See GpuCodegen.h (outlineTunedKernels, launchTunedKernels).
// A kernel of the fusion plan that a tuned device kernel of GpuKernels.h
// computes is taken out of the generic mapping in two steps:
//
//   1. on xf ops (after the model stage), the op moves into a private
//      function of its own, called where it was. Bufferization then gives
//      the call identity-layout buffers, the result an out-parameter that
//      xf-plan-memory places in the arena, like any other buffer;
//   2. after bufferization, each call becomes a gpu.launch_func of the
//      tuned kernel (its launch contract: grid, block, arguments), and the
//      private function goes. What is left is mapped generically.
//
// Moving the op into a function, rather than matching the loops it lowers
// to, keeps the kernel's operands explicit (which buffer is the weight,
// the bias, the residual) whatever bufferization does around it.
//
// With --dtype=f16 or bf16:
//   - a weight that only tuned GEMMs read becomes an argument of the half
//     type before step 1: the artifact then stores it so (half the bytes,
//     uploaded once), and those GEMMs run on tensor cores, rounding their
//     f32 activations to the half type as they stage them. The private
//     function widens the weight back to f32 for its xf.linear, so it
//     means what the kernel computes up to that rounding;
//   - attention (xf.attention, self- or cross-, head dim a multiple of 16
//     up to 128; a sparsity pattern only when the kernel's 64 x 64 tiles
//     can carry it, its layout then compiled into the kernel) runs on the
//     flash attention kernel, which reads Q, K and V in f32 where the
//     model has them (the fused QKV projection's output, or the fused KV
//     projection's of cross-attention, split inside the private function)
//     and rounds them as it stages them.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/GpuCodegen.h"
#include "xfc/Compiler/GpuKernels.h"

#include "xf/Analysis/AttentionPattern.h"
#include "xf/Dialect/XF/XFOps.h"
#include "xfc/Frontend/ModelBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"

#include <map>
#include <vector>

namespace xfc {

namespace {

constexpr llvm::StringLiteral kTunedAttr = "xf.gpu_tuned";

/// The GEMMs' shape rules (GpuKernels.h): N a multiple of 64, K of 16 for
/// the f32 kernel and of 32 for the tensor-core one.
constexpr int64_t kGemmTileN = 64, kGemmTileKF32 = 16, kGemmTileKHalf = 32;

int64_t rowsOf(mlir::RankedTensorType type) {
  return type.getNumElements() / type.getShape().back();
}

/// Whether a tuned GEMM with K steps of `tileK` computes `linear`: a
/// static [K, N] weight with a bias, N and K in whole tiles.
bool fitsTunedGemm(mlir::xf::LinearOp linear, int64_t tileK) {
  auto input =
      llvm::dyn_cast<mlir::RankedTensorType>(linear.getInput().getType());
  auto result = llvm::dyn_cast<mlir::RankedTensorType>(linear.getType());
  if (!input || !result || !input.hasStaticShape() ||
      !result.hasStaticShape() || !linear.getTransposeWeight() ||
      linear.getWeightPanel() || !linear.getBias())
    return false;
  return result.getShape().back() % kGemmTileN == 0 &&
         input.getShape().back() % tileK == 0;
}

/// The half type's name in the tuned kernels' attribute.
llvm::StringRef halfTypeName(mlir::Type type) {
  return type.isBF16() ? "bf16" : "f16";
}

/// The flash attention kernel's head dims: multiples of 16 up to 128.
constexpr int64_t kAttentionMaxHeadDim = 128;

/// At most this many distinct tile masks go into a kernel (64 KiB of
/// constants): a pattern whose tiles differ more (random blocks of 16,
/// say) stays on the generic kernels. A window's masks repeat along the
/// diagonals, so it needs a few.
constexpr size_t kMaxTileMasks = 128;

/// The flash attention kernel's block-sparse form for `pattern` over
/// `queries` queries and `keys` keys of `heads` heads: its CSR form over
/// 64 x 64 tiles, a block of rows per head group (one per query tile;
/// GpuAttentionSpec::layoutGroups), and, for the tiles only partly
/// allowed, their masks (GpuAttentionSpec::tileMasks), as the attribute's
/// four i32 arrays (offsets, indices, mask per entry, masks). Null when
/// the pattern is an approximation rather than a mask, allows nothing or
/// needs more than kMaxTileMasks distinct masks. Tiles wholly above the
/// diagonal are left out for causal attention.
mlir::ArrayAttr tileLayoutOf(mlir::xf::AttentionPatternAttr pattern,
                             int64_t queries, int64_t keys, int64_t heads,
                             bool causal) {
  mlir::xf::PatternGroups groups = pattern.getGroups();
  if (groups.empty() || mlir::xf::approximationOf(groups) ||
      heads % int64_t(groups.size()) != 0)
    return nullptr;
  const int64_t tile = kGpuAttentionTile;
  const int64_t queryTiles = (queries + tile - 1) / tile,
                keyTiles = (keys + tile - 1) / tile;
  llvm::SmallVector<int32_t> offsets{0}, indices, maskIndex, masks;
  std::map<std::vector<int32_t>, int32_t> maskIds;
  for (const std::vector<mlir::xf::PatternPart> &group : groups) {
    mlir::xf::AttentionPattern mask(group, queries, keys);
    if (!mask.error().empty())
      return nullptr;
    for (int64_t qb = 0; qb < queryTiles; ++qb) {
      for (int64_t kb = 0; kb < keyTiles && (!causal || kb <= qb); ++kb) {
        // The tile's existing rows and keys: the kernel masks those past
        // the ends.
        int64_t i0 = qb * tile, i1 = std::min(queries, i0 + tile);
        int64_t j0 = kb * tile, j1 = std::min(keys, j0 + tile);
        mlir::xf::BlockKind kind = mask.classifyTile(i0, i1, j0, j1);
        if (kind == mlir::xf::BlockKind::Empty)
          continue;
        if (kind == mlir::xf::BlockKind::Full) {
          indices.push_back(int32_t(kb));
          maskIndex.push_back(-1);
          continue;
        }
        // A partial tile: its bits, row by row (where the closed form could
        // not tell, they may turn out all refused or all allowed).
        std::vector<int32_t> words(kGpuAttentionTileMaskWords, 0);
        int64_t allowed = 0;
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j)
            if (mask.allows(i, j)) {
              ++allowed;
              int64_t r = i - i0, c = j - j0;
              words[2 * r + c / 32] = int32_t(uint32_t(words[2 * r + c / 32]) |
                                              uint32_t(1) << (c % 32));
            }
        if (allowed == 0)
          continue;
        indices.push_back(int32_t(kb));
        if (allowed == (i1 - i0) * (j1 - j0)) {
          maskIndex.push_back(-1);
          continue;
        }
        auto [it, inserted] =
            maskIds.try_emplace(words, int32_t(maskIds.size()));
        if (inserted) {
          if (maskIds.size() > kMaxTileMasks)
            return nullptr;
          masks.append(words.begin(), words.end());
        }
        maskIndex.push_back(it->second);
      }
      offsets.push_back(int32_t(indices.size()));
    }
  }
  if (indices.empty())
    return nullptr;
  if (masks.empty())
    maskIndex.clear();
  mlir::Builder b(pattern.getContext());
  return b.getArrayAttr(
      {b.getDenseI32ArrayAttr(offsets), b.getDenseI32ArrayAttr(indices),
       b.getDenseI32ArrayAttr(maskIndex), b.getDenseI32ArrayAttr(masks)});
}

/// When `q`, `k` and `v` are the three equal parts of one xf.split (the
/// fused QKV projection), that split; else null. The attention kernel
/// then reads them from the split's input, in place.
mlir::xf::SplitOp fusedQkvSplit(mlir::Value q, mlir::Value k, mlir::Value v) {
  auto split = q.getDefiningOp<mlir::xf::SplitOp>();
  if (!split || split->getNumResults() != 3 || split->getResult(0) != q ||
      split->getResult(1) != k || split->getResult(2) != v)
    return nullptr;
  return split;
}

/// When `k` and `v` are the two equal parts of one xf.split (the fused KV
/// projection of cross-attention, over the encoder's output), that split;
/// else null. The attention kernel then reads them from its input.
mlir::xf::SplitOp fusedKvSplit(mlir::Value k, mlir::Value v) {
  auto split = k.getDefiningOp<mlir::xf::SplitOp>();
  if (!split || split->getNumResults() != 2 || split->getResult(0) != k ||
      split->getResult(1) != v)
    return nullptr;
  return split;
}

/// How an attention's Q, K and V reach the kernel: as three buffers, as
/// one fused QKV projection, or as Q and one fused KV projection.
enum class AttentionInputs { Separate, FusedQkv, FusedKv };

/// The split the kernel reads through for `attention`, and which.
std::pair<mlir::xf::SplitOp, AttentionInputs>
attentionInputsOf(mlir::xf::AttentionOp attention) {
  if (mlir::xf::SplitOp split = fusedQkvSplit(
          attention.getQuery(), attention.getKey(), attention.getValue()))
    return {split, AttentionInputs::FusedQkv};
  if (mlir::xf::SplitOp split =
          fusedKvSplit(attention.getKey(), attention.getValue()))
    return {split, AttentionInputs::FusedKv};
  return {nullptr, AttentionInputs::Separate};
}

llvm::StringRef nameOf(AttentionInputs inputs) {
  switch (inputs) {
  case AttentionInputs::FusedQkv:
    return "qkv";
  case AttentionInputs::FusedKv:
    return "kv";
  case AttentionInputs::Separate:
    break;
  }
  return "none";
}

/// The tuned kernel that computes `op`, as the attribute recorded on its
/// private function, or null when none fits. A GEMM whose weight is in a
/// half type runs on tensor cores, and so does an f32 GEMM in TF32 when
/// `allowTf32` and K is a multiple of 32; with `dtype` f16 or bf16,
/// attention (self- or cross-) runs on the flash attention kernel (with a
/// sparsity pattern when tileLayoutOf gives its layout).
mlir::DictionaryAttr tunedKernelFor(mlir::Operation *op, GpuGemmInput dtype,
                                    bool allowTf32) {
  mlir::Builder b(op->getContext());
  if (auto attention = llvm::dyn_cast<mlir::xf::AttentionOp>(op)) {
    if (dtype == GpuGemmInput::F32)
      return nullptr;
    // Q and O [B, Lq, H d]; K and V [B, Lk, H d] (the same head dim).
    auto q =
        llvm::dyn_cast<mlir::RankedTensorType>(attention.getQuery().getType());
    auto k =
        llvm::dyn_cast<mlir::RankedTensorType>(attention.getKey().getType());
    if (!q || !q.hasStaticShape() || q.getRank() != 3 || !k ||
        !k.hasStaticShape() || k.getRank() != 3 ||
        k.getShape()[0] != q.getShape()[0] ||
        k.getShape()[2] != q.getShape()[2] ||
        attention.getValue().getType() != k || attention.getType() != q)
      return nullptr;
    int64_t queries = q.getShape()[1], keys = k.getShape()[1];
    int64_t heads = attention.getNumHeads(), width = q.getShape()[2];
    int64_t headDim = width / heads;
    if (width % heads != 0 || headDim % 16 != 0 ||
        headDim > kAttentionMaxHeadDim)
      return nullptr;
    // A sparsity pattern runs as the kernel's block-sparse form, with
    // masks inside the tiles it cuts through.
    mlir::ArrayAttr layout;
    if (mlir::xf::AttentionPatternAttr pattern = attention.getPatternAttr()) {
      layout =
          tileLayoutOf(pattern, queries, keys, heads, attention.getCausal());
      if (!layout)
        return nullptr;
    }
    llvm::SmallVector<mlir::NamedAttribute> fields{
        b.getNamedAttr("kind", b.getStringAttr("attention")),
        b.getNamedAttr(
            "input",
            b.getStringAttr(dtype == GpuGemmInput::BF16 ? "bf16" : "f16")),
        b.getNamedAttr("batch", b.getI64IntegerAttr(q.getShape()[0])),
        b.getNamedAttr("seq_len", b.getI64IntegerAttr(queries)),
        b.getNamedAttr("key_len", b.getI64IntegerAttr(keys)),
        b.getNamedAttr("heads", b.getI64IntegerAttr(heads)),
        b.getNamedAttr("head_dim", b.getI64IntegerAttr(headDim)),
        b.getNamedAttr("scale", attention.getScaleAttr()),
        b.getNamedAttr("causal", b.getBoolAttr(attention.getCausal())),
        b.getNamedAttr("key_padding",
                       b.getBoolAttr(bool(attention.getKeyLengths()))),
        b.getNamedAttr("fused", b.getStringAttr(nameOf(
                                    attentionInputsOf(attention).second)))};
    if (layout) {
      fields.push_back(b.getNamedAttr("tile_layout", layout));
      fields.push_back(
          b.getNamedAttr("layout_groups",
                         b.getI64IntegerAttr(int64_t(
                             attention.getPatternAttr().getGroups().size()))));
    }
    return b.getDictionaryAttr(fields);
  }
  if (auto linear = llvm::dyn_cast<mlir::xf::LinearOp>(op)) {
    mlir::Type weightElement =
        mlir::getElementTypeOrSelf(linear.getWeight().getType());
    bool half = !weightElement.isF32();
    if (!fitsTunedGemm(linear, half ? kGemmTileKHalf : kGemmTileKF32))
      return nullptr;
    auto input =
        llvm::cast<mlir::RankedTensorType>(linear.getInput().getType());
    int64_t k = input.getShape().back();
    int64_t n =
        llvm::cast<mlir::RankedTensorType>(linear.getType()).getShape().back();
    std::string activation = "none";
    if (auto kind = linear.getActivation()) {
      switch (*kind) {
      case mlir::xf::ActivationKind::relu:
        activation = "relu";
        break;
      case mlir::xf::ActivationKind::gelu:
        activation = "gelu";
        break;
      case mlir::xf::ActivationKind::gelu_tanh:
        activation = "gelu_tanh";
        break;
      }
    }
    return b.getDictionaryAttr(
        {b.getNamedAttr("kind", b.getStringAttr("gemm")),
         b.getNamedAttr("input",
                        b.getStringAttr(half ? halfTypeName(weightElement)
                                        : allowTf32 && k % kGemmTileKHalf == 0
                                            ? "tf32"
                                            : "f32")),
         b.getNamedAttr("m", b.getI64IntegerAttr(rowsOf(input))),
         b.getNamedAttr("n", b.getI64IntegerAttr(n)),
         b.getNamedAttr("k", b.getI64IntegerAttr(k)),
         b.getNamedAttr("activation", b.getStringAttr(activation)),
         b.getNamedAttr("residual",
                        b.getBoolAttr(bool(linear.getResidual())))});
  }
  if (auto norm = llvm::dyn_cast<mlir::xf::LayerNormOp>(op)) {
    auto input =
        llvm::dyn_cast<mlir::RankedTensorType>(norm.getInput().getType());
    // The tuned kernel: LayerNorm, residual + LayerNorm, and that with the
    // sum as a second result (a pre-LN stack's residual stream).
    if (!input || !input.hasStaticShape())
      return nullptr;
    return b.getDictionaryAttr(
        {b.getNamedAttr("kind", b.getStringAttr("layer_norm")),
         b.getNamedAttr("rows", b.getI64IntegerAttr(rowsOf(input))),
         b.getNamedAttr("dim", b.getI64IntegerAttr(input.getShape().back())),
         b.getNamedAttr("epsilon",
                        b.getF64FloatAttr(norm.getEpsilon().convertToDouble())),
         b.getNamedAttr("residual", b.getBoolAttr(bool(norm.getResidual()))),
         b.getNamedAttr("sum", b.getBoolAttr(bool(norm.getSum())))});
  }
  return nullptr;
}

int64_t intOf(mlir::DictionaryAttr attr, llvm::StringRef name) {
  return llvm::cast<mlir::IntegerAttr>(attr.get(name)).getInt();
}

/// Gives the weights of `model` that only tensor-core GEMMs read the type
/// `half`: each use must be the weight operand of an xf.linear that fits
/// the tensor-core kernel. (A weight read elsewhere too, such as a tied
/// embedding, stays f32, and so do the GEMMs that read it.)
void narrowGemmWeights(mlir::func::FuncOp model, mlir::Type half) {
  bool changed = false;
  for (mlir::BlockArgument arg : model.getArguments()) {
    auto type = llvm::dyn_cast<mlir::RankedTensorType>(arg.getType());
    if (!type || !type.getElementType().isF32() || arg.use_empty() ||
        !model.getArgAttr(arg.getArgNumber(), kWeightAttrName))
      continue;
    bool onlyGemms = llvm::all_of(arg.getUses(), [&](mlir::OpOperand &use) {
      auto linear = llvm::dyn_cast<mlir::xf::LinearOp>(use.getOwner());
      return linear && &use == &linear.getWeightMutable() &&
             fitsTunedGemm(linear, kGemmTileKHalf);
    });
    if (!onlyGemms)
      continue;
    arg.setType(type.clone(half));
    changed = true;
  }
  if (changed)
    model.setType(mlir::FunctionType::get(model.getContext(),
                                          model.getBody().getArgumentTypes(),
                                          model.getResultTypes()));
}

/// `tensor` with its elements converted to `element`: widened (f16 or
/// bf16 to f32, exactly) or narrowed (f32 to the half type, to nearest,
/// ties to even), as one elementwise linalg.generic.
mlir::Value convertElements(mlir::OpBuilder &builder, mlir::Location loc,
                            mlir::Value tensor, mlir::Type element) {
  auto type = llvm::cast<mlir::RankedTensorType>(tensor.getType());
  auto converted = type.clone(element);
  mlir::Value init = mlir::tensor::EmptyOp::create(
      builder, loc, converted.getShape(), element);
  mlir::AffineMap identity = builder.getMultiDimIdentityMap(type.getRank());
  llvm::SmallVector<mlir::utils::IteratorType> iterators(
      type.getRank(), mlir::utils::IteratorType::parallel);
  bool widen = element.getIntOrFloatBitWidth() >
               type.getElementType().getIntOrFloatBitWidth();
  auto convert = mlir::linalg::GenericOp::create(
      builder, loc, converted, mlir::ValueRange{tensor}, mlir::ValueRange{init},
      llvm::ArrayRef<mlir::AffineMap>{identity, identity}, iterators,
      [&](mlir::OpBuilder &b, mlir::Location l, mlir::ValueRange args) {
        mlir::Value x =
            widen ? mlir::Value(
                        mlir::arith::ExtFOp::create(b, l, element, args[0]))
                  : mlir::Value(
                        mlir::arith::TruncFOp::create(b, l, element, args[0]));
        mlir::linalg::YieldOp::create(b, l, x);
      });
  return convert.getResult(0);
}

mlir::Value widenToF32(mlir::OpBuilder &builder, mlir::Location loc,
                       mlir::Value half) {
  return convertElements(builder, loc, half, builder.getF32Type());
}

/// The tuned kernels that may write their (first) output in the half type
/// because its only readers round it so anyway: the same numbers, half
/// the bytes, and the readers copy it by cp.async. Half-type GEMMs
/// (xf.linear, GpuGemmSpec::cInInputType):
///   - With `qkv`: those whose output only a tuned flash attention reads:
///     all the inputs of that attention (its fused QKV projection, or Q's
///     and the fused KV projection, or Q's, K's and V's) come from such
///     GEMMs and go nowhere else. The kernel rounds Q, K and V to the half
///     type as it stages them.
///   - With `ffn`: those whose output one other tuned half GEMM reads, as
///     its A, and nothing else (the FFN's hidden layer, between its two
///     GEMMs). That GEMM rounds its A to the half type as it stages it.
/// And with `norm`, LayerNorms (xf.layer_norm, GpuLayerNormSpec::yType)
/// whose y only tuned half GEMMs read, as their A (a pre-LN stack's norms,
/// before the QKV projection and the FFN).
llvm::DenseSet<mlir::Operation *> halfOutputOps(
    llvm::ArrayRef<std::pair<mlir::Operation *, mlir::DictionaryAttr>> ops,
    bool qkv, bool ffn, bool norm) {
  llvm::DenseMap<mlir::Operation *, mlir::DictionaryAttr> tuned(ops.begin(),
                                                                ops.end());
  auto isHalfGemm = [&](mlir::Value value) {
    auto linear = value.getDefiningOp<mlir::xf::LinearOp>();
    mlir::DictionaryAttr attr = linear ? tuned.lookup(linear) : nullptr;
    if (!attr || attr.getAs<mlir::StringAttr>("kind").getValue() != "gemm")
      return false;
    llvm::StringRef input = attr.getAs<mlir::StringAttr>("input").getValue();
    return input == "f16" || input == "bf16";
  };
  llvm::DenseSet<mlir::Operation *> half;
  for (auto [op, attr] : ops) {
    if (auto layerNorm = llvm::dyn_cast<mlir::xf::LayerNormOp>(op);
        norm && layerNorm) {
      mlir::Value y = layerNorm.getResult();
      bool onlyHalfGemms =
          !y.use_empty() &&
          llvm::all_of(y.getUses(), [&](mlir::OpOperand &use) {
            auto reader = llvm::dyn_cast<mlir::xf::LinearOp>(use.getOwner());
            return reader && use.getOperandNumber() == 0 &&
                   isHalfGemm(reader.getResult());
          });
      if (onlyHalfGemms)
        half.insert(layerNorm);
      continue;
    }
    if (auto linear = llvm::dyn_cast<mlir::xf::LinearOp>(op);
        ffn && linear && isHalfGemm(linear.getResult())) {
      mlir::Value a = linear.getInput();
      if (a.hasOneUse() && isHalfGemm(a))
        half.insert(a.getDefiningOp());
      continue;
    }
    auto attention = llvm::dyn_cast<mlir::xf::AttentionOp>(op);
    if (!attention || !qkv)
      continue;
    auto [split, inputs] = attentionInputsOf(attention);
    llvm::SmallVector<mlir::Value> sources;
    if (inputs == AttentionInputs::FusedQkv)
      sources = {split.getInput()};
    else if (inputs == AttentionInputs::FusedKv)
      sources = {attention.getQuery(), split.getInput()};
    else
      sources = {attention.getQuery(), attention.getKey(),
                 attention.getValue()};
    // The split's parts go to the attention only.
    mlir::Operation *reader = attention;
    bool only = !split || llvm::all_of(split->getResults(), [&](mlir::Value r) {
      return r.hasOneUse() && *r.getUsers().begin() == reader;
    });
    for (mlir::Value source : sources)
      only = only && source.hasOneUse() && isHalfGemm(source);
    if (only)
      for (mlir::Value source : sources)
        half.insert(source.getDefiningOp());
  }
  return half;
}

} // namespace

bool outlineTunedKernels(mlir::ModuleOp module, GpuGemmInput dtype,
                         bool halfQkv, bool halfFfn, bool halfNorm,
                         bool allowTf32, std::string &error) {
  auto model = module.lookupSymbol<mlir::func::FuncOp>("xf_model");
  if (!model) {
    error = "the tuned kernels' outlining found no func.func @xf_model";
    return false;
  }
  if (dtype != GpuGemmInput::F32) {
    mlir::Builder b(module.getContext());
    narrowGemmWeights(model, dtype == GpuGemmInput::BF16 ? b.getBF16Type()
                                                         : b.getF16Type());
  }
  llvm::SmallVector<std::pair<mlir::Operation *, mlir::DictionaryAttr>> ops;
  model.walk([&](mlir::Operation *op) {
    if (mlir::DictionaryAttr tuned = tunedKernelFor(op, dtype, allowTf32))
      ops.emplace_back(op, tuned);
  });
  llvm::DenseSet<mlir::Operation *> halfOutput =
      halfOutputOps(ops, halfQkv, halfFfn, halfNorm);
  // The f32 value the model reads in place of a half-output GEMM's
  // result, until the attention that reads it is outlined, and that
  // result.
  llvm::DenseMap<mlir::Value, mlir::Value> narrowedFrom;
  mlir::SymbolTable symbols(module);
  mlir::OpBuilder builder(module.getContext());
  int index = 0;
  for (auto [op, tuned] : ops) {
    mlir::Location loc = op->getLoc();
    // The function's arguments: the op's operands, except that an
    // attention over a fused QKV (or KV) projection takes the projection
    // (and splits it inside), so the kernel reads Q, K and V where they
    // are.
    llvm::SmallVector<mlir::Value> operands(op->getOperands());
    mlir::xf::SplitOp split;
    if (auto attention = llvm::dyn_cast<mlir::xf::AttentionOp>(op)) {
      AttentionInputs inputs;
      std::tie(split, inputs) = attentionInputsOf(attention);
      // Q, K, V become QKV, or Q, KV.
      if (inputs == AttentionInputs::FusedQkv) {
        operands.erase(operands.begin(), operands.begin() + 3);
        operands.insert(operands.begin(), split.getInput());
      } else if (inputs == AttentionInputs::FusedKv) {
        operands.erase(operands.begin() + 1, operands.begin() + 3);
        operands.insert(operands.begin() + 1, split.getInput());
      }
    }
    // What the call passes: a half-output GEMM's result itself.
    llvm::SmallVector<mlir::Value> passed(operands);
    for (mlir::Value &value : passed)
      if (mlir::Value half = narrowedFrom.lookup(value))
        value = half;
    llvm::SmallVector<mlir::Type> results(op->getResultTypes());
    bool narrow = halfOutput.contains(op);
    mlir::Type halfType = dtype == GpuGemmInput::BF16
                              ? mlir::Type(builder.getBF16Type())
                              : mlir::Type(builder.getF16Type());
    if (narrow)
      results[0] =
          llvm::cast<mlir::RankedTensorType>(results[0]).clone(halfType);
    builder.setInsertionPoint(model);
    auto type =
        builder.getFunctionType(mlir::ValueRange(passed).getTypes(), results);
    auto callee = mlir::func::FuncOp::create(
        builder, loc, "xf_tuned_" + std::to_string(index++), type);
    callee.setPrivate();
    callee->setAttr(kTunedAttr, tuned);
    symbols.insert(callee);
    mlir::Block *body = callee.addEntryBlock();
    mlir::OpBuilder inside = mlir::OpBuilder::atBlockEnd(body);
    mlir::IRMapping mapping;
    mapping.map(operands, body->getArguments());
    // (A half argument is widened inside: a weight stored in the half
    // type, or a half-output GEMM's result.)
    for (mlir::BlockArgument arg : body->getArguments())
      if (auto type = llvm::dyn_cast<mlir::RankedTensorType>(arg.getType());
          type &&
          (type.getElementType().isF16() || type.getElementType().isBF16()))
        mapping.map(operands[arg.getArgNumber()], widenToF32(inside, loc, arg));
    if (split)
      inside.clone(*split, mapping);
    mlir::Operation *copy = inside.clone(*op, mapping);
    llvm::SmallVector<mlir::Value> returned(copy->getResults());
    if (narrow)
      returned[0] = convertElements(inside, loc, returned[0], halfType);
    mlir::func::ReturnOp::create(inside, loc, returned);
    builder.setInsertionPoint(op);
    auto call = mlir::func::CallOp::create(builder, loc, callee, passed);
    llvm::SmallVector<mlir::Value> replacements(call.getResults());
    if (narrow) {
      // Widened back for the model until its readers (the attention, the
      // GEMMs) take the half result itself; then the widening is left
      // unused and goes.
      replacements[0] = widenToF32(builder, loc, call.getResult(0));
      narrowedFrom[replacements[0]] = call.getResult(0);
    }
    op->replaceAllUsesWith(replacements);
    op->erase();
    if (split && split->use_empty())
      split->erase();
    for (mlir::Value value : operands) {
      auto it = narrowedFrom.find(value);
      if (it == narrowedFrom.end() || !value.use_empty())
        continue;
      narrowedFrom.erase(it);
      auto widen = value.getDefiningOp<mlir::linalg::GenericOp>();
      mlir::Operation *init = widen.getDpsInits()[0].getDefiningOp();
      widen->erase();
      if (init && init->use_empty())
        init->erase();
    }
  }
  return true;
}

/// The fusion plan's number of the kernel a call stands for: its location
/// is named "xf.kernel.N" (xf-form-kernels); "?" when it is not.
static std::string fusionKernelOf(mlir::Location loc) {
  if (auto name = llvm::dyn_cast<mlir::NameLoc>(loc)) {
    llvm::StringRef text = name.getName().getValue();
    if (text.consume_front("xf.kernel."))
      return text.str();
  }
  return "?";
}

bool launchTunedKernels(
    mlir::ModuleOp module, bool warpgroupMma, int64_t attentionQueryTile,
    std::vector<std::pair<std::string, std::string>> &described,
    std::string &error) {
  llvm::SmallVector<mlir::func::CallOp> calls;
  module.walk([&](mlir::func::CallOp call) {
    auto callee = module.lookupSymbol<mlir::func::FuncOp>(call.getCallee());
    if (callee && callee->hasAttr(kTunedAttr))
      calls.push_back(call);
  });
  if (calls.empty())
    return true;
  // One kernel per call, in a gpu.module of their own (gathered with the
  // generic kernels later).
  GpuKernelSet set;
  set.moduleName = "xf_tuned";
  enum class Kind { Gemm, LayerNorm, Attention };
  struct Pending {
    mlir::func::CallOp call;
    Kind kind;
    /// An attention's fused inputs: "qkv", "kv" or "none".
    std::string fused = "none";
  };
  std::vector<Pending> pending;
  for (mlir::func::CallOp call : calls) {
    auto callee = module.lookupSymbol<mlir::func::FuncOp>(call.getCallee());
    auto tuned = callee->getAttrOfType<mlir::DictionaryAttr>(kTunedAttr);
    std::string name = "xf_tuned_kernel_" + std::to_string(pending.size());
    auto kind = tuned.getAs<mlir::StringAttr>("kind").getValue();
    if (kind == "gemm") {
      GpuGemmSpec gemm;
      gemm.name = name;
      gemm.m = intOf(tuned, "m");
      gemm.n = intOf(tuned, "n");
      gemm.k = intOf(tuned, "k");
      llvm::StringRef input = tuned.getAs<mlir::StringAttr>("input").getValue();
      gemm.input = input == "f16"    ? GpuGemmInput::F16
                   : input == "bf16" ? GpuGemmInput::BF16
                   : input == "tf32" ? GpuGemmInput::TF32
                                     : GpuGemmInput::F32;
      // The activations stay f32; a half-type kernel rounds them as it
      // stages A (TF32 reads f32 A and B alike), unless its A comes in the
      // half type already (a half-output GEMM's, halfOutputGemms): its
      // argument 0.
      gemm.aInF32 =
          (gemm.input == GpuGemmInput::F16 ||
           gemm.input == GpuGemmInput::BF16) &&
          mlir::getElementTypeOrSelf(callee.getFunctionType().getInput(0))
              .isF32();
      bool tensorCores =
          gemm.input == GpuGemmInput::F16 || gemm.input == GpuGemmInput::BF16;
      if (tensorCores)
        gemm.tile = preferredGemmTile(gemm.m, gemm.n);
      if (tensorCores && warpgroupMma)
        gemm.tile =
            preferredWgmmaTile(gemm.m, gemm.n, gemm.k).value_or(gemm.tile);
      llvm::StringRef activation =
          tuned.getAs<mlir::StringAttr>("activation").getValue();
      gemm.activation = activation == "relu"        ? GpuActivation::Relu
                        : activation == "gelu"      ? GpuActivation::GeluErf
                        : activation == "gelu_tanh" ? GpuActivation::GeluTanh
                                                    : GpuActivation::None;
      gemm.residual = tuned.getAs<mlir::BoolAttr>("residual").getValue();
      // C in the half type when the private function returns it so
      // (halfOutputGemms): its out-parameter, the last argument.
      gemm.cInInputType = !mlir::getElementTypeOrSelf(
                               callee.getFunctionType().getInputs().back())
                               .isF32();
      set.gemms.push_back(gemm);
      pending.push_back({call, Kind::Gemm});
    } else if (kind == "attention") {
      GpuAttentionSpec attention;
      attention.name = name;
      attention.input =
          tuned.getAs<mlir::StringAttr>("input").getValue() == "bf16"
              ? GpuGemmInput::BF16
              : GpuGemmInput::F16;
      attention.batch = intOf(tuned, "batch");
      attention.heads = intOf(tuned, "heads");
      attention.seqLen = intOf(tuned, "seq_len");
      int64_t keys = intOf(tuned, "key_len");
      attention.keyLen = keys == attention.seqLen ? 0 : keys;
      attention.headDim = intOf(tuned, "head_dim");
      attention.scale = float(
          llvm::cast<mlir::FloatAttr>(tuned.get("scale")).getValueAsDouble());
      attention.causal = tuned.getAs<mlir::BoolAttr>("causal").getValue();
      attention.keyPadding =
          tuned.getAs<mlir::BoolAttr>("key_padding").getValue();
      if (auto layout = tuned.getAs<mlir::ArrayAttr>("tile_layout")) {
        auto offsets = llvm::cast<mlir::DenseI32ArrayAttr>(layout[0]);
        auto indices = llvm::cast<mlir::DenseI32ArrayAttr>(layout[1]);
        attention.blockSparse = true;
        attention.tileOffsets.assign(offsets.asArrayRef().begin(),
                                     offsets.asArrayRef().end());
        attention.tileIndices.assign(indices.asArrayRef().begin(),
                                     indices.asArrayRef().end());
        attention.blockSparseEntries = int64_t(attention.tileIndices.size());
        attention.layoutGroups = intOf(tuned, "layout_groups");
        auto maskIndex = llvm::cast<mlir::DenseI32ArrayAttr>(layout[2]);
        auto masks = llvm::cast<mlir::DenseI32ArrayAttr>(layout[3]);
        attention.tileMaskIndex.assign(maskIndex.asArrayRef().begin(),
                                       maskIndex.asArrayRef().end());
        attention.tileMasks.assign(masks.asArrayRef().begin(),
                                   masks.asArrayRef().end());
      }
      std::string fused =
          tuned.getAs<mlir::StringAttr>("fused").getValue().str();
      // Q, K and V as the model has them: f32 rows of heads side by side,
      // the three parts of one projection's rows (QKV), or K and V the
      // two of one (KV), when fused.
      int64_t width = attention.heads * attention.headDim;
      attention.modelLayout = true;
      attention.rowsInInputType =
          !mlir::getElementTypeOrSelf(callee.getFunctionType().getInput(0))
               .isF32();
      attention.rowWidth = fused == "qkv" ? 3 * width : width;
      attention.keyValueRowWidth = fused == "qkv"  ? 3 * width
                                   : fused == "kv" ? 2 * width
                                                   : width;
      for (int i = 0; i < 3; ++i)
        attention.columnOffsets[i] = fused == "qkv"            ? i * width
                                     : fused == "kv" && i == 2 ? width
                                                               : 0;
      // Dense attention takes the query tile asked for; a block-sparse
      // layout's tiles are 64 x 64.
      attention.queryTile =
          attention.blockSparse || attentionQueryTile == 0
              ? preferredAttentionQueryTile(attention.batch, attention.heads,
                                            attention.seqLen, attention.headDim,
                                            attention.blockSparse)
              : attentionQueryTile;
      set.attentions.push_back(attention);
      pending.push_back({call, Kind::Attention, fused});
    } else {
      GpuLayerNormSpec norm;
      norm.name = name;
      norm.rows = intOf(tuned, "rows");
      norm.dim = intOf(tuned, "dim");
      norm.epsilon = float(
          llvm::cast<mlir::FloatAttr>(tuned.get("epsilon")).getValueAsDouble());
      norm.residual = tuned.getAs<mlir::BoolAttr>("residual").getValue();
      norm.sumOutput = tuned.getAs<mlir::BoolAttr>("sum").getValue();
      // y in the half type when the private function returns it so
      // (halfOutputOps): its out-parameter, the last argument but the
      // sum's.
      mlir::TypeRange arguments = callee.getFunctionType().getInputs();
      mlir::Type y = arguments[arguments.size() - (norm.sumOutput ? 2 : 1)];
      mlir::Type yElement = mlir::getElementTypeOrSelf(y);
      norm.yType = yElement.isF16()    ? GpuGemmInput::F16
                   : yElement.isBF16() ? GpuGemmInput::BF16
                                       : GpuGemmInput::F32;
      set.layerNorms.push_back(norm);
      pending.push_back({call, Kind::LayerNorm});
    }
  }
  std::vector<GpuKernelLaunch> launches;
  if (!buildGpuKernels(module, set, launches, error))
    return false;
  size_t counts[3] = {0, 0, 0};
  for (Pending &p : pending) {
    size_t index = counts[int(p.kind)]++;
    described.push_back({fusionKernelOf(p.call.getLoc()),
                         p.kind == Kind::Gemm
                             ? describeGpuKernel(set.gemms[index])
                         : p.kind == Kind::LayerNorm
                             ? describeGpuKernel(set.layerNorms[index])
                             : describeGpuKernel(set.attentions[index])});
  }
  // buildGpuKernels lists the GEMMs' contracts first, then the norms',
  // then the attentions'.
  std::vector<const GpuKernelLaunch *> contractOf;
  size_t next[3] = {0, set.gemms.size(),
                    set.gemms.size() + set.layerNorms.size()};
  for (const Pending &p : pending)
    contractOf.push_back(&launches[next[int(p.kind)]++]);

  auto kernels = module.lookupSymbol<mlir::gpu::GPUModuleOp>(set.moduleName);
  mlir::OpBuilder builder(module.getContext());
  llvm::SetVector<mlir::Operation *> callees;
  for (size_t i = 0; i < pending.size(); ++i) {
    mlir::func::CallOp call = pending[i].call;
    const GpuKernelLaunch &contract = *contractOf[i];
    auto kernel = kernels.lookupSymbol<mlir::gpu::GPUFuncOp>(contract.kernel);
    // The call's buffers: gemm (input, weight, bias, [residual], out),
    // norm (input, gamma, beta, [residual], out, [sum]), attention (q, k,
    // v, the fused qkv or q and the fused kv, then [lengths], out); the
    // kernels take gemm (A, B, bias, [residual], C), norm (x, [r], gamma,
    // beta, y, [s]) and attention (Q, K, V, [lengths], O).
    llvm::SmallVector<mlir::Value> buffers(call.getOperands());
    if (pending[i].kind == Kind::LayerNorm && buffers.size() >= 5) {
      llvm::SmallVector<mlir::Value> reordered{buffers[0], buffers[3],
                                               buffers[1], buffers[2]};
      reordered.append(buffers.begin() + 4, buffers.end());
      buffers = reordered;
    }
    if (pending[i].fused == "qkv")
      buffers.insert(buffers.begin(), 2, buffers.front());
    else if (pending[i].fused == "kv")
      buffers.insert(buffers.begin() + 1, buffers[1]);
    if (buffers.size() != kernel.getNumArguments()) {
      error = "the tuned kernel " + contract.kernel + " takes " +
              std::to_string(kernel.getNumArguments()) + " buffers; its call " +
              "has " + std::to_string(buffers.size());
      return false;
    }
    builder.setInsertionPoint(call);
    mlir::Location loc = call.getLoc();
    llvm::SmallVector<mlir::Value> operands;
    for (auto [buffer, type] : llvm::zip(buffers, kernel.getArgumentTypes())) {
      auto from = llvm::cast<mlir::MemRefType>(buffer.getType());
      auto to = llvm::cast<mlir::MemRefType>(type);
      if (from == to) {
        operands.push_back(buffer);
        continue;
      }
      // The same contiguous bytes in the kernel's shape ([B, S, D] as
      // [B S, D]); bufferization gave the call identity layouts.
      if (!from.getLayout().isIdentity() ||
          from.getNumElements() != to.getNumElements()) {
        error = "the tuned kernel " + contract.kernel +
                " cannot take a buffer of another size or a strided one";
        return false;
      }
      llvm::SmallVector<int64_t> strides(to.getRank(), 1);
      for (int64_t d = to.getRank() - 2; d >= 0; --d)
        strides[d] = strides[d + 1] * to.getShape()[d + 1];
      operands.push_back(mlir::memref::ReinterpretCastOp::create(
          builder, loc, to, buffer, /*offset=*/0, to.getShape(), strides));
    }
    auto index = [&](int64_t v) -> mlir::Value {
      return mlir::arith::ConstantIndexOp::create(builder, loc, v);
    };
    mlir::gpu::KernelDim3 grid{index(contract.grid[0]), index(contract.grid[1]),
                               index(contract.grid[2])};
    mlir::gpu::KernelDim3 block{index(contract.block[0]),
                                index(contract.block[1]),
                                index(contract.block[2])};
    mlir::Value shared = contract.dynamicSharedBytes
                             ? mlir::Value(mlir::arith::ConstantIntOp::create(
                                   builder, loc, builder.getI32Type(),
                                   contract.dynamicSharedBytes))
                             : mlir::Value();
    mlir::gpu::LaunchFuncOp::create(builder, loc, kernel, grid, block, shared,
                                    operands);
    callees.insert(module.lookupSymbol(call.getCallee()));
    call.erase();
  }
  for (mlir::Operation *callee : callees)
    callee->erase();
  return true;
}

} // namespace xfc
