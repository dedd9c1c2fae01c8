"""cocotb test bench for tree_gemm (rtl_models/verilog/tree_gemm.v): the multiplier-adder tree
engine, the 3D-cube (ROWS > 1), and their OPT1 carry-save and OPT2 same-bit-weight variants.

The bench plays the engine's surroundings: the operand buffers and the output buffer that holds
partial sums between K-tiles. sim.adder_tree says what C must be and how many cycles each fold
takes. Per fold (N-tiles outer, K-tiles inner) it writes the K x N tile row by row (zero rows and
columns pad a partial tile), then streams the M rows of A, each with its partial sums from the
output buffer (0 on a first K-tile), keeps clocking with a_valid low until every registered
result has come out (at most DRAIN_LIMIT clocks: the pipeline depth is measured, not assumed, so
OPT1's extra (sum, carry) stage shows as one more edge), and counts the rising edges from the
first tile-row write to the edge that registered the last result. Signals are driven on falling
edges and sampled after rising edges (ReadOnly).
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
from sim.adder_tree import TreeConfig, simulate_gemm, tree_folds

ACC_W = 32
DRAIN_LIMIT = 4  # idle clocks after the last row group before a missing result is an error


def _edge_budget(cfg: TreeConfig, work) -> int:
    return sum(simulate_gemm(a, b, cfg).cycles + DRAIN_LIMIT * len(tree_folds(a.shape[0], b.shape[1], a.shape[1], cfg))
               for a, b in work) + 16


async def _fold(dut, cfg: TreeConfig, a_t: np.ndarray, b_t: np.ndarray, psum: np.ndarray):
    """One fold; returns the (M, n) results and the edge of the last one."""
    m, kr = a_t.shape
    nr = b_t.shape[1]
    groups = -(-m // cfg.rows)
    tile = np.zeros((cfg.k, cfg.n), np.int64)
    tile[:kr, :nr] = b_t
    rows = np.zeros((groups * cfg.rows, cfg.k), np.int64)
    rows[:m, :kr] = a_t
    ps = np.zeros((groups * cfg.rows, cfg.n), np.int64)
    ps[:m, :nr] = psum
    out, last_edge, edge = [], 0, 0

    async def tick():
        nonlocal edge, last_edge
        await RisingEdge(dut.clk)
        edge += 1
        await ReadOnly()
        if dut.y_valid.value == 1:
            flat = unpack_signed(dut.y_vec.value.to_unsigned(), cfg.rows * cfg.n, ACC_W)
            out.extend(flat[r * cfg.n:(r + 1) * cfg.n] for r in range(cfg.rows))
            last_edge = edge

    for kk in range(cfg.k):
        await FallingEdge(dut.clk)
        dut.b_we.value = 1
        dut.b_row_idx.value = kk
        dut.b_row.value = pack(tile[kk], 8)
        dut.a_valid.value = 0
        await tick()
    for g in range(groups):
        await FallingEdge(dut.clk)
        dut.b_we.value = 0
        dut.a_valid.value = 1
        dut.a_vec.value = pack(rows[g * cfg.rows:(g + 1) * cfg.rows].ravel(), 8)
        dut.psum_in.value = pack(ps[g * cfg.rows:(g + 1) * cfg.rows].ravel(), ACC_W)
        await tick()
    for _ in range(DRAIN_LIMIT):
        if len(out) >= groups * cfg.rows:
            break
        await FallingEdge(dut.clk)
        dut.b_we.value = 0
        dut.a_valid.value = 0
        dut.a_vec.value = 0
        dut.psum_in.value = 0
        await tick()
    if len(out) != groups * cfg.rows:
        raise AssertionError(f"fold gave {len(out)} result rows for {groups} groups of {cfg.rows}")
    return np.array(out, np.int64)[:m, :nr], last_edge


@cocotb.test(timeout_time=timeout_ns(_edge_budget), timeout_unit="ns")
async def tree_gemm_workloads(dut):
    """Every workload of the job: C and every fold's cycles against sim.adder_tree."""
    cfg, work = load_job()
    check_widths(dut, {"a_vec": cfg.rows * cfg.k * 8, "b_row": cfg.n * 8, "y_vec": cfg.rows * cfg.n * ACC_W})
    await clock_and_reset(dut, ("b_we", "b_row_idx", "b_row", "a_valid", "a_vec", "psum_in"))

    errors: list[str] = []
    results: list[Measured] = []
    for w, (a, b) in enumerate(work):
        model = simulate_gemm(a, b, cfg)
        m, n = a.shape[0], b.shape[1]
        buf = np.zeros((m, n), np.int64)  # the output buffer
        fold_cycles = []
        for f in model.folds:
            psum = buf[:, f.n0:f.n1] if f.k0 > 0 else np.zeros((m, f.n1 - f.n0), np.int64)
            a_t, b_t = a[:, f.k0:f.k1].astype(np.int64), b[f.k0:f.k1, f.n0:f.n1].astype(np.int64)
            y, cycles = await _fold(dut, cfg, a_t, b_t, psum)
            buf[:, f.n0:f.n1] = y
            fold_cycles.append(cycles)
        compare(errors, f"workload {w}", buf, model.c, fold_cycles, model.fold_cycles)
        results.append(Measured(buf, fold_cycles))
    finish(results, errors, "sim.adder_tree")
