//===- KernelEmulator.h - Device kernels' MLIR run on the CPU ---*- C++ -*-===//
//
// Part of xfc. A small emulator of the kernels compiler/lib/GpuKernels.cpp
// generates: it runs a gpu.func's MLIR (the very ops that are lowered to
// PTX) for every block of the grid, the threads of a block in lockstep.
// Shared by the kernels' own tests (GpuKernelsEmulationTest.cpp) and the
// GPU goldens (tests/e2e/GpuGoldenTest.cpp), which run whole models' tuned
// kernels through it. Header-only: it is test code.
//
// The emulator knows exactly the ops the generator writes. Warp-wide ops
// follow the PTX ISA: ldmatrix hands lane t row t / 4, columns 2 (t % 4)
// and 2 (t % 4) + 1 of each 8x8 matrix (the transpose with rows and columns
// swapped), with the 8 row addresses of matrix i from lanes 8 i .. 8 i + 7;
// mma.sync m16n8k16 takes A (row-major 16x16) as a0..a3 = (g, 2c), (g + 8,
// 2c), (g, 2c + 8), (g + 8, 2c + 8) pairs, B (16x8) as b0, b1 = (2c, g),
// (2c + 8, g) pairs and C as (g, 2c), (g, 2c + 1), (g + 8, 2c),
// (g + 8, 2c + 1), with g = lane / 4 and c = lane % 4. So what it checks is
// everything the generator decides (tiling, staging, fragment addresses,
// barriers, epilogue, ragged rows, reductions) against that reading of the
// ISA; every memory access is bounds-checked, shared memory starts as NaN
// (a read before a write shows), and a barrier or warp-wide op reached by
// only some threads is an error. An asynchronous copy (cp.async) lands in
// shared memory only when its thread waits for its group
// (cp.async.wait_group), and touching its destination before then is an
// error, so a pipeline that reads a stage too early, or refills one that
// others still read, fails here as it would race on the GPU. Conversions to f16
// and bf16 round to nearest even, as cvt.rn does, conversions to TF32 to
// nearest with ties away from zero, as cvt.rna does, and ex2.approx is taken as
// exact.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_UNIT_GPU_KERNELEMULATOR_H
#define XFC_TESTS_UNIT_GPU_KERNELEMULATOR_H

#include "xfc/Compiler/GpuKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace xfc::test {

using xfc::GpuKernelLaunch;

/// One thread's value of an SSA value: a scalar, the elements of a vector
/// (row-major), the 4 f32 of an mma.sync accumulator, or the 2 halves
/// packed in an i32.
using Val = llvm::SmallVector<double, 8>;

/// A memref's data, row-major. Shared memory also records, per element,
/// the barrier interval ("epoch") and thread of its last write and read,
/// to find accesses that only a missing barrier would order.
struct Buffer {
  std::vector<double> data;
  std::vector<int64_t> shape;
  bool shared = false;
  std::vector<int64_t> writeEpoch, readEpoch;
  std::vector<int> writer, reader; ///< reader -2: several threads.
  /// Shared memory only: elements an unfinished cp.async will write.
  std::vector<char> inFlight;
};

/// Runs a gpu.func of a gpu.module, one block at a time, its threads in
/// lockstep: each op runs for every active thread before the next.
class Emulator {
public:
  explicit Emulator(mlir::gpu::GPUModuleOp module) : module(module) {}

  /// Runs kernel `launch.kernel` over its grid with `args` bound to its
  /// arguments in order. False with `error` on an access out of bounds, a
  /// divergent barrier or an op the emulator does not know.
  bool run(const GpuKernelLaunch &launch, std::vector<Buffer *> args,
           std::string &errorOut) {
    auto kernel = module.lookupSymbol<mlir::gpu::GPUFuncOp>(launch.kernel);
    if (!kernel) {
      errorOut = "no kernel " + launch.kernel;
      return false;
    }
    threads = launch.block[0];
    for (size_t i = 0; i < args.size(); ++i)
      buffers[kernel.getArgument(i)] = args[i];
    for (blockZ = 0; blockZ < launch.grid[2]; ++blockZ)
      for (blockY = 0; blockY < launch.grid[1]; ++blockY)
        for (blockX = 0; blockX < launch.grid[0]; ++blockX) {
          // Shared memory is fresh per block, and NaN until written.
          std::vector<Buffer> shared;
          shared.reserve(kernel.getWorkgroupAttributions().size());
          for (mlir::BlockArgument tile : kernel.getWorkgroupAttributions()) {
            auto type = llvm::cast<mlir::MemRefType>(tile.getType());
            Buffer buffer;
            buffer.shape.assign(type.getShape().begin(), type.getShape().end());
            buffer.data.assign(type.getNumElements(),
                               std::numeric_limits<double>::quiet_NaN());
            buffer.shared = true;
            buffer.writeEpoch.assign(type.getNumElements(), -1);
            buffer.readEpoch.assign(type.getNumElements(), -1);
            buffer.writer.assign(type.getNumElements(), -1);
            buffer.reader.assign(type.getNumElements(), -1);
            buffer.inFlight.assign(type.getNumElements(), 0);
            shared.push_back(std::move(buffer));
            buffers[tile] = &shared.back();
          }
          epoch = 0;
          uncommitted.assign(threads, {});
          groups.assign(threads, {});
          runBlock(kernel.getBody().front(), Mask(threads, true));
          if (!error.empty()) {
            errorOut = "block (" + std::to_string(blockX) + ", " +
                       std::to_string(blockY) + ", " + std::to_string(blockZ) +
                       "): " + error;
            return false;
          }
        }
    return true;
  }

private:
  using Mask = std::vector<bool>;

