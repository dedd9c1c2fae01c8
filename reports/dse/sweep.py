"""The sweep driver: a declared design space priced on Dask, every point stored in SQLite, resumable.

    bitweight sweep SPACE.toml [--db FILE] [--scheduler ADDRESS] [--workers N] [--chunk N]

1. The space file is checked (reports/dse/space.py) and the database opened (reports/dse/store.py)
   before any work: a bad key, an unreachable scheduler or a read-only database stops here.
2. Points already stored under the current model hash are skipped: a killed sweep resumes where
   it stopped, and a repeated one computes nothing.
3. Syntheses: for each engine and operand widths, the array sizes the space asks to synthesise
   (``[area] synthesise``) run as their own Dask tasks, one per distinct yosys cache key (the
   database's ``synth`` table first, then the task key, so no netlist is synthesised twice in the
   cluster; every worker also keeps yosys's own file cache). The other sizes take area and clock
   from the fitted model (reports/dse/areamodel.py), whose leave-one-out error is stored and shown.
4. Points are priced in chunks (tens to hundreds of points per task: a Dask task costs about
   200 us) by reports/dse/evaluate.py; each finished chunk is written and committed by this
   process alone, with a progress bar (tqdm: rate and ETA).

The default cluster is a local one, one single-threaded worker process per core. ``--scheduler``
runs the same sweep on a running Dask cluster (``dask scheduler`` / ``dask worker ADDRESS``); its
workers need this bitweight installed, and a worker whose cost model differs is refused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reports.dse import areamodel, evaluate, store
from reports.dse.space import Space


class SweepError(RuntimeError):
    """A sweep that could not run or finish; what was stored stays stored."""


@dataclass
class Summary:
    sweep: str
    sweep_id: int
    points: int
    stored_before: int
    computed: int
    errors: int
    syntheses_run: int  # yosys ran
    syntheses_reused: int  # from the results database or the yosys cache
    seconds: float
    workers: int
    area_models: list = field(default_factory=list)

    @property
    def rate_per_min(self) -> float:
        return 60 * self.computed / self.seconds if self.seconds > 0 else float("nan")


def synth_task(top: str, params: dict) -> dict:
    """One yosys synthesis (a Dask task): area and clock."""
    from reports import synth
    from rtl_models.synth import verilog_sources

    res = synth.synthesize(verilog_sources(top), top, params, progress=None)
    return {"area_um2": res.area_um2, "clock_mhz": res.est_clock_mhz, "runtime_s": res.synth_runtime_s,
            "yosys_ran": not res.cached}


def synth_key(top: str, params: dict) -> str:
    from reports import synth
    from rtl_models.synth import verilog_sources

    return synth._cache_key(verilog_sources(top), top, params)


@contextlib.contextmanager
def client_for(scheduler: str | None, workers: int | None, log: Callable[[str], None]):
    """A Dask client: on ``scheduler`` (an address) or on a local cluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="5s")
        except ValueError as exc:
            raise SweepError(f"--scheduler {scheduler!r}: {exc} (an address reads tcp://HOST:PORT)") from None
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"cannot reach the Dask scheduler at {scheduler} ({exc.__class__.__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'no answer'})") from None
        try:
            n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            if n == 0:
                log(f"Dask scheduler {scheduler} has no workers yet; tasks wait for one")
            yield client, max(n, 1)
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           scheduler_kwargs={"dashboard": False}, silence_logs=logging.CRITICAL)
    client = Client(cluster)
    try:
        yield client, n
    finally:
        client.close()
        cluster.close()


def _progress_bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="pt" if desc.startswith("pric") else "synth", disable=not enabled,
                dynamic_ncols=True, smoothing=0.1)


def _register(con, space: Space, mhash: str) -> int:
    with con:
        con.execute("INSERT INTO sweeps (name, model_hash, space_file, space_json) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (name, model_hash) DO UPDATE SET space_file = excluded.space_file, "
                    "space_json = excluded.space_json", (space.name, mhash, space.source, store.dumps(space.to_json())))
        sid = con.execute("SELECT sweep_id FROM sweeps WHERE name = ? AND model_hash = ?",
                          (space.name, mhash)).fetchone()[0]
        con.execute("DELETE FROM sweep_points WHERE sweep_id = ?", (sid,))
    return sid


