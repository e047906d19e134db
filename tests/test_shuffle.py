"""gradfit's epoch order (gradfit.epoch_order, Sanders' bucketed shuffle in C,
docs/order.md) equals an independent pure-Python replay of its documented
draws, is uniform (chi-square over all orders of 4 and over positions), gives
the same order whether it moves rows or not, and training on the moved copy
gives the same bits as training through the order's indices."""
import numpy as np
import pytest

import itertools
import math
import warnings

import gradfit as gf
from gradfit import _core, _epoch_orders, _loop, shuffling
from gradfit._epoch_orders import EpochOrders as _EpochOrders, window_orders


def same_state(a, b):
    """Two bit generator states (dicts, nested, MT19937's holds an array) equal."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


# --- gradfit's epoch order: an independent replay of the documented draws ---

def next_u64s(bit_generator):
    """The bit generator's next_uint64 draws one at a time (random_raw for the
    64-bit generators; MT19937's 64-bit draw is two 32-bit outputs)."""
    if isinstance(bit_generator, np.random.MT19937):
        g = np.random.Generator(bit_generator)
        while True:
            yield int(g.integers(0, 2**64, dtype=np.uint64))
    while True:
        yield int(bit_generator.random_raw())


def reference_order(bit_generator, n, k=None):
    """docs/order.md, step by step, in plain Python."""
    draws = next_u64s(bit_generator)
    if k is None:
        k = 1
        while k < -(-n // shuffling.BUCKET_ROWS) and k < shuffling.MAX_BUCKETS:
            k *= 2
    bits = k.bit_length() - 1
    buckets = [[] for _ in range(k)]
    if k == 1:
        buckets[0] = list(range(n))
    else:
        for i in range(n):
            if i % 4 == 0:
                word = next(draws)
            piece = (word >> (16 * (i % 4))) & 0xFFFF
            buckets[piece >> (16 - bits)].append(i)
    halves = []

    def draw32():
        if not halves:
            v = next(draws)
            halves.extend([v >> 32, v & 0xFFFFFFFF])     # low half first (popped from the end)
        return halves.pop()

    out = []
    for b in buckets:
        for i in range(len(b) - 1, 0, -1):
            r = i + 1
            p = draw32() * r
            if p & 0xFFFFFFFF < r:
                t = (2**32 - r) % r
                while p & 0xFFFFFFFF < t:
                    p = draw32() * r
            j = p >> 32
            b[i], b[j] = b[j], b[i]
        out += b
    return np.array(out, dtype=np.int64)


EPOCH_BGS = [np.random.PCG64, np.random.PCG64DXSM, np.random.Philox, np.random.SFC64, np.random.MT19937]
B = shuffling.BUCKET_ROWS


@pytest.mark.parametrize("bg_class", EPOCH_BGS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 97, 511, 512, 7919, B - 1, B, B + 1, 2 * B + 1, 4 * B + 3, 100_000])
def test_epoch_order_equals_the_documented_draws(bg_class, n):
    for seed in ([0, 1, 2024] if n <= B + 1 else [5]):
        a = np.random.Generator(bg_class(seed))
        a.integers(0, 10, size=3)                   # PCG64's buffered 32-bit half set: neither used nor changed
        ref_bg = bg_class(seed)
        np.random.Generator(ref_bg).integers(0, 10, size=3)
        got = gf.epoch_order(a, n)
        want = reference_order(ref_bg, n)
        assert got.dtype == np.int64 and got.shape == (n,)
        assert np.array_equal(got, want), (bg_class.__name__, n, seed)
        assert same_state(a.bit_generator.state, ref_bg.state)       # exactly the documented draws
        assert np.array_equal(np.sort(got), np.arange(n))
        if n >= 97:
            assert not np.array_equal(got, np.arange(n))


@pytest.mark.parametrize("k", [1, 2, 4, 64, 1024, 2048, 4096])   # 1024 | 2048: the edge of the four-histogram count
def test_any_bucket_count_follows_the_documented_draws(k):
    for n in [0, 1, 5, 1000, 3 * k + 1]:
        bg, ref = np.random.PCG64(n + k), np.random.PCG64(n + k)
        order = np.empty(n, dtype=np.int64)
        assert _core.epoch_order(bg, order, (), np.empty(n, dtype=np.uint16), buckets=k)
        assert np.array_equal(order, reference_order(ref, n, k))
        assert same_state(bg.state, ref.state)


