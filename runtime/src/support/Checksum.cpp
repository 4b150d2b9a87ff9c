//===- Checksum.cpp - File checksums for artifact integrity -----*- C++ -*-===//
//
// Part of xfc. Implements FNV-1a over files, reading in blocks.
//
//===----------------------------------------------------------------------===//
#include "xfc/Support/Checksum.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace xfc {

uint64_t fnv1a64(const void *data, size_t size, uint64_t hash) {
  const auto *bytes = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

bool checksumFile(const std::string &path, uint64_t &sizeBytes,
                  uint64_t &checksum, std::string &error) {
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::vector<unsigned char> block(1 << 16);
  uint64_t hash = kFnv1a64Offset, size = 0;
  size_t n;
  while ((n = std::fread(block.data(), 1, block.size(), file)) > 0) {
    hash = fnv1a64(block.data(), n, hash);
    size += n;
  }
  bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) {
    error = "cannot read " + path;
    return false;
  }
  sizeBytes = size;
  checksum = hash;
  return true;
}

std::string formatChecksum(uint64_t checksum) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx",
                static_cast<unsigned long long>(checksum));
  return text;
}

} // namespace xfc