  std::vector<Val> &def(mlir::Value value) {
    std::vector<Val> &slot = values[value];
    slot.resize(threads);
    return slot;
  }
  const Val &get(mlir::Value value, int t) { return values[value][t]; }
  double scalar(mlir::Value value, int t) { return get(value, t)[0]; }

  void fail(const std::string &what) {
    if (error.empty())
      error = what;
  }

  /// The first of `count` elements at `indices` of `memref` that thread
  /// `t` reads (or writes), or null after an out-of-bounds access or a
  /// race on shared memory.
  double *at(mlir::Value memref, mlir::ValueRange indices, int t, int64_t count,
             bool write = false) {
    Buffer *buffer = buffers.lookup(memref);
    if (!buffer || buffer->shape.size() != indices.size()) {
      fail("a memref the emulator does not hold");
      return nullptr;
    }
    int64_t offset = 0;
    for (size_t d = 0; d < indices.size(); ++d) {
      int64_t index = int64_t(scalar(indices[d], t));
      int64_t extent = d + 1 == indices.size() ? index + count : index + 1;
      if (index < 0 || extent > buffer->shape[d]) {
        fail("thread " + std::to_string(t) + " accesses index " +
             std::to_string(index) + " (" + std::to_string(count) +
             " elements) of dimension " + std::to_string(d) + " of size " +
             std::to_string(buffer->shape[d]));
        return nullptr;
      }
      offset = offset * buffer->shape[d] + index;
    }
    for (int64_t e = offset; buffer->shared && e < offset + count; ++e) {
      if (buffer->inFlight[e]) {
        fail("thread " + std::to_string(t) + (write ? " writes" : " reads") +
             " element " + std::to_string(e) +
             " of shared memory before the cp.async that writes it is "
             "waited for");
        return nullptr;
      }
      bool otherWrote =
          buffer->writeEpoch[e] == epoch && buffer->writer[e] != t;
      bool otherRead = buffer->readEpoch[e] == epoch && buffer->reader[e] != t;
      if (otherWrote || (write && otherRead)) {
        fail("race on shared memory: thread " + std::to_string(t) +
             (write ? " writes" : " reads") + " element " + std::to_string(e) +
             (otherWrote ? " written" : " read") +
             " by another thread since the last barrier");
        return nullptr;
      }
      if (write) {
        buffer->writeEpoch[e] = epoch;
        buffer->writer[e] = t;
      } else {
        buffer->reader[e] = buffer->readEpoch[e] == epoch ? -2 : t;
        buffer->readEpoch[e] = epoch;
      }
    }
    return buffer->data.data() + offset;
  }

  /// Requires every thread of `mask` (or of each warp, for warp-wide ops)
  /// to be active.
  bool converged(const Mask &mask, const char *what, int first = 0,
                 int count = -1) {
    if (count < 0)
      count = threads;
    for (int t = first; t < first + count; ++t)
      if (!mask[t]) {
        fail(std::string(what) + " reached by only some threads");
        return false;
      }
    return true;
  }

  void runBlock(mlir::Block &block, const Mask &mask) {
    for (mlir::Operation &op : block) {
      if (op.hasTrait<mlir::OpTrait::IsTerminator>() || !error.empty())
        return;
      runOp(op, mask);
    }
  }

  /// Runs `body` with `mask` after binding its arguments to `inputs`, and
  /// returns its terminator's operands.
  mlir::OperandRange call(mlir::Block &body, mlir::ValueRange inputs,
                          const Mask &mask) {
    for (auto [arg, input] : llvm::zip(body.getArguments(), inputs))
      for (int t = 0; t < threads; ++t)
        if (mask[t])
          def(arg)[t] = get(input, t);
    runBlock(body, mask);
    return body.getTerminator()->getOperands();
  }

