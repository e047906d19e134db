"""train() releases the GIL around the C core: separate models trained in
threads give exactly the results of sequential runs."""
import threading

import numpy as np

import gradfit as gf


def test_concurrent_training_of_separate_models_matches_sequential():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = np.sin(X).sum(axis=1)

    def job(i, out):
        m = gf.MLP([3, 12, 1], activation="tanh", seed=i)
        r = gf.train(m, X, y, lr=0.05, batch_size=8, epochs=20, seed=i)
        out[i] = (m.params.copy(), r.history["loss"])

    sequential, parallel = {}, {}
    for i in range(4):
        job(i, sequential)
    threads = [threading.Thread(target=job, args=(i, parallel)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert np.array_equal(sequential[i][0], parallel[i][0])
        assert sequential[i][1] == parallel[i][1]
    assert not np.array_equal(sequential[0][0], sequential[1][0])
