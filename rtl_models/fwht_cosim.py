"""Co-simulate the FWHT butterfly network (rtl_models/verilog/fwht_butterfly.v) under cocotb.

    from rtl_models.fwht_cosim import run_fwht_cosim
    res = run_fwht_cosim(x_int8, n=16, sim="verilator")   # x: (B, n) or (n,)
    res.y, res.cycles, res.latency_cycles, res.output_edges

A thin layer over rtl_models.runner.run_bench: the batches travel to the bench
(rtl_models/benches/fwht_bench.py) as one job, so several batches cost one simulator start
(``run_fwht_cosim_batch``). The bench checks every output and every cycle count against
sim.hadamard and raises :class:`~rtl_models.runner.CosimError` on any difference. One build
folder per (simulator, N, W); W defaults to 8 (int8 activations, QuaRot's online rotation).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtl_models.runner import SIMULATORS, run_bench
from sim.hadamard import FwhtConfig, check_vectors

BENCH_MODULE = "rtl_models.benches.fwht_bench"
TOPLEVEL = "fwht_butterfly"


@dataclass(frozen=True)
class FwhtCosimResult:
    """One batch through the RTL: the outputs and the cycles the bench measured."""

    y: np.ndarray  # int64, (B, n)
    cycles: int  # first input sampled -> last output valid, both edges counted
    latency_cycles: int  # first input sampled -> first output valid
    output_edges: list[int]  # the edge after which each output was valid (consecutive: 1 per clock)
    sim: str
    build_dir: Path
    wave_file: Path | None


def run_fwht_cosim(x_int, n: int, sim: str = "icarus", in_bits: int = 8, waves: bool = False,
                   seed: int = 0, build_root: str | os.PathLike | None = None) -> FwhtCosimResult:
    """y = H_n x for every row of ``x_int`` on the RTL; see :func:`run_fwht_cosim_batch`."""
    return run_fwht_cosim_batch([x_int], n, sim=sim, in_bits=in_bits, waves=waves, seed=seed,
                                build_root=build_root)[0]


def run_fwht_cosim_batch(batches, n: int, sim: str = "icarus", in_bits: int = 8, waves: bool = False,
                         seed: int = 0, build_root: str | os.PathLike | None = None) -> list[FwhtCosimResult]:
    """Stream several batches (each (B, n) or (n,) integer arrays) through one simulator run."""
    cfg = FwhtConfig(n, in_bits)  # validates n (power of two >= 2) and in_bits
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if isinstance(batches, np.ndarray) or not isinstance(batches, (list, tuple)):
        raise TypeError(f"batches must be a list of integer arrays, got {type(batches).__name__}")
    if not batches:
        raise ValueError("batches must hold at least one array of vectors")
    checked = []
    for i, x in enumerate(batches):
        try:
            checked.append(check_vectors(x, cfg))
        except (TypeError, ValueError) as e:
            raise type(e)(f"batch {i}: {e}") from None
    job = {"n": np.int64(n), "in_bits": np.int64(in_bits), "count": np.int64(len(checked))}
    for i, x in enumerate(checked):
        job[f"x_{i}"] = x
    run = run_bench(sim, TOPLEVEL, {"N": int(n), "W": int(in_bits)}, BENCH_MODULE, job, waves=waves,
                    seed=seed, build_root=build_root)
    return [
        FwhtCosimResult(
            y=run.outputs[f"y_{i}"].astype(np.int64),
            cycles=int(run.outputs[f"cycles_{i}"]),
            latency_cycles=int(run.outputs[f"latency_{i}"]),
            output_edges=[int(e) for e in run.outputs[f"out_edges_{i}"]],
            sim=sim,
            build_dir=run.build_dir,
            wave_file=run.wave_file,
        )
        for i in range(len(checked))
    ]
