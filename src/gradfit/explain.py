"""One gradient-descent step, explained: `gf.explain_step(model, X, y, lr=...)`.

The loss, the gradient and the new loss come from the C core
(``model.loss_and_grad``, ``model.predict``, ``model.loss``). The forward
values per unit (z and a) and the chain-rule factors of each gradient are
computed here with NumPy from the weights (with gradfit._math's activations,
derivatives and loss gradients), so that every factor can be named; their products, summed over the samples, equal the C gradient (the
tests check this to 1e-12).
"""
import html

import numpy as np

from ._math import ACTIVATIONS, DERIVATIVES, loss_gradient
from ._validate import check_positive
from .model import MLP, checked_data

__all__ = ["explain_step", "StepExplanation", "Parameter"]

# Nets with more parameters than this are summarised per layer.
DETAIL_LIMIT = 50
# Samples whose chain-rule terms are written out one by one.
SAMPLE_LIMIT = 3

_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sub(*indices):
    """Subscript indices: w₁₂, or w₁[2,10] when an index has two digits."""
    if all(i < 10 for i in indices) or len(indices) == 1:
        return "".join(str(i) for i in indices).translate(_SUB)
    return str(indices[0]).translate(_SUB) + "[" + ",".join(map(str, indices[1:])) + "]"


def _fmt(v):
    return f"{v:.6g}"


_LOSS_TEXT = {
    "mse": "L = mean over samples and outputs of (ŷ − y)²",
    "sse": "L = sum over samples and outputs of (ŷ − y)²",
    "mae": "L = mean of |ŷ − y|",
    "huber": "L = mean of huber(ŷ − y)",
    "cross_entropy": "L = mean of −Σ y·log softmax(ŷ)   (ŷ: logits)",
    "binary_cross_entropy": "L = mean of −[y log σ(ŷ) + (1 − y) log(1 − σ(ŷ))]   (ŷ: logit)",
    "poisson": "L = mean of exp(ŷ) − y·ŷ   (ŷ: log of the mean)",
}


class Parameter:
    """One parameter's share of the step.

    Attributes
    ----------
    name : str
        The tutorial's name, e.g. "w₁₁" or "b₂".
    index : int
        Its position in ``model.params``.
    value, gradient, step, new_value : float
        ``gradient`` is the C core's; ``step = lr * gradient``;
        ``new_value = value - step``.
    factors : list of str
        The chain-rule factors' names, e.g. ["dL/dŷ", "dŷ/da₁", "da₁/dz₁", "dz₁/dw₁₁"].
    terms : ndarray of shape (n_samples, len(factors))
        Each factor's value for each sample; ``terms.prod(axis=1).sum()``
        equals ``gradient``.
    notes : list of str
        How a summed factor is made (``dL/da₁ = Σₖ dL/dz²ₖ · dz²ₖ/da₁``).
    """

    def __init__(self, name, index, value, gradient, lr, factors, terms, notes):
        self.name, self.index, self.value, self.gradient = name, index, value, gradient
        self.step = lr * gradient
        self.new_value = value - self.step
        self.factors, self.terms, self.notes = factors, terms, notes

    @property
    def chain_gradient(self):
        """The gradient as the sum over samples of the factors' products (NumPy)."""
        return float(self.terms.prod(axis=1).sum())

    def __repr__(self):
        return f"Parameter({self.name}={self.value:.6g}, gradient={self.gradient:.6g})"


