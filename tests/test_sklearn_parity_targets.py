"""Issue 22, targets: loss="poisson" (the C core, gf.train, GradfitRegressor)
and multilabel classification (GradfitClassifier with an indicator matrix).

The first part ports the cases of scikit-learn 1.9.1's
sklearn/neural_network/tests/test_mlp.py about multilabel targets and the
poisson loss (test_multilabel_classification, test_predict_proba_multilabel,
test_mlp_vs_poisson_glm_equivalent), with scikit-learn's thresholds; the
cases that use solver="lbfgs" run once the estimators have that solver. The
second part checks the pieces: the poisson loss's gradient by finite
differences and the C core against the NumPy oracle, multilabel shapes,
thresholds and partial_fit, and bad input."""
import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import make_multilabel_classification  # noqa: E402
from sklearn.linear_model import PoissonRegressor  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402

import gradfit as gf  # noqa: E402
from gradfit import reference  # noqa: E402
from gradfit.sklearn import GradfitClassifier, GradfitRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _has_lbfgs(cls):
    """Whether the estimator offers solver="lbfgs" (issue 22 adds it)."""
    return any(getattr(c, "options", None) and "lbfgs" in c.options
               for c in cls._parameter_constraints["solver"])


needs_lbfgs = pytest.mark.skipif(not _has_lbfgs(GradfitClassifier), reason="solver='lbfgs' is not in this tree yet")


def _multilabel(n_samples=50):
    return make_multilabel_classification(n_samples=n_samples, random_state=0, return_indicator=True)


# -- ported from scikit-learn's test_mlp.py ------------------------------------------------------
@needs_lbfgs
def test_multilabel_classification_lbfgs():
    X, y = _multilabel()
    clf = GradfitClassifier(solver="lbfgs", hidden_layer_sizes=50, alpha=1e-5, max_iter=150, random_state=0,
                            activation="logistic", learning_rate_init=0.2)
    clf.fit(X, y)
    assert clf.score(X, y) > 0.97


def test_multilabel_classification_partial_fit_and_early_stopping():
    X, y = _multilabel()
    clf = GradfitClassifier(solver="sgd", hidden_layer_sizes=50, max_iter=150, random_state=0,
                            activation="logistic", alpha=1e-5, learning_rate_init=0.2)
    for _ in range(100):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3, 4])
    assert clf.score(X, y) > 0.9
    # early stopping's split is not stratified for multilabel targets: it fits and predicts
    pred = GradfitClassifier(early_stopping=True).fit(X, y).predict(X)
    assert pred.shape == y.shape


def _check_proba_multilabel(clf, X, Y):
    n_samples, n_classes = Y.shape
    y_proba = clf.predict_proba(X)
    assert y_proba.shape == (n_samples, n_classes)
    np.testing.assert_array_equal(y_proba > 0.5, Y)
    y_log_proba = clf.predict_log_proba(X)
    assert (y_proba.sum(1) - 1).dot(y_proba.sum(1) - 1) > 1e-10       # no softmax: rows do not sum to 1
    np.testing.assert_array_equal(y_proba.argmax(axis=1), y_log_proba.argmax(axis=1))
    np.testing.assert_allclose(y_log_proba, np.log(y_proba))


@needs_lbfgs
def test_predict_proba_multilabel_lbfgs():
    X, Y = _multilabel()
    _check_proba_multilabel(GradfitClassifier(solver="lbfgs", hidden_layer_sizes=30, random_state=0).fit(X, Y), X, Y)


def test_predict_proba_multilabel_adam():
    """The lbfgs case above with Adam: enough epochs to fit the 50 rows exactly."""
    X, Y = _multilabel()
    clf = GradfitClassifier(hidden_layer_sizes=30, random_state=0, max_iter=2000, learning_rate_init=0.01,
                            n_iter_no_change=50).fit(X, Y)
    _check_proba_multilabel(clf, X, Y)


