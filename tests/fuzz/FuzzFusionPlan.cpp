//===- FuzzFusionPlan.cpp - Fuzz target: the --fusion-plan reader ---------===//
//
// Part of xfc. The input is the text of a fusion plan (the JSON that
// `xfc compile --explain-dir` writes and `--fusion-plan FILE` reads), checked
// by parseFusionPlan against the fusion candidates of a fixed tiny model
// (the safetensors target's, FuzzSafetensorsSpec.h: an encoder with every
// kind of fusion). The model is built and its candidates listed once per
// process; each input is only parsed and checked, so the target runs fast.
//
// The contract checked: a rejected plan has a message that starts with the
// plan's name and goes on to say where and what; an accepted plan fuses only
// legal candidates of this model (the kind and the exact nodes of a
// candidate without a reason against it), each node in at most one fused
// group, and lists as not fused only the model's candidates.
//
//===----------------------------------------------------------------------===//
#include "FuzzSafetensorsSpec.h"
#include "FuzzTarget.h"
#ifdef XFC_LIBFUZZER
#include "JsonMutator.h"
#endif

#include "xfc/Compiler/FusionReport.h"
#include "xfc/Compiler/Pipelines.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Frontend/SpecParser.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include <memory>
#include <set>
#include <string>

namespace {

constexpr const char *kTarget = "fuzz_fusion_plan";
constexpr const char *kPlanName = "plan.json";

/// The model, its candidates and spec nodes, made on first use.
struct Model {
  std::unique_ptr<mlir::MLIRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::string name;
  std::vector<mlir::xf::FusionCandidate> candidates;
  std::vector<mlir::xf::SpecNode> nodes;

  static const Model &get() {
    static const Model model = make();
    return model;
  }

private:
  static Model make() {
    Model m;
    xfc::ModelSpec spec;
    xfc::SpecError specError;
    if (!xfc::parseModelSpec(xfc::fuzz::kSafetensorsSpecJson, "", spec,
                             specError))
      xfc::fuzz::fail(kTarget, "the model spec: " + specError.message());
    xfc::ShapeOptions shapes;
    shapes.batch = 1;
    shapes.seqLen = spec.maxSeqLen;
    mlir::DialectRegistry registry;
    xfc::registerXFCDialects(registry);
    xfc::registerXFCPassesAndPipelines();
    m.context = std::make_unique<mlir::MLIRContext>(
        registry, mlir::MLIRContext::Threading::DISABLED);
    m.context->loadAllAvailableDialects();
    m.module = xfc::buildModelModule(*m.context, spec, shapes);
    m.name = spec.name;
    std::string error;
    if (!m.module ||
        !xfc::listFusionCandidates(*m.module, xfc::CpuPipelineOptions(),
                                   m.candidates, m.nodes, error))
      xfc::fuzz::fail(kTarget, "listing the candidates: " + error);
    return m;
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using xfc::fuzz::check;
  const Model &model = Model::get();
  const std::string text(reinterpret_cast<const char *>(data), size);
  xfc::FusionReport report;
  std::string error;
  if (!xfc::parseFusionPlan(text, kPlanName, model.candidates, model.nodes,
                            model.name, report, error)) {
    xfc::fuzz::note(kTarget, "rejected: " + error);
    const std::string prefix = std::string(kPlanName) + ": ";
    check(error.rfind(prefix, 0) == 0 && error.size() > prefix.size() + 8,
          kTarget, "a message that does not name the plan: " + error);
    return 0;
  }
  xfc::fuzz::note(kTarget, "accepted with " +
                               std::to_string(report.fused.size()) +
                               " fusions");
  std::set<std::string> fusedNodes;
  for (const xfc::FusionGroup &group : report.fused) {
    std::set<std::string> nodes(group.nodes.begin(), group.nodes.end());
    bool legal = false;
    for (const mlir::xf::FusionCandidate &c : model.candidates)
      legal |= c.reason.empty() &&
               mlir::xf::fusionKindName(c.kind) == group.fusion &&
               std::set<std::string>(c.nodes.begin(), c.nodes.end()) == nodes;
    check(legal, kTarget,
          "fused a group that is no legal candidate: " + group.fusion);
    for (const std::string &node : group.nodes)
      check(fusedNodes.insert(node).second, kTarget,
            "node " + node + " fused twice");
  }
  for (const xfc::FusionGroup &group : report.notFused) {
    bool known = false;
    for (const mlir::xf::FusionCandidate &c : model.candidates)
      known |= c.nodes == group.nodes;
    check(known, kTarget, "a not-fused group that is no candidate");
  }
  return 0;
}

#ifdef XFC_LIBFUZZER
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned seed) {
  return xfc::fuzz::mutateInput(data, size, maxSize, seed,
                                xfc::fuzz::InputFormat::Json);
}
#endif
