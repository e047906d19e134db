"""gradfit.sklearn: GradfitRegressor / GradfitClassifier as scikit-learn estimators (issue 8)."""
import copy
import pickle
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import gradfit as gf  # noqa: E402
from gradfit.sklearn import GradfitClassifier, GradfitRegressor  # noqa: E402

# short runs on purpose; test_convergence_warning checks the warning itself
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# -- scikit-learn's own estimator checks -------------------------------------------------
# max_iter=100 as scikit-learn's own test instances of MLPRegressor / MLPClassifier
# (their accuracy / R^2 thresholds need a trained net); the whole set takes ~5 s.
# No expected_failed_checks: every check passes.
@parametrize_with_checks([GradfitRegressor(max_iter=100, random_state=0),
                          GradfitClassifier(max_iter=100, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_import_gradfit_does_not_import_sklearn():
    code = "import sys, gradfit; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the same updates as scikit-learn's MLP ---------------------------------------------------
def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = X @ [1.0, -2.0, 0.5, 3.0] + np.sin(X[:, 0])
    return X, y, rng


def _twin_runs(G, S, X, y, solver, sample_weight=None, epochs=20):
    """A gradfit and a scikit-learn estimator started from the same weights
    (copied after one epoch of each), then trained `epochs` more full-batch
    epochs without shuffling (so both see the same batches)."""
    common = dict(hidden_layer_sizes=(5,), solver=solver, alpha=0.3, batch_size=X.shape[0], shuffle=False,
                  learning_rate_init=0.05, n_iter_no_change=np.inf, warm_start=True, random_state=0)
    extra = {"standardize_y": False} if G is GradfitRegressor else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g = G(max_iter=1, **common, **extra).fit(X, y)
        s = S(max_iter=1, **common).fit(X, y)
        for W, Ws in zip(g.coefs_, s.coefs_):
            W[...] = Ws
        for b, bs in zip(g.intercepts_, s.intercepts_):
            b[...] = bs
        g.set_params(max_iter=epochs).fit(X, y, sample_weight=sample_weight)
        s.set_params(max_iter=epochs).fit(X, y, sample_weight=sample_weight)
    diff = max(np.abs(a - b).max() for a, b in zip(g.coefs_ + g.intercepts_, s.coefs_ + s.intercepts_))
    curve = np.abs(np.array(g.loss_curve_[1:]) - np.array(s.loss_curve_[1:])).max()
    return g, s, diff, curve


@pytest.mark.parametrize("task", ["regression", "weighted regression", "binary", "multiclass"])
def test_sgd_with_momentum_and_alpha_matches_sklearn_exactly(task):
    # The alpha -> l2 mapping, the halved SGD rate for the squared error and
    # Nesterov momentum reproduce scikit-learn's steps to rounding error.
    X, y, rng = _data()
    sw = rng.uniform(0.5, 2.0, X.shape[0]) if task == "weighted regression" else None
    if task in ("regression", "weighted regression"):
        G, S = GradfitRegressor, MLPRegressor
    else:
        G, S = GradfitClassifier, MLPClassifier
        y = (X[:, 0] + X[:, 1] > 0).astype(int) if task == "binary" else np.digitize(X[:, 0], [-0.5, 0.5])
    g, s, diff, curve = _twin_runs(G, S, X, y, "sgd", sw)
    assert diff < 1e-12
    assert curve < 1e-12          # loss_curve_ in scikit-learn's units (half MSE + penalty)
    assert g.n_iter_ == s.n_iter_ == 20 and len(g.loss_curve_) == len(s.loss_curve_) == 21


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_adam_matches_sklearn_closely(task):
    # Adam: the same rule; scikit-learn folds the bias correction into the
    # step size, which moves its epsilon, hence agreement to ~1e-5, not 1e-12.
    X, y, _ = _data()
    if task == "regression":
        G, S = GradfitRegressor, MLPRegressor
    else:
        G, S = GradfitClassifier, MLPClassifier
        y = np.digitize(X[:, 0], [-0.5, 0.5])
    _, _, diff, curve = _twin_runs(G, S, X, y, "adam")
    assert diff < 1e-3
    assert curve < 1e-5


# -- pipelines and grid search, against scikit-learn's MLP ----------------------------------
def _grid(est, X, y, grid):
    search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("net", est)]), grid, cv=3, n_jobs=2)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(Xtr, ytr)
    return search.score(Xte, yte), time.perf_counter() - start, search


