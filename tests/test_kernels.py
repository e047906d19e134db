"""The C core's matrix-product kernels (issue 7) against plain NumPy products,
on every SIMD path, in float32 and float64.

A 2-layer net with identity activations and the sse loss makes every product
of the core visible in the result:

    forward   z1 = X W1 + b1      (M=batch, K=IN,    N=H)
              p  = z1 W2 + b2     (M=batch, K=H,     N=OUT)
    backward  dW2 = z1^T dp       (M=H,     K=batch, N=OUT)   A transposed view
              dz1 = dp W2^T       (M=batch, K=OUT,   N=H)     B transposed view
              dW1 = X^T dz1       (M=IN,    K=batch, N=H)

The shapes cross every block edge of every path: rows of the register block
(6 or 8) and of the small-row paths (< 4 rows), columns of a panel (4 to 32
elements, depending on dtype and instruction set), the k block (the run-time
kc detected here; tests/test_tuning_kernels.py crosses every kc the selector
gives), narrow outputs (1-3 columns), chunks smaller than the batch.
"""
import numpy as np
import pytest

import gradfit as gf
from gradfit import _core

NO_IDX = np.empty(0, np.int64)

# (batch, IN, H, OUT)
SHAPES = [
    (1, 1, 1, 1),
    (1, 5, 33, 3),
    (2, 3, 7, 2),
    (3, 17, 16, 4),
    (4, 8, 8, 8),
    (5, 9, 31, 10),
    (6, 2, 32, 1),
    (7, 33, 17, 5),
    (8, 16, 64, 16),
    (9, 4, 65, 33),
    (13, 1, 24, 9),
    (17, 64, 48, 15),
    (33, 31, 129, 2),
    (64, 64, 64, 1),
    (70, 300, 40, 260),       # K > k block in the forward product and in dz1
    (270, 12, 36, 7),         # K = batch > k block in dW1, dW2
    (1, 1024, 1024, 2),       # the widest layers, one row
    (256, 1024, 520, 3),      # the widest input, the largest batch of the benchmarks
    (64, 64, 40, 10),         # dW1's A = X^T read in place: k block x IN = 16 KiB in float32
    (64, 65, 40, 10),         # ... one column more: packed (pack_a) in float32
    (32, 67, 24, 9),          # in place, a ragged last row block of dW1 packed
]


def _problem(shape, dtype, seed=0):
    batch, IN, H, OUT = shape
    m = gf.MLP([IN, H, OUT], activation="identity", output_activation="identity",
               dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    m.params[:] = rng.normal(size=m.params.shape).astype(dtype)
    X = rng.normal(size=(batch, IN)).astype(dtype)
    y = rng.normal(size=(batch, OUT)).astype(dtype)
    return m, X, y


def _unpack(params, IN, H, OUT):
    p = params.astype(np.float64)
    W1 = p[:IN * H].reshape(IN, H)
    b1 = p[IN * H:IN * H + H]
    o = IN * H + H
    W2 = p[o:o + H * OUT].reshape(H, OUT)
    b2 = p[o + H * OUT:]
    return W1, b1, W2, b2


def _reference(m, X, y):
    """Loss (sse, mean over rows), gradient and prediction in float64 NumPy."""
    batch, IN = X.shape
    H, OUT = m.layer_sizes[1], m.layer_sizes[2]
    W1, b1, W2, b2 = _unpack(m.params, IN, H, OUT)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    z1 = X64 @ W1 + b1
    p = z1 @ W2 + b2
    dp = 2.0 * (p - y64)
    dW2 = z1.T @ dp
    dz1 = dp @ W2.T
    dW1 = X64.T @ dz1
    grad = np.concatenate([dW1.ravel(), dz1.sum(0), dW2.ravel(), dp.sum(0)])
    return float(((p - y64) ** 2).sum()), grad, p


def _c_loss_grad(m, X, y, chunk):
    grad = np.empty_like(m.params)
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, chunk), m.dtype)
    value = _core.loss_grad(m._sizes, m._acts, _core.LOSSES["sse"], m.params, grad, X, y,
                            np.empty(0, m.dtype), NO_IDX, chunk, ws)
    return value, grad


