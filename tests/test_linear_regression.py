"""Linear regression, MLP([1, 1]): gradient descent must reach the
least-squares solution."""
import numpy as np
import pytest

import gradfit as gf
from gradfit.reference import closed_form_linear

N = 200
DATA_SEED = 0
# Full-batch GD: for x ~ U(0, 10) the MSE Hessian 2*[[E x^2, E x], [E x, 1]]
# has eigenvalues ~0.5 and ~68, so lr must stay below 2/68 ~ 0.029; with
# lr = 0.02 the slow direction shrinks by ~1% a step: ~2300 steps to 1e-9.
GD_LR = 0.02
GD_TOL = 1e-9
GD_MAX_STEPS = 100_000
# Minibatch SGD: small lr so the noise of the steps stays well below 1e-2
# (max error over 10 shuffle seeds was 1.4e-3).
SGD_LR = 0.002
SGD_BATCH = 16
SGD_EPOCHS = 2000


def make_data(noise=0.1, seed=DATA_SEED):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 10.0, size=(N, 1))
    y = -x[:, 0] + 5.0 + noise * rng.normal(size=N)
    return x, y


def lstsq(x, y):
    A = np.hstack([x, np.ones((x.shape[0], 1))])
    theta = np.linalg.lstsq(A, y, rcond=None)[0]
    return theta[:-1], theta[-1]


def test_closed_form_linear_is_lstsq():
    x, y = make_data()
    w, b = closed_form_linear(x, y)
    w2, b2 = lstsq(x, y)
    np.testing.assert_allclose(w, w2, rtol=1e-12)
    assert b == pytest.approx(b2, rel=1e-12)
    # and it is close to the generating line
    assert w[0] == pytest.approx(-1.0, abs=0.01)
    assert b == pytest.approx(5.0, abs=0.05)


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_full_batch_gd_reaches_least_squares(backend):
    x, y = make_data()
    w, b = lstsq(x, y)
    m = gf.MLP([1, 1], init="zeros")
    r = gf.train(m, x, y, lr=GD_LR, batch_size=None, epochs=None, max_steps=GD_MAX_STEPS,
                 grad_tol=GD_TOL, backend=backend)
    assert r.stop_reason == "grad_tol"
    assert 100 < r.steps < GD_MAX_STEPS
    assert r.grad_norm < GD_TOL
    assert m.weights[0][0, 0] == pytest.approx(w[0], abs=1e-6)
    assert m.biases[0][0] == pytest.approx(b, abs=1e-6)
    # grad_tol is checked before the update: the model's gradient is the one reported
    _, grad = m.loss_and_grad(x, y)
    assert np.linalg.norm(grad) == pytest.approx(r.grad_norm, rel=1e-6)
    # the loss at the optimum is the mean squared residual of lstsq
    resid = y - (x[:, 0] * w[0] + b)
    assert r.final_loss == pytest.approx(np.mean(resid ** 2), rel=1e-9)
    assert m.loss(x, y) == pytest.approx(r.final_loss, rel=1e-12)
    # full-batch: one step per epoch, history decreasing
    assert r.epochs == r.steps + 1           # the last epoch stops at the check, before its update
    h = np.array(r.history["loss"])
    assert len(h) == r.epochs
    assert np.all(np.diff(h) <= 1e-15)


def test_full_batch_gd_stops_at_the_first_small_gradient():
    x, y = make_data()
    m = gf.MLP([1, 1], init="zeros")
    r = gf.train(m, x, y, lr=GD_LR, batch_size=None, epochs=None, max_steps=GD_MAX_STEPS, grad_tol=GD_TOL)
    # one step less and the gradient was still above grad_tol
    m2 = gf.MLP([1, 1], init="zeros")
    r2 = gf.train(m2, x, y, lr=GD_LR, batch_size=None, epochs=None, max_steps=r.steps - 1)
    assert r2.stop_reason == "max_steps"
    assert np.linalg.norm(m2.loss_and_grad(x, y)[1]) >= GD_TOL
    # running to the same number of steps gives the same parameters
    m3 = gf.MLP([1, 1], init="zeros")
    gf.train(m3, x, y, lr=GD_LR, batch_size=None, epochs=r.steps)
    assert np.array_equal(m3.params, m.params)


def test_full_batch_gd_sse():
    # sse = N * mse: the same path with lr / N
    x, y = make_data()
    w, b = lstsq(x, y)
    m = gf.MLP([1, 1], init="zeros")
    r = gf.train(m, x, y, loss="sse", lr=GD_LR / N, batch_size=None, epochs=None,
                 max_steps=GD_MAX_STEPS, grad_tol=GD_TOL * N)
    assert r.stop_reason == "grad_tol"
    np.testing.assert_allclose(m.params, [w[0], b], rtol=0, atol=1e-6)
    m2 = gf.MLP([1, 1], init="zeros")
    r2 = gf.train(m2, x, y, lr=GD_LR, batch_size=None, epochs=None, max_steps=GD_MAX_STEPS, grad_tol=GD_TOL)
    assert abs(r.steps - r2.steps) <= 2


