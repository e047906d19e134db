"""The optional columns: a plain PyTorch loop, JAX (a jitted step per batch,
and one lax.scan per epoch), and scikit-learn's MLPRegressor /
MLPClassifier. Each framework is imported only when its column is asked for
or found installed; its loss over all the data is computed after the
stopwatch stops, as for the NumPy loops."""
import contextlib
import os
import time
import warnings

import numpy as np

from .runners import RunResult, new_gradfit_model

TORCH_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "softplus": "Softplus"}


def _result(seconds, final):
    return RunResult(seconds, final, "" if np.isfinite(final) else "diverged")


def make_torch_runners(torch):
    """{"torch": run}: nn.Linear layers with the same activations, started from
    the same weights as gradfit's seed-0 model, torch.optim.SGD, the same
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

    def run(wl, X, y, epochs):
        if wl.loss not in ("mse", "cross_entropy"):
            raise NotImplementedError(f"no PyTorch loss for {wl.loss!r}")
        model = build(wl)
        start = time.perf_counter()
        # mean over samples and outputs, like gradfit; cross-entropy on class indices
        criterion = nn.MSELoss() if wl.loss == "mse" else nn.CrossEntropyLoss()
        opt = torch.optim.SGD(model.parameters(), lr=wl.lr)
        Xt = torch.from_numpy(X)
        yt = torch.from_numpy(np.argmax(y, axis=1).astype(np.int64) if wl.loss == "cross_entropy" else y)
        n, bs = Xt.shape[0], wl.batch_size
        gen = torch.Generator().manual_seed(0)
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            for s in range(0, n, bs):
                idx = perm[s:s + bs]
                opt.zero_grad()
                criterion(model(Xt[idx]), yt[idx]).backward()
                opt.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            final = float(criterion(model(Xt), yt))
        return _result(seconds, final)

    return {"torch": run}


@contextlib.contextmanager
def one_cpu(cpu):
    """The calling thread on CPU `cpu` only, for the block (no-op if cpu is None).
    Threads started inside the block (XLA's) keep that mask; the gradfit
    columns, run outside it, get every CPU back."""
    if cpu is None:
        yield
        return
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def jax_cpu():
    """The CPU the JAX columns run on (the last one this process may use), or None."""
    return sorted(os.sched_getaffinity(0))[-1] if hasattr(os, "sched_getaffinity") else None


def _jax_functions(jax, wl):
    """(params, loss, step, epoch) of workload `wl` in JAX, jitted."""
    jnp = jax.numpy
    model = new_gradfit_model(wl)
    acts = list(model.activations)

    def forward(params, x):
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

    def loss_fn(params, x, y):
        pred = forward(params, x)
        if wl.loss == "cross_entropy":
            return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(pred, axis=1), axis=1))
        return jnp.mean(jnp.square(pred - y))

    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in zip(model.weights, model.biases)]
    lr = wl.lr

    @jax.jit
    def step(params, x, y):
        g = jax.grad(loss_fn)(params, x, y)
        return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)

    @jax.jit
    def epoch(params, xs, ys):
        return jax.lax.scan(lambda p, batch: (step(p, batch[0], batch[1]), None), params, (xs, ys))[0]

    return params, jax.jit(loss_fn), step, epoch


def make_jax_runners(jax, cpu=None):
    """{"jax-step": ..., "jax-scan": ...}: the same training (same initial
    weights, the same NumPy shuffle, plain SGD) as a jitted step called once
    per minibatch from Python, and as each epoch gathered with X[perm] and run
    as one jitted lax.scan over its full batches (the last, shorter batch by
    the jitted step). Compilation happens before the stopwatch starts. Every
    call runs on CPU `cpu` alone (XLA's flags alone do not hold it to one)."""
    jnp = jax.numpy

    def check(wl):
        if wl.loss not in ("mse", "cross_entropy"):
            raise NotImplementedError(f"no JAX loss for {wl.loss!r}")

    def run_step(wl, X, y, epochs):
        check(wl)
        params, loss, step, _ = _jax_functions(jax, wl)
        n, bs = X.shape[0], wl.batch_size
        spans = [(s, min(s + bs, n)) for s in range(0, n, bs)]
        for a, b in {spans[0], spans[-1]}:                       # compile every batch shape
            jax.block_until_ready(step(params, jnp.asarray(X[a:b]), jnp.asarray(y[a:b])))
        start = time.perf_counter()
        rng = np.random.default_rng(0)
        for _ in range(epochs):
            perm = rng.permutation(n)
            Xe, ye = X[perm], y[perm]
            for a, b in spans:
                params = step(params, Xe[a:b], ye[a:b])
        jax.block_until_ready(params)
        seconds = time.perf_counter() - start
        return _result(seconds, float(loss(params, X, y)))

    def run_scan(wl, X, y, epochs):
        check(wl)
        params, loss, step, epoch = _jax_functions(jax, wl)
        n, bs = X.shape[0], wl.batch_size
        full = n // bs

        @jax.jit
        def train_epoch(params, Xj, yj, perm):
            Xe, ye = Xj[perm], yj[perm]
            params = epoch(params, Xe[:full * bs].reshape(full, bs, -1), ye[:full * bs].reshape(full, bs, -1))
            if full * bs < n:
                params = step(params, Xe[full * bs:], ye[full * bs:])
            return params

        jax.block_until_ready(train_epoch(params, jnp.asarray(X), jnp.asarray(y), jnp.arange(n)))   # compile
        start = time.perf_counter()
        rng = np.random.default_rng(0)
        Xj, yj = jnp.asarray(X), jnp.asarray(y)
        for _ in range(epochs):
            params = train_epoch(params, Xj, yj, jnp.asarray(rng.permutation(n)))
        jax.block_until_ready(params)
        seconds = time.perf_counter() - start
        return _result(seconds, float(loss(params, Xj, yj)))

    def pinned(run):
        def call(*args):
            with one_cpu(cpu):
                return run(*args)
        return call

    return {"jax-step": pinned(run_step), "jax-scan": pinned(run_scan)}


SKLEARN_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic", "identity": "identity"}


def make_sklearn_runners(sklearn):
    """{"sklearn": run}: MLPRegressor (mse) or MLPClassifier (softmax
    cross-entropy) with solver="sgd", no momentum, no L2 penalty, a constant
    learning rate, the same batch size and epochs, shuffle=True. It starts
    from its own random weights (scikit-learn has no way to pass them in), so
    its final loss is not the other columns'. MLPRegressor's loss is half the
    mean squared error: its learning rate is twice the workload's, which
    makes the same steps as gradfit's mean squared error on one output."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    def run(wl, X, y, epochs):
        if wl.activation not in SKLEARN_ACTIVATIONS or wl.output_activation != "identity":
            raise NotImplementedError(f"scikit-learn's MLP has no activation {wl.activation!r}")
        if wl.loss not in ("mse", "cross_entropy") or (wl.loss == "mse" and y.shape[1] != 1):
            raise NotImplementedError(f"no scikit-learn MLP for loss {wl.loss!r} on {y.shape[1]} outputs")
        hidden = tuple(wl.layer_sizes[1:-1])
        if not hidden:
            raise NotImplementedError("scikit-learn's MLP needs a hidden layer")
        kind, lr = (MLPRegressor, 2 * wl.lr) if wl.loss == "mse" else (MLPClassifier, wl.lr)
        model = kind(hidden_layer_sizes=hidden, activation=SKLEARN_ACTIVATIONS[wl.activation], solver="sgd",
                     alpha=0.0, batch_size=wl.batch_size, learning_rate="constant", learning_rate_init=lr,
                     max_iter=epochs, shuffle=True, random_state=0, tol=0.0, momentum=0.0,
                     n_iter_no_change=epochs + 1, early_stopping=False)
        target = y.ravel() if wl.loss == "mse" else np.argmax(y, axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            model.fit(X, target)
            seconds = time.perf_counter() - start
        if wl.loss == "mse":
            final = float(np.mean(np.square(model.predict(X).reshape(y.shape) - y), dtype=np.float64))
        else:
            p = np.clip(model.predict_proba(X), 1e-300, None)
            final = float(-np.mean(np.sum(y * np.log(p), axis=1)))
        return _result(seconds, final)

    return {"sklearn": run}
