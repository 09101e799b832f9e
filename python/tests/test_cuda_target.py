"""lowbitc --target=cpu,cuda on machines with and without a GPU (docs/CUDA.md).

- A library compiled for cpu,cuda runs on the CPU where there is no GPU,
  says so (lowbit-run's device line, lowbit.Model.device) and refuses
  --device=cuda / device="cuda" with the reason; --target asks only for what
  this build can produce.
- Through the CPU emulator of the CUDA kernels exported as libcuda.so.1
  (unittests/Runtime/CUDA/Emulator/FakeDriver) the same library runs its
  quantized products "on the GPU" with the real offload path (weights
  uploaded once per instance, repacked into the kernels' layout; activations
  up and results down per product): W4 g32 decode (the GEMV) and prompt (the
  tensor-core GEMM) on the shared model, and W8A8 with LLM.int8 outlier
  channels (the int8 kernel with its fp32 outlier product) on a synthetic
  LLaMA with planted outliers. The device line counts the products the GPU
  took, and the outputs match the CPU path of the same library.

Tolerances of the emulated-GPU comparison (logits, relative L2), where a
wrong kernel (a swapped fragment, a lost group, a missing outlier product)
is off by order one:
- W4: the weight-only kernels round the activations to f16, a relative
  2^-11 = 4.9e-4 of sum |x w| per product, fp32 otherwise; through the five
  layers (each output feeding the next products) 1e-2 allows about 20
  products' worth of 2^-11 (measured 6e-5 decode, 1.5e-4 prompt).
- W8A8: the integer sums are exact and everything else fp32, so the paths
  differ by summation order (~1e-7, measured 5e-7), unless an activation
  lands within that rounding of a level boundary and moves one level (1/127
  of its row's largest value; either level is the op's definition). Such a
  move, carried through the layers after it (the planted outlier channels
  and the softmax amplify it), measured 3.8e-3 on this model (1 of 12
  inputs, on a CPU whose AVX-512 VNNI kernel sums in another order than the
  AVX2 and GPU ones). So of three inputs the median must agree to 1e-5 (no
  move: the kernels agree), and each to 1e-2.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lowbit
from lowbit.testing.synthetic import make_llama

MODEL = "stories260K"
W4_TOLERANCE = 1e-2
W8A8_TOLERANCE = 1e-2  # any input (an activation may move one level)
W8A8_AGREEMENT = 1e-5  # the median of three inputs (summation order only)


def _fake_driver_dir():
    build = Path(lowbit.find_tool("lowbitc")).resolve().parent.parent
    return build / "unittests" / "Runtime" / "CUDA" / "Emulator" / "FakeDriver"


def _has_cuda_runtime():
    build = Path(lowbit.find_tool("lowbitc")).resolve().parent.parent
    return (build / "lib" / "liblowbit_cuda_runtime.a").exists()


pytestmark = pytest.mark.skipif(not _has_cuda_runtime(),
                                reason="this build of lowbit has no CUDA runtime (nvcc not found)")


def _run(args, fake_gpu=False, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    if fake_gpu:
        env["LD_LIBRARY_PATH"] = f"{_fake_driver_dir()}:{env.get('LD_LIBRARY_PATH', '')}"
    return subprocess.run([lowbit.find_tool("lowbit-run"), *map(str, args)], capture_output=True,
                          text=True, env=env)


def _device_line(stderr):
    lines = [line for line in stderr.splitlines() if line.startswith("lowbit-run: device: ")]
    assert len(lines) == 1, stderr
    return lines[0][len("lowbit-run: device: "):]


@pytest.fixture(scope="module")
def w4_library(shared_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("cuda") / f"{MODEL}-w4.so"
    lowbit.compile(shared_models / MODEL / f"{MODEL}.onnx", out, quantize=["rtn,bits=4,group-size=32"],
                   target="cpu,cuda", extra_args=["-O0"])
    return out


def test_cpu_cuda_library_runs_on_the_cpu_without_a_gpu(w4_library, tmp_path):
    if (Path("/dev/nvidia0")).exists():
        pytest.skip("a GPU is present: this checks the machine without one")
    auto = _run([w4_library, "--output-dir", tmp_path])
    assert auto.returncode == 0, auto.stderr
    assert _device_line(auto.stderr).startswith("cpu (no GPU: libcuda.so.1 not found"), auto.stderr
    forced = _run([w4_library, "--device=cuda"])
    assert forced.returncode == 1 and "device cuda: libcuda.so.1 not found" in forced.stderr, forced.stderr
    model = lowbit.load(w4_library)
    assert model.device.startswith("cpu (no GPU:")
    with pytest.raises(lowbit.ModelRunError, match="unavailable: device cuda"):
        lowbit.load(w4_library, device="cuda")


def test_cpu_only_library_refuses_cuda(shared_models, tmp_path):
    out = tmp_path / "cpu.so"
    lowbit.compile(shared_models / MODEL / f"{MODEL}.onnx", out, extra_args=["-O0"])
    run = _run([out, "--device=cuda"])
    assert run.returncode == 1 and "holds no CUDA code" in run.stderr, run.stderr
    assert _device_line(_run([out]).stderr) == "cpu"


@pytest.mark.parametrize("target, message", [
    ("cuda", "the whole graph on the GPU is not built yet"),
    ("cpu,cuda:sm_61", "'sm_61' is not among the architectures"),
    ("tpu", "expected cpu or cpu,cuda"),
])
def test_unbuildable_targets_are_clear_errors(shared_models, tmp_path, target, message):
    with pytest.raises(lowbit.CompileError, match=message):
        lowbit.compile(shared_models / MODEL / f"{MODEL}.onnx", tmp_path / "x.so", target=target)
    assert not (tmp_path / "x.so").exists()


def test_emit_ptx_writes_the_kernels_for_the_asked_architectures(shared_models, tmp_path):
    model = shared_models / MODEL / f"{MODEL}.onnx"
    lowbit.compile(model, tmp_path / "k.ptx", emit="ptx", target="cpu,cuda:sm_80")
    text = (tmp_path / "k.ptx").read_text()
    sections = [line for line in text.splitlines() if line.startswith("// ===== ")]
    files = ("Int8Gemm", "KVAttention", "QuantizedGemm", "QuantizedGemv")
    assert sections == [f"// ===== {name}.sm_80.ptx =====" for name in files]
    assert text.count(".target sm_80") == len(files) and ".target sm_90" not in text
    for entry in ("lowbit_cuda_w4_gemv_f32", "lowbit_cuda_w4_gemm_f32", "lowbit_cuda_w8_gemm_f32",
                  "lowbit_cuda_w8a8_gemm_f32", "lowbit_cuda_quantize_rows_i8",
                  "lowbit_cuda_attention_decode_f32"):
        assert f".visible .entry {entry}(" in text
    assert "mma.sync.aligned.m16n8k16" in text and "mma.sync.aligned.m16n8k32" in text
    with pytest.raises(lowbit.CompileError, match="--emit=ptx writes the CUDA kernels of --target=cpu,cuda"):
        lowbit.compile(model, tmp_path / "x.ptx", emit="ptx")


def _compare(library, tmp_path, inputs, expect_on_gpu):
    """Runs `library` on the CPU and on the emulated GPU; returns the
    device line of the latter and the logits' relative L2 difference."""
    args = [library]
    for name, array in inputs.items():
        np.save(tmp_path / f"{name}.npy", array)
        args += ["--input", f"{name}={tmp_path / f'{name}.npy'}"]
    (tmp_path / "cpu").mkdir()
    (tmp_path / "gpu").mkdir()
    cpu = _run([*args, "--device=cpu", "--output-dir", tmp_path / "cpu"])
    gpu = _run([*args, "--output-dir", tmp_path / "gpu"], fake_gpu=True)
    assert cpu.returncode == 0 and gpu.returncode == 0, cpu.stderr + gpu.stderr
    assert _device_line(cpu.stderr) == "cpu"
    device = _device_line(gpu.stderr)
    assert device.startswith("cuda (lowbit CUDA emulator (CPU)): "), device
    on_gpu, total = map(int, device.split(": ")[1].split(" quantized")[0].split(" of "))
    assert on_gpu >= expect_on_gpu and total >= on_gpu, device
    a = np.load(tmp_path / "cpu" / "logits.npy").astype(np.float64)
    b = np.load(tmp_path / "gpu" / "logits.npy").astype(np.float64)
    return device, float(np.linalg.norm(a - b) / np.linalg.norm(a))


