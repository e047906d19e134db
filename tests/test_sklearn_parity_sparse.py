"""Sparse input in the scikit-learn estimators (issue 22): scikit-learn 1.9.1's
test_mlp.py case on sparse matrices, ported to GradfitClassifier and
GradfitRegressor, and the rest of the estimator API on sparse X.

scikit-learn's case fits the same estimator on dense and on CSR X and expects
the same predictions. gradfit's sparse path gives the dense path's bits for a
first layer of 4 or more units (docs/guide/sparse.md), so the predictions here
are compared for equality, not to some decimals."""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
sp = pytest.importorskip("scipy.sparse")

from sklearn.datasets import load_digits, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402

from gradfit.sklearn import GradfitClassifier, GradfitRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CSR_CONTAINERS = [sp.csr_matrix, sp.csr_array]
CSC_CONTAINERS = [sp.csc_matrix, sp.csc_array]

_X_digits, _y_digits = load_digits(n_class=2, return_X_y=True)
X_DIGITS_BINARY = MinMaxScaler().fit_transform(_X_digits[:200])
Y_DIGITS_BINARY = _y_digits[:200]


def _solvers():
    """The solvers the estimators offer (lbfgs too, where it is built)."""
    constraint = GradfitClassifier._parameter_constraints["solver"][0]
    return sorted(getattr(constraint, "options", {"sgd", "adam"}))


@pytest.mark.parametrize("solver", _solvers())
@pytest.mark.parametrize("csr_container", CSR_CONTAINERS)
def test_sparse_matrices(csr_container, solver):
    # scikit-learn: dense and sparse X give the same predictions (its case uses
    # solver="lbfgs"; every solver gradfit offers is run here)
    X = X_DIGITS_BINARY[:50]
    y = Y_DIGITS_BINARY[:50]
    X_sparse = csr_container(X)
    mlp = GradfitClassifier(solver=solver, hidden_layer_sizes=15, random_state=1)
    mlp.fit(X, y)
    pred1 = mlp.predict(X)
    proba1 = mlp.predict_proba(X)
    mlp.fit(X_sparse, y)
    pred2 = mlp.predict(X_sparse)
    np.testing.assert_array_equal(pred1, pred2)
    np.testing.assert_array_equal(proba1, mlp.predict_proba(X_sparse))
    pred1 = mlp.predict(X)
    pred2 = mlp.predict(X_sparse)
    np.testing.assert_array_equal(pred1, pred2)
    assert (pred1 == y).mean() > 0.9           # a trained net, not a constant


@pytest.mark.parametrize("container", CSR_CONTAINERS + CSC_CONTAINERS)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_regressor_sparse_equals_dense(container, early_stopping):
    X, y = make_regression(n_samples=200, n_features=30, n_informative=10, noise=1.0, random_state=0)
    X[np.abs(X) < 1.0] = 0.0                  # about two thirds zeros
    y = (y - y.mean()) / y.std()              # targets of scale 1: 200 Adam epochs at the default rate fit them
    Xs = container(X)
    kw = dict(hidden_layer_sizes=(16,), max_iter=200, random_state=0, early_stopping=early_stopping)
    dense = GradfitRegressor(**kw).fit(X, y)
    sparse = GradfitRegressor(**kw).fit(Xs, y)
    np.testing.assert_array_equal(dense.predict(X), sparse.predict(Xs))
    np.testing.assert_array_equal(sparse.predict(X), sparse.predict(Xs))
    assert dense.loss_curve_ == sparse.loss_curve_
    assert dense.n_iter_ == sparse.n_iter_
    assert sparse.score(Xs, y) > 0.3             # a trained net, not the mean


@pytest.mark.parametrize("container", [sp.csr_array, sp.csc_matrix])
def test_partial_fit_sparse_equals_dense(container):
    X, y = X_DIGITS_BINARY, Y_DIGITS_BINARY
    Xs = container(X)
    dense = GradfitClassifier(hidden_layer_sizes=(12,), random_state=3)
    sparse = GradfitClassifier(hidden_layer_sizes=(12,), random_state=3)
    for _ in range(5):
        dense.partial_fit(X, y, classes=[0, 1])
        sparse.partial_fit(Xs, y, classes=[0, 1])
    np.testing.assert_array_equal(dense.predict_proba(X), sparse.predict_proba(Xs))
    reg_dense = GradfitRegressor(hidden_layer_sizes=(12,), random_state=3)
    reg_sparse = GradfitRegressor(hidden_layer_sizes=(12,), random_state=3)
    for _ in range(3):
        reg_dense.partial_fit(X, y.astype(float))
        reg_sparse.partial_fit(Xs, y.astype(float))
    np.testing.assert_array_equal(reg_dense.predict(X), reg_sparse.predict(Xs))


def test_multiclass_and_float32_sparse():
    X, y = load_digits(return_X_y=True)
    X = MinMaxScaler().fit_transform(X[:300])
    y = y[:300]
    Xs = sp.csr_matrix(X)
    for dtype in ("float32", "float64"):
        kw = dict(hidden_layer_sizes=(20,), max_iter=30, random_state=0, dtype=dtype)
        dense = GradfitClassifier(**kw).fit(X, y)
        sparse = GradfitClassifier(**kw).fit(Xs, y)
        np.testing.assert_array_equal(dense.predict_proba(X), sparse.predict_proba(Xs))
        assert sparse.predict_proba(Xs).dtype == np.dtype(dtype)


def test_sparse_tag_and_bad_sparse_input():
    assert GradfitRegressor().__sklearn_tags__().input_tags.sparse
    assert GradfitClassifier().__sklearn_tags__().input_tags.sparse
    X = sp.csr_matrix(X_DIGITS_BINARY[:20])
    X.data[0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match="NaN"):
            GradfitClassifier(max_iter=5).fit(X, Y_DIGITS_BINARY[:20])
    fitted = GradfitClassifier(max_iter=5).fit(X_DIGITS_BINARY[:20], Y_DIGITS_BINARY[:20])
    with pytest.raises(ValueError, match="features"):
        fitted.predict(sp.csr_matrix(X_DIGITS_BINARY[:5, :10]))
