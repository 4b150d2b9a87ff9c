//===- OutlineKernels.cpp - One function per kernel -------------*- C++ -*-===//
//
// Part of xfc. Implements xf-outline-kernels. xf-form-kernels tagged every
// kernel's ops with the kernel's number, and lowering kept the tags; this
// pass, on memref IR, moves each kernel's top-level ops out of the model
// function into a private function named after the kernel's spec nodes
// (`xf_k12_encoder_layers_1_ffn_fc1_act`) and calls it. The symbol then
// survives to the shared library (OpenMP outlining derives
// `xf_k12_encoder_layers_1_ffn_fc1_act..omp_par` from it), so `perf
// report` reads in the user's terms, and the call is where the optional
// profile counts ticks.
//
// Grouping rules:
//  - Ops without memory effects and without regions (constants, views,
//    casts, index arithmetic) belong to no kernel: each kernel function
//    gets its own clone of the ones it uses, recursively, so it receives
//    only the model function's own arguments (arena, inputs, weights,
//    outputs: identity-layout memrefs, as the bare-pointer calling
//    convention needs) and every offset and shape stays a constant that
//    LLVM can fold into addresses.
//  - Every other op goes with its kernel tag. An untagged one (the final
//    copy into an output buffer, made by bufferization from the return)
//    joins the kernel before it, which produced what it moves; before any
//    kernel it joins the first one.
//  - A tag in two runs separated by another kernel gives two functions,
//    the second suffixed `_part1`, ...; both count for the kernel.
//  - A value a kernel defines and a later one uses is returned (scalars
//    only: a memref returned through a bare pointer would lose its shape).
//
// With `profile`, the model function takes one more argument, the profile
// buffer memref<(2 + 2 N)xi64> (N kernels, docs/artifact.md): word 0 is
// the enable flag, read once per run; word 1 accumulates the cycle counter
// over the whole run, words 2 + 2k and 3 + 2k the ticks and calls of
// kernel k. Each call is one `scf.if` on the flag: counted on one side,
// the bare call on the other, so a run without profiling pays one branch
// per kernel.
//
//===----------------------------------------------------------------------===//
#include "xf/Dialect/XF/NodeNames.h"
#include "xf/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFOUTLINEKERNELS
#include "xf/Transforms/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;
using namespace mlir::xf;

namespace {

/// Ops copied into every kernel that uses them instead of being outlined.
bool isClonable(Operation *op) {
  return op->getNumRegions() == 0 && op->getNumResults() > 0 &&
         isMemoryEffectFree(op);
}

/// A run of top-level ops of one kernel.
struct Group {
  int64_t kernel;
  /// 0 for the first run of the kernel, then 1, 2, ...
  unsigned part;
  SmallVector<Operation *> ops;
};

/// Types a kernel function can take (statically shaped identity-layout
/// memrefs become bare pointers) or return (scalars: a memref returned as
/// a bare pointer would lose its shape).
bool isPassable(Type type, bool asResult) {
  if (auto memref = dyn_cast<MemRefType>(type))
    return !asResult && memref.hasStaticShape() &&
           memref.getLayout().isIdentity();
  return type.isIntOrIndexOrFloat();
}

struct XFOutlineKernelsPass
    : public xf::impl::XFOutlineKernelsBase<XFOutlineKernelsPass> {
  using Base::Base;

  void runOnOperation() override;

private:
  LogicalResult outline(func::FuncOp model, const Group &group,
                        StringRef symbol, func::CallOp &call);
  void instrument(func::FuncOp model, ArrayRef<Group> groups,
                  ArrayRef<func::CallOp> calls, int64_t numKernels);
};

void XFOutlineKernelsPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto model = module.lookupSymbol<func::FuncOp>(modelFunction);
  if (!model || model.isExternal()) {
    module.emitError() << "xf-outline-kernels: no func.func @" << modelFunction
                       << " with a body";
    return signalPassFailure();
  }
  Block &body = model.getBody().front();
  if (!llvm::hasSingleElement(model.getBody())) {
    model.emitError("xf-outline-kernels: expected a model function of one "
                    "block (run before lowering control flow)");
    return signalPassFailure();
  }

  // Runs of ops by kernel tag, in program order.
  SmallVector<Group> groups;
  SmallVector<Operation *> leading;
  llvm::DenseMap<int64_t, unsigned> parts;
  for (Operation &op : body.without_terminator()) {
    if (isClonable(&op))
      continue;
    std::optional<int64_t> tag = kernelTag(op.getLoc());
    if (!tag) {
      if (groups.empty())
        leading.push_back(&op);
      else
        groups.back().ops.push_back(&op);
      continue;
    }
    if (groups.empty() || groups.back().kernel != *tag) {
      groups.push_back({*tag, parts[*tag]++, {}});
      groups.back().ops.append(leading);
      leading.clear();
    }
    groups.back().ops.push_back(&op);
  }