@pytest.mark.slow
def test_grid_search_regressor_on_diabetes_matches_mlp_regressor():
    X, y = load_diabetes(return_X_y=True)
    settings = dict(hidden_layer_sizes=(32,), solver="adam", max_iter=200, batch_size=64, alpha=1e-4,
                    random_state=0)
    # diabetes is small and noisy: the penalty matters as much as the rate
    grid = {"net__learning_rate_init": [1e-3, 1e-2], "net__alpha": [1e-4, 1.0]}
    ours, t_ours, search = _grid(GradfitRegressor(**settings), X, y, grid)
    theirs, t_theirs, _ = _grid(MLPRegressor(**settings), X, y, grid)
    print(f"diabetes R^2: gradfit {ours:.3f} in {t_ours:.2f} s, MLPRegressor {theirs:.3f} in {t_theirs:.2f} s")
    assert isinstance(search.best_estimator_[-1], GradfitRegressor)
    assert ours >= theirs - 0.05
    assert ours > 0.3


@pytest.mark.slow
def test_grid_search_classifier_on_digits_matches_mlp_classifier():
    X, y = load_digits(return_X_y=True)
    settings = dict(hidden_layer_sizes=(64,), solver="adam", max_iter=50, batch_size=64, alpha=1e-4,
                    random_state=0)
    grid = {"net__learning_rate_init": [1e-3, 1e-2]}
    ours, t_ours, _ = _grid(GradfitClassifier(**settings), X, y, grid)
    theirs, t_theirs, _ = _grid(MLPClassifier(**settings), X, y, grid)
    print(f"digits accuracy: gradfit {ours:.3f} in {t_ours:.2f} s, MLPClassifier {theirs:.3f} in {t_theirs:.2f} s")
    assert ours >= theirs - 0.05
    assert ours > 0.9


# -- shapes, dtypes, feature names ------------------------------------------------------------
def test_predict_shapes():
    X, y, _ = _data()
    reg = GradfitRegressor((8,), max_iter=5, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (60,)
    reg2 = GradfitRegressor((8,), max_iter=5, random_state=0).fit(X, np.column_stack([y, -y]))
    assert reg2.predict(X).shape == (60, 2)
    assert reg2.model_.n_outputs == 2
    clf = GradfitClassifier((8,), max_iter=5, random_state=0).fit(X, np.digitize(X[:, 0], [-0.5, 0.5]))
    assert clf.predict(X).shape == (60,)
    assert clf.predict_proba(X).shape == (60, 3)
    assert clf.model_.layer_sizes == (4, 8, 3)


@pytest.mark.parametrize("Est", [GradfitRegressor, GradfitClassifier])
def test_float32_stays_float32(Est):
    X, y, _ = _data()
    if Est is GradfitClassifier:
        y = (y > 0).astype(int)
    X32 = X.astype(np.float32)
    est = Est((8,), max_iter=5, random_state=0).fit(X32, y)
    assert est.model_.dtype == np.float32
    assert est.coefs_[0].dtype == np.float32
    if Est is GradfitRegressor:
        assert est.predict(X32).dtype == np.float32
    else:
        assert est.predict_proba(X32).dtype == np.float32
        assert est.predict_log_proba(X32).dtype == np.float32
    est64 = Est((8,), max_iter=5, random_state=0).fit(X, y)
    assert est64.model_.dtype == np.float64
    forced = Est((8,), max_iter=5, random_state=0, dtype="float32").fit(X, y)
    assert forced.model_.dtype == np.float32
    # the same run in float32 and float64 agrees to float32 rounding
    out32 = (est.predict if Est is GradfitRegressor else est.predict_proba)(X32)
    out64 = (est64.predict if Est is GradfitRegressor else est64.predict_proba)(X)
    np.testing.assert_allclose(out32, out64, rtol=1e-3, atol=1e-3)


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y, _ = _data()
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = GradfitRegressor((8,), max_iter=5, random_state=0).fit(df, pd.Series(y))
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"]
    assert est.n_features_in_ == 4
    with pytest.warns(UserWarning, match="feature names"):      # scikit-learn's own checks
        np.testing.assert_array_equal(est.predict(df), est.predict(X))
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df.rename(columns={"a": "z"}))
    clf = GradfitClassifier((8,), max_iter=5, random_state=0).fit(df, np.where(y > 0, "pos", "neg"))
    assert list(clf.feature_names_in_) == ["a", "b", "c", "d"]


