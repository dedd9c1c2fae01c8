"""Synthesis priced: yosys's cells and netlist (rtl_models/synth.py) costed at 45 nm, and cached.

    synthesize(["rtl_models/verilog/mac_pe.v"], "mac_pe", {"A_W": 8, "B_W": 8, "ACC_W": 32})

runs the yosys flow of rtl_models/synth.py (`synth -flatten`, `stat -json`, `ltp -noff`,
`write_json`) and costs yosys's generic gates as NanGate FreePDK45 X1 cells
(reports/tables/yosys_generic_cell_area.csv):

- area_um2: sum over cell types of count x cell area (standard cells only: no wiring, no
  placement density, no SRAM macros; memories the RTL declares become flip-flops);
- logic_depth: the longest path in gates between registers or ports, from `ltp -noff`;
- est_clock_mhz = 1e6 / (critical_path_ps + flop_overhead_ps). critical_path_ps is the
  slowest register-to-register path when every gate takes its table delay (a longest-path pass
  over the netlist yosys writes; ltp's path is the longest in gates, not always the slowest);
  it equals critical_path_gates x mean_gate_delay_ps. flop_overhead_ps = DFF_X1 clock-to-Q +
  setup + the enable/reset gating of the flip-flop type that ends the path. Ports count as
  registers outside the block (launched at clock-to-Q, captured with setup). Unit-load delays,
  no wires, no sizing: a first-order estimate for comparing engines, not a timing sign-off;
  yosys's generic `synth` builds ripple-carry adders, so the clock is pessimistic against a
  commercial flow.

Results are cached, keyed by the Verilog sources, top, parameters, yosys version and the cell
tables, in $BITWEIGHT_CACHE_DIR (default ~/.cache/bitweight/synth): a 16 x 16 array takes about
a minute.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from reports import tech
from rtl_models.synth import (
    SCRIPT_VERSION,
    SynthError,
    check_files,
    check_params,
    check_top,
    run_synthesis,
    yosys_version,
)


@dataclass(frozen=True)
class SynthResult:
    top: str
    params: Mapping[str, int]
    cells: Mapping[str, int]  # yosys cell type -> count, after synth -flatten
    logic_depth: int  # gates on the longest path (ltp -noff)
    area_um2: float
    comb_area_um2: float
    seq_area_um2: float
    flop_bits: int
    critical_path_ps: float  # gate delays on the slowest register-to-register path
    critical_path_gates: int
    path_cells: Mapping[str, int]  # cell types on that path
    mean_gate_delay_ps: float  # critical_path_ps / critical_path_gates
    flop_overhead_ps: float  # clock-to-Q + setup + gating of the path's end flip-flop
    est_clock_mhz: float
    yosys_version: str
    synth_runtime_s: float  # wall time of the yosys run that produced these numbers
    cached: bool = field(default=False, compare=False)

    @property
    def num_cells(self) -> int:
        return sum(self.cells.values())


def cache_dir() -> Path:
    if env := os.environ.get("BITWEIGHT_CACHE_DIR"):
        return Path(env) / "synth"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "bitweight" / "synth"


# The cache holds priced results (the timing pass below uses the cell tables), so it lives here,
# beside the pricing; the yosys runner (rtl_models/synth.py) keeps none. Changing this key
# re-runs every synthesis (a 16 x 16 array: about a minute each).
def _cache_key(paths: list[Path], top: str, params: dict[str, int]) -> str:
    tables = resources.files("reports").joinpath("tables")
    blob = {
        "script_version": SCRIPT_VERSION,
        "yosys": yosys_version(),
        "top": top,
        "params": sorted(params.items()),
        "files": [(p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths],
        # the timing pass uses the cell delays: a table edit must not reuse old numbers
        "tables": [hashlib.sha256(tables.joinpath(n).read_bytes()).hexdigest()
                   for n in (tech.CELL_TABLE_FILE, tech.NANGATE_TABLE_FILE)],
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:32]


def critical_path(module: dict) -> dict:
    """Slowest path of a flattened yosys JSON module, each gate at its table delay.

    Paths start at flip-flop outputs and input ports (at DFF_X1 clock-to-Q) and end at
    flip-flop data-side inputs (D, enable, reset: plus that flip-flop type's gating delay and
    setup) or output ports (plus setup). Returns the comb delay of the path, its gate count, its
    cell types and the flip-flop overhead at its ends.
    """
    ft = tech.flop_timing()
    comb: dict[str, tuple[float, list[int], str]] = {}  # cell -> (delay, input bits, type)
    driver: dict[int, str] = {}
    ends: list[tuple[int, float]] = []  # (bit, gating + setup)
    for name, cell in module["cells"].items():
        entry = tech.cell_entry(cell["type"])
        dirs, conns = cell["port_directions"], cell["connections"]
        ins = [b for port, d in dirs.items() if d == "input" for b in conns[port] if isinstance(b, int)]
        outs = [b for port, d in dirs.items() if d == "output" for b in conns[port] if isinstance(b, int)]
        if entry.kind == "comb":
            comb[name] = (entry.delay_ps, ins, cell["type"])
            for b in outs:
                driver[b] = name
        else:  # a flip-flop: every input but the clock C is data-side
            data = [b for port, d in dirs.items() if d == "input" and port != "C"
                    for b in conns[port] if isinstance(b, int)]
            ends += [(b, entry.delay_ps + ft.setup_ps) for b in data]
    for port in module.get("ports", {}).values():
        if port["direction"] in ("output", "inout"):
            ends += [(b, ft.setup_ps) for b in port["bits"] if isinstance(b, int)]

    # arrival of each comb cell's output: (ps, gates, predecessor cell), by iterative DFS
    arrival: dict[str, tuple[float, int, str | None]] = {}
    state: dict[str, int] = {}  # 1: inputs being visited, 2: done

    def bit_arrival(b: int) -> tuple[float, int, str | None]:
        d = driver.get(b)
        return (arrival[d][0], arrival[d][1], d) if d is not None else (0.0, 0, None)

    for root in comb:
        if root in arrival:
            continue
        stack = [(root, False)]
        while stack:
            n, expanded = stack.pop()
            if n in arrival:
                continue
            delay, ins, _ = comb[n]
            if not expanded:
                if state.get(n) == 1:
                    raise SynthError(f"combinational loop through cell {n}")
                state[n] = 1
                stack.append((n, True))
                stack += [(driver[b], False) for b in ins if b in driver and driver[b] not in arrival]
                continue
            best = max((bit_arrival(b) for b in ins), default=(0.0, 0, None), key=lambda a: a[0])
            arrival[n] = (best[0] + delay, best[1] + 1, best[2])
            state[n] = 2

    worst = (0.0, 0, None, ft.setup_ps)  # comb ps, gates, last cell, end overhead
    for b, extra in ends:
        ps, gates, last = bit_arrival(b)
        if ps + extra > worst[0] + worst[3]:
            worst = (ps, gates, last, extra)
    path_cells: dict[str, int] = {}
    n = worst[2]
    while n is not None:
        t = comb[n][2]
        path_cells[t] = path_cells.get(t, 0) + 1
        n = arrival[n][2]
    return {"critical_path_ps": worst[0], "critical_path_gates": worst[1],
            "path_cells": dict(sorted(path_cells.items())), "flop_overhead_ps": ft.clk_to_q_ps + worst[3]}


def cost_of_counts(top: str, params: Mapping[str, int], counts: dict, cached: bool = False) -> SynthResult:
    """A SynthResult from yosys's cell counts and the timing pass, areas from the cell table."""
    comb_area = seq_area = 0.0
    flop_bits = 0
    for cell_type, n in counts["cells"].items():
        entry = tech.cell_entry(cell_type)
        if entry.kind == "seq":
            seq_area += n * entry.area_um2
            flop_bits += n
        else:
            comb_area += n * entry.area_um2
    path_ps, gates = counts["critical_path_ps"], counts["critical_path_gates"]
    period_ps = path_ps + counts["flop_overhead_ps"]
    return SynthResult(
        top=top,
        params=dict(params),
        cells=dict(counts["cells"]),
        logic_depth=counts["logic_depth"],
        area_um2=comb_area + seq_area,
        comb_area_um2=comb_area,
        seq_area_um2=seq_area,
        flop_bits=flop_bits,
        critical_path_ps=path_ps,
        critical_path_gates=gates,
        path_cells=dict(counts["path_cells"]),
        mean_gate_delay_ps=path_ps / gates if gates else 0.0,
        flop_overhead_ps=counts["flop_overhead_ps"],
        est_clock_mhz=1e6 / period_ps,
        yosys_version=counts["yosys_version"],
        synth_runtime_s=counts["synth_runtime_s"],
        cached=cached,
    )


