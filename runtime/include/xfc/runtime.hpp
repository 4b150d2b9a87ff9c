//===- runtime.hpp - C++ wrapper of the xfc runtime C API -------*- C++ -*-===//
//
// Part of xfc. A thin header-only C++ layer over xfc/runtime.h: an owning
// Status, a RuntimeError exception, a move-only Model that destroys the
// underlying xfc_model and a move-only Context (one run context). Every
// operation comes in two forms: one that throws RuntimeError and a `try...`
// form that returns a Status, for callers built without exceptions or that
// prefer error values. The threading contract is the C API's: a Model may
// be shared by many threads, a Context is used by one thread at a time.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_RUNTIME_HPP
#define XFC_RUNTIME_HPP

#include "xfc/runtime.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace xfc {

/// Owns an xfc_status; an empty Status is success.
class Status {
public:
  Status() = default;
  /// Takes ownership of `status` (NULL for success).
  explicit Status(xfc_status status) : status_(status) {}
  Status(Status &&other) noexcept : status_(other.release()) {}
  Status &operator=(Status &&other) noexcept {
    if (this != &other) {
      xfc_status_free(status_);
      status_ = other.release();
    }
    return *this;
  }
  Status(const Status &) = delete;
  Status &operator=(const Status &) = delete;
  ~Status() { xfc_status_free(status_); }

  bool ok() const { return status_ == nullptr; }
  explicit operator bool() const { return ok(); }
  xfc_status_code code() const { return xfc_status_get_code(status_); }
  /// The message ("" on success).
  std::string message() const { return xfc_status_get_message(status_); }

  /// Gives up ownership of the C status.
  xfc_status release() { return std::exchange(status_, nullptr); }

private:
  xfc_status status_ = nullptr;
};

/// The exception the throwing API raises: a failed Status.
class RuntimeError : public std::runtime_error {
public:
  RuntimeError(xfc_status_code code, const std::string &message)
      : std::runtime_error(message), code_(code) {}
  xfc_status_code code() const { return code_; }

private:
  xfc_status_code code_;
};

/// Throws RuntimeError if `status` failed.
inline void throwIfError(Status status) {
  if (!status.ok())
    throw RuntimeError(status.code(), status.message());
}

/// A model input or output, with owned copies of the C description.
struct TensorInfo {
  std::string name;
  xfc_dtype dtype = XFC_DTYPE_F32;
  std::vector<int64_t> shape;
  /// Integer inputs: the inclusive range every element must lie in.
  std::optional<std::pair<int64_t, int64_t>> range;

  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  /// The exact size_bytes xfc_model_run expects for this tensor.
  size_t sizeBytes() const {
    return static_cast<size_t>(numElements()) * xfc_dtype_size(dtype);
  }
};

/// A kernel of the model, with owned copies of the C description.
struct KernelInfo {
  std::string name, symbol, kind;
  std::vector<std::string> nodes;
  uint64_t flops = 0, bytes = 0;
};

/// What a profiling Context measured of one kernel.
struct KernelProfile {
  KernelInfo kernel;
  uint64_t calls = 0, ticks = 0;
  double totalNs = 0;
};

/// What a profiling Context measured (see xfc_profile), kernel by kernel in
/// kernel order.
struct Profile {
  uint64_t runs = 0, ticks = 0;
  double wallNs = 0, nsPerTick = 0, kernelNs = 0;
  std::vector<KernelProfile> kernels;
};

namespace detail {
inline KernelInfo convertKernel(const xfc_kernel_info &info) {
  KernelInfo out;
  out.name = info.name;
  out.symbol = info.symbol;
  out.kind = info.kind;
  out.nodes.assign(info.nodes, info.nodes + info.num_nodes);
  out.flops = info.flops;
  out.bytes = info.bytes;
  return out;
}
} // namespace detail

/// Options of Model::open (see xfc_model_options).
struct ModelOptions {
  /// Load even if this CPU lacks features the artifact was compiled for.
  bool skipCpuCheck = false;
  /// The GPU a model compiled with --target=cuda opens on.
  int32_t gpuDevice = 0;
  /// Open a GPU model without its GPU: checked, not runnable.
  bool skipDevice = false;
};

/// An opened artifact. Move-only; destroying it destroys the xfc_model, so
/// every run must have returned first.
class Model {
public:
  Model() = default;
  Model(Model &&other) noexcept
      : model_(std::exchange(other.model_, nullptr)) {}
  Model &operator=(Model &&other) noexcept {
    if (this != &other) {
      xfc_model_destroy(model_);
      model_ = std::exchange(other.model_, nullptr);
    }
    return *this;
  }
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;
  ~Model() { xfc_model_destroy(model_); }

  /// Opens the artifact folder `path`; throws RuntimeError on failure.
  static Model open(const std::string &path, const ModelOptions &options = {}) {
    Model model;
    throwIfError(tryOpen(path, model, options));
    return model;
  }

