"""Reading the results database: points of a sweep, constraints, Pareto fronts, plots.

    bitweight results [--db FILE] [--sweep NAME] [--pareto energy_uj,latency_us]
                      [--where "area_mm2 <= 4"] ... [--csv OUT] [--limit N] [--all-models]

Rows come from the current model hash only (a point priced by another version of the cost model
is never mixed in), unless ``--all-models``. ``feasible`` marks the points that meet the sweep's
constraints (and every ``--where``); ``pareto`` the feasible points no other feasible point of
the same network dominates on the chosen objectives (each minimised, or maximised where larger is better: see
reports/dse/space.py OBJECTIVES).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from reports.dse import store
from reports.dse.space import OBJECTIVES, Constraint, SpaceError, parse_constraint


def pareto_mask(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """Mask of the rows of ``values`` (points x objectives) that no other row dominates (at least
    as good in every objective and better in one); equal rows do not dominate each other.

    Sort-and-sweep: rows sorted lexicographically can only be dominated by earlier rows, and a row
    dominated by anything is dominated by a front row, so each row is held against the front found
    so far (n log n + n x front size)."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[1] != len(maximise):
        raise ValueError(f"values must be points x {len(maximise)} objectives, got shape {v.shape}")
    if v.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    if not np.isfinite(v).all():
        raise ValueError("objective values must be finite")
    v = np.where(np.asarray(maximise, dtype=bool), -v, v)  # all minimised
    order = np.lexsort(v.T[::-1])
    mask = np.zeros(len(v), dtype=bool)
    front = np.empty((0, v.shape[1]))
    for i in order:
        p = v[i]
        if len(front) and ((front <= p).all(axis=1) & (front < p).any(axis=1)).any():
            continue
        mask[i] = True
        front = np.vstack([front, p])
    return mask


