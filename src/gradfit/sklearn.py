"""scikit-learn estimators: GradfitRegressor and GradfitClassifier.

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from gradfit.sklearn import GradfitRegressor
    est = make_pipeline(StandardScaler(), GradfitRegressor((64,), random_state=0)).fit(X, y)

The parameters have the names of scikit-learn's MLPRegressor / MLPClassifier
and, as far as the two algorithms allow, the same meaning. Training runs in
gradfit's Trainer (the C core, many minibatches per call); Python only does
the per-epoch work (the loss curve, the stopping rule, the validation score).

This module is the only one that imports scikit-learn (``pip install
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
  the steps are then scikit-learn's. Adam's steps do not depend on the scale
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
"""
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d

from .model import MLP
from .trainer import Trainer

try:                                   # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:                    # pragma: no cover - older scikit-learn
    _sk_validate_data = None

try:                                   # scikit-learn >= 1.3
    from sklearn.base import _fit_context
except ImportError:                    # pragma: no cover
    _fit_context = None

__all__ = ["GradfitClassifier", "GradfitRegressor"]

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "sigmoid": "sigmoid", "tanh": "tanh",
                "relu": "relu", "softplus": "softplus"}
_REGRESSION_LOSSES = {"squared_error": "mse", "mse": "mse", "absolute_error": "mae", "mae": "mae",
                      "huber": "huber"}


def _validate_data(est, *args, **kwargs):
    if _sk_validate_data is not None:
        return _sk_validate_data(est, *args, **kwargs)
    return est._validate_data(*args, **kwargs)     # pragma: no cover


def _fitting(method):
    """scikit-learn's _fit_context (validates the parameters once per fit) where it exists."""
    if _fit_context is not None:
        return _fit_context(prefer_skip_nested_validation=True)(method)

    def wrapper(self, *args, **kwargs):            # pragma: no cover
        self._validate_params()
        return method(self, *args, **kwargs)
    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


class _EpochRule:
    """Called by the Trainer after every epoch: scikit-learn's loss curve,
    its no-improvement count, the validation score and the best weights."""

    def __init__(self, est, val, stop_allowed):
        self.est, self.val, self.stop_allowed = est, val, stop_allowed

    def on_epoch_end(self, info):
        est = self.est
        h = info.history
        value = h["loss"][-1] + (h["penalty"][-1] if "penalty" in h else 0.0)
        est.loss_curve_.append(float(value / est._loss_scale))
        est.n_iter_ += 1
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_curve_[-1]:.8f}")
        if self.val is not None:
            Xv, yv, wv = self.val
            score = est._val_score(Xv, yv, wv)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_params = info.model.params.copy()
        else:
            last = est.loss_curve_[-1]
            if last > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, last)
        if self.stop_allowed and est._no_improvement_count > est.n_iter_no_change:
            est._stopped_early = True
            if est.verbose:
                what = "Validation score" if self.val is not None else "Training loss"
                print(f"{what} did not improve more than tol={est.tol:f} for "
                      f"{est.n_iter_no_change} consecutive epochs. Stopping.")
            return True
        return False


