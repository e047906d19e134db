"""Sample weights at any scale: a weighted mean does not depend on the weights'
scale, so weights of 1e-320 or 1e308 must train, measure and differentiate as
weights of 1 do, in both dtypes and on every path (train, loss, loss_and_grad,
a memmap, a stream, the estimators). The weights are scaled by a power of two
before use, which is exact: powers of two give the same bits."""
import warnings

import numpy as np
import pytest

import gradfit as gf

SCALES = [5e-324, 1e-320, 1e-310, 1e-42, 1e-7, 1.0, 3.0, 1e7, 1e300, 1e307, 4e307]
POWERS_OF_TWO = [2.0 ** -1074, 2.0 ** -1000, 2.0 ** -140, 2.0 ** 60, 2.0 ** 1000, 2.0 ** 1021]


def _data(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 3)).astype(dtype)
    y = (X @ np.array([0.5, -1.0, 2.0]) + 0.3 * np.sin(3 * X[:, 0])).astype(dtype)
    base = rng.choice([1.0, 2.0, 4.0], size=240)        # powers of two: base * scale is exact at every scale
    return X, y, base


def _train(dtype, w, **kw):
    X, y, _ = _data(dtype)
    m = gf.MLP([3, 8, 1], activation="tanh", dtype=dtype, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no DivergenceWarning, no overflow RuntimeWarning
        r = gf.train(m, X, y, sample_weight=w, optimizer="adam", lr=0.01, batch_size=16, epochs=3, seed=0, **kw)
    return m, r


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", SCALES)
def test_training_does_not_depend_on_the_weights_scale(dtype, scale):
    _, _, base = _data(dtype)
    ref, r_ref = _train(dtype, base)
    m, r = _train(dtype, base * scale)
    assert r.stop_reason == "epochs" and np.isfinite(r.final_loss) and np.isfinite(m.params).all()
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(m.params, ref.params, rtol=tol, atol=tol)
    np.testing.assert_allclose(r.history["loss"], r_ref.history["loss"], rtol=tol)
    np.testing.assert_allclose(r.final_loss, r_ref.final_loss, rtol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", POWERS_OF_TWO)
def test_a_power_of_two_scale_gives_the_same_bits(dtype, scale):
    _, _, base = _data(dtype)
    ref, r_ref = _train(dtype, base)
    m, r = _train(dtype, base * scale)
    assert np.array_equal(m.params, ref.params) and r.history == r_ref.history and r.final_loss == r_ref.final_loss


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", SCALES)
def test_loss_and_grad_do_not_depend_on_the_weights_scale(dtype, scale):
    X, y, base = _data(dtype)
    m = gf.MLP([3, 8, 1], activation="tanh", dtype=dtype, seed=0)
    value, grad = m.loss_and_grad(X, y, sample_weight=base * scale)
    ref_value, ref_grad = m.loss_and_grad(X, y, sample_weight=base)
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert np.isfinite(value) and np.isfinite(grad).all()
    np.testing.assert_allclose(value, ref_value, rtol=tol)
    np.testing.assert_allclose(grad, ref_grad, rtol=tol, atol=tol)
    np.testing.assert_allclose(m.loss(X, y, sample_weight=base * scale), ref_value, rtol=tol)
    # the true weighted mean, in float64
    pred = m.predict(X)[:, 0].astype(np.float64)
    truth = np.average((pred - y) ** 2, weights=base)
    np.testing.assert_allclose(value, truth, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_two_huge_weights_are_the_heaviest_rows_not_a_zero_gradient():
    X, y, _ = _data("float64")
    w = np.ones(240)
    w[:2] = 1e308
    m = gf.MLP([3, 8, 1], activation="tanh", seed=0)
    value, grad = m.loss_and_grad(X, y, sample_weight=w)
    two, grad_two = m.loss_and_grad(X[:2], y[:2])           # the other rows weigh ~1e-308 of these
    np.testing.assert_allclose(value, two, rtol=1e-12)
    np.testing.assert_allclose(grad, grad_two, rtol=1e-10, atol=1e-14)
    r = gf.train(m, X, y, sample_weight=w, lr=0.01, epochs=3, seed=0)
    assert r.stop_reason == "epochs" and np.isfinite(r.final_loss) and r.final_loss > 0
    assert all(np.isfinite(r.history["loss"]))


@pytest.mark.parametrize("scale", [5e-324, 1e-300, 1e307])
def test_a_memmap_and_a_stream_train_as_memory_does(tmp_path, scale):
    X, y, base = _data("float64")
    w = base * scale
    np.save(tmp_path / "X.npy", X)
    Xm = np.load(tmp_path / "X.npy", mmap_mode="r")
    blocks = [(X[i:i + 60], y[i:i + 60], w[i:i + 60]) for i in range(0, 240, 60)]
    runs = []
    for data, target, weights in ((X, y, w), (Xm, y, w), (gf.data.Chunks(blocks), None, None)):
        m = gf.MLP([3, 8, 1], activation="tanh", seed=0)
        r = gf.train(m, data, target, sample_weight=weights, lr=0.05, batch_size=16, epochs=2, shuffle=False)
        runs.append((m.params, r.history["loss"], r.final_loss))
    for params, hist, final in runs[1:]:
        assert np.array_equal(params, runs[0][0]) and hist == runs[0][1]
        np.testing.assert_allclose(final, runs[0][2], rtol=1e-12)


def test_sse_keeps_the_weights_as_given():
    """sse is a weighted sum: its value scales with the weights."""
    X, y, base = _data("float64")
    m = gf.MLP([3, 8, 1], activation="tanh", seed=0)
    np.testing.assert_allclose(m.loss(X, y, "sse", sample_weight=3 * base), 3 * m.loss(X, y, "sse", sample_weight=base),
                               rtol=1e-12)


@pytest.mark.parametrize("scale", [5e-324, 1e-300, 1e300])
def test_the_estimators_take_tiny_and_huge_weights(scale):
    """The data loss does not depend on the weights' scale; the L2 penalty does,
    as in scikit-learn (alpha / mean weight): without it the fits are equal,
    and a penalty that overflows is refused naming sample_weight."""
    pytest.importorskip("sklearn")
    from gradfit.sklearn import GradfitRegressor
    X, y, base = _data("float64")
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, alpha=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # ConvergenceWarning: 5 iterations
        a = GradfitRegressor(**kw).fit(X, y, sample_weight=base)
        b = GradfitRegressor(**kw).fit(X, y, sample_weight=base * scale)
        np.testing.assert_allclose(b.predict(X), a.predict(X), rtol=1e-9, atol=1e-12)
        if scale < 1e-310:
            with pytest.raises(ValueError, match=r"^sample_weight: the weights are so small"):
                GradfitRegressor(**dict(kw, alpha=1e-4)).fit(X, y, sample_weight=base * scale)
        else:
            c = GradfitRegressor(**dict(kw, alpha=1e-4)).fit(X, y, sample_weight=base * scale)
            assert np.isfinite(c.predict(X)).all()
