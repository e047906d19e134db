"""Same seeds, same data: bit-identical results. Different seeds: different
results."""
import numpy as np
import pytest

import gradfit as gf

BACKENDS = ["c", "numpy"]
DTYPES = ["float64", "float32"]


def data(n=75, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.column_stack([np.sin(X[:, 0]) * X[:, 1], np.cos(X[:, 2])])
    return X, y


def run(backend="c", dtype="float64", init_seed=1, shuffle_seed=2, **kwargs):
    X, y = data()
    m = gf.MLP([3, 10, 6, 2], activation="tanh", output_activation="identity", dtype=dtype, seed=init_seed)
    kw = dict(lr=0.05, batch_size=8, epochs=20, seed=shuffle_seed, backend=backend)
    kw.update(kwargs)
    r = gf.train(m, X, y, **kw)
    return m, r


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seeds_give_identical_results(backend, dtype):
    m1, r1 = run(backend, dtype)
    m2, r2 = run(backend, dtype)
    assert m1.params.dtype == np.dtype(dtype)
    assert np.array_equal(m1.params, m2.params)
    assert r1.history == r2.history
    assert r1.final_loss == r2.final_loss
    assert r1.steps == r2.steps == 20 * 10
    assert np.array_equal(m1.predict(data()[0]), m2.predict(data()[0]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_init_is_deterministic(dtype):
    for init in ("glorot", "he", "zeros"):
        a = gf.MLP([4, 7, 3], init=init, seed=42, dtype=dtype)
        b = gf.MLP([4, 7, 3], init=init, seed=42, dtype=dtype)
        assert np.array_equal(a.params, b.params)
    assert not np.array_equal(gf.MLP([4, 7, 3], seed=1).params, gf.MLP([4, 7, 3], seed=2).params)


def test_init_seed_none_differs():
    a = gf.MLP([4, 7, 3], seed=None)
    b = gf.MLP([4, 7, 3], seed=None)
    assert not np.array_equal(a.params, b.params)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_different_shuffle_seed_gives_different_results(backend, dtype):
    m1, _ = run(backend, dtype, shuffle_seed=2)
    m2, _ = run(backend, dtype, shuffle_seed=3)
    diff = np.linalg.norm(m1.params.astype(float) - m2.params.astype(float)) / np.linalg.norm(m1.params.astype(float))
    assert diff > 1e-4


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_different_init_seed_gives_different_results(backend, dtype):
    m1, r1 = run(backend, dtype, init_seed=1)
    m2, r2 = run(backend, dtype, init_seed=4)
    assert not np.array_equal(m1.params, m2.params)
    assert r1.history != r2.history


@pytest.mark.parametrize("backend", BACKENDS)
def test_unshuffled_and_full_batch_runs_do_not_depend_on_the_seed(backend):
    m1, _ = run(backend, shuffle=False, shuffle_seed=2)
    m2, _ = run(backend, shuffle=False, shuffle_seed=3)
    m3, _ = run(backend, shuffle=False, shuffle_seed=None)
    assert np.array_equal(m1.params, m2.params)
    assert np.array_equal(m1.params, m3.params)
    f1, _ = run(backend, batch_size=None, shuffle_seed=2)
    f2, _ = run(backend, batch_size=None, shuffle_seed=3)
    assert np.array_equal(f1.params, f2.params)


def test_shuffle_seed_none_is_random():
    m1, _ = run(shuffle_seed=None)
    m2, _ = run(shuffle_seed=None)
    assert not np.array_equal(m1.params, m2.params)


def test_training_in_pieces_with_a_generator_equals_one_run():
    # the shuffle order comes from numpy.random.default_rng(seed): one
    # generator passed to successive calls continues the same stream
    X, y = data()
    m1 = gf.MLP([3, 10, 6, 2], activation="tanh", seed=1)
    gf.train(m1, X, y, lr=0.05, batch_size=8, epochs=6, seed=np.random.default_rng(9))
    m2 = gf.MLP([3, 10, 6, 2], activation="tanh", seed=1)
    g = np.random.default_rng(9)
    for _ in range(3):
        gf.train(m2, X, y, lr=0.05, batch_size=8, epochs=2, seed=g)
    assert np.array_equal(m1.params, m2.params)


def test_copy_trains_identically():
    X, y = data()
    m = gf.MLP([3, 10, 6, 2], activation="tanh", seed=1)
    c = m.copy()
    gf.train(m, X, y, lr=0.05, batch_size=8, epochs=3, seed=5)
    gf.train(c, X, y, lr=0.05, batch_size=8, epochs=3, seed=5)
    assert np.array_equal(m.params, c.params)


def test_repeated_predict_and_loss_are_identical():
    X, y = data()
    m, _ = run()
    assert np.array_equal(m.predict(X), m.predict(X))
    l1, g1 = m.loss_and_grad(X, y)
    l2, g2 = m.loss_and_grad(X, y)
    assert l1 == l2 and np.array_equal(g1, g2)
