//===- HfImport.cpp - Hugging Face checkpoints to xfc specs ---------------===//
//
// Part of xfc.
//
// This file implements the import of Hugging Face checkpoint folders of the
// BERT (model_type "bert") and GPT-2 (model_type "gpt2") families: the
// config is mapped to an xfc spec, field by field, and the tensors of
// model.safetensors are renamed, split (GPT-2's fused c_attn), transposed
// (GPT-2's Conv1D stores [in, out]) and converted to float32 (F16 and BF16
// are widened exactly). Every config field that transformers' modeling code
// reads is either mapped, checked to have the one value xfc implements, or
// listed as not changing inference math; docs/hf-import.md has the tables.
// Fields transformers does not read (any other key) cannot change its math
// either and are ignored, but reported as notes. A sentence-transformers
// folder (modules.json) adds the pooling of its Pooling and Normalize
// modules; a BERT folder with vocab.txt adds its tokenizer (WordPiece.cpp).
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/HfImport.h"

#include "support/AtomicFile.h"
#include "xfc/Frontend/SpecParser.h"
#include "xfc/Support/Safetensors.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <new>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace xfc {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

/// A JSON value as an error message shows it (short, one line).
std::string describeValue(const Json &value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > 60)
    text = text.substr(0, 57) + "...";
  return text;
}

