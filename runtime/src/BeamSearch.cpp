//===- BeamSearch.cpp - Beam search over a generator ------------*- C++ -*-===//
//
// Part of xfc. Implements xfc_generator_beam_search (docs/generation.md,
// "Beam search"): the batch of the generation steps holds num_beams rows
// per source; each step extends every running beam by every token, keeps
// the best num_beams continuations per source (their rows' caches are
// gathered from their parents' with xfc_generator_reorder's copy) and sets
// aside the hypotheses that end with the end-of-sequence token. The rules
// are those of the usual formulation (Hugging Face transformers'
// BeamSearchScorer), so that results can be compared token for token:
//  - scores are summed log-softmax probabilities (computed in double from
//    the step's f32 logits); at the start only beam 0 of a source is live
//    (the others score -1e9), so the first step's beams are distinct;
//  - per source the 2 x num_beams best (beam, token) candidates are
//    visited best first: an end-of-sequence candidate among the first
//    num_beams finishes a hypothesis scored sum / generated^length_penalty
//    (generated counts the end token), later ones are dropped; the others
//    become the next beams until num_beams are found;
//  - a source keeps at most num_beams finished hypotheses (a better one
//    evicts the worst) and is done when it holds num_beams and either
//    early_stopping is set or the best running candidate, normalized by
//    the current length, cannot beat the worst finished one;
//  - after max_new_tokens tokens the running beams of the sources not yet
//    done are finished as they are; the answer is the best hypothesis.
//
//===----------------------------------------------------------------------===//

#include "Generate.h"

#include "Status.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace {

using xfc::makeStatus;

/// The score of a beam that must not be chosen (HF's -1e9).
constexpr double kDeadBeam = -1e9;

struct Hypothesis {
  double score = 0;
  std::vector<int32_t> tokens; ///< The generated tokens, end token included.
};

/// The finished hypotheses of one source.
struct Finished {
  std::vector<Hypothesis> hypotheses;
  double worst = std::numeric_limits<double>::infinity();
  bool done = false;

  void add(std::vector<int32_t> tokens, double sumLogProbs, int64_t generated,
           double lengthPenalty, int64_t numBeams) {
    double score =
        sumLogProbs / std::pow(static_cast<double>(generated), lengthPenalty);
    if (int64_t(hypotheses.size()) >= numBeams && score <= worst)
      return;
    hypotheses.push_back({score, std::move(tokens)});
    if (int64_t(hypotheses.size()) > numBeams) {
      auto worstIt =
          std::min_element(hypotheses.begin(), hypotheses.end(),
                           [](const Hypothesis &a, const Hypothesis &b) {
                             return a.score < b.score;
                           });
      hypotheses.erase(worstIt);
      worst = std::min_element(hypotheses.begin(), hypotheses.end(),
                               [](const Hypothesis &a, const Hypothesis &b) {
                                 return a.score < b.score;
                               })
                  ->score;
    } else {
      worst = std::min(worst, score);
    }
  }

  bool isDone(double bestRunning, int64_t generated, double lengthPenalty,
              bool earlyStopping, int64_t numBeams) const {
    if (int64_t(hypotheses.size()) < numBeams)
      return false;
    if (earlyStopping)
      return true;
    return worst >= bestRunning /
                        std::pow(static_cast<double>(generated), lengthPenalty);
  }
};

/// log_softmax of one row of logits, in double.
void logSoftmax(const float *logits, int64_t n, std::vector<double> &out) {
  out.resize(n);
  double peak = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i)
    peak = std::max(peak, double(logits[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i)
    sum += std::exp(double(logits[i]) - peak);
  double logSum = peak + std::log(sum);
  for (int64_t i = 0; i < n; ++i)
    out[i] = double(logits[i]) - logSum;
}

struct Candidate {
  double score;
  int64_t beam; ///< Within the source, [0, num_beams).
  int32_t token;
};

xfc_status checkOptions(const xfc_generator &g, const xfc_beam_options &o,
                        size_t srcLength, const char *function) {
  auto invalid = [&](const std::string &what) {
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": " + what);
  };
  if (o.num_beams < 1 || g.batch % o.num_beams != 0)
    return invalid("num_beams is " + std::to_string(o.num_beams) +
                   "; expected a divisor of the batch, " +
                   std::to_string(g.batch) +
                   " (the batch holds num_beams rows per source)");
  if (o.max_new_tokens < 1)
    return invalid("max_new_tokens is " + std::to_string(o.max_new_tokens) +
                   "; expected at least 1");
  if (o.eos_id < -1 || o.eos_id >= g.vocab)
    return invalid("eos_id is " + std::to_string(o.eos_id) +
                   "; expected -1 (none) or a token in [0, " +
                   std::to_string(g.vocab - 1) + "]");
  if (!std::isfinite(o.length_penalty))
    return invalid("length_penalty is not finite");
  if (g.encoderDecoder() && (o.start_id < 0 || o.start_id >= g.vocab))
    return invalid("start_id is " + std::to_string(o.start_id) +
                   "; expected a token in [0, " + std::to_string(g.vocab - 1) +
                   "]");
  // The prompt, then every new token but the last is fed back.
  int64_t prompt = g.encoderDecoder() ? 1 : int64_t(srcLength);
  int64_t needed = prompt + o.max_new_tokens - 1;
  if (needed > g.capacity)
    return invalid(
        "a prompt of " + std::to_string(prompt) + " tokens and " +
        std::to_string(o.max_new_tokens) + " new ones need " +
        std::to_string(needed) + " cache positions; the artifact's cache has " +
        std::to_string(g.capacity) + " (compile with --generate=CAPACITY)");
  return nullptr;
}

