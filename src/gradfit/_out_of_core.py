"""Training on data that need not fit in memory: a numpy.memmap X, or a
gradfit.data.Chunks stream of (X, y[, sample_weight]) blocks. Trainer.fit
sends such inputs here; each epoch's rows arrive block by block from a
source (_MemmapSource, _StreamSource: blocks(), pieces(), skip()) and are
trained by the same C core, with the same bookkeeping (gradfit._loop.Run)
as in-memory training. docs/out_of_core.md says what differs."""
from __future__ import annotations

import copy

import numpy as np

from . import _core, _loop
from ._epoch_orders import window_orders
from ._loop import Interrupted, Run, column
from ._runners import NO_INDEX
from ._targets import check_targets, normalized_weights
from ._validate import as_float_array, check_finite_chunked, check_X, check_X_shape
from .data import Chunks
from .shuffling import epoch_order


def block_run(trainer, X, y, sample_weight, epochs, max_steps, grad_tol, start_time):
    """The run of trainer.fit for a memmap or a Chunks stream X, its
    arguments checked (every block of a memmap, before any training)."""
    kind = "a Chunks stream" if isinstance(X, Chunks) else "a numpy.memmap"
    if trainer.validation_fraction is not None:
        raise ValueError(f"validation_fraction: not available when X is {kind} (the split would copy the "
                         f"training rows into memory); pass validation_data=(X_val, y_val) instead")
    if grad_tol is not None:
        raise ValueError(f"grad_tol: not available when X is {kind} (it needs a full pass over the data "
                         f"after every epoch); use max_steps, epochs or early_stopping")
    if trainer.batch_size is None:
        raise ValueError(f"batch_size: None (full-batch) needs every row in memory at once; give an integer "
                         f"when X is {kind}")
    mode = "window" if trainer._shuffle_auto else trainer.shuffle
    if isinstance(X, Chunks):
        if y is not None:
            raise ValueError(f"y: expected None when X is a Chunks stream (its blocks hold the targets), "
                             f"got {type(y).__name__}")
        if sample_weight is not None:
            raise ValueError("sample_weight: expected None when X is a Chunks stream; give the weights as "
                             "the third item of each block (X, y, sample_weight)")
        if mode is True:
            raise ValueError("shuffle: True (a uniform permutation of all rows) needs random access to the "
                             "rows; a Chunks stream takes 'window' or False")
        X._check_epochs(epochs)
        source: _MemmapSource | _StreamSource = _StreamSource(X, trainer)
    else:
        source = _MemmapSource(X, y, sample_weight, trainer)
    return BlockRun(trainer, source, mode, trainer.validation_data, epochs, max_steps, start_time)


