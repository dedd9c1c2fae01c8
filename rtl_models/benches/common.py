"""What every cocotb bench in rtl_models/benches shares: the job/result files of
rtl_models.runner.run_bench, two's-complement lane packing of flat Verilog buses, the start-to-done
cycle count, and the whole per-workload loop of the dot-product tops that speak dot_host's protocol
(rtl_models/verilog/dot_host.v: digit_skip_dot, digit_skip_4e_dot, stripes_dot, laconic_dot,
bitfusion_dot)."""

from __future__ import annotations

import os

import numpy as np

from rtl_models.runner import ENV_IN, ENV_OUT

CLOCK_NS = 10  # the benches' clock period; cycle counts do not depend on it


def job_path() -> str | None:
    """The job .npz of this run (None when the module is imported outside a run)."""
    path = os.environ.get(ENV_IN)
    return path if path and os.path.exists(path) else None


def load_job() -> dict[str, np.ndarray]:
    with np.load(os.environ[ENV_IN]) as job:
        return {k: job[k] for k in job.files}


def save_outputs(errors: list[str], **outputs: np.ndarray) -> None:
    """Write the results before asserting, so the caller sees both the numbers and the errors."""
    np.savez(os.environ[ENV_OUT], errors=np.array(errors, dtype=str), **outputs)


def pack(values, width: int) -> int:
    """Lane i of ``values`` (two's complement, ``width`` bits) at bits [i*width +: width]."""
    mask = (1 << width) - 1
    word = 0
    for lane, v in enumerate(values):
        word |= (int(v) & mask) << (lane * width)
    return word


def unpack_signed(word: int, lanes: int, width: int) -> list[int]:
    """The inverse of :func:`pack`: ``lanes`` signed ``width``-bit values from a bus word."""
    mask = (1 << width) - 1
    out = []
    for lane in range(lanes):
        v = (word >> (lane * width)) & mask
        out.append(v - (1 << width) if v >> (width - 1) else v)
    return out


async def count_cycles_to_done(dut, limit: int) -> int:
    """The start-to-done cycle count every bench measures, the number the cycle models predict.

    Call it after driving ``start`` high (with the run's inputs) between clock edges. It counts
    the rising edges from the one that samples start to the one after which ``done`` is high,
    both included; drops start after the first edge; and checks that ``busy`` rose with start
    and is low again when done rises. It returns with start low and done's values still stable
    (before the next rising edge), so the caller can sample the outputs. Time, not a Python
    loop per edge, measures the span, so long runs cost nothing extra.
    """
    from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, with_timeout
    from cocotb.utils import get_sim_time

    try:
        from cocotb.triggers import SimTimeoutError
    except ImportError:  # older cocotb
        from cocotb.result import SimTimeoutError

    await RisingEdge(dut.clk)
    t_start = get_sim_time("ns")
    await ReadOnly()
    done_now = dut.done.value == 1
    if not done_now and dut.busy.value != 1:
        raise AssertionError("busy did not rise on the edge that sampled start")
    await FallingEdge(dut.clk)
    dut.start.value = 0
    if done_now:
        t_done = t_start
    else:
        try:
            await with_timeout(RisingEdge(dut.done), limit * CLOCK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"done not seen within {limit} edges of start") from None
        t_done = get_sim_time("ns")
        await ReadOnly()
    if dut.busy.value != 0:
        raise AssertionError("busy still high on the edge done rose")
    return round((t_done - t_start) / CLOCK_NS) + 1


def check_widths(dut, widths: dict[str, int]) -> None:
    """Fail fast when the built Verilog's ports are not as wide as the job's configuration needs."""
    for name, width in widths.items():
        got = len(getattr(dut, name))
        if got != width:
            raise AssertionError(f"{name} is {got} bits wide, the job's config needs {width}")


async def clock_and_reset(dut, inputs, cycles: int = 2) -> None:
    """Start the clock, drive ``inputs`` to 0, hold rst high for ``cycles`` edges and release it
    between edges (after this returns the bench drives on falling edges)."""
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge, RisingEdge

    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    for sig in inputs:
        getattr(dut, sig).value = 0
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


def job_timeout_ns(load, model_cycles) -> int:
    """A dot-product bench's simulated-time limit: four times a generous edge budget for the whole
    job, so a hang fails fast. ``load(path)`` gives the job's (config, [(a, b), ...]) and
    ``model_cycles(a, b, cfg)`` the model's start-to-done cycles of one workload; evaluated when
    the bench module is imported, it is 1 ms outside a run."""
    path = job_path()
    if path is None:
        return 1_000_000
    cfg, workloads = load(path)
    edges = 16 + sum(a.size + model_cycles(a, b, cfg) + 4 for a, b in workloads)
    return 4 * edges * CLOCK_NS + 10_000


async def run_dot_workloads(dut, workloads, expect, *, acc_bits: int, b_port: str = "ld_b", a_bits: int = 8,
                            b_bits: int = 8, per_column: bool = True):
    """Every workload of a job through a dot_host top: (values, cycles, errors).

    ``workloads`` holds (a, b) pairs: a is (K,), b is (K,) or (K, N) for N result columns (one
    build: N is the same for all). ``expect(a, b)`` gives the model's (values (N,), cycles). The
    bench checks the ports' widths, resets the top, and per workload writes a_k and the row b_k
    into the buffers one k per cycle, pulses start with k_len = K, counts the rising edges from
    the one that samples start to the one after which done is high (both counted) and reads the N
    results. Each disagreement with the model is one line of ``errors`` (naming the column where
    ``per_column``); the caller saves the outputs before it asserts.
    """
    from cocotb.triggers import FallingEdge

    cols = 1 if np.ndim(workloads[0][1]) == 1 else np.shape(workloads[0][1])[1]
    check_widths(dut, {"result": cols * acc_bits, "ld_a": a_bits, b_port: cols * b_bits})
    await clock_and_reset(dut, ("start", "k_len", "ld_en", "ld_addr", "ld_a", b_port), cycles=3)

    values, cycles, errors = [], [], []
    for w, (a, b) in enumerate(workloads):
        model_values, model_cycles = expect(a, b)
        for k in range(a.size):
            await FallingEdge(dut.clk)
            dut.ld_en.value = 1
            dut.ld_addr.value = k
            dut.ld_a.value = pack([a[k]], a_bits)
            getattr(dut, b_port).value = pack(np.atleast_1d(b[k]), b_bits)
        await FallingEdge(dut.clk)
        dut.ld_en.value = 0
        dut.start.value = 1
        dut.k_len.value = a.size
        edges = await count_cycles_to_done(dut, 2 * model_cycles + 64)
        got = np.array(unpack_signed(dut.result.value.to_unsigned(), cols, acc_bits), np.int64)
        await FallingEdge(dut.clk)
        values.append(got)
        cycles.append(edges)
        if edges != model_cycles:
            errors.append(f"workload {w} (K={a.size}): {edges} cycles, model {model_cycles}")
        for c in np.flatnonzero(got != np.asarray(model_values, np.int64)):
            where = f" column {c}" if per_column else ""
            errors.append(f"workload {w} (K={a.size}){where}: result {got[c]}, model {model_values[c]}")
    return values, cycles, errors
