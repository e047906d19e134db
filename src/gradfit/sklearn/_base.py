"""What GradfitRegressor and GradfitClassifier share: the parameters'
checks, the network and its Trainer, and scikit-learn's stopping rule run
after every epoch (see gradfit.sklearn's docstring for how the parameters map
onto gradfit)."""
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._sparse import check_sparse_X, is_sparse
from ..model import MLP
from ..trainer import Trainer

try:                                   # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:                    # pragma: no cover - older scikit-learn
    _sk_validate_data = None

try:                                   # scikit-learn >= 1.3
    from sklearn.base import _fit_context
except ImportError:                    # pragma: no cover
    _fit_context = None

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "sigmoid": "sigmoid", "tanh": "tanh",
                "relu": "relu", "softplus": "softplus"}
# scipy.sparse X: CSR is read as it is, CSC converted to CSR once (other formats by scikit-learn's checks)
_SPARSE_FORMATS = ["csr", "csc"]


def _sparse_rows(X, dtype):
    """A sparse X (after scikit-learn's checks) as the rows gradfit's C core reads
    (gradfit._sparse.CsrRows: rows subsets, shape and dtype work as for arrays); a
    dense X as it is. fit converts once, so that every later step reads the rows."""
    return check_sparse_X(X, X.shape[1], dtype) if is_sparse(X) else X


_REGRESSION_LOSSES = {"squared_error": "mse", "mse": "mse", "absolute_error": "mae", "mae": "mae",
                      "huber": "huber", "poisson": "poisson"}


def _objective_scale(loss, n_outputs):
    """gradfit's objective per unit of scikit-learn's: "mse" is twice the half
    squared error; binary_cross_entropy (multilabel) and poisson are means
    over the outputs where scikit-learn's losses are sums over them."""
    if loss == "mse":
        return 2.0
    if loss in ("binary_cross_entropy", "poisson"):
        return 1.0 / n_outputs
    return 1.0


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
        est.loss_curve_.append(float(value / est._loss_scale) + getattr(est, "_loss_offset", 0.0))
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True            # scipy.sparse X: the first layer reads its non-zeros
        return tags

    # -- fitted attributes that live in the network --------------------------------
    @property
    def model_(self):
        """The trained gradfit.MLP (the Trainer's model)."""
        return self.trainer_.model

    @property
    def coefs_(self):
        """Weight matrices, one (IN, OUT) array per layer (views into ``model_.params``)."""
        return self.trainer_.model.weights

    @property
    def intercepts_(self):
        """Bias vectors, one (OUT,) array per layer (views into ``model_.params``)."""
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
        scale = _objective_scale(loss, model.n_outputs)
        l2 = 0.0
        kw = {}
        if self.solver == "sgd":
            kw = dict(momentum=float(self.momentum),
                      nesterov=bool(self.nesterovs_momentum) and self.momentum > 0)
            lr /= scale            # the steps of scikit-learn's gradient
        else:
            kw = dict(beta1=float(self.beta_1), beta2=float(self.beta_2), eps=float(self.epsilon))
            if self.solver == "adamw":
                kw["weight_decay"] = float(self.alpha)
        if self.solver != "adamw" and self.alpha > 0 and mean_w > 0:
            l2 = scale * float(self.alpha) / (batch * mean_w)
            if not np.isfinite(l2):
                raise ValueError(f"sample_weight: the weights are so small (mean {mean_w:.3g}) that the L2 "
                                 f"penalty alpha / mean(sample_weight) overflows; scale them up (the penalty "
                                 f"is weighted by 1 / mean(sample_weight), as in scikit-learn), or set alpha=0")
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
                self.loss_curve_.append(float(value / self._loss_scale) + getattr(self, "_loss_offset", 0.0))
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
        X = _validate_data(self, X, reset=False, dtype=self.trainer_.model.dtype, order="C",
                           accept_sparse=_SPARSE_FORMATS)
        return _sparse_rows(X, self.trainer_.model.dtype)
