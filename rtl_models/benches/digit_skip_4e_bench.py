"""cocotb test bench for digit_skip_4e_dot (rtl_models/verilog/digit_skip_4e.v), the OPT4E group
of 4 zero-digit-skipping sub-PEs sharing one 6:2 compressor.

The bench owns no arithmetic: sim.digit_skip_4e (simulate_row) says what each workload's N dot
products are and how many cycles they must take. digit_skip_4e_dot speaks digit_skip_dot's host
protocol and job file, so the whole check is the OPT3 bench's check_rows
(rtl_models/benches/digit_skip_bench.py; imported alone, since cocotb would collect an imported
test here too): write the raw int8 operands into the buffers one k per cycle, pulse start with
k_len = K, count rising edges from the edge that samples start to the edge after which done is
high (both counted), read the N results.

Run by rtl_models.digit_skip_4e_cosim through rtl_models.runner.run_bench: the job arrives as an
.npz named by $BITWEIGHT_COSIM_IN; the measured values and cycles leave as an .npz at
$BITWEIGHT_COSIM_OUT, written before any mismatch fails the test.
"""

from __future__ import annotations

import cocotb

from rtl_models.benches.common import job_timeout_ns
from rtl_models.benches.digit_skip_bench import check_rows
from rtl_models.digit_skip_4e_cosim import load_digit_skip_4e_job
from sim.digit_skip_4e import simulate_row


def _model_cycles(a, b, cfg) -> int:
    return simulate_row(a, b, cfg).cycles


@cocotb.test(timeout_time=job_timeout_ns(load_digit_skip_4e_job, _model_cycles), timeout_unit="ns")
async def dot_products_4e(dut):
    """Every workload of the job: results and start-to-done cycles against sim.digit_skip_4e."""
    await check_rows(dut, load_digit_skip_4e_job, simulate_row, "sim.digit_skip_4e")
