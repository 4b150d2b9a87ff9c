//===- ForallToOpenMP.cpp - Thread tiles on an OpenMP team ------*- C++ -*-===//
//
// Part of xfc. Implements xf-cpu-forall-to-openmp (see Passes.td).
//
//===----------------------------------------------------------------------===//
#include "xf/Codegen/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFCPUFORALLTOOPENMP
#include "xf/Codegen/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;

namespace {

/// Declares `i32 name()` in `module` (once).
func::FuncOp declareQuery(ModuleOp module, StringRef name) {
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  auto func = func::FuncOp::create(
      b, module.getLoc(), name,
      b.getFunctionType({}, {b.getI32Type()}));
  func.setPrivate();
  return func;
}

/// Rewrites one forall (buffer form: no shared outputs).
void lowerForall(scf::ForallOp forall, func::FuncOp threadNum,
                 func::FuncOp numThreads) {
  OpBuilder b(forall);
  Location loc = forall.getLoc();
  auto parallel = omp::ParallelOp::create(b, loc, ArrayRef<NamedAttribute>{});
  Block *body = b.createBlock(&parallel.getRegion());
  b.setInsertionPointToStart(body);

  auto index = [&](Value i32) {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), i32);
  };
  Value tid = index(func::CallOp::create(b, loc, threadNum).getResult(0));
  Value team = index(func::CallOp::create(b, loc, numThreads).getResult(0));

  // Iterations per dimension, and in all.
  SmallVector<Value> lbs = getValueOrCreateConstantIndexOp(
      b, loc, forall.getMixedLowerBound());
  SmallVector<Value> ubs = getValueOrCreateConstantIndexOp(
      b, loc, forall.getMixedUpperBound());
  SmallVector<Value> steps =
      getValueOrCreateConstantIndexOp(b, loc, forall.getMixedStep());
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  SmallVector<Value> counts;
  Value total = one;
  for (auto [lb, ub, step] : llvm::zip(lbs, ubs, steps)) {
    Value extent = arith::SubIOp::create(b, loc, ub, lb);
    Value count = arith::CeilDivSIOp::create(b, loc, extent, step);
    count = arith::MaxSIOp::create(b, loc, count, zero);
    counts.push_back(count);
    total = arith::MulIOp::create(b, loc, total, count);
  }
  // This thread's contiguous block of the linearized iterations.
  Value chunk = arith::CeilDivSIOp::create(b, loc, total, team);
  Value begin = arith::MulIOp::create(b, loc, tid, chunk);
  begin = arith::MinSIOp::create(b, loc, begin, total);
  Value end = arith::AddIOp::create(b, loc, begin, chunk);
  end = arith::MinSIOp::create(b, loc, end, total);

  auto loop = scf::ForOp::create(b, loc, begin, end, one);
  b.setInsertionPointToStart(loop.getBody());
  // Delinearize, last dimension fastest, and map the forall's induction
  // variables to lb + i * step.
  IRMapping mapping;
  Value rest = loop.getInductionVar();
  SmallVector<Value> ivs(counts.size());
  for (int64_t d = counts.size() - 1; d >= 0; --d) {
    Value i = d == 0 ? rest : arith::RemSIOp::create(b, loc, rest, counts[d]);
    if (d > 0)
      rest = arith::DivSIOp::create(b, loc, rest, counts[d]);
    Value scaled = arith::MulIOp::create(b, loc, i, steps[d]);
    ivs[d] = arith::AddIOp::create(b, loc, lbs[d], scaled);
  }
  for (auto [iv, value] : llvm::zip(forall.getInductionVars(), ivs))
    mapping.map(iv, value);
  for (Operation &op : forall.getBody()->without_terminator())
    b.clone(op, mapping);

  b.setInsertionPointToEnd(body);
  omp::TerminatorOp::create(b, loc);
  forall.erase();
}

struct XFCPUForallToOpenMPPass
    : public xf::impl::XFCPUForallToOpenMPBase<XFCPUForallToOpenMPPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<scf::ForallOp> foralls;
    bool nested = false;
    module.walk([&](scf::ForallOp forall) {
      if (!forall.getOutputs().empty()) {
        forall.emitError("xf-cpu-forall-to-openmp: expected a forall on "
                         "buffers (no shared outputs); run after "
                         "bufferization");
        nested = true;
        return;
      }
      // Only outermost foralls get a team; nested ones run on it as loops.
      if (!forall->getParentOfType<scf::ForallOp>())
        foralls.push_back(forall);
    });
    if (nested)
      return signalPassFailure();
    if (foralls.empty())
      return;
    func::FuncOp threadNum = declareQuery(module, "omp_get_thread_num");
    func::FuncOp numThreads = declareQuery(module, "omp_get_num_threads");
    for (scf::ForallOp forall : foralls)
      lowerForall(forall, threadNum, numThreads);
  }
};

} // namespace
