//===- Manifest.cpp - The artifact's manifest.json ------------------------===//
//
// Part of xfc. This file implements parseManifest: it reads manifest.json
// with nlohmann_json and checks it field by field. Errors name the JSON path
// of the offending field, what was expected and what was found, because the
// person reading them usually has the file open next to the message.
//
//===----------------------------------------------------------------------===//

#include "Manifest.h"

#include "support/JsonDescribe.h"
#include "xfc/Support/JsonDepth.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <limits>
#include <set>

namespace xfc {

namespace {

using Json = nlohmann::json;

/// Thrown by the checks below and turned into a status by parseManifest;
/// exceptions keep the many small checks free of error plumbing.
struct ManifestError {
  xfc_status_code code;
  std::string message;
};

/// What an error message says was found (see describeJson).
std::string describe(const Json &value) { return describeJson(value, 60); }

[[noreturn]] void fail(const std::string &path, const std::string &expected,
                       const Json &found) {
  throw ManifestError{XFC_INVALID_ARTIFACT, "manifest.json: at " + path +
                                                ": expected " + expected +
                                                ", found " + describe(found)};
}

[[noreturn]] void failMessage(const std::string &path,
                              const std::string &message) {
  throw ManifestError{XFC_INVALID_ARTIFACT,
                      "manifest.json: at " + path + ": " + message};
}

/// The member `key` of the object `object` (at `path`); throws if absent.
const Json &member(const Json &object, const std::string &path,
                   const std::string &key) {
  auto it = object.find(key);
  if (it == object.end())
    failMessage(path, "missing required field \"" + key + "\"");
  return *it;
}

const Json &requireObject(const Json &value, const std::string &path) {
  if (!value.is_object())
    fail(path, "an object", value);
  return value;
}

std::string getString(const Json &object, const std::string &path,
                      const std::string &key) {
  const Json &value = member(object, path, key);
  if (!value.is_string())
    fail(path + "." + key, "a string", value);
  return value.get<std::string>();
}

/// Optional string member; "" when absent.
std::string getOptionalString(const Json &object, const std::string &path,
                              const std::string &key) {
  if (!object.contains(key))
    return "";
  return getString(object, path, key);
}

/// True and `out` set if `value` is an integer (not a float or bool).
/// "none", "transpose" or "pack<p>" with a positive decimal p.
bool isKnownWeightTransform(const Json &value) {
  const std::string &t = value.get_ref<const std::string &>();
  if (t == "none" || t == "transpose")
    return true;
  if (t.size() <= 4 || t.compare(0, 4, "pack") != 0 || t[4] == '0' ||
      t.size() > 4 + 9)
    return false;
  for (size_t i = 4; i < t.size(); ++i)
    if (t[i] < '0' || t[i] > '9')
      return false;
  return true;
}

bool asInt64(const Json &value, int64_t &out) {
  if (value.is_number_unsigned()) {
    uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return false;
    out = static_cast<int64_t>(v);
    return true;
  }
  if (value.is_number_integer()) {
    out = value.get<int64_t>();
    return true;
  }
  return false;
}

int64_t getInt(const Json &object, const std::string &path,
               const std::string &key) {
  const Json &value = member(object, path, key);
  int64_t out = 0;
  if (!asInt64(value, out))
    fail(path + "." + key, "an integer", value);
  return out;
}

uint64_t getNonNegative(const Json &object, const std::string &path,
                        const std::string &key) {
  const Json &value = member(object, path, key);
  int64_t out = 0;
  if (!asInt64(value, out) || out < 0)
    fail(path + "." + key, "a non-negative integer", value);
  return static_cast<uint64_t>(out);
}

std::vector<int64_t> getShape(const Json &object, const std::string &path,
                              const std::string &key) {
  const Json &value = member(object, path, key);
  const std::string expected = "a list of non-negative integers";
  if (!value.is_array())
    fail(path + "." + key, expected, value);
  std::vector<int64_t> shape;
  for (const Json &dim : value) {
    int64_t d = 0;
    if (!asInt64(dim, d) || d < 0)
      fail(path + "." + key, expected, value);
    shape.push_back(d);
  }
  return shape;
}

/// The dtype of a tensor; f16 and bf16 only where `halfTypes` (weights).
xfc_dtype getDtype(const Json &object, const std::string &path,
                   bool halfTypes = false) {
  const Json &value = member(object, path, "dtype");
  if (value == "f32")
    return XFC_DTYPE_F32;
  if (value == "i32")
    return XFC_DTYPE_I32;
  if (halfTypes && value == "f16")
    return XFC_DTYPE_F16;
  if (halfTypes && value == "bf16")
    return XFC_DTYPE_BF16;
  fail(path + ".dtype",
       halfTypes ? "\"f32\", \"i32\", \"f16\" or \"bf16\""
                 : "\"f32\" or \"i32\"",
       value);
}

/// Bytes of a dense tensor; throws if the size does not fit in 64 bits.
uint64_t denseBytes(const std::vector<int64_t> &shape, xfc_dtype dtype,
                    const std::string &path) {
  uint64_t bytes = xfc_dtype_size(dtype);
  for (int64_t dim : shape)
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes))
      failMessage(path + ".shape", "the tensor's byte size overflows 64 bits");
  return bytes;
}

