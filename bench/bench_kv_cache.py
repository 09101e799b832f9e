#!/usr/bin/env python3
"""KV-cache quantization: bytes per token and decode speed at a long context.

    python3 bench/bench_kv_cache.py [--context 2048] [--threads N]

A synthetic LLaMA-shaped model (lowbit.testing.synthetic.make_llama: dim
512, 8 heads, 4 kv heads, 4 layers, ctx 4096) compiled three ways: fp32
cache, `--quantize=kv-cache,bits=8`, `--quantize=kv-cache,bits=4`, and
`--quantize=kv-cache,bits=4,window=16` (the 16 most recent tokens in f32). A
prompt of `context` tokens fills the cache, then single-token decode steps
are timed (the presents fed back as pasts). Reports the cache's bytes per
token (levels, scales and window as stored), the decode step's median time, and the
ratio to the fp32 cache. One process, one script.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import compile_lowbit, median_ms  # noqa: E402
from lowbit.testing.synthetic import make_llama  # noqa: E402

DIM, HEADS, KV_HEADS, LAYERS, VOCAB = 512, 8, 4, 4, 512


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    head_dim = DIM // HEADS
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = make_llama(Path(tmp) / "llama.onnx", vocab=VOCAB, dim=DIM, heads=HEADS, kv_heads=KV_HEADS,
                               layers=LAYERS, ffn=1376, ctx=args.context + 64)
        ids = np.random.default_rng(0).integers(2, VOCAB, size=(1, args.context)).astype(np.int64)
        variants = (("fp32", []), ("int8", ["--quantize=kv-cache,bits=8"]),
                    ("int4 (one byte per level)", ["--quantize=kv-cache,bits=4"]),
                    ("int4 + 16 tokens in f32", ["--quantize=kv-cache,bits=4,window=16"]))
        for index, (label, steps) in enumerate(variants):
            model = compile_lowbit(onnx_path, Path(tmp) / f"cache{index}.so", args.threads, steps)
            feeds = {"input_ids": ids}
            for spec in model.inputs:
                if spec.name.startswith("past."):
                    shape = [1, KV_HEADS, 0, 1 if spec.name.endswith(".scales") else head_dim]
                    feeds[spec.name] = np.zeros(shape, spec.dtype)
            out = model.run(feeds)
            step = {"input_ids": np.array([[7]], np.int64),
                    **{"past." + name[len("present."):]: value for name, value in out.items()
                       if name.startswith("present.")}}
            cache_bytes = sum(value.nbytes for name, value in out.items() if name.startswith("present."))
            ms = median_ms(lambda: model.run(step), budget_s=3.0)
            rows.append((label, cache_bytes / args.context, ms))
    base = rows[0][2]
    print(f"context {args.context}, threads {args.threads}; model dim {DIM}, {LAYERS} layers, {KV_HEADS} kv heads "
          f"of {head_dim}")
    print("| cache | bytes per token | decode step ms | vs fp32 cache |")
    print("| --- | --- | --- | --- |")
    for label, per_token, ms in rows:
        print(f"| {label} | {per_token:.0f} | {ms:.3f} | {ms / base:.2f} |")


if __name__ == "__main__":
    main()
