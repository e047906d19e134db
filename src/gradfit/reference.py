"""The same algorithm as the C core, in plain NumPy.

This is gradfit's correctness oracle (tests compare the C backend with it step
by step) and the benchmark baseline (``train(..., backend="numpy")``). It works
on whole minibatches with matrix products: no Python loop over samples. Every
definition here mirrors csrc/: losses, the gradient scale, the order of
update and the stopping rules.
"""
import numpy as np

from ._layout import layer_views

STATUS_OK, STATUS_DIVERGED, STATUS_CONVERGED, STATUS_MAX_STEPS = 0, 2, 3, 4


def _sigmoid(z):
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1 / (1 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1 + e)
    return out


def _softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


# f(z)
ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softplus": _softplus,
}

# f'(z), given z and a = f(z)
DERIVATIVES = {
    "identity": lambda z, a: np.ones_like(z),
    "relu": lambda z, a: (z > 0).astype(z.dtype),
    "sigmoid": lambda z, a: a * (1 - a),
    "tanh": lambda z, a: 1 - a * a,
    "softplus": lambda z, a: _sigmoid(z),
}


def grad_norm(grad):
    """Euclidean norm of a flat gradient, accumulated in float64."""
    return float(np.sqrt(np.sum(np.square(grad, dtype=np.float64))))


def loss_value(pred, y, loss):
    """mse: mean over samples and outputs of (pred - y)^2; sse: the sum."""
    sq = np.sum(np.square(pred - y), dtype=np.float64)
    return float(sq / pred.size) if loss == "mse" else float(sq)


def loss_gradient(pred, y, loss):
    """dloss/dpred with the same scale as the C core."""
    dt = pred.dtype.type
    scale = dt(1.0 / pred.size) if loss == "mse" else dt(1)
    return (dt(2) * scale) * (pred - y)


def forward(weights, biases, activations, X):
    """Returns the list of (z, a) per layer; the prediction is the last a."""
    cache = []
    a = X
    for W, b, act in zip(weights, biases, activations):
        z = a @ W + b
        a = ACTIVATIONS[act](z)
        cache.append((z, a))
    return cache


def backward(weights, activations, X, cache, dpred, grad_weights, grad_biases):
    """Chain rule from the output back to the first layer, reusing the forward
    pass's z and a; writes each layer's gradient into the given arrays."""
    delta = dpred
    for layer in range(len(weights) - 1, -1, -1):
        z, a = cache[layer]
        delta = delta * DERIVATIVES[activations[layer]](z, a)      # dloss/dz
        inp = cache[layer - 1][1] if layer > 0 else X
        grad_weights[layer][...] = inp.T @ delta                  # dloss/dW
        grad_biases[layer][...] = delta.sum(axis=0)               # dloss/db
        if layer > 0:
            delta = delta @ weights[layer].T                      # dloss/da of the layer below


class Reference:
    """Plain-NumPy training state for one model: the twin of the C backend."""

    name = "numpy"

    def __init__(self, model, loss):
        self.model = model
        self.loss = loss
        self.acts = model.activations
        self.grad = np.empty_like(model.params)
        self.prev = model.params.copy()
        self._gw, self._gb = layer_views(self.grad, model.layer_sizes)

    def loss_and_grad(self, X, y):
        m = self.model
        cache = forward(m.weights, m.biases, self.acts, X)
        pred = cache[-1][1]
        backward(m.weights, self.acts, X, cache, loss_gradient(pred, y, self.loss), self._gw, self._gb)
        return loss_value(pred, y, self.loss), self.grad

    def loss_only(self, X, y):
        with np.errstate(over="ignore", invalid="ignore"):
            return self._loss_only(X, y)

    def _loss_only(self, X, y):
        pred = forward(self.model.weights, self.model.biases, self.acts, X)[-1][1]
        return loss_value(pred, y, self.loss)

    def train(self, X, y, idx, n_epochs, batch, lr, max_steps, grad_tol, epoch_loss, epoch_seen):
        """Same contract as gradfit._core.train: returns (status, steps, epochs, grad_norm).
        Overflow is detected by the loss check, as in C, so NumPy's warnings are off."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self._train(X, y, idx, n_epochs, batch, lr, max_steps, grad_tol, epoch_loss, epoch_seen)

    def _train(self, X, y, idx, n_epochs, batch, lr, max_steps, grad_tol, epoch_loss, epoch_seen):
        params = self.model.params
        lr = params.dtype.type(lr)
        N = X.shape[0]
        steps, epochs, gnorm = 0, 0, -1.0
        for e in range(n_epochs):
            order = idx[e * N:(e + 1) * N] if idx.size else None
            epoch_loss[e] = 0.0
            epoch_seen[e] = 0
            for start in range(0, N, batch):
                if max_steps >= 0 and steps >= max_steps:
                    return STATUS_MAX_STEPS, steps, epochs, gnorm
                rows = order[start:start + batch] if order is not None else slice(start, start + batch)
                Xb, yb = X[rows], y[rows]
                n = Xb.shape[0]
                value, grad = self.loss_and_grad(Xb, yb)
                if not np.isfinite(value):
                    params[...] = self.prev
                    return STATUS_DIVERGED, steps, epochs, gnorm
                epoch_loss[e] += value * n
                epoch_seen[e] += n
                epochs = e + 1             # epochs with at least one batch measured
                if n == N and grad_tol > 0:
                    gnorm = grad_norm(grad)
                    if gnorm < grad_tol:
                        return STATUS_CONVERGED, steps, epochs, gnorm
                self.prev[...] = params
                params -= lr * grad
                steps += 1
        if max_steps >= 0 and steps >= max_steps:
            return STATUS_MAX_STEPS, steps, epochs, gnorm
        return STATUS_OK, steps, epochs, gnorm


def closed_form_linear(X, y):
    """Least-squares weights and bias of y = X @ w + b: theta = (X^T X)^-1 X^T y,
    solved with numpy.linalg.lstsq on X with a column of ones appended."""
    X = np.asarray(X, dtype=np.float64)
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    theta = np.linalg.lstsq(A, np.asarray(y, dtype=np.float64), rcond=None)[0]
    return theta[:-1], theta[-1]
