"""sim/bitserial.py: the Stripes, Laconic and Bit Fusion cycle models.

Values are held to the exact integer dot product (numpy int64), the clock-stepped models (the
RTL's registers) to the closed-form cycles and events, and a few cycle counts to hand-derived
numbers, so a wrong closed form cannot agree with itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.bitserial import (
    BitFusionConfig,
    LaconicConfig,
    StripesConfig,
    booth_digits,
    booth_term_count,
    booth_terms,
    dot_cycles,
    make_config,
    max_k,
    operand_range,
    simulate_dot,
    simulate_gemm,
)


def _rand(rng, cfg, k):
    alo, ahi = operand_range(cfg.a_bits, cfg.a_signed_)
    wlo, whi = operand_range(cfg.w_bits, cfg.w_signed_)
    return rng.integers(alo, ahi + 1, k), rng.integers(wlo, whi + 1, k)


CONFIGS = [
    StripesConfig(), StripesConfig(a_bits=4, w_bits=3, lanes=3, a_signed=False), StripesConfig(a_bits=1, lanes=5),
    StripesConfig(a_bits=12, w_bits=16, lanes=2, acc_bits=40),
    LaconicConfig(), LaconicConfig(a_bits=5, w_bits=3, lanes=2), LaconicConfig(a_bits=1, w_bits=16, lanes=3),
    BitFusionConfig(), BitFusionConfig(a_bits=4, w_bits=4), BitFusionConfig(a_bits=2, w_bits=8, a_signed=False),
    BitFusionConfig(a_bits=4, w_bits=2, w_signed=False), BitFusionConfig(a_bits=2, w_bits=2),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=repr)
def test_stepwise_equals_closed_forms_and_exact_value(cfg):
    rng = np.random.default_rng(1)
    for k in (1, 2, 7, 16, 33):
        a, w = _rand(rng, cfg, k)
        r = simulate_dot(a, w, cfg, mode="stepwise")  # raises if the stepped registers disagree
        assert r.value == int(a @ w)
        assert r.cycles == dot_cycles(a, w, cfg) == 2 + int(r.group_cycles.sum())
    # the extremes: every product at its largest magnitude, both signs
    alo, ahi = operand_range(cfg.a_bits, cfg.a_signed_)
    wlo, whi = operand_range(cfg.w_bits, cfg.w_signed_)
    for av, wv in ((alo, wlo), (alo, whi), (ahi, wlo), (ahi, whi), (0, wlo)):
        a, w = np.full(9, av), np.full(9, wv)
        assert simulate_dot(a, w, cfg, mode="stepwise").value == 9 * av * wv


@pytest.mark.parametrize("bits", range(1, 13))
def test_booth_digits_round_trip_every_value(bits):
    lo, hi = operand_range(bits, True)
    x = np.arange(lo, hi + 1)
    d = booth_digits(x, bits)
    assert d.shape == (x.size, (bits + 1) // 2)
    assert set(np.unique(d)) <= {-2, -1, 0, 1, 2}
    np.testing.assert_array_equal(d @ 4 ** np.arange(d.shape[1]), x)
    for v in (lo, hi, 0, lo // 3):
        assert sum(s * 2**e for s, e in booth_terms(int(v), bits)) == v


def test_booth_term_counts_by_hand():
    # 85 = 0b01010101: digits 1,1,1,1; -128: only d_3 = -2; 127 = 2^7 - 1; -1: d_0 = -1; 4: d_1 = 1;
    # 2 = 0b10: d_0 = -2, d_1 = +1 (Booth is not a minimal recoding: 2 = 4 - 2, two terms)
    assert booth_term_count(np.array([0, 85, -128, 127, -1, 4, 2]), 8).tolist() == [0, 4, 1, 2, 1, 1, 2]
    assert booth_terms(127, 8) == [(-1, 0), (1, 7)]  # 127 = 2^7 - 2^0
    assert booth_terms(-128, 8) == [(-1, 7)]


def test_stripes_cycles_are_precision_times_groups():
    rng = np.random.default_rng(2)
    for a_bits, lanes, k in ((8, 16, 100), (3, 4, 9), (1, 1, 5), (16, 8, 8)):
        cfg = StripesConfig(a_bits=a_bits, lanes=lanes, acc_bits=48)
        a, w = _rand(rng, cfg, k)
        assert simulate_dot(a, w, cfg).cycles == 1 + -(-k // lanes) * a_bits + 1
        # data-independent: zeros cost the same
        assert simulate_dot(np.zeros(k, int), w, cfg).cycles == 1 + -(-k // lanes) * a_bits + 1


def test_stripes_signed_msb_is_subtracted():
    cfg_s, cfg_u = StripesConfig(a_bits=4, lanes=2), StripesConfig(a_bits=4, lanes=2, a_signed=False)
    ev = simulate_dot([-8, -1], [3, 5], cfg_s).events
    assert simulate_dot([-8, -1], [3, 5], cfg_s).value == -29
    assert ev["msb_subtracts"] == 1 and ev["term_adds"] == 1 + 4 and ev["and_terms"] == 8
    assert simulate_dot([8, 15], [3, 5], cfg_u).value == 99
    assert simulate_dot([8, 15], [3, 5], cfg_u).events["msb_subtracts"] == 0
    with pytest.raises(ValueError, match=r"a must be unsigned 4-bit values in \[0, 15\], got -1 at index \(1,\)"):
        simulate_dot([8, -1], [3, 5], cfg_u)


def test_laconic_cycles_are_the_slowest_lane_per_group():
    cfg = LaconicConfig(lanes=4)
    # group 0: lanes 85*85 (16 pairs), -128*-128 (1), 0*x (0), 127*1 (2): 16 cycles
    # group 1: all zero activations: one idle cycle; group 2 (one lane): 127 * 85 = 2*4 = 8
    a = np.array([85, -128, 0, 127, 0, 0, 0, 0, 127])
    w = np.array([85, -128, 5, 1, 9, -9, 3, 1, 85])
    r = simulate_dot(a, w, cfg, mode="stepwise")
    assert r.group_cycles.tolist() == [16, 1, 8]
    assert r.cycles == 1 + 25 + 1
    assert r.value == int(a @ w)
    assert r.events["term_adds"] == 16 + 1 + 2 + 8
    assert r.events["idle_lane_cycles"] == 4 * 25 - 27
    # fewer terms, fewer cycles: the saving the TPE paper compares against
    small = simulate_dot(np.full(16, 1), np.full(16, 4), LaconicConfig())
    assert small.cycles == 3


@pytest.mark.parametrize("bits,pairs", [((8, 8), 1), ((8, 4), 2), ((4, 8), 2), ((4, 4), 4), ((8, 2), 4),
                                        ((4, 2), 8), ((2, 4), 8), ((2, 2), 16)])
def test_bitfusion_products_per_cycle(bits, pairs):
    cfg = BitFusionConfig(a_bits=bits[0], w_bits=bits[1])
    assert cfg.pairs_per_cycle == pairs
    a, w = _rand(np.random.default_rng(3), cfg, 37)
    r = simulate_dot(a, w, cfg)
    assert r.cycles == 2 + -(-37 // pairs)
    assert r.events["term_adds"] == 37 * 16 // pairs and r.events["idle_bricks"] == 16 * -(-37 // pairs) - 37 * 16 // pairs


@pytest.mark.parametrize("a_bits,w_bits,a_signed,w_signed", [(8, 8, True, True), (4, 4, True, False),
                                                              (2, 4, False, True), (2, 2, False, False)])
def test_bitfusion_bricks_are_exact_for_every_operand_pair(a_bits, w_bits, a_signed, w_signed):
    """Every (a, w) pair of the ranges through the brick-level stepwise model (8x8: every a)."""
    cfg = BitFusionConfig(a_bits=a_bits, w_bits=w_bits, a_signed=a_signed, w_signed=w_signed)
    alo, ahi = operand_range(a_bits, a_signed)
    wlo, whi = operand_range(w_bits, w_signed)
    ws = [wlo, whi, -1 if w_signed else 1, 0, 77 % (whi + 1)] if a_bits == 8 else range(wlo, whi + 1)
    for wv in ws:
        for av in range(alo, ahi + 1):
            assert simulate_dot([av], [wv], cfg, mode="stepwise").value == av * wv


def test_gemm_matches_matmul_and_sums_cycles():
    rng = np.random.default_rng(4)
    a = rng.integers(-8, 8, (3, 10))
    w = rng.integers(-8, 8, (10, 4))
    for cfg in (StripesConfig(a_bits=4, w_bits=4, lanes=4), LaconicConfig(4, 4, lanes=4), BitFusionConfig(4, 4)):
        g = simulate_gemm(a, w, cfg)
        np.testing.assert_array_equal(g.c, a @ w)
        assert g.cycles == sum(simulate_dot(a[i], w[:, j], cfg).cycles for i in range(3) for j in range(4))
        assert g.shape == (3, 4, 10) and g.dot_cycles.shape == (3, 4)


def test_max_k_guards_the_accumulator():
    cfg = StripesConfig(acc_bits=20)
    assert max_k(cfg) == (2**19 - 1) // 2**14 == 31
    simulate_dot(np.full(31, -128), np.full(31, -128), cfg)
    with pytest.raises(ValueError, match=r"K = 32 can overflow a 20-bit accumulator \(max K 31\)"):
        simulate_dot(np.full(32, -128), np.full(32, -128), cfg)


@pytest.mark.parametrize("make,message", [
    (lambda: StripesConfig(a_bits=0), r"a_bits must be an integer precision in 1..16, got 0"),
    (lambda: StripesConfig(w_bits=17), r"w_bits must be an integer precision in 1..16, got 17"),
    (lambda: StripesConfig(a_bits=8.0), r"a_bits must be an integer precision in 1..16, got 8.0"),
    (lambda: StripesConfig(lanes=0), r"lanes must be an integer in 1..64, got 0"),
    (lambda: StripesConfig(a_signed=1), r"a_signed must be True or False, got 1"),
    (lambda: LaconicConfig(acc_bits=100), r"acc_bits must be an integer in 8..64, got 100"),
    (lambda: BitFusionConfig(a_bits=3), r"a_bits must be one of \(2, 4, 8\) \(Bit Fusion fuses 2-bit bricks\), got 3"),
    (lambda: BitFusionConfig(w_bits=16), r"w_bits must be one of \(2, 4, 8\)"),
    (lambda: make_config("eyeriss"), r"kind must be one of \('stripes', 'laconic', 'bitfusion'\), got 'eyeriss'"),
])
def test_rejects_bad_configs(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("a,w,cfg,message", [
    ([1, 2], [1], StripesConfig(), r"a and w must have the same length K, got 2 and 1"),
    (np.zeros(0, int), np.zeros(0, int), LaconicConfig(), r"K must be >= 1, got an empty vector"),
    ([[1]], [[1]], LaconicConfig(), r"a must be a 1-D vector \(length K\), got shape \(1, 1\)"),
    ([1.0], [1], StripesConfig(), r"a must be integers, got dtype float64"),
    ([1], [8], BitFusionConfig(4, 4), r"w must be signed 4-bit values in \[-8, 7\], got 8 at index \(0,\)"),
    ([-1], [1], BitFusionConfig(2, 2, a_signed=False), r"a must be unsigned 2-bit values in \[0, 3\], got -1"),
    ([1], [1], "stripes", r"cfg must be a StripesConfig, LaconicConfig or BitFusionConfig, got str"),
])
def test_rejects_bad_operands(a, w, cfg, message):
    with pytest.raises(ValueError, match=message):
        simulate_dot(a, w, cfg)


def test_rejects_bad_mode_and_gemm_shapes():
    with pytest.raises(ValueError, match=r"mode must be 'fast' or 'stepwise', got 'rtl'"):
        simulate_dot([1], [1], StripesConfig(), mode="rtl")
    with pytest.raises(ValueError, match=r"shape mismatch: a is \(2, 3\) \(M x K\) but w is \(2, 3\) \(K x N\)"):
        simulate_gemm(np.zeros((2, 3), int), np.zeros((2, 3), int), StripesConfig())


def test_compare_engines_on_gaussian_and_sparse_data():
    from sim.bitserial import compare_engines

    rng = np.random.default_rng(9)
    a = np.clip(np.rint(rng.normal(0, 12, 256)), -128, 127).astype(np.int64)
    w = np.clip(np.rint(rng.normal(0, 20, 256)), -128, 127).astype(np.int64)
    rows = {r["engine"]: r for r in compare_engines(a, w, 8, 8)}
    assert {r["value"] for r in rows.values()} == {int(a @ w)}
    assert rows["stripes"]["compute_cycles"] == 16 * 8 and rows["stripes"]["macs_per_cycle"] == 2
    assert rows["bitfusion"]["compute_cycles"] == 256 and rows["bitfusion"]["macs_per_cycle"] == 1
    # Laconic's cycles follow the data: small Gaussian values have few Booth terms
    lac = rows["laconic"]["compute_cycles"]
    assert lac == int(simulate_dot(a, w, LaconicConfig()).group_cycles.sum()) and 16 <= lac <= 16 * 16
    sparse = {r["engine"]: r for r in compare_engines(np.zeros(256, np.int64), w, 8, 8)}
    assert sparse["laconic"]["compute_cycles"] == 16 < sparse["stripes"]["compute_cycles"]
    assert [r["engine"] for r in compare_engines(a[:4] // 64, w[:4] // 64, 3, 3)] == ["stripes", "laconic"]
