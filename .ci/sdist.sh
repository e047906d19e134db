#!/usr/bin/env bash
# The sdist must be able to pass its own tests: cibuildwheel, and anyone who
# runs `pip install gradfit-*.tar.gz`, build from it. This script
#   1. copies the tree without VCS data, virtualenvs and build outputs,
#   2. builds the sdist from that copy (python -m build --sdist),
#   3. extracts it and builds a wheel from the extracted sdist (pip wheel),
#   4. installs the wheel with its test extras in a fresh virtualenv,
#   5. from an empty working directory (not a source tree), checks that the
#      gradfit imported is the one installed in that virtualenv and runs the
#      extracted sdist's tests against it.
# Self-contained: needs only Python (with venv and pip), a C compiler and
# network access to PyPI. Exits non-zero on any failure. PYTHON selects the
# interpreter (default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
unset PYTHONPATH PYTHONHOME          # the tests must see the installed wheel only
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gradfit-sdist.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/tree" "$WORK/dist" "$WORK/extracted" "$WORK/wheels" "$WORK/cwd"

echo "sdist.sh: copying $ROOT without .git, virtualenvs and build outputs"
tar -C "$ROOT" \
    --exclude=.git --exclude='.venv*' --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache \
    --exclude='*.so' --exclude='*.pyd' --exclude='*.o' --exclude=./src/gradfit/_core.c \
    -cf - . | tar -C "$WORK/tree" -xf -

echo "sdist.sh: building the sdist"
"$PYTHON" -m venv "$WORK/build-venv"
"$WORK/build-venv/bin/python" -m pip install -q --upgrade pip build
"$WORK/build-venv/bin/python" -m build --sdist --outdir "$WORK/dist" "$WORK/tree"
sdists=("$WORK"/dist/gradfit-*.tar.gz)
[ "${#sdists[@]}" -eq 1 ] && [ -f "${sdists[0]}" ] || { echo "sdist.sh: expected one sdist, got: ${sdists[*]}" >&2; exit 1; }
SDIST="${sdists[0]}"
tar -C "$WORK/extracted" -xzf "$SDIST"
SRC="$WORK/extracted/$(basename "$SDIST" .tar.gz)"
[ -d "$SRC" ] || { echo "sdist.sh: $SDIST does not unpack to $(basename "$SRC")/" >&2; exit 1; }

echo "sdist.sh: building a wheel from the extracted $(basename "$SDIST")"
"$WORK/build-venv/bin/python" -m pip wheel -q --no-deps --wheel-dir "$WORK/wheels" "$SRC"
wheels=("$WORK"/wheels/gradfit-*.whl)
[ "${#wheels[@]}" -eq 1 ] && [ -f "${wheels[0]}" ] || { echo "sdist.sh: expected one wheel, got: ${wheels[*]}" >&2; exit 1; }
WHEEL="${wheels[0]}"

echo "sdist.sh: installing $(basename "$WHEEL")[test] in a fresh virtualenv"
"$PYTHON" -m venv "$WORK/test-venv"
VPY="$WORK/test-venv/bin/python"
"$VPY" -m pip install -q --upgrade pip
"$VPY" -m pip install -q "$WHEEL[test]"

cd "$WORK/cwd"
echo "sdist.sh: checking which gradfit is imported (from $PWD)"
"$VPY" - <<'EOF'
import pathlib
import sys
import sysconfig

import gradfit

where = pathlib.Path(gradfit.__file__).resolve()
site = {pathlib.Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
print(f"gradfit imported from {where}")
if not any(where.is_relative_to(s) for s in site) or not where.is_relative_to(pathlib.Path(sys.prefix).resolve()):
    sys.exit(f"sdist.sh: gradfit was imported from {where}, not from this virtualenv's site-packages {sorted(map(str, site))}")
EOF

echo "sdist.sh: running the sdist's tests against the installed wheel"
# The same command as cibuildwheel's test-command in pyproject.toml.
"$VPY" -m pytest "$SRC/tests" -q -p no:cacheprovider -rs
echo "sdist.sh: OK ($(basename "$SDIST") -> $(basename "$WHEEL"): tests pass)"
