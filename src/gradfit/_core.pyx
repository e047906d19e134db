# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Pointer plumbing between NumPy buffers and the C core (csrc/).

Arguments arrive already validated by the Python layer (gradfit.model,
gradfit.training): C-contiguous, the right dtype, consistent shapes. Each call
turns memoryviews into pointers, releases the GIL around the C call, and
turns a C status into a Python exception or a return value. No numerics here.
"""
from libc.stdint cimport int32_t, int64_t

cdef extern from "gradfit.h":
    ctypedef struct gf_net:
        int64_t n_layers
        const int64_t *sizes
        const int32_t *acts

    ctypedef struct gf_train_cfg:
        int32_t loss
        int32_t optim
        double lr
        int64_t batch
        int64_t chunk
        int64_t max_steps
        double grad_tol

    ctypedef struct gf_train_out:
        int64_t steps
        int64_t epochs
        double grad_norm

    int GF_OK, GF_ERR_ARG, GF_ERR_SIZE, GF_DIVERGED, GF_CONVERGED, GF_MAX_STEPS
    int64_t GF_MAX_LEN
    int GF_SIMD_BASELINE, GF_SIMD_AVX2, GF_SIMD_AVX512

    int gf_simd_available(int level) nogil
    int gf_simd_get() nogil
    int gf_simd_set(int level) nogil

    int gf_check_net(const gf_net *net) nogil
    int64_t gf_n_params(const gf_net *net) nogil
    int64_t gf_workspace_len(const gf_net *net, int64_t chunk) nogil
    int gf_act_forward_f32(float *a, float *dadz, const float *z, int64_t n, int32_t act) nogil
    int gf_act_forward_f64(double *a, double *dadz, const double *z, int64_t n, int32_t act) nogil

    int gf_predict_f32(const gf_net *net, const float *params, const float *X,
                       int64_t N, int64_t chunk, float *ws, float *out) nogil
    int gf_predict_f64(const gf_net *net, const double *params, const double *X,
                       int64_t N, int64_t chunk, double *ws, double *out) nogil
    int gf_loss_grad_f32(const gf_net *net, int32_t loss, const float *params,
                         float *grad, const float *X, const float *y,
                         const int64_t *idx, int64_t n, int64_t chunk,
                         float *ws, double *loss_out) nogil
    int gf_loss_grad_f64(const gf_net *net, int32_t loss, const double *params,
                         double *grad, const double *X, const double *y,
                         const int64_t *idx, int64_t n, int64_t chunk,
                         double *ws, double *loss_out) nogil
    int gf_train_f32(const gf_net *net, const gf_train_cfg *cfg, float *params,
                     float *grad, float *state, float *ws, const float *X,
                     const float *y, int64_t N, const int64_t *idx,
                     int64_t n_epochs, double *epoch_loss, int64_t *epoch_seen,
                     gf_train_out *out) nogil
    int gf_train_f64(const gf_net *net, const gf_train_cfg *cfg, double *params,
                     double *grad, double *state, double *ws, const double *X,
                     const double *y, int64_t N, const int64_t *idx,
                     int64_t n_epochs, double *epoch_loss, int64_t *epoch_seen,
                     gf_train_out *out) nogil

STATUS_OK = GF_OK
STATUS_DIVERGED = GF_DIVERGED
STATUS_CONVERGED = GF_CONVERGED
STATUS_MAX_STEPS = GF_MAX_STEPS

SIMD_PATHS = {"baseline": GF_SIMD_BASELINE, "avx2": GF_SIMD_AVX2, "avx512": GF_SIMD_AVX512}


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


def workspace_len(const int64_t[::1] sizes, const int32_t[::1] acts, int64_t chunk):
    cdef gf_net net = _net(sizes, acts)
    if chunk < 1:
        raise ValueError(f"internal: chunk must be >= 1, got {chunk}")
    cdef int64_t n = gf_workspace_len(&net, chunk)
    if n < 0:
        raise _too_large(sizes, chunk)
    return n


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
            const real[::1] params, const real[:, ::1] X, int64_t chunk,
            real[::1] ws, real[:, ::1] out):
    """out (N, OUT) = forward pass of X (N, IN)."""
    cdef gf_net net = _net(sizes, acts)
    cdef int status
    cdef int64_t N = X.shape[0]
    if N == 0:
        return
    with nogil:
        if real is float:
            status = gf_predict_f32(&net, &params[0], &X[0, 0], N, chunk, &ws[0], &out[0, 0])
        else:
            status = gf_predict_f64(&net, &params[0], &X[0, 0], N, chunk, &ws[0], &out[0, 0])
    _check(status, "predict", sizes, chunk)


def loss_grad(const int64_t[::1] sizes, const int32_t[::1] acts, int32_t loss,
              const real[::1] params, real[::1] grad, const real[:, ::1] X,
              const real[:, ::1] y, const int64_t[::1] idx, int64_t chunk,
              real[::1] ws):
    """Loss over the rows of X (or rows idx) and grad = its gradient; returns the loss."""
    cdef gf_net net = _net(sizes, acts)
    cdef int status
    cdef double value = 0
    cdef const int64_t *ip = NULL
    cdef int64_t n = X.shape[0]
    if idx.shape[0] > 0:
        ip = &idx[0]
        n = idx.shape[0]
    with nogil:
        if real is float:
            status = gf_loss_grad_f32(&net, loss, &params[0], &grad[0], &X[0, 0], &y[0, 0],
                                      ip, n, chunk, &ws[0], &value)
        else:
            status = gf_loss_grad_f64(&net, loss, &params[0], &grad[0], &X[0, 0], &y[0, 0],
                                      ip, n, chunk, &ws[0], &value)
    _check(status, "loss_grad", sizes, chunk)
    return value


def train(const int64_t[::1] sizes, const int32_t[::1] acts, int32_t loss,
          int32_t optim, double lr, int64_t batch, int64_t chunk,
          int64_t max_steps, double grad_tol,
          real[::1] params, real[::1] grad, real[::1] state, real[::1] ws,
          const real[:, ::1] X, const real[:, ::1] y, const int64_t[::1] idx,
          int64_t n_epochs, double[::1] epoch_loss, int64_t[::1] epoch_seen):
    """Runs gf_train over n_epochs epochs; returns (status, steps, epochs, grad_norm)."""
    cdef gf_net net = _net(sizes, acts)
    cdef gf_train_cfg cfg
    cdef gf_train_out out
    cdef int status
    cdef const int64_t *ip = NULL
    cdef real *sp = NULL
    cdef int64_t N = X.shape[0]
    if idx.shape[0] > 0:
        if idx.shape[0] != n_epochs * N:
            raise ValueError("internal: idx must hold n_epochs * N indices")
        ip = &idx[0]
    if state.shape[0] > 0:
        sp = &state[0]
    if epoch_loss.shape[0] < n_epochs or epoch_seen.shape[0] < n_epochs:
        raise ValueError("internal: epoch buffers too short")
    if n_epochs == 0:
        return GF_OK, 0, 0, -1.0
    cfg.loss = loss
    cfg.optim = optim
    cfg.lr = lr
    cfg.batch = batch
    cfg.chunk = chunk
    cfg.max_steps = max_steps
    cfg.grad_tol = grad_tol
    with nogil:
        if real is float:
            status = gf_train_f32(&net, &cfg, &params[0], &grad[0], sp, &ws[0],
                                  &X[0, 0], &y[0, 0], N, ip, n_epochs,
                                  &epoch_loss[0], &epoch_seen[0], &out)
        else:
            status = gf_train_f64(&net, &cfg, &params[0], &grad[0], sp, &ws[0],
                                  &X[0, 0], &y[0, 0], N, ip, n_epochs,
                                  &epoch_loss[0], &epoch_seen[0], &out)
    _check(status, "train", sizes, chunk)
    return status, out.steps, out.epochs, out.grad_norm
