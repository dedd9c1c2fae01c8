"""A design space declared in a TOML file, checked before any work starts.

    name = "bert-int8-arrays"           # the sweep's name in the results database
    networks = ["bert_base_128"]        # sim/networks.py names, or SCALE-Sim topology CSVs (path
                                        # relative to this file)
    dram_energy = "horowitz_low"        # reports/memory.py DRAM_SOURCES

    [space]                             # every combination is one design point per network
    engine = ["os", "ws", "os_csa"]     # registered engines with a sizing (`bitweight engines`)
    family = ["tree"]                   # and/or every sized engine of these families
    rows = [8, 16, 32]
    cols = [8, 16, 32]                  # omit for square arrays (cols = rows)
    a_bits = [8]                        # operand widths; an engine with fixed widths keeps its own
    w_bits = [8, 4, 2]
    ifmap_kb = [32, 64]                 # buffer capacities, kB (1024 bytes), double buffered
    filter_kb = [32, 64]
    ofmap_kb = [32, 64]
    bandwidth = [8, 16]                 # DRAM bytes per cycle
    dram_latency = [100]                # DRAM read latency, cycles
    mapping = ["scalesim"]              # scalesim (SCALE-Sim's fold order; fast) or the best
                                        # mapping for latency, dram or edp (slower)

    [area]
    synthesise = [4, 8]                 # array sizes (rows = cols) synthesised per engine; others
                                        # come from the fitted model. "all": synthesise every size

    [objectives]
    pareto = ["energy_uj", "latency_us"]   # two or three of OBJECTIVES

    [constraints]                       # "<= X" or ">= X" on any objective
    area_mm2 = "<= 4"
    power_w = "<= 2"

Scalars stand for one-element lists. Every error names the file, the table and the key.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# objective -> (unit, larger is better)
OBJECTIVES = {"area_mm2": ("mm^2", False), "energy_uj": ("uJ per inference", False),
              "latency_us": ("us per inference", False), "edp_uj_us": ("uJ x us", False),
              "power_w": ("W", False), "gops_per_mm2": ("GOPS / mm^2", True), "gops_per_w": ("GOPS / W", True)}
MAPPINGS = ("scalesim", "latency", "dram", "edp")
AXES = ("engine", "family", "rows", "cols", "a_bits", "w_bits", "ifmap_kb", "filter_kb", "ofmap_kb", "bandwidth",
        "dram_latency", "mapping")
DEFAULTS = {"a_bits": [8], "w_bits": [8], "ifmap_kb": [64], "filter_kb": [64], "ofmap_kb": [64],
            "bandwidth": [16], "dram_latency": [100], "mapping": ["scalesim"]}
TOP_KEYS = ("name", "networks", "dram_energy", "space", "area", "objectives", "constraints")
_OPS = {"<=": operator.le, ">=": operator.ge}


class SpaceError(ValueError):
    """A space file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Constraint:
    objective: str
    op: str
    bound: float

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.bound)

    def sql(self) -> str:
        return f"{self.objective} {self.op} {self.bound!r}"

    def __str__(self) -> str:
        return f"{self.objective} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Space:
    name: str
    networks: tuple[str, ...]
    axes: dict  # axis -> tuple of values
    dram_energy: str = "horowitz_low"
    synthesise: tuple[int, ...] | str = (4, 8)
    pareto: tuple[str, ...] = ("energy_uj", "latency_us")
    constraints: tuple[Constraint, ...] = ()
    source: str = "<space>"
    square: bool = False
    topologies: dict = field(default_factory=dict)  # network name -> CSV path, for the file's own networks
    dropped: dict = field(default_factory=dict)  # reason -> how many combinations were not design points

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["constraints"] = [str(c) for c in self.constraints]
        return d


def _err(source: str, where: str, message: str) -> SpaceError:
    return SpaceError(f"{source}: {where}: {message}")


def _list(source: str, where: str, value, kind: type, check=None, what: str = "") -> tuple:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise _err(source, where, "is empty; give at least one value")
    for v in values:
        ok = isinstance(v, kind) and not isinstance(v, bool)
        if kind is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or (check is not None and not check(v)):
            raise _err(source, where, f"must be {what}, got {v!r}")
    if len(set(values)) != len(values):
        raise _err(source, where, f"repeats a value: {values!r}")
    return tuple(values)


