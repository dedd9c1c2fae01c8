"""Co-simulate the multiplier-adder tree engine and the 3D-cube (rtl_models/verilog/tree_gemm.v)
under cocotb.

    from rtl_models.tree_gemm_cosim import run_tree_cosim_batch
    res = run_tree_cosim_batch([(a, b)], TreeConfig(16, 4, "sbw"), sim="verilator")[0]   # or "mult", "csa"
    res.c, res.fold_cycles

A thin layer over rtl_models.runner.run_bench; the bench (rtl_models/benches/tree_gemm_bench.py)
checks C and every fold's cycles against sim.adder_tree and raises CosimError on a difference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtl_models.runner import SIMULATORS, run_bench
from sim.adder_tree import TreeConfig, simulate_gemm

BENCH_MODULE = "rtl_models.benches.tree_gemm_bench"
TOPLEVEL = "tree_gemm"
PE_KINDS = {"mult": 0, "sbw": 1, "csa": 2}  # sim.adder_tree.PES -> tree_gemm.v PE_KIND


@dataclass(frozen=True)
class TreeCosimResult:
    c: np.ndarray  # int32 (M, N)
    fold_cycles: list[int]
    cycles: int
    sim: str
    build_dir: Path


def rtl_params(cfg: TreeConfig) -> dict[str, int]:
    params = {"K": cfg.k, "N": cfg.n, "PE_KIND": PE_KINDS[cfg.pe], "IDX_W": max(1, (cfg.k - 1).bit_length())}
    if cfg.rows != 1:  # only then, so the tree engine's build folders keep their names
        params["ROWS"] = cfg.rows
    return params


def run_tree_cosim_batch(workloads, cfg: TreeConfig, sim: str = "icarus", seed: int = 0,
                         build_root: str | os.PathLike | None = None) -> list[TreeCosimResult]:
    """Run several (a, b) int8 GEMMs through one simulator run of the engine ``cfg``."""
    if not isinstance(cfg, TreeConfig):
        raise TypeError(f"cfg must be a sim.adder_tree.TreeConfig, got {type(cfg).__name__}")
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if isinstance(workloads, np.ndarray) or not isinstance(workloads, (list, tuple)) or not workloads:
        raise ValueError("workloads must be a non-empty list of (a, b) int8 matrix pairs")
    job = {"k": np.int64(cfg.k), "n": np.int64(cfg.n), "pe": np.array(cfg.pe), "rows": np.int64(cfg.rows),
           "count": np.int64(len(workloads))}
    for i, w in enumerate(workloads):
        if not isinstance(w, (tuple, list)) or len(w) != 2:
            raise ValueError(f"workload {i} must be an (a, b) pair")
        a, b = w
        simulate_gemm(a, b, cfg)  # validates dtype, shapes and K with the model's messages
        job[f"a_{i}"], job[f"b_{i}"] = np.asarray(a, np.int8), np.asarray(b, np.int8)
    run = run_bench(sim, TOPLEVEL, rtl_params(cfg), BENCH_MODULE, job, seed=seed, build_root=build_root)
    return [TreeCosimResult(run.outputs[f"c_{i}"].astype(np.int32), [int(x) for x in run.outputs[f"fold_cycles_{i}"]],
                            int(run.outputs[f"fold_cycles_{i}"].sum()), sim, run.build_dir)
            for i in range(len(workloads))]
