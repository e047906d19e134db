"""The CPU gradfit runs on, and the C core's block sizes and thresholds
chosen for it.

Three steps, the middle one a pure function so that it can be tested with
recorded CPU descriptions:

- ``read_cpu()``: vendor, family, model, name, ISA flags, cache sizes and
  clock, from /proc/cpuinfo and sysfs (Linux) or sysctl (macOS); a few small
  file reads, well under a millisecond.
- ``choose(cpu, isa, env)``: the choices (csrc/tuning.h and pool.h say what
  each one does), each with its source ("detected", "default" or "env") and
  one line on why.
- ``apply()``: hands them to the C core (at import, from gradfit.config).

No choice changes a result's bits: the k blocks only move where C is
reloaded between blocks of the same sums, and the thresholds only decide
whether a product is split over threads (each part writes its own outputs
with the one-thread code). The register block (MR x NR) is compiled per ISA
path, so it is chosen with the path (``GRADFIT_SIMD``), not here.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import sys
import warnings
from typing import Any

ENV = "GRADFIT_TUNING"
KIB = 1024

#: bytes of a vector register on each ISA path
VEC_BYTES = {"avx512": 64, "avx2": 32, "baseline": 16, "neon": 16}

#: tuning.h's defaults (what the C core uses when nothing is set)
DEFAULTS = {"kc_panel_bytes": 16384, "matmul_kc": 256, "a_cols_span": 16384, "spin_ns": 200000,
            "parallel_macs": 1 << 21, "parallel_outs": 1 << 16, "parallel_small": 1 << 14,
            "parallel_update": 1 << 16}
#: GF_KC_BOUND: the most kc the stack buffers and the forward workspace allow
KC_BOUND = 256
#: the keys GRADFIT_TUNING takes (integers) besides isa
ENV_KEYS = ("kc", "matmul_kc", "a_cols_span", "spin_ns", "parallel_macs", "parallel_outs",
            "parallel_small", "parallel_update")
_THRESHOLDS = ("parallel_macs", "parallel_outs", "parallel_small", "parallel_update")


@dataclasses.dataclass(frozen=True)
class Cpu:
    """What gradfit knows of a CPU. Sizes in bytes and the clock in MHz; 0
    where unknown. `source` names where the caches came from."""

    vendor: str = ""                  # "AuthenticAMD", "GenuineIntel", "ARM", "Apple"
    family: int = 0
    model: int = 0
    name: str = ""
    flags: frozenset = frozenset()    # ISA flags as /proc/cpuinfo spells them (avx2, avx512f, asimd...)
    l1d: int = 0
    l2: int = 0
    l3: int = 0
    mhz: int = 0
    arch: str = ""                    # "x86_64", "aarch64", "arm64"
    source: str = "default"


# ---- reading the CPU -------------------------------------------------------

def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _size(text):
    """'48K', '1024K', '32M', '65536' -> bytes (0 if unreadable)."""
    text = text.strip().upper()
    scale = {"K": KIB, "M": KIB * KIB, "G": KIB ** 3}.get(text[-1:], 1)
    try:
        return int(text.rstrip("KMGB") or 0) * scale
    except ValueError:
        return 0


def _linux_cpuinfo():
    """The first processor's fields of /proc/cpuinfo (lower-case keys)."""
    fields = {}
    for line in _read("/proc/cpuinfo").splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _linux_caches():
    """(l1d, l2, l3) of cpu0 from sysfs."""
    found = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    for i in range(8):
        d = f"{base}/index{i}"
        level, kind = _read(f"{d}/level"), _read(f"{d}/type")
        if not level:
            break
        if kind in ("Data", "Unified"):
            found.setdefault(int(level), _size(_read(f"{d}/size")))
    return found.get(1, 0), found.get(2, 0), found.get(3, 0)


def _int(text, base=10):
    try:
        return int(text, base)
    except (TypeError, ValueError):
        return 0


