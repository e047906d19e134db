"""The Trainer and train()'s training features: classification, optimizers
through the public API, L2, schedules, validation and early stopping,
callbacks and progress, resumable training, evaluation."""
import copy
import io
import math
import warnings

import numpy as np
import pytest

import gradfit as gf
import gradfit._loop as training
from gradfit import schedules


def regression_data(n=400, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + noise * rng.normal(size=n)
    return X, y


# -- acceptance 3: real problems ------------------------------------------------

def test_digits_with_adam_and_cross_entropy_reaches_95_percent():
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = datasets.load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = model_selection.train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    m = gf.MLP([64, 64, 10], activation="relu", seed=0)
    r = gf.train(m, Xtr, ytr, loss="cross_entropy", optimizer="adam", lr=1e-3, batch_size=32, epochs=40, seed=0)
    assert r.epochs == 40 and r.stop_reason == "epochs"
    accuracy = float(np.mean(m.predict_class(Xte) == yte))
    assert accuracy >= 0.95, accuracy
    assert m.evaluate(Xte, yte, loss="cross_entropy", metrics=["accuracy"])["accuracy"] == accuracy
    p = m.predict_proba(Xte)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert np.array_equal(np.argmax(p, axis=1), m.predict_class(Xte))


def test_xor_with_a_2_4_1_net():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0], dtype=float)
    m = gf.MLP([2, 4, 1], activation="tanh", seed=0)
    r = gf.train(m, X, y, optimizer="adam", lr=0.05, batch_size=None, epochs=2000)
    assert r.final_loss < 1e-3
    np.testing.assert_allclose(m.predict(X)[:, 0], y, atol=0.05)


def test_binary_cross_entropy_learns_a_linear_boundary():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 2))
    y = (X[:, 0] - 2 * X[:, 1] > 0).astype(int)
    m = gf.MLP([2, 1], seed=0)
    gf.train(m, X, y, loss="binary_cross_entropy", optimizer="adam", lr=0.05, epochs=30, seed=0)
    assert np.mean(m.predict_class(X) == y) > 0.97
    p = m.predict_proba(X)[:, 0]
    assert np.array_equal(p > 0.5, m.predict(X)[:, 0] > 0)


# -- optimizers through the public API -------------------------------------------

@pytest.mark.parametrize("optimizer", [gf.SGD(lr=0.05, momentum=0.9), gf.SGD(lr=0.05, momentum=0.9, nesterov=True),
                                       gf.Adam(lr=0.01), gf.AdamW(lr=0.01, weight_decay=0.1)], ids=repr)
@pytest.mark.parametrize("loss", ["mse", "huber", "mae"])
def test_every_optimizer_backends_agree_through_train(optimizer, loss):
    X, y = regression_data(120)
    sw = np.random.default_rng(3).uniform(0.5, 2.0, size=120)
    results = {}
    for backend in ("c", "numpy"):
        m = gf.MLP([3, 8, 1], activation="tanh", seed=1)
        r = gf.train(m, X, y, optimizer=optimizer, loss=loss, epochs=5, batch_size=16, seed=2, l2=1e-3,
                     sample_weight=sw, backend=backend)
        results[backend] = (m.params.copy(), r.history)
    (pc, hc), (pn, hn) = results["c"], results["numpy"]
    assert np.linalg.norm(pc - pn) <= 1e-10 * np.linalg.norm(pn)
    np.testing.assert_allclose(hc["loss"], hn["loss"], rtol=1e-10)
    np.testing.assert_allclose(hc["penalty"], hn["penalty"], rtol=1e-10)


def test_optimizer_names_and_objects_are_the_same():
    X, y = regression_data(100)
    m1, m2 = gf.MLP([3, 5, 1], seed=0), gf.MLP([3, 5, 1], seed=0)
    gf.train(m1, X, y, optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, epochs=3, seed=0)
    gf.train(m2, X, y, optimizer=gf.SGD(lr=0.05, momentum=0.9, nesterov=True), epochs=3, seed=0)
    assert np.array_equal(m1.params, m2.params)
    assert repr(gf.Adam()) == "Adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08)"


# -- L2 ------------------------------------------------------------------------

