//===- MemoryPlanReport.cpp - The memory plan of a compilation ------------===//
//
// Part of xfc. Implements MemoryPlanReport.h.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/MemoryPlanReport.h"

#include "xfc/Compiler/Artifact.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/FileSystem.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace xfc {
namespace {

bool getInt(mlir::DictionaryAttr dict, const char *key, int64_t &out) {
  auto value = llvm::dyn_cast_or_null<mlir::IntegerAttr>(dict.get(key));
  if (!value)
    return false;
  out = value.getInt();
  return true;
}

std::string mib(uint64_t bytes) {
  char text[64];
  std::snprintf(text, sizeof(text), "%12llu bytes (%8.2f MiB)",
                static_cast<unsigned long long>(bytes), bytes / 1048576.0);
  return text;
}

} // namespace

bool readMemoryPlan(mlir::ModuleOp module, MemoryPlan &out,
                    std::string &error) {
  auto dict =
      llvm::dyn_cast_or_null<mlir::DictionaryAttr>(module->getAttr("xf.memory_plan"));
  auto fail = [&](const std::string &what) {
    error = "the module's xf.memory_plan " + what +
            " (was xf-plan-memory run?)";
    return false;
  };
  if (!dict)
    return fail("is missing");
  int64_t arena, naive, lower;
  auto buffers = llvm::dyn_cast_or_null<mlir::ArrayAttr>(dict.get("buffers"));
  if (!getInt(dict, "arena_bytes", arena) ||
      !getInt(dict, "naive_bytes", naive) ||
      !getInt(dict, "lower_bound_bytes", lower) || !buffers)
    return fail("lacks arena_bytes, naive_bytes, lower_bound_bytes or buffers");
  out = MemoryPlan();
  out.arenaBytes = arena;
  out.naiveBytes = naive;
  out.lowerBoundBytes = lower;
  for (mlir::Attribute attr : buffers) {
    auto entry = llvm::dyn_cast<mlir::DictionaryAttr>(attr);
    PlanBuffer buffer;
    int64_t size, alignment, offset;
    if (!entry || !getInt(entry, "size", size) ||
        !getInt(entry, "alignment", alignment) ||
        !getInt(entry, "first_use", buffer.firstUse) ||
        !getInt(entry, "last_use", buffer.lastUse) ||
        !getInt(entry, "offset", offset))
      return fail("has a malformed buffer entry");
    buffer.size = size;
    buffer.alignment = alignment;
    if (auto name = llvm::dyn_cast_or_null<mlir::StringAttr>(entry.get("name")))
      buffer.name = name.str();
    bool inPlace = getInt(entry, "in_place_of", buffer.inPlaceOf);
    out.buffers.push_back(buffer);
    out.offsets.push_back(offset);
    out.placedInPlace.push_back(inPlace);
  }
  return true;
}

std::string describeMemoryPlan(const MemoryPlan &plan) {
  std::string text = "== memory plan ==\n";
  size_t inPlace = std::count(plan.placedInPlace.begin(),
                              plan.placedInPlace.end(), true);
  text += "  buffers planned:   " + std::to_string(plan.buffers.size()) +
          " (" + std::to_string(inPlace) + " written in place)\n";
  text += "  arena:           " + mib(plan.arenaBytes) + "\n";
  text += "  lower bound:     " + mib(plan.lowerBoundBytes) +
          "  (largest total of buffers alive together)\n";
  text += "  naive sum:       " + mib(plan.naiveBytes) +
          "  (one allocation per buffer)\n";
  char ratios[160];
  std::snprintf(ratios, sizeof(ratios),
                "  arena / lower bound: %.3f   arena / naive: %.3f\n",
                plan.lowerBoundBytes
                    ? double(plan.arenaBytes) / plan.lowerBoundBytes
                    : 1.0,
                plan.naiveBytes ? double(plan.arenaBytes) / plan.naiveBytes
                                : 1.0);
  text += ratios;
  // The largest buffers say what dominates the arena.
  std::vector<size_t> order(plan.buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return plan.buffers[a].size > plan.buffers[b].size;
  });
  if (!order.empty())
    text += "  largest buffers (size, offset, live positions):\n";
  for (size_t k = 0; k < std::min<size_t>(order.size(), 5); ++k) {
    const PlanBuffer &b = plan.buffers[order[k]];
    char line[256];
    std::snprintf(line, sizeof(line), "    %-32s %10llu  @%-10llu [%lld, %lld]\n",
                  b.name.c_str(), static_cast<unsigned long long>(b.size),
                  static_cast<unsigned long long>(plan.offsets[order[k]]),
                  static_cast<long long>(b.firstUse),
                  static_cast<long long>(b.lastUse));
    text += line;
  }
  return text;
}

bool writeMemoryPlanFiles(const MemoryPlan &plan, const std::string &dir,
                          std::string &error) {
  if (std::error_code ec = llvm::sys::fs::create_directories(dir)) {
    error = "cannot create " + dir + ": " + ec.message();
    return false;
  }
  return writeTextFile(dir + "/memory-plan.json", memoryPlanToJson(plan), error) &&
         writeTextFile(dir + "/memory-plan.svg", memoryPlanToSvg(plan), error);
}

} // namespace xfc
