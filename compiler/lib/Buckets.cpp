//===- Buckets.cpp - Artifacts compiled for several shapes ------*- C++ -*-===//
//
// Part of xfc. Implements `xfc compile --buckets`: the model is built and
// lowered once per bucket (each its own module, through the same four
// pipeline stages as compileModule), each module becomes one object file
// whose public symbols carry the bucket's name, and the objects are linked
// into one library. The buckets must agree on the weights' stored layout,
// so the weights file is written once and mapped once by the runtime, and
// on the kernels, so one profile buffer serves them all. The largest
// bucket keeps the plain `xfc_entry`/`xfc_signature` and is what the
// manifest's top-level inputs and outputs describe.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/Buckets.h"

#include "xfc/Compiler/Codegen.h"
#include "xfc/Compiler/Compiler.h"
#include "xfc/Compiler/FusionReport.h"
#include "xfc/Compiler/MemoryPlanReport.h"
#include "xfc/Compiler/Pipelines.h"
#include "xfc/Frontend/ModelBuilder.h"
#include "xfc/Frontend/SpecParser.h"
#include "xfc/Support/Checksum.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <sstream>
#include <tuple>

namespace xfc {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Work per run, the order in which buckets are tried: the runtime takes
/// the first bucket that holds the input, so the cheapest comes first.
std::tuple<int64_t, int64_t, int64_t, int64_t>
bucketOrder(const ShapeOptions &s) {
  return {s.batch * s.seqLen * s.tgtLen, s.seqLen, s.tgtLen, s.batch};
}

/// The dimensions of the model's inputs and outputs (docs/spec.md, "Inputs
/// and outputs"): every tensor starts with the batch; ids run along their
/// sequence; the hidden states or logits along the sequence they are
/// computed for; the sentence embedding has no sequence dimension. Read by
/// name, since the sizes alone are ambiguous (d_model may equal seq_len).
ArtifactTensorDims dimsOf(const ModelSpec &spec, const TensorDecl &tensor,
                          bool isInput) {
  ArtifactTensorDims out;
  out.dims.assign(tensor.shape.size(), "");
  if (out.dims.empty())
    return out;
  out.dims[0] = "batch";
  const std::string &name = tensor.name;
  if (isInput) {
    if (name == "lengths" || name == "src_lengths")
      out.lengthsOf = "seq_len";
    else if (name == "tgt_ids" && out.dims.size() > 1)
      out.dims[1] = "tgt_len";
    else if (out.dims.size() > 1)
      out.dims[1] = "seq_len";
    return out;
  }
  if (name != "sentence_embedding" && out.dims.size() > 1)
    out.dims[1] =
        spec.kind == ModelKind::EncoderDecoder ? "tgt_len" : "seq_len";
  return out;
}

/// `tensor`'s shape at `shapes` per `dims`.
std::vector<int64_t> shapeAt(const TensorDecl &tensor,
                             const ArtifactTensorDims &dims,
                             const ShapeOptions &shapes) {
  std::vector<int64_t> shape = tensor.shape;
  for (size_t d = 0; d < dims.dims.size(); ++d) {
    if (dims.dims[d] == "batch")
      shape[d] = shapes.batch;
    else if (dims.dims[d] == "seq_len")
      shape[d] = shapes.seqLen;
    else if (dims.dims[d] == "tgt_len")
      shape[d] = shapes.tgtLen;
  }
  return shape;
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

/// Appends `suffix` to every public symbol `module` defines (the entry
/// point, the signature, the model function), so the objects of several
/// buckets link into one library. Private symbols (kernels, constants,
/// OpenMP outlined regions) never clash between objects.
bool suffixPublicSymbols(mlir::ModuleOp module, const std::string &suffix,
                         std::string &error) {
  mlir::SymbolTable table(module);
  std::vector<mlir::Operation *> toRename;
  for (mlir::Operation &op : module.getBody()->getOperations()) {
    if (auto func = mlir::dyn_cast<mlir::LLVM::LLVMFuncOp>(op)) {
      if (!func.isExternal() &&
          func.getLinkage() == mlir::LLVM::Linkage::External)
        toRename.push_back(&op);
    } else if (auto global = mlir::dyn_cast<mlir::LLVM::GlobalOp>(op)) {
      bool defined =
          global.getValueOrNull() || !global.getInitializerRegion().empty();
      if (defined && global.getLinkage() == mlir::LLVM::Linkage::External)
        toRename.push_back(&op);
    }
  }
  for (mlir::Operation *op : toRename) {
    auto name = mlir::SymbolTable::getSymbolName(op);
    auto renamed =
        mlir::StringAttr::get(module.getContext(), name.getValue() + suffix);
    if (mlir::failed(table.rename(op, renamed))) {
      error = "cannot rename symbol @" + name.getValue().str();
      return false;
    }
  }
  return true;
}

/// Checks that bucket `name` stores the weights exactly as the largest
/// bucket does and forms the same kernels: they share one weights file
/// and one profile buffer.
bool checkSameLayout(const std::string &name, const ArtifactInterface &first,
                     const std::vector<ArtifactKernel> &firstKernels,
                     const ArtifactInterface &other,
                     const std::vector<ArtifactKernel> &kernels,
                     const std::string &largest, std::string &error) {
  auto differ = [&](const std::string &what) {
    error = "--buckets: bucket " + name + " " + what + " than bucket " +
            largest +
            "; the buckets must share one weights layout and one kernel "
            "list (compile the shapes as separate artifacts)";
    return false;
  };
  if (other.weights.size() != first.weights.size())
    return differ("stores " + std::to_string(other.weights.size()) +
                  " weights, other");
  for (size_t i = 0; i < first.weights.size(); ++i) {
    const ArtifactWeight &a = first.weights[i], &b = other.weights[i];
    if (a.name != b.name || a.shape != b.shape || a.transform != b.transform ||
        a.concat != b.concat || a.sourceShape != b.sourceShape)
      return differ("stores weight '" + b.name + "' " + shapeText(b.shape) +
                    " (" + b.transform + ") otherwise");
  }
  if (kernels.size() != firstKernels.size())
    return differ("forms " + std::to_string(kernels.size()) +
                  " kernels, other");
  for (size_t i = 0; i < kernels.size(); ++i)
    if (kernels[i].name != firstKernels[i].name ||
        kernels[i].kind != firstKernels[i].kind)
      return differ("forms kernel " + std::to_string(i) + " '" +
                    kernels[i].name + "' (" + kernels[i].kind + ") otherwise");
  return true;
}

/// Collects MLIR diagnostics into a string (as compileModule does).
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(mlir::MLIRContext &context)
      : handler(&context, [this](mlir::Diagnostic &diag) {
          llvm::raw_string_ostream os(text);
          os << diag.getLocation() << ": " << diag << "\n";
          return mlir::success();
        }) {}
  std::string text;

private:
  mlir::ScopedDiagnosticHandler handler;
};

std::string printModule(mlir::ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os, mlir::OpPrintingFlags().enableDebugInfo());
  return text;
}

