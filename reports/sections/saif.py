"""The report's SAIF section: energy per MAC (per transform for the Walsh-Hadamard network) of every
design reports/toggles.py prices from gate-level toggles, from Verilator's switching activity (SAIF,
rtl_models/saif.py) beside the gate-level toggle estimate, on the same operand streams and the same
cycle protocol (load phases stepped but not counted), with the same calibration anchor (Horowitz's
32-bit add, 0.1 pJ) and the same flip-flop clock energy.

Rows: the output-stationary PEs (mac_pe, booth_csa_pe) on the three data sets of reports/toggles.py's
PE table; then, on Gaussian INT8 (std 30) unless said, the tree_gemm engine (multiplier-adder tree and
3D-cube; baseline, OPT2, OPT1), the 2D-matrix grid (MAC and OPT1 PEs), the weight-stationary array
(MAC and OPT1), the FP8 PE (e4m3, e5m2 on N(0, 1) data), the Walsh-Hadamard butterfly network and the
dot-product tops of the bit-serial table (OPT3, OPT4E, Laconic, Stripes, Bit Fusion), at the sizes of
ENGINE_SIZES (smaller than the engine tables' where the gate-level simulation would not fit the
section's time: see the note)."""

from __future__ import annotations

import re
import time

ORDER = 71  # right after the gate-level toggle sections (70)

# The engines' sizes here. The FP8 PE (32 lanes x 48 MACs) and the FWHT network (N = 16, 32 vectors)
# run as the report's toggle figures run them, on the same operands. The tree (report: K x N = 16 x 4
# on 16 rows), the cube (report: 4 x 4 x 4 on 16 rows; here 8), the grid (TPE table: 8 x 8, K = 32),
# the WS array (report: 4 x 4 on t = 16; here t = 8) and the dot tops (bit-serial table: 4 dot
# products of K = 32) run smaller: at the report's sizes their gate-level simulation alone takes
# ~2.5 minutes on 2 cores.
ENGINE_SIZES = {"tree": (8, 4), "tree_rows": 8, "cube": 4, "cube_rows": 8, "grid": 4, "grid_k": 16,
                "ws": 4, "ws_t": 8, "ws_depth": 16, "fp8_lanes": 32, "fp8_k": 48, "fwht_n": 16, "fwht_b": 32,
                "dots": 2, "dot_k": 16}
ENGINE_GROUPS = ("tree", "cube", "bcast", "ws", "fp8", "fwht", "dot")

NOTE = (
    "Two activity sources on the same operand streams and cycle protocol. gate: the design's yosys netlist "
    "simulated gate by gate (rtl_models/gatesim.py, reports/toggles.py), every cell-output toggle x its cell area "
    "x a constant. saif: the RTL simulated on Verilator {verilator} with --trace-saif (rtl_models/saif.py: a "
    "generated bench, inputs from memory images), every counted net-bit toggle x one energy per bit toggle. Both "
    "constants are calibrated so the 32-bit adder on the same random operands costs Horowitz's 0.1 pJ, and both "
    "add the DFF_X1 clock energy per register bit per counted cycle (gate: yosys's flip-flops; saif: bits of nets "
    "assigned with <= in the RTL). Neither counts glitches or the design's input ports. PE rows: {lanes} lanes of "
    "{k} MACs per data set, each lane an independent PE from zero state. Engine rows (one lane each, Gaussian INT8 "
    "std 30 unless the data column says otherwise; per MAC, per transform for fwht_butterfly; sizes {sizes}): "
    "what reports/toggles.py counts is what the SAIF counts: reset and load phases (tile load, buffer loads, the "
    "grid's first outer product, the FP8 PE's drain step, the read-outs) are stepped in the bench but not counted "
    "(the SAIF of a run stopped where counting starts is subtracted from one stopped where it ends; a dot-product "
    "top is one such window per dot product, its done step found by a first run). With one lane, rule 3's alias "
    "classes also use {prints} runs of the same build on random inputs (a copy agrees with its original on any "
    "input). gate_cycles_per_lane is GateSim's clock count behind the gate clock term: for bcast_matrix and "
    "fwht_butterfly reports/toggles.py does not reset it after the uncounted reset (and first) clock, so its clock "
    "term counts 1-2 cycles more than its toggles do; saif counts its counted cycles only. The dot tops' operand "
    "buffers are left out of both (gate: cells driving *_buf* nets; saif: *_buf* nets). Why they differ, "
    "systematically: the RTL names results, not gates: `a * b`, `acc + p`, an always block's `a + b` are one net "
    "or none, so multipliers' and adders' internals are invisible to SAIF (the 8x8 multiplier priced from its SAIF "
    "costs {mul8_saif:.3f} pJ against Horowitz's 0.2 pJ and the netlist's {mul8_gate:.3f}), while RTL that spells "
    "out its logic (Booth words, carry-save levels, control) is seen net by net, and one net-bit toggle is priced "
    "alike whatever drives it, where the netlist weighs each toggle by its cell's area. Aliases (ports, "
    "concatenations, copies, sign extensions) are counted once per distinct activity, flip-flops each "
    "(saif_toggles_per_mac); saif_toggles_bus_kept_per_mac never merges bits of one net, saif_raw_toggles_per_mac "
    "is every traced bit with inputs and aliases: the spread is the RTL count's own uncertainty. Both simulations' "
    "results are checked against exact arithmetic (or sim.fp8's FP8 dot products)."
)


