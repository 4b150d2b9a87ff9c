//===- GenerateTest.cpp - Decoding over the key/value cache -----*- C++ -*-===//
//
// Part of xfc. Compiles decoders with their generation steps
// (docs/generation.md) and decodes greedily through xfc_generator_*: the
// logits of the prefill and of every decode step must equal those of the
// whole-sequence model run on the prompt and the tokens generated so far
// (full recomputation, no cache), at the last position. Prompts of 1, 7 and
// 77 tokens; the GPT-like golden model (tests/e2e/golden/gpt_like) has
// head_dim 80 and runs two batch items with different prompts; a post-LN
// model with biases and head_dim 16 covers the other norm placement. The
// greedy ids of a random GPT-2 checkpoint equal those of transformers'
// generate (golden/hf/make_generate_goldens.py). Then reset, and the
// argument errors of the API.
//
// Tolerance: 1e-4 relative to the largest logit of the row (measured
// differences are fp32 rounding: the decode step sums its dot products in
// another order than the whole-sequence kernels). A cache row written at
// the wrong position, a key too many or too few, or a wrong position
// embedding changes the logits by orders of magnitude more.
//
//===----------------------------------------------------------------------===//
#include "e2e/GenerationCheck.h"
#include "e2e/ScratchDir.h"

#include "xfc/Compiler/Compiler.h"
#include "xfc/Support/Npy.h"
#include "xfc/runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace xfc::test {
namespace {

constexpr double kRelativeTolerance = 1e-4;

/// Compiles `spec` with its generation steps into `out`.
void compileWithSteps(const std::string &spec, const std::string &out,
                      int64_t batch, int64_t seqLen, int64_t capacity) {
  CompileRequest request;
  request.specPath = spec;
  request.shapes.batch = batch;
  request.shapes.seqLen = seqLen;
  request.outputDir = out;
  request.force = true;
  request.generateCapacity = capacity;
  CompileReport report;
  std::string error;
  ASSERT_TRUE(compileModel(request, report, error)) << error;
}

/// The whole-sequence model of an artifact: logits of every position of a
/// [B, S] input, padded with token 0 (the causal mask keeps the padding out
/// of the positions before it).
class FullModel {
public:
  explicit FullModel(const std::string &artifact) {
    EXPECT_EQ(message(xfc_model_open(artifact.c_str(), nullptr, &model)), "");
    EXPECT_EQ(message(xfc_context_create(model, nullptr, &context)), "");
    xfc_tensor_info in, out;
    EXPECT_EQ(message(xfc_model_input_info(model, 0, &in)), "");
    EXPECT_EQ(message(xfc_model_output_info(model, 0, &out)), "");
    batch = in.dims[0];
    seqLen = in.dims[1];
    vocab = out.dims[2];
  }
  ~FullModel() {
    xfc_context_destroy(context);
    xfc_model_destroy(model);
  }

  /// The logits of position `length - 1` of each item ([B, V]) for the
  /// sequences `ids` (one per item, at least `length` tokens each).
  std::vector<float> lastLogits(const std::vector<std::vector<int32_t>> &ids,
                                size_t length) {
    std::vector<int32_t> input(batch * seqLen, 0);
    for (int64_t b = 0; b < batch; ++b)
      std::copy(ids[b].begin(), ids[b].begin() + length,
                input.begin() + b * seqLen);
    std::vector<float> logits(batch * seqLen * vocab, std::nanf(""));
    xfc_buffer inBuf{input.data(), input.size() * sizeof(int32_t)};
    xfc_buffer outBuf{logits.data(), logits.size() * sizeof(float)};
    EXPECT_EQ(message(xfc_context_run(context, &inBuf, 1, &outBuf, 1)), "");
    std::vector<float> last(batch * vocab);
    for (int64_t b = 0; b < batch; ++b)
      std::copy_n(logits.begin() + (b * seqLen + length - 1) * vocab, vocab,
                  last.begin() + b * vocab);
    return last;
  }

