"""Co-simulate the FP8 units (rtl_models/verilog/fp8_mul.v, fp32_add.v, fp8_mac.v) under cocotb.

    from rtl_models.fp8_cosim import run_fp8_mul_all_pairs, run_fp32_add_cosim, run_fp8_dot_cosim_batch
    p = run_fp8_mul_all_pairs("e4m3", "e4m3", sim="verilator")    # (256, 256) uint32 FP32 bits
    s = run_fp32_add_cosim(a_bits, b_bits)                         # uint32 FP32 bits
    res = run_fp8_dot_cosim_batch([(a_codes, b_codes), ...], cfg)  # result_bits, cycles per dot

Thin layers over rtl_models.runner.run_bench; the bench (rtl_models/benches/fp8_bench.py)
checks every result (and the MAC's cycles) against sim.fp8 and raises
:class:`~rtl_models.runner.CosimError` on any difference. One build folder per (simulator,
top, parameters).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtl_models.runner import SIMULATORS, run_bench
from sim.fp8 import Fp8MacConfig, check_operands, get_format

BENCH_MODULE = "rtl_models.benches.fp8_bench"
MUL_TOP, ADD_TOP, MAC_TOP = "fp8_mul_array", "fp32_add_array", "fp8_mac"
#: multipliers side by side in the all-pairs build, per simulator (pairs per 1 ns step)
MUL_LANES = {"icarus": 256, "verilator": 32}
#: adders side by side in the adder build, per simulator
ADD_LANES = {"icarus": 64, "verilator": 16}


def _check_sim_seed(sim, seed) -> None:
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")


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
    _check_sim_seed(sim, seed)
    lanes = MUL_LANES[sim] if lanes is None else lanes
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)) or not (
            1 <= lanes <= 256 and lanes & (lanes - 1) == 0):
        raise ValueError(f"lanes must be a power of two in 1..256, got {lanes!r}")
    job = {"unit": np.array("mul"), "fmt_a": np.array(fa.name), "fmt_b": np.array(fb.name),
           "lanes": np.int64(lanes)}
    params = {"FMT_A": fa.code, "FMT_B": fb.code, "LANES": int(lanes)}
    run = run_bench(sim, MUL_TOP, params, BENCH_MODULE, job, seed=seed, build_root=build_root)
    return run.outputs["p"].astype(np.uint32).reshape(256, 256)


def run_fp32_add_cosim(a_bits, b_bits, sim: str = "icarus", seed: int = 0,
                       build_root: str | os.PathLike | None = None) -> np.ndarray:
    """a + b on the RTL adder, elementwise over 1-D arrays of FP32 bit patterns (uint32)."""
    _check_sim_seed(sim, seed)
    a, b = np.asarray(a_bits), np.asarray(b_bits)
    for name, x in (("a_bits", a), ("b_bits", b)):
        if x.dtype != np.uint32 or x.ndim != 1:
            raise TypeError(f"{name} must be a 1-D uint32 array of FP32 bit patterns, got {x.dtype} {x.shape}")
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"a_bits and b_bits must be non-empty and of equal length, got {a.shape} and {b.shape}")
    n, lanes = a.size, ADD_LANES[sim]
    pad = (-n) % lanes
    job = {"unit": np.array("add"), "lanes": np.int64(lanes), "n": np.int64(n),
           "a": np.concatenate([a, np.zeros(pad, np.uint32)]), "b": np.concatenate([b, np.zeros(pad, np.uint32)])}
    run = run_bench(sim, ADD_TOP, {"LANES": lanes}, BENCH_MODULE, job, seed=seed, build_root=build_root)
    return run.outputs["s"].astype(np.uint32)[:n]


@dataclass(frozen=True)
class Fp8DotCosimResult:
    """One dot product on the RTL: the FP32 result bits and the start->done cycles measured."""

    result_bits: int
    cycles: int
    sim: str
    build_dir: Path


def run_fp8_dot_cosim_batch(workloads, cfg: Fp8MacConfig | None = None, sim: str = "icarus", seed: int = 0,
                            build_root: str | os.PathLike | None = None) -> list[Fp8DotCosimResult]:
    """Several dot products [(a_codes, b_codes), ...] through one fp8_mac simulator run."""
    cfg = cfg if cfg is not None else Fp8MacConfig()
    if not isinstance(cfg, Fp8MacConfig):
        raise TypeError(f"cfg must be an Fp8MacConfig, got {type(cfg).__name__}")
    _check_sim_seed(sim, seed)
    if isinstance(workloads, np.ndarray) or not isinstance(workloads, (list, tuple)) or not workloads:
        raise ValueError("workloads must be a non-empty list of (a_codes, b_codes) pairs")
    job = {"unit": np.array("mac"), "fmt_a": np.array(get_format(cfg.fmt_a).name),
           "fmt_b": np.array(get_format(cfg.fmt_b).name), "addr_bits": np.int64(cfg.addr_bits),
           "count": np.int64(len(workloads))}
    for i, w in enumerate(workloads):
        if not isinstance(w, (tuple, list)) or len(w) != 2:
            raise ValueError(f"workload {i} must be an (a_codes, b_codes) pair")
        try:
            a, b = check_operands(w[0], w[1], cfg)
        except (TypeError, ValueError) as e:
            raise type(e)(f"workload {i}: {e}") from None
        job[f"a_{i}"], job[f"b_{i}"] = a, b
    params = {"FMT_A": get_format(cfg.fmt_a).code, "FMT_B": get_format(cfg.fmt_b).code, "AW": cfg.addr_bits}
    run = run_bench(sim, MAC_TOP, params, BENCH_MODULE, job, seed=seed, build_root=build_root)
    return [Fp8DotCosimResult(int(r), int(c), sim, run.build_dir)
            for r, c in zip(run.outputs["result_bits"], run.outputs["cycles"])]
