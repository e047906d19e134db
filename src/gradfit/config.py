"""Build and runtime configuration: versions, the SIMD path in use, the CPU
and the block sizes and thread thresholds chosen for it (gradfit._tuning,
applied here once, at import)."""
from __future__ import annotations

import platform
import sys
from typing import IO, Any

import numpy as np

from . import _core, _tuning

__all__ = ["simd", "config", "show_config"]

_CPU = _tuning.read_cpu()
_CHOICES = _tuning.apply(_core, _CPU)


def _retune() -> None:
    """Chooses again for the path now in use (the kc of a path is in rows
    of its vectors) and hands the choice to the C core."""
    global _CHOICES
    _CHOICES = _tuning.apply(_core, _CPU)


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
    if path is None:
        return _core.simd_get()
    chosen = _core.simd_set(path)
    _retune()
    return chosen


def config() -> dict[str, Any]:
    """Versions, the SIMD paths, the CPU and what was chosen for it, as a dict.

    Returns
    -------
    dict
        ``gradfit``, ``python``, ``numpy``, ``machine``, ``simd_in_use`` and
        ``simd_available`` (the paths this build runs on this CPU); ``cpu``
        (the model name), ``cpu_id`` (vendor, family, model and the core
        design), ``caches`` (L1d, L2, L3 in bytes, 0 if unknown, and where
        they were read); ``tuning``: each block size and thread threshold in
        use, ``{name: {"value", "source", "why"}}``, where source is
        ``detected`` (from the CPU), ``default`` (csrc/tuning.h),
        ``measured`` (the thread thresholds, derived from the worker pool's
        wake-up cost once it starts) or ``env`` (``GRADFIT_TUNING``). None
        of them changes results; see the performance page.
    """
    from ._version import __version__
    cpu, core = _CPU, _core.tuning_get()
    tuning = {k: dict(v) for k, v in _CHOICES.items()}
    for key in ("parallel_macs", "parallel_outs", "parallel_small", "parallel_update"):
        if tuning[key]["source"] == "measured":
            tuning[key]["value"] = core[key] if core["wake_ns"] else f"{core[key]} until the pool starts"
    tuning["pool_wake_ns"] = {"value": core["wake_ns"] or "not measured yet",
                              "source": "measured" if core["wake_ns"] else "default",
                              "why": "an empty two-part task's round trip: the median of 9, the least over "
                                     "the pool's start and the first calls after it"}
    return {
        "gradfit": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": platform.machine(),
        "simd_in_use": _core.simd_get(),
        "simd_available": _core.simd_available(),
        "cpu": cpu.name or "unknown",
        "cpu_id": f"{cpu.vendor or '?'} family {cpu.family} model {cpu.model} "
                  f"({_tuning.microarch(cpu) or 'unknown design'}), {cpu.mhz or '?'} MHz",
        "caches": {"l1d": cpu.l1d, "l2": cpu.l2, "l3": cpu.l3, "source": cpu.source},
        "tuning": tuning,
    }


def show_config(file: IO[str] | None = None) -> None:
    """Prints :func:`config`, one ``key value`` line each.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default ``sys.stdout``).
    """
    out = file or sys.stdout
    for key, value in config().items():
        if key == "tuning":
            for name, c in value.items():
                print(f"{name:15s} {c['value']} [{c['source']}: {c['why']}]", file=out)
        elif key == "caches":
            print(f"{key:15s} " + ", ".join(f"{k} {_kib(v)}" for k, v in value.items() if k != "source")
                  + f" [{value['source']}]", file=out)
        else:
            print(f"{key:15s} {value}", file=out)


def _kib(n: int) -> str:
    return "?" if not n else (f"{n // 1048576} MiB" if n % 1048576 == 0 else f"{n // 1024} KiB")
