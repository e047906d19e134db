"""gf_train's one loop over an epoch's batches for 1-2-1 nets
(lanes_train.inc: train_121_epoch, taken for the mse and sse with plain sgd,
no sample weights, no L2) gives the bits of the per-batch path
(batch_loss_grad, lanes_chunk_121, optim_range). Unit sample weights take
the per-batch path with the same arithmetic (a weight of 1 scales nothing,
and the weight sum is the row count), so each run here is made twice,
without and with them, and compared exactly: params, step count, status,
where the call stopped, the epoch sums but the loss (a weighted row's loss
is rounded before its weight multiplies it, so FMA contraction may round the
sum differently). Every activation, loss (the others keep the per-batch
path) and dtype, rows in place and through an order, calls that stop
(max_batches, max_steps) and resume, a divergence rolled back, a full-data
batch's gradient norm, on each SIMD path."""
import numpy as np
import pytest

import gradfit as gf
from gradfit import _core

from trainhelp import Run, orders

ACTS = ["relu", "sigmoid", "tanh", "softplus"]
LOSSES = ["mse", "sse", "mae", "huber", "binary_cross_entropy", "poisson"]


def _data(n, loss, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1)).astype(dtype)
    if loss == "binary_cross_entropy":
        y = (rng.random((n, 1)) < 0.4).astype(dtype)
    elif loss == "poisson":
        y = rng.poisson(np.exp(np.tanh(X))).astype(dtype)
    else:
        y = (np.tanh(2 * X) + 0.1 * rng.normal(size=(n, 1))).astype(dtype)
    return X, y


def _run(act, loss, dtype, weighted, calls, batch=32, n=101, epochs=3, lr=0.05, ordered=True):
    """Trains a fresh 1-2-1 model through `calls` (a list of dicts of Run.train
    limits, each call resuming where the last stopped); returns every call's
    result, the sums, the step count and the params' bytes."""
    X, y = _data(n, loss, dtype)
    sw = np.ones(n, dtype) if weighted else None
    idx = orders(n, epochs, seed=3) if ordered else None
    model = gf.MLP([1, 2, 1], activation=act, dtype=dtype, seed=4)
    run = Run("c", model, loss, "sgd", batch, huber_delta=0.3)
    sums = (np.zeros(epochs), np.zeros(epochs), np.zeros(epochs), np.zeros(epochs, np.int64))
    results, start, done = [], 0, 0
    for limits in calls:
        if done >= epochs:
            break
        out, _ = run.train(X, y, sw, None if idx is None else idx[done * n:], epochs - done,
                           [lr] * (epochs - done), start_batch=start, sums=tuple(s[done:] for s in sums),
                           **limits)
        results.append(tuple(out))
        done += out[2]
        start = out[3]
    return results, [s.tolist() for s in sums], int(run.t[0]), model.params.tobytes()


def _same(**kw):
    a, b = _run(weighted=False, **kw), _run(weighted=True, **kw)
    assert (a[0], a[2], a[3]) == (b[0], b[2], b[3]), kw
    # the loss sums: to rounding (see above)
    assert a[1][1:] == b[1][1:]
    np.testing.assert_allclose(a[1][0], b[1][0], rtol=1e-14, atol=0)
    return a


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
def test_epoch_loop_gives_the_per_batch_bits(simd_path, act, loss, dtype):
    lr = 0.005 if loss == "sse" else 0.05
    for ordered in (True, False):
        for batch in (32, 7, 16):
            results, sums, t, _ = _same(act=act, loss=loss, dtype=dtype, calls=[{}], batch=batch,
                                        lr=lr, ordered=ordered)
            assert results[0][:3] == (0, 3 * -(-101 // batch), 3)
            assert t == 3 * -(-101 // batch) and sums[3] == [101, 101, 101]


@pytest.mark.parametrize("act", ACTS)
def test_stopped_and_resumed_calls_match(simd_path, act):
    # paused by max_batches inside an epoch, then stopped by max_steps, then
    # run to the end: the same stops, positions and bits either way
    calls = [{"max_batches": 5}, {"max_steps": 6}, {}]
    results, sums, t, _ = _same(act=act, loss="mse", dtype="float64", calls=calls)
    statuses = [r[0] for r in results]
    assert statuses[:2] == [_core.STATUS_PAUSED, _core.STATUS_MAX_STEPS]
    # 4 batches an epoch: 5 batches end at batch 1 of epoch 2, 6 more at
    # batch 3 of epoch 3, and the last call runs the one left
    assert [r[1:4] for r in results] == [(5, 1, 1), (6, 1, 3), (1, 1, 0)]
    assert t == 12 and sum(sums[3]) == 303


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_divergence_rolls_back_the_same_way(simd_path, dtype):
    results, _, t, params = _same(act="softplus", loss="mse", dtype=dtype, calls=[{}], lr=1e30)
    assert results[0][0] == _core.STATUS_DIVERGED
    # the divergence undoes the last update: t is the count before it
    assert results[0][1] >= 1 and t == results[0][1] - 1
    assert np.isfinite(np.frombuffer(params, dtype)).all()


def test_a_whole_data_batch_checks_grad_tol_the_same_way(simd_path):
    # batch >= N: the gradient norm test of every step; a tolerance above
    # the first norm converges at once, one below trains on
    for tol, status in ((1e3, _core.STATUS_CONVERGED), (1e-30, _core.STATUS_OK)):
        results, _, _, _ = _same(act="tanh", loss="mse", dtype="float64", calls=[{"grad_tol": tol}],
                                 batch=128)
        assert results[0][0] == status
        assert results[0][4] > 0
