//===- ModelBuilder.cpp - ModelSpec to xf IR --------------------*- C++ -*-===//
//
// Part of xfc. Implements buildModelModule: walks the ModelSpec and emits
// model-level `xf` ops (embedding, positional_encoding, layer_norm,
// multi_head_attention, feed_forward, add, linear) exactly as docs/spec.md
// defines the computation. Everything the spec leaves optional (biases,
// norms, token types, masks) is decided here, so later passes never look at
// the spec.
//
//===----------------------------------------------------------------------===//
#include "xfc/Frontend/ModelBuilder.h"

#include "xf/Dialect/XF/NodeNames.h"
#include "xf/Dialect/XF/XFOps.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"

#include <cmath>
#include <set>

using namespace mlir;

namespace xfc {
namespace {

class ModelIRBuilder {
public:
  ModelIRBuilder(MLIRContext &context, const ModelSpec &spec,
                 const ShapeOptions &shapes)
      : b(&context), loc(UnknownLoc::get(&context)), spec(spec),
        shapes(shapes) {}

  OwningOpRef<ModuleOp> build();

private:
  RankedTensorType f32Type(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, b.getF32Type());
  }

  /// The weight argument `name`, or a null Value if the spec has none (an
  /// optional bias, say).
  Value weight(const std::string &name) const {
    auto it = weights.find(name);
    return it == weights.end() ? Value() : it->second;
  }

  /// The location of spec node `name`: every op is located at the node it
  /// computes, so diagnostics, --explain and kernel symbols name it.
  Location at(const std::string &name) {
    return xf::nodeLoc(b.getContext(), name);
  }

  Value layerNorm(Value x, const std::string &prefix) {
    return xf::LayerNormOp::create(b, at(prefix), x.getType(), x,
                                   weight(prefix + ".weight"),
                                   weight(prefix + ".bias"),
                                   b.getF64FloatAttr(spec.layerNormEpsilon))
        .getResult();
  }

  /// The projection `part` (q, k, v or out) of the attention `prefix`
  /// applied to `in`: a D -> D linear, located at `loc`'s child `part`.
  Value projection(Value in, const std::string &prefix, Location loc,
                   const char *part) {
    return xf::LinearOp::create(b, xf::childNodeLoc(loc, part), in.getType(),
                                in, weight(prefix + "." + part + ".weight"),
                                weight(prefix + "." + part + ".bias"),
                                /*transpose_weight=*/false)
        .getResult();
  }

  /// `pattern` (canonical text, "" for none) replaces `causal`.
  Value attention(Value x, Value keyValue, const std::string &prefix,
                  Value keyLengths, bool causal,
                  const std::string &pattern = "") {
    auto type = cast<RankedTensorType>(x.getType());
    xf::AttentionPatternAttr patternAttr;
    if (!pattern.empty()) {
      patternAttr = xf::AttentionPatternAttr::get(b.getContext(), pattern);
      causal = false;
    }
    return xf::MultiHeadAttentionOp::create(
        b, at(prefix), type, x, keyValue, weight(prefix + ".q.weight"),
        weight(prefix + ".q.bias"), weight(prefix + ".k.weight"),
        weight(prefix + ".k.bias"), weight(prefix + ".v.weight"),
        weight(prefix + ".v.bias"), weight(prefix + ".out.weight"),
        weight(prefix + ".out.bias"), keyLengths,
        b.getI64IntegerAttr(spec.numHeads),
        causal ? b.getUnitAttr() : UnitAttr(), FloatAttr(), patternAttr);
  }

