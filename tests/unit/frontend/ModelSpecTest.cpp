//===- ModelSpecTest.cpp - Tests of the weight and I/O lists --------------===//
//
// Part of xfc.
//
// listWeights must follow the canonical order of docs/spec.md exactly (the
// IR builder's argument order and the random initialization depend on it);
// listInputs/listOutputs must follow the inputs and outputs table.
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtil.h"

#include "xfc/Frontend/ModelSpec.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace xfc {
namespace {

using nlohmann::json;
using test::minimalSpec;
using test::parseOk;

std::vector<std::string> names(const std::vector<WeightDecl> &weights) {
  std::vector<std::string> out;
  for (const WeightDecl &w : weights)
    out.push_back(w.name);
  return out;
}

const WeightDecl *findWeight(const std::vector<WeightDecl> &weights,
                             const std::string &name) {
  for (const WeightDecl &w : weights)
    if (w.name == name)
      return &w;
  return nullptr;
}

/// The names of one layer of `stack` in canonical order.
std::vector<std::string> layerNames(const std::string &stack, int layer,
                                    bool cross, bool biases) {
  std::string p = stack + ".layers." + std::to_string(layer) + ".";
  std::vector<std::string> out;
  auto linear = [&](const std::string &name) {
    out.push_back(p + name + ".weight");
    if (biases)
      out.push_back(p + name + ".bias");
  };
  auto norm = [&](const std::string &name) {
    out.push_back(p + name + ".weight");
    out.push_back(p + name + ".bias");
  };
  auto attention = [&](const std::string &name) {
    for (const char *proj : {"q", "k", "v", "out"})
      linear(name + "." + proj);
    norm(name + "_norm");
  };
  attention("self_attn");
  if (cross)
    attention("cross_attn");
  linear("ffn.fc1");
  linear("ffn.fc2");
  norm("ffn_norm");
  return out;
}

void append(std::vector<std::string> &to,
            const std::vector<std::string> &from) {
  to.insert(to.end(), from.begin(), from.end());
}

//===----------------------------------------------------------------------===//
// listWeights
//===----------------------------------------------------------------------===//

TEST(FrontendModelSpec, MinimalEncoderWeightOrder) {
  ModelSpec s = parseOk(minimalSpec("encoder"));
  std::vector<std::string> expected = {"encoder.embed.tokens"};
  append(expected, layerNames("encoder", 0, false, true));
  append(expected, layerNames("encoder", 1, false, true));
  EXPECT_EQ(names(listWeights(s)), expected);
  EXPECT_EQ(listWeights(s).size(), 1u + 2 * 16);
}

TEST(FrontendModelSpec, ExactLayerOrderSpelledOut) {
  json doc = minimalSpec("encoder");
  doc["num_layers"] = 1;
  std::vector<std::string> expected = {
      "encoder.embed.tokens",
      "encoder.layers.0.self_attn.q.weight",
      "encoder.layers.0.self_attn.q.bias",
      "encoder.layers.0.self_attn.k.weight",
      "encoder.layers.0.self_attn.k.bias",
      "encoder.layers.0.self_attn.v.weight",
      "encoder.layers.0.self_attn.v.bias",
      "encoder.layers.0.self_attn.out.weight",
      "encoder.layers.0.self_attn.out.bias",
      "encoder.layers.0.self_attn_norm.weight",
      "encoder.layers.0.self_attn_norm.bias",
      "encoder.layers.0.ffn.fc1.weight",
      "encoder.layers.0.ffn.fc1.bias",
      "encoder.layers.0.ffn.fc2.weight",
      "encoder.layers.0.ffn.fc2.bias",
      "encoder.layers.0.ffn_norm.weight",
      "encoder.layers.0.ffn_norm.bias",
  };
  EXPECT_EQ(names(listWeights(parseOk(doc))), expected);
}

TEST(FrontendModelSpec, BertLikeEmbeddingsAndHead) {
  json doc = minimalSpec("encoder");
  doc["num_layers"] = 1;
  doc["positional_encoding"] = "learned";
  doc["max_seq_len"] = 64;
  doc["token_type_vocab_size"] = 2;
  doc["embedding_layer_norm"] = true;
  doc["final_norm"] = true;
  doc["lm_head"] = true;
  doc["bias"] = {{"lm_head", true}};
  std::vector<WeightDecl> w = listWeights(parseOk(doc));
  std::vector<std::string> expected = {
      "encoder.embed.tokens", "encoder.embed.positions",
      "encoder.embed.token_types", "encoder.embed.norm.weight",
      "encoder.embed.norm.bias"};
  append(expected, layerNames("encoder", 0, false, true));
  append(expected, {"encoder.final_norm.weight", "encoder.final_norm.bias",
                    "lm_head.weight", "lm_head.bias"});
  EXPECT_EQ(names(w), expected);
  EXPECT_EQ(findWeight(w, "encoder.embed.tokens")->shape,
            (std::vector<int64_t>{100, 16}));
  EXPECT_EQ(findWeight(w, "encoder.embed.positions")->shape,
            (std::vector<int64_t>{64, 16}));
  EXPECT_EQ(findWeight(w, "encoder.embed.token_types")->shape,
            (std::vector<int64_t>{2, 16}));
  EXPECT_EQ(findWeight(w, "encoder.embed.norm.weight")->shape,
            (std::vector<int64_t>{16}));
  EXPECT_EQ(findWeight(w, "lm_head.weight")->shape,
            (std::vector<int64_t>{100, 16}));
  EXPECT_EQ(findWeight(w, "lm_head.bias")->shape, (std::vector<int64_t>{100}));
}

TEST(FrontendModelSpec, LinearShapesArePyTorchLayout) {
  std::vector<WeightDecl> w = listWeights(parseOk(minimalSpec("decoder")));
  auto shape = [&](const std::string &name) {
    const WeightDecl *decl = findWeight(w, name);
    EXPECT_NE(decl, nullptr) << name;
    return decl ? decl->shape : std::vector<int64_t>{};
  };
  using Shape = std::vector<int64_t>;
  EXPECT_EQ(shape("decoder.layers.1.self_attn.q.weight"), (Shape{16, 16}));
  EXPECT_EQ(shape("decoder.layers.1.self_attn.q.bias"), (Shape{16}));
  EXPECT_EQ(shape("decoder.layers.1.self_attn.out.weight"), (Shape{16, 16}));
  EXPECT_EQ(shape("decoder.layers.1.ffn.fc1.weight"), (Shape{32, 16}));
  EXPECT_EQ(shape("decoder.layers.1.ffn.fc1.bias"), (Shape{32}));
  EXPECT_EQ(shape("decoder.layers.1.ffn.fc2.weight"), (Shape{16, 32}));
  EXPECT_EQ(shape("decoder.layers.1.ffn.fc2.bias"), (Shape{16}));
  EXPECT_EQ(shape("decoder.layers.1.ffn_norm.weight"), (Shape{16}));
  EXPECT_EQ(shape("lm_head.weight"), (Shape{100, 16}));
}

TEST(FrontendModelSpec, Gpt2LikeTiedHeadHasNoLmHeadWeight) {
  json doc = minimalSpec("decoder");
  doc["positional_encoding"] = "learned";
  doc["norm_placement"] = "pre";
  doc["final_norm"] = true;
  doc["tied_output_embedding"] = true;
  std::vector<std::string> n = names(listWeights(parseOk(doc)));
  std::vector<std::string> expected = {"decoder.embed.tokens",
                                       "decoder.embed.positions"};
  append(expected, layerNames("decoder", 0, false, true));
  append(expected, layerNames("decoder", 1, false, true));
  append(expected, {"decoder.final_norm.weight", "decoder.final_norm.bias"});
  EXPECT_EQ(n, expected);
}

TEST(FrontendModelSpec, TiedHeadKeepsItsBias) {
  json doc = minimalSpec("decoder");
  doc["tied_output_embedding"] = true;
  doc["bias"] = {{"lm_head", true}};
  std::vector<std::string> n = names(listWeights(parseOk(doc)));
  EXPECT_EQ(n.back(), "lm_head.bias");
  EXPECT_EQ(std::count(n.begin(), n.end(), "lm_head.weight"), 0);
}

TEST(FrontendModelSpec, DecoderWithoutHead) {
  json doc = minimalSpec("decoder");
  doc["lm_head"] = false;
  std::vector<std::string> n = names(listWeights(parseOk(doc)));
  EXPECT_EQ(n.back(), "decoder.layers.1.ffn_norm.bias");
  EXPECT_EQ(n.size(), 1u + 2 * 16);
}

TEST(FrontendModelSpec, NoBiasesKeepsNormBiases) {
  json doc = minimalSpec("decoder");
  doc["bias"] = false;
  doc["num_layers"] = 1;
  std::vector<std::string> expected = {"decoder.embed.tokens"};
  append(expected, layerNames("decoder", 0, false, false));
  expected.push_back("lm_head.weight");
  EXPECT_EQ(names(listWeights(parseOk(doc))), expected);
}

TEST(FrontendModelSpec, PartialBiases) {
  json doc = minimalSpec("decoder");
  doc["num_layers"] = 1;
  doc["bias"] = {{"attention_qkv", false}, {"ffn_output", false}};
  std::vector<std::string> n = names(listWeights(parseOk(doc)));
  auto has = [&](const std::string &name) {
    return std::count(n.begin(), n.end(), name) == 1;
  };
  EXPECT_FALSE(has("decoder.layers.0.self_attn.q.bias"));
  EXPECT_FALSE(has("decoder.layers.0.self_attn.k.bias"));
  EXPECT_FALSE(has("decoder.layers.0.self_attn.v.bias"));
  EXPECT_TRUE(has("decoder.layers.0.self_attn.out.bias"));
  EXPECT_TRUE(has("decoder.layers.0.ffn.fc1.bias"));
  EXPECT_FALSE(has("decoder.layers.0.ffn.fc2.bias"));
}

TEST(FrontendModelSpec, EncoderDecoderSharedEmbeddings) {
  json doc = minimalSpec("encoder_decoder");
  doc["num_layers"] = 1;
  doc["num_decoder_layers"] = 2;
  std::vector<std::string> expected = {"encoder.embed.tokens"};
  append(expected, layerNames("encoder", 0, false, true));
  append(expected, layerNames("decoder", 0, true, true));
  append(expected, layerNames("decoder", 1, true, true));
  expected.push_back("lm_head.weight");
  std::vector<WeightDecl> w = listWeights(parseOk(doc));
  EXPECT_EQ(names(w), expected);
  EXPECT_EQ(findWeight(w, "decoder.embed.tokens"), nullptr);
  ASSERT_NE(findWeight(w, "decoder.layers.1.cross_attn.v.weight"), nullptr);
  EXPECT_EQ(findWeight(w, "decoder.layers.1.cross_attn.v.weight")->shape,
            (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(findWeight(w, "decoder.layers.1.cross_attn_norm.bias")->shape,
            (std::vector<int64_t>{16}));
}

TEST(FrontendModelSpec, EncoderDecoderSeparateEmbeddings) {
  json doc = minimalSpec("encoder_decoder");
  doc["num_layers"] = 1;
  doc["shared_embeddings"] = false;
  doc["positional_encoding"] = "learned";
  doc["embedding_layer_norm"] = true;
  doc["final_norm"] = true;
  doc["tied_output_embedding"] = true;
  std::vector<std::string> expected = {
      "encoder.embed.tokens", "encoder.embed.positions",
      "encoder.embed.norm.weight", "encoder.embed.norm.bias"};
  append(expected, layerNames("encoder", 0, false, true));
  append(expected, {"encoder.final_norm.weight", "encoder.final_norm.bias",
                    "decoder.embed.tokens", "decoder.embed.positions",
                    "decoder.embed.norm.weight", "decoder.embed.norm.bias"});
  append(expected, layerNames("decoder", 0, true, true));
  append(expected, {"decoder.final_norm.weight", "decoder.final_norm.bias"});
  EXPECT_EQ(names(listWeights(parseOk(doc))), expected);
}

TEST(FrontendModelSpec, NamesAreUnique) {
  for (const char *kind : {"encoder", "decoder", "encoder_decoder"}) {
    json doc = minimalSpec(kind);
    doc["final_norm"] = true;
    doc["embedding_layer_norm"] = true;
    doc["positional_encoding"] = "learned";
    std::vector<std::string> n = names(listWeights(parseOk(doc)));
    EXPECT_EQ(std::set<std::string>(n.begin(), n.end()).size(), n.size())
        << kind;
  }
}

//===----------------------------------------------------------------------===//
// listInputs / listOutputs
//===----------------------------------------------------------------------===//

void expectInput(const TensorDecl &t, const std::string &name,
                 std::vector<int64_t> shape, int64_t lo, int64_t hi) {
  EXPECT_EQ(t.name, name);
  EXPECT_EQ(t.dtype, "i32") << name;
  EXPECT_EQ(t.shape, shape) << name;
  EXPECT_TRUE(t.hasRange) << name;
  EXPECT_EQ(t.minValue, lo) << name;
  EXPECT_EQ(t.maxValue, hi) << name;
}

void expectOutput(const TensorDecl &t, const std::string &name,
                  std::vector<int64_t> shape) {
  EXPECT_EQ(t.name, name);
  EXPECT_EQ(t.dtype, "f32");
  EXPECT_EQ(t.shape, shape);
  EXPECT_FALSE(t.hasRange);
}

TEST(FrontendModelSpec, EncoderInputsAndOutputs) {
  ShapeOptions shapes{2, 8, 0};
  ModelSpec plain = parseOk(minimalSpec("encoder"));
  std::vector<TensorDecl> in = listInputs(plain, shapes);
  ASSERT_EQ(in.size(), 1u);
  expectInput(in[0], "input_ids", {2, 8}, 0, 99);
  std::vector<TensorDecl> out = listOutputs(plain, shapes);
  ASSERT_EQ(out.size(), 1u);
  expectOutput(out[0], "hidden_states", {2, 8, 16});

  json doc = minimalSpec("encoder");
  doc["token_type_vocab_size"] = 2;
  doc["key_padding_mask"] = true;
  doc["lm_head"] = true;
  ModelSpec bert = parseOk(doc);
  in = listInputs(bert, shapes);
  ASSERT_EQ(in.size(), 3u);
  expectInput(in[0], "input_ids", {2, 8}, 0, 99);
  expectInput(in[1], "token_type_ids", {2, 8}, 0, 1);
  expectInput(in[2], "lengths", {2}, 0, 8);
  out = listOutputs(bert, shapes);
  ASSERT_EQ(out.size(), 1u);
  expectOutput(out[0], "logits", {2, 8, 100});
}

TEST(FrontendModelSpec, DecoderInputsAndOutputs) {
  ShapeOptions shapes{3, 5, 0};
  json doc = minimalSpec("decoder");
  ModelSpec gpt = parseOk(doc);
  std::vector<TensorDecl> in = listInputs(gpt, shapes);
  ASSERT_EQ(in.size(), 1u);
  expectInput(in[0], "input_ids", {3, 5}, 0, 99);
  expectOutput(listOutputs(gpt, shapes).at(0), "logits", {3, 5, 100});

  doc["key_padding_mask"] = true;
  doc["lm_head"] = false;
  ModelSpec padded = parseOk(doc);
  in = listInputs(padded, shapes);
  ASSERT_EQ(in.size(), 2u);
  expectInput(in[1], "lengths", {3}, 0, 5);
  expectOutput(listOutputs(padded, shapes).at(0), "hidden_states", {3, 5, 16});
}

// The generation steps (docs/generation.md): prefill takes the prompt and
// the caches, decode one token, its position inputs and the caches; no
// padding lengths in either (the causal mask and the cache length bound
// every key).
TEST(FrontendModelSpec, GenerationStepInputsAndOutputs) {
  json doc = minimalSpec("decoder");
  doc["key_padding_mask"] = true;
  ModelSpec gpt = parseOk(doc);
  ShapeOptions shapes{3, 5, 0, GenerateStep::Prefill, 12};
  std::vector<TensorDecl> in = listInputs(gpt, shapes);
  ASSERT_EQ(in.size(), 1u + 2 * gpt.numLayers);
  expectInput(in[0], "input_ids", {3, 5}, 0, 99);
  EXPECT_EQ(in[1].name, keyCacheName(0));
  EXPECT_EQ(in[1].name, "decoder.layers.0.self_attn.key_cache");
  EXPECT_EQ(in[2].name, "decoder.layers.0.self_attn.value_cache");
  EXPECT_EQ(in[1].dtype, "f32");
  EXPECT_EQ(in[1].shape, (std::vector<int64_t>{3, 12, 16}));
  EXPECT_FALSE(in[1].hasRange);
  expectOutput(listOutputs(gpt, shapes).at(0), "logits", {3, 5, 100});

  shapes.step = GenerateStep::Decode;
  in = listInputs(gpt, shapes);
  ASSERT_EQ(in.size(), 4u + 2 * gpt.numLayers);
  expectInput(in[0], "input_ids", {3, 1}, 0, 99);
  expectInput(in[1], "position_ids", {3, 1}, 0, 11);
  expectInput(in[2], "cache_length", {3}, 1, 12);
  expectInput(in[3], "cache_position", {1}, 0, 11);
  EXPECT_EQ(in.back().name, valueCacheName(gpt.numLayers - 1));
  expectOutput(listOutputs(gpt, shapes).at(0), "logits", {3, 1, 100});
}

TEST(FrontendModelSpec, EncoderDecoderInputsAndOutputs) {
  json doc = minimalSpec("encoder_decoder");
  doc["key_padding_mask"] = true;
  ModelSpec s = parseOk(doc);

  ShapeOptions sameLength{2, 7, 0};
  std::vector<TensorDecl> in = listInputs(s, sameLength);
  ASSERT_EQ(in.size(), 3u);
  expectInput(in[0], "src_ids", {2, 7}, 0, 99);
  expectInput(in[1], "tgt_ids", {2, 7}, 0, 99);
  expectInput(in[2], "src_lengths", {2}, 0, 7);
  expectOutput(listOutputs(s, sameLength).at(0), "logits", {2, 7, 100});

  ShapeOptions differentLength{2, 7, 4};
  in = listInputs(s, differentLength);
  expectInput(in[0], "src_ids", {2, 7}, 0, 99);
  expectInput(in[1], "tgt_ids", {2, 4}, 0, 99);
  expectInput(in[2], "src_lengths", {2}, 0, 7);
  expectOutput(listOutputs(s, differentLength).at(0), "logits", {2, 4, 100});

  doc["lm_head"] = false;
  doc["key_padding_mask"] = false;
  ModelSpec hidden = parseOk(doc);
  EXPECT_EQ(listInputs(hidden, differentLength).size(), 2u);
  expectOutput(listOutputs(hidden, differentLength).at(0), "hidden_states",
               {2, 4, 16});
}

//===----------------------------------------------------------------------===//
// toString
//===----------------------------------------------------------------------===//

TEST(FrontendModelSpec, ToStringMatchesSpecSpelling) {
  EXPECT_STREQ(toString(ModelKind::Encoder), "encoder");
  EXPECT_STREQ(toString(ModelKind::Decoder), "decoder");
  EXPECT_STREQ(toString(ModelKind::EncoderDecoder), "encoder_decoder");
  EXPECT_STREQ(toString(NormPlacement::Post), "post");
  EXPECT_STREQ(toString(NormPlacement::Pre), "pre");
  EXPECT_STREQ(toString(Activation::Relu), "relu");
  EXPECT_STREQ(toString(Activation::Gelu), "gelu");
  EXPECT_STREQ(toString(Activation::GeluTanh), "gelu_tanh");
  EXPECT_STREQ(toString(PositionalEncoding::None), "none");
  EXPECT_STREQ(toString(PositionalEncoding::Sinusoidal), "sinusoidal");
  EXPECT_STREQ(toString(PositionalEncoding::Learned), "learned");
}

TEST(FrontendModelSpec, TransformerXLWeightsInputsAndOutputs) {
  nlohmann::json doc = test::minimalSpec("decoder");
  doc["transformer_xl"] = {{"memory_length", 5}};
  ModelSpec spec = test::parseOk(doc);
  std::vector<WeightDecl> weights = listWeights(spec);
  auto find = [&](const std::string &name) -> const WeightDecl * {
    for (const WeightDecl &w : weights)
      if (w.name == name)
        return &w;
    return nullptr;
  };
  // W_kR, u and v per layer, after the attention projections.
  for (int layer = 0; layer < 2; ++layer) {
    std::string attn = "decoder.layers." + std::to_string(layer) + ".self_attn";
    ASSERT_NE(find(attn + ".r.weight"), nullptr);
    EXPECT_EQ(find(attn + ".r.weight")->shape, (std::vector<int64_t>{16, 16}));
    EXPECT_EQ(find(attn + ".r_w_bias")->shape, (std::vector<int64_t>{4, 4}));
    EXPECT_EQ(find(attn + ".r_r_bias")->shape, (std::vector<int64_t>{4, 4}));
  }
  // No absolute positions.
  EXPECT_EQ(find("decoder.embed.positions"), nullptr);
  ShapeOptions shapes;
  shapes.batch = 2;
  shapes.seqLen = 7;
  std::vector<TensorDecl> inputs = listInputs(spec, shapes);
  ASSERT_EQ(inputs.size(), 4u);
  EXPECT_EQ(inputs[0].name, "input_ids");
  EXPECT_EQ(inputs[1].name, "memory_length");
  EXPECT_EQ(inputs[1].shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(inputs[1].maxValue, 5);
  EXPECT_EQ(inputs[2].name, "decoder.layers.0.memory");
  EXPECT_EQ(inputs[3].shape, (std::vector<int64_t>{2, 5, 16}));
  std::vector<TensorDecl> outputs = listOutputs(spec, shapes);
  ASSERT_EQ(outputs.size(), 3u);
  EXPECT_EQ(outputs[0].name, "logits");
  EXPECT_EQ(outputs[1].name, "decoder.layers.0.next_memory");
  EXPECT_EQ(outputs[2].shape, (std::vector<int64_t>{2, 5, 16}));
}

} // namespace
} // namespace xfc
