//===- SpecParser.h - JSON model spec to ModelSpec ---------------*- C++
//-*-===//
//
// Part of xfc. Parses and validates a JSON model spec (docs/spec.md). Every
// failure is reported as one SpecError naming the JSON path, what was
// expected and what was found; the parser never throws out of these
// functions and never aborts.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_FRONTEND_SPECPARSER_H
#define XFC_FRONTEND_SPECPARSER_H

#include "xfc/Frontend/ModelSpec.h"

#include <string>

namespace xfc {

/// Why a spec was rejected.
struct SpecError {
  std::string path; ///< JSON path, e.g. "$.bias.ffn_hidden"; "$" for the root.
  std::string expected; ///< e.g. "an integer in [1, 1048576]".
  std::string found;    ///< e.g. "-3", "a string", "nothing (missing)".
  /// "FILE: at $.d_model: expected ..., found ..." (file omitted if empty).
  std::string message(const std::string &file = "") const;
};

/// Parses `jsonText`. `specDir` resolves relative weight paths. Returns false
/// and fills `error` on any problem, including JSON syntax errors (path "$",
/// with the line and column in `found`).
bool parseModelSpec(const std::string &jsonText, const std::string &specDir,
                    ModelSpec &out, SpecError &error);

/// Reads and parses the file `path` (an unreadable file is a SpecError with
/// path "$").
bool parseModelSpecFile(const std::string &path, ModelSpec &out,
                        SpecError &error);

/// Replaces the spec's attention patterns by `text` for every layer
/// (`xfc compile --attention`): the pattern must parse, split the heads
/// evenly and, in a decoder, never let a query see a later key. `error.path`
/// is "--attention".
bool overrideAttentionPattern(ModelSpec &spec, const std::string &text,
                              SpecError &error);

/// Checks that the generation steps (docs/generation.md) can be compiled for
/// the spec: a decoder with dense causal self-attention, learned or no
/// positions, a cache capacity within [1, max_seq_len] and a prompt length
/// (`seqLen`) of at most the capacity. `error.path` names the option.
bool validateGenerateOptions(const ModelSpec &spec, const ShapeOptions &shapes,
                             SpecError &error);

/// Checks the shape options against the spec (positive batch, sequence
/// lengths within [1, max_seq_len], attention patterns that fit the
/// sequence: global positions inside it, block layouts of its size, ...).
/// `error.path` names the option, e.g. "--seq-len".
bool validateShapeOptions(const ModelSpec &spec, const ShapeOptions &shapes,
                          SpecError &error);

} // namespace xfc

#endif // XFC_FRONTEND_SPECPARSER_H
