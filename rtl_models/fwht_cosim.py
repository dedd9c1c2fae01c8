"""Co-simulate the FWHT butterfly network (rtl_models/verilog/fwht_butterfly.v) under cocotb: a
binding of rtl_models.cosim.

    from rtl_models.fwht_cosim import run_fwht_cosim
    res = run_fwht_cosim(x_int8, n=16, sim="verilator")   # x: (B, n) or (n,)
    res.values, res.cycles, res.extra["latency_cycles"], res.extra["output_edges"]

The batches travel to the bench (rtl_models/benches/fwht_bench.py) as one job, so several
batches cost one simulator start (``run_fwht_cosim_batch``). Per batch: values is y (int64,
(B, n)); cycles is first input sampled -> last output valid, both edges counted; the extras are
the latency (first input sampled -> first output valid) and the edge after which each output was
valid (consecutive: 1 per clock). The bench checks every output and every cycle count against
sim.hadamard and raises :class:`~rtl_models.cosim.CosimError` on any difference. One build
folder per (simulator, N, W); W defaults to 8 (int8 activations, QuaRot's online rotation).
"""

from __future__ import annotations

import os

import numpy as np

from rtl_models.cosim import Binding, CosimArgumentError, CosimOutcome, cosim_batch
from sim.hadamard import FwhtConfig, check_vectors

BENCH_MODULE = "rtl_models.benches.fwht_bench"
TOPLEVEL = "fwht_butterfly"

BINDING = Binding(top=TOPLEVEL, bench=BENCH_MODULE, params=lambda cfg, _: {"N": int(cfg.n), "W": int(cfg.in_bits)},
                  config=FwhtConfig, check_case=lambda cfg, x: (check_vectors(x, cfg),), arity=1,
                  case_doc="array of vectors", noun="batch", dtype=np.int64)


def run_fwht_cosim(x_int, n: int, sim: str = "icarus", in_bits: int = 8, waves: bool = False,
                   seed: int = 0, build_root: str | os.PathLike | None = None) -> CosimOutcome:
    """y = H_n x for every row of ``x_int`` on the RTL; see :func:`run_fwht_cosim_batch`."""
    return run_fwht_cosim_batch([x_int], n, sim=sim, in_bits=in_bits, waves=waves, seed=seed,
                                build_root=build_root)[0]


def run_fwht_cosim_batch(batches, n: int, sim: str = "icarus", in_bits: int = 8, waves: bool = False,
                         seed: int = 0, build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Stream several batches (each (B, n) or (n,) integer arrays) through one simulator run."""
    cfg = FwhtConfig(n, in_bits)  # validates n (power of two >= 2) and in_bits
    if isinstance(batches, np.ndarray) or not isinstance(batches, (list, tuple)):
        raise CosimArgumentError(f"batches must be a list of integer arrays, got {type(batches).__name__}")
    return cosim_batch(BINDING, [(x,) for x in batches], cfg, sim=sim, seed=seed, waves=waves, build_root=build_root)
