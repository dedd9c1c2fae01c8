"""sim.digit_skip: the OPT3 zero-digit-skipping PE model. Exact results, the closed-form cycles
proved by clock-stepping the RTL's registers, hand-counted cycles and events, and its errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.digit_skip import (
    PER_COLUMN_EVENTS,
    DigitSkipConfig,
    dot_cycles,
    dot_events,
    gemm_folds,
    simulate_dot,
    simulate_gemm,
    simulate_row,
    slot_cycles,
)
from sim.digits import gaussian_int8


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 40), encoding=st.sampled_from(["ent", "booth"]), seed=st.integers(0, 2**32 - 1),
       extremes=st.booleans())
def test_stepwise_proves_closed_form(k, encoding, seed, extremes):
    """Clock-stepping every register lands on the exact value and the closed-form cycles and events."""
    rng = np.random.default_rng(seed)
    if extremes:
        a, b = (rng.choice(np.array([-128, -1, 0, 1, 127], np.int8), k) for _ in range(2))
    else:
        a, b = (rng.integers(-128, 128, k, dtype=np.int8) for _ in range(2))
    cfg = DigitSkipConfig(encoding)
    res = simulate_dot(a, b, cfg, mode="stepwise")  # raises if stepwise and closed forms disagree
    assert res.value == int(a.astype(np.int64) @ b.astype(np.int64))
    assert res.cycles == 3 + int(np.maximum(res.slot_cycles, 1).sum()) == dot_cycles(a, cfg)
    assert res.slot_cycles.shape == (-(-k // 4), 4)


def test_hand_counted_cycles_and_events():
    cfg = DigitSkipConfig("ent")
    zero = simulate_dot(np.zeros(9, np.int8), np.full(9, 7, np.int8), cfg, mode="stepwise")
    # 3 groups x 4 positions, every slot idle: 12 + start + merge + final add
    assert (zero.value, zero.cycles) == (0, 15)
    assert zero.events == {"encodes": 9, "selects": 0, "idle_slots": 12, "zero_digits_skipped": 36,
                           "merges": 12, "shifts": 9, "final_adds": 1, "b_reads": 0}
    # -128 = -2 * 4^3: per group three idle slots and one slot of 4 selects
    low = simulate_dot(np.full(16, -128, np.int8), np.full(16, -128, np.int8), cfg, mode="stepwise")
    assert (low.value, low.cycles) == (16 * 16384, 3 + 4 * 7)
    assert low.events["selects"] == 16 and low.events["idle_slots"] == 12
    # a single 1: one select at position 0, three idle slots
    one = simulate_dot([1], [-5], cfg, mode="stepwise")
    assert (one.value, one.cycles) == (-5, 7)
    np.testing.assert_array_equal(one.slot_cycles, [[1, 1, 1, 1]])


def test_cycles_depend_on_a_only_and_grow_with_its_spread():
    rng = np.random.default_rng(3)
    cfg = DigitSkipConfig()
    a = gaussian_int8(rng, 256, 10)
    c1 = simulate_dot(a, rng.integers(-128, 128, 256, dtype=np.int8), cfg).cycles
    c2 = simulate_dot(a, np.zeros(256, np.int8), cfg).cycles
    assert c1 == c2 == dot_cycles(a, cfg)
    wide = dot_cycles(gaussian_int8(rng, 256, 50), cfg)
    assert c1 < wide < 3 + 16 * 64  # fewer than 4 cycles per element pair even at std 50


def test_booth_costs_more_cycles_than_ent_on_gaussian_data():
    a = gaussian_int8(np.random.default_rng(4), 1024, 20)
    assert dot_cycles(a, DigitSkipConfig("booth")) > dot_cycles(a, DigitSkipConfig("ent"))


def test_narrow_accumulator_width_and_events_sum():
    # four -128 x -128 products at one position: the largest slot sum, 4 * 2 * 128 = 1024
    a = np.full(8, -128, np.int8)
    res = simulate_dot(a, a, DigitSkipConfig(acc_bits=20), mode="stepwise")
    assert res.value == 8 * 16384
    ev = dot_events(a, DigitSkipConfig())
    assert ev["selects"] + ev["zero_digits_skipped"] == 4 * a.size
    assert int(slot_cycles(a).sum()) == ev["selects"] + ev["idle_slots"]


@pytest.mark.parametrize("kwargs,message", [
    (dict(encoding="naf"), r"encoding must be one of \('ent', 'booth'\), got 'naf'"),
    (dict(a_bits=4), r"a_bits must be 8: the digit encoder and the PE are INT8 only, got 4"),
    (dict(b_bits=16), r"b_bits must be 8: .* got 16"),
    (dict(acc_bits=8), r"acc_bits must be an integer in 16..64 \(at least the product width 16\), got 8"),
    (dict(acc_bits=True), r"acc_bits must be an integer in 16..64"),
    (dict(acc_bits=32.0), r"acc_bits must be an integer in 16..64 .* got 32.0"),
])
def test_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DigitSkipConfig(**kwargs)


@pytest.mark.parametrize("a,b,message", [
    (np.zeros(0, np.int8), np.zeros(0, np.int8), r"K must be >= 1, got an empty vector"),
    ([1, 2], [1], r"a and b must have the same length K, got 2 and 1"),
    ([[1, 2]], [[1, 2]], r"a must be a 1-D vector \(length K\), got shape \(1, 2\)"),
    ([1, 200], [1, 2], r"a must be signed INT8 values in \[-128, 127\], got 200 at index \(1,\)"),
    ([1, 2], [1.5, 2.0], r"b must be signed INT8 integers, got dtype float64"),
    (np.zeros(8, np.int8), np.zeros(8, np.int8), r"K = 8 can overflow a 18-bit accumulator \(max K 7\)"),
])
def test_bad_operands(a, b, message):
    with pytest.raises(ValueError, match=message):
        simulate_dot(a, b, DigitSkipConfig(acc_bits=18))


def test_bad_mode():
    with pytest.raises(ValueError, match=r"mode must be 'fast' or 'stepwise', got 'slow'"):
        simulate_dot([1], [1], mode="slow")


def test_row_of_columns_shares_the_digit_walk():
    rng = np.random.default_rng(6)
    a = rng.integers(-128, 128, 11, dtype=np.int8)
    b = rng.integers(-128, 128, (11, 3), dtype=np.int8)
    row = simulate_row(a, b, mode="stepwise")
    np.testing.assert_array_equal(row.values, a.astype(np.int64) @ b.astype(np.int64))
    single = simulate_dot(a, b[:, 0])
    assert row.cycles == single.cycles
    for key, value in single.events.items():  # the accumulator's events N times, the sequencer's once
        assert row.events[key] == value * (3 if key in PER_COLUMN_EVENTS else 1)
    with pytest.raises(ValueError, match=r"b must be a K x N matrix with N >= 1, got shape \(11,\)"):
        simulate_row(a, b[:, 0])
    with pytest.raises(ValueError, match=r"a and b must have the same length K, got 11 and 10"):
        simulate_row(a, b[:10])


@pytest.mark.parametrize("cols", [1, 3, 4])
def test_gemm_folds_rows_over_column_tiles(cols):
    rng = np.random.default_rng(cols)
    a = rng.integers(-128, 128, (5, 9), dtype=np.int8)
    b = rng.integers(-128, 128, (9, 7), dtype=np.int8)
    cfg = DigitSkipConfig(cols=cols)
    res = simulate_gemm(a, b, cfg, mode="stepwise")
    assert res.c.dtype == np.int32 and res.shape == (5, 7, 9)
    np.testing.assert_array_equal(res.c, a.astype(np.int64) @ b.astype(np.int64))
    tiles = -(-7 // cols)
    assert gemm_folds(5, 7, cols)[:tiles] == [(0, n0, min(n0 + cols, 7)) for n0 in range(0, 7, cols)]
    # every n-tile of row m takes row m's digit walk
    assert res.fold_cycles == [dot_cycles(a[m], cfg) for m in range(5) for _ in range(tiles)]
    assert res.cycles == sum(res.fold_cycles)
    assert res.events["encodes"] == 9 * 5 * tiles


def test_gemm_bad_arguments():
    with pytest.raises(ValueError, match=r"cols must be a positive integer \(accumulator columns\), got 0"):
        DigitSkipConfig(cols=0)
    with pytest.raises(ValueError, match=r"shape mismatch: a is \(2, 3\) \(M x K\) but b is \(4, 2\) \(K x N\)"):
        simulate_gemm(np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8))
    with pytest.raises(ValueError, match=r"a and b must be non-empty 2-D matrices, got shapes \(3,\) and \(3, 2\)"):
        simulate_gemm(np.zeros(3, np.int8), np.zeros((3, 2), np.int8))
