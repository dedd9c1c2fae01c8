"""The TPE paper's claimed ratios beside what this suite measures (issue 3's comparison table).

One row per architecture the paper evaluates. Paper columns are its claims; "released" columns
are the ratios recomputed from the paper repository's own synthesis reports (shared/ANCHORS.md);
"ours" columns are measured here, from the same yosys + NanGate45 flow for baseline and technique,
only where this suite has built both designs. A row whose design is not built says so instead of
carrying a number.

Area efficiency = peak-throughput GOPS / mm^2 = (MACs per cycle x clock) / area, with the cycle
count of one workload (square_1024) from the cycle models, so a technique that adds a cycle per
fold pays for it. Energy efficiency = baseline PE energy per MAC / technique PE energy per MAC,
both from gate-level toggles of the synthesised PEs (reports/toggles.py) on Gaussian INT8
operands (std 30); the uniform and real-model streams are named in the comment. A second, independent
estimate, ``ours_energy_eff_events_x``, prices the two designs' event counts on square_1024 with
reports/cost.py's tables (Horowitz adds and multiplies; the techniques' carry-save trees, Booth
selects and redundant accumulators through first-order full-adder and select-bit counts), over the
datapath (arithmetic and registers; the buffers, left out of the toggle estimate too, are in the text).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from reports import synth
from rtl_models.synth import verilog_sources

# (architecture, technique, paper area x, paper energy x, released area x, released energy x)
PAPER = [
    ("systolic array (output-stationary 16x16)", "OPT1 carry-save accumulation", 1.27, 1.04, 2.17, 1.03),
    ("systolic array (weight-stationary 16x16)", "OPT1 with (sum, carry) partial sums", 1.27, 1.04, 1.32, 0.79),
    ("3D-cube (8x8x8)", ("OPT1 with (sum, carry) partial sums (ours: OPT2 where the cube's K has no carry-save "
                         "tree)"), 1.28, 1.56, 1.42, 0.92),
    ("multiplier-adder tree", "paper: its best combination; ours: OPT2", 1.56, 1.49, math.nan, math.nan),
    ("2D-matrix (broadcast)", "paper: its best combination; ours: OPT1", 1.44, 1.20, math.nan, math.nan),
    ("bit-slice design vs Laconic", "paper: its bit-slice design; ours: the OPT3 PE", 2.85, 12.10, math.nan, math.nan),
    ("bit-slice design vs Laconic (K-extended)", ("paper: its bit-slice design; ours: the OPT4E group (4 OPT3 "
                                                  "sub-PEs along K, one shared 6:2 compressor)"),
     2.85, 12.10, math.nan, math.nan),
]


def _energy_eff_ratios_os_opt1(progress) -> dict[str, float]:
    from reports import toggles

    out = {}
    for data, (a, b) in toggles.operand_streams(lanes=32, k=48).items():
        base = toggles.pe_toggle_energy("mac", a, b, data, progress=progress).pj_per_mac
        opt1 = toggles.pe_toggle_energy("booth_csa", a, b, data, progress=progress).pj_per_mac
        out[data] = base / opt1
    return out


def _area_eff_ratio_os_opt1(rows: int, cols: int, progress) -> tuple[float, str]:
    from sim.systolic import SystolicConfig, estimate_gemm
    from sim.workloads import NAMED_GEMMS

    m, n, k = NAMED_GEMMS["square_1024"]
    eff = {}
    for pe, kind in (("mac", 0), ("booth_csa", 1)):
        cfg = SystolicConfig(rows, cols, "os", pe=pe)
        params = {"R": rows, "C": cols, "A_W": 8, "B_W": 8, "ACC_W": 32}
        if kind:
            params["PE_KIND"] = 1
        res = synth.synthesize(verilog_sources("os_systolic_array"), "os_systolic_array", params,
                               progress=progress)
        cycles = estimate_gemm(m, n, k, cfg).cycles
        eff[pe] = (m * n * k / cycles) * res.est_clock_mhz / res.area_um2
        eff[pe + "_txt"] = f"{res.area_um2 / 1e6:.3f} mm^2, ~{res.est_clock_mhz:.0f} MHz, {cycles} cycles"
    basis = (f"{rows}x{cols} OS arrays, square_1024: baseline {eff['mac_txt']}; OPT1 {eff['booth_csa_txt']} "
             "(yosys generic synthesis, NanGate45 X1 cells)")
    return eff["booth_csa"] / eff["mac"], basis


def _tree_ratios(k: int, n: int, progress, rows: int = 1) -> dict[str, tuple[float, float]]:
    """OPT2 ("sbw") and OPT1 ("csa", where K has a carry-save tree) vs the baseline multiplier-adder
    tree (rows = 1) or 3D-cube (rows = k = n): area efficiency from synthesis and the cycle model
    (square_1024; OPT1's read-out add is one more cycle per fold), energy efficiency from gate-level
    toggles of the whole engines on Gaussian INT8 data. Returns {pe: (area x, energy x)} and, under
    "text", the basis."""
    from reports import toggles
    from rtl_models.tree_gemm_cosim import rtl_params
    from sim.adder_tree import CSA_KS, TreeConfig, estimate_gemm
    from sim.workloads import NAMED_GEMMS

    m_, n_, k_ = NAMED_GEMMS["square_1024"]
    rng = np.random.default_rng(0)
    a = np.clip(np.rint(rng.normal(0, 30, (16, k))), -128, 127).astype(np.int64)
    b = np.clip(np.rint(rng.normal(0, 30, (k, n))), -128, 127).astype(np.int64)
    pes = ("mult", "sbw", "csa") if k in CSA_KS else ("mult", "sbw")
    names = {"mult": "baseline", "sbw": "OPT2", "csa": "OPT1"}
    res, energy, eff = {}, {}, {}
    for pe in pes:
        cfg = TreeConfig(k, n, pe, rows=rows)
        res[pe] = synth.synthesize(verilog_sources("tree_gemm"), "tree_gemm", rtl_params(cfg), progress=progress)
        energy[pe] = toggles.tree_toggle_energy(pe, a, b, k, n, progress=progress, rows=rows)
        eff[pe] = res[pe].est_clock_mhz / res[pe].area_um2 / estimate_gemm(m_, n_, k_, cfg).cycles
    txt = "; ".join(f"{names[pe]} {r.area_um2 / 1e6:.4f} mm^2, ~{r.est_clock_mhz:.0f} MHz, {energy[pe]:.3f} pJ/MAC"
                    for pe, r in res.items())
    what = f"K={k} x N={n} tile engines" if rows == 1 else f"{rows}x{k}x{n} cubes"
    out = {pe: (eff[pe] / eff["mult"], energy["mult"] / energy[pe]) for pe in pes if pe != "mult"}
    out["text"] = f"{what}: {txt}"
    return out


def _other(ratios: dict, pe: str) -> str:
    """The other technique's ratios of a tree/cube row, for its comment."""
    names = {"sbw": "OPT2 (same-bit-weight trees, digits shared along each row)",
             "csa": "OPT1 (Booth partial products and the partial sum in one carry-save tree per unit)"}
    if pe not in ratios:
        return ""
    area_x, energy_x = ratios[pe]
    return f" {names[pe]} here: {area_x:.2f}x area efficiency, {energy_x:.2f}x energy efficiency."


def _bcast_ratios(size: int, progress) -> tuple[float, float, str]:
    """OPT1 vs the MAC PE in the 2D-matrix (broadcast) grid: area efficiency from synthesis and the
    cycle model (square_1024; OPT1 has one more read-out cycle per fold), energy from toggles."""
    from reports import toggles
    from rtl_models.bcast_cosim import rtl_params
    from sim.broadcast import BroadcastConfig, estimate_gemm
    from sim.workloads import NAMED_GEMMS

    m, n, k = NAMED_GEMMS["square_1024"]
    rng = np.random.default_rng(0)
    a = np.clip(np.rint(rng.normal(0, 30, (size, 32))), -128, 127).astype(np.int64)
    b = np.clip(np.rint(rng.normal(0, 30, (32, size))), -128, 127).astype(np.int64)
    eff, energy, txt = {}, {}, []
    for pe in ("mac", "booth_csa"):
        cfg = BroadcastConfig(size, size, pe)
        res = synth.synthesize(verilog_sources("bcast_matrix"), "bcast_matrix", rtl_params(cfg),
                               progress=progress)
        cycles = estimate_gemm(m, n, k, cfg).cycles
        eff[pe] = (m * n * k / cycles) * res.est_clock_mhz / res.area_um2
        energy[pe] = toggles.bcast_toggle_energy(pe, a, b, progress=progress)
        txt.append(f"{'baseline' if pe == 'mac' else 'OPT1'} {res.area_um2 / 1e6:.4f} mm^2, ~{res.est_clock_mhz:.0f} MHz, "
                   f"{energy[pe]:.3f} pJ/MAC")
    return (eff["booth_csa"] / eff["mac"], energy["mac"] / energy["booth_csa"],
            f"{size}x{size} grids, square_1024: " + "; ".join(txt))


def _ws_ratios(rows: int, cols: int, energy_size: int, progress) -> tuple[float, float, str]:
    """OPT1 ((sum, carry) partial sums) vs the MAC PE in the WS array: area efficiency from synthesis
    and the cycle model (square_1024), energy from toggles of a small whole array."""
    from reports import toggles
    from sim.systolic import SystolicConfig, estimate_gemm
    from sim.workloads import NAMED_GEMMS

    m, n, k = NAMED_GEMMS["square_1024"]
    rng = np.random.default_rng(0)
    a = np.clip(np.rint(rng.normal(0, 30, (16, energy_size))), -128, 127).astype(np.int64)
    w = np.clip(np.rint(rng.normal(0, 30, (energy_size, energy_size))), -128, 127).astype(np.int64)
    eff, energy, txt = {}, {}, []
    for pe, kind in (("mac", 0), ("booth_csa", 1)):
        params = {"R": rows, "C": cols, "A_W": 8, "B_W": 8, "ACC_W": 32}
        if kind:
            params["PE_KIND"] = 1
        res = synth.synthesize(verilog_sources("ws_systolic_array"), "ws_systolic_array", params,
                               progress=progress)
        cycles = estimate_gemm(m, n, k, SystolicConfig(rows, cols, "ws", pe=pe)).cycles
        eff[pe] = (m * n * k / cycles) * res.est_clock_mhz / res.area_um2
        energy[pe] = toggles.ws_array_toggle_energy(pe, a, w, depth=16, progress=progress)
        txt.append(f"{'baseline' if pe == 'mac' else 'OPT1'} {res.area_um2 / 1e6:.3f} mm^2, ~{res.est_clock_mhz:.0f} MHz, "
                   f"{energy[pe]:.2f} pJ/MAC")
    return (eff["booth_csa"] / eff["mac"], energy["mac"] / energy["booth_csa"],
            f"{rows}x{cols} WS arrays for area, {energy_size}x{energy_size} arrays (flip-flop buffers of depth 16 "
            "included) for toggle energy: " + "; ".join(txt))


def _event_energy_ratio(base, base_cfg, tech, tech_cfg) -> tuple[float, str]:
    """Energy efficiency technique / baseline from event counts x the engines' per-event tables on
    square_1024: the datapath (arithmetic and registers; buffers excluded, as in the toggle
    estimate), with the whole engine's figures including buffers in the text."""
    from reports import cost
    from sim.workloads import NAMED_GEMMS

    m, n, k = NAMED_GEMMS["square_1024"]
    core, whole = {}, {}
    for tag, engine, cfg in (("baseline", base, base_cfg), ("technique", tech, tech_cfg)):
        by = cost.energy_by_component_pj(engine.estimate_gemm(m, n, k, cfg).events, engine.energy_table(cfg))
        whole[tag] = sum(by.values()) / (m * n * k)
        core[tag] = (by["mac_arithmetic"] + by["pe_registers"]) / (m * n * k)
    return core["baseline"] / core["technique"], (
        f"event counts x per-event energy on square_1024, datapath only: baseline {core['baseline']:.3f}, "
        f"technique {core['technique']:.3f} pJ/MAC (with buffers {whole['baseline']:.2f} and "
        f"{whole['technique']:.2f})")


_NOT_BUILT: dict[str, str] = {}

# the registered engines each paper row compares for the event-count estimate: (baseline, the first
# technique engine built at the table's size); the bit-slice rows have no event table for Laconic
EVENT_ENGINES = {
    "systolic array (output-stationary 16x16)": ("os", ("os_csa",)),
    "systolic array (weight-stationary 16x16)": ("ws", ("ws_csa",)),
    "3D-cube (8x8x8)": ("cube", ("cube_csa", "cube_sbw")),
    "multiplier-adder tree": ("mat", ("mat_sbw",)),
    "2D-matrix (broadcast)": ("bcast", ("bcast_csa",)),
}


def _events_for(arch: str, rows: int, cols: int, tree: tuple[int, int], cube: int, grid: int):
    """(baseline engine, config, technique engine, config) of a row for the event-count estimate,
    or None: the engines' own cost-table configs at the table's sizes."""
    from reports.engine import Sizes
    from reports.registry import get_engine

    if arch not in EVENT_ENGINES:
        return None
    sizes = Sizes(rows, cols, tree=tree, cube=cube, grid=grid)
    base_name, tech_names = EVENT_ENGINES[arch]
    base = get_engine(base_name)
    for name in tech_names:
        tech = get_engine(name)
        priced = tech.priced(sizes)
        if priced:
            return base, base.priced(sizes)[0].config, tech, priced[0].config
    return None


def tpe_table(rows: int = 16, cols: int = 16, tree: tuple[int, int] = (16, 4), cube: int = 4,
              bitserial_n: int = 8, grid: int = 8, ws_energy: int = 4, progress=print) -> pd.DataFrame:
    out, bitserial = [], None
    for arch, tech_name, pa, pe_, ra, re_ in PAPER:
        row = {"architecture": arch, "technique": tech_name, "paper_area_eff_x": pa, "paper_energy_eff_x": pe_,
               "released_reports_area_eff_x": ra, "released_reports_energy_eff_x": re_,
               "ours_area_eff_x": math.nan, "ours_energy_eff_x": math.nan, "ours_energy_eff_events_x": math.nan}
        events = _events_for(arch, rows, cols, tree, cube, grid)
        if events is not None:
            row["ours_energy_eff_events_x"], events_txt = _event_energy_ratio(*events)
        if arch.startswith("systolic array (output-stationary"):
            ratio, basis = _area_eff_ratio_os_opt1(rows, cols, progress)
            energy = _energy_eff_ratios_os_opt1(progress)
            row["ours_area_eff_x"] = ratio
            row["ours_energy_eff_x"] = energy["gaussian int8 std 30"]
            e_txt = ", ".join(f"{v:.2f}x on {k}" for k, v in energy.items())
            where = ("below both" if ratio < min(pa, ra) else "above both" if ratio > max(pa, ra) else
                     "between")
            row["comment"] = (
                f"{basis}. Ours ({ratio:.2f}x) is {where} the paper's {pa}x and its released reports' {ra}x. "
                "Generic synthesis builds ripple-carry adders, so the baseline's 32-bit accumulate add sets a slow "
                "clock that OPT1's carry-save accumulator removes; a commercial flow's fast adders narrow that gap. "
                f"Energy efficiency from gate-level toggles of the two PEs: {e_txt}, "
                f"{'below' if row['ours_energy_eff_x'] < pe_ else 'above'} the paper's {pe_}x. The carry-save PE clocks 64 accumulator flip-flops (sum and carry) instead of 32 and "
                "its 7-input tree switches more than a multiplier plus one adder; the gap shrinks on real data, "
                "whose small values leave the Booth digits zero more often.")
        elif arch.startswith("systolic array (weight-stationary"):
            area_x, energy_x, basis = _ws_ratios(rows, cols, ws_energy, progress)
            row["ours_area_eff_x"], row["ours_energy_eff_x"] = area_x, energy_x
            row["comment"] = (
                f"{basis}. Partial sums travel down the columns as (sum, carry) pairs through each PE's 7-input "
                "tree; below the bottom row one 3:2 layer folds in the buffer's old value and the add runs in two "
                f"16-bit halves (two more cycles per fold). Area efficiency {area_x:.2f}x and energy efficiency "
                f"{energy_x:.2f}x against the paper's {pa}x / {pe_}x and its released reports' {ra}x / {re_}x; "
                "the pairs double the partial-sum registers and links, which the toggle count charges.")
        elif arch.startswith("3D-cube"):
            ratios = _tree_ratios(cube, cube, progress, rows=cube)
            ours = "csa" if "csa" in ratios else "sbw"
            area_x, energy_x = ratios[ours]
            row["ours_area_eff_x"], row["ours_energy_eff_x"] = area_x, energy_x
            row["comment"] = (
                f"{ratios['text']} (the paper's cube is 8x8x8; {cube}^3 here keeps synthesis to minutes). Ours is "
                + ("OPT1, the paper's own cube technique: each unit's 4K Booth partial products, a correction word and "
                   "its partial sum in one carry-save tree, the (sum, carry) pair registered and added once, a stage "
                   "later" if ours == "csa" else "OPT2")
                + f": area efficiency {area_x:.2f}x and energy efficiency {energy_x:.2f}x against the paper's {pa}x "
                f"and {pe_}x and the released reports' {ra}x and {re_}x." + _other(ratios, "sbw"))
        elif arch.startswith("2D-matrix"):
            area_x, energy_x, basis = _bcast_ratios(grid, progress)
            row["ours_area_eff_x"], row["ours_energy_eff_x"] = area_x, energy_x
            row["comment"] = (
                f"{basis}. Ours is OPT1 (the carry-save PE, its read-out add pipelined): area efficiency {area_x:.2f}x "
                f"and energy efficiency {energy_x:.2f}x against the paper's {pa}x and {pe_}x. As in the systolic "
                "array, the carry-save accumulator removes the 32-bit carry chain from the clock period but doubles "
                "the accumulator flip-flops that switch and clock every cycle.")
        elif arch.startswith("bit-slice"):
            from reports.sections.bitserial_compare import bitserial_table

            if bitserial is None:
                small = {} if bitserial_n >= 8 else {"energy_dots": 1, "energy_k": 8}
                bitserial = bitserial_table(n=bitserial_n, precisions=(8,), progress=progress, **small)
            t = bitserial
            prefix = "opt4e" if "OPT4E" in tech_name else "opt3"
            ours = t[t.engine.str.startswith(prefix + " ")].set_index("data")
            area_g, area_real = float(ours.area_eff_vs_laconic["gaussian"]), float(ours.area_eff_vs_laconic["all-MiniLM-L6-v2"])
            energy_g = float(ours.energy_eff_vs_laconic["gaussian"])
            row["ours_area_eff_x"], row["ours_energy_eff_x"] = area_g, energy_g
            lanes = t.engine[t.engine.str.startswith("laconic")].iloc[0].split("(")[1].rstrip(")")
            what = ("the OPT3 zero-digit-skipping PE" if prefix == "opt3" else
                    "the OPT4E group (4 OPT3 sub-PEs on 16 consecutive K elements in lock step, one shared 6:2 "
                    f"compressor; {float(ours.cycles_per_dot['gaussian']):.0f} cycles per K = {t.k.iloc[0]} dot)")
            row["comment"] = (
                f"PE level: {what} against a Laconic PE with {lanes} (Booth terms of both operands, lanes in lock "
                f"step), both ours, synthesised alone, cycles from their models on K = {t.k.iloc[0]} dot products: "
                f"{area_g:.2f}x area efficiency on Gaussian INT8 (std 30), {area_real:.2f}x on all-MiniLM-L6-v2's "
                "tensors (real data has more zero Booth digits, which Laconic skips in both operands). Energy "
                "efficiency from gate-level toggles of the two PEs and their control (operand buffers left out) on "
                f"Gaussian INT8: {energy_g:.2f}x. The paper's 2.85x / 12.10x are for its whole bit-slice design with "
                "shared encoders against a Laconic it did not release"
                + ("; against our Laconic PE the zero-digit-skipping PE is smaller per MAC/s but spends about as much "
                   "energy per MAC, both being dominated by their registers clocked every cycle of a multi-cycle MAC."
                   if prefix == "opt3" else
                   "; sharing one compressor and one accumulator among 4 sub-PEs spreads the registers clocked every "
                   "cycle over about 3x the MACs per cycle, which is where OPT4E gains on OPT3."))
        elif arch == "multiplier-adder tree":
            ratios = _tree_ratios(*tree, progress)
            area_x, energy_x = ratios["sbw"]
            row["ours_area_eff_x"], row["ours_energy_eff_x"] = area_x, energy_x
            row["comment"] = (
                f"{ratios['text']} (one row per clock). Ours is OPT2: area efficiency {area_x:.2f}x and energy "
                f"efficiency {energy_x:.2f}x against the paper's {pa}x and {pe_}x. The digit encoder runs once per row "
                "and is shared by the N columns; each column replaces K 8x8 multipliers and a wide tree with four "
                "narrow trees of +-b / +-2b selections, which is cheaper in cells and in switching."
                + _other(ratios, "csa"))
        else:
            row["comment"] = _NOT_BUILT[arch]
        if events is not None:
            row["comment"] += f" Second energy estimate, {events_txt}: {row['ours_energy_eff_events_x']:.2f}x."
        out.append(row)
    return pd.DataFrame(out)


ORDER = 90  # its place in the report: reports/sections/ runs its modules by ORDER


def report_sections(progress=print, quick: bool = False) -> list:
    from reports.build import ReportSection

    small = ({"rows": 4, "cols": 4, "tree": (4, 2), "cube": 2, "bitserial_n": 2, "grid": 2, "ws_energy": 2}
             if quick else {})
    progress("report: the TPE paper's ratios beside ours")
    note = ("Area- and energy-efficiency ratios (technique / baseline) claimed by the TPE paper, recomputed from "
            "its released reports (shared/ANCHORS.md), and measured here with one synthesis flow for both designs. "
            "NaN: not available (the paper released no such report, or this suite has not built the design).")
    return [ReportSection("TPE paper: claimed vs measured ratios", "tpe_paper_ratios.csv", tpe_table(progress=progress, **small),
                          note)]
