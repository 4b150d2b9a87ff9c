//===- GpuBench.cpp - Single-kernel benchmarks on an NVIDIA GPU -----------===//
//
// Part of xfc. See GpuBench.h. This file implements the cases, the prepared
// kernel files, the device, the run of one case (inputs, poison, timing,
// check) and the command line both programs share.
//
//===----------------------------------------------------------------------===//
#include "GpuBench.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

namespace xfc::gpubench {
namespace {

//===----------------------------------------------------------------------===//
// Kernel arguments
//===----------------------------------------------------------------------===//

/// The element types the kernels' arguments have.
enum class Element { F16, BF16, F32, I32 };

size_t elementBytes(Element type) {
  return type == Element::F16 || type == Element::BF16 ? 2 : 4;
}

/// A kernel argument's buffer, from its MLIR type `memref<AxBx...xT>`.
struct BufferType {
  Element element = Element::F32;
  size_t elements = 1;
  size_t bytes() const { return elements * elementBytes(element); }
};

bool parseMemrefType(const std::string &type, BufferType &out,
                     std::string &error) {
  const std::string prefix = "memref<";
  if (type.compare(0, prefix.size(), prefix) != 0 || type.back() != '>') {
    error = "kernel argument type '" + type + "' is not a static memref";
    return false;
  }
  std::string body =
      type.substr(prefix.size(), type.size() - prefix.size() - 1);
  size_t last = body.rfind('x');
  std::string element =
      last == std::string::npos ? body : body.substr(last + 1);
  if (element == "f16")
    out.element = Element::F16;
  else if (element == "bf16")
    out.element = Element::BF16;
  else if (element == "f32")
    out.element = Element::F32;
  else if (element == "i32")
    out.element = Element::I32;
  else {
    error = "kernel argument type '" + type + "': element type '" + element +
            "' is not one the benchmark fills";
    return false;
  }
  out.elements = 1;
  if (last != std::string::npos) {
    std::stringstream dims(body.substr(0, last));
    std::string dim;
    while (std::getline(dims, dim, 'x')) {
      char *end = nullptr;
      long long extent = std::strtoll(dim.c_str(), &end, 10);
      if (dim.empty() || *end || extent < 1) {
        error = "kernel argument type '" + type +
                "' has a dynamic or bad "
                "dimension '" +
                dim + "'";
        return false;
      }
      out.elements *= size_t(extent);
    }
  }
  return true;
}

/// Element `index` of a host buffer of `type` as a double.
double elementAt(const std::vector<uint8_t> &buffer, Element type,
                 size_t index) {
  switch (type) {
  case Element::F16: {
    uint16_t bits;
    std::memcpy(&bits, buffer.data() + 2 * index, 2);
    return halfToFloat(bits);
  }
  case Element::BF16: {
    uint16_t bits;
    std::memcpy(&bits, buffer.data() + 2 * index, 2);
    return bf16ToFloat(bits);
  }
  case Element::F32: {
    float value;
    std::memcpy(&value, buffer.data() + 4 * index, 4);
    return value;
  }
  case Element::I32: {
    int32_t value;
    std::memcpy(&value, buffer.data() + 4 * index, 4);
    return value;
  }
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// Random inputs
//===----------------------------------------------------------------------===//

/// splitmix64: a small, fast generator whose streams for different seeds
/// are independent enough for test data.
uint64_t splitmix(uint64_t &state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// Fills `buffer` with values uniform on a grid in [-range, range] that
/// the element type holds exactly (steps of range/1024 for f16, range/128
/// for bf16), so the host reference sees the very values the GPU reads;
/// never all zeros. Split over the host's cores: an attention input is
/// 32 M elements.
void fillRandom(std::vector<uint8_t> &buffer, const BufferType &type,
                double range, uint64_t seed) {
  buffer.resize(type.bytes());
  int steps = type.element == Element::F16    ? 1024
              : type.element == Element::BF16 ? 128
                                              : 1 << 20;
  auto fillPart = [&](size_t begin, size_t end, uint64_t state) {
    for (size_t i = begin; i < end; ++i) {
      int64_t step = int64_t(splitmix(state) % uint64_t(2 * steps + 1)) - steps;
      float value = float(range * double(step) / steps);
      switch (type.element) {
      case Element::F16: {
        uint16_t bits = floatToHalf(value);
        std::memcpy(buffer.data() + 2 * i, &bits, 2);
        break;
      }
      case Element::BF16: {
        uint16_t bits = floatToBf16(value);
        std::memcpy(buffer.data() + 2 * i, &bits, 2);
        break;
      }
      case Element::F32:
        std::memcpy(buffer.data() + 4 * i, &value, 4);
        break;
      case Element::I32: {
        int32_t integer = int32_t(step);
        std::memcpy(buffer.data() + 4 * i, &integer, 4);
        break;
      }
      }
    }
  };
  unsigned parts =
      std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  if (type.elements < (size_t(1) << 20))
    parts = 1;
  std::vector<std::thread> threads;
  size_t chunk = (type.elements + parts - 1) / parts;
  for (unsigned p = 0; p < parts; ++p) {
    size_t begin = std::min(type.elements, p * chunk);
    size_t end = std::min(type.elements, begin + chunk);
    uint64_t state = seed * 0x100000001b3ull + p;
    threads.emplace_back(fillPart, begin, end, state);
  }
  for (std::thread &thread : threads)
    thread.join();
}

/// The range of an input's values: Q and K in [-2, 2] so that the scores
/// spread (softmax is neither uniform nor one-hot), the rest in [-1, 1].
double inputRange(const std::string &argument) {
  return argument == "Q" || argument == "K" ? 2.0 : 1.0;
}

bool isOutput(const std::string &argument) {
  return argument == "O" || argument == "C" || argument == "y";
}

//===----------------------------------------------------------------------===//
// JSON output
//===----------------------------------------------------------------------===//

std::string jsonString(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (uint8_t(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string jsonNumber(double value) {
  if (!std::isfinite(value))
    return "null";
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

/// A JSON object built field by field, in order.
class JsonObject {
public:
  JsonObject &add(const std::string &key, const std::string &raw) {
    text += (text.empty() ? "{" : ", ") + jsonString(key) + ": " + raw;
    return *this;
  }
  JsonObject &str(const std::string &key, const std::string &value) {
    return add(key, jsonString(value));
  }
  JsonObject &num(const std::string &key, double value) {
    return add(key, jsonNumber(value));
  }
  JsonObject &integer(const std::string &key, int64_t value) {
    return add(key, std::to_string(value));
  }
  std::string done() const { return text + "}"; }

private:
  std::string text;
};

//===----------------------------------------------------------------------===//
// Device buffers and events
//===----------------------------------------------------------------------===//

/// Device allocations and events freed when the run of a case ends, also
/// on its error paths.
struct DeviceResources {
  const cuda::Driver *driver = nullptr;
  std::vector<cuda::CUdeviceptr> buffers;
  std::vector<cuda::CUevent> events;
  LoadedGpuModule module;
  ~DeviceResources() {
    for (cuda::CUevent event : events)
      driver->cuEventDestroy(event);
    for (cuda::CUdeviceptr buffer : buffers)
      driver->cuMemFree(buffer);
    if (module.module)
      unloadGpuModule(driver, module);
  }
};

/// "cuMemAlloc" of "cuMemAlloc(&pointer, bytes)": the driver call's name.
std::string callName(const char *call) {
  std::string text = call;
  return text.substr(0, text.find('('));
}

/// Calls the driver; on failure sets `error` ("cuX failed: NAME
/// (description)") and returns false from the enclosing function.
#define XFC_BENCH_CALL(call)                                                   \
  do {                                                                         \
    cuda::CUresult result = driver->call;                                      \
    if (result != 0) {                                                         \
      error = cuda::describeFailure(driver, callName(#call).c_str(), result);  \
      return false;                                                            \
    }                                                                          \
  } while (false)

//===----------------------------------------------------------------------===//
// References
//===----------------------------------------------------------------------===//

/// The outcome of a check: the largest error over the sample and the
/// tolerance it is held to.
struct CheckResult {
  double maxAbsError = 0;
  double tolerance = 0;
  /// The largest error over its allowance (<= 1 passes; NaN-free).
  double ratio = 0;
  size_t sampled = 0;
  size_t unwritten = 0; ///< Outputs still holding the poison (NaN).
  std::string failure;  ///< Empty when passed.
};

/// Attention: a few query rows of every (batch item, head) against
/// softmax attention in f64 under the same (causal) mask.
void checkAttention(const GpuAttentionSpec &spec,
                    const std::vector<std::vector<uint8_t>> &host,
                    const std::vector<BufferType> &types,
                    const std::vector<uint8_t> &output, Element outputType,
                    uint64_t seed, CheckResult &result) {
  const int64_t length = spec.seqLen, dim = spec.headDim;
  const double scale =
      spec.scale ? double(*spec.scale) : 1.0 / std::sqrt(double(dim));
  const Element in = types[0].element;
  // Rows per (b, h): enough to see every head, at most ~512 rows in all.
  const int64_t pairs = spec.batch * spec.heads;
  const int64_t perPair =
      std::max<int64_t>(1, std::min<int64_t>(4, 512 / pairs));
  result.tolerance = in == Element::F16 ? 2e-3 : 1.6e-2;
  // A few billion multiply-adds at L = 16K: the pairs are split over the
  // host's cores, each part with its own maximum.
  struct Part {
    double maxAbsError = 0;
    size_t sampled = 0;
    bool sawNan = false;
  };
  auto checkPairs = [&](int64_t firstPair, int64_t endPair, Part &part) {
    std::vector<double> scores(static_cast<size_t>(length));
    std::vector<double> query(static_cast<size_t>(dim));
    std::vector<double> row(static_cast<size_t>(dim));
    for (int64_t pair = firstPair; pair < endPair; ++pair) {
      uint64_t state = (seed ^ 0x5eedull) + uint64_t(pair);
      size_t base = size_t(pair * length * dim);
      for (int64_t r = 0; r < perPair; ++r) {
        // The first and last rows (the causal extremes), then random ones.
        int64_t i = r == 0   ? 0
                    : r == 1 ? length - 1
                             : int64_t(splitmix(state) % uint64_t(length));
        int64_t limit = spec.causal ? i + 1 : length;
        for (int64_t d = 0; d < dim; ++d)
          query[size_t(d)] = elementAt(host[0], in, base + size_t(i * dim + d));
        double maximum = -INFINITY;
        for (int64_t j = 0; j < limit; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < dim; ++d)
            dot += query[size_t(d)] *
                   elementAt(host[1], in, base + size_t(j * dim + d));
          scores[size_t(j)] = dot * scale;
          maximum = std::max(maximum, scores[size_t(j)]);
        }
        double sum = 0;
        std::fill(row.begin(), row.end(), 0.0);
        for (int64_t j = 0; j < limit; ++j) {
          double p = std::exp(scores[size_t(j)] - maximum);
          sum += p;
          for (int64_t d = 0; d < dim; ++d)
            row[size_t(d)] +=
                p * elementAt(host[2], in, base + size_t(j * dim + d));
        }
        for (int64_t d = 0; d < dim; ++d) {
          double got =
              elementAt(output, outputType, base + size_t(i * dim + d));
          double error = std::fabs(got - row[size_t(d)] / sum);
          part.sawNan |= std::isnan(error);
          part.maxAbsError = std::max(part.maxAbsError, error);
          ++part.sampled;
        }
      }
    }
  };
  int64_t threads = std::min<int64_t>(
      pairs, std::max(1u, std::min(16u, std::thread::hardware_concurrency())));
  std::vector<Part> parts(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int64_t t = 0; t < threads; ++t)
    workers.emplace_back(checkPairs, pairs * t / threads,
                         pairs * (t + 1) / threads, std::ref(parts[size_t(t)]));
  for (std::thread &worker : workers)
    worker.join();
  bool sawNan = false;
  for (const Part &part : parts) {
    sawNan |= part.sawNan;
    result.maxAbsError = std::max(result.maxAbsError, part.maxAbsError);
    result.sampled += part.sampled;
  }
  result.ratio = sawNan ? INFINITY : result.maxAbsError / result.tolerance;
  if (sawNan)
    result.maxAbsError = NAN;
}

/// GEMM: a sample of outputs (the corners and random ones) against the
/// f64 dot product plus the bias. The tolerance scales with sum |a b|:
/// the f32 accumulation of K/16 mma steps can lose that many roundings.
void checkGemm(const GpuGemmSpec &spec,
               const std::vector<std::vector<uint8_t>> &host,
               const std::vector<BufferType> &types,
               const std::vector<uint8_t> &output, uint64_t seed,
               CheckResult &result) {
  const Element in = types[0].element;
  uint64_t state = seed ^ 0x9e3779b9ull;
  const int samples = 512;
  double unit = std::ldexp(1.0, -23) * double(spec.k / 16 + 16);
  double worstRatio = 0;
  bool sawNan = false;
  for (int s = 0; s < samples; ++s) {
    int64_t i = s == 0   ? 0
                : s == 1 ? spec.m - 1
                         : int64_t(splitmix(state) % uint64_t(spec.m));
    int64_t j = s == 0   ? 0
                : s == 1 ? spec.n - 1
                         : int64_t(splitmix(state) % uint64_t(spec.n));
    double dot = 0, magnitude = 0;
    for (int64_t k = 0; k < spec.k; ++k) {
      double product = elementAt(host[0], in, size_t(i * spec.k + k)) *
                       elementAt(host[1], in, size_t(k * spec.n + j));
      dot += product;
      magnitude += std::fabs(product);
    }
    double bias = elementAt(host[2], Element::F32, size_t(j));
    double got = elementAt(output, Element::F32, size_t(i * spec.n + j));
    double error = std::fabs(got - (dot + bias));
    double allowed = unit * (magnitude + std::fabs(bias)) + 1e-6;
    // The tolerance reported is the allowance of the worst sample.
    if (s == 0 || error / allowed > worstRatio) {
      worstRatio = std::max(worstRatio, error / allowed);
      result.tolerance = allowed;
    }
    sawNan |= std::isnan(error);
    result.maxAbsError = std::max(result.maxAbsError, error);
    ++result.sampled;
  }
  result.ratio = sawNan ? INFINITY : worstRatio;
  if (sawNan)
    result.maxAbsError = NAN;
}

std::string joinInts(const int64_t values[3]) {
  return "[" + std::to_string(values[0]) + ", " + std::to_string(values[1]) +
         ", " + std::to_string(values[2]) + "]";
}

bool readFile(const std::string &path, std::string &out) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return false;
  std::ostringstream text;
  text << file.rdbuf();
  out = text.str();
  return true;
}

bool writeFile(const std::string &path, const std::string &data,
               std::string &error) {
  std::ofstream file(path, std::ios::binary);
  file << data;
  if (!file) {
    error = "cannot write " + path;
    return false;
  }
  return true;
}

std::vector<std::string> splitList(const std::string &text) {
  std::vector<std::string> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

} // namespace

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

// Normals, subnormals, infinities and NaN.
uint16_t floatToHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) // Inf or NaN.
    return uint16_t(sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0));
  if (magnitude >= 0x477ff000u) // Rounds past 65504: infinity.
    return uint16_t(sign | 0x7c00u);
  if (magnitude < 0x38800000u) { // Below 2^-14: a subnormal or zero.
    if (magnitude < 0x33000000u)
      return uint16_t(sign);
    uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    // The value is mantissa * 2^(e - 150), in units of 2^-24.
    int shift = 126 - int(magnitude >> 23); // 14 to 24
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1)))
      ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = ((magnitude - 0x38000000u) >> 13);
  uint32_t rest = magnitude & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1)))
    ++half;
  return uint16_t(sign | half);
}

float halfToFloat(uint16_t half) {
  uint32_t sign = uint32_t(half & 0x8000u) << 16;
  uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent == 0) {
    float value = std::ldexp(float(mantissa), -24);
    return sign ? -value : value;
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

uint16_t floatToBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1); // Round to nearest even.
  return uint16_t(bits >> 16);
}

