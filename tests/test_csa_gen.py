"""The carry-save tree generator: its schedule, its arithmetic, and the committed Verilog."""

import random

import pytest

from rtl_models.csa_gen import VERILOG_DIR, csa_tree_verilog
from sim.carry_save import booth_partial_products, reduce_words, schedule


def test_schedule_is_wallace_down_to_two_words():
    assert schedule(3) == [3, 2]
    assert schedule(7) == [7, 5, 4, 3, 2]
    assert schedule(9) == [9, 6, 4, 3, 2]
    with pytest.raises(ValueError, match=r"needs an integer number of inputs >= 3, got 2"):
        schedule(2)


@pytest.mark.parametrize("n", [3, 4, 7, 11])
def test_sum_plus_carry_equals_the_inputs_sum_mod_2w(n):
    rng = random.Random(n)
    for _ in range(500):
        words = [rng.getrandbits(32) for _ in range(n)]
        s, c = reduce_words(words, 32)
        assert (s + c) % 2**32 == sum(words) % 2**32


def test_committed_trees_match_the_generator():
    """A hand edit of a generated file, or a generator change not re-run, fails here."""
    committed = sorted(VERILOG_DIR.glob("csa_tree*.v"))
    assert committed, "no generated carry-save tree in rtl_models/verilog"
    for path in committed:
        n = int(path.stem.removeprefix("csa_tree"))
        assert path.read_text() == csa_tree_verilog(n), f"{path.name} differs: run python -m rtl_models.csa_gen {n}"


def test_booth_partial_products_sum_to_the_product():
    import numpy as np

    a = np.repeat(np.arange(-128, 128), 256)
    b = np.tile(np.arange(-128, 128), 256)
    words = booth_partial_products(a, b, 32)
    total = sum(w.astype(np.int64) for w in words) % 2**32
    np.testing.assert_array_equal(total, (a * b) % 2**32)  # all 65536 int8 pairs
    s, c = reduce_words(words, 32)
    np.testing.assert_array_equal((s + c) % np.uint64(2**32), (a * b) % 2**32)
