//===- GpuKernelPlan.cpp - The fusion plan's kernels as tuned kernels -----===//
//
// Part of xfc. See GpuCodegen.h (outlineTunedKernels, launchTunedKernels).
// A kernel of the fusion plan that a tuned device kernel of GpuKernels.h
// computes is taken out of the generic mapping in two steps:
//
//   1. on xf ops (after the model stage), the op moves into a private
//      function of its own, called where it was. Bufferization then gives
//      the call identity-layout buffers, the result an out-parameter that
//      xf-plan-memory places in the arena, like any other buffer;
//   2. after bufferization, each call becomes a gpu.launch_func of the
//      tuned kernel (its launch contract: grid, block, arguments), and the
//      private function goes. What is left is mapped generically.
//
// Moving the op into a function, rather than matching the loops it lowers
// to, keeps the kernel's operands explicit (which buffer is the weight,
// the bias, the residual) whatever bufferization does around it.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/GpuCodegen.h"
#include "xfc/Compiler/GpuKernels.h"

#include "xf/Dialect/XF/XFOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"

namespace xfc {

namespace {

constexpr llvm::StringLiteral kTunedAttr = "xf.gpu_tuned";

/// The f32 GEMM's shape rules (GpuKernels.h): N a multiple of 64, K of 16.
constexpr int64_t kGemmTileN = 64, kGemmTileK = 16;

int64_t rowsOf(mlir::RankedTensorType type) {
  return type.getNumElements() / type.getShape().back();
}

/// The tuned kernel that computes `op`, as the attribute recorded on its
/// private function, or null when none fits.
mlir::DictionaryAttr tunedKernelFor(mlir::Operation *op) {
  mlir::Builder b(op->getContext());
  if (auto linear = llvm::dyn_cast<mlir::xf::LinearOp>(op)) {
    auto input =
        llvm::dyn_cast<mlir::RankedTensorType>(linear.getInput().getType());
    auto result = llvm::dyn_cast<mlir::RankedTensorType>(linear.getType());
    if (!input || !result || !input.hasStaticShape() ||
        !result.hasStaticShape() || !linear.getTransposeWeight() ||
        linear.getWeightPanel() || !linear.getBias())
      return nullptr;
    int64_t k = input.getShape().back(), n = result.getShape().back();
    if (n % kGemmTileN != 0 || k % kGemmTileK != 0)
      return nullptr;
    std::string activation = "none";
    if (auto kind = linear.getActivation()) {
      switch (*kind) {
      case mlir::xf::ActivationKind::relu:
        activation = "relu";
        break;
      case mlir::xf::ActivationKind::gelu:
        activation = "gelu";
        break;
      case mlir::xf::ActivationKind::gelu_tanh:
        activation = "gelu_tanh";
        break;
      }
    }
    return b.getDictionaryAttr(
        {b.getNamedAttr("kind", b.getStringAttr("gemm")),
         b.getNamedAttr("m", b.getI64IntegerAttr(rowsOf(input))),
         b.getNamedAttr("n", b.getI64IntegerAttr(n)),
         b.getNamedAttr("k", b.getI64IntegerAttr(k)),
         b.getNamedAttr("activation", b.getStringAttr(activation)),
         b.getNamedAttr("residual",
                        b.getBoolAttr(bool(linear.getResidual())))});
  }
  if (auto norm = llvm::dyn_cast<mlir::xf::LayerNormOp>(op)) {
    auto input =
        llvm::dyn_cast<mlir::RankedTensorType>(norm.getInput().getType());
    // The tuned kernel is residual + LayerNorm with one result.
    if (!input || !input.hasStaticShape() || !norm.getResidual() ||
        norm.getSum())
      return nullptr;
    return b.getDictionaryAttr(
        {b.getNamedAttr("kind", b.getStringAttr("layer_norm")),
         b.getNamedAttr("rows", b.getI64IntegerAttr(rowsOf(input))),
         b.getNamedAttr("dim", b.getI64IntegerAttr(input.getShape().back())),
         b.getNamedAttr("epsilon", b.getF64FloatAttr(
                                       norm.getEpsilon().convertToDouble()))});
  }
  return nullptr;
}

int64_t intOf(mlir::DictionaryAttr attr, llvm::StringRef name) {
  return llvm::cast<mlir::IntegerAttr>(attr.get(name)).getInt();
}

} // namespace

bool outlineTunedKernels(mlir::ModuleOp module, std::string &error) {
  auto model = module.lookupSymbol<mlir::func::FuncOp>("xf_model");
  if (!model) {
    error = "the tuned kernels' outlining found no func.func @xf_model";
    return false;
  }
  llvm::SmallVector<std::pair<mlir::Operation *, mlir::DictionaryAttr>> ops;
  model.walk([&](mlir::Operation *op) {
    if (mlir::DictionaryAttr tuned = tunedKernelFor(op))
      ops.emplace_back(op, tuned);
  });
  mlir::SymbolTable symbols(module);
  mlir::OpBuilder builder(module.getContext());
  int index = 0;
  for (auto [op, tuned] : ops) {
    mlir::Location loc = op->getLoc();
    builder.setInsertionPoint(model);
    auto type =
        builder.getFunctionType(op->getOperandTypes(), op->getResultTypes());
    auto callee = mlir::func::FuncOp::create(
        builder, loc, "xf_tuned_" + std::to_string(index++), type);
    callee.setPrivate();
    callee->setAttr(kTunedAttr, tuned);
    symbols.insert(callee);
    mlir::Block *body = callee.addEntryBlock();
    mlir::OpBuilder inside = mlir::OpBuilder::atBlockEnd(body);
    mlir::IRMapping mapping;
    mapping.map(op->getOperands(), body->getArguments());
    mlir::Operation *copy = inside.clone(*op, mapping);
    mlir::func::ReturnOp::create(inside, loc, copy->getResults());
    builder.setInsertionPoint(op);
    auto call =
        mlir::func::CallOp::create(builder, loc, callee, op->getOperands());
    op->replaceAllUsesWith(call.getResults());
    op->erase();
  }
  return true;
}

bool launchTunedKernels(mlir::ModuleOp module, std::string &error) {
  llvm::SmallVector<mlir::func::CallOp> calls;
  module.walk([&](mlir::func::CallOp call) {
    auto callee = module.lookupSymbol<mlir::func::FuncOp>(call.getCallee());
    if (callee && callee->hasAttr(kTunedAttr))
      calls.push_back(call);
  });
  if (calls.empty())
    return true;
  // One kernel per call, in a gpu.module of their own (gathered with the
  // generic kernels later).
  GpuKernelSet set;
  set.moduleName = "xf_tuned";
  struct Pending {
    mlir::func::CallOp call;
    bool gemm;
  };
  std::vector<Pending> pending;
  for (mlir::func::CallOp call : calls) {
    auto callee = module.lookupSymbol<mlir::func::FuncOp>(call.getCallee());
    auto tuned = callee->getAttrOfType<mlir::DictionaryAttr>(kTunedAttr);
    std::string name = "xf_tuned_kernel_" + std::to_string(pending.size());
    auto kind = tuned.getAs<mlir::StringAttr>("kind").getValue();
    if (kind == "gemm") {
      GpuGemmSpec gemm;
      gemm.name = name;
      gemm.m = intOf(tuned, "m");
      gemm.n = intOf(tuned, "n");
      gemm.k = intOf(tuned, "k");
      gemm.input = GpuGemmInput::F32;
      llvm::StringRef activation =
          tuned.getAs<mlir::StringAttr>("activation").getValue();
      gemm.activation = activation == "relu"        ? GpuActivation::Relu
                        : activation == "gelu"      ? GpuActivation::GeluErf
                        : activation == "gelu_tanh" ? GpuActivation::GeluTanh
                                                    : GpuActivation::None;
      gemm.residual = tuned.getAs<mlir::BoolAttr>("residual").getValue();
      set.gemms.push_back(gemm);
      pending.push_back({call, true});
    } else {
      GpuLayerNormSpec norm;
      norm.name = name;
      norm.rows = intOf(tuned, "rows");
      norm.dim = intOf(tuned, "dim");
      norm.epsilon = float(
          llvm::cast<mlir::FloatAttr>(tuned.get("epsilon")).getValueAsDouble());
      set.layerNorms.push_back(norm);
      pending.push_back({call, false});
    }
  }
  std::vector<GpuKernelLaunch> launches;
  if (!buildGpuKernels(module, set, launches, error))
    return false;
  // buildGpuKernels lists the GEMMs' contracts first, then the norms'.
  std::vector<const GpuKernelLaunch *> contractOf;
  size_t nextGemm = 0, nextNorm = set.gemms.size();
  for (const Pending &p : pending)
    contractOf.push_back(&launches[p.gemm ? nextGemm++ : nextNorm++]);

  auto kernels = module.lookupSymbol<mlir::gpu::GPUModuleOp>(set.moduleName);
  mlir::OpBuilder builder(module.getContext());
  llvm::SetVector<mlir::Operation *> callees;
  for (size_t i = 0; i < pending.size(); ++i) {
    mlir::func::CallOp call = pending[i].call;
    const GpuKernelLaunch &contract = *contractOf[i];
    auto kernel = kernels.lookupSymbol<mlir::gpu::GPUFuncOp>(contract.kernel);
    // The call's buffers: gemm (input, weight, bias, [residual], out),
    // norm (input, gamma, beta, residual, out); the kernels take gemm
    // (A, B, bias, [residual], C) and norm (x, r, gamma, beta, y).
    llvm::SmallVector<mlir::Value> buffers(call.getOperands());
    if (!pending[i].gemm)
      buffers = {buffers[0], buffers[3], buffers[1], buffers[2], buffers[4]};
    if (buffers.size() != kernel.getNumArguments()) {
      error = "the tuned kernel " + contract.kernel + " takes " +
              std::to_string(kernel.getNumArguments()) + " buffers; its call " +
              "has " + std::to_string(buffers.size());
      return false;
    }
    builder.setInsertionPoint(call);
    mlir::Location loc = call.getLoc();
    llvm::SmallVector<mlir::Value> operands;
    for (auto [buffer, type] : llvm::zip(buffers, kernel.getArgumentTypes())) {
      auto from = llvm::cast<mlir::MemRefType>(buffer.getType());
      auto to = llvm::cast<mlir::MemRefType>(type);
      if (from == to) {
        operands.push_back(buffer);
        continue;
      }
      // The same contiguous bytes in the kernel's shape ([B, S, D] as
      // [B S, D]); bufferization gave the call identity layouts.
      if (!from.getLayout().isIdentity() ||
          from.getNumElements() != to.getNumElements()) {
        error = "the tuned kernel " + contract.kernel +
                " cannot take a buffer of another size or a strided one";
        return false;
      }
      llvm::SmallVector<int64_t> strides(to.getRank(), 1);
      for (int64_t d = to.getRank() - 2; d >= 0; --d)
        strides[d] = strides[d + 1] * to.getShape()[d + 1];
      operands.push_back(mlir::memref::ReinterpretCastOp::create(
          builder, loc, to, buffer, /*offset=*/0, to.getShape(), strides));
    }
    auto index = [&](int64_t v) -> mlir::Value {
      return mlir::arith::ConstantIndexOp::create(builder, loc, v);
    };
    mlir::gpu::KernelDim3 grid{index(contract.grid[0]), index(contract.grid[1]),
                               index(contract.grid[2])};
    mlir::gpu::KernelDim3 block{index(contract.block[0]),
                                index(contract.block[1]),
                                index(contract.block[2])};
    mlir::Value shared = contract.dynamicSharedBytes
                             ? mlir::Value(mlir::arith::ConstantIntOp::create(
                                   builder, loc, builder.getI32Type(),
                                   contract.dynamicSharedBytes))
                             : mlir::Value();
    mlir::gpu::LaunchFuncOp::create(builder, loc, kernel, grid, block, shared,
                                    operands);
    callees.insert(module.lookupSymbol(call.getCallee()));
    call.erase();
  }
  for (mlir::Operation *callee : callees)
    callee->erase();
  return true;
}

} // namespace xfc