/// A file name that stays inside the artifact folder: no separators, not
/// "." or "..", so a manifest cannot make the runtime load or map a file
/// elsewhere.
std::string getPlainFileName(const Json &object, const std::string &path,
                             const std::string &key) {
  const Json &value = member(object, path, key);
  if (!value.is_string())
    fail(path + "." + key, "a plain file name inside the artifact folder",
         value);
  std::string name = value.get<std::string>();
  if (name.empty() || name == "." || name == ".." ||
      name.find('/') != std::string::npos ||
      name.find('\\') != std::string::npos ||
      name.find('\0') != std::string::npos)
    fail(path + "." + key,
         "a plain file name inside the artifact folder (no \"/\", not \"..\")",
         value);
  return name;
}

/// A checksum as the manifest spells it: 16 lowercase hex digits.
uint64_t getChecksum(const Json &object, const std::string &path,
                     const std::string &key) {
  std::string text = getString(object, path, key);
  bool hex = text.size() == 16 &&
             text.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!hex)
    fail(path + "." + key, "16 lowercase hex digits", object.at(key));
  return std::stoull(text, nullptr, 16);
}

const Json &getArray(const Json &object, const std::string &path,
                     const std::string &key) {
  const Json &value = member(object, path, key);
  if (!value.is_array())
    fail(path + "." + key, "a list", value);
  return value;
}

std::string getName(const Json &object, const std::string &path,
                    std::set<std::string> &seen) {
  std::string name = getString(object, path, "name");
  if (name.empty())
    fail(path + ".name", "a non-empty string", object.at("name"));
  if (!seen.insert(name).second)
    fail(path + ".name", "a name not used by another input or output",
         object.at("name"));
  return name;
}

/// The role named `text` ("batch", "seq_len", "tgt_len"), or false.
bool dimRole(const Json &value, xfc_dim &out) {
  if (value == "batch")
    out = XFC_DIM_BATCH;
  else if (value == "seq_len")
    out = XFC_DIM_SEQ_LEN;
  else if (value == "tgt_len")
    out = XFC_DIM_TGT_LEN;
  else
    return false;
  return true;
}

