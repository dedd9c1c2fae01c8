"""A whole network's layers through one array: SCALE-Sim's compute-report columns plus ours.

    bitweight layers --topology net.csv --config scale.cfg [--costs] [--out layers.csv]

SCALE-Sim's columns (per layer): total cycles, stall cycles, overall utilisation, mapping
efficiency, compute utilisation, SRAM reads of the ifmap and filter operands and SRAM writes of
the ofmap. Stall cycles are zero here: our cycle models assume operands arrive on time (no SRAM or
DRAM bandwidth model), so overall and compute utilisation coincide; SCALE-Sim's can differ.
With ``costs``, each layer also gets energy, latency and area: the array is synthesised at the
config's size (cached; a 32 x 32 array takes minutes the first time) and priced like the report.

``engine`` runs the layers through any engine that takes an M x N x K GEMM, sized from the
config's ArrayHeight (H) and ArrayWidth (W) (ENGINE_SIZING): the systolic arrays (os, ws, and
their OPT1 forms os_csa, ws_csa) H x W; the multiplier-adder tree (mat, mat_sbw, mat_csa) a K = H
by N = W tile; the 3D-cube (cube, cube_sbw, cube_csa) H x H x H (the csa forms need H in 4, 8, 16); the 2D-matrix grid (bcast, bcast_csa) H x W; the
OPT3 row (opt3) W columns sharing one digit sequencer, and the OPT4E row (opt4e) W columns of 4
K-extended sub-PEs sharing 4 sequencers, their cycles the expected value for Gaussian INT8
activations (std 30). Mapping efficiency is useful MACs over the engine's multiply slots.
``--costs`` prices every engine: its Verilog top synthesised at the sized configuration (area and
clock) and its events priced by reports/cost.py's ``engine_event_energy`` (the technique variants
through first-order full-adder and select-bit counts, stated in their derivations). The OPT3 row's
area includes its digit_skip_dot operand buffers at their default depth (16).
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


def _systolic(pe: str, dataflow: str | None = None):
    from sim.systolic import SystolicConfig

    return lambda arch: SystolicConfig(arch.array_height, arch.array_width, dataflow or arch.dataflow, pe=pe)


def _tree(pe: str, cube: bool):
    from sim.adder_tree import TreeConfig

    if cube:
        return lambda arch: TreeConfig(arch.array_height, arch.array_height, pe, rows=arch.array_height)
    return lambda arch: TreeConfig(arch.array_height, arch.array_width, pe)


def _bcast(pe: str):
    from sim.broadcast import BroadcastConfig

    return lambda arch: BroadcastConfig(arch.array_height, arch.array_width, pe)


def _opt3(arch):
    from sim.digit_skip import DigitSkipConfig

    return DigitSkipConfig("ent", cols=arch.array_width)


def _opt4e(arch):
    from sim.digit_skip_4e import DigitSkip4EConfig

    return DigitSkip4EConfig("ent", cols=arch.array_width)


# engine -> (config from the SCALE-Sim architecture, its MAC units, the event of its multiply slots,
#            the events SCALE-Sim's ifmap / filter / ofmap SRAM columns come from)
ENGINE_SIZING: dict[str, tuple] = {
    "os": (_systolic("mac", "os"), lambda c: c.pes, "mac_slots",
           ("a_buffer_reads_bytes", "b_buffer_reads_bytes", "out_buffer_writes_bytes")),
    "ws": (_systolic("mac", "ws"), lambda c: c.pes, "mac_slots",
           ("a_buffer_reads_bytes", "b_buffer_reads_bytes", "out_buffer_writes_bytes")),
    "os_csa": (_systolic("booth_csa", "os"), lambda c: c.pes, "mac_slots",
               ("a_buffer_reads_bytes", "b_buffer_reads_bytes", "out_buffer_writes_bytes")),
    "ws_csa": (_systolic("booth_csa", "ws"), lambda c: c.pes, "mac_slots",
               ("a_buffer_reads_bytes", "b_buffer_reads_bytes", "out_buffer_writes_bytes")),
    "mat": (_tree("mult", False), lambda c: c.k * c.n * c.rows, "tree_slots",
            ("a_reads_bytes", "b_reg_writes", "out_writes_bytes")),
    "mat_sbw": (_tree("sbw", False), lambda c: c.k * c.n * c.rows, "tree_slots",
                ("a_reads_bytes", "b_reg_writes", "out_writes_bytes")),
    "cube": (_tree("mult", True), lambda c: c.k * c.n * c.rows, "tree_slots",
             ("a_reads_bytes", "b_reg_writes", "out_writes_bytes")),
    "cube_sbw": (_tree("sbw", True), lambda c: c.k * c.n * c.rows, "tree_slots",
                 ("a_reads_bytes", "b_reg_writes", "out_writes_bytes")),
    "mat_csa": (_tree("csa", False), lambda c: c.k * c.n * c.rows, "tree_slots",
                ("a_reads_bytes", "b_reg_writes", "out_writes_bytes")),
    "cube_csa": (_tree("csa", True), lambda c: c.k * c.n * c.rows, "tree_slots",
                 ("a_reads_bytes", "b_reg_writes", "out_writes_bytes")),
    "bcast": (_bcast("mac"), lambda c: c.rows * c.cols, "mac_slots",
              ("a_buffer_reads_bytes", "b_buffer_reads_bytes", "out_buffer_writes_bytes")),
    "bcast_csa": (_bcast("booth_csa"), lambda c: c.rows * c.cols, "mac_slots",
                  ("a_buffer_reads_bytes", "b_buffer_reads_bytes", "out_buffer_writes_bytes")),
    "opt3": (_opt3, lambda c: c.cols, None, ("encodes", "b_reads", None)),
    "opt4e": (_opt4e, lambda c: 4 * c.cols, None, ("encodes", "b_reads", None)),
}


def _estimate(engine: str, cfg, m: int, n: int, k: int):
    from reports.registry import get_engine, load

    return load(get_engine(engine).estimate)(m, n, k, cfg)


def layer_table(layers: Sequence[Layer], arch: ArchConfig, costs: bool = False,
                progress: Callable[[str], None] | None = None, engine: str | None = None) -> pd.DataFrame:
    """One row per layer and a final ``total`` row (``engine``: ENGINE_SIZING's names; default the
    config's dataflow, os or ws)."""
    engine = engine or arch.dataflow
    if engine not in ENGINE_SIZING:
        raise ValueError(f"engine must be one of {', '.join(ENGINE_SIZING)}, got {engine!r}")
    if engine != arch.dataflow and engine in ("os", "ws"):
        arch = ArchConfig(arch.array_height, arch.array_width, engine, arch.ifmap_sram_kb, arch.filter_sram_kb,
                          arch.ofmap_sram_kb)
    make_cfg, pes_of, slots_event, (ifmap_ev, filter_ev, ofmap_ev) = ENGINE_SIZING[engine]
    cfg = make_cfg(arch)
    pes = pes_of(cfg)
    pricing = None
    if costs:
        from reports.registry import get_engine

        spec = get_engine(engine)
        if progress:
            progress(f"synthesising {spec.rtl_top} for {engine} (cached after the first run; large arrays take minutes)")
        res = synth.synthesize(synth.verilog_sources(spec.rtl_top), spec.rtl_top, spec.rtl_params(cfg),
                               progress=progress)
        pricing = (res.est_clock_mhz, res.area_um2, cost.engine_event_energy(cfg))
    rows = []
    for i, layer in enumerate(layers):
        if progress:
            progress(f"layer {i} {layer.name}: M={layer.m} N={layer.n} K={layer.k}"
                     + (f" x {layer.repeat}" if layer.repeat > 1 else ""))
        est = (estimate_gemm(layer.m, layer.n, layer.k, cfg) if engine in ("os", "ws")
               else _estimate(engine, cfg, layer.m, layer.n, layer.k))
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
            c = cost.gemm_cost(engine=engine, workload=layer.name, M=layer.m, N=layer.n,
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