class _MemmapSource:
    """A numpy.memmap X (y and sample_weight: memmaps or arrays), checked up
    front block by block, then read block by block in each epoch's order."""

    def __init__(self, X, y, sw, trainer):
        m = trainer.model
        self.t, self.model, self.loss, self.dtype = trainer, m, trainer.loss, m.dtype
        self.chunk_rows = trainer.chunk_rows
        check_X_shape(X, m.n_inputs)
        self.X = X
        self.N = self.n_rows = X.shape[0]
        if y is None:
            raise ValueError("y: expected the targets (an array or a memmap with one row per row of X), got None")
        self.y = y if isinstance(y, np.ndarray) else np.asarray(y)
        if self.y.ndim == 0 or self.y.shape[0] != self.N:
            raise ValueError(f"y: expected {self.N} rows to match X, got shape {self.y.shape}")
        self.sw = None
        if sw is not None:
            self.sw = sw if isinstance(sw, np.ndarray) else np.asarray(sw)
            if self.sw.ndim == 2 and self.sw.shape[1] == 1:
                self.sw = self.sw.reshape(-1)
            if self.sw.shape != (self.N,):
                raise ValueError(f"sample_weight: expected shape ({self.N},) to match X, got shape {self.sw.shape}")
        self._check()

    def _check(self):
        """Every value checked before any training, one block of rows at a time."""
        check_finite_chunked(self.X, "X", self.chunk_rows, self.dtype)
        any_weight, self.w_scale = False, 0.0
        for start in range(0, self.N, self.chunk_rows):
            rows = slice(start, min(start + self.chunk_rows, self.N))
            try:
                self.targets(rows)
            except ValueError as exc:
                raise ValueError(f"{exc} (in rows {rows.start}..{rows.stop - 1})") from None
            if self.sw is not None:
                w = as_float_array(self.sw[rows], "sample_weight", np.float64)
                bad = ~np.isfinite(w) | (w < 0)
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise ValueError(f"sample_weight: expected finite weights >= 0, got {float(w[i])!r} at index "
                                     f"{start + i}")
                any_weight = any_weight or bool((w > 0).any())
                self.w_scale = max(self.w_scale, float(w.max()))
        if self.sw is not None and not any_weight:
            raise ValueError("sample_weight: expected at least one weight > 0, got all zeros")

    def targets(self, rows):
        n = len(range(self.N)[rows]) if isinstance(rows, slice) else rows.size
        return check_targets(self.y[rows], n, self.model, self.loss)

    def block(self, rows):
        """(X, y, sample_weight) of the rows (a slice: a view of the file when
        X has the model's dtype; row numbers: a gathered copy)."""
        X = as_float_array(self.X[rows], "X", self.dtype)
        sw = None
        if self.sw is not None:     # scaled as in memory (check_sample_weight), by the largest of all
            w = as_float_array(self.sw[rows], "sample_weight", np.float64)
            sw = as_float_array(normalized_weights(w, self.loss, self.w_scale), "sample_weight", self.dtype)
        return X, self.targets(rows), sw

    def pieces(self, mode, rng, window_chunks):
        """One epoch's rows in order, as blocks of at most chunk_rows rows."""
        N, C = self.N, self.chunk_rows
        if mode is False:
            for start in range(0, N, C):
                yield self.block(slice(start, min(start + C, N)))
        elif mode is True:
            order = epoch_order(rng, N)             # as _EpochOrders.draw draws it in memory
            for start in range(0, N, C):
                yield self.block(order[start:start + C])
        else:
            for rows in window_orders(N, C, window_chunks, rng):
                for start in range(0, rows.size, C):
                    yield self.block(rows[start:start + C])

    def skip(self, mode, rng, window_chunks):
        """Draws one epoch's orders without reading any row."""
        if mode is True:
            epoch_order(rng, self.N)
        elif mode == "window":
            for _ in window_orders(self.N, self.chunk_rows, window_chunks, rng):
                pass

    def blocks(self):
        """The rows in file order (for the loss over all the data)."""
        return self.pieces(False, None, 0)


class _StreamSource:
    """A gradfit.data.Chunks stream: each block is checked as it arrives."""

    def __init__(self, chunks, trainer):
        m = trainer.model
        self.chunks, self.t, self.model, self.loss, self.dtype = chunks, trainer, m, trainer.loss, m.dtype
        self.n_rows = None                  # known after one whole epoch
        self.w_scale = None                 # the weights' scale: the largest of the first weighted block

    def blocks(self):
        m = self.model
        for i, block in enumerate(self.chunks._blocks()):
            X = check_X(block[0], m.n_inputs, self.dtype, f"X[chunk {i}]")
            y = check_targets(block[1], X.shape[0], m, self.loss, f"y[chunk {i}]")
            sw = None
            if len(block) == 3 and block[2] is not None:
                sw = self._weights(block[2], X.shape[0], i)
            yield X, y, sw

    def _weights(self, w, n, i):
        """Block i's n weights checked, scaled as in memory (check_sample_weight)
        by one power of two for the whole call, from the largest weight of the
        first block that has one > 0 (powers of two scale exactly: the same
        bits as the in-memory scale)."""
        w = as_float_array(w, f"sample_weight[chunk {i}]", np.float64)
        if w.ndim == 2 and w.shape[1] == 1:
            w = w.reshape(-1)
        if w.shape != (n,):
            raise ValueError(f"sample_weight[chunk {i}]: expected shape ({n},) to match its X, got shape {w.shape}")
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            raise ValueError(f"sample_weight[chunk {i}]: expected finite weights >= 0, got "
                             f"{float(w[np.flatnonzero(bad)[0]])!r}")
        if self.w_scale is None and w.size and w.max() > 0:
            self.w_scale = float(w.max())
        return as_float_array(normalized_weights(w, self.loss, self.w_scale or 0.0), f"sample_weight[chunk {i}]",
                              self.dtype)

    def pieces(self, mode, rng, window_chunks):
        if mode is False:
            yield from self.blocks()
            return
        window: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        for block in self.blocks():
            window.append(block)
            if len(window) == window_chunks:
                yield self._shuffled(window, rng)
                window = []
        if window:
            yield self._shuffled(window, rng)

    @staticmethod
    def _shuffled(window, rng):
        weighted = [b[2] is not None for b in window]
        if any(weighted) and not all(weighted):
            raise ValueError("sample_weight: expected every block to carry weights or none to, got a mix")
        X = np.concatenate([b[0] for b in window])
        y = np.concatenate([b[1] for b in window])
        sw = np.concatenate([b[2] for b in window]) if weighted[0] else None
        order = epoch_order(rng, X.shape[0])
        return X[order], y[order], None if sw is None else sw[order]

    def skip(self, mode, rng, window_chunks):
        """The rest of a stream's window orders depend on its block sizes: not redrawn."""


