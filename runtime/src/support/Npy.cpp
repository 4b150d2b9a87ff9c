//===- Npy.cpp - NumPy .npy files in and out ------------------------------===//
//
// Part of xfc. This file implements readNpy, parseNpy and writeNpy
// (xfc/Support/Npy.h).
// The .npy header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// which is parsed here by a small recursive-descent reader accepting exactly
// the literals NumPy writes (strings, True/False, tuples of integers), so no
// Python is needed at run time. Every size read from the file is checked
// before use; nothing throws out of these functions.
//
//===----------------------------------------------------------------------===//

#include "xfc/Support/Npy.h"

#include "support/AtomicFile.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <sys/stat.h>

namespace xfc {

namespace {

/// The six magic bytes every .npy file starts with.
constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

/// NumPy aligns the data of version 1.0 files it writes to 64 bytes; doing
/// the same keeps our files byte-identical in layout to numpy.save's.
constexpr size_t kHeaderAlignment = 64;

/// `text` with bytes outside printable ASCII written as \xNN, so a message
/// quoting part of a damaged header stays one readable line.
std::string printable(const std::string &text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  }
  return out;
}

/// One value of the header dict.
struct PyValue {
  enum Kind { String, Bool, Tuple } kind = String;
  std::string text;
  bool boolean = false;
  std::vector<int64_t> items;
};

/// A cursor over the header text that parses the dict literal.
class HeaderParser {
public:
  /// `fileOffset` is where `text` starts in the file, for the messages.
  HeaderParser(const std::string &text, size_t fileOffset)
      : text(text), fileOffset(fileOffset) {}

  /// Parses the whole dict into `out`; false with `error` on bad syntax.
  bool parseDict(std::map<std::string, PyValue> &out, std::string &error) {
    skipSpace();
    if (!consume('{'))
      return fail("'{'", error);
    skipSpace();
    while (!peek('}')) {
      std::string key;
      size_t keyAt = pos;
      if (!parseString(key))
        return fail("a quoted key", error);
      skipSpace();
      if (!consume(':'))
        return fail("':'", error);
      skipSpace();
      PyValue value;
      if (!parseValue(value, error))
        return false;
      if (out.count(key)) {
        error = "header, byte " + std::to_string(fileOffset + keyAt) +
                ": expected each key once, found '" + printable(key) +
                "' a second time";
        return false;
      }
      out[key] = std::move(value);
      skipSpace();
      if (consume(',')) {
        skipSpace();
        continue;
      }
      if (!peek('}'))
        return fail("',' or '}'", error);
    }
    consume('}');
    skipSpace();
    if (pos != text.size())
      return fail("the end of the header", error);
    return true;
  }

private:
  /// "header, byte N: expected X, found Y", N counted from the start of
  /// the file so a hex dump finds it.
  bool fail(const std::string &expected, std::string &error) {
    std::string found = pos < text.size()
                            ? "'" + printable(text.substr(pos, 20)) + "'"
                            : std::string("the end of the header");
    error = "header, byte " + std::to_string(fileOffset + pos) + ": expected " +
            expected + ", found " + found;
    return false;
  }

  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }
  bool peek(char c) const { return pos < text.size() && text[pos] == c; }
  bool consume(char c) {
    if (!peek(c))
      return false;
    ++pos;
    return true;
  }
  bool consumeWord(const char *word) {
    size_t len = std::strlen(word);
    if (text.compare(pos, len, word) != 0)
      return false;
    pos += len;
    return true;
  }

  /// A '...' or "..." string without escapes (NumPy's descr and keys never
  /// contain any).
  bool parseString(std::string &out) {
    if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"'))
      return false;
    // On failure pos stays at the opening quote, which the message quotes.
    char quote = text[pos];
    size_t end = text.find(quote, pos + 1);
    if (end == std::string::npos)
      return false;
    std::string body = text.substr(pos + 1, end - pos - 1);
    if (body.find('\\') != std::string::npos)
      return false;
    out = std::move(body);
    pos = end + 1;
    return true;
  }

  bool parseInt(int64_t &out) {
    size_t start = pos;
    if (peek('-'))
      ++pos;
    size_t digits = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
      ++pos;
    if (pos == digits)
      return false;
    // Python 2 era files may write long integers as "3L".
    std::string number = text.substr(start, pos - start);
    if (peek('L'))
      ++pos;
    errno = 0;
    char *endPtr = nullptr;
    long long value = std::strtoll(number.c_str(), &endPtr, 10);
    if (errno == ERANGE || *endPtr != '\0')
      return false;
    out = value;
    return true;
  }

