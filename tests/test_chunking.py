"""How many epochs train() hands the C core per call is an implementation
detail: any split gives bit-identical parameters and the same history."""
import numpy as np
import pytest

import gradfit as gf
import gradfit._loop as train_module


def _run(monkeypatch, samples_per_call, work_per_call, **kwargs):
    monkeypatch.setattr(train_module, "SAMPLES_PER_CALL", samples_per_call)
    monkeypatch.setattr(train_module, "WORK_PER_CALL", work_per_call)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = np.tanh(X @ np.array([0.5, -1.0, 2.0]))
    m = gf.MLP([3, 8, 1], activation="tanh", seed=4)
    r = gf.train(m, X, y, lr=0.05, batch_size=7, seed=11, **kwargs)
    return m.params.copy(), r


@pytest.mark.parametrize("kwargs", [dict(epochs=40), dict(epochs=None, max_steps=123),
                                    dict(epochs=40, shuffle=False)])
def test_any_split_into_calls_gives_the_same_run(monkeypatch, kwargs):
    p_one, r_one = _run(monkeypatch, 1 << 20, 1 << 40, **kwargs)     # all epochs in one call
    p_many, r_many = _run(monkeypatch, 1, 1, **kwargs)                # one epoch per call
    p_some, r_some = _run(monkeypatch, 50 * 3, 1 << 40, **kwargs)     # three epochs per call
    assert np.array_equal(p_one, p_many) and np.array_equal(p_one, p_some)
    assert r_one.history["loss"] == r_many.history["loss"] == r_some.history["loss"]
    assert r_one.steps == r_many.steps == r_some.steps
    assert r_one.stop_reason == r_many.stop_reason == r_some.stop_reason
