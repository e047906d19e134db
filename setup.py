"""Build of the C core and its Cython wrapper. Metadata lives in pyproject.toml."""
import glob
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

if sys.platform == "win32":
    compile_args = ["/O2", "/std:c11"]   # restrict and _Pragma need C11 (untested here)
else:
    # Portable wheels: no fast-math, no machine-specific tuning. The loops are
    # written so that -O3 vectorizes them; AVX2 + FMA and AVX-512 variants
    # are compiled with target pragmas and picked at run time (csrc/dispatch.c).
    # -fno-trapping-math changes no result (gradfit never reads FP exception
    # flags); it lets GCC turn clamps and selects into vector blends.
    # -fno-tree-loop-distribute-patterns keeps short row copies as inline
    # loops instead of memcpy calls (rows here are often 1-64 elements).
    compile_args = ["-O3", "-fopenmp-simd", "-fno-trapping-math", "-fno-tree-loop-distribute-patterns"]

core = Extension(
    "gradfit._core",
    sources=["src/gradfit/_core.pyx"] + sorted(glob.glob("csrc/*.c")),
    include_dirs=["csrc"],
    depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/*.inc")),
    extra_compile_args=compile_args,
)

setup(ext_modules=cythonize([core], language_level=3))
