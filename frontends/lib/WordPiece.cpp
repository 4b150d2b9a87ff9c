//===- WordPiece.cpp - BERT WordPiece tokenizer ---------------------------===//
//
// Part of xfc.
//
// This file implements the BERT tokenizer the way Hugging Face tokenizers
// (Rust) runs it for BertTokenizerFast, since that is what produced the ids
// sentence-transformers feeds its models:
//   1. special tokens written in the text ("[SEP]") are taken as they are;
//   2. BertNormalizer: clean_text drops U+0000, U+FFFD and every Cc, Cf
//      and Co character except tab, newline and carriage return (not the
//      unassigned ones, which the Rust library keeps), and maps those
//      three and Z* to a space; handle_chinese_chars puts spaces around CJK
//      ideographs; strip_accents decomposes (NFD) and drops Mn; lowercase
//      maps each character to its full lower case;
//   3. BertPreTokenizer: split at whitespace, and each punctuation
//      character (ASCII punctuation or P*) is a word of its own;
//   4. WordPiece: a word of more than 100 code points is [UNK]; otherwise
//      the longest vocabulary prefix, then the longest "##" piece of the
//      rest, and so on; a word with a rest that matches nothing is [UNK].
// The Python BertTokenizer gives the same ids except in corners noted in
// docs/hf-import.md (it removes unassigned code points, applies NFC first
// and lowercases whole words).
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/WordPiece.h"

#include "UnicodeData.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace xfc {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

//===----------------------------------------------------------------------===//
// UTF-8
//===----------------------------------------------------------------------===//

constexpr char32_t kReplacement = 0xFFFD;

