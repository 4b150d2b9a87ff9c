//===- Generate.cpp - Generation over a key/value cache ---------*- C++ -*-===//
//
// Part of xfc. Implements the xfc_generator_* functions of the C API
// (docs/generation.md). A generator opens the two generation steps of an
// artifact, OUT/prefill and OUT/decode, as ordinary models and owns what
// they share: the key and value cache of every decoder layer (and, for an
// encoder-decoder, its cross-attention caches and the source lengths) and
// the number of filled positions. The steps take the caches as inputs and
// write their new rows into them in place (the compiled code updates the
// buffers it is given), so a step moves its own rows only; the generator
// passes the same buffers to both and fills the position inputs of a
// decode step. Beam search (BeamSearch.cpp) drives a generator through
// prefill, reorder and decode.
//
//===----------------------------------------------------------------------===//

#include "Generate.h"

#include "Status.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

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

bool isCacheName(const std::string &name) {
  return endsWith(name, "key_cache") || endsWith(name, "value_cache");
}

/// Checks the two steps against each other and sizes the generator;
/// XFC_INVALID_ARTIFACT naming what does not fit. Prefill's inputs are
/// input_ids, then (encoder-decoder) src_ids and src_lengths, then the
/// caches; decode's input_ids, position_ids, cache_length, cache_position,
/// then (encoder-decoder) src_lengths, then the same caches
/// (docs/generation.md).
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
  auto named = [](const std::vector<xfc_tensor_info> &list, size_t i,
                  const char *name) {
    return i < list.size() && std::string(list[i].name) == name;
  };
  if (!named(pre, 0, "input_ids") || pre[0].rank != 2)
    return invalid("prefill's first input must be input_ids [B, P]");
  if (!named(dec, 0, "input_ids") || !named(dec, 1, "position_ids") ||
      !named(dec, 2, "cache_length") || !named(dec, 3, "cache_position"))
    return invalid("decode's inputs must begin with input_ids, position_ids, "
                   "cache_length, cache_position");
  g.batch = pre[0].dims[0];
  g.promptLength = pre[0].dims[1];
  size_t preCaches = 1, decCaches = 4;
  if (named(pre, 1, "src_ids")) {
    if (pre[1].rank != 2 || pre[1].dims[0] != g.batch || pre[1].dims[1] < 1)
      return invalid("prefill's src_ids is " + shapeText(pre[1]) +
                     "; expected [B, S] with B = " + std::to_string(g.batch));
    g.sourceLength = pre[1].dims[1];
    preCaches = 2;
    g.sourcePadding = named(pre, 2, "src_lengths");
    if (g.sourcePadding != named(dec, 4, "src_lengths"))
      return invalid("src_lengths is an input of one step but not of the "
                     "other");
    if (g.sourcePadding) {
      if (!sameShape(pre[2], {g.batch}) || !sameShape(dec[4], {g.batch}))
        return invalid(
            "src_lengths is " + shapeText(pre[2]) + " in prefill and " +
            shapeText(dec[4]) +
            " in decode; expected [B] with B = " + std::to_string(g.batch));
      ++preCaches;
      ++decCaches;
    }
  }
  size_t numCaches = pre.size() - preCaches;
  if (numCaches == 0 || dec.size() < decCaches ||
      dec.size() - decCaches != numCaches)
    return invalid(
        "prefill has " + std::to_string(numCaches) +
        " cache inputs and decode " +
        std::to_string(dec.size() >= decCaches ? dec.size() - decCaches : 0) +
        "; expected the same, two per layer");
  const xfc_tensor_info &first = pre[preCaches];
  if (first.rank != 3 || first.dtype != XFC_DTYPE_F32)
    return invalid(std::string("cache ") + first.name +
                   " must be f32 [B, C, D], found " + shapeText(first));
  g.capacity = first.dims[1];
  g.width = first.dims[2];
  size_t selfCaches = 0, crossCaches = 0;
  for (size_t i = 0; i < numCaches; ++i) {
    const xfc_tensor_info &p = pre[preCaches + i], &d = dec[decCaches + i];
    std::string name = p.name;
    if (name != d.name || !isCacheName(name))
      return invalid("cache input " + std::to_string(i) + " is '" + name +
                     "' in prefill and '" + d.name +
                     "' in decode; expected the same key_cache or "
                     "value_cache");
    bool cross = name.find(".cross_attn.") != std::string::npos;
    if (cross && !g.encoderDecoder())
      return invalid("cache '" + name +
                     "' is a cross-attention cache, but prefill has no "
                     "src_ids");
    if (!cross && crossCaches > 0)
      return invalid("cache '" + name +
                     "' follows the cross-attention caches; expected every "
                     "self-attention cache first");
    int64_t rows = cross ? g.sourceLength : g.capacity;
    if (p.dtype != XFC_DTYPE_F32 || d.dtype != XFC_DTYPE_F32 ||
        !sameShape(p, {g.batch, rows, g.width}) ||
        !sameShape(d, {g.batch, rows, g.width}))
      return invalid("cache '" + name + "' is " + shapeText(p) +
                     " in prefill and " + shapeText(d) + " in decode; " +
                     "expected f32 [" + std::to_string(g.batch) + ", " +
                     std::to_string(rows) + ", " + std::to_string(g.width) +
                     "] in both");
    (cross ? crossCaches : selfCaches) += 1;
    xfc_generator::Cache cache;
    cache.name = name;
    cache.rows = rows;
    cache.cross = cross;
    g.caches.push_back(std::move(cache));
  }
  if (selfCaches % 2 != 0 || (g.encoderDecoder() && crossCaches != selfCaches))
    return invalid(std::to_string(selfCaches) + " self-attention and " +
                   std::to_string(crossCaches) +
                   " cross-attention caches; expected a key and a value "
                   "cache per layer (and per cross-attention for an "
                   "encoder-decoder)");
  g.layers = static_cast<int64_t>(selfCaches / 2);
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

