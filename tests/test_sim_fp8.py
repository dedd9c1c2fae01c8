"""sim.fp8 on its own: decoding against torch's float8 dtypes, the saturating round-to-nearest-even
encoder against torch's cast on clamped inputs (with the one documented disagreement asserted),
products exact against float64, IEEE FP32 addition, the defined accumulation order, and the
dot-product engine's cycles (K + 2) and events proved by clock stepping."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.fp8 import (
    E4M3,
    E5M2,
    EVENT_NAMES,
    FP32_NAN_BITS,
    Fp8MacConfig,
    bits_to_f32,
    decode,
    dot_cycles,
    dot_events,
    dot_fp8_bits,
    edge_workloads,
    encode,
    fp8_product_bits,
    fp32_add_bits,
    get_format,
    simulate_dot,
)

TORCH_DTYPES = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}
FMTS = (E4M3, E5M2)
ALL = np.arange(256)


def torch_cast(x: np.ndarray, f) -> np.ndarray:
    return torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(TORCH_DTYPES[f.name]).view(torch.uint8).numpy()


@pytest.mark.parametrize("f", FMTS, ids=lambda f: f.name)
def test_decode_matches_torch_on_all_256_codes(f):
    want = torch.arange(256, dtype=torch.uint8).view(TORCH_DTYPES[f.name]).float().numpy()
    got = decode(ALL, f)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)  # NaN == NaN here
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))  # -0 at 0x80


def test_format_constants():
    assert (E4M3.max_finite, E4M3.max_code, E5M2.max_finite, E5M2.max_code) == (448.0, 0x7E, 57344.0, 0x7B)
    assert np.flatnonzero(np.isnan(decode(ALL, E4M3))).tolist() == [0x7F, 0xFF]
    assert np.flatnonzero(np.isnan(decode(ALL, E5M2))).tolist() == [0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF]
    assert decode([0x7C, 0xFC], E5M2).tolist() == [np.inf, -np.inf]
    assert not np.isinf(decode(ALL, E4M3)).any()
    assert decode([1, 0x81], E4M3).tolist() == [2.0**-9, -(2.0**-9)]
    assert decode([1, 0x81], E5M2).tolist() == [2.0**-16, -(2.0**-16)]
    assert get_format(0) is E4M3 and get_format("e5m2") is E5M2 and get_format(E4M3) is E4M3


def _encoder_inputs(f, seed=0):
    """Every FP8 value, every midpoint of two neighbours (ties) and the float32 values either
    side of it, the subnormal range, and random values over the format's whole range."""
    rng = np.random.default_rng(seed)
    vals = decode(ALL, f)
    pos = np.sort(vals[np.isfinite(vals) & (vals >= 0)]).astype(np.float64)
    mids = ((pos[:-1] + pos[1:]) / 2).astype(np.float32)
    near = np.concatenate([np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(0))])
    rand = (rng.standard_normal(20000) * np.exp2(rng.uniform(-20, np.log2(f.max_finite), 20000))).astype(np.float32)
    tiny = np.float32([1e-30, 2.0**-40, 2.0**-20])
    x = np.concatenate([pos, mids, near, rand, tiny]).astype(np.float32)
    return np.concatenate([x, -x])


@pytest.mark.parametrize("f", FMTS, ids=lambda f: f.name)
def test_encoder_matches_torch_cast_on_clamped_inputs(f):
    x = np.clip(_encoder_inputs(f), -f.max_finite, f.max_finite)
    np.testing.assert_array_equal(encode(x, f), torch_cast(x, f))


@pytest.mark.parametrize("f", FMTS, ids=lambda f: f.name)
def test_encoder_round_trips_every_code_and_ties_go_to_even(f):
    codes = np.array([c for c in range(256) if not np.isnan(decode(c, f))])
    np.testing.assert_array_equal(encode(decode(codes, f), f), codes)
    # the midpoint of codes 2 and 3 goes to 2 (even), of 3 and 4 to 4
    mid23 = (decode(2, f) + decode(3, f)) / 2
    mid34 = (decode(3, f) + decode(4, f)) / 2
    assert encode(np.float32([mid23, mid34, -mid23]), f).tolist() == [2, 4, 0x82]


