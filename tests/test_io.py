"""The model file (gradfit.io): save -> load round trips, exact Trainer
resumption, and a loader that refuses damaged or hostile files with a clear
ValueError and never allocates what a file merely claims."""
import json
import os
import struct
import tempfile
import tracemalloc
import zipfile

import numpy as np
import pytest

import gradfit as gf
import gradfit._loop as training
from gradfit import io as gio
from gradfit import schedules

ACTS = ["identity", "relu", "sigmoid", "tanh", "softplus"]


def regression_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=n)
    return X, y


def members(path):
    """The arrays of an .npz and its metadata dict (for crafting bad files)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("metadata").tobytes())
    return meta, arrays


def write_npz(path, meta, arrays, compressed=False):
    """A file in gradfit's layout, written by numpy (not by gradfit)."""
    data = {"metadata": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays}
    with open(path, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **data)


def rejected(path, *fragments):
    """load(path) raises ValueError starting with the path, containing each fragment."""
    with pytest.raises(ValueError) as info:
        gf.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.fixture
def model_file(tmp_path):
    m = gf.MLP([3, 5, 4, 2], activation=["tanh", "softplus"], seed=0)
    path = str(tmp_path / "model.npz")
    m.save(path)
    return m, path


# -- round trips ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ACTS)
def test_save_load_gives_identical_predictions(tmp_path, dtype, act):
    m = gf.MLP([4, 7, 3], activation=act, output_activation="sigmoid" if act == "relu" else "identity",
               dtype=dtype, seed=1)
    X, y = np.random.default_rng(0).normal(size=(50, 4)), np.random.default_rng(1).normal(size=(50, 3))
    gf.train(m, X, y, lr=0.05, epochs=3, seed=0)
    path = tmp_path / "m.npz"
    m.save(path)                                  # os.PathLike works too
    back = gf.load(path)
    assert isinstance(back, gf.MLP)
    assert back.layer_sizes == m.layer_sizes and back.activations == m.activations and back.dtype == m.dtype
    assert back.params.dtype == m.params.dtype and np.array_equal(back.params, m.params)
    assert np.array_equal(back.predict(X), m.predict(X))


def test_the_file_is_a_plain_npz_numpy_reads_without_pickle(model_file):
    m, path = model_file
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == ["metadata", "params"]
        meta = json.loads(z["metadata"].tobytes().decode("utf-8"))
        assert np.array_equal(z["params"], m.params)
    assert meta == {"format": "gradfit", "format_version": 1, "kind": "model", "gradfit_version": gf.__version__,
                    "model": {"layer_sizes": [3, 5, 4, 2], "activations": ["tanh", "softplus", "identity"],
                              "dtype": "float64"}}
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def test_save_writes_exactly_the_path_given_and_leaves_no_temporary_file(tmp_path):
    m = gf.MLP([2, 1], seed=0)
    m.save(str(tmp_path / "model.bin"))
    assert os.listdir(tmp_path) == ["model.bin"]          # no ".npz" appended, nothing else left
    assert np.array_equal(gf.load(str(tmp_path / "model.bin")).params, m.params)


def test_a_failed_save_keeps_the_old_file_and_removes_its_temporary_file(tmp_path, monkeypatch):
    path = str(tmp_path / "m.npz")
    old = gf.MLP([2, 3, 1], seed=0)
    old.save(path)
    before = open(path, "rb").read()

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np.lib.format, "write_array", broken)
    with pytest.raises(OSError, match="disk full"):
        gf.MLP([2, 3, 1], seed=5).save(path)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def test_extra_metadata_round_trips(tmp_path):
    m = gf.MLP([2, 1], seed=0)
    path = str(tmp_path / "m.npz")
    gio.save_model(m, path, extra={"classes": [0, 1], "scale": 2.5})
    back, extra = gio.load_model(path, with_extra=True)
    assert extra == {"classes": [0, 1], "scale": 2.5} and np.array_equal(back.params, m.params)
    assert gio.read_metadata(path)["extra"] == extra


