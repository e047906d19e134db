"""The manual (docs/, built by Sphinx in .ci/docs.sh): its API reference lists
every public name, and every page is reachable from the index."""
import importlib
import inspect
import pathlib
import pkgutil
import re

import pytest

import gradfit

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
pytestmark = pytest.mark.skipif(not (DOCS / "api.rst").is_file(), reason="docs/ is not here (not a source tree)")
OPTIONAL = {"sklearn": "sklearn", "plot": "matplotlib"}


def _sections():
    """{module: [names listed under its autosummary]} from docs/api.rst."""
    out, module = {}, None
    for line in (DOCS / "api.rst").read_text().splitlines():
        m = re.match(r"\.\. currentmodule:: (\S+)", line)
        if m:
            module = m.group(1)
            out[module] = []
        elif module and re.match(r"   [A-Za-z_]\w*$", line):
            out[module].append(line.strip())
    return out


def test_the_api_reference_lists_every_public_name():
    sections = _sections()
    modules = ["gradfit"] + [f"gradfit.{m.name}" for m in pkgutil.iter_modules(gradfit.__path__)
                             if not m.name.startswith("_")]
    for name in modules:
        short = name.split(".")[-1]
        if short in OPTIONAL:
            pytest.importorskip(OPTIONAL[short])
        module = importlib.import_module(name)
        assert name in sections, f"docs/api.rst has no section for {name}"
        wanted = [n for n in module.__all__ if not (name == "gradfit" and (n == "plot" or
                                                                         inspect.ismodule(getattr(module, n))))]
        missing = sorted(set(wanted) - set(sections[name]))
        assert not missing, f"docs/api.rst lacks {name}: {missing}"


def test_every_page_is_in_a_table_of_contents():
    text = "\n".join(p.read_text() for p in DOCS.rglob("*.md")) + (DOCS / "index.md").read_text()
    pages = [p.relative_to(DOCS).with_suffix("").as_posix() for p in DOCS.rglob("*.md")
             if "_build" not in p.parts and p.name != "index.md"]
    for page in pages:
        leaf = page.split("/")[-1]
        assert re.search(rf"^(\.\./)?{re.escape(leaf)}$", text, re.M) or leaf in ("index",), \
            f"docs/{page}.md is in no toctree"
