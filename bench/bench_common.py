"""What the benchmark scripts share: timing, ONNX Runtime sessions and
lowbit libraries built the same way for every comparison."""
import statistics
import subprocess
import sys
import time
from pathlib import Path

import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
import lowbit  # noqa: E402


def median_ms(fn, min_runs=3, budget_s=2.0):
    """Median wall time of fn() in ms: one warm-up, then at least `min_runs`
    runs and more while `budget_s` lasts (50 at most)."""
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < budget_s and len(times) < 50):
        t = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t))
    return statistics.median(times)


def interleaved_median_ms(fns, rounds=7, budget_s=3.0):
    """{name: median wall time of fn() in ms} for the callables in `fns`,
    measured in alternating rounds (each runs a few times per round) so that
    drift in the machine's speed touches all of them alike."""
    for fn in fns.values():
        fn()
    start = time.perf_counter()
    for fn in fns.values():
        fn()
    per_round = max(1, int(budget_s / rounds / max(time.perf_counter() - start, 1e-6)))
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            for _ in range(per_round):
                fn()
            times[name].append(1e3 * (time.perf_counter() - t) / per_round)
    return {name: statistics.median(values) for name, values in times.items()}


def ort_session(model, threads):
    """A CPU session with `threads` intra-op threads (model: path or bytes)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if threads > 1:
        # ORT's idle workers spin after a run; on a 2-core machine they took
        # the core lowbit's worker needed when the two alternate (measured:
        # lowbit's 2-thread MatMul no faster than 1 thread until this was
        # off). lowbit's workers sleep on a condition variable.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model) if isinstance(model, Path) else model, options,
                                providers=["CPUExecutionProvider"])


def compile_lowbit(onnx_path, out, threads, extra_args=()):
    """lowbitc -O3 to a library, loaded with `threads` threads."""
    subprocess.run([lowbit.find_tool("lowbitc"), str(onnx_path), "--emit=lib", "-O3", "--quiet", "-o", str(out),
                    *extra_args], check=True)
    model = lowbit.load(out)
    model.set_num_threads(threads)
    return model
