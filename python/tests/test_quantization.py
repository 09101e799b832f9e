"""Weight quantization through lowbitc --quantize, end to end.

- lowbit-rtn + the CPU lowering of lowbit.quantized_matmul against a NumPy
  round-to-nearest written here from the grid's definition (GPTQ's
  convention, docs/Passes/LowbitPasses.md), on a layer with a ragged last
  group (K = 172 in groups of 32), symmetric and asymmetric, 2 to 8 bits,
  with fp32 or int8 (per-row) activations;
- the shared models: RTN W8 per-channel within 0.5 % of the fp32
  perplexity (the issue's gate), also with int8 per-token activations, and
  W4 g32 reported (printed).
"""
import re
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import lowbit
from lowbit.testing.reference import quantize_rows_int8
from lowbit.testing.synthetic import make_linear


def rtn_reference(w, bits, group, symmetric):
    """Dequantized [K, N] weight: each group of `group` rows of each column
    on its own grid, levels in [-2^(b-1), 2^(b-1) - 1]."""
    k, n = w.shape
    out = np.empty_like(w)
    maxq = np.float32(2 ** bits - 1)
    half = 2 ** (bits - 1)
    for col in range(n):
        for k0 in range(0, k, group):
            v = w[k0:k0 + group, col]
            lo, hi = np.float32(min(v.min(), 0)), np.float32(max(v.max(), 0))
            if symmetric:
                m = max(-lo, hi)
                scale, zero = (np.float32(2) * m / maxq, 0) if m > 0 else (np.float32(1), 0)
            elif hi == lo:
                scale, zero = np.float32(1), 0
            else:
                scale = (hi - lo) / maxq
                zero = int(np.clip(np.rint(-lo / scale), 0, maxq)) - half
            q = np.clip(np.rint(v / scale) + zero, -half, half - 1)
            out[k0:k0 + group, col] = (q - zero).astype(np.float32) * scale
    return out


@pytest.mark.parametrize("bits,group,symmetric,activations", [
    (4, 32, True, 0), (4, 32, False, 0), (8, 0, True, 0), (3, 64, False, 0), (2, 16, True, 0),
    (4, 32, False, 8), (8, 0, True, 8)])
def test_rtn_layer_matches_numpy(tmp_path, bits, group, symmetric, activations):
    rng = np.random.default_rng(bits * 100 + group)
    k, n = 172, 40
    w = rng.standard_normal((k, n)).astype(np.float32)
    path = make_linear(tmp_path / "layer.onnx", w)
    step = f"rtn,bits={bits},group-size={group},symmetric={'true' if symmetric else 'false'}"
    if activations:
        step += f",activation-bits={activations}"
    lowbit.compile(path, tmp_path / "layer.so", extra_args=[f"--quantize={step}"])
    x = rng.standard_normal((7, k)).astype(np.float32)
    got = lowbit.load(tmp_path / "layer.so").run({"x": x})["y"]
    # With int8 activations each row of x is first put on its int8 grid (the
    # same float32 arithmetic as the kernel's, so the same levels).
    expected = (quantize_rows_int8(x) if activations else x) @ rtn_reference(w, bits, group or k, symmetric)
    # Same dequantized weights, summed in another order: fp32 rounding of a
    # 172-term dot product of O(1) terms (about 1e-5 relative).
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # And quantization did happen: the fp32 product differs by much more.
    assert np.abs(x @ w - got).max() > 1e-3


