"""The tutorial's worked example, one linear neuron, by hand:

    pred = w*x + b = 1.0*2.1 + 0 = 2.1,   y = 4
    mse  = (2.1 - 4)^2 = 3.61
    dL/dw = 2*(pred - y)*x = -7.98,  dL/db = 2*(pred - y) = -3.8
    one SGD step, lr = 0.01: w = 1.0798, b = 0.038
    new loss = (1.0798*2.1 + 0.038 - 4)^2 = (-1.69442)^2 = 2.8710591364
"""
import numpy as np
import pytest

import gradfit as gf

X = np.array([[2.1]])
Y = np.array([4.0])


def make_model():
    return gf.MLP([1, 1], dtype="float64", weights=[[[1.0]]], biases=[[0.0]])


def test_initial_parameters_are_the_given_ones():
    m = make_model()
    assert m.params.tolist() == [1.0, 0.0]
    assert m.weights[0].shape == (1, 1)
    assert m.biases[0].shape == (1,)


def test_prediction():
    assert make_model().predict(X)[0, 0] == pytest.approx(2.1, abs=1e-15)


def test_loss_and_grad():
    loss, grad = make_model().loss_and_grad(X, Y)
    assert loss == pytest.approx(3.61, abs=1e-12)
    assert grad.shape == (2,)
    assert grad[0] == pytest.approx(-7.98, abs=1e-12)
    assert grad[1] == pytest.approx(-3.8, abs=1e-12)


def test_loss_sse_equals_mse_for_one_sample_one_output():
    loss, grad = make_model().loss_and_grad(X, Y, loss="sse")
    assert loss == pytest.approx(3.61, abs=1e-12)
    np.testing.assert_allclose(grad, [-7.98, -3.8], rtol=0, atol=1e-12)


def test_y_as_column_or_list_gives_the_same():
    m = make_model()
    assert m.loss(X, Y.reshape(1, 1)) == pytest.approx(3.61, abs=1e-12)
    assert m.loss([[2.1]], [4.0]) == pytest.approx(3.61, abs=1e-12)


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_one_sgd_step(backend):
    m = make_model()
    r = gf.train(m, X, Y, lr=0.01, epochs=1, batch_size=1, backend=backend)
    assert m.weights[0][0, 0] == pytest.approx(1.0798, abs=1e-12)
    assert m.biases[0][0] == pytest.approx(0.038, abs=1e-12)
    assert m.loss(X, Y) == pytest.approx(2.8710591364, abs=1e-9)
    assert r.final_loss == pytest.approx(2.8710591364, abs=1e-9)
    # history holds the loss measured before the step
    assert r.history["loss"] == pytest.approx([3.61], abs=1e-12)
    assert len(r.history["loss"]) == 1
    assert r.steps == 1
    assert r.epochs == 1
    assert r.stop_reason == "epochs"
    assert r.backend == backend
    assert r.n_samples == 1
    assert r.batch_size == 1
    assert r.lr == 0.01


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_one_step_full_batch_and_no_shuffle_are_the_same(backend):
    for kwargs in ({"batch_size": None}, {"batch_size": 1, "shuffle": False}, {"batch_size": 100}):
        m = make_model()
        gf.train(m, X, Y, lr=0.01, epochs=1, backend=backend, **kwargs)
        np.testing.assert_allclose(m.params, [1.0798, 0.038], rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_two_steps(backend):
    # second step from (1.0798, 0.038): residual r = -1.69442,
    # grad = (2*r*2.1, 2*r) = (-7.116564, -3.38884)
    m = make_model()
    r = gf.train(m, X, Y, lr=0.01, epochs=2, batch_size=1, backend=backend)
    np.testing.assert_allclose(m.params, [1.0798 + 0.07116564, 0.038 + 0.0338884], rtol=0, atol=1e-12)
    assert r.history["loss"] == pytest.approx([3.61, 2.8710591364], abs=1e-9)
    assert r.steps == 2


def test_worked_example_float32():
    m = gf.MLP([1, 1], dtype="float32", weights=[[[1.0]]], biases=[[0.0]])
    loss, grad = m.loss_and_grad(X, Y)
    assert grad.dtype == np.float32
    assert loss == pytest.approx(3.61, rel=1e-6)
    np.testing.assert_allclose(grad, [-7.98, -3.8], rtol=1e-6)
    gf.train(m, X, Y, lr=0.01, epochs=1, batch_size=1)
    assert m.params.dtype == np.float32
    np.testing.assert_allclose(m.params, [1.0798, 0.038], rtol=1e-6)
    assert m.loss(X, Y) == pytest.approx(2.8710591364, rel=1e-5)
