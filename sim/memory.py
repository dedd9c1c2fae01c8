"""The memory system every engine shares: operand buffers, a DRAM port, the mapping, stalls.

A layer is the GEMM C[M x N] = A[M x K] @ B[K x N] (A: the ifmap / activations, B: the filter /
weights, C: the ofmap). The engine computes it tile by tile; this model decides what each tile
costs in DRAM traffic and in time, given

* the **buffers** (:class:`Buffer`), one per operand: capacity in bytes and whether it is double
  buffered. A double-buffered buffer holds two tiles (one computing, one filling or draining);
  a single one holds one tile and the engine waits while it fills;
* the **DRAM port** (:class:`Dram`): bandwidth in bytes per cycle, shared by reads and writes,
  and a read latency in cycles;
* the **mapping** (:class:`Mapping`): the tile (tm x tn x tk) and the loop order over tiles,
  outer to inner, e.g. ``"mnk"``: for each M tile, for each N tile, for each K tile;
* the **operand precisions** (:class:`OperandBits`): elements are packed at their real width
  (a 4-bit weight is half a byte), partial sums at ``psum`` bits, finished outputs at ``out``;
* the engine's **compute cycles of one tile**, a function (tm, tn, tk) -> cycles: its own cycle
  model (data-free estimate) on that tile's GEMM, so the PE array's fill and drain stay its own.

Reuse. Each operand's buffer holds the current tile of that operand. From one tile step to the
next, an operand is fetched again exactly when its tile changes (A's tile is indexed by (m, k),
B's by (k, n), C's by (m, n)). C's tile changing while its K reduction is unfinished writes the
partial sums out (``psum`` bits) and reads them back when the tile returns; a finished C tile is
written once at ``out`` bits.

Timing, double buffered (every buffer that holds two tiles). Tile steps t = 0..T-1 run in slots:

    slot 0:        DRAM reads tile 0's operands
    slot s (1..T): the engine computes tile s-1 | DRAM reads tile s's new operands (s < T) and
                   writes tile s-2's finished or spilled C tile (s >= 2)
    slot T+1:      DRAM writes tile T-1's C tile

A slot lasts max(compute cycles, DRAM cycles) + ``slot_overhead``. DRAM cycles of a slot are the
sum over its bursts, one per operand moved, issued one after another: a write burst of b bytes
takes ceil(b / bandwidth) cycles, a read burst latency + ceil(b / bandwidth) (with one port per
operand, :class:`Dram` ``shared=False``, the slowest port's bursts). Single buffered (any buffer
holding one tile): nothing overlaps; each step reads, computes, then writes.

Buffer ports (optional, :class:`Buffer` ``ports``): with them, each buffer moves at most banks x
ports x width bytes per cycle to and from the engine, and a tile's compute cycles become
max(the engine's, its buffer traffic / that rate) (:func:`port_limited`; the traffic per tile is
the engine's own buffer events, reports.memory.buffer_traffic). Unset, the engine's cycle model
alone sets the tile's time, as the RTL tile controllers (whose buffers read a whole operand
vector per cycle) do; the RTL has no port-limited form.

Stall cycles = total - compute cycles (SCALE-Sim's meaning). ``bound`` is the roofline's verdict:
memory when the DRAM port is busy longer than the engine computes.

The model is exact for the schedule above and vectorised over tile steps (numpy): a layer's cost
is a handful of array operations, whatever its size. The RTL twins are the tile controllers
around the OS and WS arrays (rtl_models/verilog/tile_controller.v, tile_controller_ws.v, with a
cocotb DRAM model), whose measured total, compute and stall cycles equal :func:`simulate`'s
(tests/test_rtl_tile_controller.py; their per-tile cycles and slot overhead: sim/tile_controller.py).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterable
from collections.abc import Mapping as Mapping_
from dataclasses import dataclass, replace

import numpy as np

OPERANDS = ("ifmap", "filter", "ofmap")
ORDERS = tuple("".join(p) for p in itertools.permutations("mnk"))
OBJECTIVES = ("latency", "dram", "edp")
_DEPENDS = {"ifmap": "mk", "filter": "kn", "ofmap": "mn"}


@dataclass(frozen=True)
class OperandBits:
    """Bits per element as stored and moved: activations ``a``, weights ``w`` (packed below a
    byte; a fraction where per-group scales ride along, e.g. 3 + 3 x 4 / 128 for three sign planes
    with a 4-bit exponent per plane and group of 128), finished outputs ``out`` and partial sums
    ``psum``."""

    a: int = 8
    w: int = 8
    out: int = 32
    psum: int = 32

    def __post_init__(self) -> None:
        for name in ("a", "w", "out", "psum"):
            v = getattr(self, name)
            whole = isinstance(v, (int, np.integer))
            if isinstance(v, bool) or not (whole or name in "aw" and isinstance(v, float)) or not 1 <= v <= 64:
                kind = "a number" if name in "aw" else "an integer number"
                raise ValueError(f"OperandBits.{name} must be {kind} of bits in 1..64, got {v!r}")


def tile_bytes(elements: int, bits: int) -> int:
    """Bytes of ``elements`` values of ``bits`` each, packed."""
    return -(-elements * bits // 8)


@dataclass(frozen=True)
class Buffer:
    """One operand's on-chip buffer: capacity in bytes; double buffered (two tiles) or not; its
    banks, each ``width_bytes`` wide; and ``ports``, the array-side ports of each bank.

    ``ports=None`` (the default) puts no limit on how fast the engine reads (or, for the ofmap,
    writes) the buffer: the engine's own cycle model sets the tile's time. With ``ports`` set, the
    array side moves at most ``banks x ports x width_bytes`` bytes per cycle, and a tile whose
    engine traffic needs more cycles than its compute takes that long (:func:`port_limited`).
    Fills and drains from DRAM use a port of their own on the other side (a 1R1W memory, as the
    RTL tile controllers' buffers), so they do not take array-side ports."""

    capacity_bytes: int
    double_buffered: bool = True
    width_bytes: int = 8
    banks: int = 1
    ports: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.capacity_bytes, (int, np.integer)) or self.capacity_bytes < 1:
            raise ValueError(f"buffer capacity_bytes must be a positive integer, got {self.capacity_bytes!r}")
        for name in ("width_bytes", "banks") + (("ports",) if self.ports is not None else ()):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"buffer {name} must be a positive integer, got {v!r}")

    @property
    def tile_capacity(self) -> int:
        """Bytes one tile may take."""
        return self.capacity_bytes // (2 if self.double_buffered else 1)

    @property
    def array_bytes_per_cycle(self) -> float:
        """Bytes the engine may move through this buffer's array side per cycle (inf: no limit)."""
        return math.inf if self.ports is None else self.banks * self.ports * self.width_bytes