def _skip(reason: str) -> list:
    import pandas as pd

    from reports.build import ReportSection

    return [ReportSection("Energy per MAC from SAIF vs gate-level toggles", "saif_energy.csv", pd.DataFrame(),
                          f"Not run: {reason}.")]


def _gate_engine(fn, units: int) -> dict:
    """Run a reports/toggles.py engine function (no arguments left), its figure and what it counted."""
    from reports import toggles

    t0 = time.monotonic()
    with toggles.record_pricing() as calls:
        pj = fn()
    wall = time.monotonic() - t0
    if not calls:
        raise RuntimeError("reports/toggles.py recorded no gate-level pricing: record_pricing needs updating")
    total = sum(c["energy"] for c in calls)
    if abs(total / units - pj) > 1e-9 * max(1.0, abs(pj)):
        raise RuntimeError(f"recorded gate energy {total / units} pJ per unit, reports/toggles.py returned {pj}")
    return {"pj": pj, "toggles": sum(c["toggles"] for c in calls) / units,
            "logic": sum(c["logic"] for c in calls) / units, "flop_q": sum(c["flop_q"] for c in calls) / units,
            "clock": sum(c["clock"] for c in calls) / units, "flop_bits": calls[0]["flop_bits"],
            "cycles": sum(c["cycles"] for c in calls), "wall": wall,
            "flop_toggles": sum(c["flop_toggles"] for c in calls), "cycles_per_call": [c["cycles"] for c in calls]}


def _fp8_fwht_operands(samples: int = 32, n: int = 16):
    """reports/sections/engine_costs.py's draws, in its order: the FWHT vectors, its INT8 MAC
    baseline's operands (drawn, unused here), then the FP8 codes of each format pair."""
    import numpy as np

    from sim.fp8 import encode

    rng = np.random.default_rng(0)
    x = np.clip(np.rint(rng.normal(0, 30, (samples, n))), -128, 127).astype(np.int64)
    for _ in range(2):
        rng.normal(0, 30, (samples, 48))
    fp8 = {}
    for fa, fb in (("e4m3", "e4m3"), ("e5m2", "e5m2")):
        a = encode(rng.normal(0, 1, (samples, 48)), fa).astype(np.int64)
        b = encode(rng.normal(0, 1, (samples, 48)), fb).astype(np.int64)
        fp8[(fa, fb)] = (a, b)
    return x, fp8