  /// Linformer self-attention (docs/attention-patterns.md): the
  /// projections, then E K and F V along the sequence
  /// (xf.linformer_projection, which zeroes padded keys first), then dense
  /// attention over the k projected rows with no padding left, then the
  /// output projection. Emitted already decomposed (as
  /// xf-decompose-model-ops would, node for node) because
  /// xf.multi_head_attention has no E and F.
  Value linformerAttention(Value x, const std::string &prefix, Value keyLengths,
                           const LinformerLayer &layer) {
    auto type = cast<RankedTensorType>(x.getType());
    Location loc = at(prefix);
    auto linear = [&](Value in, const char *part) {
      return projection(in, prefix, loc, part);
    };
    Value q = linear(x, "q"), k = linear(x, "k"), v = linear(x, "v");
    int64_t rows = layer.shape[layer.shape.size() - 2];
    auto projectedType =
        f32Type({type.getDimSize(0), rows, type.getDimSize(2)});
    auto pattern = xf::AttentionPatternAttr::get(b.getContext(), layer.pattern);
    auto project = [&](Value in, const std::string &name, const char *part) {
      return xf::LinformerProjectionOp::create(
                 b, xf::childNodeLoc(loc, part), projectedType, in,
                 weight(name), keyLengths, b.getI64IntegerAttr(spec.numHeads),
                 pattern)
          .getResult();
    };
    Value kp = project(k, layer.e, "linformer_e");
    Value vp = project(v, layer.f, "linformer_f");
    double scale = 1.0 / std::sqrt(static_cast<double>(spec.headDim()));
    Value attended = xf::AttentionOp::create(
        b, xf::childNodeLoc(loc, "core"), type, q, kp, vp, Value(),
        b.getI64IntegerAttr(spec.numHeads), b.getF64FloatAttr(scale),
        UnitAttr(), xf::AttentionPatternAttr());
    return linear(attended, "out");
  }

  Value feedForward(Value x, const std::string &prefix) {
    xf::ActivationKind kind = xf::ActivationKind::gelu;
    switch (spec.activation) {
    case Activation::Relu:
      kind = xf::ActivationKind::relu;
      break;
    case Activation::Gelu:
      kind = xf::ActivationKind::gelu;
      break;
    case Activation::GeluTanh:
      kind = xf::ActivationKind::gelu_tanh;
      break;
    }
    return xf::FeedForwardOp::create(
        b, at(prefix), x.getType(),
        xf::ActivationKindAttr::get(b.getContext(), kind), x,
        weight(prefix + ".fc1.weight"), weight(prefix + ".fc1.bias"),
        weight(prefix + ".fc2.weight"), weight(prefix + ".fc2.bias"));
  }

  Value add(Value lhs, Value rhs, const std::string &name) {
    return xf::AddOp::create(b, at(name), lhs.getType(), lhs, rhs);
  }

  /// One residual sub-layer with the spec's norm placement:
  /// post-LN `LN(x + f(x))`, pre-LN `x + f(LN(x))`.
  /// The add is node `<sublayerPrefix>.residual`.
  Value residual(Value x, const std::string &normPrefix,
                 const std::string &sublayerPrefix,
                 llvm::function_ref<Value(Value)> sublayer) {
    std::string addName = sublayerPrefix + ".residual";
    if (spec.normPlacement == NormPlacement::Pre)
      return add(x, sublayer(layerNorm(x, normPrefix)), addName);
    return layerNorm(add(x, sublayer(x), addName), normPrefix);
  }

  /// Token (+ position, + token type) embeddings of one stack. Token s
  /// sits at position s, or at `positionIds[b, s]` when given (a decode
  /// step's token).
  Value embed(const std::string &stack, Value ids, Value tokenTypes,
              Value positionIds = Value()) {
    auto idsType = cast<RankedTensorType>(ids.getType());
    auto type =
        f32Type({idsType.getDimSize(0), idsType.getDimSize(1), spec.dModel});
    std::string tableName = stack + ".embed.tokens";
    if (!weight(tableName))
      tableName = "encoder.embed.tokens"; // Shared encoder-decoder table.
    Value x = xf::EmbeddingOp::create(b, at(stack + ".embed.tokens"), type, ids,
                                      weight(tableName),
                                      b.getF64FloatAttr(spec.embeddingScale));
    switch (spec.positionalEncoding) {
    case PositionalEncoding::None:
      break;
    case PositionalEncoding::Sinusoidal:
      x = xf::PositionalEncodingOp::create(
          b, at(stack + ".embed.positions"), type,
          xf::PositionalKindAttr::get(b.getContext(),
                                      xf::PositionalKind::sinusoidal),
          x, Value(), positionIds);
      break;
    case PositionalEncoding::Learned:
      if (positionIds) {
        x = add(x,
                xf::EmbeddingOp::create(
                    b, at(stack + ".embed.positions"), type, positionIds,
                    weight(stack + ".embed.positions"), b.getF64FloatAttr(1.0)),
                stack + ".embed.positions.add");
        break;
      }
      x = xf::PositionalEncodingOp::create(
          b, at(stack + ".embed.positions"), type,
          xf::PositionalKindAttr::get(b.getContext(),
                                      xf::PositionalKind::learned),
          x, weight(stack + ".embed.positions"), Value());
      break;
    }
    if (tokenTypes)
      x = add(x,
              xf::EmbeddingOp::create(
                  b, at(stack + ".embed.token_types"), type, tokenTypes,
                  weight(stack + ".embed.token_types"), b.getF64FloatAttr(1.0)),
              stack + ".embed.token_types.add");
    if (spec.embeddingLayerNorm)
      x = layerNorm(x, stack + ".embed.norm");
    return x;
  }

