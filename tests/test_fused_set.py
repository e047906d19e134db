"""Plain fused jobs (plain SGD for some epochs, nothing else) train as one
set over their stacked parameters (gradfit._fused_set, one
_core.train_fused_stack call); a job of the set whose run does not end
plainly (a divergence, a final loss not provably finite, Ctrl-C) is
concluded by the general machinery. Every model still ends exactly as
gf.train leaves it alone, and jobs that are not plain train beside the set."""
import os
import signal

import numpy as np
import pytest
from test_fused import alone, assert_same, data, fused, spy_fused_calls

import gradfit as gf
from gradfit import _core, _fused


def plain_grid(X, y, sizes, lrs, activation="identity", **common):
    return [{"model": gf.MLP(sizes, activation=activation, seed=i, dtype=X.dtype), "X": X, "y": y, "lr": lr,
             "epochs": 3, "batch_size": 32, "seed": 5, **common} for i, lr in enumerate(lrs)]


def spy_calls(monkeypatch):
    """(stacked, general): the models of each train_fused_stack and train_fused call."""
    stacked, general = [], []
    real_stack, real_general = _core.train_fused_stack, _core.train_fused
    monkeypatch.setattr(_core, "train_fused_stack", lambda *a, **k: stacked.append(a[10].shape[0])
                        or real_stack(*a, **k))
    monkeypatch.setattr(_core, "train_fused", lambda *a, **k: general.append(len(a[12])) or real_general(*a, **k))
    return stacked, general


def spy_adopted(monkeypatch):
    """The positions of the set's jobs concluded by the general machinery."""
    adopted = []
    real = _fused._is_set_call
    monkeypatch.setattr(_fused, "_is_set_call", lambda args, a: adopted.append(a.pos) or real(args, a))
    return adopted


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes, activation", [([1, 1], "identity"), ([1, 2, 1], "softplus"), ([3, 8, 2], "tanh")])
def test_a_plain_grid_is_one_stacked_call_equal_to_training_alone(monkeypatch, dtype, sizes, activation):
    X, y = data(n=301, n_in=sizes[0], n_out=sizes[-1], dtype=dtype)
    jobs = plain_grid(X, y, sizes, [0.002 * (1 + i) for i in range(19)], activation)
    expected = alone(jobs)
    stacked, general = spy_calls(monkeypatch)
    results = fused(jobs)
    assert_same(jobs, results, expected)
    assert stacked == [19] and general == []
    assert all(r.fused_with == tuple(range(19)) for r in results)
    assert all(r.stop_reason == "epochs" and r.epochs == 3 and r.steps == 3 * 10 for r in results)


def test_mixed_grid_plain_jobs_a_set_the_others_beside_it(monkeypatch):
    """Jobs with a callback, a step limit, momentum or early stopping take the general path;
    the plain ones train as a set, one of them diverging (concluded by the
    general machinery, still in the set)."""
    X, y = data(n=301)
    X = X * 4
    lrs = [0.001 * (1 + i) for i in range(12)]
    lrs[5] = 1e6                                     # diverges in the set
    jobs = plain_grid(X, y, [1, 1], lrs)
    seen = []

    class Spy:
        def on_epoch_end(self, info):
            seen.append(info.loss)

    jobs[2]["callbacks"] = [Spy()]
    jobs[7]["max_steps"] = 17
    jobs[9]["momentum"] = 0.5
    jobs[10].update(early_stopping=True, patience=1, min_delta=1.0)
    expected = alone(jobs)
    seen.clear()
    stacked, general = spy_calls(monkeypatch)
    adopted = spy_adopted(monkeypatch)
    results = fused(jobs)
    assert_same(jobs, results, expected, together=False)
    assert stacked == [8] and all(k <= 4 for k in general)      # the other four beside the set
    assert results[5].stop_reason == "diverged" and results[5].restored is not None
    assert results[7].stop_reason == "max_steps" and results[7].steps == 17
    assert seen == results[2].history["loss"]
    assert results[10].stop_reason == "early_stopping"
    plain = (0, 1, 3, 4, 5, 6, 8, 11)
    assert all(results[i].fused_with == plain for i in plain)
    assert adopted == [5]


def test_a_final_loss_that_cannot_be_proven_finite_is_computed(monkeypatch):
    """Rows so large that the weights' bound cannot rule out an overflow:
    each job of the set is concluded by the general machinery, which
    computes its final loss as gf.train does."""
    X, y = data(n=200)
    X = X * 1e149
    jobs = plain_grid(X, y, [1, 1], [1e-300 * (1 + i) for i in range(4)])
    expected = alone(jobs)
    stacked, _general = spy_calls(monkeypatch)
    adopted = spy_adopted(monkeypatch)
    results = fused(jobs)
    assert_same(jobs, results, expected)
    assert stacked == [4] and adopted          # (each row the set bound leaves open, checked alone)
    assert all(r.final_loss == e.final_loss for r, (_m, e) in zip(results, expected))


def test_ctrl_c_during_the_sets_call_leaves_every_model_trained_and_free(monkeypatch):
    X, y = data(n=301)
    jobs = plain_grid(X, y, [1, 2, 1], [0.01, 0.02, 0.03], "tanh")
    expected = alone(jobs)
    real = _core.train_fused_stack

    def interrupted(*a, **k):
        out = real(*a, **k)
        os.kill(os.getpid(), signal.SIGINT)          # Ctrl-C while the call runs: seen after it
        return out

    monkeypatch.setattr(_core, "train_fused_stack", interrupted)
    with pytest.raises(KeyboardInterrupt) as info:
        fused(jobs)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    results = info.value.results
    for job, r, (model, e) in zip(jobs, results, expected):
        assert r.stop_reason == "interrupted" and r.epochs == e.epochs and r.steps == e.steps
        assert r.history == e.history and r.fused_with == (0, 1, 2)
        np.testing.assert_array_equal(job["model"].params, model.params)
    monkeypatch.setattr(_core, "train_fused_stack", real)
    again = gf.train(jobs[0]["model"], X, y, epochs=1, batch_size=32)   # not left locked
    assert again.steps == 10


def test_a_bad_lr_or_a_busy_model_leaves_the_set_with_its_own_error():
    X, y = data(n=301)
    jobs = plain_grid(X, y, [1, 1], [0.01, 0.02, -1.0, 0.03])
    busy = plain_grid(X, y, [1, 1], [0.05])[0]
    jobs.append(busy)
    expected = alone([jobs[i] for i in (0, 1, 3)])
    busy["model"]._lock.acquire()
    try:
        results = fused(jobs)
    finally:
        busy["model"]._lock.release()
    assert isinstance(results[2], ValueError) and "lr" in str(results[2])
    assert isinstance(results[4], RuntimeError) and "already being trained" in str(results[4])
    assert_same([jobs[i] for i in (0, 1, 3)], [results[i] for i in (0, 1, 3)], expected)
    assert results[0].fused_with == (0, 1, 3)


def test_n_jobs_2_splits_the_set():
    X, y = data(n=301)
    jobs1 = plain_grid(X, y, [1, 1], [0.001 * (1 + i) for i in range(11)])
    jobs2 = plain_grid(X, y, [1, 1], [0.001 * (1 + i) for i in range(11)])
    expected = alone(jobs1)
    r2 = fused(jobs2, n_jobs=2)
    assert_same(jobs2, r2, expected)
    assert all(r.fused_with == tuple(range(11)) for r in r2)