/// Decodes UTF-8; each byte of an invalid sequence (overlong forms,
/// surrogates, values above U+10FFFF included) becomes U+FFFD, which the
/// normalizer then drops, as it drops U+FFFD itself.
std::u32string decodeUtf8(const std::string &text) {
  std::u32string out;
  out.reserve(text.size());
  const auto *s = reinterpret_cast<const unsigned char *>(text.data());
  size_t n = text.size(), i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > n) {
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? c : c & (0x7F >> len);
    bool ok = true;
    for (size_t k = 1; k < len; ++k) {
      ok = ok && (s[i + k] & 0xC0) == 0x80;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static const char32_t kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
    if (!ok || cp < kLeast[len] || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void appendUtf8(char32_t cp, std::string &out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

//===----------------------------------------------------------------------===//
// Character classes
//===----------------------------------------------------------------------===//

/// Whitespace as Rust's char::is_whitespace (the White_Space property):
/// tab to carriage return, U+0085 and Z*. The Cc ones among them are gone
/// after clean_text, so for cleaned text this is "space or Z*", which is
/// also what the Python tokenizer's str.split() splits at.
bool isWhitespace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || unicode::isSeparator(cp);
}

/// BERT's punctuation: all of ASCII's non-alphanumeric printable
/// characters (so "$", "+", "^", "`" count, though not P*), and P*.
bool isPunctuation(char32_t cp) {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) ||
         (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) ||
         unicode::isPunctuation(cp);
}

/// The CJK blocks BERT treats as one-character words (the ranges of the
/// original BERT code; Hangul, kana and other scripts are not in them).
/// Extension E starts at U+2B920 here as in tokenizers' bert.rs (the
/// Python code says U+2B820).
bool isChineseChar(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/// Appends what strip_accents leaves of `cp`. Hangul syllables decompose
/// by the Unicode algorithm into conjoining jamo (letters, not marks, so
/// they stay); the table has every other decomposition.
void appendStripped(char32_t cp, std::u32string &out) {
  constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161,
                     kTBase = 0x11A7;
  constexpr char32_t kTCount = 28, kNCount = 21 * kTCount,
                     kSCount = 19 * kNCount;
  if (cp >= kSBase && cp < kSBase + kSCount) {
    char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount)
      out.push_back(kTBase + s % kTCount);
    return;
  }
  if (unicode::isNonspacingMark(cp))
    return;
  uint32_t parts[3];
  size_t n = unicode::decomposeWithoutMarks(cp, parts);
  out.append(parts, parts + n);
}

} // namespace

//===----------------------------------------------------------------------===//
// WordPieceTokenizer
//===----------------------------------------------------------------------===//

bool WordPieceTokenizer::load(const std::string &vocabText,
                              const WordPieceOptions &options,
                              const std::string &vocabName,
                              std::string &error) {
  options_ = options;
  vocab_.clear();
  special_.clear();
  if (options.maxLength < 2 || options.maxCharsPerWord < 1) {
    error = vocabName +
            ": expected a maximum length >= 2 and a maximum word "
            "length >= 1, found " +
            std::to_string(options.maxLength) + " and " +
            std::to_string(options.maxCharsPerWord);
    return false;
  }
  // vocab.txt: the id of a token is its line number (transformers strips
  // the line end only, so a token may hold spaces).
  int64_t id = 0;
  size_t begin = 0;
  while (begin < vocabText.size()) {
    size_t end = vocabText.find('\n', begin);
    if (end == std::string::npos)
      end = vocabText.size();
    size_t stop = end;
    if (stop > begin && vocabText[stop - 1] == '\r')
      --stop;
    if (id > INT32_MAX) {
      error = vocabName + ": expected at most 2^31 tokens, found more";
      return false;
    }
    vocab_[vocabText.substr(begin, stop - begin)] = static_cast<int32_t>(id++);
    begin = end + 1;
  }
  numIds_ = id;
  struct Special {
    const std::string &token;
    int32_t *id;
    const char *role;
  } specials[] = {{options.unkToken, &unk_, "unknown"},
                  {options.clsToken, &cls_, "classification"},
                  {options.sepToken, &sep_, "separator"},
                  {options.padToken, &pad_, "padding"}};
  for (const Special &s : specials) {
    auto it = vocab_.find(s.token);
    if (it == vocab_.end()) {
      error = vocabName + ": expected the " + s.role + " token \"" + s.token +
              "\" in the vocabulary, found no such line";
      return false;
    }
    *s.id = it->second;
  }
  for (const std::string *token :
       {&options.unkToken, &options.clsToken, &options.sepToken,
        &options.padToken, &options.maskToken}) {
    auto it = vocab_.find(*token);
    if (!token->empty() && it != vocab_.end())
      special_.emplace_back(*token, it->second);
  }
  // Longest first: the leftmost-longest match of the added-token split.
  std::stable_sort(special_.begin(), special_.end(),
                   [](const auto &a, const auto &b) {
                     return a.first.size() > b.first.size();
                   });
  return true;
}

void WordPieceTokenizer::encodeWord(const std::u32string &word,
                                    std::vector<int32_t> &ids,
                                    std::vector<std::string> *pieces) const {
  auto unknown = [&]() {
    ids.push_back(unk_);
    if (pieces)
      pieces->push_back(options_.unkToken);
  };
  if (static_cast<int64_t>(word.size()) > options_.maxCharsPerWord)
    return unknown();
  // Byte offset of every code point, so a candidate piece is a substring.
  std::string utf8;
  std::vector<size_t> offset;
  for (char32_t cp : word) {
    offset.push_back(utf8.size());
    appendUtf8(cp, utf8);
  }
  offset.push_back(utf8.size());
  size_t mark = ids.size();
  size_t start = 0;
  std::string candidate;
  while (start < word.size()) {
    size_t end = word.size();
    int32_t found = -1;
    for (; end > start; --end) {
      candidate.assign(start ? options_.continuingPrefix : std::string());
      candidate.append(utf8, offset[start], offset[end] - offset[start]);
      auto it = vocab_.find(candidate);
      if (it != vocab_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {
      // One unknown token for the whole word, not for its rest.
      if (pieces)
        pieces->resize(pieces->size() - (ids.size() - mark));
      ids.resize(mark);
      return unknown();
    }
    ids.push_back(found);
    if (pieces)
      pieces->push_back(candidate);
    start = end;
  }
}

void WordPieceTokenizer::encodeText(const std::u32string &text,
                                    std::vector<int32_t> &ids,
                                    std::vector<std::string> *pieces) const {
  // BertNormalizer, step by step as in tokenizers' bert.rs.
  std::u32string cleaned;
  cleaned.reserve(text.size());
  for (char32_t cp : text) {
    if (options_.cleanText) {
      if (cp == 0 || cp == kReplacement)
        continue;
      bool keptControl = cp == '\t' || cp == '\n' || cp == '\r';
      if (!keptControl && unicode::isOther(cp))
        continue;
      if (isWhitespace(cp))
        cp = ' ';
    }
    if (options_.chineseChars && isChineseChar(cp)) {
      cleaned.push_back(' ');
      cleaned.push_back(cp);
      cleaned.push_back(' ');
      continue;
    }
    cleaned.push_back(cp);
  }
  std::u32string normalized;
  if (options_.stripAccents) {
    normalized.reserve(cleaned.size());
    for (char32_t cp : cleaned)
      appendStripped(cp, normalized);
  } else {
    normalized = std::move(cleaned);
  }
  if (options_.lowercase) {
    std::u32string lower;
    lower.reserve(normalized.size());
    for (char32_t cp : normalized) {
      uint32_t parts[3];
      size_t n = unicode::toLower(cp, parts);
      lower.append(parts, parts + n);
    }
    normalized = std::move(lower);
  }

  // BertPreTokenizer, then WordPiece on each word.
  std::u32string word;
  auto flush = [&]() {
    if (!word.empty())
      encodeWord(word, ids, pieces);
    word.clear();
  };
  for (char32_t cp : normalized) {
    if (isWhitespace(cp)) {
      flush();
    } else if (isPunctuation(cp)) {
      flush();
      word.push_back(cp);
      flush();
    } else {
      word.push_back(cp);
    }
  }
  flush();
}

void WordPieceTokenizer::run(const std::string &utf8, std::vector<int32_t> &ids,
                             std::vector<std::string> *pieces) const {
  // Split at the special tokens written in the text; what lies between
  // them is normalized and split on its own.
  size_t begin = 0, pos = 0;
  while (pos <= utf8.size()) {
    const std::pair<std::string, int32_t> *match = nullptr;
    if (pos < utf8.size())
      for (const auto &special : special_)
        if (utf8.compare(pos, special.first.size(), special.first) == 0) {
          match = &special;
          break;
        }
    if (!match && pos < utf8.size()) {
      ++pos;
      continue;
    }
    encodeText(decodeUtf8(utf8.substr(begin, pos - begin)), ids, pieces);
    if (!match)
      break;
    ids.push_back(match->second);
    if (pieces)
      pieces->push_back(match->first);
    pos += match->first.size();
    begin = pos;
  }
}

std::vector<int32_t> WordPieceTokenizer::encode(const std::string &utf8) const {
  std::vector<int32_t> pieces;
  run(utf8, pieces, nullptr);
  // Truncation keeps the first pieces: room for [CLS] and [SEP].
  size_t keep = std::min<size_t>(pieces.size(), options_.maxLength - 2);
  std::vector<int32_t> ids;
  ids.reserve(keep + 2);
  ids.push_back(cls_);
  ids.insert(ids.end(), pieces.begin(), pieces.begin() + keep);
  ids.push_back(sep_);
  return ids;
}

std::vector<std::string>
WordPieceTokenizer::tokenize(const std::string &utf8) const {
  std::vector<int32_t> ids;
  std::vector<std::string> pieces;
  run(utf8, ids, &pieces);
  return pieces;
}

//===----------------------------------------------------------------------===//
// Hugging Face folders
//===----------------------------------------------------------------------===//

namespace {

bool readFile(const std::string &path, std::string &text, std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot read the file: " + std::strerror(errno);
    return false;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  text = buffer.str();
  return true;
}

std::string describe(const Json &value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

/// Reads a JSON object file if it exists; `found` tells whether it did.
bool readOptionalJson(const std::string &path, Json &out, bool &found,
                      std::string &error) {
  std::error_code ec;
  found = fs::exists(path, ec);
  if (!found)
    return true;
  std::string text;
  if (!readFile(path, text, error))
    return false;
  out = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded() || !out.is_object()) {
    error = path + ": at $: expected a JSON object, found " +
            (out.is_discarded() ? std::string("invalid JSON") : describe(out));
    return false;
  }
  return true;
}

/// Field readers in the import's message form ("FILE: at $.key: expected
/// ..., found ..."). A null value means the default, as in transformers.
struct FieldReader {
  const Json &object;
  const std::string &path;
  std::string &error;

  bool fail(const std::string &key, const std::string &expected,
            const Json &found) {
    error = path + ": at $." + key + ": expected " + expected + ", found " +
            describe(found);
    return false;
  }
  bool boolean(const std::string &key, bool &out) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
      return true;
    if (!it->is_boolean())
      return fail(key, "true, false or null", *it);
    out = it->get<bool>();
    return true;
  }
  bool integer(const std::string &key, int64_t &out, bool &present) {
    present = false;
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
      return true;
    // model_max_length is often 1e30 ("no limit"): any large number.
    if (!it->is_number() || it->get<double>() < 2)
      return fail(key, "a number >= 2", *it);
    double v = it->get<double>();
    out = v >= 1e15 ? INT64_MAX : static_cast<int64_t>(v);
    present = true;
    return true;
  }
  /// A token: a string, or an AddedToken object {"content": ...}.
  bool token(const std::string &key, std::string &out) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
      return true;
    if (it->is_string()) {
      out = it->get<std::string>();
      return true;
    }
    if (it->is_object() && it->contains("content") &&
        (*it)["content"].is_string()) {
      out = (*it)["content"].get<std::string>();
      return true;
    }
    return fail(key, "a string or {\"content\": string}", *it);
  }
};

/// Without vocab.txt, the vocabulary of tokenizer.json's WordPiece model
/// (some folders ship only that file), as vocab.txt text. False with
/// `error` empty when there is no such file or it holds another model.
bool readTokenizerJsonVocab(const std::string &path, HfTokenizer &out,
                            std::string &error) {
  Json tokenizer;
  bool found = false;
  if (!readOptionalJson(path, tokenizer, found, error) || !found)
    return false;
  const Json model = tokenizer.value("model", Json());
  if (!model.is_object() || model.value("type", Json()) != "WordPiece")
    return false;
  const Json vocab = model.value("vocab", Json());
  std::vector<const std::string *> byId(vocab.is_object() ? vocab.size() : 0);
  if (vocab.is_object())
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      const Json &id = it.value();
      if (!id.is_number_unsigned() || id.get<uint64_t>() >= byId.size() ||
          byId[id.get<uint64_t>()] || it.key().find('\n') != std::string::npos)
        break;
      byId[id.get<uint64_t>()] = &it.key();
    }
  if (byId.empty() ||
      std::find(byId.begin(), byId.end(), nullptr) != byId.end()) {
    error = path + ": at $.model.vocab: expected an object mapping " +
            "single-line tokens to the ids 0 to N-1, each once, found " +
            describe(vocab);
    return false;
  }
  for (const std::string *token : byId)
    out.vocabText += *token + "\n";
  auto prefix = model.find("continuing_subword_prefix");
  if (prefix != model.end() && prefix->is_string())
    out.options.continuingPrefix = prefix->get<std::string>();
  auto maxChars = model.find("max_input_chars_per_word");
  if (maxChars != model.end() && maxChars->is_number_unsigned() &&
      maxChars->get<uint64_t>() >= 1)
    out.options.maxCharsPerWord = static_cast<int64_t>(
        std::min<uint64_t>(maxChars->get<uint64_t>(), INT64_MAX));
  return true;
}

} // namespace

