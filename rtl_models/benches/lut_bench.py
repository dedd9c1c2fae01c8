"""cocotb test bench for lut_pe (rtl_models/verilog/lut_pe.v), the binary-coded GEMM LUT PE.

The bench owns no arithmetic: sim.lut_pe says what y must be and how many cycles the GEMM takes
(simulate_lut_gemm). Per workload the bench writes the three buffers through the load port in
the layouts lut_pe.v documents, pulses start with the lengths, measures the cycles from the edge
that samples start to the edge on which done rises (both counted), reads the output buffer and
compares. Cycles are measured from simulation time (edge times / clock period) rather than by
awaiting every edge, which keeps a 10^4-cycle job fast on both simulators; busy is checked high
at the start edge and low on the done edge.

Run by rtl_models.lut_cosim through rtl_models.cosim: the job (the LutPEConfig and the workloads)
arrives through rtl_models.benches.common.load_job; y and the cycles leave through common.finish,
written before any mismatch fails the test. The load and start helpers here serve the LUT array's
bench too (lut_array_bench.py).
"""

from __future__ import annotations

import cocotb
import numpy as np

from rtl_models.benches.common import (
    Measured,
    clock_and_reset,
    compare,
    drive,
    finish,
    load_job,
    pulse_start,
    read_port,
    timeout_ns,
)
from sim.lut_pe import LutPEConfig, lut_cycles, simulate_lut_gemm

SEL_X, SEL_W, SEL_E = 0, 1, 2
LOAD_PORTS = ("ld_en", "ld_sel", "ld_addr", "ld_data", "start", "m_len", "n_len", "kb_len", "q_len", "bpg_len")


def _edge_budget(cfg: LutPEConfig, workloads) -> int:
    total = 16
    for x, packed, exps, _ in workloads:
        q, n, kb = packed.shape
        total += x.size + packed.size + exps.size + lut_cycles(x.shape[0], x.shape[1], n, q) + x.shape[0] * n + 8
    return total


async def load_bytes(dut, sel: int, values, **select) -> None:
    """Write ``values`` (low bytes) into buffer ``sel`` from address 0, one per clock; ``select``:
    further load-port signals held for the whole load (the LUT array's ld_lane)."""
    await drive(dut, ({"ld_en": 1, "ld_sel": sel, **select, "ld_addr": addr, "ld_data": int(v) & 0xFF}
                      for addr, v in enumerate(values)))


async def run_gemm(dut, x, packed, g: int, limit: int) -> int:
    """Pulse start with the GEMM's lengths; the cycles from the edge sampling start to the edge
    raising done, inclusive."""
    (m, _), (q, n, kb) = x.shape, packed.shape
    return await pulse_start(dut, limit, ld_en=0, m_len=m, n_len=n, kb_len=kb, q_len=q, bpg_len=g // 8)


def tag_of(w: int, x, packed, g: int) -> str:
    (m, k), (q, n, _) = x.shape, packed.shape
    return f"workload {w} (M={m} N={n} K={k} q={q} g={g}"


@cocotb.test(timeout_time=timeout_ns(_edge_budget), timeout_unit="ns")
async def lut_gemms(dut):
    """Every workload of the job: y and start->done cycles against sim.lut_pe."""
    cfg, workloads = load_job()
    await clock_and_reset(dut, LOAD_PORTS + ("rd_addr",), cycles=3)

    errors: list[str] = []
    results: list[Measured] = []
    for w, (x, packed, exps, g) in enumerate(workloads):
        m, n = x.shape[0], packed.shape[1]
        model = simulate_lut_gemm(x, packed, exps, g, cfg)
        await load_bytes(dut, SEL_X, x.reshape(-1))                        # x[m][k] at m*K + k
        await load_bytes(dut, SEL_W, packed.transpose(2, 1, 0).reshape(-1))  # (kb*N + n)*q + i
        await load_bytes(dut, SEL_E, exps.transpose(2, 1, 0).reshape(-1))    # (grp*N + n)*q + i
        cycles = await run_gemm(dut, x, packed, g, limit=2 * model.cycles + 64)
        y = np.array(await read_port(dut, ({"rd_addr": a} for a in range(m * n))), np.int64).reshape(m, n)
        compare(errors, tag_of(w, x, packed, g) + ")", y, model.y, cycles, model.cycles, name="y")
        results.append(Measured(y, cycles))
    finish(results, errors, "sim.lut_pe")
