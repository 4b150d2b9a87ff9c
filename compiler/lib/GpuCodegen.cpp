//===- GpuCodegen.cpp - gpu.module to PTX, and PTX to ptxas ---------------===//
//
// Part of xfc. See GpuCodegen.h. The lowering is MLIR's own: the NVVM
// target attribute on each gpu.module, the GPU-to-NVVM conversion, and
// gpu-module-to-binary in its "isa" format, which runs LLVM's NVPTX backend
// in process and keeps the PTX text. nvgpu ops (GpuKernels.cpp uses
// ldmatrix) are lowered to NVVM first.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/GpuCodegen.h"

#include "xf/Dialect/XF/NodeNames.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/GPU/Utils/GPUUtils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVM/NVVM/Utils.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Transforms/RegionUtils.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

namespace xfc {

bool selectGpuTarget(const std::string &gpuArch, GpuTarget &out,
                     std::string &error) {
  // The oldest PTX ISA each chip accepts, so the oldest driver that knows
  // the chip can load the code (PTX 7.0: CUDA 11.0; 7.8: 11.8; 8.0: 12.0).
  struct Known {
    const char *chip;
    int ptxVersion;
  };
  static const Known known[] = {{"sm_80", 70}, {"sm_90", 78}, {"sm_90a", 80}};
  for (const Known &k : known) {
    if (gpuArch != k.chip)
      continue;
    out.chip = k.chip;
    out.ptxVersion = k.ptxVersion;
    out.ptxFeatures = "+ptx" + std::to_string(k.ptxVersion);
    return true;
  }
  error = "--gpu-arch is '" + gpuArch + "'; expected sm_80, sm_90 or sm_90a";
  return false;
}

void registerGpuCodegen(mlir::DialectRegistry &registry) {
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  mlir::registerNVVMDialectTranslation(registry);
  mlir::registerGPUDialectTranslation(registry);
}

namespace {

/// Runs the textual pipeline `text` (nested in builtin.module) on
/// `module`, collecting its diagnostics into `error`.
bool runPipeline(mlir::ModuleOp module, const std::string &text,
                 const std::string &what, std::string &error) {
  std::string diagnostics;
  llvm::raw_string_ostream diagnosticStream(diagnostics);
  mlir::ScopedDiagnosticHandler handler(
      module.getContext(), [&](mlir::Diagnostic &diagnostic) {
        diagnosticStream << diagnostic.getLocation() << ": " << diagnostic
                         << "\n";
        return mlir::success();
      });
  mlir::PassManager pm(module.getContext(), mlir::ModuleOp::getOperationName());
  if (mlir::failed(mlir::parsePassPipeline(text, pm, diagnosticStream))) {
    error = what + ": the pipeline does not parse: " + diagnostics;
    return false;
  }
  if (mlir::failed(pm.run(module))) {
    error = what + " failed: " + diagnostics;
    return false;
  }
  return true;
}

} // namespace

std::string findCudaToolkit() {
  auto hasLibdevice = [](llvm::StringRef root) {
    return !root.empty() &&
           llvm::sys::fs::exists(root + "/nvvm/libdevice/libdevice.10.bc");
  };
  // XFC_CUDA_PATH decides alone when set (as XFC_PTXAS does for ptxas).
  if (const char *named = std::getenv("XFC_CUDA_PATH"); named && *named)
    return hasLibdevice(named) ? std::string(named) : "";
  // CUDA_ROOT, CUDA_HOME, CUDA_PATH, or where MLIR was told at its build.
  if (llvm::StringRef named = mlir::NVVM::getCUDAToolkitPath();
      hasLibdevice(named))
    return named.str();
  if (hasLibdevice("/usr/local/cuda"))
    return "/usr/local/cuda";
  // The toolkit holding the ptxas that findPtxas picks (bin/ptxas).
  llvm::SmallString<256> root(findPtxas());
  llvm::sys::path::remove_filename(root);
  llvm::sys::path::remove_filename(root);
  return hasLibdevice(root) ? root.str().str() : "";
}

bool emitPtx(mlir::ModuleOp module, const GpuTarget &target,
             std::vector<PtxModule> &out, std::string &error) {
  // Math functions (sqrt, exp, erf, tanh) lower to calls into CUDA's
  // libdevice, which the serialization links from the toolkit given here;
  // without it the calls stay unresolved (checked below).
  std::string toolkit = findCudaToolkit();
  // convert-gpu-to-nvvm does not lower the nvgpu dialect (ldmatrix,
  // mma.sync on vectors), so convert-nvgpu-to-nvvm runs first; it leaves
  // modules without nvgpu ops as they are.
  std::string lowering =
      "nvvm-attach-target{chip=" + target.chip +
      " features=" + target.ptxFeatures +
      " O=3},gpu.module(expand-strided-metadata,lower-affine,"
      "convert-nvgpu-to-nvvm,convert-scf-to-cf,"
      // A memref parameter is one pointer: what the runtime's launch passes
      // (xf-gpu-launch-to-runtime).
      "convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=true},"
      // NVVM ops written as inline PTX (wgmma.mma_async) have no LLVM
      // intrinsic to translate to.
      "convert-nvvm-to-llvm),reconcile-unrealized-casts";
  if (!runPipeline(module, lowering, "PTX generation for " + target.chip,
                   error))
    return false;
  // gpu.dynamic_shared_memory lowers to an internal zero-sized array,
  // which the NVPTX backend demotes to a static shared variable of one
  // byte; the kernels' dynamic shared memory is the `.extern .shared`
  // array of CUDA C++'s `extern __shared__`, which starts where the
  // launch's dynamic shared memory does.
  module.walk([](mlir::LLVM::GlobalOp global) {
    auto array = llvm::dyn_cast<mlir::LLVM::LLVMArrayType>(global.getType());
    if (array && array.getNumElements() == 0 && global.getAddrSpace() == 3 &&
        global.getLinkage() == mlir::LLVM::Linkage::Internal)
      global.setLinkage(mlir::LLVM::Linkage::External);
  });
  std::string serialization =
      "gpu-module-to-binary{format=isa" +
      (toolkit.empty() ? std::string() : " toolkit=" + toolkit) + "}";
  if (!runPipeline(module, serialization, "PTX generation for " + target.chip,
                   error))
    return false;
  // Every gpu.module must have become a gpu.binary with its PTX.
  size_t before = out.size();
  for (auto binary : module.getOps<mlir::gpu::BinaryOp>()) {
    for (mlir::Attribute attr : binary.getObjectsAttr()) {
      auto object = llvm::dyn_cast<mlir::gpu::ObjectAttr>(attr);
      if (!object ||
          object.getFormat() != mlir::gpu::CompilationTarget::Assembly)
        continue;
      std::string ptx = object.getObject().str();
      // An unresolved libdevice call ("__nv_sqrtf") would fail in ptxas or
      // when the driver loads the module.
      size_t call = ptx.find(".extern .func");
      if (call != std::string::npos) {
        size_t name = ptx.find("__nv_", call);
        size_t end =
            name == std::string::npos ? name : ptx.find_first_of("( \n", name);
        error = "the kernels call CUDA's libdevice (" +
                (name == std::string::npos ? std::string("an external function")
                                           : ptx.substr(name, end - name)) +
                ") and no CUDA toolkit with nvvm/libdevice/libdevice.10.bc "
                "was found: set CUDA_HOME (or XFC_CUDA_PATH) to the toolkit's "
                "folder";
        return false;
      }
      out.push_back({binary.getSymName().str(), std::move(ptx)});
    }
  }
  if (!module.getOps<mlir::gpu::GPUModuleOp>().empty() ||
      out.size() - before !=
          size_t(llvm::range_size(module.getOps<mlir::gpu::BinaryOp>()))) {
    error =
        "PTX generation for " + target.chip + " left a gpu.module without PTX";
    return false;
  }
  return true;
}

bool bufferizeModelForGpu(mlir::ModuleOp module, std::string &error) {
  // Function boundaries bufferize to identity layouts (kernels take bare
  // pointers); the result becomes an out-parameter; xf-plan-memory places
  // every intermediate buffer in one arena argument, which the runtime
  // allocates once per context in device memory. What is left allocated
  // is per-thread scratch inside loops (allocas), which becomes the
  // kernels' local memory.
  return runPipeline(module,
                     "one-shot-bufferize{bufferize-function-boundaries "
                     "function-boundary-type-conversion=identity-layout-map},"
                     "buffer-results-to-out-params{hoist-static-allocs "
                     "modify-public-functions},canonicalize,cse,canonicalize,"
                     "xf-plan-memory,convert-bufferization-to-memref",
                     "the GPU buffer stage", error);
}

namespace {

std::string locationText(mlir::Location loc) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << loc;
  return text;
}

/// Rewrites the whole-buffer copies of the host code (bufferization's) as
/// linalg.copy, so that they become kernels like every other op: the host
/// code never touches device memory.
void copiesToLinalg(mlir::ModuleOp module) {
  llvm::SmallVector<mlir::memref::CopyOp> copies;
  module.walk([&](mlir::memref::CopyOp copy) {
    if (!copy->getParentOfType<mlir::gpu::GPUModuleOp>())
      copies.push_back(copy);
  });
  for (mlir::memref::CopyOp copy : copies) {
    mlir::OpBuilder builder(copy);
    mlir::linalg::CopyOp::create(builder, copy.getLoc(), copy.getSource(),
                                 copy.getTarget());
    copy.erase();
  }
}

/// Replaces `loop` (no reductions) by a nest of scf.for over its
/// dimensions, in order: a parallel loop nested in a kernel's loop runs
/// sequentially in its thread.
void serializeParallelLoop(mlir::scf::ParallelOp loop) {
  mlir::OpBuilder builder(loop);
  mlir::Location loc = loop.getLoc();
  mlir::IRMapping mapping;
  for (auto [lower, upper, step, iv] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep(),
                 loop.getInductionVars())) {
    auto inner = mlir::scf::ForOp::create(builder, loc, lower, upper, step);
    mapping.map(iv, inner.getInductionVar());
    builder.setInsertionPoint(inner.getBody()->getTerminator());
  }
  for (mlir::Operation &op : loop.getBody()->without_terminator())
    builder.clone(op, mapping);
  loop.erase();
}

