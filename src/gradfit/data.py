"""Data larger than memory: memory-mapped arrays and streams of chunks.

``train()`` and :class:`gradfit.Trainer` take, besides in-memory arrays,

* a ``numpy.memmap`` (or an ``.npy`` file opened with
  ``numpy.load(path, mmap_mode="r")``): rows are read chunk by chunk, so the
  anonymous memory used is bounded by the chunk and window sizes, not by the
  number of rows;
* a :class:`Chunks` stream: an iterable of ``(X, y)`` or ``(X, y,
  sample_weight)`` blocks, read again for every epoch, e.g. from Parquet
  files with :func:`read_parquet`.

See docs/out_of_core.md for the shuffling modes and their randomness.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

__all__ = ["Chunks", "read_parquet"]


class Chunks:
    """A stream of ``(X, y)`` or ``(X, y, sample_weight)`` blocks to train on.

    Every epoch iterates the source again; the blocks are checked one by one
    as they arrive (shape, dtype, finite values, targets) and trained on by
    the C core, so only a window of blocks is in memory at a time.

    Parameters
    ----------
    source : iterable or callable
        Either a re-iterable collection of blocks (a list, a tuple, an object
        whose ``__iter__`` starts again each time), or a function of no
        arguments returning a fresh iterator of blocks (the form to use for
        generators and files). A one-shot iterator (a generator object, or
        anything whose ``iter()`` is itself) can be read once: it is accepted
        only by a single ``fit`` of ``epochs=1``; anything else refuses it up
        front with a ValueError, before training.

    Notes
    -----
    With ``shuffle="window"`` (the default for streams) the rows of
    ``window_chunks`` consecutive blocks are shuffled together; the block
    order is the source's. ``shuffle=False`` keeps the source's order, and
    ``shuffle=True`` (a uniform permutation of all rows) is refused, since it
    needs random access. If a block fails its checks during training, the
    model and the Trainer are put back to where the call started, then the
    error is raised: the message names the block.

    Examples
    --------
    >>> import numpy as np, gradfit as gf
    >>> blocks = [(np.ones((4, 1)), np.zeros(4)), (np.zeros((3, 1)), np.ones(3))]
    >>> r = gf.train(gf.MLP([1, 1], seed=0), gf.data.Chunks(blocks), None, epochs=2, seed=0)
    >>> r.epochs, r.n_samples
    (2, 7)
    """

    def __init__(self, source: Iterable[Any] | Callable[[], Iterable[Any]]) -> None:
        if callable(source) and not hasattr(source, "__iter__"):
            self._factory: Callable[[], Iterable[Any]] | None = source
            self._source: Iterable[Any] | None = None
            self.one_shot = False
        elif hasattr(source, "__iter__"):
            if isinstance(source, (np.ndarray, str, bytes)) or hasattr(source, "shape"):
                raise TypeError(f"source: expected an iterable of (X, y) blocks or a function returning one, "
                                f"got {type(source).__name__}; pass an array as X directly")
            self._factory = None
            self._source = source
            self.one_shot = iter(source) is source
        else:
            raise TypeError(f"source: expected an iterable of (X, y) blocks or a function returning one, "
                            f"got {type(source).__name__}")
        self._used = False

    def __repr__(self) -> str:
        kind = "function" if self._factory is not None else ("one-shot iterator" if self.one_shot else "iterable")
        return f"Chunks({kind})"

    def _check_epochs(self, epochs: int | None) -> None:
        """Refuses, before training, a fit that would read a one-shot iterator twice."""
        if not self.one_shot:
            return
        if self._used:
            raise ValueError("X: this Chunks wraps a one-shot iterator that was already read; pass a list of "
                             "blocks or a function returning a fresh iterator (e.g. lambda: my_generator())")
        if epochs != 1:
            raise ValueError(f"X: a Chunks over a one-shot iterator can be read for one epoch only, got "
                             f"epochs={epochs!r}; pass a list of blocks or a function returning a fresh "
                             f"iterator (e.g. lambda: my_generator()) to train several epochs")

    def _blocks(self) -> Iterator[tuple[Any, ...]]:
        """The blocks of one epoch, each a tuple of 2 or 3 items."""
        it: Any
        if self._factory is not None:
            it = self._factory()
            if not hasattr(it, "__iter__"):
                raise TypeError(f"source: the function must return an iterable of (X, y) blocks, "
                                f"got {type(it).__name__}")
        else:
            if self.one_shot and self._used:
                raise ValueError("X: this Chunks wraps a one-shot iterator that was already read")
            it = self._source
            self._used = True
        for i, block in enumerate(it):
            if not isinstance(block, (tuple, list)) or len(block) not in (2, 3):
                raise TypeError(f"X: chunk {i}: expected a tuple (X, y) or (X, y, sample_weight), "
                                f"got {type(block).__name__}")
            yield tuple(block)


def read_parquet(path: str | os.PathLike[str] | list[str | os.PathLike[str]], target: str | list[str], *,
                 columns: list[str] | None = None, weight: str | None = None,
                 batch_rows: int = 65536) -> Chunks:
    """Parquet file(s) as a :class:`Chunks` stream, read with pyarrow.

    Each epoch opens the file(s) again and reads record batches of at most
    `batch_rows` rows, only the columns needed.

    Parameters
    ----------
    path : str, path-like or list of them
        One Parquet file or several (read in the order given).
    target : str or list of str
        The target column(s): y.
    columns : list of str, optional
        The feature columns, in the model's input order (default: every
        column but the target and weight columns, in the file's order).
    weight : str, optional
        A column of sample weights.
    batch_rows : int, default 65536
        Rows per block.

    Returns
    -------
    Chunks

    Raises
    ------
    ImportError
        If pyarrow is not installed (``pip install "gradfit[parquet]"``).
    """
    from ._validate import check_int
    batch_rows = check_int(batch_rows, "batch_rows", 1)
    paths = list(path) if isinstance(path, (list, tuple)) else [path]
    if not paths:
        raise ValueError("path: expected at least one Parquet file, got an empty list")
    for p in paths:
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"path: expected a file path or a list of them, got {type(p).__name__}")
        if not os.path.exists(p):
            raise FileNotFoundError(f"path: no such file: {os.fspath(p)!r}")
    targets = [target] if isinstance(target, str) else list(target)
    if not targets or not all(isinstance(t, str) for t in targets):
        raise TypeError(f"target: expected a column name or a list of them, got {target!r}")
    if weight is not None and not isinstance(weight, str):
        raise TypeError(f"weight: expected a column name or None, got {type(weight).__name__}")
    try:
        import importlib
        pq = importlib.import_module("pyarrow.parquet")     # an optional extra, imported here only
    except ImportError as exc:
        raise ImportError('read_parquet needs pyarrow: pip install "gradfit[parquet]"') from exc

    names = pq.ParquetFile(paths[0]).schema_arrow.names
    if columns is None:
        features = [n for n in names if n not in targets and n != weight]
    else:
        features = list(columns)
    if not features:
        raise ValueError("columns: expected at least one feature column, got none")
    wanted = features + targets + ([weight] if weight else [])
    for p in paths:                         # every file up front, not only the first
        _check_parquet_columns(p, pq.ParquetFile(p).schema_arrow.names, features, targets, weight)

    def blocks() -> Iterator[tuple[Any, ...]]:
        for p in paths:
            # the files may have changed since the call: a schema change is a clear error, not a KeyError
            _check_parquet_columns(p, pq.ParquetFile(p).schema_arrow.names, features, targets, weight)
            for batch in pq.ParquetFile(p).iter_batches(batch_size=batch_rows, columns=wanted):
                cols = {name: batch.column(name).to_numpy(zero_copy_only=False) for name in wanted}
                X = np.column_stack([cols[c] for c in features])
                y = cols[targets[0]] if len(targets) == 1 else np.column_stack([cols[t] for t in targets])
                yield (X, y) if weight is None else (X, y, cols[weight])

    return Chunks(blocks)


def _check_parquet_columns(path, names, features, targets, weight):
    """Every column read_parquet needs is in the file `path` (whose columns are `names`)."""
    where = f"in {os.fspath(path)!r} (columns: {names})"
    for t in targets:
        if t not in names:
            raise ValueError(f"target: no column {t!r} {where}")
    if weight is not None and weight not in names:
        raise ValueError(f"weight: no column {weight!r} {where}")
    missing = [c for c in features if c not in names]
    if missing:
        raise ValueError(f"columns: no column(s) {missing} {where}")
