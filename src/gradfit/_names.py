"""Name tables: the strings users write, mapped to the C core's enum ids.

The ids are defined once, by the enums in csrc/gradfit.h; gradfit._core
exposes them (cdef extern enums) and these tables are copies of its. The NumPy
formulas are keyed by the same names (gradfit._math.ACTIVATIONS, ...;
tests/test_math.py checks that the names agree).
"""
from . import _core

ACTIVATIONS = dict(_core.ACTIVATIONS)
LOSSES = dict(_core.LOSSES)
OPTIMIZERS = dict(_core.OPTIMIZERS)
BACKENDS = ("c", "numpy")


def lookup(table, name, argument):
    """Returns the canonical name for `name` in `table`, or raises ValueError
    naming the argument, the known names and what was given."""
    if not isinstance(name, str):
        raise TypeError(
            f"{argument}: expected one of {sorted(table)} as a string, "
            f"got {type(name).__name__} {name!r}"
        )
    key = name.lower()
    if key not in table:
        raise ValueError(f"{argument}: expected one of {sorted(table)}, got {name!r}")
    return key
