#!/usr/bin/env bash
# Installs everything lowbit needs to build and test on a fresh Debian bookworm machine.
# Idempotent: when everything is already present it only checks and returns in a few seconds.
set -euo pipefail

APT_PACKAGES=(
  cmake ninja-build ccache g++ pkg-config
  llvm-22-dev libmlir-22-dev mlir-22-tools clang-22 llvm-22-tools
  libonnx-dev libprotobuf-dev protobuf-compiler
  libeigen3-dev libgtest-dev
  python3 python3-pip
)
# onnx-ir: onnxruntime.quantization.matmul_nbits_quantizer imports it (the tests
# quantize models with ONNX Runtime's own tool to check lowbit reads them).
# ml_dtypes < 0.6: ONNX leaves a float cast to int4/int2 out of range
# undefined; onnx's reference (which computes the backend suite's expected
# outputs) casts with ml_dtypes, which wraps like lowbit up to 0.5 and gives 0
# from 0.6 on. onnx itself needs >= 0.5.4.
PY_PACKAGES=(onnx onnxruntime onnx-ir numpy pytest pytest-xdist lit "ml_dtypes<0.6")

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" - <<'PY' 2>/dev/null
import importlib, sys
for m in ("onnx", "onnxruntime", "onnx_ir", "numpy", "pytest", "xdist", "lit"):
    importlib.import_module(m)
import ml_dtypes
sys.exit(tuple(map(int, ml_dtypes.__version__.split(".")[:2])) >= (0, 6))
PY
then
  echo "install-deps: pip install ${PY_PACKAGES[*]}" >&2
  "$PYTHON" -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
echo "install-deps: all dependencies present" >&2
