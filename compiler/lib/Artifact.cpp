//===- Artifact.cpp - Writing the artifact folder ---------------*- C++ -*-===//
//
// Part of xfc. Implements the interface extraction, the weights file and
// the manifest of an artifact (docs/artifact.md).
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/Artifact.h"

#include "xf/Transforms/Passes.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Support/Checksum.h"
#include "xfc/Support/Safetensors.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <list>

namespace xfc {

bool collectArtifactInterface(mlir::ModuleOp module,
                              const std::vector<TensorDecl> &inputDecls,
                              ArtifactInterface &out, std::string &error) {
  auto func = module.lookupSymbol<mlir::func::FuncOp>(kModelFunctionName);
  if (!func) {
    error = std::string("the module has no function @") + kModelFunctionName;
    return false;
  }
  auto shapeOf = [](mlir::Type type) {
    auto tensor = mlir::cast<mlir::RankedTensorType>(type);
    return std::vector<int64_t>(tensor.getShape().begin(),
                                tensor.getShape().end());
  };
  auto dtypeOf = [](mlir::Type type) -> std::string {
    mlir::Type element =
        mlir::cast<mlir::RankedTensorType>(type).getElementType();
    return element.isInteger(32) ? "i32"
           : element.isF16()     ? "f16"
           : element.isBF16()    ? "bf16"
                                 : "f32";
  };
  out = ArtifactInterface();
  if (auto memory =
          module->getAttrOfType<mlir::DictionaryAttr>(kSegmentMemoryAttrName)) {
    auto length = memory.getAs<mlir::IntegerAttr>("memory_length");
    auto lengthInput = memory.getAs<mlir::StringAttr>("length_input");
    auto inputs = memory.getAs<mlir::ArrayAttr>("inputs");
    auto outputs = memory.getAs<mlir::ArrayAttr>("outputs");
    auto names = [](mlir::ArrayAttr list, std::vector<std::string> &to) {
      for (mlir::Attribute a : list) {
        auto name = mlir::dyn_cast<mlir::StringAttr>(a);
        if (!name)
          return false;
        to.push_back(name.getValue().str());
      }
      return true;
    };
    ArtifactSegmentMemory &segment = out.segmentMemory;
    if (!length || length.getInt() < 1 || !lengthInput || !inputs || !outputs ||
        !names(inputs, segment.inputs) || !names(outputs, segment.outputs)) {
      error = std::string(kSegmentMemoryAttrName) +
              " must hold a positive memory_length, a length_input name and "
              "inputs and outputs name arrays";
      return false;
    }
    segment.memoryLength = length.getInt();
    segment.lengthInput = lengthInput.getValue().str();
  }
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    mlir::Type type = func.getArgument(i).getType();
    if (auto name =
            func.getArgAttrOfType<mlir::StringAttr>(i, kInputAttrName)) {
      TensorDecl decl;
      for (const TensorDecl &d : inputDecls)
        if (d.name == name.getValue())
          decl = d;
      decl.name = name.getValue().str();
      decl.dtype = dtypeOf(type);
      decl.shape = shapeOf(type);
      out.inputs.push_back(decl);
      continue;
    }
    auto name = func.getArgAttrOfType<mlir::StringAttr>(i, kWeightAttrName);
    if (!name) {
      error = "argument " + std::to_string(i) + " of @" + kModelFunctionName +
              " has neither an xf.input nor an xf.weight name";
      return false;
    }
    ArtifactWeight weight;
    weight.name = name.getValue().str();
    weight.shape = shapeOf(type);
    weight.sourceShape = weight.shape;
    weight.dtype = dtypeOf(type);
    if (mlir::Attribute concat = func.getArgAttr(i, kWeightConcatAttrName)) {
      auto names = mlir::dyn_cast<mlir::ArrayAttr>(concat);
      if (!names || names.empty()) {
        error = "weight " + weight.name + ": " + kWeightConcatAttrName +
                " must be a non-empty array of weight names";
        return false;
      }
      for (mlir::Attribute n : names) {
        auto str = mlir::dyn_cast<mlir::StringAttr>(n);
        if (!str) {
          error = "weight " + weight.name + ": " + kWeightConcatAttrName +
                  " must be a non-empty array of weight names";
          return false;
        }
        weight.concat.push_back(str.getValue().str());
      }
    }
    if (auto transform = func.getArgAttrOfType<mlir::StringAttr>(
            i, kWeightTransformAttrName)) {
      weight.transform = transform.getValue().str();
      int64_t panel = 0;
      llvm::StringRef kind(weight.transform);
      if (kind == "transpose" && weight.shape.size() == 2) {
        std::swap(weight.sourceShape[0], weight.sourceShape[1]);
      } else if (kind.consume_front("pack") && !kind.getAsInteger(10, panel) &&
                 panel > 0 && weight.shape.size() == 3 &&
                 weight.shape[2] == panel) {
        // [ceil(out/p), in, p] panels of a [out, in] weight; the last one
        // is padded with zeros when p does not divide out.
        weight.sourceShape = {weight.shape[0] * panel, weight.shape[1]};
        if (auto source = func.getArgAttrOfType<mlir::DenseI64ArrayAttr>(
                i, "xf.weight_source_shape"))
          weight.sourceShape.assign(source.asArrayRef().begin(),
                                    source.asArrayRef().end());
        if (weight.sourceShape.size() != 2 ||
            weight.sourceShape[1] != weight.shape[1] ||
            (weight.sourceShape[0] + panel - 1) / panel != weight.shape[0]) {
          error = "weight " + weight.name +
                  ": packed shape does not match its source shape";
          return false;
        }
      } else {
        error = "weight " + weight.name + ": unsupported transform '" +
                weight.transform + "' for shape " +
                std::to_string(weight.shape.size()) + "-d";
        return false;
      }
    }
    out.weights.push_back(weight);
  }
  for (unsigned i = 0, e = func.getNumResults(); i < e; ++i) {
    TensorDecl decl;
    auto name = func.getResultAttrOfType<mlir::StringAttr>(i, kOutputAttrName);
    decl.name = name ? name.getValue().str() : "output" + std::to_string(i);
    decl.dtype = dtypeOf(func.getResultTypes()[i]);
    decl.shape = shapeOf(func.getResultTypes()[i]);
    out.outputs.push_back(decl);
  }
  return true;
}