/// The constant trip count of dimension `dim` of `loop`, or 0.
int64_t tripCount(mlir::scf::ParallelOp loop, unsigned dim) {
  auto lower = mlir::getConstantIntValue(loop.getLowerBound()[dim]);
  auto upper = mlir::getConstantIntValue(loop.getUpperBound()[dim]);
  auto step = mlir::getConstantIntValue(loop.getStep()[dim]);
  if (!lower || !upper || !step || *step <= 0 || *upper <= *lower)
    return 0;
  return (*upper - *lower + *step - 1) / *step;
}

/// Maps every outermost parallel loop of the host code to a kernel launch:
/// parallel loops nested in it run sequentially in each thread; its
/// innermost dimension is split into blocks of up to 128 threads
/// (thread_x, with a guard for a ragged last block) and the blocks, with
/// the other dimensions, make the grid (the innermost in x, then y and
/// z; further dimensions loop inside the thread).
bool mapParallelLoops(mlir::ModuleOp module, std::string &error) {
  llvm::SmallVector<mlir::scf::ParallelOp> outermost;
  module.walk([&](mlir::scf::ParallelOp loop) {
    if (!loop->getParentOfType<mlir::scf::ParallelOp>() &&
        !loop->getParentOfType<mlir::gpu::GPUModuleOp>())
      outermost.push_back(loop);
  });
  mlir::MLIRContext *context = module.getContext();
  auto identity = mlir::AffineMap::getMultiDimIdentityMap(1, context);
  auto dimMapping = [&](mlir::gpu::Processor processor) {
    return mlir::gpu::ParallelLoopDimMappingAttr::get(context, processor,
                                                      identity, identity);
  };
  auto refuseReductions = [&](mlir::scf::ParallelOp loop) {
    if (loop.getInitVals().empty())
      return false;
    error = "the GPU mapping failed: a parallel loop with reductions (at " +
            locationText(loop.getLoc()) + ")";
    return true;
  };
  for (mlir::scf::ParallelOp loop : outermost) {
    if (refuseReductions(loop))
      return false;
    llvm::SmallVector<mlir::scf::ParallelOp> nested;
    loop.getBody()->walk(
        [&](mlir::scf::ParallelOp inner) { nested.push_back(inner); });
    // The walk is post-order: innermost first, so each loop serialized
    // holds no parallel loop any more.
    for (mlir::scf::ParallelOp inner : nested) {
      if (refuseReductions(inner))
        return false;
      serializeParallelLoop(inner);
    }
    unsigned rank = loop.getNumLoops();
    int64_t innermost = tripCount(loop, rank - 1);
    int64_t threads = innermost <= 0
                          ? 128
                          : std::min<int64_t>(128, (innermost + 31) / 32 * 32);
    llvm::SmallVector<int64_t> tileSizes(rank, 1);
    tileSizes.back() = threads;
    auto [blocks, inBlock] =
        mlir::scf::tileParallelLoop(loop, tileSizes, /*noMinMaxBounds=*/true);
    llvm::SmallVector<mlir::gpu::ParallelLoopDimMappingAttr> gridMapping,
        blockMapping;
    const mlir::gpu::Processor grid[] = {mlir::gpu::Processor::BlockX,
                                         mlir::gpu::Processor::BlockY,
                                         mlir::gpu::Processor::BlockZ};
    for (unsigned d = 0; d < rank; ++d) {
      unsigned fromInnermost = rank - 1 - d;
      gridMapping.push_back(dimMapping(fromInnermost < 3
                                           ? grid[fromInnermost]
                                           : mlir::gpu::Processor::Sequential));
      blockMapping.push_back(
          dimMapping(d + 1 == rank ? mlir::gpu::Processor::ThreadX
                                   : mlir::gpu::Processor::Sequential));
    }
    if (mlir::failed(mlir::gpu::setMappingAttr(blocks, gridMapping)) ||
        mlir::failed(mlir::gpu::setMappingAttr(inBlock, blockMapping))) {
      error = "the GPU mapping failed: cannot set a loop's mapping";
      return false;
    }
  }
  return true;
}