  /// A stack of layers. `memory` (encoder output) adds cross-attention;
  /// `patterns` (the spec's, for the first stack) the self-attention masks.
  Value stack(const std::string &name, Value x, int64_t numLayers,
              Value selfLengths, bool causal, Value memory, Value memoryLengths,
              const std::vector<std::string> &patterns = {}) {
    for (int64_t i = 0; i < numLayers; ++i) {
      std::string layer = name + ".layers." + std::to_string(i);
      std::string pattern =
          i < static_cast<int64_t>(patterns.size()) ? patterns[i] : "";
      // The spec's patterns (Linformer included) are those of the first
      // stack only: the decoder of an encoder_decoder gets none.
      LinformerLayer linformer = linformerLayer(spec, i, shapes.seqLen);
      if (patterns.empty())
        linformer.enabled = false;
      x = residual(x, layer + ".self_attn_norm", layer + ".self_attn",
                   [&](Value in) {
                     if (linformer.enabled)
                       return linformerAttention(in, layer + ".self_attn",
                                                 selfLengths, linformer);
                     return attention(in, in, layer + ".self_attn", selfLengths,
                                      causal, pattern);
                   });
      if (memory)
        x = residual(x, layer + ".cross_attn_norm", layer + ".cross_attn",
                     [&](Value in) {
                       return attention(in, memory, layer + ".cross_attn",
                                        memoryLengths,
                                        /*causal=*/false);
                     });
      x = residual(x, layer + ".ffn_norm", layer + ".ffn",
                   [&](Value in) { return feedForward(in, layer + ".ffn"); });
    }
    if (spec.finalNorm)
      x = layerNorm(x, name + ".final_norm");
    return x;
  }

  /// Transformer-XL relative attention of one layer (docs/transformer-xl.md):
  /// queries from `query` (the segment), keys and values from `context`
  /// ([memory ; segment]); decomposed like xf-decompose-model-ops does for
  /// xf.multi_head_attention, with xf.relative_attention as the core.
  Value relativeAttention(Value query, Value context, const std::string &prefix,
                          Value memoryLengths) {
    auto linear = [&](Value in, const std::string &node) {
      auto inType = cast<RankedTensorType>(in.getType());
      return xf::LinearOp::create(b, at(prefix + "." + node), inType, in,
                                  weight(prefix + "." + node + ".weight"),
                                  weight(prefix + "." + node + ".bias"),
                                  /*transpose_weight=*/false);
    };
    Value q = linear(query, "q"), k = linear(context, "k"),
          v = linear(context, "v");
    Value core = xf::RelativeAttentionOp::create(
        b, at(prefix + ".core"), q.getType(), q, k, v,
        weight(prefix + ".r.weight"), weight(prefix + ".r_w_bias"),
        weight(prefix + ".r_r_bias"), memoryLengths,
        b.getI64IntegerAttr(spec.numHeads),
        b.getF64FloatAttr(1.0 / std::sqrt(double(spec.headDim()))));
    return linear(core, "out");
  }

