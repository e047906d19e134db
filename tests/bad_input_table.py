"""Renders docs/bad_input.md: every bad input of the bad-input tests, tried for
real, with the exception and message it gets. tests/test_bad_input_doc.py
checks that the committed page is what this renders now.

    python tests/bad_input_table.py > docs/bad_input.md
"""
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gradfit as gf  # noqa: E402


def _outcome(call):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except Exception as exc:  # noqa: BLE001 - we record what happens
        return type(exc).__name__, str(exc).splitlines()[0]
    return "(accepted)", ""


def _cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def rows():
    import test_bad_input as bad
    import test_trainer as tr
    out = []
    for case, overrides, _, _ in bad.TRAIN_CASES:
        kwargs = dict(X=bad.X_GOOD, y=bad.Y_GOOD, lr=0.01, batch_size=4, epochs=2)
        kwargs.update(overrides)
        X, y = kwargs.pop("X"), kwargs.pop("y")
        out.append(("gf.train", case, *_outcome(lambda: gf.train(bad.model(), X, y, **kwargs))))
    for case, overrides, _, _ in bad.MODEL_CASES:
        kwargs = dict(layer_sizes=[2, 3, 1], activation="tanh")
        kwargs.update(overrides)
        out.append(("gf.MLP", case, *_outcome(lambda: gf.MLP(**kwargs))))
    X4 = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    for make_model, kwargs, y, match in tr.UNSUPPORTED:
        case = ", ".join(f"{k}={v!r}" if not callable(v) else k for k, v in kwargs.items())
        out.append(("gf.train (features)", case, *_outcome(lambda: gf.train(make_model(), X4, y, epochs=2, **kwargs))))
    m = gf.MLP([3, 2, 1], seed=0)
    for case, call in [("predict(one sample as 1-D)", lambda: m.predict(np.ones(3))),
                       ("predict(1e39 into float32)", lambda: gf.MLP([2, 1], dtype="float32").predict([[1e39, 0]])),
                       ("params with NaN, then predict", lambda: (m.params.__setitem__(0, np.nan), m.predict(np.ones((1, 3))))),
                       ("load(missing file)", lambda: gf.load("/nonexistent/model.npz")),
                       ("load(random bytes)", lambda: gf.load(_random_file())),
                       ("MLP([3, 2**40, 1])", lambda: gf.MLP([3, 2**40, 1])),
                       ("evaluate(metrics=['auc'])", lambda: gf.MLP([3, 1]).evaluate(np.ones((2, 3)), [1, 2], metrics=["auc"]))]:
        out.append(("model / io", case, *_outcome(call)))
    import scipy.sparse as sp
    bad_column = sp.csr_matrix((np.array([1.0]), np.array([5]), np.array([0, 1])), shape=(1, 6))
    for case, call in [("sparse X with a NaN", lambda: gf.train(gf.MLP([3, 1]), sp.csr_matrix(np.array([[np.nan, 0, 1.0]])),
                                                                [1.0], epochs=1)),
                       ("sparse X of 6 columns, model of 3 inputs", lambda: gf.train(gf.MLP([3, 1]), bad_column, [1.0],
                                                                                     epochs=1)),
                       ("sparse y", lambda: gf.train(gf.MLP([3, 1]), np.ones((1, 3)), sp.csr_matrix([[1.0]]), epochs=1))]:
        out.append(("sparse input", case, *_outcome(call)))
    from sklearn.exceptions import NotFittedError  # noqa: F401 - the estimators need scikit-learn
    from gradfit.sklearn import GradfitRegressor
    Xs = np.random.default_rng(0).normal(size=(20, 3))
    for case, call in [("GradfitRegressor(hidden_layer_sizes=(0,)).fit",
                        lambda: GradfitRegressor(hidden_layer_sizes=(0,)).fit(Xs, Xs[:, 0])),
                       ("GradfitRegressor().fit(y with NaN)", lambda: GradfitRegressor().fit(Xs, np.r_[np.nan, Xs[1:, 0]])),
                       ("GradfitRegressor(solver='lbfgs').partial_fit",
                        lambda: GradfitRegressor(solver="lbfgs").partial_fit(Xs, Xs[:, 0])),
                       ("GradfitRegressor().predict before fit", lambda: GradfitRegressor().predict(Xs))]:
        out.append(("gradfit.sklearn", case, *_outcome(call)))
    import test_many as many
    for case, kwargs, _, _ in many.BAD:
        kwargs = dict(kwargs)
        jobs = kwargs.pop("jobs", None) or [(many._m(), many.X0, many.Y0, {"epochs": 2})]
        out.append(("gf.train_many", case, *_outcome(lambda: gf.train_many(jobs, **kwargs))))
    for case, call in _data_cases():
        out.append(("out-of-core (memmap, gf.data)", case, *_outcome(call)))
    rng = np.random.default_rng(0)
    for case, call in [("epoch_order(0, 10) (a seed, not a Generator)", lambda: gf.epoch_order(0, 10)),
                       ("epoch_order(np.random.RandomState(0), 10)", lambda: gf.epoch_order(np.random.RandomState(0), 10)),
                       ("epoch_order(rng, -1)", lambda: gf.epoch_order(rng, -1)),
                       ("epoch_order(rng, 2.5)", lambda: gf.epoch_order(rng, 2.5)),
                       ("epoch_order(rng, True)", lambda: gf.epoch_order(rng, True))]:
        out.append(("gf.epoch_order", case, *_outcome(call)))
    for case in CLI_CASES:
        out.append(("gradfit (command line)", " ".join(case), *_cli_outcome(case)))
    return out


