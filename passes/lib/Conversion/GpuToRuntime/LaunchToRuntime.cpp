//===- LaunchToRuntime.cpp - gpu.launch_func as runtime calls ---*- C++ -*-===//
//
// Part of xfc. Implements xf-gpu-launch-to-runtime (see Passes.td and
// docs/gpu.md, "Launch ABI"): each kernel launch of the host code becomes a
// call through the run context's launch function, and the device code
// leaves the host module, so no global constructor loads modules and no
// launch makes its own stream.
//
//===----------------------------------------------------------------------===//
#include "xf/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFGPULAUNCHTORUNTIME
#include "xf/Conversion/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;

namespace {

constexpr StringLiteral kRunArgAttr = "xf.gpu_run";
constexpr StringLiteral kKernelsAttr = "xf.gpu_kernels";

std::string typeText(Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << type;
  return text;
}

/// The argument of `func` marked xf.gpu_run, or null.
Value runContextOf(FunctionOpInterface func) {
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    if (func.getArgAttr(i, kRunArgAttr))
      return func.getArgument(i);
  return Value();
}

struct XFGpuLaunchToRuntimePass
    : public xf::impl::XFGpuLaunchToRuntimeBase<XFGpuLaunchToRuntimePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    SmallVector<gpu::LaunchFuncOp> launches;
    module.walk([&](gpu::LaunchFuncOp op) { launches.push_back(op); });

    // Kernel indices in order of first launch.
    SmallVector<Attribute> kernels;
    llvm::DenseMap<Attribute, int32_t> indexOf;
    for (gpu::LaunchFuncOp launch : launches) {
      SymbolRefAttr kernel = launch.getKernel();
      if (indexOf.try_emplace(kernel, int32_t(kernels.size())).second)
        kernels.push_back(kernel);
    }

    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    auto i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
    auto launchType = LLVM::LLVMFunctionType::get(
        i32, {ptrType, i32, i64, i64, i64, i64, i64, i64, i32, ptrType});
    for (gpu::LaunchFuncOp launch : launches) {
      if (failed(lower(launch, indexOf.lookup(launch.getKernel()), ptrType,
                       launchType)))
        return signalPassFailure();
    }

    // The device code is the artifact's, not the host library's.
    for (Operation &op : llvm::make_early_inc_range(module.getOps()))
      if (isa<gpu::GPUModuleOp, gpu::BinaryOp>(op))
        op.erase();
    module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
    if (!kernels.empty())
      module->setAttr(kKernelsAttr, ArrayAttr::get(ctx, kernels));
  }

  LogicalResult lower(gpu::LaunchFuncOp launch, int32_t kernelIndex,
                      Type ptrType, LLVM::LLVMFunctionType launchType) {
    auto fail = [&](const Twine &why) {
      return launch.emitError()
             << "xf-gpu-launch-to-runtime: cannot lower the launch of "
             << launch.getKernel() << ": " << why;
    };
    if (!launch.getAsyncDependencies().empty() || launch.getAsyncToken())
      return fail("it is asynchronous (the runtime orders launches on the "
                  "run context's stream)");
    if (launch.hasClusterSize())
      return fail("thread block clusters are not supported");
    auto func = launch->getParentOfType<FunctionOpInterface>();
    Value run = func ? runContextOf(func) : Value();
    if (!run || run.getType() != ptrType)
      return fail("the function launching it has no !llvm.ptr argument "
                  "marked xf.gpu_run (the run context)");

    OpBuilder b(launch);
    Location loc = launch.getLoc();
    Type i32 = b.getI32Type(), i64 = b.getI64Type();
    auto toI64 = [&](Value v) -> Value {
      if (v.getType().isIndex())
        return arith::IndexCastOp::create(b, loc, i64, v);
      return v;
    };

    // Each argument's value in a stack slot, and the array of the slots'
    // addresses; the slots live in the entry block, once per function.
    SmallVector<Value> values;
    for (Value operand : launch.getKernelOperands()) {
      Type type = operand.getType();
      if (auto memref = dyn_cast<MemRefType>(type)) {
        if (!memref.hasStaticShape() || !memref.getLayout().isIdentity())
          return fail("argument of type " + typeText(type) +
                      " is not a static identity-layout memref");
        Value address =
            memref::ExtractAlignedPointerAsIndexOp::create(b, loc, operand);
        values.push_back(LLVM::IntToPtrOp::create(b, loc, ptrType,
                                                  toI64(address)));
        continue;
      }
      if (!type.isIntOrIndexOrFloat())
        return fail("argument of type " + typeText(type) +
                    " is neither a memref nor a scalar");
      values.push_back(toI64(operand));
    }
    Block &entry = func->getRegion(0).front();
    OpBuilder atEntry = OpBuilder::atBlockBegin(&entry);
    Value one = LLVM::ConstantOp::create(atEntry, loc, i64,
                                         atEntry.getI64IntegerAttr(1));
    Value count = LLVM::ConstantOp::create(
        atEntry, loc, i64,
        atEntry.getI64IntegerAttr(std::max<size_t>(values.size(), 1)));
    Value params =
        LLVM::AllocaOp::create(atEntry, loc, ptrType, ptrType, count);
    SmallVector<Value> slots;
    for (Value value : values)
      slots.push_back(
          LLVM::AllocaOp::create(atEntry, loc, ptrType, value.getType(), one));
    for (auto [i, value] : llvm::enumerate(values)) {
      LLVM::StoreOp::create(b, loc, value, slots[i]);
      Value element = LLVM::GEPOp::create(
          b, loc, ptrType, ptrType, params,
          ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(i)});
      LLVM::StoreOp::create(b, loc, slots[i], element);
    }

    gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
    gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
    Value shared = launch.getDynamicSharedMemorySize();
    if (!shared)
      shared = LLVM::ConstantOp::create(b, loc, i32, b.getI32IntegerAttr(0));
    // The launch function is the first field of the run context.
    Value function = LLVM::LoadOp::create(b, loc, ptrType, run);
    SmallVector<Value> args{function,
                            run,
                            LLVM::ConstantOp::create(
                                b, loc, i32, b.getI32IntegerAttr(kernelIndex)),
                            toI64(grid.x),
                            toI64(grid.y),
                            toI64(grid.z),
                            toI64(block.x),
                            toI64(block.y),
                            toI64(block.z),
                            shared,
                            params};
    LLVM::CallOp::create(b, loc, launchType, args);
    launch.erase();
    return success();
  }
};

} // namespace
