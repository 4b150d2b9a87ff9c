//===- Npy.h - NumPy .npy files in and out ----------------------*- C++ -*-===//
//
// Part of xfc. Reads and writes NumPy .npy files (format versions 1.0-3.0,
// C order, little-endian) for the dtypes xfc models exchange: float32
// ('<f4') and int32 ('<i4'). int64 ('<i8') files are accepted on read and
// narrowed to int32 when every value fits, because NumPy's default integer
// type is int64 and ids are small.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_SUPPORT_NPY_H
#define XFC_SUPPORT_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace xfc {

/// An array read from or written to a .npy file.
struct NpyArray {
  std::string dtype; ///< "f32" or "i32" (xfc's names).
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes; ///< C-order element bytes.

  int64_t numElements() const;
};

/// Reads `path`. Returns false and sets `error` (naming the file, what was
/// expected and what was found) on a malformed file or unsupported dtype.
bool readNpy(const std::string &path, NpyArray &out, std::string &error);

/// Parses the bytes of a .npy file held in memory; `name` (the file's path)
/// begins every error message. readNpy reads the file and calls this.
bool parseNpy(const std::string &contents, const std::string &name,
              NpyArray &out, std::string &error);

/// Writes `array` to `path` (format 1.0), via a temporary file and rename.
bool writeNpy(const std::string &path, const NpyArray &array,
              std::string &error);

} // namespace xfc

#endif // XFC_SUPPORT_NPY_H
