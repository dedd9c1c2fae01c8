"""cocotb test bench for os_systolic_array / ws_systolic_array (rtl_models/verilog).

The bench owns no arithmetic: sim.systolic says which folds to run (fold_schedule), how many
cycles each must take (fold_cycles) and what C must be (simulate_gemm). Per fold the bench loads
the zero-padded tiles through the load ports, pulses start, counts rising clock edges from the
edge that samples start to the edge after which done is high (both counted), reads the output
buffer, and places the tile into C.

Run by rtl_models.systolic_cosim through rtl_models.cosim: the job (the SystolicConfig and the
(a, b) workloads) arrives through rtl_models.benches.common.load_job; common.check_fold_job runs every
workload fold by fold with this driver; the measured C and per-fold cycles leave through common.finish, written before any mismatch fails the test. Signals are
driven on falling edges and sampled after rising edges (ReadOnly), which keeps the bench
race-free on Icarus and Verilator alike.
"""

from __future__ import annotations

import cocotb
import numpy as np

import sim.systolic as systolic
from rtl_models.benches.common import (
    check_fold_job,
    check_widths,
    clock_and_reset,
    drive,
    load_job,
    pack,
    pulse_start,
    read_port,
    timeout_ns,
    unpack_signed,
)
from sim.systolic import Fold, SystolicConfig, fold_cycles, fold_schedule


def _edge_budget(cfg: SystolicConfig, workloads) -> int:
    """Generous upper bound on the clock edges the whole job needs (loads, folds, reads)."""
    total = 16
    for a, b in workloads:
        for f in fold_schedule(a.shape[0], b.shape[1], a.shape[1], cfg):
            total += max(f.t, cfg.rows) + fold_cycles(cfg, f.t) + max(f.t, cfg.rows) + 4
    return total


class _Array:
    """Drives one array instance through the port protocol of its dataflow."""

    def __init__(self, dut, cfg: SystolicConfig):
        self.dut, self.cfg = dut, cfg
        self.ws = cfg.dataflow == "ws"
        # the bus widths must match the config the job was made for
        check_widths(dut, {"ld_a" if not self.ws else "a_data": cfg.rows * cfg.a_bits,
                           "ld_b" if not self.ws else "w_data": cfg.cols * cfg.b_bits,
                           "rd_data": cfg.cols * cfg.acc_bits})

    async def reset(self) -> None:
        loads = ("w_en", "w_addr", "w_data", "a_en", "a_addr", "a_data", "accumulate") if self.ws else \
            ("ld_en", "ld_addr", "ld_a", "ld_b")
        await clock_and_reset(self.dut, ("start", "t_len", "rd_addr") + loads, cycles=3)

    async def load(self, a: np.ndarray, b: np.ndarray, f: Fold) -> None:
        """Write the fold's zero-padded operand tiles into the buffers, one address per cycle."""
        r, c, t, a_bits, b_bits = self.cfg.rows, self.cfg.cols, f.t, self.cfg.a_bits, self.cfg.b_bits
        if not self.ws:
            at = np.zeros((r, t), np.int64)  # a[m0:m1, k] as column k
            at[: f.m1 - f.m0] = a[f.m0 : f.m1, f.k0 : f.k1]
            bt = np.zeros((t, c), np.int64)
            bt[:, : f.n1 - f.n0] = b[f.k0 : f.k1, f.n0 : f.n1]
            await drive(self.dut, ({"ld_en": 1, "ld_addr": k, "ld_a": pack(at[:, k], a_bits),
                                    "ld_b": pack(bt[k], b_bits)} for k in range(t)))
            return
        wt = np.zeros((r, c), np.int64)  # weight tile b[k0:k1, n0:n1]
        wt[: f.k1 - f.k0, : f.n1 - f.n0] = b[f.k0 : f.k1, f.n0 : f.n1]
        at = np.zeros((t, r), np.int64)  # activation rows a[m, k0:k1]
        at[:, : f.k1 - f.k0] = a[f.m0 : f.m1, f.k0 : f.k1]
        steps = []
        for i in range(max(r, t)):  # the two ports load side by side
            step = {"w_en": int(i < r), "a_en": int(i < t)}
            if i < r:
                step.update(w_addr=i, w_data=pack(wt[i], b_bits))
            if i < t:
                step.update(a_addr=i, a_data=pack(at[i], a_bits))
            steps.append(step)
        await drive(self.dut, steps)

    async def run(self, f: Fold, limit: int) -> int:
        """Pulse start; return the rising edges from the one sampling start to done, inclusive."""
        if self.ws:
            return await pulse_start(self.dut, limit, w_en=0, a_en=0, accumulate=int(f.accumulate), t_len=f.t)
        return await pulse_start(self.dut, limit, ld_en=0, t_len=f.t)

    async def read_tile(self, c: np.ndarray, f: Fold) -> None:
        """The fold's final tile from the output buffer (registered read port: one row per cycle)
        into C[m0:m1, n0:n1]."""
        cols, acc_bits = self.cfg.cols, self.cfg.acc_bits
        tile = np.array(await read_port(self.dut, ({"rd_addr": i} for i in range(f.m1 - f.m0)),
                                        lambda v: unpack_signed(v.to_unsigned(), cols, acc_bits)), np.int64)
        c[f.m0 : f.m1, f.n0 : f.n1] = tile[:, : f.n1 - f.n0]


@cocotb.test(timeout_time=timeout_ns(_edge_budget), timeout_unit="ns")
async def gemm_folds(dut):
    """Every workload of the job, fold by fold: C and per-fold cycles against sim.systolic."""
    cfg, _ = load_job()
    await check_fold_job(dut, _Array(dut, cfg), systolic)
