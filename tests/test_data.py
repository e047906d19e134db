"""gf.data.Chunks streams and the Parquet reader."""
import sys

import numpy as np
import pytest

import gradfit as gf


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2003, 3))
    y = np.cos(X).sum(axis=1)
    return X, y


def _blocks(X, y, size=300):
    return [(X[i:i + size], y[i:i + size]) for i in range(0, len(X), size)]


def test_chunks_in_order_equal_in_memory_training(data):
    X, y = data
    a, b = gf.MLP([3, 8, 1], activation="tanh", seed=1), gf.MLP([3, 8, 1], activation="tanh", seed=1)
    ra = gf.train(a, X, y, shuffle=False, batch_size=32, epochs=3, optimizer="adam", lr=0.01)
    rb = gf.train(b, gf.data.Chunks(_blocks(X, y)), None, shuffle=False, batch_size=32, epochs=3,
                  optimizer="adam", lr=0.01)
    assert np.array_equal(a.params, b.params)
    assert ra.history == rb.history
    assert rb.n_samples == 2003 and rb.epochs == 3
    assert rb.final_loss == pytest.approx(ra.final_loss, rel=1e-12)


def test_window_shuffle_of_a_stream_is_seeded_and_visits_every_row(data):
    X, y = data
    runs = []
    for seed in (0, 0, 1):
        m = gf.MLP([3, 8, 1], activation="tanh", seed=1)
        r = gf.train(m, gf.data.Chunks(lambda: iter(_blocks(X, y))), None, batch_size=16, epochs=2, seed=seed,
                     window_chunks=3)
        runs.append((m.params.copy(), r))
    assert np.array_equal(runs[0][0], runs[1][0])
    assert not np.array_equal(runs[0][0], runs[2][0])
    assert runs[0][1].steps == 2 * -(-2003 // 16)
    ordered = gf.MLP([3, 8, 1], activation="tanh", seed=1)
    gf.train(ordered, gf.data.Chunks(_blocks(X, y)), None, batch_size=16, epochs=2, shuffle=False)
    assert not np.array_equal(ordered.params, runs[0][0])


def test_the_numpy_backend_replays_a_stream(data):
    X, y = data
    out = []
    for backend in ("c", "numpy"):
        m = gf.MLP([3, 8, 1], activation="tanh", seed=1)
        gf.train(m, gf.data.Chunks(_blocks(X, y)), None, batch_size=16, epochs=1, seed=3, backend=backend)
        out.append(m.params)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-10, atol=1e-12)


def test_a_one_shot_iterator_trains_one_epoch_and_is_refused_after(data):
    X, y = data
    m = gf.MLP([3, 1], seed=0)
    with pytest.raises(ValueError, match=r"^X: a Chunks over a one-shot iterator can be read for one epoch only"):
        gf.train(m, gf.data.Chunks(iter(_blocks(X, y))), None, epochs=2)
    stream = gf.data.Chunks(b for b in _blocks(X, y))
    r = gf.train(m, stream, None, epochs=1, seed=0)
    assert r.epochs == 1 and r.n_samples == 2003 and np.isnan(r.final_loss)   # not readable again
    with pytest.raises(ValueError, match=r"^X: this Chunks wraps a one-shot iterator that was already read"):
        gf.train(m, stream, None, epochs=1)


def test_a_bad_block_rolls_the_trainer_back_and_names_the_block(data):
    X, y = data
    blocks = _blocks(X, y)
    bad = blocks[4][0].copy()
    bad[7, 2] = np.inf
    blocks[4] = (bad, blocks[4][1])
    m = gf.MLP([3, 8, 1], activation="tanh", seed=1)
    t = gf.Trainer(m, "adam", lr=0.01, batch_size=32, seed=0)
    t.fit(X, y, epochs=1)
    params, step, history, rng = m.params.copy(), t.step, {k: list(v) for k, v in t.history.items()}, \
        t.rng.bit_generator.state
    with pytest.raises(ValueError, match=r"^X\[chunk 4\]: expected finite values, got 1 NaN or inf"):
        t.fit(gf.data.Chunks(blocks), None, epochs=2)
    assert np.array_equal(m.params, params)
    assert t.step == step and t.history == history and t.rng.bit_generator.state == rng
    blocks[4] = (blocks[4][0][:, :2], blocks[4][1])
    with pytest.raises(ValueError, match=r"^X\[chunk 4\]: expected 3 feature\(s\)"):
        t.fit(gf.data.Chunks(blocks), None, epochs=1)
    assert np.array_equal(m.params, params)


@pytest.mark.parametrize("kw, error, match", [
    (dict(shuffle=True), ValueError, r"^shuffle: True .* needs random access"),
    (dict(sample_weight=np.ones(3)), ValueError, r"^sample_weight: expected None when X is a Chunks"),
    (dict(batch_size=None), ValueError, r"^batch_size: None"),
])
def test_stream_refusals(data, kw, error, match):
    X, y = data
    with pytest.raises(error, match=match):
        gf.train(gf.MLP([3, 1], seed=0), gf.data.Chunks(_blocks(X, y)), None, **kw)


