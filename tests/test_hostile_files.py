"""Hostile files and failed saves (issue #23): crafted bit-generator states,
device files and FIFOs, symlinks, hard links, permissions, NaN at save time,
absurd class ids and .npy headers, and a save's destination checked before
training. Each case failed (a crash, a hang, a traceback, a late or wrong
error) before the fix it tests."""
import json
import re
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gradfit as gf
from gradfit import schedules

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
# modes, read-only directories, FIFOs and symlinks as POSIX has them (Windows: a
# read-only attribute only, and symlinks need a privilege)
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and links")
SRC = os.path.dirname(os.path.dirname(os.path.abspath(gf.__file__)))      # the child imports this gradfit


def regression_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2]


def members(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(arrays.pop("metadata").tobytes()), arrays


def write_npz(path, meta, arrays):
    """A file in gradfit's layout, written by numpy (not by gradfit)."""
    data = {"metadata": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays}
    with open(path, "wb") as f:
        np.savez(f, **data)


def refused_at_load(path, *fragments):
    with pytest.raises(ValueError) as info:
        gf.load_trainer(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def run_python(code, timeout=60, memory=1 << 30):
    """Runs `code` in a child Python with gradfit from src, its address space
    capped (a read without end fails there, not here) and a time limit (a
    blocking open of a FIFO)."""
    def limit():
        import resource
        if "libasan" not in os.environ.get("LD_PRELOAD", ""):     # ASan reserves terabytes of address space
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    env = dict(os.environ, PYTHONPATH=SRC)
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                              timeout=timeout, env=env, preexec_fn=limit if sys.platform != "win32" else None)
    except subprocess.TimeoutExpired:
        pytest.fail("the child process hung (a blocking open or a read without end)")


# -- finding 1: every bit-generator field in its range ----------------------------------

GENERATORS = ["PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937"]


def _trainer_file(tmp_path, bit_generator, name="t.npz"):
    X, y = regression_data()
    rng = np.random.Generator(getattr(np.random, bit_generator)(7))
    t = gf.Trainer(gf.MLP([3, 4, 1], seed=0), "sgd", lr=0.05, seed=rng, batch_size=16)
    t.fit(X, y, epochs=1)
    path = str(tmp_path / name)
    t.save(path)
    return t, path


@pytest.mark.parametrize("bit_generator", GENERATORS)
def test_a_good_trainer_file_of_each_generator_loads_and_resumes_bit_identical(tmp_path, bit_generator):
    X, y = regression_data()
    t, path = _trainer_file(tmp_path, bit_generator)
    loaded = gf.load_trainer(path)
    assert loaded.rng.bit_generator.state["bit_generator"] == bit_generator
    t.fit(X, y, epochs=2)
    loaded.fit(X, y, epochs=2)
    np.testing.assert_array_equal(t.model.params, loaded.model.params)


U64 = 1 << 64
# (generator, where in the rng object, key, bad value)
BAD_RNG_FIELDS = [
    ("MT19937", "state", "pos", 100000), ("MT19937", "state", "pos", 2_000_000_000),
    ("MT19937", "state", "pos", -2_000_000_000), ("MT19937", "state", "pos", -5), ("MT19937", "state", "pos", 625),
    ("MT19937", "state", "pos", 3.5), ("MT19937", "state", "pos", True), ("MT19937", "state", "key", [1] * 623),
    ("MT19937", "state", "key", [1 << 32] * 624), ("MT19937", "state", "key", [-1] * 624),
    ("Philox", "top", "buffer_pos", -2_000_000_000), ("Philox", "top", "buffer_pos", -1),
    ("Philox", "top", "buffer_pos", 5), ("Philox", "top", "buffer_pos", 2_000_000_000),
    ("Philox", "top", "buffer", [0, 0, 0]), ("Philox", "top", "buffer", [U64, 0, 0, 0]),
    ("Philox", "state", "counter", [0, 0, 0, -1]), ("Philox", "state", "counter", [0, 0]),
    ("Philox", "state", "key", [0, 0, 0]), ("Philox", "state", "key", [U64, 0]),
    ("Philox", "top", "has_uint32", 2), ("Philox", "top", "uinteger", 1 << 32),
    ("PCG64", "state", "state", -1), ("PCG64", "state", "state", 1 << 128), ("PCG64", "state", "inc", 2),
    ("PCG64", "state", "inc", 1 << 128 | 1), ("PCG64", "state", "inc", "x"), ("PCG64", "top", "has_uint32", -1),
    ("PCG64", "top", "uinteger", -1), ("PCG64", "top", "uinteger", 1 << 32),
    ("PCG64DXSM", "state", "inc", 4), ("PCG64DXSM", "state", "state", -(1 << 127)),
    ("PCG64DXSM", "top", "has_uint32", 7),
    ("SFC64", "state", "state", [0, 0, 0]), ("SFC64", "state", "state", [0, 0, 0, U64]),
    ("SFC64", "state", "state", [0, 0, 0, -1]), ("SFC64", "top", "has_uint32", 2),
    ("SFC64", "top", "uinteger", 1 << 40),
]


@pytest.mark.parametrize("bit_generator,where,key,value", BAD_RNG_FIELDS,
                         ids=[f"{g}-{k}={str(v)[:12]}" for g, _, k, v in BAD_RNG_FIELDS])
def test_a_bit_generator_field_out_of_its_range_is_refused_at_load(tmp_path, bit_generator, where, key, value):
    _, path = _trainer_file(tmp_path, bit_generator)
    meta, arrays = members(path)
    rng = meta["trainer"]["rng"]
    (rng["state"] if where == "state" else rng)[key] = value
    write_npz(path, meta, arrays)
    refused_at_load(path, "metadata: trainer.rng", f"not a valid {bit_generator} state", key)


@pytest.mark.parametrize("bit_generator", GENERATORS)
def test_a_missing_or_extra_bit_generator_field_is_refused(tmp_path, bit_generator):
    _, path = _trainer_file(tmp_path, bit_generator)
    meta, arrays = members(path)
    for change in ("drop", "add"):
        m = json.loads(json.dumps(meta))
        inner = m["trainer"]["rng"]["state"]
        if change == "drop":
            del inner[sorted(inner)[0]]
        else:
            inner["extra"] = 1
        write_npz(path, m, arrays)
        refused_at_load(path, "metadata: trainer.rng", f"not a valid {bit_generator} state")


def test_crafted_positions_would_have_crashed_fit_and_are_refused_in_a_child_process(tmp_path):
    """The crash itself (a segfault in fit, before the fix) is checked in a
    child process, so a regression fails this test instead of the run."""
    _, path = _trainer_file(tmp_path, "MT19937")
    meta, arrays = members(path)
    for pos in (100000, -2_000_000_000, -5):
        meta["trainer"]["rng"]["state"]["pos"] = pos
        write_npz(path, meta, arrays)
        r = run_python(f"""
            import numpy as np, gradfit as gf
            X = np.random.default_rng(0).normal(size=(120, 3)); y = X[:, 0]
            try:
                t = gf.load_trainer({path!r})
            except ValueError as e:
                print("refused:", e)
            else:
                t.fit(X, y, epochs=3)
                print("loaded and trained")
            """)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "refused:" in r.stdout and "trainer.rng" in r.stdout, r.stdout


# -- finding 2: non-regular files are refused at once ----------------------------------

def _special_files(tmp_path):
    files = {}
    for device in ("/dev/zero", "/dev/urandom"):
        if os.path.exists(device):
            link = str(tmp_path / f"{os.path.basename(device)}.npz")
            os.symlink(device, link)
            files[os.path.basename(device)] = link
    if hasattr(os, "mkfifo"):
        fifo = str(tmp_path / "fifo.npz")
        os.mkfifo(fifo)
        files["fifo"] = fifo
    directory = str(tmp_path / "dir.npz")
    os.mkdir(directory)
    files["directory"] = directory
    return files


@posix_only
@pytest.mark.parametrize("reader", ["load", "load_trainer", "read_metadata", "sklearn.load"])
def test_a_device_a_fifo_or_a_directory_is_refused_at_once(tmp_path, reader):
    files = _special_files(tmp_path)
    function = "gradfit.sklearn.load" if reader == "sklearn.load" else "gradfit.io." + reader
    r = run_python(f"""
        import gradfit, {function.rsplit('.', 1)[0]}
        for path in {list(files.values())!r}:
            try:
                {function}(path)
            except ValueError as e:
                print("refused:", e)
        """, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert len(lines) == len(files), r.stdout
    for line, path in zip(lines, files.values()):
        assert line.startswith(f"refused: {path}: not a regular file"), line


@posix_only
@pytest.mark.parametrize("command", ["predict", "explain"])
def test_the_cli_refuses_a_device_or_fifo_as_a_model_in_one_line(tmp_path, command):
    X, y = regression_data(10)
    data = str(tmp_path / "d.csv")
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", header="a,b,c,t", comments="")
    for kind, path in _special_files(tmp_path).items():
        args = ["predict", path, data] if command == "predict" else ["explain", "--model", path, "--data", data,
                                                                     "--target", "t"]
        r = run_python(f"import sys, gradfit.cli; sys.exit(gradfit.cli.main({args!r}))")
        assert r.returncode == 2, (kind, r.stderr[-2000:])
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "not a regular file" in lines[0], (kind, r.stderr)


# -- finding 3: what a save does to the file already there --------------------------------

def _savers(tmp_path):
    """Each way to write a gradfit file: name -> function(path)."""
    X, y = regression_data()
    model = gf.MLP([3, 4, 1], seed=1)
    trainer = gf.Trainer(gf.MLP([3, 4, 1], seed=2), seed=0)

    def checkpoint(path):
        gf.train(gf.MLP([3, 4, 1], seed=3), X, y, epochs=1, seed=0, checkpoint=path)

    def cli_out(path):
        data = str(tmp_path / "cli.csv")
        np.savetxt(data, np.column_stack([X, y]), delimiter=",", header="a,b,c,t", comments="")
        from gradfit.cli import main
        assert main(["fit", data, "--target", "t", "--epochs", "1", "--quiet", "--out", path]) == 0

    savers = {"model.save": model.save, "io.save_model": lambda p: gf.io.save_model(model, p),
              "io.save_trainer": lambda p: gf.io.save_trainer(trainer, p), "Trainer.save": trainer.save,
              "checkpoint": checkpoint, "cli --out": cli_out}
    try:
        import onnx  # noqa: F401
        savers["to_onnx"] = model.to_onnx
    except ImportError:
        pass
    return savers


SAVERS = ["model.save", "io.save_model", "io.save_trainer", "Trainer.save", "checkpoint", "cli --out", "to_onnx"]


def _saver(tmp_path, name):
    savers = _savers(tmp_path)
    if name not in savers:
        pytest.skip("onnx is not installed")
    return savers[name]


@posix_only
@pytest.mark.parametrize("saver", SAVERS)
def test_a_save_keeps_the_files_mode(tmp_path, saver, capsys):
    save = _saver(tmp_path, saver)
    path = str(tmp_path / "m.npz")
    for mode in (0o600, 0o640, 0o604):
        with open(path, "wb") as f:
            f.write(b"old")
        os.chmod(path, mode)
        save(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == mode, (saver, oct(mode))
        assert open(path, "rb").read() != b"old"
    assert sorted(os.listdir(tmp_path)) in (["m.npz"], ["cli.csv", "m.npz"])


@pytest.mark.skipif(not ROOT, reason="only root may give a file to another owner")
@pytest.mark.parametrize("saver", ["model.save", "Trainer.save", "checkpoint"])
def test_a_save_keeps_the_files_owner(tmp_path, saver):
    save = _saver(tmp_path, saver)
    path = str(tmp_path / "m.npz")
    with open(path, "wb") as f:
        f.write(b"old")
    os.chown(path, 65534, 65534)
    save(path)
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (65534, 65534)


@posix_only
@pytest.mark.parametrize("saver", SAVERS)
def test_a_read_only_file_is_refused_and_left_unchanged(tmp_path, saver, capsys):
    save = _saver(tmp_path, saver)
    path = str(tmp_path / "m.npz")
    with open(path, "wb") as f:
        f.write(b"old")
    os.chmod(path, 0o444)
    if saver == "cli --out":
        from gradfit.cli import main
        data = str(tmp_path / "d.csv")
        X, y = regression_data(20)
        np.savetxt(data, np.column_stack([X, y]), delimiter=",", header="a,b,c,t", comments="")
        assert main(["fit", data, "--target", "t", "--epochs", "1", "--quiet", "--out", path]) == 2
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and "--out" in err and path in err and "ermission" in err, err
        assert "saved" not in out and out == ""          # refused before training
    else:
        with pytest.raises(PermissionError) as info:
            save(path)
        assert info.value.filename == path and path in str(info.value)
    assert open(path, "rb").read() == b"old"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


@posix_only
@pytest.mark.parametrize("saver", SAVERS)
def test_a_symlink_is_followed_and_stays_a_link(tmp_path, saver, capsys):
    save = _saver(tmp_path, saver)
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = str(real_dir / "model.npz")
    with open(real, "wb") as f:
        f.write(b"old")
    os.chmod(real, 0o600)
    link = str(tmp_path / "link.npz")
    os.symlink(real, link)
    save(link)
    assert os.path.islink(link) and os.readlink(link) == real
    assert open(real, "rb").read() != b"old"
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o600
    if saver not in ("to_onnx",):
        gf.load(link)
    # the temporary file was next to the real file and is gone
    assert os.listdir(real_dir) == ["model.npz"]
    # a dangling link: the file it names is created
    os.unlink(real)
    save(link)
    assert os.path.islink(link) and os.path.isfile(real)


@posix_only
@pytest.mark.parametrize("saver", ["model.save", "Trainer.save"])
def test_a_hard_link_is_broken_as_documented(tmp_path, saver):
    save = _saver(tmp_path, saver)
    path, other = str(tmp_path / "m.npz"), str(tmp_path / "other.npz")
    with open(path, "wb") as f:
        f.write(b"old")
    os.link(path, other)
    save(path)
    # the rename gives `path` a new inode: the other name keeps the old contents
    assert open(other, "rb").read() == b"old"
    assert os.stat(path).st_nlink == 1 and open(path, "rb").read() != b"old"


@posix_only
def test_a_save_over_a_directory_or_a_device_is_refused(tmp_path):
    m = gf.MLP([2, 1])
    d = tmp_path / "d.npz"
    d.mkdir()
    with pytest.raises(IsADirectoryError, match="d.npz"):
        m.save(str(d))
    if os.path.exists("/dev/null"):
        link = str(tmp_path / "null.npz")
        os.symlink("/dev/null", link)
        with pytest.raises(ValueError, match="not a regular file"):
            m.save(link)
        assert os.path.islink(link)


def test_a_missing_directory_names_the_path_given_not_a_temporary_file(tmp_path):
    path = str(tmp_path / "missing_dir" / "m.npz")
    with pytest.raises(FileNotFoundError) as info:
        gf.MLP([2, 1]).save(path)
    assert info.value.filename == path and ".tmp" not in str(info.value)


@pytest.mark.parametrize("value,name", [(3, "int"), (None, "NoneType"), (b"m.npz", "bytes"), (2.5, "float")])
def test_save_names_its_path_argument(tmp_path, value, name):
    with pytest.raises(TypeError, match=rf"^path: expected a str or os.PathLike, got {name}$"):
        gf.MLP([2, 1]).save(path=value)
    t = gf.Trainer(gf.MLP([2, 1]))
    with pytest.raises(TypeError, match=rf"^path: expected a str or os.PathLike, got {name}$"):
        t.save(value)


# -- finding 4: NaN and inf are refused at save time, the old file intact ---------------------

def _poison(array, value):
    array[1] = value


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_model_with_nan_or_inf_is_refused_at_save_and_the_old_file_stays(tmp_path, bad, dtype):
    path = str(tmp_path / "m.npz")
    good = gf.MLP([3, 4, 1], seed=0, dtype=dtype)
    good.save(path)
    before = open(path, "rb").read()
    m = good.copy()
    _poison(m.params, bad)
    for save in (m.save, lambda p: gf.io.save_model(m, p)):
        with pytest.raises(ValueError, match="model.params: expected finite values"):
            save(path)
        assert open(path, "rb").read() == before
        assert os.listdir(tmp_path) == ["m.npz"]
    np.testing.assert_array_equal(gf.load(path).params, good.params)


@pytest.mark.parametrize("part", ["params", "optimizer state", "best params"])
def test_a_trainer_with_nan_is_refused_at_save_and_the_old_file_stays(tmp_path, part):
    X, y = regression_data()
    path = str(tmp_path / "t.npz")
    t = gf.Trainer(gf.MLP([3, 4, 1], seed=0), "adam", lr=0.01, seed=0, early_stopping=True,
                   validation_fraction=0.2)
    t.fit(X, y, epochs=2)
    t.save(path)
    before = open(path, "rb").read()
    if part == "params":
        _poison(t.model.params, np.nan)
    elif part == "optimizer state":
        _poison(t.state, np.inf)
    else:
        assert t._best is not None and t._best[2] is not None
        _poison(t._best[2], np.nan)
    for save in (t.save, lambda p: gf.io.save_trainer(t, p)):
        with pytest.raises(ValueError, match="expected finite values"):
            save(path)
        assert open(path, "rb").read() == before
        assert os.listdir(tmp_path) == ["t.npz"]


# -- finding 8: errors that were tracebacks or came late ------------------------------------

def _cli(args, tmp_path):
    r = run_python(f"import sys, gradfit.cli; sys.exit(gradfit.cli.main({args!r}))", memory=4 << 30)
    return r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize("label", [1_000_000_000, 5000])
def test_cli_fit_refuses_an_absurd_class_id_in_one_line(tmp_path, label):
    X, _ = regression_data(40)
    y = np.arange(40) % 3
    y[7] = label
    data = str(tmp_path / "d.csv")
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", header="a,b,c,t", comments="", fmt="%.17g")
    code, out, err = _cli(["fit", data, "--target", "t", "--loss", "cross_entropy", "--quiet",
                           "--out", str(tmp_path / "m.npz")], tmp_path)
    assert code == 2, err[-2000:]
    assert err.count("\n") == 1 and err.startswith("gradfit: error: --target:") and f"{label:g}" in err, err
    assert not os.path.exists(tmp_path / "m.npz")


def test_cli_fit_takes_class_ids_up_to_the_row_count(tmp_path):
    X, _ = regression_data(1500)
    y = np.arange(1500) % 4
    y[0] = 1400
    data = str(tmp_path / "d.npy")
    np.save(data, np.column_stack([X, y]))
    from gradfit.cli import main
    assert main(["fit", data, "--target", "-1", "--loss", "cross_entropy", "--quiet", "--epochs", "1",
                 "--out", str(tmp_path / "m.npz")]) == 0
    assert gf.load(str(tmp_path / "m.npz")).n_outputs == 1401


def test_cli_refuses_a_npy_header_claiming_terabytes_in_one_line(tmp_path):
    data = str(tmp_path / "big.npy")
    with open(data, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 3)})
        f.write(b"\0" * 96)
    for args in (["fit", data, "--target", "-1", "--quiet", "--out", str(tmp_path / "m.npz")],
                 ["predict", _a_model(tmp_path), data]):
        code, out, err = _cli(args, tmp_path)
        assert code == 2, err[-2000:]
        assert err.count("\n") == 1 and "(1000000000000, 3)" in err and "MemoryError" not in err, err


def _a_model(tmp_path):
    path = str(tmp_path / "small.npz")
    gf.MLP([2, 1]).save(path)
    return path


def test_cli_fit_checks_out_before_training(tmp_path, capsys):
    X, y = regression_data(40)
    data = str(tmp_path / "d.csv")
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", header="a,b,c,t", comments="")
    from gradfit.cli import main
    out_path = str(tmp_path / "missing_dir" / "m.npz")
    assert main(["fit", data, "--target", "t", "--epochs", "1", "--out", out_path]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and f"--out: cannot write {out_path}" in err, (out, err)
    assert ".tmp" not in err


def test_a_checkpoint_that_cannot_be_written_fails_before_training(tmp_path):
    X, y = regression_data()
    m = gf.MLP([3, 4, 1], seed=0)
    before = m.params.copy()
    path = str(tmp_path / "missing_dir" / "ck.npz")
    calls = []
    with pytest.raises(FileNotFoundError) as info:
        gf.train(m, X, y, epochs=3, checkpoint=path, callbacks=[lambda info: calls.append(info.epoch)])
    assert info.value.filename == path
    assert calls == [] and np.array_equal(m.params, before)
    ro = tmp_path / "ro.npz"
    ro.write_bytes(b"old")
    os.chmod(ro, 0o444)
    t = gf.Trainer(m, checkpoint=str(ro))
    with pytest.raises(PermissionError) as info:
        t.fit(X, y, epochs=2)
    assert info.value.filename == str(ro) and t.epoch == 0 and np.array_equal(m.params, before)


@posix_only
def test_a_read_only_directory_fails_before_training(tmp_path, capsys):
    """A checkpoint or --out in a directory without write bits (0555): refused
    before training, naming the path given (as root too, like a 0444 file)."""
    ro_dir = tmp_path / "ro_dir"
    ro_dir.mkdir()
    os.chmod(ro_dir, 0o555)
    try:
        X, y = regression_data(40)
        m = gf.MLP([3, 4, 1], seed=0)
        before, epochs = m.params.copy(), []
        path = str(ro_dir / "ck.npz")
        with pytest.raises(PermissionError) as info:
            gf.train(m, X, y, epochs=3, checkpoint=path, callbacks=[lambda info: epochs.append(info.epoch)])
        assert info.value.filename == path and epochs == [] and np.array_equal(m.params, before)
        with pytest.raises(PermissionError) as info:
            m.save(str(ro_dir / "m.npz"))
        assert info.value.filename == str(ro_dir / "m.npz")
        data = str(tmp_path / "d.csv")
        np.savetxt(data, np.column_stack([X, y]), delimiter=",", header="a,b,c,t", comments="")
        from gradfit.cli import main
        assert main(["fit", data, "--target", "t", "--epochs", "1", "--out", str(ro_dir / "m.npz")]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and f"--out: cannot write {ro_dir / 'm.npz'}" in err, err
        assert os.listdir(ro_dir) == []
    finally:
        os.chmod(ro_dir, 0o755)


def _crafted_trainer(tmp_path, **changes):
    X, y = regression_data()
    t = gf.Trainer(gf.MLP([3, 4, 1], seed=0), lr=0.05, seed=0, lr_schedule=schedules.Cosine(epochs=10))
    t.fit(X, y, epochs=2)
    path = str(tmp_path / "t.npz")
    t.save(path)
    meta, arrays = members(path)
    meta["trainer"].update(changes)
    write_npz(path, meta, arrays)
    return path


@pytest.mark.parametrize("min_lr", [1e308, 1.0])
def test_a_cosine_min_lr_above_the_lr_is_refused_at_load(tmp_path, min_lr):
    path = _crafted_trainer(tmp_path, schedule={"kind": "Cosine", "settings": {"epochs": 10, "warmup": 0,
                                                                               "min_lr": min_lr}, "state": {}})
    refused_at_load(path, "min_lr")


def test_a_cosine_min_lr_above_the_lr_is_refused_by_the_trainer():
    with pytest.raises(ValueError, match="min_lr"):
        gf.Trainer(gf.MLP([2, 1]), lr=0.01, lr_schedule=schedules.Cosine(epochs=5, min_lr=0.1))


def test_a_cosine_schedule_at_the_top_of_the_float_range_does_not_overflow():
    c = schedules.Cosine(epochs=10, min_lr=1e307)
    assert all(np.isfinite(c.lr(e, 1.7e308)) for e in range(12))
    # the documented formula, bit for bit, where it does not overflow
    c = schedules.Cosine(epochs=7, warmup=2, min_lr=0.003)
    for e in range(2, 7):
        phase = (e - 2) / 5
        assert c.lr(e, 0.1) == 0.003 + (0.1 - 0.003) * (1 + np.cos(np.pi * phase)) / 2


@pytest.mark.parametrize("sums", [["nan", "inf"] * 2, [0.5, 0.0, "inf", 32.0], [0.5, 0.0, 32.0, "nan"],
                                  [0.5, 0.0, -1.0, 32.0], [0.5, 0.0, 32.0, 1.5], [0.5, 0.0, 32.0, -32.0]])
def test_pending_sums_that_are_not_finite_counts_are_refused_at_load(tmp_path, sums):
    path = _crafted_trainer(tmp_path, pending={"n_rows": 120, "next_batch": 1, "sums": sums, "has_order": False})
    refused_at_load(path, "trainer.pending.sums")


def test_a_good_pending_epoch_still_loads(tmp_path):
    path = _crafted_trainer(tmp_path, pending={"n_rows": 120, "next_batch": 1, "sums": [3.5, 0.0, 32.0, 32.0],
                                               "has_order": False})
    t = gf.load_trainer(path)
    assert t._pending[3] == (3.5, 0.0, 32.0, 32.0)
    X, y = regression_data()
    t.fit(X, y, epochs=1)


# -- finding 9: small wrong reports ---------------------------------------------------------

@pytest.mark.parametrize("y,shown", [
    (np.array([0, 2**64 - 1], dtype=np.uint64), "18446744073709551615"),
    (np.array([0, 1e20]), "1e+20"), (np.array([0, -1e20]), "-1e+20"),
    (np.array([0, 2**63], dtype=np.uint64), "9223372036854775808"),
    (np.array([0, 3], dtype=np.uint8), "3"), (np.array([0, -7], dtype=np.int32), "-7")])
def test_an_out_of_range_class_id_is_reported_as_given(y, shown):
    m = gf.MLP([2, 3])
    X = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"expected class ids in \[0, 3\)") as info:
        m.loss(X, y, loss="cross_entropy")
    assert str(info.value).endswith(f"got {shown}")
    with pytest.raises(ValueError, match=re.escape(f"got {shown}") + "$"):
        gf.train(m, X, y, loss="cross_entropy")


@pytest.mark.parametrize("case", ["constant-miss", "constant-exact", "multi", "weighted", "normal"])
def test_r2_matches_scikit_learns_r2_score(case):
    from sklearn.metrics import r2_score
    m = gf.MLP([2, 2], activation="identity", weights=[[[1.0, 0.0], [0.0, 1.0]]], biases=[[0.0, 0.0]])
    X = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0]])
    sw = None
    if case == "constant-miss":
        y = np.full((4, 2), 2.0)
    elif case == "constant-exact":
        y = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0]])[:, [1, 1]]
        X = np.full((4, 2), 5.0)
    elif case == "multi":                 # one constant column, one not
        y = np.array([[1.5, 5.0], [2.5, 5.0], [2.0, 5.0], [4.5, 5.0]])
    elif case == "weighted":
        y = np.array([[1.0, 4.0], [2.5, 4.0], [3.0, 4.0], [3.5, 4.0]])
        sw = np.array([1.0, 2.0, 0.5, 3.0])
    else:
        y = np.array([[1.2, 4.0], [2.5, 5.5], [2.9, 4.2], [3.5, 6.0]])
    got = m.evaluate(X, y, metrics=["r2"], sample_weight=sw)["r2"]
    expected = r2_score(y, m.predict(X), sample_weight=sw)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert np.isfinite(got)


