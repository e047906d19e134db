"""The backends' side of a training run: one object per fit call that owns
the buffers a backend needs and runs part of a chunk of epochs per call."""
from __future__ import annotations

import numpy as np

from . import _core, reference
from ._names import LOSSES, OPTIMIZERS

NO_INDEX = np.empty(0, dtype=np.int64)          # "the rows in order"


class CRunner:
    """Buffers for the C core; one call runs part of a chunk of epochs."""

    def __init__(self, trainer, batch, X, y, sw):
        m = trainer.model
        self.t, self.m, self.batch, self.X, self.y = trainer, m, batch, X, y
        self.sw = sw if sw is not None else np.empty(0, dtype=m.dtype)
        self.loss_id, self.optim_id = LOSSES[trainer.loss], OPTIMIZERS[trainer.optimizer.name]
        self.session = _core.Session(m._net, self.optim_id, batch, m.dtype, sparse=hasattr(X, "indptr"))
        self.grad = np.empty_like(m.params)
        self.hyper = trainer._hyper()
        self.reset_prev()

    def reset_prev(self):
        """What a divergence rolls back to := the current params, state and step count."""
        self.session.set_rollback_point(self.m.params, self.t.state, self.t.step_count)

    def run(self, idx, n_epochs, start_batch, lrs, max_batches, max_steps, grad_tol, acc, data=None):
        """One C call; adds to the epoch sums acc = (loss, penalty, weight, rows), each n_epochs long.
        data: (X, y[, sw]) rows already in the order idx (one epoch): trained in sequence."""
        m, t = self.m, self.t
        X, y, sw = self.X, self.y, self.sw
        if data is not None:
            X, y, sw, idx = data[0], data[1], data[2] if len(data) > 2 else self.sw, NO_INDEX
        return self.session.train(
            self.loss_id, self.batch, max_steps, grad_tol, max_batches, m.params, self.grad, t.state, X, y, sw, idx,
            n_epochs, start_batch, lrs, t.step_count, acc[0], acc[1], acc[2], acc[3], **self.hyper,
            n_threads=t.n_threads)

    def full_grad_norm(self):
        _, grad = self.m._loss_and_grad(self.X, self.y, self.t.loss, None if self.sw.size == 0 else self.sw,
                                        self.t.huber_delta, self.t.l2)
        return reference.grad_norm(grad)


class NumpyRunner:
    """The same contract as CRunner, on gradfit.reference."""

    def __init__(self, trainer, batch, X, y, sw):
        if hasattr(X, "indptr"):      # sparse X (gradfit._sparse.CsrRows): the oracle reads it dense
            X = X.toarray()
        self.t, self.batch, self.X, self.y = trainer, batch, X, y
        self.sw = sw if sw is not None else np.empty(0, dtype=trainer.model.dtype)
        self.ref = reference.Reference(trainer.model, trainer.loss, huber_delta=trainer.huber_delta)
        self.ref_hyper = {k: v for k, v in trainer._hyper().items() if k != "huber_delta"}
        self.reset_prev()

    def reset_prev(self):
        """What a divergence rolls back to := the current params, state and step count."""
        self.ref.reset_prev(self.t.state, self.t.step_count)

    def run(self, idx, n_epochs, start_batch, lrs, max_batches, max_steps, grad_tol, acc, data=None):
        """As CRunner.run (`data` is never given: the numpy backend trains through idx)."""
        t = self.t
        return self.ref._train(self.X, self.y, self.sw, idx, n_epochs, start_batch, self.batch, lrs, max_steps,
                               max_batches, grad_tol, t.state, t.step_count, acc[0], acc[1], acc[2], acc[3],
                               optimizer=t.optimizer.name, **self.ref_hyper)

    def full_grad_norm(self):
        _, grad = self.ref.loss_and_grad(self.X, self.y, None if self.sw.size == 0 else self.sw, self.t.l2)
        return reference.grad_norm(grad)
