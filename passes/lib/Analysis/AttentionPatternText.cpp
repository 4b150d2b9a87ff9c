//===- AttentionPatternText.cpp - The text syntax of patterns ---*- C++ -*-===//
//
// Part of xfc. Reads and prints the one text syntax of attention patterns
// (docs/attention-patterns.md), shared by the `#xf.pattern` attribute, the
// JSON spec's `attention_pattern` and `xfc compile --attention`, so all
// three accept the same strings and give the same errors.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/AttentionPattern.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <set>

namespace mlir::xf {
namespace {

using Kind = PatternPart::Kind;

const std::map<std::string, Kind> &kindsByName() {
  static const std::map<std::string, Kind> kinds = {
      {"dense", Kind::Dense},
      {"causal", Kind::Causal},
      {"sliding_window", Kind::SlidingWindow},
      {"dilated_sliding_window", Kind::DilatedSlidingWindow},
      {"global", Kind::GlobalTokens},
      {"bigbird", Kind::BigBird},
      {"strided_local", Kind::StridedLocal},
      {"strided_summary", Kind::StridedSummary},
      {"fixed_local", Kind::FixedLocal},
      {"fixed_summary", Kind::FixedSummary},
      {"block_sparse", Kind::BlockSparse},
      {"linear", Kind::Linear},
      {"performer", Kind::Performer},
      {"linformer", Kind::Linformer},
      {"lsh", Kind::Lsh},
  };
  return kinds;
}

/// A value of an argument: an integer, a list of integers, a list of such
/// lists (a block layout) or a name (Linformer's sharing). A flag
/// (`causal`) has none.
struct ArgValue {
  enum { Flag, Int, List, Matrix, Name } shape = Flag;
  uint64_t integer = 0;
  std::string name;
  std::vector<int64_t> list;
  std::vector<std::vector<int64_t>> matrix;
  /// Columns of the parameter's name and of its value.
  size_t keyColumn = 0, column = 0;
};

/// A recursive-descent reader over the text, one character of lookahead.
class Reader {
public:
  explicit Reader(const std::string &text) : text(text) {}

  bool parse(PatternGroups &groups) {
    groups.clear();
    groups.emplace_back();
    // The first part that is not a mask and where it starts: such a part
    // computes something other than softmax attention, so it cannot be
    // combined with other parts or head groups.
    std::optional<size_t> familyColumn;
    std::string familyName;
    while (true) {
      PatternPart part;
      size_t start = (skipSpace(), pos);
      if (!parsePart(part))
        return false;
      if (!part.isMask() && !familyColumn) {
        familyColumn = start;
        familyName = part.name();
      }
      groups.back().push_back(std::move(part));
      skipSpace();
      if (familyColumn && (groups.size() > 1 || groups.back().size() > 1))
        return failAt(*familyColumn,
                      familyName +
                          " is not a mask: it must be the whole pattern "
                          "(no '+' union, no '|' head groups)");
      if (pos == text.size())
        return true;
      if (text[pos] == '+') {
        ++pos;
      } else if (text[pos] == '|') {
        ++pos;
        groups.emplace_back();
      } else {
        return fail("'+' (union), '|' (next head group) or the end");
      }
    }
  }

  std::string error;

private:
  void skipSpace() {
    while (pos < text.size() &&
           std::isspace(static_cast<unsigned char>(text[pos])))
      ++pos;
  }

