"""The tutorial's figures (needs matplotlib: ``pip install "gradfit[plot]"``).

Every function returns a matplotlib Figure and never calls ``plt.show()``:
display it in a notebook, or ``fig.savefig("name.png")``. Figures are made
with ``matplotlib.figure.Figure`` directly (no pyplot state), so they work
under any backend, headless ones included.
"""
import numpy as np

from ._math import ACTIVATIONS
from .model import MLP


def _figure(*size):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError('gradfit.plot needs matplotlib: pip install matplotlib (or "gradfit[plot]")') from None
    return Figure(figsize=size, layout="constrained")


def _history(history):
    """A history dict from a TrainResult, a Trainer or a dict."""
    h = getattr(history, "history", history)
    if not isinstance(h, dict) or "loss" not in h:
        raise TypeError(f"history: expected a TrainResult, a Trainer or a dict with 'loss', "
                        f"got {type(history).__name__}")
    return h


def loss_curve(history, log=False, title=None):
    """The training loss per epoch, and the validation loss when recorded.

    Parameters
    ----------
    history : TrainResult, Trainer or dict
        Its ``history["loss"]`` (and ``history["val_loss"]``).
    log : bool, default False
        Logarithmic loss axis.
    """
    h = _history(history)
    fig = _figure(5, 3.2)
    ax = fig.add_subplot()
    epochs = np.arange(1, len(h["loss"]) + 1)
    ax.plot(epochs, h["loss"], label="training loss")
    if h.get("val_loss"):
        ax.plot(epochs[:len(h["val_loss"])], h["val_loss"], label="validation loss")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title or "Loss per epoch")
    ax.legend()
    return fig


def fit_curve(model, X, y, title=None):
    """The model's curve against the data points, for one input and one output."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if model.n_inputs != 1 or model.n_outputs != 1:
        raise ValueError(f"model: fit_curve draws 1-D fits, expected 1 input and 1 output, got {model!r}")
    x = X.reshape(-1)
    grid = np.linspace(x.min(), x.max(), 400).reshape(-1, 1)
    fig = _figure(5, 3.2)
    ax = fig.add_subplot()
    ax.plot(x, y.reshape(-1), ".", color="0.45", label="data")
    ax.plot(grid[:, 0], model.predict(grid)[:, 0], color="C3", label="model")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or f"{model!r}")
    ax.legend()
    return fig


def _linear_loss_grid(X, y, w, b):
    """mse of y = w*x + b over a grid of (w, b), by NumPy."""
    x, y = X.reshape(-1), np.asarray(y, dtype=float).reshape(-1)
    W, B = np.meshgrid(w, b)
    r = W[..., None] * x + B[..., None] - y
    return W, B, (r * r).mean(axis=-1)


def descent_path(X, y, lr, steps, batch_size=None, seed=0, start=(0.0, 0.0)):
    """The (w, b) of every step of gradient descent on y = w*x + b (mse),
    with the C core's gradients: full batch, or minibatches of `batch_size`
    drawn by a seeded shuffle (SGD). Returns an array (steps + 1, 2)."""
    model = MLP([1, 1], weights=[[[start[0]]]], biases=[[start[1]]])
    X, y = np.asarray(X, dtype=float).reshape(-1, 1), np.asarray(y, dtype=float).reshape(-1)
    rng = np.random.default_rng(seed)
    path, order, k = [model.params.copy()], np.arange(len(y)), 0
    for _ in range(steps):
        if batch_size is None:
            rows = slice(None)
        else:
            if k == 0:
                order = rng.permutation(len(y))
            rows = order[k:k + batch_size]
            k = k + batch_size if k + batch_size < len(y) else 0
        _, g = model.loss_and_grad(X[rows], y[rows])
        model.params = model.params - lr * g
        path.append(model.params.copy())
    return np.array(path)


def loss_surface(X, y, lr=0.01, steps=60, batch_size=5, seed=0, start=(-3.0, 0.0), span=None):
    """The mse of a linear model y = w*x + b over (w, b): a 3-D surface and
    contours with the gradient-descent path drawn on them, and the SGD path
    (minibatches of `batch_size`) on the same contours beside them.

    Parameters
    ----------
    X, y : the data (one feature)
    lr : float
        Learning rate of both paths.
    steps : int
        Steps drawn on each path.
    batch_size : int
        Rows per SGD step.
    start : (w, b)
        Where both paths start.
    span : ((w_lo, w_hi), (b_lo, b_hi)), optional
        The grid (default: around the path and the least-squares answer).
    """
    X = np.asarray(X, dtype=float).reshape(-1, 1)
    y = np.asarray(y, dtype=float).reshape(-1)
    gd = descent_path(X, y, lr, steps, None, seed, start)
    sgd = descent_path(X, y, lr, steps, batch_size, seed, start)
    if span is None:
        pts = np.vstack([gd, sgd])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = np.maximum(0.25 * (hi - lo), 0.5)
        span = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    w = np.linspace(*span[0], 120)
    b = np.linspace(*span[1], 120)
    W, B, L = _linear_loss_grid(X, y, w, b)
    levels = np.geomspace(max(L.min(), 1e-6), L.max(), 18)

    fig = _figure(11, 3.4)
    ax3 = fig.add_subplot(1, 3, 1, projection="3d")
    ax3.plot_surface(W, B, L, cmap="viridis", alpha=0.7, linewidth=0, rstride=6, cstride=6)
    gd_loss = _linear_loss_grid(X, y, gd[:, 0], gd[:, 1])[2].diagonal()
    ax3.plot(gd[:, 0], gd[:, 1], gd_loss, "o-", color="C3", markersize=2, linewidth=1.2, zorder=5)
    ax3.set_xlabel("w")
    ax3.set_ylabel("b")
    ax3.set_zlabel("mse")
    ax3.set_title("loss surface, gradient descent")
    for k, (path, name) in enumerate(((gd, f"gradient descent (full batch), lr {lr:g}"),
                                      (sgd, f"SGD (batch {batch_size}), lr {lr:g}"))):
        ax = fig.add_subplot(1, 3, 2 + k)
        ax.contour(W, B, L, levels=levels, cmap="viridis", linewidths=0.8)
        ax.plot(path[:, 0], path[:, 1], "o-", color="C3", markersize=2.5, linewidth=1)
        ax.plot(*path[0], "s", color="k", markersize=5, label="start")
        ax.plot(*path[-1], "*", color="C1", markersize=10, label=f"after {len(path) - 1} steps")
        ax.set_xlabel("w")
        ax.set_ylabel("b")
        ax.set_title(name)
        ax.legend(loc="upper right", fontsize=8)
    return fig


def gd_1d(f=None, df=None, x0=2.0, lr=0.1, steps=12, span=None, label="x² − 1"):
    """Gradient descent on a function of one variable, its steps marked:
    x ← x − lr · f'(x), by default on f(x) = x² − 1 from x0 = 2."""
    if f is None:
        f, df = (lambda x: x * x - 1), (lambda x: 2 * x)
    if df is None:
        raise ValueError("df: expected the derivative of f, got None")
    xs = [float(x0)]
    for _ in range(steps):
        xs.append(xs[-1] - lr * df(xs[-1]))
    xs = np.array(xs)
    if span is None:
        r = max(abs(xs).max(), 1.0) * 1.15
        span = (-r, r)
    grid = np.linspace(*span, 300)
    fig = _figure(5, 3.4)
    ax = fig.add_subplot()
    ax.plot(grid, f(grid), color="0.3", label=f"f(x) = {label}")
    ax.plot(xs, f(xs), "o", color="C3", markersize=4, label=f"steps (lr {lr:g})")
    for a, b in zip(xs[:-1], xs[1:]):
        ax.annotate("", xy=(b, f(b)), xytext=(a, f(a)),
                    arrowprops=dict(arrowstyle="->", color="C3", lw=0.8))
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.set_title("Gradient descent in one dimension")
    ax.legend()
    return fig


