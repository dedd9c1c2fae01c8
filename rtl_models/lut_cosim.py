"""Co-simulate the LUT PE (rtl_models/verilog/lut_pe.v) under cocotb, Icarus or Verilator: a
binding of rtl_models.cosim.

    from rtl_models.lut_cosim import run_lut_cosim_batch
    res = run_lut_cosim_batch([(x, packed, exps, group_size), ...], sim="verilator")
    res[0].values, res[0].cycles   # values: y, int32 (M, N)

The bench is rtl_models/benches/lut_bench.py, which checks y and the start->done cycles against
sim.lut_pe and raises CosimError on any difference. Every workload of a batch goes through one
simulator run; the buffers are sized for the largest one (address bits per buffer, at least 2),
so a handful of builds serve every shape.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from rtl_models.cosim import Binding, CosimError, CosimOutcome, cosim_batch
from sim.lut_pe import LutPEConfig, check_operands

__all__ = ["BINDING", "BENCH_MODULE", "CosimError", "TOP", "lut_case", "buffer_params", "run_lut_cosim",
           "run_lut_cosim_batch"]

TOP = "lut_pe"
BENCH_MODULE = "rtl_models.benches.lut_bench"
LEN_BITS = 16  # lut_pe's and lut_array's LW: lengths, counters and buffer pointers
CASE_DOC = "(x, packed, exps, group_size) tuple"


def lut_case(pe_config: Callable) -> Callable:
    """The binding's case check of a LUT GEMM, with the PE config ``pe_config(cfg)``: x int8
    (M, K), packed uint8 (q, N, K/8), exps (q, N, K/g) in 0..2^exp_bits-1, group_size."""

    def check(cfg, x, packed, exps, g) -> tuple:
        x64, packed, exps64 = check_operands(x, packed, exps, g, pe_config(cfg))
        return x64.astype(np.int8), np.ascontiguousarray(packed), exps64, int(g)

    return check


def buffer_params(top: str, entries: dict[str, int]) -> dict[str, int]:
    """Address bits (at least 2) of buffers holding ``entries`` each; ValueError past 2^LEN_BITS."""
    for name, n in entries.items():
        if n > 2**LEN_BITS:
            raise ValueError(f"a workload needs {n} entries in a buffer ({name}); {top} addresses 2^{LEN_BITS}")
    return {name: max(2, (int(n) - 1).bit_length()) for name, n in entries.items()} | {"ACC_W": 32, "LW": LEN_BITS}


def _params(cfg: LutPEConfig, workloads) -> dict[str, int]:
    return buffer_params(TOP, {"XAW": max(x.size for x, *_ in workloads), "WAW": max(p.size for _, p, *_ in workloads),
                               "EAW": max(e.size for _, _, e, _ in workloads),
                               "YAW": max(x.shape[0] * p.shape[1] for x, p, *_ in workloads)}) | {"EXP_W": cfg.exp_bits}


BINDING = Binding(top=TOP, bench=BENCH_MODULE, params=_params, config=LutPEConfig, check_case=lut_case(lambda cfg: cfg),
                  arity=4, case_doc=CASE_DOC, dtype=np.int32)


def run_lut_cosim(x, packed, exps, group_size: int, sim: str = "icarus", **kw) -> CosimOutcome:
    """One workload; see :func:`run_lut_cosim_batch`."""
    return run_lut_cosim_batch([(x, packed, exps, group_size)], sim=sim, **kw)[0]


def run_lut_cosim_batch(workloads, sim: str = "icarus", *, exp_bits: int = 4, waves: bool = False, seed: int = 0,
                        build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Run (x int8 (M, K), packed uint8 (q, N, K/8), exps (q, N, K/g) in 0..2^exp_bits-1,
    group_size) workloads through lut_pe in one simulator run, in order."""
    return cosim_batch(BINDING, workloads, LutPEConfig(exp_bits=exp_bits), sim=sim, seed=seed, waves=waves,
                       build_root=build_root)
