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
