//===- AtomicFile.cpp - Write a file whole or not at all --------*- C++ -*-===//
//
// Part of xfc. Implements writeFileAtomically with mkstemp + rename (POSIX
// rename replaces the target atomically within one file system).
//
//===----------------------------------------------------------------------===//
#include "support/AtomicFile.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace xfc {
namespace {

class FdWriter : public AtomicFileWriter {
public:
  explicit FdWriter(int fd) : fd(fd) {}

  bool write(const void *bytes, size_t count) override {
    const char *p = static_cast<const char *>(bytes);
    while (ok && count > 0) {
      ssize_t n = ::write(fd, p, count);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        ok = false;
        savedErrno = n < 0 ? errno : EIO;
        break;
      }
      p += n;
      count -= static_cast<size_t>(n);
    }
    return ok;
  }

  int fd;
  bool ok = true;
  int savedErrno = 0;
};

} // namespace

bool writeFileAtomicallyImpl(const std::string &path, std::string &error,
                             bool (*body)(AtomicFileWriter &, void *),
                             void *context) {
  std::string tmpPath = path + ".tmp-XXXXXX";
  int fd = ::mkstemp(tmpPath.data());
  if (fd < 0) {
    error = "cannot create a temporary file beside " + path + ": " +
            std::strerror(errno);
    return false;
  }
  // mkstemp creates 0600; give the file the usual permissions.
  ::fchmod(fd, 0644);
  FdWriter writer(fd);
  bool bodyOk = body(writer, context);
  if (::close(fd) != 0 && writer.ok) {
    writer.ok = false;
    writer.savedErrno = errno;
  }
  if (!bodyOk || !writer.ok) {
    if (!writer.ok)
      error = "cannot write " + path + ": " + std::strerror(writer.savedErrno);
    else if (error.empty())
      error = "cannot write " + path;
    std::remove(tmpPath.c_str());
    return false;
  }
  if (std::rename(tmpPath.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmpPath + " to " + path + ": " +
            std::strerror(errno);
    std::remove(tmpPath.c_str());
    return false;
  }
  return true;
}

} // namespace xfc
