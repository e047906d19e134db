"""Many models at once: :func:`train_many` trains a list of jobs in threads,
on any ``concurrent.futures.Executor``, or on a Dask distributed ``Client``.

Each job is one :func:`gradfit.train` call. In threads (``n_jobs``, or a
``ThreadPoolExecutor``) the jobs run in this process: the C core releases the
GIL, so separate models train in parallel, and data shared by several jobs is
converted (if needed) once and never copied per job.

With a process pool or a Dask ``Client``, what crosses the process boundary
is plain data only: the model as the bytes of its model file (``.npz`` +
JSON, the format of :func:`gradfit.io.save_model`; never pickled objects),
the job's options as plain values, the data as arrays or as file paths that
the worker reads itself (``.npy`` opened with ``mmap_mode="r"``), and back
the trained parameters (an array) and the TrainResult's fields (a dict).
The user's MLP objects are then updated in place, exactly as in threads.
An array shared by several jobs is sent once: to a process pool as one
temporary ``.npy`` file that the workers map, to Dask by one scatter; a Dask
array is computed on the cluster, never brought to the client.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import inspect
import numbers
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from typing import IO, Any

import numpy as np

from . import _fused
from . import io as _io
from ._optional import require
from ._validate import as_float_array
from .model import MLP
from .result import TrainResult
from .trainer import Trainer, train

__all__ = ["train_many", "RemoteError"]

# The keywords a job may give to gradfit.train (everything but model, X, y)
# and the job keys that train_many itself reads.
_TRAIN_OPTIONS = (frozenset(inspect.signature(train).parameters) | frozenset(inspect.signature(Trainer).parameters)) - {
    "model", "X", "y", "settings"}
_JOB_KEYS = frozenset({"model", "X", "y", "rows", "target"})
# Options a job may not set: train_many shows one progress display for all jobs.
_REFUSED = {"progress": "train_many has one progress display for all jobs: use train_many(..., progress=True)"}
_ERRORS = ("return", "raise")


class RemoteError(RuntimeError):
    """A job failed in another process (a process pool or a Dask worker) with
    an exception whose type is not one of Python's built-in exceptions; the
    message holds its type name and message. ``remote_traceback`` holds the
    worker's traceback text (built-in exceptions carry it too)."""

    remote_traceback: str = ""


@dataclasses.dataclass
class _Job:
    index: int
    model: MLP
    X: Any
    y: Any
    rows: slice | None
    target: Any
    options: dict[str, Any]


# -- checking the jobs ----------------------------------------------------------

def _as_job(index: int, job: Any) -> _Job:
    where = f"jobs[{index}]"
    if isinstance(job, Mapping):
        unknown = [k for k in job if k not in _JOB_KEYS and k not in _TRAIN_OPTIONS]
        if unknown:
            raise TypeError(f"{where}: unknown key {unknown[0]!r}; expected 'model', 'X', 'y' (or 'target'), "
                            f"'rows' and keywords of gradfit.train")
        for key in ("model", "X"):
            if key not in job:
                raise TypeError(f"{where}: expected a dict with the key {key!r}, got the keys {sorted(job)}")
        model, X, y = job["model"], job["X"], job.get("y")
        rows, target = job.get("rows"), job.get("target")
        options = {k: v for k, v in job.items() if k not in _JOB_KEYS}
    elif isinstance(job, tuple):
        if len(job) not in (3, 4):
            raise TypeError(f"{where}: expected a tuple (model, X, y) or (model, X, y, options), "
                            f"got a tuple of {len(job)} item(s)")
        model, X, y = job[:3]
        rows = target = None
        if len(job) == 4 and job[3] is not None and not isinstance(job[3], Mapping):
            raise TypeError(f"{where}: expected a dict of gradfit.train keywords as the 4th item, "
                            f"got {type(job[3]).__name__}")
        options = dict(job[3]) if len(job) == 4 and job[3] is not None else {}
        unknown = [k for k in options if k not in _TRAIN_OPTIONS]
        if unknown:
            raise TypeError(f"{where}: unknown option {unknown[0]!r}; expected keywords of gradfit.train")
    else:
        raise TypeError(f"{where}: expected a dict {{'model': ..., 'X': ..., 'y': ..., **options}} or a tuple "
                        f"(model, X, y[, options]), got {type(job).__name__}")
    if not isinstance(model, MLP):
        raise TypeError(f"{where}: expected a gradfit.MLP as the model, got {type(model).__name__}")
    for key, reason in _REFUSED.items():
        if key in options:
            raise ValueError(f"{where}: the option {key!r} is not taken per job; {reason}")
    if target is not None:
        if y is not None:
            raise ValueError(f"{where}: give 'y' or 'target' (a column of the data file X), not both")
        if not isinstance(X, (str, os.PathLike)):
            raise ValueError(f"{where}: 'target' names a column of a data file: X must be a path, "
                             f"got {type(X).__name__}")
    elif y is None:
        raise TypeError(f"{where}: expected y (or, with X a data file's path, 'target'), got None")
    return _Job(index, model, X, y, _as_rows(rows, where), target, options)


