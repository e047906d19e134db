"""MLP: the flat parameter buffer and its views, repr, initialisation,
dtypes, target shapes and the chunked prediction path."""
import numpy as np
import pytest

import gradfit as gf
from gradfit import reference
from gradfit._core import PASS_ROWS as CHUNK_ROWS


# -- parameter layout and views ---------------------------------------------

def test_layout_and_sizes():
    m = gf.MLP([3, 4, 2], seed=0)
    assert m.n_params == 3 * 4 + 4 + 4 * 2 + 2 == m.params.size
    assert m.n_inputs == 3 and m.n_outputs == 2
    assert [w.shape for w in m.weights] == [(3, 4), (4, 2)]
    assert [b.shape for b in m.biases] == [(4,), (2,)]
    flat = np.concatenate([m.weights[0].ravel(), m.biases[0], m.weights[1].ravel(), m.biases[1]])
    assert np.array_equal(flat, m.params)
    assert m.activations == ("relu", "identity")
    assert m.layer_sizes == (3, 4, 2)


def test_weights_and_biases_are_views_into_params():
    m = gf.MLP([2, 3, 1], activation="tanh", seed=0)
    X = np.array([[0.5, -1.0], [2.0, 0.25]])
    before = m.predict(X)
    for W in m.weights:
        assert np.shares_memory(W, m.params)
    for b in m.biases:
        assert np.shares_memory(b, m.params)
    m.weights[0][1, 2] = 7.5
    assert m.params[1 * 3 + 2] == 7.5
    m.biases[1][0] = -3.0
    assert m.params[-1] == -3.0
    after = m.predict(X)
    assert not np.array_equal(before, after)
    # the prediction is the forward pass of the edited weights
    h = np.tanh(X @ m.weights[0] + m.biases[0])
    np.testing.assert_allclose(after, h @ m.weights[1] + m.biases[1], rtol=1e-14)


def test_writing_params_changes_the_views_and_the_output():
    m = gf.MLP([1, 1], seed=0)
    m.params[:] = [2.0, 1.0]
    assert m.weights[0][0, 0] == 2.0 and m.biases[0][0] == 1.0
    np.testing.assert_array_equal(m.predict([[3.0]]), [[7.0]])
    m.set_params([0.5, -1.0])
    np.testing.assert_array_equal(m.predict([[4.0]]), [[1.0]])


def test_training_updates_the_views():
    m = gf.MLP([1, 2, 1], activation="tanh", seed=0)
    W0 = m.weights[0]
    snapshot = W0.copy()
    X = np.linspace(-1, 1, 20).reshape(-1, 1)
    gf.train(m, X, X[:, 0] ** 2, lr=0.1, epochs=3, batch_size=5, seed=0)
    assert np.shares_memory(W0, m.params)
    assert not np.array_equal(W0, snapshot)


def test_set_params_copies():
    m = gf.MLP([2, 2], seed=0)
    new = np.arange(m.n_params, dtype=float)
    m.set_params(new)
    new[0] = 100.0
    assert m.params[0] == 0.0
    assert np.array_equal(m.params, np.arange(m.n_params))


def test_copy_is_independent():
    m = gf.MLP([2, 3, 3, 1], activation=["relu", "sigmoid"], output_activation="tanh", dtype="float32", seed=0)
    c = m.copy()
    assert c.layer_sizes == m.layer_sizes
    assert c.activations == m.activations
    assert c.dtype == m.dtype
    assert np.array_equal(c.params, m.params)
    assert not np.shares_memory(c.params, m.params)
    c.params[0] += 1.0
    assert c.params[0] != m.params[0]
    lin = gf.MLP([3, 2], seed=1).copy()
    assert lin.activations == ("identity",)


