"""Build and runtime configuration: versions and the SIMD path in use."""
from __future__ import annotations

import platform
import sys
from typing import IO, Any

import numpy as np

from . import _core


def simd(path: str | None = None) -> str:
    """The SIMD path the C core uses, optionally switching it first.

    Parameters
    ----------
    path : {"baseline", "avx2", "avx512", "auto"} or None
        Switch to this path ("auto": the best this CPU runs) before
        answering. The paths give the same results up to rounding.

    Returns
    -------
    str
        The path in use. ``GRADFIT_SIMD=baseline`` (or ``avx2``) in the
        environment caps the path chosen at start-up.
    """
    return _core.simd_get() if path is None else _core.simd_set(path)


def config() -> dict[str, Any]:
    """Versions and the SIMD paths, as a dict.

    Returns
    -------
    dict
        ``gradfit``, ``python``, ``numpy``, ``machine``, ``simd_in_use`` and
        ``simd_available`` (the paths this build runs on this CPU).
    """
    from ._version import __version__
    return {
        "gradfit": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": platform.machine(),
        "simd_in_use": _core.simd_get(),
        "simd_available": _core.simd_available(),
    }


def show_config(file: IO[str] | None = None) -> None:
    """Prints :func:`config`, one ``key value`` line each.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default ``sys.stdout``).
    """
    for key, value in config().items():
        print(f"{key:15s} {value}", file=file or sys.stdout)
