"""gradfit: small fully-connected networks trained by backpropagation and
minibatch SGD, with the whole training loop in C.

    import gradfit as gf
    model = gf.MLP([1, 2, 1], activation="softplus", seed=0)
    result = gf.train(model, X, y, lr=0.05, batch_size=32, epochs=10, seed=0)
    print(result)

``gradfit.__version__`` is the installed version.
"""
from ._version import __version__


def _load_core():
    """Import the compiled extension first, so that a missing one, or one
    built for another Python, gives one clear error instead of an
    ImportError deep inside a submodule."""
    import importlib
    try:
        importlib.import_module(f"{__name__}._core")
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError) and e.name not in (None, f"{__name__}._core"):
            raise               # a dependency of _core (numpy) is missing: its own message says so
        raise ImportError(_core_error_message(e), name=f"{__name__}._core") from e


def _core_error_message(error):
    import importlib.machinery
    import pathlib
    import platform
    import sys

    here = pathlib.Path(__file__).resolve().parent
    found = sorted(p.name for p in here.glob("_core*") if p.suffix in (".so", ".pyd", ".dylib"))
    wanted = ", ".join("_core" + s for s in importlib.machinery.EXTENSION_SUFFIXES)
    python = f"{platform.python_implementation()} {platform.python_version()}, {sys.platform} {platform.machine()}"
    seen = f"found {', '.join(found)} in {here}" if found else f"no _core file in {here}"
    return (
        f"gradfit: the compiled extension gradfit._core is missing or was built for another Python "
        f"({seen}; this Python ({python}) loads one of: {wanted}; the import said: {error}); "
        "reinstall with pip install --force-reinstall gradfit, or build from source: "
        "pip install --no-binary gradfit --force-reinstall gradfit (needs a C compiler and the "
        "Python headers), or in a source checkout: python setup.py build_ext --inplace"
    )


_load_core()

from . import callbacks, data, datasets, reference, schedules  # noqa: E402
from .config import config, show_config, simd
from .explain import explain_step
from .io import load, load_trainer
from .many import train_many
from ._fused import grid
from .model import MLP
from .optimizers import SGD, Adam, AdamW
from .result import TrainResult
from .result import ConvergenceWarning, DivergenceWarning
from .shuffling import epoch_order
from .trainer import Trainer, train

__all__ = ["MLP", "train", "train_many", "grid", "Trainer", "TrainResult", "ConvergenceWarning", "DivergenceWarning", "SGD", "Adam", "AdamW",
           "schedules", "callbacks", "reference", "config", "show_config", "simd", "load", "load_trainer",
           "explain_step", "datasets", "data", "plot", "epoch_order", "__version__"]


def __getattr__(name):
    # gradfit.plot imports matplotlib: only when it is first used.
    if name == "plot":
        import importlib
        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
