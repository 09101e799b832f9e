#!/usr/bin/env bash
# Installs the dependencies (scripts/install-deps.sh), configures a Release
# build in build/ (ccache, Ninja) and builds lowbit. Re-running rebuilds only
# what changed.
#
#   bash scripts/build.sh [ninja targets...]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

BUILD_DIR=${LOWBIT_BUILD_DIR:-build}
# ccache keys on paths relative to the checkout, so that every clone (CI's
# included) shares one cache.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
PYTHON=$(command -v python3)
# The runtime's C micro-kernels are compiled by clang-22 where it is
# installed (install-deps installs it): GCC 12 keeps the AVX-512 VNNI
# tiles' accumulators in memory (4096 x 4096 W4A8, 16 and 64 rows: 1.6-1.8x
# the time). C++ stays with the system compiler.
C_COMPILER=$(command -v clang-22 || command -v cc)
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  echo "build: configuring $BUILD_DIR (Release, ccache, C: $C_COMPILER)" >&2
  cmake -G Ninja -S . -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$C_COMPILER" \
    -DPython3_EXECUTABLE="$PYTHON" \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit >/dev/null
fi
echo "build: building ${*:-all targets}" >&2
start=$(date +%s)
cmake --build "$BUILD_DIR" -- "$@"
echo "build: done in $(( $(date +%s) - start )) s" >&2
