"""Property tests (hypothesis): random architectures, activations, losses,
optimizers, dtypes, batch sizes and input layouts. The C path equals the NumPy
reference, never crashes, and never turns finite data into NaN at a sane
learning rate.

CI runs a few hundred examples; for a long local run:

    GRADFIT_HYPOTHESIS_EXAMPLES=10000 python -m pytest tests/test_properties.py -q
"""
import os
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import gradfit as gf  # noqa: E402
from gradfit import _names as gf_names  # noqa: E402

EXAMPLES = int(os.environ.get("GRADFIT_HYPOTHESIS_EXAMPLES", "150"))
ACTIVATIONS = list(gf_names.ACTIVATIONS)          # every activation the C core and _math define
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw):
    n_layers = draw(st.integers(1, 4))
    sizes = [draw(st.integers(1, 64)) for _ in range(n_layers + 1)]
    loss = draw(st.sampled_from(["mse", "sse", "mae", "huber", "cross_entropy", "binary_cross_entropy", "poisson"]))
    if loss == "cross_entropy":
        sizes[-1] = max(2, sizes[-1])
    if loss == "binary_cross_entropy" and draw(st.booleans()):
        sizes[-1] = 1                         # else several outputs: multilabel
    n = draw(st.integers(1, 300))
    batch = draw(st.one_of(st.none(), st.integers(1, n + 5)))
    return dict(
        sizes=sizes, activation=draw(st.sampled_from(ACTIVATIONS)), loss=loss, n=n, batch=batch,
        dtype=draw(st.sampled_from(["float32", "float64"])),
        optimizer=draw(st.sampled_from(["sgd", "momentum", "nesterov", "adam", "adamw"])),
        layout=draw(st.sampled_from(["c", "fortran", "strided", "readonly", "offset", "memmap"])),
        l2=draw(st.sampled_from([0.0, 1e-3])), weighted=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31 - 1)))


def _optimizer(name, scale):
    """A sane learning rate: `scale` shrinks it for wide layers (the
    gradient's size grows with the fan-in) and for "sse" (with the outputs and
    rows of a batch); momentum 0.9 multiplies the step by up to 10."""
    return {"sgd": gf.SGD(lr=0.05 * scale), "momentum": gf.SGD(lr=0.005 * scale, momentum=0.9),
            "nesterov": gf.SGD(lr=0.005 * scale, momentum=0.9, nesterov=True), "adam": gf.Adam(lr=1e-3),
            "adamw": gf.AdamW(lr=1e-3, weight_decay=0.01)}[name]


def _layout(a, layout, tmpdir):
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "strided":
        wide = np.repeat(a, 2, axis=0)
        return wide[::2]
    if layout == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    if layout == "offset":
        buf = bytearray(a.nbytes + 1)
        b = np.frombuffer(buf, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
        b[...] = a
        return b
    if layout == "memmap":
        path = os.path.join(tmpdir, f"x{a.ndim}.dat")
        mm = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
        mm[...] = a
        return mm
    return a


@SETTINGS
@given(problems())
def test_c_path_equals_the_reference_and_stays_finite(p):
    rng = np.random.default_rng(p["seed"])
    X = rng.normal(size=(p["n"], p["sizes"][0]))
    k = p["sizes"][-1]
    if p["loss"] == "cross_entropy" and p["seed"] % 2:
        y = rng.integers(0, k, size=p["n"])
    elif p["loss"] == "cross_entropy":         # probability rows scaled: sums other than 1 (the loss's sum(t))
        y = rng.dirichlet(np.ones(k), p["n"]) * rng.uniform(0.5, 2.0, (p["n"], 1))
    elif p["loss"] == "binary_cross_entropy":
        y = rng.integers(0, 2, size=(p["n"], k)).astype(float)
    elif p["loss"] == "poisson":
        y = rng.poisson(1.5, size=(p["n"], k)).astype(float)
    else:
        y = rng.normal(size=(p["n"], k))
    sw = rng.uniform(0.1, 2.0, size=p["n"]) if p["weighted"] else None
    rows = p["n"] if p["batch"] is None else min(p["batch"], p["n"])
    scale = 1.0 / max(p["sizes"])
    if p["loss"] == "sse":
        scale /= k * rows * (2.0 if p["weighted"] else 1.0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        Xl = _layout(X.astype(p["dtype"]), p["layout"], tmp)
        for backend in ("c", "numpy"):
            m = gf.MLP(p["sizes"], activation=p["activation"], dtype=p["dtype"], seed=p["seed"] % 1000)
            r = gf.train(m, Xl, y, loss=p["loss"], optimizer=_optimizer(p["optimizer"], scale), batch_size=p["batch"],
                         epochs=3, seed=1, l2=p["l2"], sample_weight=sw, backend=backend)
            results[backend] = (m.params.astype(np.float64), r)
        del Xl
    (pc, rc), (pn, rn) = results["c"], results["numpy"]
    assert rc.stop_reason == rn.stop_reason == "epochs"
    assert np.isfinite(pc).all() and np.isfinite(rc.final_loss)
    # float32: rounding differences (FMA, summation order) grow over the steps
    tol = 1e-9 if p["dtype"] == "float64" else 1e-2
    scale = max(1.0, float(np.abs(pn).max()))
    assert float(np.abs(pc - pn).max()) <= tol * scale
    np.testing.assert_allclose(rc.history["loss"], rn.history["loss"], rtol=tol, atol=tol)
