"""gf.train_many: many models in threads or processes give exactly the
results of training them one after the other with gf.train, errors stay
with their job, and bad arguments are refused up front."""
import concurrent.futures
import io
import os
import sys
import threading

import numpy as np
import pytest

import gradfit as gf
from gradfit import _core, many


def data(n=300, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, size=(n, 1)).astype(dtype)
    y = np.exp(-((X[:, 0] - 0.5) / 0.15) ** 2).astype(dtype)
    return X, y


def grid(X, y, dtype="float64"):
    """A grid of 1-2-1 and 1-16-1 jobs with different options."""
    jobs = []
    for hidden in (2, 16):
        for k, (lr, opt) in enumerate([(0.05, "sgd"), (0.1, "sgd"), (0.01, "adam")]):
            model = gf.MLP([1, hidden, 1], activation="tanh", seed=hidden + k, dtype=dtype)
            jobs.append({"model": model, "X": X, "y": y, "lr": lr, "optimizer": opt, "epochs": 7,
                         "batch_size": 16, "seed": 10 * hidden + k})
    return jobs


def sequential(jobs):
    """The same jobs trained one by one with gf.train, on copies."""
    out = []
    for job in jobs:
        job = dict(job)
        model, X, y = job.pop("model").copy(), job.pop("X"), job.pop("y")
        out.append((model, gf.train(model, X, y, **job)))
    return out


def assert_same(jobs, results, expected):
    assert len(results) == len(jobs) == len(expected)
    for job, r, (model, e) in zip(jobs, results, expected):
        assert isinstance(r, gf.TrainResult), r
        np.testing.assert_array_equal(job["model"].params, model.params)     # bit for bit
        assert r.history == e.history
        assert r.final_loss == e.final_loss and r.steps == e.steps and r.stop_reason == e.stop_reason


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("how", ["n_jobs=1", "n_jobs=2", "n_jobs=-1", "thread_pool"])
def test_threads_give_the_sequential_results(how, dtype):
    X, y = data()
    jobs = grid(X, y, dtype)
    expected = sequential(jobs)
    before = [job["model"].params.copy() for job in jobs]
    if how == "thread_pool":
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            results = gf.train_many(jobs, executor=pool)
    else:
        results = gf.train_many(jobs, n_jobs=int(how.split("=")[1]))
    assert_same(jobs, results, expected)
    assert all(not np.array_equal(b, job["model"].params) for b, job in zip(before, jobs))   # trained in place


def test_tuples_and_dicts_are_the_same_jobs():
    X, y = data()
    a = gf.MLP([1, 4, 1], activation="tanh", seed=1)
    b, c = a.copy(), a.copy()
    opts = {"lr": 0.05, "epochs": 3, "seed": 4}
    r = gf.train_many([(a, X, y, opts), {"model": b, "X": X, "y": y, **opts}, (c, X, y, {"seed": 4})], n_jobs=2)
    np.testing.assert_array_equal(a.params, b.params)
    assert r[0].history == r[1].history
    # gf.train's defaults: SGD at lr 0.01 until converged (at most 200 epochs)
    assert r[2].lr == 0.01 and r[2].stop_reason == "converged" and 10 < r[2].epochs < 200


def test_a_failed_job_gives_its_error_in_its_place_and_the_others_train():
    X, y = data()
    jobs = grid(X, y)
    jobs[1]["lr"] = -1.0                              # bad option
    jobs[3]["X"] = np.full((300, 1), np.nan)          # bad data
    untouched = [jobs[i]["model"].params.copy() for i in (1, 3)]
    good = [job for i, job in enumerate(jobs) if i not in (1, 3)]
    expected = sequential(good)
    results = gf.train_many(jobs, n_jobs=2)
    assert isinstance(results[1], ValueError) and str(results[1]).startswith("lr: expected a positive")
    assert isinstance(results[3], ValueError) and str(results[3]).startswith("X: expected finite values")
    np.testing.assert_array_equal(jobs[1]["model"].params, untouched[0])      # failed models are unchanged
    np.testing.assert_array_equal(jobs[3]["model"].params, untouched[1])
    assert_same(good, [r for i, r in enumerate(results) if i not in (1, 3)], expected)


