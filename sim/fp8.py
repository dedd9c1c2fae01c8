"""Exact FP8 arithmetic (OCP e4m3 / e5m2) and a cycle-level model of an FP8 dot-product unit
(FP8 x FP8 multiplier, FP32 accumulator), the golden model of rtl_models/verilog/fp8_mul.v,
fp32_add.v and fp8_mac.v.

Formats (OCP 8-bit Floating Point Specification, 2023; torch.float8_e4m3fn / float8_e5m2)
-------------------------------------------------------------------------------------
* **e4m3** (E4M3FN): sign, 4 exponent bits, 3 mantissa bits, bias 7. No infinities; the only
  NaNs are S.1111.111 (0x7F, 0xFF). Largest finite 1.75 * 2**8 = 448; smallest subnormal 2**-9.
* **e5m2**: sign, 5 exponent bits, 2 mantissa bits, bias 15, IEEE-like: exponent 31 with
  mantissa 0 is +-Inf, with mantissa != 0 NaN. Largest finite 1.75 * 2**15 = 57344; smallest
  subnormal 2**-16.

Every code decodes exactly to float32 (``decode``).

Encoding policy (``encode``: float32 -> code), one rule set for both formats
---------------------------------------------------------------------------
* finite values round to nearest, ties to even (the even code: mantissa LSB 0), subnormals
  included; a value whose magnitude rounds to 0 keeps its sign (-1e-30 -> 0x80);
* **finite overflow saturates** to +-max (448 / 57344) whatever its size;
* **Inf**: e4m3 has none, so +-Inf -> +-448; e5m2 keeps +-Inf (0x7C / 0xFC);
* **NaN** -> the NaN code with the input's sign: S.1111.111 (e4m3 0x7F/0xFF, e5m2 0x7F/0xFF).

torch 2.13 on the CPU agrees with all of it except e5m2 finite overflow, where torch rounds
to Inf (|x| >= 61440): the reason every caller clamps before casting (DESIGN.md) and the
disagreement tests/test_sim_fp8.py asserts.

Products and accumulation (the arithmetic the RTL implements bit for bit)
-------------------------------------------------------------------------
``fp8_product_bits(a, b, fmt_a, fmt_b)`` is the product of two FP8 values as an FP32 bit
pattern. It is **always exact**: the significands have at most 4 bits (1.mmm), so the product
has at most 8 significant bits (FP32 holds 24), and its magnitude lies in
[2**-9 * 2**-9, 448**2] = [2**-18, ~2**17.6] for e4m3 and [2**-32, 57344**2 ~ 2**31.6] for e5m2
(and in between for mixed formats), far inside FP32's *normal* range [2**-126, 2**128). So a
non-zero finite product never rounds, never overflows and is never an FP32 subnormal.
Specials follow IEEE 754: the sign is the XOR of the signs (zeros included), NaN * x = NaN,
Inf * 0 = NaN, Inf * non-zero = +-Inf.

``fp32_add_bits`` is IEEE 754 binary32 addition, round to nearest even, **with** subnormal
inputs and outputs (no flush-to-zero); x + (-x) = +0, (-0) + (-0) = -0, overflow -> +-Inf,
Inf + (-Inf) = NaN. numpy float32 addition computes it (x86-64 SSE, no FTZ/DAZ).

``dot_fp8`` accumulates ``acc = 0.0 (+0); acc = fp32_add(acc, p_k) for k = 0..K-1``, in that
order, one rounding per add. In an FP8 dot product subnormal FP32 values cannot occur: every
product is a multiple of 2**-32 (the smallest e5m2 product ulp), so every partial sum is a
multiple of 2**-32 and either exactly 0 or at least 2**-32 in magnitude, and rounding keeps it
so; flush-to-zero or not gives the same bits, but the adder (and its RTL) implement the IEEE
behaviour anyway so that it can be checked on its own.

**NaN bits are canonical**: every NaN the model returns is 0x7FC00000 (positive quiet NaN,
what the RTL produces), because NaN sign and payload propagation is not specified by IEEE 754
and differs between numpy builds.

The engine (``Fp8MacConfig``, ``simulate_dot``)
----------------------------------------------
A dot-product unit with an operand buffer (A and B, one FP8 code each per address, loaded
before start) and a three-stage pipeline, one MAC issued per clock:

  stage 1  read:      a_q, b_q <= abuf[k], bbuf[k]          (registered buffer read)
  stage 2  multiply:  p_q <= fp8_mul(a_q, b_q)              (exact, combinational multiplier)
  stage 3  add:       acc <= fp32_add(acc, p_q)            (single-cycle adder, loop-carried)

The adder completes in one clock, so the loop-carried dependence acc -> acc costs nothing and
the order is exactly the sequential one above. The edge that samples ``start`` reads element 0
and clears acc; element k is read on edge k+1, multiplied on edge k+2, added on edge k+3;
``done`` rises on the edge that adds element K-1. Cycles from the start edge to the done edge,
both counted:

    cycles = K + 2

(K one-per-clock reads, plus the multiply and add stages of the last element). The model steps
the three registers clock by clock (``simulate_dot``) and checks itself against the closed form.

numpy only: the cocotb benches import this module as their golden model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FP32_NAN_BITS = 0x7FC00000  # canonical quiet NaN (positive, payload 0x400000)
FP32_INF_BITS = 0x7F800000


@dataclass(frozen=True)
class Fp8Format:
    """An OCP FP8 format: field widths, bias and whether it has infinities."""

    name: str
    exp_bits: int
    man_bits: int
    bias: int
    has_inf: bool
    code: int  # the RTL's FMT parameter: 0 e4m3, 1 e5m2

    @property
    def max_finite(self) -> float:
        return float(decode(self.max_code, self))

    @property
    def max_code(self) -> int:
        """Largest finite positive code: 0x7E (e4m3: 0x7F is NaN), 0x7B (e5m2: 0x7C is Inf)."""
        return 0x7E if not self.has_inf else (((1 << self.exp_bits) - 2) << self.man_bits) | ((1 << self.man_bits) - 1)

    @property
    def nan_code(self) -> int:
        return 0x7F


E4M3 = Fp8Format("e4m3", 4, 3, 7, False, 0)
E5M2 = Fp8Format("e5m2", 5, 2, 15, True, 1)
FORMATS = {"e4m3": E4M3, "e5m2": E5M2}


def get_format(fmt) -> Fp8Format:
    """An Fp8Format from itself, its name ('e4m3', 'e5m2') or its RTL code (0, 1)."""
    if isinstance(fmt, Fp8Format):
        return fmt
    if isinstance(fmt, str) and fmt in FORMATS:
        return FORMATS[fmt]
    if isinstance(fmt, (int, np.integer)) and not isinstance(fmt, bool) and fmt in (0, 1):
        return (E4M3, E5M2)[int(fmt)]
    raise ValueError(f"fmt must be 'e4m3', 'e5m2' (or the RTL code 0, 1), got {fmt!r}")


def _check_codes(codes) -> np.ndarray:
    c = np.asarray(codes)
    if c.dtype.kind not in "iu":
        raise TypeError(f"FP8 codes must be an integer array (uint8 bit patterns), got dtype {c.dtype}")
    if c.size and (c.min() < 0 or c.max() > 255):
        raise ValueError(f"FP8 codes must lie in 0..255, got min {c.min()}, max {c.max()}")
    return c.astype(np.int64)


def _fields(c: np.ndarray, f: Fp8Format):
    sign = (c >> 7) & 1
    e = (c >> f.man_bits) & ((1 << f.exp_bits) - 1)
    m = c & ((1 << f.man_bits) - 1)
    emax = (1 << f.exp_bits) - 1
    if f.has_inf:
        nan = (e == emax) & (m != 0)
        inf = (e == emax) & (m == 0)
    else:
        nan = (e == emax) & (m == (1 << f.man_bits) - 1)
        inf = np.zeros_like(nan)
    return sign, e, m, nan, inf


def decode(codes, fmt) -> np.ndarray:
    """Exact float32 values of FP8 codes (any integer array in 0..255); NaN codes -> NaN."""
    f = get_format(fmt)
    c = _check_codes(codes)
    sign, e, m, nan, inf = _fields(c, f)
    # subnormal (e = 0): m * 2**(1 - bias - man_bits); normal: (2**man_bits + m) * 2**(e - bias - man_bits)
    sig = np.where(e == 0, m, m + (1 << f.man_bits)).astype(np.float64)
    exp = np.where(e == 0, 1, e) - f.bias - f.man_bits
    mag = np.ldexp(sig, exp)
    mag = np.where(inf, np.inf, mag)
    mag = np.where(nan, np.nan, mag)
    return np.where(sign == 1, -mag, mag).astype(np.float32)


def _positive_table(f: Fp8Format) -> np.ndarray:
    """Values of the finite non-negative codes 0..max_code (increasing with the code)."""
    return decode(np.arange(f.max_code + 1), f).astype(np.float64)


def encode(x, fmt) -> np.ndarray:
    """float32 -> FP8 codes (uint8): round to nearest even, saturating; see the module docstring."""
    f = get_format(fmt)
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"x must be a floating-point array, got dtype {x.dtype}")
    x = x.astype(np.float32).astype(np.float64)  # float32 is exact in float64
    sign = np.signbit(x).astype(np.int64) << 7
    a = np.abs(x)
    table = _positive_table(f)
    vmax = table[-1]
    finite = np.isfinite(a)
    ac = np.where(finite, np.minimum(a, vmax), 0.0)
    # table[i] <= a < table[i+1]; the midpoint of two FP8 values is exact in float64
    i = np.clip(np.searchsorted(table, ac, side="right") - 1, 0, len(table) - 1)
    j = np.minimum(i + 1, len(table) - 1)
    mid = (table[i] + table[j]) / 2
    up = (ac > mid) | ((ac == mid) & (i % 2 == 1))  # a tie goes to the even code
    code = np.where((j > i) & up, j, i)
    code = np.where(a > vmax, f.max_code, code)  # finite overflow saturates
    if f.has_inf:
        code = np.where(np.isinf(a), f.max_code + 1, code)  # e5m2 keeps Inf: 0x7C
    else:
        code = np.where(np.isinf(a), f.max_code, code)  # e4m3 has no Inf: +-448
    code = np.where(np.isnan(a), f.nan_code, code)
    return (code | sign).astype(np.uint8)


def bits_to_f32(bits) -> np.ndarray:
    return np.asarray(bits, dtype=np.int64).astype(np.uint32).view(np.float32)


def f32_to_bits(x) -> np.ndarray:
    """float32 values -> uint32 bit patterns, every NaN made the canonical 0x7FC00000."""
    x = np.asarray(x, dtype=np.float32)
    bits = x.view(np.uint32).copy()
    bits[np.isnan(x)] = FP32_NAN_BITS
    return bits


def fp8_product_bits(a_codes, b_codes, fmt_a, fmt_b=None) -> np.ndarray:
    """Exact products of FP8 codes (elementwise, broadcast) as FP32 bit patterns (uint32).

    Exact: at most 8 significant bits, magnitude inside FP32's normal range (module docstring).
    The float64 product of the decoded values is therefore the exact product, and its cast to
    float32 loses nothing; the assertion checks that claim on every call.
    """
    fa, fb = get_format(fmt_a), get_format(fmt_b if fmt_b is not None else fmt_a)
    va = decode(a_codes, fa).astype(np.float64)
    vb = decode(b_codes, fb).astype(np.float64)
    with np.errstate(invalid="ignore"):  # Inf * 0 -> NaN is the IEEE answer
        p64 = va * vb
    p32 = p64.astype(np.float32)
    finite = np.isfinite(p64)
    if not np.array_equal(p32[finite].astype(np.float64), p64[finite]):
        raise AssertionError("an FP8 product was not exact in FP32")
    return f32_to_bits(p32)


def fp32_add_bits(a_bits, b_bits) -> np.ndarray:
    """IEEE binary32 a + b (RNE, subnormals kept) on bit patterns; NaN results canonical."""
    a, b = bits_to_f32(a_bits), bits_to_f32(b_bits)
    with np.errstate(over="ignore", invalid="ignore"):
        return f32_to_bits(a + b)


def dot_fp8_bits(a_codes, b_codes, fmt_a, fmt_b=None) -> int:
    """Sequential FP32 accumulation of the exact products: acc = +0; acc += p_k, k = 0..K-1."""
    p = fp8_product_bits(np.asarray(a_codes).reshape(-1), np.asarray(b_codes).reshape(-1), fmt_a, fmt_b)
    acc = np.zeros(1, np.uint32)
    for k in range(len(p)):
        acc = fp32_add_bits(acc, p[k : k + 1])
    return int(acc[0])


# --------------------------------------------------------------------------------------------
# the dot-product engine
# --------------------------------------------------------------------------------------------

#: pipeline stages after the read: multiply, add (cycles = K + PIPE_EXTRA)
PIPE_EXTRA = 2


@dataclass(frozen=True)
class Fp8MacConfig:
    """One FP8 dot-product unit: operand formats and operand-buffer depth (2**addr_bits)."""

    fmt_a: str = "e4m3"
    fmt_b: str = "e4m3"
    addr_bits: int = 6

    def __post_init__(self) -> None:
        get_format(self.fmt_a)
        get_format(self.fmt_b)
        ab = self.addr_bits
        if isinstance(ab, bool) or not isinstance(ab, (int, np.integer)) or not 1 <= ab <= 16:
            raise ValueError(f"addr_bits must be an integer in 1..16 (buffer depth 2**addr_bits), got {ab!r}")

    @property
    def depth(self) -> int:
        return 1 << self.addr_bits


def dot_cycles(k: int) -> int:
    """Start edge to done edge, both counted, for a K-element dot product: K + 2."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"K must be a positive integer, got {k!r}")
    return int(k) + PIPE_EXTRA


