//===- ExampleModel.h - The bundled example, compiled and opened -*- C++ -*-===//
//
// Part of xfc. Runtime-level end-to-end tests (allocation counting,
// threading) need a real compiled model rather than numerics: this compiles
// models/example-tiny-bert.json at given shapes, opens it, and builds valid
// integer inputs for it.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_E2E_EXAMPLEMODEL_H
#define XFC_TESTS_E2E_EXAMPLEMODEL_H

#include "xfc/Compiler/Compiler.h"
#include "xfc/runtime.h"

#include <cstring>
#include <string>
#include <vector>

namespace xfc::test {

/// Compiles the bundled example with `shapes` into `dir`/artifact and opens
/// it. On failure returns null with `error` set.
inline xfc_model *compileAndOpenExample(const std::string &dir,
                                        const ShapeOptions &shapes,
                                        CompileReport &report,
                                        std::string &error) {
  CompileRequest request;
  request.specPath =
      std::string(XFC_SOURCE_DIR) + "/models/example-tiny-bert.json";
  request.shapes = shapes;
  request.outputDir = dir + "/artifact";
  request.force = true;
  if (!compileModel(request, report, error))
    return nullptr;
  xfc_model *model = nullptr;
  if (xfc_status status =
          xfc_model_open(request.outputDir.c_str(), nullptr, &model)) {
    error = xfc_status_get_message(status);
    xfc_status_free(status);
    return nullptr;
  }
  return model;
}

/// Elements of tensor `info`.
inline size_t numElements(const xfc_tensor_info &info) {
  size_t n = 1;
  for (int32_t d = 0; d < info.rank; ++d)
    n *= info.dims[d];
  return n;
}

/// One buffer per model input: `length` in every element of inputs named
/// "...length...", otherwise `value(j, info)` for element j.
template <typename ValueFn>
std::vector<std::vector<int32_t>>
exampleInputs(const xfc_model *model, int32_t length, ValueFn value) {
  std::vector<std::vector<int32_t>> inputs;
  for (size_t i = 0; i < xfc_model_num_inputs(model); ++i) {
    xfc_tensor_info info;
    if (xfc_status status = xfc_model_input_info(model, i, &info)) {
      xfc_status_free(status);
      return {};
    }
    std::vector<int32_t> v(numElements(info));
    bool isLength = std::strstr(info.name, "length") != nullptr;
    for (size_t j = 0; j < v.size(); ++j)
      v[j] = isLength ? length : value(j, info);
    inputs.push_back(std::move(v));
  }
  return inputs;
}

} // namespace xfc::test

#endif // XFC_TESTS_E2E_EXAMPLEMODEL_H
