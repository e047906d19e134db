"""A training run: what one fit() call does around the C core's minibatch
loop, whatever feeds it rows. Run holds the bookkeeping every run shares
(per-epoch history, validation, schedules, early stopping, callbacks and
progress, checkpoints, Ctrl-C, the final loss and the recovery from a
divergence); gradfit._array_run (arrays in memory) and gradfit._out_of_core
(a memmap or a stream, block by block) are its two ways of feeding the rows.
"""
from __future__ import annotations

import importlib
import math
import os
import signal
import sys
import threading
import time
import warnings
from typing import Any

import numpy as np

# Ctrl-C's handler is read and set through _signal, the C module under signal: the same handlers, given
# and taken as they are (signal's own functions wrap each in an enum, through an exception raised and
# caught: ~10 us per call, three calls per fit).
_sig: Any
try:
    _sig = importlib.import_module("_signal")
except ImportError:
    _sig = signal

from ._math import loss_surely_finite, loss_value
from ._runners import CRunner, NumpyRunner
from ._targets import CLASSIFICATION, label_hits
from ._validate import take_largest_abs
from .callbacks import ProgressBar, TrainInfo
from .result import ConvergenceWarning, DivergenceWarning, TrainResult

# How much one C call may do: at most this many samples, and at most this
# many sample x parameter multiply-adds (about 0.1 s), so that progress,
# callbacks and Ctrl-C stay responsive; a long epoch is split over calls.
SAMPLES_PER_CALL = 1 << 20
WORK_PER_CALL = 1 << 28


