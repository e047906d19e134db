"""PyTorch and ONNX interop: ``model.to_torch()``, ``MLP.from_torch(seq)`` and
``model.to_onnx(path)``.

All optional: torch and onnx are imported when these functions are called,
never by ``import gradfit``.

- ``to_torch`` builds ``torch.nn.Sequential(Linear, act, Linear, act, ...)``
  in the model's dtype (float32 or float64); identity activations get no
  module. torch's Linear stores its weight as (OUT, IN), the transpose of
  gradfit's (IN, OUT). Softplus becomes ``nn.Softplus(beta=1, threshold=40)``:
  beyond the threshold torch returns x itself, and above 40 the exact
  ``x + log1p(exp(-x))`` rounds to x in float32 and float64 alike, so the
  two agree to rounding (torch's default threshold, 20, is off by up to
  2e-9 there, which float64 would see).
- ``from_torch`` reads such a Sequential back: Linear layers (with or
  without bias), each followed by at most one of ReLU, Sigmoid, Tanh,
  Softplus (beta 1, threshold >= 20) or Identity; anything else is refused
  with an error that names the module.
- ``to_onnx`` writes a graph of Gemm nodes (``X @ W + b``) each followed by
  a Relu / Sigmoid / Tanh / Softplus node, input "X" (N, n_inputs) and output
  "Y" (N, n_outputs), in the model's dtype (FLOAT or DOUBLE). onnxruntime
  has no double Softplus kernel, so a float64 softplus layer is written as
  ``Relu(z) + Log(1 + Exp(-Abs(z)))`` (the same stable formula, as
  primitives). It needs the ``onnx`` package only (not torch).

Both export what ``model.predict`` computes. A model holds no loss: the
outputs of one trained with a cross-entropy are logits, and of one trained
with ``loss="poisson"`` the log of the mean; the exported graph gives the
same values, so apply the softmax / sigmoid, or ``exp`` for the Poisson mean
(``MLP.predict_mean``), to its output.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._npzfile import write_atomic
from ._optional import require
from ._version import __version__

if TYPE_CHECKING:
    from .model import MLP

__all__ = ["to_torch", "from_torch", "to_onnx"]

# The threshold of torch's Softplus above which it returns x: see the module docstring.
SOFTPLUS_THRESHOLD = 40.0
_MIN_SOFTPLUS_THRESHOLD = 20.0


def to_torch(model: MLP) -> Any:
    """An equivalent ``torch.nn.Sequential`` of the model, in its dtype.

    Parameters
    ----------
    model : MLP

    Returns
    -------
    torch.nn.Sequential
        Linear layers (weights copied, not shared) and ReLU / Sigmoid / Tanh /
        Softplus modules; identity activations add no module.
    """
    torch = require("torch", "to_torch")
    _check_mapped(model, _TORCH_MODULES, "to_torch")
    tdtype = torch.float64 if model.dtype == np.float64 else torch.float32
    modules = []
    for W, b, act in zip(model.weights, model.biases, model.activations):
        fan_in, fan_out = W.shape
        linear = torch.nn.Linear(fan_in, fan_out, dtype=tdtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            linear.bias.copy_(torch.from_numpy(b.copy()))
        modules.append(linear)
        make = _TORCH_MODULES[act]
        if make is not None:
            modules.append(make(torch.nn))
    return torch.nn.Sequential(*modules)


# Each activation's torch module (None: no module) and ONNX operator: an
# activation missing here is refused by to_torch / to_onnx, never dropped.
_TORCH_MODULES: dict[str, Callable[[Any], Any] | None] = {
    "identity": None,
    "relu": lambda nn: nn.ReLU(),
    "sigmoid": lambda nn: nn.Sigmoid(),
    "tanh": lambda nn: nn.Tanh(),
    "softplus": lambda nn: nn.Softplus(beta=1.0, threshold=SOFTPLUS_THRESHOLD),
}


def _check_mapped(model: MLP, table: dict[str, Any], what: str) -> None:
    missing = sorted({a for a in model.activations if a not in table})
    if missing:
        raise ValueError(f"model: {what} has no equivalent of the activation(s) {missing}")


def from_torch(module: Any) -> dict[str, Any]:
    """The keyword arguments of an MLP equivalent to a ``torch.nn.Sequential``
    (``MLP.from_torch(module)`` builds it).

    Parameters
    ----------
    module : torch.nn.Sequential
        Linear layers, each followed by at most one activation module: ReLU,
        Sigmoid, Tanh, Softplus (beta=1, threshold >= 20) or Identity. All
        parameters float32 or all float64, finite, consecutive widths
        matching.

    Returns
    -------
    dict
        ``layer_sizes``, ``activation``, ``output_activation``, ``dtype``,
        ``init`` and ``weights`` / ``biases`` (copied, transposed to (IN,
        OUT); a Linear without bias gets zero biases).

    Raises
    ------
    TypeError
        When `module` is not a torch.nn.Sequential.
    ValueError
        For a module gradfit has no equivalent for (naming it and its
        position), two activations in a row, mismatched widths, mixed or
        unsupported dtypes, or non-finite weights.
    """
    torch = require("torch", "from_torch")
    nn = torch.nn
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"module: expected a torch.nn.Sequential, got {type(module).__name__}")
    acts = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Softplus: "softplus"}
    layers: list[tuple[Any, Any]] = []            # (Linear, activation name or None)
    for i, m in enumerate(module):
        where = f"module[{i}] ({type(m).__name__})"
        if isinstance(m, nn.Identity):
            continue
        if type(m) is nn.Linear:
            layers.append((m, None))
            continue
        if type(m) in acts:
            if not layers:
                raise ValueError(f"module: expected a Linear layer first, got {where}")
            if layers[-1][1] is not None:
                raise ValueError(f"module: expected a Linear layer after the activation {layers[-1][1]}, "
                                 f"got {where}: gradfit has one activation per layer")
            if isinstance(m, nn.Softplus):
                if float(m.beta) != 1.0 or float(m.threshold) < _MIN_SOFTPLUS_THRESHOLD:
                    raise ValueError(f"module: {where}: expected Softplus(beta=1, threshold >= "
                                     f"{_MIN_SOFTPLUS_THRESHOLD:g}) (gradfit's softplus is log(1 + exp(x))), "
                                     f"got beta={m.beta}, threshold={m.threshold}")
            layers[-1] = (layers[-1][0], acts[type(m)])
            continue
        raise ValueError(f"module: {where} has no gradfit equivalent; expected Linear layers and ReLU, "
                         f"Sigmoid, Tanh, Softplus or Identity activations")
    if not layers:
        raise ValueError("module: expected at least one Linear layer, got none")
    dtypes = {layer.weight.dtype for layer, _ in layers}
    if len(dtypes) != 1 or next(iter(dtypes)) not in (torch.float32, torch.float64):
        raise ValueError(f"module: expected all Linear layers in float32 or all in float64, got "
                         f"{sorted(str(d) for d in dtypes)} (convert with module.float() or module.double())")
    dtype = "float64" if next(iter(dtypes)) == torch.float64 else "float32"
    sizes = [int(layers[0][0].in_features)]
    for k, (layer, _) in enumerate(layers):
        if int(layer.in_features) != sizes[-1]:
            raise ValueError(f"module: Linear layer {k} takes {layer.in_features} inputs, but the layer before "
                             f"it gives {sizes[-1]}")
        sizes.append(int(layer.out_features))
    names = [a or "identity" for _, a in layers]
    weights, biases = [], []
    for layer, _ in layers:
        W = layer.weight.detach().cpu().numpy().T
        b = (layer.bias.detach().cpu().numpy() if layer.bias is not None
             else np.zeros(layer.out_features, dtype=dtype))
        weights.append(W)
        biases.append(b)
    return dict(layer_sizes=sizes, activation=names[:-1] or "identity", output_activation=names[-1], dtype=dtype,
                init="zeros", weights=weights, biases=biases)


_ONNX_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus"}


def to_onnx(model: MLP, path: str | os.PathLike[str], *, opset: int = 13) -> None:
    """Writes the model as an ONNX file (atomically, like ``model.save``).

    Parameters
    ----------
    model : MLP
    path : str or os.PathLike
    opset : int, default 13
        The ONNX operator set version (Gemm, Relu, Sigmoid, Tanh and
        Softplus are in every opset from 13 on).

    Notes
    -----
    The graph's input is "X" of shape (N, n_inputs) with a symbolic batch
    dimension "N", its output "Y" (N, n_outputs); weights are initializers
    of the model's dtype (float32 -> FLOAT, float64 -> DOUBLE).
    """
    onnx = require("onnx", "to_onnx")
    _check_mapped(model, dict(_ONNX_OPS, identity=None), "to_onnx")
    from onnx import TensorProto, helper, numpy_helper

    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 13:
        raise ValueError(f"opset: expected an integer >= 13, got {opset!r}")
    elem = TensorProto.DOUBLE if model.dtype == np.float64 else TensorProto.FLOAT
    nodes, inits = [], []
    current = "X"
    n_layers = len(model.layer_sizes) - 1
    for i, (W, b, act) in enumerate(zip(model.weights, model.biases, model.activations)):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(W), name=f"W{i}"))
        inits.append(numpy_helper.from_array(np.ascontiguousarray(b), name=f"b{i}"))
        last = i == n_layers - 1
        gemm_out = "Y" if last and act == "identity" else f"z{i}"
        nodes.append(helper.make_node("Gemm", [current, f"W{i}", f"b{i}"], [gemm_out], name=f"gemm{i}"))
        current = gemm_out
        if act != "identity":
            out = "Y" if last else f"a{i}"
            if act == "softplus" and elem == TensorProto.DOUBLE:
                # onnxruntime has no double Softplus kernel: the same function
                # from primitives, relu(z) + log(1 + exp(-|z|)) (stable for any z)
                if not any(t.name == "one" for t in inits):
                    inits.append(numpy_helper.from_array(np.ones((), dtype=np.float64), name="one"))
                p = f"softplus{i}_"
                nodes += [helper.make_node("Abs", [current], [p + "abs"], name=p + "abs"),
                          helper.make_node("Neg", [p + "abs"], [p + "neg"], name=p + "neg"),
                          helper.make_node("Exp", [p + "neg"], [p + "exp"], name=p + "exp"),
                          helper.make_node("Add", [p + "exp", "one"], [p + "1p"], name=p + "1p"),
                          helper.make_node("Log", [p + "1p"], [p + "log"], name=p + "log"),
                          helper.make_node("Relu", [current], [p + "relu"], name=p + "relu"),
                          helper.make_node("Add", [p + "relu", p + "log"], [out], name=p + "out")]
            else:
                nodes.append(helper.make_node(_ONNX_OPS[act], [current], [out], name=f"{act}{i}"))
            current = out
    graph = helper.make_graph(
        nodes, "gradfit_mlp",
        [helper.make_tensor_value_info("X", elem, ["N", model.n_inputs])],
        [helper.make_tensor_value_info("Y", elem, ["N", model.n_outputs])],
        initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="gradfit", producer_version=__version__)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    write_atomic(path, lambda f: f.write(data))
