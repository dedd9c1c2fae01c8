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

Run by rtl_models.lut_array_cosim through rtl_models.runner.run_bench: the job arrives as an .npz
named by $BITWEIGHT_COSIM_IN; y and the cycles leave as an .npz at $BITWEIGHT_COSIM_OUT, written
before any mismatch fails the test.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from rtl_models.benches.common import (
    CLOCK_NS,
    clock_and_reset,
    count_cycles_to_done,
    job_path,
    load_job,
    save_outputs,
)
from sim.lut_array import (
    LutArrayConfig,
    lane_slots,
    lut_array_cycles,
    simulate_lut_array,
)

SEL_X, SEL_W, SEL_E = 0, 1, 2


def workloads_of(job: dict) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """[(x, packed, exps, group_size), ...] from a job written by rtl_models.lut_array_cosim."""
    return [(job[f"x_{i}"], job[f"packed_{i}"], job[f"exps_{i}"], int(job[f"group_size_{i}"]))
            for i in range(int(job["count"]))]


def config_of(job: dict) -> LutArrayConfig:
    return LutArrayConfig(lanes=int(job["lanes"]), double_buffer=bool(int(job["double_buffer"])),
                          exp_bits=int(job["exp_bits"]))


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


def _edge_budget(workloads, cfg: LutArrayConfig) -> int:
    total = 16
    for x, packed, exps, _ in workloads:
        q, n, _ = packed.shape
        nl = lane_slots(n, cfg.lanes)
        loads = x.size + cfg.lanes * nl * q * (packed.shape[2] + exps.shape[2])
        total += loads + lut_array_cycles(x.shape[0], x.shape[1], n, q, cfg.lanes, cfg.double_buffer) \
            + x.shape[0] * n + 8
    return total


def _timeout_ns() -> int:
    """Simulated-time limit for the test: four times the job's edge budget (a hang fails fast)."""
    if job_path() is None:
        return 1_000_000
    job = load_job()
    return 4 * _edge_budget(workloads_of(job), config_of(job)) * CLOCK_NS + 10_000


async def _load(dut, sel: int, lane: int, values) -> None:
    for addr, v in enumerate(values):
        await FallingEdge(dut.clk)
        dut.ld_en.value = 1
        dut.ld_sel.value = sel
        dut.ld_lane.value = lane
        dut.ld_addr.value = addr
        dut.ld_data.value = int(v) & 0xFF


async def _run(dut, m, n, kb, q, bpg, limit: int) -> int:
    """Pulse start; the cycles from the edge sampling start to the edge raising done, inclusive."""
    await FallingEdge(dut.clk)
    dut.ld_en.value = 0
    dut.m_len.value, dut.n_len.value, dut.kb_len.value, dut.q_len.value, dut.bpg_len.value = m, n, kb, q, bpg
    dut.start.value = 1
    return await count_cycles_to_done(dut, limit)


async def _read(dut, m_len: int, n_len: int, lanes: int) -> np.ndarray:
    """y (M, N) from the lanes' accumulators: y[m, l + P*s] = lane l's ybuf[m*NL + s]."""
    nl = lane_slots(n_len, lanes)
    y = np.zeros((m_len, n_len), np.int64)
    for lane in range(lanes):
        for m in range(m_len):
            for s in range(nl):
                n = lane + lanes * s
                if n >= n_len:
                    continue
                await FallingEdge(dut.clk)
                dut.rd_lane.value = lane
                dut.rd_addr.value = m * nl + s
                await RisingEdge(dut.clk)
                await ReadOnly()
                y[m, n] = dut.rd_data.value.to_signed()
    return y


@cocotb.test(timeout_time=_timeout_ns(), timeout_unit="ns")
async def lut_array_gemms(dut):
    """Every workload of the job: y and start->done cycles against sim.lut_array."""
    job = load_job()
    workloads = workloads_of(job)
    cfg = config_of(job)
    await clock_and_reset(dut, ("ld_en", "ld_sel", "ld_lane", "ld_addr", "ld_data", "start", "m_len",
                                 "n_len", "kb_len", "q_len", "bpg_len", "rd_lane", "rd_addr"), cycles=3)

    errors: list[str] = []
    outputs: dict[str, np.ndarray] = {}
    for w, (x, packed, exps, g) in enumerate(workloads):
        m, k = x.shape
        q, n, kb = packed.shape
        model = simulate_lut_array(x, packed, exps, g, cfg)
        await _load(dut, SEL_X, 0, x.reshape(-1))  # x[m][k] at m*K + k
        w_lanes, e_lanes = lane_layout(packed, cfg.lanes), lane_layout(exps, cfg.lanes)
        for lane in range(cfg.lanes):
            await _load(dut, SEL_W, lane, w_lanes[lane].reshape(-1))  # (kb*NL + s)*q + i
            await _load(dut, SEL_E, lane, e_lanes[lane].reshape(-1))  # (grp*NL + s)*q + i
        cycles = await _run(dut, m, n, kb, q, g // 8, limit=2 * model.cycles + 64)
        y = await _read(dut, m, n, cfg.lanes)
        tag = f"workload {w} (M={m} N={n} K={k} q={q} g={g} P={cfg.lanes} DBUF={int(cfg.double_buffer)})"
        if cycles != model.cycles:
            errors.append(f"{tag}: {cycles} cycles, model {model.cycles}")
        if not np.array_equal(y, model.y):
            bad = np.argwhere(y != model.y)
            i0, j0 = bad[0]
            errors.append(f"{tag}: {len(bad)} outputs differ from the model, first y[{i0},{j0}] = {y[i0, j0]}, "
                          f"model {model.y[i0, j0]}")
        outputs[f"y_{w}"] = y
        outputs[f"cycles_{w}"] = np.int64(cycles)

    save_outputs(errors, **outputs)
    assert not errors, "RTL disagrees with sim.lut_array:\n" + "\n".join(errors)