def test_larger_l2_gives_a_smaller_weight_norm():
    X, y = regression_data(300)
    norms = []
    for l2 in (0.0, 1e-3, 1e-2, 1e-1):
        m = gf.MLP([3, 16, 1], activation="tanh", seed=0)
        r = gf.train(m, X, y, optimizer="adam", lr=0.01, l2=l2, epochs=30, seed=0)
        norms.append(math.sqrt(sum(float(np.sum(W ** 2)) for W in m.weights)))
        assert ("penalty" in r.history) == (l2 > 0)
    assert norms == sorted(norms, reverse=True), norms
    assert norms[-1] < 0.5 * norms[0]


def test_history_reports_the_penalty_apart_from_the_data_loss():
    X, y = regression_data(64)
    m = gf.MLP([3, 4, 1], seed=0)
    W_sq = sum(float(np.sum(W ** 2)) for W in m.weights)
    r = gf.train(m, X, y, lr=1e-9, l2=0.5, batch_size=None, epochs=1)
    # one full-batch step at the initial params: the penalty is l2/2 * sum W^2 over weights only
    assert r.history["penalty"][0] == pytest.approx(0.25 * W_sq, rel=1e-12)


# -- schedules -------------------------------------------------------------------

@pytest.mark.parametrize("schedule,expected", [
    (schedules.Constant(), [0.1] * 6),
    (schedules.Step(every=2, factor=0.5), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]),
    (schedules.Exponential(gamma=0.9), [0.1 * 0.9 ** e for e in range(6)]),
    (schedules.InverseScaling(power_t=0.5), [0.1 / math.sqrt(e + 1) for e in range(6)]),
    (schedules.Cosine(epochs=6, warmup=2, min_lr=0.01),
     [0.05, 0.1] + [0.01 + 0.09 * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(4)]),
    (lambda epoch: 0.1 / (1 + epoch), [0.1 / (1 + e) for e in range(6)]),
], ids=["constant", "step", "exponential", "inverse", "cosine", "callable"])
def test_each_schedule_gives_its_documented_lr_per_epoch(schedule, expected):
    X, y = regression_data(50)
    m = gf.MLP([3, 1], seed=0)
    r = gf.train(m, X, y, lr=0.1, lr_schedule=schedule, epochs=6, seed=0)
    np.testing.assert_allclose(r.history["lr"], expected, rtol=1e-15)


def test_schedule_lr_is_the_lr_used():
    X, y = regression_data(40)
    m1, m2 = gf.MLP([3, 1], seed=0), gf.MLP([3, 1], seed=0)
    gf.train(m1, X, y, lr=0.1, lr_schedule=schedules.Step(every=1, factor=0.5), epochs=2, batch_size=None)
    gf.train(m2, X, y, lr=0.1, epochs=1, batch_size=None)
    gf.train(m2, X, y, lr=0.05, epochs=1, batch_size=None)
    assert np.array_equal(m1.params, m2.params)


def test_reduce_on_plateau_cuts_the_lr_after_patience_epochs():
    X, y = regression_data(200, noise=1.0)
    m = gf.MLP([3, 8, 1], seed=0)
    sched = schedules.ReduceOnPlateau(patience=2, factor=0.5)
    r = gf.train(m, X, y, lr=0.2, lr_schedule=sched, epochs=40, seed=0)
    lrs, losses = r.history["lr"], r.history["loss"]
    assert lrs[0] == 0.2 and min(lrs) < 0.2
    for e in range(1, len(lrs)):                      # a cut follows `patience` epochs without a new best
        if lrs[e] < lrs[e - 1]:
            assert min(losses[:e - 1]) <= min(losses[e - 2:e]), (e, losses[:e])


# -- validation and early stopping ------------------------------------------------

