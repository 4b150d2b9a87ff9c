/*===- runtime.h - The xfc runtime C API --------------------------*- C -*-===*
 *
 * Part of xfc. Loads a compiled artifact (a folder holding manifest.json,
 * the compiled shared library and the weights file; docs/artifact.md), maps
 * its weights and runs it on caller-provided buffers. A run context holds
 * what one run needs besides those buffers (the arena of intermediate
 * tensors, planned at compile time), so repeated runs through one context
 * allocate nothing.
 *
 * Versioning: XFC_RUNTIME_API_VERSION changes whenever a declaration here
 * changes incompatibly. Artifacts carry their own format version, checked by
 * xfc_model_open.
 *
 * Errors: every fallible call returns an xfc_status. NULL means success; a
 * non-NULL status carries a code and a message and must be released with
 * xfc_status_free. No call aborts the process on bad input.
 *
 * Threading contract (tested by tests/stress, also under ThreadSanitizer:
 * scripts/test-tsan.sh):
 *  - Every function is thread-safe in the sense below and reentrant: none
 *    keeps hidden global state, so calls on different objects never need
 *    synchronization. Several models (even of the same artifact folder) may
 *    be opened, run and destroyed concurrently.
 *  - An xfc_model is immutable once xfc_model_open has returned and may be
 *    shared by any number of threads: the query functions, xfc_model_verify,
 *    xfc_context_create and xfc_model_run may be called concurrently on the
 *    same model. It is read-only: the mapped weights, the loaded code.
 *  - An xfc_context belongs to one thread at a time: xfc_context_run,
 *    xfc_context_get_profile, xfc_context_reset_profile and the
 *    xfc_context_*_memory functions must not be called on the same context
 *    from two threads at once (its arena holds the run's intermediates, its
 *    profile the run's counters, its segment memory the state one run
 *    leaves to the next). Use one
 *    context per thread; contexts of the same model run concurrently
 *    without synchronization, and each run gives bit-identical outputs to
 *    the same run made alone with the same num_threads. A context may move
 *    from one thread to another between runs.
 *  - A run's intra-op thread count (num_threads) is set as the calling
 *    thread's own OpenMP setting for the duration of the run and restored
 *    afterwards, so concurrent runs with different counts do not interfere
 *    and the caller's OpenMP settings are left as they were.
 *  - Concurrent runs must not share output buffers (the caller's buffers are
 *    written without synchronization); they may share input buffers, which
 *    are only read.
 *  - Every context of a model must be destroyed before the model, and
 *    xfc_model_destroy must not race with any other call on the same model.
 *  - xfc_status objects are owned by the caller: a status may be read from
 *    any thread, but must not be freed while another thread reads it.
 *
 *===----------------------------------------------------------------------===*/
#ifndef XFC_RUNTIME_H
#define XFC_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 12: GPU run contexts replay their launches as one CUDA graph
 *     (xfc_context_options.gpu_graph, xfc_context_gpu_graph_launches) and
 *     profile on the device (enable_profiling); xfc_model_options.
 *     skip_device opens a GPU model's artifact without a GPU (for checks).
 * 11: XFC_DTYPE_F16 and XFC_DTYPE_BF16, the dtypes of a GPU model's
 *     weights compiled with --dtype=f16 or bf16 (inputs and outputs stay
 *     f32 and i32).
 * 10: models compiled for a GPU (--target=cuda) open and run through the
 *     same calls; xfc_model_options.gpu_device, xfc_model_device.
 * 9: encoder-decoder generation and beam search:
 *    xfc_generator_source_length, xfc_generator_prefill_source,
 *    xfc_generator_reorder, xfc_beam_options, xfc_beam_options_initialize,
 *    xfc_generator_beam_search.
 * 8: GPUs through the CUDA driver: xfc_gpu_count, xfc_gpu_get_info.
 * 7: generation over a key/value cache: xfc_generator_open,
 *    xfc_generator_destroy, xfc_generator_get_info, xfc_generator_prefill,
 *    xfc_generator_decode, xfc_generator_length, xfc_generator_reset.
 * 6: shape buckets: xfc_run_shape, xfc_dim, xfc_model_num_buckets,
 *    xfc_model_bucket, xfc_model_input_dims, xfc_model_output_dims,
 *    xfc_model_select_bucket, xfc_context_run_shaped, xfc_model_run_shaped.
 * 5: segment memory (Transformer-XL): xfc_model_memory_info,
 *    xfc_context_reset_memory, xfc_context_memory_filled,
 *    xfc_context_get_memory, xfc_context_set_memory.
 * 4: xfc_model_verify.
 * 3: kernels (xfc_model_kernel_info), profiling (enable_profiling,
 *    xfc_context_get_profile). */