def test_explicit_weights_and_biases():
    W0 = np.array([[1.0, -1.0]])
    b0 = np.array([0.5, 0.25])
    W1 = np.array([[2.0], [3.0]])
    b1 = np.array([-1.0])
    m = gf.MLP([1, 2, 1], activation="relu", weights=[W0, W1], biases=[b0, b1])
    x = np.array([[0.4], [-2.0]])
    h = np.maximum(x @ W0 + b0, 0)
    np.testing.assert_allclose(m.predict(x), h @ W1 + b1, rtol=1e-15)
    # the given arrays are copied, not aliased
    W0[0, 0] = 99.0
    assert m.weights[0][0, 0] == 1.0


# -- repr --------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,text", [
    (dict(layer_sizes=[1, 2, 1], activation="softplus"), "MLP([1, 2, 1], softplus, float64)"),
    (dict(layer_sizes=[3, 2]), "MLP([3, 2], identity, float64)"),
    (dict(layer_sizes=[2, 3, 1], activation="tanh", output_activation="sigmoid", dtype="float32"),
     "MLP([2, 3, 1], tanh, output=sigmoid, float32)"),
    (dict(layer_sizes=[2, 3, 4, 1], activation=["relu", "tanh"]), "MLP([2, 3, 4, 1], [relu, tanh], float64)"),
    (dict(layer_sizes=[4, 1], output_activation="sigmoid"), "MLP([4, 1], sigmoid, float64)"),
])
def test_repr(kwargs, text):
    assert repr(gf.MLP(**kwargs)) == text


# -- initialisation ----------------------------------------------------------

def test_glorot_init_bounds():
    m = gf.MLP([200, 100, 50], init="glorot", seed=0)
    for W in m.weights:
        fan_in, fan_out = W.shape
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        assert np.all(np.abs(W) <= bound)
        assert np.max(np.abs(W)) > 0.99 * bound          # fills the interval
        assert abs(np.mean(W)) < 0.02 * bound
        assert np.std(W) == pytest.approx(bound / np.sqrt(3), rel=0.03)   # uniform
    for b in m.biases:
        assert np.all(b == 0)


def test_glorot_is_the_default():
    assert np.array_equal(gf.MLP([5, 4, 3], seed=3).params, gf.MLP([5, 4, 3], init="glorot", seed=3).params)


def test_he_init_std():
    m = gf.MLP([300, 200, 100], init="he", seed=0)
    for W in m.weights:
        fan_in = W.shape[0]
        assert np.std(W) == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.03)
        assert abs(np.mean(W)) < 0.02 * np.sqrt(2.0 / fan_in)
        assert np.max(np.abs(W)) > 3 * np.sqrt(2.0 / fan_in)   # normal, not uniform
    for b in m.biases:
        assert np.all(b == 0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_zeros_init(dtype):
    m = gf.MLP([4, 5, 2], init="zeros", seed=0, dtype=dtype)
    assert np.all(m.params == 0)
    np.testing.assert_array_equal(m.predict(np.ones((3, 4))), np.zeros((3, 2)))


def test_init_with_explicit_values_overrides_the_scheme():
    m = gf.MLP([1, 1], init="he", seed=0, weights=[[[3.0]]])
    assert m.weights[0][0, 0] == 3.0
    assert m.biases[0][0] == 0.0


# -- dtypes ------------------------------------------------------------------

def test_float32_is_preserved_everywhere():
    m = gf.MLP([2, 4, 1], activation="tanh", dtype="float32", seed=0)
    assert m.dtype == np.float32
    assert m.params.dtype == np.float32
    assert all(W.dtype == np.float32 for W in m.weights)
    X = np.random.default_rng(0).normal(size=(10, 2))      # float64 input
    y = X[:, 0] - X[:, 1]
    assert m.predict(X).dtype == np.float32
    loss, grad = m.loss_and_grad(X, y)
    assert grad.dtype == np.float32
    assert isinstance(loss, float)
    gf.train(m, X, y, lr=0.1, epochs=2, batch_size=4, seed=0)
    assert m.params.dtype == np.float32
    assert m.predict(X.astype(np.float32)).dtype == np.float32
    assert m.copy().params.dtype == np.float32


@pytest.mark.parametrize("dtype", ["float64", "float32", np.float32, np.dtype("float64"), "f4", "f8"])
def test_dtype_spellings(dtype):
    m = gf.MLP([1, 1], dtype=dtype)
    assert m.dtype == np.dtype(dtype)
    assert isinstance(m.dtype, np.dtype)


def test_float64_predict_of_float32_input():
    m = gf.MLP([2, 3, 1], activation="sigmoid", seed=0)
    X = np.random.default_rng(1).normal(size=(5, 2)).astype(np.float32)
    out = m.predict(X)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, m.predict(X.astype(np.float64)))