/// Copies into `launch` the host code's views, constants and index
/// computations it uses, through chains of them (a subview of a reshape of
/// a view of the arena), so that the kernel takes the buffer underneath.
/// Unlike mlir::sinkOperationsIntoLaunchOp, a chain may end at a value the
/// launch does not use itself yet (the arena argument), which becomes the
/// kernel's argument.
void sinkViews(mlir::gpu::LaunchOp launch) {
  auto sinkable = [](mlir::Operation *op) {
    return llvm::isa<mlir::ViewLikeOpInterface>(op) ||
           op->hasTrait<mlir::OpTrait::ConstantLike>() ||
           llvm::isa<mlir::memref::DimOp, mlir::arith::IndexCastOp>(op);
  };
  mlir::Region &body = launch.getBody();
  llvm::SetVector<mlir::Value> usedAbove;
  mlir::getUsedValuesDefinedAbove(body, usedAbove);
  mlir::OpBuilder builder = mlir::OpBuilder::atBlockBegin(&body.front());
  mlir::IRMapping copies;
  std::function<mlir::Value(mlir::Value)> copyInto =
      [&](mlir::Value value) -> mlir::Value {
    if (mlir::Value copied = copies.lookupOrNull(value))
      return copied;
    mlir::Operation *definition = value.getDefiningOp();
    if (!definition || !sinkable(definition))
      return value;
    for (mlir::Value operand : definition->getOperands())
      copyInto(operand);
    builder.clone(*definition, copies); // Maps the results too.
    return copies.lookup(value);
  };
  for (mlir::Value value : usedAbove) {
    mlir::Value copied = copyInto(value);
    if (copied != value)
      mlir::replaceAllUsesInRegionWith(value, copied, body);
  }
}

