# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Pointer plumbing between NumPy buffers and the C core (csrc/).

Arguments arrive already validated by the Python layer (gradfit.model,
gradfit.trainer): C-contiguous, the right dtype, consistent shapes. Each call
turns memoryviews into pointers, releases the GIL around the C call, and
turns a C status into a Python exception or a return value. No numerics here.
"""
from libc.stdint cimport int32_t, int64_t

cdef extern from "pool.h":
    int gf_threads_set(int n) nogil
    int GF_MAX_THREADS
    ctypedef struct gf_tuning:
        int64_t panel_bytes, matmul_kc, a_cols_span
        int64_t parallel_macs, parallel_outs, parallel_small, parallel_update
        int64_t spin_ns, derive
        double macs_per_ns, elems_per_ns
        int64_t wake_ns
    void gf_tuning_get(gf_tuning *out) nogil
    void gf_tuning_set(const gf_tuning *t) nogil

MAX_THREADS = GF_MAX_THREADS
TUNING_FIELDS = ("panel_bytes", "matmul_kc", "a_cols_span", "parallel_macs", "parallel_outs",
                 "parallel_small", "parallel_update", "spin_ns", "derive", "macs_per_ns",
                 "elems_per_ns", "wake_ns")


def tuning_get():
    """The C core's run-time tunables (pool.h: gf_tuning) as a dict."""
    cdef gf_tuning t
    gf_tuning_get(&t)
    return dict(t)


def tuning_set(dict values):
    """Sets the tunables named in `values` (the others keep their value; C
    clamps each to its bounds); returns tuning_get()."""
    cdef gf_tuning t
    gf_tuning_get(&t)
    unknown = set(values) - set(TUNING_FIELDS)
    if unknown:
        raise ValueError(f"tuning: unknown field(s) {sorted(unknown)}; known: {TUNING_FIELDS}")
    merged = dict(t)
    merged.update(values)
    t = merged
    gf_tuning_set(&t)
    return tuning_get()


cdef int _threads(n_threads) except -1:
    """n_threads checked: an int in [1, GF_MAX_THREADS]."""
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or not (1 <= n_threads <= GF_MAX_THREADS):
        raise ValueError(f"n_threads: expected an integer in [1, {GF_MAX_THREADS}], got {n_threads!r}")
    return n_threads


cdef extern from "gradfit.h":
    # the enums' ids, defined once in C
    ctypedef enum gf_act:
        GF_ACT_IDENTITY, GF_ACT_RELU, GF_ACT_SIGMOID, GF_ACT_TANH, GF_ACT_SOFTPLUS
    ctypedef enum gf_loss:
        GF_LOSS_MSE, GF_LOSS_SSE, GF_LOSS_CROSS_ENTROPY, GF_LOSS_BCE, GF_LOSS_MAE, GF_LOSS_HUBER,
        GF_LOSS_POISSON
    ctypedef enum gf_optim:
        GF_OPT_SGD, GF_OPT_ADAM, GF_OPT_ADAMW

    ctypedef struct gf_net:
        int64_t n_layers
        const int64_t *sizes
        const int32_t *acts

    ctypedef struct gf_train_cfg:
        int32_t loss
        int32_t optim
        int64_t batch
        int64_t chunk
        int64_t max_steps
        int64_t max_batches
        double grad_tol
        double huber_delta
        double l2
        double momentum
        int32_t nesterov
        double beta1
        double beta2
        double eps
        double weight_decay

    ctypedef struct gf_train_out:
        int64_t steps
        int64_t epochs
        int64_t next_batch
        double grad_norm

    ctypedef struct gf_csr:
        const int64_t *indptr
        const int32_t *indices
        const void *data

    ctypedef struct gf_epoch_sums:
        double *loss
        double *penalty
        double *weight
        int64_t *seen

    int GF_OK, GF_ERR_ARG, GF_ERR_SIZE, GF_DIVERGED, GF_CONVERGED, GF_MAX_STEPS, GF_PAUSED
    int64_t GF_MAX_LEN
    int GF_SIMD_BASELINE, GF_SIMD_AVX2, GF_SIMD_AVX512

    int gf_simd_available(int level) nogil
    int gf_simd_get() nogil
    int gf_simd_set(int level) nogil

    int gf_check_net(const gf_net *net) nogil
    int64_t gf_n_params(const gf_net *net) nogil
    int64_t gf_state_len(int32_t optim, int64_t P) nogil
    int64_t gf_workspace_len_kind(const gf_net *net, int64_t chunk, int32_t kind, int64_t state_len) nogil
    int GF_WS_FORWARD, GF_WS_GRAD, GF_WS_TRAIN, GF_WS_SPARSE
    int gf_act_forward_f32(float *a, float *dadz, const float *z, int64_t n, int32_t act) nogil
    int gf_act_forward_f64(double *a, double *dadz, const double *z, int64_t n, int32_t act) nogil

    int gf_predict_f32(const gf_net *net, const float *params, const float *X,
                       const gf_csr *sx, int64_t N, int64_t chunk, float *ws, float *out) nogil
    int gf_predict_f64(const gf_net *net, const double *params, const double *X,
                       const gf_csr *sx, int64_t N, int64_t chunk, double *ws, double *out) nogil
    int gf_loss_f32(const gf_net *net, int32_t loss, double huber_delta,
                    const float *params, const float *X, const gf_csr *sx, const float *y, const float *sw,
                    int64_t N, int64_t chunk, float *ws, double *loss_out) nogil
    int gf_loss_f64(const gf_net *net, int32_t loss, double huber_delta,
                    const double *params, const double *X, const gf_csr *sx, const double *y, const double *sw,
                    int64_t N, int64_t chunk, double *ws, double *loss_out) nogil
    int gf_loss_grad_f32(const gf_net *net, int32_t loss, double huber_delta, double l2,
                         const float *params, float *grad, const float *X, const gf_csr *sx, const float *y,
                         const float *sw, const int64_t *idx, int64_t n, int64_t chunk,
                         float *ws, double *loss_out) nogil
    int gf_loss_grad_f64(const gf_net *net, int32_t loss, double huber_delta, double l2,
                         const double *params, double *grad, const double *X, const gf_csr *sx, const double *y,
                         const double *sw, const int64_t *idx, int64_t n, int64_t chunk,
                         double *ws, double *loss_out) nogil
    int gf_reset_prev_f32(const gf_net *net, int64_t chunk, const float *params,
                          const float *state, int64_t state_len, int64_t step_count,
                          float *ws) nogil
    int gf_reset_prev_f64(const gf_net *net, int64_t chunk, const double *params,
                          const double *state, int64_t state_len, int64_t step_count,
                          double *ws) nogil
    int gf_train_f32(const gf_net *net, const gf_train_cfg *cfg, float *params,
                     float *grad, float *state, float *ws, const float *X, const gf_csr *sx,
                     const float *y, const float *sw, int64_t N, const int64_t *idx,
                     int64_t n_epochs, int64_t start_batch, const double *epoch_lr,
                     int64_t *step_count, const gf_epoch_sums *sums,
                     gf_train_out *out) nogil
    int gf_train_f64(const gf_net *net, const gf_train_cfg *cfg, double *params,
                     double *grad, double *state, double *ws, const double *X, const gf_csr *sx,
                     const double *y, const double *sw, int64_t N, const int64_t *idx,
                     int64_t n_epochs, int64_t start_batch, const double *epoch_lr,
                     int64_t *step_count, const gf_epoch_sums *sums,
                     gf_train_out *out) nogil

