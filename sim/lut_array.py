"""Cycle-level model of an array of LUT look-up lanes sharing one table builder (LUT-GEMM).

The arithmetic is that of sim/lut_pe.py: y = x W^T, W = sum_{i<q} 2^{e[i, n, group]} * B_i with
B_i in {-1, +1}, int8 activations, packed sign bytes (bit t of byte kb of a row is column
8*kb + t, 1 = +1), power-of-two scales applied as left shifts, exact int32 accumulation. What
changes is the hardware around it, and LUT-GEMM's point with it: the 256-entry table of one
activation byte (8 activations) serves every output row, so one table builder feeds P lanes.

* **one table builder**, the PE's Gray-code builder unchanged: BUILD_CYCLES = 8 + 255 = 263
  cycles per table (entry 0 in 8 cycles, then one +-2 x_t add and one table write per cycle).
* **P look-up lanes**, each with its own weight-byte and exponent buffers, shifter, adder and
  int32 accumulators. Lane l owns the output rows n = l, l + P, l + 2P, ... (slot s holds
  n = l + P*s), so each lane has NL = ceil(N / P) slots and lane l's slots with n >= N are idle
  (N need not be a multiple of P). Per table, the lanes step together through (slot s outer,
  plane i inner): one look-up per lane per cycle, L = q * NL cycles per table.
* **the table has P read ports** (a multi-ported register file): one storage array of
  256 x 12 bits, written by the builder, and P read multiplexers (256:1, 12 bits wide), one per
  lane. The alternative, P banked copies written together, needs the same P read multiplexers
  (one per copy) plus (P - 1) x 3072 more flip-flops and P-fold table-write energy, so with
  flip-flop storage the shared table is strictly smaller; banking only pays with single-port
  SRAM macros. Event counts here are for the shared table (256 table_writes per build).
* **double_buffer** (Verilog parameter DBUF): two tables, so the builder fills the next byte
  position's table while the lanes read this one. Costs a second 256 x 12 table (3072 more
  flip-flops) and makes every read mux 512:1; the builder and the lanes do not change.

Area, measured with yosys through reports/synth.py (its cell table; lut_array.v at its default
buffer sizes XAW=6, WAW=EAW=YAW=4): P=1 single table 41.8k um^2 (4575 flip-flops); P=4 single
table 83.6k um^2 (6685); P=4 double table 130.2k um^2 (9759); one lut_array_lane (buffers,
shifter, adder) 7.4k um^2 (704). So four lanes cost 2.0x one lane's array for up to 4x the
look-up rate, and the second table costs +56 % area at P=4: it pays only where the build and
look-up phases are comparable, q * ceil(N/P) near 263 (see lut_array_cycles).

Steps s = 0 .. S-1 with S = M * (K/8) (activation row m outer, byte position kb inner) each need
one table build and L look-up cycles. The controller runs in phases; a phase ends on the cycle
on which every unit active in it has finished (an idle unit waits):

* double_buffer=False: build(0), look-ups(0), build(1), look-ups(1), ... nothing overlapped:
      cycles = S * (BUILD_CYCLES + L)
  (with P = 1 exactly sim.lut_pe.lut_cycles);
* double_buffer=True: phase 0 builds table 0 alone; phase j = 1 .. S-1 runs look-ups(j-1) on
  one table while build(j) fills the other; the last phase runs look-ups(S-1) alone:
      cycles = BUILD_CYCLES + (S - 1) * max(BUILD_CYCLES, L) + L.
  (The phases are the tightest schedule two tables allow: the builder may start table j+1 only
  when the look-ups of table j-1 have released its bank, the lanes may start table j only when
  it is built; for either sign of BUILD_CYCLES - L that gives the same total.)

Cycles run from the edge that samples start (the first build cycle) to the edge on which done
rises (the last look-up), both counted, as the co-simulation measures.

Events are those of sim/lut_pe.py with the same names and meanings (reports/cost.py's
lut_event_energy prices them), and for the same GEMM they are the same counts: the array does
the PE's work in fewer cycles. Idle lane slots (n >= N) read nothing and write nothing; their
share is ``LutArrayResult.lane_utilisation``.

``mode="fast"``: closed-form cycles and events and one exact integer product; ``mode="stepwise"``:
every clock stepped with the banks, counters and phase controller of
rtl_models/verilog/lut_array.v (the tables really are written and read, so a schedule that let
the builder overwrite a table still being read would give a wrong y); it raises if its cycles or
events differ from the closed forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim.lut_pe import (
    BUILD_CYCLES,
    EVENT_NAMES,
    TABLE_ENTRIES,
    LutPEConfig,
    LutResult,
    _check_dims,
    check_operands,
    lut_events,
    table_direct,
    unpack_signs,
)

MAX_LANES = 64

__all__ = [
    "BUILD_CYCLES", "EVENT_NAMES", "MAX_LANES", "LutArrayConfig", "LutArrayResult", "estimate_lut_array",
    "lane_slots", "lookup_cycles_per_table", "lut_array_cycles", "lut_array_events", "lut_array_workloads",
    "simulate_lut_array",
]


@dataclass(frozen=True)
class LutArrayConfig:
    """P = ``lanes`` look-up lanes around one table builder; ``double_buffer``: two tables, the
    next build overlapping this table's look-ups; ``exp_bits``: scale exponents 0..2^exp_bits-1."""

    lanes: int = 4
    double_buffer: bool = True
    exp_bits: int = 4

    def __post_init__(self) -> None:
        if isinstance(self.lanes, bool) or not isinstance(self.lanes, (int, np.integer)) \
                or not 1 <= self.lanes <= MAX_LANES:
            raise ValueError(f"lanes must be an integer in 1..{MAX_LANES}, got {self.lanes!r}")
        if not isinstance(self.double_buffer, (bool, np.bool_)):
            raise TypeError(f"double_buffer must be True or False, got {self.double_buffer!r}")
        LutPEConfig(exp_bits=self.exp_bits)  # validates exp_bits with the PE's message

    @property
    def pe(self) -> LutPEConfig:
        """The datapath widths (int8 activations, 12-bit table, int32 accumulators)."""
        return LutPEConfig(exp_bits=self.exp_bits)

    @property
    def max_exp(self) -> int:
        return self.pe.max_exp

    @property
    def table_banks(self) -> int:
        return 2 if self.double_buffer else 1


