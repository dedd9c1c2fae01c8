"""Line and toggle coverage of the RTL from the test suite, on Verilator.

    make coverage                                   # the RTL tests on Verilator with coverage on, then this
    python -m rtl_models.coverage DATA_DIR --out OUT

With $BITWEIGHT_COVERAGE set to a folder, every Verilator build of rtl_models.cosim is made with
``--coverage-line --coverage-toggle`` (in build folders of its own) and every co-simulation writes
its counts there (one ``.dat`` per run, Verilator's SystemC::Coverage-3 text format). This module
merges them across runs, tests and instances (a point is a source place: file, line, column, kind
and, for toggles, the signal bit and direction; the counts are summed) and writes

* ``modules.csv``: per Verilog module, line points (statement blocks and branch arms) and toggle
  points hit and in all, and their percentages;
* ``uncovered.csv``: every line point never reached, by module, file and line;
* ``functional.csv``: the benches' functional cover points (rtl_models/benches/functional.py:
  fold edges, accumulator extremes, digit patterns, FP8 operand classes), bins hit and missing;
* ``coverage.info``: the line counts in lcov's format, and with lcov's ``genhtml`` on PATH (Debian
  package lcov; ``make coverage`` installs it) an HTML tree in ``html/``.

A module's points are those of its source file's module, whichever top it ran under; the
bench-side hosts (``*_host``, ``*_host_clocked``) are bench code and listed apart (``bench`` column).
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from rtl_models.cosim import ENV_COVERAGE
from rtl_models.sources import VERILOG_DIR
_LINE = re.compile(r"^C '(.*)' (\d+)\s*$")
TOGGLE, LINE = "toggle", "line"


@dataclass(frozen=True)
class Point:
    """One coverage point, as merged: where it is and what it counts."""

    file: str
    line: int
    column: int
    kind: str  # TOGGLE, or LINE for statement blocks and branch arms
    module: str
    what: str  # Verilator's comment: the signal bit and direction of a toggle, "if", "else", "block" ...


def parse_key(key: str) -> dict[str, str]:
    """The fields of a point's key: pairs separated by \\x01, name and value by \\x02."""
    fields = {}
    for pair in key.split("\x01"):
        if "\x02" in pair:
            name, value = pair.split("\x02", 1)
            fields[name] = value
    return fields


def read_dat(path: str | Path) -> dict[Point, int]:
    """The points and counts of one coverage.dat."""
    path = Path(path)
    out: dict[Point, int] = defaultdict(int)
    text = path.read_text(errors="replace")
    if not text.startswith("# SystemC::Coverage"):
        raise ValueError(f"{path} is not a Verilator coverage file (no '# SystemC::Coverage' header)")
    for n, line in enumerate(text.splitlines()[1:], start=2):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            raise ValueError(f"{path}:{n}: not a coverage point line: {line[:80]!r}")
        f = parse_key(m.group(1))
        page = f.get("page", "")
        kind = TOGGLE if page.startswith("v_toggle") else LINE
        # Verilator names a parameterised copy module__<suffix>: merged under the module's own name
        module = (page.split("/", 1)[1] if "/" in page else "?").split("__")[0]
        point = Point(f.get("f", "?"), int(f.get("l", 0) or 0), int(f.get("n", 0) or 0), kind, module, f.get("o", ""))
        out[point] += int(m.group(2))
    return dict(out)


def merge(folder: str | Path, sources: str | Path | None = VERILOG_DIR) -> dict[Point, int]:
    """Every .dat under ``folder`` summed point by point, keeping the points of files in ``sources``
    (the project's Verilog: runs on a test's patched copy, the planted bugs, are left out; None
    keeps everything)."""
    folder = Path(folder)
    keep = None if sources is None else str(Path(sources).resolve()) + "/"
    files = sorted(folder.rglob("*.dat"))
    if not files:
        raise FileNotFoundError(f"no coverage data (*.dat) under {folder}; run the RTL tests on Verilator with "
                                f"${ENV_COVERAGE}={folder} (make coverage)")
    total: dict[Point, int] = defaultdict(int)
    for path in files:
        for point, count in read_dat(path).items():
            if keep is None or point.file.startswith(keep):
                total[point] += count
    return dict(total)


def module_table(points: dict[Point, int]) -> list[dict]:
    """Per module: line and toggle points hit / in all, percentages; sorted by module name."""
    acc: dict[str, dict] = {}
    for p, count in points.items():
        row = acc.setdefault(p.module, {"module": p.module, "file": Path(p.file).name,
                                        "bench": p.module.endswith(("_host", "_host_clocked")), "lines_hit": 0, "lines": 0,
                                        "toggles_hit": 0, "toggles": 0})
        key = "lines" if p.kind == LINE else "toggles"
        row[key] += 1
        row[f"{key}_hit"] += count > 0
    rows = []
    for name in sorted(acc):
        row = acc[name]
        row["line_pct"] = round(100 * row["lines_hit"] / row["lines"], 1) if row["lines"] else None
        row["toggle_pct"] = round(100 * row["toggles_hit"] / row["toggles"], 1) if row["toggles"] else None
        rows.append(row)
    return rows