float bf16ToFloat(uint16_t value) {
  uint32_t bits = uint32_t(value) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

//===----------------------------------------------------------------------===//
// Cases
//===----------------------------------------------------------------------===//

std::vector<BenchCase> benchCases(const Selection &selection) {
  std::vector<BenchCase> cases;
  auto inputType = [](const std::string &dtype) {
    return dtype == "bf16" ? GpuGemmInput::BF16 : GpuGemmInput::F16;
  };
  // Attention at B * L = 16K tokens and H * d = 2048 (the issue's grid):
  // every length does the same work per token, so TFLOPS compare across L.
  struct AttentionShape {
    int64_t batch, heads, seqLen, headDim;
  };
  std::vector<AttentionShape> attentionShapes;
  if (selection.smoke) {
    attentionShapes = {{1, 2, 128, 64}, {2, 1, 77, 128}};
  } else {
    for (int64_t headDim : selection.headDims)
      for (int64_t seqLen : selection.seqLens)
        attentionShapes.push_back({std::max<int64_t>(1, 16384 / seqLen),
                                   std::max<int64_t>(1, 2048 / headDim), seqLen,
                                   headDim});
  }
  if (selection.attention)
    for (const std::string &dtype : selection.attentionDtypes)
      for (const AttentionShape &shape : attentionShapes)
        for (bool causal : {false, true}) {
          BenchCase c;
          c.kind = BenchCase::Attention;
          c.dtype = dtype;
          std::string shapeName = "/d=" + std::to_string(shape.headDim) +
                                  "/L=" + std::to_string(shape.seqLen) + "/" +
                                  (causal ? "causal" : "dense");
          c.name = "attention/" + dtype + shapeName;
          GpuAttentionSpec spec;
          spec.name = kKernelName;
          spec.batch = shape.batch;
          spec.heads = shape.heads;
          spec.seqLen = shape.seqLen;
          spec.headDim = shape.headDim;
          spec.input = inputType(dtype);
          // O in the input type, as PyTorch's SDPA returns it: the same
          // bytes written on both sides.
          spec.outputInInputType = true;
          spec.causal = causal;
          spec.queryTile = preferredAttentionQueryTile(
              shape.batch, shape.heads, shape.seqLen, shape.headDim, false);
          c.kernels.attentions.push_back(spec);
          c.flops = 4.0 * double(shape.batch) * double(shape.heads) *
                    double(shape.seqLen) * double(shape.seqLen) *
                    double(shape.headDim) * (causal ? 0.5 : 1.0);
          cases.push_back(c);
          if (selection.attentionTiles) {
            int64_t other = spec.queryTile == 64 ? 128 : 64;
            c.kernels.attentions[0].queryTile = other;
            c.name =
                "attention/" + dtype + "/q" + std::to_string(other) + shapeName;
            cases.push_back(c);
          }
        }
  // GEMMs of Transformer layers, K x N = in x out: BERT-base's attention
  // projections (768x768) and FFN (768x3072, 3072x768), and a 1024-wide
  // model's FFN (1024x4096, 4096x1024), at M = 4K and 16K tokens.
  struct GemmShape {
    int64_t m, n, k;
  };
  std::vector<GemmShape> gemmShapes;
  if (selection.smoke) {
    gemmShapes = {{64, 64, 32}, {77, 128, 64}};
  } else {
    const std::pair<int64_t, int64_t> kn[] = {
        {768, 768}, {768, 3072}, {3072, 768}, {1024, 4096}, {4096, 1024}};
    for (int64_t m : selection.gemmRows)
      for (auto [k, n] : kn)
        gemmShapes.push_back({m, n, k});
  }
  if (selection.gemm)
    for (const std::string &dtype : selection.gemmDtypes)
      for (const GemmShape &shape : gemmShapes) {
        BenchCase c;
        c.kind = BenchCase::Gemm;
        c.dtype = dtype;
        c.name = "gemm/" + dtype + "/M=" + std::to_string(shape.m) +
                 ",N=" + std::to_string(shape.n) +
                 ",K=" + std::to_string(shape.k);
        GpuGemmSpec spec;
        spec.name = kKernelName;
        spec.m = shape.m;
        spec.n = shape.n;
        spec.k = shape.k;
        spec.input = inputType(dtype);
        spec.tile = preferredGemmTile(spec.m, spec.n);
        c.kernels.gemms.push_back(spec);
        c.flops = 2.0 * double(shape.m) * double(shape.n) * double(shape.k);
        cases.push_back(c);
        std::optional<GpuGemmTile> wgmma =
            preferredWgmmaTile(spec.m, spec.n, spec.k);
        if (selection.wgmma && wgmma) {
          c.name = "gemm/" + dtype + "/wgmma/M=" + std::to_string(shape.m) +
                   ",N=" + std::to_string(shape.n) +
                   ",K=" + std::to_string(shape.k);
          c.kernels.gemms[0].tile = *wgmma;
          cases.push_back(c);
        }
      }
  if (!selection.filter.empty())
    cases.erase(std::remove_if(cases.begin(), cases.end(),
                               [&](const BenchCase &c) {
                                 return c.name.find(selection.filter) ==
                                        std::string::npos;
                               }),
                cases.end());
  return cases;
}

std::string caseFileStem(const BenchCase &benchCase) {
  std::string stem = benchCase.name;
  for (char &c : stem)
    if (!std::isalnum(uint8_t(c)))
      c = '_';
  return stem;
}

//===----------------------------------------------------------------------===//
// Prepared kernels
//===----------------------------------------------------------------------===//

// The .launch file, one field a line:
//   chip sm_90
//   ptx_version 78
//   kernel bench_kernel
//   grid X Y Z
//   block X Y Z
//   shared STATIC DYNAMIC
//   arg NAME TYPE            (one per argument, in order)

bool writePreparedKernel(const std::string &dir, const BenchCase &benchCase,
                         const GpuImage &image, const GpuKernelLaunch &launch,
                         std::string &error) {
  std::string stem = dir + "/" + caseFileStem(benchCase);
  std::ostringstream text;
  text << "chip " << image.chip << "\nptx_version " << image.ptxVersion
       << "\nkernel " << launch.kernel << "\ngrid " << launch.grid[0] << " "
       << launch.grid[1] << " " << launch.grid[2] << "\nblock "
       << launch.block[0] << " " << launch.block[1] << " " << launch.block[2]
       << "\nshared " << launch.staticSharedBytes << " "
       << launch.dynamicSharedBytes << "\n";
  for (const GpuKernelArgument &argument : launch.arguments)
    text << "arg " << argument.name << " " << argument.type << "\n";
  if (!writeFile(stem + ".ptx", image.ptx, error) ||
      !writeFile(stem + ".launch", text.str(), error))
    return false;
  if (!image.cubin.empty() && !writeFile(stem + ".cubin", image.cubin, error))
    return false;
  return true;
}

bool readPreparedKernel(const std::string &dir, const BenchCase &benchCase,
                        GpuImage &image, GpuKernelLaunch &launch,
                        std::string &error) {
  std::string stem = dir + "/" + caseFileStem(benchCase);
  std::string text;
  if (!readFile(stem + ".launch", text) ||
      !readFile(stem + ".ptx", image.ptx)) {
    error = "no prepared kernel for " + benchCase.name + " in " + dir +
            " (expected " + stem +
            ".launch and .ptx; write them with "
            "xfc-gpu-bench --emit-kernels " +
            dir + ")";
    return false;
  }
  readFile(stem + ".cubin", image.cubin); // Optional.
  launch = GpuKernelLaunch();
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    if (key == "chip")
      fields >> image.chip;
    else if (key == "ptx_version")
      fields >> image.ptxVersion;
    else if (key == "kernel")
      fields >> launch.kernel;
    else if (key == "grid")
      fields >> launch.grid[0] >> launch.grid[1] >> launch.grid[2];
    else if (key == "block")
      fields >> launch.block[0] >> launch.block[1] >> launch.block[2];
    else if (key == "shared")
      fields >> launch.staticSharedBytes >> launch.dynamicSharedBytes;
    else if (key == "arg") {
      GpuKernelArgument argument;
      fields >> argument.name >> argument.type;
      launch.arguments.push_back(argument);
    } else if (!key.empty()) {
      error = stem + ".launch: unknown field '" + key + "'";
      return false;
    }
    if (fields.fail()) {
      error = stem + ".launch: malformed line '" + line + "'";
      return false;
    }
  }
  if (image.chip.empty() || launch.kernel.empty() || launch.arguments.empty()) {
    error = stem + ".launch lacks the chip, the kernel or its arguments";
    return false;
  }
  image.kernels = {launch.kernel};
  return true;
}

