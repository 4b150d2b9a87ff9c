//===- WeightsTest.cpp - Tests of random init and safetensors loading -----===//
//
// Part of xfc.
//
// The random initialization must be deterministic and follow the generator
// docs/spec.md names (checked against an independent transcription of it);
// safetensors loading must accept exactly the listed tensors and name the
// file and the tensor in every rejection.
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtil.h"

#include "xfc/Frontend/Weights.h"
#include "xfc/Support/Safetensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace xfc {
namespace {

using nlohmann::json;
using test::minimalSpec;
using test::parseOk;

/// A small spec with every kind of weight: learned positions, token types,
/// embedding and final norms, an LM head with a bias.
ModelSpec richEncoder() {
  json doc = minimalSpec("encoder");
  doc["positional_encoding"] = "learned";
  doc["max_seq_len"] = 32;
  doc["token_type_vocab_size"] = 2;
  doc["embedding_layer_norm"] = true;
  doc["final_norm"] = true;
  doc["lm_head"] = true;
  doc["bias"] = {{"lm_head", true}};
  return parseOk(doc);
}

bool sameBytes(const WeightStore &a, const WeightStore &b) {
  if (a.tensors().size() != b.tensors().size())
    return false;
  for (const auto &[name, tensor] : a.tensors()) {
    const HostTensor *other = b.find(name);
    if (!other || other->shape != tensor.shape ||
        other->data.size() != tensor.data.size() ||
        std::memcmp(other->data.data(), tensor.data.data(),
                    tensor.data.size() * sizeof(float)) != 0)
      return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// HostTensor and WeightStore
//===----------------------------------------------------------------------===//

TEST(FrontendWeights, NumElements) {
  HostTensor t;
  t.shape = {2, 3, 4};
  EXPECT_EQ(t.numElements(), 24);
  t.shape = {};
  EXPECT_EQ(t.numElements(), 1);
  t.shape = {5, 0};
  EXPECT_EQ(t.numElements(), 0);
}

TEST(FrontendWeights, StoreFindAndReplace) {
  WeightStore store;
  EXPECT_EQ(store.find("a"), nullptr);
  store.insert("a", HostTensor{{2}, {1.0f, 2.0f}});
  ASSERT_NE(store.find("a"), nullptr);
  EXPECT_EQ(store.find("a")->data[1], 2.0f);
  store.insert("a", HostTensor{{1}, {7.0f}});
  EXPECT_EQ(store.find("a")->shape, (std::vector<int64_t>{1}));
  EXPECT_EQ(store.tensors().size(), 1u);
}

//===----------------------------------------------------------------------===//
// Random initialization
//===----------------------------------------------------------------------===//

TEST(FrontendWeights, RandomFillsEveryListedWeight) {
  ModelSpec spec = richEncoder();
  WeightStore store;
  initRandomWeights(spec, 0, 0.02, store);
  std::vector<WeightDecl> decls = listWeights(spec);
  EXPECT_EQ(store.tensors().size(), decls.size());
  for (const WeightDecl &decl : decls) {
    const HostTensor *t = store.find(decl.name);
    ASSERT_NE(t, nullptr) << decl.name;
    EXPECT_EQ(t->shape, decl.shape) << decl.name;
    EXPECT_EQ(static_cast<int64_t>(t->data.size()), t->numElements());
  }
}

TEST(FrontendWeights, RandomIsDeterministic) {
  ModelSpec spec = richEncoder();
  WeightStore a, b, c;
  initRandomWeights(spec, 1234, 0.02, a);
  initRandomWeights(spec, 1234, 0.02, b);
  initRandomWeights(spec, 1235, 0.02, c);
  EXPECT_TRUE(sameBytes(a, b));
  EXPECT_FALSE(sameBytes(a, c));
  EXPECT_NE(a.find("encoder.embed.tokens")->data,
            c.find("encoder.embed.tokens")->data);
}

TEST(FrontendWeights, NormsAndBiases) {
  ModelSpec spec = richEncoder();
  WeightStore store;
  initRandomWeights(spec, 7, 0.02, store);
  for (const auto &[name, tensor] : store.tensors()) {
    bool isBias = name.size() > 5 && name.substr(name.size() - 5) == ".bias";
    bool isNormScale =
        name.size() > 11 && name.substr(name.size() - 11) == "norm.weight";
    for (float v : tensor.data) {
      if (isBias) {
        ASSERT_EQ(v, 0.0f) << name;
      } else if (isNormScale) {
        ASSERT_EQ(v, 1.0f) << name;
      }
    }
    if (!isBias && !isNormScale) {
      // A matrix or table: random, so not all equal.
      bool varies = false;
      for (float v : tensor.data)
        varies |= v != tensor.data[0];
      EXPECT_TRUE(varies) << name;
    }
  }
  EXPECT_EQ(store.find("encoder.embed.norm.weight")->data[0], 1.0f);
  EXPECT_EQ(store.find("encoder.final_norm.weight")->data[3], 1.0f);
  EXPECT_EQ(store.find("encoder.layers.1.ffn_norm.bias")->data[0], 0.0f);
  EXPECT_EQ(store.find("lm_head.bias")->data[0], 0.0f);
}

TEST(FrontendWeights, StatisticsOfALargeMatrix) {
  json doc = minimalSpec("encoder");
  doc["vocab_size"] = 2000;
  doc["d_model"] = 256;
  doc["num_heads"] = 4;
  doc["num_layers"] = 1;
  ModelSpec spec = parseOk(doc);
  for (double stddev : {0.02, 1.0}) {
    WeightStore store;
    initRandomWeights(spec, 99, stddev, store);
    const std::vector<float> &data = store.find("encoder.embed.tokens")->data;
    double sum = 0, sumSq = 0;
    for (float v : data) {
      ASSERT_TRUE(std::isfinite(v));
      sum += v;
      sumSq += double(v) * v;
    }
    double n = static_cast<double>(data.size());
    double mean = sum / n;
    double sd = std::sqrt(sumSq / n - mean * mean);
    EXPECT_NEAR(sd, stddev, 0.05 * stddev);
    EXPECT_NEAR(mean, 0.0, 0.01 * stddev);
  }
}

/// The generator of docs/spec.md, transcribed independently: SplitMix64,
/// Box–Muller pairs used as (r cos θ, r sin θ), one stream for all tensors.
std::vector<double> referenceNormals(uint64_t seed, size_t count) {
  uint64_t state = seed;
  auto next = [&state]() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::vector<double> out;
  while (out.size() < count) {
    double u1 = double((next() >> 11) + 1) / 9007199254740992.0;
    double u2 = double(next() >> 11) / 9007199254740992.0;
    double r = std::sqrt(-2.0 * std::log(u1));
    out.push_back(r * std::cos(2 * M_PI * u2));
    out.push_back(r * std::sin(2 * M_PI * u2));
  }
  out.resize(count);
  return out;
}

TEST(FrontendWeights, FollowsTheDocumentedGenerator) {
  // d_model 3 makes the first layer's q matrix odd-sized (9 elements), so
  // the check covers the stream continuing across tensors.
  json doc = minimalSpec("decoder");
  doc["vocab_size"] = 5;
  doc["d_model"] = 3;
  doc["num_heads"] = 1;
  doc["d_ff"] = 2;
  doc["num_layers"] = 1;
  ModelSpec spec = parseOk(doc);
  const double stddev = 0.5;
  WeightStore store;
  initRandomWeights(spec, 42, stddev, store);

  size_t total = 0;
  std::vector<WeightDecl> decls = listWeights(spec);
  auto isRandom = [](const std::string &name) {
    auto ends = [&](const std::string &suffix) {
      return name.size() >= suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) ==
                 0;
    };
    return !ends(".bias") && !ends("norm.weight");
  };
  for (const WeightDecl &decl : decls)
    if (isRandom(decl.name))
      total += store.find(decl.name)->data.size();
  std::vector<double> expected = referenceNormals(42, total);

  size_t at = 0;
  for (const WeightDecl &decl : decls) {
    if (!isRandom(decl.name))
      continue;
    for (float v : store.find(decl.name)->data)
      ASSERT_EQ(v, static_cast<float>(stddev * expected[at++])) << decl.name;
  }
  EXPECT_EQ(at, total);
}

TEST(FrontendWeights, LoadWeightsRandomUsesSpecSeedAndStd) {
  json doc = minimalSpec("decoder");
  doc["weights"] = {{"source", "random"}, {"seed", 5}, {"std", 0.1}};
  ModelSpec spec = parseOk(doc);
  WeightStore loaded, direct;
  std::string error;
  ASSERT_TRUE(loadWeights(spec, loaded, error)) << error;
  initRandomWeights(spec, 5, 0.1, direct);
  EXPECT_TRUE(sameBytes(loaded, direct));
}

TEST(FrontendWeights, ModelLargerThanMemoryIsRefusedBeforeAllocating) {
  // Every tensor within the parser's per-tensor limit (2^31 elements), 32
  // TiB in all: refused from the sizes alone, in no time, instead of being
  // killed by the kernel while the pages are filled.
  json doc = minimalSpec("encoder");
  doc["vocab_size"] = 65536;
  doc["d_model"] = 32768;
  doc["num_heads"] = 32;
  doc["d_ff"] = 65536;
  doc["num_layers"] = 1024;
  ModelSpec spec = parseOk(doc);
  WeightStore store;
  std::string error;
  EXPECT_FALSE(loadWeights(spec, store, error));
  EXPECT_NE(error.find("the weights of \"" + spec.name + "\" need "),
            std::string::npos)
      << error;
  EXPECT_NE(error.find(" bytes, more than this machine's "), std::string::npos)
      << error;
  EXPECT_TRUE(store.tensors().empty());
}

//===----------------------------------------------------------------------===//
// Safetensors
//===----------------------------------------------------------------------===//

/// Writes `store`'s tensors (F32) plus `extra` to `path`; `skip` is left out
/// and `overrides` replace entries by name.
void writeStore(const std::string &path, const WeightStore &store,
                const std::string &skip = "",
                std::vector<SafetensorsTensor> overrides = {}) {
  std::vector<SafetensorsTensor> tensors;
  for (const auto &[name, tensor] : store.tensors()) {
    if (name == skip)
      continue;
    bool overridden = false;
    for (const SafetensorsTensor &o : overrides)
      overridden |= o.name == name;
    if (overridden)
      continue;
    tensors.push_back({name, "F32", tensor.shape, tensor.data.data(),
                       tensor.data.size() * sizeof(float)});
  }
  for (SafetensorsTensor &o : overrides)
    tensors.push_back(o);
  std::string error;
  ASSERT_TRUE(writeSafetensors(path, tensors, {}, error)) << error;
}

/// The spec of `base` reading its weights from `path`.
ModelSpec withSafetensors(ModelSpec spec, const std::string &path) {
  spec.weights.kind = WeightSource::Kind::Safetensors;
  spec.weights.path = path;
  return spec;
}

class FrontendSafetensors : public ::testing::Test {
protected:
  void SetUp() override {
    spec = richEncoder();
    initRandomWeights(spec, 3, 0.02, source);
  }

  /// loadWeights must fail with a message containing every word; `out`
  /// must be left as it was.
  void expectLoadFails(const std::string &path,
                       const std::vector<std::string> &words) {
    WeightStore out;
    out.insert("sentinel", HostTensor{{1}, {1.0f}});
    std::string error;
    EXPECT_FALSE(loadWeights(withSafetensors(spec, path), out, error));
    for (const std::string &word : words)
      EXPECT_NE(error.find(word), std::string::npos)
          << "message lacks '" << word << "': " << error;
    EXPECT_EQ(out.tensors().size(), 1u);
    EXPECT_NE(out.find("sentinel"), nullptr);
  }

  test::ScratchDir dir;
  ModelSpec spec;
  WeightStore source;
};

TEST_F(FrontendSafetensors, RoundTrip) {
  std::string path = dir.file("model.safetensors");
  writeStore(path, source);
  WeightStore loaded;
  std::string error;
  ASSERT_TRUE(loadWeights(withSafetensors(spec, path), loaded, error)) << error;
  EXPECT_TRUE(sameBytes(loaded, source));
}

TEST_F(FrontendSafetensors, ThroughASpecFile) {
  writeStore(dir.file("w.safetensors"), source);
  json doc = minimalSpec("encoder");
  doc["positional_encoding"] = "learned";
  doc["max_seq_len"] = 32;
  doc["token_type_vocab_size"] = 2;
  doc["embedding_layer_norm"] = true;
  doc["final_norm"] = true;
  doc["lm_head"] = true;
  doc["bias"] = {{"lm_head", true}};
  doc["weights"] = {{"source", "safetensors"}, {"path", "w.safetensors"}};
  std::ofstream(dir.file("spec.json")) << doc.dump();
  ModelSpec fromFile;
  SpecError specError;
  ASSERT_TRUE(parseModelSpecFile(dir.file("spec.json"), fromFile, specError))
      << specError.message();
  WeightStore loaded;
  std::string error;
  ASSERT_TRUE(loadWeights(fromFile, loaded, error)) << error;
  EXPECT_TRUE(sameBytes(loaded, source));
}

/// Non-finite weights are refused with the tensor, the element and its
/// file offset, whatever tensor they are in.
TEST_F(FrontendSafetensors, NonFiniteWeightIsRefused) {
  const HostTensor *fc2 = source.find("encoder.layers.1.ffn.fc2.weight");
  ASSERT_NE(fc2, nullptr);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> data = fc2->data;
    data[5] = bad;
    std::string path = dir.file("nonfinite.safetensors");
    writeStore(path, source, "",
               {{"encoder.layers.1.ffn.fc2.weight", "F32", fc2->shape,
                 data.data(), data.size() * sizeof(float)}});
    expectLoadFails(path, {"nonfinite.safetensors",
                           "\"encoder.layers.1.ffn.fc2.weight\"",
                           std::isnan(bad) ? "holds NaN" : "holds an infinity",
                           "at element 5 (file offset ",
                           "expected finite values"});
  }
}

TEST_F(FrontendSafetensors, MissingTensor) {
  std::string path = dir.file("missing.safetensors");
  writeStore(path, source, "encoder.layers.1.ffn.fc2.weight");
  expectLoadFails(
      path, {path, "missing", "encoder.layers.1.ffn.fc2.weight", "[16, 32]"});
}

TEST_F(FrontendSafetensors, WrongShape) {
  std::string path = dir.file("shape.safetensors");
  std::vector<float> data(32 * 16, 0.5f);
  writeStore(path, source, "",
             {{"encoder.layers.0.ffn.fc2.weight",
               "F32",
               {32, 16},
               data.data(),
               data.size() * sizeof(float)}});
  expectLoadFails(path, {path, "encoder.layers.0.ffn.fc2.weight", "shape",
                         "[32, 16]", "[16, 32]"});
}

TEST_F(FrontendSafetensors, WrongDtype) {
  std::string path = dir.file("dtype.safetensors");
  std::vector<int32_t> data(16, 1);
  writeStore(path, source, "",
             {{"encoder.embed.norm.bias",
               "I32",
               {16},
               data.data(),
               data.size() * sizeof(int32_t)}});
  expectLoadFails(path, {path, "encoder.embed.norm.bias", "I32", "F32"});
}

TEST_F(FrontendSafetensors, ExtraTensor) {
  std::string path = dir.file("extra.safetensors");
  std::vector<float> data(4, 0.0f);
  writeStore(path, source, "",
             {{"encoder.pooler.dense.weight",
               "F32",
               {2, 2},
               data.data(),
               data.size() * sizeof(float)}});
  expectLoadFails(path, {path, "unexpected", "encoder.pooler.dense.weight"});
}

TEST_F(FrontendSafetensors, UnreadableFile) {
  std::string path = dir.file("absent.safetensors");
  expectLoadFails(path, {path, "cannot read"});
  expectLoadFails(dir.path.string(), {dir.path.string(), "cannot read"});
}

TEST_F(FrontendSafetensors, NotASafetensorsFile) {
  std::string path = dir.file("garbage.safetensors");
  std::ofstream(path) << "this is not a safetensors file at all";
  expectLoadFails(path, {path, "not a valid safetensors file"});
  std::string empty = dir.file("empty.safetensors");
  std::ofstream{empty};
  expectLoadFails(empty, {empty, "not a valid safetensors file"});
}

} // namespace
} // namespace xfc
