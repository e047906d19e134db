"""train() releases the GIL around the C core: another Python thread keeps
running while the core trains, and separate models trained in threads give
exactly the results of sequential runs."""
import sys
import threading

import numpy as np

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
    monkeypatch.setattr(gf.training, "WORK_PER_CALL", 1 << 62)
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
    # boundaries just before and after it: a few turns at most (measured: about
    # one). With the GIL released it runs for the whole call (measured: 60-500
    # turns).
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
