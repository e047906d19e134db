"""The same algorithm as the C core, in plain NumPy: gradfit's oracle.

Tests compare the C backend with this module step by step, and
``train(..., backend="numpy")`` runs it. It is written to be read, not to be
fast: every definition mirrors csrc/ (the losses, the gradient scale, the
order of the update, the stopping rules), and the activations and losses
themselves come from gradfit._math, their one NumPy home. It works on whole
minibatches with matrix products: no Python loop over samples. (A NumPy loop
tuned for speed, the benchmarks' baseline, is gradfit/bench/baseline.py.)

The module-level functions (forward, backward, loss_value, loss_gradient)
state the algorithm; Reference trains a model with them. ACTIVATIONS,
DERIVATIVES and LOSSES are gradfit._math's tables (name -> function), and
OPTIMIZERS the optimizers it runs.

Reference.train, loss_and_grad and loss_only check their arguments (shapes,
dtypes, sizes; errors name the argument). gradfit.train, which has validated
everything already, may call the unchecked twins _train, _loss_and_grad and
_loss_only.
"""
import math

import numpy as np

from ._layout import layer_views
from ._math import ACTIVATIONS, DERIVATIVES, LOSSES, loss_gradient, loss_value, sample_losses
from ._validate import check_int, check_X, check_y

__all__ = ["ACTIVATIONS", "DERIVATIVES", "LOSSES", "OPTIMIZERS", "Reference", "backward", "closed_form_linear",
           "forward", "grad_norm", "l2_penalty", "loss_gradient", "loss_value", "sample_losses"]

STATUS_OK, STATUS_DIVERGED, STATUS_CONVERGED, STATUS_MAX_STEPS, STATUS_PAUSED = 0, 2, 3, 4, 6
OPTIMIZERS = ("sgd", "adam", "adamw")