  template <typename F>
  void forEach(const Mask &mask, mlir::Value result, F compute) {
    std::vector<Val> &out = def(result);
    for (int t = 0; t < threads; ++t)
      if (mask[t])
        out[t] = compute(t);
  }

  /// Elementwise f32 arithmetic, rounded to f32 as the GPU does.
  template <typename F>
  void elementwise(mlir::Operation &op, const Mask &mask, F f) {
    forEach(mask, op.getResult(0), [&](int t) {
      Val out = get(op.getOperand(0), t);
      for (size_t e = 0; e < out.size(); ++e) {
        float a = float(get(op.getOperand(0), t)[e]);
        float b =
            op.getNumOperands() > 1 ? float(get(op.getOperand(1), t)[e]) : 0.0f;
        float c =
            op.getNumOperands() > 2 ? float(get(op.getOperand(2), t)[e]) : 0.0f;
        out[e] = f(a, b, c);
      }
      return out;
    });
  }

  void runOp(mlir::Operation &op, const Mask &mask) {
    llvm::StringRef name = op.getName().getStringRef();
    if (auto constant = llvm::dyn_cast<mlir::arith::ConstantOp>(op)) {
      Val v;
      mlir::Attribute value = constant.getValue();
      if (auto i = llvm::dyn_cast<mlir::IntegerAttr>(value))
        v = {double(i.getInt())};
      else if (auto f = llvm::dyn_cast<mlir::FloatAttr>(value))
        v = {double(float(f.getValueAsDouble()))};
      else if (auto dense = llvm::dyn_cast<mlir::DenseElementsAttr>(value);
               dense && dense.isSplat())
        v.assign(dense.getNumElements(),
                 dense.getSplatValue<llvm::APFloat>().convertToDouble());
      else
        return fail("a constant the emulator does not know");
      return forEach(mask, op.getResult(0), [&](int) { return v; });
    }
    if (auto id = llvm::dyn_cast<mlir::gpu::ThreadIdOp>(op))
      return forEach(mask, id->getResult(0),
                     [&](int t) { return Val{double(t)}; });
    if (auto id = llvm::dyn_cast<mlir::gpu::BlockIdOp>(op))
      return forEach(mask, id->getResult(0), [&](int) {
        mlir::gpu::Dimension dimension = id.getDimension();
        return Val{double(dimension == mlir::gpu::Dimension::x   ? blockX
                          : dimension == mlir::gpu::Dimension::y ? blockY
                                                                 : blockZ)};
      });
    if (name == "arith.index_cast") // i32 <-> index: the same integer.
      return forEach(mask, op.getResult(0),
                     [&](int t) { return get(op.getOperand(0), t); });
    if (name == "arith.minsi" || name == "arith.maxsi")
      return forEach(mask, op.getResult(0), [&](int t) {
        int64_t a = int64_t(scalar(op.getOperand(0), t));
        int64_t b = int64_t(scalar(op.getOperand(1), t));
        return Val{
            double(name == "arith.minsi" ? std::min(a, b) : std::max(a, b))};
      });
    if (auto select = llvm::dyn_cast<mlir::arith::SelectOp>(op))
      return forEach(mask, select->getResult(0), [&](int t) {
        return get(scalar(select.getCondition(), t) != 0
                       ? select.getTrueValue()
                       : select.getFalseValue(),
                   t);
      });
    if (auto cmp = llvm::dyn_cast<mlir::arith::CmpFOp>(op)) {
      using P = mlir::arith::CmpFPredicate;
      P predicate = cmp.getPredicate();
      if (predicate != P::OEQ && predicate != P::OGT)
        return fail("a cmpf predicate the emulator does not know");
      return forEach(mask, cmp->getResult(0), [&](int t) {
        double a = scalar(cmp.getLhs(), t), b = scalar(cmp.getRhs(), t);
        return Val{double(predicate == P::OEQ ? a == b : a > b)};
      });
    }
    if (auto truncate = llvm::dyn_cast<mlir::arith::TruncFOp>(op)) {
      // f32 to f16 or bf16, rounded to nearest even as cvt.rn does.
      const llvm::fltSemantics &semantics =
          llvm::cast<mlir::FloatType>(
              mlir::getElementTypeOrSelf(truncate.getType()))
              .getFloatSemantics();
      return forEach(mask, truncate->getResult(0), [&](int t) {
        Val out = get(truncate.getIn(), t);
        for (double &x : out) {
          llvm::APFloat value(static_cast<float>(x));
          bool lost;
          value.convert(semantics, llvm::APFloat::rmNearestTiesToEven, &lost);
          value.convert(llvm::APFloat::IEEEdouble(),
                        llvm::APFloat::rmNearestTiesToEven, &lost);
          x = value.convertToDouble();
        }
        return out;
      });
    }
    if (auto convert = llvm::dyn_cast<mlir::NVVM::ConvertFloatToTF32Op>(op)) {
      // cvt.rna.tf32.f32: 10 mantissa bits, to nearest with ties away from
      // zero (adding half of the dropped bits' weight to the magnitude).
      // The i32 result is kept as the value it encodes.
      if (convert.getRnd() != mlir::NVVM::FPRoundingMode::RNA)
        return fail("a TF32 conversion that does not round to nearest, ties "
                    "away");
      return forEach(mask, convert.getResult(), [&](int t) {
        float x = float(scalar(convert.getSrc(), t));
        uint32_t bits;
        std::memcpy(&bits, &x, sizeof bits);
        if (std::isfinite(x))
          bits = (bits + 0x1000u) & ~0x1FFFu;
        std::memcpy(&x, &bits, sizeof bits);
        return Val{double(x)};
      });
    }
    if (name == "arith.addi" || name == "arith.subi" || name == "arith.muli" ||
        name == "arith.divui" || name == "arith.remui")
      return forEach(mask, op.getResult(0), [&](int t) {
        int64_t a = int64_t(scalar(op.getOperand(0), t));
        int64_t b = int64_t(scalar(op.getOperand(1), t));
        if ((name == "arith.divui" || name == "arith.remui") && b == 0)
          fail("division by zero");
        int64_t r = name == "arith.addi"    ? a + b
                    : name == "arith.subi"  ? a - b
                    : name == "arith.muli"  ? a * b
                    : b == 0                ? 0
                    : name == "arith.divui" ? uint64_t(a) / uint64_t(b)
                                            : uint64_t(a) % uint64_t(b);
        return Val{double(r)};
      });
    if (name == "arith.andi" || name == "arith.ori" || name == "arith.shrui")
      return forEach(mask, op.getResult(0), [&](int t) {
        // On the bits of the type's width (i1, i32 or index), kept as the
        // signed value: i32 -1 stays -1.
        unsigned width =
            mlir::getElementTypeOrSelf(op.getResult(0).getType()).isIndex()
                ? 64
                : mlir::getElementTypeOrSelf(op.getResult(0).getType())
                      .getIntOrFloatBitWidth();
        uint64_t bits = width == 64 ? ~uint64_t(0) : (uint64_t(1) << width) - 1;
        uint64_t a = uint64_t(int64_t(scalar(op.getOperand(0), t))) & bits;
        uint64_t b = uint64_t(int64_t(scalar(op.getOperand(1), t))) & bits;
        uint64_t r = name == "arith.andi"  ? a & b
                     : name == "arith.ori" ? a | b
                     : b >= width          ? 0
                                           : a >> b;
        if (width > 1 && width < 64 && (r >> (width - 1)) & 1)
          return Val{double(int64_t(r) - (int64_t(1) << width))};
        return Val{double(r)};
      });
    if (auto cmp = llvm::dyn_cast<mlir::arith::CmpIOp>(op))
      return forEach(mask, cmp->getResult(0), [&](int t) {
        int64_t a = int64_t(scalar(cmp.getLhs(), t));
        int64_t b = int64_t(scalar(cmp.getRhs(), t));
        uint64_t ua = uint64_t(a), ub = uint64_t(b);
        using P = mlir::arith::CmpIPredicate;
        switch (cmp.getPredicate()) {
        case P::eq:
          return Val{double(a == b)};
        case P::ne:
          return Val{double(a != b)};
        case P::slt:
          return Val{double(a < b)};
        case P::sle:
          return Val{double(a <= b)};
        case P::sgt:
          return Val{double(a > b)};
        case P::sge:
          return Val{double(a >= b)};
        case P::ult:
          return Val{double(ua < ub)};
        case P::ule:
          return Val{double(ua <= ub)};
        case P::ugt:
          return Val{double(ua > ub)};
        case P::uge:
          return Val{double(ua >= ub)};
        }
        return Val{0.0};
      });
    if (name == "arith.addf")
      return elementwise(op, mask,
                         [](float a, float b, float) { return a + b; });
    if (name == "arith.subf")
      return elementwise(op, mask,
                         [](float a, float b, float) { return a - b; });
    if (name == "arith.mulf")
      return elementwise(op, mask,
                         [](float a, float b, float) { return a * b; });
    if (name == "arith.divf")
      return elementwise(op, mask,
                         [](float a, float b, float) { return a / b; });
    if (name == "arith.maximumf")
      return elementwise(op, mask, [](float a, float b, float) {
        return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
      });
    if (name == "math.erf")
      return elementwise(op, mask,
                         [](float a, float, float) { return std::erf(a); });
    if (name == "math.fma" || name == "vector.fma")
      return elementwise(op, mask, [](float a, float b, float c) {
        return std::fma(a, b, c);
      });
    if (auto asmOp = llvm::dyn_cast<mlir::LLVM::InlineAsmOp>(op)) {
      llvm::StringRef text = asmOp.getAsmString();
      if (text.starts_with("ex2.approx.f32"))
        return elementwise(op, mask,
                           [](float a, float, float) { return std::exp2(a); });
      if (text.starts_with("sqrt.rn.f32"))
        return elementwise(op, mask,
                           [](float a, float, float) { return std::sqrt(a); });
      return fail("inline assembly the emulator does not know: " + text.str());
    }
    if (auto broadcast = llvm::dyn_cast<mlir::vector::BroadcastOp>(op))
      return forEach(mask, broadcast->getResult(0), [&](int t) {
        return Val(broadcast.getResultVectorType().getNumElements(),
                   scalar(broadcast.getSource(), t));
      });
    if (llvm::isa<mlir::vector::FromElementsOp>(op))
      return forEach(mask, op.getResult(0), [&](int t) {
        Val out;
        for (mlir::Value element : op.getOperands())
          out.push_back(scalar(element, t));
        return out;
      });
    if (auto extract = llvm::dyn_cast<mlir::vector::ExtractOp>(op)) {
      if (!extract.getDynamicPosition().empty())
        return fail("a dynamic vector.extract");
      llvm::ArrayRef<int64_t> shape = extract.getSourceVectorType().getShape();
      llvm::ArrayRef<int64_t> position = extract.getStaticPosition();
      int64_t count = 1, offset = 0;
      for (size_t d = position.size(); d < shape.size(); ++d)
        count *= shape[d];
      // Row-major offset of the position, in units of `count`.
      for (size_t d = 0; d < position.size(); ++d)
        offset = offset * shape[d] + position[d];
      offset *= count;
      return forEach(mask, extract->getResult(0), [&](int t) {
        const Val &source = get(extract.getSource(), t);
        return Val(source.begin() + offset, source.begin() + offset + count);
      });
    }
    if (auto get = llvm::dyn_cast<mlir::memref::GetGlobalOp>(op)) {
      // A constant array of the module, read once.
      auto global = module.lookupSymbol<mlir::memref::GlobalOp>(get.getName());
      auto values = global ? llvm::dyn_cast_or_null<mlir::DenseIntElementsAttr>(
                                 global.getInitialValueAttr())
                           : nullptr;
      if (!values || !global.getConstant())
        return fail("memref.get_global of no constant integer array");
      Buffer &buffer = constants[get.getName().str()];
      if (buffer.data.empty()) {
        buffer.shape.assign(get.getType().getShape().begin(),
                            get.getType().getShape().end());
        for (const llvm::APInt &v : values.getValues<llvm::APInt>())
          buffer.data.push_back(double(v.getSExtValue()));
      }
      buffers[get.getResult()] = &buffer;
      return;
    }
    if (auto load = llvm::dyn_cast<mlir::vector::LoadOp>(op)) {
      int64_t count = load.getVectorType().getNumElements();
      return forEach(mask, load->getResult(0), [&](int t) {
        double *p = at(load.getBase(), load.getIndices(), t, count);
        return p ? Val(p, p + count) : Val(count, NAN);
      });
    }
    if (auto store = llvm::dyn_cast<mlir::vector::StoreOp>(op)) {
      for (int t = 0; t < threads; ++t) {
        if (!mask[t])
          continue;
        const Val &v = get(store.getValueToStore(), t);
        if (double *p =
                at(store.getBase(), store.getIndices(), t, v.size(), true))
          std::copy(v.begin(), v.end(), p);
      }
      return;
    }
    if (auto load = llvm::dyn_cast<mlir::memref::LoadOp>(op))
      return forEach(mask, load->getResult(0), [&](int t) {
        double *p = at(load.getMemRef(), load.getIndices(), t, 1);
        return Val{p ? *p : NAN};
      });
    if (auto store = llvm::dyn_cast<mlir::memref::StoreOp>(op)) {
      for (int t = 0; t < threads; ++t)
        if (mask[t])
          if (double *p = at(store.getMemRef(), store.getIndices(), t, 1, true))
            *p = scalar(store.getValueToStore(), t);
      return;
    }
    if (llvm::isa<mlir::LLVM::ZeroOp>(op))
      return forEach(mask, op.getResult(0), [](int) { return Val(4, 0.0); });
    if (auto extract = llvm::dyn_cast<mlir::LLVM::ExtractValueOp>(op))
      return forEach(mask, extract->getResult(0), [&](int t) {
        return Val{get(extract.getContainer(), t)[extract.getPosition()[0]]};
      });
    if (llvm::isa<mlir::LLVM::BitcastOp>(op)) // 2 x bf16 as an i32
      return forEach(mask, op.getResult(0),
                     [&](int t) { return get(op.getOperand(0), t); });
    if (llvm::isa<mlir::gpu::BarrierOp>(op)) {
      converged(mask, "gpu.barrier");
      ++epoch;
      return;
    }
    if (auto shuffle = llvm::dyn_cast<mlir::gpu::ShuffleOp>(op)) {
      if (shuffle.getMode() != mlir::gpu::ShuffleMode::XOR)
        return fail("a shuffle mode the emulator does not know");
      for (int w = 0; w < threads; w += 32)
        if (mask[w] && !converged(mask, "gpu.shuffle", w, 32))
          return;
      forEach(mask, shuffle.getShuffleResult(), [&](int t) {
        int offset = int(scalar(shuffle.getOffset(), t));
        return get(shuffle.getValue(), (t & ~31) | ((t & 31) ^ offset));
      });
      return forEach(mask, shuffle.getValid(), [](int) { return Val{1.0}; });
    }
    if (auto callOp = llvm::dyn_cast<mlir::func::CallOp>(op)) {
      auto callee = module.lookupSymbol<mlir::func::FuncOp>(callOp.getCallee());
      if (!callee)
        return fail("a call to an unknown function");
      mlir::OperandRange results =
          call(callee.getBody().front(), callOp.getOperands(), mask);
      if (!error.empty())
        return;
      for (unsigned i = 0; i < results.size(); ++i) {
        mlir::Value value = results[i];
        forEach(mask, callOp.getResult(i),
                [&](int t) { return get(value, t); });
      }
      return;
    }
    if (auto forOp = llvm::dyn_cast<mlir::scf::ForOp>(op))
      return runFor(forOp, mask);
    if (auto ifOp = llvm::dyn_cast<mlir::scf::IfOp>(op))
      return runIf(ifOp, mask);
    if (auto ldmatrix = llvm::dyn_cast<mlir::nvgpu::LdMatrixOp>(op))
      return runLdMatrix(ldmatrix, mask);
    if (auto copy = llvm::dyn_cast<mlir::nvgpu::DeviceAsyncCopyOp>(op))
      return runAsyncCopy(copy, mask);
    if (llvm::isa<mlir::nvgpu::DeviceAsyncCreateGroupOp>(op)) {
      // cp.async.commit_group: the thread's copies so far form a group
      // (possibly empty), whatever tokens the op names.
      for (int t = 0; t < threads; ++t)
        if (mask[t]) {
          groups[t].push_back(std::move(uncommitted[t]));
          uncommitted[t].clear();
        }
      return forEach(mask, op.getResult(0), [](int) { return Val{0.0}; });
    }
    if (auto wait = llvm::dyn_cast<mlir::nvgpu::DeviceAsyncWaitOp>(op)) {
      // cp.async.wait_group N: all but the N most recent groups land.
      size_t pending = wait.getNumGroups().value_or(0);
      for (int t = 0; t < threads; ++t)
        while (mask[t] && groups[t].size() > pending) {
          for (AsyncCopy &copy : groups[t].front())
            for (size_t e = 0; e < copy.values.size(); ++e) {
              int64_t element = copy.offset + int64_t(e);
              copy.buffer->inFlight[element] = 0;
              copy.buffer->data[element] = copy.values[e];
              copy.buffer->writeEpoch[element] = epoch;
              copy.buffer->writer[element] = t;
            }
          groups[t].erase(groups[t].begin());
        }
      return;
    }
    if (auto mma = llvm::dyn_cast<mlir::NVVM::MmaOp>(op))
      return runMma(mma, mask);
    fail("an op the emulator does not know: " + name.str());
  }

