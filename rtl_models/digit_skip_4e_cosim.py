"""Co-simulate the OPT4E group (rtl_models/verilog/digit_skip_4e.v, top digit_skip_4e_dot: 4
zero-digit-skipping sub-PEs sharing one 6:2 compressor) under cocotb on Icarus or Verilator,
against sim/digit_skip_4e.py.

    from rtl_models.digit_skip_4e_cosim import run_digit_skip_4e_cosim
    res = run_digit_skip_4e_cosim(a_int8, b_int8, encoding="ent", sim="verilator")
    res.value, res.cycles, res.build_dir

``b`` is a K-vector (one group, N = 1) or a K x N matrix: N shared-compressor accumulator
columns behind the group's 4 sequencers (digit_skip_4e_dot's N), giving ``res.values`` (N,) in
the cycles of one group. ``run_digit_skip_4e_gemm_cosim_batch(workloads, DigitSkip4EConfig(cols=4))``
runs whole GEMMs, folded as sim.digit_skip_4e.simulate_gemm folds them (sim.digit_skip.gemm_folds).

The host protocol of digit_skip_4e_dot is digit_skip_dot's and the job file has the same fields,
so the OPT3 bench's load/start helpers and rtl_models.digit_skip_cosim's result types serve here.
The bench (rtl_models/benches/digit_skip_4e_bench.py) checks every result and every start-to-done
cycle count against sim.digit_skip_4e and raises CosimError on any difference. The RTL's operand
buffer is DEPTH = max(16, buffer_depth(longest K)) deep: whole chunks of 16.
"""

from __future__ import annotations

import os

import numpy as np

from rtl_models.digit_skip_cosim import ENC_PARAM, DigitSkipCosimResult, DigitSkipGemmCosimResult
from rtl_models.runner import SIMULATORS, CosimError, buffer_depth, run_bench, simulator_missing
from sim.digit_skip import gemm_folds
from sim.digit_skip_4e import CHUNK, DigitSkip4EConfig, check_row_operands

BENCH_MODULE = "rtl_models.benches.digit_skip_4e_bench"
TOPLEVEL = "digit_skip_4e_dot"
PE_TOPLEVEL = "digit_skip_4e_pe"

__all__ = ["CosimError", "DigitSkipCosimResult", "DigitSkipGemmCosimResult", "digit_skip_4e_params",
           "load_digit_skip_4e_job", "run_digit_skip_4e_cosim", "run_digit_skip_4e_cosim_batch",
           "run_digit_skip_4e_gemm_cosim_batch"]


def digit_skip_4e_params(cfg: DigitSkip4EConfig, k_max: int, cols: int = 1) -> dict[str, int]:
    """The Verilog parameters of digit_skip_4e_dot: a config, the longest K, the columns N."""
    return {"ACC_W": int(cfg.acc_bits), "DEPTH": max(CHUNK, buffer_depth(k_max)), "ENC": ENC_PARAM[cfg.encoding],
            "N": int(cols)}


def run_digit_skip_4e_cosim(a, b, encoding: str = "ent", acc_bits: int = 32, sim: str = "icarus",
                            waves: bool = False, seed: int = 0,
                            build_root: str | os.PathLike | None = None) -> DigitSkipCosimResult:
    """sum_k a_k b_k on the OPT4E group in RTL; see :func:`run_digit_skip_4e_cosim_batch`."""
    return run_digit_skip_4e_cosim_batch([(a, b)], encoding, acc_bits, sim=sim, waves=waves, seed=seed,
                                         build_root=build_root)[0]


def run_digit_skip_4e_cosim_batch(workloads, encoding: str = "ent", acc_bits: int = 32, sim: str = "icarus",
                                  waves: bool = False, seed: int = 0,
                                  build_root: str | os.PathLike | None = None) -> list[DigitSkipCosimResult]:
    """Co-simulate several (a, b) int8 workloads in one simulator run, in order.

    a is a K-vector; b a K-vector or a K x N matrix, with the same N across the batch (one build).
    """
    cfg = DigitSkip4EConfig(encoding=encoding, acc_bits=acc_bits)
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
            a, b = check_row_operands(a, b[:, None] if b.ndim == 1 else b, cfg)
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

    params = digit_skip_4e_params(cfg, max(a.size for a, _ in checked), checked[0][1].shape[1])
    job = {"encoding": np.array(cfg.encoding), "acc_bits": np.int64(cfg.acc_bits),
           "count": np.int64(len(checked))}
    for i, (a, b) in enumerate(checked):
        job[f"a_{i}"], job[f"b_{i}"] = a, b
    run = run_bench(sim, TOPLEVEL, params, BENCH_MODULE, job, waves=waves, seed=seed, build_root=build_root)
    return [DigitSkipCosimResult(run.outputs[f"values_{i}"].astype(np.int64), int(run.outputs["cycles"][i]), sim,
                                 run.build_dir, run.wave_file) for i in range(len(checked))]


def run_digit_skip_4e_gemm_cosim_batch(workloads, cfg: DigitSkip4EConfig, sim: str = "icarus", waves: bool = False,
                                       seed: int = 0, build_root: str | os.PathLike | None = None
                                       ) -> list[DigitSkipGemmCosimResult]:
    """C = A @ B for several (a, b) int8 matrix pairs on a row of ``cfg.cols`` columns, one simulator run.

    Each GEMM is split into the folds of sim.digit_skip.gemm_folds (row m of A against a
    zero-padded n-tile of B), all folds of all GEMMs go through one
    :func:`run_digit_skip_4e_cosim_batch`, and C and the per-fold cycles are put back together.
    """
    if not isinstance(cfg, DigitSkip4EConfig):
        raise ValueError(f"cfg must be a DigitSkip4EConfig, got {type(cfg).__name__}")
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
    runs = run_digit_skip_4e_cosim_batch(folds, cfg.encoding, cfg.acc_bits, sim=sim, waves=waves, seed=seed,
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


def load_digit_skip_4e_job(path) -> tuple[DigitSkip4EConfig, list[tuple[np.ndarray, np.ndarray]]]:
    """(config, [(a (K,), b (K, N)), ...]) from the job file run_digit_skip_4e_cosim_batch writes."""
    with np.load(path) as job:
        cfg = DigitSkip4EConfig(encoding=str(job["encoding"]), acc_bits=int(job["acc_bits"]))
        workloads = [(job[f"a_{i}"], job[f"b_{i}"]) for i in range(int(job["count"]))]
    return cfg, workloads
