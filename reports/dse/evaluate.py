"""One design point priced: an engine record sized from rows x cols at its operand widths, with its
buffers and DRAM port, running a whole network through the memory model (sim/memory.py).

Per point (the columns of reports/dse/store.py's ``points`` table):

* cycles: per layer, the memory model's compute + stall cycles under the point's mapping (the
  engine's own data-free estimate gives every tile's compute cycles), times the layer's repeat;
* energy per inference: the engine's events priced by its record's event -> energy table (array:
  MACs, registers, its own operand buffers) plus the memory system's buffer fills and drains and
  DRAM traffic at the operands' real widths (reports/memory.py, its stated sources);
* area: the array's (synthesised, or from the fitted model of reports/dse/areamodel.py) plus the
  three buffers' SRAM area; clock from synthesis or the same model;
* latency = cycles / clock; power = energy / latency; EDP = energy x latency;
  GOPS / mm^2 and GOPS / W from 2 ops per MAC.

A point whose buffers cannot hold one tile is stored with its ``error`` (e.g. "filter buffer of
8192 bytes is smaller than one tile ...") and no results, so a resumed sweep does not retry it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# what prices a point: a change to any of these starts a new model hash (reports/dse/store.py)
MODEL_FILES = ("sim/*.py", "reports/engine.py", "reports/cost.py", "reports/memory.py", "reports/tech.py",
               "reports/synth.py", "reports/engines/*.py", "reports/tables/*", "reports/dse/evaluate.py",
               "reports/dse/areamodel.py", "rtl_models/verilog/*.v", "rtl_models/synth.py")


@functools.cache
def model_hash() -> str:
    """SHA-256 (first 16 hex digits) of the files in MODEL_FILES, names and contents."""
    h = hashlib.sha256()
    for pattern in MODEL_FILES:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file():
                h.update(str(path.relative_to(ROOT)).encode())
                h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def point_key(point: dict, mhash: str) -> str:
    from reports.dse.store import POINT_INPUTS, dumps

    return hashlib.sha256(dumps({"inputs": {k: point[k] for k in POINT_INPUTS}, "model": mhash}).encode()
                          ).hexdigest()[:32]


def design_key(point: dict) -> tuple:
    """What the array's area and clock depend on: engine, size and operand widths."""
    return point["engine"], point["rows"], point["cols"], point["a_bits"], point["w_bits"]


@functools.cache
def engine_record(name: str):
    """The registered engine with a sizing called ``name`` (cached per process)."""
    from reports.registry import engines

    return engines(sized=True)[name]


@functools.cache
def sized_config(engine: str, rows: int, cols: int, a_bits: int, w_bits: int):
    """The engine's config at rows x cols with the point's operand widths where its config has them."""
    cfg = engine_record(engine).sized_config(rows, cols)
    widths = {f: v for f, v in (("a_bits", a_bits), ("b_bits", w_bits)) if hasattr(cfg, f)}
    return dataclasses.replace(cfg, **widths) if widths else cfg


@functools.cache
def _layers(network: str, topology: str | None):
    from sim.networks import network as named
    from sim.topology import read_topology

    return tuple(read_topology(topology) if topology else named(network))


@functools.cache
def _energy_rows(engine: str, cfg) -> dict:
    return {row.event: row for row in engine_record(engine).energy_table(cfg)}


@functools.cache
def _estimate(engine: str, cfg, m: int, n: int, k: int):
    return engine_record(engine).estimate_gemm(m, n, k, cfg)


@functools.lru_cache(maxsize=1 << 16)
def _layer_memory(engine: str, cfg, m: int, n: int, k: int, mem, mapping: str, unit: tuple, dataflow):
    from reports import memory as memcost

    return memcost.layer_memory(engine_record(engine), cfg, m, n, k, mem, mapping, unit, dataflow=dataflow)


@functools.cache
def _memory_config(ifmap_kb: float, filter_kb: float, ofmap_kb: float, bandwidth: float, latency: int):
    from sim.memory import Buffer, Dram, MemoryConfig

    return MemoryConfig(Buffer(int(ifmap_kb * 1024)), Buffer(int(filter_kb * 1024)), Buffer(int(ofmap_kb * 1024)),
                        Dram(bandwidth, latency))