def _insert(con, sid: int, rows: list[dict]) -> None:
    cols = ("point_key", "model_hash") + store.POINT_INPUTS + store.POINT_RESULTS
    sql = f"INSERT OR IGNORE INTO points ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    with con:
        con.executemany(sql, [tuple(r.get(c) for c in cols) for r in rows])
        con.executemany("INSERT OR IGNORE INTO sweep_points VALUES (?, ?)", [(sid, r["point_key"]) for r in rows])


def _designs(space: Space, missing: list[dict]) -> tuple[dict, dict, list]:
    """design_key -> (top, params, synthesise?) for every design the missing points need, and the
    groups (engine, a_bits, w_bits) -> {(rows, cols): (top, params, units)} to synthesise for the fits."""
    from reports.dse.evaluate import engine_record, design_key, sized_config

    need = {design_key(p) for p in missing}
    groups: dict = {}
    for eng, r, c, a, w in need:
        groups.setdefault((eng, a, w), set()).add((r, c))
    to_synth = {}
    for (eng, a, w), sizes in groups.items():
        want = set(sizes) if space.synthesise == "all" else {(s, s) for s in space.synthesise}
        spec = engine_record(eng)
        for r, c in sorted(want):
            cfg = sized_config(eng, r, c, a, w)
            to_synth[(eng, r, c, a, w)] = (spec.rtl_top, spec.rtl_params(cfg), spec.mac_units(cfg))
    return need, groups, to_synth


def run(space: Space, db: str | None = None, scheduler: str | None = None, workers: int | None = None,
        chunk: int | None = None, progress: bool = True, log: Callable[[str], None] = print) -> Summary:
    """Price every point of ``space`` not yet stored in ``db`` (module docstring)."""
    t0 = time.perf_counter()
    if workers is not None and workers < 1:
        raise SweepError(f"workers must be a positive integer, got {workers}")
    if chunk is not None and chunk < 1:
        raise SweepError(f"chunk must be a positive integer, got {chunk}")
    con = store.connect(db)
    try:
        mhash = evaluate.model_hash()
        from reports.dse.space import points as space_points

        pts = space_points(space)
        for p in pts:
            p["point_key"] = evaluate.point_key(p, mhash)
        stored = {r[0] for r in con.execute("SELECT point_key FROM points WHERE model_hash = ?", (mhash,))}
        missing = [p for p in pts if p["point_key"] not in stored]
        sid = _register(con, space, mhash)
        have = [p["point_key"] for p in pts if p["point_key"] in stored]
        with con:
            con.executemany("INSERT OR IGNORE INTO sweep_points VALUES (?, ?)", [(sid, k) for k in have])
        dropped = "".join(f"; {n} combinations left out: {why}" for why, n in space.dropped.items())
        log(f"sweep {space.name}: {len(pts)} design points, {len(pts) - len(missing)} already stored, "
            f"{len(missing)} to price (model {mhash}){dropped}")
        summary = Summary(space.name, sid, len(pts), len(pts) - len(missing), 0, 0, 0, 0, 0.0, 0)
        if not missing:
            if scheduler:  # nothing to do, but a scheduler that cannot be reached is still said
                with client_for(scheduler, workers, log):
                    pass
            summary.seconds = time.perf_counter() - t0
            summary.area_models = _stored_models(con, sid)
            return summary
        need, groups, to_synth = _designs(space, missing)
        keys = {d: synth_key(top, params) for d, (top, params, _) in to_synth.items()}
        known = {r["synth_key"]: r for r in con.execute(
            f"SELECT * FROM synth WHERE synth_key IN ({', '.join('?' * len(set(keys.values())))})",
            tuple(set(keys.values())))}
        with client_for(scheduler, workers, log) as (client, nworkers):
            summary.workers = nworkers
            where = f"Dask scheduler {scheduler}" if scheduler else "a local Dask cluster"
            log(f"on {where} with {nworkers} worker{'s' if nworkers > 1 else ''}")
            results = _synthesise(client, con, to_synth, keys, known, progress, log)
            summary.syntheses_run = sum(bool(r.get("yosys_ran")) for r in results.values())
            summary.syntheses_reused = len(set(keys.values())) - summary.syntheses_run
            designs, models = _fit(groups, to_synth, keys, results, need)
            _store_models(con, sid, models)
            summary.computed, summary.errors = _price(client, con, sid, space, missing, designs, mhash, nworkers,
                                                      chunk, progress, log)
        summary.area_models = _stored_models(con, sid)
        summary.seconds = time.perf_counter() - t0
        return summary
    finally:
        con.close()


