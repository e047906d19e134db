"""NaN in gives NaN out, and +-inf gives the right limits, in every
activation of the C core (csrc/vmath.h, csrc/ops.inc) on every SIMD path,
for the value and the derivative; and a NaN in a hidden layer reaches the
prediction and stops training as it does in the NumPy reference."""
import warnings

import numpy as np
import pytest

import gradfit as gf
from gradfit import _core, reference
from gradfit._names import ACTIVATIONS

INF = np.inf
# special values, then ordinary ones around every branch point of vmath.h
# (|x| = 0.3, 0.625, 9, 20, the exp clamps) so that a vector holds both
SPECIAL = [np.nan, INF, -INF, -np.nan]
ORDINARY = [0.0, -0.0, 0.1, -0.29, 0.31, 0.6, -0.7, 1.0, -3.0, 8.9, -9.5, 19.0,
            -21.0, 50.0, -50.0, 88.0, -88.0, 100.0, -104.5, 700.0, -745.0, 1e30, -1e30]


def _values(dtype):
    """The special values at every position of a vector of 67 (so that they
    land in the vector body and the scalar tail of every path)."""
    n = 67
    z = np.resize(np.array(ORDINARY, dtype=np.float64), n)
    cases = []
    for i, s in enumerate(SPECIAL):
        zz = z.copy()
        zz[i::len(SPECIAL) + 1] = s
        cases.append(zz)
    with np.errstate(over="ignore"):
        return [c.astype(dtype) for c in cases]


def _c_activation(name, z, with_derivative=True):
    a = np.empty_like(z)
    dadz = np.empty_like(z) if with_derivative else np.empty(0, z.dtype)
    _core._activation(ACTIVATIONS[name], z, a, dadz)
    return a, (dadz if with_derivative else None)


def _numpy_activation(name, z):
    with np.errstate(all="ignore"):
        a = reference.ACTIVATIONS[name](z)
        return a, reference.DERIVATIVES[name](z, a)


def _assert_same(got, want, what, dtype, atol=None):
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    bad = np.flatnonzero(nan_got != nan_want)
    assert bad.size == 0, f"{what}: NaN mismatch at z[{bad[0]}]: C {got[bad[0]]}, NumPy {want[bad[0]]}"
    inf_want = np.isinf(want)
    np.testing.assert_array_equal(got[inf_want], want[inf_want], err_msg=what)
    fin = ~nan_want & ~inf_want
    # the finite values: as accurate as tests/test_vmath.py asks (a few ulp)
    if atol is None:
        atol = 4 * np.finfo(dtype).smallest_subnormal
    np.testing.assert_allclose(got[fin], want[fin], rtol=8 * np.finfo(dtype).eps, atol=atol, err_msg=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_special_values_match_numpy(name, dtype, simd_path):
    for z in _values(dtype):
        a, dadz = _c_activation(name, z)
        want_a, want_d = _numpy_activation(name, z)
        _assert_same(a, want_a, f"{name} value ({simd_path})", dtype)
        # derivatives lie in [0, 1]; 1 - a*a (tanh) and a*(1 - a) (sigmoid)
        # cancel, so a few ulp of error in a are a few eps of absolute error
        _assert_same(dadz, want_d, f"{name} derivative ({simd_path})", dtype, atol=8 * np.finfo(dtype).eps)
        # the loop without the derivative (the one predict() runs)
        a2, _ = _c_activation(name, z, with_derivative=False)
        np.testing.assert_array_equal(a2, a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "relu", "identity"])