  void runFor(mlir::scf::ForOp forOp, const Mask &mask) {
    mlir::Block &body = *forOp.getBody();
    std::vector<int64_t> iv(threads);
    for (int t = 0; t < threads; ++t)
      if (mask[t]) {
        iv[t] = int64_t(scalar(forOp.getLowerBound(), t));
        for (auto [arg, init] :
             llvm::zip(forOp.getRegionIterArgs(), forOp.getInitArgs()))
          def(arg)[t] = get(init, t);
      }
    while (error.empty()) {
      Mask active(threads, false);
      bool any = false;
      for (int t = 0; t < threads; ++t)
        if (mask[t] && iv[t] < int64_t(scalar(forOp.getUpperBound(), t))) {
          active[t] = any = true;
          def(forOp.getInductionVar())[t] = Val{double(iv[t])};
        }
      if (!any)
        break;
      runBlock(body, active);
      if (!error.empty()) // The body's values may be missing.
        return;
      mlir::Operation *yield = body.getTerminator();
      for (int t = 0; t < threads; ++t) {
        if (!active[t])
          continue;
        // Read every yielded value before writing the loop's arguments.
        std::vector<Val> next;
        for (mlir::Value v : yield->getOperands())
          next.push_back(get(v, t));
        for (auto [arg, v] : llvm::zip(forOp.getRegionIterArgs(), next))
          def(arg)[t] = v;
        iv[t] += int64_t(scalar(forOp.getStep(), t));
      }
    }
    for (unsigned i = 0; i < forOp.getNumResults(); ++i) {
      mlir::Value arg = forOp.getRegionIterArgs()[i];
      forEach(mask, forOp.getResult(i), [&](int t) { return get(arg, t); });
    }
  }

