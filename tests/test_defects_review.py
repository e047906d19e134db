"""Regression tests for the defects found by review and by a new user (issue
"Defects found by review"): each failed on the code before the fix. The
item number of the issue is in each docstring."""
import threading
import types
import warnings

import numpy as np
import pytest

import gradfit as gf
import gradfit._loop as training
from gradfit import _core


def line_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 10.0, size=(n, 1))
    return x, -x[:, 0] + 5.0 + 0.1 * rng.normal(size=n)


# -- 1. the architecture is immutable -----------------------------------------

def test_architecture_cannot_be_changed_behind_the_c_core():
    """1: layer_sizes was a mutable list that predict() sized its output from."""
    m = gf.MLP([2, 3, 8], activation="tanh", seed=0)
    X = np.ones((5, 2))
    before = m.predict(X)
    with pytest.raises(TypeError):
        m.layer_sizes[-1] = 1
    with pytest.raises(TypeError):
        m.activations[0] = "relu"
    with pytest.raises(AttributeError):
        m.layer_sizes = [2, 3, 1]
    with pytest.raises(AttributeError):
        m.activations = ["relu", "identity"]
    with pytest.raises(AttributeError):
        m.dtype = np.float32
    with pytest.raises(ValueError):
        m._sizes[-1] = 1             # the one source both sides read is read-only
    assert m.layer_sizes == (2, 3, 8) and m.activations == ("tanh", "identity")
    np.testing.assert_array_equal(m.predict(X), before)
    assert m.predict(X).shape == (5, 8)


def test_architecture_survives_pickle_read_only():
    import pickle
    m = pickle.loads(pickle.dumps(gf.MLP([2, 4, 1], activation="softplus", seed=1)))
    assert m.layer_sizes == (2, 4, 1) and m.activations == ("softplus", "identity")
    with pytest.raises(ValueError):
        m._acts[0] = 1


# -- 3. non-finite starting parameters ----------------------------------------

@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_non_finite_params_are_rejected_with_a_clear_error(activation, backend):
    """3: NaN written into params gave "diverged after 0 steps ... try a smaller
    lr" (relu) or 15 steps and "restored" NaN parameters (tanh)."""
    X, y = line_data()
    m = gf.MLP([1, 4, 1], activation=activation, seed=0)
    m.weights[1][2, 0] = np.nan
    m.params[0] = np.inf
    before = m.params.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no DivergenceWarning either
        with pytest.raises(ValueError, match=r"^params: .*2 NaN or inf.*weights\[0\]\[0, 0\]") as info:
            gf.train(m, X, y, lr=0.01, epochs=3, backend=backend)
    assert "lr" not in str(info.value)
    for call in (lambda: m.predict(X), lambda: m.loss_and_grad(X, y), lambda: m.loss(X, y)):
        with pytest.raises(ValueError, match=r"^params: .*NaN or inf"):
            call()
    np.testing.assert_array_equal(m.params, before)


# -- 4. after divergence the model is no worse than at the start ---------------

def _diverging_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    return X, 100 * (X @ np.array([1.0, -2.0, 0.5])) + 100


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_divergence_leaves_a_model_no_worse_than_at_the_start(backend):
    """4: the model kept parameters around 6e65 with a full-data loss of 6.8e261."""
    X, y = _diverging_problem()
    m = gf.MLP([3, 16, 1], seed=0)
    start = m.loss(X, y)
    with pytest.warns(gf.DivergenceWarning) as caught:
        r = gf.train(m, X, y, lr=1.0, epochs=20, seed=0, backend=backend)
    assert r.stop_reason == "diverged"
    assert m.loss(X, y) <= start
    assert r.final_loss == m.loss(X, y)
    assert np.abs(m.params).max() < 10
    text = str(caught[0].message)
    assert f"restored to {r.restored}" in text and f"{r.final_loss:.6g}" in text
    assert f"restored to {r.restored} (loss {r.final_loss:.6g})" in str(r)


