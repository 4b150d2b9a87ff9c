//===- PlanMemory.cpp - Intermediate buffers in one arena -------*- C++ -*-===//
//
// Part of xfc. Implements xf-plan-memory: the lifetimes of the model
// function's allocations over its top-level schedule, their placement in
// one arena by the target-neutral planner (xf/Analysis/MemoryPlan.h), and
// the rewrite of every planned alloc into a view of the arena, which the
// function receives as a new trailing argument. After it the generated code
// allocates nothing on the heap: the runtime allocates the arena once per
// run context.
//
// Lifetimes are conservative where the IR does not say more: every memref
// result of an op that uses a buffer is taken to alias it (views, reshapes,
// casts, ops this pass does not know), a buffer yielded out of a region
// aliases the parent's results, and a use anywhere inside a top-level op
// (a loop nest, say) counts for that whole op.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/MemoryPlan.h"
#include "xf/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFPLANMEMORY
#include "xf/Transforms/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;

namespace {

/// The arena base is 64-byte aligned (the runtime allocates it so) and no
/// buffer gets less: a cache line, and the widest vector loads (AVX-512).
constexpr uint64_t kMinAlignment = 64;

/// One planned allocation and what is known about it.
struct Allocation {
  memref::AllocOp alloc;
  int64_t firstUse = 0, lastUse = 0;
  /// Deallocs of the buffer or of its aliases, erased with the alloc.
  SmallVector<Operation *> deallocs;
};

/// The byte size of a statically shaped memref type.
int64_t byteSize(MemRefType type) {
  int64_t bits = type.getElementTypeBitWidth();
  return type.getNumElements() * ((bits + 7) / 8);
}

/// True if `op` is inside an scf.forall or scf.parallel body below `func`.
Operation *parallelAncestor(Operation *op, func::FuncOp func) {
  for (Operation *parent = op->getParentOp(); parent && parent != func;
       parent = parent->getParentOp())
    if (isa<scf::ForallOp, scf::ParallelOp>(parent))
      return parent;
  return nullptr;
}

/// Follows reshapes back to the alloc a value is a whole, offset-free view
/// of, or returns null.
memref::AllocOp reshapeRoot(Value value) {
  while (Operation *def = value.getDefiningOp()) {
    if (auto alloc = dyn_cast<memref::AllocOp>(def))
      return alloc;
    if (auto expand = dyn_cast<memref::ExpandShapeOp>(def))
      value = expand.getSrc();
    else if (auto collapse = dyn_cast<memref::CollapseShapeOp>(def))
      value = collapse.getSrc();
    else
      return nullptr;
  }
  return nullptr;
}

struct XFPlanMemoryPass : public xf::impl::XFPlanMemoryBase<XFPlanMemoryPass> {
  using Base::Base;

  void runOnOperation() override;

private:
  /// Turns the per-thread temporaries into stack allocations.
  LogicalResult lowerThreadTemporaries(func::FuncOp func);
  /// Fills `alloc.firstUse/lastUse/deallocs`.
  LogicalResult computeLifetime(Allocation &allocation);
  /// Marks elementwise ops that may write over their dying input.
  void findInPlacePairs(ArrayRef<Allocation> allocations,
                        std::vector<xfc::PlanBuffer> &buffers);

  Block *body = nullptr;
  DenseMap<Operation *, int64_t> positions;

