/* Internal: the ops, as forward/backward pairs, for both dtypes.
 * Argument order: outputs, inputs, sizes. Gradients carry a `d` prefix.
 * dense_backward accumulates into its gradients; a NULL gradient pointer
 * skips that work. act_forward saves the local derivative f'(z) (in z's
 * place during training); act_backward multiplies by it, in place allowed. */
#ifndef GRADFIT_OPS_H
#define GRADFIT_OPS_H
#include <stdint.h>

#define GF_DECLARE_OPS(T, SUF)                                                  \
    void dense_forward_##SUF(T *out, const T *inp, const T *W, const T *bias,   \
                             int64_t B, int64_t IN, int64_t OUT);               \
    void dense_backward_##SUF(T *dinp, T *dW, T *dbias, const T *dout,          \
                              const T *inp, const T *W,                         \
                              int64_t B, int64_t IN, int64_t OUT, T *scratch);  \
    void act_forward_##SUF(T *a, T *dadz, const T *z, int64_t n, int32_t act);  \
    void act_backward_##SUF(T *dz, const T *da, const T *dadz, int64_t n);      \
    double loss_forward_##SUF(const T *pred, const T *y, int64_t B,             \
                              int64_t OUT, int32_t loss);                       \
    void loss_backward_##SUF(T *dpred, const T *pred, const T *y, int64_t B,    \
                             int64_t OUT, int32_t loss, T scale);

GF_DECLARE_OPS(float, f32_base)
GF_DECLARE_OPS(double, f64_base)
GF_DECLARE_OPS(float, f32_avx2)
GF_DECLARE_OPS(double, f64_avx2)
GF_DECLARE_OPS(float, f32_avx512)
GF_DECLARE_OPS(double, f64_avx512)
#undef GF_DECLARE_OPS
#endif