/// Reads a tensor's `dims` (and `lengths_of`): one entry per dimension,
/// a role name or the fixed size itself, which must be the shape's.
void parseDims(const Json &item, const std::string &path,
               ManifestTensor &tensor, bool isInput) {
  const Json &dims = getArray(item, path, "dims");
  const std::string expected =
      "a list of " + std::to_string(tensor.shape.size()) +
      " entries (one per dimension), each \"batch\", \"seq_len\", "
      "\"tgt_len\" or the dimension's fixed size";
  if (dims.size() != tensor.shape.size())
    fail(path + ".dims", expected, dims);
  for (size_t d = 0; d < dims.size(); ++d) {
    xfc_dim role = XFC_DIM_FIXED;
    int64_t size = 0;
    if (!dimRole(dims[d], role) &&
        !(asInt64(dims[d], size) && size == tensor.shape[d]))
      fail(path + ".dims[" + std::to_string(d) + "]",
           "\"batch\", \"seq_len\", \"tgt_len\" or " +
               std::to_string(tensor.shape[d]) + " (the fixed size)",
           dims[d]);
    tensor.dims.push_back(role);
  }
  if (!item.contains("lengths_of"))
    return;
  xfc_dim of = XFC_DIM_FIXED;
  if (!dimRole(item.at("lengths_of"), of) || of == XFC_DIM_BATCH)
    fail(path + ".lengths_of", "\"seq_len\" or \"tgt_len\"",
         item.at("lengths_of"));
  if (!isInput || tensor.dtype != XFC_DTYPE_I32 || tensor.dims.size() != 1 ||
      tensor.dims[0] != XFC_DIM_BATCH)
    failMessage(path, "\"lengths_of\" is allowed only on an i32 input of "
                      "dims [\"batch\"]");
  tensor.lengthsOf = of;
}

std::vector<ManifestTensor> parseTensors(const Json &root,
                                         const std::string &key, bool isInput,
                                         std::set<std::string> &seen) {
  std::vector<ManifestTensor> out;
  const Json &list = getArray(root, "$", key);
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = "$." + key + "[" + std::to_string(i) + "]";
    const Json &item = requireObject(list[i], path);
    ManifestTensor tensor;
    tensor.name = getName(item, path, seen);
    tensor.dtype = getDtype(item, path);
    tensor.shape = getShape(item, path, "shape");
    if (tensor.shape.size() > XFC_MAX_RANK)
      fail(path + ".shape",
           "at most " + std::to_string(XFC_MAX_RANK) + " dimensions",
           item.at("shape"));
    tensor.sizeBytes = denseBytes(tensor.shape, tensor.dtype, path);
    bool hasRange = item.contains("min") || item.contains("max");
    if (hasRange && (!isInput || tensor.dtype != XFC_DTYPE_I32))
      failMessage(path, "\"min\"/\"max\" are allowed only on integer inputs");
    // Bounds of i32 values must themselves be i32: anything wider means a
    // corrupted manifest, and would overflow range arithmetic downstream.
    auto getI32Bound = [&](const char *key) {
      int64_t v = getInt(item, path, key);
      if (v < INT32_MIN || v > INT32_MAX)
        fail(path + "." + key, "an int32 value", item.at(key));
      return v;
    };
    if (item.contains("min"))
      tensor.min = getI32Bound("min");
    if (item.contains("max"))
      tensor.max = getI32Bound("max");
    if (tensor.min && tensor.max && *tensor.min > *tensor.max)
      failMessage(path, "expected min <= max, found min " +
                            std::to_string(*tensor.min) + " and max " +
                            std::to_string(*tensor.max));
    if (item.contains("dims"))
      parseDims(item, path, tensor, isInput);
    out.push_back(std::move(tensor));
  }
  return out;
}

