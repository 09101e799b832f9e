#!/usr/bin/env python3
"""Time the quantization passes themselves on one large layer.

    python3 bench/bench_gptq.py [--k 4096] [--n 4096] [--tokens 4096]

Writes a module with one linear layer (K x N, random weights) whose
calibration tap holds the Hessian X^T X of `tokens` random correlated rows,
then runs lowbit-opt with each pass and reads the pass's own time from
-mlir-timing (parsing and printing excluded). Prints a Markdown table.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
import lowbit  # noqa: E402

PASSES = [
    ("rtn W4 g128", "lowbit-rtn{bits=4 group-size=128}"),
    ("gptq W4 g128", "lowbit-gptq{bits=4 group-size=128}"),
    ("gptq W4 g128 act-order static-groups", "lowbit-gptq{bits=4 group-size=128 act-order=true static-groups=true}"),
    ("gptq W4 g128 act-order static-groups clip",
     "lowbit-gptq{bits=4 group-size=128 act-order=true static-groups=true clip=true}"),
    ("awq W4 g128 (grid 20, duo, clip)", "lowbit-awq{bits=4 group-size=128}"),
]


def blob(array):
    return "0x04000000" + array.astype(np.float32).tobytes().hex().upper()


def write_module(path, k, n, tokens):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((k, n)) * 0.02).astype(np.float32)
    mix = rng.standard_normal((k, k)).astype(np.float32) / np.sqrt(k)
    x = rng.standard_normal((tokens, k)).astype(np.float32) @ (np.eye(k, dtype=np.float32) + mix)
    hessian = x.T @ x
    mean_abs = np.abs(x).mean(axis=0)
    path.write_text(f"""func.func @main_graph(%x: tensor<?x{k}xf32>) -> tensor<?x{n}xf32> {{
  %w = onnx.Constant dense_resource<w> : tensor<{k}x{n}xf32>
  %t = lowbit.calibration_tap %x {{name = "fc", tokens = {tokens} : i64,
      mean_abs = dense_resource<mean_abs> : tensor<{k}xf32>,
      hessian = dense_resource<hessian> : tensor<{k}x{k}xf32>}} : tensor<?x{k}xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x{k}xf32>, tensor<{k}x{n}xf32>) -> tensor<?x{n}xf32> loc("fc")
  return %y : tensor<?x{n}xf32>
}}
{{-# dialect_resources: {{ builtin: {{
  w: "{blob(w)}",
  mean_abs: "{blob(mean_abs)}",
  hessian: "{blob(hessian)}"
}} }} #-}}
""")


def pass_seconds(module, pipeline):
    run = subprocess.run([lowbit.find_tool("lowbit-opt"), str(module), "-o", "/dev/null", "-mlir-timing",
                          f"--pass-pipeline=builtin.module(func.func({pipeline}))"],
                         capture_output=True, text=True, check=True)
    name = {"lowbit-rtn": "RTNPass", "lowbit-gptq": "GPTQPass", "lowbit-awq": "AWQPass"}[pipeline.split("{")[0]]
    for line in run.stderr.splitlines():
        if line.split()[-1:] == [name]:
            return float(line.split()[0])
    raise RuntimeError(f"no timing for {name} in:\n{run.stderr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=4096)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--tokens", type=int, default=4096)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        module = Path(tmp) / "layer.mlir"
        write_module(module, args.k, args.n, args.tokens)
        print(f"| pass on one {args.k}x{args.n} layer | seconds |\n| --- | --- |")
        for label, pipeline in PASSES:
            print(f"| {label} | {pass_seconds(module, pipeline):.2f} |", flush=True)


if __name__ == "__main__":
    main()