//===----------------------------------------------------------------------===//
// Device
//===----------------------------------------------------------------------===//

bool Device::open(int ordinal, std::string &error) {
  driver = cuda::driver(error);
  if (!driver)
    return false;
  if (driver->noDevice) {
    error = "the CUDA driver reports no GPU";
    return false;
  }
  XFC_BENCH_CALL(cuDeviceGet(&device, ordinal));
  char text[256] = {};
  XFC_BENCH_CALL(cuDeviceGetName(text, sizeof text, device));
  name = text;
  int major = 0, minor = 0;
  XFC_BENCH_CALL(
      cuDeviceGetAttribute(&major, cuda::ComputeCapabilityMajor, device));
  XFC_BENCH_CALL(
      cuDeviceGetAttribute(&minor, cuda::ComputeCapabilityMinor, device));
  computeCapability = major * 10 + minor;
  XFC_BENCH_CALL(cuDeviceGetAttribute(&multiprocessors,
                                      cuda::MultiprocessorCount, device));
  XFC_BENCH_CALL(cuDeviceGetAttribute(&l2Bytes, cuda::L2CacheSize, device));
  XFC_BENCH_CALL(cuDevicePrimaryCtxRetain(&context, device));
  XFC_BENCH_CALL(cuCtxSetCurrent(context));
  XFC_BENCH_CALL(cuStreamCreate(&stream, 1)); // CU_STREAM_NON_BLOCKING
  return true;
}

