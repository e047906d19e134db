"""The epoch shuffle in C (gradfit._core.shuffle_i64, used by
training._EpochOrders and window_orders) is NumPy's Generator.shuffle draw
for draw: the same permutation and the same generator state afterwards, for
every bit generator; and whole training runs give the same bits as with
NumPy's own shuffle (the code path before the C shuffle existed)."""
import itertools
import math

import numpy as np
import pytest

import gradfit as gf
from gradfit import _core, training
from gradfit.training import _EpochOrders, window_orders

BIT_GENERATORS = [np.random.PCG64, np.random.PCG64DXSM, np.random.Philox, np.random.MT19937, np.random.SFC64]
SIZES = [0, 1, 2, 3, 17, 1000, 2**16 + 3, 10**6]


def same_state(a, b):
    """Two bit generator states (dicts, nested, MT19937's holds an array) equal."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def pair(bg_class, seed, warm):
    """Two generators in the same state; `warm` draws leave PCG64's buffered
    half-word (has_uint32) set when odd."""
    a, b = np.random.Generator(bg_class(seed)), np.random.Generator(bg_class(seed))
    for g in (a, b):
        g.integers(0, 1000, size=warm)           # 32-bit draws: odd counts leave one buffered
    assert same_state(a.bit_generator.state, b.bit_generator.state)
    return a, b


@pytest.mark.parametrize("bg_class", BIT_GENERATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("N", SIZES)
def test_equals_permutation_and_leaves_the_same_state(bg_class, N):
    for seed, warm in [(0, 0), (1, 1), (20240607, 3)]:
        a, b = pair(bg_class, seed, warm)
        x = np.full(N, -5, dtype=np.int64)
        assert _core.shuffle_i64(a.bit_generator, x, True) is True
        expected = b.permutation(N)
        assert x.dtype == np.int64
        assert np.array_equal(x, expected), (bg_class.__name__, N, seed)
        assert same_state(a.bit_generator.state, b.bit_generator.state)
        # the streams continue identically
        assert np.array_equal(a.integers(0, 2**40, size=5), b.integers(0, 2**40, size=5))
        if N >= 17:
            assert not np.array_equal(x, np.arange(N))      # it did shuffle


@pytest.mark.parametrize("bg_class", [np.random.PCG64, np.random.PCG64DXSM], ids=lambda c: c.__name__)
def test_inline_pcg_equals_the_capsule_path_and_numpy(bg_class):
    """PCG64 / PCG64DXSM run inline from SHUFFLE_INLINE_MIN elements on; the
    capsule path (inline=False) and NumPy give the same bits and states."""
    lo = _core.SHUFFLE_INLINE_MIN
    for N in [lo - 1, lo, lo + 1, 4097, 300_001]:
        for warm in (0, 1, 2):
            a, b = pair(bg_class, N, warm)
            c = np.random.Generator(bg_class(N))
            c.integers(0, 1000, size=warm)
            x, z = np.empty(N, dtype=np.int64), np.empty(N, dtype=np.int64)
            assert _core.shuffle_i64(a.bit_generator, x, True)
            assert _core.shuffle_i64(c.bit_generator, z, True, inline=False)
            y = b.permutation(N)
            assert np.array_equal(x, y) and np.array_equal(z, y)
            assert same_state(a.bit_generator.state, b.bit_generator.state)
            assert same_state(c.bit_generator.state, b.bit_generator.state)
            assert a.integers(0, 2**32) == b.integers(0, 2**32)


@pytest.mark.parametrize("bg_class", BIT_GENERATORS, ids=lambda c: c.__name__)
def test_shuffles_given_contents_as_rng_shuffle(bg_class):
    for N in [2, 5, 33, 100_003]:
        a, b = pair(bg_class, 7, 1)
        data = np.random.default_rng(N).integers(-10**12, 10**12, size=N)
        x, y = data.copy(), data.copy()
        assert _core.shuffle_i64(a.bit_generator, x, False)
        b.shuffle(y)
        assert np.array_equal(x, y)
        assert same_state(a.bit_generator.state, b.bit_generator.state)
        assert np.array_equal(np.sort(x), np.sort(data))


def test_successive_permutations_follow_the_stream():
    a, b = pair(np.random.PCG64, 3, 0)
    x = np.empty(1000, dtype=np.int64)
    for _ in range(20):
        _core.shuffle_i64(a.bit_generator, x, True)
        assert np.array_equal(x, b.permutation(1000))


def test_without_the_c_interface_it_declines_and_leaves_x_alone():
    class NoCapsule:
        lock = None
    x = np.arange(10, dtype=np.int64)
    assert _core.shuffle_i64(NoCapsule(), x, True) is False
    assert _core.shuffle_i64(object(), x, False) is False
    assert np.array_equal(x, np.arange(10))


def test_epoch_orders_shuffle_falls_back_for_a_generator_subclass(monkeypatch):
    class MyGenerator(np.random.Generator):
        pass
    calls = []
    real = _core.shuffle_i64
    monkeypatch.setattr(training._core, "shuffle_i64", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    g, ref = MyGenerator(np.random.PCG64(5)), np.random.default_rng(5)
    x = np.empty(500, dtype=np.int64)
    _EpochOrders.shuffle(g, x, fill=True)
    assert calls == []                           # NumPy's own shuffle ran
    assert np.array_equal(x, ref.permutation(500))
    _EpochOrders.shuffle(np.random.default_rng(5), x, fill=True)
    assert len(calls) == 1                       # a plain Generator takes the C path
    assert np.array_equal(x, np.random.default_rng(5).permutation(500))


@pytest.mark.parametrize("bitgen", [np.random.PCG64, np.random.MT19937])
@pytest.mark.parametrize("n", [3, 700])
def test_several_permutations_in_one_call_equal_successive_permutations(bitgen, n):
    # the epoch orders of a chunk are drawn in one GIL-free call (parts=k)
    g, ref = np.random.Generator(bitgen(11)), np.random.Generator(bitgen(11))
    x = np.empty(4 * n, dtype=np.int64)
    assert _core.shuffle_i64(g.bit_generator, x, True, parts=4)
    assert np.array_equal(x, np.concatenate([ref.permutation(n) for _ in range(4)]))
    assert same_state(g.bit_generator.state, ref.bit_generator.state)
    orders = _EpochOrders(n, 3, np.random.Generator(bitgen(12)))
    first = np.random.Generator(bitgen(99)).permutation(n)
    got = orders.draw(3, first=first)
    ref = np.random.Generator(bitgen(12))
    assert np.array_equal(got, np.concatenate([first, ref.permutation(n), ref.permutation(n)]))
    with pytest.raises(ValueError, match=r"^parts: expected an integer >= 1 dividing x.size \(2800\), got 3"):
        _core.shuffle_i64(g.bit_generator, np.empty(2800, dtype=np.int64), True, parts=3)


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
        x[:] = np.arange(4)
        shuffle(x)
        counts[index[tuple(x.tolist())]] += 1
    return counts


# chi-square critical values at p = 0.001: 23 degrees of freedom, and 81 = (10-1)^2
CHI2_23_P001 = 49.73
CHI2_81_P001 = 124.84


def test_all_24_orders_of_4_are_equally_likely():
    draws = 96_000
    bg = np.random.PCG64(11)
    counts = order_counts_n4(lambda x: _core.shuffle_i64(bg, x, False), draws)
    assert counts.sum() == draws and counts.min() > 0
    stat = chi_square(counts, draws / 24)
    assert stat < CHI2_23_P001, stat
    # the same check rejects a biased shuffle: it has the power to fail
    rng = np.random.default_rng(11)
    biased = order_counts_n4(lambda x: naive_biased_shuffle(rng, x), 24_000)
    assert chi_square(biased, 24_000 / 24) > 10 * CHI2_23_P001


def test_every_value_lands_in_every_position_equally_often():
    n, draws = 10, 50_000
    bg = np.random.SFC64(12)
    counts = np.zeros((n, n), dtype=np.int64)     # counts[position, value]
    x = np.empty(n, dtype=np.int64)
    for _ in range(draws):
        _core.shuffle_i64(bg, x, True)
        counts[np.arange(n), x] += 1
    assert (counts.sum(axis=0) == draws).all() and (counts.sum(axis=1) == draws).all()
    stat = chi_square(counts, draws / n)
    assert stat < CHI2_81_P001, stat
    # each cell within 5 standard deviations of draws/n
    sd = math.sqrt(draws * (1 / n) * (1 - 1 / n))
    assert np.abs(counts - draws / n).max() < 5 * sd


# --- whole training runs: the same bits as with NumPy's shuffle ---

@pytest.fixture
def numpy_shuffle_only(monkeypatch):
    """Training with the C shuffle switched off: _EpochOrders.shuffle then uses
    rng.shuffle, which is what training did before the C shuffle existed."""
    monkeypatch.setattr(training._core, "shuffle_i64", lambda bit_generator, x, fill, **kw: False)


def regression_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = np.sin(X[:, :1]) + 0.5 * X[:, 1:] ** 2
    return X, y


def fit_once(backend, seed, **kw):
    X, y = regression_data()
    m = gf.MLP([2, 8, 1], activation="tanh", seed=3)
    r = gf.train(m, X, y, lr=0.05, batch_size=16, epochs=6, seed=seed, backend=backend, **kw)
    return m.params.copy(), r.history["loss"]


def count_c_shuffles(monkeypatch):
    calls = []
    real = _core.shuffle_i64

    def spy(bit_generator, x, fill, **kw):
        done = real(bit_generator, x, fill, **kw)
        calls.append(done)
        return done
    monkeypatch.setattr(training._core, "shuffle_i64", spy)
    return calls


@pytest.mark.parametrize("shuffle", [True, "window"])
@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_train_gives_the_same_bits_as_numpys_shuffle(backend, shuffle, monkeypatch):
    kw = dict(shuffle=shuffle, chunk_rows=40, window_chunks=3) if shuffle == "window" else dict(shuffle=True)
    calls = count_c_shuffles(monkeypatch)
    new = fit_once(backend, 123, **kw)
    assert calls and all(calls)                  # the C shuffle did run
    monkeypatch.setattr(training._core, "shuffle_i64", lambda bit_generator, x, fill, **kw: False)
    old = fit_once(backend, 123, **kw)
    assert np.array_equal(new[0], old[0])
    assert new[1] == old[1]
    other = fit_once(backend, 124, **kw)         # and the order matters
    assert not np.array_equal(new[0], other[0])


def test_epoch_orders_are_successive_permutations_of_the_seeded_generator(monkeypatch):
    """The indices handed to the core are rng.permutation(N), one per epoch."""
    seen = []
    real_draw = _EpochOrders.draw

    def spy(self, k, first=None):
        out = real_draw(self, k, first)
        seen.append(out.copy())
        return out
    monkeypatch.setattr(_EpochOrders, "draw", spy)
    X, y = regression_data(n=257)
    gf.train(gf.MLP([2, 4, 1], seed=0), X, y, batch_size=16, epochs=7, seed=99)
    orders = np.concatenate(seen)
    rng = np.random.default_rng(99)
    assert np.array_equal(orders, np.concatenate([rng.permutation(257) for _ in range(7)]))


def test_trainer_continuing_a_generator_matches_numpys_shuffle(monkeypatch):
    def run():
        X, y = regression_data()
        rng = np.random.Generator(np.random.Philox(8))
        rng.random()                                   # an arbitrary position in the stream
        m = gf.MLP([2, 8, 1], activation="tanh", seed=4)
        t = gf.Trainer(m, lr=0.05, batch_size=16, seed=rng)
        losses = []
        for epochs in (1, 3, 2):
            losses += t.fit(X, y, epochs=epochs).history["loss"]
        return m.params.copy(), losses, rng.bit_generator.state
    calls = count_c_shuffles(monkeypatch)
    new = run()
    assert len(calls) == 3 and all(calls)              # one C call per fit draws its epochs' orders
    monkeypatch.setattr(training._core, "shuffle_i64", lambda bit_generator, x, fill, **kw: False)
    old = run()
    assert np.array_equal(new[0], old[0])
    assert new[1] == old[1]
    assert same_state(new[2], old[2])
    # exactly one permutation per epoch: 6 epochs advance a fresh copy as far
    ref = np.random.Generator(np.random.Philox(8))
    ref.random()
    for _ in range(6):
        ref.permutation(300)
    assert same_state(ref.bit_generator.state, new[2])


def test_window_orders_equal_numpys(monkeypatch):
    N, C, W = 1003, 50, 4
    new = list(window_orders(N, C, W, np.random.default_rng(17)))
    monkeypatch.setattr(training._core, "shuffle_i64", lambda bit_generator, x, fill, **kw: False)
    old = list(window_orders(N, C, W, np.random.default_rng(17)))
    assert len(new) == len(old) == math.ceil(math.ceil(N / C) / W)
    for a, b in zip(new, old):
        assert np.array_equal(a, b)
    assert np.array_equal(np.sort(np.concatenate(new)), np.arange(N))