bool collectArtifactKernels(mlir::ModuleOp module,
                            std::vector<ArtifactKernel> &out,
                            std::string &error) {
  out.clear();
  auto kernels =
      module->getAttrOfType<mlir::ArrayAttr>(mlir::xf::kKernelsAttrName);
  if (!kernels)
    return true;
  for (auto [index, attr] : llvm::enumerate(kernels)) {
    std::string where = std::string(mlir::xf::kKernelsAttrName) + "[" +
                        std::to_string(index) + "]: ";
    auto record = mlir::dyn_cast<mlir::DictionaryAttr>(attr);
    if (!record) {
      error = where + "expected a dictionary";
      return false;
    }
    ArtifactKernel kernel;
    auto text = [&](const char *key, std::string &field) {
      auto value = record.getAs<mlir::StringAttr>(key);
      if (!value)
        error = where + "expected a string \"" + key + "\"";
      else
        field = value.getValue().str();
      return bool(value);
    };
    auto number = [&](const char *key, int64_t &field) {
      auto value = record.getAs<mlir::IntegerAttr>(key);
      if (!value)
        error = where + "expected an integer \"" + key + "\"";
      else
        field = value.getInt();
      return bool(value);
    };
    auto nodes = record.getAs<mlir::ArrayAttr>("nodes");
    if (!number("id", kernel.id) || !text("name", kernel.name) ||
        !text("symbol", kernel.symbol) || !text("kind", kernel.kind) ||
        !number("flops", kernel.flops) || !number("bytes", kernel.bytes))
      return false;
    if (kernel.id != static_cast<int64_t>(index)) {
      error = where + "has id " + std::to_string(kernel.id);
      return false;
    }
    if (!nodes) {
      error = where + "expected an array \"nodes\"";
      return false;
    }
    for (mlir::Attribute node : nodes) {
      auto name = mlir::dyn_cast<mlir::StringAttr>(node);
      if (!name) {
        error = where + "\"nodes\" must hold strings";
        return false;
      }
      kernel.nodes.push_back(name.getValue().str());
    }
    out.push_back(std::move(kernel));
  }
  return true;
}

namespace {

/// `value` as IEEE half or bfloat16 bits, rounded to nearest, ties to even
/// (as PyTorch's .half() and .bfloat16() round); out-of-range values
/// become infinities, NaN stays NaN.
uint16_t roundToHalf(float value, const llvm::fltSemantics &semantics) {
  llvm::APFloat converted(value);
  bool lost = false;
  converted.convert(semantics, llvm::APFloat::rmNearestTiesToEven, &lost);
  return static_cast<uint16_t>(converted.bitcastToAPInt().getZExtValue());
}
uint16_t roundToF16(float value) {
  return roundToHalf(value, llvm::APFloat::IEEEhalf());
}
uint16_t roundToBF16(float value) {
  return roundToHalf(value, llvm::APFloat::BFloat());
}

} // namespace

