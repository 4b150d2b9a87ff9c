//===- HoistStaticAllocas.cpp - Stack buffers out of loops ------*- C++ -*-===//
//
// Part of xfc. Implements xf-hoist-static-allocas (see Passes.td).
//
//===----------------------------------------------------------------------===//
#include "xf/Codegen/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Operation.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFHOISTSTATICALLOCAS
#include "xf/Codegen/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;

namespace {

/// The region a hoisted alloca goes to: the nearest ancestor that frees
/// its stack on exit (an automatic allocation scope), skipping
/// memref.alloca_scope, which exists precisely to scope per-iteration
/// allocas. Null if the alloca is already directly in that region: any op
/// in between (scf.for, omp.loop_nest, scf.if) may run its body repeatedly.
Region *hoistTarget(Operation *op) {
  for (Operation *parent = op->getParentOp(); parent;
       parent = parent->getParentOp()) {
    if (parent->hasTrait<OpTrait::AutomaticAllocationScope>() &&
        !isa<memref::AllocaScopeOp>(parent))
      return parent == op->getParentOp() ? nullptr : &parent->getRegion(0);
  }
  return nullptr;
}

struct XFHoistStaticAllocasPass
    : public xf::impl::XFHoistStaticAllocasBase<XFHoistStaticAllocasPass> {
  void runOnOperation() override {
    SmallVector<std::pair<memref::AllocaOp, Region *>> moves;
    getOperation()->walk([&](memref::AllocaOp alloca) {
      // Only fixed sizes: a dynamic size may depend on the iteration.
      if (!alloca.getType().hasStaticShape() ||
          !alloca.getDynamicSizes().empty() ||
          !alloca.getSymbolOperands().empty())
        return;
      if (Region *target = hoistTarget(alloca))
        moves.push_back({alloca, target});
    });
    for (auto [alloca, target] : moves)
      alloca->moveBefore(&target->front(), target->front().begin());
  }
};

} // namespace