bool startsWith(const std::string &text, const std::string &prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

/// Reads a whole (small) text file; false with a reason.
bool readTextFile(const std::string &path, std::string &text,
                  std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot read the file: " + std::strerror(errno);
    return false;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  text = buffer.str();
  return true;
}

/// Parses a small JSON file (config.json, modules.json); false with a
/// message naming the file.
bool readJsonFile(const std::string &path, Json &out, std::string &error) {
  std::string text;
  if (!readTextFile(path, text, error))
    return false;
  try {
    out = Json::parse(text);
  } catch (const Json::exception &e) {
    std::string what = e.what();
    size_t close = what.find("] ");
    if (startsWith(what, "[json.exception") && close != std::string::npos)
      what = what.substr(close + 2);
    error = path + ": expected valid JSON, found invalid JSON: " + what;
    return false;
  }
  if (!out.is_object()) {
    if (!out.is_array() || fs::path(path).filename() != "modules.json") {
      error =
          path + ": at $: expected a JSON object, found " + describeValue(out);
      return false;
    }
  }
  return true;
}

//===----------------------------------------------------------------------===//
// config.json
//===----------------------------------------------------------------------===//

/// Typed access to config.json with messages in the spec parser's form
/// ("FILE: at $.key: expected ..., found ...").
class ConfigReader {
public:
  ConfigReader(const Json &config, std::string file, std::string &error)
      : config(config), file(std::move(file)), error(error) {}

  bool fail(const std::string &key, const std::string &expected,
            const std::string &found) {
    SpecError e{"$." + key, expected, found};
    error = e.message(file);
    return false;
  }

  /// The value at `key`, or nullptr if absent (a JSON null counts as
  /// absent: transformers then uses its default).
  const Json *get(const std::string &key) {
    read.insert(key);
    auto it = config.find(key);
    return it == config.end() || it->is_null() ? nullptr : &*it;
  }

  /// An integer in [lo, hi]; `fallback` (transformers' default) if absent.
  bool integer(const std::string &key, int64_t lo, int64_t hi, int64_t fallback,
               int64_t &out) {
    const Json *value = get(key);
    if (!value) {
      out = fallback;
      return true;
    }
    if (!value->is_number_integer() ||
        (value->is_number_unsigned() && value->get<uint64_t>() > uint64_t(hi)))
      return fail(key,
                  "an integer in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]",
                  describeValue(*value));
    out = value->get<int64_t>();
    if (out < lo || out > hi)
      return fail(key,
                  "an integer in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]",
                  describeValue(*value));
    return true;
  }

  /// A finite number > 0; `fallback` if absent.
  bool positive(const std::string &key, double fallback, double &out) {
    const Json *value = get(key);
    if (!value) {
      out = fallback;
      return true;
    }
    if (!value->is_number() || !std::isfinite(value->get<double>()) ||
        value->get<double>() <= 0)
      return fail(key, "a finite number > 0", describeValue(*value));
    out = value->get<double>();
    return true;
  }

  /// A string; `fallback` if absent.
  bool string(const std::string &key, const std::string &fallback,
              std::string &out) {
    const Json *value = get(key);
    if (!value) {
      out = fallback;
      return true;
    }
    if (!value->is_string())
      return fail(key, "a string", describeValue(*value));
    out = value->get<std::string>();
    return true;
  }

  /// A field whose only supported value is `supported` (the math xfc
  /// implements); absent means transformers' default `fallback`.
  bool requireBool(const std::string &key, bool supported, bool fallback,
                   const std::string &why) {
    const Json *value = get(key);
    bool found = fallback;
    if (value) {
      if (!value->is_boolean())
        return fail(key, "a boolean", describeValue(*value));
      found = value->get<bool>();
    }
    // The messages are checked per field in tests/unit/frontend.
    static const char *const kBoolText[] = {"false", "true"};
    if (found != supported)
      return fail(key, std::string(kBoolText[supported]) + " (" + why + ")",
                  kBoolText[found]);
    return true;
  }

  /// A string field whose only supported value is `supported`.
  bool requireString(const std::string &key, const std::string &supported,
                     const std::string &fallback, const std::string &why) {
    std::string found;
    if (!string(key, fallback, found))
      return false;
    if (found != supported)
      return fail(key, "\"" + supported + "\" (" + why + ")",
                  "\"" + found + "\"");
    return true;
  }

  /// Marks fields that do not change the inference math as read.
  void ignore(const std::vector<const char *> &keys) {
    for (const char *key : keys)
      read.insert(key);
  }

  /// Fields of the config nobody read: transformers' modeling code does not
  /// read them either (every field it reads is read or ignored above).
  std::vector<std::string> unread() const {
    std::vector<std::string> keys;
    for (auto it = config.begin(); it != config.end(); ++it)
      if (!read.count(it.key()))
        keys.push_back(it.key());
    return keys;
  }

private:
  const Json &config;
  std::string file;
  std::string &error;
  std::set<std::string> read;
};

/// Fields of PretrainedConfig (every model type) that do not change the
/// math of a forward pass without cache: generation settings, labels,
/// output switches, token ids (tokenizer data), dtype (converted to f32),
/// the attention implementation (eager and sdpa compute the same), metadata.
const std::vector<const char *> kIgnoredCommonFields = {
    "_name_or_path",
    "_attn_implementation",
    "_commit_hash",
    "architectures_suffix",
    "bad_words_ids",
    "begin_suppress_tokens",
    "bos_token_id",
    "chunk_size_feed_forward",
    "cross_attention_hidden_size",
    "decoder_start_token_id",
    "diversity_penalty",
    "do_sample",
    "early_stopping",
    "encoder_no_repeat_ngram_size",
    "eos_token_id",
    "exponential_decay_length_penalty",
    "finetuning_task",
    "forced_bos_token_id",
    "forced_eos_token_id",
    "gradient_checkpointing",
    "id2label",
    "initializer_range",
    "label2id",
    "length_penalty",
    "max_length",
    "min_length",
    "no_repeat_ngram_size",
    "num_beam_groups",
    "num_beams",
    "num_return_sequences",
    "output_attentions",
    "output_hidden_states",
    "output_scores",
    "pad_token_id",
    "prefix",
    "problem_type",
    "remove_invalid_values",
    "repetition_penalty",
    "return_dict",
    "return_dict_in_generate",
    "sep_token_id",
    "suppress_tokens",
    "task_specific_params",
    "temperature",
    "tf_legacy_loss",
    "tokenizer_class",
    "top_k",
    "top_p",
    "torch_dtype",
    "torchscript",
    "transformers_version",
    "typical_p",
    "use_bfloat16",
    "use_cache"};

/// Common fields that change the math unless they hold their default.
bool checkCommonFields(ConfigReader &config, bool allowDecoder) {
  if (!config.requireBool("is_encoder_decoder", false, false,
                          "xfc imports encoder-only or decoder-only models"))
    return false;
  if (!config.requireBool("add_cross_attention", false, false,
                          "cross-attention layers are not imported"))
    return false;
  if (!allowDecoder &&
      !config.requireBool("is_decoder", false, false,
                          "a BERT encoder attends in both directions; a "
                          "causal BERT decoder is not supported"))
    return false;
  if (allowDecoder)
    config.ignore({"is_decoder"});
  // pruned_heads: {} or absent; pruned heads change every attention shape.
  if (const Json *pruned = config.get("pruned_heads")) {
    if (!pruned->is_object() || !pruned->empty())
      return config.fail("pruned_heads",
                         "{} (checkpoints with pruned attention heads are "
                         "not supported)",
                         describeValue(*pruned));
  }
  config.ignore(kIgnoredCommonFields);
  return true;
}

/// Maps a transformers activation name to the spec's; "" if unsupported.
const char *mapActivation(const std::string &name) {
  if (name == "gelu")
    return "gelu"; // The exact erf form.
  // transformers' NewGELUActivation, PytorchGELUTanh and FastGELU-free
  // tanh forms: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
  if (name == "gelu_new" || name == "gelu_pytorch_tanh")
    return "gelu_tanh";
  if (name == "relu")
    return "relu";
  return "";
}

constexpr const char *kActivationsExpected =
    "one of \"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\", \"relu\"";

//===----------------------------------------------------------------------===//
// model.safetensors
//===----------------------------------------------------------------------===//

/// A read-only mapping of the checkpoint file.
class MappedFile {
public:
  MappedFile() = default;
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;
  ~MappedFile() {
    if (data && size)
      ::munmap(data, size);
  }

  bool open(const std::string &path, std::string &error) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error = std::strerror(errno);
      return false;
    }
    struct stat info;
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
      error = "not a regular file";
      ::close(fd);
      return false;
    }
    size = static_cast<size_t>(info.st_size);
    if (size > 0) {
      void *mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (mapped == MAP_FAILED) {
        error = std::strerror(errno);
        size = 0;
        ::close(fd);
        return false;
      }
      data = mapped;
    }
    ::close(fd);
    return true;
  }

  const uint8_t *bytes() const { return static_cast<const uint8_t *>(data); }
  size_t length() const { return size; }

private:
  void *data = nullptr;
  size_t size = 0;
};

