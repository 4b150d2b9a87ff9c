//===- SpecParser.cpp - JSON model spec to ModelSpec ----------------------===//
//
// Part of xfc.
//
// This file implements the parser and validator of the JSON model spec
// (docs/spec.md) and the check of the compile-time shape options against a
// spec. The parser is strict on purpose: unknown or duplicate keys, a value
// of the wrong JSON type (12.0 where an integer is expected included), an
// option that does not apply to the model kind, or a size beyond the limits
// is an error naming the JSON path, what was expected and what was found.
// A typo therefore never falls back to a default silently, and absurd sizes
// are rejected before anything tries to allocate them.
//
// nlohmann::json reports problems by throwing; every exception is caught
// here and turned into a SpecError, so nothing escapes the public functions.
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/SpecParser.h"
#include "xf/Analysis/AttentionPattern.h"
#include "xfc/Support/JsonDepth.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace xfc {

namespace {

using Json = nlohmann::json;

/// Largest vocabulary, width, head count, sequence length or table size.
constexpr int64_t kMaxSize = int64_t(1) << 20;
/// Largest number of layers of one stack.
constexpr int64_t kMaxLayers = 1024;
/// Largest element count of one weight tensor: beyond it a single matrix
/// needs more than 8 GiB and 32-bit index arithmetic in kernels overflows.
constexpr int64_t kMaxElements = int64_t(1) << 31;
/// Largest batch the shape options accept.
constexpr int64_t kMaxBatch = 65536;
/// A spec file is a few hundred bytes; refusing huge files keeps a wrong
/// path (a checkpoint, a device) from being read into memory.
constexpr std::uintmax_t kMaxSpecFileBytes = 64u << 20;

/// Longest excerpt of a string value quoted in an error message.
constexpr size_t kMaxQuotedChars = 60;

//===----------------------------------------------------------------------===//
// Describing values and paths
//===----------------------------------------------------------------------===//

/// `text` as a JSON string literal, shortened if long. Parsed strings are
/// valid UTF-8, but a shortened one may end inside a character, hence the
/// replacing error handler.
std::string quote(const std::string &text) {
  std::string shown =
      text.size() > kMaxQuotedChars ? text.substr(0, kMaxQuotedChars) : text;
  std::string quoted =
      Json(shown).dump(-1, ' ', false, Json::error_handler_t::replace);
  if (shown.size() < text.size())
    quoted += "...";
  return quoted;
}

/// A file path as a JSON string literal, never shortened: a truncated path
/// does not say which file could not be read (and made the CLI test's
/// expectation depend on how deep the checkout lies).
std::string quotePath(const std::string &path) {
  return Json(path).dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// What a JSON value is, for the `found` part of an error: its type and,
/// for scalars, its value.
std::string describe(const Json &value) {
  switch (value.type()) {
  case Json::value_t::null:
    return "null";
  case Json::value_t::boolean:
    return std::string("a boolean ") + (value.get<bool>() ? "true" : "false");
  case Json::value_t::number_integer:
  case Json::value_t::number_unsigned:
    return "an integer " + value.dump();
  case Json::value_t::number_float:
    return "a floating-point number " + value.dump();
  case Json::value_t::string:
    return "a string " + quote(value.get_ref<const std::string &>());
  case Json::value_t::object:
    return "an object";
  case Json::value_t::array:
    return "an array";
  default:
    return "an unsupported JSON value";
  }
}

/// True if `key` can be written as `.key` in a path.
bool isPlainKey(const std::string &key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key[0])))
    return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

/// The path of member `key` of the object at `parent`.
std::string childPath(const std::string &parent, const std::string &key) {
  if (isPlainKey(key))
    return parent + "." + key;
  return parent + "[" + quote(key) + "]";
}

