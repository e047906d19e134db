"""Callbacks and progress reporting for training.

A callback is a function ``f(info)`` called after every epoch, or an object
with ``on_epoch_end(info)`` and/or ``on_progress(info)``. ``on_progress`` is
called after every call into the C core: every ~0.1 s of work, in the middle
of an epoch when an epoch is long. A callback stops training by returning
True or by calling ``info.stop()``; training then ends after the current
epoch (``on_epoch_end``) or at once (``on_progress``), with the parameters of
the last completed step and ``stop_reason="callback"``.
"""
from __future__ import annotations

import sys
import time
from typing import IO, Any

from .result import _si

__all__ = ["TrainInfo", "ProgressBar", "as_callbacks"]


class TrainInfo:
    """What a callback sees.

    Attributes
    ----------
    epoch : int
        Epochs completed so far in the Trainer's life (after an epoch: the
        number of that epoch, counted from 1).
    epoch_fraction : float
        How far into the current epoch training is (0 after a whole epoch).
    epochs : int or None
        Epochs this call will run (None: bounded by max_steps only).
    step : int
        Updates made so far.
    loss, val_loss, lr : float or None
        The last epoch's values (val_loss None without validation data).
    history : dict
        The Trainer's history so far.
    model : MLP
    elapsed : float
        Seconds since this call began.
    samples_per_second : float
    """

    epoch: int
    epoch_fraction: float
    epochs: int | None
    step: int
    loss: float | None
    val_loss: float | None
    lr: float | None
    history: dict[str, list[float]]
    model: Any
    elapsed: float
    samples_per_second: float

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)
        self.stop_requested = False

    def stop(self) -> None:
        """Ask training to stop (after this epoch, or now when called from on_progress)."""
        self.stop_requested = True

    def __repr__(self):
        return (f"TrainInfo(epoch={self.epoch}, step={self.step}, loss={self.loss!r}, "
                f"val_loss={self.val_loss!r}, lr={self.lr!r})")


class _FunctionCallback:
    def __init__(self, fn):
        self.fn = fn

    def on_epoch_end(self, info):
        return self.fn(info)


def as_callbacks(callbacks: Any) -> list[Any]:
    """A list of objects with on_epoch_end / on_progress (functions wrapped)."""
    if callbacks is None:
        return []
    if callable(callbacks) or hasattr(callbacks, "on_epoch_end") or hasattr(callbacks, "on_progress"):
        callbacks = [callbacks]
    try:
        items = list(callbacks)
    except TypeError:
        raise TypeError(f"callbacks: expected a list of functions or callback objects, "
                        f"got {type(callbacks).__name__}") from None
    out = []
    for i, cb in enumerate(items):
        if hasattr(cb, "on_epoch_end") or hasattr(cb, "on_progress"):
            out.append(cb)
        elif callable(cb):
            out.append(_FunctionCallback(cb))
        else:
            raise TypeError(f"callbacks[{i}]: expected a function info -> stop or an object with "
                            f"on_epoch_end / on_progress, got {type(cb).__name__}")
    return out


class ProgressBar:
    """Shows training progress. ``train(..., progress=True)`` adds one.

    With tqdm installed: a bar of epochs (fractions within long epochs) with
    the loss, the validation loss and samples/s once measured. Without tqdm,
    on a terminal: one line, rewritten in place; elsewhere (a log file, a
    pipe): a line for the first and the last epoch and about every tenth of
    the run in between (every 10 s when the number of epochs is open).

    Parameters
    ----------
    file : file-like, optional
        Where to write (default sys.stderr).
    use_tqdm : bool or None
        None: use tqdm if it can be imported.
    """

    LINES = 10               # lines per run on a non-terminal, besides the first and the last
    SECONDS = 10.0           # ... or at most one per this many seconds when the epochs are open

    def __init__(self, file: IO[str] | None = None, use_tqdm: bool | None = None) -> None:
        self.file = file or sys.stderr
        self.bar: Any = None
        self._tqdm = None
        if use_tqdm is None or use_tqdm:
            try:
                import tqdm
                self._tqdm = tqdm.tqdm
            except ImportError:
                if use_tqdm:
                    raise
        isatty = getattr(self.file, "isatty", None)
        self._terminal = bool(isatty and isatty())
        self._last = 0.0
        self._printed: tuple[int, float] | None = None     # (tenth of the run, time) of the last plain line
        self._open_line = False

    @staticmethod
    def _postfix(info):
        parts = {}
        if info.loss is not None:
            parts["loss"] = f"{info.loss:.4g}"
        if info.val_loss is not None:
            parts["val_loss"] = f"{info.val_loss:.4g}"
        if info.samples_per_second > 0 and info.epoch + info.epoch_fraction > 0:
            parts["samples/s"] = _si(info.samples_per_second)
        return parts

    def on_progress(self, info: TrainInfo) -> None:
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        if self._tqdm is not None:
            self._show_bar(info)
        elif self._terminal:
            self._rewrite(self._line(info))

    def _show_bar(self, info):
        if self.bar is None:
            # no tqdm rate: epochs per second says little; samples/s is in the postfix
            fmt = ("{l_bar}{bar}| {n:.2f}/{total_fmt} epochs [{elapsed}<{remaining}{postfix}]" if info.epochs
                   else "{desc}{n:.2f} epochs [{elapsed}{postfix}]")
            self.bar = self._tqdm(total=info.epochs, file=self.file, leave=True, bar_format=fmt)
        self.bar.n = round(info.epoch + info.epoch_fraction, 2)
        self.bar.set_postfix(self._postfix(info), refresh=False)
        self.bar.refresh()

    @classmethod
    def _line(cls, info):
        total = f"/{info.epochs}" if info.epochs else ""
        fields = "  ".join(f"{k} {v}" for k, v in cls._postfix(info).items())
        lr = f"  lr {info.lr:.3g}" if info.lr is not None else ""
        return f"epoch {info.epoch + info.epoch_fraction:.4g}{total}  {fields}{lr}".rstrip()

    def _rewrite(self, line):
        self.file.write("\r\033[K" + line)
        self.file.flush()
        self._open_line = True

    def on_epoch_end(self, info: TrainInfo) -> None:
        if self._tqdm is not None:
            self._last = 0.0
            self._show_bar(info)
        elif self._terminal:
            self._rewrite(self._line(info))
        elif self._due(info):
            print(self._line(info), file=self.file, flush=True)

    def _due(self, info):
        """A plain line now: the first or last epoch, a new tenth of the run, or SECONDS since the last."""
        now = time.monotonic()
        tenth = info.epoch * self.LINES // info.epochs if info.epochs else -1
        due = (self._printed is None or (info.epochs and info.epoch >= info.epochs)
               or (tenth >= 0 and tenth > self._printed[0])
               or (tenth < 0 and now - self._printed[1] >= self.SECONDS))
        if due:
            self._printed = (tenth, now)
        return due

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self._open_line:
            self.file.write("\n")
            self.file.flush()
            self._open_line = False
