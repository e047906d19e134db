"""Every example in a docstring runs, and prints what it says it prints."""
import doctest
import importlib
import pkgutil

import pytest

import gradfit

OPTIONAL = {"gradfit.sklearn": "sklearn", "gradfit.plot": "matplotlib"}


def _modules():
    names = ["gradfit"]
    for info in pkgutil.walk_packages(gradfit.__path__, "gradfit."):
        if not info.name.split(".")[-1].startswith("__"):
            names.append(info.name)
    return names


def test_the_docstrings_have_examples():
    finder = doctest.DocTestFinder()
    total = sum(len(t.examples) for name in _modules() if name not in OPTIONAL
                for t in finder.find(importlib.import_module(name)))
    assert total >= 15


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name):
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, globs={"np": __import__("numpy"), "gf": gradfit}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"
