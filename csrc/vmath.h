/* Internal: branch-free exp, log1p and tanh that compilers can vectorize
 * (libm calls are not vectorized under IEEE-exact flags). Cody-Waite range
 * reduction, then polynomials: the Cephes minimax ones for float32, Taylor /
 * atanh series (coefficients from exact fractions) for float64, and for the
 * float64 softplus of the lanes path (gf_softplus_g) near-minimax fits of
 * lower degree. About 1-2 ulp; tests/test_vmath.py measures them
 * against NumPy. Branches are written as selects so loops stay vectorizable
 * (with -fno-trapping-math). NaN in gives NaN out: every clamp is written
 * so that a NaN either passes through or is restored by a final select, and
 * no NaN reaches an int conversion. */
#ifndef GRADFIT_VMATH_H
#define GRADFIT_VMATH_H
#include <stdint.h>
#include <string.h>

/* e^r for float32, |r| <= ln2/2: the Cephes minimax polynomial */
static inline float gf_expf_poly(float r)
{
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    return p * r * r + r + 1.0f;
}

/* round(x / ln2) by the 1.5 * 2^23 trick (vectorizes without SSE4.1) and the
 * reduced argument r = x - n ln2, with ln2 split so that n * hi is exact */
#define GF_EXPF_REDUCE(x, n, r)                                      \
    const float n = ((x) * 1.44269504088896341f + 12582912.0f) - 12582912.0f; \
    const float r = ((x) - n * 0.693359375f) - n * -2.12194440e-4f

/* e^x for float32 and -87 <= x <= 88 (normal results; not NaN): e^x = 2^n e^r */
static inline float gf_expf_bounded(float x)
{
    GF_EXPF_REDUCE(x, n, r);
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return gf_expf_poly(r) * scale;
}

/* e^x for any float32 x: clamped, and 2^n applied as 2^n1 * 2^n2 (both
 * normal) so that subnormal results round right */