def test_stream_needs_y_none_and_tuples(data):
    X, y = data
    with pytest.raises(ValueError, match=r"^y: expected None when X is a Chunks"):
        gf.train(gf.MLP([3, 1]), gf.data.Chunks(_blocks(X, y)), y)
    with pytest.raises(TypeError, match=r"^X: chunk 0: expected a tuple \(X, y\)"):
        gf.train(gf.MLP([3, 1]), gf.data.Chunks([X]), None)
    with pytest.raises(TypeError, match=r"^source: expected an iterable of \(X, y\) blocks"):
        gf.data.Chunks(X)
    with pytest.raises(TypeError, match=r"^source: expected an iterable"):
        gf.data.Chunks(3)


def test_blocks_with_weights(data):
    X, y = data
    w = np.random.default_rng(2).uniform(0, 1, size=len(X))
    blocks = [(X[i:i + 300], y[i:i + 300], w[i:i + 300]) for i in range(0, len(X), 300)]
    a, b = gf.MLP([3, 4, 1], seed=0), gf.MLP([3, 4, 1], seed=0)
    gf.train(a, X, y, sample_weight=w, shuffle=False, batch_size=20, epochs=1)
    gf.train(b, gf.data.Chunks(blocks), None, shuffle=False, batch_size=20, epochs=1)
    assert np.array_equal(a.params, b.params)


def test_read_parquet_trains_like_the_table_in_memory(data, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y = data
    table = pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "target": y, "note": np.arange(len(y))})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=500)
    stream = gf.data.read_parquet(tmp_path / "t.parquet", target="target", columns=["a", "b", "c"],
                                  batch_rows=256)
    a, b = gf.MLP([3, 8, 1], activation="tanh", seed=1), gf.MLP([3, 8, 1], activation="tanh", seed=1)
    gf.train(a, X, y, shuffle=False, batch_size=32, epochs=2)
    r = gf.train(b, stream, None, shuffle=False, batch_size=32, epochs=2)
    assert np.array_equal(a.params, b.params) and r.n_samples == len(y)
    with pytest.raises(ValueError, match=r"^columns: no column\(s\) \['zz'\]"):
        gf.data.read_parquet(tmp_path / "t.parquet", target="target", columns=["zz"])
    with pytest.raises(ValueError, match=r"^target: no column 'nope'"):
        gf.data.read_parquet(tmp_path / "t.parquet", target="nope")
    with pytest.raises(FileNotFoundError, match=r"^path: no such file"):
        gf.data.read_parquet(tmp_path / "missing.parquet", target="target")
    with pytest.raises(ValueError, match=r"^batch_rows: expected an integer >= 1, got 0"):
        gf.data.read_parquet(tmp_path / "t.parquet", target="target", batch_rows=0)


def test_read_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "t.parquet").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r'pip install "gradfit\[parquet\]"'):
        gf.data.read_parquet(tmp_path / "t.parquet", target="y")


def test_read_parquet_checks_every_file_and_a_schema_change_is_a_clear_error(data, tmp_path):
    """Every file's columns are checked up front (not only the first's); a file
    that changes its columns after read_parquet gives a ValueError naming it,
    and the model, optimizer state and Trainer are as before the call."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y = data
    p1, p2 = tmp_path / "p1.parquet", tmp_path / "p2.parquet"
    pq.write_table(pa.table({"a": X[:100, 0], "b": X[:100, 1], "target": y[:100]}), p1)
    pq.write_table(pa.table({"a": X[100:, 0], "B": X[100:, 1], "target": y[100:]}), p2)
    with pytest.raises(ValueError, match=r"^columns: no column\(s\) \['b'\] in .*p2\.parquet"):
        gf.data.read_parquet([p1, p2], target="target")
    pq.write_table(pa.table({"a": X[100:, 0], "b": X[100:, 1], "target": y[100:]}), p2)
    stream = gf.data.read_parquet([p1, p2], target="target", batch_rows=64)
    pq.write_table(pa.table({"a": X[100:, 0], "B": X[100:, 1], "target": y[100:]}), p2)    # changed since
    m = gf.MLP([2, 4, 1], seed=0)
    t = gf.Trainer(m, "adam", lr=0.01, batch_size=16, seed=0)
    before = (m.params.copy(), t.state.copy(), t.step)
    with pytest.raises(ValueError, match=r"^columns: no column\(s\) \['b'\] in .*p2\.parquet"):
        t.fit(stream, None, epochs=2)
    assert np.array_equal(m.params, before[0]) and np.array_equal(t.state, before[1]) and t.step == before[2]
    assert t.epoch == 0 and t.history["loss"] == []