@pytest.mark.parametrize("bg_class", [np.random.PCG64, np.random.PCG64DXSM])
def test_inline_pcg_equals_the_capsule_path(bg_class):
    lo = _core.ORDER_INLINE_MIN
    for n in [lo - 1, lo, 3 * B + 17, 300_001]:
        a, c = bg_class(n), bg_class(n)
        x, z = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        ids = np.empty(n, dtype=np.uint16)
        assert _core.epoch_order(a, x, (), ids) and _core.epoch_order(c, z, (), ids, inline=False)
        assert np.array_equal(x, z) and same_state(a.state, c.state)


def test_the_numpy_fallback_gives_the_same_orders(monkeypatch):
    """Without the C path (a bit generator without NumPy's C interface)
    shuffling.draw computes the same order, and moves the rows, in NumPy."""
    for n in [0, 3, 1000, 3 * B + 5]:
        X = np.random.default_rng(n).normal(size=(n, 3))
        want = gf.epoch_order(np.random.default_rng(n), n)
        monkeypatch.setattr(shuffling._core, "epoch_order", lambda *a, **kw: False)
        rng = np.random.default_rng(n)
        order, Xs = np.empty(n, dtype=np.int64), np.empty_like(X)
        shuffling.draw(rng, order, np.empty(n, dtype=np.uint16), ((X, Xs),))
        monkeypatch.undo()
        assert np.array_equal(order, want) and np.array_equal(Xs, X[want])
        ref = np.random.default_rng(n)
        gf.epoch_order(ref, n)
        assert same_state(rng.bit_generator.state, ref.bit_generator.state)


@pytest.mark.parametrize("n", [1, 700, 3 * B + 5])
def test_moving_rows_gives_the_same_order_and_the_rows_in_it(n):
    data = np.random.default_rng(n)
    arrays = [data.normal(size=(n, 1)), data.normal(size=(n, 3)).astype(np.float32), data.normal(size=n),
              data.integers(0, 2**60, size=(n, 5)), data.normal(size=(n, 37))]
    moved = [np.empty_like(a) for a in arrays]
    order = np.empty(n, dtype=np.int64)
    rng = np.random.default_rng(9)
    shuffling.draw(rng, order, np.empty(n, dtype=np.uint16), tuple(zip(arrays, moved)))
    ref = np.random.default_rng(9)
    assert np.array_equal(order, gf.epoch_order(ref, n))
    assert same_state(rng.bit_generator.state, ref.bit_generator.state)
    for a, m in zip(arrays, moved):
        assert np.array_equal(m, a[order])
    for xy in [(arrays[0], arrays[2])]:                 # W1's path: two 8-byte rows
        m = [np.empty_like(a) for a in xy]
        shuffling.draw(np.random.default_rng(9), order, np.empty(n, dtype=np.uint16), tuple(zip(xy, m)))
        assert all(np.array_equal(mm, a[order]) for a, mm in zip(xy, m))


def test_epoch_order_rejects_bad_input():
    with pytest.raises(TypeError, match=r"^rng: expected a numpy.random.Generator, got RandomState"):
        gf.epoch_order(np.random.RandomState(0), 5)
    with pytest.raises(ValueError, match=r"^n: expected an integer >= 0, got -1"):
        gf.epoch_order(np.random.default_rng(0), -1)
    with pytest.raises(ValueError, match=r"^n: expected an integer >= 0, got 2.5"):
        gf.epoch_order(np.random.default_rng(0), 2.5)
    with pytest.raises(ValueError, match=r"^buckets: expected 0 or a power of two in \[1, 4096\], got 3"):
        _core.epoch_order(np.random.PCG64(0), np.empty(9, dtype=np.int64), (), np.empty(9, dtype=np.uint16),
                          buckets=3)
    with pytest.raises(ValueError, match=r"^ids: expected at least 20000 uint16 entries, got None"):
        _core.epoch_order(np.random.PCG64(0), np.empty(20000, dtype=np.int64))
    with pytest.raises(ValueError, match=r"^rows\[0\]: expected src and dst of the same dtype"):
        _core.epoch_order(np.random.PCG64(0), np.empty(4, dtype=np.int64),
                          ((np.zeros((4, 2)), np.zeros((4, 2), dtype=np.float32)),))
    assert shuffling.n_buckets(0) == 1 and shuffling.n_buckets(B) == 1 and shuffling.n_buckets(B + 1) == 2
    assert shuffling.n_buckets(10**6) == 128 and shuffling.n_buckets(10**12) == shuffling.MAX_BUCKETS


