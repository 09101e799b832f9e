"""W8A8 with SmoothQuant or outlier splitting (lowbitc
--quantize=smoothquant --quantize=w8a8, --quantize=split-outliers
--quantize=w8a8), end to end.

- Planted outliers (lowbit.testing.synthetic.make_llama with a few hidden
  channels x100 through the norm weights, the fp32 function unchanged): naive
  W8A8 (int8 weights per channel, int8 activations per token) breaks, and
  SmoothQuant and outlier splitting each bring the logits back to the
  accuracy W8A8 has on the same model without outliers. The measure: the relative error of the logits,
  ||L - L_fp32|| / ||L_fp32||, over prompts the model was not calibrated on.
- SmoothQuant alone changes nothing before rounding (x W = (x / s)(s W)).
- Static per-tensor activation scales (w8a8,static-activations=true) equal
  NumPy's rounding on one calibrated grid, and after SmoothQuant work on
  the planted-outlier model.
- The shared models: SmoothQuant + W8A8 within 1 % of fp32 perplexity.
"""
import re
import subprocess

import numpy as np
import pytest

import lowbit
from lowbit.testing.synthetic import make_gpt2, make_linear, make_llama

KV_HEADS, HEAD_DIM, LAYERS, VOCAB = 2, 16, 2, 128
OUTLIERS = [5, 22, 37]


def prompts(seed, count, length):
    return np.random.default_rng(seed).integers(2, VOCAB, size=(count, length), dtype=np.int64)


def logits(library, ids):
    model = lowbit.load(library)
    feeds = {f"past.{l}.{kind}": np.zeros((len(ids), KV_HEADS, 0, HEAD_DIM), np.float32)
             for l in range(LAYERS) for kind in ("key", "value")}
    return model.run({"input_ids": ids, **feeds})["logits"]


def relative_errors(tmp_path, name, outliers, variants):
    """{variant: relative logits error against fp32} for a model built with
    `outliers`, calibrated on random prompts and evaluated on others."""
    onnx_path = make_llama(tmp_path / f"{name}.onnx", outlier_channels=outliers, outlier_scale=100.0)
    calib = tmp_path / f"{name}-calib.txt"
    calib.write_text("\n".join(" ".join(map(str, row)) for row in prompts(1, 8, 48)) + "\n")
    test_ids = prompts(2, 4, 32)
    reference = None
    errors = {}
    for label, steps in {"fp32": [], **variants}.items():
        library = tmp_path / f"{name}-{label}.so"
        lowbit.compile(onnx_path, library, quantize=steps, calib=calib if steps else None, extra_args=["-O1"])
        got = logits(library, test_ids).astype(np.float64)
        if reference is None:
            reference = got
        errors[label] = float(np.linalg.norm(got - reference) / np.linalg.norm(reference))
    return errors


def test_smoothquant_and_splitting_restore_w8a8_on_planted_outliers(tmp_path):
    variants = {"w8a8": ["w8a8"], "smoothquant": ["smoothquant,alpha=0.5", "w8a8"],
                "smoothquant-search": ["smoothquant,search-alpha=true", "w8a8"],
                "smooth-only": ["smoothquant,alpha=0.5"],
                "split": ["split-outliers,threshold=6", "w8a8"],
                "split-only": ["split-outliers,threshold=6"],
                "static": ["w8a8,static-activations=true"],
                "smoothquant-static": ["smoothquant,alpha=0.5", "w8a8,static-activations=true"]}
    clean = relative_errors(tmp_path, "clean", [], {"w8a8": ["w8a8"], "static": ["w8a8,static-activations=true"]})
    planted = relative_errors(tmp_path, "outliers", OUTLIERS, variants)
    print(f"relative logits error: clean model W8A8 {clean['w8a8']:.2e}; with outliers x100: " +
          ", ".join(f"{k} {v:.2e}" for k, v in planted.items()))
    # Rescaling, or splitting, alone is exact up to fp32 rounding.
    assert planted["smooth-only"] < 1e-5
    assert planted["split-only"] < 1e-5
    # Naive W8A8 visibly breaks: the other channels of each row keep about
    # 1/100 of their int8 resolution (measured: 13x the clean error).
    assert planted["w8a8"] > 10 * clean["w8a8"]
    # SmoothQuant gives back the accuracy W8A8 has without outliers (within
    # 2x: the migrated range makes those weight rows a little coarser).
    assert planted["smoothquant"] < 2 * clean["w8a8"]
    assert planted["smoothquant-search"] < 2 * clean["w8a8"]
    # Outlier splitting: the outlier channels in fp32, the rest in int8 with
    # their full range.
    assert planted["split"] < 2 * clean["w8a8"]
    # Static per-tensor activation scales (SmoothQuant's O3 setting): one
    # scale for every token leaves the outliers' range on all rows, so
    # without smoothing it breaks worse than per-token; after SmoothQuant it
    # is as good as static scales on the clean model (measured: 0.56x).
    assert planted["static"] > 10 * clean["static"]
    assert planted["smoothquant-static"] < clean["static"]