STATUS_OK = GF_OK
STATUS_DIVERGED = GF_DIVERGED
STATUS_CONVERGED = GF_CONVERGED
STATUS_MAX_STEPS = GF_MAX_STEPS
STATUS_PAUSED = GF_PAUSED

# The names users write, mapped to the C enums' ids (gradfit._names reads these).
ACTIVATIONS = {"identity": GF_ACT_IDENTITY, "relu": GF_ACT_RELU, "sigmoid": GF_ACT_SIGMOID,
               "tanh": GF_ACT_TANH, "softplus": GF_ACT_SOFTPLUS}
LOSSES = {"mse": GF_LOSS_MSE, "sse": GF_LOSS_SSE, "cross_entropy": GF_LOSS_CROSS_ENTROPY,
          "binary_cross_entropy": GF_LOSS_BCE, "mae": GF_LOSS_MAE, "huber": GF_LOSS_HUBER,
          "poisson": GF_LOSS_POISSON}
OPTIMIZERS = {"sgd": GF_OPT_SGD, "adam": GF_OPT_ADAM, "adamw": GF_OPT_ADAMW}

SIMD_PATHS = {"baseline": GF_SIMD_BASELINE, "avx2": GF_SIMD_AVX2, "avx512": GF_SIMD_AVX512}
gf_simd_get()      # choose the path once, at import, before any thread can train


def simd_available():
    """Names of the SIMD paths this build can run on this CPU."""
    return [name for name, level in SIMD_PATHS.items() if gf_simd_available(level)]


def simd_get():
    """Name of the SIMD path in use."""
    level = gf_simd_get()
    return next(name for name, value in SIMD_PATHS.items() if value == level)


def simd_set(str name):
    """Use SIMD path `name` ("baseline", "avx2", "avx512" or "auto"); returns the path in use."""
    if name == "auto":
        gf_simd_set(-1)
    elif name in SIMD_PATHS and gf_simd_available(SIMD_PATHS[name]):
        gf_simd_set(SIMD_PATHS[name])
    else:
        raise ValueError(f"simd: expected one of {['auto'] + simd_available()}, got {name!r}")
    return simd_get()


ctypedef fused real:
    float
    double


MAX_LEN = GF_MAX_LEN


