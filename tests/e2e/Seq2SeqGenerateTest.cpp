//===- Seq2SeqGenerateTest.cpp - Encoder-decoder generation -----*- C++ -*-===//
//
// Part of xfc. Compiles encoder-decoders with their generation steps
// (docs/generation.md): prefill encodes the sources and fills the
// cross-attention caches, decode steps read them. Every step's logits
// must equal those of the whole-sequence model (full recomputation: the
// encoder and the decoder on the target so far) at the last target
// position, within 1e-4 relative to the row's largest logit (as
// GenerateTest.cpp). The "Attention Is All You Need" golden model
// (sinusoidal positions, post-LN, padded sources): two items with sources
// of different lengths, sources of 1 and 7 tokens; xfc_generator_reorder
// swaps the items mid-way (their self caches, cross caches and source
// lengths move with them) and the steps after it must match the swapped
// sequences. Beam search against transformers' generate(num_beams) on a
// random Marian model (golden/hf/make_beam_goldens.py) and the argument
// errors of the new API.
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
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>
#include <vector>

namespace xfc::test {
namespace {

constexpr double kRelativeTolerance = 1e-4;

/// Compiles `spec` into `out`: the whole-sequence model with sources of
/// `seqLen` and targets of `tgtLen` tokens, and, with `capacity` > 0, the
/// generation steps (target prompts of `tgtLen` tokens at most).
void compile(const std::string &spec, const std::string &out, int64_t batch,
             int64_t seqLen, int64_t tgtLen, int64_t capacity) {
  CompileRequest request;
  request.specPath = spec;
  request.shapes.batch = batch;
  request.shapes.seqLen = seqLen;
  request.shapes.tgtLen = tgtLen;
  request.outputDir = out;
  request.force = true;
  request.generateCapacity = capacity > 0 ? capacity : -1;
  CompileReport report;
  std::string error;
  ASSERT_TRUE(compileModel(request, report, error)) << error;
}

/// The whole-sequence encoder-decoder: logits of every target position.
class FullModel {
public:
  explicit FullModel(const std::string &artifact) {
    EXPECT_EQ(message(xfc_model_open(artifact.c_str(), nullptr, &model)), "");
    EXPECT_EQ(message(xfc_context_create(model, nullptr, &context)), "");
    xfc_tensor_info src, tgt, out;
    EXPECT_EQ(message(xfc_model_input_info(model, 0, &src)), "");
    EXPECT_EQ(message(xfc_model_input_info(model, 1, &tgt)), "");
    EXPECT_EQ(message(xfc_model_output_info(model, 0, &out)), "");
    batch = src.dims[0];
    srcLen = src.dims[1];
    tgtLen = tgt.dims[1];
    vocab = out.dims[2];
  }
  ~FullModel() {
    xfc_context_destroy(context);
    xfc_model_destroy(model);
  }

  /// The logits of target position `length - 1` of each item ([B, V]).
  std::vector<float> lastLogits(const std::vector<std::vector<int32_t>> &src,
                                const std::vector<std::vector<int32_t>> &tgt,
                                size_t length) {
    std::vector<int32_t> srcIds(batch * srcLen, 0), tgtIds(batch * tgtLen, 0),
        lengths(batch);
    for (int64_t b = 0; b < batch; ++b) {
      std::copy(src[b].begin(), src[b].end(), srcIds.begin() + b * srcLen);
      lengths[b] = int32_t(src[b].size());
      std::copy(tgt[b].begin(), tgt[b].begin() + length,
                tgtIds.begin() + b * tgtLen);
    }
    std::vector<float> logits(batch * tgtLen * vocab, std::nanf(""));
    xfc_buffer in[] = {{srcIds.data(), srcIds.size() * sizeof(int32_t)},
                       {tgtIds.data(), tgtIds.size() * sizeof(int32_t)},
                       {lengths.data(), lengths.size() * sizeof(int32_t)}};
    xfc_buffer out{logits.data(), logits.size() * sizeof(float)};
    EXPECT_EQ(message(xfc_context_run(context, in, 3, &out, 1)), "");
    std::vector<float> last(batch * vocab);
    for (int64_t b = 0; b < batch; ++b)
      std::copy_n(logits.begin() + (b * tgtLen + length - 1) * vocab, vocab,
                  last.begin() + b * vocab);
    return last;
  }

