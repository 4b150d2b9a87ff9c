//===- FuseQKV.cpp - Projections of one input as one linear -----*- C++ -*-===//
//
// Part of xfc. Implements xf-fuse-qkv. After decomposition, self-attention
// reads its input three times, once per projection GEMM (cross-attention
// reads the encoder memory twice, for K and V). Concatenating the weights
// along the output features turns them into one GEMM that reads the input
// once and runs with a wider N, which the kernels use better; `xf.split`
// hands each consumer its columns back.
//
// Weights are function arguments whose data the compiler only sees when it
// writes the artifact, so the concatenation is not done here: the fused
// weight is a new argument whose attributes say how to build it
// (`xf.weight_concat`, the source names in order), and the artifact writer
// concatenates the source tensors once, at compile time. Each output column
// is computed from the same weights and bias in the same order as before,
// so the numbers do not change.
//
//===----------------------------------------------------------------------===//
#include "xf/Dialect/XF/NodeNames.h"
#include "xf/Dialect/XF/XFOps.h"
#include "xf/Transforms/FusionCandidates.h"
#include "xf/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFFUSEQKV
#include "xf/Transforms/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;
using namespace mlir::xf;

namespace {

constexpr StringLiteral kWeightAttr = "xf.weight";
constexpr StringLiteral kTransformAttr = "xf.weight_transform";
constexpr StringLiteral kConcatAttr = "xf.weight_concat";

/// A name for the concatenation of `names`: their common dotted prefix and
/// suffix around the joined differing parts ("p.q.weight", "p.k.weight",
/// "p.v.weight" -> "p.qkv.weight"), made unique among `taken`.
std::string derivedName(ArrayRef<StringRef> names,
                        const llvm::StringSet<> &taken) {
  size_t shortest = names.front().size();
  for (StringRef n : names)
    shortest = std::min(shortest, n.size());
  size_t prefix = 0;
  while (prefix < shortest && llvm::all_of(names, [&](StringRef n) {
           return n[prefix] == names.front()[prefix];
         }))
    ++prefix;
  size_t suffix = 0;
  while (suffix < shortest - prefix && llvm::all_of(names, [&](StringRef n) {
           return n[n.size() - 1 - suffix] ==
                  names.front()[names.front().size() - 1 - suffix];
         }))
    ++suffix;
  // Cut at dots, so the differing parts are whole name components.
  StringRef first = names.front();
  size_t dot = first.take_front(prefix).rfind('.');
  prefix = dot == StringRef::npos ? 0 : dot + 1;
  StringRef tail = first.take_back(suffix);
  size_t tailDot = tail.find('.');
  suffix = tailDot == StringRef::npos ? 0 : suffix - tailDot;

  bool short1 = llvm::all_of(
      names, [&](StringRef n) { return n.size() - prefix - suffix <= 1; });
  std::string middle;
  for (auto [i, n] : llvm::enumerate(names)) {
    if (i && !short1)
      middle += "+";
    middle += n.substr(prefix, n.size() - prefix - suffix).str();
  }
  std::string name =
      first.take_front(prefix).str() + middle + first.take_back(suffix).str();
  std::string unique = name;
  for (int i = 1; taken.contains(unique); ++i)
    unique = name + ".fused" + std::to_string(i);
  return unique;
}

struct XFFuseQKVPass : public xf::impl::XFFuseQKVBase<XFFuseQKVPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (func::FuncOp func : module.getOps<func::FuncOp>()) {
      // Fusion adds and removes arguments: a called function's signature
      // is an interface and stays as it is.
      if (func.isExternal() || !SymbolTable::symbolKnownUseEmpty(func, module))
        continue;
      if (failed(fuseFunction(func)))
        return signalPassFailure();
    }
  }

  LogicalResult fuseFunction(func::FuncOp func) {
    // Groups: same input, same consumer (the attention op), same block,
    // bias or not; in program order, so Q, K, V keep their order in the
    // fused weight.
    using Key = std::tuple<Value, Operation *, Block *, unsigned>;
    llvm::MapVector<Key, SmallVector<LinearOp>> groups;
    func.walk([&](LinearOp linear) {
      if (qkvMemberProblem(linear).empty())
        groups[{linear.getInput(), *linear.getResult().getUsers().begin(),
                linear->getBlock(), linear.getBias() ? 1u : 0u}]
            .push_back(linear);
    });
    llvm::StringSet<> taken;
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (auto name = func.getArgAttrOfType<StringAttr>(i, kWeightAttr))
        taken.insert(name.getValue());

    SmallVector<BlockArgument> sources;
    FusionPlanFilter plan(func);
    for (auto &[key, linears] : groups) {
      SmallVector<Location> locs;
      for (LinearOp linear : linears)
        locs.push_back(linear.getLoc());
      if (linears.size() < 2 || !plan.allows(FusionKind::QKV, locs))
        continue;
      fuseGroup(func, linears, taken, sources);
    }

    // Sources nothing reads any more are dropped from the signature, so
    // the artifact does not store them next to their concatenation.
    llvm::BitVector erase(func.getNumArguments());
    for (BlockArgument arg : sources)
      if (arg.use_empty())
        erase.set(arg.getArgNumber());
    return func.eraseArguments(erase);
  }

  /// A new argument concatenating `parts` (weight or bias arguments) along
  /// dimension 0, inserted before the first of them.
  BlockArgument concatArgument(func::FuncOp func, ArrayRef<Value> parts,
                               llvm::StringSet<> &taken) {
    Builder b(&getContext());
    SmallVector<StringRef> names;
    SmallVector<Attribute> nameAttrs;
    int64_t rows = 0;
    for (Value part : parts) {
      StringAttr name = plainWeightName(part);
      names.push_back(name.getValue());
      nameAttrs.push_back(name);
      rows += cast<RankedTensorType>(part.getType()).getDimSize(0);
    }
    auto firstType = cast<RankedTensorType>(parts.front().getType());
    SmallVector<int64_t> shape(firstType.getShape());
    shape[0] = rows;
    std::string name = derivedName(names, taken);
    taken.insert(name);

    unsigned index = func.getNumArguments();
    for (Value part : parts)
      index = std::min(index, cast<BlockArgument>(part).getArgNumber());
    // Same attributes as the first source (read-only and so on), with the
    // derived name and the recipe.
    NamedAttrList attrs(
        func.getArgAttrDict(cast<BlockArgument>(parts.front()).getArgNumber()));
    attrs.set(kWeightAttr, b.getStringAttr(name));
    attrs.set(kConcatAttr, b.getArrayAttr(nameAttrs));
    (void)func.insertArgument(
        index, RankedTensorType::get(shape, firstType.getElementType()),
        attrs.getDictionary(&getContext()), func.getLoc());
    return func.getArgument(index);
  }

  void fuseGroup(func::FuncOp func, ArrayRef<LinearOp> linears,
                 llvm::StringSet<> &taken,
                 SmallVector<BlockArgument> &sources) {
    SmallVector<Value> weights, biases;
    for (LinearOp linear : linears) {
      weights.push_back(linear.getWeight());
      if (linear.getBias())
        biases.push_back(linear.getBias());
    }
    BlockArgument weight = concatArgument(func, weights, taken);
    BlockArgument bias =
        biases.empty() ? nullptr : concatArgument(func, biases, taken);
    // (Block arguments stay valid when others are inserted before them.)
    for (Value v : llvm::concat<Value>(weights, biases))
      sources.push_back(cast<BlockArgument>(v));

    LinearOp first = linears.front();
    auto firstType = cast<RankedTensorType>(first.getResult().getType());
    SmallVector<int64_t> shape(firstType.getShape());
    shape.back() = cast<RankedTensorType>(weight.getType()).getDimSize(0);
    SmallVector<Type> pieces;
    for (LinearOp linear : linears)
      pieces.push_back(linear.getResult().getType());

    // The group is in one block and the walk visits it in program order:
    // the first linear comes first, and all of them read the same input.
    OpBuilder b(first);
    SmallVector<Location> locs;
    for (LinearOp linear : linears)
      locs.push_back(linear.getLoc());
    Location loc = fusedNodeLoc(&getContext(), locs);
    auto fused = LinearOp::create(
        b, loc, RankedTensorType::get(shape, b.getF32Type()), first.getInput(),
        weight, bias, /*transpose_weight=*/false);
    auto split = SplitOp::create(b, loc, pieces, fused.getResult());
    for (auto [i, piece] : llvm::enumerate(split.getResults())) {
      LinearOp linear = linears[i];
      linear.getResult().replaceAllUsesWith(piece);
      linear.erase();
    }
  }
};

} // namespace