def _too_large(const int64_t[::1] sizes, chunk=None):
    """The ValueError for a net whose parameter count (or, with chunk, whose
    workspace) exceeds GF_MAX_LEN: names the layer that makes it too large."""
    cdef Py_ssize_t l
    total = 0
    for l in range(sizes.shape[0] - 1):
        IN, OUT = int(sizes[l]), int(sizes[l + 1])
        layer = (IN + 1) * OUT              # Python ints: exact
        total += layer
        if total > GF_MAX_LEN:
            return ValueError(
                f"layer_sizes: layer {l} ({IN} -> {OUT}) needs {layer:.3g} parameters "
                f"({total:.3g} up to it); the parameter count must be at most 2**60 "
                f"so that sizes in bytes fit in 64-bit integers")
    widest = max(range(1, sizes.shape[0]), key=lambda i: sizes[i])
    return ValueError(
        f"layer_sizes: a workspace for chunks of {chunk} rows of a net with {total} parameters "
        f"and a widest layer of {int(sizes[widest])} (layer {widest - 1}) would exceed 2**60 "
        f"elements, so that sizes in bytes fit in 64-bit integers; use smaller layers or a smaller chunk")


cdef gf_net _net(const int64_t[::1] sizes, const int32_t[::1] acts) except *:
    cdef gf_net net
    cdef int status
    if sizes.shape[0] < 2 or acts.shape[0] != sizes.shape[0] - 1:
        raise ValueError("internal: inconsistent layer sizes / activations")
    net.n_layers = sizes.shape[0] - 1
    net.sizes = &sizes[0]
    net.acts = &acts[0]
    status = gf_check_net(&net)
    if status == GF_ERR_SIZE:
        raise _too_large(sizes)
    if status != GF_OK:
        raise ValueError("internal: invalid network description")
    return net


cdef void _check(int status, str what, const int64_t[::1] sizes, int64_t chunk) except *:
    if status == GF_ERR_SIZE:
        raise _too_large(sizes, chunk)
    if status == GF_ERR_ARG:
        raise ValueError(f"internal: the C core rejected the arguments of {what}")


def n_params(const int64_t[::1] sizes, const int32_t[::1] acts):
    cdef gf_net net = _net(sizes, acts)
    return gf_n_params(&net)


def state_len(int32_t optim_id, int64_t n_params):
    """Elements of optimizer state for n_params parameters: sgd n_params
    (momentum's v), adam and adamw 2 * n_params (m, then v)."""
    cdef int64_t n = gf_state_len(optim_id, n_params)
    if n < 0:
        raise ValueError(f"optim_id: expected one of {sorted(OPTIMIZERS.values())} and n_params in "
                         f"[0, 2**60], got {optim_id} and {n_params}")
    return n


def workspace_len(const int64_t[::1] sizes, const int32_t[::1] acts, int64_t chunk, optim_id=None, *,
                  forward_only=False, bint sparse=False):
    """Workspace elements for chunks of `chunk` rows. An optimizer id: for
    train and reset_prev (with room for the copies of the params, optimizer
    state and step count before the last update, what a divergence rolls
    back to); None: for loss_grad, predict and loss; None with forward_only:
    for predict and loss only (a much smaller packing scratch and no copy
    of the params). sparse: for sparse X only (no gathered X, no first-layer scratch)."""
    cdef gf_net net = _net(sizes, acts)
    if chunk < 1:
        raise ValueError(f"internal: chunk must be >= 1, got {chunk}")
    cdef int64_t S = 0
    cdef int32_t kind = GF_WS_GRAD
    if optim_id is not None:
        S = state_len(optim_id, gf_n_params(&net))
        kind = GF_WS_TRAIN
    elif forward_only:
        kind = GF_WS_FORWARD
    cdef int64_t n = gf_workspace_len_kind(&net, chunk, kind | (GF_WS_SPARSE if sparse else 0), S)
    if n < 0:
        raise _too_large(sizes, chunk)
    return n


cdef int64_t _x_arg(X, int64_t n_cols, const real **xp, gf_csr *sx, const gf_csr **sxp) except -1:
    """X's row count, and *xp = its data (a C-contiguous (N, n_cols) array),
    *sxp = NULL; or for sparse X (gradfit._sparse.CsrRows: indptr int64,
    indices int32, data, checked there) *xp = NULL, sx filled, *sxp = sx."""
    cdef const real[:, ::1] Xd
    cdef const int64_t[::1] ip
    cdef const int32_t[::1] ix
    cdef const real[::1] dv
    if not hasattr(X, "indptr"):
        Xd = X
        if Xd.shape[1] != n_cols:
            raise ValueError(f"X: expected {n_cols} columns, got {Xd.shape[1]}")
        xp[0] = &Xd[0, 0] if Xd.shape[0] > 0 else NULL
        sxp[0] = NULL
        return Xd.shape[0]
    ip, ix, dv = X.indptr, X.indices, X.data
    if X.shape[1] != n_cols or ip.shape[0] != X.shape[0] + 1 or ip[0] != 0 or ip[ip.shape[0] - 1] > min(
            ix.shape[0], dv.shape[0]):
        raise ValueError(f"X: expected a checked CSR matrix with {n_cols} columns, got shape {X.shape}")
    xp[0], sxp[0] = NULL, sx
    sx.indptr, sx.indices, sx.data = &ip[0], &ix[0] if ix.shape[0] else NULL, &dv[0] if dv.shape[0] else NULL
    return X.shape[0]


