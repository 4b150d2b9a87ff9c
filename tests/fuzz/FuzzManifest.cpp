//===- FuzzManifest.cpp - Fuzz target: the manifest.json parser ----------===//
//
// Part of xfc. The input is the text of an artifact's manifest.json, given
// to the runtime's parseManifest (runtime/src/Manifest.cpp, compiled into
// this target because the runtime library exports only its C API). The
// contract checked: a rejected manifest has the status code the runtime
// documents for it and a message naming manifest.json; an accepted one
// meets everything the runtime later uses without re-checking (plain file
// names, byte sizes that match shape and dtype, ranks within XFC_MAX_RANK,
// ranges only on i32 inputs with min <= max, kernel ids in order, C
// identifiers as kernel symbols).
//
//===----------------------------------------------------------------------===//
#include "FuzzTarget.h"
#ifdef XFC_LIBFUZZER
#include "JsonMutator.h"
#endif

#include "Manifest.h"

#include <string>

namespace {

constexpr const char *kTarget = "fuzz_manifest";

bool isPlainFileName(const std::string &name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

/// Byte size of a dense tensor, or false when it overflows.
bool byteSize(const std::vector<int64_t> &shape, xfc_dtype dtype,
              uint64_t &bytes) {
  bytes = xfc_dtype_size(dtype);
  for (int64_t dim : shape)
    if (dim < 0 ||
        __builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes))
      return false;
  return true;
}

void checkTensors(const std::vector<xfc::ManifestTensor> &tensors,
                  bool areInputs) {
  using xfc::fuzz::check;
  for (const xfc::ManifestTensor &tensor : tensors) {
    const std::string where = "tensor '" + tensor.name + "': ";
    check(!tensor.name.empty(), kTarget, "an unnamed tensor accepted");
    check(tensor.dtype == XFC_DTYPE_F32 || tensor.dtype == XFC_DTYPE_I32,
          kTarget, where + "unknown dtype");
    check(tensor.shape.size() <= XFC_MAX_RANK, kTarget,
          where + "rank above XFC_MAX_RANK");
    uint64_t bytes = 0;
    check(byteSize(tensor.shape, tensor.dtype, bytes) &&
              bytes == tensor.sizeBytes,
          kTarget, where + "sizeBytes does not match the shape");
    if (tensor.min || tensor.max)
      check(areInputs && tensor.dtype == XFC_DTYPE_I32, kTarget,
            where + "a range on a tensor that is not an i32 input");
    if (tensor.min && tensor.max)
      check(*tensor.min <= *tensor.max, kTarget, where + "min > max");
    for (const std::optional<int64_t> &bound : {tensor.min, tensor.max})
      if (bound)
        check(*bound >= INT32_MIN && *bound <= INT32_MAX, kTarget,
              where + "a bound outside int32");
  }
}

bool isIdentifier(const std::string &text) {
  if (text.empty() || (text[0] >= '0' && text[0] <= '9'))
    return false;
  for (char c : text)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using xfc::fuzz::check;
  const std::string text(reinterpret_cast<const char *>(data), size);
  xfc::Manifest manifest;
  xfc_status_code code = XFC_OK;
  std::string error;
  if (!xfc::parseManifest(text, manifest, code, error)) {
    xfc::fuzz::note(kTarget, "rejected: " + error);
    check(code == XFC_INVALID_ARTIFACT || code == XFC_UNSUPPORTED, kTarget,
          "rejected with status code " + std::to_string(code));
    check(error.rfind("manifest.json: ", 0) == 0, kTarget,
          "a message that does not name manifest.json: " + error);
    return 0;
  }
  xfc::fuzz::note(kTarget, "accepted");
  check(manifest.formatVersion >= xfc::kOldestManifestFormatVersion &&
            manifest.formatVersion <= xfc::kManifestFormatVersion,
        kTarget, "another format_version accepted");
  check(manifest.formatVersion >= 5 || manifest.segmentMemory.memoryLength == 0,
        kTarget, "segment_memory accepted before format_version 5");
  check(isPlainFileName(manifest.library) &&
            isPlainFileName(manifest.weightsFile),
        kTarget, "a library or weights file outside the artifact folder");
  check(!manifest.entrySymbol.empty(), kTarget, "an empty entry symbol");
  checkTensors(manifest.inputs, /*areInputs=*/true);
  checkTensors(manifest.outputs, /*areInputs=*/false);
  for (const xfc::ManifestWeight &weight : manifest.weights) {
    uint64_t bytes = 0;
    check(!weight.name.empty() && byteSize(weight.shape, weight.dtype, bytes) &&
              bytes == weight.sizeBytes,
          kTarget, "weight '" + weight.name + "': size does not match");
  }
  for (const xfc::ManifestKernel &kernel : manifest.kernels)
    check(!kernel.name.empty() && isIdentifier(kernel.symbol), kTarget,
          "kernel '" + kernel.name + "': bad name or symbol");
  return 0;
}

#ifdef XFC_LIBFUZZER
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned seed) {
  return xfc::fuzz::mutateInput(data, size, maxSize, seed,
                                xfc::fuzz::InputFormat::Json);
}
#endif
