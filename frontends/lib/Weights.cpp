//===- Weights.cpp - The weights of a model, in host memory ---------------===//
//
// Part of xfc.
//
// This file implements the WeightStore, the deterministic random
// initialization of a model's weights, and the loading of weights from a
// safetensors file, validated against listWeights(): every listed tensor
// must be present with dtype F32 and exactly the listed shape, and any
// tensor the spec does not name is an error (it almost always means the
// checkpoint's names do not follow docs/spec.md).
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/Weights.h"

#include "xfc/Support/Safetensors.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace xfc {

int64_t HostTensor::numElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

const HostTensor *WeightStore::find(const std::string &name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void WeightStore::insert(const std::string &name, HostTensor tensor) {
  tensors_.insert_or_assign(name, std::move(tensor));
}

namespace {

//===----------------------------------------------------------------------===//
// Random initialization
//===----------------------------------------------------------------------===//

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny generator whose output
/// is fully specified, so the weights can be reproduced bit for bit in any
/// language (docs/spec.md names it).
class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state(seed) {}

  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

private:
  uint64_t state;
};

/// Standard normal samples by the Box–Muller transform. Each pair of
/// generator outputs (a, b) gives
///   u1 = ((a >> 11) + 1) · 2^-53   in (0, 1]   (never 0, so log is finite)
///   u2 = (b >> 11) · 2^-53         in [0, 1)
///   r  = sqrt(-2 ln u1),  θ = 2π u2
///   z0 = r cos θ,  z1 = r sin θ
/// and the samples are used in the order z0, z1. The stream continues
/// across tensors: a tensor with an odd element count leaves z1 for the
/// next one. All arithmetic is in double.
class NormalStream {
public:
  explicit NormalStream(uint64_t seed) : generator(seed) {}

  double next() {
    if (hasSpare) {
      hasSpare = false;
      return spare;
    }
    constexpr double kTwoPow53Inv = 1.0 / 9007199254740992.0;
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    double u1 =
        static_cast<double>((generator.next() >> 11) + 1) * kTwoPow53Inv;
    double u2 = static_cast<double>(generator.next() >> 11) * kTwoPow53Inv;
    double r = std::sqrt(-2.0 * std::log(u1));
    double theta = kTwoPi * u2;
    spare = r * std::sin(theta);
    hasSpare = true;
    return r * std::cos(theta);
  }

private:
  SplitMix64 generator;
  double spare = 0.0;
  bool hasSpare = false;
};

bool endsWith(const std::string &text, const char *suffix) {
  size_t n = std::strlen(suffix);
  return text.size() >= n && text.compare(text.size() - n, n, suffix) == 0;
}

//===----------------------------------------------------------------------===//
// Safetensors
//===----------------------------------------------------------------------===//

/// A read-only mapping of a whole file, unmapped on destruction. Mapping
/// instead of reading keeps a multi-gigabyte checkpoint from being held
/// twice (file bytes and converted floats) in memory.
class MappedFile {
public:
  MappedFile() = default;
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;
  ~MappedFile() {
    if (data && size)
      ::munmap(data, size);
  }

  /// Maps `path`; returns false with a reason in `error`.
  bool open(const std::string &path, std::string &error) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error = std::strerror(errno);
      return false;
    }
    struct stat info;
    if (::fstat(fd, &info) != 0) {
      error = std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (!S_ISREG(info.st_mode)) {
      error = "not a regular file";
      ::close(fd);
      return false;
    }
    size = static_cast<size_t>(info.st_size);
    // An empty file cannot be mapped; the header parser rejects size 0.
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

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

/// True on little-endian hosts, where F32 file bytes are the host's floats.
bool isLittleEndian() {
  const uint32_t one = 1;
  uint8_t first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

/// A Linformer projection's name (docs/spec.md, "Linformer projections").
bool isLinformerName(const std::string &name) {
  return endsWith(name, ".linformer_e") || endsWith(name, ".linformer_f");
}

/// Reads every weight of `spec` from the safetensors file `path`, and those
/// of `optional` (the Linformer projections) that the file holds. With
/// `ignoreOtherLinformer`, Linformer projections the compiled patterns do
/// not use are skipped instead of refused (`--attention` replaced the
/// spec's patterns).
bool loadSafetensors(const ModelSpec &spec, const std::string &path,
                     const std::vector<WeightDecl> &optional,
                     bool ignoreOtherLinformer, WeightStore &out,
                     std::string &error) {
  MappedFile file;
  std::string reason;
  if (!file.open(path, reason)) {
    error = path + ": cannot read the weights file: " + reason;
    return false;
  }
  SafetensorsHeader header;
  if (!parseSafetensors(file.bytes(), file.length(), header, reason)) {
    error = path + ": not a valid safetensors file: " + reason;
    return false;
  }

  std::vector<WeightDecl> decls = listWeights(spec);
  std::set<std::string> expectedNames;
  for (const WeightDecl &decl : decls)
    expectedNames.insert(decl.name);
  for (const WeightDecl &decl : optional) {
    expectedNames.insert(decl.name);
    if (header.find(decl.name))
      decls.push_back(decl);
  }
  // Extra tensors first: when names follow another convention, the first
  // unknown name says more than the first missing one.
  for (const SafetensorsEntry &entry : header.entries) {
    if (!expectedNames.count(entry.name) &&
        !(ignoreOtherLinformer && isLinformerName(entry.name))) {
      error = path + ": unexpected tensor \"" + entry.name +
              "\": the spec has no weight of that name (do the checkpoint's "
              "names follow docs/spec.md?)";
      return false;
    }
  }

  const bool littleEndian = isLittleEndian();
  for (const WeightDecl &decl : decls) {
    const SafetensorsEntry *entry = header.find(decl.name);
    if (!entry) {
      error = path + ": missing tensor \"" + decl.name + "\" (expected F32 " +
              shapeText(decl.shape) + ")";
      return false;
    }
    if (entry->dtype != "F32") {
      error = path + ": tensor \"" + decl.name + "\" has dtype " +
              entry->dtype +
              ", expected F32 (only float32 weights are supported; convert "
              "the checkpoint to float32)";
      return false;
    }
    if (entry->shape != decl.shape) {
      error = path + ": tensor \"" + decl.name + "\" has shape " +
              shapeText(entry->shape) + ", expected " + shapeText(decl.shape);
      // A Linformer projection is learned for one sequence length n (its
      // last dimension), which --seq-len must match.
      if (isLinformerName(decl.name) && !entry->shape.empty())
        error += " (a Linformer projection is [k, n] or [num_heads, k, n] "
                 "for the compiled n = --seq-len " +
                 std::to_string(decl.shape.back()) + "; this one is for n = " +
                 std::to_string(entry->shape.back()) + ")";
      return false;
    }
    HostTensor tensor;
    tensor.shape = decl.shape;
    const size_t count = static_cast<size_t>(tensor.numElements());
    // The parser checked this already; checking again costs nothing and
    // keeps the copy below in bounds whatever the parser accepts.
    if (entry->end < entry->begin || entry->end > file.length() ||
        entry->end - entry->begin != count * sizeof(float)) {
      error = path + ": tensor \"" + decl.name + "\" has " +
              std::to_string(entry->end - entry->begin) + " bytes, expected " +
              std::to_string(count * sizeof(float));
      return false;
    }
    tensor.data.resize(count);
    const uint8_t *src = file.bytes() + entry->begin;
    if (littleEndian) {
      if (count)
        std::memcpy(tensor.data.data(), src, count * sizeof(float));
    } else {
      for (size_t i = 0; i < count; ++i) {
        const uint8_t *b = src + 4 * i;
        uint32_t bits = uint32_t(b[0]) | uint32_t(b[1]) << 8 |
                        uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
        std::memcpy(&tensor.data[i], &bits, sizeof(float));
      }
    }
    // A NaN or infinity in a weight reaches every output that reads it
    // (IEEE arithmetic): refuse the file instead of compiling a model that
    // computes garbage, and say where the first one is.
    for (size_t i = 0; i < count; ++i) {
      if (std::isfinite(tensor.data[i]))
        continue;
      error = path + ": tensor \"" + decl.name + "\" holds " +
              (std::isnan(tensor.data[i]) ? "NaN" : "an infinity") +
              " at element " + std::to_string(i) + " (file offset " +
              std::to_string(entry->begin + 4 * i) +
              "), expected finite values";
      return false;
    }
    out.insert(decl.name, std::move(tensor));
  }
  return true;
}

} // namespace

void initRandomWeights(const ModelSpec &spec, uint64_t seed, double stddev,
                       WeightStore &out) {
  NormalStream normals(seed);
  for (const WeightDecl &decl : listWeights(spec)) {
    HostTensor tensor;
    tensor.shape = decl.shape;
    const size_t count = static_cast<size_t>(tensor.numElements());
    // Biases (LayerNorm biases included) start at 0, LayerNorm scales at 1;
    // only matrices and embedding tables draw from the stream, so adding or
    // removing a bias does not shift the values of the matrices after it.
    if (endsWith(decl.name, ".bias")) {
      tensor.data.assign(count, 0.0f);
    } else if (endsWith(decl.name, "norm.weight")) {
      tensor.data.assign(count, 1.0f);
    } else {
      tensor.data.resize(count);
      for (size_t i = 0; i < count; ++i)
        tensor.data[i] = static_cast<float>(stddev * normals.next());
    }
    out.insert(decl.name, std::move(tensor));
  }
}

/// FNV-1a, 64 bits: a fully specified hash of a weight name, so each
/// generated Linformer projection has its own stream.
uint64_t fnv1a64(const std::string &text) {
  uint64_t hash = 0xCBF29CE484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001B3ull;
  }
  return hash;
}

void generateLinformerProjection(const WeightDecl &decl, uint64_t seed,
                                 WeightStore &out) {
  // N(0, 1/k), the initialization of the paper (2006.04768, section 4):
  // standard normals from the Box-Muller stream seeded with
  // seed ^ FNV-1a(name), in row-major order, times 1/sqrt(k).
  int64_t k = decl.shape[decl.shape.size() - 2];
  double scale = 1.0 / std::sqrt(static_cast<double>(k));
  NormalStream normals(seed ^ fnv1a64(decl.name));
  HostTensor tensor;
  tensor.shape = decl.shape;
  tensor.data.resize(static_cast<size_t>(tensor.numElements()));
  for (float &x : tensor.data)
    x = static_cast<float>(scale * normals.next());
  out.insert(decl.name, std::move(tensor));
}

/// Bytes of this machine's physical memory (0 if unknown).
uint64_t physicalMemoryBytes() {
  long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  return pages > 0 && pageSize > 0 ? uint64_t(pages) * uint64_t(pageSize) : 0;
}

bool addLinformerWeights(const ModelSpec &spec, int64_t seqLen,
                         WeightStore &loaded, std::string &error,
                         std::vector<std::string> *generated) {
  // Linformer projections the weights do not hold: generated from the
  // pattern's seed when every weight is generated (source "random") or
  // when --attention forced Linformer on a model trained without it; a
  // spec that declares Linformer itself must bring its trained E and F.
  for (size_t i = 0; i < spec.attentionPatterns.size(); ++i) {
    LinformerLayer layer = linformerLayer(spec, int64_t(i), seqLen);
    if (!layer.enabled)
      continue;
    for (const std::string &name : {layer.e, layer.f}) {
      if (loaded.find(name))
        continue;
      if (spec.weights.kind == WeightSource::Kind::Safetensors &&
          !spec.attentionPatternOverridden) {
        error = spec.weights.path + ": missing tensor \"" + name +
                "\" (expected F32 " + shapeText(layer.shape) +
                ", the Linformer projection of layer " + std::to_string(i) +
                " for --seq-len " + std::to_string(seqLen) + ")";
        return false;
      }
      generateLinformerProjection({name, layer.shape}, layer.seed, loaded);
      if (generated)
        generated->push_back(name);
    }
  }
  return true;
}

bool loadWeights(const ModelSpec &spec, WeightStore &out, std::string &error) {
  return loadWeights(spec, /*seqLen=*/0, out, error, nullptr);
}

bool loadWeights(const ModelSpec &spec, int64_t seqLen, WeightStore &out,
                 std::string &error, std::vector<std::string> *generated) {
  std::vector<WeightDecl> linformer;
  if (seqLen > 0)
    linformer = listLinformerWeights(spec, seqLen);
  std::vector<WeightDecl> all = listWeights(spec);
  all.insert(all.end(), linformer.begin(), linformer.end());
  // The total first, before allocating anything: each tensor is bounded by
  // the spec parser, but their sum is not, and Linux overcommits, so a model
  // larger than memory would not fail its allocations but get the process
  // killed while they are filled.
  uint64_t totalBytes = 0;
  for (const WeightDecl &decl : all) {
    uint64_t bytes = sizeof(float);
    for (int64_t dim : decl.shape)
      if (__builtin_mul_overflow(bytes, uint64_t(dim), &bytes))
        bytes = UINT64_MAX;
    if (__builtin_add_overflow(totalBytes, bytes, &totalBytes))
      totalBytes = UINT64_MAX;
  }
  uint64_t memory = physicalMemoryBytes();
  if (memory != 0 && totalBytes > memory) {
    error = "the weights of \"" + spec.name + "\" need " +
            std::to_string(totalBytes) + " bytes, more than this machine's " +
            std::to_string(memory) + " bytes of memory";
    return false;
  }
  // Fill a fresh store and hand it over only on success, so a failed load
  // leaves `out` as it was.
  WeightStore loaded;
  try {
    switch (spec.weights.kind) {
    case WeightSource::Kind::Random:
      initRandomWeights(spec, spec.weights.seed, spec.weights.stddev, loaded);
      break;
    case WeightSource::Kind::Safetensors:
      if (!loadSafetensors(spec, spec.weights.path, linformer,
                           spec.attentionPatternOverridden, loaded, error))
        return false;
      break;
    }
    if (!addLinformerWeights(spec, seqLen, loaded, error, generated))
      return false;
  } catch (const std::bad_alloc &) {
    error = "not enough memory for the weights of \"" + spec.name + "\"";
    return false;
  } catch (const std::length_error &) {
    error = "the weights of \"" + spec.name + "\" are too large";
    return false;
  }
  out = std::move(loaded);
  return true;
}

} // namespace xfc
