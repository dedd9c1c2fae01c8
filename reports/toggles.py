"""Energy from signal toggles: gate-level simulation of the synthesised netlist, toggles counted.

The event-count energy (reports/cost.py) prices what a cycle model counts (MACs, register writes,
buffer bytes) with Horowitz's per-operation figures; it cannot see that a carry-save tree, a
Booth encoder or a wide redundant accumulator switches more or less than a multiplier and an
adder. This module gives the second estimate the TPE comparison needs:

1. the PE is synthesised by the same yosys flow as the area table (reports/synth.py:gate_netlist);
2. ``GateSim`` (rtl_models/gatesim.py) evaluates that netlist cycle by cycle (zero-delay: every
   gate settles once per cycle, so glitches are not counted) on B operand streams at once (numpy,
   one bool array per net), and counts, for every cell, how often its output changed;
3. each toggle is charged ``energy_per_um2_toggle`` x the cell's area (the cell table's NanGate X1
   area as the proxy for the capacitance it switches: ASSUMPTION), and every flip-flop bit the
   DFF_X1 clock-pin energy per clock (reports/tables/register_write_45nm.csv);
4. ``energy_per_um2_toggle`` is calibrated so that a synthesised 32-bit adder on uniform random
   operands costs exactly Horowitz's int32 add, 0.1 pJ; an 8 x 8 multiplier on uniform random
   operands is then predicted and shown beside Horowitz's 0.2 pJ as a check.

The netlist simulation is also a correctness check: the PE's accumulated result after a stream
must equal the exact dot product, or the run raises.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from reports import synth, tech
from rtl_models.benches.common import pack, unpack_signed
from rtl_models.gatesim import GateSim
from rtl_models.synth import verilog_sources


def _gate_sim(module: Mapping, lanes: int) -> GateSim:
    """The netlist's simulator, every cell weighed by its cell-table area (um^2)."""
    return GateSim(module, lanes, cell_area=tech.cell_area_um2)


_recorders: list[list[dict]] = []  # open record_pricing() blocks, innermost last


def _energy_pj(sim: GateSim, cal: Calibration, exclude: frozenset | set = frozenset()) -> float:
    """Energy of what ``sim`` counted: toggles x cell area x the calibrated constant, plus every
    flip-flop bit's clock energy for every counted cycle and lane (cells in ``exclude`` left out).
    Inside :func:`record_pricing` each call's breakdown is recorded too."""
    energy = sim.area_toggles(exclude) * cal.energy_per_um2_toggle_pj + sim.flop_bit_clocks(exclude) * cal.flop_clock_pj
    if _recorders:
        comb = {name for name, *_ in sim.comb}
        counted = {c: n for c, n in sim.toggles.items() if c not in exclude}
        area = cal.energy_per_um2_toggle_pj
        _recorders[-1].append({
            "energy": energy, "toggles": sum(counted.values()),
            "logic": sum(n * sim.area[c] for c, n in counted.items() if c in comb) * area,
            "flop_q": sum(n * sim.area[c] for c, n in counted.items() if c not in comb) * area,
            "clock": sim.flop_bit_clocks(exclude) * cal.flop_clock_pj, "cycles": sim.cycles,
            "flop_bits": sum(1 for f in sim.flops if f.name not in exclude),
            "flop_toggles": sum(n for c, n in counted.items() if c not in comb)})
    return energy


@contextlib.contextmanager
def record_pricing():
    """Within: every gate-level pricing this module does is recorded, call by call, in the list it
    yields: its energy (pJ, all lanes and cycles), the toggles counted, the energy split into
    combinational logic, flip-flop outputs and clock pins, the cycles simulated, the flip-flop bits
    and their toggles. The engine functions here return pJ per unit only; this is what they summed
    (reports/sections/saif.py compares it with the SAIF's counts)."""
    calls: list[dict] = []
    _recorders.append(calls)
    try:
        yield calls
    finally:
        _recorders.remove(calls)


# --------------------------------------------------------------------------------------------
# calibration
# --------------------------------------------------------------------------------------------

_CAL_DIR = "toggle_calibration"