  /// The layers of a Transformer-XL decoder. Layer n's memory is the
  /// previous segments' input to layer n: keys and values read
  /// [memory ; x], and the next memory is the last M positions of it
  /// (appended to `nextMemories`).
  Value transformerXLStack(Value x, Value memoryLengths,
                           ArrayRef<Value> memories,
                           SmallVectorImpl<Value> &nextMemories) {
    auto type = cast<RankedTensorType>(x.getType());
    int64_t batch = type.getDimSize(0), len = type.getDimSize(1);
    int64_t m = spec.memoryLength;
    auto contextType = f32Type({batch, m + len, spec.dModel});
    for (int64_t i = 0; i < spec.numLayers; ++i) {
      std::string layer = "decoder.layers." + std::to_string(i);
      std::string attn = layer + ".self_attn", norm = layer + ".self_attn_norm";
      Value context = xf::SequenceConcatOp::create(
          b, at(layer + ".memory.concat"), contextType, memories[i], x);
      nextMemories.push_back(xf::SequenceSliceOp::create(
          b, at(layer + ".memory.next"), memories[i].getType(), context,
          b.getI64IntegerAttr(len)));
      if (spec.normPlacement == NormPlacement::Pre) {
        // x + Attn(LN(x), LN([memory ; x])): the query rows are the
        // segment's rows of the normalized context.
        Value normed = layerNorm(context, norm);
        Value query = xf::SequenceSliceOp::create(
            b, at(norm + ".segment"), type, normed, b.getI64IntegerAttr(m));
        x = add(x, relativeAttention(query, normed, attn, memoryLengths),
                attn + ".residual");
      } else {
        x = layerNorm(add(x, relativeAttention(x, context, attn, memoryLengths),
                          attn + ".residual"),
                      norm);
      }
      x = residual(x, layer + ".ffn_norm", layer + ".ffn",
                   [&](Value in) { return feedForward(in, layer + ".ffn"); });
    }
    if (spec.finalNorm)
      x = layerNorm(x, "decoder.final_norm");
    return x;
  }

  /// Self-attention of one layer of a generation step
  /// (docs/generation.md): the projections of the new positions, their keys
  /// and values written into the layer's caches (in place), then attention
  /// of the new queries over the cache. Prefill writes at row 0 and is
  /// causal over the cache rows (row = position); a decode step writes at
  /// `cachePosition` and attends to the first `cacheLength[b]` rows, the
  /// bound of the fused kernel's key loop, so its work grows with the
  /// position, not with the capacity.
  Value cachedAttention(Value x, const std::string &prefix, Value keyCache,
                        Value valueCache, Value cachePosition,
                        Value cacheLength) {
    auto type = cast<RankedTensorType>(x.getType());
    Location loc = at(prefix);
    auto linear = [&](Value in, const char *part) {
      return projection(in, prefix, loc, part);
    };
    Value q = linear(x, "q"), k = linear(x, "k"), v = linear(x, "v");
    Value keys = xf::CacheWriteOp::create(b, xf::childNodeLoc(loc, "key_cache"),
                                          keyCache.getType(), keyCache, k,
                                          cachePosition);
    Value values = xf::CacheWriteOp::create(
        b, xf::childNodeLoc(loc, "value_cache"), valueCache.getType(),
        valueCache, v, cachePosition);
    double scale = 1.0 / std::sqrt(static_cast<double>(spec.headDim()));
    bool prefill = !cacheLength;
    Value attended = xf::AttentionOp::create(
        b, xf::childNodeLoc(loc, "core"), type, q, keys, values, cacheLength,
        b.getI64IntegerAttr(spec.numHeads), b.getF64FloatAttr(scale),
        prefill ? b.getUnitAttr() : UnitAttr(), xf::AttentionPatternAttr());
    return linear(attended, "out");
  }

