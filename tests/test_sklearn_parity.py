"""Issue 22: the cases of scikit-learn 1.9.1's sklearn/neural_network/tests/test_mlp.py,
rewritten against GradfitRegressor / GradfitClassifier, with scikit-learn's
own thresholds; then the checks the issue adds (the same steps as
MLPRegressor for any number of outputs, scikit-learn's behaviour at the
default standardize_y, lbfgs's loss against scikit-learn's).

No case needed adapting to scikit-learn's exact random numbers: with the same
random_state the estimators start from scikit-learn's weights, and every
threshold holds as written (the epoch shuffles still differ; the cases that
compare against MLPRegressor directly run over several seeds). One message
case is adapted on purpose (test_early_stopping_stratified: gradfit names the
user's class label where scikit-learn names its internal 'True').

Where a case reads one of scikit-learn's private attributes, the gradfit
estimator's counterpart is read instead: ``_learning_rate`` (the SGD rate in
force, scikit-learn's ``_optimizer.learning_rate``) and
``_no_improvement_count`` (the same name). The cases about multilabel
targets and loss="poisson" (test_multilabel_classification,
test_predict_proba_multilabel, test_mlp_vs_poisson_glm_equivalent) are in
tests/test_sklearn_parity_targets.py, the sparse-input case
(test_sparse_matrices) in tests/test_sklearn_parity_sparse.py; cases about
scikit-learn's private helpers are not ported.
"""
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from sklearn.datasets import load_digits, load_iris, make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import LabelBinarizer, MinMaxScaler, scale  # noqa: E402

from gradfit.sklearn import GradfitClassifier, GradfitRegressor  # noqa: E402

ACTIVATION_TYPES = ["identity", "logistic", "tanh", "relu"]

_X3, _y3 = load_digits(n_class=3, return_X_y=True)
X_digits_multi, y_digits_multi = MinMaxScaler().fit_transform(_X3[:200]), _y3[:200]
X_digits, y_digits = load_digits(n_class=2, return_X_y=True)
X_digits_binary, y_digits_binary = MinMaxScaler().fit_transform(X_digits[:200]), y_digits[:200]
classification_datasets = [(X_digits_multi, y_digits_multi), (X_digits_binary, y_digits_binary)]

X_reg, y_reg = make_regression(n_samples=200, n_features=10, bias=20.0, noise=100.0, random_state=7)
y_reg = scale(y_reg)
X_iris, y_iris = load_iris(return_X_y=True)

quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# -- test_mlp.py, case by case ---------------------------------------------------------------------
@quiet
def test_alpha():
    # a larger alpha gives weights closer to zero
    X, y = X_digits_binary[:100], y_digits_binary[:100]
    sums = []
    for alpha in (0, 1):
        mlp = GradfitClassifier(hidden_layer_sizes=10, alpha=alpha, random_state=1).fit(X, y)
        sums.append(np.array([np.abs(mlp.coefs_[0]).sum(), np.abs(mlp.coefs_[1]).sum()]))
    assert (sums[0] > sums[1]).all()


def test_fit_worked_example():
    # one SGD step on one sample from set weights, worked out by hand in scikit-learn's test
    X, y = np.array([[0.6, 0.8, 0.7]]), np.array([0])
    mlp = GradfitClassifier(solver="sgd", learning_rate_init=0.1, alpha=0.1, activation="logistic",
                            random_state=1, max_iter=1, hidden_layer_sizes=2, momentum=0)
    mlp.partial_fit(X, y, classes=[0, 1])           # builds the network; the weights are then set
    mlp.coefs_[0][...] = [[0.1, 0.2], [0.3, 0.1], [0.5, 0]]
    mlp.coefs_[1][...] = [[0.1], [0.2]]
    mlp.intercepts_[0][...] = [0.1, 0.1]
    mlp.intercepts_[1][...] = [1.0]
    mlp.partial_fit(X, y)
    np.testing.assert_almost_equal(mlp.coefs_[0], [[0.098, 0.195756], [0.2956664, 0.096008],
                                                   [0.4939998, -0.002244]], decimal=3)
    np.testing.assert_almost_equal(mlp.coefs_[1], [[0.04706], [0.154089]], decimal=3)
    np.testing.assert_almost_equal(mlp.intercepts_[0], [0.098333, 0.09626], decimal=3)
    np.testing.assert_almost_equal(mlp.intercepts_[1], [0.9235], decimal=3)
    np.testing.assert_almost_equal(mlp.predict_proba(X)[0, 1], 0.739, decimal=3)