template <typename T> xfc_buffer bufferOf(std::vector<T> &values) {
  return {values.data(), values.size() * sizeof(T)};
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

  for (xfc_generator::Cache &cache : g.caches)
    cache.data.assign(size_t(g.batch) * cache.rows * g.width, 0.0f);
  g.promptIds.assign(g.batch * g.promptLength, 0);
  g.positionIds.assign(g.batch, 0);
  g.cacheLength.assign(g.batch, 1);
  g.cachePosition.assign(1, 0);
  g.sourceIds.assign(g.batch * g.sourceLength, 0);
  g.sourceLengths.assign(g.batch, static_cast<int32_t>(g.sourceLength));
  g.crossSource.resize(g.batch);
  for (int64_t b = 0; b < g.batch; ++b)
    g.crossSource[b] = b;
  g.prefillLogits.assign(size_t(g.batch) * g.promptLength * g.vocab, 0.0f);
  g.prefillInputs.push_back(bufferOf(g.promptIds));
  g.decodeInputs.push_back({nullptr, size_t(g.batch) * sizeof(int32_t)});
  g.decodeInputs.push_back(bufferOf(g.positionIds));
  g.decodeInputs.push_back(bufferOf(g.cacheLength));
  g.decodeInputs.push_back(bufferOf(g.cachePosition));
  if (g.encoderDecoder())
    g.prefillInputs.push_back(bufferOf(g.sourceIds));
  if (g.sourcePadding) {
    g.prefillInputs.push_back(bufferOf(g.sourceLengths));
    g.decodeInputs.push_back(bufferOf(g.sourceLengths));
  }
  for (xfc_generator::Cache &cache : g.caches) {
    g.prefillInputs.push_back(bufferOf(cache.data));
    g.decodeInputs.push_back(bufferOf(cache.data));
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

/// Copies an encoder-decoder's sources into the prefill inputs, padded
/// with token 0 to S; checks them first.
xfc_status setSources(xfc_generator &g, const int32_t *srcIds, size_t srcLength,
                      const int32_t *srcLengths, const char *function) {
  auto invalid = [&](const std::string &what) {
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": " + what);
  };
  if (!srcIds)
    return invalid("src_ids is NULL");
  if (srcLength < 1 || int64_t(srcLength) > g.sourceLength)
    return invalid("source length " + std::to_string(srcLength) +
                   " is outside [1, " + std::to_string(g.sourceLength) +
                   "] (the compiled source length; compile with a larger "
                   "--seq-len for longer sources)");
  if (!g.sourcePadding) {
    // Without the padding mask every source position is attended to: a
    // shorter source would be padding the model reads as text.
    if (int64_t(srcLength) != g.sourceLength)
      return invalid("the model has no source padding mask "
                     "(key_padding_mask is false): sources must have " +
                     std::to_string(g.sourceLength) + " tokens, found " +
                     std::to_string(srcLength));
    for (int64_t b = 0; srcLengths && b < g.batch; ++b)
      if (srcLengths[b] != g.sourceLength)
        return invalid("the model has no source padding mask "
                       "(key_padding_mask is false): src_lengths[" +
                       std::to_string(b) + "] is " +
                       std::to_string(srcLengths[b]) + "; expected " +
                       std::to_string(g.sourceLength));
  }
  for (int64_t b = 0; srcLengths && b < g.batch; ++b)
    if (srcLengths[b] < 1 || size_t(srcLengths[b]) > srcLength)
      return invalid("src_lengths[" + std::to_string(b) + "] is " +
                     std::to_string(srcLengths[b]) + "; expected [1, " +
                     std::to_string(srcLength) + "]");
  std::fill(g.sourceIds.begin(), g.sourceIds.end(), 0);
  for (int64_t b = 0; b < g.batch; ++b) {
    std::copy(srcIds + b * srcLength, srcIds + (b + 1) * srcLength,
              g.sourceIds.begin() + b * g.sourceLength);
    g.sourceLengths[b] =
        srcLengths ? srcLengths[b] : static_cast<int32_t>(srcLength);
  }
  return nullptr;
}

} // namespace