def _poisson_data(seed):
    n = 100
    rng = np.random.default_rng(seed)
    X = np.linspace(0, 1, n)
    y = rng.poisson(np.exp(X + 1))
    return X.reshape(n, -1), y


@needs_lbfgs
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_vs_poisson_glm_equivalent_lbfgs(seed):
    X, y = _poisson_data(seed)
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    kw = dict(hidden_layer_sizes=(1,), activation="identity", alpha=0, solver="lbfgs", tol=1e-7,
              random_state=np.random.RandomState(seed + 1))
    mlp = GradfitRegressor(loss="poisson", **kw).fit(X, y)
    np.testing.assert_allclose(mlp.predict(X), glm.predict(X), rtol=1e-4)
    # the squared error's identity output cannot reach the GLM's exponential curve
    mlp = GradfitRegressor(loss="squared_error", **kw).fit(X, y)
    assert not np.allclose(mlp.predict(X), glm.predict(X), rtol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_vs_poisson_glm_equivalent_adam(seed):
    """The case above with Adam: a one-unit identity net with the log link is
    the GLM; Adam's last steps leave it within 1e-3 of the GLM's optimum."""
    X, y = _poisson_data(seed)
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    kw = dict(hidden_layer_sizes=(1,), activation="identity", alpha=0, learning_rate_init=0.01, max_iter=3000,
              tol=1e-9, n_iter_no_change=100, batch_size=100, random_state=seed + 1)
    mlp = GradfitRegressor(loss="poisson", **kw).fit(X, y)
    np.testing.assert_allclose(mlp.predict(X), glm.predict(X), rtol=1e-3)
    mlp = GradfitRegressor(loss="squared_error", standardize_y=False, **kw).fit(X, y)
    assert not np.allclose(mlp.predict(X), glm.predict(X), rtol=1e-3)


# -- poisson: the loss in the core ---------------------------------------------------------------
def _count_problem(layer_sizes, dtype="float64", n=31, seed=0):
    rng = np.random.default_rng(seed)
    m = gf.MLP(layer_sizes, activation="tanh", dtype=dtype, seed=seed + 1)
    X = rng.normal(size=(n, layer_sizes[0])).astype(dtype)
    y = rng.poisson(np.exp(0.7 * rng.normal(size=(n, layer_sizes[-1])))).astype(dtype)
    y[0, 0] = 0.3                                           # a rate, not a count
    return m, X, y


@pytest.mark.parametrize("layer_sizes", [[3, 5, 2], [4, 24, 3], [2, 1]], ids=lambda s: "-".join(map(str, s)))
def test_poisson_gradient_matches_finite_differences(simd_path, layer_sizes):
    m, X, y = _count_problem(layer_sizes)
    sw = np.random.default_rng(5).uniform(0.2, 2.0, X.shape[0])
    value, grad = m.loss_and_grad(X, y, loss="poisson", sample_weight=sw)
    h = 1e-6
    fd = np.empty_like(grad)
    for i in range(m.n_params):
        p = m.params.copy()
        m.params[i] = p[i] + h
        up = m.loss(X, y, loss="poisson", sample_weight=sw)
        m.params[i] = p[i] - h
        down = m.loss(X, y, loss="poisson", sample_weight=sw)
        m.params[...] = p
        fd[i] = (up - down) / (2 * h)
    rel = np.abs(fd - grad) / np.maximum(np.abs(grad), 1e-3 * np.abs(grad).max())
    assert rel.max() <= 1e-6, rel.max()
    # the value by hand: the weighted mean over rows of the mean over outputs of exp(z) - y z
    z = m.predict(X)
    want = np.average((np.exp(z) - y * z).mean(axis=1), weights=sw)
    assert value == pytest.approx(want, rel=1e-13)
    rvalue, rgrad = reference.Reference(m, "poisson").loss_and_grad(X, y, sw)
    assert rvalue == pytest.approx(value, rel=1e-13)
    np.testing.assert_allclose(rgrad, grad, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layer_sizes,batch", [([3, 6, 2], 8), ([3, 24, 24, 2], 5), ([1, 2, 1], 4)],
                         ids=["narrow", "wide", "1-2-1"])
def test_poisson_training_c_equals_the_oracle(simd_path, dtype, layer_sizes, batch):
    """gf.train's C path and the NumPy oracle take the same steps (float64 to
    ~1e-10, float32 to its rounding) on the narrow, wide and 1-2-1 paths."""
    _, X, y = _count_problem(layer_sizes, dtype, n=40, seed=2)
    out = {}
    for backend in ("c", "numpy"):
        m = gf.MLP(layer_sizes, activation="tanh", dtype=dtype, seed=4)
        r = gf.train(m, X, y, loss="poisson", optimizer="adam", lr=0.01, batch_size=batch, epochs=4, seed=3,
                     backend=backend)
        out[backend] = (m.params.astype(np.float64), r.history["loss"], r.final_loss)
    (pc, hc, fc), (pn, hn, fn) = out["c"], out["numpy"]
    tol = 1e-10 if dtype == "float64" else 2e-4
    assert np.abs(pc - pn).max() <= tol * max(1.0, np.abs(pn).max())
    np.testing.assert_allclose(hc, hn, rtol=tol)
    assert fc == pytest.approx(fn, rel=tol)
    assert hc[-1] < hc[0]                                    # it trained


def test_poisson_fits_counts_and_predict_mean_is_exp():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (2000, 2))
    mean = np.exp(0.5 + X[:, 0] - 0.7 * X[:, 1])
    y = rng.poisson(mean).astype(float)
    m = gf.MLP([2, 1], seed=0)                               # the GLM: log mean = X w + b
    gf.train(m, X, y, loss="poisson", optimizer="adam", lr=0.05, batch_size=100, epochs=100, seed=0)
    np.testing.assert_allclose(m.weights[0][:, 0], [1.0, -0.7], atol=0.08)
    assert m.biases[0][0] == pytest.approx(0.5, abs=0.06)
    np.testing.assert_array_equal(m.predict_mean(X[:5]), np.exp(m.predict(X[:5])))
    assert np.corrcoef(m.predict_mean(X)[:, 0], mean)[0, 1] > 0.99