std::vector<ManifestWeight> parseWeights(const Json &root) {
  std::vector<ManifestWeight> out;
  std::set<std::string> seen;
  const Json &list = getArray(root, "$", "weights");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = "$.weights[" + std::to_string(i) + "]";
    const Json &item = requireObject(list[i], path);
    ManifestWeight weight;
    weight.name = getString(item, path, "name");
    if (weight.name.empty())
      fail(path + ".name", "a non-empty string", item.at("name"));
    if (!seen.insert(weight.name).second)
      fail(path + ".name", "a name not used by another weight",
           item.at("name"));
    weight.dtype = getDtype(item, path, /*halfTypes=*/true);
    weight.shape = getShape(item, path, "shape");
    weight.offset = getNonNegative(item, path, "offset");
    weight.sizeBytes = getNonNegative(item, path, "size_bytes");
    uint64_t expected = denseBytes(weight.shape, weight.dtype, path);
    if (weight.sizeBytes != expected)
      fail(path + ".size_bytes",
           std::to_string(expected) + " (the byte size of the shape)",
           item.at("size_bytes"));
    if (item.contains("source_shape"))
      weight.sourceShape = getShape(item, path, "source_shape");
    weight.checksum = getChecksum(item, path, "fnv1a64");
    weight.transform = "none";
    if (item.contains("transform")) {
      const Json &transform = item.at("transform");
      if (!transform.is_string() || !isKnownWeightTransform(transform))
        fail(path + ".transform",
             "\"none\", \"transpose\" or \"pack<p>\" (p > 0)", transform);
      weight.transform = transform.get<std::string>();
    }
    out.push_back(std::move(weight));
  }
  return out;
}

/// A C identifier: what a kernel's symbol must be to name a function.
bool isIdentifier(const std::string &text) {
  if (text.empty() || (text[0] >= '0' && text[0] <= '9'))
    return false;
  for (char c : text)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

std::vector<ManifestKernel> parseKernels(const Json &root) {
  std::vector<ManifestKernel> out;
  std::set<std::string> symbols;
  const Json &list = getArray(root, "$", "kernels");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = "$.kernels[" + std::to_string(i) + "]";
    const Json &item = requireObject(list[i], path);
    // Kernels are indexed by id: the profile buffer's slots follow it.
    int64_t id = getInt(item, path, "id");
    if (id != static_cast<int64_t>(i))
      fail(path + ".id", std::to_string(i) + " (the kernel's index)",
           item.at("id"));
    ManifestKernel kernel;
    kernel.name = getString(item, path, "name");
    if (kernel.name.empty())
      fail(path + ".name", "a non-empty string", item.at("name"));
    kernel.symbol = getString(item, path, "symbol");
    if (!isIdentifier(kernel.symbol))
      fail(path + ".symbol", "a C identifier", item.at("symbol"));
    if (!symbols.insert(kernel.symbol).second)
      fail(path + ".symbol", "a symbol not used by another kernel",
           item.at("symbol"));
    kernel.kind = getString(item, path, "kind");
    const Json &nodes = getArray(item, path, "nodes");
    for (size_t n = 0; n < nodes.size(); ++n) {
      if (!nodes[n].is_string())
        fail(path + ".nodes[" + std::to_string(n) + "]",
             "a spec node name string", nodes[n]);
      kernel.nodes.push_back(nodes[n].get<std::string>());
    }
    kernel.flops = getNonNegative(item, path, "flops");
    kernel.bytes = getNonNegative(item, path, "bytes");
    out.push_back(std::move(kernel));
  }
  return out;
}

