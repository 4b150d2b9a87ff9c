//===- Safetensors.h - Reading and writing safetensors files ----*- C++ -*-===//
//
// Part of xfc. The safetensors format: an 8-byte little-endian header length
// N, N bytes of JSON mapping tensor names to {dtype, shape, data_offsets}
// (offsets relative to the first byte after the header) plus an optional
// "__metadata__" string map, then the tensor bytes.
//
// The parser works on bytes already in memory (a mapped file) and validates
// everything a hostile file could get wrong: header length within the file,
// well-formed JSON, known dtypes, non-negative shapes whose element count
// times the dtype size equals the byte range, ranges inside the data area and
// not overlapping. The writer pads the header so the data area starts 64-byte
// aligned and aligns every tensor to 64 bytes, so a mapped file can be used
// in place by vectorized kernels.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_SUPPORT_SAFETENSORS_H
#define XFC_SUPPORT_SAFETENSORS_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace xfc {

/// Alignment of the data area and of every tensor written by xfc.
inline constexpr size_t kSafetensorsAlignment = 64;

/// One tensor entry of a safetensors header.
struct SafetensorsEntry {
  std::string name;
  std::string dtype; ///< As in the file: "F32", "I32", "F16", ...
  std::vector<int64_t> shape;
  /// Byte offsets from the start of the *file* (not of the data area).
  uint64_t begin = 0, end = 0;
};

/// A parsed safetensors header. Entries keep the file's order of data.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
  uint64_t dataBegin = 0; ///< File offset of the data area.

  /// The entry called `name`, or nullptr.
  const SafetensorsEntry *find(const std::string &name) const;
};

/// Bytes per element of a safetensors dtype name, 0 if unknown.
size_t safetensorsDtypeSize(const std::string &dtype);

/// Parses and validates the header of a safetensors file held in
/// [data, data+size). On failure returns false and sets `error` to a message
/// that says what was expected and what was found.
bool parseSafetensors(const uint8_t *data, size_t size, SafetensorsHeader &out,
                      std::string &error);

/// One tensor to write: name, dtype ("F32", "I32", "F16", ...), shape and
/// the raw little-endian bytes (size must match shape × dtype size).
struct SafetensorsTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  const void *data = nullptr;
  size_t sizeBytes = 0;
};

/// Writes a safetensors file with the data area and every tensor aligned to
/// kSafetensorsAlignment. Writes to `path + ".tmp"` then renames, so a failed
/// write never leaves a partial file at `path`. Returns false with `error`.
bool writeSafetensors(const std::string &path,
                      const std::vector<SafetensorsTensor> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      std::string &error);

} // namespace xfc

#endif // XFC_SUPPORT_SAFETENSORS_H
