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
a minute. An entry is ``<key>.json`` (yosys's counts and the timing pass, plus a ``"check"``
record: schema version, the netlist file's size and SHA-256, and a SHA-256 over all of it) and
``<key>.netlist.json`` (the netlist as yosys wrote it). Every read validates the entry; a damaged
one (unreadable, not JSON, wrong shape, checksum mismatch, netlist missing or truncated) is
recomputed with one `CacheWarning` naming the file and replaced. Entries written before the
check existed are validated by shape and upgraded in place, without rerunning yosys. A cache
folder that cannot be written costs the caching, not the result (one warning per folder);
`check_cache_writable` tests it up front.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import tempfile
import threading
import warnings
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


class CacheWarning(UserWarning):
    """A synthesis cache entry was damaged (it is recomputed and replaced), or the cache folder
    cannot be written (results are computed but not kept)."""


def check_cache_writable() -> None:
    """Raise ValueError, one line naming the folder, unless the synthesis cache folder
    (`cache_dir`) can be created and written: for a command to call before any work starts."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError("permission denied")
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"synthesis cache folder {folder} cannot be written ({_reason(e)}); "
                         f"set BITWEIGHT_CACHE_DIR to a writable folder") from None


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
    return _synth(paths, top, params, use_cache, timeout_s, progress, want_netlist=False)[0]


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
    its result (checked against the entry's checksum on every read)."""
    top = check_top(top)
    params = check_params(params or {})
    paths = check_files(verilog_files)
    return _synth(paths, top, params, True, timeout_s, progress, want_netlist=True)[1]


def _synth(paths: list[Path], top: str, params: dict[str, int], use_cache: bool, timeout_s: float,
           progress: Callable[[str], None] | None, want_netlist: bool) -> tuple[SynthResult, dict | None]:
    """`synthesize`'s work; with `want_netlist` also the netlist, else None in its place."""
    label = f"{top}" + (" " + " ".join(f"{k}={v}" for k, v in params.items()) if params else "")
    cache_file = cache_dir() / f"{_cache_key(paths, top, params)}.json"
    if not use_cache:
        return _synth_locked(paths, top, params, use_cache, timeout_s, progress, want_netlist, label, cache_file)
    with _key_lock(cache_file, label, progress):  # one process synthesises a design; the others then read it
        return _synth_locked(paths, top, params, use_cache, timeout_s, progress, want_netlist, label, cache_file)


@contextlib.contextmanager
def _key_lock(cache_file: Path, label: str, progress: Callable[[str], None] | None):
    """An exclusive lock per cache key (``<key>.lock``, flock): processes asking for the same design
    at once wait for the first, then read its entry. No lock where the folder cannot be written."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(cache_file.with_name(cache_file.stem + ".lock"), os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                progress(f"synth {label}: another process is synthesising it; waiting for its result")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _synth_locked(paths: list[Path], top: str, params: dict[str, int], use_cache: bool, timeout_s: float,
                  progress: Callable[[str], None] | None, want_netlist: bool, label: str,
                  cache_file: Path) -> tuple[SynthResult, dict | None]:
    if use_cache and (hit := _read_entry(cache_file, want_netlist)) is not None:
        counts, module = hit
        result = cost_of_counts(top, params, counts, cached=True)
        if progress:
            progress(f"synth {label}: cached ({counts['synth_runtime_s']:.1f} s when run)")
        return result, module
    if progress:
        progress(f"synth {label}: running yosys ...")
    counts = run_synthesis(paths, top, params, timeout_s)
    module = counts.pop("netlist")
    counts.update(critical_path(module))
    net_raw = json.dumps(module, sort_keys=True).encode() if use_cache or want_netlist else b""
    if use_cache:
        _store(cache_file, counts, net_raw, write_netlist=True)
    result = cost_of_counts(top, params, counts)
    if progress:
        progress(f"synth {label}: {result.num_cells} cells, {result.area_um2:.0f} um^2, depth {result.logic_depth}, "
                 f"~{result.est_clock_mhz:.0f} MHz ({result.synth_runtime_s:.1f} s)")
    # the netlist as a cache read returns it (keys sorted), whether or not it could be stored
    return result, (json.loads(net_raw) if want_netlist else None)


# --------------------------------------------------------------------------------------------
# cache entries: <key>.json = the counts plus {"check": {"schema", "netlist": {"bytes", "sha256"},
# "sha256"}}, <key>.netlist.json = yosys's module, keys sorted. The counts stay at the top level
# (not wrapped in a payload object), so an entry written before the check existed is still the
# same counts: it is validated by shape and upgraded in place (check added, yosys not rerun), and
# older bitweight versions read new entries as before (they ignore "check").
# --------------------------------------------------------------------------------------------

SCHEMA = 2  # of the "check" record; entries without one (schema 1) are upgraded in place

# what cost_of_counts reads from an entry, and what each must be
_COUNT_FIELDS = {
    "cells": "counts", "path_cells": "counts",
    "logic_depth": "int", "critical_path_gates": "int",
    "critical_path_ps": "number", "synth_runtime_s": "number", "flop_overhead_ps": "positive",
    "yosys_version": "str",
}
_EXPECTED = {"counts": "an object of non-negative integers", "int": "a non-negative integer",
             "number": "a finite non-negative number", "positive": "a finite positive number", "str": "a string"}

_UNWRITABLE_WARNED: set[str] = set()  # cache folders already warned about, once per process


class _Damaged(Exception):
    def __init__(self, path: Path, what: str):
        super().__init__(f"{path}: {what}")
        self.path, self.what = path, what


def _netlist_file(cache_file: Path) -> Path:
    return cache_file.with_name(cache_file.stem + ".netlist.json")


def _reason(e: OSError) -> str:
    return (e.strerror or str(e)).lower()


def _read_entry(cache_file: Path, want_netlist: bool) -> tuple[dict, dict | None] | None:
    """The counts (and with `want_netlist` the netlist) of a valid entry; None when there is no
    entry or it is damaged, which is warned about (one line naming the file and the damage)."""
    try:
        return _load_entry(cache_file, want_netlist)
    except _Damaged as d:
        warnings.warn(f"synthesis cache entry {d.path} is damaged ({d.what}); running yosys again to replace it",
                      CacheWarning, stacklevel=4)
        return None


def _load_entry(cache_file: Path, want_netlist: bool) -> tuple[dict, dict | None] | None:
    raw = _read_bytes(cache_file)
    if raw is None:
        return None
    counts = _parse_json(cache_file, raw)
    if not isinstance(counts, dict):
        raise _Damaged(cache_file, f"wrong shape: a JSON {type(counts).__name__}, not an object")
    check = counts.pop("check", None)
    _check_counts(cache_file, counts)
    net_file = _netlist_file(cache_file)
    if check is None:  # written before entries carried a check: validated by shape, then upgraded
        net_raw = _read_bytes(net_file)
        if net_raw is None:
            raise _Damaged(net_file, "netlist missing")
        module = _parse_module(net_file, net_raw)
        _store(cache_file, counts, net_raw, write_netlist=False)
        return counts, module if want_netlist else None
    expected = _check_record(cache_file, check, counts)
    if not want_netlist:  # the size catches a truncated or missing netlist without reading it
        try:
            size = net_file.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            raise _Damaged(net_file, "netlist missing") from None
        except OSError as e:
            raise _Damaged(net_file, f"cannot be read: {_reason(e)}") from None
        if size != expected["bytes"]:
            raise _Damaged(net_file, f"truncated or changed: {size} bytes, {expected['bytes']} written")
        return counts, None
    net_raw = _read_bytes(net_file)
    if net_raw is None:
        raise _Damaged(net_file, "netlist missing")
    if len(net_raw) != expected["bytes"]:
        raise _Damaged(net_file, f"truncated or changed: {len(net_raw)} bytes, {expected['bytes']} written")
    if hashlib.sha256(net_raw).hexdigest() != expected["sha256"]:
        raise _Damaged(net_file, "checksum mismatch: changed after it was written")
    return counts, _parse_module(net_file, net_raw)


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise _Damaged(path, f"cannot be read: {_reason(e)}") from None


def _parse_json(path: Path, raw: bytes):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Damaged(path, f"not UTF-8 text: byte {e.start} is 0x{raw[e.start]:02x}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise _Damaged(path, f"not valid JSON, truncated?: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise _Damaged(path, "not valid JSON: nested too deeply") from None


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _valid(kind: str, v) -> bool:
    def number(x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    if kind == "counts":
        return isinstance(v, dict) and all(
            isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool) and n >= 0 for k, n in v.items())
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0
    if kind == "number":
        return number(v) and v >= 0
    if kind == "positive":
        return number(v) and v > 0
    return isinstance(v, str)


def _check_counts(path: Path, counts: dict) -> None:
    for name, kind in _COUNT_FIELDS.items():
        if name not in counts:
            raise _Damaged(path, f"wrong shape: no {name!r}")
        if not _valid(kind, counts[name]):
            raise _Damaged(path, f"wrong shape: {name!r} is {_short(counts[name])}, expected {_EXPECTED[kind]}")


def _check_record(path: Path, check, counts: dict) -> dict:
    """The netlist's {"bytes", "sha256"} of a valid "check" record; raises _Damaged otherwise."""
    if not (isinstance(check, dict) and isinstance(check.get("netlist"), dict) and isinstance(check.get("sha256"), str)
            and _valid("int", check["netlist"].get("bytes")) and isinstance(check["netlist"].get("sha256"), str)):
        raise _Damaged(path, f"wrong shape: 'check' is {_short(check)}")
    if check.get("schema") != SCHEMA:
        raise _Damaged(path, f"entry schema {_short(check.get('schema'))}, this bitweight reads {SCHEMA}")
    if check["sha256"] != _entry_sha256(path.stem, counts, check["netlist"]):
        raise _Damaged(path, "checksum mismatch: changed after it was written")
    return check["netlist"]


def _entry_sha256(key: str, counts: dict, netlist: dict) -> str:
    """SHA-256 over the entry's key, counts and netlist record (canonical JSON: floats round-trip)."""
    blob = {"schema": SCHEMA, "key": key, "counts": counts, "netlist": netlist}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _parse_module(path: Path, raw: bytes) -> dict:
    module = _parse_json(path, raw)
    if not isinstance(module, dict) or not isinstance(module.get("cells"), dict) \
            or not isinstance(module.get("ports"), dict):
        raise _Damaged(path, "wrong shape: not a yosys module with 'cells' and 'ports'")
    for name, cell in module["cells"].items():
        if not (isinstance(cell, dict) and isinstance(cell.get("type"), str)
                and isinstance(cell.get("port_directions"), dict) and isinstance(cell.get("connections"), dict)):
            raise _Damaged(path, f"wrong shape: cell {name!r} is not a yosys cell")
    for name, port in module["ports"].items():
        if not (isinstance(port, dict) and isinstance(port.get("direction"), str)
                and isinstance(port.get("bits"), list)):
            raise _Damaged(path, f"wrong shape: port {name!r} is not a yosys port")
    return module


def _store(cache_file: Path, counts: dict, net_raw: bytes, write_netlist: bool) -> None:
    """Write the entry (netlist first, each file atomically); a folder that cannot be written is
    warned about once per process and the entry is not kept."""
    netlist = {"bytes": len(net_raw), "sha256": hashlib.sha256(net_raw).hexdigest()}
    check = {"schema": SCHEMA, "netlist": netlist, "sha256": _entry_sha256(cache_file.stem, counts, netlist)}
    folder = cache_file.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if write_netlist:
            _write_atomic(_netlist_file(cache_file), net_raw)
        _write_atomic(cache_file, json.dumps({**counts, "check": check}, sort_keys=True).encode())
    except OSError as e:
        if str(folder) not in _UNWRITABLE_WARNED:
            _UNWRITABLE_WARNED.add(str(folder))
            warnings.warn(f"synthesis cache folder {folder} cannot be written ({_reason(e)}): results are computed "
                          f"but not cached; set BITWEIGHT_CACHE_DIR to a writable folder", CacheWarning, stacklevel=4)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def is_cached(paths: list[Path], top: str, params: dict[str, int]) -> bool:
    """Whether a synthesis of ``top`` at ``params`` has a cache entry (its netlist included); the
    entry is validated when it is read."""
    cache_file = cache_dir() / f"{_cache_key(paths, top, params)}.json"
    return cache_file.is_file() and _netlist_file(cache_file).is_file()
