#!/usr/bin/env python3
"""Weight-only quantized matmul: lowbit beside ONNX Runtime, in one process.

    python3 bench/bench_quant.py [--quick] [--threads N]

For each weight shape (K x N = 4096 x 4096 and 4096 x 11008, the LLaMA-7B
attention and up projections) and M = 1, 16, 64 rows of activations:

- lowbit: an fp32 MatMul model compiled with `--quantize=rtn,bits=B,group-size=G`
  (lowbit.quantized_matmul -> the fused micro-kernel), with fp32 activations
  (A32) or `activation-bits=8` (A8: rows quantized to int8, VNNI products);
- ONNX Runtime's com.microsoft MatMulNBits with the same bits and block size,
  accuracy_level 0 (fp32 activations) and 4 (activations quantized to int8 per
  block, VNNI);
- fp32 MatMul in both, for reference.

Medians of repeated runs (all five of a case in alternating rounds), ratios to ORT, and for M = 1 (memory-bound) the
weight bytes streamed per second as a fraction of this machine's copy
bandwidth (numpy copy of 512 MiB, measured here). lowbit streams one byte
per 4-bit level with fp32 activations and two levels per byte with int8
activations (see docs/Quantization.md). The weight is 8-16 MiB, so M = 1
partly runs from the last-level cache.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
import lowbit  # noqa: E402
from bench_common import compile_lowbit, interleaved_median_ms, ort_session  # noqa: E402
from lowbit.testing.synthetic import make_linear  # noqa: E402


def copy_bandwidth_gbs():
    """Bytes read plus written per second by numpy copying 512 MiB."""
    src = np.ones(128 << 20, np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


def save_matmul(path, weight):
    """One linear layer, its weight in a file beside the model."""
    make_linear(path, weight, external_data=True)


CYCLED = 8  # weights in the M = 1 case that runs from memory


def save_matmul_stack(path, weights):
    """y = sum_i x @ weights[i]: every weight read once per run."""
    k, n = weights[0].shape
    nodes, inits = [], []
    for i, w in enumerate(weights):
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", ["x", f"w{i}"], [f"p{i}"], name=f"proj{i}"))
    total = "p0"
    for i in range(1, len(weights)):
        nodes.append(helper.make_node("Add", [total, f"p{i}"], [f"s{i}"]))
        total = f"s{i}"
    nodes[-1].output[0] = "y"
    graph = helper.make_graph(nodes, "stack", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path), save_as_external_data=True, location=path.stem + ".data")


def matmul_nbits_stack_session(weights, bits, block, accuracy, threads):
    """The same sum over MatMulNBits nodes (see matmul_nbits_model)."""
    graphs = [matmul_nbits_model(w, bits, block, accuracy, str(i)) for i, w in enumerate(weights)]
    nodes = [g.node[0] for g in graphs]
    inits = [init for g in graphs for init in g.initializer]
    total = nodes[0].output[0]
    for i, graph in enumerate(graphs[1:], 1):
        nodes.append(helper.make_node("Add", [total, graph.node[0].output[0]], [f"s{i}"]))
        total = f"s{i}"
    nodes[-1].output[0] = "Y"
    k, n = weights[0].shape
    graph = helper.make_graph(nodes, "nbits_stack", [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["m", k])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["m", n])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    return ort_session(model.SerializeToString(), threads)


def matmul_nbits_model(weight, bits, block, accuracy, suffix=""):
    """A graph of one MatMulNBits over `weight` [K, N] quantized
    symmetrically (zero point 2^(bits-1), ORT's default), blocks of `block`
    along K; its weight and output names end in `suffix`."""
    k, n = weight.shape
    blocks = (k + block - 1) // block
    w = np.zeros((n, blocks * block), np.float32)
    w[:, :k] = weight.T
    w = w.reshape(n, blocks, block)
    half = 2 ** (bits - 1)
    scales = np.abs(w).max(axis=2) / (half - 1)
    scales[scales == 0] = 1
    q = np.clip(np.rint(w / scales[..., None]) + half, 0, 2 * half - 1).astype(np.uint8)
    if bits == 4:
        q = q[..., 0::2] | (q[..., 1::2] << 4)
    node = helper.make_node("MatMulNBits", ["A", f"B{suffix}", f"scales{suffix}"], [f"Y{suffix}"],
                            domain="com.microsoft", K=k, N=n, bits=bits, block_size=block, accuracy_level=accuracy)
    return helper.make_graph([node], "nbits", [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["m", k])],
                             [helper.make_tensor_value_info(f"Y{suffix}", TensorProto.FLOAT, ["m", n])],
                             [numpy_helper.from_array(q, f"B{suffix}"),
                              numpy_helper.from_array(scales.reshape(-1).astype(np.float32), f"scales{suffix}")])


def matmul_nbits_session(weight, bits, block, accuracy, threads):
    """One MatMulNBits node (see matmul_nbits_model)."""
    graph = matmul_nbits_model(weight, bits, block, accuracy)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    return ort_session(model.SerializeToString(), threads)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="4096 x 4096 and W4 g128 only")
    args = parser.parse_args()
    shapes = [(4096, 4096)] if args.quick else [(4096, 4096), (4096, 11008)]
    # (bits, block, activation bits: 0 = fp32 activations, 8 = int8 per row)
    configs = [(4, 128, 0), (4, 128, 8)] if args.quick else [(4, 32, 0), (4, 128, 0), (4, 32, 8), (4, 128, 8)]
    bandwidth = copy_bandwidth_gbs()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for k, n in shapes:
            weight = (rng.standard_normal((k, n)) * 0.02).astype(np.float32)
            path = work / f"mm_{k}x{n}.onnx"
            save_matmul(path, weight)
            fp32_ours = compile_lowbit(path, work / f"fp32_{n}.so", args.threads)
            fp32_theirs = ort_session(path, args.threads)
            for bits, block, activation_bits in configs:
                ours = compile_lowbit(path, work / f"q{bits}g{block}a{activation_bits}_{n}.so", args.threads,
                                      [f"--quantize=rtn,bits={bits},group-size={block},"
                                       f"activation-bits={activation_bits}"])
                acc0 = matmul_nbits_session(weight, bits, block, 0, args.threads)
                acc4 = matmul_nbits_session(weight, bits, block, 4, args.threads)
                for m in (1, 16, 64):
                    x = rng.standard_normal((m, k)).astype(np.float32)
                    # Alternating rounds: this machine's speed drifts by tens of
                    # percent, and drift must touch every column alike.
                    t = interleaved_median_ms({
                        "lowbit": lambda: ours.run({"x": x}),
                        "ort0": lambda: acc0.run(None, {"A": x}),
                        "ort4": lambda: acc4.run(None, {"A": x}),
                        "lowbit_fp32": lambda: fp32_ours.run({"x": x}),
                        "ort_fp32": lambda: fp32_theirs.run(None, {"x": x}),
                    })
                    note = ""
                    if m == 1:
                        # The levels (one byte each; two per byte for A8) and the scales.
                        streamed = k * n // (2 if activation_bits else 1) + k * n // block * 4
                        note = f"lowbit streams {streamed / t['lowbit'] / 1e6:.1f} GB/s = " \
                               f"{100 * streamed / t['lowbit'] / 1e6 / bandwidth:.0f}% of copy bandwidth"
                    activations = "A8" if activation_bits else "A32"
                    rows.append((f"{k}x{n} W{bits}{activations} g{block} M={m}", t, note))
        # M = 1 over CYCLED different weights: every byte from memory.
        k = n = 4096
        weights = [(rng.standard_normal((k, n)) * 0.02).astype(np.float32) for _ in range(CYCLED)]
        path = work / "stack.onnx"
        save_matmul_stack(path, weights)
        x = rng.standard_normal((1, k)).astype(np.float32)
        for bits, block, activation_bits in configs:
            if block != 128:
                continue
            ours = compile_lowbit(path, work / f"stack_a{activation_bits}.so", args.threads,
                                  [f"--quantize=rtn,bits={bits},group-size={block},"
                                   f"activation-bits={activation_bits}"])
            acc0 = matmul_nbits_stack_session(weights, bits, block, 0, args.threads)
            acc4 = matmul_nbits_stack_session(weights, bits, block, 4, args.threads)
            t = interleaved_median_ms({
                "lowbit": lambda: ours.run({"x": x}),
                "ort0": lambda: acc0.run(None, {"A": x}),
                "ort4": lambda: acc4.run(None, {"A": x}),
            })
            t = {name: ms / CYCLED for name, ms in t.items()}  # per matrix
            t["lowbit_fp32"] = t["ort_fp32"] = float("nan")
            streamed = k * n // (2 if activation_bits else 1) + k * n // block * 4
            ort_streamed = k * n // 2 + k * n // block * 4
            note = (f"per matrix, {CYCLED} cycled: lowbit streams {streamed / t['lowbit'] / 1e6:.1f} GB/s = "
                    f"{100 * streamed / t['lowbit'] / 1e6 / bandwidth:.0f}% of copy bandwidth; ORT acc4 "
                    f"{ort_streamed / t['ort4'] / 1e6:.1f} GB/s")
            activations = "A8" if activation_bits else "A32"
            rows.append((f"{k}x{n} x{CYCLED} cycled W{bits}{activations} g{block} M=1", t, note))
    print(f"threads: {args.threads}; copy bandwidth {bandwidth:.1f} GB/s; ONNX Runtime {ort.__version__}")
    print("| case | lowbit ms | ORT nbits acc0 ms | ORT nbits acc4 ms | lowbit fp32 ms | ORT fp32 ms "
          "| lowbit / ORT acc4 | lowbit / ORT acc0 | notes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, t, note in rows:
        ms = {key: "-" if value != value else f"{value:.3f}" for key, value in t.items()}  # nan: not run
        print(f"| {name} | {ms['lowbit']} | {ms['ort0']} | {ms['ort4']} | {ms['lowbit_fp32']} | "
              f"{ms['ort_fp32']} | {t['lowbit'] / t['ort4']:.2f} | {t['lowbit'] / t['ort0']:.2f} | {note} |")


if __name__ == "__main__":
    main()
