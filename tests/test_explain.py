"""gf.explain_step: its gradients are the C core's, its chain-rule factors
multiply to them, and its text names each factor with its value."""
import re

import numpy as np
import pytest

import gradfit as gf
from gradfit.explain import DETAIL_LIMIT

STEP_NET = dict(weights=[[[1.0, -2.0]], [[0.5], [1.5]]], biases=[[0.1, -0.3], [0.2]])


def softplus(z):
    return np.log1p(np.exp(z))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def net_121():
    return gf.MLP([1, 2, 1], activation="softplus", **STEP_NET)


def net_232():
    return gf.MLP([2, 3, 2], activation="tanh", seed=1)


def data_232(n=5):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 2)), rng.normal(size=(n, 2))


@pytest.mark.parametrize("make, data", [
    (net_121, lambda: (np.array([[0.5]]), np.array([1.0]))),
    (net_121, lambda: (np.array([[0.0], [0.5], [1.0]]), np.array([0.0, 1.0, 0.0]))),
    (net_232, data_232),
])
def test_gradients_are_the_c_cores_and_the_factors_multiply_to_them(make, data):
    model, (X, y) = make(), data()
    before = model.params.copy()
    e = gf.explain_step(model, X, y, lr=0.1)
    loss, grad = model.loss_and_grad(X, y)
    assert e.loss == loss
    np.testing.assert_array_equal(e.gradient, grad)
    assert len(e.parameters) == model.n_params
    for p in e.parameters:
        assert p.gradient == grad[p.index]
        assert abs(p.chain_gradient - grad[p.index]) <= 1e-12, p
        assert p.step == 0.1 * grad[p.index] and p.new_value == before[p.index] - p.step
    np.testing.assert_array_equal(model.params, before)           # the model is unchanged
    after = model.copy()
    after.params = before - 0.1 * grad
    assert e.new_loss == after.loss(X, y) and e.new_loss < e.loss


@pytest.mark.parametrize("loss", ["sse", "mae", "huber", "binary_cross_entropy"])
def test_factors_multiply_to_the_gradient_for_other_losses(loss):
    model = net_121()
    X, y = np.array([[0.0], [0.5], [1.0]]), np.array([0.0, 1.0, 0.0])
    e = gf.explain_step(model, X, y, lr=0.05, loss=loss)
    _, grad = model.loss_and_grad(X, y, loss=loss)
    for p in e.parameters:
        assert abs(p.chain_gradient - grad[p.index]) <= 1e-12, (loss, p)


def test_cross_entropy_on_a_232_net():
    model = gf.MLP([2, 3, 2], activation="sigmoid", seed=4)
    X, _ = data_232(6)
    y = np.array([0, 1, 1, 0, 1, 0])
    e = gf.explain_step(model, X, y, lr=0.5, loss="cross_entropy")
    _, grad = model.loss_and_grad(X, y, loss="cross_entropy")
    for p in e.parameters:
        assert abs(p.chain_gradient - grad[p.index]) <= 1e-12, p


def _chains(text):
    """{parameter: [(factor name, value shown), ...], ...} read from the text."""
    lines = text.splitlines()
    out = {}
    for k, line in enumerate(lines):
        m = re.match(r"\s+dL/d(\S+) = (.+)$", line)
        if m and "·" in m.group(2):
            names = m.group(2).split(" · ")
            values = [float(v) for v in re.findall(r"\(([^)]+)\)", lines[k + 1])]
            out[m.group(1)] = list(zip(names, values))
    return out


def test_the_text_names_each_factor_with_its_value():
    model = net_121()
    x, y = 0.5, 1.0
    e = gf.explain_step(model, [[x]], [y], lr=0.1)
    text = str(e)
    (w11, w12), (b11, b12) = STEP_NET["weights"][0][0], STEP_NET["biases"][0]
    (w21,), (w22,) = STEP_NET["weights"][1]
    b2 = STEP_NET["biases"][1][0]
    z1, z2 = w11 * x + b11, w12 * x + b12
    a1, a2 = softplus(z1), softplus(z2)
    pred = w21 * a1 + w22 * a2 + b2
    dL = 2 * (pred - y)
    expected = {
        "w₁₁": [("dL/dŷ", dL), ("dŷ/da₁", w21), ("da₁/dz₁", sigmoid(z1)), ("dz₁/dw₁₁", x)],
        "w₁₂": [("dL/dŷ", dL), ("dŷ/da₂", w22), ("da₂/dz₂", sigmoid(z2)), ("dz₂/dw₁₂", x)],
        "b₁₁": [("dL/dŷ", dL), ("dŷ/da₁", w21), ("da₁/dz₁", sigmoid(z1)), ("dz₁/db₁₁", 1.0)],
        "b₁₂": [("dL/dŷ", dL), ("dŷ/da₂", w22), ("da₂/dz₂", sigmoid(z2)), ("dz₂/db₁₂", 1.0)],
        "w₂₁": [("dL/dŷ", dL), ("dŷ/dw₂₁", a1)],
        "w₂₂": [("dL/dŷ", dL), ("dŷ/dw₂₂", a2)],
        "b₂": [("dL/dŷ", dL), ("dŷ/db₂", 1.0)],
    }
    chains = _chains(text)
    assert set(chains) == set(expected)
    _, grad = model.loss_and_grad([[x]], [y])
    for k, (name, factors) in enumerate(expected.items()):
        shown = chains[name]
        assert [n for n, _ in shown] == [n for n, _ in factors], name
        for (n, v), (_, want) in zip(shown, factors):
            assert v == pytest.approx(want, rel=1e-5, abs=1e-12), (name, n)
        product = np.prod([v for _, v in factors])
        p = e.parameters[k]
        assert p.name == name and p.gradient == pytest.approx(product, rel=1e-12)
        # the gradient, the step and the new value are printed
        assert f"= {p.gradient:.6g}" in text
        assert f"step: lr × dL/d{name} = 0.1 × {p.gradient:.6g} = {p.step:.6g}" in text
        assert f"new {name} = {p.value:.6g} − ({p.step:.6g}) = {p.new_value:.6g}" in text
    assert f"z₁ = {z1:.6g} → a₁ = softplus(z₁) = {a1:.6g}" in text
    assert f"ŷ = {pred:.6g}" in text
    assert f"= {(pred - y) ** 2:.10g}" in text
    assert f"New loss (after the step): {e.new_loss:.10g}" in text


