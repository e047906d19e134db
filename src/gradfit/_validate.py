"""Argument checks shared by the model, train() and the reference backend.

Every check raises before any C call, with a message that names the argument,
what was expected and what was given.
"""
import math
import numbers
import threading
import weakref

import numpy as np

from ._sparse import check_rows_shape, check_sparse_X, is_sparse

# The largest model gradfit builds or loads: sizes beyond these cannot be
# allocated on any machine. They are the one user-facing limit (the model and
# the file codec read them here). The C core's own bound, GF_MAX_LEN = 2**60
# elements in gradfit.h, is a different thing: the largest element count at
# which its size arithmetic stays exact in int64, far above these.
MAX_WIDTH = 2**31 - 1
MAX_PARAMS = 2**40
_INF = float("inf")


def _describe(a):
    return f"array of shape {a.shape} and dtype {a.dtype}"


def _columns_of(value):
    """The column labels of a DataFrame-like value (pandas, polars' to_pandas),
    or None for anything else. Duck-typed: pandas is never imported here."""
    columns = getattr(value, "columns", None)
    if columns is None or not hasattr(value, "dtypes") or not hasattr(value, "__getitem__"):
        return None
    try:
        return list(columns)
    except TypeError:
        return None


def _frame_to_array(frame, columns, argument, dtype):
    """A DataFrame as a 2-D array of dtype, column by column, so that a column
    that is not numeric (strings, categories, ...) is named in the error.
    Missing values of nullable columns become NaN (reported by check_finite)."""
    out = np.empty((len(frame), len(columns)), dtype=dtype)
    for j, name in enumerate(columns):
        col = frame[name]
        try:
            if hasattr(col, "to_numpy"):
                values = col.to_numpy(dtype=dtype, na_value=np.nan)
            else:
                values = np.asarray(col, dtype=dtype)
        except (TypeError, ValueError):
            raise TypeError(
                f"{argument}: expected numeric columns, got column {name!r} of dtype {col.dtype}; "
                f"encode it as numbers first (e.g. one-hot) or drop it"
            ) from None
        kind = getattr(getattr(col, "dtype", None), "kind", "f")
        if kind not in "biuf":   # e.g. a category or string column that held digits
            raise TypeError(
                f"{argument}: expected numeric columns, got column {name!r} of dtype {col.dtype}; "
                f"encode it as numbers first (e.g. one-hot) or drop it"
            )
        out[:, j] = values
    return out


def _series_to_array(series, argument, dtype):
    """A pandas Series-like value as an array (nullable missing values -> NaN)."""
    kind = getattr(series.dtype, "kind", "O")
    try:
        if kind not in "biuf":
            raise TypeError
        return series.to_numpy(dtype=dtype, na_value=np.nan)
    except (TypeError, ValueError):
        name = getattr(series, "name", None)
        raise TypeError(
            f"{argument}: expected numbers, got a series{'' if name is None else f' {name!r}'} of dtype "
            f"{series.dtype}; encode it as numbers first"
        ) from None


def as_float_array(value, argument, dtype):
    """`value` as a C-contiguous, aligned array of `dtype` (copied only if needed).

    Raises TypeError for values that are not real numbers (naming the column
    of a DataFrame), and ValueError for finite values that overflow `dtype`
    (e.g. 1e39 into float32), and for a scipy.sparse matrix (taken only where
    check_X is called with sparse=True)."""
    if type(value) is np.ndarray and value.dtype == dtype and value.flags.c_contiguous and value.flags.aligned:
        return value                 # what the steps below return for it, without them (the common case)
    if is_sparse(value):
        raise TypeError(f"{argument}: a scipy.sparse matrix is not accepted here; expected a dense array "
                        f"(convert it with .toarray())")
    columns = _columns_of(value)
    if columns is not None:
        return _frame_to_array(value, columns, argument, dtype)
    if hasattr(value, "to_numpy") and hasattr(value, "dtype") and not isinstance(value, np.ndarray):
        value = _series_to_array(value, argument, dtype)
    try:
        a = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{argument}: expected an array of numbers, got {type(value).__name__} ({exc})") from None
    if a.dtype.kind in "biuf":
        pass
    elif a.dtype.kind == "O":
        try:
            a = a.astype(dtype)
        except (TypeError, ValueError):
            raise TypeError(
                f"{argument}: expected numbers convertible to {np.dtype(dtype).name}, "
                f"got an object array holding {type(a.flat[0]).__name__ if a.size else 'nothing'}"
            ) from None
    else:
        raise TypeError(f"{argument}: expected real numbers, got {_describe(a)}")
    source = a
    with np.errstate(over="ignore", invalid="ignore"):
        a = np.asarray(a, dtype=dtype, order="C")   # keeps 0-d arrays 0-d
    if a is not source and source.dtype.kind == "f" and source.dtype.itemsize > a.dtype.itemsize:
        _check_narrowing(source, a, argument)
    if not a.flags.aligned:
        # C reads the buffer as an array of `dtype`: a pointer that is not a
        # multiple of its itemsize is undefined behaviour there
        a = a.copy()
    return a


