"""gf.train_many fuses jobs that share their data and the shape of their run
(one epoch order, each minibatch gathered once, every model's step in one C
call), and every fused model ends exactly as gf.train leaves it alone:
parameters, history, steps and stop reason, bit for bit."""
import os
import signal
import warnings

import numpy as np
import pytest
from trainhelp import CtrlC

import gradfit as gf
import gradfit._loop as training
from gradfit import _core


def data(n=403, n_in=1, n_out=1, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, n_in)).astype(dtype)
    y = np.sin(3 * X.sum(axis=1, keepdims=True)) * np.arange(1, n_out + 1)
    return X, y.astype(dtype) if n_out > 1 else y[:, 0].astype(dtype)


def alone(jobs):
    """Each job trained by itself with gf.train, on a copy of its model."""
    out = []
    for job in jobs:
        job = dict(job)
        model, X, y = job.pop("model").copy(), job.pop("X"), job.pop("y")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out.append((model, gf.train(model, X, y, **job)))
            except Exception as exc:     # noqa: BLE001 - compared with the fused job's error
                out.append((model, exc))
    return out


def fused(jobs, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gf.train_many(jobs, **kwargs)


def assert_same(jobs, results, expected, together=True):
    assert len(results) == len(jobs) == len(expected)
    for job, r, (model, e) in zip(jobs, results, expected):
        if isinstance(e, Exception):
            assert type(r) is type(e) and str(r) == str(e)
            continue
        assert isinstance(r, gf.TrainResult), r
        np.testing.assert_array_equal(job["model"].params, model.params)       # bit for bit
        assert r.history == e.history
        assert (r.steps, r.epochs, r.stop_reason, r.restored) == (e.steps, e.epochs, e.stop_reason, e.restored)
        assert r.final_loss == e.final_loss or (np.isnan(r.final_loss) and np.isnan(e.final_loss))
    if together:
        assert all(len(r.fused_with) > 1 for r in results if isinstance(r, gf.TrainResult))


def spy_fused_calls(monkeypatch):
    """A list that gets the number of models of every fused C call (the
    general one, train_fused, and the plain sets', train_fused_stack)."""
    calls = []
    general, stacked = _core.train_fused, _core.train_fused_stack
    monkeypatch.setattr(_core, "train_fused", lambda *a, **k: calls.append(len(a[12])) or general(*a, **k))
    monkeypatch.setattr(_core, "train_fused_stack", lambda *a, **k: calls.append(a[10].shape[0]) or stacked(*a, **k))
    return calls


def grid(X, y, sizes, lrs, seeds=(0,), **common):
    model_kw = common.pop("model_kw", {})
    return [{"model": gf.MLP(sizes, seed=s, dtype=X.dtype, **model_kw), "X": X, "y": y,
             "lr": lr, "seed": 7, **common} for s in seeds for lr in lrs]


def test_fused_calls_are_made_and_each_model_equals_training_it_alone(monkeypatch):
    X, y = data()
    calls = spy_fused_calls(monkeypatch)
    jobs = grid(X, y, [1, 1], lrs=[0.001 * 2 ** i for i in range(6)], epochs=3, batch_size=32)
    expected = alone(jobs)
    results = fused(jobs)
    assert_same(jobs, results, expected)
    assert calls and max(calls) == 6
    assert results[0].fused_with == tuple(range(6))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch, shuffle", [(1, True), (7, True), (16, False), (33, "window"), (32, True)])
def test_linear_models_in_lanes_equal_training_alone(dtype, batch, shuffle):
    """Linear 1->1 nets (mse, plain sgd) take the models-in-lanes step:
    many models, a batch with a tail of rows, one model diverging."""
    X, y = data(n=301, dtype=dtype)
    X = X * 4
    lrs = [0.001 * (1 + i) for i in range(19)] + [1e6]
    jobs = [{"model": gf.MLP([1, 1], seed=i % 3, dtype=dtype), "X": X, "y": y, "lr": lr, "epochs": 3,
             "batch_size": batch, "seed": 4, "shuffle": shuffle} for i, lr in enumerate(lrs)]
    jobs[3]["max_steps"] = 25
    expected = alone(jobs)
    results = fused(jobs)
    assert_same(jobs, results, expected, together=False)
    assert results[-1].stop_reason == "diverged" and results[3].stop_reason == "max_steps"
    # the one with max_steps may plan fewer epochs per call, then trains beside the others
    assert all(len(r.fused_with) >= 19 for i, r in enumerate(results) if i != 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation, batch", [("softplus", 32), ("softplus", 7), ("tanh", 33), ("relu", 1),
                                               ("sigmoid", 16)])
