#!/usr/bin/env python3
"""fp32 CPU benchmark: lowbit-compiled code beside ONNX Runtime, in one process.

    python3 bench/bench_cpu.py [--quick] [--threads N]

- MatMul [M, 4096] x [4096, 4096] at M = 1, 16, 64, 256 (one-node models);
- end-to-end prompt (batch 1, 128 tokens, empty cache) and decode (1 token
  after 128 cached) latency of the shared models;
- prompt (32 tokens) and decode (1 token after 32) latency of a larger
  synthetic LLaMA-shaped model (dim 2048, 4 layers, 16 heads, ffn 5504,
  vocab 2048; lowbit.testing.synthetic.make_llama).

Both run on the same inputs with the same thread count (ONNX Runtime's
intra-op threads = N; lowbit_model_set_num_threads(N), which splits the
matrix products among N threads while the rest of the graph runs on one).
Each case reports the median of repeated runs, lowbit/ORT time ratio and,
for MatMul, GFLOP/s and the fraction of one core's fp32 FMA peak
(frequency x 2 FMA units x 16 lanes (AVX-512; 8 with AVX2) x 2 FLOP).
"""
import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
import lowbit  # noqa: E402
from bench_common import compile_lowbit, median_ms, ort_session  # noqa: E402
from lowbit.testing.synthetic import make_llama  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"


def core_peak_gflops():
    mhz = max(float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text()))
    lanes = 16 if "avx512f" in Path("/proc/cpuinfo").read_text() else 8
    return mhz / 1e3 * 2 * lanes * 2


def bench_matmul(work, threads, sizes):
    rows = []
    k = n = 4096
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((k, n)) * 0.02).astype(np.float32)
    peak = core_peak_gflops()
    for m in sizes:
        graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
                                  [numpy_helper.from_array(weight, "w")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        path = work / f"matmul{m}.onnx"
        onnx.save(model, str(path), save_as_external_data=True, location=f"matmul{m}.data")
        ours = compile_lowbit(path, work / f"matmul{m}.so", threads)
        theirs = ort_session(path, threads)
        x = rng.standard_normal((m, k)).astype(np.float32)
        ours_ms = median_ms(lambda: ours.run({"x": x}))
        theirs_ms = median_ms(lambda: theirs.run(None, {"x": x}))
        gflops = 2 * m * k * n / (ours_ms * 1e6)
        rows.append((f"MatMul M={m} K=N=4096", ours_ms, theirs_ms,
                     f"{gflops:.1f} GFLOP/s = {100 * gflops / (peak * threads):.1f}% of peak"))
    return rows


def lm_feeds(session, seq, past):
    feeds = {}
    for value in session.get_inputs():
        if value.name == "input_ids":
            feeds[value.name] = np.ones((1, seq), np.int64)
        else:
            kv, hd = value.shape[1], value.shape[3]
            feeds[value.name] = np.zeros((1, kv, past, hd), np.float32)
    return feeds


def bench_models(work, threads, prompt):
    rows = []
    for name in ("stories260K/stories260K.onnx", "tinystories656K/tinystories656K.onnx"):
        path = SHARED / name
        if not path.exists():
            continue
        ours = compile_lowbit(path, work / (Path(name).stem + ".so"), threads)
        theirs = ort_session(path, threads)
        for label, seq, past in ((f"prompt {prompt}", prompt, 0), (f"decode after {prompt}", 1, prompt)):
            feeds = lm_feeds(theirs, seq, past)
            rows.append((f"{Path(name).stem} {label}", median_ms(lambda: ours.run(feeds)),
                         median_ms(lambda: theirs.run(None, feeds)), ""))
    path = make_llama(work / "llama_2048.onnx", vocab=2048, dim=2048, heads=16, kv_heads=16, layers=4,
                      ffn=5504, ctx=256)
    ours = compile_lowbit(path, work / "llama_2048.so", threads)
    theirs = ort_session(path, threads)
    for label, seq, past in (("prompt 32", 32, 0), ("decode after 32", 1, 32)):
        feeds = lm_feeds(theirs, seq, past)
        rows.append((f"LLaMA-shaped dim 2048 x4 layers, {label}", median_ms(lambda: ours.run(feeds), 1, 1.0),
                     median_ms(lambda: theirs.run(None, feeds), 1, 1.0), ""))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="M = 1 and 16 only, prompt 32")
    args = parser.parse_args()
    sizes = (1, 16) if args.quick else (1, 16, 64, 256)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = bench_matmul(work, args.threads, sizes) + bench_models(work, args.threads, 32 if args.quick else 128)
    print(f"threads: {args.threads}; {os.uname().machine}; ONNX Runtime {ort.__version__}")
    print(f"| case | lowbit ms | ORT ms | lowbit/ORT | notes |")
    print(f"| --- | --- | --- | --- | --- |")
    for label, ours, theirs, note in rows:
        print(f"| {label} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} | {note} |")


if __name__ == "__main__":
    main()
