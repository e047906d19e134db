"""Bad arguments raise before anything runs, with the right exception type
and a message that starts with the argument's name and a colon."""
import numpy as np
import pytest

import gradfit as gf

RNG = np.random.default_rng(0)
X_GOOD = RNG.normal(size=(20, 2))
Y_GOOD = X_GOOD @ np.array([1.0, -1.0]) + 0.5


def model():
    return gf.MLP([2, 3, 1], activation="tanh", seed=0)


def X_with(value, where=(3, 1)):
    X = X_GOOD.copy()
    X[where] = value
    return X


def y_with(value, where=5):
    y = Y_GOOD.copy()
    y[where] = value
    return y


# (id, train keyword overrides, exception, message regex)
TRAIN_CASES = [
    ("X-1d", dict(X=np.arange(20.0)), ValueError, r"^X:.*2-D"),
    ("X-3d", dict(X=np.zeros((20, 2, 1))), ValueError, r"^X:.*2-D"),
    ("X-scalar", dict(X=1.0), ValueError, r"^X:"),
    ("X-wrong-features", dict(X=np.zeros((20, 3))), ValueError, r"^X:.*feature"),
    ("X-one-feature-too-few", dict(X=np.zeros((20, 1))), ValueError, r"^X:"),
    ("X-empty", dict(X=np.zeros((0, 2)), y=np.zeros(0)), ValueError, r"^X:.*at least one"),
    ("X-nan", dict(X=X_with(np.nan)), ValueError, r"^X:.*finite"),
    ("X-inf", dict(X=X_with(np.inf)), ValueError, r"^X:.*finite"),
    ("X-minus-inf", dict(X=X_with(-np.inf)), ValueError, r"^X:.*finite"),
    ("X-strings", dict(X=np.array([["a", "b"]] * 20)), TypeError, r"^X:"),
    ("X-object-unconvertible", dict(X=np.array([["a", "b"]] * 20, dtype=object)), TypeError, r"^X:"),
    ("X-complex", dict(X=X_GOOD.astype(complex)), TypeError, r"^X:"),
    ("X-ragged", dict(X=[[1.0, 2.0], [3.0]]), TypeError, r"^X:"),
    ("X-None", dict(X=None), (TypeError, ValueError), r"^X:"),
    ("y-too-short", dict(y=Y_GOOD[:-1]), ValueError, r"^y:.*rows"),
    ("y-too-long", dict(y=np.zeros(21)), ValueError, r"^y:"),
    ("y-wrong-outputs", dict(y=np.zeros((20, 2))), ValueError, r"^y:.*output"),
    ("y-3d", dict(y=np.zeros((20, 1, 1))), ValueError, r"^y:"),
    ("y-nan", dict(y=y_with(np.nan)), ValueError, r"^y:.*finite"),
    ("y-inf", dict(y=y_with(np.inf)), ValueError, r"^y:.*finite"),
    ("y-strings", dict(y=np.array(["1"] * 20)), TypeError, r"^y:"),
    ("y-object-unconvertible", dict(y=np.array(["a"] * 20, dtype=object)), TypeError, r"^y:"),
    ("y-object-None", dict(y=np.array([None] * 20, dtype=object)), ValueError, r"^y:.*finite"),  # None -> NaN
    ("lr-zero", dict(lr=0.0), ValueError, r"^lr:"),
    ("lr-negative", dict(lr=-0.1), ValueError, r"^lr:"),
    ("lr-nan", dict(lr=float("nan")), ValueError, r"^lr:"),
    ("lr-inf", dict(lr=float("inf")), ValueError, r"^lr:"),
    ("lr-string", dict(lr="0.1"), TypeError, r"^lr:"),
    ("lr-string", dict(lr="fast"), TypeError, r"^lr:"),
    ("lr-bool", dict(lr=True), TypeError, r"^lr:"),
    ("batch_size-zero", dict(batch_size=0), ValueError, r"^batch_size:"),
    ("batch_size-negative", dict(batch_size=-4), ValueError, r"^batch_size:"),
    ("batch_size-float", dict(batch_size=2.5), TypeError, r"^batch_size:"),
    ("batch_size-float-integral", dict(batch_size=4.0), TypeError, r"^batch_size:"),
    ("batch_size-string", dict(batch_size="8"), TypeError, r"^batch_size:"),
    ("batch_size-bool", dict(batch_size=True), TypeError, r"^batch_size:"),
    ("epochs-negative", dict(epochs=-1), ValueError, r"^epochs:"),
    ("epochs-float", dict(epochs=1.5), TypeError, r"^epochs:"),
    ("max_steps-negative", dict(max_steps=-1), ValueError, r"^max_steps:"),
    ("max_steps-float", dict(max_steps=10.5), TypeError, r"^max_steps:"),
    ("grad_tol-zero", dict(grad_tol=0.0), ValueError, r"^grad_tol:"),
    ("grad_tol-negative", dict(grad_tol=-1e-3), ValueError, r"^grad_tol:"),
    ("grad_tol-nan", dict(grad_tol=float("nan")), ValueError, r"^grad_tol:"),
    ("grad_tol-string", dict(grad_tol="small"), TypeError, r"^grad_tol:"),
    ("loss-unknown", dict(loss="hinge"), ValueError, r"^loss:.*hinge"),
    ("loss-not-a-string", dict(loss=2), TypeError, r"^loss:"),
    ("optimizer-unknown", dict(optimizer="rmsprop"), ValueError, r"^optimizer:.*rmsprop"),
    ("optimizer-None", dict(optimizer=None), TypeError, r"^optimizer:"),
    ("backend-unknown", dict(backend="cuda"), ValueError, r"^backend:.*cuda"),
    ("backend-None", dict(backend=None), TypeError, r"^backend:"),
    ("shuffle-string", dict(shuffle="yes"), TypeError, r"^shuffle:"),
    ("shuffle-int", dict(shuffle=1), TypeError, r"^shuffle:"),
    ("seed-negative", dict(seed=-1), ValueError, r"^seed:"),
    ("seed-float", dict(seed=1.5), TypeError, r"^seed:"),
]


