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


def matmul_nbits_session(weight, bits, block, accuracy, threads):
    """MatMulNBits over `weight` [K, N] quantized symmetrically (zero point
    2^(bits-1), ORT's default), blocks of `block` along K."""
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
    node = helper.make_node("MatMulNBits", ["A", "B", "scales"], ["Y"], domain="com.microsoft", K=k, N=n,
                            bits=bits, block_size=block, accuracy_level=accuracy)
    graph = helper.make_graph([node], "nbits", [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["m", k])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["m", n])],
                              [numpy_helper.from_array(q, "B"),
                               numpy_helper.from_array(scales.reshape(-1).astype(np.float32), "scales")])
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
    print(f"threads: {args.threads}; copy bandwidth {bandwidth:.1f} GB/s; ONNX Runtime {ort.__version__}")
    print("| case | lowbit ms | ORT nbits acc0 ms | ORT nbits acc4 ms | lowbit fp32 ms | ORT fp32 ms "
          "| lowbit / ORT acc4 | lowbit / ORT acc0 | notes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, t, note in rows:
        print(f"| {name} | {t['lowbit']:.3f} | {t['ort0']:.3f} | {t['ort4']:.3f} | {t['lowbit_fp32']:.3f} | "
              f"{t['ort_fp32']:.3f} | {t['lowbit'] / t['ort4']:.2f} | {t['lowbit'] / t['ort0']:.2f} | {note} |")


if __name__ == "__main__":
    main()
