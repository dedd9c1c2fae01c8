"""Cycle-level models of three bit-serial / bit-fused dot-product PEs: the baselines that
'versus Laconic' (the TPE paper's bit-slice comparison, ANCHORS.md) rests on.

Each PE computes one dot product sum_k a_k w_k of a stream of K (activation, weight) pairs with
operand precisions as parameters, and returns the exact value, the cycles from the start edge to
the done edge (both counted, as the cocotb benches measure them) and event counts for the cost
model. The Verilog of each (rtl_models/verilog/{stripes,laconic,bitfusion}_pe.v) has the same
registers as the ``stepwise`` model here, and tests hold value and cycles equal across the three.

Common shape of the RTL tops: K operands are loaded into buffers, ``start`` latches K and clears
the accumulator (1 cycle), the PE walks K in groups of ``lanes`` consecutive elements (the last
group masked), and a final cycle writes the result register with ``done`` (1 cycle):

    cycles = 1 + sum_groups (cycles of the group) + 1

Stripes (Judd et al., MICRO 2016; ANCHORS.md): weights bit-parallel, activations bit-serial.
  A serial inner-product unit of ``lanes`` lanes takes one activation bit per lane per cycle,
  ANDs it with that lane's (parallel, two's-complement) weight, sums the lanes in an adder tree
  and adds the sum, shifted by the bit's weight 2^i, into the accumulator. A group costs
  ``a_bits`` cycles whatever the data (Stripes' precision is per layer, not per value):
      cycles = 1 + ceil(K / lanes) * a_bits + 1
  Signed activations (``a_signed``): the MSB bit has weight -2^(p-1), so on the MSB cycle the
  tree's sum is subtracted instead of added (two's complement, no sign-magnitude conversion).
  Bits go LSB first with a barrel shift by i (the paper shifts the accumulator left MSB first:
  the same sums, the same cycles).

Laconic (Sharify et al., ISCA 2019; ANCHORS.md): both operands reduced to their Booth terms.
  Each p-bit two's-complement operand is modified-Booth (radix-4) recoded into ceil(p/2) digits
  in {-2, -1, 0, 1, 2}; every non-zero digit is one signed power of two ("term"): +-2^(2j) for
  |d_j| = 1, +-2^(2j+1) for |d_j| = 2. A lane multiplies term by term: one (a term, w term) pair
  per cycle, an exponent add and a one-hot +-2^(ea+ew) into the lanes' adder tree, so a lane
  needs n_a * n_w cycles for its pair. Laconic's lanes in a tile advance in lock step (a new
  group of activations/weights is broadcast only when every lane is done), so a group costs
  the slowest lane's term-pair count, at least one cycle (an all-zero group still takes its
  broadcast slot):
      cycles = 1 + sum_g max(1, max_{lanes l of g} n_a(a_l) * n_w(w_l)) + 1
  (max, not sum: the lanes work in parallel; a sum would describe a single-lane unit.) Lanes
  enumerate their pairs a-term-major, lowest term first.

Bit Fusion (Sharma et al., ISCA 2018; ANCHORS.md): a fusion unit of 16 BitBricks, each a 2-bit x
  2-bit multiplier on 3-bit signed operands (the 2 bits plus a sign-extension bit). An operand
  of p in {2, 4, 8} bits is split into p/2 two-bit slices; the brick of slices (i, j) multiplies
  them and its product is shifted by 2(i + j). A slice is treated as signed only when it is the
  most significant slice of a signed operand (Bit Fusion's per-brick sign mode), every other
  slice as unsigned, which makes the fused sum exactly the two's-complement product. One
  product needs (a_bits/2)(w_bits/2) bricks, so the unit fuses 16 / that many products per
  cycle: one 8x8, two 8x4, four 4x4 (or 8x2), eight 4x2, sixteen 2x2 per cycle:
      cycles = 1 + ceil(K / pairs_per_cycle) + 1

Events, per dot product (``term_adds``, ``shifts``, ``acc_writes``, ``final_adds`` in all three):
  term_adds    non-zero terms summed into the adder tree: Stripes, activation bits that are 1
               (each selects a weight); Laconic, term pairs; Bit Fusion, brick products
  shifts       shifted terms: Stripes, compute cycles with i > 0 (one barrel shift of the tree
               sum); Laconic, term pairs (each a one-hot shift by ea + ew); Bit Fusion, brick
               products with 2(i + j) > 0
  acc_writes   accumulator register writes: one per compute cycle
  final_adds   the result register write (1)
  Stripes also: and_terms (lane AND gates evaluated, K * a_bits), msb_subtracts (groups, signed).
  Laconic also: encodes (2K operands Booth-encoded), idle_lane_cycles (lanes x group cycles -
               term pairs: lanes waiting for the slowest one).
  Bit Fusion also: idle_bricks (16 x compute cycles - brick products).

numpy only.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np

KINDS = ("stripes", "laconic", "bitfusion")
MAX_BITS = 16  # operand precision limit of the Stripes and Laconic models
FUSION_BITS = (2, 4, 8)  # the precisions a Bit Fusion unit fuses
BRICKS = 16  # BitBricks per fusion unit
START_CYCLES = 1
FIN_CYCLES = 1


def _is_int(x) -> bool:
    return not isinstance(x, bool) and isinstance(x, numbers.Integral)


def _check_bits(name: str, value, allowed: tuple[int, ...] | None = None) -> None:
    if allowed is None:
        if not _is_int(value) or not 1 <= value <= MAX_BITS:
            raise ValueError(f"{name} must be an integer precision in 1..{MAX_BITS}, got {value!r}")
    elif not _is_int(value) or value not in allowed:
        raise ValueError(f"{name} must be one of {allowed} (Bit Fusion fuses 2-bit bricks), got {value!r}")


def _check_bool(name: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def _check_acc(acc_bits) -> None:
    if not _is_int(acc_bits) or not 8 <= acc_bits <= 64:
        raise ValueError(f"acc_bits must be an integer in 8..64, got {acc_bits!r}")


def operand_range(bits: int, signed: bool) -> tuple[int, int]:
    """[lo, hi] of a ``bits``-bit operand: two's complement if ``signed``, else unsigned."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


