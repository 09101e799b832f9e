"""Synthetic transformer models in the shape of real exporter output.

The graphs follow what torch.onnx.export (opset 17) writes for Hugging Face
GPT-2 and BERT: shape arithmetic through Shape/Gather/Unsqueeze/Concat,
Split of fused QKV projections, causal masks sliced from a constant buffer,
tanh-GELU spelled out with Pow/Tanh, erf-GELU with Erf, LayerNorm as an op
(GPT-2) or decomposed into ReduceMean/Sub/Pow/Sqrt/Div (BERT), a Gemm pooler.
Weights are random with a fixed seed, so each call builds the same model.

    make_gpt2("gpt2.onnx")
    make_bert("bert.onnx")
    make_linear("layer.onnx", weight)   # one linear layer, for kernels and passes
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_linear(path, weight, external_data=False):
    """A model of one linear layer named 'proj': y [m, N] = x [m, K] @ weight
    [K, N] (f32), the weight inline or, with `external_data`, in a file
    beside the model. Returns `path`."""
    k, n = weight.shape
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="proj")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])],
                              [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if external_data:
        onnx.save(model, str(path), save_as_external_data=True, location=path.stem + ".data")
    else:
        onnx.save(model, str(path))
    return path


class _GraphBuilder:
    def __init__(self, seed):
        self.nodes, self.initializers = [], []
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def weight(self, name, shape, scale=0.08):
        array = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def const(self, array, hint="const"):
        out = self.name(hint)
        self.nodes.append(helper.make_node("Constant", [], [out], name=out,
                                           value=numpy_helper.from_array(np.asarray(array))))
        return out

    def op(self, op_type, inputs, num_outputs=1, **attrs):
        base = self.name(op_type)
        outputs = [base] if num_outputs == 1 else [f"{base}_{i}" for i in range(num_outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=base, **attrs))
        return outputs[0] if num_outputs == 1 else outputs

    def dim(self, value, axis):
        """The size of `value` at `axis` as a 1-element int64 tensor, the way
        exporters compute it (Shape -> Gather -> Unsqueeze)."""
        shape = self.op("Shape", [value])
        size = self.op("Gather", [shape, self.const(np.array(axis, dtype=np.int64))], axis=0)
        return self.op("Unsqueeze", [size, self.const(np.array([0], dtype=np.int64))])

    def reshape(self, value, pieces):
        """Reshape to a shape concatenated from dims and constants."""
        parts = [p if isinstance(p, str) else self.const(np.array(p, dtype=np.int64)) for p in pieces]
        return self.op("Reshape", [value, self.op("Concat", parts, axis=0)])

    def linear(self, x, prefix, d_in, d_out):
        y = self.op("MatMul", [x, self.weight(f"{prefix}.weight", (d_in, d_out))])
        return self.op("Add", [y, self.weight(f"{prefix}.bias", (d_out,), scale=0.02)])

    def cache(self, layer, kind, new, heads, head_dim, inputs, outputs):
        """KV-cache I/O for one layer's keys or values, as exporters write it:
        input past.L.KIND [batch, heads, past_seq, head_dim] concatenated with
        `new` along the sequence axis into output present.L.KIND (returned)."""
        past, present = f"past.{layer}.{kind}", f"present.{layer}.{kind}"
        inputs.append(helper.make_tensor_value_info(past, TensorProto.FLOAT, ["batch", heads, "past_seq", head_dim]))
        self.nodes.append(helper.make_node("Concat", [past, new], [present], name=present, axis=2))
        outputs.append(helper.make_tensor_value_info(present, TensorProto.FLOAT,
                                                     ["batch", heads, "total_seq", head_dim]))
        return present

    def split_heads(self, x, batch, seq, heads, head_dim, perm=(0, 2, 1, 3)):
        x = self.reshape(x, [batch, seq, [heads], [head_dim]])
        return self.op("Transpose", [x], perm=list(perm))

    def merge_heads(self, x, batch, seq, dim):
        x = self.op("Transpose", [x], perm=[0, 2, 1, 3])
        return self.reshape(x, [batch, seq, [dim]])

    def layer_norm_decomposed(self, x, prefix, dim, eps=1e-12):
        mean = self.op("ReduceMean", [x], axes=[-1], keepdims=1)
        centered = self.op("Sub", [x, mean])
        var = self.op("ReduceMean", [self.op("Pow", [centered, self.const(np.array(2.0, dtype=np.float32))])],
                      axes=[-1], keepdims=1)
        std = self.op("Sqrt", [self.op("Add", [var, self.const(np.array(eps, dtype=np.float32))])])
        normed = self.op("Div", [centered, std])
        scaled = self.op("Mul", [normed, self.weight(f"{prefix}.weight", (dim,), scale=0.1)])
        return self.op("Add", [scaled, self.weight(f"{prefix}.bias", (dim,), scale=0.02)])

    def save(self, path, name, inputs, outputs, opset=17):
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="lowbit.testing.synthetic")
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
        return path


def make_gpt2(path, vocab=96, dim=32, heads=4, layers=2, ctx=64, seed=0, outlier_channels=(),
              outlier_scale=50.0, kv_cache=False):
    """A GPT-2-style decoder: learned positions, biases, LayerNorm, tanh-GELU,
    fused QKV split three ways, causal mask from a constant buffer, tied
    embeddings. Input input_ids [batch, seq]; output logits [batch, seq, vocab].

    `outlier_channels`: as make_llama's, through ln_1 and ln_2 (weight and
    bias) and the rows of c_attn and c_fc that read them.

    `kv_cache`: KV-cache I/O as Hugging Face's GPT-2 exports it: inputs
    past.L.key / past.L.value [batch, heads, past_seq, head_dim], outputs
    present.L.key / present.L.value, positions and the causal mask offset by
    the cache length."""
    g = _GraphBuilder(seed)
    head_dim = dim // heads
    wte = g.weight("wte", (vocab, dim))
    batch, seq = g.dim("input_ids", 0), g.dim("input_ids", 1)
    squeeze = lambda v: g.op("Squeeze", [v, g.const(np.array([0], dtype=np.int64))])  # noqa: E731
    past = g.dim("past.0.key", 2) if kv_cache else g.const(np.array([0], dtype=np.int64))
    total = g.op("Add", [past, seq])
    positions = g.op("Range", [squeeze(past), squeeze(total), g.const(np.array(1, dtype=np.int64))])
    positions = g.op("Unsqueeze", [positions, g.const(np.array([0], dtype=np.int64))])
    h = g.op("Add", [g.op("Gather", [wte, "input_ids"]), g.op("Gather", [g.weight("wpe", (ctx, dim)), positions])])
    causal = np.tril(np.ones((ctx, ctx), dtype=bool)).reshape(1, 1, ctx, ctx)
    cache_inputs, cache_outputs = [], []
    for layer in range(layers):
        p = f"h.{layer}"
        x = g.op("LayerNormalization", [h, g.weight(f"{p}.ln_1.weight", (dim,), 0.1),
                                        g.weight(f"{p}.ln_1.bias", (dim,), 0.02)], axis=-1, epsilon=1e-5)
        qkv = g.linear(x, f"{p}.attn.c_attn", dim, 3 * dim)
        q, k, v = g.op("Split", [qkv, g.const(np.array([dim] * 3, dtype=np.int64))], num_outputs=3, axis=2)
        q = g.split_heads(q, batch, seq, heads, head_dim)
        k = g.split_heads(k, batch, seq, heads, head_dim)
        v = g.split_heads(v, batch, seq, heads, head_dim)
        if kv_cache:
            k, v = (g.cache(layer, kind, new, heads, head_dim, cache_inputs, cache_outputs)
                    for kind, new in (("key", k), ("value", v)))
        k = g.op("Transpose", [k], perm=[0, 1, 3, 2])
        scores = g.op("Div", [g.op("MatMul", [q, k]), g.const(np.array(np.sqrt(head_dim), dtype=np.float32))])
        # Query rows past .. past+seq-1 of the causal buffer, key columns 0 .. past+seq-1.
        mask = g.op("Slice", [g.const(causal, "bias"), g.op("Concat", [past, g.const(np.array([0], dtype=np.int64))],
                                                               axis=0),
                              g.op("Concat", [total, total], axis=0),
                              g.const(np.array([2, 3], dtype=np.int64))])
        scores = g.op("Where", [mask, scores, g.const(np.array(np.finfo(np.float32).min, dtype=np.float32))])
        attn = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        attn = g.linear(g.merge_heads(attn, batch, seq, dim), f"{p}.attn.c_proj", dim, dim)
        h = g.op("Add", [h, attn])
        x = g.op("LayerNormalization", [h, g.weight(f"{p}.ln_2.weight", (dim,), 0.1),
                                        g.weight(f"{p}.ln_2.bias", (dim,), 0.02)], axis=-1, epsilon=1e-5)
        x = g.linear(x, f"{p}.mlp.c_fc", dim, 4 * dim)
        # gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.op("Mul", [g.op("Pow", [x, g.const(np.array(3.0, dtype=np.float32))]),
                            g.const(np.array(0.044715, dtype=np.float32))])
        inner = g.op("Mul", [g.op("Add", [x, cube]), g.const(np.array(np.sqrt(2 / np.pi), dtype=np.float32))])
        gate = g.op("Add", [g.op("Tanh", [inner]), g.const(np.array(1.0, dtype=np.float32))])
        x = g.op("Mul", [g.op("Mul", [x, g.const(np.array(0.5, dtype=np.float32))]), gate])
        h = g.op("Add", [h, g.linear(x, f"{p}.mlp.c_proj", 4 * dim, dim)])
    h = g.op("LayerNormalization", [h, g.weight("ln_f.weight", (dim,), 0.1), g.weight("ln_f.bias", (dim,), 0.02)],
             axis=-1, epsilon=1e-5)
    logits = g.op("MatMul", [h, g.op("Transpose", [wte], perm=[1, 0])])
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits"))
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])] + cache_inputs
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", vocab])] + cache_outputs
    if len(outlier_channels):
        channels = np.asarray(outlier_channels)
        arrays = {t.name: t for t in g.initializers}
        for layer in range(layers):
            for norm, reader in (("ln_1", "attn.c_attn"), ("ln_2", "mlp.c_fc")):
                for part in ("weight", "bias"):
                    _scale_rows(arrays[f"h.{layer}.{norm}.{part}"], channels, outlier_scale)
                _scale_rows(arrays[f"h.{layer}.{reader}.weight"], channels, 1 / outlier_scale)
    return g.save(path, "gpt2", inputs, outputs)


def make_bert(path, vocab=96, dim=32, heads=4, layers=2, ctx=64, seed=1):
    """A BERT-style encoder: word + position + token-type embeddings,
    decomposed LayerNorm, additive attention mask from attention_mask, erf-GELU,
    a Gemm + Tanh pooler. Inputs input_ids, attention_mask, token_type_ids
    [batch, seq]; outputs last_hidden_state and pooler_output."""
    g = _GraphBuilder(seed)
    head_dim = dim // heads
    batch, seq = g.dim("input_ids", 0), g.dim("input_ids", 1)
    positions = g.op("Slice", [g.const(np.arange(ctx, dtype=np.int64).reshape(1, ctx), "position_ids"),
                               g.const(np.array([0], dtype=np.int64)), seq,
                               g.const(np.array([1], dtype=np.int64))])
    emb = g.op("Add", [g.op("Gather", [g.weight("word_embeddings", (vocab, dim)), "input_ids"]),
                       g.op("Gather", [g.weight("token_type_embeddings", (2, dim)), "token_type_ids"])])
    emb = g.op("Add", [emb, g.op("Gather", [g.weight("position_embeddings", (ctx, dim)), positions])])
    h = g.layer_norm_decomposed(emb, "embeddings.LayerNorm", dim)
    mask = g.op("Unsqueeze", ["attention_mask", g.const(np.array([1, 2], dtype=np.int64))])
    mask = g.op("Cast", [mask], to=TensorProto.FLOAT)
    mask = g.op("Mul", [g.op("Sub", [g.const(np.array(1.0, dtype=np.float32)), mask]),
                        g.const(np.array(np.finfo(np.float32).min, dtype=np.float32))])
    for layer in range(layers):
        p = f"encoder.layer.{layer}"
        q = g.split_heads(g.linear(h, f"{p}.attention.self.query", dim, dim), batch, seq, heads, head_dim)
        k = g.split_heads(g.linear(h, f"{p}.attention.self.key", dim, dim), batch, seq, heads, head_dim,
                          perm=(0, 2, 3, 1))
        v = g.split_heads(g.linear(h, f"{p}.attention.self.value", dim, dim), batch, seq, heads, head_dim)
        scores = g.op("Div", [g.op("MatMul", [q, k]), g.const(np.array(np.sqrt(head_dim), dtype=np.float32))])
        probs = g.op("Softmax", [g.op("Add", [scores, mask])], axis=-1)
        ctx_layer = g.merge_heads(g.op("MatMul", [probs, v]), batch, seq, dim)
        attn = g.linear(ctx_layer, f"{p}.attention.output.dense", dim, dim)
        h = g.layer_norm_decomposed(g.op("Add", [attn, h]), f"{p}.attention.output.LayerNorm", dim)
        x = g.linear(h, f"{p}.intermediate.dense", dim, 4 * dim)
        # erf-GELU: x * 0.5 * (1 + erf(x / sqrt(2)))
        erf = g.op("Erf", [g.op("Div", [x, g.const(np.array(np.sqrt(2.0), dtype=np.float32))])])
        x = g.op("Mul", [g.op("Mul", [x, g.op("Add", [erf, g.const(np.array(1.0, dtype=np.float32))])]),
                         g.const(np.array(0.5, dtype=np.float32))])
        x = g.linear(x, f"{p}.output.dense", 4 * dim, dim)
        h = g.layer_norm_decomposed(g.op("Add", [x, h]), f"{p}.output.LayerNorm", dim)
    g.nodes.append(helper.make_node("Identity", [h], ["last_hidden_state"], name="last_hidden_state"))
    first = g.op("Gather", [h, g.const(np.array(0, dtype=np.int64))], axis=1)
    pooled = g.op("Gemm", [first, g.weight("pooler.dense.weight", (dim, dim)),
                           g.weight("pooler.dense.bias", (dim,), 0.02)], transB=1)
    g.nodes.append(helper.make_node("Tanh", [pooled], ["pooler_output"], name="pooler_output"))
    ids = ["batch", "seq"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ids)
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", dim]),
               helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch", dim])]
    return g.save(path, "bert", inputs, outputs)


def make_llama(path, vocab=128, dim=64, heads=4, kv_heads=2, layers=2, ffn=172, ctx=256, seed=2,
               outlier_channels=(), outlier_scale=50.0):
    """A LLaMA-style decoder with KV-cache I/O, as the PyTorch exporter writes
    it: decomposed RMSNorm, rotate-half RoPE at positions offset by the cache
    length, grouped-query attention (kv heads repeated), a causal mask that
    admits the cached positions, SiLU-gated MLP, an untied lm_head.

    Inputs: input_ids [batch, seq], past.L.key / past.L.value
    [batch, kv_heads, past_seq, head_dim]. Outputs: logits [batch, seq, vocab],
    present.L.key / present.L.value [batch, kv_heads, past_seq + seq, head_dim]
    (the shared models' interface).

    `outlier_channels` plants LLM.int8-style activation outliers, as emergent
    features appear in large models: those hidden channels of every RMSNorm's
    weight are multiplied by `outlier_scale`, and the matching input rows of
    the linear layers that read the norm (wq, wk, wv; w1, w3; the head)
    divided by it. The fp32 model computes what it computed without them (up
    to rounding), but every normed activation carries a few channels
    `outlier_scale` times the others: per-token int8 activations lose the
    rest of the row, which SmoothQuant and outlier splitting must undo."""
    g = _GraphBuilder(seed)
    head_dim, half = dim // heads, dim // heads // 2
    i64 = lambda values: g.const(np.array(values, dtype=np.int64))  # noqa: E731
    f32 = lambda value: g.const(np.array(value, dtype=np.float32))  # noqa: E731
    batch, seq = g.dim("input_ids", 0), g.dim("input_ids", 1)
    past = g.dim("past.0.key", 2)
    total = g.op("Add", [past, seq])
    # Positions past .. past+seq-1 select rows of the cos/sin tables.
    positions = g.op("Range", [g.op("Squeeze", [past, i64([0])]), g.op("Squeeze", [total, i64([0])]),
                               g.const(np.array(1, dtype=np.int64))])
    inv_freq = 1.0 / (10000 ** (np.arange(half) / half))
    angles = np.outer(np.arange(ctx), inv_freq).astype(np.float32)
    g.initializers += [numpy_helper.from_array(np.cos(angles), "cos"), numpy_helper.from_array(np.sin(angles), "sin")]
    cos = g.op("Unsqueeze", [g.op("Gather", ["cos", positions], axis=0), i64([0, 1])])  # [1,1,seq,half]
    sin = g.op("Unsqueeze", [g.op("Gather", ["sin", positions], axis=0), i64([0, 1])])

    def rms_norm(x, name):
        mean = g.op("ReduceMean", [g.op("Pow", [x, f32(2.0)])], axes=[-1], keepdims=1)
        inv = g.op("Div", [f32(1.0), g.op("Sqrt", [g.op("Add", [mean, f32(1e-5)])])])
        return g.op("Mul", [g.op("Mul", [x, inv]), g.weight(name, (dim,), 0.1)])

    def rope(x):  # x [b, h, s, head_dim]
        x1 = g.op("Slice", [x, i64([0]), i64([half]), i64([3])])
        x2 = g.op("Slice", [x, i64([half]), i64([head_dim]), i64([3])])
        first = g.op("Sub", [g.op("Mul", [x1, cos]), g.op("Mul", [x2, sin])])
        second = g.op("Add", [g.op("Mul", [x2, cos]), g.op("Mul", [x1, sin])])
        return g.op("Concat", [first, second], axis=3)

    def repeat_kv(x):  # [b, kv, t, hd] -> [b, heads, t, hd]
        if heads == kv_heads:
            return x
        groups = heads // kv_heads
        expanded = g.op("Expand", [g.op("Unsqueeze", [x, i64([2])]),
                                   g.op("Concat", [batch, i64([kv_heads, groups]), g.dim(x, 2), i64([head_dim])],
                                        axis=0)])
        return g.reshape(expanded, [batch, [heads], g.dim(x, 2), [head_dim]])

    # Causal mask over [seq, past + seq]: query i sees keys j <= past + i.
    ones = g.op("ConstantOfShape", [g.op("Concat", [seq, total], axis=0)],
                value=numpy_helper.from_array(np.array([1.0], dtype=np.float32)))
    mask = g.op("Cast", [g.op("Trilu", [ones, g.op("Squeeze", [past, i64([0])])], upper=0)], to=TensorProto.BOOL)
    h = g.op("Gather", [g.weight("tok_embeddings", (vocab, dim), 0.5), "input_ids"], axis=0)
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])]
    outputs = []
    for layer in range(layers):
        p = f"layers.{layer}"
        x = rms_norm(h, f"{p}.attention_norm.weight")
        q = g.split_heads(g.op("MatMul", [x, g.weight(f"{p}.wq", (dim, dim))]), batch, seq, heads, head_dim)
        k = g.split_heads(g.op("MatMul", [x, g.weight(f"{p}.wk", (dim, kv_heads * head_dim))]), batch, seq,
                          kv_heads, head_dim)
        v = g.split_heads(g.op("MatMul", [x, g.weight(f"{p}.wv", (dim, kv_heads * head_dim))]), batch, seq,
                          kv_heads, head_dim)
        q, k = rope(q), rope(k)
        present_k, present_v = (g.cache(layer, kind, new, kv_heads, head_dim, inputs, outputs)
                                for kind, new in (("key", k), ("value", v)))
        keys = g.op("Transpose", [repeat_kv(present_k)], perm=[0, 1, 3, 2])
        scores = g.op("Div", [g.op("MatMul", [q, keys]), f32(np.sqrt(head_dim))])
        scores = g.op("Where", [mask, scores, f32(np.finfo(np.float32).min)])
        attn = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), repeat_kv(present_v)])
        attn = g.op("MatMul", [g.merge_heads(attn, batch, seq, dim), g.weight(f"{p}.wo", (dim, dim))])
        h = g.op("Add", [h, attn])
        x = rms_norm(h, f"{p}.ffn_norm.weight")
        gate = g.op("MatMul", [x, g.weight(f"{p}.w1", (dim, ffn))])
        up = g.op("MatMul", [x, g.weight(f"{p}.w3", (dim, ffn))])
        hidden = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up])
        h = g.op("Add", [h, g.op("MatMul", [hidden, g.weight(f"{p}.w2", (ffn, dim))])])
    logits = g.op("MatMul", [rms_norm(h, "norm.weight"), g.weight("output", (dim, vocab))])
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits"))
    outputs.insert(0, helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", vocab]))
    if len(outlier_channels):
        channels = np.asarray(outlier_channels)
        readers = {"norm.weight": ["output"]}
        for layer in range(layers):
            readers[f"layers.{layer}.attention_norm.weight"] = [f"layers.{layer}.{w}" for w in ("wq", "wk", "wv")]
            readers[f"layers.{layer}.ffn_norm.weight"] = [f"layers.{layer}.{w}" for w in ("w1", "w3")]
        arrays = {t.name: t for t in g.initializers}
        for norm, weights in readers.items():
            _scale_rows(arrays[norm], channels, outlier_scale)
            for weight in weights:
                _scale_rows(arrays[weight], channels, 1 / outlier_scale)
    return g.save(path, "llama", inputs, outputs)


def _scale_rows(tensor, rows, factor):
    """Multiplies rows `rows` (first axis) of an initializer in place."""
    array = numpy_helper.to_array(tensor).copy()
    array[rows] *= np.float32(factor)
    tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