def test_load_of_a_missing_file_or_a_bad_path_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: no such file"):
        gf.load(str(tmp_path / "nope.npz"))
    with pytest.raises(TypeError, match="path: expected a str or os.PathLike"):
        gf.load(42)


# -- Trainers -----------------------------------------------------------------------

TRAINER_CASES = {          # settings, made afresh for each Trainer (schedules hold state)
    "sgd-momentum": lambda: dict(optimizer="sgd", lr=0.02, momentum=0.9),
    "nesterov-l2-step": lambda: dict(optimizer="sgd", lr=0.02, momentum=0.8, nesterov=True, l2=1e-3,
                                     lr_schedule=schedules.Step(every=2, factor=0.5)),
    "adam": lambda: dict(optimizer="adam", lr=0.01),
    "adamw-plateau-earlystop-valfrac": lambda: dict(
        optimizer="adamw", lr=0.01, weight_decay=0.01, lr_schedule=schedules.ReduceOnPlateau(patience=1, factor=0.5),
        early_stopping=True, patience=50, validation_fraction=0.2),
    "adam-cosine-huber": lambda: dict(optimizer="adam", lr=0.01, loss="huber", huber_delta=0.5,
                                      lr_schedule=schedules.Cosine(epochs=8, warmup=2)),
}


def _same_trainers(a, b):
    assert a.epoch == b.epoch and a.step == b.step
    assert np.array_equal(a.model.params, b.model.params)
    assert np.array_equal(a.state, b.state)
    assert a.history == b.history
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert a.schedule.state() == b.schedule.state()


@pytest.mark.parametrize("case", sorted(TRAINER_CASES))
def test_a_saved_loaded_and_resumed_trainer_ends_bit_identical(tmp_path, case):
    X, y = regression_data()
    def make():
        return gf.Trainer(gf.MLP([3, 8, 1], activation="tanh", seed=0), batch_size=16, seed=7,
                          **TRAINER_CASES[case]())
    straight = make()
    straight.fit(X, y, epochs=8)

    first = make()
    first.fit(X, y, epochs=3)
    path = str(tmp_path / "t.npz")
    first.save(path)
    del first
    resumed = gf.load_trainer(path)
    assert resumed.epoch == 3
    resumed.fit(X, y, epochs=5)
    _same_trainers(resumed, straight)
    assert straight.history["loss"][-1] < straight.history["loss"][0]      # it did train


def test_float32_trainer_round_trip_keeps_its_dtype(tmp_path):
    X, y = regression_data()
    a = gf.Trainer(gf.MLP([3, 6, 1], dtype="float32", seed=0), "adam", lr=0.01, seed=1)
    b = gf.Trainer(gf.MLP([3, 6, 1], dtype="float32", seed=0), "adam", lr=0.01, seed=1)
    a.fit(X, y, epochs=2)
    path = str(tmp_path / "t.npz")
    a.save(path)
    c = gf.load_trainer(path)
    assert c.state.dtype == np.float32 and c.model.dtype == np.float32
    c.fit(X, y, epochs=2)
    b.fit(X, y, epochs=4)
    _same_trainers(b, c)


def test_a_trainer_stopped_mid_epoch_by_on_progress_resumes_bit_identical_from_its_file(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "WORK_PER_CALL", 3000)        # several C calls per epoch
    X, y = regression_data()

    class StopOnce:
        done = False

        def on_progress(self, info):
            if not self.done and info.epoch == 1 and info.epoch_fraction > 0.3:
                self.done = True
                return True

    t1 = gf.Trainer(gf.MLP([3, 8, 1], activation="tanh", seed=0), "sgd", lr=0.02, momentum=0.9, batch_size=8,
                    seed=1, callbacks=[StopOnce()])
    r = t1.fit(X, y, epochs=3)
    assert r.stop_reason == "callback" and t1._pending is not None
    path = str(tmp_path / "t.npz")
    t1.save(path)
    assert "pending_order" in np.load(path).files
    t2 = gf.load_trainer(path)
    assert t2._pending[0] == t1._pending[0] and t2._pending[2] == t1._pending[2]
    t2.fit(X, y, epochs=2)                   # finishes epoch 2, then runs epoch 3
    straight = gf.Trainer(gf.MLP([3, 8, 1], activation="tanh", seed=0), "sgd", lr=0.02, momentum=0.9,
                          batch_size=8, seed=1)
    straight.fit(X, y, epochs=3)
    _same_trainers(t2, straight)


