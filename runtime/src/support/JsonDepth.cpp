//===- JsonDepth.cpp - Bounding the nesting depth of JSON text ------------===//
//
// Part of xfc. Implements checkJsonDepth: one pass over the text that tracks
// whether it is inside a string, so brackets in names and values are not
// counted.
//
//===----------------------------------------------------------------------===//
#include "xfc/Support/JsonDepth.h"

namespace xfc {

bool checkJsonDepth(const char *text, size_t size, std::string &error,
                    size_t maxDepth) {
  size_t depth = 0, line = 1, lineStart = 0;
  bool inString = false, escaped = false;
  for (size_t i = 0; i < size; ++i) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      lineStart = i + 1;
    }
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
      continue;
    }
    switch (c) {
    case '"':
      inString = true;
      break;
    case '[':
    case '{':
      if (++depth > maxDepth) {
        error = "nesting deeper than the limit of " + std::to_string(maxDepth) +
                " levels (at byte " + std::to_string(i) + ", line " +
                std::to_string(line) + ", column " +
                std::to_string(i - lineStart + 1) + ")";
        return false;
      }
      break;
    case ']':
    case '}':
      // Unbalanced closers are the parser's to report.
      if (depth > 0)
        --depth;
      break;
    default:
      break;
    }
  }
  return true;
}

} // namespace xfc