# -- targets -----------------------------------------------------------------

def test_y_flat_and_column_are_the_same():
    m = gf.MLP([2, 3, 1], activation="tanh", seed=0)
    X = np.random.default_rng(2).normal(size=(9, 2))
    y = X.sum(axis=1)
    l1, g1 = m.loss_and_grad(X, y)
    l2, g2 = m.loss_and_grad(X, y.reshape(-1, 1))
    l3, g3 = m.loss_and_grad(X, list(y))
    assert l1 == l2 == l3
    assert np.array_equal(g1, g2) and np.array_equal(g1, g3)


def test_flat_y_is_refused_for_several_outputs():
    m = gf.MLP([2, 2], seed=0)
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match=r"^y:"):
        m.loss(X, np.ones(4))
    with pytest.raises(ValueError, match=r"^y:"):
        m.loss(X, np.ones(8))
    assert m.loss(X, np.ones((4, 2))) >= 0


def test_predict_shape():
    m = gf.MLP([3, 5, 4], seed=0)
    assert m.predict(np.zeros((7, 3))).shape == (7, 4)
    assert m.predict(np.zeros((1, 3))).shape == (1, 4)
    assert m.predict([[1, 2, 3]]).shape == (1, 4)


# -- chunked paths (more rows than CHUNK_ROWS) -------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", ["relu", "softplus", "sigmoid"])
def test_predict_more_rows_than_a_chunk(dtype, activation):
    assert CHUNK_ROWS == 4096
    n = 2 * CHUNK_ROWS + 123
    m = gf.MLP([3, 8, 5, 2], activation=activation, output_activation="tanh", dtype=dtype, seed=0)
    for b in m.biases:
        b[...] = np.linspace(-0.3, 0.3, b.size)
    X = np.random.default_rng(3).normal(size=(n, 3)).astype(dtype)
    out = m.predict(X)
    assert out.shape == (n, 2) and out.dtype == np.dtype(dtype)
    ref = reference.forward(m.weights, m.biases, m.activations, X)[-1][1]
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)
    # rows are independent: predicting pieces gives the same bits
    for lo, hi in [(0, 10), (CHUNK_ROWS - 5, CHUNK_ROWS + 5), (n - 7, n)]:
        assert np.array_equal(out[lo:hi], m.predict(X[lo:hi]))


def test_loss_and_grad_more_rows_than_a_chunk_equals_the_sum_of_pieces():
    n = CHUNK_ROWS + 1000
    m = gf.MLP([2, 6, 1], activation="tanh", seed=0)
    X = np.random.default_rng(4).normal(size=(n, 2))
    y = np.sin(X[:, 0]) + X[:, 1]
    sse, g = m.loss_and_grad(X, y, loss="sse")
    s1, g1 = m.loss_and_grad(X[:3000], y[:3000], loss="sse")
    s2, g2 = m.loss_and_grad(X[3000:], y[3000:], loss="sse")
    assert sse == pytest.approx(s1 + s2, rel=1e-12)
    np.testing.assert_allclose(g, g1 + g2, rtol=1e-10, atol=1e-10)
    mse, gm = m.loss_and_grad(X, y)
    assert mse == pytest.approx(sse / n, rel=1e-12)
    np.testing.assert_allclose(gm, g / n, rtol=1e-10, atol=1e-14)


