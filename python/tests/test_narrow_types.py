"""float8, float4, 2-/4-bit integers and unsigned integers through Cast,
QuantizeLinear and DequantizeLinear, compiled (the default -O3, so the
vectorized loops run) and compared with ONNX's reference evaluator
(onnx.reference, which rounds through ml_dtypes).

The backend node tests cover each conversion on a dozen values; here every
code of each narrow float type is decoded, and encoding is swept over every
representable value, the midpoints between neighbours (ties, which go to the
even code) and the floats just either side of them, overflow, infinities,
NaN, subnormals and both zeros, thousands of elements at once. Encoded
results must equal the reference bit for bit (NaN: any NaN of the type).
"""
import subprocess

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import lowbit

NARROW_FLOATS = {
    TensorProto.FLOAT8E4M3FN: ml_dtypes.float8_e4m3fn,
    TensorProto.FLOAT8E4M3FNUZ: ml_dtypes.float8_e4m3fnuz,
    TensorProto.FLOAT8E5M2: ml_dtypes.float8_e5m2,
    TensorProto.FLOAT8E5M2FNUZ: ml_dtypes.float8_e5m2fnuz,
    TensorProto.FLOAT4E2M1: ml_dtypes.float4_e2m1fn,
}
NARROW_INTS = {TensorProto.INT4: ml_dtypes.int4, TensorProto.UINT4: ml_dtypes.uint4,
               TensorProto.INT2: ml_dtypes.int2, TensorProto.UINT2: ml_dtypes.uint2}


def _all_codes(dtype):
    bits = 4 if dtype == ml_dtypes.float4_e2m1fn else 8
    return np.arange(1 << bits, dtype=np.uint8).view(dtype)


def _model(nodes, inputs, outputs, initializers=(), opset=25):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _compile_and_run(tmp_path, model, feeds, simplify=True):
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    lowbit.compile(path, tmp_path / "model.so", simplify=simplify)
    return lowbit.load(tmp_path / "model.so").run(feeds)


def _reference(model, feeds):
    names = [o.name for o in model.graph.output]
    return dict(zip(names, ReferenceEvaluator(model).run(None, feeds)))


def _assert_same_codes(got, expected):
    assert got.dtype == expected.dtype and got.shape == expected.shape
    got_bits, expected_bits = got.view(np.uint8), expected.view(np.uint8)
    both_nan = np.isnan(got.astype(np.float32)) & np.isnan(expected.astype(np.float32))
    differ = (got_bits != expected_bits) & ~both_nan
    assert not differ.any(), (f"{differ.sum()} codes differ, e.g. at {np.flatnonzero(differ)[:5]}: "
                              f"got {got_bits[differ][:5]}, expected {expected_bits[differ][:5]}")


def _assert_all_equal(got, expected):
    """Each output equal to the reference, one-byte types compared as bytes."""
    def raw(a):
        return a.view(np.uint8) if a.itemsize == 1 else a
    for name in expected:
        assert got[name].dtype == expected[name].dtype, name
        np.testing.assert_array_equal(raw(got[name]), raw(expected[name]), err_msg=name)


def _encoding_sweep(dtype):
    """Every finite value of `dtype`, the midpoints between neighbours and
    the floats next to them, both signs, and the special cases."""
    values = np.unique(_all_codes(dtype).astype(np.float32))
    values = values[np.isfinite(values) & (values >= 0)]
    mids = (values[:-1].astype(np.float64) + values[1:]) / 2
    top = values[-1] + (values[-1] - values[-2])  # the next step past the largest
    mids = np.concatenate([mids, [(values[-1] + top) / 2.0, top, 2.0 * top]]).astype(np.float32)
    near = np.concatenate([mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(0))])
    rng = np.random.default_rng(0)
    scattered = (rng.standard_normal(2000) * values[-1] / 4).astype(np.float32)
    sweep = np.concatenate([values, near, scattered, [1e-30, 1e-45, 1e30]]).astype(np.float32)
    return np.concatenate([sweep, -sweep, [np.inf, -np.inf, np.nan, 0.0, -0.0]]).astype(np.float32)


@pytest.mark.parametrize("saturate", [1, 0])
@pytest.mark.parametrize("to", list(NARROW_FLOATS), ids=lambda t: TensorProto.DataType.Name(t))
def test_encode_narrow_floats(tmp_path, to, saturate):
    x = _encoding_sweep(NARROW_FLOATS[to])
    model = _model([helper.make_node("Cast", ["x"], ["y"], to=to, saturate=saturate),
                    helper.make_node("Cast", ["x16"], ["y16"], to=to, saturate=saturate)],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [len(x)]),
                    helper.make_tensor_value_info("x16", TensorProto.FLOAT16, [len(x)])],
                   [helper.make_tensor_value_info("y", to, [len(x)]),
                    helper.make_tensor_value_info("y16", to, [len(x)])])
    with np.errstate(over="ignore"):  # what overflows f16 is inf there too
        feeds = {"x": x, "x16": x.astype(np.float16)}
    got, expected = _compile_and_run(tmp_path, model, feeds), _reference(model, feeds)
    _assert_same_codes(got["y"], expected["y"])
    _assert_same_codes(got["y16"], expected["y16"])


