"""ctypes declarations of the xfc runtime C API (runtime/include/xfc/runtime.h).

The structures and signatures here mirror the header one for one; keep them
in step with it. Calls go through ``ctypes.CDLL``, which releases the GIL
for the duration of every foreign call, so a model running in one thread
does not stop the others.
"""

import ctypes
import os

MAX_RANK = 8  # XFC_MAX_RANK

DTYPE_F32 = 0
DTYPE_I32 = 1
# Only weights of GPU models have these; inputs and outputs are f32 or i32.
DTYPE_F16 = 2
DTYPE_BF16 = 3

STATUS_NAMES = {
    0: "OK",
    1: "INVALID_ARGUMENT",
    2: "NOT_FOUND",
    3: "INVALID_ARTIFACT",
    4: "UNSUPPORTED",
    5: "IO_ERROR",
    6: "INTERNAL",
}

Status = ctypes.c_void_p  # xfc_status: NULL is success.


class TensorInfoC(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int32),
        ("dims", ctypes.c_int64 * MAX_RANK),
        ("has_range", ctypes.c_int32),
        ("min_value", ctypes.c_int64),
        ("max_value", ctypes.c_int64),
    ]


class Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("size_bytes", ctypes.c_size_t)]


class ModelOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("skip_cpu_check", ctypes.c_int32),
        ("gpu_device", ctypes.c_int32),
        ("skip_device", ctypes.c_int32),
    ]


class ContextOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("num_threads", ctypes.c_int32),
        ("enable_profiling", ctypes.c_int32),
        ("gpu_graph", ctypes.c_int32),
    ]


class KernelInfoC(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("symbol", ctypes.c_char_p),
        ("kind", ctypes.c_char_p),
        ("nodes", ctypes.POINTER(ctypes.c_char_p)),
        ("num_nodes", ctypes.c_size_t),
        ("flops", ctypes.c_uint64),
        ("bytes", ctypes.c_uint64),
    ]


class KernelProfileC(ctypes.Structure):
    _fields_ = [
        ("kernel", KernelInfoC),
        ("calls", ctypes.c_uint64),
        ("ticks", ctypes.c_uint64),
        ("total_ns", ctypes.c_double),
    ]


class ProfileC(ctypes.Structure):
    _fields_ = [
        ("runs", ctypes.c_uint64),
        ("wall_ns", ctypes.c_double),
        ("ticks", ctypes.c_uint64),
        ("ns_per_tick", ctypes.c_double),
        ("kernel_ns", ctypes.c_double),
    ]


class MemoryInfoC(ctypes.Structure):
    _fields_ = [
        ("memory_length", ctypes.c_int64),
        ("segment_length", ctypes.c_int64),
        ("num_layers", ctypes.c_size_t),
        ("layer", TensorInfoC),
    ]


class RunShape(ctypes.Structure):
    _fields_ = [
        ("batch", ctypes.c_int64),
        ("seq_len", ctypes.c_int64),
        ("tgt_len", ctypes.c_int64),
    ]


class GeneratorInfoC(ctypes.Structure):
    _fields_ = [
        ("batch", ctypes.c_int64),
        ("prompt_length", ctypes.c_int64),
        ("capacity", ctypes.c_int64),
        ("vocab_size", ctypes.c_int64),
        ("num_layers", ctypes.c_int64),
    ]


class BeamOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("num_beams", ctypes.c_int64),
        ("max_new_tokens", ctypes.c_int64),
        ("start_id", ctypes.c_int32),
        ("eos_id", ctypes.c_int32),
        ("length_penalty", ctypes.c_double),
        ("early_stopping", ctypes.c_int32),
    ]


# xfc_dim
DIM_FIXED = 0
DIM_BATCH = 1
DIM_SEQ_LEN = 2
DIM_TGT_LEN = 3


def _library_candidates():
    """Where libxfc_runtime.so may be, most specific first."""
    explicit = os.environ.get("XFC_RUNTIME_LIBRARY")
    if explicit:
        yield explicit
        return
    try:
        from . import _paths  # Written by `make install`.

        yield _paths.RUNTIME_LIBRARY
    except ImportError:
        pass
    yield "libxfc_runtime.so"  # The dynamic loader's search path.


def load_library():
    errors = []
    for candidate in _library_candidates():
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as error:
            errors.append("%s: %s" % (candidate, error))
            continue
        _declare(lib)
        return lib
    raise OSError(
        "cannot load the xfc runtime library (set XFC_RUNTIME_LIBRARY to the "
        "path of libxfc_runtime.so): " + "; ".join(errors)
    )


