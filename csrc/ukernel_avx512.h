/* Typed body (see dtype.h), included by gemm.inc for float32 on the AVX-512
 * path: the micro-kernel (ukernel's contract, gemm.inc) with its
 * accumulators as named 512-bit registers for the panel widths of this path
 * (NB = 32, 16), the ragged edge by masked loads and stores; other widths
 * through ukernel_scalar. And transpose16, with which pack_b packs 16 x 16
 * blocks of a transposed B. */
#ifndef GF_FMA_BCAST16
/* acc = fma(*p broadcast to 16 lanes, b, acc): the broadcast as the FMA's
 * memory operand ({1to16}), one instruction, rather than a separate
 * broadcast load into a register that the compiler otherwise emits (the
 * same fused multiply-add, the same bits, one instruction fewer per FMA) */
#define GF_FMA_BCAST16(acc, p, b) \
    __asm__("vfmadd231ps %1%{1to16%}, %2, %0" : "+v"(acc) : "m"(*(p)), "v"(b))
#endif
#ifndef GF_BCAST16
/* x = *p broadcast to 16 lanes, as its own load (vbroadcastss), which the
 * compiler would otherwise fold into every FMA that uses x: for two-vector
 * panels one broadcast then feeds two register FMAs. On Zen 5 that ran the
 * 8 x 32 block ~12% faster than two {1to16} FMAs reading the same value
 * (the same fused multiply-adds, the same bits); with one-vector panels
 * the two forms ran alike, and the {1to16} form is kept there. */
#define GF_BCAST16(x, p) __asm__("vbroadcastss %1, %0" : "=v"(x) : "m"(*(p)))
#endif

/* ukernel for R rows (a constant after inlining): R_MAX, or 2 R_MAX with
 * one-vector panels (NB = 16: 16 accumulators, as many as R_MAX x 2) */
static inline GF_ALWAYS_INLINE void FN(ukernel_rows)(
    real *restrict C, int64_t ldc, const real *restrict Ap, int64_t ar,
    int64_t ak, const real *restrict Bp, int64_t kc, const int NB, int nr,
    int init, const real *restrict bias, const real *restrict mul, const int R)
{
    /* ukernel_scalar's sums in the same order with the accumulators as named
     * vector registers: C, bias and mul move straight between memory and
     * them (masked past nr), not through a tile on the stack */
    if ((NB == 32 || NB == 16) && R * NB <= 16 * 16) {
        enum { NVMAX = 2 };
        const int NV = NB / 16;
        __mmask16 mk[NVMAX];
        mk[0] = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
        mk[1] = nr >= 32 ? (__mmask16)0xFFFF
                : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1u);
        __m512 va[2 * R_MAX][NVMAX];
        for (int r = 0; r < R; r++)
            for (int v = 0; v < NV; v++) {
                if (init == GF_INIT_ZERO)
                    va[r][v] = _mm512_setzero_ps();
                else if (init == GF_INIT_BIAS)
                    va[r][v] = _mm512_maskz_loadu_ps(mk[v], bias + 16 * v);
                else
                    va[r][v] = _mm512_maskz_loadu_ps(mk[v], C + r * ldc + 16 * v);
            }
        for (int64_t k = 0; k < kc; k++) {
            __m512 vb[NVMAX];
            for (int v = 0; v < NV; v++)
                vb[v] = _mm512_loadu_ps(Bp + k * NB + 16 * v);
            const real *ap = Ap + k * ak;  /* A(r, k), r = 0, 1, ... */
            for (int r = 0; r < R; r++) {
                if (NV == 2) {             /* one broadcast, two FMAs */
                    __m512 x;
                    GF_BCAST16(x, ap);
                    va[r][0] = _mm512_fmadd_ps(x, vb[0], va[r][0]);
                    va[r][1] = _mm512_fmadd_ps(x, vb[1], va[r][1]);
                } else {
                    GF_FMA_BCAST16(va[r][0], ap, vb[0]);
                }
                ap += ar;
                /* rows of A in place (ak = 1, ar its row stride): one
                 * pointer stepped row to row, which the empty asm keeps
                 * the compiler from splitting into R pointers (with R =
                 * 16 they did not fit the integer registers and were
                 * reloaded every k) */
                if (ak == 1)
                    __asm__("" : "+r"(ap));
            }
        }
        for (int r = 0; r < R; r++)
            for (int v = 0; v < NV; v++) {
                __m512 c = va[r][v];
                if (mul)
                    c = _mm512_mul_ps(c, _mm512_maskz_loadu_ps(mk[v], mul + r * ldc + 16 * v));
                _mm512_mask_storeu_ps(C + r * ldc + 16 * v, mk[v], c);
            }
        return;
    }
    FN(ukernel_scalar)(C, ldc, Ap, ar, ak, Bp, kc, NB, nr, init, bias, mul);
    if (R > R_MAX)
        FN(ukernel_scalar)(C + R_MAX * ldc, ldc, Ap + R_MAX * ar, ar, ak, Bp, kc, NB, nr,
                           init, bias, mul ? mul + R_MAX * ldc : NULL);
}

