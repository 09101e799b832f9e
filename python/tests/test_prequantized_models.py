"""Models quantized by ONNX Runtime's own tools, compiled by lowbit, against
ONNX Runtime: MatMulNBits nodes (lowbit-convert-matmul-nbits) and QDQ
int8 weights (lowbit-fold-qdq-weights).

onnxruntime.quantization's MatMulNBitsQuantizer writes each quantized layer
as a MatMulNBits node: unsigned levels packed along K in blocks, a scale and
(asymmetric) a packed zero point per block. lowbit unpacks them at compile
time into lowbit.quantized_matmul and runs its own kernels.

- One layer, 4 and 8 bits, symmetric or not, blocks of 32 and 128, a K that
  is not a multiple of the block, 1 row (decode kernel) and 17 rows (the
  many-row tiles): lowbit's product is within the fp32 summation bound of
  an independent float64 NumPy product over the weights decoded by the
  test from ONNX Runtime's packed bytes, and so is ONNX Runtime's (run at
  accuracy level 0, f32 activations) -- both read the same weights.
- A layer at accuracy level 4 (ONNX Runtime's int8 compute) runs on int8
  activations: within the fp32 summation bound of the row-quantized input
  times the decoded weights, and within the bound of the two activation
  roundings (lowbit's per row, ONNX Runtime's per block) of ONNX Runtime's
  result; --matmul-nbits-activations=f32 gives the f32 product.
- A whole model (tinystories656K, every MatMul quantized by ONNX Runtime
  at 4 bits in blocks of 32): lowbit's logits against ONNX Runtime's.
- What lowbit cannot take is a clear error naming the node.
- A layer in 4-bit QDQ form (MatMulNBitsQuantizer with quant_format=QDQ:
  uint4 weights in blocks along K): within the fp32 summation bound of ONNX
  Runtime, and on the quantized kernel.
- A layer in QDQ form from quantize_static (int8 weights per channel, uint8
  activations and output): the same outputs as ONNX Runtime executing the
  graph as written (no fusions), and the product runs on the quantized
  kernel.
"""
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import lowbit
from lowbit.testing.reference import quantize_rows_int8
from lowbit.testing.synthetic import make_linear

quantizer = pytest.importorskip("onnxruntime.quantization.matmul_nbits_quantizer")

U = 2.0**-24  # fp32 unit roundoff


def quantize_with_onnxruntime(model, bits, block, symmetric, accuracy_level=0):
    config = quantizer.DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=symmetric,
                                                    accuracy_level=accuracy_level, bits=bits)
    tool = quantizer.MatMulNBitsQuantizer(model, algo_config=config)
    tool.process()
    return tool.model.model


def compiled_on_the_quantized_kernel(path, tmp_path):
    """lowbitc's library of `path`, after checking that its LLVM IR calls
    the quantized matmul kernel."""
    ir = tmp_path / f"{path.stem}.ll"
    lowbit.compile(path, ir, extra_args=["-O1"])
    assert "lowbit_uk_quantized_matmul" in ir.read_text()
    library = tmp_path / f"{path.stem}.so"
    lowbit.compile(path, library, extra_args=["-O1"])
    return library


