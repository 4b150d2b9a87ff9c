//===- Artifact.h - Writing the artifact folder -----------------*- C++ -*-===//
//
// Part of xfc. The artifact's interface (inputs, weights with their stored
// layout, outputs) is read off the model function after the xf-level stage,
// when weight layouts are decided and argument names are still attached.
// The writer then stores the weights in that layout and writes the manifest
// (docs/artifact.md).
//
//===----------------------------------------------------------------------===//
#ifndef XFC_COMPILER_ARTIFACT_H
#define XFC_COMPILER_ARTIFACT_H

#include "xfc/Compiler/Codegen.h"
#include "xfc/Frontend/ModelSpec.h"
#include "xfc/Frontend/Weights.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace xfc {

/// One weight as the artifact stores it.
struct ArtifactWeight {
  std::string name;
  std::vector<int64_t> shape;         ///< Stored shape.
  std::vector<int64_t> sourceShape;   ///< Shape in the spec's layout.
  std::string transform = "none";     ///< "none" or "transpose".
  /// "f32", or "f16"/"bf16": stored rounded to that type (to nearest, ties
  /// to even), for the tensor-core GEMMs of a GPU model (--dtype).
  std::string dtype = "f32";
  uint64_t offset = 0, sizeBytes = 0; ///< Filled by writeArtifactWeights.
  uint64_t checksum = 0;              ///< FNV-1a 64 of its bytes; ditto.
  /// A derived weight (QKV fusion): the spec's tensors it concatenates
  /// along dimension 0, in order, before the transform; empty otherwise.
  /// `sourceShape` is then the shape of the concatenation.
  std::vector<std::string> concat;
};

/// The calling interface of the compiled model function.
/// Transformer-XL's segment memory (the module's xf.segment_memory): the
/// entry point tensors the run context owns (docs/artifact.md,
/// "segment_memory").
struct ArtifactSegmentMemory {
  int64_t memoryLength = 0; ///< 0: the model has none.
  std::string lengthInput;
  std::vector<std::string> inputs, outputs;
};

struct ArtifactInterface {
  ArtifactSegmentMemory segmentMemory;
  std::vector<TensorDecl> inputs;
  std::vector<ArtifactWeight> weights;
  std::vector<TensorDecl> outputs;
  /// The weights file as written (writeArtifactWeights): its size and the
  /// FNV-1a 64 of its header (the first 8 + header-length bytes) and of all
  /// of it, recorded in the manifest (docs/artifact.md).
  uint64_t weightsFileBytes = 0;
  uint64_t weightsHeaderChecksum = 0;
  uint64_t weightsFileChecksum = 0;
};

/// Reads the interface of `@xf_model` in `module` (after xf-weight-layout):
/// argument order, shapes and `xf.*` names. `inputDecls` supplies the value
/// ranges of integer inputs. False with `error` if an argument is unnamed.
bool collectArtifactInterface(mlir::ModuleOp module,
                              const std::vector<TensorDecl> &inputDecls,
                              ArtifactInterface &out, std::string &error);

/// Writes every weight of `interface` (in its stored layout, transposing
/// where the interface says so) to a safetensors file at `path`, and fills
/// in each weight's offset and size.
bool writeArtifactWeights(const std::string &path, const WeightStore &weights,
                          ArtifactInterface &interface, std::string &error);

/// One kernel of the compiled model (the `xf.kernels` record of
/// xf-form-kernels): what `xfc run --profile` reports time against.
struct ArtifactKernel {
  int64_t id = 0;
  std::string name, symbol, kind;
  std::vector<std::string> nodes;
  int64_t flops = 0, bytes = 0;
};

/// Reads the module's `xf.kernels` attribute into `out` (empty when the
/// module has none); false with `error` when a record is malformed.
bool collectArtifactKernels(mlir::ModuleOp module,
                            std::vector<ArtifactKernel> &out,
                            std::string &error);

/// One shape of an artifact compiled for several (`xfc compile --buckets`,
/// docs/artifact.md "buckets"): its own entry point and signature in the
/// shared library, and the arena it needs.
struct ArtifactBucket {
  ShapeOptions shapes; ///< tgtLen resolved (never 0).
  std::string entrySymbol, signatureSymbol;
  uint64_t arenaBytes = 0;
};

/// What the dimensions of a bucketed artifact's input or output are: per
/// dimension "batch", "seq_len", "tgt_len", or "" for a fixed size.
struct ArtifactTensorDims {
  std::vector<std::string> dims;
  /// A lengths input: the dimension whose valid length it holds per batch
  /// item ("seq_len"); "" for the others.
  std::string lengthsOf;
};

/// The device half of a GPU artifact (the manifest's "gpu" object, format
/// 7): the code is inside the library (docs/gpu.md, "Artifact").
struct ArtifactGpu {
  std::string chip;   ///< "sm_80", "sm_90", "sm_90a"; empty: a CPU artifact.
  int ptxVersion = 0; ///< The PTX ISA version times ten.
  uint64_t ptxBytes = 0, cubinBytes = 0;
  std::vector<std::string> kernels; ///< By launch index.
};
/// Everything the manifest records besides the interface.
struct ManifestInfo {
  std::string modelName;
  std::string libraryFile = "model.so";
  std::string weightsFile = "weights.safetensors";
  std::string entrySymbol = "xfc_entry";
  uint64_t librarySizeBytes = 0; ///< Size and FNV-1a checksum of the
  uint64_t libraryChecksum = 0;  ///< library, verified before dlopen.
  TargetDescription target;
  ShapeOptions shapes;
  std::string pipeline;
  std::string specJson; ///< The spec as given, recorded for provenance.
  /// The memory plan: the arena each run context allocates, and for
  /// reports the naive sum and the lower bound (memory_plan).
  uint64_t arenaBytes = 0, naiveBytes = 0, lowerBoundBytes = 0;
  uint64_t numPlannedBuffers = 0;
  /// The kernels, indexed by id (the `kernels` section).
  std::vector<ArtifactKernel> kernels;
  /// Several shapes (format 6): the buckets, smallest first, and the
  /// dimensions of every input and output (in interface order). Empty for
  /// an artifact of one shape.
  std::vector<ArtifactBucket> buckets;
  std::vector<ArtifactTensorDims> inputDims, outputDims;
  /// The text tokenizer (docs/artifact.md, "tokenizer"): its options as
  /// JSON text, and the vocabulary file written beside the manifest; none
  /// when tokenizerJson is empty.
  std::string tokenizerJson;
  std::string vocabFile = "vocab.txt";
  uint64_t vocabSizeBytes = 0, vocabChecksum = 0;
  /// Set for a GPU artifact.
  ArtifactGpu gpu;
};

/// Writes `text` to `path` (replacing it); false with `error` naming the
/// file if it cannot be written.
bool writeTextFile(const std::string &path, const std::string &text,
                   std::string &error);

/// Writes manifest.json at `path`.
bool writeManifest(const std::string &path, const ManifestInfo &info,
                   const ArtifactInterface &interface, std::string &error);

} // namespace xfc

#endif // XFC_COMPILER_ARTIFACT_H