def _read_linux():
    info = _linux_cpuinfo()
    l1d, l2, l3 = _linux_caches()
    khz = _int(_read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"))
    mhz = khz // 1000 if khz else int(float(info.get("cpu mhz", "0") or 0))
    if "vendor_id" in info:                      # x86
        return Cpu(info["vendor_id"], _int(info.get("cpu family")), _int(info.get("model")),
                   info.get("model name", ""), frozenset(info.get("flags", "").split()), l1d, l2, l3,
                   mhz, platform.machine(), "sysfs" if l1d else "default")
    implementer = _int(info.get("cpu implementer", "0"), 16)   # aarch64
    part = _int(info.get("cpu part", "0"), 16)
    vendor = {0x41: "ARM", 0x61: "Apple", 0xc0: "Ampere"}.get(implementer, f"0x{implementer:x}")
    return Cpu(vendor, implementer, part, info.get("model name", "") or f"{vendor} part 0x{part:x}",
               frozenset(info.get("features", "").split()), l1d, l2, l3, mhz, platform.machine(),
               "sysfs" if l1d else "default")


def _read_macos():
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return Cpu(arch=platform.machine())

    def value(name, kind=ctypes.c_int64):
        out = kind()
        size = ctypes.c_size_t(ctypes.sizeof(out))
        ok = libc.sysctlbyname(name.encode(), ctypes.byref(out), ctypes.byref(size), None, 0) == 0
        return out.value if ok else 0

    buf = ctypes.create_string_buffer(256)
    size = ctypes.c_size_t(256)
    name = buf.value.decode() if libc.sysctlbyname(b"machdep.cpu.brand_string", buf, ctypes.byref(size),
                                                   None, 0) == 0 else ""
    # perflevel0: the performance cores of Apple silicon (absent on Intel Macs)
    l1d = value("hw.perflevel0.l1dcachesize") or value("hw.l1dcachesize")
    l2 = value("hw.perflevel0.l2cachesize") or value("hw.l2cachesize")
    arm = platform.machine() == "arm64"
    return Cpu("Apple" if arm else "GenuineIntel", 0, 0, name, frozenset({"asimd"} if arm else ()), l1d, l2,
               value("hw.l3cachesize"), value("hw.cpufrequency_max") // 1000000, platform.machine(),
               "sysctl" if l1d else "default")


def read_cpu() -> Cpu:
    """This machine's Cpu (empty fields where the OS does not say)."""
    try:
        if sys.platform.startswith("linux"):
            return _read_linux()
        if sys.platform == "darwin":
            return _read_macos()
    except Exception:  # noqa: BLE001 - an odd /proc or sysctl must never break the import
        pass
    return Cpu(arch=platform.machine(), name=platform.processor())


# ---- the choice --------------------------------------------------------------

def isa_for(cpu: Cpu) -> str:
    """The ISA path gradfit's dispatch picks for `cpu`'s flags (csrc/dispatch.c:
    AVX-512 F/VL/BW/DQ with AVX2 and FMA, else AVX2 with FMA; NEON on aarch64)."""
    f = cpu.flags
    if {"avx2", "fma"} <= f:
        return "avx512" if {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= f else "avx2"
    if "asimd" in f or cpu.arch in ("aarch64", "arm64"):
        return "neon"
    return "baseline"


def microarch(cpu: Cpu) -> str:
    """A name for the core design, from vendor, family and model ("" if unknown)."""
    if cpu.vendor == "AuthenticAMD":
        if cpu.family == 0x1A:
            return "zen5"
        if cpu.family == 0x19:
            return "zen4" if cpu.model >= 0x10 and "avx512f" in cpu.flags else "zen3"
        if cpu.family == 0x17:
            return "zen2" if cpu.model >= 0x30 else "zen1"
    if cpu.vendor == "GenuineIntel" and cpu.family == 6:
        return {0x55: "skylake-x", 0x6A: "icelake-x", 0x6C: "icelake-x", 0x7E: "icelake",
                0x8F: "sapphirerapids", 0xCF: "emeraldrapids", 0x3F: "haswell",
                0x4F: "broadwell", 0x5E: "skylake", 0x9E: "skylake"}.get(cpu.model, "")
    if cpu.vendor == "ARM":
        return {0xD0C: "neoverse-n1", 0xD40: "neoverse-v1", 0xD4F: "neoverse-v2"}.get(cpu.model, "")
    if cpu.vendor == "Apple" or cpu.name.startswith("Apple M"):
        return "apple-m"
    return ""


#: float32 multiply-add lanes per cycle of the vector units (FMA pipes x
#: their width), where it differs from "2 pipes of the path's width": Zen 4
#: runs 512-bit operations as two 256-bit halves; Apple's cores have four
#: 128-bit pipes
_FMA_LANES = {"zen4": 16, "zen3": 16, "zen2": 16, "zen1": 8, "apple-m": 16, "neoverse-n1": 8}


def _rates(cpu, isa):
    """(multiply-adds per ns, elements per ns) of one thread: the model the
    thread thresholds use together with the pool's measured wake-up cost."""
    lanes = VEC_BYTES.get(isa, 16) // 4
    per_cycle = min(2 * lanes, _FMA_LANES.get(microarch(cpu), 2 * lanes))
    ghz = cpu.mhz / 1000 if cpu.mhz else 2.5
    # about 70% of the FMA peak in the packed products; a streaming pass
    # moves about one vector per two cycles
    return round(0.7 * per_cycle * ghz, 2), round(lanes * ghz / 2, 2)


def _pick(out, key, value, source, why):
    out[key] = {"value": value, "source": source, "why": why}


def _pow2_floor(x):
    return 1 << (max(int(x), 1).bit_length() - 1)


def _blocks(cpu, isa, out):
    """The k blocks and the in-place span from the caches (as BLIS sizes
    its blocks: the micro-panels a micro-kernel call reads share L1 with
    room to spare; the packed block of B stays in L2)."""
    vec = VEC_BYTES.get(isa, 16)
    l1d, l2 = cpu.l1d, cpu.l2
    row = 2 * vec                           # bytes of one k row of a packed NR panel (any dtype)
    if l1d:
        # the B panel (kc rows of NR) and the A micro-panel (MR x kc, float32) in 2/3 of L1
        mr = 8 if vec == 64 else 6
        kc = (l1d * 2 // 3) // (row + mr * 4) // 32 * 32
        if l2:                              # a 512-wide B's packed k block in half of L2
            kc = min(kc, (l2 // 2) // (512 * 4) // 32 * 32)
        kc = max(64, min(KC_BOUND, kc))
        _pick(out, "kc", kc, "detected", f"B panel ({kc} x {row} B) and A micro-panel in 2/3 of "
              f"L1d ({l1d // KIB} KiB); a 512-wide packed k block in half of L2")
        mkc = max(64, min(1024, _pow2_floor((l1d * 2 // 3) // row)))
        _pick(out, "matmul_kc", mkc, "detected", f"{mkc} k rows of an NR-wide B block in 2/3 of L1d")
        span = max(4 * KIB, min(64 * KIB, _pow2_floor(l1d // 2)))
        _pick(out, "a_cols_span", span, "detected", "half of L1d for a transposed A read in place")
    else:
        kc = max(8, min(KC_BOUND, DEFAULTS["kc_panel_bytes"] // row))
        _pick(out, "kc", kc, "default", "caches unknown: tuning.h's 16 KiB panel")
        _pick(out, "matmul_kc", DEFAULTS["matmul_kc"], "default", "caches unknown: tuning.h")
        _pick(out, "a_cols_span", DEFAULTS["a_cols_span"], "default", "caches unknown: tuning.h")


def choose(cpu: Cpu, isa: str, env: str | None = None) -> dict[str, dict[str, Any]]:
    """The tunables for `cpu` on ISA path `isa` ("avx512", "avx2",
    "baseline" or "neon"), overridden by `env` (GRADFIT_TUNING's text:
    "key=value,..."; see ENV_KEYS). Returns {name: {"value", "source",
    "why"}}. A pure function: the same arguments, the same answer. Raises
    ValueError naming GRADFIT_TUNING for an entry it cannot use."""
    out: dict[str, dict[str, Any]] = {}
    arch = microarch(cpu)
    vec = VEC_BYTES.get(isa, 16)
    mr, nr = (8 if vec == 64 else 6), 2 * vec // 4
    why = (f"the {isa} path's register block ({mr} rows x 2 vectors)"
           + ("; 512-bit operations run as two halves on Zen 4, which the AVX2 path matches in speed"
              " (issue #21), and the AVX-512 path keeps its bits" if arch == "zen4" and isa == "avx512" else ""))
    _pick(out, "microarch", arch or "unknown", "detected" if arch else "default",
          f"vendor {cpu.vendor or '?'} family {cpu.family} model {cpu.model}")
    _pick(out, "mr_nr_float32", f"{mr}x{nr}", "compiled", why)
    _blocks(cpu, isa, out)
    _pick(out, "spin_ns", DEFAULTS["spin_ns"], "default", "longer than the gap between two products of a step")
    macs, elems = _rates(cpu, isa)
    _pick(out, "macs_per_ns", macs, "detected" if cpu.mhz else "default",
          f"70% of {min(2 * vec // 4, _FMA_LANES.get(arch, 2 * vec // 4))} float32 FMA lanes per cycle at "
          f"{(cpu.mhz or 2500) / 1000:g} GHz")
    _pick(out, "elems_per_ns", elems, "detected" if cpu.mhz else "default", "one vector per two cycles")
    for key in _THRESHOLDS:
        _pick(out, key, "measured", "measured",
              "from the pool's wake-up cost, measured when it starts, and the rates above")
    return _override(out, env, vec)


def _override(out, env, vec):
    """Applies GRADFIT_TUNING's entries to the choices in `out`."""
    if not env or not env.strip():
        return out
    for item in env.split(","):
        if not item.strip():
            continue
        key, sep, text = (s.strip() for s in item.partition("="))
        if key in ("mr", "nr", "mr_nr_float32"):
            raise ValueError(f"{ENV}: {key} is compiled per ISA path; choose the path with GRADFIT_SIMD "
                             f"(got {item.strip()!r})")
        if not sep or key not in ENV_KEYS:
            raise ValueError(f"{ENV}: expected comma-separated key=value entries with keys among "
                             f"{', '.join(ENV_KEYS)}; got {item.strip()!r}")
        try:
            value = int(text, 0)
        except ValueError:
            value = -1
        if value < 0 or (key == "kc" and not 8 <= value <= KC_BOUND):
            bound = f"an integer in [8, {KC_BOUND}]" if key == "kc" else "a non-negative integer"
            raise ValueError(f"{ENV}: {key} expected {bound}, got {text!r}")
        _pick(out, key, value, "env", f"set by {ENV}")
    if any(out[k]["source"] == "env" for k in _THRESHOLDS):
        for k in _THRESHOLDS:
            if out[k]["source"] != "env":
                _pick(out, k, DEFAULTS[k], "default", f"tuning.h ({ENV} set another threshold)")
    return out


def to_core(choices: dict[str, dict[str, Any]], isa: str) -> dict[str, Any]:
    """The C core's fields (gradfit._core.tuning_set) for `choices`."""
    v = {k: c["value"] for k, c in choices.items()}
    fields = {"panel_bytes": v["kc"] * 2 * VEC_BYTES.get(isa, 16), "matmul_kc": v["matmul_kc"],
              "a_cols_span": v["a_cols_span"], "spin_ns": v["spin_ns"], "macs_per_ns": v["macs_per_ns"],
              "elems_per_ns": v["elems_per_ns"]}
    measured = any(c["source"] == "measured" for k, c in choices.items() if k in _THRESHOLDS)
    fields["derive"] = int(measured)
    if not measured:
        fields.update({k: v[k] for k in _THRESHOLDS})
    return fields


def apply(core, cpu: Cpu | None = None) -> dict[str, dict[str, Any]]:
    """Chooses for this CPU and the path `core` uses, hands the choice to the
    C core and returns it. An unusable GRADFIT_TUNING warns and is ignored."""
    cpu = read_cpu() if cpu is None else cpu
    isa = core.simd_get()
    if isa == "baseline" and cpu.arch in ("aarch64", "arm64"):
        isa = "neon"
    try:
        choices = choose(cpu, isa, os.environ.get(ENV))
    except ValueError as e:
        warnings.warn(f"{e}; using the detected tuning instead", RuntimeWarning, stacklevel=2)
        choices = choose(cpu, isa)
    core.tuning_set(to_core(choices, isa))
    return choices
