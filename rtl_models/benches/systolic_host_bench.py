"""cocotb bench for systolic_host (rtl_models/verilog/systolic_host.v, run as systolic_host_clocked
with its own clock): an OS or WS systolic array driven by its bench-side host, so Python acts once
per workload, not once per clock edge.

Per workload the bench lays A and B out as memory images (:func:`images`), writes sim.systolic's
fold schedule as the host's fold table (image bases, t, the rows to read when the fold's tile is
final, a cycle limit of twice the model's cycles plus 64, accumulate), pulses go and waits for
done_h. The host streams the operands through the array's load port,
measures every fold's start-to-done cycles as rtl_models.benches.common.count_cycles_to_done
does, checks busy against start and done, reads the final tiles into the C image and writes it.
The bench then holds C and the per-fold cycles to sim.systolic.simulate_gemm, exactly as the port
driver (systolic_bench.py) does, and saves the results through common.finish.
"""

from __future__ import annotations

from pathlib import Path

import cocotb
import numpy as np

import sim.systolic as systolic
from rtl_models.benches import functional
from rtl_models.benches.common import Measured, clock_and_reset, compare, finish, load_job, timeout_ns
from rtl_models.memimage import read_hex, write_hex
from sim.systolic import SystolicConfig, fold_cycles, fold_schedule

FLAGS = {1: "busy did not rise on the edge that sampled start", 2: "busy still high on the edge done rose",
         4: "done not seen within the fold's limit"}
HOST_SLACK = 8  # host cycles per fold besides loads, run and reads (fetch, start, next)


