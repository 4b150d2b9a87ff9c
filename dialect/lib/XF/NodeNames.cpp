//===- NodeNames.cpp - Spec node names carried by locations -----*- C++ -*-===//
//
// Part of xfc. See NodeNames.h.
//
//===----------------------------------------------------------------------===//
#include "xf/Dialect/XF/NodeNames.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;

namespace mlir::xf {

Location nodeLoc(MLIRContext *context, StringRef name) {
  return NameLoc::get(StringAttr::get(context, name));
}

Location childNodeLoc(Location parent, StringRef part) {
  // Parts of an unnamed op stay unnamed: a bare "q" would collide across
  // layers, and names must identify nodes.
  SmallVector<StringRef> names = nodeNames(parent);
  if (names.size() != 1)
    return parent;
  return nodeLoc(parent->getContext(), (names.front() + "." + part).str());
}

Location fusedNodeLoc(MLIRContext *context, ArrayRef<Location> locs) {
  return FusedLoc::get(context, locs);
}

static void collectNames(Location loc, SmallVectorImpl<StringRef> &names) {
  if (auto name = dyn_cast<NameLoc>(loc)) {
    StringRef value = name.getName().getValue();
    if (!value.starts_with(kKernelTagPrefix)) {
      if (!llvm::is_contained(names, value))
        names.push_back(value);
      return;
    }
    collectNames(name.getChildLoc(), names);
    return;
  }
  if (auto fused = dyn_cast<FusedLoc>(loc)) {
    for (Location inner : fused.getLocations())
      collectNames(inner, names);
    return;
  }
  if (auto callSite = dyn_cast<CallSiteLoc>(loc))
    collectNames(callSite.getCallee(), names);
}

SmallVector<StringRef> nodeNames(Location loc) {
  SmallVector<StringRef> names;
  collectNames(loc, names);
  return names;
}

Location kernelTaggedLoc(Location loc, int64_t id) {
  std::string tag = (kKernelTagPrefix + Twine(id)).str();
  return NameLoc::get(StringAttr::get(loc->getContext(), tag), loc);
}

std::optional<int64_t> kernelTag(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc)) {
    StringRef value = name.getName().getValue();
    int64_t id;
    if (value.consume_front(kKernelTagPrefix) && !value.getAsInteger(10, id))
      return id;
    return kernelTag(name.getChildLoc());
  }
  // A fused location (canonicalization merging ops of one kernel) keeps
  // the tag of its first tagged part.
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (std::optional<int64_t> id = kernelTag(inner))
        return id;
  return std::nullopt;
}

std::string groupDisplayName(ArrayRef<StringRef> names) {
  if (names.empty())
    return "";
  if (names.size() == 1)
    return names.front().str();
  // Common prefix in whole dotted components.
  SmallVector<SmallVector<StringRef>> parts;
  for (StringRef name : names) {
    parts.emplace_back();
    name.split(parts.back(), '.');
  }
  size_t common = 0;
  while (llvm::all_of(parts, [&](auto &p) {
    return common + 1 < p.size() && p[common] == parts.front()[common];
  }))
    ++common;
  std::string display =
      llvm::join(ArrayRef<StringRef>(parts.front()).take_front(common), ".");
  if (!display.empty())
    display += ".";
  SmallVector<std::string> rests;
  for (auto &p : parts)
    rests.push_back(llvm::join(ArrayRef<StringRef>(p).drop_front(common), "."));
  return display + llvm::join(rests, "+");
}

std::string symbolFragment(StringRef name) {
  std::string out;
  for (char c : name)
    out += llvm::isAlnum(c) || c == '_' ? c : '_';
  return out;
}

} // namespace mlir::xf
