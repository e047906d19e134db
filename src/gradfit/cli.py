"""The `gradfit` command (also `python -m gradfit`).

    gradfit demo [--plots DIR]       the tutorial, with real numbers (and its figures)
    gradfit fit data.csv --target y --layers 16,16 --activation tanh --epochs 50 --out model.npz
    gradfit predict model.npz data.csv > predictions.csv
    gradfit explain [--model m.npz --data d.csv --target y --row N]
    gradfit bench [--full] [--workloads W1,W3] [--json r.json] [--plot r.png]   the benchmark suite
    gradfit config                   versions, the SIMD path, the CPU and the tuning

Bad files and bad options end with one line on stderr and exit code 2.
"""
import argparse
import csv
import os
import sys

from ._version import __version__

__all__ = ["main", "build_parser", "EXIT_USAGE", "UsageError"]

#: The exit status of a bad command line or bad input (one line on stderr, no traceback).
EXIT_USAGE = 2
# `gradfit fit --loss cross_entropy` takes class ids below max(MAX_CLASSES, rows)
MAX_CLASSES = 1000


class UsageError(Exception):
    """A bad option or file: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage block) and exit code 2."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _converter(kind, ok, expected):
    """An argparse type: text -> kind(text), refused unless ok(value)."""
    def convert(text):
        try:
            v = kind(text)
        except ValueError:
            v = None
        if v is None or not ok(v):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return v
    return convert


_positive_int = _converter(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _converter(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _converter(float, lambda v: 0 < v < float("inf"), "a positive number")


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return v


def _names(text):
    """'a,b,c' -> ['a', 'b', 'c'] (column names or indices)."""
    names = [s.strip() for s in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected column names like a,b,c, got {text!r}")
    return names


def _layers(text):
    """'16,16' -> [16, 16]; '' or 'none' -> [] (linear regression)."""
    if text.strip().lower() in ("", "none", "0"):
        return []
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected hidden widths like 16,16, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"expected positive hidden widths like 16,16, got {text!r}")
    return sizes


def build_parser():
    """The argparse parser of the ``gradfit`` command and its subcommands."""
    from ._names import ACTIVATIONS, LOSSES, OPTIMIZERS
    parser = _Parser(prog="gradfit", description="Train small neural networks by backpropagation.")
    parser.add_argument("--version", action="version", version=f"gradfit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="command", parser_class=_Parser)

    demo = commands.add_parser("demo", help="walk through the backpropagation tutorial with real numbers",
                               description="Walk through the backpropagation tutorial with real numbers.")
    demo.add_argument("--plots", metavar="DIR",
                      help="also write the tutorial's figures as PNG files into DIR (needs matplotlib)")

    commands.add_parser("config", help="show versions, the SIMD path, the CPU and the block sizes chosen for it",
                        description="Show versions, the SIMD path in use, the CPU and its caches, and the block "
                                    "sizes and thread thresholds chosen for it, each with its source and why "
                                    "(GRADFIT_SIMD and GRADFIT_TUNING force them).")

    fit = commands.add_parser(
        "fit", help="train a model on a CSV or .npy file and save it",
        description="Train an MLP on a CSV file (a header row names the columns) or a .npy array, "
                    "show progress, print the model's summary and save it.")
    fit.add_argument("data", help="CSV file of numbers (with a header naming the columns) or .npy file")
    fit.add_argument("--target", required=True,
                     help="the target column: its header name (or its index, e.g. -1 for the last)")
    fit.add_argument("--features", type=_names, metavar="A,B,...",
                     help="the feature columns, in this order (default: every column but the target and --drop)")
    fit.add_argument("--drop", type=_names, default=[], metavar="A,B,...",
                     help="columns that are neither features nor the target (an id, a label kept out)")
    fit.add_argument("--layers", type=_layers, default=[16], metavar="W1,W2,...",
                     help="hidden layer widths (default 16; 'none' for linear regression)")
    fit.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS),
                     help="hidden-layer activation (default relu)")
    fit.add_argument("--loss", default="mse", choices=sorted(LOSSES),
                     help="loss (default mse); cross_entropy takes class ids 0..K-1 and gets K outputs "
                          "(K at most the number of rows, or 1000)")
    fit.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS),
                     help="optimizer (default adam, as the estimators: it fits unscaled data without tuning lr; "
                          "gf.train's default, sgd, is the tutorial's plain gradient descent)")
    fit.add_argument("--lr", type=_positive_float, help="learning rate (default: the optimizer's)")
    fit.add_argument("--batch-size", type=_positive_int, default=32, help="rows per step (default 32)")
    fit.add_argument("--epochs", type=_positive_int, default=None,
                     help="epochs (default: until converged, at most 200, as gf.train)")
    fit.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the init and shuffles (default 0)")
    fit.add_argument("--validation-fraction", type=_fraction, metavar="F",
                     help="hold out this fraction of the rows for validation")
    fit.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    fit.add_argument("--out", default="model.npz", help="where to save the model (default model.npz)")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")

    predict = commands.add_parser(
        "predict", help="write a model's predictions for a CSV or .npy file as CSV",
        description="Write the model's outputs for every row as CSV on stdout (one column per output).")
    predict.add_argument("model", help="a model saved by `gradfit fit` or model.save()")
    predict.add_argument("data", help="CSV or .npy file of the input features")
    predict.add_argument("--target", help="a column to leave out (e.g. the training target, if the file has it); "
                                          "not needed when the model knows its features' names (gradfit fit "
                                          "saves them): those columns are read by name, in any order")
    predict.add_argument("--output", choices=["raw", "proba", "class", "mean"], default="raw",
                         help="raw outputs (default), probabilities or class ids (classifiers), or the mean "
                              "exp(output) of a model fitted with --loss poisson (its outputs are log-means)")

    explain = commands.add_parser(
        "explain", help="explain one gradient-descent step, number by number",
        description="Explain one gradient-descent step: forward values, loss, the chain-rule factors of "
                    "every gradient, the step and the new loss. Without --model: the tutorial's 1-2-1 "
                    "softplus net on the sample x = 0.5, y = 1.")
    explain.add_argument("--model", help="a saved model (needs --data and --target)")
    explain.add_argument("--data", help="CSV or .npy file holding the sample")
    explain.add_argument("--target", help="the target column of --data")
    explain.add_argument("--row", type=_non_negative_int, default=0, help="which data row, from 0 (default 0)")
    explain.add_argument("--lr", type=_positive_float,
                         help="learning rate (default: the one the model was trained with, as `gradfit fit` "
                              "saves it, else 0.01)")
    explain.add_argument("--loss", default="mse", choices=sorted(LOSSES), help="loss (default mse)")
    explain.add_argument("--markdown", action="store_true", help="print Markdown tables instead of text")

    commands.add_parser(
        "bench", help="the benchmark suite (gradfit.bench): gradfit against a NumPy loop; quick by default",
        add_help=False)                      # `gradfit bench ...` goes to gradfit.bench, its own options and help
    return parser


# -- the commands ---------------------------------------------------------------
def _read_table(path):
    """(column names, or None for a file without a header, (N, C) float64 array)."""
    from .datasets import load_npy, read_csv
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    if path.lower().endswith(".npy"):
        return None, load_npy(path)[0]
    columns, data = read_csv(path)
    return (None if columns == [str(j) for j in range(len(columns))] else columns), data


def _column(path, names, spec, argument):
    """The index of column `spec`: a header name, or an integer index (-1: the last)."""
    n_cols = len(names) if names is not None else None
    if names is not None and spec in names:
        return names.index(spec)
    try:
        j = int(spec)
    except ValueError:
        if names is None:
            raise UsageError(f"{argument}: {path} has no header naming its columns; give a column index, "
                             f"got {spec!r}") from None
        raise UsageError(f"{argument}: {path} has no column {spec!r} (its columns: {', '.join(names)})") from None
    if n_cols is not None and not -n_cols <= j < n_cols:
        raise UsageError(f"{argument}: {path} has {n_cols} columns, got column index {j}")
    return j


def _load_data(path, target, features=None, drop=()):
    """(feature names, X, y or None): the target and feature columns of a
    CSV or .npy file, by name or index; features default to every column
    but the target and `drop`."""
    names, data = _read_table(path)
    n = data.shape[1]
    label = (lambda j: names[j]) if names is not None else str
    t = None if target is None else _column(path, names, target, "--target") % n
    if features:
        cols = [_column(path, names, f, "--features") % n for f in features]
        if t is not None and t in cols:
            raise UsageError(f"--features: {label(t)!r} is the target column")
    else:
        dropped = {_column(path, names, d, "--drop") % n for d in drop}
        cols = [j for j in range(n) if j != t and j not in dropped]
    if not cols:
        raise UsageError(f"{path}: no feature column left (the file has {n} column(s))")
    return [label(j) for j in cols], data[:, cols], (None if t is None else data[:, t].copy())


def _load_model(path):
    """(model, the `gradfit fit` record saved with it: feature names, lr, ..., or {})."""
    from .io import load_model
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such model file")
    try:
        model, extra = load_model(path, with_extra=True)
    except (ValueError, TypeError, KeyError, OSError, EOFError) as e:
        raise UsageError(f"{path}: not a gradfit model file ({e})") from None
    record = extra.get("gradfit_fit") if isinstance(extra, dict) else None
    return model, (record if isinstance(record, dict) else {})


def _features_for(model, record, path, target):
    """X for `model` from the file at `path`: its feature columns by name when
    the model knows them (and the file has a header), else every column but
    the target, in order."""
    names, data = _read_table(path)
    wanted = record.get("features")
    if names is not None and isinstance(wanted, list) and len(wanted) == model.n_inputs:
        missing = [w for w in wanted if w not in names]
        if missing:
            raise UsageError(f"{path}: no column {missing[0]!r}, a feature of the model (its features: "
                             f"{', '.join(map(str, wanted))}; the file's columns: {', '.join(names)})")
        return data[:, [names.index(w) for w in wanted]]
    _, X, _ = _load_data(path, target)
    if X.shape[1] != model.n_inputs:
        hint = "" if target else "; if the file holds the target column, name it with --target"
        raise UsageError(f"{path}: the model takes {model.n_inputs} feature column(s), the file has "
                         f"{X.shape[1]}{hint}")
    return X


def cmd_fit(args):
    import numpy as np

    from ._npzfile import check_destination
    from ._targets import CLASSIFICATION
    from .io import save_model
    from .model import MLP
    from .trainer import train
    try:                       # fails now, not after training
        check_destination(args.out, "--out")
    except OSError as e:
        raise UsageError(f"--out: cannot write {args.out} ({e.strerror or e})") from None
    features, X, y = _load_data(args.data, args.target, args.features, args.drop)
    n_out = 1
    if args.loss == "cross_entropy":
        if not np.all(y == np.round(y)) or y.min() < 0:
            raise UsageError(f"--target: cross_entropy needs class ids 0, 1, ..., got values like {y[0]:g}")
        # one output per class: a class id far beyond the row count is a wrong
        # column, not a class (the one-hot targets would need rows x id numbers)
        limit = max(MAX_CLASSES, len(y))
        if y.max() >= limit:
            raise UsageError(f"--target: cross_entropy needs class ids 0, 1, ..., K-1 (one model output per "
                             f"class) with K at most {limit} (the number of rows, or {MAX_CLASSES}), "
                             f"got the class id {y.max():g}")
        y = y.astype(np.int64)
        n_out = max(int(y.max()) + 1, 2)
    model = MLP([X.shape[1], *args.layers, n_out], activation=args.activation if args.layers else "identity",
                dtype=args.dtype, init="he" if args.activation == "relu" else "glorot", seed=args.seed)
    result = train(model, X, y, loss=args.loss, optimizer=args.optimizer, lr=args.lr, batch_size=args.batch_size,
                   epochs=args.epochs, seed=args.seed, validation_fraction=args.validation_fraction,
                   progress=not args.quiet)
    print(model.summary())
    print(result)
    metrics = ["accuracy"] if args.loss in CLASSIFICATION else ["r2"]
    scores = model.evaluate(X, y, loss=args.loss, metrics=metrics)
    print("  on all the data: " + ", ".join(f"{k} {v:.6g}" for k, v in scores.items()))
    # what predict and explain need again: the features by name, the target, the lr this model trained with
    record = {"features": features, "target": args.target, "loss": args.loss, "optimizer": args.optimizer,
              "lr": float(result.lr)}
    save_model(model, args.out, extra={"gradfit_fit": record})
    print(f"saved to {args.out} (features: {', '.join(features)})")
    return 0


def cmd_predict(args):
    model, record = _load_model(args.model)
    X = _features_for(model, record, args.data, args.target)
    if args.output == "proba":
        out = model.predict_proba(X)
    elif args.output == "class":
        out = model.predict_class(X).reshape(len(X), -1)
    elif args.output == "mean":
        out = model.predict_mean(X)
    else:
        out = model.predict(X)
    out = out.reshape(len(X), -1)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["prediction"] if out.shape[1] == 1 else [f"prediction_{k}" for k in range(out.shape[1])])
    for row in out.tolist():
        writer.writerow([repr(v) for v in row])     # repr: every digit, the file reads back exactly
    return 0


def cmd_explain(args):
    import numpy as np

    from .explain import explain_step
    if args.model is None:
        if args.data or args.target:
            raise UsageError("--data and --target go with --model")
        from .demo import STEP_LR, STEP_NET
        from .model import MLP
        model = MLP([1, 2, 1], activation="softplus", **STEP_NET)
        X, y = np.array([[0.5]]), np.array([1.0])
        lr = args.lr if args.lr is not None else STEP_LR       # the tutorial's explained step
    else:
        if args.data is None or args.target is None:
            raise UsageError("--model needs --data and --target (the sample and its target column)")
        model, record = _load_model(args.model)
        X = _features_for(model, record, args.data, args.target)
        y = _load_data(args.data, args.target)[2]
        lr = args.lr if args.lr is not None else record.get("lr", 0.01)
        if args.row >= len(X):
            raise UsageError(f"--row: {args.data} has {len(X)} rows (0 to {len(X) - 1}), got {args.row}")
        X, y = X[args.row:args.row + 1], y[args.row:args.row + 1]
        if args.loss == "cross_entropy":
            y = y.astype(np.int64)
    e = explain_step(model, X, y, lr=lr, loss=args.loss)
    print(e.to_markdown() if args.markdown else e)
    return 0


def main(argv=None):
    """Runs the ``gradfit`` command with `argv` (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        if argv[:1] == ["bench"]:
            from .bench import main as bench_main
            return bench_main(argv[1:])      # the rest is gradfit.bench's to parse
        args = parser.parse_args(argv)
        if args.command == "demo":
            from .demo import run
            if args.plots is not None:
                try:
                    import matplotlib  # noqa: F401
                except ImportError:
                    raise UsageError("--plots needs matplotlib: pip install matplotlib") from None
                try:
                    os.makedirs(args.plots, exist_ok=True)
                except OSError as e:
                    raise UsageError(f"--plots: cannot create the directory {args.plots} "
                                     f"({e.strerror or e})") from None
            run(plots=args.plots)
            return 0
        if args.command == "config":
            from .config import show_config
            show_config()
            return 0
        commands = {"fit": cmd_fit, "predict": cmd_predict, "explain": cmd_explain}
        if args.command in commands:
            return commands[args.command](args)
    except BrokenPipeError:          # e.g. `gradfit demo | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UsageError as e:
        print(f"gradfit: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, OSError) as e:
        # bad files and values found by the library: its message names what is wrong
        print(f"gradfit: error: {' '.join(str(e).split())}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("gradfit: error: out of memory (the data, or the model it asks for, is too large)", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gradfit: interrupted", file=sys.stderr)
        return 130
    parser.print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
