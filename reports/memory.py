"""The memory system priced: buffer and DRAM energy, buffer area, and any engine's layer through
sim/memory.py.

Sources (reports/tables/):
* buffer access energy: Horowitz's 64-bit SRAM reads of 8 kB (10 pJ), 32 kB (20 pJ) and 1 MB
  (100 pJ) arrays (horowitz_45nm.csv). Between the points the energy per access is interpolated
  linearly in log(energy) against log(capacity) (a power law through neighbouring points); below
  8 kB and above 1 MB the nearest segment's power law is extended. A write is priced as a read
  (Horowitz gives reads only), per byte = per access / 8;
* DRAM energy per byte: Horowitz's 1.3 nJ per 64 bits (``horowitz_low``, the default: 162.5 pJ/B),
  his 2.6 nJ (``horowitz_high``, 325 pJ/B) or ShiftAddLLM's 200 pJ per 16 bits (``shiftaddllm``,
  100 pJ/B);
* buffer area: the 45 nm 6T SRAM bit cell (sram_area_45nm.csv) divided by an array efficiency
  (cells over macro area, ASSUMPTION stated in that file).

``layer_memory`` runs one M x N x K GEMM of an engine record through the memory model: the tile
compute cycles are the engine's own data-free estimate on the tile's GEMM, the operand widths its
record's ``operand_bits``, the mapping the best one for an objective or SCALE-Sim's fixed one.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from reports import tech
from sim.memory import (OBJECTIVES, MemoryConfig, MemoryResult, OperandBits, best_mapping, port_limited,
                        scalesim_mapping, simulate)

SRAM_POINTS = (("sram_8kb_read_64bit", 8 * 1024), ("sram_32kb_read_64bit", 32 * 1024),
               ("sram_1mb_read_64bit", 1024 * 1024))
DRAM_SOURCES = {"horowitz_low": "dram_read_64bit_low", "horowitz_high": "dram_read_64bit_high",
                "shiftaddllm": "dram_read_16bit"}
MAPPINGS = OBJECTIVES + ("scalesim",)
AREA_TABLE = "sram_area_45nm.csv"
# the memory the report's cost table and the low-bit comparison assume (``bitweight layers``
# takes its own from the SCALE-Sim config and the command line)
REPORT_MEMORY = MemoryConfig.uniform(kb=64, bandwidth=16, latency=100)
REPORT_MEMORY_NOTE = ("three 64 kB double-buffered operand buffers, one DRAM port of 16 bytes per cycle "
                      "with 100 cycles of read latency")


def buffer_pj_per_byte(capacity_bytes: int) -> float:
    """Energy of reading (or writing) one byte of a buffer of ``capacity_bytes`` (module docstring)."""
    if capacity_bytes < 1:
        raise ValueError(f"buffer capacity must be >= 1 byte, got {capacity_bytes}")
    pts = [(math.log(cap), math.log(tech.energy_entry(key).energy_pj / (tech.energy_entry(key).bits // 8)))
           for key, cap in SRAM_POINTS]
    x = math.log(capacity_bytes)
    i = 0 if x <= pts[1][0] else 1
    (x0, y0), (x1, y1) = pts[i], pts[i + 1]
    return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))


def dram_pj_per_byte(source: str = "horowitz_low") -> float:
    if source not in DRAM_SOURCES:
        raise ValueError(f"DRAM energy source must be one of {', '.join(DRAM_SOURCES)}, got {source!r}")
    e = tech.energy_entry(DRAM_SOURCES[source])
    return e.energy_pj / (e.bits / 8)


@functools.cache
def _area_rows() -> dict[str, dict]:
    return {row["key"]: row for row in tech.read_table(AREA_TABLE)}


def buffer_area_um2(capacity_bytes: int) -> float:
    """Area of a buffer of ``capacity_bytes``: bits x the macro area per bit (bit cell / array efficiency)."""
    return capacity_bytes * 8 * float(_area_rows()["sram_macro_per_bit_45nm"]["area_um2"])


def operand_bits(engine, cfg) -> OperandBits:
    """The engine record's operand widths for the memory model (its ``operand_bits`` or, by
    default, the config's a_bits / b_bits / acc_bits where it has them, else INT8 x INT8 -> INT32)."""
    if engine.operand_bits is not None:
        return engine.operand_bits(cfg)
    acc = getattr(cfg, "acc_bits", 32)
    return OperandBits(a=getattr(cfg, "a_bits", 8), w=getattr(cfg, "b_bits", 8), out=acc, psum=acc)


def tile_unit(engine, cfg, unit: tuple[int, int, int]) -> tuple[int, int, int]:
    """``unit`` raised to the engine's tile granule (its record's ``tile_granule``), dimension by dimension."""
    if engine.tile_granule is None:
        return unit
    return tuple(max(u, g) for u, g in zip(unit, engine.tile_granule(cfg)))


