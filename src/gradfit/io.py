"""The model file: save and load models and Trainers, safely.

A gradfit file is one ``.npz`` archive (a zip of ``.npy`` members, stored
uncompressed) that ``numpy.load(path, allow_pickle=False)`` can open too.
Nothing in it is ever unpickled or executed: every member is a plain numeric
array, and the metadata is JSON text held in a ``uint8`` array.

Members (all 1-D):

``metadata``      uint8, the UTF-8 bytes of a JSON object (format below)
``params``        float32 / float64, ``model.params`` (W0, b0, W1, b1, ...)

and for a Trainer:

``state``         the optimizer state buffer (model dtype; SGD: n_params, Adam/AdamW: 2 n_params)
``step_count``    int64, one value
``history_<key>`` float64, one per history key ("loss", "lr", "penalty", "val_loss", "val_accuracy")
``best_params``   (optional) early stopping's best parameters (model dtype)
``pending_order`` (optional) int64, the row order of a partial epoch

The JSON metadata::

    {"format": "gradfit", "format_version": 1, "kind": "model" | "trainer",
     "gradfit_version": "0.1.0",
     "model": {"layer_sizes": [...], "activations": [...], "dtype": "float64"},
     "extra": {...},                      # optional, free JSON (e.g. an estimator's)
     "trainer": {...}}                    # kind "trainer" only: see save_trainer

Non-finite floats in the metadata (a schedule's "best so far" before any
epoch, ...) are written as the strings "inf", "-inf" and "nan".

Writes are atomic: the archive goes to a temporary file in the target's
directory, is flushed and fsync'ed, then renamed over the target.

``load`` checks everything before it allocates anything sized by the file: the
archive's structure (uncompressed members, no encryption, each inside the
file), the metadata's size and JSON types, the format name and version, the
architecture (known activations, sizes within the model's limits), then each
member's ``.npy`` header (dtype, 1-D, element count matching the metadata and
the member's byte size), and finally the values (finite parameters, a valid
permutation for a partial epoch, ...). Any defect raises ``ValueError`` whose
message starts with the file's path and says what is wrong.
"""
from __future__ import annotations

import io
import json
import math
import os
import secrets
import struct
import zipfile
import zlib
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from ._names import ACTIVATIONS, BACKENDS, LOSSES, OPTIMIZERS
from .model import MAX_PARAMS, MAX_WIDTH, MLP

if TYPE_CHECKING:
    from .training import Trainer

__all__ = ["FORMAT", "FORMAT_VERSION", "load", "save_model", "load_model", "save_trainer", "load_trainer",
           "read_metadata"]

FORMAT = "gradfit"
FORMAT_VERSION = 1

# Bounds checked before anything is allocated.
MAX_METADATA_BYTES = 1 << 22        # 4 MiB of JSON (a trainer's is ~1 kB; MT19937's state ~7 kB)
MAX_LAYERS = 10_000
MAX_MEMBERS = 64
MAX_HISTORY = 1 << 31               # epochs
_NPY_HEADER_LIMIT = 10_000          # numpy's own default bound on .npy headers

_HISTORY_KEYS = ("loss", "lr", "penalty", "val_loss", "val_accuracy")
_SCHEDULES = {
    # kind: (settings, has state)
    "Constant": (),
    "Step": ("every", "factor"),
    "Exponential": ("gamma",),
    "InverseScaling": ("power_t",),
    "Cosine": ("epochs", "warmup", "min_lr"),
    "ReduceOnPlateau": ("patience", "factor", "min_delta", "min_lr"),
}
_OPTIMIZER_SETTINGS = {
    "sgd": ("lr", "momentum", "nesterov"),
    "adam": ("lr", "beta1", "beta2", "eps"),
    "adamw": ("lr", "beta1", "beta2", "eps", "weight_decay"),
}
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


class _Bad(Exception):
    """A defect of the file; load turns it into ValueError("<path>: ...")."""


# -- writing -------------------------------------------------------------------

