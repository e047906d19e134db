"""Shared fixtures."""
import pytest

import gradfit as gf

SIMD_PATHS = gf.config()["simd_available"]


@pytest.fixture(params=SIMD_PATHS)
def simd_path(request):
    """Runs the test once on each SIMD path the CPU supports (the C core picks
    one at run time: the paths differ in rounding only), then restores the
    path that was in use."""
    previous = gf.simd()
    gf.simd(request.param)
    assert gf.simd() == request.param
    yield request.param
    gf.simd(previous)


def pytest_addoption(parser):
    parser.addoption("--build-wheels", action="store_true",
                     help="also run the tests that build a wheel from the tree (two minutes on 2 cores; "
                          ".ci/run runs them)")


def pytest_configure(config):
    config.addinivalue_line("markers", "builds_wheel: builds a wheel of the tree (run with --build-wheels)")
    import signal
    # A shell without job control starts a background job (`bash .ci/run &`) with SIGINT
    # ignored, and gradfit, like Python, leaves an ignored SIGINT ignored. The Ctrl-C tests
    # need what an interactive process has: Python's handler here, the default in the
    # processes they start (an exec resets a handled signal, not an ignored one).
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config, items):
    import os
    # tools/build_wheels.sh (.ci/run step 2) hands them the sdist and wheel it built: nothing to build here
    if config.getoption("--build-wheels") or (os.environ.get("GRADFIT_SDIST") and os.environ.get("GRADFIT_WHEEL")):
        return
    skip = pytest.mark.skip(reason="builds a wheel: run with --build-wheels (.ci/run checks the wheel it builds)")
    for item in items:
        if "builds_wheel" in item.keywords:
            item.add_marker(skip)
