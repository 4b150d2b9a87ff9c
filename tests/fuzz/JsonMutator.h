//===- JsonMutator.h - Structure-aware mutations of JSON inputs -*- C++ -*-===//
//
// Part of xfc. libFuzzer's byte mutations mostly break JSON syntax: in a
// first trial, two thirds of the inputs the spec target kept were parse
// errors, and the parsers' semantic checks (sizes, kinds, shapes, offsets)
// were reached only by the few seeds. The custom mutators of the fuzz_*
// binaries therefore parse the JSON part of an input (a spec, a manifest, a
// safetensors header), change one or a few values, members or elements,
// and write it back; a third of the time, or when the input does not
// parse, they leave the work to libFuzzer's own byte mutations, which keep
// covering the syntax errors.
//
// Only the libFuzzer binaries use this header (XFC_LIBFUZZER is defined for
// them); the replay drivers never mutate.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_FUZZ_JSONMUTATOR_H
#define XFC_TESTS_FUZZ_JSONMUTATOR_H

#include "FuzzTarget.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

namespace xfc::fuzz {

using Json = nlohmann::json;
using Rng = std::mt19937_64;

/// Member names of the spec, the manifest and the safetensors header.
inline const std::vector<const char *> &knownKeys() {
  static const std::vector<const char *> keys = {
      // Spec (docs/spec.md).
      "xfc_spec_version", "name", "kind", "vocab_size", "d_model", "num_heads",
      "d_ff", "num_layers", "num_decoder_layers", "max_seq_len",
      "norm_placement", "layer_norm_epsilon", "final_norm",
      "embedding_layer_norm", "token_type_vocab_size", "embedding_scale",
      "activation", "bias", "lm_head", "tied_output_embedding",
      "shared_embeddings", "key_padding_mask", "positional_encoding", "dtype",
      "weights", "attention_qkv", "attention_output", "ffn_hidden",
      "ffn_output", "source", "seed", "std", "path",
      // Manifest (docs/artifact.md).
      "format", "format_version", "model_name", "library", "library_size_bytes",
      "library_fnv1a64", "entry_symbol", "weights_file", "target", "features",
      "inputs", "outputs", "memory_plan", "arena_bytes", "kernels", "id",
      "symbol", "nodes", "flops", "bytes", "shape", "offset", "size_bytes",
      "source_shape", "transform", "min", "max", "segment_memory",
      "memory_length", "segment_length", "length_input", "transformer_xl",
      // Safetensors.
      "__metadata__", "data_offsets"};
  return keys;
}

/// String values the parsers compare against, and a few hostile ones.
inline const std::vector<const char *> &knownStrings() {
  static const std::vector<const char *> strings = {"",
                                                    "f32",
                                                    "i32",
                                                    "F32",
                                                    "F16",
                                                    "BF16",
                                                    "I32",
                                                    "I64",
                                                    "U8",
                                                    "BOOL",
                                                    "X9",
                                                    "none",
                                                    "transpose",
                                                    "pack12",
                                                    "pack0",
                                                    "pack",
                                                    "..",
                                                    ".",
                                                    "a/b",
                                                    "manifest.json",
                                                    "weights.safetensors",
                                                    "model.so",
                                                    "encoder",
                                                    "decoder",
                                                    "encoder_decoder",
                                                    "pre",
                                                    "post",
                                                    "relu",
                                                    "gelu",
                                                    "gelu_tanh",
                                                    "sinusoidal",
                                                    "learned",
                                                    "random",
                                                    "safetensors",
                                                    "sqrt_d_model",
                                                    "xfc-artifact",
                                                    "0123456789abcdef",
                                                    "xf_k0",
                                                    "encoder.embed.tokens",
                                                    "\x01",
                                                    "\xff\xfe"};
  return strings;
}

/// A value on or next to a limit some parser checks.
inline Json interestingValue(Rng &rng) {
  // clang-format off
  static const int64_t ints[] = {
      0, 1, -1, 2, 3, 4, 7, 8, 12, 63, 64, 65, 1023, 1024, 1025, 65536,
      int64_t(1) << 20, (int64_t(1) << 20) + 1, INT32_MAX,
      int64_t(INT32_MAX) + 1, INT32_MIN, int64_t(1) << 32, INT64_MAX,
      INT64_MIN};
  // clang-format on
  static const double doubles[] = {0.0,   -0.0,   0.5,   1.0,
                                   1e-12, 1e-300, 1e300, -1.5};
  switch (rng() % 9) {
  case 0:
  case 1:
  case 2:
    return ints[rng() % (sizeof(ints) / sizeof(ints[0]))];
  case 3:
    return std::numeric_limits<uint64_t>::max() - rng() % 2;
  case 4:
    return doubles[rng() % (sizeof(doubles) / sizeof(doubles[0]))];
  case 5:
  case 6:
    return knownStrings()[rng() % knownStrings().size()];
  case 7:
    return rng() % 2 == 0;
  default:
    switch (rng() % 3) {
    case 0:
      return nullptr;
    case 1:
      return Json::array();
    default:
      return Json::object();
    }
  }
}

/// Every value of `node`'s tree, `node` first (depth-limited: hostile
/// inputs nest deeply, and the mutator must not overflow the stack either).
inline void collectNodes(Json &node, std::vector<Json *> &out, int depth = 0) {
  out.push_back(&node);
  if (depth > 24 || out.size() > 20000)
    return;
  if (node.is_object() || node.is_array())
    for (Json &child : node)
      collectNodes(child, out, depth + 1);
}

/// Applies one random structural change to `doc`.
inline void mutateJsonOnce(Json &doc, Rng &rng) {
  std::vector<Json *> nodes;
  collectNodes(doc, nodes);
  Json &node = *nodes[rng() % nodes.size()];
  switch (rng() % 7) {
  case 0:
  case 1:
    node = interestingValue(rng);
    return;
  case 2: // Nudge a number: off-by-one, doubling, halving, sign.
    if (node.is_number_integer() || node.is_number_unsigned()) {
      // Wrapping arithmetic in uint64_t: the limits are the interesting
      // values, and signed overflow would be UB in the mutator itself.
      uint64_t v = node.is_number_unsigned()
                       ? node.get<uint64_t>()
                       : static_cast<uint64_t>(node.get<int64_t>());
      const uint64_t nudged[] = {v + 1, v - 1, v * 2, v / 2, 0 - v};
      node = static_cast<int64_t>(nudged[rng() % 5]);
      return;
    }
    node = interestingValue(rng);
    return;
  case 3: // Remove a member or an element.
    if ((node.is_object() || node.is_array()) && !node.empty()) {
      auto it = node.begin();
      std::advance(it, rng() % node.size());
      node.erase(it);
      return;
    }
    node = interestingValue(rng);
    return;
  case 4: // Add a known member, or duplicate an element.
    if (node.is_object()) {
      node[knownKeys()[rng() % knownKeys().size()]] = interestingValue(rng);
      return;
    }
    if (node.is_array()) {
      Json element = node.empty() ? interestingValue(rng)
                                  : Json(node[rng() % node.size()]);
      node.push_back(std::move(element));
      return;
    }
    node = interestingValue(rng);
    return;
  case 5: { // Copy another part of the document here.
    Json copy = *nodes[rng() % nodes.size()];
    node = std::move(copy);
    return;
  }
  default: // Rename a member to a known key.
    if (node.is_object() && !node.empty()) {
      auto it = node.begin();
      std::advance(it, rng() % node.size());
      Json value = *it;
      node.erase(it);
      node[knownKeys()[rng() % knownKeys().size()]] = std::move(value);
      return;
    }
    node = interestingValue(rng);
  }
}

/// Mutates the JSON text `text` in place; false if it does not parse.
inline bool mutateJsonText(std::string &text, Rng &rng) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded())
    return false;
  for (unsigned n = 1 + rng() % 3; n > 0; --n)
    mutateJsonOnce(doc, rng);
  try {
    text = doc.dump(rng() % 2 ? -1 : 2, ' ', false,
                    Json::error_handler_t::replace);
  } catch (const Json::exception &) {
    return false;
  }
  return true;
}

