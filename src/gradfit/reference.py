"""The same algorithm as the C core, in plain NumPy.

This is gradfit's correctness oracle (tests compare the C backend with it step
by step) and the benchmark baseline (``train(..., backend="numpy")``). It works
on whole minibatches with matrix products: no Python loop over samples. Every
definition here mirrors csrc/: losses, the gradient scale, the order of
update and the stopping rules.

The module-level functions (forward, backward, loss_value, loss_gradient) are
the readable statement of the algorithm. Reference runs the same arithmetic,
operation for operation, into preallocated buffers (tests check that the two
give bit-identical losses, gradients and parameters): each epoch's rows are
gathered once and sliced into contiguous minibatches, every per-step array
operation writes into a buffer with ``out=``, and each update is written into
a second parameter buffer, so the values before it (needed to recover from a
divergence) are kept without a copy per step. It is meant to be the NumPy loop
a skilled NumPy user would write, so that it is a fair baseline
(benchmarks/run.py also times a bare hand-written loop next to it).

Reference.train, loss_and_grad and loss_only check their arguments (shapes,
dtypes, sizes; errors name the argument). gradfit.train, which has validated
everything already, may call the unchecked twins _train, _loss_and_grad and
_loss_only.
"""
import math

import numpy as np

from ._layout import layer_views
from ._validate import check_int, check_X, check_y

STATUS_OK, STATUS_DIVERGED, STATUS_CONVERGED, STATUS_MAX_STEPS, STATUS_PAUSED = 0, 2, 3, 4, 6
LOSSES = ("mse", "sse", "cross_entropy", "binary_cross_entropy", "mae", "huber")
OPTIMIZERS = ("sgd", "adam", "adamw")

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


def sample_losses(pred, y, loss, delta=1.0):
    """Per-sample losses l (n,) and their gradients dl/dpred (n, OUT):

    - mse: mean_k (p_k - t_k)^2; sse: the sum over k;
    - cross_entropy (p: logits, t: one-hot or probability rows; s = sum_k t_k):
      s * logsumexp(p) - sum_k t_k p_k, computed as sum_k t_k (max p - p_k) +
      s log(sum_k exp(p_k - max p)); dl/dp = s softmax(p) - t;
    - binary_cross_entropy (p: logits, t in [0, 1]): mean_k of
      max(p, 0) - p t + log1p(exp(-|p|)); dl/dp = (sigmoid(p) - t) / OUT;
    - mae: mean_k |p_k - t_k|; dl/dp = sign(p - t) / OUT;
    - huber: mean_k h(r_k), r = p - t, h(r) = r^2/2 for |r| <= delta, else
      delta (|r| - delta/2); dl/dp = clip(r, -delta, delta) / OUT."""
    dt = pred.dtype.type
    out = pred.shape[1]
    if loss == "cross_entropy":
        mx = pred.max(axis=1, keepdims=True)
        e = np.exp(pred - mx)
        se = e.sum(axis=1)
        s = y.sum(axis=1)
        l = (y * (mx - pred)).sum(axis=1) + s * np.log(se)
        return l, (s / se)[:, None] * e - y
    r = pred - y
    if loss in ("mse", "sse"):
        l, g = np.square(r).sum(axis=1), dt(2) * r
    elif loss == "binary_cross_entropy":
        e = np.exp(-np.abs(pred))
        l = (np.maximum(pred, 0) - pred * y + np.log1p(e)).sum(axis=1)
        g = np.where(pred >= 0, dt(1), e) / (1 + e) - y
    elif loss == "mae":
        l, g = np.abs(r).sum(axis=1), np.sign(r)
    elif loss == "huber":
        d = dt(delta)
        a = np.abs(r)
        l = np.where(a <= d, dt(0.5) * r * r, d * (a - dt(0.5) * d)).sum(axis=1)
        g = np.clip(r, -d, d)
    else:
        raise ValueError(f"loss: expected one of {list(LOSSES)}, got {loss!r}")
    if loss != "sse":
        l, g = l / dt(out), g / dt(out)
    return l, g


def _weights_of(sample_weight, n, dtype):
    return np.ones(n, dtype) if sample_weight is None else np.asarray(sample_weight, dtype)


