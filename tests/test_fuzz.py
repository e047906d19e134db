"""Crash fuzzing: random, often hostile calls of every public function (and
the CLI) in subprocesses. Each call starts from valid arguments and replaces
one or two of them with hostile values (wrong types, NaN/inf, empty, huge,
wrong shapes, wrong dtypes, non-contiguous views). A call may succeed or raise
ValueError / TypeError / RuntimeError with a message that starts with an
argument's name; anything else, a crash or a hang fails the test."""
import os
import subprocess
import sys
import textwrap

import pytest

FUZZ_CALLS = int(os.environ.get("GRADFIT_FUZZ_CALLS", "300"))

DRIVER = textwrap.dedent(r'''
    import re, sys, warnings
    import numpy as np
    import gradfit as gf

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(int(sys.argv[1]))
    calls = int(sys.argv[2])

    def hostile():
        pool = [None, 0, -1, 1, 2, 3.5, -0.0, float("nan"), float("inf"), -float("inf"), 2**40, -2**63, 1e308,
                True, "x", "", "mse", b"\x00", [], [[]], [1, "a"], {}, (), object(), 1j,
                np.array([]), np.zeros((0, 3)), np.zeros((3, 0)), np.ones((2, 3, 4)), np.array(["a", "b"]),
                np.array([1 + 2j]), np.array([None, None]), np.array([[np.nan, 1.0]]),
                np.array([[np.inf, 1.0]]), np.full((4, 3), 1e39), np.ones((5, 3), dtype=np.int8),
                np.ones((5, 3), dtype=bool), np.ones((5, 3), dtype=np.float16),
                np.ones((10, 6))[::2, ::2], np.asfortranarray(np.ones((5, 3))),
                np.random.default_rng(0), lambda *a: float("nan"), print]
        return pool[rng.integers(len(pool))]

    def valid():
        X = rng.normal(size=(int(rng.integers(1, 40)), 3))
        return X, np.sin(X).sum(axis=1)

    def model(**over):
        kw = dict(layer_sizes=[3, 4, 1], activation="tanh", seed=0)
        kw.update(over)
        return gf.MLP(**kw)

    def train_call(over):
        X, y = valid()
        kw = dict(X=X, y=y, lr=0.01, epochs=2, batch_size=4, seed=0, max_steps=200)
        kw.update(over)
        m = model()
        return gf.train(m, kw.pop("X"), kw.pop("y"), **kw)

    TRAIN_ARGS = ["X", "y", "lr", "epochs", "batch_size", "seed", "loss", "optimizer", "momentum",
                  "nesterov", "beta1", "beta2", "eps", "weight_decay", "l2", "huber_delta", "sample_weight",
                  "lr_schedule", "validation_data", "validation_fraction", "early_stopping", "patience",
                  "min_delta", "callbacks", "progress", "backend", "shuffle", "grad_tol", "max_steps"]
    MODEL_ARGS = ["layer_sizes", "activation", "output_activation", "dtype", "init", "seed", "weights", "biases"]

    def pick(names):
        return {names[rng.integers(len(names))]: hostile() for _ in range(int(rng.integers(1, 3)))}

    def one_call():
        kind = rng.integers(9)
        if kind == 0:
            return model(**pick(MODEL_ARGS))
        if kind == 1:
            return train_call(pick(TRAIN_ARGS))
        m = model()
        X, y = valid()
        h = hostile()
        if kind == 2:
            return m.predict(h)
        if kind == 3:
            return m.loss_and_grad(X, y, **pick(["loss", "sample_weight", "huber_delta", "l2"])) \
                if rng.integers(2) else m.loss_and_grad(h, y)
        if kind == 4:
            return m.evaluate(X, y, **pick(["loss", "metrics", "sample_weight", "huber_delta"]))
        if kind == 5:
            m.params = h
            return m.predict(X)
        if kind == 6:
            t = gf.Trainer(m, **pick(["optimizer", "loss", "lr", "batch_size", "seed", "lr_schedule",
                                      "validation_fraction", "callbacks", "l2"]))
            return t.fit(X, y, epochs=2, max_steps=100)
        if kind == 7:
            return gf.explain_step(m, X[:2], y[:2], **pick(["lr", "loss"])) if hasattr(gf, "explain_step") else None
        return m.predict_proba(h) if rng.integers(2) else m.predict_class(h)

    message = re.compile(r"^[A-Za-z_][\w\[\]\.]*: ")
    for i in range(calls):
        try:
            one_call()
        except (ValueError, TypeError, RuntimeError) as exc:
            text = str(exc)
            if not message.match(text):
                import traceback
                traceback.print_exc()
                print(f"call {i}: {type(exc).__name__} without an argument name: {text[:300]}")
                sys.exit(3)
        except Exception as exc:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            print(f"call {i}: unexpected {type(exc).__name__}: {exc}")
            sys.exit(4)
    print("ok", calls)
''')


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_hostile_calls_never_crash_or_hang(seed, tmp_path):
    script = tmp_path / "fuzz.py"
    script.write_text(DRIVER)
    proc = subprocess.run([sys.executable, str(script), str(seed), str(FUZZ_CALLS)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    assert proc.stdout.strip().endswith(f"ok {FUZZ_CALLS}")


@pytest.mark.parametrize("args", [
    ["fit"], ["fit", "/nonexistent.csv", "--target", "y"], ["predict", "/nonexistent.npz", "/nonexistent.csv"],
    ["fit", "{csv}", "--target", "y", "--layers", "x,y"], ["fit", "{csv}", "--target", "y", "--epochs", "-3"],
    ["fit", "{csv}", "--target", "y", "--lr", "nan"], ["fit", "{csv}", "--target", "nope"],
    ["predict", "{csv}", "{csv}"], ["explain", "--row", "-5"], ["nonsense-command"], ["demo", "--plots", "/proc/x"],
])
def test_hostile_command_lines_give_one_line_errors(args, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,y\n1,2,3\n4,5,6\n7,8,9\n")
    args = [a.replace("{csv}", str(csv)) for a in args]
    proc = subprocess.run([sys.executable, "-m", "gradfit", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (args, proc.returncode, proc.stdout[-500:], proc.stderr[-1500:])
    assert "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) <= 2, proc.stderr
