"""A missing optional extra gives one message that says what to install, the
same for each: '<what> needs <package>: pip install <package> (or
"gradfit[<extra>]")', never a bare ModuleNotFoundError."""
import os
import pathlib
import subprocess
import sys

import pytest

import gradfit

CASES = [
    ("sklearn", "import gradfit.sklearn",
     'gradfit.sklearn needs scikit-learn: pip install scikit-learn (or "gradfit[sklearn]")'),
    ("matplotlib", "import gradfit as gf; gf.plot.loss_curve({'loss': [1.0, 0.5]})",
     'gradfit.plot needs matplotlib: pip install matplotlib (or "gradfit[plot]")'),
    ("torch", "import gradfit as gf; gf.MLP([2, 1]).to_torch()",
     'to_torch needs torch: pip install torch (or "gradfit[torch]")'),
    ("onnx", "import gradfit as gf; gf.MLP([2, 1]).to_onnx('m.onnx')",
     'to_onnx needs onnx: pip install onnx (or "gradfit[onnx]")'),
    ("pyarrow", "import gradfit as gf; open('t.parquet', 'w').close(); gf.data.read_parquet('t.parquet', 'y')",
     'read_parquet needs pyarrow: pip install pyarrow (or "gradfit[parquet]")'),
]


@pytest.mark.parametrize("blocked, code, message", CASES, ids=[c[0] for c in CASES])
def test_a_missing_extra_says_what_to_install(tmp_path, blocked, code, message):
    # the package made unimportable, as if it were not installed
    script = f"import sys; sys.modules[{blocked!r}] = None\n{code}\n"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(pathlib.Path(gradfit.__file__).resolve().parent.parent)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env=env)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last == f"ImportError: {message}", out.stderr[-1500:]
