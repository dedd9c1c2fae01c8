"""cocotb test bench for the zero-digit-skipping row tops: digit_skip_dot
(rtl_models/verilog/digit_skip_pe.v, the OPT3 PE) and digit_skip_4e_dot (digit_skip_4e.v, the
OPT4E group of 4 sub-PEs sharing one 6:2 compressor), which speak one host protocol.

The bench owns no arithmetic: the job's config picks the row model (sim.digit_skip or
sim.digit_skip_4e, simulate_row), which says what each workload's N dot products are and how many
cycles they must take. Per workload the bench writes the raw int8 operands into the buffers (one k
per cycle: a_k and the N b_kc; the RTL encodes the digits itself), pulses start with k_len = K,
counts rising edges from the edge that samples start to the edge after which done is high (both
counted), and reads the N results (rtl_models.benches.common.check_dot_job: dot_host's protocol).

Run by rtl_models.digit_skip_cosim / digit_skip_4e_cosim through rtl_models.cosim: the job arrives
through common.load_job; the measured values and cycles leave through common.finish, written
before any mismatch fails the test.
"""

from __future__ import annotations

import cocotb

from rtl_models.benches import functional
from rtl_models.benches.common import check_dot_job, dot_budget, timeout_ns
from sim import digit_skip, digit_skip_4e

ROW_MODELS = {digit_skip.DigitSkipConfig: digit_skip.simulate_row,
              digit_skip_4e.DigitSkip4EConfig: digit_skip_4e.simulate_row}


def _model(a, b, cfg):
    functional.digit_patterns(cfg.encoding, a)
    row = ROW_MODELS[type(cfg)](a, b, cfg)
    return row.values, row.cycles


@cocotb.test(timeout_time=timeout_ns(dot_budget(_model)), timeout_unit="ns")
async def dot_products(dut):
    """Every workload of the job: results and start-to-done cycles against the config's row model."""
    await check_dot_job(dut, _model, "sim.digit_skip / sim.digit_skip_4e (simulate_row)")
