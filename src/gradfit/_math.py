"""The one NumPy home of gradfit's math: every activation, its derivative, and
every loss with its gradient with respect to the prediction.

These are the NumPy twins of the C formulas (csrc/). gradfit.reference (the
oracle the C core is tested against), gradfit.explain, MLP.predict_proba and
the scikit-learn estimators all compute with them, so a formula is written
once on the NumPy side. This module imports only NumPy.

Every function keeps the dtype of its input (float32 stays float32): the
oracle must round as the float32 C path does.
"""
import numpy as np

LOSSES = ("mse", "sse", "cross_entropy", "binary_cross_entropy", "mae", "huber", "poisson")


# -- activations ----------------------------------------------------------------

def sigmoid(z):
    """1 / (1 + exp(-z)), as 1/(1+e) for z >= 0 and e/(1+e) below (e =
    exp(-|z|)), so that no exp overflows."""
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1 / (1 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1 + e)
    return out


def softplus(z):
    """log(1 + exp(z)), as max(z, 0) + log1p(exp(-|z|)) (no overflow)."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


# f(z)
ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "softplus": softplus,
}

# f'(z), given z and a = f(z)
DERIVATIVES = {
    "identity": lambda z, a: np.ones_like(z),
    "relu": lambda z, a: (z > 0).astype(z.dtype),
    "sigmoid": lambda z, a: a * (1 - a),
    "tanh": lambda z, a: 1 - a * a,
    "softplus": lambda z, a: sigmoid(z),
}


# -- probabilities from logits ----------------------------------------------------

def softmax(z):
    """Row-wise softmax of logits z (n, k): exp(z - max) / its row sum."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(z):
    """Row-wise log(softmax(z)) of logits z (n, k): z - logsumexp(z), with the
    row maximum taken out first (finite for confident predictions)."""
    zmax = z.max(axis=1, keepdims=True)
    return z - (zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True)))


# -- losses -----------------------------------------------------------------------

def sample_losses(pred, y, loss, delta=1.0):
    """Per-sample losses l (n,) and their gradients dl/dpred (n, OUT).

    Each loss and its gradient, with p the prediction and t the target::

        mse: mean_k (p_k - t_k)^2; sse: the sum over k;
        cross_entropy (p: logits, t: one-hot or probability rows; s = sum_k t_k):
          s * logsumexp(p) - sum_k t_k p_k, computed as sum_k t_k (max p - p_k) +
          s log(sum_k exp(p_k - max p)); dl/dp = s softmax(p) - t;
        binary_cross_entropy (p: logits, t in [0, 1]): mean_k of
          max(p, 0) - p t + log1p(exp(-|p|)); dl/dp = (sigmoid(p) - t) / OUT;
        mae: mean_k |p_k - t_k|; dl/dp = sign(p - t) / OUT;
        huber: mean_k h(r_k), r = p - t, h(r) = r^2/2 for |r| <= delta, else
          delta (|r| - delta/2); dl/dp = clip(r, -delta, delta) / OUT;
        poisson (p: the log of the mean, t >= 0): mean_k exp(p_k) - t_k p_k (the
          negative log-likelihood without its constant log t_k!); dl/dp =
          (exp(p) - t) / OUT.
    """
    dt = pred.dtype.type
    out = pred.shape[1]
    if loss == "cross_entropy":
        mx = pred.max(axis=1, keepdims=True)
        e = np.exp(pred - mx)
        se = e.sum(axis=1)
        s = y.sum(axis=1)
        l = (y * (mx - pred)).sum(axis=1) + s * np.log(se)
        return l, (s / se)[:, None] * e - y
    r = pred - y
    if loss in ("mse", "sse"):
        l, g = np.square(r).sum(axis=1), dt(2) * r
    elif loss == "binary_cross_entropy":
        e = np.exp(-np.abs(pred))
        l = (np.maximum(pred, 0) - pred * y + np.log1p(e)).sum(axis=1)
        g = np.where(pred >= 0, dt(1), e) / (1 + e) - y
    elif loss == "mae":
        l, g = np.abs(r).sum(axis=1), np.sign(r)
    elif loss == "huber":
        d = dt(delta)
        a = np.abs(r)
        l = np.where(a <= d, dt(0.5) * r * r, d * (a - dt(0.5) * d)).sum(axis=1)
        g = np.clip(r, -d, d)
    elif loss == "poisson":
        with np.errstate(over="ignore"):         # exp beyond the dtype's range is inf: the loss is inf
            mu = np.exp(pred)
        l, g = (mu - y * pred).sum(axis=1), mu - y
    else:
        raise ValueError(f"loss: expected one of {list(LOSSES)}, got {loss!r}")
    if loss != "sse":
        l, g = l / dt(out), g / dt(out)
    return l, g


