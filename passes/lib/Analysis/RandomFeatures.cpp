//===- RandomFeatures.cpp - Performer's random projection -------*- C++ -*-===//
//
// Part of xfc. Implements performerFeatureMatrix, exactly the algorithm of
// docs/attention-patterns.md ("Performer's random features"). The file is
// compiled with -ffp-contract=off (passes/lib/Analysis/CMakeLists.txt): a
// fused multiply-add rounds differently from the separate multiply and add
// the Python generator performs, and the two must agree bit for bit.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/RandomFeatures.h"

#include <cmath>

using namespace mlir::xf;

namespace {

/// The generator's state and its draws, in the order the document lists.
class Draws {
public:
  explicit Draws(uint64_t seed) : state(seed) {}

  /// SplitMix64 (the same generator as BigBird's random blocks).
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  /// A uniform double in (0, 1]: the top 53 bits, plus one, times 2^-53
  /// (never 0, so the logarithm below is finite).
  double uniform() { return double((next() >> 11) + 1) * 0x1.0p-53; }

  /// One standard normal by Box-Muller from two uniforms, u1 first; only
  /// the cosine branch is used, so every normal costs two draws.
  double normal() {
    double u1 = uniform();
    double u2 = uniform();
    double radius = std::sqrt(-2.0 * std::log(u1));
    double angle = 2.0 * M_PI * u2;
    return radius * std::cos(angle);
  }

private:
  uint64_t state;
};

} // namespace

std::vector<float> mlir::xf::performerFeatureMatrix(int64_t features,
                                                    int64_t headDim,
                                                    uint64_t seed) {
  int64_t d = headDim;
  Draws draws(seed);
  // The orthogonal directions, block by block.
  std::vector<double> directions(size_t(features * d));
  std::vector<double> block(size_t(d * d));
  for (int64_t first = 0; first < features; first += d) {
    // A d x d Gaussian block, row by row.
    for (double &x : block)
      x = draws.normal();
    // Modified Gram-Schmidt over the rows, in order; sums run over the
    // columns in ascending order, one rounding per operation.
    for (int64_t i = 0; i < d; ++i) {
      double *v = &block[size_t(i * d)];
      for (int64_t j = 0; j < i; ++j) {
        const double *u = &block[size_t(j * d)];
        double dot = 0.0;
        for (int64_t c = 0; c < d; ++c) {
          double product = v[c] * u[c];
          dot = dot + product;
        }
        for (int64_t c = 0; c < d; ++c) {
          double product = dot * u[c];
          v[c] = v[c] - product;
        }
      }
      double squares = 0.0;
      for (int64_t c = 0; c < d; ++c) {
        double square = v[c] * v[c];
        squares = squares + square;
      }
      double norm = std::sqrt(squares);
      for (int64_t c = 0; c < d; ++c)
        v[c] = v[c] / norm;
    }
    // The first min(d, features - first) rows of the block.
    for (int64_t i = 0; i < d && first + i < features; ++i)
      for (int64_t c = 0; c < d; ++c)
        directions[size_t((first + i) * d + c)] = block[size_t(i * d + c)];
  }
  // Each row's length: the norm of a fresh d-dimensional Gaussian, a
  // chi(d) draw, as the rows of an unstructured Gaussian matrix have.
  std::vector<float> w(size_t(features * d));
  for (int64_t r = 0; r < features; ++r) {
    double squares = 0.0;
    for (int64_t c = 0; c < d; ++c) {
      double g = draws.normal();
      double square = g * g;
      squares = squares + square;
    }
    double length = std::sqrt(squares);
    for (int64_t c = 0; c < d; ++c)
      w[size_t(r * d + c)] =
          static_cast<float>(length * directions[size_t(r * d + c)]);
  }
  return w;
}

int64_t mlir::xf::kernelizedAttentionChunk(int64_t features) {
  int64_t chunk = 64;
  while (chunk > 8 && chunk * features > 16384)
    chunk /= 2;
  return chunk;
}
