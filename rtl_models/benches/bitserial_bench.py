"""cocotb test bench for the bit-serial baseline tops (stripes_dot, laconic_dot, bitfusion_dot).

The bench owns no arithmetic: sim.bitserial.simulate_dot says what each workload's dot product
is and how many cycles it must take. Per workload the bench writes the raw operands into the
buffers (one k per cycle), pulses start with k_len = K, counts the rising edges from the edge
that samples start to the edge after which done is high (both counted) and reads the result
(rtl_models.benches.common.run_dot_workloads: the tops speak dot_host's protocol). Outputs
(values, cycles) are written before any mismatch fails the test.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np

from rtl_models.benches.common import job_timeout_ns, run_dot_workloads, save_outputs
from rtl_models.bitserial_cosim import load_bitserial_job
from rtl_models.runner import ENV_IN
from sim.bitserial import simulate_dot


def _model_cycles(a, w, cfg) -> int:
    return simulate_dot(a, w, cfg).cycles


@cocotb.test(timeout_time=job_timeout_ns(load_bitserial_job, _model_cycles), timeout_unit="ns")
async def dot_products(dut):
    """Every workload of the job: result and start-to-done cycles against sim.bitserial."""
    cfg, workloads = load_bitserial_job(os.environ[ENV_IN])

    def expect(a, w):
        model = simulate_dot(a, w, cfg)
        return [model.value], model.cycles

    values, cycles, errors = await run_dot_workloads(dut, workloads, expect, acc_bits=cfg.acc_bits, b_port="ld_w",
                                                     a_bits=cfg.a_bits, b_bits=cfg.w_bits, per_column=False)
    save_outputs(errors, values=np.array([v[0] for v in values], np.int64), cycles=np.array(cycles, np.int64))
    assert not errors, f"RTL disagrees with sim.bitserial ({cfg.kind}):\n" + "\n".join(errors)
