"""The orders a training run visits the rows in, drawn epoch by epoch:
gradfit.epoch_order for shuffle=True, window_orders for shuffle="window",
into buffers reused from one training call to the next."""
from __future__ import annotations

import copy
import threading

import numpy as np

from . import shuffling

__all__ = ["window_orders", "EpochOrders"]


def window_orders(N, chunk_rows, window_chunks, rng):
    """One epoch of shuffle="window" over rows 0..N-1, window by window.

    The rows are cut into blocks of `chunk_rows` (the last may be shorter);
    ``epoch_order(rng, n_blocks)`` orders the blocks; then for every window
    of `window_chunks` consecutive blocks in that order, the window's rows
    (its blocks' rows, concatenated) are put in the order
    ``epoch_order(rng, n_rows)`` of the window. Yields each window's row
    numbers (int64): the epoch's order is their concatenation. The same seed
    gives the same order whatever the storage; with a single block it is
    shuffle=True's order, ``epoch_order(rng, N)``."""
    n_blocks = -(-N // chunk_rows)
    blocks = shuffling.epoch_order(rng, n_blocks)
    for w in range(0, n_blocks, window_chunks):
        rows = np.concatenate([np.arange(b * chunk_rows, min((b + 1) * chunk_rows, N), dtype=np.int64)
                               for b in blocks[w:w + window_chunks]])
        yield rows[shuffling.epoch_order(rng, rows.size)]


class _Scratch(threading.local):
    """The epoch-order buffers (orders, bucket ids, moved rows) of this
    thread's last finished training call, which the next call reuses: fresh
    memory costs a page fault per 4 KiB page on its first write, about as
    much as the shuffle itself. Per thread (two threads never share a
    buffer), taken out while a call uses it (a training call nested in a
    callback allocates its own), and bounded: at most MAX_BYTES are kept."""
    MAX_BYTES = 64 << 20

    def __init__(self) -> None:
        self.free: list[np.ndarray] = []

    def take(self, shape, dtype) -> np.ndarray:
        """A C-contiguous array of this shape and dtype, reused if kept."""
        shape, dtype = tuple(shape), np.dtype(dtype)
        for i, a in enumerate(self.free):
            if a.shape == shape and a.dtype == dtype:
                return self.free.pop(i)
        return np.empty(shape, dtype=dtype)

    def give(self, arrays) -> None:
        """Keeps `arrays` (the newest first) for the next call, within MAX_BYTES."""
        kept: list[np.ndarray] = []
        seen: set[int] = set()
        total = 0
        for a in list(arrays) + self.free:
            if total + a.nbytes <= self.MAX_BYTES and id(a) not in seen:
                kept.append(a)
                seen.add(id(a))
                total += a.nbytes
        self.free = kept


_SCRATCH = _Scratch()


class EpochOrders:
    """Each epoch's visiting order (gradfit.epoch_order for shuffle=True,
    window_orders for "window"), drawn into buffers allocated once. Exactly
    one order is drawn per epoch begun, whatever the chunking. With `rows`
    (arrays of N rows), draw(1, move=True) also moves their rows into
    reused copies, `moved`, in the order drawn (the same order and the same
    draws as without moving). The order itself is then not written (a third
    of the C shuffle's work): it is redrawn from the generator's state saved
    before the draw by materialize(), which every reader of the order in
    copy mode calls first (a mid-epoch pause, a divergence replay)."""

    def __init__(self, N, per_call, rng, mode=True, chunk_rows=0, window_chunks=0, rows=None, cache=None):
        self.N, self.rng, self.per_call, self.cache = N, rng, per_call, cache
        self.mode, self.chunk_rows, self.window_chunks = mode, chunk_rows, window_chunks
        self.sources = tuple(rows) if rows else ()
        self._own = {}             # the buffers, taken on first use (a cache hit needs none)
        self.moved = ()
        self.lazy = None           # the state to redraw buffer[:N] from, when it was not written

    def _take(self, name, shape, dtype):
        if name not in self._own:
            self._own[name] = _SCRATCH.take(shape, dtype)
        return self._own[name]

    @property
    def buffer(self):
        return self._take("buffer", (self.N * self.per_call,), np.int64)

    @property
    def ids(self):
        n = self.N if self.mode is True and shuffling.n_buckets(self.N) > 1 else 0
        return self._take("ids", (n,), np.uint16)

    @property
    def rows(self):
        return tuple((a, self._take(("rows", i), a.shape, a.dtype)) for i, a in enumerate(self.sources))

    def release(self):
        """Gives the buffers back for the next training call in this thread
        (nothing of this object may be used after)."""
        if self._own:                  # (none taken: what is kept stays as it is)
            _SCRATCH.give(list(self._own.values()))

    def draw(self, k, first=None, move=False):
        """k orders; with `first`, the first is that (already drawn) order.
        move (k == 1, no `first`): the rows are moved too, into self.moved.
        With a cache (gradfit._fused: models trained together), a draw that
        another run already made from the same generator state is taken
        from it: the same orders, rows and generator state after."""
        if self.cache is not None and first is None:
            return self.cache.draw(self, k, move)
        return self._draw(k, first, move)

    def _draw(self, k, first=None, move=False):
        e0 = 0
        self.lazy = None
        if move and self.sources and first is None and k == 1 and self.mode is True:
            self.lazy = self.rng.bit_generator.state
            rows = self.rows
            shuffling.draw(self.rng, None, self.ids, rows)
            self.moved = tuple(dst for _, dst in rows)
            return self.buffer[:self.N]
        if first is not None and k > 0:
            np.copyto(self.buffer[:self.N], first)
            e0 = 1
        if self.mode == "window":
            for e in range(e0, k):
                order, at = self.buffer[e * self.N:(e + 1) * self.N], 0
                for rows in window_orders(self.N, self.chunk_rows, self.window_chunks, self.rng):
                    order[at:at + rows.size] = rows
                    at += rows.size
        else:
            for e in range(e0, k):
                rows = self.rows if move else ()
                shuffling.draw(self.rng, self.buffer[e * self.N:(e + 1) * self.N], self.ids, rows)
                if rows:
                    self.moved = tuple(dst for _, dst in rows)
        return self.buffer[:k * self.N]

    def materialize(self):
        """Writes the last draw's order into the buffer if the draw moved
        rows without writing it: the same draws again, from the saved state,
        on a copy of the generator (whose own state stays where it is)."""
        if self.lazy is not None:
            bg = copy.deepcopy(self.rng.bit_generator)
            bg.state = self.lazy
            shuffling.draw(np.random.Generator(bg), self.buffer[:self.N], self.ids)
            self.lazy = None

    def state(self):
        return self.rng.bit_generator.state

    def rewind(self, state, k):
        """Puts the generator back to `state`, then draws k orders: as if only
        k had been drawn since (the buffer's first k orders are unchanged)."""
        self.rng.bit_generator.state = state
        self._draw(k)
