"""scikit-learn estimators: GradfitRegressor and GradfitClassifier.

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from gradfit.sklearn import GradfitRegressor
    est = make_pipeline(StandardScaler(), GradfitRegressor((64,), random_state=0)).fit(X, y)

The parameters have the names of scikit-learn's MLPRegressor / MLPClassifier
and, as far as the two algorithms allow, the same meaning. Training runs in
gradfit's Trainer (the C core, many minibatches per call); Python only does
the per-epoch work (the loss curve, the stopping rule, the validation score).

This package is the only one that imports scikit-learn (``pip install
"gradfit[sklearn]"``); ``import gradfit`` does not.

How the parameters map onto gradfit
-----------------------------------
- ``random_state``: the starting weights are scikit-learn's: per layer, the
  weights then the biases drawn from ``check_random_state(random_state)``,
  uniform in +-sqrt(f / (fan_in + fan_out)) with f = 2 for the logistic
  activation and 6 otherwise, in float64 and then cast. The same generator
  then draws the validation split (early_stopping), as scikit-learn's does.
  The epoch shuffles differ: gradfit's C core draws them from a seed taken
  from that generator (scikit-learn shuffles with the generator itself), so
  with ``shuffle=True`` two runs part after the first epoch's order; with
  ``shuffle=False`` (or full batches) SGD takes the same steps to rounding.
- ``alpha`` and the loss's scale: scikit-learn's objective per minibatch is
  ``sum_k (p_k - t_k)^2 / 2`` averaged over the batch's samples (the sum over
  the K outputs; its reported loss uses their mean) or the log-loss, plus
  ``alpha / (2 * S) * ||W||^2``, S being the batch's size (its weight sum
  with sample weights). gradfit's "mse" averages over the outputs and has no
  1/2, so scikit-learn's gradient is b = K / 2 times gradfit's. Poisson
  and multilabel binary cross-entropy are means over the K outputs in
  gradfit and sums in scikit-learn: b = K (and ``loss_curve_`` is scaled
  by K likewise); the softmax log-loss is the same in both, b = 1. The
  estimators pass the Trainer ``l2 = alpha / (b * S)``
  with S a full batch's size times the mean sample weight, and SGD
  ``lr = b * learning_rate_init``: every step is then scikit-learn's for any
  number of outputs. That is exact for every full batch without sample
  weights; scikit-learn penalises the last, shorter batch of an epoch a
  little more. Biases are not penalised in either. Adam's steps do not
  depend on the gradient's scale (up to ``epsilon``), so Adam gets
  ``learning_rate_init`` as is. With ``solver="adamw"`` (which
  scikit-learn lacks), ``alpha`` is AdamW's decoupled weight decay instead
  (``W -= lr * alpha * W`` each step).
- ``solver="lbfgs"``: scipy's L-BFGS-B (``scipy.optimize.minimize``) over
  the network's flat parameter buffer, each evaluation one full-batch
  forward and backward pass in the C core; scipy sees scikit-learn's
  objective and gradient (b times gradfit's, ``l2 = alpha / (b * sum of
  sample weights)``), so ``tol`` (scipy's ``gtol``), ``max_iter``
  (iterations) and ``max_fun`` (loss evaluations) mean what they mean in
  scikit-learn, and a run that ends at a limit warns ConvergenceWarning.
  With K > 1 outputs scikit-learn's lbfgs minimises a loss whose value
  averages the outputs but whose gradient sums them; gradfit minimises the
  summed objective (value and gradient agree) and reports ``loss_`` in
  scikit-learn's units. ``loss_curve_`` holds one value per iteration
  (scikit-learn's lbfgs keeps none); ``t_`` stays 0, as in scikit-learn.
  BLAS runs one thread during the solve (L-BFGS-B's vector work is too
  small for threads). ``partial_fit`` does not exist with lbfgs.
- ``learning_rate`` (SGD only, as in scikit-learn): "constant";
  "invscaling" sets the rate after every epoch to ``learning_rate_init /
  (t_ + 1) ** power_t``, ``t_`` counting the samples seen; "adaptive" divides
  it by 5 each time more than ``n_iter_no_change`` epochs pass without an
  improvement by ``tol``, and stops training once it is at most 1e-6. These
  follow scikit-learn's samples count and stopping rule, which gradfit's
  epoch-based schedules (``gradfit.schedules``) do not, so the estimator
  sets the Trainer's rate between epochs; scikit-learn's velocity holds the
  rate (``v = mu v - lr g``) where gradfit's does not (``v = mu v + g``),
  so a change of rate rescales gradfit's velocity by old / new and the steps
  stay scikit-learn's.
- ``momentum``, ``nesterovs_momentum``: the same updates as scikit-learn's
  (gradfit's form ``v = mu v + g; p -= lr v`` is scikit-learn's with its
  velocity scaled by -lr).
- ``tol``, ``n_iter_no_change``: scikit-learn's rule, run after every epoch:
  training stops when the epoch's loss (``loss_curve_``) has not fallen below
  ``best_loss_ - tol`` -- or, with ``early_stopping``, the validation score
  has not risen above the best score + tol -- for more than
  ``n_iter_no_change`` epochs in a row. With ``early_stopping`` the model gets
  the parameters of its best validation score back and ``best_loss_`` is
  None. ``n_iter_no_change=inf`` without early stopping, verbose or a
  changing rate lets the Trainer run many epochs per C call.
- ``loss_curve_`` and ``loss_`` are in scikit-learn's units: the objective
  per epoch, i.e. half the mean squared error (of the standardized targets
  with ``standardize_y``) or the log-loss, plus the L2 penalty.
- Divergence: when the parameters become NaN or inf, ``fit`` raises
  scikit-learn's ``ValueError("Solver produced non-finite parameter
  weights. ...")`` and the estimator is left as it was before the call
  (unfitted after a first fit); no numpy overflow warning comes out of the
  validation score, which is NaN for non-finite outputs. With
  ``early_stopping`` the run ends instead with a NaN validation score and
  the best epoch's weights, as scikit-learn's does; ``loss_`` is then that
  epoch's loss.
- ``validation_fraction`` with ``early_stopping``: scikit-learn's split
  (``train_test_split``, stratified by the user's labels for the
  classifier, so that a class too small to split is named as given).
- ``warm_start=True``: ``fit`` starts from the fitted weights with a fresh
  optimizer state, as scikit-learn does; ``loss_curve_`` accumulates and
  ``n_iter_`` counts the epochs of the last call (1 after ``partial_fit``),
  as scikit-learn's do (``trainer_.epoch`` counts them all). ``partial_fit``
  continues the same Trainer (``trainer_``): momentum and Adam's moments
  carry over.
- ``dtype="auto"``: float32 input trains a float32 network and predicts
  float32; anything else trains in float64. ``"float32"`` / ``"float64"``
  force one. The network keeps its dtype through ``warm_start`` and
  ``partial_fit``; later input is converted to it.
- ``standardize_y=False`` (regressor; the default, scikit-learn's
  behaviour): the network trains on y as given. ``standardize_y=True``
  trains on ``(y - mean) / std`` and transforms predictions back, which
  suits targets of a large scale (diabetes: 25 to 346) at the default
  learning rate; ``learning_rate_init``, ``tol`` and ``loss_curve_`` then
  refer to the standardized targets. ``partial_fit`` takes the mean and
  std of the first batch it sees.
- A one-class y (classifier) fits as in scikit-learn: one logistic output
  trained towards "not this class"; ``predict`` gives the class and
  ``predict_proba`` two columns.
- ``n_threads``: threads for the matrix products of wide layers (None: 1);
  any number gives the same numbers, bit for bit.

What still differs from scikit-learn: the shuffles (above); the L2 penalty
of an epoch's last, shorter batch; Adam's ``epsilon`` (scikit-learn folds the
bias correction into the step size, which moves its epsilon: ~1e-5
agreement); error messages that scikit-learn's own tests do not match keep
gradfit's form ("<argument>: expected ..., got ..."); the extras gradfit
adds (``solver="adamw"``, ``loss="absolute_error"|"huber"``,
``output_activation``, ``standardize_y``, ``dtype``, ``n_threads``,
``decision_function``).

Layout: _base.py holds what both estimators share (parameter checks, the
network, the Trainer, scikit-learn's stopping rule and rate schedules),
_lbfgs.py the L-BFGS-B driver (the only module that imports scipy),
_regressor.py and _classifier.py one estimator each, and _file.py ``est.save`` and ``load``
(the estimator's fitted attributes as JSON next to the Trainer's file).
"""
from .._optional import require

require("sklearn", "gradfit.sklearn")     # before the estimators import it: one clear message

from ._classifier import GradfitClassifier  # noqa: E402
from ._file import load  # noqa: E402
from ._regressor import GradfitRegressor  # noqa: E402
from ._search import FusedGridSearch, grid_search  # noqa: E402

__all__ = ["GradfitClassifier", "GradfitRegressor", "FusedGridSearch", "grid_search", "load"]
