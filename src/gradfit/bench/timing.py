"""The timing protocol: one warm-up run per column, then rounds that time
every column once each (interleaved, so that a slow spell of the machine hits
all of them); the figure is samples/s of the whole training call, the median
over the rounds, with the spread (max - min) / median beside it. A column
whose one call is shorter than TARGET_RUN_SECONDS (the C core on W1, W2) is
timed over a few consecutive whole calls per round, as timeit does. A ratio
whose timed runs are shorter than MIN_JUDGE_SECONDS is not printed: such a
run is too short to judge (fixed costs and timer noise dominate)."""
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from .runners import BASELINE

WARMUP_FRACTION = 10       # the warm-up run uses N // WARMUP_FRACTION rows, 1 epoch
MIN_WARMUP_BATCHES = 4     # ... but at least this many batches
#: a column whose median run is shorter than this has no ratio in the table
MIN_JUDGE_SECONDS = 0.01
#: a timed run repeats the whole call until it lasts about this long ...
TARGET_RUN_SECONDS = 0.05
#: ... but makes at most this many calls
MAX_CALLS = 20
TOO_SHORT = "too short to judge"

FLOP_WORKLOADS = ("W3", "W4", "W5")    # arithmetic-bound enough for GFLOP/s to mean something
#: columns that start from their own random weights: their final loss is not compared
OWN_START = ("sklearn",)


@dataclasses.dataclass
class Row:
    workload: str
    backend: str
    samples_per_second: float = float("nan")     # median over the timed runs
    spread: float = float("nan")                 # (max - min) / median of samples/s
    final_loss: float = float("nan")
    ratio: float = float("nan")                  # samples/s / numpy baseline samples/s
    loss_rel_diff: float = float("nan")          # |loss - numpy loss| / |numpy loss|
    runs: int = 0
    status: str = ""                             # "" = measured, else why not
    gflops: float = float("nan")                 # achieved GFLOP/s (FLOP_WORKLOADS only)
    peak_share: float = float("nan")             # gflops / the measured 1-core peak of the dtype
    seconds: float = float("nan")                # median seconds of one timed run
    calls: int = 1                               # whole training calls per timed run
    judged: bool = False                         # the ratio is long enough to judge

    @property
    def measured(self):
        return not self.status.startswith(("error", "skipped"))