static inline GF_ALWAYS_INLINE void FN(ukernel)(
    real *restrict C, int64_t ldc, const real *restrict Ap, int64_t ar,
    int64_t ak, const real *restrict Bp, int64_t kc, const int NB, int nr,
    int init, const real *restrict bias, const real *restrict mul)
{
    FN(ukernel_rows)(C, ldc, Ap, ar, ak, Bp, kc, NB, nr, init, bias, mul, R_MAX);
}

/* gemm_packed_nb runs one-vector panels (NB = 16) two row blocks at a time:
 * 8 accumulators alone would wait on the multiply-add latency */
#define GF_UKERNEL_2R_NB 16
static inline GF_ALWAYS_INLINE void FN(ukernel_2r)(
    real *restrict C, int64_t ldc, const real *restrict Ap, int64_t ar,
    int64_t ak, const real *restrict Bp, int64_t kc, const int NB, int nr,
    int init, const real *restrict bias, const real *restrict mul)
{
    FN(ukernel_rows)(C, ldc, Ap, ar, ak, Bp, kc, NB, nr, init, bias, mul, 2 * R_MAX);
}

#define GF_HAVE_PACK_EDGE 1
/* dst (kc, NB) = rows of B (row stride bk) over columns 0..nr, zero past nr
 * (nr < NB): the ragged last panel of a row-major B as masked loads, each
 * row's vectors independent of the last row's */
static inline GF_ALWAYS_INLINE void FN(pack_edge)(real *restrict dst, const real *restrict src,
                                                  int64_t bk, int64_t kc, const int NB, int nr)
{
    const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    const __mmask16 m1 = nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1u);
    for (int64_t k = 0; k < kc; k++) {
        _mm512_storeu_ps(dst + k * NB, _mm512_maskz_loadu_ps(m0, src + k * bk));
        if (NB == 32)
            _mm512_storeu_ps(dst + k * NB + 16, _mm512_maskz_loadu_ps(m1, src + k * bk + 16));
    }
}

#define GF_HAVE_TRANSPOSE16 1
/* dst[c * ld + i] = src[c + i * ls] for c, i < 16: a 16 x 16 block of a
 * transposed view (B(k, n) at B[k + n*bn]) into packed rows, by 16 row
 * loads and a 3-stage shuffle transpose instead of 16 gathers */
static inline GF_ALWAYS_INLINE void FN(transpose16)(real *restrict dst, int64_t ld,
                                                    const real *restrict src, int64_t ls)
{
    __m512 a[16], b[16];
    for (int i = 0; i < 8; i++) {
        const __m512 x = _mm512_loadu_ps(src + (2 * i) * ls);
        const __m512 y = _mm512_loadu_ps(src + (2 * i + 1) * ls);
        a[2 * i] = _mm512_unpacklo_ps(x, y);
        a[2 * i + 1] = _mm512_unpackhi_ps(x, y);
    }
    /* b[4i + q], 128-bit lane L: rows 4i..4i+3 of column 4L + q */
    for (int i = 0; i < 4; i++) {
        b[4 * i] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
        b[4 * i + 1] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0xEE);
        b[4 * i + 2] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
        b[4 * i + 3] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xEE);
    }
    /* column 4L + q: lane L of b[q], b[4 + q], b[8 + q], b[12 + q] */
    for (int q = 0; q < 4; q++) {
        const __m512 c0 = _mm512_shuffle_f32x4(b[q], b[4 + q], 0x44);
        const __m512 c1 = _mm512_shuffle_f32x4(b[q], b[4 + q], 0xEE);
        const __m512 c2 = _mm512_shuffle_f32x4(b[8 + q], b[12 + q], 0x44);
        const __m512 c3 = _mm512_shuffle_f32x4(b[8 + q], b[12 + q], 0xEE);
        _mm512_storeu_ps(dst + (0 + q) * ld, _mm512_shuffle_f32x4(c0, c2, 0x88));
        _mm512_storeu_ps(dst + (4 + q) * ld, _mm512_shuffle_f32x4(c0, c2, 0xDD));
        _mm512_storeu_ps(dst + (8 + q) * ld, _mm512_shuffle_f32x4(c1, c3, 0x88));
        _mm512_storeu_ps(dst + (12 + q) * ld, _mm512_shuffle_f32x4(c1, c3, 0xDD));
    }
}
