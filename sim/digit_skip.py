"""Cycle-level model of the TPE paper's OPT3 processing element: zero-digit skipping.

One PE computes a dot product sum_k a_k b_k of two signed INT8 K-vectors. The streamed operand a
is recoded into 4 signed radix-4 digits per element (sim/digits.py: EN-T by default, Booth for
comparison), and the product becomes

    sum_k a_k b_k = sum_g sum_j 4^j (sum_{i<4} d_{4g+i, j} b_{4g+i}),

grouping K into groups of 4 consecutive elements (the last group zero-padded). The PE walks the
(group g, digit position j) slots in order g = 0.., j = 0..3 and spends, per slot, one cycle per
non-zero digit of the group at that position (a slot with none still costs one cycle): each
cycle selects d * b (+-B or +-2B) of one element into a narrow carry-save accumulator. When a
slot ends, its narrow (sum, carry) pair moves on, and on the next clock a short carry-propagate
add resolves it, shifts it by 2j and compresses it (3:2) into the wide carry-save accumulator.
One carry-propagate add at the end writes the result. This is the structure of
rtl_models/verilog/digit_skip_pe.v, and :func:`simulate_dot_stepwise` steps the same registers.

Cycles from the edge that samples ``start`` to the edge after which ``done`` is high (both
counted, as the cocotb bench measures them):

    cycles = 1 + sum_{g < ceil(K/4)} sum_{j < 4} max(1, n[g, j]) + 2

with n[g, j] the non-zero digits at position j among elements 4g..4g+3: 1 for the start edge
(latch K, clear the accumulators), one per slot cycle, 1 for the last slot's merge into the wide
accumulator and 1 for the final carry-propagate add (done rises with it). Between those, the
merge of one slot overlaps the first cycle of the next, so it costs nothing.

A row of N such accumulators can share one digit sequencer (encoder and digit picking): column c
computes sum_k a_k b_kc with the same digit walk, so every column takes the cycles above and
the row's cycles equal a single PE's (:func:`simulate_row`; rtl_models/verilog/digit_skip_pe.v,
digit_skip_dot with N columns). This is the shared-encoder arrangement of the paper's OPT4C.
A GEMM maps onto such a row fold by fold (:func:`simulate_gemm`, :func:`gemm_folds`): row m of A
is the digit-encoded operand, against one ``cols``-wide tile of B's columns per fold.

Events (:func:`dot_events`), for the cost model:
  encodes         a-operands digit-encoded (K; padding is masked, not encoded)
  selects         non-zero digits: a +-B / +-2B selection and a narrow 3:2 compression each
  idle_slots      slots with no non-zero digit (a cycle with nothing selected)
  zero_digits_skipped  zero digits of the K real elements that took no cycle: 4K - selects
  merges          slots merged: a narrow carry-propagate add, a shift and a wide 3:2 (4 per group)
  shifts          merges with a non-zero shift (j > 0: 3 per group)
  final_adds      wide carry-propagate adds (1)
  b_reads         b operands read for a selection (= selects)
In a row of N columns the encoder and sequencer events (encodes, idle_slots,
zero_digits_skipped) happen once; the accumulator events (PER_COLUMN_EVENTS) N times.

numpy only.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim.digits import (
    ENCODINGS,
    GROUP,
    NUM_DIGITS,
    check_gemm_dims,
    check_int8,
    check_int8_gemm,
    group_digits,
)

# the narrow accumulator: at most 4 terms of |d * b| <= 2 * 128, |sum| <= 1024, so 12 signed bits
NARROW_BITS = 12
START_CYCLES = 1  # the start edge latches K and clears the accumulators
DRAIN_CYCLES = 2  # the last slot's merge, then the final carry-propagate add with done
# events of the per-column accumulator datapath; the rest belong to the shared digit sequencer
PER_COLUMN_EVENTS = ("selects", "merges", "shifts", "final_adds", "b_reads")


@dataclass(frozen=True)
class DigitSkipConfig:
    """An OPT3 PE (or a row of ``cols`` accumulator columns sharing one digit sequencer): the
    recoding of the streamed operand and the accumulator width; INT8 operands only."""

    encoding: Literal["ent", "booth"] = "ent"
    acc_bits: int = 32
    a_bits: int = 8
    b_bits: int = 8
    cols: int = 1  # accumulator columns sharing the digit sequencer (GEMM mapping only)

    def __post_init__(self) -> None:
        if isinstance(self.cols, bool) or not isinstance(self.cols, numbers.Integral) or self.cols < 1:
            raise ValueError(f"cols must be a positive integer (accumulator columns), got {self.cols!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        for name in ("a_bits", "b_bits"):
            value = getattr(self, name)
            if value != 8 or isinstance(value, bool):
                raise ValueError(f"{name} must be 8: the digit encoder and the PE are INT8 only, got {value!r}")
        if isinstance(self.acc_bits, bool) or not isinstance(self.acc_bits, numbers.Integral) or not (
            16 <= self.acc_bits <= 64
        ):
            raise ValueError(
                f"acc_bits must be an integer in 16..64 (at least the product width 16), got {self.acc_bits!r}"
            )

    @property
    def max_k(self) -> int:
        """Largest K whose dot product cannot overflow the signed accumulator: (-128)^2 K < 2^(acc-1)."""
        return (2 ** (self.acc_bits - 1) - 1) // 2**14


@dataclass(frozen=True)
class DotResult:
    value: int  # the exact dot product
    cycles: int  # start edge to done edge, both counted
    slot_cycles: np.ndarray  # (groups, 4): cycles of each (group, digit position) slot
    events: dict[str, int]


def check_dot_operands(a, b, cfg: DigitSkipConfig) -> tuple[np.ndarray, np.ndarray]:
    """a and b as int64 K-vectors, after checking values, shapes and K against the accumulator."""
    av, bv = check_int8(a, "a"), check_int8(b, "b")
    for name, v in (("a", av), ("b", bv)):
        if v.ndim != 1:
            raise ValueError(f"{name} must be a 1-D vector (length K), got shape {v.shape}")
    if av.size == 0:
        raise ValueError("K must be >= 1, got an empty vector")
    if av.size != bv.size:
        raise ValueError(f"a and b must have the same length K, got {av.size} and {bv.size}")
    if av.size > cfg.max_k:
        raise ValueError(f"K = {av.size} can overflow a {cfg.acc_bits}-bit accumulator (max K {cfg.max_k})")
    return av, bv


def slot_cycles(a, encoding: str = "ent") -> np.ndarray:
    """max(1, n[g, j]): the cycles of each (group, digit position) slot, shape (ceil(K/4), 4)."""
    n = (group_digits(a, encoding) != 0).sum(axis=1)
    return np.maximum(n, 1)


def dot_cycles(a, cfg: DigitSkipConfig) -> int:
    """Closed-form cycles of one dot product (module docstring); depends on a's digits only."""
    return START_CYCLES + int(slot_cycles(a, cfg.encoding).sum()) + DRAIN_CYCLES


