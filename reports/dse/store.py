"""The results database: one SQLite file holding design-space sweeps, syntheses and benchmark history.

Schema version ``SCHEMA_VERSION`` (kept in the ``meta`` table; a file of another version is
refused with a one-line error, never migrated silently):

``points``        one priced design point. ``point_key`` = SHA-256 of the point's inputs (JSON, sorted
                  keys) and of ``model_hash``; ``model_hash`` = SHA-256 of the code and technology
                  tables that price a point (:func:`reports.dse.evaluate.model_hash`), so a changed
                  cost model never reuses an old row. Inputs: engine, rows, cols, a_bits, w_bits,
                  ifmap_kb, filter_kb, ofmap_kb, bandwidth (bytes/cycle), dram_latency (cycles),
                  network, mapping, dram_energy (the DRAM energy source), synthesise (the sizes
                  the area and clock model was fitted on, e.g. "4,8,16", or "all"). Results: area_mm2 (array and buffers; array_area_mm2 the
                  array alone, area_source "synth" or "fit"), clock_mhz, macs, cycles, stall_cycles, latency_us, energy_uj and its parts
                  (energy_array_uj, energy_buffers_uj, energy_dram_uj), power_w, edp_uj_us,
                  gops, gops_per_mm2, gops_per_w, dram_bytes, memory_bound_layers, and
                  error (why a point is not a design, e.g. a buffer smaller than one tile).
``sweeps``        one row per named sweep and model hash: its space (JSON) and the file it came from.
``sweep_points``  which points belong to which sweep (a point shared by two sweeps is priced once).
``synth``         one synthesis per ``synth_key`` (the yosys cache key: sources, top, parameters,
                  yosys version, cell tables): area_um2, clock_mhz, runtime_s.
``area_models``   per sweep, engine group and fitted quantity: the model's coefficients and its
                  leave-one-out error on each synthesised size (JSON).
``bench_runs`` / ``bench_items``   benchmark history (reports/dse/history.py): one run of
                  ``pytest --benchmark`` or of the GPU check with its machine, versions and commit,
                  and one row per benchmark item.

Only the driver process writes; Dask workers return rows. Writes are committed in batches, so a
killed sweep keeps every batch it committed (the journal is WAL).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

SCHEMA_VERSION = 1
ENV_DB = "BITWEIGHT_DB"
DEFAULT_DB = "bitweight-results.sqlite"

POINT_INPUTS = ("engine", "rows", "cols", "a_bits", "w_bits", "ifmap_kb", "filter_kb", "ofmap_kb", "bandwidth",
                "dram_latency", "network", "mapping", "dram_energy", "synthesise")
POINT_RESULTS = ("area_mm2", "array_area_mm2", "area_source", "clock_mhz", "macs", "cycles", "stall_cycles",
                 "latency_us", "energy_uj",
                 "energy_array_uj", "energy_buffers_uj", "energy_dram_uj", "power_w", "edp_uj_us", "gops",
                 "gops_per_mm2", "gops_per_w", "dram_bytes", "memory_bound_layers", "error")

_TYPES = {"engine": "TEXT", "network": "TEXT", "mapping": "TEXT", "area_source": "TEXT", "error": "TEXT",
          "dram_energy": "TEXT", "synthesise": "TEXT",
          "ifmap_kb": "REAL", "filter_kb": "REAL", "ofmap_kb": "REAL", "bandwidth": "REAL"}
_INT = {"rows", "cols", "a_bits", "w_bits", "dram_latency", "macs", "cycles", "stall_cycles", "dram_bytes",
        "memory_bound_layers"}


def _coltype(name: str) -> str:
    return _TYPES.get(name, "INTEGER" if name in _INT else "REAL")


SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE points (
    point_key TEXT PRIMARY KEY,
    model_hash TEXT NOT NULL,
    {", ".join(f"{c} {_coltype(c)} NOT NULL" for c in POINT_INPUTS)},
    {", ".join(f"{c} {_coltype(c)}" for c in POINT_RESULTS)},
    created TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX points_model ON points (model_hash);
CREATE TABLE sweeps (
    sweep_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    space_file TEXT,
    space_json TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now')),
    UNIQUE (name, model_hash)
);
CREATE TABLE sweep_points (
    sweep_id INTEGER NOT NULL REFERENCES sweeps (sweep_id),
    point_key TEXT NOT NULL REFERENCES points (point_key),
    PRIMARY KEY (sweep_id, point_key)
) WITHOUT ROWID;
CREATE TABLE synth (
    synth_key TEXT PRIMARY KEY,
    top TEXT NOT NULL,
    params_json TEXT NOT NULL,
    area_um2 REAL NOT NULL,
    clock_mhz REAL NOT NULL,
    runtime_s REAL,
    created TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE area_models (
    sweep_id INTEGER NOT NULL REFERENCES sweeps (sweep_id),
    grp TEXT NOT NULL,
    quantity TEXT NOT NULL,
    model TEXT NOT NULL,
    coefficients_json TEXT NOT NULL,
    loo_json TEXT NOT NULL,
    PRIMARY KEY (sweep_id, grp, quantity)
);
CREATE TABLE bench_runs (
    run_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    machine TEXT NOT NULL,
    machine_json TEXT NOT NULL,
    commit_id TEXT,
    versions_json TEXT NOT NULL,
    source TEXT,
    started TEXT NOT NULL
);
CREATE TABLE bench_items (
    run_id INTEGER NOT NULL REFERENCES bench_runs (run_id),
    name TEXT NOT NULL,
    grp TEXT,
    mean_s REAL,
    min_s REAL,
    stddev_s REAL,
    rounds INTEGER,
    extra_json TEXT,
    PRIMARY KEY (run_id, name)
);
"""


