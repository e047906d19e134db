"""The C core's matrix-product kernels (issue 7) against plain NumPy products,
on every SIMD path, in float32 and float64.

A 2-layer net with identity activations and the sse loss makes every product
of the core visible in the result:

    forward   z1 = X W1 + b1      (M=batch, K=IN,    N=H)
              p  = z1 W2 + b2     (M=batch, K=H,     N=OUT)
    backward  dW2 = z1^T dp       (M=H,     K=batch, N=OUT)   A transposed view
              dz1 = dp W2^T       (M=batch, K=OUT,   N=H)     B transposed view
              dW1 = X^T dz1       (M=IN,    K=batch, N=H)

The shapes cross every block edge of every path: rows of the register block
(6 or 8) and of the small-row paths (< 4 rows), columns of a panel (4 to 32
elements, depending on dtype and instruction set), the k block (128 or 256),
narrow outputs (1-3 columns), chunks smaller than the batch.
"""
import numpy as np
import pytest

import gradfit as gf
from gradfit import _core

NO_IDX = np.empty(0, np.int64)

# (batch, IN, H, OUT)
SHAPES = [
    (1, 1, 1, 1),
    (1, 5, 33, 3),
    (2, 3, 7, 2),
    (3, 17, 16, 4),
    (4, 8, 8, 8),
    (5, 9, 31, 10),
    (6, 2, 32, 1),
    (7, 33, 17, 5),
    (8, 16, 64, 16),
    (9, 4, 65, 33),
    (13, 1, 24, 9),
    (17, 64, 48, 15),
    (33, 31, 129, 2),
    (64, 64, 64, 1),
    (70, 300, 40, 260),       # K > k block in the forward product and in dz1
    (270, 12, 36, 7),         # K = batch > k block in dW1, dW2
]


def _problem(shape, dtype, seed=0):
    batch, IN, H, OUT = shape
    m = gf.MLP([IN, H, OUT], activation="identity", output_activation="identity",
               dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    m.params[:] = rng.normal(size=m.params.shape).astype(dtype)
    X = rng.normal(size=(batch, IN)).astype(dtype)
    y = rng.normal(size=(batch, OUT)).astype(dtype)
    return m, X, y


def _unpack(params, IN, H, OUT):
    p = params.astype(np.float64)
    W1 = p[:IN * H].reshape(IN, H)
    b1 = p[IN * H:IN * H + H]
    o = IN * H + H
    W2 = p[o:o + H * OUT].reshape(H, OUT)
    b2 = p[o + H * OUT:]
    return W1, b1, W2, b2


def _reference(m, X, y):
    """Loss (sse, mean over rows), gradient and prediction in float64 NumPy."""
    batch, IN = X.shape
    H, OUT = m.layer_sizes[1], m.layer_sizes[2]
    W1, b1, W2, b2 = _unpack(m.params, IN, H, OUT)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    z1 = X64 @ W1 + b1
    p = z1 @ W2 + b2
    dp = 2.0 * (p - y64)
    dW2 = z1.T @ dp
    dz1 = dp @ W2.T
    dW1 = X64.T @ dz1
    grad = np.concatenate([dW1.ravel(), dz1.sum(0), dW2.ravel(), dp.sum(0)])
    return float(((p - y64) ** 2).sum()), grad, p


def _c_loss_grad(m, X, y, chunk):
    grad = np.empty_like(m.params)
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, chunk), m.dtype)
    value = _core.loss_grad(m._sizes, m._acts, _core.LOSSES["sse"], m.params, grad, X, y,
                            np.empty(0, m.dtype), NO_IDX, chunk, ws)
    return value, grad


def _tol(dtype):
    return (2e-5, 2e-6) if dtype == "float32" else (1e-11, 1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_products_match_numpy(simd_path, shape, dtype):
    m, X, y = _problem(shape, dtype)
    value, grad = _c_loss_grad(m, X, y, chunk=X.shape[0])
    ref_value, ref_grad, ref_pred = _reference(m, X, y)
    rtol, atol = _tol(dtype)
    scale = np.abs(ref_grad).max()
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=atol * scale * 10)
    assert value == pytest.approx(ref_value, rel=rtol * 10)
    pred = m.predict(X)
    np.testing.assert_allclose(pred, ref_pred, rtol=rtol, atol=atol * np.abs(ref_pred).max() * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chunk", [1, 3, 5, 9])
def test_products_in_chunks_match_numpy(simd_path, chunk, dtype):
    """Chunks smaller than the batch: the products see every row count from
    1 up and the gradients of the chunks add up."""
    m, X, y = _problem((23, 19, 37, 6), dtype, seed=3)
    _, grad = _c_loss_grad(m, X, y, chunk=chunk)
    _, ref_grad, _ = _reference(m, X, y)
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=atol * np.abs(ref_grad).max() * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nan_in_one_row_stays_in_that_row(simd_path, dtype):
    """A NaN in one input row makes that row's prediction NaN and no other:
    the zero padding of the packed panels must not spread it."""
    m, X, y = _problem((19, 40, 70, 3), dtype, seed=5)
    X[11, 7] = np.nan
    pred = np.empty((19, 3), dtype)
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, 19), dtype)
    _core.predict(m._sizes, m._acts, m.params, X, 19, ws, pred)
    bad = ~np.isfinite(pred).all(axis=1)
    assert bad.tolist() == [i == 11 for i in range(19)]
    _, grad = _c_loss_grad(m, X, y, chunk=X.shape[0])
    assert np.isnan(grad).any()