def _encode_float(x: float) -> float | str:
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _jsonable(value: Any) -> Any:
    """Plain JSON types from numpy scalars / arrays (a bit generator's state)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _encode_float(float(value))
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in a gradfit file")


def _write_atomic(path: str | os.PathLike[str], write: Any) -> None:
    """Calls write(fileobj) on a new temporary file next to `path`, flushes and
    fsyncs it, then renames it over `path` (atomic on POSIX and Windows): a
    reader sees the old file or the new one, never a partial one. The
    temporary file is created with mode 0o666 minus the umask, like any new
    file, and is removed if anything fails."""
    target = os.fspath(path)
    if not isinstance(target, str):
        raise TypeError(f"path: expected a str or os.PathLike of str, got {type(path).__name__}")
    directory = os.path.dirname(os.path.abspath(target))
    base = os.path.basename(target)
    if not base:
        raise ValueError(f"path: expected a file name, got the directory {target!r}")
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):      # make the rename itself durable (POSIX)
        try:
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)


def _npz_writer(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    """A function writing the archive (metadata as JSON, then the arrays) to a binary file."""
    text = json.dumps(metadata, allow_nan=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    members = {"metadata": np.frombuffer(text, dtype=np.uint8)}
    members.update(arrays)

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, array in members.items():
                array = np.ascontiguousarray(array)
                with zf.open(name + ".npy", "w", force_zip64=array.nbytes >= (1 << 31) - 4096) as out:
                    np.lib.format.write_array(out, array, allow_pickle=False)

    return write


def _write_npz(path: str | os.PathLike[str], metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    _write_atomic(path, _npz_writer(metadata, arrays))


def model_bytes(model: MLP) -> bytes:
    """The bytes save_model would write for `model` (how gf.train_many sends
    a model to another process: no pickle)."""
    if not isinstance(model, MLP):
        raise TypeError(f"model: expected a gradfit.MLP, got {type(model).__name__}")
    buffer = io.BytesIO()
    _npz_writer(_header("model", model, None), {"params": model.params})(buffer)
    return buffer.getvalue()


def _model_metadata(model: MLP) -> dict[str, Any]:
    return {"layer_sizes": list(model.layer_sizes), "activations": list(model.activations),
            "dtype": model.dtype.name}


def _header(kind: str, model: MLP, extra: dict[str, Any] | None) -> dict[str, Any]:
    from . import __version__
    meta: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind,
                            "gradfit_version": __version__, "model": _model_metadata(model)}
    if extra is not None:
        if not isinstance(extra, dict):
            raise TypeError(f"extra: expected a dict of JSON values, got {type(extra).__name__}")
        try:
            json.dumps(extra, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra: expected JSON values (finite floats), got {exc}") from None
        meta["extra"] = extra
    return meta


def save_model(model: MLP, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None) -> None:
    """Writes `model` to `path` (exactly that name: no suffix is added).

    Parameters
    ----------
    model : MLP
    path : str or os.PathLike
    extra : dict, optional
        JSON-serialisable data stored with the model (e.g. by an estimator);
        ``load_model(path, with_extra=True)`` returns it.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"model: expected a gradfit.MLP, got {type(model).__name__}")
    _write_npz(path, _header("model", model, extra), {"params": model.params})


def save_trainer(trainer: Trainer, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None) -> None:
    """Writes a Trainer (its model, optimizer and state, step count, RNG,
    epoch, history, schedule, early stopping, partial epoch and settings) to
    `path`. Callbacks and validation_data are not saved: give them to
    load_trainer again. A function lr_schedule (or a Schedule class of your
    own) is saved by name only and must be passed to load_trainer again too."""
    from .optimizers import SGD, Adam, AdamW
    from .schedules import Schedule
    from .training import Trainer
    if not isinstance(trainer, Trainer):
        raise TypeError(f"trainer: expected a gradfit.Trainer, got {type(trainer).__name__}")
    model = trainer.model
    opt = trainer.optimizer
    if type(opt) not in (SGD, Adam, AdamW):
        raise TypeError(f"trainer.optimizer: only gf.SGD, gf.Adam and gf.AdamW can be saved, got {type(opt).__name__}")
    settings = {k: _jsonable(getattr(opt, k)) for k in _OPTIMIZER_SETTINGS[opt.name]}

    sched = trainer.schedule
    sched_meta: dict[str, Any]
    kind = type(sched).__name__
    if kind in _SCHEDULES and type(sched).__module__ == "gradfit.schedules":
        sched_meta = {"kind": kind, "settings": {k: _jsonable(getattr(sched, k)) for k in _SCHEDULES[kind]}}
    else:
        sched_meta = {"kind": "custom", "repr": repr(sched)}
    state = sched.state() if isinstance(sched, Schedule) else {}
    try:
        sched_meta["state"] = _jsonable(state)
    except TypeError as exc:
        raise ValueError(f"trainer.schedule: its state() is not JSON data ({exc})") from None

    arrays: dict[str, np.ndarray] = {
        "params": model.params,
        "state": trainer.state,
        "step_count": np.asarray(trainer.step_count, dtype=np.int64).reshape(1),
    }
    history_keys = []
    for key, values in trainer.history.items():
        if key not in _HISTORY_KEYS:
            raise ValueError(f"trainer.history: unknown key {key!r}")
        history_keys.append(key)
        arrays["history_" + key] = np.asarray(values, dtype=np.float64).reshape(-1)

    best = None
    if trainer._best is not None:
        value, epoch, params = trainer._best
        best = {"value": _encode_float(value), "epoch": int(epoch), "has_params": params is not None}
        if params is not None:
            arrays["best_params"] = params
    pending = None
    if trainer._pending is not None:
        N, order, next_batch, sums = trainer._pending
        pending = {"n_rows": int(N), "next_batch": int(next_batch), "sums": [_encode_float(s) for s in sums],
                   "has_order": order is not None}
        if order is not None:
            arrays["pending_order"] = np.asarray(order, dtype=np.int64)

    meta = _header("trainer", model, extra)
    meta["trainer"] = {
        "optimizer": {"name": opt.name, "settings": settings},
        "loss": trainer.loss,
        "l2": trainer.l2,
        "huber_delta": trainer.huber_delta,
        "batch_size": trainer.batch_size,
        "shuffle": trainer.shuffle,
        "shuffle_auto": bool(getattr(trainer, "_shuffle_auto", False)),
        "chunk_rows": int(getattr(trainer, "chunk_rows", 65536)),
        "window_chunks": int(getattr(trainer, "window_chunks", 8)),
        "split_seed": int(trainer._split_seed),
        "validation_fraction": trainer.validation_fraction,
        "early_stopping": trainer.early_stopping,
        "patience": trainer.patience,
        "min_delta": trainer.min_delta,
        "restore_best_weights": trainer.restore_best_weights,
        "progress": trainer.progress,
        "backend": trainer.backend,
        "epoch": int(trainer.epoch),
        "history_keys": history_keys,
        "rng": _jsonable(trainer.rng.bit_generator.state),
        "schedule": sched_meta,
        "best": best,
        "wait": int(trainer._wait),
        "pending": pending,
    }
    _write_npz(path, meta, arrays)


