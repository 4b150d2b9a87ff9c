//===- FuzzNpy.cpp - Fuzz target: the .npy reader -------------------------===//
//
// Part of xfc. The input is the bytes of a .npy file, given to parseNpy
// (runtime/src/support/Npy.cpp), the reader behind `xfc run --input`. The
// contract checked: a rejected file has a message that starts with the
// file's name and says what was expected and what was found, and leaves no
// partial array behind; an accepted one is an f32 or i32 array whose bytes
// are exactly its element count times four (int64 files narrowed), and
// whose shape has no negative dimension.
//
// Plain byte mutations suit this format: the header is a short Python dict
// literal, and the dictionary (dict/npy.dict) supplies its keys and values.
//
//===----------------------------------------------------------------------===//
#include "FuzzTarget.h"

#include "xfc/Support/Npy.h"

#include <string>

namespace {

constexpr const char *kTarget = "fuzz_npy";
constexpr const char *kName = "input.npy";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using xfc::fuzz::check;
  const std::string contents(reinterpret_cast<const char *>(data), size);
  xfc::NpyArray array;
  std::string error;
  if (!xfc::parseNpy(contents, kName, array, error)) {
    xfc::fuzz::note(kTarget, "rejected: " + error);
    check(error.rfind(std::string(kName) + ": ", 0) == 0, kTarget,
          "a message that does not name the file: " + error);
    check(error.find("expected ") != std::string::npos &&
              error.find(", found ") != std::string::npos,
          kTarget, "a message without expected and found: " + error);
    check(array.shape.empty() && array.bytes.empty() && array.dtype.empty(),
          kTarget, "a rejected file left a partial array");
    return 0;
  }
  xfc::fuzz::note(kTarget, "accepted");
  check(array.dtype == "f32" || array.dtype == "i32", kTarget,
        "accepted with dtype '" + array.dtype + "'");
  uint64_t elements = 1;
  for (int64_t dim : array.shape) {
    check(dim >= 0, kTarget, "accepted a negative dimension");
    check(!__builtin_mul_overflow(elements, static_cast<uint64_t>(dim),
                                  &elements),
          kTarget, "accepted an element count that overflows");
  }
  check(elements <= array.bytes.size() && array.bytes.size() == elements * 4,
        kTarget,
        "accepted " + std::to_string(array.bytes.size()) + " bytes for " +
            std::to_string(elements) + " elements");
  return 0;
}
