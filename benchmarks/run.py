"""Training-throughput benchmarks for gradfit: C core vs the NumPy baseline
and a hand-written NumPy loop (and, with --torch, a plain PyTorch loop; with
--jax, a jitted JAX step and a lax.scan per epoch).

    python benchmarks/run.py                     # all workloads, 3 timed runs each
    python benchmarks/run.py --quick             # N / 10, 1 timed run: a smoke test
    python benchmarks/run.py --workloads W1,W3 --repeat 5
    python benchmarks/run.py --torch --markdown  # add PyTorch, print Markdown
    python benchmarks/run.py --jax               # add JAX (jit step, lax.scan per epoch)
    python benchmarks/run.py --json rows.json    # also write the result rows as JSON

Every column runs on one thread (but the c-Nthreads one, --threads): the
BLAS/OpenMP thread counts are pinned to 1 below, before numpy is imported. See benchmarks/README.md for what is measured
and how to read the table.
"""
import os

# Must happen before numpy (and torch) are imported: the BLAS libraries read
# these once, when they are loaded.
PINNED_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
for _var in PINNED_THREAD_VARS:
    os.environ[_var] = "1"
# JAX (--jax): XLA's CPU backend on one thread. The flags alone do not hold
# it to one core, so --jax also pins the process to one CPU (main()).
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + XLA_SINGLE_THREAD).strip()

import argparse  # noqa: E402
import ctypes  # noqa: E402
import dataclasses  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

import gradfit as gf  # noqa: E402