@pytest.mark.parametrize("backend", ["c", "numpy"])
@pytest.mark.parametrize("lr", [0.03, 0.05, 0.1])
def test_divergence_restores_the_best_candidate(backend, lr):
    """4: of the values before the last update, the start of the diverging
    epoch and the start of the call, the model gets the one with the lowest
    loss over all the data (each rebuilt here by an independent run)."""
    X, y = line_data()
    batch, spe = 16, 13
    m = gf.MLP([1, 1], seed=0)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        r = gf.train(m, X, y, lr=lr, batch_size=batch, epochs=200, seed=3, backend=backend)
    assert r.stop_reason == "diverged"

    def params_after(steps):
        """[w, b] after `steps` plain SGD updates, by hand (no restoring)."""
        p = gf.MLP([1, 1], seed=0).params.copy()
        rng, x, t = np.random.default_rng(3), X[:, 0], y
        with np.errstate(all="ignore"):
            while True:
                order = gf.epoch_order(rng, len(x))
                for start in range(0, len(x), batch):
                    if steps == 0:
                        return p
                    rows = order[start:start + batch]
                    err = p[0] * x[rows] + p[1] - t[rows]
                    p = p - lr * np.array([2 * np.mean(err * x[rows]), 2 * np.mean(err)])
                    steps -= 1

    def full_loss(p):
        with np.errstate(all="ignore"):
            value = np.mean((p[0] * X[:, 0] + p[1] - y) ** 2)
        return value if np.isfinite(value) else np.inf

    candidates = [params_after(r.steps - 1), params_after(r.steps // spe * spe), params_after(0)]
    losses = [full_loss(p) for p in candidates]
    np.testing.assert_allclose(m.params, candidates[int(np.argmin(losses))], rtol=1e-9)
    assert r.final_loss == pytest.approx(min(losses), rel=1e-9)


# -- 5. epochs=None, max_steps=k draws only the orders it uses -----------------

def test_max_steps_draws_only_the_orders_it_uses(monkeypatch):
    """5: a 10-step run drew ~21,000 permutations, and left a Generator in a
    state that depended on the internal chunk size."""
    X, y = line_data(n=50)
    states = []
    for per_call in (1 << 20, 60, 1):      # the default and two other chunkings
        monkeypatch.setattr(training, "SAMPLES_PER_CALL", per_call)
        g = np.random.default_rng(7)
        m = gf.MLP([1, 1], seed=0)
        r = gf.train(m, X, y, lr=0.001, batch_size=32, epochs=None, max_steps=10, seed=g)
        assert r.steps == 10 and r.epochs == 5
        states.append(g.integers(1 << 62))
    expected = np.random.default_rng(7)
    for _ in range(5):                      # 10 steps of 2 per epoch: 5 epoch orders
        gf.epoch_order(expected, 50)
    assert states == [expected.integers(1 << 62)] * 3


def test_divergence_draws_only_the_orders_it_used(monkeypatch):
    """5 (the same promise when training stops early)."""
    X, y = line_data()
    states = []
    for per_call in (1 << 20, 400, 1):
        monkeypatch.setattr(training, "SAMPLES_PER_CALL", per_call)
        g = np.random.default_rng(11)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            r = gf.train(gf.MLP([1, 1], seed=0), X, y, lr=0.05, batch_size=16, epochs=300, seed=g)
        assert r.stop_reason == "diverged"
        states.append((r.steps, g.integers(1 << 62)))
    assert len(set(states)) == 1


# -- 6. unaligned arrays ---------------------------------------------------

def _unaligned(a):
    buf = bytearray(a.nbytes + 1)
    out = np.frombuffer(buf, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


def test_unaligned_inputs_reach_c_aligned(monkeypatch):
    """6: a C-contiguous X or y whose data pointer is not a multiple of its
    itemsize was handed to C as is (undefined behaviour; UBSan: misaligned load)."""
    X, y = line_data(n=64)
    X2 = np.hstack([X, X ** 2])
    seen = []
    real = {name: getattr(_core, name) for name in ("train", "predict", "loss_grad")}

    def spy(name):
        def call(*args, **kwargs):
            seen.extend(np.asarray(a).flags.aligned for a in args if isinstance(a, np.ndarray) and a.ndim == 2)
            return real[name](*args, **kwargs)
        return call

    for name in real:
        monkeypatch.setattr(_core, name, spy(name))
    m_ref = gf.MLP([2, 3, 1], activation="tanh", seed=0)
    m = m_ref.copy()
    r1 = gf.train(m_ref, X2, y, lr=0.01, epochs=3, seed=0)
    r2 = gf.train(m, _unaligned(X2), _unaligned(y), lr=0.01, epochs=3, seed=0)
    np.testing.assert_array_equal(m.params, m_ref.params)
    assert r1.history == r2.history
    np.testing.assert_array_equal(m.predict(_unaligned(X2)), m_ref.predict(X2))
    m.loss_and_grad(_unaligned(X2), _unaligned(y))
    assert seen and all(seen)


# -- 9. the whole call is timed, and the final loss is a forward pass ----------

def test_final_loss_is_one_forward_pass_made_on_first_access(monkeypatch):
    """9: final_loss was a full forward *and backward* pass after training.
    #21: the call no longer pays for it at all: it is one forward pass, made
    when final_loss is first read. Every C call and every reading of the
    run's clock is logged (a fake clock: no wall time): the call ends with
    no pass after training; reading final_loss makes exactly one forward pass
    and no gradient pass; reading it again makes none."""
    events = []
    real_train, real_predict, real_loss_grad = _core.train, _core.predict, _core.loss_grad

    def logged(name, real):
        def call(*args, **kwargs):
            events.append(name)
            return real(*args, **kwargs)
        return call

    def clock():
        events.append("clock")
        return float(len(events))

    monkeypatch.setattr(_core, "train", logged("train", real_train))
    monkeypatch.setattr(_core, "predict", logged("forward", real_predict))
    if hasattr(_core, "loss"):         # the forward-only loss of the C core
        monkeypatch.setattr(_core, "loss", logged("forward", _core.loss))
    monkeypatch.setattr(_core, "loss_grad", logged("gradient", real_loss_grad))
    monkeypatch.setattr(training, "time", types.SimpleNamespace(perf_counter=clock, monotonic=clock))
    X, y = line_data()
    model = gf.MLP([1, 4, 1], seed=0)
    r = gf.train(model, X, y, lr=0.01, epochs=2, seed=0)
    last_train = len(events) - 1 - events[::-1].index("train")
    assert events.index("clock") < events.index("train")
    assert "forward" not in events[last_train + 1:] and "gradient" not in events[last_train + 1:]
    at_return = len(events)
    params = model.params.copy()
    model.params[...] = 0.0                     # later changes do not move the result's figure
    first = r.final_loss
    assert events[at_return:] == ["forward"]
    assert r.final_loss == first and events[at_return:] == ["forward"]
    model.params[...] = params
    assert first == model.loss(X, y) and np.isfinite(first)


# -- 14-18. usability --------------------------------------------------------

def test_one_sample_hint_says_reshape_1_minus_1():
    """14: predict(X[0]) on a 3-feature model suggested reshape(-1, 1)."""
    m = gf.MLP([3, 2, 1], seed=0)
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"^X:") as info:
        m.predict(X[0])
    assert "reshape(1, -1)" in str(info.value) and "reshape(-1, 1)" not in str(info.value)
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        gf.MLP([1, 1]).predict(np.ones(5))


def test_dataframe_columns_are_named_in_errors():
    """15: a string, category or nullable-integer column gave "got an object
    array holding float" and did not name the column."""
    pd = pytest.importorskip("pandas")
    m = gf.MLP([2, 1], seed=0)
    good = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.25, 1.0]})
    np.testing.assert_array_equal(m.predict(good), m.predict(good.to_numpy()))
    for bad in (pd.DataFrame({"a": [1.0, 2.0, 3.0], "city": ["x", "y", "z"]}),
                pd.DataFrame({"a": [1.0, 2.0, 3.0], "city": pd.Categorical(["x", "y", "x"])})):
        with pytest.raises(TypeError, match=r"^X: .*column 'city'"):
            m.predict(bad)
    nullable = pd.DataFrame({"a": [1.0, 2.0, 3.0], "count": pd.array([1, None, 3], dtype="Int64")})
    with pytest.raises(ValueError, match=r"^X: .*1 NaN or inf.*'count'"):
        m.predict(nullable)
    complete = pd.DataFrame({"a": [1.0, 2.0, 3.0], "count": pd.array([1, 2, 3], dtype="Int64")})
    np.testing.assert_array_equal(m.predict(complete), m.predict([[1, 1], [2, 2], [3, 3]]))
    with pytest.raises(TypeError, match=r"^y: .*'label'"):
        gf.train(m, good, pd.Series(["p", "q", "r"], name="label"))


