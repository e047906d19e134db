"""The rows-in-SIMD-lanes path for tiny nets (csrc/lanes.inc): every layer at
most 16 wide with at most 144 weights, any loss but cross_entropy. Its
training, loss, gradient and prediction agree with gradfit.reference over
every activation, loss, sample weighting, dtype and batch size; the rows
gathered through an index order and the same rows copied in that order give
bit-identical results; shapes at and just past the threshold (which take the
packed products) agree too. Every test runs on each SIMD path."""
import platform
from fractions import Fraction

import numpy as np
import pytest

import gradfit as gf
from gradfit import _core, reference

from trainhelp import Run, orders

ACTS = ["identity", "relu", "sigmoid", "tanh", "softplus"]
LOSSES = ["mse", "sse", "mae", "huber", "binary_cross_entropy", "poisson"]
TOL = {"float64": 1e-9, "float32": 2e-4}


def _data(n, n_in, n_out, loss, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    if loss == "binary_cross_entropy":
        y = (rng.random((n, n_out)) < 0.4).astype(dtype)
    elif loss == "poisson":
        y = rng.poisson(np.exp(np.tanh(X @ rng.normal(size=(n_in, n_out))))).astype(dtype)
    else:
        y = (np.tanh(X @ rng.normal(size=(n_in, n_out))) + 0.1 * rng.normal(size=(n, n_out))).astype(dtype)
    sw = rng.uniform(0.2, 2.0, n).astype(dtype)
    return X, y, sw


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def _train_both(sizes, act, loss, dtype, batch, weighted, epochs=3, n=37, chunk=None, lr=0.05, seed=0):
    X, y, sw = _data(n, sizes[0], sizes[-1], loss, dtype, seed)
    sw = sw if weighted else None
    idx = orders(n, epochs, seed=seed + 1)
    out = {}
    for backend in ("c", "numpy"):
        model = gf.MLP(sizes, activation=act, dtype=dtype, seed=seed + 2)
        run = Run(backend, model, loss, "sgd", batch, huber_delta=0.3,
                  chunk=chunk if backend == "c" else None)
        (status, steps, *_), sums = run.train(X, y, sw, idx, epochs, [lr] * epochs)
        out[backend] = (model.params.copy(), sums[0] / sums[2], status, steps)
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
def test_training_matches_reference(simd_path, act, loss, dtype):
    # 3-5-2: several inputs and outputs (transposed batches); batch 7 of 37
    # rows leaves a short last batch; weighted and unweighted
    for weighted in (False, True):
        out = _train_both([3, 5, 2], act, loss, dtype, 7, weighted)
        (pc, hc, sc, nc), (pn, hn, sn, nn) = out["c"], out["numpy"]
        assert (sc, nc) == (sn, nn) == (0, 3 * 6)
        assert np.isfinite(pc).all()
        assert _rel(pc, pn) <= TOL[dtype], (act, loss, weighted)
        np.testing.assert_allclose(hc, hn, rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [1, 2, 5, 16, 17, 31, 32, 33, 64, 37])
def test_every_batch_size(simd_path, batch, dtype):
    # whole lane blocks, tails and a single batch of all rows (37); two layers
    # of softplus as in W2, with sample weights
    out = _train_both([1, 2, 3, 1], "softplus", "huber", dtype, batch, True, epochs=2)
    assert _rel(out["c"][0], out["numpy"][0]) <= TOL[dtype]
    np.testing.assert_allclose(out["c"][1], out["numpy"][1], rtol=TOL[dtype])


def test_chunks_smaller_than_the_batch(simd_path):
    # a batch worked through in chunks of 5 rows: the same sums as one pass
    out = _train_both([2, 4, 1], "tanh", "mse", "float64", 16, True, chunk=5)
    assert _rel(out["c"][0], out["numpy"][0]) <= 1e-9


@pytest.mark.parametrize("sizes", [[1, 16, 1], [12, 12, 12], [1, 16, 9, 1],     # the lanes path's edge
                                   [1, 17, 1], [12, 13, 1], [16, 16, 1]])       # just past: packed products
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_shapes_at_and_past_the_threshold(simd_path, sizes, dtype):
    out = _train_both(sizes, "sigmoid", "mse", dtype, 8, True, n=40)
    assert _rel(out["c"][0], out["numpy"][0]) <= TOL[dtype]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes,act,loss", [([1, 1], "identity", "mse"), ([1, 2, 1], "softplus", "mse"),
                                            ([3, 5, 2], "tanh", "huber"), ([2, 3, 1], "relu", "binary_cross_entropy"),
                                            ([4, 16, 4], "sigmoid", "mae"), ([1, 17, 1], "tanh", "sse"),
                                            ([1, 2, 1], "tanh", "huber"), ([1, 2, 1], "relu", "mae"),
                                            ([1, 2, 1], "sigmoid", "binary_cross_entropy")])
