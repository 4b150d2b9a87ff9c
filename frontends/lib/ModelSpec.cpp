//===- ModelSpec.cpp - Weights, inputs and outputs of a model spec --------===//
//
// Part of xfc.
//
// This file implements the queries that derive, from a validated ModelSpec,
// the list of weights the model needs (names, shapes and the canonical order
// of docs/spec.md, "Weight names"), the inputs and outputs of the compiled
// function (docs/spec.md, "Inputs and outputs"), and the printable names of
// the spec's enums. Everything here assumes the invariants the parser
// checked; nothing here can fail.
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/ModelSpec.h"

#include "xf/Analysis/AttentionPattern.h"

#include <string>
#include <utility>
#include <vector>

namespace xfc {

namespace {

/// Appends weight declarations in order; a tiny helper so that the listing
/// below reads like the table of docs/spec.md.
class WeightListBuilder {
public:
  explicit WeightListBuilder(const ModelSpec &spec) : spec(spec) {}

  void add(std::string name, std::vector<int64_t> shape) {
    weights.push_back({std::move(name), std::move(shape)});
  }

  /// A LayerNorm: weight then bias, both [D].
  void addNorm(const std::string &prefix) {
    add(prefix + ".weight", {spec.dModel});
    add(prefix + ".bias", {spec.dModel});
  }

  /// A linear `y = x Wᵀ + b` with W of shape [out, in]; the bias [out] only
  /// when `hasBias`.
  void addLinear(const std::string &prefix, int64_t out, int64_t in,
                 bool hasBias) {
    add(prefix + ".weight", {out, in});
    if (hasBias)
      add(prefix + ".bias", {out});
  }

  /// The q, k, v and out projections of one attention block.
  void addAttention(const std::string &prefix) {
    const int64_t d = spec.dModel;
    for (const char *proj : {"q", "k", "v"})
      addLinear(prefix + "." + proj, d, d, spec.bias.attentionQKV);
    addLinear(prefix + ".out", d, d, spec.bias.attentionOutput);
  }

  /// One stack ("encoder" or "decoder"): embeddings, layers, final norm.
  /// `hasTokenTable` is false for the decoder of an encoder_decoder model
  /// that shares the encoder's table; `hasCrossAttention` marks the decoder
  /// of an encoder_decoder model.
  void addStack(const std::string &stack, int64_t numLayers, bool hasTokenTable,
                bool hasCrossAttention) {
    const int64_t d = spec.dModel;
    if (hasTokenTable)
      add(stack + ".embed.tokens", {spec.vocabSize, d});
    if (spec.positionalEncoding == PositionalEncoding::Learned)
      add(stack + ".embed.positions", {spec.maxSeqLen, d});
    if (spec.tokenTypeVocabSize > 0)
      add(stack + ".embed.token_types", {spec.tokenTypeVocabSize, d});
    if (spec.embeddingLayerNorm)
      addNorm(stack + ".embed.norm");

    for (int64_t i = 0; i < numLayers; ++i) {
      const std::string layer = stack + ".layers." + std::to_string(i);
      addAttention(layer + ".self_attn");
      if (spec.transformerXL()) {
        // W_kR (the authors' r_net, no bias) and the biases u and v
        // (r_w_bias, r_r_bias) of relative attention, per layer.
        const std::string attn = layer + ".self_attn";
        add(attn + ".r.weight", {d, d});
        add(attn + ".r_w_bias", {spec.numHeads, spec.headDim()});
        add(attn + ".r_r_bias", {spec.numHeads, spec.headDim()});
      }
      addNorm(layer + ".self_attn_norm");
      if (hasCrossAttention) {
        addAttention(layer + ".cross_attn");
        addNorm(layer + ".cross_attn_norm");
      }
      addLinear(layer + ".ffn.fc1", spec.dFF, d, spec.bias.ffnHidden);
      addLinear(layer + ".ffn.fc2", d, spec.dFF, spec.bias.ffnOutput);
      addNorm(layer + ".ffn_norm");
    }

    if (spec.finalNorm)
      addNorm(stack + ".final_norm");
  }

