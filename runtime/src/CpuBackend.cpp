//===- CpuBackend.cpp - The host shared-library backend -------------------===//
//
// Part of xfc. This file implements the CPU backend: the artifact's library
// is loaded with dlopen(RTLD_NOW | RTLD_LOCAL) and its entry point found with
// dlsym. RTLD_NOW makes a library with unresolved symbols fail here, at open
// time with a message, instead of at the first call; RTLD_LOCAL keeps two
// artifacts loaded in one process from resolving each other's symbols.
//
//===----------------------------------------------------------------------===//

#include "CpuBackend.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <new>

namespace xfc {

namespace {

/// The ABI of every artifact's entry point (docs/artifact.md).
using EntryFn = void (*)(void **args);

/// What the CPU backend keeps per loaded artifact.
struct CpuHandle {
  void *library;
  std::string libraryPath; ///< For messages of `resolve`.
  EntryFn entry;
  /// The OpenMP runtime the library's parallel kernels run on (LLVM's
  /// libomp, a dependency of the library), or null when the library has no
  /// parallel kernels. Looked up through the library's handle, so another
  /// OpenMP runtime already in the process (libgomp after `import torch`)
  /// is never the one asked.
  void (*ompSetNumThreads)(int);
  int (*ompGetMaxThreads)();
};

/// dlerror()'s message, or `fallback` if there is none. dlerror's buffer is
/// thread-local in glibc, so concurrent opens do not mix messages.
std::string dlMessage(const char *fallback) {
  const char *message = dlerror();
  return message ? message : fallback;
}

/// Compares the library's `xfc_signature` ([N, bytes_0, ..., bytes_N-1],
/// emitted by xf-export-signature) with what the manifest describes. A
/// mismatch would make the generated code read or write out of bounds.
bool checkSignature(void *library, const std::string &libraryPath,
                    const std::vector<EntryArgument> &arguments,
                    std::string &error,
                    const std::string &symbol = "xfc_signature") {
  dlerror();
  const auto *signature =
      static_cast<const int64_t *>(dlsym(library, symbol.c_str()));
  if (!signature) {
    error = "the compiled library " + libraryPath + " has no " + symbol +
            " (it was not produced by this xfc's pipeline)";
    return false;
  }
  if (signature[0] != static_cast<int64_t>(arguments.size())) {
    error = "the compiled library takes " + std::to_string(signature[0]) +
            " tensors, but the manifest lists " +
            std::to_string(arguments.size()) +
            " (inputs, weights and outputs): the manifest does not belong "
            "to this library";
    return false;
  }
  for (size_t i = 0; i < arguments.size(); ++i) {
    if (signature[1 + i] != static_cast<int64_t>(arguments[i].sizeBytes)) {
      error = "tensor " + std::to_string(i) + " ('" + arguments[i].name +
              "'): the compiled library expects " +
              std::to_string(signature[1 + i]) +
              " bytes, the manifest describes " +
              std::to_string(arguments[i].sizeBytes) +
              ": the manifest does not belong to this library";
      return false;
    }
  }
  return true;
}

xfc_status_code cpuOpen(const std::string &libraryPath,
                        const std::string &entrySymbol,
                        const std::vector<EntryArgument> &arguments,
                        void **handle, std::string &error) {
  struct stat info;
  if (stat(libraryPath.c_str(), &info) != 0) {
    error = "compiled library " + libraryPath + " not found";
    return XFC_NOT_FOUND;
  }
  // dlopen treats names without a slash as library search names; keep the
  // given path a path.
  std::string path = libraryPath.find('/') == std::string::npos
                         ? "./" + libraryPath
                         : libraryPath;
  dlerror();
  void *library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    error = "cannot load compiled library " + libraryPath + ": " +
            dlMessage("unknown dlopen error");
    return XFC_INVALID_ARTIFACT;
  }
  dlerror();
  void *symbol = dlsym(library, entrySymbol.c_str());
  if (!symbol) {
    error = "entry symbol '" + entrySymbol + "' not found in " + libraryPath +
            ": " + dlMessage("the symbol is null");
    dlclose(library);
    return XFC_INVALID_ARTIFACT;
  }
  if (!checkSignature(library, libraryPath, arguments, error)) {
    dlclose(library);
    return XFC_INVALID_ARTIFACT;
  }
  auto *cpu = new (std::nothrow)
      CpuHandle{library, libraryPath, nullptr, nullptr, nullptr};
  if (!cpu) {
    dlclose(library);
    error = "out of memory";
    return XFC_INTERNAL;
  }
  // POSIX guarantees object and function pointers convert through dlsym.
  cpu->entry = reinterpret_cast<EntryFn>(symbol);
  void *setThreads = dlsym(library, "omp_set_num_threads");
  void *getThreads = dlsym(library, "omp_get_max_threads");
  if (setThreads && getThreads) {
    cpu->ompSetNumThreads = reinterpret_cast<void (*)(int)>(setThreads);
    cpu->ompGetMaxThreads = reinterpret_cast<int (*)()>(getThreads);
  }
  *handle = cpu;
  return XFC_OK;
}

void cpuRunEntry(void *handle, void *entry, void **args, int32_t numThreads) {
  auto *cpu = static_cast<CpuHandle *>(handle);
  auto function = reinterpret_cast<EntryFn>(entry);
  if (!cpu->ompSetNumThreads) {
    function(args);
    return;
  }
  // The thread count is an OpenMP per-thread setting (nthreads-var) of the
  // calling thread: set for this run, restored afterwards, so concurrent
  // contexts on other threads keep their own counts and the caller's own
  // OpenMP settings are left as they were. OMP_NUM_THREADS never decides.
  int previous = cpu->ompGetMaxThreads();
  cpu->ompSetNumThreads(numThreads);
  function(args);
  cpu->ompSetNumThreads(previous);
}

void cpuRun(void *handle, void **args, int32_t numThreads) {
  auto *cpu = static_cast<CpuHandle *>(handle);
  cpuRunEntry(handle, reinterpret_cast<void *>(cpu->entry), args, numThreads);
}

xfc_status_code cpuResolve(void *handle, const std::string &entrySymbol,
                           const std::string &signatureSymbol,
                           const std::vector<EntryArgument> &arguments,
                           void **entry, std::string &error) {
  auto *cpu = static_cast<CpuHandle *>(handle);
  dlerror();
  void *symbol = dlsym(cpu->library, entrySymbol.c_str());
  if (!symbol) {
    error = "entry symbol '" + entrySymbol + "' not found in " +
            cpu->libraryPath + ": " + dlMessage("the symbol is null");
    return XFC_INVALID_ARTIFACT;
  }
  if (!checkSignature(cpu->library, cpu->libraryPath, arguments, error,
                      signatureSymbol))
    return XFC_INVALID_ARTIFACT;
  *entry = symbol;
  return XFC_OK;
}

const void *cpuSymbol(void *handle, const char *name) {
  auto *cpu = static_cast<CpuHandle *>(handle);
  dlerror();
  return dlsym(cpu->library, name);
}

void cpuClose(void *handle) {
  auto *cpu = static_cast<CpuHandle *>(handle);
  if (!cpu)
    return;
  dlclose(cpu->library);
  delete cpu;
}

} // namespace

const Backend &cpuBackend() {
  static const Backend backend = {"cpu",      cpuOpen,     cpuRun,   cpuClose,
                                  cpuResolve, cpuRunEntry, cpuSymbol};
  return backend;
}

} // namespace xfc