def test_early_stopping_restores_the_best_validation_weights():
    # a noisy problem and a net that overfits it
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(60, 1))
    y = np.sin(3 * X[:, 0]) + 0.5 * rng.normal(size=60)
    Xv = rng.uniform(-1, 1, size=(300, 1))
    yv = np.sin(3 * Xv[:, 0]) + 0.5 * rng.normal(size=300)
    m = gf.MLP([1, 64, 64, 1], activation="tanh", seed=0)
    trainer = gf.Trainer(m, "adam", lr=0.01, batch_size=8, seed=0, validation_data=(Xv, yv),
                         early_stopping=True, patience=10)
    r = trainer.fit(X, y, epochs=1000)
    assert r.stop_reason == "early_stopping"
    h = r.history
    best = int(np.argmin(h["val_loss"]))
    assert r.epochs == best + 1 + 10 < 1000            # patience epochs after the best, then stop
    assert min(h["val_loss"][best + 1:]) >= h["val_loss"][best]
    assert m.loss(Xv, yv) == pytest.approx(h["val_loss"][best], rel=1e-12)
    assert r.restored.startswith(f"the best epoch, {best + 1}")
    assert "stopped: early stopping: no improvement for `patience` epochs; parameters restored to the best epoch" in str(r)


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_keeps_exactly_the_best_or_the_last_epochs_weights(restore):
    """The parameters after early stopping are, bit for bit, those at the end
    of the best epoch (restore_best_weights=True: a snapshot, not a view that
    later steps change) or of the last epoch run (False)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(60, 1))
    y = np.sin(3 * X[:, 0]) + 0.5 * rng.normal(size=60)
    Xv = rng.uniform(-1, 1, size=(300, 1))
    yv = np.sin(3 * Xv[:, 0]) + 0.5 * rng.normal(size=300)
    seen = []
    m = gf.MLP([1, 32, 1], activation="tanh", seed=0)
    r = gf.train(m, X, y, optimizer="adam", lr=0.02, batch_size=8, seed=0, epochs=500,
                 validation_data=(Xv, yv), early_stopping=True, patience=5, restore_best_weights=restore,
                 callbacks=[lambda info: seen.append(info.model.params.copy())])
    assert r.stop_reason == "early_stopping"
    best = int(np.argmin(r.history["val_loss"]))
    assert best < len(seen) - 1                         # the best epoch is not the last
    expected = seen[best] if restore else seen[-1]
    assert np.array_equal(m.params, expected)
    assert not np.array_equal(seen[best], seen[best + 1])   # training moved on after the best epoch
    assert (r.restored is not None) == restore


def test_validation_fraction_is_seeded_and_stratified():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = np.r_[np.zeros(150, int), np.ones(50, int)]
    held = {}
    for _ in range(2):
        m = gf.MLP([2, 2], seed=0)
        r = gf.train(m, X, y, loss="cross_entropy", lr=0.1, epochs=2, seed=4, validation_fraction=0.2)
        held.setdefault("runs", []).append((m.params.copy(), r.history["val_loss"], r.n_samples))
    (p1, v1, n1), (p2, v2, n2) = held["runs"]
    assert n1 == n2 == 160 and np.array_equal(p1, p2) and v1 == v2
    rows, val = gf._targets.validation_split(200, 0.2, np.random.default_rng(1), y)
    assert len(val) == 40 and np.sum(y[val] == 1) == 10 and np.sum(y[val] == 0) == 30
    assert "val_accuracy" in r.history and len(r.history["val_accuracy"]) == 2


# -- resumable training ---------------------------------------------------------

@pytest.mark.parametrize("optimizer", [gf.SGD(lr=0.05, momentum=0.9), gf.Adam(lr=0.01)], ids=repr)
@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_ten_partial_fits_equal_one_fit_of_ten_epochs(optimizer, backend):
    X, y = regression_data(250)
    m1, m2 = gf.MLP([3, 16, 1], activation="tanh", seed=0), gf.MLP([3, 16, 1], activation="tanh", seed=0)
    t1 = gf.Trainer(m1, optimizer, lr_schedule=schedules.Exponential(0.9), batch_size=16, seed=5, backend=backend)
    t2 = gf.Trainer(m2, optimizer, lr_schedule=schedules.Exponential(0.9), batch_size=16, seed=5, backend=backend)
    for _ in range(10):
        r1 = t1.partial_fit(X, y)
    r2 = t2.fit(X, y, epochs=10)
    assert np.array_equal(m1.params, m2.params)
    assert np.array_equal(t1.state, t2.state) and t1.step == t2.step == 10 * 16
    assert r1.history == r2.history and len(r1.history["loss"]) == 10
    assert t1.epoch == t2.epoch == 10


def test_any_split_of_long_epochs_into_calls_gives_the_same_run(monkeypatch):
    X, y = regression_data(300)
    runs = []
    for work in (1 << 40, 5000, 700):                   # one call per chunk, and mid-epoch pauses
        monkeypatch.setattr(training, "WORK_PER_CALL", work)
        m = gf.MLP([3, 8, 1], activation="tanh", seed=0)
        r = gf.train(m, X, y, optimizer="adam", lr=0.01, batch_size=7, epochs=4, seed=3)
        runs.append((m.params.copy(), r.history["loss"], r.steps))
    for other in runs[1:]:
        assert np.array_equal(runs[0][0], other[0]) and runs[0][1] == other[1] and runs[0][2] == other[2]


# -- callbacks and progress ------------------------------------------------------

def test_a_callback_that_stops_at_epoch_3_stops_at_epoch_3():
    X, y = regression_data(100)
    seen = []

    def stop_at_3(info):
        seen.append((info.epoch, info.loss, info.lr))
        return info.epoch == 3

    r = gf.train(gf.MLP([3, 4, 1], seed=0), X, y, lr=0.05, epochs=50, callbacks=[stop_at_3], seed=0)
    assert r.epochs == 3 and r.stop_reason == "callback"
    assert [e for e, _, _ in seen] == [1, 2, 3]
    assert [loss for _, loss, _ in seen] == r.history["loss"]


def test_info_stop_from_a_callback_object():
    class StopWhenGood:
        def on_epoch_end(self, info):
            if info.loss < 0.3:
                info.stop()

    X, y = regression_data(200)
    r = gf.train(gf.MLP([3, 8, 1], activation="tanh", seed=0), X, y, optimizer="adam", lr=0.01, epochs=500,
                 callbacks=[StopWhenGood()], seed=0)
    assert r.stop_reason == "callback" and r.history["loss"][-1] < 0.3 <= r.history["loss"][-2]


def test_on_progress_is_called_many_times_within_one_long_epoch():
    rng = np.random.default_rng(0)
    N = 1_000_000
    X = rng.normal(size=(N, 10)).astype(np.float32)
    y = X[:, 0] * X[:, 1]
    m = gf.MLP([10, 64, 64, 1], activation="relu", dtype="float32", seed=0)

    class Count:
        calls, fractions = 0, []

        def on_progress(self, info):
            Count.calls += 1
            Count.fractions.append(info.epoch_fraction)

    r = gf.train(m, X, y, lr=0.01, batch_size=64, epochs=1, callbacks=[Count()], seed=0)
    # the work of one C call is bounded by WORK_PER_CALL multiply-adds: count the calls against the work done
    per_call = training.WORK_PER_CALL // (64 * m.n_params)
    assert r.steps == N // 64 and r.epochs == 1
    assert Count.calls == -(-r.steps // per_call) - 1 >= 10      # after every call but the last
    assert Count.fractions == sorted(Count.fractions) and 0 < Count.fractions[0] < Count.fractions[-1] < 1


def test_progress_without_tqdm_prints_a_few_lines_off_a_terminal():
    """To a file or a pipe: the first and last epoch and about every tenth of
    the run, not one line per epoch (50 epochs -> 11 lines)."""
    X, y = regression_data(100)
    out = io.StringIO()
    bar = gf.callbacks.ProgressBar(file=out, use_tqdm=False)
    gf.train(gf.MLP([3, 1], seed=0), X, y, lr=0.01, epochs=50, callbacks=[bar], seed=0,
             validation_data=(X[:10], y[:10]))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("epoch 1/50  loss") and "val_loss" in lines[0] and "samples/s" in lines[0]
    assert lines[-1].startswith("epoch 50/50  loss")
    assert [int(line.split()[1].split("/")[0]) for line in lines] == [1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    out = io.StringIO()
    gf.train(gf.MLP([3, 1], seed=0), X, y, lr=0.01, epochs=3, callbacks=[gf.callbacks.ProgressBar(out, False)])
    assert len(out.getvalue().splitlines()) == 3


def test_progress_without_tqdm_on_a_terminal_rewrites_one_line():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    X, y = regression_data(100)
    out = Terminal()
    bar = gf.callbacks.ProgressBar(file=out, use_tqdm=False)
    bar._last = -1e9
    gf.train(gf.MLP([3, 1], seed=0), X, y, lr=0.01, epochs=20, callbacks=[bar], seed=0)
    bar.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")              # one line, ended when done
    assert text.count("\r\033[K") >= 2 and text.rsplit("\r\033[K", 1)[1].startswith("epoch 20/20  loss")


def test_progress_true_with_tqdm_shows_samples_per_second_not_epochs_per_second():
    pytest.importorskip("tqdm")
    X, y = regression_data(100)
    out = io.StringIO()
    bar = gf.callbacks.ProgressBar(file=out, use_tqdm=True)
    r = gf.train(gf.MLP([3, 1], seed=0), X, y, lr=0.01, epochs=3, callbacks=[bar], seed=0)
    bar.close()
    text = out.getvalue()
    assert r.epochs == 3 and "samples/s=" in text and "epoch/s" not in text and "it/s" not in text
    assert "3.00/3 epochs" in text


# -- evaluation and summary ---------------------------------------------------------

def test_evaluate_metrics_by_hand():
    m = gf.MLP([1, 1], weights=[[[2.0]]], biases=[[1.0]])
    X = np.array([[0.0], [1.0], [2.0]])
    y = np.array([1.5, 2.5, 5.0])            # predictions 1, 3, 5
    out = m.evaluate(X, y, metrics=["r2", "mae"])
    assert out["loss"] == pytest.approx((0.25 + 0.25 + 0) / 3)
    assert out["mae"] == pytest.approx(1 / 3)
    ss_tot = np.sum((y - y.mean()) ** 2)
    assert out["r2"] == pytest.approx(1 - 0.5 / ss_tot)


def test_summary_lists_layers_and_counts():
    text = gf.MLP([64, 128, 10]).summary()
    assert "64 -> 128" in text and "8,192" in text and "1,280" in text and "9,610 parameters" in text


# -- acceptance 7: unsupported combinations ---------------------------------------

UNSUPPORTED = [
    (lambda: gf.MLP([2, 3], output_activation="sigmoid"), dict(loss="cross_entropy"), [0, 1, 2, 0],
     r"^loss: 'cross_entropy' takes logits.*'identity', got 'sigmoid'"),
    (lambda: gf.MLP([2, 3]), dict(loss="cross_entropy"), [0, 1, 3, 0], r"^y: expected class ids in \[0, 3\).*3"),
    (lambda: gf.MLP([2, 3]), dict(loss="cross_entropy"), [0, 1, -1, 0], r"^y: expected class ids"),
    (lambda: gf.MLP([2, 2]), dict(loss="binary_cross_entropy"), [0, 1, 1, 0], r"^y: expected shape \(4, 2\), got shape \(4,\)"),
    (lambda: gf.MLP([2, 1]), dict(loss="poisson"), [0, 1, -1, 0], r"^y: expected counts or rates >= 0 for the poisson loss, got a minimum of -1"),
    (lambda: gf.MLP([2, 1], output_activation="softplus"), dict(loss="poisson"), [0, 1, 1, 0],
     r"^loss: 'poisson' takes the log of the mean.*'identity', got 'softplus'"),
    (lambda: gf.MLP([2, 1]), dict(loss="binary_cross_entropy"), [0, 2, 1, 0], r"^y: expected labels 0/1"),
    (lambda: gf.MLP([2, 1]), dict(validation_fraction=0.01), [0, 1, 1, 0], r"^validation_fraction: .* leaves no validation sample"),
    (lambda: gf.MLP([2, 1]), dict(validation_fraction=1.5), [0, 1, 1, 0], r"^validation_fraction: expected a number in \(0, 1\)"),
    (lambda: gf.MLP([2, 1]), dict(lr_schedule="cosine"), [0, 1, 1, 0], r"^lr_schedule: expected"),
    (lambda: gf.MLP([2, 1]), dict(optimizer="sgd", beta1=0.9), [0, 1, 1, 0], r"^beta1: not a setting of optimizer='sgd'"),
    (lambda: gf.MLP([2, 1]), dict(optimizer=gf.Adam(), lr=0.1), [0, 1, 1, 0], r"^lr: set it on the optimizer object"),
    (lambda: gf.MLP([2, 1]), dict(momentum=1.0), [0, 1, 1, 0], r"^momentum: expected a number in \[0, 1\)"),
    (lambda: gf.MLP([2, 1]), dict(nesterov=True), [0, 1, 1, 0], r"^nesterov: expected momentum > 0"),
    (lambda: gf.MLP([2, 1]), dict(sample_weight=[1, 1, -1, 1]), [0, 1, 1, 0], r"^sample_weight: expected weights >= 0"),
    (lambda: gf.MLP([2, 1]), dict(sample_weight=[0, 0, 0, 0]), [0, 1, 1, 0], r"^sample_weight: expected at least one weight > 0"),
    (lambda: gf.MLP([2, 1]), dict(sample_weight=[1, 1]), [0, 1, 1, 0], r"^sample_weight: expected shape \(4,\)"),
    (lambda: gf.MLP([2, 1]), dict(l2=-1.0), [0, 1, 1, 0], r"^l2: expected a finite number >= 0"),
    (lambda: gf.MLP([2, 1]), dict(huber_delta=0.0), [0, 1, 1, 0], r"^huber_delta:"),
    (lambda: gf.MLP([2, 1]), dict(callbacks=[3]), [0, 1, 1, 0], r"^callbacks\[0\]:"),
    (lambda: gf.MLP([2, 1]), dict(validation_data=([[1.0, 2.0]], [1.0, 2.0])), [0, 1, 1, 0], r"^validation_data\[1\]:"),
    (lambda: gf.MLP([2, 1]), dict(validation_data=([[1.0]], [1.0])), [0, 1, 1, 0], r"^validation_data\[0\]:"),
    (lambda: gf.MLP([2, 1]), dict(patience=0, early_stopping=True), [0, 1, 1, 0], r"^patience:"),
]


@pytest.mark.parametrize("make_model,kwargs,y,match", UNSUPPORTED, ids=lambda v: v if isinstance(v, str) else None)
def test_unsupported_combinations_raise_and_leave_the_model_unchanged(make_model, kwargs, y, match):
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    try:
        m = make_model()
    except ValueError:
        raise
    before = m.params.copy()
    with pytest.raises((ValueError, TypeError), match=match):
        gf.train(m, X, y, epochs=2, **kwargs)
    assert np.array_equal(m.params, before)


def test_schedule_arguments_are_checked():
    with pytest.raises(ValueError, match=r"^warmup: expected fewer warm-up epochs than epochs=3, got 3"):
        schedules.Cosine(epochs=3, warmup=3)
    with pytest.raises(ValueError, match=r"^factor:"):
        schedules.Step(every=2, factor=1.5)
    with pytest.raises(ValueError, match=r"^every:"):
        schedules.Step(every=0)


def test_a_schedule_that_returns_a_bad_lr_is_named():
    X, y = regression_data(20)
    m = gf.MLP([3, 1], seed=0)
    before = m.params.copy()
    with pytest.raises(ValueError, match=r"^lr_schedule: expected the function to return a positive finite lr"):
        gf.train(m, X, y, lr_schedule=lambda e: float("nan"), epochs=2)
    assert np.array_equal(m.params, before)


def test_divergence_with_adam_rolls_back_state_with_the_params():
    X, y = regression_data(200)
    y = y * 1e3
    m = gf.MLP([3, 32, 1], activation="relu", seed=0)
    t = gf.Trainer(m, "sgd", lr=5.0, momentum=0.9, seed=0)
    with pytest.warns(gf.DivergenceWarning):
        r = t.fit(X, y, epochs=50)
    assert r.stop_reason == "diverged"
    assert np.isfinite(m.params).all() and np.isfinite(t.state).all()
    assert r.final_loss <= gf.MLP([3, 32, 1], activation="relu", seed=0).loss(X, y)


def test_a_stop_from_on_progress_is_resumed_mid_epoch_exactly(monkeypatch):
    """A callback that stops mid-epoch leaves the Trainer inside that epoch; the
    next fit finishes it (it counts as one of the epochs asked for), and the
    whole run equals one that was never stopped, bit for bit."""
    monkeypatch.setattr(training, "WORK_PER_CALL", 3000)        # several C calls per epoch
    X, y = regression_data(300)

    class StopOnce:
        done = False

        def on_progress(self, info):
            if not StopOnce.done and info.epoch == 1 and info.epoch_fraction > 0.3:
                StopOnce.done = True
                return True

    m1, m2 = gf.MLP([3, 8, 1], activation="tanh", seed=0), gf.MLP([3, 8, 1], activation="tanh", seed=0)
    t1 = gf.Trainer(m1, "adam", lr=0.01, batch_size=8, seed=1, callbacks=[StopOnce()])
    r = t1.fit(X, y, epochs=3)
    assert r.stop_reason == "callback" and t1.epoch == 1 and r.epochs == 1
    t1.fit(X, y, epochs=2)                       # finishes epoch 2, then runs epoch 3
    t2 = gf.Trainer(m2, "adam", lr=0.01, batch_size=8, seed=1)
    t2.fit(X, y, epochs=3)
    assert t1.epoch == t2.epoch == 3 and t1.step == t2.step
    assert np.array_equal(m1.params, m2.params) and np.array_equal(t1.state, t2.state)
    assert t1.history["loss"] == t2.history["loss"]


def test_n_threads_gives_the_same_numbers_bit_for_bit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 128))
    y = X[:, 0] * X[:, 1]
    runs = []
    for n in (1, 2, 3):
        m = gf.MLP([128, 256, 256, 1], activation="relu", seed=0)
        r = gf.train(m, X, y, optimizer="adam", lr=1e-3, batch_size=200, epochs=2, seed=0, n_threads=n)
        runs.append((m.params.copy(), r.history["loss"], m.predict(X, n_threads=n)))
    for other in runs[1:]:
        assert np.array_equal(runs[0][0], other[0]) and runs[0][1] == other[1]
        assert np.array_equal(runs[0][2], other[2])
    with pytest.raises(ValueError, match=r"^n_threads: expected an integer in \[1, 64\]"):
        gf.Trainer(gf.MLP([2, 1]), n_threads=0)


@pytest.mark.parametrize("where", [0.05, 0.3, 0.55, 0.8])
@pytest.mark.parametrize("hook", ["on_progress", "on_epoch_end"])
def test_an_exception_from_a_callback_leaves_the_trainer_resumable_exactly(monkeypatch, where, hook):
    """A callback that raises, at any point of an epoch, leaves the Trainer as a
    stop there would: the next fit finishes the epoch and the whole run equals
    one that was never interrupted, bit for bit (steps, params, state, history)."""
    monkeypatch.setattr(training, "WORK_PER_CALL", 2000)        # many pauses per epoch
    X, y = regression_data(300)

    class Boom(Exception):
        pass

    class RaiseOnce:
        done = False

        def on_progress(self, info):
            if hook == "on_progress" and not self.done and info.epoch == 1 and info.epoch_fraction >= where:
                self.done = True
                raise Boom

        def on_epoch_end(self, info):
            if hook == "on_epoch_end" and not self.done and info.epoch == 2:
                self.done = True
                raise Boom

    m1, m2 = gf.MLP([3, 8, 1], activation="tanh", seed=0), gf.MLP([3, 8, 1], activation="tanh", seed=0)
    t1 = gf.Trainer(m1, "adam", lr=0.01, batch_size=8, seed=1, callbacks=[RaiseOnce()])
    with pytest.raises(Boom):
        t1.fit(X, y, epochs=3)
    done = t1.epoch
    assert done == (1 if hook == "on_progress" else 2)
    assert 0 < t1.step < 3 * 38
    t1.fit(X, y, epochs=3 - done)
    t2 = gf.Trainer(m2, "adam", lr=0.01, batch_size=8, seed=1)
    t2.fit(X, y, epochs=3)
    assert t1.epoch == t2.epoch == 3 and t1.step == t2.step == 3 * 38
    assert np.array_equal(m1.params, m2.params) and np.array_equal(t1.state, t2.state)
    assert t1.history["loss"] == t2.history["loss"]


def test_an_exception_from_a_callback_on_a_stream_leaves_the_model_as_it_was():
    """Out of core (block by block) a callback's exception rolls the whole call
    back: parameters, optimizer state, step count, epoch, history and generator
    are those before the call, so the same fit can simply be run again."""
    X, y = regression_data(300)
    blocks = [(X[i:i + 50], y[i:i + 50]) for i in range(0, 300, 50)]

    def boom(info):
        if info.epoch == 2:
            raise RuntimeError("boom")

    m = gf.MLP([3, 8, 1], activation="tanh", seed=0)
    t = gf.Trainer(m, "adam", lr=0.01, batch_size=8, seed=1, callbacks=[boom])
    before = (m.params.copy(), t.state.copy(), t.step, t.epoch, copy.deepcopy(t.rng.bit_generator.state))
    with pytest.raises(RuntimeError, match="boom"):
        t.fit(gf.data.Chunks(blocks), None, epochs=3)
    assert np.array_equal(m.params, before[0]) and np.array_equal(t.state, before[1])
    assert (t.step, t.epoch) == before[2:4] and t.rng.bit_generator.state == before[4]
    assert t.history["loss"] == []


def test_a_nested_train_on_the_same_model_says_so():
    X, y = regression_data(100)
    m = gf.MLP([3, 4, 1], seed=0)
    errors = []

    def nested(info):
        try:
            gf.train(m, X, y, epochs=1)
        except RuntimeError as exc:
            errors.append(str(exc))

    gf.train(m, X, y, epochs=2, callbacks=[nested])
    assert len(errors) == 2 and errors[0].startswith("model: already being trained by this thread: a training "
                                                     "call inside a callback")
    gf.train(m, X, y, epochs=1)                 # the lock is free again


def test_n_samples_follows_a_stream_that_shrinks():
    X, y = regression_data(300)
    sizes = iter([300, 200, 200])

    def blocks():
        n = next(sizes)
        return ((X[i:min(i + 50, n)], y[i:min(i + 50, n)]) for i in range(0, n, 50))

    r = gf.train(gf.MLP([3, 4, 1], seed=0), gf.data.Chunks(blocks), None, epochs=2, batch_size=16)
    assert r.n_samples == 200


# -- defaults that train ------------------------------------------------------------

def test_train_with_no_epochs_trains_until_converged():
    """gf.train(model, X, y) trains: SGD until the loss has not fallen by more
    than tol for n_iter_no_change epochs (scikit-learn's rule), at most 200."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([0.5, -1.0, 2.0]) + 0.1 * rng.normal(size=200)
    m = gf.MLP([3, 1], seed=0)
    start = m.loss(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = gf.train(m, X, y, seed=0)
    assert r.stop_reason == "converged" and 10 < r.epochs < 200
    np.testing.assert_allclose(m.weights[0][:, 0], [0.5, -1.0, 2.0], atol=0.05)
    h = r.history["loss"]
    assert min(h[:-10]) - min(h[-10:]) <= 1e-4                 # the last 10 epochs gained no more than tol
    assert r.final_loss < 0.5 * start
    assert "converged" in str(r)


def test_the_epoch_limit_while_the_loss_still_falls_warns():
    X, y = regression_data(200)
    m = gf.MLP([3, 8, 1], activation="tanh", seed=0)
    with pytest.warns(gf.ConvergenceWarning, match=r"^training stopped after max_epochs=5 epochs while the loss "
                                                   r"was still falling") as caught:
        r = gf.Trainer(m, max_epochs=5, seed=0).fit(X, y)
    assert r.stop_reason == "epochs" and r.epochs == 5
    assert caught[0].filename == __file__                  # the warning points at the caller's line


def test_explicit_epochs_run_exactly_and_do_not_warn():
    X, y = regression_data(200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = gf.train(gf.MLP([3, 8, 1], activation="tanh", seed=0), X, y, epochs=3, seed=0)
    assert r.epochs == 3 and r.stop_reason == "epochs"
    t = gf.Trainer(gf.MLP([3, 8, 1], seed=0), seed=0)
    assert t.partial_fit(X, y).epochs == 1


def test_convergence_settings_are_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match=r"^n_iter_no_change: expected an integer >= 1"):
        gf.Trainer(gf.MLP([2, 1]), n_iter_no_change=0)
    with pytest.raises(ValueError, match=r"^max_epochs: expected an integer >= 1"):
        gf.Trainer(gf.MLP([2, 1]), max_epochs=0)
    t = gf.Trainer(gf.MLP([2, 1]), tol=1e-3, n_iter_no_change=4, max_epochs=7)
    t.save(tmp_path / "t.npz")
    u = gf.load_trainer(tmp_path / "t.npz")
    assert (u.tol, u.n_iter_no_change, u.max_epochs) == (1e-3, 4, 7)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_entropy_with_rows_that_do_not_sum_to_one_trains_as_the_reference(dtype):
    """Soft targets whose rows sum to s != 1: the loss is s logsumexp(p) - t.p,
    its gradient s softmax(p) - t; the C core and the NumPy oracle agree."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4))
    y = rng.dirichlet(np.ones(3), 120) * rng.uniform(0.5, 2.0, (120, 1))
    runs = {}
    for backend in ("c", "numpy"):
        m = gf.MLP([4, 24, 3], activation="tanh", dtype=dtype, seed=0)
        r = gf.train(m, X, y, loss="cross_entropy", lr=0.05, batch_size=16, epochs=3, seed=0, backend=backend)
        runs[backend] = (m.params.astype(np.float64), r.history["loss"])
    tol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(runs["c"][0], runs["numpy"][0], rtol=tol, atol=tol)
    np.testing.assert_allclose(runs["c"][1], runs["numpy"][1], rtol=tol)