@pytest.mark.parametrize("to", [TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.INT32],
                         ids=["FLOAT", "FLOAT16", "INT32"])
@pytest.mark.parametrize("source", [*NARROW_FLOATS, TensorProto.FLOAT8E8M0],
                         ids=lambda t: TensorProto.DataType.Name(t))
def test_decode_every_code(tmp_path, source, to):
    dtype = NARROW_FLOATS.get(source, ml_dtypes.float8_e8m0fnu)
    x = np.tile(_all_codes(dtype), 3)
    if to == TensorProto.INT32:  # only what converts to an int32 (the rest is undefined)
        x = x[np.abs(np.nan_to_num(x.astype(np.float64), nan=1e10)) < 2.0 ** 31]
    model = _model([helper.make_node("Cast", ["x"], ["y"], to=to)],
                   [helper.make_tensor_value_info("x", source, [len(x)])],
                   [helper.make_tensor_value_info("y", to, [len(x)])])
    got, expected = _compile_and_run(tmp_path, model, {"x": x})["y"], _reference(model, {"x": x})["y"]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("round_mode", ["up", "down", "nearest"])
@pytest.mark.parametrize("saturate", [1, 0])
def test_encode_e8m0(tmp_path, saturate, round_mode):
    powers = np.ldexp(np.float32(1), np.arange(-127, 128)).astype(np.float32)
    x = np.concatenate([powers, powers * np.float32(1.5), powers * np.float32(1.25),
                        np.nextafter(powers * np.float32(1.5), np.float32(0)), powers * np.float32(1.75),
                        [0.0, -3.0, np.inf, np.nan, 3.4e38, 1e-40]]).astype(np.float32)
    model = _model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT8E8M0, saturate=saturate,
                                     round_mode=round_mode)],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [len(x)])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT8E8M0, [len(x)])])
    got, expected = _compile_and_run(tmp_path, model, {"x": x})["y"], _reference(model, {"x": x})["y"]
    _assert_same_codes(got, expected)


@pytest.mark.parametrize("narrow", list(NARROW_INTS), ids=lambda t: TensorProto.DataType.Name(t))
def test_narrow_integers(tmp_path, narrow):
    """float -> intN truncates toward zero and wraps (as the reference's
    C-style conversion does); int8/int32 -> intN wraps; intN -> float, int8
    and int64 extend by the type's signedness."""
    dtype = NARROW_INTS[narrow]
    x = np.linspace(-40, 40, 1601, dtype=np.float32)
    ints = np.arange(-128, 128, dtype=np.int32).repeat(3)
    codes = np.tile(np.arange(1 << (4 if narrow in (TensorProto.INT4, TensorProto.UINT4) else 2),
                              dtype=np.uint8), 300).view(dtype)
    wide = TensorProto.INT8 if narrow in (TensorProto.INT4, TensorProto.INT2) else TensorProto.UINT8
    model = _model([helper.make_node("Cast", ["x"], ["from_float"], to=narrow),
                    helper.make_node("Cast", ["ints"], ["from_int"], to=narrow),
                    helper.make_node("Cast", ["codes"], ["to_float"], to=TensorProto.FLOAT),
                    helper.make_node("Cast", ["codes"], ["to_wide"], to=wide),
                    helper.make_node("Cast", ["codes"], ["to_i64"], to=TensorProto.INT64)],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [len(x)]),
                    helper.make_tensor_value_info("ints", TensorProto.INT32, [len(ints)]),
                    helper.make_tensor_value_info("codes", narrow, [len(codes)])],
                   [helper.make_tensor_value_info("from_float", narrow, [len(x)]),
                    helper.make_tensor_value_info("from_int", narrow, [len(ints)]),
                    helper.make_tensor_value_info("to_float", TensorProto.FLOAT, [len(codes)]),
                    helper.make_tensor_value_info("to_wide", wide, [len(codes)]),
                    helper.make_tensor_value_info("to_i64", TensorProto.INT64, [len(codes)])])
    feeds = {"x": x, "ints": ints, "codes": codes}
    got, expected = _compile_and_run(tmp_path, model, feeds), _reference(model, feeds)
    _assert_all_equal(got, expected)


