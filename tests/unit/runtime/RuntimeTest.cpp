//===- RuntimeTest.cpp - Tests of the xfc runtime C API -------------------===//
//
// Part of xfc. Each test writes a real artifact folder (manifest.json, the
// FakeModel.c library, weights.safetensors) into a temporary directory,
// optionally breaks one thing about it, and checks what xfc_model_open and
// xfc_model_run do: exact outputs on success, and on failure the status
// code and the key words of the message.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "xfc/Support/Checksum.h"
#include "xfc/Support/CpuFeatures.h"
#include "xfc/Support/Safetensors.h"
#include "xfc/runtime.h"
#include "xfc/runtime.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstring>
#include <functional>
#include <thread>

namespace xfc {
namespace {

using Json = nlohmann::json;
using test::rawSafetensors;
using test::readFile;
using test::TempDir;
using test::writeFile;

/// The fake model's weights.
const std::array<float, 8> kW = {1, 2, 3, 4, -1, -2, -3, -4};
const std::array<float, 16> kTable = {0,   1,   2,   3,   10,  11,  12,  13,
                                      100, 101, 102, 103, 200, 201, 202, 203};

/// Writes an artifact for FakeModel.c into a temporary folder. Tests edit
/// `manifest` (or the files) and then call write()/writeManifest().
class Artifact {
public:
  Artifact() {
    manifest = Json{
        {"format", "xfc-artifact"},
        {"format_version", 4},
        {"model_name", "fake"},
        {"library", "model.so"},
        {"entry_symbol", "xfc_entry"},
        {"weights_file", "weights.safetensors"},
        {"target",
         {{"triple", "x86_64-unknown-linux-gnu"},
          {"cpu", "x86-64"},
          {"tune_cpu", "generic"},
          {"features", Json::array()}}},
        {"compile_options", {{"batch", 2}}},
        {"inputs",
         {{{"name", "x"}, {"dtype", "f32"}, {"shape", {2, 4}}},
          {{"name", "ids"},
           {"dtype", "i32"},
           {"shape", {2}},
           {"min", 0},
           {"max", 3}}}},
        {"outputs",
         {{{"name", "y"}, {"dtype", "f32"}, {"shape", {2, 4}}},
          {{"name", "s"}, {"dtype", "i32"}, {"shape", {2}}}}},
        {"weights", Json::array()},
        {"memory_plan",
         {{"arena_bytes", 256},
          {"naive_bytes", 512},
          {"lower_bound_bytes", 256}}},
        {"kernels",
         {{{"id", 0},
           {"name", "fake.mul"},
           {"symbol", "xf_k0_fake_mul"},
           {"kind", "mul"},
           {"nodes", {"fake.mul"}},
           {"flops", 8},
           {"bytes", 96}}}},
    };
  }

  /// Copies the library, writes the weights and fills manifest.weights with
  /// the real offsets, then writes manifest.json.
  void write() {
    ASSERT_TRUE(dir.ok());
    std::filesystem::copy_file(
        XFC_FAKE_MODEL_PATH, dir.file("model.so"),
        std::filesystem::copy_options::overwrite_existing);
    std::string error;
    uint64_t librarySize = 0, checksum = 0;
    ASSERT_TRUE(
        checksumFile(dir.file("model.so"), librarySize, checksum, error))
        << error;
    manifest["library_size_bytes"] = librarySize;
    manifest["library_fnv1a64"] = formatChecksum(checksum);
    ASSERT_TRUE(writeSafetensors(
        weightsPath(),
        {{"w", "F32", {2, 4}, kW.data(), sizeof(kW)},
         {"table", "F32", {4, 4}, kTable.data(), sizeof(kTable)}},
        {}, error))
        << error;
    std::string bytes = readFile(weightsPath());
    SafetensorsHeader header;
    ASSERT_TRUE(
        parseSafetensors(reinterpret_cast<const uint8_t *>(bytes.data()),
                         bytes.size(), header, error))
        << error;
    manifest["weights"] = Json::array();
    for (const char *name : {"w", "table"}) {
      const SafetensorsEntry *entry = header.find(name);
      ASSERT_NE(entry, nullptr);
      manifest["weights"].push_back({{"name", name},
                                     {"dtype", "f32"},
                                     {"shape", entry->shape},
                                     {"offset", entry->begin},
                                     {"size_bytes", entry->end - entry->begin},
                                     {"source_shape", entry->shape},
                                     {"transform", "none"}});
    }
    recordWeightsChecksums();
    writeManifest();
  }

  /// Records the weights file as it is now (size, header, whole file, each
  /// listed weight's bytes) in `manifest`, as the compiler does; for tests
  /// that replace the file on purpose to reach a later check.
  void recordWeightsChecksums() {
    std::string bytes = readFile(weightsPath());
    const auto *data = reinterpret_cast<const uint8_t *>(bytes.data());
    uint64_t headerLength = 0;
    for (int i = 7; i >= 0; --i)
      headerLength = (headerLength << 8) | data[i];
    manifest["weights_size_bytes"] = bytes.size();
    manifest["weights_header_fnv1a64"] =
        formatChecksum(fnv1a64(data, 8 + headerLength));
    manifest["weights_fnv1a64"] = formatChecksum(fnv1a64(data, bytes.size()));
    for (Json &weight : manifest["weights"]) {
      uint64_t offset = weight["offset"], size = weight["size_bytes"];
      ASSERT_LE(offset + size, bytes.size());
      weight["fnv1a64"] = formatChecksum(fnv1a64(data + offset, size));
    }
  }

  void writeManifest() {
    ASSERT_TRUE(writeFile(dir.file("manifest.json"), manifest.dump(2)));
  }

  std::string weightsPath() const { return dir.file("weights.safetensors"); }
  const std::string &path() const { return dir.path(); }

  Json manifest;
  TempDir dir;
};

/// The outcome of opening an artifact: the code and message (the model is
/// destroyed right away).
struct OpenResult {
  xfc_status_code code;
  std::string message;
};

OpenResult openResult(const std::string &path, bool skipCpuCheck = false) {
  xfc_model_options options;
  xfc_model_options_initialize(&options);
  options.skip_cpu_check = skipCpuCheck;
  xfc_model *model = nullptr;
  xfc_status status = xfc_model_open(path.c_str(), &options, &model);
  OpenResult result{xfc_status_get_code(status),
                    xfc_status_get_message(status)};
  if (status)
    EXPECT_EQ(model, nullptr);
  else
    EXPECT_NE(model, nullptr);
  xfc_status_free(status);
  xfc_model_destroy(model);
  return result;
}

#define EXPECT_CONTAINS(text, part)                                            \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                   \
      << "'" << (text) << "' does not contain '" << (part) << "'"

/// Inputs and output buffers of one run of the fake model.
struct FakeRun {
  std::array<float, 8> x = {1, 2, 3, 4, 5, 6, 7, 8};
  std::array<int32_t, 2> ids = {2, 0};
  std::array<float, 8> y{};
  std::array<int32_t, 2> s{};

  std::array<xfc_buffer, 2> inputs() {
    return {xfc_buffer{x.data(), sizeof(x)},
            xfc_buffer{ids.data(), sizeof(ids)}};
  }
  std::array<xfc_buffer, 2> outputs() {
    return {xfc_buffer{y.data(), sizeof(y)}, xfc_buffer{s.data(), sizeof(s)}};
  }
  xfc_status run(const xfc_model *model) {
    auto in = inputs();
    auto out = outputs();
    return xfc_model_run(model, in.data(), in.size(), out.data(), out.size());
  }
};

/// y and s the fake model must produce for `run`'s inputs.
void expectFakeOutputs(const FakeRun &run) {
  for (int b = 0; b < 2; ++b) {
    for (int j = 0; j < 4; ++j)
      EXPECT_EQ(run.y[b * 4 + j],
                run.x[b * 4 + j] * kW[b * 4 + j] + kTable[run.ids[b] * 4 + j])
          << "b=" << b << " j=" << j;
    EXPECT_EQ(run.s[b], 2 * run.ids[b] + 1) << "b=" << b;
  }
}

TEST(Runtime, OpensQueriesAndRuns) {
  Artifact artifact;
  artifact.write();
  xfc_model *model = nullptr;
  xfc_status status = xfc_model_open(artifact.path().c_str(), nullptr, &model);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  ASSERT_NE(model, nullptr);

  EXPECT_STREQ(xfc_model_name(model), "fake");
  ASSERT_EQ(xfc_model_num_inputs(model), 2u);
  ASSERT_EQ(xfc_model_num_outputs(model), 2u);
  xfc_tensor_info info;
  ASSERT_EQ(xfc_model_input_info(model, 1, &info), nullptr);
  EXPECT_STREQ(info.name, "ids");
  EXPECT_EQ(info.dtype, XFC_DTYPE_I32);
  EXPECT_EQ(info.rank, 1);
  EXPECT_EQ(info.dims[0], 2);
  EXPECT_EQ(info.has_range, 1);
  EXPECT_EQ(info.min_value, 0);
  EXPECT_EQ(info.max_value, 3);
  ASSERT_EQ(xfc_model_input_info(model, 0, &info), nullptr);
  EXPECT_STREQ(info.name, "x");
  EXPECT_EQ(info.has_range, 0);
  ASSERT_EQ(xfc_model_output_info(model, 0, &info), nullptr);
  EXPECT_STREQ(info.name, "y");
  EXPECT_EQ(info.dtype, XFC_DTYPE_F32);
  EXPECT_EQ(info.rank, 2);
  EXPECT_EQ(info.dims[0], 2);
  EXPECT_EQ(info.dims[1], 4);
  EXPECT_EQ(info.dims[2], 0);

  status = xfc_model_input_info(model, 2, &info);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status), "out of range");
  xfc_status_free(status);