def _synthesise(client, con, to_synth: dict, keys: dict, known: dict, progress: bool, log) -> dict:
    """synth_key -> {area_um2, clock_mhz}: stored ones, and new ones run as Dask tasks and stored."""
    from distributed import as_completed

    out = {k: dict(r) for k, r in known.items()}
    todo = {}
    for d, (top, params, _) in to_synth.items():
        k = keys[d]
        if k not in out and k not in todo:
            todo[k] = client.submit(synth_task, top, params, key=f"synth-{k}", pure=False)
    if not todo:
        return out
    log(f"synthesising {len(todo)} array size(s) for the area and clock model (yosys; cached after the first run)")
    back = {f.key: k for k, f in todo.items()}
    with _progress_bar(len(todo), "synthesis", progress) as bar:
        for fut in as_completed(list(todo.values())):
            k = back[fut.key]
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - the worker's error, reported in one line
                raise SweepError(f"synthesis failed: {exc.__class__.__name__}: {exc}") from None
            top, params = next((t, p) for d, (t, p, _) in to_synth.items() if keys[d] == k)
            with con:
                con.execute("INSERT OR REPLACE INTO synth (synth_key, top, params_json, area_um2, clock_mhz, runtime_s)"
                            " VALUES (?, ?, ?, ?, ?, ?)", (k, top, store.dumps(params), res["area_um2"],
                                                            res["clock_mhz"], res["runtime_s"]))
            out[k] = res
            bar.update(1)
            if not progress:  # no bar (not a terminal): a line per synthesis, so the log never goes quiet
                label = f"{top} {' '.join(f'{p}={v}' for p, v in params.items())}"
                took = (f"{res['runtime_s']:.1f} s" if res.get("yosys_ran")
                        else f"from the yosys cache ({res['runtime_s']:.1f} s when run)")
                log(f"synthesis [{len(out) - len(known)}/{len(todo)}] {label}: {took}")
    return out


def _fit(groups: dict, to_synth: dict, keys: dict, results: dict, need: set) -> tuple[dict, list]:
    from reports.dse.evaluate import engine_record, sized_config

    designs, models = {}, []
    for (eng, a, w), sizes in groups.items():
        samples = {q: [] for q in ("area", "clock")}
        for (e2, r, c, a2, w2), (_, _, units) in to_synth.items():
            if (e2, a2, w2) == (eng, a, w):
                res = results[keys[(e2, r, c, a2, w2)]]
                samples["area"].append((units, r, c, res["area_um2"]))
                samples["clock"].append((units, r, c, res["clock_mhz"]))
        fits = {q: areamodel.fit(q, s) for q, s in samples.items()}
        group = f"{eng} a{a} w{w}"
        for q, f in fits.items():
            models.append({"group": group, "quantity": q, "model": f.model, "coefficients": f.coefficients,
                           "synthesised": sorted((r, c) for _, r, c, _ in samples[q]),
                           "loo": areamodel.leave_one_out(q, samples[q])})
        spec = engine_record(eng)
        for r, c in sizes:
            d = (eng, r, c, a, w)
            if d in to_synth:
                res = results[keys[d]]
                designs[d] = (res["area_um2"], res["clock_mhz"], "synth")
            else:
                units = spec.mac_units(sized_config(eng, r, c, a, w))
                area, clock = fits["area"].predict(units, r, c), fits["clock"].predict(units, r, c)
                if area <= 0 or clock <= 0:
                    raise SweepError(f"the fitted model gives {eng} at {r}x{c} a non-positive area or clock "
                                     f"({area:.4g} um^2, {clock:.4g} MHz): synthesise sizes nearer it "
                                     "([area] synthesise)")
                designs[d] = (area, clock, "fit")
    return designs, models


