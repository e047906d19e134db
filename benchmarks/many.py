"""Many models at once with gf.train_many.

1. threads: a grid of 1-2-1 and 1-16-1 jobs with train_many(n_jobs=1) and
   (n_jobs=2), interleaved, median of several runs; the results of both are
   checked to be bit-identical to sequential gf.train calls.
2. workers: the same grid's throughput against the number of workers, with
   threads, a ProcessPoolExecutor and a Dask LocalCluster (worker processes,
   one thread each; start-up not counted).
3. 1,000 models (1-8-1 tanh, 1,000 samples each, SGD, batch 32, lr 0.01,
   5 epochs, float64): train_many against a PyTorch loop (one thread) and
   scikit-learn's MLPRegressor (solver="sgd", same epochs / batch / lr, no
   momentum) under joblib with 2 processes.

The machine is shared: each section prints the load average and the CPU
time the process used, so a poor ratio can be told apart from a busy machine.

    python benchmarks/many.py [--quick] [--repeat 7] [--sections 1,2,3]
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import gradfit as gf  # noqa: E402


def load():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def cpu():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def grid_data(n):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(n, 1))
    return X, np.exp(-((X[:, 0] - 0.5) / 0.15) ** 2)


def grid_jobs(X, y, n_seeds, epochs):
    """1-2-1 softplus and 1-16-1 tanh nets, three learning rates, n_seeds seeds."""
    jobs = []
    for hidden, act in ((2, "softplus"), (16, "tanh")):
        for lr in (0.01, 0.05, 0.1):
            for seed in range(n_seeds):
                jobs.append({"model": gf.MLP([1, hidden, 1], activation=act, seed=seed), "X": X, "y": y,
                             "lr": lr, "batch_size": 32, "epochs": epochs, "seed": seed})
    return jobs


def ceiling(n_threads, seconds_of_work=0.05):
    """Wall time of a fixed amount of GIL-free work (hashlib over a buffer,
    which releases the GIL) split over n_threads: what the machine gives
    threads right now, whatever gradfit does."""
    import hashlib
    import threading
    data = _CEILING_DATA
    chunks = 8

    def work(k):
        for _ in range(k):
            hashlib.sha256(data).digest()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(chunks // n_threads,)) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


_CEILING_DATA = b"\x5a" * (8 << 20)


def forked(n_procs, jobs_fn):
    """Wall time of the same jobs split over n_procs forked processes (no
    shared GIL), each running its share with gf.train one after the other:
    the throughput this machine gives this very workload without the GIL.
    None where fork is not available."""
    import multiprocessing
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:
        return None
    jobs = jobs_fn()

    def run(share):
        for job in share:
            opts = {k: v for k, v in job.items() if k not in ("model", "X", "y")}
            gf.train(job["model"], job["X"], job["y"], **opts)

    t0 = time.perf_counter()
    procs = [ctx.Process(target=run, args=(jobs[i::n_procs],)) for i in range(n_procs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return time.perf_counter() - t0


def timed(fn):
    c0, t0 = cpu(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, cpu() - c0, out


# -- 1. threads ----------------------------------------------------------------------

def section_threads(args):
    n, epochs, seeds = (1000, 10, 4) if args.quick else (2000, 20, 8)
    X, y = grid_data(n)
    reference = grid_jobs(X, y, seeds, epochs)
    for job in reference:
        opts = {k: v for k, v in job.items() if k not in ("model", "X", "y")}
        gf.train(job["model"], X, y, **opts)
    print(f"1. threads: {len(reference)} jobs (1-2-1 softplus and 1-16-1 tanh, {n} samples, batch 32, "
          f"{epochs} epochs, 3 lr x {seeds} seeds); {load()}")
    times = {1: [], 2: []}
    cpus = {1: [], 2: []}
    free = {1: [], 2: []}
    procs: dict[int, list[float]] = {1: [], 2: []}
    gf.train_many(grid_jobs(X, y, 1, 1), n_jobs=2)         # warm-up
    for _ in range(args.repeat):
        for n_jobs in (1, 2):
            free[n_jobs].append(ceiling(n_jobs))
            fork_time = forked(n_jobs, lambda: grid_jobs(X, y, seeds, epochs))
            if fork_time is not None:
                procs[n_jobs].append(fork_time)
            jobs = grid_jobs(X, y, seeds, epochs)
            wall, used, results = timed(lambda: gf.train_many(jobs, n_jobs=n_jobs))
            for job, ref in zip(jobs, reference):
                if not np.array_equal(job["model"].params, ref["model"].params):
                    raise AssertionError("train_many gave other parameters than sequential gf.train")
            times[n_jobs].append(wall)
            cpus[n_jobs].append(used)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    jobs_n = len(reference)
    print(f"   n_jobs=1: {one:.3f} s ({jobs_n / one:.0f} jobs/s, CPU {statistics.median(cpus[1]) / one:.2f} cores)")
    print(f"   n_jobs=2: {two:.3f} s ({jobs_n / two:.0f} jobs/s, CPU {statistics.median(cpus[2]) / two:.2f} cores)")
    print(f"   2 threads / 1 thread: {one / two:.2f}x throughput (median of {args.repeat}; best runs "
          f"{min(times[1]) / min(times[2]):.2f}x); results bit-identical to sequential gf.train")
    print(f"   the machine's ceiling meanwhile: GIL-free work (hashlib) in 2 threads / 1 thread: "
          f"{statistics.median(free[1]) / statistics.median(free[2]):.2f}x; {load()}")
    if procs[1]:
        p1, p2 = statistics.median(procs[1]), statistics.median(procs[2])
        print(f"   the same jobs in 2 forked processes / 1 (no GIL at all): {p1 / p2:.2f}x; threads reach "
              f"{(one / two) / (p1 / p2):.0%} of that")


# -- 2. workers -------------------------------------------------------------------------

def section_workers(args):
    sizes = [(1000, 10)] if args.quick else [(2000, 20), (20000, 10)]
    seeds = 4
    for n, epochs in sizes:
        X, y = grid_data(n)
        jobs_n = len(grid_jobs(X, y, seeds, epochs))
        print(f"2. workers: {jobs_n} jobs of {n} samples x {epochs} epochs, jobs/s by number of workers "
              f"(median of {args.repeat}); {load()}")
        workers_table(args, X, y, seeds, epochs, jobs_n)


def workers_table(args, X, y, seeds, epochs, jobs_n):
    counts = (1, 2, 4)

    def measure(label, run):
        row = []
        for k in counts:
            run(k, 1)                                     # warm-up (and process start-up)
            walls = [timed(lambda: run(k, seeds))[0] for _ in range(args.repeat)]
            row.append(jobs_n / statistics.median(walls))
        cells = "  ".join(f"{k}: {r:6.0f}" for k, r in zip(counts, row))
        print(f"   {label:<22} {cells}   ({row[1] / row[0]:.2f}x at 2)")

    measure("threads (n_jobs)", lambda k, s: gf.train_many(grid_jobs(X, y, s, epochs), n_jobs=k))
    pools = {}
    try:
        for k in counts:
            pools[k] = concurrent.futures.ProcessPoolExecutor(k)
        measure("ProcessPoolExecutor", lambda k, s: gf.train_many(grid_jobs(X, y, s, epochs), executor=pools[k]))
    finally:
        for p in pools.values():
            p.shutdown()
    try:
        import logging

        import distributed
        logging.getLogger("distributed").setLevel(logging.ERROR)
    except ImportError:
        print("   Dask: not installed (pip install 'gradfit[dask]')")
        return
    clusters = {}
    try:
        for k in counts:
            cluster = distributed.LocalCluster(n_workers=k, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=logging.ERROR)
            clusters[k] = (cluster, distributed.Client(cluster))
        measure("Dask LocalCluster", lambda k, s: gf.train_many(grid_jobs(X, y, s, epochs),
                                                                executor=clusters[k][1]))
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    print(f"   {load()}")


# -- 3. 1,000 models ----------------------------------------------------------------------

def models_data(n_models, n):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(n_models, n, 1))
    freq = rng.uniform(0.5, 2.0, size=(n_models, 1))
    y = np.sin(np.pi * freq * X[:, :, 0]) + 0.05 * rng.normal(size=(n_models, n))
    return X, y


EPOCHS, BATCH, LR = 5, 32, 0.01


def gradfit_models(X, y, n_jobs):
    jobs = [{"model": gf.MLP([1, 8, 1], activation="tanh", seed=i), "X": X[i], "y": y[i], "lr": LR,
             "batch_size": BATCH, "epochs": EPOCHS, "seed": i} for i in range(len(X))]
    results = gf.train_many(jobs, n_jobs=n_jobs)
    return float(np.mean([r.final_loss for r in results]))


def torch_models(X, y):
    import torch
    torch.set_num_threads(1)
    losses = []
    for i in range(len(X)):
        torch.manual_seed(i)
        net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
        opt = torch.optim.SGD(net.parameters(), lr=LR)
        xt, yt = torch.from_numpy(X[i]), torch.from_numpy(y[i]).reshape(-1, 1)
        g = torch.Generator().manual_seed(i)
        n = xt.shape[0]
        for _ in range(EPOCHS):
            perm = torch.randperm(n, generator=g)
            for s in range(0, n, BATCH):
                idx = perm[s:s + BATCH]
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(net(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
        with torch.no_grad():
            losses.append(float(torch.nn.functional.mse_loss(net(xt), yt)))
    return float(np.mean(losses))


def _sklearn_one(X, y, seed):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor
    # squared_error / 2 is sklearn's loss: its gradient is half of MSE's, so lr 2 * LR takes the same steps
    est = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", solver="sgd", learning_rate_init=2 * LR, batch_size=BATCH,
                       max_iter=EPOCHS, momentum=0.0, nesterovs_momentum=False, alpha=0.0, tol=0.0,
                       n_iter_no_change=EPOCHS + 1, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return float(np.mean((est.predict(X) - y) ** 2))


def sklearn_models(X, y, n_jobs):
    import joblib
    losses = joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(_sklearn_one)(X[i], y[i], i) for i in range(len(X)))
    return float(np.mean(losses))


def section_models(args):
    n_models = 100 if args.quick else 1000
    X, y = models_data(n_models, 1000)
    print(f"3. {n_models} models: 1-8-1 tanh, 1,000 samples each, SGD batch {BATCH}, lr {LR}, {EPOCHS} epochs, "
          f"float64; {load()}")
    rows = {}
    gradfit_models(X[:4], y[:4], 2)
    for n_jobs in (1, 2):
        walls = []
        for _ in range(max(1, args.repeat // 2)):
            wall, used, loss = timed(lambda: gradfit_models(X, y, n_jobs))
            walls.append(wall)
        rows[f"gradfit train_many n_jobs={n_jobs}"] = (statistics.median(walls), loss)
    try:
        import torch  # noqa: F401
        torch_models(X[:2], y[:2])
        wall, used, loss = timed(lambda: torch_models(X, y))
        rows["PyTorch loop, 1 thread"] = (wall, loss)
    except ImportError:
        print("   PyTorch: not installed (pip install torch==2.13.0)")
    try:
        import sklearn  # noqa: F401
        sklearn_models(X[:2], y[:2], 2)
        wall, used, loss = timed(lambda: sklearn_models(X, y, 2))
        rows["sklearn MLPRegressor, joblib n_jobs=2"] = (wall, loss)
    except ImportError:
        print("   scikit-learn: not installed")
    for name, (wall, loss) in rows.items():
        print(f"   {name:<38} {wall:8.2f} s  {n_models / wall:8.0f} models/s  mean final mse {loss:.4f}")
    g1 = rows["gradfit train_many n_jobs=1"][0]
    g2 = rows["gradfit train_many n_jobs=2"][0]
    if "PyTorch loop, 1 thread" in rows:
        t = rows["PyTorch loop, 1 thread"][0]
        print(f"   gradfit / PyTorch loop: {t / g1:.0f}x (1 thread each), {t / g2:.0f}x (gradfit n_jobs=2)")
    if "sklearn MLPRegressor, joblib n_jobs=2" in rows:
        s = rows["sklearn MLPRegressor, joblib n_jobs=2"][0]
        print(f"   gradfit / sklearn under joblib: {s / g2:.0f}x (2 workers each)")
    print(f"   {load()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a few seconds each section)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per measurement (median)")
    parser.add_argument("--sections", default="1,2,3", help="which sections to run, e.g. 1,3")
    args = parser.parse_args()
    if args.repeat is None:
        args.repeat = 3 if args.quick else 7
    from gradfit.bench.machine import describe
    print("\n".join(describe()))
    sections = {"1": section_threads, "2": section_workers, "3": section_models}
    for s in args.sections.split(","):
        sections[s.strip()](args)


if __name__ == "__main__":
    main()