def test_a_checkpoint_written_by_an_epoch_callback_resumes_exactly(tmp_path):
    X, y = regression_data()
    path = str(tmp_path / "ckpt.npz")
    holder = {}

    def checkpoint(info):
        if info.epoch == 2:
            holder["trainer"].save(path)

    t = gf.Trainer(gf.MLP([3, 8, 1], seed=0), "adam", lr=0.01, seed=3, callbacks=[checkpoint])
    holder["trainer"] = t
    t.fit(X, y, epochs=5)
    back = gf.load_trainer(path)
    assert back.epoch == 2 and back.callbacks == []
    back.fit(X, y, epochs=3)
    _same_trainers(back, t)


def test_load_trainer_settings_callbacks_validation_and_given_model(tmp_path):
    X, y = regression_data()
    t = gf.Trainer(gf.MLP([3, 4, 1], seed=0), "sgd", lr=0.01, batch_size=None, shuffle=False, l2=0.5,
                   min_delta=0.1, restore_best_weights=False, backend="numpy", seed=2)
    t.fit(X, y, epochs=2)
    path = str(tmp_path / "t.npz")
    t.save(path)
    target = gf.MLP([3, 4, 1], seed=99)
    calls = []
    back = gf.load_trainer(path, target, callbacks=[lambda info: calls.append(info.epoch)],
                           validation_data=(X[:20], y[:20]))
    assert back.model is target and np.array_equal(target.params, t.model.params)
    for name in ("loss", "l2", "huber_delta", "batch_size", "shuffle", "min_delta", "restore_best_weights",
                 "backend", "optimizer", "_split_seed", "patience", "early_stopping"):
        assert getattr(back, name) == getattr(t, name), name
    back.fit(X, y, epochs=1)
    assert calls == [3] and len(back.history["val_loss"]) == 1
    # gf.load reads the model of a Trainer's file; load_trainer refuses a model's file
    assert np.array_equal(gf.load(path).params, t.model.params)
    gf.MLP([3, 4, 1]).save(str(tmp_path / "m.npz"))
    with pytest.raises(ValueError, match="m.npz: holds a model, not a Trainer"):
        gf.load_trainer(str(tmp_path / "m.npz"))
    with pytest.raises(ValueError, match=r"t.npz: the file's model is \[3, 4, 1\]"):
        gf.load_trainer(path, gf.MLP([3, 5, 1]))
    with pytest.raises(TypeError, match="model: expected a gradfit.MLP"):
        gf.load_trainer(path, "model")


def test_a_function_schedule_must_be_given_again(tmp_path):
    X, y = regression_data()
    t = gf.Trainer(gf.MLP([3, 1], seed=0), lr=0.01, lr_schedule=lambda e: 0.01 / (e + 1), seed=0)
    t.fit(X, y, epochs=2)
    path = str(tmp_path / "t.npz")
    t.save(path)
    with pytest.raises(ValueError, match="lr_schedule was a function .* pass it again"):
        gf.load_trainer(path)
    back = gf.load_trainer(path, lr_schedule=lambda e: 0.01 / (e + 1))
    back.fit(X, y, epochs=1)
    t.fit(X, y, epochs=1)
    assert np.array_equal(back.model.params, t.model.params) and back.history == t.history


# -- damaged and hostile files ------------------------------------------------------

