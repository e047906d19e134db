"""GradfitRegressor: scikit-learn's MLPRegressor interface on gradfit's Trainer."""
import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import _check_sample_weight, column_or_1d

from .._targets import normalized_weights
from ._base import _REGRESSION_LOSSES, _SPARSE_FORMATS, _fitting, _sparse_rows, _GradfitBase, _validate_data

def _poisson_offset(y2, sw):
    """What scikit-learn's poisson loss (half the Poisson deviance) adds to
    gradfit's (exp(z) - y z, without the terms of y alone): the (weighted)
    mean over the rows of sum_k y log y - y. Checks y >= 0 first."""
    if (y2 < 0).any():
        raise ValueError(f"y: expected values >= 0 (counts or rates) for loss='poisson', got a minimum of "
                         f"{y2.min():g}")
    y64 = y2.astype(np.float64)
    row = np.where(y64 > 0, y64 * np.log(np.where(y64 > 0, y64, 1.0)), 0.0).sum(axis=1) - y64.sum(axis=1)
    w = None if sw is None or not (sw > 0).any() else sw.astype(np.float64)
    return float(np.average(row, weights=w))


def _scaled_mean_std(y2, w):
    """The weighted mean and standard deviation of each column of y2 (finite
    values), computed on y2 divided by its largest magnitude so that neither
    the sums nor the squares overflow (e.g. targets near 1e300)."""
    scale = np.abs(y2).max(axis=0)
    scale[~(scale > 0)] = 1.0
    z = y2 / scale
    mean_z = np.average(z, axis=0, weights=w)
    std_z = np.sqrt(np.average((z - mean_z) ** 2, axis=0, weights=w))
    return mean_z * scale, std_z * scale


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
    solver : {"adam", "sgd", "lbfgs", "adamw"}, default "adam"
        "lbfgs": scipy's L-BFGS-B on the full batch (max_iter: its
        iterations; max_fun: its loss evaluations; tol: its gradient
        tolerance), as scikit-learn's.
    alpha : float >= 0, default 1e-4
        L2 penalty with scikit-learn's scaling (AdamW: decoupled weight decay).
    batch_size : int or "auto", default "auto"
        "auto" is min(200, n_samples); larger values are clipped (a warning).
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        SGD only, as scikit-learn's: "invscaling" sets the rate after every
        epoch to ``learning_rate_init / (t_ + 1) ** power_t`` (``t_``: samples
        seen); "adaptive" divides it by 5 each time more than
        n_iter_no_change epochs pass without an improvement by tol, and
        stops once it is at most 1e-6.
    learning_rate_init : float > 0, default 1e-3
    power_t : float >= 0, default 0.5
        The exponent of "invscaling".
    max_iter : int >= 1, default 200
        Epochs per fit (lbfgs: iterations).
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
    max_fun : int >= 1, default 15000
        lbfgs only: at most this many loss evaluations.
    loss : {"squared_error", "absolute_error", "huber", "poisson", "mse", "mae"}, default "squared_error"
        gradfit's "mse", "mae", "huber" or "poisson" ("squared_error" = "mse").
        "poisson" is scikit-learn's: y >= 0 (counts or rates), a log link
        (the network's output is the log of the mean; ``predict`` returns
        its exp, the mean) and half the Poisson deviance in ``loss_curve_``;
        the targets are not standardized (standardize_y does not apply) and
        output_activation must be "identity".
    output_activation : str, default "identity"
        gradfit's output activation (e.g. "sigmoid" for targets in (0, 1)
        with standardize_y=False).
    standardize_y : bool, default False
        Train on standardized targets and transform predictions back. The
        default (False) is scikit-learn's behaviour: learning_rate_init, tol
        and ``loss_curve_`` are then in the targets' own units.
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
        Per-layer weights (IN, OUT) and biases (views into ``model_.params``).
    n_iter_ : int
        Epochs run by the last fit (1 after partial_fit), as scikit-learn's;
        ``trainer_.epoch`` counts every epoch of the Trainer.
    loss_curve_ : list of float
        The objective per epoch in scikit-learn's units (half MSE + penalty;
        lbfgs: per iteration, which scikit-learn's lbfgs does not record).
    loss_ : float
        The last value of ``loss_curve_`` (lbfgs: the final objective; after
        a divergence under early_stopping, the loss of the epoch whose
        weights are kept).
    best_loss_ : float or None
        The smallest loss; None with early_stopping, as scikit-learn's.
    t_ : int
        Training samples seen by the stochastic solvers (0 for lbfgs).
    n_layers_ : int
        Layers including the input and the output layer.
    out_activation_ : str
        The output activation: "exp" for loss="poisson" (scikit-learn's
        name for the log link), else "identity" unless output_activation
        says otherwise.
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
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, loss="squared_error", output_activation="identity",
                 standardize_y=False, dtype="auto", n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
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
        self.max_fun = max_fun
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
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
            Each sample's weight in the loss (weighted mean per batch).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
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
                              dtype=self._data_dtype(first_pass), accept_sparse=_SPARSE_FORMATS)
        X = _sparse_rows(X, X.dtype)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        y = np.asarray(y, dtype=X.dtype)
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=X.dtype)
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        if self.loss == "poisson":
            self._loss_offset = _poisson_offset(y2, sw)
        if first_pass:
            self.n_outputs_ = y2.shape[1]
            self._y_1d = y.ndim == 1
            if self.standardize_y and self.loss != "poisson":
                # weights scaled into [0.5, 1) first, as training scales them: tiny or huge ones stay exact
                w = None if sw is None or not (sw > 0).any() else normalized_weights(sw.astype(np.float64), None)
                with np.errstate(over="ignore", invalid="ignore"):
                    mean = np.average(y2, axis=0, weights=w)
                    std = np.sqrt(np.average((y2 - mean) ** 2, axis=0, weights=w))
                if not (np.isfinite(mean).all() and np.isfinite(std).all()):
                    mean, std = _scaled_mean_std(y2, w)     # targets near the float range's end
                std[~(std > 0)] = 1.0
                self.y_mean_, self.y_scale_ = mean.astype(np.float64), std.astype(np.float64)
            else:
                self.y_mean_, self.y_scale_ = np.zeros(y2.shape[1]), np.ones(y2.shape[1])
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(f"y: expected {self.n_outputs_} output(s) as in the first fit, got shape {y.shape}")
        t = ((y2 - self.y_mean_) / self.y_scale_).astype(X.dtype)
        out_act = "exp" if self.loss == "poisson" else {"sigmoid": "logistic"}.get(self.output_activation,
                                                                                  self.output_activation)
        self._train(X, t, sw, None, first_pass, incremental, _REGRESSION_LOSSES[self.loss], self.n_outputs_,
                    check_random_state(self.random_state), out_act)
        return self

    def _val_score(self, Xv, tv, wv):
        pred = self._link(self.trainer_.model._predict(Xv))
        if not np.isfinite(pred).all():
            return float("nan")
        return float(r2_score(tv, pred, sample_weight=wv))

    def _link(self, z):
        """The mean from the network's outputs: exp for poisson (they are log-means), else z itself."""
        if self.loss != "poisson":
            return z
        with np.errstate(over="ignore"):
            return np.exp(z)

    def predict(self, X):
        """Predicted targets: shape (n_samples,) when fitted on a 1-D y, else (n_samples, n_outputs).

        The dtype is the network's (float32 after float32 training)."""
        X = self._check_X_predict(X)
        m = self.trainer_.model
        out = self._link(m._predict(X, self.n_threads or 1))
        if self.standardize_y and self.loss != "poisson":
            out = (out * self.y_scale_ + self.y_mean_).astype(m.dtype)
        return out.ravel() if self._y_1d else out
