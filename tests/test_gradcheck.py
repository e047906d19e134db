"""loss_and_grad (the C backward pass) against central finite differences of
the loss, for every activation, both losses and several architectures."""
import numpy as np
import pytest

import gradfit as gf
from gradfit import _names as gf_names
from gradfit import reference


@pytest.fixture(autouse=True)
def _every_simd_path(simd_path):
    """Every test here runs on each SIMD path (see conftest.py)."""


ACTIVATIONS = list(gf_names.ACTIVATIONS)          # every activation the C core and _math define
LOSSES = ["mse", "sse"]
ARCHITECTURES = [
    [3, 2],            # linear, multi-output
    [1, 2, 1],
    [3, 5, 1],
    [4, 6, 3],         # one hidden layer, multi-output
    [2, 4, 3, 5, 2],   # three hidden layers, multi-output
    [3, 20, 2],        # wider than the narrow-net path (16): the general products and activations
    [5, 40, 3],
]
EPS = 1e-5           # central differences: truncation ~EPS^2, round-off ~1e-16/EPS
KINK_MARGIN = 1e-4     # relu: no pre-activation closer than this to 0
N_SAMPLES = 7


def _min_abs_preactivation(model, X):
    cache = reference.forward(model.weights, model.biases, model.activations, X)
    return min(np.min(np.abs(z)) for z, _ in cache)


def make_problem(layer_sizes, activation, output_activation="identity", seed=0):
    """A float64 model and data with every pre-activation at least KINK_MARGIN
    away from 0 (only matters for relu, but harmless for the others)."""
    rng = np.random.default_rng(seed)
    for attempt in range(200):
        model = gf.MLP(layer_sizes, activation=activation, output_activation=output_activation,
                       seed=seed * 1000 + attempt)
        # non-zero biases so that the bias gradients go through every path
        for b in model.biases:
            b[...] = rng.normal(0.0, 0.3, size=b.shape)
        X = rng.normal(0.0, 1.0, size=(N_SAMPLES, layer_sizes[0]))
        y = rng.normal(0.0, 1.0, size=(N_SAMPLES, layer_sizes[-1]))
        if _min_abs_preactivation(model, X) > KINK_MARGIN:
            return model, X, y
    raise AssertionError("could not draw a problem away from the relu kinks")


def numeric_grad(model, X, y, loss, eps=EPS):
    p = model.params
    g = np.empty_like(p)
    for i in range(p.size):
        old = p[i]
        p[i] = old + eps
        up = model.loss(X, y, loss=loss)
        p[i] = old - eps
        down = model.loss(X, y, loss=loss)
        p[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def rel_error(a, n):
    """Max elementwise |a - n| / max(|a|, |n|, 1e-8); the 1e-8 floor covers
    entries that are exactly 0 (dead relu units)."""
    return np.max(np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), 1e-8))


def check(model, X, y, loss, tol=1e-6):
    before = model.params.copy()
    value, grad = model.loss_and_grad(X, y, loss=loss)
    assert np.array_equal(model.params, before), "loss_and_grad must not change params"
    assert grad.shape == model.params.shape
    assert grad.dtype == np.float64
    assert np.isfinite(value) and value > 0
    num = numeric_grad(model, X, y, loss)
    assert np.array_equal(model.params, before)
    err = rel_error(grad, num)
    norm_err = np.linalg.norm(grad - num) / max(np.linalg.norm(grad), np.linalg.norm(num))
    assert err <= tol, f"max elementwise relative error {err:.3g}"
    assert norm_err <= tol, f"relative error of the norm {norm_err:.3g}"
    assert np.linalg.norm(grad) > 1e-3  # not a vacuous check
    return value, grad


