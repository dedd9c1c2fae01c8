"""cocotb test bench for the FP8 arithmetic units (rtl_models/verilog/fp8_mul.v, fp32_add.v,
fp8_mac.v). One bench module, three kinds of job (``job["unit"]``), one cocotb test:

* ``mul`` on ``fp8_mul_array`` (LANES combinational multipliers): every one of the 256 x 256
  operand pairs, LANES pairs per 1 ns step, against sim.fp8.fp8_product_bits, bit for bit;
* ``add`` on ``fp32_add_array``: the job's FP32 operand pairs, LANES per step, against
  sim.fp8.fp32_add_bits;
* ``mac`` on ``fp8_mac``: per dot product, load the operand buffer (one element per clock),
  pulse start, count the rising edges from the one that samples start (edge 1) to the one on
  which done rises (both counted), read the result; bits and cycles against sim.fp8.simulate_dot.

The bench owns no arithmetic: every expected value and cycle count comes from sim.fp8. Run by
rtl_models.fp8_cosim through rtl_models.runner.run_bench; outputs and the measured cycles are
written (before any mismatch fails the test) to $BITWEIGHT_COSIM_OUT.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, Timer

from rtl_models.benches.common import (
    CLOCK_NS,
    clock_and_reset,
    count_cycles_to_done,
    job_path,
    load_job,
    save_outputs,
)
from sim.fp8 import (
    Fp8MacConfig,
    dot_cycles,
    fp8_product_bits,
    fp32_add_bits,
    simulate_dot,
)

MAX_ERRORS = 8


def _pack(values, dtype: str) -> int:
    """Lane i of ``values`` at bits [i*width +: width] of one bus word (little-endian bytes)."""
    return int.from_bytes(np.asarray(values).astype(dtype).tobytes(), "little")


def _unpack_u32(word: int, lanes: int) -> np.ndarray:
    return np.frombuffer(word.to_bytes(lanes * 4, "little"), dtype="<u4").copy()


def _mac_workloads(job):
    return [(job[f"a_{i}"], job[f"b_{i}"]) for i in range(int(job["count"]))]


def _timeout_ns() -> int:
    """Simulated-time limit: four times what the job needs, so a hang fails fast."""
    if job_path() is None:
        return 1_000_000
    job = load_job()
    unit = str(job["unit"])
    if unit == "mul":
        return 4 * (65536 // int(job["lanes"])) + 1_000
    if unit == "add":
        return 4 * (len(job["a"]) // int(job["lanes"]) + 1) + 1_000
    edges = sum(2 * len(a) + dot_cycles(len(a)) + 8 for a, _ in _mac_workloads(job)) + 16
    return 4 * edges * CLOCK_NS + 10_000


async def _lanes(dut, a_words, b_words, lanes: int, dtype: str, out: str) -> np.ndarray:
    """Drive operand lane vectors one 1 ns step at a time; collect the 32-bit result lanes."""
    words = []
    for a, b in zip(a_words, b_words):
        dut.a.value = _pack(a, dtype)
        dut.b.value = _pack(b, dtype)
        await Timer(1, unit="ns")
        words.append(_unpack_u32(getattr(dut, out).value.to_unsigned(), lanes))
    return np.concatenate(words)


def _compare(errors, what, got, want, operands) -> None:
    bad = np.flatnonzero(got != want)
    if len(bad):
        first = ", ".join(f"{operands(i)} -> {int(got[i]):#010x}, model {int(want[i]):#010x}"
                          for i in bad[:MAX_ERRORS])
        errors.append(f"{what}: {len(bad)} of {len(got)} results differ from the model; first {first}")


async def _mul(dut, job, errors, outputs) -> None:
    lanes, fmt_a, fmt_b = int(job["lanes"]), str(job["fmt_a"]), str(job["fmt_b"])
    a = np.repeat(np.arange(256), 256)  # pair i = (a, b) = (i // 256, i % 256)
    b = np.tile(np.arange(256), 256)
    want = fp8_product_bits(a, b, fmt_a, fmt_b)
    steps = 65536 // lanes
    got = await _lanes(dut, a.reshape(steps, lanes), b.reshape(steps, lanes), lanes, "<u1", "p")
    _compare(errors, f"{fmt_a} x {fmt_b}", got, want, lambda i: f"{int(a[i]):#04x} * {int(b[i]):#04x}")
    outputs["p"] = got


async def _add(dut, job, errors, outputs) -> None:
    lanes = int(job["lanes"])
    a, b = job["a"].astype(np.uint32), job["b"].astype(np.uint32)  # padded to whole steps
    n = int(job["n"])
    steps = len(a) // lanes
    got = (await _lanes(dut, a.reshape(steps, lanes), b.reshape(steps, lanes), lanes, "<u4", "s"))[:n]
    a, b = a[:n], b[:n]
    want = fp32_add_bits(a, b)
    _compare(errors, "fp32 add", got, want, lambda i: f"{int(a[i]):#010x} + {int(b[i]):#010x}")
    outputs["s"] = got


async def _mac(dut, job, errors, outputs) -> None:
    cfg = Fp8MacConfig(str(job["fmt_a"]), str(job["fmt_b"]), int(job["addr_bits"]))
    await clock_and_reset(dut, ("ld_en", "ld_addr", "ld_a", "ld_b", "start", "k_len"), cycles=3)
    results, cycles_all = [], []
    for w, (a, b) in enumerate(_mac_workloads(job)):
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
        results.append(got)
        cycles_all.append(edge)
    outputs["result_bits"] = np.array(results, np.uint32)
    outputs["cycles"] = np.array(cycles_all, np.int64)


@cocotb.test(timeout_time=_timeout_ns(), timeout_unit="ns")
async def fp8_job(dut):
    """The job's unit against sim.fp8, bit for bit (and cycle for cycle for the MAC)."""
    job = load_job()
    errors: list[str] = []
    outputs: dict[str, np.ndarray] = {}
    unit = str(job["unit"])
    await {"mul": _mul, "add": _add, "mac": _mac}[unit](dut, job, errors, outputs)
    save_outputs(errors, **outputs)
    assert not errors, "RTL disagrees with sim.fp8:\n" + "\n".join(errors)