# -- reading -------------------------------------------------------------------

class _BoundedReader(io.BufferedReader):
    """A file whose read(n) never asks for more than the bytes left: a plain
    file's read(n) allocates n bytes up front, and zipfile reads sizes that
    a damaged archive declares (e.g. its central directory's)."""

    def __init__(self, raw: io.FileIO, size: int) -> None:
        super().__init__(raw)
        self._size = size

    def read(self, n: int | None = -1) -> bytes:
        if n is not None and n > 0:
            n = min(n, max(0, self._size - self.tell()))
            if n == 0:
                return b""
        return super().read(n)


class _Archive:
    """The members of a gradfit archive, checked before any is read."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.size = os.path.getsize(path)
        self.file = _BoundedReader(io.FileIO(path, "rb"), self.size)
        try:
            self.zip = zipfile.ZipFile(self.file)
            infos = self.zip.infolist()
            if len(infos) > MAX_MEMBERS:
                raise _Bad(f"expected at most {MAX_MEMBERS} members, got {len(infos)}")
            self.members: dict[str, zipfile.ZipInfo] = {}
            for info in infos:
                name = info.filename
                if not name.endswith(".npy"):
                    raise _Bad(f"expected only .npy members, got {name!r}")
                if name[:-4] in self.members:
                    raise _Bad(f"member {name!r} appears twice")
                if info.flag_bits & 0x1:
                    raise _Bad(f"member {name!r} is encrypted")
                if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                    raise _Bad(f"member {name!r} is compressed; gradfit files store members uncompressed")
                if info.header_offset < 0 or info.header_offset + info.file_size > self.size:
                    raise _Bad(f"member {name!r} claims {info.file_size} bytes, beyond the end of the "
                               f"{self.size}-byte file (truncated?)")
                self.members[name[:-4]] = info
        except BaseException:
            self.file.close()
            raise

    def close(self) -> None:
        self.zip.close()
        self.file.close()

    def names(self) -> set[str]:
        return set(self.members)

    def read(self, name: str, kinds: str, count: int | None = None, max_count: int | None = None,
             itemsizes: tuple[int, ...] = (1, 2, 4, 8)) -> np.ndarray:
        """Member `name` as a native-endian 1-D array, after checking its .npy
        header: dtype kind in `kinds`, 1-D, `count` elements (or at most
        `max_count`), and exactly that many bytes of data in the member."""
        info = self.members.get(name)
        if info is None:
            raise _Bad(f"member {name!r} is missing")
        with self.zip.open(info) as fp:
            major, minor = np.lib.format.read_magic(fp)
            if (major, minor) == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp, max_header_size=_NPY_HEADER_LIMIT)
            elif (major, minor) in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp, max_header_size=_NPY_HEADER_LIMIT)
            else:
                raise _Bad(f"member {name!r}: unsupported .npy version {major}.{minor}")
            if dtype.hasobject:
                raise _Bad(f"member {name!r} is an object array (pickled Python objects); "
                           f"gradfit files hold numbers only and never unpickle")
            if dtype.kind not in kinds or dtype.itemsize not in itemsizes or dtype.fields is not None \
                    or dtype.subdtype is not None:
                raise _Bad(f"member {name!r}: unexpected dtype {dtype.str}")
            if len(shape) != 1:
                raise _Bad(f"member {name!r}: expected a 1-D array, got shape {shape}")
            n = int(shape[0])
            if n < 0:
                raise _Bad(f"member {name!r}: invalid shape {shape}")
            if count is not None and n != count:
                raise _Bad(f"member {name!r}: expected {count} values (from the metadata), got shape {shape}")
            if max_count is not None and n > max_count:
                raise _Bad(f"member {name!r}: expected at most {max_count} values, got shape {shape}")
            nbytes = n * dtype.itemsize
            if fp.tell() + nbytes != info.file_size:
                raise _Bad(f"member {name!r}: its header declares shape {shape} ({nbytes} bytes of "
                           f"{dtype.name}), but the member holds {info.file_size - fp.tell()} bytes of data")
            data = fp.read(nbytes)
            if len(data) != nbytes:
                raise _Bad(f"member {name!r} is truncated")
            fp.read()                      # to the end: zipfile checks the CRC there
        return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=True)


def _fail(path: str, message: str) -> ValueError:
    return ValueError(f"{path}: {message}")


def _get(d: Any, key: str, types: Any, where: str, *, optional: bool = False) -> Any:
    if not isinstance(d, dict):
        raise _Bad(f"metadata: expected an object at {where}, got {type(d).__name__}")
    if key not in d:
        if optional:
            return None
        raise _Bad(f"metadata: {where}.{key} is missing")
    value = d[key]
    if optional and value is None:
        return None
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in _as_tuple(types))
    if not ok:
        names = " or ".join(t.__name__ for t in _as_tuple(types))
        raise _Bad(f"metadata: expected {where}.{key} to be {names}, got {type(value).__name__} {_short(value)}")
    return value


def _as_tuple(types: Any) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _float(d: Any, key: str, where: str, optional: bool = False) -> float | None:
    """A float, or one of "inf", "-inf", "nan"."""
    value = _get(d, key, (int, float, str), where, optional=optional)
    if value is None:
        return None
    if isinstance(value, str):
        if value not in ("inf", "-inf", "nan"):
            raise _Bad(f"metadata: expected {where}.{key} to be a number, got {_short(value)}")
        return float(value)
    return float(value)


def _int(d: Any, key: str, where: str, lo: int, hi: int, optional: bool = False) -> int | None:
    value = _get(d, key, int, where, optional=optional)
    if value is None:
        return None
    if not lo <= value <= hi:
        raise _Bad(f"metadata: expected {where}.{key} in [{lo}, {hi}], got {_short(value)}")
    return int(value)


def _no_constants(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


def _read_metadata(archive: _Archive) -> dict[str, Any]:
    raw = archive.read("metadata", "u", max_count=MAX_METADATA_BYTES, itemsizes=(1,))
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Bad(f"metadata: not valid UTF-8 JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise _Bad(f"metadata: expected a JSON object, got {type(meta).__name__}")
    fmt = _get(meta, "format", str, "metadata")
    if fmt != FORMAT:
        raise _Bad(f"metadata: expected format {FORMAT!r}, got {_short(fmt)} (not a gradfit file)")
    version = _get(meta, "format_version", int, "metadata")
    if version != FORMAT_VERSION:
        newer = " (written by a newer gradfit: upgrade gradfit to read it)" if version > FORMAT_VERSION else ""
        raise _Bad(f"format version {version} is not supported; this gradfit reads version {FORMAT_VERSION}{newer}")
    kind = _get(meta, "kind", str, "metadata")
    if kind not in ("model", "trainer"):
        raise _Bad(f"metadata: expected kind 'model' or 'trainer', got {_short(kind)}")
    _get(meta, "gradfit_version", str, "metadata")
    _get(meta, "extra", dict, "metadata", optional=True)
    return meta


def _check_architecture(meta: dict[str, Any]) -> tuple[list[int], list[str], np.dtype, int]:
    """The model's description from the metadata, and its parameter count
    (computed with Python ints: exact), all bounded."""
    m = _get(meta, "model", dict, "metadata")
    sizes = _get(m, "layer_sizes", list, "model")
    acts = _get(m, "activations", list, "model")
    dtype_name = _get(m, "dtype", str, "model")
    if not 2 <= len(sizes) <= MAX_LAYERS:
        raise _Bad(f"metadata: expected 2 to {MAX_LAYERS} layer sizes, got {len(sizes)}")
    for i, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= MAX_WIDTH:
            raise _Bad(f"metadata: expected model.layer_sizes[{i}] to be an integer in [1, {MAX_WIDTH}], "
                       f"got {_short(s)}")
    if len(acts) != len(sizes) - 1:
        raise _Bad(f"metadata: expected {len(sizes) - 1} activations (one per layer), got {len(acts)}")
    for i, a in enumerate(acts):
        if not isinstance(a, str) or a not in ACTIVATIONS:
            raise _Bad(f"metadata: model.activations[{i}]: expected one of {sorted(ACTIVATIONS)}, got {_short(a)}")
    if dtype_name not in ("float32", "float64"):
        raise _Bad(f"metadata: model.dtype: expected 'float32' or 'float64', got {_short(dtype_name)}")
    n_params = sum((i + 1) * o for i, o in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMS:
        raise _Bad(f"metadata: the layer sizes give {n_params} parameters, more than gradfit's limit "
                   f"of {MAX_PARAMS} (2**40)")
    return sizes, acts, np.dtype(dtype_name), n_params


def _read_params(archive: _Archive, name: str, dtype: np.dtype, n_params: int) -> np.ndarray:
    # The count is checked against the metadata and the member's byte size
    # (itself within the file) before anything is read.
    a = archive.read(name, "f", count=n_params, itemsizes=(dtype.itemsize,))
    if not np.isfinite(a).all():
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise _Bad(f"member {name!r}: expected finite values, got {bad} NaN or inf value(s)")
    return a


def _build_model(sizes: list[int], acts: list[str], dtype: np.dtype, params: np.ndarray) -> MLP:
    hidden = acts[:-1]
    model = MLP(sizes, activation=hidden if hidden else "identity", output_activation=acts[-1], dtype=dtype,
                init="zeros")
    model.params[...] = params
    return model


def _path(path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(f"path: expected a str or os.PathLike of str, got {type(path).__name__}")
    if not os.path.exists(name):
        raise FileNotFoundError(f"path: no such file {name!r}")
    return name


# Everything a damaged archive can make zipfile, numpy's header parser or
# json raise; load turns them into ValueError("<path>: ...").
_READ_ERRORS = (_Bad, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, struct.error, zlib.error,
                NotImplementedError, UnicodeError, KeyError, IndexError, OverflowError, SyntaxError,
                TypeError, ValueError, RecursionError, RuntimeError)


def _guarded(path: str | os.PathLike[str], body: Any) -> Any:
    name = _path(path)
    archive = None
    try:
        archive = _Archive(name)
        return body(name, archive)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except _READ_ERRORS as exc:
        detail = str(exc) if isinstance(exc, _Bad) else f"not a valid gradfit file ({type(exc).__name__}: {exc})"
        raise _fail(str(name), detail) from None
    except OSError as exc:
        raise _fail(str(name), f"could not be read ({exc})") from None
    finally:
        if archive is not None:
            archive.close()


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked JSON metadata of a gradfit file (format, kind, versions, model, trainer, extra)."""
    def body(name: str, archive: _Archive) -> dict[str, Any]:
        meta = _read_metadata(archive)
        _check_architecture(meta)
        return meta
    result: dict[str, Any] = _guarded(path, body)
    return result


