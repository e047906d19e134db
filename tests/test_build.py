"""The build: every SIMD path the CPU has is built (whatever the compiler),
clang builds the AVX2 / AVX-512 kernels, and a missing compiler gives a
message that says what to install."""
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gradfit as gf

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "setup.py"


def _cpu_flags():
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("reads /proc/cpuinfo of Linux x86-64")
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    pytest.skip("no flags line in /proc/cpuinfo")


def test_every_simd_path_of_the_cpu_is_built():
    flags = _cpu_flags()
    available = gf.config()["simd_available"]
    if {"avx2", "fma"} <= flags:
        assert "avx2" in available, (available, gf.config())
    if {"avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq"} <= flags:
        assert "avx512" in available, (available, gf.config())


@pytest.mark.skipif(not (ROOT / "csrc").is_dir(), reason="needs the source tree")
@pytest.mark.skipif(shutil.which("clang") is None or shutil.which("objdump") is None,
                    reason="needs clang and objdump")
@pytest.mark.parametrize("isa,register", [("avx2", "%ymm"), ("avx512", "%zmm")])
def test_clang_builds_the_simd_kernels(isa, register, tmp_path):
    # clang ignores `#pragma GCC target`: the kernels must still be compiled
    # for the target (a 256 / 512-bit register in the code) and define the
    # entry points dispatch.c calls
    if platform.machine() != "x86_64":
        pytest.skip("x86-64 only")
    obj = tmp_path / f"k_{isa}.o"
    subprocess.run(["clang", "-c", "-O2", "-fopenmp-simd", "-Werror", "-I", str(ROOT / "csrc"),
                    str(ROOT / "csrc" / f"kernels_f64_{isa}.c"), "-o", str(obj)], check=True)
    symbols = subprocess.run(["nm", str(obj)], capture_output=True, text=True, check=True).stdout
    assert f"T gf_train_f64_{isa}" in symbols
    assert f"T act_forward_f64_{isa}" in symbols
    code = subprocess.run(["objdump", "-d", str(obj)], capture_output=True, text=True, check=True).stdout
    assert register in code


@pytest.mark.skipif(not SETUP.is_file(), reason="setup.py is not here (tests run from an installed wheel)")
def test_missing_compiler_says_what_to_install(tmp_path):
    pytest.importorskip("Cython", reason="setup.py needs Cython (a build requirement)")
    pytest.importorskip("setuptools", reason="setup.py needs setuptools (a build requirement)")
    src = tmp_path / "src"
    shutil.copytree(ROOT / "csrc", src / "csrc")
    (src / "src" / "gradfit").mkdir(parents=True)
    for path in [*(ROOT / "src" / "gradfit").glob("*.pyx"), *(ROOT / "src" / "gradfit").glob("*.pxi"),
                 ROOT / "src" / "gradfit" / "_version.py"]:    # pyproject.toml reads the version from _version.py
        shutil.copy(path, src / "src" / "gradfit")
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src)
    env = dict(os.environ, CC=str(tmp_path / "no-such-compiler"))
    out = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=src, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("gradfit: building from source needs a C compiler (gcc or clang) "
                           "and the Python headers"), out.stderr[-2000:]
    assert "apt-get install build-essential python3-dev" in last
    assert "xcode-select --install" in last