  FakeRun run;
  status = run.run(model);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  // x * w + table[ids]: row 0 uses table row 2, row 1 table row 0.
  std::array<float, 8> expectedY = {101, 105, 111, 119, -5, -11, -19, -29};
  EXPECT_EQ(run.y, expectedY);
  // 2 * ids + 1; no +1000, so the weights arrived 64-byte aligned.
  EXPECT_EQ(run.s, (std::array<int32_t, 2>{5, 1}));
  expectFakeOutputs(run);

  // Boundary ids are accepted.
  run.ids = {3, 0};
  status = run.run(model);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  EXPECT_EQ(run.y[0], 1 * 1 + 200);
  EXPECT_EQ(run.s[0], 7);
  xfc_model_destroy(model);
}

TEST(Runtime, StatusAndDtypeBasics) {
  EXPECT_EQ(xfc_status_get_code(nullptr), XFC_OK);
  EXPECT_STREQ(xfc_status_get_message(nullptr), "");
  xfc_status_free(nullptr);
  xfc_model_destroy(nullptr);
  EXPECT_EQ(xfc_dtype_size(XFC_DTYPE_F32), 4u);
  EXPECT_EQ(xfc_dtype_size(XFC_DTYPE_I32), 4u);
  xfc_model_options options;
  xfc_model_options_initialize(&options);
  EXPECT_EQ(options.struct_size, sizeof(options));
  EXPECT_EQ(options.skip_cpu_check, 0);
}

TEST(Runtime, RejectsBadOpenArguments) {
  Artifact artifact;
  artifact.write();
  xfc_model *model = nullptr;
  xfc_status status = xfc_model_open(artifact.path().c_str(), nullptr, nullptr);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
  status = xfc_model_open(nullptr, nullptr, &model);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
  xfc_model_options options{}; // Not initialized.
  status = xfc_model_open(artifact.path().c_str(), &options, &model);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "xfc_model_options_initialize");
  xfc_status_free(status);
  EXPECT_EQ(model, nullptr);
}

TEST(Runtime, MissingFolder) {
  TempDir dir;
  OpenResult result = openResult(dir.file("nowhere"));
  EXPECT_EQ(result.code, XFC_NOT_FOUND);
  EXPECT_CONTAINS(result.message, "does not exist");
  EXPECT_CONTAINS(result.message, "nowhere");
}

TEST(Runtime, MissingManifest) {
  Artifact artifact;
  artifact.write();
  std::filesystem::remove(artifact.dir.file("manifest.json"));
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_NOT_FOUND);
  EXPECT_CONTAINS(result.message, "manifest.json not found");
}

TEST(Runtime, MalformedJson) {
  Artifact artifact;
  artifact.write();
  ASSERT_TRUE(writeFile(artifact.dir.file("manifest.json"),
                        "{\"format\": \"xfc-artifact\", "));
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "manifest.json: malformed JSON");
}

TEST(Runtime, WrongFormatVersion) {
  Artifact artifact;
  artifact.write();
  artifact.manifest["format_version"] = 1;
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_UNSUPPORTED);
  EXPECT_CONTAINS(result.message, "format_version 4");
  EXPECT_CONTAINS(result.message, "found 1");
  EXPECT_CONTAINS(result.message, "recompile the model");
}

TEST(Runtime, SegmentMemoryIsNewInFormat5) {
  Artifact artifact;
  artifact.write();
  artifact.manifest["segment_memory"] = {{"memory_length", 4},
                                         {"segment_length", 2},
                                         {"length_input", "ids"},
                                         {"inputs", {"x"}},
                                         {"outputs", {"y"}}};
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "at $.segment_memory");
  EXPECT_CONTAINS(result.message, "new in 5");
}

TEST(Runtime, SegmentMemoryTensorsMustComeLastInOrder) {
  // The fake model's x comes before ids: as a memory layer after its
  // length input, the order is wrong.
  Artifact artifact;
  artifact.write();
  artifact.manifest["format_version"] = 5;
  artifact.manifest["segment_memory"] = {{"memory_length", 4},
                                         {"segment_length", 2},
                                         {"length_input", "ids"},
                                         {"inputs", {"x"}},
                                         {"outputs", {"y"}}};
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "at $.inputs[0]");
  EXPECT_CONTAINS(result.message, "segment memory tensor 'ids'");
  // Shapes are checked too: x as the length input is not i32 [batch].
  artifact.manifest["segment_memory"]["length_input"] = "x";
  artifact.manifest["segment_memory"]["inputs"] = {"ids"};
  artifact.manifest["segment_memory"]["outputs"] = {"s"};
  artifact.writeManifest();
  result = openResult(artifact.path());
  EXPECT_CONTAINS(result.message, "at $.segment_memory.length_input");
  EXPECT_CONTAINS(result.message, "an i32 input of shape [batch]");
  artifact.manifest["segment_memory"]["outputs"] = Json::array();
  artifact.writeManifest();
  result = openResult(artifact.path());
  EXPECT_CONTAINS(result.message, "at $.segment_memory.outputs");
  EXPECT_CONTAINS(result.message, "as many next memories as memories (1)");
  artifact.manifest["segment_memory"]["memory_length"] = 0;
  artifact.writeManifest();
  result = openResult(artifact.path());
  EXPECT_CONTAINS(result.message, "at $.segment_memory.memory_length");
}

/// Adds one layer of segment memory to the fake model's manifest: an i32 [2]
/// length input, then f32 memory and next memory tensors of the given
/// shapes. The manifest no longer matches the library, so only errors found
/// while parsing it can be tested with it.
void addSegmentMemory(Artifact &artifact, std::vector<int64_t> memoryDims,
                      std::vector<int64_t> nextMemoryDims) {
  Json &manifest = artifact.manifest;
  manifest["format_version"] = 5;
  Json inputs = Json::array(), outputs = Json::array();
  manifest["inputs"].push_back(
      {{"name", "length"}, {"dtype", "i32"}, {"shape", {2}}});
  manifest["inputs"].push_back(
      {{"name", "memory0"}, {"dtype", "f32"}, {"shape", memoryDims}});
  manifest["outputs"].push_back(
      {{"name", "next_memory0"}, {"dtype", "f32"}, {"shape", nextMemoryDims}});
  inputs.push_back("memory0");
  outputs.push_back("next_memory0");
  manifest["segment_memory"] = {{"memory_length", memoryDims[1]},
                                {"segment_length", 2},
                                {"length_input", "length"},
                                {"inputs", inputs},
                                {"outputs", outputs}};
  artifact.writeManifest();
}

TEST(Runtime, SegmentMemoryManifestErrors) {
  // A name that is not a string.
  Artifact artifact;
  artifact.write();
  addSegmentMemory(artifact, {2, 4, 8}, {2, 4, 8});
  artifact.manifest["segment_memory"]["inputs"][0] = 3;
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "at $.segment_memory.inputs[0]: expected a "
                                  "tensor name string, found 3");
  artifact.manifest["segment_memory"]["inputs"][0] = "memory0";
  artifact.manifest["segment_memory"]["outputs"][0] = Json::array();
  artifact.writeManifest();
  result = openResult(artifact.path());
  EXPECT_CONTAINS(result.message, "at $.segment_memory.outputs[0]: expected a "
                                  "tensor name string, found []");

  // More segment memory tensors than the entry point has inputs.
  Artifact fewInputs;
  fewInputs.write();
  addSegmentMemory(fewInputs, {2, 4, 8}, {2, 4, 8});
  fewInputs.manifest["segment_memory"]["inputs"] = {"memory0", "x", "ids",
                                                    "memory0"};
  fewInputs.manifest["segment_memory"]["outputs"] = {"next_memory0", "y", "s",
                                                     "next_memory0"};
  fewInputs.writeManifest();
  result = openResult(fewInputs.path());
  EXPECT_CONTAINS(result.message,
                  "at $.inputs: expected at least 5 tensors (the segment "
                  "memory's come last), found 4");

  // A next memory of another shape than the memory.
  Artifact mismatch;
  mismatch.write();
  addSegmentMemory(mismatch, {2, 4, 8}, {2, 4, 5});
  result = openResult(mismatch.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message,
                  "at $.segment_memory: expected every memory and next memory "
                  "of the shape of the first, found \"next_memory0\"");
}

