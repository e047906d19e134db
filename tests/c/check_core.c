/* A C-only check of gradfit's core (csrc/), without Python: built for any
 * target (.ci/aarch64.sh cross-compiles it for aarch64 and runs it under
 * qemu-user; it also runs natively) and compared against plain loops.
 *
 * For both dtypes, on every SIMD path this build and CPU can run (the
 * baseline only, on aarch64), it checks
 *   gf_predict    against a naive forward pass,
 *   gf_loss_grad  (mse + L2, cross-entropy with sample weights and a row
 *                 subset) against a naive forward + backward pass,
 *   gf_train      (sgd with momentum; adam) over a few epochs of minibatches
 *                 against the same loop written out with the naive gradient,
 * and, when the core has a thread pool (pool.h), that 1 and 3 threads give
 * bit-identical parameters. The reference is computed in double.
 *
 * Build (from the top of the tree): cc -O3 -pthread -Icsrc tests/c/check_core.c
 *     csrc/[a-z]*.c -lm   (.ci/aarch64.sh shows the exact commands)
 * Exit status 0 when every check passes, 1 otherwise. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradfit.h"

#if defined(__has_include)
#if __has_include("pool.h")
#include "pool.h"
#define HAVE_POOL 1
#endif
#endif
#ifndef HAVE_POOL
#define HAVE_POOL 0
#endif

#define MAXP 512
#define MAXW 16
#define MAXN 64

static int failures = 0, checks = 0;

/* ---- a tiny deterministic generator (no rand(): same numbers everywhere) */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) /* in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 4503599627370496.0 - 1.0;
}

/* ---- the naive reference, in double ------------------------------------ */
typedef struct {
    int L;
    int64_t sizes[8];
    int32_t acts[8];
} netdesc;

static int64_t n_params(const netdesc *d)
{
    int64_t P = 0;
    for (int l = 0; l < d->L; l++)
        P += (d->sizes[l] + 1) * d->sizes[l + 1];
    return P;
}

static double act_f(int act, double z)
{
    switch (act) {
    case GF_ACT_RELU: return z > 0 ? z : 0;
    case GF_ACT_SIGMOID: return 1 / (1 + exp(-z));
    case GF_ACT_TANH: return tanh(z);
    case GF_ACT_SOFTPLUS: return log1p(exp(z));
    default: return z;
    }
}

static double act_d(int act, double z)
{
    switch (act) {
    case GF_ACT_RELU: return z > 0 ? 1 : 0;
    case GF_ACT_SIGMOID: { double s = 1 / (1 + exp(-z)); return s * (1 - s); }
    case GF_ACT_TANH: { double t = tanh(z); return 1 - t * t; }
    case GF_ACT_SOFTPLUS: return 1 / (1 + exp(-z));
    default: return 1;
    }
}

/* z[l][j], a[l][j] for one row x; a[0] = x. */
static void naive_forward_row(const netdesc *d, const double *p, const double *x,
                              double z[][MAXW], double a[][MAXW])
{
    for (int i = 0; i < d->sizes[0]; i++)
        a[0][i] = x[i];
    const double *w = p;
    for (int l = 0; l < d->L; l++) {
        const int64_t IN = d->sizes[l], OUT = d->sizes[l + 1];
        const double *b = w + IN * OUT;
        for (int j = 0; j < OUT; j++) {
            double s = b[j];
            for (int i = 0; i < IN; i++)
                s += a[l][i] * w[i * OUT + j];
            z[l + 1][j] = s;
            a[l + 1][j] = act_f(d->acts[l], s);
        }
        w += IN * OUT + OUT;
    }
}

/* Loss over rows rows[0..n) (weights sw or 1) and its gradient (P),
 * including the L2 penalty l2/2 sum W^2 over weight entries. */