def test_poisson_refuses_negative_targets_and_a_non_identity_output():
    m = gf.MLP([2, 1], seed=0)
    before = m.params.copy()
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"^y: expected counts or rates >= 0 for the poisson loss, got a minimum of -2"):
        gf.train(m, X, [1.0, -2.0, 0.0], loss="poisson", epochs=1)
    with pytest.raises(ValueError, match=r"^y: expected counts or rates >= 0"):
        m.loss_and_grad(X, [1.0, -2.0, 0.0], loss="poisson")
    assert np.array_equal(m.params, before)
    with pytest.raises(ValueError, match=r"^loss: 'poisson' takes the log of the mean.*got 'relu'"):
        gf.train(gf.MLP([2, 1], output_activation="relu"), X, [1.0, 2.0, 0.0], loss="poisson", epochs=1)


# -- binary_cross_entropy over several outputs (multilabel) in the core ----------------------------
def test_multilabel_bce_is_the_mean_of_one_output_losses(simd_path):
    """With K outputs, binary_cross_entropy is the mean over the outputs of
    the one-output loss (and its gradient 1/K of each), on the narrow and
    wide paths, against the oracle."""
    rng = np.random.default_rng(1)
    for hidden in (5, 24):
        m = gf.MLP([3, hidden, 4], activation="tanh", seed=2)
        X = rng.normal(size=(17, 3))
        y = rng.integers(0, 2, (17, 4)).astype(float)
        value, grad = m.loss_and_grad(X, y, loss="binary_cross_entropy")
        z = m.predict(X)
        each = [reference.loss_value(z[:, [k]], y[:, [k]], "binary_cross_entropy") for k in range(4)]
        assert value == pytest.approx(np.mean(each), rel=1e-13)
        rvalue, rgrad = reference.Reference(m, "binary_cross_entropy").loss_and_grad(X, y)
        assert rvalue == pytest.approx(value, rel=1e-13)
        np.testing.assert_allclose(rgrad, grad, rtol=1e-11, atol=1e-14)
        h = 1e-6
        for i in rng.choice(m.n_params, 12, replace=False):
            p = m.params.copy()
            m.params[i] = p[i] + h
            up = m.loss(X, y, loss="binary_cross_entropy")
            m.params[i] = p[i] - h
            down = m.loss(X, y, loss="binary_cross_entropy")
            m.params[...] = p
            assert (up - down) / (2 * h) == pytest.approx(grad[i], rel=1e-6, abs=1e-9)


