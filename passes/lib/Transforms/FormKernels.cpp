//===- FormKernels.cpp - Name and describe the model's kernels --*- C++ -*-===//
//
// Part of xfc. Implements xf-form-kernels. After fusion every compute op
// left at the top of the model function (an `xf` op other than the view
// `xf.split`, or a chunk loop of `xf-chunk-feed-forward`) is one kernel:
// lowering turns it into one loop nest (or, unfused attention, a few that
// share its intermediates), and nothing is fused across kernels any more.
// This pass fixes that list: it numbers the kernels in program order, tags
// each op's location with its number (every op lowered from it inherits
// the location, so the LLVM stage can outline the kernel into a function
// of its own), and records on the module what each kernel is: its name,
// the spec nodes it computes, the symbol it will have, its FLOPs and the
// bytes it moves. `xfc compile --explain` prints that record, the manifest
// stores it, and `xfc run --profile` reports time against it.
//
// FLOPs count the arithmetic of the definition (a transcendental function
// counts as one), over the blocks a fused attention kernel visits. Bytes
// are the compulsory traffic: every operand read once, every result
// written once, and every intermediate the kernel materializes in memory
// (the scores of unfused attention) written and read once.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/AttentionPattern.h"
#include "xf/Dialect/XF/NodeNames.h"
#include "xf/Dialect/XF/XFOps.h"
#include "xf/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFFORMKERNELS
#include "xf/Transforms/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;
using namespace mlir::xf;