  // The kernels' records, written by xf-form-kernels.
  auto kernels = module->getAttrOfType<ArrayAttr>(kKernelsAttrName);
  if (!groups.empty() && !kernels) {
    module.emitError() << "xf-outline-kernels: ops are tagged with kernels "
                          "but the module has no "
                       << kKernelsAttrName << " (run xf-form-kernels)";
    return signalPassFailure();
  }
  int64_t numKernels = kernels ? kernels.size() : 0;

  SmallVector<func::CallOp> calls;
  for (const Group &group : groups) {
    Operation *first = group.ops.front();
    if (group.kernel < 0 || group.kernel >= numKernels) {
      first->emitError() << "xf-outline-kernels: op tagged as kernel "
                         << group.kernel << ", but " << kKernelsAttrName
                         << " lists " << numKernels << " kernel(s)";
      return signalPassFailure();
    }
    auto record = dyn_cast<DictionaryAttr>(kernels[group.kernel]);
    auto symbol = record ? record.getAs<StringAttr>("symbol") : StringAttr();
    if (!symbol || symbol.getValue().empty()) {
      module.emitError() << "xf-outline-kernels: " << kKernelsAttrName << "["
                         << group.kernel
                         << "] has no \"symbol\" string (expected the "
                            "dictionary xf-form-kernels writes)";
      return signalPassFailure();
    }
    std::string name = symbol.getValue().str();
    if (group.part > 0)
      name += "_part" + std::to_string(group.part);
    if (module.lookupSymbol(name)) {
      module.emitError() << "xf-outline-kernels: symbol @" << name
                         << " of kernel " << group.kernel << " already exists";
      return signalPassFailure();
    }
    func::CallOp call;
    if (failed(outline(model, group, name, call)))
      return signalPassFailure();
    calls.push_back(call);
  }

  // Constants and views only the kernels used are dead now.
  SmallVector<Operation *> topLevel;
  for (Operation &op : body.without_terminator())
    topLevel.push_back(&op);
  for (Operation *op : llvm::reverse(topLevel))
    if (isClonable(op) && op->use_empty())
      op->erase();

  if (profile)
    instrument(model, groups, calls, numKernels);
}

LogicalResult XFOutlineKernelsPass::outline(func::FuncOp model,
                                            const Group &group,
                                            StringRef symbol,
                                            func::CallOp &call) {
  Block &body = model.getBody().front();
  llvm::SmallPtrSet<Operation *, 16> inGroup(group.ops.begin(),
                                             group.ops.end());
  // What the group reads from outside: the model's arguments and other
  // kernels' results become arguments; clonable ops are copied.
  llvm::SetVector<Value> arguments;
  llvm::SetVector<Operation *> clones;
  SmallVector<Value> worklist;
  auto visit = [&](Value value) {
    if (auto arg = dyn_cast<BlockArgument>(value)) {
      if (arg.getOwner() == &body)
        arguments.insert(value);
      return;
    }
    Operation *top = body.findAncestorOpInBlock(*value.getDefiningOp());
    if (!top || inGroup.contains(top))
      return;
    if (isClonable(top)) {
      if (clones.insert(top))
        worklist.append(top->operand_begin(), top->operand_end());
      return;
    }
    arguments.insert(value);
  };
  for (Operation *op : group.ops)
    op->walk([&](Operation *inner) {
      for (Value operand : inner->getOperands())
        visit(operand);
    });
  while (!worklist.empty())
    visit(worklist.pop_back_val());

  // The model's own arguments first, in their order, then other kernels'
  // results: signatures then read like the model function's.
  SmallVector<Value> ordered(arguments.begin(), arguments.end());
  llvm::stable_sort(ordered, [&](Value a, Value b) {
    auto argA = dyn_cast<BlockArgument>(a), argB = dyn_cast<BlockArgument>(b);
    if (argA && argB)
      return argA.getArgNumber() < argB.getArgNumber();
    return argA && !argB;
  });
  arguments = llvm::SetVector<Value>(ordered.begin(), ordered.end());

  // Results used after the group.
  SmallVector<Value> results;
  for (Operation *op : group.ops)
    for (Value result : op->getResults())
      if (llvm::any_of(result.getUsers(), [&](Operation *user) {
            return !inGroup.contains(body.findAncestorOpInBlock(*user));
          }))
        results.push_back(result);

  SmallVector<Value> crossing(arguments.begin(), arguments.end());
  crossing.append(results);
  for (auto [index, value] : llvm::enumerate(crossing)) {
    bool asResult = index >= arguments.size();
    if (isPassable(value.getType(), asResult))
      continue;
    group.ops.front()->emitError()
        << "xf-outline-kernels: kernel " << group.kernel << " would "
        << (asResult ? "return" : "take") << " a value of type "
        << value.getType()
        << (asResult ? "; kernel functions return only scalars"
                     : "; kernel functions take only scalars and statically "
                       "shaped identity-layout memrefs (the bare-pointer "
                       "calling convention)");
    return failure();
  }

  // The kernel function: clones first (in program order), then the group.
  OpBuilder builder(model);
  SmallVector<Type> argTypes, resultTypes;
  for (Value value : arguments)
    argTypes.push_back(value.getType());
  for (Value value : results)
    resultTypes.push_back(value.getType());
  Location loc = group.ops.front()->getLoc();
  auto func = func::FuncOp::create(
      builder, loc, symbol, builder.getFunctionType(argTypes, resultTypes));
  func.setPrivate();
  // Kept a function of its own in the library: LLVM must not inline it
  // back (its symbol is the point), and internal linkage keeps it out of
  // the dynamic symbol table (it stays in .symtab for nm and perf).
  func->setAttr("passthrough",
                builder.getArrayAttr({builder.getStringAttr("noinline")}));
  func->setAttr(
      "llvm.linkage",
      LLVM::LinkageAttr::get(builder.getContext(), LLVM::Linkage::Internal));
  Block *entry = func.addEntryBlock();
  IRMapping mapping;
  for (auto [value, arg] : llvm::zip(arguments, entry->getArguments()))
    mapping.map(value, arg);
  builder.setInsertionPointToStart(entry);
  for (Operation &op : body)
    if (clones.contains(&op) || inGroup.contains(&op))
      builder.clone(op, mapping);
  SmallVector<Value> returned;
  for (Value value : results)
    returned.push_back(mapping.lookup(value));
  func::ReturnOp::create(builder, model.getLoc(), returned);

  // The call replaces the group.
  builder.setInsertionPoint(group.ops.front());
  call = func::CallOp::create(builder, loc, func, arguments.getArrayRef());
  for (auto [value, replacement] : llvm::zip(results, call.getResults()))
    value.replaceUsesWithIf(replacement, [&](OpOperand &use) {
      return !inGroup.contains(body.findAncestorOpInBlock(*use.getOwner()));
    });
  for (Operation *op : llvm::reverse(group.ops)) {
    op->dropAllUses();
    op->erase();
  }
  return success();
}