  xfc_model *model = nullptr;
  xfc_context *context = nullptr;
  int64_t batch = 0, seqLen = 0, vocab = 0;
};

/// Greedy decoding of `prompts` (one per item, the same length) for
/// `steps` decode steps; every step's logits against full recomputation.
/// Returns the tokens of every item (prompt and generated).
std::vector<std::vector<int32_t>>
decodeAndCompare(xfc_generator *generator, FullModel &full,
                 const std::vector<std::vector<int32_t>> &prompts, int steps,
                 double &worst) {
  xfc_generator_info info;
  EXPECT_EQ(message(xfc_generator_get_info(generator, &info)), "");
  size_t length = prompts[0].size();
  std::vector<int32_t> flat;
  for (const std::vector<int32_t> &p : prompts)
    flat.insert(flat.end(), p.begin(), p.end());
  std::vector<float> logits(info.batch * info.vocab_size, std::nanf(""));
  EXPECT_EQ(message(xfc_generator_prefill(generator, flat.data(), length,
                                          logits.data(), logits.size())),
            "");
  std::vector<std::vector<int32_t>> tokens = prompts;
  double err =
      relativeError(logits, full.lastLogits(tokens, length), info.vocab_size);
  EXPECT_LE(err, kRelativeTolerance) << "prefill of " << length << " tokens";
  worst = std::max(worst, err);
  for (int step = 0; step < steps; ++step) {
    std::vector<int32_t> next(info.batch);
    for (int64_t b = 0; b < info.batch; ++b) {
      const float *row = logits.data() + b * info.vocab_size;
      next[b] = int32_t(std::max_element(row, row + info.vocab_size) - row);
      tokens[b].push_back(next[b]);
    }
    EXPECT_EQ(message(xfc_generator_decode(generator, next.data(), next.size(),
                                           logits.data(), logits.size())),
              "");
    int64_t filled = 0;
    EXPECT_EQ(message(xfc_generator_length(generator, &filled)), "");
    EXPECT_EQ(filled, int64_t(tokens[0].size()));
    err = relativeError(logits, full.lastLogits(tokens, tokens[0].size()),
                        info.vocab_size);
    EXPECT_LE(err, kRelativeTolerance)
        << "decode step " << step << " at position " << tokens[0].size() - 1;
    worst = std::max(worst, err);
  }
  return tokens;
}

std::vector<int32_t> prompt(size_t length, int32_t seed, int32_t vocab) {
  std::vector<int32_t> ids(length);
  for (size_t i = 0; i < length; ++i)
    ids[i] = int32_t((seed + 31 * i + i * i) % vocab);
  return ids;
}

TEST(GenerateTest, GptLikeDecodeEqualsFullRecomputation) {
  ScratchDir scratch("generate-gpt-" + std::to_string(getpid()));
  std::string artifact = scratch.path() + "/gpt_like";
  // max_seq_len 96: prompts up to 96 tokens, a cache of 96 positions.
  compileWithSteps(std::string(XFC_SOURCE_DIR) +
                       "/tests/e2e/golden/gpt_like/spec.json",
                   artifact, /*batch=*/2, /*seqLen=*/96, /*capacity=*/96);
  FullModel full(artifact);
  GeneratorHandle owner = openGenerator(artifact);
  ASSERT_TRUE(owner);
  xfc_generator *generator = owner.get();
  xfc_generator_info info;
  ASSERT_EQ(message(xfc_generator_get_info(generator, &info)), "");
  EXPECT_EQ(info.batch, 2);
  EXPECT_EQ(info.prompt_length, 96);
  EXPECT_EQ(info.capacity, 96);
  EXPECT_EQ(info.vocab_size, 96);
  EXPECT_EQ(info.num_layers, 2);

  double worst = 0;
  int32_t vocab = int32_t(info.vocab_size);
  struct Case {
    size_t length;
    int steps;
  } cases[] = {{1, 6}, {7, 8}, {77, 18}};
  for (const Case &c : cases) {
    // A new prompt starts over (prefill resets the length).
    decodeAndCompare(generator, full,
                     {prompt(c.length, 3, vocab), prompt(c.length, 50, vocab)},
                     c.steps, worst);
  }
  std::printf("worst relative difference: %.3g\n", worst);

  // The 77-token case filled 95 of 96 positions: one more step fits, the
  // next does not.
  std::vector<int32_t> next{1, 2};
  std::vector<float> logits(2 * 96);
  EXPECT_EQ(message(xfc_generator_decode(generator, next.data(), 2,
                                         logits.data(), logits.size())),
            "");
  EXPECT_NE(message(xfc_generator_decode(generator, next.data(), 2,
                                         logits.data(), logits.size()))
                .find("the cache is full (96 positions"),
            std::string::npos);

  // Reset: the same prompt gives the same logits, bit for bit.
  std::vector<int32_t> ids = prompt(7, 3, vocab);
  ids.insert(ids.end(), ids.begin(), ids.end());
  std::vector<float> first(2 * 96), again(2 * 96);
  ASSERT_EQ(message(xfc_generator_prefill(generator, ids.data(), 7,
                                          first.data(), first.size())),
            "");
  ASSERT_EQ(message(xfc_generator_decode(generator, next.data(), 2,
                                         first.data(), first.size())),
            "");
  ASSERT_EQ(message(xfc_generator_reset(generator)), "");
  int64_t filled = -1;
  EXPECT_EQ(message(xfc_generator_length(generator, &filled)), "");
  EXPECT_EQ(filled, 0);
  ASSERT_EQ(message(xfc_generator_prefill(generator, ids.data(), 7,
                                          again.data(), again.size())),
            "");
  ASSERT_EQ(message(xfc_generator_decode(generator, next.data(), 2,
                                         again.data(), again.size())),
            "");
  EXPECT_EQ(first, again);
}

/// A post-LN decoder with biases, head_dim 16, random weights large
/// enough for peaked logits.
std::string writePostLnSpec(const std::string &dir) {
  std::string path = dir + "/post_ln.json";
  std::ofstream(path) << R"({
  "xfc_spec_version": 1, "name": "post_ln_decoder", "kind": "decoder",
  "vocab_size": 61, "d_model": 48, "num_heads": 3, "d_ff": 72,
  "num_layers": 3, "max_seq_len": 40, "norm_placement": "post",
  "activation": "gelu", "lm_head": true, "tied_output_embedding": false,
  "positional_encoding": "learned",
  "weights": {"source": "random", "seed": 7, "std": 0.3}
})";
  return path;
}