def _as_rows(rows: Any, where: str) -> slice | None:
    """None, slice(start, stop) or (start, stop): the rows of X and y this job trains on."""
    if rows is None:
        return None
    if isinstance(rows, slice):
        if rows.step not in (None, 1):
            raise ValueError(f"{where}: 'rows' must be a contiguous range (step 1), got {rows!r}")
        start, stop = rows.start, rows.stop
    elif isinstance(rows, (tuple, list)) and len(rows) == 2:
        start, stop = rows
    else:
        raise TypeError(f"{where}: 'rows' expected (start, stop) or slice(start, stop), got {rows!r}")
    for v in (start, stop):
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0):
            raise ValueError(f"{where}: 'rows' expected integers >= 0 (or None), got {rows!r}")
    if start is not None and stop is not None and stop <= start:
        raise ValueError(f"{where}: 'rows' expected start < stop, got {rows!r}")
    return slice(None if start is None else int(start), None if stop is None else int(stop))


def _check_jobs(jobs: Any) -> list[_Job]:
    if isinstance(jobs, (str, bytes, Mapping)) or not isinstance(jobs, Iterable):
        raise TypeError(f"jobs: expected a list of jobs (dicts or tuples), got {type(jobs).__name__}")
    out = [_as_job(i, job) for i, job in enumerate(jobs)]
    seen: dict[int, int] = {}
    for job in out:
        first = seen.setdefault(id(job.model), job.index)
        if first != job.index:
            raise ValueError(f"jobs: jobs[{first}] and jobs[{job.index}] hold the same model object; one model "
                             f"trains in one job at a time: give each job its own model (model.copy())")
    return out


def _check_n_jobs(n_jobs: Any) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"n_jobs: expected an integer >= 1, or -1 for one per CPU, got "
                        f"{type(n_jobs).__name__} {n_jobs!r}")
    if n_jobs == -1:
        return _cpu_count()
    if n_jobs < 1:
        raise ValueError(f"n_jobs: expected an integer >= 1, or -1 for one per CPU, got {n_jobs}")
    return int(n_jobs)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _is_dask_client(executor: Any) -> bool:
    module = type(executor).__module__ or ""
    return module.split(".")[0] == "distributed" and hasattr(executor, "scatter") and hasattr(executor, "submit")


def _is_dask_collection(value: Any) -> bool:
    dask = sys.modules.get("dask")
    return dask is not None and not isinstance(value, np.ndarray) and bool(dask.is_dask_collection(value))


def _is_dask_future(value: Any) -> bool:
    module = type(value).__module__ or ""
    return module.split(".")[0] == "distributed" and type(value).__name__ == "Future"


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


# -- progress ----------------------------------------------------------------------

