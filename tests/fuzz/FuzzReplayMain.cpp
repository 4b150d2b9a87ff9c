//===- FuzzReplayMain.cpp - Runs a fuzz target over saved inputs ----------===//
//
// Part of xfc. A main() for the fuzz targets of this folder that needs no
// libFuzzer: it feeds every file named on the command line, or found in a
// folder named there, to LLVMFuzzerTestOneInput once. ctest runs it over the
// committed seed corpus and the regression inputs (the inputs that once
// crashed a target), in the ordinary build and in the sanitizer build, so a
// fixed finding stays fixed without anyone running the fuzzers.
//
// A target aborts on a finding, which fails the test; the input being
// replayed is printed first so the failure names it. Like libFuzzer, the
// driver also fails when the process's peak memory exceeds -rss_limit_mb
// (default 2048, libFuzzer's default), so an input that once needed
// gigabytes keeps failing if the cause comes back.
//
//===----------------------------------------------------------------------===//
#include "FuzzTarget.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <sys/resource.h>

namespace fs = std::filesystem;

/// Peak resident memory of this process so far, in MiB.
long peakRssMb() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024; // Linux reports KiB.
}

int main(int argc, char **argv) {
  std::vector<fs::path> inputs;
  long rssLimitMb = 2048;
  const std::string rssFlag = "-rss_limit_mb=";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind(rssFlag, 0) == 0) {
      rssLimitMb = std::atol(argv[i] + rssFlag.size());
      continue;
    }
    fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> files;
      for (const auto &entry : fs::directory_iterator(arg, ec))
        if (entry.is_regular_file())
          files.push_back(entry.path());
      // A fixed order, so a failure reproduces the same way everywhere.
      std::sort(files.begin(), files.end());
      inputs.insert(inputs.end(), files.begin(), files.end());
    } else if (fs::is_regular_file(arg, ec)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "%s: %s is neither a file nor a folder\n", argv[0],
                   argv[i]);
      return 2;
    }
  }
  // An empty run would pass without testing anything (a moved corpus, a
  // wrong path in the test definition).
  if (inputs.empty()) {
    std::fprintf(
        stderr,
        "usage: %s [-rss_limit_mb=N] FILE|FOLDER... (no inputs found)\n",
        argv[0]);
    return 2;
  }
  for (const fs::path &input : inputs) {
    std::ifstream in(input, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    if (in.bad()) {
      std::fprintf(stderr, "cannot read %s\n", input.c_str());
      return 2;
    }
    std::fprintf(stderr, "replaying %s (%zu bytes)\n", input.c_str(),
                 bytes.size());
    // libFuzzer never passes a null pointer, not even for empty inputs.
    static const uint8_t empty = 0;
    LLVMFuzzerTestOneInput(bytes.empty() ? &empty : bytes.data(), bytes.size());
    if (rssLimitMb > 0 && peakRssMb() > rssLimitMb) {
      std::fprintf(stderr,
                   "out of memory: %s took the process to %ld MiB "
                   "(-rss_limit_mb=%ld)\n",
                   input.c_str(), peakRssMb(), rssLimitMb);
      return 1;
    }
  }
  std::fprintf(stderr, "replayed %zu inputs\n", inputs.size());
  return 0;
}
