"""Co-simulate the 2D-matrix (broadcast) engine (rtl_models/verilog/bcast_matrix.v) under cocotb.

    from rtl_models.bcast_cosim import run_bcast_cosim_batch
    res = run_bcast_cosim_batch([(a, b)], BroadcastConfig(4, 4, "booth_csa"), sim="icarus")[0]

The bench (rtl_models/benches/bcast_bench.py) checks C and every fold's cycles against
sim.broadcast and raises CosimError on a difference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtl_models.runner import SIMULATORS, run_bench
from sim.broadcast import BroadcastConfig, simulate_gemm

BENCH_MODULE = "rtl_models.benches.bcast_bench"
TOPLEVEL = "bcast_matrix"
PE_KINDS = {"mac": 0, "booth_csa": 1}


@dataclass(frozen=True)
class BcastCosimResult:
    c: np.ndarray
    fold_cycles: list[int]
    cycles: int
    sim: str
    build_dir: Path


def rtl_params(cfg: BroadcastConfig) -> dict[str, int]:
    return {"R": cfg.rows, "C": cfg.cols, "PE_KIND": PE_KINDS[cfg.pe], "ROW_W": max(1, (cfg.rows - 1).bit_length())}


def run_bcast_cosim_batch(workloads, cfg: BroadcastConfig, sim: str = "icarus", seed: int = 0,
                          build_root: str | os.PathLike | None = None) -> list[BcastCosimResult]:
    """Run several (a, b) int8 GEMMs through one simulator run of the grid ``cfg``."""
    if not isinstance(cfg, BroadcastConfig):
        raise TypeError(f"cfg must be a sim.broadcast.BroadcastConfig, got {type(cfg).__name__}")
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if isinstance(workloads, np.ndarray) or not isinstance(workloads, (list, tuple)) or not workloads:
        raise ValueError("workloads must be a non-empty list of (a, b) int8 matrix pairs")
    job = {"rows": np.int64(cfg.rows), "cols": np.int64(cfg.cols), "pe": np.array(cfg.pe),
           "count": np.int64(len(workloads))}
    for i, w in enumerate(workloads):
        if not isinstance(w, (tuple, list)) or len(w) != 2:
            raise ValueError(f"workload {i} must be an (a, b) pair")
        a, b = w
        simulate_gemm(a, b, cfg)  # validates with the model's messages
        job[f"a_{i}"], job[f"b_{i}"] = np.asarray(a, np.int8), np.asarray(b, np.int8)
    run = run_bench(sim, TOPLEVEL, rtl_params(cfg), BENCH_MODULE, job, seed=seed, build_root=build_root)
    return [BcastCosimResult(run.outputs[f"c_{i}"].astype(np.int32),
                             [int(x) for x in run.outputs[f"fold_cycles_{i}"]],
                             int(run.outputs[f"fold_cycles_{i}"].sum()), sim, run.build_dir)
            for i in range(len(workloads))]
