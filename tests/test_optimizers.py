"""Optimizers of the C core and the NumPy reference (issue 6): hand-derived
first steps, C == reference over 200 steps for every optimizer x loss x
{none, l2, sample_weight, both}, mid-epoch resume by a batch budget,
divergence rolling back params, state and step count."""
import math

import numpy as np
import pytest

import gradfit as gf
from gradfit import _core, reference
from trainhelp import Run, orders, problem

BACKENDS = ["c", "numpy"]

# -- 1. three steps by hand ----------------------------------------------------
# The model: pred = w x + b (MLP([1, 1]), identity), w = 0.5, b = 0.1, data
# x = (1, 2), y = (2, 3), mse over the full batch: L = ((w + b - 2)^2 + (2w + b - 3)^2) / 2,
# so dL/dw = r1 * 1 + r2 * 2 and dL/db = r1 + r2 with r_i = w x_i + b - y_i.
# Step 1 of SGD (lr 0.1): r = (-1.4, -1.9), g = (-5.2, -3.3), w = 0.5 + 0.52 = 1.02,
# b = 0.1 + 0.33 = 0.43. Adam's first step moves each parameter by
# lr * g / (|g| + eps) = lr (1 - eps/|g|): w = 0.6 - 1e-9 / 5.2.
X1 = np.array([[1.0], [2.0]])
Y1 = np.array([[2.0], [3.0]])
LR = 0.1


def _grad(w, b):
    r1, r2 = w * 1.0 + b - 2.0, w * 2.0 + b - 3.0
    return r1 * 1.0 + r2 * 2.0, r1 + r2


def _by_hand(kind):
    """The update rules written out for the two parameters, three steps."""
    w, b = 0.5, 0.1
    vw = vb = mw = mb = sw_ = sb = 0.0
    mu, b1, b2, eps, wd = 0.9, 0.9, 0.999, 1e-8, 0.5
    out = []
    for t in (1, 2, 3):
        gw, gb = _grad(w, b)
        if kind == "sgd":
            w, b = w - LR * gw, b - LR * gb
        elif kind in ("momentum", "nesterov"):
            vw, vb = mu * vw + gw, mu * vb + gb
            if kind == "nesterov":
                w, b = w - LR * (gw + mu * vw), b - LR * (gb + mu * vb)
            else:
                w, b = w - LR * vw, b - LR * vb
        else:
            if kind == "adamw":
                w = w - LR * wd * w                     # decoupled decay, weight only
            mw, mb = b1 * mw + (1 - b1) * gw, b1 * mb + (1 - b1) * gb
            sw_, sb = b2 * sw_ + (1 - b2) * gw * gw, b2 * sb + (1 - b2) * gb * gb
            c1, c2 = 1 - b1 ** t, 1 - b2 ** t
            w = w - LR * (mw / c1) / (math.sqrt(sw_ / c2) + eps)
            b = b - LR * (mb / c1) / (math.sqrt(sb / c2) + eps)
        out.append((w, b))
    return out


HAND = {
    "sgd": [(1.02, 0.43), (1.181, 0.538), (1.2291, 0.5761)],
    "momentum": [(1.02, 0.43), (1.649, 0.835), (1.9401, 1.0378)],
    "nesterov": [(1.488, 0.727), (1.60121, 0.81988), (1.3805079, 0.7118479)],
    "adam": [(0.5999999998076924, 0.19999999969696972), (0.6992216018164824, 0.29923982924639553),
             (0.7969028010590882, 0.3969802096815179)],
    "adamw": [(0.5749999998076922, 0.19999999969696972), (0.6456489902549323, 0.2994060070260506),
              (0.7116515851511392, 0.39771073495236076)],
}
SETTINGS = {
    "sgd": ("sgd", {}),
    "momentum": ("sgd", {"momentum": 0.9}),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}),
    "adam": ("adam", {}),
    "adamw": ("adamw", {"weight_decay": 0.5}),
}


