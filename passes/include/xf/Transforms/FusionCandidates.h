//===- FusionCandidates.h - What the fusion passes could do -----*- C++ -*-===//
//
// Part of xfc. The fusion passes (xf-fuse-attention, xf-fuse-qkv,
// xf-fuse-residual-layernorm, xf-fuse-epilogue) each look for a pattern of
// spec nodes and combine it into one kernel. This file lists those
// candidates on decomposed, unfused `xf` IR, each with the reason it cannot
// be fused if it cannot, so that a fusion plan can be reported
// (`xfc compile --explain`), chosen by a user (`--fusion-plan`) and checked
// before anything is rewritten. The passes share the legality checks
// below, and follow a plan attached to the module (kFusionPlanAttrName):
// with a plan they fuse exactly the groups it lists.
//
//===----------------------------------------------------------------------===//
#ifndef XF_TRANSFORMS_FUSIONCANDIDATES_H
#define XF_TRANSFORMS_FUSIONCANDIDATES_H

#include "mlir/IR/Location.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir {
class DominanceInfo;
namespace xf {
class AddOp;
class LayerNormOp;
class LinearOp;

/// The graph fusions, in the order the pipeline runs them (which is also
/// the order in which they claim nodes).
enum class FusionKind { Attention, QKV, ResidualLayerNorm, Epilogue };
inline constexpr FusionKind kFusionKinds[] = {
    FusionKind::Attention, FusionKind::QKV, FusionKind::ResidualLayerNorm,
    FusionKind::Epilogue};

/// The name used by `xfc compile --fusion` and in plans: "attention",
/// "qkv", "residual-layernorm", "epilogue".
llvm::StringRef fusionKindName(FusionKind kind);
std::optional<FusionKind> parseFusionKind(llvm::StringRef name);

/// One way to form a kernel out of several spec nodes (or, for attention,
/// to compute one node as the fused kernel).
struct FusionCandidate {
  FusionKind kind;
  /// The spec nodes the kernel would compute, in program order.
  std::vector<std::string> nodes;
  /// Why it cannot be fused; empty when it can.
  std::string reason;
};

/// A spec node of unfused IR and the op computing it ("linear", ...).
struct SpecNode {
  std::string name;
  std::string op;
};

/// The spec nodes of the xf ops under `root`, in program order, each once.
/// Ops without a name are skipped.
std::vector<SpecNode> listSpecNodes(Operation *root);

/// Every candidate of every fusion under `root` (decomposed, unfused IR),
/// legal or not, in pipeline order; each (kind, nodes) once. Epilogue
/// candidates of one linear come longest first (linear+activation+add,
/// then linear+activation).
std::vector<FusionCandidate> findFusionCandidates(Operation *root);

//===----------------------------------------------------------------------===//
// Legality checks shared with the passes
//===----------------------------------------------------------------------===//

/// Why `linear` cannot join a QKV group (empty if it can): it must be
/// plain (no epilogue, [out, in] weight), have one use, and read weight and
/// bias straight from `xf.weight` arguments stored as given.
std::string qkvMemberProblem(LinearOp linear);

/// The name of `value` if it is an `xf.weight` argument of its function
/// stored as given (not transformed, not derived); null otherwise.
StringAttr plainWeightName(Value value);

/// Where the fused residual LayerNorm of `norm` (whose input is `add`) can
/// be created, or null: it must be dominated by its operands and dominate
/// the other users of the sum.
Operation *residualLayerNormInsertionPoint(LayerNormOp norm, AddOp add,
                                           DominanceInfo &dominance);

//===----------------------------------------------------------------------===//
// Plans attached to IR
//===----------------------------------------------------------------------===//

/// Module attribute: the fusions to apply, as
/// `[{fusion = "qkv", nodes = ["l0.attn.q", ...]}, ...]`. Without it every
/// fusion pass that runs fuses every legal candidate.
inline constexpr llvm::StringLiteral kFusionPlanAttrName = "xf.fusion_plan";

/// The plan attached to the module around an op, as the passes read it.
class FusionPlanFilter {
public:
  /// Reads the plan of the module enclosing `op` (no plan: allows all).
  explicit FusionPlanFilter(Operation *op);

  /// True if no plan is attached, or if the plan has a `kind` group that
  /// contains every node named by `locs`.
  bool allows(FusionKind kind, llvm::ArrayRef<Location> locs) const;

private:
  bool hasPlan = false;
  std::vector<std::pair<FusionKind, std::vector<std::string>>> groups;
};

} // namespace xf
} // namespace mlir

#endif // XF_TRANSFORMS_FUSIONCANDIDATES_H
