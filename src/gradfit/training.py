"""Training: the Trainer (optimizer state, epochs, stopping rules, history)
and train(), its one-call form.

Python decides how much each C call does (many epochs for small data, part
of an epoch for large data: about WORK_PER_CALL multiply-adds, ~0.1 s), draws
each epoch's shuffle order, and does the per-epoch work: history, validation,
schedules, early stopping, callbacks. The minibatch loop itself runs in C
with the GIL released (or in gradfit.reference for backend="numpy").
"""
from __future__ import annotations

import copy
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _core, reference, shuffling
from ._names import BACKENDS, LOSSES, OPTIMIZERS, lookup
from ._targets import (CLASSIFICATION, check_loss_fits_model, check_sample_weight, check_targets,
                       labels_of, validation_split)
from ._validate import (check_int, check_non_negative, check_positive, check_seed, check_threads,
                        check_X)
from .callbacks import ProgressBar, TrainInfo, as_callbacks
from .model import CHUNK_ROWS, MLP
from .optimizers import Optimizer, as_optimizer
from .result import TrainResult
from .schedules import Schedule, as_schedule

# How much one C call may do: at most this many samples, and at most this
# many sample x parameter multiply-adds (about 0.1 s), so that progress,
# callbacks and Ctrl-C stay responsive; a long epoch is split over calls.
SAMPLES_PER_CALL = 1 << 20
WORK_PER_CALL = 1 << 28


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the loss became NaN or inf.

    The model is left at the best parameters seen among the values before the
    last update, the start of the epoch in which the loss overflowed and the
    values the call started from (by their loss over all the data); the
    warning and ``TrainResult.restored`` say which."""


def _check_shuffle(value):
    """True, False or "window" (None: True, with memmaps and streams getting "window" at fit time)."""
    if value is None:
        return True
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value == "window":
        return "window"
    raise TypeError(f"shuffle: expected True, False, 'window' or None, got {type(value).__name__} {value!r}")


def _check_bool(value, argument):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{argument}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C during training: a KeyboardInterrupt whose ``result`` is the
    partial TrainResult (history so far, steps, epochs; stop_reason
    "interrupted"). The parameters are those of the last completed step."""

    def __init__(self, result):
        super().__init__(f"training interrupted after {result.steps} step(s), {result.epochs} epoch(s); "
                         f"the partial TrainResult is this exception's .result")
        self.result = result