/// Creates `path` and its parents if missing.
bool createFolder(const std::string &path, std::string &error) {
  if (std::error_code ec = llvm::sys::fs::create_directories(path)) {
    error = "cannot create " + path + ": " + ec.message();
    return false;
  }
  return true;
}

/// What one bucket's compilation produced.
struct CompiledBucket {
  ShapeOptions shapes;
  std::string name;
  ArtifactInterface interface;
  std::vector<ArtifactKernel> kernels;
  MemoryPlan memoryPlan;
  FusionReport fusion;
};

} // namespace

std::string bucketName(const ShapeOptions &shapes, bool withTarget) {
  std::string name =
      std::to_string(shapes.batch) + "x" + std::to_string(shapes.seqLen);
  if (withTarget)
    name += "x" + std::to_string(shapes.tgtLen ? shapes.tgtLen : shapes.seqLen);
  return name;
}

bool parseBucketList(const std::string &text, int64_t defaultBatch,
                     std::vector<ShapeOptions> &out, std::string &error) {
  out.clear();
  llvm::SmallVector<llvm::StringRef> items;
  llvm::StringRef(text).split(items, ',', -1, /*KeepEmpty=*/true);
  for (llvm::StringRef item : items) {
    llvm::SmallVector<llvm::StringRef> parts;
    item.trim().split(parts, 'x', -1, /*KeepEmpty=*/true);
    std::vector<int64_t> sizes;
    for (llvm::StringRef part : parts) {
      int64_t size = 0;
      if (part.getAsInteger(10, size) || size < 1) {
        sizes.clear();
        break;
      }
      sizes.push_back(size);
    }
    if (sizes.empty() || sizes.size() > 3) {
      error = "--buckets: expected a comma-separated list of S, BxS or BxSxT "
              "(positive integers: batch, sequence length, target length), "
              "found '" +
              item.str() + "' in '" + text + "'";
      return false;
    }
    ShapeOptions shapes;
    shapes.batch = sizes.size() == 1 ? defaultBatch : sizes[0];
    shapes.seqLen = sizes.size() == 1 ? sizes[0] : sizes[1];
    shapes.tgtLen = sizes.size() == 3 ? sizes[2] : shapes.seqLen;
    for (const ShapeOptions &seen : out)
      if (seen.batch == shapes.batch && seen.seqLen == shapes.seqLen &&
          seen.tgtLen == shapes.tgtLen) {
        error = "--buckets: bucket " + bucketName(shapes, true) +
                " is given twice in '" + text + "'";
        return false;
      }
    out.push_back(shapes);
  }
  return true;
}