class StepExplanation:
    """One gradient-descent update, with every number that makes it.

    ``str()`` gives the text, ``to_markdown()`` Markdown tables, and
    notebooks show ``_repr_html_``.

    Attributes
    ----------
    model : MLP
        The model explained (left unchanged unless ``apply=True``).
    loss_name : str
    lr : float
    loss, new_loss : float
        The loss before the step and after it (both by the C core; the new
        loss on a copy of the model holding the new parameters).
    gradient : ndarray
        ``model.loss_and_grad``'s gradient, in the layout of ``params``.
    new_params : ndarray
        ``params - lr * gradient``.
    X, y : ndarray
        The samples and their targets (as the loss sees them).
    prediction : ndarray (n_samples, n_outputs)
        ``model.predict(X)``.
    z, a : list of ndarray
        Per layer (1 .. L): pre-activations and activations, (n_samples, width).
    parameters : list of Parameter
        One per parameter, in the order of ``params`` (empty for nets over
        DETAIL_LIMIT parameters, which are summarised per layer).
    layers : list of dict
        Per layer: gradient norms of its weights and biases, its largest step.
    """

    def __init__(self, model, X, y, lr, loss, sample_weight, huber_delta):
        self.model, self.lr, self.loss_name = model, lr, loss
        self.X, self.y, self.sample_weight = X, y, sample_weight
        self.loss, self.gradient = model.loss_and_grad(X, y, loss=loss, sample_weight=sample_weight,
                                                       huber_delta=huber_delta)
        self.prediction = model.predict(X)
        self.new_params = model.params - lr * self.gradient
        after = model.copy()
        after.params = self.new_params
        self.new_loss = after.loss(X, y, loss=loss, sample_weight=sample_weight, huber_delta=huber_delta)
        self.helpful_lr = None if self.new_loss <= self.loss else self._helpful_lr(
            after, lambda m: m.loss(X, y, loss=loss, sample_weight=sample_weight, huber_delta=huber_delta))
        self._forward()
        # dL/dŷ per sample and output, the weighting over samples included (in float64)
        self.dL_dpred = loss_gradient(self.prediction.astype(np.float64), y, loss, sample_weight, huber_delta)
        self._names()
        self.layers = self._layer_summary()
        self.parameters = self._parameters() if model.n_params <= DETAIL_LIMIT else []

    # -- computation --------------------------------------------------------
    def _forward(self):
        self.z, self.a = [], []
        a = self.X
        for W, b, act in zip(self.model.weights, self.model.biases, self.model.activations):
            z = a @ W + b
            a = ACTIVATIONS[act](z)
            self.z.append(z)
            self.a.append(a)

    def _names(self):
        """Names of inputs, units and outputs, as the tutorial writes them."""
        sizes, acts = self.model.layer_sizes, self.model.activations
        L, n_hidden = len(sizes) - 1, len(sizes) - 2
        self._x = ["x"] if sizes[0] == 1 else [f"x{_sub(i + 1)}" for i in range(sizes[0])]
        self._zn, self._an, self._zbase = [], [], []
        for layer in range(1, L + 1):
            width = sizes[layer]
            unit = [("" if width == 1 else _sub(j + 1)) for j in range(width)]
            if layer == L:
                out = ["ŷ" + u for u in unit]
                zs = out if acts[-1] == "identity" else ["z" + u for u in unit]
                self._zn.append(zs)
                self._an.append(out)
                self._zbase.append("ŷ" if acts[-1] == "identity" else "z")
            else:
                tag = "" if n_hidden == 1 else str(layer).translate(_SUP)
                if n_hidden == 1 and width == 1:
                    unit = [""]
                self._zn.append([f"z{tag}{u}" for u in unit])
                self._zbase.append(f"z{tag}")
                self._an.append([f"a{tag}{u}" for u in unit])

    def _param_name(self, layer, kind, i, j=None):
        """w₁₁ / b₁₂ as the tutorial names the 1-2-1 net's parameters; w₂[1,3]
        when both sides of the weight matrix have several units."""
        sizes = self.model.layer_sizes
        n_in, n_out = sizes[layer - 1], sizes[layer]
        if kind == "b":
            return f"b{_sub(layer)}" if n_out == 1 else f"b{_sub(layer, j + 1)}"
        if n_in == 1 and n_out == 1:
            return f"w{_sub(layer)}"
        if n_in == 1:
            return f"w{_sub(layer, j + 1)}"
        if n_out == 1:
            return f"w{_sub(layer, i + 1)}"
        return f"w{_sub(layer)}[{i + 1},{j + 1}]"

    def _upstream(self, layer, j):
        """Factors whose product is dL/dz of unit j of `layer` (1-based), per
        sample: list of (name, values (N,)), and notes for summed factors."""
        model, L = self.model, len(self.model.layer_sizes) - 1
        act = model.activations[layer - 1]
        zname, aname = self._zn[layer - 1][j], self._an[layer - 1][j]
        if layer == L:
            factors = [(f"dL/d{aname}", self.dL_dpred[:, j])]
            notes = []
        else:
            W_next = model.weights[layer]
            if W_next.shape[1] == 1:
                factors, notes = self._upstream(layer + 1, 0)
                factors = factors + [(f"d{self._zn[layer][0]}/d{aname}",
                                      np.full(self.X.shape[0], W_next[j, 0]))]
            else:
                delta = self._delta(layer + 1)
                factors = [(f"dL/d{aname}", delta @ W_next[j])]
                nxt = self._zbase[layer]
                notes = [f"dL/d{aname} = Σₖ dL/d{nxt}ₖ · d{nxt}ₖ/d{aname}"]
        if act != "identity":
            d = DERIVATIVES[act](self.z[layer - 1][:, j], self.a[layer - 1][:, j])
            factors = factors + [(f"d{aname}/d{zname}", d)]
        return factors, notes

    def _delta(self, layer):
        """dL/dz of every unit of `layer` (1-based), (N, width), by NumPy."""
        model, L = self.model, len(self.model.layer_sizes) - 1
        if layer == L:
            g = self.dL_dpred
        else:
            g = self._delta(layer + 1) @ model.weights[layer].T
        act = model.activations[layer - 1]
        return g * DERIVATIVES[act](self.z[layer - 1], self.a[layer - 1])

    def _parameters(self):
        out, offset = [], 0
        params, n = self.model.params, self.X.shape[0]
        for layer, (W, b) in enumerate(zip(self.model.weights, self.model.biases), start=1):
            inputs = self.X if layer == 1 else self.a[layer - 2]
            for i in range(W.shape[0]):
                for j in range(W.shape[1]):
                    factors, notes = self._upstream(layer, j)
                    name = self._param_name(layer, "w", i, j)
                    factors = factors + [(f"d{self._zn[layer - 1][j]}/d{name}", inputs[:, i])]
                    k = offset + i * W.shape[1] + j
                    out.append(self._parameter(name, k, params[k], factors, notes))
            offset += W.size
            for j in range(b.size):
                factors, notes = self._upstream(layer, j)
                name = self._param_name(layer, "b", None, j)
                factors = factors + [(f"d{self._zn[layer - 1][j]}/d{name}", np.ones(n))]
                out.append(self._parameter(name, offset + j, params[offset + j], factors, notes))
            offset += b.size
        return out

    def _parameter(self, name, k, value, factors, notes):
        terms = np.column_stack([v for _, v in factors])
        return Parameter(name, k, float(value), float(self.gradient[k]), self.lr,
                         [f for f, _ in factors], terms, notes)

    def _layer_summary(self):
        rows, offset = [], 0
        for layer, (W, b) in enumerate(zip(self.model.weights, self.model.biases), start=1):
            gw = self.gradient[offset:offset + W.size]
            gb = self.gradient[offset + W.size:offset + W.size + b.size]
            g = self.gradient[offset:offset + W.size + b.size]
            k = int(np.argmax(np.abs(g)))
            where = (f"weights[{layer - 1}][{k // W.shape[1]}, {k % W.shape[1]}]" if k < W.size
                     else f"biases[{layer - 1}][{k - W.size}]")
            rows.append({"layer": layer - 1, "shape": W.shape, "weight_grad_norm": float(np.linalg.norm(gw)),
                         "bias_grad_norm": float(np.linalg.norm(gb)),
                         "largest_step": float(self.lr * g[k]), "largest_step_at": where,
                         "activation": self.model.activations[layer - 1],
                         "a_min": float(self.a[layer - 1].min()), "a_max": float(self.a[layer - 1].max())})
            offset += W.size + b.size
        return rows

    # -- text -----------------------------------------------------------------
    def _header(self):
        n = self.X.shape[0]
        return (f"One gradient-descent step on {self.model!r}: {n} sample{'s' if n > 1 else ''}, "
                f"loss {self.loss_name}, lr {self.lr:g}")

    def _forward_lines(self):
        lines = []
        for s in range(min(self.X.shape[0], SAMPLE_LIMIT)):
            xs = ", ".join(f"{nm} = {_fmt(v)}" for nm, v in zip(self._x, self.X[s]))
            ys = ", ".join(_fmt(v) for v in np.atleast_1d(self.y[s]))
            lines.append(f"  sample {s + 1}: {xs}; target y = {ys}")
            for layer in range(len(self.z)):
                act = self.model.activations[layer]
                cells = []
                for j in range(self.z[layer].shape[1]):
                    zn, an = self._zn[layer][j], self._an[layer][j]
                    if zn == an:
                        cells.append(f"{an} = {_fmt(self.prediction[s, j])}")
                    else:
                        value = self.prediction[s, j] if layer == len(self.z) - 1 else self.a[layer][s, j]
                        cells.append(f"{zn} = {_fmt(self.z[layer][s, j])} → {an} = {act}({zn}) = {_fmt(value)}")
                lines.append("    " + ";  ".join(cells))
        if self.X.shape[0] > SAMPLE_LIMIT:
            lines.append(f"  ... and {self.X.shape[0] - SAMPLE_LIMIT} more samples")
        return lines

    def _helpful_lr(self, trial, loss_of):
        """The largest lr / 2**k (k = 1..30) whose step along this gradient lowers the loss, or None."""
        for k in range(1, 31):
            trial.params = self.model.params - (self.lr / 2 ** k) * self.gradient
            if loss_of(trial) < self.loss:
                return self.lr / 2 ** k
        return None

    def verdict(self):
        """One sentence on what the step did to the loss, plainly (the step
        raised it: the lr is too large at this point)."""
        change = f"{self.loss:.6g} -> {self.new_loss:.6g}"
        if self.new_loss <= self.loss:
            return f"The step lowered the loss ({change})."
        better = (f"; lr = {self.helpful_lr:.3g} would lower it" if self.helpful_lr is not None
                  else "; no smaller lr tried lowers it either (a minimum, or a rounding-level gradient)")
        return (f"The step RAISED the loss ({change}): lr = {self.lr:g} is too large at this point. The "
                f"gradient points downhill, but a step this long overshoots along it{better}.")

    def __str__(self):
        lines = [self._header(), ""]
        if self.parameters:
            lines.append("Forward pass (z = weighted sum + bias, a = activation(z)):")
            lines += self._forward_lines()
        else:
            lines.append("Forward pass, per layer (activation range over the samples):")
            for r in self.layers:
                lines.append(f"  layer {r['layer']} ({r['shape'][0]} -> {r['shape'][1]}, {r['activation']}): "
                             f"a in [{_fmt(r['a_min'])}, {_fmt(r['a_max'])}]")
        lines += ["", f"Loss: {_LOSS_TEXT[self.loss_name]} = {self.loss:.10g}", ""]
        if self.parameters:
            lines.append("Backward pass, the chain rule for each parameter; then the step "
                         f"new = old − lr × gradient (lr = {self.lr:g}):")
            for p in self.parameters:
                lines += self._parameter_lines(p)
        else:
            lines.append(f"Backward pass, per layer ({self.model.n_params:,} parameters; "
                         f"nets over {DETAIL_LIMIT} are summarised):")
            for r in self.layers:
                lines.append(f"  layer {r['layer']}: |dL/dW| = {_fmt(r['weight_grad_norm'])}, "
                             f"|dL/db| = {_fmt(r['bias_grad_norm'])}, largest step {_fmt(r['largest_step'])} "
                             f"at {r['largest_step_at']}")
            lines.append(f"  all parameters: |gradient| = {_fmt(np.linalg.norm(self.gradient))}, "
                         f"|step| = {_fmt(self.lr * np.linalg.norm(self.gradient))}")
        lines += ["", f"New loss (after the step): {self.new_loss:.10g} "
                      f"(change {self.new_loss - self.loss:+.6g})", self.verdict()]
        return "\n".join(lines)

    def _parameter_lines(self, p):
        n = p.terms.shape[0]
        chain = " · ".join(p.factors)
        lines = [f"  {p.name} = {_fmt(p.value)}", f"    dL/d{p.name} = {chain}"]
        if n == 1:
            lines.append("      = " + " · ".join(f"({_fmt(v)})" for v in p.terms[0]))
        else:
            lines[-1] = f"    dL/d{p.name} = Σ over samples of {chain}"
            for s in range(min(n, SAMPLE_LIMIT)):
                lines.append(f"      sample {s + 1}: " + " · ".join(f"({_fmt(v)})" for v in p.terms[s])
                             + f" = {_fmt(p.terms[s].prod())}")
            if n > SAMPLE_LIMIT:
                lines.append(f"      ... and {n - SAMPLE_LIMIT} more samples")
        lines += [f"      = {_fmt(p.gradient)}" + (f"   ({'; '.join(p.notes)})" if p.notes else ""),
                  f"    step: lr × dL/d{p.name} = {self.lr:g} × {_fmt(p.gradient)} = {_fmt(p.step)}",
                  f"    new {p.name} = {_fmt(p.value)} − ({_fmt(p.step)}) = {_fmt(p.new_value)}"]
        return lines

    def __repr__(self):
        return (f"StepExplanation({self.model!r}, loss {self.loss:.6g} -> {self.new_loss:.6g}, "
                f"lr {self.lr:g})")

    # -- markdown and HTML ------------------------------------------------------
    def _tables(self):
        """(title, header, rows) of the explanation's tables."""
        tables = []
        if self.parameters:
            rows = []
            for s in range(min(self.X.shape[0], SAMPLE_LIMIT)):
                for layer in range(len(self.z)):
                    for j in range(self.z[layer].shape[1]):
                        zn, an = self._zn[layer][j], self._an[layer][j]
                        value = self.prediction[s, j] if layer == len(self.z) - 1 else self.a[layer][s, j]
                        rows.append([str(s + 1), f"{zn}" if zn == an else f"{zn}, {an}",
                                     _fmt(self.z[layer][s, j]), _fmt(value)])
            tables.append(("Forward pass", ["sample", "unit", "z", "a"], rows))
            rows = [[p.name, _fmt(p.value), " · ".join(p.factors),
                     "<br>".join(" · ".join(f"({_fmt(v)})" for v in t) for t in p.terms[:SAMPLE_LIMIT]),
                     _fmt(p.gradient), _fmt(p.step), _fmt(p.new_value)] for p in self.parameters]
            tables.append(("Backward pass and step", ["parameter", "value", "dL/dparameter", "factors",
                                                      "gradient", "lr × gradient", "new value"], rows))
        else:
            rows = [[str(r["layer"]), f"{r['shape'][0]} -> {r['shape'][1]}", r["activation"],
                     _fmt(r["weight_grad_norm"]), _fmt(r["bias_grad_norm"]), _fmt(r["largest_step"]),
                     r["largest_step_at"]] for r in self.layers]
            tables.append(("Per layer", ["layer", "shape", "activation", "|dL/dW|", "|dL/db|", "largest step",
                                         "at"], rows))
        return tables

    def to_markdown(self):
        """The explanation as Markdown: a heading line, the tables, the losses."""
        out = [f"**{self._header()}**", "",
               f"Loss: {_LOSS_TEXT[self.loss_name]} = {self.loss:.10g}", ""]
        for title, header, rows in self._tables():
            out += [f"*{title}*", "", "| " + " | ".join(header) + " |",
                    "|" + "---|" * len(header)]
            out += ["| " + " | ".join(r) + " |" for r in rows]
            out.append("")
        out.append(f"New loss (after the step): {self.new_loss:.10g}")
        out += ["", self.verdict()]
        return "\n".join(out)

    _repr_markdown_ = to_markdown

    def _repr_html_(self):
        e = html.escape
        out = [f"<p><b>{e(self._header())}</b></p>",
               f"<p>Loss: {e(_LOSS_TEXT[self.loss_name])} = {self.loss:.10g}</p>"]
        for title, header, rows in self._tables():
            out.append(f"<p><i>{e(title)}</i></p><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header)
                       + "</tr>")
            for r in rows:
                out.append("<tr>" + "".join(f"<td>{e(c).replace('&lt;br&gt;', '<br>')}</td>" for c in r)
                           + "</tr>")
            out.append("</table>")
        out.append(f"<p>New loss (after the step): {self.new_loss:.10g}</p>")
        out.append(f"<p>{e(self.verdict())}</p>")
        return "\n".join(out)


