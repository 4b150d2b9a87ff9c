//===- HfImportTest.cpp - Tests of the Hugging Face checkpoint import -----===//
//
// Part of xfc.
//
// The import of the committed tiny checkpoints (tests/e2e/golden/hf) must
// give the spec fields and tensor layouts docs/hf-import.md describes; every
// refusal (config fields that change the math, missing or malformed
// tensors, pickles, sharded checkpoints, existing outputs) must produce the
// whole message in the table below. The numerics are in
// tests/e2e/HfImportTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/HfImport.h"
#include "xfc/Support/Safetensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace xfc {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string goldenDir(const std::string &name) {
  return std::string(XFC_SOURCE_DIR) + "/tests/e2e/golden/hf/" + name;
}

/// A fresh scratch folder for one test, removed at the end.
class Scratch {
public:
  explicit Scratch(const std::string &name)
      : path_(std::string(XFC_BINARY_DIR) + "/tests/hf-import-scratch/" +
              name) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~Scratch() { fs::remove_all(path_); }
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

json readJson(const std::string &path) {
  std::ifstream in(path);
  return json::parse(in);
}

void writeText(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

/// Copies a committed checkpoint (config.json, model.safetensors) to `dir`.
void copyCheckpoint(const std::string &name, const std::string &dir) {
  fs::create_directories(dir);
  fs::copy_file(goldenDir(name) + "/config.json", dir + "/config.json");
  fs::copy_file(goldenDir(name) + "/model.safetensors",
                dir + "/model.safetensors");
}

/// A tensor of a hand-made checkpoint.
struct RawTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

/// Reads every tensor of a safetensors file as raw bytes.
std::vector<RawTensor> readRaw(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
  SafetensorsHeader header;
  std::string error;
  EXPECT_TRUE(parseSafetensors(data.data(), data.size(), header, error))
      << error;
  std::vector<RawTensor> tensors;
  for (const SafetensorsEntry &e : header.entries)
    tensors.push_back(
        {e.name, e.dtype, e.shape,
         std::vector<uint8_t>(data.begin() + e.begin, data.begin() + e.end)});
  return tensors;
}

void writeRaw(const std::string &path, const std::vector<RawTensor> &tensors) {
  std::vector<SafetensorsTensor> out;
  for (const RawTensor &t : tensors)
    out.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  std::string error;
  ASSERT_TRUE(writeSafetensors(path, out, {}, error)) << error;
}

/// Edits the tensors of the checkpoint in `dir`.
void editTensors(const std::string &dir,
                 const std::function<void(std::vector<RawTensor> &)> &edit) {
  std::vector<RawTensor> tensors = readRaw(dir + "/model.safetensors");
  edit(tensors);
  writeRaw(dir + "/model.safetensors", tensors);
}

RawTensor *findRaw(std::vector<RawTensor> &tensors, const std::string &name) {
  for (RawTensor &t : tensors)
    if (t.name == name)
      return &t;
  ADD_FAILURE() << "no tensor " << name;
  return nullptr;
}

void editConfig(const std::string &dir,
                const std::function<void(json &)> &edit) {
  json config = readJson(dir + "/config.json");
  edit(config);
  writeText(dir + "/config.json", config.dump(2));
}

std::string importError(const std::string &dir) {
  HfImport imported;
  std::string error;
  EXPECT_FALSE(importHfCheckpoint(dir, "", "", imported, error));
  return error;
}

/// `text` with every occurrence of `from` replaced by `to`.
std::string replaceAll(std::string text, const std::string &from,
                       const std::string &to) {
  for (size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

//===----------------------------------------------------------------------===//
// Successful imports
//===----------------------------------------------------------------------===//

TEST(HfImport, BertSpecFields) {
  HfImport imported;
  std::string error;
  ASSERT_TRUE(
      importHfCheckpoint(goldenDir("bert_tiny"), "", "", imported, error))
      << error;
  json spec = json::parse(imported.specJson);
  EXPECT_EQ(spec["name"], "bert_tiny");
  EXPECT_EQ(spec["kind"], "encoder");
  EXPECT_EQ(spec["vocab_size"], 99);
  EXPECT_EQ(spec["d_model"], 64);
  EXPECT_EQ(spec["num_heads"], 4);
  EXPECT_EQ(spec["d_ff"], 128);
  EXPECT_EQ(spec["num_layers"], 2);
  EXPECT_EQ(spec["max_seq_len"], 32);
  EXPECT_EQ(spec["norm_placement"], "post");
  EXPECT_EQ(spec["layer_norm_epsilon"], 1e-12);
  EXPECT_EQ(spec["embedding_layer_norm"], true);
  EXPECT_EQ(spec["token_type_vocab_size"], 2);
  EXPECT_EQ(spec["activation"], "gelu");
  EXPECT_EQ(spec["key_padding_mask"], true);
  EXPECT_EQ(spec["lm_head"], false);
  EXPECT_EQ(spec["weights"]["path"], "bert_tiny.weights.safetensors");
  for (const WeightDecl &decl : listWeights(imported.spec))
    EXPECT_TRUE(imported.weights.find(decl.name)) << decl.name;
  EXPECT_EQ(imported.weights.tensors().size(),
            listWeights(imported.spec).size());
}

TEST(HfImport, Gpt2SplitsAndTransposesConv1D) {
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(goldenDir("gpt2_tiny"), "tiny", "w.st",
                                 imported, error))
      << error;
  json spec = json::parse(imported.specJson);
  EXPECT_EQ(spec["name"], "tiny");
  EXPECT_EQ(spec["kind"], "decoder");
  EXPECT_EQ(spec["d_ff"], 256); // n_inner null: 4 · n_embd.
  EXPECT_EQ(spec["max_seq_len"], 32);
  EXPECT_EQ(spec["norm_placement"], "pre");
  EXPECT_EQ(spec["final_norm"], true);
  EXPECT_EQ(spec["activation"], "gelu_tanh");
  EXPECT_EQ(spec["lm_head"], true);
  EXPECT_EQ(spec["tied_output_embedding"], true);
  EXPECT_EQ(spec["weights"]["path"], "w.st");

  // k.weight[o][i] = c_attn.weight[i][D + o]; fc1.weight[o][i] =
  // c_fc.weight[i][o].
  std::vector<RawTensor> raw =
      readRaw(goldenDir("gpt2_tiny") + "/model.safetensors");
  auto at = [](const RawTensor &t, int64_t r, int64_t c) {
    float v;
    std::memcpy(&v, t.bytes.data() + 4 * (r * t.shape[1] + c), 4);
    return v;
  };
  const RawTensor *cAttn = findRaw(raw, "transformer.h.1.attn.c_attn.weight");
  const RawTensor *cFc = findRaw(raw, "transformer.h.1.mlp.c_fc.weight");
  ASSERT_TRUE(cAttn && cFc);
  const HostTensor *k =
      imported.weights.find("decoder.layers.1.self_attn.k.weight");
  const HostTensor *fc1 =
      imported.weights.find("decoder.layers.1.ffn.fc1.weight");
  ASSERT_TRUE(k && fc1);
  ASSERT_EQ(k->shape, (std::vector<int64_t>{64, 64}));
  ASSERT_EQ(fc1->shape, (std::vector<int64_t>{256, 64}));
  for (int64_t o : {0, 5, 63})
    for (int64_t i : {0, 17, 63})
      EXPECT_EQ(k->data[o * 64 + i], at(*cAttn, i, 64 + o));
  for (int64_t o : {0, 100, 255})
    for (int64_t i : {0, 9, 63})
      EXPECT_EQ(fc1->data[o * 64 + i], at(*cFc, i, o));
}

TEST(HfImport, HalfPrecisionWidensExactly) {
  HfImport imported;
  std::string error;
  ASSERT_TRUE(
      importHfCheckpoint(goldenDir("bert_mlm_f16"), "", "", imported, error))
      << error;
  std::vector<RawTensor> raw =
      readRaw(goldenDir("bert_mlm_f16") + "/model.safetensors");
  const RawTensor *hf = findRaw(raw, "bert.embeddings.word_embeddings.weight");
  ASSERT_TRUE(hf);
  ASSERT_EQ(hf->dtype, "F16");
  const HostTensor *tokens = imported.weights.find("encoder.embed.tokens");
  ASSERT_TRUE(tokens);
  for (size_t i = 0; i < tokens->data.size(); ++i) {
    // Back to half by truncation must give the same bits (exact widening).
    uint32_t bits;
    std::memcpy(&bits, &tokens->data[i], 4);
    uint16_t h = uint16_t(hf->bytes[2 * i] | hf->bytes[2 * i + 1] << 8);
    int exponent = int((bits >> 23) & 0xFF) - 127;
    if (exponent >= -14) {
      uint16_t back =
          uint16_t(((bits >> 16) & 0x8000) | ((exponent + 15) << 10) |
                   ((bits >> 13) & 0x3FF));
      ASSERT_EQ(back, h) << "element " << i;
    } else {
      // Subnormal or zero half: value = mantissa · 2^-24.
      float want = std::ldexp(float(h & 0x3FF), -24) * ((h & 0x8000) ? -1 : 1);
      ASSERT_EQ(tokens->data[i], want) << "element " << i;
    }
  }
}

TEST(HfImport, SubnormalAndSpecialHalves) {
  Scratch dir("subnormal");
  copyCheckpoint("bert_tiny", dir.path());
  // The embedding LayerNorm bias as F16 with a subnormal, zero, -0 and the
  // largest half.
  const uint16_t halves[] = {0x0001, 0x0000, 0x8000, 0x7BFF, 0x83FF};
  const float want[] = {std::ldexp(1.0f, -24), 0.0f, -0.0f, 65504.0f,
                        -std::ldexp(1023.0f, -24)};
  editTensors(dir.path(), [&](std::vector<RawTensor> &t) {
    RawTensor *bias = findRaw(t, "embeddings.LayerNorm.bias");
    bias->dtype = "F16";
    bias->bytes.assign(2 * 64, 0);
    for (int i = 0; i < 5; ++i) {
      bias->bytes[2 * i] = uint8_t(halves[i] & 0xFF);
      bias->bytes[2 * i + 1] = uint8_t(halves[i] >> 8);
    }
  });
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(dir.path(), "", "", imported, error)) << error;
  const HostTensor *bias = imported.weights.find("encoder.embed.norm.bias");
  ASSERT_TRUE(bias);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(bias->data[i], want[i]) << i;
    EXPECT_EQ(std::signbit(bias->data[i]), std::signbit(want[i])) << i;
  }
}

/// Writes a sentence-transformers modules.json listing `types` (the short
/// names Transformer, Pooling, Normalize, Dense) and the Pooling config.
void writeSentenceTransformers(const std::string &dir,
                               const std::vector<std::string> &types,
                               const std::string &poolingConfig) {
  json modules = json::array();
  for (size_t i = 0; i < types.size(); ++i)
    modules.push_back({{"idx", i},
                       {"name", std::to_string(i)},
                       {"path", types[i] == "Transformer"
                                    ? std::string()
                                    : std::to_string(i) + "_" + types[i]},
                       {"type", "sentence_transformers.models." + types[i]}});
  writeText(dir + "/modules.json", modules.dump());
  for (size_t i = 0; i < types.size(); ++i)
    if (types[i] == "Pooling") {
      fs::create_directories(dir + "/" + std::to_string(i) + "_Pooling");
      writeText(dir + "/" + std::to_string(i) + "_Pooling/config.json",
                poolingConfig);
    }
}

const char *const kMeanPooling = R"({"word_embedding_dimension": 64,
    "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true,
    "pooling_mode_max_tokens": false,
    "pooling_mode_mean_sqrt_len_tokens": false})";

