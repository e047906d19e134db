"""The package's shape, checked: imports flow one way (every import,
including those inside functions, goes to a module of the same or a lower
layer, and there is no circle), and no function, class or module outgrows a
screen, a class or a file (docs/architecture.md says why)."""
import ast
import pathlib

import pytest

import gradfit

PKG = pathlib.Path(gradfit.__file__).resolve().parent
SRC = PKG.parent.parent if (PKG.parent.name == "src") else None

# Bottom to top. A module may import modules of its own layer or below.
LAYERS = [
    # the compiled core, then foundations: names, checks, formulas, files, orders; nothing of the model
    {"_core", "_version", "_names", "_validate", "_sparse", "_layout", "_math", "_metrics", "_npzfile", "_optional", "result",
     "callbacks", "config", "shuffling", "data", "datasets", "optimizers", "schedules", "_targets", "_epoch_orders",
     "_tuning"},
    # the NumPy oracle, the file codec, other frameworks' formats
    {"reference", "_codec", "interop"},
    # the model
    {"model"},
    # one training run: backends, the shared bookkeeping, the two ways of feeding rows
    {"_runners", "_loop", "_array_run", "_out_of_core"},
    # the Trainer and train()
    {"trainer"},
    # what is built on training: files, explanations, figures, many models, the demo
    {"io", "explain", "plot", "many", "_fused", "_fused_set", "demo"},
    # front ends (sklearn._lbfgs: the estimators' L-BFGS-B driver, the only scipy user); bench (the
    # benchmark suite) is imported by cli alone
    {"sklearn", "sklearn._lbfgs", "cli", "__main__", "__init__", "bench"},
]

MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 400
MAX_MODULE_LINES = 800


def _modules():
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _layer_of(name):
    top = name.split(".")[0]
    for i, layer in enumerate(LAYERS):
        if top in layer or name in layer:
            return i
    return None


def _imports(name, path, known):
    """The package modules `name` imports anywhere in its file (not under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name[len("gradfit."):] for a in node.names if a.name.startswith("gradfit.")]
            targets += ["__init__" for a in node.names if a.name == "gradfit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module is None or not (node.module == "gradfit" or node.module.startswith("gradfit.")):
                    continue                          # another package (the standard library's io, ...)
                base = node.module.split(".")[1:]
            else:
                base = package[:len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            mod = ".".join(base) or "__init__"
            # `from pkg import sub` imports the submodule; `from mod import name` imports mod
            targets = [".".join(base + [a.name]) if ".".join(base + [a.name]) in known else mod
                       for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def _graph():
    mods = _modules()
    known = set(mods) | {"__init__", "_core"}          # _core: the compiled extension
    mods.setdefault("__init__", PKG / "__init__.py")
    return {name: _imports(name, path, known) for name, path in mods.items()}


def test_every_module_has_a_layer():
    missing = sorted(name for name in _graph() if _layer_of(name) is None)
    assert not missing, f"put these modules in a layer of LAYERS (and docs/architecture.md): {missing}"


def test_imports_go_down_or_sideways_never_up():
    graph = _graph()
    up = sorted(f"{a} (layer {_layer_of(a)}) imports {b} (layer {_layer_of(b)})"
                for a, targets in graph.items() for b in targets
                if _layer_of(a) is not None and _layer_of(b) is not None and _layer_of(b) > _layer_of(a))
    assert not up, "imports from a lower layer to a higher one:\n" + "\n".join(up)


def test_no_import_circle():
    graph = _graph()
    state, stack, circles = {}, [], []

    def visit(v):
        state[v] = "open"
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == "open":
                circles.append(stack[stack.index(w):] + [w])
            elif w not in state:
                visit(w)
        stack.pop()
        state[v] = "done"

    for v in sorted(graph):
        if v not in state:
            visit(v)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """An import written inside a function counts (it would hide a circle), one
    under `if TYPE_CHECKING:` does not, and the standard library's io is not gradfit.io."""
    path = tmp_path / "m.py"
    path.write_text("import io\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .trainer import Trainer\n"
                    "def f():\n    from . import model\n    from .io import load\n")
    assert _imports("m", path, {"model", "io", "trainer"}) == {"model", "io"}


def _sizes(path):
    source = path.read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield "function", node.name, node.lineno, node.end_lineno - node.lineno + 1, MAX_FUNCTION_LINES
        elif isinstance(node, ast.ClassDef):
            yield "class", node.name, node.lineno, node.end_lineno - node.lineno + 1, MAX_CLASS_LINES


def test_functions_classes_and_modules_fit():
    too_big = []
    for path in sorted(PKG.rglob("*.py")):
        lines = path.read_text().count("\n")
        if lines > MAX_MODULE_LINES:
            too_big.append(f"module {path.name}: {lines} lines (at most {MAX_MODULE_LINES})")
        if path.suffix == ".py":
            for kind, name, line, n, limit in _sizes(path):
                if n > limit:
                    too_big.append(f"{kind} {path.name}:{line} {name}: {n} lines (at most {limit})")
    assert not too_big, "split these:\n" + "\n".join(too_big)


@pytest.mark.skipif(SRC is None or not (SRC / "src" / "gradfit" / "_core.pyx").is_file(),
                    reason="the .pyx source is not here (tests run from an installed wheel)")
def test_the_cython_sources_fit():
    for path in sorted((SRC / "src" / "gradfit").glob("*.px[id]")) + [SRC / "src" / "gradfit" / "_core.pyx"]:
        lines = path.read_text().count("\n")
        assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines (at most {MAX_MODULE_LINES})"