@dataclass(frozen=True)
class StripesConfig:
    """A Stripes serial inner-product unit: ``lanes`` weights of ``w_bits`` (signed) in parallel,
    activations of ``a_bits`` bit-serial, signed (MSB subtracted) or unsigned."""

    a_bits: int = 8
    w_bits: int = 8
    lanes: int = 16
    a_signed: bool = True
    acc_bits: int = 32

    kind = "stripes"

    def __post_init__(self) -> None:
        _check_bits("a_bits", self.a_bits)
        _check_bits("w_bits", self.w_bits)
        if not _is_int(self.lanes) or not 1 <= self.lanes <= 64:
            raise ValueError(f"lanes must be an integer in 1..64, got {self.lanes!r}")
        _check_bool("a_signed", self.a_signed)
        _check_acc(self.acc_bits)

    @property
    def a_signed_(self) -> bool:
        return bool(self.a_signed)

    @property
    def w_signed_(self) -> bool:
        return True

    @property
    def group(self) -> int:
        """K elements processed together (one group of lanes)."""
        return int(self.lanes)


@dataclass(frozen=True)
class LaconicConfig:
    """A Laconic tile of ``lanes`` lanes; both operands signed, Booth radix-4 terms."""

    a_bits: int = 8
    w_bits: int = 8
    lanes: int = 16
    acc_bits: int = 32

    kind = "laconic"

    def __post_init__(self) -> None:
        _check_bits("a_bits", self.a_bits)
        _check_bits("w_bits", self.w_bits)
        if not _is_int(self.lanes) or not 1 <= self.lanes <= 64:
            raise ValueError(f"lanes must be an integer in 1..64, got {self.lanes!r}")
        _check_acc(self.acc_bits)

    @property
    def a_signed_(self) -> bool:
        return True

    @property
    def w_signed_(self) -> bool:
        return True

    @property
    def group(self) -> int:
        return int(self.lanes)


