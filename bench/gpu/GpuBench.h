//===- GpuBench.h - Single-kernel benchmarks on an NVIDIA GPU ---*- C++ -*-===//
//
// Part of xfc. What xfc-gpu-bench and xfc-gpu-bench-run share
// (bench/gpu/README.md): the cases (the flash-attention and GEMM kernels of
// compiler/lib/GpuKernels.cpp at the shapes the GPU results report), the
// files a prepared kernel is kept in, and the run of one case on a device:
// seeded random inputs uploaded from the host, poisoned outputs, warm-up,
// CUDA-event timing, and a check of the GPU's result against a host
// reference in f64 on a sample of rows or outputs.
//
// Nothing here needs LLVM or MLIR: the compiler half (generating a case's
// kernel to PTX) is in xfc-gpu-bench.cpp, so xfc-gpu-bench-run can run
// kernels prepared elsewhere on a machine that has only the CUDA driver.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_BENCH_GPU_GPUBENCH_H
#define XFC_BENCH_GPU_GPUBENCH_H

#include "CudaDriver.h"
#include "GpuModule.h"
#include "xfc/Compiler/GpuKernels.h"

#include <cstdint>
#include <string>
#include <vector>

namespace xfc::gpubench {

/// The symbol every case's kernel has (one kernel per module).
constexpr const char *kKernelName = "bench_kernel";

/// One benchmark case: one kernel at one shape.
struct BenchCase {
  enum Kind { Attention, Gemm } kind = Attention;
  /// The record's name, e.g. "attention/fp16/d=64/L=1024/causal".
  std::string name;
  /// The kernel, for buildGpuKernels (one GEMM or one attention).
  GpuKernelSet kernels;
  /// Useful floating-point operations of one run: 2 M N K for a GEMM,
  /// 4 B H L^2 d for attention, halved when causal.
  double flops = 0;
  std::string dtype; ///< "fp16" or "bf16".
};

/// Which cases to run.
struct Selection {
  bool attention = true, gemm = true;
  bool smoke = false; ///< A handful of small shapes, for tests.
  std::vector<std::string> attentionDtypes = {"fp16"};
  std::vector<std::string> gemmDtypes = {"fp16", "bf16"};
  std::vector<int64_t> headDims = {64, 128};
  std::vector<int64_t> seqLens = {1024, 2048, 4096, 8192, 16384};
  std::vector<int64_t> gemmRows = {4096, 16384};
  /// Each GEMM also on warpgroup MMA (sm_90a's wgmma), as
  /// gemm/DTYPE/wgmma/...: kernels for sm_90a only.
  bool wgmma = false;
  /// Each attention case also with the other query tile (64 or 128 rows
  /// a block; the case itself takes preferredAttentionQueryTile's), as
  /// attention/DTYPE/q64/... or attention/DTYPE/q128/...
  bool attentionTiles = false;
  std::string filter; ///< Only names containing this, when not empty.
};

/// The cases of `selection`, in run order.
std::vector<BenchCase> benchCases(const Selection &selection);

/// The file stem of a case's prepared kernel: its name with every
/// character other than a letter or digit as '_'.
std::string caseFileStem(const BenchCase &benchCase);

/// Writes `dir`/STEM.ptx, .cubin (when `image.cubin` is not empty) and
/// .launch (the chip, the PTX ISA version and `launch` as text).
bool writePreparedKernel(const std::string &dir, const BenchCase &benchCase,
                         const GpuImage &image, const GpuKernelLaunch &launch,
                         std::string &error);
/// Reads what writePreparedKernel wrote for `benchCase`.
bool readPreparedKernel(const std::string &dir, const BenchCase &benchCase,
                        GpuImage &image, GpuKernelLaunch &launch,
                        std::string &error);

/// How a case is run.
struct RunOptions {
  int warmup = 5;  ///< Untimed launches first.
  int repeat = 30; ///< Timed launches; the record gives the median.
  uint64_t seed = 1;
  bool check = true; ///< Compare with the host reference.
};

/// The GPU a run uses: its primary context and a stream.
class Device {
public:
  /// Opens GPU `ordinal` through the CUDA driver (XFC_LIBCUDA or
  /// libcuda.so.1). False with `error` when there is none.
  bool open(int ordinal, std::string &error);
  ~Device();

  const cuda::Driver *driver = nullptr;
  cuda::CUdevice device = 0;
  cuda::CUcontext context = nullptr;
  cuda::CUstream stream = nullptr;
  std::string name;
  int computeCapability = 0; ///< Major * 10 + minor.
  int multiprocessors = 0;
  int l2Bytes = 0;
  /// "sm_90" on compute capability 9.x, "sm_80" on 8.x and later others;
  /// "" for a GPU older than 8.0 (the kernels use sm_80's instructions).
  std::string chip() const;
};

/// Runs `benchCase` with its kernel `image` and `launch` on `device`:
/// loads the module, fills the inputs, times, checks. Returns the record
/// as one line of JSON; `passed` says whether the check passed (a failed
/// check is a record too, with "check" saying what failed). False with
/// `error` when a driver call fails.
bool runCase(Device &device, const BenchCase &benchCase, const GpuImage &image,
             const GpuKernelLaunch &launch, const RunOptions &options,
             std::string &record, bool &passed, std::string &error);

/// IEEE half and bfloat16 from a float, rounded to nearest even, and back.
uint16_t floatToHalf(float value);
float halfToFloat(uint16_t half);
uint16_t floatToBf16(float value);
float bf16ToFloat(uint16_t value);

/// The command-line options of both programs (bench/gpu/README.md).
struct CommandLine {
  Selection selection;
  RunOptions run;
  int device = 0;
  bool list = false;
  std::string prepared; ///< --prepared DIR: read kernels from DIR.
  std::string emit;     ///< --emit-kernels DIR (xfc-gpu-bench only).
  std::string gpuArch;  ///< --gpu-arch, for --emit-kernels.
  bool noCubin = false; ///< --no-cubin: load the PTX even with ptxas.
};
/// Parses the arguments; `withCompiler` accepts the options only
/// xfc-gpu-bench has. False with `error` for an unknown or malformed one.
bool parseCommandLine(int argc, char **argv, bool withCompiler,
                      CommandLine &out, std::string &error);

/// The usage text of xfc-gpu-bench (`withCompiler`) or xfc-gpu-bench-run.
std::string usage(bool withCompiler);

/// Produces a case's kernel for `chip`: generated in process
/// (xfc-gpu-bench) or read from the --prepared folder.
using KernelSource = bool (*)(const CommandLine &options,
                              const BenchCase &benchCase,
                              const std::string &chip, GpuImage &image,
                              GpuKernelLaunch &launch, std::string &error);

/// Both programs' main after parsing: --list, or opens the GPU and runs
/// every selected case with the kernels `source` gives, one JSON record a
/// line on stdout, progress and a summary table on stderr. Returns 0, 1
/// when a check failed, 2 on an error.
int benchMain(const CommandLine &options, KernelSource source);

} // namespace xfc::gpubench

#endif // XFC_BENCH_GPU_GPUBENCH_H
