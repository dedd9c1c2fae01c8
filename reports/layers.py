"""A whole network's layers through one array: SCALE-Sim's compute-report columns plus ours.

    bitweight layers --topology net.csv --config scale.cfg [--costs] [--out layers.csv]

SCALE-Sim's columns (per layer): total cycles, stall cycles, overall utilisation, mapping
efficiency, compute utilisation, SRAM reads of the ifmap and filter operands and SRAM writes of
the ofmap. Stall cycles are zero here: our cycle models assume operands arrive on time (no SRAM or
DRAM bandwidth model), so overall and compute utilisation coincide; SCALE-Sim's can differ.
With ``costs``, each layer also gets energy, latency and area: the array is synthesised at the
config's size (cached; a 32 x 32 array takes minutes the first time) and priced like the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from reports import cost, synth
from sim.systolic import estimate_gemm
from sim.topology import ArchConfig, Layer

SCALE_SIM_COLUMNS = ["LayerID", "Layer", "Total Cycles", "Stall Cycles", "Overall Util %",
                     "Mapping Efficiency %", "Compute Util %",
                     "SRAM IFMAP Reads", "SRAM Filter Reads", "SRAM OFMAP Writes"]


def layer_table(layers: Sequence[Layer], arch: ArchConfig, costs: bool = False,
                progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per layer and a final ``total`` row."""
    cfg = arch.systolic()
    pricing = None
    if costs:
        from reports.registry import get_engine

        engine = get_engine(arch.dataflow, "int_gemm_array")
        res = synth.synthesize(synth.verilog_sources(engine.rtl_top), engine.rtl_top, engine.rtl_params(cfg),
                               progress=progress)
        pricing = (res.est_clock_mhz, res.area_um2, cost.int_gemm_event_energy(cfg.a_bits, cfg.b_bits, cfg.acc_bits))
    rows = []
    for i, layer in enumerate(layers):
        if progress:
            progress(f"layer {i} {layer.name}: M={layer.m} N={layer.n} K={layer.k}"
                     + (f" x {layer.repeat}" if layer.repeat > 1 else ""))
        est = estimate_gemm(layer.m, layer.n, layer.k, cfg)
        events = {k: v * layer.repeat for k, v in est.events.items()}
        cycles = est.cycles * layer.repeat
        util = 100 * events["macs"] / (cycles * cfg.pes)
        row = {
            "LayerID": i, "Layer": layer.name, "M": layer.m, "N": layer.n, "K": layer.k, "repeat": layer.repeat,
            "Total Cycles": cycles, "Stall Cycles": 0, "Overall Util %": util,
            "Mapping Efficiency %": 100 * events["macs"] / events["mac_slots"], "Compute Util %": util,
            "SRAM IFMAP Reads": events["a_buffer_reads_bytes"], "SRAM Filter Reads": events["b_buffer_reads_bytes"],
            "SRAM OFMAP Writes": events["out_buffer_writes_bytes"],
            "macs": events["macs"],
        }
        if pricing:
            clock, area, energy_table = pricing
            # a depthwise layer is `repeat` independent GEMMs: price them as one with K x repeat MACs per output
            c = cost.gemm_cost(engine=arch.dataflow, workload=layer.name, M=layer.m, N=layer.n,
                               K=layer.k * layer.repeat, cycles=cycles, events=events, num_pes=cfg.pes,
                               clock_mhz=clock, area_um2=area, event_energy=energy_table)
            row.update(energy_pj=c.energy_pj, energy_per_mac_pj=c.energy_per_mac_pj, latency_us=c.latency_us,
                       clock_mhz=clock, area_um2=area)
        rows.append(row)
    df = pd.DataFrame(rows)
    total = {"LayerID": "total", "Layer": "", "Total Cycles": df["Total Cycles"].sum(), "Stall Cycles": 0,
             "macs": df["macs"].sum()}
    total["Overall Util %"] = total["Compute Util %"] = 100 * total["macs"] / (total["Total Cycles"] * cfg.pes)
    for col in ("SRAM IFMAP Reads", "SRAM Filter Reads", "SRAM OFMAP Writes") + (("energy_pj", "latency_us") if costs else ()):
        total[col] = df[col].sum()
    if costs:
        total["energy_per_mac_pj"] = total["energy_pj"] / total["macs"]
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)
