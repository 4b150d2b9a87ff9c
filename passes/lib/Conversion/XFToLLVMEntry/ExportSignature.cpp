//===- ExportSignature.cpp - Argument sizes as a public constant -*- C++
//-*-===//
//
// Part of xfc. Implements xf-export-signature. The entry point takes a bare
// array of pointers, so nothing in the calling convention says how many
// there are or how large each tensor is; a manifest that disagrees with the
// library would make the generated code read or write out of bounds. This
// pass records both facts in the library itself, as the constant
// `xfc_signature`, for the runtime to check at open.
//
//===----------------------------------------------------------------------===//
#include "xf/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFEXPORTSIGNATURE
#include "xf/Conversion/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;

namespace {

struct XFExportSignaturePass
    : public xf::impl::XFExportSignatureBase<XFExportSignaturePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto model = module.lookupSymbol<func::FuncOp>(modelFunction);
    if (!model) {
      module.emitError() << "xf-export-signature: no func.func @"
                         << modelFunction;
      return signalPassFailure();
    }
    if (module.lookupSymbol("xfc_signature")) {
      module.emitError("xf-export-signature: @xfc_signature already exists");
      return signalPassFailure();
    }
    SmallVector<int64_t> signature{
        static_cast<int64_t>(model.getNumArguments())};
    for (BlockArgument arg : model.getArguments()) {
      auto type = dyn_cast<MemRefType>(arg.getType());
      if (!type || !type.hasStaticShape() ||
          !type.getElementType().isIntOrFloat()) {
        model.emitError() << "xf-export-signature: argument "
                          << arg.getArgNumber()
                          << " must be a statically shaped memref, found "
                          << arg.getType() << " (run after bufferization)";
        return signalPassFailure();
      }
      int64_t bits = type.getElementTypeBitWidth();
      signature.push_back(type.getNumElements() * ((bits + 7) / 8));
    }

    OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
    auto type = MemRefType::get({static_cast<int64_t>(signature.size())},
                                builder.getI64Type());
    auto tensorType =
        RankedTensorType::get(type.getShape(), builder.getI64Type());
    memref::GlobalOp::create(
        builder, model.getLoc(), "xfc_signature",
        builder.getStringAttr("public"), type,
        DenseIntElementsAttr::get(tensorType, ArrayRef<int64_t>(signature)),
        /*constant=*/true, /*alignment=*/IntegerAttr());
  }
};

} // namespace