def _calibration_netlist(kind: str, progress) -> dict:
    """A tiny synthesised design for calibration: a 32-bit adder or an 8 x 8 signed multiplier."""
    import tempfile
    from pathlib import Path

    src = {
        "add32": "module cal_add32(input [31:0] a, input [31:0] b, output [31:0] y);\n"
                 "  assign y = a + b;\nendmodule\n",
        "mul8": "module cal_mul8(input signed [7:0] a, input signed [7:0] b, output signed [15:0] y);\n"
                "  assign y = a * b;\nendmodule\n",
    }[kind]
    folder = Path(tempfile.gettempdir()) / "bitweight-toggle-cal"
    folder.mkdir(exist_ok=True)
    path = folder / f"cal_{kind}.v"
    try:  # a missing, unreadable or damaged copy (any bytes but these) is rewritten
        current = path.read_bytes()
    except OSError:
        current = None
    if current != src.encode():  # written whole (parallel test workers read it)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(src)
        os.replace(tmp, path)
    return synth.gate_netlist([path], f"cal_{kind}", {}, progress=progress)


def _mean_area_toggles(module: dict, width: int, signed: bool, lanes: int, steps: int, seed: int,
                       check: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> float:
    rng = np.random.default_rng(seed)
    sim = _gate_sim(module, lanes)
    lo, hi = (-(1 << (width - 1)), 1 << (width - 1)) if signed else (0, 1 << width)
    a, b = rng.integers(lo, hi, lanes), rng.integers(lo, hi, lanes)
    sim.set_port("a", a)
    sim.set_port("b", b)
    sim.settle(count=False)
    for _ in range(steps):
        a, b = rng.integers(lo, hi, lanes), rng.integers(lo, hi, lanes)
        sim.set_port("a", a)
        sim.set_port("b", b)
        sim.settle()
        y = sim.get_port("y", signed=signed)
        if not np.array_equal(y, check(a, b)):
            raise AssertionError("gate-level simulation of the calibration netlist disagrees with arithmetic")
    return sim.area_toggles() / (lanes * steps)


@dataclass(frozen=True)
class Calibration:
    energy_per_um2_toggle_pj: float  # pJ per um^2 of cell toggling once
    add32_area_toggles: float  # mean um^2 toggled per random 32-bit add
    mul8_area_toggles: float
    mul8_predicted_pj: float  # the 8x8 multiplier predicted with that energy (Horowitz: 0.2 pJ)
    flop_clock_pj: float  # per flip-flop bit per clock


@lru_cache(maxsize=1)
def calibration(progress: Callable[[str], None] | None = None) -> Calibration:
    """Calibrate on a 32-bit adder (Horowitz 0.1 pJ), predict an 8 x 8 multiplier (Horowitz 0.2 pJ)."""
    mask = (1 << 32) - 1
    add = _mean_area_toggles(_calibration_netlist("add32", progress), 32, False, 256, 64, 1,
                             lambda a, b: (a + b) & mask)
    mul = _mean_area_toggles(_calibration_netlist("mul8", progress), 8, True, 256, 64, 2, lambda a, b: a * b)
    e = tech.energy_pj("int32_add") / add
    return Calibration(e, add, mul, mul * e, tech.energy_pj("register_write_per_bit"))


# --------------------------------------------------------------------------------------------
# PEs of the output-stationary array: the MAC PE and the OPT1 carry-save PE
# --------------------------------------------------------------------------------------------

PE_TOPS = {"mac": "mac_pe", "booth_csa": "booth_csa_pe"}


@dataclass(frozen=True)
class PeToggleEnergy:
    pe: str
    data: str
    macs: int
    cycles: int
    comb_pj_per_mac: float  # logic toggles
    flop_data_pj_per_mac: float  # flip-flop Q toggles
    flop_clock_pj_per_mac: float  # every flop bit clocked every cycle
    pj_per_mac: float
    toggles_per_mac: float


def pe_toggle_energy(pe: str, a: np.ndarray, b: np.ndarray, data: str = "", progress=None,
                     b_bits: int = 8) -> PeToggleEnergy:
    """Energy per MAC of one output-stationary PE accumulating the dot products a[l] . b[l]
    (a: (lanes, K) int8, b: the same shape, signed ``b_bits``-bit values; the PE is synthesised
    with B_W = b_bits), from its netlist's toggles. Raises if the netlist's result is wrong."""
    if pe not in PE_TOPS:
        raise ValueError(f"pe must be one of {tuple(PE_TOPS)}, got {pe!r}")
    if isinstance(b_bits, bool) or not isinstance(b_bits, (int, np.integer)) or not 2 <= b_bits <= 8:
        raise ValueError(f"b_bits must be an integer in 2..8, got {b_bits!r}")
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] < 1:
        raise ValueError(f"a and b must be (lanes, K) arrays of one shape, got {a.shape} and {b.shape}")
    lo, hi = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    if a.min() < -128 or a.max() > 127 or b.min() < lo or b.max() > hi:
        raise ValueError(f"a must hold int8 values (-128..127) and b signed {b_bits}-bit values ({lo}..{hi})")
    top = PE_TOPS[pe]
    cal = calibration()
    params = {} if b_bits == 8 else {"B_W": int(b_bits)}
    module = synth.gate_netlist(verilog_sources(top), top, params, progress=progress)
    lanes, k = a.shape
    sim = _gate_sim(module, lanes)
    sim.reset([p for p in ("acc_in", "sum_in", "carry_in", "drain", "a_in", "b_in") if p in sim.ports])
    sim.reset_counts()
    for t in range(k):
        sim.set_port("a_in", a[:, t].astype(np.int64))
        sim.set_port("b_in", b[:, t].astype(np.int64))
        sim.settle()
        sim.clock()
    want = (a.astype(np.int64) * b.astype(np.int64)).sum(axis=1)
    if "acc_out" in sim.ports:
        got = sim.get_port("acc_out", signed=True)
    else:
        s, c = sim.get_port("sum_out"), sim.get_port("carry_out")
        got = (s + c) & 0xFFFFFFFF
        got = np.where(got >= 1 << 31, got - (1 << 32), got)
    if not np.array_equal(got, want):
        raise AssertionError(f"gate-level {top} accumulated {got[:4]}..., exact dot products {want[:4]}...")
    macs = lanes * k
    comb_names = {name for name, *_ in sim.comb}
    comb = sum(n * sim.area[c] for c, n in sim.toggles.items() if c in comb_names) * cal.energy_per_um2_toggle_pj
    flop = sum(n * sim.area[c] for c, n in sim.toggles.items() if c not in comb_names) * cal.energy_per_um2_toggle_pj
    clock = sim.flop_bits * k * lanes * cal.flop_clock_pj
    return PeToggleEnergy(pe, data, macs, k, comb / macs, flop / macs, clock / macs, (comb + flop + clock) / macs,
                          sum(sim.toggles.values()) / macs)