bool checkBucketable(const ModelSpec &spec,
                     const std::vector<ShapeOptions> &buckets,
                     std::string &error) {
  const std::string model =
      "model '" + spec.name + "' (" + toString(spec.kind) + ")";
  if (spec.transformerXL()) {
    error = "--buckets: " + model +
            " is a transformer_xl model, whose segment length is fixed by "
            "its memory; compile it for one --seq-len";
    return false;
  }
  for (const std::string &pattern : spec.attentionPatterns)
    if (!pattern.empty()) {
      error = "--buckets: " + model + " has the attention pattern '" + pattern +
              "'; buckets support the default attention only (a pattern "
              "may mix padded keys into the valid rows or depend on the "
              "sequence length)";
      return false;
    }
  // Padded keys must be masked, or every valid row would attend to them.
  // A decoder's causal mask already hides keys after the query, and padding
  // goes to the right, so it needs no lengths input.
  if (spec.kind != ModelKind::Decoder && !spec.keyPaddingMask) {
    error = "--buckets: " + model +
            " has no key padding mask, so padded positions would change "
            "the valid outputs; set \"key_padding_mask\": true in the spec "
            "(the model then takes the valid lengths as an input)";
    return false;
  }
  const bool withTarget = spec.kind == ModelKind::EncoderDecoder;
  for (const ShapeOptions &bucket : buckets) {
    // A target length other than S is a --tgt-len, which only an
    // encoder_decoder takes.
    ShapeOptions checked = bucket;
    if (!withTarget && checked.tgtLen == checked.seqLen)
      checked.tgtLen = 0;
    SpecError specError;
    if (!validateShapeOptions(spec, checked, specError)) {
      error = "--buckets: bucket " + bucketName(bucket, true) + ": " +
              specError.message();
      return false;
    }
  }
  return true;
}

