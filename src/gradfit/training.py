"""train(): the epoch loop, stopping rules and history around the C core.

Python decides how many epochs each C call runs (many for small data, one for
large data or when a per-epoch check is needed), draws each epoch's shuffle
order, and collects per-epoch numbers. The minibatch loop itself runs in C
with the GIL released (or in gradfit.reference for backend="numpy").
"""
import math
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
    """Training stopped because the loss became NaN or inf.

    The model is left at the best parameters seen among the values before the
    last update, the start of the epoch in which the loss overflowed and the
    values the call started from (by their loss over all the data); the
    warning and ``TrainResult.restored`` say which."""


def train(model, X, y, *, loss="mse", optimizer="sgd", lr=0.01, batch_size=32, epochs=1,
          shuffle=True, seed=None, max_steps=None, grad_tol=None, backend="c"):
    """Train `model` in place by minibatch gradient descent.

    Each step computes the loss and every gradient at the current parameters,
    then updates all parameters together: ``p -= lr * dloss/dp``.

    Parameters
    ----------
    model : MLP
        The network to train; its parameters are updated in place.
    X : array_like of shape (n_samples, n_inputs)
        Finite input rows (converted to the model's dtype; a pandas DataFrame
        works if every column is numeric).
    y : array_like of shape (n_samples, n_outputs), or (n_samples,) for one output
        Finite targets.
    loss : {"mse", "sse"}, default "mse"
        "mse": mean over samples and outputs of (pred - y)**2, no 1/2 factor;
        "sse": the sum.
    optimizer : {"sgd"}, default "sgd"
        The update rule; plain gradient descent.
    lr : float, default 0.01
        Learning rate (step size), a positive finite number: each step moves
        every parameter by ``lr * gradient``.
    batch_size : int or None, default 32
        Rows per step. The last, shorter batch of an epoch is used. None (or
        a value >= n_samples) is full-batch gradient descent.
    epochs : int or None, default 1
        Passes over the data. None means no epoch limit (then max_steps is
        required).
    shuffle : bool, default True
        Visit the rows in the order ``rng.permutation(n_samples)`` each epoch,
        with ``rng = numpy.random.default_rng(seed)``. Full-batch steps do not
        depend on the order and are not shuffled.
    seed : int, numpy.random.Generator or None
        Seed of the shuffles. An int (or None for fresh entropy) starts a new
        generator on every call, so calling train() again with the same int
        repeats the same orders; a Generator is used and advanced, so a second
        call continues its stream (exactly one permutation is drawn per epoch
        begun, whatever the internal chunking).
    max_steps : int or None
        Stop after this many updates in this call.
    grad_tol : float or None
        Stop when the norm of the full-batch gradient falls below grad_tol.
        In full-batch mode it is checked at every step for free; with
        minibatches it is checked after every epoch, at the cost of one extra
        forward and backward pass over all the data per epoch.
    backend : {"c", "numpy"}, default "c"
        "c": the compiled core. "numpy": ``gradfit.reference``, the same
        algorithm in NumPy (the correctness oracle and benchmark baseline).

    Returns
    -------
    TrainResult
        ``history["loss"]`` (one value per epoch: the mean of its minibatch
        losses, each measured before its update, weighted by batch size),
        ``final_loss`` (the loss over all of X, y at the returned parameters,
        by one forward pass over the data: about a third of the cost of an
        epoch), ``steps``, ``epochs``, ``stop_reason`` ("epochs",
        "max_steps", "grad_tol" or "diverged"), ``grad_norm``, ``restored``,
        ``seconds`` and ``samples_per_second`` (the whole call, as a
        stopwatch around it sees it).

    Raises
    ------
    TypeError, ValueError
        For bad arguments, before any training; the model is unchanged.
        A ValueError also if the model's parameters hold NaN or inf.
    RuntimeError
        If the same model is already being trained in another thread.

    Warns
    -----
    DivergenceWarning
        If the loss became NaN or inf; see ``TrainResult.restored``.

    Notes
    -----
    Calling train() again continues from the model's current parameters.
    The optimizer has no state, so two calls of k epochs equal one call of
    2k epochs when the same Generator is passed as seed.

    Examples
    --------
    >>> import numpy as np, gradfit as gf
    >>> model = gf.MLP([1, 1], weights=[[[1.0]]], biases=[[0.0]])
    >>> r = gf.train(model, np.array([[2.1]]), np.array([4.0]), lr=0.01, batch_size=1)
    >>> round(model.loss([[2.1]], [4.0]), 10)
    2.8710591364
    """
    start_time = time.perf_counter()
    if not isinstance(model, MLP):
        raise TypeError(f"model: expected a gradfit.MLP, got {type(model).__name__}")
    # the names this train() wires up so far (the C core knows more: _names)
    loss = lookup({k: LOSSES[k] for k in ("mse", "sse")}, loss, "loss")
    optimizer = lookup({"sgd": OPTIMIZERS["sgd"]}, optimizer, "optimizer")
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
    if not model._lock.acquire(blocking=False):
        raise RuntimeError("model: already being trained (in another thread); train a copy "
                           "(model.copy()) or wait for the other call to return")
    try:
        model._check_params_finite()
        return _train(model, X, y, loss, optimizer, lr, batch_size, epochs, bool(shuffle), seed,
                      max_steps, grad_tol, backend, start_time)
    finally:
        model._lock.release()


