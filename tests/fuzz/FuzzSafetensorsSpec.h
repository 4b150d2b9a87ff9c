//===- FuzzSafetensorsSpec.h - The safetensors target's model ---*- C++ -*-===//
//
// Part of xfc. The fixed model whose weights fuzz_safetensors loads from the
// fuzzed file, shared with MakeFuzzSeeds.cpp, which writes its weights as the
// seeds. Tiny, but with one of every kind of weight an encoder can have
// (token, position and token-type tables, the embedding norm, biased
// attention and feed-forward linears, a final norm, a biased LM head), so
// the loader's checks meet every name and shape pattern.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_FUZZ_FUZZSAFETENSORSSPEC_H
#define XFC_TESTS_FUZZ_FUZZSAFETENSORSSPEC_H

namespace xfc::fuzz {

inline constexpr const char *kSafetensorsSpecJson = R"({
  "xfc_spec_version": 1,
  "name": "fuzz-tiny-encoder",
  "kind": "encoder",
  "vocab_size": 5,
  "d_model": 4,
  "num_heads": 2,
  "d_ff": 6,
  "num_layers": 1,
  "max_seq_len": 3,
  "embedding_layer_norm": true,
  "token_type_vocab_size": 2,
  "final_norm": true,
  "positional_encoding": "learned",
  "lm_head": true,
  "bias": {"lm_head": true},
  "weights": {"source": "random", "seed": 7, "std": 0.5}
})";

} // namespace xfc::fuzz

#endif // XFC_TESTS_FUZZ_FUZZSAFETENSORSSPEC_H