def operand_streams(lanes: int = 64, k: int = 64, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Operand streams for the toggle estimate: uniform INT8, Gaussian INT8 (std 30, the TPE
    paper's middle case) and all-MiniLM-L6-v2's INT8 weights x its INT8 activations on real text."""
    from kernels.models.real_tensors import real_int8_gemms

    rng = np.random.default_rng(seed)
    out = {
        "uniform int8": (rng.integers(-128, 128, (lanes, k)), rng.integers(-128, 128, (lanes, k))),
        "gaussian int8 std 30": tuple(np.clip(np.rint(rng.normal(0, 30, (lanes, k))), -128, 127).astype(np.int64)
                                      for _ in range(2)),
    }
    real = real_int8_gemms(max_m=lanes, max_n=lanes, max_k=k, layers=["blocks.2.ffn_up"], seed=seed)
    _, a, w = real[0]
    a = np.asarray(a, np.int64)[:lanes, :k]
    w = np.asarray(w, np.int64)[:k, :lanes].T  # lane l: row l of A against column l of B
    n = min(a.shape[0], w.shape[0])
    out["all-MiniLM-L6-v2 int8"] = (a[:n], w[:n])
    return out


def toggle_energy_table(lanes: int = 64, k: int = 64, seed: int = 0, progress=print):
    """One row per PE x operand stream: energy per MAC from toggles, split, with the calibration."""
    import pandas as pd

    cal = calibration(progress)
    rows = []
    for data, (a, b) in operand_streams(lanes, k, seed).items():
        for pe in PE_TOPS:
            if progress:
                progress(f"toggles: {PE_TOPS[pe]} on {data} ({a.shape[0]} lanes x {k} MACs)")
            r = pe_toggle_energy(pe, a, b, data)
            rows.append({"pe": PE_TOPS[pe], "data": data, "macs": r.macs, "toggles_per_mac": r.toggles_per_mac,
                         "logic_pj_per_mac": r.comb_pj_per_mac, "flop_q_pj_per_mac": r.flop_data_pj_per_mac,
                         "flop_clock_pj_per_mac": r.flop_clock_pj_per_mac, "pj_per_mac": r.pj_per_mac})
    df = pd.DataFrame(rows)
    base = df[df.pe == "mac_pe"].set_index("data").pj_per_mac
    df["energy_vs_mac_pe"] = df.pj_per_mac / df.data.map(base)
    cal_row = {"energy_per_um2_toggle_pj": cal.energy_per_um2_toggle_pj, "add32_um2_toggled": cal.add32_area_toggles,
               "mul8_um2_toggled": cal.mul8_area_toggles, "mul8_predicted_pj": cal.mul8_predicted_pj,
               "mul8_horowitz_pj": tech.energy_pj("int8_mult"), "flop_clock_pj": cal.flop_clock_pj}
    return df, pd.DataFrame([cal_row])


# --------------------------------------------------------------------------------------------
# the multiplier-adder tree engine (sim/adder_tree.py): baseline and OPT2 same-bit-weight
# --------------------------------------------------------------------------------------------


def tree_toggle_energy(pe: str, a: np.ndarray, b: np.ndarray, k: int = 16, n: int = 4, progress=None,
                       rows: int = 1) -> float:
    """Energy per MAC (pJ) of the whole tree_gemm engine (K x N tile, ``rows`` rows of A per
    clock: 1 = multiplier-adder tree, rows = k = n = 3D-cube) streaming the rows of ``a`` (M, k),
    M a multiple of rows, against the tile ``b`` (k, n), from its netlist's toggles; the tile load
    is not counted (it is amortised over the rows). Raises if the netlist's results are wrong."""
    from rtl_models.tree_gemm_cosim import rtl_params
    from sim.adder_tree import TreeConfig

    cfg = TreeConfig(k, n, pe, rows=rows)
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if a.ndim != 2 or a.shape[1] != k or b.shape != (k, n) or a.shape[0] % rows:
        raise ValueError(f"a must be (M, {k}) with M a multiple of {rows} and b ({k}, {n}), "
                         f"got {a.shape} and {b.shape}")
    module = synth.gate_netlist(verilog_sources("tree_gemm"), "tree_gemm", rtl_params(cfg), progress=progress)
    sim = _gate_sim(module, 1)
    sim.reset(("b_we", "a_valid", "b_row_idx", "a_vec", "psum_in", "b_row"))
    for kk in range(k):
        sim.set_port("b_we", 1)
        sim.set_port("b_row_idx", kk)
        sim.drive("b_row", pack(b[kk], 8))
        sim.settle(count=False)
        sim.clock(count=False)
    sim.set_port("b_we", 0)
    sim.reset_counts()
    got = []
    groups = a.shape[0] // rows
    # results leave 2 clocks after their rows (3 with pe="csa", whose read-out add is one more stage);
    # the count stops at the clock that delivers the last one
    for g in range(groups + 3):
        block = a[g * rows:(g + 1) * rows] if g < groups else np.zeros((rows, k), np.int64)
        sim.set_port("a_valid", int(g < groups))
        sim.drive("a_vec", pack(block.ravel(), 8))
        sim.settle()
        sim.clock()
        if sim.get_port("y_valid")[0]:
            word = sim.read("y_vec")
            flat = unpack_signed(word, rows * n, 32)
            got.extend(flat[r * n:(r + 1) * n] for r in range(rows))
        if len(got) == a.shape[0]:
            break
    want = (a @ b).tolist()
    if got != want:
        raise AssertionError(f"gate-level tree_gemm ({pe}) results {got[:2]}... differ from A @ B {want[:2]}...")
    cal = calibration()
    energy = _energy_pj(sim, cal)
    return energy / (a.shape[0] * k * n)


def _get_wide(sim: GateSim, name: str) -> int:
    return sum(int(sim.values[bit][0]) << i for i, bit in enumerate(sim.ports[name]["bits"]))


# --------------------------------------------------------------------------------------------
# the 2D-matrix (broadcast) engine (sim/broadcast.py): MAC or OPT1 PEs
# --------------------------------------------------------------------------------------------


def bcast_toggle_energy(pe: str, a: np.ndarray, b: np.ndarray, progress=None) -> float:
    """Energy per MAC (pJ) of an R x C bcast_matrix grid accumulating a (R, K) @ b (K, C), from its
    netlist's toggles over the K accumulate clocks (read-out not counted). Raises if the rows it
    then reads out differ from a @ b."""
    from rtl_models.bcast_cosim import rtl_params
    from sim.broadcast import BroadcastConfig

    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"a must be (R, K) and b (K, C), got {a.shape} and {b.shape}")
    cfg = BroadcastConfig(a.shape[0], b.shape[1], pe)
    module = synth.gate_netlist(verilog_sources("bcast_matrix"), "bcast_matrix", rtl_params(cfg),
                                progress=progress)
    sim = _gate_sim(module, 1)
    sim.reset(("clear", "in_valid", "rd_en", "rd_row", "a_col", "b_row"))
    k = a.shape[1]
    for t in range(k + 1):
        sim.set_port("clear", int(t == 0))
        sim.set_port("in_valid", int(t < k))
        sim.drive("a_col", pack(a[:, t], 8) if t < k else 0)
        sim.drive("b_row", pack(b[t], 8) if t < k else 0)
        sim.settle(count=t > 0)
        sim.clock(count=t > 0)
    cal = calibration()
    energy = _energy_pj(sim, cal)
    sim.set_port("in_valid", 0)
    sim.drive("a_col", 0)
    sim.drive("b_row", 0)
    got = []
    for r in range(cfg.rows + 3):
        sim.set_port("rd_en", int(r < cfg.rows))
        sim.set_port("rd_row", r if r < cfg.rows else 0)
        sim.settle(count=False)
        sim.clock(count=False)
        if sim.get_port("rd_valid")[0]:
            word = sim.read("rd_data")
            got.append(unpack_signed(word, cfg.cols, 32))
    if got != (a @ b).tolist():
        raise AssertionError(f"gate-level bcast_matrix ({pe}) read {got[:2]}... but A @ B is {(a @ b).tolist()[:2]}...")
    return energy / (a.shape[0] * b.shape[1] * k)


# --------------------------------------------------------------------------------------------
# the FP8 MAC PE (fp8_os_pe) and the Walsh-Hadamard butterfly network (fwht_butterfly)
# --------------------------------------------------------------------------------------------


def fp8_pe_toggle_energy(a_codes: np.ndarray, b_codes: np.ndarray, fmt_a: str = "e4m3", fmt_b: str = "e4m3",
                         progress=None) -> float:
    """Energy per MAC (pJ) of the FP8 array's PE (exact FP8 product, FP32 accumulate) over
    ``lanes`` independent dot products a_codes[l] . b_codes[l] (uint8 codes, (lanes, K)), from its
    netlist's toggles. Raises unless each lane's FP32 result equals sim.fp8.dot_fp8_bits."""
    from sim.fp8 import dot_fp8_bits, get_format

    a, b = np.asarray(a_codes, np.int64), np.asarray(b_codes, np.int64)
    if a.shape != b.shape or a.ndim != 2 or a.min() < 0 or a.max() > 255 or b.min() < 0 or b.max() > 255:
        raise ValueError(f"a_codes and b_codes must be (lanes, K) arrays of FP8 codes 0..255, got {a.shape}, {b.shape}")
    params = {"FMT_A": get_format(fmt_a).code, "FMT_B": get_format(fmt_b).code}
    module = synth.gate_netlist(verilog_sources("fp8_os_array"), "fp8_os_pe", params, progress=progress)
    lanes, k = a.shape
    sim = _gate_sim(module, lanes)
    sim.reset(("a_in", "b_in", "a_v_in", "acc_in"))
    sim.set_port("drain", 1)
    sim.settle(count=False)
    sim.clock(count=False)  # drain +0 into the accumulator
    sim.set_port("drain", 0)
    sim.reset_counts()
    for t in range(k + 1):
        sim.set_port("a_v_in", int(t < k))
        sim.set_port("a_in", a[:, t] if t < k else 0)
        sim.set_port("b_in", b[:, t] if t < k else 0)
        sim.settle()
        sim.clock()
    got = sim.get_port("acc_out")
    want = np.array([dot_fp8_bits(a[i], b[i], fmt_a, fmt_b) for i in range(lanes)], np.int64)
    if not np.array_equal(got, want):
        raise AssertionError(f"gate-level fp8_os_pe results {got[:3]} differ from sim.fp8 {want[:3]}")
    cal = calibration()
    energy = _energy_pj(sim, cal)
    return energy / (lanes * k)


def fwht_toggle_energy(x: np.ndarray, progress=None) -> float:
    """Energy per transform (pJ) of the pipelined butterfly network fwht_butterfly (N = x.shape[1]
    lanes, int8 inputs) streaming the rows of x one per clock, from its netlist's toggles. Raises
    unless every output equals H_N x."""
    x = np.asarray(x, np.int64)
    if x.ndim != 2 or x.shape[1] < 2 or x.shape[1] & (x.shape[1] - 1) or x.min() < -128 or x.max() > 127:
        raise ValueError(f"x must be (B, N) int8 values with N a power of two >= 2, got shape {x.shape}")
    bsz, n = x.shape
    stages = n.bit_length() - 1
    ow = 8 + stages
    module = synth.gate_netlist(verilog_sources("fwht_butterfly"), "fwht_butterfly", {"N": n, "W": 8},
                                progress=progress)
    sim = _gate_sim(module, 1)
    sim.reset(("in_valid", "in_data"))
    h = np.array([[1]])
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    got = []
    for t in range(bsz + stages + 2):
        sim.set_port("in_valid", int(t < bsz))
        sim.drive("in_data", pack(x[t], 8) if t < bsz else 0)
        sim.settle()
        sim.clock()
        if sim.get_port("out_valid")[0]:
            word = sim.read("out_data")
            got.append(unpack_signed(word, n, ow))
    if got != (x @ h.T).tolist():
        raise AssertionError("gate-level fwht_butterfly outputs differ from H x")
    cal = calibration()
    energy = _energy_pj(sim, cal)
    return energy / bsz


# --------------------------------------------------------------------------------------------
# the weight-stationary array (ws_systolic_array), MAC PE or OPT1 (sum, carry) pairs
# --------------------------------------------------------------------------------------------


def ws_array_toggle_energy(pe: str, a: np.ndarray, w: np.ndarray, depth: int = 64, progress=None) -> float:
    """Energy per MAC (pJ) of one fold of a small R x C weight-stationary array, a (t, R) @ w (R, C),
    from start to done, buffers and control included, from its netlist's toggles (the buffer
    loads before start are not counted). Raises unless the result read back equals a @ w."""
    from rtl_models.systolic_cosim import PE_KINDS

    a, w = np.asarray(a, np.int64), np.asarray(w, np.int64)
    if a.ndim != 2 or w.ndim != 2 or a.shape[1] != w.shape[0] or a.shape[0] > depth:
        raise ValueError(f"a must be (t <= {depth}, R) and w (R, C), got {a.shape} and {w.shape}")
    if pe not in PE_KINDS:
        raise ValueError(f"pe must be one of {tuple(PE_KINDS)}, got {pe!r}")
    t, r = a.shape
    c = w.shape[1]
    params = {"R": r, "C": c, "A_W": 8, "B_W": 8, "ACC_W": 32, "DEPTH": depth, "PE_KIND": PE_KINDS[pe]}
    module = synth.gate_netlist(verilog_sources("ws_systolic_array"), "ws_systolic_array", params,
                                progress=progress)
    sim = _gate_sim(module, 1)
    sim.reset(("w_en", "w_addr", "a_en", "a_addr", "start", "t_len", "accumulate", "rd_addr", "w_data", "a_data"))
    for i in range(max(r, t)):
        sim.set_port("w_en", int(i < r))
        sim.set_port("w_addr", i if i < r else 0)
        sim.drive("w_data", pack(w[i], 8) if i < r else 0)
        sim.set_port("a_en", int(i < t))
        sim.set_port("a_addr", i if i < t else 0)
        sim.drive("a_data", pack(a[i], 8) if i < t else 0)
        sim.settle(count=False)
        sim.clock(count=False)
    sim.set_port("w_en", 0)
    sim.set_port("a_en", 0)
    sim.set_port("start", 1)
    sim.set_port("t_len", t)
    sim.reset_counts()
    for edge in range(4 * (2 * r + c + t) + 8):
        sim.settle()
        sim.clock()
        sim.set_port("start", 0)
        if sim.get_port("done")[0]:
            break
    else:
        raise AssertionError("ws_systolic_array never raised done")
    cal = calibration()
    energy = _energy_pj(sim, cal)
    got = []
    for m in range(t + 1):
        sim.set_port("rd_addr", m if m < t else 0)
        sim.settle(count=False)
        sim.clock(count=False)
        word = sim.read("rd_data")  # rd_data is registered: row m after the edge that sampled it
        got.append(unpack_signed(word, c, 32))
    if got[:t] != (a @ w).tolist():
        raise AssertionError(f"gate-level ws_systolic_array ({pe}) read {got[:2]}... but A @ W is {(a @ w).tolist()[:2]}...")
    return energy / (t * r * c)


# --------------------------------------------------------------------------------------------
# dot-product tops with operand buffers (digit_skip_dot: OPT3; laconic_dot, stripes_dot,
# bitfusion_dot): energy of the PE and its control, the buffers left out
# --------------------------------------------------------------------------------------------


def _buffer_cells(module: Mapping) -> set[str]:
    """Cells that store or read the operand buffers: every cell driving a net whose name holds
    ``_buf`` (yosys keeps the memory's name in its flip-flops' and read muxes' nets)."""
    bits = {b for name, net in module["netnames"].items() if "_buf" in name for b in net["bits"] if isinstance(b, int)}
    out = set()
    for name, cell in module["cells"].items():
        dirs, conns = cell["port_directions"], cell["connections"]
        if any(b in bits for p, d in dirs.items() if d == "output" for b in conns[p] if isinstance(b, int)):
            out.add(name)
    return out


def dot_top_toggle_energy(top: str, params: Mapping[str, int], a: np.ndarray, b: np.ndarray, b_port: str = "ld_b",
                          b_bits: int = 8, a_bits: int = 8, progress=None) -> float:
    """Energy per MAC (pJ) of a start/done dot-product top (``ld_en, ld_addr, ld_a, <b_port>, start,
    k_len, done, result``) over the dot products a[l] . b[l] ((dots, K) signed values), one run each,
    from start to done. The operand buffers' flip-flops and read muxes are left out, so the figure
    is the PE and its control. Raises unless every result equals the exact dot product."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"a and b must be (dots, K) arrays of one shape, got {a.shape} and {b.shape}")
    depth = int(params.get("DEPTH", 16))
    if a.shape[1] > depth:
        raise ValueError(f"K = {a.shape[1]} exceeds the top's operand buffer depth {depth}")
    module = synth.gate_netlist(verilog_sources(top), top, params, progress=progress)
    buffers = _buffer_cells(module)
    sim = _gate_sim(module, 1)
    cal = calibration()
    energy, macs = 0.0, 0
    sim.reset(("ld_en", "ld_addr", "ld_a", b_port, "start", "k_len"))
    for x, y in zip(a, b):
        k = len(x)
        for i in range(k):
            sim.set_port("ld_en", 1)
            sim.set_port("ld_addr", i)
            sim.set_port("ld_a", int(x[i]) & ((1 << a_bits) - 1))
            sim.set_port(b_port, int(y[i]) & ((1 << b_bits) - 1))
            sim.settle(count=False)
            sim.clock(count=False)
        sim.set_port("ld_en", 0)
        sim.set_port("start", 1)
        sim.set_port("k_len", k)
        sim.reset_counts()
        for _ in range(40 * k + 16):
            sim.settle()
            sim.clock()
            sim.set_port("start", 0)
            if sim.get_port("done")[0]:
                break
        else:
            raise AssertionError(f"{top} never raised done")
        got = int(sim.get_port("result", signed=True)[0])
        if got != int(x @ y):
            raise AssertionError(f"gate-level {top} computed {got}, the exact dot product is {int(x @ y)}")
        energy += _energy_pj(sim, cal, exclude=buffers)
        macs += k
    return energy / macs
