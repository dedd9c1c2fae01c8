"""What every cocotb bench in rtl_models/benches shares: the job (rtl_models.cosim's codec:
:func:`load_job` gives the bench the (config, cases) its cosim file sent), the simulated-time limit
from an edge budget, the comparison with the cycle model and the saving of the results
(:func:`finish`), two's-complement lane packing of flat Verilog buses, the reset, the start pulse
and start-to-done cycle count, the registered read port, and the whole per-workload loop of the
dot-product tops that speak dot_host's protocol (rtl_models/verilog/dot_host.v: digit_skip_dot,
digit_skip_4e_dot, stripes_dot, laconic_dot, bitfusion_dot) and of the folded systolic arrays
(:func:`check_fold_job`). A bench keeps its port driver and its
use of the cycle model."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np

from rtl_models.cosim import ENV_IN, ENV_OUT, Measured, decode_job, encode_results

CLOCK_NS = 10  # the benches' clock period; cycle counts do not depend on it

__all__ = ["CLOCK_NS", "Measured", "load_job", "timeout_ns", "finish", "compare", "pack", "unpack_signed",
           "unpack_u32", "count_cycles_to_done", "check_widths", "clock_and_reset", "drive", "pulse_start",
           "read_port", "dot_budget", "check_dot_job", "check_fold_job"]


def job_path() -> str | None:
    """The job .npz of this run (None when the module is imported outside a run)."""
    path = os.environ.get(ENV_IN)
    return path if path and os.path.exists(path) else None


def load_job():
    """(config, cases) of this run, as the cosim file passed them to rtl_models.cosim.cosim_batch."""
    return decode_job(os.environ[ENV_IN])


def timeout_ns(edge_budget: Callable) -> int:
    """A bench's simulated-time limit: four times ``edge_budget(cfg, cases)`` (a generous bound on
    the clock edges the whole job needs), so a hang fails fast. Evaluated when the bench module is
    imported (the cocotb.test decorator's argument); 1 ms outside a run."""
    path = job_path()
    if path is None:
        return 1_000_000
    return 4 * edge_budget(*decode_job(path)) * CLOCK_NS + 10_000


def finish(results: list[Measured], errors: list[str], model: str) -> None:
    """Write every case's measurements and the disagreements for the caller, then fail the test if
    there are any (written first, so the caller sees both the numbers and the errors)."""
    from rtl_models.benches import functional

    functional.export()  # functional coverage of this run, when $BITWEIGHT_COVERAGE is set
    np.savez(os.environ[ENV_OUT], **encode_results(errors, results))
    assert not errors, f"RTL disagrees with {model}:\n" + "\n".join(errors)


def compare(errors: list[str], tag: str, values=None, model_values=None, cycles=None, model_cycles=None, *,
            name: str = "C", fmt: Callable = str, shown: int = 1) -> None:
    """Append to ``errors`` how one case differs from the model: its cycles (an int, or a list per
    fold) and its values (the count and the first ``shown`` differing elements)."""
    if cycles != model_cycles:
        per_fold = isinstance(cycles, (list, tuple))
        errors.append(f"{tag}: fold cycles {cycles}, model {model_cycles}" if per_fold else
                      f"{tag}: {cycles} cycles, model {model_cycles}")
    if values is None:
        return
    values, model_values = np.asarray(values), np.asarray(model_values)
    bad = np.argwhere(values != model_values)
    if len(bad):
        first = ", ".join(f"{name}[{','.join(str(i) for i in idx)}] = {fmt(values[tuple(idx)])}, "
                          f"model {fmt(model_values[tuple(idx)])}" for idx in bad[:shown])
        errors.append(f"{tag}: {len(bad)} outputs differ from the model; first {first}")


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


def unpack_u32(word: int, lanes: int) -> np.ndarray:
    """``lanes`` unsigned 32-bit lanes of a bus word (FP32 bit patterns), lane i at bits [32i +: 32]."""
    return np.frombuffer(word.to_bytes(lanes * 4, "little"), dtype="<u4").copy()


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


async def clock_and_reset(dut, inputs, cycles: int = 2, clock: bool = True) -> None:
    """Start the clock (unless ``clock`` is False: the top makes its own), drive ``inputs`` to 0,
    hold rst high for ``cycles`` edges and release it between edges (after this returns the bench
    drives on falling edges)."""
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge, RisingEdge

    if clock:
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
    for sig in inputs:
        getattr(dut, sig).value = 0
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0




async def drive(dut, steps: Iterable[dict]) -> None:
    """One step per clock: on each falling edge drive the step's signals ({name: value})."""
    from cocotb.triggers import FallingEdge

    for step in steps:
        await FallingEdge(dut.clk)
        for name, value in step.items():
            getattr(dut, name).value = value


async def pulse_start(dut, limit: int, **inputs) -> int:
    """On the next falling edge drive ``inputs`` (the run's lengths, load enables low) and start
    high; the cycles to done, as :func:`count_cycles_to_done` counts them."""
    await drive(dut, [inputs | {"start": 1}])
    return await count_cycles_to_done(dut, limit)


async def read_port(dut, reads: Iterable[dict], decode: Callable = lambda v: v.to_signed()) -> list:
    """A registered read port, one read per clock: drive each read's select signals (rd_addr, ...)
    on a falling edge and sample ``decode(dut.rd_data.value)`` after the next rising edge."""
    from cocotb.triggers import ReadOnly, RisingEdge

    out = []
    for select in reads:
        await drive(dut, [select])
        await RisingEdge(dut.clk)
        await ReadOnly()
        out.append(decode(dut.rd_data.value))
    return out


def dot_budget(model: Callable) -> Callable:
    """The edge budget of a dot-product job, ``model(a, b, cfg)`` giving (values, cycles)."""
    return lambda cfg, workloads: 16 + sum(a.size + model(a, b, cfg)[1] + 4 for a, b in workloads)


async def check_dot_job(dut, model: Callable, model_name: str, ports: Callable = lambda cfg: {}) -> None:
    """Every workload of the job through a dot_host top, against ``model(a, b, cfg)`` -> (values
    (N,), cycles); saves the results and fails the test on any difference.

    Workloads are (a, b) pairs: a is (K,), b is (K,) or (K, N) for N result columns (one build: N
    is the same for all). ``ports(cfg)`` may rename the B port (b_port) and give the operand
    widths (a_bits, b_bits, default 8) and say the top has one scalar result (scalar: the values
    are 0-d, the errors name no column). The bench
    checks the ports' widths, resets the top, and per workload writes a_k and the row b_k into the
    buffers one k per cycle, pulses start with k_len = K, counts the rising edges from the one
    that samples start to the one after which done is high (both counted) and reads the N results.
    """
    from cocotb.triggers import FallingEdge

    cfg, workloads = load_job()
    port = {"b_port": "ld_b", "a_bits": 8, "b_bits": 8, "scalar": False} | ports(cfg)
    b_port, a_bits, b_bits = port["b_port"], port["a_bits"], port["b_bits"]
    cols = 1 if np.ndim(workloads[0][1]) == 1 else np.shape(workloads[0][1])[1]
    check_widths(dut, {"result": cols * cfg.acc_bits, "ld_a": a_bits, b_port: cols * b_bits})
    await clock_and_reset(dut, ("start", "k_len", "ld_en", "ld_addr", "ld_a", b_port), cycles=3)

    results, errors = [], []
    for w, (a, b) in enumerate(workloads):
        model_values, model_cycles = model(a, b, cfg)
        await drive(dut, ({"ld_en": 1, "ld_addr": k, "ld_a": pack([a[k]], a_bits),
                           b_port: pack(np.atleast_1d(b[k]), b_bits)} for k in range(a.size)))
        edges = await pulse_start(dut, 2 * model_cycles + 64, ld_en=0, k_len=a.size)
        got = np.array(unpack_signed(dut.result.value.to_unsigned(), cols, cfg.acc_bits), np.int64)
        await FallingEdge(dut.clk)
        results.append(Measured(got[0] if port["scalar"] else got, edges))
        tag = f"workload {w} (K={a.size})"
        compare(errors, tag, cycles=edges, model_cycles=model_cycles)
        for c in np.flatnonzero(got != np.asarray(model_values, np.int64)):
            where = "" if port["scalar"] else f" column {c}"
            errors.append(f"{tag}{where}: result {got[c]}, model {model_values[c]}")
    finish(results, errors, model_name)


async def check_fold_job(dut, array, model) -> None:
    """The whole job of a folded GEMM array (the systolic arrays): per workload, per fold of
    ``model.fold_schedule``, ``array.load(a, b, fold)``, ``array.run(fold, limit)`` (the measured
    start-to-done cycles, held to ``model.fold_cycles(cfg, t)``), and once a fold's tile is final
    (the last fold, or the next one does not accumulate into the same outputs)
    ``array.read_tile(c, fold)`` into C; C and the per-fold cycles against ``model.simulate_gemm``.
    ``model`` is the cycle model's module (sim.systolic, sim.input_stationary)."""
    cfg, workloads = load_job()
    await array.reset()
    errors: list[str] = []
    results: list[Measured] = []
    for w, (a, b) in enumerate(workloads):
        m, k = a.shape
        n = b.shape[1]
        expect = model.simulate_gemm(a, b, cfg)
        folds = model.fold_schedule(m, n, k, cfg)
        c = np.zeros((m, n), np.int64)
        measured = []
        for i, f in enumerate(folds):
            expected = model.fold_cycles(cfg, f.t)
            await array.load(a, b, f)
            edges = await array.run(f, limit=2 * expected + 64)
            measured.append(edges)
            compare(errors, f"workload {w} ({m}x{n}x{k}) fold {i} {f}", cycles=edges, model_cycles=expected)
            if i + 1 == len(folds) or not folds[i + 1].accumulate:
                await array.read_tile(c, f)
        compare(errors, f"workload {w} ({m}x{n}x{k})", c, expect.c, measured, list(expect.fold_cycles))
        results.append(Measured(c, measured))
    finish(results, errors, model.__name__)