namespace xfc {

xfc_status generatorPrefill(xfc_generator *g, const int32_t *srcIds,
                            size_t srcLength, const int32_t *srcLengths,
                            const int32_t *ids, size_t length, float *logits,
                            size_t numLogits, const char *function) {
  if (!g || !ids)
    return makeStatus(XFC_INVALID_ARGUMENT, std::string(function) +
                                                ": generator or ids is "
                                                "NULL");
  if (length < 1 || int64_t(length) > g->promptLength)
    return makeStatus(
        XFC_INVALID_ARGUMENT,
        std::string(function) + ": prompt length " + std::to_string(length) +
            " is outside [1, " + std::to_string(g->promptLength) +
            "] (the compiled prompt length; compile with a larger " +
            (g->encoderDecoder() ? "--tgt-len" : "--seq-len") +
            " for longer prompts)");
  if (xfc_status status = checkLogits(function, *g, logits, numLogits))
    return status;
  if (g->encoderDecoder())
    if (xfc_status status =
            setSources(*g, srcIds, srcLength, srcLengths, function))
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
  // Items with the same source (the beams of one source) hold the same
  // cross caches: name the first of them as their contents.
  for (int64_t b = 0; b < g->batch; ++b) {
    g->crossSource[b] = b;
    const int32_t *source = g->sourceIds.data() + b * g->sourceLength;
    for (int64_t other = 0; other < b; ++other)
      if (g->sourceLengths[other] == g->sourceLengths[b] &&
          std::equal(source, source + g->sourceLength,
                     g->sourceIds.data() + other * g->sourceLength)) {
        g->crossSource[b] = other;
        break;
      }
  }
  g->length = static_cast<int64_t>(length);
  return nullptr;
}

xfc_status generatorDecode(xfc_generator *g, const int32_t *ids, size_t numIds,
                           float *logits, size_t numLogits,
                           const char *function) {
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
  g->decodeInputs[xfc_generator::kDecodeIds].data = const_cast<int32_t *>(ids);
  xfc_buffer output{logits, numLogits * sizeof(float)};
  xfc_status status = xfc_context_run(g->decodeContext, g->decodeInputs.data(),
                                      g->decodeInputs.size(), &output, 1);
  g->decodeInputs[xfc_generator::kDecodeIds].data = nullptr;
  if (status)
    return prefixed(std::string(function) + ": ", status);
  g->length += 1;
  return nullptr;
}

xfc_status generatorReorder(xfc_generator *g, const int32_t *parents,
                            size_t numParents, const char *function) {
  if (!g || !parents)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": generator or parents is NULL");
  if (int64_t(numParents) != g->batch)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": num_parents is " +
                          std::to_string(numParents) +
                          "; expected the batch, " + std::to_string(g->batch));
  for (int64_t b = 0; b < g->batch; ++b)
    if (parents[b] < 0 || parents[b] >= g->batch)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        std::string(function) + ": parents[" +
                            std::to_string(b) + "] is " +
                            std::to_string(parents[b]) + "; expected [0, " +
                            std::to_string(g->batch - 1) + "]");
  // Items that keep their own rows move nothing; the others gather their
  // parent's filled rows through one scratch copy per cache (a parent may
  // itself be overwritten by another item's parent).
  std::vector<int64_t> moved;
  for (int64_t b = 0; b < g->batch; ++b)
    if (parents[b] != b)
      moved.push_back(b);
  if (moved.empty())
    return nullptr;
  const size_t width = size_t(g->width);
  std::vector<float> scratch;
  for (xfc_generator::Cache &cache : g->caches) {
    size_t itemFloats = size_t(cache.rows) * width;
    size_t rows = cache.cross ? size_t(cache.rows) : size_t(g->length);
    size_t copyFloats = rows * width;
    std::vector<int64_t> copies;
    for (int64_t b : moved)
      if (!cache.cross || g->crossSource[b] != g->crossSource[parents[b]])
        copies.push_back(b);
    if (copies.empty() || copyFloats == 0)
      continue;
    scratch.resize(copies.size() * copyFloats);
    for (size_t i = 0; i < copies.size(); ++i) {
      const float *from = cache.data.data() + parents[copies[i]] * itemFloats;
      std::copy(from, from + copyFloats, scratch.data() + i * copyFloats);
    }
    for (size_t i = 0; i < copies.size(); ++i)
      std::copy(scratch.data() + i * copyFloats,
                scratch.data() + (i + 1) * copyFloats,
                cache.data.data() + copies[i] * itemFloats);
  }
  std::vector<int64_t> crossSource(g->crossSource);
  std::vector<int32_t> sourceLengths(g->sourceLengths);
  for (int64_t b : moved) {
    crossSource[b] = g->crossSource[parents[b]];
    sourceLengths[b] = g->sourceLengths[parents[b]];
  }
  g->crossSource = std::move(crossSource);
  // Copied, not swapped: the steps' inputs point at this storage.
  std::copy(sourceLengths.begin(), sourceLengths.end(),
            g->sourceLengths.begin());
  return nullptr;
}

} // namespace xfc

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

