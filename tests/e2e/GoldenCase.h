//===- GoldenCase.h - The PyTorch golden cases, for tests -------*- C++ -*-===//
//
// Part of xfc. Finds the golden cases tests/e2e/golden/make_goldens.py writes
// (one folder per model with spec.json and weights.safetensors, one
// subfolder per shape with the inputs and expected.npy), loads a shape's
// inputs in listInputs() order with its expected output, and compares an
// output with it on the rows the goldens define (see golden/README.md).
// Shared by the reference-model tests and the end-to-end tests so both read
// the goldens the same way. Header-only: it is test code, included by a few
// test executables.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_E2E_GOLDENCASE_H
#define XFC_TESTS_E2E_GOLDENCASE_H

#include "xfc/Frontend/ModelSpec.h"
#include "xfc/Support/Npy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace xfc::test {

/// One shape of a case: folder `s<S>` or `s<S>_t<T>`.
struct GoldenShape {
  std::string name; ///< Folder name, e.g. "s77_t13".
  std::string dir;  ///< Absolute path of the folder.
  int64_t seqLen = 0;
  int64_t tgtLen = 0; ///< 0 when the folder has no `_t<T>` part.
};

/// One model: its folder, spec and shapes (sorted by seqLen, then tgtLen).
struct GoldenCase {
  std::string name;
  std::string dir;
  std::string specPath;
  std::vector<GoldenShape> shapes;
};

/// A (case, shape) pair: one parameter of a parameterized test.
struct GoldenCaseShape {
  GoldenCase goldenCase;
  GoldenShape shape;
  /// "bert_like_s7": a valid GoogleTest parameter name.
  std::string testName() const { return goldenCase.name + "_" + shape.name; }
};

/// tests/e2e/golden of the source tree the test was built from.
inline std::string goldenRoot() {
#ifdef XFC_SOURCE_DIR
  return std::string(XFC_SOURCE_DIR) + "/tests/e2e/golden";
#else
  return "tests/e2e/golden";
#endif
}

/// Parses "s<S>" or "s<S>_t<T>"; false for any other folder name.
inline bool parseGoldenShapeName(const std::string &name, GoldenShape &out) {
  auto parseNumber = [](const std::string &s, size_t &pos, int64_t &value) {
    size_t start = pos;
    value = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - start < 9)
      value = value * 10 + (s[pos++] - '0');
    return pos > start && value > 0;
  };
  size_t pos = 0;
  if (name.empty() || name[pos++] != 's' || !parseNumber(name, pos, out.seqLen))
    return false;
  out.tgtLen = 0;
  if (pos < name.size()) {
    if (name.compare(pos, 2, "_t") != 0)
      return false;
    pos += 2;
    if (!parseNumber(name, pos, out.tgtLen))
      return false;
  }
  out.name = name;
  return pos == name.size();
}

/// Every case under `root` (a folder with spec.json), sorted by name. Folders
/// without spec.json and shape folders with other names are ignored.
inline std::vector<GoldenCase>
listGoldenCases(const std::string &root = goldenRoot()) {
  namespace fs = std::filesystem;
  std::vector<GoldenCase> cases;
  std::error_code ec;
  for (const fs::directory_entry &entry : fs::directory_iterator(root, ec)) {
    fs::path spec = entry.path() / "spec.json";
    if (!entry.is_directory() || !fs::is_regular_file(spec))
      continue;
    GoldenCase c;
    c.name = entry.path().filename().string();
    c.dir = entry.path().string();
    c.specPath = spec.string();
    for (const fs::directory_entry &sub : fs::directory_iterator(c.dir, ec)) {
      GoldenShape shape;
      if (sub.is_directory() &&
          parseGoldenShapeName(sub.path().filename().string(), shape)) {
        shape.dir = sub.path().string();
        c.shapes.push_back(shape);
      }
    }
    std::sort(c.shapes.begin(), c.shapes.end(),
              [](const GoldenShape &a, const GoldenShape &b) {
                return a.seqLen != b.seqLen ? a.seqLen < b.seqLen
                                            : a.tgtLen < b.tgtLen;
              });
    cases.push_back(c);
  }
  std::sort(
      cases.begin(), cases.end(),
      [](const GoldenCase &a, const GoldenCase &b) { return a.name < b.name; });
  return cases;
}

/// Every (case, shape) pair under `root`.
inline std::vector<GoldenCaseShape>
listGoldenCaseShapes(const std::string &root = goldenRoot()) {
  std::vector<GoldenCaseShape> all;
  for (const GoldenCase &c : listGoldenCases(root))
    for (const GoldenShape &s : c.shapes)
      all.push_back({c, s});
  return all;
}

/// The inputs and expected output of one shape.
struct GoldenData {
  ShapeOptions shapes;                ///< Batch from the inputs' shape.
  std::vector<TensorDecl> inputDecls; ///< listInputs(spec, shapes).
  std::vector<NpyArray> inputs;       ///< In listInputs order.
  std::vector<std::vector<int32_t>> inputValues; ///< Same, as int32.
  std::vector<int64_t> outputShape;              ///< [B, rows, cols].
  std::vector<float> expected;                   ///< Row-major, outputShape.
  /// One flag per output row (B·rows of them): 1 where the goldens define
  /// the row. Rows at padded positions (i ≥ lengths[b]) of an encoder or
  /// decoder with key padding are 0; see golden/README.md.
  std::vector<uint8_t> validRows;