@pytest.mark.parametrize("tokens", [1, 20])  # the GEMV (m <= 8), the tensor-core GEMM
def test_w4_products_on_the_emulated_gpu_match_the_cpu(w4_library, tmp_path, tokens):
    ids = np.random.default_rng(tokens).integers(1, 512, size=(1, tokens), dtype=np.int64)
    # 5 layers x (q, k, v, o, w1, w3) and the head take k = 64 (w2's k = 172
    # is not a multiple of 32: the CPU runs it).
    device, error = _compare(w4_library, tmp_path, {"input_ids": ids}, expect_on_gpu=31)
    print(f"{tokens} tokens: {device}; logits relative error {error:.2e}")
    assert error <= W4_TOLERANCE


def test_a_model_quantized_by_onnxruntime_runs_on_the_emulated_gpu(shared_models, tmp_path):
    # MatMulNBits nodes (ONNX Runtime's 4-bit quantizer, zero points, blocks
    # of 32) become lowbit.quantized_matmul, which the offload takes like
    # lowbit's own. Accuracy level 4 asks for int8 activations, which the
    # GPU kernels do not take: for a library with CUDA code lowbitc keeps
    # f32 activations (--matmul-nbits-activations=auto), so the products
    # still run on the GPU.
    quantizer = pytest.importorskip("onnxruntime.quantization.matmul_nbits_quantizer")
    import onnx

    tool = quantizer.MatMulNBitsQuantizer(
        onnx.load(shared_models / MODEL / f"{MODEL}.onnx"),
        algo_config=quantizer.DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=False, bits=4,
                                                           accuracy_level=4))
    tool.process()
    onnx.save(tool.model.model, tmp_path / "nbits.onnx")
    library = tmp_path / "nbits.so"
    lowbit.compile(tmp_path / "nbits.onnx", library, target="cpu,cuda", extra_args=["-O0"])
    ids = np.random.default_rng(7).integers(1, 512, size=(1, 20), dtype=np.int64)
    device, error = _compare(library, tmp_path, {"input_ids": ids}, expect_on_gpu=31)
    print(f"{device}; logits relative error {error:.2e}")
    assert error <= W4_TOLERANCE


