"""Test helpers: the low-level training API of both backends behind one
interface (gradfit._core.train with its buffers; gradfit.reference.Reference.train)."""
import os
import signal

import numpy as np

import gradfit as gf
from gradfit import _core, reference

HYPER = ("momentum", "nesterov", "beta1", "beta2", "eps", "weight_decay", "l2")


class Run:
    """One model trained in several calls by one backend ("c" or "numpy"):
    keeps the optimizer state, step count and workspace between calls."""

    def __init__(self, backend, model, loss, optimizer, batch, huber_delta=1.0, chunk=None, **hyper):
        self.backend, self.m, self.loss, self.optimizer, self.batch = backend, model, loss, optimizer, batch
        self.huber_delta, self.hyper = huber_delta, hyper
        P = model.n_params
        self.optim_id = _core.OPTIMIZERS[optimizer]
        self.state = np.zeros(_core.state_len(self.optim_id, P), model.dtype)
        self.t = np.zeros(1, np.int64)
        if backend == "c":
            self.chunk = chunk or batch
            self.ws = np.zeros(_core.workspace_len(model._sizes, model._acts, self.chunk, self.optim_id),
                               model.dtype)
            self.grad = np.empty_like(model.params)
            _core.reset_prev(model._sizes, model._acts, self.chunk, self.optim_id, model.params, self.state,
                             self.t, self.ws)
        else:
            self.ref = reference.Reference(model, loss, huber_delta=huber_delta)
            self.ref.reset_prev(self.state, self.t)

    def train(self, X, y, sw, idx, n_epochs, epoch_lr, start_batch=0, max_batches=-1, max_steps=-1,
              grad_tol=0.0, sums=None):
        """One call; returns (status, steps, epochs, next_batch, grad_norm) and the
        epoch sums (loss, penalty, weight, seen): `sums` if given (added to), else new zeros."""
        dt = self.m.dtype
        sw = np.empty(0, dt) if sw is None else np.ascontiguousarray(sw, dt)
        idx = np.empty(0, np.int64) if idx is None else np.ascontiguousarray(idx, np.int64)
        epoch_lr = np.ascontiguousarray(epoch_lr, np.float64)
        if sums is None:
            sums = (np.zeros(n_epochs), np.zeros(n_epochs), np.zeros(n_epochs), np.zeros(n_epochs, np.int64))
        if self.backend == "c":
            m = self.m
            out = _core.train(m._sizes, m._acts, _core.LOSSES[self.loss], self.optim_id, self.batch, self.chunk,
                              max_steps, grad_tol, max_batches, m.params, self.grad, self.state, self.ws, X, y,
                              sw, idx, n_epochs, start_batch, epoch_lr, self.t, *sums,
                              huber_delta=self.huber_delta, **self.hyper)
        else:
            out = self.ref.train(X, y, sw, idx, n_epochs, start_batch, self.batch, epoch_lr, max_steps,
                                 max_batches, grad_tol, self.state, self.t, *sums, optimizer=self.optimizer,
                                 **self.hyper)
        return out, sums


def orders(n, epochs, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(n) for _ in range(epochs)]).astype(np.int64)


def problem(loss, dtype="float64", n=37, n_in=3, hidden=5, seed=0):
    """A small tanh net and data that fit `loss`: one-hot / probability rows
    (and a few scaled rows whose sum is not 1) for cross_entropy, {0, 1} and
    in-between targets for binary_cross_entropy, counts and a few rates for
    poisson."""
    rng = np.random.default_rng(seed)
    k = 1 if loss == "binary_cross_entropy" else 3
    m = gf.MLP([n_in, hidden, k], activation="tanh", dtype=dtype, seed=seed + 1)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    if loss == "cross_entropy":
        y = np.eye(k)[rng.integers(0, k, n)]
        y[:3] = rng.dirichlet(np.ones(k), 3)             # a few probability rows
        y[3:6] *= [[0.5], [1.7], [3.0]]                  # and rows that do not sum to 1 (the loss's sum(t) factor)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (n, 1)).astype(float)
        y[:3, 0] = [0.25, 0.5, 0.9]
    elif loss == "poisson":
        y = rng.poisson(np.exp(0.5 * rng.normal(size=(n, k)))).astype(float)
        y[:3, 0] = [0.25, 2.5, 7.0]                      # rates as well as counts
    else:
        y = rng.normal(size=(n, k))
    sw = rng.uniform(0.0, 2.0, n)
    sw[:2] = 0.0
    return m, X, np.ascontiguousarray(y, dtype), sw.astype(dtype)


class CtrlC:
    """Sends this process SIGINT (as Ctrl-C does) once, inside epoch `epoch`
    (counted from 1), after at least `fraction` of it."""

    def __init__(self, epoch, fraction):
        self.epoch, self.fraction, self.sent = epoch, fraction, False

    def on_progress(self, info):
        if not self.sent and info.epoch + 1 == self.epoch and info.epoch_fraction >= self.fraction:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)
