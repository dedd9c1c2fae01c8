"""cocotb test bench for fwht_butterfly (rtl_models/verilog/fwht_butterfly.v).

The bench owns no arithmetic: sim.hadamard says what every output vector must be and how many
cycles a batch must take (simulate_fwht). Per batch the bench streams the vectors back to back,
one per clock (in_valid high for B consecutive edges), and records the rising edge after which
each output is valid, counting from the edge that samples the first input (edge 1):

* latency: the edge of the first output (one vector's trip through the pipeline);
* cycles: the edge of the last output (the whole batch, fill and drain included);
* throughput: the output edges must be consecutive (one vector per clock).

Between batches the pipeline is left to drain with in_valid low, so each batch is measured from
an empty pipeline. Run by rtl_models.fwht_cosim through rtl_models.cosim: the job (the FwhtConfig
and the batches) arrives through rtl_models.benches.common.load_job; outputs and measured cycles
leave through common.finish, written before any mismatch fails the test.
Signals are driven on falling edges and sampled after rising edges (ReadOnly).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from rtl_models.benches.common import (
    Measured,
    check_widths,
    clock_and_reset,
    compare,
    finish,
    load_job,
    pack,
    timeout_ns,
    unpack_signed,
)
from sim.hadamard import FwhtConfig, batch_cycles, simulate_fwht


def _edge_budget(cfg: FwhtConfig, batches) -> int:
    return sum(batch_cycles(cfg, len(x)) + 8 for x, in batches) + 16


async def _stream(dut, cfg: FwhtConfig, x: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Stream the rows of x back to back; return the outputs and the edge each became valid."""
    vectors, limit = len(x), batch_cycles(cfg, len(x)) + 8
    out, out_edges = [], []
    edge = 0
    while len(out) < vectors:
        await FallingEdge(dut.clk)
        if edge < vectors:
            dut.in_valid.value = 1
            dut.in_data.value = pack(x[edge], cfg.in_bits)
        else:
            dut.in_valid.value = 0
            dut.in_data.value = 0
        await RisingEdge(dut.clk)
        edge += 1
        await ReadOnly()
        if dut.out_valid.value == 1:
            out.append(unpack_signed(dut.out_data.value.to_unsigned(), cfg.n, cfg.out_bits))
            out_edges.append(edge)
        if edge >= limit and len(out) < vectors:
            raise AssertionError(f"only {len(out)} of {vectors} outputs within {limit} edges")
    await FallingEdge(dut.clk)
    dut.in_valid.value = 0
    # drain: nothing may leave the pipeline once the batch is out
    for _ in range(cfg.stages + 1):
        await RisingEdge(dut.clk)
        await ReadOnly()
        if dut.out_valid.value == 1:
            raise AssertionError(f"out_valid high after all {vectors} outputs left")
    return np.array(out, np.int64), out_edges


@cocotb.test(timeout_time=timeout_ns(_edge_budget), timeout_unit="ns")
async def fwht_batches(dut):
    """Every batch of the job: outputs, latency and batch cycles against sim.hadamard."""
    cfg, batches = load_job()
    check_widths(dut, {"in_data": cfg.n * cfg.in_bits, "out_data": cfg.n * cfg.out_bits})
    await clock_and_reset(dut, ("in_valid", "in_data"), cycles=3)

    errors: list[str] = []
    results: list[Measured] = []
    for b, (x,) in enumerate(batches):
        model = simulate_fwht(x, cfg)
        y, out_edges = await _stream(dut, cfg, x)
        latency, cycles = out_edges[0], out_edges[-1]
        if out_edges != model.output_edges:
            errors.append(f"batch {b} ({len(x)} vectors): outputs valid after edges {out_edges}, "
                          f"model {model.output_edges}")
        if cycles != model.cycles or latency != model.latency_cycles:
            errors.append(f"batch {b} ({len(x)} vectors): {cycles} cycles (latency {latency}), "
                          f"model {model.cycles} (latency {model.latency_cycles})")
        compare(errors, f"batch {b}", y, model.y, name="y")
        results.append(Measured(y, cycles, {"latency_cycles": latency, "output_edges": out_edges}))
    finish(results, errors, "sim.hadamard")
