"""Name tables: the strings users write, mapped to the C core's enum ids.

The ids must match the enums in csrc/gradfit.h. The NumPy reference keeps its
own tables keyed by the same names (gradfit.reference.ACTIVATIONS, ...).
"""

ACTIVATIONS = {"identity": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "softplus": 4}
LOSSES = {"mse": 0, "sse": 1}
OPTIMIZERS = {"sgd": 0}
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