def _store_models(con, sid: int, models: list) -> None:
    with con:
        for m in models:
            con.execute("INSERT OR REPLACE INTO area_models VALUES (?, ?, ?, ?, ?, ?)",
                        (sid, m["group"], m["quantity"], m["model"],
                         store.dumps({"coefficients": m["coefficients"], "synthesised": m["synthesised"]}),
                         store.dumps(m["loo"])))


def _stored_models(con, sid: int) -> list:
    import json

    out = []
    for r in con.execute("SELECT * FROM area_models WHERE sweep_id = ?", (sid,)):
        coef = json.loads(r["coefficients_json"])
        out.append({"group": r["grp"], "quantity": r["quantity"], "model": r["model"],
                    "coefficients": coef["coefficients"], "synthesised": coef["synthesised"],
                    "loo": json.loads(r["loo_json"])})
    return out


def _price(client, con, sid: int, space: Space, missing: list, designs: dict, mhash: str, nworkers: int,
           chunk: int | None, progress: bool, log: Callable[[str], None] = print) -> tuple[int, int]:
    from distributed import as_completed

    size = chunk or max(20, min(250, len(missing) // (nworkers * 8) or 1))
    futures = []
    for i in range(0, len(missing), size):
        part = [{k: v for k, v in p.items() if k != "point_key"} for p in missing[i:i + size]]
        sub = {evaluate.design_key(p): designs[evaluate.design_key(p)] for p in part}
        futures.append(client.submit(evaluate.evaluate_chunk, part, sub, space.dram_energy, space.topologies, mhash,
                                     pure=False))
    computed = errors = 0
    t_start = time.perf_counter()
    with _progress_bar(len(missing), "pricing", progress) as bar:
        try:
            for fut in as_completed(futures):
                try:
                    rows = fut.result()
                except Exception as exc:  # noqa: BLE001 - the worker's error, reported in one line
                    raise SweepError(f"a chunk of points failed on a worker: {exc.__class__.__name__}: {exc} "
                                     f"({computed} points stored; rerun to resume)") from None
                _insert(con, sid, rows)
                before, computed = computed, computed + len(rows)
                errors += sum(r["error"] is not None for r in rows)
                bar.update(len(rows))
                if not progress and computed * 10 // len(missing) > before * 10 // len(missing):
                    rate = computed / max(time.perf_counter() - t_start, 1e-9)
                    log(f"priced {computed}/{len(missing)} points ({rate:,.0f} points/s, about "
                        f"{(len(missing) - computed) / rate:.0f} s left)")
        finally:
            for fut in futures:
                fut.cancel()
    return computed, errors


def describe(summary: Summary) -> str:
    """What a sweep did, and the area/clock model's leave-one-out error, as lines for the terminal."""
    rate = (f" = {summary.rate_per_min:,.0f} points/min on {summary.workers} worker"
            f"{'s' if summary.workers > 1 else ''}") if summary.computed else ""
    lines = [f"done: {summary.stored_before} points were stored, {summary.computed} priced now in "
             f"{summary.seconds:.1f} s{rate}"]
    if summary.errors:
        lines.append(f"{summary.errors} points are not designs (a buffer smaller than one tile of a layer): stored "
                     "with their error, left out of the fronts")
    if summary.syntheses_run or summary.syntheses_reused:
        lines.append(f"syntheses: {summary.syntheses_run} run by yosys, {summary.syntheses_reused} reused (results "
                     "database or yosys cache)")
    if summary.area_models:
        lines.append("area and clock of sizes not synthesised: " + areamodel.AREA_MODEL + "; " + areamodel.CLOCK_MODEL
                     + "; leave-one-out error at each synthesised size:")
        for m in summary.area_models:
            errs = ", ".join(f"{e['rows']}x{e['cols']} {100 * e['rel_error']:+.1f}%" for e in m["loo"])
            lines.append(f"  {m['group']:14} {m['quantity']:5} synthesised "
                         f"{', '.join(f'{r}x{c}' for r, c in m['synthesised'])}: {errs or 'one size, no error estimate'}")
    return "\n".join(lines)