  /// The top-level op of the model function that contains `op`.
  Operation *topLevel(Operation *op) const {
    while (op && op->getBlock() != body)
      op = op->getParentOp();
    return op;
  }
};

LogicalResult XFPlanMemoryPass::lowerThreadTemporaries(func::FuncOp func) {
  SmallVector<memref::AllocOp> temporaries;
  func.walk([&](memref::AllocOp alloc) {
    if (parallelAncestor(alloc, func))
      temporaries.push_back(alloc);
  });
  for (memref::AllocOp alloc : temporaries) {
    MemRefType type = alloc.getType();
    if (!type.hasStaticShape())
      return alloc.emitError()
             << "xf-plan-memory: a per-thread temporary must have a static "
                "shape, found "
             << type;
    int64_t bytes = byteSize(type);
    if (bytes > maxAllocaBytes)
      return alloc.emitError()
             << "xf-plan-memory: a per-thread temporary of " << bytes
             << " bytes inside an scf.forall/scf.parallel body exceeds the "
                "stack limit of "
             << static_cast<int64_t>(maxAllocaBytes)
             << " bytes (max-alloca-bytes); tile it smaller or move it out "
                "of the parallel loop";
    // At the start of the parallel body, even from inside an inner loop:
    // one buffer per thread and parallel iteration is enough (each inner
    // iteration got a fresh, uninitialized one anyway), and the stack does
    // not grow with the inner trip count. Static sizes mean the alloca
    // depends on nothing defined in between.
    Block &parallelBody = parallelAncestor(alloc, func)->getRegion(0).front();
    OpBuilder builder(&parallelBody, parallelBody.begin());
    auto alloca = memref::AllocaOp::create(builder, alloc.getLoc(), type,
                                           alloc.getAlignmentAttr());
    for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
      if (isa<memref::DeallocOp>(user))
        user->erase();
    alloc.replaceAllUsesWith(alloca.getResult());
    alloc.erase();
  }
  return success();
}

LogicalResult XFPlanMemoryPass::computeLifetime(Allocation &allocation) {
  memref::AllocOp alloc = allocation.alloc;
  int64_t defined = positions.lookup(topLevel(alloc));
  int64_t first = INT64_MAX, last = INT64_MIN;
  // An alloc inside a region lives at least for its whole top-level op.
  if (alloc->getBlock() != body)
    first = last = defined;

  SmallVector<Value> worklist{alloc.getResult()};
  DenseSet<Value> seen{alloc.getResult()};
  auto addAlias = [&](Value value) {
    if (isa<BaseMemRefType>(value.getType()) && seen.insert(value).second)
      worklist.push_back(value);
  };
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    for (OpOperand &use : value.getUses()) {
      Operation *user = use.getOwner();
      if (isa<memref::DeallocOp>(user)) {
        allocation.deallocs.push_back(user);
        continue;
      }
      if (isa<func::ReturnOp>(user) && user->getBlock() == body)
        return user->emitError()
               << "xf-plan-memory: the model function returns an "
                  "intermediate buffer; run buffer-results-to-out-params "
                  "first";
      // Every memref the user produces may alias the buffer; a buffer
      // yielded out of a region aliases the parent's results.
      for (Value result : user->getResults())
        addAlias(result);
      if (user->hasTrait<OpTrait::IsTerminator>() && user->getBlock() != body)
        for (Value result : user->getParentOp()->getResults())
          addAlias(result);
      // Views at the top level only name the bytes; their users touch them.
      if (isa<ViewLikeOpInterface>(user) && user->getBlock() == body)
        continue;
      int64_t position = positions.lookup(topLevel(user));
      first = std::min(first, position);
      last = std::max(last, position);
    }
  }
  if (first == INT64_MAX)
    first = last = defined; // Never touched: give it one position.
  allocation.firstUse = first;
  allocation.lastUse = last;
  return success();
}

void XFPlanMemoryPass::findInPlacePairs(
    ArrayRef<Allocation> allocations, std::vector<xfc::PlanBuffer> &buffers) {
  DenseMap<Operation *, size_t> indexOf;
  for (size_t i = 0; i < allocations.size(); ++i)
    indexOf[allocations[i].alloc] = i;
  DenseSet<size_t> lent;
  for (Operation &op : *body) {
    auto linalgOp = dyn_cast<linalg::LinalgOp>(&op);
    if (!linalgOp || !linalgOp.hasPureBufferSemantics() ||
        linalgOp.getNumParallelLoops() != linalgOp.getNumLoops())
      continue;
    int64_t here = positions.lookup(&op);
    for (OpOperand &init : linalgOp.getDpsInitsMutable()) {
      memref::AllocOp outAlloc = reshapeRoot(init.get());
      if (!outAlloc || !indexOf.count(outAlloc))
        continue;
      size_t out = indexOf[outAlloc];
      if (buffers[out].firstUse != here || buffers[out].inPlaceOf >= 0)
        continue;
      auto outType = cast<MemRefType>(init.get().getType());
      AffineMap outMap = linalgOp.getMatchingIndexingMap(&init);
      for (OpOperand *input : linalgOp.getDpsInputOperands()) {
        memref::AllocOp inAlloc = reshapeRoot(input->get());
        if (!inAlloc || !indexOf.count(inAlloc) || inAlloc == outAlloc)
          continue;
        size_t in = indexOf[inAlloc];
        if (buffers[in].lastUse != here || lent.contains(in) ||
            buffers[in].size != buffers[out].size)
          continue;
        // Element i of the output must sit at the byte of element i of the
        // input and be written after that element is read: the same
        // dense row-major shape, the same element size and the same
        // indexing map for every operand reading the input.
        bool legal = true;
        for (OpOperand &operand : op.getOpOperands()) {
          if (&operand == &init || reshapeRoot(operand.get()) != inAlloc)
            continue;
          auto type = dyn_cast<MemRefType>(operand.get().getType());
          legal &= type && type.getShape() == outType.getShape() &&
                   type.getLayout().isIdentity() &&
                   outType.getLayout().isIdentity() &&
                   type.getElementTypeBitWidth() ==
                       outType.getElementTypeBitWidth() &&
                   linalgOp.getMatchingIndexingMap(&operand) == outMap;
        }
        if (!legal)
          continue;
        buffers[out].inPlaceOf = static_cast<int64_t>(in);
        lent.insert(in);
        break;
      }
    }
  }
}

void XFPlanMemoryPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto func = module.lookupSymbol<func::FuncOp>(modelFunction);
  if (!func) {
    module.emitError() << "xf-plan-memory: no func.func @" << modelFunction;
    return signalPassFailure();
  }
  if (func.isExternal() || !func.getBody().hasOneBlock()) {
    func.emitError() << "xf-plan-memory: expected @" << modelFunction
                     << " to have a body of one block (a straight-line "
                        "schedule)";
    return signalPassFailure();
  }
  if (module->hasAttr("xf.memory_plan")) {
    module.emitError("xf-plan-memory: the module is already planned");
    return signalPassFailure();
  }
  if (failed(lowerThreadTemporaries(func)))
    return signalPassFailure();

  body = &func.getBody().front();
  positions.clear();
  SmallVector<Operation *> schedule;
  for (Operation &op : *body) {
    positions[&op] = static_cast<int64_t>(schedule.size());
    schedule.push_back(&op);
  }

  // Lifetimes of the remaining (function-level) allocations.
  SmallVector<Allocation> allocations;
  WalkResult walk = func.walk([&](memref::AllocOp alloc) {
    MemRefType type = alloc.getType();
    if (!type.hasStaticShape() || !type.getLayout().isIdentity() ||
        type.getMemorySpace()) {
      alloc.emitError() << "xf-plan-memory: can only plan statically shaped "
                           "memrefs with the identity layout in the default "
                           "memory space, found "
                        << type;
      return WalkResult::interrupt();
    }
    allocations.push_back({alloc});
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return signalPassFailure();
  std::vector<xfc::PlanBuffer> buffers;
  for (Allocation &allocation : allocations) {
    if (failed(computeLifetime(allocation)))
      return signalPassFailure();
    xfc::PlanBuffer buffer;
    MemRefType type = allocation.alloc.getType();
    llvm::raw_string_ostream(buffer.name) << type;
    buffer.size = byteSize(type);
    buffer.alignment = std::max<uint64_t>(
        kMinAlignment, allocation.alloc.getAlignment().value_or(1));
    buffer.firstUse = allocation.firstUse;
    buffer.lastUse = allocation.lastUse;
    buffers.push_back(std::move(buffer));
  }
  if (inPlace)
    findInPlacePairs(allocations, buffers);
  xfc::MemoryPlan plan = xfc::planMemory(buffers);
  std::string problem = xfc::verifyMemoryPlan(plan);
  if (!problem.empty()) {
    func.emitError() << "xf-plan-memory: internal error, invalid plan: "
                     << problem;
    return signalPassFailure();
  }

  // The arena argument, then one view per planned buffer.
  MLIRContext *ctx = &getContext();
  OpBuilder builder(ctx);
  auto arenaType = MemRefType::get({static_cast<int64_t>(plan.arenaBytes)},
                                   builder.getI8Type());
  unsigned arenaIndex = func.getNumArguments();
  if (failed(func.insertArgument(
          arenaIndex, arenaType,
          builder.getDictionaryAttr(
              builder.getNamedAttr("xf.arena", builder.getUnitAttr())),
          func.getLoc()))) {
    func.emitError("xf-plan-memory: cannot add the arena argument");
    return signalPassFailure();
  }
  Value arena = func.getArgument(arenaIndex);
  auto viewOf = [&](Location loc, uint64_t offset, MemRefType type) {
    Value shift = arith::ConstantIndexOp::create(builder, loc, offset);
    return memref::ViewOp::create(builder, loc, type, arena, shift,
                                  ValueRange{});
  };
  SmallVector<memref::ViewOp> views;
  for (size_t i = 0; i < allocations.size(); ++i) {
    memref::AllocOp alloc = allocations[i].alloc;
    builder.setInsertionPoint(alloc);
    memref::ViewOp view = viewOf(alloc.getLoc(), plan.offsets[i], alloc.getType());
    for (Operation *dealloc : allocations[i].deallocs)
      dealloc->erase();
    alloc.replaceAllUsesWith(view.getResult());
    alloc.erase();
    views.push_back(view);
  }

  // Debug mode: NaN into every buffer once it is dead. A buffer whose bytes
  // an in-place successor took over is not dead there, so it is skipped.
  if (poisonDeadBuffers) {
    std::vector<bool> lentAway(plan.buffers.size(), false);
    for (size_t i = 0; i < plan.buffers.size(); ++i)
      if (plan.placedInPlace[i])
        lentAway[plan.buffers[i].inPlaceOf] = true;
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
      const xfc::PlanBuffer &buffer = plan.buffers[i];
      Operation *lastOp = schedule[buffer.lastUse];
      if (lentAway[i] || buffer.size == 0 ||
          lastOp->hasTrait<OpTrait::IsTerminator>())
        continue;
      builder.setInsertionPointAfter(lastOp);
      Location loc = views[i].getLoc();
      Value value;
      MemRefType type;
      if (buffer.size % 4 == 0) {
        type = MemRefType::get({static_cast<int64_t>(buffer.size / 4)},
                               builder.getF32Type());
        value = arith::ConstantOp::create(
            builder, loc,
            builder.getF32FloatAttr(std::numeric_limits<float>::quiet_NaN()));
      } else {
        type = MemRefType::get({static_cast<int64_t>(buffer.size)},
                               builder.getI8Type());
        value = arith::ConstantOp::create(builder, loc,
                                          builder.getI8IntegerAttr(-1));
      }
      Value bytes = viewOf(loc, plan.offsets[i], type);
      linalg::FillOp::create(builder, loc, value, bytes);
    }
  }

  // The plan, for the compiler's report and the manifest.
  SmallVector<Attribute> placed;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const xfc::PlanBuffer &b = plan.buffers[i];
    SmallVector<NamedAttribute> fields = {
        builder.getNamedAttr("name", builder.getStringAttr(b.name)),
        builder.getNamedAttr("size", builder.getI64IntegerAttr(b.size)),
        builder.getNamedAttr("alignment",
                             builder.getI64IntegerAttr(b.alignment)),
        builder.getNamedAttr("first_use", builder.getI64IntegerAttr(b.firstUse)),
        builder.getNamedAttr("last_use", builder.getI64IntegerAttr(b.lastUse)),
        builder.getNamedAttr("offset",
                             builder.getI64IntegerAttr(plan.offsets[i]))};
    if (b.inPlaceOf >= 0 && plan.placedInPlace[i])
      fields.push_back(builder.getNamedAttr(
          "in_place_of", builder.getI64IntegerAttr(b.inPlaceOf)));
    placed.push_back(builder.getDictionaryAttr(fields));
  }
  module->setAttr(
      "xf.memory_plan",
      builder.getDictionaryAttr(
          {builder.getNamedAttr("arena_bytes",
                                builder.getI64IntegerAttr(plan.arenaBytes)),
           builder.getNamedAttr("naive_bytes",
                                builder.getI64IntegerAttr(plan.naiveBytes)),
           builder.getNamedAttr(
               "lower_bound_bytes",
               builder.getI64IntegerAttr(plan.lowerBoundBytes)),
           builder.getNamedAttr("buffers", builder.getArrayAttr(placed))}));
}

} // namespace