class _GradfitBase(BaseEstimator):
    """What the regressor and the classifier share: the parameters, the
    network, the Trainer and the epoch rule."""

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions({"sgd", "adam", "adamw"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "dtype": [StrOptions({"auto", "float32", "float64"})],
        "n_threads": [Interval(Integral, 1, 64, closed="both"), None],
    }

    # -- fitted attributes that live in the network --------------------------------
    @property
    def model_(self):
        """The trained gradfit.MLP (the Trainer's model)."""
        return self.trainer_.model

    @property
    def coefs_(self):
        """Weight matrices, one (IN, OUT) array per layer (views into model_.params)."""
        return self.trainer_.model.weights

    @property
    def intercepts_(self):
        """Bias vectors, one (OUT,) array per layer (views into model_.params)."""
        return self.trainer_.model.biases

    def __sklearn_is_fitted__(self):
        return hasattr(self, "trainer_")

    # -- helpers -----------------------------------------------------------------------
    def _hidden(self):
        h = self.hidden_layer_sizes
        if isinstance(h, (Integral, np.integer)):
            return [int(h)]
        h = list(h)
        for s in h:
            if isinstance(s, bool) or not isinstance(s, (Integral, np.integer)) or s < 1:
                raise ValueError(f"hidden_layer_sizes: expected positive integers, got {self.hidden_layer_sizes!r}")
        return [int(s) for s in h]

    def _data_dtype(self, first_pass):
        if not first_pass:
            return self.trainer_.model.dtype
        return {"auto": (np.float64, np.float32), "float32": np.float32, "float64": np.float64}[self.dtype]

    def _seeds(self):
        rs = check_random_state(self.random_state)
        return [int(s) for s in rs.randint(0, 2**31 - 1, size=2)], rs

    def _batch(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("batch_size: got a batch_size larger than the number of samples "
                          f"({self.batch_size} > {n}); it is clipped to {n}", UserWarning)
        return min(self.batch_size, n)

    def _new_trainer(self, model, loss, n, sw, seed):
        """A Trainer with the mapped settings (see the module docstring)."""
        batch = self._batch(n)
        mean_w = 1.0 if sw is None else float(np.mean(sw))
        lr = float(self.learning_rate_init)
        scale = 2.0 if loss == "mse" else 1.0
        l2 = 0.0
        kw = {}
        if self.solver == "sgd":
            kw = dict(momentum=float(self.momentum),
                      nesterov=bool(self.nesterovs_momentum) and self.momentum > 0)
            if loss == "mse":
                lr /= 2.0
        else:
            kw = dict(beta1=float(self.beta_1), beta2=float(self.beta_2), eps=float(self.epsilon))
            if self.solver == "adamw":
                kw["weight_decay"] = float(self.alpha)
        if self.solver != "adamw" and self.alpha > 0 and mean_w > 0:
            l2 = scale * float(self.alpha) / (batch * mean_w)
        self._loss_scale = scale
        return Trainer(model, self.solver, loss, lr=lr, l2=l2, batch_size=batch, shuffle=bool(self.shuffle),
                       seed=seed, n_threads=self.n_threads or 1, **kw)

    def _reset_curves(self):
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.best_loss_ = np.inf
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _train(self, X, t, sw, y_raw, first_pass, incremental, loss, n_outputs, rs, seeds):
        """Builds (first pass) or reuses the network, then runs the Trainer.
        t: targets for gradfit's loss; y_raw: targets for the split's stratification."""
        if self.early_stopping and incremental:
            raise ValueError("early_stopping: partial_fit does not support early_stopping=True")
        if first_pass:
            out_act = getattr(self, "output_activation", "identity")
            model = MLP([X.shape[1]] + self._hidden() + [n_outputs], _ACTIVATIONS[self.activation], out_act,
                        dtype=X.dtype, seed=seeds[0])
            self._reset_curves()
        else:
            model = self.trainer_.model
            if self.early_stopping and self.validation_scores_ is None:
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
        val = None
        if self.early_stopping:
            stratify = y_raw if isinstance(self, ClassifierMixin) else None
            parts = train_test_split(X, t, *([] if sw is None else [sw]), random_state=rs,
                                     test_size=self.validation_fraction, stratify=stratify)
            X, Xv, t, tv = parts[:4]
            sw, wv = (parts[4], parts[5]) if sw is not None else (None, None)
            if Xv.shape[0] < 2:
                raise ValueError("validation_fraction: the validation set is too small (fewer than 2 "
                                 "samples); increase validation_fraction or the size of the data set")
            if sw is not None and not (sw > 0).any():
                raise ValueError("sample_weight: every training row left by the validation split has weight 0")
            val = (Xv, tv, wv)
        if incremental and hasattr(self, "trainer_"):
            trainer = self.trainer_
        else:
            trainer = self._new_trainer(model, loss, X.shape[0], sw, seeds[1])
        self.trainer_ = trainer
        if self.early_stopping:
            self._best_params = model.params.copy()
        rule = _EpochRule(self, val, stop_allowed=not incremental)
        need_rule = incremental or val is not None or self.verbose or np.isfinite(self.n_iter_no_change)
        self._stopped_early = False
        self.n_iter_ = 0                   # scikit-learn: the epochs of this call
        epochs = 1 if incremental else self.max_iter
        before = len(trainer.history["loss"])
        trainer.callbacks = [rule] if need_rule else []
        try:
            trainer.fit(X, t, epochs, sample_weight=sw)
        finally:
            trainer.callbacks = []
        if not need_rule:          # the curve from the Trainer's history, after the run
            h = trainer.history
            for i in range(before, len(h["loss"])):
                value = h["loss"][i] + (h["penalty"][i] if "penalty" in h else 0.0)
                self.loss_curve_.append(float(value / self._loss_scale))
                self.n_iter_ += 1
                self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])
        if self.early_stopping:
            model.params[...] = self._best_params
            del self._best_params
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.nan
        if not incremental and not self._stopped_early and len(trainer.history["loss"]) - before >= self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning)

    def _check_X_predict(self, X):
        check_is_fitted(self)
        return _validate_data(self, X, reset=False, dtype=self.trainer_.model.dtype, order="C")



