//===- Generate.h - The generator's state -----------------------*- C++ -*-===//
//
// Part of xfc. What an xfc_generator holds (docs/generation.md): the two
// generation steps of an artifact, their contexts, the caches they share
// and the step inputs the runtime fills. Generate.cpp implements the
// generator's C API on it, BeamSearch.cpp the beam search.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_RUNTIME_GENERATE_H
#define XFC_RUNTIME_GENERATE_H

#include "xfc/runtime.h"

#include <cstdint>
#include <string>
#include <vector>

struct xfc_generator_s {
  xfc_model *prefill = nullptr, *decode = nullptr;
  xfc_context *prefillContext = nullptr, *decodeContext = nullptr;
  int64_t batch = 0, promptLength = 0, capacity = 0, vocab = 0, width = 0;
  int64_t layers = 0;
  int64_t length = 0;
  /// Encoder-decoder: the compiled source length S (0 for a decoder), and
  /// whether the steps take the source lengths (the spec's
  /// key_padding_mask).
  int64_t sourceLength = 0;
  bool sourcePadding = false;
  /// The caches in the steps' input order: every layer's self-attention
  /// key and value cache ([B, C, D]), then an encoder-decoder's
  /// cross-attention ones ([B, S, D]).
  struct Cache {
    std::string name;
    int64_t rows = 0; ///< C for self-attention, S for cross-attention.
    bool cross = false;
    std::vector<float> data;
  };
  std::vector<Cache> caches;
  /// Encoder-decoder: per item, the item whose prefill wrote the contents
  /// its cross caches hold now (itself after a prefill): reordering copies
  /// cross caches only between items whose contents differ, so beams of
  /// one source never copy them.
  std::vector<int64_t> crossSource;
  /// The inputs and outputs of each step; the caches are fixed, the rest
  /// filled per call.
  std::vector<xfc_buffer> prefillInputs, decodeInputs;
  std::vector<int32_t> promptIds, positionIds, cacheLength, cachePosition;
  std::vector<int32_t> sourceIds, sourceLengths;
  std::vector<float> prefillLogits;
  /// Index of the input_ids buffer in decodeInputs.
  static constexpr size_t kDecodeIds = 0;

  bool encoderDecoder() const { return sourceLength > 0; }

  ~xfc_generator_s() {
    xfc_context_destroy(prefillContext);
    xfc_context_destroy(decodeContext);
    xfc_model_destroy(prefill);
    xfc_model_destroy(decode);
  }
};

namespace xfc {

/// The C API's prefill and decode without the exception guard, for the
/// beam search (which is guarded itself).
xfc_status generatorPrefill(xfc_generator *g, const int32_t *srcIds,
                            size_t srcLength, const int32_t *srcLengths,
                            const int32_t *ids, size_t length, float *logits,
                            size_t numLogits, const char *function);
xfc_status generatorDecode(xfc_generator *g, const int32_t *ids, size_t numIds,
                           float *logits, size_t numLogits,
                           const char *function);
xfc_status generatorReorder(xfc_generator *g, const int32_t *parents,
                            size_t numParents, const char *function);

} // namespace xfc

#endif // XFC_RUNTIME_GENERATE_H