def test_a_gpu_failing_mid_run_leaves_the_rest_to_the_cpu(w4_library, tmp_path):
    """The emulated GPU fails every launch after the fifth: the run still
    succeeds, with the outputs of the CPU path (the products the GPU ran
    before agree with it within W4's tolerance), and the device line says
    the GPU failed and why."""
    ids = np.random.default_rng(3).integers(1, 512, size=(1, 4), dtype=np.int64)
    np.save(tmp_path / "ids.npy", ids)
    (tmp_path / "cpu").mkdir()
    (tmp_path / "gpu").mkdir()
    args = [w4_library, "--input", f"input_ids={tmp_path / 'ids.npy'}"]
    cpu = _run([*args, "--device=cpu", "--output-dir", tmp_path / "cpu"])
    failing = _run([*args, "--output-dir", tmp_path / "gpu"], fake_gpu=True,
                   env_extra={"LOWBIT_EMULATOR_FAIL_AFTER": "5"})
    assert cpu.returncode == 0 and failing.returncode == 0, cpu.stderr + failing.stderr
    device = _device_line(failing.stderr)
    assert device.startswith("cpu (the GPU failed: launching lowbit_cuda_") and "CUDA error 719" in device, device
    a = np.load(tmp_path / "cpu" / "logits.npy").astype(np.float64)
    b = np.load(tmp_path / "gpu" / "logits.npy").astype(np.float64)
    assert np.linalg.norm(a - b) / np.linalg.norm(a) <= W4_TOLERANCE


def test_two_instances_run_concurrently_on_the_emulated_gpu(w4_library, tmp_path):
    """Two instances of one cpu,cuda library, each with its own device
    weights, run from two threads at once (the C API's promise), and each
    gives what one instance alone gives: bit for bit here, where the
    emulator runs a launch's blocks in order (on a GPU, split-K's atomic
    adds would only agree to rounding)."""
    script = tmp_path / "concurrent.py"
    script.write_text(f"""
import sys, threading
import numpy as np
sys.path.insert(0, {str(Path(lowbit.__file__).parents[1])!r})
import lowbit
ids = np.random.default_rng(5).integers(1, 512, size=(1, 12), dtype=np.int64)
def feeds(model):
    past = {{s.name: np.zeros((1, s.shape[1], 0, s.shape[3]), np.float32)
            for s in model.inputs if s.name.startswith("past.")}}
    return {{"input_ids": ids, **past}}
alone = lowbit.load({str(w4_library)!r})
assert alone.device.startswith("cuda"), alone.device
expected = alone.run(feeds(alone))["logits"]
models = [lowbit.load({str(w4_library)!r}) for _ in range(2)]
results, errors = [[], []], []
def work(i):
    try:
        for _ in range(3):
            results[i].append(models[i].run(feeds(models[i]))["logits"])
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
for got in results[0] + results[1]:
    assert np.array_equal(got, expected)
print("ok", models[0].device)
""")
    env = dict(os.environ, LD_LIBRARY_PATH=f"{_fake_driver_dir()}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
    assert run.returncode == 0 and run.stdout.startswith("ok cuda"), run.stdout + run.stderr


def test_w8a8_with_outlier_channels_on_the_emulated_gpu_matches_the_cpu(tmp_path):
    onnx_path = make_llama(tmp_path / "planted.onnx", ffn=192, outlier_channels=[5, 22, 37],
                           outlier_scale=100.0)
    calib = tmp_path / "calib.txt"
    rng = np.random.default_rng(1)
    calib.write_text("\n".join(" ".join(map(str, row)) for row in rng.integers(2, 128, (8, 48))) + "\n")
    library = tmp_path / "w8a8.so"
    lowbit.compile(onnx_path, library, quantize=["split-outliers,threshold=6", "w8a8"], calib=calib,
                   target="cpu,cuda", extra_args=["-O0"])
    errors = []
    for seed in (2, 3, 4):
        ids = np.random.default_rng(seed).integers(2, 128, size=(1, 24), dtype=np.int64)
        (tmp_path / str(seed)).mkdir()
        # 2 layers x 7 products and the head, every one W8A8 with k = 64 or 192.
        device, error = _compare(library, tmp_path / str(seed), {"input_ids": ids}, expect_on_gpu=15)
        print(f"{device}; logits relative error {error:.2e}")
        errors.append(error)
    assert max(errors) <= W8A8_TOLERANCE
    assert sorted(errors)[1] <= W8A8_AGREEMENT
