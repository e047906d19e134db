/* Typed body (see dtype.h), included by gemm.inc on aarch64: the
 * micro-kernel (ukernel's contract, gemm.inc). The portable kernel's omp
 * simd loops compile to NEON fused multiply-adds (fmla on .4s / .2d
 * vectors; .ci/aarch64.sh checks it), so this path takes it as it is; a
 * hand-written NEON kernel would go here. */
static inline GF_ALWAYS_INLINE void FN(ukernel)(
    real *restrict C, int64_t ldc, const real *restrict Ap, int64_t ar,
    int64_t ak, const real *restrict Bp, int64_t kc, const int NB, int nr,
    int init, const real *restrict bias, const real *restrict mul)
{
    FN(ukernel_scalar)(C, ldc, Ap, ar, ak, Bp, kc, NB, nr, init, bias, mul);
}
