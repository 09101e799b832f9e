"""Forms of supported operators that the ONNX backend node tests do not
reach with constant operands, compiled and run against NumPy:

- Slice with negative (and mixed) constant steps, including starts and ends
  past either end of the axis, which ONNX clamps differently going backwards;
- MatMul with 1-D operands (numpy.matmul semantics);
- Tile with constant repeats.
"""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import lowbit

INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def _run_one_node(tmp_path, node, inputs, initializers, output_shape):
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)) for name, value in inputs.items()],
        [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, list(output_shape))],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()])
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    lowbit.compile(path, tmp_path / "model.so")
    return lowbit.load(tmp_path / "model.so").run(inputs)[node.output[0]]


# (starts, ends, axes, steps) and the equivalent numpy index on a 6x5x4 array.
SLICES = [
    ([5], [INT64_MIN], [0], [-1], np.s_[5::-1]),
    ([-1], [-7], [0], [-2], np.s_[::-2]),
    ([100], [0], [1], [-1], np.s_[:, 4:0:-1]),
    ([3, 0], [1, 4], [0, 2], [-1, 3], np.s_[3:1:-1, :, 0:4:3]),
    ([2], [2], [2], [-1], np.s_[:, :, 2:2:-1]),               # empty
    ([-100], [INT64_MAX], [1], [-1], np.s_[:, 0:0:-1]),       # start clamps to 0, end to 4: empty
    ([4, 3, 3], [0, INT64_MIN, -5], [0, 1, 2], [-3, -2, -1], np.s_[4:0:-3, 3::-2, 3::-1]),
]


@pytest.mark.parametrize("starts,ends,axes,steps,index", SLICES, ids=[str(i) for i in range(len(SLICES))])
def test_slice_negative_steps(tmp_path, starts, ends, axes, steps, index):
    x = np.arange(6 * 5 * 4, dtype=np.float32).reshape(6, 5, 4)
    expected = x[index]
    node = helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])
    got = _run_one_node(tmp_path, node, {"x": x},
                        {n: np.array(v, np.int64) for n, v in
                         (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps))},
                        expected.shape)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("a_shape,b_shape", [((7,), (2, 7, 3)), ((4, 7), (7,)), ((7,), (7,)), ((2, 3, 4, 7), (7,))])
def test_matmul_vectors(tmp_path, a_shape, b_shape):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    expected = np.matmul(a, b)
    got = _run_one_node(tmp_path, helper.make_node("MatMul", ["a", "b"], ["y"]), {"a": a, "b": b}, {},
                        expected.shape)
    assert got.shape == expected.shape
    # 7 products summed in another order: a few ulp of the largest terms.
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,repeats", [((2, 3), (3, 1)), ((2, 3, 4), (1, 2, 3)), ((5,), (4,)),
                                           ((2, 3), (0, 2))])
def test_tile_constant_repeats(tmp_path, shape, repeats):
    """Tile with constant repeats (the form exporters write; the backend
    tests give them as a graph input) against numpy.tile, zero repeats
    included."""
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    node = helper.make_node("Tile", ["x", "repeats"], ["y"])
    expected = np.tile(x, repeats)
    got = _run_one_node(tmp_path, node, {"x": x}, {"repeats": np.array(repeats, np.int64)}, expected.shape)
    np.testing.assert_array_equal(got, expected)
