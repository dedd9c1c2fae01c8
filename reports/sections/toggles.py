"""The report's toggle-energy sections: energy per MAC of the PEs from gate-level toggles of their
synthesised netlists (reports/toggles.py), and the calibration behind it."""

from __future__ import annotations

ORDER = 70  # its place in the report: reports/sections/ runs its modules by ORDER


def report_sections(progress=print, quick: bool = False) -> list:
    from reports.build import ReportSection
    from reports.toggles import toggle_energy_table

    progress("report: energy per MAC from gate-level toggles")
    df, cal = toggle_energy_table(**({"lanes": 4, "k": 8} if quick else {}), progress=progress)
    note = ("Second energy estimate (reports/toggles.py): each PE's synthesised netlist simulated gate by gate "
            "(zero delay, no glitches) on 64 streams of 64 MACs, every output toggle charged its cell's area x "
            "an energy per um^2 toggled, every flip-flop bit the DFF_X1 clock energy per cycle. The netlist's "
            "accumulated results are checked against exact dot products. Calibration (next table): a 32-bit "
            "adder on random operands costs Horowitz's 0.1 pJ; the same constant predicts the 8x8 multiplier.")
    cal_note = ("The one free constant of the toggle estimate and its check: mul8_predicted_pj is the synthesised "
                "8x8 signed multiplier on uniform random operands priced with the adder-calibrated constant, "
                "beside Horowitz's 0.2 pJ.")
    return [ReportSection("Energy per MAC from toggles (PE level)", "toggle_energy.csv", df, note),
            ReportSection("Toggle-energy calibration", "toggle_calibration.csv", cal, cal_note)]