def _activation(int32_t act, const real[::1] z, real[::1] a, real[::1] dadz):
    """Test hook: a = f(z) and, unless dadz is empty, dadz = f'(z), by the
    C core's act_forward on the SIMD path in use (act: a gf_act id)."""
    cdef int status
    cdef int64_t n = z.shape[0]
    cdef real *dp = NULL
    if a.shape[0] != n or (dadz.shape[0] != 0 and dadz.shape[0] != n):
        raise ValueError("internal: z, a and dadz must have the same length")
    if n == 0:
        return
    if dadz.shape[0] != 0:
        dp = &dadz[0]
    with nogil:
        if real is float:
            status = gf_act_forward_f32(&a[0], dp, &z[0], n, act)
        else:
            status = gf_act_forward_f64(&a[0], dp, &z[0], n, act)
    if status != GF_OK:
        raise ValueError(f"internal: unknown activation id {act}")


def predict(const int64_t[::1] sizes, const int32_t[::1] acts,
            const real[::1] params, X, int64_t chunk,
            real[::1] ws, real[:, ::1] out, *, n_threads=1):
    """out (N, OUT) = forward pass of X (N, IN): an array or a checked
    CsrRows. n_threads: threads for the matrix products (the results do not
    depend on it)."""
    cdef gf_net net = _net(sizes, acts)
    cdef int status
    cdef const real *xp
    cdef gf_csr sx
    cdef const gf_csr *sxp
    cdef int64_t N = _x_arg(X, sizes[0], &xp, &sx, &sxp)
    cdef int nt = _threads(n_threads)
    cdef int64_t need = gf_workspace_len_kind(&net, chunk, GF_WS_FORWARD | (GF_WS_SPARSE if sxp else 0), 0)
    if params.shape[0] != gf_n_params(&net):
        raise ValueError(f"params: expected {gf_n_params(&net)} entries, got {params.shape[0]}")
    if out.shape[0] != N or out.shape[1] != sizes[sizes.shape[0] - 1]:
        raise ValueError(f"out: expected shape ({N}, {sizes[sizes.shape[0] - 1]}), "
                         f"got ({out.shape[0]}, {out.shape[1]})")
    if chunk < 1:
        raise ValueError(f"chunk: expected an integer >= 1, got {chunk}")
    if need < 0:
        raise _too_large(sizes, chunk)
    if ws.shape[0] < need:
        raise ValueError(f"ws: expected at least {need} entries for chunks of {chunk} rows, got {ws.shape[0]}")
    if N == 0:
        return
    with nogil:
        gf_threads_set(nt)
        if real is float:
            status = gf_predict_f32(&net, &params[0], xp, sxp, N, chunk, &ws[0], &out[0, 0])
        else:
            status = gf_predict_f64(&net, &params[0], xp, sxp, N, chunk, &ws[0], &out[0, 0])
    _check(status, "predict", sizes, chunk)


def loss(const int64_t[::1] sizes, const int32_t[::1] acts, int32_t loss_id,
         const real[::1] params, X, const real[:, ::1] y,
         const real[::1] sw, int64_t chunk, real[::1] ws, *, double huber_delta=1.0, n_threads=1):
    """The data loss over all rows of X, y by forward passes only: the
    weighted mean sum_i w_i l_i / sum_i w_i (0 if the weights sum to 0), or
    for sse the weighted sum. sw: (N,) sample weights or empty (all ones).
    ws: workspace_len(sizes, acts, chunk) elements at least."""
    cdef gf_net net = _net(sizes, acts)
    cdef int status
    cdef double value = 0
    cdef const real *swp = NULL
    cdef const real *xp
    cdef gf_csr sx
    cdef const gf_csr *sxp
    cdef int64_t N = _x_arg(X, sizes[0], &xp, &sx, &sxp)
    _check_common(&net, sizes, params, N, y, sw, chunk, ws, GF_WS_FORWARD | (GF_WS_SPARSE if sxp else 0), 0)
    if sw.shape[0] > 0:
        swp = &sw[0]
    if N == 0:
        raise ValueError("X: expected at least one row, got 0")
    cdef int nt = _threads(n_threads)
    with nogil:
        gf_threads_set(nt)
        if real is float:
            status = gf_loss_f32(&net, loss_id, huber_delta, &params[0], xp, sxp, &y[0, 0], swp,
                                 N, chunk, &ws[0], &value)
        else:
            status = gf_loss_f64(&net, loss_id, huber_delta, &params[0], xp, sxp, &y[0, 0], swp,
                                 N, chunk, &ws[0], &value)
    _check(status, "loss", sizes, chunk)
    return value