@pytest.mark.parametrize("overrides,exc,match", [pytest.param(o, e, m, id=i) for i, o, e, m in TRAIN_CASES])
@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_train_rejects(overrides, exc, match, backend):
    m = model()
    before = m.params.copy()
    kwargs = dict(X=X_GOOD, y=Y_GOOD, lr=0.01, batch_size=4, epochs=2, backend=backend)
    kwargs.update(overrides)
    X, y = kwargs.pop("X"), kwargs.pop("y")
    with pytest.raises(exc, match=match):
        gf.train(m, X, y, **kwargs)
    # the model is untouched
    assert np.array_equal(m.params, before)


def test_train_rejects_a_non_model():
    with pytest.raises(TypeError, match=r"^model:"):
        gf.train("not a model", X_GOOD, Y_GOOD)
    with pytest.raises(TypeError, match=r"^model:"):
        gf.train(None, X_GOOD, Y_GOOD)


def test_train_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        gf.train(model(), X_GOOD, Y_GOOD, "mse")


# (id, MLP keyword overrides, exception, message regex)
MODEL_CASES = [
    ("layer_sizes-one", dict(layer_sizes=[3]), ValueError, r"^layer_sizes:"),
    ("layer_sizes-empty", dict(layer_sizes=[]), ValueError, r"^layer_sizes:"),
    ("layer_sizes-zero", dict(layer_sizes=[2, 0, 1]), ValueError, r"^layer_sizes:"),
    ("layer_sizes-negative", dict(layer_sizes=[2, -3, 1]), ValueError, r"^layer_sizes:"),
    ("layer_sizes-float", dict(layer_sizes=[2, 2.5, 1]), ValueError, r"^layer_sizes:"),
    ("layer_sizes-bool", dict(layer_sizes=[2, True]), ValueError, r"^layer_sizes:"),
    ("layer_sizes-int", dict(layer_sizes=3), TypeError, r"^layer_sizes:"),
    ("activation-unknown", dict(activation="gelu"), ValueError, r"^activation:.*gelu"),
    ("activation-None", dict(activation=None), TypeError, r"^activation:"),
    ("activation-list-too-short", dict(layer_sizes=[2, 3, 3, 1], activation=["relu"]), ValueError, r"^activation:"),
    ("activation-list-unknown", dict(layer_sizes=[2, 3, 3, 1], activation=["relu", "swish"]), ValueError, r"^activation:"),
    ("output_activation-unknown", dict(output_activation="softmax"), ValueError, r"^output_activation:.*softmax"),
    ("dtype-float16", dict(dtype="float16"), ValueError, r"^dtype:"),
    ("dtype-int", dict(dtype="int32"), ValueError, r"^dtype:"),
    # regression: np.dtype("xyz") raises TypeError, check_dtype mapped it to
    # None and `None in (np.dtype("float32"), np.dtype("float64"))` is True (a
    # dtype compares equal to None), so any unparseable string was accepted.
    ("dtype-unknown", dict(dtype="double-ish"), ValueError, r"^dtype:"),
    ("dtype-unknown-2", dict(dtype="xyz"), ValueError, r"^dtype:"),
    ("dtype-complex", dict(dtype=np.complex128), ValueError, r"^dtype:"),
    ("init-unknown", dict(init="orthogonal"), ValueError, r"^init:.*orthogonal"),
    ("init-None", dict(init=None), TypeError, r"^init:"),
    ("weights-count", dict(weights=[np.zeros((2, 3))]), ValueError, r"^weights:"),
    # regression: a (3, 2) array for a (2, 3) weight matrix was silently
    # reshaped (MLP._set_layers reshaped whenever the sizes matched and ndim <= 2).
    ("weights-shape", dict(weights=[np.zeros((3, 2)), np.zeros((3, 1))]), ValueError, r"^weights\[0\]:"),
    ("weights-shape-flat-ok-but-wrong-size", dict(weights=[np.zeros(5), np.zeros((3, 1))]), ValueError, r"^weights\[0\]:"),
    ("weights-nan", dict(weights=[np.full((2, 3), np.nan), np.zeros((3, 1))]), ValueError, r"^weights\[0\]:"),
    ("weights-strings", dict(weights=[np.zeros((2, 3)), np.array([["a"], ["b"], ["c"]])]), TypeError, r"^weights\[1\]:"),
    ("biases-shape", dict(biases=[np.zeros(3), np.zeros(2)]), ValueError, r"^biases\[1\]:"),
    ("biases-inf", dict(biases=[np.zeros(3), [np.inf]]), ValueError, r"^biases\[1\]:"),
]


