"""Bit-serial PEs beside OPT3 (reports/sections/bitserial_compare.py)."""

import numpy as np

from reports.sections.bitserial_compare import K, bitserial_table


def test_table_is_consistent_with_the_models():
    t = bitserial_table(n=2, precisions=(8, 2), progress=None, energy_dots=1, energy_k=8)
    assert set(t.bits) == {8, 2}
    eight = t[(t.bits == 8) & (t.data == "gaussian")].set_index("engine")
    # Stripes: 1 start + K/lanes groups x 8 bit-serial cycles + 1 finish, whatever the data
    assert eight.loc["stripes (4 lanes)", "cycles_per_dot"] == 1 + (K // 4) * 8 + 1
    # Bit Fusion at 8 bits: one product per cycle from its 16 bricks
    assert eight.loc["bitfusion (16 bricks)", "cycles_per_dot"] == 1 + K + 1
    assert eight.loc["laconic (4 lanes)", "area_eff_vs_laconic"] == 1.0
    np.testing.assert_allclose(t.macs_per_cycle, K / t.cycles_per_dot)
    # OPT3 runs only at 8 bits; at 2 bits Laconic needs far fewer cycles than at 8
    assert not t[(t.bits == 2)].engine.str.startswith("opt3").any()
    lac = t[t.engine.str.startswith("laconic") & (t.data == "gaussian")].set_index("bits").cycles_per_dot
    assert lac[2] < lac[8] / 4
    # energy from toggles at 8 bits on Gaussian data only
    assert (eight.pj_per_mac > 0).all() and eight.loc["laconic (4 lanes)", "energy_eff_vs_laconic"] == 1.0
    assert t[t.bits == 2].pj_per_mac.isna().all()


def test_opt4e_group_beside_opt3():
    """The OPT4E group takes at most OPT3's cycles per dot (its sub-PEs work 4 groups at once) and
    its cycles are its model's for the same operands."""
    from reports.sections.bitserial_compare import _operands
    from sim.digit_skip_4e import DigitSkip4EConfig, dot_cycles

    t = bitserial_table(n=2, precisions=(8,), progress=None, energy_dots=1, energy_k=8)
    g = t[t.data == "gaussian"].set_index("engine")
    e4, o3 = g.loc["opt4e (4 OPT3 sub-PEs, one shared 6:2)"], g.loc["opt3 (EN-T digit skipping)"]
    assert e4.cycles_per_dot < o3.cycles_per_dot / 2
    a, _ = _operands(8, 2, 0)
    assert e4.cycles_per_dot == np.mean([dot_cycles(x, DigitSkip4EConfig()) for x in a])
    assert e4.area_um2 > o3.area_um2 and e4.pj_per_mac > 0