def _load_numpy_baseline():
    """benchmarks/numpy_baseline.py, found next to this file (run.py is run as
    a script and also imported by path, from where benchmarks/ is not on sys.path)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "numpy_baseline.py")
    spec = importlib.util.spec_from_file_location("gradfit_bench_numpy_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


numpy_baseline = _load_numpy_baseline()

BASELINE = "numpy"


# ---------------------------------------------------------------------------
# Workloads. Each is one entry; data come from numpy.random.default_rng(0),
# drawn afresh per workload so a workload's data do not depend on which other
# workloads run. make_data(rng, n) returns (X, y) in float64 (cast later to the
# workload's dtype), or for classification (X, one-hot targets).
# ---------------------------------------------------------------------------

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


WORKLOADS = [
    Workload("W1", "linear 1->1", "x~U(0,10), y=-x+5+N(0,0.1)", _data_w1,
             (1, 1), "identity", 1_000_000, 32, 0.001, 3, "float64"),
    Workload("W2", "1->2 softplus ->1", "x~U(0,1), y=exp(-((x-0.5)/0.15)^2)", _data_w2,
             (1, 2, 1), "softplus", 200_000, 32, 0.05, 3, "float64"),
    Workload("W3", "1->64 tanh ->64 tanh ->1", "x~U(-1,1), y=sin(3x)", _data_w3,
             (1, 64, 64, 1), "tanh", 100_000, 64, 0.01, 2, "float32"),
    # Softmax cross-entropy: the softmax is part of the loss (as in PyTorch's
    # cross_entropy), so the output layer is "identity" and y is one-hot.
    Workload("W4", "64->128 relu ->10, softmax cross-entropy", "X~N(0,1) (N,64), labels argmax(X@R)",
             _data_w4, (64, 128, 10), "relu", 50_000, 64, 0.05, 2, "float32",
             loss="cross_entropy"),
    Workload("W5", "256->512 relu ->512 relu ->1", "X~N(0,1) (N,256), y~N(0,1)", _data_w5,
             (256, 512, 512, 1), "relu", 40_000, 256, 0.001, 1, "float32",
             note="optional: the slowest workload; leave it out with --workloads W1,W2,W3"),
]

QUICK_SHRINK = 10          # --quick divides N by this
WARMUP_FRACTION = 10       # the warm-up run uses N // WARMUP_FRACTION rows, 1 epoch
MIN_WARMUP_BATCHES = 4     # ... but at least this many batches


# ---------------------------------------------------------------------------
# Runners: each returns (seconds, final_loss, notes) for one training run from
# a fresh model (seed 0). The seconds are what a user's stopwatch sees around
# the training call: time.perf_counter() around the whole gf.train() call
# (argument checks, the epochs, the final loss over the data, the result), or
# around the whole training function of the other loops (tensor/array set-up,
# the epochs, the final loss). Building the starting model is not timed.
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class RunResult:
    seconds: float
    final_loss: float
    problem: str = ""          # e.g. "diverged", shown in the notes


def gradfit_supports_loss(loss):
    """True if gradfit knows this loss name."""
    return loss in gf._names.LOSSES


def new_gradfit_model(wl):
    return gf.MLP(list(wl.layer_sizes), activation=wl.activation, output_activation=wl.output_activation,
                  dtype=wl.dtype, init="glorot", seed=0)


def make_gradfit_runner(backend, n_threads=None):
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
    """The "numpy" column: benchmarks/numpy_baseline.py, a tuned NumPy SGD loop
    that trains as gf.train(seed=0) does (same start, shuffle, updates and
    divergence stop)."""
    if wl.loss not in numpy_baseline.LOSSES:
        raise NotImplementedError(f"numpy_baseline has no loss {wl.loss!r}")
    model = new_gradfit_model(wl)             # the same starting weights as the gradfit columns
    params = model.params.copy()
    start = time.perf_counter()
    _, diverged, final = numpy_baseline.train(params, model.layer_sizes, model.activations, X, y, loss=wl.loss,
                                              lr=wl.lr, batch_size=wl.batch_size, epochs=epochs, seed=0)
    seconds = time.perf_counter() - start
    return RunResult(seconds, final, "stopped early: diverged" if diverged else "")


def numpy_loop_train(params, grad, layers, activations, X, y, lr, batch_size, epochs, seed, loss="mse"):
    """The minibatch SGD loop a NumPy user writes by hand, for a dense network
    trained on the mean squared error or (loss="cross_entropy", one-hot y)
    the softmax cross-entropy of its logits: the epoch's rows gathered once
    (X[perm]) and sliced into batches, whole-batch matrix products, the update
    in place on one flat parameter array. `layers` holds per-layer (W, b, dW,
    db): views into `params` and `grad`. Returns the final loss over X, y.
    It records no per-step loss and has no divergence check: the least work
    one training run needs."""
    lr = params.dtype.type(lr)
    n = X.shape[0]
    rng = np.random.default_rng(seed)       # the same shuffle as gf.train(seed=seed)

    def forward(a, keep):
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

    with np.errstate(over="ignore"):          # exp(-z) of a large negative z: 1 / inf = 0 is right
        for _ in range(epochs):
            perm = gf.epoch_order(rng, n)   # the order gf.train draws
            Xe, ye = X[perm], y[perm]
            for s in range(0, n, batch_size):
                xb, yb = Xe[s:s + batch_size], ye[s:s + batch_size]
                cache = []
                pred = forward(xb, cache)
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
        pred = forward(X, [])
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
    final = numpy_loop_train(params, grad, layers, model.activations, X, y, wl.lr, wl.batch_size, epochs, 0,
                             loss=wl.loss)
    seconds = time.perf_counter() - start
    return RunResult(seconds, final, "" if np.isfinite(final) else "diverged")


TORCH_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "softplus": "Softplus"}


def make_torch_runner(torch):
    """A plain PyTorch loop: nn.Linear layers with the same activations, started
    from the same weights as gradfit's seed-0 model, torch.optim.SGD, the same
    batch size, a torch.randperm shuffle each epoch, one thread."""
    nn = torch.nn
    torch.set_num_threads(1)

    def build(wl):
        dtype = torch.float64 if wl.dtype == "float64" else torch.float32
        ref = new_gradfit_model(wl)
        layers = []
        for W, b, act in zip(ref.weights, ref.biases, ref.activations):
            lin = nn.Linear(W.shape[0], W.shape[1]).to(dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                lin.bias.copy_(torch.from_numpy(b.copy()))
            layers.append(lin)
            if act != "identity":
                layers.append(getattr(nn, TORCH_ACTIVATIONS[act])())
        return nn.Sequential(*layers)

    def loss_fn(wl):
        if wl.loss == "mse":
            return nn.MSELoss()                       # mean over samples and outputs, like gradfit
        if wl.loss == "cross_entropy":
            return nn.CrossEntropyLoss()
        raise ValueError(f"no PyTorch loss for {wl.loss!r}")

    def targets(wl, y):
        if wl.loss == "cross_entropy":
            return torch.from_numpy(np.argmax(y, axis=1).astype(np.int64))
        return torch.from_numpy(y)

    def run(wl, X, y, epochs):
        model = build(wl)
        start = time.perf_counter()
        criterion = loss_fn(wl)
        opt = torch.optim.SGD(model.parameters(), lr=wl.lr)
        Xt, yt = torch.from_numpy(X), targets(wl, y)
        n, bs = Xt.shape[0], wl.batch_size
        gen = torch.Generator().manual_seed(0)
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            for s in range(0, n, bs):
                idx = perm[s:s + bs]
                opt.zero_grad()
                loss = criterion(model(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
        with torch.no_grad():
            final = float(criterion(model(Xt), yt))
        seconds = time.perf_counter() - start
        return RunResult(seconds, final, "" if np.isfinite(final) else "diverged")

    return run


def make_jax_runners(jax):
    """Two JAX versions of the same training (same initial weights, the same
    NumPy shuffle as gradfit's seed 0, plain SGD): "jax-step", a jitted step
    called once per minibatch from Python; "jax-scan", each epoch gathered
    with X[perm] and run as one jitted lax.scan over its full batches (the
    last, shorter batch by the jitted step). Compilation happens before the
    stopwatch starts (a first call on arrays of the same shapes)."""
    jnp = jax.numpy

    def forward(params, x, acts):
        for (W, b), act in zip(params, acts):
            x = x @ W + b
            if act == "tanh":
                x = jnp.tanh(x)
            elif act == "relu":
                x = jnp.maximum(x, 0)
            elif act == "softplus":
                x = jnp.logaddexp(0, x)
            elif act == "sigmoid":
                x = jax.nn.sigmoid(x)
        return x

    def make_loss(wl, acts):
        def loss(params, x, y):
            pred = forward(params, x, acts)
            if wl.loss == "cross_entropy":
                return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(pred, axis=1), axis=1))
            return jnp.mean(jnp.square(pred - y))
        return loss

    def setup(wl):
        if wl.loss not in ("mse", "cross_entropy"):
            raise NotImplementedError(f"no JAX loss for {wl.loss!r}")
        model = new_gradfit_model(wl)
        acts = list(model.activations)
        params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in zip(model.weights, model.biases)]
        loss = jax.jit(make_loss(wl, acts))
        lr = wl.lr

        @jax.jit
        def step(params, x, y):
            g = jax.grad(loss)(params, x, y)
            return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)

        @jax.jit
        def epoch(params, xs, ys):
            def body(p, batch):
                return step(p, batch[0], batch[1]), None
            return jax.lax.scan(body, params, (xs, ys))[0]

        return params, loss, step, epoch

    def batches(n, bs):
        return [(s, min(s + bs, n)) for s in range(0, n, bs)]

    def run_step(wl, X, y, epochs):
        params, loss, step, _ = setup(wl)
        n, bs = X.shape[0], wl.batch_size
        for a, b in {(0, min(bs, n)), batches(n, bs)[-1]}:       # compile every batch shape
            jax.block_until_ready(step(params, jnp.asarray(X[a:b]), jnp.asarray(y[a:b])))
        jax.block_until_ready(loss(params, jnp.asarray(X), jnp.asarray(y)))
        start = time.perf_counter()
        rng = np.random.default_rng(0)
        for _ in range(epochs):
            perm = rng.permutation(n)
            Xe, ye = X[perm], y[perm]
            for a, b in batches(n, bs):
                params = step(params, Xe[a:b], ye[a:b])
        final = float(loss(params, X, y))
        seconds = time.perf_counter() - start
        return RunResult(seconds, final, "" if np.isfinite(final) else "diverged")

    def run_scan(wl, X, y, epochs):
        params, loss, step, epoch = setup(wl)
        n, bs = X.shape[0], wl.batch_size
        full = n // bs

        @jax.jit
        def train_epoch(params, Xj, yj, perm):
            """One epoch: the gather of the whole epoch, a scan over its full
            batches, then the last, shorter batch."""
            Xe, ye = Xj[perm], yj[perm]
            params = epoch(params, Xe[:full * bs].reshape(full, bs, -1), ye[:full * bs].reshape(full, bs, -1))
            if full * bs < n:
                params = step(params, Xe[full * bs:], ye[full * bs:])
            return params

        Xj, yj = jnp.asarray(X), jnp.asarray(y)
        jax.block_until_ready(train_epoch(params, Xj, yj, jnp.arange(n)))       # compile
        jax.block_until_ready(loss(params, Xj, yj))
        start = time.perf_counter()
        rng = np.random.default_rng(0)
        Xj, yj = jnp.asarray(X), jnp.asarray(y)
        for _ in range(epochs):
            params = train_epoch(params, Xj, yj, jnp.asarray(rng.permutation(n)))
        final = float(loss(params, Xj, yj))
        seconds = time.perf_counter() - start
        return RunResult(seconds, final, "" if np.isfinite(final) else "diverged")

    return {"jax-step": run_step, "jax-scan": run_scan}


# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class Row:
    workload: str
    backend: str
    samples_per_second: float = float("nan")     # median over the timed runs
    spread: float = float("nan")                 # (max - min) / median of samples/s
    final_loss: float = float("nan")
    ratio: float = float("nan")                  # samples/s / numpy baseline samples/s
    loss_rel_diff: float = float("nan")          # |loss - numpy loss| / |numpy loss|
    runs: int = 0
    status: str = ""                             # "" = measured, else why not
    gflops: float = float("nan")                 # achieved GFLOP/s (FLOP_WORKLOADS only)
    peak_share: float = float("nan")             # gflops / the measured 1-core peak of the dtype


def warm_up(wl, runner, X, y):
    """One short run (not recorded): pages in code and data, loads BLAS kernels."""
    n = X.shape[0]
    n_warm = min(n, max(n // WARMUP_FRACTION, MIN_WARMUP_BATCHES * wl.batch_size))
    runner(wl, X[:n_warm], y[:n_warm], 1)


def summarize(wl, backend, results, repeats):
    n = results[0][1]
    rates = [n * wl.epochs / r.seconds if r.seconds > 0 else float("inf") for r, _ in results]
    losses = [r.final_loss for r, _ in results]
    problems = [r.problem for r, _ in results if r.problem]
    med = statistics.median(rates)
    row = Row(wl.id, backend, med, (max(rates) - min(rates)) / med, losses[0], runs=repeats)
    if problems:
        row.status = problems[0]
    elif len(set(losses)) > 1 and backend != "torch":
        row.status = "final loss varies between runs: " + ", ".join(f"{v:.10g}" for v in losses)
    return row


def measure_workload(wl, runners, X, y, repeats, progress):
    """Warm-up of every runner, then `repeats` rounds, each timing every runner
    once (interleaved, so that a slow spell of the machine hits all of them)."""
    n = X.shape[0]
    rows, results, live = {}, {b: [] for b in runners}, dict(runners)
    for backend, runner in runners.items():
        try:
            warm_up(wl, runner, X, y)
        except NotImplementedError as exc:
            rows[backend] = Row(wl.id, backend, status=f"skipped: {exc}")
            progress(f"  {wl.id} {backend}: {rows[backend].status}")
            del live[backend]
        except Exception as exc:  # noqa: BLE001 - report and go on with the other backends
            rows[backend] = Row(wl.id, backend, status=f"error: {type(exc).__name__}: {exc}")
            progress(f"  {wl.id} {backend}: {rows[backend].status}")
            del live[backend]
    for k in range(repeats):
        for backend, runner in list(live.items()):
            try:
                r = runner(wl, X, y, wl.epochs)
            except Exception as exc:  # noqa: BLE001
                rows[backend] = Row(wl.id, backend, status=f"error: {type(exc).__name__}: {exc}")
                progress(f"  {wl.id} {backend}: {rows[backend].status}")
                del live[backend]
                continue
            results[backend].append((r, n))
            rate = n * wl.epochs / r.seconds if r.seconds > 0 else float("inf")
            progress(f"  {wl.id} {backend:10s} run {k + 1}/{repeats}: {r.seconds:8.3f} s  "
                     f"{rate:12.4g} samples/s  final loss {r.final_loss:.8g}")
    for backend in live:
        rows[backend] = summarize(wl, backend, results[backend], repeats)
    return [rows[b] for b in runners]


FLOP_WORKLOADS = ("W3", "W4", "W5")    # arithmetic-bound enough for GFLOP/s to mean something


def training_flops(wl, n):
    """Floating-point operations of one training run on n rows, counting the
    matrix products only (2 per multiply-add): per sample and epoch the
    forward product, dW and, above the first layer, the input gradient; plus
    the final loss's forward pass over the n rows."""
    sizes = wl.layer_sizes
    macs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    per_step_sample = 2 * (2 * sum(macs) + sum(macs[1:]))
    return n * wl.epochs * per_step_sample + n * 2 * sum(macs)


def measure_peak(dtypes, size):
    """The machine's 1-core matrix-product rate: GFLOP/s of a size x size
    product through NumPy's BLAS (pinned to 1 thread above), best of 3."""
    peak = {}
    rng = np.random.default_rng(1)
    for dt in dtypes:
        a = rng.normal(size=(size, size)).astype(dt)
        b = rng.normal(size=(size, size)).astype(dt)
        a @ b                                            # warm-up
        best = min(_timed(lambda: a @ b) for _ in range(3))
        peak[dt] = 2 * size ** 3 / best / 1e9
    return peak


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_all(workloads, runners, repeats, shrink, progress, peak=None):
    rows = []
    for wl in workloads:
        n = wl.n // shrink
        if wl.loss != "mse" and not gradfit_supports_loss(wl.loss):
            reason = f"skipped: gradfit has no loss {wl.loss!r}"
            progress(f"{wl.id}: {reason}")
            rows.extend(Row(wl.id, b, status=reason) for b in runners)
            continue
        X, y = wl.make_data(np.random.default_rng(0), n)
        X = np.ascontiguousarray(X, dtype=wl.dtype)
        y = np.ascontiguousarray(y, dtype=wl.dtype)
        progress(f"{wl.id}: {wl.description}, N={n}, batch {wl.batch_size}, lr {wl.lr:g}, "
                 f"{wl.epochs} epoch(s), {wl.dtype}")
        wl_rows = {r.backend: r for r in measure_workload(wl, runners, X, y, repeats, progress)}
        base = wl_rows.get(BASELINE)
        for row in wl_rows.values():
            if base is not None and not base.status.startswith(("error", "skipped")):
                row.ratio = row.samples_per_second / base.samples_per_second
                if np.isfinite(base.final_loss) and base.final_loss != 0:
                    row.loss_rel_diff = abs(row.final_loss - base.final_loss) / abs(base.final_loss)
        if wl.id in FLOP_WORKLOADS:
            for row in wl_rows.values():
                if not row.status.startswith(("error", "skipped")):
                    row.gflops = training_flops(wl, n) / (n * wl.epochs / row.samples_per_second) / 1e9
                    if peak and peak.get(wl.dtype):
                        row.peak_share = row.gflops / peak[wl.dtype]
        rows.extend(wl_rows.values())
    return rows


# ---------------------------------------------------------------------------
# Machine info
# ---------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def openblas_runtime():
    """(threads, core name) from the OpenBLAS that numpy loaded, via ctypes, or (None, None)."""
    paths = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if "openblas" in os.path.basename(p).lower() and ".so" in p:
                    paths.add(p)
    except OSError:
        return None, None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        threads = corename = None
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                fn = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if fn is not None and threads is None:
                    fn.restype = ctypes.c_int
                    threads = fn()
                fn = getattr(lib, f"{prefix}_get_corename{suffix}", None)
                if fn is not None and corename is None:
                    fn.restype = ctypes.c_char_p
                    corename = fn().decode(errors="replace")
        if threads is not None:
            return threads, corename
    return None, None


def blas_description():
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - numpy < 1.26 or unusual builds
        name = "unknown"
    threads, corename = openblas_runtime()
    if threads is None:
        try:
            import threadpoolctl
            info = threadpoolctl.threadpool_info()
            threads = ", ".join(f"{i.get('internal_api')}={i.get('num_threads')}" for i in info) or None
        except ImportError:
            pass
    return name, threads, corename


def gradfit_revision():
    here = os.path.dirname(os.path.abspath(gf.__file__))
    try:
        rev = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{rev}{' (uncommitted changes)' if dirty else ''}" if rev else ""


def busy_cores(interval=0.5):
    """How many CPUs other processes keep busy right now: a short /proc/stat
    sample (Linux), else the 1-minute load average, else None. Returns (value, how)."""
    def snapshot():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)     # idle + iowait
        return sum(fields[:8]), idle
    try:
        total0, idle0 = snapshot()
        time.sleep(interval)
        total1, idle1 = snapshot()
        if total1 > total0:
            return (1 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1), f"{interval:g} s /proc/stat sample"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.getloadavg()[0], "1-minute load average"
    except (AttributeError, OSError):
        return None, ""


