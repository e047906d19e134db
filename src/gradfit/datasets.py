"""Small data sets: the tutorial's, classic toy problems made on the fly, and
loaders for CSV and .npy files.

Every generator is seeded and returns ``(X, y)``: X of shape (n, n_features)
and y of shape (n,) (float targets for regression, int class ids for
classification).
"""
import csv
import math
import os

import numpy as np

from ._validate import check_int

__all__ = ["line", "dose_response", "bump", "sine", "xor", "moons", "spirals", "read_csv", "load_csv", "load_npy", "load"]


def _rng(seed):
    return np.random.default_rng(seed)


def _check_noise(noise):
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not (0 <= noise < math.inf):
        raise ValueError(f"noise: expected a finite number >= 0, got {noise!r}")
    return float(noise)


# -- the tutorial's data ---------------------------------------------------------
def line(n=50, noise=0.1, seed=0, x_range=(0.0, 10.0)):
    """Points on y = -x + 5 for x evenly spaced over `x_range`, with Gaussian
    noise of std `noise` (the tutorial's linear-regression data)."""
    n = check_int(n, "n", 2)
    noise = _check_noise(noise)
    x = np.linspace(*x_range, n).reshape(-1, 1)
    return x, -x[:, 0] + 5 + _rng(seed).normal(0, noise, n)


def dose_response():
    """The tutorial's three points: doses x = 0, 0.5, 1 with responses y = 0, 1, 0
    (too few for a line, exactly right for the 1-2-1 softplus net)."""
    return np.array([[0.0], [0.5], [1.0]]), np.array([0.0, 1.0, 0.0])


def bump(n=200):
    """y = exp(-((x - 0.5) / 0.15)^2) on n points evenly spaced in [0, 1]."""
    n = check_int(n, "n", 2)
    x = np.linspace(0, 1, n).reshape(-1, 1)
    return x, np.exp(-((x[:, 0] - 0.5) / 0.15) ** 2)


def sine(n=100, noise=0.0, seed=0, periods=1.0):
    """y = sin(x) (+ Gaussian noise) on n points evenly spaced over `periods`
    periods, x in [0, 2 pi periods]."""
    n = check_int(n, "n", 2)
    noise = _check_noise(noise)
    x = np.linspace(0, 2 * np.pi * periods, n).reshape(-1, 1)
    return x, np.sin(x[:, 0]) + _rng(seed).normal(0, noise, n)


# -- classic classification sets ---------------------------------------------------
def xor(n=4, noise=0.0, seed=0):
    """XOR: the corners (0,0), (0,1), (1,0), (1,1) with labels 0, 1, 1, 0.
    With n > 4, n points cycling over the corners, with Gaussian noise."""
    n = check_int(n, "n", 4)
    noise = _check_noise(noise)
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = np.array([0, 1, 1, 0])
    idx = np.arange(n) % 4
    return corners[idx] + _rng(seed).normal(0, noise, (n, 2)), labels[idx]


