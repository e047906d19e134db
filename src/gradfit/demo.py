"""The tutorial, run: `gradfit demo` prints each step with real numbers.

1. the worked example: one sample, its loss, the chain-rule factors of the
   gradient, one update and the new loss;
2. linear regression on points from y = -x + 5: full-batch gradient descent
   until the gradient is near zero, minibatch SGD, and the closed form;
3. one gradient-descent step through the 1-2-1 softplus net, explained
   (gf.explain_step): the chain rule through a hidden unit;
4. the 1-2-1 softplus network fitting a bump, then a wider one;
5. a timing line: the C core against the NumPy baseline on the same job.

`gradfit demo --plots DIR` also writes the tutorial's figures (matplotlib).
"""
import os
import time
import warnings

import numpy as np

from . import datasets
from .explain import explain_step
from .model import MLP
from .reference import closed_form_linear
from .trainer import train

__all__ = ["run", "worked_example", "linear_regression", "explained_step", "softplus_net", "timing", "write_plots"]

# The bump fits (the same recipes as tests/test_softplus_fit.py): plain SGD
# with batch 1. Seeds matter: about half of the 1-2-1 starting points reach
# the good basin (two steep units of one sign, mse 2e-3 to 7e-3; this seed
# 4.6e-3); the others stall near mse 0.04. The 1-16-1 net ends with a smaller lr:
# with batch 1 each step follows one sample's gradient, so at lr 0.01 the
# parameters keep jittering around the minimum; 1000 epochs at lr 0.002
# shrink that jitter and halve the mse (the demo prints both). Each entry: (hidden, init, seed, [(lr, epochs), ...]).
BUMP_RECIPES = (
    (2, "glorot", 2, ((0.01, 6000),)),
    (16, "he", 3, ((0.01, 19000), (0.002, 1000))),
)



# The explained step: the 1-2-1 softplus net at hand-picked starting values,
# one sample of the dose/response data (x = 0.5, y = 1).
STEP_NET = dict(weights=[[[1.0, -2.0]], [[0.5], [1.5]]], biases=[[0.1, -0.3], [0.2]])
STEP_LR = 0.1                 # the explained step's learning rate


def worked_example(out):
    """Part 1: the tutorial's worked example, every number printed through `out`."""
    out("1. The worked example: y = w*x + b, one sample, squared error")
    x, y, lr = 2.1, 4.0, 0.01
    model = MLP([1, 1], weights=[[[1.0]]], biases=[[0.0]])
    X, Y = np.array([[x]]), np.array([y])
    pred = model.predict(X)[0, 0]
    loss, grad = model.loss_and_grad(X, Y)
    out(f"   x = {x}, y = {y}, w = 1, b = 0")
    out(f"   forward:  pred = w*x + b = {pred:g}; loss = (pred - y)^2 = {loss:.10g}")
    out(f"   backward: dL/dpred = 2*(pred - y) = {2 * (pred - y):.10g}")
    out(f"             dL/dw = dL/dpred * dpred/dw = {2 * (pred - y):.10g} * {x} = {grad[0]:.10g}")
    out(f"             dL/db = dL/dpred * dpred/db = {2 * (pred - y):.10g} * 1 = {grad[1]:.10g}")
    train(model, X, Y, lr=lr, batch_size=1, epochs=1)
    w, b = model.weights[0][0, 0], model.biases[0][0]
    out(f"   step (lr = {lr}): w = 1 - {lr}*({grad[0]:.10g}) = {w:.10g}, b = 0 - {lr}*({grad[1]:.10g}) = {b:.10g}")
    out(f"   new loss = {model.loss(X, Y):.10f}")


def linear_regression(out):
    """Part 2: gradient descent on points from y = -x + 5, against the closed form."""
    out("\n2. Linear regression on 50 points from y = -x + 5 (+ noise, std 0.1)")
    X, y = datasets.line()
    w_cf, b_cf = closed_form_linear(X, y)
    out(f"   closed form theta = (X^T X)^-1 X^T y:  w = {w_cf[0]:.8f}, b = {b_cf:.8f}")
    model = MLP([1, 1], init="zeros")
    r = train(model, X, y, lr=0.02, batch_size=None, epochs=None, max_steps=100_000, grad_tol=1e-9)
    out(f"   full-batch GD (lr 0.02, from w = b = 0): w = {model.weights[0][0, 0]:.8f}, "
        f"b = {model.biases[0][0]:.8f} after {r.steps} steps, |grad| = {r.grad_norm:.1e} ({r.stop_reason})")
    model = MLP([1, 1], init="zeros")
    r = train(model, X, y, lr=0.002, batch_size=5, epochs=2000, seed=0)
    out(f"   minibatch SGD (batch 5, lr 0.002, {r.epochs} epochs): w = {model.weights[0][0, 0]:.4f}, "
        f"b = {model.biases[0][0]:.4f}, mse {r.final_loss:.5f}")


def explained_step(out):
    """Part 3: one update of the 1-2-1 softplus net, every chain-rule factor."""
    out("\n3. One step through the 1-2-1 softplus net: the chain rule through a hidden unit")
    out("   y = softplus(w11*x + b11)*w21 + softplus(w12*x + b12)*w22 + b2; the sample x = 0.5, y = 1")
    model = MLP([1, 2, 1], activation="softplus", **STEP_NET)
    X, y = datasets.dose_response()
    e = explain_step(model, X[1:2], y[1:2], lr=STEP_LR)
    for line in str(e).splitlines()[2:]:
        out("   " + line if line else "")
    return e