def parse(text: str, source: str = "<space>", base: Path | None = None) -> Space:
    """A :class:`Space` from TOML ``text`` (``source`` names it in errors; ``base`` is the folder
    topology CSV paths are relative to)."""
    from reports import memory as memcost
    from reports.registry import engines
    from sim.networks import NETWORKS
    from sim.topology import read_topology

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(f"{source}: not valid TOML ({exc})") from None
    for key in doc:
        if key not in TOP_KEYS:
            raise _err(source, "top level", f"unknown key {key!r} (known: {', '.join(TOP_KEYS)})")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _err(source, "name", "must be a non-empty string (the sweep's name in the database)")
    networks = _list(source, "networks", doc.get("networks", []), str, what="a network name or a topology .csv")
    topologies = {}
    for net in networks:
        if net.endswith(".csv"):
            path = (base or Path.cwd()) / net
            if not path.exists():
                raise _err(source, "networks", f"topology file {path} does not exist")
            try:  # read it now: a bad file fails here, named, not later on a Dask worker
                read_topology(path)
            except (ValueError, OSError) as exc:
                raise _err(source, "networks", str(exc)) from None
            topologies[net] = str(path.resolve())
        elif net not in NETWORKS:
            raise _err(source, "networks", f"unknown network {net!r} (known: {', '.join(NETWORKS)}, or a .csv)")
    dram_energy = doc.get("dram_energy", "horowitz_low")
    if dram_energy not in memcost.DRAM_SOURCES:
        raise _err(source, "dram_energy", f"must be one of {', '.join(memcost.DRAM_SOURCES)}, got {dram_energy!r}")

    table = doc.get("space")
    if not isinstance(table, dict):
        raise _err(source, "[space]", "missing; declare the axes (engine, rows, ...) in a [space] table")
    for key in table:
        if key not in AXES:
            raise _err(source, "[space]", f"unknown key {key!r} (known: {', '.join(AXES)})")
    sized = engines(sized=True)
    pos = lambda v: v > 0  # noqa: E731
    axes = {}
    families = sorted({e.family for e in sized.values()})
    if "family" in table:
        fams = _list(source, "[space] family", table["family"], str, lambda v: v in families,
                     f"a family with sized engines ({', '.join(families)})")
        from_families = [n for n, e in sized.items() if e.family in fams]
        table = {**table, "engine": list(dict.fromkeys(list(table.get("engine", [])) + from_families))}
    for axis in AXES:
        if axis == "family":
            continue
        if axis not in table and axis in ("engine", "rows"):
            raise _err(source, "[space]", f"{axis} is required" + (" (or family)" if axis == "engine" else ""))
        if axis == "cols" and axis not in table:
            continue
        value = table.get(axis, DEFAULTS.get(axis))
        where = f"[space] {axis}"
        if axis == "engine":
            axes[axis] = _list(source, where, value, str, lambda v: v in sized,
                               f"a registered engine with a sizing ({', '.join(sized)})")
        elif axis == "mapping":
            axes[axis] = _list(source, where, value, str, lambda v: v in MAPPINGS, f"one of {', '.join(MAPPINGS)}")
        elif axis in ("rows", "cols"):
            axes[axis] = _list(source, where, value, int, lambda v: 1 <= v <= 256, "an integer in 1..256")
        elif axis in ("a_bits", "w_bits"):
            axes[axis] = _list(source, where, value, int, lambda v: 2 <= v <= 16, "an integer number of bits in 2..16")
        elif axis == "dram_latency":
            axes[axis] = _list(source, where, value, int, lambda v: v >= 0, "a non-negative integer of cycles")
        else:
            unit = "bytes per cycle" if axis == "bandwidth" else "kB"
            axes[axis] = _list(source, where, value, float, pos, f"a positive number of {unit}")
    square = "cols" not in axes

    area = _table(doc, "area", ("synthesise",), source)
    synthesise = area.get("synthesise", [4, 8])
    if synthesise != "all":
        synthesise = _list(source, "[area] synthesise", synthesise, int, lambda v: 1 <= v <= 64,
                           'an array size in 1..64 (rows = cols), or "all"')

    obj = _table(doc, "objectives", ("pareto",), source)
    pareto = _list(source, "[objectives] pareto", obj.get("pareto", ["energy_uj", "latency_us"]), str,
                   lambda v: v in OBJECTIVES, f"one of {', '.join(OBJECTIVES)}")
    if not 2 <= len(pareto) <= 3:
        raise _err(source, "[objectives] pareto", f"needs two or three objectives, got {len(pareto)}")

    cons = doc.get("constraints", {})
    if not isinstance(cons, dict):
        raise _err(source, "[constraints]", "must be a table")
    constraints = []
    for key, value in cons.items():
        if key not in OBJECTIVES:
            raise _err(source, "[constraints]", f"unknown key {key!r} (known: {', '.join(OBJECTIVES)})")
        constraints.append(parse_constraint(key, value, f"{source}: [constraints] {key}"))

    sp = Space(name.strip(), networks, axes, dram_energy, synthesise, pareto, tuple(constraints), source, square,
               topologies)
    pts, dropped = _points(sp)
    if not pts:
        why = "; ".join(f"{n} {r}" for r, n in dropped.items())
        raise _err(source, "[space]", f"holds no design point ({why})")
    return dataclasses.replace(sp, dropped=dropped)


