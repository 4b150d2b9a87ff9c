//===- ModelSpec.h - The validated form of a model spec ---------*- C++ -*-===//
//
// Part of xfc. The JSON model spec (docs/spec.md) is parsed and validated
// into a ModelSpec; everything after the parser (the IR builder, the weight
// initializer, the reference model used by the tests) reads only this struct,
// so every later stage may assume the invariants the parser checked.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_FRONTEND_MODELSPEC_H
#define XFC_FRONTEND_MODELSPEC_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace xfc {

/// The current (and only) spec format version this build reads.
inline constexpr int kSpecVersion = 1;

enum class ModelKind { Encoder, Decoder, EncoderDecoder };
enum class NormPlacement { Post, Pre };
enum class Activation { Relu, Gelu, GeluTanh };
enum class PositionalEncoding { None, Sinusoidal, Learned };

/// Which linear layers carry a bias. The JSON accepts a bool for all of them
/// or an object naming each (docs/spec.md).
struct BiasSpec {
  bool attentionQKV = true;    ///< q, k and v projections.
  bool attentionOutput = true; ///< Attention output projection.
  bool ffnHidden = true;       ///< First feed-forward linear (fc1).
  bool ffnOutput = true;       ///< Second feed-forward linear (fc2).
  bool lmHead = false;         ///< Output projection to the vocabulary.
};

/// How the sentence embedding output is pooled from the final hidden
/// states (docs/spec.md, `pooling`).
enum class PoolingMode { None, Mean, Cls };

/// The `pooling` field: none, or a mode with optional L2 normalization.
struct PoolingSpec {
  PoolingMode mode = PoolingMode::None;
  bool normalize = false; ///< x / max(||x||_2, epsilon) after pooling.
  double epsilon = 1e-12; ///< torch.nn.functional.normalize's default.
  bool enabled() const { return mode != PoolingMode::None; }
};

/// Where the weights come from.
struct WeightSource {
  enum class Kind { Random, Safetensors } kind = Kind::Random;
  uint64_t seed = 0;    ///< Random: the seed of the generator.
  double stddev = 0.02; ///< Random: std of the normal init.
  std::string path;     ///< Safetensors: absolute, resolved at parse.
};

/// A validated model spec. Field meanings and defaults are in docs/spec.md.
struct ModelSpec {
  int specVersion = kSpecVersion;
  std::string name;
  ModelKind kind = ModelKind::Encoder;
  int64_t vocabSize = 0;
  int64_t dModel = 0;
  int64_t numHeads = 0;
  int64_t dFF = 0;
  /// Layers of the encoder stack (Encoder, EncoderDecoder) or of the
  /// decoder stack (Decoder).
  int64_t numLayers = 0;
  /// Layers of the decoder stack of an EncoderDecoder model.
  int64_t numDecoderLayers = 0;
  int64_t maxSeqLen = 512;
  NormPlacement normPlacement = NormPlacement::Post;
  double layerNormEpsilon = 1e-5;
  bool finalNorm = false;          ///< A LayerNorm closing each stack.
  bool embeddingLayerNorm = false; ///< BERT's LayerNorm after embeddings.
  int64_t tokenTypeVocabSize = 0;  ///< 0: no token_type_ids input.
  double embeddingScale = 1.0;     ///< Token embeddings are multiplied by it.
  Activation activation = Activation::Gelu;
  BiasSpec bias;
  bool lmHead = false;              ///< Project to vocabulary logits.
  bool tiedOutputEmbedding = false; ///< lm_head reuses the token embedding.
  bool sharedEmbeddings = true;     ///< EncoderDecoder: one token table.
  bool keyPaddingMask = false;      ///< Adds a `lengths` input.
  PositionalEncoding positionalEncoding = PositionalEncoding::Sinusoidal;
  /// The self-attention mask pattern of each layer of the first stack (the
  /// encoder, or the decoder of a decoder-only model), in the canonical
  /// text syntax of docs/attention-patterns.md; "" keeps the layer's
  /// default (dense, or causal in a decoder). Empty: every layer keeps it.
  std::vector<std::string> attentionPatterns;
  /// Transformer-XL (docs/transformer-xl.md): the number M of hidden states
  /// each layer keeps from the previous segments, attended to as memory with
  /// relative positions; 0 for every other model.
  int64_t memoryLength = 0;
  /// The patterns came from `xfc compile --attention`, not from the spec:
  /// Linformer projections missing from a weights file are then generated
  /// from the pattern's seed instead of being an error.
  bool attentionPatternOverridden = false;
  /// Adds the `sentence_embedding` output (encoder without LM head only).
  PoolingSpec pooling;
  std::string dtype = "f32";
  WeightSource weights;

  int64_t headDim() const { return dModel / numHeads; }
  /// True for a Transformer-XL decoder (segment recurrence with memory).
  bool transformerXL() const { return memoryLength > 0; }
};

