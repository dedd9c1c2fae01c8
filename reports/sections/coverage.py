"""RTL coverage per Verilog module (line and toggle, Verilator), from the last ``make coverage``.

The coverage run rebuilds every Verilator configuration the tests use with coverage on and runs
the RTL tests again (rtl_models/coverage.py), far longer than the report, so the report shows the
last run's table (rtl_models/build/coverage/modules.csv) and says when there is none.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ORDER = 90
COVERAGE_DIR = Path(__file__).resolve().parents[2] / "rtl_models" / "build" / "coverage"
COLUMNS = ["module", "file", "bench", "lines_hit", "lines", "line_pct", "toggles_hit", "toggles", "toggle_pct"]


def coverage_table(folder: Path = COVERAGE_DIR) -> tuple[pd.DataFrame, str]:
    """(the per-module table, a note saying where it came from)."""
    modules = folder / "modules.csv"
    if not modules.exists():
        return pd.DataFrame(columns=COLUMNS), ("No coverage run yet: `make coverage` runs the RTL tests on Verilator "
                                               "with line and toggle coverage and writes this table.")
    table = pd.read_csv(modules)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{modules} lacks the columns {missing}; run `make coverage` again")
    html = folder / "html" / "index.html"
    note = (f"From `make coverage` ({modules}): per module, line points (statement blocks and branch arms) and "
            "toggle points (every bit, both directions) the Verilator tests reached, merged over tests and "
            "instances; `bench` marks the bench-side hosts (test code). Uncovered lines: "
            f"{folder / 'uncovered.csv'}" + (f"; annotated sources: {html}." if html.exists() else "."))
    return table[COLUMNS], note


def report_sections(progress=print, quick: bool = False) -> list:
    from reports.build import ReportSection

    progress("report: RTL coverage (last make coverage)")
    table, note = coverage_table()
    return [ReportSection("RTL coverage per module (Verilator, line and toggle)", "rtl_coverage.csv", table, note)]