Device::~Device() {
  if (!driver)
    return;
  if (stream)
    driver->cuStreamDestroy(stream);
  if (context)
    driver->cuDevicePrimaryCtxRelease(device);
}

std::string Device::chip() const {
  if (computeCapability >= 90 && computeCapability < 100)
    return "sm_90";
  if (computeCapability >= 80)
    return "sm_80";
  return "";
}

//===----------------------------------------------------------------------===//
// One case
//===----------------------------------------------------------------------===//

bool runCase(Device &gpu, const BenchCase &benchCase, const GpuImage &image,
             const GpuKernelLaunch &launch, const RunOptions &options,
             std::string &record, bool &passed, std::string &error) {
  const cuda::Driver *driver = gpu.driver;
  DeviceResources resources;
  resources.driver = driver;
  XFC_BENCH_CALL(cuCtxSetCurrent(gpu.context));
  if (!loadGpuModule(driver, gpu.device, image, resources.module, error))
    return false;
  cuda::CUfunction function = resources.module.functions.at(0);
  if (launch.dynamicSharedBytes > 48 * 1024)
    XFC_BENCH_CALL(cuFuncSetAttribute(function, cuda::MaxDynamicSharedSizeBytes,
                                      int(launch.dynamicSharedBytes)));
  int registers = 0;
  XFC_BENCH_CALL(cuFuncGetAttribute(&registers, cuda::NumRegisters, function));

  // The buffers of one input set, and how many sets to rotate through so
  // that timed launches do not find their inputs in L2 (at least twice its
  // size in all, at most 8 sets).
  std::vector<BufferType> types(launch.arguments.size());
  size_t setBytes = 0;
  for (size_t a = 0; a < launch.arguments.size(); ++a) {
    if (!parseMemrefType(launch.arguments[a].type, types[a], error))
      return false;
    setBytes += types[a].bytes();
  }
  size_t sets = std::clamp<size_t>(
      (2 * size_t(std::max(gpu.l2Bytes, 0)) + setBytes - 1) / setBytes, 1, 8);

  // Set 0's inputs stay on the host for the reference; the other sets
  // are uploaded and dropped.
  std::vector<std::vector<uint8_t>> host(launch.arguments.size());
  std::vector<std::vector<cuda::CUdeviceptr>> pointers(sets);
  for (size_t set = 0; set < sets; ++set) {
    for (size_t a = 0; a < launch.arguments.size(); ++a) {
      cuda::CUdeviceptr pointer = 0;
      XFC_BENCH_CALL(cuMemAlloc(&pointer, types[a].bytes()));
      resources.buffers.push_back(pointer);
      pointers[set].push_back(pointer);
      const std::string &name = launch.arguments[a].name;
      if (isOutput(name)) {
        // Poison: 0xff bytes are NaN in f16, bf16 and f32, so an output
        // the kernel does not write fails the check.
        XFC_BENCH_CALL(cuMemsetD8(pointer, 0xff, types[a].bytes()));
        continue;
      }
      std::vector<uint8_t> values;
      fillRandom(values, types[a], inputRange(name),
                 options.seed * 1000003ull + set * 101 + a);
      XFC_BENCH_CALL(
          cuMemcpyHtoDAsync(pointer, values.data(), values.size(), gpu.stream));
      XFC_BENCH_CALL(cuStreamSynchronize(gpu.stream));
      if (set == 0)
        host[a] = std::move(values);
    }
  }
  // cuMemsetD8 runs on the legacy default stream, which the benchmark's
  // non-blocking stream does not wait for: the poison must be in place
  // before the first launch, or it could land on the kernel's output.
  XFC_BENCH_CALL(cuStreamSynchronize(nullptr));
  std::vector<std::vector<void *>> parameters(sets);
  for (size_t set = 0; set < sets; ++set)
    for (cuda::CUdeviceptr &pointer : pointers[set])
      parameters[set].push_back(&pointer);
  auto launchSet = [&](size_t set, std::string &error) {
    cuda::CUresult result = driver->cuLaunchKernel(
        function, unsigned(launch.grid[0]), unsigned(launch.grid[1]),
        unsigned(launch.grid[2]), unsigned(launch.block[0]),
        unsigned(launch.block[1]), unsigned(launch.block[2]),
        unsigned(launch.dynamicSharedBytes), gpu.stream, parameters[set].data(),
        nullptr);
    if (result != 0) {
      error = "kernel of " + benchCase.name + ": " +
              cuda::describeFailure(driver, "cuLaunchKernel", result);
      return false;
    }
    return true;
  };

  // The checked run first, on set 0's poisoned output.
  if (!launchSet(0, error))
    return false;
  XFC_BENCH_CALL(cuStreamSynchronize(gpu.stream));
  CheckResult check;
  size_t outputIndex = launch.arguments.size() - 1;
  if (options.check) {
    std::vector<uint8_t> output(types[outputIndex].bytes());
    XFC_BENCH_CALL(cuMemcpyDtoHAsync(output.data(), pointers[0][outputIndex],
                                     output.size(), gpu.stream));
    XFC_BENCH_CALL(cuStreamSynchronize(gpu.stream));
    Element outputType = types[outputIndex].element;
    for (size_t i = 0; i < types[outputIndex].elements; ++i)
      if (std::isnan(elementAt(output, outputType, i)))
        ++check.unwritten;
    if (benchCase.kind == BenchCase::Attention)
      checkAttention(benchCase.kernels.attentions[0], host, types, output,
                     outputType, options.seed, check);
    else
      checkGemm(benchCase.kernels.gemms[0], host, types, output, options.seed,
                check);
    if (check.unwritten)
      check.failure = std::to_string(check.unwritten) + " of " +
                      std::to_string(types[outputIndex].elements) +
                      " outputs not written (still the NaN poison)";
    else if (!(check.ratio <= 1))
      check.failure = "max |error| " + jsonNumber(check.maxAbsError) +
                      " over " + std::to_string(check.sampled) +
                      " sampled outputs exceeds the tolerance (" +
                      jsonNumber(check.ratio) + " times it)";
  }

  // Timing: each launch between two events, rotating the input sets.
  for (int w = 0; w < options.warmup; ++w)
    if (!launchSet(size_t(w) % sets, error))
      return false;
  int repeat = std::max(1, options.repeat);
  resources.events.resize(2 * size_t(repeat), nullptr);
  for (cuda::CUevent &event : resources.events)
    XFC_BENCH_CALL(cuEventCreate(&event, 0));
  for (int r = 0; r < repeat; ++r) {
    XFC_BENCH_CALL(cuEventRecord(resources.events[2 * r], gpu.stream));
    if (!launchSet(size_t(r) % sets, error))
      return false;
    XFC_BENCH_CALL(cuEventRecord(resources.events[2 * r + 1], gpu.stream));
  }
  XFC_BENCH_CALL(cuEventSynchronize(resources.events.back()));
  XFC_BENCH_CALL(cuStreamSynchronize(gpu.stream));
  std::vector<double> times;
  for (int r = 0; r < repeat; ++r) {
    float ms = 0;
    XFC_BENCH_CALL(cuEventElapsedTime(&ms, resources.events[2 * r],
                                      resources.events[2 * r + 1]));
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  double median =
      times.size() % 2
          ? times[times.size() / 2]
          : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]);

  JsonObject json;
  json.str("name", benchCase.name)
      .str("unit", "TFLOPS")
      .num("xfc", benchCase.flops / (median * 1e-3) / 1e12)
      .num("median_ms", median)
      .num("min_ms", times.front())
      .num("max_ms", times.back())
      .integer("runs", repeat)
      .integer("warmup", options.warmup)
      .integer("input_sets", int64_t(sets))
      .str("dtype", benchCase.dtype);
  if (benchCase.kind == BenchCase::Attention) {
    const GpuAttentionSpec &spec = benchCase.kernels.attentions[0];
    json.integer("batch", spec.batch)
        .integer("heads", spec.heads)
        .integer("seq", spec.seqLen)
        .integer("head_dim", spec.headDim)
        .add("causal", spec.causal ? "true" : "false")
        .integer("query_tile", spec.queryTile);
  } else {
    const GpuGemmSpec &spec = benchCase.kernels.gemms[0];
    json.integer("M", spec.m).integer("N", spec.n).integer("K", spec.k);
  }
  json.num("flops", benchCase.flops);
  if (benchCase.kind == BenchCase::Gemm) {
    GpuGemmTile tile = benchCase.kernels.gemms[0].tile;
    json.str("tile", tile == GpuGemmTile::Large          ? "128x128"
                     : tile == GpuGemmTile::Wgmma64x128  ? "64x128 wgmma"
                     : tile == GpuGemmTile::Wgmma128x128 ? "128x128 wgmma"
                                                         : "64x64");
  }
  if (options.check)
    json.num("max_abs_err", check.maxAbsError)
        .num("tolerance", check.tolerance)
        .num("error_over_tolerance", check.ratio)
        .integer("sampled_outputs", int64_t(check.sampled))
        .str("check", check.failure.empty() ? "ok" : check.failure);
  else
    json.str("check", "not checked");
  json.integer("registers", registers)
      .str("chip", image.chip)
      .str("image", resources.module.fromCubin ? "cubin" : "ptx")
      .add("grid", joinInts(launch.grid))
      .add("block", joinInts(launch.block))
      .integer("shared_bytes",
               launch.staticSharedBytes + launch.dynamicSharedBytes);
  record = json.done();
  passed = check.failure.empty();
  return true;
}