def session_as_written(path):
    """ONNX Runtime executing the graph as written (no fusions)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def assert_within_summation_bound(got, x, weight, what=""):
    """`got` against the float64 product x @ weight: each k-term fp32 sum,
    in any order, is within (k + 1) u sum|x w| of the exact one (u = 2^-24)."""
    reference = x.astype(np.float64) @ weight
    bound = (x.shape[-1] + 1) * U * (np.abs(x).astype(np.float64) @ np.abs(weight)) + 1e-30
    assert np.all(np.abs(got - reference) <= bound), what or np.max(np.abs(got - reference) / bound)


def decoded_weight(model):
    """W [K, N] (float64) of the model's one MatMulNBits node, decoded here
    from the packed bytes as the operator's definition reads them."""
    (node,) = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    attrs = {a.name: a.i for a in node.attribute}
    k, n, bits, block = attrs["K"], attrs["N"], attrs["bits"], attrs["block_size"]
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    packed = inits[node.input[1]].reshape(n, -1)
    blocks = -(-k // block)
    per_byte = 8 // bits
    fields = np.stack([(packed >> (bits * j)) & ((1 << bits) - 1) for j in range(per_byte)], -1)
    levels = fields.reshape(n, -1)[:, :k].astype(np.float64)
    scales = inits[node.input[2]].reshape(n, blocks).astype(np.float64)
    if len(node.input) > 3 and node.input[3]:
        zp_bytes = inits[node.input[3]].reshape(n, -1)
        zp = np.stack([(zp_bytes >> (bits * j)) & ((1 << bits) - 1) for j in range(per_byte)], -1)
        zeros = zp.reshape(n, -1)[:, :blocks].astype(np.float64)
    else:
        zeros = np.full((n, blocks), 2.0 ** (bits - 1))
    column = np.arange(k) // block
    return ((levels - zeros[:, column]) * scales[:, column]).T


@pytest.mark.parametrize("bits,block,symmetric,k", [
    (4, 32, False, 256), (4, 32, True, 256), (4, 128, False, 256), (4, 32, False, 200),
    (8, 32, False, 256), (8, 128, True, 256)])
def test_one_layer_matches_onnxruntime(tmp_path, bits, block, symmetric, k):
    n = 48
    weight = np.random.default_rng(3).standard_normal((k, n)).astype(np.float32)
    fp32 = onnx.load(make_linear(tmp_path / "linear.onnx", weight))
    model = quantize_with_onnxruntime(fp32, bits, block, symmetric)
    assert [node.op_type for node in model.graph.node] == ["MatMulNBits"]
    path = tmp_path / "nbits.onnx"
    onnx.save(model, path)
    library = tmp_path / "nbits.so"
    lowbit.compile(path, library, extra_args=["-O1"])
    weight = decoded_weight(model)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (input_name,) = [i.name for i in model.graph.input]
    for rows in (1, 17):
        x = np.random.default_rng(rows).standard_normal((rows, k)).astype(np.float32)
        got = next(iter(lowbit.load(library).run({input_name: x}).values()))
        theirs = session.run(None, {input_name: x})[0]
        assert_within_summation_bound(got, x, weight)
        assert_within_summation_bound(theirs, x, weight, "ONNX Runtime reads the weights differently")


@pytest.mark.parametrize("bits,block,symmetric", [(4, 32, False), (4, 128, True), (8, 32, False)])
def test_accuracy_level_4_gives_int8_activations(tmp_path, bits, block, symmetric):
    """A node at accuracy level 4 (ONNX Runtime's int8 compute) runs on
    lowbit's int8-activation kernels by default, and on f32 activations
    with --matmul-nbits-activations=f32."""
    k, n = 256, 48
    weight = np.random.default_rng(5).standard_normal((k, n)).astype(np.float32)
    model = quantize_with_onnxruntime(onnx.load(make_linear(tmp_path / "linear.onnx", weight)),
                                      bits, block, symmetric, accuracy_level=4)
    (node,) = model.graph.node
    assert {a.name: a.i for a in node.attribute}["accuracy_level"] == 4
    path = tmp_path / "nbits.onnx"
    onnx.save(model, path)
    libraries = {}
    for activations in ("as-model", "f32"):
        libraries[activations] = tmp_path / f"nbits-{activations}.so"
        lowbit.compile(path, libraries[activations],
                       extra_args=["-O1", f"--matmul-nbits-activations={activations}"])
    weight = decoded_weight(model)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for rows in (1, 17):
        x = np.random.default_rng(20 + rows).standard_normal((rows, k)).astype(np.float32)
        int8 = lowbit.load(libraries["as-model"]).run({"x": x})["y"]
        f32 = lowbit.load(libraries["f32"]).run({"x": x})["y"]
        theirs = session.run(None, {"x": x})[0]
        # lowbit's definition: the row on its int8 grid, times the weights.
        assert_within_summation_bound(int8, quantize_rows_int8(x), weight)
        assert_within_summation_bound(f32, x, weight)
        # Quantizing the activations moved the result past what fp32
        # rounding of the f32 product could.
        summation = (k + 1) * U * (np.abs(x).astype(np.float64) @ np.abs(weight))
        assert np.any(np.abs(int8 - x.astype(np.float64) @ weight) > summation)
        # ONNX Runtime puts each block of `block` inputs on its own grid,
        # whose step is at most the row's (max|x| / 127): each of the two
        # roundings moves an input by at most half the row's step, so the
        # two products differ by at most step * sum_k |W[k, n]|, plus the
        # fp32 sums of both.
        step = np.abs(x).max(axis=1, keepdims=True).astype(np.float64) / 127
        bound = step * np.abs(weight).sum(axis=0) * (1 + 1e-6) + 3 * summation
        assert np.all(np.abs(int8 - theirs) <= bound), np.max(np.abs(int8 - theirs) / bound)


def test_model_quantized_by_onnxruntime_matches_it(shared_models, tmp_path):
    source = shared_models / "tinystories656K" / "tinystories656K.onnx"
    model = quantize_with_onnxruntime(onnx.load(source), 4, 32, False)
    nbits = sum(node.op_type == "MatMulNBits" for node in model.graph.node)
    assert nbits >= 14  # the 7 projections of each of the 2 blocks, and the head
    path = tmp_path / "tinystories-nbits.onnx"
    onnx.save(model, path)
    library = tmp_path / "tinystories-nbits.so"
    lowbit.compile(path, library, extra_args=["-O1"])
    ids = np.array([[int(t) for t in (shared_models / "tinystories656K" / "eval_tokens.txt")
                     .read_text().split("\n")[0].split()[:48]]], np.int64)
    feeds = {"input_ids": ids}
    for i in model.graph.input[1:]:
        feeds[i.name] = np.zeros((1, 4, 0, 16), np.float32)
    theirs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["logits"], feeds)[0]
    ours = lowbit.load(library).run(feeds)["logits"]
    # The same weights on both sides; what differs is the order of fp32
    # sums (relative 2e-5 at most for one 384-term product), carried through
    # two blocks: 1e-4 of the logits' scale.
    scale = np.abs(theirs).max()
    assert np.abs(ours - theirs).max() <= 1e-4 * scale
    assert np.array_equal(ours[0].argmax(-1), theirs[0].argmax(-1))