def uncovered(points: dict[Point, int]) -> list[dict]:
    """Every line point never reached, by module, file, line."""
    rows = [{"module": p.module, "file": Path(p.file).name, "line": p.line, "what": p.what}
            for p, count in points.items() if p.kind == LINE and count == 0]
    return sorted(rows, key=lambda r: (r["module"], r["file"], r["line"], r["what"]))


def lcov_info(points: dict[Point, int]) -> str:
    """lcov's tracefile: per source file, per line the smallest count of its line points (a line
    with one arm never taken shows 0)."""
    per_file: dict[str, dict[int, int]] = defaultdict(dict)
    for p, count in points.items():
        if p.kind != LINE or p.line <= 0 or not Path(p.file).is_file():  # genhtml reads every source
            continue
        lines = per_file[p.file]
        lines[p.line] = min(lines.get(p.line, count), count)
    out = []
    for file in sorted(per_file):
        lines = per_file[file]
        out.append("TN:bitweight")
        out.append(f"SF:{file}")
        out.extend(f"DA:{line},{count}" for line, count in sorted(lines.items()))
        out.append(f"LH:{sum(c > 0 for c in lines.values())}")
        out.append(f"LF:{len(lines)}")
        out.append("end_of_record")
    return "\n".join(out) + "\n"


def _write_csv(path: Path, rows: list[dict], fields: list[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def functional_table(folder: str | Path) -> list[dict]:
    """The benches' functional coverage (rtl_models/benches/functional.py, functional-*.yml under
    ``folder``), every run's bins summed: per cover point its bins, the bins hit and the missing ones."""
    import yaml

    hits: dict[str, dict] = {}
    for path in sorted(Path(folder).rglob("functional-*.yml")):
        db = yaml.safe_load(Path(path).read_text()) or {}
        for name, item in db.items():
            bins = item.get("bins:_hits") if isinstance(item, dict) else None
            if bins is None:  # a group of points, not a point
                continue
            acc = hits.setdefault(name, {})
            for b, n in bins.items():
                acc[b] = acc.get(b, 0) + int(n)
    rows = []
    for name in sorted(hits):
        bins = hits[name]
        missing = [str(b) for b, n in bins.items() if n == 0]
        rows.append({"cover_point": name, "bins": len(bins), "bins_hit": len(bins) - len(missing),
                     "pct": round(100 * (len(bins) - len(missing)) / len(bins), 1), "missing": " ".join(missing)})
    return rows


def write_report(data: str | Path, out: str | Path, html: bool = True) -> dict:
    """Merge ``data`` and write modules.csv, uncovered.csv, coverage.info (and html/ with genhtml)
    into ``out``; what was written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    points = merge(data)
    table = module_table(points)
    _write_csv(out / "modules.csv", table, ["module", "file", "bench", "lines_hit", "lines", "line_pct",
                                            "toggles_hit", "toggles", "toggle_pct"])
    _write_csv(out / "uncovered.csv", uncovered(points), ["module", "file", "line", "what"])
    (out / "coverage.info").write_text(lcov_info(points))
    written = {"modules": out / "modules.csv", "uncovered": out / "uncovered.csv", "lcov": out / "coverage.info"}
    functional = functional_table(data)
    if functional:
        _write_csv(out / "functional.csv", functional, ["cover_point", "bins", "bins_hit", "pct", "missing"])
        written["functional"] = out / "functional.csv"
    genhtml = shutil.which("genhtml")
    if html and genhtml:
        proc = subprocess.run([genhtml, "-q", "-o", str(out / "html"), str(out / "coverage.info")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"genhtml failed: {proc.stderr.strip()[-400:]}")
        written["html"] = out / "html" / "index.html"
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rtl_models.coverage",
                                     description="Merge Verilator coverage of the RTL tests and write per-module "
                                                 "tables, the uncovered lines, an lcov tracefile and its HTML.")
    parser.add_argument("data", help=f"the folder ${ENV_COVERAGE} pointed at during the tests")
    parser.add_argument("--out", default="rtl_models/build/coverage", help="where to write (default %(default)s)")
    parser.add_argument("--no-html", action="store_true", help="skip genhtml")
    args = parser.parse_args(argv)
    try:
        written = write_report(args.data, args.out, html=not args.no_html)
    except (OSError, ValueError, RuntimeError) as e:  # no data, a bad file, an output place we cannot write
        print(f"error: {e}", file=sys.stderr)
        return 1
    with open(written["modules"]) as f:
        rows = list(csv.DictReader(f))
    print(f"{'module':24}{'lines':>16}{'toggles':>20}")
    for r in rows:
        lines = f"{r['lines_hit']}/{r['lines']} ({r['line_pct'] or '-'}%)"
        toggles = f"{r['toggles_hit']}/{r['toggles']} ({r['toggle_pct'] or '-'}%)"
        print(f"{r['module'] + (' (bench)' if r['bench'] == 'True' else ''):24}{lines:>16}{toggles:>20}")
    if "functional" in written:
        with open(written["functional"]) as f:
            for r in csv.DictReader(f):
                print(f"{r['cover_point']:32}{r['bins_hit']:>4}/{r['bins']:<4}{'  missing: ' + r['missing'] if r['missing'] else ''}")
    for name, path in written.items():
        print(f"{name}: {path}")
    if "html" not in written and not args.no_html:
        print("no HTML: genhtml (Debian package lcov) is not on PATH")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