def softplus_net(out, figures=None):
    """Part 4: the 1-2-1 and 1-16-1 softplus nets fitting a bump (figures into `figures`)."""
    out("\n4. y = softplus(w11*x + b11)*w21 + softplus(w12*x + b12)*w22 + b2 fitting a bump")
    X, y = datasets.bump()
    for hidden, init, seed, phases in BUMP_RECIPES:
        model = MLP([1, hidden, 1], activation="softplus", init=init, seed=seed)
        before, steps, seconds, finals, history = model.loss(X, y), 0, 0.0, [], []
        for k, (lr, epochs) in enumerate(phases):
            r = train(model, X, y, lr=lr, batch_size=1, epochs=epochs, seed=seed + k)
            steps, seconds = steps + r.steps, seconds + r.seconds
            finals.append(r.final_loss)
            history += r.history["loss"]
        schedule = " then ".join(f"lr {lr} for {epochs} epochs" for lr, epochs in phases)
        out(f"   {model!r}, {init} init, seed {seed}: mse {before:.4f} -> {r.final_loss:.2e}")
        out(f"     SGD, batch 1, {schedule}: {steps:,} steps in {seconds:.2f} s")
        if len(phases) > 1:
            out(f"     why the lr drops: batch-1 SGD at lr {phases[0][0]} jitters around the minimum "
                f"(mse {finals[0]:.2e} there); a smaller lr settles it (mse {finals[-1]:.2e})")
        if figures is not None:
            figures[hidden] = (model, {"loss": history})
        if hidden == 2:
            (w11, w12), (b11, b12) = model.weights[0][0], model.biases[0]
            (w21, w22), b2 = model.weights[1][:, 0], model.biases[1][0]
            out(f"     w11 = {w11:.3f}, b11 = {b11:.3f}, w12 = {w12:.3f}, b12 = {b12:.3f}, "
                f"w21 = {w21:.3f}, w22 = {w22:.3f}, b2 = {b2:.3f}")
            out("     text plot of the fit, x from 0 to 1 across; legend: '.' data, 'o' model, "
                "'*' both in one cell")
            out(_sketch(X[:, 0], y, model.predict(X)[:, 0]))


def _sketch(x, y, pred, width=50, height=8):
    """A small text plot: '.' data, 'o' model, '*' both."""
    rows = [[" "] * width for _ in range(height)]
    lo, hi = min(y.min(), pred.min()), max(y.max(), pred.max())
    for values, mark in ((y, "."), (pred, "o")):
        for xi, v in zip(x, values):
            c = int(round((xi - x.min()) / (x.max() - x.min()) * (width - 1)))
            r = height - 1 - int(round((v - lo) / (hi - lo) * (height - 1)))
            rows[r][c] = "*" if rows[r][c] not in (" ", mark) else mark
    return "\n".join("     |" + "".join(r) for r in rows)


def timing(out):
    """Part 5: how fast one epoch of the 1-2-1 net trains here."""
    out("\n5. Timing: 1-2-1 softplus net, 200,000 samples, batch 32, 1 epoch")
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (200_000, 1))
    y = np.exp(-((X[:, 0] - 0.5) / 0.15) ** 2)
    rates = {}
    for backend in ("c", "numpy"):
        model = MLP([1, 2, 1], activation="softplus", seed=0)
        r = train(model, X, y, lr=0.05, batch_size=32, epochs=1, seed=0, backend=backend)
        rates[backend] = r.samples_per_second
        out(f"   backend {backend:5s}: {r.samples_per_second:12,.0f} samples/s, final mse {r.final_loss:.6f}")
    out(f"   the C core is {rates['c'] / rates['numpy']:.0f}x the NumPy baseline on this job")


def write_plots(directory, figures, out=print):
    """Writes the tutorial's figures as PNGs into `directory`; returns their paths."""
    from . import plot
    os.makedirs(directory, exist_ok=True)
    paths = []

    def save(fig, name):
        path = os.path.join(directory, name)
        plot.save(fig, path, dpi=90, colors=64)
        paths.append(path)

    X, y = datasets.line(n=20, noise=0.3, seed=0, x_range=(0.0, 2.0))
    save(plot.loss_surface(X, y, lr=0.12, steps=80, batch_size=4, start=(2.0, 0.0)), "loss_surface.png")
    save(plot.gd_1d(), "gd_1d.png")
    model, history = figures[2]
    Xb, yb = datasets.bump()
    save(plot.hidden_units(model, Xb, yb, title="The 1-2-1 softplus net: two units and their sum"),
         "hidden_units.png")
    save(plot.fit_curve(figures[16][0], Xb, yb), "fit_curve.png")
    Xs, ys = datasets.sine(n=200, noise=0.1, seed=0)
    sine_net = MLP([1, 16, 1], activation="tanh", seed=0)
    r = train(sine_net, Xs, ys, optimizer="adam", lr=0.01, batch_size=16, epochs=150, seed=0,
              validation_fraction=0.25)
    save(plot.loss_curve(r, log=True, title="1-16-1 tanh net on a noisy sine: Adam, batch 16"),
         "loss_curve.png")
    out(f"\nFigures written to {os.path.abspath(directory)}:")
    for path in paths:
        out(f"   {os.path.basename(path)}")
    return paths


def run(out=print, plots=None):
    """Prints the walkthrough; with `plots` (a directory) also writes the figures."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        start = time.perf_counter()
        figures = {}
        worked_example(out)
        linear_regression(out)
        explained_step(out)
        softplus_net(out, figures)
        timing(out)
        out(f"\n(demo ran in {time.perf_counter() - start:.1f} s)")
    if plots is not None:
        write_plots(plots, figures, out)