def dot_events(a, cfg: DigitSkipConfig) -> dict[str, int]:
    """Event counts of one dot product (definitions in the module docstring)."""
    av = check_int8(a, "a").ravel()
    nz = (group_digits(av, cfg.encoding) != 0).sum(axis=1)
    groups = nz.shape[0]
    selects = int(nz.sum())
    return {
        "encodes": int(av.size),
        "selects": selects,
        "idle_slots": int((nz == 0).sum()),
        "zero_digits_skipped": NUM_DIGITS * int(av.size) - selects,
        "merges": NUM_DIGITS * groups,
        "shifts": (NUM_DIGITS - 1) * groups,
        "final_adds": 1,
        "b_reads": selects,
    }


def simulate_dot(a, b, cfg: DigitSkipConfig | None = None,
                 mode: Literal["fast", "stepwise"] = "fast") -> DotResult:
    """One dot product on the OPT3 PE: exact value, cycles and events.

    ``fast``: the exact integer dot product and the closed-form cycles. ``stepwise``: every
    register of the RTL stepped clock by clock (:func:`simulate_dot_stepwise`); it raises if the
    clock-stepped value, cycles or events differ from the closed forms.
    """
    cfg = DigitSkipConfig() if cfg is None else cfg
    av, bv = check_dot_operands(a, b, cfg)
    if mode not in ("fast", "stepwise"):
        raise ValueError(f"mode must be 'fast' or 'stepwise', got {mode!r}")
    value = int(av @ bv)
    slots = slot_cycles(av, cfg.encoding)
    cycles = START_CYCLES + int(slots.sum()) + DRAIN_CYCLES
    events = dot_events(av, cfg)
    if mode == "stepwise":
        step_value, step_cycles, step_events = simulate_dot_stepwise(av, bv, cfg)
        if (step_value, step_cycles, step_events) != (value, cycles, events):
            raise AssertionError(
                f"stepwise model disagrees with the closed forms: value {step_value} vs {value}, "
                f"cycles {step_cycles} vs {cycles}, events {step_events} vs {events}"
            )
    return DotResult(value, cycles, slots, events)


