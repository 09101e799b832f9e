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
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  echo "build: configuring $BUILD_DIR (Release, ccache)" >&2
  cmake -G Ninja -S . -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DPython3_EXECUTABLE="$PYTHON" \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit >/dev/null
fi
echo "build: building ${*:-all targets}" >&2
start=$(date +%s)
cmake --build "$BUILD_DIR" -- "$@"
echo "build: done in $(( $(date +%s) - start )) s" >&2