def test_121_nets_in_lanes_equal_training_alone(dtype, activation, batch):
    """1-2-1 nets (mse, plain sgd) take the models-in-lanes 1-2-1 step."""
    X, y = data(n=301, dtype=dtype)
    lrs = [0.01 * (1 + i) for i in range(10)] + [1e8]
    jobs = [{"model": gf.MLP([1, 2, 1], activation=activation, seed=i, dtype=dtype), "X": X, "y": y, "lr": lr,
             "epochs": 3, "batch_size": batch, "seed": 4} for i, lr in enumerate(lrs)]
    expected = alone(jobs)
    results = fused(jobs)
    assert_same(jobs, results, expected)
    assert results[-1].stop_reason == "diverged" and results[0].stop_reason == "epochs"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes, activation", [([1, 1], "identity"), ([1, 2, 1], "softplus"), ([1, 2, 1], "tanh")])
def test_lanes_batches_of_several_rows_per_partial_sum(dtype, sizes, activation):
    """Batches of 75 and 130 rows in the models-in-lanes steps: several rows
    in each of the kernels' partial sums, and tails of every length."""
    X, y = data(n=301, dtype=dtype)
    jobs = [{"model": gf.MLP(sizes, activation=activation, seed=i, dtype=dtype), "X": X, "y": y,
             "lr": 0.01 * (1 + i), "epochs": 3, "batch_size": batch, "seed": 4}
            for batch in (75, 130) for i in range(9)]
    expected = alone(jobs)
    results = fused(jobs)
    assert_same(jobs, results, expected)
    assert all(len(r.fused_with) == 9 for r in results)


ACTS = ["identity", "relu", "sigmoid", "tanh", "softplus"]


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("sizes", [[1, 2, 1], [3, 16, 2]], ids=["121", "3-16-2"])
def test_every_activation(activation, sizes):
    X, y = data(n_in=sizes[0], n_out=sizes[-1])
    jobs = [{"model": gf.MLP(sizes, activation=activation, seed=s), "X": X, "y": y, "lr": lr, "epochs": 3,
             "batch_size": 16, "seed": 1} for s in (0, 1) for lr in (0.01, 0.05)]
    expected = alone(jobs)
    assert_same(jobs, fused(jobs), expected)


