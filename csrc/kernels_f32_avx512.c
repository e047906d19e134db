/* The float32 kernels compiled again for AVX-512 (F, VL, BW, DQ) with
 * 512-bit vectors, chosen at run time by dispatch.c on CPUs that have
 * them. GCC and clang on x86-64 build this
 * variant (GF_HAVE_X86_SIMD_BUILD): GCC applies the target to the rest of
 * the file with a pragma; clang, which ignores that pragma, applies it to
 * every function defined between push and pop, the static inline helpers
 * of vmath.h and the *.inc bodies included. */
#include <math.h>
#include <string.h>
#include "gradfit.h"
#include "layout.h"
#include "ops.h"

#if GF_HAVE_X86_SIMD_BUILD
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512")
#endif
#define GF_DTYPE 32
#define GF_ISA avx512
#define GF_ISA_AVX512 1
#include "dtype.h"

#include "ops.inc"
#include "optim.inc"
#include "train.inc"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
