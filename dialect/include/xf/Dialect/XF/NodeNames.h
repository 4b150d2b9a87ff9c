//===- NodeNames.h - Spec node names carried by locations -------*- C++ -*-===//
//
// Part of xfc. Every op the frontend creates is located at a NameLoc named
// after its spec node ("encoder.layers.0.self_attn"); decomposition names
// the parts ("...self_attn.q") and fusion fuses the locations of what it
// combines. Locations are the one piece of provenance every MLIR rewrite
// carries along, so any op at any stage can say which spec nodes it
// computes: diagnostics, --explain, the fusion plan and the kernel symbols
// all read it from here.
//
//===----------------------------------------------------------------------===//
#ifndef XF_DIALECT_XF_NODENAMES_H
#define XF_DIALECT_XF_NODENAMES_H

#include "mlir/IR/Location.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace mlir::xf {

/// Names starting with this prefix tag a location with its kernel
/// ("xf.kernel.12"); they are not spec nodes.
inline constexpr llvm::StringLiteral kKernelTagPrefix = "xf.kernel.";

/// The location of spec node `name`.
Location nodeLoc(MLIRContext *context, llvm::StringRef name);

/// The location of part `part` of the node at `parent`: "p" -> "p.part".
/// Unless `parent` names exactly one node, `parent` itself.
Location childNodeLoc(Location parent, llvm::StringRef part);

/// One location covering all of `locs` (their spec nodes, in order).
Location fusedNodeLoc(MLIRContext *context, llvm::ArrayRef<Location> locs);

/// The spec nodes `loc` names, in order, without duplicates. Kernel tags
/// are looked through.
llvm::SmallVector<llvm::StringRef> nodeNames(Location loc);

/// `loc` tagged as part of kernel `id`.
Location kernelTaggedLoc(Location loc, int64_t id);

/// The kernel id `loc` is tagged with, if any (the outermost tag).
std::optional<int64_t> kernelTag(Location loc);

/// A short display name for a group of nodes: the common dotted prefix
/// followed by the differing parts joined with '+' ("l0.ffn.fc1",
/// "l0.ffn.act" -> "l0.ffn.fc1+act").
std::string groupDisplayName(llvm::ArrayRef<llvm::StringRef> names);

/// `name` as a C identifier fragment: every character outside
/// [A-Za-z0-9_] becomes '_'.
std::string symbolFragment(llvm::StringRef name);

} // namespace mlir::xf

#endif // XF_DIALECT_XF_NODENAMES_H
