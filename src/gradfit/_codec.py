"""What a model and a Trainer put in a gradfit file, and how it is read back.

gradfit._npzfile writes and reads the archive; this module turns a model's
description or a Trainer's ``state_dict()`` into metadata and members, and
back, checking every field of an untrusted file against its real range. It
builds no MLP or Trainer itself (gradfit.io does, from what it returns), so
the model and the Trainer can save themselves without importing io.

The file's layout (members and JSON) is described in gradfit.io.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import optimizers, schedules
from ._names import ACTIVATIONS, BACKENDS, LOSSES, OPTIMIZERS
from ._npzfile import (Archive, FileDefect, encode_float, get, get_float, get_int, header, jsonable, short,
                       to_bytes)
from ._validate import MAX_PARAMS, MAX_WIDTH

MAX_LAYERS = 10_000
MAX_HISTORY = 1 << 31               # epochs

HISTORY_KEYS = ("loss", "lr", "penalty", "val_loss", "val_accuracy")
SCHEDULES = {
    # kind: its settings
    "Constant": (),
    "Step": ("every", "factor"),
    "Exponential": ("gamma",),
    "InverseScaling": ("power_t",),
    "Cosine": ("epochs", "warmup", "min_lr"),
    "ReduceOnPlateau": ("patience", "factor", "min_delta", "min_lr"),
}
OPTIMIZER_SETTINGS = {
    "sgd": ("lr", "momentum", "nesterov"),
    "adam": ("lr", "beta1", "beta2", "eps"),
    "adamw": ("lr", "beta1", "beta2", "eps", "weight_decay"),
}
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")
_OPTIMIZER_CLASSES = {"sgd": optimizers.SGD, "adam": optimizers.Adam, "adamw": optimizers.AdamW}


# -- the model --------------------------------------------------------------------

def model_meta(model: Any) -> dict[str, Any]:
    """The metadata's "model" object: architecture and dtype."""
    return {"layer_sizes": list(model.layer_sizes), "activations": list(model.activations),
            "dtype": model.dtype.name}


def check_finite_member(values: np.ndarray, what: str) -> None:
    """ValueError before anything is written when `values` (a member to be
    saved) holds NaN or inf: load refuses such a file, so save does not write one."""
    finite = np.isfinite(values)
    if not finite.all():
        bad = int(values.size - np.count_nonzero(finite))
        first = int(np.flatnonzero(~finite.reshape(-1))[0])
        raise ValueError(f"{what}: expected finite values to save, got {bad} NaN or inf value(s) (the first at "
                         f"index {first}); nothing was written (an existing file is unchanged)")


