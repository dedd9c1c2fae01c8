"""cocotb test bench for is_systolic_array (rtl_models/verilog/is_systolic_array.v), the
input-stationary array.

The bench owns no arithmetic: sim.input_stationary says which folds to run (fold_schedule), how
many cycles each must take (fold_cycles) and what C must be (simulate_gemm). Per fold (m-tiles of
C columns outer, k-tiles of R rows inner) the bench writes A's zero-padded R x C tile through the
stationary port (row r = k - k0, lane c = a[m0 + c][k]) and B's N columns through the streamed
port (address n, lane r = b[k0 + r][n]), pulses start with t_len = N, counts rising clock edges
from the edge that samples start to the edge after which done is high (both counted), and after
an m-tile's last k-tile reads the N rows of C^T from the output buffer and places their
transpose into C[m0:m1, :].

Run by rtl_models.is_cosim through rtl_models.cosim: the job (the ISConfig and the (a, b)
workloads) arrives through rtl_models.benches.common.load_job; the measured C and per-fold cycles
leave through common.finish, written before any mismatch fails the test. Signals are driven on
falling edges and sampled after rising edges (ReadOnly).
"""

from __future__ import annotations

import cocotb
import numpy as np

import sim.input_stationary as model
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
from sim.systolic import Fold


def _edge_budget(cfg: model.ISConfig, workloads) -> int:
    """Generous upper bound on the clock edges the whole job needs (loads, folds, reads)."""
    total = 16
    for a, b in workloads:
        for f in model.fold_schedule(a.shape[0], b.shape[1], a.shape[1], cfg):
            total += max(f.t, cfg.rows) + model.fold_cycles(cfg, f.t) + f.t + 4
    return total


class _Array:
    """Drives is_systolic_array through its port protocol."""

    def __init__(self, dut, cfg: model.ISConfig):
        self.dut, self.cfg = dut, cfg
        check_widths(dut, {"a_data": cfg.cols * cfg.a_bits, "b_data": cfg.rows * cfg.b_bits,
                           "rd_data": cfg.cols * cfg.acc_bits})

    async def reset(self) -> None:
        await clock_and_reset(self.dut, ("start", "t_len", "rd_addr", "accumulate", "a_en", "a_addr", "a_data",
                                         "b_en", "b_addr", "b_data"), cycles=3)

    async def load(self, a: np.ndarray, b: np.ndarray, f: Fold) -> None:
        """Write A's zero-padded R x C tile and B's N columns (k0:k1 rows, zero-padded to R);
        the two ports load side by side, one address per cycle."""
        r, c, t = self.cfg.rows, self.cfg.cols, f.t
        st = np.zeros((r, c), np.int64)  # stationary tile: st[k - k0, m - m0] = a[m, k]
        st[: f.k1 - f.k0, : f.m1 - f.m0] = a[f.m0 : f.m1, f.k0 : f.k1].T
        bs = np.zeros((t, r), np.int64)  # streamed: bs[n, k - k0] = b[k, n]
        bs[:, : f.k1 - f.k0] = b[f.k0 : f.k1, f.n0 : f.n1].T
        steps = []
        for i in range(max(r, t)):  # the two ports load side by side
            step = {"a_en": int(i < r), "b_en": int(i < t)}
            if i < r:
                step.update(a_addr=i, a_data=pack(st[i], self.cfg.a_bits))
            if i < t:
                step.update(b_addr=i, b_data=pack(bs[i], self.cfg.b_bits))
            steps.append(step)
        await drive(self.dut, steps)

    async def run(self, f: Fold, limit: int) -> int:
        """Pulse start; return the rising edges from the one sampling start to done, inclusive."""
        return await pulse_start(self.dut, limit, a_en=0, b_en=0, accumulate=int(f.accumulate), t_len=f.t)

    async def read_tile(self, c: np.ndarray, f: Fold) -> None:
        """The m-tile's final C^T from the output buffer, rows n = 0..N-1 (registered read port:
        one row per cycle; lane c = C[m0 + c, n]), transposed into C[m0:m1, :]."""
        cols, acc_bits = self.cfg.cols, self.cfg.acc_bits
        tile = np.array(await read_port(self.dut, ({"rd_addr": i} for i in range(f.t)),
                                        lambda v: unpack_signed(v.to_unsigned(), cols, acc_bits)), np.int64)
        c[f.m0 : f.m1, f.n0 : f.n1] = tile[: f.n1 - f.n0, : f.m1 - f.m0].T


@cocotb.test(timeout_time=timeout_ns(_edge_budget), timeout_unit="ns")
async def is_gemm_folds(dut):
    """Every workload of the job, fold by fold: C and per-fold cycles against sim.input_stationary."""
    cfg, _ = load_job()
    await check_fold_job(dut, _Array(dut, cfg), model)
