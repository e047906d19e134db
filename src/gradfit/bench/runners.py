"""The NumPy-only columns: gradfit's C core, the tuned NumPy baseline
("numpy") and a shorter hand-written NumPy loop ("numpy-loop").

Each runner returns a RunResult for one training run from a fresh model
(seed 0). The seconds are what a user's stopwatch sees around the training
call: time.perf_counter() around the whole gf.train() call (argument checks,
the epochs, the result), or around the whole training function of the other
loops (the epochs and nothing after them). The loss over the data that the
table shows is computed after the stopwatch stops for every column:
gf.train's final_loss when first read (unless its overflow check needed the
exact pass during the call, which then counts against gradfit). Building
the starting model is not timed.
"""
import dataclasses
import time
import warnings

import numpy as np

import gradfit as gf

from .baseline import LOSSES, NumpyBaseline

#: the column every other one is compared with
BASELINE = "numpy"


@dataclasses.dataclass
class RunResult:
    seconds: float
    final_loss: float
    problem: str = ""          # e.g. "diverged", shown in the notes


def new_gradfit_model(wl):
    """The seed-0 starting model of workload `wl`: every column starts from its weights."""
    return gf.MLP(list(wl.layer_sizes), activation=wl.activation, output_activation=wl.output_activation,
                  dtype=wl.dtype, init="glorot", seed=0)


def gradfit_column(n_threads):
    """The table's name of the C core's column with `n_threads` threads."""
    return "c" if n_threads == 1 else f"c-{n_threads}threads"


def make_gradfit_runner(backend="c", n_threads=None):
    """gf.train with plain SGD, shuffle=True, seed=0 (and n_threads, if given)."""
    extra = {} if n_threads is None else {"n_threads": n_threads}

    def run(wl, X, y, epochs):
        model = new_gradfit_model(wl)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            result = gf.train(model, X, y, loss=wl.loss, lr=wl.lr, batch_size=wl.batch_size,
                              epochs=epochs, shuffle=True, seed=0, backend=backend, **extra)
            seconds = time.perf_counter() - start
        problem = ""
        if result.stop_reason != "epochs":
            problem = f"stopped early: {result.stop_reason}"
        elif caught:
            problem = f"warning: {caught[0].message}"
        return RunResult(seconds, float(result.final_loss), problem)
    return run


def run_numpy_baseline(wl, X, y, epochs):
    """The "numpy" column: baseline.NumpyBaseline, a tuned NumPy SGD loop that
    trains as gf.train(seed=0) does (same start, shuffle, updates and
    divergence stop). Its loss over all the data is computed untimed."""
    if wl.loss not in LOSSES:
        raise NotImplementedError(f"the NumPy baseline has no loss {wl.loss!r}")
    model = new_gradfit_model(wl)             # the same starting weights as the gradfit columns
    net = NumpyBaseline(model.params.copy(), model.layer_sizes, model.activations, wl.loss)
    start = time.perf_counter()
    _, diverged = net.train(X, y, lr=wl.lr, batch_size=wl.batch_size, epochs=epochs, seed=0)
    seconds = time.perf_counter() - start
    return RunResult(seconds, net.loss(X, y), "stopped early: diverged" if diverged else "")


def _numpy_forward(a, layers, activations, keep):
    for (W, b, _, _), act in zip(layers, activations):
        z = a @ W + b
        if act == "identity":
            a = z
        elif act == "tanh":
            a = np.tanh(z)
        elif act == "relu":
            a = np.maximum(z, 0)
        elif act == "softplus":
            a = np.logaddexp(0, z)
        else:
            raise ValueError(f"numpy-loop: no activation {act!r}")
        keep.append((z, a))
    return a


def numpy_loop_train(params, grad, layers, activations, X, y, lr, batch_size, epochs, seed, loss="mse"):
    """The minibatch SGD loop a NumPy user writes by hand, for a dense network
    trained on the mean squared error or (loss="cross_entropy", one-hot y)
    the softmax cross-entropy of its logits: the epoch's rows gathered once
    (X[perm]) and sliced into batches, ``a @ W + b``, ``a.T @ dz``, the update
    in place on one flat parameter array. `layers` holds per-layer (W, b, dW,
    db): views into `params` and `grad`. It records no per-step loss, has no
    divergence check and makes no pass over the data after training: the
    least work one training run needs."""
    lr = params.dtype.type(lr)
    n = X.shape[0]
    rng = np.random.default_rng(seed)       # the same shuffle as gf.train(seed=seed)
    with np.errstate(over="ignore"):          # exp(-z) of a large negative z: 1 / inf = 0 is right
        for _ in range(epochs):
            perm = gf.epoch_order(rng, n)   # the order gf.train draws
            Xe, ye = X[perm], y[perm]
            for s in range(0, n, batch_size):
                xb, yb = Xe[s:s + batch_size], ye[s:s + batch_size]
                cache = []
                pred = _numpy_forward(xb, layers, activations, cache)
                if loss == "mse":
                    d = (2 / pred.size) * (pred - yb)          # dloss/dpred
                else:                                          # softmax(pred) - y, over the batch
                    d = np.exp(pred - pred.max(axis=1, keepdims=True))
                    d *= (1 / len(pred)) / d.sum(axis=1, keepdims=True)
                    d -= yb * (1 / len(pred))
                for i in range(len(layers) - 1, -1, -1):
                    W, _, dW, db = layers[i]
                    z, a = cache[i]
                    act = activations[i]
                    if act == "tanh":
                        d *= 1 - a * a
                    elif act == "relu":
                        d *= z > 0
                    elif act == "softplus":
                        d /= 1 + np.exp(-z)                    # * sigmoid(z)
                    np.matmul(cache[i - 1][1].T if i else xb.T, d, out=dW)
                    np.sum(d, axis=0, out=db)
                    if i:
                        d = d @ W.T
                params -= lr * grad


def numpy_loop_loss(layers, activations, X, y, loss="mse"):
    """The loss over all of X, y at the current parameters (untimed)."""
    with np.errstate(over="ignore"):
        pred = _numpy_forward(X, layers, activations, [])
    if loss == "mse":
        return float(np.mean(np.square(pred - y), dtype=np.float64))
    shifted = pred - pred.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(np.sum(y * logp, axis=1), dtype=np.float64))


def run_numpy_loop(wl, X, y, epochs):
    if wl.loss not in ("mse", "cross_entropy"):
        raise NotImplementedError(f"numpy-loop is written for mse and cross_entropy, not {wl.loss!r}")
    model = new_gradfit_model(wl)             # the same starting weights as the gradfit columns
    params = model.params.copy()
    grad = np.empty_like(params)
    layers, offset = [], 0
    for W in model.weights:
        fan_in, fan_out = W.shape
        size = fan_in * fan_out
        layers.append((params[offset:offset + size].reshape(fan_in, fan_out),
                       params[offset + size:offset + size + fan_out],
                       grad[offset:offset + size].reshape(fan_in, fan_out),
                       grad[offset + size:offset + size + fan_out]))
        offset += size + fan_out
    start = time.perf_counter()
    numpy_loop_train(params, grad, layers, model.activations, X, y, wl.lr, wl.batch_size, epochs, 0, loss=wl.loss)
    seconds = time.perf_counter() - start
    final = numpy_loop_loss(layers, model.activations, X, y, wl.loss)
    return RunResult(seconds, final, "" if np.isfinite(final) else "diverged")
