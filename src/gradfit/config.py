"""Build and runtime configuration: versions and the SIMD path in use."""
import platform
import sys

import numpy as np

from . import _core


def simd(path=None):
    """Returns the SIMD path in use; with `path` ("baseline", "avx2",
    "avx512" or "auto"), switches to it first. GRADFIT_SIMD=baseline (or
    avx2) in the environment caps the path chosen at start-up."""
    return _core.simd_get() if path is None else _core.simd_set(path)


def config():
    from . import __version__
    return {
        "gradfit": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": platform.machine(),
        "simd_in_use": _core.simd_get(),
        "simd_available": _core.simd_available(),
    }


def show_config(file=None):
    """Prints versions and the SIMD path in use."""
    for key, value in config().items():
        print(f"{key:15s} {value}", file=file or sys.stdout)