  bool parseValue(PyValue &value, std::string &error) {
    if (peek('\'') || peek('"')) {
      value.kind = PyValue::String;
      if (!parseString(value.text))
        return fail("a quoted string", error);
      return true;
    }
    if (consumeWord("True")) {
      value.kind = PyValue::Bool;
      value.boolean = true;
      return true;
    }
    if (consumeWord("False")) {
      value.kind = PyValue::Bool;
      value.boolean = false;
      return true;
    }
    if (consume('(')) {
      value.kind = PyValue::Tuple;
      skipSpace();
      while (!peek(')')) {
        int64_t item = 0;
        if (!parseInt(item))
          return fail("an integer", error);
        value.items.push_back(item);
        skipSpace();
        if (consume(',')) {
          skipSpace();
          continue;
        }
        if (!peek(')'))
          return fail("',' or ')'", error);
      }
      consume(')');
      return true;
    }
    return fail("a string, True, False or a tuple", error);
  }

  const std::string &text;
  size_t fileOffset;
  size_t pos = 0;
};

/// Formats `shape` as a Python tuple: "()", "(5,)", "(2, 3)".
std::string formatShape(const std::vector<int64_t> &shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1)
    out += ",";
  return out + ")";
}

/// How a header value reads in a message: its Python literal.
std::string describe(const PyValue &value) {
  switch (value.kind) {
  case PyValue::String:
    return "the string '" + printable(value.text) + "'";
  case PyValue::Bool:
    return value.boolean ? "True" : "False";
  case PyValue::Tuple:
    return "the tuple " + formatShape(value.items);
  }
  return "?";
}

} // namespace

int64_t NpyArray::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