def _declare(lib):
    p = ctypes.POINTER
    model_p = ctypes.c_void_p
    context_p = ctypes.c_void_p
    generator_p = ctypes.c_void_p
    i32_p = p(ctypes.c_int32)
    f32_p = p(ctypes.c_float)
    signatures = {
        "xfc_status_get_code": (ctypes.c_int, [Status]),
        "xfc_status_get_message": (ctypes.c_char_p, [Status]),
        "xfc_status_free": (None, [Status]),
        "xfc_dtype_size": (ctypes.c_size_t, [ctypes.c_int]),
        "xfc_model_options_initialize": (None, [p(ModelOptions)]),
        "xfc_model_open": (Status, [ctypes.c_char_p, p(ModelOptions), p(model_p)]),
        "xfc_model_destroy": (None, [model_p]),
        "xfc_model_verify": (Status, [model_p]),
        "xfc_model_name": (ctypes.c_char_p, [model_p]),
        "xfc_model_device": (ctypes.c_char_p, [model_p]),
        "xfc_model_num_inputs": (ctypes.c_size_t, [model_p]),
        "xfc_model_num_outputs": (ctypes.c_size_t, [model_p]),
        "xfc_model_input_info": (Status, [model_p, ctypes.c_size_t, p(TensorInfoC)]),
        "xfc_model_output_info": (Status, [model_p, ctypes.c_size_t, p(TensorInfoC)]),
        "xfc_model_arena_bytes": (ctypes.c_size_t, [model_p]),
        "xfc_model_num_kernels": (ctypes.c_size_t, [model_p]),
        "xfc_model_kernel_info": (Status, [model_p, ctypes.c_size_t, p(KernelInfoC)]),
        "xfc_context_options_initialize": (None, [p(ContextOptions)]),
        "xfc_context_create": (Status, [model_p, p(ContextOptions), p(context_p)]),
        "xfc_context_destroy": (None, [context_p]),
        "xfc_context_num_threads": (ctypes.c_int32, [context_p]),
        "xfc_context_gpu_graph_launches": (ctypes.c_uint64, [context_p]),
        "xfc_context_get_profile": (
            Status, [context_p, p(ProfileC), p(KernelProfileC), ctypes.c_size_t]),
        "xfc_context_reset_profile": (Status, [context_p]),
        "xfc_context_run": (
            Status,
            [context_p, p(Buffer), ctypes.c_size_t, p(Buffer), ctypes.c_size_t],
        ),
        "xfc_model_num_buckets": (ctypes.c_size_t, [model_p]),
        "xfc_model_bucket": (Status, [model_p, ctypes.c_size_t, p(RunShape)]),
        "xfc_model_input_dims": (Status, [model_p, ctypes.c_size_t, p(ctypes.c_int)]),
        "xfc_model_output_dims": (Status, [model_p, ctypes.c_size_t, p(ctypes.c_int)]),
        "xfc_model_select_bucket": (Status, [model_p, p(RunShape), p(ctypes.c_size_t)]),
        "xfc_context_run_shaped": (
            Status,
            [context_p, p(RunShape), p(Buffer), ctypes.c_size_t, p(Buffer), ctypes.c_size_t],
        ),
        "xfc_model_memory_info": (Status, [model_p, p(MemoryInfoC)]),
        "xfc_context_reset_memory": (Status, [context_p]),
        "xfc_context_memory_filled": (Status, [context_p, p(ctypes.c_int64)]),
        "xfc_context_get_memory": (Status, [context_p, ctypes.c_size_t, p(Buffer)]),
        "xfc_context_set_memory": (
            Status,
            [context_p, p(Buffer), ctypes.c_size_t, ctypes.c_int64],
        ),
        "xfc_generator_open": (Status, [ctypes.c_char_p, p(ContextOptions), p(generator_p)]),
        "xfc_generator_destroy": (None, [generator_p]),
        "xfc_generator_get_info": (Status, [generator_p, p(GeneratorInfoC)]),
        "xfc_generator_source_length": (Status, [generator_p, p(ctypes.c_int64)]),
        "xfc_generator_prefill": (
            Status,
            [generator_p, i32_p, ctypes.c_size_t, f32_p, ctypes.c_size_t],
        ),
        "xfc_generator_prefill_source": (
            Status,
            [generator_p, i32_p, ctypes.c_size_t, i32_p, i32_p, ctypes.c_size_t,
             f32_p, ctypes.c_size_t],
        ),
        "xfc_generator_decode": (
            Status,
            [generator_p, i32_p, ctypes.c_size_t, f32_p, ctypes.c_size_t],
        ),
        "xfc_generator_reorder": (Status, [generator_p, i32_p, ctypes.c_size_t]),
        "xfc_generator_length": (Status, [generator_p, p(ctypes.c_int64)]),
        "xfc_generator_reset": (Status, [generator_p]),
        "xfc_beam_options_initialize": (None, [p(BeamOptions)]),
        "xfc_generator_beam_search": (
            Status,
            [generator_p, i32_p, ctypes.c_size_t, i32_p, p(BeamOptions), i32_p,
             ctypes.c_size_t, p(ctypes.c_int64), f32_p],
        ),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