static double naive_loss_grad(const netdesc *d, int loss, double l2, const double *p,
                              double *g, const double *X, const double *Y,
                              const double *sw, const int64_t *rows, int64_t n)
{
    const int64_t P = n_params(d), IN0 = d->sizes[0], OUT = d->sizes[d->L];
    double z[8][MAXW], a[8][MAXW], delta[MAXW], prev[MAXW];
    double wsum = 0, total = 0;
    for (int64_t k = 0; k < P; k++)
        g[k] = 0;
    for (int64_t r = 0; r < n; r++)
        wsum += sw ? sw[rows[r]] : 1.0;
    for (int64_t r = 0; r < n; r++) {
        const int64_t row = rows[r];
        const double w = sw ? sw[row] : 1.0, *t = Y + row * OUT;
        naive_forward_row(d, p, X + row * IN0, z, a);
        const double *pr = a[d->L];
        double li = 0;
        if (loss == GF_LOSS_MSE) {
            for (int k = 0; k < OUT; k++) {
                li += (pr[k] - t[k]) * (pr[k] - t[k]) / OUT;
                delta[k] = 2 * (pr[k] - t[k]) / OUT;
            }
        } else if (loss == GF_LOSS_POISSON) { /* exp(p) - t p, the mean over outputs */
            for (int k = 0; k < OUT; k++) {
                li += (exp(pr[k]) - t[k] * pr[k]) / OUT;
                delta[k] = (exp(pr[k]) - t[k]) / OUT;
            }
        } else { /* cross-entropy of logits */
            double mx = pr[0], s = 0, se = 0;
            for (int k = 1; k < OUT; k++)
                mx = pr[k] > mx ? pr[k] : mx;
            for (int k = 0; k < OUT; k++) {
                s += t[k];
                se += exp(pr[k] - mx);
            }
            const double lse = mx + log(se);
            li = s * lse;
            for (int k = 0; k < OUT; k++) {
                li -= t[k] * pr[k];
                delta[k] = s * exp(pr[k] - lse) - t[k];
            }
        }
        total += w * li;
        const double scale = wsum > 0 ? w / wsum : 0;
        for (int k = 0; k < OUT; k++)
            delta[k] *= scale;
        /* backward */
        int64_t off = P;
        for (int l = d->L - 1; l >= 0; l--) {
            const int64_t IN = d->sizes[l], O = d->sizes[l + 1];
            off -= IN * O + O;
            for (int j = 0; j < O; j++)
                delta[j] *= act_d(d->acts[l], z[l + 1][j]);
            for (int i = 0; i < IN; i++) {
                double s = 0;
                for (int j = 0; j < O; j++) {
                    g[off + i * O + j] += a[l][i] * delta[j];
                    s += p[off + i * O + j] * delta[j];
                }
                prev[i] = s;
            }
            for (int j = 0; j < O; j++)
                g[off + IN * O + j] += delta[j];
            for (int i = 0; i < IN; i++)
                delta[i] = prev[i];
        }
    }
    double L = wsum > 0 ? total / wsum : 0;
    if (l2 > 0) {
        int64_t off = 0;
        for (int l = 0; l < d->L; l++) {
            const int64_t IN = d->sizes[l], O = d->sizes[l + 1];
            for (int64_t k = off; k < off + IN * O; k++) {
                L += 0.5 * l2 * p[k] * p[k];
                g[k] += l2 * p[k];
            }
            off += IN * O + O;
        }
    }
    return L;
}

/* ---- comparisons -------------------------------------------------------- */
static void expect_close(const char *what, const double *got, const double *want,
                         int64_t n, double tol)
{
    double worst = 0;
    int64_t at = -1;
    for (int64_t k = 0; k < n; k++) {
        const double err = fabs(got[k] - want[k]) / (1 + fabs(want[k]));
        if (!(err <= worst)) { /* also catches NaN */
            worst = isnan(err) ? INFINITY : err;
            at = k;
        }
    }
    checks++;
    if (worst <= tol) {
        printf("  ok   %-46s max rel err %.2e (tol %.0e)\n", what, worst, tol);
    } else {
        failures++;
        printf("  FAIL %-46s max rel err %.2e at %lld: got %.17g, want %.17g (tol %.0e)\n",
               what, worst, (long long)at, got[at], want[at], tol);
    }
}

static void expect_status(const char *what, int got, int want)
{
    checks++;
    if (got != want) {
        failures++;
        printf("  FAIL %-46s status %d, want %d\n", what, got, want);
    }
}