def test_noise_free_line_is_recovered_exactly():
    x, y = make_data(noise=0.0)
    m = gf.MLP([1, 1], seed=1)
    r = gf.train(m, x, y, lr=GD_LR, batch_size=None, epochs=None, max_steps=GD_MAX_STEPS, grad_tol=1e-10)
    assert r.stop_reason == "grad_tol"
    assert m.weights[0][0, 0] == pytest.approx(-1.0, abs=1e-9)
    assert m.biases[0][0] == pytest.approx(5.0, abs=1e-9)
    assert r.final_loss < 1e-18
    np.testing.assert_allclose(m.predict([[0.0], [10.0], [2.5]])[:, 0], [5.0, -5.0, 2.5], atol=1e-8)


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_minibatch_sgd_gets_close(backend):
    x, y = make_data()
    w, b = lstsq(x, y)
    m = gf.MLP([1, 1], init="zeros")
    r = gf.train(m, x, y, lr=SGD_LR, batch_size=SGD_BATCH, epochs=SGD_EPOCHS, seed=3, backend=backend)
    assert r.stop_reason == "epochs"
    assert r.epochs == SGD_EPOCHS
    assert r.steps == SGD_EPOCHS * 13        # 12 batches of 16 and one of 8
    assert len(r.history["loss"]) == SGD_EPOCHS
    assert m.weights[0][0, 0] == pytest.approx(w[0], abs=1e-2)
    assert m.biases[0][0] == pytest.approx(b, abs=1e-2)
    # near the least-squares loss (the mean squared residual of lstsq, ~0.0104: noise variance
    # ~0.01): the last iterate of constant-lr SGD wanders; over seeds 0..19 its loss is 1.000
    # to 1.018 times the least-squares loss
    best = np.mean((y - (x[:, 0] * w[0] + b)) ** 2)
    assert best * (1 - 1e-12) <= r.final_loss < best * 1.025
    assert r.history["loss"][0] > 1.0 > 0.02 > r.history["loss"][-1]


def test_multi_feature_multi_output_least_squares():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(150, 3))
    W_true = np.array([[1.0, -2.0], [0.5, 0.0], [-1.5, 3.0]])
    Y = X @ W_true + np.array([0.3, -0.7]) + 0.05 * rng.normal(size=(150, 2))
    A = np.hstack([X, np.ones((150, 1))])
    theta = np.linalg.lstsq(A, Y, rcond=None)[0]
    m = gf.MLP([3, 2], init="zeros")
    r = gf.train(m, X, Y, lr=0.2, batch_size=None, epochs=None, max_steps=GD_MAX_STEPS, grad_tol=1e-10)
    assert r.stop_reason == "grad_tol"
    np.testing.assert_allclose(m.weights[0], theta[:3], atol=1e-8)
    np.testing.assert_allclose(m.biases[0], theta[3], atol=1e-8)
    wc, bc = closed_form_linear(X, Y)
    np.testing.assert_allclose(m.weights[0], wc, atol=1e-8)
    np.testing.assert_allclose(m.biases[0], bc, atol=1e-8)


@pytest.mark.parametrize("backend", ["c", "numpy"])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_max_steps(backend, batch_size):
    x, y = make_data()
    m = gf.MLP([1, 1], init="zeros")
    r = gf.train(m, x, y, lr=GD_LR / 10, batch_size=batch_size, epochs=None, max_steps=37,
                 grad_tol=GD_TOL, backend=backend)
    assert r.stop_reason == "max_steps"
    assert r.steps == 37
    assert r.epochs == (37 if batch_size is None else 3)   # 13 steps per epoch of 16-row batches
    assert len(r.history["loss"]) == r.epochs
    m2 = gf.MLP([1, 1], init="zeros")
    r2 = gf.train(m2, x, y, lr=GD_LR / 10, batch_size=batch_size, epochs=100, max_steps=37, backend=backend)
    assert r2.stop_reason == "max_steps" and r2.steps == 37


def test_max_steps_zero_changes_nothing():
    x, y = make_data()
    m = gf.MLP([1, 1], seed=2)
    before = m.params.copy()
    r = gf.train(m, x, y, lr=GD_LR, epochs=5, max_steps=0)
    assert r.steps == 0
    assert r.stop_reason == "max_steps"
    assert np.array_equal(m.params, before)


def test_epochs_zero_changes_nothing():
    x, y = make_data()
    m = gf.MLP([1, 1], seed=2)
    before = m.params.copy()
    r = gf.train(m, x, y, lr=GD_LR, epochs=0)
    assert r.steps == 0 and r.epochs == 0
    assert r.history["loss"] == []
    assert np.array_equal(m.params, before)
    assert r.final_loss == pytest.approx(m.loss(x, y), rel=1e-15)
