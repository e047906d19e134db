#!/usr/bin/env bash
# CI: the C core (csrc/) cross-compiled for aarch64 and checked under
# qemu-user, without Python; then NEON vectorization of its hot loops.
#   1. installs gcc-aarch64-linux-gnu and qemu-user with apt-get if missing;
#   2. builds tests/c/check_core.c with every csrc/*.c for aarch64 (on aarch64
#      the x86 variants compile to nothing: the baseline build is the one
#      that runs, and NEON is part of that baseline, no flags needed), with
#      the flags setup.py uses for GCC, and runs it under qemu-aarch64: it
#      compares gf_predict, gf_loss_grad and gf_train (both dtypes) against
#      plain loops;
#   3. builds and runs the same driver natively (every SIMD path of this CPU);
#   4. compiles the baseline kernels for aarch64 with -fopt-info-vec and
#      fails unless each hot function (products and their micro-kernel,
#      activations, loss gradient, softmax cross-entropy, sgd update) has a vectorized loop, and the objects hold NEON
#      fused multiply-adds (fmla on .4s / .2d vectors).
# Self-contained; needs root for apt-get (or the packages already present).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

CROSS=aarch64-linux-gnu-gcc
if ! command -v "$CROSS" >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1; then
    echo "aarch64.sh: installing gcc-aarch64-linux-gnu and qemu-user"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q gcc-aarch64-linux-gnu qemu-user
fi
"$CROSS" --version | head -1
qemu-aarch64 --version | head -1

# The GCC flags of setup.py (FLAGS["gcc"]) plus -pthread for the thread pool.
CFLAGS=(-O3 -fopenmp-simd -fno-trapping-math -fno-math-errno -fno-tree-loop-distribute-patterns -pthread
        -Wall -Wextra -Icsrc)
SOURCES=(tests/c/check_core.c csrc/*.c)
OUT="$(mktemp -d "${TMPDIR:-/tmp}/gradfit-aarch64.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT

echo "aarch64.sh: cross-compiling the C core and tests/c/check_core.c for aarch64"
"$CROSS" "${CFLAGS[@]}" "${SOURCES[@]}" -lm -o "$OUT/check_core_aarch64"
file "$OUT/check_core_aarch64" 2>/dev/null || true
echo "aarch64.sh: running it under qemu-aarch64"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$OUT/check_core_aarch64"

echo "aarch64.sh: the same driver, native ($(uname -m)), every SIMD path of this CPU"
"${CC:-cc}" "${CFLAGS[@]}" "${SOURCES[@]}" -lm -o "$OUT/check_core_native"
"$OUT/check_core_native" | tail -1

echo "aarch64.sh: NEON vectorization of the baseline kernels (-O3 -fopt-info-vec)"
# A hot function's body: from its definition line (unindented `... FN(name)(`) to the
# first line that is a lone `}`. Every one of them must hold a vectorized loop.
HOT_OPS="act_forward act_backward loss_backward ce_rows"
HOT_OPTIM="optim_range"
HOT_LANES="lanes_dense lanes_loss_k lanes_chunk"
status=0
for dt in f32 f64; do
    report="$OUT/vec_$dt.txt"
    "$CROSS" "${CFLAGS[@]}" -c "csrc/kernels_${dt}_base.c" -o "$OUT/k_$dt.o" \
        -fopt-info-vec-optimized 2>"$report"
    vec_lines() {      # vec_lines FILE: line numbers of vectorized loops in FILE
        grep -E "^csrc/$1:[0-9]+:[0-9]+: optimized: loop vectorized" "$report" \
            | cut -d: -f2 | sort -un
    }
    check_fn() {       # check_fn FILE REQUIRED NAME...: how many NAMEs hold one
        local file=$1 required=$2 name range lines n a b
        shift 2
        lines=$(vec_lines "$file")
        found=0
        for name in "$@"; do
            range=$(awk -v pat="^[A-Za-z].*FN\\\\($name\\\\)\\\\(" '
                start == 0 && $0 ~ pat { start = NR }
                start > 0 && /^}/ { print start, NR; exit }' "csrc/$file")
            if [ -z "$range" ]; then
                echo "  FAIL $dt: no function FN($name) in csrc/$file"; status=1; continue
            fi
            read -r a b <<<"$range"
            n=$(echo "$lines" | awk -v a="$a" -v b="$b" '$1 >= a && $1 <= b' | wc -l)
            if [ "$n" -gt 0 ]; then
                echo "  ok   $dt $name (csrc/$file:$a-$b): $n vectorized loop(s)"
                found=$((found + 1))
            elif [ "$required" = yes ]; then
                echo "  FAIL $dt $name (csrc/$file:$a-$b): no vectorized loop"; status=1
            else
                echo "  --   $dt $name (csrc/$file:$a-$b): no vectorized loop of its own"
            fi
        done
    }
    # shellcheck disable=SC2086
    check_fn ops.inc yes $HOT_OPS
    # shellcheck disable=SC2086
    check_fn optim.inc yes $HOT_OPTIM
    # the Adam update vectorizes since -fno-math-errno (sqrt need not set errno)
    check_fn optim.inc yes adam_range
    # the tiny-net path: its loops run over the rows of a batch
    # shellcheck disable=SC2086
    check_fn lanes.inc yes $HOT_LANES
    # The products: the functions of gemm.inc and gemm_small.inc whose names
    # say matmul / gemm (helpers among them may have no loop of their own);
    # one at least must hold vectorized loops.
    products_found=0
    for file in gemm.inc gemm_small.inc; do
        # (definitions only: unindented lines; the calls are indented)
        products=$( (grep -E "^[A-Za-z].*FN\((matmul|gemm)[a-z_]*\)\(" "csrc/$file" || true) \
                   | grep -oE "FN\((matmul|gemm)[a-z_]*\)\(" \
                   | sed -E 's/FN\(([a-z_]+)\)\(/\1/' | sort -u)
        # shellcheck disable=SC2086
        check_fn "$file" no $products
        products_found=$((products_found + found))
    done
    if [ "$products_found" -eq 0 ]; then
        echo "  FAIL $dt: no product function (matmul*/gemm*) has a vectorized loop"; status=1
    fi
    # the packed products' micro-kernel, the hottest loops of all: on
    # aarch64 the portable one (ukernel_neon.h takes ukernel_scalar.h's),
    # and its edge tiles: each must vectorize
    check_fn ukernel_scalar.h yes ukernel_scalar
    check_fn gemm.inc yes ukernel_edge
    total=$(grep -c "optimized: loop vectorized" "$report" || true)
    vec=".4s"; [ "$dt" = f64 ] && vec=".2d"
    fmla=$(aarch64-linux-gnu-objdump -d "$OUT/k_$dt.o" | grep -cE "fmla[[:space:]]+v[0-9]+\\$vec" || true)
    echo "  $dt: $total loops vectorized in kernels_${dt}_base.c (16-byte NEON vectors); $fmla NEON fmla v*$vec instructions"
    if [ "$fmla" -eq 0 ]; then
        echo "  FAIL $dt: no NEON fused multiply-add in the object"; status=1
    fi
done
if [ "$status" -ne 0 ]; then
    echo "aarch64.sh: FAILED: a hot loop is not vectorized for aarch64" >&2
    exit 1
fi
echo "aarch64.sh: OK (aarch64 core passes under qemu; hot loops use NEON)"
