#!/usr/bin/env bash
# Builds lowbit and runs every test: lit (IR, importer, tools) and pytest
# (ONNX backend node tests, real and synthetic models, Python API). Ends with
# one summary line: "tests: N passed, N failed".
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -k gpt2    # extra arguments go to pytest
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
BUILD_DIR=${LOWBIT_BUILD_DIR:-build}

bash scripts/build.sh || { echo "tests: 0 passed, 1 failed (build)"; exit 1; }

echo "== lit" >&2
lit_log=$(mktemp)
/usr/lib/llvm-22/bin/lit -sv "$BUILD_DIR/test" "$BUILD_DIR/unittests" | tee "$lit_log"
lit_rc=${PIPESTATUS[0]}
lit_passed=$(grep -oE "Passed *: *[0-9]+" "$lit_log" | grep -oE "[0-9]+$" || echo 0)
lit_failed=$(grep -oE "(Failed|Unresolved|Timed Out|Unexpectedly Passed) *: *[0-9]+" "$lit_log" \
             | grep -oE "[0-9]+$" | awk '{s += $1} END {print s + 0}')
[ -n "$lit_failed" ] || lit_failed=0
[ "$lit_rc" -eq 0 ] || [ "$lit_failed" -gt 0 ] || lit_failed=1

echo "== pytest" >&2
py_log=$(mktemp)
LOWBIT_TOOLS_DIR="$PWD/$BUILD_DIR/bin" python3 -m pytest -q -n auto -p no:cacheprovider python/tests "$@" \
  | tee "$py_log"
py_rc=${PIPESTATUS[0]}
summary=$(tail -n 1 "$py_log")
py_passed=$(grep -oE "[0-9]+ passed" <<<"$summary" | grep -oE "[0-9]+" || echo 0)
py_failed=$(grep -oE "[0-9]+ (failed|error|errors)" <<<"$summary" | grep -oE "[0-9]+" | awk '{s += $1} END {print s + 0}')
[ -n "$py_failed" ] || py_failed=0
[ "$py_rc" -eq 0 ] || [ "$py_failed" -gt 0 ] || py_failed=1
rm -f "$lit_log" "$py_log"

passed=$((lit_passed + py_passed))
failed=$((lit_failed + py_failed))
echo "test.sh: finished in $(( $(date +%s) - start )) s"
echo "lit: $lit_passed passed, $lit_failed failed; pytest: $py_passed passed, $py_failed failed"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