class GradfitRegressor(RegressorMixin, _GradfitBase):
    """A multi-layer perceptron regressor trained by gradfit's C core.

    Parameters follow scikit-learn's MLPRegressor (see the module docstring
    of gradfit.sklearn for how each maps onto gradfit).

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default (100,)
        Widths of the hidden layers; () is a linear model.
    activation : {"relu", "tanh", "logistic", "identity", "softplus", "sigmoid"}, default "relu"
        Hidden activation ("logistic" and "sigmoid" are the same).
    solver : {"adam", "sgd", "adamw"}, default "adam"
    alpha : float >= 0, default 1e-4
        L2 penalty with scikit-learn's scaling (AdamW: decoupled weight decay).
    batch_size : int or "auto", default "auto"
        "auto" is min(200, n_samples); larger values are clipped (a warning).
    learning_rate_init : float > 0, default 1e-3
    max_iter : int >= 1, default 200
        Epochs per fit.
    shuffle : bool, default True
    random_state : int, RandomState or None
        Seeds the initial weights, the shuffles and the validation split.
    tol : float >= 0, default 1e-4
    verbose : bool or int, default False
        Print the loss (and validation score) after every epoch.
    warm_start : bool, default False
    momentum : float in [0, 1), default 0.9
        SGD only.
    nesterovs_momentum : bool, default True
        SGD only.
    early_stopping : bool, default False
        Hold out validation_fraction of the data and stop when its R^2 stops
        improving by tol; keeps the best epoch's weights.
    validation_fraction : float in (0, 1), default 0.1
    beta_1, beta_2, epsilon : Adam's settings (default 0.9, 0.999, 1e-8)
    n_iter_no_change : int >= 1 or inf, default 10
    loss : {"squared_error", "absolute_error", "huber", "mse", "mae"}, default "squared_error"
        gradfit's "mse", "mae" or "huber" ("squared_error" = "mse").
    output_activation : str, default "identity"
        gradfit's output activation (e.g. "sigmoid" for targets in (0, 1)
        with standardize_y=False).
    standardize_y : bool, default True
        Train on standardized targets and transform predictions back.
    dtype : {"auto", "float32", "float64"}, default "auto"
    n_threads : int in [1, 64] or None, default None
        Threads for the matrix products of wide layers (None: 1); the same
        numbers for any value.

    Attributes
    ----------
    model_ : gradfit.MLP
    trainer_ : gradfit.Trainer
        Continued by partial_fit; its history is gradfit's (units of gradfit's losses).
    coefs_, intercepts_ : lists of arrays
        Per-layer weights (IN, OUT) and biases (views into model_.params).
    n_iter_ : int
        Epochs run by the last fit (1 after partial_fit), as scikit-learn's;
        ``trainer_.epoch`` counts every epoch of the Trainer.
    loss_curve_ : list of float
        The objective per epoch in scikit-learn's units (half MSE + penalty).
    loss_ : float
    best_loss_ : float
    validation_scores_ : list of float or None
        R^2 on the validation set per epoch (early_stopping only).
    best_validation_score_ : float or None
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names (a DataFrame).
    n_outputs_ : int
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
        The target standardization (zeros and ones with standardize_y=False).
    """

    _parameter_constraints = {
        **_GradfitBase._parameter_constraints,
        "loss": [StrOptions(set(_REGRESSION_LOSSES))],
        "output_activation": [StrOptions({"identity", "relu", "sigmoid", "tanh", "softplus"})],
        "standardize_y": ["boolean"],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, loss="squared_error", output_activation="identity", standardize_y=True,
                 dtype="auto", n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.loss = loss
        self.output_activation = output_activation
        self.standardize_y = standardize_y
        self.dtype = dtype
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):                          # the same tag for scikit-learn < 1.6
        return {"multioutput": True}

    @_fitting
    def fit(self, X, y, sample_weight=None):
        """Train on X, y for up to max_iter epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
            Each sample's weight in the loss (weighted mean per batch).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fitting
    def partial_fit(self, X, y, sample_weight=None):
        """One more epoch over X, y, continuing the same Trainer (optimizer state included).

        Parameters
        ----------
        X, y, sample_weight : as for fit

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _fit(self, X, y, sample_weight, incremental):
        first_pass = not hasattr(self, "trainer_") or (not self.warm_start and not incremental)
        X, y = _validate_data(self, X, y, multi_output=True, y_numeric=True, reset=first_pass,
                              dtype=self._data_dtype(first_pass))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        y = np.asarray(y, dtype=X.dtype)
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=X.dtype)
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        if first_pass:
            self.n_outputs_ = y2.shape[1]
            self._y_1d = y.ndim == 1
            if self.standardize_y:
                w = None if sw is None or not (sw > 0).any() else sw
                mean = np.average(y2, axis=0, weights=w)
                std = np.sqrt(np.average((y2 - mean) ** 2, axis=0, weights=w))
                std[~(std > 0)] = 1.0
                self.y_mean_, self.y_scale_ = mean.astype(np.float64), std.astype(np.float64)
            else:
                self.y_mean_, self.y_scale_ = np.zeros(y2.shape[1]), np.ones(y2.shape[1])
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(f"y: expected {self.n_outputs_} output(s) as in the first fit, got shape {y.shape}")
        t = ((y2 - self.y_mean_) / self.y_scale_).astype(X.dtype)
        seeds, rs = self._seeds()
        self._train(X, t, sw, None, first_pass, incremental, _REGRESSION_LOSSES[self.loss], self.n_outputs_,
                    rs, seeds)
        return self

    def _val_score(self, Xv, tv, wv):
        pred = self.trainer_.model._predict(Xv)
        return float(r2_score(tv, pred, sample_weight=wv))

    def predict(self, X):
        """Predicted targets: shape (n_samples,) when fitted on a 1-D y, else (n_samples, n_outputs).

        The dtype is the network's (float32 after float32 training)."""
        X = self._check_X_predict(X)
        m = self.trainer_.model
        out = m._predict(X, self.n_threads or 1)
        if self.standardize_y:
            out = (out * self.y_scale_ + self.y_mean_).astype(m.dtype)
        return out.ravel() if self._y_1d else out


