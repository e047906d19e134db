"""Sparse X (scipy.sparse CSR / CSC, matrices and arrays): the first layer's
products read the CSR rows in C, and every result equals the dense path's.

"Equal" here is what docs/guide/sparse.md promises: the same bits when the
first layer has at least 4 outputs and the net is not one of the tiny nets
run in SIMD lanes (both paths add each product's terms in the same order,
a zero entry adding an exact 0); otherwise (a first layer of 1-3 outputs,
which the dense path sums in another order) agreement to rounding."""
import tracemalloc

import numpy as np
import pytest

import gradfit as gf
from gradfit import _core
from gradfit._sparse import CsrRows

sp = pytest.importorskip("scipy.sparse")

ACTIVATIONS = ["relu", "tanh", "sigmoid", "softplus", "identity"]


def _data(n=400, n_in=50, n_out=3, density=0.1, seed=0, fmt="csr"):
    rng = np.random.default_rng(seed)
    X = sp.random(n, n_in, density=density, random_state=seed, format=fmt,
                  data_rvs=lambda k: rng.normal(size=k))
    y = rng.normal(size=(n, n_out))
    return X, y


def _pair(sizes, dtype=np.float64, act="tanh", seed=1):
    m = gf.MLP(sizes, activation=act, seed=seed, dtype=dtype)
    return m, m.copy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_train_gives_the_dense_bits(simd_path, act, dtype):
    X, y = _data()
    dense, sparse = _pair([50, 16, 8, 3], dtype, act)
    r1 = gf.train(dense, X.toarray(), y, epochs=3, batch_size=32, optimizer="adam", seed=3)
    r2 = gf.train(sparse, X, y, epochs=3, batch_size=32, optimizer="adam", seed=3)
    assert np.array_equal(dense.params, sparse.params)
    assert r1.history["loss"] == r2.history["loss"]
    assert np.array_equal(dense.predict(X.toarray()), sparse.predict(X))
    assert not np.array_equal(dense.params, gf.MLP([50, 16, 8, 3], activation=act, seed=1, dtype=dtype).params)