#define XFC_RUNTIME_API_VERSION 12

/* Marks the exported functions of libxfc_runtime.so. */
#if defined(__GNUC__)
#define XFC_API __attribute__((visibility("default")))
#else
#define XFC_API
#endif

/* The largest tensor rank the API describes. */
#define XFC_MAX_RANK 8

/* ---- Status ----------------------------------------------------------- */

typedef enum xfc_status_code {
  XFC_OK = 0,
  XFC_INVALID_ARGUMENT = 1, /* A caller argument is wrong (shape, dtype...). */
  XFC_NOT_FOUND = 2,        /* A file or named tensor does not exist. */
  XFC_INVALID_ARTIFACT = 3, /* The artifact is malformed or inconsistent. */
  XFC_UNSUPPORTED = 4,      /* Valid, but not runnable here (CPU, version). */
  XFC_IO_ERROR = 5,         /* Reading or mapping a file failed. */
  XFC_INTERNAL = 6,         /* A bug in xfc. */
} xfc_status_code;

/* An error: a code and a message. NULL is success. */
typedef struct xfc_status_s *xfc_status;

/* The code of `status` (XFC_OK for NULL). */
XFC_API xfc_status_code xfc_status_get_code(xfc_status status);
/* The message of `status`; valid until the status is freed. "" for NULL. */
XFC_API const char *xfc_status_get_message(xfc_status status);
/* Releases `status`. NULL is allowed. */
XFC_API void xfc_status_free(xfc_status status);

/* ---- Tensors ---------------------------------------------------------- */

typedef enum xfc_dtype {
  XFC_DTYPE_F32 = 0,
  XFC_DTYPE_I32 = 1,
  /* IEEE half and bfloat16: only weights of GPU models have them. */
  XFC_DTYPE_F16 = 2,
  XFC_DTYPE_BF16 = 3,
} xfc_dtype;

/* Bytes per element of `dtype`. */
XFC_API size_t xfc_dtype_size(xfc_dtype dtype);

/* The description of one model input or output. */
typedef struct xfc_tensor_info {
  const char *name; /* Owned by the model; valid until it is destroyed. */
  xfc_dtype dtype;
  int32_t rank;
  int64_t dims[XFC_MAX_RANK];
  /* Integer inputs: non-zero if every element must lie in
   * [min_value, max_value] (checked by xfc_model_run). */
  int32_t has_range;
  int64_t min_value;
  int64_t max_value;
} xfc_tensor_info;

/* A caller buffer passed to xfc_context_run or xfc_model_run. `data` must hold exactly the
 * number of bytes the tensor's info implies (size_bytes is checked). Input
 * buffers are only read. Any alignment is accepted. */
typedef struct xfc_buffer {
  void *data;
  size_t size_bytes;
} xfc_buffer;

/* ---- Models ----------------------------------------------------------- */

typedef struct xfc_model_s xfc_model;

/* Options of xfc_model_open; initialize with xfc_model_options_initialize so
 * fields added later get their defaults. */
typedef struct xfc_model_options {
  uint32_t struct_size; /* sizeof(xfc_model_options), set by initialize. */
  /* Non-zero: skip the check that this CPU has every feature the artifact
   * was compiled for. Running then may die with an illegal instruction. */
  int32_t skip_cpu_check;
  /* The GPU a model compiled with --target=cuda runs on: its index among
   * xfc_gpu_count's (default 0). Ignored for CPU models. */
  int32_t gpu_device;
  /* Non-zero: a model compiled for a GPU opens without its GPU. Everything
   * the artifact holds is checked as usual, its device code against the
   * manifest included (sizes, the PTX's version, target and kernel entry
   * points, the cubin's ELF header), but no driver is loaded and nothing
   * goes to a device: xfc verify on machines without one. Such a model
   * cannot run (xfc_context_create refuses it). Ignored for CPU models. */
  int32_t skip_device;
} xfc_model_options;

XFC_API void xfc_model_options_initialize(xfc_model_options *options);