def load_model(path: str | os.PathLike[str], *, with_extra: bool = False) -> Any:
    """Reads the model of a gradfit file (a saved model or a saved Trainer).

    Returns
    -------
    MLP, or (MLP, extra dict) with ``with_extra=True``

    Raises
    ------
    ValueError
        "<path>: ..." for a file that is not a valid gradfit file: what is wrong.
    FileNotFoundError
    """
    def body(name: str, archive: _Archive) -> Any:
        meta = _read_metadata(archive)
        sizes, acts, dtype, n_params = _check_architecture(meta)
        expected = {"metadata", "params"}
        if meta["kind"] == "model" and archive.names() != expected:
            raise _Bad(f"expected the members {sorted(expected)}, got {sorted(archive.names())}")
        params = _read_params(archive, "params", dtype, n_params)
        model = _build_model(sizes, acts, dtype, params)
        return (model, meta.get("extra") or {}) if with_extra else model
    return _guarded(path, body)


def load_trainer(path: str | os.PathLike[str], model: MLP | None = None, *, callbacks: Any = None,
                 validation_data: Any = None, lr_schedule: Any = None, progress: bool | None = None) -> Trainer:
    """Reads a Trainer saved by ``Trainer.save(path)``, ready to continue.

    ``trainer.fit`` then continues exactly (bit for bit) where the saved
    Trainer was: same parameters, optimizer state, step count, shuffling
    generator, epoch, history, schedule position, early-stopping state and
    partial epoch.

    Parameters
    ----------
    path : str or os.PathLike
    model : MLP, optional
        Train this model: it must have the file's layer sizes, activations
        and dtype, and gets the file's parameters. Default: a new MLP.
    callbacks : list, optional
        Not saved in the file: give them again (default none).
    validation_data : tuple, optional
        Not saved in the file: give it again (unless the Trainer holds out a
        ``validation_fraction``, which is saved).
    lr_schedule : Schedule or callable, optional
        Replaces the saved schedule; required when the saved one was a
        function or a Schedule class of your own (saved by name only). Its
        ``set_state`` receives the saved state.
    progress : bool, optional
        Default: the saved setting.

    Returns
    -------
    Trainer

    Raises
    ------
    ValueError
        ``"<path>: ..."`` when the file is damaged, inconsistent or holds a
        model only (read that with ``gradfit.load``).
    FileNotFoundError
    """
    from .callbacks import as_callbacks
    from .schedules import as_schedule
    from .training import Trainer
    if model is not None and not isinstance(model, MLP):
        raise TypeError(f"model: expected a gradfit.MLP or None, got {type(model).__name__}")
    callbacks = as_callbacks(callbacks)
    if lr_schedule is not None:
        lr_schedule = as_schedule(lr_schedule)
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress: expected True, False or None, got {type(progress).__name__} {progress!r}")

    def body(name: str, archive: _Archive) -> Trainer:
        meta = _read_metadata(archive)
        if meta["kind"] != "trainer":
            raise _Bad("holds a model, not a Trainer: read it with gradfit.load(path)")
        sizes, acts, dtype, n_params = _check_architecture(meta)
        t = _get(meta, "trainer", dict, "metadata")
        w = "trainer"
        opt = _get(t, "optimizer", dict, w)
        opt_name = _get(opt, "name", str, "trainer.optimizer")
        if opt_name not in OPTIMIZERS or opt_name not in _OPTIMIZER_SETTINGS:
            raise _Bad(f"metadata: trainer.optimizer.name: expected one of {sorted(_OPTIMIZER_SETTINGS)}, "
                       f"got {_short(opt_name)}")
        settings = _get(opt, "settings", dict, "trainer.optimizer")
        if set(settings) != set(_OPTIMIZER_SETTINGS[opt_name]):
            raise _Bad(f"metadata: trainer.optimizer.settings: expected the keys "
                       f"{sorted(_OPTIMIZER_SETTINGS[opt_name])}, got {sorted(settings)}")
        for k, v in settings.items():
            expected_type = bool if k == "nesterov" else (int, float)
            _get(settings, k, expected_type, "trainer.optimizer.settings")
        loss = _get(t, "loss", str, w)
        if loss not in LOSSES:
            raise _Bad(f"metadata: trainer.loss: expected one of {sorted(LOSSES)}, got {_short(loss)}")
        backend = _get(t, "backend", str, w)
        if backend not in BACKENDS:
            raise _Bad(f"metadata: trainer.backend: expected one of {list(BACKENDS)}, got {_short(backend)}")
        numbers = {k: _get(t, k, (int, float), w) for k in ("l2", "huber_delta", "min_delta")}
        flags = {k: _get(t, k, bool, w) for k in ("early_stopping", "restore_best_weights", "progress")}
        shuffle = _get(t, "shuffle", (bool, str), w)
        if shuffle not in (True, False, "window"):
            raise _Bad(f"metadata: trainer.shuffle: expected true, false or 'window', got {_short(shuffle)}")
        if _get(t, "shuffle_auto", bool, w, optional=True):
            shuffle = None
        chunk_rows = _int(t, "chunk_rows", w, 1, 1 << 62, optional=True) or 65536
        window_chunks = _int(t, "window_chunks", w, 1, 1 << 62, optional=True) or 8
        batch_size = _int(t, "batch_size", w, 1, 1 << 62, optional=True)
        patience = _int(t, "patience", w, 1, 1 << 62)
        split_seed = _int(t, "split_seed", w, 0, (1 << 62) - 1)
        vf = _get(t, "validation_fraction", (int, float), w, optional=True)
        epoch = _int(t, "epoch", w, 0, MAX_HISTORY)
        wait = _int(t, "wait", w, 0, 1 << 62)
        assert epoch is not None and wait is not None and patience is not None and split_seed is not None
        history_keys = _get(t, "history_keys", list, w)
        for k in history_keys:
            if k not in _HISTORY_KEYS:
                raise _Bad(f"metadata: trainer.history_keys: unknown key {_short(k)}")
        if len(set(history_keys)) != len(history_keys) or not {"loss", "lr"} <= set(history_keys):
            raise _Bad(f"metadata: trainer.history_keys: expected distinct keys including 'loss' and 'lr', "
                       f"got {_short(history_keys)}")
        rng_state = _get(t, "rng", dict, w)
        schedule_meta = _get(t, "schedule", dict, w)
        best = _get(t, "best", dict, w, optional=True)
        pending = _get(t, "pending", dict, w, optional=True)

        # the members, in the order of the metadata's promises
        expected = {"metadata", "params", "state", "step_count"} | {"history_" + k for k in history_keys}
        if best is not None and _get(best, "has_params", bool, "trainer.best"):
            expected.add("best_params")
        if pending is not None and _get(pending, "has_order", bool, "trainer.pending"):
            expected.add("pending_order")
        if archive.names() != expected:
            raise _Bad(f"expected the members {sorted(expected)}, got {sorted(archive.names())}")
        params = _read_params(archive, "params", dtype, n_params)
        state_len = n_params * (1 if opt_name == "sgd" else 2)
        state = _read_params(archive, "state", dtype, state_len)
        if opt_name != "sgd" and (state[n_params:] < 0).any():
            raise _Bad("member 'state': Adam's second moments must be >= 0")
        step_count = archive.read("step_count", "i", count=1, itemsizes=(8,))
        if not 0 <= int(step_count[0]) < (1 << 62):
            raise _Bad(f"member 'step_count': expected a count >= 0, got {int(step_count[0])}")
        history = {}
        for k in history_keys:
            h = archive.read("history_" + k, "f", max_count=epoch, itemsizes=(8,))
            if k in ("loss", "lr", "penalty") and h.size != epoch:
                raise _Bad(f"member 'history_{k}': expected {epoch} values (one per epoch), got {h.size}")
            history[k] = [float(v) for v in h]

        # the Trainer, through its own checks of every setting
        from . import optimizers, schedules
        opt_class = {"sgd": optimizers.SGD, "adam": optimizers.Adam, "adamw": optimizers.AdamW}[opt_name]
        optimizer = opt_class(**settings)
        schedule = _load_schedule(schedule_meta, lr_schedule, schedules)
        target = model
        if target is not None:
            if target.layer_sizes != tuple(sizes) or target.activations != tuple(acts) or target.dtype != dtype:
                raise _Bad(f"the file's model is {list(sizes)} {list(acts)} {dtype.name}, but the model given "
                           f"is {list(target.layer_sizes)} {list(target.activations)} {target.dtype.name}")
        else:
            target = MLP(sizes, activation=acts[:-1] or "identity", output_activation=acts[-1], dtype=dtype,
                         init="zeros")
        trainer = Trainer(target, optimizer, loss, l2=numbers["l2"], huber_delta=numbers["huber_delta"],
                          batch_size=batch_size, shuffle=shuffle, lr_schedule=schedule,
                          chunk_rows=chunk_rows, window_chunks=window_chunks,
                          validation_fraction=vf,
                          early_stopping=flags["early_stopping"], patience=patience,
                          min_delta=numbers["min_delta"], restore_best_weights=flags["restore_best_weights"],
                          progress=flags["progress"] if progress is None else bool(progress),
                          backend=backend)
        trainer.rng = _load_rng(rng_state)
        trainer._split_seed = split_seed
        trainer.state[...] = state
        trainer.step_count[...] = step_count
        trainer.epoch = epoch
        trainer.history = history
        trainer._wait = wait
        if best is not None:
            value = _float(best, "value", "trainer.best")
            best_epoch = _int(best, "epoch", "trainer.best", 0, epoch)
            assert value is not None and best_epoch is not None
            best_params = _read_params(archive, "best_params", dtype, n_params) if "best_params" in expected else None
            trainer._best = (value, best_epoch, best_params)
        if pending is not None:
            trainer._pending = _load_pending(archive, pending, batch_size, "pending_order" in expected)
        target.params[...] = params                  # last: nothing above failed
        return trainer

    trainer: Trainer = _guarded(path, body)
    # what the file does not hold, checked by the Trainer's own rules
    trainer.callbacks = callbacks
    if validation_data is not None:
        if trainer.validation_fraction is not None:
            raise ValueError(f"validation_data: the saved Trainer holds out validation_fraction="
                             f"{trainer.validation_fraction}; give no validation_data with it")
        trainer.validation_data = trainer._check_validation_data(validation_data)
    return trainer


