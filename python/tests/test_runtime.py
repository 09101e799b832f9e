"""lowbit-run and the C API of compiled models (include/lowbit-c/Runtime.h).

- lowbit-run's perplexity on the shared model equals the reference in
  ../shared/models/README.md to 3 decimals in every mode: one prompt per
  sequence, chunks through the KV cache, pure decode (--chunk=1);
- --generate gives the greedy tokens ONNX Runtime gives;
- --input/--output-dir round-trip .npy files and match ONNX Runtime;
- bad arguments, inputs and libraries end in clear errors, not crashes;
- the C API reports wrong names, dtypes, ranks and shapes with status codes
  and messages, and two instances run concurrently with correct results.
"""
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import lowbit

MODEL = "stories260K"


@pytest.fixture(scope="module")
def library(shared_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("lib") / f"{MODEL}.so"
    run = subprocess.run([lowbit.find_tool("lowbitc"), str(shared_models / MODEL / f"{MODEL}.onnx"),
                          "--emit=lib", "-O0", "--quiet", "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return out


def _run(*args):
    return subprocess.run([lowbit.find_tool("lowbit-run"), *map(str, args)], capture_output=True, text=True)


def _reference(shared_models):
    for line in (shared_models / "README.md").read_text().splitlines():
        match = re.match(rf"\|\s*{MODEL}\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|$", line)
        if match:
            return int(match.group(1)), float(match.group(2))
    raise AssertionError("no reference perplexity")


@pytest.mark.parametrize("chunk", [0, 7, 1], ids=["prompt", "chunk7", "decode"])
def test_perplexity_in_every_mode(library, shared_models, chunk):
    tokens, reference = _reference(shared_models)
    run = _run(library, f"--perplexity={shared_models / MODEL / 'eval_tokens.txt'}", f"--chunk={chunk}")
    assert run.returncode == 0, run.stderr
    match = re.fullmatch(r"perplexity: ([\d.]+) tokens: (\d+)\n", run.stdout)
    assert match, run.stdout
    assert int(match.group(2)) == tokens
    assert round(float(match.group(1)), 3) == reference


def test_generate_matches_onnxruntime(library, shared_models):
    run = _run(library, "--generate=24", "--prompt=1 403 407")
    assert run.returncode == 0, run.stderr
    ids_line, speed_line = run.stdout.splitlines()
    assert re.fullmatch(r"tokens/s: [\d.]+", speed_line)
    session = ort.InferenceSession(str(shared_models / MODEL / f"{MODEL}.onnx"))
    names = [o.name for o in session.get_outputs()]
    tokens = [1, 403, 407]
    feeds = {"input_ids": np.array([tokens], np.int64),
             **{i.name: np.zeros((1, 4, 0, 8), np.float32) for i in session.get_inputs()[1:]}}
    for _ in range(24):
        out = dict(zip(names, session.run(None, feeds)))
        tokens.append(int(out["logits"][0, -1].argmax()))
        feeds = {"input_ids": np.array([[tokens[-1]]], np.int64),
                 **{n.replace("present", "past"): out[n] for n in names[1:]}}
    assert [int(t) for t in ids_line.split()] == tokens[3:]


def test_npy_inputs_and_outputs(library, shared_models, tmp_path):
    ids = np.array([[1, 403, 407, 261]], np.int64)
    np.save(tmp_path / "ids.npy", ids)
    past = {f"past.{l}.{k}": np.zeros((1, 4, 0, 8), np.float32) for l in range(5) for k in ("key", "value")}
    args = [f"--input=input_ids={tmp_path / 'ids.npy'}"]
    for name, value in past.items():
        np.save(tmp_path / f"{name}.npy", value)
        args.append(f"--input={name}={tmp_path / (name + '.npy')}")
    out_dir = tmp_path / "out" / "nested"  # created by lowbit-run
    run = _run(library, *args, f"--output-dir={out_dir}")
    assert run.returncode == 0, run.stderr
    assert not list(out_dir.glob("*.partial"))
    session = ort.InferenceSession(str(shared_models / MODEL / f"{MODEL}.onnx"))
    reference = session.run(None, {"input_ids": ids, **past})
    for output, expected in zip(session.get_outputs(), reference):
        got = np.load(out_dir / f"{output.name}.npy")
        assert got.shape == expected.shape
        assert np.max(np.abs(got - expected)) <= 1e-4 * np.max(np.abs(expected))


def test_bench_reports_median_and_spread(library):
    run = _run(library, "--bench", "--repeats=5", "--warmup=1")
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"bench: median [\d.]+ ms, min [\d.]+ ms, max [\d.]+ ms over 5 runs \(1 warm-up\)\n",
                        run.stdout)


def test_errors(library, tmp_path):
    np.save(tmp_path / "ids32.npy", np.ones((1, 3), np.int32))
    cases = [
        ((library, f"--input=input_ids={tmp_path / 'ids32.npy'}"), "input 'input_ids': dtype"),
        ((library, f"--input=input_ids={tmp_path / 'missing.npy'}"), "cannot open"),
        ((library, "--frobnicate"), "unknown option --frobnicate"),
        ((tmp_path / "nope.so",), "nope.so"),
        ((library, "--threads=0"), "num_threads must be at least 1"),
        ((library, f"--output-dir={tmp_path / 'ids32.npy'}"), "cannot create the output directory"),
        ((), "no model library given"),
    ]
    for args, message in cases:
        run = _run(*args)
        assert run.returncode == 1 and message in run.stderr, (args, run.stderr)
    (tmp_path / "fake.so").write_bytes(b"not a library")
    run = _run(tmp_path / "fake.so")
    assert run.returncode == 1 and "fake.so" in run.stderr


def test_c_api_validation(library):
    import ctypes
    from lowbit._runtime import _Tensor

    model = lowbit.load(library)
    lib, handle = model._lib, model._model
    good = {s.name: np.zeros([1 if d is None else d for d in s.shape], s.dtype) for s in model.inputs}
    good = {n: (v[:, :, :0] if n.startswith("past.") else v) for n, v in good.items()}

    def call(mutate, num_inputs=None, num_outputs=None):
        arrays = [np.ascontiguousarray(good[s.name]) for s in model.inputs]
        inputs = (_Tensor * len(arrays))()
        for t, s, a in zip(inputs, model.inputs, arrays):
            t.name, t.dtype, t.rank = s.name.encode(), {np.dtype(np.int64): 4, np.dtype(np.float32): 0}[a.dtype], a.ndim
            for d, n in enumerate(a.shape):
                t.dims[d] = n
            t.data = a.ctypes.data if a.size else None
        mutate(inputs)
        outputs = (_Tensor * len(model.outputs))()
        status = lib.lowbit_model_run(handle, inputs, len(arrays) if num_inputs is None else num_inputs,
                                      outputs, len(model.outputs) if num_outputs is None else num_outputs)
        for i in range(len(model.outputs)):
            lib.lowbit_tensor_release(ctypes.byref(outputs[i]))
        return status, lib.lowbit_model_last_error(handle).decode()

    def rename(inputs):
        inputs[0].name = b"token_ids"

    def wrong_dtype(inputs):
        inputs[0].dtype = 0

    def wrong_rank(inputs):
        inputs[1].rank = 3

    def wrong_size(inputs):
        inputs[1].dims[1] = 5

    def null_data(inputs):
        inputs[0].data = None

    assert call(lambda inputs: None) == (0, "")
    assert call(rename) == (2, "the model has no input 'token_ids'")
    assert call(wrong_dtype)[0] == 3 and "input 'input_ids': dtype 0 given, the model takes 4" in call(wrong_dtype)[1]
    assert call(wrong_rank)[0] == 3 and "rank 3 given, the model takes 4" in call(wrong_rank)[1]
    assert call(wrong_size)[0] == 3 and "size 5 at dimension 1, the model takes 4" in call(wrong_size)[1]
    assert call(null_data) == (1, "input 'input_ids': data is NULL")
    assert call(lambda inputs: None, num_inputs=3)[0] == 1
    assert lib.lowbit_model_run(handle, None, 0, None, 0) == 1
    assert lib.lowbit_model_run(None, None, 0, None, 0) == 1


def test_load_takes_a_relative_path(library, tmp_path, monkeypatch):
    monkeypatch.chdir(library.parent)
    model = lowbit.load(library.name)  # no slash: dlopen alone would search the library path
    assert model.path == library.name and [s.name for s in model.inputs][0] == "input_ids"
    with pytest.raises(FileNotFoundError, match="no compiled model at missing.so"):
        lowbit.load("missing.so")


def test_two_instances_run_concurrently(library):
    first, second = lowbit.load(library), lowbit.load(library)
    rng = np.random.default_rng(5)
    jobs = []
    for model in (first, second):
        ids = rng.integers(1, 512, size=(2, 16)).astype(np.int64)
        feeds = {"input_ids": ids, **{f"past.{l}.{k}": np.zeros((2, 4, 0, 8), np.float32)
                                      for l in range(5) for k in ("key", "value")}}
        jobs.append((model, feeds, model.run(feeds)["logits"]))  # the sequential answer
    results = {}

    def worker(index, model, feeds):
        for _ in range(5):
            results.setdefault(index, []).append(model.run(feeds)["logits"])

    threads = [threading.Thread(target=worker, args=(i, m, f)) for i, (m, f, _) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for index, (_, _, expected) in enumerate(jobs):
        assert all(np.array_equal(r, expected) for r in results[index])


def test_threads_give_the_same_results(tmp_path):
    """With 2 and 3 threads the matrix products are split by columns or rows
    (each element is still summed in the same order), so the outputs equal
    the single-threaded ones exactly; instances with threads also run
    concurrently. Shapes: above the kernel's threshold for splitting
    (2^23 multiply-adds), columns not a multiple of the split."""
    from onnx import TensorProto, helper, numpy_helper
    import onnx

    rng = np.random.default_rng(7)
    wide = rng.standard_normal((96, 1000)).astype(np.float32)   # split by columns
    narrow = rng.standard_normal((1000, 40)).astype(np.float32)  # too narrow: split by rows
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "wide"], ["h"]), helper.make_node("MatMul", ["h", "narrow"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", 96])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", 40])],
        [numpy_helper.from_array(wide, "wide"), numpy_helper.from_array(narrow, "narrow")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "mm.onnx"))
    lowbit.compile(tmp_path / "mm.onnx", tmp_path / "mm.so")
    x = rng.standard_normal((300, 96)).astype(np.float32)
    single = lowbit.load(tmp_path / "mm.so")
    expected = single.run({"x": x})["y"]
    np.testing.assert_allclose(expected, x @ wide @ narrow, rtol=1e-4, atol=1e-3)
    models = []
    for threads in (2, 3):
        model = lowbit.load(tmp_path / "mm.so")
        model.set_num_threads(threads)
        assert np.array_equal(model.run({"x": x})["y"], expected)
        models.append(model)
    results = {}
    workers = [threading.Thread(target=lambda i, m: results.__setitem__(i, [m.run({"x": x})["y"] for _ in range(3)]),
                                args=(i, m)) for i, m in enumerate(models)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert all(np.array_equal(r, expected) for runs in results.values() for r in runs)
    single.set_num_threads(2)
    single.set_num_threads(1)  # the pool goes away again
    assert np.array_equal(single.run({"x": x})["y"], expected)


def test_weights_file_library_and_executable(library, shared_models, tmp_path):
    """--weights=file: the library (through the Python API) computes exactly
    what the embedded-weights library does, and the standalone executable
    (--emit=exe) gives the reference perplexity."""
    onnx_path = shared_models / MODEL / f"{MODEL}.onnx"
    for emit, out in (("lib", tmp_path / "m.so"), ("exe", tmp_path / "stories")):
        run = subprocess.run([lowbit.find_tool("lowbitc"), str(onnx_path), f"--emit={emit}", "--weights=file",
                              "-O0", "--quiet", "-o", str(out)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert out.with_suffix(".weights").stat().st_size > 1_000_000  # the 1 MB of weights
        assert out.stat().st_size < 1_000_000
    feeds = {"input_ids": np.array([[1, 403, 407, 261]], np.int64),
             **{f"past.{l}.{k}": np.zeros((1, 4, 0, 8), np.float32) for l in range(5) for k in ("key", "value")}}
    expected = lowbit.load(library).run(feeds)
    got = lowbit.load(tmp_path / "m.so").run(feeds)
    assert all(np.array_equal(got[name], expected[name]) for name in expected)

    tokens, reference = _reference(shared_models)
    run = subprocess.run([str(tmp_path / "stories"), f"--perplexity={shared_models / MODEL / 'eval_tokens.txt'}"],
                         capture_output=True, text=True, cwd="/")
    assert run.returncode == 0, run.stderr
    match = re.fullmatch(r"perplexity: ([\d.]+) tokens: (\d+)\n", run.stdout)
    assert match and int(match.group(2)) == tokens and round(float(match.group(1)), 3) == reference


def test_demo_script(library, shared_models):
    """The README's main job runs scripts/demo_run.py on the compiled model:
    it must decode beside ONNX Runtime and report a small difference."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "demo_run.py"
    run = subprocess.run([sys.executable, str(script), str(library), str(shared_models / MODEL / f"{MODEL}.onnx")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "text:  Once upon a time" in run.stdout
    difference = float(re.search(r"over all steps and outputs: ([\d.e+-]+)", run.stdout).group(1))
    assert difference <= 1e-4
