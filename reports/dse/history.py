"""Benchmark history: pytest-benchmark runs in the results database, and `bitweight history`.

    bitweight history [--db PATH] [--run ID] [--threshold 0.10]     compare a run with the previous one
    bitweight history --list [--db PATH] [--csv OUT]                 list the recorded runs
    bitweight history --record FILE.json ... [--kind gpu-check]      record pytest-benchmark JSON files

A run is one ``pytest --benchmark`` session (kind ``pytest-benchmark``, recorded automatically by
the root conftest at the end of the session) or one ``python -m bench.gpu_check`` (kind
``gpu-check``), stored in ``bench_runs`` with its machine, versions and commit, one ``bench_items``
row per benchmark (mean, min, stddev, rounds and its ``extra_info``: TOPS, ratios vs peers, ...).
Any pytest-benchmark 5 JSON (``--benchmark-json``, or ``.benchmarks/<machine>/NNNN_*.json``) can
be recorded by hand with ``--record``.

The comparison takes a run (``--run``, default the latest) and the previous run of the same kind on
the same machine, and lists per benchmark the mean before and after and their ratio (after /
before). A benchmark whose mean got slower by more than ``--threshold`` (default 0.10: 10 %) is a
regression; benchmarks only in one of the runs are marked ``new`` or ``gone``. ``--csv OUT`` writes
the table shown.

The machine is named by its GPU (when a benchmark's ``extra_info`` has ``gpu``) or its host name,
then its CPU brand and count: a GPU machine is lent fresh with a new host name each time, and it is
the GPU that is measured.

Exit status: 0, 1 when a regression is flagged (for CI), 2 for bad input (a one-line error: a
missing or malformed file, an unknown run, no earlier run to compare with, a bad threshold).

The database is ``$BITWEIGHT_DB`` or ``./bitweight-results.sqlite`` (reports/dse/store.py). Set
``BITWEIGHT_HISTORY=0`` to keep ``pytest --benchmark`` from recording its run.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path

from reports.dse.store import ENV_DB, StoreError, connect, default_path, dumps

ENV_HISTORY = "BITWEIGHT_HISTORY"
DEFAULT_THRESHOLD = 0.10
_SOFTWARE = ("torch", "triton", "cuda", "cupy")  # versions a benchmark's extra_info["versions"] may hold


class NoEarlierRunError(ValueError):
    """A run with no earlier run of its kind on its machine: nothing to compare it with."""


# ------------------------------------------------------------------------------------------- recording


def _load(json_path_or_dict) -> tuple[dict, str]:
    """The pytest-benchmark output and a name for it in error messages."""
    if isinstance(json_path_or_dict, dict):
        data, label = json_path_or_dict, "pytest-benchmark output"
    else:
        path = Path(json_path_or_dict)
        label = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file" if not path.exists() else f"{path} is not a file")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{label} is not a pytest-benchmark JSON file (top level is not an object)")
    missing = [k for k in ("machine_info", "benchmarks", "datetime") if k not in data]
    if missing:
        raise ValueError(f"{label} is not a pytest-benchmark JSON file (no {', '.join(missing)})")
    if not isinstance(data["benchmarks"], list) or not isinstance(data["machine_info"], dict):
        raise ValueError(f"{label} is not a pytest-benchmark JSON file (benchmarks is not a list, "
                         "or machine_info is not an object)")
    for i, b in enumerate(data["benchmarks"]):
        if not isinstance(b, dict) or "name" not in b or not isinstance(b.get("stats"), dict):
            raise ValueError(f"{label} is not a pytest-benchmark JSON file (benchmark {i} has no name or stats)")
    return data, label


def _extra_values(benchmarks: list[dict], key: str) -> list:
    return [b["extra_info"][key] for b in benchmarks
            if isinstance(b.get("extra_info"), dict) and key in b["extra_info"]]


def machine_id(machine_info: dict, gpu: str | None = None) -> str:
    """A short stable name for a machine: GPU (else host name), CPU brand and count."""
    cpu = machine_info.get("cpu") if isinstance(machine_info.get("cpu"), dict) else {}
    brand = cpu.get("brand_raw") or machine_info.get("processor") or machine_info.get("machine") or "unknown cpu"
    count = f" x{cpu['count']}" if cpu.get("count") else ""
    return f"{gpu or machine_info.get('node') or 'unknown host'} / {brand}{count}"


def _started(text: str, label: str) -> str:
    """pytest-benchmark's ``datetime`` as UTC ISO 8601, so that runs sort by text."""
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"{label}: datetime {text!r} is not ISO 8601") from None
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    return when.isoformat(timespec="microseconds")


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def record_pytest_benchmark(json_path_or_dict, db=None, kind: str = "pytest-benchmark", source: str | None = None,
                            versions: dict | None = None) -> int:
    """Store one pytest-benchmark run (a JSON file or its dict) in the database ``db``; its run_id.

    ``versions`` adds to the versions read from the file (python, pytest-benchmark, and torch,
    triton, cuda, cupy from the benchmarks' ``extra_info["versions"]``). Recording the same run
    (kind, machine and start time) again returns the run_id it already has."""
    data, label = _load(json_path_or_dict)
    benchmarks = data["benchmarks"]
    machine_info = dict(data["machine_info"])
    gpus = _extra_values(benchmarks, "gpu")
    gpu = machine_info.get("gpu") or (str(gpus[0]) if gpus else None)
    machine = machine_id(machine_info, gpu)
    if isinstance(machine_info.get("cpu"), dict):  # the CPU flags are a long list that names nothing
        machine_info["cpu"] = {k: v for k, v in machine_info["cpu"].items() if k != "flags"}
    if gpu:
        machine_info["gpu"] = gpu

    found = {"python": machine_info.get("python_version"), "pytest-benchmark": data.get("version")}
    for v in _extra_values(benchmarks, "versions"):
        if isinstance(v, dict):
            found.update({k: str(v[k]) for k in _SOFTWARE if v.get(k) is not None and k not in found})
    found.update(versions or {})
    found = {k: v for k, v in found.items() if v is not None}

    commit = data.get("commit_info") if isinstance(data.get("commit_info"), dict) else {}
    commit_id = commit.get("id")
    if commit_id and commit.get("dirty"):
        commit_id = f"{commit_id}-dirty"
    started = _started(data["datetime"], label)
    if source is None and not isinstance(json_path_or_dict, dict):
        source = str(Path(json_path_or_dict).resolve())

    con = connect(db)
    try:
        row = con.execute("SELECT run_id FROM bench_runs WHERE kind = ? AND machine = ? AND started = ?",
                          (kind, machine, started)).fetchone()
        if row:
            return row["run_id"]
        with con:
            run_id = con.execute(
                "INSERT INTO bench_runs (kind, machine, machine_json, commit_id, versions_json, source, started) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, machine, dumps(machine_info), commit_id, dumps(found), source, started)).lastrowid
            items = {}
            for b in benchmarks:  # a name twice (it should not happen) keeps the last
                s = b["stats"]
                rounds = s.get("rounds")
                items[str(b["name"])] = (run_id, str(b["name"]), b.get("group"), _number(s.get("mean")),
                                         _number(s.get("min")), _number(s.get("stddev")),
                                         int(rounds) if _number(rounds) is not None else None,
                                         dumps(b.get("extra_info") or {}))
            con.executemany("INSERT INTO bench_items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", items.values())
        return run_id
    finally:
        con.close()


def pytest_record_hook(config, output_json: dict) -> int | None:
    """Record a ``pytest --benchmark`` session; called by the root conftest from pytest-benchmark's
    ``pytest_benchmark_update_json`` hook. Never fails the pytest run: a database that cannot be
    used prints one warning line. Records once per session (pytest-benchmark calls the hook for
    --benchmark-json and again for its autosave)."""
    if not config.getoption("--benchmark", default=False) or os.environ.get(ENV_HISTORY, "1") == "0":
        return None
    if hasattr(config, "_bitweight_history_run"):  # None when recording failed
        return config._bitweight_history_run
    try:
        db = default_path()
        if not os.environ.get(ENV_DB) and not db.is_absolute():
            db = Path(config.rootpath) / db  # not wherever pytest happened to be started
        versions = {m: str(sys.modules[m].__version__) for m in ("torch", "triton")
                    if m in sys.modules and hasattr(sys.modules[m], "__version__")}
        args = " ".join(str(a) for a in config.invocation_params.args)
        run_id = record_pytest_benchmark(output_json, db, source=f"pytest {args}".strip(), versions=versions)
    except Exception as exc:  # a benchmark run never fails for its history (StoreError: one line)
        detail = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
        print(f"\nbitweight: warning: benchmark run not recorded in the history: {detail}", file=sys.stderr)
        config._bitweight_history_run = None
        return None
    config._bitweight_history_run = run_id
    return run_id


# ------------------------------------------------------------------------------------------- reading


def _open(db):
    path = Path(db) if db is not None else default_path()
    if not path.exists():
        raise StoreError(f"results database {path} does not exist: record a run first (`pytest --benchmark`, "
                         "or `bitweight history --record FILE.json`), or give --db")
    return connect(path, write=False)


def runs(db=None):
    """The recorded runs, oldest first: run_id, kind, machine, commit_id, started, items, source."""
    import pandas as pd

    con = _open(db)
    try:
        rows = con.execute(
            "SELECT r.run_id, r.kind, r.machine, r.commit_id, r.started, "
            "(SELECT COUNT(*) FROM bench_items i WHERE i.run_id = r.run_id) AS items, r.source "
            "FROM bench_runs r ORDER BY r.started, r.run_id").fetchall()
    finally:
        con.close()
    return pd.DataFrame([dict(r) for r in rows],
                        columns=["run_id", "kind", "machine", "commit_id", "started", "items", "source"])


def _check_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number > 0 (0.10 = 10 % slower), got {threshold!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"threshold must be a number > 0 (0.10 = 10 % slower), got {threshold!r}")
    return value


def compare(db=None, run_id: int | None = None, threshold: float = DEFAULT_THRESHOLD):
    """Run ``run_id`` (default: the latest) against the previous run of the same kind on the same machine.

    Runs are ordered by their start time (pytest-benchmark's ``datetime``), not by when they were
    recorded.

    One row per benchmark: name, group, before_s and after_s (means), ratio (after / before),
    status (``regression`` when slower by more than ``threshold``, ``faster`` when faster by more,
    else ``ok``; ``new`` / ``gone`` for a benchmark in one run only; ``no data`` without a mean) and
    regression (bool). ``df.attrs`` holds both runs and the threshold. ValueError, naming what is
    missing, when there is no such run, and NoEarlierRunError (a ValueError) when there is no
    earlier run to compare with."""
    import pandas as pd

    threshold = _check_threshold(threshold)
    con = _open(db)
    try:
        if run_id is None:
            after = con.execute("SELECT * FROM bench_runs ORDER BY started DESC, run_id DESC LIMIT 1").fetchone()
            if after is None:
                raise ValueError(f"no benchmark run recorded in {db or default_path()}")
        else:
            after = con.execute("SELECT * FROM bench_runs WHERE run_id = ?", (int(run_id),)).fetchone()
            if after is None:
                raise ValueError(f"no benchmark run {run_id} in {db or default_path()} (`bitweight history --list`)")
        before = con.execute(
            "SELECT * FROM bench_runs WHERE kind = ? AND machine = ? AND run_id != ? "
            "AND (started < ? OR (started = ? AND run_id < ?)) ORDER BY started DESC, run_id DESC LIMIT 1",
            (after["kind"], after["machine"], after["run_id"], after["started"], after["started"],
             after["run_id"])).fetchone()
        if before is None:
            raise NoEarlierRunError(f"no {after['kind']} run on machine {after['machine']!r} before run "
                                    f"{after['run_id']} to compare with")
        items = {rid: {r["name"]: r for r in con.execute("SELECT * FROM bench_items WHERE run_id = ?", (rid,))}
                 for rid in (before["run_id"], after["run_id"])}
    finally:
        con.close()

    old, new = items[before["run_id"]], items[after["run_id"]]
    rows = []
    for name in list(new) + [n for n in old if n not in new]:
        b, a = old.get(name), new.get(name)
        before_s, after_s = (b["mean_s"] if b else None), (a["mean_s"] if a else None)
        ratio = after_s / before_s if before_s and after_s is not None else None
        if b is None:
            status = "new"
        elif a is None:
            status = "gone"
        elif ratio is None:
            status = "no data"
        elif ratio > 1 + threshold:
            status = "regression"
        elif ratio < 1 / (1 + threshold):
            status = "faster"
        else:
            status = "ok"
        rows.append({"name": name, "group": (a or b)["grp"], "before_s": before_s, "after_s": after_s,
                     "ratio": ratio, "status": status, "regression": status == "regression"})
    df = pd.DataFrame(rows, columns=["name", "group", "before_s", "after_s", "ratio", "status", "regression"])
    df = df.astype({"before_s": float, "after_s": float, "ratio": float, "regression": bool})
    df.attrs.update(threshold=threshold, before=dict(before), after=dict(after))
    return df


# ------------------------------------------------------------------------------------------- CLI


def _threshold_arg(text: str) -> float:
    import argparse

    try:
        return _check_threshold(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers):
    """Add the ``history`` subcommand to ``subparsers`` (an argparse ``add_subparsers()`` object)."""
    p = subparsers.add_parser(
        "history", help="benchmark history: compare a benchmark run with the previous one, list or record runs",
        description=__doc__.split("\n")[0])
    p.add_argument("--db", metavar="PATH",
                   help="results database (default $BITWEIGHT_DB or ./bitweight-results.sqlite)")
    p.add_argument("--run", type=int, metavar="ID", help="the run to compare with its predecessor (default: latest)")
    p.add_argument("--threshold", type=_threshold_arg, default=DEFAULT_THRESHOLD, metavar="FRACTION",
                   help="flag a benchmark whose mean is slower by more than this fraction (default 0.10)")
    p.add_argument("--list", action="store_true", help="list the recorded runs instead of comparing")
    p.add_argument("--record", nargs="+", metavar="FILE.json", help="record pytest-benchmark JSON files first")
    p.add_argument("--kind", default="pytest-benchmark", help="kind of the runs --record stores (default "
                   "pytest-benchmark; the GPU check records gpu-check)")
    p.add_argument("--csv", metavar="OUT", help="also write the table shown as CSV")
    p.set_defaults(func=cmd_history)
    return p


def _describe(run: dict) -> str:
    return f"run {run['run_id']} ({run['started'][:19].replace('T', ' ')} UTC, commit {run['commit_id'] or '?'})"


def _show(df) -> str:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", None, "display.max_rows", None,
                           "display.max_colwidth", 80):
        return df.to_string(index=False, na_rep="-")


