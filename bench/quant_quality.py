#!/usr/bin/env python3
"""Perplexity of the shared models under each weight quantization recipe.

    python3 bench/quant_quality.py [--out docs/QuantizationResults.md]

Calibrates ../shared/models/{stories260K,tinystories656K} once on their
calib_tokens.txt (`lowbitc --calib=... --emit=lowbit-ir`), compiles the
saved IR with each `--quantize=...` recipe and measures perplexity on
eval_tokens.txt with lowbit-run (one prompt per sequence). Columns are the
methods (AWQ+GPTQ: `--quantize=awq,... --quantize=gptq,...`, AWQ only
rescaling), rows the schemes, all on the asymmetric grid (a zero point per
group). Writes a Markdown table (and prints it).
"""
import argparse
import datetime
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
import lowbit  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"
MODELS = ["stories260K", "tinystories656K"]
# (label, bits, group size (0 = per output channel), activation bits (0: fp32))
SCHEMES = [("W8 per-channel", 8, 0, 0), ("W4 per-channel", 4, 0, 0), ("W4 g128", 4, 128, 0), ("W4 g64", 4, 64, 0),
           ("W4 g32", 4, 32, 0), ("W3 g32", 3, 32, 0), ("W2 g32", 2, 32, 0),
           ("W8 per-channel, int8 activations", 8, 0, 8), ("W4 g32, int8 activations", 4, 32, 8)]
# GPTQ twice: with the reference defaults, and with the options its
# reference implementation offers for quality (act-order with static groups,
# and its quantizer's clipping search), which the tests' gate uses.
GPTQ_QUALITY = "gptq,act-order=true,static-groups=true,clip=true"
METHODS = {"RTN": ["rtn"], "GPTQ": ["gptq"], "GPTQ ao+clip": [GPTQ_QUALITY], "AWQ": ["awq"],
           "AWQ+GPTQ": ["awq", "gptq"]}


def perplexity(library, tokens):
    run = subprocess.run([lowbit.find_tool("lowbit-run"), str(library), f"--perplexity={tokens}"],
                         capture_output=True, text=True, check=True)
    return float(re.fullmatch(r"perplexity: ([\d.]+) tokens: \d+\n", run.stdout).group(1))


def compile_model(model_path, out, steps):
    subprocess.run([lowbit.find_tool("lowbitc"), str(model_path), "-O1", "--quiet", "-o", str(out), *steps],
                   check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="also write the table to this Markdown file")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            onnx_path, tokens = SHARED / model / f"{model}.onnx", SHARED / model / "eval_tokens.txt"
            calibrated = Path(tmp) / f"{model}.mlir"
            compile_model(onnx_path, calibrated, [f"--calib={SHARED / model / 'calib_tokens.txt'}",
                                                  "--emit=lowbit-ir"])
            compile_model(calibrated, Path(tmp) / "fp32.so", [])
            base = perplexity(Path(tmp) / "fp32.so", tokens)
            lines.append(f"\n### {model} (fp32 perplexity {base:.4f})\n")
            lines.append("| scheme | " + " | ".join(METHODS) + " |")
            lines.append("| --- |" + " --- |" * len(METHODS))
            for label, bits, group, activations in SCHEMES:
                cells = []
                for method, steps in METHODS.items():
                    out = Path(tmp) / f"{method.replace(' ', '_')}_{bits}_{group}_{activations}.so"
                    compile_model(calibrated, out, [f"--quantize={step},bits={bits},group-size={group},"
                                                    f"symmetric=false,activation-bits={activations}"
                                                    for step in steps])
                    value = perplexity(out, tokens)
                    cells.append(f"{value:.4f} ({100 * (value / base - 1):+.2f} %)")
                    print(f"{model} {label} {method}: {value:.4f}", file=sys.stderr)
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
    text = (f"# Weight quantization: perplexity\n\nProduced by `python3 bench/quant_quality.py --out "
            f"docs/QuantizationResults.md` on {datetime.date.today()}: each model calibrated on its "
            "calib_tokens.txt (`lowbitc --calib`), then compiled with `lowbitc --quantize=METHOD,bits=B,"
            "group-size=G,symmetric=false` (the pass defaults otherwise, but for GPTQ ao+clip: `gptq,act-order=true,"
            "static-groups=true,clip=true`; asymmetric grid, GPTQ's "
            "convention; group size 0 = one scale per output channel; every MatMul by a constant weight "
            "quantized, lm_head included; int8 activations: each row quantized per token, "
            "activation-bits=8), perplexity on the model's eval_tokens.txt by `lowbit-run --perplexity`, "
            "one prompt per sequence. In parentheses: the change from fp32.\n" + "\n".join(lines) + "\n")
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
