#!/usr/bin/env python3
"""KV-cache quantization: bytes per token and decode speed at a long context.

    python3 bench/bench_kv_cache.py [--context 2048] [--threads N]

A synthetic LLaMA-shaped model (lowbit.testing.synthetic.make_llama: dim
512, 8 heads, 4 kv heads, 4 layers) compiled several ways: fp32 cache,
`--quantize=kv-cache,bits=8`, the same with `--fold-dequantize=false`
(attention over an f32 copy of the dequantized cache, what the fold into
QK^T and PV removes), `--quantize=kv-cache,bits=4`,
`--quantize=kv-cache,bits=4,window=16` (the 16 most recent tokens in f32),
and KIVI's keys, `--quantize=kv-cache,bits=8,window=16,key-scales=channel`
(a scale per channel and group of 16 keys), with and without the fold.
A prompt fills the cache, then single-token decode steps are timed (the
presents of the prompt fed as pasts), all variants in alternating rounds.
Reports the cache's bytes per token (levels, scales and window as stored),
the decode step's median time with `context` tokens in the cache and with
64, their difference (what the context costs: attention and the cache's
copy), and the ratios to the fp32 cache. One process, one script.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import compile_lowbit, interleaved_median_ms  # noqa: E402
from lowbit.testing.synthetic import make_llama  # noqa: E402

DIM, HEADS, KV_HEADS, LAYERS, VOCAB = 512, 8, 4, 4, 512
SHORT = 64  # tokens: a step with (almost) nothing in the cache


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    head_dim = DIM // HEADS
    variants = (("fp32", []), ("int8", ["--quantize=kv-cache,bits=8"]),
                ("int8, dequantized copy", ["--quantize=kv-cache,bits=8", "--fold-dequantize=false"]),
                ("int4 (two levels per byte)", ["--quantize=kv-cache,bits=4"]),
                ("int4 + 16 tokens in f32", ["--quantize=kv-cache,bits=4,window=16"]),
                ("int8, keys per channel (KIVI, groups of 16)",
                 ["--quantize=kv-cache,bits=8,window=16,key-scales=channel"]),
                ("int8, keys per channel, dequantized copy",
                 ["--quantize=kv-cache,bits=8,window=16,key-scales=channel", "--fold-dequantize=false"]))
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = make_llama(Path(tmp) / "llama.onnx", vocab=VOCAB, dim=DIM, heads=HEADS, kv_heads=KV_HEADS,
                               layers=LAYERS, ffn=1376, ctx=args.context + 64)
        steps, bytes_per_token = {}, {}
        for index, (label, flags) in enumerate(variants):
            model = compile_lowbit(onnx_path, Path(tmp) / f"cache{index}.so", args.threads, flags)
            for context in (args.context, SHORT):
                ids = np.random.default_rng(0).integers(2, VOCAB, size=(1, context)).astype(np.int64)
                feeds = {"input_ids": ids}
                for spec in model.inputs:
                    if spec.name.startswith("past."):
                        shape = [1, KV_HEADS, 0, spec.shape[3]]  # head_dim, 1 (scales) or head_dim / 2
                        feeds[spec.name] = np.zeros(shape, spec.dtype)
                out = model.run(feeds)
                step = {"input_ids": np.array([[7]], np.int64),
                        **{"past." + name[len("present."):]: value for name, value in out.items()
                           if name.startswith("present.")}}
                steps[label, context] = lambda model=model, step=step: model.run(step)
                if context == args.context:
                    bytes_per_token[label] = sum(value.nbytes for name, value in out.items()
                                                 if name.startswith("present.")) / context
        ms = interleaved_median_ms(steps, budget_s=4.0 * len(steps))
    base = ms["fp32", args.context]
    base_cost = base - ms["fp32", SHORT]
    print(f"context {args.context}, threads {args.threads}; model dim {DIM}, {LAYERS} layers, {KV_HEADS} kv heads "
          f"of {head_dim}")
    print(f"| cache | bytes per token | step ms, {args.context} tokens | step ms, {SHORT} tokens | "
          f"context cost ms | step vs fp32 | context cost vs fp32 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, _ in variants:
        full, short = ms[label, args.context], ms[label, SHORT]
        print(f"| {label} | {bytes_per_token[label]:.0f} | {full:.2f} | {short:.2f} | {full - short:.2f} | "
              f"{full / base:.2f} | {(full - short) / base_cost:.2f} |")


if __name__ == "__main__":
    main()
