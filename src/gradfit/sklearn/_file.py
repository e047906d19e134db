"""The estimators' model file: ``est.save(path)`` and ``gradfit.sklearn.load(path)``.

An estimator is saved as its Trainer's file (gradfit.io: parameters, optimizer
state, generator, history) plus, in the JSON metadata, the estimator's class,
hyperparameters and fitted attributes. Nothing is pickled; loading checks
every value's type and rebuilds the label encoder from classes_.
"""
import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from ._classifier import GradfitClassifier
from ._regressor import GradfitRegressor

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
    from .. import io
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
