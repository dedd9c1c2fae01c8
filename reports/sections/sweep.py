"""Design-space sweep and its Pareto fronts, read from the results database.

The space is reports/spaces/report.toml (``--quick``: reports/spaces/quick.toml): engines x array
sizes x weight widths x buffer sizes x DRAM bandwidth on whole networks, priced by
reports/dse/ (the memory model, each engine's event energies, synthesised or fitted area and
clock) on a local Dask cluster and stored in the results database ($BITWEIGHT_DB or
./bitweight-results.sqlite). A second report build finds every point stored and prices nothing;
``bitweight results --sweep report`` queries the same rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

SPACES = Path(__file__).resolve().parents[1] / "spaces"

ORDER = 100  # its place in the report: reports/sections/ runs its modules by ORDER


def area_model_table(models: list) -> pd.DataFrame:
    rows = []
    for m in models:
        for e in m["loo"] or [{}]:
            rows.append({"group": m["group"], "quantity": m["quantity"], "model": m["model"],
                         "synthesised": ", ".join(f"{r}x{c}" for r, c in m["synthesised"]),
                         "held_out": f"{e['rows']}x{e['cols']}" if e else "",
                         "value": e.get("value"), "predicted": e.get("predicted"),
                         "rel_error_pct": 100 * e["rel_error"] if e else None})
    return pd.DataFrame(rows)


def report_sections(progress=print, quick: bool = False) -> list:
    from reports.build import ReportSection
    from reports.dse import results, space, store, sweep

    sp = space.load(SPACES / ("quick.toml" if quick else "report.toml"))
    db = store.default_path()
    progress(f"report: design-space sweep {sp.name} ({SPACES.name}/{Path(sp.source).name}) into {db}")
    summary = sweep.run(sp, db=db, progress=sys.stderr.isatty(), log=progress)
    progress(sweep.describe(summary))
    df = results.load(db, sweep=sp.name)
    objectives = df.attrs["objectives"]
    keep = ["network", "engine", "rows", "cols", "a_bits", "w_bits", "ifmap_kb", "filter_kb", "ofmap_kb", "bandwidth",
            "dram_latency", "mapping", "area_mm2", "array_area_mm2", "area_source", "clock_mhz", "cycles",
            "stall_cycles", "memory_bound_layers", "latency_us", "energy_uj", "energy_array_uj", "energy_buffers_uj",
            "energy_dram_uj", "power_w", "edp_uj_us", "gops_per_mm2", "gops_per_w", "error", "feasible", "pareto"]
    table = df[keep].sort_values(["network", "pareto", objectives[0]], ascending=[True, False, True])
    front = df[df.pareto]
    best = "; ".join(f"{net}: {len(sub)} front points, lowest energy {sub.energy_uj.min():.4g} uJ "
                     f"({sub.loc[sub.energy_uj.idxmin(), 'engine']} {sub.loc[sub.energy_uj.idxmin(), 'rows']}x"
                     f"{sub.loc[sub.energy_uj.idxmin(), 'cols']})" for net, sub in front.groupby("network"))
    note = (f"{len(df)} design points of {sp.source.split('/')[-1]} ({summary.computed} priced in this build, "
            f"{summary.stored_before} read from {db}): whole networks through the memory model under SCALE-Sim's "
            "mapping, energy per inference = the engine's events + buffer fills + DRAM; area = array (synthesised at "
            f"{', '.join(f'{s}x{s}' for s in sp.synthesise) if sp.synthesise != 'all' else 'every size'}, else the "
            f"fitted model: area_source) + SRAM buffers. Constraints: {'; '.join(df.attrs['constraints']) or 'none'}; "
            f"pareto = on its network's front of {' and '.join(objectives)} (both minimised). {best}.")
    sections = [ReportSection("Design-space sweep and Pareto fronts", "design_sweep.csv", table, note,
                              figure=results.figure(df),
                              figure_caption=f"{objectives[1]} against {objectives[0]} of every feasible point, one "
                              "panel per network; the dashed line joins the Pareto front.")]
    models = area_model_table(summary.area_models)
    if not models.empty:
        sections.append(ReportSection(
            "Area and clock model of the sweep: leave-one-out error", "sweep_area_model.csv", models,
            "Sizes not synthesised take area and clock from a least-squares model fitted on the synthesised sizes "
            "of the same engine and widths (reports/dse/areamodel.py). Each synthesised size is predicted by the model "
            "fitted on the others: rel_error_pct is that prediction's error, an estimate of the error at the sizes "
            "that were fitted, not synthesised."))
    return sections