/* Opens the artifact folder `path`: reads and validates the manifest (format
 * version; inputs, outputs and weights well-formed), checks the CPU features
 * it was compiled for, maps the weights file read-only, checks its size and
 * its header's checksum against the manifest and every weight's name,
 * dtype, shape, byte range and alignment against its header, checks the
 * compiled library's size and checksum, then loads it and resolves its
 * entry point. Reads the weights' header only, never their data (see
 * xfc_model_verify). `options`
 * may be NULL for defaults. On success `*out_model` owns all of it. */
XFC_API xfc_status xfc_model_open(const char *path,
                                  const xfc_model_options *options,
                                  xfc_model **out_model);

/* What the model runs on: "cpu", or "cuda:N" (GPU N, for a model compiled
 * with --target=cuda). The string lives as long as the model. */
XFC_API const char *xfc_model_device(const xfc_model *model);

/* Releases everything xfc_model_open acquired. NULL is allowed. */
XFC_API void xfc_model_destroy(xfc_model *model);

/* Checks every byte of the model's weights file against the checksums its
 * manifest records: each tensor's, then the whole file's (FNV-1a, 64-bit;
 * docs/artifact.md). xfc_model_open checks only what is cheap (the file's
 * size and the checksum of its header, which identifies the weights); this
 * reads the whole file, about a second per gigabyte. XFC_INVALID_ARTIFACT
 * with a message naming the file (and the tensor), the expected and the
 * found checksum on a mismatch. Read-only: may run concurrently with runs
 * of the same model. `xfc verify ARTIFACT` calls it. */
XFC_API xfc_status xfc_model_verify(const xfc_model *model);

/* The model's name as recorded in the manifest. */
XFC_API const char *xfc_model_name(const xfc_model *model);

XFC_API size_t xfc_model_num_inputs(const xfc_model *model);
XFC_API size_t xfc_model_num_outputs(const xfc_model *model);

/* Describes input/output `index`; XFC_INVALID_ARGUMENT when out of range. */
XFC_API xfc_status xfc_model_input_info(const xfc_model *model, size_t index,
                                        xfc_tensor_info *out_info);
XFC_API xfc_status xfc_model_output_info(const xfc_model *model, size_t index,
                                         xfc_tensor_info *out_info);

/* Bytes of the arena of intermediate tensors each run context allocates
 * (memory_plan.arena_bytes in the manifest). */
XFC_API size_t xfc_model_arena_bytes(const xfc_model *model);

/* ---- Kernels ---------------------------------------------------------- */

/* One kernel of the compiled model: what fusion left as one loop nest,
 * compiled into one function of the library (the manifest's `kernels`
 * section, docs/compiler.md "Kernels"). Every string is owned by the model
 * and valid until it is destroyed. */
typedef struct xfc_kernel_info {
  /* Display name from the spec nodes it computes, e.g.
   * "encoder.layers.0.self_attn.q+k+v". */
  const char *name;
  /* Its function in the compiled library, e.g.
   * "xf_k4_encoder_layers_0_self_attn_q_k_v" (a local symbol: `nm`, `perf
   * report`; not exported to dlsym). */
  const char *symbol;
  /* What it computes, e.g. "linear+gelu", "attention(fused)". */
  const char *kind;
  /* The spec nodes it computes (num_nodes strings). */
  const char *const *nodes;
  size_t num_nodes;
  /* Arithmetic and compulsory memory traffic of one run of the kernel. */
  uint64_t flops;
  uint64_t bytes;
} xfc_kernel_info;

/* The number of kernels, in the order they run (0 for NULL). */
XFC_API size_t xfc_model_num_kernels(const xfc_model *model);

/* Describes kernel `index`; XFC_INVALID_ARGUMENT when out of range. */
XFC_API xfc_status xfc_model_kernel_info(const xfc_model *model, size_t index,
                                         xfc_kernel_info *out_info);

/* ---- Run contexts ----------------------------------------------------- */

typedef struct xfc_context_s xfc_context;

/* Options of xfc_context_create; initialize with
 * xfc_context_options_initialize so fields added later get their defaults. */