def pareto_front(x: Sequence[float], y: Sequence[float]) -> np.ndarray:
    """Two objectives, both larger-is-better (area efficiency, energy efficiency)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of one length, got shapes {x.shape} and {y.shape}")
    return pareto_mask(np.stack([x, y], axis=1), [True, True])


def parse_where(text: str, where: str = "--where") -> Constraint:
    """``"area_mm2 <= 4"`` (spaces optional) as a Constraint."""
    for op in ("<=", ">="):
        name, sep, bound = text.partition(op)
        if sep:
            return parse_constraint(name.strip(), f"{op} {bound.strip()}", f"{where} {text!r}")
    raise SpaceError(f'{where} {text!r}: must read "OBJECTIVE <= NUMBER" or "OBJECTIVE >= NUMBER"')


def sweeps(db=None) -> pd.DataFrame:
    con = store.connect(db, write=False)
    try:
        return pd.read_sql_query(
            "SELECT s.sweep_id, s.name, s.model_hash, s.space_file, s.created, COUNT(sp.point_key) AS points "
            "FROM sweeps s LEFT JOIN sweep_points sp USING (sweep_id) GROUP BY s.sweep_id ORDER BY s.sweep_id", con)
    finally:
        con.close()


def load(db=None, sweep: str | None = None, pareto: Sequence[str] | None = None,
         where: Sequence[Constraint] = (), all_models: bool = False) -> pd.DataFrame:
    """The points of ``sweep`` (default: the latest sweep of the current model), with ``feasible``
    and ``pareto`` columns; ``pareto``: the objectives (default: the sweep's own)."""
    from reports.dse.evaluate import model_hash

    con = store.connect(db, write=False)
    try:
        mhash = model_hash()
        q = "SELECT * FROM sweeps" + ("" if all_models else " WHERE model_hash = ?")
        args: tuple = () if all_models else (mhash,)
        if sweep is not None:
            q += (" AND" if not all_models else " WHERE") + " name = ?"
            args += (sweep,)
        rows = con.execute(q + " ORDER BY sweep_id DESC", args).fetchall()
        if not rows:
            known = [r[0] for r in con.execute("SELECT DISTINCT name FROM sweeps")]
            what = f"sweep {sweep!r}" if sweep else "sweep"
            hint = (f"; stored sweeps: {', '.join(known)} (rerun `bitweight sweep` to price them with this "
                    "cost model, or give --all-models)") if known else " (run `bitweight sweep SPACE.toml` first)"
            raise SpaceError(f"results database {db or store.default_path()} has no {what} priced by this cost "
                             f"model (model {mhash}){hint}")
        space = json.loads(rows[0]["space_json"])
        ids = [r["sweep_id"] for r in rows] if sweep is not None and all_models else [rows[0]["sweep_id"]]
        df = pd.read_sql_query(
            f"SELECT p.*, s.name AS sweep FROM points p JOIN sweep_points sp USING (point_key) "
            f"JOIN sweeps s ON s.sweep_id = sp.sweep_id WHERE sp.sweep_id IN ({', '.join('?' * len(ids))}) "
            "ORDER BY p.engine, p.network, p.rows, p.cols, p.a_bits, p.w_bits, p.ifmap_kb, p.filter_kb, p.ofmap_kb, "
            "p.bandwidth, p.dram_latency, p.mapping", con, params=tuple(ids))
    finally:
        con.close()
    constraints = [parse_where(c, "the sweep's constraint") for c in space.get("constraints", [])] + list(where)
    objectives = list(pareto or space.get("pareto") or ("energy_uj", "latency_us"))
    for o in objectives:
        if o not in OBJECTIVES:
            raise SpaceError(f"--pareto: unknown objective {o!r} (known: {', '.join(OBJECTIVES)})")
    ok = df["error"].isna()
    for c in constraints:
        ok &= df[c.objective].notna() & c.holds(df[c.objective].fillna(np.nan))
    df["feasible"] = ok
    df["pareto"] = False
    for _, idx in df[ok].groupby("network").groups.items():  # a front per network: its points compete
        df.loc[idx, "pareto"] = pareto_mask(df.loc[idx, objectives].to_numpy(float),
                                            [OBJECTIVES[o][1] for o in objectives])
    df.attrs.update(objectives=objectives, constraints=[str(c) for c in constraints], space=space)
    return df


def figure(df: pd.DataFrame, x: str | None = None, y: str | None = None):
    """The feasible points of a sweep on two objectives, one panel per network, coloured by engine,
    each network's Pareto front joined."""
    import matplotlib
    from matplotlib.figure import Figure

    objectives = df.attrs.get("objectives", ["energy_uj", "latency_us"])
    x, y = x or objectives[0], y or objectives[1]
    networks = sorted(df.network.unique()) or ["(none)"]
    fig = Figure(figsize=(min(4.8 * len(networks), 15), 4.6), layout="constrained")
    axes = fig.subplots(1, len(networks), squeeze=False)[0]
    colours = {e: matplotlib.colormaps["tab10"](i % 10) for i, e in enumerate(sorted(df.engine.unique()))}
    for ax, net in zip(axes, networks):
        here = df[df.network == net]
        feas = here[here.feasible]
        for eng, sub in feas.groupby("engine"):
            ax.scatter(sub[x], sub[y], s=9, alpha=0.4, color=colours[eng], label=eng)
        front = feas[feas.pareto].sort_values(x)
        ax.plot(front[x], front[y], "k.--", lw=1, ms=6, label=f"Pareto front ({len(front)})")
        if feas.empty:
            ax.text(0.5, 0.5, "no design point meets the constraints", ha="center", transform=ax.transAxes)
        else:
            for col, set_scale in ((x, ax.set_xscale), (y, ax.set_yscale)):
                if (feas[col] > 0).all() and feas[col].max() > 10 * feas[col].min():  # wide ranges: log
                    set_scale("log")
        ax.set_xlabel(f"{x} ({OBJECTIVES[x][0]})")
        ax.set_ylabel(f"{y} ({OBJECTIVES[y][0]})")
        left_out = len(here) - len(feas)
        ax.set_title(f"{net}: {len(feas)} feasible points" + (f", {left_out} outside the constraints" if left_out
                                                                else ""), fontsize=9)
        ax.legend(fontsize=7)
    return fig
