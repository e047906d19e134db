"""What users install: the wheel's and the sdist's contents, the version and
the import-time check of the compiled extension.

Contents are checked three ways:
  * the installed distribution, when the gradfit imported is one (a wheel
    installed by cibuildwheel, tools/build_wheels.sh, .ci/run): the files
    its RECORD lists with a hash are exactly the wheel's files. Fast; part
    of the per-wheel test set.
  * artifacts named by GRADFIT_SDIST / GRADFIT_WHEEL (tools/build_wheels.sh
    sets them to the sdist and the auditwheel-repaired wheel it ships).
  * otherwise, from a source tree, an sdist of a copy of the tree and a wheel
    built from that sdist (python -m build --no-isolation: the test extras
    provide build, setuptools and Cython). That compiles the C core, so those
    tests are marked builds_wheel and run only with --build-wheels; they skip
    with the reason when they cannot build.
"""
import importlib.machinery
import importlib.metadata
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

import gradfit
from gradfit import _version

ROOT = pathlib.Path(__file__).resolve().parents[1]
IN_SOURCE_TREE = (ROOT / "pyproject.toml").is_file() and (ROOT / "csrc").is_dir()
PKG = pathlib.Path(gradfit.__file__).resolve().parent

# Never in a distribution: compiled objects, caches, build and VCS leftovers.
_LEFTOVER = re.compile(
    r"(^|/)(__pycache__|\.pytest_cache|\.hypothesis|\.mypy_cache|\.git|\.venv[^/]*|build|dist|wheelhouse)/"
    r"|\.(o|obj|pyc|pyo|a|lib|exp)$|(^|/)\.DS_Store$|~$")

_NOT_COPIED = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", ".pytest_cache",
                                     ".hypothesis", "wheelhouse")


# ---- the checks, on lists of file names --------------------------------------

def check_wheel_names(names):
    """names: the wheel's files, relative to its root."""
    names = set(names)
    pkg = {n for n in names if n.startswith("gradfit/")}
    core = [n for n in pkg if re.fullmatch(r"gradfit/_core\.[^/]*(so|pyd)", n)]
    assert len(core) == 1, f"expected one compiled gradfit/_core extension, found {core}"
    for needed in ("gradfit/__init__.py", "gradfit/_version.py", "gradfit/py.typed", "gradfit/_core.pyi",
                   "gradfit/cli.py", "gradfit/__main__.py", "gradfit/bench/__init__.py",
                   "gradfit/bench/__main__.py", "gradfit/bench/baseline.py", "gradfit/bench/workloads.py"):
        assert needed in names, f"{needed} is missing from the wheel"
    dist_info = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
    assert len(dist_info) == 1, dist_info
    (di,) = dist_info
    assert f"{di}/METADATA" in names and f"{di}/WHEEL" in names
    assert any(n.startswith(f"{di}/") and n.endswith("/LICENSE") or n == f"{di}/LICENSE" for n in names), \
        "the LICENSE file is not in the wheel's .dist-info"
    assert f"{di}/entry_points.txt" in names, "the gradfit command's entry point is missing"
    # sources, generated C, tests and build leftovers stay out
    unwanted = sorted(n for n in names if _LEFTOVER.search(n) or n.endswith((".pyx", ".pxi", ".c", ".h", ".inc"))
                      or n.startswith(("tests/", "csrc/", "benchmarks/", "src/", "docs/")))
    assert unwanted == []
    # nothing outside the package, its .dist-info and auditwheel's vendored-library folder
    stray = sorted(n for n in names if not n.startswith(("gradfit/", f"{di}/", "gradfit.libs/")))
    assert stray == []
    return core[0]


def check_sdist_names(names, tree=None):
    """names: the sdist's files, relative to its top directory; tree: the
    source tree it was built from, if known (its csrc/ and tests/ files must
    all be in it)."""
    names = set(names)
    for needed in ("PKG-INFO", "pyproject.toml", "setup.py", "MANIFEST.in", "LICENSE", "README.md",
                   "src/gradfit/_core.pyx", "src/gradfit/_net.pxi", "src/gradfit/_core.pyi", "src/gradfit/py.typed",
                   "src/gradfit/_version.py", "src/gradfit/__init__.py",
                   "csrc/gradfit.h", "csrc/dtype.h", "csrc/dispatch.c", "csrc/net.c",
                   "csrc/kernels_f32_base.c", "csrc/kernels_f64_base.c", "csrc/train.inc",
                   "tests/conftest.py", "tests/test_wheel.py", "tests/c/check_core.c",
                   "benchmarks/run.py"):
        assert needed in names, f"{needed} is missing from the sdist"
    if tree is not None:
        shipped = {p.relative_to(tree).as_posix() for pattern in ("csrc/*", "tests/**/*.py", "tests/c/*.c",
                                                                  "benchmarks/*.py", "src/gradfit/*.py",
                                                                  "src/gradfit/bench/*.py")
                   for p in tree.glob(pattern) if p.is_file() and "__pycache__" not in p.parts}
        assert sorted(shipped - names) == []
    # Cython generates _core.c at build time from the shipped _core.pyx
    generated = sorted(n for n in names if n.startswith("src/") and n.endswith((".c", ".so", ".pyd")))
    assert generated == []
    # setuptools puts its *.egg-info metadata in every sdist: that one is expected
    leftovers = sorted(n for n in names if _LEFTOVER.search(n) and ".egg-info/" not in n)
    assert leftovers == []
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".whl", ".tar.gz"))]