typedef struct xfc_context_options {
  uint32_t struct_size; /* sizeof(xfc_context_options), set by initialize. */
  /* Threads a run may use; 0 (the default) means one per core. */
  int32_t num_threads;
  /* Non-zero: count the calls and time of every kernel in the context's
   * runs (xfc_context_get_profile). Each kernel call then reads the CPU's
   * cycle counter twice; off (the default), the generated code pays at
   * most one branch per kernel. A GPU model's profiling context records
   * a CUDA event before and after each kernel launch instead, and
   * launches kernel by kernel (no graph). */
  int32_t enable_profiling;
  /* Models compiled for a GPU: non-zero (the default) records the run's
   * kernel launches once, when the context is created, into a CUDA graph
   * that every run replays with one launch (stream capture; nothing runs
   * while recording). 0 launches the kernels one by one on every run.
   * Ignored for CPU models. */
  int32_t gpu_graph;
} xfc_context_options;

XFC_API void xfc_context_options_initialize(xfc_context_options *options);

/* Creates a run context for `model`: allocates the arena (64-byte aligned,
 * xfc_model_arena_bytes), the entry point's argument array and the profile
 * counters (two per kernel, whether or not profiling is enabled) once.
 * `options` may be NULL for defaults. The model must outlive the context.
 * XFC_INVALID_ARGUMENT for a negative num_threads. */
XFC_API xfc_status xfc_context_create(const xfc_model *model,
                                      const xfc_context_options *options,
                                      xfc_context **out_context);

/* Releases the context and its arena. NULL is allowed. */
XFC_API void xfc_context_destroy(xfc_context *context);

/* The kernel launches each run of `context` replays as one CUDA graph
 * (xfc_context_options.gpu_graph); 0 when its runs launch kernel by kernel,
 * for CPU models and for NULL. */
XFC_API uint64_t xfc_context_gpu_graph_launches(const xfc_context *context);

/* The thread count the context's runs use (num_threads resolved; 0 for
 * NULL). */
XFC_API int32_t xfc_context_num_threads(const xfc_context *context);

/* Runs the model of `context`. `inputs` has xfc_model_num_inputs entries
 * and `outputs` xfc_model_num_outputs entries, in manifest order; each
 * buffer's size must match its tensor exactly. Integer inputs are checked
 * against the value range in the manifest (token ids within the vocabulary,
 * lengths within the sequence) before any generated code runs. Allocates
 * no memory unless it returns an error. */
XFC_API xfc_status xfc_context_run(xfc_context *context,
                                   const xfc_buffer *inputs, size_t num_inputs,
                                   const xfc_buffer *outputs,
                                   size_t num_outputs);

/* Convenience: runs `model` once through a temporary context (same checks
 * as xfc_context_run). Allocates and frees the arena on every call; use a
 * context for repeated runs. */
XFC_API xfc_status xfc_model_run(const xfc_model *model,
                                 const xfc_buffer *inputs, size_t num_inputs,
                                 const xfc_buffer *outputs, size_t num_outputs);

/* ---- Shapes and buckets ------------------------------------------------ */

/* An artifact compiled with `xfc compile --buckets=...` holds one entry
 * point per bucket (a batch size, a sequence length and, for an
 * encoder_decoder, a target length) in one library, sharing the weights and
 * one arena per context (sized for the largest). xfc_context_run_shaped runs
 * inputs of any shape up to the largest bucket: it takes the first bucket
 * (they are ordered smallest first) whose every size is at least the
 * input's, pads the inputs to it (token ids with 0; a lengths input keeps
 * the caller's values, so the padded keys are masked; padded batch items are
 * all padding), runs it, and copies the outputs of the valid positions back.
 * Padding never changes those outputs: the compiler accepts buckets only for
 * models whose padded keys are masked (docs/artifact.md, "buckets").
 * xfc_model_input_info and friends describe the largest bucket, and
 * xfc_context_run runs exactly that shape, as for any artifact. */

/* The shape of one run. */
typedef struct xfc_run_shape {
  int64_t batch;   /* Batch items, at least 1. */
  int64_t seq_len; /* Sequence length (the source of an encoder_decoder). */
  /* Target length of an encoder_decoder; 0 means seq_len. Ignored by models
   * without a target sequence. */
  int64_t tgt_len;
} xfc_run_shape;

/* What a dimension of an input or output is. */
typedef enum xfc_dim {
  XFC_DIM_FIXED = 0,   /* The same size in every bucket (d_model, vocab). */
  XFC_DIM_BATCH = 1,   /* xfc_run_shape.batch. */
  XFC_DIM_SEQ_LEN = 2, /* xfc_run_shape.seq_len. */
  XFC_DIM_TGT_LEN = 3, /* xfc_run_shape.tgt_len. */
} xfc_dim;

