"""What GradfitRegressor and GradfitClassifier share: the parameters'
checks, the network (with scikit-learn's starting weights) and its Trainer,
the two solver paths (stochastic, lbfgs), and scikit-learn's stopping rule
and learning-rate schedules run after every epoch (see gradfit.sklearn's
docstring for how the parameters map onto gradfit)."""
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._sparse import check_sparse_X, is_sparse
from ..model import MLP
from ..result import DivergenceWarning
from ..trainer import Trainer
from ._lbfgs import NON_FINITE, run_lbfgs

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
    its no-improvement count, the validation score, the best weights and the
    SGD learning-rate schedule ("invscaling", "adaptive")."""

    def __init__(self, est, val, stop_allowed, n_rows):
        self.est, self.val, self.stop_allowed, self.n_rows = est, val, stop_allowed, n_rows

    def on_epoch_end(self, info):
        est = self.est
        h = info.history
        est.loss_curve_.append(est._curve_value(h["loss"][-1], h["penalty"][-1] if "penalty" in h else 0.0))
        est.n_iter_ += 1
        est.t_ += self.n_rows
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_curve_[-1]:.8f}")
        if self.val is not None:
            Xv, yv, wv = self.val
            score = est._safe_val_score(Xv, yv, wv)
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
        est._epoch_learning_rate()
        if est._no_improvement_count > est.n_iter_no_change:
            if est._lower_learning_rate(self.val is not None):
                est._no_improvement_count = 0
            elif self.stop_allowed:
                est._stopped_early = True
                return True
        return False


class _GradfitBase(BaseEstimator):
    """What the regressor and the classifier share: the parameters, the
    network, the Trainer and the epoch rule."""

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam", "adamw"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
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
        "max_fun": [Interval(Integral, 1, None, closed="left")],
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

    def _check_solver(self):
        if self.solver == "lbfgs":
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is "
                                 f"not stochastic.")
        return True

    # -- helpers -----------------------------------------------------------------------
    def _hidden(self):
        h = self.hidden_layer_sizes
        if isinstance(h, (Integral, np.integer)):
            h = [h]
        h = list(h)
        for s in h:
            if isinstance(s, bool) or not isinstance(s, (Integral, np.integer)) or s < 1:
                raise ValueError(f"hidden_layer_sizes must be > 0, got {h}.")
        return [int(s) for s in h]

    def _data_dtype(self, first_pass):
        if not first_pass:
            return self.trainer_.model.dtype
        return {"auto": (np.float64, np.float32), "float32": np.float32, "float64": np.float64}[self.dtype]

    def _batch(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("batch_size: got a batch_size larger than the number of samples "
                          f"({self.batch_size} > {n}); it is clipped to {n}", UserWarning)
        return min(self.batch_size, n)

    def _new_network(self, n_in, n_out, dtype, rs):
        """The network, initialised as scikit-learn's: per layer, the weights
        then the biases drawn from `rs` (uniform in +-sqrt(f / (fan_in +
        fan_out)), f = 2 for the logistic activation, else 6), in float64 and
        then cast, so the same random_state gives scikit-learn's numbers."""
        out_act = getattr(self, "output_activation", "identity")
        model = MLP([n_in] + self._hidden() + [n_out], _ACTIVATIONS[self.activation], out_act, dtype=dtype,
                    init="zeros")
        factor = 2.0 if _ACTIVATIONS[self.activation] == "sigmoid" else 6.0
        for W, b in zip(model.weights, model.biases):
            bound = np.sqrt(factor / (W.shape[0] + W.shape[1]))
            W[...] = rs.uniform(-bound, bound, W.shape)
            b[...] = rs.uniform(-bound, bound, b.shape[0])
        self.n_layers_ = len(model.layer_sizes)
        return model

    def _units(self, loss, n_outputs):
        """(a, b): scikit-learn's reported loss is ``a * gradfit's data loss +
        b * gradfit's penalty`` (+ the poisson offset) and its gradient ``b``
        times gradfit's. For the squared error scikit-learn sums over the K
        outputs (half of it) where gradfit's "mse" averages: b = K / 2; its
        reported value keeps the mean, a = 1 / 2. binary_cross_entropy
        (multilabel) and poisson: gradfit averages over the K outputs,
        scikit-learn sums, in value and gradient: a = b = K. The softmax
        log-loss is the same in both."""
        if loss == "mse":
            return 0.5, 0.5 * n_outputs
        if loss in ("binary_cross_entropy", "poisson"):
            return float(n_outputs), float(n_outputs)
        return 1.0, 1.0

    def _curve_value(self, data_loss, penalty):
        """scikit-learn's loss from gradfit's data loss and penalty."""
        a, b = self._loss_units
        return float(a * data_loss + b * penalty) + getattr(self, "_loss_offset", 0.0)

    def _new_trainer(self, model, loss, n, sw, seed):
        """A Trainer with the mapped settings (see the module docstring)."""
        batch = n if self.solver == "lbfgs" else self._batch(n)
        mean_w = 1.0 if sw is None else float(np.mean(sw))
        self._loss_units = a, b = self._units(loss, model.n_outputs)
        self._lr_factor = b if self.solver in ("sgd", "lbfgs") else 1.0
        self._learning_rate = float(self.learning_rate_init)
        l2 = 0.0
        if self.solver in ("sgd", "lbfgs"):
            kw = dict(momentum=float(self.momentum), nesterov=bool(self.nesterovs_momentum) and self.momentum > 0)
        else:
            kw = dict(beta1=float(self.beta_1), beta2=float(self.beta_2), eps=float(self.epsilon))
            if self.solver == "adamw":
                kw["weight_decay"] = float(self.alpha)
        if self.solver != "adamw" and self.alpha > 0 and mean_w > 0:
            l2 = float(self.alpha) / (b * batch * mean_w)
            if not np.isfinite(l2):
                raise ValueError(f"sample_weight: the weights are so small (mean {mean_w:.3g}) that the L2 "
                                 f"penalty alpha / mean(sample_weight) overflows; scale them up (the penalty "
                                 f"is weighted by 1 / mean(sample_weight), as in scikit-learn), or set alpha=0")
        optimizer = "sgd" if self.solver == "lbfgs" else self.solver     # lbfgs: the Trainer holds the network
        return Trainer(model, optimizer, loss, lr=self._learning_rate * self._lr_factor, l2=l2, batch_size=batch,
                       shuffle=bool(self.shuffle), seed=seed, n_threads=self.n_threads or 1, **kw)

    def _epoch_learning_rate(self):
        """scikit-learn's "invscaling", after every epoch: learning_rate_init / (t_ + 1) ** power_t."""
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            self._set_learning_rate(float(self.learning_rate_init) / (self.t_ + 1) ** float(self.power_t))

    def _set_learning_rate(self, lr):
        """A new SGD rate between epochs. scikit-learn's velocity holds the
        rate (v = mu v - lr g), gradfit's does not (v = mu v + g, p -= lr v):
        rescaling gradfit's velocity by old / new keeps the two the same."""
        old, self._learning_rate = self._learning_rate, lr
        trainer = self.trainer_
        trainer.optimizer.lr = lr * self._lr_factor
        if trainer.optimizer.name == "sgd" and lr != old:
            trainer.state *= old / lr

    def _lower_learning_rate(self, validating):
        """After more than n_iter_no_change epochs without improvement:
        "adaptive" divides the rate by 5 and goes on (True) while it is above
        1e-6; otherwise training stops (False)."""
        what = "Validation score" if validating else "Training loss"
        msg = f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."
        adaptive = self.solver == "sgd" and self.learning_rate == "adaptive"
        if adaptive and self._learning_rate > 1e-6:
            self._set_learning_rate(self._learning_rate / 5.0)
            if self.verbose:
                print(f"{msg} Setting learning rate to {self._learning_rate:f}")
            return True
        if self.verbose:
            print(f"{msg} Learning rate too small. Stopping." if adaptive else f"{msg} Stopping.")
        return False

    def _reset_curves(self, out_activation):
        self.n_iter_ = 0
        self.t_ = 0
        self.out_activation_ = out_activation
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping and self.solver != "lbfgs":
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _safe_val_score(self, Xv, tv, wv):
        """The validation score; NaN (no numpy warning) when the network's outputs are not finite."""
        with np.errstate(all="ignore"):
            return self._val_score(Xv, tv, wv)

    def _split(self, X, t, sw, y_raw, rs):
        """scikit-learn's validation split (stratified by class for the classifier)."""
        stratify = y_raw if isinstance(self, ClassifierMixin) else None
        parts = train_test_split(X, t, *([] if sw is None else [sw]), random_state=rs,
                                 test_size=self.validation_fraction, stratify=stratify)
        X, Xv, t, tv = parts[:4]
        sw, wv = (parts[4], parts[5]) if sw is not None else (None, None)
        if Xv.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                             "your dataset.")
        if sw is not None and not (sw > 0).any():
            raise ValueError("sample_weight: every training row left by the validation split has weight 0")
        return X, t, sw, (Xv, tv, wv)

    def _train(self, X, t, sw, y_raw, first_pass, incremental, loss, n_outputs, rs, out_activation):
        """Builds (first pass) or reuses the network, then runs the solver.
        t: targets for gradfit's loss; y_raw: targets for the split's
        stratification. On a divergence the estimator is left as it was
        before the call and ValueError is raised, as scikit-learn's."""
        if self.early_stopping and incremental:
            raise ValueError("early_stopping: partial_fit does not support early_stopping=True")
        before = {k: list(v) if isinstance(v, list) else v for k, v in self.__dict__.items()}
        try:
            if first_pass:
                model = self._new_network(X.shape[1], n_outputs, X.dtype, rs)
                self._reset_curves(out_activation)
            else:
                model = self.trainer_.model
                if self.early_stopping and self.validation_scores_ is None and self.solver != "lbfgs":
                    self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
            start = model.params.copy()
            if self.solver == "lbfgs":
                self._train_lbfgs(model, X, t, sw, loss)
            else:
                self._train_stochastic(model, X, t, sw, y_raw, incremental, loss, rs)
            if not np.isfinite(model.params).all():
                raise ValueError(NON_FINITE)
        except BaseException:
            if not first_pass:
                model.params[...] = start
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _train_lbfgs(self, model, X, t, sw, loss):
        trainer = self._new_trainer(model, loss, X.shape[0], sw, 0)
        self.trainer_ = trainer
        outcome = run_lbfgs(model, X, t, sw, loss, trainer.l2, self._loss_units, max_iter=self.max_iter,
                            max_fun=self.max_fun, tol=self.tol, verbose=self.verbose)
        offset = getattr(self, "_loss_offset", 0.0)
        self.n_iter_ = outcome.n_iter
        self.loss_ = outcome.loss + offset
        self.loss_curve_.extend(v + offset for v in outcome.curve)
        self.best_loss_ = min(self.loss_curve_, default=outcome.loss)
        if outcome.status != 0:
            msg = f"lbfgs failed to converge after {outcome.n_iter} iteration(s) (status={outcome.status}):\n" \
                  f"{outcome.message}\n"
            if outcome.n_iter == self.max_iter:
                msg += f"\nIncrease the number of iterations to improve the convergence (max_iter={self.max_iter})."
            warnings.warn(msg, ConvergenceWarning)

    def _train_stochastic(self, model, X, t, sw, y_raw, incremental, loss, rs):
        val = None
        if self.early_stopping:
            X, t, sw, val = self._split(X, t, sw, y_raw, rs)
        if incremental and hasattr(self, "trainer_") and self.trainer_.optimizer.name == self.solver:
            trainer = self.trainer_
        else:
            trainer = self._new_trainer(model, loss, X.shape[0], sw, int(rs.randint(0, 2**31 - 1)))
        self.trainer_ = trainer
        if self.early_stopping:
            self._best_params = model.params.copy()
        rule = _EpochRule(self, val, stop_allowed=not incremental, n_rows=X.shape[0])
        need_rule = (incremental or val is not None or self.verbose or np.isfinite(self.n_iter_no_change)
                     or (self.solver == "sgd" and self.learning_rate != "constant"))
        self._stopped_early = False
        self.n_iter_ = 0                   # scikit-learn: the epochs of this call
        epochs = 1 if incremental else self.max_iter
        before = len(trainer.history["loss"])
        trainer.callbacks = [rule] if need_rule else []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DivergenceWarning)
                result = trainer.fit(X, t, epochs, sample_weight=sw)
        finally:
            trainer.callbacks = []
        diverged = result.stop_reason == "diverged"
        if diverged and not self.early_stopping:
            raise ValueError(NON_FINITE)
        if diverged and not np.isnan(self.validation_scores_[-1:] or [0.0]).all():
            self.validation_scores_.append(float("nan"))     # the epoch that diverged scores NaN
            self.loss_curve_.append(float("nan"))
            self.n_iter_ += 1
        if not need_rule:
            self._curve_from_history(trainer.history, before, X.shape[0])
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.nan
        if self.early_stopping:
            model.params[...] = self._best_params
            del self._best_params
            if diverged:           # the loss of the weights kept, not of those thrown away
                kept = int(np.nanargmax(self.validation_scores_)) if np.isfinite(self.best_validation_score_) else 0
                self.loss_ = self.loss_curve_[kept] if kept < len(self.loss_curve_) else np.nan
        if (not incremental and not self._stopped_early and result.stop_reason != "diverged"
                and len(trainer.history["loss"]) - before >= self.max_iter):
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning)

    def _curve_from_history(self, h, before, n_rows):
        """loss_curve_, n_iter_, t_, best_loss_ and the no-improvement count
        from the Trainer's history, after a run without the epoch rule."""
        for i in range(before, len(h["loss"])):
            last = self._curve_value(h["loss"][i], h["penalty"][i] if "penalty" in h else 0.0)
            self.loss_curve_.append(last)
            self.n_iter_ += 1
            self.t_ += n_rows
            self._no_improvement_count = self._no_improvement_count + 1 if last > self.best_loss_ - self.tol else 0
            self.best_loss_ = min(self.best_loss_, last)

    def _check_X_predict(self, X):
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=self.trainer_.model.dtype, order="C",
                           accept_sparse=_SPARSE_FORMATS)
        return _sparse_rows(X, self.trainer_.model.dtype)
