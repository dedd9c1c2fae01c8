"""cocotb test bench for digit_skip_dot (rtl_models/verilog/digit_skip_pe.v), the OPT3 PE.

The bench owns no arithmetic: sim.digit_skip (simulate_row) says what each workload's N dot
products are and how many cycles they must take. Per workload the bench writes the raw int8
operands into the buffers (one k per cycle: a_k and the N b_kc; the RTL encodes the digits
itself), pulses start with k_len = K, counts rising edges from the edge that samples start to
the edge after which done is high (both counted), and reads the N results
(rtl_models.benches.common.run_dot_workloads: the top speaks dot_host's protocol).

Run by rtl_models.digit_skip_cosim through rtl_models.runner.run_bench: the job arrives as an
.npz named by $BITWEIGHT_COSIM_IN; the measured values and cycles leave as an .npz at
$BITWEIGHT_COSIM_OUT, written before any mismatch fails the test. Signals are driven on falling
edges and sampled after rising edges (ReadOnly), race-free on Icarus and Verilator alike.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np

from rtl_models.benches.common import job_timeout_ns, run_dot_workloads, save_outputs
from rtl_models.digit_skip_cosim import load_digit_skip_job
from rtl_models.runner import ENV_IN
from sim.digit_skip import simulate_row


async def check_rows(dut, load_job, row_model, model_name: str) -> None:
    """The job's workloads (a, b (K x N)) against a row model: ``row_model(a, b, cfg)`` gives
    .values (N,) and .cycles. Shared with the OPT4E bench (digit_skip_4e_bench.py), whose top has
    this one's host protocol and job file."""
    cfg, workloads = load_job(os.environ[ENV_IN])

    def expect(a, b):
        model = row_model(a, b, cfg)
        return model.values, model.cycles

    values, cycles, errors = await run_dot_workloads(dut, workloads, expect, acc_bits=cfg.acc_bits)
    save_outputs(errors, cycles=np.array(cycles, np.int64), **{f"values_{w}": v for w, v in enumerate(values)})
    assert not errors, f"RTL disagrees with {model_name}:\n" + "\n".join(errors)


def _model_cycles(a, b, cfg) -> int:
    return simulate_row(a, b, cfg).cycles


@cocotb.test(timeout_time=job_timeout_ns(load_digit_skip_job, _model_cycles), timeout_unit="ns")
async def dot_products(dut):
    """Every workload of the job: results and start-to-done cycles against sim.digit_skip."""
    await check_rows(dut, load_digit_skip_job, simulate_row, "sim.digit_skip")