  int64_t numRows() const { return outputShape[0] * outputShape[1]; }
  int64_t rowSize() const { return outputShape[2]; }
};

/// Loads `shape` of a case whose spec is `spec`: the inputs named by
/// listInputs() (each `<name>.npy`, int32, of the listed shape) and
/// expected.npy (float32, of listOutputs()'s shape). Returns false with
/// `error` naming the file on any mismatch.
inline bool loadGoldenData(const ModelSpec &spec, const GoldenShape &shape,
                           GoldenData &out, std::string &error) {
  out = GoldenData();
  bool encDec = spec.kind == ModelKind::EncoderDecoder;
  if (encDec != (shape.tgtLen > 0)) {
    error = shape.dir + ": the folder name does not fit a " +
            std::string(toString(spec.kind)) + " spec";
    return false;
  }

  // The batch is not in the folder name: take it from the first input.
  std::string firstPath =
      shape.dir + (encDec ? "/src_ids.npy" : "/input_ids.npy");
  NpyArray first;
  if (!readNpy(firstPath, first, error))
    return false;
  if (first.shape.size() != 2 || first.shape[0] < 1) {
    error = firstPath + ": expected a [batch, seq] array";
    return false;
  }
  out.shapes.batch = first.shape[0];
  out.shapes.seqLen = shape.seqLen;
  out.shapes.tgtLen = shape.tgtLen;

  out.inputDecls = listInputs(spec, out.shapes);
  for (const TensorDecl &decl : out.inputDecls) {
    std::string path = shape.dir + "/" + decl.name + ".npy";
    NpyArray array;
    if (!readNpy(path, array, error))
      return false;
    if (array.dtype != "i32" || decl.dtype != "i32" ||
        array.shape != decl.shape) {
      error = path + ": expected an int32 array of the shape listInputs() "
                     "gives for this spec and shape";
      return false;
    }
    std::vector<int32_t> values(static_cast<size_t>(array.numElements()));
    std::memcpy(values.data(), array.bytes.data(),
                values.size() * sizeof(int32_t));
    out.inputs.push_back(std::move(array));
    out.inputValues.push_back(std::move(values));
  }

  std::string expectedPath = shape.dir + "/expected.npy";
  NpyArray expected;
  if (!readNpy(expectedPath, expected, error))
    return false;
  std::vector<TensorDecl> outputs = listOutputs(spec, out.shapes);
  if (expected.dtype != "f32" || outputs.size() != 1 ||
      expected.shape != outputs[0].shape || expected.shape.size() != 3) {
    error = expectedPath + ": expected a float32 array of the shape "
                           "listOutputs() gives for this spec and shape";
    return false;
  }
  out.outputShape = expected.shape;
  out.expected.resize(static_cast<size_t>(expected.numElements()));
  std::memcpy(out.expected.data(), expected.bytes.data(),
              out.expected.size() * sizeof(float));

  // Valid rows: every row, except padded positions of a padded encoder or
  // decoder (the decoder rows of an encoder-decoder are never padded).
  const int64_t batch = out.outputShape[0], rows = out.outputShape[1];
  out.validRows.assign(static_cast<size_t>(batch * rows), 1);
  if (!encDec && spec.keyPaddingMask) {
    for (size_t i = 0; i < out.inputDecls.size(); ++i) {
      if (out.inputDecls[i].name != "lengths")
        continue;
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t r = 0; r < rows; ++r)
          out.validRows[b * rows + r] = r < out.inputValues[i][b];
    }
  }
  return true;
}

/// The result of comparing an output with the goldens on the valid rows.
struct GoldenComparison {
  bool sizeMatches = false;
  double maxAbsError = 0.0; ///< NaN anywhere counts as infinite.
  int64_t worstIndex = -1;  ///< Flat index of the largest error.
  int64_t comparedRows = 0;
  double maxAbsExpected = 0.0;
};

/// Compares `actual` (row-major, data.outputShape) with data.expected on
/// the valid rows.
inline GoldenComparison compareValidRows(const GoldenData &data,
                                         const float *actual, size_t count) {
  GoldenComparison result;
  if (count != data.expected.size())
    return result;
  result.sizeMatches = true;
  const int64_t cols = data.rowSize();
  for (int64_t r = 0; r < data.numRows(); ++r) {
    if (!data.validRows[r])
      continue;
    ++result.comparedRows;
    for (int64_t c = 0; c < cols; ++c) {
      int64_t i = r * cols + c;
      double want = data.expected[i];
      double err = std::fabs(static_cast<double>(actual[i]) - want);
      if (std::isnan(err))
        err = INFINITY;
      result.maxAbsExpected = std::max(result.maxAbsExpected, std::fabs(want));
      if (err > result.maxAbsError || result.worstIndex < 0) {
        result.maxAbsError = std::max(result.maxAbsError, err);
        result.worstIndex = i;
      }
    }
  }
  return result;
}

} // namespace xfc::test

#endif // XFC_TESTS_E2E_GOLDENCASE_H