def engine_cases(groups=ENGINE_GROUPS, sizes=None, progress=None) -> list:
    """(data, units, saif activity thunk, gate-level pJ-per-unit thunk) per engine design, at
    ``sizes`` (default ENGINE_SIZES)."""
    from functools import partial

    from reports import toggles
    from reports.engine import GAUSSIAN, gaussian_int8
    from rtl_models import saif

    z = {**ENGINE_SIZES, **(sizes or {})}
    unknown = sorted(set(groups) - set(ENGINE_GROUPS))
    if unknown:
        raise ValueError(f"unknown engine groups {unknown}; known: {ENGINE_GROUPS}")
    out = []
    if "tree" in groups or "cube" in groups:
        for cube in (False, True):
            if ("cube" if cube else "tree") not in groups:
                continue
            k, n = (z["cube"], z["cube"]) if cube else z["tree"]
            rows = k if cube else 1
            a, b = gaussian_int8((z["cube_rows"] if cube else z["tree_rows"], k), (k, n))
            for pe in ("mult", "sbw", "csa"):
                out.append((GAUSSIAN, a.shape[0] * k * n,
                            partial(saif.tree_activity, pe, a, b, k, n, rows, GAUSSIAN, progress=progress),
                            partial(toggles.tree_toggle_energy, pe, a, b, k, n, progress=progress, rows=rows)))
    if "bcast" in groups:
        g = z["grid"]
        a, b = gaussian_int8((g, z["grid_k"]), (z["grid_k"], g))
        for pe in ("mac", "booth_csa"):
            out.append((GAUSSIAN, g * g * z["grid_k"],
                        partial(saif.bcast_activity, pe, a, b, GAUSSIAN, progress=progress),
                        partial(toggles.bcast_toggle_energy, pe, a, b, progress=progress)))
    if "ws" in groups:
        e, t = z["ws"], z["ws_t"]
        a, w = gaussian_int8((t, e), (e, e))
        for pe in ("mac", "booth_csa"):
            out.append((GAUSSIAN, t * e * e,
                        partial(saif.ws_array_activity, pe, a, w, z["ws_depth"], GAUSSIAN, progress=progress),
                        partial(toggles.ws_array_toggle_energy, pe, a, w, depth=z["ws_depth"], progress=progress)))
    if "fp8" in groups or "fwht" in groups:
        x, fp8 = _fp8_fwht_operands(max(z["fwht_b"], z["fp8_lanes"]), z["fwht_n"])
        x = x[:z["fwht_b"]]
        if "fp8" in groups:
            for (fa, fb), (a, b) in fp8.items():
                a, b = a[:z["fp8_lanes"], :z["fp8_k"]], b[:z["fp8_lanes"], :z["fp8_k"]]
                data = f"N(0, 1) as {fa} x {fb}"
                out.append((data, a.size, partial(saif.fp8_pe_activity, a, b, fa, fb, data, progress=progress),
                            partial(toggles.fp8_pe_toggle_energy, a, b, fa, fb, progress=progress)))
        if "fwht" in groups:
            out.append((GAUSSIAN, x.shape[0], partial(saif.fwht_activity, x, GAUSSIAN, progress=progress),
                        partial(toggles.fwht_toggle_energy, x, progress=progress)))
    if "dot" in groups:
        from reports.sections.bitserial_compare import _operands, _pe_rows

        k = z["dot_k"]
        ea, ew = _operands(8, z["dots"], 1)  # the bit-serial table's energy operands (its seed + 1)
        a, w = ea[:, :k], ew[:, :k]
        depth = max(16, 1 << (k - 1).bit_length())
        for pe in _pe_rows(8):
            params = {**pe.dot_params, "DEPTH": depth}
            out.append((GAUSSIAN, a.size,
                        partial(saif.dot_top_activity, pe.dot_top, params, a, w, pe.b_port, data=GAUSSIAN,
                                progress=progress),
                        partial(toggles.dot_top_toggle_energy, pe.dot_top, params, a, w, b_port=pe.b_port,
                                progress=progress)))
    return out


