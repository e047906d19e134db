"""Sparse X (issue 22): a 100,000 x 50,000 CSR matrix with 0.1% non-zeros
(50 a row, float32), a regressor 50,000 -> 64 relu -> 1, plain minibatch SGD
(batch 200, lr 0.01, no momentum, no L2) for one epoch, shuffled: gradfit's
gf.train against scikit-learn's MLPRegressor with the same settings
(solver="sgd", momentum=0, alpha=0, max_iter=1). Neither makes X dense: a
dense copy would take 20 GB.

Each run is a fresh subprocess that loads the matrix from a file written
once, so that its memory figures are its own: the peak resident size of the
whole process after loading the data and after training (ru_maxrss), their
difference (what training added), and the peak of the Python and NumPy
allocations during the training call (tracemalloc). They are set against the
bound "sparse matrix + model": the CSR matrix's bytes (data, indices,
indptr) plus the parameter vector's, and the parameter vector's multiple
that training added (gradfit: params, gradient and the rollback copy in the
C core, the Trainer's copies at the call's start and at its last chunk).

    python benchmarks/sparse.py [--rows 100000] [--cols 50000] [--per-row 50] [--repeat 3]
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

HIDDEN, BATCH, LR, EPOCHS = 64, 200, 0.01, 1


def make_data(path, rows, cols, per_row):
    """The CSR matrix (sorted indices, no duplicates) and y = X w + noise, saved to path (.npz)."""
    rng = np.random.default_rng(0)
    indices = np.empty((rows, per_row), dtype=np.int32)
    step = 10_000
    for a in range(0, rows, step):          # per_row distinct columns a row: rows with a repeat are drawn again
        block = rng.integers(0, cols, size=(min(rows, a + step) - a, per_row), dtype=np.int32)
        block.sort(axis=1)
        bad = (np.diff(block, axis=1) == 0).any(axis=1)
        while bad.any():
            redo = rng.integers(0, cols, size=(int(bad.sum()), per_row), dtype=np.int32)
            redo.sort(axis=1)
            block[bad] = redo
            bad = (np.diff(block, axis=1) == 0).any(axis=1)
        indices[a:a + block.shape[0]] = block
    data = rng.normal(size=rows * per_row).astype(np.float32)
    indptr = np.arange(0, rows * per_row + 1, per_row, dtype=np.int32)
    w = rng.normal(size=cols).astype(np.float32) / np.sqrt(per_row)
    y = (data.reshape(rows, per_row) * w[indices]).sum(axis=1) + 0.1 * rng.normal(size=rows)
    np.savez(path, data=data, indices=indices.ravel(), indptr=indptr, y=y.astype(np.float32),
             shape=np.array([rows, cols]))


def _maxrss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024      # Linux: KiB


def child(path, which):
    """One timed run; prints a JSON line."""
    import scipy.sparse as sp
    f = np.load(path)
    X = sp.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"]))
    y = f["y"]
    if which == "gradfit":
        import gradfit as gf
        m = gf.MLP([X.shape[1], HIDDEN, 1], activation="relu", dtype="float32", seed=0)
        run = lambda: gf.train(m, X, y, lr=LR, batch_size=BATCH, epochs=EPOCHS, optimizer="sgd", seed=0)
        loss = lambda: float(m.loss(X, y))
        n_params = m.n_params
    else:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = MLPRegressor(hidden_layer_sizes=(HIDDEN,), activation="relu", solver="sgd", learning_rate_init=LR,
                         batch_size=BATCH, max_iter=EPOCHS, momentum=0.0, alpha=0.0, shuffle=True,
                         random_state=0)
        run = lambda: m.fit(X, y)
        loss = lambda: float(np.mean((m.predict(X) - y) ** 2))
        n_params = (X.shape[1] + 1) * HIDDEN + HIDDEN + 1
    rss0 = _maxrss()
    tracemalloc.start()
    t0 = time.perf_counter()
    run()
    seconds = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss1 = _maxrss()
    print(json.dumps({"seconds": seconds, "rss_data": rss0, "rss_after": rss1, "traced": traced,
                      "n_params": n_params, "dtype": str(X.dtype), "loss": loss(),
                      "matrix_bytes": X.data.nbytes + X.indices.nbytes + X.indptr.nbytes, "nnz": X.nnz}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--cols", type=int, default=50_000)
    p.add_argument("--per-row", type=int, default=50)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(*a.child)
        return
    from gradfit.bench.machine import cpu_model
    import gradfit as gf
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npz")
        make_data(path, a.rows, a.cols, a.per_row)
        print(f"CPU: {cpu_model()}, {os.cpu_count()} CPUs, gradfit SIMD path {gf.simd()}; "
              f"X {a.rows:,} x {a.cols:,} CSR float32, {a.per_row} non-zeros a row "
              f"({a.per_row / a.cols:.2%}); {a.cols:,} -> {HIDDEN} relu -> 1, sgd batch {BATCH} lr {LR}, "
              f"{EPOCHS} epoch; best of {a.repeat} runs (each a fresh process), interleaved")
        runs = {"gradfit": [], "sklearn": []}
        for _ in range(a.repeat):
            for which in runs:
                out = subprocess.run([sys.executable, __file__, "--child", path, which], check=True,
                                     capture_output=True, text=True).stdout
                runs[which].append(json.loads(out.strip().splitlines()[-1]))
                print(f"  {which}: {runs[which][-1]['seconds']:.2f} s", file=sys.stderr)
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
    mb = 1 << 20
    r0 = best["gradfit"]
    model = r0["n_params"] * 4
    print(f"sparse matrix {r0['matrix_bytes'] / mb:.1f} MiB ({r0['nnz']:,} non-zeros), model (P = "
          f"{r0['n_params']:,} float32 parameters) {model / mb:.1f} MiB: bound {(r0['matrix_bytes'] + model) / mb:.1f} MiB\n")
    print("| run | wall time (s) | samples/s | final MSE | peak RSS after loading X (MiB) | "
          "RSS added by training (MiB) | traced peak in fit (MiB) | traced peak / P bytes |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in best.items():
        print(f"| {name} | {r['seconds']:.2f} | {a.rows * EPOCHS / r['seconds']:,.0f} | {r['loss']:.4f} | "
              f"{r['rss_data'] / mb:.0f} | {(r['rss_after'] - r['rss_data']) / mb:.0f} | {r['traced'] / mb:.1f} | "
              f"{r['traced'] / model:.1f} |")
    ratio = best["sklearn"]["seconds"] / best["gradfit"]["seconds"]
    print(f"\ngradfit / MLPRegressor speed: {ratio:.1f}x")


if __name__ == "__main__":
    main()
