"""cocotb test bench for digit_skip_4e_dot (rtl_models/verilog/digit_skip_4e.v), the OPT4E group
of 4 zero-digit-skipping sub-PEs sharing one 6:2 compressor.

The bench owns no arithmetic: sim.digit_skip_4e (simulate_row) says what each workload's N dot
products are and how many cycles they must take. digit_skip_4e_dot speaks digit_skip_dot's host
protocol, so the per-workload steps are the OPT3 bench's (rtl_models/benches/digit_skip_bench.py,
imported, not copied): write the raw int8 operands into the buffers one k per cycle, pulse start
with k_len = K, count rising edges from the edge that samples start to the edge after which done
is high (both counted), read the N results.

Run by rtl_models.digit_skip_4e_cosim through rtl_models.runner.run_bench: the job arrives as an
.npz named by $BITWEIGHT_COSIM_IN; the measured values and cycles leave as an .npz at
$BITWEIGHT_COSIM_OUT, written before any mismatch fails the test.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from rtl_models.benches.common import CLOCK_NS, check_widths, clock_and_reset, job_path, save_outputs, unpack_signed
from rtl_models.benches.digit_skip_bench import _load, _run  # only these: cocotb collects this module's tests
from rtl_models.digit_skip_4e_cosim import load_digit_skip_4e_job
from rtl_models.runner import ENV_IN
from sim.digit_skip_4e import simulate_row


def _timeout_ns() -> int:
    """Simulated-time limit: four times a generous edge budget for the whole job (a hang fails fast)."""
    path = job_path()
    if path is None:
        return 1_000_000
    cfg, workloads = load_digit_skip_4e_job(path)
    edges = 16 + sum(a.size + simulate_row(a, b, cfg).cycles + 4 for a, b in workloads)
    return 4 * edges * CLOCK_NS + 10_000


@cocotb.test(timeout_time=_timeout_ns(), timeout_unit="ns")
async def dot_products_4e(dut):
    """Every workload of the job: results and start-to-done cycles against sim.digit_skip_4e."""
    cfg, workloads = load_digit_skip_4e_job(os.environ[ENV_IN])
    cols = workloads[0][1].shape[1]
    check_widths(dut, {"result": cols * cfg.acc_bits, "ld_b": cols * 8})
    await clock_and_reset(dut, ("start", "k_len", "ld_en", "ld_addr", "ld_a", "ld_b"), cycles=3)

    errors: list[str] = []
    outputs: dict[str, np.ndarray] = {}
    cycles = []
    for w, (a, b) in enumerate(workloads):
        model = simulate_row(a, b, cfg)
        await _load(dut, a, b)
        edges = await _run(dut, a.size, limit=2 * model.cycles + 64)
        values = np.array(unpack_signed(dut.result.value.to_unsigned(), cols, cfg.acc_bits), np.int64)
        await FallingEdge(dut.clk)
        dut.start.value = 0
        outputs[f"values_{w}"] = values
        cycles.append(edges)
        if edges != model.cycles:
            errors.append(f"workload {w} (K={a.size}): {edges} cycles, model {model.cycles}")
        for c in np.flatnonzero(values != model.values):
            errors.append(f"workload {w} (K={a.size}) column {c}: result {values[c]}, model {model.values[c]}")

    save_outputs(errors, cycles=np.array(cycles, np.int64), **outputs)
    assert not errors, "RTL disagrees with sim.digit_skip_4e:\n" + "\n".join(errors)