@dataclass(frozen=True)
class Dram:
    """The DRAM interface: bandwidth in bytes per cycle and read latency in cycles. ``shared``:
    one port that every operand's bursts take in turn (the RTL tile controller's); otherwise one
    port per operand, each at ``bandwidth``, working in parallel (SCALE-Sim's model: each of its
    ifmap, filter and ofmap buffers has its own interface)."""

    bandwidth: float
    latency: int = 0
    shared: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.bandwidth, (int, float, np.integer, np.floating)) and self.bandwidth > 0
                and math.isfinite(self.bandwidth)):
            raise ValueError(f"DRAM bandwidth must be a positive number of bytes per cycle, got {self.bandwidth!r}")
        if not isinstance(self.latency, (int, np.integer)) or self.latency < 0:
            raise ValueError(f"DRAM latency must be a non-negative integer of cycles, got {self.latency!r}")


@dataclass(frozen=True)
class MemoryConfig:
    """Buffers of the three operands and the DRAM port."""

    ifmap: Buffer
    filter: Buffer
    ofmap: Buffer
    dram: Dram

    @classmethod
    def uniform(cls, kb: float = 64, bandwidth: float = 10, latency: int = 0,
                double_buffered: bool = True) -> "MemoryConfig":
        """Three buffers of ``kb`` kB (1 kB = 1024 bytes) each and one DRAM port."""
        buf = Buffer(int(kb * 1024), double_buffered)
        return cls(buf, buf, buf, Dram(bandwidth, latency))

    @property
    def double_buffered(self) -> bool:
        return all(getattr(self, op).double_buffered for op in OPERANDS)

    @property
    def port_limited(self) -> bool:
        """Whether any buffer limits the engine's array-side bytes per cycle (``Buffer.ports``)."""
        return any(getattr(self, op).ports is not None for op in OPERANDS)