bool writeArtifactWeights(const std::string &path, const WeightStore &weights,
                          ArtifactInterface &interface, std::string &error) {
  // Derived and transposed copies must outlive the write; plain weights
  // are written straight from the store. (A std::list: pointers into the
  // copies stay valid as more are added.)
  std::list<std::vector<float>> copies;
  std::list<std::vector<uint16_t>> halfCopies;
  std::vector<SafetensorsTensor> tensors;
  for (ArtifactWeight &w : interface.weights) {
    const std::vector<float> *source = nullptr;
    if (w.concat.empty()) {
      const HostTensor *tensor = weights.find(w.name);
      if (!tensor) {
        error = "weight " + w.name + " is missing from the weight store";
        return false;
      }
      if (tensor->shape != w.sourceShape) {
        error = "weight " + w.name + " has an unexpected shape";
        return false;
      }
      source = &tensor->data;
    } else {
      // Row-major tensors concatenated along dimension 0: one after the
      // other, each with the same trailing dimensions as the result.
      std::vector<float> &joined = copies.emplace_back();
      int64_t rows = 0;
      for (const std::string &part : w.concat) {
        const HostTensor *tensor = weights.find(part);
        if (!tensor) {
          error = "weight " + part + " (part of " + w.name +
                  ") is missing from the weight store";
          return false;
        }
        if (tensor->shape.size() != w.sourceShape.size() ||
            !std::equal(tensor->shape.begin() + 1, tensor->shape.end(),
                        w.sourceShape.begin() + 1)) {
          error = "weight " + part + " (part of " + w.name +
                  ") has an unexpected shape";
          return false;
        }
        rows += tensor->shape[0];
        joined.insert(joined.end(), tensor->data.begin(), tensor->data.end());
      }
      if (rows != w.sourceShape[0]) {
        error = "weight " + w.name + ": its parts have " +
                std::to_string(rows) + " rows, the model expects " +
                std::to_string(w.sourceShape[0]);
        return false;
      }
      source = &joined;
    }
    const float *data = source->data();
    size_t storedFloats = source->size();
    if (w.transform == "transpose") {
      int64_t rows = w.sourceShape[0], cols = w.sourceShape[1];
      std::vector<float> &t = copies.emplace_back(source->size());
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
          t[c * rows + r] = (*source)[r * cols + c];
      data = t.data();
    } else if (llvm::StringRef(w.transform).starts_with("pack")) {
      // packed[j][k][i] = W[j p + i][k]: panel j holds output features
      // [j p, (j + 1) p), stored k-major so the kernel reads p floats per k.
      // Columns past the source's rows (a padded last panel) stay zero.
      int64_t panels = w.shape[0], in = w.shape[1], p = w.shape[2];
      int64_t rows = w.sourceShape[0];
      std::vector<float> &t = copies.emplace_back(panels * in * p, 0.0f);
      for (int64_t j = 0; j < panels; ++j)
        for (int64_t k = 0; k < in; ++k)
          for (int64_t i = 0; i < p && j * p + i < rows; ++i)
            t[(j * in + k) * p + i] = (*source)[(j * p + i) * in + k];
      data = t.data();
      storedFloats = t.size();
    }
    SafetensorsTensor tensor;
    tensor.name = w.name;
    tensor.dtype = "F32";
    tensor.shape = w.shape;
    tensor.data = data;
    tensor.sizeBytes = storedFloats * sizeof(float);
    if (w.dtype == "f16" || w.dtype == "bf16") {
      std::vector<uint16_t> &half = halfCopies.emplace_back(storedFloats);
      for (size_t i = 0; i < storedFloats; ++i)
        half[i] = w.dtype == "f16" ? roundToF16(data[i]) : roundToBF16(data[i]);
      tensor.dtype = w.dtype == "f16" ? "F16" : "BF16";
      tensor.data = half.data();
      tensor.sizeBytes = storedFloats * sizeof(uint16_t);
    }
    w.checksum = fnv1a64(tensor.data, tensor.sizeBytes);
    tensors.push_back(tensor);
  }
  // The header names the tensors' content (a checksum of their checksums,
  // in manifest order), so the header checksum the runtime checks at open
  // also tells apart the weights of two compiles of one architecture.
  uint64_t contentChecksum = kFnv1a64Offset;
  for (const ArtifactWeight &w : interface.weights) {
    uint8_t word[8];
    for (int i = 0; i < 8; ++i)
      word[i] = static_cast<uint8_t>(w.checksum >> (8 * i));
    contentChecksum = fnv1a64(word, sizeof(word), contentChecksum);
  }
  if (!writeSafetensors(
          path, tensors,
          {{"format", "xfc"},
           {"xfc_tensors_fnv1a64", formatChecksum(contentChecksum)}},
          error))
    return false;

  // Read the offsets back from the file just written: the manifest then
  // records exactly what the runtime will find.
  // (MemoryBuffer maps the file rather than reading it.)
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer) {
    error = "cannot read back " + path + ": " + buffer.getError().message();
    return false;
  }
  SafetensorsHeader header;
  const auto *bytes =
      reinterpret_cast<const uint8_t *>((*buffer)->getBufferStart());
  size_t fileBytes = (*buffer)->getBufferSize();
  if (!parseSafetensors(bytes, fileBytes, header, error))
    return false;
  interface.weightsFileBytes = fileBytes;
  interface.weightsHeaderChecksum = fnv1a64(bytes, header.dataBegin);
  // Hashed as read back, so the manifest records the file as it is; the
  // tensors' checksums were taken from memory, so `xfc verify` would catch
  // a write that went wrong.
  interface.weightsFileChecksum = fnv1a64(bytes, fileBytes);
  for (ArtifactWeight &w : interface.weights) {
    const SafetensorsEntry *entry = header.find(w.name);
    if (!entry) {
      error = "weight " + w.name + " missing after writing " + path;
      return false;
    }
    w.offset = entry->begin;
    w.sizeBytes = entry->end - entry->begin;
  }
  return true;
}