  void runIf(mlir::scf::IfOp ifOp, const Mask &mask) {
    Mask thenMask(threads, false), elseMask(threads, false);
    for (int t = 0; t < threads; ++t)
      if (mask[t])
        (scalar(ifOp.getCondition(), t) != 0 ? thenMask : elseMask)[t] = true;
    auto branch = [&](mlir::Region &region, const Mask &branchMask) {
      if (region.empty() || std::find(branchMask.begin(), branchMask.end(),
                                      true) == branchMask.end())
        return;
      runBlock(region.front(), branchMask);
      if (!error.empty())
        return;
      mlir::Operation *yield = region.front().getTerminator();
      for (unsigned i = 0; i < ifOp.getNumResults(); ++i) {
        mlir::Value v = yield->getOperand(i);
        forEach(branchMask, ifOp.getResult(i),
                [&](int t) { return get(v, t); });
      }
    };
    branch(ifOp.getThenRegion(), thenMask);
    branch(ifOp.getElseRegion(), elseMask);
  }

  /// cp.async: the source is read now (global memory does not change
  /// while a kernel runs), zero-filled past `srcElements`; the destination
  /// is claimed, as a write, until the thread waits for the copy's group.
  void runAsyncCopy(mlir::nvgpu::DeviceAsyncCopyOp op, const Mask &mask) {
    int64_t count = op.getDstElements().getSExtValue();
    for (int t = 0; t < threads; ++t) {
      if (!mask[t])
        continue;
      int64_t valid =
          op.getSrcElements() ? int64_t(scalar(op.getSrcElements(), t)) : count;
      if (valid < 0 || valid > count)
        return fail("a cp.async of " + std::to_string(valid) +
                    " source elements into " + std::to_string(count));
      double *source = at(op.getSrc(), op.getSrcIndices(), t, count);
      double *target = at(op.getDst(), op.getDstIndices(), t, count, true);
      if (!source || !target)
        return;
      Buffer *buffer = buffers.lookup(op.getDst());
      AsyncCopy copy{buffer, target - buffer->data.data(), Val(count, 0.0)};
      std::copy(source, source + valid, copy.values.begin());
      for (int64_t e = 0; e < count; ++e)
        buffer->inFlight[copy.offset + e] = 1;
      uncommitted[t].push_back(std::move(copy));
    }
    forEach(mask, op.getAsyncToken(), [](int) { return Val{0.0}; });
  }

