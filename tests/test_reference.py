"""gradfit.reference: its public entry points check their arguments, and
Reference computes exactly (bit for bit) what the functions at the top of the
module state: forward, loss_value, loss_gradient, backward, and the plain
minibatch loop. (The speed-tuned NumPy loop, gradfit/bench/baseline.py, is
checked against it in tests/test_numpy_baseline.py.)"""
import tracemalloc

import numpy as np
import pytest

import gradfit as gf
from gradfit import _names as gf_names
from gradfit import reference

ACTIVATIONS = list(gf_names.ACTIVATIONS)          # every activation the C core and _math define


def model_and_data(n=40, sizes=(3, 5, 2), activation="tanh", output_activation="identity", dtype="float64",
                   seed=0):
    rng = np.random.default_rng(seed)
    m = gf.MLP(list(sizes), activation=activation, output_activation=output_activation, dtype=dtype, seed=1)
    X = rng.normal(0.0, 2.0, size=(n, sizes[0])).astype(dtype)
    y = rng.normal(size=(n, sizes[-1])).astype(dtype)
    return m, X, y


# -- argument checks (defect: no validation; a 1-D y broadcast to (N, N)) ----

def test_one_dimensional_y_is_one_output_without_an_n_by_n_array():
    n = 4000                       # an (N, N) float64 array would be 128 MB
    m, X, y = model_and_data(n=n, sizes=(2, 3, 1))
    ref = reference.Reference(m, "mse")
    value2d, grad2d = ref.loss_and_grad(X, y)
    grad2d = grad2d.copy()
    tracemalloc.start()
    try:
        value1d, grad1d = ref.loss_and_grad(X, y.ravel())
        loss1d = ref.loss_only(X, y.ravel())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * n * n / 8                 # far below one N x N array
    assert value1d == value2d
    assert np.array_equal(grad1d, grad2d)
    assert loss1d == value2d


@pytest.mark.parametrize("method", ["loss_and_grad", "loss_only"])
@pytest.mark.parametrize("case, argument, words", [
    ("y 1-D for two outputs", "y", "expected shape (30, 2)"),
    ("y rows", "y", "expected 30 rows"),
    ("y outputs", "y", "expected 2 output(s)"),
    ("X features", "X", "expected 3 feature(s)"),
    ("X 1-D", "X", "expected a 2-D array"),
    ("X strings", "X", "expected real numbers"),
])
def test_bad_data_is_refused_naming_the_argument(method, case, argument, words):
    m, X, y = model_and_data(n=30)
    bad = {
        "y 1-D for two outputs": (X, y[:, 0]),
        "y rows": (X, y[:29]),
        "y outputs": (X, y[:, :1]),
        "X features": (X[:, :2], y),
        "X 1-D": (X[:, 0], y),
        "X strings": (np.full((30, 3), "a"), y),
    }[case]
    with pytest.raises((ValueError, TypeError)) as info:
        getattr(reference.Reference(m, "mse"), method)(*bad)
    message = str(info.value)
    assert message.startswith(f"{argument}: "), message
    assert words in message, message


def test_lists_and_other_dtypes_are_converted():
    m, X, y = model_and_data(n=20, dtype="float32")
    ref = reference.Reference(m, "sse")
    value, grad = ref.loss_and_grad(X, y)
    grad = grad.copy()
    value2, grad2 = ref.loss_and_grad(X.astype(np.float64).tolist(), y.astype(np.float64))
    assert value2 == value
    assert np.array_equal(grad2, grad)


def train_args(m, X, y, epochs=2, batch=7):
    n = X.shape[0]
    idx = np.concatenate([np.random.default_rng(e).permutation(n) for e in range(epochs)]).astype(np.int64)
    return dict(X=X, y=y, sw=np.empty(0, X.dtype), idx=idx, n_epochs=epochs, start_batch=0, batch=batch,
                epoch_lr=np.full(epochs, 0.01), max_steps=-1, max_batches=-1, grad_tol=0.0,
                state=np.empty(0, X.dtype), step_count=np.zeros(1, dtype=np.int64),
                epoch_loss=np.zeros(epochs), epoch_penalty=np.zeros(epochs), epoch_weight=np.zeros(epochs),
                epoch_seen=np.zeros(epochs, dtype=np.int64))


@pytest.mark.parametrize("argument, change, words", [
    ("X", lambda a: a["X"].astype(np.float32), "expected a C-contiguous float64 array"),
    ("X", lambda a: np.asfortranarray(a["X"]), "not C-contiguous"),
    ("X", lambda a: a["X"][:, :2], "shape (N, n_inputs)"),
    ("y", lambda a: a["y"][:-1], "to match X"),
    ("y", lambda a: a["y"].ravel(), "expected a C-contiguous float64 array"),
    ("idx", lambda a: a["idx"][:-1], "expected 0 or n_epochs * N = 60 row numbers"),
    ("idx", lambda a: a["idx"] + 1, "expected row numbers in [0, 30)"),
    ("idx", lambda a: a["idx"].astype(np.int32), "int64"),
    ("epoch_loss", lambda a: a["epoch_loss"][:1], "at least n_epochs = 2 entries"),
    ("epoch_seen", lambda a: a["epoch_seen"].astype(np.float64), "int64"),
    ("batch", lambda a: 0, "expected an integer >= 1"),
    ("n_epochs", lambda a: 2.0, "expected an integer >= 0"),
    ("epoch_lr", lambda a: np.array([0.1, -1.0]), "finite numbers >= 0"),
    ("sw", lambda a: np.ones(29), "expected 0 or N = 30 sample weights"),
    ("state", lambda a: np.ones(3), "expected 32 entries, got 3"),
])
def test_train_refuses_bad_arguments_naming_them(argument, change, words):
    m, X, y = model_and_data(n=30)
    args = train_args(m, X, y)
    before = m.params.copy()
    args[argument] = change(args)
    with pytest.raises((ValueError, TypeError)) as info:
        reference.Reference(m, "mse").train(**args)
    message = str(info.value)
    assert message.startswith(f"{argument}: "), message
    assert words in message, message
    assert np.array_equal(m.params, before)        # nothing was trained


