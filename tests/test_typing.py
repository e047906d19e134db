"""The package type-checks: mypy src/gradfit passes with the settings in
pyproject.toml (skipped when mypy or the source tree is not available, e.g.
when the tests run from an installed wheel without mypy). .ci/mypy.sh runs
the same check in a fresh virtualenv."""
import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "gradfit"


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install mypy)")
@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file() or not SRC.is_dir(),
                    reason="not run from a source tree (no src/gradfit next to tests/)")
def test_mypy_passes_on_the_package():
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "src/gradfit"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success" in out.stdout


def test_the_package_ships_its_type_information():
    import gradfit
    here = pathlib.Path(gradfit.__file__).parent
    assert (here / "py.typed").is_file()
    assert (here / "_core.pyi").is_file()