def _check_narrowing(source, cast, argument):
    """Finite values that became inf in the cast overflow the narrower dtype."""
    bad = ~np.isfinite(cast) & np.isfinite(source)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        finfo = np.finfo(cast.dtype)
        raise ValueError(
            f"{argument}: value {float(source[where])!r} at index {where} overflows {cast.dtype.name} "
            f"(largest {finfo.max:.4g}); {int(bad.sum())} value(s) do. Rescale the data or use "
            f"a float64 model (dtype='float64')"
        )


def check_X(X, n_in, dtype, argument="X", sparse=False):
    """X as a (N, n_in) C-contiguous array of dtype, N >= 1, all finite; a
    scipy.sparse X, where the caller takes one (sparse=True), as a checked
    gradfit._sparse.CsrRows."""
    if sparse and is_sparse(X):
        return check_sparse_X(X, n_in, dtype, argument)
    a = as_float_array(X, argument, dtype)
    if a.ndim != 2:
        hint = ""
        if a.ndim == 1:
            if n_in == 1:
                hint = " (use X.reshape(-1, 1): one feature per sample)"
            elif a.shape[0] == n_in:
                hint = " (use X.reshape(1, -1) for a single sample)"
        raise ValueError(f"{argument}: expected a 2-D array (n_samples, {n_in}), got {a.ndim}-D shape {a.shape}{hint}")
    if a.shape[0] == 0:
        raise ValueError(f"{argument}: expected at least one sample, got shape {a.shape}")
    if a.shape[1] != n_in:
        raise ValueError(f"{argument}: expected {n_in} feature(s) per sample (layer_sizes[0]), got shape {a.shape}")
    check_finite(a, argument, _columns_of(X))
    return a


def check_y(y, n_samples, n_out, dtype, argument="y"):
    """y as a (N, n_out) C-contiguous array; (N,) is accepted when n_out == 1."""
    a = as_float_array(y, argument, dtype)
    if a.ndim == 1 and n_out == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2:
        raise ValueError(f"{argument}: expected shape ({n_samples}, {n_out})" + (f" or ({n_samples},)" if n_out == 1 else "") + f", got shape {a.shape}")
    if a.shape[0] != n_samples:
        raise ValueError(f"{argument}: expected {n_samples} rows to match X, got {a.shape[0]} (shape {a.shape})")
    if a.shape[1] != n_out:
        raise ValueError(f"{argument}: expected {n_out} output(s) per sample (layer_sizes[-1]), got shape {a.shape}")
    check_finite(a, argument, _columns_of(y))
    return a


# Per thread: arrays already found finite, by (address, shape, strides, dtype) -> array; set by
# gradfit._fused, whose jobs share one X and y: each is scanned once, not once per job.
FOUND_FINITE = threading.local()


def _where(a):
    return a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str


# Per thread: the largest |value| of arrays check_finite just proved finite, by id -> (weakref,
# value). Read once (take_largest_abs) by the same call's loss bound (gradfit._loop), which
# would otherwise pass over the data again.
_LARGEST = threading.local()
_LARGEST_KEPT = 4


def take_largest_abs(a):
    """max |a| as check_finite found it, if it checked this very array last
    (and the entry was not taken yet); else None. The entry is removed."""
    kept = getattr(_LARGEST, "arrays", None)
    hit = kept.pop(id(a), None) if kept else None
    return hit[1] if hit is not None and hit[0]() is a else None


