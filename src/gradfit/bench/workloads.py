"""The benchmark workloads W1-W5: the model, the data and the training
settings of each. Data come from numpy.random.default_rng(0), drawn afresh
per workload, so that a workload's data do not depend on which other
workloads run."""
import dataclasses
from typing import Callable

import numpy as np

# make_data(rng, n) returns (X, y) in float64 (cast later to the workload's
# dtype), or for classification (X, one-hot targets).


def _data_w1(rng, n):
    x = rng.uniform(0.0, 10.0, size=(n, 1))
    y = -x + 5.0 + rng.normal(0.0, 0.1, size=(n, 1))
    return x, y


def _data_w2(rng, n):
    x = rng.uniform(0.0, 1.0, size=(n, 1))
    y = np.exp(-(((x - 0.5) / 0.15) ** 2))
    return x, y


def _data_w3(rng, n):
    x = rng.uniform(-1.0, 1.0, size=(n, 1))
    return x, np.sin(3.0 * x)


def _data_w4(rng, n):
    X = rng.normal(size=(n, 64))
    R = rng.normal(size=(64, 10))
    labels = np.argmax(X @ R, axis=1)
    return X, np.eye(10)[labels]          # one-hot targets, shape (N, 10)


def _data_w5(rng, n):
    X = rng.normal(size=(n, 256))
    y = rng.normal(size=(n, 1))
    return X, y


@dataclasses.dataclass(frozen=True)
class Workload:
    """One benchmark workload: the model (layer_sizes, activation,
    output_activation, loss), its data (make_data, n rows, dtype) and its
    training settings (batch_size, lr, epochs); quick_n rows in quick mode."""

    id: str
    description: str                      # model, one line
    data_description: str
    make_data: Callable
    layer_sizes: tuple
    activation: str
    n: int
    batch_size: int
    lr: float
    epochs: int
    dtype: str
    loss: str = "mse"
    output_activation: str = "identity"
    note: str = ""
    quick_n: int = 0                      # rows in quick mode (0: n // 2)

    def rows(self, mode):
        """Rows of a run in `mode`: "full" all n, "quick" quick_n, "smoke" n // 200
        (at least one batch)."""
        n = {"full": self.n, "quick": self.quick_n or self.n // 2, "smoke": self.n // 200}[mode]
        return max(n, self.batch_size)

    def data(self, n):
        """(X, y) of the first n rows, C-contiguous, in the workload's dtype."""
        X, y = self.make_data(np.random.default_rng(0), n)
        return np.ascontiguousarray(X, dtype=self.dtype), np.ascontiguousarray(y, dtype=self.dtype)


WORKLOADS = [
    Workload("W1", "linear 1->1", "x~U(0,10), y=-x+5+N(0,0.1)", _data_w1,
             (1, 1), "identity", 1_000_000, 32, 0.001, 3, "float64", quick_n=1_000_000),
    Workload("W2", "1->2 softplus ->1", "x~U(0,1), y=exp(-((x-0.5)/0.15)^2)", _data_w2,
             (1, 2, 1), "softplus", 200_000, 32, 0.05, 3, "float64", quick_n=200_000),
    Workload("W3", "1->64 tanh ->64 tanh ->1", "x~U(-1,1), y=sin(3x)", _data_w3,
             (1, 64, 64, 1), "tanh", 100_000, 64, 0.01, 2, "float32"),
    # W1 and W2 run on all their rows in quick mode too: the C core takes a few
# milliseconds on half of them, too short to compare. The others take half.
# Softmax cross-entropy: the softmax is part of the loss (as in PyTorch's
    # cross_entropy), so the output layer is "identity" and y is one-hot.
    Workload("W4", "64->128 relu ->10, softmax cross-entropy", "X~N(0,1) (N,64), labels argmax(X@R)",
             _data_w4, (64, 128, 10), "relu", 50_000, 64, 0.05, 2, "float32",
             loss="cross_entropy"),
    Workload("W5", "256->512 relu ->512 relu ->1", "X~N(0,1) (N,256), y~N(0,1)", _data_w5,
             (256, 512, 512, 1), "relu", 40_000, 256, 0.001, 1, "float32",
             note="the slowest workload; leave it out with --workloads W1,W2,W3,W4"),
]

#: workload id -> Workload
BY_ID = {w.id: w for w in WORKLOADS}


def select(ids=None, dtype=None):
    """The workloads named in `ids` (case-insensitive, in WORKLOADS' order;
    None: all), each in `dtype` if given. Raises ValueError naming unknown ids."""
    chosen = list(WORKLOADS)
    if ids:
        wanted = [s.strip().upper() for s in ids if s.strip()]
        unknown = [s for s in wanted if s not in BY_ID]
        if unknown or not wanted:
            raise ValueError(f"unknown workload id(s) {', '.join(unknown) or '(none given)'}; "
                             f"known: {', '.join(BY_ID)}")
        chosen = [w for w in WORKLOADS if w.id in wanted]
    if dtype is not None:
        chosen = [dataclasses.replace(w, dtype=dtype) for w in chosen]
    return chosen
