"""train() releases the GIL around the C core: another Python thread keeps
running while the core trains, and separate models trained in threads give
exactly the results of sequential runs."""
import sys
import threading

import numpy as np
import pytest

import gradfit as gf
from gradfit import _core


class _Counter(threading.Thread):
    """Increments self.n in a pure-Python loop until stopped: it can only make
    progress while it holds the GIL."""

    def __init__(self):
        super().__init__(daemon=True)
        self.n = 0
        self.stop = False

    def run(self):
        while not self.stop:
            self.n += 1


def _increments_per_gil_turn(counter, turns=25):
    """How far the counter moves in one of its turns with the GIL while this
    thread, too, runs Python code: each thread then holds the GIL for about one
    switch interval in turn. The median jump seen by a reader that holds the
    GIL in between is the counter's progress per turn (no clock involved)."""
    jumps, last = [], counter.n
    while len(jumps) < turns:
        now = counter.n
        if now != last:
            jumps.append(now - last)
            last = now
    return sorted(jumps)[len(jumps) // 2]


def test_other_threads_run_during_the_c_training_call(monkeypatch):
    # One C call: epochs=1 on 500_000 rows of an 8-64-64-1 net, with the bound
    # on the work of one call lifted, is a single _core.train call of some
    # tenths of a second.
    rng = np.random.default_rng(0)
    N = 500_000
    X = rng.normal(size=(N, 8))
    y = np.tanh(X[:, :4]).sum(axis=1)
    model = gf.MLP([8, 64, 64, 1], activation="tanh", seed=0)

    seen = []           # the counter just before and just after each C call
    real_train = _core.train

    def watched_train(*args, **kwargs):
        before = counter.n
        out = real_train(*args, **kwargs)
        seen.append((before, counter.n))
        counter.stop = True         # the rest of train() runs without contention
        return out

    monkeypatch.setattr(_core, "train", watched_train)
    # train() splits long epochs into calls of about 0.1 s of work: lift the bound
    monkeypatch.setattr(gf._loop, "WORK_PER_CALL", 1 << 62)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    counter = _Counter()
    counter.start()
    try:
        per_turn = _increments_per_gil_turn(counter)
        result = gf.train(model, X, y, lr=0.01, batch_size=32, epochs=1, seed=0)
    finally:
        counter.stop = True
        counter.join()
        sys.setswitchinterval(old_interval)

    assert result.epochs == 1 and result.steps == -(-N // 32)
    assert len(seen) == 1, "expected one C call for the whole epoch"
    during = seen[0][1] - seen[0][0]
    # A C call that held the GIL would let the counter run only at the Python
    # boundaries just before and after it: a few turns at most. With the GIL
    # released it runs for the whole call, many turns: 10 separates the two.
    assert per_turn > 0
    assert during > 10 * per_turn, (during, per_turn)


def test_concurrent_training_of_separate_models_matches_sequential():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = np.sin(X).sum(axis=1)

    def job(i, out):
        m = gf.MLP([3, 12, 1], activation="tanh", seed=i)
        r = gf.train(m, X, y, lr=0.05, batch_size=8, epochs=20, seed=i)
        out[i] = (m.params.copy(), r.history["loss"])

    sequential, parallel = {}, {}
    for i in range(8):
        job(i, sequential)
    threads = [threading.Thread(target=job, args=(i, parallel)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        assert np.array_equal(sequential[i][0], parallel[i][0])
        assert sequential[i][1] == parallel[i][1]
    assert not np.array_equal(sequential[0][0], sequential[1][0])


# The pieces of a training step besides the big products also run on the
# thread pool when n_threads > 1 (csrc/train.inc): the batch's row gather
# (split by rows), each layer's bias gradient (by columns, in whole cache
# lines), a narrow (1-3 output) layer's forward product (by rows) and dW (by
# input rows, in whole cache lines), and gemm_packed splits a product that
# writes many entries even when K is tiny (a narrow last layer's dinp). Each
# stays on one thread below 2^14 elements. The shapes below sit on both sides
# of those edges (batch * inputs * outputs, batch * columns), with column
# counts that are not whole cache lines, and parts that outnumber the lines.
_SPLIT_SHAPES = [
    ([300, 257, 1], 64),     # narrow: 64*257 >= 2^14; gather 64*301; bias 64*257
    ([8, 63, 1], 260),       # narrow: 260*63 = 16380, just under 2^14: one thread
    ([40, 255, 2], 65),      # narrow, 2 outputs: 65*255*2; bias 65*255 = 16575
    ([20, 129, 3], 127),     # narrow, 3 outputs; bias 127*129 = 16383, just under
    ([16, 512, 17], 40),     # 17 outputs (one line and one entry): not narrow
    ([300, 3, 400, 1], 64),  # a narrow hidden layer (64*300*3) under a wide one
]


def _fit(sizes, batch, dtype, n_threads, **kw):
    rng = np.random.default_rng(sum(sizes) + batch)
    X = rng.normal(size=(5 * batch + 7, sizes[0]))      # a short last batch too
    y = rng.normal(size=(X.shape[0], sizes[-1]))
    m = gf.MLP(sizes, activation="relu", seed=2, dtype=dtype)
    r = gf.train(m, X, y, optimizer="adam", lr=1e-3, batch_size=batch, epochs=2, seed=0,
                 n_threads=n_threads, **kw)
    return m.params.copy(), r.history["loss"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes,batch", _SPLIT_SHAPES)
def test_the_split_step_pieces_give_the_one_thread_bits(sizes, batch, dtype):
    p1, h1 = _fit(sizes, batch, dtype, 1)
    assert np.all(np.isfinite(p1)) and h1[-1] < h1[0] * 1.5
    for n in (2, 3, 5):
        pn, hn = _fit(sizes, batch, dtype, n)
        np.testing.assert_array_equal(pn, p1, err_msg=f"n_threads={n}")
        assert hn == h1, n


@pytest.mark.parametrize("shuffle", [False, True])
def test_the_split_step_pieces_over_several_chunks_and_without_gather(monkeypatch, shuffle):
    # batches of 130 rows in forward/backward chunks of 50: the bias and dW of
    # the second and third chunks are added to (accumulate), not written;
    # without shuffling the rows are read in place (no gather)
    monkeypatch.setattr(gf._core, "PASS_ROWS", 50)
    runs = [_fit([200, 400, 1], 130, "float64", n, shuffle=shuffle) for n in (1, 2, 3)]
    for pn, hn in runs[1:]:
        np.testing.assert_array_equal(pn, runs[0][0])
        assert hn == runs[0][1]
    monkeypatch.setattr(gf._core, "PASS_ROWS", 4096)
    whole = _fit([200, 400, 1], 130, "float64", 2, shuffle=shuffle)
    # the same batches in one chunk: the same sums up to rounding
    np.testing.assert_allclose(whole[0], runs[0][0], rtol=1e-9, atol=1e-12)


def test_the_split_step_pieces_match_the_numpy_backend():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 300))
    y = rng.normal(size=(200, 2))
    out = {}
    for backend, n in (("c", 2), ("numpy", 1)):
        m = gf.MLP([300, 260, 2], activation="tanh", seed=4)
        kw = {"n_threads": n} if backend == "c" else {"backend": "numpy"}
        r = gf.train(m, X, y, lr=1e-2, batch_size=100, epochs=3, seed=0, **kw)
        out[backend] = (m.params, r.history["loss"])
    np.testing.assert_allclose(out["c"][0], out["numpy"][0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["c"][1], out["numpy"][1], rtol=1e-12)


def test_the_work_bound_per_c_call_scales_with_the_usable_threads(monkeypatch):
    # train() returns from C every ~WORK_PER_CALL multiply-adds of one thread
    # (progress, Ctrl-C); with n_threads threads, on as many CPUs, a call may
    # do n_threads times that work in the same wall time (capped by the CPUs)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(640, 20))
    y = rng.normal(size=(640, 1))
    monkeypatch.setattr(gf._loop, "WORK_PER_CALL", 3 * 32 * 441)     # 3 batches of 32 rows
    monkeypatch.setattr(gf._array_run.os, "cpu_count", lambda: 2)
    calls, real_train = [], _core.train

    def counted(*args, **kwargs):
        calls.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(_core, "train", counted)
    runs = {}
    for n in (1, 2, 4):
        calls.clear()
        m = gf.MLP([20, 20, 1], seed=0)
        assert m.n_params == 21 * 20 + 21
        r = gf.train(m, X, y, lr=0.01, batch_size=32, epochs=1, seed=0, n_threads=n)
        runs[n] = (len(calls), m.params.copy(), r.history["loss"])
    assert runs[1][0] == 7        # 20 batches, 3 per call
    assert runs[2][0] == 4        # 6 per call
    assert runs[4][0] == 4        # capped at the 2 CPUs
    for n in (2, 4):
        np.testing.assert_array_equal(runs[n][1], runs[1][1])
        assert runs[n][2] == runs[1][2]


# Wide layers whose products split by column panels over the threads:
# panel counts that 2, 3 and 5 threads divide and do not divide, for the
# panels of every SIMD path (16 or 32 columns in float32, 8 or 16 in float64)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("width", [129, 255, 256, 257, 385, 640])
def test_products_split_by_panels_give_the_one_thread_bits(width, dtype):
    p1, h1 = _fit([160, width, 3], 128, dtype, 1)
    assert np.all(np.isfinite(p1)) and h1[-1] < h1[0]
    for n in (2, 3, 5):
        pn, hn = _fit([160, width, 3], 128, dtype, n)
        np.testing.assert_array_equal(pn, p1, err_msg=f"n_threads={n}")
        assert hn == h1, n
    # repeated: which thread runs which part can change from run to run
    for _ in range(3):
        np.testing.assert_array_equal(_fit([160, width, 3], 128, dtype, 2)[0], p1)
