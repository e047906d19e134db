"""Every kernel path against the plain implementation, for every block-size
configuration the tuning selector produces (issue 21), on every SIMD path
this CPU runs.

The matrix:

- Configurations: ``gradfit._tuning.choose(cpu, isa)`` for each recorded CPU
  of test_cpu_tuning.RECORDED and an x86-64 CPU whose caches are unknown, on each
  ISA path the CPU can run (its best path and the lower ones GRADFIT_SIMD
  forces; the NEON CPUs' choices run on the baseline path, whose vectors
  are as wide). The distinct (path, kc, matmul_kc, a_cols_span) tuples are
  the configurations (CONFIGS); each is forced in this process through
  ``_core.tuning_set`` (as ``gradfit._tuning.apply`` hands the choice to the
  C core) with the path set by ``gf.simd``.
- Kernel paths, each in float32 and float64: the packed product (gemm.inc
  and the path's micro-kernel) with its epilogues (bias, tanh and f'(z),
  da * f'(z)) on both of its A layouts (in place, transposed in place or
  packed: the a_cols_span edge); the unpacked products (gemm_small.inc:
  matmul_acc's k blocks of matmul_kc, the narrow outputs, gemm_dot); the
  narrow-net lanes path (lanes.inc, the 1-2-1 one-pass kernel included),
  training and forward-only passes; the sparse first layer (sparse.inc);
  the fused grid (fused.inc); predict and loss.
- Shapes from each configuration's own edges (_packed_shapes, _small_shapes):
  K (the layer input, or the batch for dW) just below, at and above kc and
  past two blocks; row counts around the register block's MR (8 on AVX-512,
  6 elsewhere) and below GF_SMALL_M; column counts around the panel width
  JB (2 vectors: 32/16 float32/float64 on AVX-512, 16/8 on AVX2, 8/4 on
  the baseline) and its half; the first layer's width on both sides of the
  a_cols_span bound; K around matmul_kc for the unpacked products; rows
  around the lanes path's LV and its 256-row forward blocks.
- Oracles: the float64 NumPy implementation (gradfit.reference, or
  gf.train's numpy backend) within a tolerance of the dtype; and the bits
  of the same computation under tuning.h's defaults on the same path, which
  every configuration must reproduce exactly (pool.h: "None changes a
  result's bits").
- Threads: with the thread thresholds forced to 0 (every product and step
  piece that can be split is) and to the exact sizes of the products of the
  net (split at the edge, and one above it), 1-5 threads give the one-thread
  bits of tuning.h's defaults: training (dense, sparse, fused), predict and
  loss.
- Beyond the recorded CPUs: every value the selector's rules can give (kc
  64-256 in steps of 32, matmul_kc 64-1024 and a_cols_span 4-64 KiB in
  powers of 2; test_the_selector_gives_only_values_of_the_swept_ranges
  checks that these are all of them), one at a time, on each path
  (RANGE_CONFIGS, slow).
- Values only GRADFIT_TUNING forces (FORCED: kc 8, 9, 33, 255; matmul_kc
  and a_cols_span at the C core's bounds), slow.
- The environment: GRADFIT_SIMD and GRADFIT_TUNING (kc, matmul_kc,
  a_cols_span) set for a new process reach the C core and give the bits of
  the configuration forced in this one.

The fast set runs every configuration on the shapes past each edge, the
threads with thresholds 0, and the environment for Zen 4's AVX-512
configuration; the slow set (``-m slow``) adds the shapes below and at each
edge, the other activations' epilogues, the thresholds at the net's sizes
and the environment for every configuration.
"""
import contextlib
import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from test_cpu_tuning import AVX512, RECORDED

import gradfit as gf
from gradfit import _core, _tuning, reference

PATHS = gf.config()["simd_available"]
ORDER = ("baseline", "avx2", "avx512")
MR = {"avx512": 8, "avx2": 6, "baseline": 6}
#: the lanes path's rows per forward block (tuning.h GF_LANES_FORWARD_ROWS)
LANES_FORWARD_ROWS = 256
NO_ROWS = np.empty(0, np.int64)


