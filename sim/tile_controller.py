"""The tile controllers' cycle model: the RTL twin of sim.memory (numpy only).

Output-stationary: rtl_models/verilog/tile_controller.v runs a GEMM C[M x N] = A[M x K] @ B[K x N] tile by tile
(loop order "mnk", tile tm = rows, tn = cols, tk) around os_systolic_array, with double-buffered
A, B and C tile buffers and one shared DRAM port. Its schedule is sim.memory's double-buffered
shared-port schedule exactly; this module gives the two numbers sim.memory needs from the RTL:

* :func:`tile_compute_cycles`: cycles of one tile's compute, from the slot's launch edge to the
  edge that accumulates the tile's last C row into the controller's C buffer, both counted:
  ``tk + 2 * rows + cols + 1`` for a k extent ``tk`` (edge tiles included; the array is always
  ``rows`` x ``cols``). That is the array's fold (``2R + C + t - 2``, sim.systolic) plus 3: one
  cycle loading k-slice 0 ahead of the array's start (the other slices stream in one cycle ahead
  of use), one for the array's registered read port and one for the read-modify-write into the C
  buffer (the rows are read as they drain, so the R-row read-out hides behind the drain).
* :data:`SLOT_OVERHEAD` = 1: the edge that ends a slot (compute and DRAM both finished) is
  followed by one launch edge of the next slot, so a slot lasts max(compute, DRAM) + 1.

:func:`predict` runs sim.memory.simulate with these. The DRAM address map of the controller
(blocked, tile after tile) is :func:`blocked` / :func:`unblocked`.

Weight-stationary: rtl_models/verilog/tile_controller_ws.v runs the same GEMM around
ws_systolic_array with the same buffers, DRAM port and slot schedule, on the mapping
:data:`WS_ORDER` = "nmk" (n outer, k inner), tile tk = rows (one weight fold), tn = cols,
tm = a chunk of M (a runtime input, at most the build's buffer depth TM). k is the innermost
loop, so each C tile's partial sums stay in the controller's C buffer until its last k tile:
this mapping never spills a partial sum to DRAM (sim.memory's psum traffic is zero). The weight
tile stays (no B fetch) while the M chunks stream only when K <= rows (one k tile).

* :func:`ws_tile_compute_cycles`: ``tm + 2 * rows + cols + 1`` for a tile streaming ``tm``
  activation rows (edge tiles: their own m extent): the array's WS fold (``2R + C + t - 2``,
  sim.systolic, t = tm) plus 3: one cycle writing the last weight row ahead of the fold's start
  (the other weight rows and every activation row go in ahead of use), one for the array's
  registered read port and one for the read-modify-write into the C buffer (rows are read as
  soon as they are whole, so the read-out hides behind the fold's drain);
* the slot overhead is the same :data:`SLOT_OVERHEAD` = 1.

:func:`predict_ws` runs sim.memory.simulate with these; :class:`WsTileConfig` is its run config,
:func:`tile_dims` and :func:`predict_config` serve either controller from its config.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sim.memory import Buffer, Dram, Mapping, MemoryConfig, MemoryResult, OperandBits, simulate

SLOT_OVERHEAD = 1
BITS = OperandBits(a=8, w=8, out=32, psum=32)
ORDER = "mnk"
WS_ORDER = "nmk"


def _positive_int(name: str, v, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        kind = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise ValueError(f"{name} must be {kind}, got {v!r}")
    return int(v)


@dataclass(frozen=True)
class TileConfig:
    """One tile-controller run: the array (rows x cols), the k tile, and the DRAM the bench's
    model honours: ``bandwidth`` bytes per cycle (an integer, at most the bus width of the
    build) and read ``latency`` cycles."""

    dataflow: ClassVar[str] = "os"

    rows: int
    cols: int
    tk: int
    bandwidth: int
    latency: int = 0

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "tk", "bandwidth"):
            _positive_int(name, getattr(self, name))
        _positive_int("latency", self.latency, minimum=0)


@dataclass(frozen=True)
class WsTileConfig:
    """One weight-stationary tile-controller run: the array (rows x cols), the m tile ``tm``
    (activation rows streamed per fold) and the DRAM, as :class:`TileConfig`."""

    dataflow: ClassVar[str] = "ws"

    rows: int
    cols: int
    tm: int
    bandwidth: int
    latency: int = 0

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "tm", "bandwidth"):
            _positive_int(name, getattr(self, name))
        _positive_int("latency", self.latency, minimum=0)


def tile_compute_cycles(tm: int, tn: int, tk: int, rows: int, cols: int) -> int:
    """Compute cycles of one tile of k extent ``tk`` on a ``rows`` x ``cols`` array (``tm``,
    ``tn``: the tile's m and n extents, which do not change the count: the array always runs
    whole)."""
    return int(tk) + 2 * int(rows) + int(cols) + 1


def tile_cycles_fn(rows: int, cols: int):
    """``tile_cycles(tm, tn, tk)`` for sim.memory.simulate."""
    return functools.partial(tile_compute_cycles, rows=rows, cols=cols)


def memory_config(rows: int, cols: int, tk: int, bandwidth: float, latency: int) -> MemoryConfig:
    """The controller's buffers (each holding two tiles: A rows x tk int8, B tk x cols int8,
    C rows x cols int32) and its one shared DRAM port."""
    a = Buffer(2 * rows * tk, True)
    b = Buffer(2 * tk * cols, True)
    c = Buffer(2 * rows * cols * BITS.psum // 8, True)
    return MemoryConfig(a, b, c, Dram(bandwidth, latency, shared=True))


def predict(m: int, n: int, k: int, rows: int, cols: int, tk: int, bandwidth: float, latency: int,
            slot_overhead: int = SLOT_OVERHEAD) -> MemoryResult:
    """sim.memory's prediction of the controller on an M x N x K GEMM: total, compute and stall
    cycles, DRAM bytes and busy cycles."""
    for name, v in (("rows", rows), ("cols", cols), ("tk", tk)):
        _positive_int(name, v)
    return simulate(m, n, k, tile_cycles_fn(rows, cols), BITS, memory_config(rows, cols, tk, bandwidth, latency),
                    Mapping(ORDER, rows, cols, tk), slot_overhead=slot_overhead)


def ws_tile_compute_cycles(tm: int, tn: int, tk: int, rows: int, cols: int) -> int:
    """Compute cycles of one weight-stationary tile streaming ``tm`` activation rows on a
    ``rows`` x ``cols`` array (``tn``, ``tk``: the tile's n and k extents, which do not change
    the count: the array always shifts in all ``rows`` weight rows and runs whole)."""
    return int(tm) + 2 * int(rows) + int(cols) + 1


def ws_memory_config(rows: int, cols: int, tm: int, bandwidth: float, latency: int) -> MemoryConfig:
    """The WS controller's buffers (two tiles each: A tm x rows int8, B rows x cols int8,
    C tm x cols int32) and its one shared DRAM port."""
    a = Buffer(2 * tm * rows, True)
    b = Buffer(2 * rows * cols, True)
    c = Buffer(2 * tm * cols * BITS.psum // 8, True)
    return MemoryConfig(a, b, c, Dram(bandwidth, latency, shared=True))


def predict_ws(m: int, n: int, k: int, rows: int, cols: int, tm: int, bandwidth: float, latency: int,
               slot_overhead: int = SLOT_OVERHEAD) -> MemoryResult:
    """sim.memory's prediction of the weight-stationary controller on an M x N x K GEMM (mapping
    "nmk", tiles tm x cols x rows)."""
    for name, v in (("rows", rows), ("cols", cols), ("tm", tm)):
        _positive_int(name, v)
    return simulate(m, n, k, functools.partial(ws_tile_compute_cycles, rows=rows, cols=cols), BITS,
                    ws_memory_config(rows, cols, tm, bandwidth, latency), Mapping(WS_ORDER, tm, cols, rows),
                    slot_overhead=slot_overhead)


def tile_dims(cfg: TileConfig | WsTileConfig) -> tuple[int, int, int]:
    """(tm, tn, tk) of a controller run: OS (rows, cols, tk), WS (tm, cols, rows)."""
    if cfg.dataflow == "ws":
        return cfg.tm, cfg.cols, cfg.rows
    return cfg.rows, cfg.cols, cfg.tk


def predict_config(cfg: TileConfig | WsTileConfig, m: int, n: int, k: int,
                   slot_overhead: int = SLOT_OVERHEAD) -> MemoryResult:
    """:func:`predict` or :func:`predict_ws`, whichever controller ``cfg`` runs."""
    fn = predict_ws if cfg.dataflow == "ws" else predict
    tile = cfg.tm if cfg.dataflow == "ws" else cfg.tk
    return fn(m, n, k, cfg.rows, cfg.cols, tile, cfg.bandwidth, cfg.latency, slot_overhead=slot_overhead)


def tiles(size: int, tile: int) -> list[tuple[int, int]]:
    """(start, end) of each tile of a dimension."""
    return [(s, min(s + tile, size)) for s in range(0, size, tile)]


def blocked(x: np.ndarray, tr: int, tc: int) -> np.ndarray:
    """The controller's DRAM layout of a matrix: tiles of tr x tc in row-major tile order, each
    tile row-major and packed at its own (edge) size, as a flat array. Tile (i, j) starts at
    element i * tr * cols + rows_i * j * tc (rows_i: the tile row's height)."""
    x = np.asarray(x)
    parts = [x[r0:r1, c0:c1].reshape(-1) for r0, r1 in tiles(x.shape[0], tr) for c0, c1 in tiles(x.shape[1], tc)]
    return np.concatenate(parts)


def unblocked(flat: np.ndarray, rows: int, cols: int, tr: int, tc: int) -> np.ndarray:
    """The inverse of :func:`blocked`."""
    flat = np.asarray(flat)
    out = np.empty((rows, cols), flat.dtype)
    pos = 0
    for r0, r1 in tiles(rows, tr):
        for c0, c1 in tiles(cols, tc):
            size = (r1 - r0) * (c1 - c0)
            out[r0:r1, c0:c1] = flat[pos:pos + size].reshape(r1 - r0, c1 - c0)
            pos += size
    return out


def address_map(m: int, n: int, k: int) -> dict[str, int]:
    """Byte base addresses of A, B and C in the bench's DRAM and its size: A (int8) at 0, B
    (int8) after it, C (int32) after B on a 4-byte boundary."""
    a_base = 0
    b_base = m * k
    c_base = 4 * math.ceil((b_base + k * n) / 4)
    return {"a_base": a_base, "b_base": b_base, "c_base": c_base, "size": c_base + 4 * m * n}
