//===- Safetensors.cpp - Reading and writing safetensors files ------------===//
//
// Part of xfc. This file implements the safetensors header parser and writer
// declared in xfc/Support/Safetensors.h. The parser treats the file as
// hostile: every length and offset is checked before it is used, all
// arithmetic on sizes is overflow-checked, and nothing throws out of it. The
// writer lays the data out so a read-only mapping of the file can be handed
// to vectorized kernels without copying.
//
//===----------------------------------------------------------------------===//

#include "xfc/Support/Safetensors.h"

#include "support/AtomicFile.h"

#include "support/JsonDescribe.h"
#include "xfc/Support/JsonDepth.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

namespace xfc {

namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

/// Largest header accepted. Real headers are a few hundred kilobytes even for
/// models with thousands of tensors; the bound keeps a corrupted length from
/// making the JSON parser chew through gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100u * 1024u * 1024u;

/// What an error message says was found (see describeJson).
std::string describe(const Json &value) { return describeJson(value, 80); }

/// Reads a JSON number as a non-negative integer, rejecting floats,
/// negatives and booleans.
bool asUnsigned(const Json &value, uint64_t &out) {
  if (value.is_number_unsigned()) {
    out = value.get<uint64_t>();
    return true;
  }
  if (value.is_number_integer()) {
    int64_t v = value.get<int64_t>();
    if (v < 0)
      return false;
    out = static_cast<uint64_t>(v);
    return true;
  }
  return false;
}

/// `a * b` into `out`, false on overflow.
bool mulOverflow(uint64_t a, uint64_t b, uint64_t &out) {
  return __builtin_mul_overflow(a, b, &out);
}

/// Rounds `value` up to a multiple of kSafetensorsAlignment.
uint64_t alignUp(uint64_t value) {
  return (value + kSafetensorsAlignment - 1) / kSafetensorsAlignment *
         kSafetensorsAlignment;
}

/// Parses one tensor entry of the header. `dataSize` is the size of the data
/// area; the returned offsets are still relative to it.
bool parseEntry(const std::string &name, const Json &value, uint64_t dataSize,
                SafetensorsEntry &entry, std::string &error) {
  std::string where = "safetensors header: tensor '" + name + "': ";
  if (!value.is_object()) {
    error = where +
            "expected an object with dtype, shape and data_offsets, "
            "found " +
            describe(value);
    return false;
  }
  entry.name = name;

  auto dtypeIt = value.find("dtype");
  if (dtypeIt == value.end()) {
    error = where + "expected a field \"dtype\", found none";
    return false;
  }
  if (!dtypeIt->is_string() ||
      safetensorsDtypeSize(dtypeIt->get<std::string>()) == 0) {
    error = where +
            "dtype: expected one of F64, F32, F16, BF16, I64, I32, I16, I8, "
            "U8, BOOL, found " +
            describe(*dtypeIt);
    return false;
  }
  entry.dtype = dtypeIt->get<std::string>();

  auto shapeIt = value.find("shape");
  if (shapeIt == value.end()) {
    error = where + "expected a field \"shape\", found none";
    return false;
  }
  if (!shapeIt->is_array()) {
    error = where + "shape: expected a list of non-negative integers, found " +
            describe(*shapeIt);
    return false;
  }
  uint64_t numElements = 1;
  entry.shape.clear();
  for (const Json &dim : *shapeIt) {
    uint64_t d = 0;
    if (!asUnsigned(dim, d) ||
        d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      error = where +
              "shape: expected a list of non-negative integers, found " +
              describe(*shapeIt);
      return false;
    }
    if (mulOverflow(numElements, d, numElements)) {
      error = where + "shape " + describe(*shapeIt) +
              ": the element count overflows 64 bits";
      return false;
    }
    entry.shape.push_back(static_cast<int64_t>(d));
  }

  auto offsetsIt = value.find("data_offsets");
  if (offsetsIt == value.end()) {
    error = where + "expected a field \"data_offsets\", found none";
    return false;
  }
  uint64_t begin = 0, end = 0;
  if (!offsetsIt->is_array() || offsetsIt->size() != 2 ||
      !asUnsigned((*offsetsIt)[0], begin) ||
      !asUnsigned((*offsetsIt)[1], end)) {
    error = where +
            "data_offsets: expected [begin, end] (two non-negative "
            "integers), found " +
            describe(*offsetsIt);
    return false;
  }
  if (begin > end) {
    error = where + "data_offsets: expected begin <= end, found [" +
            std::to_string(begin) + ", " + std::to_string(end) + "]";
    return false;
  }
  if (end > dataSize) {
    error = where + "data_offsets [" + std::to_string(begin) + ", " +
            std::to_string(end) + ") end beyond the data area (" +
            std::to_string(dataSize) + " bytes); the file may be truncated";
    return false;
  }
  uint64_t expectedBytes = 0;
  bool overflow = mulOverflow(numElements, safetensorsDtypeSize(entry.dtype),
                              expectedBytes);
  if (overflow || expectedBytes != end - begin) {
    error = where + "size mismatch: shape " + describe(*shapeIt) + " of " +
            entry.dtype + " needs " +
            (overflow ? std::string("more than 2^64")
                      : std::to_string(expectedBytes)) +
            " bytes, found data_offsets covering " +
            std::to_string(end - begin) + " bytes";
    return false;
  }
  entry.begin = begin;
  entry.end = end;
  return true;
}

} // namespace