@quiet
@pytest.mark.parametrize("n_labels", [2, 3])
@pytest.mark.parametrize("activation", ACTIVATION_TYPES)
def test_gradient(n_labels, activation):
    # the analytic gradient of the lbfgs objective (the C core's backward pass
    # plus the penalty) against central differences, for every activation
    rs = np.random.RandomState(42)
    X = rs.rand(5, 10)
    y = 1 + np.mod(np.arange(5) + 1, n_labels)
    mlp = GradfitClassifier(activation=activation, hidden_layer_sizes=10, solver="lbfgs", alpha=1e-5,
                            learning_rate_init=0.2, max_iter=1, random_state=1).fit(X, y)
    model, loss, l2 = mlp.model_, mlp.trainer_.loss, mlp.trainer_.l2
    Y = LabelBinarizer().fit_transform(y).astype(float)
    theta = model.params.copy()
    value, grad = model.loss_and_grad(X, Y, loss, l2=l2)
    num = np.empty_like(theta)
    for i in range(theta.size):
        values = []
        for step in (1e-5, -1e-5):
            model.params[...] = theta
            model.params[i] += step
            values.append(model.loss_and_grad(X, Y, loss, l2=l2)[0])
        num[i] = (values[0] - values[1]) / 2e-5
    model.params[...] = theta
    np.testing.assert_almost_equal(num, grad)


@pytest.mark.parametrize("X,y", classification_datasets)
def test_lbfgs_classification(X, y):
    for activation in ACTIVATION_TYPES:
        mlp = GradfitClassifier(solver="lbfgs", hidden_layer_sizes=50, max_iter=150, shuffle=True,
                                random_state=1, activation=activation)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(X[:150], y[:150])
        pred = mlp.predict(X[150:])
        assert mlp.score(X[:150], y[:150]) > 0.95
        assert (pred.shape[0], pred.dtype.kind) == (X[150:].shape[0], y.dtype.kind)


@quiet
def test_lbfgs_regression():
    for activation in ACTIVATION_TYPES:
        mlp = GradfitRegressor(solver="lbfgs", hidden_layer_sizes=50, max_iter=200, tol=1e-3, shuffle=True,
                               random_state=1, activation=activation).fit(X_reg, y_reg)
        assert mlp.score(X_reg, y_reg) > (0.80 if activation == "identity" else 0.98)


@pytest.mark.parametrize("X,y", classification_datasets)
def test_lbfgs_classification_maxfun(X, y):
    for activation in ACTIVATION_TYPES:
        mlp = GradfitClassifier(solver="lbfgs", hidden_layer_sizes=50, max_iter=150, max_fun=10, shuffle=True,
                                random_state=1, activation=activation)
        with pytest.warns(ConvergenceWarning):
            mlp.fit(X, y)
        assert 10 >= mlp.n_iter_


def test_lbfgs_regression_maxfun():
    for activation in ACTIVATION_TYPES:
        mlp = GradfitRegressor(solver="lbfgs", hidden_layer_sizes=50, tol=0.0, max_iter=150, max_fun=10,
                               shuffle=True, random_state=1, activation=activation)
        with pytest.warns(ConvergenceWarning):
            mlp.fit(X_reg, y_reg)
        assert 10 >= mlp.n_iter_


@quiet
def test_learning_rate_warmstart():
    X, y = [[3, 2], [1, 6], [5, 6], [-2, -4]], [1, 1, 1, 0]
    for learning_rate in ["invscaling", "constant"]:
        mlp = GradfitClassifier(solver="sgd", hidden_layer_sizes=4, learning_rate=learning_rate, max_iter=1,
                                power_t=0.25, warm_start=True)
        mlp.fit(X, y)
        prev_eta = mlp._learning_rate
        mlp.fit(X, y)
        post_eta = mlp._learning_rate
        if learning_rate == "constant":
            assert prev_eta == post_eta
        else:
            assert mlp.learning_rate_init / pow(8 + 1, mlp.power_t) == post_eta