/// IEEE binary16 to binary32; exact (every half is a float).
float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1F;
  uint32_t mantissa = h & 0x3FF;
  uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13); // Inf or NaN.
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign; // ±0.
  } else {
    // Subnormal half: normalize into a float exponent.
    int shift = 0;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      ++shift;
    }
    mantissa &= 0x3FF;
    bits = sign | (uint32_t(113 - shift) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// The tensors of model.safetensors, read by their Hugging Face names.
/// Every read is recorded so the tensors no mapping read can be refused.
class Checkpoint {
public:
  bool open(const std::string &path, std::string &error) {
    this->path = path;
    std::string reason;
    if (!file.open(path, reason)) {
      error = path + ": cannot read the checkpoint: " + reason;
      return false;
    }
    if (!parseSafetensors(file.bytes(), file.length(), header, reason)) {
      error = path + ": not a valid safetensors file: " + reason;
      return false;
    }
    return true;
  }

  bool has(const std::string &name) const { return header.find(name); }

  /// Reads tensor `name` (or its legacy LayerNorm name: `gamma` for
  /// `weight`, `beta` for `bias`) of shape `shape` as float32.
  bool read(const std::string &name, const std::vector<int64_t> &shape,
            HostTensor &out, std::string &error) {
    std::string actual = name;
    if (!header.find(actual))
      actual = legacyLayerNormName(name);
    const SafetensorsEntry *entry = header.find(actual);
    if (!entry) {
      error = path + ": missing tensor \"" + name + "\" (expected " +
              shapeText(shape) + ")";
      return false;
    }
    used.insert(actual);
    if (entry->shape != shape) {
      error = path + ": tensor \"" + actual + "\" has shape " +
              shapeText(entry->shape) + ", expected " + shapeText(shape) +
              " (from config.json)";
      return false;
    }
    size_t elementSize = entry->dtype == "F32"                             ? 4
                         : entry->dtype == "F16" || entry->dtype == "BF16" ? 2
                                                                           : 0;
    if (elementSize == 0) {
      error = path + ": tensor \"" + actual + "\" has dtype " + entry->dtype +
              ", expected F32, F16 or BF16";
      return false;
    }
    out.shape = shape;
    const size_t count = static_cast<size_t>(out.numElements());
    if (entry->end - entry->begin != count * elementSize) {
      error = path + ": tensor \"" + actual + "\" has " +
              std::to_string(entry->end - entry->begin) + " bytes, expected " +
              std::to_string(count * elementSize);
      return false;
    }
    out.data.resize(count);
    // Little-endian bytes, assembled explicitly so the host order does not
    // matter; F16 and BF16 widen to F32 exactly.
    const uint8_t *src = file.bytes() + entry->begin;
    for (size_t i = 0; i < count; ++i) {
      const uint8_t *b = src + elementSize * i;
      uint32_t bits;
      if (entry->dtype == "F32")
        bits = uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 |
               uint32_t(b[3]) << 24;
      else if (entry->dtype == "BF16")
        bits = (uint32_t(b[0]) | uint32_t(b[1]) << 8) << 16;
      else {
        float f = halfToFloat(uint16_t(b[0] | b[1] << 8));
        std::memcpy(&bits, &f, sizeof bits);
      }
      std::memcpy(&out.data[i], &bits, sizeof(float));
      // A NaN or infinity would reach every output that reads it.
      if (!std::isfinite(out.data[i])) {
        error = path + ": tensor \"" + actual + "\" holds " +
                (std::isnan(out.data[i]) ? "NaN" : "an infinity") +
                " at element " + std::to_string(i) + ", expected finite values";
        return false;
      }
    }
    return true;
  }

  /// Marks `name` as known but not imported (heads, buffers).
  void skip(const std::string &name) { used.insert(name); }

  /// Fails on the first tensor neither read nor skipped.
  bool checkAllUsed(const std::string &hint, std::string &error) const {
    for (const SafetensorsEntry &entry : header.entries) {
      if (used.count(entry.name))
        continue;
      error =
          path + ": unexpected tensor \"" + entry.name + "\" (" + hint + ")";
      return false;
    }
    return true;
  }

  const SafetensorsHeader &entries() const { return header; }
  const std::string &filePath() const { return path; }

private:
  static std::string legacyLayerNormName(const std::string &name) {
    const std::string weight = "LayerNorm.weight", bias = "LayerNorm.bias";
    auto endsWith = [&](const std::string &suffix) {
      return name.size() >= suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) ==
                 0;
    };
    if (endsWith(weight))
      return name.substr(0, name.size() - 6) + "gamma";
    if (endsWith(bias))
      return name.substr(0, name.size() - 4) + "beta";
    return name;
  }

  std::string path;
  MappedFile file;
  SafetensorsHeader header;
  std::set<std::string> used;
};

/// out[c][r] = in[r][c] for in of shape [rows, cols].
HostTensor transposed(const HostTensor &in) {
  const int64_t rows = in.shape[0], cols = in.shape[1];
  HostTensor out;
  out.shape = {cols, rows};
  out.data.resize(in.data.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out.data[c * rows + r] = in.data[r * cols + c];
  return out;
}

/// Columns [begin, begin + count) of a [rows, cols] matrix, transposed:
/// the [count, rows] weight in [out, in] layout of one third of a fused
/// Conv1D (GPT-2's c_attn, [in, 3·D]).
HostTensor columnsTransposed(const HostTensor &in, int64_t begin,
                             int64_t count) {
  const int64_t rows = in.shape[0], cols = in.shape[1];
  HostTensor out;
  out.shape = {count, rows};
  out.data.resize(static_cast<size_t>(count * rows));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < count; ++c)
      out.data[c * rows + r] = in.data[r * cols + begin + c];
  return out;
}

HostTensor slice1D(const HostTensor &in, int64_t begin, int64_t count) {
  HostTensor out;
  out.shape = {count};
  out.data.assign(in.data.begin() + begin, in.data.begin() + begin + count);
  return out;
}

//===----------------------------------------------------------------------===//
// BERT
//===----------------------------------------------------------------------===//

/// The architectures whose encoder is transformers' BertModel; their heads
/// (pooler, MLM, classifiers) are not imported.
const std::set<std::string> kBertArchitectures = {
    "BertModel",
    "BertForMaskedLM",
    "BertForPreTraining",
    "BertForNextSentencePrediction",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
    "BertForMultipleChoice",
};

/// Tensor name prefixes of heads and buffers a BERT import leaves out.
const std::vector<std::string> kBertSkippedPrefixes = {
    "pooler.", "cls.", "classifier.", "qa_outputs.", "embeddings.position_ids",
};