  /// Opens the artifact folder `path` into `out`; returns the Status.
  static Status tryOpen(const std::string &path, Model &out,
                        const ModelOptions &options = {}) {
    xfc_model_options cOptions;
    xfc_model_options_initialize(&cOptions);
    cOptions.skip_cpu_check = options.skipCpuCheck ? 1 : 0;
    cOptions.gpu_device = options.gpuDevice;
    cOptions.skip_device = options.skipDevice ? 1 : 0;
    xfc_model *model = nullptr;
    Status status(xfc_model_open(path.c_str(), &cOptions, &model));
    if (status.ok())
      out = Model(model);
    return status;
  }

  /// True if this holds an opened model.
  bool valid() const { return model_ != nullptr; }
  /// The underlying C handle (still owned by this object).
  xfc_model *get() const { return model_; }

  std::string name() const { return xfc_model_name(model_); }

  /// Checks every byte of the weights against the manifest's checksums
  /// (xfc_model_verify); throws RuntimeError on a mismatch.
  void verify() const { throwIfError(tryVerify()); }
  Status tryVerify() const { return Status(xfc_model_verify(model_)); }
  /// Bytes of the arena each Context allocates.
  size_t arenaBytes() const { return xfc_model_arena_bytes(model_); }
  size_t numInputs() const { return xfc_model_num_inputs(model_); }
  size_t numOutputs() const { return xfc_model_num_outputs(model_); }

  /// Describes input `index`; throws RuntimeError when out of range.
  TensorInfo inputInfo(size_t index) const {
    xfc_tensor_info info;
    throwIfError(Status(xfc_model_input_info(model_, index, &info)));
    return convert(info);
  }
  /// Describes output `index`; throws RuntimeError when out of range.
  TensorInfo outputInfo(size_t index) const {
    xfc_tensor_info info;
    throwIfError(Status(xfc_model_output_info(model_, index, &info)));
    return convert(info);
  }
  std::vector<TensorInfo> inputInfos() const {
    std::vector<TensorInfo> out;
    for (size_t i = 0; i < numInputs(); ++i)
      out.push_back(inputInfo(i));
    return out;
  }
  size_t numKernels() const { return xfc_model_num_kernels(model_); }
  /// The kernels, in the order they run (the manifest's `kernels`).
  std::vector<KernelInfo> kernels() const {
    std::vector<KernelInfo> out;
    for (size_t k = 0; k < numKernels(); ++k) {
      xfc_kernel_info info;
      throwIfError(Status(xfc_model_kernel_info(model_, k, &info)));
      out.push_back(detail::convertKernel(info));
    }
    return out;
  }
  std::vector<TensorInfo> outputInfos() const {
    std::vector<TensorInfo> out;
    for (size_t i = 0; i < numOutputs(); ++i)
      out.push_back(outputInfo(i));
    return out;
  }

  /// Runs the model once through a temporary context (see xfc_model_run;
  /// allocates the arena each time); returns the Status.
  Status tryRun(const std::vector<xfc_buffer> &inputs,
                const std::vector<xfc_buffer> &outputs) const {
    return Status(xfc_model_run(model_, inputs.data(), inputs.size(),
                                outputs.data(), outputs.size()));
  }
  /// Runs the model; throws RuntimeError on failure.
  void run(const std::vector<xfc_buffer> &inputs,
           const std::vector<xfc_buffer> &outputs) const {
    throwIfError(tryRun(inputs, outputs));
  }

private:
  explicit Model(xfc_model *model) : model_(model) {}

  static TensorInfo convert(const xfc_tensor_info &info) {
    TensorInfo out;
    out.name = info.name ? info.name : "";
    out.dtype = info.dtype;
    out.shape.assign(info.dims, info.dims + info.rank);
    if (info.has_range)
      out.range = std::make_pair(info.min_value, info.max_value);
    return out;
  }

  xfc_model *model_ = nullptr;
};

/// Options of Context::create (see xfc_context_options).
struct ContextOptions {
  /// Threads a run may use; 0 means one per core.
  int32_t numThreads = 0;
  /// Count the calls and time of every kernel (Context::profile).
  bool enableProfiling = false;
  /// GPU models: replay the run's kernel launches as one CUDA graph,
  /// recorded when the context is created (xfc_context_options.gpu_graph).
  bool gpuGraph = true;
};

/// A run context of a Model: owns the arena of intermediates, so repeated
/// runs allocate nothing. Move-only; used by one thread at a time; the
/// Model must outlive it.
class Context {
public:
  Context() = default;
  Context(Context &&other) noexcept
      : context_(std::exchange(other.context_, nullptr)),
        numKernels_(other.numKernels_) {}
  Context &operator=(Context &&other) noexcept {
    if (this != &other) {
      xfc_context_destroy(context_);
      context_ = std::exchange(other.context_, nullptr);
      numKernels_ = other.numKernels_;
    }
    return *this;
  }
  Context(const Context &) = delete;
  Context &operator=(const Context &) = delete;
  ~Context() { xfc_context_destroy(context_); }

