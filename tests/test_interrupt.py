"""Ctrl-C during training: the run stops after the C call in progress (at
most ~0.1 s of work), KeyboardInterrupt carries the partial TrainResult, the
parameters are those of a completed step, and a Trainer resumes exactly."""
import os
import signal

import numpy as np
import pytest
from trainhelp import CtrlC

import gradfit as gf
import gradfit._loop as training


def data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2]


@pytest.mark.parametrize("optimizer", [gf.SGD(lr=0.05, momentum=0.9), gf.Adam(lr=0.01)], ids=repr)
def test_interrupted_fit_resumes_bit_identical(monkeypatch, optimizer):
    monkeypatch.setattr(training, "WORK_PER_CALL", 4000)          # several C calls per epoch
    X, y = data()
    m1, m2 = gf.MLP([3, 8, 1], activation="tanh", seed=0), gf.MLP([3, 8, 1], activation="tanh", seed=0)
    t1 = gf.Trainer(m1, optimizer, batch_size=8, seed=3, callbacks=[CtrlC(epoch=3, fraction=0.4)])
    with pytest.raises(KeyboardInterrupt) as info:
        t1.fit(X, y, epochs=5)
    partial = info.value.result
    assert partial.stop_reason == "interrupted" and partial.epochs == 2 and t1.epoch == 2
    assert partial.history["loss"] == t1.history["loss"] and len(partial.history["loss"]) == 2
    assert 2 * 38 < partial.steps == t1.step < 3 * 38                 # inside the third epoch
    assert np.isfinite(m1.params).all()
    r = t1.fit(X, y, epochs=3)              # finishes the third epoch (one of the 3), then two more
    t2 = gf.Trainer(m2, optimizer, batch_size=8, seed=3)
    r2 = t2.fit(X, y, epochs=5)
    assert np.array_equal(m1.params, m2.params) and np.array_equal(t1.state, t2.state)
    assert t1.step == t2.step and t1.epoch == t2.epoch == 5
    assert r.history["loss"] == r2.history["loss"]


def test_train_raises_keyboard_interrupt_with_the_partial_result(monkeypatch):
    monkeypatch.setattr(training, "WORK_PER_CALL", 4000)
    X, y = data()
    m = gf.MLP([3, 8, 1], activation="tanh", seed=0)
    with pytest.raises(KeyboardInterrupt) as info:
        gf.train(m, X, y, lr=0.05, batch_size=8, epochs=50, seed=0, callbacks=[CtrlC(epoch=2, fraction=0.5)])
    r = info.value.result
    assert r.stop_reason == "interrupted" and r.epochs == 1 and 38 < r.steps < 2 * 38
    # the parameters are those of the last completed step: the same run cut at that step
    m2 = gf.MLP([3, 8, 1], activation="tanh", seed=0)
    gf.train(m2, X, y, lr=0.05, batch_size=8, epochs=50, seed=0, max_steps=r.steps)
    assert np.array_equal(m.params, m2.params)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler      # the handler is put back
    # its summary says the final loss was not computed, not "final nan" (which reads as a divergence)
    text = str(r)
    assert "final loss not computed (interrupted)" in text and "nan" not in text
    assert "stopped: interrupted by Ctrl-C" in text


def test_predict_works_in_bounded_calls_and_gives_the_same_numbers(monkeypatch):
    """predict() splits large inputs into C calls of ~0.1 s of work, so that
    Ctrl-C is seen between them; the split changes no number."""
    import gradfit.model as model_module
    m = gf.MLP([5, 64, 64, 2], activation="tanh", seed=0)
    X = np.random.default_rng(0).normal(size=(30_000, 5))
    whole = m.predict(X)
    calls, real = [], model_module._core.predict

    def counting(*args, **kwargs):
        calls.append(args[3].shape[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(model_module._core, "predict", counting)
    monkeypatch.setattr(model_module, "PREDICT_WORK_PER_CALL", 5000 * m.n_params)
    np.testing.assert_array_equal(m.predict(X), whole)
    assert calls == [5000] * 6


SIGINT_JOB = r'''
import os, signal, sys, threading, time
import numpy as np
import gradfit as gf

rng = np.random.default_rng(0)
N = 1_000_000
X = rng.normal(size=(N, 64)).astype(np.float32)
y = rng.normal(size=N).astype(np.float32)
m = gf.MLP([64, 512, 512, 1], activation="relu", dtype="float32", seed=0)
t = gf.Trainer(m, "sgd", lr=1e-3, batch_size=32, seed=0)
at_signal = {}

def ctrl_c():
    at_signal["step"] = t.step            # the step count when the signal is sent
    at_signal["time"] = time.perf_counter()
    os.kill(os.getpid(), signal.SIGINT)

class StartTheClock:                      # the signal comes N s after training has begun
    started = False

    def on_progress(self, info):
        if not self.started:
            self.started = True
            threading.Timer(float(sys.argv[1]), ctrl_c).start()

t.callbacks = [StartTheClock()]
try:
    t.fit(X, y, epochs=1)
    print("not interrupted")
except KeyboardInterrupt as exc:
    latency = time.perf_counter() - at_signal["time"]
    r = exc.result
    np.save(sys.argv[2], m.params)
    print(r.stop_reason, r.steps, at_signal["step"], len(r.history["loss"]), f"{latency:.3f}")
'''


@pytest.mark.slow
def test_sigint_to_a_wide_net_on_a_million_rows_stops_within_one_c_call(tmp_path):
    """Acceptance 1 of the reliability issue, measured in work rather than
    seconds (no wall-clock assert): after SIGINT the run makes at most one C
    call's worth of steps more, the parameters are finite and equal those of
    a whole step, and the partial result comes with the exception. The
    latency in seconds is printed (pytest -s) for the record."""
    import subprocess
    import sys
    script = tmp_path / "job.py"
    script.write_text(SIGINT_JOB)
    out = tmp_path / "params.npy"
    proc = subprocess.run([sys.executable, str(script), "2.0", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    reason, steps, at_signal, n_history, latency = proc.stdout.split()
    steps, at_signal = int(steps), int(at_signal)
    print(f"SIGINT latency {latency} s; steps at the signal {at_signal}, at the stop {steps}")
    per_call = training.WORK_PER_CALL // (32 * 296_961)
    assert reason == "interrupted" and n_history == "0"           # still inside the first epoch
    # the step count is read from another thread while C runs: it is the count
    # at the start of the C call in progress (or later)
    assert 0 < at_signal <= steps <= at_signal + per_call
    params = np.load(out)
    assert np.isfinite(params).all()
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        # the replay below ends with a forward pass over 10^6 rows of the wide net: half an hour of
        # unvectorized -O1 code under AddressSanitizer; the sanitizer has seen the interrupted run
        pytest.skip("the bit-identical replay is not run under AddressSanitizer (too slow there)")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1_000_000, 64)).astype(np.float32)
    y = rng.normal(size=1_000_000).astype(np.float32)
    m = gf.MLP([64, 512, 512, 1], activation="relu", dtype="float32", seed=0)
    gf.Trainer(m, "sgd", lr=1e-3, batch_size=32, seed=0).fit(X, y, epochs=1, max_steps=steps)
    assert np.array_equal(m.params, params)                        # the parameters of step `steps`