TEST(Runtime, ModelWithoutSegmentMemory) {
  Artifact artifact;
  artifact.write();
  xfc_model *model = nullptr;
  ASSERT_EQ(xfc_model_open(artifact.path().c_str(), nullptr, &model), nullptr);
  xfc_memory_info info;
  info.memory_length = -1;
  ASSERT_EQ(xfc_model_memory_info(model, &info), nullptr);
  EXPECT_EQ(info.memory_length, 0);
  EXPECT_EQ(info.num_layers, 0u);
  xfc_context *context = nullptr;
  ASSERT_EQ(xfc_context_create(model, nullptr, &context), nullptr);
  // Resetting nothing is fine; reading or setting a memory is an error.
  EXPECT_EQ(xfc_context_reset_memory(context), nullptr);
  int64_t filled = -1;
  EXPECT_EQ(xfc_context_memory_filled(context, &filled), nullptr);
  EXPECT_EQ(filled, 0);
  float data[4];
  xfc_buffer buffer{data, sizeof(data)};
  xfc_status status = xfc_context_get_memory(context, 0, &buffer);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "model 'fake' has no segment memory");
  xfc_status_free(status);
  status = xfc_context_set_memory(context, &buffer, 1, 0);
  EXPECT_CONTAINS(xfc_status_get_message(status), "has no segment memory");
  xfc_status_free(status);
  status = xfc_model_memory_info(model, nullptr);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
  xfc_context_destroy(context);
  xfc_model_destroy(model);
}

TEST(Runtime, ManifestFieldErrorsNameThePath) {
  struct Case {
    std::function<void(Json &)> edit;
    const char *message;
  };
  const Case cases[] = {
      {[](Json &m) { m["weights"][1]["shape"] = "abc"; },
       "manifest.json: at $.weights[1].shape: expected a list of "
       "non-negative integers, found \"abc\""},
      {[](Json &m) { m["format"] = "onnx"; },
       "at $.format: expected \"xfc-artifact\", found \"onnx\""},
      {[](Json &m) { m.erase("model_name"); },
       "at $: missing required field \"model_name\""},
      {[](Json &m) { m["inputs"][0]["dtype"] = "f16"; },
       "at $.inputs[0].dtype: expected \"f32\" or \"i32\", found \"f16\""},
      {[](Json &m) { m["inputs"][0]["min"] = 0; },
       "at $.inputs[0]: \"min\"/\"max\" are allowed only on integer inputs"},
      {[](Json &m) { m["inputs"][1]["min"] = 5; },
       "expected min <= max, found min 5 and max 3"},
      {[](Json &m) { m["outputs"][0]["name"] = "x"; },
       "at $.outputs[0].name: expected a name not used"},
      {[](Json &m) {
         m["target"]["features"] = {"avx", 3};
       },
       "at $.target.features[1]: expected a feature name string, found 3"},
      {[](Json &m) { m["weights"][0]["size_bytes"] = 31; },
       "at $.weights[0].size_bytes: expected 32 (the byte size of the "
       "shape), found 31"},
      {[](Json &m) { m["weights"][0]["offset"] = -64; },
       "at $.weights[0].offset: expected a non-negative integer, found -64"},
      {[](Json &m) { m["weights"][0]["transform"] = "flip"; },
       "at $.weights[0].transform: expected \"none\", \"transpose\" or "
       "\"pack<p>\" (p > 0)"},
      {[](Json &m) {
         m["outputs"][0]["shape"] = Json::array({1, 1, 1, 1, 1, 1, 1, 1, 1});
       },
       "at $.outputs[0].shape: expected at most 8 dimensions"},
      {[](Json &m) { m.erase("kernels"); },
       "at $: missing required field \"kernels\""},
      {[](Json &m) { m["kernels"][0]["id"] = 3; },
       "at $.kernels[0].id: expected 0 (the kernel's index), found 3"},
      {[](Json &m) { m["kernels"][0]["symbol"] = "xf k0"; },
       "at $.kernels[0].symbol: expected a C identifier, found \"xf k0\""},
      {[](Json &m) {
         m["kernels"][0]["nodes"] = {"a", 1};
       },
       "at $.kernels[0].nodes[1]: expected a spec node name string, found 1"},
      {[](Json &m) { m["kernels"][0]["flops"] = -1; },
       "at $.kernels[0].flops: expected a non-negative integer, found -1"},
      {[](Json &m) { m["kernels"][0].erase("kind"); },
       "at $.kernels[0]: missing required field \"kind\""},
      {[](Json &m) { m.erase("weights_fnv1a64"); },
       "at $: missing required field \"weights_fnv1a64\""},
      {[](Json &m) { m["weights_header_fnv1a64"] = "12"; },
       "at $.weights_header_fnv1a64: expected 16 lowercase hex digits, "
       "found \"12\""},
      {[](Json &m) { m["weights_size_bytes"] = -1; },
       "at $.weights_size_bytes: expected a non-negative integer, found -1"},
      {[](Json &m) { m["weights"][1].erase("fnv1a64"); },
       "at $.weights[1]: missing required field \"fnv1a64\""},
      {[](Json &m) {
         m["inputs"][0]["shape"] = {2, -1};
       },
       "at $.inputs[0].shape: expected a list of non-negative integers, found "
       "[2,-1]"},
      {[](Json &m) { m["weights"][0]["dtype"] = 3; },
       "at $.weights[0].dtype: expected \"f32\", \"i32\", \"f16\" or \"bf16\", "
       "found 3"},
      {[](Json &m) { m["library"] = "../lib.so"; },
       "at $.library: expected a plain file name inside the artifact folder "
       "(no \"/\", not \"..\"), found \"../lib.so\""},
      {[](Json &m) { m["weights_file"] = "."; },
       "at $.weights_file: expected a plain file name inside the artifact "
       "folder (no \"/\", not \"..\"), found \".\""},
      {[](Json &m) { m["inputs"] = "x"; },
       "at $.inputs: expected a list, found \"x\""},
      {[](Json &m) { m["inputs"][0]["name"] = ""; },
       "at $.inputs[0].name: expected a non-empty string, found \"\""},
      {[](Json &m) { m["inputs"][1]["max"] = int64_t(1) << 40; },
       "at $.inputs[1].max: expected an int32 value, found 1099511627776"},
      {[](Json &m) { m["weights"][1]["name"] = m["weights"][0]["name"]; },
       "at $.weights[1].name: expected a name not used by another weight, "
       "found \"w\""},
      {[](Json &m) { m["target"] = 3; },
       "at $.target: expected an object, found 3"},
      {[](Json &m) { m["model_name"] = 3; },
       "at $.model_name: expected a string, found 3"},
      {[](Json &m) { m["inputs"][1]["max"] = "3"; },
       "at $.inputs[1].max: expected an integer, found \"3\""},
      {[](Json &m) { m["entry_symbol"] = ""; },
       "at $.entry_symbol: expected a non-empty symbol name, found \"\""},
      {[](Json &m) { m["kernels"][0]["name"] = ""; },
       "at $.kernels[0].name: expected a non-empty string, found \"\""},
  };
  for (const Case &c : cases) {
    Artifact artifact;
    artifact.write();
    c.edit(artifact.manifest);
    artifact.writeManifest();
    OpenResult result = openResult(artifact.path());
    EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT) << c.message;
    EXPECT_CONTAINS(result.message, c.message);
  }
}

TEST(Runtime, OneSidedRangeUsesInt32Limit) {
  Artifact artifact;
  artifact.write();
  artifact.manifest["inputs"][1].erase("min");
  artifact.writeManifest();
  xfc_model *model = nullptr;
  xfc_status status = xfc_model_open(artifact.path().c_str(), nullptr, &model);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  xfc_tensor_info info;
  ASSERT_EQ(xfc_model_input_info(model, 1, &info), nullptr);
  EXPECT_EQ(info.has_range, 1);
  EXPECT_EQ(info.min_value, INT32_MIN);
  EXPECT_EQ(info.max_value, 3);
  FakeRun run;
  run.ids = {3, 4};
  status = run.run(model);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status), "range [-inf, 3]");
  xfc_status_free(status);
  xfc_model_destroy(model);
}