@pytest.mark.parametrize("keep", [0, 10, 100, 0.5, -1, -22, -40])
def test_a_truncated_file_is_refused(model_file, keep):
    _, path = model_file
    data = open(path, "rb").read()
    n = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) + keep)
    with open(path, "wb") as f:
        f.write(data[:n])
    rejected(path)


def test_random_bytes_are_refused(tmp_path):
    path = str(tmp_path / "random.npz")
    with open(path, "wb") as f:
        f.write(np.random.default_rng(0).bytes(5000))
    rejected(path, "not a valid gradfit file")


def test_a_newer_format_version_is_refused(model_file):
    _, path = model_file
    meta, arrays = members(path)
    meta["format_version"] = 2
    write_npz(path, meta, arrays)
    rejected(path, "format version 2 is not supported", "newer gradfit")


@pytest.mark.parametrize("change, fragment", [
    (lambda m: m.update(format="other"), "expected format 'gradfit'"),
    (lambda m: m.update(format_version="1"), "format_version to be int"),
    (lambda m: m.update(kind="estimator"), "expected kind"),
    (lambda m: m["model"].update(activations=["tanh", "gelu", "identity"]), "activations[1]"),
    (lambda m: m["model"].update(activations=["tanh", "identity"]), "expected 3 activations"),
    (lambda m: m["model"].update(dtype="float16"), "model.dtype"),
    (lambda m: m["model"].update(layer_sizes=[3, 5, 0, 2]), "layer_sizes[2]"),
    (lambda m: m["model"].update(layer_sizes=[3, 5, True, 2]), "layer_sizes[2]"),
    (lambda m: m["model"].update(layer_sizes="3,5,4,2"), "layer_sizes to be list"),
    (lambda m: m.pop("model"), "metadata.model is missing"),
])
def test_bad_metadata_is_refused(model_file, change, fragment):
    _, path = model_file
    meta, arrays = members(path)
    change(meta)
    write_npz(path, meta, arrays)
    rejected(path, fragment)


def test_metadata_that_is_not_json_is_refused(model_file):
    _, path = model_file
    _, arrays = members(path)
    with open(path, "wb") as f:
        np.savez(f, metadata=np.frombuffer(b'{"format": "gradfit", NaN', dtype=np.uint8), **arrays)
    rejected(path, "metadata: not valid UTF-8 JSON")
    with open(path, "wb") as f:
        np.savez(f, metadata=np.frombuffer(b"[1, 2]", dtype=np.uint8), **arrays)
    rejected(path, "expected a JSON object")


@pytest.mark.parametrize("change, fragment", [
    (lambda p: p[:-1], "expected 54 values (from the metadata), got shape (53,)"),
    (lambda p: np.concatenate([p, p]), "expected 54 values"),
    (lambda p: p.reshape(6, 9), "expected a 1-D array"),
    (lambda p: p.astype(np.float32), "unexpected dtype <f4"),
    (lambda p: p.astype(np.int64), "unexpected dtype <i8"),
    (lambda p: p.astype(np.complex128), "unexpected dtype"),
])
def test_parameters_of_the_wrong_shape_or_dtype_are_refused(model_file, change, fragment):
    _, path = model_file
    meta, arrays = members(path)
    arrays["params"] = change(arrays["params"])
    write_npz(path, meta, arrays)
    rejected(path, "member 'params'", fragment)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(model_file, bad):
    _, path = model_file
    meta, arrays = members(path)
    arrays["params"][7] = bad
    write_npz(path, meta, arrays)
    rejected(path, "member 'params': expected finite values, got 1 NaN or inf")


def test_an_object_array_is_refused_and_never_unpickled(model_file, tmp_path):
    _, path = model_file
    meta, arrays = members(path)
    marker = tmp_path / "executed"

    class Exploit:                       # unpickling this would create `marker`
        def __reduce__(self):
            return (open, (str(marker), "w"))
    arrays["params"] = np.array([Exploit()] * 54, dtype=object)
    write_npz(path, meta, arrays)         # numpy pickles object arrays
    rejected(path, "member 'params' is an object array (pickled Python objects)")
    assert not marker.exists()


