"""No leaks: training a model 1,000 times, or predicting on 10^6 rows again
and again, does not grow the process's resident memory (a generous bound:
what matters is that it does not grow with the number of calls)."""
import gc
import os
import sys

import numpy as np
import pytest

import gradfit as gf

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm"),
    # AddressSanitizer keeps freed memory in quarantine: RSS grows by design there
    pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""), reason="RSS is meaningless under ASan"),
]


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_training_a_thousand_times_does_not_grow_memory():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    y = X @ np.array([1.0, -1.0, 0.5, 2.0])
    m = gf.MLP([4, 16, 1], activation="tanh", seed=0)

    def run(times):
        for i in range(times):
            gf.train(m, X, y, optimizer="adam", lr=1e-3, epochs=2, batch_size=16, seed=i,
                     validation_fraction=0.25, callbacks=[lambda info: None])
        gc.collect()

    run(100)                        # warm-up: caches, allocator pools
    before = rss_bytes()
    run(1000)
    assert rss_bytes() - before < 8 * 2**20


def test_predicting_on_a_million_rows_repeatedly_does_not_grow_memory():
    m = gf.MLP([10, 64, 1], activation="relu", dtype="float32", seed=0)
    X = np.random.default_rng(1).normal(size=(1_000_000, 10)).astype(np.float32)
    m.predict(X)
    gc.collect()
    before = rss_bytes()
    for _ in range(10):
        out = m.predict(X)
        del out
    gc.collect()
    assert rss_bytes() - before < 16 * 2**20
