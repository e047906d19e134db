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
 * parameters, optimizer state and step count) lives in one workspace buffer
 * owned by the caller, sized by gf_workspace_len_kind() for a chunk of at
 * most `chunk` rows and an optimizer state of state_len elements. The
 * training, loss and prediction entry points never allocate; the only
 * allocations are the epoch order's optional scratch (gf_order_*: one
 * malloc per call, and without it the same order is made in place) and the
 * thread pool's workers (pool.c: started when a call first needs more of
 * them than exist, then kept for the process). Nothing here prints or exits; functions return
 * a gf_status.
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

/* Losses. l_i is the loss of sample i over its OUT outputs (p: prediction
 * row, t: target row); a batch's loss is the weighted mean
 * sum_i w_i l_i / sum_i w_i (weights w_i >= 0, all 1 without sample
 * weights; 0 if the weights sum to 0), except for sse: sum_i w_i l_i. */
typedef enum {
    GF_LOSS_MSE = 0,   /* mean_k (p_k - t_k)^2 */
    GF_LOSS_SSE = 1,   /* sum_k (p_k - t_k)^2 */
    GF_LOSS_CROSS_ENTROPY = 2,  /* p: logits; s = sum_k t_k;
                                   s * logsumexp(p) - sum_k t_k p_k */
    GF_LOSS_BCE = 3,   /* binary cross-entropy of logits, mean over k of
                          max(p,0) - p t + log1p(e^-|p|) (one output in use) */
    GF_LOSS_MAE = 4,   /* mean_k |p_k - t_k| */
    GF_LOSS_HUBER = 5, /* mean_k h(p_k - t_k), h(r) = r^2/2 if |r| <= delta,
                          else delta (|r| - delta/2) */
    GF_LOSS_POISSON = 6, /* p: log of the mean; mean_k e^p_k - t_k p_k (the
                            Poisson negative log-likelihood of counts t_k >= 0
                            without its constant log t_k!) */
    GF_LOSS_COUNT_ = 7
} gf_loss;

/* Optimizers; g is the gradient of (data loss + L2 penalty), t the step
 * count (incremented before use: the first step has t = 1). */
typedef enum {
    GF_OPT_SGD = 0,    /* momentum mu: v = mu v + g; p -= lr (g + mu v) with
                          nesterov, else p -= lr v; mu = 0: p -= lr g.
                          state: v (P) */
    GF_OPT_ADAM = 1,   /* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
                          p -= lr (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps).
                          state: m (P) then v (P) */
    GF_OPT_ADAMW = 2,  /* adam after W -= lr wd W on weight entries */
    GF_OPT_COUNT_ = 3
} gf_optim;

typedef enum {
    GF_OK = 0,
    GF_ERR_ARG = 1,       /* an argument is out of range (a bug in the caller) */
    GF_DIVERGED = 2,      /* a batch loss was NaN/inf; params, state and step
                             count restored to before the last update */
    GF_CONVERGED = 3,     /* full-batch gradient norm fell below grad_tol */
    GF_MAX_STEPS = 4,     /* the step budget was used up */
    GF_ERR_SIZE = 5,      /* the parameter count or the workspace length would
                             exceed GF_MAX_LEN elements */
    GF_PAUSED = 6         /* the call's batch budget (max_batches) ran out
                             before its epochs were done: not an error */
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
    int64_t batch;           /* minibatch size, >= 1 */
    int64_t chunk;           /* workspace capacity in rows, >= 1 */
    int64_t max_steps;       /* updates allowed in this call; < 0: no limit */
    int64_t max_batches;     /* batches allowed in this call (GF_PAUSED when
                                they run out); < 0: no limit */
    double grad_tol;         /* > 0: stop when a full-batch gradient norm < grad_tol */
    double huber_delta;      /* huber's delta, > 0 */
    double l2;               /* L2 penalty l2/2 sum W^2 over weight entries, >= 0 */
    double momentum;         /* sgd: mu in [0, 1) */
    int32_t nesterov;        /* sgd: 1 for Nesterov momentum */
    double beta1, beta2;     /* adam, adamw: in [0, 1) */
    double eps;              /* adam, adamw: > 0 */
    double weight_decay;     /* adamw: decoupled decay of weight entries, >= 0 */
} gf_train_cfg;

