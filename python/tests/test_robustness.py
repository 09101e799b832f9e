"""Bad input never crashes or hangs the importer.

Malformed nodes (missing or mistyped attributes, wrong arities) and corrupted
files (random byte flips and truncations of real models, seeded) must end in
exit status 0 (the damage happened to be harmless) or 1 with an error that
names the file, never in a signal or a timeout.
"""
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import lowbit


def _run(path, timeout=20):
    return subprocess.run([lowbit.find_tool("lowbitc"), str(path), "--quiet", "-o", "/dev/null"],
                          capture_output=True, text=True, errors="replace", timeout=timeout)


def _f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


MALFORMED = {
    "concat_without_axis": (helper.make_node("Concat", ["x", "x"], ["y"]), "requires attribute 'axis'"),
    "concat_axis_is_a_list": (helper.make_node("Concat", ["x", "x"], ["y"], axis=[0]),
                              "attribute 'axis' failed to satisfy constraint"),
    "concat_axis_is_a_float": (helper.make_node("Concat", ["x", "x"], ["y"], axis=1.5),
                               "attribute 'axis' failed to satisfy constraint"),
    "cast_without_to": (helper.make_node("Cast", ["x"], ["y"]), "requires attribute 'to'"),
    "cast_to_unknown_type": (helper.make_node("Cast", ["x"], ["y"], to=99), "element type #99"),
    "relu_with_two_inputs": (helper.make_node("Relu", ["x", "x"], ["y"]), "requires a single operand"),
    "add_with_one_input": (helper.make_node("Add", ["x"], ["y"]), "expected 2 operands, but found 1"),
    "gather_without_indices": (helper.make_node("Gather", ["x"], ["y"]), "expected 2 operands"),
    "split_without_outputs": (helper.make_node("Split", ["x"], []), "needs at least one result"),
    "dynamic_quantize_one_output": (helper.make_node("DynamicQuantizeLinear", ["x"], ["y"]),
                                    "expected 3 results"),
    "gather_float_indices": (helper.make_node("Gather", ["x", "x"], ["y"], axis=7),
                             "operand #1 must be tensor of 32-bit signless integer or 64-bit"),
    "transpose_bad_perm": (helper.make_node("Transpose", ["x"], ["y"], perm=[5, 0]), "permutation"),
    "slice_with_six_inputs": (helper.make_node("Slice", ["x"] * 6, ["y"]), "takes at most 5 inputs"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_node(name, tmp_path):
    node, message = MALFORMED[name]
    graph = helper.make_graph([node], "g", [_f32("x", [2, 3])], [_f32("y", None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    run = _run(path)
    assert run.returncode == 1, run.stderr
    assert f"{path}: node " in run.stderr and message in run.stderr, run.stderr


def _corruptions(data, count, seed):
    rng = np.random.default_rng(seed)
    for i in range(count):
        damaged = bytearray(data)
        if i % 4 == 0:
            damaged = damaged[: int(rng.integers(1, len(damaged)))]
        else:
            for _ in range(int(rng.integers(1, 8))):
                damaged[int(rng.integers(0, len(damaged)))] = int(rng.integers(0, 256))
        yield bytes(damaged)


@pytest.mark.parametrize("model", ["stories260K/stories260K.onnx", "tinystories656K/tinystories656K.onnx"])
def test_corrupted_models_fail_cleanly(shared_models, model, tmp_path):
    data = (shared_models / model).read_bytes()
    path = tmp_path / "damaged.onnx"
    outcomes = {0: 0, 1: 0}
    for damaged in _corruptions(data, count=60, seed=7):
        path.write_bytes(damaged)
        run = _run(path)
        assert run.returncode in (0, 1), f"lowbitc died with {run.returncode}: {run.stderr[-2000:]}"
        if run.returncode == 1:
            assert f"{path}" in run.stderr and "error:" in run.stderr, run.stderr
        outcomes[run.returncode] += 1
    # Truncations (a quarter of the cases) are always detected.
    assert outcomes[1] >= 15