//===----------------------------------------------------------------------===//
// Command line and main
//===----------------------------------------------------------------------===//

std::string usage(bool withCompiler) {
  std::string text = withCompiler
                         ? "usage: xfc-gpu-bench [options]\n"
                           "  Generates each case's kernel (MLIR -> PTX, "
                           "and a cubin with ptxas), runs it\n"
                           "  on the GPU and prints one JSON record a "
                           "line.\n"
                         : "usage: xfc-gpu-bench-run --prepared DIR "
                           "[options]\n"
                           "  Runs kernels that xfc-gpu-bench "
                           "--emit-kernels DIR prepared.\n";
  text += R"(  --smoke               a few small cases (a test of the flow)
  --attention-only      only the attention cases
  --gemm-only           only the GEMM cases
  --attention-dtypes L  fp16,bf16 (default fp16)
  --gemm-dtypes L       fp16,bf16 (default both)
  --head-dims L         attention head dims (default 64,128)
  --seq-lens L          attention lengths (default 1024,...,16384), each
                        at batch 16384/L and 2048/d heads
  --gemm-rows L         GEMM M values (default 4096,16384)
  --wgmma               each GEMM also on warpgroup MMA (sm_90a kernels)
  --attention-tiles     each attention case also with the other query tile
                        (64 or 128 rows a block), as attention/DTYPE/qN/...
  --filter TEXT         only cases whose name contains TEXT
  --list                print the selected cases' names and exit
  --warmup N            untimed launches per case (default 5)
  --repeat N            timed launches per case, median (default 30)
  --seed N              seed of the random inputs (default 1)
  --no-check            skip the comparison with the host reference
  --device N            the GPU (default 0)
  --prepared DIR        load the kernels from DIR instead of generating
)";
  if (withCompiler)
    text += R"(  --emit-kernels DIR    write every selected case's kernel (PTX,
                        cubin, launch) into DIR and exit; no GPU needed
  --gpu-arch ARCH       the chip for --emit-kernels: sm_90 (default),
                        sm_90a (needed by --wgmma) or sm_80
  --no-cubin            load the PTX, not ptxas's cubin
)";
  return text;
}

