"""Low-bit engines beside the INT8 and FP16 baselines: the report's issue-4 comparison table.

For a GEMV (batch 1, where weight-only quantisation pays) and a batched layer, one row per engine:

* ``os_int8``: the INT8 output-stationary 16x16 array (the baseline);
* ``os_w4a8`` / ``os_w2a8``: the same RTL with 4- and 2-bit weights (narrower multipliers, packed
  weight reads);
* ``lut_q{2,3,4}_1pe`` / ``_4lanes``: the LUT PE (ShiftAddLLM / LUT-GEMM) with q sign planes, and
  the array of 4 look-up lanes sharing one table builder, priced with
  ShiftAddLLM's LUT read (0.37 pJ) and shift (0.15 pJ) energies;
* ``os_fp16``: an FP16 x FP16 -> FP32 array with the INT8 array's dataflow and event counts,
  Horowitz's fp16 multiply + fp32 add and 2-byte operands. There is no FP16 RTL, so it has no
  area, clock or latency (NaN): energy only.

Energy is dynamic, 45 nm, from reports/cost.py; area and clock from the yosys synthesis cache
(reports/synth.py), the same numbers as the report's cost table.
"""

from __future__ import annotations

import math

import pandas as pd

from reports import cost, memory, synth
from sim.memory import OperandBits

WORKLOADS = {"gemv_4096": (1, 4096, 4096), "llama7b_up_decode": (1, 11008, 4096),
             "minilm_ffn_up_128tok": (128, 1536, 384)}


def _specs(rows: int, cols: int, quick: bool = False) -> list:
    from dataclasses import replace

    from reports.build import priced_engines
    from reports.engine import Sizes

    # the engines of the "lowbit" table (the INT8 OS array and its narrow-weight forms), then those
    # of "lowbit_planes" (the LUT engines) at 2, 3 and 4 sign planes; quick: the quick report's sizes
    sizes = Sizes.quick(rows, cols) if quick else Sizes(rows, cols)
    return (priced_engines(sizes, table="lowbit")
            + [s for q in (2, 3, 4) for s in priced_engines(replace(sizes, lut_q=q), table="lowbit_planes")])


def lowbit_table(rows: int = 16, cols: int = 16, progress=print, quick: bool = False) -> pd.DataFrame:
    """One row per engine x workload (module docstring); ``quick``: the quick report's LUT lanes."""
    out = []
    specs = _specs(rows, cols, quick)
    int8 = specs[0]
    for spec in specs + [None]:
        if spec is None:  # the FP16 baseline: INT8 events, FP16 prices, no RTL
            name, table, est_of, target = f"os_fp16_{rows}x{cols}", cost.fp16_gemm_event_energy(), int8, None
            weight_bits, bits = 16, OperandBits(a=16, w=16, out=32, psum=32)
        else:
            name, table, est_of, target = spec.name, spec.event_energy, spec, spec.array
            weight_bits = getattr(spec.config, "b_bits", None) or getattr(spec.config, "q", None)
            bits = spec.bits
        if target is not None:
            res = synth.synthesize(target.files(), target.top, target.params, progress=progress)
            area, clock = res.area_um2, res.est_clock_mhz
        else:
            area = clock = math.nan
        for wname, (m, n, k) in WORKLOADS.items():
            est = est_of.estimate(m, n, k, est_of.config)
            events = {e: int(v) for e, v in est.events.items()}
            by = cost.energy_by_component_pj(events, table)
            mem = memory.gemm_memory(est_of.estimate, est_of.config, bits, m, n, k, memory.REPORT_MEMORY,
                                     unit=est_of.unit)
            me = memory.memory_energy(mem, memory.REPORT_MEMORY)
            by["buffers"] += me.buffers_pj
            by["dram"] += me.dram_pj
            energy = sum(by.values())
            macs = m * n * k
            latency = mem.total_cycles / clock if clock == clock else math.nan
            out.append({
                "engine": name, "workload": wname, "weight_bits": weight_bits if spec is None or
                not hasattr(spec.config, "q") else f"{spec.config.q} planes",
                "compute_cycles": mem.compute_cycles, "stall_cycles": mem.stall_cycles,
                "total_cycles": mem.total_cycles, "bound": mem.bound, "dram_bytes": mem.dram_bytes,
                "mapping": mem.mapping.describe(),
                "area_um2": area, "clock_mhz": clock, "latency_us": latency,
                "energy_per_mac_pj": energy / macs, "energy_per_mac_no_dram_pj": (energy - by["dram"]) / macs,
                **{f"{c}_pj_per_mac": by[c] / macs for c in cost.COMPONENTS},
                "macs_per_nj": macs / (energy / 1e3),
            })
    df = pd.DataFrame(out)
    base = df[df.engine == int8.name].set_index("workload").energy_per_mac_pj
    df["energy_vs_int8"] = df.energy_per_mac_pj / df.workload.map(base)
    return df


ORDER = 30  # its place in the report: reports/sections/ runs its modules by ORDER


def report_sections(progress=print, quick: bool = False) -> list:
    from reports.build import ReportSection

    progress("report: low-bit engines beside the INT8 and FP16 baselines")
    df = lowbit_table(*((4, 4) if quick else (16, 16)), progress=progress, quick=quick)
    note = ("Energy per MAC of the low-bit engines against the INT8 and FP16 baselines on two GEMVs (a decode "
            "step) and a batched MiniLM layer (45 nm dynamic energy from event counts; LUT reads 0.37 pJ and shifts "
            "0.15 pJ from ShiftAddLLM, the rest Horowitz), memory included: " + memory.REPORT_MEMORY_NOTE + ", the "
            "mapping that minimises latency (sim/memory.py), DRAM at Horowitz's 1.3 nJ per 64 bits; weights move "
            "at their packed width (LUT: sign planes plus 4-bit scale exponents per group). energy_per_mac_no_dram_pj "
            "leaves DRAM out; bound says whether DRAM or compute sets the latency. The FP16 row reuses the INT8 "
            "array's event counts with FP16 "
            "prices and has no RTL, so no area or latency. The LUT engine is a single PE, so its latency is "
            "not comparable with the 256-PE arrays; compare its energy. energy_vs_int8 divides by the INT8 "
            "array's energy per MAC on the same workload.")
    return [ReportSection("Low-bit engines vs INT8 and FP16", "lowbit_engines.csv", df, note)]