std::string rangeText(int64_t lo, int64_t hi) {
  return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

/// Levenshtein distance, used to suggest the key a typo meant.
size_t editDistance(const std::string &a, const std::string &b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

//===----------------------------------------------------------------------===//
// Duplicate keys
//===----------------------------------------------------------------------===//

/// Watches the parser's events for a key given twice in one object.
/// nlohmann::json keeps the last occurrence silently, which would let a
/// stray second "d_model" override the first one unnoticed.
class DuplicateKeyFinder {
public:
  bool onEvent(int /*depth*/, Json::parse_event_t event, Json &parsed) {
    switch (event) {
    case Json::parse_event_t::object_start:
    case Json::parse_event_t::array_start:
      advanceArrayIndex();
      frames.push_back(
          {event == Json::parse_event_t::object_start, {}, "", -1});
      break;
    case Json::parse_event_t::object_end:
    case Json::parse_event_t::array_end:
      if (!frames.empty())
        frames.pop_back();
      break;
    case Json::parse_event_t::key:
      if (!frames.empty() && parsed.is_string()) {
        Frame &top = frames.back();
        const std::string &key = parsed.get_ref<const std::string &>();
        if (!top.keys.insert(key).second && !found) {
          found = true;
          top.currentKey = key;
          duplicatePath = currentPath();
          duplicateKey = key;
        }
        top.currentKey = key;
      }
      break;
    case Json::parse_event_t::value:
      advanceArrayIndex();
      break;
    }
    // Keep every value: the document is validated after parsing.
    return true;
  }

  bool found = false;
  std::string duplicatePath, duplicateKey;

private:
  struct Frame {
    bool isObject;
    std::set<std::string> keys;
    std::string currentKey;
    int64_t index;
  };

  /// A new value inside an array is the array's next element.
  void advanceArrayIndex() {
    if (!frames.empty() && !frames.back().isObject)
      ++frames.back().index;
  }

  /// The path of the member the innermost object is reading.
  std::string currentPath() const {
    std::string path = "$";
    for (const Frame &frame : frames) {
      if (frame.isObject)
        path = childPath(path, frame.currentKey);
      else
        path += "[" + std::to_string(frame.index) + "]";
    }
    return path;
  }

  std::vector<Frame> frames;
};

//===----------------------------------------------------------------------===//
// Reading one object
//===----------------------------------------------------------------------===//

/// Reads typed members of one JSON object, filling `error` on the first
/// problem. Every reader returns false on error; an absent optional member
/// leaves the output untouched, so the caller's default stays.
class ObjectReader {
public:
  ObjectReader(const Json &object, std::string path, SpecError &error)
      : object(object), path(std::move(path)), error(error) {}

  bool fail(const std::string &at, std::string expected, std::string found) {
    error.path = at;
    error.expected = std::move(expected);
    error.found = std::move(found);
    return false;
  }

  /// The path of member `key` of this object.
  std::string pathOf(const std::string &key) const {
    return childPath(path, key);
  }

  bool has(const char *key) const { return object.contains(key); }

  /// Rejects any member not in `known`.
  bool checkKeys(const std::vector<const char *> &known) {
    for (auto it = object.begin(); it != object.end(); ++it) {
      const std::string &key = it.key();
      if (std::find_if(known.begin(), known.end(),
                       [&](const char *k) { return key == k; }) != known.end())
        continue;
      std::string expected = "one of: ";
      const char *closest = nullptr;
      size_t closestDistance = 3; // Suggest only near misses.
      for (size_t i = 0; i < known.size(); ++i) {
        expected += (i ? ", " : "") + std::string(known[i]);
        size_t distance = editDistance(key, known[i]);
        if (distance < closestDistance) {
          closestDistance = distance;
          closest = known[i];
        }
      }
      std::string found = "unknown key " + quote(key);
      if (closest)
        found += " (did you mean \"" + std::string(closest) + "\"?)";
      return fail(pathOf(key), expected, found);
    }
    return true;
  }

  /// An integer member in [lo, hi]. JSON numbers with a fraction or an
  /// exponent (12.0, 1e3) are rejected rather than truncated.
  bool readInt(const char *key, bool required, int64_t lo, int64_t hi,
               int64_t &out) {
    std::string expected = "an integer in " + rangeText(lo, hi);
    auto it = object.find(key);
    if (it == object.end())
      return required ? fail(pathOf(key), expected, "nothing (missing)") : true;
    const Json &value = *it;
    if (value.is_number_unsigned()) {
      uint64_t v = value.get<uint64_t>();
      if (hi < 0 || v > static_cast<uint64_t>(hi))
        return fail(pathOf(key), expected, value.dump());
      out = static_cast<int64_t>(v);
      return lo <= out ? true : fail(pathOf(key), expected, value.dump());
    }
    if (value.is_number_integer()) {
      int64_t v = value.get<int64_t>();
      if (v < lo || v > hi)
        return fail(pathOf(key), expected, value.dump());
      out = v;
      return true;
    }
    return fail(pathOf(key), expected, describe(value));
  }

  /// A seed: any non-negative integer that fits in 64 bits.
  bool readSeed(const char *key, uint64_t &out) {
    auto it = object.find(key);
    if (it == object.end())
      return true;
    const Json &value = *it;
    if (value.is_number_unsigned()) {
      out = value.get<uint64_t>();
      return true;
    }
    const char *expected = "a non-negative integer";
    if (value.is_number_integer())
      return fail(pathOf(key), expected, value.dump());
    return fail(pathOf(key), expected, describe(value));
  }

  bool readBool(const char *key, bool &out) {
    auto it = object.find(key);
    if (it == object.end())
      return true;
    if (!it->is_boolean())
      return fail(pathOf(key), "a boolean (true or false)", describe(*it));
    out = it->get<bool>();
    return true;
  }

  /// A finite number > 0; integers are numbers too.
  bool readPositiveNumber(const char *key, double &out) {
    auto it = object.find(key);
    if (it == object.end())
      return true;
    const char *expected = "a finite number > 0";
    if (!it->is_number())
      return fail(pathOf(key), expected, describe(*it));
    double v = it->get<double>();
    // 1e999 parses to infinity; reject it with the zero and negatives.
    if (!std::isfinite(v) || !(v > 0))
      return fail(pathOf(key), expected, it->dump());
    out = v;
    return true;
  }

  /// A non-empty string without control characters.
  bool readString(const char *key, bool required, std::string &out) {
    const char *expected = "a non-empty string";
    auto it = object.find(key);
    if (it == object.end())
      return required ? fail(pathOf(key), expected, "nothing (missing)") : true;
    if (!it->is_string())
      return fail(pathOf(key), expected, describe(*it));
    const std::string &text = it->get_ref<const std::string &>();
    if (text.empty())
      return fail(pathOf(key), expected, "an empty string");
    if (std::any_of(text.begin(), text.end(), [](char c) {
          return static_cast<unsigned char>(c) < 0x20;
        }))
      return fail(pathOf(key), "a string without control characters",
                  describe(*it));
    out = text;
    return true;
  }

  /// A string member that must be one of `choices`.
  template <typename T>
  bool readEnum(const char *key, bool required,
                const std::vector<std::pair<const char *, T>> &choices,
                T &out) {
    std::string expected = "one of ";
    for (size_t i = 0; i < choices.size(); ++i)
      expected += (i ? ", \"" : "\"") + std::string(choices[i].first) + "\"";
    auto it = object.find(key);
    if (it == object.end())
      return required ? fail(pathOf(key), expected, "nothing (missing)") : true;
    if (it->is_string()) {
      const std::string &text = it->get_ref<const std::string &>();
      for (const auto &choice : choices) {
        if (text == choice.first) {
          out = choice.second;
          return true;
        }
      }
    }
    return fail(pathOf(key), expected, describe(*it));
  }

  /// The member `key`; it must exist.
  const Json &at(const char *key) const { return object.at(key); }

private:
  const Json &object;
  std::string path;
  SpecError &error;
};

//===----------------------------------------------------------------------===//
// The spec
//===----------------------------------------------------------------------===//

/// Every top-level key, in the order of docs/spec.md.
const std::vector<const char *> kTopLevelKeys = {
    "xfc_spec_version",
    "name",
    "kind",
    "vocab_size",
    "d_model",
    "num_heads",
    "d_ff",
    "num_layers",
    "num_decoder_layers",
    "max_seq_len",
    "norm_placement",
    "layer_norm_epsilon",
    "final_norm",
    "embedding_layer_norm",
    "token_type_vocab_size",
    "embedding_scale",
    "activation",
    "bias",
    "lm_head",
    "tied_output_embedding",
    "shared_embeddings",
    "key_padding_mask",
    "positional_encoding",
    "attention_pattern",
    "transformer_xl",
    "pooling",
    "dtype",
    "weights",
};

bool fail(SpecError &error, std::string path, std::string expected,
          std::string found) {
  error.path = std::move(path);
  error.expected = std::move(expected);
  error.found = std::move(found);
  return false;
}

/// Rejects `key` when present on a model kind it does not apply to.
bool checkKindOnly(ObjectReader &reader, const char *key, ModelKind actual,
                   ModelKind required) {
  if (actual == required || !reader.has(key))
    return true;
  return reader.fail(reader.pathOf(key),
                     std::string("no \"") + key + "\" (it applies to kind \"" +
                         toString(required) + "\" only)",
                     std::string("\"") + key + "\" with kind \"" +
                         toString(actual) + "\"");
}

/// Rejects a tensor of `rows · cols` elements beyond kMaxElements.
bool checkProduct(SpecError &error, const std::string &path,
                  const char *rowsName, int64_t rows, const char *colsName,
                  int64_t cols) {
  // Both factors are ≤ 2^20, so the product cannot overflow int64_t.
  if (rows * cols <= kMaxElements)
    return true;
  return fail(error, path,
              std::string(rowsName) + " · " + colsName + " ≤ " +
                  std::to_string(kMaxElements) + " elements",
              std::to_string(rows) + " · " + std::to_string(cols) + " = " +
                  std::to_string(rows * cols));
}

/// Reads the "bias" member: a bool for the four layer biases, or an object
/// naming each.
bool readBias(ObjectReader &root, BiasSpec &bias, SpecError &error) {
  if (!root.has("bias"))
    return true;
  const Json &value = root.at("bias");
  const std::string path = root.pathOf("bias");
  if (value.is_boolean()) {
    bool on = value.get<bool>();
    bias.attentionQKV = bias.attentionOutput = on;
    bias.ffnHidden = bias.ffnOutput = on;
    bias.lmHead = false;
    return true;
  }
  if (!value.is_object())
    return fail(error, path, "a boolean or an object", describe(value));
  ObjectReader reader(value, path, error);
  return reader.checkKeys({"attention_qkv", "attention_output", "ffn_hidden",
                           "ffn_output", "lm_head"}) &&
         reader.readBool("attention_qkv", bias.attentionQKV) &&
         reader.readBool("attention_output", bias.attentionOutput) &&
         reader.readBool("ffn_hidden", bias.ffnHidden) &&
         reader.readBool("ffn_output", bias.ffnOutput) &&
         reader.readBool("lm_head", bias.lmHead);
}

/// Turns a weights path into an absolute one, relative to `specDir`.
bool resolveWeightsPath(const std::string &raw, const std::string &specDir,
                        const std::string &path, std::string &out,
                        SpecError &error) {
  namespace fs = std::filesystem;
  fs::path p(raw);
  if (p.is_relative() && !specDir.empty())
    p = fs::path(specDir) / p;
  std::error_code ec;
  fs::path absolute = fs::absolute(p, ec);
  if (ec)
    return fail(error, path, "a path that can be made absolute",
                quote(raw) + " (" + ec.message() + ")");
  out = absolute.lexically_normal().string();
  return true;
}

/// Reads the "weights" member.
bool readWeights(ObjectReader &root, const std::string &specDir,
                 WeightSource &weights, SpecError &error) {
  if (!root.has("weights"))
    return true;
  const Json &value = root.at("weights");
  const std::string path = root.pathOf("weights");
  if (!value.is_object())
    return fail(error, path, "an object", describe(value));
  ObjectReader reader(value, path, error);
  WeightSource::Kind kind = WeightSource::Kind::Random;
  if (!reader.readEnum<WeightSource::Kind>(
          "source", /*required=*/true,
          {{"random", WeightSource::Kind::Random},
           {"safetensors", WeightSource::Kind::Safetensors}},
          kind))
    return false;
  weights.kind = kind;
  if (kind == WeightSource::Kind::Random) {
    // Keys of the other source are unknown here: "path" next to
    // "source": "random" is a mistake, not something to ignore.
    return reader.checkKeys({"source", "seed", "std"}) &&
           reader.readSeed("seed", weights.seed) &&
           reader.readPositiveNumber("std", weights.stddev);
  }
  std::string raw;
  return reader.checkKeys({"source", "path"}) &&
         reader.readString("path", /*required=*/true, raw) &&
         resolveWeightsPath(raw, specDir, reader.pathOf("path"), weights.path,
                            error);
}

/// Parses one attention pattern of `spec` found at `path` into its
/// canonical text: the syntax, head groups that divide the heads, and in a
/// decoder only parts that keep attention causal (the pattern replaces the
/// causal mask).
bool readAttentionPattern(const ModelSpec &spec, const std::string &text,
                          const std::string &path, std::string &canonical,
                          SpecError &error) {
  const char *expected =
      "an attention pattern (docs/attention-patterns.md), e.g. "
      "\"sliding_window(w = 256) + global(positions = [0])\"";
  mlir::xf::PatternGroups groups;
  std::string problem;
  if (!mlir::xf::parsePatternText(text, groups, problem))
    return fail(error, path, expected, quote(text) + ": " + problem);
  int64_t numGroups = static_cast<int64_t>(groups.size());
  if (spec.numHeads % numGroups != 0)
    return fail(error, path,
                "head groups ('|') that divide num_heads = " +
                    std::to_string(spec.numHeads) + " evenly",
                std::to_string(numGroups) + " groups in " + quote(text));
  if (spec.kind == ModelKind::Decoder)
    for (const auto &group : groups)
      for (const mlir::xf::PatternPart &part : group)
        if (!part.isCausal())
          return fail(error, path,
                      "a causal pattern for the decoder's self-attention "
                      "(causal, sliding_window(w = ..., causal), "
                      "strided_local, strided_summary, fixed_local, "
                      "fixed_summary, linear(causal), performer(..., "
                      "causal), lsh(..., causal)): the pattern replaces the "
                      "causal mask",
                      quote(part.describe()) +
                          ", which lets queries see later keys");
  canonical = mlir::xf::printPatternText(groups);
  return true;
}

/// `attention_pattern`: one pattern for every layer, or a list with one
/// pattern (or null, the default) per layer of the first stack.
bool readAttentionPatterns(ObjectReader &root, ModelSpec &s, SpecError &error) {
  if (!root.has("attention_pattern"))
    return true;
  const Json &value = root.at("attention_pattern");
  std::string path = root.pathOf("attention_pattern");
  if (value.is_string()) {
    std::string canonical;
    if (!readAttentionPattern(s, value.get<std::string>(), path, canonical,
                              error))
      return false;
    s.attentionPatterns.assign(s.numLayers, canonical);
    return true;
  }
  std::string expected = "a pattern string, or a list of " +
                         std::to_string(s.numLayers) +
                         " (num_layers) pattern strings or nulls";
  if (!value.is_array())
    return fail(error, path, expected, describe(value));
  if (static_cast<int64_t>(value.size()) != s.numLayers)
    return fail(error, path, expected,
                "a list of " + std::to_string(value.size()));
  s.attentionPatterns.assign(s.numLayers, "");
  for (size_t i = 0; i < value.size(); ++i) {
    std::string at = path + "[" + std::to_string(i) + "]";
    if (value[i].is_null())
      continue;
    if (!value[i].is_string())
      return fail(error, at, "a pattern string or null", describe(value[i]));
    if (!readAttentionPattern(s, value[i].get<std::string>(), at,
                              s.attentionPatterns[i], error))
      return false;
  }
  return true;
}

/// Reads "transformer_xl": {"memory_length": M}, after the options it
/// constrains. Relative positions replace absolute ones, the memory is the
/// only padding the keys have, and the attention is the relative one, so
/// the options that would contradict this are errors rather than ignored.
bool readTransformerXL(ObjectReader &root, ModelSpec &s, SpecError &error) {
  if (!root.has("transformer_xl"))
    return true;
  if (!checkKindOnly(root, "transformer_xl", s.kind, ModelKind::Decoder))
    return false;
  const Json &value = root.at("transformer_xl");
  const std::string path = root.pathOf("transformer_xl");
  if (!value.is_object())
    return fail(error, path, "an object such as {\"memory_length\": 64}",
                describe(value));
  ObjectReader reader(value, path, error);
  if (!reader.checkKeys({"memory_length"}) ||
      !reader.readInt("memory_length", /*required=*/true, 1, kMaxSize,
                      s.memoryLength) ||
      !checkProduct(error, reader.pathOf("memory_length"), "memory_length",
                    s.memoryLength, "d_model", s.dModel))
    return false;
  const std::string why = " (transformer_xl uses relative positions)";
  if (root.has("positional_encoding") &&
      s.positionalEncoding != PositionalEncoding::None)
    return fail(error, root.pathOf("positional_encoding"),
                "\"none\" or no \"positional_encoding\"" + why,
                "\"" + std::string(toString(s.positionalEncoding)) + "\"");
  s.positionalEncoding = PositionalEncoding::None;
  if (s.keyPaddingMask)
    return fail(error, root.pathOf("key_padding_mask"),
                "false or absent with transformer_xl (segments have a fixed "
                "length; the memory's fill is tracked by the runtime)",
                "true");
  if (root.has("attention_pattern"))
    return fail(error, root.pathOf("attention_pattern"),
                "no \"attention_pattern\" with transformer_xl (its attention "
                "is causal over [memory ; segment])",
                "\"attention_pattern\"");
  if (s.dModel % 2 != 0)
    return fail(error, root.pathOf("d_model"),
                "an even d_model with transformer_xl (the relative encoding "
                "is [sin | cos] halves)",
                std::to_string(s.dModel));
  return true;
}

/// Reads "pooling": "mean", "cls", or {"mode": ..., "normalize": bool}.
/// The pooled output reads the final hidden states, so it exists only for
/// an encoder that outputs them (no LM head).
bool readPooling(ObjectReader &root, ModelSpec &s, SpecError &error) {
  if (!root.has("pooling"))
    return true;
  if (!checkKindOnly(root, "pooling", s.kind, ModelKind::Encoder))
    return false;
  const Json &value = root.at("pooling");
  const std::string path = root.pathOf("pooling");
  const char *expected =
      "\"mean\", \"cls\" or an object such as {\"mode\": \"mean\", "
      "\"normalize\": true}";
  auto readMode = [&](const Json &mode, const std::string &at) {
    if (mode.is_string() && mode.get_ref<const std::string &>() == "mean")
      s.pooling.mode = PoolingMode::Mean;
    else if (mode.is_string() && mode.get_ref<const std::string &>() == "cls")
      s.pooling.mode = PoolingMode::Cls;
    else
      return fail(error, at, "\"mean\" or \"cls\"", describe(mode));
    return true;
  };
  if (value.is_string()) {
    if (!readMode(value, path))
      return fail(error, path, expected, describe(value));
  } else if (value.is_object()) {
    ObjectReader reader(value, path, error);
    if (!reader.checkKeys({"mode", "normalize"}))
      return false;
    if (!reader.has("mode"))
      return fail(error, reader.pathOf("mode"), "\"mean\" or \"cls\"",
                  "nothing (missing)");
    if (!readMode(value.at("mode"), reader.pathOf("mode")) ||
        !reader.readBool("normalize", s.pooling.normalize))
      return false;
  } else {
    return fail(error, path, expected, describe(value));
  }
  if (s.lmHead)
    return fail(error, path,
                "no \"pooling\" with an LM head (it pools the hidden states; "
                "set \"lm_head\": false)",
                "\"pooling\" with \"lm_head\": true");
  return true;
}

/// Validates the parsed document and fills `spec`.
bool readSpec(const Json &doc, const std::string &specDir, ModelSpec &spec,
              SpecError &error) {
  if (!doc.is_object())
    return fail(error, "$", "a JSON object", describe(doc));
  ObjectReader root(doc, "$", error);

  // The version first: a spec written for another version may use keys this
  // one does not know, and "unsupported version" is the useful message then.
  const std::string versionExpected =
      "the integer " + std::to_string(kSpecVersion) +
      " (the only spec version this build reads)";
  if (!root.has("xfc_spec_version"))
    return fail(error, "$.xfc_spec_version", versionExpected,
                "nothing (missing)");
  const Json &versionValue = root.at("xfc_spec_version");
  if (!versionValue.is_number_integer())
    return fail(error, "$.xfc_spec_version", versionExpected,
                describe(versionValue));
  if (versionValue != Json(kSpecVersion))
    return fail(error, "$.xfc_spec_version", versionExpected,
                versionValue.dump());

  if (!root.checkKeys(kTopLevelKeys))
    return false;

  ModelSpec s;
  s.specVersion = kSpecVersion;
  if (!root.readString("name", /*required=*/true, s.name) ||
      !root.readEnum<ModelKind>(
          "kind", /*required=*/true,
          {{"encoder", ModelKind::Encoder},
           {"decoder", ModelKind::Decoder},
           {"encoder_decoder", ModelKind::EncoderDecoder}},
          s.kind))
    return false;

  // Sizes.
  if (!root.readInt("vocab_size", true, 1, kMaxSize, s.vocabSize) ||
      !root.readInt("d_model", true, 1, kMaxSize, s.dModel) ||
      !root.readInt("num_heads", true, 1, kMaxSize, s.numHeads) ||
      !root.readInt("d_ff", true, 1, kMaxSize, s.dFF) ||
      !root.readInt("num_layers", true, 1, kMaxLayers, s.numLayers) ||
      !root.readInt("max_seq_len", false, 1, kMaxSize, s.maxSeqLen))
    return false;
  if (s.numHeads > s.dModel)
    return fail(error, "$.num_heads",
                "at most d_model (" + std::to_string(s.dModel) + ") heads",
                std::to_string(s.numHeads));
  if (s.dModel % s.numHeads != 0)
    return fail(error, "$.num_heads",
                "a divisor of d_model (" + std::to_string(s.dModel) + ")",
                std::to_string(s.numHeads) + " (d_model " +
                    std::to_string(s.dModel) + " leaves remainder " +
                    std::to_string(s.dModel % s.numHeads) + ")");

  // Kind-specific members.
  if (!checkKindOnly(root, "num_decoder_layers", s.kind,
                     ModelKind::EncoderDecoder) ||
      !checkKindOnly(root, "shared_embeddings", s.kind,
                     ModelKind::EncoderDecoder) ||
      !checkKindOnly(root, "token_type_vocab_size", s.kind, ModelKind::Encoder))
    return false;
  // The decoder stack of a decoder-only model is its only stack; an
  // encoder has none.
  s.numDecoderLayers = s.kind == ModelKind::Encoder ? 0 : s.numLayers;
  if (!root.readInt("num_decoder_layers", false, 1, kMaxLayers,
                    s.numDecoderLayers) ||
      !root.readBool("shared_embeddings", s.sharedEmbeddings) ||
      !root.readInt("token_type_vocab_size", false, 0, kMaxSize,
                    s.tokenTypeVocabSize))
    return false;

  // Architecture options.
  if (!root.readEnum<NormPlacement>(
          "norm_placement", false,
          {{"post", NormPlacement::Post}, {"pre", NormPlacement::Pre}},
          s.normPlacement) ||
      !root.readPositiveNumber("layer_norm_epsilon", s.layerNormEpsilon) ||
      !root.readBool("final_norm", s.finalNorm) ||
      !root.readBool("embedding_layer_norm", s.embeddingLayerNorm) ||
      !root.readEnum<Activation>("activation", false,
                                 {{"relu", Activation::Relu},
                                  {"gelu", Activation::Gelu},
                                  {"gelu_tanh", Activation::GeluTanh}},
                                 s.activation) ||
      !root.readEnum<PositionalEncoding>(
          "positional_encoding", false,
          {{"sinusoidal", PositionalEncoding::Sinusoidal},
           {"learned", PositionalEncoding::Learned},
           {"none", PositionalEncoding::None}},
          s.positionalEncoding) ||
      !root.readBool("key_padding_mask", s.keyPaddingMask))
    return false;

  if (root.has("embedding_scale")) {
    const Json &scale = root.at("embedding_scale");
    if (scale.is_string() &&
        scale.get_ref<const std::string &>() == "sqrt_d_model") {
      s.embeddingScale = std::sqrt(static_cast<double>(s.dModel));
    } else if (scale.is_number()) {
      if (!root.readPositiveNumber("embedding_scale", s.embeddingScale))
        return false;
    } else {
      return fail(error, "$.embedding_scale",
                  "a finite number > 0 or \"sqrt_d_model\"", describe(scale));
    }
  }

  // The output head. Its default depends on the kind: an encoder produces
  // hidden states (BERT), the others are language models.
  s.lmHead = s.kind != ModelKind::Encoder;
  if (!readBias(root, s.bias, error) || !root.readBool("lm_head", s.lmHead) ||
      !root.readBool("tied_output_embedding", s.tiedOutputEmbedding))
    return false;
  if (s.tiedOutputEmbedding && !s.lmHead)
    return fail(error, "$.tied_output_embedding",
                "false or absent when there is no LM head (lm_head: false)",
                "true");
  if (s.bias.lmHead && !s.lmHead)
    return fail(error, "$.bias.lm_head",
                "false or absent when there is no LM head (lm_head: false)",
                "true");

  if (!readAttentionPatterns(root, s, error) ||
      !readTransformerXL(root, s, error) || !readPooling(root, s, error))
    return false;

  if (!root.readEnum<std::string>("dtype", false, {{"f32", "f32"}}, s.dtype) ||
      !readWeights(root, specDir, s.weights, error))
    return false;

  // Tensor sizes: each weight must stay below kMaxElements.
  if (!checkProduct(error, "$.d_model", "d_model", s.dModel, "d_model",
                    s.dModel) ||
      !checkProduct(error, "$.d_ff", "d_model", s.dModel, "d_ff", s.dFF) ||
      !checkProduct(error, "$.vocab_size", "vocab_size", s.vocabSize, "d_model",
                    s.dModel))
    return false;
  if (s.positionalEncoding == PositionalEncoding::Learned &&
      !checkProduct(error, "$.max_seq_len", "max_seq_len", s.maxSeqLen,
                    "d_model", s.dModel))
    return false;
  if (!checkProduct(error, "$.token_type_vocab_size", "token_type_vocab_size",
                    s.tokenTypeVocabSize, "d_model", s.dModel))
    return false;

  spec = std::move(s);
  return true;
}

} // namespace

std::string SpecError::message(const std::string &file) const {
  std::string text = file.empty() ? "" : file + ": ";
  return text + "at " + path + ": expected " + expected + ", found " + found;
}

bool parseModelSpec(const std::string &jsonText, const std::string &specDir,
                    ModelSpec &out, SpecError &error) {
  try {
    // Before parsing: a value nested deeper than any spec needs could
    // overflow the stack in later (recursive) uses of it.
    std::string depthError;
    if (!checkJsonDepth(jsonText.data(), jsonText.size(), depthError))
      return fail(error, "$", "valid JSON", "invalid JSON: " + depthError);
    DuplicateKeyFinder duplicates;
    Json doc;
    try {
      doc = Json::parse(
          jsonText,
          [&duplicates](int depth, Json::parse_event_t event, Json &parsed) {
            return duplicates.onEvent(depth, event, parsed);
          },
          /*allow_exceptions=*/true, /*ignore_comments=*/false);
    } catch (const Json::exception &e) {
      // A syntax error (parse_error) or a number too large for a double
      // (out_of_range). e.what() reads "[json.exception.parse_error.101]
      // parse error at line L, column C: ..."; the bracketed id means
      // nothing to a user.
      std::string what = e.what();
      size_t close = what.find("] ");
      if (what.rfind("[json.exception", 0) == 0 && close != std::string::npos)
        what = what.substr(close + 2);
      return fail(error, "$", "valid JSON", "invalid JSON: " + what);
    }
    if (duplicates.found)
      return fail(error, duplicates.duplicatePath, "each key at most once",
                  "a duplicate key " + quote(duplicates.duplicateKey));
    return readSpec(doc, specDir, out, error);
  } catch (const std::exception &e) {
    // Not expected (the readers check types before reading), but a
    // malformed spec must never take the compiler down.
    return fail(error, "$", "a valid model spec",
                std::string("an internal error: ") + e.what());
  }
}

bool parseModelSpecFile(const std::string &path, ModelSpec &out,
                        SpecError &error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path file(path);
  if (!fs::is_regular_file(file, ec))
    return fail(error, "$", "a readable spec file",
                quotePath(path) + (fs::exists(file, ec)
                                       ? " (not a regular file)"
                                       : " (no such file)"));
  std::uintmax_t size = fs::file_size(file, ec);
  if (ec)
    return fail(error, "$", "a readable spec file",
                quotePath(path) + " (" + ec.message() + ")");
  if (size > kMaxSpecFileBytes)
    return fail(error, "$",
                "a spec file of at most " + std::to_string(kMaxSpecFileBytes) +
                    " bytes",
                std::to_string(size) + " bytes");
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return fail(error, "$", "a readable spec file",
                quotePath(path) + " (cannot open)");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return fail(error, "$", "a readable spec file",
                quotePath(path) + " (read error)");

  fs::path absolute = fs::absolute(file, ec);
  std::string specDir =
      ec ? file.parent_path().string() : absolute.parent_path().string();
  return parseModelSpec(text.str(), specDir, out, error);
}

bool overrideAttentionPattern(ModelSpec &spec, const std::string &text,
                              SpecError &error) {
  if (spec.transformerXL())
    return fail(error, "--attention",
                "no --attention with transformer_xl (its attention is "
                "causal over [memory ; segment])",
                "'" + text + "'");
  std::string canonical;
  if (!readAttentionPattern(spec, text, "--attention", canonical, error))
    return false;
  spec.attentionPatterns.assign(spec.numLayers, canonical);
  spec.attentionPatternOverridden = true;
  return true;
}

bool validateShapeOptions(const ModelSpec &spec, const ShapeOptions &shapes,
                          SpecError &error) {
  if (shapes.batch < 1 || shapes.batch > kMaxBatch)
    return fail(error, "--batch", "an integer in " + rangeText(1, kMaxBatch),
                std::to_string(shapes.batch));
  std::string seqExpected = "an integer in " + rangeText(1, spec.maxSeqLen) +
                            " (max_seq_len is " +
                            std::to_string(spec.maxSeqLen) + ")";
  if (shapes.seqLen < 1 || shapes.seqLen > spec.maxSeqLen)
    return fail(error, "--seq-len", seqExpected, std::to_string(shapes.seqLen));
  // Patterns against the sequence they are compiled for (self-attention of
  // the first stack: Sq = Sk = seq_len).
  for (size_t i = 0; i < spec.attentionPatterns.size(); ++i) {
    if (spec.attentionPatterns[i].empty())
      continue;
    mlir::xf::PatternGroups groups;
    std::string problem;
    mlir::xf::parsePatternText(spec.attentionPatterns[i], groups, problem);
    if (const mlir::xf::PatternPart *family =
            mlir::xf::approximationOf(groups)) {
      // Linformer's layerwise sharing is one matrix for every layer that
      // uses it, so those layers must agree on k (and the seed that may
      // generate it).
      using Sharing = mlir::xf::PatternPart::Sharing;
      if (family->kind == mlir::xf::PatternPart::Kind::Linformer &&
          family->sharing == Sharing::Layerwise)
        for (size_t j = 0; j < i; ++j)
          if (spec.attentionPatterns[j].find("layerwise") !=
                  std::string::npos &&
              spec.attentionPatterns[j] != spec.attentionPatterns[i])
            return fail(error,
                        "$.attention_pattern[" + std::to_string(i) + "]",
                        "the same pattern as layer " + std::to_string(j) +
                            ", " + quote(spec.attentionPatterns[j]) +
                            " (layerwise Linformer layers share one "
                            "projection matrix)",
                        quote(spec.attentionPatterns[i]));
      continue; // Nothing else depends on the sequence here.
    }
    for (const auto &group : groups) {
      mlir::xf::AttentionPattern pattern(group, shapes.seqLen, shapes.seqLen);
      if (!pattern.error().empty())
        return fail(error,
                    "$.attention_pattern (layer " + std::to_string(i) +
                        ", --seq-len " + std::to_string(shapes.seqLen) + ")",
                    "a pattern that fits the sequence", pattern.error());
    }
  }
  if (shapes.tgtLen == 0)
    return true;
  if (spec.kind != ModelKind::EncoderDecoder)
    return fail(error, "--tgt-len",
                "no target length (it applies to kind \"encoder_decoder\" "
                "only)",
                std::to_string(shapes.tgtLen) + " with kind \"" +
                    toString(spec.kind) + "\"");
  if (shapes.tgtLen < 1 || shapes.tgtLen > spec.maxSeqLen)
    return fail(error, "--tgt-len", seqExpected, std::to_string(shapes.tgtLen));
  return true;
}

bool validateGenerateOptions(const ModelSpec &spec, const ShapeOptions &shapes,
                             SpecError &error) {
  const char *option = "--generate";
  if (spec.kind == ModelKind::Encoder)
    return fail(error, option,
                "a model of kind \"decoder\" or \"encoder_decoder\"",
                std::string("kind \"") + toString(spec.kind) + "\"");
  if (spec.transformerXL())
    return fail(error, option,
                "a decoder without segment memory (Transformer-XL keeps its "
                "own state between runs)",
                "\"transformer_xl\" in the spec");
  // The patterns of an encoder-decoder are its encoder's, which prefill
  // runs whole; a decoder's would apply to the cached self-attention.
  for (size_t i = 0;
       spec.kind == ModelKind::Decoder && i < spec.attentionPatterns.size();
       ++i)
    if (!spec.attentionPatterns[i].empty())
      return fail(error, option,
                  "dense causal self-attention (the cache holds every key)",
                  "the attention pattern " + quote(spec.attentionPatterns[i]) +
                      " of layer " + std::to_string(i));
  if (shapes.cacheCapacity < 1 || shapes.cacheCapacity > spec.maxSeqLen)
    return fail(error, option,
                "a cache capacity in " + rangeText(1, spec.maxSeqLen) +
                    " (max_seq_len is " + std::to_string(spec.maxSeqLen) + ")",
                std::to_string(shapes.cacheCapacity));
  // The prompt is the decoder's input: the target of an encoder-decoder
  // (its source has no cache).
  const bool encoderDecoder = spec.kind == ModelKind::EncoderDecoder;
  const int64_t prompt =
      encoderDecoder && shapes.tgtLen > 0 ? shapes.tgtLen : shapes.seqLen;
  if (prompt > shapes.cacheCapacity)
    return fail(error, encoderDecoder ? "--tgt-len" : "--seq-len",
                "a prompt length of at most the cache capacity " +
                    std::to_string(shapes.cacheCapacity),
                std::to_string(prompt));
  return true;
}

} // namespace xfc