class BlockRun(Run):
    """One fit call on a memmap or a stream: each epoch's rows arrive in
    blocks (in the epoch's order), are cut into segments of whole batches
    (a batch that straddles two blocks is gathered), and each segment is one
    C call over its rows in order. The C core only sees batches and adds to
    the epoch's sums batch by batch, so the numbers are the same, bit for bit,
    as one call over the whole order."""

    def __init__(self, trainer, source, mode, val, epochs, max_steps, start_time):
        self.source, self.mode = source, mode
        m = trainer.model
        X = np.zeros((0, m.n_inputs), dtype=m.dtype)
        y = np.zeros((0, m.n_outputs), dtype=m.dtype)
        N = source.n_rows or 0
        batch = trainer.batch_size if not N else min(trainer.batch_size, N)
        super().__init__(trainer, X, y, None, val, epochs, max_steps, None, start_time, N, batch)
        self.full_batch = False
        self.epoch_work = True
        self.max_batches = max(1, _loop.WORK_PER_CALL // max(1, self.batch * m.n_params))
        self.no_final_loss = isinstance(source, _StreamSource) and source.chunks.one_shot
        t = trainer
        self.snapshot = (t.epoch, {k: list(v) for k, v in t.history.items()}, copy.deepcopy(t._best), t._wait,
                         copy.deepcopy(t.rng.bit_generator.state), copy.deepcopy(t.schedule), t._pending)

    def result(self):
        try:
            return super().result()
        except Interrupted:
            raise                   # Ctrl-C: the steps made are kept, as in memory
        except BaseException:
            # a block failed its checks, a source or a callback raised: as if the call never happened
            self._rollback()
            raise

    def _rollback(self):
        t, m = self.t, self.t.model
        m.params[...], t.state[...], t.step_count[...] = self.initial
        epoch, history, best, wait, rng_state, schedule, pending = self.snapshot
        t.epoch, t.history, t._best, t._wait, t.schedule, t._pending = epoch, history, best, wait, schedule, pending
        t.rng.bit_generator.state = rng_state
        self.runner.reset_prev()

    def _loop(self):
        t = self.t
        t._pending = None
        if self.epochs == 0 or self.max_steps == 0:
            return
        done = 0
        while (self.epochs is None or done < self.epochs) and not self.stop:
            if self.max_steps is not None and self.steps >= self.max_steps:
                break
            self._epoch(t.schedule.lr(t.epoch, t.optimizer.lr))
            done += 1

    def _epoch(self, lr):
        t = self.t
        B = self.batch
        lrs = np.array([lr], dtype=np.float64)
        acc = (np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1, dtype=np.int64))
        rng_state = copy.deepcopy(t.rng.bit_generator.state)
        pieces = self.source.pieces(self.mode, t.rng, t.window_chunks)
        carry = None
        status = _core.STATUS_OK
        complete = False
        for X, y, sw in pieces:
            start, n = 0, X.shape[0]
            if carry is not None:               # a batch that straddles two blocks
                take = min(B - carry[0].shape[0], n)
                carry = tuple(None if c is None else np.concatenate([c, p[:take]])
                              for c, p in zip(carry, (X, y, sw)))
                start = take
                if carry[0].shape[0] == B:
                    status = self._segment(carry, lrs, acc)
                    carry = None
            whole = (n - start) // B * B
            if status == _core.STATUS_OK and whole:
                status = self._segment(tuple(None if a is None else a[start:start + whole] for a in (X, y, sw)),
                                       lrs, acc)
            if status == _core.STATUS_OK and start + whole < n and carry is None:
                carry = tuple(None if a is None else a[start + whole:].copy() for a in (X, y, sw))
            if status != _core.STATUS_OK or self.stop:
                break
            if self._budget_out():
                # the step budget ran out: the epoch is complete only if no row is left
                if carry is None and next(pieces, None) is None:
                    complete = True
                else:
                    status = _core.STATUS_MAX_STEPS
                break
            if self.N and self.callbacks:
                self._progress(float(acc[3][0]) / self.N)
                if self.stop:
                    break
            if self.interrupted:
                self.stop, self.stop_reason = True, "interrupted"
                break
        else:
            if carry is not None:               # the last, shorter batch
                status = self._segment(carry, lrs, acc)
            complete = status == _core.STATUS_OK and not self.stop
        if complete:
            if self.source.n_rows != int(acc[3][0]):    # a stream: its length is known now (it may change)
                self.source.n_rows = self.N = int(acc[3][0])
                self.spe = max(1, -(-self.N // B))
            self._end_epoch(column(acc, 0), lr)
            return
        # stopped inside the epoch: a partial epoch, whose orders count as drawn
        pieces.close()
        t.rng.bit_generator.state = rng_state
        self.source.skip(self.mode, t.rng, t.window_chunks)
        if acc[3][0] > 0:
            self._end_epoch(column(acc, 0), lr, partial=True)
        if not self.stop:
            self.stop = True
            self.stop_reason = {_core.STATUS_MAX_STEPS: "max_steps",
                                _core.STATUS_DIVERGED: "diverged"}.get(status, self.stop_reason)
        self.diverged_in = 0

    def _budget_out(self):
        return self.max_steps is not None and self.steps >= self.max_steps

    def _segment(self, seg, lrs, acc):
        """C calls over the rows of seg = (X, y, sw), in order, in whole batches (but the epoch's last)."""
        r = self.runner
        r.X, r.y = seg[0], seg[1]
        r.sw = seg[2] if seg[2] is not None else np.empty(0, dtype=self.t.model.dtype)
        start_batch = 0
        while True:
            budget = -1 if self.max_steps is None else self.max_steps - self.steps
            status, s, done, nb, gnorm = r.run(NO_INDEX, 1, start_batch, lrs, self.max_batches, budget, 0.0, acc)
            self.steps += s
            if status == _core.STATUS_PAUSED:
                start_batch = nb
                if self.interrupted:
                    self.stop, self.stop_reason = True, "interrupted"
                    return status
                continue
            if status == _core.STATUS_MAX_STEPS and done == 1:
                return _core.STATUS_OK          # the segment is done; _epoch sees the budget is out
            return status

    def _checkpoint(self, pending=None):
        if pending is None:
            super()._checkpoint()

    def _data_bounds(self):
        return None                             # the data's largest values would be another pass

    def _loss_reader(self):
        """A function of a model: its loss over all the data, read block by
        block (NaN for a one-shot iterator, which cannot be read again)."""
        if self.no_final_loss:
            return lambda model: float("nan")
        source, t = self.source, self.t
        loss, delta, threads = t.loss, t.huber_delta, t.n_threads
        return lambda model: _blocks_loss(model, source.blocks(), loss, delta, threads)

    def _restore_best(self):
        """After a divergence: the values before the last update (the C core
        restored them) or the values the call started from, whichever has the
        lower loss over all the data."""
        t, m = self.t, self.t.model
        cands = [("the values before the last update", (m.params.copy(), t.state.copy(), t.step_count.copy())),
                 ("the values the call started from", self.initial)]
        return self._keep_best(cands)


def _blocks_loss(model, blocks, loss, huber_delta, n_threads):
    """The loss of `model` over (X, y, sw) blocks: the weighted mean of the
    blocks' losses (sse: their sum)."""
    total = weight = 0.0
    for X, y, sw in blocks:
        value = model._loss(X, y, loss, sw, huber_delta, n_threads)
        w = float(X.shape[0]) if sw is None else float(np.sum(sw, dtype=np.float64))
        if loss == "sse":
            total += value
        else:
            total += value * w
            weight += w
    if loss == "sse":
        return float(total)
    return float(total / weight) if weight > 0 else 0.0