@dataclass(frozen=True)
class Mapping:
    """Tile sizes and the loop order over tiles (outer to inner, a permutation of "mnk")."""

    order: str
    tm: int
    tn: int
    tk: int
    name: str = ""

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"mapping order must be a permutation of 'mnk' (outer to inner), got {self.order!r}")
        for d in ("tm", "tn", "tk"):
            v = getattr(self, d)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"mapping {d} must be a positive integer, got {v!r}")

    def describe(self) -> str:
        label = f"{self.name}: " if self.name else ""
        return f"{label}{self.order} tiles {self.tm}x{self.tn}x{self.tk}"


@dataclass(frozen=True)
class MemoryResult:
    """One layer through the memory system under one mapping."""

    mapping: Mapping
    tiles: int
    compute_cycles: int
    stall_cycles: int
    total_cycles: int
    dram_read_bytes: dict  # operand -> bytes read from DRAM (ofmap: partial sums read back)
    dram_write_bytes: dict  # operand -> bytes written (ofmap only)
    dram_cycles: int  # cycles the DRAM port is busy, bursts and latency (per-operand ports: the busiest)
    fills: dict  # operand -> number of tiles fetched
    dram_write_elements: int = 0  # output elements written (spilled partial sums and finished outputs)

    @property
    def dram_bytes(self) -> int:
        return sum(self.dram_read_bytes.values()) + sum(self.dram_write_bytes.values())

    @property
    def bound(self) -> str:
        """"memory" when the DRAM port (the busiest one, with a port per operand) is busy longer
        than the engine computes, else "compute" (the roofline's test; stall cycles are never
        zero, since the first reads and the last write cannot overlap compute)."""
        return "memory" if self.dram_cycles > self.compute_cycles else "compute"

    def row(self) -> dict:
        """Flat columns (units in the names)."""
        r = {"mapping": self.mapping.describe(), "tiles": self.tiles, "compute_cycles": self.compute_cycles,
             "stall_cycles": self.stall_cycles, "total_cycles": self.total_cycles, "bound": self.bound,
             "dram_busy_cycles": self.dram_cycles}
        for op in OPERANDS:
            r[f"dram_{op}_read_bytes"] = self.dram_read_bytes[op]
        r["dram_ofmap_write_bytes"] = self.dram_write_bytes["ofmap"]
        r["dram_total_bytes"] = self.dram_bytes
        return r


def _tile_sizes(mapping: Mapping, m: int, n: int, k: int) -> dict[str, int]:
    return {"m": min(mapping.tm, m), "n": min(mapping.tn, n), "k": min(mapping.tk, k)}


def check_fits(mapping: Mapping, m: int, n: int, k: int, bits: OperandBits, mem: MemoryConfig) -> None:
    """Raise ValueError naming the operand and the bytes a tile needs when it does not fit."""
    t = _tile_sizes(mapping, m, n, k)
    need = {"ifmap": tile_bytes(t["m"] * t["k"], bits.a), "filter": tile_bytes(t["k"] * t["n"], bits.w),
            "ofmap": tile_bytes(t["m"] * t["n"], bits.psum if t["k"] < k else bits.out)}
    for op in OPERANDS:
        buf = getattr(mem, op)
        if need[op] > buf.tile_capacity:
            copies = 2 if buf.double_buffered else 1
            raise ValueError(
                f"{op} buffer of {buf.capacity_bytes} bytes is smaller than one tile of {mapping.describe()}: "
                f"it needs at least {need[op] * copies} bytes ({need[op]} per tile"
                f"{', double buffered' if copies == 2 else ''})")


