#!/usr/bin/env python3
"""W8A8 matrix products: lowbit beside ONNX Runtime's int8 path, in one process.

    python3 bench/bench_w8a8.py [--threads N]

K = N = 4096, M = 16 ... 512 rows of activations:

- lowbit: an fp32 MatMul model compiled with `--quantize=w8a8` (int8 weights
  per output channel, rows quantized to int8 per token on the fly, VNNI
  int8 x int8 -> int32 products with the dequantization fused);
- ONNX Runtime: the same model through onnxruntime.quantization.quantize_dynamic
  (per-channel int8 weights; DynamicQuantizeLinear, MatMulInteger, Cast, Mul),
  ORT's int8 path;
- fp32 MatMul in both;
- lowbit split+w8a8: `--quantize=split-outliers,threshold=6 --quantize=w8a8`
  with 8 planted outlier channels (x50 in the calibration and timed rows):
  the int8 product over the other channels and the outliers' fp32 product
  in one kernel call; its ratio to plain w8a8 is the side path's cost.

Medians of repeated runs; ratios to ORT's int8 path and to fp32, and both
int8 paths' rates in multiply-adds per second (this machine's VNNI peak is not
known well enough to quote a fraction: ORT exceeds one 512-bit vpdpbusd per
cycle at the clock /proc/cpuinfo reports).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import compile_lowbit, median_ms, ort_session  # noqa: E402
from bench_quant import save_matmul  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    k = n = 4096
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        weight = (rng.standard_normal((k, n)) * 0.02).astype(np.float32)
        path = work / "mm.onnx"
        save_matmul(path, weight)
        quantized = work / "mm_int8.onnx"
        quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8, per_channel=True)
        ours = compile_lowbit(path, work / "w8a8.so", args.threads, ["--quantize=w8a8"])
        outliers = rng.choice(k, 8, replace=False)

        def activations(m):
            x = rng.standard_normal((m, k)).astype(np.float32)
            x[:, outliers] *= 50
            return x
        np.savez(work / "calib.npz", x=activations(64))
        ours_split = compile_lowbit(path, work / "split.so", args.threads,
                                    [f"--calib={work / 'calib.npz'}", "--quantize=split-outliers,threshold=6",
                                     "--quantize=w8a8"])
        ours_fp32 = compile_lowbit(path, work / "fp32.so", args.threads)
        theirs = ort_session(quantized, args.threads)
        theirs_fp32 = ort_session(path, args.threads)
        for m in (16, 64, 128, 256, 512):
            x = activations(m)
            t = {
                "lowbit": median_ms(lambda: ours.run({"x": x})),
                "split": median_ms(lambda: ours_split.run({"x": x})),
                "ort": median_ms(lambda: theirs.run(None, {"x": x})),
                "lowbit_fp32": median_ms(lambda: ours_fp32.run({"x": x})),
                "ort_fp32": median_ms(lambda: theirs_fp32.run(None, {"x": x})),
            }
            rows.append((m, t))
    print(f"threads: {args.threads}; ONNX Runtime {ort.__version__}")
    print("| M | lowbit w8a8 ms | ORT int8 ms | lowbit fp32 ms | ORT fp32 ms | lowbit / ORT int8 "
          "| lowbit w8a8 / lowbit fp32 | lowbit G MAC/s | ORT int8 G MAC/s | lowbit split+w8a8 ms "
          "| split / w8a8 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for m, t in rows:
        macs = m * k * n
        print(f"| {m} | {t['lowbit']:.3f} | {t['ort']:.3f} | {t['lowbit_fp32']:.3f} | {t['ort_fp32']:.3f} | "
              f"{t['lowbit'] / t['ort']:.2f} | {t['lowbit'] / t['lowbit_fp32']:.2f} | "
              f"{macs / t['lowbit'] / 1e6:.0f} | {macs / t['ort'] / 1e6:.0f} | {t['split']:.3f} | "
              f"{t['split'] / t['lowbit']:.2f} |")


if __name__ == "__main__":
    main()
