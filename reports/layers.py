"""A whole network's layers through one array: SCALE-Sim's compute-report columns plus ours.

    bitweight layers --topology net.csv --config scale.cfg [--costs] [--out layers.csv]

SCALE-Sim's columns (per layer): total cycles, stall cycles, overall utilisation, mapping
efficiency, compute utilisation, SRAM reads of the ifmap and filter operands and SRAM writes of
the ofmap, in the unit ``SRAM Unit`` names (bytes for the arrays; other engines count their own
buffer events). DRAM columns say their unit: bytes at each operand's real width, and elements
(SCALE-Sim's unit) beside them, with the average DRAM bytes per cycle of SCALE-Sim's bandwidth
report.

With a memory system (``memory``: from the config's SRAM sizes and USER bandwidth, or given),
each layer runs through sim/memory.py: the mapping chosen (best for latency, DRAM bytes or their
product, or SCALE-Sim's fixed fold order), compute and stall cycles, DRAM bytes per operand and
whether the layer is compute- or memory-bound. Without one, operands arrive on time: total =
compute cycles of the whole layer, zero stalls.
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
from reports import memory as memcost
from rtl_models.synth import verilog_sources
from sim.memory import MemoryConfig
from sim.topology import ArchConfig, Layer

SCALE_SIM_COLUMNS = ["LayerID", "Layer", "Total Cycles", "Stall Cycles", "Overall Util %",
                     "Mapping Efficiency %", "Compute Util %",
                     "SRAM IFMAP Reads", "SRAM Filter Reads", "SRAM OFMAP Writes"]


MEMORY_COLUMNS = ["Compute Cycles", "Bound", "Mapping", "DRAM IFMAP Read Bytes", "DRAM Filter Read Bytes",
                  "DRAM OFMAP Read Bytes", "DRAM OFMAP Write Bytes"]
SCALE_SIM_ELEMENT_COLUMNS = ["DRAM IFMAP Read Elements", "DRAM Filter Read Elements", "DRAM OFMAP Write Elements",
                             "Avg DRAM Read Bytes/Cycle", "Avg DRAM Write Bytes/Cycle"]


def _elements(nbytes: int, bits: int) -> int | float:
    """Elements of ``bits`` bits in ``nbytes`` bytes: an integer when whole (it is for whole tiles)."""
    n = nbytes * 8 / bits
    return int(n) if float(n).is_integer() else n


def layer_table(layers: Sequence[Layer], arch: ArchConfig, costs: bool = False,
                progress: Callable[[str], None] | None = None, engine: str | None = None,
                memory: MemoryConfig | None = None, mapping: str = "latency",
                dram_energy: str = "horowitz_low") -> pd.DataFrame:
    """One row per layer and a final ``total`` row (``engine``: a registered engine with a sizing;
    default the config's dataflow, os, ws or is; ``memory``: the buffers and DRAM port, None for
    none; ``mapping``: latency, dram, edp or scalesim; ``dram_energy``: the DRAM energy source)."""
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
    if mapping not in memcost.MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(memcost.MAPPINGS)}, got {mapping!r}")
    memcost.dram_pj_per_byte(dram_energy)  # a bad source fails before any work
    unit = (arch.array_height, arch.array_width, arch.array_height)
    bits = memcost.operand_bits(spec, cfg)
    # the SRAM columns count the engine's own buffer events: bytes where the event says so
    sram_unit = "bytes" if all(ev is None or ev.endswith("_bytes") for ev in (ifmap_ev, filter_ev, ofmap_ev)) \
        else f"events {ifmap_ev} / {filter_ev} / {ofmap_ev or '4 bytes per output'}"
    rows = []
    for i, layer in enumerate(layers):
        if progress:
            progress(f"layer {i} {layer.name}: M={layer.m} N={layer.n} K={layer.k}"
                     + (f" x {layer.repeat}" if layer.repeat > 1 else ""))
        est = spec.estimate_gemm(layer.m, layer.n, layer.k, cfg)
        events = {k: v * layer.repeat for k, v in est.events.items()}
        macs = layer.macs
        mem = None
        if memory is not None:
            mem = memcost.layer_memory(spec, cfg, layer.m, layer.n, layer.k, memory, mapping, unit,
                                       dataflow=arch.dataflow)
            compute, stalls = mem.compute_cycles * layer.repeat, mem.stall_cycles * layer.repeat
        else:
            compute, stalls = est.cycles * layer.repeat, 0
        cycles = compute + stalls
        slots = events[slots_event] if slots_event else compute * pes
        row = {
            "LayerID": i, "Layer": layer.name, "M": layer.m, "N": layer.n, "K": layer.k, "repeat": layer.repeat,
            "Total Cycles": cycles, "Stall Cycles": stalls, "Overall Util %": 100 * macs / (cycles * pes),
            "Mapping Efficiency %": 100 * macs / slots, "Compute Util %": 100 * macs / (compute * pes),
            "SRAM IFMAP Reads": events[ifmap_ev], "SRAM Filter Reads": events[filter_ev],
            "SRAM OFMAP Writes": events[ofmap_ev] if ofmap_ev else 4 * layer.m * layer.n * layer.repeat,
            "SRAM Unit": sram_unit,
            "macs": macs,
        }
        extra = {}
        if mem is not None:
            row.update({"Compute Cycles": compute, "Bound": mem.bound, "Mapping": mem.mapping.describe(),
                        "DRAM IFMAP Read Bytes": mem.dram_read_bytes["ifmap"] * layer.repeat,
                        "DRAM Filter Read Bytes": mem.dram_read_bytes["filter"] * layer.repeat,
                        "DRAM OFMAP Read Bytes": mem.dram_read_bytes["ofmap"] * layer.repeat,
                        "DRAM OFMAP Write Bytes": mem.dram_write_bytes["ofmap"] * layer.repeat})
            # SCALE-Sim counts elements (its word is one byte, an int8): the same traffic in elements
            # at each operand's width, and its bandwidth report's average words per cycle as bytes
            row.update({"DRAM IFMAP Read Elements": _elements(row["DRAM IFMAP Read Bytes"], bits.a),
                        "DRAM Filter Read Elements": _elements(row["DRAM Filter Read Bytes"], bits.w),
                        "DRAM OFMAP Write Elements": mem.dram_write_elements * layer.repeat,
                        "Avg DRAM Read Bytes/Cycle": sum(mem.dram_read_bytes.values()) / mem.total_cycles,
                        "Avg DRAM Write Bytes/Cycle": mem.dram_write_bytes["ofmap"] / mem.total_cycles})
            e = memcost.memory_energy(mem, memory, dram_energy)
            extra = {"buffers": e.buffers_pj * layer.repeat, "dram": e.dram_pj * layer.repeat}
        if pricing:
            clock, area, energy_table = pricing
            # a depthwise layer is `repeat` independent GEMMs: price them as one with K x repeat MACs per output
            c = cost.gemm_cost(engine=name, workload=layer.name, M=layer.m, N=layer.n,
                               K=layer.k * layer.repeat, cycles=cycles, events=events, num_pes=pes,
                               clock_mhz=clock, area_um2=area, event_energy=energy_table, extra_energy=extra)
            row.update(energy_pj=c.energy_pj, energy_per_mac_pj=c.energy_per_mac_pj, latency_us=c.latency_us,
                       clock_mhz=clock, area_um2=area,
                       **{f"energy_{comp}_pj": v for comp, v in c.energy_by_component_pj.items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    total = {"LayerID": "total", "Layer": "", "Total Cycles": df["Total Cycles"].sum(),
             "Stall Cycles": df["Stall Cycles"].sum(), "macs": df["macs"].sum()}
    compute = df["Compute Cycles"].sum() if memory is not None else total["Total Cycles"]
    total["Overall Util %"] = 100 * total["macs"] / (total["Total Cycles"] * pes)
    total["Compute Util %"] = 100 * total["macs"] / (compute * pes)
    sums = ["SRAM IFMAP Reads", "SRAM Filter Reads", "SRAM OFMAP Writes"]
    if memory is not None:
        sums += ["Compute Cycles"] + [c for c in MEMORY_COLUMNS + SCALE_SIM_ELEMENT_COLUMNS if c.startswith("DRAM")]
    if costs:
        sums += ["energy_pj", "latency_us"] + [c for c in df.columns if c.startswith("energy_") and c.endswith("_pj")
                                               and c != "energy_pj"]
    for col in sums:
        total[col] = df[col].sum()
    if costs:
        total["energy_per_mac_pj"] = total["energy_pj"] / total["macs"]
    # integer columns the total row leaves empty (M, N, K, repeat) would turn float (16.0) through
    # its NaN: hold them as nullable integers, the total row's cell <NA> (empty in a CSV)
    ints = [c for c in df.columns if pd.api.types.is_integer_dtype(df[c]) and c not in total]
    df = df.astype({c: "Int64" for c in ints})
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)