  /// Cross-attention of one decoder layer of a generation step: the keys
  /// and values are the encoder output's projections, which prefill
  /// computes (from `memory`) and writes into the layer's cross caches, and
  /// a decode step reads from them (`memory` null): the encoder output is
  /// projected once per generation, not per token.
  Value cachedCrossAttention(Value x, const std::string &prefix, Value keyCache,
                             Value valueCache, Value memory,
                             Value memoryLengths) {
    auto type = cast<RankedTensorType>(x.getType());
    Location loc = at(prefix);
    auto linear = [&](Value in, const char *part) {
      return projection(in, prefix, loc, part);
    };
    Value q = linear(x, "q");
    Value keys = keyCache, values = valueCache;
    if (memory) {
      keys = xf::CacheWriteOp::create(b, xf::childNodeLoc(loc, "key_cache"),
                                      keyCache.getType(), keyCache,
                                      linear(memory, "k"), Value());
      values = xf::CacheWriteOp::create(b, xf::childNodeLoc(loc, "value_cache"),
                                        valueCache.getType(), valueCache,
                                        linear(memory, "v"), Value());
    }
    double scale = 1.0 / std::sqrt(static_cast<double>(spec.headDim()));
    Value attended = xf::AttentionOp::create(
        b, xf::childNodeLoc(loc, "core"), type, q, keys, values, memoryLengths,
        b.getI64IntegerAttr(spec.numHeads), b.getF64FloatAttr(scale),
        UnitAttr(), xf::AttentionPatternAttr());
    return linear(attended, "out");
  }

  /// The decoder of a generation step. A decode step embeds its token at
  /// `positionIds` (a row of the learned table or the sinusoid at that
  /// position, not position 0). An encoder-decoder's prefill runs the
  /// encoder on the source first (`memory`), and every step attends to
  /// the cross caches.
  Value generateStack(Value ids, Value positionIds, Value cachePosition,
                      Value cacheLength, Value memory, Value memoryLengths,
                      const std::map<std::string, Value> &inputValues) {
    const bool encoderDecoder = spec.kind == ModelKind::EncoderDecoder;
    Value x = embed("decoder", ids, Value(), positionIds);
    for (int64_t i = 0; i < decoderLayers(spec); ++i) {
      std::string layer = "decoder.layers." + std::to_string(i);
      Value keyCache = inputValues.at(keyCacheName(i));
      Value valueCache = inputValues.at(valueCacheName(i));
      x = residual(
          x, layer + ".self_attn_norm", layer + ".self_attn", [&](Value in) {
            return cachedAttention(in, layer + ".self_attn", keyCache,
                                   valueCache, cachePosition, cacheLength);
          });
      if (encoderDecoder)
        x = residual(x, layer + ".cross_attn_norm", layer + ".cross_attn",
                     [&](Value in) {
                       return cachedCrossAttention(
                           in, layer + ".cross_attn",
                           inputValues.at(crossKeyCacheName(i)),
                           inputValues.at(crossValueCacheName(i)), memory,
                           memoryLengths);
                     });
      x = residual(x, layer + ".ffn_norm", layer + ".ffn",
                   [&](Value in) { return feedForward(in, layer + ".ffn"); });
    }
    if (spec.finalNorm)
      x = layerNorm(x, "decoder.final_norm");
    return x;
  }

  /// Projects hidden states to vocabulary logits.
  Value lmHead(Value x, const std::string &stackName) {
    Value table = weight("lm_head.weight");
    if (spec.tiedOutputEmbedding) {
      table = weight(stackName + ".embed.tokens");
      if (!table)
        table = weight("encoder.embed.tokens");
    }
    auto xType = cast<RankedTensorType>(x.getType());
    auto type =
        f32Type({xType.getDimSize(0), xType.getDimSize(1), spec.vocabSize});
    return xf::LinearOp::create(b, at("lm_head"), type, x, table,
                                weight("lm_head.bias"),
                                /*transpose_weight=*/false);
  }

