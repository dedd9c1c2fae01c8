"""cocotb test bench for bcast_matrix (rtl_models/verilog/bcast_matrix.v), the 2D-matrix
(broadcast) engine with the MAC or the OPT1 carry-save PE.

The bench is the engine's operand and output buffers; sim.broadcast says what C must be and how
many cycles each fold takes. Per fold: the clear edge with the first operands, the rest of K
(one column of A and one row of B per clock, zero-padded to the grid), one idle edge for the last
add, then R row reads. It counts the edges from the clear edge to the one that registers the last
row. Signals are driven on falling edges and sampled after rising edges (ReadOnly).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from rtl_models.benches.common import (
    Measured,
    check_widths,
    clock_and_reset,
    compare,
    finish,
    load_job,
    pack,
    timeout_ns,
    unpack_signed,
)
from sim.broadcast import READOUT_PIPELINE, BroadcastConfig, simulate_gemm

ACC_W = 32


def _edge_budget(cfg: BroadcastConfig, work) -> int:
    return sum(simulate_gemm(a, b, cfg).cycles + 4 * len(simulate_gemm(a, b, cfg).folds) for a, b in work) + 16


async def _fold(dut, cfg: BroadcastConfig, a_t: np.ndarray, b_t: np.ndarray):
    m, k = a_t.shape
    n = b_t.shape[1]
    a_pad = np.zeros((cfg.rows, k), np.int64)
    a_pad[:m] = a_t
    b_pad = np.zeros((k, cfg.cols), np.int64)
    b_pad[:, :n] = b_t
    rows, edge, last = [], 0, 0

    async def tick():
        nonlocal edge, last
        await RisingEdge(dut.clk)
        edge += 1
        await ReadOnly()
        if dut.rd_valid.value == 1:
            rows.append(unpack_signed(dut.rd_data.value.to_unsigned(), cfg.cols, ACC_W))
            last = edge

    plan = [("mac", t) for t in range(k)] + [("idle", None)] + [("read", r) for r in range(cfg.rows)]
    plan += [("idle", None)] * (1 + (READOUT_PIPELINE if cfg.pe == "booth_csa" else 0))
    for step, (what, idx) in enumerate(plan):
        await FallingEdge(dut.clk)
        dut.clear.value = int(step == 0)
        dut.in_valid.value = int(what == "mac")
        dut.a_col.value = pack(a_pad[:, idx], 8) if what == "mac" else 0
        dut.b_row.value = pack(b_pad[idx], 8) if what == "mac" else 0
        dut.rd_en.value = int(what == "read")
        dut.rd_row.value = idx if what == "read" else 0
        await tick()
    if len(rows) != cfg.rows:
        raise AssertionError(f"fold read {len(rows)} rows, the grid has {cfg.rows}")
    return np.array(rows, np.int64)[:m, :n], last


@cocotb.test(timeout_time=timeout_ns(_edge_budget), timeout_unit="ns")
async def bcast_workloads(dut):
    """Every workload of the job: C and every fold's cycles against sim.broadcast."""
    cfg, work = load_job()
    check_widths(dut, {"a_col": cfg.rows * 8, "b_row": cfg.cols * 8, "rd_data": cfg.cols * ACC_W})
    await clock_and_reset(dut, ("clear", "in_valid", "a_col", "b_row", "rd_en", "rd_row"))

    errors, results = [], []
    for w, (a, b) in enumerate(work):
        model = simulate_gemm(a, b, cfg)
        c = np.zeros(model.c.shape, np.int64)
        fold_cycles = []
        for f in model.folds:
            part, cycles = await _fold(dut, cfg, a[f.m0:f.m1].astype(np.int64), b[:, f.n0:f.n1].astype(np.int64))
            c[f.m0:f.m1, f.n0:f.n1] = part
            fold_cycles.append(cycles)
        compare(errors, f"workload {w}", c, model.c, fold_cycles, model.fold_cycles)
        results.append(Measured(c, fold_cycles))
    finish(results, errors, "sim.broadcast")
