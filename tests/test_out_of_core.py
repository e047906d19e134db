"""Out-of-core training: a numpy.memmap X is read block by block, gives the
same numbers, bit for bit, as the same rows in memory trained in the same
order, and keeps anonymous memory bounded by the block size, not by N."""
import os
import sys
import warnings

import numpy as np
import pytest

import gradfit as gf
from gradfit._epoch_orders import window_orders


def _files(tmp_path, X, y, w=None):
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    out = [np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r")]
    if w is not None:
        np.save(tmp_path / "w.npy", w)
        out.append(np.load(tmp_path / "w.npy", mmap_mode="r"))
    return out


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5003, 3))
    y = np.sin(X).sum(axis=1)
    Xm, ym = _files(tmp_path, X, y)
    return X, y, Xm, ym


def _pair(X, y, Xm, ym, **kw):
    a = gf.MLP([3, 8, 1], activation="tanh", seed=1)
    b = gf.MLP([3, 8, 1], activation="tanh", seed=1)
    ra = gf.train(a, X, y, **kw)
    rb = gf.train(b, Xm, ym, **kw)
    return a, b, ra, rb


@pytest.mark.parametrize("shuffle", [False, True, "window"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_memmap_equals_in_memory_bit_for_bit(data, shuffle, optimizer):
    X, y, Xm, ym = data
    a, b, ra, rb = _pair(X, y, Xm, ym, optimizer=optimizer, lr=0.01, batch_size=33, epochs=3, seed=5,
                         shuffle=shuffle, chunk_rows=700, window_chunks=3)
    assert np.array_equal(a.params, b.params)
    assert ra.history == rb.history
    assert ra.steps == rb.steps == 3 * -(-5003 // 33)
    assert rb.final_loss == pytest.approx(ra.final_loss, rel=1e-12)      # summed block by block
    assert not np.array_equal(a.params, gf.MLP([3, 8, 1], activation="tanh", seed=1).params)


def test_memmap_defaults_to_window_shuffle_and_arrays_keep_full_shuffle(data):
    X, y, Xm, ym = data
    kw = dict(lr=0.01, batch_size=32, epochs=2, seed=3, chunk_rows=500, window_chunks=2)
    a, b, _, _ = _pair(X, y, Xm, ym, shuffle="window", **kw)
    c = gf.MLP([3, 8, 1], activation="tanh", seed=1)
    gf.train(c, Xm, ym, **kw)                                  # default: "window" for a memmap
    assert np.array_equal(c.params, a.params)
    d, e = gf.MLP([3, 8, 1], activation="tanh", seed=1), gf.MLP([3, 8, 1], activation="tanh", seed=1)
    gf.train(d, X, y, **kw)                                    # default: True for arrays (unchanged)
    gf.train(e, X, y, shuffle=True, **kw)
    assert np.array_equal(d.params, e.params)
    assert not np.array_equal(d.params, a.params)


def test_window_orders_are_permutations_of_whole_blocks_and_seeded():
    N, C, W = 1000, 64, 3
    windows = list(window_orders(N, C, W, np.random.default_rng(7)))
    order = np.concatenate(windows)
    assert np.array_equal(np.sort(order), np.arange(N))
    assert len(windows) == -(-(-(-N // C)) // W)
    for rows in windows:                 # each window holds whole blocks only
        blocks = np.unique(rows // C)
        assert len(blocks) <= W
        assert sum(min(C, N - b * C) for b in blocks) == rows.size
    again = np.concatenate(list(window_orders(N, C, W, np.random.default_rng(7))))
    assert np.array_equal(order, again)
    other = np.concatenate(list(window_orders(N, C, W, np.random.default_rng(8))))
    assert not np.array_equal(order, other)


def test_numpy_backend_replays_the_same_orders(data):
    X, y, Xm, ym = data
    kw = dict(lr=0.01, batch_size=40, epochs=2, seed=2, shuffle="window", chunk_rows=300, window_chunks=4)
    a, b, _, _ = _pair(X, y, Xm, ym, backend="numpy", **kw)
    assert np.array_equal(a.params, b.params)
    c = gf.MLP([3, 8, 1], activation="tanh", seed=1)
    gf.train(c, Xm, ym, **kw)
    np.testing.assert_allclose(c.params, b.params, rtol=1e-10, atol=1e-12)


def test_float64_file_into_float32_model_is_converted_block_by_block(data):
    X, y, Xm, ym = data
    a = gf.MLP([3, 8, 1], activation="tanh", seed=1, dtype="float32")
    b = gf.MLP([3, 8, 1], activation="tanh", seed=1, dtype="float32")
    kw = dict(lr=0.01, batch_size=16, epochs=1, seed=0, shuffle="window", chunk_rows=512)
    gf.train(a, X.astype(np.float32), y.astype(np.float32), **kw)
    gf.train(b, Xm, ym, **kw)
    assert np.array_equal(a.params, b.params)


def test_max_steps_mid_epoch_then_continue_matches_in_memory(data):
    X, y, Xm, ym = data
    results = []
    for XX, yy in ((X, y), (Xm, ym)):
        m = gf.MLP([3, 8, 1], activation="tanh", seed=1)
        t = gf.Trainer(m, "adam", lr=0.01, batch_size=32, shuffle="window", seed=4, chunk_rows=256,
                       window_chunks=2)
        r1 = t.fit(XX, yy, epochs=3, max_steps=200)
        r2 = t.fit(XX, yy, epochs=1)
        results.append((m.params.copy(), r1.steps, r1.stop_reason, r1.epochs, t.history, t.step))
    a, b = results
    assert np.array_equal(a[0], b[0])
    assert a[1:] == b[1:]
    assert b[1] == 200 and b[2] == "max_steps"


def test_trainer_with_window_shuffle_saves_and_resumes_exactly(data, tmp_path):
    X, y, Xm, ym = data
    m = gf.MLP([3, 8, 1], activation="tanh", seed=1)
    t = gf.Trainer(m, lr=0.01, batch_size=32, seed=9, chunk_rows=300, window_chunks=2)
    t.fit(Xm, ym, epochs=1)
    t.save(tmp_path / "t.npz")
    t.fit(Xm, ym, epochs=1)
    t2 = gf.load_trainer(tmp_path / "t.npz")
    assert t2.chunk_rows == 300 and t2.window_chunks == 2
    t2.fit(Xm, ym, epochs=1)
    assert np.array_equal(t2.model.params, m.params)


def test_validation_data_and_early_stopping_work_with_a_memmap(data):
    X, y, Xm, ym = data
    kw = dict(lr=0.05, batch_size=64, epochs=30, seed=0, shuffle="window", chunk_rows=1000,
              validation_data=(X[:500], y[:500]), early_stopping=True, patience=2)
    a, b, ra, rb = _pair(X, y, Xm, ym, **kw)
    assert np.array_equal(a.params, b.params)
    assert ra.history["val_loss"] == rb.history["val_loss"]
    assert len(rb.history["val_loss"]) == rb.epochs >= 3


def test_sample_weight_memmap_and_class_ids(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2001, 2))
    ids = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    w = rng.uniform(0, 2, size=2001)
    Xm, ym, wm = _files(tmp_path, X, ids, w)
    kw = dict(loss="cross_entropy", lr=0.05, batch_size=25, epochs=2, seed=0, shuffle="window", chunk_rows=128)
    a, b = gf.MLP([2, 6, 3], seed=0), gf.MLP([2, 6, 3], seed=0)
    ra = gf.train(a, X, ids, sample_weight=w, **kw)
    rb = gf.train(b, Xm, ym, sample_weight=wm, **kw)
    assert np.array_equal(a.params, b.params)
    assert ra.history == rb.history


def test_nan_in_the_file_is_refused_before_training(tmp_path):
    X = np.random.default_rng(0).normal(size=(3000, 3))
    X[2345, 1] = np.nan
    Xm, ym = _files(tmp_path, X, np.zeros(3000))
    m = gf.MLP([3, 4, 1], seed=0)
    before = m.params.copy()
    with pytest.raises(ValueError, match=r"^X: expected finite values, got 1 NaN or inf value\(s\) "
                                         r"\(the first at index \(2345, 1\)\)"):
        gf.train(m, Xm, ym, chunk_rows=1000)
    assert np.array_equal(m.params, before)


@pytest.mark.parametrize("kw, match", [
    (dict(validation_fraction=0.2), r"^validation_fraction: not available when X is a numpy.memmap"),
    (dict(grad_tol=1e-3), r"^grad_tol: not available"),
    (dict(chunk_rows=0), r"^chunk_rows: expected an integer >= 1, got 0"),
    (dict(window_chunks=0), r"^window_chunks: expected an integer >= 1, got 0"),
])
def test_out_of_core_refusals(data, kw, match):
    _, _, Xm, ym = data
    with pytest.raises(ValueError, match=match):
        gf.train(gf.MLP([3, 1], seed=0), Xm, ym, **kw)


def test_full_batch_on_a_memmap_reads_it_in_place_like_an_array(data):
    X, y, Xm, ym = data
    a, b, ra, rb = _pair(X, y, Xm, ym, batch_size=None, lr=0.1, epochs=3)
    assert np.array_equal(a.params, b.params) and ra.final_loss == rb.final_loss


def test_bad_shuffle_value():
    with pytest.raises(TypeError, match=r"^shuffle: expected True, False, 'window' or None, got str 'windows'"):
        gf.Trainer(gf.MLP([1, 1]), shuffle="windows")


def test_divergence_on_a_memmap_restores_finite_params(data):
    X, y, Xm, ym = data
    m = gf.MLP([3, 8, 1], activation="relu", seed=1)
    with pytest.warns(gf.DivergenceWarning):
        r = gf.train(m, Xm, ym * 1e6, lr=10.0, batch_size=8, epochs=2, seed=0)
    assert r.stop_reason == "diverged"
    assert np.isfinite(m.params).all() and np.isfinite(r.final_loss)


def _rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc/self/status")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""), reason="RSS is meaningless under ASan")
def test_a_file_several_times_the_memory_bound_trains_in_bounded_anonymous_memory(tmp_path):
    """180 MB of data (2.5M rows x 8 float64 + targets), memory bound 32 MB
    (chunk_rows=32768, window_chunks=4: a window of 131072 rows): anonymous
    memory, sampled after every block, grows by less than the bound; then the
    same rows loaded into memory and trained with the same window order give
    the same parameters, bit for bit."""
    N, n_in, bound = 2_500_000, 8, 32 * 2**20
    Xw = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=(N, n_in))
    yw = np.lib.format.open_memmap(tmp_path / "y.npy", mode="w+", dtype=np.float64, shape=(N,))
    coef = np.linspace(-1, 1, n_in)
    for start in range(0, N, 1 << 17):
        x = np.random.default_rng(start).normal(size=(min(1 << 17, N - start), n_in))
        Xw[start:start + len(x)] = x
        yw[start:start + len(x)] = np.tanh(x @ coef)
    Xw.flush(), yw.flush()
    del Xw, yw, x
    data_bytes = N * (n_in + 1) * 8
    assert data_bytes > 5 * bound
    X = np.load(tmp_path / "X.npy", mmap_mode="r")
    y = np.load(tmp_path / "y.npy", mmap_mode="r")
    kw = dict(lr=0.01, batch_size=250, epochs=1, seed=0, shuffle="window", chunk_rows=32768, window_chunks=4)
    samples = []

    class Sampler:
        def on_progress(self, info):
            samples.append(_rss_anon())

    m = gf.MLP([n_in, 4, 1], activation="tanh", seed=0)
    before = _rss_anon()
    r = gf.train(m, X, y, callbacks=[Sampler()], **kw)
    samples.append(_rss_anon())
    assert len(samples) > 50                       # sampled all along the epoch
    assert max(samples) - before < bound
    assert r.steps == N // 250 and np.isfinite(r.final_loss)
    del X, y

    Xa, ya = np.load(tmp_path / "X.npy"), np.load(tmp_path / "y.npy")     # in memory
    a = gf.MLP([n_in, 4, 1], activation="tanh", seed=0)
    ra = gf.train(a, Xa, ya, **kw)
    assert np.array_equal(a.params, m.params)
    assert ra.history == r.history