def buffer_traffic(engine, cfg, bits: OperandBits | None = None):
    """``(tm, tn, tk) -> {"ifmap", "filter", "ofmap": bytes}`` the engine moves through its buffers'
    array side on one tile (its record's ``buffer_traffic``, else its ``sizing.sram_events``:
    a-operand and b-operand entries at ``bits.a`` / ``bits.w`` bits, the ofmap event in bytes)."""
    if engine.buffer_traffic is None and engine.sizing is None:
        raise ValueError(f"engine {engine.name!r} does not state its buffer traffic (no sizing.sram_events or "
                         "buffer_traffic in its record), so buffers with limited ports cannot pace it; "
                         "leave Buffer.ports unset")
    bits = bits or operand_bits(engine, cfg)

    def traffic(tm: int, tn: int, tk: int) -> dict[str, float]:
        est = engine.estimate_gemm(tm, tn, tk, cfg)
        if engine.buffer_traffic is not None:
            return dict(engine.buffer_traffic(cfg, est))
        a_ev, b_ev, out_ev = engine.sizing.sram_events
        ev = est.events
        return {"ifmap": ev.get(a_ev, 0) * bits.a / 8, "filter": ev.get(b_ev, 0) * bits.w / 8,
                "ofmap": ev.get(out_ev, 0) if out_ev else 0}
    return traffic


def layer_memory(engine, cfg, m: int, n: int, k: int, mem: MemoryConfig, mapping: str = "latency",
                 unit: tuple[int, int, int] = (16, 16, 16), dataflow: str | None = None,
                 bits: OperandBits | None = None) -> MemoryResult:
    """One GEMM of ``engine`` (a record with a data-free estimate) at ``cfg`` through ``mem``.

    ``mapping``: "latency", "dram" or "edp" (the best legal mapping for that objective, tiles in
    multiples of ``unit``) or "scalesim" (SCALE-Sim's fold order for ``dataflow``, unit =
    (rows, cols, -)). Buffers with limited ports (``Buffer.ports``) pace each tile by the
    engine's buffer traffic (:func:`buffer_traffic`)."""
    bits = bits or operand_bits(engine, cfg)
    traffic = buffer_traffic(engine, cfg, bits) if mem.port_limited else None
    return gemm_memory(engine.estimate_gemm, cfg, bits, m, n, k, mem, mapping, tile_unit(engine, cfg, unit),
                       dataflow, traffic=traffic)


def gemm_memory(estimate, cfg, bits: OperandBits, m: int, n: int, k: int, mem: MemoryConfig,
                mapping: str = "latency", unit: tuple[int, int, int] = (16, 16, 16),
                dataflow: str | None = None, traffic=None) -> MemoryResult:
    """:func:`layer_memory` for any data-free estimate ``estimate(m, n, k, cfg) -> .cycles``;
    ``traffic``: the engine's buffer bytes per tile (:func:`buffer_traffic`), needed when a buffer
    has limited ports."""
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(MAPPINGS)}, got {mapping!r}")
    try:
        hash((estimate, cfg))
        tile_cycles = functools.lru_cache(maxsize=None)(functools.partial(_tile_cycles, estimate, cfg))
    except TypeError:  # an unhashable config: cache within this layer only
        tile_cycles = functools.lru_cache(maxsize=None)(lambda tm, tn, tk: int(estimate(tm, tn, tk, cfg).cycles))
    if mem.port_limited:
        if traffic is None:
            raise ValueError("buffers with limited ports (Buffer.ports) need the engine's buffer traffic per tile "
                             "(reports.memory.buffer_traffic)")
        tile_cycles = port_limited(tile_cycles, traffic, mem)

    if mapping == "scalesim":
        if dataflow is None:
            raise ValueError("the scalesim mapping needs the array's dataflow (os, ws or is)")
        mp = scalesim_mapping(dataflow, unit[0], unit[1], m, n, k, bits, mem)
        return simulate(m, n, k, tile_cycles, bits, mem, mp)
    return best_mapping(m, n, k, tile_cycles, bits, mem, unit, objective=mapping)


@functools.lru_cache(maxsize=65536)
def _tile_cycles(estimate, cfg, tm: int, tn: int, tk: int) -> int:
    """One tile's compute cycles, cached across layers and calls (the estimate is data-free)."""
    return int(estimate(tm, tn, tk, cfg).cycles)


@dataclass(frozen=True)
class MemoryEnergy:
    """Energy of the memory system for one layer, pJ: buffer fills and drains (what DRAM moves
    passes through a buffer once) and DRAM."""

    buffers_pj: float
    dram_pj: float
    derivation: str


def memory_energy(res: MemoryResult, mem: MemoryConfig, dram_source: str = "horowitz_low") -> MemoryEnergy:
    per = {op: buffer_pj_per_byte(getattr(mem, op).capacity_bytes) for op in ("ifmap", "filter", "ofmap")}
    moved = {op: res.dram_read_bytes[op] + res.dram_write_bytes[op] for op in per}
    buffers = sum(moved[op] * per[op] for op in per)
    dram = res.dram_bytes * dram_pj_per_byte(dram_source)
    text = (f"buffer fills/drains {sum(moved.values())} B at " + ", ".join(f"{op} {per[op]:.3g}" for op in per)
            + f" pJ/B; DRAM {res.dram_bytes} B x {dram_pj_per_byte(dram_source):.4g} pJ/B ({dram_source})")
    return MemoryEnergy(buffers, dram, text)