/* Per-call results of gf_train_*. */
typedef struct {
    int64_t steps;           /* updates applied */
    int64_t epochs;          /* epochs of this call completed in it */
    int64_t next_batch;      /* the batch index (within epoch `epochs` of the
                                call) where the next call should start; 0 at
                                an epoch boundary */
    double grad_norm;        /* norm of the last full-batch gradient seen, or -1 */
} gf_train_out;

/* Per-epoch sums of one call (n_epochs entries each), added to (the caller
 * zeroes them): for every batch run in epoch e, with B its weight sum (its
 * row count without sample weights) and n its row count,
 *   mean losses: loss[e] += B * batch loss, penalty[e] += B * penalty,
 *                weight[e] += B;
 *   sse:         loss[e] += n * batch loss, penalty[e] += n * penalty,
 *                weight[e] += n;
 *   seen[e] += n.
 * The penalty is the L2 penalty at the params the batch was measured at. */
typedef struct {
    double *loss;
    double *penalty;
    double *weight;
    int64_t *seen;
} gf_epoch_sums;

/* One model of a fused call (gf_train_fused_*): the settings, buffers and
 * sums it would give gf_train, and what gf_train would return for it (out,
 * status). params, grad, state, ws and sw hold the call's dtype; sw may be
 * NULL (no sample weights), state as for gf_train. loss, optim, batch,
 * chunk and max_batches must be the same for every model of a call. */
typedef struct {
    gf_train_cfg cfg;
    void *params, *grad, *state, *ws;
    const void *sw;
    const double *epoch_lr;  /* n_epochs learning rates */
    int64_t *step_count;
    gf_epoch_sums sums;
    gf_train_out out;        /* set by the call */
    int32_t status;          /* set by the call: gf_train's status for it */
} gf_fused_model;

/* Batches whose rows gf_train_fused gathers at once and each model then
 * steps through in turn, its weights and workspace staying in cache across
 * them (the models' steps are independent: the same bits in any order);
 * its gbuf holds gf_fused_block(...) * batch * (IN + OUT + 1) elements. */
static inline int64_t gf_fused_block(int64_t batch, int64_t n_rows, int64_t in, int64_t out)
{
    int64_t rows = batch < n_rows ? batch : n_rows;
    int64_t k = (int64_t)(1 << 15) / (rows * (in + out + 1) > 0 ? rows * (in + out + 1) : 1);
    k = k < 64 ? k : 64;
    return k > 1 ? k : 1;
}

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
/* Elements of optimizer state: sgd P (momentum), adam and adamw 2P (m, v);
 * -1 for an unknown optimizer or P out of range. */
int64_t gf_state_len(int32_t optim, int64_t P);
/* What a workspace is for: gf_predict and gf_loss (forward passes only),
 * gf_loss_grad (forward and backward), or gf_train and gf_reset_prev (also
 * copies of the params, state and step count before the last update). A
 * bigger kind serves a smaller one's calls too. */
typedef enum { GF_WS_FORWARD = 0, GF_WS_GRAD = 1, GF_WS_TRAIN = 2 } gf_ws_kind;
/* Added to a kind (GF_WS_TRAIN | GF_WS_SPARSE): a workspace for calls whose
 * X is a gf_csr, without the gathered batch of X and the first layer's
 * packing scratch (its products read the sparse rows). A dense workspace
 * serves sparse calls too; a sparse one serves sparse calls only. */
