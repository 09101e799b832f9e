"""Running a compiled model (a shared library from `lowbitc --emit=lib`).

The library exports `lowbit_main_graph_packed(void **args)` and the string
`lowbit_main_graph_signature` (one line per input/output:
`in|out NAME ELEMENT RANK D0 D1 ...`, -1 for dynamic sizes). Arguments are
MLIR memref descriptors: {allocated, aligned, offset, sizes[rank],
strides[rank]}, all 64-bit; args[0] points at the results' descriptors,
laid out one after another, args[1:] at the inputs'. Results are malloc'd by
the model and owned by the caller: they are copied into numpy arrays and
freed here.
"""
import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np

_DTYPES = {"f32": np.float32, "f64": np.float64, "f16": np.float16, "i64": np.int64,
           "i32": np.int32, "i16": np.int16, "i8": np.int8, "i1": np.bool_}

_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.free.argtypes = [ctypes.c_void_p]


@dataclass
class TensorSpec:
    name: str
    element: str
    shape: tuple  # None for a dynamic size

    @property
    def dtype(self):
        return _DTYPES.get(self.element)


def _parse_signature(text):
    inputs, outputs = [], []
    for line in text.strip().splitlines():
        kind, name, element, rank, *dims = line.split()
        assert len(dims) == int(rank), line
        spec = TensorSpec(name, element, tuple(None if int(d) < 0 else int(d) for d in dims))
        (inputs if kind == "in" else outputs).append(spec)
    return inputs, outputs


class Model:
    """A compiled model: `run({name: array})` returns {name: array}."""

    def __init__(self, path):
        self.path = str(path)
        self._lib = ctypes.CDLL(self.path)
        signature = ctypes.cast(ctypes.addressof(ctypes.c_char.in_dll(self._lib, "lowbit_main_graph_signature")),
                                ctypes.c_char_p).value.decode()
        self.inputs, self.outputs = _parse_signature(signature)
        self._entry = self._lib.lowbit_main_graph_packed
        self._entry.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        self._entry.restype = None

    def _check_input(self, spec, value):
        if spec.dtype is None:
            raise TypeError(f"input '{spec.name}': element type {spec.element} is not supported by the runtime")
        array = np.ascontiguousarray(value)
        if array.dtype != spec.dtype:
            raise TypeError(f"input '{spec.name}': expected {np.dtype(spec.dtype).name}, got {array.dtype}")
        if array.ndim != len(spec.shape) or any(d is not None and d != n for d, n in zip(spec.shape, array.shape)):
            raise ValueError(f"input '{spec.name}': expected shape {spec.shape}, got {array.shape}")
        return array

    def run(self, feeds):
        missing = [s.name for s in self.inputs if s.name not in feeds]
        if missing:
            raise KeyError(f"missing inputs: {missing}")
        keep = []  # the arrays and descriptors must outlive the call
        args = []
        for spec in self.inputs:
            array = self._check_input(spec, feeds[spec.name])
            rank = array.ndim
            descriptor = (ctypes.c_int64 * (3 + 2 * rank))()
            address = array.ctypes.data if array.size else 0
            descriptor[0] = descriptor[1] = address
            descriptor[2] = 0
            for i in range(rank):
                descriptor[3 + i] = array.shape[i]
                descriptor[3 + rank + i] = array.strides[i] // array.itemsize if array.size else 1
            keep += [array, descriptor]
            args.append(ctypes.cast(descriptor, ctypes.c_void_p))
        words = sum(3 + 2 * len(s.shape) for s in self.outputs)
        results = (ctypes.c_int64 * words)()
        packed = (ctypes.c_void_p * (1 + len(args)))(ctypes.cast(results, ctypes.c_void_p), *args)
        self._entry(packed)

        outputs, freed, position = {}, set(), 0
        for spec in self.outputs:
            rank = len(spec.shape)
            allocated, aligned, offset = results[position], results[position + 1], results[position + 2]
            shape = tuple(results[position + 3: position + 3 + rank])
            strides = tuple(results[position + 3 + rank: position + 3 + 2 * rank])
            position += 3 + 2 * rank
            dtype = np.dtype(spec.dtype)
            count = int(np.prod(shape)) if shape else 1
            if count == 0:
                array = np.zeros(shape, dtype)
            else:
                span = 1 + sum((n - 1) * s for n, s in zip(shape, strides))
                buffer = (ctypes.c_char * (span * dtype.itemsize)).from_address(aligned + offset * dtype.itemsize)
                flat = np.frombuffer(buffer, dtype=dtype, count=span)
                array = np.lib.stride_tricks.as_strided(
                    flat, shape, [s * dtype.itemsize for s in strides]).copy()
            outputs[spec.name] = array
            if allocated and allocated not in freed:
                freed.add(allocated)
                _libc.free(allocated)
        return outputs


def load(path):
    """Loads a model compiled with `lowbitc --emit=lib`."""
    return Model(path)
