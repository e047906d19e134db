"""Build of the C core and its Cython wrapper. Metadata lives in pyproject.toml.

Compiler flags are picked per compiler family (GCC, clang, MSVC) by looking at
the compiler setuptools will actually run; a flag the compiler rejects is
dropped after a test compile. Without a working C compiler or the Python
headers the build stops with one line that says what to install.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

MISSING_TOOLS = (
    "gradfit: building from source needs a C compiler (gcc or clang) and the Python headers "
    "(Debian/Ubuntu: apt-get install build-essential python3-dev; Fedora: dnf install gcc "
    "python3-devel; macOS: xcode-select --install; Windows: Visual Studio Build Tools); "
    "or install a prebuilt wheel"
)

# Portable wheels: no fast-math, no machine-specific tuning. The loops are
# written so that -O3 vectorizes them; AVX2 + FMA and AVX-512 variants are
# compiled with target pragmas / attributes and picked at run time
# (csrc/dispatch.c). -fno-trapping-math changes no result (gradfit never reads
# FP exception flags); it lets the compiler turn clamps and selects into
# vector blends. -fno-math-errno changes no result either (sqrt is IEEE-exact
# with or without it; gradfit never reads errno): without it GCC keeps sqrtf a
# call that may set errno, so the Adam update did not vectorize.
# -fopenmp-simd honours the `omp simd` pragmas without OpenMP.
FLAGS = {
    "gcc": ["-O3", "-fopenmp-simd", "-fno-trapping-math", "-fno-math-errno",
            # short row copies stay inline loops instead of memcpy calls
            # (rows here are often 1-64 elements); GCC only
            "-fno-tree-loop-distribute-patterns"],
    "clang": ["-O3", "-fopenmp-simd", "-fno-trapping-math", "-fno-math-errno"],
    "msvc": ["/O2", "/std:c11"],     # restrict and _Pragma need C11 (untested here)
    "unknown": ["-O2"],
}


def compiler_family(compiler):
    """'gcc', 'clang', 'msvc' or 'unknown', from the compiler's own --version."""
    if compiler.compiler_type == "msvc":
        return "msvc"
    cmd = getattr(compiler, "compiler_so", None) or getattr(compiler, "compiler", None)
    if not cmd:
        return "unknown"
    try:
        out = subprocess.run(cmd[:1] + ["--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = (out.stdout + out.stderr).lower()
    if "clang" in text:          # also Apple clang, whose `gcc` is clang
        return "clang"
    if "gcc" in text or "free software foundation" in text:
        return "gcc"
    return "unknown"


class BuildExt(build_ext):
    """build_ext that checks the tools first and picks flags per compiler."""

    def _try_compile(self, source, extra_args=(), include_python=False):
        tmp = tempfile.mkdtemp(prefix="gradfit-probe-")
        try:
            path = os.path.join(tmp, "probe.c")
            with open(path, "w") as f:
                f.write(source)
            self.compiler.compile([path], output_dir=tmp, extra_postargs=list(extra_args),
                                  include_dirs=self.include_dirs if include_python else [])
            return True
        except Exception:
            return False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def build_extensions(self):
        family = compiler_family(self.compiler)
        if family != "msvc":
            cmd = (getattr(self.compiler, "compiler_so", None) or ["cc"])[0]
            if shutil.which(cmd) is None or not self._try_compile("int main(void) { return 0; }\n"):
                sys.exit(MISSING_TOOLS + f" [compiler {cmd!r} not found or not working]")
            if not self._try_compile("#include <Python.h>\nint main(void) { return 0; }\n",
                                     include_python=True):
                sys.exit(MISSING_TOOLS + " [Python.h not found]")
        flags = FLAGS[family]
        if family in ("gcc", "clang", "unknown"):
            # keep only what this compiler accepts without a warning
            flags = [f for f in flags if self._try_compile("int x;\n", [f, "-Werror"])]
        # GRADFIT_CFLAGS: appended last, so they win (e.g. -O1 for .ci/sanitize.sh)
        flags = flags + os.environ.get("GRADFIT_CFLAGS", "").split()
        cmd = " ".join(getattr(self.compiler, "compiler_so", None) or [self.compiler.compiler_type])
        print(f"gradfit: compiler family {family} ({cmd}); flags {' '.join(flags)}", flush=True)
        # csrc/pool.c: the products' worker threads (pthreads; MSVC builds run serially)
        threads = ["-pthread"] if family in ("gcc", "clang") else []
        for ext in self.extensions:
            ext.extra_compile_args = list(flags) + threads + list(ext.extra_compile_args or [])
            ext.extra_link_args = threads + list(ext.extra_link_args or [])
        super().build_extensions()


core = Extension(
    "gradfit._core",
    sources=["src/gradfit/_core.pyx"] + sorted(glob.glob("csrc/*.c")),
    include_dirs=["csrc"],
    depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/*.inc") + glob.glob("src/gradfit/*.pxi")),
)

setup(ext_modules=cythonize([core], language_level=3), cmdclass={"build_ext": BuildExt})