def _table(doc: dict, name: str, keys: tuple[str, ...], source: str) -> dict:
    """The optional table ``[name]`` of ``doc``, refusing keys other than ``keys``."""
    table = doc.get(name, {})
    if not isinstance(table, dict):
        raise _err(source, f"[{name}]", "must be a table")
    for key in table:
        if key not in keys:
            raise _err(source, f"[{name}]", f"unknown key {key!r} (known: {', '.join(keys)})")
    return table


def parse_constraint(objective: str, value, where: str) -> Constraint:
    if objective not in OBJECTIVES:
        raise SpaceError(f"{where}: unknown objective {objective!r} (known: {', '.join(OBJECTIVES)})")
    text = str(value).strip()
    op = text[:2]
    try:
        if op not in _OPS:
            raise ValueError
        bound = float(text[2:])
        if not math.isfinite(bound):
            raise ValueError
    except ValueError:
        raise SpaceError(f'{where}: must read "<= NUMBER" or ">= NUMBER", got {value!r}') from None
    return Constraint(objective, op, bound)


def load(path: str | Path) -> Space:
    from sim.topology import read_text

    path = Path(path)
    try:
        text = read_text(path, "space file")
    except (OSError, ValueError) as exc:  # missing, a folder, unreadable, not UTF-8: named by the reader
        raise SpaceError(str(exc)) from None
    return parse(text, str(path), path.resolve().parent)


def points(space: Space) -> list[dict]:
    """Every design point of ``space`` (dicts of reports.dse.store.POINT_INPUTS), in a fixed order."""
    return _points(space)[0]


def _widths(cfg) -> dict:
    return {f: getattr(cfg, f) for f in ("a_bits", "b_bits") if hasattr(cfg, f)}


def _points(space: Space) -> tuple[list[dict], dict]:
    from reports.registry import engines

    sized = engines(sized=True)
    ax = space.axes
    out, dropped = [], {}
    native = {}
    for eng in ax["engine"]:
        spec = sized[eng]
        cfg = spec.sized_config(4, 4)
        native[eng] = (_widths(cfg), getattr(cfg, "dataflow", None))
    sizes = [(r, r) for r in ax["rows"]] if space.square else list(itertools.product(ax["rows"], ax["cols"]))
    # what else prices a point: the DRAM energy source and the sizes its area model is fitted on
    common = {"dram_energy": space.dram_energy,
              "synthesise": space.synthesise if space.synthesise == "all" else ",".join(map(str, space.synthesise))}
    for eng, (r, c), a, w, mp in itertools.product(ax["engine"], sizes, ax["a_bits"], ax["w_bits"], ax["mapping"]):
        widths, dataflow = native[eng]
        if "a_bits" not in widths and a != 8 or "b_bits" not in widths and w != 8:
            dropped["engine with fixed INT8 operands at another width"] = \
                dropped.get("engine with fixed INT8 operands at another width", 0) + 1
            continue
        if mp == "scalesim" and dataflow is None:
            dropped["scalesim mapping on an engine without a dataflow (use latency, dram or edp)"] = \
                dropped.get("scalesim mapping on an engine without a dataflow (use latency, dram or edp)", 0) + 1
            continue
        for net, ib, fb, ob, bw, lat in itertools.product(space.networks, ax["ifmap_kb"], ax["filter_kb"],
                                                          ax["ofmap_kb"], ax["bandwidth"], ax["dram_latency"]):
            out.append({"engine": eng, "rows": r, "cols": c, "a_bits": a, "w_bits": w, "ifmap_kb": float(ib),
                        "filter_kb": float(fb), "ofmap_kb": float(ob), "bandwidth": float(bw), "dram_latency": lat,
                        "network": net, "mapping": mp, **common})
    return out, dropped