TEST(Runtime, MissingWeight) {
  Artifact artifact;
  artifact.write();
  Json extra = artifact.manifest["weights"][0];
  extra["name"] = "encoder.extra";
  artifact.manifest["weights"].push_back(extra);
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "weight 'encoder.extra'");
  EXPECT_CONTAINS(result.message, "missing from weights.safetensors");
}

TEST(Runtime, MissingWeightsFile) {
  Artifact artifact;
  artifact.write();
  std::filesystem::remove(artifact.weightsPath());
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_NOT_FOUND);
  EXPECT_CONTAINS(result.message, "weights.safetensors");
}

TEST(Runtime, WeightDtypeMismatch) {
  Artifact artifact;
  artifact.write();
  artifact.manifest["weights"][1]["dtype"] = "i32";
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "weight 'table'");
  EXPECT_CONTAINS(result.message, "dtype mismatch: manifest.json says i32, "
                                  "weights.safetensors says F32");
}

TEST(Runtime, WeightShapeMismatch) {
  Artifact artifact;
  artifact.write();
  artifact.manifest["weights"][0]["shape"] = {4, 2};
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "weight 'w'");
  EXPECT_CONTAINS(result.message, "shape mismatch: manifest.json says [4, 2], "
                                  "weights.safetensors says [2, 4]");
}

TEST(Runtime, WeightRangeOutsideFile) {
  Artifact artifact;
  artifact.write();
  uint64_t size = std::filesystem::file_size(artifact.weightsPath());
  artifact.manifest["weights"][1]["offset"] = size - 32;
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "weight 'table'");
  EXPECT_CONTAINS(result.message, "lies outside weights.safetensors");
}

TEST(Runtime, WeightOffsetDisagreesWithHeader) {
  Artifact artifact;
  artifact.write();
  // In the file, but where 'table' lies, not 'w'.
  artifact.manifest["weights"][0]["offset"] =
      artifact.manifest["weights"][1]["offset"];
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "byte range mismatch");
}

TEST(Runtime, MisalignedWeightOffset) {
  Artifact artifact;
  artifact.write();
  // A valid safetensors file whose tensors start at file offsets 8 + 124 =
  // 132 and 164: not multiples of 64.
  std::string header =
      R"({"w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]},)"
      R"("table":{"dtype":"F32","shape":[4,4],"data_offsets":[32,96]}})";
  ASSERT_LE(header.size(), 124u);
  header.resize(124, ' ');
  std::string data(reinterpret_cast<const char *>(kW.data()), sizeof(kW));
  data.append(reinterpret_cast<const char *>(kTable.data()), sizeof(kTable));
  ASSERT_TRUE(writeFile(artifact.weightsPath(), rawSafetensors(header, data)));
  artifact.manifest["weights"][0]["offset"] = 132;
  artifact.manifest["weights"][1]["offset"] = 164;
  artifact.recordWeightsChecksums();
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "weight 'w'");
  EXPECT_CONTAINS(result.message,
                  "file offset 132 is misaligned: expected a multiple of 64");
}

TEST(Runtime, TruncatedWeightsFile) {
  Artifact artifact;
  artifact.write();
  uint64_t size = std::filesystem::file_size(artifact.weightsPath());
  std::filesystem::resize_file(artifact.weightsPath(), size - 8);
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "weights.safetensors");
  EXPECT_CONTAINS(result.message, "truncated");

  std::filesystem::resize_file(artifact.weightsPath(), 0);
  result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "truncated");
}

TEST(Runtime, WeightsFileOfAnotherSizeIsRefused) {
  Artifact artifact;
  artifact.write();
  uint64_t size = artifact.manifest["weights_size_bytes"];
  artifact.manifest["weights_size_bytes"] = size + 64;
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message,
                  "weights file weights.safetensors has " +
                      std::to_string(size) + " bytes, the manifest says " +
                      std::to_string(size + 64) +
                      " (truncated, or the weights of another artifact)");
}

TEST(Runtime, WeightsHeaderOfAnotherArtifactIsRefused) {
  Artifact artifact;
  artifact.write();
  // Same size and layout, one byte of the header changed (a tensor
  // renamed): what the header of another compile of the same architecture
  // looks like, since it records the checksum of the tensors' content.
  std::string bytes = readFile(artifact.weightsPath());
  size_t at = bytes.find("\"w\"");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] = 'v';
  ASSERT_TRUE(writeFile(artifact.weightsPath(), bytes));
  std::string expected = artifact.manifest["weights_header_fnv1a64"];
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "weights file weights.safetensors: header "
                                  "checksum (fnv1a64 of bytes [0, ");
  EXPECT_CONTAINS(result.message, "the manifest says " + expected +
                                      " (the weights of another artifact, "
                                      "or a damaged header)");
}

/// Opens `artifact` (which must open) and returns what xfc_model_verify
/// says ("" for success).
std::string verifyMessage(const Artifact &artifact) {
  xfc_model *model = nullptr;
  xfc_status status = xfc_model_open(artifact.path().c_str(), nullptr, &model);
  EXPECT_EQ(status, nullptr) << xfc_status_get_message(status);
  xfc_status_free(status);
  if (!model)
    return "(did not open)";
  status = xfc_model_verify(model);
  std::string message = xfc_status_get_message(status);
  if (status)
    EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARTIFACT);
  xfc_status_free(status);
  xfc_model_destroy(model);
  return message;
}

/// Flips every bit of the byte at `position` of `path`.
void flipByte(const std::string &path, size_t position) {
  std::string bytes = readFile(path);
  ASSERT_LT(position, bytes.size());
  bytes[position] = static_cast<char>(~bytes[position]);
  ASSERT_TRUE(writeFile(path, bytes));
}

TEST(Runtime, VerifyAcceptsAnIntactArtifact) {
  Artifact artifact;
  artifact.write();
  EXPECT_EQ(verifyMessage(artifact), "");
  xfc_status status = xfc_model_verify(nullptr);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
}

TEST(RuntimeCpp, VerifyWrapper) {
  Artifact artifact;
  artifact.write();
  Model model = Model::open(artifact.path());
  EXPECT_NO_THROW(model.verify());
  EXPECT_TRUE(model.tryVerify().ok());
}

TEST(Runtime, VerifyNamesTheDamagedTensor) {
  Artifact artifact;
  artifact.write();
  uint64_t offset = artifact.manifest["weights"][1]["offset"];
  std::string expected = artifact.manifest["weights"][1]["fnv1a64"];
  flipByte(artifact.weightsPath(), offset + 5);
  std::string message = verifyMessage(artifact);
  EXPECT_CONTAINS(message, "weights file weights.safetensors: weight 'table' "
                           "($.weights[1], bytes [" +
                               std::to_string(offset) + ", " +
                               std::to_string(offset + 64) +
                               ")) has checksum ");
  EXPECT_CONTAINS(message, ", the manifest says " + expected +
                               " (the tensor's data is damaged)");
}

TEST(Runtime, VerifyChecksTheBytesBetweenTensors) {
  Artifact artifact;
  artifact.write();
  // 'w' is 32 bytes; 'table' starts at the next multiple of 64, so the 32
  // bytes after 'w' are padding that no tensor covers.
  uint64_t offset = artifact.manifest["weights"][0]["offset"];
  ASSERT_EQ(uint64_t(artifact.manifest["weights"][1]["offset"]), offset + 64);
  flipByte(artifact.weightsPath(), offset + 40);
  std::string expected = artifact.manifest["weights_fnv1a64"];
  EXPECT_CONTAINS(verifyMessage(artifact),
                  "weights file weights.safetensors: checksum of all ");
  EXPECT_CONTAINS(verifyMessage(artifact),
                  "the manifest says " + expected +
                      " (damaged outside the tensors)");
}

TEST(Runtime, DeeplyNestedManifestIsRefused) {
  Artifact artifact;
  artifact.write();
  // nlohmann's parser would take it; anything recursing over the value
  // afterwards would overflow the stack.
  ASSERT_TRUE(writeFile(artifact.dir.file("manifest.json"),
                        std::string(100000, '[') + std::string(100000, ']')));
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message,
                  "manifest.json: malformed JSON: nesting deeper than the "
                  "limit of 64 levels (at byte 64, line 1, column 65)");
}

TEST(Runtime, LibraryPathMustStayInFolder) {
  for (const char *library :
       {"../model.so", "/tmp/model.so", "sub/model.so", "..", ""}) {
    Artifact artifact;
    artifact.write();
    artifact.manifest["library"] = library;
    artifact.writeManifest();
    OpenResult result = openResult(artifact.path());
    EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT) << library;
    EXPECT_CONTAINS(result.message,
                    "at $.library: expected a plain file name inside the "
                    "artifact folder");
  }
  Artifact artifact;
  artifact.write();
  artifact.manifest["weights_file"] = "../weights.safetensors";
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "at $.weights_file: expected a plain file");
}

