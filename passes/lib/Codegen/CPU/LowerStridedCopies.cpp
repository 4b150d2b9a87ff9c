//===- LowerStridedCopies.cpp - Strided copies as loops ---------*- C++ -*-===//
//
// Part of xfc. Implements xf-lower-strided-copies (see Passes.td).
//
//===----------------------------------------------------------------------===//
#include "xf/Codegen/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/IR/Builders.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFLOWERSTRIDEDCOPIES
#include "xf/Codegen/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;

namespace {

/// True if the finalize-memref-to-llvm lowering turns a copy of `type`
/// into a memcpy: identity layout, or strides that are those of a dense
/// row-major array.
bool isContiguous(MemRefType type) {
  return type.getLayout().isIdentity() ||
         memref::isStaticShapeAndContiguousRowMajor(type);
}

struct XFLowerStridedCopiesPass
    : public xf::impl::XFLowerStridedCopiesBase<XFLowerStridedCopiesPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation()->walk([&](memref::CopyOp copy) {
      auto source = dyn_cast<MemRefType>(copy.getSource().getType());
      auto target = dyn_cast<MemRefType>(copy.getTarget().getType());
      if (source && target && !(isContiguous(source) && isContiguous(target)))
        copies.push_back(copy);
    });
    for (memref::CopyOp copy : copies) {
      OpBuilder b(copy);
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      copy.erase();
    }
  }
};

} // namespace
