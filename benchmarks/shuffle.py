"""The epoch shuffle: gradfit's C shuffle (gradfit._core.shuffle_i64) against
NumPy's Generator.shuffle and Generator.permutation, which it equals bit for bit.

    PYTHONPATH=src python benchmarks/shuffle.py                 # N = 1e4 .. 1e7
    PYTHONPATH=src python benchmarks/shuffle.py --sizes 1000000 --runs 41

Prints the median time per 10^6 elements (ms) of each over many runs, in
interleaved order (the three methods take turns, so a busy machine slows them
alike). "shuffle" is NumPy's in-place shuffle of a buffer already holding
0..N-1 plus the copy that refills it (what training did before); "gradfit"
fills and shuffles in C; "permutation" allocates a fresh array each time.
"""
import argparse
import statistics
import time

import numpy as np

from gradfit import _core


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000,10000000")
    ap.add_argument("--runs", type=int, default=0, help="timed runs per size (default: ~1e8 elements' worth, 5..201)")
    ap.add_argument("--bit-generator", default="PCG64")
    args = ap.parse_args()
    bg_class = getattr(np.random, args.bit_generator)
    print(f"bit generator {args.bit_generator}; median ms per 10^6 elements (min..max over runs in brackets)")
    print(f"{'N':>10} {'runs':>5} {'numpy shuffle':>22} {'numpy permutation':>22} {'gradfit':>22} {'speedup':>8}")
    for N in (int(s) for s in args.sizes.split(",")):
        runs = args.runs or max(5, min(201, 10**8 // N))
        rng = np.random.Generator(bg_class(0))
        identity = np.arange(N, dtype=np.int64)
        buf = np.empty(N, dtype=np.int64)

        def numpy_shuffle():
            np.copyto(buf, identity)
            rng.shuffle(buf)

        def numpy_permutation():
            rng.permutation(N)

        def gradfit_shuffle():
            _core.shuffle_i64(rng.bit_generator, buf, True)

        fns = {"shuffle": numpy_shuffle, "permutation": numpy_permutation, "gradfit": gradfit_shuffle}
        times = {k: [] for k in fns}
        for f in fns.values():     # warm-up
            f()
        for _ in range(runs):
            for k, f in fns.items():
                t0 = time.perf_counter()
                f()
                times[k].append((time.perf_counter() - t0) * 1e9 / N)   # ns per element = ms per 1e6
        med = {k: statistics.median(v) for k, v in times.items()}
        cell = {k: f"{med[k]:6.2f} [{min(times[k]):5.2f}..{max(times[k]):6.2f}]" for k in fns}
        print(f"{N:>10} {runs:>5} {cell['shuffle']:>22} {cell['permutation']:>22} {cell['gradfit']:>22} "
              f"{med['shuffle'] / med['gradfit']:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
