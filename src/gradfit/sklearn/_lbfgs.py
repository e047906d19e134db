"""solver="lbfgs": scipy's L-BFGS-B over the network's flat parameter buffer.

Each evaluation is one full-batch forward and backward pass in the C core
(``MLP._loss_and_grad``, which also adds the L2 penalty), scaled into
scikit-learn's objective: scipy sees the value and gradient scikit-learn's
MLP would hand it (``scale`` times gradfit's objective, see
gradfit.sklearn's docstring), so ``tol`` (scipy's ``gtol``), ``max_iter``
(``maxiter``) and ``max_fun`` (``maxfun``) mean what they mean there.

scipy is imported here only: the core stays NumPy-only.
"""
import numpy as np

from .._layout import layer_views
from .._optional import require
from ..model import checked_data

#: scikit-learn's message for parameters that became NaN or inf
NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain large values and need "
              "to be preprocessed.")


class LbfgsOutcome:
    """What one L-BFGS-B run gives back: iterations (at most max_iter), the
    final objective and one value per iteration (scikit-learn's units), and
    scipy's status and message (status 0: converged)."""

    def __init__(self, n_iter, loss, curve, status, message):
        self.n_iter, self.loss, self.curve, self.status, self.message = n_iter, loss, curve, status, message


def _weight_mask(model):
    """True where the flat buffer holds a weight (the penalised entries), False at biases."""
    mask = np.zeros(model.n_params, dtype=bool)
    for W in layer_views(mask, model.layer_sizes)[0]:
        W[...] = True
    return mask


def run_lbfgs(model, X, t, sw, loss, l2, units, *, max_iter, max_fun, tol, verbose):
    """Minimises ``b * (loss(X, t) + l2 / 2 * ||W||^2)`` over ``model.params``
    (updated in place to scipy's answer) with L-BFGS-B.

    Parameters
    ----------
    model : gradfit.MLP
    X, t, sw : the checked training rows, gradfit's targets, sample weights or None
    loss : str
        gradfit's loss name.
    l2 : float
        gradfit's penalty strength.
    units : (a, b)
        scikit-learn's reported loss is ``a * data_loss + b * penalty``;
        scikit-learn's gradient is ``b`` times gradfit's.
    max_iter, max_fun, tol, verbose : as the estimators' parameters

    Returns
    -------
    LbfgsOutcome
    """
    minimize = require("scipy.optimize", 'solver="lbfgs"').minimize
    from threadpoolctl import threadpool_limits       # a dependency of scikit-learn

    a, b = units
    X, t, loss, sw, _ = checked_data(model, X, t, loss, sw, 1.0, sparse=True)    # class ids -> one-hot rows
    mask = _weight_mask(model)
    params = model.params

    def value_and_grad(theta):
        params[...] = theta
        with np.errstate(all="ignore"):
            value, grad = model._loss_and_grad(X, t, loss, sw, l2=l2)
        return b * float(value), b * grad.astype(np.float64)

    def reported(theta, objective):
        pen = 0.5 * l2 * float(np.dot(theta[mask], theta[mask]))
        return a * (objective / b - pen) + b * pen

    curve = []

    def on_iteration(intermediate_result):
        curve.append(reported(intermediate_result.x, float(intermediate_result.fun)))
        if verbose:
            print(f"Iteration {len(curve)}, loss = {curve[-1]:.8f}")

    start = params.astype(np.float64)
    # L-BFGS-B's own work is a few BLAS calls on vectors of n_params values per
    # iteration: too small for BLAS threads, whose start-up and spinning cost
    # more than the work (10x per iteration on a busy 2-CPU machine)
    with threadpool_limits(limits=1, user_api="blas"):
        res = minimize(value_and_grad, start, method="L-BFGS-B", jac=True, callback=on_iteration,
                       options={"maxfun": int(max_fun), "maxiter": int(max_iter), "gtol": float(tol)})
    x = np.asarray(res.x, dtype=np.float64)
    if not np.isfinite(x).all() or not np.isfinite(res.fun):
        params[...] = start
        raise ValueError(NON_FINITE)
    params[...] = x
    return LbfgsOutcome(min(int(res.nit), int(max_iter)), reported(x, float(res.fun)), curve, int(res.status),
                        str(res.message))
