//===- MemoryPlanReport.h - The memory plan of a compilation ----*- C++ -*-===//
//
// Part of xfc. xf-plan-memory leaves its plan on the module as the
// `xf.memory_plan` attribute; this reads it back into the planner's own
// form, prints the "memory plan" section of `xfc compile --explain` and
// writes memory-plan.json and memory-plan.svg for --explain-dir.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_COMPILER_MEMORYPLANREPORT_H
#define XFC_COMPILER_MEMORYPLANREPORT_H

#include "xf/Analysis/MemoryPlan.h"

#include <string>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace xfc {

/// Reads `xf.memory_plan` from `module` into `out`. False with `error` if
/// the attribute is missing or malformed.
bool readMemoryPlan(mlir::ModuleOp module, MemoryPlan &out,
                    std::string &error);

/// The "memory plan" section of --explain: arena, naive sum, lower bound,
/// their ratios, and the largest buffers.
std::string describeMemoryPlan(const MemoryPlan &plan);

/// Writes `dir`/memory-plan.json and `dir`/memory-plan.svg (creating `dir`).
bool writeMemoryPlanFiles(const MemoryPlan &plan, const std::string &dir,
                          std::string &error);

} // namespace xfc

#endif // XFC_COMPILER_MEMORYPLANREPORT_H