# -- sample weights -----------------------------------------------------------------------------
@pytest.mark.parametrize("Est", [GradfitRegressor, GradfitClassifier])
def test_zero_weights_equal_dropping_rows(Est):
    # Full batch: the batches then do not depend on which rows are present, so
    # weight 0 must give exactly the model fitted without those rows (the
    # target scaling and the alpha mapping use the weights as well).
    X, y, _ = _data()
    if Est is GradfitClassifier:
        y = np.digitize(X[:, 0], [-0.5, 0.5])
    w = np.ones(X.shape[0])
    w[::3] = 0
    kept = w > 0
    kw = dict(hidden_layer_sizes=(6,), max_iter=30, batch_size=1000, alpha=0.1, random_state=0,
              n_iter_no_change=np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = Est(**kw).fit(X, y, sample_weight=w)
        b = Est(**kw).fit(X[kept], y[kept])
    np.testing.assert_allclose(a.model_.params, b.model_.params, rtol=1e-10, atol=1e-12)
    # and the weights do something: uniform weights differ from these
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = Est(**kw).fit(X, y)
    assert np.abs(c.model_.params - a.model_.params).max() > 1e-3


def test_sample_weight_errors():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="^sample_weight"):
        GradfitRegressor(max_iter=1).fit(X, y, sample_weight=-np.ones(60))


# -- partial_fit, warm_start ------------------------------------------------------------------------
def test_partial_fit_with_classes_continues_one_trainer():
    X, y, _ = _data()
    labels = np.array(["a", "b", "c", "d"])[np.digitize(X[:, 0], [-0.5, 0.5])]   # "d" never occurs
    clf = GradfitClassifier((8,), random_state=0, solver="sgd", learning_rate_init=0.05)
    with pytest.raises(ValueError, match="^classes"):
        clf.partial_fit(X, labels)
    clf.partial_fit(X[:30], labels[:30], classes=["a", "b", "c", "d"])
    assert list(clf.classes_) == ["a", "b", "c", "d"]
    assert clf.model_.n_outputs == 4
    trainer = clf.trainer_
    for _ in range(9):
        clf.partial_fit(X[30:], labels[30:])
    assert clf.trainer_ is trainer and trainer.epoch == 10 and clf.n_iter_ == 1
    assert len(clf.loss_curve_) == 10
    with pytest.raises(ValueError, match="^y"):
        clf.partial_fit(X, np.full(60, "e"))
    # ten partial_fit calls on the same data == fit(max_iter=10), bit for bit
    a = GradfitRegressor((8,), random_state=1, n_iter_no_change=np.inf)
    for _ in range(10):
        a.partial_fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        b = GradfitRegressor((8,), random_state=1, max_iter=10, n_iter_no_change=np.inf).fit(X, y)
    np.testing.assert_array_equal(a.model_.params, b.model_.params)
    assert a.loss_curve_ == b.loss_curve_


def test_partial_fit_refuses_early_stopping():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="^early_stopping"):
        GradfitRegressor(early_stopping=True).partial_fit(X, y)


