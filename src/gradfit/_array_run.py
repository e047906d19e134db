"""Training on arrays in memory: each C call runs one or more whole epochs
(many for small data) or part of one (bounded work per call), through the
epoch's order or on a shuffled copy of the rows."""
from __future__ import annotations

import os

import numpy as np

from . import _core, _loop, shuffling
from ._epoch_orders import EpochOrders
from ._loop import Run, column
from ._runners import NO_INDEX


class ArrayRun(Run):
    """One fit call on in-memory arrays X, y (and weights sw)."""

    def __init__(self, trainer, X, y, sw, val, epochs, max_steps, grad_tol, start_time):
        N = X.shape[0]
        batch = N if trainer.batch_size is None else min(trainer.batch_size, N)
        super().__init__(trainer, X, y, sw, val, epochs, max_steps, grad_tol, start_time, N, batch)

    def _reachable(self):
        if self.max_steps is None:
            return self.epochs
        by_steps = -(-self.max_steps // self.spe)
        return by_steps if self.epochs is None else min(by_steps, self.epochs)

    def _loop(self):
        """Runs the C calls _calls() asks for, one at a time."""
        calls = self._calls()
        try:
            args = next(calls)
            while True:
                args = calls.send(self.runner.run(*args))
        except StopIteration:
            return

    def _calls(self):
        """The run as a generator: yields each C call's arguments (those of
        runner.run) and is sent its answer, so that a driver may make the
        calls of several runs together (gradfit._fused)."""
        t = self.t
        reachable = self._reachable()
        if reachable == 0:
            return
        N, m = self.N, t.model
        # the bound is on wall time: n_threads threads do about n_threads times the work in it
        threads = 1 if t.n_threads == 1 else min(t.n_threads, os.cpu_count() or 1)   # (cpu_count reads a file)
        work = _loop.WORK_PER_CALL * threads
        per_call = 1 if self.epoch_work else max(1, min(_loop.SAMPLES_PER_CALL // N, work // (N * m.n_params)))
        moving = self._rows_to_move()
        if moving:
            per_call = 1           # one epoch per C call, on that epoch's shuffled copy
        # a partial epoch left by the last call (stopped by a callback) is finished first
        pending = t._pending if (t._pending is not None and t._pending[0] == N) else None
        t._pending = None
        orders = (EpochOrders(N, min(per_call, reachable), t.rng, t.shuffle, t.chunk_rows, t.window_chunks,
                               rows=moving, cache=getattr(t, "_order_cache", None))
                  if t.shuffle and not self.full_batch else None)
        self.orders = orders
        max_batches = max(1, work // max(1, self.batch * m.n_params))
        planned = reachable
        while planned > 0 and not self.stop:
            k = min(per_call, planned)
            rng_state = orders.state() if orders else None
            moved = None
            if pending is not None:        # (its order only: trained through the index, the same bits)
                idx = orders.draw(k, first=pending[1]) if orders else NO_INDEX
                start_batch, sums = pending[2], pending[3]
                pending = None
            else:
                idx = orders.draw(k, move=bool(moving)) if orders else NO_INDEX
                moved = orders.moved if (orders and moving) else None
                start_batch, sums = 0, None
            yield from self._chunk(idx, k, start_batch, sums, max_batches, rng_state, orders, moved)
            planned -= k

    def _rows_to_move(self):
        """The arrays (X, y and the weights if any) whose rows each epoch's
        order moves into a shuffled copy, or None to train through the
        order's indices instead. Moved when it pays and fits: the C backend,
        shuffle=True, minibatches, every array's row at most
        shuffling.COPY_MAX_ROW_BYTES (wider rows gather faster than they
        move), and rows taking from
        shuffling.COPY_MIN_BYTES to shuffling.COPY_MAX_BYTES in all. The
        results are the same bits either way."""
        t = self.t
        if t.backend != "c" or t.shuffle is not True or self.full_batch or hasattr(self.X, "indptr"):
            return None              # (sparse X: trained through the order's indices)
        arrays = [self.X, self.y] + ([self.sw] if self.sw is not None else [])
        if any(a.nbytes > shuffling.COPY_MAX_ROW_BYTES * a.shape[0] for a in arrays):
            return None
        size = sum(a.nbytes for a in arrays)
        if not (shuffling.COPY_MIN_BYTES <= size <= shuffling.COPY_MAX_BYTES):
            return None
        return tuple(arrays)

    def _chunk(self, idx, k, start_batch, sums, max_batches, rng_state, orders, moved=None):
        """Runs k epochs (the first from start_batch) in as many C calls as the
        work bound needs; `moved`: the rows (X, y, sw) already in the order
        idx (then k == 1), trained on in sequence instead of through idx.
        A generator, as _calls."""
        t, m, N = self.t, self.t.model, self.N
        lrs = np.array([t.schedule.lr(t.epoch + i, t.optimizer.lr) for i in range(k)], dtype=np.float64)
        acc = (np.zeros(k), np.zeros(k), np.zeros(k), np.zeros(k, dtype=np.int64))
        if sums is not None:
            for a, v in zip(acc, sums):
                a[0] = v
        # no update and no user code since the call's start: its snapshot is this one (read-only, not copied again)
        start = self.initial if self.steps == 0 and not self.callbacks else \
            (m.params.copy(), t.state.copy(), t.step_count.copy())
        self.last_chunk = (*start, idx, start_batch, lrs, self.steps, t.epoch)
        e0, b0 = 0, start_batch
        while e0 < k:
            budget = -1 if self.max_steps is None else self.max_steps - self.steps
            if e0 == 0:                    # (the whole chunk: the arrays as they are, no views)
                sub_idx, sub_lrs, sub_acc = idx, lrs, acc
            else:
                sub_idx, sub_lrs, sub_acc = idx[e0 * N:] if idx.size else idx, lrs[e0:], tuple(a[e0:] for a in acc)
            status, s, done, nb, gnorm = yield (sub_idx, k - e0, b0, sub_lrs, max_batches, budget,
                                                self.grad_tol or 0.0, sub_acc, moved if e0 == 0 else None)
            self.steps += s
            if gnorm >= 0:
                self.grad_norm = gnorm
            for e in range(e0, e0 + done):
                self._end_epoch(column(acc, e), lrs[e])
                if self.stop:
                    if e + 1 < k and orders:       # give back the orders of epochs not begun
                        orders.rewind(rng_state, e + 1)
                    return
            e0 += done
            b0 = nb
            if status == _core.STATUS_PAUSED:
                # the partial epoch (its order, next batch and sums), made only when a checkpoint or a stop needs it
                partial = self._partial(idx, e0, k, b0, acc, orders) if t.checkpoint is not None else None
                try:
                    if partial is not None:
                        self._checkpoint(partial)
                    self._progress(b0 / self.spe)
                except BaseException:      # a callback or a checkpoint raised: the Trainer stays resumable
                    self._keep_partial(partial or self._partial(idx, e0, k, b0, acc, orders), orders, rng_state, e0)
                    raise
                if self.interrupted and not self.stop:
                    self.stop, self.stop_reason = True, "interrupted"
                if self.stop:              # a callback or Ctrl-C stopped mid-epoch: keep the partial epoch
                    self._keep_partial(partial or self._partial(idx, e0, k, b0, acc, orders), orders, rng_state, e0)
                    return
                continue
            if status == _core.STATUS_OK:
                if self.interrupted and not self.stop:
                    self.stop, self.stop_reason = True, "interrupted"
                return
            # stopped inside epoch e0 (max_steps, grad_tol or divergence)
            begun = e0 < k and (acc[3][e0] > 0 or status == _core.STATUS_DIVERGED)
            if e0 < k and acc[3][e0] > 0:
                self._end_epoch(column(acc, e0), lrs[e0], partial=True)
            if orders and e0 + begun < k:
                orders.rewind(rng_state, e0 + begun)
            self.stop = True
            self.stop_reason = {_core.STATUS_MAX_STEPS: "max_steps", _core.STATUS_CONVERGED: "grad_tol",
                                _core.STATUS_DIVERGED: "diverged"}[status]
            self.diverged_in = e0
            return

    def _partial(self, idx, e0, k, b0, acc, orders):
        """Epoch e0 as a pending partial epoch (N, its order, the next batch,
        its sums so far), None if the chunk's epochs are all done."""
        if e0 >= k:
            return None
        if orders:
            orders.materialize()           # the order, if the rows were moved without writing it
        N = self.N
        return (N, idx[e0 * N:(e0 + 1) * N].copy() if idx.size else None, b0, column(acc, e0))

    def _keep_partial(self, partial, orders, rng_state, e0):
        """Leaves the Trainer inside the epoch a pause stopped in: its order,
        next batch and sums become the Trainer's pending epoch (the next fit
        finishes it), and the generator is as if only that epoch's order had
        been drawn since the chunk began."""
        if partial is not None:
            self.t._pending = partial
            if orders:
                orders.rewind(rng_state, e0 + 1)

    def _restore_best(self):
        """After a divergence: the candidate (params, state, step count) with
        the lowest loss over all the data. Candidates: the values before the
        last update (the C core restored them when it saw the loss overflow),
        the start of the epoch that diverged (replayed from the start of the
        last chunk: deterministic, and paid only here), and the values the
        call started from."""
        t, m = self.t, self.t.model
        local = getattr(self, "diverged_in", None)
        cands = []
        if local is not None:
            cands.append(("the values before the last update", (m.params.copy(), t.state.copy(), t.step_count.copy())))
        if self.last_chunk is not None:
            if self.orders is not None:
                self.orders.materialize()     # idx, if the rows were moved without writing it
            params0, state0, count0, idx, start_batch, lrs, steps0, epoch0 = self.last_chunk
            if local is None:                       # the last update overflowed after the loop
                local = (t.step - int(count0[0]) + start_batch) // self.spe
                local = min(local, len(lrs))
            m.params[...], t.state[...], t.step_count[...] = params0, state0, count0
            if local > 0:
                self.runner.reset_prev()
                scratch = (np.zeros(local), np.zeros(local), np.zeros(local), np.zeros(local, dtype=np.int64))
                self.runner.run(idx[:local * self.N] if idx.size else idx, local, start_batch, lrs[:local],
                                -1, -1, 0.0, scratch)
            if start_batch == 0 or local > 0:
                label = f"the start of epoch {epoch0 + local + 1}"
            else:
                label = f"the values after step {int(count0[0])}"
            snap = (m.params.copy(), t.state.copy(), t.step_count.copy())
            if not np.array_equal(snap[0], self.initial[0]):
                cands.append((label, snap))
        cands.append(("the values the call started from", self.initial))
        return self._keep_best(cands)
