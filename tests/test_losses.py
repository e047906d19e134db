"""Losses of the C core and the NumPy reference (issue 6): finite-difference
gradient checks through the float64 C path (with sample weights and L2),
sample-weight semantics, the forward-only loss entry, stability for large
logits, NaN in gives NaN out."""
import numpy as np
import pytest

import gradfit as gf
from gradfit import _core, reference
from trainhelp import problem

LOSSES = ["mse", "sse", "cross_entropy", "binary_cross_entropy", "mae", "huber", "poisson"]
DELTA = 0.5
NO_IDX = np.empty(0, np.int64)


def c_loss_grad(m, X, y, loss, sw=None, l2=0.0, idx=NO_IDX, chunk=None):
    sw = np.empty(0, m.dtype) if sw is None else sw
    chunk = chunk or X.shape[0]
    grad = np.empty_like(m.params)
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, chunk), m.dtype)
    value = _core.loss_grad(m._sizes, m._acts, _core.LOSSES[loss], m.params, grad, X, y, sw, idx, chunk, ws,
                            huber_delta=DELTA, l2=l2)
    return value, grad


def c_loss(m, X, y, loss, sw=None, chunk=None):
    sw = np.empty(0, m.dtype) if sw is None else sw
    chunk = chunk or X.shape[0]
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, chunk), m.dtype)
    return _core.loss(m._sizes, m._acts, _core.LOSSES[loss], m.params, X, y, sw, chunk, ws, huber_delta=DELTA)


# -- 3. finite differences -------------------------------------------------------
@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("hidden", [5, 24])         # the narrow-net path and the general one (> 16 wide)
def test_gradient_matches_finite_differences(simd_path, loss, weighted, l2, hidden):
    m, X, y, sw = problem(loss, n=23, hidden=hidden)
    sw = sw if weighted else None
    if loss in ("mae", "huber"):
        # away from the kinks (r = 0 for mae, |r| = delta for huber's second derivative)
        r = np.abs(m.predict(X) - y)
        assert r.min() > 1e-3 and np.abs(r - DELTA).min() > 1e-3
    value, grad = c_loss_grad(m, X, y, loss, sw, l2)
    h = 1e-6
    fd = np.empty_like(grad)
    for i in range(m.n_params):
        p = m.params.copy()
        m.params[i] = p[i] + h
        up = c_loss_grad(m, X, y, loss, sw, l2)[0]
        m.params[i] = p[i] - h
        down = c_loss_grad(m, X, y, loss, sw, l2)[0]
        m.params[...] = p
        fd[i] = (up - down) / (2 * h)
    rel = np.abs(fd - grad) / np.maximum(np.abs(grad), 1e-3 * np.abs(grad).max())
    # central differences' round-off grows with the net's smaller entries: 1e-5 still sees any wrong formula
    assert rel.max() <= (1e-6 if hidden <= 16 else 1e-5), (rel.max(), np.argmax(rel))
    # the value is the data loss plus l2/2 sum W^2 over the weights only
    W = [w for w in m.weights]
    penalty = 0.5 * l2 * sum(float(np.sum(w * w)) for w in W)
    assert value == pytest.approx(c_loss(m, X, y, loss, sw) + penalty, rel=1e-13)
    # and the reference agrees
    rvalue, rgrad = reference.Reference(m, loss, huber_delta=DELTA).loss_and_grad(X, y, sw, l2=l2)
    assert rvalue == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(rgrad, grad, rtol=1e-10, atol=1e-13)


def test_l2_penalizes_weights_not_biases():
    m = gf.MLP([2, 2], weights=[[[1.0, 2.0], [3.0, 4.0]]], biases=[[5.0, 6.0]])
    X, y = np.zeros((1, 2)), np.array([[5.0, 6.0]])           # pred == y: data loss 0
    value, grad = c_loss_grad(m, X, y, "mse", l2=0.5)
    assert value == 0.25 * (1 + 4 + 9 + 16)
    assert grad.tolist() == [0.5, 1.0, 1.5, 2.0, 0.0, 0.0]