# -- the estimators: the same steps as scikit-learn's from the same weights ------------------------
def _one_step_from_sklearns_weights(sk, gd, X, y, sw=None):
    """One full-batch SGD step of each estimator, both starting from the
    weights scikit-learn's first fit drew; returns both weight lists."""
    sk.fit(X, y, sample_weight=sw)
    gd.fit(X, y, sample_weight=sw)
    for mine, theirs in zip(gd.coefs_ + gd.intercepts_, sk.coefs_ + sk.intercepts_):
        mine[...] = theirs
    sk.set_params(warm_start=True).fit(X, y, sample_weight=sw)
    gd.set_params(warm_start=True).fit(X, y, sample_weight=sw)
    return gd.coefs_ + gd.intercepts_, sk.coefs_ + sk.intercepts_


STEP = dict(solver="sgd", momentum=0.0, batch_size=60, max_iter=1, shuffle=False, learning_rate_init=0.05,
            alpha=1e-3, hidden_layer_sizes=(7,), activation="tanh", random_state=0)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_poisson_regressor_takes_scikit_learns_step(n_outputs, weighted):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = rng.poisson(np.exp(0.5 * X[:, :n_outputs])).astype(float)
    y = y[:, 0] if n_outputs == 1 else y
    sw = rng.uniform(0.5, 2.0, 60) if weighted else None
    sk, gd = MLPRegressor(loss="poisson", **STEP), GradfitRegressor(loss="poisson", **STEP)
    mine, theirs = _one_step_from_sklearns_weights(sk, gd, X, y, sw)
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    # loss_curve_ is scikit-learn's: half the Poisson deviance (+ penalty) of the step's starting weights
    assert gd.loss_curve_[-1] == pytest.approx(sk.loss_curve_[-1], rel=1e-10)
    np.testing.assert_allclose(gd.predict(X), sk.predict(X), rtol=1e-10)


@pytest.mark.parametrize("n_labels", [2, 5])
def test_multilabel_classifier_takes_scikit_learns_step(n_labels):
    X, Y = make_multilabel_classification(n_samples=60, n_classes=n_labels, random_state=1)
    X = X / X.max()
    sk, gd = MLPClassifier(**STEP), GradfitClassifier(**STEP)
    mine, theirs = _one_step_from_sklearns_weights(sk, gd, X, Y)
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    assert gd.loss_curve_[-1] == pytest.approx(sk.loss_curve_[-1], rel=1e-10)
    np.testing.assert_allclose(gd.predict_proba(X), sk.predict_proba(X), rtol=1e-10)
    np.testing.assert_array_equal(gd.predict(X), sk.predict(X))
    np.testing.assert_array_equal(gd.classes_, sk.classes_)


