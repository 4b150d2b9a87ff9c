//===- WeightLayout.cpp - Storage layout of argument weights ----*- C++ -*-===//
//
// Part of xfc. Implements xf-weight-layout. The frontend passes every weight
// as a function argument in the spec's (PyTorch) layout; this pass decides
// how the artifact stores it. Today that is one decision: a linear weight
// used only by linears is stored [in, out], so the inner loop of the matmul
// walks contiguous memory of the weight. The decision is recorded on the
// argument (`xf.weight_transform`) and applied to the data once, at compile
// time, by the artifact writer.
//
//===----------------------------------------------------------------------===//
#include "xf/Dialect/XF/XFOps.h"
#include "xf/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::xf {
#define GEN_PASS_DEF_XFWEIGHTLAYOUT
#include "xf/Transforms/Passes.h.inc"
} // namespace mlir::xf

using namespace mlir;
using namespace mlir::xf;

namespace {

/// True if every use of `arg` is as the weight of a not-yet-transposed
/// xf.linear.
bool onlyUsedAsLinearWeight(BlockArgument arg) {
  if (arg.use_empty())
    return false;
  for (OpOperand &use : arg.getUses()) {
    auto linear = dyn_cast<LinearOp>(use.getOwner());
    if (!linear || use.get() != linear.getWeight() ||
        use.getOperandNumber() !=
            linear.getWeightMutable().getOperandNumber() ||
        linear.getTransposeWeight() || linear.getWeightPanel())
      return false;
  }
  return true;
}

struct XFWeightLayoutPass
    : public xf::impl::XFWeightLayoutBase<XFWeightLayoutPass> {
  using Base::Base;

  void runOnOperation() override {
    if (!transposeLinearWeights)
      return;
    ModuleOp module = getOperation();
    for (func::FuncOp func : module.getOps<func::FuncOp>()) {
      // A referenced function's signature is an interface: changing an
      // argument's layout would break its callers.
      if (func.isExternal() || !SymbolTable::symbolKnownUseEmpty(func, module))
        continue;
      transposeWeightArguments(func);
    }
  }

  /// A weight read both as a table (a tied embedding) and as the weight of
  /// linears (the LM head) cannot take the linear layout in place: the
  /// linears get their own copy, a derived argument built from the table
  /// at compile time (`xf.weight_concat` of one source), which the loop
  /// below then lays out like any linear weight. That trades the table's
  /// size in the artifact for a GEMM that runs the tiled kernel.
  void splitSharedLinearWeights(func::FuncOp func) {
    Builder builder(&getContext());
    for (unsigned index = 0; index < func.getNumArguments(); ++index) {
      BlockArgument arg = func.getArgument(index);
      auto name = func.getArgAttrOfType<StringAttr>(index, "xf.weight");
      if (!name || func.getArgAttr(index, "xf.weight_transform") ||
          func.getArgAttr(index, "xf.weight_concat") ||
          cast<RankedTensorType>(arg.getType()).getRank() != 2)
        continue;
      SmallVector<OpOperand *> linearUses;
      bool otherUses = false;
      for (OpOperand &use : arg.getUses()) {
        auto linear = dyn_cast<LinearOp>(use.getOwner());
        if (linear && use.getOperandNumber() ==
                          linear.getWeightMutable().getOperandNumber() &&
            !linear.getTransposeWeight() && !linear.getWeightPanel())
          linearUses.push_back(&use);
        else
          otherUses = true;
      }
      if (linearUses.empty() || !otherUses)
        continue;
      NamedAttrList attrs(func.getArgAttrDict(index));
      attrs.set("xf.weight",
                builder.getStringAttr(name.getValue() + ".linear"));
      attrs.set("xf.weight_concat", builder.getArrayAttr({name}));
      (void)func.insertArgument(index + 1, arg.getType(),
                                attrs.getDictionary(&getContext()),
                                func.getLoc());
      BlockArgument copy = func.getArgument(index + 1);
      for (OpOperand *use : linearUses)
        use->set(copy);
    }
  }

  void transposeWeightArguments(func::FuncOp func) {
    splitSharedLinearWeights(func);
    Builder builder(&getContext());
    SmallVector<Type> argTypes(func.getArgumentTypes());
    for (BlockArgument arg : func.getArguments()) {
      unsigned index = arg.getArgNumber();
      if (!func.getArgAttr(index, "xf.weight") ||
          func.getArgAttr(index, "xf.weight_transform") ||
          !onlyUsedAsLinearWeight(arg))
        continue;
      auto type = cast<RankedTensorType>(arg.getType());
      int64_t out = type.getDimSize(0), in = type.getDimSize(1);
      // A ragged last panel is padded with zero columns (in the file; the
      // kernel computes them into a padded result and drops them), when
      // that wastes at most 1/8 of the work: the vocabulary-sized LM head
      // (50257 = 2094 * 24 + 1) then runs the packed register kernel. A
      // residual epilogue would need the residual padded too; such
      // linears are transposed instead.
      int64_t panel = packPanelWidth;
      int64_t panels = panel > 0 ? (out + panel - 1) / panel : 0;
      bool exact = panel > 0 && out % panel == 0;
      bool padded = panel > 0 && !exact && 8 * panels * panel <= 9 * out &&
                    llvm::none_of(arg.getUsers(), [](Operation *user) {
                      return bool(cast<LinearOp>(user).getResidual());
                    });
      if (exact || padded) {
        auto packed =
            RankedTensorType::get({panels, in, panel}, type.getElementType());
        // The file stores more columns than the source has: say how many.
        if (padded)
          func.setArgAttr(index, "xf.weight_source_shape",
                          builder.getDenseI64ArrayAttr({out, in}));
        arg.setType(packed);
        argTypes[index] = packed;
        for (Operation *user : arg.getUsers())
          cast<LinearOp>(user).setWeightPanel(panel);
        func.setArgAttr(index, "xf.weight_transform",
                        builder.getStringAttr("pack" + std::to_string(panel)));
        continue;
      }
      auto transposed =
          RankedTensorType::get({in, out}, type.getElementType());
      arg.setType(transposed);
      argTypes[index] = transposed;
      for (Operation *user : arg.getUsers())
        cast<LinearOp>(user).setTransposeWeight(true);
      func.setArgAttr(index, "xf.weight_transform",
                      builder.getStringAttr("transpose"));
    }
    func.setFunctionType(
        builder.getFunctionType(argTypes, func.getResultTypes()));
  }
};

} // namespace
