"""Absurd layer sizes: the C core's size arithmetic (csrc/net.c, layout.h) is
overflow-checked, so a parameter count or a workspace that would not fit in
64-bit integers is refused with a ValueError naming layer_sizes, not wrapped
around into a small number."""
import re

import numpy as np
import pytest

from gradfit import _core

RELU, IDENTITY = 1, 0


def _net(sizes):
    acts = [RELU] * (len(sizes) - 2) + [IDENTITY]
    return np.array(sizes, dtype=np.int64), np.array(acts, dtype=np.int32)


@pytest.mark.parametrize("sizes", [
    [40, 2**40, 2**40, 1],        # (2^40 + 1) * 2^40 parameters in layer 1
    [2**32, 2**32],               # 2^64 + 2^32: wraps to 2^32 in int64
    [1, 2**62, 1],                # 2^63: wraps to a negative count
    [2**63 - 1, 1],               # (IN + 1) overflows by itself
    [3, 2**59, 3, 2**59, 1],      # each layer fits, the sum does not
])
def test_parameter_count_overflow_is_refused(sizes):
    with pytest.raises(ValueError, match=r"^layer_sizes: layer \d+ \(\d+ -> \d+\) needs .* parameters") as e:
        _core.n_params(*_net(sizes))
    with pytest.raises(ValueError, match="^layer_sizes:"):
        _core.workspace_len(*_net(sizes), 1)
    # the message names a layer of the net and its sizes
    l = int(re.search(r"layer (\d+) ", str(e.value)).group(1))
    assert f"({sizes[l]} -> {sizes[l + 1]})" in str(e.value)


def test_the_layer_named_is_the_one_that_overflows():
    # layers 0 and 1 fit (4.5e13 parameters), layer 2 needs (2^40 + 1) * 2^21
    with pytest.raises(ValueError, match=r"layer 2 \(1099511627776 -> 2097152\) needs 2.31e\+18 parameters"):
        _core.n_params(*_net([1, 40, 2**40, 2**21, 1]))


def test_largest_parameter_count_accepted():
    # 2^60 parameters exactly: accepted (nothing is allocated here)
    assert _core.n_params(*_net([2**30 - 1, 2**30])) == 2**60
    with pytest.raises(ValueError, match="^layer_sizes:"):
        _core.n_params(*_net([2**30, 2**30]))      # 2^60 + 2^30


@pytest.mark.parametrize("chunk", [2**51, 2**62, 2**63 - 1])
def test_workspace_overflow_is_refused(chunk):
    sizes, acts = _net([1000, 1000, 1])
    assert _core.n_params(sizes, acts) == 1001 * 1000 + 1001
    with pytest.raises(ValueError, match=r"^layer_sizes: a workspace for chunks of \d+ rows") as e:
        _core.workspace_len(sizes, acts, chunk)
    assert f"chunks of {chunk} rows" in str(e.value)


def test_ordinary_sizes_are_unchanged():
    # the layout: [train: prev (P) | prev state (S) | prev step (2)] | xb (C,IN) | yb (C,OUT) |
    # z,a per layer (2 C OUT_l) | dA, dB (C, widest) | packing scratch (max IN*OUT; forward
    # only: max min(IN, 256)*OUT, 1 element for C < 4)
    sizes, acts = _net([3, 5, 2])
    P = 4 * 5 + 6 * 2
    assert _core.n_params(sizes, acts) == P
    C = 7
    rows = C * 3 + C * 2 + 2 * C * 5 + 2 * C * 2 + 2 * C * 5
    assert _core.workspace_len(sizes, acts, C) == rows + 3 * 5
    assert _core.workspace_len(sizes, acts, C, forward_only=True) == rows + 3 * 5
    assert _core.workspace_len(sizes, acts, 3, forward_only=True) == rows * 3 // C + 1
    assert _core.workspace_len(sizes, acts, C, _core.OPTIMIZERS["sgd"]) == P + P + 2 + rows + 3 * 5
    sizes, acts = _net([300, 4])
    assert (_core.workspace_len(sizes, acts, C) - _core.workspace_len(sizes, acts, C, forward_only=True)
            == 300 * 4 - 256 * 4)


def test_predict_refuses_a_workspace_that_does_not_fit():
    # the typed entry points check the workspace for their chunk too
    sizes, acts = _net([2, 3, 1])
    params = np.zeros(_core.n_params(sizes, acts))
    X = np.zeros((4, 2))
    out = np.zeros((4, 1))
    ws = np.zeros(_core.workspace_len(sizes, acts, 4))
    with pytest.raises(ValueError, match="^layer_sizes: a workspace for chunks of"):
        _core.predict(sizes, acts, params, X, 2**62, ws, out)
