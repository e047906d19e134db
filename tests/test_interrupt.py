"""Ctrl-C during training: the run stops after the C call in progress (at
most ~0.1 s of work), KeyboardInterrupt carries the partial TrainResult, the
parameters are those of a completed step, and a Trainer resumes exactly."""
import os
import signal

import numpy as np
import pytest

import gradfit as gf
import gradfit.training as training


def data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2]


class CtrlC:
    """Sends this process SIGINT (as Ctrl-C does) once, inside epoch `epoch`
    (counted from 1), after at least `fraction` of it."""

    def __init__(self, epoch, fraction):
        self.epoch, self.fraction, self.sent = epoch, fraction, False

    def on_progress(self, info):
        if not self.sent and info.epoch + 1 == self.epoch and info.epoch_fraction >= self.fraction:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)


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


def test_predict_works_in_bounded_calls_and_gives_the_same_numbers(monkeypatch):
    """predict() splits large inputs into C calls of ~0.1 s of work, so that
    Ctrl-C is seen between them; the split changes no number."""
    import gradfit.model as model_module
    m = gf.MLP([5, 64, 64, 2], activation="tanh", seed=0)
    X = np.random.default_rng(0).normal(size=(30_000, 5))
    whole = m.predict(X)
    calls, real = [], model_module._core.predict

    def counting(*args):
        calls.append(args[3].shape[0])
        return real(*args)

    monkeypatch.setattr(model_module._core, "predict", counting)
    monkeypatch.setattr(model_module, "PREDICT_WORK_PER_CALL", 5000 * m.n_params)
    np.testing.assert_array_equal(m.predict(X), whole)
    assert calls == [5000] * 6
