#!/usr/bin/env bash
# CI: type-check the package with mypy (settings in pyproject.toml's
# [tool.mypy]; src/gradfit/_core.pyi types the compiled module, so nothing
# needs building). Self-contained: makes its own virtualenv with numpy (its
# type stubs) and mypy. Exits non-zero on any type error. PYTHON selects the
# interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
unset PYTHONPATH PYTHONHOME
VENV="$(mktemp -d "${TMPDIR:-/tmp}/gradfit-mypy.XXXXXX")"
trap 'rm -rf "$VENV"' EXIT
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q mypy "numpy>=1.25"
"$VENV/bin/python" -m mypy --version
"$VENV/bin/python" -m mypy src/gradfit