/// Which function of a decoder is compiled (docs/generation.md): the
/// whole sequence, or one of the two steps of generation over a key/value
/// cache.
enum class GenerateStep {
  None,    ///< The model on a whole sequence (no cache).
  Prefill, ///< The prompt (seqLen positions; an encoder-decoder's target
           ///< prompt has tgtLen and its source seqLen); writes cache rows
           ///< 0.. (and an encoder-decoder's cross-attention caches).
  Decode,  ///< One token per item at a position; appends to the cache.
};

/// Compile-time shape choices: static shapes per compiled artifact.
struct ShapeOptions {
  int64_t batch = 1;
  int64_t seqLen = 128; ///< Input sequence (source sequence for EncDec).
  int64_t tgtLen = 0;   ///< EncoderDecoder target length; 0: = seqLen.
  GenerateStep step = GenerateStep::None;
  int64_t cacheCapacity = 0; ///< Positions of the key/value cache (steps).
};

/// One tensor the model needs: its canonical name (docs/spec.md, "Weight
/// names") and its shape in the spec's (PyTorch) layout.
struct WeightDecl {
  std::string name;
  std::vector<int64_t> shape;
};

/// Every weight the spec implies, in a deterministic order (the order the IR
/// builder creates the function arguments in).
std::vector<WeightDecl> listWeights(const ModelSpec &spec);

/// The Linformer projections E and F of self-attention layer `layer` of the
/// first stack, by weight name (docs/spec.md, "Linformer projections"):
/// `<stack>.layers.N.self_attn.linformer_e` / `_f` (per layer), one
/// `..._e` for both when E = F (`key_value`), `<stack>.linformer_e` for
/// every `layerwise` layer. Shapes are [k, n], or [num_heads, k, n] for
/// `sharing = none`, with n the compiled sequence length.
struct LinformerLayer {
  bool enabled = false;
  std::string e, f; ///< Weight names; f == e when E = F.
  std::vector<int64_t> shape;
  uint64_t seed = 0; ///< The pattern's seed (generated projections).
  std::string pattern; ///< The layer's canonical pattern text.
};

/// Layer `layer`'s projections at sequence length `seqLen` (`enabled` false
/// when the layer's pattern is not linformer).
LinformerLayer linformerLayer(const ModelSpec &spec, int64_t layer,
                              int64_t seqLen);

/// Every Linformer projection weight of the spec at `seqLen`, in layer
/// order, each once (a layerwise matrix is listed for its first layer).
std::vector<WeightDecl> listLinformerWeights(const ModelSpec &spec,
                                             int64_t seqLen);

/// One model input or output as the compiled function sees it.
struct TensorDecl {
  std::string name;
  std::string dtype; ///< "f32" or "i32".
  std::vector<int64_t> shape;
  /// For integer inputs: every element must lie in [minValue, maxValue];
  /// the runtime checks it before running so bad ids never index out of
  /// bounds in generated code.
  bool hasRange = false;
  int64_t minValue = 0, maxValue = 0;
};

/// The inputs of the compiled function, in argument order.
std::vector<TensorDecl> listInputs(const ModelSpec &spec,
                                   const ShapeOptions &shapes);
/// The outputs of the compiled function, in result order.
std::vector<TensorDecl> listOutputs(const ModelSpec &spec,
                                    const ShapeOptions &shapes);

/// Transformer-XL: the input holding how many memory positions are filled
/// (the same count for every batch item; the runtime passes it).
inline constexpr const char *kMemoryLengthInput = "memory_length";
/// Transformer-XL: the input with layer `layer`'s memory, [B, M, D].
std::string memoryInputName(int64_t layer);
/// Transformer-XL: the output with layer `layer`'s next memory, [B, M, D].
std::string memoryOutputName(int64_t layer);

/// Generation steps: the input with each item's position ([B, 1], the
/// position embedding's index), the input with the number of cache rows
/// each item attends to after the write ([B], position + 1) and the input
/// with the row the step writes ([1], the same for every item).
inline constexpr const char *kPositionIdsInput = "position_ids";
inline constexpr const char *kCacheLengthInput = "cache_length";
inline constexpr const char *kCachePositionInput = "cache_position";
/// Generation steps: layer `layer`'s key and value caches, [B, C, D]
/// (projected keys and values, heads side by side), written in place.
std::string keyCacheName(int64_t layer);
std::string valueCacheName(int64_t layer);
/// Generation steps of an encoder-decoder: layer `layer`'s cross-attention
/// key and value caches, [B, S, D]: the projected encoder output, written
/// once by prefill and read by every decode step.
std::string crossKeyCacheName(int64_t layer);
std::string crossValueCacheName(int64_t layer);
/// The number of decoder layers: num_decoder_layers for an encoder-decoder,
/// num_layers for a decoder.
int64_t decoderLayers(const ModelSpec &spec);

const char *toString(ModelKind kind);
const char *toString(NormPlacement placement);
const char *toString(Activation activation);
const char *toString(PositionalEncoding encoding);
const char *toString(PoolingMode mode);

/// The name of the pooled output (after `hidden_states`).
inline constexpr const char *kSentenceEmbeddingOutput = "sentence_embedding";

} // namespace xfc

#endif // XFC_FRONTEND_MODELSPEC_H
