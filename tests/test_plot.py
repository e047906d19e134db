"""gradfit.plot: each figure is made, returned and never shown; `gradfit demo
--plots DIR` writes them as real images; `import gradfit` does not import
matplotlib."""
import os
import subprocess
import sys

import numpy as np
import pytest

import gradfit as gf

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

DEMO_PNGS = ("loss_surface.png", "gd_1d.png", "hidden_units.png", "fit_curve.png", "loss_curve.png")


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(gf.__file__)), os.environ.get("PYTHONPATH", "")]))


def test_import_gradfit_does_not_import_matplotlib():
    code = "import sys, gradfit; gradfit.plot; assert 'matplotlib' not in sys.modules, 'imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0, out.stderr


def _check_image(path):
    import matplotlib.image
    assert os.path.getsize(path) > 2000, path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] >= 200 and image.shape[1] >= 300, (path, image.shape)
    colours = np.unique(image[..., :3].reshape(-1, 3), axis=0)
    assert len(colours) > 5, (path, len(colours))
    return image


@pytest.mark.slow
def test_demo_writes_the_figures(tmp_path):
    out = subprocess.run([sys.executable, "-m", "gradfit", "demo", "--plots", str(tmp_path / "img")],
                         capture_output=True, text=True, env=_env(), timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"Figures written to {tmp_path / 'img'}" in out.stdout
    for name in DEMO_PNGS:
        assert name in out.stdout
        _check_image(tmp_path / "img" / name)


def test_every_function_returns_a_figure_and_never_shows(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show() was called"))
    from gradfit import datasets, plot
    X, y = datasets.bump(50)
    net = gf.MLP([1, 2, 1], activation="softplus", seed=2)
    r = gf.train(net, X, y, lr=0.01, batch_size=1, epochs=20, seed=0, validation_fraction=0.2)
    Xl, yl = datasets.line(20, x_range=(0, 2))
    figures = {
        "loss": plot.loss_curve(r, log=True),
        "fit": plot.fit_curve(net, X, y),
        "surface": plot.loss_surface(Xl, yl, lr=0.1, steps=10, batch_size=4),
        "gd": plot.gd_1d(),
        "units": plot.hidden_units(net, X, y),
    }
    for name, fig in figures.items():
        assert isinstance(fig, Figure), name
        path = tmp_path / f"{name}.png"
        plot.save(fig, path, colors=64 if name == "units" else None)
        _check_image(path)
    # the loss curve has the training and the validation line, on a log axis
    ax = figures["loss"].axes[0]
    assert [l.get_label() for l in ax.get_lines()] == ["training loss", "validation loss"]
    assert ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), r.history["val_loss"])
    # hidden units: one line per unit, and the sum + b2 is the model's output
    left, right = figures["units"].axes
    assert len(left.get_lines()) == 2 + 1                       # two units and the zero line
    grid = right.get_lines()[0].get_xdata().reshape(-1, 1)
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(), net.predict(grid)[:, 0], rtol=1e-9, atol=1e-12)
    parts = sum(l.get_ydata() for l in left.get_lines()[:2]) + net.biases[1][0]
    np.testing.assert_allclose(parts, net.predict(grid)[:, 0], rtol=1e-9, atol=1e-12)


def test_descent_paths_follow_the_c_gradients():
    from gradfit import datasets, plot
    X, y = datasets.line(20, x_range=(0, 2))
    path = plot.descent_path(X, y, lr=0.1, steps=3, start=(2.0, 0.0))
    model = gf.MLP([1, 1], weights=[[[2.0]]], biases=[[0.0]])
    for k in range(3):
        np.testing.assert_array_equal(path[k], model.params)
        model.params = model.params - 0.1 * model.loss_and_grad(X, y)[1]
    np.testing.assert_array_equal(path[3], model.params)
    sgd = plot.descent_path(X, y, lr=0.1, steps=10, batch_size=4, start=(2.0, 0.0))
    assert sgd.shape == (11, 2) and not np.array_equal(sgd, plot.descent_path(X, y, 0.1, 10, start=(2.0, 0.0)))


def test_bad_models_are_refused():
    from gradfit import plot
    with pytest.raises(ValueError, match="^model: "):
        plot.hidden_units(gf.MLP([2, 3, 1]))
    with pytest.raises(ValueError, match="^model: "):
        plot.fit_curve(gf.MLP([2, 1]), np.ones((3, 2)), np.ones(3))
    with pytest.raises(TypeError, match="^history: "):
        plot.loss_curve([1, 2, 3])


def test_the_readme_shows_the_committed_figures():
    """The README's two figures are in docs/img, small, real images, made by
    `gradfit demo --plots docs/img`."""
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1]
    if not (root / "docs" / "img").is_dir():
        pytest.skip("not run from a source tree with docs/img")
    readme = (root / "README.md").read_text()
    for name in ("loss_surface.png", "hidden_units.png"):
        assert f"(docs/img/{name})" in readme
        path = root / "docs" / "img" / name
        assert path.stat().st_size < 60_000
        _check_image(path)


def test_the_tutorial_page_explains_the_tutorials_step():
    """docs/tutorial.md runs explain_step on the tutorial's 1-2-1 net when the
    manual is built (the gf-run directive): the call is there, with its numbers."""
    import pathlib
    page = pathlib.Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
    if not page.is_file():
        pytest.skip("no docs/ next to tests/")
    text = page.read_text()
    assert "gf.explain_step(net, [[0.5]], [1.0], lr=0.1)" in text
    assert "weights=[[[1.0, -2.0]], [[0.5], [1.5]]]" in text and "biases=[[0.1, -0.3], [0.2]]" in text