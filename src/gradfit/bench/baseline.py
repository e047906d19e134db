"""The benchmark suite's "numpy" column: minibatch SGD as a skilled NumPy user writes it.

The same training as ``gf.train(model, X, y, lr=..., batch_size=...,
epochs=..., shuffle=True, seed=...)`` with plain SGD: the same visiting order
(``gf.epoch_order``), the same loss per minibatch added to the epoch's loss,
the same stop on a non-finite loss (the parameters go back to before the last
update). The loss over all the data (``NumpyBaseline.loss``) is a separate
call: the suite makes it after its stopwatch stops, since a user's loop does
no pass over the data after training. It is tuned the way NumPy code is
tuned, so that the comparison with the C core is fair:

- each epoch's rows are gathered once (``X[order]``) and sliced into
  contiguous minibatches;
- every per-step operation writes into a preallocated buffer with ``out=``;
- each update ``p - lr * grad`` is written into a second parameter buffer, so
  the values before it (what a divergence rolls back to) are kept without a
  copy per step.

It is self-contained: it uses only NumPy and gradfit's public
``gf.epoch_order``, and reads the network as a flat parameter array in
gradfit's layout (per layer W (IN, OUT) row-major, then b (OUT)). Losses:
"mse", "sse" and "cross_entropy" (softmax over the outputs, y one-hot or
probability rows). gradfit.reference is the readable statement of the same
algorithm; tests/test_numpy_baseline.py checks that the two agree.
"""
import math

import numpy as np

from ..shuffling import epoch_order

LOSSES = ("mse", "sse", "cross_entropy")
ACTIVATIONS = ("identity", "relu", "sigmoid", "tanh", "softplus")
# Rows per block of the final loss pass: its buffers stay small and are reused.
LOSS_BLOCK_ROWS = 4096

# Module-level names for the per-step calls (one lookup instead of two).
_matmul, _add, _subtract, _multiply, _divide = np.matmul, np.add, np.subtract, np.multiply, np.divide
_tanh, _exp, _log1p, _abs, _negative, _square = np.tanh, np.exp, np.log1p, np.abs, np.negative, np.square
_maximum, _minimum, _greater = np.maximum, np.minimum, np.greater
_add_reduce, _float64, _isfinite = np.add.reduce, np.float64, math.isfinite


def layer_views(flat, layer_sizes):
    """Per-layer (W (IN, OUT), b (OUT)) views into a flat parameter array."""
    weights, biases, at = [], [], 0
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        weights.append(flat[at:at + n_in * n_out].reshape(n_in, n_out))
        at += n_in * n_out
        biases.append(flat[at:at + n_out])
        at += n_out
    return weights, biases


class _Buffers:
    """Per-layer arrays for minibatches of up to `rows` rows."""

    def __init__(self, layer_sizes, activations, rows, dtype):
        self.rows = rows

        def new(o, wanted):
            return np.empty((rows, o), dtype) if wanted else None
        self.layers = [(
            new(o, True),                                    # z = a_in @ W + b
            new(o, act != "identity"),                       # a = f(z) (z itself for identity)
            new(o, act == "softplus"),                       # exp(-|z|), kept for backward
            new(o, True),                                    # scratch
            new(o, act in ("softplus", "sigmoid")),          # second scratch
            new(o, True),                                    # dloss/da, then dloss/dz
        ) for o, act in zip(layer_sizes[1:], activations)]