def test_extra_or_missing_members_are_refused(model_file):
    _, path = model_file
    meta, arrays = members(path)
    write_npz(path, meta, dict(arrays, more=np.zeros(3)))
    rejected(path, "expected the members ['metadata', 'params']")
    write_npz(path, meta, {})
    rejected(path, "expected the members ['metadata', 'params'], got ['metadata']")


def test_a_compressed_member_is_refused(model_file):
    _, path = model_file
    meta, arrays = members(path)
    write_npz(path, meta, arrays, compressed=True)
    rejected(path, "is compressed")


def _peak_bytes_of(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_metadata_claiming_terabytes_allocates_nothing(model_file):
    _, path = model_file
    meta, arrays = members(path)
    meta["model"]["layer_sizes"] = [2**19, 2**20, 2]          # 5.5e11 parameters: 4.4 TB of float64
    meta["model"]["activations"] = ["relu", "identity"]
    write_npz(path, meta, arrays)
    n = (2**19 + 1) * 2**20 + (2**20 + 1) * 2
    peak = _peak_bytes_of(lambda: rejected(path, f"expected {n} values (from the metadata)"))
    assert peak < 5_000_000
    meta["model"]["layer_sizes"] = [2**31 - 1, 2**31 - 1, 2]  # beyond gradfit's limit on parameters
    write_npz(path, meta, arrays)
    rejected(path, "more than gradfit's limit")


def test_a_npy_header_claiming_terabytes_allocates_nothing(tmp_path):
    """Metadata and .npy header agree on 5.5e11 parameters (4.4 TB); the member holds 64 bytes."""
    path = str(tmp_path / "huge.npz")
    meta = {"format": "gradfit", "format_version": 1, "kind": "model", "gradfit_version": "0.1.0",
            "model": {"layer_sizes": [2**19, 2**20, 2], "activations": ["relu", "identity"], "dtype": "float64"}}
    n = (2**19 + 1) * 2**20 + (2**20 + 1) * 2
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("metadata.npy", "w") as f:
            np.lib.format.write_array(f, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        with zf.open("params.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
            f.write(b"\0" * 64)
    peak = _peak_bytes_of(lambda: rejected(path, "member 'params'", f"declares shape ({n},)", "holds 64 bytes"))
    assert peak < 5_000_000


def test_a_zip_entry_claiming_more_bytes_than_the_file_holds_is_refused(model_file):
    _, path = model_file
    data = bytearray(open(path, "rb").read())
    # the central directory's entry for the last member: its sizes claim 3 GB
    cd = data.rfind(b"PK\x01\x02")
    struct.pack_into("<II", data, cd + 20, 3 << 30, 3 << 30)
    with open(path, "wb") as f:
        f.write(data)
    peak = _peak_bytes_of(lambda: rejected(path, "beyond the end of the"))
    assert peak < 5_000_000


def test_a_damaged_trainer_file_is_refused(tmp_path):
    X, y = regression_data()
    t = gf.Trainer(gf.MLP([3, 4, 1], seed=0), "adam", lr=0.01, seed=0)
    t.fit(X, y, epochs=2)
    path = str(tmp_path / "t.npz")
    t.save(path)
    good_meta, good_arrays = members(path)

    def refused(fragment, meta=None, arrays=None):
        write_npz(path, meta or good_meta, arrays or good_arrays)
        with pytest.raises(ValueError, match=r"^" + str(path).replace("\\", "\\\\") + ": ") as info:
            gf.load_trainer(path)
        assert fragment in str(info.value)

    def meta_with(**changes):
        m = json.loads(json.dumps(good_meta))
        m["trainer"].update(changes)
        return m
    refused("trainer.optimizer.name", meta_with(optimizer={"name": "lbfgs", "settings": {}}))
    refused("trainer.optimizer.settings", meta_with(optimizer={"name": "adam", "settings": {"lr": 0.1}}))
    refused("beta1: expected a number in [0, 1)",
            meta_with(optimizer={"name": "adam", "settings": {"lr": 0.1, "beta1": 2, "beta2": 0.9, "eps": 1e-8}}))
    refused("trainer.loss", meta_with(loss="hinge"))
    refused("trainer.rng.bit_generator", meta_with(rng={"bit_generator": "os.system", "state": {}}))
    refused("not a valid PCG64 state", meta_with(rng={"bit_generator": "PCG64", "state": {"state": "x"}}))
    refused("trainer.schedule.kind", meta_with(schedule={"kind": "Exploit", "state": {}}))
    refused("member 'history_loss': expected 5 values", meta_with(epoch=5))
    refused("trainer.epoch", meta_with(epoch=-1))
    refused("member 'state': expected 42 values (from the metadata), got shape (34,)",
            arrays=dict(good_arrays, state=good_arrays["state"][:34]))
    refused("Adam's second moments must be >= 0",
            arrays=dict(good_arrays, state=-np.abs(good_arrays["state"]) - 1))
    refused("member 'step_count': expected a count >= 0",
            arrays=dict(good_arrays, step_count=np.array([-5], dtype=np.int64)))
    refused("member 'step_count'", arrays=dict(good_arrays, step_count=np.array([1.5])))
    # a partial epoch whose row order would index outside the data
    pending = {"n_rows": 300, "next_batch": 2, "sums": [1.0, 0.0, 64.0, 64.0], "has_order": True}
    order = np.arange(300, dtype=np.int64)
    order[5] = 10**9
    refused("expected a permutation of 0..299", meta_with(pending=pending), dict(good_arrays, pending_order=order))
    refused("trainer.pending.next_batch", meta_with(pending=dict(pending, next_batch=10)),
            dict(good_arrays, pending_order=np.arange(300, dtype=np.int64)))
    refused("expected the members", meta_with(pending=pending))


# -- random damage: the loader returns a valid model or raises ValueError -----------

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install hypothesis)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _valid_files():
    X, y = regression_data(60)
    model = gf.MLP([3, 4, 2], activation="softplus", seed=0)
    trainer = gf.Trainer(gf.MLP([3, 4, 1], seed=0), "adam", lr=0.01, seed=0, early_stopping=True,
                         lr_schedule=schedules.ReduceOnPlateau(patience=2))
    trainer.fit(X, y, epochs=2)
    with tempfile.TemporaryDirectory() as d:
        model.save(os.path.join(d, "m"))
        trainer.save(os.path.join(d, "t"))
        return {"model": open(os.path.join(d, "m"), "rb").read(), "trainer": open(os.path.join(d, "t"), "rb").read()}


VALID = _valid_files()

mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.floats(0, 1, exclude_max=True), st.integers(1, 64)),
    st.tuples(st.just("set"), st.floats(0, 1, exclude_max=True), st.sampled_from([0, 0xFF, 0x7F, 0x80])),
)


def _mutate(data, mutations):
    data = bytearray(data)
    for kind, where, arg in mutations:
        if not data:
            break
        i = int(where * len(data)) if kind != "insert" else int(where * (len(data) + 1))
        i = min(i, len(data) - 1) if kind != "insert" else i
        if kind == "flip":
            data[i] ^= arg
        elif kind == "set":
            data[i] = arg
        elif kind == "truncate":
            del data[i:]
        elif kind == "insert":
            data[i:i] = arg
        else:
            del data[i:i + arg]
    return bytes(data)


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.sampled_from(["model", "trainer"]), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_randomly_damaged_files_give_a_valid_model_or_a_value_error(which, mutations):
    data = _mutate(VALID[which], mutations)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.npz")
        with open(path, "wb") as f:
            f.write(data)
        for loader in (gf.load, gf.load_trainer):
            try:
                out = loader(path)
            except ValueError as exc:
                assert str(exc).startswith(path + ": ")
                continue
            model = out if isinstance(out, gf.MLP) else out.model
            assert np.isfinite(model.params).all()
            model.predict(np.zeros((2, model.n_inputs)))