struct Sizes {
  int64_t vocab = 0, dModel = 0, layers = 0, heads = 0, dFF = 0, maxLen = 0;
};

bool importBert(ConfigReader &config, const std::string &name,
                const std::string &weightsFileName, OrderedJson &spec,
                std::string &error) {
  Sizes s;
  int64_t typeVocab = 0;
  std::string act, posType;
  double eps = 0;
  // Defaults are BertConfig's (transformers uses them for absent fields).
  if (!config.integer("vocab_size", 1, 1048576, 30522, s.vocab) ||
      !config.integer("hidden_size", 1, 1048576, 768, s.dModel) ||
      !config.integer("num_hidden_layers", 1, 1024, 12, s.layers) ||
      !config.integer("num_attention_heads", 1, 1048576, 12, s.heads) ||
      !config.integer("intermediate_size", 1, 1048576, 3072, s.dFF) ||
      !config.integer("max_position_embeddings", 1, 1048576, 512, s.maxLen) ||
      !config.integer("type_vocab_size", 0, 1048576, 2, typeVocab) ||
      !config.positive("layer_norm_eps", 1e-12, eps) ||
      !config.string("hidden_act", "gelu", act))
    return false;
  const char *activation = mapActivation(act);
  if (!*activation)
    return config.fail("hidden_act", kActivationsExpected, "\"" + act + "\"");
  if (!config.requireString("position_embedding_type", "absolute", "absolute",
                            "xfc adds learned absolute positions; relative "
                            "position embeddings are not supported"))
    return false;
  if (!checkCommonFields(config, /*allowDecoder=*/false))
    return false;
  // Dropout and the classifier head do not act at inference.
  config.ignore({"hidden_dropout_prob", "attention_probs_dropout_prob",
                 "classifier_dropout"});

  spec["xfc_spec_version"] = 1;
  spec["name"] = name;
  spec["kind"] = "encoder";
  spec["vocab_size"] = s.vocab;
  spec["d_model"] = s.dModel;
  spec["num_heads"] = s.heads;
  spec["d_ff"] = s.dFF;
  spec["num_layers"] = s.layers;
  spec["max_seq_len"] = s.maxLen;
  spec["norm_placement"] = "post";
  spec["layer_norm_epsilon"] = eps;
  spec["embedding_layer_norm"] = true;
  spec["token_type_vocab_size"] = typeVocab;
  spec["activation"] = activation;
  spec["positional_encoding"] = "learned";
  // The attention_mask of BertModel becomes the lengths input (a prefix of
  // each sequence is attended to).
  spec["key_padding_mask"] = true;
  spec["lm_head"] = false;
  spec["weights"] = {{"source", "safetensors"}, {"path", weightsFileName}};
  return true;
}

bool readBertWeights(Checkpoint &ckpt, const ModelSpec &spec, WeightStore &out,
                     std::string &error) {
  const std::string p =
      ckpt.has("bert.embeddings.word_embeddings.weight") ? "bert." : "";
  const int64_t D = spec.dModel, F = spec.dFF;
  auto copy = [&](const std::string &from, const std::string &to,
                  std::vector<int64_t> shape) {
    HostTensor t;
    if (!ckpt.read(p + from, shape, t, error))
      return false;
    out.insert(to, std::move(t));
    return true;
  };
  auto linear = [&](const std::string &from, const std::string &to,
                    int64_t outDim, int64_t inDim) {
    return copy(from + ".weight", to + ".weight", {outDim, inDim}) &&
           copy(from + ".bias", to + ".bias", {outDim});
  };
  auto norm = [&](const std::string &from, const std::string &to) {
    return copy(from + ".weight", to + ".weight", {D}) &&
           copy(from + ".bias", to + ".bias", {D});
  };
  if (!copy("embeddings.word_embeddings.weight", "encoder.embed.tokens",
            {spec.vocabSize, D}) ||
      !copy("embeddings.position_embeddings.weight", "encoder.embed.positions",
            {spec.maxSeqLen, D}) ||
      (spec.tokenTypeVocabSize > 0 &&
       !copy("embeddings.token_type_embeddings.weight",
             "encoder.embed.token_types", {spec.tokenTypeVocabSize, D})) ||
      !norm("embeddings.LayerNorm", "encoder.embed.norm"))
    return false;
  for (int64_t i = 0; i < spec.numLayers; ++i) {
    const std::string hf = "encoder.layer." + std::to_string(i) + ".";
    const std::string x = "encoder.layers." + std::to_string(i) + ".";
    if (!linear(hf + "attention.self.query", x + "self_attn.q", D, D) ||
        !linear(hf + "attention.self.key", x + "self_attn.k", D, D) ||
        !linear(hf + "attention.self.value", x + "self_attn.v", D, D) ||
        !linear(hf + "attention.output.dense", x + "self_attn.out", D, D) ||
        !norm(hf + "attention.output.LayerNorm", x + "self_attn_norm") ||
        !linear(hf + "intermediate.dense", x + "ffn.fc1", F, D) ||
        !linear(hf + "output.dense", x + "ffn.fc2", D, F) ||
        !norm(hf + "output.LayerNorm", x + "ffn_norm"))
      return false;
  }
  // Heads and buffers: known, not imported. Pooler and heads sit beside
  // `bert.` in the task models and inside BertModel's own names.
  for (const SafetensorsEntry &entry : ckpt.entries().entries)
    for (const std::string &prefix : kBertSkippedPrefixes)
      if (startsWith(entry.name, prefix) || startsWith(entry.name, p + prefix))
        ckpt.skip(entry.name);
  return ckpt.checkAllUsed(
      "not a tensor of a BERT encoder with " + std::to_string(spec.numLayers) +
          " layers, nor of a known head (docs/hf-import.md lists the names)",
      error);
}

