//===- SafetensorsTest.cpp - Tests of the safetensors reader/writer -------===//
//
// Part of xfc. Round-trips tensors through writeSafetensors and
// parseSafetensors, checks the 64-byte layout the runtime relies on, and
// feeds the parser corrupted headers (truncated, bad JSON, overlapping or
// mis-sized ranges, unknown dtypes), each of which must be refused with a
// message rather than accepted or crashing.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "xfc/Support/Safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

namespace xfc {
namespace {

using test::rawSafetensors;
using test::readFile;
using test::TempDir;
using test::writeFile;

/// Parses `bytes`, expecting failure; returns the error.
std::string parseError(const std::string &bytes) {
  SafetensorsHeader header;
  std::string error;
  EXPECT_FALSE(parseSafetensors(reinterpret_cast<const uint8_t *>(bytes.data()),
                                bytes.size(), header, error));
  EXPECT_FALSE(error.empty());
  return error;
}

TEST(Safetensors, DtypeSizes) {
  EXPECT_EQ(safetensorsDtypeSize("F64"), 8u);
  EXPECT_EQ(safetensorsDtypeSize("F32"), 4u);
  EXPECT_EQ(safetensorsDtypeSize("BF16"), 2u);
  EXPECT_EQ(safetensorsDtypeSize("I8"), 1u);
  EXPECT_EQ(safetensorsDtypeSize("BOOL"), 1u);
  EXPECT_EQ(safetensorsDtypeSize("f32"), 0u);
  EXPECT_EQ(safetensorsDtypeSize("F8"), 0u);
}

TEST(Safetensors, RoundTripAligned) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::vector<float> a = {1.5f, -2.0f, 3.25f};
  std::vector<int32_t> b = {7, -8, 9, 10, 11, 12};
  std::vector<float> c; // An empty tensor.
  std::vector<SafetensorsTensor> tensors = {
      {"a", "F32", {3}, a.data(), a.size() * 4},
      {"b", "I32", {2, 3}, b.data(), b.size() * 4},
      {"c", "F32", {0, 4}, c.data(), 0},
  };
  std::string path = dir.file("w.safetensors");
  std::string error;
  ASSERT_TRUE(writeSafetensors(path, tensors, {{"creator", "xfc"}}, error))
      << error;
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  std::string bytes = readFile(path);
  SafetensorsHeader header;
  ASSERT_TRUE(parseSafetensors(reinterpret_cast<const uint8_t *>(bytes.data()),
                               bytes.size(), header, error))
      << error;
  EXPECT_EQ(header.dataBegin % kSafetensorsAlignment, 0u);
  ASSERT_EQ(header.entries.size(), 3u);
  EXPECT_EQ(header.metadata.at("creator"), "xfc");