def test_errors_raise_raises_the_first_failure_after_every_job_ran():
    X, y = data()
    jobs = grid(X, y)
    jobs[2]["epochs"] = -3
    jobs[4]["lr"] = 0.0
    expected = sequential([jobs[5]])
    with pytest.raises(ValueError, match=r"^epochs: expected an integer >= 0, got -3") as info:
        gf.train_many(jobs, n_jobs=2, errors="raise")
    if sys.version_info >= (3, 11):
        assert "jobs[2] failed (2 of 6 jobs failed" in info.value.__notes__[-1]
    np.testing.assert_array_equal(jobs[5]["model"].params, expected[0][0].params)    # the last job still ran


def test_shared_X_is_converted_once_and_never_copied_per_job(monkeypatch):
    """The C core receives the caller's float64 X itself in every job; a
    float64 X shared by float32 jobs is converted once, for all of them."""
    X, y = data(n=500)
    seen = []
    real = _core.train

    def spy(*args, **kwargs):
        seen.append(args[13])              # the X buffer handed to C
        return real(*args, **kwargs)

    monkeypatch.setattr(_core, "train", spy)
    gf.train_many(grid(X, y), n_jobs=2)
    assert len(seen) >= 6 and all(s is X for s in seen)
    seen.clear()
    gf.train_many(grid(X, y, dtype="float32"), n_jobs=2)
    assert len(seen) >= 6 and all(s.dtype == np.float32 for s in seen)
    assert len({id(s) for s in seen}) == 1 and not np.shares_memory(seen[0], X)
    np.testing.assert_array_equal(seen[0], X.astype(np.float32))


