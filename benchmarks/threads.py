"""Separate models trained in Python threads run in parallel (the C core
releases the GIL): the same total work in 1 thread and in 4 threads, whole
wall time, median of several runs.

    python benchmarks/threads.py [--repeat 3]
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


def job(X, y, seed):
    m = gf.MLP([8, 64, 64, 1], activation="tanh", seed=seed)
    gf.train(m, X, y, lr=0.01, batch_size=32, epochs=2, seed=seed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args()
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