  OpBuilder b;
  Location loc;
  const ModelSpec &spec;
  const ShapeOptions &shapes;
  std::map<std::string, Value> weights;
};

OwningOpRef<ModuleOp> ModelIRBuilder::build() {
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  module->setName(spec.name.empty() ? "model" : spec.name);

  std::vector<TensorDecl> inputs = listInputs(spec, shapes);
  std::vector<TensorDecl> outputs = listOutputs(spec, shapes);
  std::vector<WeightDecl> weightDecls = listWeights(spec);
  for (WeightDecl &decl : listLinformerWeights(spec, shapes.seqLen))
    weightDecls.push_back(std::move(decl));

  auto tensorType = [&](const TensorDecl &decl) -> Type {
    Type element =
        decl.dtype == "i32" ? Type(b.getI32Type()) : Type(b.getF32Type());
    return RankedTensorType::get(decl.shape, element);
  };
  SmallVector<Type> argTypes, resultTypes;
  for (const TensorDecl &in : inputs)
    argTypes.push_back(tensorType(in));
  for (const WeightDecl &w : weightDecls)
    argTypes.push_back(f32Type(w.shape));
  for (const TensorDecl &out : outputs)
    resultTypes.push_back(tensorType(out));

  b.setInsertionPointToEnd(module->getBody());
  auto func = func::FuncOp::create(b, loc, kModelFunctionName,
                                   b.getFunctionType(argTypes, resultTypes));
  // Inputs and weights are read-only: bufferization must never write into
  // the caller's buffers or the mapped weights file. All attributes are set
  // in one call: setArgAttr rebuilds (and uniques, for the context's
  // lifetime) the array of every argument's attributes on each call, which
  // made a 1024-layer model's 16k arguments cost gigabytes.
  StringRef writable = bufferization::BufferizationDialect::kWritableAttrName;
  auto readOnlyArg = [&](StringRef key, StringRef name) {
    NamedAttribute attrs[] = {b.getNamedAttr(key, b.getStringAttr(name)),
                              b.getNamedAttr(writable, b.getBoolAttr(false))};
    return b.getDictionaryAttr(attrs);
  };
  SmallVector<DictionaryAttr> argAttrs, resultAttrs;
  // The caches of a generation step are the exception: the step writes
  // its new keys and values into them in place (docs/generation.md).
  // A decode step only reads an encoder-decoder's cross caches.
  std::set<std::string> caches;
  for (int64_t i = 0;
       shapes.step != GenerateStep::None && i < decoderLayers(spec); ++i) {
    caches.insert(keyCacheName(i));
    caches.insert(valueCacheName(i));
    if (shapes.step == GenerateStep::Prefill) {
      caches.insert(crossKeyCacheName(i));
      caches.insert(crossValueCacheName(i));
    }
  }
  for (const TensorDecl &in : inputs)
    argAttrs.push_back(caches.count(in.name)
                           ? b.getDictionaryAttr(b.getNamedAttr(
                                 kInputAttrName, b.getStringAttr(in.name)))
                           : readOnlyArg(kInputAttrName, in.name));
  for (const WeightDecl &w : weightDecls)
    argAttrs.push_back(readOnlyArg(kWeightAttrName, w.name));
  for (const TensorDecl &out : outputs)
    resultAttrs.push_back(b.getDictionaryAttr(
        b.getNamedAttr(kOutputAttrName, b.getStringAttr(out.name))));
  func.setAllArgAttrs(argAttrs);
  func.setAllResultAttrs(resultAttrs);

  Block *body = func.addEntryBlock();
  b.setInsertionPointToStart(body);
  std::map<std::string, Value> inputValues;
  for (auto [i, in] : llvm::enumerate(inputs))
    inputValues[in.name] = body->getArgument(i);
  for (auto [i, w] : llvm::enumerate(weightDecls))
    weights[w.name] = body->getArgument(inputs.size() + i);
  auto input = [&](const char *name) -> Value {
    auto it = inputValues.find(name);
    return it == inputValues.end() ? Value() : it->second;
  };

  Value result;
  SmallVector<Value> extraResults;
  std::string headStack;
  switch (spec.kind) {
  case ModelKind::Encoder: {
    Value lengths = input("lengths");
    Value x = embed("encoder", input("input_ids"), input("token_type_ids"));
    result = stack("encoder", x, spec.numLayers, lengths, /*causal=*/false,
                   Value(), Value(), spec.attentionPatterns);
    headStack = "encoder";
    break;
  }
  case ModelKind::Decoder: {
    if (shapes.step != GenerateStep::None) {
      result =
          generateStack(input("input_ids"), input(kPositionIdsInput),
                        input(kCachePositionInput), input(kCacheLengthInput),
                        Value(), Value(), inputValues);
      headStack = "decoder";
      break;
    }
    Value x = embed("decoder", input("input_ids"), Value());
    if (spec.transformerXL()) {
      SmallVector<Value> memories;
      for (int64_t i = 0; i < spec.numLayers; ++i)
        memories.push_back(inputValues[memoryInputName(i)]);
      result = transformerXLStack(x, input(kMemoryLengthInput), memories,
                                  extraResults);
      headStack = "decoder";
      break;
    }
    result = stack("decoder", x, spec.numLayers, input("lengths"),
                   /*causal=*/true, Value(), Value(), spec.attentionPatterns);
    headStack = "decoder";
    break;
  }
  case ModelKind::EncoderDecoder: {
    Value srcLengths = input("src_lengths");
    if (shapes.step != GenerateStep::None) {
      // Prefill encodes the source; a decode step reads the cross caches.
      Value memory;
      if (shapes.step == GenerateStep::Prefill)
        memory = stack("encoder", embed("encoder", input("src_ids"), Value()),
                       spec.numLayers, srcLengths, /*causal=*/false, Value(),
                       Value(), spec.attentionPatterns);
      result =
          generateStack(input("input_ids"), input(kPositionIdsInput),
                        input(kCachePositionInput), input(kCacheLengthInput),
                        memory, srcLengths, inputValues);
      headStack = "decoder";
      break;
    }
    Value src = embed("encoder", input("src_ids"), Value());
    Value memory =
        stack("encoder", src, spec.numLayers, srcLengths,
              /*causal=*/false, Value(), Value(), spec.attentionPatterns);
    Value tgt = embed("decoder", input("tgt_ids"), Value());
    result = stack("decoder", tgt, spec.numDecoderLayers, Value(),
                   /*causal=*/true, memory, srcLengths);
    headStack = "decoder";
    break;
  }
  }
  if (spec.lmHead)
    result = lmHead(result, headStack);
  SmallVector<Value> results{result};
  // The sentence embedding follows the hidden states (listOutputs order).
  if (spec.pooling.enabled()) {
    auto hiddenType = cast<RankedTensorType>(result.getType());
    xf::PoolingKind mode = spec.pooling.mode == PoolingMode::Cls
                               ? xf::PoolingKind::cls
                               : xf::PoolingKind::mean;
    results.push_back(xf::SentencePoolOp::create(
        b, at("encoder.pooling"),
        f32Type({hiddenType.getDimSize(0), hiddenType.getDimSize(2)}),
        xf::PoolingKindAttr::get(b.getContext(), mode), result,
        input("lengths"), b.getBoolAttr(spec.pooling.normalize),
        b.getF64FloatAttr(spec.pooling.epsilon)));
  }
  results.append(extraResults.begin(), extraResults.end());
  func::ReturnOp::create(b, loc, results);
  if (spec.transformerXL()) {
    SmallVector<Attribute> memoryInputs, memoryOutputs;
    for (int64_t i = 0; i < spec.numLayers; ++i) {
      memoryInputs.push_back(b.getStringAttr(memoryInputName(i)));
      memoryOutputs.push_back(b.getStringAttr(memoryOutputName(i)));
    }
    NamedAttribute fields[] = {
        b.getNamedAttr("memory_length", b.getI64IntegerAttr(spec.memoryLength)),
        b.getNamedAttr("length_input", b.getStringAttr(kMemoryLengthInput)),
        b.getNamedAttr("inputs", b.getArrayAttr(memoryInputs)),
        b.getNamedAttr("outputs", b.getArrayAttr(memoryOutputs))};
    (*module)->setAttr(kSegmentMemoryAttrName, b.getDictionaryAttr(fields));
  }
  return module;
}

} // namespace

OwningOpRef<ModuleOp> buildModelModule(MLIRContext &context,
                                       const ModelSpec &spec,
                                       const ShapeOptions &shapes) {
  return ModelIRBuilder(context, spec, shapes).build();
}

} // namespace xfc