TEST(Runtime, MissingLibrary) {
  Artifact artifact;
  artifact.write();
  std::filesystem::remove(artifact.dir.file("model.so"));
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_NOT_FOUND);
  EXPECT_CONTAINS(result.message, "model.so not found");
}

TEST(Runtime, LibraryThatIsNotALibrary) {
  Artifact artifact;
  artifact.write();
  ASSERT_TRUE(writeFile(artifact.dir.file("model.so"), "not an ELF file"));
  // Matching size and checksum, so the check reached is dlopen's own.
  uint64_t size = 0, checksum = 0;
  std::string error;
  ASSERT_TRUE(
      checksumFile(artifact.dir.file("model.so"), size, checksum, error));
  artifact.manifest["library_size_bytes"] = size;
  artifact.manifest["library_fnv1a64"] = formatChecksum(checksum);
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "cannot load compiled library");
}

TEST(Runtime, MissingEntrySymbol) {
  Artifact artifact;
  artifact.write();
  artifact.manifest["entry_symbol"] = "xfc_entry_v2";
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "entry symbol 'xfc_entry_v2' not found");
}

TEST(Runtime, TruncatedLibraryIsRefusedBeforeLoading) {
  Artifact artifact;
  artifact.write();
  std::string bytes = readFile(artifact.dir.file("model.so"));
  ASSERT_TRUE(writeFile(artifact.dir.file("model.so"),
                        bytes.substr(0, bytes.size() / 2)));
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "(truncated or replaced)");
}

TEST(Runtime, DamagedLibraryIsRefusedBeforeLoading) {
  Artifact artifact;
  artifact.write();
  std::string bytes = readFile(artifact.dir.file("model.so"));
  bytes[bytes.size() / 2] ^= 0x40;
  ASSERT_TRUE(writeFile(artifact.dir.file("model.so"), bytes));
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "(damaged or replaced)");
}

TEST(Runtime, MalformedLibraryChecksumIsRejected) {
  Artifact artifact;
  artifact.write();
  artifact.manifest["library_fnv1a64"] = "XYZ";
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message,
                  "at $.library_fnv1a64: expected 16 lowercase hex digits");
}

// The library's xfc_signature must match the manifest: a manifest from
// another compilation would make the generated code overrun its buffers.
TEST(Runtime, ManifestOutputDisagreeingWithLibraryIsRefused) {
  Artifact artifact;
  artifact.write();
  artifact.manifest["outputs"][0]["shape"] = Json::array({2, 3});
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "the compiled library expects 32 bytes, "
                                  "the manifest describes 24");
}

TEST(Runtime, ManifestWithAnExtraInputIsRefused) {
  Artifact artifact;
  artifact.write();
  Json extra = artifact.manifest["inputs"][0];
  extra["name"] = "extra";
  artifact.manifest["inputs"].push_back(extra);
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message,
                  "the compiled library takes 8 tensors, but the manifest "
                  "lists 9");
}

TEST(Runtime, ArenaSizeDisagreeingWithLibraryIsRefused) {
  Artifact artifact;
  artifact.write();
  artifact.manifest["memory_plan"]["arena_bytes"] = 128;
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "tensor 6 ('(arena)'): the compiled library "
                                  "expects 256 bytes, the manifest describes "
                                  "128");
}

// The profile buffer holds two words per kernel: a manifest listing
// another number of kernels than the library counts into is refused.
TEST(Runtime, KernelCountDisagreeingWithLibraryIsRefused) {
  Artifact artifact;
  artifact.write();
  Json second = artifact.manifest["kernels"][0];
  second["id"] = 1;
  second["symbol"] = "xf_k1_fake_add";
  artifact.manifest["kernels"].push_back(second);
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "tensor 7 ('(profile)'): the compiled "
                                  "library expects 32 bytes, the manifest "
                                  "describes 48");
}

TEST(Runtime, DuplicateKernelSymbolIsRefused) {
  Artifact artifact;
  artifact.write();
  Json second = artifact.manifest["kernels"][0];
  second["id"] = 1;
  artifact.manifest["kernels"].push_back(second);
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "at $.kernels[1].symbol: expected a symbol "
                                  "not used by another kernel");
}

TEST(Runtime, MissingMemoryPlanIsRefused) {
  Artifact artifact;
  artifact.write();
  artifact.manifest.erase("memory_plan");
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "memory_plan");
}

TEST(Runtime, AvailableCpuFeaturesAreAccepted) {
  std::vector<std::string> available;
  for (const std::string &name : checkableCpuFeatures())
    if (hostHasCpuFeature(name))
      available.push_back(name);
  Artifact artifact;
  artifact.write();
  artifact.manifest["target"]["features"] = available;
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_OK) << result.message;
}

TEST(Runtime, UnavailableCpuFeature) {
  std::string lacking;
  for (const std::string &name : checkableCpuFeatures()) {
    if (!hostHasCpuFeature(name)) {
      lacking = name;
      break;
    }
  }
  if (lacking.empty())
    GTEST_SKIP() << "this CPU has every checkable feature";
  Artifact artifact;
  artifact.write();
  artifact.manifest["target"]["features"] = {"sse2", lacking};
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_UNSUPPORTED);
  EXPECT_CONTAINS(result.message, "this CPU lacks features");
  EXPECT_CONTAINS(result.message, "missing " + lacking);
  EXPECT_EQ(result.message.find("sse2"), std::string::npos) << result.message;
  // The caller may take responsibility for it.
  result = openResult(artifact.path(), /*skipCpuCheck=*/true);
  EXPECT_EQ(result.code, XFC_OK) << result.message;
}

TEST(Runtime, UnknownCpuFeatureIsMissing) {
  Artifact artifact;
  artifact.write();
  artifact.manifest["target"]["features"] = {"quantum-entanglement"};
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_UNSUPPORTED);
  EXPECT_CONTAINS(result.message, "missing quantum-entanglement");
}

/// Opens the standard fake artifact, failing the test if it cannot.
/// Folders where the artifact's files should be: each error names the file.
TEST(RuntimeErrors, FoldersInPlaceOfFilesAreNamed) {
  {
    Artifact artifact;
    artifact.write();
    std::filesystem::remove(artifact.dir.file("weights.safetensors"));
    OpenResult result = openResult(artifact.path());
    EXPECT_EQ(result.code, XFC_NOT_FOUND);
    EXPECT_EQ(result.message,
              "artifact " + artifact.path() +
                  ": weights file weights.safetensors: No such file or "
                  "directory");
    std::filesystem::create_directory(artifact.dir.file("weights.safetensors"));
    result = openResult(artifact.path());
    EXPECT_EQ(result.code, XFC_IO_ERROR);
    EXPECT_EQ(result.message,
              "artifact " + artifact.path() +
                  ": weights file weights.safetensors is not a regular file");
  }
  Artifact artifact;
  artifact.write();
  std::filesystem::remove(artifact.dir.file("manifest.json"));
  std::filesystem::create_directory(artifact.dir.file("manifest.json"));
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.message, "artifact " + artifact.path() + ": cannot read " +
                                artifact.dir.file("manifest.json"));
}

class RunTest : public ::testing::Test {
protected:
  void SetUp() override {
    artifact.write();
    xfc_status status =
        xfc_model_open(artifact.path().c_str(), nullptr, &model);
    ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  }
  void TearDown() override { xfc_model_destroy(model); }

  Artifact artifact;
  xfc_model *model = nullptr;
};

