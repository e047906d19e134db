"""Each epoch's visiting order: Sanders' bucketed shuffle.

``shuffle=True`` visits the rows of every epoch in the order
:func:`epoch_order` gives: a uniformly random permutation drawn from the
trainer's numpy Generator, by an algorithm that is cache friendly (it reads
the data sequentially and shuffles only small buckets at random) and can move
the rows themselves along with the order, so that the C core trains on a
contiguous shuffled copy instead of gathering rows at random. docs/order.md
has the algorithm, the proof that every permutation is equally likely, and
exactly how the generator's draws are consumed.
"""
from __future__ import annotations

import numpy as np

from . import _core

__all__ = ["epoch_order", "n_buckets", "BUCKET_ROWS", "MAX_BUCKETS", "COPY_MIN_BYTES", "COPY_MAX_BYTES",
           "COPY_MAX_ROW_BYTES"]

#: Rows per bucket aimed at (k is the smallest power of two >= N / BUCKET_ROWS).
BUCKET_ROWS: int = _core.ORDER_BUCKET_ROWS
#: The most buckets (k is clamped to [1, MAX_BUCKETS]).
MAX_BUCKETS: int = _core.ORDER_MAX_BUCKETS
#: Training moves the rows into a shuffled copy (instead of gathering them by
#: index) when the rows of X, y and sample_weight together take at least
#: this many bytes (smaller data sits in cache anyway) ...
COPY_MIN_BYTES: int = 1 << 20
#: ... and at most this many (the copy's memory budget) ...
COPY_MAX_BYTES: int = 512 << 20
#: ... and every array's row (X's, y's, the weight) takes at most this many
#: bytes: one value. Wider rows gather well (a row is whole cache lines) and
#: gathering them is faster than moving them (docs/perf-log.md has the figures).
COPY_MAX_ROW_BYTES: int = 8


def n_buckets(n: int) -> int:
    """The number of buckets k that :func:`epoch_order` uses for n rows.

    Parameters
    ----------
    n : int
        The number of rows (>= 0).

    Returns
    -------
    int
        The smallest power of two >= ``n / BUCKET_ROWS``, clamped to
        ``[1, MAX_BUCKETS]``. It depends on n only (never on the data's
        width or dtype).
    """
    return int(_core.order_buckets(_check_n(n)))


def _check_n(n):
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected an integer >= 0, got {n!r}")
    return int(n)


def epoch_order(rng: np.random.Generator, n: int) -> np.ndarray:
    """One epoch's visiting order, exactly as training with ``shuffle=True`` draws it.

    Training draws one order per epoch from the trainer's Generator (the one
    ``seed=`` made, or the Generator passed as ``seed``). Calling this
    function on a Generator in the same state gives the same order and
    advances the Generator exactly as one epoch of training does, so the
    orders of a run can be replayed::

        rng = np.random.default_rng(seed)
        first = gf.epoch_order(rng, len(X))     # epoch 1 visits X[first]
        second = gf.epoch_order(rng, len(X))    # epoch 2 visits X[second]

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator to draw from; advanced in place.
    n : int
        The number of rows (>= 0).

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        A uniformly random permutation of ``0 .. n-1``: batch b of the epoch
        is rows ``order[b * batch_size:(b + 1) * batch_size]``.

    Notes
    -----
    Sanders' algorithm (1998) with ``k = n_buckets(n)`` buckets: every row
    gets an independent uniform bucket (the top ``log2(k)`` bits of 16-bit
    pieces of the generator's 64-bit outputs), the rows are appended to
    their buckets in order, and each bucket is shuffled by Fisher-Yates with
    Lemire's bounded integers. Every draw is one whole 64-bit output of the
    bit generator (``random_raw()`` for PCG64, PCG64DXSM, Philox and SFC64),
    so the order depends only on the bit generator's stream; docs/order.md gives every detail. It is not
    ``rng.permutation(n)`` (a different, equally uniform, algorithm).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    n = _check_n(n)
    order = np.empty(n, dtype=np.int64)
    ids = np.empty(n if n_buckets(n) > 1 else 0, dtype=np.uint16)
    draw(rng, order, ids)
    return order


def draw(rng, order, ids, rows=()):
    """order := the epoch order of order.size rows (ids: uint16 scratch of
    order.size entries, or empty when one bucket); dst := src[order] for
    each (src, dst) in rows. order may be None when rows are given: the same
    draws and moved rows, the order not kept. In C without the GIL when
    rng's bit generator has NumPy's capsule, else in NumPy (the same
    numbers, slower)."""
    if _core.epoch_order(rng.bit_generator, order, rows, ids if ids.size else None):
        return
    n = order.size if order is not None else len(rows[0][0])
    drawn = _order_numpy(rng.bit_generator, n)
    if order is not None:
        order[...] = drawn
    order = drawn
    for src, dst in rows:
        np.take(src, order, axis=0, out=dst)


def _order_numpy(bit_generator, n):
    """The same algorithm in NumPy and Python (for bit generators without
    NumPy's C interface): the same draws, the same order."""
    g = np.random.Generator(bit_generator)       # shares bit_generator's state

    def raw(size=None):
        """next_uint64 draws (random_raw() for 64-bit generators)"""
        return g.integers(0, 2**64, size=size, dtype=np.uint64)

    k = int(_core.order_buckets(n))
    bits = k.bit_length() - 1
    if k > 1:
        out = raw((n + 3) // 4)
        pieces = ((out[:, None] >> np.array([0, 16, 32, 48], dtype=np.uint64)) & np.uint64(0xFFFF))
        ids = (pieces.reshape(-1)[:n] >> np.uint64(16 - bits)).astype(np.int64)
        order = np.argsort(ids, kind="stable").astype(np.int64)
        ends = np.cumsum(np.bincount(ids, minlength=k))
    else:
        order = np.arange(n, dtype=np.int64)
        ends = np.array([n])
    half = None
    start = 0
    for end in ends.tolist():
        seg = order[start:end]
        for i in range(end - start - 1, 0, -1):
            r = i + 1
            while True:
                if r <= 0xFFFFFFFF:
                    if half is None:
                        v = int(raw())
                        x, half = v & 0xFFFFFFFF, v >> 32
                    else:
                        x, half = half, None
                    p = x * r
                    low, j, t = p & 0xFFFFFFFF, p >> 32, (2**32 - r) % r
                else:
                    p = int(raw()) * r
                    low, j, t = p & (2**64 - 1), p >> 64, (2**64 - r) % r
                if low >= t:
                    break
            seg[i], seg[j] = seg[j], seg[i]
        start = end
    return order