@pytest.mark.parametrize("overrides,exc,match", [pytest.param(o, e, m, id=i) for i, o, e, m in MODEL_CASES])
def test_model_rejects(overrides, exc, match):
    kwargs = dict(layer_sizes=[2, 3, 1], activation="tanh")
    kwargs.update(overrides)
    with pytest.raises(exc, match=match):
        gf.MLP(**kwargs)


@pytest.mark.parametrize("name", ["relu", "RELU", "Relu"])
def test_names_are_case_insensitive(name):
    m = gf.MLP([2, 3, 1], activation=name)
    assert m.activations == ("relu", "identity")


@pytest.mark.parametrize("method", ["predict", "loss", "loss_and_grad"])
@pytest.mark.parametrize("X,exc,match", [
    pytest.param(np.zeros(5), ValueError, r"^X:", id="1d"),
    pytest.param(np.zeros((5, 3)), ValueError, r"^X:", id="features"),
    pytest.param(np.zeros((0, 2)), ValueError, r"^X:", id="empty"),
    pytest.param(X_with(np.nan), ValueError, r"^X:", id="nan"),
    pytest.param(np.array([["a", "b"]]), TypeError, r"^X:", id="strings"),
    pytest.param(np.array([["a", "b"]], dtype=object), TypeError, r"^X:", id="object"),
])
def test_model_methods_reject_bad_X(method, X, exc, match):
    m = model()
    with pytest.raises(exc, match=match):
        if method == "predict":
            m.predict(X)
        else:
            getattr(m, method)(X, np.zeros(len(X)))


