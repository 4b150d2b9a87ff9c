//===- Runtime.cpp - The xfc runtime C API --------------------------------===//
//
// Part of xfc. This file implements the C API of xfc/runtime.h: statuses,
// opening an artifact (manifest, CPU check, weights mapping and validation,
// library loading through a Backend), the query functions, run contexts
// and xfc_model_run. A context owns everything a run needs besides the
// caller's buffers (the arena of intermediates and the argument array), so
// xfc_context_run allocates nothing unless it fails. Weights are mapped read-only and handed to the entry point
// in place, never copied, which is why the weights file's layout (64-byte
// aligned tensors at the offsets the manifest records) is checked so
// strictly at open time. No C++ exception crosses the API: each entry point
// catches and turns it into XFC_INTERNAL.
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime.h"

#include "CpuBackend.h"
#include "GpuModel.h"
#include "Manifest.h"
#include "Status.h"
#include "xfc/Support/Checksum.h"

#include "xfc/Support/CpuFeatures.h"
#include "xfc/Support/Safetensors.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <new>
#include <sched.h>
#include <sstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <time.h>
#include <unistd.h>

struct xfc_model_s {
  /// The artifact folder as given to xfc_model_open (for messages).
  std::string folder;
  xfc::Manifest manifest;
  /// Infos whose names point into `manifest`.
  std::vector<xfc_tensor_info> inputInfos, outputInfos;
  /// One layer's segment memory (Transformer-XL), zeroed without one.
  xfc_tensor_info memoryInfo{};
  /// The read-only mapping of the weights file (null when empty).
  void *mapping = nullptr;
  size_t mappingSize = 0;
  /// One pointer into the mapping per manifest weight.
  std::vector<void *> weightPointers;
  /// Kernel descriptions whose strings point into `manifest`, and the
  /// arrays their `nodes` point to.
  std::vector<xfc_kernel_info> kernelInfos;
  std::vector<std::vector<const char *>> kernelNodes;
  const xfc::Backend *backend = nullptr;
  void *backendHandle = nullptr;
  /// Shape buckets (docs/artifact.md, "buckets"): each bucket's entry point
  /// (from Backend::resolve), and per input and output the most bytes it
  /// takes in any bucket (the size of the context's padding buffers).
  std::vector<void *> bucketEntries;
  std::vector<uint64_t> inputPadBytes, outputPadBytes;
  /// Some tensor runs along the target sequence (an encoder_decoder).
  bool hasTarget = false;
  /// A model compiled for a GPU: its device side, the host schedule's
  /// entry point, and "cuda:N" (xfc_model_device).
  std::unique_ptr<xfc::GpuModel> gpu;
  xfc::GpuEntry gpuEntry = nullptr;
  std::string device = "cpu";
  /// Per device kernel (the manifest's gpu.kernels), the kernel of the
  /// fusion plan it computes ("xf_k<N>_...": N), or -1 for the helpers
  /// that belong to none (xf_copy): a profile's kernels are the plan's.
  std::vector<int32_t> gpuKernelPlan;

  ~xfc_model_s() {
    if (gpu)
      xfc::closeGpuModel(*gpu);
    if (backend && backendHandle)
      backend->close(backendHandle);
    if (mapping)
      munmap(mapping, mappingSize);
  }
};

struct xfc_context_s {
  const xfc_model *model = nullptr;
  int32_t numThreads = 1;
  /// The arena of intermediate buffers, 64-byte aligned (never null).
  void *arena = nullptr;
  /// The entry point's arguments: inputs, weights, outputs, arena, profile
  /// buffer. The weights, the arena and the profile buffer are filled once;
  /// each run fills the rest.
  std::vector<void *> args;
  /// The profile buffer the generated code counts into (docs/artifact.md):
  /// [enable, run ticks, (kernel ticks, kernel calls) per kernel].
  std::vector<int64_t> profile;
  bool profiling = false;
  /// Runs counted and their wall time, measured around the entry point.
  uint64_t profiledRuns = 0;
  double profiledWallNs = 0;
  /// Segment memory (Transformer-XL; docs/transformer-xl.md): one block
  /// holding two [B, M, D] buffers per layer. Each run reads `memory` and
  /// writes `nextMemory`; the two are swapped after it, so carrying the
  /// memory over copies and allocates nothing. The filled positions are
  /// the last `memoryFilled` of the M; the rest are zeros, masked.
  void *memoryBlock = nullptr;
  std::vector<void *> memory, nextMemory;
  int64_t memoryFilled = 0;
  /// The i32 [B] length input, memoryFilled for every batch item.
  std::vector<int32_t> memoryFilledInput;
  /// Shaped runs of a bucketed model: one block holding a buffer per input
  /// and output of the size it has in its largest bucket, where inputs are
  /// padded and outputs land before their valid part is copied out.
  void *padBlock = nullptr;
  std::vector<void *> inputPads, outputPads;
  /// A GPU model's context: its stream and device buffers; `args` then
  /// holds device pointers and, last, the run context.
  std::unique_ptr<xfc::GpuContext> gpu;
  /// The caller's buffers of a GPU run (filled per run, never resized).
  std::vector<const void *> gpuInputs;
  std::vector<void *> gpuOutputs;
  /// A profiling GPU run's plan kernels already counted (one call a run).
  std::vector<uint8_t> gpuKernelCounted;

  ~xfc_context_s() {
    if (gpu)
      xfc::destroyGpuContext(*model->gpu, *gpu);
    std::free(arena);
    std::free(memoryBlock);
    std::free(padBlock);
  }
};

namespace xfc {

xfc_status outOfMemoryStatus() {
  static xfc_status_s status{XFC_INTERNAL, "out of memory"};
  return &status;
}

xfc_status makeStatus(xfc_status_code code, std::string message) {
  if (code == XFC_OK)
    return nullptr;
  try {
    return new xfc_status_s{code, std::move(message)};
  } catch (...) {
    return outOfMemoryStatus();
  }
}

} // namespace xfc

namespace {

using xfc::guarded;
using xfc::makeStatus;
using xfc::outOfMemoryStatus;

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

xfc_tensor_info makeInfo(const xfc::ManifestTensor &tensor) {
  xfc_tensor_info info;
  std::memset(&info, 0, sizeof(info));
  info.name = tensor.name.c_str();
  info.dtype = tensor.dtype;
  info.rank = static_cast<int32_t>(tensor.shape.size());
  for (size_t i = 0; i < tensor.shape.size(); ++i)
    info.dims[i] = tensor.shape[i];
  // A bound absent from the manifest is the int32 limit: ranged tensors are
  // i32, so that is the bound in effect.
  info.has_range = tensor.min || tensor.max ? 1 : 0;
  if (info.has_range) {
    info.min_value = tensor.min ? *tensor.min : INT32_MIN;
    info.max_value = tensor.max ? *tensor.max : INT32_MAX;
  }
  return info;
}

/// Reads the text of `path` into `out`.
xfc_status_code readText(const std::string &path, std::string &out,
                         std::string &error) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    error = "manifest.json not found (" + path + ")";
    return XFC_NOT_FOUND;
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!in || !S_ISREG(info.st_mode) || !(text << in.rdbuf())) {
    error = "cannot read " + path;
    return XFC_IO_ERROR;
  }
  out = text.str();
  return XFC_OK;
}

