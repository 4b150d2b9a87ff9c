//===- FuzzSafetensors.cpp - Fuzz target: the safetensors reader ----------===//
//
// Part of xfc. The input is a safetensors file. It goes through the two
// readers a checkpoint meets:
//   - parseSafetensors on the bytes in memory (the header parser the
//     runtime and the frontend share);
//   - loadWeights of a fixed tiny model whose spec points at the input
//     written to a file (frontends/lib/Weights.cpp: mapping, the check of
//     every tensor against listWeights(), the copy into the WeightStore).
// The contract checked: a rejected file has a message; an accepted header
// keeps every tensor inside the data area with the byte size its shape and
// dtype imply, sorted and not overlapping; loadWeights accepts only what the
// header parser accepts, and what it accepts has every weight of the spec
// with its listed shape.
//
// The seeds (corpus/safetensors/) are the fixed model's weights as
// MakeFuzzSeeds.cpp writes them, plus variants; every tensor name and shape
// the fixed spec needs is therefore in the corpus for the fuzzer to keep.
//
//===----------------------------------------------------------------------===//
#include "FuzzTarget.h"
#ifdef XFC_LIBFUZZER
#include "JsonMutator.h"
#endif
#include "FuzzSafetensorsSpec.h"

#include "xfc/Frontend/ModelSpec.h"
#include "xfc/Frontend/SpecParser.h"
#include "xfc/Frontend/Weights.h"
#include "xfc/Support/Safetensors.h"

#include <string>
#include <string_view>

namespace {

constexpr const char *kTarget = "fuzz_safetensors";

/// Checks what parseSafetensors promises about an accepted header.
void checkHeader(const xfc::SafetensorsHeader &header, size_t size) {
  using xfc::fuzz::check;
  check(header.dataBegin >= 8 && header.dataBegin <= size, kTarget,
        "data area begins at " + std::to_string(header.dataBegin) +
            " in a file of " + std::to_string(size) + " bytes");
  for (size_t i = 0; i < header.entries.size(); ++i) {
    const xfc::SafetensorsEntry &entry = header.entries[i];
    const std::string where = "tensor '" + entry.name + "': ";
    check(entry.begin >= header.dataBegin && entry.begin <= entry.end &&
              entry.end <= size,
          kTarget,
          where + "range [" + std::to_string(entry.begin) + ", " +
              std::to_string(entry.end) + ") outside the data area");
    size_t elementSize = xfc::safetensorsDtypeSize(entry.dtype);
    check(elementSize != 0, kTarget, where + "unknown dtype accepted");
    uint64_t bytes = elementSize;
    for (int64_t dim : entry.shape) {
      check(dim >= 0, kTarget, where + "negative dimension accepted");
      check(!__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes),
            kTarget, where + "byte size overflows");
    }
    check(bytes == entry.end - entry.begin, kTarget,
          where + "byte range does not match the shape");
    check(header.find(entry.name) != nullptr, kTarget,
          where + "find() does not return it");
    if (i == 0)
      continue;
    const xfc::SafetensorsEntry &prev = header.entries[i - 1];
    check(prev.begin <= entry.begin, kTarget, "entries not sorted by offset");
    check(prev.end <= entry.begin || prev.begin == prev.end ||
              entry.begin == entry.end,
          kTarget,
          "tensors '" + prev.name + "' and '" + entry.name + "' overlap");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using xfc::fuzz::check;
  using xfc::fuzz::fail;
  static const xfc::ModelSpec spec = [] {
    xfc::ModelSpec parsed;
    xfc::SpecError error;
    if (!xfc::parseModelSpec(xfc::fuzz::kSafetensorsSpecJson, "/", parsed,
                             error))
      fail(kTarget, "the fixed spec does not parse: " + error.message());
    return parsed;
  }();

  xfc::SafetensorsHeader header;
  std::string headerError;
  bool headerOk = xfc::parseSafetensors(data, size, header, headerError);
  if (headerOk)
    checkHeader(header, size);
  else
    check(!headerError.empty(), kTarget, "rejected header without a message");

  xfc::fuzz::ScratchDir &scratch = xfc::fuzz::ScratchDir::get();
  scratch.clear();
  xfc::ModelSpec fileSpec = spec;
  fileSpec.weights.kind = xfc::WeightSource::Kind::Safetensors;
  fileSpec.weights.path = scratch.write(
      "weights.safetensors",
      std::string_view(reinterpret_cast<const char *>(data), size));

  xfc::WeightStore store;
  std::string error;
  if (!xfc::loadWeights(fileSpec, store, error)) {
    xfc::fuzz::note(kTarget, "rejected: " + error);
    check(!error.empty(), kTarget, "loadWeights failed without a message");
    check(store.tensors().empty(), kTarget,
          "a failed loadWeights left tensors in the store");
    return 0;
  }
  if (!headerOk)
    fail(kTarget, "loadWeights accepted a file whose header is rejected: " +
                      headerError);
  xfc::fuzz::note(kTarget, "loaded");
  const std::vector<xfc::WeightDecl> decls = xfc::listWeights(spec);
  check(store.tensors().size() == decls.size(), kTarget,
        "the store holds " + std::to_string(store.tensors().size()) +
            " tensors, the spec lists " + std::to_string(decls.size()));
  for (const xfc::WeightDecl &decl : decls) {
    const xfc::HostTensor *tensor = store.find(decl.name);
    check(tensor != nullptr, kTarget, "weight '" + decl.name + "' missing");
    check(tensor->shape == decl.shape &&
              tensor->data.size() == static_cast<size_t>(tensor->numElements()),
          kTarget, "weight '" + decl.name + "' has the wrong size");
  }
  return 0;
}

#ifdef XFC_LIBFUZZER
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned seed) {
  return xfc::fuzz::mutateInput(data, size, maxSize, seed,
                                xfc::fuzz::InputFormat::Safetensors);
}
#endif
