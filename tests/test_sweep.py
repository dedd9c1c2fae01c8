"""Design-space sweep and Pareto front (reports/sections/sweep.py)."""

import numpy as np
import pytest

from reports.sections.sweep import SweepSpace, figure, pareto_front, sweep


def test_pareto_front_by_hand():
    x = [1, 2, 3, 2, 0.5]
    y = [3, 2, 1, 1, 0.5]
    # (2, 1) is dominated by (2, 2); (0.5, 0.5) by everything
    assert pareto_front(x, y).tolist() == [True, True, True, False, False]
    assert pareto_front([1, 1], [1, 1]).tolist() == [True, True]  # equal points do not dominate
    with pytest.raises(ValueError, match="1-D of one length"):
        pareto_front([1, 2], [1])


def test_small_sweep_is_consistent():
    seen = []
    df = sweep(SweepSpace(sizes=(2,), weight_bits=(8, 4), workload=(8, 8, 64)), progress=seen.append)
    assert len(df) == 4 and any("sweep [4/4]" in s for s in seen)
    by = df.set_index(["weight_bits", "pe"])
    # narrower weights: smaller array, less PE energy
    assert by.loc[(4, "mac"), "area_mm2"] < by.loc[(8, "mac"), "area_mm2"]
    assert by.loc[(4, "mac"), "pe_pj_per_mac"] < by.loc[(8, "mac"), "pe_pj_per_mac"]
    # the carry-save PE clocks faster (no accumulate carry chain) and is larger
    assert by.loc[(8, "booth_csa"), "clock_mhz"] > by.loc[(8, "mac"), "clock_mhz"]
    assert by.loc[(8, "booth_csa"), "area_mm2"] > by.loc[(8, "mac"), "area_mm2"]
    np.testing.assert_allclose(df.gops_per_w, 2e3 / df.pj_per_mac)
    assert df.pareto.any()
    front = df[df.pareto]
    for _, r in df[~df.pareto].iterrows():
        assert ((front.gops_per_mm2 >= r.gops_per_mm2) & (front.gops_per_w >= r.gops_per_w)).any()
    assert figure(df).axes


@pytest.mark.parametrize("kwargs,message", [
    ({"sizes": (0,)}, "sizes must be integers in 1..64"),
    ({"weight_bits": (1,)}, "weight_bits must be in 2..8"),
    ({"pes": ("laconic",)}, "pes must be a non-empty subset"),
    ({"workload": (1, 2)}, "workload must be"),
])
def test_bad_space(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SweepSpace(**kwargs)