/// Maps the weights file and checks every manifest weight against its
/// safetensors header.
xfc_status_code mapWeights(const std::string &path, xfc_model &model,
                           std::string &error) {
  const std::string fileName = model.manifest.weightsFile;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    error = "weights file " + fileName + ": " + std::strerror(err);
    return err == ENOENT ? XFC_NOT_FOUND : XFC_IO_ERROR;
  }
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    error = "weights file " + fileName + " is not a regular file";
    return XFC_IO_ERROR;
  }
  size_t fileSize = static_cast<size_t>(info.st_size);
  // The size first: it is free, and a truncated or swapped file is the
  // common failure (an interrupted copy, the weights of another model).
  if (fileSize != model.manifest.weightsSizeBytes) {
    close(fd);
    error = "weights file " + fileName + " has " + std::to_string(fileSize) +
            " bytes, the manifest says " +
            std::to_string(model.manifest.weightsSizeBytes) +
            " (truncated, or the weights of another artifact)";
    return XFC_INVALID_ARTIFACT;
  }
  if (fileSize > 0) {
    void *mapping = mmap(nullptr, fileSize, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      int err = errno;
      close(fd);
      error = "cannot map weights file " + fileName + ": " + std::strerror(err);
      return XFC_IO_ERROR;
    }
    model.mapping = mapping;
    model.mappingSize = fileSize;
  }
  // The mapping stays valid after the descriptor is closed.
  close(fd);

  const auto *bytes = static_cast<const uint8_t *>(model.mapping);
  // The header's checksum, before parsing it: cheap (the header is a few
  // kilobytes) and it identifies the weights, since the compiler records
  // the checksum of the tensors' bytes in its metadata, so the weights of
  // another compile of the same architecture are refused here too. The
  // length field is bounded by the file, so a damaged one hashes at most
  // the file and then mismatches.
  if (fileSize >= 8) {
    uint64_t headerLength = 0;
    for (int i = 7; i >= 0; --i)
      headerLength = (headerLength << 8) | bytes[i];
    uint64_t headerEnd =
        headerLength > fileSize - 8 ? fileSize : 8 + headerLength;
    uint64_t checksum = xfc::fnv1a64(bytes, headerEnd);
    if (checksum != model.manifest.weightsHeaderChecksum) {
      error = "weights file " + fileName + ": header checksum (fnv1a64 of " +
              "bytes [0, " + std::to_string(headerEnd) + ")) is " +
              xfc::formatChecksum(checksum) + ", the manifest says " +
              xfc::formatChecksum(model.manifest.weightsHeaderChecksum) +
              " (the weights of another artifact, or a damaged header)";
      return XFC_INVALID_ARTIFACT;
    }
  }
  xfc::SafetensorsHeader header;
  std::string parseError;
  if (!xfc::parseSafetensors(bytes, fileSize, header, parseError)) {
    error = fileName + ": " + parseError;
    return XFC_INVALID_ARTIFACT;
  }

  for (size_t i = 0; i < model.manifest.weights.size(); ++i) {
    const xfc::ManifestWeight &weight = model.manifest.weights[i];
    std::string where =
        "weight '" + weight.name + "' ($.weights[" + std::to_string(i) + "]): ";
    const xfc::SafetensorsEntry *entry = header.find(weight.name);
    if (!entry) {
      error = where + "listed in manifest.json but missing from " + fileName;
      return XFC_INVALID_ARTIFACT;
    }
    std::string fileDtype = xfc::manifestDtypeName(weight.dtype);
    for (char &c : fileDtype)
      c = char(std::toupper(static_cast<unsigned char>(c)));
    if (entry->dtype != fileDtype) {
      error = where + "dtype mismatch: manifest.json says " +
              xfc::manifestDtypeName(weight.dtype) + ", " + fileName +
              " says " + entry->dtype;
      return XFC_INVALID_ARTIFACT;
    }
    if (entry->shape != weight.shape) {
      error = where + "shape mismatch: manifest.json says " +
              shapeString(weight.shape) + ", " + fileName + " says " +
              shapeString(entry->shape);
      return XFC_INVALID_ARTIFACT;
    }
    uint64_t end = 0;
    if (__builtin_add_overflow(weight.offset, weight.sizeBytes, &end) ||
        end > fileSize) {
      error = where + "byte range [" + std::to_string(weight.offset) +
              ", offset + " + std::to_string(weight.sizeBytes) +
              ") lies outside " + fileName + " (" + std::to_string(fileSize) +
              " bytes)";
      return XFC_INVALID_ARTIFACT;
    }
    if (entry->begin != weight.offset || entry->end != end) {
      error = where + "byte range mismatch: manifest.json says [" +
              std::to_string(weight.offset) + ", " + std::to_string(end) +
              "), " + fileName + " says [" + std::to_string(entry->begin) +
              ", " + std::to_string(entry->end) + ") (file offsets)";
      return XFC_INVALID_ARTIFACT;
    }
    // Kernels use aligned vector loads on weights; the mapping is page
    // aligned, so the file offset decides.
    if (weight.offset % xfc::kSafetensorsAlignment != 0) {
      error = where + "file offset " + std::to_string(weight.offset) +
              " is misaligned: expected a multiple of " +
              std::to_string(xfc::kSafetensorsAlignment);
      return XFC_INVALID_ARTIFACT;
    }
    model.weightPointers.push_back(
        model.mapping ? static_cast<uint8_t *>(model.mapping) + weight.offset
                      : nullptr);
  }
  return XFC_OK;
}

/// Words of the profile buffer: the enable flag, the run's ticks, then
/// ticks and calls per kernel (xf-outline-kernels).
size_t profileWords(const xfc::Manifest &manifest) {
  return 2 + 2 * manifest.kernels.size();
}

/// The device side of a model compiled for a GPU: the device code the
/// library embeds (checked against the manifest), loaded on GPU
/// `ordinal`, and the weights uploaded.
xfc_status openGpuSide(xfc_model &model, int32_t ordinal, bool skipDevice) {
  const xfc::Manifest &manifest = model.manifest;
  auto failure = [&](xfc_status_code code, const std::string &message) {
    return makeStatus(code, "artifact " + model.folder + ": " + message);
  };
  const xfc::Backend &backend = *model.backend;
  auto bytes = [&](const char *name, uint64_t expected, std::string &out,
                   std::string &error) {
    const void *data = backend.symbol(model.backendHandle, name);
    std::string sizeName = std::string(name) + "_size";
    const void *size = backend.symbol(model.backendHandle, sizeName.c_str());
    if (!data || !size) {
      error = "the compiled library has no " +
              std::string(data ? sizeName : name) +
              " (it was not compiled with --target=cuda)";
      return false;
    }
    uint64_t actual = *static_cast<const uint64_t *>(size);
    if (expected != UINT64_MAX && actual != expected) {
      error = "the compiled library's " + std::string(name) + " has " +
              std::to_string(actual) + " bytes, the manifest says " +
              std::to_string(expected);
      return false;
    }
    out.assign(static_cast<const char *>(data), actual);
    return true;
  };
  xfc::GpuImage image;
  image.chip = manifest.gpu.chip;
  image.ptxVersion = manifest.gpu.ptxVersion;
  std::string names, error;
  if (!bytes("xfc_gpu_ptx", manifest.gpu.ptxBytes, image.ptx, error) ||
      !bytes("xfc_gpu_cubin", manifest.gpu.cubinBytes, image.cubin, error) ||
      !bytes("xfc_gpu_kernel_names", UINT64_MAX, names, error))
    return failure(XFC_INVALID_ARTIFACT, error);
  for (size_t start = 0; start < names.size();) {
    size_t end = names.find('\0', start);
    if (end == std::string::npos)
      end = names.size();
    image.kernels.push_back(names.substr(start, end - start));
    start = end + 1;
  }
  if (image.kernels != manifest.gpu.kernels)
    return failure(XFC_INVALID_ARTIFACT,
                   "the compiled library launches " +
                       std::to_string(image.kernels.size()) +
                       " kernels that differ from the manifest's " +
                       std::to_string(manifest.gpu.kernels.size()) +
                       ": the manifest does not belong to this library");
  if (!xfc::checkGpuImage(image, error))
    return failure(XFC_INVALID_ARTIFACT, "the device code: " + error);
  model.gpuEntry = reinterpret_cast<xfc::GpuEntry>(const_cast<void *>(
      backend.symbol(model.backendHandle, manifest.entrySymbol.c_str())));
  if (skipDevice) {
    model.device = "cuda (not opened: skip_device)";
    return nullptr;
  }
  std::vector<uint64_t> sizes;
  for (const xfc::ManifestWeight &weight : manifest.weights)
    sizes.push_back(weight.sizeBytes);
  std::vector<const void *> host(model.weightPointers.begin(),
                                 model.weightPointers.end());
  auto device = std::make_unique<xfc::GpuModel>();
  if (!xfc::openGpuModel(ordinal, image, host, sizes, *device, error))
    return failure(XFC_UNSUPPORTED, "cannot open the model on GPU " +
                                        std::to_string(ordinal) + ": " + error);
  model.gpu = std::move(device);
  model.device = "cuda:" + std::to_string(ordinal);
  for (const std::string &name : image.kernels) {
    int32_t plan = -1;
    size_t digits = name.find_first_not_of("0123456789", 4);
    if (name.rfind("xf_k", 0) == 0 && digits != std::string::npos &&
        digits > 4 && digits - 4 < 9 && name[digits] == '_') {
      int64_t id = std::stoll(name.substr(4, digits - 4));
      if (id < int64_t(manifest.kernels.size()))
        plan = int32_t(id);
    }
    model.gpuKernelPlan.push_back(plan);
  }
  return nullptr;
}