class Trainer:
    """Trains one model over several calls, keeping everything a run needs.

    The Trainer holds the optimizer state (a flat buffer laid out like
    ``model.params``), the step count, the shuffling generator, the schedule's
    position, the early-stopping state and the history. ``fit`` and
    ``partial_fit`` continue where the last call stopped, so ten calls of one
    epoch give exactly (bit for bit) one call of ten epochs.

    Parameters
    ----------
    model : MLP
    optimizer : {"sgd", "adam", "adamw"} or Optimizer, default "sgd"
        A name (its settings from the keywords below) or an object such as
        ``gf.Adam(lr=1e-3)``.
    loss : str, default "mse"
        "mse", "sse", "mae", "huber" (with ``huber_delta``), "cross_entropy"
        (softmax over the outputs; y holds class ids (N,) or one-hot /
        probability rows (N, K)) or "binary_cross_entropy" (one output, a
        logit; y holds 0/1 or probabilities). Cross-entropy losses need an
        identity output layer: the model outputs logits.
    lr : float, optional
        Base learning rate (default: the optimizer's, 0.01 for SGD and 0.001
        for Adam / AdamW).
    momentum, nesterov : optional
        SGD's momentum in [0, 1) and Nesterov's form.
    beta1, beta2, eps, weight_decay : optional
        Adam's and AdamW's settings.
    l2 : float, default 0
        L2 penalty ``l2 / 2 * sum(W**2)`` over the weights (not the biases),
        added to the loss that is minimised; its gradient is ``l2 * W``.
        ``history["penalty"]`` records it apart from the data loss.
    huber_delta : float, default 1.0
        Where the huber loss turns from quadratic to linear.
    batch_size : int or None, default 32
        Rows per step; None is full-batch gradient descent.
    shuffle : bool, "window" or None, default None
        True: each epoch visits the rows in a uniform random order
        (:func:`gradfit.epoch_order`, Sanders' bucketed shuffle). "window": the rows are cut into blocks of
        `chunk_rows`, the block order is shuffled, and the rows of each
        window of `window_chunks` consecutive blocks are shuffled together
        (whole blocks are read: the mode for data larger than memory).
        False: the given order. None: True for in-memory arrays, "window"
        for ``numpy.memmap`` and :class:`gradfit.data.Chunks` input.
    chunk_rows : int, default 65536
        Rows per block of ``shuffle="window"``, and rows read at a time from
        a memmap.
    window_chunks : int, default 8
        Blocks shuffled together by ``shuffle="window"``.
    seed : int, numpy.random.Generator or None
        Seeds the shuffles (and the validation split).
    lr_schedule : gradfit.schedules.Schedule or callable, optional
        The lr of each epoch (epochs counted from 0 over the Trainer's life).
    validation_data : tuple, optional
        ``(X_val, y_val)`` or ``(X_val, y_val, sample_weight_val)``.
    validation_fraction : float in (0, 1), optional
        Hold out this fraction of each fit's data for validation: a seeded
        split, stratified by class for classification losses.
    early_stopping : bool, default False
        Stop when the monitored loss (``val_loss`` with validation data,
        else the training loss) has not improved by more than ``min_delta``
        for ``patience`` epochs; with ``restore_best_weights`` the model gets
        the parameters of its best epoch back.
    patience : int, default 10
    min_delta : float, default 0
    restore_best_weights : bool, default True
    callbacks : list, optional
        Functions ``f(info)`` called after every epoch, or objects with
        ``on_epoch_end(info)`` / ``on_progress(info)`` (see gradfit.callbacks).
        Returning True or calling ``info.stop()`` stops training.
    progress : bool, default False
        Show a progress bar (tqdm if installed, else a line per epoch).
    backend : {"c", "numpy"}, default "c"
    checkpoint, checkpoint_every, checkpoint_seconds : optional
        Write the Trainer to this file while it trains; see :meth:`set_checkpoint`.
    n_threads : int, default 1
        Threads for the matrix products of wide layers (products under ~2M
        multiply-adds stay on one thread). Any number gives the same numbers,
        bit for bit.

    Attributes
    ----------
    history : dict of lists
        Per epoch, over all calls: "loss" (mean data loss of the epoch's
        minibatches, each measured before its update), "lr", and when they
        apply "penalty", "val_loss", "val_accuracy".
    epoch : int
        Epochs completed.
    step : int
        Updates made (the optimizer's step count).
    optimizer : Optimizer
    """

    def __init__(self, model: MLP, optimizer: str | Optimizer = "sgd", loss: str = "mse", *,
                 lr: float | None = None, momentum: float | None = None, nesterov: bool | None = None,
                 beta1: float | None = None, beta2: float | None = None, eps: float | None = None,
                 weight_decay: float | None = None, l2: float = 0.0, huber_delta: float = 1.0,
                 batch_size: int | None = 32, shuffle: bool | str | None = None,
                 seed: int | np.random.Generator | None = None,
                 lr_schedule: Schedule | Callable[[int], float] | None = None,
                 validation_data: Sequence[ArrayLike] | None = None, validation_fraction: float | None = None,
                 early_stopping: bool = False, patience: int = 10, min_delta: float = 0.0,
                 restore_best_weights: bool = True, callbacks: Any = None, progress: bool = False,
                 backend: str = "c", checkpoint: str | os.PathLike[str] | None = None,
                 checkpoint_every: int | None = None, checkpoint_seconds: float | None = None,
                 n_threads: int = 1, chunk_rows: int = 65536, window_chunks: int = 8) -> None:
        if not isinstance(model, MLP):
            raise TypeError(f"model: expected a gradfit.MLP, got {type(model).__name__}")
        self.model = model
        self.loss = lookup(LOSSES, loss, "loss")
        check_loss_fits_model(self.loss, model)
        if lr is not None:
            lr = check_positive(lr, "lr")
        self.optimizer = as_optimizer(optimizer, lr, momentum=momentum, nesterov=nesterov, beta1=beta1,
                                      beta2=beta2, eps=eps, weight_decay=weight_decay)
        self.backend = lookup(dict.fromkeys(BACKENDS), backend, "backend")
        self.l2 = check_non_negative(l2, "l2")
        self.huber_delta = check_positive(huber_delta, "huber_delta")
        self.batch_size = check_int(batch_size, "batch_size", 1, allow_none=True)
        self._shuffle_auto = shuffle is None
        self.shuffle = _check_shuffle(shuffle)
        self.chunk_rows = check_int(chunk_rows, "chunk_rows", 1)
        self.window_chunks = check_int(window_chunks, "window_chunks", 1)
        check_seed(seed)
        self.rng = np.random.default_rng(seed)
        self._split_seed = int(self.rng.spawn(1)[0].integers(1 << 62))
        self.schedule = as_schedule(lr_schedule)
        if validation_data is not None and validation_fraction is not None:
            raise ValueError("validation_fraction: give validation_data or validation_fraction, not both")
        if validation_fraction is not None:
            if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (int, float)) \
                    or not 0 < validation_fraction < 1:
                raise ValueError(f"validation_fraction: expected a number in (0, 1), got {validation_fraction!r}")
        self.validation_fraction = validation_fraction
        self.validation_data = self._check_validation_data(validation_data)
        if not isinstance(early_stopping, (bool, np.bool_)):
            raise TypeError(f"early_stopping: expected True or False, got {early_stopping!r}")
        self.early_stopping = bool(early_stopping)
        self.patience = check_int(patience, "patience", 1)
        self.min_delta = check_non_negative(min_delta, "min_delta")
        self.restore_best_weights = _check_bool(restore_best_weights, "restore_best_weights")
        self.callbacks = as_callbacks(callbacks)
        self.progress = _check_bool(progress, "progress")
        self.set_checkpoint(checkpoint, checkpoint_every, checkpoint_seconds)
        self.n_threads = check_threads(n_threads)

        self.state = np.zeros(_core.state_len(OPTIMIZERS[self.optimizer.name], model.n_params),
                              dtype=model.dtype)
        self.step_count = np.zeros(1, dtype=np.int64)
        self.epoch = 0
        self.history: dict[str, list[float]] = {"loss": [], "lr": []}
        if self.l2:
            self.history["penalty"] = []
        self._best: tuple[float, int, np.ndarray | None] | None = None      # early stopping: (value, epoch, params)
        self._wait = 0
        # a partial epoch: (N, order, next_batch, sums)
        self._pending: tuple[int, np.ndarray | None, int, tuple[float, ...]] | None = None

    # -- public ----------------------------------------------------------------
    @property
    def step(self) -> int:
        """Updates made so far."""
        return int(self.step_count[0])

    def __repr__(self):
        return (f"Trainer({self.model!r}, {self.optimizer!r}, loss={self.loss!r}, epoch={self.epoch}, "
                f"step={self.step})")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the Trainer to `path` (one .npz file, written atomically):
        the model, the optimizer (name, settings and state buffer), the step
        count, the shuffling generator's state, the epoch, the history, the
        schedule and its position, the early-stopping state, a partial epoch
        left by a callback's stop, and the settings. Callbacks and
        validation_data are not saved (nor a function lr_schedule): give them
        to :func:`gradfit.load_trainer` again. Training resumed from the file
        continues exactly, bit for bit, as if it had never stopped."""
        from .io import save_trainer
        save_trainer(self, path)

    def set_checkpoint(self, path: str | os.PathLike[str] | None, every: int | None = None,
                       seconds: float | None = None) -> None:
        """Write the Trainer (model included) to `path` while it trains.

        Parameters
        ----------
        path : str or path-like or None
            The checkpoint file (``trainer.save`` format, written atomically:
            a temporary file, fsync, rename). None turns checkpoints off.
        every : int, optional
            Every `every` epochs (default 1 when `seconds` is not given).
        seconds : float, optional
            At the first point (end of an epoch, or a pause of the C core in
            the middle of one) at least `seconds` after the last checkpoint.

        ``gf.load_trainer(path)`` then ``fit(X, y, epochs=target - trainer.epoch)``
        resumes bit for bit, whenever the process was killed.
        """
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"checkpoint: expected a file path or None, got {type(path).__name__}")
        every = check_int(every, "checkpoint_every", 1, allow_none=True)
        seconds = check_positive(seconds, "checkpoint_seconds", allow_none=True)
        if path is not None and every is None and seconds is None:
            every = 1
        self.checkpoint, self.checkpoint_every, self.checkpoint_seconds = path, every, seconds

    def partial_fit(self, X: ArrayLike, y: ArrayLike, *, sample_weight: ArrayLike | None = None) -> TrainResult:
        """One more epoch over X, y (see :meth:`fit`)."""
        return self.fit(X, y, epochs=1, sample_weight=sample_weight)

    def fit(self, X: ArrayLike, y: ArrayLike, epochs: int | None = 1, *, sample_weight: ArrayLike | None = None,
            max_steps: int | None = None, grad_tol: float | None = None) -> TrainResult:
        """Train `epochs` more epochs, continuing from where the last call stopped.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_inputs)
        y : array_like
            Targets for the Trainer's loss (see the class docstring).
        epochs : int or None, default 1
            More epochs to run; None needs max_steps.
        sample_weight : array_like of shape (n_samples,), optional
            Non-negative weights: every loss becomes the weighted mean over
            the batch, ``sum(w_i * loss_i) / sum(w_i)`` ("sse": the weighted sum).
        max_steps : int, optional
            Stop after this many updates in this call.
        grad_tol : float, optional
            Stop when the full-data gradient norm falls below it (checked
            every step in full-batch mode, after each epoch otherwise at the
            cost of one forward and backward pass over the data).

        Returns
        -------
        TrainResult
            Its history is the Trainer's whole history so far.
        """
        start_time = time.perf_counter()
        epochs = check_int(epochs, "epochs", 0, allow_none=True)
        max_steps = check_int(max_steps, "max_steps", 0, allow_none=True)
        grad_tol = check_positive(grad_tol, "grad_tol", allow_none=True)
        if epochs is None and max_steps is None:
            raise ValueError("epochs: None (no epoch limit) needs max_steps to bound the run, got max_steps=None")
        model = self.model
        from .data import Chunks
        # a memmap in full-batch mode takes the in-memory path (the C core reads the file in place)
        if isinstance(X, Chunks) or (isinstance(X, np.memmap) and self.batch_size is not None):
            return self._fit_out_of_core(X, y, epochs, sample_weight, max_steps, grad_tol, start_time)
        X = check_X(X, model.n_inputs, model.dtype)
        y = check_targets(y, X.shape[0], model, self.loss)
        sw = check_sample_weight(sample_weight, X.shape[0], model.dtype)
        val = self.validation_data
        if self.validation_fraction is not None:
            rows, held = validation_split(X.shape[0], self.validation_fraction,
                                          np.random.default_rng(self._split_seed), labels_of(y, self.loss))
            val = (X[held], y[held], None if sw is None else sw[held])
            X, y, sw = X[rows], y[rows], None if sw is None else sw[rows]
            if sw is not None and not (sw > 0).any():
                raise ValueError("sample_weight: every training row left by validation_fraction has weight 0")
        if not model._lock.acquire(blocking=False):
            raise RuntimeError("model: already being trained (in another thread); train a copy "
                               "(model.copy()) or wait for the other call to return")
        try:
            model._check_params_finite()
            return _Run(self, X, y, sw, val, epochs, max_steps, grad_tol, start_time).result()
        finally:
            model._lock.release()

    def _fit_out_of_core(self, X, y, epochs, sample_weight, max_steps, grad_tol, start_time):
        """fit() for a memmap or a Chunks stream: checked and read block by block."""
        from ._out_of_core import _MemmapSource, _OutOfCoreRun, _StreamSource
        from .data import Chunks
        model = self.model
        kind = "a Chunks stream" if isinstance(X, Chunks) else "a numpy.memmap"
        if self.validation_fraction is not None:
            raise ValueError(f"validation_fraction: not available when X is {kind} (the split would copy the "
                             f"training rows into memory); pass validation_data=(X_val, y_val) instead")
        if grad_tol is not None:
            raise ValueError(f"grad_tol: not available when X is {kind} (it needs a full pass over the data "
                             f"after every epoch); use max_steps, epochs or early_stopping")
        if self.batch_size is None:
            raise ValueError(f"batch_size: None (full-batch) needs every row in memory at once; give an integer "
                             f"when X is {kind}")
        mode = "window" if self._shuffle_auto else self.shuffle
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
            source: _MemmapSource | _StreamSource = _StreamSource(X, self)
        else:
            source = _MemmapSource(X, y, sample_weight, self)
        if not model._lock.acquire(blocking=False):
            raise RuntimeError("model: already being trained (in another thread); train a copy "
                               "(model.copy()) or wait for the other call to return")
        try:
            model._check_params_finite()
            return _OutOfCoreRun(self, source, mode, self.validation_data, epochs, max_steps,
                                 start_time).result()
        finally:
            model._lock.release()

    # -- helpers ---------------------------------------------------------------
    def _check_validation_data(self, data):
        if data is None:
            return None
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise TypeError("validation_data: expected a tuple (X_val, y_val) or (X_val, y_val, sample_weight_val)")
        m = self.model
        Xv = check_X(data[0], m.n_inputs, m.dtype, "validation_data[0]")
        yv = check_targets(data[1], Xv.shape[0], m, self.loss, "validation_data[1]")
        wv = check_sample_weight(data[2], Xv.shape[0], m.dtype, "validation_data[2]") if len(data) == 3 else None
        return Xv, yv, wv

    def _hyper(self):
        return dict(self.optimizer.hyper(), huber_delta=self.huber_delta, l2=self.l2)

    def _evaluate(self, X, y, sw):
        """(loss, accuracy or None) over a data set: a forward pass."""
        m = self.model
        pred = m._predict(X)
        value = reference.loss_value(pred, y, self.loss, sw, self.huber_delta)
        acc = None
        if self.loss in CLASSIFICATION:
            guess = np.argmax(pred, axis=1) if self.loss == "cross_entropy" else (pred[:, 0] > 0).astype(np.int64)
            hit = (guess == labels_of(y, self.loss)).astype(np.float64)
            acc = float(np.average(hit, weights=sw))
        return value, acc


class _Run:
    """One fit call: the chunk loop over the C core and the per-epoch work."""

    def __init__(self, trainer, X, y, sw, val, epochs, max_steps, grad_tol, start_time):
        self.t, self.X, self.y, self.sw, self.val = trainer, X, y, sw, val
        self.epochs, self.max_steps, self.grad_tol, self.start_time = epochs, max_steps, grad_tol, start_time
        self.N = N = X.shape[0]
        self.batch = N if trainer.batch_size is None else min(trainer.batch_size, N)
        self.spe = -(-N // self.batch)                          # steps per epoch
        self.full_batch = self.batch == N
        self._start(X, y, sw)
        self.epoch_work = bool(val is not None or trainer.early_stopping or self.callbacks
                               or trainer.schedule.needs_feedback or (grad_tol and not self.full_batch)
                               or trainer.checkpoint is not None)

    def _start(self, X, y, sw):
        """What every run sets up: the runner of the Trainer's backend, the
        callbacks (and progress bar), the values the call starts from and the
        counters."""
        trainer, m = self.t, self.t.model
        runner_class = _CRunner if trainer.backend == "c" else _NumpyRunner
        self.runner = runner_class(trainer, self.batch, X, y, sw)
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

    # -- the loop ------------------------------------------------------------
    def result(self):
        try:
            return self._run_to_result()
        finally:
            if self.orders is not None:      # after any divergence replay, which reads the orders
                self.orders.release()
                self.orders = None

    def _run_to_result(self):
        t, m = self.t, self.t.model
        previous_handler = self._catch_sigint()
        try:
            self._loop()
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
            if self.bar is not None:
                self.bar.close()
        if self.stop_reason == "interrupted":
            result = self._result(float("nan"))
            raise _Interrupted(result)
        if self.stop_reason == "epochs" and self.max_steps is not None and self.steps >= self.max_steps:
            self.stop_reason = "max_steps"
        final_loss = float("nan")
        if self.stop_reason != "diverged":
            final_loss = self._data_loss()
            unreadable = getattr(self, "no_final_loss", False)      # a one-shot stream, read once already
            if self.steps > 0 and not (np.isfinite(m.params).all() and (unreadable or np.isfinite(final_loss))):
                self.stop_reason = "diverged"      # the last update overflowed
        if self.stop_reason == "diverged":
            final_loss = self._restore_best()
            warnings.warn(
                f"training diverged after {self.steps} step(s): the loss became NaN or inf. The parameters "
                f"were restored to {self.restored}, whose loss over the data is {final_loss:.6g}; try a "
                f"smaller lr (got {t.optimizer.lr:g}).", DivergenceWarning, stacklevel=4)
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

    # -- Ctrl-C ---------------------------------------------------------------------
    def _catch_sigint(self):
        """In the main thread, a first Ctrl-C only asks training to stop: the
        C call in progress (at most ~0.1 s of work) finishes its step, the
        bookkeeping completes, and train() / fit() then raise
        KeyboardInterrupt carrying the partial TrainResult. A second Ctrl-C
        interrupts at once. Returns the handler to put back, or None."""
        self.interrupted = False
        if threading.current_thread() is not threading.main_thread():
            return None
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler:
            return None                    # someone else handles Ctrl-C: leave it to them

        def on_sigint(signum, frame):
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True

        signal.signal(signal.SIGINT, on_sigint)
        return previous

    def _reachable(self):
        if self.max_steps is None:
            return self.epochs
        by_steps = -(-self.max_steps // self.spe)
        return by_steps if self.epochs is None else min(by_steps, self.epochs)

    def _loop(self):
        t = self.t
        reachable = self._reachable()
        if reachable == 0:
            return
        N, m = self.N, t.model
        # the bound is on wall time: n_threads threads do about n_threads times the work in it
        work = WORK_PER_CALL * min(t.n_threads, os.cpu_count() or 1)
        per_call = 1 if self.epoch_work else max(1, min(SAMPLES_PER_CALL // N, work // (N * m.n_params)))
        moving = self._rows_to_move()
        if moving:
            per_call = 1           # one epoch per C call, on that epoch's shuffled copy
        # a partial epoch left by the last call (stopped by a callback) is finished first
        pending = t._pending if (t._pending is not None and t._pending[0] == N) else None
        t._pending = None
        orders = (_EpochOrders(N, min(per_call, reachable), t.rng, t.shuffle, t.chunk_rows, t.window_chunks,
                               rows=moving)
                  if t.shuffle and not self.full_batch else None)
        self.orders = orders
        max_batches = max(1, work // max(1, self.batch * m.n_params))
        planned = reachable
        while planned > 0 and not self.stop:
            k = min(per_call, planned)
            rng_state = orders.state() if orders else None
            moved = None
            if pending is not None:        # (its order only: trained through the index, the same bits)
                idx = orders.draw(k, first=pending[1]) if orders else _NO_INDEX
                start_batch, sums = pending[2], pending[3]
                pending = None
            else:
                idx = orders.draw(k, move=bool(moving)) if orders else _NO_INDEX
                moved = orders.moved if (orders and moving) else None
                start_batch, sums = 0, None
            self._chunk(idx, k, start_batch, sums, max_batches, rng_state, orders, moved)
            planned -= k

    def _rows_to_move(self):
        """The arrays (X, y and the weights if any) whose rows each epoch's
        order moves into a shuffled copy, or None to train through the
        order's indices instead. Moved when it pays and fits: the C backend,
        shuffle=True, minibatches, every array's row at most
        shuffling.COPY_MAX_ROW_BYTES (one value: moving wider rows measured
        slower than gathering them), and rows taking from
        shuffling.COPY_MIN_BYTES to shuffling.COPY_MAX_BYTES in all. The
        results are the same bits either way."""
        t = self.t
        if t.backend != "c" or t.shuffle is not True or self.full_batch:
            return None
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
        idx (then k == 1), trained on in sequence instead of through idx."""
        t, m, N = self.t, self.t.model, self.N
        lrs = np.array([t.schedule.lr(t.epoch + i, t.optimizer.lr) for i in range(k)], dtype=np.float64)
        acc = (np.zeros(k), np.zeros(k), np.zeros(k), np.zeros(k, dtype=np.int64))
        if sums is not None:
            for a, v in zip(acc, sums):
                a[0] = v
        self.last_chunk = (m.params.copy(), t.state.copy(), t.step_count.copy(), idx, start_batch, lrs,
                           self.steps, t.epoch)
        e0, b0 = 0, start_batch
        while e0 < k:
            budget = -1 if self.max_steps is None else self.max_steps - self.steps
            sub_idx = idx[e0 * N:] if idx.size else idx
            status, s, done, nb, gnorm = self.runner.run(sub_idx, k - e0, b0, lrs[e0:], max_batches, budget,
                                                         self.grad_tol or 0.0, tuple(a[e0:] for a in acc),
                                                         data=moved if e0 == 0 else None)
            self.steps += s
            if gnorm >= 0:
                self.grad_norm = gnorm
            for e in range(e0, e0 + done):
                self._end_epoch(_column(acc, e), lrs[e])
                if self.stop:
                    if e + 1 < k and orders:       # give back the orders of epochs not begun
                        orders.rewind(rng_state, e + 1)
                    return
            e0 += done
            b0 = nb
            if status == _core.STATUS_PAUSED:
                if orders:
                    orders.materialize()       # the partial epoch's order, for a checkpoint or a pending epoch
                if e0 < k:
                    self._checkpoint((N, idx[e0 * N:(e0 + 1) * N].copy() if idx.size else None, b0,
                                      _column(acc, e0)))
                self._progress(e0, b0, _column(acc, e0) if e0 < k else None, lrs[min(e0, k - 1)])
                if self.interrupted and not self.stop:
                    self.stop, self.stop_reason = True, "interrupted"
                if self.stop:              # a callback or Ctrl-C stopped mid-epoch: keep the partial epoch
                    if e0 < k:
                        t._pending = (N, idx[e0 * N:(e0 + 1) * N].copy() if idx.size else None, b0,
                                      _column(acc, e0))
                        if orders:
                            orders.rewind(rng_state, e0 + 1)
                    return
                continue
            if status == _core.STATUS_OK:
                if self.interrupted and not self.stop:
                    self.stop, self.stop_reason = True, "interrupted"
                return
            # stopped inside epoch e0 (max_steps, grad_tol or divergence)
            begun = e0 < k and (acc[3][e0] > 0 or status == _core.STATUS_DIVERGED)
            if e0 < k and acc[3][e0] > 0:
                self._end_epoch(_column(acc, e0), lrs[e0], partial=True)
            if orders and e0 + begun < k:
                orders.rewind(rng_state, e0 + begun)
            self.stop = True
            self.stop_reason = {_core.STATUS_MAX_STEPS: "max_steps", _core.STATUS_CONVERGED: "grad_tol",
                                _core.STATUS_DIVERGED: "diverged"}[status]
            self.diverged_in = e0
            return

    # -- per-epoch work ---------------------------------------------------------
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
            vloss, vacc = t._evaluate(*self.val)
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
            if t._best is None or monitored < t._best[0] - t.min_delta:
                t._best = (monitored, t.epoch, t.model.params.copy() if t.restore_best_weights else None)
                t._wait = 0
            else:
                t._wait += 1
                if t._wait >= t.patience:
                    self.stop, self.stop_reason = True, "early_stopping"
                    if t.restore_best_weights:
                        t.model.params[...] = t._best[2]
                        self.restored = f"the best epoch, {t._best[1]} ({'val_' if self.val else ''}loss {t._best[0]:.6g})"
        if self.callbacks:
            info = self._info(0.0)
            for cb in self.callbacks:
                if hasattr(cb, "on_epoch_end") and cb.on_epoch_end(info) is True:
                    info.stop()
            if info.stop_requested and not self.stop:
                self.stop, self.stop_reason = True, "callback"
        self._checkpoint()

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

    def _progress(self, epochs_done_in_chunk, next_batch, sums, lr):
        if not self.callbacks:
            return
        info = self._info(next_batch / self.spe)
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

    # -- losses and divergence ------------------------------------------------------
    def _data_loss(self):
        return self.t.model._loss(self.X, self.y, self.t.loss, self.sw, self.t.huber_delta, self.t.n_threads)

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


