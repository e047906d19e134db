"""The kernels of issue 7: the vectorized float32 tanh of the AVX-512 path
(reciprocal estimate plus a correction instead of a division), measured
through the C core's act_forward on every SIMD path, and training that no
longer clears the gradient before the first chunk accumulates into it."""
import numpy as np
import pytest

import gradfit as gf
from gradfit import _core
from gradfit.model import ACTIVATIONS

SIMD = gf.config()["simd_available"]


def _act_into(simd, z, a, dadz):
    """tanh of z into a (and f'(z) into dadz, which may be z itself) on that SIMD path"""
    previous = gf.simd()
    try:
        gf.simd(simd)
        _core._activation(ACTIVATIONS["tanh"], z, a, dadz)
    finally:
        gf.simd(previous)


def _act(simd, z, with_dadz=True):
    a = np.empty_like(z)
    dadz = np.empty_like(z) if with_dadz else np.empty(0, z.dtype)
    _act_into(simd, z, a, dadz)
    return a, (dadz if with_dadz else None)


@pytest.mark.parametrize("simd", SIMD)
def test_tanh_f32_accuracy_every_length(simd):
    """<= 4 ulp against extended precision, for every tail length of the
    16-lane loop (n = 1 .. 40) and a long grid; dadz = 1 - a^2 from a."""
    rng = np.random.default_rng(7)
    grid = np.concatenate([np.linspace(-12, 12, 200_003), rng.normal(0, 3, 5000),
                           np.geomspace(1e-38, 20, 5000), -np.geomspace(1e-38, 20, 5000)])
    zs = [grid.astype(np.float32)] + [rng.normal(0, 2, n).astype(np.float32) for n in range(1, 41)]
    for z in zs:
        a, dadz = _act(simd, z)
        want = np.tanh(z.astype(np.longdouble)).astype(np.float32).astype(np.float64)
        got = a.astype(np.float64)
        tiny = np.finfo(np.float32).tiny
        normal = np.abs(want) >= tiny
        rel = np.abs(got - want)[normal] / np.abs(want)[normal]
        assert rel.max(initial=0) <= 4 * np.finfo(np.float32).eps, (simd, z.size, rel.max())
        assert np.abs(got - want)[~normal].max(initial=0) <= 4 * np.finfo(np.float32).smallest_subnormal
        # 1 - a^2, rounded once (fused) or twice
        exact = 1 - a.astype(np.float64) ** 2
        np.testing.assert_allclose(dadz, exact, rtol=0, atol=np.finfo(np.float32).eps)


@pytest.mark.parametrize("simd", SIMD)
def test_tanh_f32_special_values_and_in_place(simd):
    z = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 9.99, 10.0, 10.01, 1e30, -1e30,
                  -np.nan, 1e-45, -1e-45, 3e-8, 0.5, -0.5, 2.0], dtype=np.float32)
    a, _ = _act(simd, z, with_dadz=False)
    assert np.isnan(a[0]) and np.isnan(a[10])
    assert a[1] == 1 and a[2] == -1 and a[8] == 1 and a[9] == -1
    assert a[3] == 0 and a[4] == 0
    assert a[11] == z[11] and a[12] == z[12]
    np.testing.assert_array_equal(a[14:], -_act(simd, -z[14:], with_dadz=False)[0])
    # dadz in z's place, as training keeps it
    z2 = np.linspace(-3, 3, 37).astype(np.float32)
    a2, d2 = _act(simd, z2.copy())
    zz = z2.copy()
    a3 = np.empty_like(zz)
    _act_into(simd, zz, a3, zz)
    np.testing.assert_array_equal(a3, a2)
    np.testing.assert_array_equal(zz, d2)


NO_IDX = np.empty(0, np.int64)


def _loss_grad(m, X, y, chunk, fill):
    grad = np.full_like(m.params, fill)
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, chunk), m.dtype)
    value = _core.loss_grad(m._sizes, m._acts, _core.LOSSES["cross_entropy"], m.params, grad,
                            X.astype(m.dtype), y.astype(m.dtype), np.empty(0, m.dtype),
                            NO_IDX, chunk, ws)
    return value, grad


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("chunk", [7, 64, 200])
def test_first_chunk_overwrites_grad_narrow_output(simd, chunk):
    """The backward pass of the first chunk writes grad (no clearing pass):
    a NaN-filled grad buffer must come back as the gradient, equal to the
    float64 one, through the 10-wide output layer's ragged half panel, the
    transposed W^T packing (IN = 40 > 16) and several chunks of rows."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 40))
    y = np.eye(10)[rng.integers(0, 10, 150)]
    m32 = gf.MLP([40, 48, 10], activation="tanh", dtype="float32", seed=1)
    m64 = gf.MLP([40, 48, 10], activation="tanh", dtype="float64", seed=1)
    m64.params[:] = m32.params.astype(np.float64)
    want_v, want_g = _loss_grad(m64, X, y, 150, 0.0)
    previous = gf.simd()
    try:
        gf.simd(simd)
        v, g = _loss_grad(m32, X, y, chunk, np.nan)
        v0, g0 = _loss_grad(m32, X, y, chunk, 0.0)
    finally:
        gf.simd(previous)
    assert np.isfinite(g).all()
    np.testing.assert_array_equal(g, g0)
    assert v == v0
    np.testing.assert_allclose(v, want_v, rtol=1e-5)
    np.testing.assert_allclose(g, want_g, rtol=1e-4, atol=2e-6)