@pytest.mark.parametrize("loss", ["mse", "sse", "mae", "huber", "bce", "cross_entropy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_loss_and_dtype(loss, dtype):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(301, 4)).astype(dtype)
    if loss == "cross_entropy":
        y, out = rng.integers(0, 3, size=301), 3
    elif loss == "bce":
        y, out = (X[:, 0] > 0).astype(dtype), 1
    else:
        y, out = (X @ rng.normal(size=(4, 2))).astype(dtype), 2
    lr = 0.001 if loss == "sse" else 0.05
    jobs = [{"model": gf.MLP([4, 8, out], activation="tanh", seed=s, dtype=dtype), "X": X, "y": y, "loss": loss,
             "lr": lr * (1 + s), "epochs": 2, "batch_size": 20, "seed": 5} for s in range(3)]
    expected = alone(jobs)
    assert_same(jobs, fused(jobs), expected)


@pytest.mark.parametrize("opt", [
    {"optimizer": "sgd"}, {"optimizer": "sgd", "momentum": 0.9}, {"optimizer": "sgd", "momentum": 0.8, "nesterov": True},
    {"optimizer": "adam"}, {"optimizer": "adamw", "weight_decay": 0.01}], ids=str)
@pytest.mark.parametrize("schedule", [None, "cosine", "step", "plateau"])
def test_every_optimizer_and_schedule(opt, schedule):
    X, y = data(n_in=2, n_out=1)
    sched = {None: None, "cosine": lambda: gf.schedules.Cosine(epochs=4),
             "step": lambda: gf.schedules.Step(every=2, factor=0.5),
             "plateau": lambda: gf.schedules.ReduceOnPlateau(patience=1, factor=0.5)}

    def make():           # a schedule has state: each run gets its own
        jobs = []
        for s, lr in enumerate([0.01, 0.03, 0.003]):
            options = dict(opt, lr=lr, epochs=4, batch_size=25, seed=2, l2=0.001 * s)
            if schedule is not None:
                options["lr_schedule"] = sched[schedule]()
            jobs.append({"model": gf.MLP([2, 5, 1], activation="tanh", seed=s), "X": X, "y": y, **options})
        return jobs

    expected = alone(make())
    jobs = make()
    assert_same(jobs, fused(jobs), expected)


def test_sample_weights_may_differ_per_job():
    X, y = data(n_in=2)
    rng = np.random.default_rng(9)
    jobs = [{"model": gf.MLP([2, 4, 1], activation="relu", seed=0), "X": X, "y": y, "lr": 0.05, "epochs": 2,
             "batch_size": 16, "seed": 3, "sample_weight": w} for w in (None, rng.uniform(0, 2, 403),
                                                                      rng.uniform(0, 2, 403))]
    expected = alone(jobs)
    assert_same(jobs, fused(jobs), expected)


def test_mixed_grid_some_jobs_alone_equals_unfused_runs():
    X, y = data(n_in=2)
    X2, y2 = data(n_in=2, seed=1)
    jobs = grid(X, y, [2, 4, 1], lrs=[0.01, 0.02], epochs=2, batch_size=16)
    jobs += [{"model": gf.MLP([2, 3, 1], seed=0), "X": X, "y": y, "lr": 0.01, "epochs": 2, "seed": 7,
              "batch_size": 16},                                       # another net: alone
             {"model": gf.MLP([2, 4, 1], seed=0), "X": X2, "y": y2, "lr": 0.01, "epochs": 2, "seed": 7,
              "batch_size": 16},                                       # other data: alone
             {"model": gf.MLP([2, 4, 1], seed=0), "X": X, "y": y, "lr": 0.01, "epochs": 2, "seed": 8,
              "batch_size": 16},                                       # another seed: alone
             {"model": gf.MLP([2, 4, 1], seed=0), "X": X, "y": y, "lr": -1.0, "epochs": 2, "seed": 7,
              "batch_size": 16}]                                       # a bad option: its error
    expected = alone(jobs)
    results = fused(jobs)
    assert_same(jobs, results, expected, together=False)
    assert results[0].fused_with == (0, 1) and results[1].fused_with == (0, 1)
    assert all(r.fused_with == () for r in results[2:5])
    assert isinstance(results[5], ValueError)


def test_one_model_diverging_or_stopping_early_leaves_the_others_unchanged():
    X, y = data(n_in=1)
    Xv, yv = data(n=100, seed=5)
    jobs = grid(X, y, [1, 8, 1], lrs=[0.01, 50.0, 0.03], epochs=6, batch_size=32, model_kw={"activation": "tanh"})
    jobs += [{"model": gf.MLP([1, 8, 1], activation="tanh", seed=0), "X": X, "y": y, "lr": 0.01, "epochs": 6,
              "batch_size": 32, "seed": 7, "max_steps": 30},
             {"model": gf.MLP([1, 8, 1], activation="tanh", seed=0), "X": X, "y": y, "lr": 0.5, "epochs": 6,
              "batch_size": 32, "seed": 7, "early_stopping": True, "patience": 1, "validation_data": (Xv, yv)}]
    expected = alone(jobs)
    results = fused(jobs)
    assert_same(jobs, results, expected, together=False)
    reasons = [r.stop_reason for r in results]
    assert reasons[1] == "diverged" and reasons[3] == "max_steps" and reasons[0] == "epochs"
    assert len(results[0].fused_with) >= 3


def test_n_jobs_2_equals_n_jobs_1():
    X, y = data(n_in=3, dtype=np.float32)
    jobs1 = grid(X, y, [3, 16, 1], lrs=[0.01, 0.02, 0.04, 0.08, 0.16], epochs=2, batch_size=8)
    jobs2 = grid(X, y, [3, 16, 1], lrs=[0.01, 0.02, 0.04, 0.08, 0.16], epochs=2, batch_size=8)
    r1, r2 = fused(jobs1, n_jobs=1), fused(jobs2, n_jobs=2)
    for a, b, ja, jb in zip(r1, r2, jobs1, jobs2):
        np.testing.assert_array_equal(ja["model"].params, jb["model"].params)
        assert a.history == b.history and a.fused_with == b.fused_with


def test_callbacks_and_progress_see_each_model(monkeypatch):
    monkeypatch.setattr(training, "WORK_PER_CALL", 2000)
    X, y = data()
    seen = {}

    class Spy:
        def __init__(self, name):
            self.name = name

        def on_epoch_end(self, info):
            seen.setdefault(self.name, []).append(info.loss)

        def on_progress(self, info):
            seen.setdefault(self.name + "p", []).append(info.epoch_fraction)

    jobs = grid(X, y, [1, 4, 1], lrs=[0.01, 0.02], epochs=3, batch_size=8)
    for i, job in enumerate(jobs):
        job["callbacks"] = [Spy(str(i))]
    expected = alone(jobs)
    results = fused(jobs)
    assert_same(jobs, results, expected)
    for i, r in enumerate(results):
        assert seen[str(i)][-3:] == r.history["loss"]
        assert len(seen[str(i) + "p"]) >= 3


def _interrupted_grid(monkeypatch, sigint):
    """Three fused tanh nets, job 1 sending SIGINT through `sigint` (a
    CtrlC) mid-epoch: (X, y, jobs, the KeyboardInterrupt train_many raised)."""
    monkeypatch.setattr(training, "WORK_PER_CALL", 4000)
    X, y = data(n_in=3)
    jobs = grid(X, y, [3, 8, 1], lrs=[0.01, 0.05, 0.1], epochs=50, batch_size=8, model_kw={"activation": "tanh"})
    jobs[1]["callbacks"] = [sigint]
    with pytest.raises(KeyboardInterrupt) as info:
        fused(jobs)
    return X, y, jobs, info


def test_ctrl_c_mid_epoch_stops_every_model_at_a_completed_step(monkeypatch):
    X, y, jobs, info = _interrupted_grid(monkeypatch, CtrlC(epoch=2, fraction=0.5))
    results = info.value.results
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    for job, r in zip(jobs, results):
        assert r.stop_reason == "interrupted" and r.epochs == 1 and 51 < r.steps < 2 * 51
        # the parameters are those of the same run cut at that step
        m2 = gf.MLP([3, 8, 1], activation="tanh", seed=0)
        options = {k: v for k, v in job.items() if k not in ("model", "X", "y", "callbacks")}
        gf.train(m2, X, y, **dict(options, max_steps=r.steps))
        np.testing.assert_array_equal(job["model"].params, m2.params)


def test_grid_helper_builds_the_jobs():
    X, y = data()
    jobs = gf.grid(lambda s: gf.MLP([1, 2, 1], activation="softplus", seed=s), X, y, lr=[0.01, 0.1],
                   seed=[1, 2, 3], epochs=2, batch_size=32)
    assert len(jobs) == 6 and [j["lr"] for j in jobs] == [0.01, 0.1] * 3
    for j, s in zip(jobs, [1, 1, 2, 2, 3, 3]):
        np.testing.assert_array_equal(j["model"].params, gf.MLP([1, 2, 1], activation="softplus", seed=s).params)
    assert all(j["X"] is X and j["y"] is y and j["epochs"] == 2 and j["seed"] == 0 for j in jobs)
    expected = alone(jobs)
    results = fused(jobs)
    assert_same(jobs, results, expected)
    assert all(r.fused_with == tuple(range(6)) for r in results)
    with pytest.raises(TypeError, match="lr: expected a list"):
        gf.grid(lambda s: gf.MLP([1, 1], seed=s), X, y, lr=0.1)


def test_sklearn_grid_search_equals_gridsearchcv(monkeypatch):
    pytest.importorskip("sklearn")
    calls = spy_fused_calls(monkeypatch)
    from sklearn.model_selection import GridSearchCV

    from gradfit.sklearn import GradfitClassifier, GradfitRegressor, grid_search
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 3))
    y = X[:, 0] - 2 * X[:, 1] ** 2 + 0.1 * rng.normal(size=240)
    est = GradfitRegressor((8,), activation="tanh", max_iter=5, random_state=0, batch_size=16)
    grid = {"learning_rate_init": [0.001, 0.01, 0.05], "alpha": [0.0, 0.01]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = grid_search(est, grid, X, y, cv=3)
        ref = GridSearchCV(est, grid, cv=3).fit(X, y)
    for key in ["split0_test_score", "split1_test_score", "split2_test_score", "mean_test_score",
                "std_test_score", "rank_test_score"]:
        np.testing.assert_array_equal(ours.cv_results_[key], ref.cv_results_[key])
    assert ours.cv_results_["params"] == ref.cv_results_["params"]
    assert ours.best_params_ == ref.best_params_ and ours.best_score_ == ref.best_score_
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert max(calls) == 6                     # a fold's six candidates in one C call
    labels = (y > np.median(y)).astype(int)
    clf = GradfitClassifier((4,), max_iter=3, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = grid_search(clf, {"learning_rate_init": [0.01, 0.1]}, X, labels, cv=2, scoring="accuracy")
        ref = GridSearchCV(clf, {"learning_rate_init": [0.01, 0.1]}, cv=2, scoring="accuracy").fit(X, labels)
    np.testing.assert_array_equal(ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"])


@pytest.mark.parametrize("work", [None, 3000])
def test_models_stopping_inside_a_block_of_batches_equal_training_alone(monkeypatch, work):
    # the general path gathers several batches at once and steps each model
    # through them: limits, pauses and weights fall inside such a block
    if work is not None:
        monkeypatch.setattr(training, "WORK_PER_CALL", work)
    X, y = data(n=517, n_in=2)
    rng = np.random.default_rng(3)
    jobs = grid(X, y, [2, 6, 1], lrs=[0.01, 0.02, 0.03, 0.05], epochs=3, batch_size=7,
                model_kw={"activation": "tanh"})
    for job, steps in zip(jobs, [5, 17, 40, 70]):     # (an epoch has 74 batches)
        job["max_steps"] = steps
    for job in jobs[2:]:                 # each its own weights (rows are then read through the order)
        job["sample_weight"] = rng.uniform(0.5, 2.0, size=X.shape[0])
    expected = alone(jobs)
    results = fused(jobs)
    assert_same(jobs, results, expected)
    assert [r.steps for r in results] == [5, 17, 40, 70]


@pytest.mark.parametrize("sizes, act", [([1, 1], "identity"), ([1, 2, 1], "softplus")])
@pytest.mark.parametrize("work", [None, 900])
def test_lanes_models_diverging_stopping_and_pausing_inside_a_block(monkeypatch, sizes, act, work):
    # the lanes path keeps a group of models in registers over a block of
    # batches: a divergence, a step limit or a pause in it, for one lane
    if work is not None:
        monkeypatch.setattr(training, "WORK_PER_CALL", work)
    X, y = data(n=611)
    X = X * 30.0
    jobs = grid(X, y, sizes, lrs=[0.0001, 0.0002, 0.0003, 0.0004, 5.0, 0.0005, 0.0006, 0.0007, 0.0008, 0.0009],
                epochs=3, batch_size=16, model_kw={"activation": act})
    for job, steps in zip(jobs, [None, 7, None, 30, None, 38, None, 25, None, 39]):   # (39 batches an epoch)
        if steps is not None:
            job["max_steps"] = steps
    expected = alone(jobs)
    results = fused(jobs)
    assert_same(jobs, results, expected, together=False)
    assert results[4].stop_reason == "diverged" and results[1].steps == 7 and results[9].steps == 39
    assert len(results[1].fused_with) >= 5


class CtrlCTwice(CtrlC):
    def on_progress(self, info):
        if not self.sent and info.epoch + 1 == self.epoch and info.epoch_fraction >= self.fraction:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)


def test_a_second_ctrl_c_interrupts_at_once_and_frees_every_model(monkeypatch):
    X, y, jobs, info = _interrupted_grid(monkeypatch, CtrlCTwice(epoch=2, fraction=0.5))
    assert not hasattr(info.value, "results")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    for job in jobs:                   # no model is left locked or half-updated
        assert np.isfinite(job["model"].params).all()
        r = gf.train(job["model"], X, y, epochs=1, batch_size=8)
        assert r.steps == 51