#define GF_WS_SPARSE 4
/* X as a CSR matrix of N rows and IN = sizes[0] columns, for the typed
 * entry points' `sx`: row r's non-zero entries are data[k] in columns
 * indices[k] for k in [indptr[r], indptr[r+1]). The caller checks, before
 * the call, that indptr starts at 0 and never decreases and that every
 * index is in [0, IN) (gradfit._sparse does): the kernels trust them. The
 * first layer's products read these rows directly (sparse.inc). */
typedef struct {
    const int64_t *indptr;   /* N + 1 offsets into indices and data */
    const int32_t *indices;  /* the column of each non-zero entry */
    const void *data;        /* the entries, of the entry point's dtype */
} gf_csr;
/* Workspace length for a workspace of the given kind (GF_WS_SPARSE added
 * or not) with chunks of `chunk`
 * rows and an optimizer state of state_len elements (state_len counts for
 * GF_WS_TRAIN only); -1 if it exceeds GF_MAX_LEN (or chunk < 1,
 * state_len < 0, an unknown kind). The typed entry points return
 * GF_ERR_SIZE then. */
int64_t gf_workspace_len_kind(const gf_net *net, int64_t chunk, int32_t kind,
                              int64_t state_len);

/* Test hook: act_forward on the SIMD path in use. a (n) = f(z) for the
 * activation `act` (gf_act); dadz (n) = f'(z) unless dadz is NULL. Returns
 * GF_OK, or GF_ERR_ARG for an unknown act or n < 0. */
int gf_act_forward_f32(float *a, float *dadz, const float *z, int64_t n, int32_t act);
int gf_act_forward_f64(double *a, double *dadz, const double *z, int64_t n, int32_t act);

/* The typed entry points (the kernels' doc comments in train.inc say more):
 *   gf_predict:   out (N, OUT) = net(X (N, IN)).
 *   gf_loss:      *loss_out = the data loss over all N rows (forward only).
 *   gf_loss_grad: *loss_out = the data loss over rows idx[0..n) (0..n if idx
 *                 is NULL) plus the L2 penalty if l2 > 0; grad (P) = its
 *                 gradient.
 *   gf_reset_prev: the workspace's copies of params, state (state_len
 *                 elements) and step count, to which a divergence rolls back,
 *                 set to the current ones.
 *   gf_train:     the minibatch loop.
 * sw: N sample weights, or NULL for all ones. sx: NULL, or X as a CSR
 * matrix (then X is not read and may be NULL; the workspace may be of a
 * GF_WS_SPARSE kind). */
#define GF_DECLARE_TYPED(T, SUF)                                              \
    int gf_predict_##SUF(const gf_net *net, const T *params,                  \
                         const T *X, const gf_csr *sx, int64_t N,             \
                         int64_t chunk, T *ws, T *out);                       \
    int gf_loss_##SUF(const gf_net *net, int32_t loss, double huber_delta,    \
                      const T *params, const T *X, const gf_csr *sx,          \
                      const T *y, const T *sw, int64_t N, int64_t chunk,      \
                      T *ws, double *loss_out);                               \
    int gf_loss_grad_##SUF(const gf_net *net, int32_t loss,                   \
                           double huber_delta, double l2, const T *params,    \
                           T *grad, const T *X, const gf_csr *sx,             \
                           const T *y, const T *sw,                           \
                           const int64_t *idx, int64_t n, int64_t chunk,      \
                           T *ws, double *loss_out);                          \
    int gf_reset_prev_##SUF(const gf_net *net, int64_t chunk,                 \
                            const T *params, const T *state,                  \
                            int64_t state_len, int64_t step_count, T *ws);    \
    int gf_train_##SUF(const gf_net *net, const gf_train_cfg *cfg,            \
                       T *params, T *grad, T *state, T *ws,                   \
                       const T *X, const gf_csr *sx, const T *y,              \
                       const T *sw, int64_t N, const int64_t *idx,            \
                       int64_t n_epochs, int64_t start_batch, const double *epoch_lr,           \
                       int64_t *step_count, const gf_epoch_sums *sums,        \
                       gf_train_out *out);                                    \
    int gf_train_fused_##SUF(const gf_net *net, gf_fused_model *models,       \
                             int64_t n_models, T *gbuf, const T *X,           \
                             const T *y, int64_t N, const int64_t *idx,       \
                             int64_t n_epochs, int64_t start_batch);