def check_finite(a, argument, columns=None):
    """Raises ValueError if `a` holds NaN or inf, saying how many and where.
    A float array's min and max come first, with no temporary: both finite
    prove every value finite (a NaN or inf would carry into one of them),
    and give max |a| for take_largest_abs; the exact count and place are
    found only for an array that holds a non-finite value."""
    known = getattr(FOUND_FINITE, "arrays", None)
    if known is not None and isinstance(a, np.ndarray) and _where(a) in known:
        return
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        hi, lo = float(a.max(initial=0.0)), float(a.min(initial=0.0))
        if math.isfinite(hi) and math.isfinite(lo):
            kept = getattr(_LARGEST, "arrays", None)
            if kept is None:
                kept = _LARGEST.arrays = {}
            while len(kept) >= _LARGEST_KEPT:
                del kept[next(iter(kept))]
            kept[id(a)] = (weakref.ref(a), max(hi, -lo))
            return
    finite = np.isfinite(a)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        where = ""
        if columns is not None and a.ndim == 2:
            names = [columns[j] for j in np.flatnonzero(~finite.all(axis=0))]
            where = f" in column(s) {names[:5]!r}" + (" ..." if len(names) > 5 else "")
        elif a.ndim >= 1:
            where = f" (the first at index {tuple(int(i) for i in np.argwhere(~finite)[0])})"
        raise ValueError(f"{argument}: expected finite values, got {bad} NaN or inf value(s){where}")


def check_int(value, argument, minimum, allow_none=False):
    """An integer >= minimum (bools are refused), or None when allowed."""
    if value is None and allow_none:
        return None
    if type(value) is int and value >= minimum:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        raise TypeError(f"{argument}: expected {expected}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{argument}: expected an integer >= {minimum}, got {value}")
    return int(value)


def check_positive(value, argument, allow_none=False):
    """A finite real number > 0."""
    if value is None and allow_none:
        return None
    if type(value) is float and 0.0 < value < _INF:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument}: expected a positive finite number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{argument}: expected a positive finite number, got {value!r}")
    return value


def check_threads(n_threads, argument="n_threads"):
    """An int in [1, 64]: the threads the C core may use for one call's products."""
    if type(n_threads) is int and 1 <= n_threads <= 64:
        return n_threads
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"{argument}: expected an integer in [1, 64], got {type(n_threads).__name__} {n_threads!r}")
    if not 1 <= n_threads <= 64:
        raise ValueError(f"{argument}: expected an integer in [1, 64], got {n_threads!r}")
    return int(n_threads)


def check_seed(seed, argument="seed"):
    """None, an int >= 0 or a numpy Generator (what numpy.random.default_rng takes here)."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    return check_int(seed, argument, 0)


def check_non_negative(value, argument):
    """A finite real number >= 0."""
    if type(value) is float and 0.0 <= value < _INF:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument}: expected a finite number >= 0, got {type(value).__name__} {value!r}")
    value = float(value)
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{argument}: expected a finite number >= 0, got {value!r}")
    return value


def check_dtype(dtype, argument="dtype"):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{argument}: expected 'float32' or 'float64', got {dtype!r}")
    return dt


def check_finite_chunked(a, argument, chunk_rows, dtype=None):
    """check_finite for data larger than memory: reads `a` (e.g. a memmap) by
    blocks of `chunk_rows` rows, so the scratch memory is one block, not N
    rows. With `dtype`, each block is also cast to it, which catches values
    that overflow a narrower dtype. The message is the same as check_finite's,
    with the index counted in the whole array."""
    first = None
    bad = 0
    for start in range(0, a.shape[0], chunk_rows):
        block = a[start:start + chunk_rows]
        if dtype is not None:
            block = as_float_array(block, argument, dtype) if block.dtype != dtype else np.asarray(block)
        finite = np.isfinite(block)
        if not finite.all():
            bad += int(finite.size - np.count_nonzero(finite))
            if first is None:
                where = np.argwhere(~finite)[0]
                first = (int(where[0]) + start,) + tuple(int(i) for i in where[1:])
    if bad:
        raise ValueError(f"{argument}: expected finite values, got {bad} NaN or inf value(s) (the first at index "
                         f"{first})")


def check_X_shape(X, n_in, argument="X"):
    """The shape checks of check_X without reading the values (for a memmap)."""
    check_rows_shape(X.shape, n_in, argument)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{argument}: expected real numbers, got {_describe(X)}")
