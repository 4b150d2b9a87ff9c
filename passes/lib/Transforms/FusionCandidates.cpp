//===- FusionCandidates.cpp - What the fusion passes could do ---*- C++ -*-===//
//
// Part of xfc. See FusionCandidates.h. The candidate rules mirror the
// passes (FuseAttention.cpp, FuseQKV.cpp, FuseResidualLayerNorm.cpp,
// FuseEpilogue.cpp), which call the shared checks below; the compiler
// checks after the model stage that the kernels formed are exactly the
// ones chosen here, so a rule that drifts is caught by every compile.
//
//===----------------------------------------------------------------------===//
#include "xf/Transforms/FusionCandidates.h"

#include "xf/Analysis/AttentionPattern.h"
#include "xf/Dialect/XF/NodeNames.h"
#include "xf/Dialect/XF/XFOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Dominance.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

#include <set>

using namespace mlir;

namespace mlir::xf {

StringRef fusionKindName(FusionKind kind) {
  switch (kind) {
  case FusionKind::Attention:
    return "attention";
  case FusionKind::QKV:
    return "qkv";
  case FusionKind::ResidualLayerNorm:
    return "residual-layernorm";
  case FusionKind::Epilogue:
    return "epilogue";
  }
  return "";
}

std::optional<FusionKind> parseFusionKind(StringRef name) {
  for (FusionKind kind : kFusionKinds)
    if (fusionKindName(kind) == name)
      return kind;
  return std::nullopt;
}

namespace {

/// The one spec node `op` computes in unfused IR ("" if unnamed).
std::string nodeOf(Operation *op) {
  SmallVector<StringRef> names = nodeNames(op->getLoc());
  return names.size() == 1 ? names.front().str() : "";
}

std::string plural(size_t n, StringRef word) {
  return std::to_string(n) + " " + word.str() + (n == 1 ? "" : "s");
}

/// Short name of the part of `node` after the common prefix with `other`
/// ("l0.attn.q" next to "l0.attn.k" -> "q"), for readable reasons.
std::string shortNode(StringRef node) {
  size_t dot = node.rfind('.');
  return dot == StringRef::npos ? node.str() : node.drop_front(dot + 1).str();
}

struct CandidateList {
  std::vector<FusionCandidate> list;
  std::set<std::pair<FusionKind, std::vector<std::string>>> seen;

