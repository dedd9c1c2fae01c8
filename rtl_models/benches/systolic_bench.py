"""cocotb test bench for os_systolic_array / ws_systolic_array (rtl_models/verilog).

The bench owns no arithmetic: sim.systolic says which folds to run (fold_schedule), how many
cycles each must take (fold_cycles) and what C must be (simulate_gemm). Per fold the bench loads
the zero-padded tiles through the load ports, pulses start, counts rising clock edges from the
edge that samples start to the edge after which done is high (both counted), reads the output
buffer, and places the tile into C.

Run by rtl_models.runner: the job (array config and a list of workloads) arrives as an .npz
named by $BITWEIGHT_COSIM_IN; the measured C and per-fold cycles leave as an .npz at
$BITWEIGHT_COSIM_OUT, written before any mismatch fails the test, so the caller sees both.
Signals are driven on falling edges and sampled after rising edges (ReadOnly), which keeps the
bench race-free on Icarus and Verilator alike.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from rtl_models.benches.common import (
    CLOCK_NS,
    count_cycles_to_done,
    job_path,
    pack,
    save_outputs,
    unpack_signed,
)
from rtl_models.runner import ENV_IN, load_job
from sim.systolic import Fold, SystolicConfig, fold_cycles, fold_schedule, simulate_gemm


def _edge_budget(cfg: SystolicConfig, workloads) -> int:
    """Generous upper bound on the clock edges the whole job needs (loads, folds, reads)."""
    total = 16
    for a, b in workloads:
        for f in fold_schedule(a.shape[0], b.shape[1], a.shape[1], cfg):
            total += max(f.t, cfg.rows) + fold_cycles(cfg, f.t) + max(f.t, cfg.rows) + 4
    return total


def _timeout_ns() -> int:
    """Simulated-time limit for the test: four times the job's edge budget (a hang fails fast)."""
    path = job_path()
    if path is None:
        return 1_000_000
    cfg, workloads = load_job(path)
    return 4 * _edge_budget(cfg, workloads) * CLOCK_NS + 10_000


class _Array:
    """Drives one array instance through the port protocol of its dataflow."""

    def __init__(self, dut, cfg: SystolicConfig):
        self.dut, self.cfg = dut, cfg
        self.ws = cfg.dataflow == "ws"
        # the bus widths must match the config the job was made for
        expect = {"ld_a" if not self.ws else "a_data": cfg.rows * cfg.a_bits,
                  "ld_b" if not self.ws else "w_data": cfg.cols * cfg.b_bits,
                  "rd_data": cfg.cols * cfg.acc_bits}
        for name, width in expect.items():
            got = len(getattr(dut, name))
            if got != width:
                raise AssertionError(f"{name} is {got} bits wide, the job's config needs {width}")

    def idle_inputs(self) -> None:
        d = self.dut
        d.start.value = 0
        d.t_len.value = 0
        d.rd_addr.value = 0
        if self.ws:
            for name in ("w_en", "w_addr", "w_data", "a_en", "a_addr", "a_data", "accumulate"):
                getattr(d, name).value = 0
        else:
            for name in ("ld_en", "ld_addr", "ld_a", "ld_b"):
                getattr(d, name).value = 0

    async def reset(self) -> None:
        self.idle_inputs()
        self.dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def load(self, a: np.ndarray, b: np.ndarray, f: Fold) -> None:
        """Write the fold's zero-padded operand tiles into the buffers, one address per cycle."""
        d, r, c, t = self.dut, self.cfg.rows, self.cfg.cols, f.t
        if not self.ws:
            at = np.zeros((r, t), np.int64)  # a[m0:m1, k] as column k
            at[: f.m1 - f.m0] = a[f.m0 : f.m1, f.k0 : f.k1]
            bt = np.zeros((t, c), np.int64)
            bt[:, : f.n1 - f.n0] = b[f.k0 : f.k1, f.n0 : f.n1]
            for k in range(t):
                await FallingEdge(d.clk)
                d.ld_en.value = 1
                d.ld_addr.value = k
                d.ld_a.value = pack(at[:, k], self.cfg.a_bits)
                d.ld_b.value = pack(bt[k], self.cfg.b_bits)
            return
        wt = np.zeros((r, c), np.int64)  # weight tile b[k0:k1, n0:n1]
        wt[: f.k1 - f.k0, : f.n1 - f.n0] = b[f.k0 : f.k1, f.n0 : f.n1]
        at = np.zeros((t, r), np.int64)  # activation rows a[m, k0:k1]
        at[:, : f.k1 - f.k0] = a[f.m0 : f.m1, f.k0 : f.k1]
        for i in range(max(r, t)):  # the two ports load side by side
            await FallingEdge(d.clk)
            d.w_en.value = int(i < r)
            d.a_en.value = int(i < t)
            if i < r:
                d.w_addr.value = i
                d.w_data.value = pack(wt[i], self.cfg.b_bits)
            if i < t:
                d.a_addr.value = i
                d.a_data.value = pack(at[i], self.cfg.a_bits)

    async def run(self, f: Fold, limit: int) -> int:
        """Pulse start; return the rising edges from the one sampling start to done, inclusive."""
        d = self.dut
        await FallingEdge(d.clk)
        if self.ws:
            d.w_en.value = 0
            d.a_en.value = 0
            d.accumulate.value = int(f.accumulate)
        else:
            d.ld_en.value = 0
        d.start.value = 1
        d.t_len.value = f.t
        return await count_cycles_to_done(d, limit)

    async def read(self, rows: int) -> np.ndarray:
        """Rows 0..rows-1 of the output buffer (registered read port: one row per cycle)."""
        d, out = self.dut, np.zeros((rows, self.cfg.cols), np.int64)
        for i in range(rows):
            await FallingEdge(d.clk)
            d.rd_addr.value = i
            await RisingEdge(d.clk)
            await ReadOnly()
            out[i] = unpack_signed(d.rd_data.value.to_unsigned(), self.cfg.cols, self.cfg.acc_bits)
        return out


