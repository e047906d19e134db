/* Typed body (see dtype.h), included by gemm.inc for float32 on the AVX2 +
 * FMA path: the micro-kernel (ukernel's contract, gemm.inc) with its
 * accumulators as named 256-bit registers for the panel widths of this path
 * (NB = 16, 8); other widths through ukernel_scalar. */
static inline GF_ALWAYS_INLINE void FN(ukernel)(
    real *restrict C, int64_t ldc, const real *restrict Ap, int64_t ar,
    int64_t ak, const real *restrict Bp, int64_t kc, const int NB, int nr,
    int init, const real *restrict bias, const real *restrict mul)
{
    /* ukernel_avx512.h's kernel with 8-lane registers (NB = 16
     * or 8, R_MAX = 6), the ragged edge through maskload / maskstore (lanes
     * at or past nr are neither read nor written) */
    if (NB == 16 || NB == 8) {
        enum { NVMAX = 2 };
        const int NV = NB / 8;
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256i mk[NVMAX];
        for (int v = 0; v < NVMAX; v++)     /* lane i of vector v: 8v + i < nr */
            mk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * v), lane);
        __m256 va[R_MAX][NVMAX];
        for (int r = 0; r < R_MAX; r++)
            for (int v = 0; v < NV; v++) {
                if (init == GF_INIT_ZERO)
                    va[r][v] = _mm256_setzero_ps();
                else if (init == GF_INIT_BIAS)
                    va[r][v] = nr >= NB ? _mm256_loadu_ps(bias + 8 * v)
                                        : _mm256_maskload_ps(bias + 8 * v, mk[v]);
                else
                    va[r][v] = nr >= NB ? _mm256_loadu_ps(C + r * ldc + 8 * v)
                                        : _mm256_maskload_ps(C + r * ldc + 8 * v, mk[v]);
            }
        for (int64_t k = 0; k < kc; k++) {
            __m256 vb[NVMAX];
            for (int v = 0; v < NV; v++)
                vb[v] = _mm256_loadu_ps(Bp + k * NB + 8 * v);
            for (int r = 0; r < R_MAX; r++) {
                const __m256 x = _mm256_set1_ps(Ap[r * ar + k * ak]);
                for (int v = 0; v < NV; v++)
                    va[r][v] = _mm256_fmadd_ps(x, vb[v], va[r][v]);
            }
        }
        for (int r = 0; r < R_MAX; r++)
            for (int v = 0; v < NV; v++) {
                __m256 c = va[r][v];
                if (nr >= NB) {
                    if (mul)
                        c = _mm256_mul_ps(c, _mm256_loadu_ps(mul + r * ldc + 8 * v));
                    _mm256_storeu_ps(C + r * ldc + 8 * v, c);
                } else {
                    if (mul)
                        c = _mm256_mul_ps(c, _mm256_maskload_ps(mul + r * ldc + 8 * v, mk[v]));
                    _mm256_maskstore_ps(C + r * ldc + 8 * v, mk[v], c);
                }
            }
        return;
    }
    FN(ukernel_scalar)(C, ldc, Ap, ar, ak, Bp, kc, NB, nr, init, bias, mul);
}
