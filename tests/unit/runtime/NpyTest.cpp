//===- NpyTest.cpp - Tests of the .npy reader and writer ------------------===//
//
// Part of xfc. Reads files written by NumPy itself (every supported format
// version, dtype and shape form), checks that NumPy reads what writeNpy
// writes, and feeds the reader malformed files. The NumPy parts run
// /usr/bin/python3 and are skipped when it or numpy is unavailable.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "xfc/Support/Npy.h"

#include <gtest/gtest.h>

#include <cstring>

namespace xfc {
namespace {

using test::readFile;
using test::TempDir;
using test::writeFile;

/// True if /usr/bin/python3 can import numpy.
bool haveNumpy() {
  static const bool have =
      std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
  return have;
}

/// Runs `script` with python3 in `dir`; true on exit status 0.
bool runPython(const TempDir &dir, const std::string &script) {
  std::string file = dir.file("script.py");
  if (!writeFile(file, script))
    return false;
  std::string command = "cd '" + dir.path() + "' && /usr/bin/python3 '" + file +
                        "' > '" + dir.file("python.log") + "' 2>&1";
  return std::system(command.c_str()) == 0;
}

std::vector<float> floats(const NpyArray &array) {
  std::vector<float> out(array.bytes.size() / 4);
  std::memcpy(out.data(), array.bytes.data(), array.bytes.size());
  return out;
}

std::vector<int32_t> ints(const NpyArray &array) {
  std::vector<int32_t> out(array.bytes.size() / 4);
  std::memcpy(out.data(), array.bytes.data(), array.bytes.size());
  return out;
}

/// Reads `path`, expecting failure; returns the error.
std::string readError(const std::string &path) {
  NpyArray array;
  std::string error;
  EXPECT_FALSE(readNpy(path, array, error)) << path;
  EXPECT_NE(error.find(path), std::string::npos) << error;
  return error;
}

TEST(Npy, ReadsNumpyFiles) {
  if (!haveNumpy())
    GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(runPython(dir, R"(
import numpy as np
from numpy.lib import format as fmt
np.save('f32.npy', np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1)
np.save('i32.npy', np.array([[1, -2], [3, 40000]], dtype=np.int32))
np.save('i64.npy', np.array([5, 6, -7], dtype=np.int64))
np.save('i64big.npy', np.array([1, 2**40], dtype=np.int64))
np.save('scalar.npy', np.float32(2.5))
np.save('vec.npy', np.array([1, 2, 3, 4, 5], dtype=np.int32))
np.save('empty.npy', np.zeros((0, 3), dtype=np.float32))
np.save('fortran.npy', np.asfortranarray(np.ones((2, 3), dtype=np.float32)))
np.save('f64.npy', np.ones(3, dtype=np.float64))
np.save('bigendian.npy', np.ones(3, dtype='>f4'))
for v in [(2, 0), (3, 0)]:
    with open('v%d.npy' % v[0], 'wb') as f:
        fmt.write_array(f, np.array([[9, 8, 7]], dtype=np.int32), version=v)
)")) << readFile(dir.file("python.log"));

  NpyArray array;
  std::string error;
  ASSERT_TRUE(readNpy(dir.file("f32.npy"), array, error)) << error;
  EXPECT_EQ(array.dtype, "f32");
  EXPECT_EQ(array.shape, std::vector<int64_t>({2, 3}));
  EXPECT_EQ(array.numElements(), 6);
  EXPECT_EQ(floats(array),
            std::vector<float>({-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f}));

  ASSERT_TRUE(readNpy(dir.file("i32.npy"), array, error)) << error;
  EXPECT_EQ(array.dtype, "i32");
  EXPECT_EQ(ints(array), std::vector<int32_t>({1, -2, 3, 40000}));

  ASSERT_TRUE(readNpy(dir.file("i64.npy"), array, error)) << error;
  EXPECT_EQ(array.dtype, "i32");
  EXPECT_EQ(array.shape, std::vector<int64_t>({3}));
  EXPECT_EQ(ints(array), std::vector<int32_t>({5, 6, -7}));

  EXPECT_FALSE(readNpy(dir.file("i64big.npy"), array, error));
  EXPECT_NE(error.find("expected a value that fits in int32"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("1099511627776"), std::string::npos) << error;

  ASSERT_TRUE(readNpy(dir.file("scalar.npy"), array, error)) << error;
  EXPECT_TRUE(array.shape.empty());
  EXPECT_EQ(array.numElements(), 1);
  EXPECT_EQ(floats(array), std::vector<float>({2.5f}));

  ASSERT_TRUE(readNpy(dir.file("vec.npy"), array, error)) << error;
  EXPECT_EQ(array.shape, std::vector<int64_t>({5}));
  EXPECT_EQ(ints(array), std::vector<int32_t>({1, 2, 3, 4, 5}));

  ASSERT_TRUE(readNpy(dir.file("empty.npy"), array, error)) << error;
  EXPECT_EQ(array.shape, std::vector<int64_t>({0, 3}));
  EXPECT_TRUE(array.bytes.empty());

  for (const char *version : {"v2.npy", "v3.npy"}) {
    ASSERT_TRUE(readNpy(dir.file(version), array, error)) << error;
    EXPECT_EQ(array.shape, std::vector<int64_t>({1, 3}));
    EXPECT_EQ(ints(array), std::vector<int32_t>({9, 8, 7}));
  }

  EXPECT_NE(readError(dir.file("fortran.npy")).find("fortran_order"),
            std::string::npos);
  EXPECT_NE(readError(dir.file("f64.npy")).find("'<f8'"), std::string::npos);
  EXPECT_NE(readError(dir.file("bigendian.npy")).find("'>f4'"),
            std::string::npos);
}

TEST(Npy, NumpyReadsWrittenFiles) {
  if (!haveNumpy())
    GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string error;

  std::vector<float> f = {0.25f, -3.0f, 1e30f, 7.0f, 8.5f, -0.0f};
  NpyArray a{"f32", {3, 2}, {}};
  a.bytes.resize(f.size() * 4);
  std::memcpy(a.bytes.data(), f.data(), a.bytes.size());
  ASSERT_TRUE(writeNpy(dir.file("a.npy"), a, error)) << error;

  std::vector<int32_t> i = {-5, 0, 2147483647};
  NpyArray b{"i32", {3}, {}};
  b.bytes.resize(i.size() * 4);
  std::memcpy(b.bytes.data(), i.data(), b.bytes.size());
  ASSERT_TRUE(writeNpy(dir.file("b.npy"), b, error)) << error;

  NpyArray c{"f32", {}, {0, 0, 0x80, 0x3f}}; // The scalar 1.0f.
  ASSERT_TRUE(writeNpy(dir.file("c.npy"), c, error)) << error;

  // The data starts at a multiple of 64, like numpy.save's own files.
  for (const char *name : {"a.npy", "b.npy", "c.npy"}) {
    std::string bytes = readFile(dir.file(name));
    ASSERT_GE(bytes.size(), 10u);
    size_t headerLength =
        static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
    EXPECT_EQ((10 + headerLength) % 64, 0u) << name;
    EXPECT_EQ(bytes[10 + headerLength - 1], '\n') << name;
  }

  ASSERT_TRUE(runPython(dir, R"(
import numpy as np
a = np.load('a.npy'); b = np.load('b.npy'); c = np.load('c.npy')
assert a.dtype == np.float32 and a.shape == (3, 2), (a.dtype, a.shape)
assert a.tolist() == [[0.25, -3.0], [np.float32(1e30).item(), 7.0], [8.5, -0.0]], a
assert b.dtype == np.int32 and b.tolist() == [-5, 0, 2147483647], b
assert c.dtype == np.float32 and c.shape == () and c.item() == 1.0, c
)")) << readFile(dir.file("python.log"));

  // And our reader reads them back unchanged.
  NpyArray back;
  ASSERT_TRUE(readNpy(dir.file("a.npy"), back, error)) << error;
  EXPECT_EQ(back.dtype, "f32");
  EXPECT_EQ(back.shape, a.shape);
  EXPECT_EQ(back.bytes, a.bytes);
  ASSERT_TRUE(readNpy(dir.file("c.npy"), back, error)) << error;
  EXPECT_TRUE(back.shape.empty());
  EXPECT_EQ(back.bytes, c.bytes);
}

TEST(Npy, WriterRejectsBadArrays) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string error;
  EXPECT_FALSE(
      writeNpy(dir.file("x.npy"), NpyArray{"f64", {1}, {0, 0, 0, 0}}, error));
  EXPECT_NE(error.find("f64"), std::string::npos) << error;
  EXPECT_FALSE(
      writeNpy(dir.file("x.npy"), NpyArray{"f32", {2}, {0, 0, 0, 0}}, error));
  EXPECT_NE(error.find("needs 8 bytes"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.npy")));
}

/// A version 1.0 file with `header` as its dict text and `data` after it.
std::string npyFile(const std::string &header, const std::string &data,
                    char major = 1) {
  std::string out = std::string("\x93NUMPY", 6) + major + '\0';
  size_t length = header.size();
  if (major == 1) {
    out += static_cast<char>(length & 0xff);
    out += static_cast<char>(length >> 8);
  } else {
    for (int i = 0; i < 4; ++i)
      out += static_cast<char>(length >> (8 * i));
  }
  return out + header + data;
}

TEST(Npy, RejectsMalformedFiles) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("bad.npy");
  auto errorFor = [&](const std::string &contents) {
    EXPECT_TRUE(writeFile(path, contents));
    return readError(path);
  };
  const std::string good = "{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (2,), }\n";
  // Sanity: the well-formed file is read.
  {
    ASSERT_TRUE(writeFile(path, npyFile(good, std::string(8, '\0'))));
    NpyArray array;
    std::string error;
    ASSERT_TRUE(readNpy(path, array, error)) << error;
    EXPECT_EQ(array.shape, std::vector<int64_t>({2}));
  }
  EXPECT_NE(readError(dir.file("missing.npy")).find("cannot open"),
            std::string::npos);
  EXPECT_NE(errorFor("").find("\\x93NUMPY"), std::string::npos);
  EXPECT_NE(errorFor("PK\x03\x04 not numpy").find("\\x93NUMPY"),
            std::string::npos);
  EXPECT_NE(errorFor(npyFile(good, std::string(8, '\0'), 4)).find("found 4.0"),
            std::string::npos);
  EXPECT_NE(errorFor(npyFile(good, "").substr(0, 9)).find("truncated"),
            std::string::npos);
  EXPECT_NE(errorFor(npyFile(good, "").substr(0, 30)).find("truncated"),
            std::string::npos);
  std::string error = errorFor(npyFile(good, std::string(7, '\0')));
  EXPECT_NE(error.find("expected the 8 data bytes of shape (2,) of <f4, "
                       "found 7"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  error = errorFor(npyFile(good, std::string(12, '\0')));
  EXPECT_NE(error.find("found 12"), std::string::npos) << error;
  error = errorFor(npyFile("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (-2,), }\n",
                           ""));
  EXPECT_NE(error.find("non-negative"), std::string::npos) << error;
  error = errorFor(
      npyFile("{'descr': '<f4', 'shape': (2,), }\n", std::string(8, '\0')));
  EXPECT_NE(error.find("'fortran_order'"), std::string::npos) << error;
  error = errorFor(npyFile("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (2, 'x'), }\n",
                           std::string(8, '\0')));
  EXPECT_NE(error.find("expected an integer"), std::string::npos) << error;
  error = errorFor(npyFile("{'descr': '<f4' 'fortran_order': False}\n", ""));
  EXPECT_NE(error.find("expected ',' or '}'"), std::string::npos) << error;
  error = errorFor(npyFile("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (99999999999, 99999999999, "
                           "99999999999), }\n",
                           ""));
  EXPECT_NE(error.find("overflows"), std::string::npos) << error;
}

/// Every error of parseNpy with its whole message: the place (a byte offset
/// or a header key), what was expected and what was found
/// (tests/errors/catalogue.json lists each).
TEST(NpyErrors, MessagesNamePlaceExpectedAndFound) {
  const std::string good = "{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (2,), }\n";
  const std::string eight(8, '\0');
  struct Case {
    std::string contents, message;
  };
  std::string bigI64 = npyFile("{'descr': '<i8', 'fortran_order': False, "
                               "'shape': (2,), }\n",
                               std::string(8, '\0'));
  bigI64 += std::string("\x00\x00\x00\x00\x01\x00\x00\x00", 8);
  const std::vector<Case> cases = {
      {"PK\x03\x04",
       "expected a .npy file (starting with \\x93NUMPY and a version), found "
       "4 bytes without that signature"},
      {npyFile(good, eight, 4),
       "bytes 6-7: expected format version 1.0, 2.0 or 3.0, found 4.0"},
      {npyFile(good, "", 2).substr(0, 10),
       "byte 8: expected a header length of 4 bytes (format 2.0), found 2 "
       "(the file is truncated)"},
      {npyFile(good, "").substr(0, 20),
       "byte 10: expected the 58 header bytes the length field declares, "
       "found 10 (the file is truncated)"},
      {npyFile("['descr']", ""),
       "header, byte 10: expected '{', found '['descr']'"},
      {npyFile("{descr: 1}", ""),
       "header, byte 11: expected a quoted key, found 'descr: 1}'"},
      {npyFile("{'descr' '<f4'}", ""),
       "header, byte 19: expected ':', found ''<f4'}'"},
      {npyFile("{'descr': '<f4}", ""),
       "header, byte 20: expected a quoted string, found ''<f4}'"},
      {npyFile("{'shape': (2; 3)}", ""),
       "header, byte 22: expected ',' or ')', found '; 3)}'"},
      {npyFile("{'shape': (x,)}", ""),
       "header, byte 21: expected an integer, found 'x,)}'"},
      {npyFile("{'shape': None}", ""),
       "header, byte 20: expected a string, True, False or a tuple, found "
       "'None}'"},
      {npyFile("{'descr': '<f4' 'shape': ()}", ""),
       "header, byte 26: expected ',' or '}', found ''shape': ()}'"},
      {npyFile("{'descr': '<f4'} \x01", ""),
       "header, byte 27: expected the end of the header, found '\\x01'"},
      {npyFile("{'descr': '<f4', 'descr': '<f4'}", ""),
       "header, byte 27: expected each key once, found 'descr' a second "
       "time"},
      {npyFile("{'descr': '<f4', 'shape': (2,)}", eight),
       "header: expected the keys 'descr', 'fortran_order' and 'shape', "
       "found 'descr', 'shape'"},
      {npyFile("{'descr': True, 'fortran_order': False, 'shape': (2,)}", eight),
       "header: 'descr': expected a dtype string such as '<f4', found True"},
      {npyFile("{'descr': '<f4', 'fortran_order': 'no', 'shape': (2,)}", eight),
       "header: 'fortran_order': expected True or False, found the string "
       "'no'"},
      {npyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}", eight),
       "header: 'fortran_order': expected False (C order), found True"},
      {npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': '2'}", eight),
       "header: 'shape': expected a tuple of integers, found the string '2'"},
      {npyFile("{'descr': '>f8', 'fortran_order': False, 'shape': (2,)}",
               eight),
       "header: 'descr': expected '<f4', '<i4' or '<i8' (little-endian "
       "float32/int32/int64), found '>f8'"},
      {npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}",
               ""),
       "header: 'shape' (2, -3): expected non-negative dimensions, found -3 "
       "at index 1"},
      {npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': "
               "(4294967296, 4294967296)}",
               ""),
       "header: 'shape' (4294967296, 4294967296): expected an element count "
       "below 2^64, found one that overflows 64 bits"},
      {npyFile("{'descr': '<i8', 'fortran_order': False, 'shape': "
               "(4294967296, 1073741824)}",
               ""),
       "header: 'shape' (4294967296, 1073741824) of <i8: expected a data "
       "size below 2^64 bytes, found one that overflows 64 bits"},
      {npyFile(good, std::string(7, '\0')),
       "byte 68: expected the 8 data bytes of shape (2,) of <f4, found 7 (the "
       "file is truncated)"},
      {bigI64, "byte 76: int64 element 1: expected a value that fits in "
               "int32 (xfc reads int64 arrays as int32), found 4294967296"},
  };
  for (const Case &c : cases) {
    NpyArray array;
    std::string error;
    EXPECT_FALSE(parseNpy(c.contents, "x.npy", array, error)) << c.message;
    EXPECT_EQ(error, "x.npy: " + c.message);
    EXPECT_TRUE(array.shape.empty() && array.bytes.empty()) << c.message;
  }
}

TEST(NpyErrors, FileErrorsNameTheFile) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  NpyArray array;
  std::string error;
  EXPECT_FALSE(readNpy(dir.path(), array, error));
  EXPECT_EQ(error, dir.path() + ": expected a .npy file, found a folder");
  EXPECT_FALSE(readNpy(dir.file("missing.npy"), array, error));
  EXPECT_EQ(error, dir.file("missing.npy") +
                       ": cannot open: No such file or directory");
}

} // namespace
} // namespace xfc
