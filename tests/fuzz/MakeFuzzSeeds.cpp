//===- MakeFuzzSeeds.cpp - Writes the generated fuzz seeds ----------------===//
//
// Part of xfc. `xfc-fuzz-make-seeds SPEC OUT.safetensors` writes two files:
// SPEC, the fixed model of the safetensors target (FuzzSafetensorsSpec.h) as
// a spec file, and OUT, that model's random weights in safetensors form,
// which is a valid seed for fuzz_safetensors. make_seeds.sh calls it and
// also compiles SPEC with `xfc compile` to get an artifact seed whose
// weights file is a few kilobytes.
//
//===----------------------------------------------------------------------===//
#include "FuzzSafetensorsSpec.h"

#include "xfc/Frontend/ModelSpec.h"
#include "xfc/Frontend/SpecParser.h"
#include "xfc/Frontend/Weights.h"
#include "xfc/Support/Safetensors.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s SPEC.json OUT.safetensors\n", argv[0]);
    return 2;
  }
  {
    std::ofstream spec(argv[1], std::ios::binary | std::ios::trunc);
    spec << xfc::fuzz::kSafetensorsSpecJson << "\n";
    if (!spec) {
      std::fprintf(stderr, "cannot write %s\n", argv[1]);
      return 1;
    }
  }
  xfc::ModelSpec spec;
  xfc::SpecError specError;
  if (!xfc::parseModelSpec(xfc::fuzz::kSafetensorsSpecJson, "/", spec,
                           specError)) {
    std::fprintf(stderr, "%s\n", specError.message().c_str());
    return 1;
  }
  xfc::WeightStore store;
  xfc::initRandomWeights(spec, spec.weights.seed, spec.weights.stddev, store);
  std::vector<xfc::SafetensorsTensor> tensors;
  for (const xfc::WeightDecl &decl : xfc::listWeights(spec)) {
    const xfc::HostTensor *tensor = store.find(decl.name);
    tensors.push_back({decl.name, "F32", tensor->shape, tensor->data.data(),
                       tensor->data.size() * sizeof(float)});
  }
  std::string error;
  if (!xfc::writeSafetensors(argv[2], tensors, {{"format", "pt"}}, error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  return 0;
}