def warm_up(wl, runner, X, y, max_calls=MAX_CALLS):
    """One short run (not recorded): pages in code and data, loads BLAS
    kernels. Returns how many whole calls a timed run makes: enough for about
    TARGET_RUN_SECONDS by the warm-up's pace, 1 to max_calls."""
    n = X.shape[0]
    n_warm = min(n, max(n // WARMUP_FRACTION, MIN_WARMUP_BATCHES * wl.batch_size))
    r = runner(wl, X[:n_warm], y[:n_warm], 1)
    estimate = r.seconds * n * wl.epochs / n_warm
    if estimate <= 0 or not math.isfinite(estimate):
        return max_calls
    return max(1, min(max_calls, math.ceil(TARGET_RUN_SECONDS / estimate)))


def timed_run(wl, runner, X, y, calls):
    """`calls` consecutive whole training calls: one RunResult with their
    total seconds and the first call's final loss and problem."""
    results = [runner(wl, X, y, wl.epochs) for _ in range(calls)]
    first = results[0]
    return dataclasses.replace(first, seconds=sum(r.seconds for r in results))


def summarize(wl, backend, results, repeats, calls=1):
    n = results[0][1]
    rates = [calls * n * wl.epochs / r.seconds if r.seconds > 0 else float("inf") for r, _ in results]
    losses = [r.final_loss for r, _ in results]
    problems = [r.problem for r, _ in results if r.problem]
    med = statistics.median(rates)
    row = Row(wl.id, backend, med, (max(rates) - min(rates)) / med, losses[0], runs=repeats,
              seconds=statistics.median(r.seconds for r, _ in results), calls=calls)
    if problems:
        row.status = problems[0]
    elif len(set(losses)) > 1 and backend not in ("torch", "sklearn"):
        row.status = "final loss varies between runs: " + ", ".join(f"{v:.10g}" for v in losses)
    return row


def _failed(wl, backend, exc, progress):
    if isinstance(exc, NotImplementedError):
        row = Row(wl.id, backend, status=f"skipped: {exc}")
    else:
        row = Row(wl.id, backend, status=f"error: {type(exc).__name__}: {exc}")
    progress(f"  {wl.id} {backend}: {row.status}")
    return row


def measure_workload(wl, runners, X, y, repeats, progress, max_calls=MAX_CALLS):
    """Warm-up of every runner, then `repeats` rounds, each timing every runner once."""
    n = X.shape[0]
    rows, results, live, calls = {}, {b: [] for b in runners}, dict(runners), {}
    for backend, runner in runners.items():
        progress(f"  {wl.id} {backend}: warm-up")
        try:
            calls[backend] = warm_up(wl, runner, X, y, max_calls)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other columns
            rows[backend] = _failed(wl, backend, exc, progress)
            del live[backend]
    for k in range(repeats):
        for backend, runner in list(live.items()):
            try:
                r = timed_run(wl, runner, X, y, calls[backend])
            except Exception as exc:  # noqa: BLE001
                rows[backend] = _failed(wl, backend, exc, progress)
                del live[backend]
                continue
            results[backend].append((r, n))
            rate = calls[backend] * n * wl.epochs / r.seconds if r.seconds > 0 else float("inf")
            times = f" ({calls[backend]} calls)" if calls[backend] > 1 else ""
            progress(f"  {wl.id} {backend:10s} run {k + 1}/{repeats}: {r.seconds:8.3f} s{times}  "
                     f"{rate:12.4g} samples/s  final loss {r.final_loss:.8g}")
    for backend in live:
        rows[backend] = summarize(wl, backend, results[backend], repeats, calls[backend])
    return [rows[b] for b in runners]


def training_flops(wl, n):
    """Floating-point operations of one training run on n rows, counting the
    training's matrix products only, as the peers count them (2 per
    multiply-add): per sample and epoch the forward product, dW and, above
    the first layer, the input gradient. No column makes a pass over the
    data after training inside its stopwatch (gf.train's final loss is
    computed when first read), so none is counted."""
    sizes = wl.layer_sizes
    macs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    per_step_sample = 2 * (2 * sum(macs) + sum(macs[1:]))
    return n * wl.epochs * per_step_sample


def measure_peak(dtypes, size):
    """The machine's 1-core matrix-product rate: GFLOP/s of a size x size
    product through NumPy's BLAS (pinned to 1 thread), best of 3."""
    peak = {}
    rng = np.random.default_rng(1)
    for dt in dtypes:
        a = rng.normal(size=(size, size)).astype(dt)
        b = rng.normal(size=(size, size)).astype(dt)
        a @ b                                            # warm-up
        best = min(_timed(lambda: a @ b) for _ in range(3))
        peak[dt] = 2 * size ** 3 / best / 1e9
    return peak


_UNFORCED_CODE = ("import json, sys; from gradfit.bench.timing import measure_peak; "
                  "from gradfit.bench.machine import blas_kernel; "
                  "print(json.dumps([measure_peak(sys.argv[2:], int(sys.argv[1])), blas_kernel()]))")


def measure_unforced_peak(dtypes, size):
    """When OPENBLAS_CORETYPE forces NumPy's OpenBLAS onto one kernel: the
    1-core rate of the kernel OpenBLAS picks for this CPU by itself, measured
    in a fresh Python without that variable (BLAS pinned to 1 thread), and
    that kernel's name, as ({dtype: GFLOP/s}, name); None when nothing is
    forced or the measurement fails."""
    if not os.environ.get("OPENBLAS_CORETYPE") or not dtypes:
        return None
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        done = subprocess.run([sys.executable, "-c", _UNFORCED_CODE, str(size), *dtypes], env=env,
                              capture_output=True, text=True, timeout=300, check=True)
        peak, kernel = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    return peak, kernel


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(wl, wl_rows, n, peak):
    """Fills in each row's ratio to the baseline (when both are long enough
    to judge), loss difference, GFLOP/s and share of peak."""
    base = wl_rows.get(BASELINE)
    base_ok = base is not None and base.measured
    for row in wl_rows.values():
        if not row.measured:
            continue
        if base_ok:
            row.ratio = row.samples_per_second / base.samples_per_second
            row.judged = min(row.seconds, base.seconds) >= MIN_JUDGE_SECONDS
            if np.isfinite(base.final_loss) and base.final_loss != 0 and row.backend not in OWN_START:
                row.loss_rel_diff = abs(row.final_loss - base.final_loss) / abs(base.final_loss)
        if wl.id in FLOP_WORKLOADS:
            row.gflops = training_flops(wl, n) / (n * wl.epochs / row.samples_per_second) / 1e9
            if peak and peak.get(wl.dtype):
                row.peak_share = row.gflops / peak[wl.dtype]


def run_all(workloads, runners, repeats, mode, progress, peak=None):
    """Every workload on its rows of `mode` through every runner: the table's
    Rows. A smoke run makes one call per timed run."""
    rows = []
    for i, wl in enumerate(workloads, 1):
        n = wl.rows(mode)
        X, y = wl.data(n)
        progress(f"[{i}/{len(workloads)}] {wl.id}: {wl.description}, N={n}, batch {wl.batch_size}, "
                 f"lr {wl.lr:g}, {wl.epochs} epoch(s), {wl.dtype}")
        wl_rows = {r.backend: r for r in measure_workload(wl, runners, X, y, repeats, progress,
                                                                    1 if mode == "smoke" else MAX_CALLS)}
        compare(wl, wl_rows, n, peak)
        rows.extend(wl_rows.values())
    return rows
