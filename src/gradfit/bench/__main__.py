"""python -m gradfit.bench: the benchmark suite (see gradfit.bench)."""
import sys

from .command import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m gradfit.bench"))