@functools.cache
def _buffer_costs(ifmap_kb: float, filter_kb: float, ofmap_kb: float) -> tuple[float, tuple[float, float, float]]:
    """(buffer area um^2, pJ per byte of each buffer)."""
    from reports import memory as memcost

    caps = [int(kb * 1024) for kb in (ifmap_kb, filter_kb, ofmap_kb)]
    return sum(memcost.buffer_area_um2(c) for c in caps), tuple(memcost.buffer_pj_per_byte(c) for c in caps)


def evaluate(point: dict, area_um2: float, clock_mhz: float, area_source: str, dram_energy: str,
             topology: str | None = None) -> dict:
    """The results of one point (store.POINT_RESULTS plus ``error``); ``area_um2``/``clock_mhz``:
    the array's, from synthesis or the fitted model (``area_source``)."""
    from reports import memory as memcost
    from reports.cost import NOT_CHARGED

    eng, p = point["engine"], point
    cfg = sized_config(eng, p["rows"], p["cols"], p["a_bits"], p["w_bits"])
    mem = _memory_config(p["ifmap_kb"], p["filter_kb"], p["ofmap_kb"], p["bandwidth"], p["dram_latency"])
    buf_area, buf_pj = _buffer_costs(p["ifmap_kb"], p["filter_kb"], p["ofmap_kb"])
    dram_pj = memcost.dram_pj_per_byte(dram_energy)
    rows_e = _energy_rows(eng, cfg)
    unit = (p["rows"], p["cols"], p["rows"])
    dataflow = getattr(cfg, "dataflow", None)
    macs = cycles = stalls = dram_bytes = bound = 0
    e_array = e_buf = e_dram = 0.0
    for layer in _layers(p["network"], topology):
        rep = layer.repeat
        est = _estimate(eng, cfg, layer.m, layer.n, layer.k)
        for event, count in est.events.items():
            row = rows_e.get(event)
            if row is None:
                raise ValueError(f"engine {eng}: event {event!r} has no row in its event -> energy table")
            if row.component != NOT_CHARGED:
                e_array += rep * count * row.energy_pj
        try:
            res = _layer_memory(eng, cfg, layer.m, layer.n, layer.k, mem, p["mapping"], unit, dataflow)
        except ValueError as exc:
            return {"error": f"layer {layer.name}: {exc}"}
        macs += rep * layer.m * layer.n * layer.k
        cycles += rep * res.total_cycles
        stalls += rep * res.stall_cycles
        dram_bytes += rep * res.dram_bytes
        bound += rep * (res.bound == "memory")
        for i, op in enumerate(("ifmap", "filter", "ofmap")):
            e_buf += rep * (res.dram_read_bytes[op] + res.dram_write_bytes[op]) * buf_pj[i]
        e_dram += rep * res.dram_bytes * dram_pj
    energy_pj = e_array + e_buf + e_dram
    latency_us = cycles / clock_mhz
    area_mm2 = (area_um2 + buf_area) / 1e6
    gops = 2 * macs / latency_us / 1e3
    return {"area_mm2": area_mm2, "array_area_mm2": area_um2 / 1e6, "area_source": area_source,
            "clock_mhz": clock_mhz, "macs": macs, "cycles": cycles, "stall_cycles": stalls,
            "latency_us": latency_us, "energy_uj": energy_pj / 1e6, "energy_array_uj": e_array / 1e6,
            "energy_buffers_uj": e_buf / 1e6, "energy_dram_uj": e_dram / 1e6,
            "power_w": energy_pj / latency_us / 1e6, "edp_uj_us": energy_pj / 1e6 * latency_us, "gops": gops,
            "gops_per_mm2": gops / area_mm2, "gops_per_w": 2 * macs / energy_pj * 1e3, "dram_bytes": dram_bytes,
            "memory_bound_layers": bound, "error": None}


def evaluate_chunk(points: list[dict], designs: dict, dram_energy: str, topologies: dict, mhash: str) -> list[dict]:
    """Price ``points`` (a Dask task): ``designs`` maps design_key -> (area_um2, clock_mhz, source).
    Refuses to run when this process's code prices differently from the driver's (``mhash``)."""
    mine = model_hash()
    if mine != mhash:
        raise RuntimeError(f"this worker's cost model (hash {mine}) differs from the driver's ({mhash}): "
                           "install the same bitweight on every worker")
    out = []
    for p in points:
        area, clock, source = designs[design_key(p)]
        res = evaluate(p, area, clock, source, dram_energy, topologies.get(p["network"]))
        out.append({**p, **res, "point_key": point_key(p, mhash), "model_hash": mhash})
    return out
