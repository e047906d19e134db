"""The metrics of MLP.evaluate, over predictions and checked targets."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRICS = ("accuracy", "r2", "mae")


def check_metrics(metrics: str | Sequence[str]) -> list[str]:
    """The metric names as a list, each one of METRICS."""
    if isinstance(metrics, str):
        metrics = [metrics]
    try:
        names = list(metrics)
    except TypeError:
        raise TypeError(f"metrics: expected a list of names among {list(METRICS)}, got "
                        f"{type(metrics).__name__}") from None
    for name in names:
        if not isinstance(name, str) or name not in METRICS:
            raise ValueError(f"metrics: expected names among {list(METRICS)}, got {name!r}")
    return names


def compute_metrics(names: list[str], pred: np.ndarray, t: np.ndarray, sw: np.ndarray | None) -> dict[str, float]:
    """{name: value} over predictions pred and targets t (both (N, OUT)), weighted by sw."""
    out = {}
    for name in names:
        if name == "accuracy":
            if pred.shape[1] > 1:
                guess, truth = np.argmax(pred, axis=1), np.argmax(t, axis=1)
            else:
                guess, truth = (pred[:, 0] > 0).astype(np.int64), (t[:, 0] >= 0.5).astype(np.int64)
            out["accuracy"] = float(np.average(guess == truth, weights=sw))
        elif name == "mae":
            out["mae"] = float(np.average(np.abs(pred - t).mean(axis=1), weights=sw))
        else:
            mean = np.average(t, axis=0, weights=sw)
            ss_res = np.average((t - pred) ** 2, axis=0, weights=sw)
            ss_tot = np.average((t - mean) ** 2, axis=0, weights=sw)
            # a constant target (ss_tot 0): scikit-learn's r2_score (force_finite) gives 1.0
            # for a perfect prediction, else 0.0
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.where(ss_res > 0, 0.0, 1.0))
            out["r2"] = float(np.mean(r2))
    return out