//===----------------------------------------------------------------------===//
// GPT-2
//===----------------------------------------------------------------------===//

/// The architectures whose body is transformers' GPT2Model; those with the
/// LM head compile to logits, the others to the last hidden state.
const std::set<std::string> kGpt2LMArchitectures = {"GPT2LMHeadModel",
                                                    "GPT2DoubleHeadsModel"};
const std::set<std::string> kGpt2Architectures = {
    "GPT2Model",
    "GPT2LMHeadModel",
    "GPT2DoubleHeadsModel",
    "GPT2ForSequenceClassification",
    "GPT2ForTokenClassification",
    "GPT2ForQuestionAnswering"};

/// Heads (other than the LM head) a GPT-2 import leaves out.
const std::vector<std::string> kGpt2SkippedPrefixes = {
    "multiple_choice_head.", "score.", "classifier.", "qa_outputs."};

bool importGpt2(ConfigReader &config, bool lmHead, const std::string &name,
                const std::string &weightsFileName, OrderedJson &spec,
                std::string &error) {
  Sizes s;
  std::string act;
  double eps = 0;
  // Defaults are GPT2Config's.
  if (!config.integer("vocab_size", 1, 1048576, 50257, s.vocab) ||
      !config.integer("n_embd", 1, 1048576, 768, s.dModel) ||
      !config.integer("n_layer", 1, 1024, 12, s.layers) ||
      !config.integer("n_head", 1, 1048576, 12, s.heads) ||
      !config.integer("n_positions", 1, 1048576, 1024, s.maxLen) ||
      !config.positive("layer_norm_epsilon", 1e-5, eps) ||
      !config.string("activation_function", "gelu_new", act))
    return false;
  // n_inner: null or absent means 4 · n_embd.
  if (!config.integer("n_inner", 1, 1048576, 4 * s.dModel, s.dFF))
    return false;
  const char *activation = mapActivation(act);
  if (!*activation)
    return config.fail("activation_function", kActivationsExpected,
                       "\"" + act + "\"");
  if (!config.requireBool("scale_attn_weights", true, true,
                          "attention scores are divided by sqrt(head_dim)") ||
      !config.requireBool("scale_attn_by_inverse_layer_idx", false, false,
                          "scores are not scaled by 1 / (layer index + 1)") ||
      !config.requireBool("reorder_and_upcast_attn", false, false,
                          "the reordered, upcast attention is not "
                          "implemented"))
    return false;
  bool tied = true;
  if (const Json *value = config.get("tie_word_embeddings")) {
    if (!value->is_boolean())
      return config.fail("tie_word_embeddings", "a boolean",
                         describeValue(*value));
    tied = value->get<bool>();
  }
  if (!checkCommonFields(config, /*allowDecoder=*/true))
    return false;
  // Dropout, the old name of n_positions, and the settings of the
  // classification heads (summary_*) do not act in the imported model.
  config.ignore({"attn_pdrop", "embd_pdrop", "resid_pdrop", "n_ctx",
                 "summary_type", "summary_use_proj", "summary_activation",
                 "summary_proj_to_labels", "summary_first_dropout"});

  spec["xfc_spec_version"] = 1;
  spec["name"] = name;
  spec["kind"] = "decoder";
  spec["vocab_size"] = s.vocab;
  spec["d_model"] = s.dModel;
  spec["num_heads"] = s.heads;
  spec["d_ff"] = s.dFF;
  spec["num_layers"] = s.layers;
  spec["max_seq_len"] = s.maxLen;
  spec["norm_placement"] = "pre";
  spec["layer_norm_epsilon"] = eps;
  spec["final_norm"] = true;
  spec["activation"] = activation;
  spec["positional_encoding"] = "learned";
  spec["lm_head"] = lmHead;
  // Tied unless the config unties it; readGpt2Weights checks the file
  // agrees and rewrites the spec for an untied head.
  if (lmHead)
    spec["tied_output_embedding"] = tied;
  spec["weights"] = {{"source", "safetensors"}, {"path", weightsFileName}};
  return true;
}