class NumpyBaseline:
    """One network trained by plain minibatch SGD in NumPy.

    Parameters
    ----------
    params : ndarray
        The flat parameters (float32 or float64), updated in place.
    layer_sizes : sequence of int
    activations : sequence of str
        One per layer, the output layer's included.
    loss : {"mse", "sse", "cross_entropy"}
    """

    def __init__(self, params, layer_sizes, activations, loss="mse"):
        if loss not in LOSSES:
            raise ValueError(f"loss: expected one of {list(LOSSES)}, got {loss!r}")
        unknown = [a for a in activations if a not in ACTIVATIONS]
        if unknown:
            raise ValueError(f"activations: expected names in {list(ACTIVATIONS)}, got {unknown[0]!r}")
        self.params, self.sizes, self.acts, self.loss_name = params, list(layer_sizes), list(activations), loss
        self.dtype = params.dtype
        self.grad = np.empty_like(params)
        self._upd = np.empty_like(params)
        self._alt = np.empty_like(params)
        self._gw, self._gb = layer_views(self.grad, self.sizes)
        self._layers = []
        for flat in (params, self._alt):
            W, b = layer_views(flat, self.sizes)
            self._layers.append((W, b, [w.T for w in W]))

    def _plan(self, bufs, n, params):
        """(layers, coef, size) for a pass over n rows with the parameters in
        buffer `params` (0: self.params, 1: the second one): layers holds per
        layer (act, W, b, W.T, grad W, grad b, z, a, e, t, u, d), with (n, OUT)
        views of the buffers; coef is the squared error's dloss/dpred scale."""
        layers = []
        weights, biases, transposed = self._layers[params]
        for act, W, b, WT, gw, gb, arrays in zip(self.acts, weights, biases, transposed, self._gw, self._gb,
                                                  bufs.layers):
            z, a, e, t, u, d = (None if x is None else x[:n] for x in arrays)
            layers.append((act, W, b, WT, gw, gb, z, z if a is None else a, e, t, u, d))
        size = n * self.sizes[-1]
        dt = self.dtype.type
        coef = dt(2) * (dt(1.0 / size) if self.loss_name == "mse" else dt(1))
        return layers, coef, size

    @staticmethod
    def _forward(X, layers):
        """Forward pass into the plan's buffers; returns the prediction (a view)."""
        inp = X
        for act, W, b, _, _, _, z, a, e, t, u, _ in layers:
            _matmul(inp, W, z)
            _add(z, b, z)
            if act == "tanh":
                _tanh(z, a)
            elif act == "relu":
                _maximum(z, 0, out=a)
            elif act == "softplus":            # max(z, 0) + log1p(exp(-|z|))
                _abs(z, e)
                _negative(e, e)
                _exp(e, e)
                _log1p(e, a)
                _maximum(z, 0, out=t)
                _add(t, a, a)
            elif act == "sigmoid":             # exp(min(z, 0)) / (1 + exp(-|z|)): no overflow
                _abs(z, t)
                _negative(t, t)
                _exp(t, t)
                _add(t, 1, t)
                _minimum(z, 0, out=u)
                _exp(u, u)
                _divide(u, t, a)
            inp = a
        return inp

    def _loss_and_grad(self, X, y, layers, coef, size):
        """The minibatch's loss; its gradient goes into self.grad."""
        pred = self._forward(X, layers)
        d, t = layers[-1][11], layers[-1][9]
        if self.loss_name == "cross_entropy":       # sum_k t_k (max p - p_k) + s log sum_k exp(p_k - max p)
            n = X.shape[0]
            mx = pred.max(axis=1, keepdims=True)
            e = _exp(pred - mx)
            se = e.sum(axis=1)
            s = y.sum(axis=1)
            value = float(_add_reduce((y * (mx - pred)).sum(axis=1) + s * np.log(se), None, _float64)) / n
            _multiply((s / se)[:, None], e, d)
            _subtract(d, y, d)                 # s softmax(p) - t, per sample
            _multiply(d, self.dtype.type(1.0 / n), d)
        else:
            _subtract(pred, y, d)
            value = float(_add_reduce(_square(d, t), None, _float64))
            _multiply(d, coef, d)
            value = value / size if self.loss_name == "mse" else value
        self._backward(X, layers)
        return value

    def _backward(self, X, layers):
        """The chain rule from dloss/dpred (in the last layer's d) back to the
        first layer; the gradient goes into self.grad."""
        below = len(layers) - 2
        for act, W, b, WT, gw, gb, z, a, e, t, u, d in reversed(layers):
            if act == "tanh":                                       # * (1 - a^2)
                _multiply(a, a, t)
                _subtract(1, t, t)
                _multiply(d, t, d)
            elif act == "relu":                                     # * (z > 0)
                _greater(z, 0, t)
                _multiply(d, t, d)
            elif act == "softplus":                                 # * sigmoid(z)
                _add(e, 1, t)
                _minimum(z, 0, out=u)
                _exp(u, u)
                _divide(u, t, t)
                _multiply(d, t, d)
            elif act == "sigmoid":                                  # * a (1 - a)
                _subtract(1, a, t)
                _multiply(a, t, t)
                _multiply(d, t, d)
            inp = X if below < 0 else layers[below][7]
            _matmul(inp.T, d, gw)                                   # dloss/dW
            _add_reduce(d, 0, None, gb)                             # dloss/db
            if below >= 0:
                _matmul(d, WT, layers[below][11])                   # dloss/da of the layer below
            below -= 1

    def loss(self, X, y, block=LOSS_BLOCK_ROWS):
        """The loss over all of X, y at the current parameters: a forward pass
        over blocks of rows that reuse one set of buffers, the sums in float64."""
        N = X.shape[0]
        rows = min(block, N)
        bufs = _Buffers(self.sizes, self.acts, rows, self.dtype)
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for lo in range(0, N, rows):
                Xb, yb = X[lo:lo + rows], y[lo:lo + rows]
                layers, _, _ = self._plan(bufs, Xb.shape[0], 0)
                pred = self._forward(Xb, layers)
                if self.loss_name == "cross_entropy":
                    mx = pred.max(axis=1, keepdims=True)
                    l = (yb * (mx - pred)).sum(axis=1) + yb.sum(axis=1) * np.log(_exp(pred - mx).sum(axis=1))
                    total += float(_add_reduce(l, None, _float64))
                else:
                    d = layers[-1][11]
                    _subtract(pred, yb, d)
                    total += float(_add_reduce(_square(d, d), None, _float64))
        if self.loss_name == "sse":
            return total
        return total / (N if self.loss_name == "cross_entropy" else N * self.sizes[-1])

    def train(self, X, y, *, lr, batch_size, epochs, seed=0):
        """Plain SGD over shuffled minibatches. Returns (epoch_losses, diverged):
        each epoch's mean of its minibatch losses weighted by their rows, and
        whether a non-finite loss stopped training (the parameters are then
        those before the last update)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._train(X, y, lr, batch_size, epochs, seed)

    def _train(self, X, y, lr, batch, epochs, seed):
        # The parameters live in two buffers, self.params and self._alt: each
        # step reads the current one and writes p - lr * grad into the other,
        # which then becomes current; the one left behind holds the values
        # before the last update. On return self.params holds the current ones.
        rng = np.random.default_rng(seed)
        N = X.shape[0]
        batch = min(batch, N)
        lr = self.dtype.type(lr)
        buffers, grad, upd = (self.params, self._alt), self.grad, self._upd
        bufs = _Buffers(self.sizes, self.acts, batch, self.dtype)
        full = [self._plan(bufs, batch, p) for p in (0, 1)]
        tail = [self._plan(bufs, N % batch, p) for p in (0, 1)] if N % batch else None
        cur, losses, diverged = 0, [], False
        for _ in range(epochs):
            order = epoch_order(rng, N)
            Xe, ye = X[order], y[order]
            total = 0.0
            for lo in range(0, N, batch):
                n = min(batch, N - lo)
                layers, coef, size = (full if n == batch else tail)[cur]
                value = self._loss_and_grad(Xe[lo:lo + n], ye[lo:lo + n], layers, coef, size)
                if not _isfinite(value):
                    cur, diverged = 1 - cur, True          # back to the values before the last update
                    break
                total += n * value
                _multiply(grad, lr, upd)
                _subtract(buffers[cur], upd, buffers[1 - cur])
                cur = 1 - cur
            if diverged:
                break
            losses.append(total / N)
        if cur:
            np.copyto(self.params, buffers[cur])
        return losses, diverged


def train(params, layer_sizes, activations, X, y, *, loss="mse", lr, batch_size, epochs, seed=0):
    """Trains the flat `params` in place; returns (epoch_losses, diverged, final_loss),
    final_loss being the loss over all of X, y after training (see NumpyBaseline;
    the suite times NumpyBaseline.train alone, without this final pass)."""
    net = NumpyBaseline(params, layer_sizes, activations, loss)
    losses, diverged = net.train(X, y, lr=lr, batch_size=batch_size, epochs=epochs, seed=seed)
    return losses, diverged, net.loss(X, y)
