//===- ReferenceGoldenTest.cpp - Reference model vs PyTorch ---------------===//
//
// Part of xfc. Runs the reference model on every golden case and shape of
// tests/e2e/golden (written by make_goldens.py from real torch.nn modules)
// and compares it with PyTorch's output on the valid rows. This is what
// makes the reference model an oracle: the spec parser, the weight loader
// and the reference's reading of docs/spec.md all have to agree with
// PyTorch for it to pass.
//
//===----------------------------------------------------------------------===//

#include "ReferenceModel.h"

#include "e2e/GoldenCase.h"
#include "xfc/Frontend/SpecParser.h"
#include "xfc/Frontend/Weights.h"

#include <gtest/gtest.h>

#include <iostream>

namespace xfc::test {

/// Names a parameter in GoogleTest's messages (found by argument-dependent
/// lookup, hence outside the anonymous namespace).
void PrintTo(const GoldenCaseShape &param, std::ostream *os) {
  *os << param.testName();
}

namespace {

/// The goldens are float64 PyTorch outputs rounded to float32 and the
/// reference computes in double, so both usually round the same value and
/// the error is at most the float32 rounding of outputs of order 1-5 (a few
/// 1e-7). The bound is the one the compiled float32 models are held to; it
/// still catches wrong formulas, because the attention logits are spread
/// (std ≥ 2): a GELU off by 0.1% already moves outputs by 1e-3.
constexpr double kTolerance = 1e-4;

TEST(ReferenceGolden, AllCasesPresent) {
  std::vector<GoldenCase> cases = listGoldenCases();
  std::vector<std::string> names;
  for (const GoldenCase &c : cases) {
    names.push_back(c.name);
    EXPECT_FALSE(c.shapes.empty()) << c.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"bert_like", "gpt_like",
                                             "transformer_aiayn"}))
      << "in " << goldenRoot();
}

class ReferenceGoldenShape : public ::testing::TestWithParam<GoldenCaseShape> {
};

TEST_P(ReferenceGoldenShape, MatchesPyTorch) {
  const GoldenCaseShape &param = GetParam();
  ModelSpec spec;
  SpecError specError;
  ASSERT_TRUE(parseModelSpecFile(param.goldenCase.specPath, spec, specError))
      << specError.message(param.goldenCase.specPath);

  WeightStore weights;
  std::string error;
  ASSERT_TRUE(loadWeights(spec, weights, error)) << error;

  GoldenData data;
  ASSERT_TRUE(loadGoldenData(spec, param.shape, data, error)) << error;

  std::vector<float> output;
  ASSERT_TRUE(reference::runReferenceModel(spec, weights, data.shapes,
                                           data.inputValues, output, error))
      << error;

  GoldenComparison cmp = compareValidRows(data, output.data(), output.size());
  ASSERT_TRUE(cmp.sizeMatches)
      << "output has " << output.size() << " elements, expected "
      << data.expected.size();
  ASSERT_GT(cmp.comparedRows, 0);
  std::cout << "[ reference ] " << param.testName() << ": max abs error "
            << cmp.maxAbsError << " over " << cmp.comparedRows
            << " rows (max |expected| " << cmp.maxAbsExpected << ")\n";
  RecordProperty("max_abs_error", std::to_string(cmp.maxAbsError));
  EXPECT_LE(cmp.maxAbsError, kTolerance)
      << "worst element " << cmp.worstIndex << ": got "
      << output[cmp.worstIndex] << ", expected "
      << data.expected[cmp.worstIndex];
}

// Cases missing from the tree are reported by AllCasesPresent; this keeps
// GoogleTest from failing a second time on an empty parameter list.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ReferenceGoldenShape);

INSTANTIATE_TEST_SUITE_P(
    Goldens, ReferenceGoldenShape, ::testing::ValuesIn(listGoldenCaseShapes()),
    [](const ::testing::TestParamInfo<GoldenCaseShape> &info) {
      return info.param.testName();
    });

} // namespace
} // namespace xfc::test
