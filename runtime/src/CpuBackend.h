//===- CpuBackend.h - Backends that execute compiled artifacts --*- C++ -*-===//
//
// Part of xfc. A backend loads an artifact's compiled library and calls its
// entry point. Each backend is a small table of function pointers so the
// runtime core (Runtime.cpp) stays backend-agnostic; the CPU backend loads a
// host shared library with dlopen, and a GPU backend can add its own table
// without touching the core.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_RUNTIME_CPUBACKEND_H
#define XFC_RUNTIME_CPUBACKEND_H

#include "xfc/runtime.h"

#include <cstdint>
#include <string>
#include <vector>

namespace xfc {

/// One pointer the entry point receives: which tensor, and its size.
struct EntryArgument {
  std::string name;
  uint64_t sizeBytes;
};

/// The operations of one backend. A handle returned by `open` is owned by
/// the caller, which passes it to `run` (from any number of threads at
/// once) and finally to `close` (once, after every run has returned).
struct Backend {
  /// A short name for messages, e.g. "cpu".
  const char *name;

  /// Loads `libraryPath`, resolves `entrySymbol` and checks that the
  /// compiled code expects exactly `arguments` (count and byte sizes, from
  /// the library's `xfc_signature`). On failure returns a code other than
  /// XFC_OK, sets `error` and leaves `*handle` unset.
  xfc_status_code (*open)(const std::string &libraryPath,
                          const std::string &entrySymbol,
                          const std::vector<EntryArgument> &arguments,
                          void **handle, std::string &error);

  /// Calls the entry point with `args` (inputs, weights, outputs in manifest
  /// order, then the arena and the profile buffer; docs/artifact.md).
  /// `numThreads` (at least 1) is how many threads the run may use. Must
  /// not allocate: it runs inside xfc_context_run.
  void (*run)(void *handle, void **args, int32_t numThreads);

  /// Releases what `open` acquired.
  void (*close)(void *handle);

  /// Resolves another entry point of the library `open` loaded (one per
  /// shape bucket, docs/artifact.md "buckets"): `entrySymbol`, checked
  /// against the signature `signatureSymbol` as `open` checks its own.
  /// Sets `*entry` for `runEntry`; valid until `close`.
  xfc_status_code (*resolve)(void *handle, const std::string &entrySymbol,
                             const std::string &signatureSymbol,
                             const std::vector<EntryArgument> &arguments,
                             void **entry, std::string &error);

  /// As `run`, calling an entry point from `resolve`.
  void (*runEntry)(void *handle, void *entry, void **args, int32_t numThreads);

  /// The address of the library's symbol `name`, or null when it has
  /// none (a GPU artifact's embedded device code, docs/gpu.md).
  const void *(*symbol)(void *handle, const char *name);
};

/// The backend for host shared libraries (dlopen + dlsym).
const Backend &cpuBackend();

} // namespace xfc

#endif // XFC_RUNTIME_CPUBACKEND_H
