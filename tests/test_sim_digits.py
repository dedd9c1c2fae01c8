"""sim.digits: exact radix-4 Booth and EN-T digits of INT8, and the OPT3 digit statistic against
the TPE paper's numbers (ANCHORS.md, TPE section)."""

import numpy as np
import pytest

from sim.digits import (
    booth_radix4_digits,
    check_int8,
    ent_radix4_digits,
    gaussian_int8,
    group_digits,
    mean_nonzero_digits_per_group,
    nonzero_digits_per_group,
    radix4_digits,
    radix4_value,
)

ALL_INT8 = np.arange(-128, 128)


def naive_booth(x: int) -> list[int]:
    """Booth radix-4 from the definition, one bit at a time on the 8-bit two's complement."""
    bits = [(x >> i) & 1 for i in range(8)]  # Python's >> on negatives is arithmetic
    return [-2 * bits[2 * j + 1] + bits[2 * j] + (bits[2 * j - 1] if j else 0) for j in range(4)]


def naive_ent(x: int) -> list[int]:
    """EN-T from its definition: sign-magnitude, then magnitude digits in {-1, 0, 1, 2} low first."""
    sign, m, out = (-1 if x < 0 else 1), abs(x), []
    for _ in range(4):
        r = m % 4
        e = -1 if r == 3 else r
        out.append(sign * e)
        m = (m - e) // 4
    assert m == 0
    return out


@pytest.mark.parametrize("encoding,naive", [("ent", naive_ent), ("booth", naive_booth)])
def test_every_int8_round_trips_and_matches_the_definition(encoding, naive):
    d = radix4_digits(ALL_INT8, encoding)
    assert d.shape == (256, 4) and d.dtype == np.int8
    assert set(np.unique(d)) <= {-2, -1, 0, 1, 2}
    np.testing.assert_array_equal(radix4_value(d), ALL_INT8)
    np.testing.assert_array_equal(d, np.array([naive(int(x)) for x in ALL_INT8]))


def test_known_digits():
    np.testing.assert_array_equal(ent_radix4_digits([-128, 127, 43, -43, 3, 0]),
                                  [[0, 0, 0, -2], [-1, 0, 0, 2], [-1, -1, -1, 1], [1, 1, 1, -1],
                                   [-1, 1, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(booth_radix4_digits([-128, 127, -1, 3]),
                                  [[0, 0, 0, -2], [-1, 0, 0, 2], [-1, 0, 0, 0], [-1, 1, 0, 0]])


def test_ent_is_sign_symmetric_and_booth_is_not():
    x = np.arange(-127, 128)
    np.testing.assert_array_equal(ent_radix4_digits(-x), -ent_radix4_digits(x))
    assert (booth_radix4_digits(-x) != -booth_radix4_digits(x)).any()


def test_digits_keep_the_input_shape():
    x = np.arange(-12, 12, dtype=np.int8).reshape(2, 3, 4)
    for enc in ("ent", "booth"):
        d = radix4_digits(x, enc)
        assert d.shape == (2, 3, 4, 4)
        np.testing.assert_array_equal(radix4_value(d), x)


def test_group_digits_pads_the_last_group():
    g = group_digits([1, 2, 3, 4, 5], "ent")
    assert g.shape == (2, 4, 4)
    assert (g[1, 1:] == 0).all() and radix4_value(g[1, 0]) == 5
    # position 0 of 1, 2, 3, 4: 1, 2, -1, 0; position 1: 0, 0, 1, 1
    np.testing.assert_array_equal(nonzero_digits_per_group([1, 2, 3, 4], "ent"), [[3, 2, 0, 0]])


# The paper's average non-zero digits per group of 4 on Gaussian INT8 data (ANCHORS.md).
PAPER = {10: 1.71, 20: 2.05, 30: 2.27, 40: 2.45, 50: 2.57}
# Ours, 400k samples, seed 0 (the sampling noise is ~0.002): rounding to nearest gives
# 1.764 2.117 2.336 2.491 2.594 (+0.02..+0.07 against the paper), truncation toward zero gives
# 1.680 2.068 2.299 2.462 2.571 (-0.03..+0.03). The paper does not say how it quantised; the
# tolerances below are the measured gaps with a small margin, so a change in the recoding fails.
TOLERANCE = {"round": 0.08, "trunc": 0.04}


@pytest.mark.parametrize("rounding", ["round", "trunc"])
@pytest.mark.parametrize("std", sorted(PAPER))
def test_ent_digit_statistic_matches_the_paper(std, rounding):
    x = gaussian_int8(np.random.default_rng(0), 400_000, std, rounding)
    ours = mean_nonzero_digits_per_group(x, "ent")
    assert abs(ours - PAPER[std]) <= TOLERANCE[rounding], f"std {std} {rounding}: ours {ours:.3f}, paper {PAPER[std]}"
    # Booth spends more digits on the same data: negative values carry runs of sign digits
    assert mean_nonzero_digits_per_group(x, "booth") > ours + 0.1


def test_statistic_grows_with_std():
    rng = np.random.default_rng(1)
    stats = [mean_nonzero_digits_per_group(gaussian_int8(rng, 40_000, s), "ent") for s in sorted(PAPER)]
    assert stats == sorted(stats)


@pytest.mark.parametrize("value,message", [
    ([0, 128], r"x must be signed INT8 values in \[-128, 127\], got 128 at index \(1,\)"),
    (np.array([[-129]]), r"got -129 at index \(0, 0\)"),
    (np.array([1.0, 2.0]), r"x must be signed INT8 integers, got dtype float64"),
    ([True, False], r"x must be signed INT8 integers, got dtype bool"),
    ("7", r"x must be signed INT8 integers, got dtype <U1"),
])
def test_bad_values_are_rejected(value, message):
    with pytest.raises(ValueError, match=message):
        ent_radix4_digits(value)
    with pytest.raises(ValueError, match=message):
        booth_radix4_digits(value)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match=r"encoding must be one of \('ent', 'booth'\), got 'naf'"):
        radix4_digits([1], "naf")
    with pytest.raises(ValueError, match=r"digits must have 4 digits on the last axis, got shape \(3,\)"):
        radix4_value([1, 2, 3])
    with pytest.raises(ValueError, match=r"at least one whole group of 4 elements, got 3"):
        mean_nonzero_digits_per_group([1, 2, 3])
    with pytest.raises(ValueError, match=r"a must be a non-empty 1-D vector \(length K\), got shape \(2, 2\)"):
        group_digits([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match=r"a must be a non-empty 1-D vector \(length K\), got shape \(0,\)"):
        group_digits(np.zeros(0, np.int8))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"n must be a positive integer, got 0"):
        gaussian_int8(rng, 0, 10)
    with pytest.raises(ValueError, match=r"std must be a positive number, got -1"):
        gaussian_int8(rng, 4, -1)
    with pytest.raises(ValueError, match=r"rounding must be 'round' or 'trunc', got 'floor'"):
        gaussian_int8(rng, 4, 10, "floor")
    assert check_int8(np.array([-128, 127], np.int16)).dtype == np.int64
