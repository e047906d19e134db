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
    """Shows training progress: a tqdm bar when tqdm is installed (epochs,
    loss, val loss, samples/s; refreshed within long epochs), else one plain
    line per epoch. ``train(..., progress=True)`` adds one.

    Parameters
    ----------
    file : file-like, optional
        Where to write (default sys.stderr).
    use_tqdm : bool or None
        None: use tqdm if it can be imported.
    """

    def __init__(self, file: IO[str] | None = None, use_tqdm: bool | None = None) -> None:
        self.file = file or sys.stderr
        self.bar: Any = None
        if use_tqdm is None or use_tqdm:
            try:
                import tqdm  # noqa: F401
                self._tqdm = tqdm.tqdm
            except ImportError:
                if use_tqdm:
                    raise
                self._tqdm = None
        else:
            self._tqdm = None
        self._last = 0.0

    def _postfix(self, info):
        parts = {}
        if info.loss is not None:
            parts["loss"] = f"{info.loss:.4g}"
        if info.val_loss is not None:
            parts["val_loss"] = f"{info.val_loss:.4g}"
        parts["samples/s"] = _si(info.samples_per_second)
        return parts

    def on_progress(self, info: TrainInfo) -> None:
        if self._tqdm is None:
            return
        if self.bar is None:
            self.bar = self._tqdm(total=info.epochs, unit="epoch", file=self.file, leave=True,
                                  bar_format=None if info.epochs else "{desc} {n:.2f} epochs [{elapsed}{postfix}]")
        self.bar.n = round(info.epoch + info.epoch_fraction, 2)
        now = time.monotonic()
        if now - self._last > 0.1:
            self.bar.set_postfix(self._postfix(info), refresh=False)
            self.bar.refresh()
            self._last = now

    def on_epoch_end(self, info: TrainInfo) -> None:
        if self._tqdm is None:
            total = f"/{info.epochs}" if info.epochs else ""
            fields = "  ".join(f"{k} {v}" for k, v in self._postfix(info).items())
            lr = f"  lr {info.lr:.3g}" if info.lr is not None else ""
            print(f"epoch {info.epoch}{total}  {fields}{lr}", file=self.file, flush=True)
            return
        self.on_progress(info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _si(x):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"
