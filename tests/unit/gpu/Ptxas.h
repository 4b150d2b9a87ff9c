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
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
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

/// What `ptxas -v` reports for one kernel.
struct KernelResources {
  int registers = -1;
  int stackBytes = -1, spillStoreBytes = -1, spillLoadBytes = -1;
  int sharedBytes = 0;
};

/// The resources of every entry of `ptx` as `ptxas -v -arch=chip` reports
/// them, by kernel name; empty (with a test failure naming `what`) when
/// ptxas fails.
inline std::map<std::string, KernelResources>
ptxasResources(const std::string &ptxas, const std::string &ptx,
               const std::string &chip, const std::string &what) {
  std::map<std::string, KernelResources> result;
  llvm::SmallString<128> ptxPath, cubin, log;
  if (llvm::sys::fs::createTemporaryFile("xfc-test", "ptx", ptxPath) ||
      llvm::sys::fs::createTemporaryFile("xfc-test", "cubin", cubin) ||
      llvm::sys::fs::createTemporaryFile("xfc-test", "log", log)) {
    ADD_FAILURE() << "cannot create temporary files for ptxas";
    return result;
  }
  {
    std::error_code ec;
    llvm::raw_fd_ostream file(ptxPath, ec);
    file << ptx;
  }
  std::string arch = "-arch=" + chip;
  llvm::SmallVector<llvm::StringRef> args{ptxas, "-v",  arch,
                                          "-o",  cubin, ptxPath};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, log.str(),
                                                log.str()};
  int status = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, redirects,
                                         /*SecondsToWait=*/300);
  std::string text;
  if (auto buffer = llvm::MemoryBuffer::getFile(log))
    text = (*buffer)->getBuffer().str();
  for (llvm::StringRef path : {ptxPath.str(), cubin.str(), log.str()})
    llvm::sys::fs::remove(path);
  EXPECT_EQ(status, 0) << what << " for " << chip << ": " << text;
  if (status != 0)
    return result;
  // "Compiling entry function 'k' for 'sm_90'", then "N bytes stack frame,
  // N bytes spill stores, N bytes spill loads" and "Used N registers, ...
  // N bytes smem".
  std::istringstream lines(text);
  std::string line, kernel;
  while (std::getline(lines, line)) {
    size_t at = line.find("Compiling entry function '");
    if (at != std::string::npos) {
      size_t begin = at + 26;
      kernel = line.substr(begin, line.find('\'', begin) - begin);
      continue;
    }
    if (kernel.empty())
      continue;
    KernelResources &r = result[kernel];
    if (line.find("bytes stack frame") != std::string::npos)
      std::sscanf(line.c_str(),
                  " %d bytes stack frame, %d bytes spill stores, %d bytes "
                  "spill loads",
                  &r.stackBytes, &r.spillStoreBytes, &r.spillLoadBytes);
    at = line.find("Used ");
    if (at != std::string::npos) {
      std::sscanf(line.c_str() + at, "Used %d registers", &r.registers);
      size_t smem = line.find(" bytes smem");
      if (smem != std::string::npos) {
        size_t begin = line.rfind(' ', smem - 1) + 1;
        r.sharedBytes = std::atoi(line.c_str() + begin);
      }
    }
  }
  return result;
}

} // namespace xfc::test

#endif // XFC_TESTS_UNIT_GPU_PTXAS_H
