"""The model: MLP, its initialisation and its flat parameter buffer."""
from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import _core, interop
from ._codec import model_file
from ._layout import layer_views
from ._math import sigmoid, softmax
from ._metrics import check_metrics, compute_metrics
from ._names import ACTIVATIONS, LOSSES, lookup
from ._npzfile import write_npz
from ._targets import check_loss_fits_model, check_sample_weight, check_targets
from ._validate import (MAX_PARAMS, MAX_WIDTH, as_float_array, check_dtype, check_positive, check_seed, check_threads,
                        check_X)

__all__ = ["MLP", "INITS"]

#: The weight initialisations MLP(init=...) takes.
INITS = ("glorot", "he", "zeros")

# Multiply-adds per C call of predict (about 0.1 s): Ctrl-C is seen between calls.
PREDICT_WORK_PER_CALL = 1 << 28

_ACTIVATION_NAMES = {v: k for k, v in ACTIVATIONS.items()}
_NO_WEIGHTS = {"f": np.empty(0, np.float32), "d": np.empty(0, np.float64)}   # "all ones"
_NO_ROWS = np.empty(0, dtype=np.int64)                                        # "every row, in order"

# The data arguments of loss_and_grad, loss and evaluate (their docstrings' shared part).
_LOSS_DOC = """
    X : array_like or scipy.sparse matrix of shape (n_samples, n_inputs)
    y : array_like
        Targets: (n_samples, n_outputs), or (n_samples,) for one output;
        for "cross_entropy" int class ids (n_samples,) or one-hot /
        probability rows.
    loss : str, default "mse"
        "mse" (mean over samples and outputs of (pred - y)**2, no 1/2
        factor), "sse" (the sum), "mae", "huber", "cross_entropy"
        (softmax of the outputs), "binary_cross_entropy" (sigmoid of each
        output) or "poisson" (y >= 0, mean of exp(pred) - y * pred); the
        cross-entropies read the outputs as logits, poisson as the log of
        the mean (see predict_mean).
    sample_weight : array_like of shape (n_samples,), optional
        The loss is then the weighted mean sum(w_i loss_i) / sum(w_i)
        ("sse": the weighted sum).
    huber_delta : float, default 1.0
"""