def test_r2_of_a_constant_target_is_scikit_learns_value():
    m = gf.MLP([1, 1], weights=[[[0.0]]], biases=[[1.0]])
    X = np.zeros((3, 1))
    assert m.evaluate(X, np.full(3, 2.0), metrics=["r2"])["r2"] == 0.0
    assert m.evaluate(X, np.full(3, 1.0), metrics=["r2"])["r2"] == 1.0


@pytest.mark.parametrize("scale", [1e300, 1e307, -1e300])
def test_gradfit_regressor_on_huge_targets_predicts_finite_values(scale):
    pytest.importorskip("sklearn")
    import warnings

    from gradfit.sklearn import GradfitRegressor
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = scale * (1 + 0.1 * np.tanh(X[:, 0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = GradfitRegressor(max_iter=30, random_state=0, standardize_y=True).fit(X, y)
    pred = est.predict(X)
    assert np.isfinite(est.y_mean_).all() and np.isfinite(est.y_scale_).all() and (est.y_scale_ > 0).all()
    assert np.isfinite(pred).all()
    np.testing.assert_allclose(est.y_mean_, [np.mean(y / scale) * scale], rtol=1e-12)
    np.testing.assert_allclose(est.y_scale_, [np.std(y / scale) * abs(scale)], rtol=1e-9)
    assert abs(np.mean(pred / scale) - np.mean(y / scale)) < 0.2
