"""Co-simulate the output-stationary FP8 MAC array (rtl_models/verilog/fp8_os_array.v) under
cocotb: a binding of rtl_models.cosim.

    from sim.fp8_array import Fp8ArrayConfig
    from rtl_models.fp8_array_cosim import run_fp8_array_cosim_batch
    cfg = Fp8ArrayConfig(rows=3, cols=2, fmt_a="e4m3", fmt_b="e5m2", depth=8)
    res = run_fp8_array_cosim_batch([(a_codes, b_codes), ...], cfg, sim="verilator")
    res[0].values, res[0].fold_cycles, res[0].cycles   # values: C as FP32 bits (uint32, M x N)

Every (a_codes M x K, b_codes K x N) GEMM of the batch runs through one simulator start, fold by
fold; the bench (rtl_models/benches/fp8_array_bench.py) checks every C bit pattern and every
fold's start->done cycles against sim.fp8_array and raises
:class:`~rtl_models.cosim.CosimError` on any difference. The Verilog is built with the config's
parameters (R, C, FMT_A, FMT_B, DEPTH), one cached build folder per (simulator, parameters).
"""

from __future__ import annotations

import os

import numpy as np

from rtl_models.cosim import Binding, CosimOutcome, cosim_batch
from sim.fp8_array import Fp8ArrayConfig, check_operands

BENCH_MODULE = "rtl_models.benches.fp8_array_bench"
TOP = "fp8_os_array"

BINDING = Binding(top=TOP, bench=BENCH_MODULE, params=lambda cfg, _: cfg.rtl_params, config=Fp8ArrayConfig,
                  check_case=lambda cfg, a, b: check_operands(a, b, cfg), case_doc="(a_codes, b_codes) pair",
                  dtype=np.uint32)


def run_fp8_array_cosim_batch(workloads, cfg: Fp8ArrayConfig, sim: str = "icarus", seed: int = 0,
                              build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Several FP8 GEMMs [(a_codes, b_codes), ...] through one fp8_os_array simulator run, in order."""
    return cosim_batch(BINDING, workloads, cfg, sim=sim, seed=seed, build_root=build_root)
