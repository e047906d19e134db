#!/usr/bin/env bash
# CI: build gradfit with clang in a fresh virtualenv (no cached wheel), check
# that clang really compiled it and that every SIMD path of the CPU was built,
# install torch, onnx and onnxruntime, run the interop tests (failing if any
# is skipped), then the whole test suite against the installed build. Exits
# non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if ! command -v clang >/dev/null 2>&1; then
    apt-get update
    apt-get install -y clang
fi
clang --version | head -1

rm -rf .venv-clang build
python3 -m venv .venv-clang
# shellcheck disable=SC1091
. .venv-clang/bin/activate

LOG=$(mktemp)
CC=clang pip install --no-cache-dir -v ".[test]" 2>&1 | tee "$LOG" | grep -E "^ *gradfit: " || true
# setup.py prints the compiler family it picked; pip -v shows the build output
if ! grep -q "gradfit: compiler family clang" "$LOG"; then
    echo "clang.sh: the build did not use clang (see $LOG)" >&2
    exit 1
fi

# the interop tests' optional packages: this step runs them (every other
# step skips them). torch is pinned to the CPU build on the machine's disk
# (any other version downloads gigabytes).
pip install -q "torch==2.13.0" onnx onnxruntime

# from outside the source tree, so that `import gradfit` is the installed build
cd "$(mktemp -d)"
python -c "import gradfit, sys; print(gradfit.__file__); print(gradfit.config()); sys.exit(not gradfit.__file__.startswith('$ROOT/.venv-clang'))"
# the interop tests must run here, not skip
INTEROP_LOG=$(mktemp)
python -m pytest -q -p no:cacheprovider -rs "$ROOT/tests/test_interop.py" 2>&1 | tee "$INTEROP_LOG"
if grep -q "SKIPPED" "$INTEROP_LOG"; then
    echo "clang.sh: interop tests were skipped (torch, onnx and onnxruntime are installed in this step)" >&2
    exit 1
fi
python -m pytest -q -p no:cacheprovider "$ROOT/tests"