@dataclass(frozen=True)
class RowResult:
    values: np.ndarray  # int64 (N,): column c is sum_k a_k b[k, c]
    cycles: int  # the same for every column: a's digits set them
    slot_cycles: np.ndarray  # (groups, 4)
    events: dict[str, int]  # sequencer events once, accumulator events summed over the N columns


def check_row_operands(a, b, cfg: DigitSkipConfig) -> tuple[np.ndarray, np.ndarray]:
    """a as an int64 K-vector and b as an int64 K x N matrix, after the checks of a dot product."""
    bv = check_int8(b, "b")
    if bv.ndim != 2 or bv.shape[1] == 0:
        raise ValueError(f"b must be a K x N matrix with N >= 1, got shape {bv.shape}")
    av, _ = check_dot_operands(a, bv[:, 0], cfg)
    return av, bv


def simulate_row(a, b, cfg: DigitSkipConfig | None = None,
                 mode: Literal["fast", "stepwise"] = "fast") -> RowResult:
    """a (K) times b (K x N) on N accumulator columns sharing one digit sequencer.

    ``stepwise`` clock-steps every column (:func:`simulate_dot_stepwise`) and raises if any
    column's value, cycles or events differ from the closed forms.
    """
    cfg = DigitSkipConfig() if cfg is None else cfg
    av, bv = check_row_operands(a, b, cfg)
    cols = [simulate_dot(av, bv[:, c], cfg, mode) for c in range(bv.shape[1])]
    events = dict(cols[0].events)
    for key in PER_COLUMN_EVENTS:
        events[key] *= len(cols)
    return RowResult(np.array([r.value for r in cols], np.int64), cols[0].cycles, cols[0].slot_cycles, events)


@dataclass(frozen=True)
class DigitSkipGemmResult:
    """C = A @ B on a row of ``cfg.cols`` columns; the fields the systolic GemmResult shares."""

    c: np.ndarray  # int32 (int64 for acc_bits > 32), M x N
    cycles: int
    fold_cycles: list[int]  # one per fold of :func:`gemm_folds`, in order
    events: dict[str, int]
    config: DigitSkipConfig
    shape: tuple[int, int, int]  # (M, N, K)


def gemm_folds(m: int, n: int, cols: int) -> list[tuple[int, int, int]]:
    """The folds of an M x N output on a row of ``cols`` columns: (row m, n0, n1), row-major.

    Each fold streams row m of A through the digit sequencer against the n-tile B[:, n0:n1]
    (zero-padded to ``cols`` columns; the padding columns run and count their events).
    """
    return [(i, n0, min(n0 + cols, n)) for i in range(m) for n0 in range(0, n, cols)]


def simulate_gemm(a, b, cfg: DigitSkipConfig | None = None,
                  mode: Literal["fast", "stepwise"] = "fast") -> DigitSkipGemmResult:
    """C = A @ B fold by fold (:func:`gemm_folds`), each fold one :func:`simulate_row` run."""
    cfg = DigitSkipConfig() if cfg is None else cfg
    av, bv = check_int8_gemm(a, b)
    (m, k), n = av.shape, bv.shape[1]
    c = np.zeros((m, n), np.int64)
    fold_cycles, events = [], {}
    for i, n0, n1 in gemm_folds(m, n, cfg.cols):
        tile = np.zeros((k, cfg.cols), np.int64)
        tile[:, : n1 - n0] = bv[:, n0:n1]
        row = simulate_row(av[i], tile, cfg, mode)
        c[i, n0:n1] = row.values[: n1 - n0]
        fold_cycles.append(row.cycles)
        for key, count in row.events.items():
            events[key] = events.get(key, 0) + count
    c = c.astype(np.int32 if cfg.acc_bits <= 32 else np.int64)
    return DigitSkipGemmResult(c, sum(fold_cycles), fold_cycles, events, cfg, (m, n, k))


