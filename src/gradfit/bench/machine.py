"""Where a table ran: the CPU, the cores, the ISA path and configuration
gradfit chose, NumPy's BLAS, the versions and the date. Every table and JSON
file of the suite carries these lines, so that figures from different
machines are never mixed up."""
import ctypes
import datetime
import os
import platform
import subprocess
import time

import numpy as np

import gradfit as gf

#: the BLAS/OpenMP thread variables the suite sets to 1 before NumPy is loaded
PINNED_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_model():
    """The CPU's model name: /proc/cpuinfo, else the platform module."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cpus():
    """CPUs this process may run on (its affinity mask where there is one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def openblas_runtime():
    """(threads, core name) from the OpenBLAS that numpy loaded, via ctypes, or (None, None)."""
    paths = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if "openblas" in os.path.basename(p).lower() and ".so" in p:
                    paths.add(p)
    except OSError:
        return None, None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        threads = corename = None
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                fn = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if fn is not None and threads is None:
                    fn.restype = ctypes.c_int
                    threads = fn()
                fn = getattr(lib, f"{prefix}_get_corename{suffix}", None)
                if fn is not None and corename is None:
                    fn.restype = ctypes.c_char_p
                    corename = fn().decode(errors="replace")
        if threads is not None:
            return threads, corename
    return None, None


def blas_kernel():
    """The kernel (core type) NumPy's OpenBLAS runs, e.g. "SkylakeX", or None."""
    return openblas_runtime()[1]


def blas_description():
    """One line on NumPy's BLAS: threadpoolctl's view when installed (library,
    version, kernel architecture, threads), else NumPy's build configuration
    and what the loaded OpenBLAS says of itself."""
    try:
        import threadpoolctl
    except ImportError:
        threadpoolctl = None
    if threadpoolctl is not None:
        info = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        if info:
            return "; ".join(f"{i.get('internal_api')} {i.get('version') or ''} ({i.get('architecture') or '?'}, "
                             f"{i.get('num_threads')} thread(s))".replace("  ", " ") for i in info) \
                + " [threadpoolctl]"
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - numpy < 1.26 or unusual builds
        name = "unknown"
    threads, corename = openblas_runtime()
    extra = [f"core {corename}"] if corename else []
    extra += [f"{threads} thread(s)"] if threads is not None else []
    return name + (f" ({', '.join(extra)})" if extra else "") + " [numpy config; pip install threadpoolctl for more]"


def gradfit_revision():
    """The git revision of a source checkout gradfit runs from, or ''."""
    here = os.path.dirname(os.path.abspath(gf.__file__))
    if not os.path.exists(os.path.join(here, "..", "..", ".git")):
        return ""
    try:
        rev = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{rev}{' (uncommitted changes)' if dirty else ''}" if rev else ""


def busy_cores(interval=0.5):
    """How many CPUs other processes keep busy right now: a short /proc/stat
    sample (Linux), else the 1-minute load average, else None. Returns (value, how)."""
    def snapshot():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)     # idle + iowait
        return sum(fields[:8]), idle
    try:
        total0, idle0 = snapshot()
        time.sleep(interval)
        total1, idle1 = snapshot()
        if total1 > total0:
            return (1 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1), f"{interval:g} s /proc/stat sample"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.getloadavg()[0], "1-minute load average"
    except (AttributeError, OSError):
        return None, ""


def _start_pool():
    """Runs a product big enough to split on two threads, so that the pool
    starts and measures its wake-up cost (the thread thresholds derive from
    it), then a few more calls, each past the gap between the pool's probe
    rounds, so that the header shows the cost the runs will use rather than
    one probe's moment."""
    if usable_cpus() < 2:
        return
    model = gf.MLP([512, 512, 1], seed=0, dtype="float32")
    for _ in range(4):
        model.predict(np.zeros((64, 512), dtype=np.float32), n_threads=2)
        time.sleep(0.011)


def _kib(n):
    return "?" if not n else (f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n >> 10} KiB")


def cpu_caches():
    """'family 26 model 2 (zen5), L1d 48 KiB, L2 1 MiB, L3 32 MiB (sysfs)' from gradfit.config()."""
    c = gf.config()
    if "caches" not in c:
        return ""
    caches = c["caches"]
    return (f"{c['cpu_id']}; L1d {_kib(caches['l1d'])}, L2 {_kib(caches['l2'])}, L3 {_kib(caches['l3'])} "
            f"({caches['source']})")


def gradfit_choice():
    """The ISA path gradfit chose, its register block, the block sizes and
    the thread thresholds in use (gradfit.config()), each with its source."""
    _start_pool()
    config = gf.config()
    tuning = config.get("tuning")
    if not tuning:
        return f"ISA path {gf.simd()}"
    def show(name, label, fmt=str):
        t = tuning[name]
        return f"{label} {fmt(t['value']) if isinstance(t['value'], int) else t['value']} ({t['source']})"
    return (f"ISA path {gf.simd()}, register block {tuning['mr_nr_float32']['value']} (float32); "
            + ", ".join([show("kc", "kc"), show("matmul_kc", "unpacked kc"), show("a_cols_span", "A span", _kib)])
            + "; threads: " + ", ".join([show("parallel_macs", "split products from", lambda v: f"{v:,} MACs"),
                                         show("pool_wake_ns", "pool wake-up", lambda v: f"{v:,} ns")]))


def describe(frameworks=(), busy=(None, "")):
    """The lines that say where a table ran, in order: versions, CPU, gradfit's
    choices, BLAS, threads, load, date. `frameworks`: (name, version) pairs."""
    rev = gradfit_revision()
    versions = [f"gradfit {gf.__version__}" + (f" (git {rev})" if rev else ""),
                f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    versions += [f"{name} {version}" for name, version in frameworks]
    lines = [
        "versions: " + ", ".join(versions),
        f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs ({usable_cpus()} usable), "
        f"{platform.system()} {platform.machine()}" + (f"; {cpu_caches()}" if cpu_caches() else ""),
        "gradfit: " + gradfit_choice(),
        "NumPy BLAS: " + blas_description(),
        "threads: " + ", ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in PINNED_THREAD_VARS)
        + " (set before NumPy loads); every column uses 1 thread but c-Nthreads"
        + (f"; OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} (forces that BLAS kernel)"
           if os.environ.get("OPENBLAS_CORETYPE") else ""),
    ]
    value, how = busy
    if value is not None:
        lines.append(f"CPUs busy with other work just before the run: {value:.1f} of {os.cpu_count()} ({how})"
                     + (" -- expect noisy, low timings (see the spread column)" if value > 0.3 else ""))
    lines.append("date: " + datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    return lines
