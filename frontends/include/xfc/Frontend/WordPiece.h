//===- WordPiece.h - BERT WordPiece tokenizer -------------------*- C++ -*-===//
//
// Part of xfc. Turns text into the token ids of a BERT-family model: the
// BertNormalizer and BertPreTokenizer of Hugging Face tokenizers (what
// BertTokenizerFast, and so sentence-transformers, runs), then greedy
// longest-match WordPiece over the model's vocab.txt, [CLS] ... [SEP] and
// truncation. docs/hf-import.md ("Text input") states the rules and where
// they differ from the Python BertTokenizer.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_FRONTEND_WORDPIECE_H
#define XFC_FRONTEND_WORDPIECE_H

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace xfc {

/// How text is normalized and split; the defaults are BertTokenizerFast's.
struct WordPieceOptions {
  bool cleanText = true;    ///< Drop control characters, map spaces to ' '.
  bool chineseChars = true; ///< Put spaces around CJK ideographs.
  bool stripAccents = true; ///< NFD, then drop nonspacing marks.
  bool lowercase = true;    ///< Full lower-case mapping, per character.
  /// Most tokens of one encoded text, [CLS] and [SEP] included.
  int64_t maxLength = 512;
  /// A word longer than this (in code points) becomes [UNK].
  int64_t maxCharsPerWord = 100;
  std::string continuingPrefix = "##";
  std::string unkToken = "[UNK]", clsToken = "[CLS]", sepToken = "[SEP]",
              padToken = "[PAD]", maskToken = "[MASK]";
};

/// A loaded vocabulary with its options. Immutable after load(), so one
/// tokenizer may encode from several threads at once.
class WordPieceTokenizer {
public:
  /// Loads `vocabText` (vocab.txt: one token a line, the id is the line
  /// number from 0; a repeated token keeps its last id, as in
  /// transformers). `vocabName` names it in errors. False with a message
  /// when the special tokens are missing or an option is out of range.
  bool load(const std::string &vocabText, const WordPieceOptions &options,
            const std::string &vocabName, std::string &error);

  /// The ids of `utf8` (bytes that are not UTF-8 count as U+FFFD): the
  /// special tokens written literally in the text become their ids, the
  /// rest is normalized, split and looked up; the result is [CLS], at most
  /// maxLength - 2 pieces, [SEP].
  std::vector<int32_t> encode(const std::string &utf8) const;

  /// The pieces of `utf8` as strings (encode without ids), for messages.
  std::vector<std::string> tokenize(const std::string &utf8) const;

  const WordPieceOptions &options() const { return options_; }
  int32_t padId() const { return pad_; }
  /// One past the largest id (the number of lines of vocab.txt).
  int64_t numIds() const { return numIds_; }

private:
  void encodeText(const std::u32string &text, std::vector<int32_t> &ids,
                  std::vector<std::string> *pieces) const;
  void encodeWord(const std::u32string &word, std::vector<int32_t> &ids,
                  std::vector<std::string> *pieces) const;
  void run(const std::string &utf8, std::vector<int32_t> &ids,
           std::vector<std::string> *pieces) const;

  WordPieceOptions options_;
  std::unordered_map<std::string, int32_t> vocab_;
  /// The special tokens matched in raw text, longest first.
  std::vector<std::pair<std::string, int32_t>> special_;
  int32_t unk_ = 0, cls_ = 0, sep_ = 0, pad_ = 0;
  int64_t numIds_ = 0;
};

/// The tokenizer of a Hugging Face BERT folder: vocab.txt (or, without it,
/// the vocabulary of tokenizer.json's WordPiece model) and the options of
/// tokenizer_config.json (BertTokenizer's defaults where absent), with
/// maxLength from sentence_bert_config.json's max_seq_length when the
/// folder is a sentence-transformers module, else the smaller of
/// model_max_length and `maxPositions`.
struct HfTokenizer {
  WordPieceOptions options;
  std::string vocabText; ///< The bytes of vocab.txt.
};

/// Reads the tokenizer of `modelDir`. Returns false with `error` empty if
/// the folder has neither vocab.txt nor a WordPiece tokenizer.json (no
/// tokenizer to record), false with a
/// message (file, JSON path, expected, found) if its files are malformed
/// or name a tokenizer class other than BERT's.
bool readHfTokenizer(const std::string &modelDir, int64_t maxPositions,
                     HfTokenizer &out, std::string &error);

/// The options as the artifact manifest's "tokenizer" object (JSON text,
/// without the vocabulary file fields).
std::string wordPieceOptionsJson(const WordPieceOptions &options);

/// Reads the options back from the manifest's "tokenizer" object (JSON
/// text); false with a message naming `where` and the field.
bool parseWordPieceOptions(const std::string &json, const std::string &where,
                           WordPieceOptions &options, std::string &error);

} // namespace xfc

#endif // XFC_FRONTEND_WORDPIECE_H
