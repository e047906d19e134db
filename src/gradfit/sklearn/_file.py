"""The estimators' model file: ``est.save(path)`` and ``gradfit.sklearn.load(path)``.

An estimator is saved as its Trainer's file (gradfit.io: parameters, optimizer
state, generator, history) plus, in the JSON metadata, the estimator's class,
hyperparameters and fitted attributes. Nothing is pickled; loading checks
every value's type and rebuilds the label encoder from classes_.
"""
import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from .._codec import decode_value, encode_value
from ._classifier import GradfitClassifier
from ._regressor import GradfitRegressor

_ESTIMATORS = {"GradfitRegressor": GradfitRegressor, "GradfitClassifier": GradfitClassifier}
def _save(self, path):
    """Write the fitted estimator to `path` (a gradfit model file: no pickle).

    ``gradfit.sklearn.load(path)`` gives it back; ``predict``, ``score`` and
    ``partial_fit`` continue exactly. Parameters
    ----------
    path : str or path-like
    """
    check_is_fitted(self)
    from .. import io
    state = {k: encode_value(v, k) for k, v in self.__dict__.items() if k not in ("trainer_", "_encoder")}
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
    from .. import io
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
        est.__dict__[key] = decode_value(value, key, name)
    params = cls().get_params()
    for p in ("learning_rate", "power_t", "max_fun"):    # added by issue 22: older files train as the default
        est.__dict__.setdefault(p, params[p])
    missing = [p for p in params if p not in est.__dict__]
    if missing:
        raise ValueError(f"{name}: the saved estimator lacks the parameter {missing[0]!r}")
    try:
        est._validate_params()
    except Exception as exc:  # noqa: BLE001 - scikit-learn's InvalidParameterError and friends
        raise ValueError(f"{name}: a saved parameter is invalid ({exc})") from None
    est.trainer_ = io.load_trainer(path)
    _fill_newer_attributes(est)
    if cls is GradfitClassifier:
        if not isinstance(est.__dict__.get("classes_"), np.ndarray):
            raise ValueError(f"{name}: the saved classifier has no classes_")
        est._encoder = LabelEncoder().fit(est.classes_)
    return est


def _fill_newer_attributes(est):
    """Fitted attributes that files written before issue 22 lack, from the Trainer."""
    t = est.trainer_
    b = est._units(t.loss, t.model.n_outputs)[1]
    for key, value in (("_loss_units", est._units(t.loss, t.model.n_outputs)),
                       ("_lr_factor", b if est.solver in ("sgd", "lbfgs") else 1.0),
                       ("_learning_rate", float(est.learning_rate_init)), ("t_", 0),
                       ("n_layers_", len(t.model.layer_sizes)),
                       ("out_activation_", "softmax" if t.loss == "cross_entropy" else
                        "logistic" if t.loss == "binary_cross_entropy" else "identity")):
        est.__dict__.setdefault(key, value)


GradfitRegressor.save = _save
GradfitClassifier.save = _save
