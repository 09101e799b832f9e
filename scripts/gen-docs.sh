#!/usr/bin/env bash
# Regenerates the documentation that comes from the code: the dialect and
# pass references (TableGen descriptions) and the supported-operator list
# (lowbitc --list-ops). A test checks that docs/ matches what this writes.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${LOWBIT_BUILD_DIR:-build}
bash scripts/build.sh lowbit-doc lowbitc >&2
mkdir -p docs/Dialects docs/Passes
cp "$BUILD_DIR/docs/Dialects/OnnxDialect.md" docs/Dialects/OnnxDialect.md
cp "$BUILD_DIR/docs/Dialects/LowbitDialect.md" docs/Dialects/LowbitDialect.md
cp "$BUILD_DIR/docs/Passes/OnnxPasses.md" docs/Passes/OnnxPasses.md
cp "$BUILD_DIR/docs/Passes/LowbitPasses.md" docs/Passes/LowbitPasses.md
cp "$BUILD_DIR/docs/Passes/ConversionPasses.md" docs/Passes/ConversionPasses.md
cp "$BUILD_DIR/docs/Passes/TransformsPasses.md" docs/Passes/TransformsPasses.md
python3 scripts/supported_ops_md.py "$BUILD_DIR/bin/lowbitc" > docs/SupportedOps.md
echo "gen-docs: wrote docs/Dialects/{Onnx,Lowbit}Dialect.md, docs/Passes/*.md, docs/SupportedOps.md" >&2
