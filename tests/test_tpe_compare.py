"""The TPE paper comparison table (reports/sections/tpe_compare.py)."""

import math

import pytest

from reports.sections.tpe_compare import PAPER, tpe_table


def test_table_has_every_paper_claim_and_measures_os_opt1():
    t = tpe_table(rows=4, cols=4, tree=(4, 2), cube=2, bitserial_n=2, grid=2, ws_energy=2,
                  progress=None)
    assert list(t.architecture) == [p.architecture for p in PAPER]
    assert t.paper_area_eff_x.tolist() == [1.27, 1.27, 1.28, 1.56, 1.44, 2.85, 2.85]
    assert t.paper_energy_eff_x.tolist() == [1.04, 1.04, 1.56, 1.49, 1.20, 12.10, 12.10]
    os_row = t.iloc[0]
    # measured from two real syntheses: positive, finite, and not identically 1
    assert math.isfinite(os_row.ours_area_eff_x) and os_row.ours_area_eff_x > 0
    assert abs(os_row.ours_area_eff_x - 1.0) > 1e-3
    assert "os_csa_4x4 against os_4x4" in os_row.comment and f"{os_row.ours_area_eff_x:.2f}x" in os_row.comment
    tree = t[t.architecture == "multiplier-adder tree"].iloc[0]
    assert math.isfinite(tree.ours_area_eff_x) and math.isfinite(tree.ours_energy_eff_x)
    assert "mat_sbw_4x2 against mat_4x2" in tree.comment
    cube = t[t.architecture.str.startswith("3D-cube")].iloc[0]
    assert math.isfinite(cube.ours_area_eff_x) and "cube_sbw_2 against cube_2" in cube.comment
    # K = 4 has a carry-save tree: the tree row also measures OPT1 and names it
    assert "mat_csa_4x2 here:" in tree.comment
    lac = t[t.architecture.str.startswith("bit-slice")].iloc[0]
    assert math.isfinite(lac.ours_area_eff_x) and math.isfinite(lac.ours_energy_eff_x) and "laconic (4 lanes)" in lac.comment
    ws = t[t.architecture.str.startswith("systolic array (weight-stationary")].iloc[0]
    assert math.isfinite(ws.ours_area_eff_x) and math.isfinite(ws.ours_energy_eff_x) and "ws_csa_4x4 against ws_4x4" in ws.comment
    grid = t[t.architecture.str.startswith("2D-matrix")].iloc[0]
    assert math.isfinite(grid.ours_area_eff_x) and math.isfinite(grid.ours_energy_eff_x) and "bcast_csa_2x2 against bcast_2x2" in grid.comment
    assert t.ours_area_eff_x.notna().all()  # every architecture of the paper is built and measured
    assert t.ours_energy_eff_events_x.iloc[:5].notna().all() and t.ours_energy_eff_events_x.iloc[5:].isna().all()
    e4 = t[t.architecture == "bit-slice design vs Laconic (K-extended)"].iloc[0]
    assert "opt4e (4 OPT3 sub-PEs, one shared 6:2)" in e4.comment and e4.ours_area_eff_x > lac.ours_area_eff_x
    # every comparison with the paper is computed from the numbers
    assert all((" above " in c or " below " in c or " between " in c) for c in t.comment)


def test_event_energy_estimate_is_independent_of_toggles():
    """The second energy estimate: the event tables' ratio, recomputed here from the cycle model's
    events, for the OS row; and present for every architecture except the Laconic comparison."""
    from reports import cost
    from reports.registry import get_engine
    from reports.sections.tpe_compare import _event_energy_ratio
    from sim.systolic import SystolicConfig, estimate_gemm

    base, opt1 = SystolicConfig(4, 4), SystolicConfig(4, 4, pe="booth_csa")
    ratio, text = _event_energy_ratio(get_engine("os"), base, get_engine("os_csa"), opt1)
    e = {}
    for cfg in (base, opt1):
        ev = estimate_gemm(1024, 1024, 1024, cfg).events
        by = cost.energy_by_component_pj(ev, get_engine("os").energy_table(cfg))
        e[cfg.pe] = by["mac_arithmetic"] + by["pe_registers"]
    assert ratio == pytest.approx(e["mac"] / e["booth_csa"]) and ratio < 1  # the 7-input tree costs more full adders
    assert "square_1024" in text


def test_cube_row_is_opt1_where_a_carry_save_tree_exists():
    from reports.sections.tpe_compare import _events_for

    for cube, pe in ((4, "csa"), (8, "csa"), (2, "sbw")):
        base_engine, base, tech_engine, tech = _events_for("3D-cube (8x8x8)", 16, 16, (16, 4), cube, 8)
        assert (base.pe, tech.pe, tech.rows) == ("mult", pe, cube)
        assert (base_engine.name, tech_engine.name) == ("cube", f"cube_{pe}")
