//===- TestUtil.h - Helpers shared by the runtime unit tests ----*- C++ -*-===//
//
// Part of xfc. Temporary folders that clean up after themselves and small
// file helpers used by the support-format and runtime tests.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_UNIT_RUNTIME_TESTUTIL_H
#define XFC_TESTS_UNIT_RUNTIME_TESTUTIL_H

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace xfc::test {

/// A fresh folder under the system temporary directory, removed with its
/// contents on destruction.
class TempDir {
public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "xfc-test-XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()))
      path_ = buffer.data();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty())
      std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string &path() const { return path_; }
  /// `name` inside the folder.
  std::string file(const std::string &name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

/// The whole contents of `path` ("" if unreadable).
inline std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

/// Replaces the contents of `path`.
inline bool writeFile(const std::string &path, const std::string &contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  return static_cast<bool>(out);
}

/// A safetensors file assembled by hand: the 8-byte length, `header` as is,
/// then `data`. Lets tests build files the writer would refuse to produce.
inline std::string rawSafetensors(const std::string &header,
                                  const std::string &data) {
  std::string out(8, '\0');
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>(length >> (8 * i));
  return out + header + data;
}

} // namespace xfc::test

#endif // XFC_TESTS_UNIT_RUNTIME_TESTUTIL_H