# -- multilabel: shapes, thresholds, partial_fit, bad input ---------------------------------------
def test_multilabel_shapes_and_threshold():
    X, Y = _multilabel(80)
    clf = GradfitClassifier(hidden_layer_sizes=(20,), max_iter=30, random_state=0).fit(X, Y.astype(bool))
    np.testing.assert_array_equal(clf.classes_, np.arange(5))
    assert clf.n_outputs_ == 5 and clf.model_.n_outputs == 5 and clf.trainer_.loss == "binary_cross_entropy"
    p = clf.predict_proba(X)
    pred = clf.predict(X)
    assert p.shape == pred.shape == (80, 5) and ((0 < p) & (p < 1)).all()
    np.testing.assert_array_equal(pred, (p > 0.5).astype(int))
    np.testing.assert_array_equal(pred, clf.decision_function(X) > 0)
    # score is subset accuracy: a row counts only if all five labels are right
    assert clf.score(X, Y) == pytest.approx(np.mean((pred == Y).all(axis=1)))
    assert clf.score(X, Y) < np.mean(pred == Y)


def test_multilabel_partial_fit_continues_and_checks_the_labels():
    X, Y = _multilabel(60)
    a = GradfitClassifier(hidden_layer_sizes=(10,), random_state=0, solver="sgd", learning_rate_init=0.1)
    a.partial_fit(X, Y, classes=np.arange(5))
    b = GradfitClassifier(hidden_layer_sizes=(10,), random_state=0, solver="sgd", learning_rate_init=0.1)
    b.partial_fit(X, Y)                        # classes is not needed for an indicator matrix
    np.testing.assert_array_equal(a.model_.params, b.model_.params)
    first = a.model_.params.copy()
    a.partial_fit(X[:30], Y[:30])
    assert not np.array_equal(a.model_.params, first) and a.predict(X).shape == (60, 5)
    with pytest.raises(ValueError, match=r"^y: expected 5 label columns as in the first fit, got 4"):
        a.partial_fit(X, Y[:, :4])
    with pytest.raises(ValueError, match=r"^y: expected a multilabel indicator matrix as in the first fit"):
        a.partial_fit(X, Y[:, 0])
    c = GradfitClassifier(hidden_layer_sizes=(10,), random_state=0).partial_fit(X, Y[:, 0], classes=[0, 1])
    with pytest.raises(ValueError, match=r"^y: expected one column of class labels as in the first fit"):
        c.partial_fit(X, Y)


def test_multilabel_refuses_columns_that_are_not_0_1():
    X, Y = _multilabel(40)
    bad = Y.copy()
    bad[:, 2] *= 3                                    # labels 0/3 in one column
    with pytest.raises(ValueError, match=r"^y: expected .*multilabel indicator matrix.*'multiclass-multioutput'"):
        GradfitClassifier(max_iter=1).fit(X, bad)
    with pytest.raises(ValueError, match="continuous-multioutput|Unknown label type"):
        GradfitClassifier(max_iter=1).fit(X, Y * 0.5)