def _load_schedule(meta: dict[str, Any], given: Any, schedules: Any) -> Any:
    kind = _get(meta, "kind", str, "trainer.schedule")
    state = _get(meta, "state", dict, "trainer.schedule")
    if given is not None:
        schedule = schedules.as_schedule(given)
    elif kind == "custom":
        raise _Bad(f"its lr_schedule was a function or a Schedule of your own "
                   f"({_short(meta.get('repr'))}), which is not saved: pass it again, "
                   f"load_trainer(path, lr_schedule=...)")
    elif kind in _SCHEDULES:
        settings = _get(meta, "settings", dict, "trainer.schedule")
        if set(settings) != set(_SCHEDULES[kind]):
            raise _Bad(f"metadata: trainer.schedule.settings: expected the keys {sorted(_SCHEDULES[kind])} "
                       f"for {kind}, got {sorted(settings)}")
        for k in settings:
            _get(settings, k, (int, float), "trainer.schedule.settings")
        schedule = getattr(schedules, kind)(**settings)
    else:
        raise _Bad(f"metadata: trainer.schedule.kind: expected one of {sorted(_SCHEDULES) + ['custom']}, "
                   f"got {_short(kind)}")
    if state:
        decoded = {}
        for k, v in state.items():
            decoded[k] = _float(state, k, "trainer.schedule.state") if isinstance(v, (str, float)) else v
        schedule.set_state(decoded)
    return schedule


