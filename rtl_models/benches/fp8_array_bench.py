"""cocotb test bench for fp8_os_array (rtl_models/verilog/fp8_os_array.v), the output-stationary
array of FP8 MACs.

The bench owns no arithmetic: sim.fp8_array says which folds to run (fold_schedule), how many
cycles each must take (fold_cycles) and what C must be, as FP32 bit patterns (simulate_gemm).
Per fold the bench loads the zero-padded tiles of FP8 codes through the load port (one k-slice
per clock), pulses start with t_len = K, counts the rising edges from the one that samples start
to the one after which done is high (both counted, rtl_models.benches.common), reads the output
buffer a row per clock through its registered port, and places the tile into C.

Run by rtl_models.fp8_array_cosim through rtl_models.cosim: the job (the Fp8ArrayConfig and the
(a_codes, b_codes) GEMMs) arrives through rtl_models.benches.common.load_job; the measured C bits
and per-fold cycles leave through common.finish, written before any mismatch fails the test.
Signals are driven on falling edges and sampled after rising edges (ReadOnly).
"""

from __future__ import annotations

import cocotb
import numpy as np

from rtl_models.benches.common import (
    Measured,
    check_widths,
    clock_and_reset,
    compare,
    drive,
    finish,
    load_job,
    pack,
    pulse_start,
    read_port,
    timeout_ns,
    unpack_u32,
)
from sim.fp8_array import (
    Fold,
    Fp8ArrayConfig,
    fold_cycles,
    fold_schedule,
    simulate_gemm,
)

MAX_ERRORS = 8


def _edge_budget(cfg: Fp8ArrayConfig, workloads) -> int:
    """Generous upper bound on the clock edges the whole job needs (loads, folds, reads)."""
    total = 16
    for a, b in workloads:
        for f in fold_schedule(a.shape[0], b.shape[1], a.shape[1], cfg):
            total += f.t + fold_cycles(cfg, f.t) + 2 * cfg.rows + 8
    return total


async def _load(dut, cfg: Fp8ArrayConfig, a: np.ndarray, b: np.ndarray, f: Fold) -> None:
    """Write the fold's zero-padded tiles (code 0 is +0) into the buffers, one k-slice per cycle."""
    at = np.zeros((cfg.rows, f.t), np.int64)
    at[: f.m1 - f.m0] = a[f.m0 : f.m1, f.k0 : f.k1]
    bt = np.zeros((f.t, cfg.cols), np.int64)
    bt[:, : f.n1 - f.n0] = b[f.k0 : f.k1, f.n0 : f.n1]
    await drive(dut, ({"ld_en": 1, "ld_addr": k, "ld_a": pack(at[:, k], 8), "ld_b": pack(bt[k], 8)}
                      for k in range(f.t)))


@cocotb.test(timeout_time=timeout_ns(_edge_budget), timeout_unit="ns")
async def fp8_array_folds(dut):
    """Every GEMM of the job, fold by fold: C bits and per-fold cycles against sim.fp8_array."""
    cfg, workloads = load_job()
    check_widths(dut, {"ld_a": cfg.rows * 8, "ld_b": cfg.cols * 8, "rd_data": cfg.cols * 32,
                       "ld_addr": (cfg.depth - 1).bit_length()})
    await clock_and_reset(dut, ("ld_en", "ld_addr", "ld_a", "ld_b", "start", "t_len", "rd_addr"), cycles=3)

    errors: list[str] = []
    results: list[Measured] = []
    for w, (a, b) in enumerate(workloads):
        m, k = a.shape
        n = b.shape[1]
        model = simulate_gemm(a, b, cfg)
        c = np.zeros((m, n), np.uint32)
        measured = []
        for i, f in enumerate(model.folds):
            expected = model.fold_cycles[i]
            await _load(dut, cfg, a, b, f)
            try:
                edges = await pulse_start(dut, 2 * expected + 16, ld_en=0, t_len=f.t)
            except AssertionError as e:
                raise AssertionError(f"workload {w} fold {i}: {e}") from None
            measured.append(edges)
            compare(errors, f"workload {w} ({m}x{n}x{k}) fold {i}", cycles=edges, model_cycles=expected)
            # the output buffer as FP32 bits (registered read port: a row per cycle)
            tile = await read_port(dut, ({"rd_addr": r} for r in range(f.m1 - f.m0)),
                                   lambda v: unpack_u32(v.to_unsigned(), cfg.cols))
            c[f.m0 : f.m1, f.n0 : f.n1] = np.array(tile, np.uint32)[:, : f.n1 - f.n0]
        compare(errors, f"workload {w} ({m}x{n}x{k})", c, model.c_bits, name="C", fmt=lambda v: f"{int(v):#010x}",
                shown=MAX_ERRORS)
        results.append(Measured(c, measured))
    finish(results, errors, "sim.fp8_array")
