"""PyTorch and ONNX interop: to_torch / from_torch / to_onnx agree with gradfit's
own forward pass (1e-6 relative in float32, 1e-12 in float64). Each test is
skipped, with the reason, when its optional package is missing."""
import importlib.util
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import gradfit as gf

ACTS = ["identity", "relu", "sigmoid", "tanh", "softplus"]
TOL = {"float32": 1e-6, "float64": 1e-12}


def needs(module):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{module} is not installed (pip install {module})")


def close(a, b, dtype):
    """max |a - b| <= tol * max(1, max |b|): the max-norm relative error (one
    output near 0 may hold the rounding error of the large terms that cancelled
    in it, so an elementwise relative bound would measure cancellation)."""
    tol = TOL[dtype]
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    err = np.abs(a - b).max() / max(1.0, np.abs(b).max())
    assert err <= tol, f"max-norm relative error {err:.3g} (tolerance {tol:g})"


def net(dtype, hidden_act, output_act="identity", seed=0):
    """A 5-8-6-3 net. In float64 its weights are scaled up so that the
    activations see |z| up to ~100 (both tails of sigmoid and softplus, and
    softplus beyond torch's threshold) and still agree to 1e-12. In float32,
    rounding differences in sums of such large terms would exceed 1e-6 of
    the (smaller) result, so the float32 net keeps its Glorot weights."""
    m = gf.MLP([5, 8, 6, 3], activation=hidden_act, output_activation=output_act, dtype=dtype, seed=seed)
    if dtype == "float64":
        m.params[...] = m.params * 4
    return m


def data(dtype, n=200):
    scale = 6 if dtype == "float64" else 2
    return (np.random.default_rng(1).normal(size=(n, 5)) * scale).astype(dtype)


def test_import_gradfit_imports_neither_torch_nor_onnx():
    code = "import sys, gradfit; print(any(m in sys.modules for m in ('torch', 'onnx', 'onnxruntime')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ))
    assert out.stdout.strip() == "False"


# -- PyTorch --------------------------------------------------------------------------

@needs("torch")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ACTS)
def test_to_torch_predicts_what_gradfit_predicts(dtype, act):
    import torch
    m = net(dtype, act, "sigmoid" if act == "tanh" else "identity")
    seq = m.to_torch()
    assert isinstance(seq, torch.nn.Sequential)
    X = data(dtype)
    with torch.no_grad():
        out = seq(torch.from_numpy(X)).numpy()
    assert out.dtype == m.dtype
    close(out, m.predict(X), dtype)


@needs("torch")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_torch_then_from_torch_gives_the_same_model(dtype):
    m = gf.MLP([4, 7, 5, 2], activation=["softplus", "relu"], output_activation="tanh", dtype=dtype, seed=3)
    back = gf.MLP.from_torch(m.to_torch())
    assert back.layer_sizes == m.layer_sizes and back.activations == m.activations and back.dtype == m.dtype
    assert np.array_equal(back.params, m.params)


@needs("torch")
def test_to_torch_copies_the_weights():
    m = gf.MLP([2, 3, 1], seed=0)
    seq = m.to_torch()
    before = m.params.copy()
    import torch
    with torch.no_grad():
        seq[0].weight.add_(1.0)
    assert np.array_equal(m.params, before)


@needs("torch")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_from_torch_reads_a_network_built_in_torch(dtype):
    import torch
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(5, 9, dtype=tdtype), torch.nn.Tanh(), torch.nn.Identity(),
                              torch.nn.Linear(9, 4, dtype=tdtype), torch.nn.Softplus(threshold=40),
                              torch.nn.Linear(4, 2, bias=False, dtype=tdtype))
    m = gf.MLP.from_torch(seq)
    assert m.layer_sizes == (5, 9, 4, 2) and m.activations == ("tanh", "softplus", "identity")
    assert np.array_equal(m.biases[2], np.zeros(2))
    X = data(dtype)
    with torch.no_grad():
        close(m.predict(X), seq(torch.from_numpy(X)).numpy(), dtype)


@needs("torch")
def test_from_torch_refuses_what_gradfit_cannot_represent():
    import torch
    nn = torch.nn
    cases = [
        (nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 1)), "module[1] (GELU) has no gradfit equivalent"),
        (nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.1), nn.Linear(4, 1)), "module[1] (Dropout)"),
        (nn.Sequential(nn.ReLU(), nn.Linear(3, 1)), "expected a Linear layer first"),
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Tanh(), nn.Linear(4, 1)), "one activation per layer"),
        (nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 1)), "Linear layer 1 takes 5 inputs"),
        (nn.Sequential(nn.Linear(3, 4), nn.Softplus(beta=2), nn.Linear(4, 1)), "Softplus(beta=1"),
        (nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1, dtype=torch.float64)), "all in float64"),
        (nn.Sequential(nn.Linear(3, 4, dtype=torch.float16)), "float32 or all in float64"),
        (nn.Sequential(), "at least one Linear"),
        (nn.Sequential(nn.Sequential(nn.Linear(3, 1))), "module[0] (Sequential)"),
    ]
    for seq, fragment in cases:
        with pytest.raises(ValueError, match="^module: ") as info:
            gf.MLP.from_torch(seq)
        assert fragment in str(info.value), str(info.value)
    with pytest.raises(TypeError, match="module: expected a torch.nn.Sequential, got Linear"):
        gf.MLP.from_torch(nn.Linear(3, 1))
    bad = nn.Sequential(nn.Linear(3, 1))
    with torch.no_grad():
        bad[0].weight[0, 1] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        gf.MLP.from_torch(bad)


# -- ONNX -----------------------------------------------------------------------------

@needs("onnx")
@needs("onnxruntime")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ACTS)
def test_onnxruntime_predicts_what_gradfit_predicts(tmp_path, dtype, act):
    import onnx
    import onnxruntime as ort
    m = net(dtype, act, "sigmoid" if act == "relu" else "identity")
    path = str(tmp_path / "model.onnx")
    m.to_onnx(path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    ops = {n.op_type for n in proto.graph.node}
    assert "Gemm" in ops
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    X = data(dtype)
    (out,) = session.run(["Y"], {"X": X})
    assert out.dtype == m.dtype and out.shape == (X.shape[0], 3)
    close(out, m.predict(X), dtype)
    (one,) = session.run(["Y"], {"X": X[:1]})            # the batch dimension is symbolic
    close(one, m.predict(X[:1]), dtype)


@needs("onnx")
def test_to_onnx_graph_structure_and_bad_arguments(tmp_path):
    import onnx
    m = gf.MLP([3, 4, 2], activation="tanh", dtype="float32", seed=0)
    path = str(tmp_path / "m.onnx")
    m.to_onnx(path)
    g = onnx.load(path).graph
    assert [n.op_type for n in g.node] == ["Gemm", "Tanh", "Gemm"]
    assert [i.name for i in g.input] == ["X"] and [o.name for o in g.output] == ["Y"]
    assert os.listdir(tmp_path) == ["m.onnx"]
    with pytest.raises(ValueError, match="opset: expected an integer >= 13"):
        m.to_onnx(path, opset=7)