CLI_CASES = [["fit", "/nonexistent.csv", "--target", "y"], ["fit", "{csv}", "--target", "nope"],
             ["fit", "{csv}", "--target", "y", "--layers", "x,y"], ["fit", "{csv}", "--target", "y", "--lr", "nan"],
             ["predict", "/nonexistent.npz", "{csv}"], ["predict", "{csv}", "{csv}"], ["nonsense-command"]]


def _cli_outcome(args):
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "d.csv")
        with open(csv, "w") as f:
            f.write("a,b,y\n1,2,3\n4,5,6\n7,8,9\n")
        argv = [a.replace("{csv}", csv) for a in args]
        proc = subprocess.run([sys.executable, "-m", "gradfit", *argv], capture_output=True, text=True, timeout=120)
        message = " ".join(line for line in proc.stderr.splitlines() if line.strip()).replace(tmp, "$DIR")
    return f"exit {proc.returncode}", message


def _data_cases():
    """Memmaps, gf.data.Chunks streams and gf.data.read_parquet."""
    tmp = os.environ.get("TMPDIR", "/tmp")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X.sum(axis=1)
    path = os.path.join(tmp, "gradfit-bad-input-X.npy")
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")
    blocks = [(X[:20], y[:20]), (X[20:], y[20:])]
    nan_blocks = [(X[:20], y[:20]), (np.r_[X[20:39], [[np.nan, 0.0]]], y[20:])]

    def fit(X_, y_, **kw):
        return lambda: gf.train(gf.MLP([2, 3, 1], seed=0), X_, y_, lr=0.01, batch_size=8, **kw)

    return [
        ("train(memmap X, validation_fraction=0.2)", fit(Xm, y, validation_fraction=0.2)),
        ("train(memmap X, grad_tol=1e-3)", fit(Xm, y, grad_tol=1e-3)),
        ("train(X, y, shuffle='rows')", fit(X, y, shuffle="rows")),
        ("train(X, y, chunk_rows=0)", fit(X, y, chunk_rows=0)),
        ("train(X, y, window_chunks=2.5)", fit(X, y, window_chunks=2.5)),
        ("train(Chunks, y=array)", fit(gf.data.Chunks(blocks), y)),
        ("train(Chunks, shuffle=True)", fit(gf.data.Chunks(blocks), None, shuffle=True)),
        ("train(Chunks with NaN in block 1)", fit(gf.data.Chunks(nan_blocks), None)),
        ("train(Chunks of a generator, epochs=2)", fit(gf.data.Chunks(b for b in blocks), None, epochs=2)),
        ("Chunks(42)", lambda: gf.data.Chunks(42)),
        ("read_parquet(missing file)", lambda: gf.data.read_parquet("/nonexistent/t.parquet", target="y")),
    ]


def _random_file():
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "gradfit-random-bytes.npz")
    with open(path, "wb") as f:
        f.write(np.random.default_rng(0).bytes(300))
    return path


def render():
    lines = ["# Bad inputs and the errors they get", "",
             "Every row was tried for real by `tests/bad_input_table.py` (and "
             "`tests/test_bad_input_doc.py` checks that this page is current). "
             "Each error names the argument first, says what was expected and what was "
             "given, and comes before any training: the model is unchanged. The command line "
             "turns each into one line on stderr and exit code 2.", "",
             "| function | bad input | exception | message |", "|---|---|---|---|"]
    for where, case, exc, msg in rows():
        msg = msg.replace(os.environ.get("TMPDIR", "/tmp"), "$TMPDIR")
        lines.append(f"| {where} | {_cell(case)} | {exc} | {_cell(msg)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