static inline float gf_expf(float x)
{
    /* clamp: written so that NaN goes to the upper bound, which keeps the
     * int conversion below defined; the NaN is put back at the end */
    float xc = x < 88.3f ? x : 88.3f;
    xc = xc > -104.0f ? xc : -104.0f;  /* e^-104 rounds to 0 in float32 */
    GF_EXPF_REDUCE(xc, n, r);
    const int32_t ni = (int32_t)n, n1 = ni >> 1;
    const int32_t b1 = (n1 + 127) << 23, b2 = (ni - n1 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    const float e = gf_expf_poly(r) * s1 * s2;
    return x == x ? e : x;             /* NaN in, NaN out */
}

/* tanh(x) for float32, one branch-free formula for every lane:
 * tanh|x| = -m / (2 + m) with m = e^(-2|x|) - 1 in (-1, 0], and m by the
 * same reduction as gf_expf: -2|x| = n ln2 + r, m = 2^n (e^r - 1) + (2^n - 1)
 * (one fused multiply-add of exact terms), e^r - 1 = r + r^2 P(r) with
 * P the Cephes polynomial above: relative to r, so tanh keeps full
 * relative accuracy down to the tiniest |x|, with no cancellation. |x| is
 * clamped at 10, where m rounds to -1 and tanh to 1 (NaN goes to the clamp
 * and is put back at the end); +-inf gives +-1; the sign of x (and -0) is
 * restored last. */
static inline float gf_tanhf(float x)
{
    const float ax = x < 0 ? -x : x;
    const float v = -2.0f * (ax < 10.0f ? ax : 10.0f);    /* in [-20, 0] */
    GF_EXPF_REDUCE(v, n, r);
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float em_r = p * r * r + r;                     /* e^r - 1 */
    const int32_t bits = ((int32_t)n + 127) << 23;        /* n in [-29, 0] */
    float s;
    memcpy(&s, &bits, sizeof s);
    const float m = s * em_r + (s - 1.0f);
    float t = -m / (2.0f + m);
    t = x < 0 ? -t : t;
    return x == x ? t : x;             /* NaN in, NaN out */
}

/* e^x for float64: x = n ln2 + r, |r| <= ln2/2, e^x = 2^n e^r, with e^r by
 * its Taylor series to r^13 (truncation < 5e-18). */
static inline double gf_exp(double x)
{
    /* clamp: NaN goes to the upper bound, which keeps the exponent
     * arithmetic below defined; the NaN is put back at the end */
    double xc = x < 709.0 ? x : 709.0;
    xc = xc > -746.0 ? xc : -746.0;    /* e^-746 rounds to 0 in float64 */
    const double shift = 6755399441055744.0;           /* 1.5 * 2^52 */
    const double t = xc * 1.4426950408889634 + shift;  /* round(x / ln2) in the low bits */
    const double n = t - shift;
    double r = xc - n * 6.93147180369123816490e-01;    /* ln2, high part: n * hi is exact */
    r = r - n * 1.90821492927058770002e-10;            /* ln2, low part */
    double p = 1.0 / 6227020800.0;                     /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r * r + r + 1.0;
    /* 2^n as 2^n1 * 2^n2, both normal, so subnormal results round right */
    int64_t ni;
    memcpy(&ni, &t, sizeof ni);
    ni -= 0x4338000000000000LL;                        /* n, in [-1076, 1023] */
    const int64_t n1 = ni >> 1;
    const int64_t b1 = (n1 + 1023) << 52, b2 = (ni - n1 + 1023) << 52;
    double s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    const double e = p * s1 * s2;
    return x == x ? e : x;             /* NaN in, NaN out */
}

/* tanh(x) for float64: the formula of gf_tanhf, tanh|x| = -m / (2 + m),
 * m = e^(-2|x|) - 1 = 2^n (e^r - 1) + (2^n - 1), with e^r - 1 by the Taylor
 * series of gf_exp to r^13 less its leading 1 (relative truncation <
 * 2e-17); |x| clamped at 20, where m rounds to -1. NaN in, NaN out; +-inf
 * gives +-1. */
static inline double gf_tanh(double x)
{
    const double ax = x < 0 ? -x : x;
    const double v = -2.0 * (ax < 20.0 ? ax : 20.0);      /* in [-40, 0] */
    const double shift = 6755399441055744.0;              /* 1.5 * 2^52 */
    const double t = v * 1.4426950408889634 + shift;
    const double n = t - shift;
    double r = v - n * 6.93147180369123816490e-01;
    r = r - n * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;                        /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    const double em_r = p * r * r + r;                    /* e^r - 1 */
    int64_t ni;
    memcpy(&ni, &t, sizeof ni);
    ni -= 0x4338000000000000LL;                           /* n, in [-58, 0] */
    const int64_t bits = (ni + 1023) << 52;
    double s;
    memcpy(&s, &bits, sizeof s);
    const double m = s * em_r + (s - 1.0);
    double th = -m / (2.0 + m);
    th = x < 0 ? -th : th;
    return x == x ? th : x;            /* NaN in, NaN out */
}

/* log1p(e) for 0 <= e <= 1 (the softplus argument e^-|z|), float64:
 * u = 1 + e = 2^k m with m in [sqrt(2)/2, sqrt(2)], log m = 2 atanh(s) with
 * s = (m - 1)/(m + 1), |s| < 0.172, series to s^21; plus the rounding of
 * 1 + e, corrected to first order: log1p(e) = log(u) + (e - (u - 1)) / u. */
static inline double gf_log1p_unit(double e)
{
    const double u = 1.0 + e;
    const double c = (e - (u - 1.0)) / u;
    const double k = u > 1.4142135623730951 ? 1.0 : 0.0;
    const double m = u > 1.4142135623730951 ? 0.5 * u : u;
    const double s = (m - 1.0) / (m + 1.0);
    const double z = s * s;
    double p = 2.0 / 21;
    p = p * z + 2.0 / 19;
    p = p * z + 2.0 / 17;
    p = p * z + 2.0 / 15;
    p = p * z + 2.0 / 13;
    p = p * z + 2.0 / 11;
    p = p * z + 2.0 / 9;
    p = p * z + 2.0 / 7;
    p = p * z + 2.0 / 5;
    p = p * z + 2.0 / 3;
    const double log_m = 2.0 * s + s * z * p;
    return k * 6.93147180369123816490e-01 + (log_m + (k * 1.90821492927058770002e-10 + c));
}

/* gf_log1p_unit given u = 1 + e (rounded) and ru = 1/u, which the caller
 * shares with the sigmoid of the same e (softplus and its derivative): one
 * division fewer. The first-order correction is (e - (u - 1)) * ru. */
static inline double gf_log1p_unit_r(double e, double u, double ru)
{
    const double c = (e - (u - 1.0)) * ru;
    const double k = u > 1.4142135623730951 ? 1.0 : 0.0;
    const double m = u > 1.4142135623730951 ? 0.5 * u : u;
    const double s = (m - 1.0) / (m + 1.0);
    const double z = s * s;
    /* the series of gf_log1p_unit by Estrin's scheme: the same terms in
     * about half the dependent steps (the loop over a batch's rows is
     * short, so latency, not throughput, bounds it) */
    const double z2 = z * z, z4 = z2 * z2;
    const double q0 = 2.0 / 3 + z * (2.0 / 5), q1 = 2.0 / 7 + z * (2.0 / 9);
    const double q2 = 2.0 / 11 + z * (2.0 / 13), q3 = 2.0 / 15 + z * (2.0 / 17);
    const double q4 = 2.0 / 19 + z * (2.0 / 21);
    const double p = (q0 + z2 * q1) + z4 * ((q2 + z2 * q3) + z4 * q4);
    const double log_m = 2.0 * s + s * z * p;
    return k * 6.93147180369123816490e-01 + (log_m + (k * 1.90821492927058770002e-10 + c));
}

/* The atanh series of gf_log1p_unit, log m = 2 s + s z P(z) with z = s^2 in
 * [0, 0.02944] (|s| <= (sqrt2 - 1)/(sqrt2 + 1)), as a degree-6 polynomial
 * instead of the series' degree 9. Fitted at dev time: interpolation at the
 * 7 Chebyshev nodes of [0, 1.0001 zmax] (near-minimax), solved in long
 * double (numpy, Gaussian elimination), the truth being the series summed
 * to z^59; its error is < 0.04 eps relative to log m (the s z P part is
 * at most 1.5% of log m). Estrin's scheme: the loops are short, latency
 * bounds them. */
static inline double gf_log_atanh_p6(double z)
{
    const double z2 = z * z, z4 = z2 * z2;
    const double q0 = 0.666666666666667 + z * 0.39999999999899444;
    const double q1 = 0.2857142862600411 + z * 0.2222221113007574;
    const double q2 = 0.1818288947271336 + z * 0.15331709962920245;
    return (q0 + z2 * q1) + z4 * (q2 + z2 * 0.14616594237929595);
}

/* softplus(z) = max(z, 0) + log1p(e), e = e^-|z|, and its derivative
 * sigmoid(z) = (z >= 0 ? 1 : e) / (1 + e) into *g, float64, in one
 * branch-free body for the lanes path (lanes.inc):
 * - e^t for t = -|z| in [-746, 0] (no upper clamp needed): the reduction of
 *   gf_exp, and e^r = 1 + r + r^2 G(r) with G of degree 9 (so e^r of
 *   degree 11, two terms under gf_exp's Taylor series), fitted at dev time
 *   (tools/fit_vmath.py) like gf_log_atanh_p6: interpolation at the 10 Chebyshev nodes of
 *   |r| <= 1.0001 ln2/2 in long double, truth the series to r^32; error
 *   < 0.08 eps relative. 2^n as two normal factors, as in gf_exp, so that
 *   subnormal results (z < -708) round right.
 * - log1p(e) straight from e, with no rounded 1 + e to correct (the
 *   correction term of gf_log1p_unit and its multiply by 1/(1 + e) go):
 *   log1p(e) = 2 atanh(e / (2 + e)), or for 1 + e above sqrt2,
 *   ln2 + 2 atanh((e - 1) / (e + 3)): the same |s| <= 0.1716 as
 *   gf_log1p_unit's reduction, so gf_log_atanh_p6 applies.
 * - the derivative as one correctly rounded division by 1 + e.
 * Two divisions: one shared reciprocal for both quotients is no faster on
 * the tested CPUs (the divider is not the bottleneck) and, uncorrected,
 * less accurate.
 * NaN in gives NaN out (a and g); +inf gives (inf, 1), -inf (0, 0).
 * Error against long double: <= 1.79 ulp for softplus, <= 1.35 ulp for the
 * sigmoid (docs/perf-log.md, Kernels). */
static inline double gf_softplus_g(double z, double *g)
{
    double t = z < 0 ? z : -z;                         /* -|z| */
    t = t > -746.0 ? t : -746.0;       /* NaN goes here too; restored below */
    const double shift = 6755399441055744.0;           /* 1.5 * 2^52 */
    const double tn = t * 1.4426950408889634 + shift;
    const double n = tn - shift;
    double r = t - n * 6.93147180369123816490e-01;
    r = r - n * 1.90821492927058770002e-10;
    const double r2 = r * r, r4 = r2 * r2;
    const double c0 = 0.5000000000000001 + r * 0.16666666666666669;
    const double c1 = 0.04166666666662411 + r * 0.00833333333332997;
    const double c2 = 0.0013888888917219834 + r * 0.0001984126986327623;
    const double c3 = 2.48015212889027e-05 + r * 2.7557268250454886e-06;
    const double c4 = 2.7620091145382524e-07 + r * 2.510045360420325e-08;
    const double G = (c0 + r2 * c1) + r4 * ((c2 + r2 * c3) + r4 * c4);
    int64_t ni;
    memcpy(&ni, &tn, sizeof ni);
    ni -= 0x4338000000000000LL;                        /* n, in [-1076, 0] */
    const int64_t n1 = ni >> 1;
    const int64_t b1 = (n1 + 1023) << 52, b2 = (ni - n1 + 1023) << 52;
    double s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    const double e = ((G * r2 + r) + 1.0) * s1 * s2;   /* e^-|z| in [0, 1] */
    const double u = 1.0 + e;
    const int hi = e > 0.41421356237309503;            /* 1 + e > sqrt2 */
    const double k = hi ? 1.0 : 0.0;
    const double two = hi ? 3.0 : 2.0;
    const double num = hi ? e - 1.0 : e;
    const double den = two + e;                        /* in [2, 4] */
    const double s = num / den;
    const double d = (z >= 0 ? 1.0 : e) / u;
    const double zz = s * s;
    const double log_m = 2.0 * s + s * zz * gf_log_atanh_p6(zz);
    const double lp = k * 6.93147180369123816490e-01 + (log_m + k * 1.90821492927058770002e-10);
    const double a = (z > 0 ? z : 0.0) + lp;
    *g = z == z ? d : z;
    return z == z ? a : z;
}

/* log(u) + c for u = 1 + e rounded, 0 <= e <= 1, and c the first-order
 * correction of that rounding: the float32 form of gf_log1p_unit's method,
 * series to s^11 (the two callers below differ only in how they get c) */
static inline float gf_log1pf_uc(float u, float c)
{
    const float k = u > 1.41421356f ? 1.0f : 0.0f;
    const float m = u > 1.41421356f ? 0.5f * u : u;
    const float s = (m - 1.0f) / (m + 1.0f);
    const float z = s * s;
    float p = 2.0f / 11;
    p = p * z + 2.0f / 9;
    p = p * z + 2.0f / 7;
    p = p * z + 2.0f / 5;
    p = p * z + 2.0f / 3;
    const float log_m = 2.0f * s + s * z * p;
    return k * 0.693359375f + (log_m + (k * -2.12194440e-4f + c));
}

/* log1p(e) for 0 <= e <= 1, float32 */
static inline float gf_log1pf_unit(float e)
{
    const float u = 1.0f + e;
    return gf_log1pf_uc(u, (e - (u - 1.0f)) / u);
}

/* gf_log1pf_unit given u = 1 + e and ru = 1/u (see gf_log1p_unit_r) */
static inline float gf_log1pf_unit_r(float e, float u, float ru)
{
    return gf_log1pf_uc(u, (e - (u - 1.0f)) * ru);
}
#endif
