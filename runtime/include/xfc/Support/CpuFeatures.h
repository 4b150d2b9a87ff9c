//===- CpuFeatures.h - CPU features xfc can check at load time --*- C++ -*-===//
//
// Part of xfc. The compiler enables only CPU features this file can check,
// and records them in the artifact's manifest; the runtime checks them (with
// cpuid) before loading generated code, so an artifact built for a newer CPU
// is refused with a message instead of dying with an illegal instruction.
// Names are LLVM's x86 target-feature names.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_SUPPORT_CPUFEATURES_H
#define XFC_SUPPORT_CPUFEATURES_H

#include <string>
#include <vector>

namespace xfc {

/// Every feature name hostHasCpuFeature can answer for, e.g. "avx2", "fma",
/// "sse4.2", "avx512f" (LLVM's spelling).
const std::vector<std::string> &checkableCpuFeatures();

/// True if this CPU (and the OS, for AVX/AVX-512 register state) supports
/// `name`. False for names not in checkableCpuFeatures().
bool hostHasCpuFeature(const std::string &name);

/// The features of `required` this CPU lacks (unknown names included).
std::vector<std::string>
missingCpuFeatures(const std::vector<std::string> &required);

} // namespace xfc

#endif // XFC_SUPPORT_CPUFEATURES_H