bool readHfTokenizer(const std::string &modelDir, int64_t maxPositions,
                     HfTokenizer &out, std::string &error) {
  out = HfTokenizer();
  error.clear();
  std::error_code ec;
  WordPieceOptions &o = out.options;
  const std::string vocabPath = modelDir + "/vocab.txt";
  if (fs::exists(vocabPath, ec)) {
    if (!readFile(vocabPath, out.vocabText, error))
      return false;
  } else if (!readTokenizerJsonVocab(modelDir + "/tokenizer.json", out,
                                     error)) {
    return false;
  }

  Json config;
  bool found = false;
  const std::string configPath = modelDir + "/tokenizer_config.json";
  if (!readOptionalJson(configPath, config, found, error))
    return false;
  int64_t modelMax = INT64_MAX;
  if (found) {
    FieldReader r{config, configPath, error};
    auto cls = config.find("tokenizer_class");
    if (cls != config.end() && !cls->is_null() &&
        (!cls->is_string() ||
         (*cls != "BertTokenizer" && *cls != "BertTokenizerFast")))
      return r.fail("tokenizer_class",
                    "\"BertTokenizer\" or \"BertTokenizerFast\" (xfc "
                    "implements BERT's WordPiece tokenizer only)",
                    *cls);
    // strip_accents: null means "as lowercase" (BertNormalizer).
    bool strip = o.lowercase, stripGiven = false;
    auto sa = config.find("strip_accents");
    stripGiven = sa != config.end() && !sa->is_null();
    bool present = false;
    if (!r.boolean("do_lower_case", o.lowercase) ||
        !r.boolean("strip_accents", strip) ||
        !r.boolean("tokenize_chinese_chars", o.chineseChars) ||
        !r.integer("model_max_length", modelMax, present) ||
        !r.token("unk_token", o.unkToken) ||
        !r.token("cls_token", o.clsToken) ||
        !r.token("sep_token", o.sepToken) ||
        !r.token("pad_token", o.padToken) ||
        !r.token("mask_token", o.maskToken))
      return false;
    o.stripAccents = stripGiven ? strip : o.lowercase;
  }
  o.maxLength = std::min(modelMax, maxPositions);

  // A sentence-transformers Transformer module: its max_seq_length is the
  // truncation length, and do_lower_case lowercases the text first.
  Json st;
  const std::string stPath = modelDir + "/sentence_bert_config.json";
  if (!readOptionalJson(stPath, st, found, error))
    return false;
  if (found) {
    FieldReader r{st, stPath, error};
    bool present = false, lower = false;
    int64_t maxSeq = 0;
    if (!r.integer("max_seq_length", maxSeq, present) ||
        !r.boolean("do_lower_case", lower))
      return false;
    if (present) {
      if (maxSeq > maxPositions)
        return r.fail("max_seq_length",
                      "at most max_position_embeddings (" +
                          std::to_string(maxPositions) + ")",
                      st["max_seq_length"]);
      o.maxLength = maxSeq;
    }
    o.lowercase = o.lowercase || lower;
  }
  return true;
}

