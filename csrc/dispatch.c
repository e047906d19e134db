/* Runtime CPU dispatch: each public typed entry point forwards to the
 * baseline kernels or to the AVX2 + FMA or AVX-512 build of the same source. */
#include <stdlib.h>
#include <string.h>
#include "gradfit.h"
#include "layout.h"
#include "ops.h"

/* The path in use; -1: not chosen yet. Read by every call from any thread,
 * written by gf_simd_set: atomic loads and stores, so that concurrent calls
 * see one path or the other, never a torn value (_core also chooses it once
 * at import, before any thread can train). */
static int gf_level = -1;

#if defined(__GNUC__) || defined(__clang__)
#define GF_LOAD(v) __atomic_load_n(&(v), __ATOMIC_RELAXED)
#define GF_STORE(v, x) __atomic_store_n(&(v), (x), __ATOMIC_RELAXED)
#else /* MSVC: aligned int loads and stores are atomic on x86-64 and arm64 */
#define GF_LOAD(v) (*(volatile int *)&(v))
#define GF_STORE(v, x) (*(volatile int *)&(v) = (x))
#endif

int gf_simd_available(int level)
{
    if (level == GF_SIMD_BASELINE)
        return 1;
#if GF_HAVE_X86_SIMD_BUILD
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (level == GF_SIMD_AVX2)
        return avx2;
    if (level == GF_SIMD_AVX512)
        return avx2 && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq");
#endif
    return 0;
}

/* The best path the CPU runs, capped by GRADFIT_SIMD if it names one. */
static int gf_detect(void)
{
    int cap = GF_SIMD_AVX512;
    const char *env = getenv("GRADFIT_SIMD");
    if (env && strcmp(env, "baseline") == 0)
        cap = GF_SIMD_BASELINE;
    else if (env && strcmp(env, "avx2") == 0)
        cap = GF_SIMD_AVX2;
    for (int level = cap; level > GF_SIMD_BASELINE; level--)
        if (gf_simd_available(level))
            return level;
    return GF_SIMD_BASELINE;
}

int gf_simd_get(void)
{
    int level = GF_LOAD(gf_level);
    if (level < 0) {
        level = gf_detect();      /* the same answer in every thread */
        GF_STORE(gf_level, level);
    }
    return level;
}

int gf_simd_set(int level)
{
    if (level < 0)
        GF_STORE(gf_level, gf_detect());
    else if (gf_simd_available(level))
        GF_STORE(gf_level, level);
    return gf_simd_get();
}

#if GF_HAVE_X86_SIMD_BUILD
#define GF_PICK(name, ...)                                        \
    (gf_simd_get() == GF_SIMD_AVX512 ? name##_avx512(__VA_ARGS__) \
     : gf_simd_get() == GF_SIMD_AVX2 ? name##_avx2(__VA_ARGS__)   \
                                     : name##_base(__VA_ARGS__))
#else
#define GF_PICK(name, ...) name##_base(__VA_ARGS__)
#endif

#define GF_DEFINE_DISPATCH(T, SUF)                                              \
    int gf_predict_##SUF(const gf_net *net, const T *params, const T *X,        \
                         const gf_csr *sx, int64_t N, int64_t chunk, T *ws,     \
                         T *out)                                                \
    {                                                                           \
        return GF_PICK(gf_predict_##SUF, net, params, X, sx, N, chunk, ws, out);\
    }                                                                           \
    int gf_loss_##SUF(const gf_net *net, int32_t loss, double huber_delta,      \
                      const T *params, const T *X, const gf_csr *sx,            \
                      const T *y, const T *sw, int64_t N, int64_t chunk, T *ws, \
                      double *loss_out)                                         \
    {                                                                           \
        return GF_PICK(gf_loss_##SUF, net, loss, huber_delta, params, X, sx, y, \
                       sw, N, chunk, ws, loss_out);                             \
    }                                                                           \
    int gf_loss_grad_##SUF(const gf_net *net, int32_t loss, double huber_delta, \
                           double l2, const T *params, T *grad, const T *X,     \
                           const gf_csr *sx, const T *y, const T *sw,           \
                           const int64_t *idx, int64_t n, int64_t chunk, T *ws, \
                           double *loss_out)                                    \
    {                                                                           \
        return GF_PICK(gf_loss_grad_##SUF, net, loss, huber_delta, l2, params,  \
                       grad, X, sx, y, sw, idx, n, chunk, ws, loss_out);        \
    }                                                                           \
    int gf_reset_prev_##SUF(const gf_net *net, int64_t chunk, const T *params,  \
                            const T *state, int64_t state_len,                  \
                            int64_t step_count, T *ws)                          \
    {                                                                           \
        return GF_PICK(gf_reset_prev_##SUF, net, chunk, params, state,          \
                       state_len, step_count, ws);                              \
    }                                                                           \
    int gf_train_##SUF(const gf_net *net, const gf_train_cfg *cfg, T *params,   \
                       T *grad, T *state, T *ws, const T *X, const gf_csr *sx,  \
                       const T *y, const T *sw, int64_t N, const int64_t *idx,  \
                       int64_t n_epochs, int64_t start_batch,                   \
                       const double *epoch_lr, int64_t *step_count,             \
                       const gf_epoch_sums *sums, gf_train_out *out)            \
    {                                                                           \
        return GF_PICK(gf_train_##SUF, net, cfg, params, grad, state, ws, X, sx,\
                       y, sw, N, idx, n_epochs, start_batch, epoch_lr, step_count, \
                       sums, out);                                              \
    }                                                                           \
    int gf_train_fused_##SUF(const gf_net *net, gf_fused_model *models,         \
                             int64_t n_models, T *gbuf, const T *X, const T *y, \
                             int64_t N, const int64_t *idx, int64_t n_epochs,   \
                             int64_t start_batch)                               \
    {                                                                           \
        return GF_PICK(gf_train_fused_##SUF, net, models, n_models, gbuf, X, y, \
                       N, idx, n_epochs, start_batch);                          \
    }

GF_DEFINE_DISPATCH(float, f32)
GF_DEFINE_DISPATCH(double, f64)

/* The test hook: one activation on the path in use (not a hot loop). */
#define GF_DEFINE_ACT_HOOK(T, SUF)                                              \
    int gf_act_forward_##SUF(T *a, T *dadz, const T *z, int64_t n, int32_t act) \
    {                                                                           \
        if (!a || !z || n < 0 || act < 0 || act >= GF_ACT_COUNT_)               \
            return GF_ERR_ARG;                                                  \
        GF_PICK(act_forward_##SUF, a, dadz, z, n, act);                         \
        return GF_OK;                                                           \
    }

GF_DEFINE_ACT_HOOK(float, f32)
GF_DEFINE_ACT_HOOK(double, f64)
