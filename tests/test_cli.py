"""The `gradfit` command: the demo prints the tutorial's exact numbers."""
import re
import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "gradfit", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def demo():
    out = run("demo")
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_demo_worked_example(demo):
    assert "loss = (pred - y)^2 = 3.61" in demo
    assert "dL/dw = dL/dpred * dpred/dw = -3.8 * 2.1 = -7.98" in demo
    assert "dL/db = dL/dpred * dpred/db = -3.8 * 1 = -3.8" in demo
    assert "w = 1 - 0.01*(-7.98) = 1.0798, b = 0 - 0.01*(-3.8) = 0.038" in demo
    assert "new loss = 2.8710591364" in demo


def test_demo_linear_regression_reaches_the_closed_form(demo):
    line = next(l for l in demo.splitlines() if "closed form" in l)
    gd = next(l for l in demo.splitlines() if "full-batch GD" in l)
    w_cf, b_cf = map(float, re.search(r"w = (\S+), b = (\S+)$", line).groups())
    w_gd, b_gd = map(float, re.search(r"\): w = (\S+), b = (\S+) after", gd).groups())
    assert abs(w_gd - w_cf) < 1e-6 and abs(b_gd - b_cf) < 1e-6
    assert "(grad_tol)" in gd
    assert abs(w_cf + 1) < 0.05 and abs(b_cf - 5) < 0.1


def test_demo_softplus_and_timing(demo):
    fits = [l for l in demo.splitlines() if "softplus, float64)" in l]
    assert len(fits) == 2
    assert float(fits[0].split("-> ")[1]) < 1e-2      # 1-2-1
    assert float(fits[1].split("-> ")[1]) < 1e-3      # 1-16-1
    assert "backend c" in demo and "backend numpy" in demo


def test_config_and_usage():
    out = run("config")
    assert out.returncode == 0 and "simd_in_use" in out.stdout
    assert run().returncode == 2
    assert run("--version").stdout.startswith("gradfit ")
