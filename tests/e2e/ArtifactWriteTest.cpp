//===- ArtifactWriteTest.cpp - A failed compile leaves nothing behind -----===//
//
// Part of xfc. The artifact is assembled in a temporary sibling folder and
// renamed into place whole (docs/artifact.md). These tests make a compile
// fail after that folder exists (while writing the weights, which is the
// last step that can fail before the rename) and check that nothing is left
// beside the output, not even the temporary folder, and that an existing
// output is untouched, with or without --force.
//
//===----------------------------------------------------------------------===//
#include "ScratchDir.h"

#include "xfc/Compiler/Compiler.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Frontend/SpecParser.h"
#include "xfc/Frontend/Weights.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace xfc::test {
namespace {

/// The names in `dir`.
std::set<std::string> listFolder(const std::string &dir) {
  std::set<std::string> names;
  for (const auto &entry : std::filesystem::directory_iterator(dir))
    names.insert(entry.path().filename().string());
  return names;
}

/// Compiles the CLI tests' tiny encoder into `outputDir` with an empty
/// weight store, so the compile gets as far as writing the weights (after
/// code generation, inside the temporary folder) and fails there.
bool compileWithoutWeights(const std::string &outputDir, bool force,
                           std::string &error) {
  ModelSpec spec;
  SpecError specError;
  std::string specPath =
      std::string(XFC_SOURCE_DIR) + "/tests/CLI/Inputs/tiny.json";
  if (!parseModelSpecFile(specPath, spec, specError)) {
    error = specError.message(specPath);
    return false;
  }
  ShapeOptions shapes;
  shapes.seqLen = 8;
  mlir::DialectRegistry registry;
  registerXFCDialects(registry);
  registerXFCPassesAndPipelines();
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      buildModelModule(context, spec, shapes);
  ModuleInfo info;
  info.modelName = spec.name;
  info.shapes = shapes;
  CompileRequest request;
  request.outputDir = outputDir;
  request.force = force;
  CompileReport report;
  WeightStore noWeights;
  return compileModule(*module, noWeights, info, request, report, error);
}

TEST(ArtifactWrite, FailedCompileLeavesNothingBehind) {
  ScratchDir dir("artifact_write_failed");
  std::string error;
  EXPECT_FALSE(compileWithoutWeights(dir.path() + "/out", false, error));
  EXPECT_NE(error.find("is missing from the weight store"), std::string::npos)
      << error;
  EXPECT_EQ(listFolder(dir.path()), std::set<std::string>{});
}

TEST(ArtifactWrite, FailedForcedCompileKeepsTheExistingOutput) {
  ScratchDir dir("artifact_write_forced");
  std::string out = dir.path() + "/out";
  std::filesystem::create_directories(out);
  std::ofstream(out + "/marker.txt") << "precious\n";
  std::string error;
  EXPECT_FALSE(compileWithoutWeights(out, true, error));
  EXPECT_NE(error.find("is missing from the weight store"), std::string::npos)
      << error;
  EXPECT_EQ(listFolder(dir.path()), std::set<std::string>{"out"});
  EXPECT_EQ(listFolder(out), std::set<std::string>{"marker.txt"});
}

TEST(ArtifactWrite, ExistingOutputIsNotReplacedWithoutForce) {
  ScratchDir dir("artifact_write_exists");
  std::string out = dir.path() + "/out";
  std::filesystem::create_directories(out);
  std::ofstream(out + "/marker.txt") << "precious\n";
  std::string error;
  EXPECT_FALSE(compileWithoutWeights(out, false, error));
  EXPECT_NE(error.find("already exists; pass --force to replace it"),
            std::string::npos)
      << error;
  EXPECT_EQ(listFolder(out), std::set<std::string>{"marker.txt"});
}

} // namespace
} // namespace xfc::test
