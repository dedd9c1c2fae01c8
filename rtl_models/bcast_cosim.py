"""Co-simulate the 2D-matrix (broadcast) engine (rtl_models/verilog/bcast_matrix.v) under cocotb:
a binding of rtl_models.cosim.

    from rtl_models.bcast_cosim import run_bcast_cosim_batch
    res = run_bcast_cosim_batch([(a, b)], BroadcastConfig(4, 4, "booth_csa"), sim="icarus")[0]
    res.values, res.fold_cycles   # values: C, int32

The bench (rtl_models/benches/bcast_bench.py) checks C and every fold's cycles against
sim.broadcast and raises CosimError on a difference.
"""

from __future__ import annotations

import os

import numpy as np

from rtl_models.cosim import Binding, CosimOutcome, cosim_batch, int8_gemm_case
from sim.broadcast import BroadcastConfig, simulate_gemm

BENCH_MODULE = "rtl_models.benches.bcast_bench"
TOPLEVEL = "bcast_matrix"
PE_KINDS = {"mac": 0, "booth_csa": 1}


def rtl_params(cfg: BroadcastConfig) -> dict[str, int]:
    return {"R": cfg.rows, "C": cfg.cols, "PE_KIND": PE_KINDS[cfg.pe], "ROW_W": max(1, (cfg.rows - 1).bit_length())}


BINDING = Binding(top=TOPLEVEL, bench=BENCH_MODULE, params=lambda cfg, _: rtl_params(cfg), config=BroadcastConfig,
                  check_case=int8_gemm_case(simulate_gemm), case_doc="(a, b) pair of int8 matrices", dtype=np.int32)


def run_bcast_cosim_batch(workloads, cfg: BroadcastConfig, sim: str = "icarus", seed: int = 0,
                          build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Run several (a, b) int8 GEMMs through one simulator run of the grid ``cfg``."""
    return cosim_batch(BINDING, workloads, cfg, sim=sim, seed=seed, build_root=build_root)
