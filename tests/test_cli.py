"""The `gradfit` command: the demo prints the tutorial's exact numbers and
its explained step; fit -> predict round trips through files; bad files and
bad options end with one line on stderr and exit code 2, never a traceback."""
import csv
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import gradfit as gf


def run(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(gf.__file__)), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "gradfit", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def demo():
    out = run("demo")
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_demo_worked_example(demo):
    assert "loss = (pred - y)^2 = 3.61" in demo
    assert "dL/dw = dL/dpred * dpred/dw = -3.8 * 2.1 = -7.98" in demo
    assert "dL/db = dL/dpred * dpred/db = -3.8 * 1 = -3.8" in demo
    assert "w = 1 - 0.01*(-7.98) = 1.0798, b = 0 - 0.01*(-3.8) = 0.038" in demo
    assert "new loss = 2.8710591364" in demo


def test_demo_linear_regression_reaches_the_closed_form(demo):
    line = next(l for l in demo.splitlines() if "closed form" in l)
    gd = next(l for l in demo.splitlines() if "full-batch GD" in l)
    w_cf, b_cf = map(float, re.search(r"w = (\S+), b = (\S+)$", line).groups())
    w_gd, b_gd = map(float, re.search(r"\): w = (\S+), b = (\S+) after", gd).groups())
    assert abs(w_gd - w_cf) < 1e-6 and abs(b_gd - b_cf) < 1e-6
    assert "(grad_tol)" in gd
    assert abs(w_cf + 1) < 0.05 and abs(b_cf - 5) < 0.1


def test_demo_softplus_and_timing(demo):
    fits = [l for l in demo.splitlines() if "softplus, float64)" in l]
    assert len(fits) == 2
    assert float(fits[0].split("-> ")[1]) < 1e-2      # 1-2-1
    assert float(fits[1].split("-> ")[1]) < 1e-3      # 1-16-1
    assert "backend c" in demo and "backend numpy" in demo


def test_config_and_usage():
    out = run("config")
    assert out.returncode == 0 and "simd_in_use" in out.stdout
    assert run().returncode == 2
    assert run("--version").stdout.startswith("gradfit ")


def test_demo_explains_one_step_through_the_121_net(demo):
    assert "One step through the 1-2-1 softplus net" in demo
    assert "dL/dw₁₁ = dL/dŷ · dŷ/da₁ · da₁/dz₁ · dz₁/dw₁₁" in demo
    model = gf.MLP([1, 2, 1], activation="softplus", weights=[[[1.0, -2.0]], [[0.5], [1.5]]],
                   biases=[[0.1, -0.3], [0.2]])
    loss, grad = model.loss_and_grad([[0.5]], [1.0])
    assert f"= {loss:.10g}" in demo
    assert f"      = {grad[0]:.6g}" in demo                         # dL/dw11, the C core's
    after = model.copy()
    after.params = model.params - 0.1 * grad
    assert f"New loss (after the step): {after.loss([[0.5]], [1.0]):.10g}" in demo


def test_demo_has_a_legend_and_says_why_the_lr_drops(demo):
    assert "legend: '.' data, 'o' model, '*' both" in demo
    why = next(l for l in demo.splitlines() if "why the lr drops" in l)
    before, after = map(float, re.findall(r"mse (\S+?)[ )]", why))
    assert after < before


def test_every_subcommand_has_help():
    for command in ("demo", "config", "fit", "predict", "explain", "bench"):
        out = run(command, "--help")
        assert out.returncode == 0 and "usage: gradfit " + command in out.stdout, command