const SafetensorsEntry *SafetensorsHeader::find(const std::string &name) const {
  for (const SafetensorsEntry &entry : entries)
    if (entry.name == name)
      return &entry;
  return nullptr;
}

size_t safetensorsDtypeSize(const std::string &dtype) {
  if (dtype == "F64" || dtype == "I64")
    return 8;
  if (dtype == "F32" || dtype == "I32")
    return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16")
    return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL")
    return 1;
  return 0;
}

bool parseSafetensors(const uint8_t *data, size_t size, SafetensorsHeader &out,
                      std::string &error) {
  out = SafetensorsHeader();
  if (size < 8 || data == nullptr) {
    error = "safetensors: expected at least 8 bytes (the header length), "
            "found " +
            std::to_string(size) + " bytes; the file is truncated";
    return false;
  }
  uint64_t headerLength = 0;
  for (int i = 7; i >= 0; --i)
    headerLength = (headerLength << 8) | data[i];
  if (headerLength > kMaxHeaderBytes) {
    error = "safetensors: header length " + std::to_string(headerLength) +
            " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
            " bytes";
    return false;
  }
  if (headerLength > size - 8) {
    error = "safetensors: header length " + std::to_string(headerLength) +
            " exceeds the " + std::to_string(size - 8) +
            " bytes after the length field; the file is truncated";
    return false;
  }
  const char *headerText = reinterpret_cast<const char *>(data + 8);
  std::string depthError;
  if (!checkJsonDepth(headerText, headerLength, depthError)) {
    error = "safetensors: the header (from byte 8) is not valid JSON: " +
            depthError;
    return false;
  }
  Json header;
  try {
    header = Json::parse(headerText, headerText + headerLength,
                         /*cb=*/nullptr, /*allow_exceptions=*/true);
  } catch (const Json::exception &e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 8:
    // syntax error ... expected ..."; the bracketed id means nothing to a
    // user, the position (within the header, which starts at byte 8) does.
    std::string what = e.what();
    size_t close = what.find("] ");
    if (what.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      what = what.substr(close + 2);
    error = "safetensors: the header (from byte 8) is not valid JSON: " + what;
    return false;
  }
  if (!header.is_object()) {
    error = "safetensors: expected the header to be a JSON object, found " +
            describe(header);
    return false;
  }

  uint64_t dataBegin = 8 + headerLength;
  uint64_t dataSize = size - dataBegin;
  out.dataBegin = dataBegin;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) {
        error = "safetensors header: __metadata__: expected an object of "
                "strings, found " +
                describe(it.value());
        return false;
      }
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) {
          error = "safetensors header: __metadata__." + m.key() +
                  ": expected a string, found " + describe(m.value());
          return false;
        }
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    SafetensorsEntry entry;
    if (!parseEntry(it.key(), it.value(), dataSize, entry, error))
      return false;
    entry.begin += dataBegin;
    entry.end += dataBegin;
    out.entries.push_back(std::move(entry));
  }

  // The JSON object is unordered; keep the order of the data instead, which
  // is also what the overlap check below needs.
  std::stable_sort(out.entries.begin(), out.entries.end(),
                   [](const SafetensorsEntry &a, const SafetensorsEntry &b) {
                     return a.begin < b.begin;
                   });
  for (size_t i = 1; i < out.entries.size(); ++i) {
    const SafetensorsEntry &prev = out.entries[i - 1];
    const SafetensorsEntry &cur = out.entries[i];
    // Empty tensors occupy no bytes and cannot overlap anything.
    if (prev.end > cur.begin && cur.begin != cur.end &&
        prev.begin != prev.end) {
      error = "safetensors header: tensors '" + prev.name + "' and '" +
              cur.name + "' have overlapping data_offsets [" +
              std::to_string(prev.begin - dataBegin) + ", " +
              std::to_string(prev.end - dataBegin) + ") and [" +
              std::to_string(cur.begin - dataBegin) + ", " +
              std::to_string(cur.end - dataBegin) + ")";
      out = SafetensorsHeader();
      return false;
    }
  }
  return true;
}