/* The number of buckets; 0 for an artifact compiled for one shape. */
XFC_API size_t xfc_model_num_buckets(const xfc_model *model);

/* The shape of bucket `index` (smallest first; tgt_len is seq_len unless
 * the model has a target sequence). XFC_INVALID_ARGUMENT when out of
 * range. */
XFC_API xfc_status xfc_model_bucket(const xfc_model *model, size_t index,
                                    xfc_run_shape *out_shape);

/* What each dimension of input/output `index` is (xfc_tensor_info.rank
 * entries of `out_dims`, which must hold XFC_MAX_RANK). Every dimension is
 * XFC_DIM_FIXED in an artifact without buckets. XFC_INVALID_ARGUMENT when
 * out of range. */
XFC_API xfc_status xfc_model_input_dims(const xfc_model *model, size_t index,
                                        xfc_dim *out_dims);
XFC_API xfc_status xfc_model_output_dims(const xfc_model *model, size_t index,
                                         xfc_dim *out_dims);

/* The bucket a run of `shape` uses, into `*out_index`. XFC_INVALID_ARGUMENT
 * with a message listing the buckets when none holds it, or for an artifact
 * without buckets. */
XFC_API xfc_status xfc_model_select_bucket(const xfc_model *model,
                                           const xfc_run_shape *shape,
                                           size_t *out_index);

/* Runs `shape` through the smallest bucket that holds it. Each buffer holds
 * its tensor at `shape` (its dimensions per xfc_model_input_dims), dense;
 * sizes are checked as by xfc_context_run, and a lengths input's values
 * must lie in [0, seq_len] of `shape`. The outputs receive the valid
 * positions only (e.g. hidden states [batch, seq_len, d_model] of `shape`).
 * A shape equal to a bucket's runs on the caller's buffers directly; any
 * other is padded in buffers the context allocated at creation, so a run
 * allocates nothing. On an artifact without buckets, `shape` must be the
 * one it was compiled for. Same threading contract as xfc_context_run. */
XFC_API xfc_status xfc_context_run_shaped(
    xfc_context *context, const xfc_run_shape *shape, const xfc_buffer *inputs,
    size_t num_inputs, const xfc_buffer *outputs, size_t num_outputs);

/* Convenience: xfc_context_run_shaped through a temporary context. */
XFC_API xfc_status xfc_model_run_shaped(const xfc_model *model,
                                        const xfc_run_shape *shape,
                                        const xfc_buffer *inputs,
                                        size_t num_inputs,
                                        const xfc_buffer *outputs,
                                        size_t num_outputs);

/* ---- Profiles --------------------------------------------------------- */

/* What a profiling context measured of one kernel. */
typedef struct xfc_kernel_profile {
  xfc_kernel_info kernel; /* As xfc_model_kernel_info describes it. */
  uint64_t calls;  /* Calls counted (a chunked kernel is one call a run). */
  uint64_t ticks;  /* Cycle-counter ticks spent in the kernel's function. */
  double total_ns; /* ticks converted with the profile's ns_per_tick. */
} xfc_kernel_profile;

/* What a profiling context measured over all its runs since it was
 * created or last reset. The generated code reads the CPU's cycle counter
 * (llvm.readcyclecounter: rdtsc on x86) around each kernel and around the
 * whole run; the runtime times the same runs with CLOCK_MONOTONIC, and
 * ns_per_tick = wall_ns / ticks, so no counter frequency is assumed. The
 * time between kernels (wall_ns - kernel_ns) is the serial glue: the
 * calls, the counters, setting the thread count.
 * GPU models: a kernel's time is the device's, between the CUDA events
 * recorded around each of its launches (cuEventElapsedTime); a tick is a
 * nanosecond (ns_per_tick 1); wall_ns is the host's time of the whole
 * run, and wall_ns - kernel_ns is then the copies in and out, the gaps
 * between launches and the helper copies that belong to no kernel of the
 * plan. */
typedef struct xfc_profile {
  uint64_t runs;      /* Successful xfc_context_run calls counted. */
  double wall_ns;     /* Their total time, measured by the runtime. */
  uint64_t ticks;     /* Cycle-counter ticks over the same runs. */
  double ns_per_tick; /* wall_ns / ticks (0 before the first run). */
  double kernel_ns;   /* The sum of the kernels' total_ns. */
} xfc_profile;