TEST(GenerateTest, PostLnDecodeEqualsFullRecomputation) {
  ScratchDir scratch("generate-post-" + std::to_string(getpid()));
  std::string artifact = scratch.path() + "/post_ln";
  compileWithSteps(writePostLnSpec(scratch.path()), artifact, 1, 16, 40);
  FullModel full(artifact);
  // The whole-sequence model is compiled for 16 positions; decode within
  // them, so that full recomputation covers every step.
  GeneratorHandle owner = openGenerator(artifact);
  ASSERT_TRUE(owner);
  xfc_generator *generator = owner.get();
  double worst = 0;
  decodeAndCompare(generator, full, {prompt(1, 5, 61)}, 15, worst);
  decodeAndCompare(generator, full, {prompt(7, 9, 61)}, 9, worst);
  std::printf("worst relative difference: %.3g\n", worst);
}

TEST(GenerateTest, SinusoidalDecodeEqualsFullRecomputation) {
  // A decode step adds its position's sinusoid (xf.positional_encoding
  // with positions), not position 0's.
  ScratchDir scratch("generate-sin-" + std::to_string(getpid()));
  std::string spec = scratch.path() + "/sinusoidal.json";
  std::ofstream(spec) << R"({
  "xfc_spec_version": 1, "name": "sinusoidal_decoder", "kind": "decoder",
  "vocab_size": 53, "d_model": 32, "num_heads": 2, "d_ff": 64,
  "num_layers": 2, "max_seq_len": 24, "positional_encoding": "sinusoidal",
  "lm_head": true, "weights": {"source": "random", "seed": 11, "std": 0.4}
})";
  std::string artifact = scratch.path() + "/sinusoidal";
  compileWithSteps(spec, artifact, 1, 24, 24);
  FullModel full(artifact);
  GeneratorHandle owner = openGenerator(artifact);
  ASSERT_TRUE(owner);
  xfc_generator *generator = owner.get();
  double worst = 0;
  decodeAndCompare(generator, full, {prompt(1, 4, 53)}, 20, worst);
  decodeAndCompare(generator, full, {prompt(7, 2, 53)}, 12, worst);
  std::printf("worst relative difference: %.3g\n", worst);
}