def header_lines(args, repeats, shrink, torch, busy):
    blas, threads, corename = blas_description()
    rev = gradfit_revision()
    lines = [
        f"gradfit {gf.__version__}" + (f", git {rev}" if rev else ""),
        f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs)",
        f"Python {platform.python_version()}, numpy {np.__version__}, BLAS {blas}"
        + (f" (core {corename})" if corename else ""),
        "single-threaded: " + ", ".join(f"{v}=1" for v in PINNED_THREAD_VARS)
        + f" set by run.py before numpy import; BLAS threads at run time: {threads if threads is not None else 'unknown'}",
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}",
    ]
    value, how = busy
    if value is not None:
        lines.append(f"CPUs busy with other work just before the run: {value:.1f} of {os.cpu_count()} ({how})"
                     + (" -- expect noisy, low timings (see the spread column)" if value > 0.3 else ""))
    if torch is not None:
        lines.append(f"torch {torch.__version__}, torch.get_num_threads()={torch.get_num_threads()}")
    lines.append(
        f"mode: {'quick (N / %d)' % shrink if args.quick else 'full'}, {repeats} timed run(s) per backend "
        f"(interleaved) after 1 warm-up; samples/s = N*epochs / seconds of the whole training call, "
        f"median over runs")
    return lines


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def _fmt_rate(x):
    return f"{x:,.0f}" if np.isfinite(x) else "-"