  xfc_model *model = nullptr;
  xfc_context *context = nullptr;
  int64_t batch = 0, srcLen = 0, tgtLen = 0, vocab = 0;
};

std::vector<int32_t> tokens(size_t length, int32_t seed, int32_t vocab) {
  std::vector<int32_t> ids(length);
  for (size_t i = 0; i < length; ++i)
    ids[i] = int32_t((seed + 17 * i + i * i) % vocab);
  return ids;
}

std::string aiaynSpec() {
  return std::string(XFC_SOURCE_DIR) +
         "/tests/e2e/golden/transformer_aiayn/spec.json";
}

/// Greedy decoding of two items (sources `src`, padded to the compiled
/// length) from `start`, each step against full recomputation; after
/// `swapAt` steps the items trade places through xfc_generator_reorder.
void decodeAndCompare(xfc_generator *generator, FullModel &full,
                      std::vector<std::vector<int32_t>> src, int steps,
                      int swapAt, double &worst) {
  xfc_generator_info info;
  ASSERT_EQ(message(xfc_generator_get_info(generator, &info)), "");
  int64_t srcLen = 0;
  ASSERT_EQ(message(xfc_generator_source_length(generator, &srcLen)), "");
  const int64_t vocab = info.vocab_size;
  std::vector<int32_t> flat(2 * srcLen, 0), lengths(2);
  for (int b = 0; b < 2; ++b) {
    std::copy(src[b].begin(), src[b].end(), flat.begin() + b * srcLen);
    lengths[b] = int32_t(src[b].size());
  }
  std::vector<std::vector<int32_t>> tgt{{3}, {5}};
  std::vector<int32_t> start{3, 5};
  std::vector<float> logits(2 * vocab, std::nanf(""));
  ASSERT_EQ(message(xfc_generator_prefill_source(
                generator, flat.data(), srcLen, lengths.data(), start.data(), 1,
                logits.data(), logits.size())),
            "");
  double err = relativeError(logits, full.lastLogits(src, tgt, 1), vocab);
  EXPECT_LE(err, kRelativeTolerance) << "prefill";
  worst = std::max(worst, err);
  for (int step = 0; step < steps; ++step) {
    if (step == swapAt) {
      std::vector<int32_t> parents{1, 0};
      ASSERT_EQ(message(xfc_generator_reorder(generator, parents.data(), 2)),
                "");
      std::swap(src[0], src[1]);
      std::swap(tgt[0], tgt[1]);
      std::rotate(logits.begin(), logits.begin() + vocab, logits.end());
    }
    std::vector<int32_t> next(2);
    for (int b = 0; b < 2; ++b) {
      const float *row = logits.data() + b * vocab;
      next[b] = int32_t(std::max_element(row, row + vocab) - row);
      tgt[b].push_back(next[b]);
    }
    ASSERT_EQ(message(xfc_generator_decode(generator, next.data(), 2,
                                           logits.data(), logits.size())),
              "");
    err =
        relativeError(logits, full.lastLogits(src, tgt, tgt[0].size()), vocab);
    EXPECT_LE(err, kRelativeTolerance)
        << "decode step " << step << " at target position "
        << tgt[0].size() - 1;
    worst = std::max(worst, err);
  }
}

TEST(Seq2SeqGenerateTest, AiaynDecodeEqualsFullRecomputation) {
  ScratchDir scratch("seq2seq-aiayn-" + std::to_string(getpid()));
  std::string steps = scratch.path() + "/steps",
              whole = scratch.path() + "/whole";
  // Sources up to 9 tokens, target prompts of 1 token, a cache of 20
  // positions; the whole-sequence model covers 20 target positions.
  compile(aiaynSpec(), steps, 2, 9, 1, 20);
  compile(aiaynSpec(), whole, 2, 9, 20, 0);
  FullModel full(whole);
  GeneratorHandle generator = openGenerator(steps);
  xfc_generator_info info;
  ASSERT_EQ(message(xfc_generator_get_info(generator.get(), &info)), "");
  EXPECT_EQ(info.batch, 2);
  EXPECT_EQ(info.prompt_length, 1);
  EXPECT_EQ(info.capacity, 20);
  EXPECT_EQ(info.vocab_size, 64);
  EXPECT_EQ(info.num_layers, 2);
  int64_t srcLen = 0;
  ASSERT_EQ(message(xfc_generator_source_length(generator.get(), &srcLen)), "");
  EXPECT_EQ(srcLen, 9);

  double worst = 0;
  // Sources of 9 and 4 tokens (the second padded), then 1 and 7.
  decodeAndCompare(generator.get(), full, {tokens(9, 1, 64), tokens(4, 8, 64)},
                   19, 6, worst);
  decodeAndCompare(generator.get(), full, {tokens(1, 2, 64), tokens(7, 30, 64)},
                   8, 3, worst);
  std::printf("worst relative difference: %.3g\n", worst);
}

/// transformers' sequence (decoder start token first, then the generated
/// tokens, padded after the end token) as xfc returns it: the generated
/// tokens up to and including the end token.
std::vector<int32_t> generatedTokens(const int32_t *row, int64_t width,
                                     int32_t eos) {
  std::vector<int32_t> out;
  for (int64_t i = 1; i < width; ++i) {
    out.push_back(row[i]);
    if (row[i] == eos)
      break;
  }
  return out;
}

TEST(Seq2SeqGenerateTest, BeamSearchEqualsTransformersGenerate) {
  // golden/hf/marian_tiny: a random MarianMTModel whose math is the spec's
  // (make_beam_goldens.py), its generate() run in float64 with 1 and 4
  // beams, length penalties 1 and 0.6, early stopping on and off. Every
  // decision of the reference search is at least 9e-3 from a tie, far
  // above the f32 logits' rounding here, so the ids must be equal; the
  // scores agree to fp32 rounding of the summed log-probabilities.
  std::string golden =
      std::string(XFC_SOURCE_DIR) + "/tests/e2e/golden/hf/marian_tiny";
  ScratchDir scratch("seq2seq-beam-" + std::to_string(getpid()));
  std::string artifact = scratch.path() + "/marian_tiny";
  // 2 sources x 4 beams; sources of 7 tokens at most; the start token and
  // 12 new tokens (the last never fed back) fill 12 positions.
  compile(golden + "/spec.json", artifact, 8, 7, 1, 12);
  GeneratorHandle generator = openGenerator(artifact);
  std::ifstream casesFile(golden + "/beam/cases.json");
  nlohmann::json cases = nlohmann::json::parse(casesFile);
  std::vector<int64_t> shape;
  std::vector<int32_t> src = loadInts(golden + "/beam/src_ids.npy", shape);
  ASSERT_EQ(shape, (std::vector<int64_t>{2, 7}));
  std::vector<int32_t> srcLengths =
      loadInts(golden + "/beam/src_lengths.npy", shape);
  ASSERT_EQ(srcLengths.size(), 2u);
  int checked = 0;
  double worstScore = 0;
  for (const nlohmann::json &c : cases["cases"]) {
    std::string name = c["name"];
    SCOPED_TRACE(name);
    xfc_beam_options options;
    xfc_beam_options_initialize(&options);
    options.num_beams = c["num_beams"];
    options.max_new_tokens = c["max_new_tokens"];
    options.start_id = c["decoder_start_token_id"];
    options.eos_id = c["eos_token_id"];
    options.length_penalty = c["length_penalty"];
    options.early_stopping = c["early_stopping"].get<bool>() ? 1 : 0;
    // The batch of 8 holds 8 / num_beams sources: the golden's two,
    // repeated.
    int64_t sources = 8 / options.num_beams;
    std::vector<int32_t> ids, lengths;
    for (int64_t n = 0; n < sources; ++n) {
      ids.insert(ids.end(), src.begin() + (n % 2) * 7,
                 src.begin() + (n % 2 + 1) * 7);
      lengths.push_back(srcLengths[n % 2]);
    }
    std::vector<int32_t> out(sources * options.max_new_tokens);
    std::vector<int64_t> outLengths(sources);
    std::vector<float> scores(sources);
    ASSERT_EQ(message(xfc_generator_beam_search(
                  generator.get(), ids.data(), 7, lengths.data(), &options,
                  out.data(), out.size(), outLengths.data(), scores.data())),
              "");
    std::vector<int32_t> expected =
        loadInts(golden + "/beam/" + c["sequences"].get<std::string>(), shape);
    ASSERT_EQ(shape.size(), 2u);
    std::vector<float> expectedScores;
    if (c.contains("sequences_scores")) {
      NpyArray array;
      std::string error;
      ASSERT_TRUE(
          readNpy(golden + "/beam/" + c["sequences_scores"].get<std::string>(),
                  array, error))
          << error;
      expectedScores.resize(2);
      std::memcpy(expectedScores.data(), array.bytes.data(), 2 * sizeof(float));
    }
    for (int64_t n = 0; n < sources; ++n) {
      std::vector<int32_t> want = generatedTokens(
          expected.data() + (n % 2) * shape[1], shape[1], options.eos_id);
      std::vector<int32_t> got(out.begin() + n * options.max_new_tokens,
                               out.begin() + n * options.max_new_tokens +
                                   outLengths[n]);
      EXPECT_EQ(got, want) << "source " << n;
      if (!expectedScores.empty()) {
        EXPECT_NEAR(scores[n], expectedScores[n % 2], 1e-4) << "source " << n;
        worstScore = std::max(
            worstScore, std::fabs(double(scores[n]) - expectedScores[n % 2]));
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 8 + 2 + 2 + 2);
  std::printf("worst score difference: %.3g\n", worstScore);
}

TEST(Seq2SeqGenerateTest, ArgumentErrors) {
  ScratchDir scratch("seq2seq-errors-" + std::to_string(getpid()));
  std::string steps = scratch.path() + "/steps";
  compile(aiaynSpec(), steps, 2, 5, 1, 8);
  GeneratorHandle generator = openGenerator(steps);
  xfc_generator *g = generator.get();
  std::vector<int32_t> src(10, 1), start{0, 0}, lengths{5, 3};
  std::vector<float> logits(2 * 64);
  auto prefill = [&](size_t srcLength, const int32_t *srcLengths) {
    return message(xfc_generator_prefill_source(g, src.data(), srcLength,
                                                srcLengths, start.data(), 1,
                                                logits.data(), logits.size()));
  };
  EXPECT_NE(prefill(0, nullptr).find("source length 0 is outside [1, 5]"),
            std::string::npos);
  EXPECT_NE(prefill(6, nullptr).find("source length 6 is outside [1, 5]"),
            std::string::npos);
  lengths[1] = 6;
  EXPECT_NE(prefill(5, lengths.data())
                .find("src_lengths[1] is 6; expected "
                      "[1, 5]"),
            std::string::npos);
  lengths[1] = 3;
  EXPECT_EQ(prefill(5, lengths.data()), "");
  EXPECT_NE(message(xfc_generator_prefill(g, start.data(), 1, logits.data(),
                                          logits.size()))
                .find("the model is an encoder-decoder; give the source "
                      "with xfc_generator_prefill_source"),
            std::string::npos);
  std::vector<int32_t> parents{0, 2};
  EXPECT_NE(message(xfc_generator_reorder(g, parents.data(), 2))
                .find("parents[1] is 2; expected [0, 1]"),
            std::string::npos);
  EXPECT_NE(message(xfc_generator_reorder(g, nullptr, 2))
                .find("generator or parents is NULL"),
            std::string::npos);
  EXPECT_NE(message(xfc_generator_reorder(g, parents.data(), 3))
                .find("num_parents is 3; expected the batch, 2"),
            std::string::npos);

  xfc_beam_options options;
  xfc_beam_options_initialize(&options);
  std::vector<int32_t> out(16);
  std::vector<int64_t> outLengths(2);
  std::vector<float> scores(2);
  auto search = [&](size_t numOut) {
    return message(xfc_generator_beam_search(g, src.data(), 5, nullptr,
                                             &options, out.data(), numOut,
                                             outLengths.data(), scores.data()));
  };
  options.num_beams = 3;
  EXPECT_NE(search(8).find("num_beams is 3; expected a divisor of the batch, "
                           "2"),
            std::string::npos);
  options.num_beams = 2;
  options.max_new_tokens = 9;
  EXPECT_NE(search(9).find("a prompt of 1 tokens and 9 new ones need 9 cache "
                           "positions; the artifact's cache has 8"),
            std::string::npos);
  options.max_new_tokens = 8;
  options.eos_id = 64;
  EXPECT_NE(search(8).find("eos_id is 64; expected -1 (none) or a token in "
                           "[0, 63]"),
            std::string::npos);
  options.eos_id = 1;
  EXPECT_NE(search(7).find("num_out_ids is 7; expected sources x "
                           "max_new_tokens = 1 x 8"),
            std::string::npos);
  EXPECT_EQ(search(8), "");
  EXPECT_GE(outLengths[0], 1);
  EXPECT_LE(outLengths[0], 8);
}

} // namespace
} // namespace xfc::test