def lane_slots(n: int, lanes: int) -> int:
    """NL = ceil(N / P): output rows (slots) per lane."""
    return -(-n // lanes)


def lookup_cycles_per_table(n: int, q: int, lanes: int) -> int:
    """L = q * ceil(N / P): cycles the lanes spend on one table."""
    return q * lane_slots(n, lanes)


def lut_array_cycles(m: int, k: int, n: int, q: int, lanes: int, double_buffer: bool) -> int:
    """Start -> done cycles (see the module docstring)."""
    steps = m * (k // 8)
    look = lookup_cycles_per_table(n, q, lanes)
    if double_buffer:
        return BUILD_CYCLES + (steps - 1) * max(BUILD_CYCLES, look) + look
    return steps * (BUILD_CYCLES + look)


def lut_array_events(m: int, k: int, n: int, q: int) -> dict[str, int]:
    """Event counts: those of sim.lut_pe.lut_events (same work, same names; idle slots count nothing)."""
    return lut_events(m, k, n, q)


@dataclass
class LutArrayResult(LutResult):
    """LutResult plus the array's configuration in ``extra`` (lanes, double_buffer, L)."""

    @property
    def lanes(self) -> int:
        return self.extra["lanes"]

    @property
    def lane_utilisation(self) -> float:
        """Look-ups over lane-cycles, table_reads / (P * cycles): the share of lane time doing work."""
        return self.events["table_reads"] / (self.lanes * self.cycles)

    @property
    def builder_utilisation(self) -> float:
        """Build cycles over cycles: how busy the one table builder is."""
        return self.events["act_reads"] / self.cycles


def _check_cfg(cfg) -> LutArrayConfig:
    if cfg is None:
        return LutArrayConfig()
    if not isinstance(cfg, LutArrayConfig):
        raise TypeError(f"cfg must be a LutArrayConfig, got {type(cfg).__name__}")
    return cfg


def estimate_lut_array(m: int, n: int, k: int, q: int, group_size: int,
                       cfg: LutArrayConfig | None = None) -> LutArrayResult:
    """Cycles and events of an M x N x K GEMM with q planes on the array, without computing it."""
    cfg = _check_cfg(cfg)
    _check_dims(m, n, k, q, group_size)
    extra = {"lanes": int(cfg.lanes), "double_buffer": bool(cfg.double_buffer),
             "lookup_cycles_per_table": lookup_cycles_per_table(n, q, cfg.lanes), "build_cycles": BUILD_CYCLES}
    return LutArrayResult(None, lut_array_cycles(m, k, n, q, cfg.lanes, cfg.double_buffer),
                          lut_array_events(m, k, n, q), (m, n, k, q), group_size, extra)


def simulate_lut_array(x, packed, exps, group_size: int, cfg: LutArrayConfig | None = None,
                       mode: Literal["fast", "stepwise"] = "fast") -> LutArrayResult:
    """y = x W^T on the LUT array: exact int32 result, cycles and events.

    ``x`` (M, K) int8 values; ``packed`` (q, N, K/8) uint8 sign bytes; ``exps`` (q, N, K/g)
    integers in 0..cfg.max_exp (sim.lut_pe.check_operands validates them, same messages).
    """
    cfg = _check_cfg(cfg)
    if mode not in ("fast", "stepwise"):
        raise ValueError(f"mode must be 'fast' or 'stepwise', got {mode!r}")
    x, packed, exps = check_operands(x, packed, exps, group_size, cfg.pe)
    m, k = x.shape
    q, n, _ = packed.shape
    res = estimate_lut_array(m, n, k, q, group_size, cfg)
    if mode == "fast":
        w = (unpack_signs(packed) << np.repeat(exps, group_size, axis=-1)).sum(0)  # (N, K) int64
        res.y = (x @ w.T).astype(np.int32)  # |y| < 2^31 is checked, int64 products are exact
    else:
        y, cycles, events = _simulate_stepwise(x, packed, exps, group_size, cfg.lanes, bool(cfg.double_buffer))
        if cycles != res.cycles:  # the closed form is wrong: say so, never hide it
            raise AssertionError(f"stepwise {cycles} cycles != closed form {res.cycles}")
        if events != res.events:
            raise AssertionError(f"stepwise events {events} != closed form {res.events}")
        res.y = y
    return res


def _simulate_stepwise(x, packed, exps, group_size, lanes: int, dbuf: bool):
    """Step the array one clock at a time, as lut_array.v does: builder, lanes, phase controller."""
    m_len, _ = x.shape
    q, n_len, kb_len = packed.shape
    steps = m_len * kb_len
    nl = lane_slots(n_len, lanes)
    bytes_per_group = group_size // 8
    tables = np.zeros((2 if dbuf else 1, TABLE_ENTRIES), np.int64)
    acc = np.zeros((m_len, n_len), np.int64)
    ev = dict.fromkeys(EVENT_NAMES, 0)
    # controller state, as after reset: the builder is armed, the lanes idle. A unit that has
    # finished its work of the phase waits (bld_wait / lk_wait) until the other one finishes too.
    bld_on, lk_on, bld_wait, lk_wait, all_built = True, False, False, False, False
    bld_step = lk_step = 0
    bld_bank = lk_bank = 0
    c, r = 0, 0
    slot = plane = 0
    cycles = 0
    while True:
        cycles += 1
        if cycles > 4 * (steps * (BUILD_CYCLES + q * nl) + 8):
            raise AssertionError("stepwise LUT array did not finish: controller hang")
        bld_last = lk_last = False
        # -- lanes: read this cycle's table (before the builder's write lands at the edge)
        if lk_on and not lk_wait:
            m, kb = divmod(lk_step, kb_len)
            for lane in range(lanes):
                nn = lane + lanes * slot
                if nn >= n_len:
                    continue  # idle slot: no read, no write
                entry = int(tables[lk_bank, int(packed[plane, nn, kb])])
                shifted = entry << int(exps[plane, nn, kb // bytes_per_group])
                acc[m, nn] = shifted if (kb == 0 and plane == 0) else acc[m, nn] + shifted
                for name in ("weight_byte_reads", "table_reads", "exp_reads", "shifts", "adds", "acc_writes"):
                    ev[name] += 1
            if plane < q - 1:
                plane += 1
            else:
                plane = 0
                if slot < nl - 1:
                    slot += 1
                else:
                    slot = 0
                    lk_last = True
        # -- builder: one Gray-code step into its bank
        if bld_on and not bld_wait:
            m, kb = divmod(bld_step, kb_len)
            x8 = [int(v) for v in x[m, 8 * kb: 8 * kb + 8]]
            if c < 8:
                r = (0 if c == 0 else r) - x8[c]
                if c == 7:
                    tables[bld_bank, 0] = r
                    ev["table_writes"] += 1
            else:
                j = c - 7
                t = (j & -j).bit_length() - 1  # lowest set bit of j: the bit that flips
                p = j ^ (j >> 1)
                r += 2 * x8[t] if (p >> t) & 1 else -2 * x8[t]
                tables[bld_bank, p] = r
                ev["table_writes"] += 1
            for name in ("act_reads", "adds", "build_reg_writes"):
                ev[name] += 1
            if c == BUILD_CYCLES - 1:
                c = 0
                bld_last = True
                ev["table_builds"] += 1
                if not np.array_equal(tables[bld_bank], table_direct(x8)):
                    raise AssertionError(f"Gray-code table build broken at m={m}, kb={kb}")
            else:
                c += 1
        # -- phase controller
        if lk_last and lk_step == steps - 1:
            break  # done rises on this edge
        phase_end = (not bld_on or bld_wait or bld_last) and (not lk_on or lk_wait or lk_last)
        if bld_last:
            all_built = all_built or bld_step == steps - 1
            bld_step += 1
            bld_bank ^= int(dbuf)
        if lk_last:
            lk_step += 1
            lk_bank ^= int(dbuf)
        if phase_end:
            next_bld = (dbuf or lk_on) and not all_built
            lk_on = bld_on  # a table built in this phase is read in the next
            bld_on = next_bld
            bld_wait = lk_wait = False
        else:
            bld_wait = bld_wait or bld_last
            lk_wait = lk_wait or lk_last
    ev["reg_writes"] = ev["build_reg_writes"] + ev["acc_writes"]
    return acc.astype(np.int32), cycles, ev


def lut_array_workloads(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, int]]:
    """Golden workloads for the array: (name, x, packed, exps, group_size).

    sim.lut_pe's golden set (every q, one and several groups, the accumulator's extreme) plus
    shapes that matter to lanes: N not a multiple of P for P = 2..4, N < P (idle lanes), a
    look-up phase longer than a build (q * ceil(N/P) > 263, where double buffering is
    lane-bound) and a long row of bytes (builder-bound). Small enough for the co-simulation.
    """
    from sim.lut_pe import lut_edge_workloads

    rng = np.random.default_rng(seed + 1)

    def rand(m, n, k, q, g, exp_hi=16):
        return (rng.integers(-128, 128, (m, k), dtype=np.int8),
                rng.integers(0, 256, (q, n, k // 8), dtype=np.uint8),
                rng.integers(0, exp_hi, (q, n, k // g), dtype=np.int64), g)

    cases = list(lut_edge_workloads(seed))
    cases += [
        ("ragged_2x11x24_q2_g8", *rand(2, 11, 24, 2, 8)),
        ("fewer_rows_than_lanes_2x2x16_q1", *rand(2, 2, 16, 1, 16)),
        ("lane_bound_1x140x16_q4_g8", *rand(1, 140, 16, 4, 8)),
        ("builder_bound_1x3x64_q1_g32", *rand(1, 3, 64, 1, 32)),
    ]
    m, n, k, q, g = 1, 5, 32, 4, 32  # the other extreme: x = +127, every sign +1
    cases.append(("extreme_pos_1x5x32_q4", np.full((m, k), 127, np.int8), np.full((q, n, k // 8), 255, np.uint8),
                  np.full((q, n, k // g), 15, np.int64), g))
    return cases