def _fmt(x, spec):
    return format(x, spec) if np.isfinite(x) else "-"


def table(rows, workloads, markdown):
    by_id = {w.id: w for w in workloads}
    head = ["workload", "backend", "samples/s (median)", "spread", "vs numpy", "final loss", "loss rel. diff vs numpy",
            "GFLOP/s", "% of 1-core peak"]
    body = []
    for r in rows:
        wl = by_id[r.workload]
        label = f"{r.workload} {wl.description}"
        if r.status.startswith(("skipped", "error")):
            body.append([label, r.backend, r.status, "", "", "", "", "", ""])
            continue
        body.append([
            label, r.backend, _fmt_rate(r.samples_per_second),
            _fmt(100 * r.spread, ".0f") + "%" if r.runs > 1 else "-",
            _fmt(r.ratio, ".2f") + "x" if np.isfinite(r.ratio) else "-",
            _fmt(r.final_loss, ".8g"),
            "(baseline)" if r.backend == BASELINE else _fmt(r.loss_rel_diff, ".1e"),
            _fmt(r.gflops, ".1f"),
            _fmt(100 * r.peak_share, ".0f") + "%" if np.isfinite(r.peak_share) else "-",
        ])
    if markdown:
        out = ["| " + " | ".join(head) + " |",
               "|" + "|".join(["---", "---"] + ["---:"] * 7) + "|"]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return out
    widths = [max([len(h)] + [len(row[i]) for row in body
                              if i < 2 or not row[2].startswith(("skipped", "error"))])
              for i, h in enumerate(head)]
    right = {2, 3, 4, 5, 6, 7, 8}

    def line(cells):
        if cells[2].startswith(("skipped", "error")):
            return "  ".join([cells[0].ljust(widths[0]), cells[1].ljust(widths[1]), cells[2]])
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [line(head), "  ".join("-" * w for w in widths)]
    prev = None
    for row, r in zip(body, rows):
        if prev is not None and r.workload != prev:
            out.append("")
        prev = r.workload
        out.append(line(row))
    return out


