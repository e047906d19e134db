"""The benchmark suite now lives in the package, as gradfit.bench: this
script only runs it, for old command lines. Use `gradfit bench` or
`python -m gradfit.bench` (see `gradfit bench --help` and benchmarks/README.md)."""
import sys

from gradfit.bench import main

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/run.py"))
