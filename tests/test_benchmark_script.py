"""The benchmark script runs (a smoke test: it checks the rows, not speed)."""
import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def test_quick_benchmark_runs_and_backends_agree():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--workloads", "W2,W4", "--markdown"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| W2 ")]
    backends = {row.split("|")[2].strip(): row for row in rows}
    assert {"c", "numpy"} <= set(backends)
    # the last column: relative difference of the final loss against numpy
    assert float(backends["c"].split("|")[-2]) < 1e-12
    assert "skipped" in out.stdout      # W4 until cross-entropy exists
