//===- FuzzSpec.cpp - Fuzz target: JSON spec to verified xf IR ------------===//
//
// Part of xfc. Drives the frontend the way `xfc compile` does up to the
// first IR check: parseModelSpec on the input text, validateShapeOptions,
// buildModelModule, mlir::verify. The contract checked:
//   - a rejected spec comes with a complete SpecError (path, expected,
//     found), never a crash or an exception;
//   - an accepted spec builds a module that verifies, whose @xf_model takes
//     listInputs() then listWeights() and returns listOutputs(): the parser
//     must reject whatever the builder cannot express.
// The sequence length is the spec's own max_seq_len, so the extreme sizes
// the parser admits reach the builder and the op verifiers.
//
// Weights are not loaded (a spec's safetensors path names a file on disk,
// and random weights of an admitted size may need gigabytes); FuzzWeights.cpp
// covers the weights reader.
//
//===----------------------------------------------------------------------===//
#include "FuzzTarget.h"
#ifdef XFC_LIBFUZZER
#include "JsonMutator.h"
#endif

#include "xf/Dialect/XF/XFDialect.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Frontend/ModelSpec.h"
#include "xfc/Frontend/SpecParser.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <string>

namespace {

constexpr const char *kTarget = "fuzz_spec";

/// Not a real folder: a relative weights path resolves against it, and
/// nothing here opens the result.
constexpr const char *kSpecDir = "/nonexistent/xfc-fuzz-spec";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using xfc::fuzz::check;
  using xfc::fuzz::fail;
  const std::string text(reinterpret_cast<const char *>(data), size);

  xfc::ModelSpec spec;
  xfc::SpecError error;
  if (!xfc::parseModelSpec(text, kSpecDir, spec, error)) {
    xfc::fuzz::note(kTarget, "rejected: " + error.message());
    check(!error.path.empty() && !error.expected.empty() &&
              !error.found.empty(),
          kTarget, "incomplete SpecError: " + error.message());
    return 0;
  }

  xfc::ShapeOptions shapes;
  shapes.batch = 1;
  shapes.seqLen = spec.maxSeqLen;
  shapes.tgtLen =
      spec.kind == xfc::ModelKind::EncoderDecoder ? spec.maxSeqLen : 0;
  if (!xfc::validateShapeOptions(spec, shapes, error))
    fail(kTarget,
         "the shapes max_seq_len admits are refused: " + error.message());

  // A context per input: nothing uniqued for one input can change how the
  // next one behaves, so every finding reproduces from its file alone.
  // Threading is off because the verifier would otherwise spawn workers.
  mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
  context.loadDialect<mlir::xf::XFDialect, mlir::func::FuncDialect,
                      mlir::tensor::TensorDialect,
                      mlir::bufferization::BufferizationDialect>();
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(
      &context, [&diagnostics](mlir::Diagnostic &diag) {
        llvm::raw_string_ostream os(diagnostics);
        os << diag << "\n";
        return mlir::success();
      });

  mlir::OwningOpRef<mlir::ModuleOp> module =
      xfc::buildModelModule(context, spec, shapes);
  check(static_cast<bool>(module), kTarget,
        "buildModelModule returned no module for an accepted spec");
  if (mlir::failed(mlir::verify(*module)))
    fail(kTarget,
         "an accepted spec builds IR that does not verify:\n" + diagnostics);

  auto function =
      module->lookupSymbol<mlir::func::FuncOp>(xfc::kModelFunctionName);
  check(static_cast<bool>(function), kTarget, "no @xf_model in the module");
  const size_t numInputs = xfc::listInputs(spec, shapes).size();
  const size_t numWeights = xfc::listWeights(spec).size();
  const size_t numOutputs = xfc::listOutputs(spec, shapes).size();
  check(function.getNumArguments() == numInputs + numWeights, kTarget,
        "@xf_model takes " + std::to_string(function.getNumArguments()) +
            " arguments, the spec lists " + std::to_string(numInputs) +
            " inputs and " + std::to_string(numWeights) + " weights");
  check(function.getNumResults() == numOutputs, kTarget,
        "@xf_model returns " + std::to_string(function.getNumResults()) +
            " results, the spec lists " + std::to_string(numOutputs) +
            " outputs");
  xfc::fuzz::note(kTarget, "built and verified");
  return 0;
}

#ifdef XFC_LIBFUZZER
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned seed) {
  return xfc::fuzz::mutateInput(data, size, maxSize, seed,
                                xfc::fuzz::InputFormat::Json);
}
#endif