bool readNpy(const std::string &path, NpyArray &out, std::string &error) {
  out = NpyArray();
  struct stat info;
  if (stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    error = path + ": expected a .npy file, found " +
            (S_ISDIR(info.st_mode) ? "a folder"
                                   : "something that is not a "
                                     "regular file");
    return false;
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::ostringstream buffer;
  buffer << file.rdbuf();
  if (file.bad()) {
    error = path + ": read error";
    return false;
  }
  return parseNpy(buffer.str(), path, out, error);
}

bool parseNpy(const std::string &contents, const std::string &name,
              NpyArray &out, std::string &error) {
  out = NpyArray();
  auto fail = [&](const std::string &message) {
    error = name + ": " + message;
    out = NpyArray();
    return false;
  };

  if (contents.size() < kMagicSize + 2 ||
      contents.compare(0, kMagicSize, kMagic, kMagicSize) != 0)
    return fail("expected a .npy file (starting with \\x93NUMPY and a "
                "version), found " +
                std::to_string(contents.size()) +
                " bytes without that signature");
  int major = static_cast<uint8_t>(contents[6]);
  int minor = static_cast<uint8_t>(contents[7]);
  size_t lengthBytes;
  if (major == 1 && minor == 0)
    lengthBytes = 2;
  else if ((major == 2 || major == 3) && minor == 0)
    lengthBytes = 4;
  else
    return fail("bytes 6-7: expected format version 1.0, 2.0 or 3.0, found " +
                std::to_string(major) + "." + std::to_string(minor));
  size_t prefix = kMagicSize + 2 + lengthBytes;
  if (contents.size() < prefix)
    return fail("byte 8: expected a header length of " +
                std::to_string(lengthBytes) + " bytes (format " +
                std::to_string(major) + ".0), found " +
                std::to_string(contents.size() - kMagicSize - 2) +
                " (the file is truncated)");
  uint64_t headerLength = 0;
  for (size_t i = 0; i < lengthBytes; ++i)
    headerLength |= static_cast<uint64_t>(
                        static_cast<uint8_t>(contents[kMagicSize + 2 + i]))
                    << (8 * i);
  if (headerLength > contents.size() - prefix)
    return fail("byte " + std::to_string(prefix) + ": expected the " +
                std::to_string(headerLength) +
                " header bytes the length field declares, found " +
                std::to_string(contents.size() - prefix) +
                " (the file is truncated)");
  std::string headerText = contents.substr(prefix, headerLength);

  std::map<std::string, PyValue> dict;
  std::string parseError;
  if (!HeaderParser(headerText, prefix).parseDict(dict, parseError))
    return fail(parseError);
  auto descr = dict.find("descr");
  auto fortran = dict.find("fortran_order");
  auto shape = dict.find("shape");
  if (descr == dict.end() || fortran == dict.end() || shape == dict.end()) {
    std::string keys;
    for (const auto &entry : dict)
      keys += (keys.empty() ? "'" : ", '") + printable(entry.first) + "'";
    return fail("header: expected the keys 'descr', 'fortran_order' and "
                "'shape', found " +
                (keys.empty() ? std::string("none") : keys));
  }
  if (descr->second.kind != PyValue::String)
    return fail("header: 'descr': expected a dtype string such as '<f4', "
                "found " +
                describe(descr->second));
  if (fortran->second.kind != PyValue::Bool)
    return fail("header: 'fortran_order': expected True or False, found " +
                describe(fortran->second));
  if (fortran->second.boolean)
    return fail("header: 'fortran_order': expected False (C order), found "
                "True");
  if (shape->second.kind != PyValue::Tuple)
    return fail("header: 'shape': expected a tuple of integers, found " +
                describe(shape->second));

  const std::string &dtype = descr->second.text;
  size_t elementSize;
  if (dtype == "<f4" || dtype == "<i4")
    elementSize = 4;
  else if (dtype == "<i8")
    elementSize = 8;
  else
    return fail("header: 'descr': expected '<f4', '<i4' or '<i8' "
                "(little-endian float32/int32/int64), found '" +
                printable(dtype) + "'");

  const std::string shapeText = formatShape(shape->second.items);
  uint64_t numElements = 1;
  for (size_t i = 0; i < shape->second.items.size(); ++i) {
    int64_t dim = shape->second.items[i];
    if (dim < 0)
      return fail("header: 'shape' " + shapeText +
                  ": expected non-negative dimensions, found " +
                  std::to_string(dim) + " at index " + std::to_string(i));
    if (__builtin_mul_overflow(numElements, static_cast<uint64_t>(dim),
                               &numElements))
      return fail("header: 'shape' " + shapeText +
                  ": expected an element count below 2^64, found one that "
                  "overflows 64 bits");
  }
  uint64_t dataBytes = 0;
  if (__builtin_mul_overflow(numElements, elementSize, &dataBytes))
    return fail("header: 'shape' " + shapeText + " of " + printable(dtype) +
                ": expected a data size below 2^64 bytes, found one that "
                "overflows 64 bits");
  size_t dataBegin = prefix + headerLength;
  size_t available = contents.size() - dataBegin;
  if (available != dataBytes)
    return fail("byte " + std::to_string(dataBegin) + ": expected the " +
                std::to_string(dataBytes) + " data bytes of shape " +
                shapeText + " of " + dtype + ", found " +
                std::to_string(available) +
                (available < dataBytes ? " (the file is truncated)" : ""));

  const char *data = contents.data() + dataBegin;
  out.shape = shape->second.items;
  if (dtype == "<i8") {
    // Narrow to int32: ids and lengths are small, and xfc models take i32.
    out.dtype = "i32";
    out.bytes.resize(numElements * 4);
    for (uint64_t i = 0; i < numElements; ++i) {
      int64_t value;
      std::memcpy(&value, data + i * 8, 8);
      if (value < std::numeric_limits<int32_t>::min() ||
          value > std::numeric_limits<int32_t>::max())
        return fail("byte " + std::to_string(dataBegin + i * 8) +
                    ": int64 element " + std::to_string(i) +
                    ": expected a value that fits in int32 (xfc reads "
                    "int64 arrays as int32), found " +
                    std::to_string(value));
      int32_t narrow = static_cast<int32_t>(value);
      std::memcpy(out.bytes.data() + i * 4, &narrow, 4);
    }
    return true;
  }
  out.dtype = dtype == "<f4" ? "f32" : "i32";
  out.bytes.assign(data, data + dataBytes);
  return true;
}

bool writeNpy(const std::string &path, const NpyArray &array,
              std::string &error) {
  std::string descr;
  if (array.dtype == "f32")
    descr = "<f4";
  else if (array.dtype == "i32")
    descr = "<i4";
  else {
    error = path + ": expected dtype f32 or i32, found '" + array.dtype + "'";
    return false;
  }
  uint64_t numElements = 1;
  for (int64_t dim : array.shape) {
    if (dim < 0 || __builtin_mul_overflow(
                       numElements, static_cast<uint64_t>(dim), &numElements)) {
      error = path + ": shape " + formatShape(array.shape) +
              ": expected non-negative dimensions with a representable "
              "element count";
      return false;
    }
  }
  uint64_t dataBytes = 0;
  if (__builtin_mul_overflow(numElements, uint64_t(4), &dataBytes) ||
      dataBytes != array.bytes.size()) {
    error = path + ": shape " + formatShape(array.shape) + " needs " +
            std::to_string(dataBytes) + " bytes, found " +
            std::to_string(array.bytes.size());
    return false;
  }

  std::string header =
      "{'descr': '" + descr +
      "', 'fortran_order': False, 'shape': " + formatShape(array.shape) + ", }";
  // magic + version + 2-byte length + header + '\n', padded with spaces.
  size_t prefix = kMagicSize + 2 + 2;
  size_t total = (prefix + header.size() + 1 + kHeaderAlignment - 1) /
                 kHeaderAlignment * kHeaderAlignment;
  header.resize(total - prefix - 1, ' ');
  header += '\n';
  if (header.size() > 0xFFFF) {
    error = path + ": the header (" + std::to_string(header.size()) +
            " bytes) does not fit format version 1.0";
    return false;
  }

  std::string head(kMagic, kMagicSize);
  head += '\x01';
  head += '\x00';
  head += static_cast<char>(header.size() & 0xFF);
  head += static_cast<char>(header.size() >> 8);
  head += header;
  return writeFileAtomically(path, error, [&](AtomicFileWriter &out) {
    return out.write(head.data(), head.size()) &&
           out.write(array.bytes.data(), array.bytes.size());
  });
}

} // namespace xfc
