/* Internal: what the kernels_*.c files export to dispatch.c, for every dtype
 * and SIMD path: the typed entry points (gradfit.h declares the dispatched
 * ones) and act_forward, for the test hook gf_act_forward_*. The other ops
 * are static to their kernels_*.c file (ops.inc).
 *
 * act_forward: a (n) = f(z); dadz (n) = f'(z) unless dadz is NULL. dadz may
 * be z itself (training keeps f'(z) in z's place). */
#ifndef GRADFIT_OPS_H
#define GRADFIT_OPS_H
#include <stdint.h>
#include "gradfit.h"

#define GF_DECLARE_KERNELS(T, SUF)                                            \
    GF_DECLARE_TYPED(T, SUF)                                                  \
    void act_forward_##SUF(T *a, T *dadz, const T *z, int64_t n, int32_t act);

GF_DECLARE_KERNELS(float, f32_base)
GF_DECLARE_KERNELS(double, f64_base)
GF_DECLARE_KERNELS(float, f32_avx2)
GF_DECLARE_KERNELS(double, f64_avx2)
GF_DECLARE_KERNELS(float, f32_avx512)
GF_DECLARE_KERNELS(double, f64_avx512)
#undef GF_DECLARE_KERNELS
#endif
