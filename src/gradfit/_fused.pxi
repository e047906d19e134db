# Included by _core.pyx: the fused minibatch loop (csrc/fused.inc), several
# models of one net trained on the same rows in one C call.

from libc.stdlib cimport malloc, free

cdef extern from "gradfit.h":
    ctypedef struct gf_fused_model:
        gf_train_cfg cfg
        void *params
        void *grad
        void *state
        void *ws
        const void *sw
        const double *epoch_lr
        int64_t *step_count
        gf_epoch_sums sums
        gf_train_out out
        int32_t status

    int64_t gf_fused_block(int64_t batch, int64_t n_rows, int64_t n_in, int64_t n_out) nogil
    int gf_train_fused_f32(const gf_net *net, gf_fused_model *models, int64_t n_models, float *gbuf,
                           const float *X, const float *y, int64_t N, const int64_t *idx,
                           int64_t n_epochs, int64_t start_batch) nogil
    int gf_train_fused_f64(const gf_net *net, gf_fused_model *models, int64_t n_models, double *gbuf,
                           const double *X, const double *y, int64_t N, const int64_t *idx,
                           int64_t n_epochs, int64_t start_batch) nogil


cdef void _fused_cfg(gf_train_cfg *c, int32_t loss_id, int32_t optim_id, int64_t batch, int64_t chunk,
                     int64_t max_steps, double grad_tol, int64_t max_batches, dict hyper) except *:
    c.loss, c.optim, c.batch, c.chunk = loss_id, optim_id, batch, chunk
    c.max_steps, c.max_batches, c.grad_tol = max_steps, max_batches, grad_tol
    c.huber_delta = hyper.get("huber_delta", 1.0)
    c.l2 = hyper.get("l2", 0.0)
    c.momentum = hyper.get("momentum", 0.0)
    c.nesterov = 1 if hyper.get("nesterov", False) else 0
    c.beta1 = hyper.get("beta1", 0.9)
    c.beta2 = hyper.get("beta2", 0.999)
    c.eps = hyper.get("eps", 1e-8)
    c.weight_decay = hyper.get("weight_decay", 0.0)


