# Included by _core.pyx: the objects through which the Python layer calls the
# C core. They own the C workspaces: Python passes arrays and settings, and
# never sizes or resets C memory itself.

import numpy as _np

# Rows the C core runs through a forward / backward pass at a time (a larger
# batch or data set is done in passes of this many rows, summed in the same
# order): it bounds a workspace to a few MiB for any data size.
PASS_ROWS = 4096


cdef class Net:
    """One network's shape for the C core: its layer sizes (int64) and
    activation ids (int32), checked once, read-only. Each call sizes and
    allocates the workspace it needs (per call, so that threads never share
    one)."""
    cdef readonly object sizes
    cdef readonly object acts
    cdef readonly int64_t n_params

    def __init__(self, sizes, acts):
        s = _np.array(sizes, dtype=_np.int64)
        a = _np.array(acts, dtype=_np.int32)
        s.flags.writeable = False
        a.flags.writeable = False
        self.n_params = n_params(s, a)
        self.sizes, self.acts = s, a

    def rows(self, n):
        """Rows per pass for a call over n rows."""
        return max(1, min(n, PASS_ROWS))

    def _workspace(self, rows, dtype, optim_id=None, forward_only=False, sparse=False):
        return _np.empty(workspace_len(self.sizes, self.acts, rows, optim_id, forward_only=forward_only,
                                       sparse=sparse), dtype=dtype)

    def predict(self, params, X, out, *, n_threads=1):
        """out = the forward pass of X (see the module function predict)."""
        rows = self.rows(X.shape[0])
        predict(self.sizes, self.acts, params, X, rows, self._workspace(rows, params.dtype, forward_only=True,
                sparse=hasattr(X, "indptr")), out, n_threads=n_threads)

    def loss(self, int32_t loss_id, params, X, y, sw, *, double huber_delta=1.0, n_threads=1):
        """The data loss over all rows by forward passes (see the module function loss)."""
        rows = self.rows(X.shape[0])
        return loss(self.sizes, self.acts, loss_id, params, X, y, sw, rows,
                    self._workspace(rows, params.dtype, forward_only=True, sparse=hasattr(X, "indptr")),
                    huber_delta=huber_delta,
                    n_threads=n_threads)

    def loss_grad(self, int32_t loss_id, params, grad, X, y, sw, idx, *, double huber_delta=1.0, double l2=0.0,
                  n_threads=1):
        """The loss and its gradient into grad (see the module function loss_grad)."""
        rows = self.rows(X.shape[0] if idx.shape[0] == 0 else idx.shape[0])
        return loss_grad(self.sizes, self.acts, loss_id, params, grad, X, y, sw, idx, rows,
                         self._workspace(rows, params.dtype, sparse=hasattr(X, "indptr")), huber_delta=huber_delta, l2=l2, n_threads=n_threads)


cdef class Session:
    """The C core's state across the calls of one training run: a workspace
    for batches of `batch` rows and optimizer `optim_id`, which also holds
    the rollback point (the params, optimizer state and step count before
    the last update, what a divergence goes back to). sparse: a workspace
    for sparse X only (gradfit._sparse.CsrRows), without room for gathered X."""
    cdef readonly Net net
    cdef readonly int32_t optim_id
    cdef readonly int64_t rows
    cdef readonly bint sparse
    cdef object ws

    def __init__(self, Net net, int32_t optim_id, int64_t batch, dtype, *, sparse=False):
        self.net, self.optim_id, self.sparse = net, optim_id, sparse
        self.rows = net.rows(batch)
        self.ws = net._workspace(self.rows, dtype, optim_id, sparse=sparse)

    def set_rollback_point(self, params, state, step_count):
        """The rollback point := these params, optimizer state and step count.
        Call it after changing any of them outside train()."""
        reset_prev(self.net.sizes, self.net.acts, self.rows, self.optim_id, params, state, step_count, self.ws,
                   sparse=self.sparse)

    def train(self, int32_t loss_id, int64_t batch, int64_t max_steps, double grad_tol, int64_t max_batches,
              params, grad, state, X, y, sw, idx, int64_t n_epochs, int64_t start_batch, epoch_lr, step_count,
              epoch_loss, epoch_penalty, epoch_weight, epoch_seen, **settings):
        """The minibatch loop (see the module function train); returns
        (status, steps, epochs_completed, next_batch, grad_norm)."""
        return train(self.net.sizes, self.net.acts, loss_id, self.optim_id, batch, self.rows, max_steps, grad_tol,
                     max_batches, params, grad, state, self.ws, X, y, sw, idx, n_epochs, start_batch, epoch_lr,
                     step_count, epoch_loss, epoch_penalty, epoch_weight, epoch_seen, **settings)