  /// What is at the current position, for messages.
  std::string found() const {
    if (pos >= text.size())
      return "the end";
    size_t end = pos + 1;
    if (std::isalnum(static_cast<unsigned char>(text[pos])) || text[pos] == '_')
      while (end < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[end])) ||
              text[end] == '_'))
        ++end;
    return "'" + text.substr(pos, end - pos) + "'";
  }

  bool fail(const std::string &expected) {
    error = "column " + std::to_string(pos + 1) + ": expected " + expected +
            ", found " + found();
    return false;
  }
  bool failAt(size_t column, const std::string &message) {
    error = "column " + std::to_string(column + 1) + ": " + message;
    return false;
  }

  bool consume(char c) {
    skipSpace();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }

  bool expect(char c) {
    if (consume(c))
      return true;
    return fail(std::string("'") + c + "'");
  }

  std::optional<std::string> identifier() {
    skipSpace();
    size_t start = pos;
    while (
        pos < text.size() &&
        (std::islower(static_cast<unsigned char>(text[pos])) ||
         text[pos] == '_' ||
         (pos > start && std::isdigit(static_cast<unsigned char>(text[pos])))))
      ++pos;
    if (pos == start)
      return std::nullopt;
    return text.substr(start, pos - start);
  }

  bool integer(uint64_t &value) {
    skipSpace();
    if (pos >= text.size() ||
        !std::isdigit(static_cast<unsigned char>(text[pos])))
      return fail("a non-negative integer");
    value = 0;
    size_t start = pos;
    while (pos < text.size() &&
           std::isdigit(static_cast<unsigned char>(text[pos]))) {
      uint64_t digit = static_cast<uint64_t>(text[pos] - '0');
      if (value > (UINT64_MAX - digit) / 10)
        return failAt(start, "integer out of range");
      value = value * 10 + digit;
      ++pos;
    }
    return true;
  }

  /// An integer argument that must fit an int64 parameter.
  bool smallInteger(uint64_t &value) {
    size_t start = pos;
    if (!integer(value))
      return false;
    if (value > (uint64_t(1) << 40))
      return failAt(start, "integer " + std::to_string(value) +
                               " is too large (at most 2^40)");
    return true;
  }

  bool intList(std::vector<int64_t> &list) {
    if (!expect('['))
      return false;
    if (consume(']'))
      return true;
    do {
      uint64_t v;
      if (!smallInteger(v))
        return false;
      list.push_back(static_cast<int64_t>(v));
    } while (consume(','));
    return expect(']');
  }

  bool value(ArgValue &arg) {
    skipSpace();
    arg.column = pos;
    if (std::optional<std::string> name = identifier()) {
      arg.shape = ArgValue::Name;
      arg.name = *name;
      return true;
    }
    if (pos < text.size() && text[pos] != '[') {
      arg.shape = ArgValue::Int;
      return integer(arg.integer);
    }
    size_t open = pos;
    if (!expect('['))
      return false;
    skipSpace();
    if (pos < text.size() && text[pos] == '[') {
      arg.shape = ArgValue::Matrix;
      do {
        arg.matrix.emplace_back();
        if (!intList(arg.matrix.back()))
          return false;
      } while (consume(','));
      return expect(']');
    }
    pos = open;
    arg.shape = ArgValue::List;
    return intList(arg.list);
  }

  bool parsePart(PatternPart &part) {
    size_t start = (skipSpace(), pos);
    std::optional<std::string> name = identifier();
    auto kind = name ? kindsByName().find(*name) : kindsByName().end();
    if (kind == kindsByName().end()) {
      pos = start;
      return fail("a pattern part (dense, causal, sliding_window, "
                  "dilated_sliding_window, global, bigbird, strided_local, "
                  "strided_summary, fixed_local, fixed_summary, "
                  "block_sparse, linear, performer, linformer, lsh)");
    }
    part.kind = kind->second;

    std::map<std::string, ArgValue> args;
    if (consume('(') && !consume(')')) {
      do {
        size_t keyColumn = (skipSpace(), pos);
        std::optional<std::string> key = identifier();
        if (!key)
          return fail("a parameter name");
        if (args.count(*key))
          return failAt(keyColumn, "parameter '" + *key + "' given twice");
        ArgValue arg;
        arg.keyColumn = arg.column = keyColumn;
        if (consume('=') && !value(arg))
          return false;
        args[*key] = std::move(arg);
      } while (consume(','));
      if (!expect(')'))
        return false;
    }
    return bind(*name, part, args, start);
  }

  /// Moves the arguments into the part's fields: each kind's parameters,
  /// which are required, and the shape of each value.
  bool bind(const std::string &name, PatternPart &part,
            std::map<std::string, ArgValue> &args, size_t start) {
    struct Param {
      const char *key;
      bool required;
      int shape; // ArgValue shape.
    };
    std::vector<Param> params;
    switch (part.kind) {
    case Kind::Dense:
    case Kind::Causal:
      break;
    case Kind::SlidingWindow:
      params = {{"w", true, ArgValue::Int}, {"causal", false, ArgValue::Flag}};
      break;
    case Kind::DilatedSlidingWindow:
      params = {{"w", true, ArgValue::Int}, {"d", true, ArgValue::Int}};
      break;
    case Kind::GlobalTokens:
      params = {{"positions", true, ArgValue::List}};
      break;
    case Kind::BigBird:
      params = {{"b", true, ArgValue::Int},
                {"window", false, ArgValue::Int},
                {"global", false, ArgValue::List},
                {"random", false, ArgValue::Int},
                {"seed", false, ArgValue::Int}};
      break;
    case Kind::StridedLocal:
    case Kind::StridedSummary:
    case Kind::FixedLocal:
      params = {{"l", true, ArgValue::Int}};
      break;
    case Kind::FixedSummary:
      params = {{"l", true, ArgValue::Int}, {"c", true, ArgValue::Int}};
      break;
    case Kind::BlockSparse:
      params = {{"b", true, ArgValue::Int}, {"layout", true, ArgValue::Matrix}};
      break;
    case Kind::Linear:
      params = {{"causal", false, ArgValue::Flag}};
      break;
    case Kind::Performer:
      params = {{"m", true, ArgValue::Int},
                {"seed", false, ArgValue::Int},
                {"causal", false, ArgValue::Flag}};
      break;
    case Kind::Linformer:
      params = {{"k", true, ArgValue::Int},
                {"sharing", false, ArgValue::Name},
                {"seed", false, ArgValue::Int}};
      break;
    case Kind::Lsh:
      params = {{"buckets", true, ArgValue::Int},
                {"hashes", false, ArgValue::Int},
                {"chunk", true, ArgValue::Int},
                {"seed", false, ArgValue::Int},
                {"causal", false, ArgValue::Flag}};
      break;
    }
    auto expectedList = [&] {
      std::string list;
      for (const Param &p : params)
        list += (list.empty() ? "" : ", ") + std::string(p.key);
      return list.empty() ? std::string("none") : list;
    };
    for (auto &[key, arg] : args) {
      auto it = std::find_if(params.begin(), params.end(),
                             [&](const Param &p) { return key == p.key; });
      if (it == params.end())
        return failAt(arg.keyColumn, name + " has no parameter '" + key +
                                         "' (parameters: " + expectedList() +
                                         ")");
      static const char *shapes[] = {"no value", "an integer",
                                     "a list of integers",
                                     "a list of lists (rows of 0/1)",
                                     "a name"};
      if (arg.shape != it->shape)
        return failAt(arg.column, name + " parameter '" + key + "' takes " +
                                      shapes[it->shape] + ", found " +
                                      shapes[arg.shape]);
    }
    for (const Param &p : params)
      if (p.required && !args.count(p.key))
        return failAt(start, name + " needs parameter '" + p.key + "'");

    auto integerOf = [&](const char *key, int64_t fallback) {
      auto it = args.find(key);
      return it == args.end() ? fallback
                              : static_cast<int64_t>(it->second.integer);
    };
    switch (part.kind) {
    case Kind::SlidingWindow:
    case Kind::DilatedSlidingWindow:
      part.width = integerOf("w", 0);
      part.causal = args.count("causal") != 0;
      part.dilation = integerOf("d", 1);
      break;
    case Kind::GlobalTokens:
      part.global = args["positions"].list;
      break;
    case Kind::BigBird:
      part.width = integerOf("b", 0);
      part.windowBlocks = integerOf("window", 3);
      part.randomBlocks = integerOf("random", 0);
      part.seed = args.count("seed") ? args["seed"].integer : 0;
      if (args.count("global"))
        part.global = args["global"].list;
      break;
    case Kind::StridedLocal:
    case Kind::StridedSummary:
    case Kind::FixedLocal:
    case Kind::FixedSummary:
      part.width = integerOf("l", 0);
      part.summary = integerOf("c", 0);
      break;
    case Kind::BlockSparse: {
      part.width = integerOf("b", 0);
      const auto &rows = args["layout"].matrix;
      part.layoutColumns = static_cast<int64_t>(rows.front().size());
      for (const auto &row : rows) {
        if (static_cast<int64_t>(row.size()) != part.layoutColumns)
          return failAt(args["layout"].column,
                        "block_sparse layout rows must have equal length, "
                        "found " +
                            std::to_string(row.size()) + " after " +
                            std::to_string(part.layoutColumns));
        for (int64_t v : row)
          part.layout.push_back(static_cast<uint8_t>(std::min<int64_t>(v, 2)));
      }
      break;
    }
    case Kind::Linear:
      part.causal = args.count("causal") != 0;
      break;
    case Kind::Performer:
      part.features = integerOf("m", 0);
      part.seed = args.count("seed") ? args["seed"].integer : 0;
      part.causal = args.count("causal") != 0;
      break;
    case Kind::Linformer: {
      part.projection = integerOf("k", 0);
      part.seed = args.count("seed") ? args["seed"].integer : 0;
      static const std::map<std::string, PatternPart::Sharing> sharings = {
          {"none", PatternPart::Sharing::None},
          {"headwise", PatternPart::Sharing::Headwise},
          {"key_value", PatternPart::Sharing::KeyValue},
          {"layerwise", PatternPart::Sharing::Layerwise}};
      if (args.count("sharing")) {
        const ArgValue &arg = args["sharing"];
        auto it = sharings.find(arg.name);
        if (it == sharings.end())
          return failAt(arg.column, "linformer sharing must be none, "
                                    "headwise, key_value or layerwise, "
                                    "found '" +
                                        arg.name + "'");
        part.sharing = it->second;
      }
      break;
    }
    case Kind::Lsh:
      part.buckets = integerOf("buckets", 0);
      part.hashes = integerOf("hashes", 1);
      part.chunk = integerOf("chunk", 0);
      part.seed = args.count("seed") ? args["seed"].integer : 0;
      part.causal = args.count("causal") != 0;
      break;
    default:
      break;
    }
    if (std::string problem = checkPatternPart(part); !problem.empty())
      return failAt(start, name + ": " + problem);
    return true;
  }

  const std::string &text;
  size_t pos = 0;
};

} // namespace

bool parsePatternText(const std::string &text, PatternGroups &groups,
                      std::string &error) {
  Reader reader(text);
  if (reader.parse(groups))
    return true;
  error = reader.error;
  groups.clear();
  return false;
}

std::string printPatternText(const PatternGroups &groups) {
  std::string text;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (g)
      text += " | ";
    for (size_t p = 0; p < groups[g].size(); ++p)
      text += (p ? " + " : "") + groups[g][p].describe();
  }
  return text;
}

} // namespace mlir::xf