xfc_status openModel(const char *path, const xfc_model_options *options,
                     xfc_model **outModel) {
  if (!outModel)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_model_open: out_model is NULL");
  *outModel = nullptr;
  if (!path || !*path)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_model_open: path is NULL or empty");
  bool skipCpuCheck = false, skipDevice = false;
  int32_t gpuDevice = 0;
  if (options) {
    if (options->struct_size < sizeof(uint32_t))
      return makeStatus(XFC_INVALID_ARGUMENT,
                        "xfc_model_open: options.struct_size is " +
                            std::to_string(options->struct_size) +
                            "; initialize options with "
                            "xfc_model_options_initialize");
    // Fields beyond struct_size come from an older caller: keep defaults.
    if (options->struct_size >= offsetof(xfc_model_options, skip_cpu_check) +
                                    sizeof(options->skip_cpu_check))
      skipCpuCheck = options->skip_cpu_check != 0;
    if (options->struct_size >=
        offsetof(xfc_model_options, gpu_device) + sizeof(options->gpu_device))
      gpuDevice = options->gpu_device;
    if (options->struct_size >=
        offsetof(xfc_model_options, skip_device) + sizeof(options->skip_device))
      skipDevice = options->skip_device != 0;
  }

  const std::string folder = path;
  auto failure = [&](xfc_status_code code, const std::string &message) {
    return makeStatus(code, "artifact " + folder + ": " + message);
  };
  struct stat info;
  if (stat(folder.c_str(), &info) != 0)
    return failure(XFC_NOT_FOUND, "the artifact folder does not exist");
  if (!S_ISDIR(info.st_mode))
    return failure(XFC_NOT_FOUND,
                   "not a folder (expected an artifact folder holding "
                   "manifest.json)");

  std::string text, error;
  xfc_status_code code = readText(folder + "/manifest.json", text, error);
  if (code != XFC_OK)
    return failure(code, error);

  auto model = std::make_unique<xfc_model>();
  model->folder = folder;
  if (!xfc::parseManifest(text, model->manifest, code, error))
    return failure(code, error);
  const xfc::Manifest &manifest = model->manifest;

  if (!skipCpuCheck) {
    std::vector<std::string> missing =
        xfc::missingCpuFeatures(manifest.target.features);
    if (!missing.empty()) {
      std::string list;
      for (const std::string &name : missing)
        list += (list.empty() ? "" : ", ") + name;
      return failure(XFC_UNSUPPORTED,
                     "this CPU lacks features the model was compiled for "
                     "(target cpu '" +
                         manifest.target.cpu + "'): missing " + list +
                         "; recompile for this CPU, or set skip_cpu_check "
                         "to load it anyway");
    }
  }

  code = mapWeights(folder + "/" + manifest.weightsFile, *model, error);
  if (code != XFC_OK)
    return failure(code, error);

  // The loader maps a truncated or damaged library and the process dies of
  // SIGBUS inside dlopen; the recorded size and checksum catch it first.
  {
    std::string libraryPath = folder + "/" + manifest.library;
    uint64_t size = 0, checksum = 0;
    struct stat libraryInfo;
    if (stat(libraryPath.c_str(), &libraryInfo) != 0)
      return failure(XFC_NOT_FOUND,
                     "compiled library " + libraryPath + " not found");
    if (!xfc::checksumFile(libraryPath, size, checksum, error))
      return failure(XFC_IO_ERROR, "compiled library: " + error);
    if (size != manifest.librarySizeBytes)
      return failure(XFC_INVALID_ARTIFACT,
                     "compiled library " + manifest.library + " has " +
                         std::to_string(size) + " bytes, the manifest says " +
                         std::to_string(manifest.librarySizeBytes) +
                         " (truncated or replaced)");
    if (checksum != manifest.libraryChecksum)
      return failure(XFC_INVALID_ARTIFACT,
                     "compiled library " + manifest.library + " has checksum " +
                         xfc::formatChecksum(checksum) +
                         ", the manifest says " +
                         xfc::formatChecksum(manifest.libraryChecksum) +
                         " (damaged or replaced)");
  }

  // The entry point's arguments in ABI order (docs/artifact.md).
  std::vector<xfc::EntryArgument> arguments;
  // The segment memory's tensors follow the caller's inputs and outputs.
  const xfc::ManifestSegmentMemory &segment = manifest.segmentMemory;
  for (const xfc::ManifestTensor &tensor : manifest.inputs)
    arguments.push_back({tensor.name, tensor.sizeBytes});
  if (segment.memoryLength > 0) {
    arguments.push_back(
        {segment.lengthInput.name, segment.lengthInput.sizeBytes});
    for (const xfc::ManifestTensor &tensor : segment.inputs)
      arguments.push_back({tensor.name, tensor.sizeBytes});
  }
  for (const xfc::ManifestWeight &weight : manifest.weights)
    arguments.push_back({weight.name, weight.sizeBytes});
  for (const xfc::ManifestTensor &tensor : manifest.outputs)
    arguments.push_back({tensor.name, tensor.sizeBytes});
  for (const xfc::ManifestTensor &tensor : segment.outputs)
    arguments.push_back({tensor.name, tensor.sizeBytes});
  // A bucketed artifact's plain entry point is its largest bucket, whose
  // own arena may be smaller than the one every context allocates.
  arguments.push_back({"(arena)", manifest.buckets.empty()
                                      ? manifest.arenaBytes
                                      : manifest.buckets.back().arenaBytes});
  // A GPU model's host schedule takes the run context instead of the
  // profile buffer (not in the signature: it is no tensor).
  const bool gpu = !manifest.gpu.chip.empty();
  if (!gpu)
    arguments.push_back(
        {"(profile)", profileWords(manifest) * sizeof(int64_t)});
  const xfc::Backend &backend = xfc::cpuBackend();
  void *handle = nullptr;
  code = backend.open(folder + "/" + manifest.library, manifest.entrySymbol,
                      arguments, &handle, error);
  if (code != XFC_OK)
    return failure(code, error);
  model->backend = &backend;
  model->backendHandle = handle;
  if (gpu) {
    if (xfc_status status = openGpuSide(*model, gpuDevice, skipDevice))
      return status;
  }

  // Every bucket's entry point, checked against its own signature: the
  // same weights, its own input, output and arena sizes.
  for (const xfc::ManifestBucket &bucket : manifest.buckets) {
    xfc_run_shape shape{bucket.batch, bucket.seqLen, bucket.tgtLen};
    std::vector<xfc::EntryArgument> bucketArguments;
    auto add = [&](const std::vector<xfc::ManifestTensor> &tensors,
                   std::vector<uint64_t> &most) {
      most.resize(tensors.size(), 0);
      for (size_t i = 0; i < tensors.size(); ++i) {
        uint64_t bytes = xfc_dtype_size(tensors[i].dtype);
        for (int64_t d : xfc::shapeAt(tensors[i], shape))
          bytes *= static_cast<uint64_t>(d);
        most[i] = std::max(most[i], bytes);
        bucketArguments.push_back({tensors[i].name, bytes});
      }
    };
    add(manifest.inputs, model->inputPadBytes);
    for (const xfc::ManifestWeight &weight : manifest.weights)
      bucketArguments.push_back({weight.name, weight.sizeBytes});
    add(manifest.outputs, model->outputPadBytes);
    bucketArguments.push_back({"(arena)", bucket.arenaBytes});
    bucketArguments.push_back(
        {"(profile)", profileWords(manifest) * sizeof(int64_t)});
    void *entry = nullptr;
    code = backend.resolve(handle, bucket.entrySymbol, bucket.signatureSymbol,
                           bucketArguments, &entry, error);
    if (code != XFC_OK)
      return failure(code, "bucket " + std::to_string(bucket.batch) + "x" +
                               std::to_string(bucket.seqLen) + ": " + error);
    model->bucketEntries.push_back(entry);
  }
  for (const std::vector<xfc::ManifestTensor> *list :
       {&manifest.inputs, &manifest.outputs})
    for (const xfc::ManifestTensor &tensor : *list)
      for (xfc_dim dim : tensor.dims)
        model->hasTarget |= dim == XFC_DIM_TGT_LEN;

  for (const xfc::ManifestTensor &tensor : manifest.inputs)
    model->inputInfos.push_back(makeInfo(tensor));
  for (const xfc::ManifestTensor &tensor : manifest.outputs)
    model->outputInfos.push_back(makeInfo(tensor));
  if (segment.memoryLength > 0)
    model->memoryInfo = makeInfo(segment.inputs.front());
  // Node arrays first: the infos point into them, so they must not move.
  for (const xfc::ManifestKernel &kernel : manifest.kernels) {
    std::vector<const char *> &nodes = model->kernelNodes.emplace_back();
    for (const std::string &node : kernel.nodes)
      nodes.push_back(node.c_str());
  }
  for (size_t k = 0; k < manifest.kernels.size(); ++k) {
    const xfc::ManifestKernel &kernel = manifest.kernels[k];
    xfc_kernel_info info;
    std::memset(&info, 0, sizeof(info));
    info.name = kernel.name.c_str();
    info.symbol = kernel.symbol.c_str();
    info.kind = kernel.kind.c_str();
    info.nodes = model->kernelNodes[k].data();
    info.num_nodes = model->kernelNodes[k].size();
    info.flops = kernel.flops;
    info.bytes = kernel.bytes;
    model->kernelInfos.push_back(info);
  }
  *outModel = model.release();
  return nullptr;
}

/// A tensor's shape at a run shape, in place: runs allocate nothing.
struct FixedShape {
  size_t rank = 0;
  int64_t dims[XFC_MAX_RANK] = {};
};

/// `tensor`'s shape at `shape` (parseManifest bounds the rank).
FixedShape fixedShapeAt(const xfc::ManifestTensor &tensor,
                        const xfc_run_shape &shape) {
  FixedShape out;
  out.rank = std::min<size_t>(tensor.shape.size(), XFC_MAX_RANK);
  for (size_t d = 0; d < out.rank; ++d)
    out.dims[d] = d < tensor.dims.size()
                      ? xfc::dimSize(tensor.dims[d], tensor.shape[d], shape)
                      : tensor.shape[d];
  return out;
}

/// Bytes of `tensor` at `shape` (its manifest size when `shape` is null).
/// Never overflows for a shape within a bucket (parseManifest checked the
/// buckets' sizes).
uint64_t bytesAt(const xfc::ManifestTensor &tensor,
                 const xfc_run_shape *shape) {
  if (!shape)
    return tensor.sizeBytes;
  FixedShape at = fixedShapeAt(tensor, *shape);
  uint64_t bytes = xfc_dtype_size(tensor.dtype);
  for (size_t d = 0; d < at.rank; ++d)
    bytes *= static_cast<uint64_t>(at.dims[d]);
  return bytes;
}

