"""A fused set of plain jobs trained as one run: train_many's jobs that
share their data and options except the learning rate, and ask for nothing
but plain SGD for a number of epochs, are trained by one C call over their
parameters stacked in rows (gradfit._core.train_fused_stack), and their
results are built from the set's arrays, with no Trainer, Run or Session
per job.

A job whose run did not end plainly (a divergence, a loss or parameters
not finite, a final loss that cannot be proven finite without computing it,
Ctrl-C) is handed back with the C call's answer, and gradfit._fused
concludes it with the general machinery (gradfit._loop's Run), exactly as
gradfit.train would: the set only takes the common case's bookkeeping. The
C call is the one gradfit._fused would make for the same jobs
(gf_train_fused, the same settings), so every model's parameters, history
and stop reason are those of training it alone.
"""
from __future__ import annotations

import functools
import threading
import time

import numpy as np

from . import _core, _loop
from ._epoch_orders import EpochOrders
from ._layout import layer_views
from ._math import loss_surely_finite, stack_surely_finite
from ._names import LOSSES
from ._runners import NO_INDEX
from ._targets import check_targets
from ._validate import check_positive, check_X
from .result import TrainResult
from .trainer import Trainer

__all__ = ["Adopt", "plain_job", "train_set"]

# The options a plain job may give: nothing that needs per-epoch work in Python (callbacks, validation,
# schedules, early stopping, checkpoints, limits) or per-model state in C (momentum, Adam, weights, L2).
_PLAIN = frozenset({"lr", "epochs", "seed", "batch_size", "loss", "optimizer", "shuffle"})


def plain_job(job) -> bool:
    """Whether `job` (gradfit.many's _Job, one with a fused_key) may train in a set."""
    o = job.options
    if not _PLAIN.issuperset(o):
        return False
    epochs = o.get("epochs")
    if type(epochs) is not int or epochs < 1:
        return False
    opt = o.get("optimizer", "sgd")
    return isinstance(opt, str) and opt.lower() == "sgd" and o.get("shuffle") in (None, True, False)


class Adopt:
    """A job of the set to be concluded by the general machinery: its
    position in train_many's fused jobs, its parameters before (`initial`)
    and after the C call, the call's answer (status, steps, epochs, next
    batch, grad norm), epoch sums and step count, whether Ctrl-C came
    during the call, and the call's epoch lrs and max_batches."""

    __slots__ = ("pos", "initial", "params", "answer", "sums", "count", "interrupted", "lrs", "max_batches")

    def __init__(self, pos, initial, params, answer, sums, count, interrupted, lrs, max_batches):
        self.pos, self.initial, self.params, self.answer = pos, initial, params, answer
        self.sums, self.count, self.interrupted = sums, count, interrupted
        self.lrs, self.max_batches = lrs, max_batches


