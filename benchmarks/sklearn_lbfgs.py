"""solver="lbfgs": GradfitRegressor / GradfitClassifier against scikit-learn's
MLPRegressor / MLPClassifier on diabetes, digits and make_regression. Both
start from the same weights (the same random_state) and hand scipy's
L-BFGS-B the same objective; gradfit computes the loss and gradient in its C
core, scikit-learn in NumPy. The table gives each one's final loss_ (and the
relative difference) and its fit time, best of --repeat runs.

    python benchmarks/sklearn_lbfgs.py [--repeat 3] [--quick]
"""
import argparse
import os
import time
import warnings

import numpy as np
from sklearn.datasets import load_diabetes, load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from gradfit.bench.machine import cpu_model
from gradfit.sklearn import GradfitClassifier, GradfitRegressor


def cases(quick):
    """(name, X, y, gradfit estimator class, scikit-learn class, settings). Each run goes
    until scikit-learn's gtol=tol stops it (max_iter is only a bound), so that the two
    final losses compare minima, not points on the way."""
    Xd, yd = load_diabetes(return_X_y=True)
    Xg, yg = load_digits(return_X_y=True)
    n = 2000 if quick else 10000
    Xr, yr = make_regression(n_samples=n, n_features=20, noise=30.0, random_state=0)
    common = dict(solver="lbfgs", hidden_layer_sizes=(100,), random_state=0, max_iter=5000)
    return [
        ("diabetes (442 x 10, X and y standardized, alpha=1)", StandardScaler().fit_transform(Xd),
         (yd - yd.mean()) / yd.std(), GradfitRegressor, MLPRegressor, dict(common, alpha=1.0)),
        ("digits, 10 classes (1797 x 64, X / 16)", Xg / 16.0, yg, GradfitClassifier, MLPClassifier, common),
        (f"make_regression ({n} x 20, noise 30, y / std)", Xr, yr / yr.std(), GradfitRegressor, MLPRegressor,
         common),
    ]


def best_fit(cls, settings, X, y, repeat, blas_threads=None):
    """The fitted estimator and the best wall time of `repeat` fits (BLAS limited to
    `blas_threads` threads during the fit, if given)."""
    best, est = float("inf"), None
    for _ in range(repeat):
        est = cls(**settings)
        with threadpool_limits(limits=blas_threads, user_api="blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            est.fit(X, y)
            best = min(best, time.perf_counter() - start)
    return est, best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed fits per column (best is kept)")
    parser.add_argument("--quick", action="store_true", help="a smaller make_regression, one timed fit")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else max(1, args.repeat)
    print(f"CPU: {cpu_model()} ({os.cpu_count()} CPUs); best of {repeat} fit(s); load average before: "
          f"{os.getloadavg()[0]:.1f}")
    print("sklearn s: its default BLAS threads; sklearn 1-BLAS s: BLAS limited to one thread (gradfit's "
          "lbfgs limits scipy's BLAS to one thread itself)")
    print("| case | sklearn loss_ | gradfit loss_ | rel. diff | sklearn iters | gradfit iters | sklearn s "
          "| sklearn 1-BLAS s | gradfit s | speed-up (vs the faster sklearn) | ms / iter sklearn 1-BLAS, gradfit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name, X, y, G, S, settings in cases(args.quick):
        s, ts = best_fit(S, settings, X, y, repeat)
        s1, ts1 = best_fit(S, settings, X, y, repeat, blas_threads=1)
        g, tg = best_fit(G, settings, X, y, repeat)
        diff = abs(g.loss_ - s1.loss_) / abs(s1.loss_)
        rows.append((name, s1.loss_, g.loss_, diff, ts, ts1, tg))
        print(f"| {name} | {s1.loss_:.6g} | {g.loss_:.6g} | {diff:.2%} | {s1.n_iter_} | {g.n_iter_} | {ts:.3f} "
              f"| {ts1:.3f} | {tg:.3f} | {min(ts, ts1) / tg:.1f}x | {1e3 * ts1 / max(1, s1.n_iter_):.2f}, "
              f"{1e3 * tg / max(1, g.n_iter_):.2f} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