bool readGpt2Weights(Checkpoint &ckpt, const ModelSpec &spec, WeightStore &out,
                     std::string &error) {
  const std::string p =
      ckpt.has("transformer.wte.weight") ? "transformer." : "";
  const int64_t D = spec.dModel, F = spec.dFF;
  auto read = [&](const std::string &from, std::vector<int64_t> shape,
                  HostTensor &t) {
    return ckpt.read(p + from, shape, t, error);
  };
  auto copy = [&](const std::string &from, const std::string &to,
                  std::vector<int64_t> shape) {
    HostTensor t;
    if (!read(from, shape, t))
      return false;
    out.insert(to, std::move(t));
    return true;
  };
  // A Conv1D: weight [in, out] (transposed to [out, in]), bias [out].
  auto conv1d = [&](const std::string &from, const std::string &to,
                    int64_t inDim, int64_t outDim) {
    HostTensor w;
    if (!read(from + ".weight", {inDim, outDim}, w))
      return false;
    out.insert(to + ".weight", transposed(w));
    return copy(from + ".bias", to + ".bias", {outDim});
  };
  auto norm = [&](const std::string &from, const std::string &to) {
    return copy(from + ".weight", to + ".weight", {D}) &&
           copy(from + ".bias", to + ".bias", {D});
  };
  if (!copy("wte.weight", "decoder.embed.tokens", {spec.vocabSize, D}) ||
      !copy("wpe.weight", "decoder.embed.positions", {spec.maxSeqLen, D}))
    return false;
  for (int64_t i = 0; i < spec.numLayers; ++i) {
    const std::string hf = "h." + std::to_string(i) + ".";
    const std::string x = "decoder.layers." + std::to_string(i) + ".";
    if (!norm(hf + "ln_1", x + "self_attn_norm"))
      return false;
    // c_attn: x · W + b with W [D, 3D]; columns [0, D) are q, then k, v.
    HostTensor w, b;
    if (!read(hf + "attn.c_attn.weight", {D, 3 * D}, w) ||
        !read(hf + "attn.c_attn.bias", {3 * D}, b))
      return false;
    const char *parts[] = {"q", "k", "v"};
    for (int64_t j = 0; j < 3; ++j) {
      out.insert(x + "self_attn." + parts[j] + ".weight",
                 columnsTransposed(w, j * D, D));
      out.insert(x + "self_attn." + parts[j] + ".bias", slice1D(b, j * D, D));
    }
    if (!conv1d(hf + "attn.c_proj", x + "self_attn.out", D, D) ||
        !norm(hf + "ln_2", x + "ffn_norm") ||
        !conv1d(hf + "mlp.c_fc", x + "ffn.fc1", D, F) ||
        !conv1d(hf + "mlp.c_proj", x + "ffn.fc2", F, D))
      return false;
    // The causal-mask buffers older checkpoints saved.
    for (const char *buffer : {"attn.bias", "attn.masked_bias"})
      if (ckpt.has(p + hf + buffer))
        ckpt.skip(p + hf + buffer);
  }
  if (!norm("ln_f", "decoder.final_norm"))
    return false;

  if (ckpt.has("lm_head.weight")) {
    HostTensor head;
    if (!ckpt.read("lm_head.weight", {spec.vocabSize, D}, head, error))
      return false;
    const HostTensor *tokens = out.find("decoder.embed.tokens");
    bool same = tokens->data == head.data;
    if (spec.lmHead && !spec.tiedOutputEmbedding) {
      out.insert("lm_head.weight", std::move(head));
    } else if (spec.lmHead && !same) {
      error = ckpt.filePath() + ": tensor \"lm_head.weight\" differs from \"" +
              p +
              "wte.weight\", expected the same values (config.json has "
              "tie_word_embeddings true, so transformers would replace it by "
              "the token embedding)";
      return false;
    }
  } else if (spec.lmHead && !spec.tiedOutputEmbedding) {
    error = ckpt.filePath() + ": missing tensor \"lm_head.weight\" (expected " +
            shapeText({spec.vocabSize, D}) +
            "; config.json has tie_word_embeddings false)";
    return false;
  }
  for (const SafetensorsEntry &entry : ckpt.entries().entries)
    for (const std::string &prefix : kGpt2SkippedPrefixes)
      if (startsWith(entry.name, prefix))
        ckpt.skip(entry.name);
  return ckpt.checkAllUsed("not a tensor of a GPT-2 model with " +
                               std::to_string(spec.numLayers) +
                               " layers, nor of a known head "
                               "(docs/hf-import.md lists the names)",
                           error);
}

//===----------------------------------------------------------------------===//
// Folders
//===----------------------------------------------------------------------===//

/// What a sentence-transformers folder (modules.json) adds to the model.
struct SentenceTransformers {
  std::string modelDir;      ///< The Transformer module's folder.
  PoolingSpec pooling;       ///< From the Pooling and Normalize modules.
  int64_t poolingWidth = -1; ///< word_embedding_dimension, if given.
  std::string poolingConfig; ///< The Pooling module's config.json.
};

/// The pooling modes of sentence-transformers' Pooling config that xfc
/// does not implement (each must be false or absent).
const char *const kUnsupportedPoolingModes[] = {
    "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"};

/// Reads a Pooling module's config.json into `st.pooling` (mean or cls).
bool readPoolingConfig(const std::string &path, SentenceTransformers &st,
                       std::string &error) {
  Json config;
  if (!readJsonFile(path, config, error))
    return false;
  st.poolingConfig = path;
  auto flag = [&](const char *key, bool &out) {
    out = false;
    if (!config.contains(key) || config[key].is_null())
      return true;
    if (!config[key].is_boolean()) {
      error = path + ": at $." + key + ": expected true or false, found " +
              describeValue(config[key]);
      return false;
    }
    out = config[key].get<bool>();
    return true;
  };
  bool cls = false, mean = false;
  if (!flag("pooling_mode_cls_token", cls) ||
      !flag("pooling_mode_mean_tokens", mean))
    return false;
  for (const char *key : kUnsupportedPoolingModes) {
    bool on = false;
    if (!flag(key, on))
      return false;
    if (on) {
      error = path + ": at $." + key +
              ": expected false (xfc implements mean and cls pooling only), "
              "found true";
      return false;
    }
  }
  if (cls && mean) {
    error = path +
            ": at $.pooling_mode_cls_token: expected one of "
            "pooling_mode_cls_token and pooling_mode_mean_tokens to be true "
            "(xfc does not concatenate poolings), found both true";
    return false;
  }
  if (!cls && !mean) {
    error = path + ": at $: expected pooling_mode_mean_tokens or "
                   "pooling_mode_cls_token to be true, found no pooling mode";
    return false;
  }
  st.pooling.mode = cls ? PoolingMode::Cls : PoolingMode::Mean;
  if (config.contains("word_embedding_dimension")) {
    const Json &width = config["word_embedding_dimension"];
    if (!width.is_number_integer() || width.get<int64_t>() < 1) {
      error = path +
              ": at $.word_embedding_dimension: expected a positive "
              "integer, found " +
              describeValue(width);
      return false;
    }
    st.poolingWidth = width.get<int64_t>();
  }
  return true;
}