@pytest.mark.parametrize("kind", list(HAND))
def test_hand_derivation_gives_the_listed_numbers(kind):
    np.testing.assert_allclose(_by_hand(kind), HAND[kind], rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", list(HAND))
def test_first_three_steps_match_the_hand_derivation(kind, backend):
    optimizer, hyper = SETTINGS[kind]
    m = gf.MLP([1, 1], weights=[[[0.5]]], biases=[[0.1]])
    run = Run(backend, m, "mse", optimizer, batch=2, **hyper)
    for step in range(3):
        (status, steps, epochs, next_batch, _), _ = run.train(X1, Y1, None, None, 1, [LR])
        assert (status, steps, epochs, next_batch) == (_core.STATUS_OK, 1, 1, 0)
        w, b = HAND[kind][step]
        assert m.params[0] == pytest.approx(w, rel=1e-13, abs=1e-15)
        assert m.params[1] == pytest.approx(b, rel=1e-13, abs=1e-15)
    assert run.t[0] == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_adam_state_after_one_step_is_m_then_v(backend):
    m = gf.MLP([1, 1], weights=[[[0.5]]], biases=[[0.1]])
    run = Run(backend, m, "mse", "adam", batch=2)
    run.train(X1, Y1, None, None, 1, [LR])
    # m = 0.1 g, v = 0.001 g^2 with g = (-5.2, -3.3)
    np.testing.assert_allclose(run.state, [-0.52, -0.33, 0.001 * 5.2 ** 2, 0.001 * 3.3 ** 2], rtol=1e-14)


# -- 2. C == reference over 200 steps -----------------------------------------
OPTIMIZERS = {
    "sgd": ("sgd", {}, 0.05),
    "momentum": ("sgd", {"momentum": 0.9}, 0.02),
    "nesterov": ("sgd", {"momentum": 0.8, "nesterov": True}, 0.02),
    "adam": ("adam", {"beta1": 0.8, "beta2": 0.99, "eps": 1e-7}, 0.01),
    "adamw": ("adamw", {"weight_decay": 0.05}, 0.01),
}
LOSSES = ["mse", "sse", "cross_entropy", "binary_cross_entropy", "mae", "huber"]
EXTRAS = ["none", "l2", "sample_weight", "both"]


def _pair_runs(loss, kind, extra, dtype, epochs):
    optimizer, hyper, lr = OPTIMIZERS[kind]
    hyper = dict(hyper)
    if extra in ("l2", "both"):
        hyper["l2"] = 0.03
    m, X, y, sw = problem(loss, dtype)
    if loss == "sse":
        lr /= 8
    sw = sw if extra in ("sample_weight", "both") else None
    runs = []
    for backend in BACKENDS:
        model = m.copy()
        runs.append((model, Run(backend, model, loss, optimizer, batch=8, huber_delta=0.7, **hyper)))
    idx = orders(X.shape[0], epochs)
    epoch_lr = lr * 0.9 ** np.arange(epochs)          # a different lr every epoch
    epoch_lr[1] = 0.0                                  # lr 0 allowed: no move
    results = [run.train(X, y, sw, idx, epochs, epoch_lr) for _, run in runs]
    return runs, results


@pytest.mark.parametrize("extra", EXTRAS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_c_equals_reference_over_200_steps_float64(kind, loss, extra):
    runs, results = _pair_runs(loss, kind, extra, "float64", epochs=40)   # 5 batches an epoch
    (c_model, c_run), (r_model, r_run) = runs
    (c_out, c_sums), (r_out, r_sums) = results
    assert c_out[:4] == r_out[:4] == (_core.STATUS_OK, 200, 40, 0)
    assert c_run.t[0] == r_run.t[0] == 200
    scale = max(1.0, np.abs(r_model.params).max())
    np.testing.assert_allclose(c_model.params, r_model.params, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(c_run.state, r_run.state, rtol=1e-9, atol=1e-12)
    for c, r in zip(c_sums, r_sums):
        np.testing.assert_allclose(c, r, rtol=1e-10, atol=1e-12)
    assert not np.array_equal(c_model.params, problem(loss)[0].params)     # it trained
    if extra in ("l2", "both"):
        assert (c_sums[1] > 0).all()                    # the penalty is reported
    else:
        assert (c_sums[1] == 0).all()


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_c_equals_reference_float32_on_every_simd_path(kind, loss, simd_path):
    runs, results = _pair_runs(loss, kind, "both", "float32", epochs=10)
    (c_model, c_run), (r_model, r_run) = runs
    assert results[0][0][:4] == results[1][0][:4] == (_core.STATUS_OK, 50, 10, 0)
    np.testing.assert_allclose(c_model.params, r_model.params, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(results[0][1][0], results[1][1][0], rtol=1e-4)


def test_lr_zero_epoch_leaves_params_but_counts_the_step():
    m, X, y, _ = problem("mse")
    before = m.params.copy()
    run = Run("c", m, "mse", "adam", batch=8)
    (status, steps, _, _, _), _ = run.train(X, y, None, None, 1, [0.0])
    assert (status, steps, run.t[0]) == (_core.STATUS_OK, 5, 5)
    np.testing.assert_array_equal(m.params, before)
    assert np.abs(run.state).max() > 0          # m and v still move


# -- 4. mid-epoch resume --------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["momentum", "adam", "adamw"])
@pytest.mark.parametrize("budget", [1, 3, 5, 8, 13])
def test_any_split_by_max_batches_is_bit_identical_to_one_call(budget, kind, backend):
    optimizer, hyper, lr = OPTIMIZERS[kind]
    m, X, y, sw = problem("huber", n=50)            # 7 batches of 7 and one of 1 per epoch
    epochs = 3
    idx = orders(50, epochs)
    epoch_lr = np.array([lr, lr / 2, lr / 3])
    one = m.copy()
    whole = Run(backend, one, "huber", optimizer, batch=7, l2=0.01, **hyper)
    (status, steps, e, nb, _), sums = whole.train(X, y, sw, idx, epochs, epoch_lr)
    assert (status, steps, e, nb) == (_core.STATUS_OK, 24, 3, 0)

    split = m.copy()
    run = Run(backend, split, "huber", optimizer, batch=7, l2=0.01, **hyper)
    # the running sums go back into the next call, which adds the rest of a
    # partial epoch to them: the same additions in the same order as one call
    total = [np.zeros(epochs), np.zeros(epochs), np.zeros(epochs), np.zeros(epochs, np.int64)]
    done, start, calls = 0, 0, 0
    while done < epochs:
        (status, steps, e, nb, _), _ = run.train(X, y, sw, idx[done * 50:], epochs - done, epoch_lr[done:],
                                                 start_batch=start, max_batches=budget,
                                                 sums=[a[done:] for a in total])
        calls += 1
        assert 0 < steps <= budget
        assert status == (_core.STATUS_PAUSED if steps == budget and (done + e, nb) != (epochs, 0)
                          else _core.STATUS_OK)
        done, start = done + e, nb
    assert calls == -(-24 // budget)
    np.testing.assert_array_equal(split.params, one.params)
    np.testing.assert_array_equal(run.state, whole.state)
    assert run.t[0] == whole.t[0] == 24
    for a, b in zip(total, sums):
        np.testing.assert_array_equal(a, b)


def test_paused_reports_where_to_resume():
    m, X, y, _ = problem("mse", n=50)
    run = Run("c", m, "mse", "sgd", batch=7)
    (status, steps, e, nb, _), sums = run.train(X, y, None, orders(50, 2), 2, [0.01, 0.01], start_batch=3,
                                                max_batches=6)
    # batches 3..7 of epoch 0 (5 of them), then batch 0 of epoch 1
    assert (status, steps, e, nb) == (_core.STATUS_PAUSED, 6, 1, 1)
    assert sums[3].tolist() == [4 * 7 + 1, 7]


# -- 5. divergence rolls back params, state and t --------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("across_calls", [False, True])
def test_divergence_with_adam_restores_params_state_and_step_count(backend, across_calls):
    m, X, y, _ = problem("mse", n=40)
    X[:] *= 3.0
    run = Run(backend, m, "mse", "adam", batch=8)
    (status, steps, _, _, _), _ = run.train(X, y, None, None, 1, [0.01])
    assert (status, steps) == (_core.STATUS_OK, 5)
    params, state, t = m.params.copy(), run.state.copy(), int(run.t[0])
    # one update with a huge lr sends the params to ~1e200: the next loss overflows
    if across_calls:
        (status, steps, _, _, _), _ = run.train(X, y, None, None, 1, [1e200], max_batches=1)
        assert (status, steps) == (_core.STATUS_PAUSED, 1)
        assert np.abs(m.params).max() > 1e150 and run.t[0] == t + 1
        out, _ = run.train(X, y, None, None, 1, [1e200], start_batch=1)
    else:
        out, _ = run.train(X, y, None, None, 1, [1e200])
    assert out[0] == _core.STATUS_DIVERGED
    assert out[1] == (0 if across_calls else 1)
    np.testing.assert_array_equal(m.params, params)
    np.testing.assert_array_equal(run.state, state)
    assert run.t[0] == t


def test_divergence_with_plain_sgd_restores_params_and_step_count():
    _, X, y, _ = problem("sse", n=30)
    m = gf.MLP([3, 5, 3], activation="identity", seed=0)
    m0 = m.copy()
    run = Run("c", m, "sse", "sgd", batch=30)
    out, _ = run.train(X, y, None, None, 50, np.full(50, 5.0))
    assert out[0] == _core.STATUS_DIVERGED and 0 < out[1] < 50
    assert run.t[0] == out[1] - 1              # the last update is undone
    replay = Run("c", m0, "sse", "sgd", batch=30)
    replay.train(X, y, None, None, out[1] - 1, np.full(out[1] - 1, 5.0))
    np.testing.assert_array_equal(m.params, m0.params)


# -- interface ------------------------------------------------------------------
def test_state_and_workspace_lengths():
    m = gf.MLP([3, 5, 2])
    P = m.n_params
    assert _core.state_len(_core.OPTIMIZERS["sgd"], P) == P
    assert _core.state_len(_core.OPTIMIZERS["adam"], P) == 2 * P
    assert _core.state_len(_core.OPTIMIZERS["adamw"], P) == 2 * P
    base = _core.workspace_len(m._sizes, m._acts, 4)      # loss_grad's: no copies of params and state
    # room for the prev params, the prev state and the prev step count (2 elements)
    assert _core.workspace_len(m._sizes, m._acts, 4, _core.OPTIMIZERS["adam"]) == base + P + 2 * P + 2
    assert _core.workspace_len(m._sizes, m._acts, 4, _core.OPTIMIZERS["sgd"]) == base + P + P + 2
    with pytest.raises(ValueError, match="^optim_id: "):
        _core.state_len(7, P)


def test_names_come_from_the_c_enums():
    from gradfit import _names
    assert _names.LOSSES == _core.LOSSES == {"mse": 0, "sse": 1, "cross_entropy": 2, "binary_cross_entropy": 3,
                                             "mae": 4, "huber": 5, "poisson": 6}
    assert _names.OPTIMIZERS == {"sgd": 0, "adam": 1, "adamw": 2}
    assert _names.ACTIVATIONS == _core.ACTIVATIONS
    assert _core.STATUS_PAUSED == reference.STATUS_PAUSED == 6


@pytest.mark.parametrize("name, value, words", [
    ("momentum", 1.0, "expected a number in [0, 1)"),
    ("beta2", -0.1, "expected a number in [0, 1)"),
    ("eps", 0.0, "expected a finite number > 0"),
    ("l2", -1.0, "expected a finite number >= 0"),
])
def test_c_train_refuses_bad_hyperparameters_naming_them(name, value, words):
    m, X, y, _ = problem("mse")
    before = m.params.copy()
    run = Run("c", m, "mse", "adam", batch=8, **{name: value})
    with pytest.raises(ValueError) as info:
        run.train(X, y, None, None, 1, [0.01])
    assert str(info.value).startswith(f"{name}: ") and words in str(info.value)
    np.testing.assert_array_equal(m.params, before)