/// Every argument error of the C API with its whole message: the function,
/// the argument and what was wrong with it (tests/errors/catalogue.json).
TEST_F(RunTest, ArgumentErrorsNameTheFunctionAndArgument) {
  std::vector<std::pair<xfc_status, std::string>> statuses;
  xfc_model *opened = nullptr;
  statuses.push_back({xfc_model_open(artifact.path().c_str(), nullptr, nullptr),
                      "xfc_model_open: out_model is NULL"});
  statuses.push_back({xfc_model_open("", nullptr, &opened),
                      "xfc_model_open: path is NULL or empty"});
  xfc_model_options oldOptions{};
  statuses.push_back(
      {xfc_model_open(artifact.path().c_str(), &oldOptions, &opened),
       "xfc_model_open: options.struct_size is 0; initialize options with "
       "xfc_model_options_initialize"});
  xfc_context *context = nullptr;
  statuses.push_back({xfc_context_create(model, nullptr, nullptr),
                      "xfc_context_create: out_context is NULL"});
  statuses.push_back({xfc_context_create(nullptr, nullptr, &context),
                      "xfc_context_create: model is NULL"});
  xfc_context_options contextOptions{};
  statuses.push_back(
      {xfc_context_create(model, &contextOptions, &context),
       "xfc_context_create: options.struct_size is 0; initialize options with "
       "xfc_context_options_initialize"});
  xfc_context_options_initialize(&contextOptions);
  contextOptions.num_threads = -2;
  statuses.push_back({xfc_context_create(model, &contextOptions, &context),
                      "xfc_context_create: num_threads is -2; expected 0 "
                      "(every core) or a positive count"});
  FakeRun run;
  auto in = run.inputs();
  auto out = run.outputs();
  statuses.push_back({xfc_context_run(nullptr, in.data(), 2, out.data(), 2),
                      "xfc_context_run: context is NULL"});
  statuses.push_back({xfc_model_run(nullptr, in.data(), 2, out.data(), 2),
                      "xfc_model_run: model is NULL"});
  statuses.push_back({xfc_model_run(model, nullptr, 2, out.data(), 2),
                      "xfc_model_run: the input array is NULL"});
  in[1].data = nullptr;
  statuses.push_back({xfc_model_run(model, in.data(), 2, out.data(), 2),
                      "xfc_model_run: input 1 ('ids'): data is NULL"});
  xfc_profile profile;
  statuses.push_back(
      {xfc_context_get_profile(nullptr, &profile, nullptr, 0),
       "xfc_context_get_profile: context or out_profile is NULL"});
  statuses.push_back({xfc_context_reset_profile(nullptr),
                      "xfc_context_reset_profile: context is NULL"});
  contextOptions.num_threads = 1;
  contextOptions.enable_profiling = 1;
  ASSERT_EQ(xfc_context_create(model, &contextOptions, &context), nullptr);
  statuses.push_back({xfc_context_get_profile(context, &profile, nullptr,
                                              xfc_model_num_kernels(model)),
                      "xfc_context_get_profile: out_kernels is NULL"});
  xfc_context_destroy(context);
  context = nullptr;
  ASSERT_EQ(xfc_context_create(model, nullptr, &context), nullptr);
  statuses.push_back({xfc_context_reset_profile(context),
                      "xfc_context_reset_profile: profiling is off in this "
                      "context (set enable_profiling in xfc_context_options)"});
  xfc_context_destroy(context);
  statuses.push_back(
      {xfc_model_verify(nullptr), "xfc_model_verify: model is NULL"});
  statuses.push_back({xfc_model_input_info(model, 0, nullptr),
                      "xfc_model_input_info: model or out_info is NULL"});
  statuses.push_back({xfc_model_kernel_info(model, 0, nullptr),
                      "xfc_model_kernel_info: model or out_info is NULL"});
  for (auto &[status, message] : statuses) {
    EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT) << message;
    std::string error = xfc_status_get_message(status);
    EXPECT_EQ(error, message);
    xfc_status_free(status);
  }
  EXPECT_EQ(opened, nullptr);
}

TEST_F(RunTest, InputIdOutOfRange) {
  FakeRun run;
  run.ids = {1, 4};
  run.y.fill(-7);
  xfc_status status = run.run(model);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "input 'ids' element 1 (flat index) is 4, outside the "
                  "allowed range [0, 3]");
  xfc_status_free(status);
  // Nothing ran.
  EXPECT_EQ(run.y[0], -7);

  run.ids = {-1, 0};
  status = run.run(model);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status), "element 0");
  EXPECT_CONTAINS(xfc_status_get_message(status), "is -1");
  xfc_status_free(status);
}

TEST_F(RunTest, WrongBufferCountOrSize) {
  FakeRun run;
  auto in = run.inputs();
  auto out = run.outputs();
  xfc_status status = xfc_model_run(model, in.data(), 1, out.data(), 2);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "expected 2 input buffers, found 1");
  xfc_status_free(status);

  status = xfc_model_run(model, in.data(), 2, out.data(), 3);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "expected 2 output buffers, found 3");
  xfc_status_free(status);

  in[0].size_bytes = 28;
  status = xfc_model_run(model, in.data(), 2, out.data(), 2);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "input 0 ('x', f32 [2, 4]): expected size_bytes 32, found "
                  "28");
  xfc_status_free(status);

  in = run.inputs();
  out[1].size_bytes = 16;
  status = xfc_model_run(model, in.data(), 2, out.data(), 2);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "output 1 ('s', i32 [2]): expected size_bytes 8, found 16");
  xfc_status_free(status);

  out = run.outputs();
  out[0].data = nullptr;
  status = xfc_model_run(model, in.data(), 2, out.data(), 2);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status), "data is NULL");
  xfc_status_free(status);

  status = xfc_model_run(model, nullptr, 2, out.data(), 2);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
  status = xfc_model_run(nullptr, in.data(), 2, out.data(), 2);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
}

TEST_F(RunTest, UnalignedCallerBuffersAreAccepted) {
  // Inputs at an odd address: the range check must not assume alignment.
  std::vector<uint8_t> storage(64 + 1);
  FakeRun run;
  run.ids = {3, 1};
  uint8_t *idsCopy = storage.data() + 1;
  std::memcpy(idsCopy, run.ids.data(), sizeof(run.ids));
  auto in = run.inputs();
  in[1].data = idsCopy;
  auto out = run.outputs();
  xfc_status status = xfc_model_run(model, in.data(), 2, out.data(), 2);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  EXPECT_EQ(run.s, (std::array<int32_t, 2>{7, 3}));
}

TEST_F(RunTest, ConcurrentRunsAgree) {
  constexpr int kThreads = 4, kIterations = 2000;
  std::array<int, kThreads> failures{};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        FakeRun run;
        // Different inputs per thread and iteration, so mixed-up buffers
        // would show.
        run.ids = {(t + i) % 4, (t * 3 + i) % 4};
        run.x[0] = static_cast<float>(t * 1000 + i);
        xfc_status status = run.run(model);
        if (status) {
          ++failures[t];
          xfc_status_free(status);
          continue;
        }
        bool ok = run.s[0] == 2 * run.ids[0] + 1 &&
                  run.s[1] == 2 * run.ids[1] + 1 &&
                  run.y[0] == run.x[0] * kW[0] + kTable[run.ids[0] * 4] &&
                  run.y[7] == run.x[7] * kW[7] + kTable[run.ids[1] * 4 + 3];
        if (!ok)
          ++failures[t];
      }
    });
  }
  for (std::thread &thread : threads)
    thread.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(failures[t], 0) << "thread " << t;

  // And the same inputs give bit-identical outputs on every thread.
  std::array<FakeRun, kThreads> runs;
  threads.clear();
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      xfc_status status = runs[t].run(model);
      xfc_status_free(status);
    });
  for (std::thread &thread : threads)
    thread.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(runs[t].y, runs[0].y);
    EXPECT_EQ(runs[t].s, runs[0].s);
  }
  expectFakeOutputs(runs[0]);
}

TEST_F(RunTest, ContextRunsRepeatedly) {
  EXPECT_EQ(xfc_model_arena_bytes(model), 256u);
  xfc_context *context = nullptr;
  xfc_status status = xfc_context_create(model, nullptr, &context);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  EXPECT_GE(xfc_context_num_threads(context), 1);
  for (int i = 0; i < 5; ++i) {
    FakeRun run;
    run.ids = {i % 4, (i + 1) % 4};
    run.x[3] = static_cast<float>(i);
    auto in = run.inputs();
    auto out = run.outputs();
    status = xfc_context_run(context, in.data(), 2, out.data(), 2);
    ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
    // s would carry +2000 if the arena were not 64-byte aligned.
    expectFakeOutputs(run);
  }
  // Errors name the function that was called.
  FakeRun run;
  auto in = run.inputs();
  auto out = run.outputs();
  status = xfc_context_run(context, in.data(), 1, out.data(), 2);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "xfc_context_run: expected 2 input buffers, found 1");
  xfc_status_free(status);
  status = xfc_context_run(nullptr, in.data(), 2, out.data(), 2);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
  xfc_context_destroy(context);
  xfc_context_destroy(nullptr);
}

TEST_F(RunTest, ContextOptions) {
  xfc_context_options options;
  xfc_context_options_initialize(&options);
  EXPECT_EQ(options.struct_size, sizeof(options));
  EXPECT_EQ(options.num_threads, 0);
  options.num_threads = 3;
  xfc_context *context = nullptr;
  xfc_status status = xfc_context_create(model, &options, &context);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  EXPECT_EQ(xfc_context_num_threads(context), 3);
  xfc_context_destroy(context);

  options.num_threads = -1;
  status = xfc_context_create(model, &options, &context);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status), "num_threads is -1");
  EXPECT_EQ(context, nullptr);
  xfc_status_free(status);

  options.num_threads = 0;
  options.struct_size = 0;
  status = xfc_context_create(model, &options, &context);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status), "struct_size");
  xfc_status_free(status);

  status = xfc_context_create(nullptr, nullptr, &context);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
  status = xfc_context_create(model, nullptr, nullptr);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
}

