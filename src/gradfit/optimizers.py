"""Optimizer objects: the update rule and its hyperparameters.

``train(..., optimizer="adam", lr=1e-3)`` and
``train(..., optimizer=gf.Adam(lr=1e-3))`` are the same. The state of an
optimizer (momentum, Adam's moments) lives in the Trainer, as a flat buffer
laid out like ``model.params``; these objects only describe the rule.

With g the gradient of the batch loss (plus the L2 penalty's) and lr the
epoch's learning rate::

    SGD(momentum=0)         p -= lr * g
    SGD(momentum=mu)        v = mu * v + g;  p -= lr * v          (PyTorch's form)
    SGD(mu, nesterov=True)  v = mu * v + g;  p -= lr * (g + mu * v)
    Adam(beta1, beta2, eps) t += 1;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g**2
                            p -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)
    AdamW(..., weight_decay=wd)   W -= lr * wd * W on the weights (not the
                            biases), then the Adam step (decoupled decay)
"""
from __future__ import annotations

import numbers
from typing import Any

from ._validate import check_non_negative, check_positive

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "as_optimizer"]


def _unit_interval(value, argument):
    """A number in [0, 1)."""
    if type(value) is float and 0.0 <= value < 1.0:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument}: expected a number in [0, 1), got {type(value).__name__} {value!r}")
    value = float(value)
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{argument}: expected a number in [0, 1), got {value!r}")
    return value


class Optimizer:
    """Base class. ``name`` is the C core's name for the rule; ``lr`` the
    base learning rate; ``hyper()`` the keyword arguments of the C core."""

    name: str = ""
    lr: float = 0.01

    def hyper(self) -> dict[str, Any]:
        return {}

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({fields})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, > 0.
    momentum : float in [0, 1), default 0
    nesterov : bool, default False
        Nesterov's form (needs momentum > 0).
    """

    name = "sgd"

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False) -> None:
        self.lr = check_positive(lr, "lr")
        self.momentum = _unit_interval(momentum, "momentum")
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov: expected True or False, got {type(nesterov).__name__} {nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov: expected momentum > 0 with nesterov=True, got momentum=0")
        self.nesterov = nesterov

    def hyper(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba).

    Parameters
    ----------
    lr : float, default 0.001
    beta1, beta2 : float in [0, 1), default 0.9, 0.999
    eps : float > 0, default 1e-8
    """

    name = "adam"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr = check_positive(lr, "lr")
        self.beta1 = _unit_interval(beta1, "beta1")
        self.beta2 = _unit_interval(beta2, "beta2")
        self.eps = check_positive(eps, "eps")

    def hyper(self) -> dict[str, Any]:
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay on the weights (not the biases).

    Parameters
    ----------
    lr, beta1, beta2, eps
        As for Adam.
    weight_decay : float >= 0, default 0.01
        Each step first does ``W -= lr * weight_decay * W``.
    """

    name = "adamw"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        super().__init__(lr, beta1, beta2, eps)
        self.weight_decay = check_non_negative(weight_decay, "weight_decay")

    def hyper(self) -> dict[str, Any]:
        return dict(super().hyper(), weight_decay=self.weight_decay)


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def as_optimizer(optimizer: str | Optimizer, lr: float | None = None, **hyper: Any) -> Optimizer:
    """An Optimizer from a name plus keyword arguments, or an Optimizer object
    as is (then lr and the other keywords must not be given as well).
    Keywords that do not apply to the named rule are refused when set."""
    if isinstance(optimizer, Optimizer):
        given = [k for k, v in hyper.items() if v is not None] + (["lr"] if lr is not None else [])
        if given:
            raise ValueError(f"{given[0]}: set it on the optimizer object ({optimizer!r}), not as well "
                             f"as an argument of its own")
        return optimizer
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer: expected one of {sorted(_BY_NAME)} or a gradfit optimizer object "
                        f"(gf.SGD, gf.Adam, gf.AdamW), got {type(optimizer).__name__} {optimizer!r}")
    key = optimizer.lower()
    if key not in _BY_NAME:
        raise ValueError(f"optimizer: expected one of {sorted(_BY_NAME)}, got {optimizer!r}")
    cls = _BY_NAME[key]
    init: Any = vars(cls)["__init__"]
    accepted = init.__code__.co_varnames[1:init.__code__.co_argcount]
    kwargs = {}
    for k, v in hyper.items():
        if v is None:
            continue
        if k not in accepted:
            raise ValueError(f"{k}: not a setting of optimizer={key!r} (its settings: {', '.join(accepted)})")
        kwargs[k] = v
    if lr is not None:
        kwargs["lr"] = lr
    return cls(**kwargs)