class StoreError(ValueError):
    """A database that cannot be used: another schema version, not a database, read-only."""


def default_path() -> Path:
    return Path(os.environ.get(ENV_DB) or DEFAULT_DB)


def connect(path: str | Path | None = None, write: bool = True) -> sqlite3.Connection:
    """Open (and, when ``write`` and missing, create) the results database at ``path``.

    Raises StoreError, naming the file, for another schema version, a file that is not an SQLite
    database, or (``write``) a file or folder that cannot be written; nothing stored is touched."""
    path = Path(path) if path is not None else default_path()
    exists = path.exists()
    if path.is_dir():
        raise StoreError(f"results database {path} is a folder; give a file name such as {DEFAULT_DB}")
    if not exists:
        if not write:
            raise StoreError(f"results database {path} does not exist (run `bitweight sweep` first, or give --db)")
        folder = path.resolve().parent
        if not folder.is_dir():
            raise StoreError(f"results database {path}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise StoreError(f"results database {path}: folder {folder} is not writable")
    elif write and not os.access(path, os.W_OK):
        raise StoreError(f"results database {path} is read-only; give a writable --db (nothing was changed)")
    uri = f"{path.resolve().as_uri()}?mode={'rwc' if write else 'ro'}"
    try:
        con = sqlite3.connect(uri, uri=True, timeout=30)
        con.row_factory = sqlite3.Row
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"results database {path} is not an SQLite database ({exc})") from None
    if not tables:
        if not write:
            raise StoreError(f"results database {path} is empty")
        with con:
            con.executescript(SCHEMA)
            con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    else:
        version = None
        if "meta" in tables:
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = row[0] if row else None
        if version != str(SCHEMA_VERSION):
            con.close()
            raise StoreError(f"results database {path} has schema version {version or 'none'}, this bitweight "
                             f"reads version {SCHEMA_VERSION}; give another --db (the file was left as it is)")
        have = {r[1] for r in con.execute("PRAGMA table_info(points)")}
        missing = [c for c in ("point_key", "model_hash") + POINT_INPUTS + POINT_RESULTS if c not in have]
        if missing:
            con.close()
            raise StoreError(f"results database {path} says schema version {SCHEMA_VERSION} but its points table "
                             f"lacks {', '.join(missing)} (written by a development build); give another --db "
                             "(the file was left as it is)")
    if write:
        try:
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.OperationalError as exc:
            con.close()
            raise StoreError(f"results database {path} cannot be written ({exc})") from None
    return con


def dumps(value) -> str:
    """Canonical JSON (sorted keys, no spaces): what the keys hash."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