/// Reads `segment_memory` and moves the tensors it names from the end of
/// `inputs`/`outputs` into `out.segmentMemory`: the length input and each
/// layer's memory must be the last inputs in that order, the next memories
/// the last outputs, all of matching shapes, so the runtime can fill them
/// with no further checks.
void parseSegmentMemory(const Json &section, Manifest &out) {
  const std::string path = "$.segment_memory";
  requireObject(section, path);
  ManifestSegmentMemory &memory = out.segmentMemory;
  memory.memoryLength = getInt(section, path, "memory_length");
  if (memory.memoryLength < 1)
    fail(path + ".memory_length", "a positive integer",
         section.at("memory_length"));
  memory.segmentLength = getInt(section, path, "segment_length");
  if (memory.segmentLength < 1)
    fail(path + ".segment_length", "a positive integer",
         section.at("segment_length"));
  std::string lengthName = getString(section, path, "length_input");
  const Json &inputs = getArray(section, path, "inputs");
  const Json &outputs = getArray(section, path, "outputs");
  if (inputs.empty() || inputs.size() != outputs.size())
    fail(path + ".outputs",
         "as many next memories as memories (" + std::to_string(inputs.size()) +
             "), at least one",
         outputs);
  // The names, in entry point order, that must end the inputs.
  std::vector<std::string> inputNames{lengthName}, outputNames;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string at = "[" + std::to_string(i) + "]";
    if (!inputs[i].is_string())
      fail(path + ".inputs" + at, "a tensor name string", inputs[i]);
    if (!outputs[i].is_string())
      fail(path + ".outputs" + at, "a tensor name string", outputs[i]);
    inputNames.push_back(inputs[i].get<std::string>());
    outputNames.push_back(outputs[i].get<std::string>());
  }
  auto takeTail = [&](std::vector<ManifestTensor> &list,
                      const std::vector<std::string> &names, const char *key) {
    std::vector<ManifestTensor> tail;
    if (list.size() < names.size())
      fail(std::string("$.") + key,
           "at least " + std::to_string(names.size()) +
               " tensors (the segment memory's come last)",
           Json(list.size()));
    size_t first = list.size() - names.size();
    for (size_t i = 0; i < names.size(); ++i) {
      const ManifestTensor &tensor = list[first + i];
      if (tensor.name != names[i])
        fail(std::string("$.") + key + "[" + std::to_string(first + i) + "]",
             "segment memory tensor '" + names[i] +
                 "' (they come last, in segment_memory's order)",
             "'" + tensor.name + "'");
      tail.push_back(tensor);
    }
    list.resize(first);
    return tail;
  };
  std::vector<ManifestTensor> inputTail =
      takeTail(out.inputs, inputNames, "inputs");
  memory.outputs = takeTail(out.outputs, outputNames, "outputs");
  memory.lengthInput = inputTail.front();
  memory.inputs.assign(inputTail.begin() + 1, inputTail.end());
  const ManifestTensor &length = memory.lengthInput;
  if (length.dtype != XFC_DTYPE_I32 || length.shape.size() != 1)
    fail(path + ".length_input", "an i32 input of shape [batch]",
         Json(length.name));
  std::vector<int64_t> layerShape = memory.inputs.front().shape;
  if (layerShape.size() != 3 || layerShape[0] != length.shape[0] ||
      layerShape[1] != memory.memoryLength)
    fail(path + ".inputs[0]",
         "an f32 [batch, memory_length, d_model] tensor with batch " +
             std::to_string(length.shape[0]) + " and memory_length " +
             std::to_string(memory.memoryLength),
         Json(memory.inputs.front().name));
  for (size_t i = 0; i < memory.inputs.size(); ++i) {
    for (const ManifestTensor *tensor : {&memory.inputs[i], &memory.outputs[i]})
      if (tensor->dtype != XFC_DTYPE_F32 || tensor->shape != layerShape)
        fail(path, "every memory and next memory of the shape of the first",
             Json(tensor->name));
  }
}

