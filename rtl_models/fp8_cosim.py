"""Co-simulate the FP8 units (rtl_models/verilog/fp8_mul.v, fp32_add.v, fp8_mac.v) under cocotb:
three bindings of rtl_models.cosim sharing one bench.

    from rtl_models.fp8_cosim import run_fp8_mul_all_pairs, run_fp32_add_cosim, run_fp8_dot_cosim_batch
    p = run_fp8_mul_all_pairs("e4m3", "e4m3", sim="verilator")    # (256, 256) uint32 FP32 bits
    s = run_fp32_add_cosim(a_bits, b_bits)                         # uint32 FP32 bits
    res = run_fp8_dot_cosim_batch([(a_codes, b_codes), ...], cfg)  # res[i].value (FP32 bits), .cycles

The bench (rtl_models/benches/fp8_bench.py) checks every result (and the MAC's cycles) against
sim.fp8 and raises :class:`~rtl_models.cosim.CosimError` on any difference. One build folder per
(simulator, top, parameters). The multiplier and adder jobs' config is a dict naming the unit.
"""

from __future__ import annotations

import os

import numpy as np

from rtl_models.cosim import Binding, CosimOutcome, cosim_batch
from sim.fp8 import Fp8MacConfig, check_operands, get_format

BENCH_MODULE = "rtl_models.benches.fp8_bench"
MUL_TOP, ADD_TOP, MAC_TOP = "fp8_mul_array", "fp32_add_array", "fp8_mac"
#: multipliers side by side in the all-pairs build, per simulator (pairs per 1 ns step)
MUL_LANES = {"icarus": 256, "verilator": 32}
#: adders side by side in the adder build, per simulator
ADD_LANES = {"icarus": 64, "verilator": 16}


def _fmt_params(fmt_a: str, fmt_b: str) -> dict[str, int]:
    return {"FMT_A": get_format(fmt_a).code, "FMT_B": get_format(fmt_b).code}


MUL = Binding(top=MUL_TOP, bench=BENCH_MODULE, arity=0, case_doc="() (no operands)", dtype=np.uint32,
              params=lambda cfg, _: _fmt_params(cfg["fmt_a"], cfg["fmt_b"]) | {"LANES": cfg["lanes"]})
ADD = Binding(top=ADD_TOP, bench=BENCH_MODULE, params=lambda cfg, _: {"LANES": cfg["lanes"]},
              case_doc="(a_bits, b_bits) pair", dtype=np.uint32)
MAC = Binding(top=MAC_TOP, bench=BENCH_MODULE, config=Fp8MacConfig,
              check_case=lambda cfg, a, b: check_operands(a, b, cfg),
              params=lambda cfg, _: _fmt_params(cfg.fmt_a, cfg.fmt_b) | {"AW": cfg.addr_bits},
              case_doc="(a_codes, b_codes) pair", dtype=np.uint32)


def run_fp8_mul_all_pairs(fmt_a: str = "e4m3", fmt_b: str | None = None, sim: str = "icarus", seed: int = 0,
                          lanes: int | None = None,
                          build_root: str | os.PathLike | None = None) -> np.ndarray:
    """All 256 x 256 products on the RTL multiplier: p[a, b] as FP32 bits (uint32).

    ``lanes`` multipliers run side by side (a power of two in 1..256; default MUL_LANES[sim]):
    Icarus elaborates 256 lanes in a second, Verilator compiles them to C++ for ~45 s, so it
    gets 32 (its per-step cost is small, the 2048 steps take well under a second).
    """
    fa = get_format(fmt_a)
    fb = get_format(fmt_b if fmt_b is not None else fmt_a)
    lanes = MUL_LANES.get(sim, 1) if lanes is None else lanes  # an unknown sim is named by cosim_batch
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)) or not (
            1 <= lanes <= 256 and lanes & (lanes - 1) == 0):
        raise ValueError(f"lanes must be a power of two in 1..256, got {lanes!r}")
    cfg = {"unit": "mul", "fmt_a": fa.name, "fmt_b": fb.name, "lanes": int(lanes)}
    return cosim_batch(MUL, [()], cfg, sim=sim, seed=seed, build_root=build_root)[0].values.reshape(256, 256)


def run_fp32_add_cosim(a_bits, b_bits, sim: str = "icarus", seed: int = 0,
                       build_root: str | os.PathLike | None = None) -> np.ndarray:
    """a + b on the RTL adder, elementwise over 1-D arrays of FP32 bit patterns (uint32)."""
    a, b = np.asarray(a_bits), np.asarray(b_bits)
    for name, x in (("a_bits", a), ("b_bits", b)):
        if x.dtype != np.uint32 or x.ndim != 1:
            raise TypeError(f"{name} must be a 1-D uint32 array of FP32 bit patterns, got {x.dtype} {x.shape}")
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"a_bits and b_bits must be non-empty and of equal length, got {a.shape} and {b.shape}")
    cfg = {"unit": "add", "lanes": ADD_LANES.get(sim, 1)}  # an unknown sim is named by cosim_batch
    return cosim_batch(ADD, [(a, b)], cfg, sim=sim, seed=seed, build_root=build_root)[0].values


def run_fp8_dot_cosim_batch(workloads, cfg: Fp8MacConfig | None = None, sim: str = "icarus", seed: int = 0,
                            build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Several dot products [(a_codes, b_codes), ...] through one fp8_mac simulator run; each
    outcome's value is the FP32 result's bit pattern, its cycles the start->done cycles."""
    cfg = cfg if cfg is not None else Fp8MacConfig()
    return cosim_batch(MAC, workloads, cfg, sim=sim, seed=seed, build_root=build_root)