@pytest.mark.parametrize("method", ["loss", "loss_and_grad"])
def test_model_methods_reject_bad_y_and_loss(method):
    m = model()
    f = getattr(m, method)
    with pytest.raises(ValueError, match=r"^y:"):
        f(X_GOOD, Y_GOOD[:5])
    with pytest.raises(ValueError, match=r"^y:"):
        f(X_GOOD, y_with(np.inf))
    with pytest.raises(ValueError, match=r"^loss:"):
        f(X_GOOD, Y_GOOD, loss="l1")


def test_set_params_rejects():
    m = model()
    before = m.params.copy()
    with pytest.raises(ValueError, match=r"^params:"):
        m.set_params(np.zeros(m.n_params + 1))
    with pytest.raises(ValueError, match=r"^params:"):
        m.set_params(np.full(m.n_params, np.nan))
    with pytest.raises(TypeError, match=r"^params:"):
        m.set_params(np.array(["x"] * m.n_params))
    assert np.array_equal(m.params, before)


# -- inputs that must work ---------------------------------------------------

def reference_run(X, y, **kwargs):
    m = model()
    r = gf.train(m, np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64),
                 lr=0.05, batch_size=4, epochs=3, seed=1, **kwargs)
    return m, r


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_integer_X_and_y_are_converted(backend):
    Xi = np.round(X_GOOD * 3).astype(np.int32)
    yi = np.round(Y_GOOD * 2).astype(np.int64)
    m_ref, r_ref = reference_run(Xi.astype(float), yi.astype(float), backend=backend)
    m = model()
    r = gf.train(m, Xi, yi, lr=0.05, batch_size=4, epochs=3, seed=1, backend=backend)
    assert np.array_equal(m.params, m_ref.params)
    assert r.history == r_ref.history
    np.testing.assert_array_equal(m.predict(Xi), m.predict(Xi.astype(float)))


def test_lists_and_object_arrays_of_numbers_are_converted():
    m_ref, _ = reference_run(X_GOOD, Y_GOOD)
    for X, y in [(X_GOOD.tolist(), Y_GOOD.tolist()), (X_GOOD.astype(object), Y_GOOD.astype(object))]:
        m = model()
        gf.train(m, X, y, lr=0.05, batch_size=4, epochs=3, seed=1)
        assert np.array_equal(m.params, m_ref.params)


def test_float32_data_into_float64_model():
    m_ref, _ = reference_run(X_GOOD.astype(np.float32).astype(np.float64),
                             Y_GOOD.astype(np.float32).astype(np.float64))
    m = model()
    gf.train(m, X_GOOD.astype(np.float32), Y_GOOD.astype(np.float32), lr=0.05, batch_size=4, epochs=3, seed=1)
    assert np.array_equal(m.params, m_ref.params)


@pytest.mark.parametrize("backend", ["c", "numpy"])
@pytest.mark.parametrize("layout", ["strided-columns", "strided-rows", "fortran", "transposed", "read-only"])
def test_non_contiguous_and_read_only_inputs(layout, backend):
    wide = np.repeat(X_GOOD, 2, axis=1)            # columns 0, 2 hold X_GOOD
    tall = np.repeat(X_GOOD, 2, axis=0)            # rows 0, 2, 4... hold X_GOOD
    y = Y_GOOD
    if layout == "strided-columns":
        X = wide[:, ::2]
    elif layout == "strided-rows":
        X = tall[::2]
        y = np.repeat(Y_GOOD, 2)[::2]
    elif layout == "fortran":
        X = np.asfortranarray(X_GOOD)
    elif layout == "transposed":
        X = np.ascontiguousarray(X_GOOD.T).T
    else:
        X = X_GOOD.copy()
        X.setflags(write=False)
        y = Y_GOOD.copy()
        y.setflags(write=False)
    assert np.array_equal(X, X_GOOD) and np.array_equal(y, Y_GOOD)
    if layout != "read-only":
        assert not X.flags.c_contiguous
    m_ref, r_ref = reference_run(X_GOOD, Y_GOOD, backend=backend)
    X_before = X.copy()
    m = model()
    r = gf.train(m, X, y, lr=0.05, batch_size=4, epochs=3, seed=1, backend=backend)
    assert np.array_equal(m.params, m_ref.params)
    assert r.history == r_ref.history
    assert np.array_equal(X, X_before)                  # input not modified
    np.testing.assert_array_equal(m.predict(X), m.predict(X_GOOD))
    assert m.loss(X, y) == m.loss(X_GOOD, Y_GOOD)


