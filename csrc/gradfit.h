/* gradfit C core: public API.
 *
 * A network is a stack of dense layers. Layer l maps IN = sizes[l] inputs to
 * OUT = sizes[l+1] outputs and applies activation acts[l].
 *
 * Every parameter lives in one flat buffer, layer by layer:
 *     W0 (IN0,OUT0) row-major, b0 (OUT0), W1 (IN1,OUT1), b1 (OUT1), ...
 * Gradients and optimizer state use the same layout.
 *
 * Scratch memory (gathered batch, activations, deltas, the previous
 * parameters) lives in one workspace buffer owned by the caller, sized by
 * gf_workspace_len() for a chunk of at most `chunk` rows. Nothing here
 * allocates, prints or exits; functions return a gf_status.
 *
 * Every typed function exists twice, with suffix _f32 (float) and _f64
 * (double), compiled from the same source (see dtype.h). Each of those
 * dispatches at run time to a baseline build or, on x86-64 CPUs with AVX2
 * and FMA or AVX-512, to the same source compiled for them (dispatch.c;
 * ops.h declares the per-path variants).
 */
#ifndef GRADFIT_H
#define GRADFIT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    GF_ACT_IDENTITY = 0,
    GF_ACT_RELU = 1,
    GF_ACT_SIGMOID = 2,
    GF_ACT_TANH = 3,
    GF_ACT_SOFTPLUS = 4,
    GF_ACT_COUNT_ = 5
} gf_act;

typedef enum {
    GF_LOSS_MSE = 0,   /* mean over samples and outputs of (pred - y)^2 */
    GF_LOSS_SSE = 1,   /* sum over samples and outputs of (pred - y)^2 */
    GF_LOSS_COUNT_ = 2
} gf_loss;

typedef enum {
    GF_OPT_SGD = 0,    /* p -= lr * g ; no state */
    GF_OPT_COUNT_ = 1
} gf_optim;

typedef enum {
    GF_OK = 0,
    GF_ERR_ARG = 1,       /* an argument is out of range (a bug in the caller) */
    GF_DIVERGED = 2,      /* a batch loss was NaN/inf; params restored */
    GF_CONVERGED = 3,     /* full-batch gradient norm fell below grad_tol */
    GF_MAX_STEPS = 4,     /* the step budget was used up */
    GF_ERR_SIZE = 5       /* the parameter count or the workspace length would
                             exceed GF_MAX_LEN elements */
} gf_status;

/* The largest parameter count and workspace length accepted, in elements:
 * 2^60, so that every element count, offset and byte count (8 bytes an
 * element at most) computed from them fits in int64_t. */
#define GF_MAX_LEN ((int64_t)1 << 60)

typedef struct {
    int64_t n_layers;        /* L, number of dense layers (>= 1) */
    const int64_t *sizes;    /* L + 1 layer widths */
    const int32_t *acts;     /* L activation ids (gf_act) */
} gf_net;

/* Training run settings that do not change within a call. */
typedef struct {
    int32_t loss;            /* gf_loss */
    int32_t optim;           /* gf_optim */
    double lr;               /* learning rate, > 0 */
    int64_t batch;           /* minibatch size, >= 1 */
    int64_t chunk;           /* workspace capacity in rows, >= 1 */
    int64_t max_steps;       /* updates allowed in this call; < 0: no limit */
    double grad_tol;         /* > 0: stop when a full-batch gradient norm < grad_tol */
} gf_train_cfg;

/* Per-call results of gf_train_*. */
typedef struct {
    int64_t steps;           /* updates applied */
    int64_t epochs;          /* epochs begun (the last may be partial) */
    double grad_norm;        /* norm of the last full-batch gradient seen, or -1 */
} gf_train_out;

/* SIMD paths: GF_SIMD_BASELINE runs everywhere; GF_SIMD_AVX2 needs x86-64
 * with AVX2 and FMA; GF_SIMD_AVX512 also AVX-512 F/VL/BW/DQ. The environment
 * variable GRADFIT_SIMD (baseline, avx2 or avx512) caps the path chosen at
 * start-up. */
typedef enum { GF_SIMD_BASELINE = 0, GF_SIMD_AVX2 = 1, GF_SIMD_AVX512 = 2 } gf_simd;
int gf_simd_available(int level);    /* 1 if this build and CPU can run it */
int gf_simd_get(void);               /* the path in use */
int gf_simd_set(int level);          /* choose a path; returns the path in use */

/* GF_OK, GF_ERR_ARG (no layers, a size < 1, an unknown activation) or
 * GF_ERR_SIZE (the parameter count exceeds GF_MAX_LEN). */
int gf_check_net(const gf_net *net);
/* Parameter count of a net that passed gf_check_net; -1 if it exceeds GF_MAX_LEN. */
int64_t gf_n_params(const gf_net *net);
/* Workspace length for chunks of `chunk` rows; -1 if it exceeds GF_MAX_LEN
 * (or chunk < 1). The typed entry points return GF_ERR_SIZE then. */
int64_t gf_workspace_len(const gf_net *net, int64_t chunk);

/* Test hook: act_forward on the SIMD path in use. a (n) = f(z) for the
 * activation `act` (gf_act); dadz (n) = f'(z) unless dadz is NULL. Returns
 * GF_OK, or GF_ERR_ARG for an unknown act or n < 0. */
int gf_act_forward_f32(float *a, float *dadz, const float *z, int64_t n, int32_t act);
int gf_act_forward_f64(double *a, double *dadz, const double *z, int64_t n, int32_t act);

#define GF_DECLARE_TYPED(T, SUF)                                              \
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
                       gf_train_out *out);

GF_DECLARE_TYPED(float, f32)
GF_DECLARE_TYPED(double, f64)

#undef GF_DECLARE_TYPED

#ifdef __cplusplus
}
#endif
#endif /* GRADFIT_H */
