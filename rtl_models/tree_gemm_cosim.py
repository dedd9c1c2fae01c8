"""Co-simulate the multiplier-adder tree engine and the 3D-cube (rtl_models/verilog/tree_gemm.v)
under cocotb: a binding of rtl_models.cosim.

    from rtl_models.tree_gemm_cosim import run_tree_cosim_batch
    res = run_tree_cosim_batch([(a, b)], TreeConfig(16, 4, "sbw"), sim="verilator")[0]   # or "mult", "csa"
    res.values, res.fold_cycles   # values: C, int32

The bench (rtl_models/benches/tree_gemm_bench.py) checks C and every fold's cycles against
sim.adder_tree and raises CosimError on a difference.
"""

from __future__ import annotations

import os

import numpy as np

from rtl_models.cosim import Binding, CosimOutcome, cosim_batch, int8_gemm_case
from sim.adder_tree import TreeConfig, simulate_gemm

BENCH_MODULE = "rtl_models.benches.tree_gemm_bench"
TOPLEVEL = "tree_gemm"
PE_KINDS = {"mult": 0, "sbw": 1, "csa": 2}  # sim.adder_tree.PES -> tree_gemm.v PE_KIND


def rtl_params(cfg: TreeConfig) -> dict[str, int]:
    params = {"K": cfg.k, "N": cfg.n, "PE_KIND": PE_KINDS[cfg.pe], "IDX_W": max(1, (cfg.k - 1).bit_length())}
    if cfg.rows != 1:  # only then, so the tree engine's build folders keep their names
        params["ROWS"] = cfg.rows
    return params


BINDING = Binding(top=TOPLEVEL, bench=BENCH_MODULE, params=lambda cfg, _: rtl_params(cfg), config=TreeConfig,
                  check_case=int8_gemm_case(simulate_gemm), case_doc="(a, b) pair of int8 matrices", dtype=np.int32)


def run_tree_cosim_batch(workloads, cfg: TreeConfig, sim: str = "icarus", seed: int = 0,
                         build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Run several (a, b) int8 GEMMs through one simulator run of the engine ``cfg``."""
    return cosim_batch(BINDING, workloads, cfg, sim=sim, seed=seed, build_root=build_root)