@pytest.mark.parametrize("f", FMTS, ids=lambda f: f.name)
def test_encoder_nan_inf_overflow_policy(f):
    x = np.float32([np.nan, -np.nan, np.inf, -np.inf, f.max_finite * 1.0625, 1e30, -1e30, -1e-30, -0.0, 0.0])
    inf = 0x7C if f.has_inf else 0x7E  # e5m2 keeps Inf; e4m3 has none and saturates
    assert encode(x, f).tolist() == [0x7F, 0xFF, inf, inf | 0x80, f.max_code, f.max_code,
                                     f.max_code | 0x80, 0x80, 0x80, 0x00]


def test_documented_disagreement_with_torch_on_unclamped_e5m2_overflow():
    """torch rounds e5m2 finite overflow to Inf (from 61440, the midpoint of 57344 and 2**16);
    the encoder saturates. Callers clamp first, after which the two agree (test above)."""
    x = np.float32([61440.0, 1e6, -70000.0])
    assert torch_cast(x, E5M2).tolist() == [0x7C, 0x7C, 0xFC]
    assert encode(x, E5M2).tolist() == [0x7B, 0x7B, 0xFB]
    assert torch_cast(np.float32([61439.0]), E5M2).tolist() == encode(np.float32([61439.0]), E5M2).tolist() == [0x7B]


@settings(max_examples=300, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_encoder_matches_torch_on_any_clamped_float32(v):
    for f in FMTS:
        x = np.clip(np.float32([v]), -f.max_finite, f.max_finite)
        assert encode(x, f).tolist() == torch_cast(x, f).tolist(), (v, f.name)


@pytest.mark.parametrize("fa,fb", [(E4M3, E4M3), (E5M2, E5M2), (E4M3, E5M2)], ids=lambda f: f.name)
def test_products_of_all_pairs_are_exact(fa, fb):
    a, b = np.meshgrid(ALL, ALL, indexing="ij")
    bits = fp8_product_bits(a, b, fa, fb)
    got = bits_to_f32(bits).astype(np.float64)
    va, vb = decode(a, fa).astype(np.float64), decode(b, fb).astype(np.float64)
    with np.errstate(invalid="ignore"):
        want = va * vb
    np.testing.assert_array_equal(got, want)  # exact: no rounding anywhere
    np.testing.assert_array_equal(bits[np.isnan(want)], FP32_NAN_BITS)  # canonical NaN
    zero = want == 0
    np.testing.assert_array_equal(np.signbit(got[zero]), (a[zero] >> 7) != (b[zero] >> 7))  # sign = XOR
    # non-zero finite products: multiples of 2**-32 and >= 2**-32, never FP32 subnormal, so FP32
    # partial sums of them cannot be subnormal either (the flush-to-zero question is moot)
    nz = np.isfinite(want) & ~zero
    assert np.abs(want[nz]).min() >= 2.0**-32
    assert np.all(np.ldexp(want[nz], 32) == np.round(np.ldexp(want[nz], 32)))
    assert np.all(((bits[nz] >> 23) & 0xFF) > 0)


def test_fp32_add_is_ieee_round_to_nearest_even_with_subnormals():
    f = np.float32
    cases = [
        (f(1.0), f(2.0**-24), f(1.0)),                     # tie -> even (1.0)
        (f(1.0 + 2.0**-23), f(2.0**-24), f(1.0 + 2.0**-22)),  # tie -> even (up)
        (f(2.0**-149), f(2.0**-149), f(2.0**-148)),           # subnormal + subnormal
        (f(2.0**-126), -f(2.0**-149), f(2.0**-126 - 2.0**-149)),  # normal -> largest subnormal
        (f(3e38), f(3e38), f(np.inf)),                      # overflow
    ]
    for a, b, want in cases:
        got = fp32_add_bits(np.array([a]).view(np.uint32), np.array([b]).view(np.uint32))
        assert got.tolist() == np.array([want]).view(np.uint32).tolist(), (a, b)
    bits = np.array([0x80000000, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000], np.uint32)
    got = fp32_add_bits(bits[0::2], bits[1::2])
    assert got.tolist() == [0x80000000, 0x00000000, FP32_NAN_BITS]  # -0 + -0, x - x = +0, Inf - Inf


def test_accumulation_order_is_sequential():
    """(2**24 + 1) + 1 rounds twice to 2**24; 1 + 1 + 2**24 is exact: the order is part of the
    contract, and dot_fp8_bits adds k = 0, 1, ... from +0."""
    one, big = encode(np.float32([1.0, 4096.0]), E5M2)  # 4096 * 4096 = 2**24
    fwd = dot_fp8_bits([big, one, one], [big, one, one], "e5m2")
    rev = dot_fp8_bits([one, one, big], [one, one, big], "e5m2")
    assert bits_to_f32(fwd) == 2.0**24 and bits_to_f32(rev) == 2.0**24 + 2
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 0x7F, 40), rng.integers(0, 0x7F, 40) | 0x80 * rng.integers(0, 2, 40)
    p = bits_to_f32(fp8_product_bits(a, b, "e4m3"))
    acc = np.float32(0)
    for v in p:
        acc = np.float32(acc + v)
    assert dot_fp8_bits(a, b, "e4m3") == int(np.float32(acc).view(np.uint32))


