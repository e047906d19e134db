"""`gradfit bench` and `python -m gradfit.bench`: the options, the choice of
columns, and the run. The suite runs in a child process whose BLAS/OpenMP
thread variables are set to 1 before NumPy loads (the libraries read them
once, when loaded; gradfit has loaded NumPy before this module runs)."""
import argparse
import os
import subprocess
import sys
import time

from .._optional import require
from .frameworks import jax_cpu, make_jax_runners, make_sklearn_runners, make_torch_runners, one_cpu
from .grids import grid_table, run_grids, select_grids
from .machine import PINNED_THREAD_VARS, busy_cores, describe, usable_cpus
from .report import notes, plot, table, workload_table, write_json
from .runners import BASELINE, gradfit_column, make_gradfit_runner, run_numpy_baseline, run_numpy_loop
from .timing import (FLOP_WORKLOADS, MAX_CALLS, MIN_JUDGE_SECONDS, TARGET_RUN_SECONDS, TOO_SHORT,
                     measure_peak, measure_unforced_peak, run_all)
from .workloads import WORKLOADS, select

#: mode -> timed runs per column (the rows: Workload.rows)
MODES = {"smoke": 1, "quick": 3, "full": 5}
FRAMEWORKS = ("torch", "jax", "sklearn")
_CHILD = "GRADFIT_BENCH_CHILD"
# XLA's CPU backend on one thread (the JAX columns also run on one CPU).
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
#: --isa avx2: what holds each column to AVX2, as on an x86-64 machine without
#: AVX-512 (each library reads its variable once, when it loads): gradfit,
#: NumPy's OpenBLAS, PyTorch's ATen, MKL and oneDNN, and XLA's own code.
#: XLA's matrix products pick their kernels at run time and have no such
#: switch: the JAX columns' products stay as wide as the CPU (the header says so).
AVX2_ONLY = {"GRADFIT_SIMD": "avx2", "OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
XLA_AVX2 = "--xla_cpu_max_isa=AVX2"


class UsageError(Exception):
    """A bad option: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _int_list(text):
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return list(dict.fromkeys(values))


def build_parser(prog="gradfit bench"):
    p = _Parser(prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Training throughput of gradfit against a skilled user's NumPy loop (and PyTorch, "
                            "JAX, scikit-learn when installed) on the workloads W1-W5. Quick mode by default.",
                epilog="Every figure is samples/s of the whole training call, the median of interleaved runs, "
                       "with the spread shown; every table says where it ran.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help=f"the published figures: all N rows, {MODES['full']} timed runs per column")
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help=f"the default: N / 2 rows (W1, W2: all N), {MODES['quick']} timed runs")
    mode.add_argument("--smoke", dest="mode", action="store_const", const="smoke",
                      help="N / 200 rows, 1 run: checks that it runs; too short to judge")
    p.set_defaults(mode="quick")
    p.add_argument("--workloads", default=None, metavar="W1,W3",
                   help="workload ids, comma-separated (default: all: " + ",".join(w.id for w in WORKLOADS) + ")")
    p.add_argument("--threads", type=_int_list, default=None, metavar="1,2",
                   help="gradfit columns: one per n_threads (default 1,2 with 2 usable CPUs, else 1)")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None,
                   help="run every workload in this dtype (default: each workload's own)")
    p.add_argument("--repeat", type=int, default=None, metavar="K", help="timed runs per column (default: the mode's)")
    p.add_argument("--frameworks", default="auto", metavar="LIST",
                   help="other frameworks' columns: auto (each of torch, jax, sklearn that is installed; "
                        "the default), none, or a comma-separated list")
    p.add_argument("--torch", action="store_true", help="the PyTorch column (named if torch is missing)")
    p.add_argument("--jax", action="store_true", help="the JAX columns (named if jax is missing)")
    p.add_argument("--isa", choices=["auto", "avx2"], default="auto",
                   help="auto (the default): each library's own choice for this CPU; avx2: every column held to "
                        "AVX2, as on an x86-64 CPU without AVX-512 (" + ", ".join(AVX2_ONLY) + f", {XLA_AVX2})")
    p.add_argument("--grids", default=None, metavar="G1,G2",
                   help="run the grids of models (G1, G2, G3 or all) with gf.train_many instead of the workloads")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the header and the rows as JSON")
    p.add_argument("--plot", default=None, metavar="PATH", help="also draw the speed-ups as a bar chart (matplotlib)")
    return p


def _writable(option, path):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option}: no such directory {folder}")


def parse_args(argv, prog="gradfit bench"):
    """The options, checked; raises UsageError with a one-line message."""
    args = build_parser(prog).parse_args(argv)
    try:
        args.selected = select(args.workloads.split(",") if args.workloads else None, args.dtype)
    except ValueError as e:
        raise UsageError(f"--workloads: {e}") from None
    args.grid_list = None
    if args.grids:
        try:
            args.grid_list = select_grids(args.grids)
        except ValueError as e:
            raise UsageError(f"--grids: {e}") from None
    if args.isa == "avx2":
        import gradfit
        available = gradfit.config()["simd_available"]
        if "avx2" not in available:
            raise UsageError(f"--isa avx2: this CPU does not run gradfit's AVX2 path (it runs {', '.join(available)})")
    if args.repeat is not None and args.repeat < 1:
        raise UsageError("--repeat: expected a positive integer")
    if args.threads is None:
        args.threads = [1, 2] if usable_cpus() >= 2 else [1]
    choice = args.frameworks.strip().lower()
    wanted = None if choice == "auto" else [] if choice == "none" else \
        [x.strip() for x in choice.split(",") if x.strip()]
    unknown = [x for x in wanted or [] if x not in FRAMEWORKS]
    if unknown:
        raise UsageError(f"--frameworks: unknown {', '.join(unknown)}; expected auto, none or some of "
                         + ", ".join(FRAMEWORKS))
    args.required = list(dict.fromkeys((wanted or []) + ["torch"] * args.torch + ["jax"] * args.jax))
    if wanted is not None:
        wanted = args.required
    args.wanted = wanted                       # None: every installed one; required: named if missing
    for option in ("json", "plot"):
        if getattr(args, option):
            _writable("--" + option, getattr(args, option))
    if args.plot:
        try:
            require("matplotlib", "--plot")
        except ImportError as e:
            raise UsageError(str(e)) from None
    return args


_MAKERS = {"torch": make_torch_runners, "sklearn": make_sklearn_runners}


def _framework_columns(args, progress):
    """(runners, [(name, version)], missing names) of the other frameworks."""
    import importlib.util
    names = list(FRAMEWORKS if args.wanted is None else args.wanted)
    cols, versions, missing = {}, [], []
    for name in names:
        purpose = f"the {name} column"
        try:
            if importlib.util.find_spec(name) is None:
                require(name, purpose)                     # raises the one-line ImportError
            if name == "jax":
                cpu = jax_cpu()
                with one_cpu(cpu):                         # XLA's threads start on that one CPU
                    module = require("jax", purpose)
                cols.update(make_jax_runners(module, cpu))
            else:
                module = require(name, purpose)
                cols.update(_MAKERS[name](module))
        except ImportError as e:
            missing.append(name)
            if name in args.required:
                progress(f"gradfit bench: {e}; running without it")
            continue
        versions.append((name if name != "sklearn" else "scikit-learn", getattr(module, "__version__", "?")))
    return cols, versions, missing


def _columns(args, progress):
    cols = {gradfit_column(t): make_gradfit_runner("c", n_threads=t) for t in sorted(args.threads)}
    cols[BASELINE] = run_numpy_baseline
    cols["numpy-loop"] = run_numpy_loop
    other, versions, missing = _framework_columns(args, progress)
    cols.update(other)
    return cols, versions, missing


def _isa_lines(args):
    if args.isa != "avx2":
        return []
    return ["ISA: every column held to AVX2, as on an x86-64 CPU without AVX-512: "
            + ", ".join(f"{k}={v}" for k, v in AVX2_ONLY.items()) + f", XLA_FLAGS {XLA_AVX2} (XLA's "
            "generated code only: JAX's matrix products choose their own kernels, as wide as this CPU runs); "
            "the 1-core peak is NumPy's BLAS on its AVX2 kernel"]


def _header(args, cols, versions, missing, busy, repeats, peak, unforced=None):
    head = describe(versions, busy) + _isa_lines(args)
    head.append("columns: " + ", ".join(cols) + (f"; not installed: {', '.join(missing)}" if missing else ""))
    head.append(f"mode: {args.mode} (" + {"full": "all N rows", "quick": "N / 2 rows, W1 and W2 all N",
                                               "smoke": "N / 200 rows: nothing to judge"}[args.mode] + ")")
    head.append(f"protocol: {repeats} timed run(s) per column, interleaved, after 1 warm-up; samples/s = "
                f"N*epochs / seconds of the whole training call, median over runs; spread = (max - min) / "
                f"median; a call shorter than {TARGET_RUN_SECONDS:g} s is timed over up to {MAX_CALLS} consecutive calls "
                f"per run; no column's time includes a loss over the data after training (gf.train computes its final_loss when first read, after the stopwatch); "
                f"a ratio from runs under {MIN_JUDGE_SECONDS:g} s is '{TOO_SHORT}'")
    if peak:
        head.append("1-core peak (a NumPy BLAS matrix product, 1 thread, best of 3): "
                    + ", ".join(f"{dt} {v:.1f} GFLOP/s" for dt, v in peak.items()))
    if unforced:
        rates, kernel = unforced
        head.append(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} holds NumPy's BLAS (the numpy columns) "
                    f"to that kernel; OpenBLAS's own choice for this CPU, {kernel or '?'}, reaches "
                    + ", ".join(f"{dt} {v:.1f} GFLOP/s" for dt, v in rates.items())
                    + " (a fresh process without the variable); '% of 1-core peak' uses the higher of the two")
    return head


def run(args):
    """Runs the suite with parsed `args` in this process; prints the tables; returns 0."""
    def progress(msg):
        print(msg, file=sys.stderr, flush=True)

    repeats = args.repeat or MODES[args.mode]
    if args.grid_list:
        return _run_grids(args, repeats, progress)
    cols, versions, missing = _columns(args, progress)
    busy = busy_cores()            # before any of our own work
    dtypes = sorted({w.dtype for w in args.selected if w.id in FLOP_WORKLOADS})
    size = {"full": 2048, "quick": 1024}.get(args.mode, 256)
    peak = measure_peak(dtypes, size) if dtypes else None
    # under --isa avx2 the peak is AVX2's: OpenBLAS's own (wider) kernel is not asked
    unforced = measure_unforced_peak(dtypes, size) if args.isa == "auto" else None
    share_base = peak
    if peak and unforced:
        share_base = {dt: max(v, unforced[0].get(dt, 0.0)) for dt, v in peak.items()}
    started = time.perf_counter()
    rows = run_all(args.selected, cols, repeats, args.mode, progress, share_base)
    elapsed = time.perf_counter() - started
    # after the runs: the thread thresholds are measured, and re-measured over the
    # first calls that use two threads; the header gives the ones the runs ended with
    head = _header(args, cols, versions, missing, busy, repeats, peak, unforced)
    sizes = {w.id: w.rows(args.mode) for w in args.selected}
    md = args.markdown
    out = [("- " + h) if md else h for h in head] + [""]
    out += workload_table(args.selected, sizes, md) + [""]
    out += table(rows, args.selected, md)
    extra = notes(rows, args.selected)
    if extra:
        out += [""] + [("- " if md else "note: ") + n for n in extra]
    out += ["", f"{'- ' if md else ''}total wall time {elapsed:.1f} s"]
    print("\n".join(out), flush=True)
    if args.json:
        write_json(args.json, header=head, mode=args.mode, repeats=repeats, workloads=args.selected,
                   sizes=sizes, rows=rows, peak=share_base, seconds=elapsed)
    if args.plot:
        plot(args.plot, rows, args.selected, head)
    return 0


def _run_grids(args, repeats, progress):
    """`--grids`: the grid table (ratios to one gf.train per model), the CPU named."""
    import importlib.util
    names = [n for n in ("jax", "torch") if (args.wanted is None or n in args.wanted)
             and importlib.util.find_spec(n) is not None]
    busy = busy_cores()
    started = time.perf_counter()
    rows = run_grids(args.grid_list, args.mode, repeats, names, progress)
    md = args.markdown
    head = describe([], busy) + _isa_lines(args) + [f"grids: best of {repeats} interleaved run(s), {args.mode} mode; each ratio is "
                                 f"one gf.train per model's time over the column's (1 thread; the machine may be "
                                 f"shared); train_many's models checked bit-identical to gf.train's; "
                                 f"frameworks: {', '.join(names) or 'none installed'}"]
    out = [("- " + h) if md else h for h in head] + [""] + grid_table(rows, md)
    for _, _, _, _, problems in rows:
        out += [("- " if md else "note: ") + p for p in problems]
    out += ["", f"{'- ' if md else ''}total wall time {time.perf_counter() - started:.1f} s"]
    print("\n".join(out), flush=True)
    return 1 if any("parameters differ" in p for row in rows for p in row[4]) else 0


def _child_env(isa="auto"):
    """This environment with the thread variables pinned and gradfit findable;
    with isa "avx2", every library held to AVX2 (AVX2_ONLY, XLA_AVX2)."""
    import gradfit
    env = dict(os.environ)
    for var in PINNED_THREAD_VARS:
        env[var] = "1"
    xla = [env.get("XLA_FLAGS", ""), XLA_SINGLE_THREAD]
    if isa == "avx2":
        env.update(AVX2_ONLY)
        xla.append(XLA_AVX2)
    env["XLA_FLAGS"] = " ".join(f for f in xla if f)
    env[_CHILD] = "1"
    root = os.path.dirname(os.path.dirname(os.path.abspath(gradfit.__file__)))
    if not _on_default_path(root):                  # a source tree or a path added at run time
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def _on_default_path(folder):
    """True if a new interpreter finds packages in `folder` by itself (site-packages)."""
    import site
    try:
        default = site.getsitepackages() + [site.getusersitepackages()]
    except AttributeError:                          # an embedded or unusual site module
        return False
    return os.path.realpath(folder) in {os.path.realpath(p) for p in default}


def _run_child(argv, isa="auto"):
    """The suite in a child process (see the module's docstring); its exit status."""
    child = subprocess.Popen([sys.executable, "-m", "gradfit.bench", *argv], env=_child_env(isa))
    try:
        return child.wait()
    except KeyboardInterrupt:                       # the child got the interrupt too and reports it
        return child.wait()


def main(argv=None, prog="gradfit bench"):
    """Runs the suite with command-line `argv` (default sys.argv[1:]); returns
    the exit status: 0, or 2 after one line on stderr for a bad option."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parse_args(argv, prog)
        if os.environ.get(_CHILD) != "1":
            return _run_child(argv, args.isa)
        return run(args)
    except UsageError as e:
        print(f"gradfit: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gradfit: interrupted", file=sys.stderr)
        return 130
    except OSError as e:               # --json / --plot could not be written
        print(f"gradfit: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