def _load_rng(state: dict[str, Any]) -> np.random.Generator:
    name = _get(state, "bit_generator", str, "trainer.rng")
    if name not in _BIT_GENERATORS:
        raise _Bad(f"metadata: trainer.rng.bit_generator: expected one of {list(_BIT_GENERATORS)}, "
                   f"got {_short(name)}")
    bitgen = getattr(np.random, name)()
    inner = _get(state, "state", dict, "trainer.rng")
    value = dict(state)
    if name == "MT19937":
        key = _get(inner, "key", list, "trainer.rng.state")
        if len(key) != 624 or not all(isinstance(k, int) and 0 <= k < 1 << 32 for k in key):
            raise _Bad("metadata: trainer.rng.state.key: expected 624 unsigned 32-bit integers")
        value["state"] = dict(inner, key=np.array(key, dtype=np.uint32))
    try:
        bitgen.state = value
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise _Bad(f"metadata: trainer.rng: not a valid {name} state ({exc})") from None
    return np.random.Generator(bitgen)


def _load_pending(archive: _Archive, pending: dict[str, Any], batch_size: int | None,
                  has_order: bool) -> tuple[int, np.ndarray | None, int, tuple[float, ...]]:
    w = "trainer.pending"
    n_rows = _int(pending, "n_rows", w, 1, 1 << 62)
    assert n_rows is not None
    batch = n_rows if batch_size is None else min(batch_size, n_rows)
    last_batch = (n_rows - 1) // batch
    next_batch = _int(pending, "next_batch", w, 0, last_batch)
    assert next_batch is not None
    sums = _get(pending, "sums", list, w)
    if len(sums) != 4:
        raise _Bad(f"metadata: {w}.sums: expected 4 numbers, got {len(sums)}")
    values = tuple(_float({"v": s}, "v", f"{w}.sums") or 0.0 for s in sums)
    order = None
    if has_order:
        # bounded by the metadata's row count and by the member's size in the file
        order = archive.read("pending_order", "i", count=n_rows, itemsizes=(8,))
        # the C core indexes the data with these: they must be a permutation of 0..N-1
        if not np.array_equal(np.sort(order), np.arange(n_rows, dtype=np.int64)):
            raise _Bad(f"member 'pending_order': expected a permutation of 0..{n_rows - 1}")
    return n_rows, order, next_batch, values


def load(path: str | os.PathLike[str]) -> MLP:
    """Reads a model saved by ``model.save(path)`` (or the model of a saved Trainer).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    MLP

    Raises
    ------
    ValueError
        ``"<path>: ..."`` when the file is not a valid gradfit file
        (truncated, corrupted, a newer format version, inconsistent sizes,
        non-finite weights, pickled objects, ...), saying what is wrong.
        Nothing in the file is executed, and nothing is allocated from sizes
        the file declares before they are checked against its actual size.
    FileNotFoundError
        When there is no such file.
    """
    model: MLP = load_model(path)
    return model