xfc_status xfc_generator_source_length(const xfc_generator *generator,
                                       int64_t *out_length) {
  if (!generator || !out_length)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_generator_source_length: generator or out_length "
                      "is NULL");
  *out_length = generator->sourceLength;
  return nullptr;
}

xfc_status xfc_generator_prefill(xfc_generator *generator, const int32_t *ids,
                                 size_t length, float *logits,
                                 size_t num_logits) {
  const char *function = "xfc_generator_prefill";
  return guarded(function, [&] {
    if (generator && generator->encoderDecoder())
      return makeStatus(XFC_INVALID_ARGUMENT,
                        std::string(function) +
                            ": the model is an encoder-decoder; give the "
                            "source with xfc_generator_prefill_source");
    return xfc::generatorPrefill(generator, nullptr, 0, nullptr, ids, length,
                                 logits, num_logits, function);
  });
}

xfc_status xfc_generator_prefill_source(xfc_generator *generator,
                                        const int32_t *src_ids,
                                        size_t src_length,
                                        const int32_t *src_lengths,
                                        const int32_t *ids, size_t length,
                                        float *logits, size_t num_logits) {
  const char *function = "xfc_generator_prefill_source";
  return guarded(function, [&] {
    if (generator && !generator->encoderDecoder())
      return makeStatus(XFC_INVALID_ARGUMENT,
                        std::string(function) +
                            ": the model is a decoder, without a source; "
                            "use xfc_generator_prefill");
    return xfc::generatorPrefill(generator, src_ids, src_length, src_lengths,
                                 ids, length, logits, num_logits, function);
  });
}

xfc_status xfc_generator_decode(xfc_generator *generator, const int32_t *ids,
                                size_t num_ids, float *logits,
                                size_t num_logits) {
  const char *function = "xfc_generator_decode";
  return guarded(function, [&] {
    return xfc::generatorDecode(generator, ids, num_ids, logits, num_logits,
                                function);
  });
}

xfc_status xfc_generator_reorder(xfc_generator *generator,
                                 const int32_t *parents, size_t num_parents) {
  const char *function = "xfc_generator_reorder";
  return guarded(function, [&] {
    return xfc::generatorReorder(generator, parents, num_parents, function);
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
  for (xfc_generator::Cache &cache : generator->caches)
    std::fill(cache.data.begin(), cache.data.end(), 0.0f);
  for (int64_t b = 0; b < generator->batch; ++b)
    generator->crossSource[b] = b;
  generator->length = 0;
  return nullptr;
}
