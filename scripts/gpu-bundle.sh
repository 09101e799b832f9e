#!/usr/bin/env bash
# Packs what a lent GPU machine needs to check lowbit's CUDA half into
# build/gpu-bundle (a few MiB): that machine has no LLVM/MLIR to build with,
# so everything is built here. Then, with the device tool:
#
#   bash scripts/gpu-bundle.sh
#   run(command="bash build/gpu-bundle/check.sh", carry=["build/gpu-bundle"])
#
# check.sh writes what it saw to $OUT: the GPU unit tests (CudaGpu.*),
# outputs and perplexities of --target=cpu,cuda libraries on the CPU and
# on the GPU (compare them here: bash build/gpu-bundle/compare.sh DIR), and
# the kernel benchmark beside cuBLAS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/build.sh" >&2
build="$root/${LOWBIT_BUILD_DIR:-build}"
bundle="$build/gpu-bundle"
models="$root/../shared/models"
rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/models"
cp "$build/unittests/Runtime/CUDA/CudaRuntimeTests" "$build/bin/lowbit-run" "$bundle/bin/"
[ -x "$build/bin/lowbit-bench-cuda" ] && cp "$build/bin/lowbit-bench-cuda" "$bundle/bin/"
cp "$models/stories260K/eval_tokens.txt" "$bundle/models/"

echo "gpu-bundle: compiling the models (--target=cpu,cuda)" >&2
lowbitc() { "$build/bin/lowbitc" --quiet --target=cpu,cuda "$@"; }
lowbitc "$models/stories260K/stories260K.onnx" -o "$bundle/models/w4g32.so" \
  --quantize=rtn,bits=4,group-size=32
lowbitc "$models/stories260K/stories260K.onnx" -o "$bundle/models/w8a8.so" \
  --quantize=rtn,bits=8,group-size=0,activation-bits=8
lowbitc "$models/tinystories656K/tinystories656K.onnx" -o "$bundle/models/tiny-w4g128.so" \
  --quantize=rtn,bits=4,group-size=128
python3 - "$bundle/models" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(0)
for tokens in (1, 24):
    np.save(f"{sys.argv[1]}/ids{tokens}.npy", rng.integers(1, 512, size=(1, tokens), dtype=np.int64))
PY

cat > "$bundle/check.sh" <<'CHECK'
#!/usr/bin/env bash
# On the GPU machine (see scripts/gpu-bundle.sh). Everything goes to $OUT.
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$here/out}"
mkdir -p "$out"
log="$out/gpu-check.log"
{
  nvidia-smi || true
  echo "== GPU unit tests"
  "$here/bin/CudaRuntimeTests" 2>&1
  for lib in w4g32 w8a8 tiny-w4g128; do
    for tokens in 1 24; do
      for device in cpu cuda; do
        dir="$out/$lib-$tokens-$device"
        mkdir -p "$dir"
        echo "== $lib, $tokens tokens, --device=$device"
        "$here/bin/lowbit-run" "$here/models/$lib.so" --device=$device \
          --input "input_ids=$here/models/ids$tokens.npy" --output-dir "$dir" 2>&1 | tail -3
      done
    done
    for device in cpu cuda; do
      echo "== $lib perplexity, --device=$device"
      "$here/bin/lowbit-run" "$here/models/$lib.so" --device=$device \
        --perplexity="$here/models/eval_tokens.txt" 2>&1 | tail -2
    done
  done
  echo "== kernel benchmark"
  [ -x "$here/bin/lowbit-bench-cuda" ] && "$here/bin/lowbit-bench-cuda" 2>&1
} > "$log" 2>&1
# $OUT brings back 8 files at most: the logits of each run, as one archive.
tar -C "$out" -czf "$out/outputs.tar.gz" $(cd "$out" && ls -d */ 2>/dev/null) && rm -rf "$out"/*/
cat "$log"
CHECK

cat > "$bundle/compare.sh" <<'COMPARE'
#!/usr/bin/env bash
# bash compare.sh DIR: DIR holds check.sh's outputs.tar.gz (from $OUT);
# prints the relative L2 difference of each run's logits on the GPU from
# the same library on the CPU.
set -euo pipefail
dir="$1"
tar -C "$dir" -xzf "$dir/outputs.tar.gz"
python3 - "$dir" <<'PY'
import sys
from pathlib import Path
import numpy as np
root = Path(sys.argv[1])
for cpu in sorted(root.glob("*-cpu")):
    gpu = root / (cpu.name[:-3] + "cuda")
    a = np.load(cpu / "logits.npy").astype(np.float64)
    b = np.load(gpu / "logits.npy").astype(np.float64)
    print(f"{cpu.name[:-4]}: logits relative L2 difference {np.linalg.norm(a - b) / np.linalg.norm(a):.2e}")
PY
COMPARE
echo "gpu-bundle: $bundle ($(du -sh "$bundle" | cut -f1))" >&2