def _write_csv(path, X, y, names):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for row, t in zip(X, y):
            w.writerow([repr(float(v)) for v in row] + [repr(float(t))])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (120, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    _write_csv(tmp / "train.csv", X, y, ["a", "b", "y"])
    out = run("fit", "train.csv", "--target", "y", "--layers", "16,16", "--activation", "tanh", "--epochs", "50",
              "--lr", "0.01", "--out", "model.npz", cwd=tmp)
    assert out.returncode == 0, out.stderr
    return tmp, X, y, out


def test_fit_shows_progress_prints_the_summary_and_saves(fitted):
    tmp, X, y, out = fitted
    assert "MLP([2, 16, 16, 1], tanh, float64)" in out.stdout
    assert "TrainResult: 50 epoch(s)" in out.stdout and "saved to model.npz" in out.stdout
    assert "50" in out.stderr                             # the progress bar / lines
    model = gf.load(tmp / "model.npz")
    assert model.layer_sizes == (2, 16, 16, 1) and model.activations == ("tanh", "tanh", "identity")
    assert model.evaluate(X, y, metrics=["r2"])["r2"] > 0.9


def test_fit_then_predict_round_trip(fitted):
    tmp, X, y, _ = fitted
    out = run("predict", "model.npz", "train.csv", "--target", "y", cwd=tmp)
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["prediction"]
    pred = np.array([float(r[0]) for r in rows[1:]])
    model = gf.load(tmp / "model.npz")
    np.testing.assert_array_equal(pred, model.predict(X)[:, 0])   # repr round-trips every digit


def test_explain_on_a_saved_model_and_row(fitted):
    tmp, X, y, _ = fitted
    out = run("explain", "--model", "model.npz", "--data", "train.csv", "--target", "y", "--row", "3",
              "--lr", "0.01", cwd=tmp)
    assert out.returncode == 0, out.stderr
    model = gf.load(tmp / "model.npz")
    loss, grad = model.loss_and_grad(X[3:4], y[3:4])
    assert f"= {loss:.10g}" in out.stdout and "summarised" in out.stdout
    assert f"|gradient| = {np.linalg.norm(grad):.6g}" in out.stdout


def test_explain_without_a_model_uses_the_121_net():
    out = run("explain")
    assert out.returncode == 0, out.stderr
    assert "dL/dw₁₁ = dL/dŷ · dŷ/da₁ · da₁/dz₁ · dz₁/dw₁₁" in out.stdout
    out = run("explain", "--markdown")
    assert "| w₁₁ | 1 |" in out.stdout


def test_bench_runs_the_suite_from_the_package():
    """`gradfit bench` is gradfit.bench: its own options and help; it runs from
    any install (tests/test_benchmark_script.py runs it outside the tree)."""
    out = run("bench", "--help")
    assert out.returncode == 0 and "--full" in out.stdout and "--plot" in out.stdout
    out = run("bench", "--smoke", "--workloads", "W1", "--frameworks", "none")
    assert out.returncode == 0, out.stderr
    assert "mode: smoke" in out.stdout and "W1 linear 1->1" in out.stdout and "W2" not in out.stdout
    _one_line_error(run("bench", "--workloads", "W0"), "--workloads", "W0")


def _one_line_error(out, *fragments):
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradfit: error: "), out.stderr
    assert "Traceback" not in out.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.mark.parametrize("content, args, fragments", [
    ("a,y\n1,2\n3\n", ["--target", "y"], ["bad.csv line 3", "expected 2 cells"]),           # malformed
    ("a,y\n1,2\n3,4\n", ["--target", "z"], ["bad.csv has no column 'z'", "a, y"]),          # no target
    ("a,y\n1,2\nx,4\n", ["--target", "y"], ["bad.csv line 3, column 'a'", "got 'x'"]),      # not a number
    ("a,y\n1,2\n3,4\n", ["--target", "y", "--layers", "4,x"], ["--layers", "16,16"]),       # bad option
    ("a,y\n1,2\n3,4\n", ["--target", "y", "--lr", "-1"], ["--lr", "positive number"]),
    ("a,y\n1,2\n3,4\n", ["--target", "y", "--loss", "hinge"], ["--loss", "invalid choice"]),
])
def test_fit_bad_files_and_options(tmp_path, content, args, fragments):
    (tmp_path / "bad.csv").write_text(content)
    _one_line_error(run("fit", "bad.csv", *args, "--epochs", "1", "--quiet", cwd=tmp_path), *fragments)


def test_fit_missing_data_file(tmp_path):
    _one_line_error(run("fit", "nothing.csv", "--target", "y", cwd=tmp_path), "nothing.csv: no such file")


def test_predict_bad_inputs(fitted, tmp_path):
    tmp, X, y, _ = fitted
    model = os.path.join(tmp, "model.npz")
    _one_line_error(run("predict", str(tmp_path / "none.npz"), os.path.join(tmp, "train.csv")),
                    "none.npz: no such model file")
    # a file without a header: its columns by position, so their number must fit
    (tmp_path / "plain.csv").write_text("1,2,3\n4,5,6\n")
    _one_line_error(run("predict", model, str(tmp_path / "plain.csv")),
                    "the model takes 2 feature column(s), the file has 3", "--target")
    # a header that lacks one of the model's features
    (tmp_path / "one.csv").write_text("a\n1\n2\n")
    _one_line_error(run("predict", model, str(tmp_path / "one.csv")), "no column 'b', a feature of the model",
                    "its features: a, b")
    (tmp_path / "cell.csv").write_text("a,b\n1,2\n3,four\n")
    _one_line_error(run("predict", model, str(tmp_path / "cell.csv")), "column 'b'", "got 'four'")
    (tmp_path / "junk.npz").write_text("not a model")
    _one_line_error(run("predict", str(tmp_path / "junk.npz"), os.path.join(tmp, "train.csv")), "junk.npz")


def test_demo_plots_into_a_directory_it_cannot_make(tmp_path):
    (tmp_path / "file").write_text("")
    _one_line_error(run("demo", "--plots", str(tmp_path / "file" / "img")), "--plots: cannot create the directory")


def _predictions(out):
    assert out.returncode == 0, out.stderr
    return np.array([float(r[0]) for r in list(csv.reader(io.StringIO(out.stdout)))[1:]])


def test_predict_reads_the_features_by_name_in_any_order(fitted, tmp_path):
    """The model file keeps its features' names: a file with the columns in
    another order, with the target or other columns besides, predicts the
    same numbers (reading by position predicted 0.124 instead of 0.152)."""
    tmp, X, y, _ = fitted
    model = os.path.join(tmp, "model.npz")
    expected = gf.load(model).predict(X)[:, 0]
    _write_csv(tmp_path / "reordered.csv", np.column_stack([y, X[:, 1]]), X[:, 0], ["y", "b", "a"])
    np.testing.assert_array_equal(_predictions(run("predict", model, str(tmp_path / "reordered.csv"))), expected)
    np.testing.assert_array_equal(_predictions(run("predict", model, os.path.join(tmp, "train.csv"))), expected)


def test_fit_takes_features_and_drop(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (80, 3))
    y = X[:, 0] - 2 * X[:, 2]
    _write_csv(tmp_path / "d.csv", np.column_stack([X, np.arange(80)]), y, ["a", "b", "c", "label", "y"])
    common = ["--target", "y", "--layers", "none", "--epochs", "3", "--quiet"]
    out = run("fit", "d.csv", *common, "--drop", "label", "--out", "m1.npz", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "features: a, b, c" in out.stdout and gf.load(tmp_path / "m1.npz").n_inputs == 3
    out = run("fit", "d.csv", *common, "--features", "c,a", "--out", "m2.npz", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "features: c, a" in out.stdout and gf.load(tmp_path / "m2.npz").n_inputs == 2
    meta = gf.io.read_metadata(tmp_path / "m2.npz")
    assert meta["extra"]["gradfit_fit"]["features"] == ["c", "a"]
    _one_line_error(run("fit", "d.csv", *common, "--features", "a,zz", cwd=tmp_path),
                    "--features: d.csv has no column 'zz'", "a, b, c, label, y")
    _one_line_error(run("fit", "d.csv", *common, "--features", "a,y", cwd=tmp_path), "'y' is the target column")
    _one_line_error(run("fit", "d.csv", *common, "--drop", "nope", cwd=tmp_path), "--drop: d.csv has no column 'nope'")


def test_explain_a_saved_model_uses_the_lr_it_was_trained_with(fitted):
    tmp, X, y, _ = fitted
    out = run("explain", "--model", "model.npz", "--data", "train.csv", "--target", "y", "--row", "3", cwd=tmp)
    assert out.returncode == 0, out.stderr
    assert "loss mse, lr 0.01\n" in out.stdout and "The step lowered the loss" in out.stdout


def test_fit_poisson_then_predict_the_mean(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (200, 2))
    y = rng.poisson(np.exp(0.5 + X[:, 0])).astype(float)
    _write_csv(tmp_path / "counts.csv", X, y, ["a", "b", "y"])
    out = run("fit", "counts.csv", "--target", "y", "--layers", "none", "--loss", "poisson", "--optimizer", "adam",
              "--epochs", "200", "--lr", "0.05", "--out", "m.npz", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = run("predict", "m.npz", "counts.csv", "--target", "y", "--output", "mean", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    mean = np.array([float(r[0]) for r in list(csv.reader(io.StringIO(out.stdout)))[1:]])
    model = gf.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(mean, model.predict_mean(X)[:, 0])
    np.testing.assert_allclose(mean, np.exp(0.5 + X[:, 0]), rtol=0.25)
