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
// others still read, fails here as it would race on the GPU. wgmma.mma_async
// (sm_90a) reads its operands through matrix descriptors, decoded by the
// PTX ISA's canonical layouts without swizzling (runWgmma); what it reads
// must have been fenced for the async proxy by its writer and stays
// claimed until its warpgroup waits for it, and its accumulators are read
// only after that wait. Conversions to f16
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
#include <deque>
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
  /// Shared memory only: elements written through the generic proxy
  /// (st.shared, cp.async) that their writer has not yet fenced for the
  /// async proxy (fence.proxy.async), which wgmma reads through.
  std::vector<char> unfenced;
  /// Shared memory only: how many wgmma.mma_async in flight read each
  /// element (until their warpgroup waits for them).
  std::vector<int> heldByWgmma;
  /// Shared memory only: the byte address of element 0 in the block's
  /// shared window, and the bytes of an element, for matrix descriptors.
  int64_t address = -1;
  int64_t elementBytes = 0;

  /// Fresh shared memory of `shape`: NaN until written.
  static Buffer sharedOf(llvm::ArrayRef<int64_t> shape) {
    Buffer buffer;
    buffer.shape.assign(shape.begin(), shape.end());
    int64_t elements = 1;
    for (int64_t extent : shape)
      elements *= extent;
    buffer.data.assign(elements, std::numeric_limits<double>::quiet_NaN());
    buffer.shared = true;
    buffer.writeEpoch.assign(elements, -1);
    buffer.readEpoch.assign(elements, -1);
    buffer.writer.assign(elements, -1);
    buffer.reader.assign(elements, -1);
    buffer.inFlight.assign(elements, 0);
    buffer.unfenced.assign(elements, 0);
    buffer.heldByWgmma.assign(elements, 0);
    return buffer;
  }
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
            shared.push_back(Buffer::sharedOf(type.getShape()));
            buffers[tile] = &shared.back();
          }
          views.clear();
          dynamicSharedBytes = launch.dynamicSharedBytes;
          epoch = 0;
          uncommitted.assign(threads, {});
          groups.assign(threads, {});
          unfencedBy.assign(threads, {});
          int warpgroups = (threads + 127) / 128;
          wgmmaFenced.assign(warpgroups, false);
          wgmmaUncommitted.assign(warpgroups, {});
          wgmmaGroups.assign(warpgroups, {});
          runBlock(kernel.getBody().front(), Mask(threads, true));
          for (int g = 0; g < warpgroups && error.empty(); ++g)
            if (!wgmmaGroups[g].empty() || !wgmmaUncommitted[g].empty())
              fail("warpgroup " + std::to_string(g) +
                   " ends with wgmma.mma_async it did not wait for");
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
      if (write && buffer->heldByWgmma[e]) {
        fail("thread " + std::to_string(t) + " writes element " +
             std::to_string(e) +
             " of shared memory, which a wgmma.mma_async in flight reads");
        return nullptr;
      }
      if (write) {
        buffer->writeEpoch[e] = epoch;
        buffer->writer[e] = t;
        markUnfenced(buffer, e, t);
      } else {
        buffer->reader[e] = buffer->readEpoch[e] == epoch ? -2 : t;
        buffer->readEpoch[e] = epoch;
      }
    }
    return buffer->data.data() + offset;
  }

  /// Element `e` of shared `buffer` was written through the generic proxy
  /// by thread `t`.
  void markUnfenced(Buffer *buffer, int64_t e, int t) {
    if (!buffer->unfenced[e]) {
      buffer->unfenced[e] = 1;
      unfencedBy[t].push_back({buffer, e});
    }
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
    if (llvm::isa<mlir::LLVM::ZeroOp>(op)) {
      auto type =
          llvm::dyn_cast<mlir::LLVM::LLVMStructType>(op.getResult(0).getType());
      size_t fields = type ? type.getBody().size() : 4;
      return forEach(mask, op.getResult(0),
                     [&](int) { return Val(fields, 0.0); });
    }
    if (auto extract = llvm::dyn_cast<mlir::LLVM::ExtractValueOp>(op)) {
      // A wgmma accumulator (64 fields) is the thread's only once its
      // warpgroup has waited for every wgmma.mma_async it issued.
      auto type = llvm::dyn_cast<mlir::LLVM::LLVMStructType>(
          extract.getContainer().getType());
      if (type && type.getBody().size() == 64)
        for (int t = 0; t < threads; ++t)
          if (mask[t] && (!wgmmaGroups[t / 128].empty() ||
                          !wgmmaUncommitted[t / 128].empty()))
            return fail("thread " + std::to_string(t) +
                        " reads a wgmma accumulator before its warpgroup "
                        "waits for the wgmma.mma_async that write it");
      return forEach(mask, extract->getResult(0), [&](int t) {
        return Val{get(extract.getContainer(), t)[extract.getPosition()[0]]};
      });
    }
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
              if (copy.buffer->heldByWgmma[element])
                return fail("a cp.async of thread " + std::to_string(t) +
                            " lands on shared memory that a "
                            "wgmma.mma_async in flight reads");
              copy.buffer->inFlight[element] = 0;
              copy.buffer->data[element] = copy.values[e];
              copy.buffer->writeEpoch[element] = epoch;
              copy.buffer->writer[element] = t;
              markUnfenced(copy.buffer, element, t);
            }
          groups[t].erase(groups[t].begin());
        }
      return;
    }
    if (auto mma = llvm::dyn_cast<mlir::NVVM::MmaOp>(op))
      return runMma(mma, mask);
    if (llvm::isa<mlir::gpu::DynamicSharedMemoryOp>(op))
      return forEach(mask, op.getResult(0), [](int) { return Val{0.0}; });
    if (auto view = llvm::dyn_cast<mlir::memref::ViewOp>(op))
      return runView(view, mask);
    if (auto pointer =
            llvm::dyn_cast<mlir::memref::ExtractAlignedPointerAsIndexOp>(op)) {
      Buffer *buffer = buffers.lookup(pointer.getSource());
      if (!buffer || buffer->address < 0)
        return fail("the address of a memref other than a view of the "
                    "dynamic shared memory");
      return forEach(mask, pointer.getResult(),
                     [&](int) { return Val{double(buffer->address)}; });
    }
    if (auto fence = llvm::dyn_cast<mlir::NVVM::FenceProxyOp>(op)) {
      // fence.proxy.async.shared::cta: the thread's generic writes to
      // shared memory so far are visible to the async proxy.
      if (fence.getKind() != mlir::NVVM::ProxyKind::async_shared)
        return fail("a proxy fence the emulator does not know");
      for (int t = 0; t < threads; ++t)
        if (mask[t]) {
          for (auto [buffer, e] : unfencedBy[t])
            buffer->unfenced[e] = 0;
          unfencedBy[t].clear();
        }
      return;
    }
    if (llvm::isa<mlir::NVVM::WgmmaFenceAlignedOp>(op)) {
      for (int g = 0; g * 128 < threads; ++g)
        if (mask[128 * g]) {
          if (!converged(mask, "wgmma.fence", 128 * g, 128))
            return;
          wgmmaFenced[g] = true;
        }
      return;
    }
    if (auto wgmma = llvm::dyn_cast<mlir::NVVM::WgmmaMmaAsyncOp>(op))
      return runWgmma(wgmma, mask);
    if (llvm::isa<mlir::NVVM::WgmmaGroupSyncAlignedOp>(op)) {
      // wgmma.commit_group: the warpgroup's wgmma.mma_async so far form a
      // group, and the next batch needs a wgmma.fence again.
      for (int g = 0; g * 128 < threads; ++g)
        if (mask[128 * g]) {
          if (!converged(mask, "wgmma.commit_group", 128 * g, 128))
            return;
          wgmmaGroups[g].push_back(std::move(wgmmaUncommitted[g]));
          wgmmaUncommitted[g].clear();
          wgmmaFenced[g] = false;
        }
      return;
    }
    if (auto wait = llvm::dyn_cast<mlir::NVVM::WgmmaWaitGroupSyncOp>(op)) {
      // wgmma.wait_group N: all but the N most recent groups complete, and
      // release the shared memory they read.
      size_t pending = size_t(wait.getGroup());
      for (int g = 0; g * 128 < threads; ++g)
        if (mask[128 * g]) {
          if (!converged(mask, "wgmma.wait_group", 128 * g, 128))
            return;
          while (wgmmaGroups[g].size() > pending) {
            for (auto [buffer, e] : wgmmaGroups[g].front())
              --buffer->heldByWgmma[e];
            wgmmaGroups[g].erase(wgmmaGroups[g].begin());
          }
        }
      return;
    }
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

  /// memref.view of the dynamic shared memory at a byte offset: a shared
  /// buffer of its own, NaN until written; views must not overlap and
  /// must fit in the launch's dynamic shared memory.
  void runView(mlir::memref::ViewOp view, const Mask &mask) {
    if (!view.getSource().getDefiningOp<mlir::gpu::DynamicSharedMemoryOp>())
      return fail("a memref.view of other than the dynamic shared memory");
    int first = -1;
    for (int t = 0; t < threads && first < 0; ++t)
      if (mask[t])
        first = t;
    if (first < 0)
      return;
    int64_t offset = int64_t(scalar(view.getByteShift(), first));
    mlir::MemRefType type = view.getType();
    int64_t bytes = type.getElementTypeBitWidth() / 8;
    int64_t size = type.getNumElements() * bytes;
    if (offset < 0 || offset + size > dynamicSharedBytes)
      return fail("a view of bytes [" + std::to_string(offset) + ", " +
                  std::to_string(offset + size) + ") of " +
                  std::to_string(dynamicSharedBytes) +
                  " bytes of dynamic shared memory");
    if (offset % 16 != 0)
      return fail("a view of the dynamic shared memory not 16-byte aligned");
    for (const Buffer &other : views)
      if (offset <
              other.address + int64_t(other.data.size()) * other.elementBytes &&
          other.address < offset + size)
        return fail("two views of the dynamic shared memory overlap");
    views.push_back(Buffer::sharedOf(type.getShape()));
    views.back().address = offset;
    views.back().elementBytes = bytes;
    buffers[view.getResult()] = &views.back();
  }

  /// The shared buffer and element at byte `address`, or null with a
  /// failure.
  std::pair<Buffer *, int64_t> sharedElementAt(int64_t address) {
    for (Buffer &view : views) {
      int64_t offset = address - view.address;
      if (offset >= 0 &&
          offset < int64_t(view.data.size()) * view.elementBytes) {
        if (offset % view.elementBytes != 0)
          break;
        return {&view, offset / view.elementBytes};
      }
    }
    fail("a matrix descriptor reaches shared byte " + std::to_string(address) +
         ", which no view of the dynamic shared memory holds");
    return {nullptr, 0};
  }

  /// wgmma.mma_async m64nNk16 with f16 or bf16 A and B from shared memory
  /// (PTX ISA, "Asynchronous Warpgroup Level Matrix Multiply-Accumulate"):
  /// D = A B (+ D), run for each warpgroup of 4 converged warps. The
  /// descriptors (uniform over the warpgroup) hold the start address
  /// (bits 0..13, in 16-byte units), the leading byte offset (16..29) and
  /// the stride byte offset (32..45), without swizzling (62..63 zero), in
  /// the canonical layouts of 8-row, 16-byte core matrices:
  ///   K-major:  (r, k) at start + 16 (r % 8) + SBO (r / 8) + 2 (k % 8)
  ///             + LBO (k / 8);
  ///   MN-major: (x, k) at start + 2 (x % 8) + SBO (x / 8) + 16 (k % 8)
  ///             + LBO (k / 8).
  /// A is K-major unless transposed (layout col), B K-major unless
  /// transposed (layout row). Every element read must have been written,
  /// before a barrier, by a thread that fenced it for the async proxy, and
  /// stays claimed until the warpgroup waits for the wgmma's group.
  /// Accumulator register 4 i + 2 h + e of lane l of warp w holds row
  /// 16 w + l / 4 + 8 h, column 8 i + 2 (l % 4) + e; products are exact in
  /// f64 and summed in f32 in order of k onto D.
  void runWgmma(mlir::NVVM::WgmmaMmaAsyncOp op, const Mask &mask) {
    auto shape = op.getShapeAttr();
    int n = shape.getN();
    if (shape.getM() != 64 || shape.getK() != 16 ||
        (op.getTypeA() != mlir::NVVM::WGMMATypes::f16 &&
         op.getTypeA() != mlir::NVVM::WGMMATypes::bf16) ||
        op.getTypeB() != op.getTypeA() ||
        op.getTypeD() != mlir::NVVM::WGMMATypes::f32 ||
        op.getScaleA() != mlir::NVVM::WGMMAScaleIn::one ||
        op.getScaleB() != mlir::NVVM::WGMMAScaleIn::one)
      return fail("a wgmma.mma_async form the emulator does not know");
    bool accumulate = op.getScaleD() == mlir::NVVM::WGMMAScaleOut::one;
    bool aKMajor = op.getLayoutA() == mlir::NVVM::MMALayout::row;
    bool bKMajor = op.getLayoutB() == mlir::NVVM::MMALayout::col;
    for (int g = 0; g * 128 < threads; ++g) {
      int first = 128 * g;
      if (!mask[first])
        continue;
      if (!converged(mask, "wgmma.mma_async", first, 128))
        return;
      if (!wgmmaFenced[g])
        return fail("warpgroup " + std::to_string(g) +
                    " issues wgmma.mma_async without a wgmma.fence first");
      uint64_t descA = uint64_t(scalar(op.getDescriptorA(), first));
      uint64_t descB = uint64_t(scalar(op.getDescriptorB(), first));
      for (int t = first; t < first + 128; ++t)
        if (uint64_t(scalar(op.getDescriptorA(), t)) != descA ||
            uint64_t(scalar(op.getDescriptorB(), t)) != descB)
          return fail("the threads of warpgroup " + std::to_string(g) +
                      " give wgmma.mma_async different descriptors");
      // Reads element (x, k) of a 'rows' x 16 operand (x: M of A, N of B).
      auto operand = [&](uint64_t desc, bool kMajor, int rows,
                         std::vector<double> &out) {
        if (desc >> 62)
          return fail("a swizzled matrix descriptor (the emulator knows "
                      "the layouts without swizzling)");
        int64_t start = int64_t(desc & 0x3FFF) << 4;
        int64_t leading = int64_t((desc >> 16) & 0x3FFF) << 4;
        int64_t stride = int64_t((desc >> 32) & 0x3FFF) << 4;
        out.assign(size_t(rows) * 16, 0.0);
        for (int x = 0; x < rows; ++x)
          for (int k = 0; k < 16; ++k) {
            int64_t address = kMajor ? start + 16 * (x % 8) + stride * (x / 8) +
                                           2 * (k % 8) + leading * (k / 8)
                                     : start + 2 * (x % 8) + stride * (x / 8) +
                                           16 * (k % 8) + leading * (k / 8);
            auto [buffer, e] = sharedElementAt(address);
            if (!buffer)
              return;
            if (buffer->inFlight[e] || buffer->writeEpoch[e] == epoch ||
                buffer->unfenced[e])
              return fail(
                  std::string("wgmma.mma_async reads shared element ") +
                  std::to_string(e) +
                  (buffer->inFlight[e] ? " before its cp.async is waited for"
                   : buffer->unfenced[e]
                       ? " that its writer has not fenced for the async "
                         "proxy (fence.proxy.async)"
                       : " written since the last barrier"));
            ++buffer->heldByWgmma[e];
            wgmmaUncommitted[g].push_back({buffer, e});
            out[size_t(x) * 16 + k] = buffer->data[e];
          }
      };
      std::vector<double> a, b;
      operand(descA, aKMajor, 64, a);
      if (!error.empty())
        return;
      operand(descB, bKMajor, n, b);
      if (!error.empty())
        return;
      for (int t = first; t < first + 128; ++t) {
        int w = (t - first) / 32, lane = t % 32;
        const Val &c = get(op.getInouts(), t);
        if (int(c.size()) != n / 2)
          return fail("a wgmma accumulator of the wrong size");
        Val d(n / 2);
        for (int r = 0; r < n / 2; ++r) {
          int row = 16 * w + lane / 4 + 8 * ((r / 2) % 2);
          int col = 8 * (r / 4) + 2 * (lane % 4) + r % 2;
          float sum = accumulate ? float(c[r]) : 0.0f;
          for (int k = 0; k < 16; ++k)
            sum += float(a[size_t(row) * 16 + k] * b[size_t(col) * 16 + k]);
          d[r] = sum;
        }
        def(op.getResult())[t] = d;
      }
    }
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
  /// Per thread: the shared elements it wrote and has not fenced for the
  /// async proxy.
  std::vector<std::vector<std::pair<Buffer *, int64_t>>> unfencedBy;
  /// Per warpgroup: whether a wgmma.fence precedes its next batch, the
  /// shared elements its uncommitted wgmma.mma_async read, and those of
  /// its groups in commit order.
  std::vector<bool> wgmmaFenced;
  std::vector<std::vector<std::pair<Buffer *, int64_t>>> wgmmaUncommitted;
  std::vector<std::vector<std::vector<std::pair<Buffer *, int64_t>>>>
      wgmmaGroups;
  /// The block's views of its dynamic shared memory (stable addresses).
  std::deque<Buffer> views;
  int64_t dynamicSharedBytes = 0;
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
