"""The Trainer: one model's training over several calls (optimizer state,
step count, shuffling generator, epochs, history, schedule, early stopping,
checkpoints), and train(), its one-call form.

The Trainer holds the settings and the state; each fit() call hands them to
a run (gradfit._loop over arrays, gradfit._out_of_core over a memmap or a
stream) that drives the C core (or gradfit.reference for backend="numpy").
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from ._array_run import ArrayRun
from ._codec import trainer_file
from ._names import BACKENDS, LOSSES, OPTIMIZERS, lookup
from ._npzfile import check_destination, write_npz
from ._out_of_core import block_run
from ._targets import check_loss_fits_model, check_sample_weight, check_targets, labels_of, validation_split
from ._validate import check_int, check_non_negative, check_positive, check_seed, check_threads, check_X
from .callbacks import as_callbacks
from .data import Chunks
from .model import MLP
from .optimizers import Optimizer, as_optimizer
from .result import DivergenceWarning, TrainResult
from .schedules import Cosine, Schedule, as_schedule

__all__ = ["Trainer", "train", "DivergenceWarning"]


def _check_shuffle(value):
    """True, False or "window" (None: True, with memmaps and streams getting "window" at fit time)."""
    if value is None:
        return True
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value == "window":
        return "window"
    raise TypeError(f"shuffle: expected True, False, 'window' or None, got {type(value).__name__} {value!r}")


def check_bool(value, argument):
    """`value` as a bool, or TypeError naming `argument`."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{argument}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


# The validation split's seed drawn from a spawned child, by the child's seed sequence (a few hundred kept)
_SPLIT_SEEDS: dict = {}


def _split_seed(rng):
    """int(rng.spawn(1)[0].integers(1 << 62)): the seed of the validation
    split. The spawn is made (it advances the generator's seed sequence as
    before); the child's draw is remembered by the child's entropy and
    spawn key, since building a generator for it costs more than the rest
    of a Trainer's checks."""
    bg = rng.bit_generator
    ss = bg.seed_seq
    if type(rng) is not np.random.Generator or type(bg) is not np.random.PCG64 \
            or type(ss) is not np.random.SeedSequence:
        return int(rng.spawn(1)[0].integers(1 << 62))
    child = ss.spawn(1)[0]
    key = (child.entropy, child.spawn_key, child.pool_size)
    hit = _SPLIT_SEEDS.get(key) if isinstance(child.entropy, int) else None
    if hit is None:
        hit = int(np.random.Generator(np.random.PCG64(child)).integers(1 << 62))
        if isinstance(child.entropy, int):
            if len(_SPLIT_SEEDS) >= 256:
                _SPLIT_SEEDS.clear()
            _SPLIT_SEEDS[key] = hit
    return hit