def _perplexity(library, tokens):
    run = subprocess.run([lowbit.find_tool("lowbit-run"), str(library), f"--perplexity={tokens}"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return float(re.fullmatch(r"perplexity: ([\d.]+) tokens: \d+\n", run.stdout).group(1))


@pytest.mark.parametrize("model", ["stories260K", "tinystories656K"])
def test_rtn_perplexity_on_shared_models(shared_models, tmp_path, model):
    onnx_path = shared_models / model / f"{model}.onnx"
    tokens = shared_models / model / "eval_tokens.txt"
    results = {}
    for label, steps in (("fp32", []), ("w8", ["--quantize=rtn,bits=8,group-size=0"]),
                         ("w8a8", ["--quantize=rtn,bits=8,group-size=0,activation-bits=8"]),
                         ("w4g32", ["--quantize=rtn,bits=4,group-size=32"])):
        library = tmp_path / f"{label}.so"
        run = subprocess.run([lowbit.find_tool("lowbitc"), str(onnx_path), "-O1", "--quiet", "-o", str(library),
                              *steps], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        results[label] = _perplexity(library, tokens)
    print(f"{model} perplexity: " + ", ".join(f"{k} {v:.4f}" for k, v in results.items()))
    assert results["w8"] <= results["fp32"] * 1.005
    # Per-token int8 activations on top (the VNNI path where the CPU has it).
    assert results["w8a8"] <= results["fp32"] * 1.005
    # RTN at 4 bits must cost something, but not wreck the model.
    assert results["fp32"] < results["w4g32"] < results["fp32"] * 2


def test_quantized_layer_threads_and_weights_file(tmp_path):
    """A quantized layer split over threads (by output channels) gives the
    single-threaded result exactly, int8 activations included, and its levels
    and scales go to the weights file like any constant."""
    rng = np.random.default_rng(11)
    k, n = 1024, 256  # 64 x 1024 x 256 multiply-adds: above the threads' threshold
    w = rng.standard_normal((k, n)).astype(np.float32)
    make_linear(tmp_path / "layer.onnx", w)
    x = rng.standard_normal((64, k)).astype(np.float32)
    for activations in (0, 8):
        library = tmp_path / f"layer{activations}.so"
        lowbit.compile(tmp_path / "layer.onnx", library,
                       extra_args=[f"--quantize=rtn,bits=4,group-size=32,activation-bits={activations}",
                                   "--weights=file"])
        # The levels: one byte each, or two per byte for int8 activations.
        assert library.with_suffix(".weights").stat().st_size >= n * k // (2 if activations else 1)
        single = lowbit.load(library).run({"x": x})["y"]
        model = lowbit.load(library)
        model.set_num_threads(2)
        assert np.array_equal(model.run({"x": x})["y"], single)
        expected = (quantize_rows_int8(x) if activations else x) @ rtn_reference(w, 4, 32, True)
        np.testing.assert_allclose(single, expected, rtol=1e-4, atol=1e-3)


def test_calibration_taps_gather_statistics(tmp_path):
    """--instrument-calibration: each linear layer's input is tapped; running
    the model folds every row into the tap's statistics, read through
    lowbit_calibration_stats and checked against NumPy (max |x|, mean |x|,
    X^T X, rows) over two runs with different row counts."""
    import ctypes

    rng = np.random.default_rng(5)
    w1 = rng.standard_normal((8, 6)).astype(np.float32)
    w2 = rng.standard_normal((6, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="first"),
         helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"], name="second")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", 3])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "m.onnx"))
    library = tmp_path / "m.so"
    lowbit.compile(tmp_path / "m.onnx", library, extra_args=["--instrument-calibration"])
    model = lowbit.load(library)
    runs = [rng.standard_normal((2, 5, 8)).astype(np.float32), rng.standard_normal((1, 3, 8)).astype(np.float32)]
    for x in runs:
        y = model.run({"x": x})["y"]
        np.testing.assert_allclose(y, np.maximum(x @ w1, 0) @ w2, rtol=1e-5, atol=1e-5)  # taps change nothing

    lib = ctypes.CDLL(str(library))
    lib.lowbit_calibration_taps.restype = ctypes.c_char_p
    assert lib.lowbit_calibration_taps().decode().splitlines() == ["first", "second"]
    lib.lowbit_calibration_stats.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_int64),
                                             ctypes.POINTER(ctypes.c_int64)] + [ctypes.c_void_p] * 3
    inputs = {0: np.concatenate([x.reshape(-1, 8) for x in runs]).astype(np.float64)}
    inputs[1] = np.maximum(inputs[0] @ w1.astype(np.float64), 0)
    for tap, rows in inputs.items():
        channels, tokens = ctypes.c_int64(), ctypes.c_int64()
        assert lib.lowbit_calibration_stats(tap, ctypes.byref(channels), ctypes.byref(tokens), None, None, None) == 0
        assert (channels.value, tokens.value) == (rows.shape[1], 13)
        abs_max, mean_abs = np.zeros(channels.value), np.zeros(channels.value)
        xtx = np.zeros((channels.value, channels.value))
        lib.lowbit_calibration_stats(tap, ctypes.byref(channels), ctypes.byref(tokens), abs_max.ctypes.data,
                                     mean_abs.ctypes.data, xtx.ctypes.data)
        # The second tap sees the model's fp32 activations, NumPy's are in
        # double: fp32 rounding of an 8-term product (1e-6 relative).
        np.testing.assert_allclose(abs_max, np.abs(rows).max(axis=0), rtol=1e-5)
        np.testing.assert_allclose(mean_abs, np.abs(rows).mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(xtx, rows.T @ rows, rtol=1e-5, atol=1e-5)
