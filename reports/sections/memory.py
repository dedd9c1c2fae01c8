"""The memory system on whole networks: a 7B-class LLM decoder block at decode and prefill,
BERT-base and ResNet-18, through the INT8, weight-only low-bit and input-stationary arrays, with
a roofline per engine.

Every layer runs through sim/memory.py with the report's memory (reports/memory.py
``REPORT_MEMORY``) and the mapping that minimises latency; energy by level (MAC, registers,
buffers, DRAM) from each engine's event table plus the memory system's buffer fills and DRAM
bytes. No synthesis: latency in cycles, energy in pJ, so the section is quick.

Roofline: per engine, attained MACs per cycle against operational intensity (MACs per DRAM
byte); the roof is min(the engine's multiply units, DRAM bytes per cycle x intensity), and each
layer sits at (its MACs / its DRAM bytes, its MACs / its total cycles).
"""

from __future__ import annotations

import pandas as pd

from reports import cost
from reports import memory as memcost
from sim.networks import bert_base, llama7b_decoder, minilm, resnet18
from sim.topology import ArchConfig

#: the engines of the section's table and roofline: those whose records join the "memory" table
#: (reports/engine.py ``tables``), in this order (the INT8 arrays first,
#: then the others in the registry's order)
ORDER_HINT = ("os", "ws", "is")


def memory_engines() -> tuple[str, ...]:
    from reports.registry import engines

    found = engines(table="memory", sized=True)
    if not found:
        raise RuntimeError("no engine joins the 'memory' table (reports/engine.py ``tables``)")
    missing = [n for n, e in found.items() if e.estimate is None]
    if missing:
        raise RuntimeError(f"engines {', '.join(missing)} join the 'memory' table but have no data-free estimate")
    # a stable sort: the hinted ones first, the rest in the registry's order
    return tuple(sorted(found, key=lambda n: ORDER_HINT.index(n) if n in ORDER_HINT else len(ORDER_HINT)))


def networks(quick: bool = False) -> dict[str, list]:
    if quick:  # small layers: the engines' whole-layer event estimates step fold by fold
        return {"minilm_1tok": minilm(1)[-2:], "bert_base_8tok": bert_base(8)[-2:]}
    out = {f"llama7b_{t}tok": llama7b_decoder(t) for t in (1, 16, 128, 2048)}
    out["bert_base_128tok"] = bert_base(128)
    out["resnet18"] = resnet18()
    return out


def memory_table(size: int = 16, quick: bool = False, progress=print) -> pd.DataFrame:
    from reports.registry import get_engine

    mem = memcost.REPORT_MEMORY
    arch = ArchConfig(size, size, "os")
    rows = []
    for name in memory_engines():
        e = get_engine(name)
        cfg = e.sizing.config(arch)
        table = e.energy_table(cfg)
        units = e.mac_units(cfg)
        for net, layers in networks(quick).items():
            progress(f"report: memory, {name} {size}x{size} on {net}")
            for layer in layers:
                res = memcost.layer_memory(e, cfg, layer.m, layer.n, layer.k, mem, "latency", (size, size, size))
                est = e.estimate_gemm(layer.m, layer.n, layer.k, cfg)
                by = cost.energy_by_component_pj({k: int(v) for k, v in est.events.items()}, table)
                me = memcost.memory_energy(res, mem)
                by["buffers"] += me.buffers_pj
                by["dram"] += me.dram_pj
                r = layer.repeat
                macs = layer.macs
                rows.append({
                    "engine": f"{name}_{size}x{size}", "network": net, "layer": layer.name,
                    "M": layer.m, "N": layer.n, "K": layer.k, "repeat": r, "macs": macs,
                    "compute_cycles": res.compute_cycles * r, "stall_cycles": res.stall_cycles * r,
                    "total_cycles": res.total_cycles * r, "bound": res.bound, "mapping": res.mapping.describe(),
                    "dram_bytes": res.dram_bytes * r, "macs_per_dram_byte": macs / (res.dram_bytes * r),
                    "macs_per_cycle": macs / (res.total_cycles * r), "peak_macs_per_cycle": units,
                    "energy_per_mac_pj": sum(by.values()) * r / macs,
                    **{f"{c}_pj_per_mac": by[c] * r / macs for c in cost.COMPONENTS},
                })
    return pd.DataFrame(rows)


