//===- Generate.cpp - Generation over a key/value cache ----------*- C++
//-*-===//
//
// Part of xfc. Implements the xfc_generator_* functions of the C API
// (docs/generation.md). A generator opens the two generation steps of an
// artifact, OUT/prefill and OUT/decode, as ordinary models and owns what
// they share: the key and value cache of every layer and the number of
// filled positions. The steps take the caches as inputs and write their new
// rows into them in place (the compiled code updates the buffers it is
// given), so a step moves its own rows only; the generator passes the same
// buffers to both and fills the position inputs of a decode step.
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime.h"

#include "Status.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct xfc_generator_s {
  xfc_model *prefill = nullptr, *decode = nullptr;
  xfc_context *prefillContext = nullptr, *decodeContext = nullptr;
  int64_t batch = 0, promptLength = 0, capacity = 0, vocab = 0, width = 0;
  int64_t layers = 0;
  int64_t length = 0;
  /// Every layer's key and value cache, in the steps' input order.
  std::vector<std::vector<float>> caches;
  /// The inputs and outputs of each step; the caches are fixed, the rest
  /// filled per call.
  std::vector<xfc_buffer> prefillInputs, decodeInputs;
  std::vector<int32_t> promptIds, positionIds, cacheLength, cachePosition;
  std::vector<float> prefillLogits;

  ~xfc_generator_s() {
    xfc_context_destroy(prefillContext);
    xfc_context_destroy(decodeContext);
    xfc_model_destroy(prefill);
    xfc_model_destroy(decode);
  }
};