/* Reads the profile of `context`, created with enable_profiling: the
 * totals into `*out_profile` and, when `num_kernels` is not 0, one entry
 * per kernel into `out_kernels`, which must then hold exactly
 * xfc_model_num_kernels entries (in kernel order). Allocates nothing.
 * XFC_INVALID_ARGUMENT when profiling is off in the context, for a NULL
 * argument, or for another non-zero num_kernels. */
XFC_API xfc_status xfc_context_get_profile(const xfc_context *context,
                                           xfc_profile *out_profile,
                                           xfc_kernel_profile *out_kernels,
                                           size_t num_kernels);

/* Sets every count of the profile of `context` back to zero.
 * XFC_INVALID_ARGUMENT when profiling is off in the context or it is
 * NULL. */
XFC_API xfc_status xfc_context_reset_profile(xfc_context *context);

/* ---- Segment memory (Transformer-XL) ----------------------------------- */

/* A Transformer-XL model (spec "transformer_xl", docs/transformer-xl.md)
 * attends, in every layer, to the hidden states of the segments run before
 * in the same context: its memory, M positions per layer. The run context
 * keeps it: each xfc_context_run reads the memory, and afterwards the
 * memory is the last M positions of [memory ; segment] of every layer's
 * input. A new context, and one after xfc_context_reset_memory, has an
 * empty memory: nothing is filled, so the first segment attends to itself
 * only. Of the M positions the last `filled` ones hold memory (filled grows
 * by the segment length per run, up to M); the others are zeros and masked.
 * These tensors are not among the model's inputs and outputs: callers pass
 * the segment's token ids and receive its output as with any model.
 * xfc_model_run uses a fresh context, hence an empty memory, every time. */

/* The segment memory of a model. */
typedef struct xfc_memory_info {
  int64_t memory_length;  /* M; 0 when the model has no segment memory. */
  int64_t segment_length; /* Positions one run adds (the compiled seq_len). */
  size_t num_layers;      /* One memory per layer (0 without memory). */
  /* One layer's memory: f32 [batch, M, d_model]; its name is the layer's
   * memory input ("decoder.layers.0.memory"). Zeroed without memory. */
  xfc_tensor_info layer;
} xfc_memory_info;

/* Describes the segment memory of `model` (memory_length 0 and num_layers 0
 * for a model without one). XFC_INVALID_ARGUMENT for NULL arguments. */
XFC_API xfc_status xfc_model_memory_info(const xfc_model *model,
                                         xfc_memory_info *out_info);

/* Empties the memory of `context`: zeros, nothing filled; the next run is
 * a first segment again. Allocates nothing. Does nothing for a model without
 * memory. XFC_INVALID_ARGUMENT for NULL. */
XFC_API xfc_status xfc_context_reset_memory(xfc_context *context);

/* The number of filled memory positions (0 to M) into `*out_filled`. */
XFC_API xfc_status xfc_context_memory_filled(const xfc_context *context,
                                             int64_t *out_filled);

/* Copies layer `layer`'s memory, [batch, M, d_model] f32 with the filled
 * positions last, into `out` (size_bytes must match the layer's info).
 * XFC_INVALID_ARGUMENT for a model without memory, a layer out of range or
 * a wrong size. */
XFC_API xfc_status xfc_context_get_memory(const xfc_context *context,
                                          size_t layer, const xfc_buffer *out);

/* Replaces the whole memory of `context`: `layers` holds num_layers buffers
 * (one per layer, as xfc_context_get_memory writes them) and `filled` says
 * how many of the last positions are memory (0 to M); positions before
 * them are read as zeros whatever the buffers hold. Restores a state saved
 * with xfc_context_get_memory, or starts from memory computed elsewhere.
 * Nothing changes unless it returns NULL. */
XFC_API xfc_status xfc_context_set_memory(xfc_context *context,
                                          const xfc_buffer *layers,
                                          size_t num_layers, int64_t filled);

/* ---- GPUs ------------------------------------------------------------- */

/* NVIDIA GPUs are reached through the CUDA driver API, which the runtime
 * loads with dlopen on first use: libcuda.so.1, or the file the environment
 * variable XFC_LIBCUDA names. The runtime itself needs neither a GPU nor a
 * driver to load and to run models on the CPU. The driver is loaded and
 * initialized once per process; its outcome is kept. Every failed driver
 * call becomes a status naming the call, the driver's error name and its
 * description, e.g. "cuDeviceGetName failed: CUDA_ERROR_INVALID_DEVICE
 * (invalid device ordinal)". */