TEST_F(RunTest, OneContextPerThread) {
  constexpr int kThreads = 4, kIterations = 500;
  std::array<int, kThreads> failures{};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      xfc_context *context = nullptr;
      xfc_status status = xfc_context_create(model, nullptr, &context);
      if (status) {
        ++failures[t];
        xfc_status_free(status);
        return;
      }
      for (int i = 0; i < kIterations; ++i) {
        FakeRun run;
        run.ids = {(t + i) % 4, (t * 3 + i) % 4};
        run.x[0] = static_cast<float>(t * 1000 + i);
        auto in = run.inputs();
        auto out = run.outputs();
        status = xfc_context_run(context, in.data(), 2, out.data(), 2);
        bool ok = !status && run.s[0] == 2 * run.ids[0] + 1 &&
                  run.y[0] == run.x[0] * kW[0] + kTable[run.ids[0] * 4] &&
                  run.y[7] == run.x[7] * kW[7] + kTable[run.ids[1] * 4 + 3];
        xfc_status_free(status);
        if (!ok)
          ++failures[t];
      }
      xfc_context_destroy(context);
    });
  }
  for (std::thread &thread : threads)
    thread.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(failures[t], 0) << "thread " << t;
}

TEST_F(RunTest, KernelInfo) {
  ASSERT_EQ(xfc_model_num_kernels(model), 1u);
  EXPECT_EQ(xfc_model_num_kernels(nullptr), 0u);
  xfc_kernel_info info;
  xfc_status status = xfc_model_kernel_info(model, 0, &info);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  EXPECT_STREQ(info.name, "fake.mul");
  EXPECT_STREQ(info.symbol, "xf_k0_fake_mul");
  EXPECT_STREQ(info.kind, "mul");
  ASSERT_EQ(info.num_nodes, 1u);
  EXPECT_STREQ(info.nodes[0], "fake.mul");
  EXPECT_EQ(info.flops, 8u);
  EXPECT_EQ(info.bytes, 96u);
  status = xfc_model_kernel_info(model, 1, &info);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "index 1 is out of range (the model has 1 kernels)");
  xfc_status_free(status);
}

TEST_F(RunTest, ProfileCountsRunsAndCalibratesTicks) {
  xfc_context_options options;
  xfc_context_options_initialize(&options);
  EXPECT_EQ(options.enable_profiling, 0);
  EXPECT_EQ(options.gpu_graph, 1);
  options.enable_profiling = 1;
  xfc_context *context = nullptr;
  xfc_status status = xfc_context_create(model, &options, &context);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  // CPU models have no graph to replay.
  EXPECT_EQ(xfc_context_gpu_graph_launches(context), 0u);
  EXPECT_EQ(xfc_context_gpu_graph_launches(nullptr), 0u);
  for (int i = 0; i < 3; ++i) {
    FakeRun run;
    auto in = run.inputs();
    auto out = run.outputs();
    status = xfc_context_run(context, in.data(), 2, out.data(), 2);
    ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
    expectFakeOutputs(run);
  }
  xfc_profile profile;
  xfc_kernel_profile kernel;
  status = xfc_context_get_profile(context, &profile, &kernel, 1);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  EXPECT_EQ(profile.runs, 3u);
  EXPECT_EQ(profile.ticks, 60u);
  EXPECT_GT(profile.wall_ns, 0);
  EXPECT_DOUBLE_EQ(profile.ns_per_tick, profile.wall_ns / 60);
  // The fake kernel counts half of each run's ticks.
  EXPECT_DOUBLE_EQ(profile.kernel_ns, profile.wall_ns / 2);
  EXPECT_STREQ(kernel.kernel.symbol, "xf_k0_fake_mul");
  EXPECT_EQ(kernel.calls, 3u);
  EXPECT_EQ(kernel.ticks, 30u);
  EXPECT_DOUBLE_EQ(kernel.total_ns, profile.wall_ns / 2);

  // Totals alone; a wrong count is refused.
  status = xfc_context_get_profile(context, &profile, nullptr, 0);
  EXPECT_EQ(status, nullptr);
  status = xfc_context_get_profile(context, &profile, &kernel, 2);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "num_kernels is 2; expected 0 (totals only) or 1");
  xfc_status_free(status);

  status = xfc_context_reset_profile(context);
  ASSERT_EQ(status, nullptr);
  status = xfc_context_get_profile(context, &profile, &kernel, 1);
  ASSERT_EQ(status, nullptr);
  EXPECT_EQ(profile.runs, 0u);
  EXPECT_EQ(profile.ticks, 0u);
  EXPECT_EQ(profile.ns_per_tick, 0);
  EXPECT_EQ(kernel.calls, 0u);
  xfc_context_destroy(context);
}

TEST_F(RunTest, ProfileNeedsProfilingContext) {
  xfc_context *context = nullptr;
  xfc_status status = xfc_context_create(model, nullptr, &context);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  FakeRun run;
  auto in = run.inputs();
  auto out = run.outputs();
  status = xfc_context_run(context, in.data(), 2, out.data(), 2);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  xfc_profile profile;
  status = xfc_context_get_profile(context, &profile, nullptr, 0);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "profiling is off in this context");
  xfc_status_free(status);
  status = xfc_context_reset_profile(context);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
  status = xfc_context_get_profile(nullptr, &profile, nullptr, 0);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
  xfc_context_destroy(context);
}

// A caller built against the previous xfc_context_options (no
// enable_profiling) gets profiling off.
TEST_F(RunTest, OlderContextOptionsLeaveProfilingOff) {
  xfc_context_options options;
  xfc_context_options_initialize(&options);
  options.enable_profiling = 1;
  options.struct_size = offsetof(xfc_context_options, enable_profiling);
  xfc_context *context = nullptr;
  xfc_status status = xfc_context_create(model, &options, &context);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  xfc_profile profile;
  status = xfc_context_get_profile(context, &profile, nullptr, 0);
  EXPECT_EQ(xfc_status_get_code(status), XFC_INVALID_ARGUMENT);
  xfc_status_free(status);
  xfc_context_destroy(context);
}

TEST(RuntimeCpp, ProfileWrapper) {
  Artifact artifact;
  artifact.write();
  Model model = Model::open(artifact.path());
  std::vector<KernelInfo> kernels = model.kernels();
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_EQ(kernels[0].nodes, std::vector<std::string>{"fake.mul"});
  ContextOptions options;
  options.enableProfiling = true;
  Context context = Context::create(model, options);
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8}, y(8);
  std::vector<int32_t> ids = {2, 0}, s(2);
  std::vector<xfc_buffer> in = {makeBuffer(x), makeBuffer(ids)},
                          out = {makeBuffer(y), makeBuffer(s)};
  context.run(in, out);
  context.run(in, out);
  Profile profile = context.profile();
  EXPECT_EQ(profile.runs, 2u);
  ASSERT_EQ(profile.kernels.size(), 1u);
  EXPECT_EQ(profile.kernels[0].kernel.symbol, "xf_k0_fake_mul");
  EXPECT_EQ(profile.kernels[0].calls, 2u);
  context.resetProfile();
  EXPECT_EQ(context.profile().runs, 0u);
  Context plain = Context::create(model);
  EXPECT_THROW(plain.profile(), RuntimeError);
}

TEST(RuntimeCpp, ContextWrapper) {
  Artifact artifact;
  artifact.write();
  Model model = Model::open(artifact.path());
  EXPECT_EQ(model.arenaBytes(), 256u);
  Context context = Context::create(model, ContextOptions{2});
  EXPECT_TRUE(context.valid());
  EXPECT_EQ(context.numThreads(), 2);
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8}, y(8);
  std::vector<int32_t> ids = {2, 0}, s(2);
  std::vector<xfc_buffer> in = {makeBuffer(x), makeBuffer(ids)},
                          out = {makeBuffer(y), makeBuffer(s)};
  context.run(in, out);
  EXPECT_EQ(y, (std::vector<float>{101, 105, 111, 119, -5, -11, -19, -29}));
  EXPECT_EQ(s, (std::vector<int32_t>{5, 1}));
  ids[0] = 9;
  Status status = context.tryRun(in, out);
  EXPECT_EQ(status.code(), XFC_INVALID_ARGUMENT);
  Context moved = std::move(context);
  EXPECT_FALSE(context.valid());
  EXPECT_TRUE(moved.valid());
  Context bad;
  status = Context::tryCreate(model, bad, ContextOptions{-2});
  EXPECT_EQ(status.code(), XFC_INVALID_ARGUMENT);
  EXPECT_FALSE(bad.valid());
}