/// The name of the kernel a launch at `loc` computes part of: the fusion
/// plan's symbol for its kernel (the `xf.kernels` record of xf-form-kernels,
/// "xf_k8_encoder_layers_0_ffn_fc1_act"), or "xf_copy" for a launch no
/// kernel owns (a copy bufferization added).
std::string kernelSymbol(mlir::ModuleOp module, mlir::Location loc) {
  std::optional<int64_t> tag = mlir::xf::kernelTag(loc);
  auto kernels = module->getAttrOfType<mlir::ArrayAttr>("xf.kernels");
  if (!tag || !kernels || *tag < 0 || *tag >= int64_t(kernels.size()))
    return "xf_copy";
  auto record = llvm::dyn_cast<mlir::DictionaryAttr>(kernels[*tag]);
  auto symbol = record ? record.getAs<mlir::StringAttr>("symbol") : nullptr;
  return symbol && !symbol.getValue().empty() ? symbol.getValue().str()
                                              : "xf_copy";
}

/// Gathers the kernels of every gpu.module of `module` into one, named
/// "xf_kernels", so that a model's device code is one PTX image, and names
/// each kernel after the fusion plan's kernel it computes (a kernel made
/// of several loop nests gets _1, _2, ... after the first), so profilers
/// and the manifest show the plan's names. The launches follow.
bool gatherKernels(mlir::ModuleOp module, std::string &error) {
  auto modules = llvm::to_vector(module.getOps<mlir::gpu::GPUModuleOp>());
  if (modules.empty())
    return true;
  mlir::gpu::GPUModuleOp into = modules.front();
  llvm::DenseMap<mlir::Attribute, mlir::Operation *> kernelOf;
  for (mlir::gpu::GPUModuleOp from : modules)
    for (mlir::gpu::GPUFuncOp kernel : from.getOps<mlir::gpu::GPUFuncOp>())
      kernelOf[mlir::SymbolRefAttr::get(
          from.getSymNameAttr(),
          {mlir::FlatSymbolRefAttr::get(kernel.getNameAttr())})] = kernel;
  into.setName("xf_kernels");
  // Names in launch order, unique within the module.
  llvm::StringMap<int> uses;
  llvm::DenseMap<mlir::Operation *, mlir::StringAttr> newName;
  bool ok = true;
  module.walk([&](mlir::gpu::LaunchFuncOp launch) {
    mlir::Operation *kernel = kernelOf.lookup(launch.getKernel());
    if (!kernel) {
      ok = false;
      return;
    }
    if (!newName.count(kernel)) {
      std::string base = kernelSymbol(module, launch.getLoc());
      int n = uses[base]++;
      newName[kernel] = mlir::StringAttr::get(
          module.getContext(), n ? base + "_" + std::to_string(n) : base);
    }
    launch.setKernelAttr(mlir::SymbolRefAttr::get(
        into.getSymNameAttr(),
        {mlir::FlatSymbolRefAttr::get(newName[kernel])}));
  });
  if (!ok) {
    error = "the kernel gathering left a launch of a kernel it did not move";
    return false;
  }
  for (auto [kernel, name] : newName) {
    mlir::SymbolTable::setSymbolName(kernel, name);
    if (kernel->getParentOp() == into)
      continue;
    mlir::Block *body = into.getBody();
    if (!body->empty() &&
        body->back().hasTrait<mlir::OpTrait::IsTerminator>()) {
      kernel->moveBefore(&body->back());
    } else {
      kernel->remove();
      body->push_back(kernel);
    }
  }
  // What else the other modules hold (the tuned kernels' helper
  // functions) moves along; their names are distinct by construction.
  for (mlir::gpu::GPUModuleOp from : llvm::drop_begin(modules)) {
    for (mlir::Operation &op :
         llvm::make_early_inc_range(from.getBody()->getOperations())) {
      if (op.hasTrait<mlir::OpTrait::IsTerminator>())
        continue;
      if (auto symbol = llvm::dyn_cast<mlir::SymbolOpInterface>(op);
          symbol && into.lookupSymbol(symbol.getNameAttr())) {
        error = "the kernel gathering found two functions named " +
                symbol.getName().str();
        return false;
      }
      mlir::Block *body = into.getBody();
      if (!body->empty() &&
          body->back().hasTrait<mlir::OpTrait::IsTerminator>()) {
        op.moveBefore(&body->back());
      } else {
        op.remove();
        body->push_back(&op);
      }
    }
    from.erase();
  }
  return true;
}

} // namespace