def _weights_of(sample_weight, n, dtype):
    return np.ones(n, dtype) if sample_weight is None else np.asarray(sample_weight, dtype)


def loss_value(pred, y, loss, sample_weight=None, delta=1.0):
    """The batch loss: the weighted mean sum_i w_i l_i / sum_i w_i of the
    per-sample losses (sample_losses; w_i = 1 without sample weights; 0 if the
    weights sum to 0), or for sse the weighted sum sum_i w_i l_i. Without
    weights, mse is the mean over samples and outputs of (pred - y)^2 and sse
    the sum, accumulated in float64."""
    if sample_weight is None and loss in ("mse", "sse"):
        sq = np.sum(np.square(pred - y), dtype=np.float64)
        return float(sq / pred.size) if loss == "mse" else float(sq)
    l, _ = sample_losses(pred, y, loss, delta)
    w = _weights_of(sample_weight, pred.shape[0], pred.dtype)
    total = float(np.sum(w.astype(np.float64) * l.astype(np.float64)))
    if loss == "sse":
        return total
    W = float(np.sum(w, dtype=np.float64))
    return total / W if W > 0 else 0.0


def loss_gradient(pred, y, loss, sample_weight=None, delta=1.0):
    """dloss/dpred of loss_value, with the same scale as the C core:
    w_i / sum(w) * dl_i/dpred (sse: w_i * dl_i/dpred); zero if the weights
    sum to 0."""
    dt = pred.dtype.type
    if sample_weight is None and loss in ("mse", "sse"):
        scale = dt(1.0 / pred.size) if loss == "mse" else dt(1)
        return (dt(2) * scale) * (pred - y)
    _, g = sample_losses(pred, y, loss, delta)
    w = _weights_of(sample_weight, pred.shape[0], pred.dtype)
    if loss == "sse":
        return w[:, None] * g
    W = float(np.sum(w, dtype=np.float64))
    if not W > 0:
        return np.zeros_like(g)
    return (w * dt(1.0 / W))[:, None] * g


# -- a bound on a net's values, for the overflow check after training ---------------

#: For each activation, a bound of |act(z)| given a bound of |z|: identity and
#: relu do not grow |z|, softplus adds at most log 2, sigmoid and tanh stay
#: within 1.
_ACTIVATION_BOUNDS = {"identity": lambda b: b, "relu": lambda b: b, "softplus": lambda b: b + np.log(2.0),
                      "sigmoid": lambda b: np.minimum(b, 1.0), "tanh": lambda b: np.minimum(b, 1.0)}

#: For each loss, whether it is finite over any number of rows up to 1e10
#: given f (the dtype's largest value), a bound of |output| and the targets'
#: largest |value|: the squared losses square the error (so sqrt(f), with
#: room for the sum), poisson exponentiates the output, the others are
#: linear in it. A loss missing here has no bound: its value is computed.
_FINITE_WHEN = {
    "mse": lambda f, out, y: out + y < np.sqrt(f) * 1e-6,
    "sse": lambda f, out, y: out + y < np.sqrt(f) * 1e-6,
    "mae": lambda f, out, y: out + y < f * 1e-12,
    "huber": lambda f, out, y: out + y < f * 1e-12,
    "cross_entropy": lambda f, out, y: out + y < f * 1e-12,
    "binary_cross_entropy": lambda f, out, y: out + y < f * 1e-12,
    "poisson": lambda f, out, y: out < np.log(f) - 30.0 and y * out < f * 1e-12,
}