@pytest.mark.parametrize("fa,fb", [("e4m3", "e4m3"), ("e5m2", "e5m2"), ("e4m3", "e5m2")])
def test_simulate_dot_cycles_events_and_result(fa, fb):
    cfg = Fp8MacConfig(fa, fb, addr_bits=5)
    for name, a, b in edge_workloads(cfg, seed=1):
        res = simulate_dot(a, b, cfg)  # checks itself against dot_cycles / dot_events / dot_fp8_bits
        assert res.cycles == len(a) + 2 == dot_cycles(len(a)), name
        assert res.events == dot_events(len(a)), name
        assert res.result_bits == dot_fp8_bits(a, b, fa, fb), name
        assert len(res.product_bits) == len(a)
    assert tuple(dot_events(3)) == EVENT_NAMES
    assert dot_events(3)["fp8_mults"] == 3 and dot_events(3)["reg_writes"] == 13


def test_edge_workload_results():
    cfg = Fp8MacConfig("e5m2", "e5m2")
    got = {name: simulate_dot(a, b, cfg).result_bits for name, a, b in edge_workloads(cfg)}
    assert got["nan_in_middle"] == got["inf_minus_inf"] == got["inf_times_zero"] == FP32_NAN_BITS
    assert got["inf"] == 0x7F800000
    assert got["neg_zeros"] == got["max_cancel"] == 0  # +0: the accumulator starts at +0


@pytest.mark.parametrize("call,exc,message", [
    (lambda: Fp8MacConfig("e3m4"), ValueError, r"fmt must be 'e4m3', 'e5m2' \(or the RTL code 0, 1\), got 'e3m4'"),
    (lambda: Fp8MacConfig(addr_bits=0), ValueError, r"addr_bits must be an integer in 1..16"),
    (lambda: simulate_dot(np.zeros(0, np.uint8), np.zeros(0, np.uint8), Fp8MacConfig()), ValueError,
     r"K = 0 must lie in 1..64"),
    (lambda: simulate_dot([1] * 65, [1] * 65, Fp8MacConfig()), ValueError, r"K = 65 must lie in 1..64"),
    (lambda: simulate_dot([1, 2], [1], Fp8MacConfig()), ValueError, r"a and b must have the same length, got 2 and 1"),
    (lambda: simulate_dot(np.float32([1.0]), [1], Fp8MacConfig()), TypeError,
     r"a must be an integer array of FP8 codes"),
    (lambda: simulate_dot([256], [1], Fp8MacConfig()), ValueError, r"a holds values outside the FP8 codes 0..255"),
    (lambda: simulate_dot([[1]], [[1]], Fp8MacConfig()), ValueError, r"a must be a 1-D vector of FP8 codes"),
    (lambda: decode([300], "e4m3"), ValueError, r"FP8 codes must lie in 0..255"),
    (lambda: encode(np.int32([1]), "e4m3"), TypeError, r"x must be a floating-point array"),
    (lambda: dot_cycles(0), ValueError, r"K must be a positive integer, got 0"),
])
def test_bad_input_is_rejected(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
