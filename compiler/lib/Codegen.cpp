//===- Codegen.cpp - LLVM dialect to a native shared library ----*- C++ -*-===//
//
// Part of xfc. Implements target selection and native code emission. The
// target is described explicitly (baseline CPU + feature list) rather than
// as `-mcpu=<host>`, because a host CPU name implies features the runtime
// could not check; this way every instruction set extension the code may
// use is listed in the manifest and verified when the artifact is opened.
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/Codegen.h"

#include "xfc/Support/CpuFeatures.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <map>
#include <memory>

namespace xfc {
namespace {

/// Features of the x86-64 micro-architecture levels (System V psABI),
/// restricted to names the runtime checks. The baseline's SSE/SSE2 are
/// implied by the "x86-64" CPU itself.
const std::map<std::string, std::vector<std::string>> &x86Levels() {
  static const std::map<std::string, std::vector<std::string>> levels = [] {
    std::vector<std::string> v2{"cx16",   "popcnt", "sse3",
                                "sse4.1", "sse4.2", "ssse3"};
    std::vector<std::string> v3 = v2;
    v3.insert(v3.end(), {"avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt",
                         "movbe", "xsave"});
    std::vector<std::string> v4 = v3;
    v4.insert(v4.end(),
              {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"});
    return std::map<std::string, std::vector<std::string>>{{"x86-64", {}},
                                                           {"x86-64-v2", v2},
                                                           {"x86-64-v3", v3},
                                                           {"x86-64-v4", v4}};
  }();
  return levels;
}

void initializeNativeTarget() {
  static bool done = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)done;
}

std::string featureString(const TargetDescription &target) {
  std::string out;
  for (const std::string &f : target.features) {
    if (!out.empty())
      out += ",";
    out += "+" + f;
  }
  return out;
}

} // namespace

int64_t vectorWidthFor(const TargetDescription &target) {
  auto has = [&](const char *feature) {
    return std::find(target.features.begin(), target.features.end(),
                     feature) != target.features.end();
  };
  if (has("avx512f"))
    return 16;
  if (has("avx2") && has("fma"))
    return 8;
  return 4;
}

bool selectTarget(const std::string &cpuOption, TargetDescription &out,
                  std::string &error) {
  out.triple = llvm::sys::getDefaultTargetTriple();
  out.tuneCpu = llvm::sys::getHostCPUName().str();
  if (!llvm::Triple(out.triple).isX86()) {
    // Elsewhere the generic CPU of the triple, with no extensions claimed
    // (the runtime's feature checks are x86-only so far).
    if (cpuOption != "native") {
      error = "--cpu: only 'native' is supported on " + out.triple +
              "; found '" + cpuOption + "'";
      return false;
    }
    out.cpu = "generic";
    out.features.clear();
    return true;
  }
  out.cpu = "x86-64";
  if (cpuOption == "native") {
    llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
    out.features.clear();
    for (const std::string &name : checkableCpuFeatures()) {
      auto it = host.find(name);
      if (it != host.end() && it->second && hostHasCpuFeature(name))
        out.features.push_back(name);
    }
    return true;
  }
  auto it = x86Levels().find(cpuOption);
  if (it == x86Levels().end()) {
    error = "--cpu: expected one of native, x86-64, x86-64-v2, x86-64-v3, "
            "x86-64-v4; found '" +
            cpuOption + "'";
    return false;
  }
  out.features = it->second;
  return true;
}

bool emitSharedLibrary(mlir::ModuleOp module, const TargetDescription &target,
                       const std::string &objectPath,
                       const std::string &libraryPath,
                       const std::string &llvmIRPath, std::string &error) {
  return emitObjectFile(module, target, objectPath, llvmIRPath, error) &&
         linkSharedLibrary({objectPath}, libraryPath, error);
}

bool emitObjectFile(mlir::ModuleOp module, const TargetDescription &target,
                    const std::string &objectPath,
                    const std::string &llvmIRPath, std::string &error) {
  initializeNativeTarget();
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      mlir::translateModuleToLLVMIR(module, llvmContext, "xfc_model");
  if (!llvmModule) {
    error = "translation of the LLVM dialect module to LLVM IR failed";
    return false;
  }

  llvm::Triple triple(target.triple);
  std::string lookupError;
  const llvm::Target *llvmTarget =
      llvm::TargetRegistry::lookupTarget(triple, lookupError);
  if (!llvmTarget) {
    error = "no LLVM target for " + target.triple + ": " + lookupError;
    return false;
  }
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(llvmTarget->createTargetMachine(
      triple, target.cpu, featureString(target), options, llvm::Reloc::PIC_,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine) {
    error = "could not create a target machine for " + target.triple;
    return false;
  }
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);
  // Every function gets the explicit CPU and features (the optimizer reads
  // them per function) and the host as its scheduling model.
  for (llvm::Function &f : *llvmModule) {
    if (f.isDeclaration())
      continue;
    f.addFnAttr("target-cpu", target.cpu);
    f.addFnAttr("target-features", featureString(target));
    f.addFnAttr("tune-cpu", target.tuneCpu);
  }
  if (llvm::verifyModule(*llvmModule, &llvm::errs())) {
    error = "the generated LLVM IR does not verify";
    return false;
  }

  // The standard O3 pipeline (loop vectorization, unrolling, ...).
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PipelineTuningOptions tuning;
    tuning.LoopVectorization = true;
    tuning.SLPVectorization = true;
    // Loops with small static trip counts (sequence 9, 12 heads) would be
    // fully unrolled across every layer of one large function, which makes
    // codegen superlinear (44 s for GPT-2 at sequence 9) for no speedup:
    // the vectorizer still interleaves the innermost loops.
    tuning.LoopUnrolling = false;
    llvm::PassBuilder builder(machine.get(), tuning);
    builder.registerModuleAnalyses(mam);
    builder.registerCGSCCAnalyses(cgam);
    builder.registerFunctionAnalyses(fam);
    builder.registerLoopAnalyses(lam);
    builder.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm =
        builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(*llvmModule, mam);
  }