def catch_sigint(repeat):
    """Ctrl-C in two stages, in the main thread while Ctrl-C has Python's
    default handler: installs a handler that calls repeat(), which records
    the request to stop and returns whether one had already been made; a
    repeated Ctrl-C then raises KeyboardInterrupt at once. Returns the
    handler for restore_sigint, or None when none was installed (another
    thread, or someone else handles Ctrl-C: it is left to them)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = _sig.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        return None

    def on_sigint(signum, frame):
        if repeat():
            raise KeyboardInterrupt

    _sig.signal(signal.SIGINT, on_sigint)
    return previous


def restore_sigint(previous):
    """Puts back the handler catch_sigint replaced (None: nothing to do)."""
    if previous is not None:
        _sig.signal(signal.SIGINT, previous)


def _user_level():
    """The stacklevel of warnings.warn that points at the first caller outside gradfit."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def column(acc, e):
    """Epoch e's sums (loss, penalty, weight, rows) from the four accumulators."""
    return tuple(float(a[e]) for a in acc)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training: a KeyboardInterrupt whose ``result`` is the
    partial TrainResult (history so far, steps, epochs; stop_reason
    "interrupted"). The parameters are those of the last completed step."""

    def __init__(self, result):
        super().__init__(f"training interrupted after {result.steps} step(s), {result.epochs} epoch(s); "
                         f"the partial TrainResult is this exception's .result")
        self.result = result


class Run:
    """One fit call's bookkeeping; a subclass supplies _loop (feeding the
    rows to the runner) and _restore_best (the candidates after a divergence)."""

    def __init__(self, trainer, X, y, sw, val, epochs, max_steps, grad_tol, start_time, N, batch):
        """The run's data (X, y, sw: in-memory arrays, or empty ones for a
        block source), its limits, and N rows in batches of `batch`."""
        self.t, self.X, self.y, self.sw, self.val = trainer, X, y, sw, val
        self.epochs, self.max_steps, self.grad_tol, self.start_time = epochs, max_steps, grad_tol, start_time
        self.N, self.batch = N, batch
        self.spe = max(1, -(-N // batch))                       # steps per epoch
        self.full_batch = batch == N
        m = trainer.model
        runner_class = CRunner if trainer.backend == "c" else NumpyRunner
        self.runner = runner_class(trainer, batch, X, y, sw)
        self.callbacks = list(trainer.callbacks)
        self.bar = None
        if trainer.progress:
            self.bar = ProgressBar()
            self.callbacks.append(self.bar)
        self.last_checkpoint = time.monotonic()
        self.initial = (m.params.copy(), trainer.state.copy(), trainer.step_count.copy())
        self.steps = self.epochs_done = self.seen = 0
        self.grad_norm = None
        self.stop_reason = "epochs"
        self.stop = False
        self.restored = None
        self.last_chunk = None
        self.orders = None
        self.interrupted = False
        # epochs and max_steps both None: train until converged, at most max_epochs epochs
        self.until_converged = epochs is None and max_steps is None
        if self.until_converged:
            self.epochs = trainer.max_epochs
        self.best_loss, self.no_change = float("inf"), 0
        self.epoch_work = bool(self.until_converged or val is not None or trainer.early_stopping or self.callbacks
                               or trainer.schedule.needs_feedback or (grad_tol and not self.full_batch)
                               or trainer.checkpoint is not None)

    def result(self):
        try:
            return self._run_to_result()
        finally:
            if self.orders is not None:      # after any divergence replay, which reads the orders
                self.orders.release()
                self.orders = None

    def _run_to_result(self):
        previous_handler = self._catch_sigint()
        try:
            self._loop()
        finally:
            restore_sigint(previous_handler)
            if self.bar is not None:
                self.bar.close()
        return self._conclude()

    def _conclude(self):
        """The result once the loop has ended: the stop reason, the final
        loss, the recovery from a divergence, warnings; raises Interrupted
        after Ctrl-C."""
        t, m = self.t, self.t.model
        if self.stop_reason == "interrupted":
            result = self._result(float("nan"))
            raise Interrupted(result)
        if self.stop_reason == "epochs" and self.max_steps is not None and self.steps >= self.max_steps:
            self.stop_reason = "max_steps"
        if self.stop_reason == "epochs" and self.until_converged and self.steps > 0:
            losses = t.history["loss"]
            warnings.warn(
                f"training stopped after max_epochs={t.max_epochs} epochs while the loss was still falling "
                f"({losses[-1 - min(len(losses) - 1, t.n_iter_no_change)]:.6g} -> {losses[-1]:.6g} over the last "
                f"{min(len(losses) - 1, t.n_iter_no_change)} epochs, by more than tol={t.tol:g}); give more "
                f"epochs (epochs=... or max_epochs=...) or a larger lr", ConvergenceWarning, stacklevel=_user_level())
        final_loss = float("nan")
        if self.stop_reason != "diverged":
            final_loss = self._final_loss()
            unreadable = getattr(self, "no_final_loss", False)      # a one-shot stream, read once already
            finite = np.isfinite(m.params).all() and all(math.isfinite(v) for v in t.history["loss"][-1:])
            if self.steps > 0 and not (finite and (callable(final_loss) or unreadable or np.isfinite(final_loss))):
                self.stop_reason = "diverged"      # the last update overflowed
        if self.stop_reason == "diverged":
            final_loss = self._restore_best()
            warnings.warn(
                f"training diverged after {self.steps} step(s): the loss became NaN or inf. The parameters "
                f"were restored to {self.restored}, whose loss over the data is {final_loss:.6g}; try a "
                f"smaller lr (got {t.optimizer.lr:g}).", DivergenceWarning, stacklevel=_user_level())
        return self._result(final_loss)

    def _result(self, final_loss):
        t = self.t
        seconds = time.perf_counter() - self.start_time
        return TrainResult(
            history={k: list(v) for k, v in t.history.items()}, steps=self.steps, epochs=self.epochs_done,
            seconds=seconds, samples_per_second=self.seen / seconds if seconds > 0 else float("inf"),
            stop_reason=self.stop_reason, final_loss=final_loss, grad_norm=self.grad_norm,
            loss_name=t.loss, backend=t.backend, n_samples=self.N, batch_size=self.batch,
            lr=t.optimizer.lr, restored=self.restored)

    def _catch_sigint(self):
        """In the main thread, a first Ctrl-C only asks training to stop: the
        C call in progress (at most ~0.1 s of work) finishes its step, the
        bookkeeping completes, and train() / fit() then raise
        KeyboardInterrupt carrying the partial TrainResult. A second Ctrl-C
        interrupts at once. Returns the handler to put back, or None."""
        def repeat():
            was, self.interrupted = self.interrupted, True
            return was

        return catch_sigint(repeat)

    def _end_epoch(self, sums, lr, partial=False):
        t = self.t
        loss_sum, penalty_sum, weight, rows = sums
        t.history["loss"].append(float(loss_sum / weight) if weight > 0 else 0.0)
        t.history["lr"].append(float(lr))
        if "penalty" in t.history:
            t.history["penalty"].append(float(penalty_sum / weight) if weight > 0 else 0.0)
        self.seen += int(rows)
        self.epochs_done += 1
        t.epoch += 1
        if partial:
            return
        monitored = t.history["loss"][-1]
        if self.val is not None:
            vloss, vacc = self._evaluate(*self.val)
            t.history.setdefault("val_loss", []).append(vloss)
            if vacc is not None:
                t.history.setdefault("val_accuracy", []).append(vacc)
            monitored = vloss
        t.schedule.update(t.epoch - 1, monitored)
        if self.grad_tol and not self.full_batch:
            self.grad_norm = self.runner.full_grad_norm()
            if self.grad_norm < self.grad_tol:
                self.stop, self.stop_reason = True, "grad_tol"
        if t.early_stopping:
            self._early_stopping(monitored)
        if self.until_converged and not self.stop:
            self._plateau(t.history["loss"][-1])
        if self.callbacks:
            info = self._info(0.0)
            for cb in self.callbacks:
                if hasattr(cb, "on_epoch_end") and cb.on_epoch_end(info) is True:
                    info.stop()
            if info.stop_requested and not self.stop:
                self.stop, self.stop_reason = True, "callback"
        self._checkpoint()

    def _early_stopping(self, monitored):
        t = self.t
        if t._best is None or monitored < t._best[0] - t.min_delta:
            t._best = (monitored, t.epoch, t.model.params.copy() if t.restore_best_weights else None)
            t._wait = 0
            return
        t._wait += 1
        if t._wait >= t.patience:
            self.stop, self.stop_reason = True, "early_stopping"
            if t.restore_best_weights:
                t.model.params[...] = t._best[2]
                self.restored = f"the best epoch, {t._best[1]} ({'val_' if self.val else ''}loss {t._best[0]:.6g})"

    def _plateau(self, loss):
        """Until converged: stop when the epoch's training loss has not fallen
        below the best by more than tol for n_iter_no_change epochs running."""
        t = self.t
        if loss < self.best_loss - t.tol:
            self.best_loss, self.no_change = loss, 0
            return
        self.no_change += 1
        if self.no_change >= t.n_iter_no_change:
            self.stop, self.stop_reason = True, "converged"

    def _checkpoint(self, pending=None):
        """Writes the checkpoint if one is due: `pending` is the partial epoch
        when called in the middle of an epoch (only the seconds rule applies there)."""
        t = self.t
        if t.checkpoint is None:
            return
        now = time.monotonic()
        due = t.checkpoint_seconds is not None and now - self.last_checkpoint >= t.checkpoint_seconds
        if pending is None and t.checkpoint_every is not None and t.epoch % t.checkpoint_every == 0:
            due = True
        if not due:
            return
        saved, t._pending = t._pending, pending if pending is not None else t._pending
        try:
            t.save(t.checkpoint)
        finally:
            t._pending = saved
        self.last_checkpoint = time.monotonic()

    def _progress(self, fraction):
        """The callbacks' on_progress, `fraction` of the way through the epoch."""
        if not self.callbacks:
            return
        info = self._info(fraction)
        for cb in self.callbacks:
            if hasattr(cb, "on_progress") and cb.on_progress(info) is True:
                info.stop()
        if info.stop_requested:
            self.stop, self.stop_reason = True, "callback"

    def _info(self, fraction):
        t = self.t
        h = t.history
        elapsed = time.perf_counter() - self.start_time
        return TrainInfo(epoch=t.epoch, epoch_fraction=fraction, epochs=self.epochs, step=t.step,
                         loss=h["loss"][-1] if h["loss"] else None,
                         val_loss=h["val_loss"][-1] if h.get("val_loss") else None,
                         lr=h["lr"][-1] if h["lr"] else None, history=h, model=t.model, elapsed=elapsed,
                         samples_per_second=(self.seen + fraction * self.N) / elapsed if elapsed > 0 else 0.0)

    def _loss_reader(self):
        """A function of a model: its loss over all the data. It holds the
        data and the loss settings, not the run (a result keeps it)."""
        X, y, sw, t = self.X, self.y, self.sw, self.t
        loss, delta, threads = t.loss, t.huber_delta, t.n_threads
        return lambda model: model._loss(X, y, loss, sw, delta, threads)

    def _data_loss(self):
        return self._loss_reader()(self.t.model)

    def _data_bounds(self):
        """(largest |x|, largest |y|) of the data, or None where reading them
        would be another pass over data not in memory. With no callbacks (no
        user code ran since the call checked its data), the values the check
        found are taken instead of another pass."""
        if self.callbacks:
            return _largest_abs(self.X), _largest_abs(self.y)
        found = take_largest_abs(self.X), take_largest_abs(self.y)
        return tuple(_largest_abs(a) if v is None else v for a, v in zip((self.X, self.y), found))

    def _final_loss(self):
        """TrainResult.final_loss: the loss over all the data at the
        parameters the model holds now. Normally a function, called on first
        access, of a copy of them (later training does not change it), so a
        call does not pay for this forward pass unless its value is read.
        The value is computed now when the parameters are not finite, or
        when a bound from the weights and the data's largest values cannot
        rule out that the last update made the loss overflow: that is
        divergence, found without the pass in every other case."""
        m = self.t.model
        if not np.isfinite(m.params).all():
            return float("nan")
        reader, bounds = self._loss_reader(), self._data_bounds()
        if bounds is not None and loss_surely_finite(m.weights, m.biases, m.activations, self.t.loss, *bounds):
            snapshot = m.copy()
            return lambda: reader(snapshot)
        return reader(m)

    def _keep_best(self, cands):
        """Sets the model (params, optimizer state, step count) to the
        candidate (label, (params, state, count)) with the lowest finite loss
        over all the data (the call's start if none is finite); returns that
        loss and records the label in self.restored."""
        t, m = self.t, self.t.model
        best = None
        for label, (p, st, c) in cands:
            if not np.isfinite(p).all():
                continue
            m.params[...] = p
            value = self._data_loss()
            if np.isfinite(value) and (best is None or value < best[0]):
                best = (value, label, (p, st, c))
        if best is None:
            best = (float("nan"), "the values the call started from", self.initial)
        m.params[...], t.state[...], t.step_count[...] = best[2]
        self.runner.reset_prev()
        self.restored = best[1]
        return best[0]


    def _evaluate(self, X, y, sw):
        """(loss, accuracy or None) over a data set: a forward pass."""
        t, m = self.t, self.t.model
        pred = m._predict(X)
        value = loss_value(pred, y, t.loss, sw, t.huber_delta)
        acc = None
        if t.loss in CLASSIFICATION:
            acc = float(np.average(label_hits(pred, y, t.loss), weights=sw))
        return value, acc


def _largest_abs(a):
    """max |a| without a temporary the size of `a` (0 for an empty array)."""
    return max(float(a.max(initial=0.0)), -float(a.min(initial=0.0)))