def synthesize(
    verilog_files: Sequence[str | os.PathLike] | str | os.PathLike,
    top: str,
    params: Mapping[str, int] | None = None,
    *,
    use_cache: bool = True,
    timeout_s: float = 3600,
    progress: Callable[[str], None] | None = print,
) -> SynthResult:
    """Synthesise `top` from Verilog-2005 sources with `params` overridden; see the module doc.

    Pass every file the design needs, `include-d headers too: yosys runs in a scratch folder.
    """
    top = check_top(top)
    params = check_params(params or {})
    paths = check_files(verilog_files)
    label = f"{top}" + (" " + " ".join(f"{k}={v}" for k, v in params.items()) if params else "")
    cache_file = cache_dir() / f"{_cache_key(paths, top, params)}.json"
    if use_cache and cache_file.exists():
        try:
            counts = json.loads(cache_file.read_text())
            result = cost_of_counts(top, params, counts, cached=True)
            if progress:
                progress(f"synth {label}: cached ({counts['synth_runtime_s']:.1f} s when run)")
            return result
        except (json.JSONDecodeError, KeyError):
            pass  # a damaged or outdated entry is re-run and overwritten
    if progress:
        progress(f"synth {label}: running yosys ...")
    counts = run_synthesis(paths, top, params, timeout_s)
    module = counts.pop("netlist")
    counts.update(critical_path(module))
    if use_cache:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        for path, blob in ((_netlist_file(cache_file), module), (cache_file, counts)):  # netlist first
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(blob, sort_keys=True))
            os.replace(tmp, path)
    result = cost_of_counts(top, params, counts)
    if progress:
        progress(f"synth {label}: {result.num_cells} cells, {result.area_um2:.0f} um^2, depth {result.logic_depth}, "
                 f"~{result.est_clock_mhz:.0f} MHz ({result.synth_runtime_s:.1f} s)")
    return result


def _netlist_file(cache_file: Path) -> Path:
    return cache_file.with_name(cache_file.stem + ".netlist.json")


def gate_netlist(
    verilog_files: Sequence[str | os.PathLike] | str | os.PathLike,
    top: str,
    params: Mapping[str, int] | None = None,
    *,
    timeout_s: float = 3600,
    progress: Callable[[str], None] | None = print,
) -> dict:
    """The flattened gate-level netlist of `top` (yosys ``write_json`` module: ports, cells of
    yosys's internal gate types, bit numbers), the very netlist `synthesize` costs; cached beside
    its result."""
    params = check_params(params or {})
    paths = check_files(verilog_files)
    cache_file = cache_dir() / f"{_cache_key(paths, top, params)}.json"
    net = _netlist_file(cache_file)
    if not net.exists():
        synthesize(paths, top, params, use_cache=True, timeout_s=timeout_s, progress=progress)
    if not net.exists():  # a result cached before netlists were kept: run yosys again
        cache_file.unlink(missing_ok=True)
        synthesize(paths, top, params, use_cache=True, timeout_s=timeout_s, progress=progress)
    return json.loads(net.read_text())
