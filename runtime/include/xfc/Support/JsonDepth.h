//===- JsonDepth.h - Bounding the nesting depth of JSON text ----*- C++ -*-===//
//
// Part of xfc. Every JSON document xfc reads (model specs, manifest.json,
// safetensors headers) is scanned for its nesting depth before it is
// parsed. nlohmann_json 3.11's parser and destructor keep their own stacks
// (100000 and even 3000000 nested arrays parse and are released without a
// crash), but copying, comparing and dumping a value recurse once per
// level, so a hostile file nested deeply enough would overflow the stack in
// whichever code touches it next. None of xfc's formats nests more than a
// handful of levels; the scan rejects anything deeper than kMaxJsonDepth
// before nlohmann builds a value, in one linear pass that allocates nothing.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_SUPPORT_JSONDEPTH_H
#define XFC_SUPPORT_JSONDEPTH_H

#include <cstddef>
#include <string>

namespace xfc {

/// The deepest nesting of arrays and objects xfc accepts. Specs nest about
/// 5 levels, manifests 4, safetensors headers 3; 64 leaves room for
/// hand-written specs while keeping any recursion over a value shallow.
inline constexpr size_t kMaxJsonDepth = 64;

/// Checks that the JSON text [text, text + size) nests arrays and objects at
/// most `maxDepth` levels deep. Brackets inside strings (escapes included)
/// do not count; the text is not otherwise validated (the parser does that
/// next). On failure returns false and sets `error` to a message such as
///   nesting deeper than the limit of 64 levels (at byte 65, line 1,
///   column 66)
bool checkJsonDepth(const char *text, size_t size, std::string &error,
                    size_t maxDepth = kMaxJsonDepth);

} // namespace xfc

#endif // XFC_SUPPORT_JSONDEPTH_H
