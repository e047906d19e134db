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

# largest error allowed, in units of the dtype's epsilon (measured: <= 2.3; float64 softplus <= 1.8)
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


def _sigmoid_via_lanes_grad(z, dtype, simd):
    """sigmoid(z), the derivative the lanes path keeps for softplus, read back
    exactly: a 1-1 softplus net on 16 equal rows of z with the MAE loss
    against a target far below, so d loss / d bias = (1/16) * 16 sigmoid(z)
    (one sign times the derivative, summed over 16 lanes: exact)."""
    from gradfit import _core
    model = gf.MLP([1, 1], output_activation="softplus", dtype=dtype, weights=[[[1.0]]], biases=[[0.0]])
    ws = np.empty(_core.workspace_len(model._sizes, model._acts, 16), model.dtype)
    y = np.full((16, 1), -1e30, dtype)
    out = np.empty(z.size)
    previous = gf.simd()
    try:
        gf.simd(simd)
        for j, zj in enumerate(z):
            grad = np.zeros_like(model.params)
            _core.loss_grad(model._sizes, model._acts, _core.LOSSES["mae"], model.params, grad,
                            np.full((16, 1), zj, dtype), y, np.empty(0, dtype), np.empty(0, np.int64), 16, ws)
            out[j] = grad[1]
    finally:
        gf.simd(previous)
    return out


@pytest.mark.parametrize("simd", gf.config()["simd_available"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softplus_derivative_on_the_lanes_path(dtype, simd):
    """The derivative that softplus's fused body (vmath.h gf_softplus_g for
    float64) hands to the backward pass: <= 4 ulp against extended precision,
    exactly 1 and 0 at +-inf, NaN for NaN."""
    z = np.concatenate([np.linspace(-40, 40, 1601), np.linspace(-1e-3, 1e-3, 41),
                        [-745.0, -700.0, 0.0, -0.0, 1e-30, 700.0]]).astype(dtype)
    got = _sigmoid_via_lanes_grad(z, dtype, simd)
    want = (1 / (1 + np.exp(-z.astype(np.longdouble)))).astype(dtype).astype(np.float64)
    info = np.finfo(dtype)
    normal = want >= info.tiny
    rel = np.abs(got - want)[normal] / want[normal]
    assert rel.max() <= MAX_ULPS * info.eps, (dtype, simd, rel.max() / info.eps)
    assert np.abs(got - want)[~normal].max(initial=0) <= 4 * info.smallest_subnormal
    special = _sigmoid_via_lanes_grad(np.array([np.inf, -np.inf, np.nan], dtype), dtype, simd)
    assert special[0] == 1 and special[1] == 0 and np.isnan(special[2])


@pytest.mark.parametrize("simd", gf.config()["simd_available"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softplus_lanes_every_tail_length_and_special_values(dtype, simd):
    """The lanes path's softplus over 1..40 rows (vector body and tail): the
    same bits as the same z in a long block, within 4 ulp, and the special
    values in any lane: NaN in NaN out, +inf -> inf, -inf -> 0."""
    rng = np.random.default_rng(11)
    model = gf.MLP([1, 1], output_activation="softplus", dtype=dtype, weights=[[[1.0]]], biases=[[0.0]])
    previous = gf.simd()
    try:
        gf.simd(simd)
        zs = [rng.normal(0, 6, n).astype(dtype) for n in range(1, 41)]
        long = np.concatenate(zs)
        all_at_once = model.predict(long.reshape(-1, 1))[:, 0]
        pieces = np.concatenate([model.predict(z.reshape(-1, 1))[:, 0] for z in zs])
        special = np.array([1.0, np.nan, 2.0, np.inf, -np.inf, -3.0, 0.0, -np.nan, 5.0], dtype)
        sp = model._predict(np.tile(special, 3).reshape(-1, 1))[:, 0]    # no input checks: NaN and inf reach the C core
    finally:
        gf.simd(previous)
    np.testing.assert_array_equal(pieces, all_at_once)
    want = np.logaddexp(np.longdouble(0), long.astype(np.longdouble)).astype(dtype).astype(np.float64)
    assert (np.abs(pieces - want) / want).max() <= MAX_ULPS * np.finfo(dtype).eps
    sp = sp.reshape(3, -1)
    assert np.isnan(sp[:, 1]).all() and np.isnan(sp[:, 7]).all()
    assert (sp[:, 3] == np.inf).all() and (sp[:, 4] == 0).all()
    assert np.isfinite(sp[:, [0, 2, 5, 6, 8]]).all()
