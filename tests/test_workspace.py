"""Workspace sizes: prediction and forward-only losses get a workspace sized
for forward passes (no copy of the params, a small packing scratch), and
that smaller workspace gives the same bits as a training-sized one."""
import tracemalloc

import numpy as np
import pytest

import gradfit as gf
from gradfit import _core
from gradfit._names import OPTIMIZERS


def peak_bytes(call):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def wide():
    return gf.MLP([2048, 2048, 1], activation="relu", seed=0)      # 4.2M float64 params: 33.6 MB


def test_predicting_one_row_of_a_wide_net_allocates_little(wide):
    x = np.random.default_rng(0).normal(size=(1, 2048))
    wide.predict(x)
    # a copy of the params plus a max(IN*OUT) scratch would be 67 MB: predict needs neither
    assert peak_bytes(lambda: wide.predict(x)) < 1 * 2**20


def test_forward_only_loss_of_a_wide_net_allocates_little(wide):
    x = np.random.default_rng(0).normal(size=(3, 2048))
    y = np.ones(3)
    assert np.isfinite(wide.loss(x, y))
    assert peak_bytes(lambda: wide.loss(x, y)) < 1 * 2**20


def test_the_forward_workspace_is_far_smaller_than_a_training_one(wide):
    forward = _core.workspace_len(wide._sizes, wide._acts, 64, forward_only=True)
    grad = _core.workspace_len(wide._sizes, wide._acts, 64)
    train = _core.workspace_len(wide._sizes, wide._acts, 64, OPTIMIZERS["sgd"])
    # forward: rows of layers and deltas (64 x 7 x 2048 at most) + a 256 x 2048 packing scratch;
    # grad: the 2048 x 2048 scratch instead; train: + copies of params, state, step count
    assert forward < 64 * 7 * 2048 + 256 * 2048
    assert grad - forward == 2048 * 2048 - 256 * 2048
    assert train - grad == 2 * wide.n_params + 2      # the params, the momentum state and the step count


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [1, 3, 4, 37, 300])
def test_a_forward_workspace_gives_the_same_bits_as_a_training_one(dtype, rows):
    # widths past the k block (256) and the column panels, so the packed products run several k blocks
    m = gf.MLP([600, 300, 40, 3], activation="tanh", dtype=dtype, seed=1)
    X = np.random.default_rng(2).normal(size=(rows, 600)).astype(dtype)
    outs = []
    for ws_len in (_core.workspace_len(m._sizes, m._acts, rows, forward_only=True),
                   _core.workspace_len(m._sizes, m._acts, rows, OPTIMIZERS["adam"])):
        out = np.empty((rows, 3), dtype=dtype)
        _core.predict(m._sizes, m._acts, m.params, X, rows, np.empty(ws_len, dtype=dtype), out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], m.predict(X), rtol=0, atol=0)


def test_predict_refuses_a_workspace_too_short():
    m = gf.MLP([5, 7, 2], seed=0)
    need = _core.workspace_len(m._sizes, m._acts, 10, forward_only=True)
    X = np.zeros((10, 5))
    out = np.empty((10, 2))
    with pytest.raises(ValueError, match=rf"^ws: expected at least {need} entries for chunks of 10 rows, got {need - 1}"):
        _core.predict(m._sizes, m._acts, m.params, X, 10, np.empty(need - 1), out)
    with pytest.raises(ValueError, match=r"^out: expected shape \(10, 2\), got \(9, 2\)"):
        _core.predict(m._sizes, m._acts, m.params, X, 10, np.empty(need), np.empty((9, 2)))
