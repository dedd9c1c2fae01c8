"""A whole network's layers through one array: SCALE-Sim's compute-report columns plus ours.

    bitweight layers --topology net.csv --config scale.cfg [--costs] [--out layers.csv]

SCALE-Sim's columns (per layer): total cycles, stall cycles, overall utilisation, mapping
efficiency, compute utilisation, SRAM reads of the ifmap and filter operands and SRAM writes of
the ofmap. Stall cycles are zero here: our cycle models assume operands arrive on time (no SRAM or
DRAM bandwidth model), so overall and compute utilisation coincide; SCALE-Sim's can differ.
With ``costs``, each layer also gets energy, latency and area: the array is synthesised at the
config's size (cached; a 32 x 32 array takes minutes the first time) and priced like the report.

``engine`` runs the layers through any registered engine that takes an M x N x K GEMM sized from
the config's ArrayHeight (H) and ArrayWidth (W): its record's ``sizing`` (reports/engines/) says how
(``bitweight engines`` lists each with its sizing). Mapping efficiency is useful MACs over the
engine's multiply slots. ``--costs`` prices every engine: its Verilog top synthesised at the sized
configuration (area and clock) and its events priced by its record's event -> energy table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from reports import cost, synth
from rtl_models.synth import verilog_sources
from sim.topology import ArchConfig, Layer

SCALE_SIM_COLUMNS = ["LayerID", "Layer", "Total Cycles", "Stall Cycles", "Overall Util %",
                     "Mapping Efficiency %", "Compute Util %",
                     "SRAM IFMAP Reads", "SRAM Filter Reads", "SRAM OFMAP Writes"]


def layer_table(layers: Sequence[Layer], arch: ArchConfig, costs: bool = False,
                progress: Callable[[str], None] | None = None, engine: str | None = None) -> pd.DataFrame:
    """One row per layer and a final ``total`` row (``engine``: a registered engine with a sizing;
    default the config's dataflow, os or ws)."""
    from reports.registry import engines

    name = engine or arch.dataflow
    sized = engines(sized=True)
    if name not in sized:
        raise ValueError(f"engine must be one of {', '.join(sized)}, got {name!r}")
    spec = sized[name]
    slots_event, (ifmap_ev, filter_ev, ofmap_ev) = spec.sizing.slots_event, spec.sizing.sram_events
    cfg = spec.sizing.config(arch)
    pes = spec.mac_units(cfg)
    pricing = None
    if costs:
        if progress:
            progress(f"synthesising {spec.rtl_top} for {name} (cached after the first run; large arrays take minutes)")
        res = synth.synthesize(verilog_sources(spec.rtl_top), spec.rtl_top, spec.rtl_params(cfg),
                               progress=progress)
        pricing = (res.est_clock_mhz, res.area_um2, spec.energy_table(cfg))
    rows = []
    for i, layer in enumerate(layers):
        if progress:
            progress(f"layer {i} {layer.name}: M={layer.m} N={layer.n} K={layer.k}"
                     + (f" x {layer.repeat}" if layer.repeat > 1 else ""))
        est = spec.estimate_gemm(layer.m, layer.n, layer.k, cfg)
        events = {k: v * layer.repeat for k, v in est.events.items()}
        macs = layer.macs
        cycles = est.cycles * layer.repeat
        util = 100 * macs / (cycles * pes)
        slots = events[slots_event] if slots_event else cycles * pes
        row = {
            "LayerID": i, "Layer": layer.name, "M": layer.m, "N": layer.n, "K": layer.k, "repeat": layer.repeat,
            "Total Cycles": cycles, "Stall Cycles": 0, "Overall Util %": util,
            "Mapping Efficiency %": 100 * macs / slots, "Compute Util %": util,
            "SRAM IFMAP Reads": events[ifmap_ev], "SRAM Filter Reads": events[filter_ev],
            "SRAM OFMAP Writes": events[ofmap_ev] if ofmap_ev else 4 * layer.m * layer.n * layer.repeat,
            "macs": macs,
        }
        if pricing:
            clock, area, energy_table = pricing
            # a depthwise layer is `repeat` independent GEMMs: price them as one with K x repeat MACs per output
            c = cost.gemm_cost(engine=name, workload=layer.name, M=layer.m, N=layer.n,
                               K=layer.k * layer.repeat, cycles=cycles, events=events, num_pes=pes,
                               clock_mhz=clock, area_um2=area, event_energy=energy_table)
            row.update(energy_pj=c.energy_pj, energy_per_mac_pj=c.energy_per_mac_pj, latency_us=c.latency_us,
                       clock_mhz=clock, area_um2=area)
        rows.append(row)
    df = pd.DataFrame(rows)
    total = {"LayerID": "total", "Layer": "", "Total Cycles": df["Total Cycles"].sum(), "Stall Cycles": 0,
             "macs": df["macs"].sum()}
    total["Overall Util %"] = total["Compute Util %"] = 100 * total["macs"] / (total["Total Cycles"] * pes)
    for col in ("SRAM IFMAP Reads", "SRAM Filter Reads", "SRAM OFMAP Writes") + (("energy_pj", "latency_us") if costs else ()):
        total[col] = df[col].sum()
    if costs:
        total["energy_per_mac_pj"] = total["energy_pj"] / total["macs"]
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)
