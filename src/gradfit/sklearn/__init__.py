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
- ``alpha``: scikit-learn adds ``alpha / (2 * S) * ||W||^2`` to each
  minibatch's loss, S being the batch's size (its weight sum with
  sample weights), and its squared error is *half* the mean squared error.
  gradfit's Trainer minimises ``loss + l2 / 2 * ||W||^2`` with a fixed l2, so
  the estimators pass ``l2 = c * alpha / S`` with S the size of a full batch
  times the mean sample weight, and c = 2 for the squared error (gradfit's
  "mse" has no 1/2: the objective is then exactly twice scikit-learn's),
  c = 1 for log-loss (the same loss in both). That is exact for every full
  batch without sample weights; scikit-learn penalises the last, shorter
  batch of an epoch a little more. Biases are not penalised in either.
  With ``solver="adamw"`` (which scikit-learn lacks), ``alpha`` is AdamW's
  decoupled weight decay instead (``W -= lr * alpha * W`` each step).
- ``learning_rate_init``: with ``solver="sgd"`` and the squared error the
  Trainer gets half of it, since gradfit's gradient is twice scikit-learn's:
  the steps are then scikit-learn's. Poisson and multilabel binary
  cross-entropy are means over the K outputs in gradfit and sums in
  scikit-learn: the Trainer gets K times the rate, and ``alpha`` and
  ``loss_curve_`` are scaled by K likewise. Adam's steps do not depend on the scale
  of the gradient, so Adam gets it as is.
- ``momentum``, ``nesterovs_momentum``: the same updates as scikit-learn's
  (gradfit's form ``v = mu v + g; p -= lr v`` is scikit-learn's with its
  velocity scaled by -lr).
- ``tol``, ``n_iter_no_change``: scikit-learn's rule, run after every epoch:
  training stops when the epoch's loss (``loss_curve_``) has not fallen below
  ``best_loss_ - tol`` -- or, with ``early_stopping``, the validation score
  has not risen above the best score + tol -- for more than
  ``n_iter_no_change`` epochs in a row. With ``early_stopping`` the model gets
  the parameters of its best validation score back. ``n_iter_no_change=inf``
  without early stopping and verbose lets the Trainer run many epochs per C
  call.
- ``loss_curve_`` is in scikit-learn's units: the objective per epoch,
  i.e. half the mean squared error (of the standardized targets with
  ``standardize_y``) or the log-loss, plus the L2 penalty.
- ``validation_fraction`` with ``early_stopping``: scikit-learn's split
  (``train_test_split``, stratified for the classifier), not the Trainer's.
- ``warm_start=True``: ``fit`` starts from the fitted weights with a fresh
  optimizer state, as scikit-learn does; ``loss_curve_`` accumulates and
  ``n_iter_`` counts the epochs of the last call (1 after ``partial_fit``),
  as scikit-learn's do (``trainer_.epoch`` counts them all). ``partial_fit`` continues the same Trainer (``trainer_``):
  momentum and Adam's moments carry over.
- ``dtype="auto"``: float32 input trains a float32 network and predicts
  float32; anything else trains in float64. ``"float32"`` / ``"float64"``
  force one. The network keeps its dtype through ``warm_start`` and
  ``partial_fit``; later input is converted to it.
- ``standardize_y=True`` (regressor): the network is trained on
  ``(y - mean) / std`` and its predictions are transformed back. On raw
  targets of a large scale (diabetes: 25 to 346) the first steps see huge
  gradients: plain training diverged at lr = 0.01 and reached R^2 0.08 at
  lr = 0.001, where standardized targets train well at the default settings.
  ``partial_fit`` takes the mean and std of the first batch it sees.
- ``n_threads``: threads for the matrix products of wide layers (None: 1);
  any number gives the same numbers, bit for bit.

Layout: _base.py holds what both estimators share (parameter checks, the
network, the Trainer, scikit-learn's stopping rule), _regressor.py and
_classifier.py one estimator each, and _file.py ``est.save`` and ``load``
(the estimator's fitted attributes as JSON next to the Trainer's file).
"""
from .._optional import require

require("sklearn", "gradfit.sklearn")     # before the estimators import it: one clear message

from ._classifier import GradfitClassifier  # noqa: E402
from ._file import load  # noqa: E402
from ._regressor import GradfitRegressor  # noqa: E402

__all__ = ["GradfitClassifier", "GradfitRegressor", "load"]