def notes(rows, workloads):
    out = []
    for r in rows:
        if r.status and not r.status.startswith(("skipped", "error")):
            out.append(f"{r.workload} {r.backend}: {r.status}")
    for w in workloads:
        if w.note:
            out.append(f"{w.id}: {w.note}")
    return out


def workload_table(workloads, shrink, markdown):
    head = ["id", "model", "data", "N", "batch", "lr", "epochs", "dtype", "loss"]
    body = [[w.id, w.description, w.data_description, f"{w.n // shrink:,}", str(w.batch_size), f"{w.lr:g}",
             str(w.epochs), w.dtype, w.loss] for w in workloads]
    if markdown:
        return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(head)]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head] + body]


# ---------------------------------------------------------------------------

def pin_to_one_cpu():
    """Pins this process to one CPU (the one it runs on), so that no framework
    can use a second core; returns the CPU, or None where affinity is not
    available."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[-1]
    os.sched_setaffinity(0, {cpu})
    return cpu


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help=f"N / {QUICK_SHRINK} and 1 timed run (unless --repeat is given): a smoke test")
    p.add_argument("--repeat", type=int, default=None, metavar="K",
                   help="timed runs per backend and workload; the median is reported (default 3, --quick 1)")
    p.add_argument("--workloads", default=None, metavar="W1,W2",
                   help="comma-separated workload ids (default: all: " + ",".join(w.id for w in WORKLOADS) + ")")
    p.add_argument("--torch", action="store_true", help="also time a plain PyTorch loop, if torch is importable")
    p.add_argument("--jax", action="store_true",
                   help="also time JAX (a jitted step per batch, and one lax.scan per epoch), if jax is "
                        "importable; pins the process to one CPU")
    p.add_argument("--threads", type=int, default=2, metavar="N",
                   help="also time the C core with n_threads=N (default 2; 1: no such column), once "
                        "gf.train accepts n_threads=; not together with --jax")
    p.add_argument("--markdown", action="store_true", help="print the results as Markdown tables")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="also write the header lines and the result rows to PATH as JSON")
    args = p.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        p.error("--repeat: expected a positive integer")
    if args.workloads:
        known = {w.id.upper(): w for w in WORKLOADS}
        wanted = [s.strip().upper() for s in args.workloads.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in known]
        if unknown:
            p.error(f"--workloads: unknown id(s) {', '.join(unknown)}; known: {', '.join(known)}")
        args.selected = [w for w in WORKLOADS if w.id.upper() in wanted]
    else:
        args.selected = list(WORKLOADS)
    return args


def main(argv=None):
    args = parse_args(argv)
    repeats = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    shrink = QUICK_SHRINK if args.quick else 1

    def progress(msg):
        print(msg, file=sys.stderr, flush=True)

    runners = {"c": make_gradfit_runner("c"), "numpy": run_numpy_baseline, "numpy-loop": run_numpy_loop}
    torch = None
    if args.torch:
        try:
            import torch
        except ImportError:
            progress("--torch: torch is not importable; running without the PyTorch column")
            torch = None
        else:
            runners["torch"] = make_torch_runner(torch)

    if args.threads > 1:
        name = f"c-{args.threads}threads"
        if args.jax:
            progress(f"--threads: no {name} column with --jax, which pins the process to one CPU")
        else:
            runners[name] = make_gradfit_runner("c", n_threads=args.threads)

    pinned = None
    if args.jax:
        # pinned before jax starts its threads: they inherit the one-CPU mask
        pinned = pin_to_one_cpu()
        try:
            import jax
        except ImportError:
            progress("--jax: jax is not importable; running without the JAX columns")
        else:
            runners.update(make_jax_runners(jax))

    busy = busy_cores()            # before any of our own work
    head = header_lines(args, repeats, shrink, torch, busy)
    if pinned is not None:
        head.append(f"--jax: the whole process pinned to CPU {pinned} (os.sched_setaffinity); XLA_FLAGS="
                    f"{os.environ.get('XLA_FLAGS', '')}")
    peak = None
    dtypes = sorted({w.dtype for w in args.selected if w.id in FLOP_WORKLOADS})
    if dtypes:
        peak = measure_peak(dtypes, 512 if args.quick else 2048)
        head.append("1-core peak (a NumPy BLAS matrix product, 1 thread, best of 3): "
                    + ", ".join(f"{dt} {v:.1f} GFLOP/s" for dt, v in peak.items()))
    started = time.perf_counter()
    rows = run_all(args.selected, runners, repeats, shrink, progress, peak)
    elapsed = time.perf_counter() - started

    md = args.markdown
    out = [("- " + h) if md else h for h in head]
    out.append("")
    out += workload_table(args.selected, shrink, md)
    out.append("")
    out += table(rows, args.selected, md)
    extra = notes(rows, args.selected)
    if extra:
        out.append("")
        out += [("- " if md else "note: ") + n for n in extra]
    out.append("")
    out.append(f"{'- ' if md else ''}total wall time {elapsed:.1f} s")
    print("\n".join(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": head, "mode": "quick" if args.quick else "full", "repeats": repeats,
                       "workloads": [dict(id=w.id, model=w.description, n=w.n // shrink, batch_size=w.batch_size,
                                          lr=w.lr, epochs=w.epochs, dtype=w.dtype, loss=w.loss)
                                     for w in args.selected],
                       "rows": [{k: (v if not isinstance(v, float) or np.isfinite(v) else None)
                                 for k, v in dataclasses.asdict(r).items()} for r in rows],
                       "peak_gflops": peak, "total_seconds": elapsed}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
