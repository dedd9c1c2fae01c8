"""Co-simulate the bit-serial baseline PEs (rtl_models/verilog/stripes_pe.v, laconic_pe.v,
bitfusion_pe.v; tops stripes_dot, laconic_dot, bitfusion_dot) under cocotb on Icarus or
Verilator, against sim/bitserial.py: a binding of rtl_models.cosim.

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

import numpy as np

from rtl_models.cosim import Binding, CosimError, CosimOutcome, buffer_depth, cosim_batch
from sim.bitserial import (
    BitFusionConfig,
    LaconicConfig,
    StripesConfig,
    check_dot_operands,
)

BENCH_MODULE = "rtl_models.benches.bitserial_bench"
TOPLEVELS = {"stripes": "stripes_dot", "laconic": "laconic_dot", "bitfusion": "bitfusion_dot"}
CONFIG_TYPES = (StripesConfig, LaconicConfig, BitFusionConfig)

__all__ = ["BINDING", "CosimError", "bitserial_params", "run_bitserial_cosim", "run_bitserial_cosim_batch"]


def _check_acc_bits(cfg) -> None:
    if cfg.acc_bits < cfg.a_bits + cfg.w_bits:
        raise ValueError(f"acc_bits must be >= a_bits + w_bits = {cfg.a_bits + cfg.w_bits} for the RTL "
                         f"(the product width), got {cfg.acc_bits}")


def bitserial_params(cfg, k_max: int) -> dict[str, int]:
    """The Verilog parameters of the config's top for a longest K of ``k_max``."""
    if not isinstance(cfg, CONFIG_TYPES):
        raise ValueError(f"cfg must be a StripesConfig, LaconicConfig or BitFusionConfig, got {type(cfg).__name__}")
    _check_acc_bits(cfg)
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


BINDING = Binding(top=lambda cfg: TOPLEVELS[cfg.kind], bench=BENCH_MODULE, config=CONFIG_TYPES,
                  check_config=_check_acc_bits, check_case=lambda cfg, a, w: check_dot_operands(a, w, cfg),
                  params=lambda cfg, workloads: bitserial_params(cfg, max(a.size for a, _ in workloads)),
                  case_doc="(a, w) pair of integer vectors", dtype=np.int64)


def run_bitserial_cosim(a, w, cfg, sim: str = "icarus", seed: int = 0,
                        build_root: str | os.PathLike | None = None) -> CosimOutcome:
    """sum_k a_k w_k on the PE ``cfg`` describes, in RTL; see :func:`run_bitserial_cosim_batch`."""
    return run_bitserial_cosim_batch([(a, w)], cfg, sim=sim, seed=seed, build_root=build_root)[0]


def run_bitserial_cosim_batch(workloads, cfg, sim: str = "icarus", seed: int = 0,
                              build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Co-simulate several (a, w) K-vector pairs in one simulator run, in order: each outcome's
    value is the dot product, its cycles the start-to-done cycles."""
    return cosim_batch(BINDING, workloads, cfg, sim=sim, seed=seed, build_root=build_root)