@pytest.mark.parametrize("loss,n_out,optimizer,extra", [
    ("mse", 3, "sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("sse", 3, "sgd", {"lr": 0.001}),
    ("mae", 2, "adam", {"l2": 1e-3}),
    ("huber", 2, "adamw", {"weight_decay": 0.01}),
    ("cross_entropy", 4, "adam", {}),
    ("binary_cross_entropy", 1, "sgd", {"lr": 0.1}),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_and_optimizers_give_the_dense_bits(loss, n_out, optimizer, extra, dtype):
    X, y = _data(n_out=n_out)
    if loss == "cross_entropy":
        y = np.argmax(y, axis=1)
    elif loss == "binary_cross_entropy":
        y = (y[:, 0] > 0).astype(np.float64)
    dense, sparse = _pair([50, 12, n_out], dtype, "relu")
    kw = dict(epochs=2, batch_size=50, optimizer=optimizer, loss=loss, seed=5, **extra)
    gf.train(dense, X.toarray(), y, **kw)
    gf.train(sparse, X, y, **kw)
    assert np.array_equal(dense.params, sparse.params)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_threads_do_not_change_the_bits(simd_path, n_threads):
    # batches wide enough that the forward rows and dW's columns split over the pool
    X, y = _data(n=1200, n_in=300, density=0.2)
    dense, sparse = _pair([300, 96, 3], np.float32, "relu")
    gf.train(dense, X.toarray(), y, epochs=2, batch_size=256, seed=2, n_threads=1)
    gf.train(sparse, X, y, epochs=2, batch_size=256, seed=2, n_threads=n_threads)
    assert np.array_equal(dense.params, sparse.params)


@pytest.mark.parametrize("sizes", [[40, 1], [40, 2], [1, 2, 1], [3, 8, 1]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_narrow_first_layers_agree_to_rounding(simd_path, sizes, dtype):
    X, y = _data(n=600, n_in=sizes[0], n_out=sizes[-1], density=0.3)
    dense, sparse = _pair(sizes, dtype)
    gf.train(dense, X.toarray(), y, epochs=2, batch_size=64, optimizer="adam", seed=3)
    gf.train(sparse, X, y, epochs=2, batch_size=64, optimizer="adam", seed=3)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(sparse.params, dense.params, rtol=tol, atol=tol)
    assert not np.array_equal(dense.params, gf.MLP(sizes, activation="tanh", seed=1, dtype=dtype).params)


def test_model_functions_take_sparse_x():
    # more rows than one C pass (PASS_ROWS) so that predict and loss run several passes
    X, y = _data(n=_core.PASS_ROWS + 700, n_in=60, n_out=4)
    m = gf.MLP([60, 20, 4], activation="relu", seed=0)
    Xd = X.toarray()
    assert np.array_equal(m.predict(X), m.predict(Xd))
    assert m.loss(X, y) == m.loss(Xd, y)
    v1, g1 = m.loss_and_grad(X, y, sample_weight=np.arange(len(y)) % 3)
    v2, g2 = m.loss_and_grad(Xd, y, sample_weight=np.arange(len(y)) % 3)
    assert v1 == v2 and np.array_equal(g1, g2)
    assert m.evaluate(X, y, metrics="r2") == m.evaluate(Xd, y, metrics="r2")
    c = gf.MLP([60, 8, 3], seed=0)
    assert np.array_equal(c.predict_proba(X), c.predict_proba(Xd))
    assert np.array_equal(c.predict_class(X), c.predict_class(Xd))


@pytest.mark.parametrize("container", ["csc_matrix", "csr_array", "csc_array", "coo_matrix"])
def test_other_containers_and_formats(container):
    X, y = _data()
    Xc = getattr(sp, container)(X)
    dense, sparse = _pair([50, 16, 3])
    gf.train(dense, X.toarray(), y, epochs=2, batch_size=40, seed=1)
    gf.train(sparse, Xc, y, epochs=2, batch_size=40, seed=1)
    assert np.array_equal(dense.params, sparse.params)
    assert np.array_equal(sparse.predict(Xc), dense.predict(X.toarray()))


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_index_dtypes(index_dtype):
    X, y = _data()
    X2 = X.copy()
    X2.indices, X2.indptr = X.indices.astype(index_dtype), X.indptr.astype(index_dtype)
    assert X2.indices.dtype == index_dtype
    dense, sparse = _pair([50, 16, 3])
    gf.train(dense, X.toarray(), y, epochs=1, batch_size=40, seed=1)
    gf.train(sparse, X2, y, epochs=1, batch_size=40, seed=1)
    assert np.array_equal(dense.params, sparse.params)


def test_empty_rows_zero_rows_and_no_entries():
    X, y = _data(n=300, density=0.05)
    X = X.tolil()
    X[7, :] = 0
    X[100:140, :] = 0             # a run of rows with no stored entries
    X = X.tocsr()
    X.eliminate_zeros()
    assert (np.diff(X.indptr) == 0).sum() >= 41
    dense, sparse = _pair([50, 16, 3])
    gf.train(dense, X.toarray(), y, epochs=2, batch_size=16, seed=4)
    gf.train(sparse, X, y, epochs=2, batch_size=16, seed=4)
    assert np.array_equal(dense.params, sparse.params)
    # no stored entries at all: the first layer sees only its bias, as with dense zeros
    Z = sp.csr_matrix((300, 50))
    dense, sparse = _pair([50, 16, 3])
    gf.train(dense, np.zeros((300, 50)), y, epochs=2, batch_size=16, seed=4)
    gf.train(sparse, Z, y, epochs=2, batch_size=16, seed=4)
    assert np.array_equal(dense.params, sparse.params)
    assert np.array_equal(sparse.predict(Z), dense.predict(np.zeros((300, 50))))


def test_an_explicit_zero_row_entry_is_the_dense_zero():
    X, y = _data(n=100)
    Xz = X.copy()
    Xz.data[::5] = 0.0            # stored zeros: read as entries, add exact zeros
    dense, sparse = _pair([50, 16, 3])
    gf.train(dense, Xz.toarray(), y, epochs=2, batch_size=10, seed=4)
    gf.train(sparse, Xz, y, epochs=2, batch_size=10, seed=4)
    assert np.array_equal(dense.params, sparse.params)


def test_unsorted_indices_and_duplicates_are_summed_on_a_copy():
    rng = np.random.default_rng(3)
    n, n_in = 200, 30
    rows = rng.integers(0, n, 1500)
    cols = rng.integers(0, n_in, 1500)          # with repeats: duplicates
    vals = rng.normal(size=1500)
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n, n_in))
    X = sp.csr_matrix((X.data, X.indices, X.indptr), shape=X.shape)
    X.has_sorted_indices = False
    # shuffle each row's entries and split one entry into two duplicates
    data, indices = X.data.copy(), X.indices.copy()
    for r in range(n):
        a, b = X.indptr[r], X.indptr[r + 1]
        p = rng.permutation(b - a)
        data[a:b], indices[a:b] = data[a:b][p], indices[a:b][p]
    Xu = sp.csr_matrix((data, indices, X.indptr.copy()), shape=X.shape)
    Xdup = sp.csr_matrix((np.r_[Xu.data, 0.5], np.r_[Xu.indices, Xu.indices[0]],
                          np.r_[Xu.indptr[:1], Xu.indptr[1:] + 1]), shape=X.shape)
    saved = (Xdup.data.copy(), Xdup.indices.copy(), Xdup.indptr.copy())
    y = rng.normal(size=(n, 2))
    dense, sparse = _pair([30, 8, 2])
    gf.train(dense, Xdup.toarray(), y, epochs=2, batch_size=20, seed=1)
    gf.train(sparse, Xdup, y, epochs=2, batch_size=20, seed=1)
    np.testing.assert_allclose(sparse.params, dense.params, rtol=1e-13, atol=1e-14)
    assert all(np.array_equal(a, b) for a, b in zip(saved, (Xdup.data, Xdup.indices, Xdup.indptr)))


def test_trainer_partial_fit_validation_and_weights():
    X, y = _data(n=500)
    w = np.random.default_rng(1).uniform(0, 2, 500)
    out = []
    for data in (X.toarray(), X):
        m = gf.MLP([50, 16, 3], seed=0)
        t = gf.Trainer(m, "adam", batch_size=32, seed=7, validation_fraction=0.2)
        for _ in range(3):
            t.partial_fit(data, y, sample_weight=w)
        t2 = gf.Trainer(m.copy(), "sgd", batch_size=None, seed=7, validation_data=(data[:50], y[:50]))
        t2.fit(data, y, epochs=3)
        out.append((m.params.copy(), t.history["val_loss"], t2.model.params.copy(), t2.history["val_loss"]))
    assert np.array_equal(out[0][0], out[1][0]) and out[0][1] == out[1][1]
    assert np.array_equal(out[0][2], out[1][2]) and out[0][3] == out[1][3]


def test_unshuffled_and_max_steps():
    X, y = _data(n=300)
    ps = []
    for data in (X.toarray(), X):
        m = gf.MLP([50, 16, 3], seed=0)
        gf.train(m, data, y, epochs=3, batch_size=32, shuffle=False)
        gf.train(m, data, y, max_steps=7, batch_size=32, seed=1)
        ps.append(m.params.copy())
    assert np.array_equal(ps[0], ps[1])


def test_numpy_backend_reads_sparse_x_densely():
    X, y = _data(n=200)
    dense, sparse = _pair([50, 8, 3])
    gf.train(dense, X.toarray(), y, epochs=2, batch_size=20, seed=1, backend="numpy")
    gf.train(sparse, X, y, epochs=2, batch_size=20, seed=1, backend="numpy")
    assert np.array_equal(dense.params, sparse.params)
    c = gf.MLP([50, 8, 3], activation="tanh", seed=1)
    gf.train(c, X, y, epochs=2, batch_size=20, seed=1)          # the C core, on the sparse rows
    np.testing.assert_allclose(c.params, sparse.params, rtol=1e-10, atol=1e-12)


def _bad(X, match, exc=ValueError, n_in=50):
    m = gf.MLP([n_in, 4, 1], seed=0)
    before = m.params.copy()
    with pytest.raises(exc, match=match):
        gf.train(m, X, np.zeros(X.shape[0]), epochs=1)
    assert np.array_equal(m.params, before)
    with pytest.raises(exc, match=match):
        m.predict(X)


def test_bad_input():
    X, _ = _data(n=20)
    bad = X.copy()
    bad.data[3] = np.nan
    _bad(bad, r"X: expected finite values, got 1 NaN or infinite stored entry")
    bad.data[4] = np.inf
    _bad(bad, r"X: expected finite values, got 2 NaN or infinite stored entries")
    _bad(X[:, :40], r"X: expected 50 feature\(s\) per sample \(layer_sizes\[0\]\), got shape \(20, 40\)")
    _bad(sp.csr_matrix((0, 50)), r"X: expected at least one sample")
    out_of_range = sp.csr_matrix((np.ones(2), np.array([3, 50]), np.array([0, 1, 2])), shape=(2, 50))
    _bad(out_of_range, r"X: expected column indices in \[0, 50\), got 50")
    negative = sp.csr_matrix((np.ones(2), np.array([3, 5]), np.array([0, 1, 2])), shape=(2, 50))
    negative.indices[1] = -4
    _bad(negative, r"X: expected column indices in \[0, 50\), got -4")
    backwards = sp.csr_matrix((np.ones(2), np.array([3, 5]), np.array([0, 1, 2])), shape=(2, 50))
    backwards.indptr[1] = 2
    backwards.indptr[2] = 1
    _bad(backwards, r"X: expected non-decreasing indptr")
    _bad(X.astype(np.complex128), r"X: expected real numbers, got a sparse matrix of dtype complex128", TypeError)


def test_sparse_x_where_it_is_not_taken():
    X, y = _data(n=20)
    m = gf.MLP([50, 4, 3], seed=0)
    with pytest.raises(TypeError, match=r"X: a scipy.sparse matrix is not accepted here; expected a dense array"):
        gf.explain_step(m, X, y)
    with pytest.raises(TypeError, match=r"y: a scipy.sparse matrix is not accepted here"):
        gf.train(m, X, sp.csr_matrix(y), epochs=1)



def test_train_many_passes_sparse_x_to_train():
    X, y = _data(n=100)
    dense, sparse = _pair([50, 16, 3])
    gf.train_many([(dense, X.toarray(), y, {"epochs": 2, "seed": 1}), (sparse, X, y, {"epochs": 2, "seed": 1})],
                  n_jobs=2, errors="raise")
    assert np.array_equal(dense.params, sparse.params)


def test_csr_rows_subsets():
    X, _ = _data(n=50)
    rows = CsrRows(X.indptr.astype(np.int64), X.indices.astype(np.int32), X.data, X.shape)
    for key in (slice(5, 17), slice(None, None, 3), np.array([4, 4, 0, 49]), np.arange(50) % 2 == 0):
        assert np.array_equal(rows[key].toarray(), X.toarray()[key])
    assert np.array_equal(rows[np.array([2, 9]), ...].toarray(), X.toarray()[[2, 9]])
    assert rows.nbytes == X.indptr.size * 8 + X.indices.size * 4 + X.data.nbytes
    # max / min over every entry, the zeros not stored included (the run's bound on the outputs reads them)
    full = CsrRows(np.array([0, 2, 4]), np.array([0, 1, 0, 1], dtype=np.int32), np.array([1.0, 2.0, 3.0, 4.0]),
                   (2, 2))
    assert (np.max(full, initial=0.0), np.min(full, initial=-1.0), full.min()) == (4.0, -1.0, 1.0)
    assert (rows.max(), rows.min()) == (max(X.data.max(), 0.0), min(X.data.min(), 0.0))
    positive = CsrRows(np.array([0, 1, 1]), np.array([1], dtype=np.int32), np.array([5.0]), (2, 2))
    assert (positive.max(), positive.min()) == (5.0, 0.0)


def test_a_wide_sparse_input_trains_without_a_dense_copy():
    # 200,000 inputs: a dense X (2000 rows) would take 1.6 GB, a dense batch 160 MB; the
    # sparse run holds the matrix, the model and its training buffers: with adam 13
    # parameter vectors (params, gradient, two moments, the C core's rollback copy of the
    # three, the Trainer's copies at the call's start and at the last chunk's start)
    n, n_in, per_row = 2000, 200_000, 10
    rng = np.random.default_rng(0)
    indices = np.sort(rng.choice(n_in, size=(n, per_row), replace=False, shuffle=False), axis=1)
    X = sp.csr_matrix((rng.normal(size=n * per_row).astype(np.float32), indices.ravel(),
                       np.arange(0, n * per_row + 1, per_row)), shape=(n, n_in))
    y = rng.normal(size=n)
    m = gf.MLP([n_in, 8, 1], seed=0, dtype="float32")
    model_bytes = m.params.nbytes
    tracemalloc.start()
    try:
        gf.train(m, X, y, epochs=1, batch_size=200, optimizer="adam", seed=0)
        m.predict(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    matrix_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    assert peak < matrix_bytes + 14 * model_bytes + 2_000_000
    assert np.isfinite(m.params).all()


def test_divergence_is_handled_as_for_dense_x():
    # a step size that overflows: the run's rollback, replay and choice of the best
    # candidate read the sparse rows as they read dense ones
    X, y = _data(n=300)
    X = X * 1e3
    out = []
    for data in (X.toarray(), X):
        m = gf.MLP([50, 16, 3], activation="relu", seed=0)
        with pytest.warns(Warning):
            r = gf.train(m, data, y, epochs=5, batch_size=32, lr=1e6, seed=1)
        out.append((r.stop_reason, r.restored, r.final_loss, m.params.copy()))
    assert out[0][0] == out[1][0] == "diverged"
    assert out[0][1] == out[1][1] and out[0][2] == out[1][2]
    assert np.array_equal(out[0][3], out[1][3])
