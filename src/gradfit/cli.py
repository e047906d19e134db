"""The `gradfit` command (also `python -m gradfit`)."""
import argparse
import os
import sys

from . import __version__


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gradfit", description="Train small neural networks by backpropagation.")
    parser.add_argument("--version", action="version", version=f"gradfit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="command")
    commands.add_parser("demo", help="walk through the backpropagation tutorial with real numbers")
    commands.add_parser("config", help="show versions and the SIMD path in use")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run
            run()
            return 0
        if args.command == "config":
            from .config import show_config
            show_config()
            return 0
    except BrokenPipeError:          # e.g. `gradfit demo | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