  void runLdMatrix(mlir::nvgpu::LdMatrixOp op, const Mask &mask) {
    int tiles = op.getNumTiles();
    bool transpose = op.getTranspose();
    for (int w = 0; w < threads; w += 32) {
      if (!mask[w])
        continue;
      if (!converged(mask, "nvgpu.ldmatrix", w, 32))
        return;
      // matrix[i][r][c]: row r of matrix i from lane 8 i + r's address.
      double matrix[4][8][8];
      for (int i = 0; i < tiles; ++i)
        for (int r = 0; r < 8; ++r) {
          double *row =
              at(op.getSrcMemref(), op.getIndices(), w + 8 * i + r, 8);
          if (!row)
            return;
          std::copy(row, row + 8, matrix[i][r]);
        }
      for (int lane = 0; lane < 32; ++lane) {
        Val out;
        for (int i = 0; i < tiles; ++i)
          for (int e = 0; e < 2; ++e)
            out.push_back(transpose ? matrix[i][2 * (lane % 4) + e][lane / 4]
                                    : matrix[i][lane / 4][2 * (lane % 4) + e]);
        def(op.getResult())[w + lane] = out;
      }
    }
  }

  void runMma(mlir::NVVM::MmaOp op, const Mask &mask) {
    auto shape = op.getShapeAttr();
    if (shape.getM() == 16 && shape.getN() == 8 && shape.getK() == 8 &&
        op.getMultiplicandAPtxType() == mlir::NVVM::MMATypes::tf32)
      return runMmaTf32(op, mask);
    if (shape.getM() != 16 || shape.getN() != 8 || shape.getK() != 16)
      return fail("an mma.sync shape the emulator does not know");
    for (int w = 0; w < threads; w += 32) {
      if (!mask[w])
        continue;
      if (!converged(mask, "nvvm.mma.sync", w, 32))
        return;
      double a[16][16], b[16][8], c[16][8];
      for (int lane = 0; lane < 32; ++lane) {
        int g = lane / 4, q = 2 * (lane % 4);
        auto pair = [&](mlir::Value v, int e) { return get(v, w + lane)[e]; };
        mlir::OperandRange as = op.getOperandA(), bs = op.getOperandB(),
                           cs = op.getOperandC();
        for (int e = 0; e < 2; ++e) {
          a[g][q + e] = pair(as[0], e);
          a[g + 8][q + e] = pair(as[1], e);
          a[g][q + 8 + e] = pair(as[2], e);
          a[g + 8][q + 8 + e] = pair(as[3], e);
          b[q + e][g] = pair(bs[0], e);
          b[q + 8 + e][g] = pair(bs[1], e);
          c[g][q + e] = scalar(cs[e], w + lane);
          c[g + 8][q + e] = scalar(cs[2 + e], w + lane);
        }
      }
      writeMmaResult(
          op, w, 16, c, [&](int row, int k) { return a[row][k]; },
          [&](int k, int col) { return b[k][col]; });
    }
  }