@pytest.mark.parametrize("layer_sizes", ARCHITECTURES, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_gradcheck_hidden_activation(layer_sizes, activation, loss):
    model, X, y = make_problem(layer_sizes, activation)
    check(model, X, y, loss)


@pytest.mark.parametrize("output_activation", ACTIVATIONS)
@pytest.mark.parametrize("layer_sizes", [[3, 2], [3, 5, 2], [2, 4, 3, 1]], ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("loss", LOSSES)
def test_gradcheck_output_activation(layer_sizes, output_activation, loss):
    model, X, y = make_problem(layer_sizes, "tanh", output_activation=output_activation, seed=1)
    if output_activation == "sigmoid":
        y = 1 / (1 + np.exp(-y))   # targets a sigmoid can reach
    check(model, X, y, loss)


@pytest.mark.parametrize("loss", LOSSES)
def test_gradcheck_mixed_activations_per_layer(loss):
    model, X, y = make_problem([3, 4, 5, 4, 2], ["sigmoid", "relu", "softplus"], output_activation="tanh", seed=2)
    assert model.activations == ("sigmoid", "relu", "softplus", "tanh")
    check(model, X, y, loss)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mse_is_sse_over_size(activation):
    model, X, y = make_problem([2, 4, 3], activation, seed=3)
    mse, gm = model.loss_and_grad(X, y, loss="mse")
    sse, gs = model.loss_and_grad(X, y, loss="sse")
    n = y.size
    assert mse == pytest.approx(sse / n, rel=1e-13)
    np.testing.assert_allclose(gm, gs / n, rtol=1e-12, atol=1e-15)
    pred = model.predict(X)
    assert mse == pytest.approx(np.mean((pred - y) ** 2), rel=1e-13)
    assert sse == pytest.approx(np.sum((pred - y) ** 2), rel=1e-13)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_matches_reference_backward(activation, loss):
    model, X, y = make_problem([2, 4, 3, 5, 2], activation, output_activation="sigmoid", seed=4)
    value, grad = model.loss_and_grad(X, y, loss=loss)
    ref = reference.Reference(model, loss)
    rvalue, rgrad = ref.loss_and_grad(X, y)
    assert value == pytest.approx(rvalue, rel=1e-13)
    np.testing.assert_allclose(grad, rgrad, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("layer_sizes", ARCHITECTURES, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_float32_matches_float64(layer_sizes, activation, loss):
    m64, X, y = make_problem(layer_sizes, activation, seed=5)
    # params and data exactly representable in float32 so both see the same problem
    X = X.astype(np.float32).astype(np.float64)
    y = y.astype(np.float32).astype(np.float64)
    m64.set_params(m64.params.astype(np.float32).astype(np.float64))
    m32 = gf.MLP(layer_sizes, activation=activation, dtype="float32")
    m32.set_params(m64.params)
    v64, g64 = m64.loss_and_grad(X, y, loss=loss)
    v32, g32 = m32.loss_and_grad(X.astype(np.float32), y.astype(np.float32), loss=loss)
    assert g32.dtype == np.float32
    assert isinstance(v32, float)
    assert v32 == pytest.approx(v64, rel=1e-4)
    assert np.linalg.norm(g32 - g64) / np.linalg.norm(g64) <= 1e-4
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4 * np.max(np.abs(g64)))


@pytest.mark.parametrize("layer_sizes", [[3, 5, 1], [3, 20, 2], [5, 40, 3]], ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_float32_gradient_matches_the_checked_float64_one(layer_sizes, activation, loss):
    """Float32 has its own kernels (AVX-512's tanh among them) that float64's
    finite differences never run: its gradient must agree with the float64
    gradient (checked above against finite differences) of the same weights,
    to float32's precision."""
    model, X, y = make_problem(layer_sizes, activation)
    _, g64 = model.loss_and_grad(X, y, loss=loss)
    m32 = gf.MLP(layer_sizes, activation=activation, dtype="float32", init="zeros")
    m32.params = model.params.astype(np.float32)
    # the float64 reference at exactly the float32 weights and data
    m64 = gf.MLP(layer_sizes, activation=activation, init="zeros")
    m64.params = m32.params.astype(np.float64)
    X32 = X.astype(np.float32)
    _, g64 = m64.loss_and_grad(X32.astype(np.float64), y.astype(np.float32).astype(np.float64), loss=loss)
    _, g32 = m32.loss_and_grad(X32, y.astype(np.float32), loss=loss)
    scale = np.abs(g64).max()
    assert np.abs(g32.astype(np.float64) - g64).max() <= 2e-5 * scale, np.abs(g32 - g64).max() / scale


@pytest.mark.parametrize("layer_sizes", ARCHITECTURES, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["poisson", "binary_cross_entropy"])
def test_gradcheck_poisson_and_multilabel(layer_sizes, activation, loss):
    """The losses whose targets are not any real number: counts and rates
    (poisson, below e so that every term exp(z) - y z is > 0) and 0/1 labels
    on every output (binary_cross_entropy with several outputs: multilabel)."""
    model, X, y = make_problem(layer_sizes, activation, seed=6)
    rng = np.random.default_rng(6)
    if loss == "poisson":
        y = np.minimum(rng.poisson(1.0, y.shape), 2).astype(float)
        y[0, 0] = 0.5
    else:
        y = rng.integers(0, 2, y.shape).astype(float)
    # central differences' round-off grows with the wide nets' smaller entries: 1e-5 still sees any wrong formula
    check(model, X, y, loss, tol=1e-6 if max(layer_sizes) <= 16 else 1e-5)
