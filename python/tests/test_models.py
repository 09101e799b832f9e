"""Real and exporter-shaped models import, verify and round-trip.

- both shared models (LLaMA-style, PyTorch exporter, opset 17), also converted
  to opsets 18 and 21, which Debian's libonnx does not know;
- a GPT-2-style and a BERT-style model built by lowbit.testing.synthetic.

For each, the function keeps the model's input and output names, and the
output types that lowbit infers admit what ONNX Runtime actually computes
(same element type and rank, equal sizes wherever lowbit says static).
"""
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import version_converter

import lowbit
from lowbit.testing.synthetic import make_bert, make_gpt2
from mlir_types import check_type_matches, signature

SHARED = ["stories260K/stories260K.onnx", "tinystories656K/tinystories656K.onnx"]


def _feeds(model_path, batch=2, seq=5, past=3):
    """Deterministic inputs for a model with dims named batch/seq/past_seq."""
    rng = np.random.default_rng(0)
    sizes = {"batch": batch, "seq": seq, "past_seq": past}
    feeds = {}
    for value in onnx.load(str(model_path), load_external_data=False).graph.input:
        dims = [d.dim_value if d.dim_value else sizes.get(d.dim_param, seq)
                for d in value.type.tensor_type.shape.dim]
        if value.type.tensor_type.elem_type == onnx.TensorProto.INT64:
            high = 2 if value.name in ("attention_mask", "token_type_ids") else 90
            feeds[value.name] = rng.integers(0, high, size=dims).astype(np.int64)
        else:
            feeds[value.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def _check_model(model_path, tmp_path, *flags):
    """Imports with lowbitc, round-trips with lowbit-opt, compares the
    signature with the model and with ONNX Runtime's outputs."""
    ir = lowbit.import_onnx(model_path, extra_args=flags)
    out = tmp_path / "model.mlir"
    out.write_text(ir)
    roundtrip = subprocess.run([lowbit.find_tool("lowbit-opt"), str(out), "--verify-roundtrip", "-o", "/dev/null"],
                               capture_output=True, text=True)
    assert roundtrip.returncode == 0, roundtrip.stderr

    model = onnx.load(str(model_path), load_external_data=False)
    inputs, outputs = signature(ir)
    assert list(inputs) == [i.name for i in model.graph.input if i.name not in
                            {t.name for t in model.graph.initializer}]
    assert list(outputs) == [o.name for o in model.graph.output]

    feeds = _feeds(model_path)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    for name, value in zip(outputs, session.run(None, feeds)):
        check_type_matches(outputs[name], value, f"output '{name}'")
    return ir


@pytest.mark.parametrize("model", SHARED)
@pytest.mark.parametrize("flags", [(), ("--simplify=false",), ("--onnx-shape-inference=false",)],
                         ids=["simplified", "raw", "no-onnx-inference"])
def test_shared_model(shared_models, model, flags, tmp_path):
    ir = _check_model(shared_models / model, tmp_path, *flags)
    assert "dense_resource<emb.weight>" in ir
    if flags == ("--simplify=false",):
        return
    # Every RMSNorm (two per layer and the final one) is fused by the cleanup.
    layers = {"stories260K": 5, "tinystories656K": 2}[model.split("/")[0]]
    assert ir.count("onnx.RMSNormalization") == 2 * layers + 1
    assert "onnx.Pow" not in ir


@pytest.mark.parametrize("model", SHARED)
@pytest.mark.parametrize("opset", [18, 21])
def test_shared_model_newer_opset(shared_models, model, opset, tmp_path):
    converted = version_converter.convert_version(onnx.load(str(shared_models / model)), opset)
    path = tmp_path / f"opset{opset}.onnx"
    onnx.save(converted, str(path))
    ir = _check_model(path, tmp_path)
    assert f"onnx.opset = {opset}" in ir


def test_static_shapes_fold_all_shape_arithmetic(shared_models, tmp_path):
    """With every dimension known, the exporter's whole Shape/Gather/Concat
    machinery folds away and every type is static."""
    model = onnx.load(str(shared_models / SHARED[0]))
    sizes = {"batch": 1, "seq": 8, "past_seq": 4}
    for value in model.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                size = sizes[dim.dim_param]
                dim.ClearField("dim_param")
                dim.dim_value = size
    path = tmp_path / "static.onnx"
    onnx.save(model, str(path))
    ir = _check_model(path, tmp_path)
    for op in ("onnx.Shape", "onnx.ConstantOfShape", "onnx.Range", "onnx.Concat %"):
        if op == "onnx.Concat %":
            # Only the KV-cache concatenations (of activations) remain.
            assert all("xf32>" in line for line in ir.splitlines() if "onnx.Concat" in line)
        else:
            assert op not in ir, f"{op} survived static shapes"
    assert "?" not in ir.split("dialect_resources")[0], "a dynamic dimension survived"
    _, outputs = signature(ir)
    assert outputs["logits"] == ([1, 8, 512], "f32")
    assert outputs["present.0.key"] == ([1, 4, 12, 8], "f32")


@pytest.mark.parametrize("make", [make_gpt2, make_bert], ids=["gpt2", "bert"])
def test_synthetic_export(make, tmp_path):
    path = make(tmp_path / "model.onnx")
    ir = _check_model(path, tmp_path)
    _check_model(path, tmp_path, "--simplify=false")
    if make is make_gpt2:
        assert "onnx.LayerNormalization" in ir and "onnx.Split" in ir and "onnx.Tanh" in ir
    else:
        assert "onnx.Erf" in ir and "onnx.Gemm" in ir
        # The decomposed LayerNorms (embeddings, two per layer) are fused.
        assert ir.count("onnx.LayerNormalization") == 5
        assert "onnx.ReduceMean" not in ir


def test_python_api_reports_errors(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(lowbit.CompileError, match="not a valid ONNX model"):
        lowbit.import_onnx(bad)