bool writeSafetensors(const std::string &path,
                      const std::vector<SafetensorsTensor> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      std::string &error) {
  // Lay out the data area first: each tensor at the next aligned offset.
  OrderedJson header = OrderedJson::object();
  if (!metadata.empty()) {
    OrderedJson meta = OrderedJson::object();
    for (const auto &[key, value] : metadata)
      meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  std::vector<uint64_t> offsets;
  std::set<std::string> names;
  uint64_t dataSize = 0;
  for (const SafetensorsTensor &tensor : tensors) {
    std::string where = path + ": tensor '" + tensor.name + "': ";
    if (tensor.name.empty() || tensor.name == "__metadata__" ||
        !names.insert(tensor.name).second) {
      error = where + "expected a unique, non-empty name other than "
                      "__metadata__";
      return false;
    }
    size_t elementSize = safetensorsDtypeSize(tensor.dtype);
    if (elementSize == 0) {
      error = where + "unknown dtype '" + tensor.dtype + "'";
      return false;
    }
    uint64_t bytes = elementSize;
    for (int64_t dim : tensor.shape) {
      if (dim < 0 || mulOverflow(bytes, static_cast<uint64_t>(dim), bytes)) {
        error = where + "expected non-negative dimensions whose product "
                        "fits in 64 bits";
        return false;
      }
    }
    if (bytes != tensor.sizeBytes || (bytes != 0 && tensor.data == nullptr)) {
      error = where + "the shape needs " + std::to_string(bytes) +
              " bytes, found " + std::to_string(tensor.sizeBytes) +
              (tensor.data ? "" : " (and no data pointer)");
      return false;
    }
    uint64_t begin = alignUp(dataSize);
    offsets.push_back(begin);
    dataSize = begin + bytes;
    OrderedJson entry;
    entry["dtype"] = tensor.dtype;
    entry["shape"] = tensor.shape;
    entry["data_offsets"] = {begin, begin + bytes};
    header[tensor.name] = std::move(entry);
  }

  std::string headerText;
  try {
    headerText =
        header.dump(-1, ' ', false, OrderedJson::error_handler_t::strict);
  } catch (const std::exception &e) {
    error = path + ": cannot encode the header: " + e.what();
    return false;
  }
  // Pad with spaces (valid JSON whitespace) so 8 + header length, the start
  // of the data area, is aligned.
  headerText.resize(alignUp(8 + headerText.size()) - 8, ' ');

  return writeFileAtomically(path, error, [&](AtomicFileWriter &out) {
    uint8_t lengthBytes[8];
    uint64_t headerLength = headerText.size();
    for (int i = 0; i < 8; ++i)
      lengthBytes[i] = static_cast<uint8_t>(headerLength >> (8 * i));
    if (!out.write(lengthBytes, 8) ||
        !out.write(headerText.data(), headerText.size()))
      return false;
    static const uint8_t zeros[kSafetensorsAlignment] = {};
    uint64_t position = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (!out.write(zeros, offsets[i] - position) ||
          !out.write(tensors[i].data, tensors[i].sizeBytes))
        return false;
      position = offsets[i] + tensors[i].sizeBytes;
    }
    return true;
  });
}

} // namespace xfc