cdef _check_common(gf_net *net, const int64_t[::1] sizes, const real[::1] params,
                   int64_t N, const real[:, ::1] y, const real[::1] sw,
                   int64_t chunk, real[::1] ws, int32_t kind, int64_t S):
    """Buffer lengths every entry point relies on (X's N rows: _x_arg)."""
    cdef int64_t P = gf_n_params(net)
    cdef int64_t need
    if params.shape[0] != P:
        raise ValueError(f"params: expected {P} entries, got {params.shape[0]}")
    if y.shape[1] != sizes[sizes.shape[0] - 1] or y.shape[0] != N:
        raise ValueError(f"y: expected shape ({N}, {sizes[sizes.shape[0] - 1]}), "
                         f"got ({y.shape[0]}, {y.shape[1]})")
    if sw.shape[0] not in (0, N):
        raise ValueError(f"sw: expected 0 (all ones) or {N} sample weights, got {sw.shape[0]}")
    if chunk < 1:
        raise ValueError(f"chunk: expected an integer >= 1, got {chunk}")
    need = gf_workspace_len_kind(net, chunk, kind, S)
    if need < 0:
        raise _too_large(sizes, chunk)
    if ws.shape[0] < need:
        raise ValueError(f"ws: expected at least {need} entries for chunks of {chunk} rows, got {ws.shape[0]}")


def loss_grad(const int64_t[::1] sizes, const int32_t[::1] acts, int32_t loss_id,
              const real[::1] params, real[::1] grad, X,
              const real[:, ::1] y, const real[::1] sw, const int64_t[::1] idx,
              int64_t chunk, real[::1] ws, *, double huber_delta=1.0, double l2=0.0, n_threads=1):
    """The data loss over the rows of X (or rows idx) and grad = its
    gradient; returns the loss (weighted as in `loss`). With l2 > 0 the value
    also includes the L2 penalty l2/2 * sum of the squared weight entries (not
    the biases) and grad its gradient l2 * W: for gradient checks of the
    penalty; the trainer passes l2 to train() instead."""
    cdef gf_net net = _net(sizes, acts)
    cdef int status
    cdef double value = 0
    cdef const int64_t *ip = NULL
    cdef const real *swp = NULL
    cdef const real *xp
    cdef gf_csr sx
    cdef const gf_csr *sxp
    cdef int64_t N = _x_arg(X, sizes[0], &xp, &sx, &sxp)
    cdef int64_t n = N
    _check_common(&net, sizes, params, N, y, sw, chunk, ws, GF_WS_GRAD | (GF_WS_SPARSE if sxp else 0), 0)
    if grad.shape[0] != params.shape[0]:
        raise ValueError(f"grad: expected {params.shape[0]} entries, got {grad.shape[0]}")
    if idx.shape[0] > 0:
        ip = &idx[0]
        n = idx.shape[0]
    if sw.shape[0] > 0:
        swp = &sw[0]
    if n == 0:
        raise ValueError("X: expected at least one row, got 0")
    cdef int nt = _threads(n_threads)
    with nogil:
        gf_threads_set(nt)
        if real is float:
            status = gf_loss_grad_f32(&net, loss_id, huber_delta, l2, &params[0], &grad[0],
                                      xp, sxp, &y[0, 0], swp, ip, n, chunk, &ws[0], &value)
        else:
            status = gf_loss_grad_f64(&net, loss_id, huber_delta, l2, &params[0], &grad[0],
                                      xp, sxp, &y[0, 0], swp, ip, n, chunk, &ws[0], &value)
    _check(status, "loss_grad", sizes, chunk)
    return value


def reset_prev(const int64_t[::1] sizes, const int32_t[::1] acts, int64_t chunk, int32_t optim_id,
               const real[::1] params, const real[::1] state, const int64_t[::1] step_count,
               real[::1] ws, *, bint sparse=False):
    """Sets the workspace's copies of params, optimizer state and step count
    (what a divergence in train() rolls back to) to the current ones. Call it
    once for a new workspace (of workspace_len(sizes, acts, chunk, optim_id)
    elements) and whenever the caller changes params, state or the step count
    itself; train() keeps them up to date over calls. state: state_len
    entries, or empty for sgd without momentum. sparse: ws is sized for sparse X."""
    cdef gf_net net = _net(sizes, acts)
    cdef int status
    cdef int64_t P = gf_n_params(&net)
    cdef int64_t S = state_len(optim_id, P)
    cdef int64_t need
    cdef const real *sp = NULL
    if chunk < 1:
        raise ValueError(f"chunk: expected an integer >= 1, got {chunk}")
    need = gf_workspace_len_kind(&net, chunk, GF_WS_TRAIN | (GF_WS_SPARSE if sparse else 0), S)
    if need < 0:
        raise _too_large(sizes, chunk)
    if params.shape[0] != P:
        raise ValueError(f"params: expected {P} entries, got {params.shape[0]}")
    if state.shape[0] not in (0, S):
        raise ValueError(f"state: expected 0 or {S} entries, got {state.shape[0]}")
    if step_count.shape[0] != 1:
        raise ValueError(f"step_count: expected 1 entry, got {step_count.shape[0]}")
    if ws.shape[0] < need:
        raise ValueError(f"ws: expected at least {need} entries, got {ws.shape[0]}")
    if state.shape[0] > 0:
        sp = &state[0]
    with nogil:
        if real is float:
            status = gf_reset_prev_f32(&net, chunk, &params[0], sp, S, step_count[0], &ws[0])
        else:
            status = gf_reset_prev_f64(&net, chunk, &params[0], sp, S, step_count[0], &ws[0])
    _check(status, "reset_prev", sizes, chunk)


def _unit_interval(double value, str name):
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{name}: expected a number in [0, 1), got {value!r}")