bool writeManifest(const std::string &path, const ManifestInfo &info,
                   const ArtifactInterface &interface, std::string &error) {
  using nlohmann::ordered_json;
  ordered_json manifest;
  manifest["format"] = "xfc-artifact";
  // Format 5 only adds segment_memory: other models keep writing 4, so
  // runtimes that read only 4 still open them.
  const ArtifactSegmentMemory &segment = interface.segmentMemory;
  // Format 6 only adds buckets, likewise.
  // Format 7 adds the "gpu" object; an older runtime refuses the version
  // instead of running the host schedule on the CPU.
  manifest["format_version"] = !info.gpu.chip.empty()     ? 7
                               : !info.buckets.empty()    ? 6
                               : segment.memoryLength > 0 ? 5
                                                          : 4;
  manifest["model_name"] = info.modelName;
  manifest["library"] = info.libraryFile;
  manifest["library_size_bytes"] = info.librarySizeBytes;
  manifest["library_fnv1a64"] = formatChecksum(info.libraryChecksum);
  manifest["entry_symbol"] = info.entrySymbol;
  manifest["weights_file"] = info.weightsFile;
  manifest["weights_size_bytes"] = interface.weightsFileBytes;
  manifest["weights_header_fnv1a64"] =
      formatChecksum(interface.weightsHeaderChecksum);
  manifest["weights_fnv1a64"] = formatChecksum(interface.weightsFileChecksum);
  manifest["target"] = {{"triple", info.target.triple},
                        {"cpu", info.target.cpu},
                        {"tune_cpu", info.target.tuneCpu},
                        {"features", info.target.features}};
  if (!info.gpu.chip.empty()) {
    const ArtifactGpu &gpu = info.gpu;
    manifest["gpu"] = {{"chip", gpu.chip},
                       {"ptx_version", std::to_string(gpu.ptxVersion / 10) +
                                           "." +
                                           std::to_string(gpu.ptxVersion % 10)},
                       {"ptx_bytes", gpu.ptxBytes},
                       {"cubin_bytes", gpu.cubinBytes},
                       {"kernels", gpu.kernels}};
  }
  manifest["compile_options"] = {
      {"batch", info.shapes.batch},
      {"seq_len", info.shapes.seqLen},
      {"tgt_len", info.shapes.tgtLen ? info.shapes.tgtLen : info.shapes.seqLen},
      {"pipeline", info.pipeline},
      {"xfc_version", XFC_VERSION}};
  auto tensorJson = [](const TensorDecl &t,
                       const std::vector<ArtifactTensorDims> &allDims,
                       size_t index) {
    ordered_json j{{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}};
    if (t.hasRange) {
      j["min"] = t.minValue;
      j["max"] = t.maxValue;
    }
    // Bucketed artifacts: a dimension's name where it varies by bucket,
    // its size where it does not.
    if (index < allDims.size()) {
      const ArtifactTensorDims &dims = allDims[index];
      ordered_json list = ordered_json::array();
      for (size_t d = 0; d < dims.dims.size(); ++d)
        if (dims.dims[d].empty())
          list.push_back(t.shape[d]);
        else
          list.push_back(dims.dims[d]);
      j["dims"] = list;
      if (!dims.lengthsOf.empty())
        j["lengths_of"] = dims.lengthsOf;
    }
    return j;
  };
  manifest["inputs"] = ordered_json::array();
  for (size_t i = 0; i < interface.inputs.size(); ++i)
    manifest["inputs"].push_back(
        tensorJson(interface.inputs[i], info.inputDims, i));
  manifest["outputs"] = ordered_json::array();
  for (size_t i = 0; i < interface.outputs.size(); ++i)
    manifest["outputs"].push_back(
        tensorJson(interface.outputs[i], info.outputDims, i));
  manifest["weights"] = ordered_json::array();
  for (const ArtifactWeight &w : interface.weights) {
    ordered_json j{{"name", w.name},
                   {"dtype", w.dtype},
                   {"shape", w.shape},
                   {"offset", w.offset},
                   {"size_bytes", w.sizeBytes},
                   {"source_shape", w.sourceShape},
                   {"transform", w.transform}};
    if (!w.concat.empty())
      j["concat"] = w.concat;
    j["fnv1a64"] = formatChecksum(w.checksum);
    manifest["weights"].push_back(j);
  }
  manifest["memory_plan"] = {{"arena_bytes", info.arenaBytes},
                             {"naive_bytes", info.naiveBytes},
                             {"lower_bound_bytes", info.lowerBoundBytes},
                             {"buffers", info.numPlannedBuffers}};
  manifest["kernels"] = ordered_json::array();
  for (const ArtifactKernel &k : info.kernels)
    manifest["kernels"].push_back({{"id", k.id},
                                   {"name", k.name},
                                   {"symbol", k.symbol},
                                   {"kind", k.kind},
                                   {"nodes", k.nodes},
                                   {"flops", k.flops},
                                   {"bytes", k.bytes}});
  if (segment.memoryLength > 0)
    manifest["segment_memory"] = {{"memory_length", segment.memoryLength},
                                  {"segment_length", info.shapes.seqLen},
                                  {"length_input", segment.lengthInput},
                                  {"inputs", segment.inputs},
                                  {"outputs", segment.outputs}};
  if (!info.buckets.empty()) {
    manifest["buckets"] = ordered_json::array();
    for (const ArtifactBucket &b : info.buckets)
      manifest["buckets"].push_back({{"batch", b.shapes.batch},
                                     {"seq_len", b.shapes.seqLen},
                                     {"tgt_len", b.shapes.tgtLen},
                                     {"entry_symbol", b.entrySymbol},
                                     {"signature_symbol", b.signatureSymbol},
                                     {"arena_bytes", b.arenaBytes}});
  }
  if (!info.tokenizerJson.empty()) {
    ordered_json tokenizer = ordered_json::parse(info.tokenizerJson, nullptr,
                                                 /*allow_exceptions=*/false);
    if (!tokenizer.is_object()) {
      error = "internal error: the tokenizer options are not a JSON object";
      return false;
    }
    tokenizer["vocab_file"] = info.vocabFile;
    tokenizer["vocab_size_bytes"] = info.vocabSizeBytes;
    tokenizer["vocab_fnv1a64"] = formatChecksum(info.vocabChecksum);
    manifest["tokenizer"] = tokenizer;
  }
  if (!info.specJson.empty()) {
    ordered_json spec = ordered_json::parse(info.specJson, nullptr,
                                            /*allow_exceptions=*/false);
    if (!spec.is_discarded())
      manifest["spec"] = spec;
  }
  return writeTextFile(path, manifest.dump(2) + "\n", error);
}

bool writeTextFile(const std::string &path, const std::string &text,
                   std::string &error) {
  std::ofstream out(path);
  out << text;
  if (!out) {
    error = "cannot write " + path;
    return false;
  }
  return true;
}

} // namespace xfc
