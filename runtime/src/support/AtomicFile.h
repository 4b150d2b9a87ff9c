//===- AtomicFile.h - Write a file whole or not at all ----------*- C++ -*-===//
//
// Part of xfc. Writers of user-visible files (weights, .npy outputs) write a
// uniquely named temporary file beside the target and rename it over the
// target only when every byte was written, so a failure never leaves a
// truncated file and never touches an existing one.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_SUPPORT_ATOMICFILE_H
#define XFC_SUPPORT_ATOMICFILE_H

#include <cstddef>
#include <string>

namespace xfc {

/// Appends bytes to the file being written; returns false on an I/O error.
class AtomicFileWriter {
public:
  virtual ~AtomicFileWriter() = default;
  virtual bool write(const void *bytes, size_t count) = 0;
};

/// Creates a temporary file beside `path`, lets `body` write it, and renames
/// it to `path` if `body` returned true and every write succeeded. On any
/// failure the temporary file is removed and `error` says what failed.
template <typename Body>
bool writeFileAtomically(const std::string &path, std::string &error,
                         Body &&body);

/// The non-template part of writeFileAtomically.
bool writeFileAtomicallyImpl(const std::string &path, std::string &error,
                             bool (*body)(AtomicFileWriter &, void *),
                             void *context);

template <typename Body>
bool writeFileAtomically(const std::string &path, std::string &error,
                         Body &&body) {
  return writeFileAtomicallyImpl(
      path, error,
      [](AtomicFileWriter &writer, void *context) {
        return (*static_cast<Body *>(context))(writer);
      },
      &body);
}

} // namespace xfc

#endif // XFC_SUPPORT_ATOMICFILE_H