def _representatives(trips: int) -> tuple[np.ndarray, np.ndarray]:
    """Loop indices standing for every index of a loop of ``trips``, with how many each stands
    for: 0, 1, T-2 and T-1 alone, and 2 for the middle 2..T-3. Every fact a step's slot needs
    (first, last, just wrapped, about to wrap, k > 0) is the same across the middle."""
    if trips <= 4:
        return np.arange(trips, dtype=np.int64), np.ones(trips, dtype=np.int64)
    return np.array([0, 1, 2, trips - 2, trips - 1], dtype=np.int64), np.array([1, 1, trips - 4, 1, 1], dtype=np.int64)


def simulate(m: int, n: int, k: int, tile_cycles: Callable[[int, int, int], int], bits: OperandBits,
             mem: MemoryConfig, mapping: Mapping, slot_overhead: int = 0, check: bool = True,
             every_step: bool = False) -> MemoryResult:
    """One M x N x K GEMM under ``mapping``: DRAM traffic, compute, stall and total cycles.

    ``tile_cycles(tm, tn, tk)`` is the engine's compute cycles of one tile (called once per
    distinct tile shape: at most eight, the edge tiles included).

    Exact and independent of the layer's size: a slot's length depends on the steps before and
    after it only through each loop index being first, second, in the middle, second to last or
    last, so at most 5^3 representative steps are evaluated and weighted by how many steps each
    stands for (``every_step=True`` evaluates every step instead; the tests hold the two equal).
    """
    for name, v in (("M", m), ("N", n), ("K", k)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"GEMM {name} must be a positive integer, got {v!r}")
    if check:
        check_fits(mapping, m, n, k, bits, mem)
    size = {"m": m, "n": n, "k": k}
    tile = _tile_sizes(mapping, m, n, k)
    trips = {d: -(-size[d] // tile[d]) for d in "mnk"}
    order = mapping.order
    shape = tuple(trips[d] for d in order)
    steps = math.prod(shape)
    strides = [math.prod(shape[pos + 1:]) for pos in range(3)]
    if every_step:
        lin = np.arange(steps, dtype=np.int64)
        weight = np.ones(steps, dtype=np.int64)
    else:
        reps = [_representatives(t) for t in shape]
        grid = np.meshgrid(*[r[0] for r in reps], indexing="ij")
        wgrid = np.meshgrid(*[r[1] for r in reps], indexing="ij")
        lin = sum(g.reshape(-1) * st for g, st in zip(grid, strides))
        weight = np.prod([w.reshape(-1) for w in wgrid], axis=0)

    def index(t: np.ndarray) -> dict[str, np.ndarray]:
        tc = np.minimum(np.maximum(t, 0), steps - 1)
        return {d: (tc // strides[pos]) % shape[pos] for pos, d in enumerate(order)}

    def info(t: np.ndarray) -> dict[str, np.ndarray]:
        """Reads, writes and compute of steps t (valid where 0 <= t < steps)."""
        cur, prev, nxt = index(t), index(t - 1), index(t + 1)
        ext = {d: np.where(cur[d] == trips[d] - 1, size[d] - (trips[d] - 1) * tile[d], tile[d]) for d in "mnk"}
        first, last = t == 0, t == steps - 1
        new = {}
        for op in OPERANDS:
            moved = first.copy()
            leaving = last.copy()
            for d in _DEPENDS[op]:
                moved |= cur[d] != prev[d]
                leaving |= cur[d] != nxt[d]
            new[op] = moved
            if op == "ofmap":
                leaves = leaving
        # C tile (m, n) meets its k tiles in increasing order: new with k > 0 only when it returns
        # after leaving unfinished (its partial sums come back); it leaves finished after its last k
        c_elems = ext["m"] * ext["n"]
        read = {
            "ifmap": np.where(new["ifmap"], -(-(ext["m"] * ext["k"] * bits.a) // 8), 0),
            "filter": np.where(new["filter"], -(-(ext["k"] * ext["n"] * bits.w) // 8), 0),
            "ofmap": np.where(new["ofmap"] & (cur["k"] > 0), -(-(c_elems * bits.psum) // 8), 0),
        }
        done = leaves & (cur["k"] == trips["k"] - 1)
        write = np.where(leaves, -(-(c_elems * np.where(done, bits.out, bits.psum)) // 8), 0)
        return {"ext": ext, "new": new, "read": read, "write": write, "write_elems": np.where(leaves, c_elems, 0)}

    bw, lat = mem.dram.bandwidth, mem.dram.latency

    def burst(nbytes: np.ndarray, is_read: bool) -> np.ndarray:
        cyc = np.ceil(nbytes / bw).astype(np.int64)
        return cyc + np.where(nbytes > 0, lat, 0) if is_read else cyc

    def cycles(i: dict) -> dict[str, np.ndarray]:
        reads = {op: burst(i["read"][op], True) for op in OPERANDS}
        return {"reads": reads, "write": burst(i["write"], False)}

    # every step the slots need (t, t+1, t-1, the first, the last) in one vectorised pass
    nl = len(lin)
    every = info(np.concatenate([lin, lin + 1, lin - 1, np.array([0, steps - 1], dtype=np.int64)]))

    def part(tree, sl: slice):
        return {key: part(v, sl) for key, v in tree.items()} if isinstance(tree, dict) else tree[sl]

    here = part(every, slice(0, nl))
    # compute cycles from the (at most eight) distinct tile shapes
    shapes = np.stack([here["ext"]["m"], here["ext"]["n"], here["ext"]["k"]], axis=1)
    uniq, inverse = np.unique(shapes, axis=0, return_inverse=True)
    per_shape = np.array([int(tile_cycles(int(a), int(b), int(c))) for a, b, c in uniq], dtype=np.int64)
    compute = per_shape[inverse.reshape(-1)]
    cyc_every = cycles(every)
    cyc_here = part(cyc_every, slice(0, nl))
    if mem.double_buffered:
        # slot t+1 computes step t, reads step t+1, writes step t-1
        has_next, has_prev = lin + 1 < steps, lin >= 1
        cyc_next, cyc_prev = part(cyc_every, slice(nl, 2 * nl)), part(cyc_every, slice(2 * nl, 3 * nl))
        r_next = {op: np.where(has_next, cyc_next["reads"][op], 0) for op in OPERANDS}
        w_prev = np.where(has_prev, cyc_prev["write"], 0)
        if mem.dram.shared:
            dram = sum(r_next.values()) + w_prev
        else:  # one port per operand: the slowest sets the slot; the ofmap port reads and writes
            dram = np.maximum.reduce([r_next["ifmap"], r_next["filter"], r_next["ofmap"] + w_prev])
        slot = np.maximum(compute, dram)
        first_reads = part(cyc_every, slice(3 * nl, 3 * nl + 1))["reads"]
        slot0 = (sum(int(v[0]) for v in first_reads.values()) if mem.dram.shared
                 else max(int(v[0]) for v in first_reads.values()))
        last_write = int(cyc_every["write"][3 * nl + 1])
        total = slot0 + int((slot * weight).sum()) + last_write + slot_overhead * (steps + 2)
    else:
        fetch = (sum(cyc_here["reads"].values()) if mem.dram.shared
                 else np.maximum.reduce(list(cyc_here["reads"].values())))
        total = int(((fetch + compute + cyc_here["write"]) * weight).sum()) + slot_overhead * steps
    comp_total = int((compute * weight).sum())
    if mem.dram.shared:
        dram_cycles = int(((sum(cyc_here["reads"].values()) + cyc_here["write"]) * weight).sum())
    else:
        port = {op: int((cyc_here["reads"][op] * weight).sum()) for op in OPERANDS}
        port["ofmap"] += int((cyc_here["write"] * weight).sum())
        dram_cycles = max(port.values())
    return MemoryResult(
        mapping=mapping, tiles=steps, compute_cycles=comp_total, stall_cycles=total - comp_total,
        total_cycles=total,
        dram_read_bytes={op: int((here["read"][op] * weight).sum()) for op in OPERANDS},
        dram_write_bytes={"ifmap": 0, "filter": 0, "ofmap": int((here["write"] * weight).sum())},
        dram_cycles=dram_cycles,
        fills={op: int((here["new"][op] * weight).sum()) for op in OPERANDS},
        dram_write_elements=int((here["write_elems"] * weight).sum()),
    )


def port_limited(tile_cycles: Callable[[int, int, int], int],
                 traffic: Callable[[int, int, int], Mapping_[str, float]], mem: MemoryConfig) -> Callable[[int, int, int], int]:
    """Tile compute cycles with the buffers' array-side ports: a tile takes
    max(the engine's cycles, ceil(bytes the engine moves through each buffer / that buffer's
    ``array_bytes_per_cycle``)). ``traffic(tm, tn, tk)`` gives those bytes per operand ("ifmap",
    "filter", "ofmap"): the engine's own buffer events on the tile's GEMM. First order: the
    accesses are assumed spread evenly over the tile (no bank conflicts beyond the total rate)."""
    rates = {op: getattr(mem, op).array_bytes_per_cycle for op in OPERANDS}

    @functools.lru_cache(maxsize=None)
    def cycles(tm: int, tn: int, tk: int) -> int:
        moved = traffic(tm, tn, tk)
        need = max((math.ceil(moved.get(op, 0) / rate) for op, rate in rates.items() if math.isfinite(rate)),
                   default=0)
        return max(int(tile_cycles(tm, tn, tk)), need)

    return cycles


def _dim_candidates(size: int, unit: int) -> list[int]:
    """Multiples of ``unit`` doubling up to the whole dimension, and the whole dimension."""
    unit = max(1, min(unit, size))
    out, t = [], unit
    while t < size:
        out.append(t)
        t *= 2
    out.append(size)
    return out


def candidates(m: int, n: int, k: int, unit: tuple[int, int, int], bits: OperandBits,
               mem: MemoryConfig, orders: Iterable[str] = ORDERS) -> list[Mapping]:
    """Every legal mapping: tiles of the engine's unit (its fold) times powers of two, or the
    whole dimension, that fit their buffers; each loop order. Raises when not even one unit
    tile fits, naming the operand and the bytes it needs."""
    um, un, uk = unit
    smallest = Mapping("mnk", min(um, m), min(un, n), min(uk, k))
    check_fits(smallest, m, n, k, bits, mem)
    out = []
    for tm in _dim_candidates(m, um):
        if tile_bytes(tm * min(uk, k), bits.a) > mem.ifmap.tile_capacity:
            break
        for tn in _dim_candidates(n, un):
            if tile_bytes(min(uk, k) * tn, bits.w) > mem.filter.tile_capacity or \
                    tile_bytes(tm * tn, bits.psum) > mem.ofmap.tile_capacity:
                break
            for tk in _dim_candidates(k, uk):
                if tile_bytes(tm * tk, bits.a) > mem.ifmap.tile_capacity or \
                        tile_bytes(tk * tn, bits.w) > mem.filter.tile_capacity:
                    break
                for order in orders:
                    out.append(Mapping(order, tm, tn, tk))
    return out


def dram_energy_pj(res: MemoryResult, pj_per_byte: float) -> float:
    return res.dram_bytes * pj_per_byte


def compute_cycles(m: int, n: int, k: int, tile_cycles: Callable[[int, int, int], int], tm: int, tn: int,
                   tk: int) -> int:
    """Compute cycles of all tiles (any loop order): each of the at most eight tile shapes once."""
    size, tile = {"m": m, "n": n, "k": k}, {"m": min(tm, m), "n": min(tn, n), "k": min(tk, k)}
    parts = {}
    for d in "mnk":
        trips = -(-size[d] // tile[d])
        rem = size[d] - (trips - 1) * tile[d]
        parts[d] = [(tile[d], trips - 1), (rem, 1)] if rem != tile[d] else [(tile[d], trips)]
    compute = 0
    for (a, ca), (b, cb), (c, cc) in itertools.product(parts["m"], parts["n"], parts["k"]):
        if ca and cb and cc:
            compute += ca * cb * cc * int(tile_cycles(a, b, c))
    return compute


def bounds(m: int, n: int, k: int, tile_cycles: Callable[[int, int, int], int], bits: OperandBits,
           mem: MemoryConfig, mapping: Mapping, compute: int | None = None) -> tuple[int, float, float]:
    """Closed form, no step loop: (compute cycles exactly, DRAM bytes as a lower bound (packing
    per tile not rounded up), a lower bound on total cycles). Each operand tile is fetched the
    same number of times: the product of the trip counts of the loops out to the innermost loop
    it depends on whose trip count exceeds 1. ``compute``: :func:`compute_cycles`, if known."""
    size = {"m": m, "n": n, "k": k}
    tile = _tile_sizes(mapping, m, n, k)
    trips = {d: -(-size[d] // tile[d]) for d in "mnk"}
    if compute is None:
        compute = compute_cycles(m, n, k, tile_cycles, mapping.tm, mapping.tn, mapping.tk)

    def fetches(dims: str) -> int:
        inner = [i for i, d in enumerate(mapping.order) if d in dims and trips[d] > 1]
        return math.prod(trips[d] for d in mapping.order[:inner[-1] + 1]) if inner else 1

    per_tile = {op: fetches(_DEPENDS[op]) / math.prod(trips[d] for d in _DEPENDS[op]) for op in OPERANDS}
    byt = {"ifmap": per_tile["ifmap"] * m * k * bits.a / 8, "filter": per_tile["filter"] * k * n * bits.w / 8}
    visits = per_tile["ofmap"]  # each C tile visited this many times: all but the last spill, all but the first return
    byt["ofmap"] = m * n * (bits.out + (visits - 1) * 2 * bits.psum) / 8
    total = sum(byt.values())
    bw = mem.dram.bandwidth
    dram_lb = total / bw if mem.dram.shared else max(byt.values()) / bw
    if not mem.double_buffered:
        return compute, total, compute + dram_lb
    # slot 0 only reads the first tile, the last slot only writes the last C tile
    first = mem.dram.latency + math.ceil((tile["m"] * tile["k"] * bits.a / 8) / bw)
    last_m, last_n = size["m"] - (trips["m"] - 1) * tile["m"], size["n"] - (trips["n"] - 1) * tile["n"]
    last = math.ceil((last_m * last_n * bits.out / 8) / bw)
    return compute, total, max(compute + first + last, dram_lb)


def best_mapping(m: int, n: int, k: int, tile_cycles: Callable[[int, int, int], int], bits: OperandBits,
                 mem: MemoryConfig, unit: tuple[int, int, int], objective: str = "latency",
                 slot_overhead: int = 0) -> MemoryResult:
    """The legal mapping that minimises ``objective``: "latency" (total cycles, then DRAM bytes),
    "dram" (DRAM bytes, then cycles) or "edp" (DRAM bytes x total cycles, a proxy for the
    energy-delay product when DRAM dominates energy). Ties go to the earlier candidate.

    Branch and bound: every candidate's closed-form lower bound (:func:`bounds`) first; candidates
    are simulated in the order of their bounds until the next bound cannot beat the best found,
    so the result is the exact optimum over :func:`candidates`."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    cached = tile_cycles if hasattr(tile_cycles, "cache_info") else functools.lru_cache(maxsize=None)(tile_cycles)

    def key_of(cycles: float, nbytes: float) -> tuple:
        return {"latency": (cycles, nbytes), "dram": (nbytes, cycles), "edp": (nbytes * cycles, cycles)}[objective]

    ranked, seen, computes = [], set(), {}
    for i, mp in enumerate(candidates(m, n, k, unit, bits, mem)):
        # loops of one trip do not change the schedule: orders equal without them are one mapping
        trips = {"m": -(-m // mp.tm), "n": -(-n // mp.tn), "k": -(-k // mp.tk)}
        same = ("".join(d for d in mp.order if trips[d] > 1), mp.tm, mp.tn, mp.tk)
        if same in seen:
            continue
        seen.add(same)
        if (mp.tm, mp.tn, mp.tk) not in computes:
            computes[(mp.tm, mp.tn, mp.tk)] = compute_cycles(m, n, k, cached, mp.tm, mp.tn, mp.tk)
        _, nbytes, cycles = bounds(m, n, k, cached, bits, mem, mp, computes[(mp.tm, mp.tn, mp.tk)])
        ranked.append((key_of(cycles, nbytes), i, mp))
    ranked.sort(key=lambda t: (t[0], t[1]))
    best, best_key = None, None
    for bound, _, mp in ranked:
        if best_key is not None and bound >= best_key:
            break
        res = simulate(m, n, k, cached, bits, mem, mp, slot_overhead, check=False)
        key = key_of(res.total_cycles, res.dram_bytes)
        if best_key is None or key < best_key:
            best, best_key = res, key
    return replace(best, mapping=replace(best.mapping, name=f"best {objective}"))


def scalesim_mapping(dataflow: str, rows: int, cols: int, m: int, n: int, k: int, bits: OperandBits,
                     mem: MemoryConfig) -> Mapping:
    """SCALE-Sim 3's fold order as a mapping (docs/scalesim.md gives how its traffic still differs).

    OS: column folds outer, row folds inner (SCALE-Sim 3's order), K streamed whole. When the
    whole ifmap (M x K) and an M x C output stripe fit their buffers, one tile spans all row folds
    of a column fold (M x C x K): the ifmap is fetched once and each filter column stripe once, as
    SCALE-Sim does when an operand fits half its buffer. Otherwise one fold per tile (R x C),
    K split into the largest chunk the buffers hold.
    WS: column folds outer, row (K) folds inner, all M rows streamed; the same whole-operand tile
    (M x C x K) when the ifmap and an M x C stripe of partial sums fit, else one R (K) x C weight
    fold per tile with M split to what the ifmap and ofmap buffers hold.
    IS: an R (K) x C (M) input tile per fold, N streamed."""

    def fits(tm: int, tn: int, tk: int) -> bool:
        return (tile_bytes(tm * tk, bits.a) <= mem.ifmap.tile_capacity
                and tile_bytes(tk * tn, bits.w) <= mem.filter.tile_capacity
                and tile_bytes(tm * tn, bits.psum) <= mem.ofmap.tile_capacity)

    def halve_until_fits(whole: int, ok: Callable[[int], bool]) -> int:
        t = whole
        while t > 1 and not ok(t):
            t = -(-t // 2)
        return t

    r_, c_ = min(rows, k if dataflow != "os" else m), min(cols, n if dataflow != "is" else m)
    if dataflow in ("os", "ws") and fits(m, c_, k):
        return Mapping("nmk", m, c_, k, name=f"scalesim {dataflow}")
    if dataflow == "os":  # R x C output tile, K streamed
        return Mapping("nmk", r_, c_, halve_until_fits(k, lambda t: fits(r_, c_, t)), name="scalesim os")
    if dataflow == "ws":  # R (K) x C (N) weights, M streamed
        return Mapping("nkm", halve_until_fits(m, lambda t: fits(t, c_, r_)), c_, r_, name="scalesim ws")
    if dataflow == "is":  # R (K) x C (M) inputs, N streamed
        return Mapping("mkn", c_, halve_until_fits(n, lambda t: fits(c_, t, r_)), r_, name="scalesim is")
    raise ValueError(f"dataflow must be os, ws or is for SCALE-Sim's mapping, got {dataflow!r}")
