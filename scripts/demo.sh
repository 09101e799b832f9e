#!/usr/bin/env bash
# The main job, end to end: build lowbit, compile an ONNX model to a shared
# library for this CPU, and run it (greedy decoding through its KV cache for
# a language model) beside ONNX Runtime, reporting the difference.
#
#   bash scripts/demo.sh [MODEL.onnx]
#
# Default model: ../shared/models/stories260K/stories260K.onnx.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model=${1:-$root/../shared/models/stories260K/stories260K.onnx}
[ -f "$model" ] || { echo "demo: no such model: $model" >&2; exit 1; }
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")

bash "$root/scripts/build.sh" >&2
bin="$root/${LOWBIT_BUILD_DIR:-build}/bin"
out="$root/${LOWBIT_BUILD_DIR:-build}/demo"
mkdir -p "$out"
name=$(basename "${model%.onnx}")

echo "demo: lowbitc $model --emit=onnx-ir -o $out/$name.mlir" >&2
"$bin/lowbitc" "$model" --emit=onnx-ir -o "$out/$name.mlir"
"$bin/lowbit-opt" "$out/$name.mlir" --verify-roundtrip -o /dev/null
echo "demo: lowbitc $model --emit=lib -o $out/$name.so" >&2
"$bin/lowbitc" "$model" --emit=lib -o "$out/$name.so"
echo "demo: running $out/$name.so beside ONNX Runtime" >&2
python3 "$root/scripts/demo_run.py" "$out/$name.so" "$model"
