//===- ModelBuilder.h - ModelSpec to xf IR ----------------------*- C++ -*-===//
//
// Part of xfc. Builds the `xf` IR of a validated ModelSpec: one function,
// `@xf_model`, taking the model inputs then every weight (listWeights order)
// and returning the model output. Weights are function arguments, never IR
// constants, so compile time does not grow with the weight bytes. Arguments
// carry `xf.input` / `xf.weight` names and results `xf.output`, which the
// artifact writer turns into the manifest.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_FRONTEND_MODELBUILDER_H
#define XFC_FRONTEND_MODELBUILDER_H

#include "xfc/Frontend/ModelSpec.h"

#include "mlir/IR/OwningOpRef.h"

namespace mlir {
class MLIRContext;
class ModuleOp;
} // namespace mlir

namespace xfc {

/// The name of the function the frontend builds and the pipeline compiles.
inline constexpr const char *kModelFunctionName = "xf_model";

/// Argument/result attribute names linking IR values to artifact tensors.
inline constexpr const char *kInputAttrName = "xf.input";
inline constexpr const char *kWeightAttrName = "xf.weight";
inline constexpr const char *kWeightTransformAttrName = "xf.weight_transform";
/// On a weight argument derived by a pass: the names of the tensors it
/// concatenates along dimension 0 (an array of strings).
inline constexpr const char *kWeightConcatAttrName = "xf.weight_concat";
inline constexpr const char *kOutputAttrName = "xf.output";
/// On the module of a Transformer-XL model: the segment memory the runtime
/// keeps between runs (docs/transformer-xl.md), a dictionary with
/// `memory_length` (M), `length_input` (the input name of the filled
/// count) and `inputs`/`outputs` (each layer's memory and next memory).
inline constexpr const char *kSegmentMemoryAttrName = "xf.segment_memory";

/// Builds the module for `spec` at the static `shapes`. Both must have been
/// validated (parseModelSpec, validateShapeOptions). The context must have
/// the xf, func and tensor dialects loaded (loadXFCDialects does it).
mlir::OwningOpRef<mlir::ModuleOp> buildModelModule(mlir::MLIRContext &context,
                                                   const ModelSpec &spec,
                                                   const ShapeOptions &shapes);

} // namespace xfc

#endif // XFC_FRONTEND_MODELBUILDER_H
