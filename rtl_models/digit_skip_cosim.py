"""Co-simulate the zero-digit-skipping PE (rtl_models/verilog/digit_skip_pe.v, top digit_skip_dot)
under cocotb on Icarus or Verilator, against sim/digit_skip.py.

    from rtl_models.digit_skip_cosim import run_digit_skip_cosim
    res = run_digit_skip_cosim(a_int8, b_int8, encoding="ent", sim="verilator")
    res.value, res.cycles, res.build_dir

``b`` is a K-vector (one PE, N = 1) or a K x N matrix: N accumulator columns sharing one digit
sequencer (digit_skip_dot's N parameter), giving ``res.values`` (N,) in the cycles of one PE.
``run_digit_skip_gemm_cosim_batch(workloads, DigitSkipConfig(cols=4))`` runs whole GEMMs, folded
as sim.digit_skip.simulate_gemm folds them, and returns C and the per-fold cycles.

Uses the generic layer of rtl_models.runner (run_bench: cached, parameter-keyed builds; the job
and results travel as .npz files). ``run_digit_skip_cosim_batch`` sends many dot products
through one simulator start; the bench (rtl_models/benches/digit_skip_bench.py) checks every
result and every start-to-done cycle count against the model and raises CosimError on any
difference. The RTL's operand buffer is DEPTH = buffer_depth(longest K) deep (a power of two
>= 4), so a handful of builds serve every workload.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtl_models.runner import (
    SIMULATORS,
    CosimError,
    buffer_depth,
    run_bench,
    simulator_missing,
)
from sim.digit_skip import DigitSkipConfig, check_row_operands, gemm_folds

BENCH_MODULE = "rtl_models.benches.digit_skip_bench"
TOPLEVEL = "digit_skip_dot"
# the RTL's ENC parameter for each recoding of sim/digits.py
ENC_PARAM = {"ent": 0, "booth": 1}

__all__ = ["CosimError", "DigitSkipCosimResult", "DigitSkipGemmCosimResult", "run_digit_skip_cosim",
           "run_digit_skip_cosim_batch", "run_digit_skip_gemm_cosim_batch", "digit_skip_params", "DotTop",
           "run_dot_batch", "run_gemm_batch"]


@dataclass(frozen=True)
class DigitSkipCosimResult:
    """One workload as the RTL computed it and the start-to-done cycles the bench measured."""

    values: np.ndarray  # int64 (N,): sum_k a_k b[k, c] per column
    cycles: int
    sim: str
    build_dir: Path
    wave_file: Path | None

    @property
    def value(self) -> int:
        """The dot product of a one-column (N = 1) workload."""
        if self.values.size != 1:
            raise ValueError(f"value is for one-column workloads; this one has N = {self.values.size}: use values")
        return int(self.values[0])


def digit_skip_params(cfg: DigitSkipConfig, k_max: int, cols: int = 1) -> dict[str, int]:
    """The Verilog parameters of digit_skip_dot: a config, the longest K, the columns N."""
    return {"ACC_W": int(cfg.acc_bits), "DEPTH": buffer_depth(k_max), "ENC": ENC_PARAM[cfg.encoding],
            "N": int(cols)}


@dataclass(frozen=True)
class DotTop:
    """One dot-product top with digit_skip_dot's host protocol and job file: the OPT3 row here, the
    OPT4E group in rtl_models/digit_skip_4e_cosim.py. Both go through :func:`run_dot_batch` and
    :func:`run_gemm_batch`."""

    config: type  # the model's config class: (encoding=, acc_bits=) and .cols
    check_row_operands: Callable  # (a, b (K, N), cfg) -> checked int64 operands
    params: Callable  # (cfg, longest K, columns) -> the Verilog parameters
    toplevel: str
    bench_module: str


def run_dot_batch(top: DotTop, workloads, encoding: str = "ent", acc_bits: int = 32, sim: str = "icarus",
                  waves: bool = False, seed: int = 0,
                  build_root: str | os.PathLike | None = None) -> list[DigitSkipCosimResult]:
    """Co-simulate several (a, b) int8 workloads on ``top`` in one simulator run, in order.

    a is a K-vector; b a K-vector or a K x N matrix, with the same N across the batch (one build).
    """
    cfg = top.config(encoding=encoding, acc_bits=acc_bits)
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    checked = []
    for i, w in enumerate(workloads):
        if not isinstance(w, (tuple, list)) or len(w) != 2:
            raise ValueError(f"workload {i} must be an (a, b) pair of int8 vectors, got {type(w).__name__}")
        a, b = w
        try:
            b = np.asarray(b)
            a, b = top.check_row_operands(a, b[:, None] if b.ndim == 1 else b, cfg)
        except ValueError as e:
            raise ValueError(f"workload {i}: {e}") from None
        if checked and b.shape[1] != checked[0][1].shape[1]:
            raise ValueError(f"workload {i} has N = {b.shape[1]} columns, workload 0 has "
                             f"{checked[0][1].shape[1]}: one batch is one build, with one N")
        checked.append((a.astype(np.int8), b.astype(np.int8)))
    if not checked:
        raise ValueError("workloads must hold at least one (a, b) pair")
    reason = simulator_missing(sim)
    if reason:
        raise CosimError(reason)

    params = top.params(cfg, max(a.size for a, _ in checked), checked[0][1].shape[1])
    job = {"encoding": np.array(cfg.encoding), "acc_bits": np.int64(cfg.acc_bits),
           "count": np.int64(len(checked))}
    for i, (a, b) in enumerate(checked):
        job[f"a_{i}"], job[f"b_{i}"] = a, b
    run = run_bench(sim, top.toplevel, params, top.bench_module, job, waves=waves, seed=seed, build_root=build_root)
    return [DigitSkipCosimResult(run.outputs[f"values_{i}"].astype(np.int64), int(run.outputs["cycles"][i]), sim,
                                 run.build_dir, run.wave_file) for i in range(len(checked))]


@dataclass(frozen=True)
class DigitSkipGemmCosimResult:
    """One GEMM through the RTL, fold by fold (sim.digit_skip.gemm_folds): C and measured cycles."""

    c: np.ndarray  # int32 (int64 for acc_bits > 32), M x N
    fold_cycles: list[int]
    cycles: int
    sim: str
    build_dir: Path
    wave_file: Path | None


def run_gemm_batch(top: DotTop, workloads, cfg, sim: str = "icarus", waves: bool = False, seed: int = 0,
                   build_root: str | os.PathLike | None = None) -> list[DigitSkipGemmCosimResult]:
    """C = A @ B for several (a, b) int8 matrix pairs on a row of ``cfg.cols`` columns of ``top``,
    one simulator run.

    Each GEMM is split into the folds of sim.digit_skip.gemm_folds (row m of A against a
    zero-padded n-tile of B), all folds of all GEMMs go through one :func:`run_dot_batch`, and C
    and the per-fold cycles are put back together.
    """
    if not isinstance(cfg, top.config):
        raise ValueError(f"cfg must be a {top.config.__name__}, got {type(cfg).__name__}")
    folds, spans = [], []
    for i, w in enumerate(workloads):
        if not isinstance(w, (tuple, list)) or len(w) != 2:
            raise ValueError(f"workload {i} must be an (a, b) pair of int8 matrices, got {type(w).__name__}")
        a, b = (np.asarray(x) for x in w)
        if a.ndim != 2 or b.ndim != 2 or 0 in a.shape or 0 in b.shape or a.shape[1] != b.shape[0]:
            raise ValueError(f"workload {i}: a (M x K) and b (K x N) must be non-empty matrices with equal K, "
                             f"got shapes {a.shape} and {b.shape}")
        start = len(folds)
        for m, n0, n1 in gemm_folds(a.shape[0], b.shape[1], cfg.cols):
            tile = np.zeros((b.shape[0], cfg.cols), b.dtype)
            tile[:, : n1 - n0] = b[:, n0:n1]
            folds.append((a[m], tile))
        spans.append((start, len(folds), a.shape[0], b.shape[1]))
    if not folds:
        raise ValueError("workloads must hold at least one (a, b) pair")
    runs = run_dot_batch(top, folds, cfg.encoding, cfg.acc_bits, sim=sim, waves=waves, seed=seed,
                         build_root=build_root)
    out = []
    for start, stop, m, n in spans:
        c = np.zeros((m, n), np.int64)
        for res, (i, n0, n1) in zip(runs[start:stop], gemm_folds(m, n, cfg.cols)):
            c[i, n0:n1] = res.values[: n1 - n0]
        fc = [r.cycles for r in runs[start:stop]]
        out.append(DigitSkipGemmCosimResult(c.astype(np.int32 if cfg.acc_bits <= 32 else np.int64), fc, sum(fc), sim,
                                            runs[0].build_dir, runs[0].wave_file))
    return out


OPT3 = DotTop(DigitSkipConfig, check_row_operands, digit_skip_params, TOPLEVEL, BENCH_MODULE)


def run_digit_skip_cosim(a, b, encoding: str = "ent", acc_bits: int = 32, sim: str = "icarus",
                         waves: bool = False, seed: int = 0,
                         build_root: str | os.PathLike | None = None) -> DigitSkipCosimResult:
    """sum_k a_k b_k on the OPT3 PE in RTL; see :func:`run_dot_batch`."""
    return run_dot_batch(OPT3, [(a, b)], encoding, acc_bits, sim=sim, waves=waves, seed=seed,
                         build_root=build_root)[0]


def run_digit_skip_cosim_batch(workloads, encoding: str = "ent", acc_bits: int = 32, sim: str = "icarus",
                               waves: bool = False, seed: int = 0,
                               build_root: str | os.PathLike | None = None) -> list[DigitSkipCosimResult]:
    """Several (a, b) workloads on the OPT3 row in one simulator run; see :func:`run_dot_batch`."""
    return run_dot_batch(OPT3, workloads, encoding, acc_bits, sim=sim, waves=waves, seed=seed, build_root=build_root)


def run_digit_skip_gemm_cosim_batch(workloads, cfg: DigitSkipConfig, sim: str = "icarus", waves: bool = False,
                                    seed: int = 0, build_root: str | os.PathLike | None = None
                                    ) -> list[DigitSkipGemmCosimResult]:
    """GEMMs on a row of ``cfg.cols`` OPT3 columns; see :func:`run_gemm_batch`."""
    return run_gemm_batch(OPT3, workloads, cfg, sim=sim, waves=waves, seed=seed, build_root=build_root)


def load_digit_skip_job(path) -> tuple[DigitSkipConfig, list[tuple[np.ndarray, np.ndarray]]]:
    """(config, [(a (K,), b (K, N)), ...]) from the job file run_digit_skip_cosim_batch writes."""
    with np.load(path) as job:
        cfg = DigitSkipConfig(encoding=str(job["encoding"]), acc_bits=int(job["acc_bits"]))
        workloads = [(job[f"a_{i}"], job[f"b_{i}"]) for i in range(int(job["count"]))]
    return cfg, workloads
