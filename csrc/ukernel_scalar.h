/* Typed body (see dtype.h), included by gemm.inc: the portable micro-kernel
 * (ukernel's contract, gemm.inc), plain C whose omp simd loops the compiler
 * vectorizes for the target: the micro-kernel of the baseline x86-64 build,
 * of float64 on every x86 path, and of aarch64 (ukernel_neon.h), and what
 * the hand-written kernels (ukernel_avx512.h, ukernel_avx2.h) fall back to
 * for the panel widths they do not take. */
static inline GF_ALWAYS_INLINE void FN(ukernel_scalar)(
    real *restrict C, int64_t ldc, const real *restrict Ap, int64_t ar,
    int64_t ak, const real *restrict Bp, int64_t kc, const int NB, int nr,
    int init, const real *restrict bias, const real *restrict mul)
{
    real acc[R_MAX][JB];
    if (init == GF_INIT_ZERO) {
        for (int r = 0; r < R_MAX; r++)
            for (int jj = 0; jj < NB; jj++)
                acc[r][jj] = 0;
    } else if (init == GF_INIT_BIAS) {
        for (int r = 0; r < R_MAX; r++)
#pragma omp simd
            for (int jj = 0; jj < NB; jj++)
                acc[r][jj] = jj < nr ? bias[jj] : (real)0;
    } else {
        for (int r = 0; r < R_MAX; r++)
#pragma omp simd
            for (int jj = 0; jj < NB; jj++)
                acc[r][jj] = jj < nr ? C[r * ldc + jj] : (real)0;
    }
    for (int64_t k = 0; k < kc; k++) {
        const real *restrict b = Bp + k * NB;
        for (int r = 0; r < R_MAX; r++) {
            const real x = Ap[r * ar + k * ak];
#pragma omp simd
            for (int jj = 0; jj < NB; jj++)
                acc[r][jj] += x * b[jj];
        }
    }
    if (mul) {
        for (int r = 0; r < R_MAX; r++)
#pragma omp simd
            for (int jj = 0; jj < NB; jj++)
                if (jj < nr)
                    C[r * ldc + jj] = acc[r][jj] * mul[r * ldc + jj];
    } else {
        for (int r = 0; r < R_MAX; r++)
#pragma omp simd
            for (int jj = 0; jj < NB; jj++)
                if (jj < nr)
                    C[r * ldc + jj] = acc[r][jj];
    }
}
