//===- SpecParserTest.cpp - Tests of the JSON model spec parser -----------===//
//
// Part of xfc.
//
// Valid specs of each kind with their defaults, every option parsed, and
// every rejection path: each rejection checks the exact JSON path and the
// key words of `expected` and `found`, since those are what a user reads.
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtil.h"

#include "xfc/Frontend/SpecParser.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

namespace xfc {
namespace {

using nlohmann::json;
using test::minimalSpec;
using test::parseOk;

/// Parses `text`, expects a rejection at `path` whose expected and found
/// parts contain the given words, and returns the error.
SpecError expectRejectText(const std::string &text, const std::string &path,
                           const std::vector<std::string> &expectedWords,
                           const std::vector<std::string> &foundWords) {
  ModelSpec spec;
  SpecError error;
  EXPECT_FALSE(parseModelSpec(text, "/specs", spec, error)) << text;
  EXPECT_EQ(error.path, path) << error.message();
  for (const std::string &word : expectedWords)
    EXPECT_NE(error.expected.find(word), std::string::npos)
        << "expected part lacks '" << word << "': " << error.message();
  for (const std::string &word : foundWords)
    EXPECT_NE(error.found.find(word), std::string::npos)
        << "found part lacks '" << word << "': " << error.message();
  return error;
}

SpecError expectReject(const json &doc, const std::string &path,
                       const std::vector<std::string> &expectedWords,
                       const std::vector<std::string> &foundWords) {
  return expectRejectText(doc.dump(), path, expectedWords, foundWords);
}

/// minimalSpec(kind) with `key` set to `value`.
json with(const std::string &kind, const std::string &key, json value) {
  json doc = minimalSpec(kind);
  doc[key] = std::move(value);
  return doc;
}

//===----------------------------------------------------------------------===//
// Valid specs
//===----------------------------------------------------------------------===//

TEST(FrontendSpecParser, MinimalEncoderDefaults) {
  ModelSpec s = parseOk(minimalSpec("encoder"));
  EXPECT_EQ(s.specVersion, 1);
  EXPECT_EQ(s.name, "tiny-encoder");
  EXPECT_EQ(s.kind, ModelKind::Encoder);
  EXPECT_EQ(s.vocabSize, 100);
  EXPECT_EQ(s.dModel, 16);
  EXPECT_EQ(s.numHeads, 4);
  EXPECT_EQ(s.headDim(), 4);
  EXPECT_EQ(s.dFF, 32);
  EXPECT_EQ(s.numLayers, 2);
  EXPECT_EQ(s.numDecoderLayers, 0);
  EXPECT_EQ(s.maxSeqLen, 512);
  EXPECT_EQ(s.normPlacement, NormPlacement::Post);
  EXPECT_DOUBLE_EQ(s.layerNormEpsilon, 1e-5);
  EXPECT_FALSE(s.finalNorm);
  EXPECT_FALSE(s.embeddingLayerNorm);
  EXPECT_EQ(s.tokenTypeVocabSize, 0);
  EXPECT_DOUBLE_EQ(s.embeddingScale, 1.0);
  EXPECT_EQ(s.activation, Activation::Gelu);
  EXPECT_TRUE(s.bias.attentionQKV);
  EXPECT_TRUE(s.bias.attentionOutput);
  EXPECT_TRUE(s.bias.ffnHidden);
  EXPECT_TRUE(s.bias.ffnOutput);
  EXPECT_FALSE(s.bias.lmHead);
  EXPECT_FALSE(s.lmHead);
  EXPECT_FALSE(s.tiedOutputEmbedding);
  EXPECT_FALSE(s.keyPaddingMask);
  EXPECT_EQ(s.positionalEncoding, PositionalEncoding::Sinusoidal);
  EXPECT_EQ(s.dtype, "f32");
  EXPECT_EQ(s.weights.kind, WeightSource::Kind::Random);
  EXPECT_EQ(s.weights.seed, 0u);
  EXPECT_DOUBLE_EQ(s.weights.stddev, 0.02);
}

TEST(FrontendSpecParser, MinimalDecoderDefaults) {
  ModelSpec s = parseOk(minimalSpec("decoder"));
  EXPECT_EQ(s.kind, ModelKind::Decoder);
  EXPECT_TRUE(s.lmHead);
  EXPECT_FALSE(s.bias.lmHead);
  EXPECT_EQ(s.numLayers, 2);
  EXPECT_EQ(s.numDecoderLayers, 2);
  EXPECT_EQ(s.tokenTypeVocabSize, 0);
}

TEST(FrontendSpecParser, MinimalEncoderDecoderDefaults) {
  ModelSpec s = parseOk(minimalSpec("encoder_decoder"));
  EXPECT_EQ(s.kind, ModelKind::EncoderDecoder);
  EXPECT_TRUE(s.lmHead);
  EXPECT_TRUE(s.sharedEmbeddings);
  EXPECT_EQ(s.numDecoderLayers, s.numLayers);
}

TEST(FrontendSpecParser, EveryEncoderOption) {
  json doc = minimalSpec("encoder");
  doc["max_seq_len"] = 128;
  doc["norm_placement"] = "pre";
  doc["layer_norm_epsilon"] = 1e-12;
  doc["final_norm"] = true;
  doc["embedding_layer_norm"] = true;
  doc["token_type_vocab_size"] = 2;
  doc["embedding_scale"] = 2.5;
  doc["activation"] = "gelu_tanh";
  doc["bias"] = {{"ffn_output", false}, {"lm_head", true}};
  doc["lm_head"] = true;
  doc["tied_output_embedding"] = true;
  doc["key_padding_mask"] = true;
  doc["positional_encoding"] = "learned";
  doc["dtype"] = "f32";
  doc["weights"] = {{"source", "random"}, {"seed", 42}, {"std", 0.5}};
  ModelSpec s = parseOk(doc);
  EXPECT_EQ(s.maxSeqLen, 128);
  EXPECT_EQ(s.normPlacement, NormPlacement::Pre);
  EXPECT_DOUBLE_EQ(s.layerNormEpsilon, 1e-12);
  EXPECT_TRUE(s.finalNorm);
  EXPECT_TRUE(s.embeddingLayerNorm);
  EXPECT_EQ(s.tokenTypeVocabSize, 2);
  EXPECT_DOUBLE_EQ(s.embeddingScale, 2.5);
  EXPECT_EQ(s.activation, Activation::GeluTanh);
  EXPECT_TRUE(s.bias.attentionQKV);
  EXPECT_TRUE(s.bias.attentionOutput);
  EXPECT_TRUE(s.bias.ffnHidden);
  EXPECT_FALSE(s.bias.ffnOutput);
  EXPECT_TRUE(s.bias.lmHead);
  EXPECT_TRUE(s.lmHead);
  EXPECT_TRUE(s.tiedOutputEmbedding);
  EXPECT_TRUE(s.keyPaddingMask);
  EXPECT_EQ(s.positionalEncoding, PositionalEncoding::Learned);
  EXPECT_EQ(s.weights.seed, 42u);
  EXPECT_DOUBLE_EQ(s.weights.stddev, 0.5);
}

TEST(FrontendSpecParser, EncoderDecoderOptions) {
  json doc = minimalSpec("encoder_decoder");
  doc["num_decoder_layers"] = 3;
  doc["shared_embeddings"] = false;
  doc["activation"] = "relu";
  doc["positional_encoding"] = "none";
  doc["lm_head"] = false;
  ModelSpec s = parseOk(doc);
  EXPECT_EQ(s.numLayers, 2);
  EXPECT_EQ(s.numDecoderLayers, 3);
  EXPECT_FALSE(s.sharedEmbeddings);
  EXPECT_EQ(s.activation, Activation::Relu);
  EXPECT_EQ(s.positionalEncoding, PositionalEncoding::None);
  EXPECT_FALSE(s.lmHead);
}

TEST(FrontendSpecParser, BiasBoolSetsTheFourLayerBiases) {
  ModelSpec off = parseOk(with("decoder", "bias", false));
  EXPECT_FALSE(off.bias.attentionQKV);
  EXPECT_FALSE(off.bias.attentionOutput);
  EXPECT_FALSE(off.bias.ffnHidden);
  EXPECT_FALSE(off.bias.ffnOutput);
  EXPECT_FALSE(off.bias.lmHead);
  ModelSpec on = parseOk(with("decoder", "bias", true));
  EXPECT_TRUE(on.bias.attentionQKV && on.bias.attentionOutput &&
              on.bias.ffnHidden && on.bias.ffnOutput);
  EXPECT_FALSE(on.bias.lmHead);
}

TEST(FrontendSpecParser, BiasObjectKeepsDefaultsOfMissingKeys) {
  ModelSpec s = parseOk(with("decoder", "bias", {{"attention_qkv", false}}));
  EXPECT_FALSE(s.bias.attentionQKV);
  EXPECT_TRUE(s.bias.attentionOutput);
  EXPECT_TRUE(s.bias.ffnHidden);
  EXPECT_TRUE(s.bias.ffnOutput);
  EXPECT_FALSE(s.bias.lmHead);
  ModelSpec empty = parseOk(with("decoder", "bias", json::object()));
  EXPECT_TRUE(empty.bias.attentionQKV);
}

TEST(FrontendSpecParser, EmbeddingScaleForms) {
  ModelSpec sqrtScale =
      parseOk(with("encoder_decoder", "embedding_scale", "sqrt_d_model"));
  EXPECT_DOUBLE_EQ(sqrtScale.embeddingScale, 4.0); // d_model 16.
  ModelSpec integer = parseOk(with("encoder", "embedding_scale", 3));
  EXPECT_DOUBLE_EQ(integer.embeddingScale, 3.0);
}

TEST(FrontendSpecParser, IntegerEpsilonAndStdAreNumbers) {
  json doc = with("encoder", "layer_norm_epsilon", 1);
  doc["weights"] = {{"source", "random"}, {"std", 2}};
  ModelSpec s = parseOk(doc);
  EXPECT_DOUBLE_EQ(s.layerNormEpsilon, 1.0);
  EXPECT_DOUBLE_EQ(s.weights.stddev, 2.0);
}

TEST(FrontendSpecParser, LargeSeed) {
  json doc = with("encoder", "weights",
                  {{"source", "random"}, {"seed", 18446744073709551615ull}});
  EXPECT_EQ(parseOk(doc).weights.seed, 18446744073709551615ull);
}

TEST(FrontendSpecParser, SafetensorsPathIsResolvedAgainstSpecDir) {
  json doc = with("encoder", "weights",
                  {{"source", "safetensors"}, {"path", "w/model.safetensors"}});
  ModelSpec s = parseOk(doc, "/models/bert");
  EXPECT_EQ(s.weights.kind, WeightSource::Kind::Safetensors);
  EXPECT_EQ(s.weights.path, "/models/bert/w/model.safetensors");

  doc["weights"]["path"] = "../shared/model.safetensors";
  EXPECT_EQ(parseOk(doc, "/models/bert").weights.path,
            "/models/shared/model.safetensors");

  doc["weights"]["path"] = "/abs/model.safetensors";
  EXPECT_EQ(parseOk(doc, "/models/bert").weights.path,
            "/abs/model.safetensors");
}

TEST(FrontendSpecParser, SafetensorsPathWithoutSpecDirIsAbsolute) {
  json doc = with("encoder", "weights",
                  {{"source", "safetensors"}, {"path", "model.safetensors"}});
  ModelSpec s = parseOk(doc, "");
  EXPECT_TRUE(std::filesystem::path(s.weights.path).is_absolute())
      << s.weights.path;
}

TEST(FrontendSpecParser, LimitsAreInclusive) {
  json doc = minimalSpec("decoder");
  doc["num_layers"] = 1024;
  doc["d_model"] = 1;
  doc["num_heads"] = 1;
  doc["d_ff"] = 1048576;
  doc["vocab_size"] = 1048576;
  doc["max_seq_len"] = 1048576;
  ModelSpec s = parseOk(doc);
  EXPECT_EQ(s.numLayers, 1024);
  EXPECT_EQ(s.dFF, 1048576);
  // vocab_size · d_model exactly 2^31.
  doc = minimalSpec("decoder");
  doc["vocab_size"] = 1048576;
  doc["d_model"] = 2048;
  parseOk(doc);
}

TEST(FrontendSpecParser, HeadsEqualToDModel) {
  json doc = minimalSpec("encoder");
  doc["num_heads"] = 16;
  EXPECT_EQ(parseOk(doc).headDim(), 1);
}

//===----------------------------------------------------------------------===//
// Syntax and structure
//===----------------------------------------------------------------------===//

TEST(FrontendSpecParser, SyntaxErrorHasLineAndColumn) {
  expectRejectText("{\n  \"xfc_spec_version\": 1,\n  \"name\": oops\n}", "$",
                   {"valid JSON"}, {"line 3", "column"});
}

TEST(FrontendSpecParser, TruncatedAndEmptyText) {
  expectRejectText("{\"xfc_spec_version\": 1,", "$", {"JSON"}, {"line"});
  expectRejectText("", "$", {"JSON"}, {"line"});
}

TEST(FrontendSpecParser, CommentsAreNotJson) {
  std::string text = minimalSpec("encoder").dump();
  expectRejectText("// a comment\n" + text, "$", {"JSON"}, {"line 1"});
}

TEST(FrontendSpecParser, NumberOverflowIsAJsonError) {
  std::string text = minimalSpec("encoder").dump();
  text.insert(1, "\"layer_norm_epsilon\": 1e999, ");
  expectRejectText(text, "$", {"JSON"}, {"overflow"});
}

TEST(FrontendSpecParser, RootMustBeAnObject) {
  expectRejectText("[1, 2]", "$", {"object"}, {"an array"});
  expectRejectText("3", "$", {"object"}, {"an integer 3"});
  expectRejectText("\"spec\"", "$", {"object"}, {"a string"});
  expectRejectText("null", "$", {"object"}, {"null"});
}

TEST(FrontendSpecParser, UnknownTopLevelKey) {
  json doc = minimalSpec("encoder");
  doc["d_modle"] = 16;
  SpecError e =
      expectReject(doc, "$.d_modle", {"one of:", "d_model", "kind"},
                   {"unknown key", "d_modle", "did you mean", "\"d_model\""});
  EXPECT_EQ(e.message("bert.json")
                .rfind("bert.json: at $.d_modle: expected "
                       "one of: ",
                       0),
            0u)
      << e.message("bert.json");
}

TEST(FrontendSpecParser, UnknownKeyWithoutNearMatch) {
  SpecError e = expectReject(with("encoder", "rotary", true), "$.rotary",
                             {"one of:"}, {"unknown key \"rotary\""});
  EXPECT_EQ(e.found.find("did you mean"), std::string::npos);
}

TEST(FrontendSpecParser, UnknownKeyWithOddCharactersIsQuotedInPath) {
  expectReject(with("encoder", "d model", 1), "$[\"d model\"]", {"one of:"},
               {"unknown key"});
}

TEST(FrontendSpecParser, UnknownNestedKeys) {
  expectReject(with("encoder", "bias", {{"qkv", false}}), "$.bias.qkv",
               {"one of:", "attention_qkv", "lm_head"}, {"unknown key"});
  expectReject(with("encoder", "weights",
                    {{"source", "random"}, {"path", "w.safetensors"}}),
               "$.weights.path", {"one of:", "seed", "std"},
               {"unknown key \"path\""});
  expectReject(with("encoder", "weights",
                    {{"source", "safetensors"}, {"path", "w"}, {"seed", 1}}),
               "$.weights.seed", {"one of:", "path"}, {"unknown key"});
}

TEST(FrontendSpecParser, DuplicateKey) {
  std::string text = minimalSpec("encoder").dump();
  text.insert(1, "\"d_model\": 32, ");
  expectRejectText(text, "$.d_model", {"once"}, {"duplicate", "d_model"});
}

TEST(FrontendSpecParser, DuplicateNestedKey) {
  std::string text = minimalSpec("encoder").dump();
  text.insert(1, "\"bias\": {\"ffn_hidden\": true, \"ffn_hidden\": false}, ");
  expectRejectText(text, "$.bias.ffn_hidden", {"once"}, {"duplicate"});
}

TEST(FrontendSpecParser, DeepNestingIsRejectedWithoutCrashing) {
  // Rejected by the depth scan before nlohmann builds a value: anything
  // recursing over it later would overflow the stack.
  std::string text =
      "{\"xfc_spec_version\": 1, \"junk\": " + std::string(100000, '[') +
      std::string(100000, ']') + "}";
  expectRejectText(text, "$", {"valid JSON"},
                   {"nesting deeper than the limit of 64 "
                    "levels (at byte 95, line 1, column "
                    "96)"});
  // The object and 63 arrays, 64 levels, are fine (and then an unknown
  // key).
  std::string deep =
      "{\"xfc_spec_version\": 1, \"junk\": " + std::string(63, '[') +
      std::string(63, ']') + "}";
  expectRejectText(deep, "$.junk", {"one of:"}, {"unknown key"});
  // Brackets inside strings do not count.
  std::string quoted = "{\"xfc_spec_version\": 1, \"name\": \"" +
                       std::string(1000, '[') + "\\\"\"}";
  expectRejectText(quoted, "$.kind", {}, {"missing"});
}

TEST(FrontendSpecParser, TrillionDModelIsRejected) {
  expectReject(with("encoder", "d_model", 1000000000000), "$.d_model",
               {"an integer in [1, 1048576]"}, {"1000000000000"});
}

TEST(FrontendSpecParser, GarbageNeverCrashes) {
  const char *inputs[] = {"{",        "}",
                          "{\"a\"",   "{\"a\":}",
                          "\xff\xfe", "{\"name\": \"\xc3\x28\"}",
                          "[{]",      "tru",
                          "nul",      "{\"xfc_spec_version\": 1e400}",
                          "\"\\u00\""};
  for (const char *text : inputs) {
    ModelSpec spec;
    SpecError error;
    EXPECT_FALSE(parseModelSpec(text, "", spec, error)) << text;
    EXPECT_EQ(error.path, "$") << text;
    EXPECT_FALSE(error.found.empty()) << text;
  }
}

//===----------------------------------------------------------------------===//
// Version
//===----------------------------------------------------------------------===//

TEST(FrontendSpecParser, VersionTwoIsRejected) {
  expectReject(with("encoder", "xfc_spec_version", 2), "$.xfc_spec_version",
               {"1"}, {"2"});
}

TEST(FrontendSpecParser, VersionIsCheckedBeforeUnknownKeys) {
  json doc = with("encoder", "xfc_spec_version", 2);
  doc["a_future_key"] = true;
  expectReject(doc, "$.xfc_spec_version", {"1"}, {"2"});
}

TEST(FrontendSpecParser, VersionTypeAndPresence) {
  expectReject(with("encoder", "xfc_spec_version", "1"), "$.xfc_spec_version",
               {"integer 1"}, {"a string \"1\""});
  expectReject(with("encoder", "xfc_spec_version", 1.0), "$.xfc_spec_version",
               {"integer 1"}, {"floating-point"});
  json doc = minimalSpec("encoder");
  doc.erase("xfc_spec_version");
  expectReject(doc, "$.xfc_spec_version", {"1"}, {"nothing (missing)"});
  expectReject(with("encoder", "xfc_spec_version", -1), "$.xfc_spec_version",
               {"1"}, {"-1"});
}

//===----------------------------------------------------------------------===//
// Types, required fields, enums
//===----------------------------------------------------------------------===//

TEST(FrontendSpecParser, EveryRequiredFieldMissing) {
  for (const char *key : {"name", "kind", "vocab_size", "d_model", "num_heads",
                          "d_ff", "num_layers"}) {
    json doc = minimalSpec("decoder");
    doc.erase(key);
    expectReject(doc, std::string("$.") + key, {}, {"nothing (missing)"});
  }
}

TEST(FrontendSpecParser, StringForInteger) {
  expectReject(with("encoder", "d_model", "12"), "$.d_model", {"an integer"},
               {"a string \"12\""});
}

TEST(FrontendSpecParser, FloatForIntegerIsRejected) {
  expectReject(with("encoder", "d_model", 16.0), "$.d_model", {"an integer"},
               {"floating-point", "16.0"});
  expectReject(with("encoder", "vocab_size", 100.5), "$.vocab_size",
               {"an integer"}, {"floating-point"});
  expectRejectText(
      "{\"xfc_spec_version\": 1, \"name\": \"n\", \"kind\": \"encoder\", "
      "\"vocab_size\": 1e2, \"d_model\": 16, \"num_heads\": 4, \"d_ff\": 32, "
      "\"num_layers\": 2}",
      "$.vocab_size", {"an integer"}, {"floating-point"});
}

TEST(FrontendSpecParser, OtherWrongTypes) {
  expectReject(with("encoder", "num_layers", true), "$.num_layers",
               {"an integer"}, {"a boolean true"});
  expectReject(with("encoder", "d_ff", nullptr), "$.d_ff", {"an integer"},
               {"null"});
  expectReject(with("encoder", "d_ff", json::array({32})), "$.d_ff",
               {"an integer"}, {"an array"});
  expectReject(with("encoder", "final_norm", 1), "$.final_norm", {"a boolean"},
               {"an integer 1"});
  expectReject(with("encoder", "key_padding_mask", "true"),
               "$.key_padding_mask", {"a boolean"}, {"a string \"true\""});
  expectReject(with("encoder", "layer_norm_epsilon", "1e-5"),
               "$.layer_norm_epsilon", {"number"}, {"a string"});
  expectReject(with("encoder", "bias", "yes"), "$.bias",
               {"a boolean or an object"}, {"a string \"yes\""});
  expectReject(with("encoder", "bias", {{"ffn_hidden", 1}}),
               "$.bias.ffn_hidden", {"a boolean"}, {"an integer 1"});
  expectReject(with("encoder", "weights", "random"), "$.weights", {"an object"},
               {"a string"});
}

TEST(FrontendSpecParser, Name) {
  expectReject(with("encoder", "name", ""), "$.name", {"non-empty string"},
               {"empty"});
  expectReject(with("encoder", "name", 5), "$.name", {"string"},
               {"an integer 5"});
  expectReject(with("encoder", "name", "a\nb"), "$.name",
               {"without control characters"}, {"a string"});
}

TEST(FrontendSpecParser, LongStringsAreShortenedInMessages) {
  SpecError e = expectReject(with("encoder", "kind", std::string(500, 'x')),
                             "$.kind", {"one of"}, {"..."});
  EXPECT_LT(e.found.size(), 100u);
}

TEST(FrontendSpecParser, BadKind) {
  expectReject(with("encoder", "kind", "bert"), "$.kind",
               {"one of \"encoder\", \"decoder\", \"encoder_decoder\""},
               {"a string \"bert\""});
  expectReject(with("encoder", "kind", 1), "$.kind", {"one of"},
               {"an integer 1"});
  expectReject(with("encoder", "kind", "Encoder"), "$.kind", {"one of"},
               {"\"Encoder\""});
}

TEST(FrontendSpecParser, BadEnums) {
  expectReject(with("encoder", "activation", "swish"), "$.activation",
               {"\"relu\"", "\"gelu\"", "\"gelu_tanh\""}, {"\"swish\""});
  expectReject(with("encoder", "norm_placement", "middle"), "$.norm_placement",
               {"\"post\"", "\"pre\""}, {"\"middle\""});
  expectReject(with("encoder", "positional_encoding", "rope"),
               "$.positional_encoding",
               {"\"sinusoidal\"", "\"learned\"", "\"none\""}, {"\"rope\""});
  expectReject(with("encoder", "dtype", "f16"), "$.dtype", {"\"f32\""},
               {"\"f16\""});
  expectReject(with("encoder", "weights", {{"source", "hub"}}),
               "$.weights.source", {"\"random\"", "\"safetensors\""},
               {"\"hub\""});
  expectReject(with("encoder", "weights", json::object()), "$.weights.source",
               {"\"random\""}, {"nothing (missing)"});
}

//===----------------------------------------------------------------------===//
// Ranges and consistency
//===----------------------------------------------------------------------===//

TEST(FrontendSpecParser, DModelNotDivisibleByHeads) {
  json doc = minimalSpec("encoder");
  doc["d_model"] = 10;
  doc["num_heads"] = 3;
  expectReject(doc, "$.num_heads", {"divisor", "d_model", "10"},
               {"3", "remainder 1"});
}

TEST(FrontendSpecParser, MoreHeadsThanDModel) {
  json doc = minimalSpec("encoder");
  doc["num_heads"] = 32;
  expectReject(doc, "$.num_heads", {"d_model", "16"}, {"32"});
}

TEST(FrontendSpecParser, ZeroAndNegativeSizes) {
  expectReject(with("encoder", "d_model", 0), "$.d_model",
               {"an integer in [1, 1048576]"}, {"0"});
  expectReject(with("encoder", "vocab_size", -3), "$.vocab_size",
               {"[1, 1048576]"}, {"-3"});
  expectReject(with("encoder", "num_layers", 0), "$.num_layers", {"[1, 1024]"},
               {"0"});
  expectReject(with("encoder", "max_seq_len", -1), "$.max_seq_len",
               {"[1, 1048576]"}, {"-1"});
  expectReject(with("encoder", "token_type_vocab_size", -1),
               "$.token_type_vocab_size", {"[0, 1048576]"}, {"-1"});
  expectReject(with("encoder", "num_heads", 0), "$.num_heads", {"[1, 1048576]"},
               {"0"});
}

TEST(FrontendSpecParser, AbsurdSizes) {
  expectReject(with("encoder", "vocab_size", 2000000), "$.vocab_size",
               {"[1, 1048576]"}, {"2000000"});
  expectReject(with("encoder", "d_ff", 1048577), "$.d_ff", {"1048576"},
               {"1048577"});
  expectReject(with("encoder", "num_layers", 1025), "$.num_layers",
               {"[1, 1024]"}, {"1025"});
  expectReject(with("encoder", "max_seq_len", 1 << 21), "$.max_seq_len",
               {"1048576"}, {"2097152"});
  expectReject(with("encoder", "vocab_size", 18446744073709551615ull),
               "$.vocab_size", {"[1, 1048576]"}, {"18446744073709551615"});
  expectReject(with("encoder", "vocab_size", -9223372036854775807ll - 1),
               "$.vocab_size", {"[1, 1048576]"}, {"-9223372036854775808"});
  // Beyond 64 bits the number is a double in JSON terms.
  expectRejectText(
      "{\"xfc_spec_version\": 1, \"name\": \"n\", \"kind\": \"encoder\", "
      "\"vocab_size\": 100000000000000000000, \"d_model\": 16, "
      "\"num_heads\": 4, \"d_ff\": 32, \"num_layers\": 2}",
      "$.vocab_size", {"an integer"}, {"floating-point"});
}

TEST(FrontendSpecParser, ProductLimits) {
  json doc = minimalSpec("encoder");
  doc["d_model"] = 4096;
  doc["num_heads"] = 32;
  doc["d_ff"] = 1048576;
  expectReject(doc, "$.d_ff", {"d_model · d_ff", "2147483648"},
               {"4096 · 1048576"});

  doc = minimalSpec("decoder");
  doc["vocab_size"] = 1048576;
  doc["d_model"] = 4096;
  doc["num_heads"] = 32;
  expectReject(doc, "$.vocab_size", {"vocab_size · d_model", "2147483648"},
               {"1048576 · 4096"});

  // A [D, D] attention matrix beyond 2^31 elements.
  doc = minimalSpec("decoder");
  doc["vocab_size"] = 1;
  doc["d_model"] = 65536;
  doc["num_heads"] = 1;
  doc["d_ff"] = 1;
  expectReject(doc, "$.d_model", {"d_model · d_model"}, {"65536 · 65536"});

  // Learned positions [max_seq_len, D].
  doc = minimalSpec("decoder");
  doc["vocab_size"] = 1;
  doc["d_model"] = 4096;
  doc["num_heads"] = 1;
  doc["max_seq_len"] = 1048576;
  doc["positional_encoding"] = "learned";
  expectReject(doc, "$.max_seq_len", {"max_seq_len · d_model"}, {"1048576"});
  doc["positional_encoding"] = "sinusoidal";
  parseOk(doc);
}

TEST(FrontendSpecParser, Epsilon) {
  expectReject(with("encoder", "layer_norm_epsilon", 0), "$.layer_norm_epsilon",
               {"> 0"}, {"0"});
  expectReject(with("encoder", "layer_norm_epsilon", -1e-5),
               "$.layer_norm_epsilon", {"> 0"}, {"-1e-05"});
}

TEST(FrontendSpecParser, EmbeddingScale) {
  expectReject(with("encoder", "embedding_scale", 0), "$.embedding_scale",
               {"> 0"}, {"0"});
  expectReject(with("encoder", "embedding_scale", -2.0), "$.embedding_scale",
               {"> 0"}, {"-2.0"});
  expectReject(with("encoder", "embedding_scale", "sqrt"), "$.embedding_scale",
               {"\"sqrt_d_model\""}, {"a string \"sqrt\""});
  expectReject(with("encoder", "embedding_scale", true), "$.embedding_scale",
               {"number"}, {"a boolean"});
}

TEST(FrontendSpecParser, KindSpecificKeys) {
  expectReject(with("decoder", "token_type_vocab_size", 2),
               "$.token_type_vocab_size", {"encoder"}, {"decoder"});
  expectReject(with("encoder_decoder", "token_type_vocab_size", 0),
               "$.token_type_vocab_size", {"encoder"}, {"encoder_decoder"});
  expectReject(with("encoder", "num_decoder_layers", 2), "$.num_decoder_layers",
               {"encoder_decoder"}, {"encoder"});
  expectReject(with("decoder", "num_decoder_layers", 2), "$.num_decoder_layers",
               {"encoder_decoder"}, {"decoder"});
  expectReject(with("decoder", "shared_embeddings", true),
               "$.shared_embeddings", {"encoder_decoder"}, {"decoder"});
  expectReject(with("encoder_decoder", "num_decoder_layers", 0),
               "$.num_decoder_layers", {"[1, 1024]"}, {"0"});
}

TEST(FrontendSpecParser, TiedEmbeddingNeedsLmHead) {
  expectReject(with("encoder", "tied_output_embedding", true),
               "$.tied_output_embedding", {"lm_head"}, {"true"});
  json doc = with("decoder", "tied_output_embedding", true);
  doc["lm_head"] = false;
  expectReject(doc, "$.tied_output_embedding", {"lm_head"}, {"true"});
  doc["lm_head"] = true;
  EXPECT_TRUE(parseOk(doc).tiedOutputEmbedding);
}

TEST(FrontendSpecParser, LmHeadBiasNeedsLmHead) {
  expectReject(with("encoder", "bias", {{"lm_head", true}}), "$.bias.lm_head",
               {"lm_head"}, {"true"});
}

TEST(FrontendSpecParser, WeightsRandom) {
  expectReject(with("encoder", "weights", {{"source", "random"}, {"seed", -1}}),
               "$.weights.seed", {"non-negative integer"}, {"-1"});
  expectReject(
      with("encoder", "weights", {{"source", "random"}, {"seed", 1.5}}),
      "$.weights.seed", {"non-negative integer"}, {"floating-point"});
  expectReject(with("encoder", "weights", {{"source", "random"}, {"std", 0}}),
               "$.weights.std", {"> 0"}, {"0"});
  expectReject(
      with("encoder", "weights", {{"source", "random"}, {"std", -0.02}}),
      "$.weights.std", {"> 0"}, {"-0.02"});
  expectReject(
      with("encoder", "weights", {{"source", "random"}, {"std", "big"}}),
      "$.weights.std", {"number"}, {"a string"});
}

TEST(FrontendSpecParser, WeightsSafetensors) {
  expectReject(with("encoder", "weights", {{"source", "safetensors"}}),
               "$.weights.path", {"string"}, {"nothing (missing)"});
  expectReject(
      with("encoder", "weights", {{"source", "safetensors"}, {"path", ""}}),
      "$.weights.path", {"non-empty string"}, {"empty"});
  expectReject(
      with("encoder", "weights", {{"source", "safetensors"}, {"path", 5}}),
      "$.weights.path", {"string"}, {"an integer 5"});
}

//===----------------------------------------------------------------------===//
// Messages and files
//===----------------------------------------------------------------------===//

TEST(FrontendSpecParser, MessageFormat) {
  SpecError e{"$.d_model", "an integer", "a string \"x\""};
  EXPECT_EQ(e.message("m.json"),
            "m.json: at $.d_model: expected an integer, found a string \"x\"");
  EXPECT_EQ(e.message(),
            "at $.d_model: expected an integer, found a string \"x\"");
}

TEST(FrontendSpecParser, FileNotFound) {
  ModelSpec spec;
  SpecError error;
  EXPECT_FALSE(parseModelSpecFile("/nonexistent/xfc/spec.json", spec, error));
  EXPECT_EQ(error.path, "$");
  EXPECT_NE(error.found.find("/nonexistent/xfc/spec.json"), std::string::npos);
  EXPECT_NE(error.expected.find("readable"), std::string::npos);
}

TEST(FrontendSpecParser, MissingFileMessageHasTheWholePath) {
  // Longer than the 60 characters other quoted strings are cut to.
  const std::string path = "/nonexistent/xfc/a/rather/deep/checkout/folder/"
                           "tests/CLI/Inputs/no-such-spec.json";
  ModelSpec spec;
  SpecError error;
  EXPECT_FALSE(parseModelSpecFile(path, spec, error));
  EXPECT_NE(error.found.find("\"" + path + "\" (no such file)"),
            std::string::npos)
      << error.found;
}

TEST(FrontendSpecParser, DirectoryIsNotASpecFile) {
  test::ScratchDir dir;
  ModelSpec spec;
  SpecError error;
  EXPECT_FALSE(parseModelSpecFile(dir.path.string(), spec, error));
  EXPECT_EQ(error.path, "$");
  EXPECT_NE(error.found.find("not a regular file"), std::string::npos);
}

TEST(FrontendSpecParser, FileResolvesWeightsNextToIt) {
  test::ScratchDir dir;
  json doc = with("decoder", "weights",
                  {{"source", "safetensors"}, {"path", "w.safetensors"}});
  std::ofstream(dir.file("spec.json")) << doc.dump(2);
  ModelSpec spec;
  SpecError error;
  ASSERT_TRUE(parseModelSpecFile(dir.file("spec.json"), spec, error))
      << error.message();
  EXPECT_EQ(spec.weights.path, std::filesystem::path(dir.file("w.safetensors"))
                                   .lexically_normal()
                                   .string());
}

TEST(FrontendSpecParser, FileWithSyntaxError) {
  test::ScratchDir dir;
  std::ofstream(dir.file("bad.json")) << "{\n\n  \"kind\" \"encoder\"\n}";
  ModelSpec spec;
  SpecError error;
  EXPECT_FALSE(parseModelSpecFile(dir.file("bad.json"), spec, error));
  EXPECT_EQ(error.path, "$");
  EXPECT_NE(error.found.find("line 3"), std::string::npos) << error.found;
}

TEST(FrontendSpecParser, FailureLeavesOutputUntouched) {
  ModelSpec spec;
  spec.name = "keep";
  SpecError error;
  EXPECT_FALSE(
      parseModelSpec(with("encoder", "d_model", 0).dump(), "", spec, error));
  EXPECT_EQ(spec.name, "keep");
}

//===----------------------------------------------------------------------===//
// Shape options
//===----------------------------------------------------------------------===//

/// The spec errors whose whole message the tests above do not spell out,
/// each with its JSON path, what was expected and what was found
/// (tests/errors/catalogue.json lists every spec error and its test).
TEST(FrontendSpecErrors, MessagesNamePlaceExpectedAndFound) {
  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      {with("encoder", "final_norm", "yes").dump(),
       "at $.final_norm: expected a boolean (true or false), found a string "
       "\"yes\""},
      {with("encoder", "layer_norm_epsilon", -1).dump(),
       "at $.layer_norm_epsilon: expected a finite number > 0, found -1"},
      {with("encoder", "name", 3).dump(),
       "at $.name: expected a non-empty string, found an integer 3"},
      {with("encoder", "name", "").dump(),
       "at $.name: expected a non-empty string, found an empty string"},
      {with("encoder", "name", "a\tb").dump(),
       "at $.name: expected a string without control characters, found a "
       "string \"a\\tb\""},
      {with("encoder", "activation", "swish").dump(),
       "at $.activation: expected one of \"relu\", \"gelu\", \"gelu_tanh\", "
       "found a string \"swish\""},
      {with("encoder", "num_decoder_layers", 2).dump(),
       "at $.num_decoder_layers: expected no \"num_decoder_layers\" (it "
       "applies to kind \"encoder_decoder\" only), found "
       "\"num_decoder_layers\" with kind \"encoder\""},
      {with("encoder", "attention_pattern", json::array({"causal", 3})).dump(),
       "at $.attention_pattern[1]: expected a pattern string or null, found an "
       "integer 3"},
      {"[1, 2]", "at $: expected a JSON object, found an array"},
      {R"({"name": "x"})",
       "at $.xfc_spec_version: expected the integer 1 (the only spec version "
       "this build reads), found nothing (missing)"},
      {R"({"xfc_spec_version": 1, "name": "a", "name": "b"})",
       "at $.name: expected each key at most once, found a duplicate key "
       "\"name\""},
      {with("encoder", "weights", {{"source", "random"}, {"seed", -1}}).dump(),
       "at $.weights.seed: expected a non-negative integer, found -1"},
      {with("encoder", "d_modle", 8).dump(),
       "at $.d_modle: expected one of: xfc_spec_version, name, kind, "
       "vocab_size, d_model, num_heads, d_ff, num_layers, num_decoder_layers, "
       "max_seq_len, norm_placement, layer_norm_epsilon, final_norm, "
       "embedding_layer_norm, token_type_vocab_size, embedding_scale, "
       "activation, bias, lm_head, tied_output_embedding, shared_embeddings, "
       "key_padding_mask, positional_encoding, attention_pattern, transformer_xl, "
       "pooling, dtype, "
       "weights, found unknown key \"d_modle\" (did you mean \"d_model\"?)"},
  };
  for (const Case &c : cases) {
    ModelSpec spec;
    SpecError error;
    EXPECT_FALSE(parseModelSpec(c.text, "/specs", spec, error)) << c.text;
    EXPECT_EQ(error.message(), c.message);
  }
}

TEST(FrontendSpecErrors, HugeSpecFileIsNotRead) {
  test::ScratchDir dir;
  std::string path = (dir.path / "huge.json").string();
  // A sparse file: its size is checked before anything is read.
  ASSERT_TRUE(std::ofstream(path).good());
  std::filesystem::resize_file(path, (64u << 20) + 1);
  ModelSpec spec;
  SpecError error;
  EXPECT_FALSE(parseModelSpecFile(path, spec, error));
  EXPECT_EQ(error.message(path),
            path + ": at $: expected a spec file of at most 67108864 bytes, "
                   "found 67108865 bytes");
}

TEST(FrontendShapeOptions, ValidShapes) {
  ModelSpec s = parseOk(with("encoder_decoder", "max_seq_len", 64));
  SpecError error;
  EXPECT_TRUE(validateShapeOptions(s, {1, 64, 0}, error)) << error.message();
  EXPECT_TRUE(validateShapeOptions(s, {65536, 1, 1}, error)) << error.message();
  EXPECT_TRUE(validateShapeOptions(s, {2, 8, 64}, error)) << error.message();
}

void expectShapeReject(const ModelSpec &spec, ShapeOptions shapes,
                       const std::string &path, const std::string &expectedWord,
                       const std::string &foundWord) {
  SpecError error;
  EXPECT_FALSE(validateShapeOptions(spec, shapes, error));
  EXPECT_EQ(error.path, path);
  EXPECT_NE(error.expected.find(expectedWord), std::string::npos)
      << error.message();
  EXPECT_NE(error.found.find(foundWord), std::string::npos) << error.message();
}

TEST(FrontendShapeOptions, Batch) {
  ModelSpec s = parseOk(minimalSpec("encoder"));
  expectShapeReject(s, {0, 8, 0}, "--batch", "[1, 65536]", "0");
  expectShapeReject(s, {-4, 8, 0}, "--batch", "[1, 65536]", "-4");
  expectShapeReject(s, {65537, 8, 0}, "--batch", "[1, 65536]", "65537");
}

TEST(FrontendShapeOptions, SeqLen) {
  ModelSpec s = parseOk(with("decoder", "max_seq_len", 32));
  expectShapeReject(s, {1, 0, 0}, "--seq-len", "[1, 32]", "0");
  expectShapeReject(s, {1, 33, 0}, "--seq-len", "max_seq_len", "33");
  SpecError error;
  EXPECT_TRUE(validateShapeOptions(s, {1, 32, 0}, error));
}

TEST(FrontendShapeOptions, TgtLen) {
  ModelSpec encDec = parseOk(with("encoder_decoder", "max_seq_len", 32));
  expectShapeReject(encDec, {1, 8, 33}, "--tgt-len", "[1, 32]", "33");
  expectShapeReject(encDec, {1, 8, -1}, "--tgt-len", "[1, 32]", "-1");
  ModelSpec decoder = parseOk(minimalSpec("decoder"));
  expectShapeReject(decoder, {1, 8, 8}, "--tgt-len", "encoder_decoder",
                    "decoder");
}

//===----------------------------------------------------------------------===//
// Pooling
//===----------------------------------------------------------------------===//

TEST(FrontendSpecParser, PoolingForms) {
  EXPECT_FALSE(parseOk(minimalSpec("encoder")).pooling.enabled());
  ModelSpec s = parseOk(with("encoder", "pooling", "mean"));
  EXPECT_EQ(s.pooling.mode, PoolingMode::Mean);
  EXPECT_FALSE(s.pooling.normalize);
  EXPECT_EQ(s.pooling.epsilon, 1e-12);
  s = parseOk(with("encoder", "pooling", "cls"));
  EXPECT_EQ(s.pooling.mode, PoolingMode::Cls);
  s = parseOk(
      with("encoder", "pooling", {{"mode", "mean"}, {"normalize", true}}));
  EXPECT_EQ(s.pooling.mode, PoolingMode::Mean);
  EXPECT_TRUE(s.pooling.normalize);
  // The sentence embedding is the second output, after the hidden states.
  ShapeOptions shapes;
  shapes.batch = 3;
  shapes.seqLen = 7;
  std::vector<TensorDecl> outputs = listOutputs(s, shapes);
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].name, "hidden_states");
  EXPECT_EQ(outputs[1].name, "sentence_embedding");
  EXPECT_EQ(outputs[1].shape, (std::vector<int64_t>{3, s.dModel}));
}

