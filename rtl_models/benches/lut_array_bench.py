"""cocotb test bench for lut_array (rtl_models/verilog/lut_array.v): P LUT look-up lanes around one
table builder, single- or double-buffered table.

The bench owns no arithmetic: sim.lut_array says what y must be and how many cycles the GEMM takes
(simulate_lut_array with the job's lanes / double_buffer, which must match the build's P / DBUF).
Per workload it writes the shared activation buffer and every lane's weight-byte and exponent
buffers through the load port in the layouts lut_array.v documents (lane l holds rows
n = l + P*s; slots past N are loaded with zeros and stay idle), pulses start with the lengths,
measures the cycles from the edge that samples start to the edge on which done rises (both
counted; rtl_models.benches.common.count_cycles_to_done), reads every lane's accumulators back
and compares.

Run by rtl_models.lut_array_cosim through rtl_models.cosim: the job (the LutArrayConfig and the
workloads) arrives through rtl_models.benches.common.load_job; y and the cycles leave through
common.finish, written before any mismatch fails the test. The load port and the start are the
LUT PE's (lut_bench.py), with a lane select.
"""

from __future__ import annotations

import cocotb
import numpy as np

from rtl_models.benches.common import (
    Measured,
    clock_and_reset,
    compare,
    finish,
    load_job,
    read_port,
    timeout_ns,
)
from rtl_models.benches.lut_bench import LOAD_PORTS, SEL_E, SEL_W, SEL_X, load_bytes, run_gemm, tag_of
from sim.lut_array import (
    LutArrayConfig,
    lane_slots,
    lut_array_cycles,
    simulate_lut_array,
)


def lane_layout(a: np.ndarray, lanes: int) -> np.ndarray:
    """(q, N, C) -> (P, C, NL, q): lane l, column c, slot s, plane i = a[i, l + P*s, c] (0 past N).

    Flattened per lane, that is the order lut_array.v reads: wbuf[(kb*NL + s)*q + i] and
    ebuf[(grp*NL + s)*q + i].
    """
    q, n, cols = a.shape
    nl = lane_slots(n, lanes)
    padded = np.zeros((q, nl * lanes, cols), a.dtype)
    padded[:, :n] = a
    return padded.reshape(q, nl, lanes, cols).transpose(2, 3, 1, 0)


def _edge_budget(cfg: LutArrayConfig, workloads) -> int:
    total = 16
    for x, packed, exps, _ in workloads:
        q, n, _ = packed.shape
        nl = lane_slots(n, cfg.lanes)
        loads = x.size + cfg.lanes * nl * q * (packed.shape[2] + exps.shape[2])
        total += loads + lut_array_cycles(x.shape[0], x.shape[1], n, q, cfg.lanes, cfg.double_buffer) \
            + x.shape[0] * n + 8
    return total


async def _read(dut, m_len: int, n_len: int, lanes: int) -> np.ndarray:
    """y (M, N) from the lanes' accumulators: y[m, l + P*s] = lane l's ybuf[m*NL + s]."""
    nl = lane_slots(n_len, lanes)
    where = [(m, lane, s) for lane in range(lanes) for m in range(m_len) for s in range(nl) if lane + lanes * s < n_len]
    got = await read_port(dut, ({"rd_lane": lane, "rd_addr": m * nl + s} for m, lane, s in where))
    y = np.zeros((m_len, n_len), np.int64)
    for (m, lane, s), v in zip(where, got):
        y[m, lane + lanes * s] = v
    return y


@cocotb.test(timeout_time=timeout_ns(_edge_budget), timeout_unit="ns")
async def lut_array_gemms(dut):
    """Every workload of the job: y and start->done cycles against sim.lut_array."""
    cfg, workloads = load_job()
    await clock_and_reset(dut, LOAD_PORTS + ("ld_lane", "rd_lane", "rd_addr"), cycles=3)

    errors: list[str] = []
    results: list[Measured] = []
    for w, (x, packed, exps, g) in enumerate(workloads):
        model = simulate_lut_array(x, packed, exps, g, cfg)
        await load_bytes(dut, SEL_X, x.reshape(-1), ld_lane=0)  # x[m][k] at m*K + k
        w_lanes, e_lanes = lane_layout(packed, cfg.lanes), lane_layout(exps, cfg.lanes)
        for lane in range(cfg.lanes):
            await load_bytes(dut, SEL_W, w_lanes[lane].reshape(-1), ld_lane=lane)  # (kb*NL + s)*q + i
            await load_bytes(dut, SEL_E, e_lanes[lane].reshape(-1), ld_lane=lane)  # (grp*NL + s)*q + i
        cycles = await run_gemm(dut, x, packed, g, limit=2 * model.cycles + 64)
        y = await _read(dut, x.shape[0], packed.shape[1], cfg.lanes)
        tag = f"{tag_of(w, x, packed, g)} P={cfg.lanes} DBUF={int(cfg.double_buffer)})"
        compare(errors, tag, y, model.y, cycles, model.cycles, name="y")
        results.append(Measured(y, cycles))
    finish(results, errors, "sim.lut_array")
