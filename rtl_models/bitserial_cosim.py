"""Co-simulate the bit-serial baseline PEs (rtl_models/verilog/stripes_pe.v, laconic_pe.v,
bitfusion_pe.v; tops stripes_dot, laconic_dot, bitfusion_dot) under cocotb on Icarus or
Verilator, against sim/bitserial.py.

    from sim.bitserial import LaconicConfig
    from rtl_models.bitserial_cosim import run_bitserial_cosim_batch
    res = run_bitserial_cosim_batch([(a, w), ...], LaconicConfig(lanes=4), sim="verilator")
    res[0].value, res[0].cycles

The bench (rtl_models/benches/bitserial_bench.py) loads each workload's operands, pulses start,
counts the edges from start to done and compares the result and the cycles with
sim.bitserial.simulate_dot; a mismatch raises :class:`CosimError` naming the workload.
Operands are carried as int64 arrays; the ranges are checked here against the config.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rtl_models.runner import (
    SIMULATORS,
    CosimError,
    buffer_depth,
    run_bench,
    simulator_missing,
)
from sim.bitserial import (
    BitFusionConfig,
    LaconicConfig,
    StripesConfig,
    check_dot_operands,
)

BENCH_MODULE = "rtl_models.benches.bitserial_bench"
TOPLEVELS = {"stripes": "stripes_dot", "laconic": "laconic_dot", "bitfusion": "bitfusion_dot"}
CONFIG_TYPES = (StripesConfig, LaconicConfig, BitFusionConfig)

__all__ = [
    "BitSerialCosimResult",
    "CosimError",
    "bitserial_params",
    "load_bitserial_job",
    "run_bitserial_cosim",
    "run_bitserial_cosim_batch",
]


@dataclass(frozen=True)
class BitSerialCosimResult:
    """One workload as the RTL computed it and the start-to-done cycles the bench measured."""

    value: int
    cycles: int
    sim: str
    build_dir: Path


def _check_cfg(cfg) -> None:
    if not isinstance(cfg, CONFIG_TYPES):
        raise ValueError(f"cfg must be a StripesConfig, LaconicConfig or BitFusionConfig, got {type(cfg).__name__}")
    if cfg.acc_bits < cfg.a_bits + cfg.w_bits:
        raise ValueError(f"acc_bits must be >= a_bits + w_bits = {cfg.a_bits + cfg.w_bits} for the RTL "
                         f"(the product width), got {cfg.acc_bits}")


def bitserial_params(cfg, k_max: int) -> dict[str, int]:
    """The Verilog parameters of the config's top for a longest K of ``k_max``."""
    _check_cfg(cfg)
    group = cfg.group
    depth = group * buffer_depth(-(-int(k_max) // group))  # a multiple of the group, >= 4
    params = {"A_W": int(cfg.a_bits), "W_W": int(cfg.w_bits), "ACC_W": int(cfg.acc_bits), "DEPTH": depth}
    if cfg.kind == "stripes":
        params.update(LANES=int(cfg.lanes), A_SIGNED=int(cfg.a_signed))
    elif cfg.kind == "laconic":
        params.update(LANES=int(cfg.lanes))
    else:
        params.update(A_SIGNED=int(cfg.a_signed), W_SIGNED=int(cfg.w_signed), PAIRS=cfg.pairs_per_cycle)
    return params


def run_bitserial_cosim(a, w, cfg, sim: str = "icarus", seed: int = 0,
                        build_root: str | os.PathLike | None = None) -> BitSerialCosimResult:
    """sum_k a_k w_k on the PE ``cfg`` describes, in RTL; see :func:`run_bitserial_cosim_batch`."""
    return run_bitserial_cosim_batch([(a, w)], cfg, sim=sim, seed=seed, build_root=build_root)[0]


def run_bitserial_cosim_batch(workloads, cfg, sim: str = "icarus", seed: int = 0,
                              build_root: str | os.PathLike | None = None) -> list[BitSerialCosimResult]:
    """Co-simulate several (a, w) K-vector pairs in one simulator run, in order."""
    _check_cfg(cfg)
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    checked = []
    for i, wl in enumerate(workloads):
        if not isinstance(wl, (tuple, list)) or len(wl) != 2:
            raise ValueError(f"workload {i} must be an (a, w) pair of integer vectors, got {type(wl).__name__}")
        try:
            checked.append(check_dot_operands(wl[0], wl[1], cfg))
        except ValueError as e:
            raise ValueError(f"workload {i}: {e}") from None
    if not checked:
        raise ValueError("workloads must hold at least one (a, w) pair")
    reason = simulator_missing(sim)
    if reason:
        raise CosimError(reason)
    params = bitserial_params(cfg, max(a.size for a, _ in checked))
    job = {"kind": np.array(cfg.kind), "count": np.int64(len(checked))}
    for key, v in asdict(cfg).items():
        job[f"cfg_{key}"] = np.int64(v)
    for i, (a, w) in enumerate(checked):
        job[f"a_{i}"], job[f"w_{i}"] = a, w
    run = run_bench(sim, TOPLEVELS[cfg.kind], params, BENCH_MODULE, job, seed=seed, build_root=build_root)
    return [BitSerialCosimResult(int(run.outputs["values"][i]), int(run.outputs["cycles"][i]), sim, run.build_dir)
            for i in range(len(checked))]


def load_bitserial_job(path):
    """(config, [(a, w), ...]) from the job file run_bitserial_cosim_batch writes."""
    with np.load(path) as job:
        kind = str(job["kind"])
        cls = {"stripes": StripesConfig, "laconic": LaconicConfig, "bitfusion": BitFusionConfig}[kind]
        kwargs = {k[4:]: int(job[k]) for k in job.files if k.startswith("cfg_")}
        for flag in ("a_signed", "w_signed"):
            if flag in kwargs:
                kwargs[flag] = bool(kwargs[flag])
        cfg = cls(**kwargs)
        workloads = [(job[f"a_{i}"], job[f"w_{i}"]) for i in range(int(job["count"]))]
    return cfg, workloads
