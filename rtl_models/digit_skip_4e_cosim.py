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

The host protocol of digit_skip_4e_dot is digit_skip_dot's, so the binding is made by
rtl_models.digit_skip_cosim.row_binding and runs through its run_dot_batch / run_gemm_batch. The
OPT3 bench (rtl_models/benches/digit_skip_bench.py, which takes the row model from the job's
config) checks every result and every start-to-done cycle count against sim.digit_skip_4e and
raises CosimError on any difference. The RTL's operand buffer is DEPTH = max(16,
buffer_depth(longest K)) deep: whole chunks of 16.
"""

from __future__ import annotations

import os

from rtl_models.cosim import CosimError, CosimOutcome, buffer_depth
from rtl_models.digit_skip_cosim import BENCH_MODULE, ENC_PARAM, row_binding, run_dot_batch, run_gemm_batch
from sim.digit_skip_4e import CHUNK, DigitSkip4EConfig, check_row_operands

TOPLEVEL = "digit_skip_4e_dot"
PE_TOPLEVEL = "digit_skip_4e_pe"

__all__ = ["CosimError", "OPT4E", "digit_skip_4e_params", "run_digit_skip_4e_cosim", "run_digit_skip_4e_cosim_batch",
           "run_digit_skip_4e_gemm_cosim_batch"]


def digit_skip_4e_params(cfg: DigitSkip4EConfig, k_max: int, cols: int = 1) -> dict[str, int]:
    """The Verilog parameters of digit_skip_4e_dot: a config, the longest K, the columns N."""
    return {"ACC_W": int(cfg.acc_bits), "DEPTH": max(CHUNK, buffer_depth(k_max)), "ENC": ENC_PARAM[cfg.encoding],
            "N": int(cols)}


OPT4E = row_binding(TOPLEVEL, BENCH_MODULE, DigitSkip4EConfig, check_row_operands, digit_skip_4e_params)


def run_digit_skip_4e_cosim(a, b, encoding: str = "ent", acc_bits: int = 32, sim: str = "icarus",
                            waves: bool = False, seed: int = 0,
                            build_root: str | os.PathLike | None = None) -> CosimOutcome:
    """sum_k a_k b_k on the OPT4E group in RTL; see rtl_models.digit_skip_cosim.run_dot_batch."""
    return run_dot_batch(OPT4E, [(a, b)], encoding, acc_bits, sim=sim, waves=waves, seed=seed,
                         build_root=build_root)[0]


def run_digit_skip_4e_cosim_batch(workloads, encoding: str = "ent", acc_bits: int = 32, sim: str = "icarus",
                                  waves: bool = False, seed: int = 0,
                                  build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Several (a, b) workloads on the OPT4E group in one simulator run (a K-vector; b a K-vector or
    K x N with one N per batch); see rtl_models.digit_skip_cosim.run_dot_batch."""
    return run_dot_batch(OPT4E, workloads, encoding, acc_bits, sim=sim, waves=waves, seed=seed,
                         build_root=build_root)


def run_digit_skip_4e_gemm_cosim_batch(workloads, cfg: DigitSkip4EConfig, sim: str = "icarus", waves: bool = False,
                                       seed: int = 0, build_root: str | os.PathLike | None = None
                                       ) -> list[CosimOutcome]:
    """GEMMs on a row of ``cfg.cols`` OPT4E columns, folded as sim.digit_skip.gemm_folds folds them;
    see rtl_models.digit_skip_cosim.run_gemm_batch."""
    return run_gemm_batch(OPT4E, workloads, cfg, sim=sim, waves=waves, seed=seed, build_root=build_root)
