//===- GpuModel.cpp - A GPU artifact opened on a device -------------------===//
//
// Part of xfc. See GpuModel.h. The weights go up once, through one
// allocation, when the model is opened; a context allocates its device
// block and stream once, so a run only copies and launches. The model's
// context (the device's primary one) is made current on the calling thread
// before every driver call, since runs may come from any thread.
//
//===----------------------------------------------------------------------===//
#include "GpuModel.h"

namespace xfc {

namespace {

/// Device allocations are laid out at this alignment: cuMemAlloc's own,
/// and enough for every vector access a kernel makes.
constexpr uint64_t kDeviceAlignment = 256;

uint64_t alignUp(uint64_t bytes) {
  return (bytes + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment;
}

/// The offsets of `sizes` laid out one after the other, aligned, and the
/// total (never 0, so that an allocation always has an address).
std::vector<uint64_t> layOut(const std::vector<uint64_t> &sizes,
                             uint64_t &total) {
  std::vector<uint64_t> offsets;
  total = 0;
  for (uint64_t size : sizes) {
    offsets.push_back(total);
    total += alignUp(size);
  }
  total = std::max<uint64_t>(total, kDeviceAlignment);
  return offsets;
}

bool call(const cuda::Driver *driver, const char *name, cuda::CUresult result,
          std::string &error) {
  if (result == cuda::CUDA_SUCCESS)
    return true;
  error = cuda::describeFailure(driver, name, result);
  return false;
}

void *devicePointer(cuda::CUdeviceptr address) {
  return reinterpret_cast<void *>(static_cast<uintptr_t>(address));
}

} // namespace

bool openGpuModel(int ordinal, const GpuImage &image,
                  const std::vector<const void *> &hostWeights,
                  const std::vector<uint64_t> &weightBytes, GpuModel &out,
                  std::string &error) {
  out = GpuModel();
  const cuda::Driver *driver = cuda::driver(error);
  if (!driver)
    return false;
  out.driver = driver;
  int count = 0;
  if (!driver->noDevice && !call(driver, "cuDeviceGetCount",
                                 driver->cuDeviceGetCount(&count), error))
    return false;
  if (count == 0) {
    error = "the CUDA driver reports no GPU";
    return false;
  }
  if (ordinal < 0 || ordinal >= count) {
    error = "GPU " + std::to_string(ordinal) +
            " does not exist (this "
            "machine has " +
            std::to_string(count) + ")";
    return false;
  }
  auto fail = [&] {
    closeGpuModel(out);
    return false;
  };
  if (!call(driver, "cuDeviceGet", driver->cuDeviceGet(&out.device, ordinal),
            error) ||
      !call(driver, "cuDevicePrimaryCtxRetain",
            driver->cuDevicePrimaryCtxRetain(&out.context, out.device), error))
    return fail();
  out.contextRetained = true;
  if (!call(driver, "cuCtxSetCurrent", driver->cuCtxSetCurrent(out.context),
            error) ||
      !loadGpuModule(driver, out.device, image, out.module, error))
    return fail();
  out.kernelNames = image.kernels;

  uint64_t total = 0;
  std::vector<uint64_t> offsets = layOut(weightBytes, total);
  if (!call(driver, "cuMemAlloc", driver->cuMemAlloc(&out.weights, total),
            error)) {
    error += " (the weights, " + std::to_string(total) + " bytes)";
    return fail();
  }
  for (size_t i = 0; i < hostWeights.size(); ++i) {
    cuda::CUdeviceptr at = out.weights + offsets[i];
    out.weightPointers.push_back(devicePointer(at));
    if (weightBytes[i] &&
        !call(driver, "cuMemcpyHtoDAsync",
              driver->cuMemcpyHtoDAsync(at, hostWeights[i], weightBytes[i],
                                        nullptr),
              error))
      return fail();
  }
  if (!call(driver, "cuStreamSynchronize", driver->cuStreamSynchronize(nullptr),
            error))
    return fail();
  return true;
}

void closeGpuModel(GpuModel &model) {
  const cuda::Driver *driver = model.driver;
  if (driver && model.contextRetained) {
    driver->cuCtxSetCurrent(model.context);
    unloadGpuModule(driver, model.module);
    if (model.weights)
      driver->cuMemFree(model.weights);
    driver->cuDevicePrimaryCtxRelease(model.device);
  }
  model = GpuModel();
}

bool createGpuContext(const GpuModel &model, uint64_t arenaBytes,
                      const std::vector<uint64_t> &inputBytes,
                      const std::vector<uint64_t> &outputBytes, GpuContext &out,
                      std::string &error) {
  out = GpuContext();
  const cuda::Driver *driver = model.driver;
  if (!call(driver, "cuCtxSetCurrent", driver->cuCtxSetCurrent(model.context),
            error))
    return false;
  std::vector<uint64_t> sizes{arenaBytes};
  sizes.insert(sizes.end(), inputBytes.begin(), inputBytes.end());
  sizes.insert(sizes.end(), outputBytes.begin(), outputBytes.end());
  uint64_t total = 0;
  std::vector<uint64_t> offsets = layOut(sizes, total);
  if (!call(driver, "cuMemAlloc", driver->cuMemAlloc(&out.block, total),
            error)) {
    error += " (the arena, inputs and outputs of a context, " +
             std::to_string(total) + " bytes)";
    return false;
  }
  // A stream of its own, not synchronizing with the legacy default
  // stream (CU_STREAM_NON_BLOCKING), so contexts run side by side.
  if (!call(driver, "cuStreamCreate", driver->cuStreamCreate(&out.stream, 1),
            error)) {
    driver->cuMemFree(out.block);
    out = GpuContext();
    return false;
  }
  out.arena = devicePointer(out.block + offsets[0]);
  for (size_t i = 0; i < inputBytes.size(); ++i)
    out.inputs.push_back(devicePointer(out.block + offsets[1 + i]));
  for (size_t i = 0; i < outputBytes.size(); ++i)
    out.outputs.push_back(
        devicePointer(out.block + offsets[1 + inputBytes.size() + i]));
  out.inputBytes = inputBytes;
  out.outputBytes = outputBytes;
  initGpuRun(out.run, driver, out.stream, model.module.functions,
             model.kernelNames);
  return true;
}

void destroyGpuContext(const GpuModel &model, GpuContext &context) {
  const cuda::Driver *driver = model.driver;
  if (driver && (context.stream || context.block)) {
    driver->cuCtxSetCurrent(model.context);
    if (context.stream)
      driver->cuStreamSynchronize(context.stream);
    if (context.graphExec)
      driver->cuGraphExecDestroy(context.graphExec);
    if (context.graph)
      driver->cuGraphDestroy(context.graph);
    for (cuda::CUevent event : context.run.events)
      driver->cuEventDestroy(event);
    if (context.stream)
      driver->cuStreamDestroy(context.stream);
    if (context.block)
      driver->cuMemFree(context.block);
  }
  context = GpuContext();
}

namespace {

/// Records the launches of `entry` on the context's stream (stream
/// capture: nothing runs) into `graph`, and how many there were. False
/// with `error`: the failed call, or the launch the host code could not
/// make; no graph is kept then.
bool recordLaunches(const GpuModel &model, GpuContext &context, GpuEntry entry,
                    void **args, cuda::CUgraph &graph, uint64_t &launches,
                    std::string &error) {
  const cuda::Driver *driver = model.driver;
  graph = nullptr;
  if (!driver->graphs) {
    error = "the CUDA driver (version " + std::to_string(driver->version) +
            ") lacks the graph entry points of CUDA 11.4 "
            "(cuGraphInstantiateWithFlags and the others)";
    return false;
  }
  if (!call(driver, "cuCtxSetCurrent", driver->cuCtxSetCurrent(model.context),
            error) ||
      !call(driver, "cuStreamBeginCapture",
            driver->cuStreamBeginCapture(context.stream,
                                         cuda::kStreamCaptureThreadLocal),
            error))
    return false;
  resetGpuRun(context.run);
  entry(args);
  // The capture always ends, so the stream stays usable whatever failed;
  // a failed launch is the failure to report, as it explains the rest.
  std::string endError;
  bool ended =
      call(driver, "cuStreamEndCapture",
           driver->cuStreamEndCapture(context.stream, &graph), endError);
  launches = context.run.launches;
  bool launched = !context.run.failedResult;
  error = launched ? endError : context.run.failure;
  resetGpuRun(context.run);
  if (launched && ended)
    return true;
  if (graph)
    driver->cuGraphDestroy(graph);
  graph = nullptr;
  return false;
}

} // namespace

bool captureGpuGraph(const GpuModel &model, GpuContext &context, GpuEntry entry,
                     void **args, std::string &error) {
  const cuda::Driver *driver = model.driver;
  cuda::CUgraph graph = nullptr;
  uint64_t launches = 0;
  if (!recordLaunches(model, context, entry, args, graph, launches, error))
    return false;
  cuda::CUgraphExec exec = nullptr;
  if (!call(driver, "cuGraphInstantiateWithFlags",
            driver->cuGraphInstantiateWithFlags(&exec, graph, 0), error)) {
    driver->cuGraphDestroy(graph);
    return false;
  }
  context.graph = graph;
  context.graphExec = exec;
  context.graphLaunches = launches;
  return true;
}

bool enableGpuProfiling(const GpuModel &model, GpuContext &context,
                        GpuEntry entry, void **args, std::string &error) {
  const cuda::Driver *driver = model.driver;
  cuda::CUgraph graph = nullptr;
  uint64_t launches = 0;
  if (!recordLaunches(model, context, entry, args, graph, launches, error))
    return false;
  driver->cuGraphDestroy(graph);
  GpuRun &run = context.run;
  for (uint64_t i = 0; i < 2 * launches; ++i) {
    cuda::CUevent event = nullptr;
    if (!call(driver, "cuEventCreate", driver->cuEventCreate(&event, 0),
              error)) {
      error += " (the events of a profiling context)";
      return false;
    }
    run.events.push_back(event);
  }
  run.launchedKernels.assign(launches, -1);
  context.launchNs.assign(launches, 0.0);
  return true;
}

bool runGpuContext(const GpuModel &model, GpuContext &context, GpuEntry entry,
                   void **args, const std::vector<const void *> &inputs,
                   const std::vector<void *> &outputs, std::string &error) {
  const cuda::Driver *driver = model.driver;
  if (!call(driver, "cuCtxSetCurrent", driver->cuCtxSetCurrent(model.context),
            error))
    return false;
  resetGpuRun(context.run);
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto at = reinterpret_cast<cuda::CUdeviceptr>(context.inputs[i]);
    if (context.inputBytes[i] &&
        !call(driver, "cuMemcpyHtoDAsync",
              driver->cuMemcpyHtoDAsync(at, inputs[i], context.inputBytes[i],
                                        context.stream),
              error))
      return false;
  }
  bool graphLaunched = true;
  std::string graphError;
  if (context.graphExec)
    graphLaunched = call(
        driver, "cuGraphLaunch",
        driver->cuGraphLaunch(context.graphExec, context.stream), graphError);
  else
    entry(args);
  // The outputs are copied whatever happened, then the stream is waited
  // for; the first failure is the one reported.
  bool copied = true;
  std::string copyError;
  for (size_t i = 0; i < outputs.size() && copied; ++i) {
    auto at = reinterpret_cast<cuda::CUdeviceptr>(context.outputs[i]);
    if (context.outputBytes[i])
      copied = call(driver, "cuMemcpyDtoHAsync",
                    driver->cuMemcpyDtoHAsync(
                        outputs[i], at, context.outputBytes[i], context.stream),
                    copyError);
  }
  std::string syncError;
  bool synced = call(driver, "cuStreamSynchronize",
                     driver->cuStreamSynchronize(context.stream), syncError);
  if (context.run.failedResult) {
    error = context.run.failure;
    return false;
  }
  if (!graphLaunched) {
    error = graphError;
    return false;
  }
  if (!copied || !synced) {
    error = !copied ? copyError : syncError;
    return false;
  }
  // Profiling: each launch's time on the device, between its events.
  for (uint64_t l = 0; l < context.run.launches && !context.run.events.empty();
       ++l) {
    float milliseconds = 0;
    if (!call(driver, "cuEventElapsedTime",
              driver->cuEventElapsedTime(&milliseconds,
                                         context.run.events[2 * l],
                                         context.run.events[2 * l + 1]),
              error))
      return false;
    context.launchNs[l] = double(milliseconds) * 1e6;
  }
  return true;
}

} // namespace xfc