def _row(act, e, gate: dict, saif_s: float) -> dict:
    c = act.count
    return {
        "pe": act.pe, "data": act.data, "unit": getattr(act, "unit", "MAC"), "lanes": act.lanes, "macs": act.macs,
        "gate_pj_per_mac": gate["pj"], "saif_pj_per_mac": e.pj_per_mac, "saif_vs_gate": e.pj_per_mac / gate["pj"],
        "gate_toggles_per_mac": gate["toggles"], "saif_toggles_per_mac": e.toggles_per_mac,
        "saif_toggles_bus_kept_per_mac": c.toggles_bus_bits_kept / act.macs,
        "saif_raw_toggles_per_mac": c.raw_toggles / act.macs,
        "saif_vs_gate_toggles": e.toggles_per_mac / gate["toggles"],
        "gate_logic_pj_per_mac": gate["logic"], "saif_logic_pj_per_mac": e.logic_pj_per_mac,
        "gate_flop_q_pj_per_mac": gate["flop_q"], "saif_register_q_pj_per_mac": e.register_q_pj_per_mac,
        "gate_clock_pj_per_mac": gate["clock"], "saif_clock_pj_per_mac": e.clock_pj_per_mac,
        "gate_flop_bits": gate["flop_bits"], "rtl_register_bits": c.register_bits,
        "gate_cycles_per_lane": gate["cycles"], "saif_cycles_per_lane": act.lane_cycles // act.lanes,
        "saif_traced_bits": c.traced_bits, "saif_active_signals": c.active_signals,
        "saif_excluded_bits": c.excluded_bits,
        "gate_wall_s": gate["wall"], "saif_wall_s": saif_s,
        "saif_sim_s": act.run.sim_s, "saif_parse_s": act.run.parse_s, "saif_file_mb": act.run.saif_bytes / 1e6,
    }


_INDEX = re.compile(r"\[\d+\]")


def saif_tables(lanes: int = 64, k: int = 64, seed: int = 0, pes=("mac", "booth_csa"), datasets=None,
                engines=ENGINE_GROUPS, engine_sizes=None, progress=print):
    """(per design x data set, per design x data set x instance, calibration) DataFrames: SAIF and
    gate-level energy and toggles per MAC (per transform for fwht_butterfly), their ratio and the
    wall time of each estimate. ``pes`` x ``datasets``: the PE rows (``lanes`` x ``k`` MACs);
    ``engines``: which of ENGINE_GROUPS follow (() for none), at ``engine_sizes`` (ENGINE_SIZES)."""
    import pandas as pd

    from reports import tech
    from reports.toggles import PE_TOPS, calibration, operand_streams, pe_toggle_energy
    from rtl_models import saif

    gate_cal = calibration(progress)
    if progress:
        progress("saif: calibrating on the 32-bit adder and the 8x8 multiplier (256 lanes x 64 random operands)")
    t0 = time.monotonic()
    cal = saif.calibration(tech.energy_pj("int32_add"), tech.energy_pj("register_write_per_bit"))
    cal_s = time.monotonic() - t0
    streams = operand_streams(lanes, k, seed) if pes else {}
    if datasets is not None:
        unknown = sorted(set(datasets) - set(streams))
        if unknown:
            raise ValueError(f"unknown data sets {unknown}; known: {sorted(streams)}")
        streams = {d: streams[d] for d in datasets}
    rows, inst_rows = [], []

    def add(act, gate, saif_s):
        e = saif.saif_energy(act, cal)
        rows.append(_row(act, e, gate, saif_s))
        c = act.count
        grouped: dict[str, int] = {}
        for inst, n in c.by_instance.items():  # instances of a generate loop summed: g_lane[*]/u_pe
            name = _INDEX.sub("[*]", inst) or "(the top)"
            grouped[name] = grouped.get(name, 0) + n
        for inst, n in sorted(grouped.items()):
            inst_rows.append({"pe": act.pe, "data": act.data, "instance": inst,
                              "saif_toggles_per_mac": n / act.macs,
                              "share_of_saif_toggles": n / c.toggles if c.toggles else 0.0,
                              "saif_pj_per_mac": n * cal.energy_per_bit_toggle_pj / act.macs})

    for data, (a, b) in streams.items():
        for pe in pes:
            top = PE_TOPS[pe]
            if progress:
                progress(f"saif: {top} on {data} ({a.shape[0]} lanes x {a.shape[1]} MACs), Verilator and gate level")
            t0 = time.monotonic()
            act = saif.pe_activity(pe, a, b, data, progress=progress)
            saif_s = time.monotonic() - t0
            t0 = time.monotonic()
            g = pe_toggle_energy(pe, a, b, data, progress=progress)
            gate = {"pj": g.pj_per_mac, "toggles": g.toggles_per_mac, "logic": g.comb_pj_per_mac,
                    "flop_q": g.flop_data_pj_per_mac, "clock": g.flop_clock_pj_per_mac,
                    "flop_bits": round(g.flop_clock_pj_per_mac / gate_cal.flop_clock_pj), "cycles": g.cycles,
                    "wall": time.monotonic() - t0}
            add(act, gate, saif_s)
    for data, units, run_saif, run_gate in (engine_cases(engines, engine_sizes, progress) if engines else []):
        t0 = time.monotonic()
        act = run_saif()
        saif_s = time.monotonic() - t0
        if progress:
            progress(f"saif: {act.pe} on {data}: {saif_s:.1f} s; gate level")
        if act.macs != units:
            raise RuntimeError(f"{act.pe}: SAIF counted {act.macs} units, the gate level divides by {units}")
        add(act, _gate_engine(run_gate, units), saif_s)
    df = pd.DataFrame(rows)
    cal_df = pd.DataFrame([{
        "saif_energy_per_bit_toggle_pj": cal.energy_per_bit_toggle_pj,
        "add32_saif_toggles": cal.add32_toggles, "add32_pj": cal.add32_pj,
        "mul8_saif_toggles": cal.mul8_toggles, "mul8_saif_predicted_pj": cal.mul8_predicted_pj,
        "mul8_gate_predicted_pj": gate_cal.mul8_predicted_pj, "mul8_horowitz_pj": tech.energy_pj("int8_mult"),
        "flop_clock_pj": cal.flop_clock_pj, "saif_calibration_wall_s": cal_s,
    }])
    return df, pd.DataFrame(inst_rows), cal_df