# ---- the installed distribution ----------------------------------------------

def _installed_dist():
    try:
        dist = importlib.metadata.distribution("gradfit")
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.files is None:
        return None
    if pathlib.Path(dist.locate_file("gradfit/__init__.py")).resolve() != PKG / "__init__.py":
        return None
    return dist


def test_installed_wheel_holds_the_extension_the_stubs_and_no_sources():
    dist = _installed_dist()
    if dist is None:
        pytest.skip(f"the gradfit imported ({PKG}) is not an installed wheel")
    # RECORD entries with a hash came from the wheel; pip adds the .pyc files
    # it compiles and the files it writes (INSTALLER, REQUESTED) without one;
    # the console script lives outside site-packages (../../bin/gradfit).
    names = [f.as_posix() for f in dist.files
             if (f.hash is not None or f.name == "RECORD") and not f.as_posix().startswith("..")]
    core = check_wheel_names(names)
    # the extension installed is the one this Python loads
    assert any(core.endswith(s) for s in importlib.machinery.EXTENSION_SUFFIXES), core


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(sdist path, wheel path, source tree or None): from GRADFIT_SDIST /
    GRADFIT_WHEEL, or built here: sdist of a copy of the tree, wheel from it."""
    sdist, wheel = os.environ.get("GRADFIT_SDIST"), os.environ.get("GRADFIT_WHEEL")
    if sdist and wheel:
        return pathlib.Path(sdist), pathlib.Path(wheel), None
    if not IN_SOURCE_TREE:
        pytest.skip("not run from a source tree (no pyproject.toml and csrc/ next to tests/) and "
                    "GRADFIT_SDIST / GRADFIT_WHEEL are not set")
    for module in ("build", "setuptools", "Cython"):
        try:
            __import__(module)
        except ImportError:
            pytest.skip(f"cannot build the distributions here: the {module} module is missing "
                        "(pip install 'gradfit[test]' provides it)")
    tmp = tmp_path_factory.mktemp("dists")
    tree = tmp / "tree"
    # the build outputs next to the sources (_core.c, *.so, __pycache__) are
    # copied too: MANIFEST.in and the package data rules must keep them out
    shutil.copytree(ROOT, tree, ignore=_NOT_COPIED, symlinks=True)
    out = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp / "dist"),
                          str(tree)], capture_output=True, text=True, timeout=1200)
    if out.returncode != 0 and ("No module named" in out.stderr or "Could not find" in out.stderr):
        pytest.skip("cannot build the distributions here: " + out.stderr.strip().splitlines()[-1])
    assert out.returncode == 0, "python -m build failed:\n" + out.stdout[-3000:] + out.stderr[-3000:]
    (sdist,) = (tmp / "dist").glob("gradfit-*.tar.gz")
    (wheel,) = (tmp / "dist").glob("gradfit-*.whl")
    return sdist, wheel, ROOT


def _sdist_names(path):
    top = path.name[:-len(".tar.gz")]
    with tarfile.open(path) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
    assert all(m.name.startswith(top + "/") for m in members), f"{path.name}: not all files under {top}/"
    return [m.name[len(top) + 1:] for m in members]


@pytest.mark.slow
@pytest.mark.builds_wheel
def test_built_sdist_holds_the_sources_tests_and_benchmarks_and_nothing_generated(built):
    sdist, _, tree = built
    check_sdist_names(_sdist_names(sdist), tree)


@pytest.mark.slow
@pytest.mark.builds_wheel
def test_built_wheel_holds_the_extension_the_stubs_and_no_sources(built):
    sdist, wheel, _ = built
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    check_wheel_names(names)
    # the wheel's version is the sdist's and the single source's
    assert wheel.name.startswith(f"gradfit-{gradfit.__version__}-"), wheel.name
    assert sdist.name == f"gradfit-{gradfit.__version__}.tar.gz"


# ---- the checks can fail ------------------------------------------------------

def test_the_content_checks_catch_missing_and_unwanted_files():
    good_wheel = ["gradfit/__init__.py", "gradfit/_version.py", "gradfit/py.typed", "gradfit/_core.pyi",
                  "gradfit/cli.py", "gradfit/__main__.py", "gradfit/_core.cpython-311-x86_64-linux-gnu.so",
                  "gradfit/bench/__init__.py", "gradfit/bench/__main__.py", "gradfit/bench/baseline.py",
                  "gradfit/bench/workloads.py",
                  "gradfit-0.1.0.dist-info/METADATA", "gradfit-0.1.0.dist-info/WHEEL",
                  "gradfit-0.1.0.dist-info/RECORD", "gradfit-0.1.0.dist-info/entry_points.txt",
                  "gradfit-0.1.0.dist-info/licenses/LICENSE"]
    check_wheel_names(good_wheel)
    for bad in (["gradfit/_core.c"], ["gradfit/_core.pyx"], ["gradfit/_net.pxi"], ["gradfit/__pycache__/cli.cpython-311.pyc"],
                ["build/lib/gradfit/x.py"], ["tests/test_x.py"]):
        with pytest.raises(AssertionError):
            check_wheel_names(good_wheel + bad)
    for missing in ("gradfit/py.typed", "gradfit/_core.pyi", "gradfit/_core.cpython-311-x86_64-linux-gnu.so"):
        with pytest.raises(AssertionError):
            check_wheel_names([n for n in good_wheel if n != missing])

    good_sdist = ["PKG-INFO", "pyproject.toml", "setup.py", "MANIFEST.in", "LICENSE", "README.md",
                  "src/gradfit/_core.pyx", "src/gradfit/_net.pxi", "src/gradfit/_core.pyi", "src/gradfit/py.typed",
                  "src/gradfit/_version.py", "src/gradfit/__init__.py", "csrc/gradfit.h", "csrc/dtype.h",
                  "csrc/dispatch.c", "csrc/net.c", "csrc/kernels_f32_base.c", "csrc/kernels_f64_base.c",
                  "csrc/train.inc", "tests/conftest.py", "tests/test_wheel.py", "tests/c/check_core.c",
                  "benchmarks/run.py", "src/gradfit.egg-info/PKG-INFO"]
    check_sdist_names(good_sdist)
    for bad in (["src/gradfit/_core.c"], ["src/gradfit/_core.cpython-311-x86_64-linux-gnu.so"],
                ["tests/__pycache__/conftest.cpython-311.pyc"], [".pytest_cache/v/cache/lastfailed"],
                ["build/temp/csrc/net.o"]):
        with pytest.raises(AssertionError):
            check_sdist_names(good_sdist + bad)
    for missing in ("csrc/gradfit.h", "src/gradfit/_core.pyx", "LICENSE", "benchmarks/run.py"):
        with pytest.raises(AssertionError):
            check_sdist_names([n for n in good_sdist if n != missing])


# ---- the version ----------------------------------------------------------------

def test_the_version_comes_from_one_place():
    assert gradfit.__version__ == _version.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", gradfit.__version__)
    out = subprocess.run([sys.executable, "-m", "gradfit", "--version"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"gradfit {gradfit.__version__}"
    dist = _installed_dist()
    if dist is not None:                     # an installed wheel: its metadata says the same
        assert dist.version == gradfit.__version__
    if IN_SOURCE_TREE:                       # and pyproject.toml reads it from _version.py
        text = (ROOT / "pyproject.toml").read_text()
        project = text.split("[project]", 1)[1].split("\n[", 1)[0]
        assert not re.search(r"^version\s*=", project, re.M), "pyproject.toml must not repeat the version"
        assert re.search(r'^dynamic\s*=\s*\[[^]]*"version"', project, re.M)
        assert 'version = {attr = "gradfit._version.__version__"}' in text


# ---- the import-time check of the compiled extension -------------------------

def _copy_package(tmp_path, core_name):
    """A copy of the imported gradfit package in tmp_path, with its compiled
    extension left out (core_name None) or renamed to core_name."""
    dest = tmp_path / "gradfit"
    shutil.copytree(PKG, dest, ignore=shutil.ignore_patterns("__pycache__", "_core.*.so", "_core.*.pyd",
                                                             "_core.so", "_core.pyd"))
    if core_name is not None:
        (core,) = [p for p in PKG.iterdir() if p.name.startswith("_core.") and p.suffix in (".so", ".pyd")]
        shutil.copy2(core, dest / core_name)
    return dest


def _import_in(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(tmp_path)
    return subprocess.run([sys.executable, "-c", "import gradfit"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


def test_a_missing_extension_gives_one_clear_import_error(tmp_path):
    _copy_package(tmp_path, None)
    out = _import_in(tmp_path)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: gradfit: the compiled extension gradfit._core is missing or was built "
                           "for another Python (no _core file in "), last
    assert "pip install --force-reinstall gradfit" in last and "build from source" in last
    assert "python setup.py build_ext --inplace" in last


def test_an_extension_built_for_another_python_is_named_in_the_error(tmp_path):
    other = "_core.cpython-39-x86_64-linux-gnu.so" if os.name != "nt" else "_core.cp39-win_amd64.pyd"
    _copy_package(tmp_path, other)
    out = _import_in(tmp_path)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: gradfit: the compiled extension gradfit._core is missing or was built "
                           f"for another Python (found {other} in "), last
    # and says which file names this Python would load
    assert f"_core{importlib.machinery.EXTENSION_SUFFIXES[0]}" in last


def test_the_import_check_passes_with_the_right_extension(tmp_path):
    (core,) = [p for p in PKG.iterdir() if p.name.startswith("_core.") and p.suffix in (".so", ".pyd")]
    _copy_package(tmp_path, core.name)
    out = _import_in(tmp_path)
    assert out.returncode == 0, out.stderr