namespace {

int64_t numElements(Value v) {
  auto type = dyn_cast<ShapedType>(v.getType());
  return type && type.hasStaticShape() ? type.getNumElements() : 0;
}

int64_t numBytes(Value v) {
  auto type = dyn_cast<ShapedType>(v.getType());
  if (!type || !type.hasStaticShape())
    return 0;
  return type.getNumElements() *
         std::max<int64_t>(1, type.getElementTypeBitWidth() / 8);
}

/// FLOPs per element of an activation (a transcendental counts as one).
int64_t activationFlops(ActivationKind kind) {
  switch (kind) {
  case ActivationKind::relu:
    return 1;
  case ActivationKind::gelu:
    return 5; // x * 0.5 * (1 + erf(x / sqrt 2))
  case ActivationKind::gelu_tanh:
    return 9; // x * 0.5 * (1 + tanh(c * (x + 0.044715 x^3)))
  }
  return 1;
}

struct KernelCost {
  std::string kind;
  int64_t flops = 0;
  int64_t bytes = 0;
  /// Attention with a mask pattern: the pattern's text, the FLOPs of the
  /// same attention computed dense, and the fraction of (query, key) pairs
  /// the pattern allows.
  std::string pattern;
  int64_t denseFlops = 0;
  double allowedFraction = 1.0;
  /// The fused kernel's gathering strategy per head group, joined with
  /// " | " ("residue(classes = 2) | none"); empty when nothing is gathered.
  std::string gather;
  /// Linformer attention: the FLOPs of the xf.linformer_projection kernels
  /// that made its keys and values.
  int64_t projectionFlops = 0;
  /// Transformer-XL attention: the memory length M and the keys each query
  /// sees (M + L); -1 for every other kernel.
  int64_t memoryLength = -1, keysPerQuery = -1;
};

/// Operands read once plus results written once.
int64_t operandAndResultBytes(Operation *op) {
  int64_t bytes = 0;
  for (Value v : op->getOperands())
    bytes += numBytes(v);
  for (Value v : op->getResults())
    bytes += numBytes(v);
  return bytes;
}

KernelCost costOf(Operation *op);

KernelCost costOfLinear(LinearOp op) {
  KernelCost cost;
  int64_t outElems = numElements(op.getResult());
  int64_t k = cast<ShapedType>(op.getInput().getType()).getShape().back();
  cost.flops = 2 * outElems * k;
  cost.kind = "linear";
  if (op.getBias())
    cost.flops += outElems;
  if (std::optional<ActivationKind> act = op.getActivation()) {
    cost.flops += activationFlops(*act) * outElems;
    cost.kind += "+" + stringifyActivationKind(*act).str();
  }
  if (op.getResidual()) {
    cost.flops += outElems;
    cost.kind += "+residual";
  }
  if (nodeNames(op.getLoc()).size() > 1 && !op.getActivation() &&
      !op.getResidual())
    cost.kind = "linear(concatenated)";
  cost.bytes = operandAndResultBytes(op);
  return cost;
}

KernelCost costOfAttention(AttentionOp op) {
  auto q = cast<ShapedType>(op.getQuery().getType());
  auto k = cast<ShapedType>(op.getKey().getType());
  int64_t batch = q.getShape()[0], sq = q.getShape()[1], sk = k.getShape()[1];
  int64_t heads = op.getNumHeads();
  int64_t headDim = q.getShape()[2] / std::max<int64_t>(1, heads);
  int64_t scores = batch * heads * sq * sk;
  KernelCost cost;
  cost.bytes = operandAndResultBytes(op);
  auto kernel = op->getAttrOfType<DictionaryAttr>(kAttentionKernelAttrName);
  double fraction = 1.0;
  if (AttentionPatternAttr pattern = op.getPatternAttr())
    cost.pattern = pattern.getText().str();
  // Q K^T and P V (2 d each per score), scale, mask, exp, sum, divide.
  cost.denseFlops = int64_t(double(scores) * double(4 * headDim + 5));
  // Linformer: dense attention over the k rows that xf.linformer_projection
  // made of the keys and values. The kernel computes that attention alone
  // (the projections are kernels of their own); the report compares the
  // whole family, projections included, with dense attention over the n
  // keys the projections read.
  if (auto keys = op.getKey().getDefiningOp<LinformerProjectionOp>()) {
    auto values = op.getValue().getDefiningOp<LinformerProjectionOp>();
    int64_t n = cast<ShapedType>(keys.getInput().getType()).getShape()[1];
    PatternPart part;
    part.kind = PatternPart::Kind::Linformer;
    part.projection = sk;
    if (AttentionPatternAttr pattern = keys.getPatternAttr()) {
      PatternGroups groups = pattern.getGroups();
      if (const PatternPart *family = approximationOf(groups))
        part = *family;
    }
    cost.pattern = part.describe();
    cost.denseFlops =
        int64_t(double(batch * heads * sq * n) * double(4 * headDim + 5));
    cost.flops = scores * (4 * headDim + 5);
    cost.projectionFlops = linformerProjectionFlops(
        batch, n, sk, q.getShape()[2], bool(keys.getKeyLengths()));
    if (values)
      cost.projectionFlops += linformerProjectionFlops(
          batch, n, sk, cast<ShapedType>(values.getType()).getShape()[2],
          bool(values.getKeyLengths()));
    cost.kind = kernel ? "attention(linformer)" : "attention(unfused, linformer)";
    if (!kernel)
      cost.bytes += 2 * scores * 4;
    return cost;
  }
  // A family that is not a mask: its own kernel and its own count.
  if (AttentionPatternAttr pattern = op.getPatternAttr()) {
    PatternGroups groups = pattern.getGroups();
    if (const PatternPart *family = approximationOf(groups)) {
      cost.kind = std::string("attention(") + family->name() + ")";
      cost.flops =
          approximationFlops(*family, batch, heads, sq, sk, headDim);
      cost.allowedFraction = 1.0;
      return cost;
    }
  }
  if (kernel) {
    auto bq = kernel.getAs<IntegerAttr>("block_q");
    auto bk = kernel.getAs<IntegerAttr>("block_k");
    auto visited = kernel.getAs<IntegerAttr>("visited_blocks");
    if (bq && bk && visited && sq && sk) {
      int64_t total = ((sq + bq.getInt() - 1) / bq.getInt()) *
                      ((sk + bk.getInt() - 1) / bk.getInt());
      fraction = double(visited.getInt()) / double(std::max<int64_t>(1, total));
      // Gathered tiles are smaller than Bq x Bk: the executed pairs over
      // those of the dense tile grid (the same ratio for equal tiles).
      if (auto pairs = kernel.getAs<IntegerAttr>("executed_pairs"))
        fraction = double(pairs.getInt()) /
                   double(std::max<int64_t>(
                       1, total * bq.getInt() * bk.getInt()));
    }
    if (auto gather = kernel.getAs<ArrayAttr>("gather")) {
      for (Attribute g : gather)
        if (auto name = dyn_cast<StringAttr>(g))
          cost.gather += (cost.gather.empty() ? "" : " | ") + name.str();
    }
    auto pattern = kernel.getAs<StringAttr>("pattern");
    auto allowed = kernel.getAs<IntegerAttr>("allowed_pairs");
    if (allowed && sq && sk)
      cost.allowedFraction = double(allowed.getInt()) / double(sq * sk);
    // A pattern's text is long: the kind says "pattern", the attention
    // section of --explain gives the text.
    cost.kind = "attention(fused";
    if (!cost.pattern.empty())
      cost.kind += ", pattern";
    else if (pattern)
      cost.kind += ", " + pattern.getValue().str();
    cost.kind += ")";
  } else {
    // The [B, H, Sq, Sk] scores live in memory between the steps.
    cost.bytes += 2 * scores * 4;
    cost.kind = op.getCausal()          ? "attention(unfused, causal)"
                : !cost.pattern.empty() ? "attention(unfused, pattern)"
                                        : "attention(unfused)";
  }
  cost.flops = int64_t(double(cost.denseFlops) * fraction);
  return cost;
}

/// Transformer-XL attention, as convert-xf-to-linalg lowers it: the
/// projected encoding R W_kR^T (2 Dp per element), the biased queries
/// q + u and q + v (one add per query element each), per score the content
/// and position dot products (2 Dh each), P V (2 Dv), and shift, scale,
/// mask, exp, sum, divide (6). The register-tile padding of the key
/// dimensions is work done but not counted.
KernelCost costOfRelativeAttention(RelativeAttentionOp op) {
  auto q = cast<ShapedType>(op.getQuery().getType());
  auto k = cast<ShapedType>(op.getKey().getType());
  auto v = cast<ShapedType>(op.getValue().getType());
  auto w = cast<ShapedType>(op.getPositionWeight().getType());
  int64_t batch = q.getShape()[0], sq = q.getShape()[1], sk = k.getShape()[1];
  int64_t heads = std::max<int64_t>(1, op.getNumHeads());
  int64_t headDim = q.getShape()[2] / heads;
  int64_t valueDim = v.getShape()[2] / heads;
  double scores = double(batch * heads * sq) * double(sk);
  KernelCost cost;
  cost.kind = "attention(relative, unfused)";
  // The content and position scores and the probabilities are in memory.
  cost.bytes = operandAndResultBytes(op) + int64_t(3 * 2 * scores * 4);
  cost.denseFlops =
      int64_t(double(sk) * double(w.getShape()[0]) * 2 * w.getShape()[1] +
              2.0 * double(q.getNumElements()) +
              scores * double(4 * headDim + 2 * valueDim + 6));
  cost.flops = cost.denseFlops;
  cost.memoryLength = sk - sq;
  cost.keysPerQuery = sk;
  return cost;
}

KernelCost costOfLoop(scf::ForOp loop) {
  KernelCost cost;
  std::optional<int64_t> lb = getConstantIntValue(loop.getLowerBound());
  std::optional<int64_t> ub = getConstantIntValue(loop.getUpperBound());
  std::optional<int64_t> step = getConstantIntValue(loop.getStep());
  int64_t trips =
      lb && ub && step && *step > 0 ? (*ub - *lb + *step - 1) / *step : 1;
  std::string inner;
  loop.getBody()->walk([&](Operation *op) {
    if (!isa<XFDialect>(op->getDialect()) || isa<SplitOp>(op))
      return;
    KernelCost part = costOf(op);
    cost.flops += trips * part.flops;
    cost.bytes += trips * part.bytes;
    inner += (inner.empty() ? "" : ", ") + part.kind;
  });
  cost.kind = "chunked x" + std::to_string(trips) + "(" + inner + ")";
  return cost;
}

KernelCost costOf(Operation *op) {
  if (auto linear = dyn_cast<LinearOp>(op))
    return costOfLinear(linear);
  if (auto attention = dyn_cast<AttentionOp>(op))
    return costOfAttention(attention);
  if (auto relative = dyn_cast<RelativeAttentionOp>(op))
    return costOfRelativeAttention(relative);
  if (auto loop = dyn_cast<scf::ForOp>(op))
    return costOfLoop(loop);
  if (auto projection = dyn_cast<LinformerProjectionOp>(op)) {
    ArrayRef<int64_t> in =
        cast<ShapedType>(projection.getInput().getType()).getShape();
    ArrayRef<int64_t> p =
        cast<ShapedType>(projection.getProjection().getType()).getShape();
    KernelCost cost;
    cost.kind = "linformer_projection";
    cost.flops = linformerProjectionFlops(in[0], in[1], p[p.size() - 2], in[2],
                                          bool(projection.getKeyLengths()));
    cost.bytes = operandAndResultBytes(op);
    return cost;
  }
  KernelCost cost;
  cost.bytes = operandAndResultBytes(op);
  int64_t n = op->getNumResults() ? numElements(op->getResult(0)) : 0;
  if (auto norm = dyn_cast<LayerNormOp>(op)) {
    // Mean, centre, square, sum, scale by rsqrt, gamma, beta.
    cost.flops = 7 * n + (norm.getResidual() ? n : 0);
    cost.kind = norm.getResidual() ? "residual+layer_norm" : "layer_norm";
  } else if (auto act = dyn_cast<ActivationOp>(op)) {
    cost.flops = activationFlops(act.getKind()) * n;
    cost.kind = stringifyActivationKind(act.getKind()).str();
  } else if (isa<AddOp>(op)) {
    cost.flops = n;
    cost.kind = "add";
  } else if (isa<SoftmaxOp>(op)) {
    cost.flops = 4 * n;
    cost.kind = "softmax";
  } else if (isa<EmbeddingOp>(op)) {
    // Reads the looked-up rows, not the whole table.
    auto embedding = cast<EmbeddingOp>(op);
    cost.bytes = numBytes(embedding.getIds()) + 2 * numBytes(op->getResult(0));
    cost.flops = n;
    cost.kind = "embedding";
  } else if (auto pos = dyn_cast<PositionalEncodingOp>(op)) {
    cost.flops = pos.getKind() == PositionalKind::sinusoidal ? 2 * n : n;
    cost.kind = "positional_encoding(" +
                stringifyPositionalKind(pos.getKind()).str() + ")";
  } else {
    cost.kind = op->getName().stripDialect().str();
  }
  return cost;
}

/// Top-level ops that are kernels: compute ops of the xf dialect, and
/// loops around them.
bool isKernel(Operation *op) {
  if (isa<SplitOp>(op))
    return false;
  if (isa<XFDialect>(op->getDialect()))
    return true;
  if (auto loop = dyn_cast<scf::ForOp>(op)) {
    bool hasXF = false;
    loop.getBody()->walk([&](Operation *inner) {
      hasXF |= isa<XFDialect>(inner->getDialect());
    });
    return hasXF;
  }
  return false;
}

struct XFFormKernelsPass
    : public xf::impl::XFFormKernelsBase<XFFormKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    Builder b(&getContext());
    SmallVector<Attribute> kernels;
    for (func::FuncOp func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      for (Operation &op : func.getBody().front()) {
        if (!isKernel(&op))
          continue;
        int64_t id = kernels.size();
        SmallVector<StringRef> nodes = nodeNames(op.getLoc());
        std::string name = groupDisplayName(nodes);
        if (name.empty())
          name = op.getName().stripDialect().str();
        std::string symbol =
            "xf_k" + std::to_string(id) + "_" + symbolFragment(name);
        KernelCost cost = costOf(&op);
        SmallVector<Attribute> nodeAttrs;
        for (StringRef node : nodes)
          nodeAttrs.push_back(b.getStringAttr(node));
        DictionaryAttr record = b.getDictionaryAttr({
            b.getNamedAttr("id", b.getI64IntegerAttr(id)),
            b.getNamedAttr("name", b.getStringAttr(name)),
            b.getNamedAttr("symbol", b.getStringAttr(symbol)),
            b.getNamedAttr("kind", b.getStringAttr(cost.kind)),
            b.getNamedAttr("nodes", b.getArrayAttr(nodeAttrs)),
            b.getNamedAttr("flops", b.getI64IntegerAttr(cost.flops)),
            b.getNamedAttr("bytes", b.getI64IntegerAttr(cost.bytes)),
        });
        if (!cost.pattern.empty()) {
          NamedAttrList fields(record);
          fields.set("pattern", b.getStringAttr(cost.pattern));
          fields.set("dense_flops", b.getI64IntegerAttr(cost.denseFlops));
          fields.set("allowed_fraction",
                     b.getF64FloatAttr(cost.allowedFraction));
          if (!cost.gather.empty())
            fields.set("gather", b.getStringAttr(cost.gather));
          if (cost.projectionFlops)
            fields.set("projection_flops",
                       b.getI64IntegerAttr(cost.projectionFlops));
          record = fields.getDictionary(&getContext());
        }
        if (cost.memoryLength >= 0) {
          NamedAttrList fields(record);
          fields.set("memory_length", b.getI64IntegerAttr(cost.memoryLength));
          fields.set("keys_per_query", b.getI64IntegerAttr(cost.keysPerQuery));
          record = fields.getDictionary(&getContext());
        }
        kernels.push_back(record);
        // Ops inside a loop kernel are tagged too: they lower separately
        // but belong to the same kernel.
        op.walk([&](Operation *inner) {
          inner->setLoc(kernelTaggedLoc(inner->getLoc(), id));
        });
      }
    }
    module->setAttr(kKernelsAttrName, b.getArrayAttr(kernels));
  }
};

} // namespace