def report_sections(progress=print, quick: bool = False) -> list:
    from reports.build import ReportSection
    from rtl_models import saif

    reason = saif.saif_missing()
    if reason:
        return _skip(reason)
    progress("report: energy per MAC from SAIF (Verilator) beside gate-level toggles")
    lanes, k = (8, 16) if quick else (64, 64)
    kw = {"pes": ("mac",), "datasets": ("uniform int8",), "engines": ()} if quick else {}
    df, inst, cal = saif_tables(lanes, k, progress=progress, **kw)
    version = saif.verilator_version()
    sizes = ("none (quick)" if quick else
             ", ".join(f"{key} {val[0]}x{val[1]}" if isinstance(val, tuple) else f"{key} {val}"
                       for key, val in ENGINE_SIZES.items()))
    note = NOTE.format(lanes=lanes, k=k, verilator=f"{version[0]}.{version[1]:03d}" if version else "?",
                       sizes=sizes, prints=saif.SINGLE_LANE_PRINTS,
                       mul8_saif=cal.mul8_saif_predicted_pj.iloc[0], mul8_gate=cal.mul8_gate_predicted_pj.iloc[0])
    inst_note = ("Where the SAIF toggles are, by module instance below the design (generate blocks merged into "
                 "their instance, the instances of a generate loop summed: g_lane[*]/u_pe; a signal is attributed to "
                 "the instance that computes it: a register's own, else the deepest scope naming it). The gate-level "
                 "netlist is flattened and renamed by abc, so it has no such split.")
    cal_note = ("The SAIF estimate's one constant: the 32-bit adder's output bits toggle ~16 times per random add "
                "(its inputs are not counted, as in the netlist), so one net-bit toggle is 0.1 pJ / that. The same "
                "constant prices the 8x8 multiplier's 16 output bits: SAIF, blind to the partial products, "
                "predicts a fraction of Horowitz's 0.2 pJ, where the gate-level netlist lands near it.")
    return [ReportSection("Energy per MAC from SAIF vs gate-level toggles", "saif_energy.csv", df, note),
            ReportSection("SAIF toggles by module instance", "saif_instances.csv", inst, inst_note),
            ReportSection("SAIF calibration", "saif_calibration.csv", cal, cal_note)]