namespace {

using xfc::guarded;
using xfc::makeStatus;

/// `status` with "FUNCTION: " before its message (the status is freed).
xfc_status prefixed(const std::string &prefix, xfc_status status) {
  if (!status)
    return nullptr;
  xfc_status out = makeStatus(xfc_status_get_code(status),
                              prefix + xfc_status_get_message(status));
  xfc_status_free(status);
  return out;
}

std::string shapeText(const xfc_tensor_info &info) {
  std::string text = "[";
  for (int32_t d = 0; d < info.rank; ++d)
    text += (d ? ", " : "") + std::to_string(info.dims[d]);
  return text + "]";
}

bool sameShape(const xfc_tensor_info &info, std::vector<int64_t> shape) {
  if (info.rank != static_cast<int32_t>(shape.size()))
    return false;
  for (int32_t d = 0; d < info.rank; ++d)
    if (info.dims[d] != shape[d])
      return false;
  return true;
}

bool endsWith(const std::string &text, const std::string &tail) {
  return text.size() >= tail.size() &&
         text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

/// Checks the two steps against each other and sizes the generator;
/// XFC_INVALID_ARTIFACT naming what does not fit.
xfc_status describeSteps(xfc_generator &g, const std::string &path) {
  auto invalid = [&](const std::string &what) {
    return makeStatus(XFC_INVALID_ARTIFACT,
                      "xfc_generator_open: " + path + ": " + what);
  };
  auto inputs = [](const xfc_model *m) {
    std::vector<xfc_tensor_info> out(xfc_model_num_inputs(m));
    for (size_t i = 0; i < out.size(); ++i)
      xfc_status_free(xfc_model_input_info(m, i, &out[i]));
    return out;
  };
  std::vector<xfc_tensor_info> pre = inputs(g.prefill), dec = inputs(g.decode);
  // prefill: input_ids, caches; decode: input_ids, position_ids,
  // cache_length, cache_position, caches (docs/generation.md).
  if (pre.empty() || std::string(pre[0].name) != "input_ids" ||
      pre[0].rank != 2)
    return invalid("prefill's first input must be input_ids [B, P]");
  if (dec.size() < 4 || std::string(dec[0].name) != "input_ids" ||
      std::string(dec[1].name) != "position_ids" ||
      std::string(dec[2].name) != "cache_length" ||
      std::string(dec[3].name) != "cache_position")
    return invalid("decode's inputs must begin with input_ids, position_ids, "
                   "cache_length, cache_position");
  g.batch = pre[0].dims[0];
  g.promptLength = pre[0].dims[1];
  size_t numCaches = pre.size() - 1;
  if (numCaches == 0 || numCaches % 2 != 0 || dec.size() - 4 != numCaches)
    return invalid("prefill has " + std::to_string(pre.size() - 1) +
                   " cache inputs and decode " +
                   std::to_string(dec.size() - 4) +
                   "; expected the same, two per layer");
  g.layers = static_cast<int64_t>(numCaches / 2);
  const xfc_tensor_info &first = pre[1];
  if (first.rank != 3 || first.dtype != XFC_DTYPE_F32)
    return invalid(std::string("cache ") + first.name +
                   " must be f32 [B, C, D], found " + shapeText(first));
  g.capacity = first.dims[1];
  g.width = first.dims[2];
  for (size_t i = 0; i < numCaches; ++i) {
    const xfc_tensor_info &p = pre[1 + i], &d = dec[4 + i];
    std::string name = p.name;
    if (name != d.name ||
        !(endsWith(name, "key_cache") || endsWith(name, "value_cache")))
      return invalid("cache input " + std::to_string(i) + " is '" + name +
                     "' in prefill and '" + d.name +
                     "' in decode; expected the same key_cache or "
                     "value_cache");
    if (p.dtype != XFC_DTYPE_F32 || d.dtype != XFC_DTYPE_F32 ||
        !sameShape(p, {g.batch, g.capacity, g.width}) ||
        !sameShape(d, {g.batch, g.capacity, g.width}))
      return invalid(
          "cache '" + name + "' is " + shapeText(p) + " in prefill and " +
          shapeText(d) + " in decode; expected " + "f32 [" +
          std::to_string(g.batch) + ", " + std::to_string(g.capacity) + ", " +
          std::to_string(g.width) + "] in both");
  }
  if (!sameShape(dec[0], {g.batch, 1}) || !sameShape(dec[1], {g.batch, 1}) ||
      !sameShape(dec[2], {g.batch}) || !sameShape(dec[3], {1}))
    return invalid("decode's inputs have shapes " + shapeText(dec[0]) + ", " +
                   shapeText(dec[1]) + ", " + shapeText(dec[2]) + ", " +
                   shapeText(dec[3]) +
                   "; expected [B, 1], [B, 1], [B], [1] "
                   "with B = " +
                   std::to_string(g.batch));
  if (g.promptLength > g.capacity)
    return invalid("prefill takes " + std::to_string(g.promptLength) +
                   " tokens, more than the cache's " +
                   std::to_string(g.capacity) + " positions");
  xfc_tensor_info preOut, decOut;
  if (xfc_model_num_outputs(g.prefill) != 1 ||
      xfc_model_num_outputs(g.decode) != 1)
    return invalid("each step must have one output (logits)");
  xfc_status_free(xfc_model_output_info(g.prefill, 0, &preOut));
  xfc_status_free(xfc_model_output_info(g.decode, 0, &decOut));
  g.vocab = decOut.rank == 3 ? decOut.dims[2] : 0;
  if (g.vocab < 1 || !sameShape(decOut, {g.batch, 1, g.vocab}) ||
      !sameShape(preOut, {g.batch, g.promptLength, g.vocab}))
    return invalid("the steps' logits are " + shapeText(preOut) + " and " +
                   shapeText(decOut) + "; expected [B, P, V] and [B, 1, V]");
  return nullptr;
}

xfc_status openGenerator(const char *path, const xfc_context_options *options,
                         xfc_generator **out) {
  const char *function = "xfc_generator_open";
  if (!path || !out)
    return makeStatus(XFC_INVALID_ARGUMENT, std::string(function) +
                                                ": path or "
                                                "out_generator is NULL");
  *out = nullptr;
  std::string folder = path;
  auto generator = std::make_unique<xfc_generator_s>();
  xfc_generator &g = *generator;
  for (auto [step, model] :
       {std::pair{"prefill", &g.prefill}, std::pair{"decode", &g.decode}}) {
    std::string stepFolder = folder + "/" + step;
    if (xfc_status status =
            xfc_model_open(stepFolder.c_str(), nullptr, model)) {
      if (xfc_status_get_code(status) == XFC_NOT_FOUND) {
        xfc_status_free(status);
        return makeStatus(XFC_NOT_FOUND,
                          std::string(function) + ": " + folder +
                              " has no generation step '" + step +
                              "' (compile the model with xfc compile "
                              "--generate)");
      }
      return prefixed(std::string(function) + ": " + step + ": ", status);
    }
  }
  if (xfc_status status = describeSteps(g, folder))
    return status;
  if (xfc_status status =
          xfc_context_create(g.prefill, options, &g.prefillContext))
    return prefixed(std::string(function) + ": ", status);
  if (xfc_status status =
          xfc_context_create(g.decode, options, &g.decodeContext))
    return prefixed(std::string(function) + ": ", status);

  size_t cacheFloats = size_t(g.batch) * g.capacity * g.width;
  g.caches.assign(2 * g.layers, std::vector<float>(cacheFloats, 0.0f));
  g.promptIds.assign(g.batch * g.promptLength, 0);
  g.positionIds.assign(g.batch, 0);
  g.cacheLength.assign(g.batch, 1);
  g.cachePosition.assign(1, 0);
  g.prefillLogits.assign(size_t(g.batch) * g.promptLength * g.vocab, 0.0f);
  g.prefillInputs.push_back(
      {g.promptIds.data(), g.promptIds.size() * sizeof(int32_t)});
  g.decodeInputs.push_back({nullptr, size_t(g.batch) * sizeof(int32_t)});
  g.decodeInputs.push_back(
      {g.positionIds.data(), g.positionIds.size() * sizeof(int32_t)});
  g.decodeInputs.push_back(
      {g.cacheLength.data(), g.cacheLength.size() * sizeof(int32_t)});
  g.decodeInputs.push_back(
      {g.cachePosition.data(), g.cachePosition.size() * sizeof(int32_t)});
  for (std::vector<float> &cache : g.caches) {
    xfc_buffer buffer{cache.data(), cache.size() * sizeof(float)};
    g.prefillInputs.push_back(buffer);
    g.decodeInputs.push_back(buffer);
  }
  *out = generator.release();
  return nullptr;
}

/// Checks a logits buffer of batch x vocab floats.
xfc_status checkLogits(const char *function, const xfc_generator &g,
                       const float *logits, size_t count) {
  size_t expected = size_t(g.batch) * g.vocab;
  if (!logits)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": logits is NULL");
  if (count != expected)
    return makeStatus(
        XFC_INVALID_ARGUMENT,
        std::string(function) + ": num_logits is " + std::to_string(count) +
            "; expected batch x vocab_size = " + std::to_string(g.batch) +
            " x " + std::to_string(g.vocab) + " = " + std::to_string(expected));
  return nullptr;
}

xfc_status prefill(xfc_generator *g, const int32_t *ids, size_t length,
                   float *logits, size_t numLogits) {
  const char *function = "xfc_generator_prefill";
  if (!g || !ids)
    return makeStatus(XFC_INVALID_ARGUMENT, std::string(function) +
                                                ": generator or ids is "
                                                "NULL");
  if (length < 1 || int64_t(length) > g->promptLength)
    return makeStatus(
        XFC_INVALID_ARGUMENT,
        std::string(function) + ": prompt length " + std::to_string(length) +
            " is outside [1, " + std::to_string(g->promptLength) +
            "] (the compiled prompt length; compile with a larger --seq-len "
            "for longer prompts)");
  if (xfc_status status = checkLogits(function, *g, logits, numLogits))
    return status;
  // The prompt padded with token 0: causal attention keeps the padding out
  // of every prompt position, and the rows it writes past `length` are
  // overwritten by the decode steps before any step reads them.
  std::fill(g->promptIds.begin(), g->promptIds.end(), 0);
  for (int64_t b = 0; b < g->batch; ++b)
    std::copy(ids + b * length, ids + (b + 1) * length,
              g->promptIds.begin() + b * g->promptLength);
  xfc_buffer output{g->prefillLogits.data(),
                    g->prefillLogits.size() * sizeof(float)};
  if (xfc_status status =
          xfc_context_run(g->prefillContext, g->prefillInputs.data(),
                          g->prefillInputs.size(), &output, 1))
    return prefixed(std::string(function) + ": ", status);
  for (int64_t b = 0; b < g->batch; ++b) {
    const float *row = g->prefillLogits.data() +
                       (b * g->promptLength + int64_t(length) - 1) * g->vocab;
    std::copy(row, row + g->vocab, logits + b * g->vocab);
  }
  g->length = static_cast<int64_t>(length);
  return nullptr;
}

xfc_status decode(xfc_generator *g, const int32_t *ids, size_t numIds,
                  float *logits, size_t numLogits) {
  const char *function = "xfc_generator_decode";
  if (!g || !ids)
    return makeStatus(XFC_INVALID_ARGUMENT, std::string(function) +
                                                ": generator or ids is "
                                                "NULL");
  if (int64_t(numIds) != g->batch)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": num_ids is " +
                          std::to_string(numIds) + "; expected the batch, " +
                          std::to_string(g->batch));
  if (xfc_status status = checkLogits(function, *g, logits, numLogits))
    return status;
  if (g->length >= g->capacity)
    return makeStatus(
        XFC_INVALID_ARGUMENT,
        std::string(function) + ": the cache is full (" +
            std::to_string(g->capacity) +
            " positions; compile with a larger --generate=CAPACITY, or "
            "xfc_generator_reset)");
  int32_t position = static_cast<int32_t>(g->length);
  std::fill(g->positionIds.begin(), g->positionIds.end(), position);
  std::fill(g->cacheLength.begin(), g->cacheLength.end(), position + 1);
  g->cachePosition[0] = position;
  g->decodeInputs[0].data = const_cast<int32_t *>(ids);
  xfc_buffer output{logits, numLogits * sizeof(float)};
  xfc_status status = xfc_context_run(g->decodeContext, g->decodeInputs.data(),
                                      g->decodeInputs.size(), &output, 1);
  g->decodeInputs[0].data = nullptr;
  if (status)
    return prefixed(std::string(function) + ": ", status);
  g->length += 1;
  return nullptr;
}

} // namespace