class _Progress:
    """One display for the whole batch of jobs: a tqdm bar (jobs done, failed)
    when tqdm is installed, else a plain line at most every 2 s and at the end."""

    def __init__(self, total: int, enabled: bool, file: IO[str] | None = None) -> None:
        self.total, self.enabled = total, enabled
        self.done = self.failed = 0
        self.file = file or sys.stderr
        self.lock = threading.Lock()
        self.start = self.last = time.monotonic()
        self.bar: Any = None
        if enabled:
            try:
                import tqdm
                self.bar = tqdm.tqdm(total=total, unit="job", file=self.file, desc="train_many")
            except ImportError:
                self.bar = None

    def update(self, ok: bool) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.done += 1
            self.failed += not ok
            if self.bar is not None:
                self.bar.update(1)
                if self.failed:
                    self.bar.set_postfix(failed=self.failed, refresh=False)
                return
            now = time.monotonic()
            if now - self.last >= 2.0 or self.done == self.total:
                self.last = now
                failed = f", {self.failed} failed" if self.failed else ""
                print(f"train_many: {self.done}/{self.total} jobs done{failed}, {now - self.start:.1f} s",
                      file=self.file, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# -- the data of a job -------------------------------------------------------------

def _read(path: Any, target: Any) -> tuple[Any, Any]:
    """(X, y) from a file: .npy is opened with mmap_mode="r" (nothing is read
    until training touches it; y None), other files go to gradfit.datasets.load
    (CSV). With `target`, that column is y (datasets.load reads the whole file)."""
    name = os.fspath(path)
    if target is None and name.lower().endswith(".npy"):
        try:
            return np.load(name, mmap_mode="r", allow_pickle=False), None
        except FileNotFoundError:
            raise FileNotFoundError(f"X: {name}: no such file") from None
        except (ValueError, OSError) as exc:
            raise ValueError(f"X: {name} is not a readable .npy file ({exc})") from None
    from .datasets import load
    return load(name, target)


def _job_data(X: Any, y: Any, rows: slice | None, target: Any) -> tuple[Any, Any]:
    """Resolves paths (X, y) and takes the job's rows (views: nothing is copied)."""
    if _is_path(X):
        X, from_file = _read(X, target)
        if target is not None:
            y = from_file
    if _is_path(y):
        y, _ = _read(y, None)
    if rows is not None:
        X, y = _take_rows(X, rows, "X"), _take_rows(y, rows, "y")
    return X, y


def _take_rows(a: Any, rows: slice, argument: str) -> Any:
    n = len(a)
    if rows.start is not None and rows.start >= n:
        raise ValueError(f"rows: {argument} has {n} rows, got rows starting at {rows.start}")
    if hasattr(a, "iloc"):
        return a.iloc[rows]
    return a[rows]


class _Shared:
    """In-process jobs: each distinct array (or Dask array, DataFrame, list)
    converted to a model dtype once, however many jobs train on it. A
    C-contiguous aligned array of the right dtype is used as it is. On a
    conversion error the original is kept: that job's train() reports it."""

    def __init__(self) -> None:
        self.cache: dict[tuple[int, str], Any] = {}
        self.keep: list[Any] = []           # the originals stay alive: their ids stay unique
        self.lock = threading.Lock()

    def get(self, value: Any, dtype: np.dtype[Any], argument: str) -> Any:
        if isinstance(value, np.ndarray) and value.dtype == dtype and value.flags.c_contiguous \
                and value.flags.aligned:
            return value
        if value is None or _is_path(value):
            return value
        key = (id(value), dtype.str)
        with self.lock:
            if key in self.cache:
                return self.cache[key]
            try:
                if _is_dask_future(value):
                    value_ = value.result()
                elif _is_dask_collection(value):
                    value_ = np.asarray(value.compute())
                else:
                    value_ = value
                converted = as_float_array(value_, argument, dtype) if argument == "X" else value_
            except Exception:       # noqa: BLE001 - train() gives this job its own message
                converted = value
            self.keep.append(value)
            self.cache[key] = converted
            return converted


def _run_here(job: _Job, shared: _Shared) -> TrainResult | Exception:
    """One job in this process."""
    try:
        dtype = job.model.dtype
        X, y = shared.get(job.X, dtype, "X"), shared.get(job.y, dtype, "y")
        X, y = _job_data(X, y, job.rows, job.target)
        return train(job.model, X, y, **job.options)
    except Exception as exc:      # noqa: BLE001 - errors are per job
        return exc


# -- payloads for other processes ---------------------------------------------------

def _model_bytes(model: MLP) -> bytes:
    """The model file of `model` (what gradfit.io.save_model writes) as bytes."""
    return _io.model_bytes(model)


def _model_from_bytes(data: bytes) -> MLP:
    """gradfit.io.load_model on bytes: every check of a model file applies."""
    fd, path = tempfile.mkstemp(suffix=".npz", prefix="gradfit-job-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        model: MLP = _io.load_model(path)
        return model
    finally:
        os.unlink(path)


_PLAIN = (bool, int, float, str, type(None), np.bool_, np.integer, np.floating)


def _check_plain(value: Any, where: str) -> None:
    """Options that travel to another process: numbers, strings, None, arrays
    of numbers, and tuples / lists of these. Never functions or objects."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError(f"{where}: an object array cannot be sent to another process; expected numbers")
        return
    if isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    hint = ""
    if where.endswith("seed") and isinstance(value, np.random.Generator):
        hint = " (give an int seed: a Generator's stream cannot be shared with another process)"
    elif callable(value):
        hint = " (functions stay in this process: use threads, n_jobs=..., for callbacks and custom schedules)"
    else:
        hint = " (give a name and plain settings, e.g. optimizer='adam', lr=1e-3)"
    raise TypeError(f"{where}: expected plain values (numbers, strings, arrays) to send to another process, "
                    f"got {type(value).__name__}{hint}")


def _payload(job: _Job) -> dict[str, Any]:
    return {"model": _model_bytes(job.model), "options": dict(job.options),
            "rows": None if job.rows is None else (job.rows.start, job.rows.stop),
            "target": job.target}


def _remote_job(payload: dict[str, Any], X: Any, y: Any) -> dict[str, Any]:
    """Runs one job in a worker process: plain data in, plain data out."""
    try:
        model = _model_from_bytes(payload["model"])
        rows = payload["rows"]
        X, y = _job_data(X, y, None if rows is None else slice(*rows), payload["target"])
        result = train(model, X, y, **payload["options"])
        return {"params": model.params, "result": dataclasses.asdict(result)}
    except Exception as exc:        # noqa: BLE001 - the error travels back as plain data
        return {"error": {"type": type(exc).__name__, "builtin": type(exc).__module__ == "builtins",
                          "message": str(exc), "traceback": traceback.format_exc()}}


def _error_from(info: dict[str, Any]) -> Exception:
    """The exception a worker reported: the same built-in type, else RemoteError."""
    import builtins
    cls = getattr(builtins, info["type"], None) if info.get("builtin") else None
    exc: Exception | None = None
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            exc = cls(info["message"])
        except Exception:       # noqa: BLE001 - an exception type that wants other arguments
            exc = None
    if exc is None:
        exc = RemoteError(f"{info['type']}: {info['message']}")
    tb = info.get("traceback", "")
    exc.remote_traceback = tb  # type: ignore[attr-defined]
    if hasattr(exc, "add_note"):
        exc.add_note("raised in a worker process:\n" + tb)
    return exc


def _apply(job: _Job, out: Any) -> TrainResult | Exception:
    """A worker's answer for `job`: the model gets the trained parameters."""
    if isinstance(out, Exception):
        return out
    if not isinstance(out, dict):
        return RemoteError(f"job {job.index}: the worker returned {type(out).__name__}, expected a dict")
    if "error" in out:
        return _error_from(out["error"])
    params = np.asarray(out["params"])
    if params.shape != job.model.params.shape or params.dtype != job.model.dtype:
        return RemoteError(f"job {job.index}: the worker returned parameters of shape {params.shape} and dtype "
                           f"{params.dtype}, expected {job.model.params.shape} {job.model.dtype}")
    try:
        result = TrainResult(**out["result"])
        job.model.set_params(params)        # checked (finite) and copied in; train_many holds the model's lock
    except (TypeError, ValueError) as exc:
        return exc
    return result


# -- running ------------------------------------------------------------------------

def _run_threads(jobs: list[_Job], n_jobs: int, progress: _Progress) -> list[TrainResult | Exception | None]:
    results: list[TrainResult | Exception | None] = [None] * len(jobs)
    shared = _Shared()
    jobs = _run_fusable(jobs, n_jobs, progress, shared, results)
    if n_jobs == 1 or len(jobs) <= 1:
        for job in jobs:            # in the calling thread: Ctrl-C works as in train()
            results[job.index] = r = _run_here(job, shared)
            progress.update(not isinstance(r, Exception))
        return results
    order = iter(jobs)
    take = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            with take:
                job = next(order, None)
            if job is None:
                return
            results[job.index] = r = _run_here(job, shared)
            progress.update(not isinstance(r, Exception))

    threads = [threading.Thread(target=worker, name=f"gradfit-train_many-{i}", daemon=True)
               for i in range(min(n_jobs, len(jobs)))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        stop.set()                  # no new job starts; the running ones finish (each at most one job)
        for t in threads:
            t.join()
        raise
    return results


def _run_fusable(jobs, n_jobs, progress, shared, results):
    """Trains together (gradfit._fused) the jobs that share a fused_key with
    another; returns the jobs left to run one by one."""
    by_key: dict[Any, list[_Job]] = {}
    keys = {}
    for job in jobs:
        key = keys[job.index] = _fused.fused_key(job)
        if key is not None:
            by_key.setdefault(key, []).append(job)
    together = sorted((j for group in by_key.values() if len(group) > 1 for j in group), key=lambda j: j.index)
    if not together:
        return jobs
    for job, r in zip(together, _fused.run_fused(together, n_jobs, progress, shared,
                                                 [keys[j.index] for j in together])):
        results[job.index] = r
    chosen = {j.index for j in together}
    return [j for j in jobs if j.index not in chosen]


def _run_executor(jobs: list[_Job], executor: Any, progress: _Progress) -> list[TrainResult | Exception | None]:
    if isinstance(executor, concurrent.futures.ThreadPoolExecutor):
        shared = _Shared()
        futures = {executor.submit(_run_here, job, shared): job for job in jobs}
        return _collect(futures, concurrent.futures.as_completed, progress, local=True)
    payloads = [_payload(job) for job in jobs]
    locked = _lock_models(jobs)
    try:
        results: list[TrainResult | Exception | None] = [None] * len(jobs)
        todo = []
        for job in jobs:
            if job.index in locked:
                todo.append(job)
            else:
                results[job.index] = RuntimeError("model: already being trained (in another thread); train a "
                                                  "copy (model.copy()) or wait for the other call to return")
                progress.update(False)
        if _is_dask_client(executor):
            futures = _submit_dask(executor, todo, payloads)
            dask_as_completed = require("distributed", "train_many on a Dask Client").as_completed
            done = _collect(futures, dask_as_completed, progress, local=False, cancel=executor.cancel)
        else:
            spill = tempfile.mkdtemp(prefix="gradfit-train_many-") \
                if isinstance(executor, concurrent.futures.ProcessPoolExecutor) else None
            try:
                data = _shared_files(todo, spill) if spill is not None else {}
                futures = {}
                for job in todo:
                    X, y = (data[id(v)] if id(v) in data else _materialize(v) for v in (job.X, job.y))
                    futures[executor.submit(_remote_job, payloads[job.index], X, y)] = job
                done = _collect(futures, concurrent.futures.as_completed, progress, local=False)
            finally:
                if spill is not None:
                    shutil.rmtree(spill, ignore_errors=True)
        for i, r in enumerate(done):
            if r is not None:
                results[i] = r
        return results
    finally:
        for i in locked:
            jobs[i].model._lock.release()


def _materialize(value: Any) -> Any:
    """Data for a generic executor: paths stay paths (the worker reads the
    file), Dask collections are computed here, arrays travel as arrays."""
    if _is_dask_future(value):
        return value.result()
    if _is_dask_collection(value):
        return np.asarray(value.compute())
    return value


def _shared_files(jobs: list[_Job], directory: str) -> dict[int, str]:
    """A process pool on this machine: each in-memory array (or Dask array)
    that several jobs train on is written once to a .npy file in `directory`,
    and the jobs get its path. The workers map it (mmap_mode="r"), so the OS
    page cache holds one copy for every worker process, instead of one
    pickled copy sent with each job."""
    uses: dict[int, int] = {}
    values: dict[int, Any] = {}
    for job in jobs:
        for v in (job.X, job.y):
            if isinstance(v, np.ndarray) or _is_dask_collection(v) or _is_dask_future(v):
                uses[id(v)] = uses.get(id(v), 0) + 1
                values[id(v)] = v
    out: dict[int, str] = {}
    for key, n in uses.items():
        if n < 2:
            continue
        array = np.asarray(_materialize(values[key]))
        if array.dtype.kind not in "biuf":
            continue                                 # the job's train() reports it
        path = os.path.join(directory, f"{len(out)}.npy")
        np.save(path, array, allow_pickle=False)
        out[key] = path
    return out


def _lock_models(jobs: list[_Job]) -> set[int]:
    """Holds each model's training lock while its job is away: a train() on it
    meanwhile raises, as it would while a thread trains it."""
    locked = set()
    for job in jobs:
        if job.model._lock.acquire(blocking=False):
            locked.add(job.index)
    return locked


def _submit_dask(client: Any, jobs: list[_Job], payloads: list[dict[str, Any]]) -> dict[Any, _Job]:
    """Each distinct in-memory array is scattered once (a job's data is a
    reference to it, not a copy); each distinct Dask collection is computed on
    the cluster once; Dask Futures (data already on the cluster, e.g. from
    client.scatter or client.compute) are passed as they are; paths are read
    by the workers."""
    remote: dict[int, Any] = {}
    arrays, dask_values = {}, {}
    for job in jobs:
        for value in (job.X, job.y):
            if value is None or _is_path(value) or id(value) in arrays or id(value) in dask_values \
                    or id(value) in remote:
                continue
            if _is_dask_future(value):
                remote[id(value)] = value                  # already on the cluster
            elif _is_dask_collection(value):
                dask_values[id(value)] = value
            else:
                arrays[id(value)] = value
    if arrays:
        scattered = client.scatter(list(arrays.values()), hash=False)
        remote.update(zip(arrays, scattered))
    for key, value in dask_values.items():
        remote[key] = client.compute(value)
    futures = {}
    for job in jobs:
        X, y = (remote.get(id(v), v) if not (v is None or _is_path(v)) else v for v in (job.X, job.y))
        futures[client.submit(_remote_job, payloads[job.index], X, y, pure=False)] = job
    return futures


def _collect(futures: dict[Any, _Job], as_completed: Any, progress: _Progress, *, local: bool,
             cancel: Any = None) -> list[TrainResult | Exception | None]:
    n = max((job.index for job in futures.values()), default=-1) + 1
    results: list[TrainResult | Exception | None] = [None] * n
    try:
        for future in as_completed(list(futures)):
            job = futures[future]
            try:
                out = future.result()
            except Exception as exc:    # noqa: BLE001 - the executor or the worker failed: this job's error
                out = exc
            r = out if local else _apply(job, out)
            results[job.index] = r
            progress.update(not isinstance(r, Exception))
    except BaseException:
        for future in futures:
            future.cancel()
        if cancel is not None:
            try:
                cancel(list(futures))
            except Exception:   # noqa: BLE001 - best effort on the way out
                pass
        raise
    return results


def train_many(jobs: Iterable[Any], *, n_jobs: int = 1, executor: Any = None, progress: bool = False,
               errors: str = "return") -> list[TrainResult | Exception]:
    """Trains many models, each with its own data and options, in parallel.

    Each job is one :func:`gradfit.train` call that trains its model in place.
    Results come back in job order; a failed job gives its exception there.

    Parameters
    ----------
    jobs : iterable of dict or tuple
        Each job is a dict ``{"model": MLP, "X": ..., "y": ..., **options}``
        or a tuple ``(model, X, y)`` / ``(model, X, y, options)``; options
        are keywords of :func:`gradfit.train`. X and y are arrays (shared by
        any number of jobs, never copied per job), Dask arrays or Futures, or
        file paths (``.npy``: memory-mapped by whoever trains the job; others
        read as CSV by :func:`gradfit.datasets.load`). A dict job may give
        ``"target"`` (the target column of the file X) instead of ``"y"``, and
        ``"rows": (start, stop)``, the slice of X and y it trains on. Each
        model object may appear in one job only.
    n_jobs : int, default 1
        Threads training jobs in this process (-1: one per CPU; the C core
        releases the GIL). With 1, the jobs run one after the other here.
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Run the jobs there instead (leave ``n_jobs`` at 1). A process pool or
        a Dask Client gets plain data only (the model file's bytes, plain
        options, arrays or paths; an array shared by jobs is sent once) and
        the trained parameters come back into the same MLP objects.
    progress : bool, default False
        One progress display for all the jobs: a tqdm bar (jobs done, failed)
        if tqdm is installed, else a line on stderr at most every 2 s.
    errors : {"return", "raise"}, default "return"
        "return": a failed job's exception is its entry in the list.
        "raise": after every job has run, raise the first failed job's
        exception (the others' models are trained).

    Returns
    -------
    list of TrainResult or Exception
        In job order: the job's :class:`TrainResult`, or the exception it
        raised (``ValueError`` for bad data or options, ...; from another
        process, the same built-in type with the worker's traceback in
        ``remote_traceback``, or :class:`RemoteError`).

    Raises
    ------
    TypeError, ValueError
        Before any job runs: a malformed job (no model, an unknown option,
        a model in two jobs, options another process cannot get) or a bad
        ``n_jobs``, ``executor``, ``progress`` or ``errors``.

    Notes
    -----
    A job's result depends only on its own model, data and options (its
    ``seed``), never on ``n_jobs``, the executor or the scheduling, bit for
    bit. Ctrl-C: no new job starts, running ones finish or are cancelled,
    then ``KeyboardInterrupt`` (with ``n_jobs=1``: as in :func:`gradfit.train`).
    See docs/scaling.md for threads, processes, Dask and fused jobs (``TrainResult.fused_with``).

    Examples
    --------
    >>> import numpy as np, gradfit as gf
    >>> X = np.linspace(0, 1, 200).reshape(-1, 1); y = np.sin(6 * X[:, 0])
    >>> jobs = [{"model": gf.MLP([1, h, 1], activation="tanh", seed=0), "X": X, "y": y,
    ...          "lr": lr, "epochs": 20, "seed": 0} for h in (2, 16) for lr in (0.01, 0.1)]
    >>> results = gf.train_many(jobs, n_jobs=2)
    >>> len(results), all(isinstance(r, gf.TrainResult) for r in results)
    (4, True)
    """
    threads = _check_arguments(n_jobs, executor, progress, errors)
    checked = _check_jobs(jobs)
    if executor is not None and not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
        for job in checked:
            for key, value in job.options.items():
                _check_plain(value, f"jobs[{job.index}]: option {key}")
    bar = _Progress(len(checked), bool(progress))
    try:
        out = _run_threads(checked, threads, bar) if executor is None else _run_executor(checked, executor, bar)
    finally:
        bar.close()
    return _finish(out, errors)


def _check_arguments(n_jobs, executor, progress, errors):
    """train_many's own arguments checked; returns the number of threads."""
    if errors not in _ERRORS:
        raise ValueError(f"errors: expected 'return' or 'raise', got {errors!r}")
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress: expected True or False, got {type(progress).__name__} {progress!r}")
    threads = _check_n_jobs(n_jobs)
    if executor is not None:
        if not (isinstance(executor, concurrent.futures.Executor) or _is_dask_client(executor)):
            raise TypeError(f"executor: expected a concurrent.futures.Executor or a dask.distributed.Client, "
                            f"got {type(executor).__name__}")
        if n_jobs != 1:
            raise ValueError(f"n_jobs: the executor sets the parallelism; leave n_jobs at 1 when an executor "
                             f"is given, got {n_jobs}")
    return threads


def _finish(out, errors):
    """The results in job order; with errors="raise", the first failed job's exception."""
    results: list[TrainResult | Exception] = []
    for i, r in enumerate(out):
        if r is None:   # cannot happen: every job gives a result or an error
            r = RuntimeError(f"job {i}: no result")
        results.append(r)
    if errors == "raise":
        failed = [(i, r) for i, r in enumerate(results) if isinstance(r, Exception)]
        if failed:
            i, first = failed[0]
            if hasattr(first, "add_note"):
                first.add_note(f"train_many: jobs[{i}] failed ({len(failed)} of {len(results)} jobs failed; "
                               f"the others trained)")
            raise first
    return results