def model_file(model: Any, extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(metadata, members) of a model file."""
    check_finite_member(model.params, "model.params")
    return header("model", model_meta(model), extra), {"params": model.params}


def model_bytes(model: Any) -> bytes:
    """The bytes of `model`'s file, in memory."""
    return to_bytes(*model_file(model))


def check_architecture(meta: dict[str, Any]) -> tuple[list[int], list[str], np.dtype, int]:
    """The model's description from the metadata, and its parameter count
    (computed with Python ints: exact), all bounded."""
    m = get(meta, "model", dict, "metadata")
    sizes = get(m, "layer_sizes", list, "model")
    acts = get(m, "activations", list, "model")
    dtype_name = get(m, "dtype", str, "model")
    if not 2 <= len(sizes) <= MAX_LAYERS:
        raise FileDefect(f"metadata: expected 2 to {MAX_LAYERS} layer sizes, got {len(sizes)}")
    for i, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= MAX_WIDTH:
            raise FileDefect(f"metadata: expected model.layer_sizes[{i}] to be an integer in [1, {MAX_WIDTH}], "
                             f"got {short(s)}")
    if len(acts) != len(sizes) - 1:
        raise FileDefect(f"metadata: expected {len(sizes) - 1} activations (one per layer), got {len(acts)}")
    for i, a in enumerate(acts):
        if not isinstance(a, str) or a not in ACTIVATIONS:
            raise FileDefect(f"metadata: model.activations[{i}]: expected one of {sorted(ACTIVATIONS)}, "
                             f"got {short(a)}")
    if dtype_name not in ("float32", "float64"):
        raise FileDefect(f"metadata: model.dtype: expected 'float32' or 'float64', got {short(dtype_name)}")
    n_params = sum((i + 1) * o for i, o in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMS:
        raise FileDefect(f"metadata: the layer sizes give {n_params} parameters, more than gradfit's limit "
                         f"of {MAX_PARAMS} (2**40)")
    return sizes, acts, np.dtype(dtype_name), n_params


def read_params(archive: Archive, name: str, dtype: np.dtype, n_params: int) -> np.ndarray:
    """A parameter-like member: its count is checked against the metadata and
    the member's byte size (itself within the file) before anything is read."""
    a = archive.read(name, "f", count=n_params, itemsizes=(dtype.itemsize,))
    if not np.isfinite(a).all():
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise FileDefect(f"member {name!r}: expected finite values, got {bad} NaN or inf value(s)")
    return a


def read_model(archive: Archive, meta: dict[str, Any]) -> tuple[list[int], list[str], np.dtype, np.ndarray]:
    """(layer sizes, activations, dtype, params) of a model file or of a Trainer file's model."""
    sizes, acts, dtype, n_params = check_architecture(meta)
    expected = {"metadata", "params"}
    if meta["kind"] == "model" and archive.names() != expected:
        raise FileDefect(f"expected the members {sorted(expected)}, got {sorted(archive.names())}")
    return sizes, acts, dtype, read_params(archive, "params", dtype, n_params)


# -- plain values in the metadata (an estimator's attributes) --------------------------

_ARRAY_KINDS = "biufU"


def encode_value(value, name):
    """A value of plain data (None, bool, numbers, str, tuples, lists, arrays of
    numbers or strings) as JSON, for a file's "extra" metadata (e.g. an
    estimator's fitted attributes); decode_value reads it back, checking every
    part. `name` is named in errors."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if np.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [encode_value(v, name) for v in value]}
    if isinstance(value, list):
        return [encode_value(v, name) for v in value]
    if isinstance(value, np.ndarray):
        a = value
        if a.dtype.kind == "O" and all(isinstance(v, str) for v in a.ravel()):
            a = a.astype(str)                              # feature names
            return {"array": a.tolist(), "dtype": "names"}
        if a.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"{name}: cannot store an array of dtype {a.dtype} in a gradfit file "
                            f"(class labels must be numbers or strings)")
        return {"array": [encode_value(v, name) for v in a.ravel().tolist()], "shape": list(a.shape),
                "dtype": a.dtype.str}
    raise TypeError(f"{name}: cannot store {type(value).__name__} in a gradfit file")


def decode_value(value, name, path):
    """The value encode_value wrote, checked (`path`, `name`: named in errors)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode_value(v, name, path) for v in value]
    if isinstance(value, dict) and set(value) == {"float"} and value["float"] in ("inf", "-inf", "nan"):
        return float(value["float"])
    if isinstance(value, dict) and set(value) == {"tuple"} and isinstance(value["tuple"], list):
        return tuple(decode_value(v, name, path) for v in value["tuple"])
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
        items = [decode_value(v, name, path) for v in value["array"]]
        if len(items) != int(np.prod(shape)):
            raise ValueError(f"{path}: estimator attribute {name}: expected {int(np.prod(shape))} values")
        try:
            return np.asarray(items, dtype=dtype).reshape(shape)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{path}: estimator attribute {name}: values do not fit dtype {dtype}") from None
    raise ValueError(f"{path}: estimator attribute {name}: unexpected value {str(value)[:80]}")


# -- the Trainer: writing -------------------------------------------------------------

def trainer_file(state: dict[str, Any], model: Any,
                 extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(metadata, members) of a Trainer file, from ``trainer.state_dict()``."""
    settings = state["settings"]
    opt = settings["optimizer"]
    if type(opt) not in _OPTIMIZER_CLASSES.values():
        raise TypeError(f"trainer.optimizer: only gf.SGD, gf.Adam and gf.AdamW can be saved, got {type(opt).__name__}")
    check_finite_member(model.params, "model.params")
    check_finite_member(state["optimizer_state"], "trainer.state (the optimizer's state)")
    n = model.n_params
    if opt.name != "sgd" and (state["optimizer_state"][n:] < 0).any():
        raise ValueError("trainer.state: Adam's second moments must be >= 0; nothing was written")
    if state["best"] is not None and state["best"][2] is not None:
        check_finite_member(state["best"][2], "trainer's best params (early stopping)")
    arrays: dict[str, np.ndarray] = {
        "params": model.params, "state": state["optimizer_state"],
        "step_count": np.asarray([state["step_count"]], dtype=np.int64)}
    for key, values in state["history"].items():
        if key not in HISTORY_KEYS:
            raise ValueError(f"trainer.history: unknown key {key!r}")
        arrays["history_" + key] = np.asarray(values, dtype=np.float64).reshape(-1)
    best = None
    if state["best"] is not None:
        value, epoch, params = state["best"]
        best = {"value": encode_float(value), "epoch": int(epoch), "has_params": params is not None}
        if params is not None:
            arrays["best_params"] = params
    pending = None
    if state["pending"] is not None:
        N, order, next_batch, sums = state["pending"]
        if not all(np.isfinite(sums)):
            raise ValueError(f"trainer.pending: the partial epoch's sums {list(sums)} are not finite; "
                             f"nothing was written (an existing file is unchanged)")
        pending = {"n_rows": int(N), "next_batch": int(next_batch), "sums": [encode_float(s) for s in sums],
                   "has_order": order is not None}
        if order is not None:
            arrays["pending_order"] = np.asarray(order, dtype=np.int64)
    meta = header("trainer", model_meta(model), extra)
    meta["trainer"] = dict(
        {k: settings[k] for k in ("loss", "l2", "huber_delta", "batch_size", "chunk_rows", "window_chunks",
                                  "validation_fraction", "early_stopping", "patience", "min_delta",
                                  "restore_best_weights", "progress", "backend", "tol", "n_iter_no_change",
                                  "max_epochs")},
        optimizer={"name": opt.name, "settings": {k: jsonable(getattr(opt, k)) for k in OPTIMIZER_SETTINGS[opt.name]}},
        shuffle=True if settings["shuffle"] is None else settings["shuffle"],
        shuffle_auto=settings["shuffle"] is None, split_seed=int(state["split_seed"]), epoch=int(state["epoch"]),
        history_keys=list(state["history"]), rng=jsonable(state["rng"]), schedule=_schedule_meta(settings["lr_schedule"]),
        best=best, wait=int(state["wait"]), pending=pending)
    return meta, arrays


def _schedule_meta(sched: Any) -> dict[str, Any]:
    kind = type(sched).__name__
    meta: dict[str, Any]
    if kind in SCHEDULES and type(sched).__module__ == "gradfit.schedules":
        meta = {"kind": kind, "settings": {k: jsonable(getattr(sched, k)) for k in SCHEDULES[kind]}}
    else:
        meta = {"kind": "custom", "repr": repr(sched)}
    state = sched.state() if isinstance(sched, schedules.Schedule) else {}
    try:
        meta["state"] = jsonable(state)
    except TypeError as exc:
        raise ValueError(f"trainer.schedule: its state() is not JSON data ({exc})") from None
    return meta


# -- the Trainer: reading ---------------------------------------------------------------

def read_trainer(archive: Archive, meta: dict[str, Any], lr_schedule: Any) -> dict[str, Any]:
    """Everything a Trainer file holds, checked: {"model": (sizes, acts, dtype,
    params), "settings": the Trainer's keyword arguments, "state": what
    ``Trainer.load_state_dict`` takes}. `lr_schedule` (or None) replaces the
    saved schedule."""
    if meta["kind"] != "trainer":
        raise FileDefect("holds a model, not a Trainer: read it with gradfit.load(path)")
    sizes, acts, dtype, n_params = check_architecture(meta)
    t = get(meta, "trainer", dict, "metadata")
    settings = _read_settings(t)
    epoch = get_int(t, "epoch", "trainer", 0, MAX_HISTORY)
    assert epoch is not None
    history_keys = get(t, "history_keys", list, "trainer")
    for k in history_keys:
        if k not in HISTORY_KEYS:
            raise FileDefect(f"metadata: trainer.history_keys: unknown key {short(k)}")
    if len(set(history_keys)) != len(history_keys) or not {"loss", "lr"} <= set(history_keys):
        raise FileDefect(f"metadata: trainer.history_keys: expected distinct keys including 'loss' and 'lr', "
                         f"got {short(history_keys)}")
    best = get(t, "best", dict, "trainer", optional=True)
    pending = get(t, "pending", dict, "trainer", optional=True)
    # the members, in the order of the metadata's promises
    expected = {"metadata", "params", "state", "step_count"} | {"history_" + k for k in history_keys}
    if best is not None and get(best, "has_params", bool, "trainer.best"):
        expected.add("best_params")
    if pending is not None and get(pending, "has_order", bool, "trainer.pending"):
        expected.add("pending_order")
    if archive.names() != expected:
        raise FileDefect(f"expected the members {sorted(expected)}, got {sorted(archive.names())}")
    params = read_params(archive, "params", dtype, n_params)
    opt_name = settings["optimizer"].name
    opt_state = read_params(archive, "state", dtype, n_params * (1 if opt_name == "sgd" else 2))
    if opt_name != "sgd" and (opt_state[n_params:] < 0).any():
        raise FileDefect("member 'state': Adam's second moments must be >= 0")
    step_count = archive.read("step_count", "i", count=1, itemsizes=(8,))
    if not 0 <= int(step_count[0]) < (1 << 62):
        raise FileDefect(f"member 'step_count': expected a count >= 0, got {int(step_count[0])}")
    state = {"optimizer_state": opt_state, "step_count": int(step_count[0]), "epoch": epoch,
             "history": _read_history(archive, history_keys, epoch),
             "rng": _read_rng(get(t, "rng", dict, "trainer")),
             "split_seed": get_int(t, "split_seed", "trainer", 0, (1 << 62) - 1),
             "wait": get_int(t, "wait", "trainer", 0, 1 << 62), "best": None, "pending": None}
    if best is not None:
        value = get_float(best, "value", "trainer.best")
        best_params = read_params(archive, "best_params", dtype, n_params) if "best_params" in expected else None
        state["best"] = (value, get_int(best, "epoch", "trainer.best", 0, epoch), best_params)
    if pending is not None:
        state["pending"] = _read_pending(archive, pending, settings["batch_size"], "pending_order" in expected)
    settings["lr_schedule"] = _read_schedule(get(t, "schedule", dict, "trainer"), lr_schedule)
    return {"model": (sizes, acts, dtype, params), "settings": settings, "state": state}


def _read_settings(t: dict[str, Any]) -> dict[str, Any]:
    """The Trainer's keyword arguments saved in the file (the Trainer checks their values again)."""
    w = "trainer"
    opt = get(t, "optimizer", dict, w)
    opt_name = get(opt, "name", str, "trainer.optimizer")
    if opt_name not in OPTIMIZERS or opt_name not in OPTIMIZER_SETTINGS:
        raise FileDefect(f"metadata: trainer.optimizer.name: expected one of {sorted(OPTIMIZER_SETTINGS)}, "
                         f"got {short(opt_name)}")
    opt_settings = get(opt, "settings", dict, "trainer.optimizer")
    if set(opt_settings) != set(OPTIMIZER_SETTINGS[opt_name]):
        raise FileDefect(f"metadata: trainer.optimizer.settings: expected the keys "
                         f"{sorted(OPTIMIZER_SETTINGS[opt_name])}, got {sorted(opt_settings)}")
    for k in opt_settings:
        get(opt_settings, k, bool if k == "nesterov" else (int, float), "trainer.optimizer.settings")
    loss = get(t, "loss", str, w)
    if loss not in LOSSES:
        raise FileDefect(f"metadata: trainer.loss: expected one of {sorted(LOSSES)}, got {short(loss)}")
    backend = get(t, "backend", str, w)
    if backend not in BACKENDS:
        raise FileDefect(f"metadata: trainer.backend: expected one of {list(BACKENDS)}, got {short(backend)}")
    shuffle = get(t, "shuffle", (bool, str), w)
    if shuffle not in (True, False, "window"):
        raise FileDefect(f"metadata: trainer.shuffle: expected true, false or 'window', got {short(shuffle)}")
    settings = {k: get(t, k, (int, float), w) for k in ("l2", "huber_delta", "min_delta")}
    settings.update({k: get(t, k, bool, w) for k in ("early_stopping", "restore_best_weights", "progress")})
    settings.update(
        optimizer=_OPTIMIZER_CLASSES[opt_name](**opt_settings), loss=loss, backend=backend,
        shuffle=None if get(t, "shuffle_auto", bool, w, optional=True) else shuffle,
        chunk_rows=get_int(t, "chunk_rows", w, 1, 1 << 62, optional=True) or 65536,
        window_chunks=get_int(t, "window_chunks", w, 1, 1 << 62, optional=True) or 8,
        batch_size=get_int(t, "batch_size", w, 1, 1 << 62, optional=True),
        patience=get_int(t, "patience", w, 1, 1 << 62),
        validation_fraction=get(t, "validation_fraction", (int, float), w, optional=True),
        tol=get_float(t, "tol", w, optional=True) if "tol" in t else 1e-4,
        n_iter_no_change=get_int(t, "n_iter_no_change", w, 1, 1 << 62, optional=True) or 10,
        max_epochs=get_int(t, "max_epochs", w, 1, 1 << 62, optional=True) or 200)
    return settings


def _read_history(archive: Archive, keys: list[str], epoch: int | None) -> dict[str, list[float]]:
    history = {}
    for k in keys:
        h = archive.read("history_" + k, "f", max_count=epoch, itemsizes=(8,))
        if k in ("loss", "lr", "penalty") and h.size != epoch:
            raise FileDefect(f"member 'history_{k}': expected {epoch} values (one per epoch), got {h.size}")
        history[k] = [float(v) for v in h]
    return history


def _read_schedule(meta: dict[str, Any], given: Any) -> Any:
    kind = get(meta, "kind", str, "trainer.schedule")
    state = get(meta, "state", dict, "trainer.schedule")
    if given is not None:
        schedule = schedules.as_schedule(given)
    elif kind == "custom":
        raise FileDefect(f"its lr_schedule was a function or a Schedule of your own "
                         f"({short(meta.get('repr'))}), which is not saved: pass it again, "
                         f"load_trainer(path, lr_schedule=...)")
    elif kind in SCHEDULES:
        settings = get(meta, "settings", dict, "trainer.schedule")
        if set(settings) != set(SCHEDULES[kind]):
            raise FileDefect(f"metadata: trainer.schedule.settings: expected the keys {sorted(SCHEDULES[kind])} "
                             f"for {kind}, got {sorted(settings)}")
        for k in settings:
            get(settings, k, (int, float), "trainer.schedule.settings")
        schedule = getattr(schedules, kind)(**settings)
    else:
        raise FileDefect(f"metadata: trainer.schedule.kind: expected one of {sorted(SCHEDULES) + ['custom']}, "
                         f"got {short(kind)}")
    if state:
        decoded = {}
        for k, v in state.items():
            decoded[k] = get_float(state, k, "trainer.schedule.state") if isinstance(v, (str, float)) else v
        schedule.set_state(decoded)
    return schedule


# Each bit generator's state, field by field: (where, name) -> the field's
# form. ("uints", bits, n): a list of n unsigned `bits`-bit integers;
# ("uint", bits): one; ("range", lo, hi): an integer in [lo, hi]; ("odd", bits):
# an odd unsigned integer. NumPy's state setters check few of these (MT19937's
# pos, Philox's buffer_pos are used as indices unchecked), so all are checked here.
_TAIL = {"has_uint32": ("range", 0, 1), "uinteger": ("uint", 32)}
RNG_FIELDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # name: (the "state" object's fields, the top level's other fields)
    "MT19937": ({"key": ("uints", 32, 624), "pos": ("range", 0, 624)}, {}),
    "PCG64": ({"state": ("uint", 128), "inc": ("odd", 128)}, _TAIL),
    "PCG64DXSM": ({"state": ("uint", 128), "inc": ("odd", 128)}, _TAIL),
    "Philox": ({"counter": ("uints", 64, 4), "key": ("uints", 64, 2)},
               dict(_TAIL, buffer=("uints", 64, 4), buffer_pos=("range", 0, 4))),
    "SFC64": ({"state": ("uints", 64, 4)}, _TAIL),
}
assert set(RNG_FIELDS) == set(BIT_GENERATORS)


def _rng_field(d: Any, key: str, form: tuple[Any, ...], where: str) -> Any:
    """Field `key` of `d` checked against `form` (see RNG_FIELDS); uint lists
    as NumPy arrays. Errors are ValueError: _read_rng names the generator."""
    if not isinstance(d, dict) or key not in d:
        raise ValueError(f"{where}{key} is missing")
    value = d[key]
    kind = form[0]
    if kind == "uints":
        bits, n = form[1], form[2]
        if not isinstance(value, list) or len(value) != n \
                or not all(type(v) is int and 0 <= v < 1 << bits for v in value):
            raise ValueError(f"{where}{key}: expected {n} unsigned {bits}-bit integers, got {short(value)}")
        return np.array(value, dtype=np.uint32 if bits == 32 else np.uint64)
    if type(value) is not int:
        raise ValueError(f"{where}{key}: expected an integer, got {type(value).__name__} {short(value)}")
    if kind == "range":
        lo, hi = form[1], form[2]
        if not lo <= value <= hi:
            raise ValueError(f"{where}{key}: expected an integer in [{lo}, {hi}], got {short(value)}")
        return value
    bits = form[1]
    if not 0 <= value < 1 << bits or (kind == "odd" and value % 2 == 0):
        what = "an odd" if kind == "odd" else "an"
        raise ValueError(f"{where}{key}: expected {what} unsigned {bits}-bit integer, got {short(value)}")
    return value


def _read_rng(state: dict[str, Any]) -> dict[str, Any]:
    """A bit generator's state, every field checked against its real range
    (RNG_FIELDS), then set on a new bit generator of its kind."""
    name = get(state, "bit_generator", str, "trainer.rng")
    if name not in BIT_GENERATORS:
        raise FileDefect(f"metadata: trainer.rng.bit_generator: expected one of {list(BIT_GENERATORS)}, "
                         f"got {short(name)}")
    inner_fields, outer_fields = RNG_FIELDS[name]
    try:
        inner = state.get("state")
        for d, fields, where, extra in ((state, outer_fields, "", {"bit_generator", "state"}),
                                        (inner, inner_fields, "state.", set())):
            if not isinstance(d, dict) or set(d) != set(fields) | extra:
                got = sorted(d) if isinstance(d, dict) else type(d).__name__
                raise ValueError(f"{where or 'the keys: '}expected {sorted(set(fields) | extra)}, got {short(got)}")
        value: dict[str, Any] = {"bit_generator": name,
                                 "state": {k: _rng_field(inner, k, f, "state.") for k, f in inner_fields.items()}}
        value.update({k: _rng_field(state, k, f, "") for k, f in outer_fields.items()})
        bitgen = getattr(np.random, name)()
        bitgen.state = value
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise FileDefect(f"metadata: trainer.rng: not a valid {name} state ({exc})") from None
    return bitgen.state


def _read_pending(archive: Archive, pending: dict[str, Any], batch_size: int | None,
                  has_order: bool) -> tuple[int, np.ndarray | None, int, tuple[float, ...]]:
    w = "trainer.pending"
    n_rows = get_int(pending, "n_rows", w, 1, 1 << 62)
    assert n_rows is not None
    batch = n_rows if batch_size is None else min(batch_size, n_rows)
    next_batch = get_int(pending, "next_batch", w, 0, (n_rows - 1) // batch)
    assert next_batch is not None
    sums = get(pending, "sums", list, w)
    if len(sums) != 4:
        raise FileDefect(f"metadata: {w}.sums: expected 4 numbers, got {len(sums)}")
    values = tuple(get_float({"v": s}, "v", f"{w}.sums") or 0.0 for s in sums)
    # (loss, penalty, weight, rows) of the epoch's batches so far: finite, the
    # weight >= 0, the rows a whole number of the epoch's rows
    if not all(np.isfinite(values)):
        raise FileDefect(f"metadata: {w}.sums: expected finite numbers, got {short(sums)}")
    if values[2] < 0 or values[3] < 0 or values[3] != int(values[3]):
        raise FileDefect(f"metadata: {w}.sums: expected a weight >= 0 and a whole row count >= 0, "
                         f"got {short(sums)}")
    order = None
    if has_order:
        # bounded by the metadata's row count and by the member's size in the file
        order = archive.read("pending_order", "i", count=n_rows, itemsizes=(8,))
        # the C core indexes the data with these: they must be a permutation of 0..N-1
        if not np.array_equal(np.sort(order), np.arange(n_rows, dtype=np.int64)):
            raise FileDefect(f"member 'pending_order': expected a permutation of 0..{n_rows - 1}")
    return n_rows, order, next_batch, values