/// A sentence-transformers folder (modules.json): Transformer, then
/// optionally Pooling, then optionally Normalize; any other module would
/// change the embedding and is refused.
bool readSentenceTransformers(const std::string &dir, SentenceTransformers &st,
                              std::string &error) {
  const std::string path = dir + "/modules.json";
  Json modules;
  if (!readJsonFile(path, modules, error))
    return false;
  if (!modules.is_array()) {
    error = path + ": at $: expected a list of modules, found " +
            describeValue(modules);
    return false;
  }
  bool found = false, pooled = false;
  for (size_t i = 0; i < modules.size(); ++i) {
    const Json &module = modules[i];
    const std::string at = "$[" + std::to_string(i) + "]";
    if (!module.is_object() || !module.contains("type") ||
        !module["type"].is_string() ||
        (module.contains("path") && !module["path"].is_string())) {
      error = path + ": at " + at +
              ": expected an object with a string \"type\" and \"path\", "
              "found " +
              describeValue(module);
      return false;
    }
    const std::string type = module["type"].get<std::string>();
    const std::string sub = module.value("path", std::string());
    if (type == "sentence_transformers.models.Transformer") {
      if (found) {
        error = path + ": at " + at +
                ": expected one Transformer module, found a second one";
        return false;
      }
      found = true;
      st.modelDir = sub.empty() ? dir : dir + "/" + sub;
      continue;
    }
    const std::string kPooling = "sentence_transformers.models.Pooling";
    const std::string kNormalize = "sentence_transformers.models.Normalize";
    // The order the embedding is computed in: pooling reads the hidden
    // states, normalization the pooled vector.
    if (type == kPooling && found && !pooled && !st.pooling.normalize) {
      if (!readPoolingConfig(dir + "/" + sub + "/config.json", st, error))
        return false;
      pooled = true;
      continue;
    }
    if (type == kNormalize && pooled && !st.pooling.normalize) {
      st.pooling.normalize = true;
      continue;
    }
    error = path + ": at " + at + ".type: expected " +
            (!found    ? "\"sentence_transformers.models.Transformer\" first"
             : !pooled ? "\"" + kPooling + "\" after the Transformer"
             : !st.pooling.normalize
                 ? "\"" + kNormalize + "\" after the Pooling module"
                 : std::string("no module after Normalize")) +
            " (xfc computes Transformer, Pooling, Normalize), found \"" + type +
            "\"";
    return false;
  }
  if (!found) {
    error = path + ": expected a module of type "
                   "\"sentence_transformers.models.Transformer\", found none";
    return false;
  }
  return true;
}

/// Why a folder without model.safetensors cannot be imported.
std::string missingSafetensors(const std::string &dir) {
  const std::string st = dir + "/model.safetensors";
  if (fs::exists(dir + "/model.safetensors.index.json"))
    return st +
           ": not found; the checkpoint is sharded "
           "(model.safetensors.index.json), expected one model.safetensors: "
           "merge it with python3 -c \"from transformers import AutoModel; "
           "AutoModel.from_pretrained('" +
           dir + "').save_pretrained('" + dir +
           "', safe_serialization=True, max_shard_size='1000GB')\"";
  if (fs::exists(dir + "/pytorch_model.bin"))
    return st +
           ": not found, expected model.safetensors; the folder has only "
           "pytorch_model.bin, a pickle, which xfc does not read (loading a "
           "pickle can execute code). Convert it (only if you trust the "
           "file) with python3 -c \"import torch; from safetensors.torch "
           "import save_file; sd = torch.load('" +
           dir +
           "/pytorch_model.bin', map_location='cpu', "
           "weights_only=True); save_file({k: v.clone().contiguous() "
           "for k, v in sd.items()}, '" +
           dir + "/model.safetensors', metadata={'format': 'pt'})\"";
  return st + ": not found, expected the weights of the checkpoint there";
}

} // namespace

bool isHfCheckpointDir(const std::string &path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && (fs::exists(path + "/config.json", ec) ||
                                        fs::exists(path + "/modules.json", ec));
}

std::string hfWeightsPathFor(const std::string &specPath) {
  const std::string suffix = ".json";
  std::string stem = specPath;
  if (stem.size() > suffix.size() &&
      stem.compare(stem.size() - suffix.size(), suffix.size(), suffix) == 0)
    stem.resize(stem.size() - suffix.size());
  return stem + ".weights.safetensors";
}