/* One GPU as the driver describes it. */
typedef struct xfc_gpu_info {
  char name[256]; /* e.g. "NVIDIA H100 80GB HBM3", NUL-terminated */
  int32_t compute_capability_major; /* 9 for sm_90 */
  int32_t compute_capability_minor;
  int32_t multiprocessor_count;
  uint64_t total_memory_bytes;
} xfc_gpu_info;

/* The number of GPUs (0 when the driver works and has none) and, when
 * `out_driver_version` is not NULL, the driver's CUDA version (e.g. 12040
 * for 12.4). XFC_UNSUPPORTED, saying why, when there is no driver or it
 * cannot start (e.g. the toolkit's stub libcuda). */
XFC_API xfc_status xfc_gpu_count(int32_t *out_count,
                                 int32_t *out_driver_version);

/* Describes GPU `index`; XFC_INVALID_ARGUMENT when it is not below
 * xfc_gpu_count's count, XFC_UNSUPPORTED as xfc_gpu_count. */
XFC_API xfc_status xfc_gpu_get_info(int32_t index, xfc_gpu_info *out_info);

/* ---- Generation over a key/value cache --------------------------------- */

/* An artifact compiled with `xfc compile --generate` (docs/generation.md)
 * holds, besides the whole-sequence model, two generation steps of the
 * decoder, each an artifact of its own: OUT/prefill (the prompt, up to the
 * compiled seq_len tokens) and OUT/decode (one token). A generator opens
 * both and owns what they share: every layer's key and value cache
 * ([batch, capacity, d_model] f32 each, allocated once, zeroed) and the
 * number of positions filled, `length`. Prefill writes the prompt's keys
 * and values at positions 0.., a decode step its token's at `length`, and
 * each attends to the filled positions only: a decode step's attention
 * visits `length + 1` keys (rounded up to its key block), not the capacity.
 * The batch items advance together (one length for all).
 * A generator belongs to one thread at a time, like a context. */

typedef struct xfc_generator_s xfc_generator;

typedef struct xfc_generator_info {
  int64_t batch;         /* Items generated together (the compiled batch). */
  int64_t prompt_length; /* The most tokens one prefill takes. */
  int64_t capacity;      /* Positions of the cache: prompt + generated. */
  int64_t vocab_size;    /* Logits per item and step. */
  int64_t num_layers;    /* Layers (each has a key and a value cache). */
} xfc_generator_info;

/* Opens the generation steps of the artifact folder `path` (`path`/prefill
 * and `path`/decode, each checked as xfc_model_open does) and creates their
 * contexts with `options` (NULL for defaults) and the caches. XFC_NOT_FOUND
 * when the artifact has no generation steps; XFC_INVALID_ARTIFACT when the
 * steps do not fit each other (their caches, batch or vocabulary differ). */
XFC_API xfc_status xfc_generator_open(const char *path,
                                      const xfc_context_options *options,
                                      xfc_generator **out_generator);

/* Releases the generator, its contexts, models and caches. NULL is
 * allowed. */
XFC_API void xfc_generator_destroy(xfc_generator *generator);

XFC_API xfc_status xfc_generator_get_info(const xfc_generator *generator,
                                          xfc_generator_info *out_info);

/* Starts over with a prompt: `ids` holds batch x `length` token ids (item
 * after item, the same length for every item), 1 <= length <=
 * prompt_length. Fills cache positions 0..length-1; `length` becomes the
 * prompt's. `logits` receives the logits of each item's last prompt
 * position: `num_logits` must be batch x vocab_size. */
XFC_API xfc_status xfc_generator_prefill(xfc_generator *generator,
                                         const int32_t *ids, size_t length,
                                         float *logits, size_t num_logits);

/* Appends one token per item (`ids`: `num_ids` == batch) at position
 * `length`, then `length` grows by one. `logits` (batch x vocab_size)
 * receives the next-token logits. XFC_INVALID_ARGUMENT when the cache is
 * full (length == capacity); nothing changes on an error. Without a
 * prefill, the first decode step is position 0. */
XFC_API xfc_status xfc_generator_decode(xfc_generator *generator,
                                        const int32_t *ids, size_t num_ids,
                                        float *logits, size_t num_logits);

