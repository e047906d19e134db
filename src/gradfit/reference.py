"""The same algorithm as the C core, in plain NumPy.

This is gradfit's correctness oracle (tests compare the C backend with it step
by step) and the benchmark baseline (``train(..., backend="numpy")``). It works
on whole minibatches with matrix products: no Python loop over samples. Every
definition here mirrors csrc/: losses, the gradient scale, the order of
update and the stopping rules.

The module-level functions (forward, backward, loss_value, loss_gradient) are
the readable statement of the algorithm. Reference runs the same arithmetic,
operation for operation, into preallocated buffers (tests check that the two
give bit-identical losses and gradients): each epoch's rows are gathered once
and sliced into contiguous minibatches, and every per-step array operation
writes into a buffer with ``out=``. It is meant to be the NumPy loop a skilled
NumPy user would write, so that it is a fair baseline.

Reference.train, loss_and_grad and loss_only check their arguments (shapes,
dtypes, sizes; errors name the argument). gradfit.train, which has validated
everything already, may call the unchecked twins _train, _loss_and_grad and
_loss_only.
"""
import math

import numpy as np

from ._layout import layer_views
from ._validate import check_int, check_X, check_y

STATUS_OK, STATUS_DIVERGED, STATUS_CONVERGED, STATUS_MAX_STEPS = 0, 2, 3, 4


def _sigmoid(z):
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1 / (1 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1 + e)
    return out


def _softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


# f(z)
ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softplus": _softplus,
}

# f'(z), given z and a = f(z)
DERIVATIVES = {
    "identity": lambda z, a: np.ones_like(z),
    "relu": lambda z, a: (z > 0).astype(z.dtype),
    "sigmoid": lambda z, a: a * (1 - a),
    "tanh": lambda z, a: 1 - a * a,
    "softplus": lambda z, a: _sigmoid(z),
}


def grad_norm(grad):
    """Euclidean norm of a flat gradient, accumulated in float64."""
    return float(np.sqrt(np.sum(np.square(grad, dtype=np.float64))))


def loss_value(pred, y, loss):
    """mse: mean over samples and outputs of (pred - y)^2; sse: the sum."""
    sq = np.sum(np.square(pred - y), dtype=np.float64)
    return float(sq / pred.size) if loss == "mse" else float(sq)


def loss_gradient(pred, y, loss):
    """dloss/dpred with the same scale as the C core."""
    dt = pred.dtype.type
    scale = dt(1.0 / pred.size) if loss == "mse" else dt(1)
    return (dt(2) * scale) * (pred - y)


def forward(weights, biases, activations, X):
    """Returns the list of (z, a) per layer; the prediction is the last a."""
    cache = []
    a = X
    for W, b, act in zip(weights, biases, activations):
        z = a @ W + b
        a = ACTIVATIONS[act](z)
        cache.append((z, a))
    return cache


def backward(weights, activations, X, cache, dpred, grad_weights, grad_biases):
    """Chain rule from the output back to the first layer, reusing the forward
    pass's z and a; writes each layer's gradient into the given arrays."""
    delta = dpred
    for layer in range(len(weights) - 1, -1, -1):
        z, a = cache[layer]
        delta = delta * DERIVATIVES[activations[layer]](z, a)      # dloss/dz
        inp = cache[layer - 1][1] if layer > 0 else X
        grad_weights[layer][...] = inp.T @ delta                  # dloss/dW
        grad_biases[layer][...] = delta.sum(axis=0)               # dloss/db
        if layer > 0:
            delta = delta @ weights[layer].T                      # dloss/da of the layer below


class _Buffers:
    """Per-layer arrays for minibatches of up to `rows` rows, and views of them
    for a given row count n (made once per n, not per step)."""

    def __init__(self, layer_sizes, activations, rows, dtype):
        self.rows = rows
        outs = layer_sizes[1:]
        self.z = [np.empty((rows, o), dtype) for o in outs]                     # a_in @ W + b
        self.a = [None if act == "identity" else np.empty((rows, o), dtype)     # f(z); z itself for identity
                  for o, act in zip(outs, activations)]
        self.e = [np.empty((rows, o), dtype) if act == "softplus" else None     # exp(-|z|), kept for backward
                  for o, act in zip(outs, activations)]
        self.t = [np.empty((rows, o), dtype) for o in outs]                     # scratch
        self.u = [np.empty((rows, o), dtype) if act in ("softplus", "sigmoid") else None
                  for o, act in zip(outs, activations)]                         # second scratch
        self.d = [np.empty((rows, o), dtype) for o in outs]                     # dloss/da, then dloss/dz
        self._views = {}

    def views(self, n):
        """(z, a, e, t, u, d): lists of per-layer (n, OUT) views; a[l] is z[l] for identity layers."""
        v = self._views.get(n)
        if v is None:
            def cut(arrays):
                return [None if x is None else x[:n] for x in arrays]
            z = cut(self.z)
            a = [zl if al is None else al for zl, al in zip(z, cut(self.a))]
            v = (z, a, cut(self.e), cut(self.t), cut(self.u), cut(self.d))
            if len(self._views) < 4:          # the batch size and the short last batch
                self._views[n] = v
        return v