def _tol(dtype):
    return (2e-5, 2e-6) if dtype == "float32" else (1e-11, 1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_products_match_numpy(simd_path, shape, dtype):
    m, X, y = _problem(shape, dtype)
    value, grad = _c_loss_grad(m, X, y, chunk=X.shape[0])
    ref_value, ref_grad, ref_pred = _reference(m, X, y)
    rtol, atol = _tol(dtype)
    scale = np.abs(ref_grad).max()
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=atol * scale * 10)
    assert value == pytest.approx(ref_value, rel=rtol * 10)
    pred = m.predict(X)
    np.testing.assert_allclose(pred, ref_pred, rtol=rtol, atol=atol * np.abs(ref_pred).max() * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chunk", [1, 3, 5, 9])
def test_products_in_chunks_match_numpy(simd_path, chunk, dtype):
    """Chunks smaller than the batch: the products see every row count from
    1 up and the gradients of the chunks add up."""
    m, X, y = _problem((23, 19, 37, 6), dtype, seed=3)
    _, grad = _c_loss_grad(m, X, y, chunk=chunk)
    _, ref_grad, _ = _reference(m, X, y)
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=atol * np.abs(ref_grad).max() * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chunk", [64, 5])
@pytest.mark.parametrize("OUT", [1, 3, 10, 64, 70, 130])
def test_bias_gradient_is_each_column_summed_in_row_order(simd_path, OUT, chunk, dtype):
    """The output layer's bias gradient is each column of dp = 2 (p - y)
    summed over the rows in order in the dtype, from the first row: column
    blocks whose sums stay in registers and the columns left over (a 1-wide
    layer's one) give those bits, and chunks of 5 rows add on in the same
    order."""
    m, X, y = _problem((64, 7, 24, OUT), dtype, seed=5)  # wider than the lanes path
    _, grad = _c_loss_grad(m, X, y, chunk=chunk)
    dp = 2 * (m.predict(X) - y)
    assert dp.dtype == np.dtype(dtype)
    expect = dp[0].copy()
    for row in dp[1:]:
        expect = expect + row
    assert grad[-OUT:].tobytes() == expect.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nan_in_one_row_stays_in_that_row(simd_path, dtype):
    """A NaN in one input row makes that row's prediction NaN and no other:
    the zero padding of the packed panels must not spread it."""
    m, X, y = _problem((19, 40, 70, 3), dtype, seed=5)
    X[11, 7] = np.nan
    pred = np.empty((19, 3), dtype)
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, 19), dtype)
    _core.predict(m._sizes, m._acts, m.params, X, 19, ws, pred)
    bad = ~np.isfinite(pred).all(axis=1)
    assert bad.tolist() == [i == 11 for i in range(19)]
    _, grad = _c_loss_grad(m, X, y, chunk=X.shape[0])
    assert np.isnan(grad).any()


# -- threads (n_threads= on the _core entry points) --------------------------------
def _train_once(m, X, y, n_threads, epochs=2, batch=64):
    """gf_train through _core on a copy of m's params; returns (params, status tuple, epoch losses)."""
    params = m.params.copy()
    grad = np.empty_like(params)
    N = X.shape[0]
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, batch, _core.OPTIMIZERS["sgd"]), m.dtype)
    _core.reset_prev(m._sizes, m._acts, batch, _core.OPTIMIZERS["sgd"], params, np.empty(0, m.dtype),
                     np.zeros(1, np.int64), ws)
    idx = np.concatenate([np.random.default_rng(e).permutation(N) for e in range(epochs)]).astype(np.int64)
    sums = [np.zeros(epochs), np.zeros(epochs), np.zeros(epochs), np.zeros(epochs, np.int64)]
    out = _core.train(m._sizes, m._acts, _core.LOSSES["mse"], _core.OPTIMIZERS["sgd"], batch, batch, -1, 0.0, -1,
                      params, grad, np.empty(0, m.dtype), ws, X, y, np.empty(0, m.dtype), idx, epochs, 0,
                      np.full(epochs, 1e-3), np.zeros(1, np.int64), *sums, n_threads=n_threads)
    return params, out, sums[0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [2, 3])
