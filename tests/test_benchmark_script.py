"""The benchmark script runs (a smoke test: it checks the rows and the final
losses, never the speed)."""
import dataclasses
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
GRADFIT_BACKENDS = ("c", "numpy")
# c vs numpy final loss, relative: the same algorithm, rounding apart
AGREE = {"float64": 1e-12, "float32": 1e-5}


@pytest.fixture(scope="module")
def bench():
    """benchmarks/run.py imported as a module (it pins the BLAS thread
    variables in os.environ when imported: restored afterwards)."""
    saved = dict(os.environ)
    try:
        spec = importlib.util.spec_from_file_location("gradfit_bench_run", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return module


def run_script(tmp_path, *args):
    path = tmp_path / "rows.json"
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", *args, "--json", str(path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out, json.loads(path.read_text())


def rows_of(data, workload):
    return {r["backend"]: r for r in data["rows"] if r["workload"] == workload}


def test_quick_benchmark_runs_and_backends_agree(tmp_path):
    out, data = run_script(tmp_path, "--workloads", "W2,W4", "--markdown")
    dtypes = {w["id"]: w["dtype"] for w in data["workloads"]}
    # W2: every NumPy column and the C core ran, did the same work, and were timed
    w2 = rows_of(data, "W2")
    assert {"c", "numpy", "numpy-loop"} <= set(w2)
    for backend in ("c", "numpy", "numpy-loop"):
        row = w2[backend]
        assert row["status"] == "", row
        assert row["samples_per_second"] > 0
        assert row["runs"] == 1
        assert np.isfinite(row["final_loss"]) and row["final_loss"] > 0
    assert w2["numpy"]["ratio"] == 1.0
    assert w2["c"]["loss_rel_diff"] < AGREE[dtypes["W2"]]
    # the hand-written loop starts from the same weights with the same shuffle
    assert w2["numpy-loop"]["loss_rel_diff"] < 1e-9
    # the Markdown table shows the same rows
    table = [line for line in out.stdout.splitlines() if line.startswith("| W2 ")]
    assert {line.split("|")[2].strip() for line in table} >= {"c", "numpy", "numpy-loop"}
    # W4 (cross-entropy): either measured, with c and numpy agreeing, or
    # reported as skipped with its reason; never an error
    w4 = rows_of(data, "W4")
    assert set(GRADFIT_BACKENDS) <= set(w4)
    if all(r["status"].startswith("skipped") for r in w4.values()):
        for r in w4.values():
            assert len(r["status"]) > len("skipped: "), r
        assert "W4" in out.stdout and "skipped:" in out.stdout
    else:
        for backend in GRADFIT_BACKENDS:
            assert w4[backend]["status"] == "", w4[backend]
        assert w4["c"]["loss_rel_diff"] < AGREE[dtypes["W4"]]
    for r in data["rows"]:
        assert not r["status"].startswith("error"), r


def test_only_skipped_workloads_do_not_crash(tmp_path):
    """--workloads W4 alone used to crash in table() when W4 was skipped."""
    out, data = run_script(tmp_path, "--workloads", "W4")
    assert "Traceback" not in out.stderr
    assert {r["workload"] for r in data["rows"]} == {"W4"}


@pytest.mark.parametrize("markdown", [False, True])
def test_table_with_every_row_skipped(bench, markdown):
    rows = [bench.Row("W4", b, status="skipped: needs cross-entropy") for b in ("c", "numpy")]
    lines = bench.table(rows, bench.WORKLOADS, markdown)
    assert sum("skipped: needs cross-entropy" in line for line in lines) == 2


def test_gradfit_runner_times_the_whole_call(bench, monkeypatch):
    """The runner's stopwatch brackets the whole gf.train() call (its own
    readings just before and just after it), and what it reports is the
    difference of those two readings, not TrainResult's own figure. The
    stopwatch is a fake that logs its readings: no wall clock."""
    events = []
    real_train = bench.gf.train

    def train(*args, **kwargs):
        events.append("train begins")
        result = real_train(*args, **kwargs)
        events.append("train ends")
        result.seconds = -1.0             # a value the runner must not report
        return result

    readings = iter(range(0, 10**6, 7))

    def stopwatch():
        value = float(next(readings))
        events.append(value)
        return value

    monkeypatch.setattr(bench.gf, "train", train)
    monkeypatch.setattr(bench.time, "perf_counter", stopwatch)
    wl = next(w for w in bench.WORKLOADS if w.id == "W2")
    X, y = wl.make_data(np.random.default_rng(0), 500)
    for backend in GRADFIT_BACKENDS:
        events.clear()
        run = bench.make_gradfit_runner(backend)(wl, X, y, 1)
        begin, end = events.index("train begins"), events.index("train ends")
        before, after = events[begin - 1], events[end + 1]      # the runner's readings around the call
        assert isinstance(before, float) and isinstance(after, float)
        assert run == bench.RunResult(after - before, run.final_loss, run.problem)
        assert np.isfinite(run.final_loss)


@pytest.mark.parametrize("workload", ["W2", "W4"])
def test_numpy_loop_is_the_same_training_as_gradfit(bench, workload):
    """The hand-written loop trains like gf.train(seed=0): same start, same
    shuffle, same updates (mean squared error on W2, softmax cross-entropy on
    W4); only the rounding of the softplus and softmax formulas differs."""
    wl = next(w for w in bench.WORKLOADS if w.id == workload)
    X, y = wl.make_data(np.random.default_rng(0), 700)
    X, y = X.astype(np.float64), y.astype(np.float64)
    wl = dataclasses.replace(wl, dtype="float64")
    loop = bench.run_numpy_loop(wl, X, y, 2)
    model = bench.new_gradfit_model(wl)
    result = bench.gf.train(model, X, y, lr=wl.lr, batch_size=wl.batch_size, epochs=2, seed=0, loss=wl.loss,
                            backend="numpy")
    assert loop.problem == ""
    assert abs(loop.final_loss - result.final_loss) <= 1e-12 * result.final_loss
