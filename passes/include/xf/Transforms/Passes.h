//===- Passes.h - Transformations of the xf dialect -------------*- C++ -*-===//
//
// Part of xfc. Declares the `xf` transformation passes (Passes.td).
//
//===----------------------------------------------------------------------===//
#ifndef XF_TRANSFORMS_PASSES_H
#define XF_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <vector>

namespace mlir {
namespace func {
class FuncOp;
} // namespace func
namespace xf {

#define GEN_PASS_DECL
#include "xf/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "xf/Transforms/Passes.h.inc"

class AttentionOp;

/// The attribute xf-fuse-attention puts on an `xf.attention` op to have it
/// lowered as the fused kernel (a dictionary: kind, block_q, block_k, and
/// informational block counts).
constexpr llvm::StringLiteral kAttentionKernelAttrName = "xf.attention_kernel";

/// The module attribute xf-form-kernels writes: one dictionary per kernel
/// (id, name, symbol, kind, nodes, flops, bytes), indexed by kernel id.
constexpr llvm::StringLiteral kKernelsAttrName = "xf.kernels";

/// The argument attribute xf-outline-kernels{profile} puts on the model
/// function's profile buffer (its last argument).
constexpr llvm::StringLiteral kProfileArgAttrName = "xf.profile";

/// The kernel choice of one `xf.attention` op.
struct AttentionKernelConfig {
  /// Query rows and keys per tile, 1 <= blockQ <= Sq, 1 <= blockK <= Sk.
  int64_t blockQ = 0, blockK = 0;
  /// Read the visited blocks from the block map's table at run time even
  /// where the pattern has a closed form (`driver = "table"`).
  bool tableDriven = false;
  /// Per head group of the op's pattern: compute its gathered part per
  /// residue class (`gather`, xf/Analysis/AttentionGather.h). Empty: no
  /// group is gathered.
  std::vector<bool> gather;
};

/// The fused-kernel choice on `op`: std::nullopt when the op has no
/// kAttentionKernelAttrName (lower it unfused); failure, with an error on
/// the op, when the attribute is malformed.
FailureOr<std::optional<AttentionKernelConfig>>
getAttentionKernel(AttentionOp op);

} // namespace xf
} // namespace mlir

#endif // XF_TRANSFORMS_PASSES_H