# -- sample weights ----------------------------------------------------------------
@pytest.mark.parametrize("loss", LOSSES)
def test_integer_weights_equal_repeated_rows(loss):
    m, X, y, _ = problem(loss, n=11)
    w = np.array([0, 1, 2, 3, 1, 1, 0, 2, 1, 1, 1], float)
    rows = np.repeat(np.arange(11), w.astype(int))
    value, grad = c_loss_grad(m, X, y, loss, w)
    rvalue, rgrad = c_loss_grad(m, X[rows], y[rows], loss)
    assert value == pytest.approx(rvalue, rel=1e-13)
    np.testing.assert_allclose(grad, rgrad, rtol=1e-12, atol=1e-14)
    assert c_loss(m, X, y, loss, w) == pytest.approx(rvalue, rel=1e-13)


@pytest.mark.parametrize("loss", LOSSES)
def test_weighted_mean_by_hand_and_zero_weights(loss):
    m, X, y, _ = problem(loss, n=6)
    pred = m.predict(X)
    l, _ = reference.sample_losses(pred, y, loss, DELTA)
    w = np.array([0.5, 0.0, 2.0, 1.0, 0.25, 3.0])
    want = (w * l).sum() if loss == "sse" else (w * l).sum() / w.sum()
    assert c_loss(m, X, y, loss, w) == pytest.approx(want, rel=1e-13)
    assert reference.loss_value(pred, y, loss, w, DELTA) == pytest.approx(want, rel=1e-13)
    value, grad = c_loss_grad(m, X, y, loss, np.zeros(6))
    assert value == 0.0 and not grad.any()
    assert c_loss(m, X, y, loss, np.zeros(6)) == 0.0


def test_chunks_and_idx_give_the_same_weighted_loss():
    m, X, y, sw = problem("cross_entropy", n=40)
    idx = np.random.default_rng(3).permutation(40)
    value, grad = c_loss_grad(m, X, y, "cross_entropy", sw)
    value2, grad2 = c_loss_grad(m, X, y, "cross_entropy", sw, idx=idx, chunk=7)
    assert value2 == pytest.approx(value, rel=1e-13)
    np.testing.assert_allclose(grad2, grad, rtol=1e-12, atol=1e-15)
    assert c_loss(m, X, y, "cross_entropy", sw, chunk=7) == pytest.approx(value, rel=1e-13)


def test_per_sample_values_by_hand():
    p = np.array([[2.0, 0.0, -1.0]])
    t = np.array([[0.0, 1.0, 0.0]])
    lse = np.log(np.exp(2.0) + 1.0 + np.exp(-1.0))
    cases = {
        "mse": ((4 + 1 + 1) / 3, [4 / 3, -2 / 3, -2 / 3]),
        "sse": (4 + 1 + 1, [4, -2, -2]),
        "cross_entropy": (lse - 0.0, np.exp(p[0] - lse) - t[0]),
        "mae": (4 / 3, [1 / 3, -1 / 3, -1 / 3]),
        "huber": ((0.5 * (2 - 0.25) + 0.5 * (1 - 0.25) + 0.5 * (1 - 0.25)) / 3, [0.5 / 3, -0.5 / 3, -0.5 / 3]),
        # exp(p) - t p per output; dl/dp = exp(p) - t
        "poisson": ((np.exp(2.0) + (1.0 - 0.0) + np.exp(-1.0)) / 3,
                    [np.exp(2.0) / 3, (1.0 - 1.0) / 3, np.exp(-1.0) / 3]),
    }
    m = gf.MLP([3, 3], weights=[np.eye(3)], biases=[[0.0, 0.0, 0.0]])
    for loss, (value, dpred) in cases.items():
        v, g = c_loss_grad(m, p, t, loss)
        assert v == pytest.approx(value, rel=1e-14), loss
        np.testing.assert_allclose(g[9:], dpred, rtol=1e-14, atol=1e-16)       # the bias gradient = dl/dpred
    z = np.array([[3.0]])
    mb = gf.MLP([1, 1], weights=[[[1.0]]], biases=[[0.0]])
    v, g = c_loss_grad(mb, z, np.array([[0.25]]), "binary_cross_entropy")
    assert v == pytest.approx(3.0 - 0.75 + np.log1p(np.exp(-3.0)), rel=1e-14)
    assert g[1] == pytest.approx(1 / (1 + np.exp(-3.0)) - 0.25, rel=1e-14)


