"""A learning rate far too large: the loss overflows, train() warns a
DivergenceWarning, stops with stop_reason "diverged" and leaves the model at
the last parameters whose loss was finite."""
import warnings

import numpy as np
import pytest

import gradfit as gf

BACKENDS = ["c", "numpy"]


def line_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 10.0, size=(n, 1))
    return x, -x[:, 0] + 5.0 + 0.1 * rng.normal(size=n)


def train_quietly(model, X, y, **kwargs):
    """train() with every warning recorded; returns (result, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = gf.train(model, X, y, **kwargs)
    return r, caught


def divergence_warnings(caught):
    return [w for w in caught if issubclass(w.category, gf.DivergenceWarning)]


def assert_diverged_cleanly(m, r, X, y, caught):
    div = divergence_warnings(caught)
    assert len(div) == 1
    assert "diverged" in str(div[0].message)
    assert r.stop_reason == "diverged"
    assert np.isfinite(m.params).all()
    loss = m.loss(X, y, loss=r.loss)
    assert np.isfinite(loss), f"model.loss after divergence is {loss}"
    assert np.isfinite(r.final_loss)
    # (the numpy backend sums float32 squares in float64, the C core per row in float32)
    assert r.final_loss == pytest.approx(loss, rel=1e-12 if m.dtype == np.float64 else 1e-5)
    assert np.isfinite(m.predict(X)).all()


def test_divergence_warning_is_a_runtime_warning():
    assert issubclass(gf.DivergenceWarning, RuntimeWarning)


@pytest.mark.parametrize("backend", BACKENDS)
def test_warns_a_divergence_warning(backend):
    X, y = line_data()
    m = gf.MLP([1, 1], seed=0)
    with pytest.warns(gf.DivergenceWarning, match=r"diverged after \d+ step.*lr"):
        r = gf.train(m, X, y, lr=10.0, batch_size=None, epochs=1000, backend=backend)
    assert r.stop_reason == "diverged"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_full_batch_divergence(backend, dtype):
    X, y = line_data()
    m = gf.MLP([1, 1], seed=0, dtype=dtype)
    r, caught = train_quietly(m, X, y, lr=10.0, batch_size=None, epochs=1000, backend=backend)
    assert 5 < r.steps < 1000
    assert_diverged_cleanly(m, r, X, y, caught)
    # the loss grew without bound before the overflow
    h = [v for v in r.history["loss"] if np.isfinite(v)]
    assert h[-1] > 1e30 * h[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_restored_params_are_those_before_the_last_update(backend):
    X, y = line_data()
    m = gf.MLP([1, 1], seed=0)
    r, caught = train_quietly(m, X, y, lr=10.0, batch_size=None, epochs=1000, backend=backend)
    assert r.stop_reason == "diverged"
    # steps updates were made; the last one was undone
    m2 = gf.MLP([1, 1], seed=0)
    r2, caught2 = train_quietly(m2, X, y, lr=10.0, batch_size=None, epochs=1000, max_steps=r.steps - 1,
                                backend=backend)
    assert r2.stop_reason == "max_steps"
    assert not divergence_warnings(caught2)
    assert np.array_equal(m.params, m2.params)
    assert r.final_loss == r2.final_loss


@pytest.mark.parametrize("backend", BACKENDS)
def test_overflow_on_the_very_last_update(backend):
    # stop exactly after the update that makes the loss overflow: the loop
    # itself ends normally, train() must still notice and restore
    X, y = line_data()
    m = gf.MLP([1, 1], seed=0)
    r, _ = train_quietly(m, X, y, lr=10.0, batch_size=None, epochs=1000, backend=backend)
    m2 = gf.MLP([1, 1], seed=0)
    r2, caught2 = train_quietly(m2, X, y, lr=10.0, batch_size=None, epochs=r.steps, backend=backend)
    assert r2.stop_reason == "diverged"
    assert len(divergence_warnings(caught2)) == 1
    assert r2.steps == r.steps
    assert np.array_equal(m2.params, m.params)
    assert np.isfinite(m2.loss(X, y))


@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_of_a_hidden_layer_net(backend):
    X, y = line_data()
    m = gf.MLP([1, 8, 1], activation="relu", seed=1)
    before = m.params.copy()
    r, caught = train_quietly(m, X, y, lr=50.0, batch_size=None, epochs=500, backend=backend)
    assert_diverged_cleanly(m, r, X, y, caught)
    assert r.steps >= 1
    assert not np.array_equal(m.params, before)


def test_divergence_at_the_first_step_keeps_the_initial_params():
    X, y = line_data()
    X = X * 1e155                      # the loss overflows at the initial params
    m = gf.MLP([1, 1], seed=0)
    before = m.params.copy()
    r, caught = train_quietly(m, X, y, lr=0.01, batch_size=None, epochs=10)
    assert r.stop_reason == "diverged"
    assert r.steps == 0
    assert len(divergence_warnings(caught)) == 1
    assert np.array_equal(m.params, before)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_minibatch_divergence(backend, dtype):
    # regression: with minibatches the parameters were restored to the values
    # before the last update, whose *batch* loss was finite, but the loss over
    # all the data there was still inf: model.loss and result.final_loss were
    # inf and the warning said "restored to the last values with a finite loss (inf)".
    X, y = line_data()
    m = gf.MLP([1, 1], seed=0, dtype=dtype)
    r, caught = train_quietly(m, X, y, lr=10.0, batch_size=16, epochs=1000, seed=0, backend=backend)
    assert r.stop_reason == "diverged"
    assert_diverged_cleanly(m, r, X, y, caught)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_no_stray_warnings_from_the_c_backend(batch_size):
    # regression (full batch): the epoch in which the loss overflowed completed
    # no batch, so train() divided 0 by 0 for its history entry: numpy warned
    # "invalid value encountered in divide" and history["loss"] ended with NaN.
    X, y = line_data()
    m = gf.MLP([1, 1], seed=0)
    r, caught = train_quietly(m, X, y, lr=10.0, batch_size=batch_size, epochs=1000, seed=0)
    others = [f"{w.category.__name__}: {w.message}" for w in caught
              if not issubclass(w.category, gf.DivergenceWarning)]
    assert others == []
    assert all(np.isfinite(r.history["loss"])), r.history["loss"][-3:]


def test_moderate_lr_does_not_warn():
    X, y = line_data()
    m = gf.MLP([1, 1], seed=0)
    r, caught = train_quietly(m, X, y, lr=0.02, batch_size=None, epochs=200)
    assert r.stop_reason == "epochs"
    assert caught == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_full_batch_epochs_count_only_measured_epochs(backend):
    X, y = line_data()
    m = gf.MLP([1, 1], seed=0)
    r, _ = train_quietly(m, X, y, lr=10.0, batch_size=None, epochs=1000, backend=backend)
    assert r.stop_reason == "diverged"
    assert r.epochs == r.steps == len(r.history["loss"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_minibatch_warning_says_what_was_restored(backend):
    X, y = line_data()
    m = gf.MLP([1, 1], seed=0)
    r, caught = train_quietly(m, X, y, lr=10.0, batch_size=16, epochs=1000, seed=0, backend=backend)
    (w,) = divergence_warnings(caught)
    text = str(w.message)
    assert "restored to" in text
    assert f"{r.final_loss:.6g}" in text
    assert "inf" not in text.split("restored to")[1].split(";")[0]


@pytest.mark.parametrize("epochs", [0, 3])
@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_already_overflowing_at_the_start(backend, epochs):
    # BUG (epochs=0): train() raises UnboundLocalError: `snapshot` is only
    # assigned inside the epoch loop, but the final "did the last update
    # overflow?" check also fires when nothing ran and the initial loss is inf.
    X = np.array([[1e200], [2e200]])
    y = np.array([0.0, 1.0])
    m = gf.MLP([1, 1], seed=0)
    before = m.params.copy()
    r, caught = train_quietly(m, X, y, lr=0.01, batch_size=None, epochs=epochs, backend=backend)
    assert r.steps == 0
    assert np.array_equal(m.params, before)
    assert r.history["loss"] == []


def _nan_gradient_problem():
    m = gf.MLP([1, 1, 1], activation="identity", output_activation="relu",
               weights=[[[1e300]], [[-1.0]]], biases=[[0.0], [0.0]])
    return m, np.array([[1e10]]), np.array([0.5])


def test_nan_gradient_with_a_finite_loss_is_possible():
    # the setting of the next test: the forward pass overflows (h = 1e10 *
    # 1e300 = inf), the relu output clamps z = inf * -1 = -inf to 0, so the
    # loss is finite but dL/dW1 = h * 0 = NaN
    m, X, y = _nan_gradient_problem()
    loss, grad = m.loss_and_grad(X, y)
    assert loss == 0.25
    assert np.isnan(grad[2]) and np.isfinite(np.delete(grad, 2)).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_gradient_with_a_finite_loss(backend):
    # BUG (C backend): the first update makes W1 NaN; from then on z = NaN and
    # the C relu (`z > 0 ? z : 0`) maps NaN to 0, so every loss stays 0.25 and
    # the loop never sees a divergence, while the NumPy reference
    # (np.maximum propagates NaN) stops after 1 step. At the end train()
    # notices the non-finite params, but _restore_finite only checks that the
    # *loss* is finite, so it keeps "the values before the last update" =
    # [nan, nan, nan, 0]: a DivergenceWarning, and NaN parameters.
    m, X, y = _nan_gradient_problem()
    before = m.params.copy()
    r, caught = train_quietly(m, X, y, lr=0.1, batch_size=None, epochs=5, backend=backend)
    assert r.stop_reason == "diverged"
    assert len(divergence_warnings(caught)) == 1
    assert np.isfinite(m.params).all(), m.params
    assert np.array_equal(m.params, before)      # the only finite parameters seen
    assert np.isfinite(r.final_loss)


def test_nan_gradient_backends_agree():
    # BUG (C backend), as above: C runs all 5 steps on NaN parameters, NumPy stops after 1
    results = {}
    for backend in BACKENDS:
        m, X, y = _nan_gradient_problem()
        r, _ = train_quietly(m, X, y, lr=0.1, batch_size=None, epochs=5, backend=backend)
        results[backend] = (r.steps, r.epochs, r.history["loss"])
    assert results["c"] == results["numpy"]