@dataclasses.dataclass(frozen=True)
class Config:
    isa: str
    kc: int
    matmul_kc: int
    a_cols_span: int
    cpus: tuple

    @property
    def id(self):
        return f"{self.isa}-kc{self.kc}-mkc{self.matmul_kc}-span{self.a_cols_span // 1024}k"


def _configs():
    """The distinct configurations choose() gives the recorded CPUs (and an
    unknown one) on the paths each can run, for the paths this CPU runs."""
    found = {}
    # and an x86-64 CPU whose caches the OS does not report (tuning.h's defaults)
    cpus = dict(RECORDED, unknown=_tuning.Cpu(flags=AVX512, arch="x86_64"))
    for name, cpu in cpus.items():
        best = _tuning.isa_for(cpu)
        for isa in ORDER:
            if best == "neon":                  # NEON's 16-byte vectors: the baseline path's width
                if isa != "baseline":
                    continue
                chosen_for = "neon"
            elif ORDER.index(isa) > ORDER.index(best):
                continue
            else:
                chosen_for = isa
            v = {k: c["value"] for k, c in _tuning.choose(cpu, chosen_for).items()}
            key = (isa, v["kc"], v["matmul_kc"], v["a_cols_span"])
            found.setdefault(key, []).append(f"{name}/{chosen_for}")
    return [Config(*key, tuple(names)) for key, names in sorted(found.items()) if key[0] in PATHS]


CONFIGS = _configs()
NEVER = 1 << 40
THRESHOLDS = ("parallel_macs", "parallel_outs", "parallel_small", "parallel_update")


def _jb(isa, dtype):
    """Columns of the register block (tuning.h GF_TUNE_NR)."""
    return 2 * _tuning.VEC_BYTES[isa] // np.dtype(dtype).itemsize


@contextlib.contextmanager
def tuned(isa, kc=None, matmul_kc=256, a_cols_span=16384, thresholds=None):
    """Runs the block on path `isa` with these block sizes (kc None:
    tuning.h's 16 KiB panel) and thread thresholds (None: never split), then
    restores the path and the tunables in use before."""
    previous_isa, previous = gf.simd(), _core.tuning_get()
    gf.simd(isa)
    vec = _tuning.VEC_BYTES[isa]
    panel = 16384 if kc is None else kc * 2 * vec
    values = {"panel_bytes": panel, "matmul_kc": matmul_kc, "a_cols_span": a_cols_span, "derive": 0}
    values.update(thresholds or dict.fromkeys(THRESHOLDS, NEVER))
    try:
        got = _core.tuning_set(values)
        assert {k: got[k] for k in values} == values, "the C core clamped a value: the test is not what it says"
        assert gf.simd() == isa
        yield
    finally:
        gf.simd(previous_isa)
        _core.tuning_set({k: v for k, v in previous.items() if k != "wake_ns"})


def in_config(cfg, thresholds=None):
    return tuned(cfg.isa, cfg.kc, cfg.matmul_kc, cfg.a_cols_span, thresholds)


_HOME_BITS = {}


def home_bits(isa, key, compute, *args, **kwargs):
    """compute(*args, **kwargs) under tuning.h's defaults on path `isa`, one
    thread (cached under `key`)."""
    full = (isa,) + key
    if full not in _HOME_BITS:
        with tuned(isa):
            _HOME_BITS[full] = compute(*args, **kwargs)
    return _HOME_BITS[full]


def assert_same_bits(got, want, what):
    assert len(got) == len(want), what
    for i, (g, w) in enumerate(zip(got, want)):
        if isinstance(g, np.ndarray):
            np.testing.assert_array_equal(g, w, err_msg=f"{what}: item {i}")
        else:
            assert g == w, (what, i)


def tol(dtype):
    """(rtol, atol as a fraction of the largest reference entry, rtol of a
    loss): float32 sums of up to 2049 terms are off by up to 2e-5 of the
    largest gradient entry, float64 ones by 5e-15"""
    return (1e-4, 5e-5, 1e-5) if np.dtype(dtype) == np.float32 else (1e-11, 5e-14, 1e-13)


def assert_close(got, ref, dtype, what):
    rtol, atol, _ = tol(dtype)
    ref = np.asarray(ref, np.float64)
    np.testing.assert_allclose(np.asarray(got, np.float64), ref, rtol=rtol,
                               atol=atol * max(np.abs(ref).max(), 1e-300), err_msg=what)


