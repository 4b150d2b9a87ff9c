//===- CpuFeaturesTest.cpp - Tests of the host CPU feature queries --------===//
//
// Part of xfc. Checks the feature table's coverage and that its answers are
// consistent with each other and with what this test binary itself needs.
//
//===----------------------------------------------------------------------===//

#include "xfc/Support/CpuFeatures.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace xfc {
namespace {

TEST(CpuFeatures, TableCoversCompilerFeatures) {
#if defined(__x86_64__)
  const std::vector<std::string> &names = checkableCpuFeatures();
  for (const char *name :
       {"sse",      "sse2",       "sse3",       "ssse3",    "sse4.1",
        "sse4.2",   "popcnt",     "avx",        "avx2",     "fma",
        "f16c",     "bmi",        "bmi2",       "lzcnt",    "movbe",
        "cx16",     "pclmul",     "aes",        "adx",      "sha",
        "xsave",    "avx512f",    "avx512cd",   "avx512bw", "avx512dq",
        "avx512vl", "avx512vnni", "avx512bf16", "avxvnni"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
#else
  EXPECT_TRUE(checkableCpuFeatures().empty());
#endif
}

TEST(CpuFeatures, HostAnswersAreConsistent) {
#if defined(__x86_64__)
  // Every x86-64 CPU has SSE2; this binary would not run otherwise.
  EXPECT_TRUE(hostHasCpuFeature("sse"));
  EXPECT_TRUE(hostHasCpuFeature("sse2"));
  // Feature hierarchies real CPUs respect.
  if (hostHasCpuFeature("avx2")) {
    EXPECT_TRUE(hostHasCpuFeature("avx"));
  }
  if (hostHasCpuFeature("avx512bw") || hostHasCpuFeature("avx512vl")) {
    EXPECT_TRUE(hostHasCpuFeature("avx512f"));
  }
  if (hostHasCpuFeature("avx512f")) {
    EXPECT_TRUE(hostHasCpuFeature("avx2"));
  }
  if (hostHasCpuFeature("sse4.2")) {
    EXPECT_TRUE(hostHasCpuFeature("crc32"));
  }
#endif
  EXPECT_FALSE(hostHasCpuFeature("no-such-feature"));
  EXPECT_FALSE(hostHasCpuFeature(""));
}

/// The kernel's own view of the CPU: the "flags" line of /proc/cpuinfo.
std::set<std::string> procCpuFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0)
      continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string word;
    while (words >> word)
      flags.insert(word);
    break;
  }
  return flags;
}

TEST(CpuFeatures, AgreesWithProcCpuinfo) {
#if defined(__x86_64__) && defined(__linux__)
  std::set<std::string> flags = procCpuFlags();
  if (flags.empty())
    GTEST_SKIP() << "/proc/cpuinfo has no flags line";
  // LLVM name -> Linux flag name. Linux hides flags whose register state the
  // kernel does not enable, matching the xgetbv check.
  const std::pair<const char *, const char *> pairs[] = {
      {"sse", "sse"},
      {"sse2", "sse2"},
      {"sse3", "pni"},
      {"ssse3", "ssse3"},
      {"sse4.1", "sse4_1"},
      {"sse4.2", "sse4_2"},
      {"popcnt", "popcnt"},
      {"avx", "avx"},
      {"avx2", "avx2"},
      {"fma", "fma"},
      {"f16c", "f16c"},
      {"bmi", "bmi1"},
      {"bmi2", "bmi2"},
      {"lzcnt", "abm"},
      {"movbe", "movbe"},
      {"cx16", "cx16"},
      {"pclmul", "pclmulqdq"},
      {"aes", "aes"},
      {"adx", "adx"},
      {"sha", "sha_ni"},
      {"xsave", "xsave"},
      {"avx512f", "avx512f"},
      {"avx512cd", "avx512cd"},
      {"avx512bw", "avx512bw"},
      {"avx512dq", "avx512dq"},
      {"avx512vl", "avx512vl"},
      {"avx512vnni", "avx512_vnni"},
      {"avx512bf16", "avx512_bf16"},
      {"avxvnni", "avx_vnni"}};
  for (const auto &[llvmName, linuxName] : pairs)
    EXPECT_EQ(hostHasCpuFeature(llvmName), flags.count(linuxName) == 1)
        << llvmName << " vs /proc/cpuinfo " << linuxName;
#else
  GTEST_SKIP() << "needs x86-64 Linux";
#endif
}

TEST(CpuFeatures, MissingListsUnavailableAndUnknown) {
  std::vector<std::string> available;
  for (const std::string &name : checkableCpuFeatures())
    if (hostHasCpuFeature(name))
      available.push_back(name);
  EXPECT_TRUE(missingCpuFeatures(available).empty());
  EXPECT_TRUE(missingCpuFeatures({}).empty());
  EXPECT_EQ(missingCpuFeatures({"bogus", "-avx512f"}),
            std::vector<std::string>({"bogus"}));
#if defined(__x86_64__)
  EXPECT_TRUE(missingCpuFeatures({"+sse2", "sse"}).empty());
#endif
  for (const std::string &name : checkableCpuFeatures()) {
    if (!hostHasCpuFeature(name)) {
      EXPECT_EQ(missingCpuFeatures({"sse", name}),
                std::vector<std::string>({name}));
    }
  }
}

} // namespace
} // namespace xfc