def test_nan_in_nan_out(name, dtype, simd_path):
    z = np.full(35, np.nan, dtype=dtype)
    a, dadz = _c_activation(name, z)
    assert np.isnan(a).all(), (name, a)
    if name in ("sigmoid", "tanh", "softplus"):
        assert np.isnan(dadz).all(), (name, dadz)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_infinite_limits(dtype, simd_path):
    z = np.array([INF, -INF] * 9, dtype=dtype)        # 18: vector body and tail
    pos, neg = slice(0, None, 2), slice(1, None, 2)
    a, d = _c_activation("tanh", z)
    assert (a[pos] == 1).all() and (a[neg] == -1).all() and (d == 0).all()
    a, d = _c_activation("sigmoid", z)
    assert (a[pos] == 1).all() and (a[neg] == 0).all() and (d == 0).all()
    a, d = _c_activation("softplus", z)
    assert (a[pos] == INF).all() and (a[neg] == 0).all()
    assert (d[pos] == 1).all() and (d[neg] == 0).all()
    a, d = _c_activation("relu", z)
    assert (a[pos] == INF).all() and (a[neg] == 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_of_large_negative_arguments_is_zero(dtype, simd_path):
    # sigmoid(z) = e^z / (1 + e^z) for z < 0: e^-inf and e^-1e30 must be 0, not NaN
    z = np.array([-INF, -1e30, -1e4, -200.0] * 5, dtype=dtype)
    a, d = _c_activation("sigmoid", z)
    assert (a[z <= -1e4] == 0).all() and (d[z <= -1e4] == 0).all()
    assert np.isfinite(a).all() and np.isfinite(d).all()


def test_activation_hook_rejects_unknown_ids():
    z = np.zeros(3)
    with pytest.raises(ValueError):
        _core._activation(len(ACTIVATIONS), z, np.empty(3), np.empty(3))


def _inf_minus_inf_net(activation):
    # identity layer: h = 1e10 * [1e300, -1e300] = [inf, -inf]; the next
    # layer's pre-activation z = inf * 1 + -inf * 1 = NaN (each product is
    # already infinite, so no FMA can hide it)
    return gf.MLP([1, 2, 1, 1], activation=["identity", activation],
                  weights=[[[1e300, -1e300]], [[1.0], [1.0]], [[1.0]]],
                  biases=[[0.0, 0.0], [0.0], [0.0]])


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "relu"])
def test_nan_in_a_hidden_layer_reaches_the_prediction(activation, simd_path):
    m = _inf_minus_inf_net(activation)
    X = np.full((5, 1), 1e10)
    with np.errstate(all="ignore"):
        want = reference.forward(m.weights, m.biases, m.activations, X)[-1][1]
    pred = m.predict(X)
    assert np.isnan(want).all()
    assert np.isnan(pred).all(), pred


def _tanh_nan_gradient_problem():
    # the forward pass overflows: h = 1e10 * 1e300 = inf, z = -inf, tanh = -1,
    # a finite loss; dL/dz = -3 * (1 - 1) = 0, so dL/dW1 = h * 0 = NaN. After
    # the first update W1 is NaN, z = NaN, tanh(NaN) must be NaN (the C core
    # returned 1.0) so that the loss is NaN and training stops.
    m = gf.MLP([1, 1, 1], activation="identity", output_activation="tanh",
               weights=[[[1e300]], [[-1.0]]], biases=[[0.0], [0.0]])
    return m, np.array([[1e10]]), np.array([0.5])


def test_tanh_nan_gradient_with_a_finite_loss_is_possible():
    m, X, y = _tanh_nan_gradient_problem()
    loss, grad = m.loss_and_grad(X, y)
    assert loss == 2.25
    assert np.isnan(grad[2]) and np.isfinite(np.delete(grad, 2)).all()


@pytest.mark.parametrize("batch_size", [None, 1])
def test_tanh_nan_gradient_backends_stop_together(batch_size, simd_path):
    results = {}
    for backend in ("c", "numpy"):
        m, X, y = _tanh_nan_gradient_problem()
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            r = gf.train(m, X, y, lr=0.1, batch_size=batch_size, epochs=5, backend=backend)
        results[backend] = (r.stop_reason, r.steps, r.epochs, r.history["loss"])
    assert results["c"] == results["numpy"]
    assert results["c"][:2] == ("diverged", 1)