/// Checks a list of caller buffers against the manifest's tensors, at
/// `shape` when given (a shaped run).
xfc_status checkBuffers(const char *function, const char *kind,
                        const xfc_buffer *buffers, size_t count,
                        const std::vector<xfc::ManifestTensor> &tensors,
                        const xfc_run_shape *shape = nullptr) {
  if (count != tensors.size())
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": expected " +
                          std::to_string(tensors.size()) + " " + kind +
                          " buffers, found " + std::to_string(count));
  if (count > 0 && !buffers)
    return makeStatus(XFC_INVALID_ARGUMENT, std::string(function) + ": the " +
                                                kind + " array is NULL");
  for (size_t i = 0; i < count; ++i) {
    const xfc::ManifestTensor &tensor = tensors[i];
    uint64_t expected = bytesAt(tensor, shape);
    if (buffers[i].size_bytes != expected)
      return makeStatus(
          XFC_INVALID_ARGUMENT,
          std::string(function) + ": " + kind + " " + std::to_string(i) +
              " ('" + tensor.name + "', " +
              xfc::manifestDtypeName(tensor.dtype) + " " +
              shapeString(shape ? xfc::shapeAt(tensor, *shape) : tensor.shape) +
              "): expected size_bytes " + std::to_string(expected) +
              ", found " + std::to_string(buffers[i].size_bytes));
    if (!buffers[i].data && expected != 0)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        std::string(function) + ": " + kind + " " +
                            std::to_string(i) + " ('" + tensor.name +
                            "'): data is NULL");
  }
  return nullptr;
}

/// Checks every element of the integer inputs that carry a value range.
/// In a shaped run (`shape` given) a lengths input is bounded by the run's
/// length, not the bucket's: the positions past it are padding.
xfc_status checkInputRanges(const char *function, const xfc_model &model,
                            const xfc_buffer *inputs,
                            const xfc_run_shape *shape = nullptr) {
  for (size_t i = 0; i < model.manifest.inputs.size(); ++i) {
    const xfc::ManifestTensor &tensor = model.manifest.inputs[i];
    if (tensor.dtype != XFC_DTYPE_I32 || (!tensor.min && !tensor.max))
      continue;
    int64_t lo = tensor.min ? *tensor.min : INT64_MIN;
    int64_t hi = tensor.max ? *tensor.max : INT64_MAX;
    if (shape && tensor.lengthsOf != XFC_DIM_FIXED)
      hi = std::min(hi, xfc::dimSize(tensor.lengthsOf, hi, *shape));
    const auto *bytes = static_cast<const uint8_t *>(inputs[i].data);
    size_t count = bytesAt(tensor, shape) / sizeof(int32_t);
    for (size_t k = 0; k < count; ++k) {
      // memcpy: the API accepts buffers of any alignment.
      int32_t value;
      std::memcpy(&value, bytes + k * sizeof(int32_t), sizeof(value));
      if (value < lo || value > hi)
        return makeStatus(
            XFC_INVALID_ARGUMENT,
            std::string(function) + ": input '" + tensor.name + "' element " +
                std::to_string(k) + " (flat index) is " +
                std::to_string(value) + ", outside the allowed range [" +
                (tensor.min ? std::to_string(lo) : std::string("-inf")) + ", " +
                (tensor.max ? std::to_string(hi) : std::string("inf")) + "]");
    }
  }
  return nullptr;
}

/// The thread count a context uses for `requested` (0: every core).
int32_t resolveThreads(int32_t requested) {
  if (requested > 0)
    return requested;
  // The cores this process may run on (taskset, cgroups' cpusets), not
  // every core of the machine.
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  unsigned cores = std::thread::hardware_concurrency();
  return cores ? static_cast<int32_t>(cores) : 1;
}

/// Sets the memory's filled count, in the context and in its length input.
void setMemoryFilled(xfc_context &context, int64_t filled) {
  context.memoryFilled = filled;
  std::fill(context.memoryFilledInput.begin(), context.memoryFilledInput.end(),
            static_cast<int32_t>(filled));
}

/// Empties the segment memory: zeros everywhere, nothing filled.
void resetSegmentMemory(xfc_context &context) {
  const xfc::ManifestSegmentMemory &segment =
      context.model->manifest.segmentMemory;
  if (segment.memoryLength == 0)
    return;
  size_t bytes = segment.inputs.front().sizeBytes;
  for (size_t i = 0; i < context.memory.size(); ++i) {
    std::memset(context.memory[i], 0, bytes);
    std::memset(context.nextMemory[i], 0, bytes);
  }
  setMemoryFilled(context, 0);
}

/// Allocates the segment memory of a model that has one (once, at context
/// creation), empty.
xfc_status createSegmentMemory(xfc_context &context) {
  const xfc::ManifestSegmentMemory &segment =
      context.model->manifest.segmentMemory;
  if (segment.memoryLength == 0)
    return nullptr;
  // Each buffer rounded up to 64 bytes, so every one stays aligned.
  uint64_t bytes = segment.inputs.front().sizeBytes;
  uint64_t stride = (bytes + 63) / 64 * 64;
  uint64_t count = 2 * segment.inputs.size();
  if (stride < bytes || (stride && count > UINT64_MAX / stride) ||
      count * stride > SIZE_MAX - 64)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_context_create: the segment memory of " +
                          std::to_string(count) + " x " +
                          std::to_string(bytes) + " bytes does not fit");
  size_t total = static_cast<size_t>(std::max<uint64_t>(count * stride, 64));
  context.memoryBlock = std::aligned_alloc(64, total);
  if (!context.memoryBlock)
    return makeStatus(XFC_INTERNAL, "xfc_context_create: cannot allocate the " +
                                        std::to_string(total) +
                                        "-byte segment memory: out of memory");
  auto *base = static_cast<uint8_t *>(context.memoryBlock);
  for (size_t i = 0; i < segment.inputs.size(); ++i) {
    context.memory.push_back(base + (2 * i) * stride);
    context.nextMemory.push_back(base + (2 * i + 1) * stride);
  }
  context.memoryFilledInput.assign(
      static_cast<size_t>(segment.lengthInput.shape[0]), 0);
  resetSegmentMemory(context);
  return nullptr;
}

/// After a run: the next memories become the memories, and L more
/// positions are filled (at most M).
void advanceSegmentMemory(xfc_context &context) {
  const xfc::ManifestSegmentMemory &segment =
      context.model->manifest.segmentMemory;
  if (segment.memoryLength == 0)
    return;
  std::swap(context.memory, context.nextMemory);
  setMemoryFilled(context,
                  std::min(segment.memoryLength,
                           context.memoryFilled + segment.segmentLength));
}

/// Allocates the padding buffers of a bucketed model (once, at context
/// creation): one 64-byte aligned block for every input and output.
xfc_status createPadBuffers(xfc_context &context) {
  const xfc_model &model = *context.model;
  if (model.bucketEntries.empty())
    return nullptr;
  uint64_t total = 0;
  bool overflow = false;
  std::vector<uint64_t> offsets;
  for (const std::vector<uint64_t> *list :
       {&model.inputPadBytes, &model.outputPadBytes})
    for (uint64_t bytes : *list) {
      offsets.push_back(total);
      uint64_t stride = (bytes + 63) / 64 * 64;
      overflow |= stride < bytes || total + stride < total;
      total += stride;
    }
  if (overflow || total > SIZE_MAX - 64)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_context_create: the padding buffers do not fit "
                      "in memory");
  context.padBlock = std::aligned_alloc(
      64, static_cast<size_t>(std::max<uint64_t>(total, 64)));
  if (!context.padBlock)
    return makeStatus(XFC_INTERNAL, "xfc_context_create: cannot allocate the " +
                                        std::to_string(total) +
                                        "-byte padding buffers: out of memory");
  auto *base = static_cast<uint8_t *>(context.padBlock);
  size_t k = 0;
  for (size_t i = 0; i < model.inputPadBytes.size(); ++i)
    context.inputPads.push_back(base + offsets[k++]);
  for (size_t i = 0; i < model.outputPadBytes.size(); ++i)
    context.outputPads.push_back(base + offsets[k++]);
  return nullptr;
}

xfc_status createGpuContext(std::unique_ptr<xfc_context> context,
                            bool profiling, bool graph,
                            xfc_context **outContext);

