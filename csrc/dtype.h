/* Internal: defines `real`, FN(name) and the math functions for one dtype
 * and one instruction set. Include after defining GF_DTYPE as 32 or 64 and
 * GF_ISA as base, avx2 or avx512, then include the typed bodies (*.inc). The
 * kernels_*.c files do exactly that, so every float/double and
 * baseline/AVX2 variant comes from one source and none can drift apart.
 * FN(dense_forward) is dense_forward_f32_base, dense_forward_f64_avx2, ... */
#include <math.h>
#include "vmath.h"
#include "tuning.h"

#undef real
#undef FN
#undef FN_
#undef FN__
#undef EXP
#undef LOG1P
#undef TANH
#undef SQRT
#undef LOG

#ifndef GF_ALWAYS_INLINE
#if defined(__GNUC__)
#define GF_ALWAYS_INLINE __attribute__((always_inline))
#else
#define GF_ALWAYS_INLINE
#endif
#endif
/* A function kept out of line: a dispatch over many specialised kernels
 * stays a set of functions of one kernel each, so that each is optimised
 * (and its helpers inlined) within the compiler's per-function limits. */
#ifndef GF_OUT_OF_LINE
#if defined(__GNUC__)
#define GF_OUT_OF_LINE __attribute__((noinline))
#else
#define GF_OUT_OF_LINE
#endif
#endif

/* bytes in one SIMD register of the target: sizes the matmul register block */
#undef GF_VEC_BYTES
#if defined(GF_ISA_AVX512)
#define GF_VEC_BYTES 64
#elif defined(GF_ISA_AVX2)
#define GF_VEC_BYTES 32
#else
#define GF_VEC_BYTES 16      /* SSE2 on x86-64, NEON on arm64 */
#endif

#define FN__(name, suf, isa) name##_##suf##_##isa
#define FN_(name, suf, isa) FN__(name, suf, isa)

#if GF_DTYPE == 64
#define real double
#define FN(name) FN_(name, f64, GF_ISA)
#define EXP gf_exp            /* vectorizable, see vmath.h */
#define LOG1P gf_log1p_unit    /* argument in [0, 1] */
#define TANH gf_tanh           /* vectorizable, see vmath.h */
#define SQRT sqrt
#define LOG log
#elif GF_DTYPE == 32
#define real float
#define FN(name) FN_(name, f32, GF_ISA)
#define EXP gf_expf     /* vectorizable, see vmath.h */
#define LOG1P gf_log1pf_unit  /* argument in [0, 1] */
#define TANH gf_tanhf   /* vectorizable, see vmath.h */
#define SQRT sqrtf
#define LOG logf
#else
#error "define GF_DTYPE as 32 or 64"
#endif
