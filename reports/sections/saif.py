"""The report's SAIF section: energy per MAC of the PEs from Verilator's switching activity (SAIF,
rtl_models/saif.py) beside the gate-level toggle estimate (reports/toggles.py), on the same operand
streams, with the same calibration anchor (Horowitz's 32-bit add, 0.1 pJ) and the same flip-flop
clock energy."""

from __future__ import annotations

import time

ORDER = 71  # right after the gate-level toggle sections (70)

NOTE = (
    "Two activity sources on the same operand streams (reports/toggles.py's operand_streams: {lanes} lanes of "
    "{k} MACs per data set, each lane an independent PE from zero state). gate: the PE's yosys netlist simulated "
    "gate by gate (rtl_models/gatesim.py), every cell-output toggle x its cell area x a constant. saif: the RTL "
    "simulated on Verilator {verilator} with --trace-saif (rtl_models/saif.py: a generated bench, operands from "
    "memory images, one DUT per lane), every counted net-bit toggle x one energy per bit toggle. Both constants "
    "are calibrated so the 32-bit adder on the same random operands costs Horowitz's 0.1 pJ, and both add the "
    "DFF_X1 clock energy per register bit per cycle (gate: yosys's flip-flops; saif: bits of nets assigned with "
    "<= in the RTL). Neither counts glitches (zero-delay, one sample per settled step) or the PE's input ports. "
    "Why they differ, systematically: the RTL names results, not gates: `a * b` and `acc + p` are one net each, "
    "so the MAC PE's multiplier and adder internals are invisible to SAIF (the 8x8 multiplier priced from its "
    "SAIF costs {mul8_saif:.3f} pJ against Horowitz's 0.2 pJ and the netlist's {mul8_gate:.3f}), while the "
    "carry-save PE's RTL spells out Booth words and every full-adder level, so SAIF sees most of its logic; and "
    "one net-bit toggle is priced alike whatever drives it, where the netlist weighs each toggle by its cell's "
    "area. Aliases (ports, concatenations, copies, sign extensions) are counted once per distinct activity, "
    "flip-flops each (saif_toggles_per_mac); saif_toggles_bus_kept_per_mac never merges bits of one net, and "
    "saif_raw_toggles_per_mac is every traced bit with inputs and aliases: the spread is the RTL count's own "
    "uncertainty. The netlist's accumulated results and Verilator's are both checked against exact dot products."
)


def _skip(reason: str) -> list:
    import pandas as pd

    from reports.build import ReportSection

    return [ReportSection("Energy per MAC from SAIF vs gate-level toggles", "saif_energy.csv", pd.DataFrame(),
                          f"Not run: {reason}.")]


def saif_tables(lanes: int = 64, k: int = 64, seed: int = 0, pes=("mac", "booth_csa"), datasets=None,
                progress=print):
    """(per PE x data set, per PE x data set x instance, calibration) DataFrames: SAIF and gate-level
    energy and toggles per MAC, their ratio and the wall time of each estimate."""
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
    streams = operand_streams(lanes, k, seed)
    if datasets is not None:
        unknown = sorted(set(datasets) - set(streams))
        if unknown:
            raise ValueError(f"unknown data sets {unknown}; known: {sorted(streams)}")
        streams = {d: streams[d] for d in datasets}
    rows, inst_rows = [], []
    for data, (a, b) in streams.items():
        for pe in pes:
            top = PE_TOPS[pe]
            if progress:
                progress(f"saif: {top} on {data} ({a.shape[0]} lanes x {a.shape[1]} MACs), Verilator and gate level")
            t0 = time.monotonic()
            act = saif.pe_activity(pe, a, b, data, progress=progress)
            e = saif.saif_energy(act, cal)
            saif_s = time.monotonic() - t0
            t0 = time.monotonic()
            g = pe_toggle_energy(pe, a, b, data, progress=progress)
            gate_s = time.monotonic() - t0
            c = act.count
            rows.append({
                "pe": top, "data": data, "lanes": act.lanes, "macs": act.macs,
                "gate_pj_per_mac": g.pj_per_mac, "saif_pj_per_mac": e.pj_per_mac,
                "saif_vs_gate": e.pj_per_mac / g.pj_per_mac,
                "gate_toggles_per_mac": g.toggles_per_mac, "saif_toggles_per_mac": e.toggles_per_mac,
                "saif_toggles_bus_kept_per_mac": c.toggles_bus_bits_kept / act.macs,
                "saif_raw_toggles_per_mac": c.raw_toggles / act.macs,
                "saif_vs_gate_toggles": e.toggles_per_mac / g.toggles_per_mac,
                "gate_logic_pj_per_mac": g.comb_pj_per_mac, "saif_logic_pj_per_mac": e.logic_pj_per_mac,
                "gate_flop_q_pj_per_mac": g.flop_data_pj_per_mac, "saif_register_q_pj_per_mac": e.register_q_pj_per_mac,
                "gate_clock_pj_per_mac": g.flop_clock_pj_per_mac, "saif_clock_pj_per_mac": e.clock_pj_per_mac,
                "gate_flop_bits": round(g.flop_clock_pj_per_mac / gate_cal.flop_clock_pj),
                "rtl_register_bits": c.register_bits,
                "saif_traced_bits": c.traced_bits, "saif_active_signals": c.active_signals,
                "gate_wall_s": gate_s, "saif_wall_s": saif_s,
                "saif_sim_s": act.run.sim_s, "saif_parse_s": act.run.parse_s, "saif_file_mb": act.run.saif_bytes / 1e6,
            })
            for inst, n in sorted(c.by_instance.items()):
                inst_rows.append({"pe": top, "data": data, "instance": inst or "(the PE)",
                                  "saif_toggles_per_mac": n / act.macs,
                                  "share_of_saif_toggles": n / c.toggles if c.toggles else 0.0,
                                  "saif_pj_per_mac": n * cal.energy_per_bit_toggle_pj / act.macs})
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
    kw = {"pes": ("mac",), "datasets": ("uniform int8",)} if quick else {}
    df, inst, cal = saif_tables(lanes, k, progress=progress, **kw)
    version = saif.verilator_version()
    note = NOTE.format(lanes=lanes, k=k, verilator=f"{version[0]}.{version[1]:03d}" if version else "?",
                       mul8_saif=cal.mul8_saif_predicted_pj.iloc[0], mul8_gate=cal.mul8_gate_predicted_pj.iloc[0])
    inst_note = ("Where the SAIF toggles are, by module instance below the PE (generate blocks merged into their "
                 "instance; a signal is attributed to the instance that computes it: a register's own, else the "
                 "deepest scope naming it). The gate-level netlist is flattened and renamed by abc, so it has no "
                 "such split.")
    cal_note = ("The SAIF estimate's one constant: the 32-bit adder's output bits toggle ~16 times per random add "
                "(its inputs are not counted, as in the netlist), so one net-bit toggle is 0.1 pJ / that. The same "
                "constant prices the 8x8 multiplier's 16 output bits: SAIF, blind to the partial products, "
                "predicts a fraction of Horowitz's 0.2 pJ, where the gate-level netlist lands near it.")
    return [ReportSection("Energy per MAC from SAIF vs gate-level toggles", "saif_energy.csv", df, note),
            ReportSection("SAIF toggles by module instance", "saif_instances.csv", inst, inst_note),
            ReportSection("SAIF calibration", "saif_calibration.csv", cal, cal_note)]
