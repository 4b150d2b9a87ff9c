//===- FuzzTarget.h - Helpers shared by the fuzz targets --------*- C++ -*-===//
//
// Part of xfc. Every fuzz target in this folder defines the libFuzzer entry
// point LLVMFuzzerTestOneInput and nothing else with external linkage, so the
// same source links either against libFuzzer (`make fuzz`) or against
// FuzzReplayMain.cpp, which replays the committed corpus and regression
// inputs as an ordinary ctest.
//
// A target reports a finding the way libFuzzer understands: by aborting.
// Besides crashes and sanitizer reports, each target checks the contract of
// the code it drives (a rejected input has a message, an accepted one meets
// the invariants later stages rely on) and aborts with a description when
// the contract is broken.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_FUZZ_FUZZTARGET_H
#define XFC_TESTS_FUZZ_FUZZTARGET_H

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace xfc::fuzz {

/// Aborts with `message`: a broken contract is a finding like a crash.
[[noreturn]] inline void fail(const char *target, const std::string &message) {
  std::fprintf(stderr, "%s: contract violated: %s\n", target, message.c_str());
  std::fflush(stderr);
  std::abort();
}

inline void check(bool condition, const char *target,
                  const std::string &message) {
  if (!condition)
    fail(target, message);
}

/// Prints what became of an input when XFC_FUZZ_VERBOSE is set, to see how
/// far a seed gets (`XFC_FUZZ_VERBOSE=1 xfc_fuzz_replay_NAME FILE`).
inline void note(const char *target, const std::string &message) {
  static const bool verbose = std::getenv("XFC_FUZZ_VERBOSE") != nullptr;
  if (verbose)
    std::fprintf(stderr, "%s: %s\n", target, message.c_str());
}

/// Separates the sections of a multi-part input (manifest text, then the
/// weights file). A line of its own, so seeds stay readable in an editor.
inline constexpr std::string_view kSectionMarker = "\n==== weights ====\n";

/// Splits `input` at the first kSectionMarker: `first` is what precedes it,
/// `second` what follows (empty when there is no marker).
inline void splitSections(std::string_view input, std::string_view &first,
                          std::string_view &second) {
  size_t at = input.find(kSectionMarker);
  if (at == std::string_view::npos) {
    first = input;
    second = {};
    return;
  }
  first = input.substr(0, at);
  second = input.substr(at + kSectionMarker.size());
}

/// A private folder for the files a target must hand to code that reads
/// paths. Created on first use, emptied and removed at exit; one per process,
/// so parallel fuzzing jobs never share files.
class ScratchDir {
public:
  static ScratchDir &get() {
    static ScratchDir dir;
    return dir;
  }

  const std::string &path() const { return path_; }

  /// `path()/name`, written with `bytes`; aborts if the write fails (the
  /// target would otherwise test a different input than it was given).
  std::string write(const std::string &name, std::string_view bytes) {
    std::string file = path_ + "/" + name;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out)
      fail("scratch", "cannot write " + file);
    return file;
  }

  /// Removes every file written so far, so one input never sees the files
  /// of the previous one.
  void clear() {
    std::error_code ec;
    for (const auto &entry : std::filesystem::directory_iterator(path_, ec))
      std::filesystem::remove_all(entry.path(), ec);
  }

private:
  ScratchDir() {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::temp_directory_path(ec);
    std::string pattern =
        (ec ? std::string("/tmp") : base.string()) + "/xfc-fuzz-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (!mkdtemp(buffer.data()))
      fail("scratch", "cannot create a folder from " + pattern);
    path_ = buffer.data();
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  std::string path_;
};

} // namespace xfc::fuzz

#endif // XFC_TESTS_FUZZ_FUZZTARGET_H