@dataclass(frozen=True)
class BitFusionConfig:
    """A Bit Fusion unit of 16 BitBricks at precisions a_bits x w_bits in {2, 4, 8}."""

    a_bits: int = 8
    w_bits: int = 8
    a_signed: bool = True
    w_signed: bool = True
    acc_bits: int = 32

    kind = "bitfusion"

    def __post_init__(self) -> None:
        _check_bits("a_bits", self.a_bits, FUSION_BITS)
        _check_bits("w_bits", self.w_bits, FUSION_BITS)
        _check_bool("a_signed", self.a_signed)
        _check_bool("w_signed", self.w_signed)
        _check_acc(self.acc_bits)

    @property
    def a_signed_(self) -> bool:
        return bool(self.a_signed)

    @property
    def w_signed_(self) -> bool:
        return bool(self.w_signed)

    @property
    def bricks_per_product(self) -> int:
        return (self.a_bits // 2) * (self.w_bits // 2)

    @property
    def pairs_per_cycle(self) -> int:
        """Products fused per cycle: 16 / ((a_bits/2)(w_bits/2))."""
        return BRICKS // self.bricks_per_product

    @property
    def group(self) -> int:
        return self.pairs_per_cycle


Config = StripesConfig | LaconicConfig | BitFusionConfig
CONFIGS = {"stripes": StripesConfig, "laconic": LaconicConfig, "bitfusion": BitFusionConfig}


def make_config(kind: str, **kwargs) -> Config:
    """The config of PE ``kind`` ("stripes", "laconic" or "bitfusion") with ``kwargs``."""
    if kind not in CONFIGS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return CONFIGS[kind](**kwargs)


def max_product(cfg: Config) -> int:
    """Largest |a * w| the operand ranges allow."""
    alo, ahi = operand_range(cfg.a_bits, cfg.a_signed_)
    wlo, whi = operand_range(cfg.w_bits, cfg.w_signed_)
    return max(abs(x * y) for x in (alo, ahi) for y in (wlo, whi))


def max_k(cfg: Config) -> int:
    """Largest K whose dot product cannot overflow the signed accumulator."""
    return (2 ** (cfg.acc_bits - 1) - 1) // max(1, max_product(cfg))


def check_operand(values, name: str, bits: int, signed: bool) -> np.ndarray:
    """``values`` as int64 after checking they are integers in the ``bits``-bit range."""
    arr = np.asarray(values)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    lo, hi = operand_range(bits, signed)
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"{name} must be {kind} {bits}-bit values in [{lo}, {hi}], got {int(arr[idx])} at index {idx}")
    return arr


def _check_cfg(cfg) -> None:
    if not isinstance(cfg, (StripesConfig, LaconicConfig, BitFusionConfig)):
        raise ValueError(f"cfg must be a StripesConfig, LaconicConfig or BitFusionConfig, got {type(cfg).__name__}")