# --- uniformity (fixed seeds: deterministic, but a biased shuffle fails) ---

def chi_square(counts, expected):
    counts = np.asarray(counts, dtype=float)
    return float(((counts - expected) ** 2 / expected).sum())


def naive_biased_shuffle(rng, x):
    """A classic wrong shuffle (partner drawn from all n positions): not uniform."""
    n = x.size
    for i in range(n - 1, 0, -1):
        j = int(rng.integers(0, n))
        x[i], x[j] = x[j], x[i]


def order_counts_n4(shuffle, draws):
    index = {p: k for k, p in enumerate(itertools.permutations(range(4)))}
    counts = np.zeros(24, dtype=np.int64)
    x = np.empty(4, dtype=np.int64)
    for _ in range(draws):
        shuffle(x)
        counts[index[tuple(x.tolist())]] += 1
    return counts


# chi-square critical values at p = 1e-5 (23 degrees of freedom, 81 = (10-1)^2 and 19): with
# fixed seeds the tests are deterministic; a uniform shuffle exceeds one of these once in 10^5
# seeds, while the biased shuffle below exceeds it tenfold. (At p = 0.001 the k = 4 case of the
# n = 4 test drew 56.9, p = 1e-4; three other seeds of 200,000 draws each gave 18 to 24.)
CHI2_23 = 63.97
CHI2_81 = 147.10
CHI2_19 = 57.37


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_all_24_orders_of_4_are_equally_likely(k):
    """Every order of 4 elements, with the buckets k of the real algorithm
    (k = 1 at this size) and with 2, 4 and 8 buckets (so that the bucket
    step, which large n uses, is itself checked on a size small enough to
    count every permutation)."""
    draws = 48_000
    bg = np.random.PCG64(11 + k)
    ids = np.empty(4, dtype=np.uint16)
    counts = order_counts_n4(lambda x: _core.epoch_order(bg, x, (), ids, buckets=k), draws)
    assert counts.sum() == draws and counts.min() > 0
    stat = chi_square(counts, draws / 24)
    assert stat < CHI2_23, stat


def test_the_chi_square_check_rejects_a_biased_shuffle():
    rng = np.random.default_rng(11)

    def biased(x):
        x[:] = np.arange(4)
        naive_biased_shuffle(rng, x)
    counts = order_counts_n4(biased, 24_000)
    assert chi_square(counts, 24_000 / 24) > 10 * CHI2_23


@pytest.mark.parametrize("k", [1, 4])
def test_every_value_lands_in_every_position_equally_often(k):
    n, draws = 10, 40_000
    bg = np.random.SFC64(12)
    counts = np.zeros((n, n), dtype=np.int64)     # counts[position, value]
    x, ids = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.uint16)
    for _ in range(draws):
        _core.epoch_order(bg, x, (), ids, buckets=k)
        counts[np.arange(n), x] += 1
    assert (counts.sum(axis=0) == draws).all() and (counts.sum(axis=1) == draws).all()
    stat = chi_square(counts, draws / n)
    assert stat < CHI2_81, stat
    sd = math.sqrt(draws * (1 / n) * (1 - 1 / n))
    assert np.abs(counts - draws / n).max() < 5 * sd


