//===- TextRun.h - xfc run on sentences -------------------------*- C++ -*-===//
//
// Part of xfc. `xfc run ARTIFACT --text S | --text-file F`: the sentences
// are tokenized with the tokenizer recorded in the artifact
// (docs/artifact.md, "tokenizer"), run in batches of the compiled batch
// size, and the outputs of every sentence printed and optionally written.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TOOLS_XFC_TEXTRUN_H
#define XFC_TOOLS_XFC_TEXTRUN_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace xfc {

struct TextRunOptions {
  std::string artifact;
  /// Sentences given with --text, in order, then the lines of each
  /// --text-file.
  std::vector<std::string> texts;
  std::vector<std::string> textFiles;
  /// --output FILE (the sentence embedding, else output 0) or NAME=FILE;
  /// each is written as .npy with the sentences as its first dimension.
  std::vector<std::pair<std::string, std::string>> outputs;
  int64_t threads = 0;
  bool force = false;
};

/// Runs `options`; returns the process exit code (0, or 1 after printing
/// an error).
int runTextInputs(const TextRunOptions &options);

} // namespace xfc

#endif // XFC_TOOLS_XFC_TEXTRUN_H
