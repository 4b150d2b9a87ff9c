//===- main.cpp - Sentence embedding with a compiled encoder --------------===//
//
// Part of xfc. An example application built against the installed xfc
// package (find_package(xfc), xfc::runtime). It opens an artifact compiled
// from a BERT-style encoder spec, runs it on one sequence of token ids and
// prints the sentence embedding: the mean of the hidden states over the
// sequence's positions, L2-normalized (the pooling of sentence-transformers
// models).
//
//   xfc-embed ARTIFACT TOKEN_ID...
//
// The artifact's batch rows all get the same sequence; its inputs must be
// among input_ids [batch, seq], token_type_ids [batch, seq] (set to 0) and
// lengths [batch], and its first output the hidden states [batch, seq, d].
//
//===----------------------------------------------------------------------===//

#include <xfc/runtime.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "xfc-embed: %s\n", message.c_str());
  std::exit(1);
}

int32_t parseId(const char *text) {
  char *end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 0 || value > INT32_MAX)
    fail(std::string("token id '") + text + "' is not a non-negative integer");
  return static_cast<int32_t>(value);
}

/// One input buffer filled for `ids`, or an error for an input this
/// example does not know.
std::vector<int32_t> fillInput(const xfc::TensorInfo &info,
                               const std::vector<int32_t> &ids) {
  if (info.dtype != XFC_DTYPE_I32)
    fail("input '" + info.name + "' is not i32");
  std::vector<int32_t> data(static_cast<size_t>(info.numElements()), 0);
  int64_t batch = info.shape.empty() ? 1 : info.shape[0];
  if (info.name == "lengths" && info.shape.size() == 1) {
    for (int32_t &length : data)
      length = static_cast<int32_t>(ids.size());
    return data;
  }
  if ((info.name == "input_ids" || info.name == "token_type_ids") &&
      info.shape.size() == 2) {
    int64_t seqLen = info.shape[1];
    if (static_cast<int64_t>(ids.size()) > seqLen)
      fail(std::to_string(ids.size()) + " token ids do not fit the " +
           "artifact's sequence length " + std::to_string(seqLen));
    if (info.name == "token_type_ids")
      return data;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (info.range && (ids[i] < info.range->first || ids[i] > info.range->second))
        fail("token id " + std::to_string(ids[i]) + " is outside the vocabulary [" +
             std::to_string(info.range->first) + ", " +
             std::to_string(info.range->second) + "]");
      for (int64_t b = 0; b < batch; ++b)
        data[static_cast<size_t>(b * seqLen) + i] = ids[i];
    }
    return data;
  }
  fail("input '" + info.name + "' is not one this example fills (input_ids, "
       "token_type_ids, lengths)");
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    fail("usage: xfc-embed ARTIFACT TOKEN_ID...");
  std::vector<int32_t> ids;
  for (int i = 2; i < argc; ++i)
    ids.push_back(parseId(argv[i]));
  try {
    xfc::Model model = xfc::Model::open(argv[1]);
    std::vector<std::vector<int32_t>> inputData;
    std::vector<xfc_buffer> inputs;
    for (const xfc::TensorInfo &info : model.inputInfos())
      inputData.push_back(fillInput(info, ids));
    for (std::vector<int32_t> &data : inputData)
      inputs.push_back({data.data(), data.size() * sizeof(int32_t)});

    std::vector<xfc::TensorInfo> outputInfos = model.outputInfos();
    const xfc::TensorInfo &hidden = outputInfos.front();
    if (hidden.dtype != XFC_DTYPE_F32 || hidden.shape.size() != 3)
      fail("output '" + hidden.name + "' is not f32 [batch, seq, d]");
    std::vector<std::vector<float>> outputData;
    std::vector<xfc_buffer> outputs;
    for (const xfc::TensorInfo &info : outputInfos)
      outputData.emplace_back(info.sizeBytes() / sizeof(float));
    for (size_t i = 0; i < outputInfos.size(); ++i)
      outputs.push_back({outputData[i].data(), outputInfos[i].sizeBytes()});

    xfc::Context context = xfc::Context::create(model);
    context.run(inputs, outputs);

    // Masked mean over the sequence's positions of batch row 0, then L2.
    size_t d = static_cast<size_t>(hidden.shape[2]);
    std::vector<double> sum(d, 0.0);
    for (size_t position = 0; position < ids.size(); ++position)
      for (size_t k = 0; k < d; ++k)
        sum[k] += outputData[0][position * d + k];
    double norm = 0;
    for (double &value : sum) {
      value /= static_cast<double>(ids.size());
      norm += value * value;
    }
    norm = std::sqrt(norm);
    for (size_t k = 0; k < d; ++k)
      std::printf("%.9g\n", norm > 0 ? sum[k] / norm : 0.0);
  } catch (const xfc::RuntimeError &error) {
    fail(error.what());
  }
  return 0;
}