@cocotb.test(timeout_time=_timeout_ns(), timeout_unit="ns")
async def gemm_folds(dut):
    """Every workload of the job, fold by fold: C and per-fold cycles against sim.systolic."""
    cfg, workloads = load_job(os.environ[ENV_IN])
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    array = _Array(dut, cfg)
    await array.reset()

    errors: list[str] = []
    outputs: dict[str, np.ndarray] = {}
    for w, (a, b) in enumerate(workloads):
        m, k = a.shape
        n = b.shape[1]
        model = simulate_gemm(a, b, cfg)
        folds = fold_schedule(m, n, k, cfg)
        c = np.zeros((m, n), np.int64)
        measured = []
        for i, f in enumerate(folds):
            expected = fold_cycles(cfg, f.t)
            await array.load(a, b, f)
            edges = await array.run(f, limit=2 * expected + 64)
            measured.append(edges)
            if edges != expected:
                errors.append(f"workload {w} ({m}x{n}x{k}) fold {i} {f}: {edges} cycles, model {expected}")
            # WS k-tiles after the first add into the buffer: read once the tile is final
            if i + 1 == len(folds) or not folds[i + 1].accumulate:
                tile = await array.read(f.m1 - f.m0)
                c[f.m0 : f.m1, f.n0 : f.n1] = tile[:, : f.n1 - f.n0]
        if measured != list(model.fold_cycles):
            errors.append(f"workload {w}: fold cycles {measured} != model {list(model.fold_cycles)}")
        if not np.array_equal(c, model.c):
            bad = np.argwhere(c != model.c)
            i0, j0 = bad[0]
            errors.append(
                f"workload {w} ({m}x{n}x{k}): {len(bad)} outputs differ from the model, first "
                f"C[{i0},{j0}] = {c[i0, j0]}, model {model.c[i0, j0]}"
            )
        outputs[f"c_{w}"] = c
        outputs[f"fold_cycles_{w}"] = np.array(measured, np.int64)

    save_outputs(errors, **outputs)
    assert not errors, "RTL disagrees with sim.systolic:\n" + "\n".join(errors)