def test_warm_start_continues_from_the_fitted_weights():
    X, y, _ = _data()
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, n_iter_no_change=np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = GradfitRegressor(warm_start=True, **kw).fit(X, y)
        first = warm.model_.params.copy()
        warm.fit(X, y)
        cold = GradfitRegressor(**kw).fit(X, y)
        cold.fit(X, y)
    assert warm.n_iter_ == 5 and len(warm.loss_curve_) == 10 and warm.trainer_.epoch == 5
    assert warm.loss_curve_[5] < warm.loss_curve_[0]
    assert cold.n_iter_ == 5
    np.testing.assert_array_equal(cold.model_.params, first)       # a cold refit starts again
    assert not np.array_equal(warm.model_.params, first)
    assert warm.score(X, y) > cold.score(X, y)


# -- pickle and copies --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("Est", [GradfitRegressor, GradfitClassifier])
def test_pickle_round_trip(Est, dtype):
    X, y, _ = _data()
    X = X.astype(dtype)
    if Est is GradfitClassifier:
        y = np.array(["x", "y", "z"])[np.digitize(X[:, 0], [-0.5, 0.5])]
    est = Est((8,), max_iter=5, random_state=0, n_iter_no_change=np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    if Est is GradfitClassifier:
        np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    assert back.model_ is back.trainer_.model
    # the Trainer's state (Adam's moments, the shuffling generator) travels too
    est.partial_fit(X, y)
    back.partial_fit(X, y)
    np.testing.assert_array_equal(back.model_.params, est.model_.params)
    twin = copy.deepcopy(est)
    assert twin.model_ is twin.trainer_.model and twin.model_ is not est.model_
    assert clone(est).get_params() == est.get_params()


# -- classifier specifics ----------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_string_labels_and_probabilities(n_classes):
    X, _, _ = _data()
    names = np.array(["cat", "dog", "emu"])[:n_classes]
    ids = (X[:, 0] > 0).astype(int) if n_classes == 2 else np.digitize(X[:, 0], [-0.5, 0.5])
    clf = GradfitClassifier((8,), max_iter=200, random_state=0, learning_rate_init=0.01).fit(X, names[ids])
    assert list(clf.classes_) == list(names)
    assert clf.model_.n_outputs == (1 if n_classes == 2 else n_classes)
    assert clf.trainer_.loss == ("binary_cross_entropy" if n_classes == 2 else "cross_entropy")
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(p), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), names[np.argmax(p, axis=1)])
    assert clf.score(X, names[ids]) > 0.9


def test_classifier_refuses_multioutput_and_one_class():
    X, _, _ = _data()
    # columns of 0/1 are multilabel (tests/test_sklearn_parity_targets.py); other labels per column are not
    with pytest.raises(ValueError, match="^y: .*got a target of type 'multiclass-multioutput'"):
        GradfitClassifier(max_iter=1).fit(X, np.column_stack([X[:, 0] > 0, 2 * (X[:, 1] > 0)]).astype(int))


def test_classifier_fits_one_class_as_sklearn():
    # scikit-learn fits a y of one class (one logistic output trained towards
    # "not this class"): predict gives that class, predict_proba two columns
    X, _, _ = _data()
    y = np.full(60, "only")
    g = GradfitClassifier((4,), max_iter=20, random_state=0).fit(X, y)
    s = MLPClassifier((4,), max_iter=20, random_state=0).fit(X, y)
    assert list(g.classes_) == list(s.classes_) == ["only"]
    assert g.out_activation_ == s.out_activation_ == "logistic"
    np.testing.assert_array_equal(g.predict(X), s.predict(X))
    assert g.predict_proba(X).shape == s.predict_proba(X).shape == (60, 2)
    np.testing.assert_allclose(g.predict_proba(X), s.predict_proba(X), rtol=1e-6)


# -- stopping rules ------------------------------------------------------------------------------
def _sklearn_rule_stop(curve, tol, patience):
    """The epoch after which scikit-learn's rule stops, replayed on a loss curve."""
    best, count = np.inf, 0
    for i, value in enumerate(curve, 1):
        count = count + 1 if value > best - tol else 0
        best = min(best, value)
        if count > patience:
            return i
    return None


