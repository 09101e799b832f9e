"""Compiled models compute what ONNX Runtime computes.

Each model is compiled once (`lowbitc --emit=lib -O0`: numerics do not depend
on the LLVM optimization level, and -O0 keeps the suite fast) and run through
the Python runtime over the C ABI. Outputs are compared with ONNX Runtime on
the same inputs: max |lowbit - ort| / max |ort| <= 1e-4 for every output.
Both are fp32 with different summation orders; the observed difference is
around 1e-6, so 1e-4 leaves room for reordering without hiding real errors
(a wrong mask, position or head layout moves logits by far more).

The shared models run a prompt with an empty cache, then decode steps that
feed the previous presents back as pasts: every step is compared.
"""
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import lowbit
from lowbit.testing.synthetic import make_bert, make_gpt2, make_llama

TOLERANCE = 1e-4


def _compile(onnx_path, out):
    run = subprocess.run([lowbit.find_tool("lowbitc"), str(onnx_path), "--emit=lib", "-O0", "--quiet",
                          "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return lowbit.load(out)


def _relative_error(got, ref):
    assert got.shape == ref.shape and got.dtype == ref.dtype
    return float(np.max(np.abs(got.astype(np.float64) - ref)) / (np.max(np.abs(ref)) + 1e-30))


def _compare(model, session, feeds):
    got = model.run(feeds)
    names = [o.name for o in session.get_outputs()]
    ref = dict(zip(names, session.run(None, feeds)))
    for name in names:
        assert _relative_error(got[name], ref[name]) <= TOLERANCE, name
    return ref


SHARED = {"stories260K": ("stories260K/stories260K.onnx", 5, 4, 8, 512),
          "tinystories656K": ("tinystories656K/tinystories656K.onnx", 2, 4, 16, 2048)}


@pytest.fixture(scope="module", params=sorted(SHARED))
def shared(request, shared_models, tmp_path_factory):
    path, layers, kv_heads, head_dim, vocab = SHARED[request.param]
    onnx_path = shared_models / path
    model = _compile(onnx_path, tmp_path_factory.mktemp("lib") / f"{request.param}.so")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    model.key = request.param
    return model, session, layers, kv_heads, head_dim, vocab


def _reference_perplexities(shared_models):
    """{model: (tokens, perplexity)} from the table in ../shared/models/README.md."""
    table = {}
    for line in (shared_models / "README.md").read_text().splitlines():
        match = re.match(r"\|\s*(\w+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|$", line)
        if match:
            table[match.group(1)] = (int(match.group(2)), float(match.group(3)))
    return table


def test_shared_model_perplexity(shared, shared_models):
    """Perplexity on eval_tokens.txt (each sequence cut to 512 tokens, one
    forward pass each, all predicted tokens) equals the reference in
    ../shared/models/README.md to its 3 decimals."""
    model, _, layers, kv_heads, head_dim, _ = shared
    tokens, reference = _reference_perplexities(shared_models)[model.key]
    eval_path = shared_models / SHARED[model.key][0].split("/")[0] / "eval_tokens.txt"
    total, count = 0.0, 0
    for line in eval_path.read_text().splitlines():
        ids = [int(t) for t in line.split()][:512]
        feeds = {"input_ids": np.array([ids], np.int64), **_empty_cache(1, layers, kv_heads, head_dim)}
        logits = model.run(feeds)["logits"][0].astype(np.float64)
        top = logits.max(axis=-1)
        log_normalizer = top + np.log(np.exp(logits - top[:, None]).sum(axis=-1))
        total += float((log_normalizer[:-1] - logits[np.arange(len(ids) - 1), ids[1:]]).sum())
        count += len(ids) - 1
    assert count == tokens
    assert round(float(np.exp(total / count)), 3) == reference


def _empty_cache(batch, layers, kv_heads, head_dim):
    return {f"past.{l}.{kind}": np.zeros((batch, kv_heads, 0, head_dim), np.float32)
            for l in range(layers) for kind in ("key", "value")}


def _prompt_then_decode(model, session, feeds, layers, steps=3):
    """Runs `feeds` (a prompt), then greedy decode steps feeding the presents
    back as pasts, comparing lowbit with ONNX Runtime at every step."""
    for _ in range(steps):
        ref = _compare(model, session, feeds)
        next_ids = ref["logits"][:, -1, :].argmax(axis=-1).astype(np.int64)[:, None]
        feeds = {"input_ids": next_ids, **{f"past.{l}.{kind}": ref[f"present.{l}.{kind}"]
                                           for l in range(layers) for kind in ("key", "value")}}


@pytest.mark.parametrize("batch,prompt,steps", [(1, 9, 3), (3, 4, 2)])
def test_shared_model_prompt_and_decode(shared, batch, prompt, steps):
    model, session, layers, kv_heads, head_dim, vocab = shared
    rng = np.random.default_rng(batch * 100 + prompt)
    feeds = {"input_ids": rng.integers(1, vocab, size=(batch, prompt)).astype(np.int64),
             **_empty_cache(batch, layers, kv_heads, head_dim)}
    _prompt_then_decode(model, session, feeds, layers, steps=1 + steps)


def test_runtime_rejects_bad_inputs(shared):
    model, _, layers, kv_heads, head_dim, _ = shared
    feeds = {"input_ids": np.ones((1, 3), np.int64), **_empty_cache(1, layers, kv_heads, head_dim)}
    with pytest.raises(TypeError, match="input .input_ids.: expected int64, got int32"):
        model.run({**feeds, "input_ids": np.ones((1, 3), np.int32)})
    with pytest.raises(ValueError, match="input 'past.0.key': expected shape"):
        model.run({**feeds, "past.0.key": np.zeros((1, kv_heads + 1, 0, head_dim), np.float32)})
    with pytest.raises(KeyError, match="missing inputs"):
        model.run({"input_ids": feeds["input_ids"]})


def test_synthetic_llama_prompt_and_decode(tmp_path):
    """The LLaMA-style generator's model (GQA, rotate-half RoPE offset by the
    cache length, a causal mask over cached positions, SiLU MLP, ragged ffn
    172): prompt then decode steps through the cache, batch 2."""
    onnx_path = make_llama(tmp_path / "llama.onnx")
    model = _compile(onnx_path, tmp_path / "llama.so")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(4)
    feeds = {"input_ids": rng.integers(0, 128, size=(2, 6)).astype(np.int64), **_empty_cache(2, 2, 2, 16)}
    _prompt_then_decode(model, session, feeds, layers=2)


def test_synthetic_gpt2_with_kv_cache_and_outliers(tmp_path):
    """The GPT-2 generator with KV-cache I/O (positions and the sliced causal
    mask offset by the cache length) and planted outlier channels: prompt
    then decode steps through the cache, batch 2."""
    onnx_path = make_gpt2(tmp_path / "gpt2.onnx", kv_cache=True, outlier_channels=[3, 19], outlier_scale=100.0)
    model = _compile(onnx_path, tmp_path / "gpt2.so")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    feeds = {"input_ids": rng.integers(0, 96, size=(2, 5)).astype(np.int64), **_empty_cache(2, 2, 4, 8)}
    _prompt_then_decode(model, session, feeds, layers=2)


@pytest.mark.parametrize("make", [make_gpt2, make_bert], ids=["gpt2", "bert"])
def test_synthetic_model(make, tmp_path):
    onnx_path = make(tmp_path / "model.onnx")
    model = _compile(onnx_path, tmp_path / "model.so")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    for batch, seq in [(1, 7), (2, 3)]:
        ids = rng.integers(0, 90, size=(batch, seq)).astype(np.int64)
        feeds = {"input_ids": ids}
        if make is make_bert:
            mask = np.ones_like(ids)
            mask[-1, seq // 2:] = 0  # padding in the last sequence
            feeds.update(attention_mask=mask, token_type_ids=np.zeros_like(ids))
        _compare(model, session, feeds)
