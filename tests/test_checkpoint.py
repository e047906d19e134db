"""Checkpoints: a training process killed with SIGKILL at random moments
always leaves a loadable checkpoint, and resuming from it reaches the final
parameters of a run never interrupted, bit for bit (float64)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import gradfit as gf

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

EPOCHS = 40
SCRIPT = textwrap.dedent(f'''
    import sys
    import numpy as np
    import gradfit as gf
    gf._loop.WORK_PER_CALL = 20_000            # several C calls (pauses) per epoch
    path, resume = sys.argv[1], sys.argv[2] == "resume"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 4))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    if resume:
        t = gf.load_trainer(path)
    else:
        m = gf.MLP([4, 64, 64, 1], activation="tanh", seed=0)
        t = gf.Trainer(m, "adam", lr=1e-3, batch_size=16, seed=7, checkpoint=path, checkpoint_seconds=0.02)
    t.set_checkpoint(path, seconds=0.02)
    t.fit(X, y, epochs={EPOCHS} - t.epoch)
    np.save(path + ".final.npy", t.model.params)
''')


def run(tmp_path, name, mode):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / name), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path):
    ref = run(tmp_path, "ref.npz", "fresh")
    while not (tmp_path / "ref.npz").exists() and ref.poll() is None:
        time.sleep(0.005)
    started = time.monotonic()
    assert ref.wait(timeout=300) == 0, ref.stderr.read().decode()[-2000:]
    span = time.monotonic() - started                   # to spread the kills over a run (no assert on it)
    expected = np.load(tmp_path / "ref.npz.final.npy")
    rng = np.random.default_rng(int(time.time()))      # random moments, a different set each run
    mid_run = 0
    for k in range(5):
        name = f"run{k}.npz"
        proc = run(tmp_path, name, "fresh")
        while not (tmp_path / name).exists() and proc.poll() is None:
            time.sleep(0.005)                         # the first checkpoint exists...
        time.sleep(float(rng.uniform(0.0, 0.9 * span)))   # ...then a random moment
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        t = gf.load_trainer(tmp_path / name)          # always loadable
        assert 0 <= t.epoch <= EPOCHS
        mid_run += t.epoch < EPOCHS
        resumed = run(tmp_path, name, "resume")
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
        assert np.array_equal(np.load(tmp_path / (name + ".final.npy")), expected), k
    assert mid_run >= 3          # the kills really fell inside the runs


def test_checkpoint_arguments_are_checked():
    m = gf.MLP([2, 1])
    with pytest.raises(ValueError, match=r"^checkpoint_every:"):
        gf.Trainer(m, checkpoint="x.npz", checkpoint_every=0)
    with pytest.raises(ValueError, match=r"^checkpoint_seconds:"):
        gf.Trainer(m, checkpoint="x.npz", checkpoint_seconds=-1.0)
    with pytest.raises(TypeError, match=r"^checkpoint:"):
        gf.Trainer(m, checkpoint=3)


def test_checkpoint_every_epoch_holds_the_last_epoch(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    y = X[:, 0] - X[:, 1]
    m = gf.MLP([2, 4, 1], seed=0)
    path = tmp_path / "c.npz"
    gf.train(m, X, y, optimizer="adam", epochs=3, seed=0, checkpoint=path, checkpoint_every=1)
    t = gf.load_trainer(path)
    assert t.epoch == 3 and np.array_equal(t.model.params, m.params)