def loss_value(pred, y, loss, sample_weight=None, delta=1.0):
    """The batch loss: the weighted mean sum_i w_i l_i / sum_i w_i of the
    per-sample losses (sample_losses; w_i = 1 without sample weights; 0 if the
    weights sum to 0), or for sse the weighted sum sum_i w_i l_i. Without
    weights, mse is the mean over samples and outputs of (pred - y)^2 and sse
    the sum, accumulated in float64."""
    if sample_weight is None and loss in ("mse", "sse"):
        sq = np.sum(np.square(pred - y), dtype=np.float64)
        return float(sq / pred.size) if loss == "mse" else float(sq)
    l, _ = sample_losses(pred, y, loss, delta)
    w = _weights_of(sample_weight, pred.shape[0], pred.dtype)
    total = float(np.sum(w.astype(np.float64) * l.astype(np.float64)))
    if loss == "sse":
        return total
    W = float(np.sum(w, dtype=np.float64))
    return total / W if W > 0 else 0.0


def loss_gradient(pred, y, loss, sample_weight=None, delta=1.0):
    """dloss/dpred of loss_value, with the same scale as the C core:
    w_i / sum(w) * dl_i/dpred (sse: w_i * dl_i/dpred); zero if the weights
    sum to 0."""
    dt = pred.dtype.type
    if sample_weight is None and loss in ("mse", "sse"):
        scale = dt(1.0 / pred.size) if loss == "mse" else dt(1)
        return (dt(2) * scale) * (pred - y)
    _, g = sample_losses(pred, y, loss, delta)
    w = _weights_of(sample_weight, pred.shape[0], pred.dtype)
    if loss == "sse":
        return w[:, None] * g
    W = float(np.sum(w, dtype=np.float64))
    if not W > 0:
        return np.zeros_like(g)
    return (w * dt(1.0 / W))[:, None] * g


