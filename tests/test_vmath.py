"""The vectorizable exp / log1p / tanh behind the activations (csrc/vmath.h),
measured through the public forward pass against NumPy in extended precision."""
import numpy as np
import pytest

import gradfit as gf

REFERENCE = {
    "softplus": lambda x: np.logaddexp(np.longdouble(0), x),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
}

# largest error allowed, in units of the dtype's epsilon (measured: <= 2.3)
MAX_ULPS = 4


def _grid(dtype):
    parts = [np.linspace(-50, 50, 100_001), np.linspace(-1e-3, 1e-3, 2001),
             np.linspace(-800, 720, 10_001), [0.0, -0.0, 1e-30, -1e-30]]
    return np.concatenate(parts).astype(dtype).reshape(-1, 1)


@pytest.mark.parametrize("simd", gf.config()["simd_available"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", sorted(REFERENCE))
def test_activation_accuracy(activation, dtype, simd):
    x = _grid(dtype)
    model = gf.MLP([1, 1], output_activation=activation, dtype=dtype, weights=[[[1.0]]], biases=[[0.0]])
    previous = gf.simd()
    try:
        gf.simd(simd)
        got = model.predict(x)[:, 0].astype(np.float64)
    finally:
        gf.simd(previous)
    with np.errstate(over="ignore"):
        want = REFERENCE[activation](x[:, 0].astype(np.longdouble)).astype(dtype).astype(np.float64)
    assert np.isfinite(got).all()
    info = np.finfo(dtype)
    normal = np.abs(want) >= info.tiny
    rel = np.abs(got - want)[normal] / np.abs(want)[normal]
    assert rel.max() <= MAX_ULPS * info.eps, (activation, dtype, rel.max() / info.eps)
    # subnormal results: within a couple of the smallest steps
    assert np.abs(got - want)[~normal].max(initial=0) <= 4 * info.smallest_subnormal


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softplus_is_stable_at_extremes(dtype):
    model = gf.MLP([1, 1], output_activation="softplus", dtype=dtype, weights=[[[1.0]]], biases=[[0.0]])
    big = np.array([[1e4], [-1e4], [3e38]], dtype=dtype)
    out = model.predict(big)[:, 0]
    assert out[0] == np.asarray(1e4, dtype) and out[1] == 0 and out[2] == big[2, 0]


@pytest.mark.parametrize("simd", gf.config()["simd_available"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tanh_over_every_magnitude_is_odd_and_saturates(dtype, simd):
    """tanh is one formula for all lanes (vmath.h): it must keep its relative
    accuracy from subnormal |x| (where tanh x = x) up to the clamp, be
    exactly odd, and give exactly +-1 past it."""
    info = np.finfo(dtype)
    mags = np.geomspace(float(info.smallest_subnormal), 30.0, 200_001).astype(dtype)
    x = np.concatenate([mags, -mags]).reshape(-1, 1)
    model = gf.MLP([1, 1], output_activation="tanh", dtype=dtype, weights=[[[1.0]]], biases=[[0.0]])
    previous = gf.simd()
    try:
        gf.simd(simd)
        got = model.predict(x)[:, 0]
    finally:
        gf.simd(previous)
    n = mags.size
    np.testing.assert_array_equal(got[n:], -got[:n])
    want = np.tanh(mags.astype(np.longdouble)).astype(dtype).astype(np.float64)
    g = got[:n].astype(np.float64)
    normal = want >= info.tiny
    assert (np.abs(g - want)[normal] / want[normal]).max() <= MAX_ULPS * info.eps
    assert np.abs(g - want)[~normal].max(initial=0) <= 4 * info.smallest_subnormal
    assert (g[mags >= 20] == 1).all()
    assert (np.abs(g) <= 1).all()
