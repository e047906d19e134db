"""The model: MLP, its initialisation and its flat parameter buffer."""
import numpy as np

from . import _core
from ._layout import layer_views
from ._names import ACTIVATIONS, LOSSES, lookup
from ._validate import as_float_array, check_dtype, check_X, check_y

INITS = ("glorot", "he", "zeros")

# Rows per C call for predict / loss_and_grad: bounds the workspace memory.
CHUNK_ROWS = 4096


class MLP:
    """A fully-connected network: dense layers with an activation after each.

    layer_sizes       [n_in, hidden..., n_out]; [n_in, n_out] is linear regression
    activation        hidden-layer activation: one name, or a list, one per hidden layer
    output_activation activation of the last layer ("identity" for regression)
    dtype             "float32" or "float64"
    init              "glorot" (uniform +-sqrt(6/(in+out))), "he" (normal, std
                      sqrt(2/in)) or "zeros"; biases start at zero
    seed              seed for numpy.random.default_rng used by init
    weights, biases   explicit starting values, one array per layer, shapes
                      (IN, OUT) and (OUT,); they override init

    model.params holds every weight and bias in one flat array, layer by layer
    (W0, b0, W1, b1, ...); model.weights[i] and model.biases[i] are views into it.
    """

    def __init__(self, layer_sizes, activation="relu", output_activation="identity",
                 dtype="float64", init="glorot", seed=None, weights=None, biases=None):
        self.layer_sizes = _check_layer_sizes(layer_sizes)
        n_hidden = len(self.layer_sizes) - 2
        if isinstance(activation, (list, tuple)):
            if len(activation) != n_hidden:
                raise ValueError(
                    f"activation: expected one name or a list of {n_hidden} names (one per hidden layer), "
                    f"got a list of {len(activation)}"
                )
            hidden = [lookup(ACTIVATIONS, a, "activation") for a in activation]
        else:
            hidden = [lookup(ACTIVATIONS, activation, "activation")] * n_hidden
        self.activations = hidden + [lookup(ACTIVATIONS, output_activation, "output_activation")]
        self.dtype = check_dtype(dtype)
        self._sizes = np.asarray(self.layer_sizes, dtype=np.int64)
        self._acts = np.asarray([ACTIVATIONS[a] for a in self.activations], dtype=np.int32)
        n = _core.n_params(self._sizes, self._acts)
        self._params = np.zeros(n, dtype=self.dtype)
        self._weights, self._biases = layer_views(self._params, self.layer_sizes)
        self.init = lookup(dict.fromkeys(INITS), init, "init")
        self.seed = seed
        self._initialise(np.random.default_rng(seed))
        if weights is not None:
            self._set_layers(weights, "weights", self._weights)
        if biases is not None:
            self._set_layers(biases, "biases", self._biases)

    # -- parameters -------------------------------------------------------
    @property
    def params(self):
        """All weights and biases in one flat array (writable, shared with the views)."""
        return self._params

    @params.setter
    def params(self, values):
        self.set_params(values)      # copies into the buffer: the views stay valid

    @property
    def weights(self):
        """Per-layer weight matrices (IN, OUT), views into params."""
        return list(self._weights)

    @weights.setter
    def weights(self, values):
        self._set_layers(values, "weights", self._weights)

    @property
    def biases(self):
        """Per-layer bias vectors (OUT,), views into params."""
        return list(self._biases)

    @biases.setter
    def biases(self, values):
        self._set_layers(values, "biases", self._biases)

    @property
    def n_params(self):
        return self._params.size

    @property
    def n_inputs(self):
        return self.layer_sizes[0]

    @property
    def n_outputs(self):
        return self.layer_sizes[-1]

    def _initialise(self, rng):
        for W, b in zip(self._weights, self._biases):
            fan_in, fan_out = W.shape
            if self.init == "glorot":
                bound = np.sqrt(6.0 / (fan_in + fan_out))
                W[...] = rng.uniform(-bound, bound, size=W.shape)
            elif self.init == "he":
                W[...] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=W.shape)
            else:
                W[...] = 0
            b[...] = 0

    def _set_layers(self, values, argument, targets):
        if len(values) != len(targets):
            raise ValueError(f"{argument}: expected {len(targets)} arrays (one per layer), got {len(values)}")
        arrays = []
        for i, (v, t) in enumerate(zip(values, targets)):
            a = as_float_array(v, f"{argument}[{i}]", self.dtype)
            if a.size == t.size and a.ndim < t.ndim:
                a = a.reshape(t.shape)   # scalars and flat lists for tiny layers
            if a.shape != t.shape:
                raise ValueError(f"{argument}[{i}]: expected shape {t.shape}, got shape {a.shape}")
            if not np.isfinite(a).all():
                raise ValueError(f"{argument}[{i}]: expected finite values, got NaN or inf")
            arrays.append(a)
        for a, t in zip(arrays, targets):
            t[...] = a

    def set_params(self, params):
        """Copies a flat array (same layout as params) into the model."""
        a = as_float_array(params, "params", self.dtype).ravel()
        if a.size != self._params.size:
            raise ValueError(f"params: expected {self._params.size} values, got {a.size}")
        if not np.isfinite(a).all():
            raise ValueError("params: expected finite values, got NaN or inf")
        self._params[...] = a

    def copy(self):
        """An independent model with the same architecture and parameters."""
        other = MLP(self.layer_sizes, self.activations[:-1] or "identity", self.activations[-1],
                    dtype=self.dtype, init="zeros")
        other._params[...] = self._params
        other.init, other.seed = self.init, self.seed
        return other

    # copy.copy / copy.deepcopy / pickle (for multiprocessing, joblib): the
    # per-layer views are rebuilt over the new params buffer, never stored
    # as separate arrays that would stop tracking it.
    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_weights"], state["_biases"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._weights, self._biases = layer_views(self._params, self.layer_sizes)

    # -- computation (C core) ---------------------------------------------
    def _workspace(self, rows):
        return np.empty(_core.workspace_len(self._sizes, self._acts, rows), dtype=self.dtype)

    def predict(self, X):
        """Forward pass: (N, n_outputs) predictions for X of shape (N, n_inputs)."""
        X = check_X(X, self.n_inputs, self.dtype)
        out = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        rows = min(X.shape[0], CHUNK_ROWS)
        _core.predict(self._sizes, self._acts, self._params, X, rows, self._workspace(rows), out)
        return out

    def loss_and_grad(self, X, y, loss="mse"):
        """(loss, grad): the loss over all of X, y and its gradient with respect
        to params (a flat array in the same layout), by the C backward pass."""
        loss = lookup(LOSSES, loss, "loss")
        X = check_X(X, self.n_inputs, self.dtype)
        y = check_y(y, X.shape[0], self.n_outputs, self.dtype)
        return self._loss_and_grad(X, y, loss)

    def _loss_and_grad(self, X, y, loss):
        grad = np.empty_like(self._params)
        rows = min(X.shape[0], CHUNK_ROWS)
        value = _core.loss_grad(self._sizes, self._acts, LOSSES[loss], self._params, grad, X, y,
                                np.empty(0, dtype=np.int64), rows, self._workspace(rows))
        return value, grad

    def loss(self, X, y, loss="mse"):
        """The loss over all of X, y (a float)."""
        return self.loss_and_grad(X, y, loss)[0]

    def __repr__(self):
        hidden = self.activations[:-1]
        parts = [str(self.layer_sizes)]
        if hidden:
            parts.append(hidden[0] if len(set(hidden)) == 1 else "[" + ", ".join(hidden) + "]")
        if self.activations[-1] != "identity" or not hidden:
            parts.append(f"output={self.activations[-1]}" if hidden else self.activations[-1])
        parts.append(self.dtype.name)
        return f"MLP({', '.join(parts)})"


def _check_layer_sizes(layer_sizes):
    try:
        sizes = list(layer_sizes)
    except TypeError:
        raise TypeError(f"layer_sizes: expected a list of at least 2 positive integers, got {layer_sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes: expected at least 2 sizes [n_in, ..., n_out], got {sizes!r}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"layer_sizes: expected positive integers, got {sizes!r}")
    return [int(s) for s in sizes]
