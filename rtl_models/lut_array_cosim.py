"""Co-simulate the LUT array (rtl_models/verilog/lut_array.v) under cocotb, Icarus or Verilator.

    from rtl_models.lut_array_cosim import run_lut_array_cosim_batch
    from sim.lut_array import LutArrayConfig
    res = run_lut_array_cosim_batch([(x, packed, exps, group_size), ...], sim="verilator",
                                    config=LutArrayConfig(lanes=4, double_buffer=True))
    res[0].y, res[0].cycles

Built on rtl_models.runner.run_bench (cached, parameter-keyed builds: P and DBUF are build
parameters); the bench is rtl_models/benches/lut_array_bench.py, which checks y and the
start->done cycles against sim.lut_array and raises CosimError on any difference. Every workload
of a batch goes through one simulator run; the buffers are sized for the largest one (address
bits per buffer, at least 2; the per-lane buffers hold ceil(N/P) rows), so a handful of builds
serve every shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtl_models.runner import SIMULATORS, CosimError, run_bench
from sim.lut_array import LutArrayConfig, lane_slots
from sim.lut_pe import check_operands

__all__ = [
    "BENCH_MODULE",
    "TOP",
    "CosimError",
    "LutArrayCosimResult",
    "rtl_params",
    "run_lut_array_cosim",
    "run_lut_array_cosim_batch",
]

TOP = "lut_array"
BENCH_MODULE = "rtl_models.benches.lut_array_bench"
LEN_BITS = 16  # lut_array's LW: lengths, counters and buffer pointers


@dataclass(frozen=True)
class LutArrayCosimResult:
    y: np.ndarray  # int32 (M, N), as the RTL computed it
    cycles: int  # start -> done, measured by the bench
    sim: str
    build_dir: Path
    wave_file: Path | None


def _addr_bits(entries: int) -> int:
    return max(2, (int(entries) - 1).bit_length())


def rtl_params(config: LutArrayConfig) -> dict:
    """The Verilog parameters a configuration fixes (buffer sizes are the defaults here)."""
    return {"P": int(config.lanes), "DBUF": int(bool(config.double_buffer)), "EXP_W": int(config.exp_bits)}


def run_lut_array_cosim(x, packed, exps, group_size: int, sim: str = "icarus", **kw) -> LutArrayCosimResult:
    """One workload; see :func:`run_lut_array_cosim_batch`."""
    return run_lut_array_cosim_batch([(x, packed, exps, group_size)], sim=sim, **kw)[0]


def run_lut_array_cosim_batch(workloads, sim: str = "icarus", *, config: LutArrayConfig | None = None,
                              waves: bool = False, seed: int = 0,
                              build_root: str | os.PathLike | None = None) -> list[LutArrayCosimResult]:
    """Run (x int8 (M, K), packed uint8 (q, N, K/8), exps (q, N, K/g) in 0..2^exp_bits-1,
    group_size) workloads through lut_array (P = config.lanes, DBUF = config.double_buffer) in one
    simulator run, in order."""
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")  # noqa: TRY004 (as lut_cosim)
    if config is None:
        config = LutArrayConfig()
    if not isinstance(config, LutArrayConfig):
        raise TypeError(f"config must be a LutArrayConfig, got {type(config).__name__}")
    checked = []
    for i, w in enumerate(workloads):
        if not isinstance(w, (tuple, list)) or len(w) != 4:
            raise ValueError(f"workload {i} must be an (x, packed, exps, group_size) tuple, got {type(w).__name__}")
        x, packed, exps, g = w
        x64, packed, exps64 = check_operands(x, packed, exps, g, config.pe)
        checked.append((x64.astype(np.int8), np.ascontiguousarray(packed), exps64, int(g)))
    if not checked:
        raise ValueError("workloads must hold at least one (x, packed, exps, group_size) tuple")
    lanes = int(config.lanes)

    def slots(p):
        return lane_slots(p.shape[1], lanes)

    sizes = {"XAW": max(x.size for x, *_ in checked),
             "WAW": max(p.shape[0] * p.shape[2] * slots(p) for _, p, *_ in checked),
             "EAW": max(e.shape[0] * e.shape[2] * slots(p) for _, p, e, _ in checked),
             "YAW": max(x.shape[0] * slots(p) for x, p, *_ in checked)}
    for name, entries in sizes.items():
        if entries > 2**LEN_BITS:
            raise ValueError(f"a workload needs {entries} entries in a buffer ({name}); lut_array addresses "
                             f"2^{LEN_BITS}")
    params = {name: _addr_bits(entries) for name, entries in sizes.items()}
    params.update(rtl_params(config), ACC_W=32, LW=LEN_BITS)
    job = {"count": np.int64(len(checked)), "exp_bits": np.int64(config.exp_bits), "lanes": np.int64(lanes),
           "double_buffer": np.int64(bool(config.double_buffer))}
    for i, (x, packed, exps, g) in enumerate(checked):
        job[f"x_{i}"], job[f"packed_{i}"], job[f"exps_{i}"], job[f"group_size_{i}"] = x, packed, exps, np.int64(g)
    run = run_bench(sim, TOP, params, BENCH_MODULE, job, waves=waves, seed=seed, build_root=build_root)
    return [LutArrayCosimResult(run.outputs[f"y_{i}"].astype(np.int32), int(run.outputs[f"cycles_{i}"]), sim,
                                run.build_dir, run.wave_file) for i in range(len(checked))]