def images(a: np.ndarray, b: np.ndarray, cfg: SystolicConfig):
    """(A image lanes, B image lanes, fold table rows, folds, C words) of one workload.

    OS: A as one word of R lanes per (m-tile, k) (a k-slice of the tile's rows), B as one word of
    C lanes per (n-tile, k); C one word per row of each (m-tile, n-tile) output tile.
    WS: A as one word of R lanes per (k-tile, m) (an activation row's k-tile), B as for OS with K
    padded to whole k-tiles (the R weight rows of a fold are consecutive words); C one word per
    row m of each n-tile. Everything zero-padded. A fold table row per fold: (a_base, b_base, t,
    rows read, c_base, cycle limit, accumulate)."""
    r, c = cfg.rows, cfg.cols
    m, k = a.shape
    n = b.shape[1]
    nt = -(-n // c)
    ws = cfg.dataflow == "ws"
    mp = m if ws else -(-m // r) * r
    kp = -(-k // r) * r if ws else k
    a_pad = np.zeros((mp, kp), np.int64)
    a_pad[:m, :k] = a
    b_pad = np.zeros((kp, nt * c), np.int64)
    b_pad[:k, :n] = b
    if ws:
        a_img = a_pad.reshape(m, kp // r, r).transpose(1, 0, 2).reshape(kp // r * m, r)
    else:
        a_img = a_pad.reshape(mp // r, r, k).transpose(0, 2, 1).reshape(mp // r * k, r)
    b_img = b_pad.reshape(kp, nt, c).transpose(1, 0, 2).reshape(nt * kp, c)
    folds = fold_schedule(m, n, k, cfg)
    table = []
    for i, f in enumerate(folds):
        tj = f.n0 // c
        final = i + 1 == len(folds) or not folds[i + 1].accumulate
        if ws:
            a_base, c_base = f.k0 // r * m, tj * m
        else:
            a_base, c_base = f.m0 // r * k, (f.m0 // r * nt + tj) * r
        table.append((a_base, tj * kp + f.k0, f.t, f.m1 - f.m0 if final else 0, c_base,
                      2 * fold_cycles(cfg, f.t) + 64, int(f.accumulate)))
    return a_img, b_img, table, folds, (m if ws else mp) * nt


def fold_word(row) -> str:
    """One fold-table line: the fields packed as systolic_host.v's 177-bit fold word."""
    widths = (32, 32, 32, 16, 32, 32, 1)
    word, shift = 0, 0
    for value, width in zip(row, widths):
        if not 0 <= value < 1 << width:
            raise ValueError(f"fold field {value} does not fit {width} bits")
        word |= value << shift
        shift += width
    return f"{word:045x}"


def check_outputs(cfg: SystolicConfig, a: np.ndarray, b: np.ndarray, table, folds, ran: int,
                  tag: str, folder: Path = Path(".")) -> tuple[list[int], np.ndarray, list[str]]:
    """What the host left in ``folder`` after a workload (host_cyc.hex, host_c.hex) held to
    sim.systolic: (measured fold cycles, C, disagreements). ``ran``: the folds the host completed
    (its folds_run). Shared by the cocotb bench and rtl_models.native_host's HDL-only run."""
    errors = []
    m, n = a.shape[0], b.shape[1]
    cyc, _ = read_hex(folder / "host_cyc.hex", 1, 36, signed=False)
    cyc = cyc[: len(table), 0]
    measured = [int(x & 0xFFFF_FFFF) for x in cyc[: min(ran + 1, len(table))]]
    for i, word in enumerate(cyc[: min(ran + 1, len(table))]):
        flags = int(word) >> 32
        for bit, what in FLAGS.items():
            if flags & bit:
                errors.append(f"{tag} fold {i} {folds[i]}: {what}")
    c_img, unknown = read_hex(folder / "host_c.hex", cfg.cols, cfg.acc_bits)
    got = np.zeros((m, n), np.int64)
    for row, f in zip(table[:ran], folds):
        if row[3]:
            base, rows = row[4], row[3]
            if unknown[base : base + rows].any():
                errors.append(f"{tag}: output rows {f.m0}..{f.m1 - 1}, columns {f.n0}..{f.n1 - 1} hold x")
            got[f.m0 : f.m1, f.n0 : f.n1] = c_img[base : base + rows, : f.n1 - f.n0]
    expect = systolic.simulate_gemm(a, b, cfg)
    functional.gemm_folds(cfg.dataflow, cfg.rows, cfg.cols, folds)
    functional.gemm_extreme(cfg.dataflow, expect.c)
    for i, f in enumerate(folds[: len(measured)]):
        compare(errors, f"{tag} fold {i} {f}", cycles=measured[i], model_cycles=fold_cycles(cfg, f.t))
    if ran < len(table):
        errors.append(f"{tag}: the host stopped after {ran} of {len(table)} folds")
    compare(errors, tag, got, expect.c, measured, list(expect.fold_cycles))
    return measured, got, errors


def write_images(a_img, b_img, table, cfg: SystolicConfig, folder: Path = Path(".")) -> None:
    """The host's input images of one workload (host_a.hex, host_b.hex, host_f.hex) in ``folder``,
    and no stale outputs (host_c.hex, host_cyc.hex) left there."""
    write_hex(folder / "host_a.hex", a_img, cfg.a_bits)
    write_hex(folder / "host_b.hex", b_img, cfg.b_bits)
    (folder / "host_f.hex").write_text("".join(fold_word(row) + "\n" for row in table))
    for name in ("host_c.hex", "host_cyc.hex"):
        (folder / name).unlink(missing_ok=True)


def images_over(have: dict[str, int], a_img, b_img, table, c_words: int) -> list[str]:
    """The images of a workload that do not fit the host build's (``host_capacity``), one phrase each."""
    need = {"a": len(a_img), "b": len(b_img), "c": c_words, "f": len(table)}
    return [f"{x.upper()} image {need[x]} words > {have[x]}" for x in need if need[x] > have[x]]


def host_capacity(cfg: SystolicConfig, workloads) -> dict[str, int]:
    """Words each image of the host built for this job holds (its A_AW, B_AW, C_AW, F_AW)."""
    from rtl_models.systolic_cosim import host_address_bits

    return {name[0].lower(): 1 << bits for name, bits in host_address_bits(cfg, workloads).items()}


def _edge_budget(cfg: SystolicConfig, workloads) -> int:
    total = 16
    for a, b in workloads:
        for f in fold_schedule(a.shape[0], b.shape[1], a.shape[1], cfg):
            total += max(f.t, cfg.rows) + fold_cycles(cfg, f.t) + (f.m1 - f.m0) + 2 + HOST_SLACK
    return total + 4 * len(workloads)


@cocotb.test(timeout_time=timeout_ns(_edge_budget), timeout_unit="ns")
async def gemm_host(dut):
    """Every workload through the host: C and per-fold cycles against sim.systolic."""
    from cocotb.triggers import FallingEdge, RisingEdge

    cfg, workloads = load_job()
    # systolic_host_clocked makes its own clock: no edge of it passes through Python or VPI
    await clock_and_reset(dut, ("go", "n_a", "n_b", "n_folds", "n_c"), cycles=3, clock=False)
    errors, results = [], []
    have = host_capacity(cfg, workloads)
    for w, (a, b) in enumerate(workloads):
        m, k = a.shape
        n = b.shape[1]
        tag = f"workload {w} ({m}x{n}x{k})"
        a_img, b_img, table, folds, c_words = images(a, b, cfg)
        over = images_over(have, a_img, b_img, table, c_words)
        if over:
            raise AssertionError(f"{tag} does not fit the host build: {', '.join(over)}")
        write_images(a_img, b_img, table, cfg)
        await FallingEdge(dut.clk)
        dut.n_a.value, dut.n_b.value, dut.n_folds.value, dut.n_c.value = len(a_img), len(b_img), len(table), c_words
        dut.go.value = 1
        await FallingEdge(dut.clk)
        dut.go.value = 0
        await RisingEdge(dut.done_h)
        await FallingEdge(dut.clk)
        ran = int(dut.folds_run.value)
        measured, got, errs = check_outputs(cfg, a, b, table, folds, ran, tag)
        errors += errs
        results.append(Measured(got, measured))
    finish(results, errors, "sim.systolic")