bool mapLoopsToGpu(mlir::ModuleOp module, std::string &error) {
  copiesToLinalg(module);
  // Each linalg op becomes parallel loops over its parallel dimensions
  // with its reductions inside; the attention kernel's foralls become
  // parallel loops too.
  if (!runPipeline(module,
                   "convert-linalg-to-parallel-loops,scf-forall-to-parallel,"
                   "canonicalize",
                   "the GPU mapping", error) ||
      !mapParallelLoops(module, error) ||
      !runPipeline(module, "convert-parallel-loops-to-gpu,canonicalize",
                   "the GPU mapping", error))
    return false;
  // What is left on the host may not touch device memory: every loop must
  // have become a kernel.
  std::string leftOnHost;
  module.walk([&](mlir::Operation *op) {
    if (!leftOnHost.empty() || op->getParentOfType<mlir::gpu::LaunchOp>() ||
        op->getParentOfType<mlir::gpu::GPUModuleOp>())
      return;
    if (llvm::isa<mlir::scf::ParallelOp, mlir::scf::ForOp, mlir::memref::LoadOp,
                  mlir::memref::StoreOp, mlir::memref::CopyOp,
                  mlir::memref::AllocOp>(op) ||
        op->getDialect()->getNamespace() == "linalg") {
      leftOnHost = op->getName().getStringRef().str() + " at " +
                   locationText(op->getLoc());
    }
  });
  if (!leftOnHost.empty()) {
    error = "the GPU mapping left host code that would read or write device "
            "memory: " +
            leftOnHost;
    return false;
  }
  // A kernel takes whole buffers (bare pointers: identity layouts only):
  // the views the host code made of them (subviews, reshapes) move into
  // the kernels that use them.
  module.walk([](mlir::gpu::LaunchOp launch) { sinkViews(launch); });
  return runPipeline(module, "gpu-kernel-outlining,canonicalize",
                     "the kernel outlining", error) &&
         gatherKernels(module, error);
}