def check_dot_operands(a, w, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """a and w as int64 K-vectors after checking ranges, shapes and K against the accumulator."""
    _check_cfg(cfg)
    av = check_operand(a, "a", cfg.a_bits, cfg.a_signed_)
    wv = check_operand(w, "w", cfg.w_bits, cfg.w_signed_)
    for name, v in (("a", av), ("w", wv)):
        if v.ndim != 1:
            raise ValueError(f"{name} must be a 1-D vector (length K), got shape {v.shape}")
    if av.size == 0:
        raise ValueError("K must be >= 1, got an empty vector")
    if av.size != wv.size:
        raise ValueError(f"a and w must have the same length K, got {av.size} and {wv.size}")
    if av.size > max_k(cfg):
        raise ValueError(f"K = {av.size} can overflow a {cfg.acc_bits}-bit accumulator (max K {max_k(cfg)})")
    return av, wv


# ------------------------------------------------------------------------ Booth terms (Laconic)
def booth_digit_count(bits: int) -> int:
    """Radix-4 digits of a ``bits``-bit two's-complement operand: ceil(bits / 2)."""
    return (bits + 1) // 2


def booth_digits(x, bits: int) -> np.ndarray:
    """Modified-Booth radix-4 digits of ``bits``-bit signed values, shape x.shape + (ceil(bits/2),).

    The value is sign-extended to an even width; d_j = -2 x_{2j+1} + x_{2j} + x_{2j-1}, x_{-1} = 0;
    sum_j d_j 4^j == x exactly.
    """
    v = check_operand(x, "x", bits, True)
    nd = booth_digit_count(bits)
    u = v & ((1 << (2 * nd)) - 1)  # two's complement in 2*nd bits (sign-extended)
    out = np.empty(v.shape + (nd,), np.int64)
    prev = np.zeros_like(u)
    for j in range(nd):
        lo = (u >> (2 * j)) & 1
        hi = (u >> (2 * j + 1)) & 1
        out[..., j] = -2 * hi + lo + prev
        prev = hi
    return out


def booth_terms(x: int, bits: int) -> list[tuple[int, int]]:
    """The terms of one value: [(sign, exponent)], lowest digit first; x == sum sign * 2^exponent."""
    d = booth_digits(np.array([x]), bits)[0]
    return [(1 if dj > 0 else -1, 2 * j + (abs(int(dj)) == 2)) for j, dj in enumerate(d) if dj != 0]


def booth_term_count(x, bits: int) -> np.ndarray:
    """n(x): non-zero Booth radix-4 digits (terms) of each value."""
    return (booth_digits(x, bits) != 0).sum(axis=-1)


# ------------------------------------------------------------------------ closed forms
@dataclass(frozen=True)
class BitSerialResult:
    value: int  # the exact dot product
    cycles: int  # start edge to done edge, both counted
    group_cycles: np.ndarray  # cycles of each group of ``cfg.group`` elements
    events: dict[str, int]


def _groups(k: int, cfg: Config) -> int:
    return -(-k // cfg.group)


def group_cycles(a, w, cfg: Config) -> np.ndarray:
    """The cycles of each group of ``cfg.group`` consecutive elements (module docstring)."""
    av, wv = check_dot_operands(a, w, cfg)
    g = _groups(av.size, cfg)
    if cfg.kind == "stripes":
        return np.full(g, cfg.a_bits, np.int64)
    if cfg.kind == "bitfusion":
        return np.ones(g, np.int64)
    pairs = np.zeros(g * cfg.group, np.int64)
    pairs[: av.size] = booth_term_count(av, cfg.a_bits) * booth_term_count(wv, cfg.w_bits)
    return np.maximum(pairs.reshape(g, cfg.group).max(axis=1), 1)


def dot_events(a, w, cfg: Config) -> dict[str, int]:
    """Event counts of one dot product (definitions in the module docstring)."""
    av, wv = check_dot_operands(a, w, cfg)
    k = av.size
    gc = group_cycles(av, wv, cfg)
    compute = int(gc.sum())
    if cfg.kind == "stripes":
        u = av & ((1 << cfg.a_bits) - 1)
        ones = int(sum(((u >> i) & 1).sum() for i in range(cfg.a_bits)))
        return {"and_terms": k * cfg.a_bits, "term_adds": ones, "shifts": gc.size * (cfg.a_bits - 1),
                "msb_subtracts": gc.size if cfg.a_signed else 0, "acc_writes": compute, "final_adds": 1}
    if cfg.kind == "laconic":
        pairs = int((booth_term_count(av, cfg.a_bits) * booth_term_count(wv, cfg.w_bits)).sum())
        return {"encodes": 2 * k, "term_adds": pairs, "shifts": pairs,
                "idle_lane_cycles": cfg.lanes * compute - pairs, "acc_writes": compute, "final_adds": 1}
    bricks = k * cfg.bricks_per_product
    return {"term_adds": bricks, "shifts": k * (cfg.bricks_per_product - 1),
            "idle_bricks": BRICKS * compute - bricks, "acc_writes": compute, "final_adds": 1}


def dot_cycles(a, w, cfg: Config) -> int:
    """Closed-form start-to-done cycles of one dot product."""
    return START_CYCLES + int(group_cycles(a, w, cfg).sum()) + FIN_CYCLES


def simulate_dot(a, w, cfg: Config, mode: Literal["fast", "stepwise"] = "fast") -> BitSerialResult:
    """One dot product on the PE ``cfg`` describes: exact value, cycles, events.

    ``fast``: exact integer dot product and the closed forms. ``stepwise``: the RTL's registers
    stepped clock by clock (:func:`simulate_dot_stepwise`); raises if they disagree.
    """
    av, wv = check_dot_operands(a, w, cfg)
    if mode not in ("fast", "stepwise"):
        raise ValueError(f"mode must be 'fast' or 'stepwise', got {mode!r}")
    value = int(av @ wv)
    gc = group_cycles(av, wv, cfg)
    cycles = START_CYCLES + int(gc.sum()) + FIN_CYCLES
    events = dot_events(av, wv, cfg)
    if mode == "stepwise":
        got = simulate_dot_stepwise(av, wv, cfg)
        if got != (value, cycles, events):
            raise AssertionError(f"stepwise model disagrees with the closed forms: {got} vs {(value, cycles, events)}")
    return BitSerialResult(value, cycles, gc, events)


@dataclass(frozen=True)
class BitSerialGemmResult:
    """C = A @ W with every output one dot product on one PE, run one after another."""

    c: np.ndarray  # int64, M x N
    cycles: int  # sum over the M x N dot products
    dot_cycles: np.ndarray  # int64, M x N
    events: dict[str, int]
    config: Config
    shape: tuple[int, int, int]  # (M, N, K)


def simulate_gemm(a, w, cfg: Config) -> BitSerialGemmResult:
    """C = A (M x K) @ W (K x N): value, cycles and events of each output's dot product, summed."""
    _check_cfg(cfg)
    av = check_operand(a, "a", cfg.a_bits, cfg.a_signed_)
    wv = check_operand(w, "w", cfg.w_bits, cfg.w_signed_)
    if av.ndim != 2 or wv.ndim != 2 or 0 in av.shape or 0 in wv.shape:
        raise ValueError(f"a and w must be non-empty 2-D matrices, got shapes {av.shape} and {wv.shape}")
    if av.shape[1] != wv.shape[0]:
        raise ValueError(f"shape mismatch: a is {av.shape} (M x K) but w is {wv.shape} (K x N)")
    (m, k), n = av.shape, wv.shape[1]
    c = np.zeros((m, n), np.int64)
    cyc = np.zeros((m, n), np.int64)
    events: dict[str, int] = {}
    for i in range(m):
        for j in range(n):
            r = simulate_dot(av[i], wv[:, j], cfg)
            c[i, j], cyc[i, j] = r.value, r.cycles
            for key, v in r.events.items():
                events[key] = events.get(key, 0) + v
    return BitSerialGemmResult(c, int(cyc.sum()), cyc, events, cfg, (m, n, k))


# ------------------------------------------------------------------------ stepwise (the RTL)
def _wrap(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _slices(x: int, bits: int, signed: bool) -> list[int]:
    """The 2-bit slices of x, low first, as a BitBrick reads them (top slice signed if ``signed``)."""
    u = x & ((1 << bits) - 1)
    out = []
    for i in range(bits // 2):
        s = (u >> (2 * i)) & 3
        if signed and i == bits // 2 - 1 and s & 2:
            s -= 4
        out.append(s)
    return out


def simulate_dot_stepwise(a, w, cfg: Config) -> tuple[int, int, dict[str, int]]:
    """Step the RTL top's registers one clock at a time; (value, cycles, events).

    The accumulator is a register of ``cfg.acc_bits`` bits updated modulo 2^acc_bits, as in the
    Verilog; group and lane bookkeeping follow the Verilog's state machines.
    """
    av, wv = check_dot_operands(a, w, cfg)
    k, lanes = av.size, cfg.group
    mask = (1 << cfg.acc_bits) - 1
    ev: dict[str, int] = {}

    def bump(key, n=1):
        ev[key] = ev.get(key, 0) + n

    acc = 0
    cycles = 1  # start edge: latch K, clear the accumulator
    base = 0
    while True:  # one group per iteration
        valid = [base + i < k for i in range(lanes)]
        idx = [base + i for i in range(lanes)]
        if cfg.kind == "stripes":
            for bit in range(cfg.a_bits):  # one clock per bit
                term = 0
                for i in range(lanes):
                    if valid[i]:
                        bump("and_terms")
                        if (int(av[idx[i]]) >> bit) & 1:
                            term += int(wv[idx[i]])
                            bump("term_adds")
                sh = term << bit
                neg = cfg.a_signed and bit == cfg.a_bits - 1
                acc = (acc - sh if neg else acc + sh) & mask
                bump("shifts", int(bit > 0))
                bump("msb_subtracts", int(neg))
                bump("acc_writes")
                cycles += 1
        elif cfg.kind == "laconic":
            terms_a = [booth_terms(int(av[x]), cfg.a_bits) if valid[i] else [] for i, x in enumerate(idx)]
            terms_w = [booth_terms(int(wv[x]), cfg.w_bits) if valid[i] else [] for i, x in enumerate(idx)]
            ia = [0] * lanes  # a-term pointer (a_done) per lane
            iw = [0] * lanes  # w-term pointer (w_done) per lane
            while True:  # one clock per iteration
                term, more = 0, False
                for i in range(lanes):
                    has = ia[i] < len(terms_a[i]) and len(terms_w[i]) > 0
                    if has:
                        (sa, ea), (sw, ew) = terms_a[i][ia[i]], terms_w[i][iw[i]]
                        term += sa * sw * (1 << (ea + ew))
                        bump("term_adds")
                        bump("shifts")
                        if iw[i] + 1 == len(terms_w[i]):
                            ia[i], iw[i] = ia[i] + 1, 0
                        else:
                            iw[i] += 1
                        more |= ia[i] < len(terms_a[i])
                    else:
                        bump("idle_lane_cycles")
                acc = (acc + term) & mask
                bump("acc_writes")
                cycles += 1
                if not more:
                    break
        else:  # bitfusion: every brick of every lane in one clock
            term = 0
            for i in range(lanes):
                sa = _slices(int(av[idx[i]]), cfg.a_bits, cfg.a_signed) if valid[i] else None
                sw = _slices(int(wv[idx[i]]), cfg.w_bits, cfg.w_signed) if valid[i] else None
                for p in range(cfg.a_bits // 2):
                    for q in range(cfg.w_bits // 2):
                        if valid[i]:
                            term += (sa[p] * sw[q]) << (2 * (p + q))
                            bump("term_adds")
                            bump("shifts", int(p + q > 0))
                        else:
                            bump("idle_bricks")
            acc = (acc + term) & mask
            bump("acc_writes")
            cycles += 1
        base += lanes
        if base >= k:
            break
    value = _wrap(acc, cfg.acc_bits)
    bump("final_adds")
    cycles += 1  # FIN: result <= acc, done
    if cfg.kind == "laconic":
        bump("encodes", 2 * k)
    # the closed forms' keys and order; an event that never happened counts 0
    return value, cycles, {key: ev.get(key, 0) for key in dot_events(av, wv, cfg)}


# ------------------------------------------------------------------------ comparison
def compare_engines(a, w, a_bits: int, w_bits: int, lanes: int = 16, acc_bits: int = 32) -> list[dict]:
    """The three PEs on the same signed operands (one dot product): a row per engine.

    Each row: engine, a_bits, w_bits, k, cycles (start to done), compute_cycles, macs_per_cycle
    (K / compute cycles), term_adds and the engine's unit size (``units``: Stripes and Laconic
    lanes, Bit Fusion bricks). Bit Fusion appears only when both precisions are in {2, 4, 8}.
    The operands must be signed ``a_bits`` / ``w_bits`` values (Stripes signed activations).
    """
    cfgs = [("stripes", StripesConfig(a_bits, w_bits, lanes, True, acc_bits), lanes),
            ("laconic", LaconicConfig(a_bits, w_bits, lanes, acc_bits), lanes)]
    if a_bits in FUSION_BITS and w_bits in FUSION_BITS:
        cfgs.append(("bitfusion", BitFusionConfig(a_bits, w_bits, True, True, acc_bits), BRICKS))
    rows = []
    for name, cfg, units in cfgs:
        r = simulate_dot(a, w, cfg)
        compute = r.cycles - START_CYCLES - FIN_CYCLES
        k = int(np.asarray(a).size)
        rows.append({"engine": name, "a_bits": a_bits, "w_bits": w_bits, "k": k, "cycles": r.cycles,
                     "compute_cycles": compute, "macs_per_cycle": k / compute,
                     "term_adds": r.events["term_adds"], "units": units, "value": r.value})
    return rows