xfc_status beamSearch(xfc_generator *g, const int32_t *srcIds, size_t srcLength,
                      const int32_t *srcLengths,
                      const xfc_beam_options *userOptions, int32_t *outIds,
                      size_t numOutIds, int64_t *outLengths, float *outScores) {
  const char *function = "xfc_generator_beam_search";
  auto invalid = [&](const std::string &what) {
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": " + what);
  };
  if (!g || !srcIds || !outIds || !outLengths || !outScores)
    return invalid("generator, src_ids, out_ids, out_lengths or out_scores "
                   "is NULL");
  xfc_beam_options o;
  xfc_beam_options_initialize(&o);
  if (userOptions) {
    // Fields beyond struct_size come from an older caller: keep defaults.
    size_t size = std::min<size_t>(userOptions->struct_size, sizeof(o));
    if (size < sizeof(o.struct_size))
      return invalid("options->struct_size is " +
                     std::to_string(userOptions->struct_size) +
                     "; call xfc_beam_options_initialize first");
    std::memcpy(&o, userOptions, size);
    o.struct_size = sizeof(o);
  }
  if (!g->encoderDecoder() && srcLengths)
    return invalid("src_lengths must be NULL for a decoder (its prompts "
                   "are not padded)");
  if (xfc_status status = checkOptions(*g, o, srcLength, function))
    return status;
  const int64_t beams = o.num_beams, sources = g->batch / beams;
  const int64_t maxNew = o.max_new_tokens, vocab = g->vocab;
  if (numOutIds != size_t(sources * maxNew))
    return invalid("num_out_ids is " + std::to_string(numOutIds) +
                   "; expected sources x max_new_tokens = " +
                   std::to_string(sources) + " x " + std::to_string(maxNew));

  // Every row starts from its source's input.
  std::vector<int32_t> rowInput(size_t(g->batch) * srcLength);
  std::vector<int32_t> rowLengths(g->batch);
  for (int64_t b = 0; b < g->batch; ++b) {
    int64_t source = b / beams;
    std::copy(srcIds + source * srcLength, srcIds + (source + 1) * srcLength,
              rowInput.begin() + b * srcLength);
    rowLengths[b] =
        srcLengths ? srcLengths[source] : static_cast<int32_t>(srcLength);
  }
  std::vector<float> logits(size_t(g->batch) * vocab);
  xfc_status status = nullptr;
  if (g->encoderDecoder()) {
    std::vector<int32_t> start(g->batch, o.start_id);
    status = xfc::generatorPrefill(g, rowInput.data(), srcLength,
                                   rowLengths.data(), start.data(), 1,
                                   logits.data(), logits.size(), function);
  } else {
    status = xfc::generatorPrefill(g, nullptr, 0, nullptr, rowInput.data(),
                                   srcLength, logits.data(), logits.size(),
                                   function);
  }
  if (status)
    return status;

  std::vector<double> beamScores(g->batch, 0.0);
  for (int64_t b = 0; b < g->batch; ++b)
    if (b % beams != 0)
      beamScores[b] = kDeadBeam;
  std::vector<std::vector<int32_t>> tokens(g->batch);
  std::vector<Finished> finished(sources);
  std::vector<double> rowLogProbs;
  std::vector<Candidate> candidates;
  std::vector<int32_t> parents(g->batch), next(g->batch);
  std::vector<double> nextScores(g->batch);
  const size_t width = size_t(2 * beams);
  int64_t generated = 0; // Tokens per running beam so far.
  bool allDone = false;
  while (!allDone && generated < maxNew) {
    ++generated;
    for (int64_t source = 0; source < sources; ++source) {
      int64_t first = source * beams;
      Finished &f = finished[source];
      if (f.done) {
        // A done source's rows keep running on token 0 (the batch runs
        // together); their results are never read.
        for (int64_t j = 0; j < beams; ++j) {
          parents[first + j] = static_cast<int32_t>(first + j);
          next[first + j] = 0;
          nextScores[first + j] = 0;
        }
        continue;
      }
      candidates.clear();
      for (int64_t j = 0; j < beams; ++j) {
        logSoftmax(logits.data() + (first + j) * vocab, vocab, rowLogProbs);
        for (int64_t v = 0; v < vocab; ++v)
          candidates.push_back({beamScores[first + j] + rowLogProbs[v], j,
                                static_cast<int32_t>(v)});
      }
      // Best first; ties go to the lower (beam, token) index, as a stable
      // top-k over the flattened [beam, token] scores does.
      auto better = [vocab](const Candidate &a, const Candidate &b) {
        if (a.score != b.score)
          return a.score > b.score;
        return a.beam * vocab + a.token < b.beam * vocab + b.token;
      };
      size_t keep = std::min(width, candidates.size());
      std::partial_sort(candidates.begin(), candidates.begin() + keep,
                        candidates.end(), better);
      int64_t chosen = 0;
      for (size_t rank = 0; rank < keep && chosen < beams; ++rank) {
        const Candidate &c = candidates[rank];
        if (c.token == o.eos_id) {
          if (int64_t(rank) >= beams)
            continue;
          std::vector<int32_t> hypothesis = tokens[first + c.beam];
          hypothesis.push_back(c.token);
          f.add(std::move(hypothesis), c.score, generated, o.length_penalty,
                beams);
          continue;
        }
        parents[first + chosen] = static_cast<int32_t>(first + c.beam);
        next[first + chosen] = c.token;
        nextScores[first + chosen] = c.score;
        ++chosen;
      }
      if (chosen < beams)
        return makeStatus(XFC_INTERNAL,
                          std::string(function) +
                              ": fewer continuations than beams (vocabulary "
                              "of " +
                              std::to_string(vocab) + " tokens)");
      f.done = f.isDone(candidates[0].score, generated, o.length_penalty,
                        o.early_stopping != 0, beams);
    }
    // The new beams: their parents' tokens and caches, then their token.
    std::vector<std::vector<int32_t>> nextTokens(g->batch);
    for (int64_t b = 0; b < g->batch; ++b) {
      nextTokens[b] = tokens[parents[b]];
      nextTokens[b].push_back(next[b]);
    }
    tokens.swap(nextTokens);
    beamScores = nextScores;
    allDone = std::all_of(finished.begin(), finished.end(),
                          [](const Finished &f) { return f.done; });
    if (allDone || generated == maxNew)
      break;
    if ((status = xfc::generatorReorder(g, parents.data(), parents.size(),
                                        function)))
      return status;
    if ((status = xfc::generatorDecode(g, next.data(), next.size(),
                                       logits.data(), logits.size(), function)))
      return status;
  }

  for (int64_t source = 0; source < sources; ++source) {
    Finished &f = finished[source];
    if (!f.done)
      for (int64_t j = 0; j < beams; ++j) {
        int64_t row = source * beams + j;
        f.add(tokens[row], beamScores[row], int64_t(tokens[row].size()),
              o.length_penalty, beams);
      }
    const Hypothesis &best =
        *std::max_element(f.hypotheses.begin(), f.hypotheses.end(),
                          [](const Hypothesis &a, const Hypothesis &b) {
                            return a.score < b.score;
                          });
    int32_t *row = outIds + source * maxNew;
    std::fill(row, row + maxNew, -1);
    std::copy(best.tokens.begin(), best.tokens.end(), row);
    outLengths[source] = static_cast<int64_t>(best.tokens.size());
    outScores[source] = static_cast<float>(best.score);
  }
  return nullptr;
}

} // namespace

void xfc_beam_options_initialize(xfc_beam_options *options) {
  if (!options)
    return;
  std::memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(*options);
  options->num_beams = 4;
  options->max_new_tokens = 32;
  options->start_id = 0;
  options->eos_id = -1;
  options->length_penalty = 1.0;
  options->early_stopping = 0;
}

xfc_status xfc_generator_beam_search(xfc_generator *generator,
                                     const int32_t *src_ids, size_t src_length,
                                     const int32_t *src_lengths,
                                     const xfc_beam_options *options,
                                     int32_t *out_ids, size_t num_out_ids,
                                     int64_t *out_lengths, float *out_scores) {
  return xfc::guarded("xfc_generator_beam_search", [&] {
    return beamSearch(generator, src_ids, src_length, src_lengths, options,
                      out_ids, num_out_ids, out_lengths, out_scores);
  });
}