class GradfitClassifier(ClassifierMixin, _GradfitBase):
    """A multi-layer perceptron classifier trained by gradfit's C core.

    Two classes: one logit and gradfit's binary_cross_entropy; K > 2 classes:
    K logits and cross_entropy (softmax). Labels may be anything
    scikit-learn's LabelEncoder takes (ints, strings, ...). Parameters as for
    :class:`GradfitRegressor`, without loss choices, output_activation
    (the outputs are logits) and standardize_y.

    Attributes
    ----------
    classes_ : ndarray
        The class labels, in the order of predict_proba's columns.
    validation_scores_ : list of float or None
        Accuracy on the validation set per epoch (early_stopping only).
    model_, trainer_, coefs_, intercepts_, n_iter_, loss_curve_, loss_, best_loss_,
    best_validation_score_, n_features_in_, feature_names_in_, n_outputs_
        As for GradfitRegressor (loss_curve_: the log-loss plus penalty).
    """

    _parameter_constraints = {
        **_GradfitBase._parameter_constraints,
        "loss": [StrOptions({"log_loss"})],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, loss="log_loss", dtype="auto", n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.loss = loss
        self.dtype = dtype
        self.n_threads = n_threads

    @_fitting
    def fit(self, X, y, sample_weight=None):
        """Train on X, y (class labels) for up to max_iter epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels: at least two distinct values.
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, None, incremental=False)

    @_fitting
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One more epoch over X, y, continuing the same Trainer.

        Parameters
        ----------
        X, y, sample_weight : as for fit
        classes : array-like, required on the first call
            Every class label that will ever be seen (y need not hold them all).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, classes, incremental=True)

    def _fit(self, X, y, sample_weight, classes, incremental):
        first_pass = not hasattr(self, "trainer_") or (not self.warm_start and not incremental)
        X, y = _validate_data(self, X, y, reset=first_pass, dtype=self._data_dtype(first_pass))
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"y: expected one column of class labels (binary or multiclass), got a target "
                             f"of type {kind!r}; multilabel and multi-output targets are not supported")
        y = column_or_1d(y, warn=True)
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=X.dtype)
        if incremental and first_pass and not hasattr(self, "trainer_"):
            if classes is None:
                raise ValueError("classes: expected the list of all classes on the first call to "
                                 "partial_fit, got None")
            labels = unique_labels(classes)
        elif incremental and classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"classes: expected the classes of the first call {self.classes_!r}, "
                             f"got {unique_labels(classes)!r}")
        else:
            labels = unique_labels(y) if first_pass else self.classes_
        if first_pass:
            if len(labels) < 2:
                raise ValueError(f"y: expected at least 2 classes, got 1 class ({labels[0]!r})")
            self._encoder = LabelEncoder().fit(labels)
            self.classes_ = self._encoder.classes_
        seen = unique_labels(y)
        unknown = np.setdiff1d(seen, self.classes_)
        if unknown.size:
            raise ValueError(f"y: expected labels among classes_ {self.classes_!r}, got {unknown[0]!r}")
        if not first_pass and not incremental and self.warm_start and set(seen) != set(self.classes_):
            raise ValueError(f"y: warm_start needs the classes of the previous fit {self.classes_!r}, "
                             f"got {seen!r}")
        ids = self._encoder.transform(y)
        k = len(self.classes_)
        if k == 2:
            loss, t, n_out = "binary_cross_entropy", ids.astype(X.dtype), 1
        else:
            loss, t, n_out = "cross_entropy", ids.astype(np.int64), k
        self.n_outputs_ = 1
        seeds, rs = self._seeds()
        self._train(X, t, sw, ids, first_pass, incremental, loss, n_out, rs, seeds)
        return self

    def _proba(self, X):
        """Class probabilities (n_samples, n_classes) of the network's dtype, X already validated."""
        m = self.trainer_.model
        z = m._predict(X, self.n_threads or 1).astype(np.float64)
        if z.shape[1] == 1:
            p1 = np.empty_like(z[:, 0])
            pos = z[:, 0] >= 0
            p1[pos] = 1 / (1 + np.exp(-z[pos, 0]))
            e = np.exp(z[~pos, 0])
            p1[~pos] = e / (1 + e)
            p = np.column_stack([1 - p1, p1])
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
        return p.astype(m.dtype)

    def _val_score(self, Xv, tv, wv):
        z = self.trainer_.model._predict(Xv)
        guess = (z[:, 0] > 0).astype(np.int64) if z.shape[1] == 1 else np.argmax(z, axis=1)
        truth = tv.astype(np.int64) if tv.ndim == 1 else np.argmax(tv, axis=1)
        return float(accuracy_score(truth, guess, sample_weight=wv))

    def decision_function(self, X):
        """The logits: shape (n_samples,) for two classes (positive: classes_[1]), else (n_samples, n_classes)."""
        X = self._check_X_predict(X)
        z = self.trainer_.model._predict(X, self.n_threads or 1)
        return z[:, 0] if z.shape[1] == 1 else z

    def predict(self, X):
        """Predicted class labels, shape (n_samples,)."""
        X = self._check_X_predict(X)
        z = self.trainer_.model._predict(X, self.n_threads or 1)
        ids = (z[:, 0] > 0).astype(np.int64) if z.shape[1] == 1 else np.argmax(z, axis=1)
        return self.classes_[ids]

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of classes_."""
        return self._proba(self._check_X_predict(X))

    def predict_log_proba(self, X):
        """log(predict_proba(X)), computed from the logits (finite for confident predictions)."""
        X = self._check_X_predict(X)
        m = self.trainer_.model
        z = m._predict(X, self.n_threads or 1).astype(np.float64)
        if z.shape[1] == 1:
            z = np.column_stack([np.zeros_like(z[:, 0]), z[:, 0]])
        zmax = z.max(axis=1, keepdims=True)
        lse = zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True))
        return (z - lse).astype(m.dtype)


# -- the model file ----------------------------------------------------------------
# An estimator is saved as its Trainer's file (gradfit.io: parameters, optimizer
# state, generator, history) plus, in the JSON metadata, the estimator's class,
# hyperparameters and fitted attributes. Nothing is pickled; loading checks
# every value's type and rebuilds the label encoder from classes_.

_ESTIMATORS = {"GradfitRegressor": GradfitRegressor, "GradfitClassifier": GradfitClassifier}
_ARRAY_KINDS = "biufU"


def _encode(value, name):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if np.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, name) for v in value]}
    if isinstance(value, list):
        return [_encode(v, name) for v in value]
    if isinstance(value, np.ndarray):
        a = value
        if a.dtype.kind == "O" and all(isinstance(v, str) for v in a.ravel()):
            a = a.astype(str)                              # feature names
            return {"array": a.tolist(), "dtype": "names"}
        if a.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"{name}: cannot store an array of dtype {a.dtype} in a gradfit file "
                            f"(class labels must be numbers or strings)")
        return {"array": [_encode(v, name) for v in a.ravel().tolist()], "shape": list(a.shape),
                "dtype": a.dtype.str}
    raise TypeError(f"{name}: cannot store {type(value).__name__} in a gradfit file")


def _decode(value, name, path):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, name, path) for v in value]
    if isinstance(value, dict) and set(value) == {"float"} and value["float"] in ("inf", "-inf", "nan"):
        return float(value["float"])
    if isinstance(value, dict) and set(value) == {"tuple"} and isinstance(value["tuple"], list):
        return tuple(_decode(v, name, path) for v in value["tuple"])
    if isinstance(value, dict) and value.get("dtype") == "names" and set(value) == {"array", "dtype"}:
        names = value["array"]
        if not isinstance(names, list) or not all(isinstance(v, str) for v in names):
            raise ValueError(f"{path}: estimator attribute {name}: expected a list of names")
        return np.asarray(names, dtype=object)
    if isinstance(value, dict) and set(value) == {"array", "shape", "dtype"}:
        try:
            dtype = np.dtype(value["dtype"])
        except TypeError:
            dtype = None
        shape = value["shape"]
        if dtype is None or dtype.kind not in _ARRAY_KINDS or not isinstance(shape, list) \
                or not all(isinstance(s, int) and 0 <= s <= 1 << 24 for s in shape):
            raise ValueError(f"{path}: estimator attribute {name}: bad array description")
        items = [_decode(v, name, path) for v in value["array"]]
        if len(items) != int(np.prod(shape)):
            raise ValueError(f"{path}: estimator attribute {name}: expected {int(np.prod(shape))} values")
        try:
            return np.asarray(items, dtype=dtype).reshape(shape)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{path}: estimator attribute {name}: values do not fit dtype {dtype}") from None
    raise ValueError(f"{path}: estimator attribute {name}: unexpected value {str(value)[:80]}")


def _save(self, path):
    """Write the fitted estimator to `path` (a gradfit model file: no pickle).

    ``gradfit.sklearn.load(path)`` gives it back; ``predict``, ``score`` and
    ``partial_fit`` continue exactly. Parameters
    ----------
    path : str or path-like
    """
    check_is_fitted(self)
    from . import io
    state = {k: _encode(v, k) for k, v in self.__dict__.items() if k not in ("trainer_", "_encoder")}
    io.save_trainer(self.trainer_, path, extra={"estimator": {"class": type(self).__name__, "state": state}})


def load(path):
    """Read an estimator written by ``est.save(path)``.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    GradfitRegressor or GradfitClassifier
        Fitted, ready to predict or continue with ``partial_fit``.

    Raises
    ------
    ValueError
        If the file is not a saved estimator or anything in it is damaged
        (``"<path>: what is wrong"``); nothing in the file is executed.
    """
    from . import io
    meta = io.read_metadata(path)
    name = str(path)
    extra = meta.get("extra") or {}
    spec = extra.get("estimator") if isinstance(extra, dict) else None
    if not isinstance(spec, dict) or spec.get("class") not in _ESTIMATORS or not isinstance(spec.get("state"), dict):
        raise ValueError(f"{name}: not a saved gradfit.sklearn estimator (est.save writes one; a model file "
                         f"from model.save is read by gradfit.load)")
    cls = _ESTIMATORS[spec["class"]]
    est = cls.__new__(cls)
    for key, value in spec["state"].items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"{name}: estimator attribute {key!r} is not a valid name")
        est.__dict__[key] = _decode(value, key, name)
    params = cls().get_params()
    missing = [p for p in params if p not in est.__dict__]
    if missing:
        raise ValueError(f"{name}: the saved estimator lacks the parameter {missing[0]!r}")
    try:
        est._validate_params()
    except Exception as exc:  # noqa: BLE001 - scikit-learn's InvalidParameterError and friends
        raise ValueError(f"{name}: a saved parameter is invalid ({exc})") from None
    est.trainer_ = io.load_trainer(path)
    if cls is GradfitClassifier:
        if not isinstance(est.__dict__.get("classes_"), np.ndarray):
            raise ValueError(f"{name}: the saved classifier has no classes_")
        est._encoder = LabelEncoder().fit(est.classes_)
    return est


GradfitRegressor.save = _save
GradfitClassifier.save = _save
