//===- ReferenceModel.cpp - Naive reference Transformer -------------------===//
//
// Part of xfc. This file implements the reference model of ReferenceModel.h:
// the computation of docs/spec.md written as directly as possible, one loop
// nest per formula, activations and accumulations in double so that its own
// rounding error is far below every tolerance it is used with.
//
//===----------------------------------------------------------------------===//

#include "ReferenceModel.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace xfc {
namespace reference {

//===----------------------------------------------------------------------===//
// Ops
//===----------------------------------------------------------------------===//

Matrix embeddingLookup(const HostTensor &table, const std::vector<int32_t> &ids,
                       double scale) {
  int64_t d = table.shape[1];
  Matrix out(static_cast<int64_t>(ids.size()), d);
  for (size_t r = 0; r < ids.size(); ++r)
    for (int64_t c = 0; c < d; ++c)
      out.at(r, c) = static_cast<double>(table.data[ids[r] * d + c]) * scale;
  return out;
}

double sinusoidalPosition(int64_t pos, int64_t i, int64_t dModel) {
  // i = 2k and i = 2k + 1 share the frequency 1 / 10000^(2k/D).
  double twoK = static_cast<double>(i - i % 2);
  double angle = static_cast<double>(pos) /
                 std::pow(10000.0, twoK / static_cast<double>(dModel));
  return i % 2 == 0 ? std::sin(angle) : std::cos(angle);
}

void addSinusoidalPositions(Matrix &x, int64_t seqLen) {
  for (int64_t r = 0; r < x.rows; ++r)
    for (int64_t c = 0; c < x.cols; ++c)
      x.at(r, c) += sinusoidalPosition(r % seqLen, c, x.cols);
}

void addLearnedPositions(Matrix &x, int64_t seqLen, const HostTensor &table) {
  for (int64_t r = 0; r < x.rows; ++r)
    for (int64_t c = 0; c < x.cols; ++c)
      x.at(r, c) += table.data[(r % seqLen) * x.cols + c];
}

Matrix layerNorm(const Matrix &x, const HostTensor &weight,
                 const HostTensor &bias, double epsilon) {
  Matrix out(x.rows, x.cols);
  for (int64_t r = 0; r < x.rows; ++r) {
    double mean = 0.0;
    for (int64_t c = 0; c < x.cols; ++c)
      mean += x.at(r, c);
    mean /= static_cast<double>(x.cols);
    double var = 0.0;
    for (int64_t c = 0; c < x.cols; ++c) {
      double dev = x.at(r, c) - mean;
      var += dev * dev;
    }
    var /= static_cast<double>(x.cols); // Biased, as PyTorch's LayerNorm.
    double inv = 1.0 / std::sqrt(var + epsilon);
    for (int64_t c = 0; c < x.cols; ++c)
      out.at(r, c) = (x.at(r, c) - mean) * inv * weight.data[c] + bias.data[c];
  }
  return out;
}

Matrix linear(const Matrix &x, const HostTensor &weight,
              const HostTensor *bias) {
  int64_t outDim = weight.shape[0], inDim = weight.shape[1];
  Matrix out(x.rows, outDim);
  for (int64_t r = 0; r < x.rows; ++r)
    for (int64_t o = 0; o < outDim; ++o) {
      double acc = bias ? static_cast<double>(bias->data[o]) : 0.0;
      const float *w = weight.data.data() + o * inDim;
      for (int64_t i = 0; i < inDim; ++i)
        acc += x.at(r, i) * static_cast<double>(w[i]);
      out.at(r, o) = acc;
    }
  return out;
}

double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

double geluTanh(double x) {
  // Spelled out: M_PI is a POSIX extension, not standard C++.
  const double kPi = 3.14159265358979323846;
  const double kSqrt2OverPi = std::sqrt(2.0 / kPi);
  return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
}

double relu(double x) { return x > 0.0 ? x : 0.0; }

double activate(Activation activation, double x) {
  switch (activation) {
  case Activation::Relu:
    return relu(x);
  case Activation::Gelu:
    return gelu(x);
  case Activation::GeluTanh:
    return geluTanh(x);
  }
  return x;
}

Matrix feedForward(const Matrix &x, const HostTensor &fc1Weight,
                   const HostTensor *fc1Bias, const HostTensor &fc2Weight,
                   const HostTensor *fc2Bias, Activation activation) {
  Matrix hidden = linear(x, fc1Weight, fc1Bias);
  for (double &v : hidden.data)
    v = activate(activation, v);
  return linear(hidden, fc2Weight, fc2Bias);
}

Matrix scaledDotProductAttention(const Matrix &q, const Matrix &k,
                                 const Matrix &v, int64_t batch, int64_t qLen,
                                 int64_t kLen, int64_t numHeads,
                                 const AttentionMask &mask) {
  int64_t d = q.cols, dh = d / numHeads;
  double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  Matrix out(batch * qLen, d);
  std::vector<double> scores(static_cast<size_t>(kLen));
  std::vector<char> allowed(static_cast<size_t>(kLen));
  for (int64_t b = 0; b < batch; ++b) {
    int64_t keyLimit = mask.keyLengths ? (*mask.keyLengths)[b] : kLen;
    for (int64_t t = 0; t < numHeads; ++t) {
      int64_t c0 = t * dh;
      for (int64_t i = 0; i < qLen; ++i) {
        int64_t qRow = b * qLen + i;
        double maxScore = -std::numeric_limits<double>::infinity();
        bool any = false;
        for (int64_t j = 0; j < kLen; ++j) {
          allowed[j] = j < keyLimit && (!mask.causal || j <= i);
          if (!allowed[j])
            continue;
          double s = 0.0;
          for (int64_t c = 0; c < dh; ++c)
            s += q.at(qRow, c0 + c) * k.at(b * kLen + j, c0 + c);
          scores[j] = s * scale;
          maxScore = any ? std::max(maxScore, scores[j]) : scores[j];
          any = true;
        }
        // No allowed key: the row stays 0 (docs/spec.md), where a literal
        // softmax over all −∞ would give 0/0.
        if (!any)
          continue;
        double sum = 0.0;
        for (int64_t j = 0; j < kLen; ++j)
          if (allowed[j]) {
            scores[j] = std::exp(scores[j] - maxScore);
            sum += scores[j];
          }
        for (int64_t j = 0; j < kLen; ++j) {
          if (!allowed[j])
            continue;
          double p = scores[j] / sum;
          for (int64_t c = 0; c < dh; ++c)
            out.at(qRow, c0 + c) += p * v.at(b * kLen + j, c0 + c);
        }
      }
    }
  }
  return out;
}

Matrix relativeAttention(const Matrix &q, const Matrix &k, const Matrix &v,
                         const HostTensor &positionWeight,
                         const HostTensor &contentBias,
                         const HostTensor &positionBias, int64_t batch,
                         int64_t qLen, int64_t kLen, int64_t numHeads,
                         double scale,
                         const std::vector<int32_t> *memoryLengths) {
  int64_t d = q.cols, dh = d / numHeads, memory = kLen - qLen;
  int64_t width = positionWeight.shape[1], half = width / 2;
  // W_kR r_δ for every distance δ in [0, kLen): one row per distance.
  Matrix projected(kLen, d);
  std::vector<double> r(static_cast<size_t>(width));
  for (int64_t delta = 0; delta < kLen; ++delta) {
    for (int64_t c = 0; c < half; ++c) {
      double angle =
          double(delta) / std::pow(10000.0, double(2 * c) / double(width));
      r[c] = std::sin(angle);
      r[half + c] = std::cos(angle);
    }
    for (int64_t n = 0; n < d; ++n) {
      double s = 0.0;
      for (int64_t c = 0; c < width; ++c)
        s += double(positionWeight.data[n * width + c]) * r[c];
      projected.at(delta, n) = s;
    }
  }
  Matrix out(batch * qLen, d);
  std::vector<double> scores(static_cast<size_t>(kLen));
  for (int64_t b = 0; b < batch; ++b) {
    int64_t firstKey =
        std::max<int64_t>(0, memoryLengths ? memory - (*memoryLengths)[b] : 0);
    for (int64_t t = 0; t < numHeads; ++t) {
      int64_t c0 = t * dh;
      for (int64_t i = 0; i < qLen; ++i) {
        int64_t qRow = b * qLen + i;
        // Keys [firstKey, memory + i]: never empty, the query's own key is
        // always in it.
        int64_t last = memory + i;
        double maxScore = -std::numeric_limits<double>::infinity();
        for (int64_t j = firstKey; j <= last; ++j) {
          double s = 0.0;
          for (int64_t c = 0; c < dh; ++c) {
            double query = q.at(qRow, c0 + c);
            s += (query + contentBias.data[t * dh + c]) *
                     k.at(b * kLen + j, c0 + c) +
                 (query + positionBias.data[t * dh + c]) *
                     projected.at(last - j, c0 + c);
          }
          scores[j] = s * scale;
          maxScore = std::max(maxScore, scores[j]);
        }
        double sum = 0.0;
        for (int64_t j = firstKey; j <= last; ++j) {
          scores[j] = std::exp(scores[j] - maxScore);
          sum += scores[j];
        }
        for (int64_t j = firstKey; j <= last; ++j)
          for (int64_t c = 0; c < dh; ++c)
            out.at(qRow, c0 + c) +=
                scores[j] / sum * v.at(b * kLen + j, c0 + c);
      }
    }
  }
  return out;
}

Matrix multiHeadAttention(const Matrix &x, const Matrix &memory, int64_t batch,
                          int64_t qLen, int64_t kLen, int64_t numHeads,
                          const AttentionWeights &weights,
                          const AttentionMask &mask) {
  Matrix q = linear(x, *weights.q, weights.qBias);
  Matrix k = linear(memory, *weights.k, weights.kBias);
  Matrix v = linear(memory, *weights.v, weights.vBias);
  Matrix heads =
      scaledDotProductAttention(q, k, v, batch, qLen, kLen, numHeads, mask);
  return linear(heads, *weights.out, weights.outBias);
}

//===----------------------------------------------------------------------===//
// Whole model
//===----------------------------------------------------------------------===//

namespace {

std::string shapeString(const std::vector<int64_t> &shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

/// Looks weights up by their docs/spec.md name and checks their shapes, so a
/// store that does not match the spec is an error message rather than an
/// out-of-bounds read. The first problem is kept in `error`.
class WeightFetcher {
public:
  explicit WeightFetcher(const WeightStore &weights) : store(weights) {}

  const HostTensor *get(const std::string &name,
                        const std::vector<int64_t> &shape) {
    const HostTensor *t = store.find(name);
    if (!t) {
      fail("missing weight '" + name + "'");
      return nullptr;
    }
    if (t->shape != shape ||
        static_cast<int64_t>(t->data.size()) != t->numElements()) {
      fail("weight '" + name + "': expected shape " + shapeString(shape) +
           ", found " + shapeString(t->shape));
      return nullptr;
    }
    return t;
  }

  /// get() when `present`, else null (an absent optional bias).
  const HostTensor *getIf(bool present, const std::string &name,
                          const std::vector<int64_t> &shape) {
    return present ? get(name, shape) : nullptr;
  }

  bool ok() const { return error.empty(); }
  std::string error;

private:
  void fail(const std::string &message) {
    if (error.empty())
      error = message;
  }
  const WeightStore &store;
};

/// Everything one stack (encoder or decoder) needs besides its weights.
struct StackRun {
  std::string prefix; ///< "encoder" or "decoder".
  int64_t numLayers = 0;
  int64_t batch = 0, len = 0; ///< Rows are batch·len.
  std::string tokenTable;     ///< Name of the token embedding used.
  const std::vector<int32_t> *ids = nullptr;
  const std::vector<int32_t> *tokenTypes = nullptr;
  AttentionMask selfMask;
  /// Cross-attention (decoder of encoder_decoder) when not null.
  const Matrix *memory = nullptr;
  int64_t memoryLen = 0;
  AttentionMask crossMask;
};

bool attentionWeights(WeightFetcher &w, const ModelSpec &spec,
                      const std::string &prefix, AttentionWeights &out) {
  int64_t d = spec.dModel;
  out.q = w.get(prefix + ".q.weight", {d, d});
  out.qBias = w.getIf(spec.bias.attentionQKV, prefix + ".q.bias", {d});
  out.k = w.get(prefix + ".k.weight", {d, d});
  out.kBias = w.getIf(spec.bias.attentionQKV, prefix + ".k.bias", {d});
  out.v = w.get(prefix + ".v.weight", {d, d});
  out.vBias = w.getIf(spec.bias.attentionQKV, prefix + ".v.bias", {d});
  out.out = w.get(prefix + ".out.weight", {d, d});
  out.outBias = w.getIf(spec.bias.attentionOutput, prefix + ".out.bias", {d});
  return w.ok();
}

/// LN with the weight/bias pair `prefix`.weight / `prefix`.bias.
bool norm(WeightFetcher &w, const ModelSpec &spec, const std::string &prefix,
          const Matrix &x, Matrix &out) {
  const HostTensor *g = w.get(prefix + ".weight", {spec.dModel});
  const HostTensor *b = w.get(prefix + ".bias", {spec.dModel});
  if (!w.ok())
    return false;
  out = layerNorm(x, *g, *b, spec.layerNormEpsilon);
  return true;
}

void addInPlace(Matrix &x, const Matrix &y) {
  for (size_t i = 0; i < x.data.size(); ++i)
    x.data[i] += y.data[i];
}

/// One layer, post-LN or pre-LN (docs/spec.md, "Layers").
bool runLayer(WeightFetcher &w, const ModelSpec &spec, const StackRun &run,
              const std::string &prefix, Matrix &x) {
  bool pre = spec.normPlacement == NormPlacement::Pre;
  int64_t d = spec.dModel, ff = spec.dFF;

  // A residual block: x = LN(x + f(x)) or x = x + f(LN(x)).
  auto residual = [&](const std::string &normName, auto &&sublayer) -> bool {
    Matrix y;
    if (pre) {
      Matrix normed;
      if (!norm(w, spec, normName, x, normed) || !sublayer(normed, y))
        return false;
      addInPlace(x, y);
      return true;
    }
    if (!sublayer(x, y))
      return false;
    addInPlace(y, x);
    return norm(w, spec, normName, y, x);
  };

  AttentionWeights self;
  if (!attentionWeights(w, spec, prefix + ".self_attn", self))
    return false;
  if (!residual(prefix + ".self_attn_norm", [&](const Matrix &in, Matrix &y) {
        y = multiHeadAttention(in, in, run.batch, run.len, run.len,
                               spec.numHeads, self, run.selfMask);
        return true;
      }))
    return false;

  if (run.memory) {
    AttentionWeights cross;
    if (!attentionWeights(w, spec, prefix + ".cross_attn", cross))
      return false;
    if (!residual(prefix + ".cross_attn_norm",
                  [&](const Matrix &in, Matrix &y) {
                    y = multiHeadAttention(in, *run.memory, run.batch, run.len,
                                           run.memoryLen, spec.numHeads, cross,
                                           run.crossMask);
                    return true;
                  }))
      return false;
  }

  const HostTensor *fc1 = w.get(prefix + ".ffn.fc1.weight", {ff, d});
  const HostTensor *fc1b =
      w.getIf(spec.bias.ffnHidden, prefix + ".ffn.fc1.bias", {ff});
  const HostTensor *fc2 = w.get(prefix + ".ffn.fc2.weight", {d, ff});
  const HostTensor *fc2b =
      w.getIf(spec.bias.ffnOutput, prefix + ".ffn.fc2.bias", {d});
  if (!w.ok())
    return false;
  return residual(prefix + ".ffn_norm", [&](const Matrix &in, Matrix &y) {
    y = feedForward(in, *fc1, fc1b, *fc2, fc2b, spec.activation);
    return true;
  });
}

/// Embeddings, layers and final norm of one stack.
bool runStack(WeightFetcher &w, const ModelSpec &spec, const StackRun &run,
              Matrix &x) {
  int64_t d = spec.dModel;
  const HostTensor *tokens = w.get(run.tokenTable, {spec.vocabSize, d});
  if (!tokens)
    return false;
  x = embeddingLookup(*tokens, *run.ids, spec.embeddingScale);
  if (spec.positionalEncoding == PositionalEncoding::Learned) {
    const HostTensor *pos =
        w.get(run.prefix + ".embed.positions", {spec.maxSeqLen, d});
    if (!pos)
      return false;
    addLearnedPositions(x, run.len, *pos);
  } else if (spec.positionalEncoding == PositionalEncoding::Sinusoidal) {
    addSinusoidalPositions(x, run.len);
  }
  if (run.tokenTypes) {
    const HostTensor *types =
        w.get(run.prefix + ".embed.token_types", {spec.tokenTypeVocabSize, d});
    if (!types)
      return false;
    Matrix t = embeddingLookup(*types, *run.tokenTypes, 1.0);
    addInPlace(x, t);
  }
  if (spec.embeddingLayerNorm &&
      !norm(w, spec, run.prefix + ".embed.norm", x, x))
    return false;

  for (int64_t i = 0; i < run.numLayers; ++i)
    if (!runLayer(w, spec, run, run.prefix + ".layers." + std::to_string(i), x))
      return false;

  if (spec.finalNorm && !norm(w, spec, run.prefix + ".final_norm", x, x))
    return false;
  return true;
}

/// Checks one input's size and value range; `what` names it in the error.
bool checkInput(const std::vector<int32_t> &values, int64_t expectedSize,
                int64_t lo, int64_t hi, const std::string &what,
                std::string &error) {
  if (static_cast<int64_t>(values.size()) != expectedSize) {
    error = "input '" + what + "': expected " + std::to_string(expectedSize) +
            " elements, found " + std::to_string(values.size());
    return false;
  }
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i] < lo || values[i] > hi) {
      error = "input '" + what + "': element " + std::to_string(i) + " is " +
              std::to_string(values[i]) + ", expected a value in [" +
              std::to_string(lo) + ", " + std::to_string(hi) + "]";
      return false;
    }
  return true;
}

} // namespace