# -- problems and the float64 oracle ------------------------------------------------------------------

def problem(sizes, batch, dtype, act="tanh", seed=0):
    m = gf.MLP(sizes, activation=act, output_activation="identity", dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 17 * batch + sum(sizes))
    m.params[:] = (rng.normal(size=m.n_params) * 0.3).astype(dtype)
    X = rng.normal(size=(batch, sizes[0])).astype(dtype)
    y = rng.normal(size=(batch, sizes[-1])).astype(dtype)
    return m, X, y


def oracle(m, X, y, loss="mse"):
    """(loss, gradient, prediction) of gradfit.reference in float64 at m's params."""
    m64 = gf.MLP(m.layer_sizes, activation=list(m.activations[:-1]), output_activation=m.activations[-1],
                 dtype="float64")
    m64.params[:] = m.params.astype(np.float64)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    value, grad = reference.Reference(m64, loss).loss_and_grad(X64, y64)
    pred = reference.forward(m64.weights, m64.biases, list(m64.activations), X64)[-1][1]
    return value, grad.copy(), pred


def c_passes(m, X, y, loss="mse", n_threads=1):
    """The C core's (loss and gradient, forward-only loss, prediction)."""
    grad = np.empty_like(m.params)
    sw = np.empty(0, m.dtype)
    value = m._net.loss_grad(_core.LOSSES[loss], m.params, grad, X, y, sw, NO_ROWS, n_threads=n_threads)
    forward_loss = m._net.loss(_core.LOSSES[loss], m.params, X, y, sw, n_threads=n_threads)
    return value, grad, forward_loss, m.predict(X, n_threads=n_threads)


def check_passes(cfg, dtype, sizes, batch, act="tanh", what=""):
    """Loss, gradient, forward loss and prediction of `sizes` over `batch`
    rows in configuration cfg: close to the float64 reference and the bits
    of tuning.h's defaults."""
    m, X, y = problem(sizes, batch, dtype, act)
    with in_config(cfg):
        got = c_passes(m, X, y)
    want = home_bits(cfg.isa, ("passes", dtype, tuple(sizes), batch, act), c_passes, m, X, y)
    what = f"{cfg.id} {dtype} sizes={sizes} batch={batch} {what}"
    value, grad, pred = oracle(m, X, y)
    assert_close(got[1], grad, dtype, what + " gradient")
    assert_close(got[3], pred, dtype, what + " prediction")
    assert got[0] == pytest.approx(value, rel=tol(dtype)[2]), what
    assert got[2] == pytest.approx(value, rel=tol(dtype)[2]), what
    assert_same_bits(got, want, what + " (against tuning.h's defaults)")


# -- shapes from each configuration's edges ------------------------------------------------------