/* ---- the checks, once per dtype (T, SUF) -------------------------------- */
#define DEFINE_CHECKS(T, SUF, TOL, TRAIN_TOL)                                      \
    static void check_##SUF(const netdesc *d, const double *p0, const double *X,   \
                            const double *Y, const double *sw, int64_t N)          \
    {                                                                              \
        const gf_net net = {d->L, d->sizes, d->acts};                              \
        const int64_t P = n_params(d), IN0 = d->sizes[0], OUT = d->sizes[d->L];    \
        const int64_t chunk = 5; /* several chunks per call */                    \
        char name[96];                                                             \
        expect_status(#SUF " gf_check_net", gf_check_net(&net), GF_OK);            \
        if (gf_n_params(&net) != P) {                                              \
            failures++;                                                            \
            printf("  FAIL gf_n_params %lld, want %lld\n",                         \
                   (long long)gf_n_params(&net), (long long)P);                    \
            return;                                                                \
        }                                                                          \
        const int64_t S = gf_state_len(GF_OPT_ADAM, P);                            \
        const int64_t wl = gf_workspace_len_kind(&net, chunk, GF_WS_TRAIN, S);                   \
        T *ws = calloc((size_t)wl, sizeof(T)), *pt = malloc(P * sizeof(T));        \
        T *gt = malloc(P * sizeof(T)), *st = calloc((size_t)S, sizeof(T));        \
        T *Xt = malloc(N * IN0 * sizeof(T)), *Yt = malloc(N * OUT * sizeof(T));    \
        T *swt = malloc(N * sizeof(T)), *out = malloc(N * OUT * sizeof(T));        \
        double *got = malloc((N * OUT + P) * sizeof(double));                      \
        double *want = malloc((N * OUT + P) * sizeof(double));                     \
        double *g = malloc(P * sizeof(double)), *p = malloc(P * sizeof(double));   \
        double *v = malloc(2 * P * sizeof(double));                                \
        for (int64_t k = 0; k < P; k++)                                            \
            pt[k] = (T)p0[k];                                                      \
        for (int64_t k = 0; k < N * IN0; k++)                                      \
            Xt[k] = (T)X[k];                                                       \
        for (int64_t k = 0; k < N * OUT; k++)                                      \
            Yt[k] = (T)Y[k];                                                       \
        for (int64_t k = 0; k < N; k++)                                            \
            swt[k] = (T)sw[k];                                                     \
        /* the reference sees the same (rounded) inputs as the kernels */         \
        double *Xr = malloc(N * IN0 * sizeof(double));                             \
        double *Yr = malloc(N * OUT * sizeof(double));                             \
        double *swr = malloc(N * sizeof(double)), *pr = malloc(P * sizeof(double)); \
        for (int64_t k = 0; k < N * IN0; k++)                                      \
            Xr[k] = Xt[k];                                                         \
        for (int64_t k = 0; k < N * OUT; k++)                                      \
            Yr[k] = Yt[k];                                                         \
        for (int64_t k = 0; k < N; k++)                                            \
            swr[k] = swt[k];                                                       \
        for (int64_t k = 0; k < P; k++)                                            \
            pr[k] = pt[k];                                                         \
        int64_t all[MAXN], sub[MAXN], n_sub = 0;                                   \
        for (int64_t r = 0; r < N; r++) {                                          \
            all[r] = r;                                                            \
            if (r % 3 != 1)                                                        \
                sub[n_sub++] = (r * 7) % N;                                        \
        }                                                                          \
                                                                                   \
        /* gf_predict */                                                           \
        expect_status(#SUF " gf_predict",                                          \
                      gf_predict_##SUF(&net, pt, Xt, NULL, N, chunk, ws, out),      \
                      GF_OK);                                                      \
        for (int64_t r = 0; r < N; r++) {                                          \
            double z[8][MAXW], a[8][MAXW];                                         \
            naive_forward_row(d, pr, Xr + r * IN0, z, a);                          \
            for (int64_t k = 0; k < OUT; k++) {                                    \
                want[r * OUT + k] = a[d->L][k];                                    \
                got[r * OUT + k] = out[r * OUT + k];                               \
            }                                                                      \
        }                                                                          \
        expect_close(#SUF " gf_predict", got, want, N * OUT, TOL);                 \
        /* the same through the sparse entry: X as CSR, every entry stored */      \
        int64_t *ip = malloc((N + 1) * sizeof(int64_t));                           \
        int32_t *ix = malloc(N * IN0 * sizeof(int32_t));                           \
        for (int64_t r = 0; r <= N; r++)                                           \
            ip[r] = r * IN0;                                                       \
        for (int64_t k = 0; k < N * IN0; k++)                                      \
            ix[k] = (int32_t)(k % IN0);                                            \
        const gf_csr sx = {ip, ix, Xt};                                            \
        expect_status(#SUF " gf_predict sparse",                                   \
                      gf_predict_##SUF(&net, pt, NULL, &sx, N, chunk, ws, out), GF_OK);\
        for (int64_t k = 0; k < N * OUT; k++)                                      \
            got[k] = out[k];                                                       \
        expect_close(#SUF " gf_predict sparse", got, want, N * OUT, TOL);          \
                                                                                   \
        /* gf_loss_grad: mse + L2 over all rows; cross-entropy and poisson,        \
         * weighted, subset; c >= 3: the same with X sparse */                     \
        for (int c = 0; c < 6; c++) {                                              \
            const int sparse = c >= 3;                                             \
            c %= 3;                                                                \
            const int loss = c == 0 ? GF_LOSS_MSE                                  \
                             : c == 1 ? GF_LOSS_CROSS_ENTROPY : GF_LOSS_POISSON;   \
            const double l2 = c == 0 ? 0.03 : 0.0;                                 \
            const int64_t *rows = c == 0 ? all : sub, n = c == 0 ? N : n_sub;      \
            const T *swc = c == 0 ? NULL : swt;                                    \
            double L = 0;                                                          \
            expect_status(#SUF " gf_loss_grad",                                    \
                          gf_loss_grad_##SUF(&net, loss, 1.0, l2, pt, gt,         \
                                             sparse ? NULL : Xt, sparse ? &sx : NULL, \
                                             Yt,                                   \
                                             swc, c == 0 ? NULL : sub, n, chunk,   \
                                             ws, &L), GF_OK);                      \
            want[0] = naive_loss_grad(d, loss, l2, pr, want + 1, Xr, Yr,           \
                                      c == 0 ? NULL : swr, rows, n);               \
            got[0] = L;                                                            \
            for (int64_t k = 0; k < P; k++)                                        \
                got[1 + k] = gt[k];                                                \
            snprintf(name, sizeof name, "%s gf_loss_grad %s%s: loss, grad", #SUF,  \
                     c == 0 ? "mse+l2, all rows" : c == 1 ? "ce, weights, subset"  \
                                                          : "poisson, weights, subset",\
                     sparse ? ", sparse X" : "");                                  \
            expect_close(name, got, want, 1 + P, TOL);                             \
            c += 3 * sparse;                                                       \
        }                                                                          \
        free(ip);                                                                  \
        free(ix);                                                                  \
                                                                                   \
        /* gf_train: 3 epochs of batches of 4 over N rows (the last one short) */ \
        for (int o = 0; o < 2; o++) {                                              \
            const int n_epochs = 3;                                                \
            const double lrs[3] = {0.05, 0.03, 0.02};                              \
            gf_train_cfg cfg;                                                      \
            memset(&cfg, 0, sizeof cfg);                                           \
            cfg.loss = GF_LOSS_MSE;                                                \
            cfg.optim = o == 0 ? GF_OPT_SGD : GF_OPT_ADAM;                         \
            cfg.batch = 4;                                                         \
            cfg.chunk = chunk;                                                     \
            cfg.max_steps = -1;                                                    \
            cfg.max_batches = -1;                                                  \
            cfg.huber_delta = 1.0;                                                 \
            cfg.l2 = 0.01;                                                         \
            cfg.momentum = o == 0 ? 0.9 : 0.0;                                     \
            cfg.beta1 = 0.9;                                                       \
            cfg.beta2 = 0.999;                                                     \
            cfg.eps = 1e-8;                                                        \
            const int n_threads_runs = HAVE_POOL ? 2 : 1;                          \
            T *first = malloc(P * sizeof(T));                                      \
            for (int th = 0; th < n_threads_runs; th++) {                          \
                SET_THREADS(th == 0 ? 1 : 3);                                      \
                for (int64_t k = 0; k < P; k++)                                    \
                    pt[k] = (T)p0[k];                                              \
                memset(st, 0, (size_t)S * sizeof(T));                              \
                int64_t step_count = 0;                                            \
                double sl[3] = {0}, spn[3] = {0}, swe[3] = {0};                    \
                int64_t seen[3] = {0};                                             \
                gf_epoch_sums sums = {sl, spn, swe, seen};                         \
                gf_train_out res;                                                  \
                expect_status(#SUF " gf_reset_prev",                               \
                              gf_reset_prev_##SUF(&net, chunk, pt, st, S, 0, ws),  \
                              GF_OK);                                              \
                expect_status(#SUF " gf_train",                                    \
                              gf_train_##SUF(&net, &cfg, pt, gt, st, ws, Xt, NULL,  \
                                             Yt,                                   \
                                             NULL, N, NULL, n_epochs, 0, lrs,      \
                                             &step_count, &sums, &res), GF_OK);    \
                if (th == 0) {                                                     \
                    memcpy(first, pt, P * sizeof(T));                              \
                } else {                                                           \
                    checks++;                                                      \
                    if (memcmp(first, pt, P * sizeof(T)) != 0) {                   \
                        failures++;                                                \
                        printf("  FAIL %s gf_train: 3 threads differ from 1\n",    \
                               #SUF);                                              \
                    } else {                                                       \
                        printf("  ok   %s gf_train %s: 3 threads == 1 thread, "    \
                               "bit for bit\n", #SUF, o == 0 ? "sgd" : "adam");    \
                    }                                                              \
                }                                                                  \
                const int64_t want_steps = n_epochs * ((N + 3) / 4);               \
                checks++;                                                          \
                if (res.steps != want_steps || step_count != want_steps) {         \
                    failures++;                                                    \
                    printf("  FAIL %s gf_train steps %lld, want %lld\n", #SUF,      \
                           (long long)res.steps, (long long)want_steps);           \
                }                                                                  \
            }                                                                      \
            SET_THREADS(1);                                                        \
            free(first);                                                           \
            /* the same loop, written out */                                       \
            for (int64_t k = 0; k < P; k++)                                        \
                p[k] = pr[k];                                                      \
            for (int64_t k = 0; k < 2 * P; k++)                                    \
                v[k] = 0;                                                          \
            int64_t t = 0;                                                         \
            for (int e = 0; e < n_epochs; e++)                                     \
                for (int64_t s0 = 0; s0 < N; s0 += 4) {                            \
                    const int64_t n = N - s0 < 4 ? N - s0 : 4;                     \
                    naive_loss_grad(d, GF_LOSS_MSE, cfg.l2, p, g, Xr, Yr, NULL,    \
                                    all + s0, n);                                  \
                    t++;                                                           \
                    for (int64_t k = 0; k < P; k++) {                              \
                        if (o == 0) {                                              \
                            v[k] = cfg.momentum * v[k] + g[k];                     \
                            p[k] -= lrs[e] * v[k];                                 \
                        } else {                                                   \
                            double *m = v, *vv = v + P;                            \
                            m[k] = cfg.beta1 * m[k] + (1 - cfg.beta1) * g[k];      \
                            vv[k] = cfg.beta2 * vv[k] + (1 - cfg.beta2) * g[k] * g[k]; \
                            const double mh = m[k] / (1 - pow(cfg.beta1, (double)t)); \
                            const double vh = vv[k] / (1 - pow(cfg.beta2, (double)t)); \
                            p[k] -= lrs[e] * mh / (sqrt(vh) + cfg.eps);            \
                        }                                                          \
                    }                                                              \
                }                                                                  \
            for (int64_t k = 0; k < P; k++)                                        \
                got[k] = pt[k];                                                    \
            snprintf(name, sizeof name, "%s gf_train %s: params after %lld steps", \
                     #SUF, o == 0 ? "sgd+momentum" : "adam", (long long)t);        \
            expect_close(name, got, p, P, TRAIN_TOL);                              \
        }                                                                          \
        free(ws); free(pt); free(gt); free(st); free(Xt); free(Yt); free(swt);     \
        free(out); free(got); free(want); free(g); free(p); free(v);               \
        free(Xr); free(Yr); free(swr); free(pr);                                   \
    }

#if HAVE_POOL
#define SET_THREADS(n) gf_threads_set(n)
#else
#define SET_THREADS(n) ((void)0)
#endif

DEFINE_CHECKS(double, f64, 1e-10, 1e-9)
DEFINE_CHECKS(float, f32, 2e-5, 2e-4)

#if HAVE_POOL
/* gf_pool_run runs every part exactly once, whatever the thread count and
 * the part count (more parts than threads, fewer threads than workers
 * started by an earlier task). Parts of uneven length, so that the threads
 * finish at different times and take parts from each other. */
static void count_part(void *arg, int part, int n_parts)
{
    int *count = (int *)arg;
    volatile double s = 0;
    for (int i = 0; i < (part * 37) % 300; i++)
        s += i;
    (void)s;
    (void)n_parts;
    __atomic_fetch_add(&count[part], 1, __ATOMIC_RELAXED);
}

static void check_pool(void)
{
    int wrong = 0, runs = 0;
    for (int it = 0; it < 3000; it++) {
        int count[48] = {0};
        const int n_parts = 1 + (it * 13) % 48;
        gf_threads_set(1 + (it * 7) % 5);
        gf_pool_run(count_part, count, n_parts);
        for (int p = 0; p < 48; p++)
            wrong += count[p] != (p < n_parts);
        runs++;
    }
    gf_threads_set(1);
    checks++;
    if (wrong) {
        failures++;
        printf("  FAIL gf_pool_run: %d parts not run exactly once in %d tasks\n", wrong, runs);
    } else {
        printf("  ok   gf_pool_run: %d tasks of 1-48 parts on 1-5 threads, each part once\n", runs);
    }
}
#endif

static const char *simd_name(int level)
{
    return level == GF_SIMD_AVX512 ? "avx512" : level == GF_SIMD_AVX2 ? "avx2" : "baseline";
}

int main(void)
{
    /* two nets: every activation, a wide-enough layer to cross the kernels'
     * vector widths, a 1-output and a several-output head */
    netdesc nets[2] = {
        {3, {5, 13, 9, 3}, {GF_ACT_TANH, GF_ACT_SOFTPLUS, GF_ACT_IDENTITY}},
        {2, {7, 16, 4}, {GF_ACT_RELU, GF_ACT_SIGMOID}},
    };
    const int64_t N = 23;
    double X[MAXN * MAXW], Y[MAXN * MAXW], sw[MAXN], p0[MAXP];
#if defined(__aarch64__)
    const char *arch = "aarch64";
#elif defined(__x86_64__)
    const char *arch = "x86-64";
#else
    const char *arch = "other";
#endif
    printf("gradfit core check (%s, thread pool: %s)\n", arch, HAVE_POOL ? "yes" : "no");
    for (int level = GF_SIMD_BASELINE; level <= GF_SIMD_AVX512; level++) {
        if (!gf_simd_available(level))
            continue;
        if (gf_simd_set(level) != level) {
            failures++;
            printf("FAIL gf_simd_set(%d)\n", level);
            continue;
        }
        for (int k = 0; k < 2; k++) {
            const netdesc *d = &nets[k];
            rng_state = 0x9E3779B97F4A7C15ull + (uint64_t)k;
            const int64_t P = n_params(d);
            for (int64_t i = 0; i < N * d->sizes[0]; i++)
                X[i] = urand();
            for (int64_t i = 0; i < N * d->sizes[d->L]; i++)
                Y[i] = 0.5 * urand() + (d->acts[d->L - 1] == GF_ACT_SIGMOID ? 0.5 : 0);
            for (int64_t i = 0; i < N; i++)
                sw[i] = 1.5 + urand();
            for (int64_t i = 0; i < P; i++)
                p0[i] = 0.6 * urand();
            printf("path %s, net %d (%lld params):\n", simd_name(level), k, (long long)P);
            check_f64(d, p0, X, Y, sw, N);
            check_f32(d, p0, X, Y, sw, N);
        }
    }
#if HAVE_POOL
    check_pool();
#endif
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
