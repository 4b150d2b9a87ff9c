//===- HoistStaticAllocas.cpp - Stack buffers out of loops ------*- C++ -*-===//
//
// Part of xfc. Implements xf-hoist-static-allocas (see Passes.td).
//
//===----------------------------------------------------------------------===//
#include "xf/Codegen/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/IR/Operation.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFHOISTSTATICALLOCAS
#include "xf/Codegen/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;

namespace {

/// The region a hoisted alloca goes to: the nearest enclosing function or
/// OpenMP parallel region, the scopes whose stack really is released when
/// they exit. (scf.for and memref.alloca_scope also count as allocation
/// scopes in MLIR, but LLVM has no per-iteration stack: an alloca left in a
/// loop body grows the stack on every iteration.) Null if the alloca is
/// already directly in that region.
Region *hoistTarget(Operation *op) {
  for (Operation *parent = op->getParentOp(); parent;
       parent = parent->getParentOp()) {
    if (isa<FunctionOpInterface, omp::ParallelOp>(parent))
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
