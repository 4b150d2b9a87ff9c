//===- Weights.h - The weights of a model, in host memory --------*- C++
//-*-===//
//
// Part of xfc. A WeightStore holds every tensor listWeights() names, in the
// spec's (PyTorch) layout, as float32. It is filled either by deterministic
// random initialization or from a safetensors file, validated against the
// weight list (every name present, F32, the expected shape, nothing extra).
//
//===----------------------------------------------------------------------===//
#ifndef XFC_FRONTEND_WEIGHTS_H
#define XFC_FRONTEND_WEIGHTS_H

#include "xfc/Frontend/ModelSpec.h"

#include <map>
#include <string>
#include <vector>

namespace xfc {

/// A dense row-major float32 tensor in host memory.
struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  int64_t numElements() const;
};

/// Named weights of one model.
class WeightStore {
public:
  /// The tensor called `name`, or nullptr.
  const HostTensor *find(const std::string &name) const;
  void insert(const std::string &name, HostTensor tensor);
  const std::map<std::string, HostTensor> &tensors() const { return tensors_; }

private:
  std::map<std::string, HostTensor> tensors_;
};

/// Fills `out` with every weight of `spec` from `spec.weights`: random
/// (docs/spec.md gives the exact generator) or a safetensors file. Returns
/// false and sets `error` (naming the file and tensor) on any mismatch.
bool loadWeights(const ModelSpec &spec, WeightStore &out, std::string &error);

/// loadWeights, plus the Linformer projections of the spec's patterns for
/// sequence length `seqLen` (listLinformerWeights): read from the
/// safetensors file when it holds them (shape checked like every weight);
/// otherwise generated from the pattern's seed, N(0, 1/k) (docs/spec.md,
/// "Linformer projections"), when the source is "random" or the patterns
/// came from `--attention`, and an error when the spec itself declares
/// Linformer. `generated`, if given, receives the names generated.
bool loadWeights(const ModelSpec &spec, int64_t seqLen, WeightStore &out,
                 std::string &error,
                 std::vector<std::string> *generated = nullptr);

/// The Linformer part of loadWeights for weights already in `store` (e.g.
/// imported from a checkpoint): each projection of the spec's patterns at
/// `seqLen` that `store` lacks is generated from the pattern's seed, or is
/// an error when the spec declares Linformer itself with safetensors
/// weights. `generated`, if given, receives the names generated.
bool addLinformerWeights(const ModelSpec &spec, int64_t seqLen,
                         WeightStore &store, std::string &error,
                         std::vector<std::string> *generated = nullptr);

/// The deterministic random initialization alone (what loadWeights does for
/// source "random").
void initRandomWeights(const ModelSpec &spec, uint64_t seed, double stddev,
                       WeightStore &out);

} // namespace xfc

#endif // XFC_FRONTEND_WEIGHTS_H
