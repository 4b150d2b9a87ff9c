//===- Compiler.h - Spec to artifact ----------------------------*- C++ -*-===//
//
// Part of xfc. The compiler driver behind `xfc compile`: parse and validate
// the spec, load the weights, build the xf IR, run the pipeline stages,
// generate native code and write the artifact folder atomically.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_COMPILER_COMPILER_H
#define XFC_COMPILER_COMPILER_H

#include "xfc/Compiler/Pipelines.h"
#include "xfc/Frontend/ModelSpec.h"

#include <string>
#include <utility>
#include <vector>

namespace xfc {

/// What to compile and how.
struct CompileRequest {
  std::string specPath;
  /// seqLen 0 means the default: min(128, max_seq_len) of the spec.
  ShapeOptions shapes;
  std::string outputDir;
  /// Replace an existing output folder (never done silently).
  bool force = false;
  /// "native" or an x86-64 level; see selectTarget.
  std::string cpu = "native";
  CpuPipelineOptions pipeline;
  /// If set, the IR after each stage and the optimized LLVM IR are written
  /// into this folder (created if needed) for inspection.
  std::string dumpIRDir;
};

/// Where the compile time went, in seconds per step, in order.
struct CompileReport {
  std::vector<std::pair<std::string, double>> steps;
  double totalSeconds = 0;
  uint64_t weightBytes = 0;
  std::string artifactDir;
};

/// Compiles `request.specPath` into `request.outputDir`. On failure returns
/// false with a message in `error` and leaves no output folder behind (an
/// existing one is untouched).
bool compileModel(const CompileRequest &request, CompileReport &report,
                  std::string &error);

} // namespace xfc

#endif // XFC_COMPILER_COMPILER_H