def test_tol_and_n_iter_no_change_follow_sklearns_rule():
    X, y, _ = _data()
    est = GradfitRegressor((8,), max_iter=2000, tol=1e-3, n_iter_no_change=5, random_state=0,
                           learning_rate_init=0.01).fit(X, y)
    assert est.n_iter_ < 2000
    assert _sklearn_rule_stop(est.loss_curve_, 1e-3, 5) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_loss_ == min(est.loss_curve_)


def test_no_stopping_rule_runs_the_same_epochs():
    # n_iter_no_change=inf lets the Trainer run many epochs per C call (no
    # per-epoch callback): the same numbers as with the rule that never fires.
    X, y, _ = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GradfitRegressor((8,), max_iter=50, n_iter_no_change=np.inf, random_state=0).fit(X, y)
        b = GradfitRegressor((8,), max_iter=50, n_iter_no_change=10**6, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.model_.params, b.model_.params)
    assert a.loss_curve_ == b.loss_curve_ and a.n_iter_ == b.n_iter_ == 50


@pytest.mark.parametrize("Est", [GradfitRegressor, GradfitClassifier])
def test_early_stopping_scores_and_best_weights(Est):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    if Est is GradfitRegressor:
        y = y.astype(float)
    extra = {"standardize_y": True} if Est is GradfitRegressor else {}
    est = Est((32,), max_iter=500, early_stopping=True, n_iter_no_change=3, tol=1e-3, random_state=0,
              learning_rate_init=0.01, **extra)
    est.fit(X, y)
    scores = est.validation_scores_
    assert est.n_iter_ < 500 and len(scores) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ == max(scores)
    assert all(s < est.best_validation_score_ + 1e-3 for s in scores[-4:])
    assert 0.5 < est.best_validation_score_ <= 1.0
    assert int(np.argmax(scores)) < est.n_iter_ - 1
    # the model holds the best epoch's weights, not the last epoch's: its score on
    # the validation split (scikit-learn's train_test_split, drawn after the
    # initial weights, as scikit-learn draws them) is the best score
    rs = np.random.RandomState(0)
    for shape in [(64, 32), 32, (32, est.model_.n_outputs), est.model_.n_outputs]:
        rs.uniform(-1, 1, shape)
    stratify = y if Est is GradfitClassifier else None
    _, Xv, _, yv = train_test_split(X, y, test_size=0.1, random_state=rs, stratify=stratify)
    assert est.score(Xv, yv) == pytest.approx(est.best_validation_score_, rel=1e-12)


def test_standardize_y_protects_raw_targets():
    # The trap of the issue: raw diabetes targets (25..346) at the default
    # settings; standardized targets train, raw ones barely move in 200 epochs.
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scaled = GradfitRegressor(random_state=0, standardize_y=True).fit(X, y)
        raw = GradfitRegressor(random_state=0, standardize_y=False).fit(X, y)
    assert scaled.score(X, y) > 0.5
    assert raw.score(X, y) < 0.0
    assert abs(np.mean(scaled.predict(X)) - y.mean()) < 5      # predictions are in y's units
    np.testing.assert_allclose(scaled.y_mean_, [y.mean()])
    np.testing.assert_allclose(scaled.y_scale_, [y.std()])


# -- parameters ------------------------------------------------------------------------------------
def test_bad_parameters_name_the_parameter():
    X, y, _ = _data()
    for bad in [dict(solver="newton"), dict(n_threads=0), dict(batch_size=0), dict(activation="gelu"),
                dict(learning_rate_init=0.0), dict(dtype="float16"), dict(loss="gamma")]:
        with pytest.raises(ValueError, match=f"'{next(iter(bad))}' parameter"):
            GradfitRegressor(**bad).fit(X, y)
    with pytest.raises(ValueError, match="^hidden_layer_sizes"):
        GradfitRegressor(hidden_layer_sizes=(4, 0)).fit(X, y)