def test_positions_are_uniform_at_a_size_with_several_buckets():
    """n = 3 buckets' worth (k = 4, the buckets' sizes random): where rows
    0, n/2 and n-1 land, in 20 equal bins, and which rows land at positions
    0 and n-1, are uniform."""
    n, draws, bins = 3 * B, 1500, 20
    rng = np.random.default_rng(13)
    assert shuffling.n_buckets(n) == 4
    where = np.zeros((3, bins), dtype=np.int64)
    what = np.zeros((2, bins), dtype=np.int64)
    for _ in range(draws):
        order = gf.epoch_order(rng, n)
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = np.arange(n)
        for r, row in enumerate([0, n // 2, n - 1]):
            where[r, inverse[row] * bins // n] += 1
        for r, pos in enumerate([0, n - 1]):
            what[r, order[pos] * bins // n] += 1
    for counts in list(where) + list(what):
        assert chi_square(counts, draws / bins) < CHI2_19, counts


# --- training: the orders it draws, and the moved copy gives the same bits ---

def regression_data(n=300, seed=0, d=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.sin(X[:, :1]) + 0.5 * X[:, -1:] ** 2
    return X, y


def spy_orders(monkeypatch):
    seen = []
    real_draw = _EpochOrders.draw

    def spy(self, k, first=None, move=False):
        out = real_draw(self, k, first, move)
        seen.append((out.copy(), move))
        return out
    monkeypatch.setattr(_EpochOrders, "draw", spy)
    return seen


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_the_orders_handed_to_the_core_are_successive_epoch_orders(monkeypatch, backend):
    seen = spy_orders(monkeypatch)
    X, y = regression_data(n=257)
    gf.train(gf.MLP([2, 4, 1], seed=0), X, y, batch_size=16, epochs=7, seed=99, backend=backend)
    orders = np.concatenate([o for o, _ in seen])
    rng = np.random.default_rng(99)
    assert np.array_equal(orders, np.concatenate([gf.epoch_order(rng, 257) for _ in range(7)]))


def test_a_trainer_continuing_a_generator_draws_one_order_per_epoch():
    X, y = regression_data()
    rng = np.random.Generator(np.random.Philox(8))
    rng.random()                                   # an arbitrary position in the stream
    t = gf.Trainer(gf.MLP([2, 8, 1], activation="tanh", seed=4), lr=0.05, batch_size=16, seed=rng)
    for epochs in (1, 3, 2):
        t.fit(X, y, epochs=epochs)
    ref = np.random.Generator(np.random.Philox(8))
    ref.random()
    for _ in range(6):
        gf.epoch_order(ref, 300)
    assert same_state(ref.bit_generator.state, rng.bit_generator.state)


def test_window_orders_with_one_block_are_the_epoch_order():
    """A memmap's default shuffle="window" visits the rows in shuffle=True's
    order when they fit in one block (train_many by path relies on it)."""
    for N in [1, 300, 3 * B + 1]:
        windows = list(window_orders(N, N, 4, np.random.default_rng(17)))
        assert len(windows) == 1
        assert np.array_equal(windows[0], gf.epoch_order(np.random.default_rng(17), N))
    windows = list(window_orders(1003, 50, 4, np.random.default_rng(17)))
    assert len(windows) == 6 and np.array_equal(np.sort(np.concatenate(windows)), np.arange(1003))


def force_copy(monkeypatch, on):
    """Copy mode on for any size and row width (on=True: the C mover's
    general path for rows of several values too), or off for any size."""
    monkeypatch.setattr(shuffling, "COPY_MIN_BYTES", 0 if on else 1 << 62)
    if on:
        monkeypatch.setattr(shuffling, "COPY_MAX_ROW_BYTES", 1 << 62)


def run_both_ways(monkeypatch, fit):
    """fit() with the rows moved into the shuffled copy, then through the
    order's indices: (results, moved-draw count) each."""
    out = []
    for on in (True, False):
        force_copy(monkeypatch, on)
        seen = spy_orders(monkeypatch)
        out.append((fit(), sum(1 for _, move in seen if move)))
        monkeypatch.undo()
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_on_the_moved_copy_gives_the_same_bits(monkeypatch, dtype, weights, optimizer):
    X, y = regression_data(n=3 * B + 77, d=3)
    sw = np.random.default_rng(4).uniform(0.1, 2, size=len(X)) if weights else None

    def fit():
        m = gf.MLP([3, 5, 1], activation="tanh", seed=1, dtype=dtype)
        r = gf.train(m, X, y, lr=0.01, batch_size=32, epochs=3, seed=8, sample_weight=sw, optimizer=optimizer)
        return m.params.copy(), r.history["loss"], r.steps
    (moved, n_moved), (indexed, n_indexed) = run_both_ways(monkeypatch, fit)
    assert n_moved == 3 and n_indexed == 0           # each epoch's rows were moved, or never
    assert np.array_equal(moved[0], indexed[0])
    assert moved[1:] == indexed[1:]


def test_stops_pending_epochs_and_checkpoints_give_the_same_bits_in_copy_mode(monkeypatch, tmp_path):
    """max_steps mid-epoch, a callback stopping mid-epoch (the pending
    epoch, finished by the next fit through its saved order), and a
    checkpoint resumed: the same bits with and without the moved copy."""
    X, y = regression_data(n=2 * B + 5)

    class StopSoon:
        calls = 0

        def on_progress(self, info):
            StopSoon.calls += 1
            return StopSoon.calls == 2

    def fit():
        StopSoon.calls = 0
        m = gf.MLP([2, 6, 1], activation="tanh", seed=2)
        t = gf.Trainer(m, lr=0.02, batch_size=16, seed=5, callbacks=[StopSoon()])
        monkeypatch.setattr(_loop, "WORK_PER_CALL", 4000)        # C calls pause mid-epoch
        r1 = t.fit(X, y, epochs=3)
        r2 = t.fit(X, y, epochs=2)                                   # finishes the pending epoch first
        r3 = t.fit(X, y, epochs=1, max_steps=100)
        ck = str(tmp_path / "ck.gradfit")
        t.save(ck)
        t2 = gf.load_trainer(ck)
        r4 = t2.fit(X, y, epochs=2)
        return (m.params.copy(), t2.model.params.copy(), [r.stop_reason for r in (r1, r2, r3, r4)],
                [r.steps for r in (r1, r2, r3, r4)], t2.history["loss"])
    (moved, n_moved), (indexed, _) = run_both_ways(monkeypatch, fit)
    assert moved[2][0] == "callback" and moved[2][2] == "max_steps"
    assert n_moved >= 3
    assert np.array_equal(moved[0], indexed[0]) and np.array_equal(moved[1], indexed[1])
    assert moved[2:] == indexed[2:]


def test_divergence_in_copy_mode_replays_the_same_order(monkeypatch):
    """Copy mode does not write the order; a divergence's replay redraws it
    (materialize) and restores the same bits as training through the index,
    also when the last update of the call overflowed (the replay path)."""
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 10, size=(2 * B + 11, 1))
    y = -X + 5

    def fit(**kw):
        m = gf.MLP([1, 1], seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gf.DivergenceWarning)
            r = gf.train(m, X, y, lr=0.05, batch_size=8, epochs=50, seed=2, **kw)
        return m.params.copy(), r.stop_reason, r.steps, r.history["loss"]

    redrawn = []
    real = _EpochOrders.materialize

    def spy(self):
        redrawn.append(self.lazy is not None)
        real(self)
    monkeypatch.setattr(_EpochOrders, "materialize", spy)
    (moved, _), (indexed, _) = run_both_ways(monkeypatch, fit)
    assert moved[1] == "diverged" and moved[2] > 0
    assert np.array_equal(moved[0], indexed[0]) and moved[1:] == indexed[1:]
    steps = moved[2]
    for max_steps in (steps, steps - 1):              # the overflowing update is the call's last
        redrawn.clear()
        monkeypatch.setattr(_EpochOrders, "materialize", spy)
        (moved, _), (indexed, _) = run_both_ways(monkeypatch, lambda: fit(max_steps=max_steps))
        assert np.array_equal(moved[0], indexed[0]) and moved[1:] == indexed[1:]
        assert np.isfinite(moved[0]).all()
    assert any(redrawn)                               # a replay read a redrawn order


def test_moving_without_the_order_gives_the_same_rows_and_state():
    """_core.epoch_order with order=None (copy mode): the same moved rows
    and generator state as with the order written, on every C path."""
    for make in (np.random.PCG64, np.random.PCG64DXSM, np.random.Philox):
        for n in (1, 5, 700, 3 * B + 5, 40_000):
            data = np.random.default_rng(n)
            for arrays in ([data.normal(size=(n, 1)), data.normal(size=n)],                # two 8-byte rows
                           [data.normal(size=(n, 3)).astype(np.float32), data.normal(size=n),
                            data.integers(0, 2**60, size=(n, 5))]):
                with_order = [np.empty_like(a) for a in arrays]
                without = [np.empty_like(a) for a in arrays]
                order = np.empty(n, dtype=np.int64)
                ids = np.empty(n, dtype=np.uint16)
                g1, g2 = np.random.Generator(make(n)), np.random.Generator(make(n))
                shuffling.draw(g1, order, ids, tuple(zip(arrays, with_order)))
                shuffling.draw(g2, None, ids, tuple(zip(arrays, without)))
                assert same_state(g1.bit_generator.state, g2.bit_generator.state)
                for a, b, src in zip(with_order, without, arrays):
                    assert np.array_equal(a, b) and np.array_equal(b, src[order])
    with pytest.raises(ValueError, match=r"^order: expected an int64 array when no rows are moved, got None"):
        _core.epoch_order(np.random.PCG64(0), None, (), None)


def test_copy_mode_is_chosen_by_size(monkeypatch):
    seen = spy_orders(monkeypatch)
    X, y = regression_data(n=80_000, d=1)           # 80,000 rows * 16 bytes = 1.3 MB
    gf.train(gf.MLP([1, 2, 1], seed=0), X, y, batch_size=64, epochs=2, seed=1)
    assert [move for _, move in seen] == [True, True]
    seen.clear()
    gf.train(gf.MLP([1, 2, 1], seed=0), X, y, batch_size=64, epochs=2, seed=1, sample_weight=np.ones(len(y)))
    assert [move for _, move in seen] == [True, True]
    seen.clear()
    X, y = regression_data(n=8000, d=1)             # 128 kB: in cache anyway
    gf.train(gf.MLP([1, 2, 1], seed=0), X, y, batch_size=64, epochs=2, seed=1)
    assert not any(move for _, move in seen)
    seen.clear()
    X, y = regression_data(n=40_000, d=3)           # 1.3 MB, but rows of 3 values: gathered
    gf.train(gf.MLP([3, 2, 1], seed=0), X, y, batch_size=64, epochs=2, seed=1)
    assert seen and not any(move for _, move in seen)
    seen.clear()
    X, y = regression_data(n=80_000, d=1)
    gf.train(gf.MLP([1, 2, 1], seed=0), X, y, batch_size=64, epochs=2, seed=1, backend="numpy")
    assert seen and not any(move for _, move in seen)


def test_the_order_buffers_are_reused_by_the_next_call_and_never_shared(monkeypatch):
    """A finished call's order and moved-row buffers serve the next call in
    its thread (fresh pages cost a page fault each); a call nested in a
    callback, running while the outer one holds them, gets its own; the
    results are those of fresh buffers."""

    monkeypatch.setattr(_epoch_orders, "_SCRATCH", _epoch_orders._Scratch())
    force_copy(monkeypatch, True)
    X, y = regression_data(n=300, d=1)
    used = []
    real_init = _EpochOrders.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        used.append((self.buffer, *self.moved))
    monkeypatch.setattr(_EpochOrders, "__init__", spy)

    def fit(**kw):
        m = gf.MLP([1, 3, 1], activation="tanh", seed=2)
        r = gf.train(m, X, y, lr=0.05, batch_size=16, epochs=3, seed=5, **kw)
        return m.params.copy(), r.history["loss"]
    first = fit()
    second = fit()
    assert all(a is b for a, b in zip(used[0], used[1]))          # reused
    assert np.array_equal(first[0], second[0]) and first[1] == second[1]
    inner = []

    def nested(info):
        if not inner:
            inner.append(fit())
    used.clear()
    outer = fit(callbacks=[nested])
    assert len(used) == 2 and not any(a is b for a in used[0] for b in used[1])
    assert np.array_equal(inner[0][0], first[0]) and inner[0][1] == first[1]
    assert np.array_equal(outer[0], first[0]) and outer[1] == first[1]
    got = {}

    def in_thread():
        got["thread"] = fit()
        got["buffers"] = used[-1]
    import threading
    th = threading.Thread(target=in_thread)
    th.start()
    th.join()
    assert np.array_equal(got["thread"][0], first[0])
    assert not any(a is b for a in got["buffers"] for b in used[0])   # another thread's own


# --- step 3 through a uint16 arrangement (csrc/order.c): buckets of 2..PERM_MAX
# moved rows are shuffled as perm[0..m) in L1 and gathered once; larger buckets,
# order-only draws and rows too wide for the scratch swap in place ---

PERM_MAX = 2**16            # GF_ORDER_PERM_MAX: the largest bucket the arrangement takes
SCRATCH_MAX = 8 << 20       # GF_ORDER_SCRATCH_MAX: arrangement + one bucket's rows, bytes


def bucket_sizes(bit_generator, n, k):
    """The sizes of the k buckets of docs/order.md's step 1 (draws from
    bit_generator)."""
    draws = next_u64s(bit_generator)
    sizes = [0] * k
    if k == 1:
        return [n]
    for i in range(n):
        if i % 4 == 0:
            word = next(draws)
        sizes[((word >> (16 * (i % 4))) & 0xFFFF) >> (16 - (k.bit_length() - 1))] += 1
    return sizes


def row_arrays(n, seed):
    """Sets of arrays moved together: 1 to 3 arrays of one 4- or 8-byte value
    a row (the shapes with loops of their own in csrc/order.c, as training
    moves X, y and weights), and arrays of mixed widths (1, 3, 4, 8, 12, 16,
    296 bytes: the general loops)."""
    data = np.random.default_rng(seed)
    return [
        [data.normal(size=(n, 1)), data.normal(size=n)],
        [data.normal(size=n)],
        [data.normal(size=(n, 1)).astype(np.float32), data.normal(size=n).astype(np.float32),
         data.random(size=n).astype(np.float32)],
        [data.normal(size=n).astype(np.float32), data.integers(0, 2**60, size=n),
         data.integers(0, 255, size=(n, 1), dtype=np.uint8), data.integers(0, 255, size=(n, 3), dtype=np.uint8),
         data.normal(size=(n, 3)).astype(np.float32), data.normal(size=(n, 2)), data.normal(size=(n, 37))],
    ]


def check_moved(bg_class, seed, n, k, arrays):
    """Index mode (order written) and copy mode (order=None): the documented
    order, the rows moved into it, the generator left as the replay leaves it."""
    ref = bg_class(seed)
    want = reference_order(ref, n, k)
    for with_order in (True, False):
        bg = bg_class(seed)
        order = np.empty(n, dtype=np.int64) if with_order else None
        moved = [np.full_like(a, 7) for a in arrays]
        assert _core.epoch_order(bg, order, tuple(zip(arrays, moved)), np.empty(n, dtype=np.uint16), buckets=k)
        if with_order:
            assert np.array_equal(order, want), (bg_class.__name__, n, k)
        for a, m in zip(arrays, moved):
            assert np.array_equal(m, a[want]), (bg_class.__name__, n, k, a.dtype, a.shape, with_order)
        assert same_state(bg.state, ref.state)


@pytest.mark.parametrize("bg_class", [np.random.PCG64, np.random.PCG64DXSM, np.random.Philox],
                         ids=lambda c: c.__name__)
def test_buckets_of_0_1_and_2_rows_move_as_documented(bg_class):
    seen = set()
    for seed in range(40):
        n, k = 9, 8
        sizes = bucket_sizes(bg_class(seed), n, k)
        seen |= set(sizes) & {0, 1, 2}
        for arrays in row_arrays(n, seed):
            check_moved(bg_class, seed, n, k, arrays)
    assert seen == {0, 1, 2}
    for n in (0, 1, 2, 3):                          # one bucket (k = 1) of 0..3 rows
        for arrays in row_arrays(n, n):
            check_moved(bg_class, 3, n, 1, arrays)


@pytest.mark.parametrize("bg_class", [np.random.PCG64, np.random.PCG64DXSM, np.random.Philox],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("n", [PERM_MAX - 1, PERM_MAX, PERM_MAX + 1])
def test_the_largest_arranged_bucket_and_one_above_move_as_documented(bg_class, n):
    """One bucket (k = 1) of 2^16 rows takes the uint16 arrangement (its
    indices 0..65535), one of 2^16 + 1 rows the swaps in place; both give the
    documented order. Also two buckets around the limit (k = 2)."""
    for arrays in row_arrays(n, n):
        check_moved(bg_class, n, n, 1, arrays)
    sizes = bucket_sizes(bg_class(1), 2 * n, 2)
    assert min(sizes) < PERM_MAX < max(sizes) or n != PERM_MAX
    check_moved(bg_class, 1, 2 * n, 2, row_arrays(2 * n, 1)[0])


def test_rows_too_wide_for_the_scratch_swap_in_place_as_documented():
    """A bucket whose rows need more than SCRATCH_MAX bytes of scratch is
    shuffled in place: the same order, rows and state."""
    n = 8200
    wide = np.random.default_rng(0).integers(0, 255, size=(n, SCRATCH_MAX // 8000), dtype=np.uint8)
    assert n * wide.shape[1] > SCRATCH_MAX
    check_moved(np.random.PCG64, 2, n, 1, [wide, wide[:, 0].astype(np.float64)])
    check_moved(np.random.PCG64, 2, n, 1, [np.ascontiguousarray(wide[:, :SCRATCH_MAX // 9000])])      # fits: the arrangement