def test_hidden_units_of_a_wide_output_are_summed_with_a_note():
    model = net_232()
    X, y = data_232(1)
    text = str(gf.explain_step(model, X, y, lr=0.1))
    assert "dL/dw₁[1,1] = dL/da₁ · da₁/dz₁ · dz₁/dw₁[1,1]" in text
    assert "dL/da₁ = Σₖ dL/dŷₖ · dŷₖ/da₁" in text
    assert "dL/dw₂[3,2] = dL/dŷ₂ · dŷ₂/dw₂[3,2]" in text


def test_markdown_and_html_hold_the_same_numbers():
    e = gf.explain_step(net_121(), [[0.5]], [1.0], lr=0.1)
    md, page = e.to_markdown(), e._repr_html_()
    for p in e.parameters:
        assert f"| {p.name} | {p.value:.6g} |" in md
        assert f"<td>{p.name}</td>" in page and f"<td>{p.new_value:.6g}</td>" in page
    assert f"{e.new_loss:.10g}" in md and f"{e.new_loss:.10g}" in page


def test_big_nets_are_summarised_per_layer():
    model = gf.MLP([3, 16, 2], seed=0)
    assert model.n_params > DETAIL_LIMIT
    X = np.random.default_rng(0).normal(size=(8, 3))
    y = np.random.default_rng(1).normal(size=(8, 2))
    e = gf.explain_step(model, X, y, lr=0.01)
    _, grad = model.loss_and_grad(X, y)
    assert e.parameters == []
    text = str(e)
    assert "summarised" in text
    w0 = np.linalg.norm(grad[:48])
    assert e.layers[0]["weight_grad_norm"] == pytest.approx(w0, rel=1e-12)
    assert f"layer 0: |dL/dW| = {w0:.6g}" in text
    k = int(np.argmax(np.abs(grad[:64])))
    assert e.layers[0]["largest_step"] == 0.01 * grad[k]


def test_apply_makes_the_step_on_the_model():
    model = net_121()
    e = gf.explain_step(model, [[0.5]], [1.0], lr=0.1, apply=True)
    np.testing.assert_array_equal(model.params, e.new_params)
    assert model.loss([[0.5]], [1.0]) == e.new_loss


def test_bad_arguments_name_themselves():
    with pytest.raises(TypeError, match="^model: expected a gradfit.MLP"):
        gf.explain_step("net", [[0.5]], [1.0])
    with pytest.raises(ValueError, match="^lr: "):
        gf.explain_step(net_121(), [[0.5]], [1.0], lr=-1)
    with pytest.raises(ValueError, match="^loss: "):
        gf.explain_step(net_121(), [[0.5]], [1.0], loss="hinge")
    with pytest.raises(ValueError, match="^X: "):
        gf.explain_step(net_121(), [[0.5, 1.0]], [1.0])


def test_a_step_that_raises_the_loss_is_called_out_with_an_lr_that_would_not():
    """The arithmetic of a too-long step is right, but a teaching tool says
    plainly that it raised the loss, why, and a smaller lr that lowers it."""
    m = gf.MLP([1, 1], weights=[[[1.0]]], biases=[[0.0]])
    good = gf.explain_step(m, [[2.1]], [4.0], lr=0.01)
    assert good.verdict() == "The step lowered the loss (3.61 -> 2.87106)."
    bad = gf.explain_step(m, [[2.1]], [4.0], lr=0.5)
    assert bad.new_loss > bad.loss and bad.helpful_lr == 0.125
    text = str(bad)
    assert text.splitlines()[-1] == ("The step RAISED the loss (3.61 -> 70.2076): lr = 0.5 is too large at this "
                                     "point. The gradient points downhill, but a step this long overshoots along "
                                     "it; lr = 0.125 would lower it.")
    # the suggested lr really lowers it, and the one before it in the halving does not
    after = m.copy()
    after.params = m.params - 0.125 * bad.gradient
    assert after.loss([[2.1]], [4.0]) < 3.61
    after.params = m.params - 0.25 * bad.gradient
    assert after.loss([[2.1]], [4.0]) >= 3.61
    assert "RAISED" in bad.to_markdown() and "RAISED" in bad._repr_html_()