/* The number of filled cache positions into `*out_length`. */
XFC_API xfc_status xfc_generator_length(const xfc_generator *generator,
                                        int64_t *out_length);

/* Empties the cache (length 0, zeros). */
XFC_API xfc_status xfc_generator_reset(xfc_generator *generator);

/* ---- Encoder-decoder generation and beam search ---------------------- */

/* An encoder-decoder artifact (spec kind encoder_decoder) compiled with
 * --generate has the same two steps: prefill encodes each item's source,
 * projects the encoder output into every decoder layer's cross-attention
 * key and value caches ([batch, source_length, d_model] each; computed
 * once, read by every decode step) and runs the decoder on the target
 * prompt (usually the decoder start token); a decode step appends one
 * target token as for a decoder. */

/* The most source tokens one prefill takes (the compiled --seq-len) into
 * `*out_length`; 0 for a decoder. */
XFC_API xfc_status xfc_generator_source_length(const xfc_generator *generator,
                                               int64_t *out_length);

/* xfc_generator_prefill for an encoder-decoder: `src_ids` holds batch x
 * `src_length` source ids (item after item), 1 <= src_length <=
 * source_length; `src_lengths` (batch entries, each in [1, src_length],
 * or NULL for src_length each) says how many of an item's ids are real,
 * the rest being padding its attention never sees. `ids`/`length` are the
 * target prompt as for xfc_generator_prefill. XFC_INVALID_ARGUMENT for a
 * decoder (use xfc_generator_prefill), and xfc_generator_prefill is one
 * for an encoder-decoder. */
XFC_API xfc_status xfc_generator_prefill_source(
    xfc_generator *generator, const int32_t *src_ids, size_t src_length,
    const int32_t *src_lengths, const int32_t *ids, size_t length,
    float *logits, size_t num_logits);

/* Beam search's bookkeeping: item b continues the sequence of item
 * `parents[b]` (`num_parents` == batch, each in [0, batch)): each item
 * gets a copy of its parent's cache rows 0..length-1 (and, for an
 * encoder-decoder, its source's cross-attention caches and length when
 * they differ). Nothing changes on an error. */
XFC_API xfc_status xfc_generator_reorder(xfc_generator *generator,
                                         const int32_t *parents,
                                         size_t num_parents);

/* Beam search options (docs/generation.md, "Beam search"). */
typedef struct xfc_beam_options {
  uint32_t struct_size;   /* sizeof(xfc_beam_options), set by initialize. */
  int64_t num_beams;      /* Hypotheses per source (default 4); the
                             generator's batch must be a multiple of it. */
  int64_t max_new_tokens; /* Tokens generated at most (default 32). */
  int32_t start_id;       /* Encoder-decoder: the decoder start token, the
                             target prompt (default 0). */
  int32_t eos_id;         /* End of sequence; -1 (the default): none. */
  double length_penalty;  /* A finished hypothesis scores its summed token
                             log-probabilities / (generated tokens ^
                             length_penalty) (default 1). */
  int32_t early_stopping; /* Non-zero: a source is done as soon as
                             num_beams hypotheses have finished; zero (the
                             default): when no running beam can beat the
                             worst finished one any more. */
} xfc_beam_options;

XFC_API void xfc_beam_options_initialize(xfc_beam_options *options);

/* Beam search over the generator's steps. The batch holds batch /
 * num_beams sources, num_beams rows each. `src_ids` holds one input per
 * source, `src_length` ids each (item after item): for an encoder-decoder
 * the source (and `src_lengths`, one per source or NULL, as in
 * xfc_generator_prefill_source); for a decoder the prompt
 * (`src_lengths` must be NULL). For each source, the best hypothesis goes
 * to `out_ids` (max_new_tokens entries per source, `num_out_ids` ==
 * sources x max_new_tokens; the generated tokens, ending with eos_id when
 * it finished, -1 after its end), its token count to `out_lengths` and
 * its score to `out_scores` (one each per source). The generator's state
 * is the search's afterwards (reset or prefill to start over). */
XFC_API xfc_status xfc_generator_beam_search(
    xfc_generator *generator, const int32_t *src_ids, size_t src_length,
    const int32_t *src_lengths, const xfc_beam_options *options,
    int32_t *out_ids, size_t num_out_ids, int64_t *out_lengths,
    float *out_scores);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* XFC_RUNTIME_H */