xfc_status createContext(const xfc_model *model,
                         const xfc_context_options *options,
                         xfc_context **outContext) {
  if (!outContext)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_context_create: out_context is NULL");
  *outContext = nullptr;
  if (!model)
    return makeStatus(XFC_INVALID_ARGUMENT, "xfc_context_create: model is NULL");
  int32_t numThreads = 0;
  bool profiling = false, gpuGraph = true;
  if (options) {
    if (options->struct_size < sizeof(uint32_t))
      return makeStatus(XFC_INVALID_ARGUMENT,
                        "xfc_context_create: options.struct_size is " +
                            std::to_string(options->struct_size) +
                            "; initialize options with "
                            "xfc_context_options_initialize");
    // Fields beyond struct_size come from an older caller: keep defaults.
    if (options->struct_size >= offsetof(xfc_context_options, num_threads) +
                                    sizeof(options->num_threads))
      numThreads = options->num_threads;
    if (options->struct_size >=
        offsetof(xfc_context_options, enable_profiling) +
            sizeof(options->enable_profiling))
      profiling = options->enable_profiling != 0;
    if (options->struct_size >=
        offsetof(xfc_context_options, gpu_graph) + sizeof(options->gpu_graph))
      gpuGraph = options->gpu_graph != 0;
    if (numThreads < 0)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        "xfc_context_create: num_threads is " +
                            std::to_string(numThreads) +
                            "; expected 0 (every core) or a positive count");
  }
  if (!model->manifest.gpu.chip.empty() && !model->gpu)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_context_create: the model was opened without its "
                      "GPU (xfc_model_options.skip_device): it can be "
                      "inspected and verified, not run");
  auto context = std::make_unique<xfc_context>();
  context->model = model;
  context->numThreads = resolveThreads(numThreads);
  if (model->gpu)
    return createGpuContext(std::move(context), profiling, gpuGraph,
                            outContext);
  // Rounded up to the alignment, as aligned_alloc requires, and never
  // empty, so the entry point always gets a valid pointer.
  uint64_t bytes = model->manifest.arenaBytes;
  uint64_t rounded = (std::max<uint64_t>(bytes, 1) + 63) / 64 * 64;
  if (rounded < bytes || rounded > SIZE_MAX)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_context_create: the arena of " +
                          std::to_string(bytes) + " bytes does not fit");
  context->arena = std::aligned_alloc(64, static_cast<size_t>(rounded));
  if (!context->arena)
    return makeStatus(XFC_INTERNAL, "xfc_context_create: cannot allocate the " +
                                        std::to_string(bytes) +
                                        "-byte arena: out of memory");
  const xfc::Manifest &manifest = model->manifest;
  context->args.assign(manifest.numEntryInputs() +
                           model->weightPointers.size() +
                           manifest.numEntryOutputs() + 2,
                       nullptr);
  std::copy(model->weightPointers.begin(), model->weightPointers.end(),
            context->args.begin() + manifest.numEntryInputs());
  if (xfc_status status = createSegmentMemory(*context))
    return status;
  if (xfc_status status = createPadBuffers(*context))
    return status;
  // The generated code always takes the profile buffer; word 0 decides
  // whether it counts.
  context->profile.assign(profileWords(manifest), 0);
  context->profiling = profiling;
  context->profile[0] = profiling ? 1 : 0;
  context->args[context->args.size() - 2] = context->arena;
  context->args.back() = context->profile.data();
  *outContext = context.release();
  return nullptr;
}

/// createContext for a GPU model: the device block and stream, the
/// argument array of device pointers with the run context last, and with
/// `graph` the schedule captured into a CUDA graph.
xfc_status createGpuContext(std::unique_ptr<xfc_context> context,
                            bool profiling, bool graph,
                            xfc_context **outContext) {
  const xfc_model &model = *context->model;
  const xfc::Manifest &manifest = model.manifest;
  std::vector<uint64_t> inputBytes, outputBytes;
  for (const xfc::ManifestTensor &tensor : manifest.inputs)
    inputBytes.push_back(tensor.sizeBytes);
  for (const xfc::ManifestTensor &tensor : manifest.outputs)
    outputBytes.push_back(tensor.sizeBytes);
  auto device = std::make_unique<xfc::GpuContext>();
  std::string error;
  if (!xfc::createGpuContext(*model.gpu, manifest.arenaBytes, inputBytes,
                             outputBytes, *device, error))
    return makeStatus(XFC_UNSUPPORTED, "xfc_context_create: " + error);
  context->gpu = std::move(device);
  std::vector<void *> &args = context->args;
  args = context->gpu->inputs;
  args.insert(args.end(), model.gpu->weightPointers.begin(),
              model.gpu->weightPointers.end());
  args.insert(args.end(), context->gpu->outputs.begin(),
              context->gpu->outputs.end());
  args.push_back(context->gpu->arena);
  args.push_back(&context->gpu->run);
  context->gpuInputs.assign(manifest.inputs.size(), nullptr);
  context->gpuOutputs.assign(manifest.outputs.size(), nullptr);
  context->profile.assign(profileWords(manifest), 0);
  if (profiling) {
    if (!xfc::enableGpuProfiling(*model.gpu, *context->gpu, model.gpuEntry,
                                 args.data(), error))
      return makeStatus(XFC_UNSUPPORTED,
                        "xfc_context_create: preparing the profile: " + error);
    context->profiling = true;
    context->profile[0] = 1;
    context->gpuKernelCounted.assign(manifest.kernels.size(), 0);
  } else if (graph && !xfc::captureGpuGraph(*model.gpu, *context->gpu,
                                            model.gpuEntry, args.data(), error))
    return makeStatus(XFC_UNSUPPORTED,
                      "xfc_context_create: recording the kernel launches "
                      "into a CUDA graph: " +
                          error +
                          " (xfc_context_options.gpu_graph = 0 launches "
                          "them one by one)");
  *outContext = context.release();
  return nullptr;
}

/// Calls the model's entry point (`entry` null) or a bucket's on the
/// context's argument array, timing it when the context profiles.
void invoke(xfc_context &context, void *entry) {
  const xfc_model *model = context.model;
  void **args = context.args.data();
  auto call = [&] {
    if (entry)
      model->backend->runEntry(model->backendHandle, entry, args,
                               context.numThreads);
    else
      model->backend->run(model->backendHandle, args, context.numThreads);
  };
  if (!context.profiling) {
    call();
    return;
  }
  timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  call();
  clock_gettime(CLOCK_MONOTONIC, &end);
  context.profiledRuns += 1;
  context.profiledWallNs += double(end.tv_sec - start.tv_sec) * 1e9 +
                            double(end.tv_nsec - start.tv_nsec);
}

/// Adds a profiling GPU run that took `wallNs` on the host to the profile
/// words. A GPU tick is a nanosecond: the run's ticks are its wall time,
/// a kernel's the device time between the events around its launches
/// (ns_per_tick is then 1), and a plan kernel launched several times in a
/// run counts one call.
void countGpuProfile(xfc_context &context, int64_t wallNs) {
  const xfc_model &model = *context.model;
  const xfc::GpuContext &gpu = *context.gpu;
  std::vector<int64_t> &words = context.profile;
  std::fill(context.gpuKernelCounted.begin(), context.gpuKernelCounted.end(),
            0);
  for (uint64_t l = 0; l < gpu.run.launches; ++l) {
    int32_t kernel = gpu.run.launchedKernels[l];
    int32_t plan = kernel >= 0 && size_t(kernel) < model.gpuKernelPlan.size()
                       ? model.gpuKernelPlan[kernel]
                       : -1;
    if (plan < 0)
      continue; // A helper (xf_copy): part of the time between kernels.
    words[2 + 2 * plan] += int64_t(std::llround(gpu.launchNs[l]));
    if (!context.gpuKernelCounted[plan]) {
      context.gpuKernelCounted[plan] = 1;
      words[3 + 2 * plan] += 1;
    }
  }
  words[1] += wallNs;
  context.profiledRuns += 1;
  context.profiledWallNs += double(wallNs);
}

/// Checks the caller's buffers and calls the entry point. Allocates only to
/// report an error: the argument array and the arena belong to `context`.
xfc_status runContext(const char *function, xfc_context *context,
                      const xfc_buffer *inputs, size_t numInputs,
                      const xfc_buffer *outputs, size_t numOutputs) {
  if (!context)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": context is NULL");
  const xfc_model *model = context->model;
  const xfc::Manifest &manifest = model->manifest;
  if (xfc_status status =
          checkBuffers(function, "input", inputs, numInputs, manifest.inputs))
    return status;
  if (xfc_status status = checkBuffers(function, "output", outputs, numOutputs,
                                       manifest.outputs))
    return status;
  if (xfc_status status = checkInputRanges(function, *model, inputs))
    return status;

  if (model->gpu) {
    for (size_t i = 0; i < numInputs; ++i)
      context->gpuInputs[i] = inputs[i].data;
    for (size_t i = 0; i < numOutputs; ++i)
      context->gpuOutputs[i] = outputs[i].data;
    std::string error;
    timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (!xfc::runGpuContext(*model->gpu, *context->gpu, model->gpuEntry,
                            context->args.data(), context->gpuInputs,
                            context->gpuOutputs, error))
      return makeStatus(XFC_INTERNAL, std::string(function) + ": " + error);
    clock_gettime(CLOCK_MONOTONIC, &end);
    if (context->profiling)
      countGpuProfile(*context,
                      int64_t(end.tv_sec - start.tv_sec) * 1000000000 +
                          int64_t(end.tv_nsec - start.tv_nsec));
    return nullptr;
  }
  void **args = context->args.data();
  for (size_t i = 0; i < numInputs; ++i)
    args[i] = inputs[i].data;
  size_t outputsAt = manifest.numEntryInputs() + model->weightPointers.size();
  for (size_t i = 0; i < numOutputs; ++i)
    args[outputsAt + i] = outputs[i].data;
  const xfc::ManifestSegmentMemory &segment = manifest.segmentMemory;
  if (segment.memoryLength > 0) {
    args[numInputs] = context->memoryFilledInput.data();
    for (size_t i = 0; i < context->memory.size(); ++i) {
      args[numInputs + 1 + i] = context->memory[i];
      args[outputsAt + numOutputs + i] = context->nextMemory[i];
    }
  }
  invoke(*context, nullptr);
  advanceSegmentMemory(*context);
  return nullptr;
}

/// "1x8, 1x32, 1x128": the buckets of `model` (BxS, or BxSxT with a
/// target sequence).
std::string bucketList(const xfc_model &model) {
  std::string out;
  for (const xfc::ManifestBucket &b : model.manifest.buckets)
    out += (out.empty() ? "" : ", ") + std::to_string(b.batch) + "x" +
           std::to_string(b.seqLen) +
           (model.hasTarget ? "x" + std::to_string(b.tgtLen) : "");
  return out;
}

