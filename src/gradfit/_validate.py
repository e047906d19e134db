"""Argument checks shared by the model, train() and the reference backend.

Every check raises before any C call, with a message that names the argument,
what was expected and what was given.
"""
import numbers

import numpy as np


def _describe(a):
    return f"array of shape {a.shape} and dtype {a.dtype}"


def as_float_array(value, argument, dtype):
    """`value` as a C-contiguous array of `dtype` (copied only if needed)."""
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
    return np.asarray(a, dtype=dtype, order="C")   # keeps 0-d arrays 0-d


def check_X(X, n_in, dtype, argument="X"):
    """X as a (N, n_in) C-contiguous array of dtype, N >= 1, all finite."""
    a = as_float_array(X, argument, dtype)
    if a.ndim != 2:
        hint = " (use X.reshape(-1, 1) for one feature)" if a.ndim == 1 else ""
        raise ValueError(f"{argument}: expected a 2-D array (n_samples, {n_in}), got {a.ndim}-D shape {a.shape}{hint}")
    if a.shape[0] == 0:
        raise ValueError(f"{argument}: expected at least one sample, got shape {a.shape}")
    if a.shape[1] != n_in:
        raise ValueError(f"{argument}: expected {n_in} feature(s) per sample (layer_sizes[0]), got shape {a.shape}")
    check_finite(a, argument)
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
    check_finite(a, argument)
    return a


def check_finite(a, argument):
    if not np.isfinite(a).all():
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{argument}: expected finite values, got {bad} NaN or inf value(s)")


def check_int(value, argument, minimum, allow_none=False):
    """An integer >= minimum (bools are refused), or None when allowed."""
    if value is None and allow_none:
        return None
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
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument}: expected a positive finite number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{argument}: expected a positive finite number, got {value!r}")
    return value


def check_dtype(dtype, argument="dtype"):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{argument}: expected 'float32' or 'float64', got {dtype!r}")
    return dt
