//===- ReferenceModel.h - Naive reference Transformer -----------*- C++ -*-===//
//
// Part of xfc. A deliberately plain implementation of the computation
// docs/spec.md defines: loops over rows and columns, activations held in
// double precision, weights read from a WeightStore in the spec's (PyTorch)
// layout. It is the oracle the compiled artifacts are compared with, so it
// favours being obviously right over being fast, and it shares no code with
// the compiler (and does not depend on MLIR).
//
// Every op is exposed so unit tests can check it by hand.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_REFERENCE_REFERENCEMODEL_H
#define XFC_TESTS_REFERENCE_REFERENCEMODEL_H

#include "xfc/Frontend/ModelSpec.h"
#include "xfc/Frontend/Weights.h"

#include <cstdint>
#include <string>
#include <vector>

namespace xfc {
namespace reference {

/// A row-major [rows, cols] matrix of activations. A [B, S, D] tensor is
/// held as B·S rows of D columns (batch-major).
struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> data;

  Matrix() = default;
  /// A zero-filled matrix.
  Matrix(int64_t numRows, int64_t numCols)
      : rows(numRows), cols(numCols),
        data(static_cast<size_t>(numRows * numCols), 0.0) {}
  double &at(int64_t r, int64_t c) { return data[r * cols + c]; }
  double at(int64_t r, int64_t c) const { return data[r * cols + c]; }
};

//===----------------------------------------------------------------------===//
// Ops
//===----------------------------------------------------------------------===//

/// Rows `table[ids[i]] * scale` of an embedding table [V, D]. Ids must be in
/// range (runReferenceModel checks them first).
Matrix embeddingLookup(const HostTensor &table, const std::vector<int32_t> &ids,
                       double scale);

/// PE_sin(pos, i) of docs/spec.md: sin(pos / 10000^(2k/D)) for i = 2k and
/// cos(...) for i = 2k + 1.
double sinusoidalPosition(int64_t pos, int64_t i, int64_t dModel);

/// Adds PE_sin(s, :) to row b·seqLen + s of `x`.
void addSinusoidalPositions(Matrix &x, int64_t seqLen);

/// Adds row s of `table` [max_seq_len, D] to row b·seqLen + s of `x`.
void addLearnedPositions(Matrix &x, int64_t seqLen, const HostTensor &table);

/// LayerNorm over each row: biased variance, ε inside the square root, then
/// `* weight + bias`.
Matrix layerNorm(const Matrix &x, const HostTensor &weight,
                 const HostTensor &bias, double epsilon);

/// `x Wᵀ + b` with W [out, in]; `bias` may be null.
Matrix linear(const Matrix &x, const HostTensor &weight,
              const HostTensor *bias);

/// The exact GELU, x·Φ(x) = x/2 · (1 + erf(x/√2)).
double gelu(double x);
/// The tanh approximation x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³))).
double geluTanh(double x);
double relu(double x);
/// One of the three above, elementwise.
double activate(Activation activation, double x);

/// fc2(act(fc1(x))). Biases may be null.
Matrix feedForward(const Matrix &x, const HostTensor &fc1Weight,
                   const HostTensor *fc1Bias, const HostTensor &fc2Weight,
                   const HostTensor *fc2Bias, Activation activation);

/// Which keys a query may attend to. Key j of batch item b is allowed for
/// query i when (not causal or j ≤ i) and (no lengths or j < lengths[b]).
struct AttentionMask {
  bool causal = false;
  /// One length per batch item, or null for no key padding.
  const std::vector<int32_t> *keyLengths = nullptr;
};

/// softmax(Q_t K_tᵀ / √Dh + M) V_t for every head t, heads concatenated in
/// order: the attention before its output projection. `q` holds batch·qLen
/// rows, `k` and `v` batch·kLen rows, all numHeads·Dh wide. A query row with
/// no allowed key yields 0 (docs/spec.md), never NaN.
Matrix scaledDotProductAttention(const Matrix &q, const Matrix &k,
                                 const Matrix &v, int64_t batch, int64_t qLen,
                                 int64_t kLen, int64_t numHeads,
                                 const AttentionMask &mask);

/// Transformer-XL's relative attention (docs/transformer-xl.md), straight
/// from the formula, one (i, j) at a time: `q` holds batch·qLen rows, `k`
/// and `v` batch·kLen rows (the first M = kLen − qLen of each item are its
/// memory), all numHeads·Dh wide. Query i may attend to key j when
/// j ≤ M + i and j ≥ M − memoryLengths[b] (every memory position when
/// `memoryLengths` is null), with the score
/// `((q_i + u_t)·k_j + (q_i + v_t)·(W_kR r_(M+i−j))_t) · scale`, r the
/// [sin | cos] encoding of width `positionWeight`'s columns. `u`, `v` are
/// [numHeads, Dh], `positionWeight` W_kR [numHeads·Dh, Dp].
Matrix relativeAttention(const Matrix &q, const Matrix &k, const Matrix &v,
                         const HostTensor &positionWeight,
                         const HostTensor &contentBias,
                         const HostTensor &positionBias, int64_t batch,
                         int64_t qLen, int64_t kLen, int64_t numHeads,
                         double scale,
                         const std::vector<int32_t> *memoryLengths);

/// The projections of one attention module. Biases may be null.
struct AttentionWeights {
  const HostTensor *q = nullptr, *qBias = nullptr;
  const HostTensor *k = nullptr, *kBias = nullptr;
  const HostTensor *v = nullptr, *vBias = nullptr;
  const HostTensor *out = nullptr, *outBias = nullptr;
};

/// Multi-head attention: queries from `x` (batch·qLen rows), keys and values
/// from `memory` (batch·kLen rows; pass `x` for self-attention).
Matrix multiHeadAttention(const Matrix &x, const Matrix &memory, int64_t batch,
                          int64_t qLen, int64_t kLen, int64_t numHeads,
                          const AttentionWeights &weights,
                          const AttentionMask &mask);

//===----------------------------------------------------------------------===//
// Sentence pooling
//===----------------------------------------------------------------------===//

/// The sentence embedding of docs/spec.md (`pooling`) of `hidden` (batch·seq
/// rows): per item the mean of rows j < n_b (n_b = lengths[b], clamped to
/// [0, seq]; all rows without lengths; zeros when n_b = 0) or row 0 (cls),
/// then, with `normalize`, divided by max(||v||_2, epsilon). [batch, D].
Matrix sentencePool(const Matrix &hidden, int64_t batch, int64_t seqLen,
                    const std::vector<int32_t> *lengths, PoolingMode mode,
                    bool normalize, double epsilon);

//===----------------------------------------------------------------------===//
// Whole model
//===----------------------------------------------------------------------===//

/// Runs the model `spec` describes on `inputs`, given in the order of the
/// table "Inputs and outputs" of docs/spec.md (the order listInputs()
/// returns), each row-major. On success `output` holds the single output
/// ([B,S,D] hidden states or [B,S,V] / [B,T,V] logits) rounded to float.
/// Returns false with `error` set when an input has the wrong size or an
/// out-of-range value, or a weight is missing or mis-shaped. With
/// `sentenceEmbedding` and a spec with `pooling`, it also receives the
/// [B, D] sentence embedding, pooled in double from the unrounded states.
bool runReferenceModel(const ModelSpec &spec, const WeightStore &weights,
                       const ShapeOptions &shapes,
                       const std::vector<std::vector<int32_t>> &inputs,
                       std::vector<float> &output, std::string &error,
                       std::vector<float> *sentenceEmbedding = nullptr);

} // namespace reference
} // namespace xfc

#endif // XFC_TESTS_REFERENCE_REFERENCEMODEL_H
