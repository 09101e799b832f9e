#!/usr/bin/env python3
"""Runs a compiled model next to ONNX Runtime and reports the difference.

    demo_run.py MODEL.so MODEL.onnx

For a language model with a KV cache (input_ids + past.*), it decodes 32
tokens greedily through the cache, compares every step's logits with ONNX
Runtime, and prints the text when a llama2.c tokenizer (tok*.bin) lies
beside the model. Other models run once on deterministic inputs.
"""
import struct
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import lowbit  # noqa: E402


def relative_error(got, ref):
    return float(np.max(np.abs(got - ref)) / (np.max(np.abs(ref)) + 1e-30)) if ref.size else 0.0


def load_tokenizer(folder):
    """llama2.c tokenizer: int max_len, then per token: float score, int len, bytes."""
    files = sorted(folder.glob("tok*.bin"))
    if not files:
        return None
    data, vocab, pos = files[0].read_bytes(), [], 4
    while pos < len(data):
        _, length = struct.unpack_from("<fi", data, pos)
        vocab.append(data[pos + 8: pos + 8 + length].decode("utf-8", "replace"))
        pos += 8 + length
    return vocab


def feeds_for(specs, fixed):
    rng = np.random.default_rng(0)
    feeds = {}
    for spec in specs:
        if spec.name in fixed:
            feeds[spec.name] = fixed[spec.name]
            continue
        # Dynamic sizes: batch 1, an empty KV cache, 2 elsewhere.
        shape = [d if d is not None else 1 if i == 0 else 0 if spec.name.startswith("past.") else 2
                 for i, d in enumerate(spec.shape)]
        feeds[spec.name] = (rng.integers(0, 8, size=shape) if spec.dtype.kind in "iub"
                            else rng.standard_normal(shape)).astype(spec.dtype)
    return feeds


def main():
    library, onnx_path = Path(sys.argv[1]), Path(sys.argv[2])
    model = lowbit.load(library)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    is_lm = "input_ids" in [s.name for s in model.inputs] and any(s.name.startswith("past.") for s in model.inputs)
    if not is_lm:
        feeds = feeds_for(model.inputs, {})
        got, ref = model.run(feeds), dict(zip(names, session.run(None, feeds)))
        for name in names:
            print(f"{name}: shape {got[name].shape}, max relative difference to ONNX Runtime "
                  f"{relative_error(got[name], ref[name]):.1e}")
        return
    tokens = [1]  # BOS
    feeds = feeds_for(model.inputs, {"input_ids": np.array([tokens], np.int64)})
    worst, ours, theirs = 0.0, 0.0, 0.0
    for _ in range(32):
        start = time.perf_counter()
        got = model.run(feeds)
        ours += time.perf_counter() - start
        start = time.perf_counter()
        ref = dict(zip(names, session.run(None, feeds)))
        theirs += time.perf_counter() - start
        worst = max(worst, max(relative_error(got[n], ref[n]) for n in names))
        tokens.append(int(got["logits"][0, -1].argmax()))
        feeds = {"input_ids": np.array([[tokens[-1]]], np.int64),
                 **{n.replace("present", "past"): got[n] for n in names if n.startswith("present.")}}
    print(f"greedy decode of {len(tokens) - 1} tokens through the KV cache: {tokens[1:]}")
    vocab = load_tokenizer(onnx_path.parent)
    if vocab:
        print("text: " + "".join(vocab[t] for t in tokens[1:]).replace("<0x0A>", "\n"))
    print(f"max relative difference to ONNX Runtime over all steps and outputs: {worst:.1e}")
    print(f"time per step: lowbit {1e3 * ours / 32:.2f} ms, ONNX Runtime {1e3 * theirs / 32:.2f} ms "
          "(single step, batch 1; docs/Benchmarks.md has the benchmark)")


if __name__ == "__main__":
    main()
