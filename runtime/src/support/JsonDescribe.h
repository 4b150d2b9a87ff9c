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

/// A short rendering of `value` for "found ...": scalars in JSON syntax
/// (strings quoted), at most `maxChars` characters; arrays and objects by
/// their size.
inline std::string describeJson(const nlohmann::json &value,
                                size_t maxChars = 60) {
  if (value.is_array())
    return "an array of " + std::to_string(value.size()) + " elements";
  if (value.is_object())
    return "an object with " + std::to_string(value.size()) + " keys";
  std::string text =
      value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > maxChars)
    text = text.substr(0, maxChars - 3) + "...";
  return text;
}

} // namespace xfc

#endif // XFC_SUPPORT_JSONDESCRIBE_H
