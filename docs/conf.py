"""Sphinx configuration of gradfit's manual: pip install ".[docs]", then
sphinx-build -W -b html docs docs/_build/html (.ci/run builds it so, warnings
as errors). The tutorial's numbers and figures are computed while the site
builds (the gf-run directive below)."""
import contextlib
import io
import os
import sys

from docutils import nodes
from docutils.parsers.rst import Directive

import gradfit

project = "gradfit"
author = "the gradfit developers"
copyright = "2026, the gradfit developers"
version = release = gradfit.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
# Links from these pages to files of the source tree (tests/, csrc/, benchmarks/)
# point outside the site: they are fine on GitHub and plain text here.
suppress_warnings = ["myst.xref_missing", "myst.header"]
# gf.MLP and gradfit.model.MLP are one class documented under both names: a
# type named MLP in a docstring links to either.
suppress_warnings += ["ref.python"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

html_theme = "pydata_sphinx_theme"
html_title = f"gradfit {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []


class RunDirective(Directive):
    """``gf-run``: runs its Python code while the site builds, in one namespace
    per page, and shows the code and what it printed: every number on the
    tutorial page comes from a call, not from the page's text. With the option
    ``:figure: name``, the matplotlib Figure the code leaves in `name` is saved
    and shown below (gradfit.plot's figures)."""
    has_content = True
    option_spec = {"figure": str, "hide-code": lambda arg: True}

    def run(self):
        env = self.state.document.settings.env
        namespace = env.temp_data.setdefault("gf_run_namespace", {})
        code = "\n".join(self.content)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"<{env.docname}>", "exec"), namespace)     # noqa: S102 - the page's own code
        blocks = [] if "hide-code" in self.options else [nodes.literal_block(code, code, language="python")]
        if out.getvalue():
            blocks.append(nodes.literal_block(out.getvalue(), out.getvalue(), language="text"))
        if "figure" in self.options:
            count = env.temp_data["gf_run_figures"] = env.temp_data.get("gf_run_figures", 0) + 1
            name = f"{env.docname.replace('/', '-')}-{count}.png"
            os.makedirs(os.path.join(env.srcdir, "_generated"), exist_ok=True)
            namespace[self.options["figure"]].savefig(os.path.join(env.srcdir, "_generated", name), dpi=90)
            blocks.append(nodes.image(uri=f"/_generated/{name}", alt=self.options["figure"]))
        return blocks


def _skip_foreign(app, what, name, obj, skip, options):
    """The estimators' members that scikit-learn defines (set_*_request, score,
    ...) are scikit-learn's to document."""
    module = getattr(obj, "__module__", None) or ""
    return True if module.startswith("sklearn") else None


def setup(app):
    app.add_directive("gf-run", RunDirective)
    app.connect("autodoc-skip-member", _skip_foreign)


sys.path.insert(0, os.path.abspath(os.path.dirname(__file__)))