bool parseCommandLine(int argc, char **argv, bool withCompiler,
                      CommandLine &out, std::string &error) {
  auto intList = [&](const std::string &text, std::vector<int64_t> &values) {
    values.clear();
    for (const std::string &item : splitList(text)) {
      char *end = nullptr;
      long long value = std::strtoll(item.c_str(), &end, 10);
      if (*end || value < 1)
        return false;
      values.push_back(value);
    }
    return !values.empty();
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string &into) {
      if (i + 1 >= argc) {
        error = a + " needs a value";
        return false;
      }
      into = argv[++i];
      return true;
    };
    auto number = [&](int &into, int minimum) {
      std::string text;
      if (!value(text))
        return false;
      char *end = nullptr;
      long value = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end || value < minimum) {
        error = a + " takes an integer >= " + std::to_string(minimum) +
                ", not '" + text + "'";
        return false;
      }
      into = int(value);
      return true;
    };
    std::string text;
    Selection &s = out.selection;
    if (a == "--smoke") {
      s.smoke = true;
    } else if (a == "--wgmma") {
      s.wgmma = true;
    } else if (a == "--attention-tiles") {
      s.attentionTiles = true;
    } else if (a == "--attention-only") {
      s.gemm = false;
    } else if (a == "--gemm-only") {
      s.attention = false;
    } else if (a == "--attention-dtypes" || a == "--gemm-dtypes") {
      if (!value(text))
        return false;
      std::vector<std::string> dtypes = splitList(text);
      for (const std::string &dtype : dtypes)
        if (dtype != "fp16" && dtype != "bf16") {
          error = a + ": '" + dtype + "' is not fp16 or bf16";
          return false;
        }
      (a == "--gemm-dtypes" ? s.gemmDtypes : s.attentionDtypes) = dtypes;
    } else if (a == "--head-dims" || a == "--seq-lens" || a == "--gemm-rows") {
      if (!value(text))
        return false;
      std::vector<int64_t> &into = a == "--head-dims"  ? s.headDims
                                   : a == "--seq-lens" ? s.seqLens
                                                       : s.gemmRows;
      if (!intList(text, into)) {
        error = a +
                " takes a comma-separated list of positive integers, "
                "not '" +
                text + "'";
        return false;
      }
    } else if (a == "--filter") {
      if (!value(s.filter))
        return false;
    } else if (a == "--list") {
      out.list = true;
    } else if (a == "--warmup") {
      if (!number(out.run.warmup, 0))
        return false;
    } else if (a == "--repeat") {
      if (!number(out.run.repeat, 1))
        return false;
    } else if (a == "--seed") {
      int seed = 0;
      if (!number(seed, 0))
        return false;
      out.run.seed = uint64_t(seed);
    } else if (a == "--no-check") {
      out.run.check = false;
    } else if (a == "--device") {
      if (!number(out.device, 0))
        return false;
    } else if (a == "--prepared") {
      if (!value(out.prepared))
        return false;
    } else if (withCompiler && a == "--emit-kernels") {
      if (!value(out.emit))
        return false;
    } else if (withCompiler && a == "--gpu-arch") {
      if (!value(out.gpuArch))
        return false;
      if (out.gpuArch != "sm_80" && out.gpuArch != "sm_90" &&
          out.gpuArch != "sm_90a") {
        error =
            "--gpu-arch: '" + out.gpuArch + "' is not sm_80, sm_90 or sm_90a";
        return false;
      }
    } else if (withCompiler && a == "--no-cubin") {
      out.noCubin = true;
    } else if (a == "-h" || a == "--help") {
      error = "";
      return false;
    } else {
      error = "unknown option '" + a + "'";
      return false;
    }
  }
  if (!withCompiler && out.prepared.empty() && !out.list) {
    error = "xfc-gpu-bench-run needs --prepared DIR (kernels that "
            "xfc-gpu-bench --emit-kernels DIR wrote)";
    return false;
  }
  return true;
}

