//===- FusionReport.h - Fusion plans: chosen, checked, reported -*- C++ -*-===//
//
// Part of xfc. A fusion plan says which spec nodes are computed together as
// one kernel. The compiler either derives it from the `--fusion` switches
// or reads a user-edited plan (`--fusion-plan FILE`, the format that
// `--explain-dir` writes), checks it against the fusion candidates of the
// model (passes/include/xf/Transforms/FusionCandidates.h) and hands it to
// the fusion passes; after the model stage it checks that the kernels
// formed are exactly the planned ones. The report (kernels with their
// nodes, FLOPs and bytes; candidates not fused, with the reason) is the
// "kernels" and "fusions" sections of `xfc compile --explain`.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_COMPILER_FUSIONREPORT_H
#define XFC_COMPILER_FUSIONREPORT_H

#include "xf/Transforms/FusionCandidates.h"
#include "xfc/Compiler/Pipelines.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace xfc {

/// One kernel of the compiled model (the `xf.kernels` record).
struct KernelSummary {
  int64_t id = 0;
  std::string name, symbol, kind;
  std::vector<std::string> nodes;
  int64_t flops = 0, bytes = 0;
  /// Attention with a mask pattern: its text, the FLOPs of the same
  /// attention dense, and the fraction of (query, key) pairs it allows.
  std::string pattern;
  int64_t denseFlops = 0;
  double allowedFraction = 1.0;
  /// How the fused kernel gathers its sparse parts, per head group
  /// ("residue(classes = 2) | none"); empty when it gathers nothing.
  std::string gather;
  /// Linformer attention: the FLOPs of the projection kernels that made
  /// its keys and values (counted with it against dense attention).
  int64_t projectionFlops = 0;
  /// Transformer-XL attention: the memory length M and the keys per query
  /// (M + L); -1 for other kernels.
  int64_t memoryLength = -1, keysPerQuery = -1;
};

/// A group of spec nodes and the fusion that forms it ("qkv", ...).
struct FusionGroup {
  std::string fusion;
  std::vector<std::string> nodes;
  std::string reason; ///< Why it is not fused (declined groups only).
};

struct FusionReport {
  /// The spec nodes of the unfused model, in program order.
  std::vector<std::string> nodes;
  /// Fusions applied, in pipeline order.
  std::vector<FusionGroup> fused;
  /// Candidates not fused, with the reason.
  std::vector<FusionGroup> notFused;
  /// The kernels formed (after the model stage).
  std::vector<KernelSummary> kernels;
  /// True when the plan came from --fusion-plan.
  bool fromFile = false;
  /// Lines the attention section of --explain adds after the kernels
  /// (e.g. which Linformer projections were generated from their seed).
  std::vector<std::string> attentionNotes;
};

/// Before the model stage: lists the candidates of `module` (as the model
/// stage will see them after FFN chunking and decomposition) and chooses
/// the fusions, from `planPath` if given (then also attaching the plan to
/// the module and setting the fusion switches of `opts` to run the passes
/// it needs) or from the switches of `opts`. False with `error` (naming
/// the plan file and JSON path) when the plan is malformed or illegal.
bool planFusions(mlir::ModuleOp module, CpuPipelineOptions &opts,
                 const std::string &planPath, FusionReport &report,
                 std::string &error);

/// The candidates and spec nodes planFusions checks a plan against: those
/// of `module` after FFN chunking and decomposition (run on a copy).
bool listFusionCandidates(mlir::ModuleOp module, const CpuPipelineOptions &opts,
                          std::vector<mlir::xf::FusionCandidate> &candidates,
                          std::vector<mlir::xf::SpecNode> &nodes,
                          std::string &error);

/// Reads the plan `text` against `candidates` and `nodes` of the model
/// named `model` (not checked when empty), as planFusions does with the
/// file's contents: fills report.fused and report.notFused, or returns false
/// with `error` (starting with `planName`, then the JSON path, what was
/// expected and what was found). Never throws.
bool parseFusionPlan(const std::string &text, const std::string &planName,
                     const std::vector<mlir::xf::FusionCandidate> &candidates,
                     const std::vector<mlir::xf::SpecNode> &nodes,
                     const std::string &model, FusionReport &report,
                     std::string &error);

/// After the model stage: reads the kernels from `xf.kernels` and checks
/// that every planned fusion formed exactly one kind of kernel and nothing
/// else was fused.
bool checkFormedKernels(mlir::ModuleOp module, FusionReport &report,
                        std::string &error);

/// The plan as JSON (format "xfc-fusion-plan", version 1): what
/// --explain-dir writes and --fusion-plan reads.
std::string fusionPlanJson(const FusionReport &report,
                           const std::string &modelName);

/// The "kernels" and "fusions" sections of --explain.
std::string describeKernels(const FusionReport &report);
/// `--explain`'s "== attention ==" section: each attention kernel with a
/// mask pattern, its density, the FLOPs it saves over dense attention and
/// whether it changes the numerics; "" when there is none.
std::string describeAttention(const FusionReport &report);

std::string describeFusions(const FusionReport &report);

} // namespace xfc

#endif // XFC_COMPILER_FUSIONREPORT_H