/// Reads `buckets` (format 6): each a shape, its entry point and
/// signature symbols and its arena, smallest first; the last is the shape
/// the top level describes. Every input and output must then have dims.
void parseBuckets(const Json &list, Manifest &out) {
  const std::string path = "$.buckets";
  if (!list.is_array() || list.empty())
    fail(path, "a non-empty list of buckets", list);
  std::set<std::string> symbols;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string at = path + "[" + std::to_string(i) + "]";
    const Json &item = requireObject(list[i], at);
    ManifestBucket bucket;
    auto positive = [&](const char *key) {
      int64_t v = getInt(item, at, key);
      if (v < 1)
        fail(at + "." + key, "a positive integer", item.at(key));
      return v;
    };
    bucket.batch = positive("batch");
    bucket.seqLen = positive("seq_len");
    bucket.tgtLen = positive("tgt_len");
    for (auto [key, field] : {std::pair<const char *, std::string *>{
                                  "entry_symbol", &bucket.entrySymbol},
                              {"signature_symbol", &bucket.signatureSymbol}}) {
      *field = getString(item, at, key);
      if (!isIdentifier(*field) || !symbols.insert(*field).second)
        fail(at + "." + key, "a C identifier not used by another bucket",
             item.at(key));
    }
    bucket.arenaBytes = getNonNegative(item, at, "arena_bytes");
    if (bucket.arenaBytes > out.arenaBytes)
      fail(at + ".arena_bytes",
           "at most memory_plan.arena_bytes (" +
               std::to_string(out.arenaBytes) +
               "; one arena serves every bucket)",
           item.at("arena_bytes"));
    out.buckets.push_back(std::move(bucket));
  }
  const ManifestBucket &last = out.buckets.back();
  if (last.entrySymbol != out.entrySymbol)
    fail(path + "[" + std::to_string(list.size() - 1) + "].entry_symbol",
         "the top-level entry_symbol '" + out.entrySymbol +
             "' (the last bucket is the one the top level describes)",
         list.back().at("entry_symbol"));
  xfc_run_shape shape{last.batch, last.seqLen, last.tgtLen};
  auto checkTensors = [&](const std::vector<ManifestTensor> &tensors,
                          const char *key) {
    for (size_t i = 0; i < tensors.size(); ++i) {
      std::string at = std::string("$.") + key + "[" + std::to_string(i) + "]";
      if (tensors[i].dims.size() != tensors[i].shape.size())
        failMessage(at, "missing \"dims\" (required with buckets)");
      if (shapeAt(tensors[i], shape) != tensors[i].shape)
        failMessage(at, "\"shape\" is not the last bucket's shape of its "
                        "\"dims\"");
    }
  };
  checkTensors(out.inputs, "inputs");
  checkTensors(out.outputs, "outputs");
  // Every bucket's byte sizes fit in 64 bits, so the runtime computes
  // them without further checks.
  for (size_t i = 0; i < out.buckets.size(); ++i) {
    const ManifestBucket &b = out.buckets[i];
    xfc_run_shape at{b.batch, b.seqLen, b.tgtLen};
    std::string where = path + "[" + std::to_string(i) + "]";
    for (const std::vector<ManifestTensor> *list : {&out.inputs, &out.outputs})
      for (const ManifestTensor &tensor : *list)
        denseBytes(shapeAt(tensor, at), tensor.dtype, where);
  }
}

/// The "gpu" object of a GPU artifact (docs/gpu.md, "Artifact").
void parseGpu(const Json &gpu, Manifest &out) {
  const std::string path = "$.gpu";
  requireObject(gpu, path);
  ManifestGpu &device = out.gpu;
  device.chip = getString(gpu, path, "chip");
  if (device.chip != "sm_80" && device.chip != "sm_90" &&
      device.chip != "sm_90a")
    fail(path + ".chip", "sm_80, sm_90 or sm_90a", gpu.at("chip"));
  // "M.m", one digit each, as PTX's .version directive writes it.
  std::string version = getString(gpu, path, "ptx_version");
  if (version.size() != 3 || !std::isdigit((unsigned char)version[0]) ||
      version[1] != '.' || !std::isdigit((unsigned char)version[2]))
    fail(path + ".ptx_version", "a PTX ISA version such as \"7.8\"",
         gpu.at("ptx_version"));
  device.ptxVersion = (version[0] - '0') * 10 + (version[2] - '0');
  device.ptxBytes = getNonNegative(gpu, path, "ptx_bytes");
  if (device.ptxBytes == 0)
    fail(path + ".ptx_bytes", "a positive size", gpu.at("ptx_bytes"));
  device.cubinBytes = getNonNegative(gpu, path, "cubin_bytes");
  const Json &kernels = getArray(gpu, path, "kernels");
  if (kernels.empty())
    fail(path + ".kernels", "a non-empty list of kernel names", kernels);
  for (size_t i = 0; i < kernels.size(); ++i) {
    if (!kernels[i].is_string() || kernels[i].get<std::string>().empty())
      fail(path + ".kernels[" + std::to_string(i) + "]", "a kernel name",
           kernels[i]);
    device.kernels.push_back(kernels[i].get<std::string>());
  }
}

