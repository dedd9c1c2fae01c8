"""cocotb test bench for fp8_os_array (rtl_models/verilog/fp8_os_array.v), the output-stationary
array of FP8 MACs.

The bench owns no arithmetic: sim.fp8_array says which folds to run (fold_schedule), how many
cycles each must take (fold_cycles) and what C must be, as FP32 bit patterns (simulate_gemm).
Per fold the bench loads the zero-padded tiles of FP8 codes through the load port (one k-slice
per clock), pulses start with t_len = K, counts the rising edges from the one that samples start
to the one after which done is high (both counted, rtl_models.benches.common), reads the output
buffer a row per clock through its registered port, and places the tile into C.

Run by rtl_models.fp8_array_cosim through rtl_models.runner.run_bench: the job (config and a
list of (a_codes, b_codes) GEMMs) arrives as an .npz named by $BITWEIGHT_COSIM_IN; the measured C
bits and per-fold cycles leave as an .npz at $BITWEIGHT_COSIM_OUT, written before any mismatch
fails the test. Signals are driven on falling edges and sampled after rising edges (ReadOnly).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from rtl_models.benches.common import (
    CLOCK_NS,
    count_cycles_to_done,
    job_path,
    load_job,
    save_outputs,
)
from sim.fp8_array import (
    Fold,
    Fp8ArrayConfig,
    fold_cycles,
    fold_schedule,
    simulate_gemm,
)

MAX_ERRORS = 8


def job_config(job) -> Fp8ArrayConfig:
    return Fp8ArrayConfig(int(job["rows"]), int(job["cols"]), str(job["fmt_a"]), str(job["fmt_b"]),
                          int(job["depth"]))


def job_workloads(job) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(job[f"a_{i}"], job[f"b_{i}"]) for i in range(int(job["count"]))]


def _edge_budget(cfg: Fp8ArrayConfig, workloads) -> int:
    """Generous upper bound on the clock edges the whole job needs (loads, folds, reads)."""
    total = 16
    for a, b in workloads:
        for f in fold_schedule(a.shape[0], b.shape[1], a.shape[1], cfg):
            total += f.t + fold_cycles(cfg, f.t) + 2 * cfg.rows + 8
    return total


def _timeout_ns() -> int:
    """Simulated-time limit for the test: four times the job's edge budget (a hang fails fast)."""
    if job_path() is None:
        return 1_000_000
    job = load_job()
    return 4 * _edge_budget(job_config(job), job_workloads(job)) * CLOCK_NS + 10_000


def _pack_codes(codes) -> int:
    """FP8 code of lane i at bits [i*8 +: 8]."""
    return int.from_bytes(np.asarray(codes).astype("<u1").tobytes(), "little")


def _unpack_u32(word: int, lanes: int) -> np.ndarray:
    return np.frombuffer(word.to_bytes(lanes * 4, "little"), dtype="<u4").copy()


class _Array:
    """Drives one fp8_os_array through its port protocol (that of os_systolic_array)."""

    def __init__(self, dut, cfg: Fp8ArrayConfig):
        self.dut, self.cfg = dut, cfg
        expect = {"ld_a": cfg.rows * 8, "ld_b": cfg.cols * 8, "rd_data": cfg.cols * 32,
                  "ld_addr": (cfg.depth - 1).bit_length()}
        for name, width in expect.items():
            got = len(getattr(dut, name))
            if got != width:
                raise AssertionError(f"{name} is {got} bits wide, the job's config needs {width}")

    async def reset(self) -> None:
        d = self.dut
        for name in ("ld_en", "ld_addr", "ld_a", "ld_b", "start", "t_len", "rd_addr"):
            getattr(d, name).value = 0
        d.rst.value = 1
        for _ in range(3):
            await RisingEdge(d.clk)
        await FallingEdge(d.clk)
        d.rst.value = 0

    async def load(self, a: np.ndarray, b: np.ndarray, f: Fold) -> None:
        """Write the fold's zero-padded tiles (code 0 is +0) into the buffers, one k-slice per cycle."""
        d, r, c, t = self.dut, self.cfg.rows, self.cfg.cols, f.t
        at = np.zeros((r, t), np.int64)
        at[: f.m1 - f.m0] = a[f.m0 : f.m1, f.k0 : f.k1]
        bt = np.zeros((t, c), np.int64)
        bt[:, : f.n1 - f.n0] = b[f.k0 : f.k1, f.n0 : f.n1]
        for k in range(t):
            await FallingEdge(d.clk)
            d.ld_en.value = 1
            d.ld_addr.value = k
            d.ld_a.value = _pack_codes(at[:, k])
            d.ld_b.value = _pack_codes(bt[k])

    async def run(self, f: Fold, limit: int) -> int:
        """Pulse start; the rising edges from the one sampling start to done, inclusive."""
        d = self.dut
        await FallingEdge(d.clk)
        d.ld_en.value = 0
        d.start.value = 1
        d.t_len.value = f.t
        return await count_cycles_to_done(d, limit)

    async def read(self, rows: int) -> np.ndarray:
        """Rows 0..rows-1 of the output buffer as FP32 bits (registered read port: a row per cycle)."""
        d, out = self.dut, np.zeros((rows, self.cfg.cols), np.uint32)
        for i in range(rows):
            await FallingEdge(d.clk)
            d.rd_addr.value = i
            await RisingEdge(d.clk)
            await ReadOnly()
            out[i] = _unpack_u32(d.rd_data.value.to_unsigned(), self.cfg.cols)
        return out


@cocotb.test(timeout_time=_timeout_ns(), timeout_unit="ns")
async def fp8_array_folds(dut):
    """Every GEMM of the job, fold by fold: C bits and per-fold cycles against sim.fp8_array."""
    job = load_job()
    cfg, workloads = job_config(job), job_workloads(job)
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    array = _Array(dut, cfg)
    await array.reset()

    errors: list[str] = []
    outputs: dict[str, np.ndarray] = {}
    for w, (a, b) in enumerate(workloads):
        m, k = a.shape
        n = b.shape[1]
        model = simulate_gemm(a, b, cfg)
        c = np.zeros((m, n), np.uint32)
        measured = []
        for i, f in enumerate(model.folds):
            expected = model.fold_cycles[i]
            await array.load(a, b, f)
            try:
                edges = await array.run(f, limit=2 * expected + 16)
            except AssertionError as e:
                raise AssertionError(f"workload {w} fold {i}: {e}") from None
            measured.append(edges)
            if edges != expected:
                errors.append(f"workload {w} ({m}x{n}x{k}) fold {i}: {edges} cycles, model {expected}")
            tile = await array.read(f.m1 - f.m0)
            c[f.m0 : f.m1, f.n0 : f.n1] = tile[:, : f.n1 - f.n0]
        bad = np.argwhere(c != model.c_bits)
        if len(bad):
            first = ", ".join(f"C[{i0},{j0}] = {int(c[i0, j0]):#010x}, model {int(model.c_bits[i0, j0]):#010x}"
                              for i0, j0 in bad[:MAX_ERRORS])
            errors.append(f"workload {w} ({m}x{n}x{k}): {len(bad)} outputs differ from the model; first {first}")
        outputs[f"c_{w}"] = c
        outputs[f"fold_cycles_{w}"] = np.array(measured, np.int64)

    save_outputs(errors, **outputs)
    assert not errors, "RTL disagrees with sim.fp8_array:\n" + "\n".join(errors)
