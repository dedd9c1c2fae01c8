"""Cycle-level model of a LUT processing element for binary-coded GEMM (ShiftAddLLM / LUT-GEMM).

The engine computes y = x W^T, W = sum_{i<q} 2^{e[i, n, group]} * B_i with B_i in {-1, +1}, on
int8 activations and packed sign bits (kernels/bcq.py's layout: bit t of byte kb of a row is
column 8*kb + t, 1 = +1). Scales are integer powers of two, so applying one is a left shift and
the whole engine is exact integer arithmetic, equal bit for bit to the Triton kernel's integer
path (kernels/lut_gemm.py) run with scales 2^e.

The PE has one 256-entry table of signed TABLE_BITS-bit partial sums, one adder for building it,
one shifter and one accumulator adder, and it works on one activation row m at a time. For every
byte position kb (8 activations x_0..x_7 = x[m, 8kb .. 8kb+7]) it runs two phases, one clock per
step, nothing overlapped:

* **table build, BUILD_CYCLES = 8 + 255 = 263 cycles.** Cycles 0..7 form entry 0 in a running
  register, r = 0 - x_0, r - x_1, ..., and write T[0] = -(x_0 + ... + x_7) on cycle 7. Cycles
  8..262 walk the remaining 255 entries in Gray-code order: step j = 1..255 visits
  p = j ^ (j >> 1), which differs from the previous entry in exactly one bit t (the lowest set
  bit of j), so r += +2 x_t (bit t now set) or -2 x_t (now clear) and T[p] = r: one add, one
  activation read and one table write per cycle, and no table read.
* **look-up, q * N cycles.** For each output row n (outer) and plane i (inner) one cycle reads
  weight byte packed[i, n, kb], reads T[byte], shifts it left by e[i, n, kb // (g/8)] and adds
  it into the int32 accumulator of y[m, n] (the first look-up of a row, kb = 0 and i = 0,
  overwrites the accumulator instead of adding, which clears it without a cycle of its own).

Cycles from the edge that samples start to done (both counted, as the co-simulation measures):

    cycles = M * (K / 8) * (BUILD_CYCLES + q * N)

The table costs 263 cycles and serves q * N look-ups, so the PE reaches half its look-up rate at
q * N = 263; LUT-GEMM's point is that real layers have N in the thousands.

Two ways to run the model, as in sim/systolic.py: ``mode="fast"`` (closed-form cycles and
events, one exact integer matrix product) and ``mode="stepwise"`` (every cycle stepped with the
same registers and counters as rtl_models/verilog/lut_pe.v; slow, it proves the closed forms
and tests hold the two equal).

Exactness bound: |T| <= 8 * 128 = 1024 (TABLE_BITS = 12 signed bits) and
|y| <= q * K * 128 * 2^max_exp; inputs where that can exceed 2^31 - 1 are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

BUILD_CYCLES = 8 + 255
TABLE_ENTRIES = 256
MAX_Q = 4


@dataclass(frozen=True)
class LutPEConfig:
    """Datapath widths of the LUT PE: int8 activations, 12-bit table, int32 accumulator,
    ``exp_bits``-bit scale exponents (0 .. 2^exp_bits - 1)."""

    act_bits: int = 8
    acc_bits: int = 32
    exp_bits: int = 4

    def __post_init__(self) -> None:
        if self.act_bits != 8 or self.acc_bits != 32:
            raise ValueError("the LUT PE is built for int8 activations and an int32 accumulator")
        if isinstance(self.exp_bits, bool) or not isinstance(self.exp_bits, int) or not 1 <= self.exp_bits <= 5:
            raise ValueError(f"exp_bits must be an integer in 1..5, got {self.exp_bits!r}")

    @property
    def table_bits(self) -> int:
        """|T| <= 8 * 2^(act_bits-1) = 1024 needs 12 signed bits."""
        return self.act_bits + 4

    @property
    def max_exp(self) -> int:
        return 2**self.exp_bits - 1


def lut_cycles(m: int, k: int, n: int, q: int) -> int:
    """Cycles from start to done: M * (K/8) * (BUILD_CYCLES + q * N)."""
    return m * (k // 8) * (BUILD_CYCLES + q * n)


def lut_events(m: int, k: int, n: int, q: int) -> dict[str, int]:
    """Event counts of one GEMM (all data-independent).

    table_builds: tables built (one per activation row and byte position); table_writes: entries
    written; table_reads: look-ups; adds: build adds (263 per table, the first is 0 - x_0) plus
    one accumulate add per look-up; shifts: one per look-up (the shifter runs even for e = 0);
    act_reads: one activation read per build cycle; weight_byte_reads and exp_reads: one each per
    look-up; build_reg_writes: the running-sum register, once per build cycle; acc_writes: the
    accumulator of y[m, n], once per look-up; reg_writes: the two together.
    """
    builds = m * (k // 8)
    lookups = builds * q * n
    return {
        "table_builds": builds,
        "table_writes": TABLE_ENTRIES * builds,
        "table_reads": lookups,
        "adds": BUILD_CYCLES * builds + lookups,
        "shifts": lookups,
        "act_reads": BUILD_CYCLES * builds,
        "weight_byte_reads": lookups,
        "exp_reads": lookups,
        "build_reg_writes": BUILD_CYCLES * builds,
        "acc_writes": lookups,
        "reg_writes": BUILD_CYCLES * builds + lookups,
    }


EVENT_NAMES = tuple(lut_events(1, 8, 1, 1))


@dataclass
class LutResult:
    """What the model returns for one GEMM."""

    y: np.ndarray | None  # int32 (M, N); None from estimate_lut_gemm
    cycles: int
    events: dict[str, int]
    shape: tuple[int, int, int, int]  # (M, N, K, q)
    group_size: int
    extra: dict = field(default_factory=dict)

    @property
    def lookup_utilisation(self) -> float:
        """Look-ups over cycles: q*N / (263 + q*N), the share of time spent off the table build."""
        return self.events["table_reads"] / self.cycles


def estimate_lut_gemm(m: int, n: int, k: int, q: int, group_size: int) -> LutResult:
    """Cycles and events of an M x N x K GEMM with q planes, without computing it."""
    _check_dims(m, n, k, q, group_size)
    return LutResult(None, lut_cycles(m, k, n, q), lut_events(m, k, n, q), (m, n, k, q), group_size)


def unpack_signs(packed: np.ndarray) -> np.ndarray:
    """uint8 (..., K/8) -> int64 {-1, +1} (..., K); bit t of byte kb is column 8*kb + t."""
    bits = (packed[..., None].astype(np.int64) >> np.arange(8)) & 1
    return (2 * bits - 1).reshape(*packed.shape[:-1], packed.shape[-1] * 8)


def table_direct(x8: np.ndarray) -> np.ndarray:
    """T[p] = sum_t (bit t of p ? +x_t : -x_t) for 8 activations, straight from the definition."""
    signs = 2 * ((np.arange(TABLE_ENTRIES)[:, None] >> np.arange(8)) & 1) - 1  # (256, 8)
    return signs @ np.asarray(x8, np.int64)


def simulate_lut_gemm(x, packed, exps, group_size: int, cfg: LutPEConfig | None = None,
                      mode: Literal["fast", "stepwise"] = "fast") -> LutResult:
    """y = x W^T on the LUT PE: exact int32 result, cycles and events.

    ``x`` (M, K) int8 values; ``packed`` (q, N, K/8) uint8 sign bytes; ``exps`` (q, N, K/g)
    integers in 0..cfg.max_exp, the scale of plane i being 2^exps[i].
    """
    cfg = cfg or LutPEConfig()
    x, packed, exps = check_operands(x, packed, exps, group_size, cfg)
    m, k = x.shape
    q, n, _ = packed.shape
    res = estimate_lut_gemm(m, n, k, q, group_size)
    if mode == "fast":
        w = (unpack_signs(packed) << np.repeat(exps, group_size, axis=-1)).sum(0)  # (N, K) int64
        res.y = (x @ w.T).astype(np.int32)  # |y| < 2^31 is checked, int64 products are exact
    elif mode == "stepwise":
        y, cycles, events = _simulate_stepwise(x, packed, exps, group_size)
        if cycles != res.cycles:  # the closed form is wrong: say so, never hide it
            raise AssertionError(f"stepwise {cycles} cycles != closed form {res.cycles}")
        if events != res.events:
            raise AssertionError(f"stepwise events {events} != closed form {res.events}")
        res.y = y
    else:
        raise ValueError(f"mode must be 'fast' or 'stepwise', got {mode!r}")
    return res


def _simulate_stepwise(x, packed, exps, group_size):
    """Step the PE one clock at a time, register by register, as lut_pe.v does."""
    m_len, k = x.shape
    q, n_len, kb_len = packed.shape
    bytes_per_group = group_size // 8
    table = np.zeros(TABLE_ENTRIES, np.int64)
    acc = np.zeros((m_len, n_len), np.int64)
    events = dict.fromkeys(EVENT_NAMES, 0)
    cycles = 0
    for m in range(m_len):
        for kb in range(kb_len):
            x8 = [int(v) for v in x[m, 8 * kb : 8 * kb + 8]]
            # build: 8 cycles for entry 0, then a Gray-code step per cycle
            r = 0
            for c in range(BUILD_CYCLES):
                if c < 8:
                    r = (0 if c == 0 else r) - x8[c]
                    events["act_reads"] += 1
                    if c == 7:
                        table[0] = r
                        events["table_writes"] += 1
                else:
                    j = c - 7
                    t = (j & -j).bit_length() - 1  # lowest set bit of j: the bit that flips
                    p = j ^ (j >> 1)
                    r += 2 * x8[t] if (p >> t) & 1 else -2 * x8[t]
                    events["act_reads"] += 1
                    table[p] = r
                    events["table_writes"] += 1
                events["adds"] += 1
                events["build_reg_writes"] += 1
                cycles += 1
            events["table_builds"] += 1
            if not np.array_equal(table, table_direct(x8)):
                raise AssertionError(f"Gray-code table build broken at m={m}, kb={kb}")
            # look-up: one (row, plane) per cycle
            for n in range(n_len):
                for i in range(q):
                    entry = int(table[int(packed[i, n, kb])])
                    shifted = entry << int(exps[i, n, kb // bytes_per_group])
                    acc[m, n] = shifted if (kb == 0 and i == 0) else acc[m, n] + shifted
                    for name in ("weight_byte_reads", "table_reads", "exp_reads", "shifts", "adds", "acc_writes"):
                        events[name] += 1
                    cycles += 1
    events["reg_writes"] = events["build_reg_writes"] + events["acc_writes"]
    return acc.astype(np.int32), cycles, events


def check_operands(x, packed, exps, group_size, cfg: LutPEConfig):
    """Validate and convert to int64 arrays; raise ValueError/TypeError naming the argument."""
    x, packed, exps = np.asarray(x), np.asarray(packed), np.asarray(exps)
    if x.dtype.kind not in "iu" or x.ndim != 2:
        raise TypeError(f"x must be a 2-D integer array (M, K), got dtype {x.dtype} shape {x.shape}")
    if x.size and (x.min() < -128 or x.max() > 127):
        raise ValueError(f"x holds values outside int8 [-128, 127] (min {x.min()}, max {x.max()})")
    if packed.dtype != np.uint8 or packed.ndim != 3:
        raise TypeError(f"packed must be a 3-D uint8 array (q, N, K/8), got dtype {packed.dtype} shape {packed.shape}")
    q, n, kb = packed.shape
    m, k = x.shape
    if k != 8 * kb:
        raise ValueError(f"packed has {kb} bytes per row (K = {8 * kb}) but x has K = {k}")
    _check_dims(m, n, k, q, group_size)
    if exps.dtype.kind not in "iu" or exps.shape != (q, n, k // group_size):
        raise ValueError(f"exps must be an integer array of shape (q, N, K/g) = {(q, n, k // group_size)}, "
                         f"got dtype {exps.dtype} shape {exps.shape}")
    if exps.size and (exps.min() < 0 or exps.max() > cfg.max_exp):
        raise ValueError(f"exps must lie in 0..{cfg.max_exp} ({cfg.exp_bits}-bit exponents), "
                         f"got min {exps.min()}, max {exps.max()}")
    bound = q * k * 128 * 2 ** int(exps.max(initial=0))
    if bound > 2**31 - 1:
        raise ValueError(f"int32 overflow possible: q * K * 128 * 2^max_exp = {bound} exceeds 2**31-1")
    return x.astype(np.int64), packed, exps.astype(np.int64)


def _check_dims(m, n, k, q, group_size) -> None:
    for name, v in (("M", m), ("N", n), ("K", k)):
        if v < 1:
            raise ValueError(f"GEMM dimension {name} must be >= 1, got {v}")
    if k % 8:
        raise ValueError(f"K = {k} must be a multiple of 8")
    if not 1 <= q <= MAX_Q:
        raise ValueError(f"q must be in 1..{MAX_Q}, got {q}")
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or group_size < 8 \
            or group_size % 8 or k % group_size:
        raise ValueError(f"group_size must be a positive multiple of 8 dividing K = {k}, got {group_size!r}")


def lut_edge_workloads(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, int]]:
    """The golden workloads every LUT implementation is held to: (name, x, packed, exps, group_size).

    Small enough for the RTL co-simulation (about 2 * 10^4 cycles in all): the smallest GEMM,
    random data over every q with one and several groups, a batch that crosses the Triton
    kernel's tiles, and the accumulator's extreme (x = -128 everywhere, every sign -1, the
    largest exponent, |y| = 0.94 * 2^31).
    """
    rng = np.random.default_rng(seed)

    def rand(m, n, k, q, g, exp_hi=16):
        return (rng.integers(-128, 128, (m, k), dtype=np.int8),
                rng.integers(0, 256, (q, n, k // 8), dtype=np.uint8),
                rng.integers(0, exp_hi, (q, n, k // g), dtype=np.int64), g)

    cases = [
        ("smallest_1x1x8_q1", *rand(1, 1, 8, 1, 8)),
        ("random_3x5x32_q2_g16", *rand(3, 5, 32, 2, 16)),
        ("random_2x7x48_q3_g24", *rand(2, 7, 48, 3, 24)),
        ("random_1x18x16_q4_g8", *rand(1, 18, 16, 4, 8)),
        ("batch_5x3x16_q3_g16", *rand(5, 3, 16, 3, 16, exp_hi=4)),
    ]
    m, n, k, q, g = 2, 2, 120, 4, 40
    cases.append(("extreme_2x2x120_q4", np.full((m, k), -128, np.int8), np.zeros((q, n, k // 8), np.uint8),
                  np.full((q, n, k // g), 15, np.int64), g))
    return cases