bool mapModelToGpu(mlir::ModuleOp module, std::string &error) {
  return bufferizeModelForGpu(module, error) && mapLoopsToGpu(module, error);
}

bool emitModelPtx(mlir::ModuleOp module, const GpuTarget &target,
                  std::vector<PtxModule> &out, std::string &error) {
  // The CPU's stages without what is only for the CPU: no weight panels
  // for its register tiles, no cache and register tiling, no OpenMP.
  if (!runPipeline(module,
                   "xf-model-stage{pack-linear-weights=false},"
                   "xf-linalg-stage{tile-and-vectorize=false threads=false}",
                   "the lowering to linalg", error) ||
      !mapModelToGpu(module, error))
    return false;
  return emitPtx(module, target, out, error);
}

namespace {

/// Adds `bytes` to `module` as a public constant byte array `name` and
/// its length (without `terminator`) as the i64 `name`_size.
void addByteGlobal(mlir::OpBuilder &builder, mlir::Location loc,
                   llvm::StringRef name, const std::string &bytes,
                   bool terminator) {
  mlir::MLIRContext *context = builder.getContext();
  std::string stored = bytes;
  if (terminator || stored.empty())
    stored.push_back('\0');
  auto i8 = mlir::IntegerType::get(context, 8);
  auto i64 = mlir::IntegerType::get(context, 64);
  mlir::LLVM::GlobalOp::create(
      builder, loc, mlir::LLVM::LLVMArrayType::get(i8, stored.size()),
      /*isConstant=*/true, mlir::LLVM::Linkage::External, name,
      builder.getStringAttr(stored), /*alignment=*/16);
  mlir::LLVM::GlobalOp::create(
      builder, loc, i64, /*isConstant=*/true, mlir::LLVM::Linkage::External,
      (name + "_size").str(), builder.getI64IntegerAttr(bytes.size()),
      /*alignment=*/8);
}

} // namespace

