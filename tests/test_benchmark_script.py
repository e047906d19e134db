"""The benchmark suite, gradfit.bench (`gradfit bench`, `python -m
gradfit.bench`): it runs from any directory, its columns do the same
training, and its tables say where they ran. These are smoke tests: they
check the rows, the final losses and the files, never the speed."""
import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import gradfit
from gradfit.bench import command, report, runners, timing, workloads

GRADFIT_BACKENDS = ("c", "numpy")
# c vs numpy final loss, relative: the same algorithm, rounding apart
AGREE = {"float64": 1e-12, "float32": 1e-5}
# gradfit importable from a directory outside the source tree, as an install is
ENV = dict(os.environ, PYTHONPATH=str(pathlib.Path(gradfit.__file__).resolve().parents[1]))


def bench(tmp_path, *args, module=("-m", "gradfit.bench")):
    """Runs the suite in tmp_path (outside the source tree); returns the process."""
    return subprocess.run([sys.executable, *module, *args], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path, env=ENV)


def run_smoke(tmp_path, *args):
    path = tmp_path / "rows.json"
    out = bench(tmp_path, "--smoke", "--frameworks", "none", *args, "--json", str(path))
    assert out.returncode == 0, out.stderr
    return out, json.loads(path.read_text())


def rows_of(data, workload):
    return {r["backend"]: r for r in data["rows"] if r["workload"] == workload}


