"""What progress=True costs: W2 and W3 trained with and without the progress
bar, interleaved, whole gf.train() call timed, median of several runs.

    python benchmarks/progress_cost.py [--repeat 5]

Prints one line per workload: samples/s without and with the bar, and the
relative cost. tqdm must be installed (pip install tqdm); the bar writes to
a null stream so that the terminal does not count.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import gradfit as gf  # noqa: E402

from gradfit.bench.workloads import WORKLOADS  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workloads", default="W2,W3")
    args = parser.parse_args()
    null = open(os.devnull, "w")
    for wl in [w for w in WORKLOADS if w.id in args.workloads.split(",")]:
        X, y = wl.make_data(np.random.default_rng(0), wl.n)
        X, y = X.astype(wl.dtype), y.astype(wl.dtype)
        times = {False: [], True: []}
        for k in range(args.repeat + 1):
            for progress in (False, True):
                m = gf.MLP(list(wl.layer_sizes), activation=wl.activation, dtype=wl.dtype, seed=0)
                callbacks = [gf.callbacks.ProgressBar(file=null)] if progress else None
                start = time.perf_counter()
                gf.train(m, X, y, lr=wl.lr, batch_size=wl.batch_size, epochs=wl.epochs, seed=0,
                         callbacks=callbacks)
                if k:                                   # the first round is a warm-up
                    times[progress].append(time.perf_counter() - start)
        plain, bar = statistics.median(times[False]), statistics.median(times[True])
        rate = wl.n * wl.epochs
        print(f"{wl.id}: {rate / plain:,.0f} samples/s without, {rate / bar:,.0f} with the progress bar: "
              f"cost {100 * (bar / plain - 1):+.1f}% (median of {args.repeat})")


if __name__ == "__main__":
    main()