def moons(n=200, noise=0.1, seed=0):
    """Two interleaved half circles, n // 2 points each (the first gets the odd
    one), labels 0 and 1, with Gaussian noise of std `noise`."""
    n = check_int(n, "n", 2)
    noise = _check_noise(noise)
    n0 = n - n // 2
    t0 = np.linspace(0, np.pi, n0)
    t1 = np.linspace(0, np.pi, n // 2)
    X = np.concatenate([np.column_stack([np.cos(t0), np.sin(t0)]),
                        np.column_stack([1 - np.cos(t1), 0.5 - np.sin(t1)])])
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n // 2, dtype=np.int64)])
    return X + _rng(seed).normal(0, noise, X.shape), y


def spirals(n=200, classes=2, noise=0.1, seed=0, turns=1.5):
    """`classes` interleaved spiral arms of about n / classes points each,
    labels 0 .. classes - 1, radius 0 to 1 over `turns` turns."""
    n = check_int(n, "n", 2)
    classes = check_int(classes, "classes", 2)
    noise = _check_noise(noise)
    y = np.arange(n) % classes
    rng = _rng(seed)
    X = np.empty((n, 2))
    for c in range(classes):
        k = np.flatnonzero(y == c)
        r = np.linspace(0.05, 1, k.size)
        theta = 2 * np.pi * (turns * r + c / classes)
        X[k] = np.column_stack([r * np.cos(theta), r * np.sin(theta)])
    return X + rng.normal(0, noise * 0.1, X.shape), y


# -- files -------------------------------------------------------------------------
def _number(cell):
    try:
        v = float(cell)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def read_csv(path):
    """(column names, (N, C) float64 array) of a CSV file of numbers.

    The first row is a header when any of its cells is not a number
    (columns are then named by it; else "0", "1", ...). Raises ValueError
    naming the file, the line and the column for ragged rows, empty or
    non-numeric cells, NaN or inf."""
    name = os.fspath(path)
    try:
        with open(name, newline="") as f:
            rows = [(i, r) for i, r in enumerate(csv.reader(f), start=1) if r and any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise ValueError(f"path: {name} is not a text CSV file (it is not valid UTF-8)") from None
    except csv.Error as e:
        raise ValueError(f"path: {name} is not a valid CSV file ({e})") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"path: {name}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"path: {name} is a directory, expected a CSV file") from None
    if not rows:
        raise ValueError(f"path: {name} is empty, expected rows of numbers")
    first = [c.strip() for c in rows[0][1]]
    if any(_number(c) is None for c in first):
        columns, rows = first, rows[1:]
        if not rows:
            raise ValueError(f"path: {name} has a header ({', '.join(columns)}) but no rows of data")
    else:
        columns = [str(j) for j in range(len(first))]
    data = np.empty((len(rows), len(columns)))
    for k, (line_no, row) in enumerate(rows):
        if len(row) != len(columns):
            raise ValueError(f"path: {name} line {line_no}: expected {len(columns)} cells (as in the first "
                             f"row), got {len(row)}")
        for j, cell in enumerate(row):
            v = _number(cell.strip())
            if v is None:
                raise ValueError(f"path: {name} line {line_no}, column {columns[j]!r}: expected a finite "
                                 f"number, got {cell.strip()!r}")
            data[k, j] = v
    return columns, data


def _split_target(name, columns, data, target):
    """(X, y) with the target column taken out; target a column name or index."""
    if target is None:
        return data, None
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        j = int(target)
        if not -len(columns) <= j < len(columns):
            raise ValueError(f"target: {name} has {len(columns)} columns, got column index {j}")
        j %= len(columns)
    elif str(target) in columns:
        j = columns.index(str(target))
    else:
        raise ValueError(f"target: {name} has no column {target!r} (its columns: {', '.join(columns)})")
    if data.shape[1] < 2:
        raise ValueError(f"target: {name} has only the target column {columns[j]!r}, no features")
    return np.delete(data, j, axis=1), data[:, j].copy()


def load_csv(path, target=None):
    """Reads a CSV file of numbers.

    Parameters
    ----------
    path : str or path-like
    target : str or int, optional
        The target column, by header name (or index). Without it the whole
        table is returned as X.

    Returns
    -------
    (X, y) : X (N, features) float64 and y (N,) float64 (None without target)

    Raises
    ------
    ValueError
        Naming the file and what is wrong: ragged rows, empty or non-numeric
        cells, a missing target column.
    FileNotFoundError
    """
    columns, data = read_csv(path)
    return _split_target(os.fspath(path), columns, data, target)


def _check_npy_size(name):
    """ValueError when the .npy header's shape needs more bytes than the file
    holds: np.load would allocate the declared size first (a header claiming
    shape (10**12, 3) is a MemoryError, not a message)."""
    if os.path.exists(name) and not os.path.isfile(name):
        raise ValueError("not a regular file")
    with open(name, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if dtype.hasobject:
            return                  # np.load refuses it (allow_pickle=False) with its own message
        needed = math.prod(shape) * dtype.itemsize
        held = os.fstat(f.fileno()).st_size - f.tell()
        if needed > held:
            raise ValueError(f"its header declares shape {shape} of {dtype} ({needed} bytes), but the file holds "
                             f"{held} bytes of data (truncated or damaged)")


def load_npy(path, target=None):
    """Reads a .npy file holding a 2-D array of numbers; `target` is a column
    index (e.g. -1 for the last). Returns (X, y) like :func:`load_csv`."""
    name = os.fspath(path)
    try:
        _check_npy_size(name)
        a = np.load(name, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"path: {name}: no such file") from None
    except (ValueError, OSError) as e:
        raise ValueError(f"path: {name} is not a readable .npy file ({e})") from None
    if not isinstance(a, np.ndarray):
        raise ValueError(f"path: {name}: expected a 2-D array of numbers, got a file of several arrays")
    if a.ndim != 2 or a.dtype.kind not in "biuf":
        raise ValueError(f"path: {name}: expected a 2-D array of numbers, got shape {a.shape} and dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"path: {name}: expected finite numbers, got NaN or inf")
    if isinstance(target, str):
        if not target.lstrip("-").isdigit():
            raise ValueError(f"target: {name} is a .npy array without column names; give a column index, "
                             f"got {target!r}")
        target = int(target)
    return _split_target(name, [str(j) for j in range(a.shape[1])], a, target)


def load(path, target=None):
    """:func:`load_csv` or :func:`load_npy`, by the file's extension (.npy is
    NumPy's format; anything else is read as CSV)."""
    if os.fspath(path).lower().endswith(".npy"):
        return load_npy(path, target)
    return load_csv(path, target)