def l2_penalty(weights, l2):
    """l2/2 * the sum of the squared weight entries (not the biases)."""
    return 0.5 * l2 * sum(float(np.sum(np.square(W), dtype=np.float64)) for W in weights)


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

    def __init__(self, model, loss, *, huber_delta=1.0):
        if loss not in LOSSES:
            raise ValueError(f"loss: expected one of {list(LOSSES)}, got {loss!r}")
        if isinstance(huber_delta, bool) or not isinstance(huber_delta, (int, float, np.floating, np.integer)) \
                or not 0 < huber_delta < math.inf:
            raise ValueError(f"huber_delta: expected a finite number > 0, got {huber_delta!r}")
        self.model = model
        self.loss = loss
        self.huber_delta = float(huber_delta)
        self._plain = loss in ("mse", "sse")        # the squared-error fast path applies
        self.acts = list(model.activations)
        self.dtype = model.params.dtype
        self.grad = np.empty_like(model.params)
        # What a divergence rolls back to: params, optimizer state and step
        # count before the last update (the C core keeps them in its workspace).
        self.prev = model.params.copy()
        self.prev_state = np.empty(0, self.dtype)
        self.prev_t = 0
        self._upd = np.empty_like(model.params)
        self._gw, self._gb = layer_views(self.grad, model.layer_sizes)
        # Per-layer views into model.params (a fixed buffer: assigning
        # model.params copies into it) and into a second buffer: training
        # writes each update into the other buffer, so that the values before
        # the update are kept without a copy per step (see _train_loop).
        self._alt = np.empty_like(model.params)
        self._layers = []
        for flat in (model.params, self._alt):
            W, b = layer_views(flat, model.layer_sizes)
            self._layers.append((W, b, [w.T for w in W]))
        self._bufs, self._plans = None, {}

    # -- checked entry points ---------------------------------------------
    def loss_and_grad(self, X, y, sample_weight=None, l2=0.0):
        """(loss, grad) over all of X, y; grad is the flat gradient (a buffer
        reused by the next call). X (N, n_inputs), y (N, n_outputs) or (N,)
        for one output, converted to the model's dtype; sample_weight (N,)
        or None. With l2 > 0 the loss includes the L2 penalty and grad its
        gradient (as _core.loss_grad's l2=)."""
        X, y = self._check_data(X, y)
        sw = self._check_sw(sample_weight, X.shape[0])
        value, grad = self._loss_and_grad(X, y, sw)
        if l2 > 0:
            value += self._l2(grad, l2)
        return value, grad

    def loss_only(self, X, y, sample_weight=None):
        """The loss over all of X, y (a float); NaN or inf if it overflows."""
        X, y = self._check_data(X, y)
        return self._loss_only(X, y, self._check_sw(sample_weight, X.shape[0]))

    def reset_prev(self, state=None, step_count=None):
        """What a divergence rolls back to := the current params, state and
        step count (as _core.reset_prev)."""
        np.copyto(self.prev, self.model.params)
        self.prev_state = np.empty(0, self.dtype) if state is None else np.array(state, self.dtype)
        self.prev_t = 0 if step_count is None else int(step_count[0])

    def train(self, X, y, sw, idx, n_epochs, start_batch, batch, epoch_lr, max_steps, max_batches,
              grad_tol, state, step_count, epoch_loss, epoch_penalty, epoch_weight, epoch_seen, *,
              optimizer="sgd", momentum=0.0, nesterov=False, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0, l2=0.0):
        """Same contract as gradfit._core.train: returns (status, steps,
        epochs_completed, next_batch, grad_norm).

        X (N, n_inputs) and y (N, n_outputs): C-contiguous arrays of the model's
        dtype (not copied, not checked for NaN: NaN in the data makes the loss
        NaN and the run stop as diverged, as in C). sw: (N,) sample weights of
        the model's dtype, or empty (all ones). idx: int64, empty (rows in
        order) or n_epochs * N row numbers, each epoch's visiting order.
        start_batch: the batch of the first epoch to start at. epoch_lr
        (float64, n_epochs): each epoch's learning rate (>= 0). max_steps,
        max_batches < 0: no limit (max_batches used up first: STATUS_PAUSED);
        grad_tol <= 0: no gradient check. state: the optimizer state (empty
        for sgd without momentum; P for sgd, 2P for adam/adamw: m then v),
        step_count: int64 (1,), Adam's t; both updated in place and, with
        params, rolled back on divergence to before the last update (see
        reset_prev). epoch_loss, epoch_penalty, epoch_weight (float64) and
        epoch_seen (int64): at least n_epochs entries, added to as
        gradfit._core.train does."""
        m = self.model
        X = _check_array(X, "X", self.dtype, (None, m.n_inputs), "(N, n_inputs)")
        N = X.shape[0]
        if N == 0:
            raise ValueError(f"X: expected at least one sample, got shape {X.shape}")
        y = _check_array(y, "y", self.dtype, (N, m.n_outputs), f"({N}, {m.n_outputs}) to match X")
        sw = _check_array(sw, "sw", self.dtype, (None,), f"(0,) or ({N},)")
        if sw.size not in (0, N):
            raise ValueError(f"sw: expected 0 or N = {N} sample weights, got {sw.size}")
        n_epochs = check_int(n_epochs, "n_epochs", 0)
        batch = check_int(batch, "batch", 1)
        start_batch = check_int(start_batch, "start_batch", 0)
        if n_epochs and start_batch > (N - 1) // batch:
            raise ValueError(f"start_batch: expected a batch index in [0, {(N - 1) // batch}], got {start_batch}")
        max_steps = check_int(max_steps, "max_steps", -1)
        max_batches = check_int(max_batches, "max_batches", -1)
        idx = _check_array(idx, "idx", np.int64, (None,), "(0,) or (n_epochs * N,)")
        if idx.size not in (0, n_epochs * N):
            raise ValueError(f"idx: expected 0 or n_epochs * N = {n_epochs * N} row numbers, got {idx.size}")
        if idx.size and not (0 <= int(idx.min()) and int(idx.max()) < N):
            raise ValueError(f"idx: expected row numbers in [0, {N}), got values in "
                             f"[{int(idx.min())}, {int(idx.max())}]")
        epoch_lr = _check_array(epoch_lr, "epoch_lr", np.float64, (None,), "(>= n_epochs,)")
        if epoch_lr.size < n_epochs or not np.all((epoch_lr[:n_epochs] >= 0) & np.isfinite(epoch_lr[:n_epochs])):
            raise ValueError(f"epoch_lr: expected n_epochs = {n_epochs} finite numbers >= 0, "
                             f"got {epoch_lr[:n_epochs].tolist()}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {list(OPTIMIZERS)}, got {optimizer!r}")
        for name, v in (("grad_tol", grad_tol), ("momentum", momentum), ("beta1", beta1), ("beta2", beta2),
                        ("eps", eps), ("weight_decay", weight_decay), ("l2", l2)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                    or not math.isfinite(v):
                raise TypeError(f"{name}: expected a finite real number, got {type(v).__name__} {v!r}")
        for name, v in (("momentum", momentum), ("beta1", beta1), ("beta2", beta2)):
            if not 0 <= v < 1:
                raise ValueError(f"{name}: expected a number in [0, 1), got {v!r}")
        for name, v, low in (("eps", eps, "> 0"), ("weight_decay", weight_decay, ">= 0"), ("l2", l2, ">= 0")):
            if v < 0 or (low == "> 0" and v == 0):
                raise ValueError(f"{name}: expected a number {low}, got {v!r}")
        P = m.n_params
        S = P if optimizer == "sgd" else 2 * P
        uses_state = optimizer != "sgd" or momentum != 0
        state = _check_array(state, "state", self.dtype, (None,), f"({S},)", writable=True)
        if state.size not in ((S,) if uses_state else (0, S)):
            raise ValueError(f"state: expected {S} entries, got {state.size}")
        step_count = _check_array(step_count, "step_count", np.int64, (1,), "(1,)", writable=True)
        if step_count[0] < 0:
            raise ValueError(f"step_count: expected a count >= 0, got {int(step_count[0])}")
        sums = []
        for name, a, dtype in (("epoch_loss", epoch_loss, np.float64), ("epoch_penalty", epoch_penalty, np.float64),
                               ("epoch_weight", epoch_weight, np.float64), ("epoch_seen", epoch_seen, np.int64)):
            a = _check_array(a, name, dtype, (None,), "(>= n_epochs,)", writable=True)
            if a.size < n_epochs:
                raise ValueError(f"{name}: expected at least n_epochs = {n_epochs} entries, got {a.size}")
            sums.append(a)
        hyper = dict(optimizer=optimizer, momentum=float(momentum), nesterov=bool(nesterov), beta1=float(beta1),
                     beta2=float(beta2), eps=float(eps), weight_decay=float(weight_decay), l2=float(l2))
        return self._train(X, y, sw, idx, n_epochs, start_batch, batch, epoch_lr, max_steps, max_batches,
                           float(grad_tol), state, step_count, *sums, **hyper)

    def _check_data(self, X, y):
        m = self.model
        X = check_X(X, m.n_inputs, self.dtype)
        return X, check_y(y, X.shape[0], m.n_outputs, self.dtype)

    def _check_sw(self, sample_weight, n):
        if sample_weight is None:
            return None
        sw = np.ascontiguousarray(sample_weight, dtype=self.dtype)
        if sw.shape != (n,) or not np.all(np.isfinite(sw) & (sw >= 0)):
            raise ValueError(f"sample_weight: expected {n} finite numbers >= 0, got shape {sw.shape}")
        return sw

    # -- unchecked fast paths ---------------------------------------------
    def _plan(self, n, keep=False, backward=True, params=0):
        """Everything one pass over n rows needs: (layers, coef, size), where
        layers holds per layer (act, W, b, W.T, grad W, grad b, z, a, e, t, u, d)
        with (n, OUT) views of the buffers, coef is dloss/dpred's scale. Plans
        are kept per n (the batch size and the short last batch) for the kept
        buffers: those for training's batch size (keep=True), else the first
        ones made; a larger whole-data pass gets buffers for that call only.
        params: 0 for model.params, 1 for the second buffer."""
        bufs = self._bufs
        if bufs is None or bufs.rows < n or (backward and not bufs.backward):
            bufs = _Buffers(self.model.layer_sizes, self.acts, n, self.dtype, backward)
            if backward and (keep or self._bufs is None):
                self._bufs, self._plans = bufs, {}
            else:
                return self._make_plan(bufs, n, params)
        plan = self._plans.get((n, params))
        if plan is None:
            plan = self._make_plan(bufs, n, params)
            if len(self._plans) < 8:
                self._plans[n, params] = plan
        return plan

    def _make_plan(self, bufs, n, params):
        layers = []
        weights, biases, transposed = self._layers[params]
        for act, W, b, WT, gw, gb, arrays in zip(self.acts, weights, biases, transposed, self._gw, self._gb,
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

    def _loss_and_grad(self, X, y, sw=None):
        """(loss, grad) over X (n, IN), y (n, OUT), valid and of the model's dtype."""
        layers, coef, size = self._plan(X.shape[0])
        return self._batch_loss_and_grad(X, y, layers, coef, size, sw)[0], self.grad

    def _batch_loss_and_grad(self, X, y, layers, coef, size, w=None):
        """(the data loss, the batch's weight sum); the gradient goes into
        self.grad."""
        n = X.shape[0]
        if w is None:
            W = float(n)
        else:
            W = float(_add_reduce(w, None, _float64))
            if not W > 0 and self.loss != "sse":
                self.grad.fill(0)                   # no weight: loss 0, no gradient
                return 0.0, W
        pred = self._forward(X, layers)
        d, t = layers[-1][11], layers[-1][9]
        if self._plain and w is None:
            _subtract(pred, y, d)
            value = float(_add_reduce(_square(d, t), None, _float64))
            _multiply(d, coef, d)                                   # dloss/dpred
            value = value / size if self.loss == "mse" else value
        else:
            l, g = sample_losses(pred, y, self.loss, self.huber_delta)
            ww = np.ones(n, self.dtype) if w is None else w
            total = float(_add_reduce(ww.astype(_float64) * l, None, _float64))
            if self.loss == "sse":
                value = total
                _multiply(g, ww[:, None], d)
            else:
                value = total / W
                _multiply(g, (ww * self.dtype.type(1.0 / W))[:, None], d)
        self._backward(X, layers)
        return value, W

    def _backward(self, X, layers):
        """The chain rule from dloss/dpred (in the last layer's d) back to the
        first layer; the gradient goes into self.grad."""
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

    def _l2(self, grad, l2, params=0):
        """The L2 penalty at the params (0: model.params, 1: the second
        buffer); grad's weight entries += l2 * W."""
        lam = self.dtype.type(l2)
        weights = self._layers[params][0]
        for W, gw in zip(weights, self._gw):
            gw += lam * W
        return l2_penalty(weights, l2)

    def _loss_only(self, X, y, sw=None):
        with np.errstate(over="ignore", invalid="ignore"):
            layers, _, size = self._plan(X.shape[0], backward=False)
            pred = self._forward(X, layers)
            if not self._plain or sw is not None:
                return loss_value(pred, y, self.loss, sw, self.huber_delta)
            d = layers[-1][11]
            _subtract(pred, y, d)
            sq = float(_add_reduce(_square(d, d), None, _float64))
            return sq / size if self.loss == "mse" else sq

    def _train(self, *args, **kwargs):
        """train() without the checks. Overflow is detected by the loss check,
        as in C, so NumPy's warnings are off."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._train_loop(*args, **kwargs)

    def _step(self, lr, t, state, optimizer, momentum, nesterov, beta1, beta2, eps, weight_decay):
        """An optimizer with state: prev := params and prev_state := state,
        then one update of model.params in place from self.grad; t is this
        update's step count (from 1). (Plain sgd is in _train_loop.)"""
        params, prev, grad, upd = self.model.params, self.prev, self.grad, self._upd
        dt = self.dtype.type
        lr = dt(lr)
        _copyto(prev, params)
        if self.prev_state.shape != state.shape:
            self.prev_state = np.empty_like(state)
        _copyto(self.prev_state, state)
        P = params.size
        if optimizer == "sgd":                      # v = mu v + g
            mu = dt(momentum)
            v = state
            _multiply(v, mu, v)
            _add(v, grad, v)
            if nesterov:                            # p -= lr (g + mu v)
                _multiply(v, mu, upd)
                _add(upd, grad, upd)
                _multiply(upd, lr, upd)
            else:                                   # p -= lr v
                _multiply(v, lr, upd)
            _subtract(params, upd, params)
            return
        if optimizer == "adamw" and weight_decay != 0:
            lr_wd = dt(float(lr) * weight_decay)    # W -= lr wd W, weights only
            for W in self._layers[0][0]:
                W -= lr_wd * W
        b1, b2 = dt(beta1), dt(beta2)
        m, v = state[:P], state[P:]
        _multiply(m, b1, m)
        _add(m, (dt(1) - b1) * grad, m)             # m = b1 m + (1 - b1) g
        _multiply(v, b2, v)
        _add(v, (dt(1) - b2) * (grad * grad), v)    # v = b2 v + (1 - b2) g^2
        mhat = m / dt(1.0 - beta1 ** t)
        vhat = v / dt(1.0 - beta2 ** t)
        _subtract(params, lr * mhat / (np.sqrt(vhat) + dt(eps)), params)

    def _train_loop(self, X, y, sw, idx, n_epochs, start_batch, batch, epoch_lr, max_steps, max_batches,
                    grad_tol, state, step_count, epoch_loss, epoch_penalty, epoch_weight, epoch_seen, *,
                    optimizer="sgd", momentum=0.0, nesterov=False, beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=0.0, l2=0.0):
        # Plain sgd: the parameters live in two buffers, model.params and
        # self._alt: each step reads the current one and writes p - lr * grad
        # into the other, which then becomes current; the one left behind
        # holds the values before the last update (self.prev's meaning), with
        # no copy per step. On return model.params gets the current values and
        # self.prev the previous ones. The arithmetic is that of
        # `p -= lr * grad`. Optimizers with state update model.params in place
        # (_step, which keeps prev and prev_state).
        params, prev, upd, grad = self.model.params, self.prev, self._upd, self.grad
        uses_state = optimizer != "sgd" or momentum != 0
        buffers = (params, self._alt)
        if not uses_state:
            _copyto(self._alt, prev)
        cur = 0                    # buffers[cur] holds the current parameters
        N = X.shape[0]
        n_batches = -(-N // batch)
        batch = min(batch, N)
        step = self._batch_loss_and_grad
        full = (self._plan(batch, keep=True), self._plan(batch, params=1))   # buffers made now, not in the loop
        tail = (self._plan(N % batch), self._plan(N % batch, params=1)) if N % batch else None
        check_grad = batch == N and grad_tol > 0
        weighted = sw.size > 0
        sse = self.loss == "sse"
        hyper = (optimizer, momentum, nesterov, beta1, beta2, eps, weight_decay)
        t = int(step_count[0])
        steps, gnorm, status = 0, -1.0, STATUS_OK
        e, b = 0, start_batch
        while e < n_epochs and status == STATUS_OK:
            lr = float(epoch_lr[e])
            lr_dt = self.dtype.type(lr)
            first = b * batch                          # the rows of this call's part of the epoch, gathered once
            if idx.size:
                order = idx[e * N + first:(e + 1) * N]
                Xe, ye = X[order], y[order]
                we = sw[order] if weighted else None
            else:
                Xe, ye = X[first:], y[first:]
                we = sw[first:] if weighted else None
            while b < n_batches:
                if 0 <= max_steps <= steps:
                    status = STATUS_MAX_STEPS
                    break
                if 0 <= max_batches <= steps:
                    status = STATUS_PAUSED
                    break
                lo = b * batch - first
                hi = lo + batch
                n = min(batch, N - b * batch)
                layers, coef, size = (full if n == batch else tail)[cur]
                value, W = step(Xe[lo:hi], ye[lo:hi], layers, coef, size, None if we is None else we[lo:hi])
                pen = self._l2(grad, l2, cur) if l2 > 0 else 0.0
                if not (_isfinite(value) and _isfinite(pen)):
                    if uses_state:
                        _copyto(params, prev)
                        _copyto(state, self.prev_state)
                    else:
                        cur = 1 - cur            # back to the values before the last update
                    t = self.prev_t
                    status = STATUS_DIVERGED
                    break
                wgt = float(n) if sse else W
                epoch_loss[e] += wgt * value
                epoch_penalty[e] += wgt * pen
                epoch_weight[e] += wgt
                epoch_seen[e] += n
                if check_grad:
                    gnorm = grad_norm(grad)
                    if gnorm < grad_tol:
                        status = STATUS_CONVERGED
                        break
                self.prev_t = t
                t += 1
                if uses_state:
                    self._step(lr, t, state, *hyper)
                else:
                    _multiply(grad, lr_dt, upd)
                    _subtract(buffers[cur], upd, buffers[1 - cur])
                    cur = 1 - cur
                steps += 1
                b += 1
            if status == STATUS_OK:
                e, b = e + 1, 0
        if not uses_state:
            if status == STATUS_DIVERGED:
                _copyto(prev, buffers[cur])
            elif steps:
                _copyto(prev, buffers[1 - cur])
            if cur:
                _copyto(params, buffers[cur])
        step_count[0] = t
        if status == STATUS_OK and 0 <= max_steps <= steps:
            status = STATUS_MAX_STEPS
        return status, steps, e, (b if e < n_epochs else 0), gnorm


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
