"""ONNX backend node tests, compiled and run: outputs match the reference
data within the backend suite's own tolerances (rtol 1e-3, atol 1e-7).

Every case of test_backend_nodes.py is compiled with `lowbitc --emit=lib -O0`
and run through the Python runtime. What the CPU path cannot do yet is
listed, case by case, in backend_numerics_known_gaps.txt and expected to fail
(strictly: a listed case that starts passing fails the suite, so the list
only shrinks). The list is the to-do list of the CPU lowering; it is empty
now. Cases with string, sequence or optional values are skipped: lowbit
rejects them by design, with the clean error test_backend_nodes.py checks.
"""
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import lowbit
from test_backend_nodes import CASES, _unsupported_by_design

GAPS_FILE = Path(__file__).with_name("backend_numerics_known_gaps.txt")
KNOWN_GAPS = {line.split("#")[0].strip() for line in GAPS_FILE.read_text().splitlines()} - {""}


def _as_array(value):
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason="known gap")] if case.name in KNOWN_GAPS else []
        if _unsupported_by_design(case.model):  # test_backend_nodes checks the clean error
            marks = [pytest.mark.skip(reason=f"{_unsupported_by_design(case.model)}: unsupported by design")]
        yield pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_node_numerics(case, tmp_path):
    model_path = tmp_path / "model.onnx"
    onnx.save(case.model, str(model_path))
    library = tmp_path / "model.so"
    run = subprocess.run([lowbit.find_tool("lowbitc"), str(model_path), "--emit=lib", "-O0", "--quiet",
                          "-o", str(library)], capture_output=True, text=True)
    assert run.returncode in (0, 1), f"lowbitc crashed: {run.stderr[-1500:]}"
    assert run.returncode == 0, run.stderr[-1500:]
    model = lowbit.load(library)
    inputs, outputs = case.data_sets[0]
    got = model.run({spec.name: _as_array(v) for spec, v in zip(model.inputs, inputs)})
    for spec, expected in zip(model.outputs, outputs):
        np.testing.assert_allclose(got[spec.name], _as_array(expected), rtol=1e-3, atol=1e-7,
                                   err_msg=f"output '{spec.name}'")


def test_known_gaps_are_real_cases():
    names = {c.name for c in CASES}
    assert not KNOWN_GAPS - names, f"stale entries: {sorted(KNOWN_GAPS - names)}"
