"""Co-simulate the input-stationary systolic array (rtl_models/verilog/is_systolic_array.v) under
cocotb on Icarus or Verilator: a binding of rtl_models.cosim.

    from rtl_models.is_cosim import run_is_cosim_batch
    from sim.input_stationary import ISConfig
    res = run_is_cosim_batch([(a, b)], ISConfig(4, 4), sim="verilator")[0]
    res.values, res.fold_cycles, res.cycles   # values: C, int32

The bench (rtl_models/benches/is_systolic_bench.py) checks C and every fold's cycles against
sim.input_stationary; the run raises rtl_models.cosim.CosimError on any difference.
"""

from __future__ import annotations

import os

import numpy as np

from rtl_models.cosim import Binding, CosimOutcome, buffer_depth, cosim_batch, int8_gemm_case
from rtl_models.systolic_cosim import PE_KINDS
from sim.input_stationary import ISConfig, check_operands

BENCH_MODULE = "rtl_models.benches.is_systolic_bench"
TOPLEVEL = "is_systolic_array"
DEFAULT_DEPTH = 16  # the Verilog's default DEPTH, used when no streamed length is given


def rtl_params(cfg: ISConfig, t_max: int | None = None) -> dict[str, int]:
    """The Verilog parameters of is_systolic_array for ``cfg``.

    DEPTH (streamed columns of B the buffers hold) is rtl_models.cosim.buffer_depth(t_max) for a
    longest streamed length ``t_max`` (= the largest N), else the Verilog's default 16. PE_KIND
    appears only for the OPT1 PE, as in the OS and WS arrays, so MAC builds keep their folders' names.
    """
    if not isinstance(cfg, ISConfig):
        raise TypeError(f"cfg must be a sim.input_stationary.ISConfig, got {type(cfg).__name__}")
    if t_max is None:
        depth = DEFAULT_DEPTH
    elif isinstance(t_max, bool) or not isinstance(t_max, (int, np.integer)) or t_max < 1:
        raise ValueError(f"t_max must be a positive integer (the longest streamed length N), got {t_max!r}")
    else:
        depth = buffer_depth(int(t_max))
    params = {"R": int(cfg.rows), "C": int(cfg.cols), "A_W": int(cfg.a_bits), "B_W": int(cfg.b_bits),
              "ACC_W": int(cfg.acc_bits), "DEPTH": depth}
    if cfg.pe != "mac":
        params["PE_KIND"] = PE_KINDS[cfg.pe]
    return params


def _check_config(cfg: ISConfig) -> None:
    if cfg.a_bits > 8 or cfg.b_bits > 8:
        raise ValueError(f"the co-simulation takes int8 operands: a_bits and b_bits must be <= 8, "
                         f"got a_bits={cfg.a_bits}, b_bits={cfg.b_bits}")
    if cfg.acc_bits > 32:
        raise ValueError(f"the co-simulation returns int32 results: acc_bits must be <= 32, got {cfg.acc_bits}")


def _check_case(cfg: ISConfig, a, b) -> tuple[np.ndarray, np.ndarray]:
    """int8, 2-D, non-empty, inner dimensions agree; values within the widths, K within the accumulator."""
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray) or x.dtype != np.int8:
            got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"{name} must be an int8 numpy array, got {got}")
    return int8_gemm_case(lambda a_, b_, c_: check_operands(a_, b_, c_))(cfg, a, b)


BINDING = Binding(top=TOPLEVEL, bench=BENCH_MODULE, config=ISConfig, check_config=_check_config,
                  check_case=_check_case, case_doc="(a, b) pair of int8 matrices", dtype=np.int32,
                  params=lambda cfg, cases: rtl_params(cfg, max(b.shape[1] for _, b in cases)))


def run_is_cosim_batch(workloads, cfg: ISConfig, sim: str = "icarus", seed: int = 0, waves: bool = False,
                       build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Co-simulate several (a, b) int8 GEMMs C = A @ B on the IS array ``cfg`` in one simulator run:
    one CosimOutcome per workload, in order (C as int32, the measured cycles per fold of
    sim.input_stationary.fold_schedule)."""
    return cosim_batch(BINDING, workloads, cfg, sim=sim, seed=seed, waves=waves, build_root=build_root)
