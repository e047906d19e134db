"""The optional extras: each third-party package that only some of gradfit
needs, imported when that part is used, with one message when it is missing."""
import importlib

#: package to import -> (what pip installs, the gradfit extra that brings it)
EXTRAS = {
    "sklearn": ("scikit-learn", "sklearn"),
    "scipy": ("scipy", "sklearn"),
    "matplotlib": ("matplotlib", "plot"),
    "tqdm": ("tqdm", "progress"),
    "pyarrow": ("pyarrow", "parquet"),
    "distributed": ("dask[distributed]", "dask"),
    "torch": ("torch", "torch"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
}


def require(module, purpose):
    """`module` imported, or an ImportError saying what `purpose` needs and
    how to install it: '<purpose> needs <package>: pip install <package> (or
    "gradfit[<extra>]")'."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if getattr(exc, "name", None) not in (None, top, module) and not str(getattr(exc, "name", "")).startswith(top):
            raise                           # the package is there but one of its own imports failed
        package, extra = EXTRAS.get(top, (top, None))
        hint = f' (or "gradfit[{extra}]")' if extra else ""
        raise ImportError(f"{purpose} needs {package}: pip install {package}{hint}", name=top) from exc