def _plan(t0, model, N, epochs):
    """(batch, steps per epoch, max_batches) of gradfit._array_run for this
    run, or None when it would not be one C call over every epoch."""
    batch = N if t0.batch_size is None else min(t0.batch_size, N)
    spe = max(1, -(-N // batch))
    work = _loop.WORK_PER_CALL          # (n_threads 1: a plain job does not set it)
    per_call = max(1, min(_loop.SAMPLES_PER_CALL // N, work // (N * model.n_params)))
    max_batches = max(1, work // max(1, batch * model.n_params))
    if per_call < epochs or max_batches < epochs * spe:
        return None
    return batch, spe, max_batches


def _admit(group, t0):
    """The jobs of `group` that train in the set, each model locked, with
    their learning rates; the others (their own errors then come from the
    general path) in `left`. Returns (jobs, models, lrs, left)."""
    jobs, models, lrs, left = [], [], [], []
    default_lr = t0.optimizer.lr
    for pos, job in group:
        lr = job.options.get("lr")
        try:
            lr = default_lr if lr is None else check_positive(lr, "lr")
        except (TypeError, ValueError):
            left.append(pos)
            continue
        m = job.model
        if not m._lock.acquire(blocking=False):
            left.append(pos)
            continue
        m._trained_by = threading.get_ident()
        jobs.append((pos, job))
        models.append(m)
        lrs.append(lr)
    return jobs, models, lrs, left


def _unlock(models):
    for m in models:
        m._trained_by = None
        m._lock.release()


def train_set(group, shared, n_threads):
    """Trains `group` ((position, job) pairs sharing a fused_key, each
    plain_job) as one set. Returns (results, adopt, left): results
    {position: TrainResult} (fused_with not set), adopt a list of Adopt, left
    the positions not trained here."""
    start = time.perf_counter()
    job0 = group[0][1]
    model0 = job0.model
    X, y = shared.get(job0.X, model0.dtype, "X"), shared.get(job0.y, model0.dtype, "y")
    try:
        t0 = Trainer(model0, **{k: v for k, v in job0.options.items() if k not in ("lr", "epochs")})
        X = check_X(X, model0.n_inputs, model0.dtype)
        y = check_targets(y, X.shape[0], model0, t0.loss)
    except (TypeError, ValueError):
        return {}, [], [p for p, _ in group]
    N, epochs = X.shape[0], job0.options["epochs"]
    plan = _plan(t0, model0, N, epochs)
    if plan is None or t0.n_threads != 1:
        return {}, [], [p for p, _ in group]
    jobs, models, lrs, left = _admit(group, t0)
    try:
        initial = np.stack([m.params for m in models]) if models else None
        finite = np.isfinite(initial).all(axis=1) if models else None
        if len(jobs) < 2 or not finite.all():
            return {}, [], sorted(left + [p for p, _ in jobs])
        ran = _run(t0, model0, X, y, initial, lrs, epochs, plan, n_threads)
        results, adopt = _conclude(t0, model0, X, y, jobs, models, lrs, initial, ran, plan, start)
    finally:
        _unlock(models)
    return results, adopt, left


def _run(t0, model0, X, y, initial, lrs, epochs, plan, n_threads):
    """The C call (split in n_threads parts): (params after, status, steps,
    epochs done, next batch, sums, epoch lrs, interrupted)."""
    batch, _spe, max_batches = plan
    K, N = len(initial), X.shape[0]
    orders = None
    idx = NO_INDEX
    if t0.shuffle and batch < N:
        orders = EpochOrders(N, epochs, t0.rng, t0.shuffle, t0.chunk_rows, t0.window_chunks)
        idx = orders.draw(epochs)
    lr_rows = np.array([[t0.schedule.lr(e, lr) for e in range(epochs)] for lr in lrs], dtype=np.float64)
    params = initial.copy()
    sums = (np.zeros((K, epochs)), np.zeros((K, epochs)), np.zeros((K, epochs)), np.zeros((K, epochs), np.int64))
    count = np.zeros(K, dtype=np.int64)
    net, hyper = model0._net, t0._hyper()
    args = (net.sizes, net.acts, LOSSES[t0.loss], batch, net.rows(batch), max_batches, X, y, idx, epochs)
    parts = [(a * K // n_threads, (a + 1) * K // n_threads) for a in range(min(n_threads, K))]
    answers = [None] * len(parts)

    def part(p):
        a, b = parts[p]
        answers[p] = _core.train_fused_stack(*args, params[a:b], lr_rows[a:b], *(s[a:b] for s in sums),
                                             count[a:b], hyper)

    caught = _Flag()
    try:
        if len(parts) == 1:
            part(0)
        else:
            threads = [threading.Thread(target=part, args=(p,), daemon=True) for p in range(len(parts))]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
    finally:
        caught.restore()
        if orders is not None:
            orders.release()
    if any(a is None for a in answers):
        raise RuntimeError("train_many: a part of the fused set did not run")
    status, steps, done, nxt = (np.concatenate([a[k] for a in answers]) for k in range(4))
    return params, status, steps, done, nxt, sums, lr_rows, count, caught.hit


class _Flag:
    """Ctrl-C during the set's C call, in the main thread: noted (as
    gradfit.train's first Ctrl-C) instead of raised; a second one raises."""

    def __init__(self):
        self.hit = False
        self.previous = _loop.catch_sigint(self._repeat)

    def _repeat(self):
        was, self.hit = self.hit, True
        return was

    def restore(self):
        _loop.restore_sigint(self.previous)
        self.previous = None


def _conclude(t0, model0, X, y, jobs, models, lrs, initial, ran, plan, start):
    """Writes each model's parameters back; the plain results, and the jobs to adopt."""
    params, status, steps, done, nxt, sums, lr_rows, count, interrupted = ran
    batch, spe, _ = plan
    epochs, N = lr_rows.shape[1], X.shape[0]
    for m, row in zip(models, params):
        m.params[...] = row
    l_sum, _p_sum, weight, _seen = sums
    with np.errstate(divide="ignore", invalid="ignore"):
        losses = np.where(weight > 0, l_sum / np.where(weight > 0, weight, 1.0), 0.0)
    plain = (status == _core.STATUS_OK) & (steps == epochs * spe) & (done == epochs) \
        & np.isfinite(params).all(axis=1) & np.isfinite(losses[:, -1])
    if interrupted:
        plain[:] = False
    elif plain.any():
        bounds = _bounds(X, y)
        if not stack_surely_finite(params[plain], model0.layer_sizes, model0.activations, t0.loss, *bounds):
            for k in np.flatnonzero(plain):        # each as gradfit._loop's Run proves it
                w, b = layer_views(params[k], model0.layer_sizes)
                plain[k] = loss_surely_finite(w, b, model0.activations, t0.loss, *bounds)
    adopt = [Adopt(pos, initial[k], params[k], (int(status[k]), int(steps[k]), int(done[k]), int(nxt[k]), -1.0),
                   tuple(s[k] for s in sums), int(count[k]), interrupted, lr_rows[k], plan[2])
             for k, (pos, _job) in enumerate(jobs) if not plain[k]]
    seconds = time.perf_counter() - start
    rate = N * epochs / seconds if seconds > 0 else float("inf")
    loss_id, delta, no_weights = LOSSES[t0.loss], t0.huber_delta, np.empty(0, dtype=params.dtype)
    reader = model0._net.loss
    loss_rows, lr_lists = losses.tolist(), lr_rows.tolist()
    # every field but history, steps, lr and final_loss is the set's: each result is the set's fields
    # with its own (TrainResult's __init__ per job would cost as much as the rest of its bookkeeping)
    common = vars(TrainResult(epochs=epochs, seconds=seconds, samples_per_second=rate, stop_reason="epochs",
                              grad_norm=None, loss_name=t0.loss, backend="c", n_samples=N, batch_size=batch,
                              restored=None))
    results = {}
    steps_list = steps.tolist()
    for k in np.flatnonzero(plain).tolist():
        r = object.__new__(TrainResult)
        vars(r).update(common, history={"loss": loss_rows[k], "lr": lr_lists[k]}, steps=steps_list[k], lr=lrs[k])
        r.final_loss = functools.partial(reader, loss_id, params[k], X, y, no_weights, huber_delta=delta,
                                         n_threads=1)
        results[jobs[k][0]] = r
    return results, adopt


def _bounds(X, y):
    """(largest |x|, largest |y|), as gradfit._loop's Run reads them."""
    return _loop._largest_abs(X), _loop._largest_abs(y)