int benchMain(const CommandLine &options, KernelSource source) {
  std::vector<BenchCase> cases = benchCases(options.selection);
  if (options.list) {
    for (const BenchCase &c : cases)
      std::printf("%s\n", c.name.c_str());
    return 0;
  }
  if (cases.empty()) {
    std::fprintf(stderr, "xfc-gpu-bench: no case matches the selection\n");
    return 2;
  }
  Device gpu;
  std::string error;
  if (!gpu.open(options.device, error)) {
    std::fprintf(stderr, "xfc-gpu-bench: %s\n", error.c_str());
    return 2;
  }
  std::string chip = gpu.chip();
  if (chip.empty()) {
    std::fprintf(stderr,
                 "xfc-gpu-bench: %s has compute capability %d.%d; the "
                 "kernels need 8.0 or later (sm_80)\n",
                 gpu.name.c_str(), gpu.computeCapability / 10,
                 gpu.computeCapability % 10);
    return 2;
  }
  std::fprintf(stderr,
               "xfc-gpu-bench: %s (compute capability %d.%d, %d "
               "multiprocessors, %d MiB L2), kernels for %s, %zu cases\n",
               gpu.name.c_str(), gpu.computeCapability / 10,
               gpu.computeCapability % 10, gpu.multiprocessors,
               gpu.l2Bytes >> 20, chip.c_str(), cases.size());
  int failedChecks = 0, errors = 0;
  struct Row {
    std::string name, value, check;
  };
  std::vector<Row> rows;
  for (const BenchCase &c : cases) {
    GpuImage image;
    GpuKernelLaunch launch;
    std::string record;
    bool passed = false;
    if (!source(options, c, chip, image, launch, error) ||
        !runCase(gpu, c, image, launch, options.run, record, passed, error)) {
      std::fprintf(stderr, "xfc-gpu-bench: %s: %s\n", c.name.c_str(),
                   error.c_str());
      JsonObject failed;
      failed.str("name", c.name)
          .str("unit", "TFLOPS")
          .add("xfc", "null")
          .str("error", error);
      std::printf("%s\n", failed.done().c_str());
      std::fflush(stdout);
      rows.push_back({c.name, "-", "error"});
      ++errors;
      continue;
    }
    std::printf("%s\n", record.c_str());
    std::fflush(stdout);
    if (!passed)
      ++failedChecks;
    // The value and the check, for the table, from the record's fields.
    auto field = [&](const std::string &key) {
      size_t at = record.find("\"" + key + "\": ");
      if (at == std::string::npos)
        return std::string("-");
      at += key.size() + 4;
      if (record[at] == '"')
        return record.substr(at + 1, record.find('"', at + 1) - at - 1);
      return record.substr(at, record.find_first_of(",}", at) - at);
    };
    rows.push_back({c.name, field("xfc"), field("check")});
    std::fprintf(stderr, "  %-44s %10s TFLOPS  %s\n", c.name.c_str(),
                 rows.back().value.c_str(), rows.back().check.c_str());
  }
  std::fprintf(stderr,
               "xfc-gpu-bench: %zu cases, %d failed checks, %d "
               "errors\n",
               cases.size(), failedChecks, errors);
  return errors ? 2 : failedChecks ? 1 : 0;
}

} // namespace xfc::gpubench