/// "batch 1, seq_len 7" (", tgt_len 5" with a target sequence).
std::string shapeName(const xfc_run_shape &shape, bool target) {
  return "batch " + std::to_string(shape.batch) + ", seq_len " +
         std::to_string(shape.seq_len) +
         (target ? ", tgt_len " + std::to_string(shape.tgt_len) : "");
}

/// Checks `shape` and picks the first bucket that holds it: `out` is the
/// shape with tgt_len resolved (seq_len when 0 or without a target).
xfc_status selectBucket(const char *function, const xfc_model &model,
                        const xfc_run_shape *shape, xfc_run_shape &out,
                        size_t &index) {
  if (!shape)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": shape is NULL");
  out = *shape;
  if (out.batch < 1 || out.seq_len < 1 || out.tgt_len < 0)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) +
                          ": expected a shape with batch >= 1, seq_len >= 1 "
                          "and tgt_len >= 0 (0: seq_len), found batch " +
                          std::to_string(out.batch) + ", seq_len " +
                          std::to_string(out.seq_len) + ", tgt_len " +
                          std::to_string(out.tgt_len));
  if (out.tgt_len == 0 || !model.hasTarget)
    out.tgt_len = out.seq_len;
  const std::vector<xfc::ManifestBucket> &buckets = model.manifest.buckets;
  if (buckets.empty())
    return makeStatus(
        XFC_INVALID_ARGUMENT,
        std::string(function) + ": model '" + model.manifest.modelName +
            "' was compiled for one shape (batch " +
            std::to_string(model.manifest.compiledBatch) + ", seq_len " +
            std::to_string(model.manifest.compiledSeqLen) +
            ") and has no buckets; compile it with "
            "`xfc compile --buckets=...` to run other shapes");
  for (index = 0; index < buckets.size(); ++index) {
    const xfc::ManifestBucket &b = buckets[index];
    if (b.batch >= out.batch && b.seqLen >= out.seq_len &&
        (!model.hasTarget || b.tgtLen >= out.tgt_len))
      return nullptr;
  }
  return makeStatus(XFC_INVALID_ARGUMENT,
                    std::string(function) + ": no bucket of model '" +
                        model.manifest.modelName + "' holds " +
                        shapeName(out, model.hasTarget) + "; its buckets (" +
                        (model.hasTarget ? "BxSxT" : "BxS") + ") are " +
                        bucketList(model) +
                        "; recompile with a larger bucket or split the "
                        "input");
}

/// Copies the leading `block` of a dense row-major tensor of shape `from`
/// into a dense tensor of shape `to` (same rank, each dimension at least
/// the block's), element size `element`. Nothing outside the block is
/// written.
void copyBlock(const uint8_t *source, const FixedShape &from, uint8_t *target,
               const FixedShape &to, const FixedShape &block, size_t element) {
  size_t rank = block.rank;
  if (rank == 0) {
    std::memcpy(target, source, element);
    return;
  }
  for (size_t d = 0; d < rank; ++d)
    if (block.dims[d] == 0)
      return;
  // Rows of the last dimension, walked with an odometer over the others.
  size_t rowBytes = static_cast<size_t>(block.dims[rank - 1]) * element;
  int64_t index[XFC_MAX_RANK] = {};
  while (true) {
    int64_t fromRow = 0, toRow = 0;
    for (size_t d = 0; d + 1 < rank; ++d) {
      fromRow = fromRow * from.dims[d] + index[d];
      toRow = toRow * to.dims[d] + index[d];
    }
    std::memcpy(
        target + static_cast<size_t>(toRow * to.dims[rank - 1]) * element,
        source + static_cast<size_t>(fromRow * from.dims[rank - 1]) * element,
        rowBytes);
    size_t d = rank - 1;
    while (d > 0 && ++index[d - 1] == block.dims[d - 1]) {
      index[d - 1] = 0;
      --d;
    }
    if (d == 0)
      return;
  }
}

/// xfc_context_run_shaped: picks the bucket, pads the inputs into the
/// context's buffers (unless the shape is the bucket's), runs the bucket's
/// entry point and copies the valid part of each output back.
xfc_status runShaped(const char *function, xfc_context *context,
                     const xfc_run_shape *shape, const xfc_buffer *inputs,
                     size_t numInputs, const xfc_buffer *outputs,
                     size_t numOutputs) {
  if (!context)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": context is NULL");
  const xfc_model *model = context->model;
  const xfc::Manifest &manifest = model->manifest;
  // One shape: only that shape, through the ordinary run.
  if (manifest.buckets.empty() && shape && shape->batch >= 1 &&
      shape->batch == manifest.compiledBatch &&
      shape->seq_len == manifest.compiledSeqLen &&
      (shape->tgt_len == 0 || shape->tgt_len == manifest.compiledTgtLen))
    return runContext(function, context, inputs, numInputs, outputs,
                      numOutputs);
  xfc_run_shape actual;
  size_t index = 0;
  if (xfc_status status = selectBucket(function, *model, shape, actual, index))
    return status;
  const xfc::ManifestBucket &bucket = manifest.buckets[index];
  xfc_run_shape padded{bucket.batch, bucket.seqLen, bucket.tgtLen};
  if (xfc_status status = checkBuffers(function, "input", inputs, numInputs,
                                       manifest.inputs, &actual))
    return status;
  if (xfc_status status = checkBuffers(function, "output", outputs, numOutputs,
                                       manifest.outputs, &actual))
    return status;
  if (xfc_status status = checkInputRanges(function, *model, inputs, &actual))
    return status;

  bool exact = padded.batch == actual.batch &&
               padded.seq_len == actual.seq_len &&
               (!model->hasTarget || padded.tgt_len == actual.tgt_len);
  void **args = context->args.data();
  for (size_t i = 0; i < numInputs; ++i) {
    if (exact) {
      args[i] = inputs[i].data;
      continue;
    }
    // Padding is zeros: token id 0 (any id would do, the padded keys are
    // masked and the padded rows dropped) and length 0 before the fill
    // below.
    const xfc::ManifestTensor &tensor = manifest.inputs[i];
    auto *pad = static_cast<uint8_t *>(context->inputPads[i]);
    std::memset(pad, 0, bytesAt(tensor, &padded));
    FixedShape valid = fixedShapeAt(tensor, actual);
    copyBlock(static_cast<const uint8_t *>(inputs[i].data), valid, pad,
              fixedShapeAt(tensor, padded), valid,
              xfc_dtype_size(tensor.dtype));
    // A padded batch item is a sequence of padding of the run's length,
    // like a real one: no row of it is all masked.
    if (tensor.lengthsOf != XFC_DIM_FIXED) {
      int32_t length =
          static_cast<int32_t>(xfc::dimSize(tensor.lengthsOf, 0, actual));
      for (int64_t b = actual.batch; b < padded.batch; ++b)
        std::memcpy(pad + b * sizeof(int32_t), &length, sizeof(length));
    }
    args[i] = pad;
  }
  size_t outputsAt = manifest.numEntryInputs() + model->weightPointers.size();
  for (size_t i = 0; i < numOutputs; ++i)
    args[outputsAt + i] = exact ? outputs[i].data : context->outputPads[i];
  invoke(*context, model->bucketEntries[index]);
  if (!exact)
    for (size_t i = 0; i < numOutputs; ++i) {
      const xfc::ManifestTensor &tensor = manifest.outputs[i];
      FixedShape valid = fixedShapeAt(tensor, actual);
      copyBlock(static_cast<const uint8_t *>(context->outputPads[i]),
                fixedShapeAt(tensor, padded),
                static_cast<uint8_t *>(outputs[i].data), valid, valid,
                xfc_dtype_size(tensor.dtype));
    }
  return nullptr;
}

/// The options of the context xfc_model_run makes for one run: defaults,
/// but a GPU model's launches are not recorded into a graph that would be
/// replayed once.
xfc_context_options oneRunContextOptions() {
  xfc_context_options options;
  xfc_context_options_initialize(&options);
  options.gpu_graph = 0;
  return options;
}

xfc_status runModelShaped(const xfc_model *model, const xfc_run_shape *shape,
                          const xfc_buffer *inputs, size_t numInputs,
                          const xfc_buffer *outputs, size_t numOutputs) {
  if (!model)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_model_run_shaped: model is NULL");
  xfc_context *context = nullptr;
  xfc_context_options options = oneRunContextOptions();
  if (xfc_status status = createContext(model, &options, &context))
    return status;
  std::unique_ptr<xfc_context> owner(context);
  return runShaped("xfc_model_run_shaped", context, shape, inputs, numInputs,
                   outputs, numOutputs);
}