@pytest.mark.parametrize("weighted", [False, True])
def test_gathered_rows_equal_the_rows_in_place(simd_path, sizes, act, loss, dtype, weighted):
    # training through an index order == training on the rows copied in that
    # order, to the bit (the other helper's cache-friendly shuffle relies on it)
    n, epochs, batch = 101, 3, 32
    X, y, sw = _data(n, sizes[0], sizes[-1], loss, dtype)
    perm = orders(n, 1, seed=4)
    results = []
    for gathered in (True, False):
        model = gf.MLP(sizes, activation=act, dtype=dtype, seed=3)
        run = Run("c", model, loss, "adam", batch, huber_delta=0.5)
        if gathered:
            args = (X, y, sw if weighted else None, np.tile(perm, epochs))
        else:
            args = (np.ascontiguousarray(X[perm]), np.ascontiguousarray(y[perm]),
                    np.ascontiguousarray(sw[perm]) if weighted else None, None)
        _, sums = run.train(*args, epochs, [0.01] * epochs)
        results.append((model.params.copy(), sums[0].copy()))
    (p1, l1), (p2, l2) = results
    assert np.array_equal(p1, p2)
    assert np.array_equal(l1, l2)
    assert not np.array_equal(p1, gf.MLP(sizes, activation=act, dtype=dtype, seed=3).params)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", ACTS)
def test_loss_grad_and_predict_match_reference(simd_path, act, dtype):
    # gf_loss, gf_loss_grad and gf_predict over more rows than one 4096-row chunk
    X, y, sw = _data(4500, 3, 2, "mse", dtype)
    model = gf.MLP([3, 6, 2], activation=act, dtype=dtype, seed=7)
    pred = model.predict(X)
    want = reference.forward(model.weights, model.biases, model.activations, X.astype(np.float64))[-1][1]
    assert _rel(pred, want) <= TOL[dtype]
    for loss in LOSSES:
        yy = y
        if loss == "binary_cross_entropy":              # one output, 0/1 targets
            model = gf.MLP([3, 6, 1], activation=act, dtype=dtype, seed=7)
            yy = (y[:, :1] > 0).astype(dtype)
        if loss == "poisson":                           # two outputs again, targets >= 0
            model = gf.MLP([3, 6, 2], activation=act, dtype=dtype, seed=7)
            yy = np.abs(y)
        ref = reference.Reference(model, loss, huber_delta=0.4)
        want_value, want_grad = ref.loss_and_grad(X, yy, sw)
        value = model.loss(X, yy, loss=loss, sample_weight=sw, huber_delta=0.4)
        v2, grad = model.loss_and_grad(X, yy, loss=loss, sample_weight=sw, huber_delta=0.4)
        assert abs(value - want_value) <= TOL[dtype] * abs(want_value), loss
        assert abs(v2 - want_value) <= TOL[dtype] * abs(want_value), loss
        assert _rel(grad, want_grad) <= TOL[dtype], loss


def test_one_one_net_loss_and_grad_in_closed_form(simd_path):
    # a 1-1 net (the lanes path) against the formulas: mean (p - y)^2 and
    # its gradient mean 2 (p - y) x, mean 2 (p - y)
    X = np.array([[1.0], [2.0], [3.0]])
    y = 2 * X[:, 0] + 1
    m = gf.MLP([1, 1], weights=[[[0.5]]], biases=[[0.0]])
    value, grad = m.loss_and_grad(X, y)
    want_pred = 0.5 * X[:, 0]
    assert value == pytest.approx(np.mean((want_pred - y) ** 2), rel=1e-15)
    assert grad == pytest.approx([np.mean(2 * (want_pred - y) * X[:, 0]), np.mean(2 * (want_pred - y))],
                                 rel=1e-15)


def test_nan_input_is_caught_not_trained_on():
    # a NaN target reaches the loss: the batch loss is NaN and the run
    # reports divergence with the params rolled back (never half-updated)
    X, y, _ = _data(40, 1, 1, "mse", "float64")
    y[5, 0] = np.nan
    model = gf.MLP([1, 2, 1], activation="softplus", seed=0)
    before = model.params.copy()
    run = Run("c", model, "mse", "sgd", 8)
    (status, steps, *_), _ = run.train(X, y, None, None, 1, [0.1])
    assert status == _core.STATUS_DIVERGED
    assert steps == 0
    assert np.array_equal(model.params, before)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n_in", [1, 2])
