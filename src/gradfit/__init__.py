"""gradfit: small fully-connected networks trained by backpropagation and
minibatch SGD, with the whole training loop in C.

    import gradfit as gf
    model = gf.MLP([1, 2, 1], activation="softplus", seed=0)
    result = gf.train(model, X, y, lr=0.05, batch_size=32, epochs=10, seed=0)
    print(result)
"""
from . import callbacks, datasets, reference, schedules
from .config import config, show_config, simd
from .explain import explain_step
from .io import load, load_trainer
from .model import MLP
from .optimizers import SGD, Adam, AdamW
from .result import TrainResult
from .training import DivergenceWarning, Trainer, train

__version__ = "0.1.0"
__all__ = ["MLP", "train", "Trainer", "TrainResult", "DivergenceWarning", "SGD", "Adam", "AdamW", "schedules",
           "callbacks", "reference", "config", "show_config", "simd", "load", "load_trainer", "explain_step",
           "datasets", "plot", "__version__"]


def __getattr__(name):
    # gradfit.plot imports matplotlib: only when it is first used.
    if name == "plot":
        import importlib
        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
