"""Every SIMD path is run: the same training on each path gives the same
result as the NumPy reference (paths differ only by rounding: FMA contraction
and vector reductions)."""
import os

import numpy as np
import pytest

import gradfit as gf

PATHS = gf.config()["simd_available"]


@pytest.fixture
def restore_simd():
    previous = gf.simd()
    yield
    gf.simd(previous)


def test_baseline_is_always_available():
    assert "baseline" in PATHS
    assert gf.simd() in PATHS


def test_unknown_path_is_rejected(restore_simd):
    with pytest.raises(ValueError, match="^simd:"):
        gf.simd("avx9000")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-4)])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "softplus", "identity"])
def test_each_path_matches_reference(path, dtype, tol, activation, restore_simd):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(203, 20))                   # 20 / 37 / 3: full and partial register blocks
    y = rng.normal(size=(203, 3))
    results = {}
    for backend in ("c", "numpy"):
        gf.simd(path)
        model = gf.MLP([20, 37, 19, 3], activation=activation, dtype=dtype, seed=1)
        r = gf.train(model, X, y, lr=0.01, batch_size=16, epochs=16, seed=5, backend=backend)
        results[backend] = (model.params.astype(np.float64), r.history["loss"])
    (pc, hc), (pn, hn) = results["c"], results["numpy"]
    assert r.steps == 16 * 13
    assert np.linalg.norm(pc - pn) / np.linalg.norm(pn) <= tol
    np.testing.assert_allclose(hc, hn, rtol=tol)


def test_env_var_forces_baseline():
    import os
    import subprocess
    import sys
    code = "import gradfit as gf; print(gf.simd())"
    env = dict(os.environ, GRADFIT_SIMD="baseline")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "baseline"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("sizes,activation", [([1, 64, 64, 1], "tanh"),      # one output: 16-row dot products
                                              ([64, 128, 10], "relu"),       # one-vector panels: 16-row blocks
                                              ([20, 30, 10], "sigmoid")])
def test_a_row_predicts_the_same_bits_alone_or_in_a_batch(path, sizes, activation, restore_simd):
    """Each output entry is summed in one order whichever kernel the batch's
    shape picks (whole or partial register blocks, 16 rows at a time, the
    unpacked product of one row): a row's prediction does not depend on the
    rows around it. This holds for the build as shipped (-O3, the plain
    loops' reductions vectorized as the blocked kernels sum); the
    sanitizer build's -O1 leaves those loops unvectorized, in another order."""
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("the -O1 sanitizer build does not vectorize the plain loops' reductions")
    gf.simd(path)
    model = gf.MLP(sizes, activation=activation, dtype="float32", seed=1)
    X = np.random.default_rng(4).normal(size=(53, sizes[0])).astype(np.float32)
    whole = model.predict(X)
    alone = np.concatenate([model.predict(X[i:i + 1]) for i in range(len(X))])
    assert whole.shape == (53, sizes[-1])
    assert np.array_equal(whole, alone)