TEST(HfImport, SentenceTransformersFolder) {
  Scratch dir("st");
  copyCheckpoint("bert_tiny", dir.path());
  writeSentenceTransformers(dir.path(), {"Transformer", "Pooling", "Normalize"},
                            kMeanPooling);
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(dir.path(), "st", "", imported, error))
      << error;
  EXPECT_TRUE(imported.notes.empty());
  EXPECT_EQ(imported.spec.pooling.mode, PoolingMode::Mean);
  EXPECT_TRUE(imported.spec.pooling.normalize);
  EXPECT_EQ(json::parse(imported.specJson)["pooling"],
            json::parse(R"({"mode": "mean", "normalize": true})"));
  // No vocab.txt: no tokenizer.
  EXPECT_FALSE(imported.hasTokenizer);
}

TEST(HfImport, SentenceTransformersClsWithoutNormalize) {
  Scratch dir("st_cls");
  copyCheckpoint("bert_tiny", dir.path());
  writeSentenceTransformers(dir.path(), {"Transformer", "Pooling"},
                            R"({"pooling_mode_cls_token": true})");
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(dir.path(), "", "", imported, error)) << error;
  EXPECT_EQ(imported.spec.pooling.mode, PoolingMode::Cls);
  EXPECT_FALSE(imported.spec.pooling.normalize);
}

