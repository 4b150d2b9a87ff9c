//===- FrontendTestUtil.h - Helpers for the frontend tests ------*- C++ -*-===//
//
// Part of xfc. Small specs of each model kind, a parse helper that fails the
// test with the parser's message, and a scratch directory removed after
// each test.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_UNIT_FRONTEND_FRONTENDTESTUTIL_H
#define XFC_TESTS_UNIT_FRONTEND_FRONTENDTESTUTIL_H

#include "xfc/Frontend/ModelSpec.h"
#include "xfc/Frontend/SpecParser.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include <stdlib.h>

namespace xfc::test {

/// The smallest valid spec of `kind` ("encoder", "decoder",
/// "encoder_decoder"): only the required keys.
inline nlohmann::json minimalSpec(const std::string &kind) {
  return {{"xfc_spec_version", 1},
          {"name", "tiny-" + kind},
          {"kind", kind},
          {"vocab_size", 100},
          {"d_model", 16},
          {"num_heads", 4},
          {"d_ff", 32},
          {"num_layers", 2}};
}

/// Parses `doc`, failing the current test with the message on error.
inline ModelSpec parseOk(const nlohmann::json &doc,
                         const std::string &specDir = "/specs") {
  ModelSpec spec;
  SpecError error;
  bool ok = parseModelSpec(doc.dump(), specDir, spec, error);
  EXPECT_TRUE(ok) << error.message("spec") << "\n" << doc.dump(2);
  return spec;
}

/// A fresh directory under the system temp dir (mkdtemp, so parallel test
/// processes never share one), removed with its contents by the destructor.
class ScratchDir {
public:
  ScratchDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "xfc-frontend-XXXXXX")
            .string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()))
      path = buffer.data();
    EXPECT_FALSE(path.empty()) << "cannot create a temporary directory";
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty())
      std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;

  /// `name` inside the directory.
  std::string file(const std::string &name) const {
    return (path / name).string();
  }

  std::filesystem::path path;
};

} // namespace xfc::test

#endif // XFC_TESTS_UNIT_FRONTEND_FRONTENDTESTUTIL_H
