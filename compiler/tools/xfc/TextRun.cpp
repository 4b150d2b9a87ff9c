//===- TextRun.cpp - xfc run on sentences ---------------------------------===//
//
// Part of xfc.
//
// This file implements `xfc run --text/--text-file`: it reads the
// "tokenizer" object of the manifest and the vocabulary file beside it
// (checking its size and checksum, as the runtime does for the library),
// encodes every sentence, and runs them through one context in batches of
// the compiled batch size. The token ids of a batch are right-padded with
// the padding id and `lengths` holds each sentence's token count, which is
// what BertModel's attention_mask expresses; `token_type_ids` are all 0
// (one segment). Rows past the last sentence of the final batch hold
// "[CLS] [SEP]" and are dropped.
//
//===----------------------------------------------------------------------===//

#include "TextRun.h"

#include "xfc/Frontend/WordPiece.h"
#include "xfc/Support/Checksum.h"
#include "xfc/Support/Npy.h"
#include "xfc/runtime.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <sys/stat.h>

namespace xfc {
namespace {

bool readWholeFile(const std::string &path, std::string &text) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  text = buffer.str();
  return static_cast<bool>(in) || in.eof();
}

bool ok(xfc_status status, const char *what) {
  if (!status)
    return true;
  std::fprintf(stderr, "xfc: %s: %s\n", what, xfc_status_get_message(status));
  xfc_status_free(status);
  return false;
}

/// Loads the tokenizer recorded in `artifact`'s manifest.
bool loadTokenizer(const std::string &artifact, WordPieceTokenizer &tokenizer) {
  const std::string manifestPath = artifact + "/manifest.json";
  std::string text;
  if (!readWholeFile(manifestPath, text)) {
    std::fprintf(stderr, "xfc: %s: cannot read the manifest: %s\n",
                 manifestPath.c_str(), std::strerror(errno));
    return false;
  }
  nlohmann::json manifest = nlohmann::json::parse(text, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object() ||
      !manifest.contains("tokenizer")) {
    std::fprintf(stderr,
                 "xfc: %s: expected a \"tokenizer\" for --text, found none "
                 "(the artifact was not compiled from a Hugging Face folder "
                 "with vocab.txt); give token ids with --input instead\n",
                 manifestPath.c_str());
    return false;
  }
  const nlohmann::json &t = manifest["tokenizer"];
  const std::string where = manifestPath + ": at $.tokenizer";
  WordPieceOptions options;
  std::string error;
  if (!parseWordPieceOptions(t.dump(), where, options, error)) {
    std::fprintf(stderr, "xfc: %s\n", error.c_str());
    return false;
  }
  // The vocabulary: a plain file name in the artifact, of the recorded
  // size and checksum (a swapped vocabulary would give wrong ids, not an
  // error, so it is checked every time).
  const nlohmann::json vocabFile = t.value("vocab_file", nlohmann::json());
  const nlohmann::json size = t.value("vocab_size_bytes", nlohmann::json());
  const nlohmann::json sum = t.value("vocab_fnv1a64", nlohmann::json());
  if (!vocabFile.is_string() || vocabFile.get<std::string>().empty() ||
      vocabFile.get<std::string>().find('/') != std::string::npos ||
      !size.is_number_unsigned() || !sum.is_string()) {
    std::fprintf(stderr,
                 "xfc: %s: expected \"vocab_file\" (a file name), "
                 "\"vocab_size_bytes\" and \"vocab_fnv1a64\", found %s\n",
                 where.c_str(), t.dump().substr(0, 200).c_str());
    return false;
  }
  const std::string vocabPath = artifact + "/" + vocabFile.get<std::string>();
  std::string vocab;
  if (!readWholeFile(vocabPath, vocab)) {
    std::fprintf(stderr, "xfc: %s: cannot read the vocabulary: %s\n",
                 vocabPath.c_str(), std::strerror(errno));
    return false;
  }
  char found[17];
  std::snprintf(found, sizeof(found), "%016llx",
                (unsigned long long)fnv1a64(vocab.data(), vocab.size()));
  if (vocab.size() != size.get<uint64_t>() || sum.get<std::string>() != found) {
    std::fprintf(stderr,
                 "xfc: %s: expected %llu bytes with fnv1a64 %s (as the "
                 "manifest records), found %zu bytes with fnv1a64 %s\n",
                 vocabPath.c_str(), (unsigned long long)size.get<uint64_t>(),
                 sum.get<std::string>().c_str(), vocab.size(), found);
    return false;
  }
  if (!tokenizer.load(vocab, options, vocabPath, error)) {
    std::fprintf(stderr, "xfc: %s\n", error.c_str());
    return false;
  }
  return true;
}

/// One sentence and where it came from (for messages).
struct Sentence {
  std::string text, origin;
};

bool collectSentences(const TextRunOptions &o, std::vector<Sentence> &out) {
  for (size_t i = 0; i < o.texts.size(); ++i)
    out.push_back({o.texts[i], "--text #" + std::to_string(i + 1)});
  for (const std::string &file : o.textFiles) {
    std::string text;
    if (!readWholeFile(file, text)) {
      std::fprintf(stderr, "xfc: %s: cannot read the text file: %s\n",
                   file.c_str(), std::strerror(errno));
      return false;
    }
    // One sentence a line; "\r\n" ends a line too; no line after the
    // final newline.
    size_t begin = 0, line = 1, before = out.size();
    while (begin < text.size()) {
      size_t end = text.find('\n', begin);
      if (end == std::string::npos)
        end = text.size();
      size_t stop = end > begin && text[end - 1] == '\r' ? end - 1 : end;
      out.push_back({text.substr(begin, stop - begin),
                     file + ":" + std::to_string(line++)});
      begin = end + 1;
    }
    if (out.size() == before) {
      std::fprintf(stderr,
                   "xfc: %s: expected one sentence a line, found an empty "
                   "file\n",
                   file.c_str());
      return false;
    }
  }
  return true;
}

struct ModelCloser {
  void operator()(xfc_model *m) const { xfc_model_destroy(m); }
};
struct ContextCloser {
  void operator()(xfc_context *c) const { xfc_context_destroy(c); }
};

int64_t elementsOf(const xfc_tensor_info &info) {
  int64_t n = 1;
  for (int32_t d = 0; d < info.rank; ++d)
    n *= info.dims[d];
  return n;
}

} // namespace

