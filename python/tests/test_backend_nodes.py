"""The official ONNX backend node tests of every operator lowbit claims.

The test cases come from the onnx package (onnx.backend.test.case.node),
generated in memory. Each model whose operators are all supported must import,
verify and round-trip through lowbit-opt, and the types lowbit infers for its
outputs must admit the reference outputs (element type, rank, static sizes).
Numerics are checked by the CPU compilation tier, not here.

Cases that use what lowbit deliberately does not support (string tensors,
sequences, optionals) must fail with a clean error, not a crash.
"""
import subprocess
import warnings

import onnx
import pytest

import lowbit
from mlir_types import check_type_matches, signature


def _collect():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.case import node as node_cases
        cases = node_cases.collect_testcases()
    supported = {name for (domain, name) in lowbit.supported_ops() if domain == ""}
    selected = []
    for case in cases:
        ops = {n.op_type for n in case.model.graph.node}
        if ops and ops <= supported:
            selected.append(case)
    return selected


CASES = _collect()


def _unsupported_by_design(model):
    """Why lowbit rejects the model on purpose, or None."""
    for value in list(model.graph.input) + list(model.graph.output):
        if not value.type.HasField("tensor_type"):
            return "not a tensor"
        if value.type.tensor_type.elem_type == onnx.TensorProto.STRING:
            return "string tensor"
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_node_imports(case, tmp_path):
    model_path = tmp_path / "model.onnx"
    onnx.save(case.model, str(model_path))
    run = subprocess.run([lowbit.find_tool("lowbitc"), str(model_path), "--quiet", "-o", "-"],
                         capture_output=True, text=True)
    reason = _unsupported_by_design(case.model)
    if reason:
        assert run.returncode == 1, f"{reason}: expected a clean error, got rc {run.returncode}"
        assert f"{model_path}: error: " in run.stderr
        return
    assert run.returncode == 0, run.stderr
    roundtrip = subprocess.run([lowbit.find_tool("lowbit-opt"), "--verify-roundtrip", "-o", "/dev/null"],
                               input=run.stdout, capture_output=True, text=True)
    assert roundtrip.returncode == 0, roundtrip.stderr

    _, outputs = signature(run.stdout)
    expected = case.data_sets[0][1]
    names = [o.name for o in case.model.graph.output]
    for name, array in zip(names, expected):
        check_type_matches(outputs[name], array, f"output '{name}'")


def test_every_claimed_op_has_cases():
    """Each default-domain operator lowbit claims has backend tests here."""
    covered = {n.op_type for c in CASES for n in c.model.graph.node}
    claimed = {name for (domain, name) in lowbit.supported_ops() if domain == ""}
    # ONNX Runtime's contrib op has no ONNX backend tests.
    missing = claimed - covered - {"SimplifiedLayerNormalization"}
    assert not missing, f"claimed ops without backend node tests: {sorted(missing)}"
