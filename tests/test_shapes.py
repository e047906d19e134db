"""The C kernels block the matrix products (6 or 8 rows x 2 vector registers
of columns in registers, then 4-, 2- and 1-row blocks; k in blocks of 256; a
separate path for layers with 1-3 outputs; plain loops for the leftover
columns): every width and row count around those block edges must give the
NumPy reference's loss, gradient and prediction, on every SIMD path."""
import numpy as np
import pytest

import gradfit as gf
from gradfit import reference

WIDTHS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33]
ROWS = [1, 2, 3, 4, 5, 8, 9, 31]
TOL = {"float64": 1e-12, "float32": 2e-5}


@pytest.fixture(autouse=True)
def _every_simd_path(simd_path):
    """Every test here runs on each SIMD path (see conftest.py)."""


def rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def compare(layer_sizes, n_rows, dtype, activation="tanh", loss="mse", seed=0):
    rng = np.random.default_rng(seed)
    m = gf.MLP(layer_sizes, activation=activation, dtype=dtype, seed=seed)
    for b in m.biases:
        b[...] = rng.normal(0, 0.2, size=b.shape)
    X = rng.normal(size=(n_rows, layer_sizes[0])).astype(dtype)
    y = rng.normal(size=(n_rows, layer_sizes[-1])).astype(dtype)
    tol = TOL[dtype]
    pred = m.predict(X)
    ref_pred = reference.forward(m.weights, m.biases, m.activations, X)[-1][1]
    assert rel(pred, ref_pred) <= tol
    value, grad = m.loss_and_grad(X, y, loss=loss)
    rvalue, rgrad = reference.Reference(m, loss).loss_and_grad(X, y)
    assert value == pytest.approx(rvalue, rel=tol)
    assert rel(grad, rgrad) <= tol
    # every row on its own: the row-blocked and leftover paths agree
    for i in (0, n_rows - 1):
        np.testing.assert_allclose(m.predict(X[i:i + 1]), pred[i:i + 1], rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n_out", WIDTHS)
@pytest.mark.parametrize("n_in", [1, 3, 8, 17])
def test_single_layer(n_in, n_out, dtype):
    for n_rows in ROWS:
        compare([n_in, n_out], n_rows, dtype, loss="sse")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden", WIDTHS)
def test_one_hidden_layer(hidden, dtype):
    for n_in, n_out in [(1, 1), (2, 3), (5, 4), (9, 17)]:
        for n_rows in ROWS:
            compare([n_in, hidden, n_out], n_rows, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layer_sizes", [[3, 16, 17, 2], [33, 9, 8, 7, 1], [1, 4, 4, 4, 4, 1], [17, 33, 15, 16]],
                         ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "softplus", "identity"])
def test_deeper(layer_sizes, activation, dtype):
    for n_rows in ROWS:
        compare(layer_sizes, n_rows, dtype, activation=activation, seed=n_rows)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_size", [1, 3, 4, 5, 9, 16, 17])
def test_training_with_batch_sizes_around_the_blocks(batch_size, dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(41, 5))
    y = np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2], np.tanh(X[:, 3])])
    out = {}
    for backend in ("c", "numpy"):
        m = gf.MLP([5, 9, 17, 3], activation="tanh", dtype=dtype, seed=2)
        r = gf.train(m, X, y, lr=0.02, batch_size=batch_size, epochs=4, seed=3, backend=backend)
        out[backend] = (m.params.copy(), r.history["loss"])
    tol = {"float64": 1e-10, "float32": 1e-4}[dtype]
    assert rel(out["c"][0], out["numpy"][0]) <= tol
    np.testing.assert_allclose(out["c"][1], out["numpy"][1], rtol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layer_sizes,n_rows", [([300, 40, 1], 13), ([5, 70, 3], 300), ([257, 65, 9], 517)])
def test_k_blocks_and_wide_layers(layer_sizes, n_rows, dtype):
    # inner dimensions above the 256-wide k block: inputs (forward), rows
    # (the weight gradient sums over the batch)
    compare(layer_sizes, n_rows, dtype, activation="relu")