xfc_status getProfile(const xfc_context *context, xfc_profile *outProfile,
                      xfc_kernel_profile *outKernels, size_t numKernels) {
  const char *function = "xfc_context_get_profile";
  if (!context || !outProfile)
    return makeStatus(XFC_INVALID_ARGUMENT, std::string(function) +
                                                ": context or out_profile is "
                                                "NULL");
  if (!context->profiling)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) +
                          ": profiling is off in this context (set "
                          "enable_profiling in xfc_context_options)");
  const xfc_model *model = context->model;
  size_t count = model->kernelInfos.size();
  if (numKernels != 0 && numKernels != count)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": num_kernels is " +
                          std::to_string(numKernels) +
                          "; expected 0 (totals only) or " +
                          std::to_string(count) + " (xfc_model_num_kernels)");
  if (numKernels != 0 && !outKernels)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": out_kernels is NULL");
  const std::vector<int64_t> &words = context->profile;
  xfc_profile profile;
  std::memset(&profile, 0, sizeof(profile));
  profile.runs = context->profiledRuns;
  profile.wall_ns = context->profiledWallNs;
  profile.ticks = static_cast<uint64_t>(std::max<int64_t>(words[1], 0));
  profile.ns_per_tick =
      profile.ticks ? profile.wall_ns / double(profile.ticks) : 0.0;
  for (size_t k = 0; k < count; ++k) {
    uint64_t ticks =
        static_cast<uint64_t>(std::max<int64_t>(words[2 + 2 * k], 0));
    double ns = double(ticks) * profile.ns_per_tick;
    profile.kernel_ns += ns;
    if (numKernels == 0)
      continue;
    xfc_kernel_profile &entry = outKernels[k];
    std::memset(&entry, 0, sizeof(entry));
    entry.kernel = model->kernelInfos[k];
    entry.calls = static_cast<uint64_t>(words[3 + 2 * k]);
    entry.ticks = ticks;
    entry.total_ns = ns;
  }
  *outProfile = profile;
  return nullptr;
}

xfc_status resetProfile(xfc_context *context) {
  if (!context)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_context_reset_profile: context is NULL");
  if (!context->profiling)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      "xfc_context_reset_profile: profiling is off in this "
                      "context (set enable_profiling in "
                      "xfc_context_options)");
  std::fill(context->profile.begin() + 1, context->profile.end(), 0);
  context->profiledRuns = 0;
  context->profiledWallNs = 0;
  return nullptr;
}

xfc_status runModel(const xfc_model *model, const xfc_buffer *inputs,
                    size_t numInputs, const xfc_buffer *outputs,
                    size_t numOutputs) {
  if (!model)
    return makeStatus(XFC_INVALID_ARGUMENT, "xfc_model_run: model is NULL");
  // A context per call keeps concurrent calls on one model independent.
  xfc_context *context = nullptr;
  xfc_context_options options = oneRunContextOptions();
  if (xfc_status status = createContext(model, &options, &context))
    return status;
  std::unique_ptr<xfc_context> owner(context);
  return runContext("xfc_model_run", context, inputs, numInputs, outputs,
                    numOutputs);
}

/// Hashes every byte of the mapped weights file and compares the result
/// with the manifest: each tensor first (so damage is reported by tensor
/// name), then the whole file (the header and the padding between
/// tensors).
xfc_status verifyModel(const xfc_model *model) {
  if (!model)
    return makeStatus(XFC_INVALID_ARGUMENT, "xfc_model_verify: model is NULL");
  const xfc::Manifest &manifest = model->manifest;
  const std::string &fileName = manifest.weightsFile;
  const auto *bytes = static_cast<const uint8_t *>(model->mapping);
  for (size_t i = 0; i < manifest.weights.size(); ++i) {
    const xfc::ManifestWeight &weight = manifest.weights[i];
    uint64_t checksum =
        xfc::fnv1a64(bytes ? bytes + weight.offset : bytes, weight.sizeBytes);
    if (checksum != weight.checksum)
      return makeStatus(
          XFC_INVALID_ARTIFACT,
          "artifact " + model->folder + ": weights file " + fileName +
              ": weight '" + weight.name + "' ($.weights[" + std::to_string(i) +
              "], bytes [" + std::to_string(weight.offset) + ", " +
              std::to_string(weight.offset + weight.sizeBytes) +
              ")) has checksum " + xfc::formatChecksum(checksum) +
              ", the manifest says " + xfc::formatChecksum(weight.checksum) +
              " (the tensor's data is damaged)");
  }
  uint64_t checksum = xfc::fnv1a64(bytes, model->mappingSize);
  if (checksum != manifest.weightsChecksum)
    return makeStatus(XFC_INVALID_ARTIFACT,
                      "artifact " + model->folder + ": weights file " +
                          fileName + ": checksum of all " +
                          std::to_string(model->mappingSize) + " bytes is " +
                          xfc::formatChecksum(checksum) +
                          ", the manifest says " +
                          xfc::formatChecksum(manifest.weightsChecksum) +
                          " (damaged outside the tensors)");
  return nullptr;
}

xfc_status tensorInfo(const char *function,
                      const std::vector<xfc_tensor_info> *infos, size_t index,
                      xfc_tensor_info *outInfo) {
  if (!infos || !outInfo)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": model or out_info is NULL");
  if (index >= infos->size())
    return makeStatus(XFC_INVALID_ARGUMENT, std::string(function) + ": index " +
                                                std::to_string(index) +
                                                " is out of range (the "
                                                "model has " +
                                                std::to_string(infos->size()) +
                                                ")");
  *outInfo = (*infos)[index];
  return nullptr;
}

} // namespace

extern "C" {

xfc_status_code xfc_status_get_code(xfc_status status) {
  return status ? status->code : XFC_OK;
}

const char *xfc_status_get_message(xfc_status status) {
  return status ? status->message.c_str() : "";
}

void xfc_status_free(xfc_status status) {
  if (status != outOfMemoryStatus())
    delete status;
}

size_t xfc_dtype_size(xfc_dtype dtype) {
  switch (dtype) {
  case XFC_DTYPE_F32:
  case XFC_DTYPE_I32:
    return 4;
  case XFC_DTYPE_F16:
  case XFC_DTYPE_BF16:
    return 2;
  }
  return 0;
}

void xfc_model_options_initialize(xfc_model_options *options) {
  if (!options)
    return;
  std::memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(*options);
  options->skip_cpu_check = 0;
  options->gpu_device = 0;
  options->skip_device = 0;
}

xfc_status xfc_model_open(const char *path, const xfc_model_options *options,
                          xfc_model **out_model) {
  return guarded("xfc_model_open",
                 [&] { return openModel(path, options, out_model); });
}

void xfc_model_destroy(xfc_model *model) { delete model; }

const char *xfc_model_device(const xfc_model *model) {
  return model ? model->device.c_str() : "";
}

xfc_status xfc_model_verify(const xfc_model *model) {
  return guarded("xfc_model_verify", [&] { return verifyModel(model); });
}

const char *xfc_model_name(const xfc_model *model) {
  return model ? model->manifest.modelName.c_str() : "";
}

size_t xfc_model_num_inputs(const xfc_model *model) {
  return model ? model->inputInfos.size() : 0;
}

size_t xfc_model_num_outputs(const xfc_model *model) {
  return model ? model->outputInfos.size() : 0;
}

xfc_status xfc_model_input_info(const xfc_model *model, size_t index,
                                xfc_tensor_info *out_info) {
  return guarded("xfc_model_input_info", [&] {
    return tensorInfo("xfc_model_input_info",
                      model ? &model->inputInfos : nullptr, index, out_info);
  });
}

xfc_status xfc_model_output_info(const xfc_model *model, size_t index,
                                 xfc_tensor_info *out_info) {
  return guarded("xfc_model_output_info", [&] {
    return tensorInfo("xfc_model_output_info",
                      model ? &model->outputInfos : nullptr, index, out_info);
  });
}

size_t xfc_model_arena_bytes(const xfc_model *model) {
  return model ? static_cast<size_t>(model->manifest.arenaBytes) : 0;
}

void xfc_context_options_initialize(xfc_context_options *options) {
  if (!options)
    return;
  std::memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(*options);
  options->num_threads = 0;
  options->enable_profiling = 0;
  options->gpu_graph = 1;
}

size_t xfc_model_num_kernels(const xfc_model *model) {
  return model ? model->kernelInfos.size() : 0;
}

xfc_status xfc_model_kernel_info(const xfc_model *model, size_t index,
                                 xfc_kernel_info *out_info) {
  return guarded("xfc_model_kernel_info", [&]() -> xfc_status {
    if (!model || !out_info)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        "xfc_model_kernel_info: model or out_info is NULL");
    if (index >= model->kernelInfos.size())
      return makeStatus(
          XFC_INVALID_ARGUMENT,
          "xfc_model_kernel_info: index " + std::to_string(index) +
              " is out of range (the model has " +
              std::to_string(model->kernelInfos.size()) + " kernels)");
    *out_info = model->kernelInfos[index];
    return nullptr;
  });
}

xfc_status xfc_context_get_profile(const xfc_context *context,
                                   xfc_profile *out_profile,
                                   xfc_kernel_profile *out_kernels,
                                   size_t num_kernels) {
  return guarded("xfc_context_get_profile", [&] {
    return getProfile(context, out_profile, out_kernels, num_kernels);
  });
}

xfc_status xfc_context_reset_profile(xfc_context *context) {
  return guarded("xfc_context_reset_profile",
                 [&] { return resetProfile(context); });
}

xfc_status xfc_context_create(const xfc_model *model,
                              const xfc_context_options *options,
                              xfc_context **out_context) {
  return guarded("xfc_context_create",
                 [&] { return createContext(model, options, out_context); });
}

void xfc_context_destroy(xfc_context *context) { delete context; }

uint64_t xfc_context_gpu_graph_launches(const xfc_context *context) {
  return context && context->gpu ? context->gpu->graphLaunches : 0;
}

int32_t xfc_context_num_threads(const xfc_context *context) {
  return context ? context->numThreads : 0;
}

xfc_status xfc_context_run(xfc_context *context, const xfc_buffer *inputs,
                           size_t num_inputs, const xfc_buffer *outputs,
                           size_t num_outputs) {
  return guarded("xfc_context_run", [&] {
    return runContext("xfc_context_run", context, inputs, num_inputs, outputs,
                      num_outputs);
  });
}