class MLP:
    """A fully-connected network: dense layers with an activation after each.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_in, hidden..., n_out]``; ``[n_in, n_out]`` is linear regression
        ``y = x @ W + b``. Each size is a positive integer.
    activation : str or sequence of str, default "relu"
        Hidden-layer activation: one of ``"identity"``, ``"relu"``,
        ``"sigmoid"``, ``"tanh"``, ``"softplus"``, or one name per hidden layer.
    output_activation : str, default "identity"
        Activation of the last layer ("identity" for regression).
    dtype : {"float64", "float32"}, default "float64"
        Precision of the parameters and of every computation.
    init : {"glorot", "he", "zeros"}, default "glorot"
        Weight initialisation: uniform in ``±sqrt(6 / (in + out))``, normal with
        std ``sqrt(2 / in)``, or zeros. Biases start at zero.
    seed : int, numpy.random.Generator or None
        Seed of ``numpy.random.default_rng`` used by the initialisation.
    weights, biases : sequence of array_like, optional
        Explicit starting values, one per layer, of shapes (IN, OUT) and
        (OUT,). They override ``init``.

    Attributes
    ----------
    params : ndarray
        Every weight and bias in one flat array, layer by layer
        (W0, b0, W1, b1, ...; each W row-major). Writable.
    weights, biases : list of ndarray
        Per-layer views into ``params``: writing them changes the model.
    layer_sizes : tuple of int
        The architecture (read-only: a model's shape never changes).
    activations : tuple of str
        One activation name per layer, the last being the output's (read-only).
    dtype : numpy.dtype
        float32 or float64 (read-only).

    Examples
    --------
    >>> import gradfit as gf
    >>> model = gf.MLP([1, 1], weights=[[[1.0]]], biases=[[0.0]])
    >>> model.loss_and_grad([[2.1]], [4.0])
    (3.61, array([-7.98, -3.8 ]))
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str | Sequence[str] = "relu",
                 output_activation: str = "identity", dtype: DTypeLike = "float64", init: str = "glorot",
                 seed: int | np.random.Generator | None = None, weights: Sequence[ArrayLike] | None = None,
                 biases: Sequence[ArrayLike] | None = None) -> None:
        sizes = _check_layer_sizes(layer_sizes)
        n_hidden = len(sizes) - 2
        if isinstance(activation, (list, tuple)):
            if len(activation) != n_hidden:
                raise ValueError(
                    f"activation: expected one name or a list of {n_hidden} names (one per hidden layer), "
                    f"got a list of {len(activation)}"
                )
            hidden = [lookup(ACTIVATIONS, a, "activation") for a in activation]
        else:
            hidden = [lookup(ACTIVATIONS, activation, "activation")] * n_hidden
        names = hidden + [lookup(ACTIVATIONS, output_activation, "output_activation")]
        self._dtype = check_dtype(dtype)
        _check_size_limits(sizes)
        # The one description of the architecture, read by Python and C alike;
        # read-only arrays, exposed as tuples.
        self._net = _core.Net(sizes, [ACTIVATIONS[a] for a in names])
        self._sizes, self._acts = self._net.sizes, self._net.acts
        n = self._net.n_params
        self._params = np.zeros(n, dtype=self._dtype)
        self._weights, self._biases = layer_views(self._params, sizes)
        self._lock = threading.Lock()
        self.init = lookup(dict.fromkeys(INITS), init, "init")
        self.seed = check_seed(seed)
        _initialise(self._weights, self._biases, self.init, np.random.default_rng(seed))
        if weights is not None:
            _set_layers(weights, "weights", self._weights, self._dtype)
        if biases is not None:
            _set_layers(biases, "biases", self._biases, self._dtype)

    # -- architecture (read-only) -----------------------------------------
    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Layer widths ``(n_in, hidden..., n_out)``, a tuple."""
        return tuple(int(s) for s in self._sizes)

    @property
    def activations(self) -> tuple[str, ...]:
        """Activation names, one per layer (the last is the output's), a tuple."""
        return tuple(_ACTIVATION_NAMES[int(a)] for a in self._acts)

    @property
    def dtype(self) -> np.dtype[Any]:
        """numpy.dtype of the parameters: float32 or float64."""
        return self._dtype

    @property
    def n_params(self) -> int:
        """Number of weights and biases."""
        return self._params.size

    @property
    def n_inputs(self) -> int:
        """Features per sample, ``layer_sizes[0]``."""
        return int(self._sizes[0])

    @property
    def n_outputs(self) -> int:
        """Outputs per sample, ``layer_sizes[-1]``."""
        return int(self._sizes[-1])

    # -- parameters -------------------------------------------------------
    @property
    def params(self) -> NDArray[np.floating[Any]]:
        """All weights and biases in one flat array (writable, shared with the views).

        Assigning ``model.params = values`` copies into the same buffer after
        checking the size and that every value is finite."""
        return self._params

    @params.setter
    def params(self, values: ArrayLike) -> None:
        self.set_params(values)      # copies into the buffer: the views stay valid

    @property
    def weights(self) -> list[NDArray[np.floating[Any]]]:
        """Per-layer weight matrices (IN, OUT), views into params."""
        return list(self._weights)

    @weights.setter
    def weights(self, values: Sequence[ArrayLike]) -> None:
        _set_layers(values, "weights", self._weights, self._dtype)

    @property
    def biases(self) -> list[NDArray[np.floating[Any]]]:
        """Per-layer bias vectors (OUT,), views into params."""
        return list(self._biases)

    @biases.setter
    def biases(self, values: Sequence[ArrayLike]) -> None:
        _set_layers(values, "biases", self._biases, self._dtype)

    def _check_params_finite(self):
        """Raises ValueError if NaN or inf was written into the parameters
        (through model.params[...] or a weights/biases view)."""
        _check_finite(self._params, self._weights, self._biases)

    def summary(self) -> str:
        """A table of the layers: shapes, parameter counts and activations.

        Returns
        -------
        str
            Also what ``print(model.summary())`` shows.
        """
        return _summary(self)

    def set_params(self, params: ArrayLike) -> None:
        """Copies a flat array into the model's parameters.

        Parameters
        ----------
        params : array_like
            ``n_params`` finite values in the layout of ``model.params``.
        """
        a = as_float_array(params, "params", self._dtype).ravel()
        if a.size != self._params.size:
            raise ValueError(f"params: expected {self._params.size} values, got {a.size}")
        if not np.isfinite(a).all():
            raise ValueError("params: expected finite values, got NaN or inf")
        self._params[...] = a

    def copy(self) -> MLP:
        """An independent model with the same architecture and parameters."""
        other = object.__new__(MLP)      # what __init__ sets, without checking it again; the Net is read-only
        other._dtype, other._net, other._sizes, other._acts = self._dtype, self._net, self._sizes, self._acts
        other._params, other._lock, other.init, other.seed = self._params.copy(), threading.Lock(), self.init, self.seed
        other._weights, other._biases = layer_views(other._params, self.layer_sizes)
        return other

    # -- files and other frameworks (gradfit.io, gradfit.interop) ----------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the model to `path` (one .npz file, exactly that name).

        The file holds the parameters and JSON metadata (format version,
        layer sizes, activations, dtype, gradfit version); it never holds
        pickled objects. The write is atomic: `path` holds the old file or
        the new one, never a partial one. Read it back with ``gradfit.load``.

        An existing file keeps its mode (and owner, where allowed); a
        symlink is followed (the file it points to is replaced); a hard link
        is broken (the other names keep the old file); a read-only file
        (no write bit) is refused with PermissionError. Parameters holding
        NaN or inf are refused with ValueError before anything is written.
        See gradfit.io for the format.
        """
        write_npz(path, *model_file(self))

    def to_torch(self) -> Any:
        """An equivalent ``torch.nn.Sequential`` (Linear layers and activation
        modules, in the model's dtype). Needs PyTorch."""
        self._check_params_finite()
        return interop.to_torch(self)

    @classmethod
    def from_torch(cls, module: Any) -> MLP:
        """An MLP from a ``torch.nn.Sequential`` of Linear layers and
        ReLU / Sigmoid / Tanh / Softplus / Identity modules (float32 or float64)."""
        return cls(**interop.from_torch(module))

    def to_onnx(self, path: str | os.PathLike[str], *, opset: int = 13) -> None:
        """Writes the model as an ONNX graph (Gemm and activation nodes; input
        "X" of shape (N, n_inputs), output "Y"). Needs the ``onnx`` package."""
        self._check_params_finite()
        interop.to_onnx(self, path, opset=opset)

    # copy.copy / copy.deepcopy / pickle (for multiprocessing, joblib): the
    # per-layer views are rebuilt over the new params buffer, never stored
    # as separate arrays that would stop tracking it.
    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_weights"], state["_biases"], state["_lock"], state["_net"]
        state.pop("_trained_by", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._net = _core.Net(state["_sizes"], state["_acts"])
        self._sizes, self._acts = self._net.sizes, self._net.acts
        self._weights, self._biases = layer_views(self._params, self.layer_sizes)
        self._lock = threading.Lock()

    # -- computation (C core) ---------------------------------------------
    def predict(self, X: ArrayLike, n_threads: int = 1) -> NDArray[np.floating[Any]]:
        """Forward pass.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_inputs)
            Finite input rows, converted to the model's dtype; a sparse X is
            read through its non-zeros (docs/guide/sparse.md).
        n_threads : int, default 1
            Threads for the matrix products of wide layers (any number gives
            the same numbers, bit for bit).

        Returns
        -------
        ndarray of shape (n_samples, n_outputs), the model's dtype
        """
        X = check_X(X, self.n_inputs, self._dtype, sparse=True)
        self._check_params_finite()
        return self._predict(X, check_threads(n_threads))

    def _predict(self, X: Any, n_threads: int = 1) -> NDArray[Any]:     # an array or a checked CsrRows
        out = np.empty((X.shape[0], self.n_outputs), dtype=self._dtype)
        # one C call per ~0.1 s of work, so that Ctrl-C is seen between calls
        step = max(self._net.rows(X.shape[0]), PREDICT_WORK_PER_CALL // max(1, self.n_params))
        for start in range(0, X.shape[0], step):
            self._net.predict(self._params, X[start:start + step], out[start:start + step], n_threads=n_threads)
        return out

    def loss_and_grad(self, X: ArrayLike, y: ArrayLike, loss: str = "mse", sample_weight: ArrayLike | None = None,
                      huber_delta: float = 1.0, l2: float = 0.0) -> tuple[float, NDArray[np.floating[Any]]]:
        """The loss over all of X, y and its gradient, by the C backward pass.

        Parameters
        ----------%s
        l2 : float, default 0
            Adds the penalty ``l2 / 2 * sum(W**2)`` over the weights (not the
            biases) to the loss, and ``l2 * W`` to their gradient.

        Returns
        -------
        loss : float
        grad : ndarray of shape (n_params,)
            dloss/dparams in the layout of ``params``.
        """
        X, y, loss, sw, huber_delta = checked_data(self, X, y, loss, sample_weight, huber_delta, sparse=True)
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not (0 <= l2 < np.inf):
            raise ValueError(f"l2: expected a finite number >= 0, got {l2!r}")
        return self._loss_and_grad(X, y, loss, sw, huber_delta, float(l2))

    loss_and_grad.__doc__ = (loss_and_grad.__doc__ or "") % _LOSS_DOC

    def _loss_and_grad(self, X, y, loss, sw=None, huber_delta=1.0, l2=0.0):
        grad = np.empty_like(self._params)
        value = self._net.loss_grad(LOSSES[loss], self._params, grad, X, y,
                                    _NO_WEIGHTS[self._dtype.char] if sw is None else sw, _NO_ROWS,
                                    huber_delta=huber_delta, l2=l2)
        return value, grad

    def loss(self, X: ArrayLike, y: ArrayLike, loss: str = "mse", sample_weight: ArrayLike | None = None,
             huber_delta: float = 1.0) -> float:
        """The loss over all of X, y, by a forward pass only (no penalty).

        Parameters
        ----------%s
        Returns
        -------
        float
        """
        X, y, loss, sw, huber_delta = checked_data(self, X, y, loss, sample_weight, huber_delta, sparse=True)
        return self._loss(X, y, loss, sw, huber_delta)

    loss.__doc__ = (loss.__doc__ or "") % _LOSS_DOC

    def _loss(self, X, y, loss, sw=None, huber_delta=1.0, n_threads=1):
        return self._net.loss(LOSSES[loss], self._params, X, y, _NO_WEIGHTS[self._dtype.char] if sw is None else sw,
                              huber_delta=huber_delta, n_threads=n_threads)

    # -- classification and evaluation -----------------------------------------
    def predict_proba(self, X: ArrayLike) -> NDArray[np.floating[Any]]:
        """Class probabilities, reading the outputs as logits.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_inputs)

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
            With several outputs, the softmax over them (rows sum to 1); with
            one output, the sigmoid: the probability of class 1.
        """
        z = self.predict(X).astype(np.float64)
        p = sigmoid(z) if self.n_outputs == 1 else softmax(z)
        return p.astype(self._dtype)

    def predict_mean(self, X: ArrayLike) -> NDArray[np.floating[Any]]:
        """exp of the outputs: the mean predicted by a model trained with
        ``loss="poisson"`` (its outputs, what ``predict`` returns, are log-means).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_inputs)

        Returns
        -------
        ndarray of shape (n_samples, n_outputs), the model's dtype
        """
        with np.errstate(over="ignore"):
            return np.exp(self.predict(X))

    def predict_class(self, X: ArrayLike) -> NDArray[np.int64]:
        """Class ids: the largest output (several outputs) or output > 0 (one output).

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_inputs)

        Returns
        -------
        ndarray of int64, shape (n_samples,)
        """
        z = self.predict(X)
        return np.argmax(z, axis=1) if self.n_outputs > 1 else (z[:, 0] > 0).astype(np.int64)

    def evaluate(self, X: ArrayLike, y: ArrayLike, loss: str = "mse", metrics: str | Sequence[str] = (),
                 sample_weight: ArrayLike | None = None, huber_delta: float = 1.0) -> dict[str, float]:
        """The loss and metrics over a data set, by one forward pass.

        Parameters
        ----------%s
        metrics : sequence of str
            Any of "accuracy" (classification: the predicted class is the
            largest output, or output > 0 for one output; y class ids or
            one-hot rows), "r2" (1 - SS_res / SS_tot, averaged over outputs,
            as scikit-learn's r2_score: for a constant target, 1.0 when the
            prediction is exact, else 0.0) and "mae" (mean absolute error).

        Returns
        -------
        dict
            ``{"loss": ..., <metric>: ...}``.
        """
        names = check_metrics(metrics)
        Xc, t, loss, sw, huber_delta = checked_data(self, X, y, loss, sample_weight, huber_delta, sparse=True)
        out = {"loss": self._loss(Xc, t, loss, sw, huber_delta)}
        out.update(compute_metrics(names, self._predict(Xc), t, sw))
        return out

    evaluate.__doc__ = (evaluate.__doc__ or "") % _LOSS_DOC

    def __repr__(self):
        acts = self.activations
        hidden = acts[:-1]
        parts = [str(list(self.layer_sizes))]
        if hidden:
            parts.append(hidden[0] if len(set(hidden)) == 1 else "[" + ", ".join(hidden) + "]")
        if acts[-1] != "identity" or not hidden:
            parts.append(f"output={acts[-1]}" if hidden else acts[-1])
        parts.append(self._dtype.name)
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


def _check_size_limits(sizes):
    """Refuses widths and parameter counts no machine can hold, naming the layer."""
    for i, s in enumerate(sizes):
        if s > MAX_WIDTH:
            raise ValueError(f"layer_sizes: expected widths of at most {MAX_WIDTH}, got {s} at "
                             f"layer_sizes[{i}]")
    total = 0
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        count = fan_in * fan_out + fan_out
        total += count
        if total > MAX_PARAMS:
            raise ValueError(
                f"layer_sizes: expected at most {MAX_PARAMS:.3g} parameters in all, but layer {layer} "
                f"({fan_in} -> {fan_out}) alone has {count:.3g} (the network {total:.3g} so far)")


def _initialise(weights, biases, init, rng):
    """Draws the starting weights (biases start at zero)."""
    for W, b in zip(weights, biases):
        fan_in, fan_out = W.shape
        if init == "glorot":
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-bound, bound, size=W.shape)
        elif init == "he":
            W[...] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=W.shape)
        else:
            W[...] = 0
        b[...] = 0


def _set_layers(values, argument, targets, dtype):
    """Copies one array per layer into `targets` (views of the params), all checked first."""
    if isinstance(values, (str, bytes, np.ndarray)) or not hasattr(values, "__len__"):
        raise TypeError(f"{argument}: expected a list of {len(targets)} arrays (one per layer), got "
                        f"{type(values).__name__}")
    if len(values) != len(targets):
        raise ValueError(f"{argument}: expected {len(targets)} arrays (one per layer), got {len(values)}")
    arrays = []
    for i, (v, t) in enumerate(zip(values, targets)):
        a = as_float_array(v, f"{argument}[{i}]", dtype)
        if a.size == t.size and a.ndim < t.ndim:
            a = a.reshape(t.shape)   # scalars and flat lists for tiny layers
        if a.shape != t.shape:
            raise ValueError(f"{argument}[{i}]: expected shape {t.shape}, got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{argument}[{i}]: expected finite values, got NaN or inf")
        arrays.append(a)
    for a, t in zip(arrays, targets):
        t[...] = a


def _check_finite(params, weights, biases):
    """Raises ValueError if NaN or inf was written into the parameters
    (through model.params[...] or a weights/biases view)."""
    p = params
    # min and max propagate NaN and show an inf, without a temporary as large as params (one small
    # temporary is cheaper than the two reductions)
    if p.size <= 4096:
        if np.isfinite(p).all():
            return
    elif np.isfinite(p.min()) and np.isfinite(p.max()):
        return
    finite = np.isfinite(p)
    first = int(np.flatnonzero(~finite)[0])
    raise ValueError(
        f"params: expected finite parameters, but the model holds "
        f"{int(finite.size - np.count_nonzero(finite))} NaN or inf value(s), the first at "
        f"{_describe_index(first, weights, biases)}; they were written into model.params (or a weights / "
        f"biases view). Assign finite values, e.g. model.params = ..., before using the model"
    )

def _describe_index(i, weights, biases):
    """'weights[l][r, c]' or 'biases[l][j]' for flat parameter index i."""
    offset = 0
    for layer, (W, b) in enumerate(zip(weights, biases)):
        if i < offset + W.size:
            r, c = divmod(i - offset, W.shape[1])
            return f"weights[{layer}][{r}, {c}] (params[{i}])"
        offset += W.size
        if i < offset + b.size:
            return f"biases[{layer}][{i - offset}] (params[{i}])"
        offset += b.size
    return f"params[{i}]"


def _summary(self) -> str:
    """A table of the layers: shapes, parameter counts and activations.

    Returns
    -------
    str
        Also what ``print(model.summary())`` shows.
    """
    rows = [("layer", "shape (in -> out)", "weights", "biases", "activation")]
    for i, (W, b, act) in enumerate(zip(self._weights, self._biases, self.activations)):
        rows.append((str(i), f"{W.shape[0]} -> {W.shape[1]}", f"{W.size:,}", f"{b.size:,}", act))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = [f"{self!r}"]
    for k, r in enumerate(rows):
        lines.append("  " + "  ".join(cell.ljust(w) if c in (0, 1, 4) else cell.rjust(w)
                                      for c, (cell, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    lines = [line.rstrip() for line in lines]
    lines.append(f"  {self.n_params:,} parameters ({self.n_params * self._dtype.itemsize:,} bytes, "
                 f"{self._dtype.name})")
    return "\n".join(lines)


def checked_data(model, X, y, loss, sample_weight, huber_delta, dtype=None, sparse=False):
    """(X, y, loss, sample_weight, huber_delta) checked against the model, in
    `dtype` (default the model's): the data arguments of loss_and_grad, loss,
    evaluate and explain_step (sparse: a scipy.sparse X is accepted, as a
    gradfit._sparse.CsrRows)."""
    dtype = model.dtype if dtype is None else dtype
    loss = lookup(LOSSES, loss, "loss")
    check_loss_fits_model(loss, model)
    X = check_X(X, model.n_inputs, dtype, sparse=sparse)
    y = check_targets(y, X.shape[0], model, loss)
    sw = check_sample_weight(sample_weight, X.shape[0], dtype, loss=loss)
    huber_delta = check_positive(huber_delta, "huber_delta")
    model._check_params_finite()
    return X, y, loss, sw, huber_delta
