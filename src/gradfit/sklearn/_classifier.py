"""GradfitClassifier: scikit-learn's MLPClassifier interface on gradfit's Trainer."""
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import _check_sample_weight, column_or_1d

from .._math import log_softmax, sigmoid, softmax, softplus
from ._base import _SPARSE_FORMATS, _fitting, _sparse_rows, _GradfitBase, _validate_data

class GradfitClassifier(ClassifierMixin, _GradfitBase):
    """A multi-layer perceptron classifier trained by gradfit's C core.

    Two classes: one logit and gradfit's binary_cross_entropy; K > 2 classes:
    K logits and cross_entropy (softmax); a multilabel indicator matrix y
    (n_samples, n_labels) of 0/1: one logit per label and
    binary_cross_entropy, as MLPClassifier (``predict`` the 0/1 matrix,
    probability > 0.5; ``predict_proba`` (n_samples, n_labels);
    ``classes_ = arange(n_labels)``; ``score`` the subset accuracy). A y of
    one class fits as scikit-learn's does (one logit trained towards "not
    this class"; ``predict`` gives that class, ``predict_proba`` two
    columns). Labels may be anything scikit-learn's LabelEncoder takes
    (ints, strings, ...). Parameters as for :class:`GradfitRegressor`,
    without loss choices, output_activation (the outputs are logits) and
    standardize_y.

    Attributes
    ----------
    classes_ : ndarray
        The class labels, in the order of predict_proba's columns.
    validation_scores_ : list of float or None
        Accuracy on the validation set per epoch (early_stopping only).
    out_activation_ : str
        "logistic" (one logit) or "softmax".
    model_, trainer_, coefs_, intercepts_, n_iter_, loss_curve_, loss_, best_loss_, t_, n_layers_,
    best_validation_score_, n_features_in_, feature_names_in_, n_outputs_
        As for GradfitRegressor (``loss_curve_``: the log-loss plus penalty).
    """

    _parameter_constraints = {
        **_GradfitBase._parameter_constraints,
        "loss": [StrOptions({"log_loss"})],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, loss="log_loss", dtype="auto", n_threads=None):
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
        self.dtype = dtype
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _more_tags(self):                          # the same tag for scikit-learn < 1.6
        return {"multilabel": True}

    @_fitting
    def fit(self, X, y, sample_weight=None):
        """Train on X, y (class labels) for up to max_iter epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multilabel indicator matrix of 0/1 (or bool).
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, None, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fitting
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One more epoch over X, y, continuing the same Trainer.

        Parameters
        ----------
        X, y, sample_weight : as for fit
        classes : array-like, required on the first call
            Every class label that will ever be seen (y need not hold them all).
            Not needed for a multilabel y (its columns are the labels).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, classes, incremental=True)

    def _fit(self, X, y, sample_weight, classes, incremental):
        first_pass = not hasattr(self, "trainer_") or (not self.warm_start and not incremental)
        X, y = _validate_data(self, X, y, reset=first_pass, dtype=self._data_dtype(first_pass), multi_output=True,
                              accept_sparse=_SPARSE_FORMATS)
        X = _sparse_rows(X, X.dtype)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind == "multilabel-indicator":
            return self._fit_multilabel(X, y, sample_weight, first_pass, incremental)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"y: expected one column of class labels (binary or multiclass) or a multilabel "
                             f"indicator matrix (columns of 0/1), got a target of type {kind!r}")
        y = column_or_1d(y, warn=True)
        if getattr(self, "_multilabel", False) and not first_pass:
            raise ValueError("y: expected a multilabel indicator matrix as in the first fit, got one column "
                             "of class labels")
        self._multilabel = False
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
            self._encoder = LabelEncoder().fit(labels)
            self.classes_ = self._encoder.classes_
        seen = unique_labels(y)
        if not first_pass and not incremental and self.warm_start and set(seen) != set(self.classes_):
            raise ValueError(f"warm_start can only be used where `y` has the same classes as in the previous "
                             f"call to fit. Previously got {self.classes_}, `y` has {seen}")
        unknown = np.setdiff1d(seen, self.classes_)
        if unknown.size:
            raise ValueError(f"y: expected labels among classes_ {self.classes_!r}, got {unknown[0]!r}")
        ids = self._encoder.transform(y)
        k = len(self.classes_)
        if k <= 2:           # one class: the logit of "not this class", trained towards 0 (scikit-learn's)
            loss, t, n_out, out_act = "binary_cross_entropy", ids.astype(X.dtype), 1, "logistic"
        else:
            loss, t, n_out, out_act = "cross_entropy", ids.astype(np.int64), k, "softmax"
        self.n_outputs_ = 1
        # the split is stratified by the user's labels, so that its errors name them
        self._train(X, t, sw, y, first_pass, incremental, loss, n_out, check_random_state(self.random_state),
                    out_act)
        return self

    def _fit_multilabel(self, X, y, sample_weight, first_pass, incremental):
        """Multilabel: y an indicator matrix (n_samples, n_labels); one sigmoid
        output per label and binary_cross_entropy (the mean over the labels);
        classes_ = arange(n_labels), as scikit-learn's; partial_fit's classes
        is not needed (the labels are y's columns). Not stratified."""
        k = y.shape[1]
        if not first_pass and not getattr(self, "_multilabel", False):
            raise ValueError(f"y: expected one column of class labels as in the first fit, got a multilabel "
                             f"indicator matrix of shape {y.shape}")
        if not first_pass and k != self.n_outputs_:
            raise ValueError(f"y: expected {self.n_outputs_} label columns as in the first fit, got {k}")
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=X.dtype)
        if first_pass:
            self._multilabel = True
            self.classes_ = np.arange(k)
            self._encoder = LabelEncoder().fit(self.classes_)
            self.n_outputs_ = k
        self._train(X, (y != 0).astype(X.dtype), sw, None, first_pass, incremental, "binary_cross_entropy", k,
                    check_random_state(self.random_state), "logistic")
        return self

    def _proba(self, X):
        """Class probabilities (n_samples, n_classes) of the network's dtype, X already validated."""
        m = self.trainer_.model
        z = m._predict(X, self.n_threads or 1).astype(np.float64)
        if getattr(self, "_multilabel", False):
            p = sigmoid(z)
        elif z.shape[1] == 1:
            p1 = sigmoid(z[:, 0])
            p = np.column_stack([1 - p1, p1])
        else:
            p = softmax(z)
        return p.astype(m.dtype)

    def _val_score(self, Xv, tv, wv):
        z = self.trainer_.model._predict(Xv)
        if not np.isfinite(z).all():
            return float("nan")
        if getattr(self, "_multilabel", False):      # subset accuracy
            return float(accuracy_score(tv > 0.5, z > 0, sample_weight=wv))
        guess = self._ids(z)
        truth = tv.astype(np.int64) if tv.ndim == 1 else np.argmax(tv, axis=1)
        return float(accuracy_score(truth, guess, sample_weight=wv))

    def decision_function(self, X):
        """The logits: shape (n_samples,) for two classes (positive: classes_[1]), else (n_samples, n_classes)
        (multilabel: (n_samples, n_labels))."""
        X = self._check_X_predict(X)
        z = self.trainer_.model._predict(X, self.n_threads or 1)
        return z[:, 0] if z.shape[1] == 1 and not getattr(self, "_multilabel", False) else z

    def predict(self, X):
        """Predicted class labels, shape (n_samples,); multilabel: the indicator
        matrix (n_samples, n_labels) of int, 1 where the label's probability is > 0.5."""
        X = self._check_X_predict(X)
        z = self.trainer_.model._predict(X, self.n_threads or 1)
        if getattr(self, "_multilabel", False):
            return (z > 0).astype(np.int64)
        return self.classes_[self._ids(z)]

    def _ids(self, z):
        """Class ids from logits z: argmax, or logit > 0 for one logit (always 0 with one class)."""
        if z.shape[1] > 1:
            return np.argmax(z, axis=1)
        return (z[:, 0] > 0).astype(np.int64) if len(self.classes_) == 2 else np.zeros(z.shape[0], np.int64)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``."""
        return self._proba(self._check_X_predict(X))

    def predict_log_proba(self, X):
        """log(predict_proba(X)), computed from the logits (finite for confident predictions)."""
        X = self._check_X_predict(X)
        m = self.trainer_.model
        z = m._predict(X, self.n_threads or 1).astype(np.float64)
        if getattr(self, "_multilabel", False):
            # log(predict_proba) per label, as scikit-learn's; where the probability
            # rounds to 0, log sigmoid(z) = -softplus(-z) (finite)
            p = sigmoid(z).astype(m.dtype)
            with np.errstate(divide="ignore"):
                return np.where(p > 0, np.log(p), -softplus(-z)).astype(m.dtype)
        if z.shape[1] == 1:
            z = np.column_stack([np.zeros_like(z[:, 0]), z[:, 0]])
        return log_softmax(z).astype(m.dtype)