int runTextInputs(const TextRunOptions &o) {
  WordPieceTokenizer tokenizer;
  std::vector<Sentence> sentences;
  if (!loadTokenizer(o.artifact, tokenizer) || !collectSentences(o, sentences))
    return 1;

  xfc_model *rawModel = nullptr;
  if (!ok(xfc_model_open(o.artifact.c_str(), nullptr, &rawModel), "open"))
    return 1;
  std::unique_ptr<xfc_model, ModelCloser> model(rawModel);
  const size_t numInputs = xfc_model_num_inputs(rawModel);
  const size_t numOutputs = xfc_model_num_outputs(rawModel);
  std::vector<xfc_tensor_info> in(numInputs), out(numOutputs);
  for (size_t i = 0; i < numInputs; ++i)
    if (!ok(xfc_model_input_info(rawModel, i, &in[i]), "input info"))
      return 1;
  for (size_t i = 0; i < numOutputs; ++i)
    if (!ok(xfc_model_output_info(rawModel, i, &out[i]), "output info"))
      return 1;

  // The inputs text gives: ids, token types and lengths of an encoder.
  int ids = -1, types = -1, lengths = -1;
  for (size_t i = 0; i < numInputs; ++i) {
    std::string name = in[i].name;
    int *slot = name == "input_ids"        ? &ids
                : name == "token_type_ids" ? &types
                : name == "lengths"        ? &lengths
                                           : nullptr;
    if (!slot) {
      std::fprintf(stderr,
                   "xfc: --text: expected a model with the inputs "
                   "input_ids, token_type_ids and lengths only, found "
                   "input '%s'\n",
                   in[i].name);
      return 1;
    }
    *slot = static_cast<int>(i);
  }
  if (ids < 0 || in[ids].rank != 2) {
    std::fprintf(stderr, "xfc: --text: expected an input_ids input [B, S], "
                         "found none\n");
    return 1;
  }
  const int64_t batch = in[ids].dims[0], seqLen = in[ids].dims[1];

  // Outputs to write, resolved before running.
  int primary = 0;
  for (size_t i = 0; i < numOutputs; ++i)
    if (std::string(out[i].name) == "sentence_embedding")
      primary = static_cast<int>(i);
  std::vector<int> written;
  for (const auto &[name, file] : o.outputs) {
    int index = name.empty() ? primary : -1;
    for (size_t i = 0; i < numOutputs && index < 0; ++i)
      if (name == out[i].name)
        index = static_cast<int>(i);
    if (index < 0) {
      std::fprintf(stderr, "xfc: the model has no output named '%s'\n",
                   name.c_str());
      return 1;
    }
    struct stat info;
    if (!o.force && lstat(file.c_str(), &info) == 0) {
      std::fprintf(stderr,
                   "xfc: %s already exists; pass --force to replace it\n",
                   file.c_str());
      return 1;
    }
    written.push_back(index);
  }
  for (size_t i = 0; i < numOutputs; ++i)
    if (out[i].rank < 1 || out[i].dims[0] != batch) {
      std::fprintf(stderr,
                   "xfc: --text: expected every output to have the batch "
                   "(%lld) as its first dimension, found output '%s'\n",
                   (long long)batch, out[i].name);
      return 1;
    }

  // Token ids of every sentence; a sentence the compiled sequence cannot
  // hold is refused rather than cut shorter than the tokenizer would.
  std::vector<std::vector<int32_t>> encoded;
  for (const Sentence &s : sentences) {
    encoded.push_back(tokenizer.encode(s.text));
    int64_t count = static_cast<int64_t>(encoded.back().size());
    if (count > seqLen) {
      std::fprintf(stderr,
                   "xfc: %s: expected at most %lld tokens (the artifact's "
                   "sequence length), found %lld; compile with --seq-len "
                   "%lld (the tokenizer's maximum length)\n",
                   s.origin.c_str(), (long long)seqLen, (long long)count,
                   (long long)tokenizer.options().maxLength);
      return 1;
    }
    if (lengths < 0 && count != seqLen) {
      std::fprintf(stderr,
                   "xfc: %s: expected exactly %lld tokens (the model has "
                   "no lengths input, so nothing can be padded), found %lld\n",
                   s.origin.c_str(), (long long)seqLen, (long long)count);
      return 1;
    }
  }

  xfc_context_options contextOptions;
  xfc_context_options_initialize(&contextOptions);
  contextOptions.num_threads = static_cast<int32_t>(o.threads);
  xfc_context *rawContext = nullptr;
  if (!ok(xfc_context_create(rawModel, &contextOptions, &rawContext),
          "create context"))
    return 1;
  std::unique_ptr<xfc_context, ContextCloser> context(rawContext);

  const size_t n = sentences.size();
  std::vector<std::vector<int32_t>> inputs(numInputs);
  for (size_t i = 0; i < numInputs; ++i)
    inputs[i].resize(elementsOf(in[i]));
  std::vector<std::vector<float>> batchOut(numOutputs);
  std::vector<std::vector<float>> all(numOutputs);
  std::vector<xfc_buffer> inBuffers(numInputs), outBuffers(numOutputs);
  for (size_t i = 0; i < numOutputs; ++i) {
    if (out[i].dtype != XFC_DTYPE_F32) {
      std::fprintf(stderr, "xfc: --text: expected f32 outputs, found '%s'\n",
                   out[i].name);
      return 1;
    }
    batchOut[i].resize(elementsOf(out[i]));
    all[i].reserve(n * (elementsOf(out[i]) / batch));
  }
  const std::vector<int32_t> filler = tokenizer.encode("");
  double millis = 0;
  for (size_t first = 0; first < n; first += batch) {
    std::fill(inputs[ids].begin(), inputs[ids].end(), tokenizer.padId());
    if (types >= 0)
      std::fill(inputs[types].begin(), inputs[types].end(), 0);
    for (int64_t row = 0; row < batch; ++row) {
      const std::vector<int32_t> &tokens =
          first + row < n ? encoded[first + row] : filler;
      std::copy(tokens.begin(), tokens.end(),
                inputs[ids].begin() + row * seqLen);
      if (lengths >= 0)
        inputs[lengths][row] = static_cast<int32_t>(tokens.size());
    }
    for (size_t i = 0; i < numInputs; ++i)
      inBuffers[i] = {inputs[i].data(), inputs[i].size() * sizeof(int32_t)};
    for (size_t i = 0; i < numOutputs; ++i)
      outBuffers[i] = {batchOut[i].data(), batchOut[i].size() * sizeof(float)};
    auto start = std::chrono::steady_clock::now();
    if (!ok(xfc_context_run(rawContext, inBuffers.data(), numInputs,
                            outBuffers.data(), numOutputs),
            "run"))
      return 1;
    millis += std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    size_t rows = std::min<size_t>(batch, n - first);
    for (size_t i = 0; i < numOutputs; ++i) {
      size_t perRow = batchOut[i].size() / batch;
      all[i].insert(all[i].end(), batchOut[i].begin(),
                    batchOut[i].begin() + rows * perRow);
    }
  }

  // One line per sentence: its token count and the primary output's first
  // values (and its L2 norm, 1 for a normalized embedding).
  const xfc_tensor_info &p = out[primary];
  size_t perRow = elementsOf(p) / batch;
  for (size_t s = 0; s < n; ++s) {
    const float *row = all[primary].data() + s * perRow;
    double norm = 0;
    for (size_t e = 0; e < perRow; ++e)
      norm += double(row[e]) * row[e];
    std::printf("sentence %zu: %zu tokens, %s norm %.6f:", s + 1,
                encoded[s].size(), p.name, std::sqrt(norm));
    for (size_t e = 0; e < std::min<size_t>(perRow, 4); ++e)
      std::printf(" %.6f", row[e]);
    std::printf("%s\n", perRow > 4 ? " ..." : "");
  }
  std::printf("time: %zu sentence(s) in %zu run(s) of batch %lld, %.3f ms\n", n,
              (n + batch - 1) / batch, (long long)batch, millis);

  for (size_t k = 0; k < o.outputs.size(); ++k) {
    const xfc_tensor_info &info = out[written[k]];
    NpyArray array;
    array.dtype = "f32";
    array.shape.assign(info.dims, info.dims + info.rank);
    array.shape[0] = static_cast<int64_t>(n);
    const std::vector<float> &data = all[written[k]];
    array.bytes.resize(data.size() * sizeof(float));
    std::memcpy(array.bytes.data(), data.data(), array.bytes.size());
    std::string error;
    if (!writeNpy(o.outputs[k].second, array, error)) {
      std::fprintf(stderr, "xfc: %s\n", error.c_str());
      return 1;
    }
    std::printf("wrote %s\n", o.outputs[k].second.c_str());
  }
  return 0;
}

} // namespace xfc
