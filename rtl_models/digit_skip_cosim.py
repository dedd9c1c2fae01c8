"""Co-simulate the zero-digit-skipping PE (rtl_models/verilog/digit_skip_pe.v, top digit_skip_dot)
under cocotb on Icarus or Verilator, against sim/digit_skip.py: a binding of rtl_models.cosim.

    from rtl_models.digit_skip_cosim import run_digit_skip_cosim
    res = run_digit_skip_cosim(a_int8, b_int8, encoding="ent", sim="verilator")
    res.value, res.cycles, res.build_dir

``b`` is a K-vector (one PE, N = 1) or a K x N matrix: N accumulator columns sharing one digit
sequencer (digit_skip_dot's N parameter), giving ``res.values`` (N,) in the cycles of one PE.
``run_digit_skip_gemm_cosim_batch(workloads, DigitSkipConfig(cols=4))`` runs whole GEMMs, folded
as sim.digit_skip.simulate_gemm folds them, and returns C (values) and the per-fold cycles.

The dot-product row tops (this one, OPT4E's in rtl_models/digit_skip_4e_cosim.py) are bindings
made by :func:`row_binding`, run by :func:`run_dot_batch` and :func:`run_gemm_batch`. Their bench
(rtl_models/benches/digit_skip_bench.py) checks every result and every start-to-done cycle count
against the model and raises CosimError on any difference. The RTL's operand buffer is DEPTH =
buffer_depth(longest K) deep (a power of two >= 4), so a handful of builds serve every workload.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from rtl_models.cosim import Binding, CosimError, CosimOutcome, buffer_depth, cosim_batch
from sim.digit_skip import DigitSkipConfig, check_row_operands, gemm_folds

BENCH_MODULE = "rtl_models.benches.digit_skip_bench"
TOPLEVEL = "digit_skip_dot"
# the RTL's ENC parameter for each recoding of sim/digits.py
ENC_PARAM = {"ent": 0, "booth": 1}

__all__ = ["CosimError", "OPT3", "digit_skip_params", "row_binding", "run_digit_skip_cosim",
           "run_digit_skip_cosim_batch", "run_digit_skip_gemm_cosim_batch", "run_dot_batch", "run_gemm_batch"]


def digit_skip_params(cfg: DigitSkipConfig, k_max: int, cols: int = 1) -> dict[str, int]:
    """The Verilog parameters of digit_skip_dot: a config, the longest K, the columns N."""
    return {"ACC_W": int(cfg.acc_bits), "DEPTH": buffer_depth(k_max), "ENC": ENC_PARAM[cfg.encoding],
            "N": int(cols)}


def row_binding(top: str, bench: str, config: type, check_row_operands: Callable, params: Callable) -> Binding:
    """The binding of a dot-product row top with digit_skip_dot's host protocol: cases (a (K,),
    b (K,) or (K, N)), checked by the model's ``check_row_operands(a, b (K, N), cfg)``, built by
    ``params(cfg, longest K, N)`` with one N for the whole batch (one build)."""

    def check(cfg, a, b) -> tuple[np.ndarray, np.ndarray]:
        b = np.asarray(b)
        a, b = check_row_operands(a, b[:, None] if b.ndim == 1 else b, cfg)
        return a.astype(np.int8), b.astype(np.int8)

    def build_params(cfg, workloads) -> dict[str, int]:
        n = workloads[0][1].shape[1]
        for i, (_, b) in enumerate(workloads):
            if b.shape[1] != n:
                raise ValueError(f"workload {i} has N = {b.shape[1]} columns, workload 0 has {n}: "
                                 "one batch is one build, with one N")
        return params(cfg, max(a.size for a, _ in workloads), n)

    return Binding(top=top, bench=bench, params=build_params, config=config, check_case=check,
                   case_doc="(a, b) pair of int8 vectors", dtype=np.int64)


OPT3 = row_binding(TOPLEVEL, BENCH_MODULE, DigitSkipConfig, check_row_operands, digit_skip_params)


def run_dot_batch(binding: Binding, workloads, encoding: str = "ent", acc_bits: int = 32, sim: str = "icarus",
                  waves: bool = False, seed: int = 0,
                  build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Co-simulate several (a, b) int8 workloads on a row top in one simulator run, in order.

    a is a K-vector; b a K-vector or a K x N matrix, with the same N across the batch (one build).
    Each outcome's values are the N dot products (int64), its cycles the start-to-done cycles.
    """
    return cosim_batch(binding, workloads, binding.config(encoding=encoding, acc_bits=acc_bits), sim=sim, seed=seed,
                       waves=waves, build_root=build_root)


def run_gemm_batch(binding: Binding, workloads, cfg, sim: str = "icarus", waves: bool = False, seed: int = 0,
                   build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """C = A @ B for several (a, b) int8 matrix pairs on a row of ``cfg.cols`` columns of a row
    top, one simulator run.

    Each GEMM is split into the folds of sim.digit_skip.gemm_folds (row m of A against a
    zero-padded n-tile of B), all folds of all GEMMs go through one :func:`run_dot_batch`, and C
    (values: int32, int64 for acc_bits > 32) and the per-fold cycles are put back together.
    """
    if not isinstance(cfg, binding.config):
        raise ValueError(f"cfg must be a {binding.config.__name__}, got {type(cfg).__name__}")
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
    runs = run_dot_batch(binding, folds, cfg.encoding, cfg.acc_bits, sim=sim, waves=waves, seed=seed,
                         build_root=build_root)
    out = []
    for start, stop, m, n in spans:
        c = np.zeros((m, n), np.int64)
        for res, (i, n0, n1) in zip(runs[start:stop], gemm_folds(m, n, cfg.cols)):
            c[i, n0:n1] = res.values[: n1 - n0]
        fc = tuple(r.cycles for r in runs[start:stop])
        out.append(CosimOutcome(c.astype(np.int32 if cfg.acc_bits <= 32 else np.int64), sum(fc), fc, sim,
                                runs[0].build_dir, runs[0].wave_file))
    return out


def run_digit_skip_cosim(a, b, encoding: str = "ent", acc_bits: int = 32, sim: str = "icarus",
                         waves: bool = False, seed: int = 0,
                         build_root: str | os.PathLike | None = None) -> CosimOutcome:
    """sum_k a_k b_k on the OPT3 PE in RTL; see :func:`run_dot_batch`."""
    return run_dot_batch(OPT3, [(a, b)], encoding, acc_bits, sim=sim, waves=waves, seed=seed,
                         build_root=build_root)[0]


def run_digit_skip_cosim_batch(workloads, encoding: str = "ent", acc_bits: int = 32, sim: str = "icarus",
                               waves: bool = False, seed: int = 0,
                               build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Several (a, b) workloads on the OPT3 row in one simulator run; see :func:`run_dot_batch`."""
    return run_dot_batch(OPT3, workloads, encoding, acc_bits, sim=sim, waves=waves, seed=seed, build_root=build_root)


def run_digit_skip_gemm_cosim_batch(workloads, cfg: DigitSkipConfig, sim: str = "icarus", waves: bool = False,
                                    seed: int = 0, build_root: str | os.PathLike | None = None
                                    ) -> list[CosimOutcome]:
    """GEMMs on a row of ``cfg.cols`` OPT3 columns; see :func:`run_gemm_batch`."""
    return run_gemm_batch(OPT3, workloads, cfg, sim=sim, waves=waves, seed=seed, build_root=build_root)
