"""gradfit.datasets: the tutorial's data, seeded toy sets, CSV and .npy input
with errors that name the file and what is wrong."""
import numpy as np
import pytest

import gradfit as gf
from gradfit import datasets


def test_the_tutorials_data():
    X, y = datasets.line()
    assert X.shape == (50, 1) and y.shape == (50,)
    assert X[0, 0] == 0 and X[-1, 0] == 10
    assert np.abs(y - (-X[:, 0] + 5)).max() < 0.4
    np.testing.assert_array_equal(datasets.line(noise=0)[1], -X[:, 0] + 5)
    X, y = datasets.dose_response()
    np.testing.assert_array_equal(X[:, 0], [0, 0.5, 1])
    np.testing.assert_array_equal(y, [0, 1, 0])
    X, y = datasets.bump()
    assert X.shape == (200, 1) and y.max() == pytest.approx(1, abs=1e-3) and y[0] < 1e-4
    X, y = datasets.sine(n=101)
    assert y[25] == pytest.approx(1, abs=1e-3) and y[75] == pytest.approx(-1, abs=1e-3)


def test_classification_sets_are_seeded_and_balanced():
    X, y = datasets.xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    for make in (datasets.moons, datasets.spirals):
        X, y = make(n=101, seed=3)
        assert X.shape == (101, 2) and y.dtype.kind == "i"
        assert set(np.unique(y)) == {0, 1} and abs(int(np.sum(y == 0)) - int(np.sum(y == 1))) <= 1
        X2, y2 = make(n=101, seed=3)
        np.testing.assert_array_equal(X, X2)
        assert not np.array_equal(X, make(n=101, seed=4)[0])
    X, y = datasets.spirals(n=300, classes=3)
    assert set(np.unique(y)) == {0, 1, 2}


def test_a_net_learns_xor_from_the_data_set():
    X, y = datasets.xor()
    model = gf.MLP([2, 4, 1], activation="tanh", seed=0)
    gf.train(model, X, y, loss="binary_cross_entropy", optimizer="adam", lr=0.05, batch_size=4, epochs=500,
             seed=0)
    np.testing.assert_array_equal(model.predict_class(X), y)


def test_load_csv_with_a_header_and_a_target(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x1,x2,y\n1,2,3\n4,5.5,-6e-1\n\n")
    X, y = datasets.load_csv(path, target="y")
    np.testing.assert_array_equal(X, [[1, 2], [4, 5.5]])
    np.testing.assert_array_equal(y, [3, -0.6])
    X, y = datasets.load_csv(path, target=0)
    np.testing.assert_array_equal(y, [1, 4])
    X, y = datasets.load_csv(path)
    assert X.shape == (2, 3) and y is None


def test_load_csv_without_a_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2\n3,4\n")
    X, y = datasets.load_csv(path, target=-1)
    np.testing.assert_array_equal(X, [[1], [3]])
    np.testing.assert_array_equal(y, [2, 4])


def test_load_npy(tmp_path):
    path = tmp_path / "d.npy"
    a = np.arange(12.0).reshape(4, 3)
    np.save(path, a)
    X, y = datasets.load(path, target=-1)
    np.testing.assert_array_equal(X, a[:, :2])
    np.testing.assert_array_equal(y, a[:, 2])
    np.save(path, np.arange(3.0))
    with pytest.raises(ValueError, match=r"^path: .*d\.npy: expected a 2-D array"):
        datasets.load_npy(path)
    bad = tmp_path / "bad.npy"
    bad.write_text("not numpy")
    with pytest.raises(ValueError, match=r"^path: .*bad\.npy is not a readable \.npy file"):
        datasets.load(bad)


@pytest.mark.parametrize("text, target, message", [
    ("x,y\n1,2\n3\n", "y", r"d\.csv line 3: expected 2 cells \(as in the first row\), got 1"),
    ("x,y\n1,2\n3,abc\n", "y", r"d\.csv line 3, column 'y': expected a finite number, got 'abc'"),
    ("x,y\n1,2\n3,\n", "y", r"d\.csv line 3, column 'y': expected a finite number, got ''"),
    ("x,y\n1,nan\n", "y", r"d\.csv line 2, column 'y': expected a finite number, got 'nan'"),
    ("x,y\n1,2\n", "z", r"^target: .*d\.csv has no column 'z' \(its columns: x, y\)"),
    ("x,y\n", "y", r"d\.csv has a header \(x, y\) but no rows of data"),
    ("", "y", r"d\.csv is empty"),
    ("y\n1\n", "y", r"d\.csv has only the target column 'y', no features"),
])
def test_bad_csv_files_name_the_file_and_the_fault(tmp_path, text, target, message):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        datasets.load_csv(path, target=target)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^path: .*nothing\.csv: no such file"):
        datasets.load_csv(tmp_path / "nothing.csv")
    path = tmp_path / "b.csv"
    path.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ValueError, match=r"^path: .*b\.csv is not a text CSV file"):
        datasets.load_csv(path)


def test_bad_generator_arguments():
    with pytest.raises(ValueError, match="^noise: "):
        datasets.moons(noise=-1)
    with pytest.raises((ValueError, TypeError), match="^n: "):
        datasets.line(n=1)