TEST(GenerateTest, GreedyIdsEqualTransformersGenerate) {
  ScratchDir scratch("generate-hf-" + std::to_string(getpid()));
  std::string hf =
      std::string(XFC_SOURCE_DIR) + "/tests/e2e/golden/hf/gpt2_tiny";
  std::string artifact = scratch.path() + "/gpt2_tiny";
  // n_positions 32: the cache holds all of them; prompts up to 8 tokens.
  compileWithSteps(hf, artifact, /*batch=*/2, /*seqLen=*/8, /*capacity=*/32);
  GeneratorHandle owner = openGenerator(artifact);
  ASSERT_TRUE(owner);
  xfc_generator *generator = owner.get();
  for (int length : {1, 7}) {
    std::vector<int64_t> promptShape, greedyShape;
    std::string dir = hf + "/generate/";
    std::vector<int32_t> ids = loadInts(
        dir + "prompt_s" + std::to_string(length) + ".npy", promptShape);
    std::vector<int32_t> expected = loadInts(
        dir + "greedy_s" + std::to_string(length) + ".npy", greedyShape);
    ASSERT_EQ(promptShape, (std::vector<int64_t>{2, length}));
    ASSERT_EQ(greedyShape.size(), 2u);
    int64_t total = greedyShape[1];
    std::vector<float> logits(2 * 99);
    ASSERT_EQ(message(xfc_generator_prefill(generator, ids.data(), length,
                                            logits.data(), logits.size())),
              "");
    std::vector<int32_t> got(2 * total);
    for (int b = 0; b < 2; ++b)
      std::copy_n(ids.begin() + b * length, length, got.begin() + b * total);
    for (int64_t pos = length; pos < total; ++pos) {
      std::vector<int32_t> next(2);
      for (int b = 0; b < 2; ++b) {
        const float *row = logits.data() + b * 99;
        next[b] = int32_t(std::max_element(row, row + 99) - row);
        got[b * total + pos] = next[b];
      }
      if (pos + 1 < total)
        ASSERT_EQ(message(xfc_generator_decode(generator, next.data(), 2,
                                               logits.data(), logits.size())),
                  "");
    }
    EXPECT_EQ(got, expected) << "prompt of " << length << " tokens";
  }
}