def test_training_does_not_modify_the_inputs():
    X, y = X_GOOD.copy(), Y_GOOD.copy()
    gf.train(model(), X, y, lr=0.05, batch_size=4, epochs=3, seed=1)
    assert np.array_equal(X, X_GOOD) and np.array_equal(y, Y_GOOD)


def test_y_column_and_flat_are_the_same():
    m1, r1 = reference_run(X_GOOD, Y_GOOD)
    m2, r2 = reference_run(X_GOOD, Y_GOOD.reshape(-1, 1))
    assert np.array_equal(m1.params, m2.params)
    assert r1.history == r2.history


def test_batch_size_larger_than_data_is_full_batch():
    m1 = model()
    r1 = gf.train(m1, X_GOOD, Y_GOOD, lr=0.05, batch_size=1000, epochs=5, seed=1)
    m2 = model()
    r2 = gf.train(m2, X_GOOD, Y_GOOD, lr=0.05, batch_size=None, epochs=5)
    assert np.array_equal(m1.params, m2.params)
    assert r1.batch_size == r2.batch_size == 20
    assert r1.steps == 5


def test_numpy_integer_hyperparameters_are_accepted():
    m1 = model()
    gf.train(m1, X_GOOD, Y_GOOD, lr=np.float32(0.25), batch_size=np.int64(4), epochs=np.int32(3),
             max_steps=np.int64(100), seed=np.int64(1))
    m2 = model()
    gf.train(m2, X_GOOD, Y_GOOD, lr=float(np.float32(0.25)), batch_size=4, epochs=3, max_steps=100, seed=1)
    assert np.array_equal(m1.params, m2.params)


def test_seed_may_be_a_generator():
    m1 = model()
    gf.train(m1, X_GOOD, Y_GOOD, lr=0.05, batch_size=4, epochs=3, seed=np.random.default_rng(1))
    m2 = model()
    gf.train(m2, X_GOOD, Y_GOOD, lr=0.05, batch_size=4, epochs=3, seed=1)
    assert np.array_equal(m1.params, m2.params)


# -- regressions: bugs found while writing these tests ------------------------

def test_unknown_dtype_string_is_rejected_not_stored_as_None():
    # gf.MLP([2, 3, 1], dtype="xyz") was once accepted with model.dtype None.
    for bad in ("xyz", "int32", "float16", 3):
        with pytest.raises(ValueError, match=r"^dtype: expected 'float32' or 'float64', got"):
            gf.MLP([2, 3, 1], dtype=bad)


def test_transposed_weights_are_rejected_not_reshaped():
    # a (3, 2) matrix for a (2, 3) layer was once reshaped row-major, so the
    # model silently got different weights from the ones given.
    W = np.arange(6.0).reshape(3, 2)
    with pytest.raises(ValueError, match=r"^weights\[0\]: expected shape \(2, 3\), got shape \(3, 2\)"):
        gf.MLP([2, 3, 1], weights=[W, np.zeros((3, 1))])
    m = gf.MLP([2, 3, 1], weights=[W.T, np.zeros((3, 1))])
    np.testing.assert_array_equal(m.weights[0], W.T)


def test_flat_values_for_a_single_row_or_column_are_accepted():
    # the documented convenience that the reshape is for: scalars and flat lists
    m = gf.MLP([1, 3, 1], weights=[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], biases=[[0.1, 0.2, 0.3], 0.5])
    np.testing.assert_array_equal(m.weights[0], [[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(m.weights[1], [[4.0], [5.0], [6.0]])
    np.testing.assert_array_equal(m.biases[1], [0.5])


def test_scalar_X_message_describes_the_scalar():
    # message only: np.ascontiguousarray turns a 0-d value into shape (1,), so
    # predict(3.0) used to say "got 1-D shape (1,) (use X.reshape(-1, 1)...)".
    m = gf.MLP([1, 1])
    with pytest.raises(ValueError, match=r"^X:") as info:
        m.predict(3.0)
    assert "1-D" not in str(info.value), str(info.value)
