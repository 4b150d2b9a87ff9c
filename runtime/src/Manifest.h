//===- Manifest.h - The artifact's manifest.json ----------------*- C++ -*-===//
//
// Part of xfc. The in-memory form of an artifact's manifest.json
// (docs/artifact.md) and its parser. The parser checks everything the
// runtime later relies on without re-checking: field types, known dtypes,
// shapes whose byte sizes fit in 64 bits, plain file names, unique tensor
// names, value ranges only on integer inputs.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_RUNTIME_MANIFEST_H
#define XFC_RUNTIME_MANIFEST_H

#include "xfc/runtime.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xfc {

/// The manifest format version this runtime reads.
/// 2: the entry point takes the arena as its last argument (memory_plan).
/// 3: the kernels section; the entry point takes the profile buffer after
///    the arena.
/// 4: checksums of the weights file (its size, its header, every tensor,
///    the whole file).
/// 5: the optional segment_memory section (Transformer-XL). The compiler
///    writes 5 only for a model with segment memory, so every other
///    artifact stays readable by format-4 runtimes.
/// 6: the optional buckets section and the tensors' dims (one entry point
///    per shape, `xfc compile --buckets`); written only for such artifacts.
inline constexpr int64_t kManifestFormatVersion = 7;
/// The oldest format this runtime still reads (5 without segment_memory
/// is exactly 4).
inline constexpr int64_t kOldestManifestFormatVersion = 4;

/// An input or output of the entry point.
struct ManifestTensor {
  std::string name;
  xfc_dtype dtype = XFC_DTYPE_F32;
  std::vector<int64_t> shape;
  /// Bytes of the dense tensor (element count × element size).
  uint64_t sizeBytes = 0;
  /// Inclusive bounds on every element (integer inputs only).
  std::optional<int64_t> min, max;
  /// Bucketed artifacts: what each dimension is (`dims`), and for a
  /// lengths input the dimension whose valid length it holds
  /// (`lengths_of`). Empty / XFC_DIM_FIXED otherwise.
  std::vector<xfc_dim> dims;
  xfc_dim lengthsOf = XFC_DIM_FIXED;
};

/// One shape of a bucketed artifact (`buckets`, format 6).
struct ManifestBucket {
  int64_t batch = 0, seqLen = 0, tgtLen = 0;
  std::string entrySymbol, signatureSymbol;
  uint64_t arenaBytes = 0;
};

/// A weight: where it lies in the weights file and how it was derived.
struct ManifestWeight {
  std::string name;
  xfc_dtype dtype = XFC_DTYPE_F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0; ///< From the start of the weights file.
  uint64_t sizeBytes = 0;
  std::vector<int64_t> sourceShape; ///< Empty when absent.
  std::string transform;            ///< "none" (default) or "transpose".
  uint64_t checksum = 0; ///< FNV-1a 64 of its bytes (checked by verify).
};

/// A kernel of the compiled model: one function of the library, one slot
/// pair of the profile buffer.
struct ManifestKernel {
  std::string name;   ///< Display name ("encoder.layers.0.self_attn.q+k+v").
  std::string symbol; ///< Its function in the library (a C identifier).
  std::string kind;   ///< E.g. "linear+gelu", "attention(fused)".
  std::vector<std::string> nodes; ///< The spec nodes it computes.
  uint64_t flops = 0, bytes = 0;  ///< Per run.
};

/// Transformer-XL's segment memory (`segment_memory`, format 5): entry
/// point tensors the run context owns instead of the caller. In the entry
/// point's argument order they follow the caller's inputs (the filled count,
/// then each layer's memory) and the caller's outputs (each layer's next
/// memory).
struct ManifestSegmentMemory {
  int64_t memoryLength = 0;  ///< M, positions kept per layer.
  int64_t segmentLength = 0; ///< L, positions a run adds.
  /// The i32 [B] input with the count of filled positions.
  ManifestTensor lengthInput;
  /// Per layer: the f32 [B, M, D] memory input and next-memory output.
  std::vector<ManifestTensor> inputs, outputs;
};

