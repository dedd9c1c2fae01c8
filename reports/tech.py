"""Technology tables: energy per operation and area/delay per synthesised cell, each with its source.

The numbers live in CSV files in reports/tables/ (see reports/tables/README.md); this module only
loads and looks them up. A lookup of something the tables do not hold raises
MissingTechnologyEntry naming the entry and the file to extend: a missing cost is never zero.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources

# Energy tables, all 45 nm; keys must be unique across the files.
ENERGY_TABLE_FILES = ("horowitz_45nm.csv", "shiftaddllm_45nm.csv", "register_write_45nm.csv")
CELL_TABLE_FILE = "yosys_generic_cell_area.csv"
NANGATE_TABLE_FILE = "nangate45_cells.csv"


class MissingTechnologyEntry(LookupError):
    """A cost was asked for that no table holds."""


@dataclass(frozen=True)
class EnergyEntry:
    key: str
    operation: str
    bits: int | None
    energy_pj: float
    source: str
    note: str
    table: str


@dataclass(frozen=True)
class CellEntry:
    """One yosys internal cell type after `synth`, costed as NanGate FreePDK45 X1 cells.

    For a combinational cell, delay_ps is its propagation delay; for a flip-flop type it is the
    delay of the enable/reset gating in front of the DFF's D pin (the flip-flop's own clock-to-Q
    and setup are in flop_timing()).
    """

    yosys_cell: str
    kind: str  # "comb" or "seq"
    area_um2: float
    delay_ps: float
    basis: str  # "datum" (one library cell) or "equivalence" (a composition of library cells)
    source_cells: tuple[str, ...]
    function: str
    note: str
    source: str


@dataclass(frozen=True)
class NangateCell:
    cell: str
    area_um2: float
    delay_ps: float
    setup_ps: float | None
    timing_arc: str
    source: str


@dataclass(frozen=True)
class FlopTiming:
    clk_to_q_ps: float
    setup_ps: float
    source: str


def read_table(name: str) -> list[dict[str, str]]:
    """The rows of reports/tables/NAME (a CSV); every row must name its source (ValueError with the
    file and line otherwise). Shared by the technology, SRAM and memory tables."""
    text = resources.files("reports").joinpath("tables", name).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    for i, row in enumerate(rows, start=2):
        if not (row.get("source") or "").strip():
            raise ValueError(f"reports/tables/{name}, line {i}: row has no source")
    return rows


def _float(name: str, row: dict[str, str], column: str) -> float:
    try:
        return float(row[column])
    except (KeyError, ValueError) as e:
        raise ValueError(f"reports/tables/{name}: column {column!r} of row {row} is not a number") from e


@functools.cache
def energy_table() -> dict[str, EnergyEntry]:
    """All energy entries, keyed by `key`, from every energy CSV."""
    table: dict[str, EnergyEntry] = {}
    for name in ENERGY_TABLE_FILES:
        for row in read_table(name):
            key = row["key"]
            if key in table:
                raise ValueError(f"energy key {key!r} is defined in both {table[key].table} and {name}")
            table[key] = EnergyEntry(
                key=key,
                operation=row["operation"],
                bits=int(row["bits"]) if row["bits"].strip() else None,
                energy_pj=_float(name, row, "energy_pj"),
                source=row["source"],
                note=row.get("note", ""),
                table=name,
            )
    return table


def energy_entry(key: str) -> EnergyEntry:
    try:
        return energy_table()[key]
    except KeyError:
        raise MissingTechnologyEntry(
            f"no energy entry {key!r} in reports/tables ({', '.join(ENERGY_TABLE_FILES)}); "
            f"add a row with its energy_pj and source"
        ) from None


def energy_pj(key: str) -> float:
    """Energy of one operation `key` in pJ (e.g. 'int8_mult')."""
    return energy_entry(key).energy_pj


@functools.cache
def nangate_cells() -> dict[str, NangateCell]:
    cells = {}
    for row in read_table(NANGATE_TABLE_FILE):
        cells[row["cell"]] = NangateCell(
            cell=row["cell"],
            area_um2=_float(NANGATE_TABLE_FILE, row, "area_um2"),
            delay_ps=_float(NANGATE_TABLE_FILE, row, "delay_ps"),
            setup_ps=_float(NANGATE_TABLE_FILE, row, "setup_ps") if row["setup_ps"].strip() else None,
            timing_arc=row["timing_arc"],
            source=row["source"],
        )
    return cells


@functools.cache
def cell_table() -> dict[str, CellEntry]:
    """yosys internal cell type -> its area and delay as NanGate X1 cells."""
    table = {}
    for row in read_table(CELL_TABLE_FILE):
        kind = row["kind"]
        if kind not in ("comb", "seq"):
            raise ValueError(f"reports/tables/{CELL_TABLE_FILE}: kind {kind!r} of {row['yosys_cell']} is not comb/seq")
        table[row["yosys_cell"]] = CellEntry(
            yosys_cell=row["yosys_cell"],
            kind=kind,
            area_um2=_float(CELL_TABLE_FILE, row, "area_um2"),
            delay_ps=_float(CELL_TABLE_FILE, row, "delay_ps"),
            basis=row["basis"],
            source_cells=tuple(row["source_cells"].split("+")),
            function=row["function"],
            note=row["note"],
            source=row["source"],
        )
    return table


def cell_entry(cell_type: str) -> CellEntry:
    try:
        return cell_table()[cell_type]
    except KeyError:
        raise MissingTechnologyEntry(
            f"yosys cell type {cell_type!r} is not in reports/tables/{CELL_TABLE_FILE}: extend the table "
            f"with its area_um2 and delay_ps as NanGate FreePDK45 cells and name the source cells"
        ) from None


def cell_area_um2(cell_type: str) -> float:
    return cell_entry(cell_type).area_um2


def cell_delay_ps(cell_type: str) -> float:
    return cell_entry(cell_type).delay_ps


@functools.cache
def flop_timing() -> FlopTiming:
    """Clock-to-Q and setup of the flip-flop every sequential cell type is built from (DFF_X1)."""
    dff = nangate_cells()["DFF_X1"]
    assert dff.setup_ps is not None, "DFF_X1 row needs setup_ps"
    return FlopTiming(clk_to_q_ps=dff.delay_ps, setup_ps=dff.setup_ps, source=f"DFF_X1: {dff.timing_arc}; {dff.source}")


def technology_rows() -> list[dict[str, object]]:
    """Every technology number with its unit and source, for the report's technology table."""
    rows: list[dict[str, object]] = []
    for e in energy_table().values():
        rows.append({"table": e.table, "item": e.key, "what": e.operation, "value": e.energy_pj,
                     "unit": "pJ" + (f" per {e.bits} bit" if e.bits else ""), "source": e.source, "note": e.note})
    for c in nangate_cells().values():
        rows.append({"table": NANGATE_TABLE_FILE, "item": c.cell, "what": "cell area", "value": c.area_um2,
                     "unit": "um^2", "source": c.source, "note": ""})
        rows.append({"table": NANGATE_TABLE_FILE, "item": c.cell, "what": "delay", "value": c.delay_ps,
                     "unit": "ps", "source": c.source, "note": c.timing_arc})
        if c.setup_ps is not None:
            rows.append({"table": NANGATE_TABLE_FILE, "item": c.cell, "what": "setup time", "value": c.setup_ps,
                         "unit": "ps", "source": c.source, "note": ""})
    for y in cell_table().values():
        rows.append({"table": CELL_TABLE_FILE, "item": y.yosys_cell, "what": f"{y.function} ({y.basis})",
                     "value": y.area_um2, "unit": "um^2", "source": f"{'+'.join(y.source_cells)}: {y.source}",
                     "note": y.note})
    return rows