std::string wordPieceOptionsJson(const WordPieceOptions &o) {
  nlohmann::ordered_json j;
  j["type"] = "bert_wordpiece";
  j["clean_text"] = o.cleanText;
  j["tokenize_chinese_chars"] = o.chineseChars;
  j["strip_accents"] = o.stripAccents;
  j["lowercase"] = o.lowercase;
  j["max_length"] = o.maxLength;
  j["max_input_chars_per_word"] = o.maxCharsPerWord;
  j["continuing_subword_prefix"] = o.continuingPrefix;
  j["unk_token"] = o.unkToken;
  j["cls_token"] = o.clsToken;
  j["sep_token"] = o.sepToken;
  j["pad_token"] = o.padToken;
  j["mask_token"] = o.maskToken;
  return j.dump();
}

bool parseWordPieceOptions(const std::string &text, const std::string &where,
                           WordPieceOptions &o, std::string &error) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    error = where + ": expected a JSON object, found " +
            (j.is_discarded() ? std::string("invalid JSON") : describe(j));
    return false;
  }
  auto fail = [&](const std::string &key, const std::string &expected) {
    error = where + "." + key + ": expected " + expected + ", found " +
            (j.contains(key) ? describe(j[key]) : "nothing (missing)");
    return false;
  };
  if (j.value("type", Json()) != "bert_wordpiece")
    return fail("type", "\"bert_wordpiece\"");
  struct {
    const char *key;
    bool *out;
  } flags[] = {{"clean_text", &o.cleanText},
               {"tokenize_chinese_chars", &o.chineseChars},
               {"strip_accents", &o.stripAccents},
               {"lowercase", &o.lowercase}};
  for (auto &f : flags) {
    if (!j.contains(f.key) || !j[f.key].is_boolean())
      return fail(f.key, "true or false");
    *f.out = j[f.key].get<bool>();
  }
  struct {
    const char *key;
    int64_t *out;
    int64_t least;
  } ints[] = {{"max_length", &o.maxLength, 2},
              {"max_input_chars_per_word", &o.maxCharsPerWord, 1}};
  for (auto &f : ints) {
    if (!j.contains(f.key) || !j[f.key].is_number_integer() ||
        j[f.key].get<int64_t>() < f.least)
      return fail(f.key, "an integer >= " + std::to_string(f.least));
    *f.out = j[f.key].get<int64_t>();
  }
  struct {
    const char *key;
    std::string *out;
  } strings[] = {{"continuing_subword_prefix", &o.continuingPrefix},
                 {"unk_token", &o.unkToken},
                 {"cls_token", &o.clsToken},
                 {"sep_token", &o.sepToken},
                 {"pad_token", &o.padToken},
                 {"mask_token", &o.maskToken}};
  for (auto &f : strings) {
    if (!j.contains(f.key) || !j[f.key].is_string())
      return fail(f.key, "a string");
    *f.out = j[f.key].get<std::string>();
  }
  return true;
}

} // namespace xfc