def explain_step(model, X, y, lr=0.01, loss="mse", *, sample_weight=None, huber_delta=1.0, apply=False):
    """Explains one gradient-descent step on X, y: forward values, loss,
    chain-rule factors of every gradient, the step and the new loss.

    Parameters
    ----------
    model : MLP
    X : array_like of shape (n_samples, n_inputs)
    y : array_like
        Targets as for ``model.loss_and_grad``.
    lr : float, default 0.01
        The step is ``lr * gradient``.
    loss : str, default "mse"
        Any of gradfit's losses.
    sample_weight : array_like of shape (n_samples,), optional
    huber_delta : float, default 1.0
    apply : bool, default False
        Also make the step on `model` (by default the model is unchanged:
        the new loss is measured on a copy).

    Returns
    -------
    StepExplanation
        ``print()`` it; ``.to_markdown()``; notebooks render its HTML.
        Nets over 50 parameters are summarised per layer.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"model: expected a gradfit.MLP, got {type(model).__name__}")
    lr = check_positive(lr, "lr")
    X, t, loss, sw, huber_delta = checked_data(model, X, y, loss, sample_weight, huber_delta, np.float64)
    explanation = StepExplanation(model, X, t.astype(np.float64), float(lr), loss, sw, huber_delta)
    if apply:
        model.params = explanation.new_params
    return explanation
