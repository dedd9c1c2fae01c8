"""Co-simulate the tile controllers (rtl_models/verilog/tile_controller.v: os_systolic_array with
double-buffered tile buffers and one DRAM port; tile_controller_ws.v: the same around
ws_systolic_array; both on tile_slot_engine.v, their shared buffers, DRAM port and slot schedule)
under cocotb on Icarus or Verilator, with the bench's DRAM model
(rtl_models/benches/tile_controller_bench.py): a binding of rtl_models.cosim.

    from rtl_models.tile_cosim import run_tile_cosim_batch
    out = run_tile_cosim_batch([(a, b)], rows=4, cols=4, tk=4, bandwidth=2, latency=3, sim="icarus")[0]
    out.values                       # C, int32
    out.cycles                       # start -> done, measured
    out.extra["compute_cycles"], out.extra["stall_cycles"], out.extra["dram_busy_cycles"]

The bench checks C against the exact product and every measured number against
sim.tile_controller.predict (sim.memory.simulate); :func:`model_mismatches` repeats that check
on the Python side against any MemoryResult. One build serves every tk <= KT (the next power of
two >= tk, at least 4), every latency and every bandwidth up to the bus width DBW (16 bytes, or
the next power of two above a larger bandwidth); M, N, K and tk are runtime inputs.

Weight-stationary: :func:`run_tile_cosim_ws_batch` (tiles tm x cols x rows, loop order "nmk",
sim.tile_controller.predict_ws); one build serves every tm <= TM (the next power of two >= tm,
at least 4), latency and bandwidth up to the bus width; M, N, K and tm are runtime inputs.
"""

from __future__ import annotations

import os

import numpy as np

from rtl_models.cosim import Binding, CosimOutcome, buffer_depth, check_int8_operands, cosim_batch
from sim.memory import MemoryResult
from sim.tile_controller import TileConfig, WsTileConfig, predict, predict_ws

BENCH_MODULE = "rtl_models.benches.tile_controller_bench"
TOPLEVEL = "tile_controller"
TOPLEVEL_WS = "tile_controller_ws"
MIN_BUS_BYTES = 16
DIM_BITS = 16  # the Verilog's DW: M, N, K and tk below 2**16


def bus_bytes(bandwidth: int) -> int:
    """The DBW build parameter serving ``bandwidth`` bytes per cycle."""
    return max(MIN_BUS_BYTES, 1 << (int(bandwidth) - 1).bit_length())


def _params(cfg: TileConfig | WsTileConfig, workloads) -> dict[str, int]:
    if cfg.dataflow == "ws":
        return {"R": cfg.rows, "C": cfg.cols, "TM": buffer_depth(cfg.tm), "DBW": bus_bytes(cfg.bandwidth)}
    return {"R": cfg.rows, "C": cfg.cols, "KT": buffer_depth(cfg.tk), "DBW": bus_bytes(cfg.bandwidth)}


def _top(cfg: TileConfig | WsTileConfig) -> str:
    return TOPLEVEL_WS if cfg.dataflow == "ws" else TOPLEVEL


def _check_workload(cfg: TileConfig, a, b) -> tuple[np.ndarray, np.ndarray]:
    check_int8_operands(a, b)
    if max(a.shape + b.shape) >= 2 ** DIM_BITS:
        raise ValueError(f"M, N and K must be below 2**{DIM_BITS}, got a {a.shape}, b {b.shape}")
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def _check_config(cfg: TileConfig | WsTileConfig) -> None:
    name = "tm" if cfg.dataflow == "ws" else "tk"
    if getattr(cfg, name) >= 2 ** DIM_BITS:
        raise ValueError(f"{name} must be below 2**{DIM_BITS}, got {getattr(cfg, name)}")


BINDING = Binding(top=_top, bench=BENCH_MODULE, params=_params, config=(TileConfig, WsTileConfig),
                  check_config=_check_config, check_case=_check_workload, case_doc="(a, b) pair of int8 matrices",
                  dtype=np.int32)


