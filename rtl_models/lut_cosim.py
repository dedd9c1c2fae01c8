"""Co-simulate the LUT PE (rtl_models/verilog/lut_pe.v) under cocotb, Icarus or Verilator.

    from rtl_models.lut_cosim import run_lut_cosim_batch
    res = run_lut_cosim_batch([(x, packed, exps, group_size), ...], sim="verilator")
    res[0].y, res[0].cycles

Built on rtl_models.runner.run_bench (cached, parameter-keyed builds); the bench is
rtl_models/benches/lut_bench.py, which checks y and the start->done cycles against sim.lut_pe and
raises CosimError on any difference. Every workload of a batch goes through one simulator run;
the buffers are sized for the largest one (address bits per buffer, at least 2), so a handful of
builds serve every shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtl_models.runner import SIMULATORS, CosimError, run_bench
from sim.lut_pe import LutPEConfig, check_operands

__all__ = ["LutCosimResult", "run_lut_cosim", "run_lut_cosim_batch", "CosimError", "TOP", "BENCH_MODULE"]

TOP = "lut_pe"
BENCH_MODULE = "rtl_models.benches.lut_bench"
LEN_BITS = 16  # lut_pe's LW: lengths, counters and buffer pointers


@dataclass(frozen=True)
class LutCosimResult:
    y: np.ndarray  # int32 (M, N), as the RTL computed it
    cycles: int  # start -> done, measured by the bench
    sim: str
    build_dir: Path
    wave_file: Path | None


def _addr_bits(entries: int) -> int:
    return max(2, (int(entries) - 1).bit_length())


def run_lut_cosim(x, packed, exps, group_size: int, sim: str = "icarus", **kw) -> LutCosimResult:
    """One workload; see :func:`run_lut_cosim_batch`."""
    return run_lut_cosim_batch([(x, packed, exps, group_size)], sim=sim, **kw)[0]


def run_lut_cosim_batch(workloads, sim: str = "icarus", *, exp_bits: int = 4, waves: bool = False, seed: int = 0,
                        build_root: str | os.PathLike | None = None) -> list[LutCosimResult]:
    """Run (x int8 (M, K), packed uint8 (q, N, K/8), exps (q, N, K/g) in 0..2^exp_bits-1,
    group_size) workloads through lut_pe in one simulator run, in order."""
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    cfg = LutPEConfig(exp_bits=exp_bits)
    checked = []
    for i, w in enumerate(workloads):
        if not isinstance(w, (tuple, list)) or len(w) != 4:
            raise ValueError(f"workload {i} must be an (x, packed, exps, group_size) tuple, got {type(w).__name__}")
        x, packed, exps, g = w
        x64, packed, exps64 = check_operands(x, packed, exps, g, cfg)
        checked.append((x64.astype(np.int8), np.ascontiguousarray(packed), exps64, int(g)))
    if not checked:
        raise ValueError("workloads must hold at least one (x, packed, exps, group_size) tuple")
    sizes = {"XAW": max(x.size for x, *_ in checked), "WAW": max(p.size for _, p, *_ in checked),
             "EAW": max(e.size for _, _, e, _ in checked),
             "YAW": max(x.shape[0] * p.shape[1] for x, p, *_ in checked)}
    for name, entries in sizes.items():
        if entries > 2**LEN_BITS:
            raise ValueError(f"a workload needs {entries} entries in a buffer ({name}); lut_pe addresses 2^{LEN_BITS}")
    params = {name: _addr_bits(entries) for name, entries in sizes.items()}
    params.update(EXP_W=exp_bits, ACC_W=32, LW=LEN_BITS)
    job = {"count": np.int64(len(checked)), "exp_bits": np.int64(exp_bits)}
    for i, (x, packed, exps, g) in enumerate(checked):
        job[f"x_{i}"], job[f"packed_{i}"], job[f"exps_{i}"], job[f"group_size_{i}"] = x, packed, exps, np.int64(g)
    run = run_bench(sim, TOP, params, BENCH_MODULE, job, waves=waves, seed=seed, build_root=build_root)
    return [LutCosimResult(run.outputs[f"y_{i}"].astype(np.int32), int(run.outputs[f"cycles_{i}"]), sim,
                           run.build_dir, run.wave_file) for i in range(len(checked))]
