"""Sparse X: scipy.sparse matrices and arrays, checked once and held in the
form the C core reads (CSR rows with int64 offsets and int32 column
indices), so that the first layer's products read only the non-zeros.

scipy is never imported here: a sparse input is recognised by its type's
module and read through its ``tocsr``, ``indptr``, ``indices`` and ``data``.
"""
from __future__ import annotations

import numpy as np

# Column indices are int32 in the C core: the widest input layer is below this.
_MAX_COLUMNS = 2**31 - 1


def is_sparse(X) -> bool:
    """True for a scipy.sparse matrix or array (any format) or a CsrRows."""
    if isinstance(X, CsrRows):
        return True
    return (type(X).__module__ or "").startswith("scipy.sparse") and hasattr(X, "tocsr")


class CsrRows:
    """Rows of a checked CSR matrix: ``indptr`` (N + 1 int64 offsets from 0,
    non-decreasing), ``indices`` (int32 column numbers in [0, n_cols),
    increasing within each row: no duplicates) and ``data`` (the finite
    stored entries, of the model's dtype). Row subsets (``X[rows]``,
    ``X[a:b]``) are CsrRows too; ``toarray()`` makes the dense copy."""

    __slots__ = ("indptr", "indices", "data", "shape")
    ndim = 2

    def __init__(self, indptr, indices, data, shape):
        self.indptr, self.indices, self.data = indptr, indices, data
        self.shape = (int(shape[0]), int(shape[1]))

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    @property
    def nbytes(self) -> int:
        return self.indptr.nbytes + self.indices.nbytes + self.data.nbytes

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return f"CsrRows(shape={self.shape}, nnz={self.nnz}, dtype={self.dtype.name})"

    def __getitem__(self, rows):
        if isinstance(rows, tuple):          # X[rows, ...] / X[rows, :]: rows only
            if len(rows) != 2 or not (rows[1] is Ellipsis or rows[1] == slice(None)):
                raise IndexError("CsrRows: only rows can be selected (X[rows] or X[rows, :])")
            rows = rows[0]
        if isinstance(rows, slice):
            a, b, step = rows.indices(self.shape[0])
            if step == 1:        # a contiguous block: views of indices and data
                b = max(a, b)
                lo, hi = int(self.indptr[a]), int(self.indptr[b])
                return CsrRows(self.indptr[a:b + 1] - lo, self.indices[lo:hi], self.data[lo:hi],
                               (b - a, self.shape[1]))
            rows = np.arange(a, b, step)
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64, copy=False).ravel()
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        indptr = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # the positions of every kept entry: each row's run start..end, in row order
        pos = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1], dtype=np.int64)
        return CsrRows(indptr, self.indices[pos], self.data[pos], (rows.size, self.shape[1]))

    def max(self, axis=None, out=None, initial=None):
        """The largest entry, the zeros not stored included (np.max(X, initial=...) calls it)."""
        return self._extreme(np.max, axis, out, initial)

    def min(self, axis=None, out=None, initial=None):
        """The smallest entry, the zeros not stored included."""
        return self._extreme(np.min, axis, out, initial)

    def _extreme(self, reduce, axis, out, initial):
        if axis is not None or out is not None:
            raise TypeError("CsrRows: only the whole matrix's max / min (axis=None, out=None)")
        values = self.data[:self.nnz]
        if self.nnz < self.shape[0] * self.shape[1]:
            values = np.append(values, values.dtype.type(0))
        return reduce(values) if initial is None else reduce(values, initial=initial)

    def toarray(self) -> np.ndarray:
        """The dense (N, n_cols) array (stored entries; every other entry 0)."""
        out = np.zeros(self.shape, dtype=self.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        out[rows, self.indices] = self.data
        return out


def _check_structure(indptr, indices, data, shape, argument):
    """The checks on which the C core's reads depend: offsets from 0, never
    decreasing, within the stored arrays; every index in [0, n_cols)."""
    n, n_cols = shape
    for name, a in (("indptr", indptr), ("indices", indices)):
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise TypeError(f"{argument}: expected integer {name} of a CSR matrix, got {a.dtype} of shape {a.shape}")
    if data.ndim != 1 or data.dtype.kind not in "biuf":
        raise TypeError(f"{argument}: expected real numbers, got a sparse matrix of dtype {data.dtype}")
    if indptr.shape[0] != n + 1 or (n + 1 > 0 and int(indptr[0]) != 0):
        raise ValueError(f"{argument}: expected indptr of {n + 1} offsets starting at 0, got {indptr.shape[0]}")
    if n > 0 and (np.diff(indptr) < 0).any():
        raise ValueError(f"{argument}: expected non-decreasing indptr (a valid CSR matrix)")
    nnz = int(indptr[-1])
    if nnz > min(indices.shape[0], data.shape[0]):
        raise ValueError(f"{argument}: indptr ends at {nnz}, beyond the {min(indices.shape[0], data.shape[0])} "
                         f"stored entries")
    if nnz:
        lo, hi = int(indices[:nnz].min()), int(indices[:nnz].max())
        if lo < 0 or hi >= n_cols:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{argument}: expected column indices in [0, {n_cols}), got {bad}")
    return nnz


def _canonical(indptr, indices):
    """True if the column indices increase strictly within every row."""
    if indices.shape[0] < 2:
        return True
    up = np.diff(indices.astype(np.int64, copy=False)) > 0
    starts = indptr[1:-1]                 # a row's first entry may be below the last one's
    starts = starts[(starts > 0) & (starts < indices.shape[0])]
    up[starts - 1] = True
    return bool(up.all())


def check_rows_shape(shape, n_in, argument, what="array"):
    """Raises ValueError unless `shape` is (n_samples >= 1, n_in): the shape
    checks every X gets, dense (gradfit._validate) or sparse."""
    if len(shape) != 2:
        raise ValueError(f"{argument}: expected a 2-D {what} (n_samples, {n_in}), got {len(shape)}-D shape {shape}")
    if shape[0] == 0:
        raise ValueError(f"{argument}: expected at least one sample, got shape {shape}")
    if shape[1] != n_in:
        raise ValueError(f"{argument}: expected {n_in} feature(s) per sample (layer_sizes[0]), got shape {shape}")


def check_sparse_X(X, n_in, dtype, argument="X") -> CsrRows:
    """A scipy.sparse X (any format; CSC and others through tocsr, a copy)
    or a CsrRows as a checked CsrRows of `dtype` with n_in columns: at least
    one row, finite entries, duplicates summed and indices sorted (on a
    copy: the caller's matrix is never changed)."""
    shape = tuple(getattr(X, "shape", ()))
    check_rows_shape(shape, n_in, argument, "sparse matrix")
    if shape[1] > _MAX_COLUMNS:
        raise ValueError(f"{argument}: expected at most {_MAX_COLUMNS} columns, got {shape[1]}")
    if not isinstance(X, CsrRows) and getattr(X, "format", None) != "csr":
        X = X.tocsr()
    indptr, indices, data = np.asarray(X.indptr), np.asarray(X.indices), np.asarray(X.data)
    nnz = _check_structure(indptr, indices, data, shape, argument)
    indices, data = indices[:nnz], data[:nnz].astype(dtype, copy=False)
    if not _canonical(indptr, indices):
        if isinstance(X, CsrRows):       # (never: a CsrRows is canonical)
            raise ValueError(f"{argument}: expected sorted column indices")
        X = X.astype(dtype)              # a copy, whose duplicates are summed and indices sorted
        X.sum_duplicates()
        X.sort_indices()
        indptr, indices, data = np.asarray(X.indptr), np.asarray(X.indices), np.asarray(X.data)
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(data.size - np.count_nonzero(finite))
        raise ValueError(f"{argument}: expected finite values, got {bad} NaN or infinite stored "
                         f"entr{'y' if bad == 1 else 'ies'}")
    return CsrRows(np.ascontiguousarray(indptr, dtype=np.int64), np.ascontiguousarray(indices, dtype=np.int32),
                   np.ascontiguousarray(data), shape)