def test_data_by_path_npy_memmapped_with_rows_and_csv_with_target(tmp_path):
    X, y = data(n=400)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    csv = tmp_path / "d.csv"
    csv.write_text("x,y\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(X[:, 0], y)))
    base = gf.MLP([1, 8, 1], activation="tanh", seed=3)
    opts = {"lr": 0.05, "epochs": 4, "seed": 1}
    jobs = [{"model": base.copy(), "X": str(tmp_path / "X.npy"), "y": tmp_path / "y.npy", "rows": (100, 250), **opts},
            {"model": base.copy(), "X": str(csv), "target": "y", **opts},
            {"model": base.copy(), "X": X, "y": y, "rows": slice(0, 50), **opts}]
    results = gf.train_many(jobs, n_jobs=2)
    expected = sequential([{"model": base, "X": X[100:250], "y": y[100:250], **opts},
                           {"model": base, "X": X, "y": y, **opts},
                           {"model": base, "X": X[:50], "y": y[:50], **opts}])
    assert_same(jobs, results, expected)
    assert results[0].n_samples == 150


def test_data_errors_by_path_are_per_job(tmp_path):
    X, y = data()
    jobs = [{"model": gf.MLP([1, 2, 1], seed=0), "X": str(tmp_path / "missing.npy"), "y": y},
            {"model": gf.MLP([1, 2, 1], seed=0), "X": X, "y": y, "rows": (1000, 2000)},
            {"model": gf.MLP([1, 2, 1], seed=0), "X": X, "y": y, "epochs": 2}]
    r = gf.train_many(jobs)
    assert isinstance(r[0], FileNotFoundError) and "missing.npy" in str(r[0])
    assert isinstance(r[1], ValueError) and str(r[1]) == "rows: X has 300 rows, got rows starting at 1000"
    assert isinstance(r[2], gf.TrainResult)


def test_a_model_being_trained_elsewhere_fails_its_job_only():
    X, y = data()
    jobs = grid(X, y)[:3]
    held = jobs[1]["model"]._lock
    held.acquire()
    try:
        r = gf.train_many(jobs, n_jobs=2)
        assert isinstance(r[1], RuntimeError) and str(r[1]).startswith("model: already being trained")
        assert isinstance(r[0], gf.TrainResult) and isinstance(r[2], gf.TrainResult)
    finally:
        held.release()


def test_progress_one_display_for_all_jobs_plain_text(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)       # no tqdm: plain lines
    X, y = data()
    jobs = grid(X, y)
    jobs[0]["lr"] = -1.0
    gf.train_many(jobs, n_jobs=2, progress=True)
    err = capsys.readouterr().err
    assert "train_many: 6/6 jobs done, 1 failed" in err


def test_progress_with_tqdm_counts_jobs(capsys):
    pytest.importorskip("tqdm")
    X, y = data()
    gf.train_many(grid(X, y), n_jobs=2, progress=True)
    err = capsys.readouterr().err
    assert "6/6" in err and "job" in err


# -- processes ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def process_pool():
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        yield pool


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_process_pool_gives_the_sequential_results_in_the_callers_models(process_pool, dtype):
    X, y = data()
    jobs = grid(X, y, dtype)
    expected = sequential(jobs)
    models = [job["model"] for job in jobs]
    results = gf.train_many(jobs, executor=process_pool)
    assert_same(jobs, results, expected)
    assert [job["model"] for job in jobs] == models          # the same objects, updated in place
    assert all(not m._lock.locked() for m in models)


def test_process_pool_errors_come_back_with_their_type_and_traceback(process_pool, tmp_path):
    X, y = data()
    jobs = grid(X, y)[:3]
    jobs[0]["batch_size"] = 0
    jobs[2]["X"] = str(tmp_path / "nope.npy")
    r = gf.train_many(jobs, executor=process_pool)
    assert isinstance(r[0], ValueError) and str(r[0]) == "batch_size: expected an integer >= 1, got 0"
    assert "check_int" in r[0].remote_traceback
    assert isinstance(r[1], gf.TrainResult)
    assert isinstance(r[2], FileNotFoundError) and "nope.npy" in str(r[2])


def test_only_plain_options_are_sent_to_another_process(process_pool):
    X, y = data()
    m = gf.MLP([1, 2, 1], seed=0)
    cases = [({"callbacks": [lambda info: None]}, r"^jobs\[0\]: option callbacks\[0\]: expected plain values.*functions"),
             ({"seed": np.random.default_rng(0)}, r"^jobs\[0\]: option seed: .*got Generator \(give an int seed"),
             ({"optimizer": gf.Adam(lr=0.01)}, r"^jobs\[0\]: option optimizer: .*got Adam \(give a name")]
    for opts, message in cases:
        with pytest.raises(TypeError, match=message):
            gf.train_many([(m, X, y, opts)], executor=process_pool)
    # in threads they are fine
    calls = []
    r = gf.train_many([(m, X, y, {"callbacks": [lambda info: calls.append(info.epoch)], "epochs": 2,
                                  "optimizer": gf.Adam(lr=0.01), "seed": np.random.default_rng(0)})])
    assert isinstance(r[0], gf.TrainResult) and calls == [1, 2]


def test_a_locked_model_is_not_sent_and_keeps_its_lock(process_pool):
    X, y = data()
    jobs = grid(X, y)[:2]
    lock = jobs[0]["model"]._lock
    lock.acquire()
    try:
        r = gf.train_many(jobs, executor=process_pool)
        assert isinstance(r[0], RuntimeError) and isinstance(r[1], gf.TrainResult)
        assert lock.locked()                      # still ours
    finally:
        lock.release()
    assert not jobs[1]["model"]._lock.locked()


def test_the_payload_is_a_model_file_without_pickle(tmp_path):
    m = gf.MLP([3, 5, 2], activation=["softplus"], output_activation="sigmoid", dtype="float32", seed=7)
    data_ = many._model_bytes(m)
    with np.load(io.BytesIO(data_), allow_pickle=False) as z:
        assert sorted(z.files) == ["metadata", "params"]
        np.testing.assert_array_equal(z["params"], m.params)
    path = tmp_path / "m.npz"
    path.write_bytes(data_)
    back = gf.load(path)
    assert back.layer_sizes == m.layer_sizes and back.activations == m.activations and back.dtype == m.dtype
    np.testing.assert_array_equal(many._model_from_bytes(data_).params, m.params)
    with pytest.raises(ValueError, match="not a valid gradfit file"):
        many._model_from_bytes(data_[:40])


def test_remote_errors_of_other_types_become_RemoteError():
    e = many._error_from({"type": "DivergenceWarning2", "builtin": False, "message": "boom", "traceback": "tb"})
    assert isinstance(e, gf.many.RemoteError) and str(e) == "DivergenceWarning2: boom" and e.remote_traceback == "tb"
    e = many._error_from({"type": "KeyError", "builtin": True, "message": "'k'", "traceback": ""})
    assert isinstance(e, KeyError)


# -- bad arguments ----------------------------------------------------------------------

def _m():
    return gf.MLP([1, 2, 1], seed=0)


X0, Y0 = data(n=20)

BAD = [
    ("jobs not a list", dict(jobs=5), TypeError, r"^jobs: expected a list of jobs \(dicts or tuples\), got int"),
    ("jobs a dict", dict(jobs={"model": 1}), TypeError, r"^jobs: expected a list of jobs"),
    ("job a list", dict(jobs=[[_m(), X0, Y0]]), TypeError, r"^jobs\[0\]: expected a dict .* or a tuple .*got list"),
    ("short tuple", dict(jobs=[(_m(), X0)]), TypeError, r"^jobs\[0\]: expected a tuple \(model, X, y\).*got a tuple of 2"),
    ("not a model", dict(jobs=[("m", X0, Y0)]), TypeError, r"^jobs\[0\]: expected a gradfit.MLP as the model, got str"),
    ("no X", dict(jobs=[{"model": _m(), "y": Y0}]), TypeError, r"^jobs\[0\]: expected a dict with the key 'X'"),
    ("no y", dict(jobs=[{"model": _m(), "X": X0}]), TypeError, r"^jobs\[0\]: expected y"),
    ("unknown key", dict(jobs=[{"model": _m(), "X": X0, "y": Y0, "learning_rate": 0.1}]), TypeError,
     r"^jobs\[0\]: unknown key 'learning_rate'"),
    ("unknown option", dict(jobs=[(_m(), X0, Y0, {"lrr": 1})]), TypeError, r"^jobs\[0\]: unknown option 'lrr'"),
    ("options not a dict", dict(jobs=[(_m(), X0, Y0, 0.1)]), TypeError, r"^jobs\[0\]: expected a dict of gradfit.train"),
    ("progress per job", dict(jobs=[(_m(), X0, Y0, {"progress": True})]), ValueError,
     r"^jobs\[0\]: the option 'progress' is not taken per job"),
    ("y and target", dict(jobs=[{"model": _m(), "X": "a.csv", "y": Y0, "target": "y"}]), ValueError,
     r"^jobs\[0\]: give 'y' or 'target'"),
    ("target without a file", dict(jobs=[{"model": _m(), "X": X0, "target": "y"}]), ValueError,
     r"^jobs\[0\]: 'target' names a column of a data file: X must be a path, got ndarray"),
    ("rows reversed", dict(jobs=[{"model": _m(), "X": X0, "y": Y0, "rows": (5, 2)}]), ValueError,
     r"^jobs\[0\]: 'rows' expected start < stop, got \(5, 2\)"),
    ("rows negative", dict(jobs=[{"model": _m(), "X": X0, "y": Y0, "rows": (-1, 2)}]), ValueError,
     r"^jobs\[0\]: 'rows' expected integers >= 0"),
    ("rows step", dict(jobs=[{"model": _m(), "X": X0, "y": Y0, "rows": slice(0, 9, 2)}]), ValueError,
     r"^jobs\[0\]: 'rows' must be a contiguous range"),
    ("rows scalar", dict(jobs=[{"model": _m(), "X": X0, "y": Y0, "rows": 3}]), TypeError,
     r"^jobs\[0\]: 'rows' expected \(start, stop\)"),
    ("n_jobs 0", dict(n_jobs=0), ValueError, r"^n_jobs: expected an integer >= 1, or -1 for one per CPU, got 0"),
    ("n_jobs -2", dict(n_jobs=-2), ValueError, r"^n_jobs: expected an integer >= 1, or -1 for one per CPU, got -2"),
    ("n_jobs float", dict(n_jobs=2.0), TypeError, r"^n_jobs: expected an integer >= 1.*got float 2.0"),
    ("n_jobs bool", dict(n_jobs=True), TypeError, r"^n_jobs: expected an integer >= 1.*got bool True"),
    ("executor", dict(executor="dask"), TypeError,
     r"^executor: expected a concurrent.futures.Executor or a dask.distributed.Client, got str"),
    ("errors", dict(errors="ignore"), ValueError, r"^errors: expected 'return' or 'raise', got 'ignore'"),
    ("progress", dict(progress="yes"), TypeError, r"^progress: expected True or False, got str 'yes'"),
]


def _models_in(jobs):
    """The MLPs held anywhere in a (bad) jobs argument."""
    if isinstance(jobs, gf.MLP):
        return [jobs]
    if isinstance(jobs, dict):
        return [m for v in jobs.values() for m in _models_in(v)]
    if isinstance(jobs, (list, tuple)):
        return [m for v in jobs for m in _models_in(v)]
    return []


@pytest.mark.parametrize("case, kwargs, error, message", BAD, ids=[c[0] for c in BAD])
def test_bad_arguments_are_refused_before_any_job_runs(case, kwargs, error, message):
    model = _m()
    before = model.params.copy()
    good = (model, X0, Y0, {"epochs": 2})
    kwargs = dict(kwargs)
    jobs = kwargs.pop("jobs", None)
    if jobs is None:                       # a bad keyword: one good job
        jobs = [good]
    elif isinstance(jobs, list):           # a bad job second, after a good one that must not have run
        jobs = [good, *jobs]
        message = message.replace(r"jobs\[0\]", r"jobs\[1\]")
    elif isinstance(jobs, dict):           # one job given as a dict, not in a list
        jobs = dict(jobs, model=model, X=X0, y=Y0)
    # (jobs=5 holds no model: there is nothing to train)
    assert model in _models_in(jobs) or not isinstance(jobs, (list, dict)), case
    others = [(m, m.params.copy()) for m in _models_in(jobs) if m is not model]
    with pytest.raises(error, match=message):
        gf.train_many(jobs, **kwargs)
    np.testing.assert_array_equal(model.params, before)
    for m, params in others:
        np.testing.assert_array_equal(m.params, params)


def test_the_same_model_in_two_jobs_is_refused_and_nothing_trains():
    a, b = _m(), _m()
    before = b.params.copy()
    with pytest.raises(ValueError, match=r"^jobs: jobs\[0\] and jobs\[2\] hold the same model object"):
        gf.train_many([(a, X0, Y0), (b, X0, Y0), (a, X0, Y0)], n_jobs=2)
    np.testing.assert_array_equal(b.params, before)


def test_n_jobs_with_an_executor_is_refused():
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with pytest.raises(ValueError, match=r"^n_jobs: the executor sets the parallelism.*got 2"):
            gf.train_many([(_m(), X0, Y0)], n_jobs=2, executor=pool)


def test_no_jobs_gives_an_empty_list():
    assert gf.train_many([]) == [] and gf.train_many(iter([]), n_jobs=2) == []


def test_two_threads_run_two_jobs_at_the_same_time(monkeypatch):
    """With n_jobs=2 two jobs are on their way into the C core at the same
    time (each waits for the other there): counted, not timed."""
    X, y = data(n=2000)
    inside, most = [0], [0]
    lock = threading.Lock()
    real = _core.train
    both = threading.Barrier(2, timeout=10)

    def spy(*args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            both.wait()                     # each of the first two calls waits for the other one
        except threading.BrokenBarrierError:
            pass
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(_core, "train", spy)
    jobs = [(gf.MLP([1, 4, 1], seed=i), X, y, {"epochs": 1, "seed": i}) for i in range(2)]
    results = gf.train_many(jobs, n_jobs=2)
    assert all(isinstance(r, gf.TrainResult) for r in results)
    assert most[0] == 2


def test_the_benchmark_runs_and_checks_its_results(capsys):
    """benchmarks/many.py --quick, section 1: it checks that n_jobs=1 and
    n_jobs=2 give the parameters of sequential gf.train (nothing timed here)."""
    import argparse
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "many.py"
    if not path.exists():
        pytest.skip("benchmarks/ is not here (not a source tree)")
    spec = importlib.util.spec_from_file_location("bench_many", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.section_threads(argparse.Namespace(quick=True, repeat=1))
    out = capsys.readouterr().out
    assert "results bit-identical to sequential gf.train" in out and "24 jobs" in out


class RecordingPool(concurrent.futures.ProcessPoolExecutor):
    """A process pool that remembers what each job sent."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent = []

    def submit(self, fn, *args, **kwargs):
        self.sent.append(args)
        return super().submit(fn, *args, **kwargs)


def test_a_process_pool_gets_shared_data_as_one_mapped_file_not_a_copy_per_job():
    X, y = data()
    own_y = [y.copy() for _ in range(6)]
    jobs = grid(X, y)
    for job, yk in zip(jobs, own_y):
        job["y"] = yk                                   # X shared by the six jobs, y one per job
    expected = sequential(jobs)
    with RecordingPool(2) as pool:
        results = gf.train_many(jobs, executor=pool)
    assert_same(jobs, results, expected)
    paths = {args[1] for args in pool.sent}
    assert len(paths) == 1 and next(iter(paths)).endswith(".npy")      # one file for X, for every job
    assert all(isinstance(args[2], np.ndarray) for args in pool.sent)     # the per-job y travels as an array
    assert not os.path.exists(next(iter(paths)))                          # removed afterwards
    payload = pool.sent[0][0]
    assert set(payload) == {"model", "options", "rows", "target"} and isinstance(payload["model"], bytes)
