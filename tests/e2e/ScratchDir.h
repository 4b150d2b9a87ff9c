//===- ScratchDir.h - Per-test scratch folders for e2e tests ----*- C++ -*-===//
//
// Part of xfc. End-to-end tests write artifacts; each test gets its own
// folder under the build tree (so parallel ctest runs never collide), which
// is removed when the test ends.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_E2E_SCRATCHDIR_H
#define XFC_TESTS_E2E_SCRATCHDIR_H

#include <filesystem>
#include <string>

namespace xfc::test {

/// A scratch folder `build/tests/e2e-scratch/<name>`, emptied on creation
/// and removed on destruction.
class ScratchDir {
public:
  explicit ScratchDir(const std::string &name) {
    path_ = std::string(XFC_BINARY_DIR) + "/tests/e2e-scratch/" + name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

} // namespace xfc::test

#endif // XFC_TESTS_E2E_SCRATCHDIR_H