TEST(FrontendSpecParser, PoolingRejections) {
  expectReject(with("encoder", "pooling", "max"), "$.pooling",
               {"\"mean\", \"cls\" or an object"}, {"a string \"max\""});
  expectReject(with("encoder", "pooling", 1), "$.pooling",
               {"\"mean\", \"cls\" or an object"}, {"1"});
  expectReject(with("encoder", "pooling", {{"mode", "sum"}}), "$.pooling.mode",
               {"\"mean\" or \"cls\""}, {"\"sum\""});
  expectReject(with("encoder", "pooling", {{"normalize", true}}),
               "$.pooling.mode", {"\"mean\" or \"cls\""},
               {"nothing (missing)"});
  expectReject(with("encoder", "pooling", {{"mode", "mean"}, {"norm", true}}),
               "$.pooling.norm", {"normalize"}, {"unknown key"});
  expectReject(with("encoder", "pooling", {{"mode", "mean"}, {"normalize", 1}}),
               "$.pooling.normalize", {"a boolean"}, {"1"});
  expectReject(with("decoder", "pooling", "mean"), "$.pooling", {"encoder"},
               {"decoder"});
  json doc = with("encoder", "pooling", "mean");
  doc["lm_head"] = true;
  expectReject(doc, "$.pooling", {"no \"pooling\" with an LM head"},
               {"\"lm_head\": true"});
}

