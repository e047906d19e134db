"""The tuning from the CPU (gradfit._tuning): recorded descriptions of CPUs
gradfit meets get block sizes that fit their caches and the register block of
the ISA path their flags allow; GRADFIT_TUNING forces the choices; and every
block size and thread threshold the selector can produce gives the same bits."""
import os
import subprocess
import sys

import numpy as np
import pytest

import gradfit as gf
from gradfit import _core, _tuning
from gradfit._tuning import Cpu

K, M = 1024, 1024 * 1024
AVX512 = frozenset({"sse2", "avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq"})
AVX2 = frozenset({"sse2", "avx2", "fma"})
# (vendor, family, model, name, flags, L1d, L2, L3, MHz): as /proc/cpuinfo, sysfs and sysctl report them
RECORDED = {
    "skylake-x": Cpu("GenuineIntel", 6, 0x55, "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", AVX512,
                     32 * K, 1 * M, 27 * M + 512 * K, 3700, "x86_64", "sysfs"),
    "icelake-x": Cpu("GenuineIntel", 6, 0x6A, "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", AVX512,
                     48 * K, 1280 * K, 60 * M, 3400, "x86_64", "sysfs"),
    "sapphirerapids": Cpu("GenuineIntel", 6, 0x8F, "Intel(R) Xeon(R) Platinum 8480+", AVX512,
                          48 * K, 2 * M, 105 * M, 3800, "x86_64", "sysfs"),
    "zen3": Cpu("AuthenticAMD", 0x19, 0x01, "AMD EPYC 7763 64-Core Processor", AVX2,
                32 * K, 512 * K, 32 * M, 3529, "x86_64", "sysfs"),
    "zen4": Cpu("AuthenticAMD", 0x19, 0x11, "AMD EPYC 9R14", AVX512, 32 * K, 1 * M, 32 * M, 3700,
                "x86_64", "sysfs"),
    "zen5": Cpu("AuthenticAMD", 0x1A, 0x02, "AMD EPYC", AVX512, 48 * K, 1 * M, 32 * M, 2596, "x86_64", "sysfs"),
    "neoverse-n1": Cpu("ARM", 0x41, 0xD0C, "ARM part 0xd0c", frozenset({"fp", "asimd"}), 64 * K, 1 * M, 32 * M,
                       2500, "aarch64", "sysfs"),
    "apple-m": Cpu("Apple", 0, 0, "Apple M1", frozenset({"asimd"}), 128 * K, 12 * M, 0, 3200, "arm64", "sysctl"),
}
ISA = {"skylake-x": "avx512", "icelake-x": "avx512", "sapphirerapids": "avx512", "zen3": "avx2",
       "zen4": "avx512", "zen5": "avx512", "neoverse-n1": "neon", "apple-m": "neon"}


def values(choices):
    return {k: c["value"] for k, c in choices.items()}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_cpus_get_blocks_that_fit_their_caches(name):
    cpu = RECORDED[name]
    isa = _tuning.isa_for(cpu)
    assert isa == ISA[name]
    choices = _tuning.choose(cpu, isa)
    v = values(choices)
    assert v["microarch"] == name
    vec = _tuning.VEC_BYTES[isa]
    mr = 8 if vec == 64 else 6
    assert v["mr_nr_float32"] == f"{mr}x{2 * vec // 4}"
    # the B panel and the A micro-panel a micro-kernel call reads fit in L1, with a third of it spare
    assert 64 <= v["kc"] <= _tuning.KC_BOUND and v["kc"] % 32 == 0
    assert v["kc"] * (2 * vec + mr * 4) <= cpu.l1d * 2 // 3
    # a 512-wide layer's packed k block in half of L2
    assert v["kc"] * 512 * 4 <= cpu.l2 // 2
    assert v["matmul_kc"] * 2 * vec <= cpu.l1d
    assert 4 * K <= v["a_cols_span"] <= cpu.l1d // 2
    assert all(choices[k]["source"] == "detected" for k in ("kc", "matmul_kc", "a_cols_span"))
    assert all(choices[k]["source"] == "measured" for k in _tuning._THRESHOLDS)
    # the C fields: kc's panel in bytes, the thresholds left to the pool's measurement
    core = _tuning.to_core(choices, isa)
    assert core["panel_bytes"] == v["kc"] * 2 * vec and core["derive"] == 1
    assert _tuning.choose(cpu, isa) == choices          # a pure function


def test_choices_differ_where_the_cpus_do():
    kc = {name: values(_tuning.choose(cpu, ISA[name]))["kc"] for name, cpu in RECORDED.items()}
    assert kc["zen3"] < kc["zen5"]           # 32 KiB and 512 KiB L2 against 48 KiB and 1 MiB
    assert kc["skylake-x"] < kc["sapphirerapids"]
    # Zen 4 runs AVX-512 as two 256-bit halves: half Zen 5's multiply-adds per cycle
    rate = {n: values(_tuning.choose(RECORDED[n], "avx512"))["macs_per_ns"] for n in ("zen4", "zen5")}
    assert rate["zen4"] / 3.7 == pytest.approx(rate["zen5"] / 2.596 / 2, rel=1e-2)
    # AVX2 where AVX-512 is absent, and the AVX2 path's 6x16 register block
    assert _tuning.isa_for(RECORDED["zen3"]) == "avx2"
    assert values(_tuning.choose(RECORDED["zen3"], "avx2"))["mr_nr_float32"] == "6x16"


