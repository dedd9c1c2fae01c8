"""cocotb test bench for the FP8 arithmetic units (rtl_models/verilog/fp8_mul.v, fp32_add.v,
fp8_mac.v). One bench module, three kinds of job (the config: a dict naming the unit, "mul" or
"add", or an Fp8MacConfig), one cocotb test:

* ``mul`` on ``fp8_mul_array`` (LANES combinational multipliers): every one of the 256 x 256
  operand pairs, LANES pairs per 1 ns step, against sim.fp8.fp8_product_bits, bit for bit;
* ``add`` on ``fp32_add_array``: the job's FP32 operand pairs (padded here to whole steps), LANES
  per step, against
  sim.fp8.fp32_add_bits;
* ``mac`` on ``fp8_mac``: per dot product, load the operand buffer (one element per clock),
  pulse start, count the rising edges from the one that samples start (edge 1) to the one on
  which done rises (both counted), read the result; bits and cycles against sim.fp8.simulate_dot.

The bench owns no arithmetic: every expected value and cycle count comes from sim.fp8. Run by
rtl_models.fp8_cosim through rtl_models.cosim; outputs and the measured cycles are written (before
any mismatch fails the test) by rtl_models.benches.common.finish.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, Timer

from rtl_models.benches import functional
from rtl_models.benches.common import (
    Measured,
    clock_and_reset,
    count_cycles_to_done,
    finish,
    load_job,
    timeout_ns,
    unpack_u32,
)
from sim.fp8 import (
    dot_cycles,
    fp8_product_bits,
    fp32_add_bits,
    simulate_dot,
)

MAX_ERRORS = 8


def _unit(cfg) -> str:
    return cfg["unit"] if isinstance(cfg, dict) else "mac"


def _edge_budget(cfg, cases) -> int:
    """Clock periods (or 1 ns lane steps) the job needs."""
    unit = _unit(cfg)
    if unit == "mul":
        return 65536 // cfg["lanes"]
    if unit == "add":
        return len(cases[0][0]) // cfg["lanes"] + 1
    return sum(2 * len(a) + dot_cycles(len(a)) + 8 for a, _ in cases) + 16


def _pack(values, dtype: str) -> int:
    """Lane i of ``values`` at bits [i*width +: width] of one bus word (little-endian bytes)."""
    return int.from_bytes(np.asarray(values).astype(dtype).tobytes(), "little")


async def _lanes(dut, a_words, b_words, lanes: int, dtype: str, out: str) -> np.ndarray:
    """Drive operand lane vectors one 1 ns step at a time; collect the 32-bit result lanes."""
    words = []
    for a, b in zip(a_words, b_words):
        dut.a.value = _pack(a, dtype)
        dut.b.value = _pack(b, dtype)
        await Timer(1, unit="ns")
        words.append(unpack_u32(getattr(dut, out).value.to_unsigned(), lanes))
    return np.concatenate(words)


def _compare(errors, what, got, want, operands) -> None:
    bad = np.flatnonzero(got != want)
    if len(bad):
        first = ", ".join(f"{operands(i)} -> {int(got[i]):#010x}, model {int(want[i]):#010x}"
                          for i in bad[:MAX_ERRORS])
        errors.append(f"{what}: {len(bad)} of {len(got)} results differ from the model; first {first}")


async def _mul(dut, cfg, cases, errors) -> list[Measured]:
    lanes, fmt_a, fmt_b = cfg["lanes"], cfg["fmt_a"], cfg["fmt_b"]
    a = np.repeat(np.arange(256), 256)  # pair i = (a, b) = (i // 256, i % 256)
    b = np.tile(np.arange(256), 256)
    want = fp8_product_bits(a, b, fmt_a, fmt_b)
    functional.fp8_classes(fmt_a, fmt_b, a, b)
    steps = 65536 // lanes
    got = await _lanes(dut, a.reshape(steps, lanes), b.reshape(steps, lanes), lanes, "<u1", "p")
    _compare(errors, f"{fmt_a} x {fmt_b}", got, want, lambda i: f"{int(a[i]):#04x} * {int(b[i]):#04x}")
    return [Measured(got, 0)]


async def _add(dut, cfg, cases, errors) -> list[Measured]:
    lanes = cfg["lanes"]
    (a, b), = cases
    a, b, n = a.astype(np.uint32), b.astype(np.uint32), len(a)
    steps = -(-n // lanes)
    pad = np.zeros(steps * lanes - n, np.uint32)
    a_steps, b_steps = np.concatenate([a, pad]).reshape(steps, lanes), np.concatenate([b, pad]).reshape(steps, lanes)
    got = (await _lanes(dut, a_steps, b_steps, lanes, "<u4", "s"))[:n]
    _compare(errors, "fp32 add", got, fp32_add_bits(a, b), lambda i: f"{int(a[i]):#010x} + {int(b[i]):#010x}")
    return [Measured(got, 0)]


async def _mac(dut, cfg, cases, errors) -> list[Measured]:
    await clock_and_reset(dut, ("ld_en", "ld_addr", "ld_a", "ld_b", "start", "k_len"), cycles=3)
    results = []
    for w, (a, b) in enumerate(cases):
        functional.fp8_classes(cfg.fmt_a, cfg.fmt_b, a, b)
        model = simulate_dot(a, b, cfg)
        for k in range(len(a)):
            dut.ld_en.value = 1
            dut.ld_addr.value = k
            dut.ld_a.value = int(a[k])
            dut.ld_b.value = int(b[k])
            await FallingEdge(dut.clk)
        dut.ld_en.value = 0
        dut.k_len.value = len(a)
        dut.start.value = 1
        try:
            edge = await count_cycles_to_done(dut, model.cycles + 8)
        except AssertionError as e:
            raise AssertionError(f"workload {w}: {e}") from None
        got = dut.result.value.to_unsigned()
        await FallingEdge(dut.clk)
        if edge != model.cycles:
            errors.append(f"workload {w} (K={len(a)}): {edge} cycles, model {model.cycles}")
        if got != model.result_bits:
            errors.append(f"workload {w} (K={len(a)}): result {got:#010x}, model {model.result_bits:#010x}")
        results.append(Measured(np.uint32(got), edge))
    return results


@cocotb.test(timeout_time=timeout_ns(_edge_budget), timeout_unit="ns")
async def fp8_job(dut):
    """The job's unit against sim.fp8, bit for bit (and cycle for cycle for the MAC)."""
    cfg, cases = load_job()
    errors: list[str] = []
    results = await {"mul": _mul, "add": _add, "mac": _mac}[_unit(cfg)](dut, cfg, cases, errors)
    finish(results, errors, "sim.fp8")