TEST(GenerateTest, ArgumentErrors) {
  ScratchDir scratch("generate-errors-" + std::to_string(getpid()));
  std::string artifact = scratch.path() + "/post_ln";
  compileWithSteps(writePostLnSpec(scratch.path()), artifact, 1, 8, 12);
  GeneratorHandle owner = openGenerator(artifact);
  ASSERT_TRUE(owner);
  xfc_generator *generator = owner.get();
  std::vector<int32_t> ids(8, 1);
  std::vector<float> logits(61);
  auto prefill = [&](size_t length, size_t numLogits) {
    return message(xfc_generator_prefill(generator, ids.data(), length,
                                         logits.data(), numLogits));
  };
  EXPECT_NE(prefill(0, 61).find("prompt length 0 is outside [1, 8]"),
            std::string::npos);
  EXPECT_NE(prefill(9, 61).find("prompt length 9 is outside [1, 8]"),
            std::string::npos);
  EXPECT_NE(prefill(3, 60).find("num_logits is 60; expected batch x "
                                "vocab_size = 1 x 61 = 61"),
            std::string::npos);
  ids[1] = 61; // Past the vocabulary.
  EXPECT_NE(prefill(3, 61).find("input_ids"), std::string::npos);
  ids[1] = 1;
  EXPECT_EQ(prefill(8, 61), "");
  std::vector<int32_t> token{2};
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(message(xfc_generator_decode(generator, token.data(), 1,
                                           logits.data(), 61)),
              "");
  EXPECT_NE(message(xfc_generator_decode(generator, token.data(), 1,
                                         logits.data(), 61))
                .find("the cache is full (12 positions"),
            std::string::npos);
  EXPECT_NE(message(xfc_generator_decode(generator, token.data(), 2,
                                         logits.data(), 61))
                .find("num_ids is 2; expected the batch, 1"),
            std::string::npos);
  EXPECT_NE(
      message(xfc_generator_prefill_source(generator, ids.data(), 1, nullptr,
                                           ids.data(), 1, logits.data(), 61))
          .find("the model is a decoder, without a source; use "
                "xfc_generator_prefill"),
      std::string::npos);
  int64_t sourceLength = -1;
  EXPECT_EQ(message(xfc_generator_source_length(generator, &sourceLength)), "");
  EXPECT_EQ(sourceLength, 0);
  EXPECT_NE(
      message(xfc_generator_decode(nullptr, token.data(), 1, logits.data(), 61))
          .find("generator or ids is NULL"),
      std::string::npos);

  // An artifact without generation steps.
  std::string plain = scratch.path() + "/plain";
  CompileRequest request;
  request.specPath = writePostLnSpec(scratch.path());
  request.shapes.seqLen = 4;
  request.outputDir = plain;
  CompileReport report;
  std::string error;
  ASSERT_TRUE(compileModel(request, report, error)) << error;
  xfc_generator *none = nullptr;
  xfc_status status = xfc_generator_open(plain.c_str(), nullptr, &none);
  EXPECT_EQ(xfc_status_get_code(status), XFC_NOT_FOUND);
  EXPECT_NE(message(status).find("has no generation step 'prefill' (compile "
                                 "the model with xfc compile --generate)"),
            std::string::npos);
  EXPECT_EQ(none, nullptr);

  // Steps that do not fit each other: a prefill without caches.
  std::string mixed = scratch.path() + "/mixed";
  std::filesystem::create_directories(mixed);
  std::filesystem::copy(plain, mixed + "/prefill",
                        std::filesystem::copy_options::recursive);
  std::filesystem::copy(artifact + "/decode", mixed + "/decode",
                        std::filesystem::copy_options::recursive);
  status = xfc_generator_open(mixed.c_str(), nullptr, &none);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARTIFACT);
  EXPECT_NE(message(status).find("prefill has 0 cache inputs and decode 6; "
                                 "expected the same, two per layer"),
            std::string::npos);

  // NULL arguments.
  EXPECT_NE(message(xfc_generator_open(nullptr, nullptr, &none))
                .find("path or out_generator is NULL"),
            std::string::npos);
  EXPECT_NE(
      message(xfc_generator_prefill(generator, ids.data(), 3, nullptr, 61))
          .find("logits is NULL"),
      std::string::npos);
  EXPECT_NE(
      message(xfc_generator_prefill(nullptr, ids.data(), 3, logits.data(), 61))
          .find("generator or ids is NULL"),
      std::string::npos);
  xfc_generator_info info;
  EXPECT_NE(message(xfc_generator_get_info(nullptr, &info))
                .find("generator or out_info is NULL"),
            std::string::npos);
  int64_t length = 0;
  EXPECT_NE(message(xfc_generator_length(nullptr, &length))
                .find("generator or out_length is NULL"),
            std::string::npos);
  EXPECT_NE(message(xfc_generator_reset(nullptr)).find("generator is NULL"),
            std::string::npos);
  xfc_generator_destroy(nullptr);
}

} // namespace
} // namespace xfc::test