def test_the_suite_runs_outside_the_source_tree_and_says_where_it_ran(tmp_path):
    png = tmp_path / "r.png"
    args = ["--smoke", "--workloads", "W1", "--threads", "1", "--json", "r.json"]
    if _has("matplotlib"):
        args += ["--plot", str(png)]
    out = bench(tmp_path, *args)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    cpu = next(line for line in lines if line.startswith("CPU: "))
    assert "logical CPUs" in cpu
    for start in ("versions: gradfit ", "gradfit: ISA path " + gradfit.simd(), "NumPy BLAS: ", "date: ",
                  "protocol: ", "mode: smoke"):
        assert any(line.startswith(start) for line in lines), start
    table = [line for line in lines if line.startswith("W1 linear 1->1")]
    assert {line.split()[3] for line in table} >= {"c", "numpy", "numpy-loop"}
    assert "too short to judge" in out.stdout               # smoke runs are never compared
    assert "W1" in out.stderr and "numpy" in out.stderr     # the progress lines
    data = json.loads((tmp_path / "r.json").read_text())
    assert any(h.startswith("CPU: ") for h in data["header"])
    assert {r["backend"] for r in data["rows"]} >= {"c", "numpy", "numpy-loop"}
    if _has("matplotlib"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _has(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("args, fragment", [
    (["--workloads", "W9"], "W9"),
    (["--threads", "0"], "--threads"),
    (["--frameworks", "tensorflow"], "tensorflow"),
    (["--json", "/no/such/dir/r.json"], "--json"),
    (["--bogus"], "--bogus"),
    (["--dtype", "float16"], "--dtype"),
    (["--grids", "G9"], "G9"),
    (["--isa", "avx3"], "--isa"),
])
def test_a_bad_option_exits_2_with_one_line(tmp_path, args, fragment):
    for module in (("-m", "gradfit.bench"), ("-m", "gradfit", "bench")):
        out = bench(tmp_path, *args, module=module)
        assert out.returncode == 2, (module, out.stdout, out.stderr)
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("gradfit: error: "), out.stderr
        assert fragment in out.stderr and out.stdout == ""


def test_plot_without_matplotlib_is_named_in_one_line(tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "matplotlib.py").write_text("raise ImportError('blocked', name='matplotlib')\n")
    env = dict(ENV, PYTHONPATH=f"{blocker}{os.pathsep}{ENV['PYTHONPATH']}")
    out = subprocess.run([sys.executable, "-m", "gradfit.bench", "--smoke", "--plot", "r.png"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path, env=env)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "--plot needs matplotlib: pip install matplotlib" in out.stderr


def test_smoke_benchmark_runs_and_backends_agree(tmp_path):
    out, data = run_smoke(tmp_path, "--workloads", "W2,W4", "--markdown")
    dtypes = {w["id"]: w["dtype"] for w in data["workloads"]}
    for wid in ("W2", "W4"):
        rows = rows_of(data, wid)
        assert {"c", "numpy", "numpy-loop"} <= set(rows)
        for backend in ("c", "numpy", "numpy-loop"):
            row = rows[backend]
            assert row["status"] == "", row
            assert row["samples_per_second"] > 0 and row["runs"] == 1
            assert np.isfinite(row["final_loss"]) and row["final_loss"] > 0
        assert rows["numpy"]["ratio"] == 1.0
        assert rows["c"]["loss_rel_diff"] < AGREE[dtypes[wid]]
        # the hand-written loop starts from the same weights with the same shuffle
        assert rows["numpy-loop"]["loss_rel_diff"] < (1e-9 if dtypes[wid] == "float64" else 1e-6)
    # the Markdown table shows the same rows
    table = [line for line in out.stdout.splitlines() if line.startswith("| W2 ")]
    assert {line.split("|")[2].strip() for line in table} >= {"c", "numpy", "numpy-loop"}
    assert not [r for r in data["rows"] if r["status"].startswith("error")]


def test_dtype_and_threads_options(tmp_path):
    _, data = run_smoke(tmp_path, "--workloads", "w3", "--dtype", "float64", "--threads", "1,2")
    assert [w["dtype"] for w in data["workloads"]] == ["float64"]
    rows = rows_of(data, "W3")
    assert {"c", "c-2threads"} <= set(rows)
    assert rows["c-2threads"]["final_loss"] == rows["c"]["final_loss"]     # results do not depend on threads


def test_isa_avx2_holds_every_library_to_avx2(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    monkeypatch.delenv("GRADFIT_SIMD", raising=False)
    env = command._child_env("avx2")
    assert env["GRADFIT_SIMD"] == "avx2" and env["OPENBLAS_CORETYPE"] == "Haswell"
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"
    flags = env["XLA_FLAGS"].split()
    assert flags[0] == "--xla_dump_to=/tmp/x" and "--xla_cpu_max_isa=AVX2" in flags   # the user's flags kept
    auto = command._child_env()
    assert "GRADFIT_SIMD" not in auto and "--xla_cpu_max_isa=AVX2" not in auto["XLA_FLAGS"]


@pytest.mark.skipif("avx2" not in gradfit.config()["simd_available"], reason="no AVX2 path on this CPU")
def test_isa_avx2_runs_gradfit_on_its_avx2_path_and_says_so(tmp_path):
    out, data = run_smoke(tmp_path, "--workloads", "W3", "--threads", "1", "--isa", "avx2")
    lines = out.stdout.splitlines()
    assert any(line.startswith("gradfit: ISA path avx2,") for line in lines), out.stdout
    assert any(line.startswith("ISA: every column held to AVX2") for line in lines)
    assert rows_of(data, "W3")["c"]["status"] == ""


def test_benchmarks_run_py_is_a_shim_for_old_command_lines(tmp_path):
    script = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
    if not script.is_file():
        pytest.skip("benchmarks/ is not here (not a source tree)")
    out = bench(tmp_path, "--smoke", "--workloads", "W1", "--frameworks", "none", module=(str(script),))
    assert out.returncode == 0, out.stderr
    assert "W1 linear 1->1" in out.stdout and "W2 1->2" not in out.stdout


@pytest.mark.parametrize("markdown", [False, True])
def test_table_with_every_row_skipped(markdown):
    rows = [timing.Row("W4", b, status="skipped: needs cross-entropy") for b in ("c", "numpy")]
    lines = report.table(rows, workloads.WORKLOADS, markdown)
    assert sum("skipped: needs cross-entropy" in line for line in lines) == 2


def test_a_ratio_from_short_runs_is_not_printed():
    wl = workloads.BY_ID["W1"]
    base = timing.Row("W1", "numpy", 1e6, 0.01, 1.0, runs=3, seconds=1.0)
    fast = timing.Row("W1", "c", 1e8, 0.01, 1.0, runs=3, seconds=timing.MIN_JUDGE_SECONDS / 2)
    slow = timing.Row("W1", "numpy-loop", 2e6, 0.01, 1.0, runs=3, seconds=0.5)
    timing.compare(wl, {"numpy": base, "c": fast, "numpy-loop": slow}, 1000, None)
    assert not fast.judged and slow.judged and base.judged
    text = "\n".join(report.table([fast, base, slow], workloads.WORKLOADS, False))
    assert text.count(timing.TOO_SHORT) == 1 and "2.00x" in text and "100.00x" not in text


def test_gradfit_runner_times_the_whole_call(monkeypatch):
    """The runner's stopwatch brackets the whole gf.train() call (its own
    readings just before and just after it), and what it reports is the
    difference of those two readings, not TrainResult's own figure. The
    stopwatch is a fake that logs its readings: no wall clock."""
    events = []
    real_train = runners.gf.train

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

    monkeypatch.setattr(runners.gf, "train", train)
    monkeypatch.setattr(runners.time, "perf_counter", stopwatch)
    wl = workloads.BY_ID["W2"]
    X, y = wl.make_data(np.random.default_rng(0), 500)
    for backend in GRADFIT_BACKENDS:
        events.clear()
        run = runners.make_gradfit_runner(backend)(wl, X, y, 1)
        begin, end = events.index("train begins"), events.index("train ends")
        before, after = events[begin - 1], events[end + 1]      # the runner's readings around the call
        assert isinstance(before, float) and isinstance(after, float)
        assert run == runners.RunResult(after - before, run.final_loss, run.problem)
        assert np.isfinite(run.final_loss)


def test_the_numpy_columns_time_the_training_alone(monkeypatch):
    """The "numpy" and "numpy-loop" stopwatches stop before the loss over the
    data: a skilled user's loop makes no pass over the data after training."""
    from gradfit.bench import baseline
    events = []
    real_loss, real_train = baseline.NumpyBaseline.loss, baseline.NumpyBaseline.train
    monkeypatch.setattr(baseline.NumpyBaseline, "loss", lambda self, *a, **k: events.append("loss") or
                        real_loss(self, *a, **k))
    monkeypatch.setattr(baseline.NumpyBaseline, "train", lambda self, *a, **k: events.append("train") or
                        real_train(self, *a, **k))
    monkeypatch.setattr(runners.time, "perf_counter", lambda: events.append("clock") or 0.0)
    real_loop_loss = runners.numpy_loop_loss
    monkeypatch.setattr(runners, "numpy_loop_loss", lambda *a, **k: events.append("loss") or real_loop_loss(*a, **k))
    wl = workloads.BY_ID["W2"]
    X, y = wl.make_data(np.random.default_rng(0), 300)
    runners.run_numpy_baseline(wl, X, y, 1)
    assert events == ["clock", "train", "clock", "loss"]
    events.clear()
    runners.run_numpy_loop(wl, X, y, 1)
    assert events == ["clock", "clock", "loss"]


@pytest.mark.parametrize("workload", ["W2", "W4"])
def test_numpy_loop_is_the_same_training_as_gradfit(workload):
    """The hand-written loop trains like gf.train(seed=0): same start, same
    shuffle, same updates (mean squared error on W2, softmax cross-entropy on
    W4); only the rounding of the softplus and softmax formulas differs."""
    wl = dataclasses.replace(workloads.BY_ID[workload], dtype="float64")
    X, y = wl.data(700)
    loop = runners.run_numpy_loop(wl, X, y, 2)
    model = runners.new_gradfit_model(wl)
    result = gradfit.train(model, X, y, lr=wl.lr, batch_size=wl.batch_size, epochs=2, seed=0, loss=wl.loss,
                           backend="numpy")
    assert loop.problem == ""
    assert abs(loop.final_loss - result.final_loss) <= 1e-12 * result.final_loss


def test_sklearn_column_where_it_applies():
    sklearn = pytest.importorskip("sklearn")
    from gradfit.bench import frameworks
    run = frameworks.make_sklearn_runners(sklearn)["sklearn"]
    with pytest.raises(NotImplementedError, match="softplus"):
        run(workloads.BY_ID["W2"], *workloads.BY_ID["W2"].data(64), 1)
    for wid in ("W3", "W4"):
        wl = workloads.BY_ID[wid]
        result = run(wl, *wl.data(256), 1)
        assert np.isfinite(result.final_loss) and result.problem == ""


def test_workload_selection():
    assert [w.id for w in workloads.select(["w3", " W1"])] == ["W1", "W3"]
    assert {w.dtype for w in workloads.select(None, "float64")} == {"float64"}
    with pytest.raises(ValueError, match="W7"):
        workloads.select(["W7"])
    args = command.parse_args(["--workloads", "W5", "--torch", "--threads", "2,1,2"])
    assert [w.id for w in args.selected] == ["W5"] and args.threads == [2, 1]
    assert args.wanted is None and args.required == ["torch"]      # auto, and torch named if missing
    assert command.parse_args(["--frameworks", "none"]).wanted == []


@pytest.mark.parametrize("framework, package", [("torch", "torch"), ("sklearn", "scikit-learn")])
def test_a_missing_framework_is_named_in_one_line(tmp_path, framework, package):
    """Asked for and missing (here: blocked), a framework's column is named
    in one line on stderr; the run goes on without it and exits 0."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / f"{framework}.py").write_text(f"raise ImportError('blocked', name={framework!r})\n")
    env = dict(ENV, PYTHONPATH=f"{blocker}{os.pathsep}{ENV['PYTHONPATH']}")
    out = subprocess.run([sys.executable, "-m", "gradfit.bench", "--smoke", "--workloads", "W3", "--frameworks",
                          framework], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    named = [line for line in out.stderr.splitlines() if "needs" in line]
    assert named == [f"gradfit bench: the {framework} column needs {package}: pip install {package} "
                     f"(or \"gradfit[{framework}]\"); running without it"]
    assert "Traceback" not in out.stderr
    assert f"not installed: {framework}" in out.stdout


def test_nothing_in_gradfit_but_the_command_imports_the_suite():
    import ast
    pkg = pathlib.Path(gradfit.__file__).resolve().parent
    importers = []
    for path in pkg.rglob("*.py"):
        if "bench" in path.relative_to(pkg).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [f"{node.module or ''}.{a.name}" for a in node.names] + [node.module or '']
                     if isinstance(node, ast.ImportFrom) else [])
            if any(n == "bench" or n.startswith("bench.") or ".bench" in n for n in names):
                importers.append(path.name)
    assert sorted(set(importers)) == ["cli.py"]


def test_grids_run_and_say_where_they_ran(tmp_path):
    """--grids: one row per grid, with the goal and the CPU named; train_many's
    models are checked bit-identical to gf.train's inside the suite."""
    out = bench(tmp_path, "--smoke", "--frameworks", "none", "--grids", "G1,G3", "--markdown")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "CPU" in text or "cpu" in text
    assert "| G1: 256 linear 1->1 models, different lrs | 256 | 1,000 |" in text
    assert "| G3: 16 tanh 1-64-64-1 nets | 16 | 250 |" in text
    assert ">= 40" in text and ">= 1.5" in text and "parameters differ" not in text
    rows = [line for line in text.splitlines() if line.startswith("| G")]
    assert len(rows) == 2 and all(float(r.split("|")[5]) > 0 for r in rows)


def test_grid_selection_and_bad_ids():
    from gradfit.bench import grids
    assert [g.id for g in grids.select_grids("all")] == ["G1", "G2", "G3"]
    assert [g.id for g in grids.select_grids("g3,G1")] == ["G1", "G3"]
    with pytest.raises(ValueError, match="unknown grid id"):
        grids.select_grids("G9")
    g = grids.GRIDS_BY_ID["G2"]
    models = g.models()
    assert len(models) == 64 and len(set(m.params.tobytes() for m in models)) == 64
    assert len(set(g.lrs())) == 64


def test_flops_count_the_training_products_only():
    # W5: 256->512->512->1; per sample and epoch 2 flops per MAC for the
    # forward product and dW of every layer, plus the input gradient above
    # the first layer; nothing for a pass over the data after training
    wl = workloads.BY_ID["W5"]
    macs = [256 * 512, 512 * 512, 512 * 1]
    assert timing.training_flops(wl, 1000) == 1000 * wl.epochs * 2 * (2 * sum(macs) + macs[1] + macs[2])


def test_the_peak_of_the_blas_kernel_a_forced_coretype_hides(monkeypatch):
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    assert timing.measure_unforced_peak(["float32"], 64) is None
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    got = timing.measure_unforced_peak(["float32", "float64"], 64)
    assert got is not None, "the fresh process did not report"
    rates, kernel = got
    assert set(rates) == {"float32", "float64"} and all(v > 0 for v in rates.values())
    assert kernel is None or isinstance(kernel, str)