def dot_events(k: int) -> dict[str, int]:
    """Events of one K-element dot product (registers clock-gated: written only with valid data).

    Per element: two FP8 buffer reads, one FP8 multiply, one FP32 add; register writes: a_q and
    b_q (8 bits each), p_q (32), acc (32) per element, plus the acc clear on the start edge.
    """
    dot_cycles(k)
    k = int(k)
    return {
        "buffer_reads_fp8": 2 * k,
        "fp8_mults": k,
        "fp32_adds": k,
        "reg_writes": 4 * k + 1,
        "reg_bits_written": k * (8 + 8 + 32 + 32) + 32,
    }


EVENT_NAMES = tuple(dot_events(1))


@dataclass
class Fp8DotResult:
    result_bits: int  # FP32 bit pattern of the sum (NaN canonical)
    cycles: int
    events: dict[str, int]
    config: Fp8MacConfig
    product_bits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))

    @property
    def result(self) -> float:
        return float(bits_to_f32(self.result_bits))


def check_operands(a_codes, b_codes, cfg: Fp8MacConfig) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-D integer arrays of FP8 codes (0..255), equal length 1..depth."""
    out = []
    for name, x in (("a", a_codes), ("b", b_codes)):
        x = np.asarray(x)
        if x.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer array of FP8 codes (uint8), got dtype {x.dtype}")
        if x.ndim != 1:
            raise ValueError(f"{name} must be a 1-D vector of FP8 codes, got shape {x.shape}")
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ValueError(f"{name} holds values outside the FP8 codes 0..255")
        out.append(x.astype(np.int64))
    a, b = out
    if len(a) != len(b):
        raise ValueError(f"a and b must have the same length, got {len(a)} and {len(b)}")
    if not 1 <= len(a) <= cfg.depth:
        raise ValueError(f"K = {len(a)} must lie in 1..{cfg.depth} (the operand buffer depth 2**{cfg.addr_bits})")
    return a, b


def simulate_dot(a_codes, b_codes, cfg: Fp8MacConfig) -> Fp8DotResult:
    """Step the read / multiply / add registers clock by clock; returns bits, cycles, events."""
    a, b = check_operands(a_codes, b_codes, cfg)
    k_len = len(a)
    events = dict.fromkeys(EVENT_NAMES, 0)
    ab_valid = p_valid = False
    a_q = b_q = 0
    p_q = 0
    acc = 0
    k = 0
    edge = 0
    products = []
    done_edge = None
    while done_edge is None:
        if edge > k_len + 8:
            raise AssertionError("the pipeline never finished")
        edge += 1
        # all three stages sample the old register values on this edge
        new_acc, add_now = acc, p_valid
        if edge == 1:
            new_acc = 0  # the start edge clears the accumulator
            events["reg_writes"] += 1
            events["reg_bits_written"] += 32
        elif p_valid:
            new_acc = int(fp32_add_bits(np.uint32(acc), np.uint32(p_q)))
            events["fp32_adds"] += 1
            events["reg_writes"] += 1
            events["reg_bits_written"] += 32
        new_p_valid = ab_valid
        new_p = p_q
        if ab_valid:
            new_p = int(fp8_product_bits(a_q, b_q, cfg.fmt_a, cfg.fmt_b))
            products.append(new_p)
            events["fp8_mults"] += 1
            events["reg_writes"] += 1
            events["reg_bits_written"] += 32
        new_ab_valid = k < k_len
        if new_ab_valid:
            a_q, b_q = int(a[k]), int(b[k])
            k += 1
            events["buffer_reads_fp8"] += 2
            events["reg_writes"] += 2
            events["reg_bits_written"] += 16
        acc, p_q, p_valid, ab_valid = new_acc, new_p, new_p_valid, new_ab_valid
        if add_now and k == k_len and not p_valid and not ab_valid:
            done_edge = edge  # this edge added the last element
    if done_edge != dot_cycles(k_len):
        raise AssertionError(f"stepped {done_edge} cycles != closed form {dot_cycles(k_len)}")
    if events != dot_events(k_len):
        raise AssertionError(f"stepped events {events} != closed form {dot_events(k_len)}")
    expect = dot_fp8_bits(a, b, cfg.fmt_a, cfg.fmt_b)
    if acc != expect:
        raise AssertionError(f"pipeline sum {acc:#x} != sequential sum {expect:#x}")
    return Fp8DotResult(acc, done_edge, events, cfg, np.array(products, np.uint32))


def edge_workloads(cfg: Fp8MacConfig, seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Golden (name, a_codes, b_codes) dot products: random, extremes, subnormals, specials,
    cancellation, and sums that round (large + many small)."""
    fa, fb = get_format(cfg.fmt_a), get_format(cfg.fmt_b)
    rng = np.random.default_rng(seed)
    depth = cfg.depth

    def finite_codes(f, n):
        c = rng.integers(0, 256, n)
        bad = (c & 0x7F) > f.max_code
        return np.where(bad, c & 0x80, c)

    def enc(f, vals):
        return encode(np.asarray(vals, np.float32), f).astype(np.int64)

    k = min(depth, 16)
    sub_a = (1 << fa.man_bits) - 1  # largest subnormal code
    sub_b = (1 << fb.man_bits) - 1
    out = [
        ("random_1", finite_codes(fa, 1), finite_codes(fb, 1)),
        ("random_k", finite_codes(fa, k), finite_codes(fb, k)),
        ("random_full", finite_codes(fa, depth), finite_codes(fb, depth)),
        ("max_times_max", np.full(k, fa.max_code), np.full(k, fb.max_code)),
        ("max_cancel", np.array([fa.max_code, fa.max_code | 0x80] * (k // 2)), np.full(2 * (k // 2), fb.max_code)),
        ("subnormals", rng.integers(0, sub_a + 1, k) | (rng.integers(0, 2, k) << 7),
         rng.integers(0, sub_b + 1, k) | (rng.integers(0, 2, k) << 7)),
        ("min_subnormal", np.full(k, 1), np.full(k, 0x81)),
        ("neg_zeros", np.full(k, 0x80), np.full(k, 0x00)),
        ("zeros_pos_neg", np.array([0x80, 0x00] * (k // 2)), np.full(2 * (k // 2), 0x00)),
        ("big_plus_small", enc(fa, [fa.max_finite] + [fa.max_finite / 2**20] * (k - 1)),
         enc(fb, [fb.max_finite] + [fb.max_finite / 2**20] * (k - 1))),
        ("nan_in_middle", np.concatenate([finite_codes(fa, k - 1), [fa.nan_code]]), finite_codes(fb, k)),
    ]
    if fa.has_inf or fb.has_inf:
        inf_a = fa.max_code + 1 if fa.has_inf else fa.max_code
        inf_b = fb.max_code + 1 if fb.has_inf else fb.max_code
        out.append(("inf", np.concatenate([[inf_a], finite_codes(fa, k - 1)]),
                    np.concatenate([[inf_b], finite_codes(fb, k - 1)])))
        out.append(("inf_minus_inf", np.array([inf_a, inf_a | 0x80]), np.array([inf_b, inf_b])))
        out.append(("inf_times_zero", np.array([inf_a if fa.has_inf else 0, 0]),
                    np.array([0 if fa.has_inf else inf_b, 0])))
    return [(n, a.astype(np.int64), b.astype(np.int64)) for n, a, b in out]