def cmd_history(args) -> int:
    """`bitweight history`: 0, 1 when a regression is flagged, 2 (one line on stderr) for bad input."""
    try:
        return _history(args)
    except (ValueError, OSError, sqlite3.Error) as exc:  # StoreError and JSON errors are ValueErrors
        print(f"bitweight history: error: {exc}", file=sys.stderr)
        return 2


def _history(args) -> int:
    db = Path(args.db) if getattr(args, "db", None) else default_path()
    threshold = _check_threshold(getattr(args, "threshold", DEFAULT_THRESHOLD))
    csv = getattr(args, "csv", None)
    if csv is not None:
        from reports.cli import check_output_file

        check_output_file(csv, "--csv", "history.csv")
    recorded = []
    for path in getattr(args, "record", None) or []:
        run_id = record_pytest_benchmark(path, db, kind=getattr(args, "kind", None) or "pytest-benchmark")
        recorded.append(run_id)
        print(f"recorded {path} as run {run_id} in {db}")

    if getattr(args, "list", False):
        df = runs(db)
        print(_show(df) if len(df) else f"no benchmark run recorded in {db}")
        if csv:
            df.to_csv(csv, index=False)
        return 0

    run_id = getattr(args, "run", None)
    if run_id is None and recorded:
        run_id = recorded[-1]
    try:
        df = compare(db, run_id, threshold)
    except NoEarlierRunError as exc:
        if recorded:
            print(f"nothing to compare: {exc}")  # a first run: recording it is all there is to do
            return 0
        raise
    before, after = df.attrs["before"], df.attrs["after"]
    print(f"{after['kind']} on {after['machine']}: {_describe(after)} vs {_describe(before)}")
    print(f"ratio = mean after / mean before; regression = slower by more than {threshold:.0%} "
          f"(--threshold {threshold:g})")
    shown = df.copy()
    shown["before_s"] = shown["before_s"].map(lambda v: f"{v:.4g}", na_action="ignore")
    shown["after_s"] = shown["after_s"].map(lambda v: f"{v:.4g}", na_action="ignore")
    shown["ratio"] = shown["ratio"].map(lambda v: f"{v:.3f}x", na_action="ignore")
    shown = shown.drop(columns=["regression"] + (["group"] if shown["group"].isna().all() else []))
    print(_show(shown.fillna("-")))
    if csv:
        df.to_csv(csv, index=False)
    counts = df["status"].value_counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in ("regression", "faster", "ok", "new", "gone", "no data")
                        if s in counts)
    print(f"{len(df)} benchmarks: {summary or 'none'}")
    if df["regression"].any():
        print(f"REGRESSION: {', '.join(df.loc[df['regression'], 'name'])}")
        return 1
    return 0
