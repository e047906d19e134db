"""Separate models trained in Python threads run in parallel (the C core
releases the GIL): the same total work in 1 thread and in 4 threads, whole
wall time, median of several runs. With --w5: one W5 training (gradfit.bench's:
256 -> 512 relu -> 512 relu -> 1, float32, batch 256, 40,000 rows, one epoch) with
n_threads=1 and n_threads=N interleaved, the median speed-up and the
machine's load average before and after (the 2nd CPU of a shared VM is
noisy: read the figure with the load).

    python benchmarks/threads.py [--repeat 3]
    python benchmarks/threads.py --w5 [--n-threads 2] [--repeat 7]
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import gradfit as gf  # noqa: E402
from gradfit.bench.machine import describe  # noqa: E402
from gradfit.bench.runners import new_gradfit_model  # noqa: E402
from gradfit.bench.workloads import BY_ID  # noqa: E402


def job(X, y, seed):
    m = gf.MLP([8, 64, 64, 1], activation="tanh", seed=seed)
    gf.train(m, X, y, lr=0.01, batch_size=32, epochs=2, seed=seed)


def w5(n_threads, repeat):
    """n_threads=1 and n_threads=n_threads runs of W5 in turn; prints the
    medians and the median of the per-pair speed-ups."""
    wl = BY_ID["W5"]                        # gradfit.bench's W5: data, model and settings
    N = wl.n
    X, y = wl.data(N)

    def run(nt):
        m = new_gradfit_model(wl)
        start = time.perf_counter()
        gf.train(m, X, y, lr=wl.lr, batch_size=wl.batch_size, epochs=wl.epochs, seed=0, n_threads=nt)
        return time.perf_counter() - start

    run(1), run(n_threads)                  # warm-up: workers started, pages touched
    load0 = os.getloadavg()
    one, many = [], []
    for _ in range(repeat):
        one.append(run(1))
        many.append(run(n_threads))
    load1 = os.getloadavg()
    t1, tn = statistics.median(one), statistics.median(many)
    pairs = sorted(a / b for a, b in zip(one, many))
    print(f"W5: 1 thread {N / t1:,.0f} samples/s, {n_threads} threads {N / tn:,.0f} samples/s: "
          f"{t1 / tn:.2f}x (median of {repeat}, interleaved; per pair {pairs[0]:.2f}-{pairs[-1]:.2f}x) "
          f"on {os.cpu_count()} CPUs, load average {load0[0]:.2f} before, {load1[0]:.2f} after")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--w5", action="store_true", help="W5 with n_threads=1 vs --n-threads")
    parser.add_argument("--n-threads", type=int, default=2)
    args = parser.parse_args()
    print("\n".join(describe()))
    if args.w5:
        w5(args.n_threads, max(args.repeat, 1))
        return
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 8))
    y = np.tanh(X[:, :4]).sum(axis=1)
    times = {1: [], 4: []}
    for _ in range(args.repeat):
        for n_threads in (1, 4):
            start = time.perf_counter()
            if n_threads == 1:
                for i in range(args.jobs):
                    job(X, y, i)
            else:
                threads = []
                for t in range(n_threads):
                    seeds = range(t, args.jobs, n_threads)
                    threads.append(threading.Thread(target=lambda s=seeds: [job(X, y, i) for i in s]))
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
            times[n_threads].append(time.perf_counter() - start)
    one, four = statistics.median(times[1]), statistics.median(times[4])
    print(f"{args.jobs} trainings: 1 thread {one:.2f} s, 4 threads {four:.2f} s: {one / four:.2f}x "
          f"on {os.cpu_count()} CPUs (median of {args.repeat})")


if __name__ == "__main__":
    main()
