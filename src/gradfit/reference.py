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

# Module-level names for the per-step calls (one lookup instead of two).
_matmul, _add, _subtract, _multiply, _divide = np.matmul, np.add, np.subtract, np.multiply, np.divide
_tanh, _exp, _log1p, _abs, _negative, _square = np.tanh, np.exp, np.log1p, np.abs, np.negative, np.square
_maximum, _minimum, _greater, _copyto = np.maximum, np.minimum, np.greater, np.copyto
_add_reduce, _float64, _isfinite = np.add.reduce, np.float64, math.isfinite


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
    """Per-layer arrays for minibatches of up to `rows` rows. With
    backward=False only what a forward pass and the loss need."""

    def __init__(self, layer_sizes, activations, rows, dtype, backward=True):
        self.rows, self.backward = rows, backward
        last = len(activations) - 1

        def new(o, wanted):
            return np.empty((rows, o), dtype) if wanted else None
        self.layers = [(
            new(o, True),                                            # z = a_in @ W + b
            new(o, act != "identity"),                               # a = f(z) (z itself for identity)
            new(o, act == "softplus"),                               # exp(-|z|), kept for backward
            new(o, backward or act in ("softplus", "sigmoid")),      # scratch
            new(o, act in ("softplus", "sigmoid")),                  # second scratch
            new(o, backward or l == last),                           # dloss/da, then dloss/dz
        ) for l, (o, act) in enumerate(zip(layer_sizes[1:], activations))]


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
        self._bufs, self._plans = None, {}

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
    def _plan(self, n, keep=False, backward=True):
        """Everything one pass over n rows needs: (layers, coef, size), where
        layers holds per layer (act, W, b, W.T, grad W, grad b, z, a, e, t, u, d)
        with (n, OUT) views of the buffers, coef is dloss/dpred's scale. Plans
        are kept per n (the batch size and the short last batch) for the kept
        buffers: those for training's batch size (keep=True), else the first
        ones made; a larger whole-data pass gets buffers for that call only."""
        bufs = self._bufs
        if bufs is None or bufs.rows < n or (backward and not bufs.backward):
            bufs = _Buffers(self.model.layer_sizes, self.acts, n, self.dtype, backward)
            if backward and (keep or self._bufs is None):
                self._bufs, self._plans = bufs, {}
            else:
                return self._make_plan(bufs, n)
        plan = self._plans.get(n)
        if plan is None:
            plan = self._make_plan(bufs, n)
            if len(self._plans) < 8:
                self._plans[n] = plan
        return plan

    def _make_plan(self, bufs, n):
        layers = []
        for act, W, b, WT, gw, gb, arrays in zip(self.acts, self._W, self._b, self._WT, self._gw, self._gb,
                                                  bufs.layers):
            z, a, e, t, u, d = (None if x is None else x[:n] for x in arrays)
            layers.append((act, W, b, WT, gw, gb, z, z if a is None else a, e, t, u, d))
        size = n * self.model.n_outputs
        dt = self.dtype.type
        coef = dt(2) * (dt(1.0 / size) if self.loss == "mse" else dt(1))
        return layers, coef, size

    @staticmethod
    def _forward(X, layers):
        """Forward pass into the plan's buffers; returns the prediction (a view)."""
        inp = X
        for act, W, b, _, _, _, z, a, e, t, u, _ in layers:
            _matmul(inp, W, z)
            _add(z, b, z)
            if act == "identity":
                pass
            elif act == "tanh":
                _tanh(z, a)
            elif act == "relu":
                _maximum(z, 0, out=a)
            elif act == "softplus":            # max(z, 0) + log1p(exp(-|z|))
                _abs(z, e)
                _negative(e, e)
                _exp(e, e)
                _log1p(e, a)
                _maximum(z, 0, out=t)
                _add(t, a, a)
            else:                              # sigmoid, as _sigmoid: 1/(1+e) for z >= 0, e/(1+e) below,
                _abs(z, t)                     # e = exp(-|z|); exp(min(z, 0)) is exactly 1 or e
                _negative(t, t)
                _exp(t, t)
                _add(t, 1, t)
                _minimum(z, 0, out=u)
                _exp(u, u)
                _divide(u, t, a)
            inp = a
        return inp

    def _loss_and_grad(self, X, y):
        """(loss, grad) over X (n, IN), y (n, OUT), valid and of the model's dtype."""
        layers, coef, size = self._plan(X.shape[0])
        return self._batch_loss_and_grad(X, y, layers, coef, size), self.grad

    def _batch_loss_and_grad(self, X, y, layers, coef, size):
        """The loss (a float); the gradient goes into self.grad."""
        pred = self._forward(X, layers)
        d, t = layers[-1][11], layers[-1][9]
        _subtract(pred, y, d)
        sq = float(_add_reduce(_square(d, t), None, _float64))
        _multiply(d, coef, d)                                       # dloss/dpred
        below = len(layers) - 2
        for act, W, b, WT, gw, gb, z, a, e, t, u, d in reversed(layers):
            if act == "identity":                                   # dloss/dz = dloss/da * f'(z)
                pass
            elif act == "tanh":                                     # 1 - a^2
                _multiply(a, a, t)
                _subtract(1, t, t)
                _multiply(d, t, d)
            elif act == "relu":                                     # z > 0
                _greater(z, 0, t)
                _multiply(d, t, d)
            elif act == "softplus":                                 # sigmoid(z), as _sigmoid
                _add(e, 1, t)
                _minimum(z, 0, out=u)
                _exp(u, u)
                _divide(u, t, t)
                _multiply(d, t, d)
            else:                                                   # sigmoid: a * (1 - a)
                _subtract(1, a, t)
                _multiply(a, t, t)
                _multiply(d, t, d)
            if below >= 0:
                inp = layers[below][7]
                _matmul(inp.T, d, gw)                               # dloss/dW
                _add_reduce(d, 0, None, gb)                         # dloss/db
                _matmul(d, WT, layers[below][11])                   # dloss/da of the layer below
            else:
                _matmul(X.T, d, gw)
                _add_reduce(d, 0, None, gb)
            below -= 1
        return sq / size if self.loss == "mse" else sq

    def _loss_only(self, X, y):
        with np.errstate(over="ignore", invalid="ignore"):
            layers, _, size = self._plan(X.shape[0], backward=False)
            pred = self._forward(X, layers)
            d = layers[-1][11]
            _subtract(pred, y, d)
            sq = float(_add_reduce(_square(d, d), None, _float64))
            return sq / size if self.loss == "mse" else sq

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
        step = self._batch_loss_and_grad
        full = self._plan(batch, keep=True)            # buffers made now, not in the loop
        tail = self._plan(N % batch) if N % batch else None
        limit = max_steps if max_steps >= 0 else -1
        check_grad = batch == N and grad_tol > 0
        steps, epochs, gnorm = 0, 0, -1.0
        shuffled = idx.size > 0
        for e in range(n_epochs):
            if shuffled:            # this epoch's rows in visiting order, gathered once
                order = idx[e * N:(e + 1) * N]
                Xe, ye = X[order], y[order]
            else:
                Xe, ye = X, y
            total, seen = 0.0, 0
            status = STATUS_OK
            for start in range(0, N, batch):
                if steps == limit:
                    status = STATUS_MAX_STEPS
                    break
                stop = start + batch
                layers, coef, size = full if stop <= N else tail
                value = step(Xe[start:stop], ye[start:stop], layers, coef, size)
                if not _isfinite(value):
                    _copyto(params, prev)
                    status = STATUS_DIVERGED
                    break
                n = batch if stop <= N else N - start
                total += value * n
                seen += n
                epochs = e + 1             # epochs with at least one batch measured
                if check_grad:
                    gnorm = grad_norm(grad)
                    if gnorm < grad_tol:
                        status = STATUS_CONVERGED
                        break
                _copyto(prev, params)
                _multiply(grad, lr, upd)
                _subtract(params, upd, params)
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