def run_tile_cosim_batch(workloads, rows: int, cols: int, tk: int, bandwidth: int, latency: int = 0,
                         sim: str = "icarus", seed: int = 0, waves: bool = False,
                         build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Run every (a, b) int8 GEMM of ``workloads`` through the tile controller on a ``rows`` x
    ``cols`` array with k tile ``tk``, the DRAM moving ``bandwidth`` bytes per cycle with a read
    latency of ``latency`` cycles; one simulator run, in order. Each outcome: values (C, int32),
    cycles (start -> done) and extra: compute_cycles, stall_cycles, dram_busy_cycles,
    dram_read_bytes, dram_write_bytes, bursts. Raises ValueError for bad arguments (before any
    build) and rtl_models.cosim.CosimError when the RTL disagrees with sim.tile_controller.predict."""
    cfg = TileConfig(rows, cols, tk, bandwidth, latency)  # ValueError: non-positive rows, cols, tk, bandwidth ...
    return cosim_batch(BINDING, workloads, cfg, sim=sim, seed=seed, waves=waves, build_root=build_root)


def run_tile_cosim(a, b, rows: int, cols: int, tk: int, bandwidth: int, latency: int = 0, **kwargs) -> CosimOutcome:
    """One GEMM; see :func:`run_tile_cosim_batch`."""
    return run_tile_cosim_batch([(a, b)], rows, cols, tk, bandwidth, latency, **kwargs)[0]


def run_tile_cosim_ws_batch(workloads, rows: int, cols: int, tm: int, bandwidth: int, latency: int = 0,
                            sim: str = "icarus", seed: int = 0, waves: bool = False,
                            build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """The weight-stationary controller (tile_controller_ws.v): every (a, b) int8 GEMM of
    ``workloads`` on a ``rows`` x ``cols`` WS array streaming ``tm`` activation rows per tile;
    otherwise as :func:`run_tile_cosim_batch` (checked against sim.tile_controller.predict_ws)."""
    cfg = WsTileConfig(rows, cols, tm, bandwidth, latency)
    return cosim_batch(BINDING, workloads, cfg, sim=sim, seed=seed, waves=waves, build_root=build_root)


def model_for_ws(a: np.ndarray, b: np.ndarray, rows: int, cols: int, tm: int, bandwidth: int,
                 latency: int) -> MemoryResult:
    """sim.tile_controller.predict_ws on the GEMM a @ b."""
    return predict_ws(a.shape[0], b.shape[1], a.shape[1], rows, cols, tm, bandwidth, latency)


def model_for(a: np.ndarray, b: np.ndarray, rows: int, cols: int, tk: int, bandwidth: int,
              latency: int) -> MemoryResult:
    """sim.tile_controller.predict on the GEMM a @ b."""
    return predict(a.shape[0], b.shape[1], a.shape[1], rows, cols, tk, bandwidth, latency)


def model_mismatches(res: CosimOutcome, a: np.ndarray, b: np.ndarray, model: MemoryResult) -> list[str]:
    """How a co-simulation outcome differs from the exact product and from a memory-model result
    (total, compute, stall and DRAM busy cycles, DRAM bytes); empty when they agree."""
    out = []
    exact = a.astype(np.int64) @ b.astype(np.int64)
    if res.values.shape != exact.shape or not np.array_equal(res.values.astype(np.int64), exact):
        out.append("C differs from the exact product")
    pairs = {"total_cycles": (res.cycles, model.total_cycles),
             "compute_cycles": (res.extra.get("compute_cycles"), model.compute_cycles),
             "stall_cycles": (res.extra.get("stall_cycles"), model.stall_cycles),
             "dram_busy_cycles": (res.extra.get("dram_busy_cycles"), model.dram_cycles),
             "dram_read_bytes": (res.extra.get("dram_read_bytes"), sum(model.dram_read_bytes.values())),
             "dram_write_bytes": (res.extra.get("dram_write_bytes"), model.dram_write_bytes["ofmap"])}
    for name, (got, want) in pairs.items():
        if got != want:
            out.append(f"{name}: measured {got}, model {want}")
    return out