TEST(HfImport, SentenceTransformersTransformerOnly) {
  Scratch dir("st_plain");
  copyCheckpoint("bert_tiny", dir.path());
  writeSentenceTransformers(dir.path(), {"Transformer"}, "");
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(dir.path(), "", "", imported, error)) << error;
  EXPECT_FALSE(imported.spec.pooling.enabled());
  EXPECT_FALSE(json::parse(imported.specJson).contains("pooling"));
}

TEST(HfImport, TokenizerFromTokenizerJson) {
  Scratch dir("tokenizer_json");
  copyCheckpoint("bert_tiny", dir.path());
  // No vocab.txt: the WordPiece vocabulary of tokenizer.json (ids in any
  // order of keys).
  writeText(dir.path() + "/tokenizer.json",
            R"({"model": {"type": "WordPiece", "unk_token": "[UNK]",
                "continuing_subword_prefix": "##",
                "max_input_chars_per_word": 50,
                "vocab": {"[UNK]": 1, "[PAD]": 0, "[CLS]": 2, "[SEP]": 3,
                          "hello": 4}}})");
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(dir.path(), "", "", imported, error)) << error;
  ASSERT_TRUE(imported.hasTokenizer);
  EXPECT_EQ(imported.tokenizer.vocabText,
            "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
  EXPECT_EQ(imported.tokenizer.options.maxCharsPerWord, 50);
  // Another model type: no tokenizer.
  writeText(dir.path() + "/tokenizer.json", R"({"model": {"type": "BPE"}})");
  ASSERT_TRUE(importHfCheckpoint(dir.path(), "", "", imported, error)) << error;
  EXPECT_FALSE(imported.hasTokenizer);
}

TEST(HfImport, TokenizerOfTheFolder) {
  Scratch dir("tokenizer");
  copyCheckpoint("bert_tiny", dir.path());
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n";
  writeText(dir.path() + "/vocab.txt", vocab);
  writeText(dir.path() + "/tokenizer_config.json",
            R"({"do_lower_case": false, "model_max_length": 1e30,
                "tokenizer_class": "BertTokenizer"})");
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(dir.path(), "", "", imported, error)) << error;
  ASSERT_TRUE(imported.hasTokenizer);
  EXPECT_EQ(imported.tokenizer.vocabText, vocab);
  EXPECT_FALSE(imported.tokenizer.options.lowercase);
  // strip_accents follows do_lower_case when absent.
  EXPECT_FALSE(imported.tokenizer.options.stripAccents);
  // model_max_length "unlimited": max_position_embeddings (32) bounds it.
  EXPECT_EQ(imported.tokenizer.options.maxLength, 32);
}

