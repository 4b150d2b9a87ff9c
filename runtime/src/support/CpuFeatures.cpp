//===- CpuFeatures.cpp - CPU features xfc can check at load time ----------===//
//
// Part of xfc. This file implements the host CPU feature queries declared in
// xfc/Support/CpuFeatures.h: a table from LLVM x86 target-feature names to
// cpuid leaf/register/bit, plus the XCR0 checks (xgetbv) that tell whether
// the operating system saves the AVX and AVX-512 register state. A CPU can
// report AVX in cpuid while the OS has not enabled it, and running AVX code
// then faults just like on a CPU without it. On other architectures nothing
// is checkable, so every query answers false.
//
//===----------------------------------------------------------------------===//

#include "xfc/Support/CpuFeatures.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define XFC_X86 1
#endif

#include <cstdint>

namespace xfc {

namespace {

/// The cpuid output register a feature bit lives in.
enum class Reg { Eax, Ebx, Ecx, Edx };

/// Which register state the OS must have enabled for a feature to be usable.
enum class OsState {
  None, ///< Plain integer/SSE features (SSE state is always enabled on x86-64).
  Avx,  ///< YMM state (XCR0 bits 1 and 2).
  Avx512 ///< YMM plus opmask and ZMM state (XCR0 bits 1, 2, 5, 6, 7).
};

/// One checkable feature: cpuid(leaf, subleaf).reg bit `bit`.
struct FeatureBit {
  const char *name;
  uint32_t leaf;
  uint32_t subleaf;
  Reg reg;
  unsigned bit;
  OsState state;
};

// Bits from the Intel SDM Vol. 2A, CPUID instruction, and AMD's APM Vol. 3;
// names are those of llvm/lib/Target/X86/X86.td.
constexpr FeatureBit kFeatures[] = {
    // Leaf 1, EDX.
    {"x87", 1, 0, Reg::Edx, 0, OsState::None},
    {"cx8", 1, 0, Reg::Edx, 8, OsState::None},
    {"cmov", 1, 0, Reg::Edx, 15, OsState::None},
    {"mmx", 1, 0, Reg::Edx, 23, OsState::None},
    {"fxsr", 1, 0, Reg::Edx, 24, OsState::None},
    {"sse", 1, 0, Reg::Edx, 25, OsState::None},
    {"sse2", 1, 0, Reg::Edx, 26, OsState::None},
    // Leaf 1, ECX.
    {"sse3", 1, 0, Reg::Ecx, 0, OsState::None},
    {"pclmul", 1, 0, Reg::Ecx, 1, OsState::None},
    {"ssse3", 1, 0, Reg::Ecx, 9, OsState::None},
    {"fma", 1, 0, Reg::Ecx, 12, OsState::Avx},
    {"cx16", 1, 0, Reg::Ecx, 13, OsState::None},
    {"sse4.1", 1, 0, Reg::Ecx, 19, OsState::None},
    {"sse4.2", 1, 0, Reg::Ecx, 20, OsState::None},
    // LLVM split crc32 out of sse4.2 but it is the same cpuid bit.
    {"crc32", 1, 0, Reg::Ecx, 20, OsState::None},
    {"movbe", 1, 0, Reg::Ecx, 22, OsState::None},
    {"popcnt", 1, 0, Reg::Ecx, 23, OsState::None},
    {"aes", 1, 0, Reg::Ecx, 25, OsState::None},
    {"xsave", 1, 0, Reg::Ecx, 26, OsState::None},
    {"avx", 1, 0, Reg::Ecx, 28, OsState::Avx},
    {"f16c", 1, 0, Reg::Ecx, 29, OsState::Avx},
    {"rdrnd", 1, 0, Reg::Ecx, 30, OsState::None},
    // Leaf 7 subleaf 0, EBX.
    {"fsgsbase", 7, 0, Reg::Ebx, 0, OsState::None},
    {"bmi", 7, 0, Reg::Ebx, 3, OsState::None},
    {"avx2", 7, 0, Reg::Ebx, 5, OsState::Avx},
    {"bmi2", 7, 0, Reg::Ebx, 8, OsState::None},
    {"invpcid", 7, 0, Reg::Ebx, 10, OsState::None},
    {"avx512f", 7, 0, Reg::Ebx, 16, OsState::Avx512},
    {"avx512dq", 7, 0, Reg::Ebx, 17, OsState::Avx512},
    {"rdseed", 7, 0, Reg::Ebx, 18, OsState::None},
    {"adx", 7, 0, Reg::Ebx, 19, OsState::None},
    {"avx512ifma", 7, 0, Reg::Ebx, 21, OsState::Avx512},
    {"clflushopt", 7, 0, Reg::Ebx, 23, OsState::None},
    {"clwb", 7, 0, Reg::Ebx, 24, OsState::None},
    {"avx512cd", 7, 0, Reg::Ebx, 28, OsState::Avx512},
    {"sha", 7, 0, Reg::Ebx, 29, OsState::None},
    {"avx512bw", 7, 0, Reg::Ebx, 30, OsState::Avx512},
    {"avx512vl", 7, 0, Reg::Ebx, 31, OsState::Avx512},
    // Leaf 7 subleaf 0, ECX.
    {"avx512vbmi", 7, 0, Reg::Ecx, 1, OsState::Avx512},
    {"avx512vbmi2", 7, 0, Reg::Ecx, 6, OsState::Avx512},
    {"gfni", 7, 0, Reg::Ecx, 8, OsState::None},
    {"vaes", 7, 0, Reg::Ecx, 9, OsState::Avx},
    {"vpclmulqdq", 7, 0, Reg::Ecx, 10, OsState::Avx},
    {"avx512vnni", 7, 0, Reg::Ecx, 11, OsState::Avx512},
    {"avx512bitalg", 7, 0, Reg::Ecx, 12, OsState::Avx512},
    {"avx512vpopcntdq", 7, 0, Reg::Ecx, 14, OsState::Avx512},
    // Leaf 7 subleaf 0, EDX.
    {"avx512fp16", 7, 0, Reg::Edx, 23, OsState::Avx512},
    // Leaf 7 subleaf 1, EAX.
    {"avxvnni", 7, 1, Reg::Eax, 4, OsState::Avx},
    {"avx512bf16", 7, 1, Reg::Eax, 5, OsState::Avx512},
    // Leaf 0xD subleaf 1, EAX.
    {"xsaveopt", 0xD, 1, Reg::Eax, 0, OsState::None},
    {"xsavec", 0xD, 1, Reg::Eax, 1, OsState::None},
    {"xsaves", 0xD, 1, Reg::Eax, 3, OsState::None},
    // Leaf 0x80000001, ECX.
    {"sahf", 0x80000001, 0, Reg::Ecx, 0, OsState::None},
    {"lzcnt", 0x80000001, 0, Reg::Ecx, 5, OsState::None},
    {"sse4a", 0x80000001, 0, Reg::Ecx, 6, OsState::None},
    {"prfchw", 0x80000001, 0, Reg::Ecx, 8, OsState::None},
};

#ifdef XFC_X86
/// cpuid(leaf, subleaf), all zero when the leaf is beyond the CPU's maximum
/// (a raw cpuid would then return data of the highest basic leaf instead).
void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
  regs[0] = regs[1] = regs[2] = regs[3] = 0;
  if (!__get_cpuid_count(leaf, subleaf, &regs[0], &regs[1], &regs[2], &regs[3]))
    regs[0] = regs[1] = regs[2] = regs[3] = 0;
}

/// XCR0, or 0 if the OS has not enabled xgetbv (CPUID.1:ECX.OSXSAVE).
uint64_t readXcr0() {
  uint32_t regs[4];
  cpuid(1, 0, regs);
  if (!(regs[2] & (1u << 27)))
    return 0;
  uint32_t eax = 0, edx = 0;
  // Encoded as bytes so no -mxsave is needed to build this file.
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

bool osSupports(OsState state) {
  if (state == OsState::None)
    return true;
  static const uint64_t xcr0 = readXcr0();
  constexpr uint64_t avxMask = 0x6;     // SSE and YMM state.
  constexpr uint64_t avx512Mask = 0xE6; // Plus opmask, ZMM_Hi256, Hi16_ZMM.
  uint64_t mask = state == OsState::Avx ? avxMask : avx512Mask;
  return (xcr0 & mask) == mask;
}
#endif

} // namespace

const std::vector<std::string> &checkableCpuFeatures() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
#ifdef XFC_X86
    for (const FeatureBit &feature : kFeatures)
      out.push_back(feature.name);
#endif
    return out;
  }();
  return names;
}

bool hostHasCpuFeature(const std::string &name) {
#ifdef XFC_X86
  for (const FeatureBit &feature : kFeatures) {
    if (name != feature.name)
      continue;
    uint32_t regs[4];
    cpuid(feature.leaf, feature.subleaf, regs);
    uint32_t value = regs[static_cast<int>(feature.reg)];
    return (value >> feature.bit & 1u) && osSupports(feature.state);
  }
#else
  (void)name;
  (void)kFeatures;
#endif
  return false;
}

std::vector<std::string>
missingCpuFeatures(const std::vector<std::string> &required) {
  std::vector<std::string> missing;
  for (const std::string &name : required) {
    // Tolerate LLVM's "+feature"/"-feature" spelling: a disabled feature is
    // never required.
    if (!name.empty() && name[0] == '-')
      continue;
    std::string plain = !name.empty() && name[0] == '+' ? name.substr(1) : name;
    if (!hostHasCpuFeature(plain))
      missing.push_back(name);
  }
  return missing;
}

} // namespace xfc