def test_threads_give_the_one_thread_results_exactly(simd_path, n_threads, dtype):
    """Each thread computes its own columns of a product with the same sums in
    the same order: any thread count gives bit-identical gradients, losses,
    predictions and training runs (the issue asks for 1e-12 in float64)."""
    m, X, y = _problem((200, 96, 300, 40), dtype, seed=7)
    chunk = X.shape[0]
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, chunk), m.dtype)
    results = {}
    for nt in (1, n_threads):
        g = np.empty_like(m.params)
        v = _core.loss_grad(m._sizes, m._acts, _core.LOSSES["sse"], m.params, g, X, y,
                            np.empty(0, dtype), NO_IDX, chunk, ws, n_threads=nt)
        pred = np.empty((X.shape[0], 40), dtype)
        _core.predict(m._sizes, m._acts, m.params, X, chunk, ws, pred, n_threads=nt)
        lv = _core.loss(m._sizes, m._acts, _core.LOSSES["mse"], m.params, X, y, np.empty(0, dtype),
                        chunk, ws, n_threads=nt)
        results[nt] = (v, g, pred, lv, _train_once(m, X, y, nt))
    (v1, g1, p1, l1, t1), (v2, g2, p2, l2, t2) = results[1], results[n_threads]
    assert v1 == v2 and l1 == l2
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(t1[0], t2[0])
    assert t1[1] == t2[1]
    np.testing.assert_array_equal(t1[2], t2[2])
    # and the products are right (not just equally wrong)
    _, ref_grad, _ = _reference(m, X, y)
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(g2, ref_grad, rtol=rtol, atol=atol * np.abs(ref_grad).max() * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threads_with_a_short_last_k_block(simd_path, dtype):
    """dW1 here (96 x 300 over 200 rows) has its k blocks cut short by the
    packing scratch, so that the last k block is shorter than the others:
    one thread in the short block while the other is still in a full one must
    not pack over the other's panels (it did: panels were placed by the
    current block's length). Repeated, since a race shows up only sometimes."""
    m, X, y = _problem((200, 96, 300, 40), dtype, seed=7)
    chunk = X.shape[0]
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, chunk), m.dtype)
    grads = []
    for nt in [1] + [2] * 20:
        g = np.empty_like(m.params)
        _core.loss_grad(m._sizes, m._acts, _core.LOSSES["sse"], m.params, g, X, y,
                        np.empty(0, dtype), NO_IDX, chunk, ws, n_threads=nt)
        grads.append(g)
    for g in grads[1:]:
        np.testing.assert_array_equal(g, grads[0])


def test_threads_from_concurrent_python_threads():
    """Two Python threads training with different n_threads at once (the pool
    serves one caller at a time; the other runs its parts itself): both get
    the results of a lone run."""
    import threading
    m, X, y = _problem((256, 64, 256, 8), "float64", seed=9)
    expected = _train_once(m, X, y, 1)[0]
    got = {}

    def work(key, nt):
        got[key] = [_train_once(m, X, y, nt)[0] for _ in range(3)]

    threads = [threading.Thread(target=work, args=(k, nt)) for k, nt in (("a", 2), ("b", 3), ("c", 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for runs in got.values():
        for params in runs:
            np.testing.assert_array_equal(params, expected)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "2", _core.MAX_THREADS + 1])
def test_bad_n_threads(bad):
    m, X, y = _problem((4, 3, 5, 2), "float64")
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, 4), m.dtype)
    pred = np.empty((4, 2))
    with pytest.raises(ValueError, match=r"^n_threads: expected an integer in \[1, \d+\], got"):
        _core.predict(m._sizes, m._acts, m.params, X, 4, ws, pred, n_threads=bad)


