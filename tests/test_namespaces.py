"""Every public module says what it exports (``__all__``), and every name it
exports is documented: functions, classes and modules by a docstring, other
values (constants) in the module's docstring or by a ``#:`` comment."""
import importlib
import inspect
import pkgutil

import pytest

import gradfit

OPTIONAL = {"sklearn": "sklearn", "plot": "matplotlib"}


def _public_modules():
    names = ["gradfit"]
    for info in pkgutil.iter_modules(gradfit.__path__):
        if not info.name.startswith("_"):
            names.append(f"gradfit.{info.name}")
    return names


@pytest.mark.parametrize("name", _public_modules())
def test_every_public_module_has_an_all_of_documented_names(name):
    short = name.split(".")[-1]
    if short in OPTIONAL:
        pytest.importorskip(OPTIONAL[short])
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    assert module.__doc__, f"{name} has no docstring"
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        source = ""
    undocumented = []
    for export in module.__all__:
        if export == "plot" and name == "gradfit":
            continue                                    # gradfit.plot loads on first use (matplotlib)
        assert hasattr(module, export), f"{name}.__all__ names {export!r}, which {name} does not have"
        value = getattr(module, export)
        if inspect.ismodule(value) or inspect.isclass(value) or callable(value):
            if not (getattr(value, "__doc__", None) or "").strip():
                undocumented.append(export)
        elif export not in module.__doc__ and "#: " not in _comment_above(source, export):
            undocumented.append(export)
    assert not undocumented, f"{name}: undocumented exports {undocumented}"


def _comment_above(source, name):
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"{name}:") or line.startswith(f"{name} ="):
            return lines[i - 1] + " " if i else ""
    return ""


def test_dir_of_a_module_shows_its_api_not_its_imports():
    from gradfit import datasets
    assert set(datasets.__all__) >= {"line", "load", "bump"}
    assert not {"np", "os", "math", "csv", "check_int"} & set(datasets.__all__)
