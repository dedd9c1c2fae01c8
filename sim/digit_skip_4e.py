"""Cycle-level model of the TPE paper's OPT4E engine: a K-extended group of 4 zero-digit-skipping
PEs sharing one 6:2 compressor.

The paper describes OPT4E ("a K-extended group of 4 PEs sharing a 6:2 compressor") but never
released it; this is our definition, built from the OPT3 PE of sim/digit_skip.py (read that first).

A group of G = 4 OPT3 sub-PEs computes ONE dot product sum_k a_k b_k of two signed INT8
K-vectors. K is split into chunks of 16 elements; within chunk s, sub-PE p (0..3) handles the
4-element digit group g = 4s + p (elements 16s + 4p .. 16s + 4p + 3); elements beyond K are
zero-padded and masked. Each sub-PE has its own digit sequencer (OPT3's digit_skip_seq: the
encoder of its 4 a-operands and its lane picker). The 4 sub-PEs walk the (chunk s, digit
position j) super-slots in lock-step: every cycle each sub-PE picks its next non-zero digit at
position j (lowest lane first) or nothing, and the super-slot ends when none of the 4 has a
digit left. With n[g, j] the non-zero digits at position j in group g (OPT3's per-slot count),

    super-slot (s, j) cycles = max(1, max_{p < 4} n[4s + p, j]).

Every cycle the 4 selected terms (+-B or +-2B of the picked lane, or 0, formed as in OPT3's
digit_skip_acc) and the narrow (sum, carry) pair of the super-slot go through ONE 6-input
carry-save tree (csa_tree6 of rtl_models/csa_gen.py, the shared 6:2 compressor; its Wallace
schedule 6 -> 4 -> 3 -> 2 is sim/carry_save.py's reduce_words). The narrow pair is 14 bits
signed: a super-slot adds at most 16 terms of |d b| <= 256, |sum| <= 4096. When a super-slot
ends its narrow pair is merged on the next clock exactly as in OPT3 (resolved by a 14-bit
carry-propagate add, sign-extended, shifted by 2j and compressed 3:2 into the wide (sum, carry)
accumulator); one final carry-propagate add writes the result. This is the structure of
rtl_models/verilog/digit_skip_4e.v (digit_skip_seq4, digit_skip_acc4, digit_skip_4e_pe), and
:func:`simulate_dot_stepwise` steps the same registers.

Lock-step bookkeeping: a sub-PE whose own slot ends before the super-slot does sets a
``sub_done`` flag and stops (its sequencer holds, it selects nothing) until the super-slot ends.

Cycles from the edge that samples ``start`` to the edge after which ``done`` is high (both
counted, as the cocotb bench measures them), with S = ceil(K / 16) chunks:

    cycles = 1 + sum_{s < S} sum_{j < 4} max(1, max_p n[4s + p, j]) + 2

1 for the start edge (latch K, clear), one per super-slot cycle, 1 for the last super-slot's
merge and 1 for the final add (done rises with it): OPT3's start/drain structure. A group does
the work of 4 OPT3 PEs on one dot product for 4 sequencers and one (wider-tree) accumulator;
since max(1, max_p n_p) is at most the sum of max(1, n_p) over the super-slot's groups that hold
real elements (OPT3's slots), it never takes more cycles than one OPT3 PE on the same K, and on Gaussian INT8 data it takes ~3x fewer (EN-T, K = 1024, expected: 3.13x at
std 10, 3.12x at 30, 3.05x at 50; not 4x, because a super-slot waits for the busiest of its 4
sub-PEs: about a quarter of the sub-PE cycles are lane_idle).

A row of N columns sharing the 4 sequencers (OPT4C + OPT4E, :func:`simulate_row`;
digit_skip_4e_dot with N columns) gives every column its own shared-compressor accumulator; all
columns take the cycles above. A GEMM maps onto such a row fold by fold exactly as OPT3's does
(:func:`simulate_gemm`, sim.digit_skip.gemm_folds): row m of A is the digit-encoded operand,
against one ``cols``-wide tile of B's columns per fold.

Events (:func:`dot_events`), with OPT3's names where they mean the same thing:
  encodes         a-operands digit-encoded (K; padding is masked, not encoded)
  selects         non-zero digits: a +-B / +-2B selection into the shared tree each
  idle_slots      super-slots with no non-zero digit in any sub-PE (a cycle with nothing selected)
  lane_idle       sub-PE cycles with nothing selected while another sub-PE selects (lock-step waste):
                  sum over non-idle super-slots of 4 max_p n - sum_p n
  zero_digits_skipped  zero digits of the K real elements that took no cycle: 4K - selects
  compressions    evaluations of the shared 6:2 tree (one per super-slot cycle)
  merges          super-slots merged: a 14-bit carry-propagate add, a shift, a wide 3:2 (4 per chunk)
  shifts          merges with a non-zero shift (j > 0: 3 per chunk)
  final_adds      wide carry-propagate adds (1)
  b_reads         b operands read for a selection (= selects)
so that 4 x (super-slot cycles) = selects + lane_idle + 4 idle_slots. In a row of N columns the
sequencer events (encodes, idle_slots, lane_idle, zero_digits_skipped) happen once; the
accumulator events (PER_COLUMN_EVENTS) N times.

:func:`estimate_gemm` gives the expected cycles and events without data, for A's elements i.i.d.
from a pmf: per super-slot the 4 counts n_p ~ Binomial(r_p, q_j) are independent (disjoint
elements), so E[max(1, max_p n_p)] = 1 + sum_{m=2..4} (1 - prod_p P(n_p < m)) exactly.

numpy only.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from math import comb
from typing import Literal

import numpy as np

from sim import digit_skip as opt3_model
from sim.carry_save import reduce_words
from sim.digit_skip import (
    DRAIN_CYCLES,
    START_CYCLES,
    DigitSkipConfig,
    DigitSkipEstimate,
    _csa,
    _signed,
    digit_nonzero_probability,
    gemm_folds,
    int8_pmf,
)
from sim.digits import GROUP, NUM_DIGITS, check_gemm_dims, check_int8, check_int8_gemm, radix4_digits

SUB_PES = 4  # OPT3 sub-PEs in a group
CHUNK = SUB_PES * GROUP  # K elements per chunk: one digit group of 4 per sub-PE
TREE_INPUTS = 2 + SUB_PES  # the shared compressor: narrow (sum, carry) + one term per sub-PE
# the narrow pair: at most 16 terms of |d * b| <= 2 * 128 per super-slot, |sum| <= 4096: 14 signed bits
NARROW_BITS = 14
# events of the per-column accumulator datapath; the rest belong to the 4 shared digit sequencers
PER_COLUMN_EVENTS = ("selects", "merges", "shifts", "final_adds", "b_reads", "compressions")
EVENT_NAMES = ("encodes", "selects", "idle_slots", "lane_idle", "zero_digits_skipped", "compressions",
               "merges", "shifts", "final_adds", "b_reads")


@dataclass(frozen=True)
class DigitSkip4EConfig:
    """An OPT4E group of 4 sub-PEs (or a row of ``cols`` shared-compressor accumulator columns
    behind the group's 4 sequencers): the recoding of the streamed operand and the accumulator
    width; INT8 operands only. The fields and their checks are DigitSkipConfig's (OPT3)."""

    encoding: Literal["ent", "booth"] = "ent"
    acc_bits: int = 32
    a_bits: int = 8
    b_bits: int = 8
    cols: int = 1  # accumulator columns sharing the 4 digit sequencers (GEMM mapping only)

    def __post_init__(self) -> None:
        self.opt3  # noqa: B018  (DigitSkipConfig validates the same fields with the same messages)

    @property
    def opt3(self) -> DigitSkipConfig:
        """The OPT3 configuration with the same fields (for comparisons and the checks)."""
        return DigitSkipConfig(self.encoding, self.acc_bits, self.a_bits, self.b_bits, self.cols)

    @property
    def max_k(self) -> int:
        """Largest K whose dot product cannot overflow the signed accumulator: (-128)^2 K < 2^(acc-1)."""
        return self.opt3.max_k


def _check_cfg(cfg) -> DigitSkip4EConfig:
    if cfg is None:
        return DigitSkip4EConfig()
    if not isinstance(cfg, DigitSkip4EConfig):
        raise ValueError(f"cfg must be a DigitSkip4EConfig, got {type(cfg).__name__}")
    return cfg


@dataclass(frozen=True)
class Dot4EResult:
    value: int  # the exact dot product
    cycles: int  # start edge to done edge, both counted
    slot_cycles: np.ndarray  # (chunks, 4): cycles of each (chunk, digit position) super-slot
    counts: np.ndarray  # (chunks, 4 sub-PEs, 4 positions): n[4s + p, j], the non-zero digits
    events: dict[str, int]


def check_dot_operands(a, b, cfg: DigitSkip4EConfig) -> tuple[np.ndarray, np.ndarray]:
    """a and b as int64 K-vectors, after OPT3's checks of values, shapes and K against the accumulator."""
    return opt3_model.check_dot_operands(a, b, cfg.opt3)


def chunk_digits(a, encoding: str = "ent") -> np.ndarray:
    """Digits of a K-vector zero-padded to whole chunks: shape (chunks, 4 sub-PEs, 4 lanes, 4 positions)."""
    v = check_int8(a, "a")
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"a must be a non-empty 1-D vector (length K), got shape {v.shape}")
    chunks = -(-v.size // CHUNK)
    padded = np.zeros(chunks * CHUNK, np.int64)
    padded[: v.size] = v
    return radix4_digits(padded, encoding).reshape(chunks, SUB_PES, GROUP, NUM_DIGITS)


def chunk_counts(a, encoding: str = "ent") -> np.ndarray:
    """n[4s + p, j] arranged (chunks, sub-PE p, position j): sim.digit_skip's per-slot counts, padded."""
    return (chunk_digits(a, encoding) != 0).sum(axis=2)


def super_slot_cycles(a, encoding: str = "ent") -> np.ndarray:
    """max(1, max_p n[4s + p, j]): the cycles of each (chunk, digit position) super-slot, (chunks, 4)."""
    return np.maximum(chunk_counts(a, encoding).max(axis=1), 1)


def dot_cycles(a, cfg: DigitSkip4EConfig | None = None) -> int:
    """Closed-form cycles of one dot product (module docstring); depends on a's digits only."""
    cfg = _check_cfg(cfg)
    return START_CYCLES + int(super_slot_cycles(a, cfg.encoding).sum()) + DRAIN_CYCLES


def _events_from_counts(k: int, n: np.ndarray) -> dict[str, int]:
    m = n.max(axis=1)  # (chunks, positions): the longest sub-PE of each super-slot
    chunks = n.shape[0]
    selects = int(n.sum())
    return {
        "encodes": int(k),
        "selects": selects,
        "idle_slots": int((m == 0).sum()),
        "lane_idle": int((SUB_PES * m - n.sum(axis=1)).sum()),
        "zero_digits_skipped": NUM_DIGITS * int(k) - selects,
        "compressions": int(np.maximum(m, 1).sum()),
        "merges": NUM_DIGITS * chunks,
        "shifts": (NUM_DIGITS - 1) * chunks,
        "final_adds": 1,
        "b_reads": selects,
    }


def dot_events(a, cfg: DigitSkip4EConfig | None = None) -> dict[str, int]:
    """Event counts of one dot product (definitions in the module docstring)."""
    cfg = _check_cfg(cfg)
    av = check_int8(a, "a").ravel()
    return _events_from_counts(av.size, chunk_counts(av, cfg.encoding))


def simulate_dot(a, b, cfg: DigitSkip4EConfig | None = None,
                 mode: Literal["fast", "stepwise"] = "fast") -> Dot4EResult:
    """One dot product on the OPT4E group: exact value, cycles and events.

    ``fast``: the exact integer dot product and the closed-form cycles. ``stepwise``: every
    register of the RTL stepped clock by clock (:func:`simulate_dot_stepwise`); it raises if the
    clock-stepped value, cycles or events differ from the closed forms.
    """
    cfg = _check_cfg(cfg)
    av, bv = check_dot_operands(a, b, cfg)
    if mode not in ("fast", "stepwise"):
        raise ValueError(f"mode must be 'fast' or 'stepwise', got {mode!r}")
    value = int(av @ bv)
    n = chunk_counts(av, cfg.encoding)
    slots = np.maximum(n.max(axis=1), 1)
    cycles = START_CYCLES + int(slots.sum()) + DRAIN_CYCLES
    events = _events_from_counts(av.size, n)
    if mode == "stepwise":
        step_value, step_cycles, step_events = simulate_dot_stepwise(av, bv, cfg)
        if (step_value, step_cycles, step_events) != (value, cycles, events):
            raise AssertionError(
                f"stepwise model disagrees with the closed forms: value {step_value} vs {value}, "
                f"cycles {step_cycles} vs {cycles}, events {step_events} vs {events}"
            )
    return Dot4EResult(value, cycles, slots, n, events)


def simulate_dot_stepwise(a, b, cfg: DigitSkip4EConfig | None = None) -> tuple[int, int, dict[str, int]]:
    """Step the group's registers one clock at a time, as digit_skip_4e.v does; (value, cycles, events).

    Registers: per sub-PE its sequencer's lane_done (lanes of the current slot already picked)
    and the lock-step flag sub_done (its own slot ended, the super-slot has not); the narrow
    carry-save pair (p_s, p_c); the merge stage's valid bit and shift; the wide pair (acc_s, acc_c).
    A super-slot's first cycle is the one on which every lane_done is 0 (on any later cycle the
    sub-PE with the most digits has picked some and not finished), so the narrow pair restarts
    from zero without a separate flag, as in OPT3.
    """
    cfg = _check_cfg(cfg)
    av, bv = check_dot_operands(a, b, cfg)
    digits = chunk_digits(av, cfg.encoding)  # (chunks, sub-PE, lane, position)
    k = av.size
    wide, narrow = (1 << cfg.acc_bits) - 1, (1 << NARROW_BITS) - 1
    ev = dict.fromkeys(EVENT_NAMES, 0)

    # start edge: latch K, clear the accumulators and the sequencers
    acc_s = acc_c = p_s = p_c = 0
    lane_done, sub_done = [0] * SUB_PES, [False] * SUB_PES
    merge_valid, merge_shift = False, 0
    cycles = 1

    def merge(acc_s, acc_c):
        # resolve the narrow pair (short carry-propagate add), sign-extend, shift by 2j, compress
        part = _signed(p_s + p_c, NARROW_BITS) << (2 * merge_shift)
        ev["merges"] += 1
        ev["shifts"] += int(merge_shift > 0)
        return _csa(acc_s, acc_c, part & wide, wide)

    for s in range(digits.shape[0]):
        for j in range(NUM_DIGITS):
            nz = [sum(1 << i for i in range(GROUP) if CHUNK * s + GROUP * p + i < k and digits[s, p, i, j] != 0)
                  for p in range(SUB_PES)]
            while True:  # one clock edge per iteration
                picks, lasts, terms = [], [], []
                for p in range(SUB_PES):
                    remaining = nz[p] & ~lane_done[p]
                    pick = remaining & -remaining  # lowest remaining lane, one-hot (0 if none)
                    lasts.append((remaining & ~pick) == 0)
                    if sub_done[p]:
                        pick = 0  # finished this super-slot: selects nothing, its sequencer holds
                    picks.append(pick)
                    if pick:
                        lane = pick.bit_length() - 1
                        terms.append(int(digits[s, p, lane, j]) * int(bv[CHUNK * s + GROUP * p + lane]))
                    else:
                        terms.append(0)
                super_last = all(d or last for d, last in zip(sub_done, lasts))
                selected = sum(1 for pick in picks if pick)
                ev["selects"] += selected
                ev["b_reads"] += selected
                ev["compressions"] += 1
                if selected:
                    ev["lane_idle"] += SUB_PES - selected
                else:
                    ev["idle_slots"] += 1
                # everything below reads the register values from before this edge
                first = all(ld == 0 for ld in lane_done)
                base_s, base_c = (0, 0) if first else (p_s, p_c)
                new_p = reduce_words([base_s, base_c] + [t & narrow for t in terms], NARROW_BITS)
                new_acc = merge(acc_s, acc_c) if merge_valid else (acc_s, acc_c)
                p_s, p_c = new_p
                acc_s, acc_c = new_acc
                for p in range(SUB_PES):
                    if not sub_done[p]:  # the sequencer runs
                        lane_done[p] = 0 if lasts[p] else lane_done[p] | picks[p]
                    sub_done[p] = False if super_last else (sub_done[p] or lasts[p])
                merge_valid, merge_shift = super_last, j
                cycles += 1
                if super_last:
                    break
    # drain: the last super-slot's merge, then the final carry-propagate add (done rises with it)
    acc_s, acc_c = merge(acc_s, acc_c)
    cycles += 1
    value = _signed(acc_s + acc_c, cfg.acc_bits)
    ev["final_adds"] += 1
    cycles += 1
    ev["encodes"] = k
    ev["zero_digits_skipped"] = NUM_DIGITS * k - ev["selects"]
    return value, cycles, ev


@dataclass(frozen=True)
class Row4EResult:
    values: np.ndarray  # int64 (N,): column c is sum_k a_k b[k, c]
    cycles: int  # the same for every column: a's digits set them
    slot_cycles: np.ndarray  # (chunks, 4) super-slot cycles
    events: dict[str, int]  # sequencer events once, accumulator events summed over the N columns


def check_row_operands(a, b, cfg: DigitSkip4EConfig) -> tuple[np.ndarray, np.ndarray]:
    """a as an int64 K-vector and b as an int64 K x N matrix, after the checks of a dot product."""
    return opt3_model.check_row_operands(a, b, cfg.opt3)


def simulate_row(a, b, cfg: DigitSkip4EConfig | None = None,
                 mode: Literal["fast", "stepwise"] = "fast") -> Row4EResult:
    """a (K) times b (K x N) on N shared-compressor columns behind the group's 4 sequencers.

    ``stepwise`` clock-steps every column (:func:`simulate_dot_stepwise`) and raises if any
    column's value, cycles or events differ from the closed forms.
    """
    cfg = _check_cfg(cfg)
    av, bv = check_row_operands(a, b, cfg)
    cols = [simulate_dot(av, bv[:, c], cfg, mode) for c in range(bv.shape[1])]
    events = dict(cols[0].events)
    for key in PER_COLUMN_EVENTS:
        events[key] *= len(cols)
    return Row4EResult(np.array([r.value for r in cols], np.int64), cols[0].cycles, cols[0].slot_cycles, events)


@dataclass(frozen=True)
class DigitSkip4EGemmResult:
    """C = A @ B on a row of ``cfg.cols`` columns; the fields the systolic GemmResult shares."""

    c: np.ndarray  # int32 (int64 for acc_bits > 32), M x N
    cycles: int
    fold_cycles: list[int]  # one per fold of sim.digit_skip.gemm_folds, in order
    events: dict[str, int]
    config: DigitSkip4EConfig
    shape: tuple[int, int, int]  # (M, N, K)


def simulate_gemm(a, b, cfg: DigitSkip4EConfig | None = None,
                  mode: Literal["fast", "stepwise"] = "fast") -> DigitSkip4EGemmResult:
    """C = A @ B fold by fold (sim.digit_skip.gemm_folds: row m of A against a zero-padded
    ``cols``-wide n-tile of B), each fold one :func:`simulate_row` run."""
    cfg = _check_cfg(cfg)
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
    return DigitSkip4EGemmResult(c, sum(fold_cycles), fold_cycles, events, cfg, (m, n, k))


# ---------------------------------------------------------------------------------------------
# data-free estimate: expected cycles and events from a distribution of the streamed operand
# ---------------------------------------------------------------------------------------------


def _binomial_cdf_below(r: int, q: np.ndarray) -> np.ndarray:
    """P(n < m) for n ~ Binomial(r, q_j), m = 0..GROUP + 1: shape (GROUP + 2, positions)."""
    pmf = np.array([comb(r, x) * q**x * (1 - q) ** (r - x) if x <= r else np.zeros_like(q)
                    for x in range(GROUP + 1)])
    return np.vstack([np.zeros_like(q), np.cumsum(pmf, axis=0)])


def _super_slot_expectations(real: list[int], q: np.ndarray) -> tuple[float, float, float]:
    """(E[max(1, M)], P(M = 0), E[M]) summed over the 4 positions of one chunk whose sub-PE p has
    ``real[p]`` real elements, M = max_p n_p with independent n_p ~ Binomial(real[p], q_j)."""
    below = np.prod([_binomial_cdf_below(r, q) for r in real], axis=0)  # P(M < m), m = 0..5
    tail = 1.0 - below[1 : GROUP + 1]  # P(M >= m), m = 1..4
    e_max = tail.sum(axis=0)  # E[M] = sum_{m >= 1} P(M >= m)
    p_zero = below[1]
    return float((e_max + p_zero).sum()), float(p_zero.sum()), float(e_max.sum())


def _chunk_layout(k: int) -> list[list[int]]:
    """Real elements of each sub-PE, chunk by chunk (the last chunk may be partly padding)."""
    full, tail = divmod(k, CHUNK)
    out = [[GROUP] * SUB_PES] * full
    if tail:
        out.append([min(GROUP, max(0, tail - GROUP * p)) for p in range(SUB_PES)])
    return out


def expected_dot_cycles(k: int, pmf, encoding: str = "ent") -> float:
    """E[cycles] of one dot product whose a elements are i.i.d. from ``pmf``: exact, not sampled.

    Super-slot (s, j) costs max(1, max_p n_p) with independent n_p ~ Binomial(r_p, q_j)
    (r_p real elements in sub-PE p's group; padding has zero digits):
    E[max(1, M)] = P(M = 0) + sum_{m >= 1} P(M >= m), P(M < m) = prod_p P(n_p < m).
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"K must be a positive integer, got {k!r}")
    q = digit_nonzero_probability(pmf, encoding)
    slots = sum(_super_slot_expectations(real, q)[0] for real in _chunk_layout(int(k)))
    return START_CYCLES + slots + DRAIN_CYCLES


def estimate_gemm(m: int, n: int, k: int, cfg: DigitSkip4EConfig | None = None, pmf=None) -> DigitSkipEstimate:
    """Expected cycles and events of an M x N x K GEMM on a row of ``cfg.cols`` columns, without
    data: A's elements i.i.d. from ``pmf`` (default: Gaussian std 30 INT8, the TPE paper's middle
    case). Every fold streams one row of A, so E[cycles] = M ceil(N / cols) E[dot cycles]."""
    cfg = _check_cfg(cfg)
    check_gemm_dims(m, n, k, cfg.max_k, f"a {cfg.acc_bits}-bit accumulator")
    pmf = int8_pmf(gaussian_std=30.0) if pmf is None else pmf
    q = digit_nonzero_probability(pmf, cfg.encoding)
    folds = m * -(-n // cfg.cols)
    layout = _chunk_layout(k)
    chunks = len(layout)
    slots = idle = e_max = 0.0
    for real in layout:
        a, b, c = _super_slot_expectations(real, q)
        slots, idle, e_max = slots + a, idle + b, e_max + c
    selects = k * float(q.sum())
    per_fold_seq = {"encodes": k, "idle_slots": idle, "lane_idle": SUB_PES * e_max - selects,
                    "zero_digits_skipped": NUM_DIGITS * k - selects}
    per_fold_col = {"selects": selects, "compressions": slots, "merges": NUM_DIGITS * chunks,
                    "shifts": (NUM_DIGITS - 1) * chunks, "final_adds": 1, "b_reads": selects}
    events = {e: folds * v for e, v in per_fold_seq.items()}
    events |= {e: folds * cfg.cols * v for e, v in per_fold_col.items()}
    events = {e: events[e] for e in EVENT_NAMES}
    return DigitSkipEstimate(folds * (START_CYCLES + slots + DRAIN_CYCLES), events, (m, n, k))


def edge_workloads(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Golden (name, a, b) int8 GEMM workloads of the OPT4E group: K on both sides of the chunk
    boundaries (1, 15, 16, 17, 33), all zeros, all -128, mixed extremes and zeros/+-1."""
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.integers(-128, 128, s).astype(np.int8)  # noqa: E731
    mixed = np.array([-128, 127, 0, -1, 1, -2, 2], np.int8)
    return [
        ("random_3x5x17", r(3, 17), r(17, 5)),
        ("k1_2x3x1", r(2, 1), r(1, 3)),
        ("random_2x2x15", r(2, 15), r(15, 2)),
        ("chunk_1x3x16", r(1, 16), r(16, 3)),
        ("zeros_2x3x20", np.zeros((2, 20), np.int8), r(20, 3)),
        ("all_min_2x2x33", np.full((2, 33), -128, np.int8), np.full((33, 2), -128, np.int8)),
        ("mixed_extremes_3x4x21", rng.choice(mixed, (3, 21)), rng.choice(mixed, (21, 4))),
        ("min_times_max_1x2x9", np.full((1, 9), -128, np.int8), np.full((9, 2), 127, np.int8)),
    ]
