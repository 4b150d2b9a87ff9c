//===- FusionReport.cpp - Fusion plans: chosen, checked, reported -*- C++ -*-=//
//
// Part of xfc. See FusionReport.h.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/FusionReport.h"

#include "xf/Analysis/AttentionPattern.h"
#include "xf/Dialect/XF/NodeNames.h"
#include "xf/Dialect/XF/XFOps.h"
#include "xf/Transforms/FusionCandidates.h"
#include "xf/Transforms/Passes.h"
#include "xfc/Support/JsonDepth.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace mlir;
using xf::FusionKind;

namespace xfc {
namespace {

using NodeSet = std::set<std::string>;

NodeSet asSet(const std::vector<std::string> &nodes) {
  return NodeSet(nodes.begin(), nodes.end());
}

std::string joinNodes(const std::vector<std::string> &nodes) {
  std::string text;
  for (const std::string &n : nodes)
    text += (text.empty() ? "" : ", ") + n;
  return "[" + text + "]";
}

std::string displayName(const std::vector<std::string> &nodes) {
  std::vector<llvm::StringRef> refs(nodes.begin(), nodes.end());
  return xf::groupDisplayName(refs);
}

bool switchedOn(const CpuPipelineOptions::FusionOptions &f, FusionKind kind) {
  switch (kind) {
  case FusionKind::Attention:
    return f.attention;
  case FusionKind::QKV:
    return f.qkv;
  case FusionKind::ResidualLayerNorm:
    return f.residualLayerNorm;
  case FusionKind::Epilogue:
    return f.epilogue;
  }
  return false;
}

/// The candidates of `module` as the fusion passes will see them: after
/// FFN chunking and decomposition, on a copy.
bool listCandidates(ModuleOp module, const CpuPipelineOptions &opts,
                    std::vector<xf::FusionCandidate> &candidates,
                    std::vector<xf::SpecNode> &nodes, std::string &error) {
  OwningOpRef<ModuleOp> copy(cast<ModuleOp>(module->clone()));
  PassManager pm(module.getContext());
  std::string text;
  if (opts.fusion.ffnChunk > 0)
    text += "xf-chunk-feed-forward{chunk-size=" +
            std::to_string(opts.fusion.ffnChunk) + "},";
  text += "xf-decompose-model-ops";
  std::string parseError;
  llvm::raw_string_ostream os(parseError);
  if (failed(parsePassPipeline(text, pm, os)) || failed(pm.run(*copy))) {
    error = "cannot list the fusion candidates: " + parseError;
    return false;
  }
  candidates = xf::findFusionCandidates(*copy);
  nodes = xf::listSpecNodes(*copy);
  return true;
}

/// Greedy choice from the --fusion switches, in the passes' order: a
/// candidate is fused unless switched off, illegal, or one of its nodes is
/// already in an earlier fused group.
void chooseFromSwitches(const std::vector<xf::FusionCandidate> &candidates,
                        const CpuPipelineOptions &opts, FusionReport &report) {
  std::map<std::string, size_t> owner; // node -> index into report.fused
  for (FusionKind kind : xf::kFusionKinds) {
    std::string name = xf::fusionKindName(kind).str();
    for (const xf::FusionCandidate &c : candidates) {
      if (c.kind != kind)
        continue;
      NodeSet set = asSet(c.nodes);
      // A shorter epilogue of a linear already fused, or already declined
      // for the same reason, says nothing new.
      auto covers = [&](const FusionGroup &g) {
        NodeSet s = asSet(g.nodes);
        return g.fusion == name &&
               std::includes(s.begin(), s.end(), set.begin(), set.end());
      };
      if (std::any_of(report.fused.begin(), report.fused.end(), covers))
        continue;
      std::string reason;
      if (!switchedOn(opts.fusion, kind))
        reason = "switched off (--fusion does not include " + name + ")";
      else if (!c.reason.empty())
        reason = c.reason;
      else
        for (const std::string &node : c.nodes)
          if (auto it = owner.find(node); it != owner.end()) {
            const FusionGroup &g = report.fused[it->second];
            reason = node + " is already in the " + g.fusion + " kernel " +
                     displayName(g.nodes) + " (" + g.fusion +
                     " claims its nodes first)";
            break;
          }
      if (!reason.empty()) {
        bool repeated =
            std::any_of(report.notFused.begin(), report.notFused.end(),
                        [&](const FusionGroup &g) {
                          return covers(g) && g.reason == reason;
                        });
        if (!repeated)
          report.notFused.push_back({name, c.nodes, reason});
        continue;
      }
      for (const std::string &node : c.nodes)
        owner[node] = report.fused.size();
      report.fused.push_back({name, c.nodes, ""});
    }
  }
}

/// Reads and checks a plan file against the candidates. On success fills
/// report.fused (in pipeline order) and report.notFused.
class PlanReader {
public:
  PlanReader(const std::string &path,
             const std::vector<xf::FusionCandidate> &candidates,
             const std::vector<xf::SpecNode> &nodes, const std::string &model)
      : path(path), candidates(candidates), model(model) {
    for (const xf::SpecNode &n : nodes)
      opOf[n.name] = n.op;
  }

