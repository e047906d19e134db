"""gf.train_many on a Dask distributed cluster: a LocalCluster of 2 worker
processes (1 thread each) trains a grid and gives bit for bit the results of
local training, with data in memory, by path and as Dask arrays; errors stay
with their job. Skipped without dask[distributed] (pip install "gradfit[dask]")."""
import numpy as np
import pytest

import gradfit as gf

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def data(n=400):
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(n, 1))
    return X, np.sin(3 * X[:, 0])


def grid(X, y, dtype="float64"):
    jobs = []
    for hidden in (2, 16):
        for k, lr in enumerate((0.02, 0.1)):
            jobs.append({"model": gf.MLP([1, hidden, 1], activation="tanh", seed=k, dtype=dtype), "X": X, "y": y,
                         "lr": lr, "epochs": 5, "batch_size": 16, "seed": 3 * hidden + k})
    return jobs


def local(jobs):
    out = []
    for job in jobs:
        job = dict(job)
        model = job.pop("model").copy()
        X, y = job.pop("X"), job.pop("y")
        out.append((model, gf.train(model, X, y, **job)))
    return out


def check(jobs, results, expected):
    for job, r, (model, e) in zip(jobs, results, expected, strict=True):
        assert isinstance(r, gf.TrainResult), r
        np.testing.assert_array_equal(job["model"].params, model.params)       # bit for bit
        assert r.history == e.history and r.final_loss == e.final_loss and r.steps == e.steps


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_grid_on_a_local_cluster_equals_local_training(client, dtype):
    X, y = data()
    jobs = grid(X, y, dtype)
    expected = local(jobs)
    models = [job["model"] for job in jobs]
    results = gf.train_many(jobs, executor=client, progress=True)
    check(jobs, results, expected)
    assert [job["model"] for job in jobs] == models                # the caller's objects, updated in place


def test_shared_arrays_are_scattered_once(client, monkeypatch):
    X, y = data()
    calls = []
    real = client.scatter

    def spy(data, **kwargs):
        calls.append(len(data))
        return real(data, **kwargs)

    monkeypatch.setattr(client, "scatter", spy)
    jobs = grid(X, y)
    expected = local(jobs)
    check(jobs, gf.train_many(jobs, executor=client), expected)
    assert calls == [2]                           # one call, X and y: not one copy per job


def test_data_by_path_and_dask_arrays(client, tmp_path):
    X, y = data(n=600)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    by_path = grid(str(tmp_path / "X.npy"), str(tmp_path / "y.npy"))
    for k, job in enumerate(by_path):               # each job reads its own rows of the file
        job["rows"] = (150 * k, 150 * (k + 1))
    expected = local([{**{key: v for key, v in job.items() if key != "rows"},
                       "X": X[150 * k:150 * (k + 1)], "y": y[150 * k:150 * (k + 1)]}
                      for k, job in enumerate(by_path)])
    check(by_path, gf.train_many(by_path, executor=client), expected)

    dX, dy = da.from_array(X, chunks=(100, 1)), da.from_array(y, chunks=100)
    jobs = grid(dX, dy)
    expected = local(grid(X, y))
    check(jobs, gf.train_many(jobs, executor=client), expected)


def test_errors_stay_with_their_job(client, tmp_path):
    X, y = data()
    jobs = grid(X, y)
    jobs[1]["lr"] = -0.5
    jobs[2]["X"] = str(tmp_path / "missing.npy")
    before = [job["model"].params.copy() for job in jobs]
    expected = local([jobs[0], jobs[3]])
    results = gf.train_many(jobs, executor=client)
    assert isinstance(results[1], ValueError) and str(results[1]) == "lr: expected a positive finite number, got -0.5"
    assert isinstance(results[2], FileNotFoundError) and "missing.npy" in str(results[2])
    np.testing.assert_array_equal(jobs[1]["model"].params, before[1])
    np.testing.assert_array_equal(jobs[2]["model"].params, before[2])
    check([jobs[0], jobs[3]], [results[0], results[3]], expected)


def test_the_client_executor_works_as_a_plain_executor(client):
    X, y = data()
    jobs = grid(X, y)[:2]
    expected = local(jobs)
    check(jobs, gf.train_many(jobs, executor=client.get_executor()), expected)


def average_rounds(model, parts, rounds, executor=None, n_jobs=1, **options):
    """docs/scaling.md's recipe: model averaging over data partitions. Each
    round trains a copy of the model on every partition (one epoch, where the
    data is), then the model becomes the row-weighted mean of the copies."""
    rows = np.array([float(len(y)) for _, y in parts]) if executor is None else np.array(
        [float(n) for n in executor.gather([executor.submit(len, y) for _, y in parts])])
    for r in range(rounds):
        jobs = [{"model": model.copy(), "X": X, "y": y, "epochs": 1, "seed": 1000 * r + k, **options}
                for k, (X, y) in enumerate(parts)]
        gf.train_many(jobs, executor=executor, n_jobs=n_jobs, errors="raise")
        model.params = np.average([job["model"].params for job in jobs], axis=0, weights=rows)
    return model


def test_model_averaging_over_dask_partitions_equals_local_and_learns(client):
    X, y = data(n=3000)
    dX, dy = da.from_array(X, chunks=(1000, 1)), da.from_array(y, chunks=1000)
    # the partitions stay on the cluster: one Future per block
    parts = [(client.compute(dX.blocks[k]), client.compute(dy.blocks[k])) for k in range(dX.numblocks[0])]
    start = gf.MLP([1, 16, 1], activation="tanh", seed=0)
    before = start.loss(X, y)
    on_cluster = average_rounds(start.copy(), parts, rounds=6, executor=client, lr=0.05, batch_size=16)
    local_parts = [(X[k * 1000:(k + 1) * 1000], y[k * 1000:(k + 1) * 1000]) for k in range(3)]
    here = average_rounds(start.copy(), local_parts, rounds=6, n_jobs=2, lr=0.05, batch_size=16)
    np.testing.assert_array_equal(on_cluster.params, here.params)
    assert on_cluster.loss(X, y) < 0.5 * before


def test_dask_arrays_in_threads_are_computed_once():
    X, y = data()
    computed = []

    class Counting(da.Array):       # a Dask array that counts its computations
        def compute(self, **kwargs):
            computed.append(1)
            return super().compute(**kwargs)

    dX = da.from_array(X, chunks=(100, 1))
    dX = Counting(dX.dask, dX.name, dX.chunks, meta=dX._meta)
    jobs = grid(dX, y)
    expected = local(grid(X, y))
    check(jobs, gf.train_many(jobs, n_jobs=2), expected)
    assert len(computed) == 1