def grad_norm(grad):
    """Euclidean norm of a flat gradient, accumulated in float64."""
    return float(np.sqrt(np.sum(np.square(grad, dtype=np.float64))))


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
        self.acts = list(model.activations)
        self.dtype = model.params.dtype
        self.grad = np.empty_like(model.params)
        # What a divergence rolls back to: params, optimizer state and step
        # count before the last update (the C core keeps them in its workspace).
        self.prev = model.params.copy()
        self.prev_state = np.empty(0, self.dtype)
        self.prev_t = 0
        # Per-layer views into model.params (a fixed buffer: assigning
        # model.params copies into it) and into self.grad.
        self._weights, self._biases = layer_views(model.params, model.layer_sizes)
        self._gw, self._gb = layer_views(self.grad, model.layer_sizes)

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
            value += self._l2(l2)
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
        X, y, sw, idx, counts, epoch_lr = _check_data_and_plan(
            self.model, self.dtype, X, y, sw, idx, n_epochs, start_batch, batch, epoch_lr, max_steps, max_batches)
        n_epochs, start_batch, batch, max_steps, max_batches = counts
        state, step_count, sums, hyper = _check_optimizer(
            self.model, self.dtype, n_epochs, grad_tol, state, step_count,
            (epoch_loss, epoch_penalty, epoch_weight, epoch_seen), optimizer=optimizer, momentum=momentum,
            nesterov=nesterov, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, l2=l2)
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

    # -- unchecked entry points -------------------------------------------
    def _loss_and_grad(self, X, y, sw=None):
        """(loss, grad) over X (n, IN), y (n, OUT), valid and of the model's dtype."""
        return self._batch_loss_and_grad(X, y, sw)[0], self.grad

    def _batch_loss_and_grad(self, X, y, sw=None):
        """(the data loss, the batch's weight sum); the gradient goes into
        self.grad. A batch whose weights sum to 0 has loss 0 and no gradient
        (sse excepted: its loss is a sum, not a mean)."""
        if sw is None:
            W = float(X.shape[0])
        else:
            W = float(np.sum(sw, dtype=np.float64))
            if not W > 0 and self.loss != "sse":
                self.grad.fill(0)
                return 0.0, W
        cache = forward(self._weights, self._biases, self.acts, X)
        pred = cache[-1][1]
        value = loss_value(pred, y, self.loss, sw, self.huber_delta)
        dpred = loss_gradient(pred, y, self.loss, sw, self.huber_delta)
        backward(self._weights, self.acts, X, cache, dpred, self._gw, self._gb)
        return value, W

    def _l2(self, l2):
        """The L2 penalty at the current params; self.grad's weight entries += l2 * W."""
        lam = self.dtype.type(l2)
        for W, gw in zip(self._weights, self._gw):
            gw += lam * W
        return l2_penalty(self._weights, l2)

    def _loss_only(self, X, y, sw=None):
        with np.errstate(over="ignore", invalid="ignore"):
            pred = forward(self._weights, self._biases, self.acts, X)[-1][1]
            return loss_value(pred, y, self.loss, sw, self.huber_delta)

    def _train(self, *args, **kwargs):
        """train() without the checks. Overflow is detected by the loss check,
        as in C, so NumPy's warnings are off."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._train_loop(*args, **kwargs)

    def _train_loop(self, X, y, sw, idx, n_epochs, start_batch, batch, epoch_lr, max_steps, max_batches,
                    grad_tol, state, step_count, epoch_loss, epoch_penalty, epoch_weight, epoch_seen, *,
                    optimizer="sgd", momentum=0.0, nesterov=False, beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=0.0, l2=0.0):
        """The epochs and their minibatches, as csrc/ runs them: the stopping
        rules are checked before each step, a non-finite loss rolls the last
        update back, and the step is taken after the loss is added to the
        epoch's sums."""
        hyper = (optimizer, momentum, nesterov, beta1, beta2, eps, weight_decay)
        uses_state = optimizer != "sgd" or momentum != 0
        N = X.shape[0]
        n_batches = -(-N // batch)
        check_grad = batch >= N and grad_tol > 0
        t = int(step_count[0])
        steps, gnorm, status = 0, -1.0, STATUS_OK
        e, b = 0, start_batch
        while e < n_epochs and status == STATUS_OK:
            order = idx[e * N:(e + 1) * N] if idx.size else None
            while b < n_batches:
                if 0 <= max_steps <= steps:
                    status = STATUS_MAX_STEPS
                    break
                if 0 <= max_batches <= steps:
                    status = STATUS_PAUSED
                    break
                rows = slice(b * batch, (b + 1) * batch)
                if order is not None:
                    rows = order[rows]
                value, W = self._batch_loss_and_grad(X[rows], y[rows], sw[rows] if sw.size else None)
                pen = self._l2(l2) if l2 > 0 else 0.0
                if not (math.isfinite(value) and math.isfinite(pen)):
                    self._roll_back(state, uses_state)
                    t = self.prev_t
                    status = STATUS_DIVERGED
                    break
                n = min(batch, N - b * batch)
                wgt = float(n) if self.loss == "sse" else W
                epoch_loss[e] += wgt * value
                epoch_penalty[e] += wgt * pen
                epoch_weight[e] += wgt
                epoch_seen[e] += n
                if check_grad:
                    gnorm = grad_norm(self.grad)
                    if gnorm < grad_tol:
                        status = STATUS_CONVERGED
                        break
                self.prev_t = t
                t += 1
                self._step(float(epoch_lr[e]), t, state, *hyper)
                steps += 1
                b += 1
            if status == STATUS_OK:
                e, b = e + 1, 0
        step_count[0] = t
        if status == STATUS_OK and 0 <= max_steps <= steps:
            status = STATUS_MAX_STEPS
        return status, steps, e, (b if e < n_epochs else 0), gnorm

    def _roll_back(self, state, uses_state):
        """params and the optimizer state := their values before the last update."""
        np.copyto(self.model.params, self.prev)
        if uses_state:
            np.copyto(state, self.prev_state)

    def _step(self, lr, t, state, optimizer, momentum, nesterov, beta1, beta2, eps, weight_decay):
        """prev := params and prev_state := state, then one update of
        model.params in place from self.grad; t is this update's step count
        (from 1)."""
        params, grad = self.model.params, self.grad
        dt = self.dtype.type
        lr = dt(lr)
        np.copyto(self.prev, params)
        if optimizer != "sgd" or momentum != 0:
            if self.prev_state.shape != state.shape:
                self.prev_state = np.empty_like(state)
            np.copyto(self.prev_state, state)
        if optimizer == "sgd":
            if momentum == 0:                       # p -= lr g
                params -= lr * grad
                return
            mu = dt(momentum)
            v = state
            v *= mu
            v += grad                               # v = mu v + g
            if nesterov:                            # p -= lr (g + mu v)
                params -= (v * mu + grad) * lr
            else:                                   # p -= lr v
                params -= v * lr
            return
        if optimizer == "adamw" and weight_decay != 0:
            lr_wd = dt(float(lr) * weight_decay)    # W -= lr wd W, weights only
            for W in self._weights:
                W -= lr_wd * W
        b1, b2 = dt(beta1), dt(beta2)
        P = params.size
        m, v = state[:P], state[P:]
        m *= b1
        m += (dt(1) - b1) * grad                    # m = b1 m + (1 - b1) g
        v *= b2
        v += (dt(1) - b2) * (grad * grad)           # v = b2 v + (1 - b2) g^2
        mhat = m / dt(1.0 - beta1 ** t)
        vhat = v / dt(1.0 - beta2 ** t)
        params -= lr * mhat / (np.sqrt(vhat) + dt(eps))


def _check_data_and_plan(m, dtype, X, y, sw, idx, n_epochs, start_batch, batch, epoch_lr, max_steps,
                         max_batches):
    """Reference.train's checks of the data and of what to visit; returns
    (X, y, sw, idx, (n_epochs, start_batch, batch, max_steps, max_batches), epoch_lr)."""
    X = _check_array(X, "X", dtype, (None, m.n_inputs), "(N, n_inputs)")
    N = X.shape[0]
    if N == 0:
        raise ValueError(f"X: expected at least one sample, got shape {X.shape}")
    y = _check_array(y, "y", dtype, (N, m.n_outputs), f"({N}, {m.n_outputs}) to match X")
    sw = _check_array(sw, "sw", dtype, (None,), f"(0,) or ({N},)")
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
    return X, y, sw, idx, (n_epochs, start_batch, batch, max_steps, max_batches), epoch_lr


def _check_optimizer(m, dtype, n_epochs, grad_tol, state, step_count, sums, *, optimizer, momentum, nesterov,
                     beta1, beta2, eps, weight_decay, l2):
    """Reference.train's checks of the optimizer, its state and the epoch sums; returns
    (state, step_count, sums, hyper), hyper: the keyword arguments of _train."""
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
    state = _check_array(state, "state", dtype, (None,), f"({S},)", writable=True)
    if state.size not in ((S,) if uses_state else (0, S)):
        raise ValueError(f"state: expected {S} entries, got {state.size}")
    step_count = _check_array(step_count, "step_count", np.int64, (1,), "(1,)", writable=True)
    if step_count[0] < 0:
        raise ValueError(f"step_count: expected a count >= 0, got {int(step_count[0])}")
    checked = []
    for name, a, kind in zip(("epoch_loss", "epoch_penalty", "epoch_weight", "epoch_seen"), sums,
                             (np.float64, np.float64, np.float64, np.int64)):
        a = _check_array(a, name, kind, (None,), "(>= n_epochs,)", writable=True)
        if a.size < n_epochs:
            raise ValueError(f"{name}: expected at least n_epochs = {n_epochs} entries, got {a.size}")
        checked.append(a)
    hyper = dict(optimizer=optimizer, momentum=float(momentum), nesterov=bool(nesterov), beta1=float(beta1),
                 beta2=float(beta2), eps=float(eps), weight_decay=float(weight_decay), l2=float(l2))
    return state, step_count, checked, hyper


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
