"""The C core and the NumPy reference (gradfit.reference) run the same
algorithm: same init, same shuffle order, same data must give the same
parameters and history after hundreds of steps."""
import numpy as np
import pytest

import gradfit as gf
from gradfit import _names as gf_names
from gradfit import reference


@pytest.fixture(autouse=True)
def _every_simd_path(simd_path):
    """Every test here runs on each SIMD path (see conftest.py)."""


ACTIVATIONS = list(gf_names.ACTIVATIONS)          # every activation the C core and _math define
N = 103          # 6 batches of 16 and a short last batch of 7
BATCH = 16
STEPS_PER_EPOCH = 7
EPOCHS = 30      # 210 steps
TOL = {"float64": 1e-10, "float32": 1e-4}


def make_data(n=N, n_in=3, n_out=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, size=(n, n_in))
    y = np.column_stack([np.sin(X[:, 0]) + 0.5 * X[:, 1], np.tanh(X[:, 1] * X[:, -1])])[:, :n_out]
    y = y + 0.05 * rng.normal(size=y.shape)
    return X, y


def rel_diff(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def run_both(layer_sizes=(3, 8, 6, 2), activation="tanh", output_activation="identity",
             dtype="float64", init="glorot", data=None, **train_kwargs):
    X, y = make_data(n_in=layer_sizes[0], n_out=layer_sizes[-1]) if data is None else data
    kwargs = dict(lr=0.05, batch_size=BATCH, epochs=EPOCHS, seed=7)
    kwargs.update(train_kwargs)
    out = {}
    for backend in ("c", "numpy"):
        m = gf.MLP(list(layer_sizes), activation=activation, output_activation=output_activation,
                   dtype=dtype, init=init, seed=3)
        r = gf.train(m, X, y, backend=backend, **kwargs)
        out[backend] = (m, r)
    return out, X, y


def assert_agree(out, dtype="float64", X=None, y=None):
    tol = TOL[dtype]
    (mc, rc), (mn, rn) = out["c"], out["numpy"]
    assert mc.params.dtype == mn.params.dtype == np.dtype(dtype)
    assert np.isfinite(mc.params).all()
    assert rel_diff(mc.params, mn.params) <= tol
    assert rc.steps == rn.steps
    assert rc.epochs == rn.epochs
    assert rc.stop_reason == rn.stop_reason
    assert len(rc.history["loss"]) == len(rn.history["loss"])
    np.testing.assert_allclose(rc.history["loss"], rn.history["loss"], rtol=tol, atol=0)
    assert rc.final_loss == pytest.approx(rn.final_loss, rel=tol)
    if rc.grad_norm is None:
        assert rn.grad_norm is None
    else:
        assert rc.grad_norm == pytest.approx(rn.grad_norm, rel=max(tol, 1e-9))
    assert rn.backend == "numpy" and rc.backend == "c"


def assert_trained(out, start_loss_factor=1.0):
    """The run did something: the loss went down over training."""
    (mc, rc) = out["c"]
    h = rc.history["loss"]
    assert h[-1] < h[0] * start_loss_factor


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_hidden_activation(activation, dtype):
    out, X, y = run_both(activation=activation, dtype=dtype)
    assert_agree(out, dtype)
    (mc, rc) = out["c"]
    assert rc.steps == EPOCHS * STEPS_PER_EPOCH
    assert rc.epochs == EPOCHS
    assert rc.stop_reason == "epochs"
    assert len(rc.history["loss"]) == EPOCHS
    assert_trained(out, 0.9)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output_activation", ["relu", "sigmoid", "tanh", "softplus"])
def test_output_activation(output_activation, dtype):
    X, y = make_data()
    y = 1 / (1 + np.exp(-2 * y))   # in (0, 1): reachable by every output activation
    out, _, _ = run_both(activation="softplus", output_activation=output_activation, dtype=dtype,
                         data=(X, y), lr=0.2)
    assert_agree(out, dtype)
    assert_trained(out)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mixed_activations_deep(dtype):
    out, _, _ = run_both(layer_sizes=(3, 6, 5, 4, 2), activation=["relu", "sigmoid", "softplus"],
                         output_activation="tanh", dtype=dtype, init="he", lr=0.1)
    assert_agree(out, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sse(dtype):
    out, _, _ = run_both(activation="tanh", dtype=dtype, loss="sse", lr=0.002)
    assert_agree(out, dtype)
    assert out["c"][1].loss_name == "sse"
    assert_trained(out, 0.9)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_full_batch(dtype):
    out, _, _ = run_both(activation="sigmoid", dtype=dtype, batch_size=None, epochs=300, lr=0.3)
    assert_agree(out, dtype)
    rc = out["c"][1]
    assert rc.steps == 300
    assert rc.batch_size == N
    assert_trained(out, 0.9)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_no_shuffle(dtype):
    out, _, _ = run_both(activation="softplus", dtype=dtype, shuffle=False, seed=None)
    assert_agree(out, dtype)


def test_shuffle_changes_the_result():
    shuffled, _, _ = run_both(activation="tanh")
    plain, _, _ = run_both(activation="tanh", shuffle=False)
    assert rel_diff(shuffled["c"][0].params, plain["c"][0].params) > 1e-6


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_max_steps_mid_epoch(dtype):
    out, _, _ = run_both(activation="relu", dtype=dtype, epochs=100, max_steps=100)
    assert_agree(out, dtype)
    for backend in ("c", "numpy"):
        r = out[backend][1]
        assert r.stop_reason == "max_steps"
        assert r.steps == 100
        assert r.epochs == 15            # 14 full epochs of 7 steps, then 2 steps of the 15th
        assert len(r.history["loss"]) == 15


def test_max_steps_with_no_epoch_limit():
    out, _, _ = run_both(activation="tanh", epochs=None, max_steps=333)
    assert_agree(out)
    r = out["c"][1]
    assert r.steps == 333 and r.stop_reason == "max_steps"
    assert r.epochs == 48                # ceil(333 / 7)


def test_grad_tol_per_epoch():
    # minibatch: grad_tol is checked on the full data after each epoch
    out, _, _ = run_both(layer_sizes=(3, 2), activation="identity", lr=0.01, epochs=2000, grad_tol=3e-3)
    assert_agree(out)
    r = out["c"][1]
    assert r.stop_reason == "grad_tol"
    assert r.grad_norm < 3e-3
    assert 1 < r.epochs < 2000
    assert r.steps == r.epochs * STEPS_PER_EPOCH


def test_grad_tol_full_batch():
    out, _, _ = run_both(layer_sizes=(3, 2), activation="identity", lr=0.2, batch_size=None,
                         epochs=None, max_steps=100000, grad_tol=1e-8)
    assert_agree(out)
    r = out["c"][1]
    assert r.stop_reason == "grad_tol"
    assert r.grad_norm < 1e-8
    assert r.steps < 100000


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batches_larger_than_the_c_chunk(dtype):
    # 4096 rows per C chunk: a 5000-row batch is done in two chunks by the core
    X, y = make_data(n=5000, n_in=2, n_out=1, seed=1)
    out, _, _ = run_both(layer_sizes=(2, 5, 1), activation="tanh", dtype=dtype, data=(X, y),
                         batch_size=None, epochs=20, lr=0.3)
    assert_agree(out, dtype)
    out, _, _ = run_both(layer_sizes=(2, 5, 1), activation="tanh", dtype=dtype, data=(X, y),
                         batch_size=4500, epochs=5, lr=0.3)
    assert_agree(out, dtype)
    assert out["c"][1].steps == 10


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_predict_matches_reference_forward(activation, dtype):
    m = gf.MLP([3, 7, 4, 2], activation=activation, output_activation="sigmoid", dtype=dtype, seed=11)
    for b in m.biases:
        b[...] = np.linspace(-0.5, 0.5, b.size)
    X, _ = make_data(n=50)
    pred = m.predict(X)
    assert pred.dtype == np.dtype(dtype)
    assert pred.shape == (50, 2)
    Xd = X.astype(dtype)
    ref = reference.forward(m.weights, m.biases, m.activations, Xd)[-1][1]
    np.testing.assert_allclose(pred, ref, rtol=TOL[dtype], atol=TOL[dtype] * 1e-2)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", ["mse", "sse"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_loss_and_grad_match_reference(activation, loss, dtype):
    m = gf.MLP([3, 7, 4, 2], activation=activation, dtype=dtype, seed=12)
    for b in m.biases:
        b[...] = np.linspace(-0.5, 0.5, b.size)
    X, y = make_data(n=60)
    value, grad = m.loss_and_grad(X, y, loss=loss)
    rvalue, rgrad = reference.Reference(m, loss).loss_and_grad(X.astype(dtype), y.astype(dtype))
    assert value == pytest.approx(rvalue, rel=TOL[dtype])
    assert rel_diff(grad, rgrad) <= TOL[dtype]
    assert m.loss(X, y, loss=loss) == pytest.approx(value, rel=TOL[dtype])   # forward-only path


def test_loss_and_grad_over_more_rows_than_the_chunk():
    m = gf.MLP([2, 5, 3], activation="softplus", seed=13)
    X, _ = make_data(n=9000, n_in=2, seed=2)
    y = np.column_stack([X[:, 0], X[:, 1], X[:, 0] * X[:, 1]])
    for loss in ("mse", "sse"):
        value, grad = m.loss_and_grad(X, y, loss=loss)
        rvalue, rgrad = reference.Reference(m, loss).loss_and_grad(X, y)
        assert value == pytest.approx(rvalue, rel=1e-12)
        assert rel_diff(grad, rgrad) <= 1e-11


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("layer_sizes", [(3, 20, 2), (5, 40, 2)], ids=lambda s: "-".join(map(str, s)))
def test_nets_wider_than_the_narrow_path_agree(layer_sizes, activation, dtype):
    """Nets over 16 wide take the general products and activation kernels (not
    the narrow-net lanes): every activation, both dtypes, every SIMD path."""
    out, X, y = run_both(layer_sizes=layer_sizes, activation=activation, dtype=dtype, epochs=10)
    assert_agree(out, dtype, X, y)