bool importHfCheckpoint(const std::string &dir, const std::string &name,
                        const std::string &weightsFileName, HfImport &out,
                        std::string &error) {
  out = HfImport();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    error = dir +
            ": expected a checkpoint folder (config.json and "
            "model.safetensors), found " +
            (fs::exists(dir, ec) ? "a file" : "nothing");
    return false;
  }
  SentenceTransformers st;
  st.modelDir = dir;
  if (fs::exists(dir + "/modules.json", ec) &&
      !readSentenceTransformers(dir, st, error))
    return false;
  const std::string &modelDir = st.modelDir;

  const std::string configPath = modelDir + "/config.json";
  if (!fs::exists(configPath, ec)) {
    error = configPath + ": not found, expected the model's config.json";
    return false;
  }
  Json config;
  if (!readJsonFile(configPath, config, error))
    return false;
  ConfigReader reader(config, configPath, error);

  std::string modelType;
  if (!reader.string("model_type", "", modelType))
    return false;
  if (modelType != "bert" && modelType != "gpt2")
    return reader.fail("model_type", "\"bert\" or \"gpt2\"",
                       modelType.empty() ? std::string("nothing (missing)")
                                         : "\"" + modelType + "\"");
  const bool bert = modelType == "bert";
  // architectures: optional; each must be a model over the same body.
  bool lmHead = true;
  if (const Json *archs = reader.get("architectures")) {
    const std::set<std::string> &known =
        bert ? kBertArchitectures : kGpt2Architectures;
    std::string names;
    for (const std::string &arch : known)
      names += (names.empty() ? "\"" : ", \"") + arch + "\"";
    if (!archs->is_array() || archs->empty())
      return reader.fail("architectures", "a non-empty list of " + names,
                         describeValue(*archs));
    lmHead = false;
    for (size_t i = 0; i < archs->size(); ++i) {
      const Json &arch = (*archs)[i];
      if (!arch.is_string() || !known.count(arch.get<std::string>()))
        return reader.fail("architectures[" + std::to_string(i) + "]",
                           "one of " + names, describeValue(arch));
      lmHead = lmHead || kGpt2LMArchitectures.count(arch.get<std::string>());
    }
  }
  std::string specName = name;
  if (specName.empty()) {
    fs::path folder = fs::path(dir).lexically_normal();
    if (!folder.has_filename())
      folder = folder.parent_path();
    specName = fs::absolute(folder, ec).filename().string();
    if (specName.empty())
      specName = "model";
  }
  const std::string weightsFile = weightsFileName.empty()
                                      ? specName + ".weights.safetensors"
                                      : weightsFileName;
  OrderedJson spec;
  if (bert ? !importBert(reader, specName, weightsFile, spec, error)
           : !importGpt2(reader, lmHead, specName, weightsFile, spec, error))
    return false;
  if (st.pooling.enabled()) {
    // The Pooling module pools vectors of the Transformer's width.
    const int64_t width = spec["d_model"].get<int64_t>();
    if (st.poolingWidth >= 0 && st.poolingWidth != width) {
      error = st.poolingConfig + ": at $.word_embedding_dimension: expected " +
              std::to_string(width) + " (the model's " +
              (bert ? "hidden_size" : "n_embd") + "), found " +
              std::to_string(st.poolingWidth);
      return false;
    }
    spec["pooling"] = {
        {"mode", st.pooling.mode == PoolingMode::Cls ? "cls" : "mean"},
        {"normalize", st.pooling.normalize}};
  }
  reader.ignore({"model_type", "architectures"});
  std::vector<std::string> unread = reader.unread();
  if (!unread.empty()) {
    std::string note = configPath + ": fields not used by transformers' " +
                       (bert ? "BertModel" : "GPT2Model") + ", ignored:";
    for (const std::string &key : unread)
      note += " " + key;
    out.notes.push_back(note);
  }

  const std::string checkpointPath = modelDir + "/model.safetensors";
  if (!fs::exists(checkpointPath, ec)) {
    error = missingSafetensors(modelDir);
    return false;
  }

  // The spec is checked by the spec parser before any tensor is converted:
  // sizes beyond its limits never reach an allocation.
  out.specJson = spec.dump(2) + "\n";
  SpecError specError;
  if (!parseModelSpec(out.specJson, modelDir, out.spec, specError)) {
    error =
        configPath + ": the imported spec is not valid: " + specError.message();
    return false;
  }

  // The text tokenizer, recorded in artifacts compiled from the folder.
  if (bert) {
    std::string tokenizerError;
    out.hasTokenizer = readHfTokenizer(modelDir, out.spec.maxSeqLen,
                                       out.tokenizer, tokenizerError);
    // Without vocab.txt the artifact takes token ids only.
    if (!tokenizerError.empty()) {
      error = tokenizerError;
      return false;
    }
  }

  Checkpoint checkpoint;
  if (!checkpoint.open(checkpointPath, error))
    return false;
  try {
    if (!(bert ? readBertWeights(checkpoint, out.spec, out.weights, error)
               : readGpt2Weights(checkpoint, out.spec, out.weights, error)))
      return false;
  } catch (const std::bad_alloc &) {
    error = checkpointPath + ": not enough memory to convert the weights";
    return false;
  }
  return true;
}

bool writeHfImport(const HfImport &imported, const std::string &specPath,
                   bool force, std::string &error) {
  const std::string weightsPath = hfWeightsPathFor(specPath);
  std::error_code ec;
  for (const std::string &path : {specPath, weightsPath}) {
    if (!force && fs::exists(fs::symlink_status(path, ec))) {
      error = path + " exists; pass --force to replace it";
      return false;
    }
    if (fs::is_directory(path, ec)) {
      error = path + " is a folder, expected a file path";
      return false;
    }
  }
  const bool weightsExisted = fs::exists(weightsPath, ec);
  std::vector<SafetensorsTensor> tensors;
  for (const WeightDecl &decl : listWeights(imported.spec)) {
    const HostTensor *t = imported.weights.find(decl.name);
    if (!t) {
      error = "internal: the import produced no tensor \"" + decl.name + "\"";
      return false;
    }
    tensors.push_back({decl.name, "F32", t->shape, t->data.data(),
                       t->data.size() * sizeof(float)});
  }
  if (!writeSafetensors(weightsPath, tensors, {{"format", "xfc"}}, error))
    return false;
  // The spec names the weights file written here, relative to itself,
  // whatever name the import was given.
  OrderedJson spec = OrderedJson::parse(imported.specJson);
  spec["weights"]["path"] = fs::path(weightsPath).filename().string();
  const std::string specText = spec.dump(2) + "\n";
  bool ok = writeFileAtomically(specPath, error, [&](AtomicFileWriter &out) {
    return out.write(specText.data(), specText.size());
  });
  // Whole or not at all: a spec that could not be written takes its new
  // weights file with it.
  if (!ok && !weightsExisted)
    fs::remove(weightsPath, ec);
  return ok;
}

} // namespace xfc