def _csa(x: int, y: int, z: int, mask: int) -> tuple[int, int]:
    """3:2 carry-save compression modulo 2^width: (sum, carry) with sum + carry = x + y + z."""
    s = x ^ y ^ z
    c = ((x & y) | (x & z) | (y & z)) << 1
    return s & mask, c & mask


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def simulate_dot_stepwise(a, b, cfg: DigitSkipConfig) -> tuple[int, int, dict[str, int]]:
    """Step the PE's registers one clock at a time, as digit_skip_pe.v does; (value, cycles, events).

    Registers: the wide carry-save pair (acc_s, acc_c), the narrow pair (p_s, p_c), the lanes of
    the current slot already selected (lane_done), and the merge stage's valid bit and shift.
    The first cycle of a slot is the one with lane_done == 0 (any earlier cycle of the slot
    selected a lane), so the narrow pair restarts from zero without a separate flag.
    """
    av, bv = check_dot_operands(a, b, cfg)
    digits = group_digits(av, cfg.encoding)  # (groups, lane, position)
    groups = digits.shape[0]
    k = av.size
    wide, narrow = (1 << cfg.acc_bits) - 1, (1 << NARROW_BITS) - 1
    ev = dict.fromkeys(("selects", "idle_slots", "merges", "shifts", "final_adds", "b_reads"), 0)

    # start edge: latch K, clear the accumulators
    acc_s = acc_c = p_s = p_c = 0
    lane_done, merge_valid, merge_shift = 0, False, 0
    cycles = 1

    def merge(acc_s, acc_c):
        # resolve the narrow pair (short carry-propagate add), sign-extend, shift by 2j, compress
        part = _signed(p_s + p_c, NARROW_BITS) << (2 * merge_shift)
        ev["merges"] += 1
        ev["shifts"] += int(merge_shift > 0)
        return _csa(acc_s, acc_c, part & wide, wide)

    for g in range(groups):
        lanes = [4 * g + i < k for i in range(GROUP)]
        for j in range(NUM_DIGITS):
            nz_mask = sum(1 << i for i in range(GROUP) if lanes[i] and digits[g, i, j] != 0)
            while True:  # one clock edge per iteration
                remaining = nz_mask & ~lane_done
                pick = remaining & -remaining  # lowest remaining lane, one-hot (0 if none)
                if pick:
                    lane = pick.bit_length() - 1
                    term = int(digits[g, lane, j]) * int(bv[4 * g + lane])
                    ev["selects"] += 1
                    ev["b_reads"] += 1
                else:
                    term = 0
                    ev["idle_slots"] += 1
                last = (remaining & ~pick) == 0
                # everything below reads the register values from before this edge
                base_s, base_c = (0, 0) if lane_done == 0 else (p_s, p_c)
                new_p = _csa(base_s, base_c, term & narrow, narrow)
                new_acc = merge(acc_s, acc_c) if merge_valid else (acc_s, acc_c)
                p_s, p_c = new_p
                acc_s, acc_c = new_acc
                lane_done = 0 if last else lane_done | pick
                merge_valid, merge_shift = last, j
                cycles += 1
                if last:
                    break
    # drain: the last slot's merge, then the final carry-propagate add (done rises with it)
    acc_s, acc_c = merge(acc_s, acc_c)
    cycles += 1
    value = _signed(acc_s + acc_c, cfg.acc_bits)
    ev["final_adds"] += 1
    cycles += 1
    events = {"encodes": k, **ev, "zero_digits_skipped": NUM_DIGITS * k - ev["selects"]}
    events = {key: events[key] for key in dot_events(av, cfg)}  # same key order as dot_events
    return value, cycles, events


# ---------------------------------------------------------------------------------------------
# data-free estimate: expected cycles and events from a distribution of the streamed operand
# ---------------------------------------------------------------------------------------------