  const SafetensorsEntry *ea = header.find("a");
  const SafetensorsEntry *eb = header.find("b");
  const SafetensorsEntry *ec = header.find("c");
  ASSERT_TRUE(ea && eb && ec);
  EXPECT_EQ(header.find("missing"), nullptr);
  EXPECT_EQ(ea->dtype, "F32");
  EXPECT_EQ(ea->shape, std::vector<int64_t>({3}));
  EXPECT_EQ(eb->shape, std::vector<int64_t>({2, 3}));
  EXPECT_EQ(ec->shape, std::vector<int64_t>({0, 4}));
  EXPECT_EQ(ea->begin, header.dataBegin);
  EXPECT_EQ(ea->end - ea->begin, 12u);
  EXPECT_EQ(eb->begin, header.dataBegin + 64);
  EXPECT_EQ(eb->end - eb->begin, 24u);
  EXPECT_EQ(eb->begin % kSafetensorsAlignment, 0u);
  EXPECT_EQ(ec->begin % kSafetensorsAlignment, 0u);
  EXPECT_EQ(ec->begin, ec->end);
  EXPECT_EQ(std::memcmp(bytes.data() + ea->begin, a.data(), 12), 0);
  EXPECT_EQ(std::memcmp(bytes.data() + eb->begin, b.data(), 24), 0);
  // Padding between tensors is zero.
  for (uint64_t i = ea->end; i < eb->begin; ++i)
    EXPECT_EQ(bytes[i], '\0');
  // Entries come in the order of the data.
  EXPECT_EQ(header.entries[0].name, "a");
  EXPECT_EQ(header.entries[1].name, "b");
}

TEST(Safetensors, WriterRejectsBadTensors) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("w.safetensors");
  float data[4] = {};
  std::string error;
  EXPECT_FALSE(
      writeSafetensors(path, {{"a", "F32", {3}, data, 16}}, {}, error));
  EXPECT_NE(error.find("needs 12 bytes"), std::string::npos) << error;
  EXPECT_FALSE(writeSafetensors(path, {{"a", "Q4", {4}, data, 16}}, {}, error));
  EXPECT_NE(error.find("unknown dtype"), std::string::npos) << error;
  EXPECT_FALSE(writeSafetensors(
      path, {{"a", "F32", {4}, data, 16}, {"a", "F32", {4}, data, 16}}, {},
      error));
  EXPECT_NE(error.find("unique"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(writeSafetensors(dir.file("no/such/dir/w.safetensors"),
                                {{"a", "F32", {4}, data, 16}}, {}, error));
  EXPECT_NE(error.find("cannot create"), std::string::npos) << error;
}

TEST(Safetensors, ParsesHandWrittenFile) {
  std::string data(16, '\0');
  std::string bytes = rawSafetensors(
      R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
      R"("y":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
      data);
  SafetensorsHeader header;
  std::string error;
  ASSERT_TRUE(parseSafetensors(reinterpret_cast<const uint8_t *>(bytes.data()),
                               bytes.size(), header, error))
      << error;
  ASSERT_EQ(header.entries.size(), 2u);
  // Sorted by data offset, with file offsets.
  EXPECT_EQ(header.entries[0].name, "y");
  EXPECT_EQ(header.entries[0].begin, header.dataBegin);
  EXPECT_EQ(header.entries[1].name, "x");
  EXPECT_EQ(header.entries[1].begin, header.dataBegin + 8);
  EXPECT_EQ(header.dataBegin, bytes.size() - 16);
}

TEST(Safetensors, RejectsTruncated) {
  EXPECT_NE(parseError("").find("truncated"), std::string::npos);
  EXPECT_NE(parseError("abc").find("truncated"), std::string::npos);
  std::string full = rawSafetensors(
      R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
      std::string(16, '\0'));
  // Cut inside the header.
  EXPECT_NE(parseError(full.substr(0, 20)).find("truncated"),
            std::string::npos);
  // Cut inside the data.
  std::string error = parseError(full.substr(0, full.size() - 4));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  EXPECT_NE(error.find("'x'"), std::string::npos) << error;
}

TEST(Safetensors, RejectsHugeHeaderLength) {
  std::string bytes(16, '\0');
  bytes[5] = 0x10; // 2^44.
  std::string error = parseError(bytes);
  EXPECT_NE(error.find("exceeds the limit"), std::string::npos) << error;
}

TEST(Safetensors, RejectsATensorClaimingTerabytes) {
  // 2^20 x 2^20 floats, 4 TiB, in a 64-byte file: refused from the header
  // alone, before anything is allocated or read.
  std::string error = parseError(
      rawSafetensors(R"({"x":{"dtype":"F32","shape":[1048576,1048576],)"
                     R"("data_offsets":[0,4398046511104]}})",
                     std::string(64, '\0')));
  EXPECT_NE(error.find("safetensors header: tensor 'x': data_offsets [0, "
                       "4398046511104) end beyond the data area (64 bytes); "
                       "the file may be truncated"),
            std::string::npos)
      << error;
}

TEST(Safetensors, RejectsADeeplyNestedHeader) {
  std::string header = "{\"__metadata__\": " + std::string(100000, '[') +
                       std::string(100000, ']') + "}";
  std::string error = parseError(rawSafetensors(header, ""));
  EXPECT_NE(
      error.find(
          "safetensors: the header (from byte 8) is not valid JSON: nesting "
          "deeper than the limit of 64 levels"),
      std::string::npos)
      << error;
}

TEST(Safetensors, RejectsBadJson) {
  std::string error = parseError(rawSafetensors(R"({"x": {)", ""));
  EXPECT_NE(error.find("not valid JSON"), std::string::npos) << error;
  error = parseError(rawSafetensors("[1, 2]", ""));
  EXPECT_NE(error.find("JSON object"), std::string::npos) << error;
  error = parseError(rawSafetensors(R"({"x": 3})", ""));
  EXPECT_NE(error.find("expected an object"), std::string::npos) << error;
  error = parseError(rawSafetensors(R"({"__metadata__": {"a": 1}})", ""));
  EXPECT_NE(error.find("__metadata__.a"), std::string::npos) << error;
}

TEST(Safetensors, RejectsBadEntries) {
  std::string data(16, '\0');
  auto entry = [&](const std::string &body) {
    return parseError(rawSafetensors("{\"t\": " + body + "}", data));
  };
  std::string error =
      entry(R"({"dtype":"F8","shape":[4],"data_offsets":[0,16]})");
  EXPECT_NE(error.find("dtype: expected one of"), std::string::npos) << error;
  error = entry(R"({"shape":[4],"data_offsets":[0,16]})");
  EXPECT_NE(error.find("expected a field \"dtype\", found none"),
            std::string::npos)
      << error;
  error = entry(R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})");
  EXPECT_NE(error.find("non-negative"), std::string::npos) << error;
  error = entry(R"({"dtype":"F32","shape":[4.5],"data_offsets":[0,16]})");
  EXPECT_NE(error.find("non-negative"), std::string::npos) << error;
  error = entry(R"({"dtype":"F32","shape":"4","data_offsets":[0,16]})");
  EXPECT_NE(error.find("shape"), std::string::npos) << error;
  error = entry(R"({"dtype":"F32","shape":[4],"data_offsets":[16,0]})");
  EXPECT_NE(error.find("begin <= end"), std::string::npos) << error;
  error = entry(R"({"dtype":"F32","shape":[4],"data_offsets":[0]})");
  EXPECT_NE(error.find("data_offsets"), std::string::npos) << error;
  error = entry(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})");
  EXPECT_NE(error.find("size mismatch"), std::string::npos) << error;
  EXPECT_NE(error.find("needs 12 bytes"), std::string::npos) << error;
  // numel * 4 overflows 64 bits.
  error = entry(R"({"dtype":"F32","shape":[2147483648,4294967296],)"
                R"("data_offsets":[0,0]})");
  EXPECT_NE(error.find("more than 2^64"), std::string::npos) << error;
  error = entry(R"({"dtype":"F32","shape":[4294967296,4294967296,16],)"
                R"("data_offsets":[0,0]})");
  EXPECT_NE(error.find("overflows"), std::string::npos) << error;
}

