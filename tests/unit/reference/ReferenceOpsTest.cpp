//===- ReferenceOpsTest.cpp - The reference model's ops by hand -----------===//
//
// Part of xfc. Checks each op of the reference model against values worked
// out by hand, and whole-model properties that follow from the masks
// (causality, key padding), so the oracle itself is trusted for reasons
// other than agreeing with PyTorch.
//
//===----------------------------------------------------------------------===//

#include "ReferenceModel.h"

#include "xfc/Frontend/Weights.h"

#include <gtest/gtest.h>

#include <cmath>

namespace xfc::reference {
namespace {

HostTensor tensor(std::vector<int64_t> shape, std::vector<float> data) {
  HostTensor t;
  t.shape = std::move(shape);
  t.data = std::move(data);
  return t;
}

Matrix matrix(int64_t rows, int64_t cols, std::vector<double> data) {
  Matrix m(rows, cols);
  m.data = std::move(data);
  return m;
}

TEST(ReferenceOps, LayerNormKnownVector) {
  // mean 2.5, biased variance 1.25.
  Matrix x = matrix(1, 4, {1, 2, 3, 4});
  HostTensor w = tensor({4}, {1, 1, 2, 1});
  HostTensor b = tensor({4}, {0, 0, 0, 0.5f});
  Matrix y = layerNorm(x, w, b, 0.0);
  double s = 1.0 / std::sqrt(1.25);
  EXPECT_NEAR(y.at(0, 0), -1.5 * s, 1e-12);
  EXPECT_NEAR(y.at(0, 1), -0.5 * s, 1e-12);
  EXPECT_NEAR(y.at(0, 2), 2 * 0.5 * s, 1e-12);
  EXPECT_NEAR(y.at(0, 3), 1.5 * s + 0.5, 1e-12);

  // ε sits inside the square root.
  Matrix z =
      layerNorm(x, tensor({4}, {1, 1, 1, 1}), tensor({4}, {0, 0, 0, 0}), 0.75);
  EXPECT_NEAR(z.at(0, 0), -1.5 / std::sqrt(2.0), 1e-12);
}

TEST(ReferenceOps, LinearUsesOutInLayout) {
  // W [out=2, in=3]: y = x Wᵀ + b.
  Matrix x = matrix(1, 3, {1, 2, 3});
  HostTensor w = tensor({2, 3}, {1, 0, 0, 1, 1, 1});
  HostTensor b = tensor({2}, {0.5f, -1});
  Matrix y = linear(x, w, &b);
  ASSERT_EQ(y.cols, 2);
  EXPECT_DOUBLE_EQ(y.at(0, 0), 1.5);
  EXPECT_DOUBLE_EQ(y.at(0, 1), 5.0);
  EXPECT_DOUBLE_EQ(linear(x, w, nullptr).at(0, 1), 6.0);
}

TEST(ReferenceOps, Activations) {
  EXPECT_NEAR(gelu(1.0), 0.8413447460685429, 1e-15);
  EXPECT_NEAR(gelu(-1.0), -0.15865525393145707, 1e-15);
  EXPECT_NEAR(geluTanh(1.0), 0.8411919906082768, 1e-15);
  EXPECT_EQ(relu(-2.0), 0.0);
  EXPECT_EQ(relu(3.0), 3.0);
  EXPECT_EQ(activate(Activation::Relu, -1.0), 0.0);
  EXPECT_EQ(activate(Activation::Gelu, 1.0), gelu(1.0));
  EXPECT_EQ(activate(Activation::GeluTanh, 1.0), geluTanh(1.0));
}

TEST(ReferenceOps, FeedForward) {
  // fc1 = [[1], [-1]], fc2 = [[1, 1]]: relu(x) + relu(-x) = |x|.
  Matrix x = matrix(2, 1, {-3, 2});
  HostTensor fc1 = tensor({2, 1}, {1, -1});
  HostTensor fc2 = tensor({1, 2}, {1, 1});
  HostTensor fc2b = tensor({1}, {0.25f});
  Matrix y = feedForward(x, fc1, nullptr, fc2, &fc2b, Activation::Relu);
  EXPECT_DOUBLE_EQ(y.at(0, 0), 3.25);
  EXPECT_DOUBLE_EQ(y.at(1, 0), 2.25);
}

TEST(ReferenceOps, SinusoidalPositions) {
  EXPECT_DOUBLE_EQ(sinusoidalPosition(0, 0, 8), 0.0);
  EXPECT_DOUBLE_EQ(sinusoidalPosition(0, 1, 8), 1.0);
  EXPECT_NEAR(sinusoidalPosition(1, 0, 8), std::sin(1.0), 1e-15);
  EXPECT_NEAR(sinusoidalPosition(1, 1, 8), std::cos(1.0), 1e-15);
  // i = 2 and 3 use 10000^(2/8) = 10.
  EXPECT_NEAR(sinusoidalPosition(5, 2, 8), std::sin(0.5), 1e-15);
  EXPECT_NEAR(sinusoidalPosition(5, 3, 8), std::cos(0.5), 1e-15);

  Matrix x(4, 8); // batch 2, seq 2: position restarts per batch item.
  addSinusoidalPositions(x, 2);
  EXPECT_DOUBLE_EQ(x.at(2, 1), 1.0);
  EXPECT_NEAR(x.at(3, 0), std::sin(1.0), 1e-15);
}

TEST(ReferenceOps, EmbeddingLookupScales) {
  HostTensor table = tensor({3, 2}, {0, 1, 2, 3, 4, 5});
  Matrix e = embeddingLookup(table, {2, 0}, 2.0);
  EXPECT_DOUBLE_EQ(e.at(0, 0), 8.0);
  EXPECT_DOUBLE_EQ(e.at(0, 1), 10.0);
  EXPECT_DOUBLE_EQ(e.at(1, 1), 2.0);
  addLearnedPositions(e, 1, table); // seq 1: row 0 of the table each time.
  EXPECT_DOUBLE_EQ(e.at(1, 1), 3.0);
}

TEST(ReferenceOps, OneKeyReturnsItsValue) {
  Matrix q = matrix(1, 2, {3, -7});
  Matrix k = matrix(1, 2, {0.5, 2});
  Matrix v = matrix(1, 2, {4, 5});
  Matrix o = scaledDotProductAttention(q, k, v, 1, 1, 1, 1, {});
  EXPECT_DOUBLE_EQ(o.at(0, 0), 4.0);
  EXPECT_DOUBLE_EQ(o.at(0, 1), 5.0);
}

TEST(ReferenceOps, SoftmaxWeightsAndScale) {
  // One head of dim 4 (scale 1/2): logits q·k/2 = {0, ln 3} -> weights 1/4,
  // 3/4.
  double l = std::log(3.0);
  Matrix q = matrix(1, 4, {1, 0, 0, 0});
  Matrix k = matrix(2, 4, {0, 0, 0, 0, 2 * l, 0, 0, 0});
  Matrix v = matrix(2, 4, {4, 0, 0, 0, 8, 0, 0, 1});
  Matrix o = scaledDotProductAttention(q, k, v, 1, 1, 2, 1, {});
  EXPECT_NEAR(o.at(0, 0), 0.25 * 4 + 0.75 * 8, 1e-12);
  EXPECT_NEAR(o.at(0, 3), 0.75, 1e-12);
}

TEST(ReferenceOps, HeadsAreColumnBlocksInOrder) {
  // Two heads of dim 1 (scale 1). Head 0 prefers key 1, head 1 key 0,
  // strongly enough that the weights are 1 to double precision.
  Matrix q = matrix(1, 2, {100, 100});
  Matrix k = matrix(2, 2, {-1, 1, 1, -1});
  Matrix v = matrix(2, 2, {10, 20, 30, 40});
  Matrix o = scaledDotProductAttention(q, k, v, 1, 1, 2, 2, {});
  EXPECT_DOUBLE_EQ(o.at(0, 0), 30.0);
  EXPECT_DOUBLE_EQ(o.at(0, 1), 20.0);
}

TEST(ReferenceOps, CausalAndPaddingMasks) {
  // Batch 2, 3 positions, zero queries: uniform over the allowed keys.
  Matrix q(6, 1);
  Matrix k(6, 1);
  Matrix v = matrix(6, 1, {1, 2, 3, 10, 20, 30});
  std::vector<int32_t> lengths = {3, 2};
  AttentionMask mask;
  mask.causal = true;
  mask.keyLengths = &lengths;
  Matrix o = scaledDotProductAttention(q, k, v, 2, 3, 3, 1, mask);
  EXPECT_DOUBLE_EQ(o.at(0, 0), 1.0);  // b0 i0: key 0.
  EXPECT_DOUBLE_EQ(o.at(1, 0), 1.5);  // b0 i1: keys 0, 1.
  EXPECT_DOUBLE_EQ(o.at(2, 0), 2.0);  // b0 i2: keys 0..2.
  EXPECT_DOUBLE_EQ(o.at(5, 0), 15.0); // b1 i2: keys 0, 1 (padding).
}

TEST(ReferenceOps, FullyMaskedRowIsZero) {
  Matrix q = matrix(2, 2, {1, 1, 1, 1});
  Matrix k = matrix(2, 2, {1, 1, 1, 1});
  Matrix v = matrix(2, 2, {5, 5, 6, 6});
  std::vector<int32_t> lengths = {0, 1};
  AttentionMask mask;
  mask.keyLengths = &lengths;
  Matrix o = scaledDotProductAttention(q, k, v, 2, 1, 1, 1, mask);
  EXPECT_EQ(o.at(0, 0), 0.0);
  EXPECT_EQ(o.at(0, 1), 0.0);
  EXPECT_EQ(o.at(1, 0), 6.0);

  // Through the projections, a fully masked row is the output bias.
  HostTensor id = tensor({2, 2}, {1, 0, 0, 1});
  HostTensor outBias = tensor({2}, {0.5f, -0.5f});
  AttentionWeights w;
  w.q = w.k = w.v = w.out = &id;
  w.outBias = &outBias;
  Matrix p = multiHeadAttention(q, k, 2, 1, 1, 1, w, mask);
  EXPECT_EQ(p.at(0, 0), 0.5);
  EXPECT_EQ(p.at(0, 1), -0.5);
  EXPECT_FALSE(std::isnan(p.at(0, 0)));
}

//===----------------------------------------------------------------------===//
// Whole-model properties
//===----------------------------------------------------------------------===//

ModelSpec smallSpec(ModelKind kind) {
  ModelSpec spec;
  spec.name = "small";
  spec.kind = kind;
  spec.vocabSize = 11;
  spec.dModel = 8;
  spec.numHeads = 2;
  spec.dFF = 12;
  spec.numLayers = 2;
  spec.numDecoderLayers = 1;
  spec.maxSeqLen = 16;
  spec.lmHead = kind != ModelKind::Encoder;
  return spec;
}

std::vector<float> run(const ModelSpec &spec, const WeightStore &weights,
                       const ShapeOptions &shapes,
                       const std::vector<std::vector<int32_t>> &inputs) {
  std::vector<float> out;
  std::string error;
  EXPECT_TRUE(runReferenceModel(spec, weights, shapes, inputs, out, error))
      << error;
  return out;
}

TEST(ReferenceModel, DecoderIsCausal) {
  ModelSpec spec = smallSpec(ModelKind::Decoder);
  spec.normPlacement = NormPlacement::Pre;
  WeightStore weights;
  initRandomWeights(spec, 3, 0.5, weights);
  ShapeOptions shapes{1, 5, 0};
  std::vector<float> a = run(spec, weights, shapes, {{1, 2, 3, 4, 5}});
  std::vector<float> b = run(spec, weights, shapes, {{1, 2, 3, 9, 0}});
  ASSERT_EQ(a.size(), 5u * 11u);
  // Rows 0..2 see only tokens 0..2; rows 3, 4 differ.
  for (size_t i = 0; i < 3 * 11; ++i)
    EXPECT_EQ(a[i], b[i]) << i;
  EXPECT_NE(a[3 * 11], b[3 * 11]);
}

TEST(ReferenceModel, EncoderIgnoresPaddedKeys) {
  ModelSpec spec = smallSpec(ModelKind::Encoder);
  spec.keyPaddingMask = true;
  spec.tokenTypeVocabSize = 2;
  spec.embeddingLayerNorm = true;
  WeightStore weights;
  initRandomWeights(spec, 4, 0.5, weights);
  ShapeOptions shapes{2, 4, 0};
  std::vector<std::vector<int32_t>> in = {
      {1, 2, 3, 4, 5, 6, 7, 8}, {0, 1, 0, 1, 1, 1, 0, 0}, {4, 2}};
  std::vector<float> a = run(spec, weights, shapes, in);
  in[0][6] = 10; // Padded positions of item 1 change.
  in[1][7] = 1;
  std::vector<float> b = run(spec, weights, shapes, in);
  for (int64_t row : {0, 1, 2, 3, 4, 5})
    for (int64_t c = 0; c < 8; ++c)
      EXPECT_EQ(a[row * 8 + c], b[row * 8 + c]) << row << "," << c;
}

TEST(ReferenceModel, EncoderDecoderIgnoresPaddedSource) {
  ModelSpec spec = smallSpec(ModelKind::EncoderDecoder);
  spec.keyPaddingMask = true;
  spec.embeddingScale = std::sqrt(8.0);
  WeightStore weights;
  initRandomWeights(spec, 5, 0.5, weights);
  ShapeOptions shapes{1, 4, 3};
  std::vector<float> a =
      run(spec, weights, shapes, {{1, 2, 3, 4}, {5, 6, 7}, {2}});
  std::vector<float> b =
      run(spec, weights, shapes, {{1, 2, 9, 0}, {5, 6, 7}, {2}});
  ASSERT_EQ(a.size(), 3u * 11u);
  EXPECT_EQ(a, b);
}

TEST(ReferenceModel, RejectsBadInputs) {
  ModelSpec spec = smallSpec(ModelKind::Encoder);
  spec.keyPaddingMask = true;
  WeightStore weights;
  initRandomWeights(spec, 1, 0.02, weights);
  ShapeOptions shapes{1, 2, 0};
  std::vector<float> out;
  std::string error;
  EXPECT_FALSE(runReferenceModel(spec, weights, shapes, {{1, 2}}, out, error));
  EXPECT_NE(error.find("inputs"), std::string::npos) << error;
  EXPECT_FALSE(
      runReferenceModel(spec, weights, shapes, {{1, 11}, {2}}, out, error));
  EXPECT_NE(error.find("input_ids"), std::string::npos) << error;
  EXPECT_FALSE(
      runReferenceModel(spec, weights, shapes, {{1, 2}, {3}}, out, error));
  EXPECT_NE(error.find("lengths"), std::string::npos) << error;

  WeightStore missing;
  EXPECT_FALSE(
      runReferenceModel(spec, missing, shapes, {{1, 2}, {2}}, out, error));
  EXPECT_NE(error.find("encoder.embed.tokens"), std::string::npos) << error;
}

} // namespace
} // namespace xfc::reference