def int8_pmf(values=None, *, gaussian_std: float | None = None) -> np.ndarray:
    """A probability mass function over the 256 int8 values (index v + 128), either the
    histogram of ``values`` (e.g. a real tensor) or N(0, std^2) rounded and saturated to int8."""
    if (values is None) == (gaussian_std is None):
        raise ValueError("give exactly one of values (a tensor to histogram) or gaussian_std")
    if values is not None:
        v = check_int8(values, "values").ravel()
        if v.size == 0:
            raise ValueError("values must not be empty")
        return np.bincount(v + 128, minlength=256).astype(np.float64) / v.size
    if isinstance(gaussian_std, bool) or not isinstance(gaussian_std, numbers.Real) or not gaussian_std > 0:
        raise ValueError(f"gaussian_std must be a positive number, got {gaussian_std!r}")
    from math import erf, sqrt

    edges = np.arange(-128, 129) - 0.5  # value v takes N(0, std) mass in [v - 0.5, v + 0.5)
    cdf = np.array([0.5 * (1 + erf(e / (gaussian_std * sqrt(2)))) for e in edges])
    pmf = np.diff(cdf)
    pmf[0] += cdf[0]  # saturation: everything below -127.5 is -128
    pmf[-1] += 1 - cdf[-1]  # and above 126.5 is 127
    return pmf


def digit_nonzero_probability(pmf, encoding: str = "ent") -> np.ndarray:
    """q[j] = P(digit j of a is non-zero) for a drawn from ``pmf`` (256 int8 values)."""
    pmf = np.asarray(pmf, np.float64)
    if pmf.shape != (256,) or (pmf < 0).any() or not np.isclose(pmf.sum(), 1.0):
        raise ValueError(f"pmf must be 256 non-negative probabilities summing to 1, got shape {pmf.shape}")
    from sim.digits import radix4_digits

    nz = radix4_digits(np.arange(-128, 128), encoding) != 0  # (256, 4)
    return pmf @ nz


def expected_dot_cycles(k: int, pmf, encoding: str = "ent") -> float:
    """E[cycles] of one dot product whose a elements are iid from ``pmf``: exact, not sampled.

    A slot of r real elements costs max(1, n) cycles, n ~ Binomial(r, q_j), and
    E[max(1, n)] = E[n] + P(n = 0) = r q_j + (1 - q_j)^r; padding elements have zero digits.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"K must be a positive integer, got {k!r}")
    q = digit_nonzero_probability(pmf, encoding)
    full, tail = divmod(int(k), GROUP)
    per_group = lambda r: float((r * q + (1 - q) ** r).sum())  # noqa: E731
    slots = full * per_group(GROUP) + (per_group(tail) if tail else 0.0)
    return START_CYCLES + slots + DRAIN_CYCLES


@dataclass(frozen=True)
class DigitSkipEstimate:
    cycles: float  # expected
    events: dict[str, float]  # expected counts
    shape: tuple[int, int, int]


def estimate_gemm(m: int, n: int, k: int, cfg: DigitSkipConfig | None = None, pmf=None) -> DigitSkipEstimate:
    """Expected cycles and events of an M x N x K GEMM on a row of ``cfg.cols`` columns, without
    data: A's elements iid from ``pmf`` (default: Gaussian std 30 INT8, the TPE paper's middle
    case). Every fold streams one row of A, so E[cycles] = M ceil(N / cols) E[dot cycles]."""
    cfg = DigitSkipConfig() if cfg is None else cfg
    check_gemm_dims(m, n, k, cfg.max_k, f"a {cfg.acc_bits}-bit accumulator")
    pmf = int8_pmf(gaussian_std=30.0) if pmf is None else pmf
    q = digit_nonzero_probability(pmf, cfg.encoding)
    folds = m * -(-n // cfg.cols)
    full, tail = divmod(k, GROUP)
    groups = full + (1 if tail else 0)
    p_idle = full * float(((1 - q) ** GROUP).sum()) + (float(((1 - q) ** tail).sum()) if tail else 0.0)
    selects = k * float(q.sum())
    per_fold_seq = {"encodes": k, "idle_slots": p_idle, "zero_digits_skipped": NUM_DIGITS * k - selects}
    per_fold_col = {"selects": selects, "merges": NUM_DIGITS * groups, "shifts": (NUM_DIGITS - 1) * groups,
                    "final_adds": 1, "b_reads": selects}
    events = {e: folds * v for e, v in per_fold_seq.items()}
    events |= {e: folds * cfg.cols * v for e, v in per_fold_col.items()}
    return DigitSkipEstimate(folds * expected_dot_cycles(k, pmf, cfg.encoding), events, (m, n, k))