def test_mapped_trainer_settings():
    X, y, _ = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = GradfitRegressor((4,), solver="sgd", alpha=0.2, batch_size=20, learning_rate_init=0.1,
                               momentum=0.5, max_iter=1).fit(X, y)
        t = est.trainer_
        assert isinstance(t, gf.Trainer) and t.optimizer.name == "sgd"
        assert t.l2 == pytest.approx(2 * 0.2 / 20) and t.optimizer.lr == pytest.approx(0.05)
        assert t.batch_size == 20 and t.optimizer.momentum == 0.5 and t.optimizer.nesterov
        clf = GradfitClassifier((4,), solver="adamw", alpha=0.2, batch_size="auto", max_iter=1).fit(X, y > 0)
        t = clf.trainer_
        assert t.optimizer.name == "adamw" and t.optimizer.weight_decay == 0.2 and t.l2 == 0.0
        assert t.batch_size == 60 and t.optimizer.lr == 0.001
        linear = GradfitRegressor((), activation="tanh", max_iter=1).fit(X, y)
        assert linear.model_.layer_sizes == (4, 1)
        logistic = GradfitRegressor(3, activation="logistic", max_iter=1).fit(X, y)
        assert logistic.model_.activations == ("sigmoid", "identity")
    with pytest.warns(UserWarning, match="^batch_size"):
        GradfitRegressor((4,), batch_size=100, max_iter=1, n_iter_no_change=np.inf).fit(X, y)


def test_verbose_prints_each_epoch(capsys):
    X, y, _ = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GradfitRegressor((4,), max_iter=3, verbose=True, random_state=0).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Iteration")]
    assert len(lines) == 3 and lines[0].startswith("Iteration 1, loss = ")


def test_convergence_warning_only_when_max_iter_is_reached():
    X, y, _ = _data()
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\)"):
        GradfitRegressor((4,), max_iter=2, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = GradfitRegressor((4,), max_iter=5000, tol=1e-2, n_iter_no_change=2, random_state=0).fit(X, y)
    assert est.n_iter_ < 5000


# -- est.save / gradfit.sklearn.load ------------------------------------------------

@pytest.mark.parametrize("make,labels", [
    (lambda: GradfitRegressor((5,), max_iter=5, random_state=0), None),
    (lambda: GradfitClassifier((5,), max_iter=5, random_state=0), np.array(["a", "b", "c"] * 20)),
    (lambda: GradfitClassifier((5,), max_iter=5, random_state=0), np.array([3, 7] * 30)),
])
def test_saved_estimator_predicts_and_continues_exactly(make, labels, tmp_path):
    import warnings
    from gradfit.sklearn import load
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] - X[:, 1] if labels is None else labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().fit(X, y)
        path = tmp_path / "est.npz"
        est.save(path)
        back = load(path)
        assert type(back) is type(est)
        np.testing.assert_array_equal(back.predict(X), est.predict(X))
        assert back.get_params() == est.get_params()
        assert back.loss_curve_ == est.loss_curve_ and back.n_features_in_ == 3
        est.partial_fit(X, y)
        back.partial_fit(X, y)
    np.testing.assert_array_equal(back.model_.params, est.model_.params)


def test_sklearn_load_refuses_a_plain_model_file_and_damage(tmp_path):
    import json
    import zipfile

    import gradfit as gf
    from gradfit.sklearn import load
    path = tmp_path / "m.npz"
    gf.MLP([2, 1]).save(path)
    with pytest.raises(ValueError, match="not a saved gradfit.sklearn estimator"):
        load(path)
    est = GradfitRegressor((3,), max_iter=2, random_state=0).fit(np.ones((10, 2)) * np.arange(10)[:, None],
                                                                np.arange(10.0))
    good = tmp_path / "e.npz"
    est.save(good)
    meta = json.loads(np.load(good)["metadata"].tobytes())
    meta["extra"]["estimator"]["state"]["y_mean_"] = {"array": [1, 2], "shape": [5], "dtype": "<f8"}
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "metadata.npy":
                buf = __import__("io").BytesIO()
                np.save(buf, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
                data = buf.getvalue()
            zout.writestr(item, data)
    with pytest.raises(ValueError, match=r"y_mean_: expected 5 values"):
        load(bad)
