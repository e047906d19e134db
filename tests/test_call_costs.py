"""The per-call work around the C core (issue 21): the finiteness check that
also gives the data's largest |value| to the loss bound, and the pool's
wake-up probe repeated by later calls."""
import os
import time
import warnings

import numpy as np
import pytest

import gradfit as gf
from gradfit import _core
from gradfit._loop import _largest_abs
from gradfit._validate import check_finite, take_largest_abs


@pytest.mark.parametrize("bad, where", [(np.nan, (3, 1)), (np.inf, (0, 0)), (-np.inf, (4, 2))])
def test_check_finite_still_names_count_and_place(bad, where):
    a = np.random.default_rng(0).standard_normal((5, 3))
    a[where] = bad
    a[4, 0] = np.nan                        # a second one, after `where` in C order only for (3, 1), (0, 0)
    first = min(where, (4, 0))
    with pytest.raises(ValueError, match=rf"X: expected finite values, got 2 NaN or inf value\(s\) "
                                         rf"\(the first at index \({first[0]}, {first[1]}\)\)"):
        check_finite(a, "X")


def test_check_finite_gives_the_largest_abs_once_for_that_array_only():
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        a = (rng.standard_normal((300, 7)) * 5).astype(dtype)
        a[17, 3] = -40.5
        check_finite(a, "X")
        assert take_largest_abs(a) == 40.5 == _largest_abs(a)
        assert take_largest_abs(a) is None                 # taken already
        same_values = a.copy()
        check_finite(a, "X")
        assert take_largest_abs(same_values) is None       # another array: not this check's
        assert take_largest_abs(a) == 40.5


def test_largest_abs_of_an_empty_and_a_non_finite_array():
    check_finite(np.zeros((0, 3)), "X")
    assert take_largest_abs(np.zeros((0, 3))) is None
    e = np.zeros((0, 3))
    check_finite(e, "X")
    assert take_largest_abs(e) == 0.0
    b = np.array([[1.0, np.nan]])
    with pytest.raises(ValueError):
        check_finite(b, "X")
    assert take_largest_abs(b) is None                     # nothing recorded for a failed check


@pytest.mark.parametrize("scale, diverges", [(1.0, False), (1e18, True)])
def test_final_loss_bound_from_the_check_still_finds_overflow(scale, diverges):
    """The loss bound uses the check's largest |x|: data whose squares
    overflow float32 still make the call diverge, ordinary data does not."""
    rng = np.random.default_rng(2)
    X = (rng.standard_normal((64, 3)) * scale).astype(np.float32)
    y = X.sum(axis=1)
    m = gf.MLP([3, 1], seed=0, dtype="float32")
    with np.errstate(all="ignore"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = gf.train(m, X, y, epochs=1, batch_size=64, lr=1e-3, seed=0)
    assert (r.stop_reason == "diverged") == diverges
    assert any(issubclass(w.category, gf.DivergenceWarning) for w in caught) == diverges
    assert np.isfinite(m.params).all()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPUs for the pool")
def test_repeated_probe_only_lowers_the_wake_up_cost_and_rederives():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((600, 256)).astype(np.float32)
    y = X[:, :1].copy()
    m = gf.MLP([256, 256, 1], seed=0, dtype="float32")
    seen = []
    for _ in range(4):
        gf.train(m, X, y, epochs=1, batch_size=200, lr=1e-4, seed=0, n_threads=2)
        t = _core.tuning_get()
        seen.append(t["wake_ns"])
        time.sleep(0.012)                  # more than the gap between probe rounds
    if seen[0] == 0:
        pytest.skip("the pool did not start (the products stayed under the thresholds)")
    assert all(b <= a for a, b in zip(seen, seen[1:])), seen
    if t["derive"]:
        macs = int(4 * 32 * t["wake_ns"] * t["macs_per_ns"])    # 4 x GF_SPLIT_MARGIN wake-ups
        assert t["parallel_macs"] == max(macs, 1 << 12)
