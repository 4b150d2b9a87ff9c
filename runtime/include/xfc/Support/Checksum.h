//===- Checksum.h - File checksums for artifact integrity -------*- C++ -*-===//
//
// Part of xfc. The manifest records the compiled library's size and FNV-1a
// (64-bit) checksum; the runtime verifies both before dlopen, because the
// dynamic loader maps a truncated or corrupted library and the process then
// dies of SIGBUS or worse instead of getting an error. FNV-1a detects
// accidental damage; it is not a defence against a deliberate forgery.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_SUPPORT_CHECKSUM_H
#define XFC_SUPPORT_CHECKSUM_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace xfc {

/// FNV-1a, 64-bit, continuing from `hash` (start with kFnv1a64Offset).
inline constexpr uint64_t kFnv1a64Offset = 0xcbf29ce484222325ull;
uint64_t fnv1a64(const void *data, size_t size, uint64_t hash = kFnv1a64Offset);

/// Size and FNV-1a checksum of the file at `path`. False with `error` if it
/// cannot be read.
bool checksumFile(const std::string &path, uint64_t &sizeBytes,
                  uint64_t &checksum, std::string &error);

/// The checksum as the manifest spells it: 16 lowercase hex digits.
std::string formatChecksum(uint64_t checksum);

} // namespace xfc

#endif // XFC_SUPPORT_CHECKSUM_H