GF_DECLARE_TYPED(float, f32)
GF_DECLARE_TYPED(double, f64)
/* GF_DECLARE_TYPED stays defined: ops.h declares the per-path variants with it */

/* A random bit generator as NumPy exposes it: the pointer held by a
 * BitGenerator's PyCapsule named "BitGenerator". This struct repeats the
 * layout of NumPy's bitgen_t (numpy/random/bitgen.h, unchanged since NumPy
 * 1.17) so that building gradfit needs no NumPy headers. */
typedef struct gf_bitgen {
    void *state;
    uint64_t (*next_uint64)(void *st);
    uint32_t (*next_uint32)(void *st);
    double (*next_double)(void *st);
    uint64_t (*next_raw)(void *st);
} gf_bitgen;

/* The state of NumPy's PCG64 (dxsm = 0) or PCG64DXSM (dxsm = 1), as in its
 * state dict: the 128-bit state and inc split into high and low words, and
 * the buffered 32-bit half-word (has_uint32, uinteger), which the epoch
 * order carries through unchanged. */
typedef struct gf_pcg64 {
    uint64_t state_hi, state_lo, inc_hi, inc_lo;
    int32_t dxsm, has_uint32;
    uint32_t uinteger;
} gf_pcg64;

/* gradfit's epoch order (Sanders' bucketed shuffle; csrc/order.c and
 * docs/order.md give the exact draws): a uniform permutation of 0..n-1
 * into order[], and, for each of the n_rows arrays in rows[], the source
 * rows moved with it: dst row t := src row order[t] (row_bytes bytes each;
 * src and dst must not overlap). order may be NULL when n_rows > 0: the
 * same draws and moved rows, no order written. k: the number of buckets, 0
 * for gf_order_buckets(n) (others, powers of two up to
 * GF_ORDER_MAX_BUCKETS, are for tests). ids: scratch of n uint16 (may be
 * NULL when k == 1). gf_order_bitgen draws 64-bit outputs through bitgen_t
 * (the caller holds the generator's lock); gf_order_pcg64 runs PCG64 /
 * PCG64DXSM inline on g's state (has_uint32 and uinteger untouched), where
 * gf_order_pcg64_available() is 1 (a compiler with a 128-bit integer type;
 * elsewhere it returns GF_ERR_ARG). Both give the same numbers and leave
 * the generator in the same state. GF_OK or GF_ERR_ARG.
 * The first two constants are part of the documented order (changing them
 * changes every order drawn): */
/* rows per bucket aimed at: a bucket's rows stay in L2 while it is
 * shuffled, and it was the fastest bucket size measured (docs/perf-log.md) */
#define GF_ORDER_BUCKET_ROWS 8192
/* the most buckets: bounds the bucket table on the stack (32 KiB); a bucket
 * id is the top 12 bits at most of a 16-bit piece */
#define GF_ORDER_MAX_BUCKETS 4096
/* the most arrays moved with the order in one call (X, y and weights need 3) */
#define GF_ORDER_MAX_ROWS 8
typedef struct gf_rows {
    const void *src;
    void *dst;
    int64_t row_bytes;
} gf_rows;
int64_t gf_order_buckets(int64_t n);
int gf_order_pcg64_available(void);
int gf_order_bitgen(const gf_bitgen *bg, int64_t n, int64_t *order, const gf_rows *rows, int n_rows,
                    uint16_t *ids, int64_t k);
int gf_order_pcg64(gf_pcg64 *g, int64_t n, int64_t *order, const gf_rows *rows, int n_rows, uint16_t *ids,
                   int64_t k);

#ifdef __cplusplus
}
#endif
#endif /* GRADFIT_H */