  /// D = C + A B for warp `w`'s m16n8 tile over `depth` (16 or 8) values
  /// of k, each lane's 4 results laid out as C: (g, 2c), (g, 2c + 1),
  /// (g + 8, 2c), (g + 8, 2c + 1). Products are exact in f64 and summed
  /// in f32, as the tensor cores accumulate.
  void writeMmaResult(mlir::NVVM::MmaOp op, int w, int depth,
                      const double (&c)[16][8],
                      llvm::function_ref<double(int, int)> a,
                      llvm::function_ref<double(int, int)> b) {
    for (int lane = 0; lane < 32; ++lane) {
      int g = lane / 4, q = 2 * (lane % 4);
      Val d;
      for (int row : {g, g + 8})
        for (int col : {q, q + 1}) {
          float sum = float(c[row][col]);
          for (int k = 0; k < depth; ++k)
            sum += float(a(row, k) * b(k, col));
          d.push_back(sum);
        }
      def(op.getResult())[w + lane] = d;
    }
  }

  /// mma.sync m16n8k8 .tf32: A (16x8) as a0..a3 = (g, c), (g + 8, c),
  /// (g, c + 4), (g + 8, c + 4), B (8x8) as b0, b1 = (c, g), (c + 4, g), one
  /// TF32 value each; C as for m16n8k16.
  void runMmaTf32(mlir::NVVM::MmaOp op, const Mask &mask) {
    for (int w = 0; w < threads; w += 32) {
      if (!mask[w])
        continue;
      if (!converged(mask, "nvvm.mma.sync", w, 32))
        return;
      double a[16][8], b[8][8], c[16][8];
      mlir::OperandRange as = op.getOperandA(), bs = op.getOperandB(),
                         cs = op.getOperandC();
      for (int lane = 0; lane < 32; ++lane) {
        int g = lane / 4, q = lane % 4, t = w + lane;
        a[g][q] = scalar(as[0], t);
        a[g + 8][q] = scalar(as[1], t);
        a[g][q + 4] = scalar(as[2], t);
        a[g + 8][q + 4] = scalar(as[3], t);
        b[q][g] = scalar(bs[0], t);
        b[q + 4][g] = scalar(bs[1], t);
        for (int e = 0; e < 2; ++e) {
          c[g][2 * q + e] = scalar(cs[e], t);
          c[g + 8][2 * q + e] = scalar(cs[2 + e], t);
        }
      }
      writeMmaResult(
          op, w, 8, c, [&](int row, int k) { return a[row][k]; },
          [&](int k, int col) { return b[k][col]; });
    }
  }

  /// One cp.async in flight: what it will write where.
  struct AsyncCopy {
    Buffer *buffer;
    int64_t offset;
    Val values;
  };

  mlir::gpu::GPUModuleOp module;
  /// Per thread: its cp.async not yet in a group, and its groups in
  /// commit order.
  std::vector<std::vector<AsyncCopy>> uncommitted;
  std::vector<std::vector<std::vector<AsyncCopy>>> groups;
  /// The module's constant arrays (memref.get_global), by symbol.
  std::map<std::string, Buffer> constants;
  llvm::DenseMap<mlir::Value, std::vector<Val>> values;
  llvm::DenseMap<mlir::Value, Buffer *> buffers;
  int threads = 0;
  int64_t blockX = 0, blockY = 0, blockZ = 0;
  int64_t epoch = 0; ///< Barriers passed in this block.
  std::string error;
};

} // namespace xfc::test

#endif // XFC_TESTS_UNIT_GPU_KERNELEMULATOR_H
