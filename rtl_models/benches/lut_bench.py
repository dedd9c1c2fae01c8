"""cocotb test bench for lut_pe (rtl_models/verilog/lut_pe.v), the binary-coded GEMM LUT PE.

The bench owns no arithmetic: sim.lut_pe says what y must be and how many cycles the GEMM takes
(simulate_lut_gemm). Per workload the bench writes the three buffers through the load port in
the layouts lut_pe.v documents, pulses start with the lengths, measures the cycles from the edge
that samples start to the edge on which done rises (both counted), reads the output buffer and
compares. Cycles are measured from simulation time (edge times / clock period) rather than by
awaiting every edge, which keeps a 10^4-cycle job fast on both simulators; busy is checked high
at the start edge and low on the done edge.

Run by rtl_models.lut_cosim through rtl_models.runner.run_bench: the job (a list of workloads)
arrives as an .npz named by $BITWEIGHT_COSIM_IN; y and the cycles leave as an .npz at
$BITWEIGHT_COSIM_OUT, written before any mismatch fails the test.
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
from sim.lut_pe import LutPEConfig, lut_cycles, simulate_lut_gemm

SEL_X, SEL_W, SEL_E = 0, 1, 2


def workloads_of(job: dict) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """[(x, packed, exps, group_size), ...] from a job written by rtl_models.lut_cosim."""
    return [(job[f"x_{i}"], job[f"packed_{i}"], job[f"exps_{i}"], int(job[f"group_size_{i}"]))
            for i in range(int(job["count"]))]


def _edge_budget(workloads) -> int:
    total = 16
    for x, packed, exps, _ in workloads:
        q, n, kb = packed.shape
        total += x.size + packed.size + exps.size + lut_cycles(x.shape[0], x.shape[1], n, q) + x.shape[0] * n + 8
    return total


def _timeout_ns() -> int:
    """Simulated-time limit for the test: four times the job's edge budget (a hang fails fast)."""
    if job_path() is None:
        return 1_000_000
    return 4 * _edge_budget(workloads_of(load_job())) * CLOCK_NS + 10_000


async def _load(dut, sel: int, values) -> None:
    for addr, v in enumerate(values):
        await FallingEdge(dut.clk)
        dut.ld_en.value = 1
        dut.ld_sel.value = sel
        dut.ld_addr.value = addr
        dut.ld_data.value = int(v) & 0xFF


async def _run(dut, m, n, kb, q, bpg, limit: int) -> int:
    """Pulse start; the cycles from the edge sampling start to the edge raising done, inclusive."""
    await FallingEdge(dut.clk)
    dut.ld_en.value = 0
    dut.m_len.value, dut.n_len.value, dut.kb_len.value, dut.q_len.value, dut.bpg_len.value = m, n, kb, q, bpg
    dut.start.value = 1
    return await count_cycles_to_done(dut, limit)


async def _read(dut, count: int) -> list[int]:
    out = []
    for addr in range(count):
        await FallingEdge(dut.clk)
        dut.rd_addr.value = addr
        await RisingEdge(dut.clk)
        await ReadOnly()
        out.append(dut.rd_data.value.to_signed())
    return out


@cocotb.test(timeout_time=_timeout_ns(), timeout_unit="ns")
async def lut_gemms(dut):
    """Every workload of the job: y and start->done cycles against sim.lut_pe."""
    job = load_job()
    workloads = workloads_of(job)
    cfg = LutPEConfig(exp_bits=int(job["exp_bits"]))
    await clock_and_reset(dut, ("ld_en", "ld_sel", "ld_addr", "ld_data", "start", "m_len",
                                 "n_len", "kb_len", "q_len", "bpg_len", "rd_addr"), cycles=3)

    errors: list[str] = []
    outputs: dict[str, np.ndarray] = {}
    for w, (x, packed, exps, g) in enumerate(workloads):
        m, k = x.shape
        q, n, kb = packed.shape
        model = simulate_lut_gemm(x, packed, exps, g, cfg)
        await _load(dut, SEL_X, x.reshape(-1))                        # x[m][k] at m*K + k
        await _load(dut, SEL_W, packed.transpose(2, 1, 0).reshape(-1))  # (kb*N + n)*q + i
        await _load(dut, SEL_E, exps.transpose(2, 1, 0).reshape(-1))    # (grp*N + n)*q + i
        cycles = await _run(dut, m, n, kb, q, g // 8, limit=2 * model.cycles + 64)
        y = np.array(await _read(dut, m * n), np.int64).reshape(m, n)
        if cycles != model.cycles:
            errors.append(f"workload {w} (M={m} N={n} K={k} q={q} g={g}): {cycles} cycles, model {model.cycles}")
        if not np.array_equal(y, model.y):
            bad = np.argwhere(y != model.y)
            i0, j0 = bad[0]
            errors.append(f"workload {w} (M={m} N={n} K={k} q={q} g={g}): {len(bad)} outputs differ from the "
                          f"model, first y[{i0},{j0}] = {y[i0, j0]}, model {model.y[i0, j0]}")
        outputs[f"y_{w}"] = y
        outputs[f"cycles_{w}"] = np.int64(cycles)

    save_outputs(errors, **outputs)
    assert not errors, "RTL disagrees with sim.lut_pe:\n" + "\n".join(errors)