# -- TrainResult bookkeeping ---------------------------------------------------

def test_train_result_fields():
    X = np.linspace(0, 1, 50).reshape(-1, 1)
    y = 2 * X[:, 0] + 1
    m = gf.MLP([1, 1], seed=0)
    r = gf.train(m, X, y, lr=0.1, batch_size=16, epochs=4, seed=0)
    assert isinstance(r, gf.TrainResult)
    assert r.steps == 16 and r.epochs == 4        # 3 batches of 16 and one of 2, per epoch
    assert r.n_samples == 50 and r.batch_size == 16 and r.lr == 0.1
    assert r.loss_name == "mse" and r.backend == "c"
    assert r.stop_reason == "epochs"
    assert r.grad_norm is None
    assert r.final_loss == pytest.approx(m.loss(X, y), rel=1e-15)
    assert len(r.history["loss"]) == 4
    text = str(r)
    assert "4 epoch(s)" in text and "16 step(s)" in text and "ran the requested epochs" in text
    assert "stop_reason='epochs'" in repr(r)


def test_history_is_the_weighted_mean_of_batch_losses():
    # one epoch, no shuffle, batches [0:16) [16:32) [32:48) [48:50): replay it by hand
    X = np.linspace(0, 1, 50).reshape(-1, 1)
    y = np.sin(3 * X[:, 0])
    m = gf.MLP([1, 3, 1], activation="tanh", seed=0)
    replay = m.copy()
    r = gf.train(m, X, y, lr=0.1, batch_size=16, epochs=1, shuffle=False)
    total = 0.0
    for lo in range(0, 50, 16):
        loss, grad = replay.loss_and_grad(X[lo:lo + 16], y[lo:lo + 16])
        total += loss * len(X[lo:lo + 16])
        replay.params[...] -= 0.1 * grad
    assert r.history["loss"][0] == pytest.approx(total / 50, rel=1e-13)
    np.testing.assert_allclose(m.params, replay.params, rtol=1e-13, atol=1e-15)


def test_copies_and_pickles_keep_weights_as_views_of_params():
    import copy
    import pickle
    m = gf.MLP([3, 4, 2], activation="tanh", seed=1, dtype="float32")
    for other in (m.copy(), copy.copy(m), copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert other is not m and repr(other) == repr(m)
        assert other.dtype == m.dtype and np.array_equal(other.params, m.params)
        assert not np.shares_memory(other.params, m.params)
        other.weights[1][0, 0] = 42.0                     # still a view of other.params
        assert 42.0 in other.params and 42.0 not in m.params
        X = np.ones((2, 3), dtype=np.float32)
        gf.train(other, X, np.zeros((2, 2)), lr=0.1, epochs=1)
        assert np.array_equal(np.concatenate([np.r_[w.ravel(), b] for w, b in zip(other.weights, other.biases)]),
                              other.params)


def test_assigning_params_weights_biases_copies_into_the_buffer():
    m = gf.MLP([2, 3, 1], activation="relu", seed=0)
    buffer = m.params
    m.params = np.arange(m.n_params, dtype=np.float64)
    assert m.params is buffer and np.array_equal(buffer, np.arange(m.n_params))
    m.weights = [np.ones((2, 3)), np.full((3, 1), 2.0)]
    m.biases = [np.zeros(3), [5.0]]
    assert m.params is buffer
    assert np.array_equal(m.predict([[1.0, 1.0]]), [[2.0 * 3 * 2 + 5.0]])
    with pytest.raises(ValueError, match="^params:"):
        m.params = np.zeros(3)
    with pytest.raises(ValueError, match=r"^weights\[0\]:"):
        m.weights = [np.ones((3, 2)), np.ones((3, 1))]
    with pytest.raises(ValueError, match="^biases:"):
        m.biases = [np.zeros(3)]