_NO_INDEX = np.empty(0, dtype=np.int64)


def _column(acc, e):
    """Epoch e's sums (loss, penalty, weight, rows) from the four accumulators."""
    return tuple(float(a[e]) for a in acc)


def window_orders(N, chunk_rows, window_chunks, rng):
    """One epoch of shuffle="window" over rows 0..N-1, window by window.

    The rows are cut into blocks of `chunk_rows` (the last may be shorter);
    ``epoch_order(rng, n_blocks)`` orders the blocks; then for every window
    of `window_chunks` consecutive blocks in that order, the window's rows
    (its blocks' rows, concatenated) are put in the order
    ``epoch_order(rng, n_rows)`` of the window. Yields each window's row
    numbers (int64): the epoch's order is their concatenation. The same seed
    gives the same order whatever the storage; with a single block it is
    shuffle=True's order, ``epoch_order(rng, N)``."""
    n_blocks = -(-N // chunk_rows)
    blocks = shuffling.epoch_order(rng, n_blocks)
    for w in range(0, n_blocks, window_chunks):
        rows = np.concatenate([np.arange(b * chunk_rows, min((b + 1) * chunk_rows, N), dtype=np.int64)
                               for b in blocks[w:w + window_chunks]])
        yield rows[shuffling.epoch_order(rng, rows.size)]


class _Scratch(threading.local):
    """The epoch-order buffers (orders, bucket ids, moved rows) of this
    thread's last finished training call, which the next call reuses:
    fresh memory costs a page fault per 4 KiB page on first write, which
    on the benchmark VM cost as much as the shuffle itself (the first
    epoch's order and moved rows at 200,000 rows: ~28 ns a row in fresh
    buffers, ~11-14 in used ones). Per thread (two threads never share a
    buffer), taken out while a call uses it (a training call nested in a
    callback allocates its own), and bounded: at most MAX_BYTES are kept."""
    MAX_BYTES = 64 << 20

    def __init__(self) -> None:
        self.free: list[np.ndarray] = []

    def take(self, shape, dtype) -> np.ndarray:
        """A C-contiguous array of this shape and dtype, reused if kept."""
        shape, dtype = tuple(shape), np.dtype(dtype)
        for i, a in enumerate(self.free):
            if a.shape == shape and a.dtype == dtype:
                return self.free.pop(i)
        return np.empty(shape, dtype=dtype)

    def give(self, arrays) -> None:
        """Keeps `arrays` (the newest first) for the next call, within MAX_BYTES."""
        kept: list[np.ndarray] = []
        total = 0
        for a in list(arrays) + self.free:
            if total + a.nbytes <= self.MAX_BYTES and not any(a is b for b in kept):
                kept.append(a)
                total += a.nbytes
        self.free = kept


_SCRATCH = _Scratch()


class _EpochOrders:
    """Each epoch's visiting order (gradfit.epoch_order for shuffle=True,
    window_orders for "window"), drawn into buffers allocated once. Exactly
    one order is drawn per epoch begun, whatever the chunking. With `rows`
    (arrays of N rows), draw(1, move=True) also moves their rows into
    reused copies, `moved`, in the order drawn (the same order and the same
    draws as without moving). The order itself is then not written (a third
    of the C shuffle's work): it is redrawn from the generator's state saved
    before the draw by materialize(), which every reader of the order in
    copy mode calls first (a mid-epoch pause, a divergence replay)."""

    def __init__(self, N, per_call, rng, mode=True, chunk_rows=0, window_chunks=0, rows=None):
        self.N, self.rng = N, rng
        self.mode, self.chunk_rows, self.window_chunks = mode, chunk_rows, window_chunks
        self.buffer = _SCRATCH.take((N * per_call,), np.int64)
        self.ids = _SCRATCH.take((N if mode is True and shuffling.n_buckets(N) > 1 else 0,), np.uint16)
        self.rows = tuple((a, _SCRATCH.take(a.shape, a.dtype)) for a in rows) if rows else ()
        self.moved = tuple(dst for _, dst in self.rows)
        self.lazy = None           # the state to redraw buffer[:N] from, when it was not written

    def release(self):
        """Gives the buffers back for the next training call in this thread
        (nothing of this object may be used after)."""
        _SCRATCH.give([self.buffer, self.ids, *self.moved])

    def draw(self, k, first=None, move=False):
        """k orders; with `first`, the first is that (already drawn) order.
        move (k == 1, no `first`): the rows are moved too, into self.moved."""
        e0 = 0
        self.lazy = None
        if move and self.rows and first is None and k == 1 and self.mode is True:
            self.lazy = self.rng.bit_generator.state
            shuffling.draw(self.rng, None, self.ids, self.rows)
            return self.buffer[:self.N]
        if first is not None and k > 0:
            np.copyto(self.buffer[:self.N], first)
            e0 = 1
        if self.mode == "window":
            for e in range(e0, k):
                order, at = self.buffer[e * self.N:(e + 1) * self.N], 0
                for rows in window_orders(self.N, self.chunk_rows, self.window_chunks, self.rng):
                    order[at:at + rows.size] = rows
                    at += rows.size
        else:
            for e in range(e0, k):
                shuffling.draw(self.rng, self.buffer[e * self.N:(e + 1) * self.N], self.ids,
                               self.rows if move else ())
        return self.buffer[:k * self.N]

    def materialize(self):
        """Writes the last draw's order into the buffer if the draw moved
        rows without writing it: the same draws again, from the saved state,
        on a copy of the generator (whose own state stays where it is)."""
        if self.lazy is not None:
            bg = copy.deepcopy(self.rng.bit_generator)
            bg.state = self.lazy
            shuffling.draw(np.random.Generator(bg), self.buffer[:self.N], self.ids)
            self.lazy = None

    def state(self):
        return self.rng.bit_generator.state

    def rewind(self, state, k):
        """Puts the generator back to `state`, then draws k orders: as if only
        k had been drawn since (the buffer's first k orders are unchanged)."""
        self.rng.bit_generator.state = state
        self.draw(k)


class _CRunner:
    """Buffers for the C core; one call runs part of a chunk of epochs."""

    def __init__(self, trainer, batch, X, y, sw):
        m = trainer.model
        self.t, self.m, self.batch, self.X, self.y = trainer, m, batch, X, y
        self.sw = sw if sw is not None else np.empty(0, dtype=m.dtype)
        self.loss_id, self.optim_id = LOSSES[trainer.loss], OPTIMIZERS[trainer.optimizer.name]
        self.chunk = min(batch, CHUNK_ROWS)
        self.ws = np.empty(_core.workspace_len(m._sizes, m._acts, self.chunk, self.optim_id), dtype=m.dtype)
        self.grad = np.empty_like(m.params)
        self.hyper = trainer._hyper()
        self.reset_prev()

    def reset_prev(self):
        """What a divergence rolls back to := the current params, state and step count."""
        m, t = self.m, self.t
        _core.reset_prev(m._sizes, m._acts, self.chunk, self.optim_id, m.params, t.state, t.step_count, self.ws)

    def run(self, idx, n_epochs, start_batch, lrs, max_batches, max_steps, grad_tol, acc, data=None):
        """One C call; adds to the epoch sums acc = (loss, penalty, weight, rows), each n_epochs long.
        data: (X, y[, sw]) rows already in the order idx (one epoch): trained in sequence."""
        m, t = self.m, self.t
        X, y, sw = self.X, self.y, self.sw
        if data is not None:
            X, y, sw, idx = data[0], data[1], data[2] if len(data) > 2 else self.sw, _NO_INDEX
        return _core.train(
            m._sizes, m._acts, self.loss_id, self.optim_id, self.batch, self.chunk, max_steps, grad_tol,
            max_batches, m.params, self.grad, t.state, self.ws, X, y, sw, idx, n_epochs,
            start_batch, lrs, t.step_count, acc[0], acc[1], acc[2], acc[3], **self.hyper,
            n_threads=t.n_threads)

    def previous(self):
        """The params before the last update (the workspace starts with them)."""
        return self.ws[:self.m.n_params].copy()

    def full_grad_norm(self):
        _, grad = self.m._loss_and_grad(self.X, self.y, self.t.loss, None if self.sw.size == 0 else self.sw,
                                        self.t.huber_delta, self.t.l2)
        return reference.grad_norm(grad)


class _NumpyRunner(_CRunner):
    """The same contract on gradfit.reference."""

    def __init__(self, trainer, batch, X, y, sw):
        self.ref = reference.Reference(trainer.model, trainer.loss, huber_delta=trainer.huber_delta)
        super().__init__(trainer, batch, X, y, sw)
        self.ref_hyper = {k: v for k, v in self.hyper.items() if k != "huber_delta"}

    def reset_prev(self):
        self.ref.reset_prev(self.t.state, self.t.step_count)

    def run(self, idx, n_epochs, start_batch, lrs, max_batches, max_steps, grad_tol, acc, data=None):
        t = self.t                 # (`data` is never given here: the numpy backend trains through idx)
        return self.ref._train(self.X, self.y, self.sw, idx, n_epochs, start_batch, self.batch, lrs, max_steps,
                               max_batches, grad_tol, t.state, t.step_count, acc[0], acc[1], acc[2], acc[3],
                               optimizer=t.optimizer.name, **self.ref_hyper)

    def previous(self):
        return self.ref.prev.copy()

    def full_grad_norm(self):
        _, grad = self.ref.loss_and_grad(self.X, self.y, None if self.sw.size == 0 else self.sw, self.t.l2)
        return reference.grad_norm(grad)


def train(model: MLP, X: ArrayLike, y: ArrayLike, *, loss: str = "mse", optimizer: str | Optimizer = "sgd",
          lr: float | None = None, batch_size: int | None = 32, epochs: int | None = 1,
          shuffle: bool | str | None = None,
          seed: int | np.random.Generator | None = None, max_steps: int | None = None,
          grad_tol: float | None = None, sample_weight: ArrayLike | None = None, momentum: float | None = None,
          nesterov: bool | None = None, beta1: float | None = None, beta2: float | None = None,
          eps: float | None = None, weight_decay: float | None = None, l2: float = 0.0, huber_delta: float = 1.0,
          lr_schedule: Schedule | Callable[[int], float] | None = None,
          validation_data: Sequence[ArrayLike] | None = None, validation_fraction: float | None = None,
          early_stopping: bool = False, patience: int = 10, min_delta: float = 0.0,
          restore_best_weights: bool = True, callbacks: Any = None, progress: bool = False,
          backend: str = "c", checkpoint: str | os.PathLike[str] | None = None,
          checkpoint_every: int | None = None, checkpoint_seconds: float | None = None,
          n_threads: int = 1, chunk_rows: int = 65536, window_chunks: int = 8) -> TrainResult:
    """Train `model` in place by minibatch gradient descent; the one-call form of :class:`Trainer`.

    Each step computes the loss and every gradient at the current parameters,
    then updates all parameters together (plain SGD: ``p -= lr * dloss/dp``).

    Parameters
    ----------
    model : MLP
        The network to train; its parameters are updated in place.
    X : array_like of shape (n_samples, n_inputs), numpy.memmap or gradfit.data.Chunks
        Finite input rows (converted to the model's dtype; a pandas DataFrame
        works if every column is numeric). A ``numpy.memmap`` (e.g.
        ``numpy.load(path, mmap_mode="r")``) or a :class:`gradfit.data.Chunks`
        stream is read block by block: memory is bounded by the block and
        window sizes, not by n_samples (see docs/out_of_core.md; then y is
        None for a Chunks, and validation_fraction and grad_tol are refused;
        a memmap with batch_size=None is read in place as an array).
    y : array_like of shape (n_samples, n_outputs), or (n_samples,) for one output
        Finite targets; for ``loss="cross_entropy"`` int class ids (n_samples,)
        or one-hot / probability rows.
    loss : str, default "mse"
        "mse" (mean over samples and outputs of (pred - y)**2, no 1/2 factor),
        "sse" (the sum), "mae", "huber", "cross_entropy" or
        "binary_cross_entropy"; see :class:`Trainer`.
    optimizer : {"sgd", "adam", "adamw"} or Optimizer, default "sgd"
    lr : float, optional
        Learning rate (step size), a positive finite number; default 0.01
        for SGD, 0.001 for Adam and AdamW.
    batch_size : int or None, default 32
        Rows per step. The last, shorter batch of an epoch is used. None (or
        a value >= n_samples) is full-batch gradient descent.
    epochs : int or None, default 1
        Passes over the data. None means no epoch limit (then max_steps is
        required).
    shuffle : bool, "window" or None, default None
        True: visit the rows in the order ``gradfit.epoch_order(rng, n_samples)`` each
        epoch, with ``rng = numpy.random.default_rng(seed)``. "window":
        shuffle the order of blocks of `chunk_rows` rows, then the rows
        within each window of `window_chunks` blocks (reads whole blocks;
        see :func:`gradfit.training.window_orders`). False: the given order.
        None: True for in-memory arrays, "window" for a memmap or a Chunks
        stream. Full-batch steps do not depend on the order and are not
        shuffled.
    chunk_rows : int, default 65536
        Rows per block (shuffle="window", and reads from a memmap).
    window_chunks : int, default 8
        Blocks whose rows shuffle="window" mixes together.
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
    sample_weight, momentum, nesterov, beta1, beta2, eps, weight_decay, l2, huber_delta, lr_schedule,
    validation_data, validation_fraction, early_stopping, patience, min_delta, restore_best_weights,
    callbacks, progress, checkpoint, checkpoint_every, checkpoint_seconds, n_threads
        As for :class:`Trainer` and :meth:`Trainer.fit` (checkpoints: see
        :meth:`Trainer.set_checkpoint`).
    backend : {"c", "numpy"}, default "c"
        "c": the compiled core. "numpy": ``gradfit.reference``, the same
        algorithm in NumPy (the correctness oracle and benchmark baseline).

    Returns
    -------
    TrainResult
        ``history["loss"]`` (one value per epoch: the mean of its minibatch
        losses, each measured before its update, weighted by batch size) and
        ``history["lr"]``, ``final_loss`` (the loss over all of X, y at the
        returned parameters, by one forward pass over the data: about a third
        of the cost of an epoch), ``steps``, ``epochs``, ``stop_reason``
        ("epochs", "max_steps", "grad_tol", "diverged", "early_stopping" or
        "callback"), ``grad_norm``, ``restored``, ``seconds`` and
        ``samples_per_second`` (the whole call, as a stopwatch around it sees it).

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
    Calling train() again continues from the model's current parameters but
    with a fresh optimizer state (momentum, Adam's moments and step count start
    again). Use a :class:`Trainer` to continue a run exactly.

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
    trainer = Trainer(model, optimizer, loss, lr=lr, momentum=momentum, nesterov=nesterov, beta1=beta1,
                      beta2=beta2, eps=eps, weight_decay=weight_decay, l2=l2, huber_delta=huber_delta,
                      batch_size=batch_size, shuffle=shuffle, seed=seed, lr_schedule=lr_schedule,
                      validation_data=validation_data, validation_fraction=validation_fraction,
                      early_stopping=early_stopping, patience=patience, min_delta=min_delta,
                      restore_best_weights=restore_best_weights, callbacks=callbacks, progress=progress,
                      backend=backend, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                      checkpoint_seconds=checkpoint_seconds, n_threads=n_threads, chunk_rows=chunk_rows,
                      window_chunks=window_chunks)
    result = trainer.fit(X, y, epochs, sample_weight=sample_weight, max_steps=max_steps, grad_tol=grad_tol)
    seen = result.samples_per_second * result.seconds
    result.seconds = time.perf_counter() - start_time
    result.samples_per_second = seen / result.seconds if result.seconds > 0 else float("inf")
    return result
