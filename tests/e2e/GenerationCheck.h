//===- GenerationCheck.h - Shared pieces of the generation tests *- C++ -*-===//
//
// Part of xfc. What GenerateTest.cpp (decoders) and Seq2SeqGenerateTest.cpp
// (encoder-decoders) both need: statuses as messages, an owned generator,
// the logits comparison with its tolerance's scale, and int32 .npy
// goldens.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_E2E_GENERATIONCHECK_H
#define XFC_TESTS_E2E_GENERATIONCHECK_H

#include "xfc/Support/Npy.h"
#include "xfc/runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace xfc::test {

/// Takes and frees a status: "" for success, else its message.
inline std::string message(xfc_status status) {
  std::string text = status ? xfc_status_get_message(status) : "";
  xfc_status_free(status);
  return text;
}

using GeneratorHandle =
    std::unique_ptr<xfc_generator, void (*)(xfc_generator *)>;

/// The generator of `artifact`; a test failure and null when it does not
/// open.
inline GeneratorHandle openGenerator(const std::string &artifact) {
  xfc_generator *generator = nullptr;
  EXPECT_EQ(message(xfc_generator_open(artifact.c_str(), nullptr, &generator)),
            "");
  return GeneratorHandle(generator, xfc_generator_destroy);
}

/// max |a - b| / max(1, max |b|) per row of `vocab` logits, worst row (NaN
/// counts as infinitely far).
inline double relativeError(const std::vector<float> &a,
                            const std::vector<float> &b, int64_t vocab) {
  if (a.size() != b.size())
    return INFINITY;
  double worst = 0;
  for (size_t row = 0; row < a.size() / vocab; ++row) {
    double scale = 1, diff = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      scale = std::max(scale, std::fabs(double(b[row * vocab + v])));
      double d = std::fabs(double(a[row * vocab + v]) - b[row * vocab + v]);
      diff = std::isnan(d) ? INFINITY : std::max(diff, d);
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

/// The int32 values of the .npy file `path`, and its shape.
inline std::vector<int32_t> loadInts(const std::string &path,
                                     std::vector<int64_t> &shape) {
  NpyArray array;
  std::string error;
  EXPECT_TRUE(readNpy(path, array, error)) << error;
  shape = array.shape;
  std::vector<int32_t> values(array.bytes.size() / sizeof(int32_t));
  std::memcpy(values.data(), array.bytes.data(),
              values.size() * sizeof(int32_t));
  return values;
}

} // namespace xfc::test

#endif // XFC_TESTS_E2E_GENERATIONCHECK_H
