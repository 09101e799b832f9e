"""Running a compiled model (a shared library from `lowbitc --emit=lib`)
through its C API (include/lowbit-c/Runtime.h), with ctypes.

    model = lowbit.load("model.so")
    outputs = model.run({"input_ids": ids, ...})   # {name: numpy array}
"""
import ctypes
import os
from dataclasses import dataclass

import numpy as np

MAX_RANK = 8
_DTYPES = {0: np.float32, 1: np.float64, 2: np.float16, 4: np.int64, 5: np.int32, 6: np.int16,
           7: np.int8, 8: np.uint8, 9: np.bool_, 10: np.uint16, 11: np.uint32, 12: np.uint64}
try:  # NumPy has no bfloat16; ml_dtypes (which onnx depends on) does
    import ml_dtypes
    _DTYPES[3] = ml_dtypes.bfloat16
    # The narrow types: one element per byte, as ml_dtypes holds them.
    for _code, _name in enumerate(["float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
                                   "float8_e8m0fnu", "float4_e2m1fn", "int4", "uint4", "int2", "uint2"], 13):
        if hasattr(ml_dtypes, _name):
            _DTYPES[_code] = getattr(ml_dtypes, _name)
except ImportError:
    pass
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
_STATUS = {1: "invalid argument", 2: "not found", 3: "type mismatch", 4: "out of memory",
           5: "unavailable"}
_DEVICES = {"auto": 0, "cpu": 1, "cuda": 2}


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int64),
                ("dims", ctypes.c_int64 * MAX_RANK)]


class _Tensor(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int64),
                ("dims", ctypes.c_int64 * MAX_RANK), ("data", ctypes.c_void_p), ("owned", ctypes.c_int)]


class RuntimeError_(RuntimeError):
    """A model run failed; the message is the runtime's."""


@dataclass
class TensorSpec:
    name: str
    dtype: object  # numpy dtype, or None when the C API cannot exchange it
    shape: tuple   # None for a dynamic size


def _bind(lib):
    signatures = {
        "lowbit_model_create": (ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_size_t]),
        "lowbit_model_destroy": (None, [ctypes.c_void_p]),
        "lowbit_model_num_inputs": (ctypes.c_int64, [ctypes.c_void_p]),
        "lowbit_model_num_outputs": (ctypes.c_int64, [ctypes.c_void_p]),
        "lowbit_model_input_info": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(_TensorInfo)]),
        "lowbit_model_output_info": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(_TensorInfo)]),
        "lowbit_model_set_num_threads": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
        "lowbit_model_run": (ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(_Tensor), ctypes.c_int64,
                                            ctypes.POINTER(_Tensor), ctypes.c_int64]),
        "lowbit_model_last_error": (ctypes.c_char_p, [ctypes.c_void_p]),
        "lowbit_tensor_release": (None, [ctypes.POINTER(_Tensor)]),
        "lowbit_session_create": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]),
        "lowbit_session_step": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                               ctypes.c_void_p, ctypes.c_int64]),
        "lowbit_session_length": (ctypes.c_int64, [ctypes.c_void_p]),
        "lowbit_session_reset": (None, [ctypes.c_void_p]),
        "lowbit_session_destroy": (None, [ctypes.c_void_p]),
        "lowbit_session_last_error": (ctypes.c_char_p, [ctypes.c_void_p]),
        "lowbit_model_set_device": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
        "lowbit_model_device": (ctypes.c_char_p, [ctypes.c_void_p]),
    }
    optional = ("lowbit_session_", "lowbit_model_set_device", "lowbit_model_device")
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name, None)
        if fn is None and name.startswith(optional):
            continue  # a library built before these existed
        fn.restype, fn.argtypes = restype, argtypes
    return lib