def test_one_loop_forward_keeps_the_bias_unfused(simd_path, n_in, dtype):
    """The 1- and 2-input layers compute z, the bias and the activation in
    one loop (lanes.inc): z must still be fl(fl(x w) + b) for one input (and
    for two, fl(x0 w0) plus x1 w1 with or without a fused multiply-add, then
    + b rounded, where a fused x0 w0 + b would differ), bit for bit, as the
    separate passes gave. Whether x1 w1 + fl(x0 w0) is contracted into an
    FMA is the compiler's choice (gcc does at -O2 and above, not at the
    sanitizer build's -O1), so both roundings of that sum are accepted; the
    bias is never fused."""
    rng = np.random.default_rng(9)
    X = rng.normal(size=(203, n_in)).astype(dtype)
    w = rng.normal(size=(n_in, 1)).astype(dtype)
    b = np.array([0.3377], dtype)
    model = gf.MLP([n_in, 1], dtype=dtype, weights=[w], biases=[b])
    got = model.predict(X)[:, 0]
    wide = np.float64 if dtype == "float32" else np.longdouble
    p0 = (X[:, 0] * w[0, 0]).astype(dtype)                 # fl(x0 w0)
    if n_in == 1:
        wants = [p0 + b[0]]
    else:
        # x1 w1 rounded, then added (no FMA: the x86 baseline, or no contraction)
        plain = (p0 + X[:, 1] * w[1, 0]) + b[0]
        # fma(x1, w1, fl(x0 w0)): the exact value, rounded once
        s = np.array([float(Fraction(float(a)) * Fraction(float(c)) + Fraction(float(d)))
                      for a, c, d in zip(X[:, 1], np.broadcast_to(w[1, 0], 203), p0)]).astype(dtype)
        wants = [plain] if simd_path == "baseline" and platform.machine().lower() in ("x86_64", "amd64") \
            else [plain, s + b[0]]
    fused = (X[:, 0].astype(wide) * wide(w[0, 0]) + wide(b[0])).astype(dtype)
    if n_in == 2:
        fused = (fused.astype(wide) + X[:, 1].astype(wide) * wide(w[1, 0])).astype(dtype)
    ok = np.zeros(got.shape, dtype=bool)
    for want in wants:
        ok |= got == want
    assert ok.all(), got[~ok]
    for want in wants:
        assert (fused != want).any()                   # the test can tell them apart


# A 1-2-1 net with a non-identity hidden layer and an identity output takes
# lanes.inc's one-pass step (lanes_chunk_121: forward, loss, backward and
# the gradient's row sums in one loop); identity hidden layers keep the
# multi-pass code. Both against gradfit.reference, every activation, loss,
# weighting and dtype, with batches that leave full SIMD blocks and tails.
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
def test_one_two_one_training_matches_reference(simd_path, act, loss, dtype):
    for batch, weighted in ((32, False), (7, True), (37, True)):
        out = _train_both([1, 2, 1], act, loss, dtype, batch, weighted, n=101,
                          lr=0.005 if loss == "sse" else 0.05)     # sse: a sum, not a mean
        (pc, hc, sc, nc), (pn, hn, sn, nn) = out["c"], out["numpy"]
        assert (sc, nc) == (sn, nn) == (0, 3 * -(-101 // batch))
        assert np.isfinite(pc).all()
        assert _rel(pc, pn) <= TOL[dtype], (act, loss, batch, weighted)
        np.testing.assert_allclose(hc, hn, rtol=TOL[dtype])


@pytest.mark.parametrize("act", ["softplus", "tanh", "relu", "sigmoid"])
def test_one_two_one_gradient_over_every_row_count(simd_path, act):
    # the one-pass step's gradient over 1..70 rows (whole blocks of SIMD
    # lanes and every tail), float64, against the reference to 1e-12, and
    # every one of the 7 entries moved (none left out of the sums)
    X, y, sw = _data(70, 1, 1, "huber", "float64", seed=5)
    model = gf.MLP([1, 2, 1], activation=act, seed=11)
    for m in range(1, 71):
        ref = reference.Reference(model, "huber", huber_delta=0.3)
        want_value, want_grad = ref.loss_and_grad(X[:m], y[:m], sw[:m])
        value, grad = model.loss_and_grad(X[:m], y[:m], loss="huber", sample_weight=sw[:m], huber_delta=0.3)
        assert abs(value - want_value) <= 1e-12 * abs(want_value), (act, m)
        assert _rel(grad, want_grad) <= 1e-12, (act, m)
        if m >= 8 and act != "relu":
            assert (grad != 0).all(), (act, m)