bool lowerModelForGpu(mlir::ModuleOp module, const GpuTarget &target,
                      GpuModelCode &out, std::string &error) {
  // The signature the runtime checks counts the tensors and the arena,
  // not the run context added below.
  if (!runPipeline(module, "xf-export-signature", "the signature export",
                   error))
    return false;
  std::vector<PtxModule> ptx;
  if (!emitPtx(module, target, ptx, error))
    return false;
  if (ptx.size() != 1) {
    error = "the GPU lowering produced " + std::to_string(ptx.size()) +
            " device modules; expected one";
    return false;
  }
  out.ptx = ptx.front().ptx;
  // ptxas, when the toolkit is there, checks the PTX now rather than when
  // the driver loads it, and its cubin spares the driver's compilation.
  out.cubin.clear();
  out.ptxas = findPtxas();
  if (!out.ptxas.empty()) {
    llvm::SmallString<128> cubinPath;
    if (llvm::sys::fs::createTemporaryFile("xfc-kernels", "cubin", cubinPath)) {
      error = "cannot create a temporary file for the cubin";
      return false;
    }
    bool assembled = assemblePtx(out.ptxas, out.ptx, target.chip,
                                 cubinPath.str().str(), error);
    if (assembled) {
      auto buffer = llvm::MemoryBuffer::getFile(cubinPath, /*IsText=*/false,
                                                /*RequiresNullTerminator=*/
                                                false);
      if (buffer)
        out.cubin = (*buffer)->getBuffer().str();
      else
        error = "cannot read ptxas's cubin " + cubinPath.str().str();
      assembled = bool(buffer);
    }
    llvm::sys::fs::remove(cubinPath);
    if (!assembled)
      return false;
  }

  // The run context: the last argument of the model function.
  auto model = module.lookupSymbol<mlir::func::FuncOp>("xf_model");
  if (!model) {
    error = "the GPU lowering found no func.func @xf_model";
    return false;
  }
  mlir::OpBuilder builder(module.getContext());
  auto pointer = mlir::LLVM::LLVMPointerType::get(module.getContext());
  if (mlir::failed(
          model.insertArgument(model.getNumArguments(), pointer,
                               builder.getDictionaryAttr(builder.getNamedAttr(
                                   "xf.gpu_run", builder.getUnitAttr())),
                               model.getLoc()))) {
    error = "the GPU lowering cannot add the run context argument";
    return false;
  }
  if (!runPipeline(
          module,
          "xf-gpu-launch-to-runtime,expand-strided-metadata,lower-affine,"
          "finalize-memref-to-llvm,convert-arith-to-llvm,"
          "convert-index-to-llvm,"
          "convert-func-to-llvm{use-bare-ptr-memref-call-conv},"
          "convert-cf-to-llvm,reconcile-unrealized-casts,"
          "xf-emit-entry-point,canonicalize",
          "the host code's lowering", error))
    return false;
  out.kernels.clear();
  if (auto kernels = module->getAttrOfType<mlir::ArrayAttr>("xf.gpu_kernels"))
    for (mlir::Attribute kernel : kernels)
      out.kernels.push_back(
          llvm::cast<mlir::SymbolRefAttr>(kernel).getLeafReference().str());
  // The device code travels inside the library (docs/gpu.md, "Artifact"):
  // the PTX (NUL-terminated, as cuModuleLoadData reads it), the cubin
  // (xfc_gpu_cubin_size 0 when there is none) and the kernel names in
  // launch-index order, NUL-separated.
  std::string names;
  for (const std::string &name : out.kernels)
    names += name + '\0';
  builder.setInsertionPointToEnd(module.getBody());
  mlir::Location loc = module.getLoc();
  addByteGlobal(builder, loc, "xfc_gpu_ptx", out.ptx, /*terminator=*/true);
  addByteGlobal(builder, loc, "xfc_gpu_cubin", out.cubin,
                /*terminator=*/false);
  addByteGlobal(builder, loc, "xfc_gpu_kernel_names", names,
                /*terminator=*/false);
  return true;
}

std::string findPtxas() {
  if (const char *named = std::getenv("XFC_PTXAS"); named && *named)
    return llvm::sys::fs::can_execute(named) ? std::string(named) : "";
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  if (llvm::ErrorOr<std::string> onPath = llvm::sys::findProgramByName("ptxas"))
    return *onPath;
  return "";
}

bool assemblePtx(const std::string &ptxas, const std::string &ptx,
                 const std::string &chip, const std::string &cubinPath,
                 std::string &error) {
  llvm::SmallString<128> ptxPath, logPath;
  if (llvm::sys::fs::createTemporaryFile("xfc-kernels", "ptx", ptxPath) ||
      llvm::sys::fs::createTemporaryFile("xfc-ptxas", "log", logPath)) {
    error = "cannot create a temporary file for ptxas";
    return false;
  }
  // The temporary files go whatever happens.
  struct Remove {
    llvm::SmallString<128> &a, &b;
    ~Remove() {
      llvm::sys::fs::remove(a);
      llvm::sys::fs::remove(b);
    }
  } remove{ptxPath, logPath};
  {
    std::error_code ec;
    llvm::raw_fd_ostream file(ptxPath, ec);
    if (ec) {
      error = "cannot write " + ptxPath.str().str() + ": " + ec.message();
      return false;
    }
    file << ptx;
  }
  std::string arch = "-arch=" + chip;
  llvm::SmallVector<llvm::StringRef> args{ptxas, arch, "-o", cubinPath,
                                          ptxPath};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, logPath.str(),
                                                logPath.str()};
  std::string launchError;
  int status = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, redirects,
                                         /*SecondsToWait=*/300,
                                         /*MemoryLimit=*/0, &launchError);
  if (status == 0)
    return true;
  std::string log;
  if (auto buffer = llvm::MemoryBuffer::getFile(logPath))
    log = (*buffer)->getBuffer().str();
  while (!log.empty() && (log.back() == '\n' || log.back() == ' '))
    log.pop_back();
  error = ptxas + " " + arch + " rejected the PTX" +
          (status < 0 ? " (" + launchError + ")"
                      : " (exit code " + std::to_string(status) + ")") +
          (log.empty() ? "" : ":\n" + log);
  return false;
}

} // namespace xfc
