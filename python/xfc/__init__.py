"""Python bindings of xfc: compile Transformer model specs, load the
artifacts and run them on NumPy arrays.

    import numpy as np
    import xfc

    xfc.compile("model.json", "model.xfc", batch=1, seq_len=128, force=True)
    model = xfc.Model("model.xfc")
    context = model.context()                 # owns the arena; reuse it
    outputs = context.run(input_ids=ids, token_type_ids=types, lengths=lengths)
    hidden = outputs["hidden_states"]

An artifact compiled with ``buckets=[8, 32, 128]`` (``xfc compile
--buckets``) takes inputs of any length up to the largest bucket: the run
pads them to the smallest bucket that holds them and returns the outputs of
the given length (``model.buckets`` lists the shapes).

Running goes through the runtime's C API (libxfc_runtime.so) with ctypes,
which releases the GIL for the whole run: other Python threads go on, and
several threads may run one model at once, each with its own Context (the
C API's threading contract). Compiling runs the ``xfc`` command. Every
failure raises XfcError with the runtime's or the compiler's message.
"""

import ctypes
import os
import shutil
import subprocess
import threading
import weakref
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import _capi

__all__ = ["XfcError", "TensorInfo", "Kernel", "KernelProfile", "Profile", "MemoryInfo",
           "Model", "Context", "Generator", "Hypothesis", "compile"]

_lib = None
_lib_lock = threading.Lock()


def _library():
    global _lib
    with _lib_lock:
        if _lib is None:
            _lib = _capi.load_library()
        return _lib


class XfcError(RuntimeError):
    """A failed xfc call: `code` is the status name ("INVALID_ARGUMENT",
    "INVALID_ARTIFACT", ..., or "COMPILE_ERROR" for the compiler) and the
    message is the one the runtime or the compiler gave."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _check(status) -> None:
    """Raises XfcError for a failed status, which it frees."""
    if not status:
        return
    lib = _library()
    code = lib.xfc_status_get_code(status)
    message = lib.xfc_status_get_message(status).decode("utf-8", "replace")
    lib.xfc_status_free(status)
    raise XfcError(_capi.STATUS_NAMES.get(code, str(code)), message)


_DTYPES = {_capi.DTYPE_F32: np.dtype(np.float32), _capi.DTYPE_I32: np.dtype(np.int32)}


class TensorInfo(NamedTuple):
    """A model input or output. `range` is (min, max), inclusive, for
    integer inputs whose values the runtime checks (token ids), else None."""

    name: str
    dtype: np.dtype
    shape: Tuple[int, ...]
    range: Optional[Tuple[int, int]]


class Kernel(NamedTuple):
    """One kernel of the compiled model, in run order."""

    name: str
    symbol: str
    kind: str
    nodes: Tuple[str, ...]
    flops: int
    bytes: int


class KernelProfile(NamedTuple):
    """What a profiling context measured of one kernel (xfc_kernel_profile)."""

    kernel: Kernel
    calls: int
    total_ns: float


class Profile(NamedTuple):
    """What a profiling context measured over its runs (xfc_profile): the
    runs' wall time, the kernels' sum, and each kernel in run order."""

    runs: int
    wall_ns: float
    kernel_ns: float
    kernels: Tuple[KernelProfile, ...]


class MemoryInfo(NamedTuple):
    """A Transformer-XL model's segment memory (docs/transformer-xl.md)."""

    memory_length: int
    segment_length: int
    num_layers: int
    layer: Optional[TensorInfo]


def _tensor_info(info: _capi.TensorInfoC) -> TensorInfo:
    return TensorInfo(
        name=info.name.decode(),
        dtype=_DTYPES[info.dtype],
        shape=tuple(info.dims[i] for i in range(info.rank)),
        range=(info.min_value, info.max_value) if info.has_range else None,
    )


def _buffers(arrays: Sequence[np.ndarray]):
    """A C array of xfc_buffer over contiguous NumPy arrays (never empty, so
    its address is valid even for a model without inputs)."""
    return (_capi.Buffer * max(len(arrays), 1))(
        *[_capi.Buffer(a.ctypes.data, a.nbytes) for a in arrays])