def train_fused(const int64_t[::1] sizes, const int32_t[::1] acts, int32_t loss_id, int32_t optim_id,
                int64_t batch, int64_t chunk, int64_t max_batches, const real[:, ::1] X,
                const real[:, ::1] y, const int64_t[::1] idx, int64_t n_epochs, int64_t start_batch,
                list models, n_threads=1):
    """Runs gf_train_fused: train()'s minibatch loop for several models of one
    net on the same X, y and orders idx. Each entry of `models` is a tuple
    (params, grad, state, session, sw, epoch_lr, step_count, (loss, penalty,
    weight, seen) sums, max_steps, grad_tol, settings dict) holding what
    Session.train takes for that model. Returns one (status, steps,
    epochs_completed, next_batch, grad_norm) per model: train()'s answer
    for it, bit for bit."""
    cdef gf_net net = _net(sizes, acts)
    cdef int64_t N = X.shape[0], P = gf_n_params(&net), S = state_len(optim_id, P)
    cdef int64_t IN = sizes[0], OUT = sizes[sizes.shape[0] - 1], K = len(models), i
    cdef const int64_t *ip = NULL
    cdef real[::1] params, grad, state, ws
    cdef const real[::1] sw
    cdef const double[::1] lrs
    cdef int64_t[::1] count, seen
    cdef double[::1] l_acc, p_acc, w_acc
    cdef int status, nt
    if K < 1 or N < 1 or batch < 1 or n_epochs < 1:
        raise ValueError("internal: train_fused needs models, rows, a batch and epochs")
    if idx.shape[0] > 0:
        if idx.shape[0] != n_epochs * N:
            raise ValueError(f"idx: expected 0 or n_epochs * N = {n_epochs * N} row numbers, got {idx.shape[0]}")
        ip = &idx[0]
    gbuf = _np.empty(gf_fused_block(batch, N, IN, OUT) * min(batch, N) * (IN + OUT + 1),
                     dtype=_np.float32 if real is float else _np.float64)
    cdef real[::1] gb = gbuf
    cdef gf_fused_model *ms = <gf_fused_model *>malloc(K * sizeof(gf_fused_model))
    if ms == NULL:
        raise MemoryError("train_fused: no memory for the models' descriptions")
    try:
        for i in range(K):
            m = models[i]
            params, grad, state, ws, sw, lrs, count = m[0], m[1], m[2], (<Session>m[3]).ws, m[4], m[5], m[6]
            l_acc, p_acc, w_acc, seen = m[7]
            _check_common(&net, sizes, params, N, y, sw, chunk, ws, GF_WS_TRAIN, S)
            if grad.shape[0] != P or state.shape[0] not in (0, S) or count.shape[0] != 1:
                raise ValueError(f"models[{i}]: grad, state or step_count has the wrong length")
            if min(lrs.shape[0], l_acc.shape[0], p_acc.shape[0], w_acc.shape[0], seen.shape[0]) < n_epochs:
                raise ValueError(f"models[{i}]: expected at least n_epochs = {n_epochs} rates and sums")
            _fused_cfg(&ms[i].cfg, loss_id, optim_id, batch, chunk, m[8], m[9], max_batches, m[10])
            ms[i].params, ms[i].grad, ms[i].ws = &params[0], &grad[0], &ws[0]
            ms[i].state = &state[0] if state.shape[0] > 0 else NULL
            ms[i].sw = &sw[0] if sw.shape[0] > 0 else NULL
            ms[i].epoch_lr, ms[i].step_count = &lrs[0], &count[0]
            ms[i].sums.loss, ms[i].sums.penalty = &l_acc[0], &p_acc[0]
            ms[i].sums.weight, ms[i].sums.seen = &w_acc[0], &seen[0]
        nt = _threads(n_threads)
        with nogil:
            gf_threads_set(nt)
            if real is float:
                status = gf_train_fused_f32(&net, ms, K, &gb[0], &X[0, 0], &y[0, 0], N, ip, n_epochs,
                                            start_batch)
            else:
                status = gf_train_fused_f64(&net, ms, K, &gb[0], &X[0, 0], &y[0, 0], N, ip, n_epochs,
                                            start_batch)
        _check(status, "train_fused", sizes, chunk)
        return [(ms[i].status, ms[i].out.steps, ms[i].out.epochs, ms[i].out.next_batch, ms[i].out.grad_norm)
                for i in range(K)]
    finally:
        free(ms)


