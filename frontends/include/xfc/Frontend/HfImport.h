//===- HfImport.h - Hugging Face checkpoints to xfc specs -------*- C++ -*-===//
//
// Part of xfc. Reads a Hugging Face model folder (config.json plus
// model.safetensors) of the BERT or GPT-2 family and turns it into an xfc
// model spec (docs/spec.md) and the weights under xfc's names and layouts.
// docs/hf-import.md lists what is read, the name mapping, and which config
// fields are refused or ignored. A sentence-transformers folder's Pooling
// and Normalize modules give the spec's pooling; a BERT folder's vocab.txt
// and tokenizer config give the text tokenizer (WordPiece.h). No pickle is
// ever read: a folder with only pytorch_model.bin is refused with the
// command that converts it.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_FRONTEND_HFIMPORT_H
#define XFC_FRONTEND_HFIMPORT_H

#include "xfc/Frontend/ModelSpec.h"
#include "xfc/Frontend/Weights.h"
#include "xfc/Frontend/WordPiece.h"

#include <string>
#include <vector>

namespace xfc {

/// An imported checkpoint: the spec (as JSON text and validated), and every
/// weight listWeights(spec) names, as float32 in the spec's layout.
struct HfImport {
  /// The spec as `xfc import-hf` writes it; its weights are
  /// `{"source": "safetensors", "path": <weightsFileName>}`.
  std::string specJson;
  /// specJson parsed by parseModelSpec (so it is exactly what `xfc compile`
  /// of the written spec would see).
  ModelSpec spec;
  WeightStore weights;
  /// The tokenizer of a BERT folder with vocab.txt (xfc run --text).
  bool hasTokenizer = false;
  HfTokenizer tokenizer;
  /// Things the user should know that are not errors (e.g. config fields
  /// that were ignored).
  std::vector<std::string> notes;
};

/// True if `path` is a folder holding a config.json (a checkpoint folder to
/// import rather than a spec file).
bool isHfCheckpointDir(const std::string &path);

/// The weights file written beside `specPath`: "X.json" gives
/// "X.weights.safetensors" (any other name gets ".weights.safetensors"
/// appended).
std::string hfWeightsPathFor(const std::string &specPath);

/// Imports the checkpoint folder `dir`. The spec is named `name` (the
/// folder's name when empty) and refers to its weights as
/// `weightsFileName` (relative to the spec; when empty,
/// "<name>.weights.safetensors"). Returns false with a message
/// naming the file, the JSON path or tensor, what was expected and what was
/// found.
bool importHfCheckpoint(const std::string &dir, const std::string &name,
                        const std::string &weightsFileName, HfImport &out,
                        std::string &error);

/// Writes `imported` as the spec `specPath` and the weights file
/// hfWeightsPathFor(specPath), each atomically (whole or not at all); the
/// written spec's weights path is that file's name.
/// Neither may exist unless `force`; on failure nothing new is left behind.
bool writeHfImport(const HfImport &imported, const std::string &specPath,
                   bool force, std::string &error);

} // namespace xfc

#endif // XFC_FRONTEND_HFIMPORT_H