class Model:
    """One instance of a compiled model; `run({name: array})` returns
    {name: array}. Instances may run concurrently; one instance runs one
    call at a time."""

    def __init__(self, path, device="auto"):
        if device not in _DEVICES:
            raise ValueError(f"device must be one of {', '.join(_DEVICES)}, got {device!r}")
        self.path = str(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"lowbit.load: no compiled model at {self.path}")
        # dlopen reads a name without a slash as a library to search for, not
        # as a file here: give it the absolute path.
        self._lib = _bind(ctypes.CDLL(os.path.abspath(self.path)))
        error = ctypes.create_string_buffer(256)
        self._model = self._lib.lowbit_model_create(error, len(error))
        if not self._model:
            raise RuntimeError_(error.value.decode())
        self.inputs = [self._spec(self._lib.lowbit_model_input_info, i)
                       for i in range(self._lib.lowbit_model_num_inputs(self._model))]
        self.outputs = [self._spec(self._lib.lowbit_model_output_info, i)
                        for i in range(self._lib.lowbit_model_num_outputs(self._model))]
        if hasattr(self._lib, "lowbit_model_set_device"):
            self._check(self._lib.lowbit_model_set_device(self._model, _DEVICES[device]))
        elif device == "cuda":
            raise RuntimeError_(f"{self.path} predates device selection")

    @property
    def device(self):
        """Where the instance runs, in words: "cpu", "cpu (no GPU: ...)",
        "cuda (<GPU>): N of M quantized matrix products so far on the GPU,
        ..." (see lowbit_model_device in lowbit-c/Runtime.h)."""
        if not hasattr(self._lib, "lowbit_model_device"):
            return "cpu"
        return self._lib.lowbit_model_device(self._model).decode()

    def _spec(self, query, index):
        info = _TensorInfo()
        assert query(self._model, index, ctypes.byref(info)) == 0
        dtype = _DTYPES.get(info.dtype)
        return TensorSpec(info.name.decode(), np.dtype(dtype) if dtype else None,
                          tuple(None if d < 0 else d for d in info.dims[:info.rank]))

    def __del__(self):
        if getattr(self, "_model", None):
            self._lib.lowbit_model_destroy(self._model)
            self._model = None

    def session(self):
        """A decode session over this instance (see Session)."""
        return Session(self)

    def set_num_threads(self, count):
        self._check(self._lib.lowbit_model_set_num_threads(self._model, count))

    def _check(self, status):
        if status != 0:
            message = self._lib.lowbit_model_last_error(self._model).decode()
            raise RuntimeError_(f"{_STATUS.get(status, status)}: {message}")

    def _check_input(self, spec, value):
        array = np.asarray(value, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
        if spec.dtype is None:
            raise TypeError(f"input '{spec.name}': its element type cannot be passed through the C API")
        if array.dtype != spec.dtype:
            raise TypeError(f"input '{spec.name}': expected {spec.dtype.name}, got {array.dtype}")
        if array.ndim != len(spec.shape) or any(d is not None and d != n for d, n in zip(spec.shape, array.shape)):
            raise ValueError(f"input '{spec.name}': expected shape {spec.shape}, got {array.shape}")
        return array

    def run(self, feeds):
        missing = [s.name for s in self.inputs if s.name not in feeds]
        if missing:
            raise KeyError(f"missing inputs: {missing}")
        arrays = [self._check_input(spec, feeds[spec.name]) for spec in self.inputs]
        inputs = (_Tensor * max(1, len(arrays)))()
        for tensor, spec, array in zip(inputs, self.inputs, arrays):
            tensor.name = spec.name.encode()
            tensor.dtype = _CODES[array.dtype]
            tensor.rank = array.ndim
            for d, n in enumerate(array.shape):
                tensor.dims[d] = n
            tensor.data = array.ctypes.data if array.size else None
        outputs = (_Tensor * max(1, len(self.outputs)))()
        status = self._lib.lowbit_model_run(self._model, inputs, len(arrays), outputs, len(self.outputs))
        try:
            self._check(status)
            results = {}
            for tensor, spec in zip(outputs, self.outputs):
                shape = tuple(tensor.dims[:tensor.rank])
                count = int(np.prod(shape)) if shape else 1
                buffer = (ctypes.c_char * (count * spec.dtype.itemsize)).from_address(tensor.data) if count else b""
                results[spec.name] = np.frombuffer(buffer, spec.dtype, count).reshape(shape).copy()
            return results
        finally:
            for i in range(len(self.outputs)):
                self._lib.lowbit_tensor_release(ctypes.byref(outputs[i]))


class Session:
    """A decode session (lowbit_session_*): the model's KV cache, whatever
    its layout (f32, or levels and scales after --quantize=kv-cache), kept
    between steps. `step(ids)` runs token ids after those already seen and
    returns their logits [len(ids), vocab]. Batch 1."""

    def __init__(self, model):
        self._model = model  # keeps the instance alive
        lib = model._lib
        error = ctypes.create_string_buffer(256)
        self._session = lib.lowbit_session_create(model._model, error, len(error))
        if not self._session:
            raise RuntimeError_(error.value.decode())
        logits = next(s for s in model.outputs if s.name == "logits")
        self.vocab = logits.shape[2]

    @property
    def length(self):
        return self._model._lib.lowbit_session_length(self._session)

    def reset(self):
        self._model._lib.lowbit_session_reset(self._session)

    def step(self, ids):
        ids = np.ascontiguousarray(np.asarray(ids, np.int64).reshape(-1))
        logits = np.empty((len(ids), self.vocab), np.float32)
        lib = self._model._lib
        status = lib.lowbit_session_step(self._session, ids.ctypes.data, len(ids), logits.ctypes.data,
                                         logits.size)
        if status != 0:
            raise RuntimeError_(f"{_STATUS.get(status, status)}: "
                                f"{lib.lowbit_session_last_error(self._session).decode()}")
        return logits

    def __del__(self):
        if getattr(self, "_session", None):
            self._model._lib.lowbit_session_destroy(self._session)
            self._session = None


def load(path, device="auto"):
    """Loads a model compiled with `lowbitc --emit=lib` (a new instance).
    `device`: "auto" (a library compiled with target="cpu,cuda" runs its
    quantized matrix products on the GPU when one is found, else the CPU),
    "cpu", or "cuda" (ModelRunError if the library has no CUDA code or there
    is no GPU). `Model.device` says where it runs."""
    return Model(path, device)
