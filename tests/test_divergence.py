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
    loss = m.loss(X, y, loss=r.loss_name)
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
def test_full_batch_divergence_restores_the_best_values(backend):
    # full batch, a loss that only grows: of the candidates (the values
    # before the last update, the start of the call), the start is the best
    X, y = line_data()
    m = gf.MLP([1, 1], seed=0)
    start = m.params.copy()
    r, caught = train_quietly(m, X, y, lr=10.0, batch_size=None, epochs=1000, backend=backend)
    assert r.stop_reason == "diverged"
    assert r.restored == "the values the call started from"
    assert np.array_equal(m.params, start)
    # steps updates were made; the values before the last one are finite but worse
    m2 = gf.MLP([1, 1], seed=0)
    r2, caught2 = train_quietly(m2, X, y, lr=10.0, batch_size=None, epochs=1000, max_steps=r.steps - 1,
                                backend=backend)
    assert r2.stop_reason == "max_steps"
    assert not divergence_warnings(caught2)
    assert np.isfinite(r2.final_loss) and r2.final_loss > r.final_loss == m.loss(X, y)


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
    assert r.final_loss <= gf.MLP([1, 8, 1], activation="relu", seed=1).loss(X, y)
    assert r.restored in ("the values the call started from", "the values before the last update")
    if r.restored != "the values the call started from":
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
    # regression: with minibatches the parameters were once restored to the
    # values before the last update, whose *batch* loss was finite, although
    # the loss over all the data there was still inf.
    X, y = line_data()
    m = gf.MLP([1, 1], seed=0, dtype=dtype)
    r, caught = train_quietly(m, X, y, lr=10.0, batch_size=16, epochs=1000, seed=0, backend=backend)
    assert r.stop_reason == "diverged"
    assert_diverged_cleanly(m, r, X, y, caught)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_no_stray_warnings_from_the_c_backend(batch_size):
    # regression (full batch): the epoch in which the loss overflowed completes
    # no batch; its history entry once was 0 / 0, with a NumPy warning.
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
    # regression (epochs=0): the "did the last update overflow?" check once
    # fired when nothing ran and the initial loss was inf (UnboundLocalError).
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
    # the first update makes W1 NaN; z = NaN must propagate through the relu
    # (as np.maximum does) so that both backends stop after 1 step, and the
    # model must get finite parameters back (regression: NaN ones were kept).
    m, X, y = _nan_gradient_problem()
    before = m.params.copy()
    r, caught = train_quietly(m, X, y, lr=0.1, batch_size=None, epochs=5, backend=backend)
    assert r.stop_reason == "diverged"
    assert len(divergence_warnings(caught)) == 1
    assert np.isfinite(m.params).all(), m.params
    assert np.array_equal(m.params, before)      # the only finite parameters seen
    assert np.isfinite(r.final_loss)


def test_nan_gradient_backends_agree():
    # regression, as above: C once ran all 5 steps on NaN parameters
    results = {}
    for backend in BACKENDS:
        m, X, y = _nan_gradient_problem()
        r, _ = train_quietly(m, X, y, lr=0.1, batch_size=None, epochs=5, backend=backend)
        results[backend] = (r.steps, r.epochs, r.history["loss"])
    assert results["c"] == results["numpy"]