//===----------------------------------------------------------------------===//
// Transformer-XL
//===----------------------------------------------------------------------===//

TEST(FrontendSpecParser, TransformerXLMemoryLength) {
  json doc = with("decoder", "transformer_xl", {{"memory_length", 8}});
  ModelSpec s = parseOk(doc);
  EXPECT_TRUE(s.transformerXL());
  EXPECT_EQ(s.memoryLength, 8);
  // Relative positions replace the default sinusoidal ones.
  EXPECT_EQ(s.positionalEncoding, PositionalEncoding::None);
  doc["positional_encoding"] = "none";
  EXPECT_EQ(parseOk(doc).memoryLength, 8);
  EXPECT_FALSE(parseOk(minimalSpec("decoder")).transformerXL());
}

TEST(FrontendSpecParser, TransformerXLRejections) {
  expectReject(with("encoder", "transformer_xl", {{"memory_length", 8}}),
               "$.transformer_xl", {"decoder"}, {"encoder"});
  expectReject(with("decoder", "transformer_xl", 8), "$.transformer_xl",
               {"an object", "memory_length"}, {"8"});
  expectReject(with("decoder", "transformer_xl", json::object()),
               "$.transformer_xl.memory_length", {"integer"}, {"missing"});
  expectReject(with("decoder", "transformer_xl", {{"memory_length", 0}}),
               "$.transformer_xl.memory_length", {"integer in [1, "}, {"0"});
  expectReject(with("decoder", "transformer_xl", {{"mem_len", 8}}),
               "$.transformer_xl.mem_len", {"memory_length"}, {"unknown key"});
  json doc = with("decoder", "transformer_xl", {{"memory_length", 8}});
  doc["positional_encoding"] = "learned";
  expectReject(doc, "$.positional_encoding", {"\"none\"", "relative"},
               {"\"learned\""});
  doc = with("decoder", "transformer_xl", {{"memory_length", 8}});
  doc["key_padding_mask"] = true;
  expectReject(doc, "$.key_padding_mask", {"false or absent"}, {"true"});
  doc = with("decoder", "transformer_xl", {{"memory_length", 8}});
  doc["attention_pattern"] = "causal";
  expectReject(doc, "$.attention_pattern", {"no \"attention_pattern\""},
               {"attention_pattern"});
  doc = with("decoder", "transformer_xl", {{"memory_length", 8}});
  doc["d_model"] = 15;
  doc["num_heads"] = 3;
  expectReject(doc, "$.d_model", {"even d_model"}, {"15"});
  doc = with("decoder", "transformer_xl", {{"memory_length", 1 << 20}});
  doc["d_model"] = 1 << 12;
  expectReject(doc, "$.transformer_xl.memory_length",
               {"memory_length · d_model"}, {"1048576 · 4096"});
}

} // namespace
} // namespace xfc
