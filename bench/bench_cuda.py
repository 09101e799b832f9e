#!/usr/bin/env python3
"""lowbit on the GPU: the CUDA kernels beside cuBLAS, and decode through
--target=cpu,cuda (docs/CUDA.md).

    python3 bench/bench_cuda.py [--quick] [--dim 4096] [--layers 2]

1. build/bin/lowbit-bench-cuda: W4 g128 GEMV/GEMM and W8A8 beside cuBLAS
   fp16 and int8, operands on the device (see bench/cuda/bench_cuda_gemm.cu).
2. Decode tokens/s of a synthetic LLaMA-7B-shaped stack (dim 4096, 32
   heads, ffn 11008, vocab 32000, a few layers; --quick: dim 1024, ffn
   2816) quantized W4 g128 (RTN) and compiled with --target=cpu,cuda: the
   same library on the CPU and on the GPU (its quantized products there,
   the rest of the graph on the CPU, activations crossing per product), one
   process, alternating rounds.

Without a GPU both parts say so; part 2 still times the CPU.
No session has had a GPU yet: neither part has run on one.
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
import lowbit  # noqa: E402
from bench_common import interleaved_median_ms  # noqa: E402
from lowbit.testing.synthetic import make_llama  # noqa: E402


def kernels(quick):
    tool = Path(lowbit.find_tool("lowbitc")).parent / "lowbit-bench-cuda"
    if not tool.exists():
        print("lowbit-bench-cuda was not built (no CUDA toolkit or cuBLAS at build time)")
        return
    run = subprocess.run([str(tool), *(["--quick"] if quick else [])])
    if run.returncode != 0:
        print(f"lowbit-bench-cuda failed (exit {run.returncode}); going on with decode")


def decode(dim, ffn, layers, vocab, steps):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        onnx_path = make_llama(tmp / "llama.onnx", vocab=vocab, dim=dim, heads=dim // 128,
                               kv_heads=dim // 128, layers=layers, ffn=ffn, ctx=512)
        library = tmp / "llama.so"
        start = time.perf_counter()
        lowbit.compile(onnx_path, library, quantize=["rtn,bits=4,group-size=128"], target="cpu,cuda")
        print(f"\ncompiled dim {dim}, ffn {ffn}, {layers} layers, vocab {vocab} (W4 g128, "
              f"--target=cpu,cuda) in {time.perf_counter() - start:.0f} s")
        models = {"cpu": lowbit.load(library, device="cpu")}
        gpu = lowbit.load(library)
        if gpu.device.startswith("cuda"):
            models["cuda"] = gpu
        else:
            print(f"no GPU: {gpu.device}")
        prompt = np.arange(1, 17, dtype=np.int64)
        sessions = {}
        for name, model in models.items():
            sessions[name] = model.session()
            sessions[name].step(prompt)

        def step(name):
            session = sessions[name]
            if session.length >= 16 + steps:
                session.reset()
                session.step(prompt)
            session.step([7])
        times = interleaved_median_ms({name: (lambda name=name: step(name)) for name in sessions})
        print("\n| device | decode ms/token | tokens/s |\n| --- | --- | --- |")
        for name, ms in times.items():
            print(f"| {models[name].device.split(':')[0]} | {ms:.2f} | {1e3 / ms:.1f} |")
        if "cuda" in models:
            print(f"\n{models['cuda'].device}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="dim 1024, one kernel shape per table")
    parser.add_argument("--dim", type=int, default=None)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=64, help="decode steps before the cache is reset")
    args = parser.parse_args()
    kernels(args.quick)
    dim = args.dim or (1024 if args.quick else 4096)
    ffn = 11008 * dim // 4096 // 64 * 64
    decode(dim, ffn, args.layers, 32000 if not args.quick else 4096, args.steps)


if __name__ == "__main__":
    main()