# -- the products' epilogue: bias, activation, f'(z) and da * f'(z) fused ----------
_ACTS = {
    "tanh": (np.tanh, lambda z, a: 1.0 - a * a),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, a: (z > 0).astype(np.float64)),
    "sigmoid": (lambda z: 1.0 / (1.0 + np.exp(-z)), lambda z, a: a * (1.0 - a)),
    "softplus": (lambda z: np.logaddexp(0.0, z), lambda z, a: 1.0 / (1.0 + np.exp(-z))),
}

# (batch, IN, H1, H2, OUT): rows across the register block (6/8) and below
# 4 (the unpacked paths), columns across a panel (4-32) and the half panel,
# K across the k block (256 and its smaller float64 / AVX-512 sizes)
EPI_SHAPES = [
    (1, 3, 5, 7, 1),
    (3, 1, 64, 64, 1),
    (7, 9, 33, 17, 2),
    (9, 17, 31, 65, 10),
    (16, 64, 128, 10, 3),
    (64, 1, 64, 64, 1),
    (64, 64, 128, 10, 10),
    (70, 300, 40, 260, 5),
    (200, 96, 300, 40, 3),    # large enough for 2 threads (GF_PARALLEL_MACS)
]


def _reference_act(sizes, params, acts, X, y):
    """sse loss and gradient of a net with hidden activations, float64 NumPy."""
    p = params.astype(np.float64)
    Ws, bs, off = [], [], 0
    for i, o in zip(sizes[:-1], sizes[1:]):
        Ws.append(p[off:off + i * o].reshape(i, o)); off += i * o
        bs.append(p[off:off + o]); off += o
    a, zs, As = X.astype(np.float64), [], [X.astype(np.float64)]
    for l, (W, b) in enumerate(zip(Ws, bs)):
        z = a @ W + b
        a = _ACTS[acts[l]][0](z) if acts[l] != "identity" else z
        zs.append(z); As.append(a)
    d = 2.0 * (a - y)
    grads = []
    for l in range(len(Ws) - 1, -1, -1):
        if acts[l] != "identity":
            d = d * _ACTS[acts[l]][1](zs[l], As[l + 1])
        grads = [As[l].T @ d, d.sum(0)] + grads
        d = d @ Ws[l].T
    return float(((a - y) ** 2).sum()), np.concatenate([g.ravel() for g in grads]), a


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", sorted(_ACTS))
@pytest.mark.parametrize("shape", EPI_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_fused_activation_epilogue_matches_numpy(simd_path, shape, act, dtype):
    """Hidden activations run in the product's epilogue (forward: bias, f(z),
    f'(z); backward: dinp written, not added, times f'(z) of the layer
    below): gradient, loss and prediction against float64 NumPy, and the
    same bits on 2 threads (whose parts apply the activation to their own
    columns of each row block)."""
    batch, IN, H1, H2, OUT = shape
    sizes = [IN, H1, H2, OUT]
    m = gf.MLP(sizes, activation=act, output_activation="identity", dtype=dtype, seed=2)
    rng = np.random.default_rng(11)
    m.params[:] = (rng.normal(size=m.params.shape) * 0.5).astype(dtype)
    X = rng.normal(size=(batch, IN)).astype(dtype)
    y = rng.normal(size=(batch, OUT)).astype(dtype)
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, batch), m.dtype)
    grads, values = [], []
    for nt in (1, 2):
        g = np.full_like(m.params, np.nan)     # the core must overwrite every entry
        values.append(_core.loss_grad(m._sizes, m._acts, _core.LOSSES["sse"], m.params, g, X, y,
                                      np.empty(0, dtype), NO_IDX, batch, ws, n_threads=nt))
        grads.append(g)
    assert values[0] == values[1]
    np.testing.assert_array_equal(grads[0], grads[1])
    ref_value, ref_grad, ref_pred = _reference_act(sizes, m.params, [act, act, "identity"], X, y)
    rtol, atol = (1e-4, 1e-5) if dtype == "float32" else (1e-10, 1e-12)
    np.testing.assert_allclose(grads[0], ref_grad, rtol=rtol, atol=atol * np.abs(ref_grad).max() * 10)
    assert values[0] == pytest.approx(ref_value, rel=rtol * 10)
    pred = m.predict(X)
    np.testing.assert_allclose(pred, ref_pred, rtol=rtol, atol=atol * np.abs(ref_pred).max() * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", sorted(_ACTS))
def test_activation_loop_gives_an_element_the_same_value_at_any_position(simd_path, act, dtype):
    """act_forward's loops take a run of values in steps of several vectors,
    then narrower steps and a masked tail (float32 tanh on AVX-512: 4, 2, 1
    vectors of 16, then the tail): an element's value and derivative are the
    same bits whichever step it falls in, and both are the function's."""
    from gradfit._names import ACTIVATIONS
    rng = np.random.default_rng(7)
    z = (rng.standard_normal(160) * 3).astype(dtype)
    z[::13] = [0.0, -0.0, 9.5, -10.5, 30.0, -30.0, 1e-6, -1e-6, 0.5, -0.5, 2.0, -2.0, 4.0]
    a_all, d_all = np.empty_like(z), np.empty_like(z)
    _core._activation(ACTIVATIONS[act], z, a_all, d_all)
    f, fprime = _ACTS[act]
    z64 = z.astype(np.float64)
    rtol = 8 * np.finfo(dtype).eps
    np.testing.assert_allclose(a_all, f(z64), rtol=rtol, atol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(d_all, fprime(z64, f(z64)), rtol=rtol, atol=16 * np.finfo(dtype).eps)
    for start in (0, 1, 17):
        for n in range(0, 140):
            part = z[start:start + n]
            a, d = np.full_like(part, np.nan), np.full_like(part, np.nan)
            _core._activation(ACTIVATIONS[act], part, a, d)
            np.testing.assert_array_equal(a, a_all[start:start + n], err_msg=f"value, {start}+{n}")
            np.testing.assert_array_equal(d, d_all[start:start + n], err_msg=f"f', {start}+{n}")
            a_only = np.full_like(part, np.nan)
            _core._activation(ACTIVATIONS[act], part, a_only, np.empty(0, part.dtype))
            np.testing.assert_array_equal(a_only, a, err_msg=f"value without f', {start}+{n}")

# (rows, classes): the softmax cross-entropy kernel (ce_rows in ops.inc) runs
# the exponentials of a block of rows as one flat loop, in blocks of 1024
# values without a gradient buffer and of 1024 rows with one; rows wider than
# 1024 classes take a per-row path when there is no gradient.
CE_SHAPES = [(1, 1), (1, 3), (7, 10), (64, 10), (103, 10), (150, 17), (2, 1030), (1100, 2), (5, 1024)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", CE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_cross_entropy_kernel_matches_numpy(simd_path, shape, dtype):
    B, OUT = shape
    rng = np.random.default_rng(B * 1000 + OUT)
    m = gf.MLP([3, OUT], output_activation="identity", dtype=dtype, seed=1)
    m.params[:] = (3 * rng.normal(size=m.params.shape)).astype(dtype)
    X = rng.normal(size=(B, 3)).astype(dtype)
    t = rng.uniform(size=(B, OUT))
    y = (t / t.sum(1, keepdims=True)).astype(dtype)        # soft targets, rows sum to 1
    y[0] *= 2                                                # and one row that sums to 2
    sw = rng.uniform(0.5, 2.0, size=B).astype(dtype)
    W, b = m.params[:3 * OUT].astype(np.float64).reshape(3, OUT), m.params[3 * OUT:].astype(np.float64)
    p = X.astype(np.float64) @ W + b
    y64, w64 = y.astype(np.float64), sw.astype(np.float64)
    mx = p.max(1, keepdims=True)
    lse = mx[:, 0] + np.log(np.exp(p - mx).sum(1))
    s = y64.sum(1)
    rows = s * lse - (y64 * p).sum(1)
    ref_value = float((w64 * rows).sum() / w64.sum())
    dp = (w64 / w64.sum())[:, None] * (s[:, None] * np.exp(p - lse[:, None]) - y64)
    ref_grad = np.concatenate([(X.astype(np.float64).T @ dp).ravel(), dp.sum(0)])

    grad = np.empty_like(m.params)
    ws = np.empty(_core.workspace_len(m._sizes, m._acts, B), m.dtype)
    ce = _core.LOSSES["cross_entropy"]
    value = _core.loss_grad(m._sizes, m._acts, ce, m.params, grad, X, y, sw, NO_IDX, B, ws)
    value_fwd = _core.loss(m._sizes, m._acts, ce, m.params, X, y, sw, B, ws)
    rtol = 2e-5 if dtype == "float32" else 1e-12
    assert value == pytest.approx(ref_value, rel=rtol)
    assert value_fwd == pytest.approx(ref_value, rel=rtol)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * np.abs(ref_grad).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("width", range(1, 34))
def test_every_ragged_panel_width_matches_numpy(simd_path, width, dtype):
    """Every width of the last, ragged column panel (1 .. 33 columns: the
    panels are 4 to 32 wide), with whole row blocks (24 rows) so that the
    micro-kernel's masked edge is used, for the bias-initialised forward
    product (N = width), dW (C loaded, N = width) and dz1 (C zeroed, N = width)."""
    m, X, y = _problem((24, 7, width, width), dtype, seed=width)
    value, grad = _c_loss_grad(m, X, y, chunk=24)
    ref_value, ref_grad, ref_pred = _reference(m, X, y)
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=atol * np.abs(ref_grad).max() * 10)
    assert value == pytest.approx(ref_value, rel=rtol * 10)
    np.testing.assert_allclose(m.predict(X), ref_pred, rtol=rtol, atol=atol * np.abs(ref_pred).max() * 10)


@pytest.mark.parametrize("opt", [dict(optimizer="sgd"), dict(optimizer="sgd", momentum=0.9),
                                 dict(optimizer="sgd", momentum=0.9, nesterov=True), dict(optimizer="adam"),
                                 dict(optimizer="adamw", weight_decay=0.1)])
def test_the_update_of_a_large_net_over_threads_is_the_one_thread_update(simd_path, opt):
    """Above 2^16 parameters the optimizer update (and the copy a divergence
    rolls back to) is split over the threads in whole cache lines: every
    optimizer gives bit-identical parameters, state and losses for 1, 2 and 3
    threads, and the update is the NumPy backend's."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(96, 130))
    y = rng.normal(size=(96, 2))
    runs = {}
    for nt in (1, 2, 3):
        m = gf.MLP([130, 500, 2], activation="tanh", seed=1)
        assert m.n_params > 1 << 16
        r = gf.train(m, X, y, lr=1e-3, batch_size=32, epochs=2, seed=0, n_threads=nt, **opt)
        runs[nt] = (m.params.copy(), r.history["loss"])
    for nt in (2, 3):
        np.testing.assert_array_equal(runs[nt][0], runs[1][0])
        assert runs[nt][1] == runs[1][1]
    ref = gf.MLP([130, 500, 2], activation="tanh", seed=1)
    gf.train(ref, X, y, lr=1e-3, batch_size=32, epochs=2, seed=0, backend="numpy", **opt)
    np.testing.assert_allclose(runs[2][0], ref.params, rtol=1e-9, atol=1e-12)


# Shapes on which every product takes the packed path (batch >= 4, every
# width >= 4, one layer wider than 16 so that the net is not one for the
# rows-in-lanes path of lanes.inc, whose reductions over rows do depend on
# the vector width): the register micro-kernel, whole and ragged panels
# (10 of 16 columns on both paths), k blocks.
SAME_SUMS_SHAPES = [(64, 64, 128, 10), (24, 20, 10, 10), (24, 17, 13, 5), (30, 9, 33, 17),
                    (12, 300, 40, 260), (270, 12, 36, 7)]


@pytest.mark.skipif(not {"avx2", "avx512"} <= set(gf.config()["simd_available"]),
                    reason="needs a CPU with both the AVX2 and the AVX-512 path")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SAME_SUMS_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_avx2_and_avx512_products_give_the_same_bits(shape, dtype):
    """The AVX2 micro-kernel (named 8-lane registers, masked ragged edge)
    forms every entry of every product as the AVX-512 one does: from the
    bias, C or 0, then one fused multiply-add per k in order. The vector
    width and the k block differ (panels of 16 vs 32 float32, k blocks of
    256 vs 128), the sums do not: the gradients (products, bias sums and
    the sse gradient, no cross-lane reduction) are the same bits on both
    paths, and match float64 NumPy."""
    m, X, y = _problem(shape, dtype, seed=sum(shape))
    previous = gf.simd()
    grads = {}
    try:
        for path in ("avx2", "avx512"):
            gf.simd(path)
            grads[path] = _c_loss_grad(m, X, y, chunk=shape[0])[1]
    finally:
        gf.simd(previous)
    np.testing.assert_array_equal(grads["avx2"], grads["avx512"])
    ref_value, ref_grad, _ = _reference(m, X, y)
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(grads["avx2"], ref_grad, rtol=rtol, atol=atol * np.abs(ref_grad).max() * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transposed_a_in_place_and_packed_give_the_same_bits(simd_path, dtype):
    """dW1 = X^T dz1 reads X^T (a transposed view) in place when the k
    block's rows of it span at most 16 KiB (tuning.h GF_A_COLS_SPAN), else
    packs it (pack_a). The same problem with IN widened by 8 zero columns of
    X (and zero rows of W1) crosses that bound: z1, dz1 and the first IN
    rows of dW1 are the same sums in the same order (the extra terms are
    exact zeros), so they are the same bits whichever way A was read."""
    batch, H, OUT = 64, 40, 10
    IN = 16384 // (batch * np.dtype(dtype).itemsize)       # 64 in float32, 32 in float64
    m, X, y = _problem((batch, IN, H, OUT), dtype, seed=5)
    value, grad = _c_loss_grad(m, X, y, chunk=batch)
    wide = gf.MLP([IN + 8, H, OUT], activation="identity", output_activation="identity",
                  dtype=dtype, seed=0)
    W1 = np.zeros((IN + 8, H), dtype)
    W1[:IN] = m.params[:IN * H].reshape(IN, H)
    wide.params[:] = np.concatenate([W1.ravel(), m.params[IN * H:]])
    Xw = np.zeros((batch, IN + 8), dtype)
    Xw[:, :IN] = X
    Xw[:, IN:] = 0.0
    value_w, grad_w = _c_loss_grad(wide, Xw, y, chunk=batch)
    assert value_w == value
    np.testing.assert_array_equal(grad_w[:IN * H], grad[:IN * H])                # dW1
    np.testing.assert_array_equal(grad_w[IN * H:(IN + 8) * H], 0.0)             # zero X columns
    np.testing.assert_array_equal(grad_w[(IN + 8) * H:], grad[IN * H:])         # b1, W2, b2
    _, ref_grad, _ = _reference(m, X, y)
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=atol * np.abs(ref_grad).max() * 10)