def test_unknown_loss_is_refused():
    m, _, _ = model_and_data()
    with pytest.raises(ValueError, match=r"^loss: expected one of .*'huber'.*, got 'hinge'"):
        reference.Reference(m, "hinge")


# -- Reference is the algorithm as the module-level functions state it ------

def spec_loss_and_grad(m, X, y, loss):
    """The algorithm as written in the module-level functions."""
    grad = np.empty_like(m.params)
    gw, gb = gf._layout.layer_views(grad, m.layer_sizes)
    cache = reference.forward(m.weights, m.biases, m.activations, X)
    pred = cache[-1][1]
    reference.backward(m.weights, m.activations, X, cache, reference.loss_gradient(pred, y, loss), gw, gb)
    return reference.loss_value(pred, y, loss), grad


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", ["mse", "sse"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("output_activation", ["identity", "sigmoid", "softplus"])
def test_loss_and_grad_is_the_spec_bit_for_bit(activation, output_activation, loss, dtype):
    m, X, y = model_and_data(n=37, sizes=(3, 6, 4, 2), activation=activation,
                             output_activation=output_activation, dtype=dtype)
    X[0, 0], X[1, 1] = 40.0, -40.0            # saturating and overflowing exponentials
    ref = reference.Reference(m, loss)
    for rows in (slice(None), slice(0, 5), slice(5, 6)):
        value, grad = ref.loss_and_grad(X[rows], y[rows])
        svalue, sgrad = spec_loss_and_grad(m, X[rows], y[rows], loss)
        assert value == svalue
        assert np.array_equal(grad, sgrad)
        assert ref.loss_only(X[rows], y[rows]) == svalue


def spec_train(m, X, y, idx, n_epochs, batch, lr, loss):
    """The minibatch loop written plainly: batch rows X[order[i:i+batch]]."""
    N = X.shape[0]
    lr = m.params.dtype.type(lr)
    history = []
    for e in range(n_epochs):
        order = idx[e * N:(e + 1) * N]
        total, seen = 0.0, 0
        for start in range(0, N, batch):
            rows = order[start:start + batch]
            value, grad = spec_loss_and_grad(m, X[rows], y[rows], loss)
            total += value * len(rows)
            seen += len(rows)
            m.params[...] -= lr * grad
        history.append((total, seen))
    return history


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_train_is_the_plain_loop_bit_for_bit(activation, dtype):
    m, X, y = model_and_data(n=45, sizes=(3, 8, 2), activation=activation, dtype=dtype)
    m2 = m.copy()
    args = train_args(m, X, y, epochs=3, batch=8)        # 5 batches of 8 and one of 5 per epoch
    status, steps, epochs, next_batch, gnorm = reference.Reference(m, "mse").train(**args)
    history = spec_train(m2, X, y, args["idx"], 3, 8, 0.01, "mse")
    assert (status, steps, epochs, next_batch, gnorm) == (reference.STATUS_OK, 18, 3, 0, -1.0)
    assert np.array_equal(m.params, m2.params)
    assert args["epoch_loss"].tolist() == [h[0] for h in history]
    assert args["epoch_seen"].tolist() == [45, 45, 45]


def test_train_keeps_prev_and_stops_at_max_steps():
    m, X, y = model_and_data(n=30)
    ref = reference.Reference(m, "mse")
    args = train_args(m, X, y, epochs=2, batch=7)
    args["max_steps"] = 6              # 5 steps per epoch (4 of 7 rows, 1 of 2): stops in the second
    status, steps, epochs, next_batch, _ = ref.train(**args)
    assert (status, steps, epochs, next_batch) == (reference.STATUS_MAX_STEPS, 6, 1, 1)
    assert args["epoch_seen"].tolist() == [30, 7]
    m2, _, _ = model_and_data(n=30)
    spec_train(m2, X, y, args["idx"][:30], 1, 7, 0.01, "mse")
    assert np.array_equal(ref.prev, m2.params)          # the values before the 6th update: after epoch 1
    assert not np.array_equal(m.params, m2.params)


def test_train_diverges_and_restores_the_values_before_the_last_update():
    m, X, y = model_and_data(n=30, activation="identity")
    ref = reference.Reference(m, "sse")
    args = train_args(m, X, y, epochs=50, batch=30)
    args["idx"] = np.empty(0, dtype=np.int64)
    args["epoch_lr"] = np.full(50, 10.0)
    status, steps, epochs, _, _ = ref.train(**args)
    assert status == reference.STATUS_DIVERGED
    assert 0 < steps < 50
    assert np.array_equal(m.params, ref.prev)
    assert np.isfinite(ref.loss_only(X, y))