def _train(model, X, y, loss, optimizer, lr, batch_size, epochs, shuffle, seed, max_steps, grad_tol,
           backend, start_time):
    N = X.shape[0]
    batch = N if batch_size is None else min(batch_size, N)
    steps_per_epoch = -(-N // batch)
    rng = np.random.default_rng(seed)
    runner = (_CRunner if backend == "c" else _NumpyRunner)(model, loss, optimizer, lr, batch, X, y)

    # The epochs this call can reach: the epoch limit, or enough to use up max_steps.
    reachable = epochs if max_steps is None else -(-max_steps // steps_per_epoch)
    if epochs is not None:
        reachable = min(reachable, epochs)
    full_batch = batch == N
    # Per-epoch grad_tol checks need control back after every epoch.
    per_call = 1 if (grad_tol and not full_batch) else max(
        1, min(SAMPLES_PER_CALL // N, WORK_PER_CALL // (N * model.n_params)))
    per_call = max(1, min(per_call, reachable))
    orders = _EpochOrders(N, per_call, rng) if shuffle and not full_batch else None

    initial = model.params.copy()
    history, steps, epochs_done, seen = [], 0, 0, 0
    grad_norm, stop_reason = None, "epochs"
    chunk = None                  # (params at its start, its orders, steps before it)
    while epochs_done < reachable:
        k = min(per_call, reachable - epochs_done)
        rng_state = orders.state() if orders else None
        idx = orders.draw(k) if orders else _NO_INDEX
        budget = -1 if max_steps is None else max_steps - steps
        chunk = (model.params.copy(), idx, steps, rng_state)
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
            # one order is drawn per epoch begun: give back those of the
            # epochs after the one that diverged
            if orders:
                orders.rewind(rng_state, s // steps_per_epoch + 1)
            break
        if grad_tol and not full_batch:
            grad_norm = runner.full_grad_norm()
            if grad_norm < grad_tol:
                stop_reason = "grad_tol"
                break
    if stop_reason == "epochs" and max_steps is not None and steps >= max_steps:
        stop_reason = "max_steps"     # as the C core reports it when both limits meet

    restored = None
    final_loss = model._loss(X, y, loss) if stop_reason != "diverged" else float("nan")
    if stop_reason != "diverged" and steps > 0 and not (np.isfinite(model.params).all()
                                                        and np.isfinite(final_loss)):
        stop_reason = "diverged"      # the last update overflowed
    if stop_reason == "diverged":
        final_loss, restored = _restore_best(model, runner, X, y, loss, chunk, initial, steps_per_epoch)
        warnings.warn(
            f"training diverged after {steps} step(s): the loss became NaN or inf. The parameters were "
            f"restored to {restored}, whose loss over the data is {final_loss:.6g}; try a smaller lr "
            f"(got {lr:g}).",
            DivergenceWarning,
            stacklevel=3,
        )
    seconds = time.perf_counter() - start_time
    return TrainResult(
        history={"loss": history}, steps=steps, epochs=epochs_done, seconds=seconds,
        samples_per_second=seen / seconds if seconds > 0 else float("inf"),
        stop_reason=stop_reason, final_loss=final_loss, grad_norm=grad_norm, loss_name=loss,
        backend=backend, n_samples=X.shape[0], batch_size=batch, lr=lr, restored=restored,
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

    def state(self):
        return self.rng.bit_generator.state

    def rewind(self, state, k):
        """Puts the generator back to `state`, then draws k orders: as if only
        k had been drawn since."""
        self.rng.bit_generator.state = state
        self.draw(k)


def _restore_best(model, runner, X, y, loss, chunk, initial, steps_per_epoch):
    """After a divergence: the candidate parameters with the lowest loss over
    all the data. The candidates are the values before the last update (the
    last step whose minibatch loss was finite), the start of the epoch in
    which the loss overflowed (replayed from the start of the last C call:
    deterministic, and paid only here), and the values the call started from.
    Returns (loss, description)."""
    candidates = [("the values before the last update", runner.previous())]
    if chunk is not None:
        params0, idx, steps_before, _ = chunk
        # updates made in the last C call before its diverging step
        done = runner.last_steps
        local_epoch = done // steps_per_epoch
        model.params[...] = params0
        if local_epoch > 0:
            runner.replay(idx[:local_epoch * X.shape[0]] if idx.size else idx, local_epoch)
        epoch = (steps_before + done) // steps_per_epoch
        if not np.array_equal(model.params, initial):
            candidates.append((f"the start of epoch {epoch + 1}", model.params.copy()))
    candidates.append(("the values the call started from", initial))
    best = None
    for description, values in candidates:
        if not np.isfinite(values).all():
            continue
        model.params[...] = values
        value = model._loss(X, y, loss)
        if np.isfinite(value) and (best is None or value < best[0]):
            best = (value, description, values)
    if best is None:    # cannot happen: train() starts from finite params with a finite loss
        best = (float("nan"), "the values the call started from", initial)
    model.params[...] = best[2]
    return best[0], best[1]


class _CRunner:
    """Buffers for the C core and one call per chunk of epochs."""

    def __init__(self, model, loss, optimizer, lr, batch, X, y):
        self.model, self.loss, self.lr, self.batch, self.X, self.y = model, loss, lr, batch, X, y
        self.loss_id, self.optim_id = LOSSES[loss], OPTIMIZERS[optimizer]
        self.chunk = min(batch, CHUNK_ROWS)
        self.ws = np.empty(_core.workspace_len(model._sizes, model._acts, self.chunk, self.optim_id),
                           dtype=model.dtype)
        self.grad = np.empty_like(model.params)
        self.state = np.empty(0, dtype=model.dtype)
        self.step_count = np.zeros(1, dtype=np.int64)
        self.sw = np.empty(0, dtype=model.dtype)
        self._reset_prev()
        self.last_steps = 0

    def _reset_prev(self):
        m = self.model
        _core.reset_prev(m._sizes, m._acts, self.chunk, self.optim_id, m.params, self.state,
                         self.step_count, self.ws)

    def run(self, idx, n_epochs, max_steps, grad_tol):
        ep_loss = np.zeros(n_epochs)
        ep_seen = np.zeros(n_epochs, dtype=np.int64)
        ep_pen, ep_weight = np.zeros(n_epochs), np.zeros(n_epochs)
        m = self.model
        status, steps, _, _, gnorm = _core.train(
            m._sizes, m._acts, self.loss_id, self.optim_id, self.batch, self.chunk,
            max_steps, grad_tol, -1, m.params, self.grad, self.state, self.ws, self.X, self.y,
            self.sw, idx, n_epochs, 0, np.full(n_epochs, self.lr), self.step_count,
            ep_loss, ep_pen, ep_weight, ep_seen)
        self.last_steps = steps
        epochs = int(np.count_nonzero(ep_seen))      # epochs begun
        return status, steps, epochs, gnorm, ep_loss, ep_seen

    def replay(self, idx, n_epochs):
        """Re-runs n_epochs complete epochs from the current params (after a
        divergence, to rebuild the start of the epoch that diverged)."""
        self._reset_prev()
        saved = self.last_steps
        self.run(idx, n_epochs, -1, 0.0)
        self.last_steps = saved

    def full_grad_norm(self):
        _, grad = self.model._loss_and_grad(self.X, self.y, self.loss)
        return reference.grad_norm(grad)

    def previous(self):
        return self.ws[:self.model.n_params].copy()      # the workspace starts with the prev params


class _NumpyRunner:
    """The same contract on gradfit.reference."""

    def __init__(self, model, loss, optimizer, lr, batch, X, y):
        self.ref = reference.Reference(model, loss)
        self.model, self.lr, self.batch, self.X, self.y = model, lr, batch, X, y
        self.sw, self.state = np.empty(0, model.dtype), np.empty(0, model.dtype)
        self.step_count = np.zeros(1, dtype=np.int64)
        self.last_steps = 0

    def run(self, idx, n_epochs, max_steps, grad_tol):
        ep_loss = np.zeros(n_epochs)
        ep_seen = np.zeros(n_epochs, dtype=np.int64)
        ep_pen, ep_weight = np.zeros(n_epochs), np.zeros(n_epochs)
        status, steps, _, _, gnorm = self.ref._train(
            self.X, self.y, self.sw, idx, n_epochs, 0, self.batch, np.full(n_epochs, float(self.lr)),
            max_steps, -1, grad_tol, self.state, self.step_count, ep_loss, ep_pen, ep_weight, ep_seen)
        self.last_steps = steps
        epochs = int(np.count_nonzero(ep_seen))      # epochs begun
        return status, steps, epochs, gnorm, ep_loss, ep_seen

    def replay(self, idx, n_epochs):
        self.ref.reset_prev(self.state, self.step_count)
        saved = self.last_steps
        self.run(idx, n_epochs, -1, 0.0)
        self.last_steps = saved

    def full_grad_norm(self):
        _, grad = self.ref._loss_and_grad(self.X, self.y)
        return reference.grad_norm(grad)

    def previous(self):
        return self.ref.prev.copy()