@pytest.mark.parametrize("model", ["stories260K", "tinystories656K"])
def test_smoothquant_w8a8_on_shared_models(shared_models, tmp_path, model):
    model_dir = shared_models / model
    results = {}
    for label, steps in (("fp32", []), ("sq-w8a8", ["smoothquant,alpha=0.5", "w8a8"])):
        library = tmp_path / f"{label}.so"
        lowbit.compile(model_dir / f"{model}.onnx", library, quantize=steps,
                       calib=model_dir / "calib_tokens.txt" if steps else None, extra_args=["-O1"])
        run = subprocess.run([lowbit.find_tool("lowbit-run"), str(library),
                              f"--perplexity={model_dir / 'eval_tokens.txt'}"], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        results[label] = float(re.fullmatch(r"perplexity: ([\d.]+) tokens: \d+\n", run.stdout).group(1))
    print(f"{model}: fp32 {results['fp32']:.4f}, smoothquant + w8a8 {results['sq-w8a8']:.4f}")
    assert results["sq-w8a8"] <= results["fp32"] * 1.01


def test_static_activation_scale_matches_numpy(tmp_path):
    """w8a8,static-activations=true: every row of the input on one int8 grid
    whose scale is the calibration max |x| / 127, through compile and run
    (the VNNI kernel where the CPU has it), against NumPy doing the same
    rounding. Rows whose own range is smaller than calibration's would
    round differently on a per-row grid, and a row beyond it clamps: the
    per-row (dynamic) answer is checked to be far from the static one, so
    that the comparison can tell them apart."""
    rng = np.random.default_rng(5)
    k, n = 64, 32
    w = rng.standard_normal((k, n)).astype(np.float32)
    make_linear(tmp_path / "m.onnx", w)
    calib = rng.uniform(-1, 1, (16, k)).astype(np.float32)
    calib[3, 7] = 5.08  # the calibrated range: scale 5.08 / 127 = 0.04
    np.savez(tmp_path / "calib.npz", x=calib)
    library = tmp_path / "static.so"
    lowbit.compile(tmp_path / "m.onnx", library, quantize=["w8a8,static-activations=true"],
                   calib=tmp_path / "calib.npz", extra_args=["-O1"])

    x = rng.uniform(-1, 1, (5, k)).astype(np.float32)
    x[4, :8] = [7.0, -9.0, 6.0, 5.5, -6.0, 8.0, -7.5, 6.5]  # beyond the calibrated range: clamps
    got = lowbit.load(library).run({"x": x})["y"].astype(np.float64)

    # The weight as lowbit-rtn rounds it (bits 8, per channel, symmetric).
    wscale = 2 * np.abs(w).max(axis=0) / 255
    wq = np.clip(np.rint(w / wscale), -128, 127) * wscale

    def int8_rows(rows, scale):
        return np.clip(np.rint(rows / scale), -127, 127) * scale

    scale = np.float32(5.08) / np.float32(127)
    expected = int8_rows(x.astype(np.float64), float(scale)) @ wq
    dynamic = int8_rows(x.astype(np.float64), np.abs(x).max(axis=1, keepdims=True) / 127) @ wq
    # Integer products are exact; the float work is a few roundings per term
    # of a 64-term sum: 1e-5 of the sum of magnitudes bounds it.
    bound = 1e-5 * (np.abs(int8_rows(x.astype(np.float64), float(scale))) @ np.abs(wq)) + 1e-6
    assert np.all(np.abs(got - expected) <= bound)
    assert np.abs(dynamic - expected).max() > 100 * bound.max()
    ir = subprocess.run([lowbit.find_tool("lowbitc"), str(tmp_path / "m.onnx"), "--quiet",
                         f"--calib={tmp_path / 'calib.npz'}", "--quantize=w8a8,static-activations=true",
                         "--emit=lowbit-ir", "-o", "-"], capture_output=True, text=True, check=True).stdout
    assert "activation_scale = 4.000000e-02 : f32" in ir  # float(5.08) / 127, printed


def test_split_layer_matches_numpy(tmp_path):
    """split-outliers then w8a8 on one layer, through compile and run: the
    layer becomes one quantized_matmul with outliers and one kernel call
    (test/Compiler/outlier-split-kernel.mlir), on two threads splitting the
    output channels. Against NumPy: int8 rows over the normal channels
    (their own range, the outliers zeroed), int8 weights per channel from
    the rows of the normal channels, plus the outlier channels times their
    weight rows in floating point."""
    rng = np.random.default_rng(11)
    m, k, n, outliers = 64, 512, 256, [3, 200, 511]
    w = rng.standard_normal((k, n)).astype(np.float32)
    make_linear(tmp_path / "m.onnx", w)

    def rows(count):
        x = rng.uniform(-1, 1, (count, k)).astype(np.float32)
        x[:, outliers] *= 50  # beyond the threshold 6
        return x
    np.savez(tmp_path / "calib.npz", x=rows(16))
    library = tmp_path / "split.so"
    lowbit.compile(tmp_path / "m.onnx", library, quantize=["split-outliers,threshold=6", "w8a8"],
                   calib=tmp_path / "calib.npz", extra_args=["-O1"])
    x = rows(m)
    model = lowbit.load(library)
    model.set_num_threads(2)
    got = model.run({"x": x})["y"].astype(np.float64)

    normal = np.ones(k, bool)
    normal[outliers] = False
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    inliers = np.where(normal[:, None], w, 0).astype(np.float32)
    wscale = (2 * np.abs(inliers).max(axis=0) / 255).astype(np.float32)
    wq = np.clip(np.rint(inliers / wscale), -128, 127) * wscale.astype(np.float64)
    xn = np.where(normal, x64, 0)
    ascale = (np.abs(xn).max(axis=1, keepdims=True) / 127).astype(np.float32).astype(np.float64)
    xq = np.clip(np.rint(xn / ascale), -127, 127) * ascale
    expected = xq @ wq + x64[:, outliers] @ w64[outliers]
    # Integer products exact; the float work a few roundings per term of a
    # 512-term sum (as in the kernels' unit tests, 2 (k + 1) u per term).
    bound = 2 * (k + 1) * 2.0**-24 * (np.abs(xq) @ np.abs(wq) + np.abs(x64[:, outliers]) @ np.abs(w64[outliers]))
    assert np.all(np.abs(got - expected) <= bound + 1e-6)
    without_outliers = xq @ wq
    assert np.abs(without_outliers - expected).min() > 0 and np.abs(without_outliers - expected).max() > 1e3 * bound.max()


def test_static_activations_need_calibration(tmp_path):
    """The driver asks for --calib when a step wants static scales."""
    run = subprocess.run([lowbit.find_tool("lowbitc"), str(make_llama(tmp_path / "m.onnx")), "--quiet",
                          "--quantize=w8a8,static-activations=true", "-o", str(tmp_path / "m.so")],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "--calib" in run.stderr, run.stderr
    assert not (tmp_path / "m.so").exists()


def test_gpt2_layernorm_outliers(tmp_path):
    """The GPT-2 shape: outliers through LayerNorm weight and bias (ln_1,
    ln_2), scales folded into both; fused QKV with a bias. Same measure and
    bounds as the LLaMA test."""
    ids = prompts(3, 4, 24) % 96

    def errors(outliers):
        onnx_path = make_gpt2(tmp_path / f"gpt2-{len(outliers)}.onnx", outlier_channels=outliers,
                              outlier_scale=100.0)
        calib = tmp_path / "gpt2-calib.txt"
        calib.write_text("\n".join(" ".join(map(str, row % 96)) for row in prompts(4, 8, 32)) + "\n")
        out, reference = {}, None
        for label, steps in (("fp32", []), ("w8a8", ["w8a8"]), ("smoothquant", ["smoothquant", "w8a8"]),
                             ("split", ["split-outliers", "w8a8"])):
            library = tmp_path / f"gpt2-{len(outliers)}-{label}.so"
            lowbit.compile(onnx_path, library, quantize=steps, calib=calib if steps else None,
                           extra_args=["-O1"])
            got = lowbit.load(library).run({"input_ids": ids})["logits"].astype(np.float64)
            reference = got if reference is None else reference
            out[label] = float(np.linalg.norm(got - reference) / np.linalg.norm(reference))
        return out

    clean, planted = errors([]), errors([3, 19])
    print(f"gpt2 relative logits error: clean W8A8 {clean['w8a8']:.2e}; with outliers x100: " +
          ", ".join(f"{k} {v:.2e}" for k, v in planted.items()))
    assert planted["w8a8"] > 10 * clean["w8a8"]
    assert planted["smoothquant"] < 2 * clean["w8a8"]
    assert planted["split"] < 2 * clean["w8a8"]


def test_int8_kv_cache_levels_match_numpy(tmp_path):
    """--quantize=kv-cache: the present levels and scales of a prompt equal
    NumPy's per-token-per-head int8 quantization of the fp32 present that
    ONNX Runtime computes (an independent forward pass). Layer 0 only: later
    layers' keys and values come through attention that already read the
    quantized cache, so they differ from fp32 by its error (2e-4 here)."""
    ort = pytest.importorskip("onnxruntime")
    onnx_path = make_llama(tmp_path / "llama.onnx")
    library = tmp_path / "kv.so"
    lowbit.compile(onnx_path, library, quantize=["kv-cache,bits=8"], extra_args=["-O1"])
    ids = prompts(6, 2, 10)
    empty = {f"past.{l}.{kind}": np.zeros((2, KV_HEADS, 0, HEAD_DIM), np.float32)
             for l in range(LAYERS) for kind in ("key", "value")}
    scales = {f"{name}.scales": np.zeros((2, KV_HEADS, 0, 1), np.float32) for name in empty}
    got = lowbit.load(library).run({"input_ids": ids, **{k: v.astype(np.int8) for k, v in empty.items()},
                                    **scales})
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    ref = dict(zip(names, session.run(None, {"input_ids": ids, **empty})))
    for l in range(1):
        for kind in ("key", "value"):
            x = ref[f"present.{l}.{kind}"].astype(np.float64)
            scale = np.abs(x).max(axis=-1, keepdims=True) / 127
            levels = np.clip(np.rint(x / scale), -127, 127)
            np.testing.assert_allclose(got[f"present.{l}.{kind}.scales"], scale, rtol=1e-5)
            # Inputs differ from ORT's by ~1e-6 relative: a level may differ
            # by one where x / s sits on a rounding boundary.
            diff = np.abs(got[f"present.{l}.{kind}"].astype(np.int64) - levels)
            assert diff.max() <= 1 and (diff == 0).mean() > 0.99


@pytest.mark.parametrize("key_scales", ["token", "channel"])
def test_kv_cache_window_matches_numpy(tmp_path, key_scales):
    """kv-cache,window=4: a 6-token prompt, then 4 more tokens through the
    cache. Layer 0 (whose entries depend only on token and position, so the
    past length the model reads must count the window) against ONNX
    Runtime's fp32 present of the whole 10-token prompt and NumPy's
    rounding: per token, the window holds the last 4 tokens in f32 and the
    levels the older ones on a per-token int8 grid; with
    key-scales=channel the keys move in whole groups of 4 tokens, each on
    one grid per channel (KIVI), and the window holds the rest (2 tokens
    after each step here)."""
    ort = pytest.importorskip("onnxruntime")
    onnx_path = make_llama(tmp_path / "llama.onnx")
    library = tmp_path / "kv.so"
    lowbit.compile(onnx_path, library, quantize=[f"kv-cache,bits=8,window=4,key-scales={key_scales}"],
                   extra_args=["-O1"])
    ids = prompts(7, 2, 10)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    empty = {f"past.{l}.{kind}": np.zeros((2, KV_HEADS, 0, HEAD_DIM), np.float32)
             for l in range(LAYERS) for kind in ("key", "value")}
    names = [o.name for o in session.get_outputs()]
    ref = dict(zip(names, session.run(None, {"input_ids": ids, **empty})))

    model = lowbit.load(library)
    feeds = {}
    for name, value in empty.items():
        per_channel = key_scales == "channel" and name.endswith(".key")
        feeds[name] = value.astype(np.int8)
        feeds[f"{name}.scales"] = np.zeros((2, KV_HEADS, 0, HEAD_DIM if per_channel else 1), np.float32)
        feeds[f"{name}.window"] = value
    for end, start in ((6, 0), (10, 6)):
        got = model.run({"input_ids": ids[:, start:end], **feeds})
        for kind in ("key", "value"):
            x = ref[f"present.0.{kind}"][:, :, :end].astype(np.float64)
            per_channel = key_scales == "channel" and kind == "key"
            kept = end % 4 if per_channel else 4
            window = got[f"present.0.{kind}.window"]
            assert window.shape == (2, KV_HEADS, kept, HEAD_DIM)
            np.testing.assert_allclose(window, x[:, :, end - kept:], rtol=1e-5, atol=1e-6)
            old = x[:, :, :end - kept]
            if per_channel:  # [b, h, groups, 4 tokens, d], a scale per group and channel
                groups = old.reshape(2, KV_HEADS, -1, 4, HEAD_DIM)
                scale = np.abs(groups).max(axis=3, keepdims=True) / 127
                levels = np.clip(np.rint(groups / scale), -127, 127).reshape(old.shape)
                scale = scale.reshape(2, KV_HEADS, -1, HEAD_DIM)
            else:
                scale = np.abs(old).max(axis=-1, keepdims=True) / 127
                levels = np.clip(np.rint(old / scale), -127, 127)
            np.testing.assert_allclose(got[f"present.0.{kind}.scales"], scale, rtol=1e-5)
            diff = np.abs(got[f"present.0.{kind}"].astype(np.int64) - levels)
            assert diff.max() <= 1 and (diff == 0).mean() > 0.99
        feeds = {name.replace("present.", "past.", 1): value for name, value in got.items() if name != "logits"}


def levels_of(stored, bits):
    """The cache's levels as stored: int8 one per byte, int4 two per byte
    (level 2j in the low nibble of byte j, 2j + 1 in the high one, each as
    level + 8), unpacked here in NumPy."""
    if bits == 8:
        return stored
    byte = stored.astype(np.uint8).astype(np.int16)
    levels = np.empty(stored.shape[:-1] + (2 * stored.shape[-1],), np.int16)
    levels[..., 0::2] = (byte & 15) - 8
    levels[..., 1::2] = (byte >> 4) - 8
    return levels


def fake_quantized_cache_model(onnx_path, out_path, bits):
    """The fp32 model with each new key and value rounded to the per-token
    grid the quantized cache stores (scale max|x| / (2^(bits-1) - 1), round
    half to even, clip), in ONNX ops before they join the cache: ONNX
    Runtime then computes what attention over the quantized cache should."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(onnx_path))
    graph = model.graph
    presents = {o.name for o in graph.output if o.name.startswith("present.")}
    top = float(2 ** (bits - 1) - 1)
    constants = {"fq.top": np.array(top, np.float32), "fq.low": np.array(-top, np.float32)}
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
    nodes = []
    for node in graph.node:
        if node.op_type == "Concat" and node.output[0] in presents:
            x, n = node.input[1], node.output[0]
            nodes += [
                helper.make_node("Abs", [x], [f"{n}.abs"]),
                helper.make_node("ReduceMax", [f"{n}.abs"], [f"{n}.max"], axes=[-1], keepdims=1),
                helper.make_node("Div", [f"{n}.max", "fq.top"], [f"{n}.scale"]),
                helper.make_node("Div", [x, f"{n}.scale"], [f"{n}.ratio"]),
                helper.make_node("Round", [f"{n}.ratio"], [f"{n}.round"]),
                helper.make_node("Clip", [f"{n}.round", "fq.low", "fq.top"], [f"{n}.level"]),
                helper.make_node("Mul", [f"{n}.level", f"{n}.scale"], [f"{n}.fq"]),
            ]
            node.input[1] = f"{n}.fq"
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(out_path))
    return out_path


@pytest.mark.parametrize("bits", [8, 4])
def test_attention_over_quantized_kv_cache_matches_onnxruntime(tmp_path, bits):
    """Attention reads the quantized cache's levels (lowbit-fold-dequantize-
    into-matmul: QK^T and PV through lowbit.mixed_matmul, the scales taken
    out of the sums). ONNX Runtime runs the same model with each new key and
    value rounded to the same per-token grid in ONNX ops and the past fed
    as levels x scales: a prompt of 6 tokens, then 3 decode steps, batch 2,
    GQA (4 query heads on 2 KV heads). The logits agree to fp32 rounding:
    measured 2.5e-7 of their largest magnitude, bound 2e-5, where the
    rounding to the grid itself moves them by 3e-4 (int8) and 7.5e-3 (int4)
    against the fp32 model, and a wrong scale or transposed levels by far
    more."""
    ort = pytest.importorskip("onnxruntime")
    onnx_path = make_llama(tmp_path / "llama.onnx")
    reference = ort.InferenceSession(str(fake_quantized_cache_model(onnx_path, tmp_path / "fq.onnx", bits)),
                                     providers=["CPUExecutionProvider"])
    library = tmp_path / "kv.so"
    lowbit.compile(onnx_path, library, quantize=[f"kv-cache,bits={bits}"], extra_args=["-O1"])
    model = lowbit.load(library)
    ids = prompts(11, 2, 9)
    stored_dim = HEAD_DIM if bits == 8 else HEAD_DIM // 2
    past = {f"past.{l}.{kind}": np.zeros((2, KV_HEADS, 0, stored_dim), np.int8)
            for l in range(LAYERS) for kind in ("key", "value")}
    past.update({f"{name}.scales": np.zeros((2, KV_HEADS, 0, 1), np.float32) for name in list(past)})
    for start, end in ((0, 6), (6, 7), (7, 8), (8, 9)):
        got = model.run({"input_ids": ids[:, start:end], **past})
        dequantized = {name: levels_of(past[name], bits).astype(np.float32) * past[f"{name}.scales"]
                       for name in past if not name.endswith(".scales")}
        want = reference.run(["logits"], {"input_ids": ids[:, start:end], **dequantized})[0]
        error = np.abs(got["logits"] - want).max() / np.abs(want).max()
        print(f"int{bits} cache, tokens {start}:{end}: max logits error {error:.1e} of max |logit|")
        assert error < 2e-5
        past = {name.replace("present.", "past.", 1): value for name, value in got.items() if name != "logits"}



@pytest.mark.parametrize("step", ["kv-cache,bits=8", "kv-cache,bits=4,window=3",
                                  "kv-cache,bits=8,window=4,key-scales=channel",
                                  "kv-cache,bits=4,window=3,key-scales=channel"],
                         ids=["int8", "int4-window", "int8-window-channel-keys",
                              "int4-window-channel-keys"])
def test_attention_reading_levels_equals_attention_over_a_dequantized_copy(tmp_path, step):
    """The fold of the cache's dequantize into QK^T and PV (and, with a
    window, the split of each product into the levels' part and the
    window's; for KIVI keys, QK^T per group of tokens) changes no result: a prompt and 3 decode steps give the same
    logits as the same model compiled with --fold-dequantize=false, which
    dequantizes the cache to f32 first (fp32 rounding apart: 1e-5 of the
    largest logit; measured below 1e-6)."""
    onnx_path = make_llama(tmp_path / "llama.onnx")
    models = {}
    for fold in ("true", "false"):
        library = tmp_path / f"fold-{fold}.so"
        lowbit.compile(onnx_path, library, quantize=[step], extra_args=["-O1", f"--fold-dequantize={fold}"])
        models[fold] = lowbit.load(library)
    ids = prompts(12, 2, 9)
    feeds = {s.name: np.zeros([2, s.shape[1], 0, s.shape[3]], s.dtype)
             for s in models["true"].inputs if s.name.startswith("past.")}
    for start, end in ((0, 6), (6, 7), (7, 8), (8, 9)):
        folded = models["true"].run({"input_ids": ids[:, start:end], **feeds})
        copied = models["false"].run({"input_ids": ids[:, start:end], **feeds})
        error = np.abs(folded["logits"] - copied["logits"]).max() / np.abs(copied["logits"]).max()
        print(f"{step}, tokens {start}:{end}: {error:.1e} of max |logit|")
        assert error < 1e-5
        feeds = {"past." + name[len("present."):]: value for name, value in copied.items()
                 if name.startswith("present.")}

@pytest.mark.parametrize("model", ["stories260K", "tinystories656K"])
def test_int8_kv_cache_on_shared_models(shared_models, tmp_path, model):
    """int8 KV cache: decode-mode perplexity (every prediction reads the
    quantized cache) within 0.5 % of fp32, and the same 32 greedy tokens;
    int4 reported, and int4 with a 16-token f32 window better than without."""
    model_dir = shared_models / model
    run_tool = lowbit.find_tool("lowbit-run")
    results, tokens = {}, {}
    for label, steps in (("fp32", []), ("kv8", ["kv-cache,bits=8"]), ("kv4", ["kv-cache,bits=4"]),
                         ("kv4-window16", ["kv-cache,bits=4,window=16"])):
        library = tmp_path / f"{label}.so"
        lowbit.compile(model_dir / f"{model}.onnx", library, quantize=steps, extra_args=["-O1"])
        run = subprocess.run([run_tool, str(library), f"--perplexity={model_dir / 'eval_tokens.txt'}", "--chunk=1"],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        results[label] = float(re.fullmatch(r"perplexity: ([\d.]+) tokens: \d+\n", run.stdout).group(1))
        run = subprocess.run([run_tool, str(library), "--generate=32"], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        tokens[label] = run.stdout.splitlines()[0]
    print(f"{model} decode-mode perplexity: " + ", ".join(f"{k} {v:.4f}" for k, v in results.items()))
    assert results["kv8"] <= results["fp32"] * 1.005
    assert tokens["kv8"] == tokens["fp32"]
    # Keeping the 16 most recent tokens in f32, where attention looks most,
    # takes back most of what int4 costs (measured: stories260K 12.06 ->
    # 5.42, fp32 5.32).
    assert results["kv4-window16"] < results["kv4"]


@pytest.mark.parametrize("steps", [[], ["kv-cache,bits=8"], ["kv-cache,bits=4,window=3"],
                                   ["kv-cache,bits=4,window=3,key-scales=channel"]],
                         ids=["fp32-cache", "int8-cache", "int4-cache-window", "int4-channel-keys"])
def test_decode_session_hides_the_cache(tmp_path, steps):
    """lowbit_session_*: token ids in, logits out, the cache (f32, or levels
    and scales, and a window of recent tokens in f32) kept inside. Equal to the caller-managed loop that feeds the
    presents back as pasts by name; reset starts over; a model that is not
    a language model is refused by name."""
    onnx_path = make_llama(tmp_path / "llama.onnx")
    library = tmp_path / "model.so"
    lowbit.compile(onnx_path, library, quantize=steps, extra_args=["-O1"])
    model = lowbit.load(library)
    session = model.session()
    ids = prompts(7, 1, 9)[0]
    chunks = [ids[:5], ids[5:6], ids[6:9]]
    got = [session.step(chunk) for chunk in chunks]
    assert session.length == 9

    manual = lowbit.load(library)
    feeds = {s.name: np.zeros([1, s.shape[1], 0, s.shape[3]], s.dtype)
             for s in manual.inputs if s.name.startswith("past.")}
    for chunk, logits in zip(chunks, got):
        out = manual.run({"input_ids": chunk[None], **feeds})
        np.testing.assert_array_equal(logits, out["logits"][0])
        feeds = {"past." + name[len("present."):]: value for name, value in out.items()
                 if name.startswith("present.")}

    session.reset()
    assert session.length == 0
    np.testing.assert_array_equal(session.step(chunks[0]), got[0])
    with pytest.raises(lowbit.ModelRunError, match="no token ids"):
        session.step([])


def test_decode_session_refuses_other_models(tmp_path):
    from lowbit.testing.synthetic import make_bert
    library = tmp_path / "bert.so"
    lowbit.compile(make_bert(tmp_path / "bert.onnx"), library, extra_args=["-O1"])
    with pytest.raises(RuntimeError, match="neither input_ids nor a past"):
        lowbit.load(library).session()
