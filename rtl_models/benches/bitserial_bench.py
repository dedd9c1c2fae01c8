"""cocotb test bench for the bit-serial baseline tops (stripes_dot, laconic_dot, bitfusion_dot).

The bench owns no arithmetic: sim.bitserial.simulate_dot says what each workload's dot product
is and how many cycles it must take. Per workload the bench writes the raw operands into the
buffers (one k per cycle), pulses start with k_len = K, counts the rising edges from the edge
that samples start to the edge after which done is high (both counted) and reads the result.
Outputs (values, cycles) are written before any mismatch fails the test.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from rtl_models.benches.common import (
    CLOCK_NS,
    check_widths,
    clock_and_reset,
    count_cycles_to_done,
    job_path,
    pack,
    save_outputs,
    unpack_signed,
)
from rtl_models.bitserial_cosim import load_bitserial_job
from rtl_models.runner import ENV_IN
from sim.bitserial import simulate_dot


def _timeout_ns() -> int:
    path = job_path()
    if path is None:
        return 1_000_000
    cfg, workloads = load_bitserial_job(path)
    edges = 16 + sum(a.size + simulate_dot(a, w, cfg).cycles + 4 for a, w in workloads)
    return 4 * edges * CLOCK_NS + 10_000




@cocotb.test(timeout_time=_timeout_ns(), timeout_unit="ns")
async def dot_products(dut):
    """Every workload of the job: result and start-to-done cycles against sim.bitserial."""
    cfg, workloads = load_bitserial_job(os.environ[ENV_IN])
    check_widths(dut, {"result": cfg.acc_bits, "ld_a": cfg.a_bits, "ld_w": cfg.w_bits})
    await clock_and_reset(dut, ("start", "k_len", "ld_en", "ld_addr", "ld_a", "ld_w"), cycles=3)

    errors: list[str] = []
    values, cycles = [], []
    for i, (a, w) in enumerate(workloads):
        model = simulate_dot(a, w, cfg)
        for k in range(a.size):
            await FallingEdge(dut.clk)
            dut.ld_en.value = 1
            dut.ld_addr.value = k
            dut.ld_a.value = pack([a[k]], cfg.a_bits)
            dut.ld_w.value = pack([w[k]], cfg.w_bits)
        await FallingEdge(dut.clk)
        dut.ld_en.value = 0
        dut.start.value = 1
        dut.k_len.value = a.size
        edges = await count_cycles_to_done(dut, 2 * model.cycles + 64)
        value = unpack_signed(dut.result.value.to_unsigned(), 1, cfg.acc_bits)[0]
        await FallingEdge(dut.clk)
        values.append(value)
        cycles.append(edges)
        if edges != model.cycles:
            errors.append(f"workload {i} (K={a.size}): {edges} cycles, model {model.cycles}")
        if value != model.value:
            errors.append(f"workload {i} (K={a.size}): result {value}, model {model.value}")

    save_outputs(errors, values=np.array(values, np.int64), cycles=np.array(cycles, np.int64))
    assert not errors, f"RTL disagrees with sim.bitserial ({cfg.kind}):\n" + "\n".join(errors)