void XFOutlineKernelsPass::instrument(func::FuncOp model,
                                      ArrayRef<Group> groups,
                                      ArrayRef<func::CallOp> calls,
                                      int64_t numKernels) {
  MLIRContext *ctx = model.getContext();
  OpBuilder builder(ctx);
  Location loc = model.getLoc();
  auto i64 = builder.getI64Type();
  auto bufferType = MemRefType::get({2 + 2 * numKernels}, i64);
  unsigned index = model.getNumArguments();
  (void)model.insertArgument(index, bufferType,
                             builder.getDictionaryAttr(builder.getNamedAttr(
                                 kProfileArgAttrName, builder.getUnitAttr())),
                             loc);
  Value buffer = model.getArgument(index);
  Block &body = model.getBody().front();

  auto readCounter = [&](OpBuilder &b) {
    return LLVM::CallIntrinsicOp::create(
               b, loc, i64, b.getStringAttr("llvm.readcyclecounter"),
               ValueRange{})
        .getResult(0);
  };
  // buffer[slot] += delta.
  auto accumulate = [&](OpBuilder &b, int64_t slot, Value delta) {
    Value at = arith::ConstantIndexOp::create(b, loc, slot);
    Value old = memref::LoadOp::create(b, loc, buffer, at);
    Value sum = arith::AddIOp::create(b, loc, old, delta);
    memref::StoreOp::create(b, loc, sum, buffer, at);
  };

  builder.setInsertionPointToStart(&body);
  Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
  Value flag = memref::LoadOp::create(builder, loc, buffer, zero);
  Value zeroI64 = arith::ConstantIntOp::create(builder, loc, i64, 0);
  Value on = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::ne, flag,
                                   zeroI64);
  // The whole run: minus the counter at the start, plus it at the end.
  auto addCounter = [&](bool subtract) {
    scf::IfOp::create(builder, loc, on, [&](OpBuilder &b, Location) {
      Value now = readCounter(b);
      if (subtract)
        now = arith::SubIOp::create(b, loc, zeroI64, now);
      accumulate(b, 1, now);
      scf::YieldOp::create(b, loc);
    });
  };
  addCounter(/*subtract=*/true);

  for (auto [group, constCall] : llvm::zip(groups, calls)) {
    func::CallOp call = constCall;
    builder.setInsertionPoint(call);
    int64_t kernel = group.kernel;
    bool counts = group.part == 0;
    auto ifOp = scf::IfOp::create(builder, loc, call.getResultTypes(), on,
                                  /*addThenBlock=*/true,
                                  /*addElseBlock=*/true);
    OpBuilder b = ifOp.getThenBodyBuilder();
    Value start = readCounter(b);
    Operation *counted = b.clone(*call);
    Value end = readCounter(b);
    accumulate(b, 2 + 2 * kernel, arith::SubIOp::create(b, loc, end, start));
    // Later parts of a split kernel add time, not calls.
    if (counts)
      accumulate(b, 3 + 2 * kernel,
                 arith::ConstantIntOp::create(b, loc, i64, 1));
    scf::YieldOp::create(b, loc, counted->getResults());
    b = ifOp.getElseBodyBuilder();
    Operation *plain = b.clone(*call);
    scf::YieldOp::create(b, loc, plain->getResults());
    call.replaceAllUsesWith(ifOp.getResults());
    call.erase();
  }

  builder.setInsertionPoint(body.getTerminator());
  addCounter(/*subtract=*/false);
}

} // namespace
