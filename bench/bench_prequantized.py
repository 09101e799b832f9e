#!/usr/bin/env python3
"""A layer quantized by ONNX Runtime's own tool, compiled by lowbit, beside
ONNX Runtime running the same model, in one process.

    python3 bench/bench_prequantized.py [--threads N] [--rows 1,16,64]

The weight (K x N = 4096 x 4096 and 4096 x 11008, random) goes through
`MatMulNBitsQuantizer` (4 bits, blocks of 32, symmetric) at accuracy level
4 (ONNX Runtime's int8 compute) and the model is timed three ways in
alternating rounds: ONNX Runtime as written; lowbit as compiled by default
(`--matmul-nbits-activations=auto`: int8 activations, as the node asks);
lowbit with `--matmul-nbits-activations=f32`. Medians in ms and the ratios
to ONNX Runtime.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import compile_lowbit, interleaved_median_ms, ort_session  # noqa: E402
from lowbit.testing.synthetic import make_linear  # noqa: E402


def quantized_by_onnxruntime(path, weight, out):
    from onnxruntime.quantization.matmul_nbits_quantizer import (DefaultWeightOnlyQuantConfig,
                                                                  MatMulNBitsQuantizer)
    make_linear(path, weight, external_data=True)
    config = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, accuracy_level=4, bits=4)
    tool = MatMulNBitsQuantizer(onnx.load(path), algo_config=config)
    tool.process()
    onnx.save(tool.model.model, out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", default="1,16,64")
    args = parser.parse_args()
    rows = [int(r) for r in args.rows.split(",")]
    print("| case | ORT acc4 ms | lowbit default (int8) ms | lowbit f32 ms | default / ORT | f32 / ORT |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for k, n in ((4096, 4096), (4096, 11008)):
            weight = np.random.default_rng(0).standard_normal((k, n)).astype(np.float32)
            model = tmp / f"nbits{n}.onnx"
            quantized_by_onnxruntime(tmp / f"linear{n}.onnx", weight, model)
            session = ort_session(model, args.threads)
            default = compile_lowbit(model, tmp / f"default{n}.so", args.threads)
            f32 = compile_lowbit(model, tmp / f"f32{n}.so", args.threads,
                                 ["--matmul-nbits-activations=f32"])
            for m in rows:
                feeds = {"x": np.random.default_rng(m).standard_normal((m, k)).astype(np.float32)}
                t = interleaved_median_ms({"ort": lambda: session.run(None, feeds),
                                           "default": lambda: default.run(feeds),
                                           "f32": lambda: f32.run(feeds)})
                print(f"| {k}x{n} W4 g32 M={m} | {t['ort']:.3f} | {t['default']:.3f} | {t['f32']:.3f} "
                      f"| {t['default'] / t['ort']:.2f} | {t['f32'] / t['ort']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