def test_unknown_caches_keep_the_defaults():
    choices = _tuning.choose(Cpu(arch="x86_64"), "avx512")
    assert values(choices)["kc"] == _tuning.DEFAULTS["kc_panel_bytes"] // 128 == 128
    assert choices["kc"]["source"] == "default" and choices["microarch"]["value"] == "unknown"
    core = _tuning.to_core(choices, "avx512")
    assert core["panel_bytes"] == 16384 and core["matmul_kc"] == 256 and core["a_cols_span"] == 16384


def test_the_environment_forces_the_choices():
    cpu = RECORDED["zen4"]
    choices = _tuning.choose(cpu, "avx512", "kc=192, matmul_kc=128,parallel_macs=5000")
    assert choices["kc"] == {"value": 192, "source": "env", "why": "set by GRADFIT_TUNING"}
    assert choices["matmul_kc"]["value"] == 128 and choices["parallel_macs"]["value"] == 5000
    # one threshold set: the others fall back to tuning.h's, nothing is derived
    assert choices["parallel_outs"] == {"value": 1 << 16, "source": "default",
                                        "why": "tuning.h (GRADFIT_TUNING set another threshold)"}
    core = _tuning.to_core(choices, "avx512")
    assert core["derive"] == 0 and core["parallel_macs"] == 5000 and core["panel_bytes"] == 192 * 128


@pytest.mark.parametrize("text, words", [
    ("kc=1000", "kc expected an integer in [8, 256], got '1000'"),
    ("kc=abc", "kc expected an integer in [8, 256], got 'abc'"),
    ("mc=3", "keys among kc, matmul_kc"),
    ("kc", "got 'kc'"),
    ("mr=6", "mr is compiled per ISA path; choose the path with GRADFIT_SIMD"),
    ("parallel_macs=-1", "parallel_macs expected a non-negative integer, got '-1'"),
])
def test_bad_environment_entries_are_named(text, words):
    with pytest.raises(ValueError, match="GRADFIT_TUNING") as info:
        _tuning.choose(RECORDED["zen5"], "avx512", text)
    assert words in str(info.value)


def _run(code, **env):
    full = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), **env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120)


def test_the_environment_reaches_the_core_and_config():
    out = _run("import gradfit as gf, gradfit._core as c; t = gf.config()['tuning'];"
               "print(t['kc']['value'], t['kc']['source'], c.tuning_get()['panel_bytes'],"
               " c.tuning_get()['parallel_macs'], c.tuning_get()['derive'], gf.simd())",
               GRADFIT_TUNING="kc=64,parallel_macs=12345")
    assert out.returncode == 0, out.stderr
    kc, source, panel, macs, derive, isa = out.stdout.split()
    assert (kc, source, int(macs), int(derive)) == ("64", "env", 12345, 0)
    assert int(panel) == 64 * 2 * _tuning.VEC_BYTES[isa]
    bad = _run("import gradfit as gf; print(gf.config()['tuning']['kc']['source'])", GRADFIT_TUNING="kc=9999")
    assert bad.returncode == 0 and bad.stdout.strip() != "env"
    assert "GRADFIT_TUNING: kc expected an integer in [8, 256], got '9999'" in bad.stderr


def test_config_reports_the_cpu_and_the_choices():
    c = gf.config()
    assert c["cpu"] and "family" in c["cpu_id"]
    assert set(c["caches"]) == {"l1d", "l2", "l3", "source"}
    for name in ("kc", "matmul_kc", "a_cols_span", "parallel_macs", "pool_wake_ns", "mr_nr_float32"):
        assert set(c["tuning"][name]) == {"value", "source", "why"}
    if sys.platform.startswith("linux") and os.path.exists("/sys/devices/system/cpu/cpu0/cache/index0"):
        assert c["caches"]["l1d"] > 0 and c["caches"]["source"] == "sysfs"
        cpu = _tuning.read_cpu()
        assert c["tuning"]["kc"]["value"] == values(_tuning.choose(cpu, gf.simd()))["kc"]


@pytest.fixture
def restore_tuning():
    before = _core.tuning_get()
    yield
    _core.tuning_set({k: v for k, v in before.items() if k != "wake_ns"})


def _train(sizes, n, threads, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, sizes[0])).astype(np.float32)
    y = rng.normal(size=(n, sizes[-1])).astype(np.float32)
    model = gf.MLP(sizes, activation="relu", dtype="float32", seed=1)
    gf.train(model, X, y, lr=1e-3, batch_size=n // 2, epochs=1, shuffle=False, n_threads=threads)
    return model.params.copy(), model.predict(X, n_threads=threads)


@pytest.mark.usefixtures("restore_tuning")
def test_every_block_size_and_thread_count_gives_the_same_bits(simd_path):
    """Shapes that cross every k block (300 > 256 > kc) and panel edge (37
    outputs), with each kc the selector can produce, the smallest matmul_kc
    and span, thresholds that split every product, and 1-5 threads."""
    sizes = [300, 37, 70, 3]
    want = None
    for kc in range(64, _tuning.KC_BOUND + 1, 32):
        vec = _tuning.VEC_BYTES[gf.simd()]
        _core.tuning_set({"panel_bytes": kc * 2 * vec, "matmul_kc": 16 if kc == 64 else 256,
                          "a_cols_span": 1024 if kc == 64 else 16384, "derive": 0,
                          "parallel_macs": 0, "parallel_outs": 0, "parallel_small": 0, "parallel_update": 0})
        for threads in (1, 2, 3, 5) if kc in (64, 256) else (1,):
            params, pred = _train(sizes, 64, threads)
            got = (params.tobytes(), pred.tobytes())
            if want is None:
                want = got
            assert got == want, (kc, threads)
