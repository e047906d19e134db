"""Learning-rate schedules: the lr used in each epoch (epochs counted from 0).

Pass one to ``train(..., lr_schedule=...)`` or a ``Trainer``; ``lr`` is the
base rate the schedule scales. Any callable ``epoch -> lr`` works too. The lr
of every epoch is recorded in ``history["lr"]``::

    Constant()                          lr
    Step(every, factor)                 lr * factor ** (epoch // every)
    Exponential(gamma)                  lr * gamma ** epoch
    InverseScaling(power_t)             lr / (epoch + 1) ** power_t
    Cosine(epochs, warmup, min_lr)      linear warm-up, then a half cosine to min_lr
    ReduceOnPlateau(patience, factor)   lr * factor each time the monitored loss
                                        has not improved for `patience` epochs
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from ._validate import check_int, check_non_negative, check_positive

__all__ = ["Schedule", "Constant", "Step", "Exponential", "InverseScaling", "Cosine", "ReduceOnPlateau",
           "as_schedule"]


def _fraction(value, argument, closed_top=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument}: expected a number in (0, 1{']' if closed_top else ')'}, "
                        f"got {type(value).__name__} {value!r}")
    value = float(value)
    if not (0 < value < 1 or (closed_top and value == 1)):
        raise ValueError(f"{argument}: expected a number in (0, 1{']' if closed_top else ')'}, got {value!r}")
    return value


class Schedule:
    """Base class: ``lr(epoch, base_lr)`` gives the rate of an epoch.

    Schedules that react to the training (ReduceOnPlateau) also define
    ``update(epoch, value)``, called after each epoch with the monitored loss,
    and keep their position in ``state()`` / ``set_state()`` so that a
    Trainer resumes them exactly."""

    needs_feedback: bool = False

    def lr(self, epoch: int, base_lr: float) -> float:
        raise NotImplementedError

    def update(self, epoch: int, value: float) -> None:
        """Called after every epoch with the monitored loss; most schedules ignore it."""

    def state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass

    def _args(self) -> str:
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self._args()})"


class Constant(Schedule):
    """The base rate in every epoch."""

    def lr(self, epoch: int, base_lr: float) -> float:
        return base_lr


class Step(Schedule):
    """``base_lr * factor ** (epoch // every)``: multiply by `factor` every `every` epochs.

    Parameters
    ----------
    every : int >= 1
    factor : float in (0, 1], default 0.1
    """

    def __init__(self, every: int, factor: float = 0.1) -> None:
        self.every = check_int(every, "every", 1)
        self.factor = _fraction(factor, "factor", closed_top=True)

    def lr(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.factor ** (epoch // self.every)

    def _args(self) -> str:
        return f"every={self.every}, factor={self.factor:g}"


class Exponential(Schedule):
    """``base_lr * gamma ** epoch``.

    Parameters
    ----------
    gamma : float in (0, 1]
    """

    def __init__(self, gamma: float) -> None:
        self.gamma = _fraction(gamma, "gamma", closed_top=True)

    def lr(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** epoch

    def _args(self) -> str:
        return f"gamma={self.gamma:g}"


class InverseScaling(Schedule):
    """``base_lr / (epoch + 1) ** power_t`` (scikit-learn's "invscaling",
    counted in epochs).

    Parameters
    ----------
    power_t : float > 0, default 0.5
    """

    def __init__(self, power_t: float = 0.5) -> None:
        self.power_t = check_positive(power_t, "power_t")

    def lr(self, epoch: int, base_lr: float) -> float:
        return base_lr / (epoch + 1) ** self.power_t

    def _args(self) -> str:
        return f"power_t={self.power_t:g}"


class Cosine(Schedule):
    """Linear warm-up, then a half cosine from base_lr down to min_lr.

    ``epoch < warmup``: ``base_lr * (epoch + 1) / warmup``;
    ``warmup <= epoch < epochs``: ``min_lr + (base_lr - min_lr) * (1 + cos(pi * (epoch - warmup) / (epochs - warmup))) / 2``;
    later epochs: ``min_lr``.

    Parameters
    ----------
    epochs : int >= 1
        Length of the schedule, warm-up included.
    warmup : int >= 0, default 0
    min_lr : float >= 0, default 0
        When 0, the last epochs still train: the rate never reaches 0 inside
        the schedule (the cosine's last value is at epoch ``epochs - 1``).
    """

    def __init__(self, epochs: int, warmup: int = 0, min_lr: float = 0.0) -> None:
        self.epochs = check_int(epochs, "epochs", 1)
        self.warmup = check_int(warmup, "warmup", 0)
        if self.warmup >= self.epochs:
            raise ValueError(f"warmup: expected fewer warm-up epochs than epochs={self.epochs}, got {self.warmup}")
        self.min_lr = check_non_negative(min_lr, "min_lr")

    def lr(self, epoch: int, base_lr: float) -> float:
        if epoch < self.warmup:
            return base_lr * (epoch + 1) / self.warmup
        if epoch >= self.epochs:
            return self.min_lr
        phase = (epoch - self.warmup) / (self.epochs - self.warmup)
        # the factor in [0, 1] first: the product cannot overflow (halving is
        # exact, so this is the documented formula's value bit for bit)
        return self.min_lr + (base_lr - self.min_lr) * ((1 + math.cos(math.pi * phase)) / 2)

    def _args(self) -> str:
        return f"epochs={self.epochs}, warmup={self.warmup}, min_lr={self.min_lr:g}"


class ReduceOnPlateau(Schedule):
    """Multiply the rate by `factor` when the monitored loss (the validation
    loss when there is validation data, else the training loss) has not
    improved by more than `min_delta` for `patience` epochs in a row.

    Parameters
    ----------
    patience : int >= 1, default 10
    factor : float in (0, 1), default 0.1
    min_delta : float >= 0, default 0
    min_lr : float >= 0, default 0
    """

    needs_feedback = True
    best: float
    wait: int
    scale: float

    def __init__(self, patience: int = 10, factor: float = 0.1, min_delta: float = 0.0,
                 min_lr: float = 0.0) -> None:
        self.patience = check_int(patience, "patience", 1)
        self.factor = _fraction(factor, "factor")
        self.min_delta = check_non_negative(min_delta, "min_delta")
        self.min_lr = check_non_negative(min_lr, "min_lr")
        self.set_state({})

    def lr(self, epoch: int, base_lr: float) -> float:
        return max(base_lr * self.scale, self.min_lr) if self.scale < 1 else base_lr

    def update(self, epoch: int, value: float) -> None:
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.scale *= self.factor
            self.wait = 0

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "scale": self.scale}

    def set_state(self, state: dict[str, Any]) -> None:
        self.best = float(state.get("best", math.inf))
        self.wait = int(state.get("wait", 0))
        self.scale = float(state.get("scale", 1.0))

    def _args(self) -> str:
        return f"patience={self.patience}, factor={self.factor:g}"


class _Callable(Schedule):
    """A user's function epoch -> lr."""

    def __init__(self, fn: Callable[[int], float]) -> None:
        self.fn = fn

    def lr(self, epoch: int, base_lr: float) -> float:
        value = self.fn(epoch)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                math.isfinite(value) and value > 0):
            raise ValueError(f"lr_schedule: expected the function to return a positive finite lr, "
                             f"got {value!r} for epoch {epoch}")
        return float(value)

    def __repr__(self):
        return f"lr_schedule({getattr(self.fn, '__name__', repr(self.fn))})"


def as_schedule(value: Schedule | Callable[[int], float] | None) -> Schedule:
    """None -> Constant(); a Schedule as is; a callable epoch -> lr wrapped."""
    if value is None:
        return Constant()
    if isinstance(value, Schedule):
        return value
    if isinstance(value, str):
        raise TypeError(f"lr_schedule: expected a gradfit.schedules object or a function epoch -> lr, "
                        f"got the string {value!r} (e.g. use gf.schedules.Cosine(epochs=...))")
    if callable(value):
        return _Callable(value)
    raise TypeError(f"lr_schedule: expected a gradfit.schedules object or a function epoch -> lr, "
                    f"got {type(value).__name__} {value!r}")
