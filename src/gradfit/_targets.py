"""Targets by loss (class ids to one-hot rows, checks of ranges), sample
weights, and the seeded validation split (stratified for classification)."""
import numpy as np

from ._validate import as_float_array, check_finite, check_y

CLASSIFICATION = ("cross_entropy", "binary_cross_entropy")


def check_loss_fits_model(loss, model):
    """Cross-entropy losses take logits and poisson the log of the mean: the
    output layer must be identity. binary_cross_entropy takes one logit per
    output (several outputs: multilabel, one independent label each)."""
    if loss in CLASSIFICATION and model.activations[-1] != "identity":
        raise ValueError(
            f"loss: {loss!r} takes logits (the softmax / sigmoid is part of the loss), so the model's "
            f"output_activation must be 'identity', got {model.activations[-1]!r}")
    if loss == "poisson" and model.activations[-1] != "identity":
        raise ValueError(
            f"loss: 'poisson' takes the log of the mean (the exp is part of the loss), so the model's "
            f"output_activation must be 'identity', got {model.activations[-1]!r}")
    if loss == "cross_entropy" and model.n_outputs < 2:
        raise ValueError("loss: 'cross_entropy' needs a model with one output per class (at least 2), got 1 "
                         "output (use 'binary_cross_entropy' for two classes with one output)")


def check_targets(y, n_samples, model, loss, argument="y") -> np.ndarray:
    """y as the (N, n_outputs) array of the model's dtype that the C core
    takes. For cross_entropy, int class ids (N,) become one-hot rows; rows
    of probabilities (N, K) are taken as they are (non-negative). For
    binary_cross_entropy, y holds 0/1 labels or probabilities in [0, 1]; for
    poisson, values >= 0."""
    dtype, n_out = model.dtype, model.n_outputs
    if loss == "cross_entropy":
        a = np.asarray(y) if not hasattr(y, "columns") else None
        if a is not None and a.ndim == 1:
            return one_hot(a, n_samples, n_out, dtype, argument)
        t = check_y(y, n_samples, n_out, dtype, argument)
        if (t < 0).any():
            raise ValueError(f"{argument}: expected one-hot or probability rows (values >= 0), "
                             f"got a minimum of {t.min():g}")
        return t
    t = check_y(y, n_samples, n_out, dtype, argument)
    if loss == "binary_cross_entropy" and ((t < 0) | (t > 1)).any():
        bad = t[(t < 0) | (t > 1)][0]
        raise ValueError(f"{argument}: expected labels 0/1 or probabilities in [0, 1] for "
                         f"binary_cross_entropy, got {bad:g}")
    if loss == "poisson" and (t < 0).any():
        raise ValueError(f"{argument}: expected counts or rates >= 0 for the poisson loss, got a "
                         f"minimum of {t.min():g}")
    return t


def class_ids(y, argument="y"):
    """Integer class ids from an int array (or integer-valued floats)."""
    a = np.asarray(y)
    if a.dtype.kind in "iub":
        return a.astype(np.int64)
    if a.dtype.kind == "f":
        check_finite(a, argument)
        if np.array_equal(a, np.round(a)):
            return a.astype(np.int64)
    raise ValueError(f"{argument}: expected integer class ids, got values of dtype {a.dtype} "
                     f"such as {a.flat[0]!r}" if a.size else f"{argument}: expected class ids, got none")


def one_hot(y, n_samples, n_classes, dtype, argument="y"):
    a = np.asarray(y)
    if a.dtype.kind in "iuf" and a.size:
        # the range is checked on the values given, before any cast to int64:
        # uint64 2**64-1 or 1e20 are reported as themselves
        with np.errstate(invalid="ignore"):
            out_of_range = ((a < 0) | (a >= n_classes)) & (np.isfinite(a) if a.dtype.kind == "f" else True)
        if out_of_range.any():
            bad = a[out_of_range].flat[0]
            if a.dtype.kind != "f" or bad == np.round(bad):
                raise ValueError(f"{argument}: expected class ids in [0, {n_classes}) (one per model output), "
                                 f"got {bad.item()!r}")
    ids = class_ids(y, argument)
    if ids.shape != (n_samples,):
        raise ValueError(f"{argument}: expected {n_samples} class ids to match X, got shape {ids.shape}")
    out = np.zeros((n_samples, n_classes), dtype=dtype)
    out[np.arange(n_samples), ids] = 1
    return out


