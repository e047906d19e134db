"""gradfit._math, the one NumPy home of the activations, derivatives and
losses: its names are the C core's, it imports only NumPy, its formulas do
not overflow, and the probability helpers are what they say."""
import ast
import pathlib

import numpy as np
import pytest

from gradfit import _math, _names

SOURCE = pathlib.Path(_math.__file__)


def test_names_are_the_c_cores():
    assert set(_math.ACTIVATIONS) == set(_math.DERIVATIVES) == set(_names.ACTIVATIONS)
    assert set(_math.LOSSES) == set(_names.LOSSES)


def test_imports_only_numpy():
    tree = ast.parse(SOURCE.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported == {"numpy"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softplus_do_not_overflow(dtype):
    z = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = _math.sigmoid(z)
        sp = _math.softplus(z)
    assert s.dtype == sp.dtype == dtype
    np.testing.assert_allclose(s[1:-1], 1 / (1 + np.exp(-z[1:-1].astype(np.float64))), rtol=1e-6)
    assert s[0] == 0 and s[-1] == 1 and s[3] == 0.5
    assert sp[-1] == 1000 and sp[0] == 0
    np.testing.assert_allclose(sp[1:-1], np.log1p(np.exp(z[1:-1].astype(np.float64))), rtol=1e-6)


def test_derivatives_are_the_slopes():
    z = np.linspace(-3, 3, 13) + 0.01
    h = 1e-6
    for name, f in _math.ACTIVATIONS.items():
        slope = (f(z + h) - f(z - h)) / (2 * h)
        np.testing.assert_allclose(_math.DERIVATIVES[name](z, f(z)), slope, rtol=1e-6, atol=1e-9, err_msg=name)


def test_softmax_and_log_softmax():
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    p = _math.softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[2], 1 / 3)
    lp = _math.log_softmax(z)
    assert np.all(np.isfinite(lp))
    np.testing.assert_allclose(np.exp(lp), p, atol=1e-300)
    np.testing.assert_allclose(lp[0], np.log(p[0]))


@pytest.mark.parametrize("loss", _math.LOSSES)
def test_loss_gradient_is_the_slope_of_loss_value(loss):
    rng = np.random.default_rng(0)
    k = 1 if loss == "binary_cross_entropy" else 3
    pred = rng.normal(size=(6, k))
    if loss == "cross_entropy":
        y = rng.dirichlet(np.ones(k), 6)
        y[0] *= 0.5                              # a soft-label row whose sum is not 1
    elif loss == "binary_cross_entropy":
        y = rng.uniform(size=(6, 1))
    else:
        y = rng.normal(size=(6, k))
    w = rng.uniform(0.5, 2.0, 6)
    for sw in (None, w):
        g = _math.loss_gradient(pred, y, loss, sw, delta=0.7)
        h = 1e-6
        for i in range(6):
            for j in range(k):
                up, down = pred.copy(), pred.copy()
                up[i, j] += h
                down[i, j] -= h
                slope = (_math.loss_value(up, y, loss, sw, 0.7) - _math.loss_value(down, y, loss, sw, 0.7)) / (2 * h)
                assert g[i, j] == pytest.approx(slope, rel=1e-5, abs=1e-8), (loss, sw is None, i, j)


def test_zero_weights_give_zero_loss_and_gradient():
    pred, y = np.ones((3, 2)), np.zeros((3, 2))
    assert _math.loss_value(pred, y, "mse", np.zeros(3)) == 0.0
    assert not _math.loss_gradient(pred, y, "mae", np.zeros(3)).any()


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match=r"^loss: expected one of .*got 'hinge'"):
        _math.sample_losses(np.ones((2, 1)), np.ones((2, 1)), "hinge")


# -- the overflow bound used after training (gradfit._math.loss_surely_finite) --

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", sorted(_names.ACTIVATIONS))
def test_the_overflow_bound_holds_where_it_says_so(dtype, act):
    """Where loss_surely_finite says True, the loss is finite at the worst
    inputs (every |x| at x_max, with the signs that push each output up);
    scaled weights cross from True to False before the loss overflows."""
    import gradfit as gf
    from gradfit._math import loss_surely_finite
    rng = np.random.default_rng(0)
    seen_true = seen_false = 0
    for scale in 10.0 ** (np.arange(0, 40, 3) if dtype == np.float32 else np.arange(0, 310, 20)):
        m = gf.MLP([3, 4, 2], activation=act, dtype=dtype, seed=1)
        scaled = m.params.astype(np.float64) * scale
        if np.abs(scaled).max() >= np.finfo(dtype).max:
            continue
        m.params[...] = scaled
        X = np.sign(rng.standard_normal((64, 3))).astype(dtype) * 7.0
        y = np.abs(rng.standard_normal((64, 2))).astype(dtype)
        for loss in ("mse", "mae", "huber", "poisson"):
            with np.errstate(all="ignore"):
                ok = loss_surely_finite(m.weights, m.biases, m.activations, loss, 7.0, float(np.abs(y).max()))
            if ok:
                seen_true += 1
                assert np.isfinite(m.loss(X, y, loss=loss))
            else:
                seen_false += 1
    assert seen_true and seen_false


def test_the_overflow_bound_refuses_what_it_cannot_bound():
    import gradfit as gf
    from gradfit._math import loss_surely_finite
    m = gf.MLP([2, 3, 1], seed=0)
    assert loss_surely_finite(m.weights, m.biases, m.activations, "mse", 1.0, 1.0)
    assert not loss_surely_finite(m.weights, m.biases, m.activations, "a loss with no bound", 1.0, 1.0)
    assert not loss_surely_finite(m.weights, m.biases, m.activations, "mse", 1e200, 1.0)
    assert not loss_surely_finite(m.weights, m.biases, m.activations, "mse", 1.0, np.inf)
