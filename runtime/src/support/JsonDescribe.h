//===- JsonDescribe.h - JSON values in error messages -----------*- C++ -*-===//
//
// Part of xfc. The manifest and safetensors parsers quote what they found
// in their error messages. Containers are summarized, never dumped: dumping
// recurses, and a hostile file nests arrays deeply enough to overflow the
// stack.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_SUPPORT_JSONDESCRIBE_H
#define XFC_SUPPORT_JSONDESCRIBE_H

#include <nlohmann/json.hpp>

#include <string>

namespace xfc {

/// A short rendering of `value` for "found ...": scalars and flat arrays
/// of scalars (a shape, a pair of offsets) in JSON syntax (strings quoted),
/// at most `maxChars` characters; other arrays and objects by their size.
/// A flat array is dumped one level deep only, so the rule above holds.
inline std::string describeJson(const nlohmann::json &value,
                                size_t maxChars = 60) {
  auto count = [](size_t n, const char *what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  bool flat = value.is_array() && value.size() <= 16;
  if (flat)
    for (const nlohmann::json &item : value)
      flat &= item.is_primitive();
  if (value.is_array() && !flat)
    return "an array of " + count(value.size(), "element");
  if (value.is_object())
    return "an object with " + count(value.size(), "key");
  std::string text =
      value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > maxChars)
    text = text.substr(0, maxChars - 3) + "...";
  return text;
}

} // namespace xfc

#endif // XFC_SUPPORT_JSONDESCRIBE_H
