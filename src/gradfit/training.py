"""train(): the epoch loop, stopping rules and history around the C core.

Python decides how many epochs each C call runs (many for small data, one for
large data or when a per-epoch check is needed), draws each epoch's shuffle
order, and collects per-epoch numbers. The minibatch loop itself runs in C
with the GIL released (or in gradfit.reference for backend="numpy").
"""
import time
import warnings

import numpy as np

from . import _core, reference
from ._names import BACKENDS, LOSSES, OPTIMIZERS, lookup
from ._validate import check_int, check_positive, check_X, check_y
from .model import CHUNK_ROWS, MLP
from .result import TrainResult

# How much one C call may do when several epochs fit in one: at most this
# many samples, and at most this many sample x parameter multiply-adds (about
# 0.1 s), so that Ctrl-C and later per-call reporting stay responsive.
SAMPLES_PER_CALL = 1 << 20
WORK_PER_CALL = 1 << 28


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the loss became NaN or inf."""


def train(model, X, y, *, loss="mse", optimizer="sgd", lr=0.01, batch_size=32, epochs=1,
          shuffle=True, seed=None, max_steps=None, grad_tol=None, backend="c"):
    """Trains `model` in place by minibatch gradient descent; returns a TrainResult.

    Each step computes the loss and every gradient at the current parameters,
    then updates all parameters together: p -= lr * dloss/dp.

    loss        "mse" (mean over samples and outputs of (pred - y)^2) or "sse" (sum)
    batch_size  rows per step; the last, shorter batch is used; None (or >= N)
                is full-batch gradient descent
    epochs      passes over the data; None means no limit (needs max_steps)
    shuffle     visit the rows in the order rng.permutation(N) each epoch, with
                rng = numpy.random.default_rng(seed)
                (full-batch steps do not depend on order and are not shuffled)
    max_steps   stop after this many updates
    grad_tol    stop when the full-batch gradient norm falls below grad_tol;
                checked every step in full-batch mode, after each epoch otherwise
    backend     "c" (the compiled core) or "numpy" (gradfit.reference)
    """
    if not isinstance(model, MLP):
        raise TypeError(f"model: expected a gradfit.MLP, got {type(model).__name__}")
    loss = lookup(LOSSES, loss, "loss")
    optimizer = lookup(OPTIMIZERS, optimizer, "optimizer")
    backend = lookup(dict.fromkeys(BACKENDS), backend, "backend")
    lr = check_positive(lr, "lr")
    batch_size = check_int(batch_size, "batch_size", 1, allow_none=True)
    epochs = check_int(epochs, "epochs", 0, allow_none=True)
    max_steps = check_int(max_steps, "max_steps", 0, allow_none=True)
    grad_tol = check_positive(grad_tol, "grad_tol", allow_none=True)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle: expected True or False, got {type(shuffle).__name__} {shuffle!r}")
    if epochs is None and max_steps is None:
        raise ValueError("epochs: None (no epoch limit) needs max_steps to bound the run, got max_steps=None")
    if seed is not None and not isinstance(seed, np.random.Generator):
        check_int(seed, "seed", 0)
    X = check_X(X, model.n_inputs, model.dtype)
    y = check_y(y, X.shape[0], model.n_outputs, model.dtype)

    N = X.shape[0]
    batch = N if batch_size is None else min(batch_size, N)
    rng = np.random.default_rng(seed)
    runner = (_CRunner if backend == "c" else _NumpyRunner)(model, loss, optimizer, lr, batch, X, y)

    initial = snapshot = model.params.copy()
    history, steps, epochs_done, seen = [], 0, 0, 0
    grad_norm, stop_reason = None, "epochs"
    full_batch = batch == N
    # Per-epoch grad_tol checks need control back after every epoch.
    per_call = 1 if (grad_tol and not full_batch) else max(
        1, min(SAMPLES_PER_CALL // N, WORK_PER_CALL // (N * model.n_params)))
    orders = _EpochOrders(N, per_call, rng) if shuffle and not full_batch else None
    start = time.perf_counter()
    while epochs is None or epochs_done < epochs:
        k = per_call if epochs is None else min(per_call, epochs - epochs_done)
        idx = orders.draw(k) if orders else _NO_INDEX
        budget = -1 if max_steps is None else max_steps - steps
        snapshot = model.params.copy()        # a fallback if this chunk diverges
        status, s, e, gnorm, ep_loss, ep_seen = runner.run(idx, k, budget, grad_tol or 0.0)
        steps += s
        epochs_done += e
        seen += int(ep_seen[:e].sum())
        history.extend((ep_loss[:e] / ep_seen[:e]).tolist())
        if gnorm >= 0:
            grad_norm = gnorm
        if status == _core.STATUS_CONVERGED:
            stop_reason = "grad_tol"
            break
        if status == _core.STATUS_MAX_STEPS:
            stop_reason = "max_steps"
            break
        if status == _core.STATUS_DIVERGED:
            stop_reason = "diverged"
            break
        if grad_tol and not full_batch:
            grad_norm = runner.full_grad_norm()
            if grad_norm < grad_tol:
                stop_reason = "grad_tol"
                break
    seconds = time.perf_counter() - start

    final_loss = runner.full_loss() if stop_reason != "diverged" else float("nan")
    if stop_reason != "diverged" and steps > 0 and not (np.isfinite(model.params).all()
                                                        and np.isfinite(final_loss)):
        stop_reason = "diverged"      # the last update overflowed
    if stop_reason == "diverged":
        final_loss, restored = _restore_finite(model, runner, snapshot, initial)
        warnings.warn(
            f"training diverged after {steps} step(s): the loss became NaN or inf. The parameters were "
            f"restored to {restored}, whose loss over the data is {final_loss:.6g}; try a smaller lr "
            f"(got {lr:g}).",
            DivergenceWarning,
            stacklevel=2,
        )
    return TrainResult(
        history={"loss": history}, steps=steps, epochs=epochs_done, seconds=seconds,
        samples_per_second=seen / seconds if seconds > 0 else float("inf"),
        stop_reason=stop_reason, final_loss=final_loss, grad_norm=grad_norm, loss=loss,
        backend=backend, n_samples=N, batch_size=batch, lr=lr,
    )


_NO_INDEX = np.empty(0, dtype=np.int64)


class _EpochOrders:
    """Each epoch's visiting order, rng.permutation(N), drawn into reused
    buffers (0..N-1 copied in, then shuffled in place: the same numbers as
    rng.permutation, without a fresh allocation per epoch). One buffer holds
    up to `per_call` epochs."""

    def __init__(self, N, per_call, rng):
        self.N, self.rng = N, rng
        self.identity = np.arange(N, dtype=np.int64)
        self.buffer = np.empty(N * per_call, dtype=np.int64)

    def draw(self, k):
        for e in range(k):
            order = self.buffer[e * self.N:(e + 1) * self.N]
            np.copyto(order, self.identity)
            self.rng.shuffle(order)
        return self.buffer[:k * self.N]


def _restore_finite(model, runner, snapshot, initial):
    """After a divergence: the latest parameters whose loss over all the data
    is finite. The values before the last update had a finite minibatch loss,
    but the whole data can still overflow there; then fall back to the start of
    the last C call, then to the start of training. Returns (loss, description)."""
    runner.restore_previous()
    candidates = (("the values before the last update", None),
                  ("the values at the start of the last epoch(s)", snapshot),
                  ("the values training started from", initial))
    for description, values in candidates:
        if values is not None:
            model.params[...] = values
        loss = runner.full_loss()
        if np.isfinite(loss) and np.isfinite(model.params).all():
            break
    return loss, description


class _CRunner:
    """Buffers for the C core and one call per chunk of epochs."""

    def __init__(self, model, loss, optimizer, lr, batch, X, y):
        self.model, self.loss, self.lr, self.batch, self.X, self.y = model, loss, lr, batch, X, y
        self.loss_id, self.optim_id = LOSSES[loss], OPTIMIZERS[optimizer]
        self.chunk = min(batch, CHUNK_ROWS)
        self.ws = model._workspace(self.chunk)
        self.ws[:model.n_params] = model.params      # "prev params" lives at offset 0
        self.grad = np.empty_like(model.params)
        self.state = np.empty(0, dtype=model.dtype)

    def run(self, idx, n_epochs, max_steps, grad_tol):
        ep_loss = np.zeros(n_epochs)
        ep_seen = np.zeros(n_epochs, dtype=np.int64)
        m = self.model
        status, steps, epochs, gnorm = _core.train(
            m._sizes, m._acts, self.loss_id, self.optim_id, self.lr, self.batch, self.chunk,
            max_steps, grad_tol, m.params, self.grad, self.state, self.ws, self.X, self.y,
            idx, n_epochs, ep_loss, ep_seen)
        return status, steps, epochs, gnorm, ep_loss, ep_seen

    def full_grad_norm(self):
        _, grad = self.model._loss_and_grad(self.X, self.y, self.loss)
        return reference.grad_norm(grad)

    def full_loss(self):
        return self.model._loss_and_grad(self.X, self.y, self.loss)[0]

    def restore_previous(self):
        self.model.params[...] = self.ws[:self.model.n_params]


class _NumpyRunner:
    """The same contract on gradfit.reference."""

    def __init__(self, model, loss, optimizer, lr, batch, X, y):
        self.ref = reference.Reference(model, loss)
        self.model, self.lr, self.batch, self.X, self.y = model, lr, batch, X, y

    def run(self, idx, n_epochs, max_steps, grad_tol):
        ep_loss = np.zeros(n_epochs)
        ep_seen = np.zeros(n_epochs, dtype=np.int64)
        status, steps, epochs, gnorm = self.ref.train(
            self.X, self.y, idx, n_epochs, self.batch, self.lr, max_steps, grad_tol, ep_loss, ep_seen)
        return status, steps, epochs, gnorm, ep_loss, ep_seen

    def full_grad_norm(self):
        _, grad = self.ref.loss_and_grad(self.X, self.y)
        return reference.grad_norm(grad)

    def full_loss(self):
        return self.ref.loss_only(self.X, self.y)

    def restore_previous(self):
        self.model.params[...] = self.ref.prev