void parseRoot(const Json &root, Manifest &out) {
  requireObject(root, "$");
  // Format and version first: a newer manifest may differ in every other
  // field, and "unsupported version" is the useful message then.
  const Json &format = member(root, "$", "format");
  if (format != "xfc-artifact")
    fail("$.format", "\"xfc-artifact\"", format);
  const Json &version = member(root, "$", "format_version");
  int64_t v = 0;
  if (!asInt64(version, v))
    fail("$.format_version", "an integer", version);
  if (v < kOldestManifestFormatVersion || v > kManifestFormatVersion)
    throw ManifestError{
        XFC_UNSUPPORTED,
        "manifest.json: at $.format_version: this runtime reads artifact "
        "format_version " +
            std::to_string(kOldestManifestFormatVersion) + " to " +
            std::to_string(kManifestFormatVersion) + " only, found " +
            std::to_string(v) + "; recompile the model with a matching xfc"};
  out.formatVersion = v;

  out.modelName = getString(root, "$", "model_name");
  out.library = getPlainFileName(root, "$", "library");
  out.librarySizeBytes = getNonNegative(root, "$", "library_size_bytes");
  out.libraryChecksum = getChecksum(root, "$", "library_fnv1a64");
  out.entrySymbol = getString(root, "$", "entry_symbol");
  if (out.entrySymbol.empty())
    fail("$.entry_symbol", "a non-empty symbol name", root.at("entry_symbol"));
  out.weightsFile = getPlainFileName(root, "$", "weights_file");
  out.weightsSizeBytes = getNonNegative(root, "$", "weights_size_bytes");
  out.weightsHeaderChecksum = getChecksum(root, "$", "weights_header_fnv1a64");
  out.weightsChecksum = getChecksum(root, "$", "weights_fnv1a64");

  const Json &target = requireObject(member(root, "$", "target"), "$.target");
  out.target.triple = getOptionalString(target, "$.target", "triple");
  out.target.cpu = getOptionalString(target, "$.target", "cpu");
  out.target.tuneCpu = getOptionalString(target, "$.target", "tune_cpu");
  const Json &features = getArray(target, "$.target", "features");
  for (size_t i = 0; i < features.size(); ++i) {
    if (!features[i].is_string())
      fail("$.target.features[" + std::to_string(i) + "]",
           "a feature name string", features[i]);
    out.target.features.push_back(features[i].get<std::string>());
  }
  if (root.contains("compile_options")) {
    const Json &options =
        requireObject(root.at("compile_options"), "$.compile_options");
    // For messages and shaped runs of one-shape artifacts only; absent or
    // odd values just leave them unknown.
    auto optional = [&](const char *key, int64_t &field) {
      if (options.contains(key) && !asInt64(options.at(key), field))
        field = 0;
    };
    optional("batch", out.compiledBatch);
    optional("seq_len", out.compiledSeqLen);
    optional("tgt_len", out.compiledTgtLen);
  }

  std::set<std::string> ioNames;
  out.inputs = parseTensors(root, "inputs", /*isInput=*/true, ioNames);
  out.outputs = parseTensors(root, "outputs", /*isInput=*/false, ioNames);
  out.weights = parseWeights(root);

  // Only the arena size matters to the runtime; the other totals are there
  // for reports and are checked only for being numbers.
  const Json &plan =
      requireObject(member(root, "$", "memory_plan"), "$.memory_plan");
  out.arenaBytes = getNonNegative(plan, "$.memory_plan", "arena_bytes");
  getNonNegative(plan, "$.memory_plan", "naive_bytes");
  getNonNegative(plan, "$.memory_plan", "lower_bound_bytes");

  out.kernels = parseKernels(root);
  if (root.contains("segment_memory")) {
    if (v < 5)
      fail("$.segment_memory",
           "no segment_memory in format_version " + std::to_string(v) +
               " (it is new in 5)",
           root.at("segment_memory"));
    parseSegmentMemory(root.at("segment_memory"), out);
  }
  if (root.contains("buckets")) {
    if (v < 6)
      fail("$.buckets",
           "no buckets in format_version " + std::to_string(v) +
               " (they are new in 6)",
           root.at("buckets"));
    if (out.segmentMemory.memoryLength > 0)
      failMessage("$.buckets", "buckets and segment_memory exclude each "
                               "other");
    parseBuckets(root.at("buckets"), out);
  }
  if (root.contains("gpu")) {
    if (v < 7)
      fail("$.gpu",
           "no gpu in format_version " + std::to_string(v) +
               " (it is new in 7)",
           root.at("gpu"));
    if (out.segmentMemory.memoryLength > 0 || !out.buckets.empty())
      failMessage("$.gpu", "a GPU model has no segment_memory and no "
                           "buckets");
    parseGpu(root.at("gpu"), out);
  }
  // Half-precision weights feed only a GPU model's kernels; the CPU's code
  // reads every weight as 4-byte elements.
  for (size_t i = 0; i < out.weights.size(); ++i)
    if ((out.weights[i].dtype == XFC_DTYPE_F16 ||
         out.weights[i].dtype == XFC_DTYPE_BF16) &&
        out.gpu.chip.empty())
      failMessage("$.weights[" + std::to_string(i) + "].dtype",
                  std::string(manifestDtypeName(out.weights[i].dtype)) +
                      " weights are for GPU models (a \"gpu\" object); "
                      "this model runs on the CPU, which reads f32 and i32");
}

} // namespace