def test_multilabel_early_stopping_is_not_stratified_and_keeps_the_best():
    X, Y = _multilabel(120)
    clf = GradfitClassifier(hidden_layer_sizes=(20,), early_stopping=True, max_iter=60, random_state=0,
                            learning_rate_init=0.01).fit(X, Y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert 0.0 <= clf.best_validation_score_ <= 1.0


def test_multilabel_save_and_load(tmp_path):
    from gradfit.sklearn import load
    X, Y = _multilabel(40)
    clf = GradfitClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, Y)
    clf.save(tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


# -- poisson regressor: input and predictions -------------------------------------------------------
def test_poisson_regressor_refuses_negative_y_and_predicts_means():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = rng.poisson(2.0, 50).astype(float)
    est = GradfitRegressor(loss="poisson", hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    bad = y.copy()
    bad[7] = -1.0
    with pytest.raises(ValueError, match=r"^y: expected values >= 0 \(counts or rates\) for loss='poisson', "
                                         r"got a minimum of -1"):
        est.fit(X, bad)
    est.fit(X, y)
    assert est.y_scale_.tolist() == [1.0] and est.y_mean_.tolist() == [0.0]    # not standardized
    np.testing.assert_allclose(est.predict(X), np.exp(est.model_.predict(X)[:, 0]), rtol=1e-15)
    assert (est.predict(X) > 0).all()
    with pytest.raises(ValueError, match=r"^y: expected values >= 0"):
        est.partial_fit(X, bad)


def test_multilabel_log_proba_is_finite_where_the_probability_underflows():
    X, Y = _multilabel(40)
    clf = GradfitClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, Y)
    clf.model_.biases[-1][0] = -2000.0                 # label 0: sigmoid(z) rounds to 0
    assert (clf.predict_proba(X)[:, 0] == 0).all()
    lp = clf.predict_log_proba(X)
    assert np.isfinite(lp).all() and (lp[:, 0] < -1000).all()
    np.testing.assert_array_equal(lp[:, 1:], np.log(clf.predict_proba(X)[:, 1:]))


# -- gf.train with multilabel targets ---------------------------------------------------------------
def test_label_hits_agree_with_the_accuracy_of_one_label_and_of_classes():
    from gradfit._targets import label_hits, labels_of
    rng = np.random.default_rng(0)
    z = rng.normal(size=(30, 1))
    t = rng.integers(0, 2, (30, 1)).astype(float)
    np.testing.assert_array_equal(label_hits(z, t, "binary_cross_entropy"), (z[:, 0] > 0) == labels_of(t, "binary_cross_entropy"))
    z3 = rng.normal(size=(30, 3))
    t3 = np.eye(3)[rng.integers(0, 3, 30)]
    np.testing.assert_array_equal(label_hits(z3, t3, "cross_entropy"), np.argmax(z3, 1) == labels_of(t3, "cross_entropy"))
    # multilabel: a row is a hit when every label is right (subset accuracy), and it is not stratified
    t3 = rng.integers(0, 2, (30, 3)).astype(float)
    np.testing.assert_array_equal(label_hits(z3, t3, "binary_cross_entropy"), ((z3 > 0) == t3).all(axis=1))
    assert labels_of(t3, "binary_cross_entropy") is None


def test_multilabel_val_accuracy_in_gf_train_is_subset_accuracy():
    X, Y = _multilabel(100)
    X = X / X.max()
    m = gf.MLP([X.shape[1], 16, Y.shape[1]], seed=0)
    r = gf.train(m, X[:80], Y[:80], loss="binary_cross_entropy", optimizer="adam", lr=0.03, epochs=60,
                 validation_data=(X[80:], Y[80:]), seed=0)
    subset = np.mean(((m.predict(X[80:]) > 0) == Y[80:]).all(axis=1))
    assert subset > 0.1
    assert r.history["val_accuracy"][-1] == pytest.approx(subset, rel=1e-12)


@pytest.mark.parametrize("check", ["check_classifiers_multilabel_output_format_predict",
                                   "check_classifiers_multilabel_output_format_predict_proba",
                                   "check_classifiers_multilabel_output_format_decision_function",
                                   "check_classifiers_multilabel_representation_invariance"])
def test_scikit_learns_multilabel_checks(check):
    from sklearn.utils import estimator_checks
    assert GradfitClassifier().__sklearn_tags__().classifier_tags.multi_label
    getattr(estimator_checks, check)("GradfitClassifier", GradfitClassifier(max_iter=100, random_state=0))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_poisson_loss_of_huge_log_means_is_inf_or_huge_without_a_warning(dtype):
    import warnings
    m = gf.MLP([1, 1], weights=[[[1.0]]], biases=[[0.0]], dtype=dtype)
    X = np.array([[1000.0], [0.0]], dtype)
    y = np.array([[1.0], [1.0]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = m.loss(X, y, loss="poisson")
        r = reference.loss_value(m.predict(X), y, "poisson")
    assert r == np.inf and (c == np.inf or c > 1e37)      # the C core's exp saturates at the dtype's largest