  std::vector<WeightDecl> take() { return std::move(weights); }

private:
  const ModelSpec &spec;
  std::vector<WeightDecl> weights;
};

/// The target length of an encoder_decoder model: `--tgt-len`, or the
/// source length when it is 0.
int64_t targetLength(const ShapeOptions &shapes) {
  return shapes.tgtLen > 0 ? shapes.tgtLen : shapes.seqLen;
}

/// An i32 input whose elements must lie in [minValue, maxValue].
TensorDecl rangedInput(std::string name, std::vector<int64_t> shape,
                       int64_t minValue, int64_t maxValue) {
  TensorDecl decl;
  decl.name = std::move(name);
  decl.dtype = "i32";
  decl.shape = std::move(shape);
  decl.hasRange = true;
  decl.minValue = minValue;
  decl.maxValue = maxValue;
  return decl;
}

} // namespace

std::vector<WeightDecl> listWeights(const ModelSpec &spec) {
  WeightListBuilder builder(spec);
  switch (spec.kind) {
  case ModelKind::Encoder:
    builder.addStack("encoder", spec.numLayers, /*hasTokenTable=*/true,
                     /*hasCrossAttention=*/false);
    break;
  case ModelKind::Decoder:
    builder.addStack("decoder", spec.numLayers, /*hasTokenTable=*/true,
                     /*hasCrossAttention=*/false);
    break;
  case ModelKind::EncoderDecoder:
    builder.addStack("encoder", spec.numLayers, /*hasTokenTable=*/true,
                     /*hasCrossAttention=*/false);
    builder.addStack("decoder", spec.numDecoderLayers,
                     /*hasTokenTable=*/!spec.sharedEmbeddings,
                     /*hasCrossAttention=*/true);
    break;
  }
  if (spec.lmHead) {
    // A tied head reads the (decoder's) token table instead of its own
    // matrix; its bias, if any, is still a weight of its own.
    if (!spec.tiedOutputEmbedding)
      builder.add("lm_head.weight", {spec.vocabSize, spec.dModel});
    if (spec.bias.lmHead)
      builder.add("lm_head.bias", {spec.vocabSize});
  }
  return builder.take();
}

LinformerLayer linformerLayer(const ModelSpec &spec, int64_t layer,
                              int64_t seqLen) {
  LinformerLayer result;
  if (layer < 0 || layer >= static_cast<int64_t>(spec.attentionPatterns.size()))
    return result;
  mlir::xf::PatternGroups groups;
  std::string problem;
  if (!mlir::xf::parsePatternText(spec.attentionPatterns[layer], groups,
                                  problem))
    return result;
  const mlir::xf::PatternPart *part = mlir::xf::approximationOf(groups);
  if (!part || part->kind != mlir::xf::PatternPart::Kind::Linformer)
    return result;
  using Sharing = mlir::xf::PatternPart::Sharing;
  // The patterns are those of the first stack (docs/spec.md).
  const std::string stack =
      spec.kind == ModelKind::Decoder ? "decoder" : "encoder";
  const std::string prefix =
      stack + ".layers." + std::to_string(layer) + ".self_attn.";
  result.enabled = true;
  result.seed = part->seed;
  result.pattern = spec.attentionPatterns[layer];
  result.shape = {part->projection, seqLen};
  switch (part->sharing) {
  case Sharing::None:
    result.shape.insert(result.shape.begin(), spec.numHeads);
    [[fallthrough]];
  case Sharing::Headwise:
    result.e = prefix + "linformer_e";
    result.f = prefix + "linformer_f";
    break;
  case Sharing::KeyValue:
    result.e = result.f = prefix + "linformer_e";
    break;
  case Sharing::Layerwise:
    result.e = result.f = stack + ".linformer_e";
    break;
  }
  return result;
}

std::vector<WeightDecl> listLinformerWeights(const ModelSpec &spec,
                                             int64_t seqLen) {
  std::vector<WeightDecl> decls;
  auto addOnce = [&](const std::string &name,
                     const std::vector<int64_t> &shape) {
    for (const WeightDecl &decl : decls)
      if (decl.name == name)
        return;
    decls.push_back({name, shape});
  };
  for (size_t i = 0; i < spec.attentionPatterns.size(); ++i) {
    LinformerLayer layer = linformerLayer(spec, int64_t(i), seqLen);
    if (!layer.enabled)
      continue;
    addOnce(layer.e, layer.shape);
    addOnce(layer.f, layer.shape);
  }
  return decls;
}

namespace {

/// The inputs of a generation step (docs/generation.md): the new tokens; for
/// a decode step the runtime's positions; for an encoder-decoder the source
/// (prefill) and its lengths; then the caches, which the runtime owns and
/// the steps write in place: every decoder layer's self-attention key and
/// value cache, and for an encoder-decoder its cross-attention ones.
/// No padding mask on the target: the causal mask and the cache length
/// bound every key.
void appendStepInputs(const ModelSpec &spec, const ShapeOptions &shapes,
                      std::vector<TensorDecl> &inputs) {
  const int64_t b = shapes.batch, c = shapes.cacheCapacity;
  const bool decode = shapes.step == GenerateStep::Decode;
  const bool encoderDecoder = spec.kind == ModelKind::EncoderDecoder;
  const int64_t prompt = encoderDecoder ? targetLength(shapes) : shapes.seqLen;
  inputs.push_back(rangedInput("input_ids", {b, decode ? 1 : prompt}, 0,
                               spec.vocabSize - 1));
  if (decode) {
    inputs.push_back(rangedInput(kPositionIdsInput, {b, 1}, 0, c - 1));
    inputs.push_back(rangedInput(kCacheLengthInput, {b}, 1, c));
    inputs.push_back(rangedInput(kCachePositionInput, {1}, 0, c - 1));
  }
  const int64_t s = shapes.seqLen;
  if (encoderDecoder && !decode)
    inputs.push_back(rangedInput("src_ids", {b, s}, 0, spec.vocabSize - 1));
  if (encoderDecoder && spec.keyPaddingMask)
    inputs.push_back(rangedInput("src_lengths", {b}, 1, s));
  auto cache = [&](std::string name, int64_t rows) {
    TensorDecl decl;
    decl.name = std::move(name);
    decl.dtype = "f32";
    decl.shape = {b, rows, spec.dModel};
    inputs.push_back(decl);
  };
  const int64_t layers = decoderLayers(spec);
  for (int64_t i = 0; i < layers; ++i) {
    cache(keyCacheName(i), c);
    cache(valueCacheName(i), c);
  }
  for (int64_t i = 0; encoderDecoder && i < layers; ++i) {
    cache(crossKeyCacheName(i), s);
    cache(crossValueCacheName(i), s);
  }
}

} // namespace

std::vector<TensorDecl> listInputs(const ModelSpec &spec,
                                   const ShapeOptions &shapes) {
  const int64_t b = shapes.batch, s = shapes.seqLen;
  std::vector<TensorDecl> inputs;
  switch (spec.kind) {
  case ModelKind::Encoder:
    inputs.push_back(rangedInput("input_ids", {b, s}, 0, spec.vocabSize - 1));
    if (spec.tokenTypeVocabSize > 0)
      inputs.push_back(rangedInput("token_type_ids", {b, s}, 0,
                                   spec.tokenTypeVocabSize - 1));
    if (spec.keyPaddingMask)
      inputs.push_back(rangedInput("lengths", {b}, 0, s));
    break;
  case ModelKind::Decoder:
    if (shapes.step != GenerateStep::None) {
      appendStepInputs(spec, shapes, inputs);
      break;
    }
    inputs.push_back(rangedInput("input_ids", {b, s}, 0, spec.vocabSize - 1));
    if (spec.keyPaddingMask)
      inputs.push_back(rangedInput("lengths", {b}, 0, s));
    if (spec.transformerXL()) {
      // The segment memory, kept by the run context and passed in by the
      // runtime (docs/transformer-xl.md): how many of the M positions are
      // filled, then each layer's memory.
      inputs.push_back(
          rangedInput(kMemoryLengthInput, {b}, 0, spec.memoryLength));
      for (int64_t i = 0; i < spec.numLayers; ++i) {
        TensorDecl memory;
        memory.name = memoryInputName(i);
        memory.dtype = "f32";
        memory.shape = {b, spec.memoryLength, spec.dModel};
        inputs.push_back(memory);
      }
    }
    break;
  case ModelKind::EncoderDecoder:
    if (shapes.step != GenerateStep::None) {
      appendStepInputs(spec, shapes, inputs);
      break;
    }
    inputs.push_back(rangedInput("src_ids", {b, s}, 0, spec.vocabSize - 1));
    inputs.push_back(rangedInput("tgt_ids", {b, targetLength(shapes)}, 0,
                                 spec.vocabSize - 1));
    // Only the source is padded: the decoder's own keys are limited by the
    // causal mask already.
    if (spec.keyPaddingMask)
      inputs.push_back(rangedInput("src_lengths", {b}, 0, s));
    break;
  }
  return inputs;
}

std::vector<TensorDecl> listOutputs(const ModelSpec &spec,
                                    const ShapeOptions &shapes) {
  const int64_t rows = shapes.step == GenerateStep::Decode ? 1
                       : spec.kind == ModelKind::EncoderDecoder
                           ? targetLength(shapes)
                           : shapes.seqLen;
  TensorDecl out;
  out.dtype = "f32";
  if (spec.lmHead) {
    out.name = "logits";
    out.shape = {shapes.batch, rows, spec.vocabSize};
  } else {
    out.name = "hidden_states";
    out.shape = {shapes.batch, rows, spec.dModel};
  }
  std::vector<TensorDecl> outputs{out};
  // The sentence embedding comes after the hidden states it is pooled
  // from, so output 0 is the same with and without pooling.
  if (spec.pooling.enabled()) {
    TensorDecl pooled;
    pooled.name = kSentenceEmbeddingOutput;
    pooled.dtype = "f32";
    pooled.shape = {shapes.batch, spec.dModel};
    outputs.push_back(pooled);
  }
  // Transformer-XL: each layer's next memory, after the model's output.
  for (int64_t i = 0; spec.transformerXL() && i < spec.numLayers; ++i) {
    TensorDecl memory;
    memory.name = memoryOutputName(i);
    memory.dtype = "f32";
    memory.shape = {shapes.batch, spec.memoryLength, spec.dModel};
    outputs.push_back(memory);
  }
  return outputs;
}

std::string keyCacheName(int64_t layer) {
  return "decoder.layers." + std::to_string(layer) + ".self_attn.key_cache";
}

std::string valueCacheName(int64_t layer) {
  return "decoder.layers." + std::to_string(layer) + ".self_attn.value_cache";
}

std::string crossKeyCacheName(int64_t layer) {
  return "decoder.layers." + std::to_string(layer) + ".cross_attn.key_cache";
}

std::string crossValueCacheName(int64_t layer) {
  return "decoder.layers." + std::to_string(layer) + ".cross_attn.value_cache";
}

int64_t decoderLayers(const ModelSpec &spec) {
  return spec.kind == ModelKind::EncoderDecoder ? spec.numDecoderLayers
                                                : spec.numLayers;
}

std::string memoryInputName(int64_t layer) {
  return "decoder.layers." + std::to_string(layer) + ".memory";
}

std::string memoryOutputName(int64_t layer) {
  return "decoder.layers." + std::to_string(layer) + ".next_memory";
}

const char *toString(ModelKind kind) {
  switch (kind) {
  case ModelKind::Encoder:
    return "encoder";
  case ModelKind::Decoder:
    return "decoder";
  case ModelKind::EncoderDecoder:
    return "encoder_decoder";
  }
  return "unknown";
}

const char *toString(NormPlacement placement) {
  switch (placement) {
  case NormPlacement::Post:
    return "post";
  case NormPlacement::Pre:
    return "pre";
  }
  return "unknown";
}

const char *toString(Activation activation) {
  switch (activation) {
  case Activation::Relu:
    return "relu";
  case Activation::Gelu:
    return "gelu";
  case Activation::GeluTanh:
    return "gelu_tanh";
  }
  return "unknown";
}

const char *toString(PositionalEncoding encoding) {
  switch (encoding) {
  case PositionalEncoding::None:
    return "none";
  case PositionalEncoding::Sinusoidal:
    return "sinusoidal";
  case PositionalEncoding::Learned:
    return "learned";
  }
  return "unknown";
}

const char *toString(PoolingMode mode) {
  switch (mode) {
  case PoolingMode::None:
    return "none";
  case PoolingMode::Mean:
    return "mean";
  case PoolingMode::Cls:
    return "cls";
  }
  return "unknown";
}

} // namespace xfc