  /// Reads the plan `text` (the file `path` names, for the messages).
  bool read(const std::string &text, FusionReport &report, std::string &error);

private:
  bool fail(const std::string &at, const std::string &message,
            std::string &error) {
    error = path + ": at " + at + ": " + message;
    return false;
  }
  static std::string found(const nlohmann::json &value) {
    std::string text = value.dump();
    if (text.size() > 60)
      text = text.substr(0, 57) + "...";
    return "found " + text;
  }
  std::string withOps(const std::vector<std::string> &group) {
    std::string text;
    for (const std::string &n : group)
      text += (text.empty() ? "" : ", ") + n + " (" + opOf[n] + ")";
    return "[" + text + "]";
  }

  std::string path;
  const std::vector<xf::FusionCandidate> &candidates;
  std::string model;
  std::map<std::string, std::string> opOf;
};

bool PlanReader::read(const std::string &text, FusionReport &report,
                      std::string &error) {
  // Before parsing: messages quote values (found()), and printing a value
  // nested thousands deep recurses as deep.
  std::string depthError;
  if (!checkJsonDepth(text.data(), text.size(), depthError)) {
    error = path + ": expected valid JSON, found " + depthError;
    return false;
  }
  nlohmann::json plan;
  try {
    plan = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/true,
                                 /*ignore_comments=*/false);
  } catch (const nlohmann::json::exception &e) {
    // A syntax error (parse_error) or a number too large for a double
    // (out_of_range); e.what() says where: "... at line L, column C: ...".
    std::string what = e.what();
    size_t close = what.find("] ");
    if (what.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      what = what.substr(close + 2);
    error = path + ": expected valid JSON, found " + what;
    return false;
  }
  if (!plan.is_object())
    return fail("$", "expected an object, " + found(plan), error);
  static const std::set<std::string> topKeys = {"format", "version", "model",
                                                "kernels", "not_fused"};
  for (auto &[key, value] : plan.items())
    if (!topKeys.count(key))
      return fail("$." + key,
                  "unknown key (expected format, version, model, kernels, "
                  "not_fused)",
                  error);
  if (!plan.contains("format") || plan["format"] != "xfc-fusion-plan")
    return fail("$.format",
                "expected \"xfc-fusion-plan\", " +
                    found(plan.value("format", nlohmann::json())),
                error);
  if (!plan.contains("version") || plan["version"] != 1)
    return fail("$.version",
                "expected 1, " + found(plan.value("version", nlohmann::json())),
                error);
  if (plan.contains("model") && !model.empty() && plan["model"] != model)
    return fail("$.model",
                "expected \"" + model + "\" (the model compiled), " +
                    found(plan["model"]),
                error);
  if (!plan.contains("kernels") || !plan["kernels"].is_array())
    return fail("$.kernels",
                "expected an array of kernels, " +
                    found(plan.value("kernels", nlohmann::json())),
                error);

  static const std::set<std::string> kernelKeys = {
      "nodes", "fusion", "id", "name", "kind", "flops", "bytes", "note"};
  std::map<std::string, std::string> placedAt; // node -> JSON path
  std::vector<std::pair<FusionKind, FusionGroup>> chosen;
  const nlohmann::json &kernels = plan["kernels"];
  for (size_t i = 0; i < kernels.size(); ++i) {
    std::string at = "$.kernels[" + std::to_string(i) + "]";
    const nlohmann::json &kernel = kernels[i];
    if (!kernel.is_object())
      return fail(at, "expected an object, " + found(kernel), error);
    for (auto &[key, value] : kernel.items())
      if (!kernelKeys.count(key))
        return fail(at + "." + key,
                    "unknown key (expected nodes and optionally fusion; id, "
                    "name, kind, flops, bytes, note are informational)",
                    error);
    if (!kernel.contains("nodes") || !kernel["nodes"].is_array() ||
        kernel["nodes"].empty())
      return fail(at + ".nodes",
                  "expected a non-empty array of spec node names, " +
                      found(kernel.value("nodes", nlohmann::json())),
                  error);
    std::vector<std::string> group;
    for (size_t j = 0; j < kernel["nodes"].size(); ++j) {
      std::string nodeAt = at + ".nodes[" + std::to_string(j) + "]";
      const nlohmann::json &node = kernel["nodes"][j];
      if (!node.is_string())
        return fail(nodeAt, "expected a spec node name, " + found(node), error);
      std::string name = node.get<std::string>();
      if (!opOf.count(name))
        return fail(nodeAt,
                    "expected a spec node of this model (the plan written by "
                    "--explain-dir lists them), " +
                        found(node),
                    error);
      if (auto it = placedAt.find(name); it != placedAt.end())
        return fail(nodeAt,
                    "node \"" + name + "\" is already in " + it->second +
                        "; every node is in exactly one kernel",
                    error);
      placedAt[name] = at;
      group.push_back(name);
    }
    std::optional<FusionKind> kind;
    std::string fusionName = "none";
    if (kernel.contains("fusion")) {
      const nlohmann::json &f = kernel["fusion"];
      if (!f.is_string() ||
          (f != "none" && !xf::parseFusionKind(f.get<std::string>())))
        return fail(at + ".fusion",
                    "expected none, attention, qkv, residual-layernorm or "
                    "epilogue, " +
                        found(f),
                    error);
      fusionName = f.get<std::string>();
      kind = xf::parseFusionKind(fusionName);
    }

    NodeSet set = asSet(group);
    if (group.size() == 1) {
      if (!kind)
        continue; // Computed alone, unfused.
      if (*kind != FusionKind::Attention)
        return fail(at + ".fusion",
                    "a kernel of one node is fused only as attention (for "
                    "an attention node) or not at all (none), found \"" +
                        fusionName + "\"",
                    error);
    }
    // The candidate forming exactly these nodes.
    const xf::FusionCandidate *match = nullptr;
    for (const xf::FusionCandidate &c : candidates)
      if (asSet(c.nodes) == set && (!kind || c.kind == *kind) &&
          (!match || (!match->reason.empty() && c.reason.empty())))
        match = &c;
    if (!match) {
      std::string related;
      for (const xf::FusionCandidate &c : candidates)
        if (c.reason.empty() && asSet(c.nodes).count(group.front()))
          related += std::string(related.empty() ? "" : "; ") +
                     xf::fusionKindName(c.kind).str() + " " +
                     joinNodes(c.nodes);
      std::string what =
          kind ? "no " + fusionName + " fusion computes " + withOps(group)
               : "no fusion computes " + withOps(group) + " as one kernel";
      return fail(at,
                  what + (related.empty()
                              ? std::string(" (") + group.front() +
                                    " can only be computed alone)"
                              : "; the fusions of " + group.front() +
                                    " are: " + related),
                  error);
    }
    if (!match->reason.empty())
      return fail(at,
                  xf::fusionKindName(match->kind).str() + " fusion of " +
                      joinNodes(group) + " is not legal: " + match->reason,
                  error);
    if (kernel.contains("fusion") && fusionName == "none")
      return fail(at + ".fusion",
                  "expected \"" + xf::fusionKindName(match->kind).str() +
                      "\" (the fusion that forms these nodes), found \"none\"",
                  error);
    chosen.push_back(
        {match->kind,
         {xf::fusionKindName(match->kind).str(), match->nodes, ""}});
  }
  for (const auto &[name, op] : opOf)
    if (!placedAt.count(name))
      return fail("$.kernels",
                  "node \"" + name + "\" (" + op +
                      ") is in no kernel; every spec node must be in exactly "
                      "one (a node computed alone is a kernel of its own)",
                  error);

  for (FusionKind kind : xf::kFusionKinds)
    for (auto &[k, group] : chosen)
      if (k == kind)
        report.fused.push_back(group);
  for (const xf::FusionCandidate &c : candidates) {
    NodeSet set = asSet(c.nodes);
    bool isFused = std::any_of(
        report.fused.begin(), report.fused.end(), [&](const FusionGroup &g) {
          NodeSet s = asSet(g.nodes);
          return g.fusion == xf::fusionKindName(c.kind) &&
                 std::includes(s.begin(), s.end(), set.begin(), set.end());
        });
    if (!isFused)
      report.notFused.push_back(
          {xf::fusionKindName(c.kind).str(), c.nodes,
           !c.reason.empty() ? c.reason
           : c.kind == FusionKind::Attention
               ? "the plan lowers it unfused (fusion \"none\")"
               : "the plan puts these nodes in separate kernels"});
  }
  return true;
}

} // namespace

bool listFusionCandidates(ModuleOp module, const CpuPipelineOptions &opts,
                          std::vector<xf::FusionCandidate> &candidates,
                          std::vector<xf::SpecNode> &nodes,
                          std::string &error) {
  return listCandidates(module, opts, candidates, nodes, error);
}

bool parseFusionPlan(const std::string &text, const std::string &planName,
                     const std::vector<xf::FusionCandidate> &candidates,
                     const std::vector<xf::SpecNode> &nodes,
                     const std::string &model, FusionReport &report,
                     std::string &error) {
  report.fused.clear();
  report.notFused.clear();
  if (!PlanReader(planName, candidates, nodes, model).read(text, report, error))
    return false;
  report.fromFile = true;
  return true;
}

bool planFusions(ModuleOp module, CpuPipelineOptions &opts,
                 const std::string &planPath, FusionReport &report,
                 std::string &error) {
  std::vector<xf::FusionCandidate> candidates;
  std::vector<xf::SpecNode> nodes;
  if (!listCandidates(module, opts, candidates, nodes, error))
    return false;
  for (const xf::SpecNode &n : nodes)
    report.nodes.push_back(n.name);
  if (planPath.empty()) {
    chooseFromSwitches(candidates, opts, report);
    return true;
  }
  std::string model;
  if (auto name = module.getName())
    model = name->str();
  std::ifstream in(planPath, std::ios::binary);
  std::ostringstream text;
  if (in)
    text << in.rdbuf();
  if (!in || in.bad()) {
    error = planPath + ": cannot read the fusion plan";
    return false;
  }
  if (!parseFusionPlan(text.str(), planPath, candidates, nodes, model, report,
                       error))
    return false;

  // The plan goes into the IR, where each fusion pass reads it; the passes
  // it needs are switched on, the others off.
  Builder b(module.getContext());
  SmallVector<Attribute> groups;
  CpuPipelineOptions::FusionOptions &f = opts.fusion;
  f.attention = f.qkv = f.residualLayerNorm = f.epilogue = false;
  for (const FusionGroup &g : report.fused) {
    SmallVector<Attribute> names;
    for (const std::string &n : g.nodes)
      names.push_back(b.getStringAttr(n));
    groups.push_back(b.getDictionaryAttr(
        {b.getNamedAttr("fusion", b.getStringAttr(g.fusion)),
         b.getNamedAttr("nodes", b.getArrayAttr(names))}));
    switch (*xf::parseFusionKind(g.fusion)) {
    case FusionKind::Attention:
      f.attention = true;
      break;
    case FusionKind::QKV:
      f.qkv = true;
      break;
    case FusionKind::ResidualLayerNorm:
      f.residualLayerNorm = true;
      break;
    case FusionKind::Epilogue:
      f.epilogue = true;
      break;
    }
  }
  module->setAttr(xf::kFusionPlanAttrName, b.getArrayAttr(groups));
  return true;
}

bool checkFormedKernels(ModuleOp module, FusionReport &report,
                        std::string &error) {
  auto kernels = module->getAttrOfType<ArrayAttr>(xf::kKernelsAttrName);
  if (!kernels) {
    error = "internal error: the model stage left no xf.kernels record";
    return false;
  }
  for (Attribute entry : kernels) {
    auto dict = cast<DictionaryAttr>(entry);
    KernelSummary k;
    k.id = dict.getAs<IntegerAttr>("id").getInt();
    k.name = dict.getAs<StringAttr>("name").str();
    k.symbol = dict.getAs<StringAttr>("symbol").str();
    k.kind = dict.getAs<StringAttr>("kind").str();
    for (Attribute node : dict.getAs<ArrayAttr>("nodes"))
      k.nodes.push_back(cast<StringAttr>(node).str());
    k.flops = dict.getAs<IntegerAttr>("flops").getInt();
    k.bytes = dict.getAs<IntegerAttr>("bytes").getInt();
    if (auto pattern = dict.getAs<StringAttr>("pattern")) {
      k.pattern = pattern.str();
      k.denseFlops = dict.getAs<IntegerAttr>("dense_flops").getInt();
      k.allowedFraction =
          dict.getAs<FloatAttr>("allowed_fraction").getValueAsDouble();
      if (auto gather = dict.getAs<StringAttr>("gather"))
        k.gather = gather.str();
      if (auto projection = dict.getAs<IntegerAttr>("projection_flops"))
        k.projectionFlops = projection.getInt();
    }
    if (auto memory = dict.getAs<IntegerAttr>("memory_length")) {
      k.memoryLength = memory.getInt();
      if (auto keys = dict.getAs<IntegerAttr>("keys_per_query"))
        k.keysPerQuery = keys.getInt();
    }
    report.kernels.push_back(std::move(k));
  }
  if (report.nodes.empty())
    return true; // Unnamed IR: nothing was planned by name.

  // What the passes formed: every xf op naming several nodes, and every
  // attention op lowered as the fused kernel.
  std::set<std::pair<std::string, NodeSet>> formed;
  module.walk([&](Operation *op) {
    if (!isa<xf::XFDialect>(op->getDialect()))
      return;
    SmallVector<StringRef> names = xf::nodeNames(op->getLoc());
    NodeSet set;
    for (StringRef n : names)
      set.insert(n.str());
    if (isa<xf::AttentionOp>(op)) {
      if (op->hasAttr(xf::kAttentionKernelAttrName))
        formed.insert({"attention", set});
    } else if (set.size() > 1) {
      formed.insert({"", set});
    }
  });
  for (const FusionGroup &g : report.fused) {
    bool attention = g.fusion == xf::fusionKindName(FusionKind::Attention);
    if (!formed.count({attention ? "attention" : "", asSet(g.nodes)})) {
      error = "the fusion plan fuses " + g.fusion + " " + joinNodes(g.nodes) +
              ", but the fusion passes did not form that kernel";
      return false;
    }
  }
  for (const auto &[tag, set] : formed) {
    bool planned = std::any_of(
        report.fused.begin(), report.fused.end(), [&](const FusionGroup &g) {
          return asSet(g.nodes) == set &&
                 (g.fusion == "attention") == (tag == "attention");
        });
    if (!planned) {
      error = "internal error: the fusion passes formed a kernel of " +
              joinNodes(std::vector<std::string>(set.begin(), set.end())) +
              " that the fusion plan does not contain";
      return false;
    }
  }
  return true;
}

std::string fusionPlanJson(const FusionReport &report,
                           const std::string &modelName) {
  using nlohmann::ordered_json;
  ordered_json plan;
  plan["format"] = "xfc-fusion-plan";
  plan["version"] = 1;
  plan["model"] = modelName;
  // A partition of the spec nodes in program order: each fused group once,
  // every other node alone. Kernels of the compiled model with the same
  // nodes add what they are and cost.
  ordered_json kernels = ordered_json::array();
  std::set<std::string> done;
  for (const std::string &node : report.nodes) {
    if (done.count(node))
      continue;
    FusionGroup entry{"none", {node}, ""};
    for (const FusionGroup &g : report.fused)
      if (std::find(g.nodes.begin(), g.nodes.end(), node) != g.nodes.end())
        entry = g;
    ordered_json k;
    const KernelSummary *kernel = nullptr;
    for (const KernelSummary &s : report.kernels)
      if (asSet(s.nodes) == asSet(entry.nodes)) {
        kernel = &s;
        break;
      }
    if (kernel) {
      k["id"] = kernel->id;
      k["name"] = kernel->name;
      k["kind"] = kernel->kind;
    } else {
      k["note"] = "computed inside a larger kernel (a chunk loop)";
    }
    k["fusion"] = entry.fusion;
    k["nodes"] = entry.nodes;
    if (kernel) {
      k["flops"] = kernel->flops;
      k["bytes"] = kernel->bytes;
    }
    for (const std::string &n : entry.nodes)
      done.insert(n);
    kernels.push_back(std::move(k));
  }
  plan["kernels"] = std::move(kernels);
  ordered_json notFused = ordered_json::array();
  for (const FusionGroup &g : report.notFused)
    notFused.push_back(
        {{"fusion", g.fusion}, {"nodes", g.nodes}, {"reason", g.reason}});
  plan["not_fused"] = std::move(notFused);
  return plan.dump(2) + "\n";
}

std::string describeKernels(const FusionReport &report) {
  std::string text;
  llvm::raw_string_ostream os(text);
  int64_t flops = 0, bytes = 0;
  for (const KernelSummary &k : report.kernels) {
    flops += k.flops;
    bytes += k.bytes;
  }
  os << "== kernels ==\n  " << report.kernels.size() << " kernels, "
     << llvm::format("%.3f", flops / 1e9) << " GFLOP, "
     << llvm::format("%.2f", bytes / 1048576.0)
     << " MiB moved at least (each operand read once, each result written "
        "once)\n";
  os << llvm::format("  %4s  %-34s %10s %10s %7s  %s\n", "id", "kind", "MFLOP",
                     "KiB", "FLOP/B", "name (spec nodes)");
  for (const KernelSummary &k : report.kernels) {
    os << llvm::format(
        "  %4lld  %-34s %10.3f %10.1f %7.1f  %s\n", (long long)k.id,
        k.kind.c_str(), k.flops / 1e6, k.bytes / 1024.0,
        k.bytes ? double(k.flops) / double(k.bytes) : 0.0, k.name.c_str());
  }
  return text;
}

std::string describeAttention(const FusionReport &report) {
  std::string text;
  llvm::raw_string_ostream os(text);
  for (const KernelSummary &k : report.kernels) {
    if (k.memoryLength >= 0) {
      // Transformer-XL: a different model, not a cheaper dense attention,
      // so there is nothing "saved" to report.
      if (text.empty())
        os << "== attention ==\n";
      os << "  " << k.id << " " << k.name
         << ": relative (Transformer-XL), memory M = " << k.memoryLength
         << ", keys per query M + L = " << k.keysPerQuery
         << llvm::format(", computes %.3f MFLOP\n", k.flops / 1e6)
         << "    exact relative attention with u/v biases (content and "
            "position terms, causal over [memory ; segment]), not an "
            "approximation\n";
      continue;
    }
    if (k.pattern.empty())
      continue;
    if (text.empty())
      os << "== attention ==\n";
    // Linformer's projections are kernels of their own but part of what
    // the family costs against dense attention.
    int64_t flops = k.flops + k.projectionFlops;
    double saved = k.denseFlops ? 1.0 - double(flops) / k.denseFlops : 0.0;
    mlir::xf::PatternGroups groups;
    std::string problem;
    mlir::xf::parsePatternText(k.pattern, groups, problem);
    const mlir::xf::PatternPart *family = mlir::xf::approximationOf(groups);
    os << "  " << k.id << " " << k.name << ": " << k.pattern << "\n    ";
    if (!family)
      os << llvm::format("allows %.1f%% of the (query, key) pairs; ",
                         100.0 * k.allowedFraction);
    os << llvm::format("computes %.3f MFLOP", flops / 1e6);
    if (k.projectionFlops)
      os << llvm::format(" (%.3f in the K and V projections)",
                         k.projectionFlops / 1e6);
    os << llvm::format(" of %.3f dense (%.1f%% saved)\n", k.denseFlops / 1e6,
                       100.0 * saved);
    if (!k.gather.empty()) {
      // The two strategies of AttentionGather.h, named by what they make
      // dense: strided rows of a residue class, or the fixed A2's summary
      // keys copied together.
      bool byClass = k.gather.find("residue") != std::string::npos;
      bool byKey = k.gather.find("summary_keys") != std::string::npos;
      os << "    gathered "
         << (byClass && byKey ? "per residue class and by summary key"
             : byKey ? "by summary key (dense tiles of compacted keys)"
                     : "per residue class (dense tiles of strided rows)")
         << ": " << k.gather << "\n";
    }
    os << "    "
       << (family ? mlir::xf::numericsNote(*family)
                  : "exact: the same result as dense attention under the "
                    "pattern's mask")
       << "\n";
  }
  for (const std::string &note : report.attentionNotes) {
    if (text.empty())
      os << "== attention ==\n";
    os << "  " << note << "\n";
  }
  return text;
}

std::string describeFusions(const FusionReport &report) {
  std::string text;
  llvm::raw_string_ostream os(text);
  std::map<std::string, int> counts;
  for (const FusionGroup &g : report.fused)
    ++counts[g.fusion];
  os << "== fusions ==\n  "
     << (report.fromFile ? "chosen by --fusion-plan: " : "chosen by --fusion: ")
     << report.fused.size() << " applied";
  std::string sep = " (";
  for (const auto &[name, n] : counts) {
    os << sep << name << " " << n;
    sep = ", ";
  }
  os << (counts.empty() ? "" : ")") << ", " << report.notFused.size()
     << " candidates not fused\n";
  for (const FusionGroup &g : report.notFused)
    os << "  not fused: " << g.fusion << " " << displayName(g.nodes) << "\n"
       << "    because " << g.reason << "\n";
  return text;
}

} // namespace xfc