  /// Creates a context for `model`; throws RuntimeError on failure.
  static Context create(const Model &model,
                        const ContextOptions &options = {}) {
    Context context;
    throwIfError(tryCreate(model, context, options));
    return context;
  }
  /// Creates a context for `model` into `out`; returns the Status.
  static Status tryCreate(const Model &model, Context &out,
                          const ContextOptions &options = {}) {
    xfc_context_options cOptions;
    xfc_context_options_initialize(&cOptions);
    cOptions.num_threads = options.numThreads;
    cOptions.enable_profiling = options.enableProfiling ? 1 : 0;
    cOptions.gpu_graph = options.gpuGraph ? 1 : 0;
    xfc_context *context = nullptr;
    Status status(xfc_context_create(model.get(), &cOptions, &context));
    if (status.ok())
      out = Context(context, model.numKernels());
    return status;
  }

  bool valid() const { return context_ != nullptr; }
  xfc_context *get() const { return context_; }
  int32_t numThreads() const { return xfc_context_num_threads(context_); }
  /// The launches each run replays as one CUDA graph; 0 when none.
  uint64_t gpuGraphLaunches() const {
    return xfc_context_gpu_graph_launches(context_);
  }

  /// Runs the model (see xfc_context_run); returns the Status. Allocates
  /// nothing on success.
  Status tryRun(const std::vector<xfc_buffer> &inputs,
                const std::vector<xfc_buffer> &outputs) {
    return Status(xfc_context_run(context_, inputs.data(), inputs.size(),
                                  outputs.data(), outputs.size()));
  }
  /// Runs the model; throws RuntimeError on failure.
  void run(const std::vector<xfc_buffer> &inputs,
           const std::vector<xfc_buffer> &outputs) {
    throwIfError(tryRun(inputs, outputs));
  }

  /// Runs inputs of `shape` through the smallest bucket that holds them
  /// (see xfc_context_run_shaped); returns the Status.
  Status tryRunShaped(const xfc_run_shape &shape,
                      const std::vector<xfc_buffer> &inputs,
                      const std::vector<xfc_buffer> &outputs) {
    return Status(xfc_context_run_shaped(context_, &shape, inputs.data(),
                                         inputs.size(), outputs.data(),
                                         outputs.size()));
  }
  /// As tryRunShaped; throws RuntimeError on failure.
  void runShaped(const xfc_run_shape &shape,
                 const std::vector<xfc_buffer> &inputs,
                 const std::vector<xfc_buffer> &outputs) {
    throwIfError(tryRunShaped(shape, inputs, outputs));
  }

  /// The profile of a context created with enableProfiling (see
  /// xfc_context_get_profile); throws RuntimeError otherwise. Allocates
  /// the returned vectors (the C call itself does not).
  Profile profile() const {
    Profile out;
    xfc_profile totals;
    std::vector<xfc_kernel_profile> kernels(numKernels_);
    throwIfError(Status(xfc_context_get_profile(
        context_, &totals, kernels.data(), kernels.size())));
    out.runs = totals.runs;
    out.ticks = totals.ticks;
    out.wallNs = totals.wall_ns;
    out.nsPerTick = totals.ns_per_tick;
    out.kernelNs = totals.kernel_ns;
    for (const xfc_kernel_profile &k : kernels)
      out.kernels.push_back(KernelProfile{detail::convertKernel(k.kernel),
                                          k.calls, k.ticks, k.total_ns});
    return out;
  }
  /// Zeroes the profile (see xfc_context_reset_profile).
  Status tryResetProfile() {
    return Status(xfc_context_reset_profile(context_));
  }
  void resetProfile() { throwIfError(tryResetProfile()); }

private:
  Context(xfc_context *context, size_t numKernels)
      : context_(context), numKernels_(numKernels) {}
  xfc_context *context_ = nullptr;
  /// The model's kernel count, for sizing profile().
  size_t numKernels_ = 0;
};

/// A buffer over `data` (any vector of trivially copyable elements).
template <typename T> xfc_buffer makeBuffer(std::vector<T> &data) {
  return xfc_buffer{data.data(), data.size() * sizeof(T)};
}
/// A read-only input buffer over `data`; the runtime never writes inputs.
template <typename T> xfc_buffer makeBuffer(const std::vector<T> &data) {
  return xfc_buffer{const_cast<T *>(data.data()), data.size() * sizeof(T)};
}

} // namespace xfc

#endif // XFC_RUNTIME_HPP