def network_totals(df: pd.DataFrame) -> pd.DataFrame:
    """One row per engine and network: cycles, stalls, DRAM bytes, energy per MAC by level."""
    g = df.assign(energy_pj=df.energy_per_mac_pj * df.macs,
                  **{f"{c}_pj": df[f"{c}_pj_per_mac"] * df.macs for c in cost.COMPONENTS})
    agg = g.groupby(["engine", "network"], sort=False).agg(
        macs=("macs", "sum"), total_cycles=("total_cycles", "sum"), stall_cycles=("stall_cycles", "sum"),
        dram_bytes=("dram_bytes", "sum"), energy_pj=("energy_pj", "sum"),
        memory_bound_layers=("bound", lambda b: int((b == "memory").sum())), layers=("bound", "size"),
        **{f"{c}_pj": (f"{c}_pj", "sum") for c in cost.COMPONENTS}).reset_index()
    agg["stall_share"] = agg.stall_cycles / agg.total_cycles
    agg["energy_per_mac_pj"] = agg.energy_pj / agg.macs
    for c in cost.COMPONENTS:
        agg[f"{c}_share"] = agg[f"{c}_pj"] / agg.energy_pj
    return agg.drop(columns=[f"{c}_pj" for c in cost.COMPONENTS])


def roofline(df: pd.DataFrame, bandwidth: float):
    from matplotlib.figure import Figure

    engines = list(dict.fromkeys(df.engine))
    fig = Figure(figsize=(4.2 * len(engines), 3.8))
    axes = fig.subplots(1, len(engines), sharey=True, squeeze=False)[0]
    nets = list(dict.fromkeys(df.network))
    cmap = {n: f"C{i}" for i, n in enumerate(nets)}
    lo, hi = df.macs_per_dram_byte.min() / 2, df.macs_per_dram_byte.max() * 2
    for ax, eng in zip(axes, engines):
        d = df[df.engine == eng]
        peak = d.peak_macs_per_cycle.iloc[0]
        xs = [lo, peak / bandwidth, hi]
        ax.plot(xs, [min(peak, bandwidth * x) for x in xs], color="black", lw=1.2)
        for net in nets:
            dn = d[d.network == net]
            ax.scatter(dn.macs_per_dram_byte, dn.macs_per_cycle, s=14, color=cmap[net], label=net, alpha=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(eng, fontsize=9)
        ax.set_xlabel("MACs per DRAM byte")
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
    axes[0].set_ylabel("MACs per cycle (attained)")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


ORDER = 25  # its place in the report: reports/sections/ runs its modules by ORDER


def report_sections(progress=print, quick: bool = False) -> list:
    from reports.build import ReportSection

    size = 4 if quick else 16
    df = memory_table(size, quick, progress)
    totals = network_totals(df)
    mem = memcost.REPORT_MEMORY
    note = (f"Every layer through the memory model (sim/memory.py): {memcost.REPORT_MEMORY_NOTE}; the tiling and "
            "loop order that minimise latency; DRAM at Horowitz's 1.3 nJ per 64 bits; weights at their packed "
            "width. One row per engine and network (the per-layer rows are in memory_layers.csv): cycles with "
            "stalls, the share of cycles stalled, DRAM bytes, how many layers are memory-bound (the DRAM port "
            "busier than the engine), energy per MAC and the share of each level. The LLM rows at 1 token are a "
            "decode step: every weight byte is read for one token.")
    layer_note = ("Per layer: the mapping chosen (order outer to inner, tile M x N x K), compute and stall cycles, "
                  "DRAM bytes, operational intensity and attained MACs per cycle (the roofline's coordinates), "
                  "energy per MAC by level.")
    return [
        ReportSection("Memory system: networks on each engine", "memory_networks.csv", totals, note,
                      figure=roofline(df, mem.dram.bandwidth),
                      figure_caption=f"Roofline per engine ({size}x{size}, {mem.dram.bandwidth:g} DRAM bytes per "
                                     "cycle): each dot is a layer; the line is min(peak, bandwidth x intensity)."),
        ReportSection("Memory system: every layer", "memory_layers.csv", df, layer_note),
    ]
