//===- Codegen.h - LLVM dialect to a native shared library ------*- C++ -*-===//
//
// Part of xfc. The last step of compilation: translate the LLVM-dialect
// module to LLVM IR, optimize it for the chosen CPU, emit an object file
// with LLVM's target machine and link it into a shared library with lld.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_COMPILER_CODEGEN_H
#define XFC_COMPILER_CODEGEN_H

#include <string>
#include <vector>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace xfc {

/// What the generated code may assume about the CPU it runs on.
struct TargetDescription {
  std::string triple;
  std::string cpu;     ///< Baseline ISA level, e.g. "x86-64".
  std::string tuneCpu; ///< Scheduling model only, e.g. "znver3".
  /// Every enabled feature, LLVM names; all checkable by the runtime.
  std::vector<std::string> features;
};

/// Chooses the target for `cpuOption`: "native" (this machine: every
/// feature it has that the runtime can check), or an x86-64 level
/// ("x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"). False with `error`
/// for an unknown option.
bool selectTarget(const std::string &cpuOption, TargetDescription &out,
                  std::string &error);

/// Floats per vector register the target has: 16 with AVX-512F, 8 with
/// AVX2 and FMA, 4 otherwise (SSE, part of every x86-64).
int64_t vectorWidthFor(const TargetDescription &target);

/// Translates `module` (LLVM dialect only), optimizes it at O3 for
/// `target`, writes `objectPath` and links it into `libraryPath`. If
/// `llvmIRPath` is non-empty, the optimized LLVM IR is written there too.
bool emitSharedLibrary(mlir::ModuleOp module, const TargetDescription &target,
                       const std::string &objectPath,
                       const std::string &libraryPath,
                       const std::string &llvmIRPath, std::string &error);

/// The first half of emitSharedLibrary: translates `module`, optimizes it
/// and writes the object file `objectPath` (and the optimized IR to
/// `llvmIRPath` if non-empty).
bool emitObjectFile(mlir::ModuleOp module, const TargetDescription &target,
                    const std::string &objectPath,
                    const std::string &llvmIRPath, std::string &error);

/// The second half: links `objectPaths` into the shared library
/// `libraryPath` with lld. An artifact with several shape buckets links one
/// object per bucket into one library (docs/artifact.md, "buckets").
bool linkSharedLibrary(const std::vector<std::string> &objectPaths,
                       const std::string &libraryPath, std::string &error);

} // namespace xfc

#endif // XFC_COMPILER_CODEGEN_H