  void add(FusionKind kind, ArrayRef<Operation *> ops, std::string reason) {
    std::vector<std::string> nodes;
    for (Operation *op : ops) {
      std::string node = nodeOf(op);
      if (node.empty())
        return; // Unnamed ops cannot be planned.
      nodes.push_back(node);
    }
    if (!seen.insert({kind, nodes}).second)
      return;
    list.push_back({kind, std::move(nodes), std::move(reason)});
  }
};

void findAttention(Operation *root, CandidateList &out) {
  root->walk([&](AttentionOp op) {
    auto sq = cast<ShapedType>(op.getQuery().getType()).getShape()[1];
    auto sk = cast<ShapedType>(op.getKey().getType()).getShape()[1];
    std::string reason;
    if (sq == 0 || sk == 0)
      reason = "an empty sequence has no tile to fuse";
    // xf-fuse-attention leaves the families that are not masks alone.
    PatternGroups groups;
    if (AttentionPatternAttr pattern = op.getPatternAttr())
      groups = pattern.getGroups();
    if (const PatternPart *family = approximationOf(groups))
      reason = std::string("attention(") + family->name() +
               ") has a kernel of its own";
    out.add(FusionKind::Attention, {op}, reason);
  });
}

void findQKV(Operation *root, CandidateList &out) {
  root->walk([&](AttentionOp attention) {
    // The projections feeding this attention op, grouped by the input
    // they read (self-attention: one group; cross-attention: Q apart).
    SmallVector<LinearOp> projections;
    for (Value operand :
         {attention.getQuery(), attention.getKey(), attention.getValue()})
      if (auto linear = operand.getDefiningOp<LinearOp>())
        if (!llvm::is_contained(projections, linear))
          projections.push_back(linear);
    // Like xf-fuse-qkv: projections group by input and by having a bias;
    // a projection that cannot join stays out and the rest still fuse.
    SmallVector<SmallVector<LinearOp>> groups;
    for (LinearOp linear : projections) {
      auto it = llvm::find_if(groups, [&](auto &g) {
        return g.front().getInput() == linear.getInput() &&
               bool(g.front().getBias()) == bool(linear.getBias());
      });
      if (it == groups.end())
        groups.push_back({linear});
      else
        it->push_back(linear);
    }
    if (groups.size() > 1 && projections.size() == 3 &&
        llvm::any_of(groups, [&](auto &g) {
          return g.front().getInput() != groups.front().front().getInput();
        })) {
      // Report why the query projection stays apart (cross-attention).
      SmallVector<Operation *> all(projections.begin(), projections.end());
      out.add(FusionKind::QKV, all,
              "the projections read different inputs (cross-attention: the "
              "query reads the decoder stream, keys and values the encoder "
              "output); only projections of one input share a GEMM");
    }
    for (auto &group : groups) {
      if (group.size() < 2)
        continue;
      SmallVector<Operation *> members, all(group.begin(), group.end());
      std::string reason;
      for (LinearOp linear : group) {
        std::string problem = qkvMemberProblem(linear);
        if (problem.empty())
          members.push_back(linear);
        else if (reason.empty())
          reason = shortNode(nodeOf(linear)) + " stays apart: " + problem;
      }
      if (!reason.empty())
        out.add(FusionKind::QKV, all, reason);
      if (members.size() >= 2)
        out.add(FusionKind::QKV, members, "");
    }
  });
}

void findResidualLayerNorm(Operation *root, CandidateList &out) {
  DominanceInfo dominance(root);
  root->walk([&](LayerNormOp norm) {
    auto add = norm.getInput().getDefiningOp<AddOp>();
    if (!add || norm.getResidual())
      return;
    out.add(FusionKind::ResidualLayerNorm, {add, norm},
            residualLayerNormInsertionPoint(norm, add, dominance)
                ? ""
                : "no position in the function is after the norm's operands "
                  "and before every other user of the sum");
  });
}

/// The add using `value` as one operand and something else as the other.
AddOp residualAddOf(Value value) {
  for (Operation *user : value.getUsers())
    if (auto add = dyn_cast<AddOp>(user))
      if (add.getLhs() != add.getRhs())
        return add;
  return nullptr;
}

void findEpilogue(Operation *root, CandidateList &out) {
  root->walk([&](LinearOp linear) {
    Value result = linear.getResult();
    auto usersOf = [](Value v) {
      return plural(std::distance(v.use_begin(), v.use_end()), "user");
    };
    ActivationOp act;
    for (Operation *user : result.getUsers())
      if (auto a = dyn_cast<ActivationOp>(user))
        act = a;
    if (act) {
      std::string reason = result.hasOneUse()
                               ? ""
                               : "the linear's output has " + usersOf(result) +
                                     ": it is written to memory anyway";
      if (AddOp add = residualAddOf(act.getResult()))
        out.add(FusionKind::Epilogue, {linear, act, add},
                !reason.empty() ? reason
                : act.getResult().hasOneUse()
                    ? ""
                    : "the activation's output has " +
                          usersOf(act.getResult()) +
                          ": it is written to memory anyway");
      out.add(FusionKind::Epilogue, {linear, act}, reason);
      return;
    }
    if (AddOp add = residualAddOf(result))
      out.add(FusionKind::Epilogue, {linear, add},
              result.hasOneUse()
                  ? ""
                  : "the linear's output has " + usersOf(result) +
                        ": it is written to memory anyway");
  });
}

} // namespace

std::vector<SpecNode> listSpecNodes(Operation *root) {
  std::vector<SpecNode> nodes;
  std::set<std::string> seen;
  root->walk([&](Operation *op) {
    if (!isa<XFDialect>(op->getDialect()) || isa<SplitOp>(op))
      return;
    std::string node = nodeOf(op);
    if (!node.empty() && seen.insert(node).second)
      nodes.push_back({node, op->getName().stripDialect().str()});
  });
  return nodes;
}

std::vector<FusionCandidate> findFusionCandidates(Operation *root) {
  CandidateList out;
  findAttention(root, out);
  findQKV(root, out);
  findResidualLayerNorm(root, out);
  findEpilogue(root, out);
  return std::move(out.list);
}

StringAttr plainWeightName(Value value) {
  auto arg = dyn_cast_or_null<BlockArgument>(value);
  if (!arg)
    return nullptr;
  auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  if (!func || arg.getOwner() != &func.getBody().front())
    return nullptr;
  unsigned index = arg.getArgNumber();
  if (func.getArgAttr(index, "xf.weight_transform") ||
      func.getArgAttr(index, "xf.weight_concat"))
    return nullptr;
  return func.getArgAttrOfType<StringAttr>(index, "xf.weight");
}

std::string qkvMemberProblem(LinearOp linear) {
  if (linear.getTransposeWeight())
    return "its weight is already stored [in, out]";
  if (linear.getActivation() || linear.getResidual())
    return "it already has an epilogue";
  if (!linear.getResult().hasOneUse())
    return "its output has other users";
  if (!plainWeightName(linear.getWeight()) ||
      (linear.getBias() && !plainWeightName(linear.getBias())))
    return "its weight or bias is not a weight argument stored as given";
  return "";
}

Operation *residualLayerNormInsertionPoint(LayerNormOp norm, AddOp add,
                                           DominanceInfo &dominance) {
  // At the add's position the sum's users are fine, and the add's operands
  // are; the norm's gamma and beta usually are (arguments). Otherwise the
  // norm's position works when every other user comes after it.
  if (dominance.properlyDominates(norm.getGamma(), add) &&
      dominance.properlyDominates(norm.getBeta(), add))
    return add;
  bool othersAfterNorm =
      llvm::all_of(add.getResult().getUses(), [&](OpOperand &use) {
        return use.getOwner() == norm.getOperation() ||
               dominance.properlyDominates(norm.getOperation(), use.getOwner());
      });
  return othersAfterNorm ? norm.getOperation() : nullptr;
}

FusionPlanFilter::FusionPlanFilter(Operation *op) {
  auto module =
      isa<ModuleOp>(op) ? cast<ModuleOp>(op) : op->getParentOfType<ModuleOp>();
  if (!module)
    return;
  auto plan = module->getAttrOfType<ArrayAttr>(kFusionPlanAttrName);
  if (!plan)
    return;
  hasPlan = true;
  for (Attribute entry : plan) {
    auto dict = dyn_cast<DictionaryAttr>(entry);
    auto kindName = dict ? dict.getAs<StringAttr>("fusion") : nullptr;
    auto nodes = dict ? dict.getAs<ArrayAttr>("nodes") : nullptr;
    std::optional<FusionKind> kind =
        kindName ? parseFusionKind(kindName.getValue()) : std::nullopt;
    if (!kind || !nodes)
      continue; // Malformed entries allow nothing.
    std::vector<std::string> names;
    for (Attribute node : nodes)
      if (auto name = dyn_cast<StringAttr>(node))
        names.push_back(name.str());
    groups.emplace_back(*kind, std::move(names));
  }
}

bool FusionPlanFilter::allows(FusionKind kind, ArrayRef<Location> locs) const {
  if (!hasPlan)
    return true;
  std::vector<std::string> wanted;
  for (Location loc : locs)
    for (StringRef name : nodeNames(loc))
      wanted.push_back(name.str());
  if (wanted.empty())
    return false; // Unnamed ops are never in a plan.
  return llvm::any_of(groups, [&](const auto &group) {
    return group.first == kind && llvm::all_of(wanted, [&](const auto &n) {
             return llvm::is_contained(group.second, n);
           });
  });
}

} // namespace mlir::xf
