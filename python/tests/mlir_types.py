"""Reading tensor types and function signatures out of printed onnx IR."""
import re

import numpy as np

_NUMPY_ELEMENT = {
    "f16": np.float16, "f32": np.float32, "f64": np.float64,
    "i1": np.bool_, "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
    "ui8": np.uint8, "ui16": np.uint16, "ui32": np.uint32, "ui64": np.uint64,
}

_NAMED_TENSOR = re.compile(r'tensor<([^>]*)>\s*\{(?:onnx\.dim_params = \[[^\]]*\], )?onnx\.name = "([^"]*)"')


def parse_tensor_type(text):
    """'?x3xf32' -> ([None, 3], 'f32'); '*xf32' -> (None, 'f32')."""
    parts = text.split("x")
    element = parts[-1]
    if parts[0] == "*":
        return None, element
    return [None if d == "?" else int(d) for d in parts[:-1]], element


def signature(ir):
    """(inputs, outputs) of the main function: {onnx name: (dims, element)}."""
    header = next(line for line in ir.splitlines() if "func.func @main_graph" in line)
    args, _, results = header.partition(") -> ")
    inputs = {name: parse_tensor_type(t) for t, name in _NAMED_TENSOR.findall(args)}
    outputs = {name: parse_tensor_type(t) for t, name in _NAMED_TENSOR.findall(results)}
    return inputs, outputs


def check_type_matches(dims_element, array, what):
    """Asserts that an inferred type admits `array`: same element type where
    known, same rank, equal sizes wherever the type is static."""
    dims, element = dims_element
    if hasattr(array, "dims"):  # a TensorProto: types numpy has no dtype for
        shape = tuple(array.dims)
    else:
        shape = array.shape
        expected = _NUMPY_ELEMENT.get(element)
        if expected is not None and array.dtype.kind in "biuf":
            assert array.dtype == expected, f"{what}: element type {element} but data is {array.dtype}"
    if dims is None:
        return
    assert len(dims) == len(shape), f"{what}: inferred rank {len(dims)}, data has shape {shape}"
    for i, (d, n) in enumerate(zip(dims, shape)):
        assert d is None or d == n, f"{what}: inferred size {d} at dim {i}, data has shape {shape}"