def test_multioutput_regression():
    X, y = make_regression(n_samples=200, n_targets=5, random_state=11)
    mlp = GradfitRegressor(solver="lbfgs", hidden_layer_sizes=50, max_iter=200, tol=1e-2, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    assert mlp.score(X, y) > 0.9


def test_partial_fit_classes_error():
    clf = GradfitClassifier(solver="sgd")
    clf.partial_fit([[3, 2]], [0], classes=[0, 1])
    with pytest.raises(ValueError):
        clf.partial_fit([[3, 2]], [0], classes=[1, 2])


@quiet
def test_partial_fit_classification():
    # partial_fit gives the same results as fit
    for X, y in classification_datasets:
        mlp = GradfitClassifier(solver="sgd", max_iter=100, random_state=1, tol=0, alpha=1e-5,
                                learning_rate_init=0.2).fit(X, y)
        pred1 = mlp.predict(X)
        mlp = GradfitClassifier(solver="sgd", random_state=1, alpha=1e-5, learning_rate_init=0.2)
        for _ in range(100):
            mlp.partial_fit(X, y, classes=np.unique(y))
        np.testing.assert_array_equal(pred1, mlp.predict(X))
        assert mlp.score(X, y) > 0.95


def test_partial_fit_unseen_classes():
    clf = GradfitClassifier(random_state=0)
    clf.partial_fit([[1], [2], [3]], ["a", "b", "c"], classes=["a", "b", "c", "d"])
    clf.partial_fit([[4]], ["d"])
    assert clf.score([[1], [2], [3], [4]], ["a", "b", "c", "d"]) > 0


@quiet
def test_partial_fit_regression():
    for momentum in [0, 0.9]:
        kw = dict(solver="sgd", activation="relu", random_state=1, learning_rate_init=0.01,
                  batch_size=X_reg.shape[0], momentum=momentum)
        pred1 = GradfitRegressor(max_iter=100, **kw).fit(X_reg, y_reg).predict(X_reg)
        mlp = GradfitRegressor(**kw)
        for _ in range(100):
            mlp.partial_fit(X_reg, y_reg)
        np.testing.assert_allclose(pred1, mlp.predict(X_reg))
        assert mlp.score(X_reg, y_reg) > 0.65


def test_partial_fit_errors():
    with pytest.raises(ValueError):
        GradfitClassifier(solver="sgd").partial_fit([[3, 2], [1, 6]], [1, 0], classes=[2])
    assert not hasattr(GradfitClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(GradfitRegressor(solver="lbfgs"), "partial_fit")


def test_nonfinite_params():
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(size=10)
    msg = ("Solver produced non-finite parameter weights. The input data may contain large values and need to "
           "be preprocessed.")
    clf = GradfitRegressor()
    with warnings.catch_warnings():
        warnings.simplefilter("error")         # and no numpy RuntimeWarning on the way
        with pytest.raises(ValueError, match=re.escape(msg)):
            clf.fit(X, y)
    assert not hasattr(clf, "trainer_") and not hasattr(clf, "loss_")    # nothing "fitted" is left


@quiet
def test_predict_proba_binary():
    X, y = X_digits_binary[:50], y_digits_binary[:50]
    clf = GradfitClassifier(hidden_layer_sizes=5, activation="logistic", random_state=1).fit(X, y)
    p, logp = clf.predict_proba(X), clf.predict_log_proba(X)
    assert p.shape == (50, 2)
    np.testing.assert_array_equal(p.argmax(axis=1), logp.argmax(axis=1))
    np.testing.assert_allclose(logp, np.log(p))
    assert roc_auc_score(y, p[:, 1]) == 1.0


@quiet
def test_predict_proba_multiclass():
    X, y = X_digits_multi[:10], y_digits_multi[:10]
    clf = GradfitClassifier(hidden_layer_sizes=5).fit(X, y)
    p, logp = clf.predict_proba(X), clf.predict_log_proba(X)
    assert p.shape == (10, np.unique(y).size)
    np.testing.assert_array_equal(p.argmax(axis=1), logp.argmax(axis=1))
    np.testing.assert_allclose(logp, np.log(p))


@quiet
def test_shuffle():
    X, y = make_regression(n_samples=50, n_features=5, n_targets=1, random_state=0)
    for shuffle in [True, False]:
        kw = dict(hidden_layer_sizes=1, max_iter=1, batch_size=1, random_state=0, shuffle=shuffle)
        a, b = GradfitRegressor(**kw).fit(X, y), GradfitRegressor(**kw).fit(X, y)
        assert np.array_equal(a.coefs_[0], b.coefs_[0])
    kw = dict(hidden_layer_sizes=1, max_iter=1, batch_size=1, random_state=0)
    a, b = GradfitRegressor(shuffle=True, **kw).fit(X, y), GradfitRegressor(shuffle=False, **kw).fit(X, y)
    assert not np.array_equal(a.coefs_[0], b.coefs_[0])


def test_tolerance():
    clf = GradfitClassifier(tol=0.5, max_iter=3000, solver="sgd").fit([[3, 2], [1, 6]], [1, 0])
    assert clf.max_iter > clf.n_iter_


def test_verbose_sgd(capsys):
    X, y = [[3, 2], [1, 6]], [1, 0]
    clf = GradfitClassifier(solver="sgd", max_iter=2, verbose=10, hidden_layer_sizes=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    clf.partial_fit(X, y)
    assert "Iteration" in capsys.readouterr().out


@pytest.mark.parametrize("Est", [GradfitClassifier, GradfitRegressor])
def test_early_stopping(Est):
    X, y = X_digits_binary[:100], y_digits_binary[:100]
    tol = 0.2
    est = Est(tol=tol, max_iter=3000, solver="sgd", early_stopping=True).fit(X, y)
    assert est.max_iter > est.n_iter_
    assert est.best_loss_ is None
    assert isinstance(est.validation_scores_, list)
    scores, best = est.validation_scores_, est.best_validation_score_
    assert max(scores) == best
    assert best + tol > scores[-2]
    assert best + tol > scores[-1]
    est = Est(tol=tol, max_iter=3000, solver="sgd", early_stopping=False).fit(X, y)
    assert est.validation_scores_ is None
    assert est.best_validation_score_ is None
    assert est.best_loss_ is not None


def test_adaptive_learning_rate():
    clf = GradfitClassifier(tol=0.5, max_iter=3000, solver="sgd", learning_rate="adaptive")
    clf.fit([[3, 2], [1, 6]], [1, 0])
    assert clf.max_iter > clf.n_iter_
    assert 1e-6 > clf._learning_rate


def test_warm_start():
    y_2 = np.array([0] * 75 + [1] * 75)
    y_3 = np.array([0] * 40 + [1] * 40 + [2] * 70)
    y_3_alt = np.array([0] * 50 + [1] * 50 + [3] * 50)
    y_4 = np.array([0] * 37 + [1] * 37 + [2] * 38 + [3] * 38)
    y_5 = np.array([0] * 30 + [1] * 30 + [2] * 30 + [3] * 30 + [4] * 30)
    kw = dict(hidden_layer_sizes=2, solver="lbfgs", warm_start=True, random_state=42, tol=1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = GradfitClassifier(**kw).fit(X_iris, y_iris)
        clf.fit(X_iris, y_iris)
        clf.fit(X_iris, y_3)
        for y_i in (y_2, y_3_alt, y_4, y_5):
            clf = GradfitClassifier(**kw).fit(X_iris, y_iris)
            message = ("warm_start can only be used where `y` has the same classes as in the previous call to "
                       "fit. Previously got [0 1 2], `y` has %s" % np.unique(y_i))
            with pytest.raises(ValueError, match=re.escape(message)):
                clf.fit(X_iris, y_i)


@pytest.mark.parametrize("Est", [GradfitClassifier, GradfitRegressor])
def test_warm_start_full_iteration(Est):
    clf = Est(hidden_layer_sizes=2, solver="sgd", warm_start=True, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_iris, y_iris)
        assert clf.n_iter_ == 3
        clf.fit(X_iris, y_iris)
        assert clf.n_iter_ == 3


def test_n_iter_no_change():
    X, y = X_digits_binary[:100], y_digits_binary[:100]
    for n_iter_no_change in [2, 5, 10, 50, 100]:
        clf = GradfitClassifier(tol=0.01, max_iter=3000, solver="sgd", n_iter_no_change=n_iter_no_change)
        clf.fit(X, y)
        assert clf._no_improvement_count == n_iter_no_change + 1
        assert 3000 > clf.n_iter_


@quiet
def test_n_iter_no_change_inf():
    X, y = X_digits_binary[:100], y_digits_binary[:100]
    clf = GradfitClassifier(tol=1e9, max_iter=3000, solver="sgd", n_iter_no_change=np.inf).fit(X, y)
    assert clf.n_iter_ == 3000
    assert clf._no_improvement_count == clf.n_iter_ - 1


def test_early_stopping_stratified():
    # Adapted: scikit-learn's message names the class 'True' (its binarized
    # encoding of the labels); gradfit's names the user's label, 1.
    mlp = GradfitClassifier(early_stopping=True)
    with pytest.raises(ValueError, match=r"The least populated classes in y have only 1 member.*Classes with "
                                         r"too few members are: \[1\]"):
        mlp.fit([[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1])
    with pytest.raises(ValueError, match=r"Classes with too few members are: \['b'\]"):
        mlp.fit([[1, 2], [2, 3], [3, 4], [4, 5]], ["a", "a", "a", "b"])


def test_mlp_early_stopping_string_labels():
    X, y = make_classification(n_samples=200, n_features=10, n_classes=3, n_informative=5, random_state=42)
    y = np.array(["class_a", "class_b", "class_c"], dtype=object)[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = GradfitClassifier(early_stopping=True, max_iter=50, random_state=42).fit(X, y)
    assert mlp.validation_scores_ is not None
    assert len(mlp.validation_scores_) == mlp.n_iter_
    assert np.isfinite(mlp.validation_scores_).all()


@quiet
def test_mlp_classifier_dtypes_casting():
    kw = dict(alpha=1e-5, hidden_layer_sizes=(5, 3), random_state=1, max_iter=100, tol=1e-1)
    m64 = GradfitClassifier(**kw).fit(X_digits[:300], y_digits[:300])
    m32 = GradfitClassifier(**kw).fit(X_digits[:300].astype(np.float32), y_digits[:300])
    np.testing.assert_array_equal(m64.predict(X_digits[300:]), m32.predict(X_digits[300:].astype(np.float32)))
    np.testing.assert_allclose(m64.predict_proba(X_digits[300:]),
                               m32.predict_proba(X_digits[300:].astype(np.float32)), rtol=1e-2)


@quiet
def test_mlp_regressor_dtypes_casting():
    kw = dict(alpha=1e-5, hidden_layer_sizes=(5, 3), random_state=1, max_iter=150, tol=1e-3)
    m64 = GradfitRegressor(**kw).fit(X_digits[:300], y_digits[:300])
    m32 = GradfitRegressor(**kw).fit(X_digits[:300].astype(np.float32), y_digits[:300])
    np.testing.assert_allclose(m64.predict(X_digits[300:]), m32.predict(X_digits[300:].astype(np.float32)),
                               rtol=5e-04)


@quiet
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("Est", [GradfitClassifier, GradfitRegressor])
def test_mlp_param_dtypes(dtype, Est):
    X = X_digits.astype(dtype)
    mlp = Est(alpha=1e-5, hidden_layer_sizes=(5, 3), random_state=1, max_iter=50, tol=1e-1)
    pred = mlp.fit(X[:300], y_digits[:300]).predict(X[300:])
    assert all(b.dtype == dtype for b in mlp.intercepts_)
    assert all(W.dtype == dtype for W in mlp.coefs_)
    if Est is GradfitRegressor:
        assert pred.dtype == dtype


def test_mlp_loading_from_joblib_partial_fit(tmp_path):
    joblib = pytest.importorskip("joblib")
    est = GradfitRegressor(hidden_layer_sizes=(42,), random_state=42, learning_rate_init=0.01, max_iter=200)
    est.fit([[2]], [4])
    joblib.dump(est, tmp_path / "mlp.pkl")
    loaded = joblib.load(tmp_path / "mlp.pkl")
    for _ in range(200):
        loaded.partial_fit([[2]], [1])
    np.testing.assert_allclose(loaded.predict([[2]]), [1], rtol=1e-4)


@pytest.mark.parametrize("Est", [GradfitClassifier, GradfitRegressor])
def test_preserve_feature_names(Est):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = pd.DataFrame(data=rng.randn(10, 2), columns=["colname_a", "colname_b"])
    y = pd.Series(data=np.full(10, 1), name="colname_y")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        Est(early_stopping=True, validation_fraction=0.2).fit(X, y)


@pytest.mark.parametrize("Est", [GradfitClassifier, GradfitRegressor])
def test_mlp_warm_start_with_early_stopping(Est):
    mlp = Est(max_iter=10, random_state=0, warm_start=True, early_stopping=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X_iris, y_iris)
        n = len(mlp.validation_scores_)
        mlp.set_params(max_iter=20)
        mlp.fit(X_iris, y_iris)
    assert len(mlp.validation_scores_) > n


@pytest.mark.parametrize("Est", [GradfitClassifier, GradfitRegressor])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_mlp_warm_start_no_convergence(Est, solver):
    model = Est(solver=solver, warm_start=True, early_stopping=False, max_iter=10, n_iter_no_change=np.inf,
                random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X_iris, y_iris)
    assert model.n_iter_ == 10
    model.set_params(max_iter=20)
    with pytest.warns(ConvergenceWarning):
        model.fit(X_iris, y_iris)
    assert model.n_iter_ == 20


@pytest.mark.parametrize("Est", [GradfitClassifier, GradfitRegressor])
def test_mlp_partial_fit_after_fit(Est):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = Est(early_stopping=True, random_state=0).fit(X_iris, y_iris)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        mlp.partial_fit(X_iris, y_iris)


def test_mlp_diverging_loss():
    mlp = GradfitRegressor(hidden_layer_sizes=100, activation="identity", solver="sgd", alpha=0.0001,
                           learning_rate="constant", learning_rate_init=1, shuffle=True, max_iter=20,
                           early_stopping=True, n_iter_no_change=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)        # gradfit lets no overflow warning out
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X_iris, y_iris)
    assert str(mlp.validation_scores_[-1]) == str(np.nan)
    assert isinstance(mlp.validation_scores_[-1], float)
    assert np.isfinite(mlp.loss_) and np.isfinite(mlp.predict(X_iris)).all()


def test_mlp_sample_weight_with_early_stopping():
    X, y = make_regression(n_samples=100, n_features=2, n_informative=2, random_state=42)
    params = dict(hidden_layer_sizes=10, solver="adam", early_stopping=True, tol=1e-2, learning_rate_init=0.01,
                  batch_size=10, random_state=42)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m1 = GradfitRegressor(**params).fit(X, y, sample_weight=np.ones_like(y))
        m2 = GradfitRegressor(**params).fit(X, y, sample_weight=None)
    np.testing.assert_allclose(m1.predict(X), m2.predict(X))


def test_minimum_input_sample_size():
    X, y = make_regression(n_samples=2, n_features=5, random_state=0)
    with pytest.raises(ValueError, match="The validation set is too small"):
        GradfitRegressor(early_stopping=True, random_state=0).fit(X, y)


# -- what issue 22 adds: the same steps, the same defaults, the same lbfgs ---------------------------
def _pair(kind, **kw):
    G, S = (GradfitRegressor, MLPRegressor) if kind == "regressor" else (GradfitClassifier, MLPClassifier)
    return G(**kw), S(**kw)


@pytest.mark.parametrize("kind,activation", [("regressor", "relu"), ("regressor", "logistic"),
                                             ("classifier", "tanh")])
def test_initial_weights_are_sklearns(kind, activation):
    # the same draws from check_random_state(random_state), in the same order
    # (per layer: weights, then biases; factor 2 for logistic): a step of
    # 1e-300 leaves both networks at their starting weights
    X, y = (X_reg, y_reg) if kind == "regressor" else (X_digits_multi, y_digits_multi)
    g, s = _pair(kind, hidden_layer_sizes=(7, 5), activation=activation, solver="sgd", max_iter=1,
                 learning_rate_init=1e-300, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g.fit(X, y)
        s.fit(X, y)
    for a, b in zip(g.coefs_ + g.intercepts_, s.coefs_ + s.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert g.n_layers_ == s.n_layers_ == 4 and g.out_activation_ == s.out_activation_


@pytest.mark.parametrize("n_outputs", [1, 5])
@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
def test_sgd_takes_sklearns_steps_for_any_number_of_outputs(n_outputs, learning_rate):
    # From the same weights (the same random_state), batches in order
    # (shuffle=False): one epoch, then more, moves both networks alike.
    # scikit-learn's squared error sums over the outputs; gradfit's "mse"
    # averages, which the estimator makes up for.
    X, y = make_regression(n_samples=90, n_features=6, n_targets=n_outputs, noise=5.0, random_state=0)
    y = y / np.abs(y).max()
    kw = dict(hidden_layer_sizes=(8,), solver="sgd", alpha=0.01, batch_size=30, shuffle=False,
              learning_rate=learning_rate, power_t=0.4, learning_rate_init=0.05, momentum=0.5, random_state=0,
              n_iter_no_change=2, tol=1e-2 if learning_rate == "adaptive" else 1e-3)
    for epochs in (1, 40):
        g, s = _pair("regressor", max_iter=epochs, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            g.fit(X, y)
            s.fit(X, y)
        for a, b in zip(g.coefs_ + g.intercepts_, s.coefs_ + s.intercepts_):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(g.loss_curve_, s.loss_curve_, rtol=1e-9)
        assert g.n_iter_ == s.n_iter_ and g.t_ == s.t_
        assert g._learning_rate == pytest.approx(s._optimizer.learning_rate, rel=1e-12)
    if learning_rate == "adaptive":
        assert g._learning_rate < kw["learning_rate_init"]      # the rate was divided on the way


def test_default_settings_behave_as_sklearns_on_raw_targets():
    # The case: make_regression, sgd, 200 epochs, tol=1e-2. At the
    # defaults (standardize_y=False) gradfit takes scikit-learn's steps and
    # stops by its rule: R^2 as scikit-learn's, over several seeds.
    for seed in range(4):
        X, y = make_regression(n_samples=200, n_features=10, noise=1.0, random_state=seed)
        g, s = _pair("regressor", solver="sgd", max_iter=200, tol=1e-2, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            g.fit(X, y)
            s.fit(X, y)
        assert s.score(X, y) > 0.99
        assert g.score(X, y) > 0.99 and abs(g.score(X, y) - s.score(X, y)) < 5e-3
        assert abs(g.n_iter_ - s.n_iter_) <= max(10, 0.2 * s.n_iter_)


@pytest.mark.parametrize("kind", ["regressor", "classifier", "multi-output"])
def test_lbfgs_reaches_sklearns_loss(kind):
    # the same starting weights and the same objective, through the same scipy
    # routine: the final loss within 1% of scikit-learn's
    if kind == "classifier":
        X, y = X_digits_multi, y_digits_multi
    else:
        X, y = make_regression(n_samples=150, n_features=8, n_targets=1 if kind == "regressor" else 3,
                               noise=10.0, random_state=1)
        y = y / y.std()
    g, s = _pair("classifier" if kind == "classifier" else "regressor", solver="lbfgs",
                 hidden_layer_sizes=(10,), alpha=1.0, max_iter=500, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g.fit(X, y)
        s.fit(X, y)
    if kind == "multi-output":
        # scikit-learn's reported loss averages the outputs while its gradient
        # sums them; gradfit minimises the summed objective and reports loss_ in
        # scikit-learn's units: compare the summed objectives
        def summed(est):
            resid = est.predict(X) - y
            pen = sum(float((W ** 2).sum()) for W in est.coefs_) * 1.0 / (2 * len(X))
            return 0.5 * float((resid ** 2).sum(axis=1).mean()) + pen
        assert summed(g) <= summed(s) * 1.01
    else:
        assert g.loss_ == pytest.approx(s.loss_, rel=0.01)
    assert g.score(X, y) >= s.score(X, y) - 0.01
