"""The epoch shuffle: gradfit's epoch order (Sanders' bucketed shuffle,
gradfit.shuffling) against NumPy's permutation, with and without moving the rows.

    PYTHONPATH=src python benchmarks/shuffle.py                 # N = 1e4 .. 1e7
    PYTHONPATH=src python benchmarks/shuffle.py --sizes 1000000 --runs 41
    PYTHONPATH=src python benchmarks/shuffle.py --clock thread     # CPU time of this thread

Prints the median time per row (ns; = ms per 10^6 rows) of each method over
many runs, in interleaved order (the methods take turns, so a busy machine
slows them alike), for rows of W1's shape: x and y, one float64 each
(--width changes the width of x, --dtype both arrays' dtype, --weights adds
a third array of one value a row, as sample weights). The methods:

  permutation+gather   rng.permutation(N), then X[p], y[p] (a NumPy loop's epoch)
  order                gradfit.shuffling's epoch order only (index mode)
  order+move           the same order with X and y moved into reused
                       buffers in the same pass, the order written too
  move                 the same draws and moved rows, no order written
                       (copy mode: what training does when the data is
                       >= 1 MiB and a row is one value, as in W1 and W2)
  copy                 a sequential copy of X and y (the floor)

The last column, speedup, is permutation+gather / move: a NumPy loop's
epoch order and gathers over training's data path per epoch in copy mode.

--clock thread times each call by this thread's CPU time (time.thread_time;
every method runs in the calling thread, the GIL released or not) instead of
wall time: on a machine shared with other jobs it leaves out the time the
thread waits for a core, which makes the medians much steadier (cache
sharing with the other jobs still shows).
"""
import argparse
import os
import statistics
import time

import numpy as np

from gradfit import shuffling


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000,10000000")
    ap.add_argument("--runs", type=int, default=0, help="timed runs per size (default: ~1e8 rows' worth, 5..201)")
    ap.add_argument("--width", type=int, default=1, help="columns of X")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="dtype of X and y")
    ap.add_argument("--weights", action="store_true", help="move a third array (sample weights) too")
    ap.add_argument("--bit-generator", default="PCG64")
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall",
                    help="wall: time.perf_counter (default); thread: this thread's CPU time")
    args = ap.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    bg_class = getattr(np.random, args.bit_generator)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"bit generator {args.bit_generator}; X {args.width} {args.dtype} column(s), y 1"
          f"{', weights 1' if args.weights else ''}; load average {load:.2f}; "
          f"{args.clock} clock; "
          f"median ns per row (min..max over runs in brackets)")
    names = ["permutation+gather", "order", "order+move", "move", "copy"]
    print(f"{'N':>10} {'runs':>5} {'k':>6} " + " ".join(f"{n:>22}" for n in names) + f" {'speedup':>8}")
    for N in (int(s) for s in args.sizes.split(",")):
        runs = args.runs or max(5, min(201, 10**8 // N))
        rng = np.random.Generator(bg_class(0))
        data = np.random.default_rng(1)
        arrays = [data.random((N, args.width)), data.random((N, 1))] + ([data.random(N)] if args.weights else [])
        arrays = [a.astype(args.dtype) for a in arrays]
        pairs = tuple((a, np.empty_like(a)) for a in arrays)
        order = np.empty(N, dtype=np.int64)
        ids = np.empty(N, dtype=np.uint16)

        def permutation_gather():
            p = rng.permutation(N)
            for a in arrays:
                a[p]

        def order_only():
            shuffling.draw(rng, order, ids)

        def order_move():
            shuffling.draw(rng, order, ids, pairs)

        def move():
            shuffling.draw(rng, None, ids, pairs)

        def copy():
            for a, b in pairs:
                np.copyto(b, a)

        fns = dict(zip(names, [permutation_gather, order_only, order_move, move, copy]))
        times = {k: [] for k in fns}
        for f in fns.values():     # warm-up
            f()
        for _ in range(runs):
            for k, f in fns.items():
                t0 = clock()
                f()
                times[k].append((clock() - t0) * 1e9 / N)
        med = {k: statistics.median(v) for k, v in times.items()}
        cell = {k: f"{med[k]:6.2f} [{min(times[k]):5.2f}..{max(times[k]):6.2f}]" for k in fns}
        print(f"{N:>10} {runs:>5} {shuffling.n_buckets(N):>6} " + " ".join(f"{cell[k]:>22}" for k in names)
              + f" {med['permutation+gather'] / med['move']:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