Matrix sentencePool(const Matrix &hidden, int64_t batch, int64_t seqLen,
                    const std::vector<int32_t> *lengths, PoolingMode mode,
                    bool normalize, double epsilon) {
  const int64_t d = hidden.cols;
  Matrix out(batch, d);
  for (int64_t b = 0; b < batch; ++b) {
    if (mode == PoolingMode::Cls) {
      for (int64_t c = 0; c < d; ++c)
        out.at(b, c) = hidden.at(b * seqLen, c);
    } else {
      int64_t n = lengths ? std::clamp<int64_t>((*lengths)[b], 0, seqLen)
                          : seqLen;
      for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < d; ++c)
          out.at(b, c) += hidden.at(b * seqLen + j, c);
      for (int64_t c = 0; c < d; ++c)
        out.at(b, c) /= static_cast<double>(std::max<int64_t>(n, 1));
    }
    if (normalize) {
      double squares = 0;
      for (int64_t c = 0; c < d; ++c)
        squares += out.at(b, c) * out.at(b, c);
      double norm = std::max(std::sqrt(squares), epsilon);
      for (int64_t c = 0; c < d; ++c)
        out.at(b, c) /= norm;
    }
  }
  return out;
}

bool runReferenceModel(const ModelSpec &spec, const WeightStore &weights,
                       const ShapeOptions &shapes,
                       const std::vector<std::vector<int32_t>> &inputs,
                       std::vector<float> &output, std::string &error,
                       std::vector<float> *sentenceEmbedding) {
  const int64_t batch = shapes.batch, s = shapes.seqLen;
  const int64_t t = shapes.tgtLen > 0 ? shapes.tgtLen : shapes.seqLen;
  if (batch < 1 || s < 1 || t < 1 || s > spec.maxSeqLen || t > spec.maxSeqLen) {
    error = "shape options out of range (batch " + std::to_string(batch) +
            ", seq_len " + std::to_string(s) + ", tgt_len " +
            std::to_string(t) + ", max_seq_len " +
            std::to_string(spec.maxSeqLen) + ")";
    return false;
  }

  // Inputs in the order of docs/spec.md's table.
  bool encDec = spec.kind == ModelKind::EncoderDecoder;
  bool tokenTypes =
      spec.kind == ModelKind::Encoder && spec.tokenTypeVocabSize > 0;
  size_t expectedInputs = 1 + (encDec ? 1 : 0) + (tokenTypes ? 1 : 0) +
                          (spec.keyPaddingMask ? 1 : 0);
  if (inputs.size() != expectedInputs) {
    error = "expected " + std::to_string(expectedInputs) + " inputs, found " +
            std::to_string(inputs.size());
    return false;
  }
  size_t next = 0;
  const std::vector<int32_t> &ids = inputs[next++];
  if (!checkInput(ids, batch * s, 0, spec.vocabSize - 1,
                  encDec ? "src_ids" : "input_ids", error))
    return false;
  const std::vector<int32_t> *tgtIds = nullptr, *types = nullptr,
                             *lengths = nullptr;
  if (encDec) {
    tgtIds = &inputs[next++];
    if (!checkInput(*tgtIds, batch * t, 0, spec.vocabSize - 1, "tgt_ids",
                    error))
      return false;
  }
  if (tokenTypes) {
    types = &inputs[next++];
    if (!checkInput(*types, batch * s, 0, spec.tokenTypeVocabSize - 1,
                    "token_type_ids", error))
      return false;
  }
  if (spec.keyPaddingMask) {
    lengths = &inputs[next++];
    if (!checkInput(*lengths, batch, 0, s, encDec ? "src_lengths" : "lengths",
                    error))
      return false;
  }

  WeightFetcher w(weights);
  Matrix hidden;
  std::string outputTable; // The token table a tied LM head reuses.
  if (spec.kind == ModelKind::Decoder) {
    StackRun run;
    run.prefix = "decoder";
    run.numLayers = spec.numLayers;
    run.batch = batch;
    run.len = s;
    run.tokenTable = outputTable = "decoder.embed.tokens";
    run.ids = &ids;
    run.selfMask.causal = true;
    run.selfMask.keyLengths = lengths;
    if (!runStack(w, spec, run, hidden)) {
      error = w.error;
      return false;
    }
  } else {
    StackRun enc;
    enc.prefix = "encoder";
    enc.numLayers = spec.numLayers;
    enc.batch = batch;
    enc.len = s;
    enc.tokenTable = outputTable = "encoder.embed.tokens";
    enc.ids = &ids;
    enc.tokenTypes = types;
    enc.selfMask.keyLengths = lengths;
    if (!runStack(w, spec, enc, hidden)) {
      error = w.error;
      return false;
    }
    if (encDec) {
      Matrix memory = std::move(hidden);
      StackRun dec;
      dec.prefix = "decoder";
      dec.numLayers = spec.numDecoderLayers;
      dec.batch = batch;
      dec.len = t;
      dec.tokenTable = outputTable = spec.sharedEmbeddings
                                         ? "encoder.embed.tokens"
                                         : "decoder.embed.tokens";
      dec.ids = tgtIds;
      dec.selfMask.causal = true;
      dec.memory = &memory;
      dec.memoryLen = s;
      dec.crossMask.keyLengths = lengths;
      if (!runStack(w, spec, dec, hidden)) {
        error = w.error;
        return false;
      }
    }
  }

  if (sentenceEmbedding && spec.pooling.enabled()) {
    Matrix pooled = sentencePool(hidden, batch, s, lengths, spec.pooling.mode,
                                 spec.pooling.normalize, spec.pooling.epsilon);
    sentenceEmbedding->assign(pooled.data.begin(), pooled.data.end());
  }

  if (spec.lmHead) {
    const HostTensor *head =
        spec.tiedOutputEmbedding
            ? w.get(outputTable, {spec.vocabSize, spec.dModel})
            : w.get("lm_head.weight", {spec.vocabSize, spec.dModel});
    const HostTensor *headBias =
        w.getIf(spec.bias.lmHead, "lm_head.bias", {spec.vocabSize});
    if (!w.ok()) {
      error = w.error;
      return false;
    }
    hidden = linear(hidden, *head, headBias);
  }

  output.resize(hidden.data.size());
  for (size_t i = 0; i < hidden.data.size(); ++i)
    output[i] = static_cast<float>(hidden.data[i]);
  return true;
}

} // namespace reference
} // namespace xfc
