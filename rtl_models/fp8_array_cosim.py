"""Co-simulate the output-stationary FP8 MAC array (rtl_models/verilog/fp8_os_array.v) under cocotb.

    from sim.fp8_array import Fp8ArrayConfig
    from rtl_models.fp8_array_cosim import run_fp8_array_cosim_batch
    cfg = Fp8ArrayConfig(rows=3, cols=2, fmt_a="e4m3", fmt_b="e5m2", depth=8)
    res = run_fp8_array_cosim_batch([(a_codes, b_codes), ...], cfg, sim="verilator")
    res[0].c_bits, res[0].fold_cycles, res[0].cycles

A thin layer over rtl_models.runner.run_bench: every (a_codes M x K, b_codes K x N) GEMM of the
batch runs through one simulator start, fold by fold; the bench
(rtl_models/benches/fp8_array_bench.py) checks every C bit pattern and every fold's start->done
cycles against sim.fp8_array and raises :class:`~rtl_models.runner.CosimError` on any difference.
The Verilog is built with the config's parameters (R, C, FMT_A, FMT_B, DEPTH), one cached build
folder per (simulator, parameters).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtl_models.runner import SIMULATORS, run_bench
from sim.fp8_array import Fp8ArrayConfig, check_operands

BENCH_MODULE = "rtl_models.benches.fp8_array_bench"
TOP = "fp8_os_array"


@dataclass(frozen=True)
class Fp8ArrayCosimResult:
    """One GEMM on the RTL: C as FP32 bits (uint32, M x N) and the cycles measured per fold."""

    c_bits: np.ndarray
    fold_cycles: list[int]  # one per fold of sim.fp8_array.fold_schedule, in order
    cycles: int  # their sum
    sim: str
    build_dir: Path


def run_fp8_array_cosim_batch(workloads, cfg: Fp8ArrayConfig, sim: str = "icarus", seed: int = 0,
                              build_root: str | os.PathLike | None = None) -> list[Fp8ArrayCosimResult]:
    """Several FP8 GEMMs [(a_codes, b_codes), ...] through one fp8_os_array simulator run, in order."""
    if not isinstance(cfg, Fp8ArrayConfig):
        raise TypeError(f"cfg must be an Fp8ArrayConfig, got {type(cfg).__name__}")
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if isinstance(workloads, np.ndarray) or not isinstance(workloads, (list, tuple)) or not workloads:
        raise ValueError("workloads must be a non-empty list of (a_codes, b_codes) pairs")
    job = {"rows": np.int64(cfg.rows), "cols": np.int64(cfg.cols), "fmt_a": np.array(cfg.fmt_a),
           "fmt_b": np.array(cfg.fmt_b), "depth": np.int64(cfg.depth), "count": np.int64(len(workloads))}
    for i, w in enumerate(workloads):
        if not isinstance(w, (tuple, list)) or len(w) != 2:
            raise ValueError(f"workload {i} must be an (a_codes, b_codes) pair")
        try:
            a, b = check_operands(w[0], w[1], cfg)
        except (TypeError, ValueError) as e:
            raise type(e)(f"workload {i}: {e}") from None
        job[f"a_{i}"], job[f"b_{i}"] = a, b
    run = run_bench(sim, TOP, cfg.rtl_params, BENCH_MODULE, job, seed=seed, build_root=build_root)
    results = []
    for i in range(len(workloads)):
        fc = [int(x) for x in run.outputs[f"fold_cycles_{i}"]]
        results.append(Fp8ArrayCosimResult(run.outputs[f"c_{i}"].astype(np.uint32), fc, sum(fc), sim, run.build_dir))
    return results
