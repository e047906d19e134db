"""gradfit.bench.baseline (the benchmark suite's "numpy" column, a NumPy loop
tuned for speed) trains as gradfit.reference (gf.train(backend="numpy"), the
readable oracle) does: same parameters, epoch losses and final loss, for
every activation and loss it has, and the same stop on divergence."""
import numpy as np
import pytest

import gradfit as gf
from gradfit import reference

ACTIVATIONS = ["identity", "relu", "sigmoid", "tanh", "softplus"]


@pytest.fixture(scope="module")
def baseline():
    from gradfit.bench import baseline
    return baseline


def problem(loss, activation, n=45, sizes=(3, 6, 4, 3), dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    m = gf.MLP(list(sizes), activation=activation, dtype=dtype, seed=seed + 1)
    X = rng.normal(0.0, 2.0, size=(n, sizes[0]))
    X[0, 0], X[1, 1] = 40.0, -40.0                # saturating and overflowing exponentials
    if loss == "cross_entropy":
        y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
        y[:3] = rng.dirichlet(np.ones(sizes[-1]), 3)       # probability rows
        y[3] *= 0.5                                        # and one whose sum is not 1
    else:
        y = rng.normal(size=(n, sizes[-1]))
    return m, X.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("loss", ["mse", "sse", "cross_entropy"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("batch", [8, 45, 64])
def test_trains_as_the_reference(baseline, activation, loss, batch):
    m, X, y = problem(loss, activation)
    params = m.params.copy()
    lr = 1e-4 if loss == "sse" else 0.01
    result = gf.train(m, X, y, loss=loss, lr=lr, batch_size=batch, epochs=3, shuffle=True, seed=4,
                      backend="numpy")
    losses, diverged, final = baseline.train(params, m.layer_sizes, m.activations, X, y, loss=loss, lr=lr,
                                             batch_size=batch, epochs=3, seed=4)
    assert result.stop_reason == "epochs" and not diverged
    np.testing.assert_allclose(params, m.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(losses, result.history["loss"], rtol=1e-12)
    assert final == pytest.approx(result.final_loss, rel=1e-12)
    assert not np.array_equal(params, gf.MLP(list(m.layer_sizes), activation=activation, seed=1).params)


@pytest.mark.parametrize("activation", ["tanh", "softplus"])
def test_float32_trains_as_the_reference(baseline, activation):
    m, X, y = problem("mse", activation, dtype="float32")
    params = m.params.copy()
    result = gf.train(m, X, y, lr=0.01, batch_size=8, epochs=2, seed=0, backend="numpy")
    _, _, final = baseline.train(params, m.layer_sizes, m.activations, X, y, lr=0.01, batch_size=8, epochs=2)
    np.testing.assert_allclose(params, m.params, rtol=1e-5, atol=1e-6)
    assert final == pytest.approx(result.final_loss, rel=1e-5)


def test_divergence_stops_with_the_values_before_the_last_update(baseline):
    """As Reference.train (the low-level call; gf.train then restores the best epoch's parameters)."""
    m, X, y = problem("sse", "identity", sizes=(3, 1))
    params = m.params.copy()
    epochs, n = 50, X.shape[0]
    rng = np.random.default_rng(0)
    idx = np.concatenate([gf.epoch_order(rng, n) for _ in range(epochs)]).astype(np.int64)
    sums = (np.zeros(epochs), np.zeros(epochs), np.zeros(epochs), np.zeros(epochs, np.int64))
    status, steps, *_ = reference.Reference(m, "sse").train(
        X, y, np.empty(0), idx, epochs, 0, 20, np.full(epochs, 0.5), -1, -1, 0.0, np.empty(0),
        np.zeros(1, np.int64), *sums)
    losses, diverged, final = baseline.train(params, m.layer_sizes, m.activations, X, y, loss="sse", lr=0.5,
                                             batch_size=20, epochs=epochs)
    assert status == reference.STATUS_DIVERGED and diverged
    assert len(losses) == int(np.count_nonzero(sums[3] == n)) < epochs
    np.testing.assert_allclose(params, m.params, rtol=1e-12)
    assert np.isfinite(final)


def test_refuses_what_it_does_not_have(baseline):
    params = np.zeros(4)
    with pytest.raises(ValueError, match="loss"):
        baseline.NumpyBaseline(params, [1, 1, 1], ["tanh", "identity"], loss="huber")
    with pytest.raises(ValueError, match="activations"):
        baseline.NumpyBaseline(params, [1, 1, 1], ["gelu", "identity"])


@pytest.mark.parametrize("loss", ["mse", "sse", "cross_entropy"])
def test_the_final_loss_over_blocks_of_rows_is_the_references(baseline, loss):
    m, X, y = problem(loss, "softplus")
    net = baseline.NumpyBaseline(m.params.copy(), m.layer_sizes, m.activations, loss)
    want = reference.Reference(m, loss).loss_only(X, y)
    for block in (7, 45, 4096):
        assert net.loss(X, y, block=block) == pytest.approx(want, rel=1e-12)
