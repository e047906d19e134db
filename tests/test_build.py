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


@pytest.mark.skipif(not SETUP.is_file(), reason="setup.py is not here (tests run from an installed wheel)")
def test_the_c_sources_compile_in_parallel_each_once_in_order():
    """setup.py hands each C source to the compiler in a thread of its own
    (setuptools compiles one extension's sources one after another): each
    source once, the objects in the sources' order, several at a time."""
    import ast
    import concurrent.futures
    import threading
    tree = ast.parse(SETUP.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_compile_in_parallel")
    namespace = {"os": os, "concurrent": concurrent}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(SETUP), "exec"), namespace)
    barrier = threading.Barrier(2, timeout=10)
    calls = []

    class FakeCompiler:
        def compile(self, sources, output_dir=None, **kwargs):
            calls.append(list(sources))
            barrier.wait()                      # two compiles must be running at once to pass
            return [s.replace(".c", ".o") for s in sources]

    compiler = FakeCompiler()
    old = os.environ.get("GRADFIT_BUILD_JOBS")
    os.environ["GRADFIT_BUILD_JOBS"] = "2"
    try:
        namespace["_compile_in_parallel"](compiler)
    finally:
        if old is None:
            del os.environ["GRADFIT_BUILD_JOBS"]
        else:
            os.environ["GRADFIT_BUILD_JOBS"] = old
    sources = [f"csrc/f{i}.c" for i in range(6)]
    assert compiler.compile(sources, output_dir="build") == [s.replace(".c", ".o") for s in sources]
    assert sorted(map(tuple, calls)) == [(s,) for s in sources]


def _elf_section_names(path):
    """The section names of an ELF file (64-bit little-endian), read directly."""
    import struct
    data = Path(path).read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not a 64-bit little-endian ELF file"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    def section(i):
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
    strtab_off = section(shstrndx)[4]
    names = []
    for i in range(shnum):
        start = strtab_off + section(i)[0]
        names.append(data[start:data.index(b"\0", start)].decode())
    return names


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"),
                    reason="reads the extension as 64-bit little-endian ELF")
@pytest.mark.skipif("-g" in os.environ.get("GRADFIT_CFLAGS", "").split() or "ASAN_OPTIONS" in os.environ
                    or "asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="a debug or sanitizer build (.ci/sanitize.sh), with debug info on purpose")
def test_the_extension_has_no_debug_info():
    """The build passes -g0 (Python's CFLAGS add -g): debug info would make the
    extension about three times larger."""
    names = _elf_section_names(gf._core.__file__)
    assert ".text" in names
    assert not [n for n in names if n.startswith(".debug_info")], names