class Reference:
    """Plain-NumPy training state for one model: the twin of the C backend.

    Public methods check their arguments; the _-prefixed twins do not (they
    are for gradfit.train, whose inputs are already validated: C-contiguous
    arrays of the model's dtype, y of shape (N, n_outputs))."""

    name = "numpy"

    def __init__(self, model, loss):
        if loss not in ("mse", "sse"):
            raise ValueError(f"loss: expected 'mse' or 'sse', got {loss!r}")
        self.model = model
        self.loss = loss
        self.acts = list(model.activations)
        self.dtype = model.params.dtype
        self.grad = np.empty_like(model.params)
        self.prev = model.params.copy()
        self._upd = np.empty_like(model.params)
        self._gw, self._gb = layer_views(self.grad, model.layer_sizes)
        # Views into model.params (a fixed buffer: assigning model.params copies into it).
        self._W, self._b = layer_views(model.params, model.layer_sizes)
        self._WT = [W.T for W in self._W]
        self._bufs = None

    # -- checked entry points ---------------------------------------------
    def loss_and_grad(self, X, y):
        """(loss, grad) over all of X, y; grad is the flat gradient (a buffer
        reused by the next call). X (N, n_inputs), y (N, n_outputs) or (N,)
        for one output, converted to the model's dtype."""
        X, y = self._check_data(X, y)
        return self._loss_and_grad(X, y)

    def loss_only(self, X, y):
        """The loss over all of X, y (a float); NaN or inf if it overflows."""
        X, y = self._check_data(X, y)
        return self._loss_only(X, y)

    def train(self, X, y, idx, n_epochs, batch, lr, max_steps, grad_tol, epoch_loss, epoch_seen):
        """Same contract as gradfit._core.train: returns (status, steps, epochs, grad_norm).

        X (N, n_inputs) and y (N, n_outputs): C-contiguous arrays of the model's
        dtype (not copied, not checked for NaN: NaN in the data makes the loss
        NaN and the run stop as diverged, as in C). idx: int64, empty (rows in
        order) or n_epochs * N row numbers, each epoch's visiting order.
        epoch_loss (float64) and epoch_seen (int64): at least n_epochs entries,
        filled with each epoch's summed batch loss (loss * rows) and row count.
        max_steps < 0 means no limit; grad_tol <= 0 means no gradient check."""
        m = self.model
        X = _check_array(X, "X", self.dtype, (None, m.n_inputs), "(N, n_inputs)")
        N = X.shape[0]
        if N == 0:
            raise ValueError(f"X: expected at least one sample, got shape {X.shape}")
        y = _check_array(y, "y", self.dtype, (N, m.n_outputs), f"({N}, {m.n_outputs}) to match X")
        n_epochs = check_int(n_epochs, "n_epochs", 0)
        batch = check_int(batch, "batch", 1)
        max_steps = check_int(max_steps, "max_steps", -1)
        idx = _check_array(idx, "idx", np.int64, (None,), "(0,) or (n_epochs * N,)")
        if idx.size not in (0, n_epochs * N):
            raise ValueError(f"idx: expected 0 or n_epochs * N = {n_epochs * N} row numbers, got {idx.size}")
        if idx.size and not (0 <= int(idx.min()) and int(idx.max()) < N):
            raise ValueError(f"idx: expected row numbers in [0, {N}), got values in "
                             f"[{int(idx.min())}, {int(idx.max())}]")
        epoch_loss = _check_array(epoch_loss, "epoch_loss", np.float64, (None,), "(>= n_epochs,)", writable=True)
        epoch_seen = _check_array(epoch_seen, "epoch_seen", np.int64, (None,), "(>= n_epochs,)", writable=True)
        for name, a in (("epoch_loss", epoch_loss), ("epoch_seen", epoch_seen)):
            if a.size < n_epochs:
                raise ValueError(f"{name}: expected at least n_epochs = {n_epochs} entries, got {a.size}")
        for name, v in (("lr", lr), ("grad_tol", grad_tol)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                    or not math.isfinite(v):
                raise TypeError(f"{name}: expected a finite real number, got {type(v).__name__} {v!r}")
        return self._train(X, y, idx, n_epochs, batch, lr, max_steps, grad_tol, epoch_loss, epoch_seen)

    def _check_data(self, X, y):
        m = self.model
        X = check_X(X, m.n_inputs, self.dtype)
        return X, check_y(y, X.shape[0], m.n_outputs, self.dtype)

    # -- unchecked fast paths ---------------------------------------------
    def _views(self, n, keep=False):
        """Views of buffers for n rows: the kept buffers if they are large
        enough, else new ones, kept if `keep` (training's batch size) or if
        none are kept yet, otherwise used for this call only (a whole-data
        pass larger than a batch)."""
        bufs = self._bufs
        if bufs is None or bufs.rows < n:
            bufs = _Buffers(self.model.layer_sizes, self.acts, n, self.dtype)
            if keep or self._bufs is None:
                self._bufs = bufs
        return bufs.views(n)

    def _forward(self, X, v):
        """Forward pass into the views v; returns the prediction (a view)."""
        z, a, e, t = v[0], v[1], v[2], v[3]
        inp = X
        for l, act in enumerate(self.acts):
            zl = z[l]
            np.matmul(inp, self._W[l], zl)
            np.add(zl, self._b[l], zl)
            if act == "identity":
                inp = zl
                continue
            al = a[l]
            if act == "tanh":
                np.tanh(zl, al)
            elif act == "relu":
                np.maximum(zl, 0, out=al)
            elif act == "softplus":            # max(z, 0) + log1p(exp(-|z|))
                el, tl = e[l], t[l]
                np.abs(zl, el)
                np.negative(el, el)
                np.exp(el, el)
                np.log1p(el, al)
                np.maximum(zl, 0, out=tl)
                np.add(tl, al, al)
            else:                              # sigmoid, as _sigmoid: 1/(1+e) for z >= 0, e/(1+e) below,
                tl, ul = t[l], v[4][l]         # e = exp(-|z|); exp(min(z, 0)) is 1 or e, exactly
                np.abs(zl, tl)
                np.negative(tl, tl)
                np.exp(tl, tl)
                np.add(tl, 1, tl)
                np.minimum(zl, 0, out=ul)
                np.exp(ul, ul)
                np.divide(ul, tl, al)
            inp = al
        return inp

    def _loss_and_grad(self, X, y):
        """(loss, grad) for one batch: X (n, IN), y (n, OUT), valid and of the model's dtype."""
        n = X.shape[0]
        v = self._views(n)
        z, a, e, t, u, d = v
        pred = self._forward(X, v)
        last = len(self.acts) - 1
        dl = d[last]
        np.subtract(pred, y, dl)
        sq = float(np.add.reduce(np.square(dl, t[last]), None, np.float64))
        size = dl.size
        dt = self.dtype.type
        if self.loss == "mse":
            value = sq / size
            coef = dt(2) * dt(1.0 / size)
        else:
            value = sq
            coef = dt(2) * dt(1)
        np.multiply(dl, coef, dl)                                   # dloss/dpred
        for l in range(last, -1, -1):
            dl = d[l]
            act = self.acts[l]
            if act != "identity":                                   # dloss/dz = dloss/da * f'(z)
                tl = t[l]
                if act == "tanh":
                    al = a[l]
                    np.multiply(al, al, tl)
                    np.subtract(1, tl, tl)
                elif act == "relu":
                    np.greater(z[l], 0, tl)
                elif act == "softplus":                             # f' = sigmoid(z), as _sigmoid
                    np.add(e[l], 1, tl)
                    ul = u[l]
                    np.minimum(z[l], 0, out=ul)
                    np.exp(ul, ul)
                    np.divide(ul, tl, tl)
                else:                                               # sigmoid: a * (1 - a)
                    al = a[l]
                    np.subtract(1, al, tl)
                    np.multiply(al, tl, tl)
                np.multiply(dl, tl, dl)
            inp = a[l - 1] if l > 0 else X
            np.matmul(inp.T, dl, self._gw[l])                       # dloss/dW
            np.add.reduce(dl, 0, None, self._gb[l])                 # dloss/db
            if l > 0:
                np.matmul(dl, self._WT[l], d[l - 1])                # dloss/da of the layer below
        return value, self.grad

    def _loss_only(self, X, y):
        with np.errstate(over="ignore", invalid="ignore"):
            v = self._views(X.shape[0])
            pred = self._forward(X, v)
            last = len(self.acts) - 1
            dl = v[5][last]
            np.subtract(pred, y, dl)
            sq = float(np.add.reduce(np.square(dl, dl), None, np.float64))
            return sq / dl.size if self.loss == "mse" else sq

    def _train(self, X, y, idx, n_epochs, batch, lr, max_steps, grad_tol, epoch_loss, epoch_seen):
        """train() without the checks. Overflow is detected by the loss check,
        as in C, so NumPy's warnings are off."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self._train_loop(X, y, idx, n_epochs, batch, lr, max_steps, grad_tol, epoch_loss, epoch_seen)

    def _train_loop(self, X, y, idx, n_epochs, batch, lr, max_steps, grad_tol, epoch_loss, epoch_seen):
        params, prev, upd, grad = self.model.params, self.prev, self._upd, self.grad
        lr = params.dtype.type(lr)
        N = X.shape[0]
        batch = min(batch, N)
        self._views(batch, keep=True)      # allocate the batch buffers now, not in the loop
        step = self._loss_and_grad
        copyto, multiply, subtract, isfinite = np.copyto, np.multiply, np.subtract, math.isfinite
        limit = max_steps if max_steps >= 0 else -1
        check_grad = batch == N and grad_tol > 0
        steps, epochs, gnorm = 0, 0, -1.0
        shuffled = idx.size > 0
        starts = range(0, N, batch)
        for e in range(n_epochs):
            if shuffled:            # this epoch's rows in visiting order, gathered once
                order = idx[e * N:(e + 1) * N]
                Xe, ye = X[order], y[order]
            else:
                Xe, ye = X, y
            total, seen = 0.0, 0
            status = STATUS_OK
            for start in starts:
                if steps == limit:
                    status = STATUS_MAX_STEPS
                    break
                stop = start + batch
                value, _ = step(Xe[start:stop], ye[start:stop])
                if not isfinite(value):
                    copyto(params, prev)
                    status = STATUS_DIVERGED
                    break
                n = min(stop, N) - start
                total += value * n
                seen += n
                epochs = e + 1             # epochs with at least one batch measured
                if check_grad:
                    gnorm = grad_norm(grad)
                    if gnorm < grad_tol:
                        status = STATUS_CONVERGED
                        break
                copyto(prev, params)
                multiply(grad, lr, upd)
                subtract(params, upd, params)
                steps += 1
            epoch_loss[e] = total
            epoch_seen[e] = seen
            if status != STATUS_OK:
                return status, steps, epochs, gnorm
        if max_steps >= 0 and steps >= max_steps:
            return STATUS_MAX_STEPS, steps, epochs, gnorm
        return STATUS_OK, steps, epochs, gnorm


def _check_array(a, argument, dtype, shape, expected, writable=False):
    """`a` must already be a C-contiguous ndarray of `dtype` with this shape
    (None: any size): these buffers are used in place, never copied."""
    dtype = np.dtype(dtype)
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{argument}: expected a numpy array of {dtype.name}, shape {expected}, "
                        f"got {type(a).__name__}")
    if a.dtype != dtype or a.ndim != len(shape) or not a.flags.c_contiguous \
            or any(s is not None and s != n for s, n in zip(shape, a.shape)):
        layout = "" if a.flags.c_contiguous else ", not C-contiguous"
        raise ValueError(f"{argument}: expected a C-contiguous {dtype.name} array of shape {expected}, "
                         f"got shape {a.shape}, dtype {a.dtype}{layout}")
    if writable and not a.flags.writeable:
        raise ValueError(f"{argument}: expected a writable array, got a read-only one")
    return a


def closed_form_linear(X, y):
    """Least-squares weights and bias of y = X @ w + b: theta = (X^T X)^-1 X^T y,
    solved with numpy.linalg.lstsq on X with a column of ones appended."""
    X = np.asarray(X, dtype=np.float64)
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    theta = np.linalg.lstsq(A, np.asarray(y, dtype=np.float64), rcond=None)[0]
    return theta[:-1], theta[-1]