/// Mutates the header of the safetensors file `bytes` and rewrites its
/// length field; false if there is no parsable header.
inline bool mutateSafetensors(std::string &bytes, Rng &rng) {
  if (bytes.size() < 8)
    return false;
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i)
    length = (length << 8) | static_cast<uint8_t>(bytes[i]);
  if (length > bytes.size() - 8)
    return false;
  std::string header = bytes.substr(8, length);
  if (!mutateJsonText(header, rng))
    return false;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  bytes = out + header + bytes.substr(8 + length);
  return true;
}

/// What an input of a target is made of, for the mutator.
enum class InputFormat {
  Json,        ///< The whole input is JSON text.
  Safetensors, ///< A safetensors file.
  Artifact,    ///< JSON, kSectionMarker, a safetensors file.
};

/// The body of a target's LLVMFuzzerCustomMutator.
inline size_t mutateInput(uint8_t *data, size_t size, size_t maxSize,
                          unsigned seed, InputFormat format) {
  Rng rng(seed);
  if (rng() % 3 == 0)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::string input(reinterpret_cast<const char *>(data), size);
  bool mutated = false;
  switch (format) {
  case InputFormat::Json:
    mutated = mutateJsonText(input, rng);
    break;
  case InputFormat::Safetensors:
    mutated = mutateSafetensors(input, rng);
    break;
  case InputFormat::Artifact: {
    std::string_view first, second;
    splitSections(input, first, second);
    std::string manifest(first), weights(second);
    mutated = rng() % 3 == 0 ? mutateSafetensors(weights, rng)
                             : mutateJsonText(manifest, rng);
    if (mutated)
      input = manifest + std::string(kSectionMarker) + weights;
    break;
  }
  }
  if (!mutated || input.size() > maxSize)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::memcpy(data, input.data(), input.size());
  return input.size();
}

} // namespace xfc::fuzz

#endif // XFC_TESTS_FUZZ_JSONMUTATOR_H