TEST(RuntimeCpp, ModelWrapper) {
  Artifact artifact;
  artifact.write();
  Model model = Model::open(artifact.path());
  ASSERT_TRUE(model.valid());
  EXPECT_EQ(model.name(), "fake");
  std::vector<TensorInfo> inputs = model.inputInfos();
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[0].name, "x");
  EXPECT_EQ(inputs[0].shape, std::vector<int64_t>({2, 4}));
  EXPECT_EQ(inputs[0].sizeBytes(), 32u);
  EXPECT_EQ(inputs[1].dtype, XFC_DTYPE_I32);
  EXPECT_FALSE(inputs[0].range.has_value());
  ASSERT_TRUE(inputs[1].range.has_value());
  EXPECT_EQ(*inputs[1].range, std::make_pair(int64_t(0), int64_t(3)));
  EXPECT_EQ(model.outputInfo(1).name, "s");

  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8}, y(8);
  std::vector<int32_t> ids = {2, 0}, s(2);
  model.run({makeBuffer(x), makeBuffer(ids)}, {makeBuffer(y), makeBuffer(s)});
  EXPECT_EQ(y, (std::vector<float>{101, 105, 111, 119, -5, -11, -19, -29}));
  EXPECT_EQ(s, (std::vector<int32_t>{5, 1}));

  ids[0] = 9;
  Status status = model.tryRun({makeBuffer(x), makeBuffer(ids)},
                               {makeBuffer(y), makeBuffer(s)});
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), XFC_INVALID_ARGUMENT);
  EXPECT_CONTAINS(status.message(), "is 9");
  try {
    model.run({makeBuffer(x), makeBuffer(ids)}, {makeBuffer(y), makeBuffer(s)});
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(e.code(), XFC_INVALID_ARGUMENT);
    EXPECT_CONTAINS(e.what(), "outside the allowed range");
  }
  EXPECT_THROW(model.inputInfo(5), RuntimeError);

  Model moved = std::move(model);
  EXPECT_FALSE(model.valid());
  EXPECT_TRUE(moved.valid());

  Model missing;
  status = Model::tryOpen(artifact.dir.file("nowhere"), missing);
  EXPECT_EQ(status.code(), XFC_NOT_FOUND);
  EXPECT_FALSE(missing.valid());
  try {
    Model::open(artifact.dir.file("nowhere"));
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(e.code(), XFC_NOT_FOUND);
  }
}

} // namespace
} // namespace xfc

namespace xfc {
namespace {

/// The fake artifact as a bucketed one (format 6): one bucket, the shape
/// of the top level, every dimension named.
void makeBucketed(Json &m) {
  m["format_version"] = 6;
  m["inputs"][0]["dims"] = {"batch", 4};
  m["inputs"][1]["dims"] = {"batch"};
  m["inputs"][1]["lengths_of"] = "seq_len";
  m["outputs"][0]["dims"] = {"batch", 4};
  m["outputs"][1]["dims"] = {"batch"};
  m["buckets"] = {{{"batch", 2},
                   {"seq_len", 3},
                   {"tgt_len", 3},
                   {"entry_symbol", "xfc_entry"},
                   {"signature_symbol", "xfc_signature"},
                   {"arena_bytes", 256}}};
}

TEST(Runtime, BucketManifestErrorsNameThePath) {
  struct Case {
    std::function<void(Json &)> edit;
    const char *message;
  };
  const Case cases[] = {
      {[](Json &m) { m["inputs"][0]["dims"] = {"batch"}; },
       "at $.inputs[0].dims: expected a list of 2 entries (one per "
       "dimension), each \"batch\", \"seq_len\", \"tgt_len\" or the "
       "dimension's fixed size, found [\"batch\"]"},
      {[](Json &m) {
         m["inputs"][0]["dims"] = {"batch", 5};
       },
       "at $.inputs[0].dims[1]: expected \"batch\", \"seq_len\", \"tgt_len\" "
       "or 4 (the fixed size), found 5"},
      {[](Json &m) { m["inputs"][1]["lengths_of"] = "batch"; },
       "at $.inputs[1].lengths_of: expected \"seq_len\" or \"tgt_len\", "
       "found \"batch\""},
      {[](Json &m) { m["outputs"][1]["lengths_of"] = "seq_len"; },
       "at $.outputs[1]: \"lengths_of\" is allowed only on an i32 input of "
       "dims [\"batch\"]"},
      {[](Json &m) { m["buckets"] = Json::array(); },
       "at $.buckets: expected a non-empty list of buckets, found []"},
      {[](Json &m) { m["buckets"][0]["seq_len"] = 0; },
       "at $.buckets[0].seq_len: expected a positive integer, found 0"},
      {[](Json &m) { m["buckets"][0]["signature_symbol"] = "xfc entry"; },
       "at $.buckets[0].signature_symbol: expected a C identifier not used "
       "by another bucket, found \"xfc entry\""},
      {[](Json &m) { m["buckets"][0]["arena_bytes"] = 512; },
       "at $.buckets[0].arena_bytes: expected at most "
       "memory_plan.arena_bytes (256; one arena serves every bucket), found "
       "512"},
      {[](Json &m) { m["buckets"][0]["entry_symbol"] = "xfc_entry_2x3"; },
       "at $.buckets[0].entry_symbol: expected the top-level entry_symbol "
       "'xfc_entry' (the last bucket is the one the top level describes), "
       "found \"xfc_entry_2x3\""},
      {[](Json &m) { m["outputs"][0].erase("dims"); },
       "at $.outputs[0]: missing \"dims\" (required with buckets)"},
      {[](Json &m) { m["buckets"][0]["batch"] = 3; },
       "at $.inputs[0]: \"shape\" is not the last bucket's shape of its "
       "\"dims\""},
      {[](Json &m) { m["format_version"] = 5; },
       "at $.buckets: expected no buckets in format_version 5 (they are new "
       "in 6)"},
  };
  for (const Case &c : cases) {
    Artifact artifact;
    artifact.write();
    makeBucketed(artifact.manifest);
    c.edit(artifact.manifest);
    artifact.writeManifest();
    OpenResult result = openResult(artifact.path());
    EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT) << c.message;
    EXPECT_CONTAINS(result.message, c.message);
  }
}

/// The fake library has one entry point: a bucket naming another symbol
/// is refused at open, and the bucket queries check their arguments.
TEST(Runtime, BucketEntryPointsAndQueries) {
  Artifact artifact;
  artifact.write();
  makeBucketed(artifact.manifest);
  artifact.manifest["buckets"].insert(
      artifact.manifest["buckets"].begin(),
      Json{{"batch", 1},
           {"seq_len", 1},
           {"tgt_len", 1},
           {"entry_symbol", "xfc_entry_1x1"},
           {"signature_symbol", "xfc_signature_1x1"},
           {"arena_bytes", 256}});
  artifact.writeManifest();
  OpenResult result = openResult(artifact.path());
  EXPECT_EQ(result.code, XFC_INVALID_ARTIFACT);
  EXPECT_CONTAINS(result.message, "bucket 1x1: entry symbol 'xfc_entry_1x1' "
                                  "not found in");

  // One bucket, the library's own entry point: opens; queries.
  Artifact one;
  one.write();
  makeBucketed(one.manifest);
  one.writeManifest();
  xfc_model *model = nullptr;
  xfc_status status = xfc_model_open(one.path().c_str(), nullptr, &model);
  ASSERT_EQ(status, nullptr) << xfc_status_get_message(status);
  EXPECT_EQ(xfc_model_num_buckets(model), 1u);
  xfc_run_shape shape;
  status = xfc_model_bucket(model, 1, &shape);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "xfc_model_bucket: index 1 is out of range (the model has "
                  "1 buckets)");
  xfc_status_free(status);
  status = xfc_model_bucket(model, 0, nullptr);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "xfc_model_bucket: model or out_shape is NULL");
  xfc_status_free(status);
  xfc_dim dims[XFC_MAX_RANK];
  status = xfc_model_output_dims(model, 2, dims);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "xfc_model_output_dims: index 2 is out of range (the model "
                  "has 2)");
  xfc_status_free(status);
  status = xfc_model_input_dims(model, 0, nullptr);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "xfc_model_input_dims: model or out_dims is NULL");
  xfc_status_free(status);
  status = xfc_model_select_bucket(model, &shape, nullptr);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "xfc_model_select_bucket: model or out_index is NULL");
  xfc_status_free(status);
  size_t index = 0;
  status = xfc_model_select_bucket(model, nullptr, &index);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "xfc_model_select_bucket: shape is NULL");
  xfc_status_free(status);
  status = xfc_context_run_shaped(nullptr, &shape, nullptr, 0, nullptr, 0);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "xfc_context_run_shaped: context is NULL");
  xfc_status_free(status);
  status = xfc_model_run_shaped(nullptr, &shape, nullptr, 0, nullptr, 0);
  EXPECT_CONTAINS(xfc_status_get_message(status),
                  "xfc_model_run_shaped: model is NULL");
  xfc_status_free(status);
  xfc_model_destroy(model);
}

} // namespace
} // namespace xfc
