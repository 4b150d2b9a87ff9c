//===- Ptxas.h - Assembling generated PTX in the GPU tests ------*- C++ -*-===//
//
// Part of xfc. The GPU code generation tests have the CUDA toolkit's ptxas
// assemble what they generate. Without ptxas the assembly is skipped with
// the reason printed, unless XFC_REQUIRE_PTXAS is set (.ci/run sets it: CI
// machines have the toolkit), which turns the skip into a failure.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_UNIT_GPU_PTXAS_H
#define XFC_TESTS_UNIT_GPU_PTXAS_H

#include "xfc/Compiler/GpuCodegen.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace xfc::test {

/// ptxas, or "" after printing why the assembly is skipped (a failure
/// when XFC_REQUIRE_PTXAS is set).
inline std::string ptxasOrSkipReason() {
  std::string ptxas = xfc::findPtxas();
  if (ptxas.empty()) {
    const char *required = std::getenv("XFC_REQUIRE_PTXAS");
    if (required && *required && std::string(required) != "0")
      ADD_FAILURE() << "ptxas not found (XFC_PTXAS, "
                       "/usr/local/cuda/bin/ptxas, PATH) and "
                       "XFC_REQUIRE_PTXAS is set";
    else
      std::printf("ptxas not found (XFC_PTXAS, /usr/local/cuda/bin/ptxas, "
                  "PATH): the PTX is not assembled\n");
  }
  return ptxas;
}

/// Has `ptxas` assemble `ptx` for `chip` into a temporary cubin: a test
/// failure naming `what` and ptxas's messages unless it succeeds with a
/// non-empty cubin.
inline void expectAssembles(const std::string &ptxas, const std::string &ptx,
                            const std::string &chip, const std::string &what) {
  llvm::SmallString<128> cubin;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("xfc-test", "cubin", cubin));
  std::string error;
  EXPECT_TRUE(xfc::assemblePtx(ptxas, ptx, chip, cubin.str().str(), error))
      << what << " for " << chip << ": " << error;
  uint64_t size = 0;
  EXPECT_FALSE(llvm::sys::fs::file_size(cubin, size));
  EXPECT_GT(size, 0u) << what << " for " << chip;
  llvm::sys::fs::remove(cubin);
}

} // namespace xfc::test

#endif // XFC_TESTS_UNIT_GPU_PTXAS_H