# -- 6. stability and NaN ----------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_entropy_with_logits_of_1000(dtype):
    # logits (1000, -1000, 0) for x = (1, 0)
    m = gf.MLP([2, 3], weights=[[[1000.0, -1000.0, 0.0], [0.0, 0.0, 0.0]]], biases=[[0.0, 0.0, 0.0]], dtype=dtype)
    X = np.array([[1.0, 0.0], [1.0, 0.0]], dtype)
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype)     # wrong class, right class
    value, grad = c_loss_grad(m, X, y, "cross_entropy")
    assert value == pytest.approx((2000.0 + 0.0) / 2, rel=1e-6)
    # dL/dlogits: row 1 (1, -1, 0) / 2, row 2 (0, 0, 0); dW row 0 = sum over rows of x0 * that
    np.testing.assert_allclose(grad, [0.5, -0.5, 0, 0, 0, 0, 0.5, -0.5, 0], atol=1e-6)
    for pred in (reference.forward(m.weights, m.biases, m.activations, X)[-1][1],):
        assert reference.loss_value(pred, y, "cross_entropy") == pytest.approx(1000.0, rel=1e-6)
        np.testing.assert_allclose(reference.loss_gradient(pred, y, "cross_entropy"),
                                   [[0.5, -0.5, 0], [0, 0, 0]], atol=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_binary_cross_entropy_with_logits_of_1000(dtype):
    m = gf.MLP([1, 1], weights=[[[1000.0]]], biases=[[0.0]], dtype=dtype)
    X = np.array([[1.0], [-1.0], [1.0], [-1.0]], dtype)           # z = 1000, -1000, 1000, -1000
    y = np.array([[0.0], [1.0], [1.0], [0.0]], dtype)
    value, grad = c_loss_grad(m, X, y, "binary_cross_entropy")
    assert np.isfinite(value) and value == pytest.approx((1000 + 1000 + 0 + 0) / 4, rel=1e-6)
    # dL/dz = (sigmoid(z) - t) / 4 = (1, -1, 0, 0) / 4; dL/dw = sum x dL/dz = (1 + 1) / 4, dL/db = 0
    np.testing.assert_allclose(grad, [0.5, 0.0], atol=1e-6)
    pred = X * 1000
    assert reference.loss_value(pred, y, "binary_cross_entropy") == pytest.approx(500.0, rel=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_nan_in_gives_nan_out(loss, dtype, simd_path):
    m, X, y, sw = problem(loss, dtype=dtype, n=9)
    X[4, 1] = np.nan
    value, grad = c_loss_grad(m, X, y, loss, sw)
    assert np.isnan(value)
    assert np.isnan(c_loss(m, X, y, loss, sw))
    with np.errstate(invalid="ignore"):
        assert np.isnan(reference.Reference(m, loss, huber_delta=DELTA)._loss_only(X, y, sw))


def test_training_into_nan_diverges_for_each_loss():
    from trainhelp import Run
    for loss in LOSSES:
        m, X, y, _ = problem(loss, n=9)
        X[8, 0] = np.nan
        run = Run("c", m, loss, "adam", batch=3)
        before = m.params.copy()
        (status, steps, _, _, _), _ = run.train(X, y, None, None, 1, [0.01])
        assert (status, steps) == (_core.STATUS_DIVERGED, 2), loss
        assert np.isfinite(m.params).all() and not np.array_equal(m.params, before)