def train_fused_stack(const int64_t[::1] sizes, const int32_t[::1] acts, int32_t loss_id, int64_t batch,
                      int64_t chunk, int64_t max_batches, const real[:, ::1] X, const real[:, ::1] y,
                      const int64_t[::1] idx, int64_t n_epochs, real[:, ::1] params, const double[:, ::1] lrs,
                      double[:, ::1] l_acc, double[:, ::1] p_acc, double[:, ::1] w_acc, int64_t[:, ::1] seen,
                      int64_t[::1] step_count, dict hyper, n_threads=1):
    """train_fused for K models of plain sgd (no optimizer state, no sample
    weights, no step limit, no grad_tol) held as rows of one array each:
    params (K, P), lrs and the epoch sums (K, n_epochs), step_count (K,),
    from batch 0 with `hyper` (Trainer._hyper) for every model. The
    workspaces (each with its rollback point at the given params) live for
    the call only. Returns (status, steps, epochs_completed, next_batch),
    int64 arrays of K: train()'s answer for each model, bit for bit."""
    cdef gf_net net = _net(sizes, acts)
    cdef int64_t N = X.shape[0], P = gf_n_params(&net), K = params.shape[0], i
    cdef int64_t IN = sizes[0], OUT = sizes[sizes.shape[0] - 1]
    cdef int64_t S = gf_state_len(GF_OPT_SGD, P)       # (the room momentum's v would take, as a Session's)
    cdef int64_t W = gf_workspace_len_kind(&net, chunk, GF_WS_TRAIN, S)
    cdef const int64_t *ip = NULL
    cdef int status = GF_OK, nt
    if K < 1 or N < 1 or batch < 1 or n_epochs < 1 or chunk < 1:
        raise ValueError("internal: train_fused_stack needs models, rows, a batch, a chunk and epochs")
    if W < 0:
        raise _too_large(sizes, chunk)
    if params.shape[1] != P or y.shape[0] != N or y.shape[1] != OUT or X.shape[1] != IN:
        raise ValueError(f"params, X or y: expected (K, {P}), ({N}, {IN}) and ({N}, {OUT})")
    if min(lrs.shape[0], l_acc.shape[0], p_acc.shape[0], w_acc.shape[0]) != K or \
            max(lrs.shape[0], l_acc.shape[0], p_acc.shape[0], w_acc.shape[0]) != K or \
            min(lrs.shape[1], l_acc.shape[1], p_acc.shape[1], w_acc.shape[1]) < n_epochs:
        raise ValueError(f"lrs and sums: expected ({K}, {n_epochs}) entries")
    if seen.shape[0] != K or seen.shape[1] < n_epochs or step_count.shape[0] != K:
        raise ValueError(f"seen and step_count: expected ({K}, {n_epochs}) and ({K},) entries")
    if idx.shape[0] > 0:
        if idx.shape[0] != n_epochs * N:
            raise ValueError(f"idx: expected 0 or n_epochs * N = {n_epochs * N} row numbers, got {idx.shape[0]}")
        ip = &idx[0]
    dt = _np.float32 if real is float else _np.float64
    gbuf = _np.empty(gf_fused_block(batch, N, IN, OUT) * min(batch, N) * (IN + OUT + 1), dtype=dt)
    grad_a, ws_a = _np.empty((K, P), dtype=dt), _np.empty((K, W), dtype=dt)
    out = _np.empty((4, K), dtype=_np.int64)
    cdef real[::1] gb = gbuf
    cdef real[:, ::1] grad = grad_a, ws = ws_a
    cdef int64_t[:, ::1] o = out
    cdef gf_fused_model *ms = <gf_fused_model *>malloc(K * sizeof(gf_fused_model))
    if ms == NULL:
        raise MemoryError("train_fused_stack: no memory for the models' descriptions")
    try:
        _fused_cfg(&ms[0].cfg, loss_id, GF_OPT_SGD, batch, chunk, -1, 0.0, max_batches, hyper)
        if ms[0].cfg.momentum != 0:
            raise ValueError("hyper: train_fused_stack takes plain sgd (momentum 0)")
        nt = _threads(n_threads)
        with nogil:
            for i in range(K):
                ms[i].cfg = ms[0].cfg
                ms[i].params, ms[i].grad, ms[i].ws = &params[i, 0], &grad[i, 0], &ws[i, 0]
                ms[i].state, ms[i].sw = NULL, NULL
                ms[i].epoch_lr, ms[i].step_count = &lrs[i, 0], &step_count[i]
                ms[i].sums.loss, ms[i].sums.penalty = &l_acc[i, 0], &p_acc[i, 0]
                ms[i].sums.weight, ms[i].sums.seen = &w_acc[i, 0], &seen[i, 0]
                if status == GF_OK:
                    if real is float:
                        status = gf_reset_prev_f32(&net, chunk, &params[i, 0], NULL, S, step_count[i], &ws[i, 0])
                    else:
                        status = gf_reset_prev_f64(&net, chunk, &params[i, 0], NULL, S, step_count[i], &ws[i, 0])
            if status == GF_OK:
                gf_threads_set(nt)
                if real is float:
                    status = gf_train_fused_f32(&net, ms, K, &gb[0], &X[0, 0], &y[0, 0], N, ip, n_epochs, 0)
                else:
                    status = gf_train_fused_f64(&net, ms, K, &gb[0], &X[0, 0], &y[0, 0], N, ip, n_epochs, 0)
            if status == GF_OK:
                for i in range(K):
                    o[0, i], o[1, i], o[2, i], o[3, i] = ms[i].status, ms[i].out.steps, ms[i].out.epochs, \
                        ms[i].out.next_batch
        _check(status, "train_fused_stack", sizes, chunk)
        return out[0], out[1], out[2], out[3]
    finally:
        free(ms)