def loss_surely_finite(weights, biases, activations, loss, x_max, y_max):
    """True when the loss of the net (per-layer weights (IN, OUT), biases,
    activation names) is finite for any inputs with |x| <= x_max and targets
    with |y| <= y_max: every layer's pre-activation is bounded by
    b_in * max_j sum_i |W_ij| + max |bias| and its output by the activation's
    bound; every bound must stay far below the dtype's range and the
    output's must keep the loss finite (_FINITE_WHEN). False means "not
    proven", not "infinite"."""
    if loss not in _FINITE_WHEN or not weights:
        return False
    layers = ((_largest_column_sum(W), _largest_abs(b)) for W, b in zip(weights, biases))
    return _bounds_finite(layers, activations, loss, float(np.finfo(weights[0].dtype).max), x_max, y_max)


def stack_surely_finite(stack, layer_sizes, activations, loss, x_max, y_max):
    """loss_surely_finite for every row of `stack` (K, n_params: one net's
    parameters per row, in gradfit._layout's order) with one bound for all
    rows: each layer's largest column sum and |bias| over the rows, the
    pre-activation bound widened by 1e-9 so that it proves no row the
    per-row bound would not."""
    if loss not in _FINITE_WHEN:
        return False

    def layers():
        off, K = 0, len(stack)
        for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
            W = np.abs(stack[:, off:off + fan_in * fan_out]).reshape(K, fan_in, fan_out)
            off += fan_in * fan_out
            b = np.abs(stack[:, off:off + fan_out])
            off += fan_out
            yield float(W.sum(axis=1, dtype=np.float64).max(initial=0.0)), float(b.max(initial=0.0))

    with np.errstate(over="ignore", invalid="ignore"):
        return _bounds_finite(layers(), activations, loss, float(np.finfo(stack.dtype).max), x_max, y_max,
                              widen=1 + 1e-9)


def _bounds_finite(layers, activations, loss, f, x_max, y_max, widen=1.0):
    """The bound walk of loss_surely_finite, given each layer's (largest
    column sum of |W|, largest |bias|) and f, the dtype's largest value."""
    bound = largest = float(x_max)
    for (column_sum, bias), act in zip(layers, activations):
        z = (bound * column_sum + bias) * widen
        bound = float(_ACTIVATION_BOUNDS[act](z))
        largest = max(largest, z, bound)
    return bool(np.isfinite(largest) and largest < f * 1e-12 and _FINITE_WHEN[loss](f, bound, float(y_max)))


#: Up to this many values, a layer's bound is taken in Python floats: fewer steps than NumPy's calls.
_SMALL_LAYER = 64


def _largest_column_sum(W):
    """max_j sum_i |W_ij| in float64 (0 for no columns; NaN if any is NaN);
    an overflow gives inf. Under 8 rows, NumPy's sum over axis 0 adds the
    rows in order (from 8 on, pairwise), so Python's sum in order gives the
    same bits."""
    if W.size <= _SMALL_LAYER and W.shape[0] < 8:
        return _max_or_nan([sum(abs(v) for v in column) for column in zip(*W.tolist())])
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.abs(W).sum(axis=0, dtype=np.float64).max(initial=0.0))


def _largest_abs(b):
    """max |b_j| (0 for an empty b; NaN if any is NaN)."""
    if b.size <= _SMALL_LAYER:
        return _max_or_nan([abs(v) for v in b.tolist()])
    return float(np.abs(b).max(initial=0.0))


def _max_or_nan(values):
    """NumPy's max(initial=0.0) of values >= 0 or NaN: NaN wins, wherever it is."""
    top = max(values, default=0.0)
    return top if top == top and all(v == v for v in values) else float("nan")