xfc_status xfc_generator_open(const char *path,
                              const xfc_context_options *options,
                              xfc_generator **out_generator) {
  return guarded("xfc_generator_open",
                 [&] { return openGenerator(path, options, out_generator); });
}

void xfc_generator_destroy(xfc_generator *generator) { delete generator; }

xfc_status xfc_generator_get_info(const xfc_generator *generator,
                                  xfc_generator_info *out_info) {
  if (!generator || !out_info)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_generator_get_info: generator or out_info "
                      "is NULL");
  std::memset(out_info, 0, sizeof(*out_info));
  out_info->batch = generator->batch;
  out_info->prompt_length = generator->promptLength;
  out_info->capacity = generator->capacity;
  out_info->vocab_size = generator->vocab;
  out_info->num_layers = generator->layers;
  return nullptr;
}

xfc_status xfc_generator_prefill(xfc_generator *generator, const int32_t *ids,
                                 size_t length, float *logits,
                                 size_t num_logits) {
  return guarded("xfc_generator_prefill", [&] {
    return prefill(generator, ids, length, logits, num_logits);
  });
}

xfc_status xfc_generator_decode(xfc_generator *generator, const int32_t *ids,
                                size_t num_ids, float *logits,
                                size_t num_logits) {
  return guarded("xfc_generator_decode", [&] {
    return decode(generator, ids, num_ids, logits, num_logits);
  });
}

xfc_status xfc_generator_length(const xfc_generator *generator,
                                int64_t *out_length) {
  if (!generator || !out_length)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_generator_length: generator or out_length "
                      "is NULL");
  *out_length = generator->length;
  return nullptr;
}

xfc_status xfc_generator_reset(xfc_generator *generator) {
  if (!generator)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_generator_reset: generator is NULL");
  for (std::vector<float> &cache : generator->caches)
    std::fill(cache.begin(), cache.end(), 0.0f);
  generator->length = 0;
  return nullptr;
}