def test_values_that_overflow_float32_are_called_an_overflow():
    """16: a finite 1e39 in float64 data for a float32 model was reported as NaN or inf."""
    m = gf.MLP([2, 1], dtype="float32", seed=0)
    X = np.array([[1.0, 2.0], [1e39, 0.0]])
    with pytest.raises(ValueError, match=r"^X: value 1e\+39 at index \(1, 0\) overflows float32") as info:
        m.predict(X)
    assert "NaN" not in str(info.value)
    with pytest.raises(ValueError, match=r"^y: .*overflows float32"):
        gf.train(m, X[:1], [-1e40])
    with pytest.raises(ValueError, match=r"^X: .*NaN or inf"):      # a real inf is still called one
        m.predict([[np.inf, 0.0]])


def test_result_names_the_loss_loss_name():
    """17: TrainResult.loss was the loss's *name* next to history["loss"] values."""
    X, y = line_data(n=20)
    r = gf.train(gf.MLP([1, 1], seed=0), X, y, loss="sse", lr=1e-4, epochs=1)
    assert r.loss_name == "sse"
    assert not hasattr(r, "loss")


@pytest.mark.parametrize("obj", [gf.train, gf.MLP, gf.TrainResult, gf.MLP.predict, gf.MLP.loss_and_grad,
                                 gf.MLP.loss, gf.MLP.set_params], ids=lambda o: o.__qualname__)