def hidden_units(model, X=None, y=None, title=None):
    """A 1-H-1 net's fit taken apart: each hidden unit's contribution
    activation(w₁ⱼ x + b₁ⱼ) · w₂ⱼ, then their sum plus b₂ (the model's output),
    against the data when given."""
    sizes = model.layer_sizes
    if len(sizes) != 3 or sizes[0] != 1 or sizes[2] != 1:
        raise ValueError(f"model: hidden_units takes a net with one input, one hidden layer and one output, "
                         f"got {model!r}")
    if X is not None:
        x = np.asarray(X, dtype=float).reshape(-1)
        lo, hi = x.min(), x.max()
    else:
        lo, hi = 0.0, 1.0
    grid = np.linspace(lo, hi, 400).reshape(-1, 1)
    from .explain import _sub
    W1, b1 = model.weights[0], model.biases[0]
    W2, b2 = model.weights[1], model.biases[1]
    a = ACTIVATIONS[model.activations[0]](grid @ W1 + b1)
    act = model.activations[0]
    fig = _figure(9, 3.4)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    total = np.full(grid.shape[0], b2[0])
    for j in range(W1.shape[1]):
        part = a[:, j] * W2[j, 0]
        total = total + part
        name = f"{act}(w{_sub(1, j + 1)}·x + b{_sub(1, j + 1)})·w{_sub(2, j + 1)}"
        left.plot(grid[:, 0], part, "--", linewidth=1.3, label=name if sizes[1] <= 8 else None)
    left.axhline(0, color="0.8", linewidth=0.6)
    left.set_title("each hidden unit's contribution")
    left.set_xlabel("x")
    left.legend(fontsize=8)
    right.plot(grid[:, 0], total, color="k", linewidth=2, label=f"sum of the units + b₂ ({b2[0]:.3g})")
    if X is not None and y is not None:
        right.plot(x, np.asarray(y, dtype=float).reshape(-1), ".", color="C1", markersize=3, label="data")
    right.set_title("their sum + b₂: the model's output")
    right.set_xlabel("x")
    right.legend(fontsize=8)
    fig.suptitle(title or f"How {model!r} builds its curve")
    return fig


def save(fig, path, dpi=100, colors=None):
    """Writes a figure to a file with the Agg renderer (no display needed).

    colors : int, optional
        For PNG: reduce to a palette of this many colours (via Pillow, which
        matplotlib depends on): files several times smaller, as the README's."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(fig)
    if colors is None or not str(path).lower().endswith(".png"):
        fig.savefig(path, dpi=dpi)
        return path
    from PIL import Image
    fig.set_dpi(dpi)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    image.convert("RGB").quantize(colors=colors, dither=Image.Dither.NONE).save(path, optimize=True)
    return path