def test_act_order_is_a_clear_error(tmp_path):
    k, n, block = 64, 8, 32
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.integers(0, 256, (n, k // block, block // 2), dtype=np.uint8), "B"),
             numpy_helper.from_array(np.ones(n * k // block, np.float32), "scales"),
             numpy_helper.from_array(rng.permutation(np.arange(k) // block).astype(np.int32), "g_idx")]
    node = helper.make_node("MatMulNBits", ["x", "B", "scales", "", "g_idx"], ["y"], domain="com.microsoft",
                            name="proj", K=k, N=n, bits=4, block_size=block)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    path = tmp_path / "act-order.onnx"
    onnx.save(model, path)
    run = subprocess.run([lowbit.find_tool("lowbitc"), str(path), "--quiet", "-o", str(tmp_path / "x.so")],
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "node 'proj'" in run.stderr and "g_idx" in run.stderr, run.stderr
    assert not (tmp_path / "x.so").exists()


def test_qdq_int8_weights_run_on_the_quantized_kernel(tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    k, n = 128, 48
    weight = np.random.default_rng(3).standard_normal((k, n)).astype(np.float32)
    fp32 = make_linear(tmp_path / "linear.onnx", weight)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": np.random.default_rng(i).standard_normal((4, k)).astype(np.float32)}
                                 for i in range(4)])

        def get_next(self):
            return next(self.batches, None)

    path = tmp_path / "qdq.onnx"
    quantize_static(str(fp32), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    ops = [node.op_type for node in onnx.load(path).graph.node]
    assert "DequantizeLinear" in ops and "MatMul" in ops
    library = compiled_on_the_quantized_kernel(path, tmp_path)
    session = session_as_written(path)
    for rows in (1, 17):
        x = np.random.default_rng(10 + rows).standard_normal((rows, k)).astype(np.float32)
        theirs = session.run(None, {"x": x})[0]
        ours = next(iter(lowbit.load(library).run({"x": x}).values()))
        # The output is quantized again (uint8): fp32 sums in another order
        # may round an element to the neighbouring level, no further.
        step = float(next(numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer
                          if i.name.startswith("y") and i.name.endswith("scale")))
        assert np.abs(ours - theirs).max() <= step * 1.0001
        assert np.mean(ours != theirs) < 0.01


@pytest.mark.parametrize("block,symmetric", [(32, False), (128, True)])
def test_qdq_int4_weights_run_on_the_quantized_kernel(tmp_path, block, symmetric):
    from onnxruntime.quantization import QuantFormat

    k, n = 256, 48
    weight = np.random.default_rng(5).standard_normal((k, n)).astype(np.float32)
    fp32 = onnx.load(make_linear(tmp_path / "linear.onnx", weight))
    fp32.opset_import[0].version = 21  # DequantizeLinear with blocks and 4-bit types
    config = quantizer.DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=symmetric, bits=4,
                                                    quant_format=QuantFormat.QDQ)
    tool = quantizer.MatMulNBitsQuantizer(fp32, algo_config=config)
    tool.process()
    model = tool.model.model
    assert [node.op_type for node in model.graph.node] == ["DequantizeLinear", "MatMul"]
    path = tmp_path / "qdq4.onnx"
    onnx.save(model, path)
    library = compiled_on_the_quantized_kernel(path, tmp_path)
    session = session_as_written(path)
    # The dequantized weight as ONNX Runtime computes it: x = I gives W
    # exactly (one product by 1 per element).
    dequantized = session.run(None, {"x": np.eye(k, dtype=np.float32)})[0].astype(np.float64)
    for rows in (1, 17):
        x = np.random.default_rng(20 + rows).standard_normal((rows, k)).astype(np.float32)
        ours = next(iter(lowbit.load(library).run({"x": x}).values()))
        theirs = session.run(None, {"x": x})[0]
        assert_within_summation_bound(ours, x, dequantized)
        assert_within_summation_bound(theirs, x, dequantized)
