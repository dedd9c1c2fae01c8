"""Co-simulate the LUT array (rtl_models/verilog/lut_array.v) under cocotb, Icarus or Verilator:
a binding of rtl_models.cosim.

    from rtl_models.lut_array_cosim import run_lut_array_cosim_batch
    from sim.lut_array import LutArrayConfig
    res = run_lut_array_cosim_batch([(x, packed, exps, group_size), ...], sim="verilator",
                                    config=LutArrayConfig(lanes=4, double_buffer=True))
    res[0].values, res[0].cycles   # values: y, int32 (M, N)

P and DBUF are build parameters; the bench is rtl_models/benches/lut_array_bench.py, which checks
y and the start->done cycles against sim.lut_array and raises CosimError on any difference. Every
workload of a batch goes through one simulator run; the buffers are sized for the largest one
(address bits per buffer, at least 2; the per-lane buffers hold ceil(N/P) rows), so a handful of
builds serve every shape.
"""

from __future__ import annotations

import os

import numpy as np

from rtl_models.cosim import Binding, CosimError, CosimOutcome, cosim_batch
from rtl_models.lut_cosim import CASE_DOC, buffer_params, lut_case
from sim.lut_array import LutArrayConfig, lane_slots

__all__ = ["BINDING", "BENCH_MODULE", "TOP", "CosimError", "rtl_params", "run_lut_array_cosim",
           "run_lut_array_cosim_batch"]

TOP = "lut_array"
BENCH_MODULE = "rtl_models.benches.lut_array_bench"


def rtl_params(config: LutArrayConfig) -> dict:
    """The Verilog parameters a configuration fixes (buffer sizes are the defaults here)."""
    return {"P": int(config.lanes), "DBUF": int(bool(config.double_buffer)), "EXP_W": int(config.exp_bits)}


def _params(cfg: LutArrayConfig, workloads) -> dict[str, int]:
    def slots(p):
        return lane_slots(p.shape[1], cfg.lanes)

    return buffer_params(TOP, {"XAW": max(x.size for x, *_ in workloads),
                               "WAW": max(p.shape[0] * p.shape[2] * slots(p) for _, p, *_ in workloads),
                               "EAW": max(e.shape[0] * e.shape[2] * slots(p) for _, p, e, _ in workloads),
                               "YAW": max(x.shape[0] * slots(p) for x, p, *_ in workloads)}) | rtl_params(cfg)


BINDING = Binding(top=TOP, bench=BENCH_MODULE, params=_params, config=LutArrayConfig,
                  check_case=lut_case(lambda cfg: cfg.pe), arity=4, case_doc=CASE_DOC, dtype=np.int32)


def run_lut_array_cosim(x, packed, exps, group_size: int, sim: str = "icarus", **kw) -> CosimOutcome:
    """One workload; see :func:`run_lut_array_cosim_batch`."""
    return run_lut_array_cosim_batch([(x, packed, exps, group_size)], sim=sim, **kw)[0]


def run_lut_array_cosim_batch(workloads, sim: str = "icarus", *, config: LutArrayConfig | None = None,
                              waves: bool = False, seed: int = 0,
                              build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Run (x int8 (M, K), packed uint8 (q, N, K/8), exps (q, N, K/g) in 0..2^exp_bits-1,
    group_size) workloads through lut_array (P = config.lanes, DBUF = config.double_buffer) in one
    simulator run, in order."""
    return cosim_batch(BINDING, workloads, LutArrayConfig() if config is None else config, sim=sim, seed=seed,
                       waves=waves, build_root=build_root)
