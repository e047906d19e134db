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
    int gf_predict_##SUF(const gf_net *net, const T *params,                  \
                         const T *X, int64_t N, int64_t chunk, T *ws, T *out); \
    int gf_loss_grad_##SUF(const gf_net *net, int32_t loss, const T *params,  \
                           T *grad, const T *X, const T *y,                   \
                           const int64_t *idx, int64_t n, int64_t chunk,      \
                           T *ws, double *loss_out);                          \
    int gf_train_##SUF(const gf_net *net, const gf_train_cfg *cfg,            \
                       T *params, T *grad, T *state, T *ws,                   \
                       const T *X, const T *y, int64_t N,                     \
                       const int64_t *idx, int64_t n_epochs,                  \
                       double *epoch_loss, int64_t *epoch_seen,               \
                       gf_train_out *out);                                    \
    void act_forward_##SUF(T *a, T *dadz, const T *z, int64_t n, int32_t act);

GF_DECLARE_KERNELS(float, f32_base)
GF_DECLARE_KERNELS(double, f64_base)
GF_DECLARE_KERNELS(float, f32_avx2)
GF_DECLARE_KERNELS(double, f64_avx2)
GF_DECLARE_KERNELS(float, f32_avx512)
GF_DECLARE_KERNELS(double, f64_avx512)
#undef GF_DECLARE_KERNELS
#endif