def check_sample_weight(sample_weight, n_samples, dtype, argument="sample_weight", loss=None):
    """None, or (N,) finite non-negative weights, not all zero, in `dtype`.

    Every loss but "sse" is a weighted mean, which the weights' scale does not
    change: for those the weights are scaled, in float64 before anything else,
    by the power of two that brings the largest into [0.5, 1), so that weights
    of 1e-320 or 1e308 train as weights of 1 do (no underflow or overflow of
    the sums, in either dtype). A power of two scales exactly: ordinary weights
    give the same bits as before scaling. "sse", a weighted sum, keeps the
    weights as given."""
    if sample_weight is None:
        return None
    w = as_float_array(sample_weight, argument, np.float64)
    if w.ndim == 2 and w.shape[1] == 1:
        w = w.reshape(-1)
    if w.shape != (n_samples,):
        raise ValueError(f"{argument}: expected shape ({n_samples},) to match X, got shape {w.shape}")
    check_finite(w, argument)
    if (w < 0).any():
        raise ValueError(f"{argument}: expected weights >= 0, got {w.min():g}")
    if not (w > 0).any():
        raise ValueError(f"{argument}: expected at least one weight > 0, got all zeros")
    return as_float_array(normalized_weights(w, loss), argument, dtype)


def normalized_weights(w, loss, largest=None):
    """float64 weights w times the power of two that brings `largest`
    (default: their largest) into [0.5, 1), exactly; unchanged for "sse" (a
    weighted sum, whose value the scale changes) or when largest is 0."""
    largest = float(np.max(w)) if largest is None else largest
    if loss == "sse" or not largest > 0:
        return w
    return np.ldexp(w, -np.frexp(largest)[1])


def labels_of(t, loss):
    """Class labels of target rows, for stratifying and accuracy (None for
    regression, and for multilabel rows: binary_cross_entropy with several
    outputs, which are not stratified)."""
    if loss == "cross_entropy":
        return np.argmax(t, axis=1)
    if loss == "binary_cross_entropy" and t.shape[1] == 1:
        return (t[:, 0] >= 0.5).astype(np.int64)
    return None


def label_hits(pred, t, loss):
    """1.0 where a row's predicted class is right, else 0.0 (n,): the class of
    the largest output (cross_entropy), or output > 0 per label
    (binary_cross_entropy; with several outputs a row counts only when every
    label is right: subset accuracy)."""
    if loss == "cross_entropy":
        return (np.argmax(pred, axis=1) == np.argmax(t, axis=1)).astype(np.float64)
    return ((pred > 0) == (t >= 0.5)).all(axis=1).astype(np.float64)


def validation_split(n_samples, fraction, rng, labels=None):
    """(train_rows, validation_rows): a seeded split holding out `fraction`
    of the rows, per class when labels are given (stratified). Both parts
    keep the original order of rows."""
    if labels is None:
        groups = [np.arange(n_samples)]
    else:
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    held = []
    for rows in groups:
        k = int(round(fraction * rows.size))
        if k:
            held.append(rng.permutation(rows)[:k])
    val = np.sort(np.concatenate(held)) if held else np.empty(0, dtype=np.int64)
    if val.size == 0:
        raise ValueError(f"validation_fraction: {fraction:g} of {n_samples} samples leaves no validation "
                         f"sample; use a larger fraction or pass validation_data")
    if val.size >= n_samples:
        raise ValueError(f"validation_fraction: {fraction:g} of {n_samples} samples leaves no training sample")
    mask = np.ones(n_samples, dtype=bool)
    mask[val] = False
    return np.flatnonzero(mask), val
