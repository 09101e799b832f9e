"""Locating and running lowbit's command-line tools."""
import os
import shutil
import subprocess
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[2]


class CompileError(RuntimeError):
    """A lowbit tool failed; the message is its diagnostics."""


def find_tool(name):
    """The path of a lowbit tool (lowbitc, lowbit-opt, ...)."""
    candidates = []
    if os.environ.get("LOWBIT_TOOLS_DIR"):
        candidates.append(Path(os.environ["LOWBIT_TOOLS_DIR"]) / name)
    candidates.append(_SOURCE_ROOT / "build" / "bin" / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"cannot find {name}: build lowbit (see README.md) or set LOWBIT_TOOLS_DIR")


def _run(args):
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise CompileError(result.stderr.strip() or f"{args[0]} exited with {result.returncode}")
    return result


def compile(onnx_path, output, emit=None, simplify=True, quantize=(), calib=None, recipe=None,
            target=None, extra_args=()):
    """Compiles `onnx_path` (a model, or IR saved by lowbitc) with lowbitc,
    writing `output`. Raises CompileError.

    `emit` is lowbitc's --emit (onnx-ir, lowbit-ir, llvm-ir, obj, lib, exe);
    by default the output's extension chooses (.so: lib, .o: obj, .ll:
    llvm-ir, else the IR). `quantize`: --quantize steps, e.g.
    ["gptq,bits=4,group-size=32"]; `calib`: calibration data (token ids, one
    sequence per line, or an int64 .npy); `recipe`: a YAML/JSON recipe;
    `target`: lowbitc's --target (cpu, the default, or "cpu,cuda")."""
    args = [find_tool("lowbitc"), str(onnx_path), "-o", str(output), "--quiet",
            f"--simplify={'true' if simplify else 'false'}",
            *[f"--quantize={step}" for step in quantize], *extra_args]
    if calib:
        args.append(f"--calib={calib}")
    if recipe:
        args.append(f"--recipe={recipe}")
    if target:
        args.append(f"--target={target}")
    if emit:
        args.append(f"--emit={emit}")
    _run(args)
    return output


def import_onnx(onnx_path, simplify=True, extra_args=()):
    """The onnx dialect IR of a model, as text. Raises CompileError."""
    args = [find_tool("lowbitc"), str(onnx_path), "--emit=onnx-ir", "-o", "-", "--quiet",
            f"--simplify={'true' if simplify else 'false'}", *extra_args]
    return _run(args).stdout


def supported_ops():
    """{(domain, name): [versions]} of the ONNX operators lowbit imports."""
    ops = {}
    for line in _run([find_tool("lowbitc"), "--list-ops"]).stdout.splitlines():
        name, _, rest = line.partition("  versions ")
        domain, _, op = name.rpartition(".")
        versions = [int(v) for v in rest.split("  (")[0].split()]
        ops[(domain, op)] = versions
    return ops
