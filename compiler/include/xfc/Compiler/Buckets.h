//===- Buckets.h - Artifacts compiled for several shapes --------*- C++ -*-===//
//
// Part of xfc. `xfc compile --buckets=8,32,128` compiles the model once per
// shape (bucket) into one artifact: one entry point per bucket in the same
// shared library, the weights stored once, the arena sized for the largest
// bucket. The runtime runs an input of any length up to the largest bucket
// in the smallest bucket that holds it, padded (docs/artifact.md,
// "buckets").
//
//===----------------------------------------------------------------------===//
#ifndef XFC_COMPILER_BUCKETS_H
#define XFC_COMPILER_BUCKETS_H

#include "xfc/Compiler/Artifact.h"
#include "xfc/Frontend/ModelSpec.h"
#include "xfc/Frontend/Weights.h"

#include <string>
#include <vector>

namespace xfc {

struct CompileRequest;
struct CompileReport;

/// Parses the value of `--buckets`: a comma-separated list of `S`, `BxS`
/// or `BxSxT` (batch, sequence length, target length of an
/// encoder_decoder); `S` alone takes `defaultBatch` and T = S. False with
/// `error` (what was expected, what was found) on malformed text, a size
/// below 1 or a bucket given twice.
bool parseBucketList(const std::string &text, int64_t defaultBatch,
                     std::vector<ShapeOptions> &out, std::string &error);

/// The bucket's name in symbols and messages: "BxS", or "BxSxT" for an
/// encoder_decoder.
std::string bucketName(const ShapeOptions &shapes, bool withTarget);

/// Checks that `spec` can be bucketed, i.e. that padding its inputs to a
/// longer bucket never changes the outputs of the valid positions, and that
/// every bucket is a valid shape for it. False with `error` naming what to
/// change otherwise.
bool checkBucketable(const ModelSpec &spec,
                     const std::vector<ShapeOptions> &buckets,
                     std::string &error);

/// Compiles `spec` with `weights` for every bucket of `request.buckets` into
/// `request.outputDir` (same guarantees as compileModel: nothing is left
/// behind on failure). `specJson` is recorded in the manifest.
bool compileBucketedModel(const ModelSpec &spec, const WeightStore &weights,
                          const std::string &specJson,
                          const CompileRequest &request, CompileReport &report,
                          std::string &error);

/// The "buckets" section of --explain.
std::string describeBuckets(const std::vector<ArtifactBucket> &buckets);

} // namespace xfc

#endif // XFC_COMPILER_BUCKETS_H