def _packed_shapes(cfg, dtype, full):
    """(sizes, batch, which edge) for the packed products: [IN, H, OUT] nets
    whose products' K, M and N sit on cfg's edges (the fast set: the ones
    past an edge)."""
    kc, mr, jb = cfg.kc, MR[cfg.isa], _jb(cfg.isa, dtype)
    item = np.dtype(dtype).itemsize
    narrow = max(jb - 1, 5)           # under a panel, but not a narrow (1-3 column) product
    # the forward product z1 = X W1 (K = IN) with its bias and tanh epilogue, dz1 = dp W2^T (K = OUT)
    # with its f'(z) factor: K around kc, rows around MR, columns around JB and its half
    shapes = [([kc + 1, narrow, jb], mr, "forward K = kc + 1", True),
              ([2 * kc + 1, 2 * jb + 1, 3], mr + 1, "forward K = 2 kc + 1, narrow output", True),
              ([kc - 1, jb + 1, jb // 2], 2 * mr + 1, "forward K = kc - 1", False),
              ([kc, 2 * jb, jb // 2 + 1], 2 * mr - 1, "forward K = kc", False),
              ([jb + 1, narrow, kc + 1], 2 * mr + 1, "dz1 K = OUT = kc + 1", True)]
    # dW1 = X^T dz1 (K = batch); OUT = kc keeps the packing scratch (IN*OUT
    # elements at most over the layers) at least kc panels deep for N = H
    for batch in (kc - 1, kc, kc + 1, 2 * kc + 1):
        shapes.append(([mr + 1, jb + 3, kc], batch, "dW1 K = batch", batch == kc + 1))
    # dW2 = z1^T dp (K = batch); H = kc for the scratch
    for batch in (kc - 1, kc + 1):
        shapes.append(([jb + 1, kc, jb + 1], batch, "dW2 K = batch", batch == kc + 1))
    # dW1's transposed X read in place (k block x IN within a_cols_span) or packed
    edge = cfg.a_cols_span // (kc * item)
    for n_in in (edge, edge + 1):
        if mr <= n_in <= 2048:          # (float32 sums of more terms need another tolerance)
            shapes.append(([n_in, jb + 3, kc], kc + 5, f"a_cols_span edge IN = {n_in}", True))
    return [s[:3] for s in shapes if full or s[3]]


def _small_shapes(cfg, dtype, full):
    """(sizes, batch, which edge) for the unpacked products: fewer than
    GF_SMALL_M rows (the forward product, K = IN) or columns of A (dW1 of a
    1-3 input net, K = batch), K around matmul_kc."""
    mkc, jb = cfg.matmul_kc, _jb(cfg.isa, dtype)
    ks = (mkc - 1, mkc, mkc + 1, 2 * mkc + 1) if full else (mkc + 1,)
    shapes = [([k, jb + 3, 5], 1 + i % 3, "matmul_acc forward K = IN") for i, k in enumerate(ks)]
    shapes += [([1 + i % 3, jb + 3, 5], k, "matmul_acc dW1 K = batch") for i, k in enumerate(ks)]
    shapes.append(([mkc + 1, 6, 2], 3, "narrow output, gemm_dot dinp"))
    return shapes


def _ids(cfgs):
    return [c.id for c in cfgs]


def _all(full):
    """(config, dtype) pairs, full marked slow."""
    marks = [pytest.mark.slow] if full else []
    return [pytest.param(c, d, id=f"{c.id}-{d}", marks=marks) for c in CONFIGS for d in ("float32", "float64")]


# -- the tests ------------------------------------------------------------------------------------

def test_the_configurations_cover_each_choice_and_path():
    """The matrix is what the docstring says: every path this CPU runs,
    every kc the recorded CPUs get, and each is forced as asked."""
    assert {c.isa for c in CONFIGS} == set(PATHS) & set(ORDER)
    kcs = {c.kc for c in CONFIGS}
    assert {128, 192, 224, 256} <= kcs
    assert len({(c.kc, c.matmul_kc, c.a_cols_span) for c in CONFIGS}) >= 6
    for cfg in CONFIGS:
        with in_config(cfg):
            t = _core.tuning_get()
            assert t["panel_bytes"] // (2 * _tuning.VEC_BYTES[cfg.isa]) == cfg.kc
            assert (t["matmul_kc"], t["a_cols_span"]) == (cfg.matmul_kc, cfg.a_cols_span)


@pytest.mark.parametrize("full", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["fast", "full"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids(CONFIGS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_packed_products_across_the_configurations_blocks(cfg, dtype, full):
    """The tanh epilogue (f(z) and f'(z) after the last k block, dinp times
    f'(z)) on every shape; the full set also runs the other activations'
    epilogues on the shapes past kc."""
    shapes = _packed_shapes(cfg, dtype, full)
    for sizes, batch, what in shapes:
        check_passes(cfg, dtype, sizes, batch, what=what)
    if full:
        for act in ("identity", "relu", "sigmoid", "softplus"):
            for sizes, batch, what in (shapes[0], shapes[4]):
                check_passes(cfg, dtype, sizes, batch, act, what=f"{what}, {act}")


@pytest.mark.parametrize("full", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["fast", "full"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids(CONFIGS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unpacked_products_across_matmul_kc(cfg, dtype, full):
    for sizes, batch, what in _small_shapes(cfg, dtype, full):
        check_passes(cfg, dtype, sizes, batch, what=what)


def _lanes_cases(cfg, dtype, full):
    """(sizes, batch) of nets the lanes path takes (every width <= 16, every
    layer <= 144 weights), rows around its LV partial sums (2 vectors) and
    its 256-row forward blocks (predict, loss)."""
    lv = _jb(cfg.isa, dtype)
    rows = (lv - 1, lv + 1, 3 * lv + 1, LANES_FORWARD_ROWS, LANES_FORWARD_ROWS + 1, 2 * LANES_FORWARD_ROWS + 1) \
        if full else (lv + 1, LANES_FORWARD_ROWS + 1)
    nets = ([1, 2, 1], [3, 8, 1], [16, 9, 2], [4, 16, 8, 3]) if full else ([1, 2, 1], [4, 16, 8, 3])
    return [(sizes, b) for sizes in nets for b in rows]


@pytest.mark.parametrize("full", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["fast", "full"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids(CONFIGS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lanes_path_in_each_configuration(cfg, dtype, full):
    """The lanes path reads no tunable: every configuration gives its bits,
    which match the reference."""
    for sizes, batch in _lanes_cases(cfg, dtype, full):
        check_passes(cfg, dtype, sizes, batch, what="lanes")


# -- training: dense, sparse first layer, fused, against the numpy backend ----------------------------

def _train_nets(cfg, dtype):
    """(sizes, batch): a net whose products cross cfg's k block, register
    block rows and panels (the last layer narrow), and two lanes nets."""
    kc, mr, jb = cfg.kc, MR[cfg.isa], _jb(cfg.isa, dtype)
    return [([kc + 1, 2 * jb + 1, 3], 2 * mr + 1), ([1, 2, 1], jb + 1), ([4, 16, 8, 3], 2 * jb + 3)]


def _data(sizes, batch, dtype, sparse=None):
    """X (3 batches and 5 rows: a short last batch), y; sparse "csr": X with
    60% zeros as a CSR matrix, "dense": the same X as an array."""
    rng = np.random.default_rng(sum(sizes) + batch)
    X = rng.normal(size=(3 * batch + 5, sizes[0]))
    if sparse:
        X[rng.uniform(size=X.shape) < 0.6] = 0.0
    y = np.tanh(X[:, :1] + 0.5 * X[:, -1:]) * np.arange(1, sizes[-1] + 1)
    X, y = X.astype(dtype), y.astype(dtype)
    return (sp.csr_matrix(X) if sparse == "csr" else X), y


def fit(sizes, batch, dtype, backend="c", n_threads=1, sparse=None, epochs=2):
    X, y = _data(sizes, batch, dtype, sparse)
    m = gf.MLP(sizes, activation="tanh", dtype=dtype, seed=3)
    kw = {"backend": "numpy"} if backend == "numpy" else {"n_threads": n_threads}
    r = gf.train(m, X, y, optimizer="adam", lr=1e-2, batch_size=batch, epochs=epochs, seed=0, **kw)
    return m.params.copy(), r.history["loss"]


def fit_fused(sizes, batch, dtype, n_threads=1):
    """Three models of one shape trained by gf.train_many (fused: one C call
    steps them all): their params and histories."""
    X, y = _data(sizes, batch, dtype)
    jobs = [{"model": gf.MLP(sizes, activation="tanh", dtype=dtype, seed=3), "X": X, "y": y, "lr": lr,
             "batch_size": batch, "epochs": 2, "seed": 0, "optimizer": "adam", "n_threads": n_threads}
            for lr in (1e-2, 3e-3, 1e-3)]
    results = gf.train_many(jobs, errors="raise")
    assert all(len(r.fused_with) == 3 for r in results)
    return [j["model"].params.copy() for j in jobs], [r.history["loss"] for r in results]


@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids(CONFIGS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_in_each_configuration(cfg, dtype):
    """Two epochs of Adam (the last batch short): the numpy backend's
    parameters and losses to rounding, and tuning.h's bits, on the dense,
    the sparse (CSR X: the sparse first layer) and the fused paths. A wide
    first layer gives the dense bits from CSR X too (the lanes nets' narrow
    first layers agree to rounding only: test_sparse)."""
    rtol = 2e-4 if dtype == "float32" else 1e-10
    for i, (sizes, batch) in enumerate(_train_nets(cfg, dtype)):
        what = f"{cfg.id} {dtype} sizes={sizes} batch={batch}"
        with in_config(cfg):
            dense = fit(sizes, batch, dtype)
            sparse = fit(sizes, batch, dtype, sparse="csr")
            fused = fit_fused(sizes, batch, dtype)
            dense_zeros = fit(sizes, batch, dtype, sparse="dense") if i == 0 else None
        key = (dtype, tuple(sizes), batch)
        assert_same_bits(dense, home_bits(cfg.isa, ("fit",) + key, fit, sizes, batch, dtype), what)
        assert_same_bits(sparse, home_bits(cfg.isa, ("fit-csr",) + key, fit, sizes, batch, dtype,
                                           sparse="csr"), what + " csr")
        assert_same_bits((fused[0][0], fused[1][0]), dense, what + " fused")
        if i == 0:
            assert_same_bits(sparse, dense_zeros, what + " csr against dense")
        ref_params, ref_hist = fit(sizes, batch, dtype, backend="numpy")
        assert np.linalg.norm(dense[0] - ref_params) <= rtol * np.linalg.norm(ref_params), what
        np.testing.assert_allclose(dense[1], ref_hist, rtol=rtol, err_msg=what)
        ref_sparse = fit(sizes, batch, dtype, backend="numpy", sparse="csr")
        assert np.linalg.norm(sparse[0] - ref_sparse[0]) <= rtol * np.linalg.norm(ref_sparse[0]), what


# -- threads: 1-5 give the one-thread bits, with the split thresholds forced ----------------------------

def _thread_net(cfg, dtype):
    """A net whose first-layer products have 3 panels of columns (so they
    split by panels) and K across cfg's kc, and a narrow (3-output) last
    layer (split by rows and by input lines)."""
    return [cfg.kc + 1, 2 * _jb(cfg.isa, dtype) + 1, 3], 2 * MR[cfg.isa] + 1


def _edge_thresholds(sizes, batch, dtype, above):
    """Thresholds at (above: one past) the sizes of the net's pieces: the
    first layer's products (batch x IN x H multiply-adds, batch x H
    entries), its bias gradient (batch x H elements) and the update (every
    parameter). Full batches sit on the edge; the short last batch is below."""
    IN, H = sizes[:2]
    n_params = gf.MLP(sizes, dtype=dtype).n_params
    return {"parallel_macs": batch * IN * H + above, "parallel_outs": batch * H + above,
            "parallel_small": batch * H + above, "parallel_update": n_params + above}


def threaded_run(sizes, batch, dtype, n_threads):
    """Everything one net does with n_threads: training (dense with the row
    gather, CSR X, fused), then predict and loss of the trained dense model."""
    X, y = _data(sizes, batch, dtype)
    m = gf.MLP(sizes, activation="tanh", dtype=dtype, seed=3)
    r = gf.train(m, X, y, optimizer="adam", lr=1e-2, batch_size=batch, epochs=2, seed=0, n_threads=n_threads)
    pred = m.predict(X, n_threads=n_threads)
    loss = m._loss(X, y, "mse", n_threads=n_threads)
    sparse = fit(sizes, batch, dtype, sparse="csr", n_threads=n_threads)
    fused = fit_fused(sizes, batch, dtype, n_threads=n_threads)
    return [m.params.copy(), r.history["loss"], pred, loss, *sparse, *fused[0], fused[1]]


def other_threads_cpu_ns():
    """CPU time (ns) of this process's threads other than the calling one,
    from Linux's schedstat (None where it is not available): the pool's
    workers run only when a piece is split."""
    import os
    import threading
    me, total = threading.get_native_id(), 0
    try:
        for tid in os.listdir("/proc/self/task"):
            if int(tid) != me:
                with open(f"/proc/self/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
    except OSError:
        return None
    return total


@pytest.mark.parametrize("thresholds", ["zero", pytest.param("edge", marks=pytest.mark.slow),
                                        pytest.param("above", marks=pytest.mark.slow)])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids(CONFIGS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threads_1_to_5_give_the_one_thread_bits(cfg, dtype, thresholds):
    """Training (dense, CSR, fused), predict and loss on 1-5 threads give
    the one-thread bits of tuning.h's defaults, with the thresholds at 0
    (every piece that can split does) or at the net's own sizes (full
    batches on the edge or one below it, the short last batch below); and
    the pool's workers do run (Linux)."""
    sizes, batch = _thread_net(cfg, dtype)
    forced = dict.fromkeys(THRESHOLDS, 0) if thresholds == "zero" else \
        _edge_thresholds(sizes, batch, dtype, thresholds == "above")
    lanes = ((4, 16, 8, 3), 2 * _jb(cfg.isa, dtype) + 3)       # the lanes path: its optimizer update splits
    nets = ((tuple(sizes), batch), lanes)
    want = {net: home_bits(cfg.isa, ("threads", dtype) + net, threaded_run, list(net[0]), net[1], dtype, 1)
            for net in nets}
    with in_config(cfg, forced):
        before = other_threads_cpu_ns()
        for n in range(1, 6):
            for net in nets:
                assert_same_bits(threaded_run(list(net[0]), net[1], dtype, n), want[net],
                                 f"{cfg.id} {dtype} {net} n_threads={n}")
    if before is not None:
        # a split wakes the workers; the caller takes parts too, so on a busy
        # machine it may finish them all before a worker is scheduled: wait
        # (up to 5 s) for the woken workers to have run
        import time
        for _ in range(100):
            if other_threads_cpu_ns() > before:
                break
            time.sleep(0.05)
        assert other_threads_cpu_ns() > before, f"{cfg.id} {dtype}: no piece was split over the pool"


# -- the same configurations forced from the environment, as a user would -------------------------------

_ENV_RUN = """
import os, sys
import numpy as np
sys.path.insert(0, {tests!r})
import gradfit as gf
from gradfit import _core
import test_tuning_kernels as t
got = _core.tuning_get()
tuning = gf.config()["tuning"]
out = {{"isa": np.array(gf.simd()), "panel": np.array(got["panel_bytes"]), "mkc": np.array(got["matmul_kc"]),
        "span": np.array(got["a_cols_span"]), "sources": np.array([tuning[k]["source"] for k in
                                                                   ("kc", "matmul_kc", "a_cols_span")])}}
for i, (dtype, sizes, batch) in enumerate({cases!r}):
    m, X, y = t.problem(sizes, batch, dtype)
    value, grad, forward_loss, pred = t.c_passes(m, X, y)
    out[f"grad{{i}}"], out[f"pred{{i}}"], out[f"loss{{i}}"] = grad, pred, np.array([value, forward_loss])
np.savez({path!r}, **out)
"""


@pytest.mark.parametrize("cfg", [pytest.param(c, marks=[] if "zen4/avx512" in c.cpus else
                                              [pytest.mark.slow]) for c in CONFIGS], ids=_ids(CONFIGS))
def test_the_configuration_forced_by_the_environment_gives_the_same_bits(cfg, tmp_path):
    """GRADFIT_SIMD and GRADFIT_TUNING (kc, matmul_kc, a_cols_span) in a
    new process reach the C core and give the bits of the configuration
    forced in this one, for a product past kc in each dtype."""
    import os
    import subprocess
    import sys
    cases = []
    for dtype in ("float32", "float64"):
        shapes = _packed_shapes(cfg, dtype, False)
        cases += [(dtype, sizes, batch) for sizes, batch, _ in (shapes[0], shapes[3])]
    path = str(tmp_path / "out.npz")
    code = _ENV_RUN.format(tests=os.path.dirname(__file__), cases=cases, path=path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), GRADFIT_SIMD=cfg.isa,
               GRADFIT_TUNING=f"kc={cfg.kc},matmul_kc={cfg.matmul_kc},a_cols_span={cfg.a_cols_span}")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stderr
    out = np.load(path)
    assert str(out["isa"]) == cfg.isa
    assert int(out["panel"]) == cfg.kc * 2 * _tuning.VEC_BYTES[cfg.isa]
    assert (int(out["mkc"]), int(out["span"])) == (cfg.matmul_kc, cfg.a_cols_span)
    assert out["sources"].tolist() == ["env"] * 3
    for i, (dtype, sizes, batch) in enumerate(cases):
        m, X, y = problem(sizes, batch, dtype)
        with in_config(cfg):
            value, grad, forward_loss, pred = c_passes(m, X, y)
        what = f"{cfg.id} {dtype} sizes={sizes} batch={batch}"
        np.testing.assert_array_equal(out[f"grad{i}"], grad, err_msg=what)
        np.testing.assert_array_equal(out[f"pred{i}"], pred, err_msg=what)
        assert out[f"loss{i}"].tolist() == [value, forward_loss], what


# -- every value the selector's rules can give, one tunable at a time ---------------------------------

KC_RANGE = tuple(range(64, _tuning.KC_BOUND + 1, 32))
MATMUL_KC_RANGE = (64, 128, 256, 512, 1024)
SPAN_RANGE = (4096, 8192, 16384, 32768, 65536)


def test_the_selector_gives_only_values_of_the_swept_ranges():
    """Over L1d sizes of 8 KiB to 1 MiB and L2 sizes of 128 KiB to 64 MiB
    (and unknown caches) on every path, choose() gives kc, matmul_kc and
    a_cols_span within KC_RANGE, MATMUL_KC_RANGE and SPAN_RANGE, which the
    test below runs one at a time; and it gives each of them somewhere."""
    seen = {"kc": set(), "matmul_kc": set(), "a_cols_span": set()}
    kib = 1024
    l1ds = [0] + [k * 8 * kib for k in range(1, 17)] + [2 ** i * kib for i in range(8, 11)]
    l2s = [0] + [k * 128 * kib for k in range(1, 17)] + [2 ** i * kib for i in range(12, 17)]
    for isa in ("avx512", "avx2", "baseline", "neon"):
        for l1d in l1ds:
            for l2 in l2s:
                v = _tuning.choose(_tuning.Cpu(l1d=l1d, l2=l2, arch="x86_64"), isa)
                for key, values in seen.items():
                    values.add(v[key]["value"])
    assert seen["kc"] == set(KC_RANGE)
    assert seen["matmul_kc"] == set(MATMUL_KC_RANGE)
    assert seen["a_cols_span"] == set(SPAN_RANGE)


def _range_configs():
    """Each value of the ranges on each path, the other two at tuning.h's
    defaults; those not already in CONFIGS."""
    known = {(c.isa, c.kc, c.matmul_kc, c.a_cols_span) for c in CONFIGS}
    out = []
    for isa in [p for p in ORDER if p in PATHS]:
        home_kc = min(_tuning.KC_BOUND, 16384 // (2 * _tuning.VEC_BYTES[isa]))
        keys = [(isa, kc, 256, 16384) for kc in KC_RANGE]
        keys += [(isa, home_kc, mkc, 16384) for mkc in MATMUL_KC_RANGE]
        keys += [(isa, home_kc, 256, span) for span in SPAN_RANGE]
        for key in dict.fromkeys(keys):
            if key not in known:
                out.append(Config(*key, ("range",)))
    return out


RANGE_CONFIGS = _range_configs()


@pytest.mark.slow
@pytest.mark.parametrize("cfg", RANGE_CONFIGS, ids=_ids(RANGE_CONFIGS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_value_of_the_ranges(cfg, dtype):
    """The packed and unpacked products past each edge of cfg: the float64
    reference, and tuning.h's bits."""
    for sizes, batch, what in _packed_shapes(cfg, dtype, False) + _small_shapes(cfg, dtype, False):
        check_passes(cfg, dtype, sizes, batch, what=what)


#: values GRADFIT_TUNING accepts that no CPU gets: the smallest and odd k
#: blocks (kc 8 to 256), the C core's bounds of matmul_kc (16 to 4096) and
#: of a_cols_span (1 KiB to 1 MiB)
FORCED = ((8, 16, 1024), (9, 17, 5000), (33, 100, 1 << 20), (255, 4096, 16384))
FORCED_CONFIGS = [Config(isa, *v, ("forced",)) for isa in ORDER if isa in PATHS for v in FORCED]


@pytest.mark.slow
@pytest.mark.parametrize("cfg", FORCED_CONFIGS, ids=_ids(FORCED_CONFIGS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_only_the_environment_forces(cfg, dtype):
    """GRADFIT_TUNING's odd and extreme values keep the products right and
    their bits."""
    for sizes, batch, what in _packed_shapes(cfg, dtype, False) + _small_shapes(cfg, dtype, False):
        check_passes(cfg, dtype, sizes, batch, what=what)