TEST(Safetensors, RejectsOverlappingRanges) {
  std::string error = parseError(rawSafetensors(
      R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
      std::string(16, '\0')));
  EXPECT_NE(error.find("overlapping"), std::string::npos) << error;
  EXPECT_NE(error.find("'a'"), std::string::npos) << error;
  EXPECT_NE(error.find("'b'"), std::string::npos) << error;
}

/// Every error of parseSafetensors with its whole message: the place (the
/// header, a tensor and its field), what was expected and what was found
/// (tests/errors/catalogue.json lists each).
TEST(SafetensorsErrors, MessagesNamePlaceExpectedAndFound) {
  const std::string data(16, '\0');
  auto entry = [&](const std::string &body) {
    return rawSafetensors("{\"t\": " + body + "}", data);
  };
  std::string hugeLength(8, '\0');
  hugeLength[4] = 1; // 2^32 bytes of header.
  struct Case {
    std::string bytes, message;
  };
  const std::vector<Case> cases = {
      {"abc", "safetensors: expected at least 8 bytes (the header length), "
              "found 3 bytes; the file is truncated"},
      {hugeLength, "safetensors: header length 4294967296 exceeds the limit of "
                   "104857600 bytes"},
      {rawSafetensors("{}", "").substr(0, 9),
       "safetensors: header length 2 exceeds the 1 bytes after the length "
       "field; the file is truncated"},
      {rawSafetensors(R"({"t": })", ""),
       "safetensors: the header (from byte 8) is not valid JSON: parse error "
       "at line 1, column 7: syntax error while parsing value - unexpected "
       "'}'; expected '[', '{', or a literal"},
      {rawSafetensors("[1, 2]", ""),
       "safetensors: expected the header to be a JSON object, found [1,2]"},
      {rawSafetensors(R"({"__metadata__": [1]})", ""),
       "safetensors header: __metadata__: expected an object of strings, found "
       "[1]"},
      {rawSafetensors(R"({"__metadata__": {"a": 1}})", ""),
       "safetensors header: __metadata__.a: expected a string, found 1"},
      {entry("3"), "safetensors header: tensor 't': expected an object with "
                   "dtype, shape and data_offsets, found 3"},
      {entry(R"({"shape":[4],"data_offsets":[0,16]})"),
       "safetensors header: tensor 't': expected a field \"dtype\", found "
       "none"},
      {entry(R"({"dtype":"F8","shape":[4],"data_offsets":[0,16]})"),
       "safetensors header: tensor 't': dtype: expected one of F64, F32, F16, "
       "BF16, I64, I32, I16, I8, U8, BOOL, found \"F8\""},
      {entry(R"({"dtype":"F32","data_offsets":[0,16]})"),
       "safetensors header: tensor 't': expected a field \"shape\", found "
       "none"},
      {entry(R"({"dtype":"F32","shape":"4","data_offsets":[0,16]})"),
       "safetensors header: tensor 't': shape: expected a list of non-negative "
       "integers, found \"4\""},
      {entry(R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})"),
       "safetensors header: tensor 't': shape: expected a list of non-negative "
       "integers, found [-4]"},
      {entry(R"({"dtype":"F32","shape":[4294967296,4294967296,16],)"
             R"("data_offsets":[0,0]})"),
       "safetensors header: tensor 't': shape [4294967296,4294967296,16]: the "
       "element count overflows 64 bits"},
      {entry(R"({"dtype":"F32","shape":[4]})"),
       "safetensors header: tensor 't': expected a field \"data_offsets\", "
       "found none"},
      {entry(R"({"dtype":"F32","shape":[4],"data_offsets":[0]})"),
       "safetensors header: tensor 't': data_offsets: expected [begin, end] "
       "(two non-negative integers), found [0]"},
      {entry(R"({"dtype":"F32","shape":[4],"data_offsets":[16,0]})"),
       "safetensors header: tensor 't': data_offsets: expected begin <= end, "
       "found [16, 0]"},
      {entry(R"({"dtype":"F32","shape":[4],"data_offsets":[0,32]})"),
       "safetensors header: tensor 't': data_offsets [0, 32) end beyond the "
       "data area (16 bytes); the file may be truncated"},
      {entry(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})"),
       "safetensors header: tensor 't': size mismatch: shape [3] of F32 needs "
       "12 bytes, found data_offsets covering 16 bytes"},
      {rawSafetensors(
           R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
           data),
       "safetensors header: tensors 'a' and 'b' have overlapping data_offsets "
       "[0, 12) and [8, 16)"},
  };
  for (const Case &c : cases) {
    SafetensorsHeader header;
    std::string error;
    EXPECT_FALSE(
        parseSafetensors(reinterpret_cast<const uint8_t *>(c.bytes.data()),
                         c.bytes.size(), header, error));
    EXPECT_EQ(error, c.message);
    EXPECT_TRUE(header.entries.empty());
  }
}

} // namespace
} // namespace xfc
