#!/usr/bin/env bash
# The main job, end to end as far as lowbit goes today: build, import an ONNX
# model, clean up its graph, check that the IR verifies and round-trips
# through lowbit-opt, and print it (weights elided).
#
#   bash scripts/demo.sh [MODEL.onnx]
#
# Default model: ../shared/models/stories260K/stories260K.onnx.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model=${1:-$root/../shared/models/stories260K/stories260K.onnx}
[ -f "$model" ] || { echo "demo: no such model: $model" >&2; exit 1; }
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")

bash "$root/scripts/build.sh" lowbitc lowbit-opt >&2
bin="$root/${LOWBIT_BUILD_DIR:-build}/bin"
out="$root/${LOWBIT_BUILD_DIR:-build}/demo"
mkdir -p "$out"
ir="$out/$(basename "${model%.onnx}").mlir"

echo "demo: lowbitc $model -o $ir" >&2
"$bin/lowbitc" "$model" --emit=onnx-ir -o "$ir"
echo "demo: lowbit-opt --verify-roundtrip $ir" >&2
"$bin/lowbit-opt" "$ir" --verify-roundtrip -o /dev/null
"$bin/lowbitc" "$model" --elide-weights --quiet -o -
echo "demo: $(grep -c ' = onnx\.' "$ir") onnx ops; full IR with weights in $ir" >&2
