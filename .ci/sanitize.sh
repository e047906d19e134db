#!/usr/bin/env bash
# CI: build the extension with gcc under AddressSanitizer and
# UndefinedBehaviorSanitizer (plus float-cast-overflow, which GCC leaves out
# of "undefined") in a temporary copy of the source tree and run
# the whole test suite against it. Exits non-zero on a test failure or on any
# sanitizer report (UBSan halts on the first one; ASan always does).
#   GRADFIT_SANITIZE_TESTS="tests/test_x.py ..."  runs only those tests
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$(date +%s)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# the project's files (tracked, or new and not ignored): no build outputs
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$WORK"

SAN="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow -fno-omit-frame-pointer"
cd "$WORK"
CC=gcc CFLAGS="$SAN -g" LDFLAGS="$SAN" GRADFIT_CFLAGS="-O1 -g" \
    python3 setup.py build_ext --inplace --force 2>&1 | grep -E "^gradfit: |error" || true
ls src/gradfit/_core*.so >/dev/null

export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0"       # CPython's own allocations
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYTHONPATH="$WORK/src"
status=0
# --capture=sys: pytest captures Python's output only, so a sanitizer report
# (written to fd 2 by C, just before the process stops) reaches stderr
# shellcheck disable=SC2086
python3 -m pytest -q -p no:cacheprovider --capture=sys ${GRADFIT_SANITIZE_TESTS:-tests} \
    2> >(tee "$WORK/stderr.log" >&2) || status=$?
unset LD_PRELOAD
sleep 1    # let tee finish

if grep -qE "runtime error|ERROR: AddressSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer" "$WORK/stderr.log"; then
    echo "sanitize.sh: sanitizer report(s) above" >&2
    status=1
fi
echo "sanitize.sh: $(( $(date +%s) - START )) s, exit status $status"
exit $status
