//===- WordPieceTest.cpp - Tests of the BERT WordPiece tokenizer ----------===//
//
// Part of xfc.
//
// The tokenizer must give the ids of the reference tokenizer
// (BertTokenizerFast, transformers 4.36.2) for every committed sentence of
// tests/e2e/golden/minilm (accents, CJK, Hangul, emoji, punctuation runs,
// raw control characters, a word past 100 characters, a sentence one token
// past the maximum length and one far past it), read through the same
// folder reader the import uses. Small hand-made vocabularies pin down the
// rules one at a time, and every refusal has its whole message checked.
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/WordPiece.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace xfc {
namespace {

using nlohmann::json;

const std::string kMiniLM =
    std::string(XFC_SOURCE_DIR) + "/tests/e2e/golden/minilm";

std::vector<std::string> readLines(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    lines.push_back(line);
  return lines;
}

TEST(WordPiece, MatchesTheReferenceTokenizer) {
  HfTokenizer hf;
  std::string error;
  // max_position_embeddings of all-MiniLM-L6-v2.
  ASSERT_TRUE(readHfTokenizer(kMiniLM + "/tokenizer", 512, hf, error)) << error;
  EXPECT_TRUE(hf.options.lowercase);
  EXPECT_TRUE(hf.options.stripAccents);
  EXPECT_TRUE(hf.options.chineseChars);
  // sentence_bert_config.json's max_seq_length, what the reference used.
  EXPECT_EQ(hf.options.maxLength, 256);
  WordPieceTokenizer tokenizer;
  ASSERT_TRUE(tokenizer.load(hf.vocabText, hf.options, "vocab.txt", error))
      << error;
  EXPECT_EQ(tokenizer.numIds(), 30522);
  EXPECT_EQ(tokenizer.padId(), 0);

  std::ifstream in(kMiniLM + "/reference_ids.json");
  json reference = json::parse(in);
  ASSERT_EQ(reference["max_length"], 256);
  const json &fast = reference["fast"];
  std::vector<std::string> sentences = readLines(kMiniLM + "/sentences.txt");
  ASSERT_EQ(sentences.size(), fast.size());
  ASSERT_GE(sentences.size(), 13u);
  for (size_t i = 0; i < sentences.size(); ++i) {
    std::vector<int32_t> want = fast[i].get<std::vector<int32_t>>();
    std::vector<int32_t> got = tokenizer.encode(sentences[i]);
    EXPECT_EQ(got, want) << "sentence " << i + 1 << ": " << sentences[i];
  }
  // The last sentence is one piece past the maximum (255 pieces + [CLS] +
  // [SEP] = 257), so truncation drops exactly one piece.
  EXPECT_EQ(tokenizer.tokenize(sentences.back()).size(), 255u);
  EXPECT_EQ(tokenizer.encode(sentences.back()).size(), 256u);
}

/// A tokenizer over `tokens` (ids 0, 1, ...) after the five special ones.
WordPieceTokenizer small(const std::vector<std::string> &tokens,
                         WordPieceOptions options = {}) {
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (const std::string &t : tokens)
    vocab += t + "\n";
  WordPieceTokenizer tokenizer;
  std::string error;
  EXPECT_TRUE(tokenizer.load(vocab, options, "v", error)) << error;
  return tokenizer;
}

std::string joined(const std::vector<std::string> &pieces) {
  std::string text;
  for (const std::string &p : pieces)
    text += (text.empty() ? "" : " ") + p;
  return text;
}

TEST(WordPiece, GreedyLongestMatch) {
  WordPieceTokenizer t =
      small({"un", "unaff", "##aff", "##able", "##a", "##ble", "a", "!"});
  EXPECT_EQ(joined(t.tokenize("unaffable")), "unaff ##able");
  // A rest that matches nothing makes the whole word unknown.
  EXPECT_EQ(joined(t.tokenize("unaffablex a")), "[UNK] a");
  // Punctuation is a word of its own; runs are split per character.
  EXPECT_EQ(joined(t.tokenize("a!!a")), "a ! ! a");
  EXPECT_EQ(t.encode("un"), (std::vector<int32_t>{2, 5, 3}));
  EXPECT_EQ(t.encode(""), (std::vector<int32_t>{2, 3}));
}

TEST(WordPiece, LongWordsAreUnknown) {
  WordPieceTokenizer t = small({"a", "##a"});
  EXPECT_EQ(t.tokenize(std::string(100, 'a')).size(), 100u);
  EXPECT_EQ(joined(t.tokenize(std::string(101, 'a'))), "[UNK]");
  // Counted in code points, after normalization: 100 "á" (2 bytes each).
  std::string accented;
  for (int i = 0; i < 100; ++i)
    accented += "\xC3\xA1";
  EXPECT_EQ(t.tokenize(accented).size(), 100u);
}

TEST(WordPiece, Normalization) {
  WordPieceTokenizer t = small({"cafe", "e", "x", "y", "\xE4\xB8\x80"});
  // Composed and decomposed accents, capitals.
  EXPECT_EQ(joined(t.tokenize("CAF\xC3\x89 Cafe\xCC\x81")), "cafe cafe");
  // Control characters vanish (joining words), odd spaces separate them.
  EXPECT_EQ(joined(t.tokenize("x\x01y")), "[UNK]");
  EXPECT_EQ(joined(t.tokenize("x\xEE\x80\x80 y")), "x y"); // Co: removed.
  // Unassigned (U+0378) stays, as in the Rust library: "x?y" is unknown.
  EXPECT_EQ(joined(t.tokenize("x\xCD\xB8y y")), "[UNK] y");
  EXPECT_EQ(joined(t.tokenize("x\xE3\x80\x80y\xE2\x80\xA8x")), "x y x");
  // CJK ideographs are words of their own.
  EXPECT_EQ(joined(t.tokenize("x\xE4\xB8\x80y")), "x \xE4\xB8\x80 y");
  // Invalid UTF-8 and U+FFFD are dropped.
  EXPECT_EQ(joined(t.tokenize("x\xFF\xC0\xAF y\xEF\xBF\xBD")), "x y");
  // Special tokens written in the text keep their ids.
  EXPECT_EQ(t.encode("x[MASK]y"), (std::vector<int32_t>{2, 7, 4, 8, 3}));
}

TEST(WordPiece, HangulDecomposes) {
  // 한 = U+D55C = ᄒ (U+1112) ᅡ (U+1161) ᆫ (U+11AB).
  WordPieceTokenizer t =
      small({"\xE1\x84\x92", "##\xE1\x85\xA1", "##\xE1\x86\xAB"});
  EXPECT_EQ(joined(t.tokenize("\xED\x95\x9C")),
            "\xE1\x84\x92 ##\xE1\x85\xA1 ##\xE1\x86\xAB");
}

TEST(WordPiece, CasedOptions) {
  WordPieceOptions cased;
  cased.lowercase = false;
  cased.stripAccents = false;
  WordPieceTokenizer t = small({"Caf\xC3\xA9", "cafe"}, cased);
  EXPECT_EQ(joined(t.tokenize("Caf\xC3\xA9 cafe CAFE")),
            "Caf\xC3\xA9 cafe [UNK]");
}

TEST(WordPiece, Truncation) {
  WordPieceOptions options;
  options.maxLength = 4;
  WordPieceTokenizer t = small({"a", "b", "c"}, options);
  EXPECT_EQ(t.encode("a b"), (std::vector<int32_t>{2, 5, 6, 3}));
  EXPECT_EQ(t.encode("a b c"), (std::vector<int32_t>{2, 5, 6, 3}));
}

TEST(WordPiece, LoadRefusals) {
  WordPieceTokenizer t;
  std::string error;
  EXPECT_FALSE(t.load("[PAD]\n[UNK]\n[SEP]\n", {}, "DIR/vocab.txt", error));
  EXPECT_EQ(error, "DIR/vocab.txt: expected the classification token "
                   "\"[CLS]\" in the vocabulary, found no such line");
  WordPieceOptions options;
  options.maxLength = 1;
  EXPECT_FALSE(t.load("[PAD]\n[UNK]\n[CLS]\n[SEP]\n", options, "v", error));
  EXPECT_EQ(error, "v: expected a maximum length >= 2 and a maximum word "
                   "length >= 1, found 1 and 100");
}

TEST(WordPiece, OptionsRoundTrip) {
  WordPieceOptions options;
  options.lowercase = false;
  options.maxLength = 77;
  options.unkToken = "<unk>";
  WordPieceOptions back;
  std::string error;
  ASSERT_TRUE(
      parseWordPieceOptions(wordPieceOptionsJson(options), "M", back, error))
      << error;
  EXPECT_FALSE(back.lowercase);
  EXPECT_TRUE(back.stripAccents);
  EXPECT_EQ(back.maxLength, 77);
  EXPECT_EQ(back.unkToken, "<unk>");
}

TEST(WordPiece, OptionsRefusals) {
  json j = json::parse(wordPieceOptionsJson({}));
  WordPieceOptions o;
  std::string error;
  EXPECT_FALSE(parseWordPieceOptions("[]", "M", o, error));
  EXPECT_EQ(error, "M: expected a JSON object, found []");
  json bad = j;
  bad["type"] = "bpe";
  EXPECT_FALSE(parseWordPieceOptions(bad.dump(), "M", o, error));
  EXPECT_EQ(error, "M.type: expected \"bert_wordpiece\", found \"bpe\"");
  bad = j;
  bad.erase("lowercase");
  EXPECT_FALSE(parseWordPieceOptions(bad.dump(), "M", o, error));
  EXPECT_EQ(error, "M.lowercase: expected true or false, found nothing "
                   "(missing)");
  bad = j;
  bad["max_length"] = 1;
  EXPECT_FALSE(parseWordPieceOptions(bad.dump(), "M", o, error));
  EXPECT_EQ(error, "M.max_length: expected an integer >= 2, found 1");
  bad = j;
  bad["unk_token"] = 3;
  EXPECT_FALSE(parseWordPieceOptions(bad.dump(), "M", o, error));
  EXPECT_EQ(error, "M.unk_token: expected a string, found 3");
}

} // namespace
} // namespace xfc
