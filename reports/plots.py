"""The report's figures, each legible at page width (about 1,300 px at 120 dpi): units on every axis,
a distinct colour per series, labels that do not overlap.

* :func:`efficiency` — area efficiency against energy efficiency, one labelled point per engine
  (geometric mean over the workloads): the summary's chart;
* :func:`heatmap` — engines x workloads for one metric, each cell annotated (latency, energy per MAC);
* :func:`energy_breakdown` — energy per MAC split by component, horizontal stacked bars per engine,
  one panel per workload (small multiples instead of one 9,000 px strip);
* :func:`area` — synthesised area of each PE and each array, horizontal bars;
* :func:`quality_panels` — a quantiser's loss (1 - cosine to fp32, log) against its costs, one
  panel per cost (the mixed-precision and CBQ sections).

Figures are matplotlib ``Figure`` objects built without pyplot (no global state, no display).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

WIDTH_IN = 11.0  # inches at 120 dpi: 1,320 px, the report's column width


def _colours(n: int) -> list:
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    base = [matplotlib.colormaps["tab20"](i) for i in range(20)] + [matplotlib.colormaps["tab20b"](i) for i in range(20)]
    return [base[i % len(base)] for i in range(n)]


def efficiency(costs: pd.DataFrame):
    """GOPS/mm^2 against GOPS/W, one point per engine (geometric mean over workloads), labelled."""
    from matplotlib.figure import Figure

    g = costs.groupby("engine", sort=False)[["gops_per_mm2", "gops_per_w"]].agg(
        lambda s: float(np.exp(np.log(s[s > 0]).mean())) if (s > 0).any() else float("nan")).dropna()
    fig = Figure(figsize=(WIDTH_IN, 6.2), layout="constrained")
    ax = fig.add_subplot()
    cols = _colours(len(g))
    for (name, row), c in zip(g.iterrows(), cols):
        ax.scatter(row.gops_per_mm2, row.gops_per_w, s=45, color=c, edgecolor="black", linewidth=0.4, zorder=3)
    for axis_set, col in ((ax.set_xscale, "gops_per_mm2"), (ax.set_yscale, "gops_per_w")):
        if len(g) and g[col].max() > 8 * g[col].min():
            axis_set("log")
    ax.autoscale_view()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()  # final limits, so labels can be kept apart in pixels
    placed: list[tuple[float, float]] = []
    for name, row in g.sort_values("gops_per_w", ascending=False).iterrows():
        px, py = ax.transData.transform((row.gops_per_mm2, row.gops_per_w))
        dy = 3.0
        while any(abs(px - qx) < 9 * len(name) * 0.6 and abs(py + dy - qy) < 11 for qx, qy in placed):
            dy -= 11  # the next line down, clear of the labels already placed
        placed.append((px, py + dy))
        ax.annotate(name, (row.gops_per_mm2, row.gops_per_w), fontsize=8, xytext=(4, dy), textcoords="offset points",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.5"} if dy < -5 else None)
    ax.set_xlabel("area efficiency (GOPS / mm^2, synthesised array area) - better to the right")
    ax.set_ylabel("energy efficiency (GOPS / W, memory included) - better up")
    ax.set_title("Every priced engine: geometric mean over the workloads")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def heatmap(costs: pd.DataFrame, metric: str, label: str, lower_is_better: bool = True, log: bool = True):
    """Engines (rows) x workloads (columns) coloured by ``metric``, each cell annotated."""
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.figure import Figure

    pv = costs.pivot_table(index="engine", columns="workload", values=metric, aggfunc="first", sort=False)
    pv = pv.reindex(index=list(dict.fromkeys(costs.engine)), columns=list(dict.fromkeys(costs.workload)))
    v = pv.to_numpy(float)
    finite = v[np.isfinite(v) & (v > 0)] if log else v[np.isfinite(v)]
    fig = Figure(figsize=(WIDTH_IN, 1.6 + 0.32 * len(pv)), layout="constrained")
    ax = fig.add_subplot()
    if finite.size:
        norm = (LogNorm(finite.min(), finite.max()) if log and finite.max() > finite.min()
                else Normalize(finite.min(), finite.max() if finite.max() > finite.min() else finite.min() + 1))
    else:
        norm = Normalize(0, 1)
    cmap = "viridis_r" if not lower_is_better else "viridis"
    im = ax.imshow(np.ma.masked_invalid(v), aspect="auto", cmap=cmap, norm=norm)
    ax.set_xticks(range(pv.shape[1]), pv.columns, rotation=25, ha="right", fontsize=8)
    ax.set_yticks(range(pv.shape[0]), pv.index, fontsize=8)
    for i in range(pv.shape[0]):
        for j in range(pv.shape[1]):
            x = v[i, j]
            text = "n/a" if not np.isfinite(x) else (f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}")
            shade = norm(x) if np.isfinite(x) else 0.5
            dark = (shade > 0.55) if lower_is_better else (shade < 0.45)
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="black" if dark else "white")
    fig.colorbar(im, ax=ax, label=label, shrink=0.9)
    ax.set_title(f"{label} per engine and workload ({'lower' if lower_is_better else 'higher'} is better)")
    return fig


def energy_breakdown(costs: pd.DataFrame, components: list[str]):
    """Energy per MAC (pJ) by component: per workload a panel of horizontal stacked bars, one per engine."""
    from matplotlib.figure import Figure

    workloads = list(dict.fromkeys(costs.workload))
    engines = list(dict.fromkeys(costs.engine))
    ncols = min(3, len(workloads))
    nrows = math.ceil(len(workloads) / ncols)
    fig = Figure(figsize=(WIDTH_IN, 0.8 + nrows * (0.9 + 0.2 * len(engines))), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    cols = _colours(len(components))
    for k, w in enumerate(workloads):
        ax = axes[k // ncols][k % ncols]
        sub = costs[costs.workload == w].set_index("engine").reindex(engines)
        left = np.zeros(len(engines))
        for c, colour in zip(components, cols):
            vals = (sub[f"energy_{c}_pj"] / sub.macs).fillna(0).to_numpy()
            ax.barh(range(len(engines)), vals, left=left, color=colour, label=c.replace("_", " ") if k == 0 else None)
            left += vals
        ax.set_yticks(range(len(engines)), engines, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(w, fontsize=9)
        ax.set_xlabel("pJ per MAC", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(True, axis="x", alpha=0.3)
    for k in range(len(workloads), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    fig.legend(loc="outside lower center", ncols=len(components), fontsize=8)
    fig.suptitle("Energy per useful MAC by component (45 nm, dynamic)", fontsize=10)
    return fig


def area(synth_df: pd.DataFrame):
    """Synthesised area: PEs (um^2) and arrays (mm^2), horizontal bars split into logic and flip-flops."""
    from matplotlib.figure import Figure

    roles = [r for r in ("pe", "array") if r in set(synth_df.role)]
    n = max(len(synth_df[synth_df.role == r]) for r in roles) if roles else 1
    fig = Figure(figsize=(WIDTH_IN, 1.4 + 0.26 * n), layout="constrained")
    axes = fig.subplots(1, max(1, len(roles)), squeeze=False)[0]
    for ax, role in zip(axes, roles):
        sub = synth_df[synth_df.role == role]
        scale, unit = (1.0, "um^2") if role == "pe" else (1e-6, "mm^2")
        y = range(len(sub))
        ax.barh(y, sub.comb_area_um2 * scale, color="#4C72B0", label="combinational")
        ax.barh(y, sub.seq_area_um2 * scale, left=sub.comb_area_um2 * scale, color="#DD8452", label="flip-flops")
        ax.set_yticks(y, [f"{e} ({t})" for e, t in zip(sub.engine, sub.top)], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"cell area ({unit})")
        ax.set_title("PE alone" if role == "pe" else "whole array (buffers and control included)", fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Synthesised standard-cell area (NanGate 45 nm X1 equivalents)", fontsize=10)
    return fig


def quality_panels(panels, draw):
    """A figure of side-by-side panels, one per ``(column, axis label)`` of ``panels``: 1 - the
    held-out mean cosine to fp32 (log scale) against that cost; ``draw(ax, column)`` plots every
    series of the panel. The legend is on the first panel."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2))
    axes = [fig.add_subplot(1, len(panels), i + 1) for i in range(len(panels))]
    for ax, (x, label) in zip(axes, panels):
        draw(ax, x)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("1 - mean cosine to fp32 (held-out)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