xfc_status xfc_model_run(const xfc_model *model, const xfc_buffer *inputs,
                         size_t num_inputs, const xfc_buffer *outputs,
                         size_t num_outputs) {
  return guarded("xfc_model_run", [&] {
    return runModel(model, inputs, num_inputs, outputs, num_outputs);
  });
}

size_t xfc_model_num_buckets(const xfc_model *model) {
  return model ? model->manifest.buckets.size() : 0;
}

xfc_status xfc_model_bucket(const xfc_model *model, size_t index,
                            xfc_run_shape *out_shape) {
  return guarded("xfc_model_bucket", [&]() -> xfc_status {
    if (!model || !out_shape)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        "xfc_model_bucket: model or out_shape is NULL");
    const std::vector<xfc::ManifestBucket> &buckets = model->manifest.buckets;
    if (index >= buckets.size())
      return makeStatus(XFC_INVALID_ARGUMENT,
                        "xfc_model_bucket: index " + std::to_string(index) +
                            " is out of range (the model has " +
                            std::to_string(buckets.size()) + " buckets)");
    const xfc::ManifestBucket &b = buckets[index];
    *out_shape = xfc_run_shape{b.batch, b.seqLen, b.tgtLen};
    return nullptr;
  });
}

/// xfc_model_input_dims / xfc_model_output_dims.
static xfc_status tensorDims(const char *function, const xfc_model *model,
                             bool input, size_t index, xfc_dim *outDims) {
  if (!model || !outDims)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": model or out_dims is NULL");
  const std::vector<xfc::ManifestTensor> &tensors =
      input ? model->manifest.inputs : model->manifest.outputs;
  if (index >= tensors.size())
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": index " +
                          std::to_string(index) +
                          " is out of range (the model has " +
                          std::to_string(tensors.size()) + ")");
  const xfc::ManifestTensor &tensor = tensors[index];
  for (size_t d = 0; d < XFC_MAX_RANK; ++d)
    outDims[d] = d < tensor.dims.size() ? tensor.dims[d] : XFC_DIM_FIXED;
  return nullptr;
}

xfc_status xfc_model_input_dims(const xfc_model *model, size_t index,
                                xfc_dim *out_dims) {
  return guarded("xfc_model_input_dims", [&] {
    return tensorDims("xfc_model_input_dims", model, true, index, out_dims);
  });
}

xfc_status xfc_model_output_dims(const xfc_model *model, size_t index,
                                 xfc_dim *out_dims) {
  return guarded("xfc_model_output_dims", [&] {
    return tensorDims("xfc_model_output_dims", model, false, index, out_dims);
  });
}

xfc_status xfc_model_select_bucket(const xfc_model *model,
                                   const xfc_run_shape *shape,
                                   size_t *out_index) {
  return guarded("xfc_model_select_bucket", [&]() -> xfc_status {
    if (!model || !out_index)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        "xfc_model_select_bucket: model or out_index is "
                        "NULL");
    xfc_run_shape resolved;
    return selectBucket("xfc_model_select_bucket", *model, shape, resolved,
                        *out_index);
  });
}

xfc_status xfc_context_run_shaped(xfc_context *context,
                                  const xfc_run_shape *shape,
                                  const xfc_buffer *inputs, size_t num_inputs,
                                  const xfc_buffer *outputs,
                                  size_t num_outputs) {
  return guarded("xfc_context_run_shaped", [&] {
    return runShaped("xfc_context_run_shaped", context, shape, inputs,
                     num_inputs, outputs, num_outputs);
  });
}

xfc_status xfc_model_run_shaped(const xfc_model *model,
                                const xfc_run_shape *shape,
                                const xfc_buffer *inputs, size_t num_inputs,
                                const xfc_buffer *outputs, size_t num_outputs) {
  return guarded("xfc_model_run_shaped", [&] {
    return runModelShaped(model, shape, inputs, num_inputs, outputs,
                          num_outputs);
  });
}

xfc_status xfc_model_memory_info(const xfc_model *model,
                                 xfc_memory_info *out_info) {
  return guarded("xfc_model_memory_info", [&]() -> xfc_status {
    if (!model || !out_info)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        "xfc_model_memory_info: model or out_info is NULL");
    *out_info = xfc_memory_info{};
    const xfc::ManifestSegmentMemory &segment = model->manifest.segmentMemory;
    if (segment.memoryLength == 0)
      return nullptr;
    out_info->memory_length = segment.memoryLength;
    out_info->segment_length = segment.segmentLength;
    out_info->num_layers = segment.inputs.size();
    out_info->layer = model->memoryInfo;
    return nullptr;
  });
}

/// The context's segment memory, or an error status naming `function`.
static xfc_status checkMemoryContext(const char *function,
                                     const xfc_context *context) {
  if (!context)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": context is NULL");
  if (context->model->manifest.segmentMemory.memoryLength == 0)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": model '" +
                          context->model->manifest.modelName +
                          "' has no segment memory (not a transformer_xl "
                          "model)");
  return nullptr;
}

xfc_status xfc_context_reset_memory(xfc_context *context) {
  return guarded("xfc_context_reset_memory", [&]() -> xfc_status {
    if (!context)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        "xfc_context_reset_memory: context is NULL");
    resetSegmentMemory(*context);
    return nullptr;
  });
}

xfc_status xfc_context_memory_filled(const xfc_context *context,
                                     int64_t *out_filled) {
  return guarded("xfc_context_memory_filled", [&]() -> xfc_status {
    if (!context || !out_filled)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        "xfc_context_memory_filled: context or out_filled "
                        "is NULL");
    *out_filled = context->memoryFilled;
    return nullptr;
  });
}

/// Checks one layer buffer given to the memory functions.
static xfc_status checkMemoryBuffer(const char *function,
                                    const xfc_context &context, size_t layer,
                                    const xfc_buffer *buffer) {
  const xfc::ManifestSegmentMemory &segment =
      context.model->manifest.segmentMemory;
  const xfc::ManifestTensor &tensor = segment.inputs.front();
  if (!buffer)
    return makeStatus(XFC_INVALID_ARGUMENT,
                      std::string(function) + ": the buffer is NULL");
  if (buffer->size_bytes != tensor.sizeBytes || !buffer->data)
    return makeStatus(
        XFC_INVALID_ARGUMENT,
        std::string(function) + ": layer " + std::to_string(layer) +
            "'s memory (f32 " + shapeString(tensor.shape) +
            "): expected size_bytes " + std::to_string(tensor.sizeBytes) +
            " and non-NULL data, found " + std::to_string(buffer->size_bytes) +
            (buffer->data ? "" : " and NULL"));
  return nullptr;
}

xfc_status xfc_context_get_memory(const xfc_context *context, size_t layer,
                                  const xfc_buffer *out) {
  return guarded("xfc_context_get_memory", [&]() -> xfc_status {
    const char *function = "xfc_context_get_memory";
    if (xfc_status status = checkMemoryContext(function, context))
      return status;
    if (layer >= context->memory.size())
      return makeStatus(XFC_INVALID_ARGUMENT,
                        std::string(function) + ": layer " +
                            std::to_string(layer) + " is out of range (" +
                            std::to_string(context->memory.size()) +
                            " layers)");
    if (xfc_status status = checkMemoryBuffer(function, *context, layer, out))
      return status;
    std::memcpy(out->data, context->memory[layer], out->size_bytes);
    return nullptr;
  });
}

xfc_status xfc_context_set_memory(xfc_context *context,
                                  const xfc_buffer *layers, size_t num_layers,
                                  int64_t filled) {
  return guarded("xfc_context_set_memory", [&]() -> xfc_status {
    const char *function = "xfc_context_set_memory";
    if (xfc_status status = checkMemoryContext(function, context))
      return status;
    const xfc::ManifestSegmentMemory &segment =
        context->model->manifest.segmentMemory;
    if (num_layers != context->memory.size() || !layers)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        std::string(function) + ": expected " +
                            std::to_string(context->memory.size()) +
                            " layer buffers, found " +
                            std::to_string(num_layers) +
                            (layers ? "" : " (NULL array)"));
    if (filled < 0 || filled > segment.memoryLength)
      return makeStatus(XFC_INVALID_ARGUMENT,
                        std::string(function) + ": filled is " +
                            std::to_string(filled) + "; expected 0 to " +
                            std::to_string(segment.memoryLength));
    for (size_t i = 0; i < num_layers; ++i)
      if (xfc_status status =
              checkMemoryBuffer(function, *context, i, &layers[i]))
        return status;
    // Positions before the filled ones are zeroed, as after a reset, so a
    // state read back with xfc_context_get_memory is the same either way.
    const xfc::ManifestTensor &tensor = segment.inputs.front();
    int64_t batch = tensor.shape[0], m = tensor.shape[1], d = tensor.shape[2];
    size_t row = static_cast<size_t>(d) * sizeof(float);
    for (size_t i = 0; i < num_layers; ++i) {
      auto *to = static_cast<uint8_t *>(context->memory[i]);
      const auto *from = static_cast<const uint8_t *>(layers[i].data);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t p = 0; p < m; ++p) {
          size_t at = (static_cast<size_t>(b * m + p)) * row;
          if (p < m - filled)
            std::memset(to + at, 0, row);
          else
            std::memcpy(to + at, from + at, row);
        }
    }
    setMemoryFilled(*context, filled);
    return nullptr;
  });
}

} // extern "C"
