//===- GpuModel.h - A GPU artifact opened on a device -----------*- C++ -*-===//
//
// Part of xfc. The device side of a model compiled with --target=cuda
// (docs/gpu.md, "Runtime"): opening it takes the device's primary context,
// loads the device code embedded in the library (GpuModule.h) and uploads
// the weights once; each run context owns a stream and one device block
// holding the arena and the inputs and outputs; a run copies the inputs
// in, calls the host schedule (which launches every kernel on the
// context's stream through GpuLaunch.h), copies the outputs out and waits
// for the stream. Every driver failure names the call and the error.
//
// A context may instead capture the schedule once into a CUDA graph
// (captureGpuGraph): the host code's launches are recorded on the stream,
// not run, and each run then replays them all with one cuGraphLaunch. A
// run's arguments never change (every buffer of the schedule lives at a
// fixed address of the context, and its shapes are static), so the
// recorded launches stay valid for the context's life; what a run saves
// is the host's per-launch cost and the gaps between kernels.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_RUNTIME_GPUMODEL_H
#define XFC_RUNTIME_GPUMODEL_H

#include "CudaDriver.h"
#include "GpuLaunch.h"
#include "GpuModule.h"

#include <cstdint>
#include <string>
#include <vector>

namespace xfc {

/// The device side of an opened model. Closed by closeGpuModel.
struct GpuModel {
  const cuda::Driver *driver = nullptr;
  cuda::CUdevice device = 0;
  /// The device's primary context, retained while the model is open.
  cuda::CUcontext context = nullptr;
  bool contextRetained = false;
  LoadedGpuModule module;
  std::vector<std::string> kernelNames;
  /// Every weight in one allocation, each at a 256-byte aligned offset.
  cuda::CUdeviceptr weights = 0;
  std::vector<void *> weightPointers;
};

/// Opens `image` on GPU `ordinal` and uploads `hostWeights[i]`
/// (`weightBytes[i]` bytes each). False with `error` (no driver, no such
/// GPU, a device or driver that cannot run the image, a failed call);
/// nothing stays acquired then.
bool openGpuModel(int ordinal, const GpuImage &image,
                  const std::vector<const void *> &hostWeights,
                  const std::vector<uint64_t> &weightBytes, GpuModel &out,
                  std::string &error);
void closeGpuModel(GpuModel &model);

/// One run context's device state.
struct GpuContext {
  cuda::CUstream stream = nullptr;
  /// The arena, then each input and output, 256-byte aligned.
  cuda::CUdeviceptr block = 0;
  void *arena = nullptr;
  std::vector<void *> inputs, outputs;
  std::vector<uint64_t> inputBytes, outputBytes;
  GpuRun run;
  /// The schedule captured by captureGpuGraph, replayed by every run;
  /// null while the context launches kernel by kernel.
  cuda::CUgraph graph = nullptr;
  cuda::CUgraphExec graphExec = nullptr;
  /// The launches the graph holds.
  uint64_t graphLaunches = 0;
  /// Profiling: the device time of each launch of the last run, in launch
  /// order (its kernel in run.launchedKernels).
  std::vector<double> launchNs;
};

/// Creates a stream and the device block for an arena of `arenaBytes` and
/// the given inputs and outputs. False with `error`; nothing stays
/// allocated then.
bool createGpuContext(const GpuModel &model, uint64_t arenaBytes,
                      const std::vector<uint64_t> &inputBytes,
                      const std::vector<uint64_t> &outputBytes, GpuContext &out,
                      std::string &error);
void destroyGpuContext(const GpuModel &model, GpuContext &context);

/// The host schedule's entry point (docs/artifact.md): inputs, weights,
/// outputs, arena, then the run context, all device pointers but the last.
using GpuEntry = void (*)(void **args);

/// Records the launches of `entry` (called with `args`, whose last element
/// must be &context.run) on the context's stream into a graph and
/// instantiates it, so that later runs replay it instead of calling
/// `entry`. Nothing runs on the device. False with `error` naming the
/// failed call, or the launch the host code could not make; the context
/// then still runs kernel by kernel.
bool captureGpuGraph(const GpuModel &model, GpuContext &context, GpuEntry entry,
                     void **args, std::string &error);

/// Makes `context` time each kernel launch of its runs on the device: as
/// captureGpuGraph, records the launches of `entry` once (running none),
/// to count them, then creates two events per launch, which each launch
/// records around itself (GpuRun::events). After a run, launchNs holds
/// each launch's time. False with `error` naming the failed call.
bool enableGpuProfiling(const GpuModel &model, GpuContext &context,
                        GpuEntry entry, void **args, std::string &error);

/// Copies `inputs` in, calls `entry` with `args` (whose last element must
/// be &context.run), copies the outputs into `outputs` and waits. False
/// with `error` naming the failed call or the failed launch. A context
/// with a captured graph launches the graph instead of calling `entry`.
bool runGpuContext(const GpuModel &model, GpuContext &context, GpuEntry entry,
                   void **args, const std::vector<const void *> &inputs,
                   const std::vector<void *> &outputs, std::string &error);

} // namespace xfc

#endif // XFC_RUNTIME_GPUMODEL_H