TEST(HfImport, LegacyLayerNormNamesAndUnknownFieldsNote) {
  Scratch dir("legacy");
  copyCheckpoint("bert_tiny", dir.path());
  editTensors(dir.path(), [](std::vector<RawTensor> &t) {
    findRaw(t, "encoder.layer.0.output.LayerNorm.weight")->name =
        "encoder.layer.0.output.LayerNorm.gamma";
    findRaw(t, "encoder.layer.0.output.LayerNorm.bias")->name =
        "encoder.layer.0.output.LayerNorm.beta";
  });
  editConfig(dir.path(), [](json &c) { c["my_field"] = 3; });
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(dir.path(), "", "", imported, error)) << error;
  EXPECT_TRUE(imported.weights.find("encoder.layers.0.ffn_norm.weight"));
  ASSERT_EQ(imported.notes.size(), 1u);
  EXPECT_EQ(replaceAll(imported.notes[0], dir.path(), "DIR"),
            "DIR/config.json: fields not used by transformers' BertModel, "
            "ignored: my_field");
}

TEST(HfImport, UntiedGpt2Head) {
  Scratch dir("untied");
  copyCheckpoint("gpt2_tiny", dir.path());
  editConfig(dir.path(), [](json &c) { c["tie_word_embeddings"] = false; });
  editTensors(dir.path(), [](std::vector<RawTensor> &t) {
    RawTensor head = *findRaw(t, "transformer.wte.weight");
    head.name = "lm_head.weight";
    head.bytes[0] ^= 1;
    t.push_back(head);
  });
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(dir.path(), "", "", imported, error)) << error;
  EXPECT_FALSE(imported.spec.tiedOutputEmbedding);
  EXPECT_TRUE(imported.weights.find("lm_head.weight"));
}

TEST(HfImport, WritesSpecAndWeightsThatLoad) {
  Scratch dir("write");
  HfImport imported;
  std::string error;
  ASSERT_TRUE(importHfCheckpoint(goldenDir("gpt2_tiny"), "",
                                 "g.weights.safetensors", imported, error))
      << error;
  const std::string spec = dir.path() + "/g.json";
  ASSERT_TRUE(writeHfImport(imported, spec, false, error)) << error;
  EXPECT_TRUE(fs::exists(dir.path() + "/g.weights.safetensors"));
  // Written again: refused without force, replaced with it.
  EXPECT_FALSE(writeHfImport(imported, spec, false, error));
  EXPECT_EQ(replaceAll(error, dir.path(), "DIR"),
            "DIR/g.json exists; pass --force to replace it");
  EXPECT_TRUE(writeHfImport(imported, spec, true, error)) << error;
  // No temporary file is left beside them.
  int files = 0;
  for (const auto &entry : fs::directory_iterator(dir.path()))
    files += entry.is_regular_file();
  EXPECT_EQ(files, 2);
  EXPECT_EQ(hfWeightsPathFor("a/b.json"), "a/b.weights.safetensors");
  EXPECT_EQ(hfWeightsPathFor("spec"), "spec.weights.safetensors");
}

//===----------------------------------------------------------------------===//
// Refusals: whole messages (DIR stands for the checkpoint folder)
//===----------------------------------------------------------------------===//

struct ErrorCase {
  const char *name;
  const char *base; ///< Committed checkpoint to start from; "" for none.
  std::function<void(const std::string &dir)> edit;
  const char *message;
};

void setConfig(const std::string &dir, const char *key, json value) {
  editConfig(dir, [&](json &c) { c[key] = value; });
}