class Model:
    """An opened artifact (folder written by ``xfc compile``). Opening
    validates the manifest, the CPU features and every weight's place in the
    memory-mapped weights file. The model may be shared by many threads.
    A model compiled with ``--target=cuda`` opens on GPU ``gpu_device``
    (ignored for CPU models); ``device`` says where it runs ("cpu",
    "cuda:0"). With ``skip_device`` it opens without its GPU, to be
    inspected and verified but not run."""

    def __init__(self, path: str, skip_cpu_check: bool = False, gpu_device: int = 0,
                 skip_device: bool = False):
        lib = _library()
        self._handle = None
        self._contexts = weakref.WeakSet()
        options = _capi.ModelOptions()
        lib.xfc_model_options_initialize(ctypes.byref(options))
        options.skip_cpu_check = 1 if skip_cpu_check else 0
        options.gpu_device = gpu_device
        options.skip_device = 1 if skip_device else 0
        handle = ctypes.c_void_p()
        _check(lib.xfc_model_open(os.fsencode(path), ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle
        self.path = path
        self.name = lib.xfc_model_name(handle).decode()
        self.device = lib.xfc_model_device(handle).decode()
        self.inputs = self._infos(lib.xfc_model_num_inputs, lib.xfc_model_input_info)
        self.outputs = self._infos(lib.xfc_model_num_outputs, lib.xfc_model_output_info)
        self.arena_bytes = lib.xfc_model_arena_bytes(handle)
        # Shape buckets: (batch, seq_len, tgt_len) each, smallest first, and
        # what each dimension of each input and output is.
        self.buckets = []
        for index in range(lib.xfc_model_num_buckets(handle)):
            shape = _capi.RunShape()
            _check(lib.xfc_model_bucket(handle, index, ctypes.byref(shape)))
            self.buckets.append((shape.batch, shape.seq_len, shape.tgt_len))
        self._input_dims = self._dims(lib.xfc_model_input_dims, self.inputs)
        self._output_dims = self._dims(lib.xfc_model_output_dims, self.outputs)

    def _dims(self, describe, infos) -> List[Tuple[int, ...]]:
        dims = []
        for index, info in enumerate(infos):
            out = (ctypes.c_int * _capi.MAX_RANK)()
            _check(describe(self._handle, index, out))
            dims.append(tuple(out[d] for d in range(len(info.shape))))
        return dims

    def _infos(self, count, describe) -> List[TensorInfo]:
        infos = []
        for index in range(count(self._handle)):
            info = _capi.TensorInfoC()
            _check(describe(self._handle, index, ctypes.byref(info)))
            infos.append(_tensor_info(info))
        return infos

    def _require_open(self):
        if self._handle is None:
            raise XfcError("INVALID_ARGUMENT", "the model is closed")
        return self._handle

    @property
    def kernels(self) -> List[Kernel]:
        lib, handle = _library(), self._require_open()
        kernels = []
        for index in range(lib.xfc_model_num_kernels(handle)):
            info = _capi.KernelInfoC()
            _check(lib.xfc_model_kernel_info(handle, index, ctypes.byref(info)))
            nodes = tuple(info.nodes[i].decode() for i in range(info.num_nodes))
            kernels.append(
                Kernel(info.name.decode(), info.symbol.decode(), info.kind.decode(),
                       nodes, info.flops, info.bytes)
            )
        return kernels

    @property
    def memory_info(self) -> MemoryInfo:
        lib, handle = _library(), self._require_open()
        info = _capi.MemoryInfoC()
        _check(lib.xfc_model_memory_info(handle, ctypes.byref(info)))
        layer = _tensor_info(info.layer) if info.num_layers else None
        return MemoryInfo(info.memory_length, info.segment_length, info.num_layers, layer)

    def verify(self) -> None:
        """Checks every byte of the weights against the manifest's checksums
        (``xfc verify``); raises XfcError on a mismatch."""
        _check(_library().xfc_model_verify(self._require_open()))

    def context(self, threads: int = 0, profiling: bool = False,
                gpu_graph: bool = True) -> "Context":
        """A run context: owns the arena, so its runs allocate nothing in
        the runtime. `threads` 0 means one per core. A GPU model's context
        replays its kernel launches as one CUDA graph unless `gpu_graph` is
        False."""
        return Context(self, threads=threads, profiling=profiling,
                       gpu_graph=gpu_graph)

    def run(self, *inputs, **named_inputs) -> Dict[str, np.ndarray]:
        """Runs once through a temporary context (allocates its arena each
        call; keep a Context for repeated runs)."""
        with self.context() as context:
            return context.run(*inputs, **named_inputs)

    def close(self) -> None:
        """Releases the model. Every Context of it must be closed first."""
        if self._handle is None:
            return
        if any(not context.closed for context in self._contexts):
            raise XfcError("INVALID_ARGUMENT", "close the model's contexts before the model")
        _library().xfc_model_destroy(self._handle)
        self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # Contexts hold a reference to their model, so none is left here.
        if getattr(self, "_handle", None) is not None:
            _library().xfc_model_destroy(self._handle)
            self._handle = None

    def __repr__(self):
        return "xfc.Model(%r, inputs=%s, outputs=%s)" % (
            self.path, [i.name for i in self.inputs], [o.name for o in self.outputs])


class _RuntimeObject:
    """A runtime object that one thread at a time uses (a lock, `_lock`,
    serializes calls) and that the C API function `_destroy_function`
    releases: closed explicitly, at the end of a with block, or when it is
    collected."""

    _destroy_function = ""

    def _destroy(self) -> None:
        if getattr(self, "_handle", None) is not None:
            getattr(_library(), self._destroy_function)(self._handle)
            self._handle = None

    def close(self) -> None:
        with self._lock:
            self._destroy()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self._destroy()


class Context(_RuntimeObject):
    """A run context of a Model: its own arena of intermediates (and, for
    Transformer-XL, its segment memory). One thread at a time runs it (a
    lock serializes concurrent calls); use one Context per thread."""

    def __init__(self, model: Model, threads: int = 0, profiling: bool = False,
                 gpu_graph: bool = True):
        lib = _library()
        self._handle = None
        self._lock = threading.Lock()
        options = _capi.ContextOptions()
        lib.xfc_context_options_initialize(ctypes.byref(options))
        options.num_threads = threads
        options.enable_profiling = 1 if profiling else 0
        options.gpu_graph = 1 if gpu_graph else 0
        handle = ctypes.c_void_p()
        _check(lib.xfc_context_create(model._require_open(), ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle
        self.model = model
        model._contexts.add(self)

    @property
    def closed(self) -> bool:
        return self._handle is None

    @property
    def num_threads(self) -> int:
        return _library().xfc_context_num_threads(self._require_open())

    @property
    def gpu_graph_launches(self) -> int:
        """The kernel launches each run replays as one CUDA graph (0 when
        the runs launch kernel by kernel, and for CPU models)."""
        return _library().xfc_context_gpu_graph_launches(self._require_open())

    def profile(self) -> Profile:
        """The profile of a context created with profiling=True (on a GPU:
        device times from CUDA events around each launch)."""
        lib = _library()
        count = lib.xfc_model_num_kernels(self.model._require_open())
        totals = _capi.ProfileC()
        entries = (_capi.KernelProfileC * max(count, 1))()
        with self._lock:
            _check(lib.xfc_context_get_profile(self._require_open(), ctypes.byref(totals),
                                               entries, count))
        kernels = self.model.kernels
        return Profile(totals.runs, totals.wall_ns, totals.kernel_ns,
                       tuple(KernelProfile(kernels[i], entries[i].calls, entries[i].total_ns)
                             for i in range(count)))

    def reset_profile(self) -> None:
        """Sets every count of the profile back to zero."""
        with self._lock:
            _check(_library().xfc_context_reset_profile(self._require_open()))

    def _require_open(self):
        if self._handle is None:
            raise XfcError("INVALID_ARGUMENT", "the context is closed")
        return self._handle

    def _input_arrays(self, inputs: Sequence, named: Dict) -> List[np.ndarray]:
        infos = self.model.inputs
        if inputs and named:
            raise XfcError("INVALID_ARGUMENT", "give the inputs either in order or by name, not both")
        if named:
            unknown = sorted(set(named) - {info.name for info in infos})
            if unknown:
                raise XfcError(
                    "INVALID_ARGUMENT",
                    "unknown input %r; the model's inputs are %s"
                    % (unknown[0], ", ".join(info.name for info in infos)))
            missing = [info.name for info in infos if info.name not in named]
            if missing:
                raise XfcError("INVALID_ARGUMENT", "input %r is missing" % missing[0])
            inputs = [named[info.name] for info in infos]
        if len(inputs) != len(infos):
            raise XfcError(
                "INVALID_ARGUMENT",
                "expected %d inputs (%s), found %d"
                % (len(infos), ", ".join(info.name for info in infos), len(inputs)))
        expected = self._shapes(infos, inputs)
        arrays = []
        for info, value, shape in zip(infos, inputs, expected):
            array = np.asarray(value)
            if array.shape != shape:
                raise XfcError(
                    "INVALID_ARGUMENT",
                    "input %r: expected shape %s, found %s" % (info.name, shape, array.shape))
            converted = np.ascontiguousarray(array, dtype=info.dtype)
            # Integers must survive the conversion (int64 token ids are
            # common); floats are rounded to float32 as any caller would.
            if info.dtype.kind == "i" and not np.array_equal(converted, array):
                raise XfcError(
                    "INVALID_ARGUMENT",
                    "input %r: expected %s values, found %s values that do not fit"
                    % (info.name, info.dtype, array.dtype))
            arrays.append(converted)
        return arrays

    def _run_shape(self, inputs: Sequence) -> Optional[_capi.RunShape]:
        """A bucketed model's run shape, read off the inputs' shapes (the
        largest bucket's sizes where no input has the dimension); None for a
        model of one shape."""
        model = self.model
        if not model.buckets:
            return None
        sizes = {}
        for dims, value in zip(model._input_dims, inputs):
            shape = np.shape(value)
            for dim, size in zip(dims, shape):
                if dim != _capi.DIM_FIXED:
                    sizes.setdefault(dim, size)
        batch, seq_len, _ = model.buckets[-1]
        seq_len = sizes.get(_capi.DIM_SEQ_LEN, seq_len)
        # The target length defaults to the sequence length, as compiling.
        return _capi.RunShape(sizes.get(_capi.DIM_BATCH, batch), seq_len,
                              sizes.get(_capi.DIM_TGT_LEN, seq_len))

    def _shapes(self, infos, inputs) -> List[Tuple[int, ...]]:
        """The shapes the inputs must have: the compiled ones, or for a
        bucketed model those of the run shape the inputs imply."""
        shape = self._run_shape(inputs)
        if shape is None:
            return [info.shape for info in infos]
        return [self._at(info, dims, shape)
                for info, dims in zip(infos, self.model._input_dims)]

    @staticmethod
    def _at(info, dims, shape) -> Tuple[int, ...]:
        by_dim = {_capi.DIM_BATCH: shape.batch, _capi.DIM_SEQ_LEN: shape.seq_len,
                  _capi.DIM_TGT_LEN: shape.tgt_len}
        return tuple(by_dim.get(dim, size) for dim, size in zip(dims, info.shape))

    def run(self, *inputs, **named_inputs) -> Dict[str, np.ndarray]:
        """Runs the model on NumPy arrays (in input order, or by input name)
        and returns the outputs as a dict from output name to a new array.
        Inputs are converted to the model's dtype when that is exact. A
        bucketed model takes inputs of any length (and batch) up to its
        largest bucket and returns outputs of that length."""
        arrays = self._input_arrays(inputs, named_inputs)
        shape = self._run_shape(arrays)
        if shape is None:
            outputs = {info.name: np.empty(info.shape, info.dtype)
                       for info in self.model.outputs}
        else:
            outputs = {info.name: np.empty(self._at(info, dims, shape), info.dtype)
                       for info, dims in zip(self.model.outputs, self.model._output_dims)}
        in_buffers = _buffers(arrays)
        out_buffers = _buffers(list(outputs.values()))
        with self._lock:
            if shape is None:
                status = _library().xfc_context_run(
                    self._require_open(), in_buffers, len(arrays), out_buffers, len(outputs))
            else:
                status = _library().xfc_context_run_shaped(
                    self._require_open(), ctypes.byref(shape), in_buffers, len(arrays),
                    out_buffers, len(outputs))
            _check(status)
        return outputs

    # Segment memory (Transformer-XL models).

    def reset_memory(self) -> None:
        with self._lock:
            _check(_library().xfc_context_reset_memory(self._require_open()))

    @property
    def memory_filled(self) -> int:
        filled = ctypes.c_int64()
        _check(_library().xfc_context_memory_filled(self._require_open(), ctypes.byref(filled)))
        return filled.value

    def get_memory(self, layer: int) -> np.ndarray:
        info = self.model.memory_info
        if info.layer is None:
            raise XfcError("INVALID_ARGUMENT", "model %r has no segment memory" % self.model.name)
        array = np.empty(info.layer.shape, np.float32)
        buffer = _capi.Buffer(array.ctypes.data, array.nbytes)
        with self._lock:
            _check(_library().xfc_context_get_memory(self._require_open(), layer, ctypes.byref(buffer)))
        return array

    def set_memory(self, layers: Sequence[np.ndarray], filled: int) -> None:
        arrays = [np.ascontiguousarray(layer, dtype=np.float32) for layer in layers]
        buffers = _buffers(arrays)
        with self._lock:
            _check(_library().xfc_context_set_memory(self._require_open(), buffers, len(arrays), filled))

    _destroy_function = "xfc_context_destroy"


class Hypothesis(NamedTuple):
    """A beam search's answer for one source: the generated token ids
    (ending with the end token when it finished) and its score (summed
    log-probabilities / generated tokens ** length_penalty)."""

    ids: np.ndarray
    score: float


def _int32_array(values, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise XfcError("INVALID_ARGUMENT", "%s: expected integer token ids, found dtype %s" % (what, array.dtype))
    if array.size and (array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
        raise XfcError("INVALID_ARGUMENT", "%s: values do not fit int32" % what)
    return np.ascontiguousarray(array, dtype=np.int32)


def _i32_pointer(array: Optional[np.ndarray]):
    if array is None:
        return None
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))


class Generator(_RuntimeObject):
    """Generation over a key/value cache (docs/generation.md): the prefill
    and decode steps of an artifact compiled with ``xfc compile
    --generate``, and the caches they share. Greedy or custom decoding
    with prefill/decode (and reorder, for beam search of your own), or
    beam_search. One thread at a time (a lock serializes calls)."""

    def __init__(self, path: str, threads: int = 0):
        lib = _library()
        self._handle = None
        self._lock = threading.Lock()
        options = _capi.ContextOptions()
        lib.xfc_context_options_initialize(ctypes.byref(options))
        options.num_threads = threads
        handle = ctypes.c_void_p()
        _check(lib.xfc_generator_open(os.fspath(path).encode(), ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle
        info = _capi.GeneratorInfoC()
        _check(lib.xfc_generator_get_info(handle, ctypes.byref(info)))
        source = ctypes.c_int64()
        _check(lib.xfc_generator_source_length(handle, ctypes.byref(source)))
        self.batch = info.batch
        self.prompt_length = info.prompt_length
        self.capacity = info.capacity
        self.vocab_size = info.vocab_size
        self.num_layers = info.num_layers
        #: The longest source one prefill takes (0 for a decoder).
        self.source_length = source.value

    def _require_open(self):
        if self._handle is None:
            raise XfcError("INVALID_ARGUMENT", "the generator is closed")
        return self._handle

    def _logits(self) -> np.ndarray:
        return np.empty((self.batch, self.vocab_size), np.float32)

    def prefill(self, ids, src=None, src_lengths=None) -> np.ndarray:
        """Starts over with the prompt `ids` ([batch, length]) and, for an
        encoder-decoder, the sources `src` ([batch, src_length]; their
        lengths `src_lengths`, [batch], default all of them). Returns the
        logits of each item's last prompt position, [batch, vocab]."""
        ids = _int32_array(ids, "ids")
        if ids.ndim != 2 or ids.shape[0] != self.batch:
            raise XfcError("INVALID_ARGUMENT", "ids: expected shape (%d, length), found %s" % (self.batch, ids.shape))
        logits = self._logits()
        out = logits.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        with self._lock:
            handle = self._require_open()
            if src is None:
                _check(_library().xfc_generator_prefill(handle, _i32_pointer(ids), ids.shape[1], out, logits.size))
                return logits
            src = _int32_array(src, "src")
            if src.ndim != 2 or src.shape[0] != self.batch:
                raise XfcError("INVALID_ARGUMENT", "src: expected shape (%d, length), found %s" % (self.batch, src.shape))
            lengths = None if src_lengths is None else _int32_array(src_lengths, "src_lengths")
            if lengths is not None and lengths.shape != (self.batch,):
                raise XfcError("INVALID_ARGUMENT", "src_lengths: expected shape (%d,), found %s" % (self.batch, lengths.shape))
            _check(_library().xfc_generator_prefill_source(
                handle, _i32_pointer(src), src.shape[1], _i32_pointer(lengths), _i32_pointer(ids), ids.shape[1],
                out, logits.size))
        return logits

    def decode(self, ids) -> np.ndarray:
        """Appends one token per item (`ids`, [batch]); returns the next
        logits, [batch, vocab]."""
        ids = _int32_array(ids, "ids").reshape(-1)
        logits = self._logits()
        with self._lock:
            _check(_library().xfc_generator_decode(
                self._require_open(), _i32_pointer(ids), ids.size,
                logits.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), logits.size))
        return logits

    def reorder(self, parents) -> None:
        """Item b continues the sequence of item parents[b] (its caches)."""
        parents = _int32_array(parents, "parents").reshape(-1)
        with self._lock:
            _check(_library().xfc_generator_reorder(self._require_open(), _i32_pointer(parents), parents.size))

    @property
    def length(self) -> int:
        """Filled cache positions."""
        value = ctypes.c_int64()
        with self._lock:
            _check(_library().xfc_generator_length(self._require_open(), ctypes.byref(value)))
        return value.value

    def reset(self) -> None:
        with self._lock:
            _check(_library().xfc_generator_reset(self._require_open()))

    def beam_search(self, src, *, num_beams: int = 4, max_new_tokens: int = 32,
                    start_id: int = 0, eos_id: Optional[int] = None,
                    length_penalty: float = 1.0, early_stopping: bool = False,
                    src_lengths=None) -> List[Hypothesis]:
        """Beam search (docs/generation.md, "Beam search"): `src` holds one
        input per source ([batch / num_beams, length]: an encoder-decoder's
        sources, with `src_lengths`, or a decoder's prompts). Returns the
        best hypothesis of each source."""
        src = _int32_array(src, "src")
        if src.ndim != 2:
            raise XfcError("INVALID_ARGUMENT", "src: expected shape (sources, length), found %s" % (src.shape,))
        lengths = None if src_lengths is None else _int32_array(src_lengths, "src_lengths")
        options = _capi.BeamOptions()
        lib = _library()
        lib.xfc_beam_options_initialize(ctypes.byref(options))
        options.num_beams = num_beams
        options.max_new_tokens = max_new_tokens
        options.start_id = start_id
        options.eos_id = -1 if eos_id is None else eos_id
        options.length_penalty = length_penalty
        options.early_stopping = 1 if early_stopping else 0
        sources = src.shape[0]
        if num_beams < 1 or sources * num_beams != self.batch:
            raise XfcError("INVALID_ARGUMENT", "src has %d sources; with %d beams the batch of %d holds %s" % (
                sources, num_beams, self.batch,
                "%d" % (self.batch // num_beams) if num_beams >= 1 and self.batch % num_beams == 0 else "no whole number"))
        if lengths is not None and lengths.shape != (sources,):
            raise XfcError("INVALID_ARGUMENT", "src_lengths: expected shape (%d,), found %s" % (sources, lengths.shape))
        out = np.empty((sources, max(max_new_tokens, 0)), np.int32)
        out_lengths = np.empty(sources, np.int64)
        scores = np.empty(sources, np.float32)
        with self._lock:
            _check(lib.xfc_generator_beam_search(
                self._require_open(), _i32_pointer(src), src.shape[1], _i32_pointer(lengths),
                ctypes.byref(options), _i32_pointer(out), out.size,
                out_lengths.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
                scores.ctypes.data_as(ctypes.POINTER(ctypes.c_float))))
        return [Hypothesis(out[n, :out_lengths[n]].copy(), float(scores[n])) for n in range(sources)]

    _destroy_function = "xfc_generator_destroy"

    def __repr__(self):
        kind = "encoder-decoder" if self.source_length else "decoder"
        return "<xfc.Generator %s batch=%d capacity=%d vocab=%d>" % (kind, self.batch, self.capacity, self.vocab_size)


def _xfc_executable(explicit: Optional[str]) -> str:
    candidates = [explicit, os.environ.get("XFC_EXECUTABLE")]
    try:
        from . import _paths  # Written by `make install`.

        candidates.append(_paths.XFC_EXECUTABLE)
    except ImportError:
        pass
    candidates.append(shutil.which("xfc"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise XfcError(
        "NOT_FOUND",
        "cannot find the xfc compiler (pass xfc=PATH, or set XFC_EXECUTABLE, "
        "or put xfc on PATH)")


def compile(spec: str, output: str, *, batch: Optional[int] = None,
            seq_len: Optional[int] = None, tgt_len: Optional[int] = None,
            generate: Optional[int] = None, buckets: Optional[Sequence] = None,
            attention: Optional[str] = None,
            fusion: Optional[str] = None, target: Optional[str] = None,
            gpu_arch: Optional[str] = None, dtype: Optional[str] = None,
            allow_tf32: bool = False, half_qkv: Optional[bool] = None,
            half_ffn: Optional[bool] = None, half_norm: Optional[bool] = None,
            attention_rows: Optional[int] = None, force: bool = False,
            args: Sequence[str] = (), xfc: Optional[str] = None) -> str:
    """Compiles the model spec `spec` (JSON) into the artifact folder
    `output` with ``xfc compile`` and returns `output`. The keyword
    arguments are the command's options (`buckets`: ``--buckets``, e.g.
    [8, 32, 128] or [(1, 8), (4, 128)]; `target`: "cpu" or "cuda", with
    `gpu_arch` e.g. "sm_80", `dtype` "f32", "f16" or "bf16",
    `allow_tf32`, `half_qkv`: False keeps the Q, K, V projections'
    outputs f32 with a half `dtype`, `half_ffn`: False keeps the FFN's
    hidden layer f32, `half_norm`: False keeps a pre-LN stack's norms'
    outputs f32, and `attention_rows`: 64 or 128, the flash attention
    kernel's query rows a block, instead of the shape's choice) (`args`
    passes any other, e.g.
    ["--cpu", "x86-64-v3"]); a failed compile raises XfcError with code
    "COMPILE_ERROR" and the compiler's message, and leaves nothing behind."""
    command = [_xfc_executable(xfc), "compile", os.fspath(spec), "-o", os.fspath(output)]
    if batch is not None:
        command += ["--batch", str(batch)]
    if seq_len is not None:
        command += ["--seq-len", str(seq_len)]
    if tgt_len is not None:
        command += ["--tgt-len", str(tgt_len)]
    if generate is not None:
        # The generation steps with a cache of `generate` positions (0: the
        # spec's max_seq_len).
        command.append("--generate" if generate == 0 else "--generate=%d" % generate)
    if buckets is not None:
        # Sequence lengths, or (batch, seq_len[, tgt_len]) tuples.
        command.append("--buckets=" + ",".join(
            "x".join(str(v) for v in b) if isinstance(b, (tuple, list)) else str(b)
            for b in buckets))
    if attention is not None:
        command.append("--attention=" + attention)
    if fusion is not None:
        command.append("--fusion=" + fusion)
    if target is not None:
        command.append("--target=" + target)
    if gpu_arch is not None:
        command.append("--gpu-arch=" + gpu_arch)
    if dtype is not None:
        command.append("--dtype=" + dtype)
    if allow_tf32:
        command.append("--allow-tf32")
    if half_qkv is not None:
        command.append("--gpu-half-qkv=" + ("on" if half_qkv else "off"))
    if half_ffn is not None:
        command.append("--gpu-half-ffn=" + ("on" if half_ffn else "off"))
    if half_norm is not None:
        command.append("--gpu-half-norm=" + ("on" if half_norm else "off"))
    if attention_rows is not None:
        command.append("--gpu-attention-rows=%d" % attention_rows)
    if force:
        command.append("--force")
    command += list(args)
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise XfcError("COMPILE_ERROR", message or "xfc compile exited with %d" % result.returncode)
    return os.fspath(output)
