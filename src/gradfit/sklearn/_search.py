"""grid_search: scikit-learn's GridSearchCV for gradfit's estimators, with
the fits of every candidate on a fold trained together (gradfit.train_many's
fusion: one pass over the fold's rows for all the candidates that share its
shape, each model bit-identical to fitting it alone). The folds, the
candidates' order, the scores and their ranking are GridSearchCV's."""
import time

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import ParameterGrid, check_cv

from .._fused import run_together

__all__ = ["grid_search", "FusedGridSearch"]


class FusedGridSearch:
    """The result of :func:`grid_search`: GridSearchCV's fitted attributes
    (``cv_results_``, ``best_index_``, ``best_params_``, ``best_score_``,
    ``best_estimator_`` with refit, ``n_splits_``, ``scorer_``) and its
    ``predict`` / ``score`` through the best estimator."""

    def __init__(self, estimator, param_grid, cv_results, n_splits, scorer, refit):
        self.estimator, self.param_grid = estimator, param_grid
        self.cv_results_, self.n_splits_, self.scorer_, self.refit = cv_results, n_splits, scorer, refit
        self.best_index_ = int(np.argmin(cv_results["rank_test_score"]))
        self.best_params_ = cv_results["params"][self.best_index_]
        self.best_score_ = float(cv_results["mean_test_score"][self.best_index_])

    def predict(self, X):
        return self.best_estimator_.predict(X)

    def score(self, X, y):
        return self.scorer_(self.best_estimator_, X, y)

    def __repr__(self):
        return (f"FusedGridSearch({len(self.cv_results_['params'])} candidates x {self.n_splits_} folds, "
                f"best {self.best_params_} score {self.best_score_:.6g})")


def grid_search(estimator, param_grid, X, y, *, cv=5, scoring=None, refit=True, n_jobs=1):
    """Searches `param_grid` for `estimator` as ``GridSearchCV(estimator,
    param_grid, cv=cv, scoring=scoring, refit=refit).fit(X, y)`` does, with
    the same folds and scores, training the candidates of each fold together.

    Parameters
    ----------
    estimator : GradfitRegressor or GradfitClassifier
        Cloned for every fit. Candidates fuse when they differ only in what
        a fused run may differ in (``learning_rate_init``, ``alpha``,
        ``momentum``, ...; not ``random_state``, whose shuffle differs, nor
        the network's shape); the others are trained side by side.
    param_grid : dict or list of dict
        As for GridSearchCV.
    X, y : array_like
        The data.
    cv : int, cross-validation generator or iterable, default 5
        As for GridSearchCV (stratified folds for a classifier).
    scoring : str or callable, optional
        As for GridSearchCV (default: the estimator's ``score``).
    refit : bool, default True
        Fit the best candidate on all of X, y (``best_estimator_``).
    n_jobs : int, default 1
        Threads for the fused C calls (1 or 2 here; any number gives the same
        results).

    Returns
    -------
    FusedGridSearch
        Its ``cv_results_`` has GridSearchCV's keys (``params``,
        ``param_<name>``, ``split<k>_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score``, ``mean_fit_time``, ...).
    """
    X = np.asarray(X) if not hasattr(X, "iloc") else X
    candidates = list(ParameterGrid(param_grid))
    if not candidates:
        raise ValueError("param_grid: expected at least one candidate, got an empty grid")
    splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    splits = list(splitter.split(X, y))
    scorer = check_scoring(estimator, scoring=scoring)
    folds = [(_take(X, tr), _take(y, tr), _take(X, te), _take(y, te)) for tr, te in splits]
    tasks = [_task(estimator, params, fold, scorer) for params in candidates for fold in folds]
    out = run_together(tasks, n_jobs)
    for r in out:
        if isinstance(r, BaseException):
            raise r
    results = _cv_results(candidates, out, len(splits))
    search = FusedGridSearch(estimator, param_grid, results, len(splits), scorer, refit)
    if refit:
        best = clone(estimator).set_params(**search.best_params_)
        start = time.perf_counter()
        search.best_estimator_ = best.fit(X, y)
        search.refit_time_ = time.perf_counter() - start
    return search


def _take(a, rows):
    return a.iloc[rows] if hasattr(a, "iloc") else np.ascontiguousarray(a[rows])


def _task(estimator, params, fold, scorer):
    Xtr, ytr, Xte, yte = fold

    def task(fuser):
        est = clone(estimator).set_params(**params)
        start = time.perf_counter()
        est.fit(Xtr, ytr)
        fit_time = time.perf_counter() - start
        start = time.perf_counter()
        score = scorer(est, Xte, yte)
        return float(score), fit_time, time.perf_counter() - start
    return task


def _cv_results(candidates, out, n_splits):
    """GridSearchCV's cv_results_ from the (score, fit time, score time) of
    each (candidate, split), candidates outermost."""
    k = len(candidates)
    arr = np.array(out, dtype=np.float64).reshape(k, n_splits, 3)
    results = {}
    for j, name in enumerate(("fit", "score")):
        results[f"mean_{name}_time"] = arr[:, :, j + 1].mean(axis=1)
        results[f"std_{name}_time"] = arr[:, :, j + 1].std(axis=1)
    names = sorted({n for c in candidates for n in c})
    for n in names:
        column = np.ma.MaskedArray(np.empty(k, dtype=object), mask=True)
        for i, c in enumerate(candidates):
            if n in c:
                column[i] = c[n]
        results[f"param_{n}"] = column
    results["params"] = candidates
    scores = arr[:, :, 0]
    for s in range(n_splits):
        results[f"split{s}_test_score"] = scores[:, s]
    means = np.average(scores, axis=1)
    results["mean_test_score"] = means
    results["std_test_score"] = np.sqrt(np.average((scores - means[:, np.newaxis]) ** 2, axis=1))
    results["rank_test_score"] = _rank(means)
    return results


def _rank(means):
    """1 for the best mean score, ties sharing the lowest rank; NaN last."""
    filled = np.where(np.isnan(means), -np.inf, means)
    order = -filled
    ranks = np.empty(len(means), dtype=np.int32)
    for i, v in enumerate(order):
        ranks[i] = 1 + int(np.sum(order < v))
    return ranks