/// The compilation target recorded by the compiler.
struct ManifestTarget {
  std::string triple, cpu, tuneCpu;
  std::vector<std::string> features;
};

/// The device code of a GPU artifact (the "gpu" object, format 7): it is
/// inside the library; these are its expected sizes and kernels.
struct ManifestGpu {
  std::string chip;   ///< "sm_80", "sm_90" or "sm_90a"; empty: a CPU model.
  int ptxVersion = 0; ///< The PTX ISA version times ten ("7.8" is 78).
  uint64_t ptxBytes = 0, cubinBytes = 0;
  std::vector<std::string> kernels; ///< By the host code's launch index.
};

/// A validated manifest.json.
struct Manifest {
  int64_t formatVersion = 0;
  std::string modelName;
  std::string library; ///< A plain file name inside the artifact folder.
  uint64_t librarySizeBytes = 0; ///< Checked, with the checksum, before
  uint64_t libraryChecksum = 0;  ///< the library is loaded (FNV-1a 64).
  std::string entrySymbol;
  std::string weightsFile; ///< A plain file name inside the artifact folder.
  /// The weights file's size and the FNV-1a 64 of its header (the first
  /// 8 + header-length bytes), checked at open; of the whole file, checked
  /// by xfc_model_verify.
  uint64_t weightsSizeBytes = 0;
  uint64_t weightsHeaderChecksum = 0;
  uint64_t weightsChecksum = 0;
  ManifestTarget target;
  /// The caller's inputs and outputs (segment memory tensors excluded).
  std::vector<ManifestTensor> inputs, outputs;
  /// Present when segmentMemory.memoryLength > 0.
  ManifestSegmentMemory segmentMemory;
  std::vector<ManifestWeight> weights;
  /// Bytes of the scratch arena the entry point takes after the outputs
  /// (memory_plan.arena_bytes).
  uint64_t arenaBytes = 0;
  /// The kernels, indexed by id (`kernels`).
  std::vector<ManifestKernel> kernels;
  /// The buckets, smallest first; the last one's shapes are `inputs` and
  /// `outputs`, its entry point `entrySymbol`. Empty: one shape.
  std::vector<ManifestBucket> buckets;
  /// Set for a model compiled for a GPU (--target=cuda).
  ManifestGpu gpu;
  /// compile_options' batch, seq_len and tgt_len (0 when absent).
  int64_t compiledBatch = 0, compiledSeqLen = 0, compiledTgtLen = 0;

  /// Entry point inputs: the caller's, then the segment memory's.
  size_t numEntryInputs() const {
    return inputs.size() + (segmentMemory.memoryLength > 0
                                ? 1 + segmentMemory.inputs.size()
                                : 0);
  }
  /// Entry point outputs: the caller's, then the next memories.
  size_t numEntryOutputs() const {
    return outputs.size() + segmentMemory.outputs.size();
  }
};

/// Parses and validates the text of manifest.json. On failure returns false,
/// sets `code` (XFC_INVALID_ARTIFACT, or XFC_UNSUPPORTED for another format
/// version) and `error` to a message such as
///   manifest.json: at $.weights[3].shape: expected a list of non-negative
///   integers, found "abc"
bool parseManifest(const std::string &text, Manifest &out,
                   xfc_status_code &code, std::string &error);

/// The size of a `dims` entry at `shape` (the fixed size `fixed` for
/// XFC_DIM_FIXED).
int64_t dimSize(xfc_dim dim, int64_t fixed, const xfc_run_shape &shape);

/// `tensor`'s shape at `shape` (its own shape without dims).
std::vector<int64_t> shapeAt(const ManifestTensor &tensor,
                             const xfc_run_shape &shape);

/// The manifest's name of `dtype` ("f32", "i32").
const char *manifestDtypeName(xfc_dtype dtype);

} // namespace xfc

#endif // XFC_RUNTIME_MANIFEST_H