def test_public_api_has_numpydoc_docstrings(obj):
    """18: help(gf.train) described neither lr, seed, the shapes of X and y nor
    the result's fields."""
    doc = obj.__doc__
    section = "Attributes" if obj is gf.TrainResult else "Parameters"
    assert f"{section}\n    ----------" in doc or f"{section}\n        ----------" in doc, doc


def test_train_docstring_covers_what_users_ask():
    """18: the arguments, the shapes, the result and calling train() again."""
    doc = gf.train.__doc__
    for needle in ("lr : float", "seed : int, numpy.random.Generator", "X : array_like of shape (n_samples, n_inputs)",
                   "y : array_like of shape (n_samples, n_outputs)", "Returns", "TrainResult", "final_loss",
                   "stop_reason", "Calling train() again", "a Generator is used and advanced"):
        assert needle in doc, needle


# -- 19. one model, two threads ---------------------------------------------

def test_training_a_model_that_is_being_trained_raises(monkeypatch):
    """19: two threads training one model gave no error and results that
    changed from run to run. A second train() on the model, started while the
    first is inside the C core, must raise and leave the first untouched."""
    X, y = line_data()
    m = gf.MLP([1, 8, 1], activation="tanh", seed=0)
    expected = m.copy()
    gf.train(expected, X, y, lr=0.01, epochs=3, seed=0)
    errors, real_train = [], _core.train

    def second_call():
        try:
            gf.train(m, X, y, lr=0.5, epochs=3, seed=1)
        except RuntimeError as exc:
            errors.append(str(exc))

    def train_with_interference(*args, **kwargs):
        if not errors:
            t = threading.Thread(target=second_call)
            t.start()
            t.join()
        return real_train(*args, **kwargs)

    monkeypatch.setattr(_core, "train", train_with_interference)
    gf.train(m, X, y, lr=0.01, epochs=3, seed=0)
    assert len(errors) == 1 and errors[0].startswith("model: already being trained")
    np.testing.assert_array_equal(m.params, expected.params)
    monkeypatch.setattr(_core, "train", real_train)
    gf.train(m, X, y, lr=0.01, epochs=1, seed=0)        # the model is free again afterwards


# -- 7. absurd layer sizes (the Python side; the C side: test_sizes.py) --------

@pytest.mark.parametrize("sizes,match", [
    ([3, 2**40, 1], r"^layer_sizes: expected widths of at most 2147483647, got 1099511627776 at layer_sizes\[1\]"),
    ([2**31 - 1, 2**31 - 1], r"^layer_sizes: expected at most .* parameters in all, but layer 0 \(2147483647 -> 2147483647\)"),
    ([1, 2**20, 2**20, 1], r"^layer_sizes: .* layer 1 \(1048576 -> 1048576\)"),
])
def test_absurd_layer_sizes_are_refused_naming_the_layer(sizes, match):
    """7: sizes like 2**40 wrapped around int64 and the user saw "cannot reshape array of size 4"."""
    with pytest.raises(ValueError, match=match):
        gf.MLP(sizes)