const std::vector<ErrorCase> &errorCases() {
  static const std::vector<ErrorCase> cases = {
      {"NoFolder", "", [](const std::string &d) { fs::remove_all(d); },
       "DIR: expected a checkpoint folder (config.json and "
       "model.safetensors), found nothing"},
      {"NoConfig", "", [](const std::string &) {},
       "DIR/config.json: not found, expected the model's config.json"},
      {"ConfigNotJson", "bert_tiny",
       [](const std::string &d) { writeText(d + "/config.json", "{\"a\": "); },
       "DIR/config.json: expected valid JSON, found invalid JSON: parse "
       "error at line 1, column 7: syntax error while parsing value - "
       "unexpected end of input; expected '[', '{', or a literal"},
      {"ConfigNotObject", "bert_tiny",
       [](const std::string &d) { writeText(d + "/config.json", "[1]"); },
       "DIR/config.json: at $: expected a JSON object, found [1]"},
      {"UnknownModelType", "bert_tiny",
       [](const std::string &d) { setConfig(d, "model_type", "roberta"); },
       "DIR/config.json: at $.model_type: expected \"bert\" or \"gpt2\", "
       "found \"roberta\""},
      {"MissingModelType", "bert_tiny",
       [](const std::string &d) {
         editConfig(d, [](json &c) { c.erase("model_type"); });
       },
       "DIR/config.json: at $.model_type: expected \"bert\" or \"gpt2\", "
       "found nothing (missing)"},
      {"ModelTypeNotString", "bert_tiny",
       [](const std::string &d) { setConfig(d, "model_type", 7); },
       "DIR/config.json: at $.model_type: expected a string, found 7"},
      {"UnknownArchitecture", "bert_tiny",
       [](const std::string &d) {
         setConfig(d, "architectures", json::array({"BertLMHeadModel"}));
       },
       "DIR/config.json: at $.architectures[0]: expected one of "
       "\"BertForMaskedLM\", \"BertForMultipleChoice\", "
       "\"BertForNextSentencePrediction\", \"BertForPreTraining\", "
       "\"BertForQuestionAnswering\", \"BertForSequenceClassification\", "
       "\"BertForTokenClassification\", \"BertModel\", found "
       "\"BertLMHeadModel\""},
      {"ArchitecturesNotList", "gpt2_tiny",
       [](const std::string &d) { setConfig(d, "architectures", "GPT2Model"); },
       "DIR/config.json: at $.architectures: expected a non-empty list of "
       "\"GPT2DoubleHeadsModel\", \"GPT2ForQuestionAnswering\", "
       "\"GPT2ForSequenceClassification\", \"GPT2ForTokenClassification\", "
       "\"GPT2LMHeadModel\", \"GPT2Model\", found \"GPT2Model\""},
      {"HiddenAct", "bert_tiny",
       [](const std::string &d) { setConfig(d, "hidden_act", "silu"); },
       "DIR/config.json: at $.hidden_act: expected one of \"gelu\", "
       "\"gelu_new\", \"gelu_pytorch_tanh\", \"relu\", found \"silu\""},
      {"ActivationFunction", "gpt2_tiny",
       [](const std::string &d) {
         setConfig(d, "activation_function", "quick_gelu");
       },
       "DIR/config.json: at $.activation_function: expected one of "
       "\"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\", \"relu\", found "
       "\"quick_gelu\""},
      {"PositionEmbeddingType", "bert_tiny",
       [](const std::string &d) {
         setConfig(d, "position_embedding_type", "relative_key");
       },
       "DIR/config.json: at $.position_embedding_type: expected "
       "\"absolute\" (xfc adds learned absolute positions; relative position "
       "embeddings are not supported), found \"relative_key\""},
      {"BertIsDecoder", "bert_tiny",
       [](const std::string &d) { setConfig(d, "is_decoder", true); },
       "DIR/config.json: at $.is_decoder: expected false (a BERT encoder "
       "attends in both directions; a causal BERT decoder is not "
       "supported), found true"},
      {"IsDecoderNotBool", "bert_tiny",
       [](const std::string &d) { setConfig(d, "is_decoder", "no"); },
       "DIR/config.json: at $.is_decoder: expected a boolean, found \"no\""},
      {"CrossAttention", "gpt2_tiny",
       [](const std::string &d) { setConfig(d, "add_cross_attention", true); },
       "DIR/config.json: at $.add_cross_attention: expected false "
       "(cross-attention layers are not imported), found true"},
      {"EncoderDecoder", "bert_tiny",
       [](const std::string &d) { setConfig(d, "is_encoder_decoder", true); },
       "DIR/config.json: at $.is_encoder_decoder: expected false (xfc "
       "imports encoder-only or decoder-only models), found true"},
      {"InverseLayerIdx", "gpt2_tiny",
       [](const std::string &d) {
         setConfig(d, "scale_attn_by_inverse_layer_idx", true);
       },
       "DIR/config.json: at $.scale_attn_by_inverse_layer_idx: expected "
       "false (scores are not scaled by 1 / (layer index + 1)), found true"},
      {"ReorderAndUpcast", "gpt2_tiny",
       [](const std::string &d) {
         setConfig(d, "reorder_and_upcast_attn", true);
       },
       "DIR/config.json: at $.reorder_and_upcast_attn: expected false (the "
       "reordered, upcast attention is not implemented), found true"},
      {"UnscaledAttention", "gpt2_tiny",
       [](const std::string &d) { setConfig(d, "scale_attn_weights", false); },
       "DIR/config.json: at $.scale_attn_weights: expected true (attention "
       "scores are divided by sqrt(head_dim)), found false"},
      {"PrunedHeads", "bert_tiny",
       [](const std::string &d) {
         setConfig(d, "pruned_heads", json{{"0", json::array({1})}});
       },
       "DIR/config.json: at $.pruned_heads: expected {} (checkpoints with "
       "pruned attention heads are not supported), found {\"0\":[1]}"},
      {"SizeNotInteger", "bert_tiny",
       [](const std::string &d) { setConfig(d, "hidden_size", "64"); },
       "DIR/config.json: at $.hidden_size: expected an integer in [1, "
       "1048576], found \"64\""},
      {"LayersOutOfRange", "gpt2_tiny",
       [](const std::string &d) { setConfig(d, "n_layer", 0); },
       "DIR/config.json: at $.n_layer: expected an integer in [1, 1024], "
       "found 0"},
      {"Epsilon", "bert_tiny",
       [](const std::string &d) { setConfig(d, "layer_norm_eps", -1); },
       "DIR/config.json: at $.layer_norm_eps: expected a finite number > 0, "
       "found -1"},
      {"TieNotBool", "gpt2_tiny",
       [](const std::string &d) { setConfig(d, "tie_word_embeddings", 1); },
       "DIR/config.json: at $.tie_word_embeddings: expected a boolean, "
       "found 1"},
      {"HeadsDoNotDivide", "bert_tiny",
       [](const std::string &d) { setConfig(d, "num_attention_heads", 5); },
       "DIR/config.json: the imported spec is not valid: at $.num_heads: "
       "expected a divisor of d_model (64), found 5 (d_model 64 leaves "
       "remainder 4)"},
      {"PickleOnly", "bert_tiny",
       [](const std::string &d) {
         fs::rename(d + "/model.safetensors", d + "/pytorch_model.bin");
       },
       "DIR/model.safetensors: not found, expected model.safetensors; the "
       "folder has only pytorch_model.bin, a pickle, which xfc does not read "
       "(loading a pickle can execute code). Convert it (only if you trust "
       "the file) with python3 -c \"import torch; from safetensors.torch "
       "import save_file; sd = torch.load('DIR/pytorch_model.bin', "
       "map_location='cpu', weights_only=True); save_file({k: "
       "v.clone().contiguous() for k, v in sd.items()}, "
       "'DIR/model.safetensors', metadata={'format': 'pt'})\""},
      {"Sharded", "bert_tiny",
       [](const std::string &d) {
         fs::rename(d + "/model.safetensors",
                    d + "/model-00001-of-00002.safetensors");
         writeText(d + "/model.safetensors.index.json", "{}");
       },
       "DIR/model.safetensors: not found; the checkpoint is sharded "
       "(model.safetensors.index.json), expected one model.safetensors: "
       "merge it with python3 -c \"from transformers import AutoModel; "
       "AutoModel.from_pretrained('DIR').save_pretrained('DIR', "
       "safe_serialization=True, max_shard_size='1000GB')\""},
      {"NoWeights", "bert_tiny",
       [](const std::string &d) { fs::remove(d + "/model.safetensors"); },
       "DIR/model.safetensors: not found, expected the weights of the "
       "checkpoint there"},
      {"NotSafetensors", "bert_tiny",
       [](const std::string &d) {
         writeText(d + "/model.safetensors", std::string(4, '\0'));
       },
       "DIR/model.safetensors: not a valid safetensors file: safetensors: "
       "expected at least 8 bytes (the header length), found 4 bytes; the "
       "file is truncated"},
      {"WeightsAreAFolder", "bert_tiny",
       [](const std::string &d) {
         fs::remove(d + "/model.safetensors");
         fs::create_directories(d + "/model.safetensors");
       },
       "DIR/model.safetensors: cannot read the checkpoint: not a regular "
       "file"},
      {"MissingTensor", "bert_tiny",
       [](const std::string &d) {
         editTensors(d, [](std::vector<RawTensor> &t) {
           t.erase(t.begin() + (findRaw(t, "encoder.layer.1.attention.self."
                                           "value.bias") -
                                t.data()));
         });
       },
       "DIR/model.safetensors: missing tensor "
       "\"encoder.layer.1.attention.self.value.bias\" (expected [64])"},
      {"WrongShape", "gpt2_tiny",
       [](const std::string &d) { setConfig(d, "vocab_size", 100); },
       "DIR/model.safetensors: tensor \"transformer.wte.weight\" has shape "
       "[99, 64], expected [100, 64] (from config.json)"},
      {"WrongDtype", "bert_tiny",
       [](const std::string &d) {
         editTensors(d, [](std::vector<RawTensor> &t) {
           findRaw(t, "embeddings.token_type_embeddings.weight")->dtype = "I32";
         });
       },
       "DIR/model.safetensors: tensor "
       "\"embeddings.token_type_embeddings.weight\" has dtype I32, expected "
       "F32, F16 or BF16"},
      {"NotFinite", "gpt2_tiny",
       [](const std::string &d) {
         editTensors(d, [](std::vector<RawTensor> &t) {
           RawTensor *w = findRaw(t, "transformer.h.0.mlp.c_fc.bias");
           const float nan = std::nanf("");
           std::memcpy(w->bytes.data() + 12, &nan, 4);
         });
       },
       "DIR/model.safetensors: tensor \"transformer.h.0.mlp.c_fc.bias\" "
       "holds NaN at element 3, expected finite values"},
      {"UnexpectedBertTensor", "bert_tiny",
       [](const std::string &d) {
         editTensors(d, [](std::vector<RawTensor> &t) {
           RawTensor extra = *findRaw(t, "pooler.dense.bias");
           extra.name = "encoder.layer.2.output.dense.bias";
           t.push_back(extra);
         });
       },
       "DIR/model.safetensors: unexpected tensor "
       "\"encoder.layer.2.output.dense.bias\" (not a tensor of a BERT "
       "encoder with 2 layers, nor of a known head (docs/hf-import.md lists "
       "the names))"},
      {"UnexpectedGpt2Tensor", "gpt2_tiny",
       [](const std::string &d) {
         editTensors(d, [](std::vector<RawTensor> &t) {
           RawTensor extra = *findRaw(t, "transformer.ln_f.bias");
           extra.name = "transformer.ln_g.bias";
           t.push_back(extra);
         });
       },
       "DIR/model.safetensors: unexpected tensor \"transformer.ln_g.bias\" "
       "(not a tensor of a GPT-2 model with 2 layers, nor of a known head "
       "(docs/hf-import.md lists the names))"},
      {"TiedHeadDiffers", "gpt2_tiny",
       [](const std::string &d) {
         editTensors(d, [](std::vector<RawTensor> &t) {
           RawTensor head = *findRaw(t, "transformer.wte.weight");
           head.name = "lm_head.weight";
           head.bytes[0] ^= 1;
           t.push_back(head);
         });
       },
       "DIR/model.safetensors: tensor \"lm_head.weight\" differs from "
       "\"transformer.wte.weight\", expected the same values (config.json "
       "has tie_word_embeddings true, so transformers would replace it by "
       "the token embedding)"},
      {"UntiedHeadMissing", "gpt2_tiny",
       [](const std::string &d) { setConfig(d, "tie_word_embeddings", false); },
       "DIR/model.safetensors: missing tensor \"lm_head.weight\" (expected "
       "[99, 64]; config.json has tie_word_embeddings false)"},
      {"ModulesNotList", "bert_tiny",
       [](const std::string &d) { writeText(d + "/modules.json", "{}"); },
       "DIR/modules.json: at $: expected a list of modules, found {}"},
      {"ModuleMalformed", "bert_tiny",
       [](const std::string &d) {
         writeText(d + "/modules.json", R"([{"path": ""}])");
       },
       "DIR/modules.json: at $[0]: expected an object with a string "
       "\"type\" and \"path\", found {\"path\":\"\"}"},
      {"NoTransformerModule", "bert_tiny",
       [](const std::string &d) { writeText(d + "/modules.json", "[]"); },
       "DIR/modules.json: expected a module of type "
       "\"sentence_transformers.models.Transformer\", found none"},
      {"PoolingBeforeTransformer", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Pooling", "Transformer"}, kMeanPooling);
       },
       "DIR/modules.json: at $[0].type: expected "
       "\"sentence_transformers.models.Transformer\" first (xfc computes "
       "Transformer, Pooling, Normalize), found "
       "\"sentence_transformers.models.Pooling\""},
      {"NormalizeWithoutPooling", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Transformer", "Normalize"}, "");
       },
       "DIR/modules.json: at $[1].type: expected "
       "\"sentence_transformers.models.Pooling\" after the Transformer (xfc "
       "computes Transformer, Pooling, Normalize), found "
       "\"sentence_transformers.models.Normalize\""},
      {"DenseAfterPooling", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Transformer", "Pooling", "Dense"},
                                   kMeanPooling);
       },
       "DIR/modules.json: at $[2].type: expected "
       "\"sentence_transformers.models.Normalize\" after the Pooling module "
       "(xfc computes Transformer, Pooling, Normalize), found "
       "\"sentence_transformers.models.Dense\""},
      {"ModuleAfterNormalize", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(
             d, {"Transformer", "Pooling", "Normalize", "Normalize"},
             kMeanPooling);
       },
       "DIR/modules.json: at $[3].type: expected no module after Normalize "
       "(xfc computes Transformer, Pooling, Normalize), found "
       "\"sentence_transformers.models.Normalize\""},
      {"MaxPooling", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Transformer", "Pooling"},
                                   R"({"pooling_mode_mean_tokens": true,
                                       "pooling_mode_max_tokens": true})");
       },
       "DIR/1_Pooling/config.json: at $.pooling_mode_max_tokens: expected "
       "false (xfc implements mean and cls pooling only), found true"},
      {"LastTokenPooling", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Transformer", "Pooling"},
                                   R"({"pooling_mode_lasttoken": true})");
       },
       "DIR/1_Pooling/config.json: at $.pooling_mode_lasttoken: expected "
       "false (xfc implements mean and cls pooling only), found true"},
      {"MeanAndClsPooling", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Transformer", "Pooling"},
                                   R"({"pooling_mode_mean_tokens": true,
                                       "pooling_mode_cls_token": true})");
       },
       "DIR/1_Pooling/config.json: at $.pooling_mode_cls_token: expected "
       "one of pooling_mode_cls_token and pooling_mode_mean_tokens to be "
       "true (xfc does not concatenate poolings), found both true"},
      {"NoPoolingMode", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Transformer", "Pooling"},
                                   R"({"word_embedding_dimension": 64})");
       },
       "DIR/1_Pooling/config.json: at $: expected pooling_mode_mean_tokens "
       "or pooling_mode_cls_token to be true, found no pooling mode"},
      {"PoolingFlagNotBoolean", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Transformer", "Pooling"},
                                   R"({"pooling_mode_mean_tokens": "yes"})");
       },
       "DIR/1_Pooling/config.json: at $.pooling_mode_mean_tokens: expected "
       "true or false, found \"yes\""},
      {"PoolingWidthNotInteger", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Transformer", "Pooling"},
                                   R"({"pooling_mode_mean_tokens": true,
                                       "word_embedding_dimension": 6.5})");
       },
       "DIR/1_Pooling/config.json: at $.word_embedding_dimension: expected a "
       "positive integer, found 6.5"},
      {"PoolingWidthDiffers", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Transformer", "Pooling"},
                                   R"({"pooling_mode_mean_tokens": true,
                                       "word_embedding_dimension": 384})");
       },
       "DIR/1_Pooling/config.json: at $.word_embedding_dimension: expected "
       "64 (the model's hidden_size), found 384"},
      {"PoolingConfigMissing", "bert_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Transformer", "Pooling"}, "");
         fs::remove(d + "/1_Pooling/config.json");
       },
       "DIR/1_Pooling/config.json: cannot read the file: No such file or "
       "directory"},
      {"PoolingOnGpt2", "gpt2_tiny",
       [](const std::string &d) {
         writeSentenceTransformers(d, {"Transformer", "Pooling"},
                                   R"({"pooling_mode_mean_tokens": true})");
       },
       "DIR/config.json: the imported spec is not valid: at $.pooling: "
       "expected no \"pooling\" (it applies to kind \"encoder\" only), "
       "found \"pooling\" with kind \"decoder\""},
      {"TokenizerClass", "bert_tiny",
       [](const std::string &d) {
         writeText(d + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
         writeText(d + "/tokenizer_config.json",
                   R"({"tokenizer_class": "RobertaTokenizer"})");
       },
       "DIR/tokenizer_config.json: at $.tokenizer_class: expected "
       "\"BertTokenizer\" or \"BertTokenizerFast\" (xfc implements BERT's "
       "WordPiece tokenizer only), found \"RobertaTokenizer\""},
      {"TokenizerConfigNotObject", "bert_tiny",
       [](const std::string &d) {
         writeText(d + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
         writeText(d + "/tokenizer_config.json", "[1]");
       },
       "DIR/tokenizer_config.json: at $: expected a JSON object, found [1]"},
      {"TokenizerLowerCaseNotBoolean", "bert_tiny",
       [](const std::string &d) {
         writeText(d + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
         writeText(d + "/tokenizer_config.json", R"({"do_lower_case": 1})");
       },
       "DIR/tokenizer_config.json: at $.do_lower_case: expected true, false "
       "or null, found 1"},
      {"TokenizerMaxLengthNotNumber", "bert_tiny",
       [](const std::string &d) {
         writeText(d + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
         writeText(d + "/tokenizer_config.json",
                   R"({"model_max_length": "long"})");
       },
       "DIR/tokenizer_config.json: at $.model_max_length: expected a number "
       ">= 2, found \"long\""},
      {"TokenizerTokenNotString", "bert_tiny",
       [](const std::string &d) {
         writeText(d + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
         writeText(d + "/tokenizer_config.json", R"({"unk_token": 5})");
       },
       "DIR/tokenizer_config.json: at $.unk_token: expected a string or "
       "{\"content\": string}, found 5"},
      {"TokenizerJsonIdsNotDense", "bert_tiny",
       [](const std::string &d) {
         writeText(d + "/tokenizer.json",
                   R"({"model": {"type": "WordPiece",
                                 "vocab": {"[PAD]": 0, "[UNK]": 2}}})");
       },
       "DIR/tokenizer.json: at $.model.vocab: expected an object mapping "
       "single-line tokens to the ids 0 to N-1, each once, found "
       "{\"[PAD]\":0,\"[UNK]\":2}"},
      {"MaxSeqLengthTooLong", "bert_tiny",
       [](const std::string &d) {
         writeText(d + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
         writeText(d + "/sentence_bert_config.json",
                   R"({"max_seq_length": 512})");
       },
       "DIR/sentence_bert_config.json: at $.max_seq_length: expected at "
       "most max_position_embeddings (32), found 512"},
      {"TwoTransformerModules", "bert_tiny",
       [](const std::string &d) {
         writeText(
             d + "/modules.json",
             R"([{"path": "", "type": "sentence_transformers.models.Transformer"},
                       {"path": "", "type": "sentence_transformers.models.Transformer"}])");
       },
       "DIR/modules.json: at $[1]: expected one Transformer module, found a "
       "second one"},
  };
  return cases;
}

class HfImportErrors : public ::testing::TestWithParam<size_t> {};

TEST_P(HfImportErrors, WholeMessage) {
  const ErrorCase &c = errorCases()[GetParam()];
  Scratch dir(std::string("error_") + c.name);
  const std::string ckpt = dir.path() + "/ckpt";
  if (*c.base)
    copyCheckpoint(c.base, ckpt);
  else
    fs::create_directories(ckpt);
  c.edit(ckpt);
  EXPECT_EQ(replaceAll(importError(ckpt), ckpt, "DIR"), c.message);
}

INSTANTIATE_TEST_SUITE_P(Table, HfImportErrors,
                         ::testing::Range<size_t>(0, errorCases().size()),
                         [](const ::testing::TestParamInfo<size_t> &info) {
                           return std::string(errorCases()[info.param].name);
                         });

TEST(HfImportWrite, OutputIsAFolder) {
  Scratch dir("write_folder");
  HfImport imported;
  std::string error;
  ASSERT_TRUE(
      importHfCheckpoint(goldenDir("bert_tiny"), "", "", imported, error))
      << error;
  fs::create_directories(dir.path() + "/x.json");
  EXPECT_FALSE(writeHfImport(imported, dir.path() + "/x.json", true, error));
  EXPECT_EQ(replaceAll(error, dir.path(), "DIR"),
            "DIR/x.json is a folder, expected a file path");
  EXPECT_FALSE(fs::exists(dir.path() + "/x.weights.safetensors"));
}

} // namespace
} // namespace xfc