def test_unsigned_casts(tmp_path):
    """Casts to and from unsigned integers, in range (out of range ONNX
    leaves undefined): floats truncate toward zero, unsigned sources extend
    with zeros, integers wrap, x != 0 to bool."""
    x = np.linspace(0, 250, 997, dtype=np.float32)
    u16 = np.arange(0, 65536, 7, dtype=np.uint16)
    i32 = np.arange(-70000, 70000, 131, dtype=np.int32)
    casts = [("x", TensorProto.UINT8), ("x", TensorProto.UINT16), ("x", TensorProto.UINT32),
             ("x", TensorProto.UINT64), ("u16", TensorProto.FLOAT), ("u16", TensorProto.INT64),
             ("u16", TensorProto.INT8), ("u16", TensorProto.BOOL), ("u16", TensorProto.FLOAT8E4M3FN),
             ("i32", TensorProto.UINT8), ("i32", TensorProto.UINT64)]
    nodes, outputs = [], []
    for i, (source, to) in enumerate(casts):
        nodes.append(helper.make_node("Cast", [source], [f"y{i}"], to=to))
        size = {"x": len(x), "u16": len(u16), "i32": len(i32)}[source]
        outputs.append(helper.make_tensor_value_info(f"y{i}", to, [size]))
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [len(x)]),
                           helper.make_tensor_value_info("u16", TensorProto.UINT16, [len(u16)]),
                           helper.make_tensor_value_info("i32", TensorProto.INT32, [len(i32)])], outputs)
    feeds = {"x": x, "u16": u16, "i32": i32}
    got, expected = _compile_and_run(tmp_path, model, feeds), _reference(model, feeds)
    _assert_all_equal(got, expected)


@pytest.mark.parametrize("simplify", [True, False], ids=["simplified", "as-imported"])
@pytest.mark.parametrize("levels", [TensorProto.INT4, TensorProto.UINT4, TensorProto.INT2,
                                    TensorProto.FLOAT4E2M1, TensorProto.FLOAT8E4M3FN],
                         ids=lambda t: TensorProto.DataType.Name(t))
def test_quantized_weights_as_constants(tmp_path, levels, simplify):
    """A weight stored as packed 2-/4-bit (or float8) levels in the model, a
    scale per block of 16 along K and a zero point (for integers),
    dequantized and multiplied; and x quantized to the same type. An odd
    element count leaves the last packed byte half used."""
    rng = np.random.default_rng(1)
    k, n = 48, 7
    dtype = {**NARROW_INTS, **NARROW_FLOATS}[levels]
    if levels in NARROW_INTS:
        info = ml_dtypes.iinfo(dtype)
        w = rng.integers(info.min, info.max + 1, (k, n)).astype(dtype)
        zero = rng.integers(info.min, info.max + 1, (k // 16, n)).astype(dtype)
    else:
        w = (rng.standard_normal((k, n)) * 2).astype(dtype)
        zero = np.zeros((k // 16, n), dtype)
    scale = rng.uniform(0.01, 0.1, (k // 16, n)).astype(np.float32)
    x = rng.standard_normal((3, k)).astype(np.float32)
    model = _model([helper.make_node("DequantizeLinear", ["w", "scale", "zero"], ["wf"], axis=0, block_size=16),
                    helper.make_node("MatMul", ["x", "wf"], ["y"]),
                    helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["q"], axis=1, block_size=16)],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, n]),
                    helper.make_tensor_value_info("q", levels, [3, k])],
                   [numpy_helper.from_array(w, "w"), numpy_helper.from_array(scale, "scale"),
                    numpy_helper.from_array(zero, "zero"),
                    numpy_helper.from_array(np.full((3, k // 16), 0.3, np.float32), "xs"),
                    numpy_helper.from_array(zero[:1, :1].repeat(3, 0).repeat(k // 16, 1), "xz")])
    got = _compile_and_run(tmp_path, model, {"x": x}, simplify=simplify)
    expected = _reference(model, {"x": x})
    np.testing.assert_allclose(got["y"], expected["y"], rtol=1e-5, atol=1e-5)  # fp32 sums of 48 terms
    _assert_same_codes(got["q"], expected["q"])


def test_lowbit_run_exchanges_narrow_npy(tmp_path):
    """lowbit-run reads a float8 input saved by NumPy (as '<V1' bytes) and
    writes narrow outputs as '|u1' bit patterns."""
    x = np.array([0.5, -3.0, 448.0, 6.0], np.float32).astype(ml_dtypes.float8_e4m3fn)
    model = _model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT4)],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT8E4M3FN, [4])],
                   [helper.make_tensor_value_info("y", TensorProto.INT4, [4])])
    onnx.save(model, str(tmp_path / "model.onnx"))
    lowbit.compile(tmp_path / "model.onnx", tmp_path / "model.so")
    np.save(tmp_path / "x.npy", x)
    run = subprocess.run([lowbit.find_tool("lowbit-run"), str(tmp_path / "model.so"), f"--input=x={tmp_path / 'x.npy'}",
                          f"--output-dir={tmp_path / 'out'}"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    y = np.load(tmp_path / "out" / "y.npy")
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y.view(ml_dtypes.int4), _reference(model, {"x": x})["y"])