  if (!llvmIRPath.empty()) {
    std::error_code ec;
    llvm::raw_fd_ostream irFile(llvmIRPath, ec, llvm::sys::fs::OF_Text);
    if (ec) {
      error = "cannot write " + llvmIRPath + ": " + ec.message();
      return false;
    }
    llvmModule->print(irFile, nullptr);
  }

  {
    std::error_code ec;
    llvm::raw_fd_ostream objectFile(objectPath, ec, llvm::sys::fs::OF_None);
    if (ec) {
      error = "cannot write " + objectPath + ": " + ec.message();
      return false;
    }
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, objectFile, nullptr,
                                     llvm::CodeGenFileType::ObjectFile)) {
      error = "the target machine cannot emit object files";
      return false;
    }
    codegen.run(*llvmModule);
  }
  return true;
}

bool linkSharedLibrary(const std::vector<std::string> &objectPaths,
                       const std::string &libraryPath, std::string &error) {
  // Link with lld. The library needs libm (erff, expf, ...) and libc
  // (malloc/free); both are named so the loader resolves them even in a
  // process that does not already have them. Parallel kernels call LLVM's
  // OpenMP runtime (__kmpc_*), found at run time through the RUNPATH; it
  // is linked --as-needed so single-threaded artifacts do not depend on it.
  std::vector<std::string> argStorage{XFC_LLD_PATH, "-shared", "--no-undefined",
                                      "-o", libraryPath};
  argStorage.insert(argStorage.end(), objectPaths.begin(), objectPaths.end());
  argStorage.insert(argStorage.end(),
                    {"-L/lib/x86_64-linux-gnu", "-L/usr/lib/x86_64-linux-gnu",
                     "-L/lib64", "-L/usr/lib64", "-l:libm.so.6", "-l:libc.so.6",
                     "--as-needed", "-L" XFC_LIBOMP_DIR, "-l:libomp.so.5",
                     "-rpath", XFC_LIBOMP_DIR});
  std::vector<llvm::StringRef> args(argStorage.begin(), argStorage.end());
  std::string execError;
  llvm::SmallString<128> logPath;
  llvm::sys::fs::createTemporaryFile("xfc-link", "log", logPath);
  std::optional<llvm::StringRef> redirects[] = {
      std::nullopt, llvm::StringRef(logPath), llvm::StringRef(logPath)};
  int rc = llvm::sys::ExecuteAndWait(XFC_LLD_PATH, args, std::nullopt,
                                     redirects, 0, 0, &execError);
  if (rc != 0) {
    std::string log;
    if (auto buffer = llvm::MemoryBuffer::getFile(logPath))
      log = (*buffer)->getBuffer().str();
    llvm::sys::fs::remove(logPath);
    error = "linking " + libraryPath + " with " + XFC_LLD_PATH + " failed" +
            (execError.empty() ? "" : ": " + execError) +
            (log.empty() ? "" : "\n" + log);
    return false;
  }
  llvm::sys::fs::remove(logPath);
  return true;
}

} // namespace xfc