def train(const int64_t[::1] sizes, const int32_t[::1] acts, int32_t loss_id, int32_t optim_id,
          int64_t batch, int64_t chunk, int64_t max_steps, double grad_tol, int64_t max_batches,
          real[::1] params, real[::1] grad, real[::1] state, real[::1] ws,
          X, const real[:, ::1] y, const real[::1] sw, const int64_t[::1] idx,
          int64_t n_epochs, int64_t start_batch, const double[::1] epoch_lr,
          int64_t[::1] step_count, double[::1] epoch_loss, double[::1] epoch_penalty,
          double[::1] epoch_weight, int64_t[::1] epoch_seen, *,
          double huber_delta=1.0, double momentum=0.0, bint nesterov=False, double beta1=0.9,
          double beta2=0.999, double eps=1e-8, double weight_decay=0.0, double l2=0.0, n_threads=1):
    """Runs gf_train: the minibatch loop over n_epochs epochs from batch
    start_batch of the first; returns (status, steps, epochs_completed,
    next_batch, grad_norm). The epoch_* sums are added to (see gradfit.h's
    gf_epoch_sums); state, step_count and ws carry over between calls.
    n_threads: threads for the matrix products; the results do not depend
    on it (each thread computes its own columns of every product, with the
    same sums in the same order)."""
    cdef gf_net net = _net(sizes, acts)
    cdef gf_train_cfg cfg
    cdef gf_train_out out
    cdef gf_epoch_sums sums
    cdef int status
    cdef const int64_t *ip = NULL
    cdef const real *swp = NULL
    cdef real *sp = NULL
    cdef const real *xp
    cdef gf_csr sx
    cdef const gf_csr *sxp
    cdef int64_t N = _x_arg(X, sizes[0], &xp, &sx, &sxp)
    cdef int64_t P = gf_n_params(&net)
    cdef int64_t S = state_len(optim_id, P)
    cdef Py_ssize_t e
    _check_common(&net, sizes, params, N, y, sw, chunk, ws, GF_WS_TRAIN | (GF_WS_SPARSE if sxp else 0), S)
    if loss_id not in LOSSES.values():
        raise ValueError(f"loss_id: expected one of {sorted(LOSSES.values())}, got {loss_id}")
    if grad.shape[0] != P:
        raise ValueError(f"grad: expected {P} entries, got {grad.shape[0]}")
    if N == 0:
        raise ValueError("X: expected at least one row, got 0")
    if batch < 1:
        raise ValueError(f"batch: expected an integer >= 1, got {batch}")
    if n_epochs < 0:
        raise ValueError(f"n_epochs: expected an integer >= 0, got {n_epochs}")
    if idx.shape[0] > 0:
        if idx.shape[0] != n_epochs * N:
            raise ValueError(f"idx: expected 0 or n_epochs * N = {n_epochs * N} row numbers, got {idx.shape[0]}")
        ip = &idx[0]
    if n_epochs > 0 and not (0 <= start_batch <= (N - 1) // batch):
        raise ValueError(f"start_batch: expected a batch index in [0, {(N - 1) // batch}], got {start_batch}")
    if state.shape[0] not in (0, S) or (state.shape[0] == 0 and (optim_id != GF_OPT_SGD or momentum != 0)):
        raise ValueError(f"state: expected {S} entries (state_len), got {state.shape[0]}")
    if state.shape[0] > 0:
        sp = &state[0]
    if sw.shape[0] > 0:
        swp = &sw[0]
    if step_count.shape[0] != 1 or step_count[0] < 0:
        raise ValueError(f"step_count: expected one entry >= 0, got {list(step_count)}")
    for name, buf in (("epoch_lr", epoch_lr.shape[0]), ("epoch_loss", epoch_loss.shape[0]),
                      ("epoch_penalty", epoch_penalty.shape[0]), ("epoch_weight", epoch_weight.shape[0]),
                      ("epoch_seen", epoch_seen.shape[0])):
        if buf < n_epochs:
            raise ValueError(f"{name}: expected at least n_epochs = {n_epochs} entries, got {buf}")
    for e in range(n_epochs):
        if not (0.0 <= epoch_lr[e] < float("inf")):
            raise ValueError(f"epoch_lr: expected finite numbers >= 0, got {epoch_lr[e]!r} at {e}")
    if loss_id == GF_LOSS_HUBER and not (0.0 < huber_delta < float("inf")):
        raise ValueError(f"huber_delta: expected a finite number > 0, got {huber_delta!r}")
    if not (0.0 <= l2 < float("inf")):
        raise ValueError(f"l2: expected a finite number >= 0, got {l2!r}")
    if not (0.0 <= weight_decay < float("inf")):
        raise ValueError(f"weight_decay: expected a finite number >= 0, got {weight_decay!r}")
    if not (0.0 < eps < float("inf")):
        raise ValueError(f"eps: expected a finite number > 0, got {eps!r}")
    _unit_interval(momentum, "momentum")
    _unit_interval(beta1, "beta1")
    _unit_interval(beta2, "beta2")
    if n_epochs == 0:
        return GF_OK, 0, 0, 0, -1.0
    cfg.loss = loss_id
    cfg.optim = optim_id
    cfg.batch = batch
    cfg.chunk = chunk
    cfg.max_steps = max_steps
    cfg.max_batches = max_batches
    cfg.grad_tol = grad_tol
    cfg.huber_delta = huber_delta
    cfg.l2 = l2
    cfg.momentum = momentum
    cfg.nesterov = 1 if nesterov else 0
    cfg.beta1 = beta1
    cfg.beta2 = beta2
    cfg.eps = eps
    cfg.weight_decay = weight_decay
    sums.loss = &epoch_loss[0]
    sums.penalty = &epoch_penalty[0]
    sums.weight = &epoch_weight[0]
    sums.seen = &epoch_seen[0]
    cdef int nt = _threads(n_threads)
    with nogil:
        gf_threads_set(nt)
        if real is float:
            status = gf_train_f32(&net, &cfg, &params[0], &grad[0], sp, &ws[0], xp, sxp, &y[0, 0],
                                  swp, N, ip, n_epochs, start_batch, &epoch_lr[0], &step_count[0],
                                  &sums, &out)
        else:
            status = gf_train_f64(&net, &cfg, &params[0], &grad[0], sp, &ws[0], xp, sxp, &y[0, 0],
                                  swp, N, ip, n_epochs, start_batch, &epoch_lr[0], &step_count[0],
                                  &sums, &out)
    _check(status, "train", sizes, chunk)
    return status, out.steps, out.epochs, out.next_batch, out.grad_norm


include "_net.pxi"
include "_fused.pxi"


# --- gradfit's epoch order: Sanders' bucketed shuffle (csrc/order.c) ---
# The bit generator is reached through its PyCapsule "BitGenerator", whose
# pointer is NumPy's bitgen_t; gradfit.h repeats that struct's layout
# (gf_bitgen), so the build needs no NumPy headers (build isolation installs
# only setuptools and Cython). PCG64 and PCG64DXSM (default_rng's and its
# successor) are also run inline, from and back to their public state dict.
from cpython.pycapsule cimport PyCapsule_IsValid, PyCapsule_GetPointer
from libc.stdint cimport uint16_t, uint32_t, uint64_t

cdef extern from "gradfit.h":
    ctypedef struct gf_bitgen:
        pass
    ctypedef struct gf_pcg64:
        uint64_t state_hi, state_lo, inc_hi, inc_lo
        int32_t dxsm, has_uint32
        uint32_t uinteger
    ctypedef struct gf_rows:
        const void *src
        void *dst
        int64_t row_bytes
    int64_t gf_order_buckets(int64_t n) nogil
    int gf_order_pcg64_available() nogil
    int gf_order_bitgen(const gf_bitgen *bg, int64_t n, int64_t *order, const gf_rows *rows, int n_rows,
                        uint16_t *ids, int64_t k) nogil
    int gf_order_pcg64(gf_pcg64 *g, int64_t n, int64_t *order, const gf_rows *rows, int n_rows,
                       uint16_t *ids, int64_t k) nogil
    int GF_ORDER_BUCKET_ROWS
    int GF_ORDER_MAX_BUCKETS
    int GF_ORDER_MAX_ROWS

_PCG_DXSM = None      # {PCG64: 0, PCG64DXSM: 1}, filled on first use
_U64 = (1 << 64) - 1


cdef object _pcg_kind(bit_generator):
    """0 for a PCG64, 1 for a PCG64DXSM (exactly those classes), else None."""
    global _PCG_DXSM
    if _PCG_DXSM is None:
        from numpy.random import PCG64, PCG64DXSM
        _PCG_DXSM = {PCG64: 0, PCG64DXSM: 1}
    return _PCG_DXSM.get(type(bit_generator))


cdef bint _pcg_read(bit_generator, int dxsm, gf_pcg64 *g) except -1:
    """g := the generator's state (from its state dict); False if the dict
    is not that of the expected class."""
    st = bit_generator.state
    if st.get("bit_generator") != ("PCG64DXSM" if dxsm else "PCG64"):
        return False
    state, inc = st["state"]["state"], st["state"]["inc"]
    g.state_hi, g.state_lo = state >> 64, state & _U64
    g.inc_hi, g.inc_lo = inc >> 64, inc & _U64
    g.dxsm, g.has_uint32, g.uinteger = dxsm, st["has_uint32"], st["uinteger"]
    return True


cdef int _pcg_write(bit_generator, gf_pcg64 *g) except -1:
    """The generator's state dict := g."""
    bit_generator.state = {"bit_generator": "PCG64DXSM" if g.dxsm else "PCG64",
                           "state": {"state": (<object>g.state_hi << 64) | g.state_lo,
                                     "inc": (<object>g.inc_hi << 64) | g.inc_lo},
                           "has_uint32": g.has_uint32, "uinteger": g.uinteger}
    return 0


ORDER_BUCKET_ROWS = GF_ORDER_BUCKET_ROWS
ORDER_MAX_BUCKETS = GF_ORDER_MAX_BUCKETS
ORDER_INLINE_MIN = 512     # below this, the state dict round trip costs more than the inline generator saves


def order_buckets(int64_t n):
    """The number of buckets k of an n-element epoch order (a power of two
    in [1, ORDER_MAX_BUCKETS], about n / ORDER_BUCKET_ROWS)."""
    if n < 0:
        raise ValueError(f"n: expected an integer >= 0, got {n}")
    return gf_order_buckets(n)


cdef Py_ssize_t _address(a, str name, int64_t n, int64_t *row_bytes, bint writable) except -1:
    """The data pointer of a C-contiguous array of n rows, and its row size in bytes."""
    import numpy as np
    if not isinstance(a, np.ndarray) or not a.flags.c_contiguous or a.ndim not in (1, 2) or a.shape[0] != n:
        raise ValueError(f"{name}: expected a C-contiguous 1-D or 2-D array of {n} rows, got "
                         f"{type(a).__name__} {getattr(a, 'shape', '')}")
    if writable and not a.flags.writeable:
        raise ValueError(f"{name}: expected a writable array")
    row_bytes[0] = a.itemsize * (a.shape[1] if a.ndim == 2 else 1)
    return <Py_ssize_t>a.ctypes.data


def epoch_order(bit_generator, int64_t[::1] order, rows=(), uint16_t[::1] ids=None, *, bint inline=True,
                int64_t buckets=0):
    """order := gradfit's epoch order of order.size elements (Sanders'
    bucketed shuffle, csrc/order.c), drawn from `bit_generator`, which it
    advances; for each (src, dst) pair in `rows`, dst := src[order] (arrays
    of order.size rows, C-contiguous, the same dtype and row shape, not
    overlapping), moved along in the same pass. `ids`: scratch of at least
    order.size uint16 (needed when order_buckets(order.size) > 1). PCG64 and
    PCG64DXSM run inline in C from and back to their state dict (inline=True
    and at least ORDER_INLINE_MIN elements); other bit generators through
    their capsule, under their lock. The GIL is released. `buckets`: 0 for
    order_buckets(order.size), or another power of two up to
    ORDER_MAX_BUCKETS (for tests). `order` may be None when rows are
    moved: the same rows and draws, no order written (order.size is then
    the rows' length). Returns False (nothing done) if the bit
    generator has no NumPy capsule and lock."""
    rows = tuple(rows)
    if order is None and not rows:
        raise ValueError("order: expected an int64 array when no rows are moved, got None")
    cdef int64_t n = order.shape[0] if order is not None else len(rows[0][0])
    cdef gf_rows r[8]
    cdef int n_rows = 0
    cdef int64_t rb_src = 0, rb_dst = 0
    cdef int status = GF_OK
    cdef gf_pcg64 g
    cdef uint16_t *ip = NULL
    cdef int64_t *op = &order[0] if (order is not None and n > 0) else NULL
    capsule = getattr(bit_generator, "capsule", None)
    lock = getattr(bit_generator, "lock", None)
    if capsule is None or lock is None or not PyCapsule_IsValid(capsule, b"BitGenerator"):
        return False
    if len(rows) > GF_ORDER_MAX_ROWS:
        raise ValueError(f"rows: expected at most {GF_ORDER_MAX_ROWS} (src, dst) pairs, got {len(rows)}")
    for src, dst in rows:
        r[n_rows].src = <const void *>_address(src, f"rows[{n_rows}][0]", n, &rb_src, False)
        r[n_rows].dst = <void *>_address(dst, f"rows[{n_rows}][1]", n, &rb_dst, True)
        if rb_src != rb_dst or src.dtype != dst.dtype:
            raise ValueError(f"rows[{n_rows}]: expected src and dst of the same dtype and row size, got "
                             f"{src.dtype} {src.shape} and {dst.dtype} {dst.shape}")
        r[n_rows].row_bytes = rb_src
        n_rows += 1
    cdef int64_t k = gf_order_buckets(n) if buckets == 0 else buckets
    if not (1 <= k <= GF_ORDER_MAX_BUCKETS and (k & (k - 1)) == 0):
        raise ValueError(f"buckets: expected 0 or a power of two in [1, {GF_ORDER_MAX_BUCKETS}], got {buckets}")
    if k > 1:
        if ids is None or ids.shape[0] < n:
            raise ValueError(f"ids: expected at least {n} uint16 entries, got "
                             f"{None if ids is None else ids.shape[0]}")
        ip = &ids[0]
    cdef const gf_bitgen *bg = <const gf_bitgen *>PyCapsule_GetPointer(capsule, b"BitGenerator")
    dxsm = None
    if inline and n >= ORDER_INLINE_MIN and gf_order_pcg64_available():
        dxsm = _pcg_kind(bit_generator)
    with lock:
        if dxsm is not None and _pcg_read(bit_generator, dxsm, &g):
            with nogil:
                status = gf_order_pcg64(&g, n, op, r, n_rows, ip, k)
            if status == GF_OK:
                _pcg_write(bit_generator, &g)
                return True
        with nogil:
            status = gf_order_bitgen(bg, n, op, r, n_rows, ip, k)
    if status != GF_OK:
        raise ValueError(f"order: the epoch order failed with status {status}")
    return True