# Per thread: the Run class gradfit._fused has a thread's Trainers use (unset: ArrayRun).
RUN_HOOK = threading.local()


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
        probability rows (N, K)), "binary_cross_entropy" (a logit per
        output; y holds 0/1 or probabilities; several outputs are
        independent labels: multilabel) or "poisson" (y holds counts or
        rates >= 0; the output is the log of the mean, ``exp(z) - y z`` per
        output, see :meth:`MLP.predict_mean`). These losses need an identity
        output layer: the model outputs logits (log-means for poisson).
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
        Returning True or calling ``info.stop()`` stops training. A callback
        that raises stops it too, and the exception propagates: the Trainer
        is left as a stop at that point would leave it (mid-epoch, its partial
        epoch is kept), so the next ``fit`` continues exactly, bit for bit;
        with a memmap or a stream the whole call is rolled back instead.
    progress : bool, default False
        Show a progress bar (tqdm if installed, else a line per epoch).
    backend : {"c", "numpy"}, default "c"
    checkpoint, checkpoint_every, checkpoint_seconds : optional
        Write the Trainer to this file while it trains; see :meth:`set_checkpoint`.
    n_threads : int, default 1
        Threads for the matrix products of wide layers (products under ~2M
        multiply-adds stay on one thread). Any number gives the same numbers,
        bit for bit.
    tol, n_iter_no_change, max_epochs : default 1e-4, 10, 200
        When ``fit`` is given no epochs (nor max_steps) it trains until
        converged: until the epoch's training loss has not fallen below the
        best so far by more than tol for n_iter_no_change epochs running
        (stop_reason "converged"), at most max_epochs epochs. These are
        scikit-learn's MLP defaults (tol, n_iter_no_change, max_iter).

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
                 n_threads: int = 1, chunk_rows: int = 65536, window_chunks: int = 8, tol: float = 1e-4,
                 n_iter_no_change: int = 10, max_epochs: int = 200) -> None:
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
        self._split_seed = _split_seed(self.rng)
        self.schedule = as_schedule(lr_schedule)
        if isinstance(self.schedule, Cosine) and self.schedule.min_lr > self.optimizer.lr:
            raise ValueError(f"lr_schedule: Cosine's min_lr is the rate it decays to, at most the optimizer's "
                             f"lr {self.optimizer.lr:g}, got min_lr={self.schedule.min_lr:g}")
        if validation_data is not None and validation_fraction is not None:
            raise ValueError("validation_fraction: give validation_data or validation_fraction, not both")
        if validation_fraction is not None:
            if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (int, float)) \
                    or not 0 < validation_fraction < 1:
                raise ValueError(f"validation_fraction: expected a number in (0, 1), got {validation_fraction!r}")
        self.validation_fraction = validation_fraction
        self.set_validation_data(validation_data)
        if not isinstance(early_stopping, (bool, np.bool_)):
            raise TypeError(f"early_stopping: expected True or False, got {early_stopping!r}")
        self.early_stopping = bool(early_stopping)
        self.patience = check_int(patience, "patience", 1)
        self.min_delta = check_non_negative(min_delta, "min_delta")
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")
        self.callbacks = as_callbacks(callbacks)
        self.progress = check_bool(progress, "progress")
        self.set_checkpoint(checkpoint, checkpoint_every, checkpoint_seconds)
        self.n_threads = check_threads(n_threads)
        self.tol = check_non_negative(tol, "tol")
        self.n_iter_no_change = check_int(n_iter_no_change, "n_iter_no_change", 1)
        self.max_epochs = check_int(max_epochs, "max_epochs", 1)

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
        continues exactly, bit for bit, as if it had never stopped.

        Like :meth:`MLP.save`: an existing file keeps its mode (and owner,
        where allowed), a symlink is followed, a hard link is broken, a
        read-only file is refused (PermissionError), and a Trainer holding
        NaN or inf (parameters, optimizer state, best parameters) is refused
        (ValueError) before anything is written."""
        write_npz(path, *trainer_file(self.state_dict(), self.model))

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

    def fit(self, X: ArrayLike, y: ArrayLike, epochs: int | None = None, *, sample_weight: ArrayLike | None = None,
            max_steps: int | None = None, grad_tol: float | None = None) -> TrainResult:
        """Train `epochs` more epochs, continuing from where the last call stopped.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_inputs)
        y : array_like
            Targets for the Trainer's loss (see the class docstring).
        epochs : int or None, default None
            More epochs to run. None: train until converged (the training
            loss fell by no more than ``tol`` for ``n_iter_no_change`` epochs
            running), at most ``max_epochs`` epochs, with a
            :class:`~gradfit.result.ConvergenceWarning` if that limit ends the
            run while the loss is still falling; None with max_steps: no
            epoch limit, max_steps bounds the run.
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
        epochs, max_steps, grad_tol = self._fit_limits(epochs, max_steps, grad_tol)
        # a memmap in full-batch mode takes the in-memory path (the C core reads the file in place)
        if isinstance(X, Chunks) or (isinstance(X, np.memmap) and self.batch_size is not None):
            run = block_run(self, X, y, sample_weight, epochs, max_steps, grad_tol, start_time)
            return self._locked(run.result)
        make_run = self._array_run(X, y, sample_weight, epochs, max_steps, grad_tol, start_time)
        return self._locked(lambda: make_run().result())

    def _fit_limits(self, epochs, max_steps, grad_tol):
        """fit()'s epochs, max_steps and grad_tol, checked (and the checkpoint's destination)."""
        epochs = check_int(epochs, "epochs", 0, allow_none=True)
        max_steps = check_int(max_steps, "max_steps", 0, allow_none=True)
        grad_tol = check_positive(grad_tol, "grad_tol", allow_none=True)
        if self.checkpoint is not None:          # a checkpoint that cannot be written fails now, not after epoch 1
            check_destination(self.checkpoint, "checkpoint")
        return epochs, max_steps, grad_tol

    def _array_run(self, X, y, sample_weight, epochs, max_steps, grad_tol, start_time, run_class=None,
                   checked=False):
        """Checks X, y and the weights (and splits off the validation rows);
        returns a function that makes fit()'s Run on them (to call while
        holding the model's lock). checked: X and y are already what the
        checks of X and y return for this model and loss (gradfit._fused
        checks the data its jobs share once)."""
        model = self.model
        if not checked:
            X = check_X(X, model.n_inputs, model.dtype, sparse=True)
            y = check_targets(y, X.shape[0], model, self.loss)
        sw = check_sample_weight(sample_weight, X.shape[0], model.dtype, loss=self.loss)
        val = self.validation_data
        if self.validation_fraction is not None:
            rows, held = validation_split(X.shape[0], self.validation_fraction,
                                          np.random.default_rng(self._split_seed), labels_of(y, self.loss))
            val = (X[held], y[held], None if sw is None else sw[held])
            X, y, sw = X[rows], y[rows], None if sw is None else sw[rows]
            if sw is not None and not (sw > 0).any():
                raise ValueError("sample_weight: every training row left by validation_fraction has weight 0")
        # gradfit._fused (train_many's fused jobs) gives its own Run class, to this Trainer or this thread
        run_class = run_class or getattr(self, "_run_class", None) or getattr(RUN_HOOK, "run_class", None) \
            or ArrayRun
        return lambda: run_class(self, X, y, sw, val, epochs, max_steps, grad_tol, start_time)

    def _locked(self, run):
        """run() while holding the model's training lock, on finite parameters."""
        self._lock()
        try:
            return run()
        finally:
            self._unlock()

    def _lock(self):
        """Takes the model's training lock (an error if it is taken), on finite parameters."""
        model = self.model
        if not model._lock.acquire(blocking=False):
            if getattr(model, "_trained_by", None) == threading.get_ident():
                raise RuntimeError("model: already being trained by this thread: a training call inside a "
                                   "callback of another on the same model; train a copy (model.copy())")
            raise RuntimeError("model: already being trained (in another thread); train a copy "
                               "(model.copy()) or wait for the other call to return")
        model._trained_by = threading.get_ident()
        try:
            model._check_params_finite()
        except BaseException:
            self._unlock()
            raise

    def _unlock(self):
        self.model._trained_by = None
        self.model._lock.release()

    # -- helpers ---------------------------------------------------------------
    def set_validation_data(self, data: Sequence[ArrayLike] | None) -> None:
        """Checks and sets ``validation_data``: None, ``(X_val, y_val)`` or
        ``(X_val, y_val, sample_weight_val)`` (not saved in Trainer files)."""
        self.validation_data = self._checked_validation_data(data)

    def _checked_validation_data(self, data):
        if data is None:
            return None
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise TypeError("validation_data: expected a tuple (X_val, y_val) or (X_val, y_val, sample_weight_val)")
        m = self.model
        Xv = check_X(data[0], m.n_inputs, m.dtype, "validation_data[0]", sparse=True)
        yv = check_targets(data[1], Xv.shape[0], m, self.loss, "validation_data[1]")
        wv = (check_sample_weight(data[2], Xv.shape[0], m.dtype, "validation_data[2]", loss=self.loss)
              if len(data) == 3 else None)
        return Xv, yv, wv

    def _hyper(self):
        return dict(self.optimizer.hyper(), huber_delta=self.huber_delta, l2=self.l2)

    # -- state (what a Trainer file holds) -------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly: ``"settings"`` (the
        keyword arguments to build an equal Trainer: optimizer, loss, l2,
        batch_size, shuffle, lr_schedule, early stopping, ...; not callbacks,
        validation_data, checkpoints or threads) and the state, which
        :meth:`load_state_dict` takes: the optimizer state buffer, the step
        count, the epoch, the history, the shuffling generator's state, the
        validation split's seed, early stopping's best and wait, and a partial
        epoch. Arrays are the Trainer's own (copy them to keep them)."""
        settings = {k: getattr(self, k) for k in (
            "optimizer", "loss", "l2", "huber_delta", "batch_size", "chunk_rows", "window_chunks",
            "validation_fraction", "early_stopping", "patience", "min_delta", "restore_best_weights",
            "progress", "backend", "tol", "n_iter_no_change", "max_epochs")}
        settings["shuffle"] = None if self._shuffle_auto else self.shuffle
        settings["lr_schedule"] = self.schedule
        return {"settings": settings, "optimizer_state": self.state, "step_count": self.step,
                "epoch": self.epoch, "history": self.history, "rng": self.rng.bit_generator.state,
                "split_seed": self._split_seed, "best": self._best, "wait": self._wait, "pending": self._pending}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Sets the state part of :meth:`state_dict` (its "settings" are the
        constructor's business). The optimizer state must have this Trainer's
        length; the generator's state gets a new generator of its kind."""
        opt_state = np.asarray(state["optimizer_state"], dtype=self.model.dtype)
        if opt_state.shape != self.state.shape:
            raise ValueError(f"state: expected an optimizer state of shape {self.state.shape}, got {opt_state.shape}")
        rng_state = state["rng"]
        bit_generator = getattr(np.random, rng_state["bit_generator"])()
        bit_generator.state = rng_state
        self.state[...] = opt_state
        self.step_count[0] = int(state["step_count"])
        self.epoch = int(state["epoch"])
        self.history = {k: [float(v) for v in values] for k, values in state["history"].items()}
        self.rng = np.random.Generator(bit_generator)
        self._split_seed = int(state["split_seed"])
        self._best, self._wait, self._pending = state["best"], int(state["wait"]), state["pending"]


def train(model: MLP, X: ArrayLike, y: ArrayLike, *, epochs: int | None = None,
          sample_weight: ArrayLike | None = None, max_steps: int | None = None, grad_tol: float | None = None,
          **settings: Any) -> TrainResult:
    """Train `model` in place by minibatch gradient descent: ``Trainer(model,
    **settings).fit(X, y, epochs, ...)`` in one call.

    Each step computes every gradient at the current parameters, then updates
    all parameters together (plain SGD: ``p -= lr * dloss/dp``).

    Parameters
    ----------
    model : MLP
        The network to train; its parameters are updated in place.
    X : array_like of shape (n_samples, n_inputs), scipy.sparse matrix, numpy.memmap or gradfit.data.Chunks
        Finite input rows (in the model's dtype; a DataFrame of numeric columns
        works). A memmap or a Chunks stream is read block by block (docs/out_of_core.md;
        y None for a Chunks), a sparse X by its non-zeros (docs/guide/sparse.md).
    y : array_like of shape (n_samples, n_outputs), or (n_samples,) for one output
        Finite targets; for ``loss="cross_entropy"`` int class ids (n_samples,)
        or one-hot / probability rows.
    epochs, sample_weight, max_steps, grad_tol
        As for :meth:`Trainer.fit`: passes over the data (default None: until
        converged, at most 200), per-row weights, a step limit, and a stop
        when the full-data gradient norm falls below grad_tol.
    settings : keyword arguments (``**settings``)
        Every keyword argument of :class:`Trainer` (documented there):
        ``loss="mse"``, ``optimizer="sgd"``, ``lr``, ``batch_size=32`` (None:
        full batch), ``shuffle``, ``seed``, momentum and Adam's settings,
        ``l2``, ``lr_schedule``, validation and early stopping, ``callbacks``,
        ``progress``, ``backend`` ("c", or "numpy": ``gradfit.reference``, the
        same algorithm in NumPy), checkpoints and ``n_threads``. Two of them:
    lr : float
        Learning rate (step size), a positive finite number; default 0.01 for
        SGD, 0.001 for Adam and AdamW.
    seed : int, numpy.random.Generator or None
        Seed of the shuffles. An int (or None for fresh entropy) starts a new
        generator on every call (the same int repeats the same orders);
        a Generator is used and advanced (a second call continues its stream).

    Returns
    -------
    TrainResult
        ``history["loss"]`` (per epoch: the mean of its minibatch losses, each
        measured before its update, weighted by batch size), ``final_loss``
        (the loss over all of X, y at the returned parameters, computed when
        first read), ``steps``,
        ``epochs``, ``stop_reason``, ``grad_norm``, ``restored``, ``seconds``,
        ``samples_per_second`` (the whole call, as a stopwatch sees it).

    Raises
    ------
    TypeError, ValueError
        For bad arguments, before any training; the model is unchanged.
    RuntimeError
        If the same model is already being trained in another thread.
        (Calling train() again continues from the model's parameters with a
        fresh optimizer state: use a :class:`Trainer` to continue exactly.)

    Warns
    -----
    DivergenceWarning
        If the loss became NaN or inf; see ``TrainResult.restored``.

    Examples
    --------
    >>> import numpy as np, gradfit as gf
    >>> model = gf.MLP([1, 1], weights=[[[1.0]]], biases=[[0.0]])
    >>> r = gf.train(model, np.array([[2.1]]), np.array([4.0]), lr=0.01, batch_size=1, epochs=1)
    >>> round(model.loss([[2.1]], [4.0]), 10)
    2.8710591364
    """
    start_time = time.perf_counter()
    if not isinstance(model, MLP):
        raise TypeError(f"model: expected a gradfit.MLP, got {type(model).__name__}")
    result = Trainer(model, **settings).fit(X, y, epochs, sample_weight=sample_weight, max_steps=max_steps,
                                            grad_tol=grad_tol)
    seen = result.samples_per_second * result.seconds
    result.seconds = time.perf_counter() - start_time
    result.samples_per_second = seen / result.seconds if result.seconds > 0 else float("inf")
    return result