bool compileBucketedModel(const ModelSpec &spec, const WeightStore &weights,
                          const std::string &specJson,
                          const CompileRequest &request, CompileReport &report,
                          std::string &error) {
  Clock::time_point start = Clock::now();
  const bool withTarget = spec.kind == ModelKind::EncoderDecoder;
  std::vector<ShapeOptions> shapes = request.buckets;
  for (ShapeOptions &s : shapes)
    if (s.tgtLen == 0)
      s.tgtLen = s.seqLen;
  std::sort(shapes.begin(), shapes.end(),
            [](const ShapeOptions &a, const ShapeOptions &b) {
              return bucketOrder(a) < bucketOrder(b);
            });
  // compileModel checked the output folder and the target already.
  TargetDescription target;
  if (!selectTarget(request.cpu, target, error))
    return false;
  bool outputExists = llvm::sys::fs::exists(request.outputDir);
  CpuPipelineOptions opts = request.pipeline;
  opts.vectorWidth = vectorWidthFor(target);

  llvm::SmallString<256> tempDir(request.outputDir);
  llvm::sys::path::remove_dots(tempDir, /*remove_dot_dot=*/true);
  llvm::SmallString<256> tempPath;
  llvm::sys::fs::createUniquePath(tempDir.str().str() + ".tmp-%%%%%%", tempPath,
                                  /*MakeAbsolute=*/false);
  const std::string temp = tempPath.str().str();
  if (!createFolder(temp, error))
    return false;
  auto fail = [&]() {
    llvm::sys::fs::remove_directories(temp, /*IgnoreErrors=*/true);
    return false;
  };

  mlir::DialectRegistry registry;
  registerXFCDialects(registry);
  registerXFCPassesAndPipelines();
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  DiagnosticCollector diagnostics(context);

  // One bucket at a time: its module is lowered to an object file and
  // dropped before the next is built, so memory holds one module at most.
  std::vector<CompiledBucket> compiled;
  std::vector<std::string> objects;
  for (size_t k = 0; k < shapes.size(); ++k) {
    Clock::time_point bucketStart = Clock::now();
    CompiledBucket &bucket = compiled.emplace_back();
    bucket.shapes = shapes[k];
    bucket.name = bucketName(bucket.shapes, withTarget);
    const bool largest = k + 1 == shapes.size();
    std::string where = "bucket " + bucket.name + ": ";
    mlir::OwningOpRef<mlir::ModuleOp> module =
        buildModelModule(context, spec, bucket.shapes);
    if (mlir::failed(mlir::verify(*module))) {
      error = where + "the input IR does not verify:\n" + diagnostics.text;
      return fail();
    }
    std::string dumpDir;
    if (!request.dumpIRDir.empty()) {
      dumpDir = request.dumpIRDir + "/bucket-" + bucket.name;
      if (!createFolder(dumpDir, error))
        return fail();
    }
    auto dump = [&](const char *file) {
      return dumpDir.empty() ||
             writeTextFile(dumpDir + "/" + file, printModule(*module), error);
    };
    CpuPipelineOptions bucketOpts = opts;
    if (!planFusions(*module, bucketOpts, request.fusionPlanPath, bucket.fusion,
                     error) ||
        !dump("0-xf.mlir"))
      return fail();
    struct Stage {
      const char *name;
      void (*build)(mlir::OpPassManager &, const CpuPipelineOptions &);
      const char *dumpFile;
    } stages[] = {{"xf-model-stage", buildModelStage, "1-model-stage.mlir"},
                  {"xf-linalg-stage", buildLinalgStage, "2-linalg-stage.mlir"},
                  {"xf-buffer-stage", buildBufferStage, "3-buffer-stage.mlir"},
                  {"xf-llvm-stage", buildLLVMStage, "4-llvm-stage.mlir"}};
    for (const Stage &stage : stages) {
      mlir::PassManager pm(&context);
      stage.build(pm, bucketOpts);
      if (mlir::failed(pm.run(*module))) {
        error = where + "stage " + stage.name + " failed:\n" + diagnostics.text;
        return fail();
      }
      if (!dump(stage.dumpFile))
        return fail();
      if (stage.build == buildModelStage &&
          (!checkFormedKernels(*module, bucket.fusion, error) ||
           !collectArtifactInterface(*module, listInputs(spec, bucket.shapes),
                                     bucket.interface, error)))
        return fail();
      if (stage.build == buildBufferStage &&
          !readMemoryPlan(*module, bucket.memoryPlan, error))
        return fail();
    }
    if (!collectArtifactKernels(*module, bucket.kernels, error))
      return fail();
    // The largest bucket keeps the plain names: its entry point is the
    // one the manifest's top level describes.
    if (!largest && !suffixPublicSymbols(*module, "_" + bucket.name, error))
      return fail();
    std::string object = temp + "/model-" + bucket.name + ".o";
    std::string llvmIR = dumpDir.empty() ? "" : dumpDir + "/5-optimized.ll";
    if (!emitObjectFile(*module, target, object, llvmIR, error))
      return fail();
    objects.push_back(object);
    report.steps.emplace_back("bucket " + bucket.name,
                              secondsSince(bucketStart));
  }

  const CompiledBucket &primary = compiled.back();
  for (const CompiledBucket &bucket : compiled)
    if (!checkSameLayout(bucket.name, primary.interface, primary.kernels,
                         bucket.interface, bucket.kernels, primary.name, error))
      return fail();

  Clock::time_point step = Clock::now();
  ManifestInfo info;
  if (!linkSharedLibrary(objects, temp + "/" + info.libraryFile, error))
    return fail();
  for (const std::string &object : objects)
    llvm::sys::fs::remove(object);
  if (!checksumFile(temp + "/" + info.libraryFile, info.librarySizeBytes,
                    info.libraryChecksum, error))
    return fail();
  report.steps.emplace_back("link", secondsSince(step));

  step = Clock::now();
  ArtifactInterface interface = primary.interface;
  if (!writeArtifactWeights(temp + "/" + info.weightsFile, weights, interface,
                            error))
    return fail();
  for (const ArtifactWeight &w : interface.weights)
    report.weightBytes += w.sizeBytes;

  // Every tensor's dimensions, checked against each bucket's interface so
  // the runtime's padding matches what the code was compiled for.
  for (const TensorDecl &t : interface.inputs)
    info.inputDims.push_back(dimsOf(spec, t, /*isInput=*/true));
  for (const TensorDecl &t : interface.outputs)
    info.outputDims.push_back(dimsOf(spec, t, /*isInput=*/false));
  for (const CompiledBucket &bucket : compiled) {
    auto check = [&](const std::vector<TensorDecl> &tensors,
                     const std::vector<TensorDecl> &reference,
                     const std::vector<ArtifactTensorDims> &dims) {
      if (tensors.size() != reference.size()) {
        error = "bucket " + bucket.name + " has another interface";
        return false;
      }
      for (size_t i = 0; i < tensors.size(); ++i) {
        std::vector<int64_t> expected =
            shapeAt(reference[i], dims[i], bucket.shapes);
        if (tensors[i].name != reference[i].name ||
            tensors[i].shape != expected) {
          error = "bucket " + bucket.name + ": tensor '" + tensors[i].name +
                  "' has shape " + shapeText(tensors[i].shape) + ", expected " +
                  shapeText(expected);
          return false;
        }
      }
      return true;
    };
    if (!check(bucket.interface.inputs, interface.inputs, info.inputDims) ||
        !check(bucket.interface.outputs, interface.outputs, info.outputDims))
      return fail();
    ArtifactBucket entry;
    entry.shapes = bucket.shapes;
    bool isPrimary = &bucket == &primary;
    entry.entrySymbol = info.entrySymbol + (isPrimary ? "" : "_" + bucket.name);
    entry.signatureSymbol =
        std::string("xfc_signature") + (isPrimary ? "" : "_" + bucket.name);
    entry.arenaBytes = bucket.memoryPlan.arenaBytes;
    info.buckets.push_back(entry);
    // One arena per context serves every bucket.
    info.arenaBytes = std::max(info.arenaBytes, entry.arenaBytes);
  }
  info.modelName = spec.name;
  info.target = target;
  info.shapes = primary.shapes;
  info.pipeline = describeCpuPipeline(opts);
  info.specJson = specJson;
  info.naiveBytes = primary.memoryPlan.naiveBytes;
  info.lowerBoundBytes = primary.memoryPlan.lowerBoundBytes;
  info.numPlannedBuffers = primary.memoryPlan.buffers.size();
  info.kernels = primary.kernels;
  if (!writeManifest(temp + "/manifest.json", info, interface, error))
    return fail();

  if (!request.explainDir.empty()) {
    if (!createFolder(request.explainDir, error) ||
        !writeTextFile(request.explainDir + "/fusion-plan.json",
                       fusionPlanJson(primary.fusion, spec.name), error) ||
        !writeMemoryPlanFiles(primary.memoryPlan, request.explainDir, error))
      return fail();
  }
  // Into place as compileModule does: an existing folder (--force) is
  // moved aside and deleted only once the new one is in place.
  std::string backup;
  if (outputExists) {
    backup = temp + ".old";
    if (std::error_code ec = llvm::sys::fs::rename(request.outputDir, backup)) {
      error = "cannot move the existing " + request.outputDir +
              " aside: " + ec.message();
      return fail();
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(temp, request.outputDir)) {
    if (!backup.empty())
      llvm::sys::fs::rename(backup, request.outputDir);
    error = "cannot create " + request.outputDir + ": " + ec.message();
    return fail();
  }
  if (!backup.empty())
    llvm::sys::fs::remove_directories(backup, /*IgnoreErrors=*/true);
  report.steps.emplace_back("write artifact", secondsSince(step));

  report.fusion = primary.fusion;
  report.memoryPlan = primary.memoryPlan;
  report.buckets = info.buckets;
  report.totalSeconds += secondsSince(start);
  report.artifactDir = request.outputDir;
  return true;
}

std::string describeBuckets(const std::vector<ArtifactBucket> &buckets) {
  if (buckets.empty())
    return "";
  std::ostringstream out;
  out << "buckets: " << buckets.size()
      << " (a run takes the first that holds its input, padded; the arena "
         "is sized for the largest)\n";
  for (const ArtifactBucket &b : buckets) {
    char line[200];
    std::snprintf(line, sizeof(line),
                  "  batch %-4lld seq_len %-6lld tgt_len %-6lld arena %8.2f "
                  "MiB  %s\n",
                  (long long)b.shapes.batch, (long long)b.shapes.seqLen,
                  (long long)b.shapes.tgtLen, b.arenaBytes / 1048576.0,
                  b.entrySymbol.c_str());
    out << line;
  }
  return out.str();
}

} // namespace xfc
