"""rtl_models.memimage: the $readmemh / $writememh images of the bench-side hosts."""

import numpy as np
import pytest

from rtl_models.memimage import read_hex, to_hex, write_hex


@pytest.mark.parametrize("width,lanes", [(1, 5), (2, 16), (3, 7), (8, 16), (32, 4), (36, 1)])
def test_round_trip_of_signed_lanes(tmp_path, width, lanes):
    rng = np.random.default_rng(width)
    x = rng.integers(-(1 << (width - 1)), 1 << (width - 1), (50, lanes))
    assert write_hex(tmp_path / "m.hex", x, width) == 50
    got, unknown = read_hex(tmp_path / "m.hex", lanes, width)
    np.testing.assert_array_equal(got, x)
    assert not unknown.any()


def test_lane_zero_is_in_the_low_bits_and_words_are_zero_padded_hex():
    assert to_hex(np.array([[1, -1]]), 8) == b"ff01\n"
    assert to_hex(np.array([[1, 0, 1]]), 3) == b"041\n"  # 9 bits: three hex digits, 0b001_000_001


def test_reads_what_the_simulators_write(tmp_path):
    """Comments, blank lines, short words (leading zeros dropped) and x digits, which are reported."""
    path = tmp_path / "c.hex"
    path.write_text("// memory dump\n0001ffff\n\nx0000002 // row 1\n3\n")
    got, unknown = read_hex(path, 2, 16)
    np.testing.assert_array_equal(got, [[-1, 1], [2, 0], [3, 0]])
    assert unknown.tolist() == [False, True, False]
    unsigned, _ = read_hex(path, 2, 16, signed=False)
    assert unsigned[0].tolist() == [0xFFFF, 1]


@pytest.mark.parametrize("text,message", [
    ("@10\n00\n", r"address line '@10'; expected consecutive words"),
    ("123\n", r"word '123' is wider than 1 x 8 bits"),
    ("0g\n", r"a word holds a character that is not a hex digit"),
])
def test_bad_images_are_refused_with_the_file_named(tmp_path, text, message):
    path = tmp_path / "bad.hex"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        read_hex(path, 1, 8)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("lanes,width,message", [
    (np.zeros(3), 8, r"lanes must be 2-D \(words x lanes\), got shape \(3,\)"),
    (np.zeros((1, 1)), 0, r"width must be 1..62 bits, got 0"),
])
def test_bad_arguments(lanes, width, message):
    with pytest.raises(ValueError, match=message):
        to_hex(lanes, width)