int64_t dimSize(xfc_dim dim, int64_t fixed, const xfc_run_shape &shape) {
  switch (dim) {
  case XFC_DIM_BATCH:
    return shape.batch;
  case XFC_DIM_SEQ_LEN:
    return shape.seq_len;
  case XFC_DIM_TGT_LEN:
    return shape.tgt_len;
  case XFC_DIM_FIXED:
    break;
  }
  return fixed;
}

std::vector<int64_t> shapeAt(const ManifestTensor &tensor,
                             const xfc_run_shape &shape) {
  std::vector<int64_t> out = tensor.shape;
  for (size_t d = 0; d < tensor.dims.size() && d < out.size(); ++d)
    out[d] = dimSize(tensor.dims[d], out[d], shape);
  return out;
}

const char *manifestDtypeName(xfc_dtype dtype) {
  switch (dtype) {
  case XFC_DTYPE_F32:
    return "f32";
  case XFC_DTYPE_I32:
    return "i32";
  case XFC_DTYPE_F16:
    return "f16";
  case XFC_DTYPE_BF16:
    return "bf16";
  }
  return "?";
}

bool parseManifest(const std::string &text, Manifest &out,
                   xfc_status_code &code, std::string &error) {
  out = Manifest();
  Json root;
  std::string depthError;
  if (!checkJsonDepth(text.data(), text.size(), depthError)) {
    code = XFC_INVALID_ARTIFACT;
    error = "manifest.json: malformed JSON: " + depthError;
    return false;
  }
  try {
    root = Json::parse(text);
  } catch (const Json::exception &e) {
    // nlohmann's message gives the byte position and the reason.
    code = XFC_INVALID_ARTIFACT;
    error = std::string("manifest.json: malformed JSON: ") + e.what();
    return false;
  }
  try {
    parseRoot(root, out);
  } catch (const ManifestError &e) {
    code = e.code;
    error = e.message;
    out = Manifest();
    return false;
  } catch (const std::exception &e) {
    // nlohmann type errors would mean a check above is missing.
    code = XFC_INVALID_ARTIFACT;
    error = std::string("manifest.json: ") + e.what();
    out = Manifest();
    return false;
  }
  return true;
}

} // namespace xfc
