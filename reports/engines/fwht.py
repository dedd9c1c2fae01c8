"""Walsh-Hadamard transform on a fully parallel pipelined butterfly network (n lanes, log2 n
registered stages), int8 -> int(8 + log2 n), B vectors back to back in log2(n) + B - 1 cycles.

Model sim/hadamard.py; RTL fwht_butterfly.v; kernel kernels/hadamard.py (int32 path);
co-simulation rtl_models/fwht_cosim.py."""

from __future__ import annotations

import numpy as np

from reports.engine import Case, Engine, Outcome, load
from reports.engines._common import torch_of

ORDER = 70
N = 8  # the golden vectors' and the cross-check network's length


def _config(n: int = N, in_bits: int = 8):
    return load("sim.hadamard:FwhtConfig")(n, in_bits)


def _golden(seed: int) -> list[Case]:
    return [Case(name, (x,)) for name, x in load("sim.hadamard:edge_workloads")(N, 8, seed=seed)]


def _model(cfg, ops) -> Outcome:
    r = load("sim.hadamard:simulate_fwht")(ops[0], cfg)
    return Outcome(np.asarray(r.y), int(r.cycles), (), dict(r.events))


def _kernel(cfg, ops) -> np.ndarray:
    return load("kernels.hadamard:fwht")(torch_of(ops[0].astype(np.int32))).numpy().astype(np.int64)


def _reference(cfg, ops) -> np.ndarray:
    return load("kernels.hadamard:hadamard_reference")(torch_of(ops[0].astype(np.int32))).numpy().astype(np.int64)


def _cosim(cfg, operands, sim: str = "icarus", seed: int = 0, **kw) -> list:
    return load("rtl_models.fwht_cosim:run_fwht_cosim_batch")([ops[0] for ops in operands], cfg.n, sim=sim,
                                                               in_bits=cfg.in_bits, seed=seed, **kw)


ENGINES = [
    Engine(
        name="fwht",
        description="Walsh-Hadamard transform on a fully parallel pipelined butterfly network "
        "(n lanes, log2 n registered stages), int8 -> int(8 + log2 n)",
        family="fwht",
        config=_config,
        model="sim.hadamard:simulate_fwht",
        estimate=None,
        rtl_top="fwht_butterfly",
        rtl_params=lambda cfg: {"N": cfg.n, "W": cfg.in_bits},
        pe_top="fwht_bfly_pe",
        kernel="kernels.hadamard:fwht",
        kernel_reference="kernels.hadamard:hadamard_reference",
        golden=_golden,
        crosscheck_config=_config,
        run_model=_model,
        run_kernel=_kernel,
        run_reference=_reference,
        run_cosim=_cosim,
        mac_units=lambda cfg: cfg.n,
        pe_alone=True,
    ),
]
