//===- EmitEntryPoint.cpp - The artifact's fixed-signature entry -*- C++
//-*-===//
//
// Part of xfc. Implements xf-emit-entry-point. After lowering to the LLVM
// dialect with the bare-pointer calling convention, the model function takes
// one pointer per tensor (inputs, weights, outputs). Its arity depends on the
// model, so the runtime cannot call it directly; this pass adds
// `void xfc_entry(void **args)` which loads each pointer and forwards it.
//
//===----------------------------------------------------------------------===//
#include "xf/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFEMITENTRYPOINT
#include "xf/Conversion/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;

namespace {

struct XFEmitEntryPointPass
    : public xf::impl::XFEmitEntryPointBase<XFEmitEntryPointPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto model = module.lookupSymbol<LLVM::LLVMFuncOp>(modelFunction);
    if (!model) {
      module.emitError() << "xf-emit-entry-point: no llvm.func @"
                         << modelFunction
                         << " (lower func to llvm with the bare-pointer "
                            "calling convention first)";
      return signalPassFailure();
    }
    if (module.lookupSymbol(entryName)) {
      module.emitError() << "xf-emit-entry-point: @" << entryName
                         << " already exists";
      return signalPassFailure();
    }
    LLVM::LLVMFunctionType modelType = model.getFunctionType();
    MLIRContext *ctx = &getContext();
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    for (Type param : modelType.getParams()) {
      if (param != ptrType) {
        model.emitError() << "xf-emit-entry-point: parameter of type " << param
                          << " is not a pointer; the model function must "
                             "take only tensors with static shapes";
        return signalPassFailure();
      }
    }

    OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
    Location loc = model.getLoc();
    auto entryType =
        LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptrType});
    auto entry = LLVM::LLVMFuncOp::create(builder, loc, entryName, entryType);
    Block *body = entry.addEntryBlock(builder);
    builder.setInsertionPointToStart(body);
    Value argv = body->getArgument(0);
    SmallVector<Value> args;
    for (unsigned i = 0, e = modelType.getNumParams(); i < e; ++i) {
      Value slot = LLVM::GEPOp::create(builder, loc, ptrType, ptrType, argv,
                                       ArrayRef<LLVM::GEPArg>{(int32_t)i});
      args.push_back(LLVM::LoadOp::create(builder, loc, ptrType, slot));
    }
    LLVM::CallOp::create(builder, loc, model, args);
    LLVM::ReturnOp::create(builder, loc, ValueRange{});
  }
};

} // namespace
