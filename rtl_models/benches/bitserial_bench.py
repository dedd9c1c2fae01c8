"""cocotb test bench for the bit-serial baseline tops (stripes_dot, laconic_dot, bitfusion_dot).

The bench owns no arithmetic: sim.bitserial.simulate_dot says what each workload's dot product
is and how many cycles it must take. Per workload the bench writes the raw operands into the
buffers (one k per cycle), pulses start with k_len = K, counts the rising edges from the edge
that samples start to the edge after which done is high (both counted) and reads the result
(rtl_models.benches.common.check_dot_job: the tops speak dot_host's protocol, with the weight
port ld_w and the config's operand widths). Outputs (values, cycles) are written before any
mismatch fails the test.
"""

from __future__ import annotations

import cocotb

from rtl_models.benches.common import check_dot_job, dot_budget, timeout_ns
from sim.bitserial import simulate_dot


def _model(a, w, cfg):
    dot = simulate_dot(a, w, cfg)
    return [dot.value], dot.cycles


def _ports(cfg) -> dict:
    return {"b_port": "ld_w", "a_bits": cfg.a_bits, "b_bits": cfg.w_bits, "scalar": True}


@cocotb.test(timeout_time=timeout_ns(dot_budget(_model)), timeout_unit="ns")
async def dot_products(dut):
    """Every workload of the job: result and start-to-done cycles against sim.bitserial."""
    await check_dot_job(dut, _model, "sim.bitserial", _ports)
